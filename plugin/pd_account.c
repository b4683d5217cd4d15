/*
 * pd_account.c - see pd_account.h.
 */
#include "pd_account.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pd_log.h"
#include "pd_parse.h"

/* How long before the first identity check gives up waiting on the rate
 * limit: a read cycle must not stall the read thread for long. */
#define PD_READ_MAX_WAIT_S 5.0

double pd_monotonic_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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

  char log_name[256];
  snprintf(log_name, sizeof(log_name), "account \"%s\"", cfg->name);
  pd_http_options_t opts = {
      .base_url = cfg->url,
      .log_name = log_name,
      .transport = cfg->transport,
      .max_requests_per_minute = cfg->max_requests_per_minute,
  };
  acct->http = pd_http_client_create(&opts);
  if (acct->http == NULL) {
    pd_token_free(&acct->token);
    free(acct);
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
  pd_http_client_destroy(acct->http);
  pd_token_free(&acct->token);
  free(acct);
}

/* The advice SPEC 7 gives for each kind of failure. */
static const char *failure_advice(pd_http_outcome_t outcome, const char *method,
                                  const pd_identity_t *identity) {
  switch (outcome) {
  case PD_HTTP_AUTH:
    return "authentication failed; check the User API token is correct and "
           "not revoked, and that it is a User Token, not a REST API key";
  case PD_HTTP_PERMISSION:
    if (strcmp(method, "GET") == 0)
      return "the user's role or team access does not allow it";
    return identity->kind == PD_IDENTITY_USER
               ? "the user needs the Responder or Manager role"
               : "the token needs the Responder or Manager role";
  default:
    return NULL;
  }
}

static void report_failure(pd_account_t *acct, const char *what,
                           const pd_http_request_t *req,
                           const pd_http_response_t *resp) {
  if (acct->failing && acct->failure_outcome == resp->outcome &&
      acct->failure_status == resp->status)
    return; /* same failure as last time: already said */
  acct->failing = true;
  acct->failure_outcome = resp->outcome;
  acct->failure_status = resp->status;

  const char *advice = failure_advice(resp->outcome, req->method,
                                      &acct->identity);
  if (advice == NULL) {
    PD_ACCOUNT_ERROR(acct->cfg->name, "%s failed: %s.", what, resp->message);
  } else if (resp->outcome == PD_HTTP_PERMISSION &&
             acct->identity.kind == PD_IDENTITY_USER &&
             strcmp(req->method, "GET") != 0) {
    PD_ACCOUNT_ERROR(acct->cfg->name, "%s: %s (%s); %s (the user's role is "
                     "\"%s\").", what, "access denied", resp->message, advice,
                     acct->identity.user.role);
  } else {
    PD_ACCOUNT_ERROR(acct->cfg->name, "%s: %s; %s.", what, resp->message,
                     advice);
  }
}

static void report_recovery(pd_account_t *acct) {
  if (!acct->failing)
    return;
  acct->failing = false;
  PD_ACCOUNT_INFO(acct->cfg->name, "PagerDuty requests succeed again.");
}

int pd_account_request(pd_account_t *acct, const char *what,
                       const pd_http_request_t *req, pd_http_response_t *resp) {
  if (pd_http_perform(acct->http, req, resp) == 0) {
    report_recovery(acct);
    return 0;
  }
  acct->cycle_ok = false;
  if (resp->outcome == PD_HTTP_AUTH)
    acct->auth_retry_at = pd_monotonic_now() + acct->cfg->slow_interval_s;
  report_failure(acct, what, req, resp);
  return -1;
}

/* Feeds the parser and, when it refuses the data, tells the HTTP layer why
 * so the reason reaches the log line. */
static int feed_parser(void *parser, const unsigned char *data, size_t len) {
  if (pd_parser_feed(parser, data, len) == 0)
    return 0;
  pd_http_body_error("%s", pd_parser_error(parser));
  return -1;
}

int pd_account_fetch(pd_account_t *acct, const char *path,
                     pd_parse_kind_t kind, const pd_parse_callbacks_t *cb,
                     pd_parse_result_t *result) {
  char what[128];
  size_t path_len = strcspn(path, "?");
  snprintf(what, sizeof(what), "GET %.*s", (int)(path_len < 100 ? path_len : 100),
           path);

  pd_parser_t *parser = pd_parser_create(kind, cb);
  if (parser == NULL) {
    PD_ACCOUNT_ERROR(acct->cfg->name, "%s: out of memory.", what);
    acct->cycle_ok = false;
    return -1;
  }
  pd_http_request_t req = {
      .method = "GET",
      .path = path,
      .on_body = feed_parser,
      .ctx = parser,
      .max_wait_s = PD_READ_MAX_WAIT_S,
  };
  pd_http_response_t resp;
  int status = pd_account_request(acct, what, &req, &resp);
  if (status == 0 && pd_parser_finish(parser) != 0) {
    /* A 2xx whose body ended early or was not the JSON we expect: as bad as
     * a failed request; count it as one and say so once. */
    resp.outcome = PD_HTTP_PERMANENT;
    snprintf(resp.message, sizeof(resp.message), "malformed response: %s",
             pd_parser_error(parser));
    acct->cycle_ok = false;
    report_failure(acct, what, &req, &resp);
    status = -1;
  }
  if (status == 0 && result != NULL)
    *result = *pd_parser_result(parser);
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
 * 400 there), and gives the role for SPEC 7's advice and the email the From
 * header needs on writes.
 */
