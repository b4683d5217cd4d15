/* SPDX-License-Identifier: MIT */
/*
 * pd_account.c - see pd_account.h.
 */
#include "pd_account.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pd_collect.h"
#include "pd_log.h"
#include "pd_parse.h"
#include "pd_readmetrics.h"

/* How long a request outside a read cycle waits on the rate limit. */
#define PD_READ_MAX_WAIT_S 5.0
/* Share of the read interval one cycle may spend, waits included, so a
 * cycle slowed by rate limits ends before the next one is due. */
#define PD_CYCLE_BUDGET_SHARE 0.9
/* The interval assumed before the glue says (collectd's default is 10 s;
 * the plugin's documented Interval default is 60). */
#define PD_DEFAULT_INTERVAL_S 60.0
/* How often one GET answered 429 is repeated after waiting
 * ratelimit-reset / Retry-After, within the cycle's budget. */
#define PD_THROTTLE_RETRIES 3

pd_account_t *pd_account_create(const pd_account_config_t *cfg) {
  pd_account_t *acct = calloc(1, sizeof(*acct));
  if (acct == NULL) {
    PD_ACCOUNT_ERROR(cfg->name, "out of memory");
    return NULL;
  }
  acct->cfg = cfg;
  pthread_mutex_init(&acct->failures_lock, NULL);
  if (pd_token_init(&acct->token, cfg) != 0) {
    pthread_mutex_destroy(&acct->failures_lock);
    free(acct);
    return NULL;
  }

  char log_name[256];
  snprintf(log_name, sizeof(log_name), "account \"%s\"", cfg->name);
  pd_http_options_t opts = {
      .base_url = cfg->url,
      .log_name = log_name,
      .transport = cfg->transport,
      .max_requests_per_minute = cfg->max_requests_per_minute,
  };
  acct->http = pd_http_client_create(&opts);
  acct->collect = pd_collect_create(cfg);
  if (cfg->notifications)
    acct->alerts = pd_alerts_create();
  if (acct->http == NULL || acct->collect == NULL ||
      (cfg->notifications && acct->alerts == NULL)) {
    if (acct->http != NULL)
      PD_ACCOUNT_ERROR(cfg->name, "out of memory");
    pd_account_destroy(acct);
    return NULL;
  }
  pd_http_client_set_token(acct->http, acct->token.value);
  if (cfg->from != NULL)
    pd_http_client_set_from(acct->http, cfg->from);
  return acct;
}

void pd_account_destroy(pd_account_t *acct) {
  if (acct == NULL)
    return;
  pd_alerts_destroy(acct->alerts);
  pd_collect_destroy(acct->collect);
  pd_http_client_destroy(acct->http);
  pd_token_free(&acct->token);
  pthread_mutex_destroy(&acct->failures_lock);
  free(acct);
}

void pd_account_set_interval(pd_account_t *acct, double interval_s) {
  acct->interval_s = interval_s;
}

void pd_account_set_notification_sink(pd_account_t *acct,
                                      const pd_notification_sink_t *sink) {
  acct->notifications = sink;
}

double pd_account_interval(const pd_account_t *acct) {
  if (acct->interval_s > 0)
    return acct->interval_s;
  if (acct->cfg->interval_s > 0)
    return acct->cfg->interval_s;
  return PD_DEFAULT_INTERVAL_S;
}

/* How long the next request may wait on the rate limit. */
static double request_max_wait(const pd_account_t *acct) {
  if (acct->deadline <= 0)
    return PD_READ_MAX_WAIT_S;
  double left = acct->deadline - pd_monotonic_now();
  return left > 0 ? left : 0;
}

/* What doc/contract.md §7 tells the user for each kind of failure, or NULL. */
static const char *failure_advice(pd_http_outcome_t outcome,
                                  const char *method) {
  switch (outcome) {
  case PD_HTTP_AUTH:
    return "authentication failed; check the User API token is correct and "
           "not revoked, and that it is a User Token, not a REST API key";
  case PD_HTTP_PERMISSION:
    if (strcmp(method, "GET") == 0)
      return "access denied; the user's role or team access does not allow "
             "it";
    return "access denied; the user needs the Responder or Manager role";
  default:
    return NULL;
  }
}

/* The slot of a failure key, or NULL; with create, a free slot (or, when
 * all are taken, the last one, reused). Under failures_lock. */
