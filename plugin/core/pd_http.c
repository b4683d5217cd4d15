/* SPDX-License-Identifier: MIT */
/*
 * pd_http.c - see pd_http.h.
 *
 * One request goes through four steps, each a function below:
 *   wait_for_rate_limit()  may the request go now, or within max_wait_s?
 *   prepare_transfer()     URL, method, body and headers on the easy handle
 *   curl_easy_perform()    with on_header / on_write / on_progress callbacks
 *   classify()             what the status or libcurl's error means
 * Two locks: request_lock serialises whole requests (PagerDuty wants serial
 * requests per token, and the easy handle and limiter are not shared);
 * state_lock guards what other threads touch while a request runs (token,
 * From, counters, cancel) and is the mutex of the rate-limit wait.
 */
#include "pd_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "pd_error.h"
#include "pd_log.h"
#include "pd_ratelimit.h"
#include "pd_utf8.h"
#include "pd_util.h"

#ifndef PD_VERSION
#define PD_VERSION "unknown"
#endif

#define PD_HTTP_USER_AGENT "collectd-pagerduty/" PD_VERSION
#define PD_HTTP_ACCEPT "application/vnd.pagerduty+json;version=2"
#define PD_HTTP_DEFAULT_MAX_RESPONSE ((size_t)64 * 1024 * 1024)
#define PD_HTTP_DEFAULT_TIMEOUT_MS 10000L
/* Error bodies are only explained, never parsed as data: keep a little. */
#define PD_HTTP_ERROR_BODY_MAX (16 * 1024)

struct pd_http_client_s {
  CURL *curl;
  char *base_url;
  char *log_name;
  char host[256]; /* of base_url, for messages */
  long timeout_ms;
  size_t max_response_bytes;
  char curl_error[CURL_ERROR_SIZE];

  pthread_mutex_t request_lock; /* held for a whole request */
  pd_ratelimit_t limiter;       /* under request_lock */

  pthread_mutex_t state_lock;
  pthread_cond_t wakeup; /* with state_lock: rate-limit waits, cancel */
  char *token;           /* secret; wiped when replaced */
  char *from;
  pd_http_stats_t stats;
  atomic_bool cancelled; /* read without a lock by the progress callback */
};

/* What the callbacks learn during one transfer. */
typedef struct {
  pd_http_client_t *client;
  const pd_http_request_t *req;
  long status;
  size_t received;
  bool oversized;    /* received more than max_response_bytes */
  bool body_refused; /* req->on_body returned non-zero */
  char *error_body;  /* non-2xx body, up to PD_HTTP_ERROR_BODY_MAX */
  size_t error_body_len;
  long rl_limit, rl_remaining, rl_reset; /* -1 absent */
  double retry_after;                    /* Retry-After in seconds, -1 absent */
} transfer_t;

/* The reason a body callback gave for refusing data (pd_http_body_error). */
static __thread char body_error[256];

const char *pd_http_outcome_name(pd_http_outcome_t outcome) {
  switch (outcome) {
  case PD_HTTP_OK:
    return "ok";
  case PD_HTTP_RETRY:
    return "retry";
  case PD_HTTP_PERMANENT:
    return "permanent";
  case PD_HTTP_AUTH:
    return "auth";
  case PD_HTTP_PERMISSION:
    return "permission";
  }
  return "unknown";
}

void pd_http_body_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(body_error, sizeof(body_error), fmt, ap);
  va_end(ap);
}

/* Frees a header list that held the token, wiping every line first. */
static void wipe_free_headers(struct curl_slist *headers) {
  for (struct curl_slist *h = headers; h != NULL; h = h->next)
    explicit_bzero(h->data, strlen(h->data));
  curl_slist_free_all(headers);
}

