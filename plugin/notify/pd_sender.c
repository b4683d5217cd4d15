/* SPDX-License-Identifier: MIT */
/*
 * pd_sender.c - see pd_sender.h.
 *
 * Layout: the thread's loop (bottom) picks what to do; deliver() loads one
 * event, route() sends it along its path (pd_sender_actions) and fills a
 * pd_send_result_t, finish() turns the result into spool changes, counters
 * and log lines, with the waits of pd_retry_policy. Reconciliation of one
 * alert is reconcile_one().
 */
#define _GNU_SOURCE /* pthread_setname_np */

#include "pd_sender.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "pd_identity.h"
#include "pd_log.h"
#include "pd_sender_actions.h"
#include "pd_series.h"

/* Error bodies and the answers read here are small. */
#define EVENTS_MAX_RESPONSE (1024 * 1024)
/* The loop runs at least this often: spool fsync and state save. */
#define TICK_S 1.0
/* Expired events moved to failed/ per turn of the loop. */
#define EXPIRE_BATCH 64
/* Retry of a failed GET /users/me. */
#define IDENTITY_RETRY_S 60.0
/* Dead-letter ERROR lines per minute; more are summed up. */
#define DEAD_LETTER_LOG_MAX 10

typedef enum {
  FAILING_NONE = 0,
  FAILING_RETRY,
  FAILING_AUTH,
  FAILING_PERMISSION,
} failing_t;

struct pd_sender_s {
  /* The block, its spool and Account; the Events client is its own. */
  pd_send_ctx_t ctx;
  double max_event_age_s;
  double events_throttle_s;
  pd_value_state_fn value_state;
  void *value_state_ctx;
  char log_name[128]; /* "notify \"web\"" */

  pthread_t thread;
  bool started;
  pthread_mutex_t lock; /* the flags and counters below */
  pthread_cond_t wakeup;
  bool stop, kicked, reconcile_now;
  bool waiting; /* in pthread_cond_timedwait: pd_sender_wake signals */
  bool holding; /* waiting out hold_until: a new event changes nothing */
  uint64_t sent, retried;

  /* Owned by the thread. */
  pd_reconcile_t reconcile;
  double hold_until;       /* monotonic: no request before */
  bool auth_hold;          /* holding after a 401 */
  uint64_t auth_successes; /* the Account client's successes then */
  unsigned consecutive_failures;
  failing_t failing;
  long failing_status;
  bool identity_known;
  double identity_next;
  char role[PD_ROLE_MAX + 1];
  double last_sync;
  unsigned seed;
  double dead_letter_window;
  unsigned dead_letter_logged;
  uint64_t dead_letter_unlogged;
};

/* ------------------------------------------------------------- helpers */

static const char *block(const pd_sender_t *s) { return s->ctx.cfg->name; }

static double random01(pd_sender_t *s) {
  return (double)rand_r(&s->seed) / ((double)RAND_MAX + 1.0);
}

/* Requests of the Account's client that succeeded, by anyone. */
static uint64_t account_successes(const pd_sender_t *s) {
  pd_http_stats_t st;
  pd_http_client_stats(pd_rest_http(s->ctx.rest), &st);
  return st.requests - st.errors;
}

/* ------------------------------------------------------------ delivery */

/* The From address before a REST write (identity, below). */
static int ensure_from(pd_sender_t *s, pd_send_result_t *r);

/* Sends ev along its path; r says how it went. */
static void route(pd_sender_t *s, pd_event_t *ev, pd_send_result_t *r) {
  bool events = s->ctx.cfg->routing_key != NULL && s->ctx.events != NULL;
  switch (ev->action) {
  case PD_ACTION_TRIGGER:
    if (events) {
      pd_send_events(&s->ctx, ev, r);
      return;
    }
    break;
  case PD_ACTION_ACKNOWLEDGE:
  case PD_ACTION_RESOLVE:
    if (events && (ev->incident == NULL || s->ctx.rest == NULL)) {
      pd_send_events(&s->ctx, ev, r);
      return;
    }
    break;
  case PD_ACTION_NOTE:
    break;
  default:
    pd_send_result_set(r, PD_SEND_PERMANENT, "event has no action");
    return;
  }
  if (s->ctx.rest == NULL) {
    pd_send_result_set(r, PD_SEND_PERMANENT,
                       "%s needs an Account on the Notify block",
                       pd_action_name(ev->action));
    return;
  }
  if (ensure_from(s, r) != 0)
    return;
  switch (ev->action) {
  case PD_ACTION_TRIGGER:
    pd_send_rest_trigger(&s->ctx, ev, r);
    break;
  case PD_ACTION_ACKNOWLEDGE:
    pd_send_rest_status(&s->ctx, ev, "acknowledged", r);
    break;
  case PD_ACTION_RESOLVE:
    pd_send_rest_status(&s->ctx, ev, "resolved", r);
    break;
  default:
    pd_send_rest_note(&s->ctx, ev, r);
    break;
  }
}

