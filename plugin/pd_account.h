/*
 * pd_account.h - one configured PagerDuty account at run time.
 *
 * An account owns its token (with rotation), its HTTP client (one request
 * budget shared by the read side and the REST notification sender), what it
 * learnt about its user from GET /users/me, and the failure state that keeps
 * the log to one line per change of state (SPEC 7). The read callback of the
 * account calls pd_account_read() once per Interval.
 */
#ifndef PD_ACCOUNT_H
#define PD_ACCOUNT_H

#include <stdbool.h>

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

typedef struct {
  const pd_account_config_t *cfg; /* borrowed: owned by the plugin config */
  pd_token_t token;
  pd_http_client_t *http;
  pd_identity_t identity;

  /* The last failure reported to the log, so a failure that repeats is
   * logged once and again only when it changes (or clears). */
  pd_http_outcome_t failure_outcome;
  long failure_status;
  bool failing;
  double auth_retry_at; /* monotonic time before which a 401 is not retried */

  pd_http_stats_t stats_at_cycle_start;
  double last_latency_s; /* mean of the last cycle that made requests */
  bool cycle_ok;
} pd_account_t;

/* Creates the run-time account (reads the token, sets up HTTP). Returns NULL
 * after logging. */
pd_account_t *pd_account_create(const pd_account_config_t *cfg);
void pd_account_destroy(pd_account_t *acct);

/* One read cycle: token rotation, identity check, collections, and the api-*
 * self-metrics. Returns 0 when the cycle fully succeeded. */
int pd_account_read(pd_account_t *acct, const pd_metric_sink_t *sink);

/*
 * Performs one REST request for the account, with the account's logging
 * rules: failures are logged once per change of state (SPEC 7 wording for
 * 401/403), recoveries once. `what` names the request in log lines
 * ("GET /services"). Returns 0 on PD_HTTP_OK.
 */
int pd_account_request(pd_account_t *acct, const char *what,
                       const pd_http_request_t *req, pd_http_response_t *resp);

/*
 * GET path (with its query) and parse the body as it streams in with the
 * parser of `kind`, calling cb for each entity. Failures (HTTP or a body
 * that is not what `kind` expects) are logged per pd_account_request and
 * mark the cycle failed. Entities already handed to cb before a failure
 * must be discarded by the caller. Returns 0 on success.
 */
int pd_account_fetch(pd_account_t *acct, const char *path,
                     pd_parse_kind_t kind, const pd_parse_callbacks_t *cb,
                     pd_parse_result_t *result);

/* Monotonic seconds, for intervals and the rate limiter. */
double pd_monotonic_now(void);

#endif /* PD_ACCOUNT_H */
