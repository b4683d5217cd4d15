/* SPDX-License-Identifier: MIT */
/*
 * pd_event_record.c - see pd_event_record.h.
 *
 * Lossless on the way out, validated on the way back in: a record is read
 * from disk after a crash or by another version, so nothing in it is
 * trusted.
 */
#include "pd_event_record.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "pd_json_write.h"
#include "pd_utf8.h"
#include "pd_util.h"

static const char detail_type_codes[] = {
    [PD_DETAIL_STRING] = 's',   [PD_DETAIL_SIGNED] = 'i',
    [PD_DETAIL_UNSIGNED] = 'u', [PD_DETAIL_DOUBLE] = 'd',
    [PD_DETAIL_BOOLEAN] = 'b',
};

int pd_event_to_record(const pd_event_t *ev, char **json, size_t *len) {
  pd_jw_t j;
  *json = NULL;
  *len = 0;
  /* Without yajl's UTF-8 validation: this runs in collectd's notification
   * callback, and every string of an event is valid already (pd_event.h
   * says how). */
  if (pd_jw_begin_sanitised(&j) != 0)
    return -1;

  pd_jw_open_map(&j);
  pd_jw_kint(&j, "v", PD_EVENT_RECORD_VERSION);
  pd_jw_kstr(&j, "notify", ev->notify != NULL ? ev->notify : "");
  pd_jw_kuint(&j, "created", ev->created);
  pd_jw_kuint(&j, "time", ev->time);
  pd_jw_kstr(&j, "action", pd_action_name(ev->action));
  pd_jw_kstr(&j, "severity", pd_severity_name(ev->severity));
  pd_jw_kstr(&j, "dedup_key", ev->dedup_key);
  pd_jw_kstr(&j, "summary", ev->summary);
  pd_jw_kstr(&j, "message", ev->message);
  pd_jw_kstr(&j, "source", ev->source);
  pd_jw_kstr(&j, "component", ev->component);
  pd_jw_kstr(&j, "group", ev->group);
  pd_jw_kstr(&j, "class", ev->event_class);
  pd_jw_kstr(&j, "identifier", ev->identifier);

  pd_jw_str(&j, "details");
  pd_jw_open_array(&j);
  for (size_t i = 0; i < ev->details_num; i++) {
    const pd_detail_t *d = &ev->details[i];
    char code[2] = {detail_type_codes[d->type], '\0'};
    char text[64];
    pd_jw_open_array(&j);
    pd_jw_str(&j, d->name);
    pd_jw_str(&j, code);
    if (d->type == PD_DETAIL_STRING) {
      pd_jw_str(&j, d->value.string);
    } else {
      pd_detail_value_text(d, text, sizeof(text));
      pd_jw_str(&j, text);
    }
    pd_jw_close_array(&j);
  }
  pd_jw_close_array(&j);
  pd_jw_kbool(&j, "details_dropped", ev->details_dropped);

  pd_jw_kstr_or_null(&j, "note", ev->note);
  pd_jw_kstr_or_null(&j, "incident", ev->incident);
  pd_jw_kstr_or_null(&j, "incident_id", ev->incident_id);
  pd_jw_kint(&j, "step", ev->step);
  pd_jw_kint(&j, "attempts", ev->attempts);
  pd_jw_kuint(&j, "next_attempt", ev->next_attempt);
  pd_jw_kstr_or_null(&j, "last_error", ev->last_error);
  pd_jw_close_map(&j);

  return pd_jw_finish(&j, json, len);
}

/* ---- reading a record back: every field checked, nothing trusted */

typedef struct {
  yajl_val root;
  char *err;
  size_t err_size;
} record_t;

__attribute__((format(printf, 2, 3))) static int
record_fail(record_t *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err, r->err_size, fmt, ap);
  va_end(ap);
  return -1;
}

static yajl_val record_get(const record_t *r, const char *key) {
  const char *path[] = {key, NULL};
  return yajl_tree_get(r->root, path, yajl_t_any);
}

/* A required string field, valid UTF-8. */
static int record_string(record_t *r, const char *key, const char **out) {
  yajl_val v = record_get(r, key);
  if (!YAJL_IS_STRING(v))
    return record_fail(r, "\"%s\" is missing or not a string", key);
  *out = YAJL_GET_STRING(v);
  if (!pd_utf8_is_valid(*out, strlen(*out)))
    return record_fail(r, "\"%s\" is not valid UTF-8", key);
  return 0;
}

/* A required string field into a fixed buffer it must fit. */
static int record_fixed(record_t *r, const char *key, char *dst,
                        size_t dst_size) {
  const char *s;
  if (record_string(r, key, &s) != 0)
    return -1;
  size_t len = strlen(s);
  if (len >= dst_size)
    return record_fail(r, "\"%s\" is too long", key);
  memcpy(dst, s, len + 1);
  return 0;
}