static void count(pd_sender_t *s, uint64_t *counter) {
  pthread_mutex_lock(&s->lock);
  (*counter)++;
  pthread_mutex_unlock(&s->lock);
}

/* Moves ev to failed/ and says so (a few lines a minute at most). */
static void dead_letter(pd_sender_t *s, const pd_event_t *ev,
                        const char *reason) {
  char line[800];
  snprintf(line, sizeof(line), "%s %s: %s", pd_action_name(ev->action),
           ev->dedup_key, reason);
  pd_notify_save_through(s->ctx.notify, ev->seq);
  if (pd_spool_fail(s->ctx.spool, ev->seq, line) == PD_SPOOL_ERROR)
    return;
  /* A trigger that never got through leaves nothing open. */
  if (ev->action == PD_ACTION_TRIGGER && ev->step != PD_STEP_RAISE)
    pd_notify_forget(s->ctx.notify, ev->dedup_key, 0);

  double now = pd_monotonic_now();
  if (now >= s->dead_letter_window + 60) {
    if (s->dead_letter_unlogged > 0)
      PD_NOTIFY_ERROR(block(s),
                      "%" PRIu64 " more events not delivered, "
                      "moved to SpoolDir/" PD_SPOOL_FAILED_DIR "/",
                      s->dead_letter_unlogged);
    s->dead_letter_window = now;
    s->dead_letter_logged = 0;
    s->dead_letter_unlogged = 0;
  }
  if (s->dead_letter_logged++ < DEAD_LETTER_LOG_MAX)
    PD_NOTIFY_ERROR(block(s),
                    "%s: %s event not delivered, moved to "
                    "SpoolDir/" PD_SPOOL_FAILED_DIR "/: %s",
                    ev->identifier, pd_action_name(ev->action), reason);
  else
    s->dead_letter_unlogged++;
}

/*
 * A 401 or 403. Through the Account, pd_rest_request_quiet() has logged it
 * with the fix of doc/contract.md §7 (once per change, shared with the read
 * side); the block adds that nothing is lost. The Events API has no token: a
 * 401/403 there means the RoutingKey or EventsURL is wrong.
 */
static void report_auth(pd_sender_t *s, const pd_send_result_t *r) {
  if (r->via_events)
    PD_NOTIFY_ERROR(block(s),
                    "%s; check RoutingKey and EventsURL. Events "
                    "stay queued and are retried every %.0f s.",
                    r->message, pd_retry_slow_s(s->ctx.rest));
  else if (r->kind == PD_SEND_AUTH)
    PD_NOTIFY_WARNING(block(s),
                      "%s: events stay queued; retried every %.0f "
                      "s, or as soon as account \"%s\" works again",
                      r->message, pd_retry_slow_s(s->ctx.rest),
                      pd_rest_config(s->ctx.rest)->name);
  else if (s->role[0] != '\0')
    PD_NOTIFY_WARNING(block(s),
                      "%s: the user needs the Responder or Manager "
                      "role (the user's role is \"%s\"); events stay queued "
                      "and are retried every %.0f s",
                      r->message, s->role, pd_retry_slow_s(s->ctx.rest));
  else
    PD_NOTIFY_WARNING(block(s),
                      "%s: the token needs the Responder or "
                      "Manager role; events stay queued and are retried "
                      "every %.0f s",
                      r->message, pd_retry_slow_s(s->ctx.rest));
}