static void set_message(pd_http_response_t *resp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_message(pd_http_response_t *resp, const char *fmt, ...) {
  char text[sizeof(resp->message)];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  /* One log line, whatever libcurl or a parser said, and no character
   * half cut by vsnprintf (or by the parser's own bounded message). */
  pd_utf8_copy_blanked(resp->message, sizeof(resp->message), text,
                       pd_utf8_trim_partial(text, strlen(text)));
}

/* Belt and braces: a server echoing the token must not get it logged. */
static void scrub_secret(char *text, const char *secret) {
  if (secret == NULL || *secret == '\0')
    return;
  size_t n = strlen(secret);
  for (char *hit = strstr(text, secret); hit != NULL;
       hit = strstr(hit + n, secret))
    memset(hit, '*', n);
}

/* ---- client lifecycle -------------------------------------------------- */

static int set_host_of(pd_http_client_t *c) {
  CURLU *url = curl_url();
  char *host = NULL;
  if (url == NULL)
    return -1;
  int ok = curl_url_set(url, CURLUPART_URL, c->base_url, 0) == CURLUE_OK &&
           curl_url_get(url, CURLUPART_HOST, &host, 0) == CURLUE_OK;
  if (ok)
    snprintf(c->host, sizeof(c->host), "%s", host);
  curl_free(host);
  curl_url_cleanup(url);
  return ok ? 0 : -1;
}

/* The options that stay the same for every request of this client. */
static int setup_handle(pd_http_client_t *c, const pd_transport_config_t *t) {
  CURL *h = c->curl;
  CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                          \
  if (rc == CURLE_OK)                                                          \
  rc = curl_easy_setopt(h, opt, val)
  SET(CURLOPT_ERRORBUFFER, c->curl_error);
  SET(CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
  SET(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
  SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  SET(CURLOPT_TCP_KEEPALIVE, 1L);
  SET(CURLOPT_USERAGENT, PD_HTTP_USER_AGENT);
  SET(CURLOPT_ACCEPT_ENCODING, ""); /* whatever libcurl can decode */
  SET(CURLOPT_TIMEOUT_MS, c->timeout_ms);
  SET(CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
  SET(CURLOPT_SSL_VERIFYPEER, t->verify_peer ? 1L : 0L);
  SET(CURLOPT_SSL_VERIFYHOST, t->verify_host ? 2L : 0L);
  if (t->cacert != NULL)
    SET(CURLOPT_CAINFO, t->cacert);
  if (t->proxy != NULL)
    SET(CURLOPT_PROXY, t->proxy);
  /* Abort early when Content-Length already says it is too big. */
  SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_response_bytes);
  SET(CURLOPT_NOPROGRESS, 0L);
#undef SET
  return rc == CURLE_OK ? 0 : -1;
}

pd_http_client_t *pd_http_client_create(const pd_http_options_t *opts) {
  const char *who = opts->log_name != NULL ? opts->log_name : "client";
  pd_http_client_t *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    PD_ERROR("%s: out of memory", who);
    return NULL;
  }
  pthread_mutex_init(&c->request_lock, NULL);
  pthread_mutex_init(&c->state_lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&c->wakeup, &attr);
  pthread_condattr_destroy(&attr);
  atomic_init(&c->cancelled, false);
  c->stats.ratelimit_remaining = -1;

  c->base_url = strdup(opts->base_url != NULL ? opts->base_url : "");
  c->log_name = strdup(who);
  if (c->base_url == NULL || c->log_name == NULL) {
    PD_ERROR("%s: out of memory", who);
    goto fail;
  }
  /* Paths start with '/': a base URL ending in one would double it. */
  size_t n = strlen(c->base_url);
  if (n > 0 && c->base_url[n - 1] == '/')
    c->base_url[n - 1] = '\0';
  if (set_host_of(c) != 0) {
    PD_ERROR("%s: cannot parse the URL \"%s\"", who, c->base_url);
    goto fail;
  }
  c->timeout_ms = opts->transport.timeout_ms > 0 ? opts->transport.timeout_ms
                                                 : PD_HTTP_DEFAULT_TIMEOUT_MS;
  c->max_response_bytes = opts->max_response_bytes > 0
                              ? opts->max_response_bytes
                              : PD_HTTP_DEFAULT_MAX_RESPONSE;
  if (pd_ratelimit_init(&c->limiter, opts->max_requests_per_minute) != 0) {
    PD_ERROR("%s: out of memory", who);
    goto fail;
  }
  c->curl = curl_easy_init();
  if (c->curl == NULL) {
    PD_ERROR("%s: libcurl could not create a handle", who);
    goto fail;
  }
  if (setup_handle(c, &opts->transport) != 0) {
    PD_ERROR("%s: libcurl refused an option (%s)", who, c->curl_error);
    goto fail;
  }
  return c;

fail:
  pd_http_client_destroy(c);
  return NULL;
}

void pd_http_client_destroy(pd_http_client_t *c) {
  if (c == NULL)
    return;
  if (c->curl != NULL)
    curl_easy_cleanup(c->curl);
  pd_ratelimit_free(&c->limiter);
  pd_secret_free(c->token);
  free(c->from);
  free(c->base_url);
  free(c->log_name);
  pthread_cond_destroy(&c->wakeup);
  pthread_mutex_destroy(&c->state_lock);
  pthread_mutex_destroy(&c->request_lock);
  free(c);
}

/* Replaces *field (token or From) with a copy of value under state_lock,
 * as a request in another thread may be reading it; the old value is freed
 * after, and wiped first when it is a secret. */
static void replace_field(pd_http_client_t *c, char **field, const char *value,
                          const char *what, bool secret) {
  char *copy = value != NULL ? strdup(value) : NULL;
  if (value != NULL && copy == NULL)
    PD_ERROR("%s: out of memory storing the %s", c->log_name, what);
  pthread_mutex_lock(&c->state_lock);
  char *old = *field;
  *field = copy;
  pthread_mutex_unlock(&c->state_lock);
  if (secret)
    pd_secret_free(old);
  else
    free(old);
}

void pd_http_client_set_token(pd_http_client_t *c, const char *token) {
  replace_field(c, &c->token, token, "token", true);
}

void pd_http_client_set_from(pd_http_client_t *c, const char *email) {
  replace_field(c, &c->from, email, "From address", false);
}

void pd_http_client_cancel(pd_http_client_t *c) {
  pthread_mutex_lock(&c->state_lock);
  atomic_store(&c->cancelled, true);
  pthread_cond_broadcast(&c->wakeup);
  pthread_mutex_unlock(&c->state_lock);
}

void pd_http_client_stats(pd_http_client_t *c, pd_http_stats_t *out) {
  pthread_mutex_lock(&c->state_lock);
  *out = c->stats;
  pthread_mutex_unlock(&c->state_lock);
}

/* ---- callbacks --------------------------------------------------------- */

static bool header_is(const char *line, size_t len, const char *name,
                      const char **value) {
  size_t n = strlen(name);
  if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
    return false;
  *value = line + n + 1;
  return true;
}

/* A non-negative integer header value; -1 when malformed. */
static long header_long(const char *value, const char *end) {
  char buf[32];
  while (value < end && (*value == ' ' || *value == '\t'))
    value++;
  size_t n = (size_t)(end - value);
  if (n == 0 || n >= sizeof(buf))
    return -1;
  memcpy(buf, value, n);
  buf[n] = '\0';
  char *stop;
  errno = 0;
  long v = strtol(buf, &stop, 10);
  while (*stop == ' ' || *stop == '\t' || *stop == '\r' || *stop == '\n')
    stop++;
  if (errno != 0 || stop == buf || *stop != '\0' || v < 0)
    return -1;
  return v;
}

/* Retry-After: delta-seconds or an HTTP-date. */
static double retry_after_seconds(const char *value, const char *end) {
  long secs = header_long(value, end);
  if (secs >= 0)
    return (double)secs;
  char date[128];
  while (value < end && *value == ' ')
    value++;
  size_t n = (size_t)(end - value);
  while (n > 0 && (value[n - 1] == '\r' || value[n - 1] == '\n'))
    n--;
  if (n == 0 || n >= sizeof(date))
    return -1;
  memcpy(date, value, n);
  date[n] = '\0';
  time_t when = curl_getdate(date, NULL);
  if (when == (time_t)-1)
    return -1;
  double wait = difftime(when, time(NULL));
  return wait > 0 ? wait : 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata) {
  transfer_t *x = userdata;
  size_t len = size * nmemb;
  const char *end = data + len;
  const char *value;
  if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
    /* A new response (after a 100 Continue, say): forget the last one. */
    x->rl_limit = x->rl_remaining = x->rl_reset = -1;
    x->retry_after = -1;
  } else if (header_is(data, len, "ratelimit-limit", &value)) {
    x->rl_limit = header_long(value, end);
  } else if (header_is(data, len, "ratelimit-remaining", &value)) {
    x->rl_remaining = header_long(value, end);
  } else if (header_is(data, len, "ratelimit-reset", &value)) {
    x->rl_reset = header_long(value, end);
  } else if (header_is(data, len, "retry-after", &value)) {
    x->retry_after = retry_after_seconds(value, end);
  }
  return len;
}

static bool is_2xx(long status) { return status >= 200 && status < 300; }

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata) {
  transfer_t *x = userdata;
  size_t len = size * nmemb;
  if (x->status == 0)
    curl_easy_getinfo(x->client->curl, CURLINFO_RESPONSE_CODE, &x->status);

  if (len > x->client->max_response_bytes - x->received) {
    x->oversized = true;
    return 0; /* aborts with CURLE_WRITE_ERROR */
  }
  x->received += len;

  if (is_2xx(x->status)) {
    if (x->req->on_body != NULL &&
        x->req->on_body(x->req->ctx, (const unsigned char *)data, len) != 0) {
      x->body_refused = true;
      return 0;
    }
    return len;
  }
  /* An error body: keep the start of it to explain the status. */
  size_t room = PD_HTTP_ERROR_BODY_MAX - x->error_body_len;
  size_t keep = len < room ? len : room;
  if (keep > 0) {
    if (x->error_body == NULL) {
      x->error_body = malloc(PD_HTTP_ERROR_BODY_MAX);
      if (x->error_body == NULL)
        return len; /* the status still says what happened */
    }
    memcpy(x->error_body + x->error_body_len, data, keep);
    x->error_body_len += keep;
  }
  return len;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow) {
  (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
  pd_http_client_t *c = userdata;
  return atomic_load(&c->cancelled) ? 1 : 0;
}

/* ---- one request ------------------------------------------------------- */

static void refuse(pd_http_client_t *c, pd_http_response_t *resp) {
  resp->outcome = PD_HTTP_RETRY;
  resp->sent = false;
  pthread_mutex_lock(&c->state_lock);
  c->stats.refused++;
  pthread_mutex_unlock(&c->state_lock);
}

/* Waits (under request_lock) until the limiter lets the request go, at
 * most max_wait_s. Returns 0 to send, -1 after refusing it in resp. */
static int wait_for_rate_limit(pd_http_client_t *c, double max_wait_s,
                               pd_http_response_t *resp) {
  double deadline = pd_monotonic_now() + (max_wait_s > 0 ? max_wait_s : 0);
  pthread_mutex_lock(&c->state_lock);
  for (;;) {
    if (atomic_load(&c->cancelled)) {
      pthread_mutex_unlock(&c->state_lock);
      set_message(resp, "request cancelled (shutting down)");
      resp->cancelled = true;
      refuse(c, resp);
      return -1;
    }
    double now = pd_monotonic_now();
    pd_ratelimit_reason_t why;
    double delay = pd_ratelimit_delay_why(&c->limiter, now, &why);
    if (delay <= 0)
      break;
    if (now + delay > deadline) {
      pthread_mutex_unlock(&c->state_lock);
      set_message(resp, "%s; next request possible in %.1f s",
                  pd_ratelimit_reason_name(why), delay);
      resp->retry_after_s = delay;
      refuse(c, resp);
      return -1;
    }
    double until = now + delay;
    struct timespec ts = {.tv_sec = (time_t)until,
                          .tv_nsec =
                              (long)((until - (double)(time_t)until) * 1e9)};
    c->stats.waiting++;
    pthread_cond_timedwait(&c->wakeup, &c->state_lock, &ts);
    c->stats.waiting--;
  }
  pthread_mutex_unlock(&c->state_lock);
  return 0;
}

static bool has_line_break(const char *s) {
  return s != NULL && strpbrk(s, "\r\n") != NULL;
}

/* Header lines for this request; NULL on allocation failure. The caller
 * frees them with wipe_free_headers (one line holds the token). */
static struct curl_slist *build_headers(const char *method, const char *token,
                                        const char *from) {
  struct curl_slist *headers = NULL, *next;
  const char *fixed[] = {
      "Accept: " PD_HTTP_ACCEPT, "Content-Type: application/json",
      "Expect:", /* no 100-continue round trip before a body */
  };
  for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
    if ((next = curl_slist_append(headers, fixed[i])) == NULL)
      goto fail;
    headers = next;
  }
  if (token != NULL) {
    char line[1024];
    int n =
        snprintf(line, sizeof(line), "Authorization: Token token=%s", token);
    next = n > 0 && (size_t)n < sizeof(line) ? curl_slist_append(headers, line)
                                             : NULL;
    explicit_bzero(line, sizeof(line));
    if (next == NULL)
      goto fail;
    headers = next;
  }
  if (from != NULL && strcmp(method, "GET") != 0) {
    char line[512];
    snprintf(line, sizeof(line), "From: %s", from);
    if ((next = curl_slist_append(headers, line)) == NULL)
      goto fail;
    headers = next;
  }
  return headers;

fail:
  wipe_free_headers(headers);
  return NULL;
}

