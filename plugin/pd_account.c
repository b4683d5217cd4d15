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
                     acct->identity.role);
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