/* Logs a failure when it starts or changes kind, not while it repeats. */
static void report_failure(pd_sender_t *s, const pd_send_result_t *r) {
  failing_t kind = r->kind == PD_SEND_AUTH         ? FAILING_AUTH
                   : r->kind == PD_SEND_PERMISSION ? FAILING_PERMISSION
                                                   : FAILING_RETRY;
  if (s->failing == kind &&
      (kind != FAILING_RETRY || s->failing_status == r->status))
    return;
  s->failing = kind;
  s->failing_status = r->status;
  if (kind == FAILING_RETRY)
    PD_NOTIFY_WARNING(block(s),
                      "delivery failing: %s; events stay queued "
                      "and are retried",
                      r->message);
  else
    report_auth(s, r);
}

static void report_recovery(pd_sender_t *s) {
  if (s->failing == FAILING_NONE)
    return;
  s->failing = FAILING_NONE;
  PD_NOTIFY_INFO(block(s), "deliveries succeed again");
}

/* After a 401 or 403 the whole block waits SlowInterval; after a 401 of
 * the Account's token (auth) also until the Account's client has a request
 * succeed again (the read side picked up a new token). */
static void hold_slowly(pd_sender_t *s, double mono, bool auth) {
  s->hold_until = mono + pd_retry_slow_s(s->ctx.rest);
  s->auth_hold = auth;
  if (auth)
    s->auth_successes = account_successes(s);
}

/* Applies the outcome of one attempt to the spool, counters and log. */
static void finish(pd_sender_t *s, pd_event_t *ev, const pd_send_result_t *r) {
  if (r->kind == PD_SEND_DONE) {
    pd_notify_save_through(s->ctx.notify, ev->seq); /* before it leaves */
    pd_spool_remove(s->ctx.spool, ev->seq);
    count(s, &s->sent);
    s->consecutive_failures = 0;
    report_recovery(s);
    return;
  }
  if (r->kind == PD_SEND_PERMANENT) {
    dead_letter(s, ev, r->message);
    return;
  }

  double wait;
  double mono = pd_monotonic_now();
  ev->attempts++;
  s->consecutive_failures++;
  if (r->kind == PD_SEND_AUTH || r->kind == PD_SEND_PERMISSION) {
    /* The whole block waits; the event itself is due again as soon as the
     * block may send (after a restart, or a new token, at once). */
    wait = 0;
    hold_slowly(s, mono,
                r->kind == PD_SEND_AUTH && s->ctx.rest != NULL &&
                    !r->via_events);
  } else {
    wait = pd_retry_wait_s(r,
                           ev->attempts > s->consecutive_failures
                               ? ev->attempts
                               : s->consecutive_failures,
                           s->events_throttle_s, random01(s));
    if (pd_retry_holds_block(r))
      s->hold_until = mono + wait;
  }
  /* From when the answer came, not when the turn began ("not before 30 s
   * after the 429" must hold however long the request took). */
  pd_event_set_text(&ev->last_error, r->message);
  pd_spool_retry_in(s->ctx.spool, ev, wait);
  count(s, &s->retried);
  pthread_mutex_lock(&s->lock);
  bool stopping = s->stop;
  pthread_mutex_unlock(&s->lock);
  if (!stopping) /* a request cut short by the shutdown is no failure */
    report_failure(s, r);
}

static bool expired(const pd_sender_t *s, cdtime_t created, cdtime_t now) {
  return s->max_event_age_s > 0 &&
         now > created + DOUBLE_TO_CDTIME_T(s->max_event_age_s);
}

static void expire(pd_sender_t *s, pd_event_t *ev) {
  char reason[700];
  snprintf(reason, sizeof(reason),
           "expired: not delivered within MaxEventAge (%g s) after %u "
           "attempts; last error: %s",
           s->max_event_age_s, ev->attempts,
           ev->last_error != NULL ? ev->last_error : "none");
  dead_letter(s, ev, reason);
}

static void deliver(pd_sender_t *s, const pd_spool_entry_t *entry,
                    cdtime_t now) {
  pd_event_t ev;
  if (pd_spool_load(s->ctx.spool, entry->seq, &ev) != PD_SPOOL_OK) {
    pd_event_free(&ev); /* gone, or moved to failed/ by the spool */
    return;
  }
  if (expired(s, entry->created, now)) { /* the index's: spool clock */
    expire(s, &ev);
  } else {
    pd_send_result_t r = {.retry_after_s = -1};
    route(s, &ev, &r);
    finish(s, &ev, &r);
  }
  pd_event_free(&ev);
}