static pd_failure_state_t *failure_slot(pd_account_t *acct, const char *key,
                                        bool create) {
  pd_failure_state_t *free_slot = NULL;
  for (size_t i = 0; i < PD_FAILURE_SLOTS; i++) {
    pd_failure_state_t *f = &acct->failures[i];
    if (strcmp(f->what, key) == 0 && f->what[0] != '\0')
      return f;
    if (f->what[0] == '\0' && free_slot == NULL)
      free_slot = f;
  }
  if (!create)
    return NULL;
  if (free_slot == NULL) {
    /* More failing request kinds than slots: forget the last one. */
    free_slot = &acct->failures[PD_FAILURE_SLOTS - 1];
  }
  snprintf(free_slot->what, sizeof(free_slot->what), "%s", key);
  free_slot->status = -1;
  free_slot->outcome = PD_HTTP_OK;
  return free_slot;
}

/* Failures of the connection or of the token concern every request. */
/* Held back by the rate limit after a 429, without being sent. */
static bool held_by_rate_limit(const pd_http_response_t *resp) {
  return !resp->sent && resp->retry_after_s >= 0;
}

static const char *failure_key(const char *what,
                               const pd_http_response_t *resp) {
  if (held_by_rate_limit(resp))
    return what;
  if (resp->outcome == PD_HTTP_AUTH || resp->status == 0)
    return "*";
  return what;
}

/* A request held back after a 429 is the same failure as that 429. */
static long failure_status(const pd_http_response_t *resp) {
  return held_by_rate_limit(resp) ? 429 : resp->status;
}

static void report_failure(pd_account_t *acct, const char *what,
                           const char *method, const pd_http_response_t *resp) {
  if (resp->cancelled)
    return; /* collectd is shutting down: nothing failed */
  pthread_mutex_lock(&acct->failures_lock);
  if (resp->outcome == PD_HTTP_AUTH)
    acct->auth_retry_at = pd_monotonic_now() + acct->cfg->slow_interval_s;
  pd_failure_state_t *f = failure_slot(acct, failure_key(what, resp), true);
  long status = failure_status(resp);
  bool same = f->outcome == resp->outcome && f->status == status;
  f->outcome = resp->outcome;
  f->status = status;
  if (!same)
    snprintf(f->cause, sizeof(f->cause), "%s", what);
  pd_identity_t identity = acct->identity;
  pthread_mutex_unlock(&acct->failures_lock);
  if (same)
    return; /* same failure as last time: already said */

  const char *advice = failure_advice(resp->outcome, method);
  if (advice == NULL) {
    PD_ACCOUNT_ERROR(acct->cfg->name, "%s failed: %s.", what, resp->message);
  } else if (resp->outcome == PD_HTTP_PERMISSION &&
             identity.kind == PD_IDENTITY_USER && strcmp(method, "GET") != 0) {
    PD_ACCOUNT_ERROR(acct->cfg->name, "%s: %s (%s; the user's role is \"%s\").",
                     what, advice, resp->message, identity.user.role);
  } else {
    PD_ACCOUNT_ERROR(acct->cfg->name, "%s: %s (%s).", what, advice,
                     resp->message);
  }
}

/* A request of this kind succeeded: clears its failure and the account's. */
static void report_success(pd_account_t *acct, const char *what) {
  bool account_recovered = false, what_recovered = false;
  pthread_mutex_lock(&acct->failures_lock);
  pd_failure_state_t *f = failure_slot(acct, "*", false);
  if (f != NULL && strcmp(f->cause, what) == 0) {
    f->what[0] = '\0';
    account_recovered = true;
  }
  f = failure_slot(acct, what, false);
  if (f != NULL) {
    f->what[0] = '\0';
    what_recovered = true;
  }
  pthread_mutex_unlock(&acct->failures_lock);
  if (account_recovered)
    PD_ACCOUNT_INFO(acct->cfg->name, "PagerDuty requests succeed again.");
  if (what_recovered)
    PD_ACCOUNT_INFO(acct->cfg->name, "%s succeeds again.", what);
}

int pd_account_request_quiet(pd_account_t *acct, const char *what,
                             const pd_http_request_t *req,
                             pd_http_response_t *resp, long quiet_status) {
  if (pd_http_perform(acct->http, req, resp) == 0) {
    report_success(acct, what);
    return 0;
  }
  if (quiet_status == 0 || resp->status != quiet_status)
    report_failure(acct, what, req->method != NULL ? req->method : "GET", resp);
  return -1;
}

int pd_account_request(pd_account_t *acct, const char *what,
                       const pd_http_request_t *req, pd_http_response_t *resp) {
  return pd_account_request_quiet(acct, what, req, resp, 0);
}

/* Feeds the parser and, when it refuses the data, tells the HTTP layer why
 * so the reason reaches the log line. */
