/* SPDX-License-Identifier: MIT */
/*
 * pd_event.c - see pd_event.h.
 *
 * Three jobs, in this order: mapping a notification to an event (the only
 * part that runs in collectd's thread, so it allocates little and never
 * blocks), the spool record (lossless, validated on the way back in), and
 * the wire bodies (what PagerDuty's APIs accept, nothing more).
 */
#include "pd_event.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "collectd/core/daemon/globals.h"

#include "pd_utf8.h"

/* --------------------------------------------------------------- basics */

void pd_event_init(pd_event_t *ev) { memset(ev, 0, sizeof(*ev)); }

static void details_free(pd_detail_t *details, size_t num) {
  for (size_t i = 0; i < num; i++) {
    free(details[i].name);
    if (details[i].type == PD_DETAIL_STRING)
      free(details[i].value.string);
  }
  free(details);
}

void pd_event_free(pd_event_t *ev) {
  free(ev->notify);
  details_free(ev->details, ev->details_num);
  free(ev->note);
  free(ev->incident);
  free(ev->incident_id);
  free(ev->last_error);
  pd_event_init(ev);
}

static const char *const action_names[] = {
    [PD_ACTION_NONE] = "none",
    [PD_ACTION_TRIGGER] = "trigger",
    [PD_ACTION_ACKNOWLEDGE] = "acknowledge",
    [PD_ACTION_RESOLVE] = "resolve",
    [PD_ACTION_NOTE] = "note",
};

const char *pd_action_name(pd_action_t action) {
  if ((size_t)action >= sizeof(action_names) / sizeof(action_names[0]))
    return "none";
  return action_names[action];
}

pd_action_t pd_action_parse(const char *text) {
  for (size_t i = PD_ACTION_TRIGGER;
       i < sizeof(action_names) / sizeof(action_names[0]); i++)
    if (strcasecmp(text, action_names[i]) == 0)
      return (pd_action_t)i;
  return PD_ACTION_NONE;
}

const char *pd_event_severity(const pd_event_t *ev) {
  switch (ev->severity) {
  case NOTIF_FAILURE:
    return "critical";
  case NOTIF_WARNING:
    return "warning";
  default:
    return "info";
  }
}

const char *pd_event_urgency(const pd_event_t *ev) {
  return ev->severity == NOTIF_FAILURE ? "high" : "low";
}

static bool is_blank(const char *s) {
  for (; *s != '\0'; s++)
    if (!isspace((unsigned char)*s))
      return false;
  return true;
}

void pd_event_set_summary(pd_event_t *ev, const char *text) {
  if (text == NULL || is_blank(text))
    text = "(no message)";
  pd_utf8_copy(ev->summary, sizeof(ev->summary), text);
}

int pd_event_set_text(char **field, const char *text) {
  char *copy = NULL;
  if (text != NULL) {
    size_t len = pd_utf8_cut(text, strlen(text), PD_EVENT_TEXT_MAX);
    if ((copy = pd_utf8_dup(text, len)) == NULL)
      return -1;
  }
  free(*field);
  *field = copy;
  return 0;
}

/* ------------------------------------------------------------- matching */

static unsigned severity_bit(int severity) {
  switch (severity) {
  case NOTIF_FAILURE:
    return PD_SEVERITY_FAILURE;
  case NOTIF_WARNING:
    return PD_SEVERITY_WARNING;
  case NOTIF_OKAY:
    return PD_SEVERITY_OKAY;
  default:
    return 0;
  }
}

/* doc/contract.md §5: only a block that names Plugin "pagerduty" literally may
 * act on the plugin's own notifications; a regex that happens to match does
 * not. */
static bool names_own_plugin(const pd_match_t *plugin) {
  return plugin->text != NULL && !plugin->is_regex &&
         strcmp(plugin->text, "pagerduty") == 0;
}

bool pd_notify_matches(const pd_notify_config_t *cfg, const notification_t *n) {
  if ((cfg->severities & severity_bit(n->severity)) == 0)
    return false;
  if (strcmp(n->plugin, "pagerduty") == 0 && !names_own_plugin(&cfg->plugin))
    return false;
  return pd_match_matches(&cfg->host, n->host) &&
         pd_match_matches(&cfg->plugin, n->plugin) &&
         pd_match_matches(&cfg->plugin_instance, n->plugin_instance) &&
         pd_match_matches(&cfg->type, n->type) &&
         pd_match_matches(&cfg->type_instance, n->type_instance);
}