/* Events that waited past MaxEventAge leave, even when not due. */
static void expire_oldest(pd_sender_t *s, cdtime_t now) {
  for (int i = 0; i < EXPIRE_BATCH; i++) {
    pd_spool_entry_t e;
    if (pd_spool_next(s->ctx.spool, 0, &e) != 0 || !expired(s, e.created, now))
      return;
    pd_event_t ev;
    if (pd_spool_load(s->ctx.spool, e.seq, &ev) == PD_SPOOL_OK)
      expire(s, &ev);
    pd_event_free(&ev);
  }
}

/* ------------------------------------------------------ reconciliation */

static void reconcile_one(pd_sender_t *s, const char *key) {
  pd_open_alert_t a;
  if (pd_notify_lookup(s->ctx.notify, key, &a) != 0)
    return; /* closed meanwhile */
  pd_remote_state_t remote = s->ctx.rest != NULL
                                 ? pd_send_remote_state(&s->ctx, &a)
                                 : PD_REMOTE_UNKNOWN;
  pd_value_state_t value =
      s->value_state != NULL && remote != PD_REMOTE_GONE
          ? s->value_state(s->value_state_ctx, a.identifier)
          : PD_VALUE_UNKNOWN;

  switch (pd_reconcile_decide(value, remote)) {
  case PD_RECONCILE_FORGET:
    if (pd_notify_forget(s->ctx.notify, key, a.opened))
      PD_NOTIFY_INFO(block(s),
                     "%s: the incident of dedup key \"%s\" is "
                     "resolved in PagerDuty; no longer tracked",
                     a.identifier, key);
    break;
  case PD_RECONCILE_RESOLVE: {
    /* An Events block's resolve carries no text: note it first when the
     * Account allows. */
    bool with_note = s->ctx.cfg->routing_key != NULL && s->ctx.rest != NULL;
    pd_event_t ev[2];
    size_t num;
    if (pd_reconcile_events(&a, block(s), with_note, ev, &num) != 0) {
      PD_NOTIFY_ERROR(block(s), "out of memory during reconciliation");
      break;
    }
    if (pd_notify_close_with(s->ctx.notify, key, a.opened, ev, num) == 1)
      PD_NOTIFY_NOTICE(block(s),
                       "%s is OKAY now but its recovery "
                       "notification was lost; resolving dedup key \"%s\"",
                       a.identifier, key);
    for (size_t i = 0; i < num; i++)
      pd_event_free(&ev[i]);
    break;
  }
  default:
    break;
  }
}

/* ---------------------------------------------------------- identity */

/* What the identity of the Account's token says, wherever it came from:
 * the role for the advice of doc/contract.md §7 (the user's email is From on
 * REST writes already, unless the configuration names one: pd_identity). */
static void set_identity(pd_sender_t *s, const pd_user_t *user) {
  s->identity_known = true;
  if (user == NULL)
    return; /* an account-level key: no role, From only from the config */
  bool warn = s->role[0] == '\0' && pd_identity_role_is_read_only(user->role);
  snprintf(s->role, sizeof(s->role), "%s", user->role);
  if (warn)
    PD_ACCOUNT_WARNING(pd_rest_config(s->ctx.rest)->name,
                       "notify \"%s\" acts on incidents through REST, but "
                       "the user's role is \"%s\", which cannot; give the "
                       "user the Responder or Manager role.",
                       block(s), user->role);
}

/* Takes what the Account's read side learnt from GET /users/me, when it
 * has asked already. true when the identity is known now. */
static bool identity_from_account(pd_sender_t *s) {
  pd_identity_t id = pd_rest_identity(s->ctx.rest);
  if (id.kind == PD_IDENTITY_USER)
    set_identity(s, &id.user);
  else if (id.kind == PD_IDENTITY_ACCOUNT_KEY)
    set_identity(s, NULL);
  return s->identity_known;
}

/* GET /users/me itself: a Notify block may write before the Account's
 * first read cycle, or have no read side at all (Collect of nothing the
 * block needs). 0 when the identity is known now; -1 with *resp. */
