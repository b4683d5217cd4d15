/* SPDX-License-Identifier: MIT */
/*
 * pd_account.c - see pd_account.h.
 */
#include "pd_account.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pd_collect.h"
#include "pd_identity.h"
#include "pd_log.h"
#include "pd_readmetrics.h"
#include "pd_token.h"

/* Share of the read interval one cycle may spend, waits included, so a
 * cycle slowed by rate limits ends before the next one is due. */
#define PD_CYCLE_BUDGET_SHARE 0.9
/* The interval assumed before the glue says (collectd's default is 10 s;
 * the plugin's documented Interval default is 60). */
#define PD_DEFAULT_INTERVAL_S 60.0

struct pd_account_s {
  const pd_account_config_t *cfg; /* borrowed: owned by the plugin config */
  pd_token_t token;
  pd_rest_t *rest;   /* HTTP client, identity, failure log */
  double interval_s; /* the read interval in effect (set by the glue) */

  pd_http_stats_t stats_at_cycle_start;
  double last_latency_s; /* mean of the last cycle that made requests */
  bool cycle_ok;

  pd_collect_t *collect;
  pd_alerts_t *alerts; /* NULL unless Notifications true */
  const pd_notification_sink_t *notifications; /* borrowed; NULL = none */
};

pd_account_t *pd_account_create(const pd_account_config_t *cfg) {
  pd_account_t *acct = calloc(1, sizeof(*acct));
  if (acct == NULL) {
    PD_ACCOUNT_ERROR(cfg->name, "out of memory");
    return NULL;
  }
  acct->cfg = cfg;
  if (pd_token_init(&acct->token, cfg) != 0) {
    free(acct);
    return NULL;
  }

  acct->rest = pd_rest_create(cfg);
  acct->collect = pd_collect_create(cfg);
  if (cfg->notifications)
    acct->alerts = pd_alerts_create();
  if (acct->rest == NULL || acct->collect == NULL ||
      (cfg->notifications && acct->alerts == NULL)) {
    if (acct->rest != NULL)
      PD_ACCOUNT_ERROR(cfg->name, "out of memory");
    pd_account_destroy(acct);
    return NULL;
  }
  pd_rest_set_token(acct->rest, acct->token.value);
  return acct;
}

void pd_account_destroy(pd_account_t *acct) {
  if (acct == NULL)
    return;
  pd_alerts_destroy(acct->alerts);
  pd_collect_destroy(acct->collect);
  pd_rest_destroy(acct->rest);
  pd_token_free(&acct->token);
  free(acct);
}

const pd_account_config_t *pd_account_config(const pd_account_t *acct) {
  return acct->cfg;
}

pd_rest_t *pd_account_rest(pd_account_t *acct) { return acct->rest; }

void pd_account_set_interval(pd_account_t *acct, double interval_s) {
  acct->interval_s = interval_s;
}

void pd_account_set_notification_sink(pd_account_t *acct,
                                      const pd_notification_sink_t *sink) {
  acct->notifications = sink;
}

/* The interval in effect: what pd_account_set_interval() said, else
 * cfg->interval_s, else 60 s. */
static double account_interval(const pd_account_t *acct) {
  if (acct->interval_s > 0)
    return acct->interval_s;
  if (acct->cfg->interval_s > 0)
    return acct->cfg->interval_s;
  return PD_DEFAULT_INTERVAL_S;
}

/*
 * GET /users/me: tells a user token from an account-level key (which gets a
 * 400 there), and gives the role for the advice of doc/contract.md §7 and the
 * email the From header needs on writes (pd_identity). What it learns is
 * shared with the Notify blocks through the REST endpoint.
 */
static void check_identity(pd_account_t *acct) {
  pd_identity_t identity;
  pd_http_response_t resp;
  switch (pd_identity_check(acct->rest, 0, false, &identity, &resp)) {
  case PD_IDENTITY_USER:
    pd_rest_set_identity(acct->rest, &identity);
    PD_ACCOUNT_INFO(acct->cfg->name, "connected as a user with role \"%s\".",
                    identity.user.role);
    break;
  case PD_IDENTITY_ACCOUNT_KEY:
    pd_rest_set_identity(acct->rest, &identity);
    PD_ACCOUNT_WARNING(acct->cfg->name,
                       "the token is an account-level REST API key, not a "
                       "User API token; use a User API token of a dedicated "
                       "PagerDuty user%s.",
                       acct->cfg->from == NULL
                           ? " (with this key, set From to act on incidents)"
                           : "");
    break;
  default:
    acct->cycle_ok = false;
    break;
  }
}

static void refresh_token(pd_account_t *acct) {
  int changed = pd_token_refresh(&acct->token, acct->cfg->name);
  if (changed != 1)
    return; /* unchanged, or unreadable: the previous token stays in use */
  /* A new token may belong to another user or fix a 401: the endpoint asks
   * again now; collect afresh what the old token's user could see. */
  pd_rest_set_token(acct->rest, acct->token.value);
  pd_collect_invalidate(acct->collect);
  /* pd_token_refresh() has said that the file changed. */
}

/* The api-* self-metrics of doc/contract.md §4, from the HTTP client's
 * counters. */
static void dispatch_api_metrics(pd_account_t *acct,
                                 const pd_metric_sink_t *sink, double cycle_s) {
  pd_http_stats_t now;
  pd_http_client_stats(pd_rest_http(acct->rest), &now);
  const pd_http_stats_t *then = &acct->stats_at_cycle_start;

  uint64_t cycle_requests = now.requests - then->requests;
  if (cycle_requests > 0)
    acct->last_latency_s =
        (now.latency_sum_s - then->latency_sum_s) / (double)cycle_requests;

  pd_api_reading_t api = {
      .http = now,
      .latency_s = acct->last_latency_s,
      .up = acct->cycle_ok,
      .cycle_s = cycle_s,
      .resync_corrections = pd_collect_resync_corrections(acct->collect),
  };
  pd_metric_batch_t batch;
  pd_metric_batch_init(&batch, sink, acct->cfg->host, acct->cfg->name);
  pd_api_reading_emit(&api, &batch);
}

/* Collects, computes and dispatches the doc/contract.md §4 series (and
 * doc/contract.md §5 notifications) of one cycle. */
static void collect_and_dispatch(pd_account_t *acct,
                                 const pd_metric_sink_t *sink) {
  pd_snapshot_t snap;
  if (pd_collect_run(acct->collect, acct->rest, account_interval(acct),
                     time(NULL), &snap) != 0)
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
  pd_rest_set_deadline(acct->rest, started + PD_CYCLE_BUDGET_SHARE *
                                                 account_interval(acct));
  pd_http_client_stats(pd_rest_http(acct->rest), &acct->stats_at_cycle_start);

  refresh_token(acct);
  if (pd_rest_auth_blocked(acct->rest, started)) {
    /* The token was refused: ask again only every SlowInterval (doc/contract.md
     * §7), unless the token file changes first. */
    acct->cycle_ok = false;
  } else {
    if (pd_rest_identity(acct->rest).kind == PD_IDENTITY_UNKNOWN)
      check_identity(acct);
    if (pd_rest_identity(acct->rest).kind != PD_IDENTITY_UNKNOWN)
      collect_and_dispatch(acct, sink);
  }
  pd_rest_set_deadline(acct->rest, 0);

  dispatch_api_metrics(acct, sink, pd_monotonic_now() - started);
  /* Failures are reported through api-up and the log; a non-zero return
   * would only make collectd back off this account's interval. */
  return 0;
}