/* ------------------------------------------------------------ JSON output */

/* A yajl generator with a sticky error: generate everything, check once. */
typedef struct {
  yajl_gen g;
  bool failed;
} json_t;

static int json_begin(json_t *j) {
  j->failed = false;
  j->g = yajl_gen_alloc(NULL);
  if (j->g == NULL)
    return -1;
  /* Every string is sanitised before it gets here; validation catches a
   * path that forgot to, instead of sending PagerDuty invalid JSON. */
  yajl_gen_config(j->g, yajl_gen_validate_utf8, 1);
  return 0;
}

static void json_check(json_t *j, yajl_gen_status status) {
  if (status != yajl_gen_status_ok)
    j->failed = true;
}

static void json_str(json_t *j, const char *s) {
  if (!j->failed)
    json_check(j, yajl_gen_string(j->g, (const unsigned char *)s, strlen(s)));
}

static void json_kstr(json_t *j, const char *key, const char *value) {
  json_str(j, key);
  json_str(j, value);
}

/* key: value, or key: null when value is NULL. */
static void json_kstr_or_null(json_t *j, const char *key, const char *value) {
  json_str(j, key);
  if (value == NULL) {
    if (!j->failed)
      json_check(j, yajl_gen_null(j->g));
  } else {
    json_str(j, value);
  }
}

static void json_number_text(json_t *j, const char *text) {
  if (!j->failed)
    json_check(j, yajl_gen_number(j->g, text, strlen(text)));
}

static void json_kint(json_t *j, const char *key, long long value) {
  json_str(j, key);
  if (!j->failed)
    json_check(j, yajl_gen_integer(j->g, value));
}

/* Seconds since the epoch, exactly enough to come back to the same cdtime. */
static void json_ktime(json_t *j, const char *key, cdtime_t t) {
  char text[64];
  snprintf(text, sizeof(text), "%.17g", CDTIME_T_TO_DOUBLE(t));
  json_str(j, key);
  json_number_text(j, text);
}

static void json_kbool(json_t *j, const char *key, bool value) {
  json_str(j, key);
  if (!j->failed)
    json_check(j, yajl_gen_bool(j->g, value));
}

static void json_open_map(json_t *j) {
  if (!j->failed)
    json_check(j, yajl_gen_map_open(j->g));
}

static void json_close_map(json_t *j) {
  if (!j->failed)
    json_check(j, yajl_gen_map_close(j->g));
}

static void json_open_array(json_t *j) {
  if (!j->failed)
    json_check(j, yajl_gen_array_open(j->g));
}

static void json_close_array(json_t *j) {
  if (!j->failed)
    json_check(j, yajl_gen_array_close(j->g));
}

/* Hands the generated text to the caller (NUL-terminated copy) and frees
 * the generator. Returns -1 if anything failed on the way. */
static int json_finish(json_t *j, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  const unsigned char *buf = NULL;
  size_t buf_len = 0;
  int status = -1;
  if (!j->failed &&
      yajl_gen_get_buf(j->g, &buf, &buf_len) == yajl_gen_status_ok) {
    *out = malloc(buf_len + 1);
    if (*out != NULL) {
      memcpy(*out, buf, buf_len);
      (*out)[buf_len] = '\0';
      *len = buf_len;
      status = 0;
    }
  }
  yajl_gen_free(j->g);
  j->g = NULL;
  return status;
}

/* The length of what has been generated so far. */
static size_t json_length(const json_t *j) {
  const unsigned char *buf = NULL;
  size_t len = 0;
  if (yajl_gen_get_buf(j->g, &buf, &len) != yajl_gen_status_ok)
    return 0;
  return len;
}

/* ------------------------------------------------------- custom details */