/* An optional (null or absent) string field into a dynamic one. */
static int record_optional(record_t *r, const char *key, char **field) {
  yajl_val v = record_get(r, key);
  if (v == NULL || YAJL_IS_NULL(v))
    return 0;
  const char *s;
  if (record_string(r, key, &s) != 0)
    return -1;
  if (strlen(s) > PD_EVENT_TEXT_MAX)
    return record_fail(r, "\"%s\" is too long", key);
  if (pd_event_set_text(field, s) != 0)
    return record_fail(r, "out of memory reading \"%s\"", key);
  return 0;
}

/* A time: cdtime_t as an integer, or in a version 1 record seconds. */
static int record_time(record_t *r, long long version, const char *key,
                       cdtime_t *t) {
  yajl_val v = record_get(r, key);
  if (version == 1) {
    if (!YAJL_IS_NUMBER(v))
      return record_fail(r, "\"%s\" is missing or not a number", key);
    double d =
        YAJL_IS_INTEGER(v) ? (double)YAJL_GET_INTEGER(v) : YAJL_GET_DOUBLE(v);
    /* Below what a version 2 record can hold (PD_EVENT_TIME_MAX, 2^33 s
     * as a double), so that the record can be written again. */
    if (!isfinite(d) || d < 0 || d >= CDTIME_T_TO_DOUBLE(PD_EVENT_TIME_MAX))
      return record_fail(r, "\"%s\" is out of range", key);
    *t = DOUBLE_TO_CDTIME_T(d);
    return 0;
  }
  /* yajl_tree keeps integers up to LLONG_MAX; larger ones are doubles and
   * refused here, as is anything negative. */
  if (!YAJL_IS_INTEGER(v))
    return record_fail(r, "\"%s\" is missing or not an integer", key);
  if (YAJL_GET_INTEGER(v) < 0) /* above PD_EVENT_TIME_MAX: not an integer */
    return record_fail(r, "\"%s\" is out of range", key);
  *t = (cdtime_t)YAJL_GET_INTEGER(v);
  return 0;
}

static int record_int(record_t *r, const char *key, long long min,
                      long long max, long long *out) {
  yajl_val v = record_get(r, key);
  if (!YAJL_IS_INTEGER(v))
    return record_fail(r, "\"%s\" is missing or not an integer", key);
  *out = YAJL_GET_INTEGER(v);
  if (*out < min || *out > max)
    return record_fail(r, "\"%s\" is out of range", key);
  return 0;
}

static int parse_severity(const char *name) {
  if (strcmp(name, "FAILURE") == 0)
    return NOTIF_FAILURE;
  if (strcmp(name, "WARNING") == 0)
    return NOTIF_WARNING;
  if (strcmp(name, "OKAY") == 0)
    return NOTIF_OKAY;
  return -1;
}

static int record_detail(record_t *r, yajl_val triple, pd_detail_t *d) {
  if (!YAJL_IS_ARRAY(triple) || triple->u.array.len != 3 ||
      !YAJL_IS_STRING(triple->u.array.values[0]) ||
      !YAJL_IS_STRING(triple->u.array.values[1]) ||
      !YAJL_IS_STRING(triple->u.array.values[2]))
    return record_fail(r, "a detail is not [name, type, value]");
  const char *name = YAJL_GET_STRING(triple->u.array.values[0]);
  const char *code = YAJL_GET_STRING(triple->u.array.values[1]);
  const char *text = YAJL_GET_STRING(triple->u.array.values[2]);
  if (name[0] == '\0' || strlen(name) >= DATA_MAX_NAME_LEN)
    return record_fail(r, "a detail name is empty or too long");

  char *end = NULL;
  errno = 0;
  memset(d, 0, sizeof(*d));
  if (strcmp(code, "s") == 0) {
    d->type = PD_DETAIL_STRING;
    d->value.string = pd_utf8_dup(text, strlen(text));
    if (d->value.string == NULL)
      return record_fail(r, "out of memory");
  } else if (strcmp(code, "i") == 0) {
    d->type = PD_DETAIL_SIGNED;
    d->value.signed_int = strtoll(text, &end, 10);
  } else if (strcmp(code, "u") == 0) {
    d->type = PD_DETAIL_UNSIGNED;
    d->value.unsigned_int = strtoull(text, &end, 10);
    if (text[0] == '-')
      errno = ERANGE;
  } else if (strcmp(code, "d") == 0) {
    d->type = PD_DETAIL_DOUBLE;
    d->value.number = strtod(text, &end);
  } else if (strcmp(code, "b") == 0) {
    d->type = PD_DETAIL_BOOLEAN;
    if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0)
      return record_fail(r, "detail \"%s\" is not true or false", name);
    d->value.boolean = strcmp(text, "true") == 0;
  } else {
    return record_fail(r, "detail \"%s\" has an unknown type", name);
  }
  if (end != NULL && (end == text || *end != '\0' || errno == ERANGE)) {
    return record_fail(r, "detail \"%s\" has a malformed value", name);
  }
  d->name = pd_utf8_dup(name, strlen(name));
  if (d->name == NULL) {
    if (d->type == PD_DETAIL_STRING)
      free(d->value.string);
    return record_fail(r, "out of memory");
  }
  return 0;
}