static int check_identity(pd_sender_t *s, double mono,
                          pd_http_response_t *resp) {
  if (identity_from_account(s))
    return 0;
  pd_identity_t id;
  switch (pd_identity_check(s->ctx.rest, PD_SEND_REST_MAX_WAIT_S, true, &id,
                            resp)) {
  case PD_IDENTITY_USER:
    set_identity(s, &id.user);
    break;
  case PD_IDENTITY_ACCOUNT_KEY:
    set_identity(s, NULL);
    break;
  default:
    s->identity_next = mono + IDENTITY_RETRY_S;
    /* The token is refused: no REST write can go. (An Events block's
     * deliveries need no token and go on.) */
    if (resp->outcome == PD_HTTP_AUTH && s->ctx.cfg->routing_key == NULL)
      hold_slowly(s, mono, true);
    break;
  }
  return s->identity_known ? 0 : -1;
}

/*
 * Before any REST write: From must be known, so that even the first write
 * carries it (issue 7). When it is not yet, GET /users/me now; when that
 * fails the event waits, with the failure as its reason (a 401 holds the
 * block as any 401 does). 0 when the write may go.
 */
static int ensure_from(pd_sender_t *s, pd_send_result_t *r) {
  if (s->identity_known || pd_rest_config(s->ctx.rest)->from != NULL)
    return 0;
  pd_http_response_t resp;
  if (check_identity(s, pd_monotonic_now(), &resp) == 0)
    return 0;
  snprintf(r->what, sizeof(r->what), "GET /users/me (the From address)");
  pd_send_result_from(r, &resp);
  if (r->kind == PD_SEND_DONE || r->kind == PD_SEND_PERMANENT)
    r->kind = PD_SEND_RETRY;
  return -1;
}

/* -------------------------------------------------------------- thread */

/* Once a second: the spool's fsyncs and the block's state file (an
 * incident id learnt meanwhile is lost only with a crash inside that
 * second, and then found again by incident_key). */
static void housekeeping(pd_sender_t *s, cdtime_t now, double mono) {
  if (mono >= s->last_sync + TICK_S) {
    pd_spool_sync(s->ctx.spool);
    pd_notify_save(s->ctx.notify);
    s->last_sync = mono;
  }
  if (s->max_event_age_s > 0)
    expire_oldest(s, now);
}

/* One thing to do now, if any: a due event, else one alert to reconcile.
 * *wake_s says how long there is nothing to do. */
static bool work(pd_sender_t *s, cdtime_t now, double mono, double *wake_s) {
  *wake_s = TICK_S;
  if (s->auth_hold && account_successes(s) > s->auth_successes) {
    /* Someone got a request through the Account's client: the token works
     * again (the read side picked up a new one). */
    s->auth_hold = false;
    s->hold_until = 0;
  }
  if (mono < s->hold_until) {
    if (s->hold_until - mono < *wake_s)
      *wake_s = s->hold_until - mono;
    return false;
  }

  pd_spool_entry_t entry;
  cdtime_t due_at = 0, reconcile_at = 0;
  if (pd_spool_next_due(s->ctx.spool, now, &entry, &due_at) == 0) {
    deliver(s, &entry, now); /* a REST write learns the identity first */
    return true;
  }
  /* Idle: learn the role for the WARNING of doc/contract.md §7 at start, and
   * From before a first write needs it. */
  if (s->ctx.rest != NULL && !s->identity_known && mono >= s->identity_next) {
    pd_http_response_t resp;
    check_identity(s, mono, &resp);
    return true;
  }
  char key[PD_DEDUP_KEY_MAX + 1];
  if (pd_reconcile_next(&s->reconcile, s->ctx.notify, now, key, sizeof(key),
                        &reconcile_at)) {
    reconcile_one(s, key);
    return true;
  }
  cdtime_t next = due_at;
  if (reconcile_at != 0 && (next == 0 || reconcile_at < next))
    next = reconcile_at;
  if (next != 0 && next > now) {
    double until = CDTIME_T_TO_DOUBLE(next - now);
    if (until < *wake_s)
      *wake_s = until;
  }
  return false;
}

