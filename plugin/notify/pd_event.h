/* SPDX-License-Identifier: MIT */
/*
 * pd_event.h - what a collectd notification becomes (doc/contract.md §6), and
 * the JSON bodies it is sent as.
 *
 * A pd_event_t holds everything a sender needs to deliver one PagerDuty
 * action, and nothing secret: the routing key and the token are passed in
 * only when a body is built for sending, so an event can be written to the
 * spool as it is. All strings in an event are valid UTF-8 (invalid bytes
 * from collectd are made '?') and bounded as PagerDuty requires.
 *
 * JSON is generated with yajl_gen and parsed with yajl_tree, never by hand.
 *
 * custom_details and JSON's missing NaN: collectd's threshold plugin sends
 * NaN for bounds that are not set (WarningMax NaN...). In the Events API
 * body a NaN becomes null ("not set") and +/-infinity the strings "inf" /
 * "-inf" (the text %{meta:} and the REST body print for them). The spool
 * record keeps every value losslessly.
 */
#ifndef PD_EVENT_H
#define PD_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"

#include "pd_config.h"
#include "pd_template.h"

/* Events API limits (doc/pagerduty-api.md, "Events API v2"): summary <=
 * 1024, whole event <= 512 KB. */
#define PD_SUMMARY_MAX 1024
#define PD_EVENT_MAX_BYTES (512 * 1024)
/* custom_details larger than this (serialised) are dropped at mapping time,
 * leaving room for the rest of the event (bounded: a few KB). */
#define PD_DETAILS_MAX_BYTES (PD_EVENT_MAX_BYTES - 16 * 1024)
#define PD_DETAILS_DROPPED_KEY "pagerduty_plugin"
#define PD_DETAILS_DROPPED_TEXT "custom_details dropped: event exceeded 512 KB"
/* host/plugin-plugin_instance/type-type_instance */
#define PD_IDENTIFIER_MAX (6 * DATA_MAX_NAME_LEN)
/* Bound on free texts taken from meta (note, incident) and on last_error. */
#define PD_EVENT_TEXT_MAX (64 * 1024)
/* The spool record format version. */
#define PD_EVENT_RECORD_VERSION 1
/* Spool records larger than this are refused as corrupt. */
#define PD_EVENT_RECORD_MAX_BYTES (2 * PD_EVENT_MAX_BYTES)

/* The string meta of doc/contract.md §6 that steer the action; never copied
 * into custom_details. */
#define PD_META_ACTION "pagerduty_action"
#define PD_META_NOTE "pagerduty_note"
#define PD_META_DEDUP_KEY "pagerduty_dedup_key"
#define PD_META_INCIDENT "pagerduty_incident"