/* A detail as the Events API shows it (see pd_event.h on NaN). */
static void json_detail_value(json_t *j, const pd_detail_t *d) {
  char text[64];
  switch (d->type) {
  case PD_DETAIL_STRING:
    json_str(j, d->value.string);
    return;
  case PD_DETAIL_SIGNED:
    snprintf(text, sizeof(text), "%" PRId64, d->value.signed_int);
    json_number_text(j, text);
    return;
  case PD_DETAIL_UNSIGNED:
    snprintf(text, sizeof(text), "%" PRIu64, d->value.unsigned_int);
    json_number_text(j, text);
    return;
  case PD_DETAIL_DOUBLE:
    if (isnan(d->value.number)) {
      if (!j->failed)
        json_check(j, yajl_gen_null(j->g));
    } else if (isinf(d->value.number)) {
      json_str(j, d->value.number > 0 ? "inf" : "-inf");
    } else {
      snprintf(text, sizeof(text), "%.15g", d->value.number);
      json_number_text(j, text);
    }
    return;
  case PD_DETAIL_BOOLEAN:
    if (!j->failed)
      json_check(j, yajl_gen_bool(j->g, d->value.boolean));
    return;
  }
  j->failed = true;
}

static void json_custom_details(json_t *j, const pd_event_t *ev,
                                bool drop_details) {
  json_open_map(j);
  if (drop_details || ev->details_dropped) {
    json_kstr(j, PD_DETAILS_DROPPED_KEY, PD_DETAILS_DROPPED_TEXT);
  } else {
    for (size_t i = 0; i < ev->details_num; i++) {
      json_str(j, ev->details[i].name);
      json_detail_value(j, &ev->details[i]);
    }
  }
  json_close_map(j);
}

/* The size custom_details take in a body; SIZE_MAX when it cannot be told. */
static size_t custom_details_size(const pd_event_t *ev) {
  json_t j;
  if (json_begin(&j) != 0)
    return SIZE_MAX;
  json_custom_details(&j, ev, false);
  size_t size = j.failed ? SIZE_MAX : json_length(&j);
  yajl_gen_free(j.g);
  return size;
}

static bool is_override(const char *name) {
  return strcmp(name, PD_META_ACTION) == 0 || strcmp(name, PD_META_NOTE) == 0 ||
         strcmp(name, PD_META_DEDUP_KEY) == 0 ||
         strcmp(name, PD_META_INCIDENT) == 0;
}

/* Is name already among the first num details? (JSON objects need unique
 * keys; the first meta of a name wins, as pd_meta_find() finds it.) */
static bool detail_seen(const pd_event_t *ev, const char *name) {
  for (size_t i = 0; i < ev->details_num; i++)
    if (strcmp(ev->details[i].name, name) == 0)
      return true;
  return false;
}

static int detail_from_meta(pd_detail_t *d, const notification_meta_t *m) {
  memset(d, 0, sizeof(*d));
  if (pd_event_set_text(&d->name, m->name) != 0)
    return -1;
  switch (m->type) {
  case NM_TYPE_STRING: {
    d->type = PD_DETAIL_STRING;
    /* Bounded later as a whole (PD_DETAILS_MAX_BYTES), so copy it all. */
    const char *text =
        m->nm_value.nm_string != NULL ? m->nm_value.nm_string : "";
    d->value.string = pd_utf8_dup(text, strlen(text));
    if (d->value.string == NULL) {
      free(d->name);
      d->name = NULL;
      return -1;
    }
    return 0;
  }
  case NM_TYPE_SIGNED_INT:
    d->type = PD_DETAIL_SIGNED;
    d->value.signed_int = m->nm_value.nm_signed_int;
    return 0;
  case NM_TYPE_UNSIGNED_INT:
    d->type = PD_DETAIL_UNSIGNED;
    d->value.unsigned_int = m->nm_value.nm_unsigned_int;
    return 0;
  case NM_TYPE_DOUBLE:
    d->type = PD_DETAIL_DOUBLE;
    d->value.number = m->nm_value.nm_double;
    return 0;
  case NM_TYPE_BOOLEAN:
    d->type = PD_DETAIL_BOOLEAN;
    d->value.boolean = m->nm_value.nm_boolean;
    return 0;
  }
  free(d->name);
  d->name = NULL;
  return 1; /* a type this collectd does not have: skip it */
}

