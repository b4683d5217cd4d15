/* SPDX-License-Identifier: MIT */
/*
 * pd_http.h - the one place that talks HTTP to PagerDuty.
 *
 * A pd_http_client_t wraps one libcurl easy handle (connections are reused)
 * for one account's REST API or one Notify block's Events API. It sets the
 * headers PagerDuty wants (Authorization only when a token is set, Accept,
 * Content-Type, From on writes), applies Timeout / TLS / Proxy options,
 * caps response sizes, reads the ratelimit-* and Retry-After headers, keeps
 * the account's request ceiling (pd_ratelimit) and counts what happened for
 * the api-* metrics, and classifies every outcome.
 *
 * Requests on one client are serialised by the client's own mutex, as
 * PagerDuty asks for serial requests per token; the read callback and the
 * notification sender may share a client from different threads.
 *
 * 2xx response bodies are streamed to the caller's callback as they arrive
 * (so a yajl parser sees them chunk by chunk); error bodies are collected up
 * to a small cap and explained through pd_error_parse().
 */
#ifndef PD_HTTP_H
#define PD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pd_config.h"
/* pd_monotonic_now(), the clock callers time requests and deadlines with.
 * It lived here before pd_util.h; modules that still reach it through this
 * header keep building. */
#include "pd_util.h"

typedef enum {
  PD_HTTP_OK = 0,     /* 2xx, body delivered in full */
  PD_HTTP_RETRY,      /* try again later: 408, 429, 5xx, timeout, connection
                         failure or reset, truncated body, local ceiling
                         reached, cancelled */
  PD_HTTP_PERMANENT,  /* will not succeed as sent: other 4xx and 3xx, TLS
                         verification failure, malformed URL, body callback
                         refused the data (malformed JSON), 2xx body larger
                         than max_response_bytes (the same request would
                         only be cut again: the cap is misconfigured) */
  PD_HTTP_AUTH,       /* 401: bad, revoked or wrong kind of token */
  PD_HTTP_PERMISSION, /* 403: role or team access does not allow it */
} pd_http_outcome_t;

/* Exported for tests only. */
const char *pd_http_outcome_name(pd_http_outcome_t outcome);

typedef struct {
  const char *base_url;            /* e.g. https://api.pagerduty.com; copied */
  const char *log_name;            /* "account \"acme\"" or "notify \"web\"";
                                      copied; used in log lines */
  pd_transport_config_t transport; /* copied */
  size_t max_response_bytes;       /* 0 = default 64 MiB */
  int max_requests_per_minute;     /* 0 = no own ceiling */
} pd_http_options_t;

typedef struct pd_http_client_s pd_http_client_t;

/* Returns NULL after logging when libcurl cannot be set up. */
pd_http_client_t *pd_http_client_create(const pd_http_options_t *opts);
void pd_http_client_destroy(pd_http_client_t *client);

/* Token for the Authorization header (copied; NULL = send none, as for the
 * Events API). Thread-safe; takes effect on the next request. */
void pd_http_client_set_token(pd_http_client_t *client, const char *token);
/* Email for the From header on writes (copied; NULL = none). */
void pd_http_client_set_from(pd_http_client_t *client, const char *email);

/* Wakes any request waiting on the rate limit and makes it return
 * PD_HTTP_RETRY at once; a transfer in flight is aborted the same way, and
 * every later request is refused (not sent). Used at shutdown. */
void pd_http_client_cancel(pd_http_client_t *client);

/* Receives a 2xx body chunk by chunk; a non-zero return aborts the request
 * (outcome PD_HTTP_PERMANENT, message from pd_http_body_error()). When the
 * request then fails (truncated, timed out...), the data seen so far was
 * not a whole body: only outcome PD_HTTP_OK means it was. */
typedef int (*pd_http_body_cb)(void *ctx, const unsigned char *data,
                               size_t len);

/* Called by a body callback, before it returns non-zero, to say why
 * ("malformed JSON at byte 1234: ..."); the text becomes part of the
 * response message. Only valid inside a callback (it is per thread). */
void pd_http_body_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

typedef struct {
  const char *method; /* "GET", "POST", "PUT" */
  const char *path;   /* path and query, appended to base_url, e.g.
                         "/incidents?limit=100" (build it with pd_url_*) */
  const char *body;   /* request body (JSON) or NULL */
  size_t body_len;
  pd_http_body_cb on_body; /* NULL: the 2xx body is discarded */
  void *ctx;
  double max_wait_s; /* how long to wait for the rate limit before giving
                        up with PD_HTTP_RETRY; 0 = do not wait */
} pd_http_request_t;

typedef struct {
  pd_http_outcome_t outcome;
  long status;          /* HTTP status; 0 when no response came */
  int api_code;         /* PagerDuty error code from the body, 0 if none */
  char message[512];    /* why, for logs: "HTTP 503: Service unavailable",
                           "timeout after 10000 ms", ...; never a secret */
  double retry_after_s; /* when to retry (ratelimit-reset / Retry-After /
                           local ceiling, or the 429 backoff); -1 when
                           unknown */
  long ratelimit_limit, ratelimit_remaining, ratelimit_reset; /* -1 absent */
  bool wait_named;  /* retry_after_s came from the server's answer
                       (ratelimit-reset / Retry-After), not a guess */
  double latency_s; /* time on the wire */
  bool sent;        /* false when refused locally (ceiling, cancel) */
  bool cancelled;   /* pd_http_client_cancel() stopped it: shutting down */
} pd_http_response_t;

/*
 * Performs one request, waiting up to req->max_wait_s for the rate limit.
 * Always fills resp; returns 0 for PD_HTTP_OK, -1 otherwise.
 */
int pd_http_perform(pd_http_client_t *client, const pd_http_request_t *req,
                    pd_http_response_t *resp);

/* Counters behind the api-* metrics; monotonic since creation. */
typedef struct {
  uint64_t requests;        /* requests sent */
  uint64_t errors;          /* requests sent whose outcome was not PD_HTTP_OK */
  uint64_t throttled;       /* requests answered 429 */
  double latency_sum_s;     /* over requests sent */
  long ratelimit_remaining; /* last seen, -1 never */
  uint64_t refused;         /* requests not sent: rate limit wait too long,
                               cancelled (counted in neither of the above) */
  unsigned waiting;         /* requests waiting on the rate limit right now (not
                               monotonic): lets a caller (a test) see a wait begin */
} pd_http_stats_t;

void pd_http_client_stats(pd_http_client_t *client, pd_http_stats_t *out);

/*
 * A growable path+query builder that escapes with curl_easy_escape:
 *   pd_url_t u; pd_url_init(&u, "/incidents");
 *   pd_url_add(&u, "statuses[]", "triggered"); ...; use u.buf; pd_url_free(&u);
 * Returns -1 on allocation failure (and u stays usable but truncated).
 */
typedef struct {
  char *buf;
  size_t len, cap;
  bool has_query;
} pd_url_t;
int pd_url_init(pd_url_t *u, const char *path);
int pd_url_add(pd_url_t *u, const char *key, const char *value);
int pd_url_add_int(pd_url_t *u, const char *key, long long value);
void pd_url_free(pd_url_t *u);

/* Call once from the plugin's init, before any thread uses libcurl, and
 * pd_http_global_cleanup() once at shutdown. */
int pd_http_global_init(void);
void pd_http_global_cleanup(void);

#endif /* PD_HTTP_H */