/* Sets URL, method and body on the handle. Returns 0 or -1 (message set). */
static int prepare_transfer(pd_http_client_t *c, const pd_http_request_t *req,
                            const char *method, struct curl_slist *headers,
                            transfer_t *x, pd_http_response_t *resp) {
  CURL *h = c->curl;
  size_t url_len = strlen(c->base_url) + strlen(req->path) + 1;
  char *url = malloc(url_len);
  if (url == NULL) {
    set_message(resp, "out of memory");
    return -1;
  }
  snprintf(url, url_len, "%s%s", c->base_url, req->path);
  CURLcode rc = curl_easy_setopt(h, CURLOPT_URL, url); /* libcurl copies */
  free(url);
  if (rc != CURLE_OK) {
    set_message(resp, "bad URL: %s", curl_easy_strerror(rc));
    return -1;
  }

  const char *body = req->body != NULL ? req->body : "";
  size_t body_len = req->body != NULL ? req->body_len : 0;
  if (strcmp(method, "GET") == 0) {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    /* POST, PUT and the rest send the body the same way; only the verb
     * on the request line differs. */
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
                     strcmp(method, "POST") == 0 ? NULL : method);
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
  return 0;
}

/* What an HTTP status means, per doc/pagerduty-api.md "Errors". */
static pd_http_outcome_t outcome_of_status(long status) {
  if (is_2xx(status))
    return PD_HTTP_OK;
  if (status == 401)
    return PD_HTTP_AUTH;
  if (status == 403)
    return PD_HTTP_PERMISSION;
  if (status == 408 || status == 429 || (status >= 500 && status < 600))
    return PD_HTTP_RETRY;
  return PD_HTTP_PERMANENT; /* other 4xx; 1xx/3xx we do not follow */
}