static int details_from_meta(pd_event_t *ev, const notification_t *n) {
  size_t num = 0;
  for (const notification_meta_t *m = n->meta; m != NULL; m = m->next)
    num++;
  if (num == 0)
    return 0;
  ev->details = calloc(num, sizeof(*ev->details));
  if (ev->details == NULL)
    return -1;
  for (const notification_meta_t *m = n->meta; m != NULL; m = m->next) {
    /* A meta with an empty name has no key to go under in custom_details, and
     * the spool record refuses nameless details: skip it. */
    if (m->name[0] == '\0' || is_override(m->name) || detail_seen(ev, m->name))
      continue;
    int status = detail_from_meta(&ev->details[ev->details_num], m);
    if (status < 0)
      return -1;
    if (status == 0)
      ev->details_num++;
  }
  if (custom_details_size(ev) > PD_DETAILS_MAX_BYTES) {
    PD_NOTIFY_WARNING(ev->notify,
                      "%s: custom_details dropped: the event would exceed "
                      "512 KB",
                      ev->identifier);
    details_free(ev->details, ev->details_num);
    ev->details = NULL;
    ev->details_num = 0;
    ev->details_dropped = true;
  }
  return 0;
}

/* -------------------------------------------------------------- mapping */

/* A meta value as text: strings as they are, numbers formatted in scratch. */
static const char *meta_text(const notification_meta_t *m, char *scratch,
                             size_t scratch_size) {
  if (m->type == NM_TYPE_STRING)
    return m->nm_value.nm_string != NULL ? m->nm_value.nm_string : "";
  pd_meta_format(m, scratch, scratch_size);
  return scratch;
}

static void set_identity(pd_event_t *ev, const notification_t *n) {
  bool pi = n->plugin_instance[0] != '\0';
  bool ti = n->type_instance[0] != '\0';

  snprintf(ev->identifier, sizeof(ev->identifier), "%s/%s%s%s/%s%s%s", n->host,
           n->plugin, pi ? "-" : "", n->plugin_instance, n->type, ti ? "-" : "",
           n->type_instance);
  pd_utf8_sanitize(ev->identifier, strlen(ev->identifier));

  /* Events API: payload.source must not be blank. */
  const char *source = n->host;
  if (is_blank(source))
    source =
        (hostname_g != NULL && !is_blank(hostname_g)) ? hostname_g : "collectd";
  pd_utf8_copy(ev->source, sizeof(ev->source), source);

  char component[sizeof(ev->component)];
  snprintf(component, sizeof(component), "%s%s%s", n->plugin,
           (pi && n->plugin[0] != '\0') ? "-" : "", n->plugin_instance);
  pd_utf8_copy(ev->component, sizeof(ev->component), component);
  pd_utf8_copy(ev->group, sizeof(ev->group), n->type);
  pd_utf8_copy(ev->event_class, sizeof(ev->event_class), n->type_instance);
}

static void set_summary_from(pd_event_t *ev, const notification_t *n) {
  pd_utf8_copy(ev->message, sizeof(ev->message), n->message);
  if (!is_blank(ev->message)) {
    pd_event_set_summary(ev, ev->message);
    return;
  }
  /* An empty message (PUTNOTIF without one): name what it is about. */
  char text[PD_SUMMARY_MAX + 1];
  snprintf(text, sizeof(text), "%s: %s", pd_severity_name(n->severity),
           ev->identifier);
  pd_event_set_summary(ev, text);
}

/* The action the severity asks for, before overrides. */
static int default_action(const pd_notify_config_t *cfg,
                          const notification_t *n, pd_action_t *action) {
  switch (n->severity) {
  case NOTIF_FAILURE:
  case NOTIF_WARNING:
    *action = PD_ACTION_TRIGGER;
    return PD_MAP_EVENT;
  case NOTIF_OKAY:
    *action = cfg->resolve_on_okay ? PD_ACTION_RESOLVE : PD_ACTION_NONE;
    return cfg->resolve_on_okay ? PD_MAP_EVENT : PD_MAP_NO_ACTION;
  default:
    return PD_MAP_ERROR;
  }
}