/* Log lines about one Notify block: "pagerduty plugin: notify "web": ...". */
#define PD_NOTIFY_LOG(level, notify, fmt, ...)                                 \
  plugin_log((level), "pagerduty plugin: notify \"%s\": " fmt, (notify),       \
             ##__VA_ARGS__)
#define PD_NOTIFY_ERROR(n, ...) PD_NOTIFY_LOG(LOG_ERR, n, __VA_ARGS__)
#define PD_NOTIFY_WARNING(n, ...) PD_NOTIFY_LOG(LOG_WARNING, n, __VA_ARGS__)
#define PD_NOTIFY_NOTICE(n, ...) PD_NOTIFY_LOG(LOG_NOTICE, n, __VA_ARGS__)
#define PD_NOTIFY_INFO(n, ...) PD_NOTIFY_LOG(LOG_INFO, n, __VA_ARGS__)

typedef enum {
  PD_ACTION_NONE = 0,
  PD_ACTION_TRIGGER,
  PD_ACTION_ACKNOWLEDGE,
  PD_ACTION_RESOLVE,
  PD_ACTION_NOTE,
} pd_action_t;

/* One custom detail: a notification meta, typed as collectd typed it. */
typedef enum {
  PD_DETAIL_STRING = 0,
  PD_DETAIL_SIGNED,
  PD_DETAIL_UNSIGNED,
  PD_DETAIL_DOUBLE,
  PD_DETAIL_BOOLEAN,
} pd_detail_type_t;

typedef struct {
  char *name;
  pd_detail_type_t type;
  union {
    char *string;
    int64_t signed_int;
    uint64_t unsigned_int;
    double number;
    bool boolean;
  } value;
} pd_detail_t;

typedef struct {
  uint64_t seq;     /* spool sequence number; 0 until enqueued */
  char *notify;     /* the Notify block's name */
  cdtime_t created; /* when the notification was mapped (spooled) */
  cdtime_t time;    /* the notification's own time (payload.timestamp) */

  pd_action_t action;
  int severity; /* collectd's NOTIF_FAILURE / NOTIF_WARNING / NOTIF_OKAY */
  char dedup_key[PD_DEDUP_KEY_MAX + 1]; /* also REST incident_key */
  char summary[PD_SUMMARY_MAX + 1];     /* never blank */
  char message[NOTIF_MAX_MSG_LEN]; /* the notification's message, may be "" */
  char source[DATA_MAX_NAME_LEN];  /* host; never blank */
  char component[2 *
                 DATA_MAX_NAME_LEN];   /* plugin[-plugin_instance]; may be "" */
  char group[DATA_MAX_NAME_LEN];       /* type; may be "" */
  char event_class[DATA_MAX_NAME_LEN]; /* type_instance; may be "" */
  /* host/plugin[-pi]/type[-ti], as collectd names the value (reconciliation) */
  char identifier[PD_IDENTIFIER_MAX];

  pd_detail_t
      *details; /* the meta, in notification order, overrides excluded */
  size_t details_num;
  bool details_dropped; /* details exceeded PD_DETAILS_MAX_BYTES */

  char *note;     /* note text (action note, or pagerduty_note); NULL none */
  char *incident; /* pagerduty_incident: incident id or number; NULL none */

  /* Delivery state, kept by the sender and persisted in the spool. */
  char *incident_id; /* REST incident id once known; NULL unknown */
  int step;          /* how far a multi-request delivery got (sender-defined) */
  unsigned attempts;
  cdtime_t next_attempt; /* 0: as soon as possible */
  char *last_error;      /* NULL none; never holds a secret */
} pd_event_t;

void pd_event_init(pd_event_t *ev);
/* Frees what ev owns and re-initialises it (safe to call twice). */
void pd_event_free(pd_event_t *ev);

const char *pd_action_name(pd_action_t action); /* "trigger"... "none" */
/* Parses trigger|acknowledge|resolve|note; PD_ACTION_NONE otherwise.
 * Exported for tests only. */
pd_action_t pd_action_parse(const char *text);

/* Events API severity: critical (FAILURE), warning (WARNING), info.
 * Exported for tests only. */
const char *pd_event_severity(const pd_event_t *ev);
/* REST urgency: high (FAILURE), low otherwise.
 * Exported for tests only. */
const char *pd_event_urgency(const pd_event_t *ev);

/*
 * Does this Notify block act on n? All match fields must match and n's
 * severity must be among the block's. Notifications of the plugin
 * "pagerduty" itself (doc/contract.md §5) never match unless the block's Plugin
 * is exactly the literal "pagerduty" (not a regex): no loops.
 */
bool pd_notify_matches(const pd_notify_config_t *cfg, const notification_t *n);

/* Results of pd_event_from_notification(). */
#define PD_MAP_EVENT 0
#define PD_MAP_NO_ACTION 1
#define PD_MAP_ERROR (-1)

/*
 * Maps n to the action cfg takes (doc/contract.md §6), assuming it matched:
 * FAILURE/WARNING trigger, OKAY resolves when ResolveOnOkay (else
 * PD_MAP_NO_ACTION), the string meta pagerduty_action / _note / _dedup_key
 * / _incident override. An unknown pagerduty_action is logged as an ERROR
 * and gives PD_MAP_ERROR (the notification is ignored). ev is always
 * initialised here and must be freed with pd_event_free() by the caller,
 * whatever the result.
 */
int pd_event_from_notification(const pd_notify_config_t *cfg,
                               const notification_t *n, pd_event_t *ev);

/* Sets ev->summary from text: sanitised, cut at PD_SUMMARY_MAX bytes on a
 * UTF-8 boundary. A blank text leaves the summary "(no message)". */
void pd_event_set_summary(pd_event_t *ev, const char *text);

/* Replaces a dynamically held string field (note, incident, incident_id,
 * last_error) with a sanitised, bounded copy of text (NULL clears it).
 * Returns -1 when memory runs out. */
int pd_event_set_text(char **field, const char *text);

/* ---- spool record -------------------------------------------------------
 * {"v":1, "notify":..., "created":<s>, "time":<s>, "action":..,
 *  "severity":"FAILURE", "dedup_key":.., "summary":.., "message":..,
 *  "source":.., "component":.., "group":.., "class":.., "identifier":..,
 *  "details":[[name,"s|i|u|d|b",value-as-text],...], "details_dropped":bool,
 *  "note":..|null, "incident":..|null, "incident_id":..|null, "step":n,
 *  "attempts":n, "next_attempt":<s>, "last_error":..|null}
 * Times are seconds since the epoch (double). seq is not in the record: the
 * spool file's name holds it. Unknown keys are ignored (later versions may
 * add some); a different "v" is refused. */

/* Serialises ev; *json (NUL-terminated, caller frees) and *len. 0 or -1. */
int pd_event_to_record(const pd_event_t *ev, char **json, size_t *len);

/* Parses and validates a record into ev (initialised here; free it whatever
 * the result). Returns 0, or -1 with a reason in err for anything
 * malformed: not JSON, wrong version, a missing or mistyped field, a field
 * longer than its bound, an unknown action or severity. */
int pd_event_from_record(const char *json, size_t len, pd_event_t *ev,
                         char *err, size_t err_size);

/* ---- wire bodies -------------------------------------------------------- */

/*
 * The Events API v2 body for ev. trigger carries routing_key, event_action,
 * dedup_key, payload{summary, source, severity, timestamp, component, group,
 * class, custom_details}, client "collectd" and client_url (when not NULL);
 * acknowledge and resolve carry routing_key, event_action and dedup_key only.
 * A note cannot be sent through the Events API: -1. When the body would
 * exceed 512 KB, custom_details are replaced by
 * {"pagerduty_plugin":"custom_details dropped: event exceeded 512 KB"} and
 * *details_dropped (may be NULL) is set; the summary is already cut at 1024
 * bytes, so what remains cannot exceed the limit unless routing_key or
 * client_url are absurd: -1 then. *body is NUL-terminated; caller frees.
 */
int pd_event_events_body(const pd_event_t *ev, const char *routing_key,
                         const char *client_url, char **body, size_t *len,
                         bool *details_dropped);

/*
 * The REST POST /incidents body: {"incident":{"type":"incident","title":
 * summary,"service":{"id":service_id,"type":"service_reference"},"urgency":
 * high|low,"incident_key":dedup_key,"body":{"type":"incident_body",
 * "details":"<message>\n\n<name>: <value>\n..."}}}.
 */
int pd_event_rest_create_body(const pd_event_t *ev, const char *service_id,
                              char **body, size_t *len);

/* The text of the incident body: the message (the summary when empty),
 * then one "name: value" line per detail. Caller frees.
 * Exported for tests only. */
char *pd_event_details_text(const pd_event_t *ev);

/* PUT /incidents/{id}: {"incident":{"type":"incident_reference","status":
 * status[,"resolution":resolution]}} (resolution only with "resolved" and
 * when not NULL). status is "acknowledged" or "resolved". */
int pd_rest_status_body(const char *status, const char *resolution, char **body,
                        size_t *len);

/* PUT /incidents/{id}: {"incident":{"type":"incident_reference",
 * "urgency":urgency}}; urgency is "high" or "low". */
int pd_rest_urgency_body(const char *urgency, char **body, size_t *len);

/* POST /incidents/{id}/notes: {"note":{"content":content}}. */
int pd_rest_note_body(const char *content, char **body, size_t *len);

#endif /* PD_EVENT_H */