static void classify_status(const pd_http_client_t *c, transfer_t *x,
                            pd_http_response_t *resp) {
  resp->outcome = outcome_of_status(x->status);
  if (resp->outcome == PD_HTTP_OK)
    return;
  pd_api_error_t err;
  if (pd_error_parse(x->error_body, x->error_body_len, &err) == 0) {
    resp->api_code = err.code;
    set_message(resp, "HTTP %ld: %s", x->status, err.message);
  } else {
    set_message(resp, "HTTP %ld", x->status);
  }
  if (x->oversized)
    set_message(resp, "HTTP %ld (error body larger than %zu bytes)", x->status,
                c->max_response_bytes);
}

/* A 2xx whose transfer failed, or no response at all: libcurl's view. */
static void classify_curl_error(const pd_http_client_t *c, CURLcode rc,
                                transfer_t *x, pd_http_response_t *resp) {
  const char *detail =
      c->curl_error[0] != '\0' ? c->curl_error : curl_easy_strerror(rc);
  if (x->body_refused) {
    resp->outcome = PD_HTTP_PERMANENT;
    set_message(resp, "HTTP %ld: malformed response body: %s", x->status,
                body_error[0] != '\0' ? body_error : "rejected by the parser");
    return;
  }
  if (x->oversized || rc == CURLE_FILESIZE_EXCEEDED) {
    resp->outcome = PD_HTTP_PERMANENT;
    set_message(resp, "HTTP %ld: response larger than %zu bytes", x->status,
                c->max_response_bytes);
    return;
  }
  switch (rc) {
  case CURLE_PARTIAL_FILE:
    resp->outcome = PD_HTTP_RETRY;
    set_message(resp, "response truncated after %zu bytes: %s", x->received,
                detail);
    return;
  case CURLE_OPERATION_TIMEDOUT:
    resp->outcome = PD_HTTP_RETRY;
    set_message(resp, "timeout after %ld ms (%s)", c->timeout_ms, detail);
    return;
  case CURLE_COULDNT_CONNECT:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    resp->outcome = PD_HTTP_RETRY;
    set_message(resp, "connection to %s failed: %s", c->host, detail);
    return;
  case CURLE_GOT_NOTHING:
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
    resp->outcome = PD_HTTP_RETRY;
    set_message(resp,
                "connection to %s reset or closed without a response: "
                "%s",
                c->host, detail);
    return;
  case CURLE_ABORTED_BY_CALLBACK:
    resp->outcome = PD_HTTP_RETRY;
    set_message(resp, "request cancelled (shutting down)");
    resp->cancelled = true;
    return;
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    resp->outcome = PD_HTTP_PERMANENT;
    set_message(resp,
                "TLS verification of %s failed: %s; check CACert, "
                "VerifyPeer and VerifyHost",
                c->host, detail);
    return;
  case CURLE_SSL_CONNECT_ERROR:
    /* A handshake can fail on a flaky network as well as on a version or
     * cipher mismatch; the next attempt tells which. */
    resp->outcome = PD_HTTP_RETRY;
    set_message(resp, "TLS handshake with %s failed: %s", c->host, detail);
    return;
  case CURLE_URL_MALFORMAT:
  case CURLE_UNSUPPORTED_PROTOCOL:
    resp->outcome = PD_HTTP_PERMANENT;
    set_message(resp, "bad URL: %s", detail);
    return;
  default:
    /* Unknown trouble: retrying is the safe side for an alert. */
    resp->outcome = PD_HTTP_RETRY;
    set_message(resp, "request failed: %s", detail);
    return;
  }
}