static void *sender_main(void *arg) {
  pd_sender_t *s = arg;
  pthread_mutex_lock(&s->lock);
  while (!s->stop) {
    s->kicked = false;
    bool reconcile_now = s->reconcile_now;
    s->reconcile_now = false;
    pthread_mutex_unlock(&s->lock);

    if (reconcile_now)
      pd_reconcile_due_now(&s->reconcile);
    /* Schedules, expiry and reconciliation run on the spool clock
     * (monotonic): a step of the wall clock moves none of them. */
    cdtime_t now = pd_spool_now();
    double mono = pd_monotonic_now();
    housekeeping(s, now, mono);
    double wake_s;
    bool busy = work(s, now, mono, &wake_s);

    pthread_mutex_lock(&s->lock);
    if (busy || s->stop || s->kicked || s->reconcile_now)
      continue;
    double until = pd_monotonic_now() + (wake_s > 0.001 ? wake_s : 0.001);
    struct timespec ts = {
        .tv_sec = (time_t)until,
        .tv_nsec = (long)((until - floor(until)) * 1e9),
    };
    s->waiting = true;
    s->holding = pd_monotonic_now() < s->hold_until;
    pthread_cond_timedwait(&s->wakeup, &s->lock, &ts);
    s->waiting = s->holding = false;
  }
  pthread_mutex_unlock(&s->lock);
  pd_spool_sync(s->ctx.spool);
  pd_notify_save(s->ctx.notify);
  return NULL;
}

/* ----------------------------------------------------------- lifecycle */

double pd_sender_reconcile_interval(const pd_rest_t *rest) {
  if (rest != NULL && pd_rest_config(rest)->slow_interval_s > 0)
    return pd_rest_config(rest)->slow_interval_s;
  return PD_SENDER_RECONCILE_DEFAULT_S;
}

pd_sender_t *pd_sender_create(const pd_sender_options_t *opts) {
  const pd_notify_config_t *cfg = pd_notify_config(opts->notify);
  pd_sender_t *s = calloc(1, sizeof(*s));
  if (s == NULL) {
    PD_NOTIFY_ERROR(cfg->name, "out of memory");
    return NULL;
  }
  s->ctx.notify = opts->notify;
  s->ctx.cfg = cfg;
  s->ctx.spool = pd_notify_spool(opts->notify);
  s->ctx.rest = opts->rest;
  s->max_event_age_s = opts->max_event_age_s;
  s->events_throttle_s = opts->events_throttle_s;
  s->value_state = opts->value_state;
  s->value_state_ctx = opts->value_state_ctx;
  s->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)s;
  snprintf(s->log_name, sizeof(s->log_name), "notify \"%s\"", cfg->name);
  pthread_mutex_init(&s->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&s->wakeup, &attr);
  pthread_condattr_destroy(&attr);
  pd_reconcile_init(&s->reconcile, opts->reconcile_interval_s, pd_spool_now());

  if (cfg->routing_key != NULL) {
    pd_http_options_t http = {
        .base_url =
            cfg->events_url != NULL ? cfg->events_url : PD_DEFAULT_EVENTS_URL,
        .log_name = s->log_name,
        .transport = cfg->transport,
        .max_response_bytes = EVENTS_MAX_RESPONSE,
    };
    s->ctx.events = pd_http_client_create(&http);
    if (s->ctx.events == NULL) {
      pd_sender_destroy(s);
      return NULL;
    }
  }
  pd_notify_set_wake(s->ctx.notify, pd_sender_wake, s);
  return s;
}

int pd_sender_start(pd_sender_t *s) {
  int err = pthread_create(&s->thread, NULL, sender_main, s);
  if (err != 0) {
    PD_NOTIFY_ERROR(block(s), "cannot start the sender thread: %s",
                    strerror(err));
    return -1;
  }
  pthread_setname_np(s->thread, "pagerduty-send");
  s->started = true;
  /* Files ready for the notification callback (pd_spool.h); without them
   * it creates its own, so a failure here is only slower. */
  pd_spool_start_preparing(s->ctx.spool);
  return 0;
}

/* The notification callback's wake-up: only a waiting sender is signalled
 * (a busy one sees `kicked` before it waits again; one already kicked has
 * its signal coming), and after the unlock, so that the sender does not
 * wake only to block on the mutex still held here (a second futex call on
 * the callback's path). A sender holding after failures is not woken:
 * it could send nothing before its hold ends, and its timed wait ends
 * then (and every TICK_S for the spool's sync). Waking another core costs
 * the callback more than all its own work when PagerDuty is down. */