static void check_identity(pd_account_t *acct) {
  pd_identity_t identity = {.kind = PD_IDENTITY_UNKNOWN};
  pd_parse_callbacks_t cb = {.ctx = &identity, .on_user = remember_user};
  pd_parser_t *parser = pd_parser_create(PD_PARSE_USER_ME, &cb);
  if (parser == NULL)
    return;
  pd_http_request_t req = {
      .method = "GET",
      .path = "/users/me",
      .on_body = feed_parser,
      .ctx = parser,
      .max_wait_s = PD_READ_MAX_WAIT_S,
  };
  pd_http_response_t resp;
  if (pd_http_perform(acct->http, &req, &resp) == 0) {
    if (pd_parser_finish(parser) == 0 && identity.kind == PD_IDENTITY_USER) {
      report_recovery(acct);
      acct->identity = identity;
      if (acct->cfg->from == NULL)
        pd_http_client_set_from(acct->http, identity.user.email);
      PD_ACCOUNT_INFO(acct->cfg->name, "connected as a user with role \"%s\".",
                      identity.user.role);
    } else {
      resp.outcome = PD_HTTP_PERMANENT;
      snprintf(resp.message, sizeof(resp.message), "malformed response: %s",
               pd_parser_error(parser));
      acct->cycle_ok = false;
      report_failure(acct, "GET /users/me", &req, &resp);
    }
  } else if (resp.status == 400) {
    /* Only an account-level key is refused here with 400 (API-NOTES). */
    report_recovery(acct);
    acct->identity.kind = PD_IDENTITY_ACCOUNT_KEY;
    PD_ACCOUNT_WARNING(acct->cfg->name,
                       "the token is an account-level REST API key, not a "
                       "User API token; use a User API token of a dedicated "
                       "PagerDuty user%s.",
                       acct->cfg->from == NULL
                           ? " (with this key, set From to act on incidents)"
                           : "");
  } else {
    acct->cycle_ok = false;
    if (resp.outcome == PD_HTTP_AUTH)
      acct->auth_retry_at = pd_monotonic_now() + acct->cfg->slow_interval_s;
    report_failure(acct, "GET /users/me", &req, &resp);
  }
  pd_parser_destroy(parser);
}

static void refresh_token(pd_account_t *acct) {
  int changed = pd_token_refresh(&acct->token, acct->cfg->name);
  if (changed != 1)
    return; /* unchanged, or unreadable: the previous token stays in use */
  pd_http_client_set_token(acct->http, acct->token.value);
  /* A new token may belong to another user or fix a 401: ask again now. */
  acct->identity.kind = PD_IDENTITY_UNKNOWN;
  acct->auth_retry_at = 0;
  PD_ACCOUNT_INFO(acct->cfg->name, "the token file changed; using the new "
                  "token.");
}

/* The api-* self-metrics of SPEC 4, from the HTTP client's counters. */
static void dispatch_api_metrics(pd_account_t *acct,
                                 const pd_metric_sink_t *sink,
                                 double cycle_s) {
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
  pd_metric_gauge(&batch, "response_time", acct->last_latency_s,
                  "api-latency");
  if (now.ratelimit_remaining >= 0)
    pd_metric_gauge(&batch, "gauge", (double)now.ratelimit_remaining,
                    "api-ratelimit_remaining");
  pd_metric_gauge(&batch, "gauge", acct->cycle_ok ? 1.0 : 0.0, "api-up");
  pd_metric_gauge(&batch, "duration", cycle_s, "api-cycle");
}

int pd_account_read(pd_account_t *acct, const pd_metric_sink_t *sink) {
  double started = pd_monotonic_now();
  acct->cycle_ok = true;
  pd_http_client_stats(acct->http, &acct->stats_at_cycle_start);

  refresh_token(acct);
  if (acct->auth_retry_at > started) {
    /* The token was refused: ask again only every SlowInterval (SPEC 7),
     * unless the token file changes first. */
    acct->cycle_ok = false;
  } else {
    if (acct->identity.kind == PD_IDENTITY_UNKNOWN)
      check_identity(acct);
    /* The collections of the read side run here (issue 3). */
  }

  dispatch_api_metrics(acct, sink, pd_monotonic_now() - started);
  /* Failures are reported through api-up and the log; a non-zero return
   * would only make collectd back off this account's interval. */
  return 0;
}