/* Feeds the response's rate-limit headers to the limiter. */
static void learn_rate_limit(pd_http_client_t *c, transfer_t *x, double now,
                             pd_http_response_t *resp) {
  resp->ratelimit_limit = x->rl_limit;
  resp->ratelimit_remaining = x->rl_remaining;
  resp->ratelimit_reset = x->rl_reset;
  if (x->status == 0)
    return; /* no response: nothing learnt */

  pd_ratelimit_set_server_limit(&c->limiter, x->rl_limit);
  if (x->status == 429) {
    double named = x->rl_reset >= 0      ? (double)x->rl_reset
                   : x->retry_after >= 0 ? x->retry_after
                                         : -1;
    resp->retry_after_s = pd_ratelimit_on_429(&c->limiter, now, named);
    resp->wait_named = named >= 0;
    return;
  }
  pd_ratelimit_on_response(&c->limiter, now, x->rl_remaining, x->rl_reset);
  if (x->retry_after >= 0) {
    resp->retry_after_s = x->retry_after; /* e.g. a 503 naming a time */
    resp->wait_named = true;
  }
}

static void count(pd_http_client_t *c, const pd_http_response_t *resp) {
  pthread_mutex_lock(&c->state_lock);
  c->stats.requests++;
  if (resp->outcome != PD_HTTP_OK)
    c->stats.errors++;
  if (resp->status == 429)
    c->stats.throttled++;
  c->stats.latency_sum_s += resp->latency_s;
  if (resp->ratelimit_remaining >= 0)
    c->stats.ratelimit_remaining = resp->ratelimit_remaining;
  pthread_mutex_unlock(&c->state_lock);
}

