/* SPDX-License-Identifier: MIT */
/*
 * pd_account.h - one configured PagerDuty account at run time.
 *
 * An account owns its token (with rotation), its HTTP client (one request
 * budget shared by the read side and the REST notification sender), what it
 * learnt about its user from GET /users/me, and the failure states that
 * keep the log to one line per change of state (doc/contract.md §7). The read
 * callback of the account calls pd_account_read() once per Interval; the
 * collections (pd_collect), the metrics computed from them
 * (pd_readmetrics) and the doc/contract.md §5 notifications (pd_alerts) run
 * from there.
 */
#ifndef PD_ACCOUNT_H
#define PD_ACCOUNT_H

#include <pthread.h>
#include <stdbool.h>

#include "pd_alerts.h"
#include "pd_config.h"
#include "pd_http.h"
#include "pd_metrics.h"
#include "pd_parse.h"
#include "pd_token.h"

/* What GET /users/me said about the token. */
typedef enum {
  PD_IDENTITY_UNKNOWN = 0, /* not asked yet, or the last attempt failed */
  PD_IDENTITY_USER,        /* a User API token: role and email known */
  PD_IDENTITY_ACCOUNT_KEY, /* an account-level key (400 on /users/me) */
} pd_identity_kind_t;

typedef struct {
  pd_identity_kind_t kind;
  pd_user_t user; /* id, email and role when kind == PD_IDENTITY_USER */
} pd_identity_t;

/*
 * A failure being reported, so it is logged when it starts or changes and
 * once more when it clears. Failures of the connection or of the token
 * (no HTTP answer, 401) are the account's; the others are per request
 * kind ("GET /oncalls"), so a 403 on one endpoint neither floods the log
 * nor hides another endpoint's failure.
 */
typedef struct {
  char what[48]; /* "" for a free slot; "*" for the account-wide one */
  /* For "*": the request kind that failed. Only its success clears the
   * slot: when a fault hits one endpoint, other endpoints answering must
   * not make the same failure be logged again every cycle. */
  char cause[48];
  pd_http_outcome_t outcome;
  long status;
} pd_failure_state_t;

#define PD_FAILURE_SLOTS 16

typedef struct pd_collect_s pd_collect_t;

typedef struct pd_account_s {
  const pd_account_config_t *cfg; /* borrowed: owned by the plugin config */
  pd_token_t token;
  pd_http_client_t *http;
  pd_identity_t identity;

  /* The read thread and a REST notification sender may both report. */
  pthread_mutex_t failures_lock;
  pd_failure_state_t failures[PD_FAILURE_SLOTS];
  double auth_retry_at; /* monotonic time before which a 401 is not retried */

  /* The read cycle's budget: requests do not wait on the rate limit past
   * this monotonic time (0 = outside a read cycle: a short default). */
  double deadline;
  double interval_s; /* the read interval in effect (set by the glue) */

  pd_http_stats_t stats_at_cycle_start;
  double last_latency_s; /* mean of the last cycle that made requests */
  bool cycle_ok;

  pd_collect_t *collect;
  pd_alerts_t *alerts; /* NULL unless Notifications true */
  const pd_notification_sink_t *notifications; /* borrowed; NULL = none */
} pd_account_t;

/* Creates the run-time account (reads the token, sets up HTTP). Returns NULL
 * after logging. */
pd_account_t *pd_account_create(const pd_account_config_t *cfg);
void pd_account_destroy(pd_account_t *acct);

/* The read interval collectd runs this account at (cfg->interval_s when
 * set, else the plugin's or global one): it bounds how long one cycle may
 * wait on rate limits. Before it is set, cfg->interval_s or 60 s. */
void pd_account_set_interval(pd_account_t *acct, double interval_s);

/* The interval in effect: what pd_account_set_interval() said, else
 * cfg->interval_s, else 60 s. */
double pd_account_interval(const pd_account_t *acct);

/* Where doc/contract.md §5 notifications go (borrowed; NULL = nowhere). Only
 * used when the account has Notifications true. */
void pd_account_set_notification_sink(pd_account_t *acct,
                                      const pd_notification_sink_t *sink);

/* One read cycle: token rotation, identity check, collections, the
 * doc/contract.md §4 series, doc/contract.md §5 notifications and the api-*
 * self-metrics. Returns 0 (a failed cycle shows as api-up 0 and in the log; a
 * non-zero return would only make collectd back off the interval). */
int pd_account_read(pd_account_t *acct, const pd_metric_sink_t *sink);

/*
 * Performs one REST request for the account, with the account's logging
 * rules: failures are logged once per change of state (doc/contract.md §7
 * wording for 401/403), recoveries once. `what` names the request in log lines
 * ("GET /services", "POST /incidents"): keep it free of IDs, it is the
 * key of the failure state. Safe from any thread. Returns 0 on
 * PD_HTTP_OK.
 */
int pd_account_request(pd_account_t *acct, const char *what,
                       const pd_http_request_t *req, pd_http_response_t *resp);

/* pd_account_request(), except that an answer with HTTP status
 * quiet_status (0 = none) is the caller's to handle and not logged as a
 * failure: the notification sender expects some 400s and 404s (a
 * duplicate open incident_key, an incident already resolved). */
int pd_account_request_quiet(pd_account_t *acct, const char *what,
                             const pd_http_request_t *req,
                             pd_http_response_t *resp, long quiet_status);

/* One GET whose body is parsed as it streams in (pd_account_fetch). */
typedef struct {
  const char *what; /* for log lines and failure state: "GET /incidents" */
  const char *path; /* path and query */
  pd_parse_kind_t kind;
  const pd_parse_callbacks_t *cb;
  /* A non-2xx status the caller handles itself (e.g. 402 on GET /teams):
   * not logged as a failure. 0 = none. */
  long quiet_status;
  /* Failures PagerDuty answered (not those of the connection or the token,
   * which concern the whole account) are the caller's to log: per-schedule
   * detail requests log each schedule's change of state themselves. */
  bool caller_reports;
} pd_fetch_t;

/*
 * GET f->path and parse the body with the parser of f->kind, calling the
 * callbacks for each entity. A 429 is waited out and the request repeated
 * (a few times, within the cycle's deadline). Failures (HTTP, or a body
 * that is not what the kind expects) are logged per pd_account_request;
 * entities already handed to the callbacks before a failure must be
 * discarded by the caller. result and resp (may be NULL) receive the
 * pagination fields and the HTTP outcome. Does not touch cycle_ok: the
 * caller decides what a failure means. Returns 0 on success.
 */
int pd_account_fetch(pd_account_t *acct, const pd_fetch_t *f,
                     pd_parse_result_t *result, pd_http_response_t *resp);

#endif /* PD_ACCOUNT_H */