static int set_dedup_key(const pd_notify_config_t *cfg, pd_event_t *ev,
                         const notification_t *n) {
  const notification_meta_t *m = pd_meta_find(n, PD_META_DEDUP_KEY);
  char scratch[64];
  const char *override =
      m != NULL ? meta_text(m, scratch, sizeof(scratch)) : "";
  if (override[0] != '\0') {
    pd_text_bound_hashed(override, strlen(override), ev->dedup_key,
                         sizeof(ev->dedup_key));
  } else {
    const char *tmpl =
        cfg->dedup_key != NULL ? cfg->dedup_key : PD_DEFAULT_DEDUP_KEY;
    if (pd_template_expand(tmpl, n, ev->dedup_key, sizeof(ev->dedup_key)) < 0)
      return -1;
  }
  /* A key that came out empty (a template of missing meta) would leave
   * nothing to resolve by: fall back to the identifier. */
  if (ev->dedup_key[0] == '\0')
    pd_text_bound_hashed(ev->identifier, strlen(ev->identifier), ev->dedup_key,
                         sizeof(ev->dedup_key));
  return 0;
}

static int set_overrides(const pd_notify_config_t *cfg, pd_event_t *ev,
                         const notification_t *n) {
  char scratch[64];
  const notification_meta_t *m = pd_meta_find(n, PD_META_ACTION);
  if (m != NULL) {
    const char *text = meta_text(m, scratch, sizeof(scratch));
    pd_action_t action = pd_action_parse(text);
    if (action == PD_ACTION_NONE) {
      char shown[65];
      pd_utf8_copy(shown, sizeof(shown), text);
      PD_NOTIFY_ERROR(cfg->name,
                      "%s: unknown " PD_META_ACTION " \"%s\" (use trigger, "
                      "acknowledge, resolve or note); notification ignored",
                      ev->identifier, shown);
      return PD_MAP_ERROR;
    }
    ev->action = action;
  }

  m = pd_meta_find(n, PD_META_NOTE);
  if (m != NULL &&
      pd_event_set_text(&ev->note, meta_text(m, scratch, sizeof(scratch))) != 0)
    return PD_MAP_ERROR;
  if (ev->action == PD_ACTION_NOTE &&
      (ev->note == NULL || is_blank(ev->note)) &&
      pd_event_set_text(&ev->note,
                        is_blank(ev->message) ? ev->summary : ev->message) != 0)
    return PD_MAP_ERROR;

  m = pd_meta_find(n, PD_META_INCIDENT);
  if (m != NULL) {
    const char *text = meta_text(m, scratch, sizeof(scratch));
    if (!is_blank(text) && pd_event_set_text(&ev->incident, text) != 0)
      return PD_MAP_ERROR;
  }
  return PD_MAP_EVENT;
}

int pd_event_from_notification(const pd_notify_config_t *cfg,
                               const notification_t *n, pd_event_t *ev) {
  pd_event_init(ev);

  pd_action_t action = PD_ACTION_NONE;
  int status = default_action(cfg, n, &action);
  if (status == PD_MAP_ERROR) {
    PD_NOTIFY_ERROR(cfg->name, "notification with unknown severity %d ignored",
                    n->severity);
    return PD_MAP_ERROR;
  }
  /* An override acts on an OKAY even without ResolveOnOkay. */
  if (status == PD_MAP_NO_ACTION && pd_meta_find(n, PD_META_ACTION) == NULL)
    return PD_MAP_NO_ACTION;

  ev->notify = strdup(cfg->name);
  if (ev->notify == NULL)
    goto oom;
  ev->created = cdtime();
  ev->time = n->time != 0 ? n->time : ev->created;
  ev->severity = n->severity;
  ev->action = action;

  set_identity(ev, n);
  set_summary_from(ev, n);

  status = set_overrides(cfg, ev, n);
  if (status != PD_MAP_EVENT) {
    pd_event_free(ev);
    return status;
  }
  if (set_dedup_key(cfg, ev, n) != 0) {
    PD_NOTIFY_ERROR(cfg->name, "%s: DedupKey template cannot be expanded",
                    ev->identifier);
    pd_event_free(ev);
    return PD_MAP_ERROR;
  }
  if (details_from_meta(ev, n) != 0)
    goto oom;
  return PD_MAP_EVENT;

oom:
  PD_NOTIFY_ERROR(cfg->name, "out of memory; notification dropped");
  pd_event_free(ev);
  return PD_MAP_ERROR;
}