/* The part of pd_http_perform that runs under request_lock. */
static void perform_locked(pd_http_client_t *c, const pd_http_request_t *req,
                           pd_http_response_t *resp) {
  const char *method = req->method != NULL ? req->method : "GET";
  if (req->path == NULL || req->path[0] != '/') {
    resp->outcome = PD_HTTP_PERMANENT;
    set_message(resp, "bad request path");
    return;
  }
  if (wait_for_rate_limit(c, req->max_wait_s, resp) != 0)
    return;

  /* The token and From as of now; a rotation applies to the next request. */
  pthread_mutex_lock(&c->state_lock);
  char *token = c->token != NULL ? strdup(c->token) : NULL;
  char *from = c->from != NULL ? strdup(c->from) : NULL;
  bool copied = (token != NULL) == (c->token != NULL) &&
                (from != NULL) == (c->from != NULL);
  pthread_mutex_unlock(&c->state_lock);

  struct curl_slist *headers = NULL;
  transfer_t x = {.client = c,
                  .req = req,
                  .rl_limit = -1,
                  .rl_remaining = -1,
                  .rl_reset = -1,
                  .retry_after = -1};
  if (!copied || has_line_break(token) || has_line_break(from)) {
    resp->outcome = PD_HTTP_PERMANENT;
    set_message(resp, copied ? "token or From address contains a line break"
                             : "out of memory");
    goto done;
  }
  headers = build_headers(method, token, from);
  if (headers == NULL) {
    resp->outcome = PD_HTTP_RETRY;
    set_message(resp, "out of memory");
    goto done;
  }
  if (prepare_transfer(c, req, method, headers, &x, resp) != 0) {
    resp->outcome = PD_HTTP_PERMANENT;
    goto done;
  }

  c->curl_error[0] = '\0';
  body_error[0] = '\0';
  double start = pd_monotonic_now();
  pd_ratelimit_on_send(&c->limiter, start);
  CURLcode rc = curl_easy_perform(c->curl);
  double end = pd_monotonic_now();
  resp->sent = true;
  resp->latency_s = end - start;
  curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &x.status);
  resp->status = x.status;

  if (x.status != 0 && !is_2xx(x.status))
    classify_status(c, &x, resp); /* the status decides, whatever the body */
  else if (rc != CURLE_OK)
    classify_curl_error(c, rc, &x, resp);
  else if (x.status == 0) {
    resp->outcome = PD_HTTP_RETRY;
    set_message(resp, "no HTTP response from %s", c->host);
  } else
    resp->outcome = PD_HTTP_OK;
  learn_rate_limit(c, &x, end, resp);
  scrub_secret(resp->message, token);
  count(c, resp);

