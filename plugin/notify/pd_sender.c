/* SPDX-License-Identifier: MIT */
/*
 * pd_sender.c - see pd_sender.h.
 *
 * Layout: the thread's loop (bottom) picks what to do; deliver() loads one
 * event, route() sends it along its path and fills a result_t, finish()
 * turns the result into spool changes, counters and log lines. REST steps
 * are small functions over rest_request(). Reconciliation of one alert is
 * reconcile_one().
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

#include "pd_event_body.h"
#include "pd_intent.h"
#include "pd_json.h"
#include "pd_log.h"
#include "pd_parse.h"

/* How long a REST request may wait for the Account's request ceiling
 * before the event is rescheduled instead (the sender has other work). */
#define REST_MAX_WAIT_S 5.0
/* The Events client has no ceiling of its own; after a 429 pd_http holds
 * requests back, and the sender reschedules rather than wait inside. */
#define EVENTS_MAX_WAIT_S 1.0
#define EVENTS_PATH "/v2/enqueue"
/* Error bodies and the answers read here are small. */
#define EVENTS_MAX_RESPONSE (1024 * 1024)
/* The loop runs at least this often: spool fsync and state save. */
#define TICK_S 1.0
/* Expired events moved to failed/ per turn of the loop. */
#define EXPIRE_BATCH 64
/* Retry of a failed GET /users/me. */
#define IDENTITY_RETRY_S 60.0
/* A note found on the incident counts as ours when created no earlier than
 * this before the event was (clock differences, second resolution). */
#define NOTE_MATCH_SLACK_S 5.0
/* Dead-letter ERROR lines per minute; more are summed up. */
#define DEAD_LETTER_LOG_MAX 10

typedef enum {
  FAILING_NONE = 0,
  FAILING_RETRY,
  FAILING_AUTH,
  FAILING_PERMISSION,
} failing_t;

/* What one delivery attempt came to. */
typedef enum {
  R_DONE = 0,
  R_RETRY,
  R_PERMANENT,
  R_AUTH,
  R_PERMISSION,
} result_kind_t;

typedef struct {
  result_kind_t kind;
  long status;
  int api_code;
  bool no_response;     /* nothing came back (refused, timeout, reset) */
  bool throttled;       /* 429, or held back by a ceiling */
  bool wait_named;      /* retry_after_s is the server's */
  bool via_events;      /* the Events API answered, not REST */
  double retry_after_s; /* named by the server or the limiter; -1 none */
  char what[96];        /* "POST /incidents" */
  char message[600];    /* why, for logs and failed/; never a secret */
} result_t;

