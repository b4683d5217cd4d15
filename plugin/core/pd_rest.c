/* SPDX-License-Identifier: MIT */
/*
 * pd_rest.c - see pd_rest.h.
 */
#include "pd_rest.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_log.h"

/* How long a request outside a read cycle waits on the rate limit. */
#define PD_READ_MAX_WAIT_S 5.0
/* How often one GET answered 429 is repeated after waiting
 * ratelimit-reset / Retry-After, within the cycle's budget. */
#define PD_THROTTLE_RETRIES 3

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

struct pd_rest_s {
  const pd_account_config_t *cfg; /* borrowed: owned by the plugin config */
  pd_http_client_t *http;

  /* The read thread and REST notification senders may all report. */
  pthread_mutex_t failures_lock;
  pd_failure_state_t failures[PD_FAILURE_SLOTS];
  double auth_retry_at; /* monotonic time before which a 401 is not retried */
  pd_identity_t identity;

  /* Written and read by the read thread only. */
  double deadline;
};

pd_rest_t *pd_rest_create(const pd_account_config_t *cfg) {
  pd_rest_t *rest = calloc(1, sizeof(*rest));
  if (rest == NULL) {
    PD_ACCOUNT_ERROR(cfg->name, "out of memory");
    return NULL;
  }
  rest->cfg = cfg;
  char log_name[256];
  snprintf(log_name, sizeof(log_name), "account \"%s\"", cfg->name);
  pd_http_options_t opts = {
      .base_url = cfg->url,
      .log_name = log_name,
      .transport = cfg->transport,
      .max_requests_per_minute = cfg->max_requests_per_minute,
  };
  rest->http = pd_http_client_create(&opts);
  if (rest->http == NULL) {
    free(rest);
    return NULL;
  }
  pthread_mutex_init(&rest->failures_lock, NULL);
  if (cfg->from != NULL)
    pd_http_client_set_from(rest->http, cfg->from);
  return rest;
}

void pd_rest_destroy(pd_rest_t *rest) {
  if (rest == NULL)
    return;
  pd_http_client_destroy(rest->http);
  pthread_mutex_destroy(&rest->failures_lock);
  free(rest);
}

const pd_account_config_t *pd_rest_config(const pd_rest_t *rest) {
  return rest->cfg;
}

pd_http_client_t *pd_rest_http(pd_rest_t *rest) { return rest->http; }

void pd_rest_set_token(pd_rest_t *rest, const char *token) {
  pd_http_client_set_token(rest->http, token);
  /* A new token may belong to another user or fix a 401: ask again. */
  pthread_mutex_lock(&rest->failures_lock);
  rest->identity.kind = PD_IDENTITY_UNKNOWN;
  rest->auth_retry_at = 0;
  pthread_mutex_unlock(&rest->failures_lock);
}

pd_identity_t pd_rest_identity(pd_rest_t *rest) {
  pthread_mutex_lock(&rest->failures_lock);
  pd_identity_t identity = rest->identity;
  pthread_mutex_unlock(&rest->failures_lock);
  return identity;
}

void pd_rest_set_identity(pd_rest_t *rest, const pd_identity_t *identity) {
  pthread_mutex_lock(&rest->failures_lock);
  rest->identity = *identity;
  pthread_mutex_unlock(&rest->failures_lock);
}

bool pd_rest_auth_blocked(pd_rest_t *rest, double mono_now) {
  pthread_mutex_lock(&rest->failures_lock);
  bool blocked = rest->auth_retry_at > mono_now;
  pthread_mutex_unlock(&rest->failures_lock);
  return blocked;
}

void pd_rest_set_deadline(pd_rest_t *rest, double deadline) {
  rest->deadline = deadline;
}

