/* SPDX-License-Identifier: MIT */
/*
 * pd_event.h - what a collectd notification becomes (doc/contract.md §6):
 * the event, which Notify block acts on a notification, and the mapping.
 * An event is written to the spool as a record (pd_event_record.h) and sent
 * as a wire body (pd_event_body.h).
 *
 * A pd_event_t holds everything a sender needs to deliver one PagerDuty
 * action, and nothing secret: the routing key and the token are passed in
 * only when a body is built for sending, so an event can be written to the
 * spool as it is. All strings in an event are valid UTF-8 and bounded as
 * PagerDuty requires, and the spool record relies on it (it is written
 * without validating again): the mapping sanitises what comes from
 * collectd (invalid bytes made '?'), the config refuses block names that
 * are not UTF-8, pd_event_set_text() sanitises what is set later, and the
 * record reader refuses invalid strings. fuzz_notification and
 * fuzz_spool_record check every field of every event they make.
 */
#ifndef PD_EVENT_H
#define PD_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"

#include "pd_config.h"
#include "pd_json_write.h"
#include "pd_log.h" /* PD_NOTIFY_ERROR()..., for the modules of a Notify block */
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
/* The latest time an event holds: the spool record writes times as JSON
 * integers, which yajl reads up to INT64_MAX (about the year 2242). */
#define PD_EVENT_TIME_MAX ((cdtime_t)INT64_MAX)

/* The string meta of doc/contract.md §6 that steer the action; never copied
 * into custom_details. */
#define PD_META_ACTION "pagerduty_action"
#define PD_META_NOTE "pagerduty_note"
#define PD_META_DEDUP_KEY "pagerduty_dedup_key"
#define PD_META_INCIDENT "pagerduty_incident"

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

/* A detail's value as lossless text (doubles: %.17g, "nan", "inf"); "" for
 * a string detail, whose text is its value. */
void pd_detail_value_text(const pd_detail_t *d, char *buf, size_t size);

/* ev's custom_details as the Events API body's map (one marker entry when
 * drop_details or ev->details_dropped); the wire bodies (pd_event_body.c)
 * write them with it. */
void pd_event_json_custom_details(pd_jw_t *j, const pd_event_t *ev,
                                  bool drop_details);

/* The size ev's custom_details take in an Events API body; SIZE_MAX when it
 * cannot be told. The mapping drops details larger than
 * PD_DETAILS_MAX_BYTES with it. */
size_t pd_event_custom_details_size(const pd_event_t *ev);

const char *pd_action_name(pd_action_t action); /* "trigger"... "none" */
/* Parses trigger|acknowledge|resolve|note; PD_ACTION_NONE otherwise. */
pd_action_t pd_action_parse(const char *text);

/* Events API severity: critical (FAILURE), warning (WARNING), info. */
const char *pd_event_severity(const pd_event_t *ev);
/* REST urgency: high (FAILURE), low otherwise. */
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

#endif /* PD_EVENT_H */
