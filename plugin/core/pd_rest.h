/* SPDX-License-Identifier: MIT */
/*
 * pd_rest.h - one Account's authenticated REST endpoint.
 *
 * The REST client of an <Account>: its HTTP client (one request budget
 * shared by the read side and the REST notification senders), its
 * configuration, what GET /users/me said about its token (pd_identity
 * finds out), and the failure states that keep the log to one line per
 * change of state (doc/contract.md §7). The read side (pd_account) owns
 * it; the glue hands it to the Notify blocks that name the Account, so a
 * REST Notify block gets everything it needs from here, never from the
 * read side.
 */
#ifndef PD_REST_H
#define PD_REST_H

#include <stdbool.h>

#include "pd_config.h"
#include "pd_http.h"
#include "pd_parse.h"

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

typedef struct pd_rest_s pd_rest_t;

/* Creates the endpoint of cfg (borrowed: it must outlive the endpoint)
 * with its HTTP client, From set when cfg names one; no token yet
 * (pd_rest_set_token). Returns NULL after logging. */
pd_rest_t *pd_rest_create(const pd_account_config_t *cfg);
void pd_rest_destroy(pd_rest_t *rest);

/* The Account's configuration. */
const pd_account_config_t *pd_rest_config(const pd_rest_t *rest);

/* The HTTP client, for its counters (pd_http_client_stats) and for
 * cancelling it at shutdown. */
pd_http_client_t *pd_rest_http(pd_rest_t *rest);

/* Uses a new token: its identity is unknown again and a 401 of the old
 * one no longer holds requests back. */
void pd_rest_set_token(pd_rest_t *rest, const char *token);

/* The identity every user of the endpoint shares (what the read side
 * learnt), and setting it. Safe from any thread. */
pd_identity_t pd_rest_identity(pd_rest_t *rest);
void pd_rest_set_identity(pd_rest_t *rest, const pd_identity_t *identity);

/* true while a 401 of the current token holds requests back: until
 * SlowInterval after it (doc/contract.md §7), or a new token. */
bool pd_rest_auth_blocked(pd_rest_t *rest, double mono_now);

/* The read cycle's budget: fetches do not wait on the rate limit past
 * this monotonic time (0 = outside a read cycle: a short default). */
void pd_rest_set_deadline(pd_rest_t *rest, double deadline);

/*
 * Performs one REST request, with the Account's logging rules: failures
 * are logged once per change of state (doc/contract.md §7 wording for
 * 401/403), recoveries once. `what` names the request in log lines ("GET
 * /services", "POST /incidents"): keep it free of IDs, it is the key of the
 * failure state. An answer with HTTP status quiet_status (0 = none) is the
 * caller's to handle and not logged as a failure: the notification sender
 * expects some 400s and 404s (a duplicate open incident_key, an incident
 * already resolved). Safe from any thread. Returns 0 on PD_HTTP_OK.
 */
int pd_rest_request_quiet(pd_rest_t *rest, const char *what,
                          const pd_http_request_t *req,
                          pd_http_response_t *resp, long quiet_status);

/* A request of kind `what` counts as a success: clears its failure state
 * (and the Account's, when that one started with it), saying so once. For
 * an answer the caller handles itself (quiet_status) that means success. */
void pd_rest_report_success(pd_rest_t *rest, const char *what);

/* A pd_http_body_cb that feeds the pd_parser_t ctx and, when it refuses
 * the data, tells the HTTP layer why so the reason reaches the log line. */
int pd_rest_feed_parser(void *parser, const unsigned char *data, size_t len);

/* One GET whose body is parsed as it streams in (pd_rest_fetch). */
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
  /* How long the request may wait on the rate limit; 0 = the read
   * cycle's budget (pd_rest_set_deadline). */
  double max_wait_s;
  /* A 429 fails at once instead of being waited out and asked again: for
   * a caller with other work (the notification sender). */
  bool no_throttle_retry;
} pd_fetch_t;

/*
 * GET f->path and parse the body with the parser of f->kind, calling the
 * callbacks for each entity. A 429 is waited out and the request repeated
 * (a few times, within the cycle's deadline). Failures (HTTP, or a body
 * that is not what the kind expects) are logged per pd_rest_request_quiet;
 * entities already handed to the callbacks before a failure must be
 * discarded by the caller. result and resp (may be NULL) receive the
 * pagination fields and the HTTP outcome. Returns 0 on success.
 */
int pd_rest_fetch(pd_rest_t *rest, const pd_fetch_t *f,
                  pd_parse_result_t *result, pd_http_response_t *resp);

#endif /* PD_REST_H */