/* How long the next request may wait on the rate limit. */
static double request_max_wait(const pd_rest_t *rest) {
  if (rest->deadline <= 0)
    return PD_READ_MAX_WAIT_S;
  double left = rest->deadline - pd_monotonic_now();
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
static pd_failure_state_t *failure_slot(pd_rest_t *rest, const char *key,
                                        bool create) {
  pd_failure_state_t *free_slot = NULL;
  for (size_t i = 0; i < PD_FAILURE_SLOTS; i++) {
    pd_failure_state_t *f = &rest->failures[i];
    if (strcmp(f->what, key) == 0 && f->what[0] != '\0')
      return f;
    if (f->what[0] == '\0' && free_slot == NULL)
      free_slot = f;
  }
  if (!create)
    return NULL;
  if (free_slot == NULL) {
    /* More failing request kinds than slots: forget the last one. */
    free_slot = &rest->failures[PD_FAILURE_SLOTS - 1];
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

static void report_failure(pd_rest_t *rest, const char *what,
                           const char *method, const pd_http_response_t *resp) {
  if (resp->cancelled)
    return; /* collectd is shutting down: nothing failed */
  pthread_mutex_lock(&rest->failures_lock);
  if (resp->outcome == PD_HTTP_AUTH)
    rest->auth_retry_at = pd_monotonic_now() + rest->cfg->slow_interval_s;
  pd_failure_state_t *f = failure_slot(rest, failure_key(what, resp), true);
  long status = failure_status(resp);
  bool same = f->outcome == resp->outcome && f->status == status;
  f->outcome = resp->outcome;
  f->status = status;
  if (!same)
    snprintf(f->cause, sizeof(f->cause), "%s", what);
  pd_identity_t identity = rest->identity;
  pthread_mutex_unlock(&rest->failures_lock);
  if (same)
    return; /* same failure as last time: already said */

  const char *advice = failure_advice(resp->outcome, method);
  if (advice == NULL) {
    PD_ACCOUNT_ERROR(rest->cfg->name, "%s failed: %s.", what, resp->message);
  } else if (resp->outcome == PD_HTTP_PERMISSION &&
             identity.kind == PD_IDENTITY_USER && strcmp(method, "GET") != 0) {
    PD_ACCOUNT_ERROR(rest->cfg->name, "%s: %s (%s; the user's role is \"%s\").",
                     what, advice, resp->message, identity.user.role);
  } else {
    PD_ACCOUNT_ERROR(rest->cfg->name, "%s: %s (%s).", what, advice,
                     resp->message);
  }
}

void pd_rest_report_success(pd_rest_t *rest, const char *what) {
  bool account_recovered = false, what_recovered = false;
  pthread_mutex_lock(&rest->failures_lock);
  pd_failure_state_t *f = failure_slot(rest, "*", false);
  if (f != NULL && strcmp(f->cause, what) == 0) {
    f->what[0] = '\0';
    account_recovered = true;
  }
  f = failure_slot(rest, what, false);
  if (f != NULL) {
    f->what[0] = '\0';
    what_recovered = true;
  }
  pthread_mutex_unlock(&rest->failures_lock);
  if (account_recovered)
    PD_ACCOUNT_INFO(rest->cfg->name, "PagerDuty requests succeed again.");
  if (what_recovered)
    PD_ACCOUNT_INFO(rest->cfg->name, "%s succeeds again.", what);
}

int pd_rest_request_quiet(pd_rest_t *rest, const char *what,
                          const pd_http_request_t *req,
                          pd_http_response_t *resp, long quiet_status) {
  if (pd_http_perform(rest->http, req, resp) == 0) {
    pd_rest_report_success(rest, what);
    return 0;
  }
  if (quiet_status == 0 || resp->status != quiet_status)
    report_failure(rest, what, req->method != NULL ? req->method : "GET", resp);
  return -1;
}

int pd_rest_feed_parser(void *parser, const unsigned char *data, size_t len) {
  if (pd_parser_feed(parser, data, len) == 0)
    return 0;
  pd_http_body_error("%s", pd_parser_error(parser));
  return -1;
}

int pd_rest_fetch(pd_rest_t *rest, const pd_fetch_t *f,
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
      PD_ACCOUNT_ERROR(rest->cfg->name, "%s: out of memory.", f->what);
      return -1;
    }
    pd_http_request_t req = {
        .method = "GET",
        .path = f->path,
        .on_body = pd_rest_feed_parser,
        .ctx = parser,
        .max_wait_s =
            f->max_wait_s > 0 ? f->max_wait_s : request_max_wait(rest),
    };
    status = pd_http_perform(rest->http, &req, resp);
    /* A 429 delivered no body: the HTTP client now holds every request
     * back until ratelimit-reset / Retry-After, so asking again waits for
     * exactly that (or gives up at the cycle's deadline). */
    if (status != 0 && resp->status == 429 && !f->no_throttle_retry &&
        attempt < PD_THROTTLE_RETRIES) {
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
    pd_rest_report_success(rest, f->what);
    if (result != NULL)
      *result = *pd_parser_result(parser);
  } else if ((f->quiet_status == 0 || resp->status != f->quiet_status) &&
             (!f->caller_reports ||
              strcmp(failure_key(f->what, resp), "*") == 0)) {
    report_failure(rest, f->what, "GET", resp);
  }
  pd_parser_destroy(parser);
  return status;
}
