/* SPDX-License-Identifier: MIT */
/*
 * pd_sender.h - the thread that delivers one Notify block's spool
 * (doc/contract.md §6).
 *
 * One sender per Notify block. Its thread wakes when an event is spooled,
 * when a retry is due, and at least once a second (to fsync the spool with
 * pd_spool_sync and save the block's state). It sends the oldest due event
 * that is the first of its dedup key, so one key's events reach PagerDuty
 * in the order they were decided, while another key's backoff never holds
 * a key up.
 *
 * Files. This one is the thread (pd_sender.c); what one attempt sends is
 * pd_sender_actions.h, how long a failed one waits is pd_retry_policy.h,
 * and who the Account's token is comes from pd_identity.h (core).
 *
 * Paths. A block with a RoutingKey sends trigger / acknowledge / resolve
 * through the Events API v2 with its own pd_http_client_t (the block's
 * transport options, no token). A block with a Service opens incidents
 * through REST (POST /incidents) with its Account's client, so notification
 * requests share the Account's request ceiling with the read side. Notes,
 * and acting on an incident named by pagerduty_incident, always go through
 * REST and need the Account.
 *
 * Outcomes (per request, from pd_http):
 *   2xx                        done: removed from the spool, counted sent
 *   429                        retried after ratelimit-reset / Retry-After
 *                              (or pd_ratelimit's backoff; on the Events
 *                              API, which names no wait, about 30 s:
 *                              pd_sender_events_throttle_wait); the whole
 *                              block waits, as the limit is not per event
 *   5xx, timeout, reset,       retried with exponential backoff and jitter:
 *   connection refused         1 s doubling per attempt, capped at 5 min,
 *                              each wait drawn from [d/2, d]; when no
 *                              response came at all the whole block waits
 *   400 and other permanent    moved to SpoolDir/failed/ with the reason,
 *                              one ERROR line
 *   401 / 403                  kept; the block waits SlowInterval (300 s
 *                              without Account) and logs once, with the fix
 *                              (doc/contract.md §7); after a 401 it retries as
 *                              soon as the Account's client has a request
 *                              succeed again (the read side picked up a new
 *                              token)
 * An event older than MaxEventAge is moved to failed/ instead of sent.
 *
 * Idempotency, for resends after a crash or a lost response:
 *  - Events API: the dedup key makes a repeated trigger a merge.
 *  - REST trigger: a 400 for a duplicate open incident_key counts as
 *    delivered once GET /incidents?incident_key=..&statuses[]=triggered&
 *    statuses[]=acknowledged&date_range=all&service_ids[]=.. finds it.
 *  - REST note: the step "note posted" is saved with the event before the
 *    POST; a resend first reads GET /incidents/{id}/notes and posts only
 *    when no note with the same content was created since the event was.
 *  - REST resolve / acknowledge / note: the incident is read first
 *    (GET /incidents/{id}) and pd_intent decides whether the write does
 *    what the user meant; an acknowledge never reopens a resolved incident
 *    and nothing already so is sent again. "Already resolved" (400, code
 *    1001) counts as done.
 *  - REST writes carry From from the first one: before it, the sender
 *    takes the email the Account's read side learnt, or asks
 *    GET /users/me itself.
 *
 * Stopping: pd_sender_stop() wakes the thread, cancels its own Events
 * client and joins. A REST request in flight on the Account's (shared)
 * client is not cancelled here: cancel that client first (at shutdown) or
 * let it finish (at most its Timeout).
 */
#ifndef PD_SENDER_H
#define PD_SENDER_H

#include <stdbool.h>
#include <stdint.h>

#include "pd_metrics.h"
#include "pd_notify.h"
#include "pd_reconcile.h"
#include "pd_rest.h"
#include "pd_retry_policy.h" /* the waits of the table above */

/* Reconciliation without an Account's SlowInterval. */
#define PD_SENDER_RECONCILE_DEFAULT_S 300.0

typedef struct {
  pd_notify_t *notify;    /* the block (its config and spool); borrowed */
  pd_rest_t *rest;        /* its Account's endpoint; NULL without; borrowed */
  double max_event_age_s; /* MaxEventAge; 0 = no limit */
  double reconcile_interval_s;   /* 0 = off; see pd_sender_reconcile_interval */
  pd_value_state_fn value_state; /* NULL: every value is UNKNOWN */
  void *value_state_ctx;
  /* The wait after an Events 429 that names none; 0 = the documented
   * PD_SENDER_EVENTS_THROTTLE_S. Only tests shorten it (no config option). */
  double events_throttle_s;
} pd_sender_options_t;

typedef struct pd_sender_s pd_sender_t;

/* The reconciliation interval a block gets: its Account's SlowInterval, or
 * PD_SENDER_RECONCILE_DEFAULT_S without Account (rest NULL). */
double pd_sender_reconcile_interval(const pd_rest_t *rest);

/* Creates the sender (and the Events client of a RoutingKey block), and
 * hooks it to the block's wake. Returns NULL after logging. */
pd_sender_t *pd_sender_create(const pd_sender_options_t *opts);

/* Starts the thread. 0 or -1 (logged). */
int pd_sender_start(pd_sender_t *s);

/* Wakes the thread (what pd_notify calls after spooling). */
void pd_sender_wake(void *sender);

/* Makes reconciliation run at once (tests).
 * Exported for tests only. */
void pd_sender_reconcile_now(pd_sender_t *s);

/* Stops and joins the thread; the spool keeps what was not delivered.
 * Safe to call when not started, and twice. */
void pd_sender_stop(pd_sender_t *s);

/* Stops, unhooks from the block, frees. NULL is fine. */
void pd_sender_destroy(pd_sender_t *s);

typedef struct {
  uint64_t sent;    /* events delivered (or found needing nothing) */
  uint64_t retried; /* failed attempts that will be retried */
  uint64_t failed;  /* events moved to failed/ (dead letters) */
  uint64_t dropped; /* events not stored (disk full, spool unwritable) or
                       dropped on MaxSpoolEvents overflow */
  size_t pending;   /* events in the spool */
  double oldest_s;  /* age of the oldest pending event; 0 when none */
} pd_sender_stats_t;

void pd_sender_stats(pd_sender_t *s, pd_sender_stats_t *out);

/*
 * The per-Notify metrics of doc/contract.md §4 (the NOTIFY series of
 * pd_series.def, valued from pd_sender_stats()), as
 * <host>/pagerduty-notify-<name>/. host "" = collectd's Hostname.
 */
void pd_sender_dispatch_metrics(pd_sender_t *s, const pd_metric_sink_t *sink,
                                const char *host);

#endif /* PD_SENDER_H */