static int feed_parser(void *parser, const unsigned char *data, size_t len) {
  if (pd_parser_feed(parser, data, len) == 0)
    return 0;
  pd_http_body_error("%s", pd_parser_error(parser));
  return -1;
}

int pd_account_fetch(pd_account_t *acct, const pd_fetch_t *f,
                     pd_parse_result_t *result, pd_http_response_t *resp) {
  pd_http_response_t local;
  if (resp == NULL)
    resp = &local;
  pd_parser_t *parser = NULL;
  int status = -1;
  for (int attempt = 0;; attempt++) {
    parser = pd_parser_create(f->kind, f->cb);
    if (parser == NULL) {
      *resp = (pd_http_response_t){.outcome = PD_HTTP_RETRY};
      snprintf(resp->message, sizeof(resp->message), "out of memory");
      PD_ACCOUNT_ERROR(acct->cfg->name, "%s: out of memory.", f->what);
      return -1;
    }
    pd_http_request_t req = {
        .method = "GET",
        .path = f->path,
        .on_body = feed_parser,
        .ctx = parser,
        .max_wait_s = request_max_wait(acct),
    };
    status = pd_http_perform(acct->http, &req, resp);
    /* A 429 delivered no body: the HTTP client now holds every request
     * back until ratelimit-reset / Retry-After, so asking again waits for
     * exactly that (or gives up at the cycle's deadline). */
    if (status != 0 && resp->status == 429 && attempt < PD_THROTTLE_RETRIES) {
      pd_parser_destroy(parser);
      continue;
    }
    break;
  }
  if (status == 0 && pd_parser_finish(parser) != 0) {
    /* A 2xx whose body ended early or was not the JSON we expect: as bad as
     * a failed request; say so once. */
    resp->outcome = PD_HTTP_PERMANENT;
    snprintf(resp->message, sizeof(resp->message), "malformed response: %s",
             pd_parser_error(parser));
    status = -1;
  }
  if (status == 0) {
    report_success(acct, f->what);
    if (result != NULL)
      *result = *pd_parser_result(parser);
  } else if ((f->quiet_status == 0 || resp->status != f->quiet_status) &&
             (!f->caller_reports ||
              strcmp(failure_key(f->what, resp), "*") == 0)) {
    report_failure(acct, f->what, "GET", resp);
  }
  pd_parser_destroy(parser);
  return status;
}

static int remember_user(void *ctx, const pd_user_t *user) {
  pd_identity_t *identity = ctx;
  identity->kind = PD_IDENTITY_USER;
  identity->user = *user;
  return 0;
}

/*
 * GET /users/me: tells a user token from an account-level key (which gets a
 * 400 there), and gives the role for the advice of doc/contract.md §7 and the
 * email the From header needs on writes.
 */
static void check_identity(pd_account_t *acct) {
  pd_identity_t identity = {.kind = PD_IDENTITY_UNKNOWN};
  pd_parse_callbacks_t cb = {.ctx = &identity, .on_user = remember_user};
  pd_fetch_t f = {.what = "GET /users/me",
                  .path = "/users/me",
                  .kind = PD_PARSE_USER_ME,
                  .cb = &cb,
                  .quiet_status = 400};
  pd_http_response_t resp;
  if (pd_account_fetch(acct, &f, NULL, &resp) == 0) {
    pthread_mutex_lock(&acct->failures_lock);
    acct->identity = identity;
    pthread_mutex_unlock(&acct->failures_lock);
    if (acct->cfg->from == NULL)
      pd_http_client_set_from(acct->http, identity.user.email);
    PD_ACCOUNT_INFO(acct->cfg->name, "connected as a user with role \"%s\".",
                    identity.user.role);
  } else if (resp.status == 400) {
    /* Only an account-level key is refused here with 400
     * (doc/pagerduty-api.md). */
    report_success(acct, f.what);
    pthread_mutex_lock(&acct->failures_lock);
    acct->identity.kind = PD_IDENTITY_ACCOUNT_KEY;
    pthread_mutex_unlock(&acct->failures_lock);
    PD_ACCOUNT_WARNING(acct->cfg->name,
                       "the token is an account-level REST API key, not a "
                       "User API token; use a User API token of a dedicated "
                       "PagerDuty user%s.",
                       acct->cfg->from == NULL
                           ? " (with this key, set From to act on incidents)"
                           : "");
  } else {
    acct->cycle_ok = false;
  }
}