/* -------------------------------------------------------- spool record */

static const char detail_type_codes[] = {
    [PD_DETAIL_STRING] = 's',   [PD_DETAIL_SIGNED] = 'i',
    [PD_DETAIL_UNSIGNED] = 'u', [PD_DETAIL_DOUBLE] = 'd',
    [PD_DETAIL_BOOLEAN] = 'b',
};

/* A detail's value as lossless text (doubles: %.17g, "nan", "inf"). */
static void detail_record_text(const pd_detail_t *d, char *buf, size_t size) {
  switch (d->type) {
  case PD_DETAIL_SIGNED:
    snprintf(buf, size, "%" PRId64, d->value.signed_int);
    break;
  case PD_DETAIL_UNSIGNED:
    snprintf(buf, size, "%" PRIu64, d->value.unsigned_int);
    break;
  case PD_DETAIL_DOUBLE:
    snprintf(buf, size, "%.17g", d->value.number);
    break;
  case PD_DETAIL_BOOLEAN:
    snprintf(buf, size, "%s", d->value.boolean ? "true" : "false");
    break;
  default:
    buf[0] = '\0';
    break;
  }
}

int pd_event_to_record(const pd_event_t *ev, char **json, size_t *len) {
  json_t j;
  *json = NULL;
  *len = 0;
  if (json_begin(&j) != 0)
    return -1;

  json_open_map(&j);
  json_kint(&j, "v", PD_EVENT_RECORD_VERSION);
  json_kstr(&j, "notify", ev->notify != NULL ? ev->notify : "");
  json_ktime(&j, "created", ev->created);
  json_ktime(&j, "time", ev->time);
  json_kstr(&j, "action", pd_action_name(ev->action));
  json_kstr(&j, "severity", pd_severity_name(ev->severity));
  json_kstr(&j, "dedup_key", ev->dedup_key);
  json_kstr(&j, "summary", ev->summary);
  json_kstr(&j, "message", ev->message);
  json_kstr(&j, "source", ev->source);
  json_kstr(&j, "component", ev->component);
  json_kstr(&j, "group", ev->group);
  json_kstr(&j, "class", ev->event_class);
  json_kstr(&j, "identifier", ev->identifier);

  json_str(&j, "details");
  json_open_array(&j);
  for (size_t i = 0; i < ev->details_num; i++) {
    const pd_detail_t *d = &ev->details[i];
    char code[2] = {detail_type_codes[d->type], '\0'};
    char text[64];
    json_open_array(&j);
    json_str(&j, d->name);
    json_str(&j, code);
    if (d->type == PD_DETAIL_STRING) {
      json_str(&j, d->value.string);
    } else {
      detail_record_text(d, text, sizeof(text));
      json_str(&j, text);
    }
    json_close_array(&j);
  }
  json_close_array(&j);
  json_kbool(&j, "details_dropped", ev->details_dropped);

  json_kstr_or_null(&j, "note", ev->note);
  json_kstr_or_null(&j, "incident", ev->incident);
  json_kstr_or_null(&j, "incident_id", ev->incident_id);
  json_kint(&j, "step", ev->step);
  json_kint(&j, "attempts", ev->attempts);
  json_ktime(&j, "next_attempt", ev->next_attempt);
  json_kstr_or_null(&j, "last_error", ev->last_error);
  json_close_map(&j);

  return json_finish(&j, json, len);
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

static int record_time(record_t *r, const char *key, cdtime_t *t) {
  yajl_val v = record_get(r, key);
  if (!YAJL_IS_NUMBER(v))
    return record_fail(r, "\"%s\" is missing or not a number", key);
  double d =
      YAJL_IS_INTEGER(v) ? (double)YAJL_GET_INTEGER(v) : YAJL_GET_DOUBLE(v);
  /* cdtime_t spans about 2^34 s from the epoch. */
  if (!isfinite(d) || d < 0 || d > 1.6e10)
    return record_fail(r, "\"%s\" is out of range", key);
  *t = DOUBLE_TO_CDTIME_T(d);
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
  if (number != PD_EVENT_RECORD_VERSION) {
    snprintf(r->err, r->err_size, "unsupported record version %lld", number);
    return -1;
  }
  if (record_string(r, "notify", &s) != 0)
    return -1;
  if ((ev->notify = strdup(s)) == NULL)
    return record_fail(r, "out of memory");
  if (record_time(r, "created", &ev->created) != 0 ||
      record_time(r, "time", &ev->time) != 0 ||
      record_time(r, "next_attempt", &ev->next_attempt) != 0)
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
  if (ev->dedup_key[0] == '\0' || is_blank(ev->summary) || is_blank(ev->source))
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

/* ---------------------------------------------------------- wire bodies */

/* RFC 3339 UTC with milliseconds: 2026-11-28T08:29:56.123Z */
static void format_timestamp(cdtime_t t, char *buf, size_t size) {
  time_t seconds = (time_t)(t >> 30);
  unsigned ms = (unsigned)(((t & 0x3fffffff) * 1000) >> 30);
  struct tm tm;
  if (gmtime_r(&seconds, &tm) == NULL) {
    snprintf(buf, size, "1970-01-01T00:00:00.000Z");
    return;
  }
  char date[32];
  strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf, size, "%s.%03uZ", date, ms);
}

static void json_payload(json_t *j, const pd_event_t *ev, bool drop_details) {
  char timestamp[64];
  format_timestamp(ev->time, timestamp, sizeof(timestamp));

  json_str(j, "payload");
  json_open_map(j);
  json_kstr(j, "summary", ev->summary);
  json_kstr(j, "source", ev->source);
  json_kstr(j, "severity", pd_event_severity(ev));
  json_kstr(j, "timestamp", timestamp);
  if (ev->component[0] != '\0')
    json_kstr(j, "component", ev->component);
  if (ev->group[0] != '\0')
    json_kstr(j, "group", ev->group);
  if (ev->event_class[0] != '\0')
    json_kstr(j, "class", ev->event_class);
  json_str(j, "custom_details");
  json_custom_details(j, ev, drop_details);
  json_close_map(j);
}

static int events_body(const pd_event_t *ev, const char *routing_key,
                       const char *client_url, bool drop_details, char **body,
                       size_t *len) {
  json_t j;
  if (json_begin(&j) != 0)
    return -1;
  json_open_map(&j);
  json_kstr(&j, "routing_key", routing_key);
  json_kstr(&j, "event_action", pd_action_name(ev->action));
  json_kstr(&j, "dedup_key", ev->dedup_key);
  if (ev->action == PD_ACTION_TRIGGER) {
    json_payload(&j, ev, drop_details);
    json_kstr(&j, "client", "collectd");
    if (client_url != NULL)
      json_kstr(&j, "client_url", client_url);
  }
  json_close_map(&j);
  return json_finish(&j, body, len);
}

int pd_event_events_body(const pd_event_t *ev, const char *routing_key,
                         const char *client_url, char **body, size_t *len,
                         bool *details_dropped) {
  *body = NULL;
  *len = 0;
  if (details_dropped != NULL)
    *details_dropped = false;
  if (ev->action != PD_ACTION_TRIGGER && ev->action != PD_ACTION_ACKNOWLEDGE &&
      ev->action != PD_ACTION_RESOLVE)
    return -1;

  if (events_body(ev, routing_key, client_url, false, body, len) != 0)
    return -1;
  if (*len <= PD_EVENT_MAX_BYTES)
    return 0;

  free(*body);
  if (events_body(ev, routing_key, client_url, true, body, len) != 0)
    return -1;
  if (details_dropped != NULL)
    *details_dropped = true;
  if (*len <= PD_EVENT_MAX_BYTES)
    return 0;
  free(*body);
  *body = NULL;
  *len = 0;
  return -1;
}

char *pd_event_details_text(const pd_event_t *ev) {
  char *text = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&text, &size);
  if (f == NULL)
    return NULL;
  fputs(is_blank(ev->message) ? ev->summary : ev->message, f);
  if (ev->details_num > 0 || ev->details_dropped)
    fputs("\n", f);
  if (ev->details_dropped)
    fputs("\n" PD_DETAILS_DROPPED_TEXT, f);
  for (size_t i = 0; i < ev->details_num; i++) {
    const pd_detail_t *d = &ev->details[i];
    char value[64];
    const char *shown = value;
    if (d->type == PD_DETAIL_STRING)
      shown = d->value.string;
    else if (d->type == PD_DETAIL_DOUBLE)
      snprintf(value, sizeof(value), "%.15g", d->value.number);
    else
      detail_record_text(d, value, sizeof(value));
    fprintf(f, "\n%s: %s", d->name, shown);
  }
  bool failed = ferror(f) != 0;
  if (fclose(f) != 0 || failed) {
    free(text);
    return NULL;
  }
  return text;
}