void pd_sender_wake(void *sender) {
  pd_sender_t *s = sender;
  pthread_mutex_lock(&s->lock);
  bool signal = s->waiting && !s->kicked && !s->holding;
  s->kicked = true;
  pthread_mutex_unlock(&s->lock);
  if (signal)
    pthread_cond_signal(&s->wakeup);
}

void pd_sender_reconcile_now(pd_sender_t *s) {
  pthread_mutex_lock(&s->lock);
  s->reconcile_now = true;
  pthread_cond_signal(&s->wakeup);
  pthread_mutex_unlock(&s->lock);
}

void pd_sender_stop(pd_sender_t *s) {
  if (s == NULL || !s->started)
    return;
  pthread_mutex_lock(&s->lock);
  s->stop = true;
  pthread_cond_signal(&s->wakeup);
  pthread_mutex_unlock(&s->lock);
  if (s->ctx.events != NULL)
    pd_http_client_cancel(s->ctx.events);
  pthread_join(s->thread, NULL);
  pd_spool_stop_preparing(s->ctx.spool);
  s->started = false;
}

void pd_sender_destroy(pd_sender_t *s) {
  if (s == NULL)
    return;
  pd_sender_stop(s);
  pd_notify_set_wake(s->ctx.notify, NULL, NULL);
  pd_reconcile_free(&s->reconcile);
  pd_http_client_destroy(s->ctx.events);
  pthread_cond_destroy(&s->wakeup);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

void pd_sender_stats(pd_sender_t *s, pd_sender_stats_t *out) {
  pd_spool_stats_t st;
  pd_spool_stats(s->ctx.spool, &st);
  pthread_mutex_lock(&s->lock);
  out->sent = s->sent;
  out->retried = s->retried;
  pthread_mutex_unlock(&s->lock);
  out->failed = st.failed;
  out->dropped = st.dropped;
  out->pending = st.pending;
  out->oldest_s = 0;
  cdtime_t now = pd_spool_now();
  if (st.pending > 0 && st.oldest_created < now)
    out->oldest_s = CDTIME_T_TO_DOUBLE(now - st.oldest_created);
}

/* The value of a NOTIFY series of pd_series.def (a pd_series_value_fn);
 * scope: the block's pd_sender_stats_t, "st" in the table. */
static void series_value(const void *scope, pd_series_id_t id,
                         const size_t at[2], pd_series_value_t *out) {
  const pd_sender_stats_t *st = scope;
  (void)at;
  switch (id) {
#define PD_SERIES_GROUP(group, collect, needs)
#define PD_SERIES(id, group, entity, type, format, dim1, dim2, value, meaning) \
  VALUE_OF_##entity(id, value)
#define VALUE_OF_NOTIFY(id, value)                                             \
  case PD_SERIES_##id:                                                         \
    PD_SERIES_STORE(out, id, value);                                           \
    break;
#define VALUE_OF_ACCOUNT(id, value) /* the read side's */
#define VALUE_OF_SERVICE(id, value)
#define VALUE_OF_TEAM(id, value)
#define VALUE_OF_SCHEDULE(id, value)
#define VALUE_OF_POLICY(id, value)
#include "pd_series.def"
#undef PD_SERIES_GROUP
#undef PD_SERIES
  default:
    break;
  }
}

void pd_sender_dispatch_metrics(pd_sender_t *s, const pd_metric_sink_t *sink,
                                const char *host) {
  pd_sender_stats_t st;
  pd_sender_stats(s, &st);
  /* A '/' would split the identifier; collectd names allow little else. */
  char instance[PD_TYPE_INSTANCE_MAX];
  snprintf(instance, sizeof(instance), "notify-%s", block(s));
  for (char *p = instance; *p != '\0'; p++)
    if (*p == '/')
      *p = '_';
  pd_metric_batch_t batch;
  pd_metric_batch_init(&batch, sink, host, instance);
  pd_series_emit_entity(&batch, PD_ENTITY_NOTIFY, NULL, series_value, &st);
}