static void refresh_token(pd_account_t *acct) {
  int changed = pd_token_refresh(&acct->token, acct->cfg->name);
  if (changed != 1)
    return; /* unchanged, or unreadable: the previous token stays in use */
  pd_http_client_set_token(acct->http, acct->token.value);
  /* A new token may belong to another user or fix a 401: ask again now,
   * and collect afresh what the old token's user could see. */
  pthread_mutex_lock(&acct->failures_lock);
  acct->identity.kind = PD_IDENTITY_UNKNOWN;
  acct->auth_retry_at = 0;
  pthread_mutex_unlock(&acct->failures_lock);
  pd_collect_invalidate(acct->collect);
  /* pd_token_refresh() has said that the file changed. */
}

/* The api-* self-metrics of doc/contract.md §4, from the HTTP client's
 * counters. */
static void dispatch_api_metrics(pd_account_t *acct,
                                 const pd_metric_sink_t *sink, double cycle_s) {
  pd_http_stats_t now;
  pd_http_client_stats(acct->http, &now);
  const pd_http_stats_t *then = &acct->stats_at_cycle_start;

  uint64_t cycle_requests = now.requests - then->requests;
  if (cycle_requests > 0)
    acct->last_latency_s =
        (now.latency_sum_s - then->latency_sum_s) / (double)cycle_requests;

  pd_metric_batch_t batch;
  pd_metric_batch_init(&batch, sink, acct->cfg->host, acct->cfg->name);
  pd_metric_derive(&batch, (int64_t)now.requests, "api-requests");
  pd_metric_derive(&batch, (int64_t)now.errors, "api-errors");
  pd_metric_derive(&batch, (int64_t)now.throttled, "api-throttled");
  pd_metric_gauge(&batch, "response_time", acct->last_latency_s, "api-latency");
  if (now.ratelimit_remaining >= 0)
    pd_metric_gauge(&batch, "gauge", (double)now.ratelimit_remaining,
                    "api-ratelimit_remaining");
  pd_metric_gauge(&batch, "gauge", acct->cycle_ok ? 1.0 : 0.0, "api-up");
  pd_metric_gauge(&batch, "duration", cycle_s, "api-cycle");
  pd_metric_derive(&batch,
                   (int64_t)pd_collect_resync_corrections(acct->collect),
                   "api-resync_corrections");
}

/* Collects, computes and dispatches the doc/contract.md §4 series (and
 * doc/contract.md §5 notifications) of one cycle. */
static void collect_and_dispatch(pd_account_t *acct,
                                 const pd_metric_sink_t *sink) {
  pd_snapshot_t snap;
  if (pd_collect_run(acct->collect, acct, time(NULL), &snap) != 0)
    acct->cycle_ok = false;

  pd_readings_t readings;
  if (pd_readings_compute(&snap, &readings) != 0) {
    PD_ACCOUNT_ERROR(acct->cfg->name, "out of memory computing the metrics.");
    acct->cycle_ok = false;
    return;
  }
  pd_metric_batch_t batch;
  pd_metric_batch_init(&batch, sink, acct->cfg->host, acct->cfg->name);
  pd_readings_emit(&readings, &batch);
  if (acct->alerts != NULL &&
      pd_alerts_update(acct->alerts, &readings, acct->cfg->host,
                       acct->cfg->name, acct->notifications) < 0)
    PD_ACCOUNT_ERROR(acct->cfg->name,
                     "out of memory comparing states for notifications.");
  pd_readings_free(&readings);
}

int pd_account_read(pd_account_t *acct, const pd_metric_sink_t *sink) {
  double started = pd_monotonic_now();
  acct->cycle_ok = true;
  acct->deadline = started + PD_CYCLE_BUDGET_SHARE * pd_account_interval(acct);
  pd_http_client_stats(acct->http, &acct->stats_at_cycle_start);

  refresh_token(acct);
  pthread_mutex_lock(&acct->failures_lock);
  bool auth_blocked = acct->auth_retry_at > started;
  pthread_mutex_unlock(&acct->failures_lock);
  if (auth_blocked) {
    /* The token was refused: ask again only every SlowInterval (doc/contract.md
     * §7), unless the token file changes first. */
    acct->cycle_ok = false;
  } else {
    if (acct->identity.kind == PD_IDENTITY_UNKNOWN)
      check_identity(acct);
    if (acct->identity.kind != PD_IDENTITY_UNKNOWN)
      collect_and_dispatch(acct, sink);
  }
  acct->deadline = 0;

  dispatch_api_metrics(acct, sink, pd_monotonic_now() - started);
  /* Failures are reported through api-up and the log; a non-zero return
   * would only make collectd back off this account's interval. */
  return 0;
}