static int record_details(record_t *r, pd_event_t *ev) {
  yajl_val v = record_get(r, "details");
  if (!YAJL_IS_ARRAY(v))
    return record_fail(r, "\"%s\" is missing or not an array", "details");
  size_t num = v->u.array.len;
  if (num == 0)
    return 0;
  ev->details = calloc(num, sizeof(*ev->details));
  if (ev->details == NULL)
    return record_fail(r, "out of memory");
  for (size_t i = 0; i < num; i++) {
    if (record_detail(r, v->u.array.values[i], &ev->details[i]) != 0)
      return -1;
    ev->details_num++;
  }
  return 0;
}

static int record_fields(record_t *r, pd_event_t *ev) {
  long long number;
  const char *s;

  if (!YAJL_IS_OBJECT(r->root))
    return record_fail(r, "not a JSON object");
  if (record_int(r, "v", 0, LLONG_MAX, &number) != 0)
    return -1;
  long long version = number;
  if (version != 1 && version != PD_EVENT_RECORD_VERSION) {
    snprintf(r->err, r->err_size, "unsupported record version %lld", number);
    return -1;
  }
  if (record_string(r, "notify", &s) != 0)
    return -1;
  if ((ev->notify = strdup(s)) == NULL)
    return record_fail(r, "out of memory");
  if (record_time(r, version, "created", &ev->created) != 0 ||
      record_time(r, version, "time", &ev->time) != 0 ||
      record_time(r, version, "next_attempt", &ev->next_attempt) != 0)
    return -1;

  if (record_string(r, "action", &s) != 0)
    return -1;
  ev->action = pd_action_parse(s);
  if (ev->action == PD_ACTION_NONE)
    return record_fail(r, "unknown action \"%.32s\"", s);
  if (record_string(r, "severity", &s) != 0)
    return -1;
  if ((ev->severity = parse_severity(s)) < 0)
    return record_fail(r, "unknown severity \"%.32s\"", s);

  if (record_fixed(r, "dedup_key", ev->dedup_key, sizeof(ev->dedup_key)) ||
      record_fixed(r, "summary", ev->summary, sizeof(ev->summary)) ||
      record_fixed(r, "message", ev->message, sizeof(ev->message)) ||
      record_fixed(r, "source", ev->source, sizeof(ev->source)) ||
      record_fixed(r, "component", ev->component, sizeof(ev->component)) ||
      record_fixed(r, "group", ev->group, sizeof(ev->group)) ||
      record_fixed(r, "class", ev->event_class, sizeof(ev->event_class)) ||
      record_fixed(r, "identifier", ev->identifier, sizeof(ev->identifier)))
    return -1;
  if (ev->dedup_key[0] == '\0' || pd_is_blank(ev->summary) ||
      pd_is_blank(ev->source))
    return record_fail(r, "dedup_key, summary or source is blank");

  if (record_details(r, ev) != 0)
    return -1;
  yajl_val dropped = record_get(r, "details_dropped");
  if (!YAJL_IS_TRUE(dropped) && !YAJL_IS_FALSE(dropped))
    return record_fail(r, "\"%s\" is missing or not a boolean",
                       "details_dropped");
  ev->details_dropped = YAJL_IS_TRUE(dropped);

  if (record_optional(r, "note", &ev->note) ||
      record_optional(r, "incident", &ev->incident) ||
      record_optional(r, "incident_id", &ev->incident_id) ||
      record_optional(r, "last_error", &ev->last_error))
    return -1;
  if (record_int(r, "step", 0, INT_MAX, &number) != 0)
    return -1;
  ev->step = (int)number;
  if (record_int(r, "attempts", 0, UINT_MAX, &number) != 0)
    return -1;
  ev->attempts = (unsigned)number;
  return 0;
}

int pd_event_from_record(const char *json, size_t len, pd_event_t *ev,
                         char *err, size_t err_size) {
  pd_event_init(ev);
  if (len == 0 || len > PD_EVENT_RECORD_MAX_BYTES) {
    snprintf(err, err_size, "record size %zu is out of range", len);
    return -1;
  }
  /* yajl_tree wants a NUL-terminated text; a NUL inside is corruption. */
  char *text = malloc(len + 1);
  if (text == NULL) {
    snprintf(err, err_size, "out of memory");
    return -1;
  }
  memcpy(text, json, len);
  text[len] = '\0';
  if (strlen(text) != len) {
    free(text);
    snprintf(err, err_size, "record contains a NUL byte");
    return -1;
  }

  char parse_err[256];
  record_t r = {.root = yajl_tree_parse(text, parse_err, sizeof(parse_err)),
                .err = err,
                .err_size = err_size};
  free(text);
  if (r.root == NULL) {
    /* yajl's message spans lines; the first says what went wrong. */
    parse_err[strcspn(parse_err, "\n")] = '\0';
    snprintf(err, err_size, "not valid JSON: %s", parse_err);
    return -1;
  }
  int status = record_fields(&r, ev);
  yajl_tree_free(r.root);
  if (status != 0)
    pd_event_free(ev);
  return status;
}