struct pd_sender_s {
  pd_notify_t *notify;
  const pd_notify_config_t *cfg;
  pd_spool_t *spool;
  pd_account_t *account;
  pd_http_client_t *events; /* own, RoutingKey blocks only */
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

static const char *block(const pd_sender_t *s) { return s->cfg->name; }

static bool is_read_only_role(const char *role) {
  return strcmp(role, "observer") == 0 || strcmp(role, "read_only_user") == 0 ||
         strcmp(role, "read_only_limited_user") == 0;
}

static double random01(pd_sender_t *s) {
  return (double)rand_r(&s->seed) / ((double)RAND_MAX + 1.0);
}

/* Exponential backoff with jitter: attempt 1 waits up to BASE. */
static double backoff_s(pd_sender_t *s, unsigned attempt) {
  double d = PD_SENDER_BACKOFF_BASE_S;
  for (unsigned i = 1; i < attempt && d < PD_SENDER_BACKOFF_CAP_S; i++)
    d *= 2;
  if (d > PD_SENDER_BACKOFF_CAP_S)
    d = PD_SENDER_BACKOFF_CAP_S;
  return d / 2 + random01(s) * d / 2;
}

double pd_sender_events_throttle_wait(double named_s, double base_s,
                                      double jitter01) {
  if (named_s >= 0)
    return named_s < PD_SENDER_NAMED_WAIT_CAP_S ? named_s
                                                : PD_SENDER_NAMED_WAIT_CAP_S;
  if (base_s <= 0)
    base_s = PD_SENDER_EVENTS_THROTTLE_S;
  if (!(jitter01 >= 0)) /* also NaN */
    jitter01 = 0;
  if (jitter01 > 1)
    jitter01 = 1;
  return base_s * (1.0 + PD_SENDER_EVENTS_THROTTLE_JITTER * jitter01);
}

static double slow_retry_s(const pd_sender_t *s) {
  if (s->account != NULL && s->account->cfg->slow_interval_s > 0)
    return s->account->cfg->slow_interval_s;
  return PD_SENDER_SLOW_RETRY_S;
}

/* Requests of the Account's client that succeeded, by anyone. */
static uint64_t account_successes(const pd_sender_t *s) {
  pd_http_stats_t st;
  pd_http_client_stats(s->account->http, &st);
  return st.requests - st.errors;
}

static void result_set(result_t *r, result_kind_t kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void result_set(result_t *r, result_kind_t kind, const char *fmt, ...) {
  r->kind = kind;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->message, sizeof(r->message), fmt, ap);
  va_end(ap);
}

/* A failed response as a result. */
static void result_from(result_t *r, const pd_http_response_t *resp) {
  r->status = resp->status;
  r->api_code = resp->api_code;
  r->retry_after_s = resp->retry_after_s;
  r->wait_named = resp->wait_named;
  r->throttled =
      resp->status == 429 || (!resp->sent && resp->retry_after_s >= 0);
  r->no_response = resp->status == 0;
  result_kind_t kind;
  switch (resp->outcome) {
  case PD_HTTP_OK:
    kind = R_DONE;
    break;
  case PD_HTTP_AUTH:
    kind = R_AUTH;
    break;
  case PD_HTTP_PERMISSION:
    kind = R_PERMISSION;
    break;
  case PD_HTTP_PERMANENT:
    /* Refused before PagerDuty saw it (TLS verification, a bad URL): the
     * fix is in the configuration, not the event, so keep it and retry. */
    kind = resp->status == 0 ? R_RETRY : R_PERMANENT;
    break;
  default:
    kind = R_RETRY;
    break;
  }
  result_set(r, kind, "%s: %s", r->what, resp->message);
}

/* ---------------------------------------------------------- REST calls */

static int feed_parser(void *parser, const unsigned char *data, size_t len) {
  if (pd_parser_feed(parser, data, len) == 0)
    return 0;
  pd_http_body_error("%s", pd_parser_error(parser));
  return -1;
}

/*
 * One request through the Account (its client's ceiling and token, its
 * once-per-change failure log with the advice of doc/contract.md §7, shared
 * with the read side). what names the kind of request, without IDs ("PUT
 * /incidents/{id}"). An answer with status `expected` (0 = none) is the
 * caller's to judge and is not logged as a failure.
 */
static int rest_request(pd_sender_t *s, const char *what, long expected,
                        const char *method, const char *path, const char *body,
                        size_t body_len, pd_http_body_cb cb, void *ctx,
                        pd_http_response_t *resp) {
  pd_http_request_t req = {
      .method = method,
      .path = path,
      .body = body,
      .body_len = body_len,
      .on_body = cb,
      .ctx = ctx,
      .max_wait_s = REST_MAX_WAIT_S,
  };
  return pd_account_request_quiet(s->account, what, &req, resp, expected);
}

/* The first incident an answer holds (open ones only when asked). */
typedef struct {
  bool open_only;
  bool found;
  pd_id_t id;
  pd_incident_status_t status;
  pd_urgency_t urgency;
} incident_t;

static int on_incident(void *ctx, const pd_incident_t *inc) {
  incident_t *f = ctx;
  if (f->found || (f->open_only && inc->status == PD_INCIDENT_RESOLVED))
    return 0;
  f->found = true;
  memcpy(f->id, inc->id, sizeof(f->id));
  f->status = (pd_incident_status_t)inc->status;
  f->urgency = (pd_urgency_t)inc->urgency;
  return 0;
}

/*
 * method path with an incident (or list of incidents) as the answer.
 * Returns 1 when an incident was found, 0 when the answer had none, -1 on
 * failure (r says why; r->status 404 for an unknown incident).
 */
static int incident_request(pd_sender_t *s, const char *what, long expected,
                            const char *method, const char *path,
                            const char *body, size_t body_len, incident_t *inc,
                            result_t *r) {
  pd_parse_callbacks_t cb = {.ctx = inc, .on_incident = on_incident};
  pd_parser_t *parser = pd_parser_create(PD_PARSE_INCIDENTS, &cb);
  if (parser == NULL) {
    result_set(r, R_RETRY, "%s: out of memory", r->what);
    return -1;
  }
  pd_http_response_t resp;
  int status = rest_request(s, what, expected, method, path, body, body_len,
                            feed_parser, parser, &resp);
  if (status != 0) {
    result_from(r, &resp);
    if (resp.status >= 200 && resp.status < 300) /* the body let us down */
      r->kind = R_RETRY;
  } else if (pd_parser_finish(parser) != 0) {
    /* A 2xx that is not what PagerDuty sends: try again later. */
    result_set(r, R_RETRY, "%s: malformed response: %s", r->what,
               pd_parser_error(parser));
    r->status = resp.status;
    status = -1;
  }
  pd_parser_destroy(parser);
  if (status != 0)
    return -1;
  return inc->found ? 1 : 0;
}

/* The open incident with incident_key key (on the block's Service, when
 * it has one). 1 found, 0 none open, -1 failed. */
static int find_open_by_key(pd_sender_t *s, const char *key, incident_t *inc,
                            result_t *r) {
  pd_url_t u;
  int ok = pd_url_init(&u, "/incidents") == 0 &&
           pd_url_add(&u, "incident_key", key) == 0 &&
           pd_url_add(&u, "statuses[]", "triggered") == 0 &&
           pd_url_add(&u, "statuses[]", "acknowledged") == 0 &&
           pd_url_add(&u, "date_range", "all") == 0 &&
           (s->cfg->service == NULL ||
            pd_url_add(&u, "service_ids[]", s->cfg->service) == 0);
  if (!ok) {
    pd_url_free(&u);
    result_set(r, R_RETRY, "out of memory");
    return -1;
  }
  snprintf(r->what, sizeof(r->what), "GET /incidents?incident_key=...");
  memset(inc, 0, sizeof(*inc));
  inc->open_only = true;
  int found = incident_request(s, "GET /incidents?incident_key", 0, "GET",
                               u.buf, NULL, 0, inc, r);
  pd_url_free(&u);
  return found;
}

static int feed_json(void *js, const unsigned char *data, size_t len) {
  if (pd_json_feed(js, data, len) == 0)
    return 0;
  pd_http_body_error("%s", pd_json_error(js));
  return -1;
}

/* GET /incidents/{ref} into *v (with its merge target, which the list
 * parser does not keep): 1 found, -1 failed (404: r->status). */
static int get_incident(pd_sender_t *s, const char *ref, pd_incident_view_t *v,
                        result_t *r) {
  char path[128];
  snprintf(path, sizeof(path), "/incidents/%s", ref);
  snprintf(r->what, sizeof(r->what), "GET /incidents/%s", ref);
  pd_incident_view_init(v);
  pd_json_stream_t *js =
      pd_json_stream_create(&pd_incident_view_handlers, v, 0);
  if (js == NULL) {
    result_set(r, R_RETRY, "out of memory");
    return -1;
  }
  pd_http_response_t resp;
  int status = rest_request(s, "GET /incidents/{id}", 404, "GET", path, NULL, 0,
                            feed_json, js, &resp);
  if (status != 0) {
    result_from(r, &resp);
    if (resp.status >= 200 && resp.status < 300) /* the body let us down */
      r->kind = R_RETRY;
  } else if (pd_json_finish(js) != 0 || v->id[0] == '\0' ||
             v->status == PD_INCIDENT_UNKNOWN) {
    /* A 2xx that is not what PagerDuty sends: try again later. */
    result_set(r, R_RETRY, "%s: malformed response: %s", r->what,
               pd_json_error(js)[0] != '\0' ? pd_json_error(js)
                                            : "no incident id or status");
    r->status = resp.status;
    status = -1;
  }
  pd_json_stream_destroy(js);
  return status == 0 ? 1 : -1;
}

/* After a write found the block's own incident resolved by someone else,
 * the block stops tracking it (as reconciliation would): the value failing
 * again opens a new incident instead of notes nobody reads. */
static void forget_if_tracked(pd_sender_t *s, const pd_event_t *ev,
                              const pd_incident_view_t *v) {
  pd_open_alert_t a;
  if (v->status == PD_INCIDENT_RESOLVED && !pd_incident_view_merged(v) &&
      pd_notify_lookup(s->notify, ev->dedup_key, &a) == 0 &&
      strcmp(a.incident_id, v->id) == 0 &&
      pd_notify_forget(s->notify, ev->dedup_key, a.opened))
    PD_NOTIFY_INFO(block(s),
                   "%s: incident %s of dedup key \"%s\" is "
                   "resolved in PagerDuty; no longer tracked",
                   ev->identifier, v->id, ev->dedup_key);
}

/* The first incident a write may act on, before pd_intent has a say: the
 * one the operator named (pagerduty_incident), else the one the block
 * knows, else the open one with the event's dedup key. 1 with *v; 0 when
 * there is none: v->id "" when nothing is open with the dedup key, else
 * the block's incident, gone (logged); -1 failed. */
static int first_target(pd_sender_t *s, const pd_event_t *ev,
                        pd_incident_view_t *v, result_t *r) {
  pd_incident_view_init(v);
  if (ev->incident != NULL) {
    if (!pd_id_is_valid(ev->incident, strlen(ev->incident))) {
      result_set(r, R_PERMANENT,
                 PD_META_INCIDENT " \"%s\" is not an incident ID or number",
                 ev->incident);
      return -1;
    }
    if (get_incident(s, ev->incident, v, r) < 0) {
      if (r->status == 404)
        result_set(r, R_PERMANENT, "incident %s not found", ev->incident);
      return -1;
    }
    return 1;
  }
  if (ev->incident_id != NULL &&
      pd_id_is_valid(ev->incident_id, strlen(ev->incident_id))) {
    if (get_incident(s, ev->incident_id, v, r) == 1)
      return 1;
    if (r->status != 404)
      return -1;
    PD_NOTIFY_INFO(block(s), "%s: incident %s no longer exists; %s not sent",
                   ev->identifier, ev->incident_id, pd_action_name(ev->action));
    pd_id_set(v->id, ev->incident_id, strlen(ev->incident_id));
    r->kind = R_DONE;
    return 0;
  }
  incident_t inc;
  int found = find_open_by_key(s, ev->dedup_key, &inc, r);
  if (found == 1) { /* open, so merged into nothing */
    memcpy(v->id, inc.id, sizeof(pd_id_t));
    v->status = inc.status;
    v->urgency = inc.urgency;
  }
  return found;
}

/*
 * The incident an acknowledge, resolve or note acts on (issue 7: writes
 * that do what the user meant, see pd_intent.h): the first target, then
 * merges followed. 1: act on *v. 0: nothing to send, said in the log (or,
 * with v->id "", nothing open with the dedup key: the caller says so, if
 * it should). -1: failed, r says why. The state is read right before the
 * write; a person acting in the instant between the two is the one race
 * PagerDuty's API leaves open (it has no conditional PUT).
 */
static int write_target(pd_sender_t *s, const pd_event_t *ev,
                        pd_incident_view_t *v, result_t *r) {
  int found = first_target(s, ev, v, r);
  if (found <= 0)
    return found;
  bool named = ev->incident != NULL;
  for (unsigned hops = 0;; hops++) {
    switch (pd_intent_decide(ev->action, v, named)) {
    case PD_INTENT_SEND:
      return 1;
    case PD_INTENT_NOTHING:
      PD_NOTIFY_INFO(block(s), "%s: incident %s %s; %s not sent",
                     ev->identifier, v->id,
                     pd_intent_why_nothing(ev->action, v, named),
                     pd_action_name(ev->action));
      if (!named)
        forget_if_tracked(s, ev, v);
      return 0;
    case PD_INTENT_FOLLOW:
      break;
    }
    if (hops == PD_INTENT_MAX_HOPS) {
      PD_NOTIFY_INFO(block(s),
                     "%s: incident %s was merged more than %d "
                     "times over; %s not sent",
                     ev->identifier, v->id, PD_INTENT_MAX_HOPS,
                     pd_action_name(ev->action));
      return 0;
    }
    pd_id_t from, into;
    memcpy(from, v->id, sizeof(from));
    memcpy(into, v->merged_into, sizeof(into));
    if (get_incident(s, into, v, r) < 0)
      return -1;
    PD_NOTIFY_INFO(block(s),
                   "%s: incident %s was merged into incident %s; "
                   "the %s goes there",
                   ev->identifier, from, into, pd_action_name(ev->action));
    named = false; /* nobody named the target */
  }
}

/* PUT /incidents/{id} with body. */
static int put_incident(pd_sender_t *s, const char *id, const char *body,
                        size_t len, result_t *r) {
  char path[128];
  snprintf(path, sizeof(path), "/incidents/%s", id);
  snprintf(r->what, sizeof(r->what), "PUT /incidents/%s", id);
  pd_http_response_t resp;
  if (rest_request(s, "PUT /incidents/{id}", 400, "PUT", path, body, len, NULL,
                   NULL, &resp) == 0)
    return 0;
  result_from(r, &resp);
  return -1;
}

/* Raises an open incident to high urgency when it is not already. */
static void raise_urgency(pd_sender_t *s, const incident_t *inc, result_t *r) {
  if (inc->urgency == PD_URGENCY_HIGH) {
    r->kind = R_DONE;
    return;
  }
  char *body;
  size_t len;
  if (pd_rest_urgency_body("high", &body, &len) != 0) {
    result_set(r, R_RETRY, "out of memory");
    return;
  }
  if (put_incident(s, inc->id, body, len, r) == 0)
    r->kind = R_DONE;
  free(body);
}

/* REST trigger: POST /incidents, or raise the urgency of the open one. */
static void rest_trigger(pd_sender_t *s, pd_event_t *ev, result_t *r) {
  incident_t inc;
  bool failure = ev->severity == NOTIF_FAILURE;
  if (ev->step == PD_STEP_RAISE) {
    int found = find_open_by_key(s, ev->dedup_key, &inc, r);
    if (found < 0)
      return;
    if (found == 1) {
      pd_notify_set_incident(s->notify, ev->dedup_key, 0, inc.id);
      if (failure)
        raise_urgency(s, &inc, r);
      else
        r->kind = R_DONE;
      return;
    }
    /* Resolved meanwhile: open a new one. */
  }

  char *body;
  size_t len;
  if (pd_event_rest_create_body(ev, s->cfg->service, &body, &len) != 0) {
    result_set(r, R_PERMANENT, "cannot build the POST /incidents body");
    return;
  }
  snprintf(r->what, sizeof(r->what), "POST /incidents");
  memset(&inc, 0, sizeof(inc));
  int found = incident_request(s, "POST /incidents", 400, "POST", "/incidents",
                               body, len, &inc, r);
  free(body);
  if (found == 1) {
    pd_notify_set_incident(s->notify, ev->dedup_key, 0, inc.id);
    r->kind = R_DONE;
    return;
  }
  /* A 2xx whose body was cut short or malformed is retried: the resend
   * either creates it or meets the duplicate 400 below. */
  if (found == 0 || r->status != 400)
    return; /* r says why */

  /* A 400 may be PagerDuty refusing a second open incident with this key:
   * then an earlier send (before a crash or a lost answer) got through. */
  result_t first = *r;
  result_t lookup = {.retry_after_s = -1};
  found = find_open_by_key(s, ev->dedup_key, &inc, &lookup);
  if (found < 0) {
    *r = lookup; /* cannot tell yet: retry the whole event */
    return;
  }
  if (found == 0) {
    *r = first; /* a real 400 */
    return;
  }
  PD_NOTIFY_INFO(block(s),
                 "%s: incident %s with this incident_key is already open "
                 "(an earlier attempt got through); counted as delivered",
                 ev->identifier, inc.id);
  pd_notify_set_incident(s->notify, ev->dedup_key, 0, inc.id);
  if (failure)
    raise_urgency(s, &inc, r);
  else
    r->kind = R_DONE;
}

/* REST acknowledge / resolve: PUT status on the target incident, when
 * pd_intent says the write does what the user meant. */
static void rest_status(pd_sender_t *s, pd_event_t *ev, const char *status,
                        result_t *r) {
  pd_incident_view_t v;
  int act = write_target(s, ev, &v, r);
  if (act < 0)
    return;
  if (act == 0) {
    r->kind = R_DONE; /* nothing to send: the incident is as asked, or gone */
    return;
  }
  const char *resolution = ev->note;
  if (resolution == NULL && ev->message[0] != '\0')
    resolution = ev->message;
  char *body;
  size_t len;
  if (pd_rest_status_body(status, resolution, &body, &len) != 0) {
    result_set(r, R_RETRY, "out of memory");
    return;
  }
  int put = put_incident(s, v.id, body, len, r);
  free(body);
  /* Resolved by someone in the instant since it was read: PagerDuty may
   * answer "already resolved" (400, code 1001) - done, nothing reopened. */
  if (put == 0 || (r->status == 400 && r->api_code == 1001) ||
      (r->status == 404 && ev->incident == NULL)) /* gone */
    r->kind = R_DONE;
}

/* Looks for a note with this content created since the event was. */
typedef struct {
  const char *content;
  time_t since;
  bool content_matches, has_time;
  time_t created;
  bool found;
} note_search_t;

static int note_value(void *ctx, pd_json_stream_t *js,
                      const pd_json_value_t *v) {
  note_search_t *ns = ctx;
  if (v->type != PD_JSON_STRING)
    return PD_JSON_CONTINUE;
  if (pd_json_match(js, 0, "notes/*/content"))
    ns->content_matches = v->len == strlen(ns->content) &&
                          memcmp(v->text, ns->content, v->len) == 0;
  else if (pd_json_match(js, 0, "notes/*/created_at"))
    ns->has_time = pd_time_parse(v->text, v->len, &ns->created) == 0;
  return PD_JSON_CONTINUE;
}

static int note_start(void *ctx, pd_json_stream_t *js, bool is_map) {
  note_search_t *ns = ctx;
  if (is_map && pd_json_match(js, 0, "notes/*"))
    ns->content_matches = ns->has_time = false;
  return PD_JSON_CONTINUE;
}

static int note_end(void *ctx, pd_json_stream_t *js, bool is_map) {
  note_search_t *ns = ctx;
  if (is_map && pd_json_match(js, 0, "notes/*") && ns->content_matches &&
      (!ns->has_time || ns->created >= ns->since))
    ns->found = true;
  return PD_JSON_CONTINUE;
}

/* 1 when the incident has the note already, 0 when not, -1 failed. */
static int note_exists(pd_sender_t *s, const char *id, const pd_event_t *ev,
                       const char *content, result_t *r) {
  note_search_t ns = {
      .content = content,
      .since = (time_t)(CDTIME_T_TO_DOUBLE(ev->created) - NOTE_MATCH_SLACK_S),
  };
  pd_json_handlers_t h = {
      .on_value = note_value, .on_start = note_start, .on_end = note_end};
  pd_json_stream_t *js = pd_json_stream_create(&h, &ns, 0);
  if (js == NULL) {
    result_set(r, R_RETRY, "out of memory");
    return -1;
  }
  char path[128];
  snprintf(path, sizeof(path), "/incidents/%s/notes", id);
  snprintf(r->what, sizeof(r->what), "GET /incidents/%s/notes", id);
  pd_http_response_t resp;
  int status = rest_request(s, "GET /incidents/{id}/notes", 0, "GET", path,
                            NULL, 0, feed_json, js, &resp);
  if (status != 0) {
    result_from(r, &resp);
  } else if (pd_json_finish(js) != 0) {
    result_set(r, R_RETRY, "%s: malformed response: %s", r->what,
               pd_json_error(js));
    status = -1;
  }
  pd_json_stream_destroy(js);
  if (status != 0)
    return -1;
  return ns.found ? 1 : 0;
}

/* REST note, at most once even across a crash. */
static void rest_note(pd_sender_t *s, pd_event_t *ev, result_t *r) {
  const char *content = ev->note != NULL ? ev->note : ev->summary;
  pd_incident_view_t v;
  int act = write_target(s, ev, &v, r);
  if (act < 0)
    return;
  if (act == 0) {
    if (v.id[0] == '\0')
      PD_NOTIFY_INFO(block(s),
                     "%s: no open incident with this dedup key; "
                     "note not sent",
                     ev->identifier);
    r->kind = R_DONE;
    return;
  }
  const char *id = v.id;
  if (ev->step == PD_STEP_NOTE_POSTED) {
    int exists = note_exists(s, id, ev, content, r);
    if (exists < 0)
      return;
    if (exists == 1) {
      r->kind = R_DONE; /* an earlier POST got through */
      return;
    }
  }
  /* Say "posted" on disk before posting, so a crash in between makes the
   * resend look first. */
  ev->step = PD_STEP_NOTE_POSTED;
  if (pd_event_set_text(&ev->incident_id, id) != 0 ||
      pd_spool_update(s->spool, ev) != PD_SPOOL_OK) {
    result_set(r, R_RETRY, "cannot save the event before posting the note");
    return;
  }
  char *body;
  size_t len;
  if (pd_rest_note_body(content, &body, &len) != 0) {
    result_set(r, R_RETRY, "out of memory");
    return;
  }
  char path[128];
  snprintf(path, sizeof(path), "/incidents/%s/notes", id);
  snprintf(r->what, sizeof(r->what), "POST /incidents/%s/notes", id);
  pd_http_response_t resp;
  if (rest_request(s, "POST /incidents/{id}/notes", 0, "POST", path, body, len,
                   NULL, NULL, &resp) == 0)
    r->kind = R_DONE;
  else
    result_from(r, &resp);
  free(body);
}

/* ------------------------------------------------------------- Events */

static void events_send(pd_sender_t *s, const pd_event_t *ev, result_t *r) {
  char *body;
  size_t len;
  bool dropped;
  if (pd_event_events_body(ev, s->cfg->routing_key, NULL, &body, &len,
                           &dropped) != 0) {
    result_set(r, R_PERMANENT,
               "cannot build an Events API body of at most "
               "512 KB");
    return;
  }
  if (dropped)
    PD_NOTIFY_WARNING(block(s),
                      "%s: custom_details dropped: the event would "
                      "exceed 512 KB",
                      ev->identifier);
  snprintf(r->what, sizeof(r->what), "POST " EVENTS_PATH " (%s)",
           pd_action_name(ev->action));
  r->via_events = true;
  pd_http_request_t req = {
      .method = "POST",
      .path = EVENTS_PATH,
      .body = body,
      .body_len = len,
      .max_wait_s = EVENTS_MAX_WAIT_S,
  };
  pd_http_response_t resp;
  if (pd_http_perform(s->events, &req, &resp) == 0) {
    r->kind = R_DONE;
  } else {
    result_from(r, &resp);
    /* A server echoing the key must not get it logged or written. */
    const char *key = s->cfg->routing_key;
    size_t n = strlen(key);
    for (char *hit = strstr(r->message, key); n > 0 && hit != NULL;
         hit = strstr(hit + n, key))
      memset(hit, '*', n);
  }
  explicit_bzero(body, len); /* it held the routing key */
  free(body);
}

/* ------------------------------------------------------------ delivery */

static int ensure_from(pd_sender_t *s, result_t *r); /* identity, below */

/* Sends ev along its path; r says how it went. */
static void route(pd_sender_t *s, pd_event_t *ev, result_t *r) {
  bool events = s->cfg->routing_key != NULL && s->events != NULL;
  switch (ev->action) {
  case PD_ACTION_TRIGGER:
    if (events) {
      events_send(s, ev, r);
      return;
    }
    break;
  case PD_ACTION_ACKNOWLEDGE:
  case PD_ACTION_RESOLVE:
    if (events && (ev->incident == NULL || s->account == NULL)) {
      events_send(s, ev, r);
      return;
    }
    break;
  case PD_ACTION_NOTE:
    break;
  default:
    result_set(r, R_PERMANENT, "event has no action");
    return;
  }
  if (s->account == NULL) {
    result_set(r, R_PERMANENT, "%s needs an Account on the Notify block",
               pd_action_name(ev->action));
    return;
  }
  if (ensure_from(s, r) != 0)
    return;
  switch (ev->action) {
  case PD_ACTION_TRIGGER:
    rest_trigger(s, ev, r);
    break;
  case PD_ACTION_ACKNOWLEDGE:
    rest_status(s, ev, "acknowledged", r);
    break;
  case PD_ACTION_RESOLVE:
    rest_status(s, ev, "resolved", r);
    break;
  default:
    rest_note(s, ev, r);
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
  pd_notify_save_through(s->notify, ev->seq);
  if (pd_spool_fail(s->spool, ev->seq, line) == PD_SPOOL_ERROR)
    return;
  /* A trigger that never got through leaves nothing open. */
  if (ev->action == PD_ACTION_TRIGGER && ev->step != PD_STEP_RAISE)
    pd_notify_forget(s->notify, ev->dedup_key, 0);

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
 * A 401 or 403. Through the Account, pd_account_request() has logged it
 * with the fix of doc/contract.md §7 (once per change, shared with the read
 * side); the block adds that nothing is lost. The Events API has no token: a
 * 401/403 there means the RoutingKey or EventsURL is wrong.
 */
static void report_auth(pd_sender_t *s, const result_t *r) {
  if (r->via_events)
    PD_NOTIFY_ERROR(block(s),
                    "%s; check RoutingKey and EventsURL. Events "
                    "stay queued and are retried every %.0f s.",
                    r->message, slow_retry_s(s));
  else if (r->kind == R_AUTH)
    PD_NOTIFY_WARNING(block(s),
                      "%s: events stay queued; retried every %.0f "
                      "s, or as soon as account \"%s\" works again",
                      r->message, slow_retry_s(s), s->account->cfg->name);
  else if (s->role[0] != '\0')
    PD_NOTIFY_WARNING(block(s),
                      "%s: the user needs the Responder or Manager "
                      "role (the user's role is \"%s\"); events stay queued "
                      "and are retried every %.0f s",
                      r->message, s->role, slow_retry_s(s));
  else
    PD_NOTIFY_WARNING(block(s),
                      "%s: the token needs the Responder or "
                      "Manager role; events stay queued and are retried "
                      "every %.0f s",
                      r->message, slow_retry_s(s));
}

/* Logs a failure when it starts or changes kind, not while it repeats. */
static void report_failure(pd_sender_t *s, const result_t *r) {
  failing_t kind = r->kind == R_AUTH         ? FAILING_AUTH
                   : r->kind == R_PERMISSION ? FAILING_PERMISSION
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
  s->hold_until = mono + slow_retry_s(s);
  s->auth_hold = auth;
  if (auth)
    s->auth_successes = account_successes(s);
}

/* Applies the outcome of one attempt to the spool, counters and log. */
static void finish(pd_sender_t *s, pd_event_t *ev, const result_t *r) {
  if (r->kind == R_DONE) {
    pd_notify_save_through(s->notify, ev->seq); /* before it leaves */
    pd_spool_remove(s->spool, ev->seq);
    count(s, &s->sent);
    s->consecutive_failures = 0;
    report_recovery(s);
    return;
  }
  if (r->kind == R_PERMANENT) {
    dead_letter(s, ev, r->message);
    return;
  }

  double wait;
  double mono = pd_monotonic_now();
  ev->attempts++;
  s->consecutive_failures++;
  if (r->kind == R_AUTH || r->kind == R_PERMISSION) {
    /* The whole block waits; the event itself is due again as soon as the
     * block may send (after a restart, or a new token, at once). */
    wait = 0;
    hold_slowly(s, mono,
                r->kind == R_AUTH && s->account != NULL && !r->via_events);
  } else {
    if (r->via_events && r->status == 429)
      wait =
          pd_sender_events_throttle_wait(r->wait_named ? r->retry_after_s : -1,
                                         s->events_throttle_s, random01(s));
    else if (r->retry_after_s >= 0)
      wait = r->retry_after_s < PD_SENDER_NAMED_WAIT_CAP_S
                 ? r->retry_after_s
                 : PD_SENDER_NAMED_WAIT_CAP_S;
    else
      wait = backoff_s(s, ev->attempts > s->consecutive_failures
                              ? ev->attempts
                              : s->consecutive_failures);
    /* A rate limit or a server that does not answer concerns every event:
     * the block waits, rather than try each event in turn. */
    if (r->throttled || r->no_response)
      s->hold_until = mono + wait;
  }
  /* From when the answer came, not when the turn began ("not before 30 s
   * after the 429" must hold however long the request took). */
  pd_event_set_text(&ev->last_error, r->message);
  pd_spool_retry_in(s->spool, ev, wait);
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
  if (pd_spool_load(s->spool, entry->seq, &ev) != PD_SPOOL_OK) {
    pd_event_free(&ev); /* gone, or moved to failed/ by the spool */
    return;
  }
  if (expired(s, entry->created, now)) { /* the index's: spool clock */
    expire(s, &ev);
  } else {
    result_t r = {.retry_after_s = -1};
    route(s, &ev, &r);
    finish(s, &ev, &r);
  }
  pd_event_free(&ev);
}

/* Events that waited past MaxEventAge leave, even when not due. */
static void expire_oldest(pd_sender_t *s, cdtime_t now) {
  for (int i = 0; i < EXPIRE_BATCH; i++) {
    pd_spool_entry_t e;
    if (pd_spool_next(s->spool, 0, &e) != 0 || !expired(s, e.created, now))
      return;
    pd_event_t ev;
    if (pd_spool_load(s->spool, e.seq, &ev) == PD_SPOOL_OK)
      expire(s, &ev);
    pd_event_free(&ev);
  }
}

/* ------------------------------------------------------ reconciliation */

/* PagerDuty's view of an open alert's incident (Account only). */
static pd_remote_state_t remote_state(pd_sender_t *s,
                                      const pd_open_alert_t *a) {
  result_t r = {.retry_after_s = -1};
  if (a->incident_id[0] != '\0') {
    /* Merged away counts as resolved: a resolve would not follow it. */
    pd_incident_view_t v;
    if (get_incident(s, a->incident_id, &v, &r) == 1)
      return v.status == PD_INCIDENT_RESOLVED ? PD_REMOTE_GONE : PD_REMOTE_OPEN;
    return r.status == 404 ? PD_REMOTE_GONE : PD_REMOTE_UNKNOWN;
  }
  incident_t inc;
  int found = find_open_by_key(s, a->key, &inc, &r);
  if (found == 1) {
    pd_notify_set_incident(s->notify, a->key, a->opened, inc.id);
    return PD_REMOTE_OPEN;
  }
  return found == 0 ? PD_REMOTE_GONE : PD_REMOTE_UNKNOWN;
}

static void reconcile_one(pd_sender_t *s, const char *key) {
  pd_open_alert_t a;
  if (pd_notify_lookup(s->notify, key, &a) != 0)
    return; /* closed meanwhile */
  pd_remote_state_t remote =
      s->account != NULL ? remote_state(s, &a) : PD_REMOTE_UNKNOWN;
  pd_value_state_t value =
      s->value_state != NULL && remote != PD_REMOTE_GONE
          ? s->value_state(s->value_state_ctx, a.identifier)
          : PD_VALUE_UNKNOWN;

  switch (pd_reconcile_decide(value, remote)) {
  case PD_RECONCILE_FORGET:
    if (pd_notify_forget(s->notify, key, a.opened))
      PD_NOTIFY_INFO(block(s),
                     "%s: the incident of dedup key \"%s\" is "
                     "resolved in PagerDuty; no longer tracked",
                     a.identifier, key);
    break;
  case PD_RECONCILE_RESOLVE: {
    /* An Events block's resolve carries no text: note it first when the
     * Account allows. */
    bool with_note = s->cfg->routing_key != NULL && s->account != NULL;
    pd_event_t ev[2];
    size_t num;
    if (pd_reconcile_events(&a, block(s), with_note, ev, &num) != 0) {
      PD_NOTIFY_ERROR(block(s), "out of memory during reconciliation");
      break;
    }
    if (pd_notify_close_with(s->notify, key, a.opened, ev, num) == 1)
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

static int remember_user(void *ctx, const pd_user_t *user) {
  *(pd_user_t *)ctx = *user;
  return 0;
}

/* What the identity of the Account's token says, wherever it came from:
 * the role for the advice of doc/contract.md §7, and the user's email as From
 * on REST writes unless the configuration names one (From is required with an
 * account-level key, harmless with a user token: doc/pagerduty-api.md). */
static void set_identity(pd_sender_t *s, const pd_user_t *user) {
  s->identity_known = true;
  if (user == NULL)
    return; /* an account-level key: no role, From only from the config */
  bool warn = s->role[0] == '\0' && is_read_only_role(user->role);
  snprintf(s->role, sizeof(s->role), "%s", user->role);
  if (s->account->cfg->from == NULL && user->email[0] != '\0')
    pd_http_client_set_from(s->account->http, user->email);
  if (warn)
    PD_ACCOUNT_WARNING(s->account->cfg->name,
                       "notify \"%s\" acts on incidents through REST, but "
                       "the user's role is \"%s\", which cannot; give the "
                       "user the Responder or Manager role.",
                       block(s), user->role);
}

/* Takes what the Account's read side learnt from GET /users/me, when it
 * has asked already. true when the identity is known now. */
static bool identity_from_account(pd_sender_t *s) {
  pd_account_t *acct = s->account;
  pthread_mutex_lock(&acct->failures_lock);
  pd_identity_t id = acct->identity;
  pthread_mutex_unlock(&acct->failures_lock);
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
  pd_user_t user;
  memset(&user, 0, sizeof(user));
  pd_parse_callbacks_t cb = {.ctx = &user, .on_user = remember_user};
  pd_parser_t *parser = pd_parser_create(PD_PARSE_USER_ME, &cb);
  if (parser == NULL) {
    memset(resp, 0, sizeof(*resp));
    resp->outcome = PD_HTTP_RETRY;
    snprintf(resp->message, sizeof(resp->message), "out of memory");
    return -1;
  }
  pd_http_request_t req = {
      .method = "GET",
      .path = "/users/me",
      .on_body = feed_parser,
      .ctx = parser,
      .max_wait_s = REST_MAX_WAIT_S,
  };
  /* The Account's logging rules (doc/contract.md §7 wording for a 401), except
   * for the 400 that only says "account-level key". */
  int status =
      pd_account_request_quiet(s->account, "GET /users/me", &req, resp, 400);
  if (status == 0 && pd_parser_finish(parser) == 0 && user.role[0] != '\0') {
    set_identity(s, &user);
  } else if (status != 0 && resp->status == 400) {
    set_identity(s, NULL); /* an account-level key */
  } else {
    if (status == 0) { /* a 2xx without a user */
      resp->outcome = PD_HTTP_RETRY;
      snprintf(resp->message, sizeof(resp->message),
               "malformed response: no user");
    }
    s->identity_next = mono + IDENTITY_RETRY_S;
    /* The token is refused: no REST write can go. (An Events block's
     * deliveries need no token and go on.) */
    if (resp->outcome == PD_HTTP_AUTH && s->cfg->routing_key == NULL)
      hold_slowly(s, mono, true);
  }
  pd_parser_destroy(parser);
  return s->identity_known ? 0 : -1;
}

/*
 * Before any REST write: From must be known, so that even the first write
 * carries it (issue 7). When it is not yet, GET /users/me now; when that
 * fails the event waits, with the failure as its reason (a 401 holds the
 * block as any 401 does). 0 when the write may go.
 */
static int ensure_from(pd_sender_t *s, result_t *r) {
  if (s->identity_known || s->account->cfg->from != NULL)
    return 0;
  pd_http_response_t resp;
  if (check_identity(s, pd_monotonic_now(), &resp) == 0)
    return 0;
  snprintf(r->what, sizeof(r->what), "GET /users/me (the From address)");
  result_from(r, &resp);
  if (r->kind == R_DONE || r->kind == R_PERMANENT)
    r->kind = R_RETRY;
  return -1;
}

/* -------------------------------------------------------------- thread */

/* Once a second: the spool's fsyncs and the block's state file (an
 * incident id learnt meanwhile is lost only with a crash inside that
 * second, and then found again by incident_key). */
static void housekeeping(pd_sender_t *s, cdtime_t now, double mono) {
  if (mono >= s->last_sync + TICK_S) {
    pd_spool_sync(s->spool);
    pd_notify_save(s->notify);
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
  if (pd_spool_next_due(s->spool, now, &entry, &due_at) == 0) {
    deliver(s, &entry, now); /* a REST write learns the identity first */
    return true;
  }
  /* Idle: learn the role for the WARNING of doc/contract.md §7 at start, and
   * From before a first write needs it. */
  if (s->account != NULL && !s->identity_known && mono >= s->identity_next) {
    pd_http_response_t resp;
    check_identity(s, mono, &resp);
    return true;
  }
  char key[PD_DEDUP_KEY_MAX + 1];
  if (pd_reconcile_next(&s->reconcile, s->notify, now, key, sizeof(key),
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
    pthread_cond_timedwait(&s->wakeup, &s->lock, &ts);
  }
  pthread_mutex_unlock(&s->lock);
  pd_spool_sync(s->spool);
  pd_notify_save(s->notify);
  return NULL;
}

/* ----------------------------------------------------------- lifecycle */

double pd_sender_reconcile_interval(const pd_account_t *account) {
  if (account != NULL && account->cfg->slow_interval_s > 0)
    return account->cfg->slow_interval_s;
  return PD_SENDER_RECONCILE_DEFAULT_S;
}

pd_sender_t *pd_sender_create(const pd_sender_options_t *opts) {
  const pd_notify_config_t *cfg = pd_notify_config(opts->notify);
  pd_sender_t *s = calloc(1, sizeof(*s));
  if (s == NULL) {
    PD_NOTIFY_ERROR(cfg->name, "out of memory");
    return NULL;
  }
  s->notify = opts->notify;
  s->cfg = cfg;
  s->spool = pd_notify_spool(opts->notify);
  s->account = opts->account;
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
    s->events = pd_http_client_create(&http);
    if (s->events == NULL) {
      pd_sender_destroy(s);
      return NULL;
    }
  }
  pd_notify_set_wake(s->notify, pd_sender_wake, s);
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
  pd_spool_start_preparing(s->spool);
  return 0;
}

void pd_sender_wake(void *sender) {
  pd_sender_t *s = sender;
  pthread_mutex_lock(&s->lock);
  s->kicked = true;
  pthread_cond_signal(&s->wakeup);
  pthread_mutex_unlock(&s->lock);
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
  if (s->events != NULL)
    pd_http_client_cancel(s->events);
  pthread_join(s->thread, NULL);
  pd_spool_stop_preparing(s->spool);
  s->started = false;
}

void pd_sender_destroy(pd_sender_t *s) {
  if (s == NULL)
    return;
  pd_sender_stop(s);
  pd_notify_set_wake(s->notify, NULL, NULL);
  pd_reconcile_free(&s->reconcile);
  pd_http_client_destroy(s->events);
  pthread_cond_destroy(&s->wakeup);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

void pd_sender_stats(pd_sender_t *s, pd_sender_stats_t *out) {
  pd_spool_stats_t st;
  pd_spool_stats(s->spool, &st);
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
  pd_metric_gauge(&batch, "queue_length", (double)st.pending, "pending");
  pd_metric_gauge(&batch, "duration", st.oldest_s, "oldest");
  pd_metric_derive(&batch, (int64_t)st.sent, "sent");
  pd_metric_derive(&batch, (int64_t)st.retried, "retried");
  pd_metric_derive(&batch, (int64_t)st.failed, "failed");
  pd_metric_derive(&batch, (int64_t)st.dropped, "dropped");
}
