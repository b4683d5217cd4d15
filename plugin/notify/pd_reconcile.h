/* SPDX-License-Identifier: MIT */
/*
 * pd_reconcile.h - closing what a lost notification left open (issue 4.3).
 *
 * Every reconciliation interval (the Account's SlowInterval; 300 s for a
 * block without Account) the sender looks again at each alert its block
 * opened and still believes open, one alert per turn of its loop so
 * deliveries never wait long behind it:
 *  - collectd's own state of the value (the threshold state in the value
 *    cache, through a lookup the collectd glue supplies; the event keeps
 *    the identifier), and
 *  - with an Account, PagerDuty's state of the incident (GET /incidents/{id},
 *    or the open incidents with its incident_key).
 * PagerDuty has it resolved (a human did) -> the alert is forgotten. The
 * value is OKAY now -> the alert is resolved, saying why, because its OKAY
 * notification never arrived. Anything else -> nothing. Alerts with events
 * still queued are skipped: their delivery is not over yet.
 *
 * This module holds the decisions and the schedule; the sender does the
 * requests. It never calls into collectd: the value lookup is a function
 * pointer, so libpdcore stays free of the daemon.
 */
#ifndef PD_RECONCILE_H
#define PD_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pd_notify.h"

/* collectd's view of a value, from its threshold state. */
typedef enum {
  PD_VALUE_UNKNOWN = 0, /* not in the cache, no threshold state, missing */
  PD_VALUE_OKAY,
  PD_VALUE_WARNING,
  PD_VALUE_FAILURE,
} pd_value_state_t;

/* Looks up the state of the value named by a collectd identifier
 * ("host/plugin[-pi]/type[-ti]"). Called from the sender thread. */
typedef pd_value_state_t (*pd_value_state_fn)(void *ctx,
                                              const char *identifier);

/* PagerDuty's view of the incident of an open alert. */
typedef enum {
  PD_REMOTE_UNKNOWN = 0, /* no Account, or the lookup failed */
  PD_REMOTE_OPEN,        /* triggered or acknowledged */
  PD_REMOTE_GONE,        /* resolved, or no open incident has the key */
} pd_remote_state_t;

typedef enum {
  PD_RECONCILE_KEEP = 0,
  PD_RECONCILE_RESOLVE, /* the value is OKAY: resolve, saying why */
  PD_RECONCILE_FORGET,  /* PagerDuty has it resolved: stop tracking it */
} pd_reconcile_action_t;

pd_reconcile_action_t pd_reconcile_decide(pd_value_state_t value,
                                          pd_remote_state_t remote);

/* The why, as note and resolution:
 * "resolved by collectd-pagerduty reconciliation: <identifier> is OKAY now;
 *  the recovery notification was lost" */
#define PD_RECONCILE_TEXT                                                      \
  "resolved by collectd-pagerduty reconciliation: %s is OKAY now; the "        \
  "recovery notification was lost"

/*
 * The events that resolve alert a of block `notify`: with_note (an Events
 * block with an Account, where a resolve carries no text) first a note on
 * the incident, then the resolve; otherwise the resolve alone, its note
 * field holding the text (the REST resolution). ev must have room for 2;
 * *num says how many were made. Caller frees each with pd_event_free().
 * Returns 0 or -1 (out of memory; nothing to free).
 */
int pd_reconcile_events(const pd_open_alert_t *a, const char *notify,
                        bool with_note, pd_event_t ev[2], size_t *num);

/* The schedule: one pass over a snapshot of the open keys per interval. */
typedef struct {
  cdtime_t interval; /* 0: reconciliation is off */
  cdtime_t next_run; /* when the next pass starts */
  char **keys;       /* the pass under way: keys still to examine */
  size_t num, pos;
  uint64_t *queued; /* sorted pd_hash64 of the dedup keys with queued events */
  size_t queued_num;
} pd_reconcile_t;

/* interval_s 0 = off. The first pass starts one interval after now. */
void pd_reconcile_init(pd_reconcile_t *rc, double interval_s, cdtime_t now);
void pd_reconcile_free(pd_reconcile_t *rc);

/* Makes the next pass start at once (tests; a token that works again). */
void pd_reconcile_due_now(pd_reconcile_t *rc);

/*
 * The next key to examine at time now, copied into key (size >=
 * PD_DEDUP_KEY_MAX + 1): starts a pass when one is due (snapshot of nt's
 * open keys and of the keys queued in its spool). Returns true with a key,
 * false when there is nothing to do now; *wake_at (may be NULL) is then
 * when the next pass is due (0 when off).
 */
bool pd_reconcile_next(pd_reconcile_t *rc, pd_notify_t *nt, cdtime_t now,
                       char *key, size_t key_size, cdtime_t *wake_at);

#endif /* PD_RECONCILE_H */