done:
  /* The handle must not keep pointers into what is freed here. */
  curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
  wipe_free_headers(headers);
  pd_secret_free(token);
  free(from);
  free(x.error_body);
}

int pd_http_perform(pd_http_client_t *c, const pd_http_request_t *req,
                    pd_http_response_t *resp) {
  memset(resp, 0, sizeof(*resp));
  resp->outcome = PD_HTTP_RETRY;
  resp->retry_after_s = -1;
  resp->ratelimit_limit = resp->ratelimit_remaining = -1;
  resp->ratelimit_reset = -1;

  pthread_mutex_lock(&c->request_lock);
  perform_locked(c, req, resp);
  pthread_mutex_unlock(&c->request_lock);
  return resp->outcome == PD_HTTP_OK ? 0 : -1;
}

/* ---- URL building ------------------------------------------------------ */

static int url_append(pd_url_t *u, const char *text) {
  if (u->buf == NULL)
    return -1;
  size_t n = strlen(text);
  if (u->len + n + 1 > u->cap) {
    size_t cap = u->cap * 2 > u->len + n + 1 ? u->cap * 2 : u->len + n + 64;
    char *grown = realloc(u->buf, cap);
    if (grown == NULL)
      return -1;
    u->buf = grown;
    u->cap = cap;
  }
  memcpy(u->buf + u->len, text, n + 1);
  u->len += n;
  return 0;
}

int pd_url_init(pd_url_t *u, const char *path) {
  memset(u, 0, sizeof(*u));
  u->cap = strlen(path) + 128;
  u->buf = malloc(u->cap);
  if (u->buf == NULL) {
    u->cap = 0;
    return -1;
  }
  u->buf[0] = '\0';
  u->has_query = strchr(path, '?') != NULL;
  return url_append(u, path);
}

int pd_url_add(pd_url_t *u, const char *key, const char *value) {
  /* The handle argument is ignored by libcurl >= 7.82 and unused for
   * plain escaping before that. */
  char *k = curl_easy_escape(NULL, key, 0);
  char *v = curl_easy_escape(NULL, value, 0);
  int rc = -1;
  if (k != NULL && v != NULL && url_append(u, u->has_query ? "&" : "?") == 0) {
    u->has_query = true;
    rc = url_append(u, k) == 0 && url_append(u, "=") == 0 &&
                 url_append(u, v) == 0
             ? 0
             : -1;
  }
  curl_free(k);
  curl_free(v);
  return rc;
}

int pd_url_add_int(pd_url_t *u, const char *key, long long value) {
  char text[32];
  snprintf(text, sizeof(text), "%lld", value);
  return pd_url_add(u, key, text);
}

void pd_url_free(pd_url_t *u) {
  free(u->buf);
  memset(u, 0, sizeof(*u));
}

/* ---- process-wide ------------------------------------------------------ */

int pd_http_global_init(void) {
  CURLcode rc = curl_global_init(CURL_GLOBAL_ALL);
  if (rc != CURLE_OK) {
    PD_ERROR("libcurl initialisation failed: %s", curl_easy_strerror(rc));
    return -1;
  }
  return 0;
}

void pd_http_global_cleanup(void) { curl_global_cleanup(); }