int pd_event_rest_create_body(const pd_event_t *ev, const char *service_id,
                              char **body, size_t *len) {
  *body = NULL;
  *len = 0;
  char *details = pd_event_details_text(ev);
  if (details == NULL)
    return -1;
  /* Same bound as the Events API: a body that large is a mistake. */
  if (strlen(details) > PD_DETAILS_MAX_BYTES) {
    size_t keep = pd_utf8_cut(details, strlen(details), PD_DETAILS_MAX_BYTES);
    details[keep] = '\0';
  }

  json_t j;
  if (json_begin(&j) != 0) {
    free(details);
    return -1;
  }
  json_open_map(&j);
  json_str(&j, "incident");
  json_open_map(&j);
  json_kstr(&j, "type", "incident");
  json_kstr(&j, "title", ev->summary);
  json_str(&j, "service");
  json_open_map(&j);
  json_kstr(&j, "id", service_id);
  json_kstr(&j, "type", "service_reference");
  json_close_map(&j);
  json_kstr(&j, "urgency", pd_event_urgency(ev));
  json_kstr(&j, "incident_key", ev->dedup_key);
  json_str(&j, "body");
  json_open_map(&j);
  json_kstr(&j, "type", "incident_body");
  json_kstr(&j, "details", details);
  json_close_map(&j);
  json_close_map(&j);
  json_close_map(&j);
  free(details);
  return json_finish(&j, body, len);
}

