/* SPDX-License-Identifier: MIT */
/*
 * pd_event_body.c - see pd_event_body.h.
 *
 * What PagerDuty's APIs accept, nothing more.
 */
#include "pd_event_body.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pd_json_write.h"
#include "pd_utf8.h"
#include "pd_util.h"

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

static void json_payload(pd_jw_t *j, const pd_event_t *ev, bool drop_details) {
  char timestamp[64];
  format_timestamp(ev->time, timestamp, sizeof(timestamp));

  pd_jw_str(j, "payload");
  pd_jw_open_map(j);
  pd_jw_kstr(j, "summary", ev->summary);
  pd_jw_kstr(j, "source", ev->source);
  pd_jw_kstr(j, "severity", pd_event_severity(ev));
  pd_jw_kstr(j, "timestamp", timestamp);
  if (ev->component[0] != '\0')
    pd_jw_kstr(j, "component", ev->component);
  if (ev->group[0] != '\0')
    pd_jw_kstr(j, "group", ev->group);
  if (ev->event_class[0] != '\0')
    pd_jw_kstr(j, "class", ev->event_class);
  pd_jw_str(j, "custom_details");
  pd_event_json_custom_details(j, ev, drop_details);
  pd_jw_close_map(j);
}

static int events_body(const pd_event_t *ev, const char *routing_key,
                       const char *client_url, bool drop_details, char **body,
                       size_t *len) {
  pd_jw_t j;
  if (pd_jw_begin(&j) != 0)
    return -1;
  pd_jw_open_map(&j);
  pd_jw_kstr(&j, "routing_key", routing_key);
  pd_jw_kstr(&j, "event_action", pd_action_name(ev->action));
  pd_jw_kstr(&j, "dedup_key", ev->dedup_key);
  if (ev->action == PD_ACTION_TRIGGER) {
    json_payload(&j, ev, drop_details);
    pd_jw_kstr(&j, "client", "collectd");
    if (client_url != NULL)
      pd_jw_kstr(&j, "client_url", client_url);
  }
  pd_jw_close_map(&j);
  return pd_jw_finish(&j, body, len);
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
  fputs(pd_is_blank(ev->message) ? ev->summary : ev->message, f);
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
      pd_detail_value_text(d, value, sizeof(value));
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

  pd_jw_t j;
  if (pd_jw_begin(&j) != 0) {
    free(details);
    return -1;
  }
  pd_jw_open_map(&j);
  pd_jw_str(&j, "incident");
  pd_jw_open_map(&j);
  pd_jw_kstr(&j, "type", "incident");
  pd_jw_kstr(&j, "title", ev->summary);
  pd_jw_str(&j, "service");
  pd_jw_open_map(&j);
  pd_jw_kstr(&j, "id", service_id);
  pd_jw_kstr(&j, "type", "service_reference");
  pd_jw_close_map(&j);
  pd_jw_kstr(&j, "urgency", pd_event_urgency(ev));
  pd_jw_kstr(&j, "incident_key", ev->dedup_key);
  pd_jw_str(&j, "body");
  pd_jw_open_map(&j);
  pd_jw_kstr(&j, "type", "incident_body");
  pd_jw_kstr(&j, "details", details);
  pd_jw_close_map(&j);
  pd_jw_close_map(&j);
  pd_jw_close_map(&j);
  free(details);
  return pd_jw_finish(&j, body, len);
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
  pd_jw_t j;
  int status = -1;
  if (pd_jw_begin(&j) == 0) {
    pd_jw_open_map(&j);
    pd_jw_str(&j, outer);
    pd_jw_open_map(&j);
    if (type != NULL)
      pd_jw_kstr(&j, "type", type);
    pd_jw_kstr(&j, key, v1);
    if (v2 != NULL)
      pd_jw_kstr(&j, key2, v2);
    pd_jw_close_map(&j);
    pd_jw_close_map(&j);
    status = pd_jw_finish(&j, body, len);
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