/*
 * {outer:{["type":type,] key:value[, key2:value2]}}, the small REST bodies;
 * no type when type is NULL, no second field when value2 is NULL. Values
 * are bounded as event texts. -1 when value is NULL.
 */
static int wrapped_body(const char *outer, const char *type, const char *key,
                        const char *value, const char *key2, const char *value2,
                        char **body, size_t *len) {
  *body = NULL;
  *len = 0;
  char *v1 = NULL, *v2 = NULL;
  if (value == NULL || pd_event_set_text(&v1, value) != 0 ||
      (value2 != NULL && pd_event_set_text(&v2, value2) != 0)) {
    free(v1);
    return -1;
  }
  json_t j;
  int status = -1;
  if (json_begin(&j) == 0) {
    json_open_map(&j);
    json_str(&j, outer);
    json_open_map(&j);
    if (type != NULL)
      json_kstr(&j, "type", type);
    json_kstr(&j, key, v1);
    if (v2 != NULL)
      json_kstr(&j, key2, v2);
    json_close_map(&j);
    json_close_map(&j);
    status = json_finish(&j, body, len);
  }
  free(v1);
  free(v2);
  return status;
}

int pd_rest_status_body(const char *status, const char *resolution, char **body,
                        size_t *len) {
  if (strcmp(status, "resolved") != 0)
    resolution = NULL;
  return wrapped_body("incident", "incident_reference", "status", status,
                      "resolution", resolution, body, len);
}

int pd_rest_urgency_body(const char *urgency, char **body, size_t *len) {
  return wrapped_body("incident", "incident_reference", "urgency", urgency,
                      NULL, NULL, body, len);
}

int pd_rest_note_body(const char *content, char **body, size_t *len) {
  return wrapped_body("note", NULL, "content", content, NULL, NULL, body, len);
}
