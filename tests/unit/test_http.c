/* SPDX-License-Identifier: MIT */
/*
 * test_http.c - pd_http against the PagerDuty simulator (over HTTP and over
 * HTTPS with a CA made at test time) and, where exact bytes matter, against
 * a one-shot "canned" server in this file.
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>

#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h" /* LOG_* for daemon_stubs */
#include "daemon_stubs.h"
#include "pd_http.h"
#include "pdsim_fixture.h"

static pdsim_t sim;     /* the plain-HTTP simulator, one per TCase */
static pdsim_t tls_sim; /* the HTTPS one */
static pdsim_certs_t certs;

/* ---- helpers ------------------------------------------------------------ */

/* Does text contain a token of either simulator? */
static bool has_secret(const char *text) {
  return (sim.token[0] != '\0' && strstr(text, sim.token) != NULL) ||
         (tls_sim.token[0] != '\0' && strstr(text, tls_sim.token) != NULL);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
  const char *url;
  long timeout_ms;
  int per_minute;
  size_t max_response;
  const char *cacert;
  bool verify_peer, verify_host;
} client_opts_t;

static pd_http_client_t *make_client(client_opts_t o) {
  pd_http_options_t opts = {
      .base_url = o.url,
      .log_name = "account \"test\"",
      .transport =
          {
              .timeout_ms = o.timeout_ms > 0 ? o.timeout_ms : 5000,
              .verify_peer = o.verify_peer,
              .verify_host = o.verify_host,
              .cacert = (char *)o.cacert,
          },
      .max_response_bytes = o.max_response,
      .max_requests_per_minute = o.per_minute,
  };
  pd_http_client_t *c = pd_http_client_create(&opts);
  ck_assert_msg(c != NULL, "client for %s: %s", o.url, stub_log_dump());
  return c;
}

/* A client for the plain simulator with its token. */
static pd_http_client_t *sim_client(void) {
  pd_http_client_t *c = make_client((client_opts_t){.url = sim.url});
  pd_http_client_set_token(c, sim.token);
  return c;
}

/* Collects a 2xx body; optionally validates it as JSON chunk by chunk. */
typedef struct {
  char *data;
  size_t len, chunks;
  yajl_handle json; /* NULL: accept anything */
} sink_t;

static int sink_cb(void *ctx, const unsigned char *d, size_t n) {
  sink_t *s = ctx;
  s->data = realloc(s->data, s->len + n + 1);
  ck_assert_ptr_nonnull(s->data);
  memcpy(s->data + s->len, d, n);
  s->len += n;
  s->data[s->len] = '\0';
  s->chunks++;
  if (s->json != NULL && yajl_parse(s->json, d, n) != yajl_status_ok) {
    unsigned char *e = yajl_get_error(s->json, 0, d, n);
    pd_http_body_error("malformed JSON: %s", (const char *)e);
    yajl_free_error(s->json, e);
    return -1;
  }
  return 0;
}

static void sink_init(sink_t *s, bool validate_json) {
  memset(s, 0, sizeof(*s));
  if (validate_json)
    s->json = yajl_alloc(NULL, NULL, NULL);
}

static void sink_free(sink_t *s) {
  free(s->data);
  if (s->json != NULL)
    yajl_free(s->json);
  memset(s, 0, sizeof(*s));
}

static pd_http_outcome_t do_request(pd_http_client_t *c, const char *method,
                                    const char *path, const char *body,
                                    sink_t *sink, double max_wait,
                                    pd_http_response_t *resp) {
  pd_http_request_t req = {
      .method = method,
      .path = path,
      .body = body,
      .body_len = body != NULL ? strlen(body) : 0,
      .on_body = sink != NULL ? sink_cb : NULL,
      .ctx = sink,
      .max_wait_s = max_wait,
  };
  int rc = pd_http_perform(c, &req, resp);
  ck_assert_int_eq(rc, resp->outcome == PD_HTTP_OK ? 0 : -1);
  /* Whatever happened, the message never carries a secret. */
  ck_assert_msg(!has_secret(resp->message), "token in message");
  return resp->outcome;
}

static pd_http_outcome_t get(pd_http_client_t *c, const char *path,
                             pd_http_response_t *resp) {
  return do_request(c, "GET", path, NULL, NULL, 0, resp);
}

#define ck_assert_outcome(resp, expected)                                      \
  ck_assert_msg((resp).outcome == (expected),                                  \
                "outcome %s (status %ld, \"%s\"), expected %s",                \
                pd_http_outcome_name((resp).outcome), (resp).status,           \
                (resp).message, pd_http_outcome_name(expected))

#define ck_assert_message_has(resp, needle)                                    \
  ck_assert_msg(strstr((resp).message, (needle)) != NULL,                      \
                "message \"%s\" lacks \"%s\"", (resp).message, (needle))

/* The simulator's request log, newest last. */
static yajl_val sim_requests(const pdsim_t *s) {
  yajl_val root = pdsim_get_json(s, "/_sim/requests");
  ck_assert_ptr_nonnull(root);
  return root;
}

static yajl_val requests_array(yajl_val root) {
  const char *path[] = {"requests", NULL};
  yajl_val a = pdsim_json_get(root, path);
  ck_assert_msg(YAJL_IS_ARRAY(a), "no requests array");
  return a;
}

/* A request log entry's string field, NULL when absent or null. */
static const char *entry_str(yajl_val entry, const char *key) {
  return pdsim_json_string(entry, key);
}

static void assert_no_secret_logged(void) {
  ck_assert_msg(!has_secret(stub_log_dump()), "token logged:\n%s",
                stub_log_dump());
}

/* ---- a one-shot server for exact bytes ----------------------------------- */

/* How long the canned server waits for a client that connected to send its
 * request. Only a bound for a broken client: a loaded machine (or ASan) can
 * take seconds between connect and send, so it is generous. */
#define CANNED_READ_TIMEOUT_MS 30000

typedef struct {
  int fd;
  int port;
  pthread_t thread;
  const char *response; /* sent verbatim to every connection */
  /* The server thread publishes each request under lock, before it writes
   * the answer: a client holding the answer always sees its own request
   * counted and stored, never the previous one. */
  pthread_mutex_t lock;
  char request[16384]; /* the last request received */
  int served;          /* requests received (and about to be answered) */
  atomic_bool stop;
} canned_t;

/* Reads one request into buf (NUL-terminated); its length. */
static size_t canned_read_request(int conn, char *buf, size_t size) {
  size_t len = 0;
  buf[0] = '\0';
  for (;;) {
    struct pollfd p = {.fd = conn, .events = POLLIN};
    if (poll(&p, 1, CANNED_READ_TIMEOUT_MS) <= 0)
      return len;
    ssize_t n = read(conn, buf + len, size - 1 - len);
    if (n <= 0)
      return len;
    len += (size_t)n;
    buf[len] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (end == NULL)
      continue;
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    size_t body = cl != NULL && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
    if (len >= (size_t)(end + 4 - buf) + body)
      return len;
  }
}

static void *canned_serve(void *arg) {
  canned_t *s = arg;
  char *request = malloc(sizeof(s->request)); /* this thread's own */
  ck_assert_ptr_nonnull(request);
  while (!atomic_load(&s->stop)) {
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    if (poll(&p, 1, 50) <= 0)
      continue;
    int conn = accept(s->fd, NULL, NULL);
    if (conn < 0)
      continue;
    size_t len = canned_read_request(conn, request, sizeof(s->request));
    pthread_mutex_lock(&s->lock);
    memcpy(s->request, request, len + 1);
    s->served++;
    pthread_mutex_unlock(&s->lock);
    ssize_t ignored = write(conn, s->response, strlen(s->response));
    (void)ignored;
    close(conn);
  }
  free(request);
  return NULL;
}

/* Requests the canned server has received so far. */
static int canned_served(canned_t *s) {
  pthread_mutex_lock(&s->lock);
  int n = s->served;
  pthread_mutex_unlock(&s->lock);
  return n;
}

/* A copy of the last request (the server thread may overwrite its own). */
static void canned_last_request(canned_t *s, char *out, size_t size) {
  pthread_mutex_lock(&s->lock);
  snprintf(out, size, "%s", s->request);
  pthread_mutex_unlock(&s->lock);
}

/* Listens on 127.0.0.1 (port 0: any); returns the port. */
static int listen_loopback(int *fd_out) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(fd, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  ck_assert_int_eq(listen(fd, 8), 0);
  socklen_t len = sizeof(a);
  getsockname(fd, (struct sockaddr *)&a, &len);
  *fd_out = fd;
  return ntohs(a.sin_port);
}

static void canned_start(canned_t *s, const char *response) {
  memset(s, 0, sizeof(*s));
  pthread_mutex_init(&s->lock, NULL);
  s->response = response;
  s->port = listen_loopback(&s->fd);
  ck_assert_int_eq(pthread_create(&s->thread, NULL, canned_serve, s), 0);
}

static void canned_stop(canned_t *s) {
  atomic_store(&s->stop, true);
  pthread_join(s->thread, NULL);
  close(s->fd);
  pthread_mutex_destroy(&s->lock);
}

static const char *canned_url(const canned_t *s) {
  static char url[64];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d", s->port);
  return url;
}

/* The value of a header of the last request (first line only), or NULL. */
static const char *canned_header(canned_t *s, const char *name, char *out,
                                 size_t size) {
  char request[sizeof(s->request)], pattern[128];
  canned_last_request(s, request, sizeof(request));
  snprintf(pattern, sizeof(pattern), "\r\n%s:", name);
  const char *h = strcasestr(request, pattern);
  if (h == NULL)
    return NULL;
  h += strlen(pattern);
  while (*h == ' ')
    h++;
  size_t n = strcspn(h, "\r\n");
  snprintf(out, size, "%.*s", (int)n, h);
  return out;
}

/* ---- fixtures ------------------------------------------------------------ */

static void sim_up(void) {
  ck_assert_msg(pdsim_start(&sim, "demo", NULL) == 0,
                "cannot start the simulator %s", pdsim_path());
}

static void sim_down(void) { pdsim_stop(&sim); }

static void sim_fresh(void) {
  stub_log_reset();
  ck_assert_int_eq(pdsim_reset(&sim, "{\"scenario\":\"demo\",\"seed\":1}"), 0);
  /* Budgets set by an earlier test (which may have failed midway). */
  ck_assert_int_eq(
      pdsim_call(&sim, "POST", "/_sim/ratelimit", "{\"per_minute\":960}", NULL),
      200);
}

static void tls_up(void) {
  ck_assert_int_eq(pdsim_make_certs(&certs), 0);
  ck_assert_msg(pdsim_start(&tls_sim, "demo", &certs) == 0,
                "cannot start the simulator with TLS");
  ck_assert_msg(strncmp(tls_sim.url, "https://", 8) == 0, "url %s",
                tls_sim.url);
}

static void tls_fresh(void) {
  stub_log_reset();
  ck_assert_int_eq(pdsim_reset(&tls_sim, NULL), 0);
}

static void tls_down(void) {
  pdsim_stop(&tls_sim);
  pdsim_remove_certs(&certs);
}

/* ---- requests and headers ------------------------------------------------ */

START_TEST(test_get_users_me) {
  pd_http_client_t *c = sim_client();
  pd_http_client_set_from(c, "ops@example.com");
  pd_http_response_t resp;
  sink_t sink;
  sink_init(&sink, true);
  do_request(c, "GET", "/users/me", NULL, &sink, 0, &resp);
  ck_assert_outcome(resp, PD_HTTP_OK);
  ck_assert_int_eq(resp.status, 200);
  ck_assert(resp.sent);
  /* Seconds, not milliseconds: a plausible figure even on a loaded box. */
  ck_assert(resp.latency_s > 0 && resp.latency_s < 60);
  ck_assert_int_eq(yajl_complete_parse(sink.json), yajl_status_ok);
  ck_assert_ptr_nonnull(strstr(sink.data, "\"user\""));

  yajl_val root = sim_requests(&sim);
  yajl_val reqs = requests_array(root);
  ck_assert_uint_eq(reqs->u.array.len, 1);
  yajl_val e = reqs->u.array.values[0];
  ck_assert_str_eq(entry_str(e, "method"), "GET");
  ck_assert_str_eq(entry_str(e, "path"), "/users/me");
  ck_assert_str_eq(entry_str(e, "auth"), "ok");
  ck_assert_msg(entry_str(e, "from") == NULL, "From sent on a GET");
  ck_assert_str_eq(entry_str(e, "accept"),
                   "application/vnd.pagerduty+json;version=2");
  ck_assert_str_eq(entry_str(e, "content_type"), "application/json");
  ck_assert_msg(
      strncmp(entry_str(e, "user_agent"), "collectd-pagerduty/", 19) == 0,
      "user agent %s", entry_str(e, "user_agent"));
  yajl_tree_free(root);

  pd_http_stats_t st;
  pd_http_client_stats(c, &st);
  ck_assert_uint_eq(st.requests, 1);
  ck_assert_uint_eq(st.errors, 0);
  ck_assert(st.latency_sum_s == resp.latency_s);
  sink_free(&sink);
  pd_http_client_destroy(c);
  assert_no_secret_logged();
}
END_TEST

START_TEST(test_from_on_writes_only) {
  pd_http_client_t *c = sim_client();
  pd_http_client_set_from(c, "ops@example.com");
  pd_http_response_t resp;
  /* The body is deliberately incomplete: only the headers matter here. */
  do_request(c, "POST", "/incidents", "{\"incident\":{}}", NULL, 0, &resp);
  ck_assert_int_ne(resp.status, 0);
  do_request(c, "PUT", "/incidents/PNOTEXIST", "{}", NULL, 0, &resp);
  ck_assert_int_ne(resp.status, 0);
  get(c, "/abilities", &resp);
  ck_assert_outcome(resp, PD_HTTP_OK);

  yajl_val root = sim_requests(&sim);
  yajl_val reqs = requests_array(root);
  ck_assert_uint_eq(reqs->u.array.len, 3);
  ck_assert_str_eq(entry_str(reqs->u.array.values[0], "method"), "POST");
  ck_assert_str_eq(entry_str(reqs->u.array.values[0], "from"),
                   "ops@example.com");
  ck_assert_str_eq(entry_str(reqs->u.array.values[1], "method"), "PUT");
  ck_assert_str_eq(entry_str(reqs->u.array.values[1], "from"),
                   "ops@example.com");
  ck_assert_str_eq(entry_str(reqs->u.array.values[2], "method"), "GET");
  ck_assert(entry_str(reqs->u.array.values[2], "from") == NULL);
  for (size_t i = 0; i < 3; i++)
    ck_assert_str_eq(entry_str(reqs->u.array.values[i], "auth"), "ok");
  yajl_tree_free(root);

  /* No From configured: none sent on writes either. */
  pd_http_client_set_from(c, NULL);
  ck_assert_int_eq(pdsim_call(&sim, "DELETE", "/_sim/requests", NULL, NULL),
                   200);
  do_request(c, "POST", "/incidents", "{}", NULL, 0, &resp);
  root = sim_requests(&sim);
  reqs = requests_array(root);
  ck_assert_uint_eq(reqs->u.array.len, 1);
  ck_assert(entry_str(reqs->u.array.values[0], "from") == NULL);
  yajl_tree_free(root);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_exact_headers) {
  canned_t srv;
  canned_start(&srv, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: 2\r\nConnection: close\r\n\r\n{}");
  pd_http_client_t *c = make_client((client_opts_t){.url = canned_url(&srv)});
  pd_http_client_set_token(c, "u+SeCrEt-TOKEN");
  pd_http_client_set_from(c, "ops@example.com");
  pd_http_response_t resp;
  char v[512], req[sizeof(srv.request)];

  do_request(c, "POST", "/incidents", "{\"a\":1}", NULL, 0, &resp);
  ck_assert_outcome(resp, PD_HTTP_OK);
  canned_last_request(&srv, req, sizeof(req));
  ck_assert_msg(strncmp(req, "POST /incidents HTTP/1.1\r\n", 26) == 0, "%s",
                req);
  ck_assert_str_eq(canned_header(&srv, "Accept", v, sizeof(v)),
                   "application/vnd.pagerduty+json;version=2");
  ck_assert_str_eq(canned_header(&srv, "Content-Type", v, sizeof(v)),
                   "application/json");
  ck_assert_str_eq(canned_header(&srv, "Authorization", v, sizeof(v)),
                   "Token token=u+SeCrEt-TOKEN");
  ck_assert_str_eq(canned_header(&srv, "From", v, sizeof(v)),
                   "ops@example.com");
  ck_assert_ptr_nonnull(canned_header(&srv, "User-Agent", v, sizeof(v)));
  ck_assert_msg(strncmp(v, "collectd-pagerduty/", 19) == 0, "UA %s", v);
  ck_assert_ptr_null(canned_header(&srv, "Expect", v, sizeof(v)));
  ck_assert_ptr_nonnull(strstr(req, "\r\n\r\n{\"a\":1}"));

  do_request(c, "PUT", "/incidents/P1", "{}", NULL, 0, &resp);
  canned_last_request(&srv, req, sizeof(req));
  ck_assert_msg(strncmp(req, "PUT /incidents/P1 HTTP/1.1", 26) == 0, "%s", req);
  ck_assert_ptr_nonnull(canned_header(&srv, "From", v, sizeof(v)));

  get(c, "/users/me", &resp);
  canned_last_request(&srv, req, sizeof(req));
  ck_assert_msg(strncmp(req, "GET /users/me HTTP/1.1", 22) == 0, "%s", req);
  ck_assert_ptr_null(canned_header(&srv, "From", v, sizeof(v)));
  ck_assert_str_eq(canned_header(&srv, "Content-Type", v, sizeof(v)),
                   "application/json");

  /* Events API style: no token, no Authorization header at all. */
  pd_http_client_set_token(c, NULL);
  do_request(c, "POST", "/v2/enqueue", "{}", NULL, 0, &resp);
  ck_assert_ptr_null(canned_header(&srv, "Authorization", v, sizeof(v)));

  /* A token rotated in takes effect on the next request. */
  pd_http_client_set_token(c, "u+second");
  get(c, "/users/me", &resp);
  ck_assert_str_eq(canned_header(&srv, "Authorization", v, sizeof(v)),
                   "Token token=u+second");

  /* A line break in the token is never sent as a header. */
  int served = canned_served(&srv);
  pd_http_client_set_token(c, "u+bad\r\nX-Injected: 1");
  get(c, "/users/me", &resp);
  ck_assert_outcome(resp, PD_HTTP_PERMANENT);
  ck_assert(!resp.sent);
  ck_assert_int_eq(canned_served(&srv), served);

  pd_http_client_destroy(c);
  canned_stop(&srv);
  ck_assert(!stub_log_contains(-1, "SeCrEt"));
}
END_TEST

START_TEST(test_streaming_body_in_chunks) {
  ck_assert_int_eq(pdsim_reset(&sim, "{\"scenario\":\"large\"}"), 0);
  pd_http_client_t *c = sim_client();
  pd_http_response_t resp;
  sink_t sink;
  sink_init(&sink, true);
  do_request(c, "GET", "/services?limit=100", NULL, &sink, 0, &resp);
  ck_assert_outcome(resp, PD_HTTP_OK);
  ck_assert_int_eq(yajl_complete_parse(sink.json), yajl_status_ok);
  ck_assert_msg(sink.len > 32 * 1024, "body only %zu bytes", sink.len);
  ck_assert_msg(sink.chunks > 1, "%zu bytes in %zu chunk(s)", sink.len,
                sink.chunks);
  /* The same body as an unstreamed reader sees (minus what changes). */
  ck_assert_ptr_nonnull(strstr(sink.data, "\"services\""));
  sink_free(&sink);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_url_builder) {
  pd_url_t u;
  ck_assert_int_eq(pd_url_init(&u, "/incidents"), 0);
  ck_assert_int_eq(pd_url_add(&u, "statuses[]", "triggered"), 0);
  ck_assert_int_eq(pd_url_add(&u, "statuses[]", "acknowledged"), 0);
  ck_assert_int_eq(pd_url_add(&u, "since", "2024-01-01T00:00:00+01:00"), 0);
  ck_assert_int_eq(pd_url_add_int(&u, "limit", 100), 0);
  ck_assert_str_eq(u.buf, "/incidents?statuses%5B%5D=triggered&statuses%5B%5D"
                          "=acknowledged&since=2024-01-01T00%3A00%3A00%2B01"
                          "%3A00&limit=100");
  ck_assert_uint_eq(u.len, strlen(u.buf));
  pd_url_free(&u);

  ck_assert_int_eq(pd_url_init(&u, "/schedules/P1?x=1"), 0);
  ck_assert_int_eq(pd_url_add(&u, "query", "a b&c=d/é"), 0);
  ck_assert_str_eq(u.buf, "/schedules/P1?x=1&query=a%20b%26c%3Dd%2F%C3%A9");
  pd_url_free(&u);

  /* Many parameters: the buffer grows. */
  ck_assert_int_eq(pd_url_init(&u, "/services"), 0);
  for (int i = 0; i < 500; i++)
    ck_assert_int_eq(pd_url_add(&u, "team_ids[]", "PABCDEF"), 0);
  ck_assert_uint_eq(u.len, strlen("/services") +
                               500 * strlen("&team_ids%5B%5D=PABCDEF"));
  pd_url_free(&u);
}
END_TEST

START_TEST(test_url_filters_understood_by_simulator) {
  /* Escaped set filters are what PagerDuty clients send: the simulator must
   * apply them (only triggered incidents come back). */
  pd_http_client_t *c = sim_client();
  pd_url_t u;
  pd_url_init(&u, "/incidents");
  pd_url_add(&u, "statuses[]", "triggered");
  pd_url_add(&u, "date_range", "all");
  pd_url_add_int(&u, "limit", 100);
  sink_t sink;
  sink_init(&sink, true);
  pd_http_response_t resp;
  do_request(c, "GET", u.buf, NULL, &sink, 0, &resp);
  ck_assert_outcome(resp, PD_HTTP_OK);
  ck_assert_ptr_null(strstr(sink.data, "\"status\":\"acknowledged\""));
  ck_assert_ptr_null(strstr(sink.data, "\"status\": \"acknowledged\""));

  yajl_val root = sim_requests(&sim);
  yajl_val e = requests_array(root)->u.array.values[0];
  const char *qpath[] = {"query", "statuses[]", NULL};
  yajl_val q = pdsim_json_get(e, qpath);
  ck_assert_msg(YAJL_IS_ARRAY(q) && q->u.array.len == 1, "query not parsed");
  ck_assert_str_eq(q->u.array.values[0]->u.string, "triggered");
  yajl_tree_free(root);
  sink_free(&sink);
  pd_url_free(&u);
  pd_http_client_destroy(c);
}
END_TEST

/* ---- classification ----------------------------------------------------- */

START_TEST(test_bad_token_is_auth) {
  pd_http_client_t *c = sim_client();
  pd_http_client_set_token(c, "u+not-a-real-token");
  pd_http_response_t resp;
  get(c, "/users/me", &resp);
  ck_assert_outcome(resp, PD_HTTP_AUTH);
  ck_assert_int_eq(resp.status, 401);
  ck_assert_message_has(resp, "HTTP 401");
  ck_assert(!stub_log_contains(-1, "not-a-real-token"));

  yajl_val root = sim_requests(&sim);
  ck_assert_str_eq(entry_str(requests_array(root)->u.array.values[0], "auth"),
                   "invalid");
  yajl_tree_free(root);

  /* No token at all: 401 as well. */
  pd_http_client_set_token(c, NULL);
  get(c, "/users/me", &resp);
  ck_assert_outcome(resp, PD_HTTP_AUTH);
  pd_http_stats_t st;
  pd_http_client_stats(c, &st);
  ck_assert_uint_eq(st.requests, 2);
  ck_assert_uint_eq(st.errors, 2);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_revoked_token_is_auth) {
  pd_http_client_t *c = sim_client();
  pd_http_response_t resp;
  get(c, "/users/me", &resp);
  ck_assert_outcome(resp, PD_HTTP_OK);
  char body[512];
  snprintf(body, sizeof(body), "{\"token\":\"%s\"}", sim.token);
  ck_assert_int_eq(pdsim_call(&sim, "POST", "/_sim/tokens/revoke", body, NULL),
                   200);
  get(c, "/users/me", &resp);
  ck_assert_outcome(resp, PD_HTTP_AUTH);
  yajl_val root = sim_requests(&sim);
  yajl_val reqs = requests_array(root);
  ck_assert_str_eq(
      entry_str(reqs->u.array.values[reqs->u.array.len - 1], "auth"),
      "revoked");
  yajl_tree_free(root);
  pd_http_client_destroy(c);
  assert_no_secret_logged();
}
END_TEST

/* The user_id of the simulator's start token. */
static char *start_token_user(void) {
  yajl_val root = pdsim_get_json(&sim, "/_sim/tokens");
  ck_assert_ptr_nonnull(root);
  const char *path[] = {"tokens", NULL};
  yajl_val tokens = pdsim_json_get(root, path);
  ck_assert(YAJL_IS_ARRAY(tokens));
  char *user = NULL;
  for (size_t i = 0; i < tokens->u.array.len && user == NULL; i++) {
    const char *t = pdsim_json_string(tokens->u.array.values[i], "token");
    if (t != NULL && strcmp(t, sim.token) == 0)
      user = strdup(pdsim_json_string(tokens->u.array.values[i], "user_id"));
  }
  yajl_tree_free(root);
  ck_assert_ptr_nonnull(user);
  return user;
}

START_TEST(test_observer_write_is_permission) {
  char *user = start_token_user();
  char body[512];
  snprintf(body, sizeof(body),
           "{\"token\":\"u+observer-test-token\",\"kind\":\"user\","
           "\"user_id\":\"%s\",\"role\":\"observer\"}",
           user);
  long st = pdsim_call(&sim, "POST", "/_sim/tokens", body, NULL);
  ck_assert_msg(st >= 200 && st < 300, "add token: %ld", st);

  pd_http_client_t *c = sim_client();
  pd_http_client_set_token(c, "u+observer-test-token");
  pd_http_response_t resp;
  get(c, "/services", &resp);
  ck_assert_outcome(resp, PD_HTTP_OK); /* observers may read */
  do_request(c, "POST", "/incidents",
             "{\"incident\":{\"type\":\"incident\",\"title\":\"t\","
             "\"service\":{\"id\":\"PX\",\"type\":\"service_reference\"}}}",
             NULL, 0, &resp);
  ck_assert_outcome(resp, PD_HTTP_PERMISSION);
  ck_assert_int_eq(resp.status, 403);
  ck_assert_message_has(resp, "HTTP 403");
  free(user);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_not_found_is_permanent) {
  pd_http_client_t *c = sim_client();
  pd_http_response_t resp;
  get(c, "/services/PNOTEXIST", &resp);
  ck_assert_outcome(resp, PD_HTTP_PERMANENT);
  ck_assert_int_eq(resp.status, 404);
  ck_assert_message_has(resp, "HTTP 404: ");
  ck_assert_int_ne(resp.api_code, 0);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_injected_5xx_is_retry) {
  pd_http_client_t *c = sim_client();
  pd_http_response_t resp;
  const long statuses[] = {503, 500, 502, 408};
  for (size_t i = 0; i < 4; i++) {
    char fault[128];
    snprintf(fault, sizeof(fault),
             "{\"kind\":\"status\",\"status\":%ld,\"count\":1}", statuses[i]);
    ck_assert_int_eq(pdsim_fault(&sim, fault), 0);
    get(c, "/services", &resp);
    ck_assert_outcome(resp, PD_HTTP_RETRY);
    ck_assert_int_eq(resp.status, statuses[i]);
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "HTTP %ld: ", statuses[i]);
    ck_assert_message_has(resp, prefix);
    /* The message goes past the prefix: the body was explained. */
    ck_assert_uint_gt(strlen(resp.message), strlen(prefix));
  }
  get(c, "/services", &resp); /* the fault is used up */
  ck_assert_outcome(resp, PD_HTTP_OK);
  pd_http_stats_t st;
  pd_http_client_stats(c, &st);
  ck_assert_uint_eq(st.requests, 5);
  ck_assert_uint_eq(st.errors, 4);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_fault_limited_to_path_and_method) {
  pd_http_client_t *c = sim_client();
  ck_assert_int_eq(
      pdsim_fault(&sim, "{\"kind\":\"status\",\"status\":503,\"count\":-1,"
                        "\"path\":\"/incidents\",\"method\":\"GET\"}"),
      0);
  pd_http_response_t resp;
  get(c, "/services", &resp);
  ck_assert_outcome(resp, PD_HTTP_OK);
  get(c, "/incidents", &resp);
  ck_assert_outcome(resp, PD_HTTP_RETRY);
  ck_assert_int_eq(pdsim_clear_faults(&sim), 0);
  get(c, "/incidents", &resp);
  ck_assert_outcome(resp, PD_HTTP_OK);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_429_with_headers) {
  pd_http_client_t *c = sim_client();
  ck_assert_int_eq(pdsim_fault(&sim, "{\"kind\":\"ratelimit\",\"count\":1,"
                                     "\"headers\":true,\"reset\":60}"),
                   0);
  pd_http_response_t resp;
  get(c, "/services", &resp);
  double answered = now_s();
  ck_assert_outcome(resp, PD_HTTP_RETRY);
  ck_assert_int_eq(resp.status, 429);
  ck_assert_int_eq(resp.ratelimit_reset, 60);
  ck_assert_int_eq(resp.ratelimit_remaining, 0);
  ck_assert(resp.retry_after_s == 60.0);
  pd_http_stats_t st;
  pd_http_client_stats(c, &st);
  ck_assert_uint_eq(st.throttled, 1);
  ck_assert_uint_eq(st.errors, 1);
  ck_assert_int_eq(st.ratelimit_remaining, 0);

  /* Until the reset, nothing is sent when the caller will not wait. */
  get(c, "/services", &resp);
  ck_assert_outcome(resp, PD_HTTP_RETRY);
  ck_assert(!resp.sent);
  ck_assert_message_has(resp, "rate limited");
  /* What is left of the 60 s: however long the machine took in between. */
  double between = now_s() - answered;
  ck_assert_msg(resp.retry_after_s >= 60 - between - 0.01 &&
                    resp.retry_after_s <= 60,
                "retry after %g, %.2f s later", resp.retry_after_s, between);
  pd_http_client_stats(c, &st);
  ck_assert_uint_eq(st.requests, 1);
  ck_assert_uint_eq(st.refused, 1);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_429_retry_after_only) {
  pd_http_client_t *c = sim_client();
  ck_assert_int_eq(pdsim_fault(&sim, "{\"kind\":\"ratelimit\",\"count\":1,"
                                     "\"headers\":false,\"retry_after\":4}"),
                   0);
  pd_http_response_t resp;
  get(c, "/services", &resp);
  ck_assert_outcome(resp, PD_HTTP_RETRY);
  ck_assert_int_eq(resp.status, 429);
  ck_assert_int_eq(resp.ratelimit_reset, -1);
  ck_assert(resp.retry_after_s == 4.0);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_429_without_headers_backs_off) {
  pd_http_client_t *c = sim_client();
  ck_assert_int_eq(pdsim_fault(&sim, "{\"kind\":\"ratelimit\",\"count\":2,"
                                     "\"headers\":false}"),
                   0);
  pd_http_response_t resp;
  get(c, "/services", &resp);
  ck_assert_outcome(resp, PD_HTTP_RETRY);
  ck_assert_int_eq(resp.status, 429);
  ck_assert(resp.retry_after_s == 1.0);

  /* Willing to wait 3 s: waits out the 1 s, is throttled again: 2 s. */
  double t0 = now_s();
  do_request(c, "GET", "/services", NULL, NULL, 3, &resp);
  double waited = now_s() - t0;
  ck_assert_int_eq(resp.status, 429);
  ck_assert(resp.retry_after_s == 2.0);
  ck_assert_msg(waited >= 0.9 && waited < 2.5, "waited %.2f s", waited);

  /* The third waits 2 s and succeeds; the streak is over. */
  t0 = now_s();
  do_request(c, "GET", "/services", NULL, NULL, 3, &resp);
  waited = now_s() - t0;
  ck_assert_outcome(resp, PD_HTTP_OK);
  ck_assert_msg(waited >= 1.9 && waited < 3.5, "waited %.2f s", waited);
  pd_http_stats_t st;
  pd_http_client_stats(c, &st);
  ck_assert_uint_eq(st.throttled, 2);
  ck_assert_uint_eq(st.requests, 3);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_retry_after_http_date) {
  /* A date 60 s ahead; the wait is derived from the wall clock. */
  char date[64], response[512];
  time_t when = time(NULL) + 60;
  struct tm tm;
  gmtime_r(&when, &tm);
  strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  snprintf(response, sizeof(response),
           "HTTP/1.1 503 Service Unavailable\r\nretry-after: %s\r\n"
           "RateLimit-Limit: 960\r\nRATELIMIT-REMAINING: 17\r\n"
           "Content-Length: 0\r\nConnection: close\r\n\r\n",
           date);
  canned_t srv;
  canned_start(&srv, response);
  pd_http_client_t *c = make_client((client_opts_t){.url = canned_url(&srv)});
  pd_http_response_t resp;
  get(c, "/services", &resp);
  time_t after = time(NULL);
  ck_assert_outcome(resp, PD_HTTP_RETRY);
  ck_assert_str_eq(resp.message, "HTTP 503");
  /* The date has whole seconds: up to 1 s less than "when - after", and no
   * more than 60 s, however long the request took. */
  ck_assert_msg(resp.retry_after_s >= (double)(when - after) - 1 &&
                    resp.retry_after_s <= 60,
                "retry after %g, %ld s left", resp.retry_after_s,
                (long)(when - after));
  ck_assert_int_eq(resp.ratelimit_limit, 960);
  ck_assert_int_eq(resp.ratelimit_remaining, 17);
  ck_assert_int_eq(resp.ratelimit_reset, -1);
  pd_http_client_destroy(c);
  canned_stop(&srv);
}
END_TEST

START_TEST(test_hang_times_out) {
  pd_http_client_t *c =
      make_client((client_opts_t){.url = sim.url, .timeout_ms = 500});
  pd_http_client_set_token(c, sim.token);
  ck_assert_int_eq(pdsim_fault(&sim, "{\"kind\":\"hang\",\"count\":1}"), 0);
  pd_http_response_t resp;
  double t0 = now_s();
  get(c, "/services", &resp);
  double took = now_s() - t0;
  ck_assert_int_eq(pdsim_clear_faults(&sim), 0); /* release the hang */
  ck_assert_outcome(resp, PD_HTTP_RETRY);
  ck_assert_int_eq(resp.status, 0);
  ck_assert(resp.sent);
  ck_assert_message_has(resp, "timeout after 500 ms");
  /* The hang lasts until cleared: any end before the test's own timeout
   * is the client's; the upper bound is loose for a loaded machine. */
  ck_assert_msg(took >= 0.45 && took < 20, "took %.2f s", took);
  /* The client is still usable afterwards. */
  get(c, "/services", &resp);
  ck_assert_outcome(resp, PD_HTTP_OK);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_connection_reset_is_retry) {
  pd_http_client_t *c = sim_client();
  ck_assert_int_eq(pdsim_fault(&sim, "{\"kind\":\"reset\",\"count\":1}"), 0);
  pd_http_response_t resp;
  get(c, "/services", &resp);
  ck_assert_outcome(resp, PD_HTTP_RETRY);
  ck_assert_int_eq(resp.status, 0);
  ck_assert(resp.sent);
  get(c, "/services", &resp);
  ck_assert_outcome(resp, PD_HTTP_OK);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_truncated_body_is_retry) {
  pd_http_client_t *c = sim_client();
  ck_assert_int_eq(pdsim_fault(&sim, "{\"kind\":\"truncate\",\"count\":1}"), 0);
  pd_http_response_t resp;
  sink_t sink;
  sink_init(&sink, true);
  do_request(c, "GET", "/services", NULL, &sink, 0, &resp);
  ck_assert_outcome(resp, PD_HTTP_RETRY);
  ck_assert_message_has(resp, "truncated");
  /* What arrived was not a whole document: a caller finishing its parser
   * only on PD_HTTP_OK never takes it for one. */
  ck_assert(yajl_complete_parse(sink.json) != yajl_status_ok);
  sink_free(&sink);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_garbage_body_is_permanent) {
  pd_http_client_t *c = sim_client();
  ck_assert_int_eq(pdsim_fault(&sim, "{\"kind\":\"garbage\",\"count\":1}"), 0);
  pd_http_response_t resp;
  sink_t sink;
  sink_init(&sink, true);
  do_request(c, "GET", "/services", NULL, &sink, 0, &resp);
  ck_assert_outcome(resp, PD_HTTP_PERMANENT);
  ck_assert_int_eq(resp.status, 200);
  ck_assert_message_has(resp, "malformed JSON");
  ck_assert_ptr_null(strchr(resp.message, '\n'));
  sink_free(&sink);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_html_error_page) {
  pd_http_client_t *c = sim_client();
  ck_assert_int_eq(
      pdsim_fault(&sim, "{\"kind\":\"html\",\"status\":502,\"count\":1}"), 0);
  pd_http_response_t resp;
  sink_t sink;
  sink_init(&sink, true);
  do_request(c, "GET", "/services", NULL, &sink, 0, &resp);
  ck_assert_outcome(resp, PD_HTTP_RETRY);
  ck_assert_int_eq(resp.status, 502);
  ck_assert_message_has(resp, "HTTP 502: ");
  ck_assert_ptr_null(strchr(resp.message, '<')); /* the title, not markup */
  ck_assert_uint_eq(sink.len, 0); /* error bodies never reach the parser */
  sink_free(&sink);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_notjson_401) {
  pd_http_client_t *c = sim_client();
  ck_assert_int_eq(pdsim_fault(&sim, "{\"kind\":\"notjson401\",\"count\":1}"),
                   0);
  pd_http_response_t resp;
  get(c, "/services", &resp);
  ck_assert_outcome(resp, PD_HTTP_AUTH);
  ck_assert_int_eq(resp.status, 401);
  ck_assert_message_has(resp, "HTTP 401: ");
  ck_assert_uint_gt(strlen(resp.message), strlen("HTTP 401: "));
  ck_assert_int_eq(resp.api_code, 0);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_response_cap) {
  pd_http_client_t *c =
      make_client((client_opts_t){.url = sim.url, .max_response = 100});
  pd_http_client_set_token(c, sim.token);
  pd_http_response_t resp;
  sink_t sink;
  sink_init(&sink, false);
  do_request(c, "GET", "/services", NULL, &sink, 0, &resp);
  ck_assert_outcome(resp, PD_HTTP_PERMANENT);
  ck_assert_message_has(resp, "larger than 100 bytes");
  ck_assert_uint_le(sink.len, 100);
  sink_free(&sink);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_response_cap_chunked) {
  /* No Content-Length: the cap is enforced while streaming. */
  static char response[4096];
  char chunk[1100];
  memset(chunk, 'x', 1000);
  chunk[1000] = '\0';
  snprintf(response, sizeof(response),
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
           "Connection: close\r\n\r\n3e8\r\n%s\r\n3e8\r\n%s\r\n0\r\n\r\n",
           chunk, chunk);
  canned_t srv;
  canned_start(&srv, response);
  pd_http_client_t *c = make_client(
      (client_opts_t){.url = canned_url(&srv), .max_response = 1500});
  pd_http_response_t resp;
  sink_t sink;
  sink_init(&sink, false);
  do_request(c, "GET", "/x", NULL, &sink, 0, &resp);
  ck_assert_outcome(resp, PD_HTTP_PERMANENT);
  ck_assert_message_has(resp, "larger than 1500 bytes");
  ck_assert_uint_le(sink.len, 1500);
  sink_free(&sink);
  pd_http_client_destroy(c);
  canned_stop(&srv);
}
END_TEST

START_TEST(test_error_body_echoing_token_is_scrubbed) {
  canned_t srv;
  canned_start(&srv, "HTTP/1.1 400 Bad Request\r\nContent-Length: 45\r\n"
                     "Connection: close\r\n\r\n"
                     "{\"error\":\"bad token u+EchoedSecret99 given\"}");
  pd_http_client_t *c = make_client((client_opts_t){.url = canned_url(&srv)});
  pd_http_client_set_token(c, "u+EchoedSecret99");
  pd_http_response_t resp;
  get(c, "/users/me", &resp);
  ck_assert_outcome(resp, PD_HTTP_PERMANENT);
  ck_assert_msg(strstr(resp.message, "EchoedSecret") == NULL, "%s",
                resp.message);
  ck_assert_message_has(resp, "bad token");
  pd_http_client_destroy(c);
  canned_stop(&srv);
}
END_TEST

START_TEST(test_redirect_not_followed) {
  canned_t srv;
  canned_start(&srv, "HTTP/1.1 301 Moved Permanently\r\n"
                     "Location: http://127.0.0.1:1/elsewhere\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n");
  pd_http_client_t *c = make_client((client_opts_t){.url = canned_url(&srv)});
  pd_http_response_t resp;
  get(c, "/users/me", &resp);
  ck_assert_outcome(resp, PD_HTTP_PERMANENT);
  ck_assert_int_eq(resp.status, 301);
  /* Counted before the 301 was written, so already 1 here; a followed
   * redirect would have gone elsewhere, and a retry would make it 2. */
  ck_assert_int_eq(canned_served(&srv), 1);
  pd_http_client_destroy(c);
  canned_stop(&srv);
}
END_TEST

/* ---- rate limiting ------------------------------------------------------ */

START_TEST(test_local_ceiling) {
  pd_http_client_t *c =
      make_client((client_opts_t){.url = sim.url, .per_minute = 5});
  pd_http_client_set_token(c, sim.token);
  pd_http_response_t resp;
  double first = now_s();
  for (int i = 0; i < 5; i++) {
    get(c, "/abilities", &resp);
    ck_assert_outcome(resp, PD_HTTP_OK);
  }
  get(c, "/abilities", &resp);
  double spent = now_s() - first;
  ck_assert_outcome(resp, PD_HTTP_RETRY);
  ck_assert(!resp.sent);
  ck_assert_int_eq(resp.status, 0);
  ck_assert_message_has(resp, "ceiling");
  /* The first slot frees 60 s after it was taken, however long the six
   * requests took on this machine. */
  ck_assert_msg(
      resp.retry_after_s >= 60 - spent - 0.01 && resp.retry_after_s <= 60,
      "retry after %g, %.2f s after the first", resp.retry_after_s, spent);

  pd_http_stats_t st;
  pd_http_client_stats(c, &st);
  ck_assert_uint_eq(st.requests, 5);
  ck_assert_uint_eq(st.errors, 0);
  ck_assert_uint_eq(st.refused, 1);

  yajl_val root = sim_requests(&sim);
  ck_assert_uint_eq(requests_array(root)->u.array.len, 5);
  yajl_tree_free(root);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_ratelimit_remaining_recorded) {
  ck_assert_int_eq(
      pdsim_call(&sim, "POST", "/_sim/ratelimit", "{\"per_minute\":500}", NULL),
      200);
  pd_http_client_t *c = sim_client();
  pd_http_response_t resp;
  get(c, "/abilities", &resp);
  ck_assert_outcome(resp, PD_HTTP_OK);
  ck_assert_int_eq(resp.ratelimit_limit, 500);
  long first = resp.ratelimit_remaining;
  ck_assert_msg(first >= 0 && first < 500, "remaining %ld", first);
  get(c, "/abilities", &resp);
  ck_assert_int_eq(resp.ratelimit_remaining, first - 1);
  ck_assert_int_ge(resp.ratelimit_reset, 0);
  pd_http_stats_t st;
  pd_http_client_stats(c, &st);
  ck_assert_int_eq(st.ratelimit_remaining, first - 1);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_server_budget_exhausted) {
  /* A budget of 3: the simulator answers 429 once it is spent, and we
   * must stop sending before that, on ratelimit-remaining 0. */
  ck_assert_int_eq(
      pdsim_call(&sim, "POST", "/_sim/ratelimit", "{\"per_minute\":3}", NULL),
      200);
  pd_http_client_t *c = sim_client();
  pd_http_response_t resp;
  int ok = 0;
  for (int i = 0; i < 5; i++) {
    get(c, "/abilities", &resp);
    if (resp.outcome == PD_HTTP_OK)
      ok++;
    else
      break;
  }
  ck_assert_int_eq(ok, 3);
  ck_assert_outcome(resp, PD_HTTP_RETRY);
  ck_assert_msg(!resp.sent, "sent into an exhausted budget: %s", resp.message);
  ck_assert(resp.retry_after_s > 0);
  pd_http_stats_t st;
  pd_http_client_stats(c, &st);
  ck_assert_uint_eq(st.throttled, 0);
  pd_http_client_destroy(c);
}
END_TEST

typedef struct {
  pd_http_client_t *client;
  double max_wait;
  pd_http_response_t resp;
  double took;
} waiter_t;

static void *wait_in_thread(void *arg) {
  waiter_t *w = arg;
  pd_http_request_t req = {
      .method = "GET", .path = "/abilities", .max_wait_s = w->max_wait};
  double t0 = now_s();
  pd_http_perform(w->client, &req, &w->resp);
  w->took = now_s() - t0;
  return NULL;
}

/* Polls until a request of c waits on the rate limit; false after
 * timeout_s (a bound for a broken client, not a guess at timing). */
static bool wait_for_waiting(pd_http_client_t *c, double timeout_s) {
  double end = now_s() + timeout_s;
  pd_http_stats_t st;
  do {
    pd_http_client_stats(c, &st);
    if (st.waiting > 0)
      return true;
    usleep(10 * 1000);
  } while (now_s() < end);
  return false;
}

/* Polls until the simulator has no fault armed (a hang was taken: the
 * request is in flight); false after timeout_s. */
static bool wait_for_fault_taken(double timeout_s) {
  double end = now_s() + timeout_s;
  do {
    yajl_val root = pdsim_get_json(&sim, "/_sim/faults");
    const char *path[] = {"faults", NULL};
    yajl_val faults = pdsim_json_get(root, path);
    bool taken = YAJL_IS_ARRAY(faults) && faults->u.array.len == 0;
    yajl_tree_free(root);
    if (taken)
      return true;
    usleep(20 * 1000);
  } while (now_s() < end);
  return false;
}

START_TEST(test_cancel_wakes_waiting_request) {
  pd_http_client_t *c =
      make_client((client_opts_t){.url = sim.url, .per_minute = 1});
  pd_http_client_set_token(c, sim.token);
  pd_http_response_t resp;
  get(c, "/abilities", &resp);
  ck_assert_outcome(resp, PD_HTTP_OK);

  /* The next slot is 60 s away; the waiter would wait that long. */
  waiter_t w = {.client = c, .max_wait = 120};
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, wait_in_thread, &w), 0);
  /* Cancel only once the waiter is in its wait (the stats, readable while
   * a request waits, say so), not after a guessed sleep. */
  pd_http_stats_t st;
  ck_assert_msg(wait_for_waiting(c, 20), "the request never began to wait");
  pd_http_client_stats(c, &st);
  ck_assert_uint_eq(st.requests, 1);
  pd_http_client_cancel(c);
  pthread_join(t, NULL);
  ck_assert_outcome(w.resp, PD_HTTP_RETRY);
  ck_assert(!w.resp.sent);
  ck_assert_message_has(w.resp, "cancelled");
  /* Woken, not left to the 60 s slot (a loose bound for a loaded box). */
  ck_assert_msg(w.took < 30, "took %.2f s", w.took);
  pd_http_client_stats(c, &st);
  ck_assert_uint_eq(st.waiting, 0);

  /* Cancelled for good: later requests are refused without sending. */
  get(c, "/abilities", &resp);
  ck_assert_outcome(resp, PD_HTTP_RETRY);
  ck_assert(!resp.sent);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_cancel_aborts_transfer_in_flight) {
  pd_http_client_t *c =
      make_client((client_opts_t){.url = sim.url, .timeout_ms = 60000});
  pd_http_client_set_token(c, sim.token);
  ck_assert_int_eq(pdsim_fault(&sim, "{\"kind\":\"hang\",\"count\":1}"), 0);
  waiter_t w = {.client = c, .max_wait = 0};
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, wait_in_thread, &w), 0);
  /* Cancel once the request hangs in the simulator, not after a guess. */
  bool in_flight = wait_for_fault_taken(20);
  pd_http_client_cancel(c);
  pthread_join(t, NULL);
  ck_assert_int_eq(pdsim_clear_faults(&sim), 0);
  ck_assert_msg(in_flight, "the request never reached the simulator");
  ck_assert_outcome(w.resp, PD_HTTP_RETRY);
  ck_assert_message_has(w.resp, "cancelled");
  /* Aborted, not left to the 60 s timeout (loose for a loaded box). */
  ck_assert_msg(w.took < 20, "took %.2f s", w.took);
  pd_http_client_destroy(c);
}
END_TEST

/* ---- connections --------------------------------------------------------- */

START_TEST(test_connection_refused_is_retry) {
  int fd;
  int port = listen_loopback(&fd);
  close(fd); /* nothing listens there now */
  char url[64];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
  pd_http_client_t *c = make_client((client_opts_t){.url = url});
  pd_http_response_t resp;
  get(c, "/users/me", &resp);
  ck_assert_outcome(resp, PD_HTTP_RETRY);
  ck_assert_int_eq(resp.status, 0);
  ck_assert_message_has(resp, "connection to 127.0.0.1 failed");
  pd_http_stats_t st;
  pd_http_client_stats(c, &st);
  ck_assert_uint_eq(st.requests, 1);
  ck_assert_uint_eq(st.errors, 1);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_bad_base_url) {
  pd_http_options_t opts = {.base_url = "http://[::1", .log_name = "x"};
  ck_assert_ptr_null(pd_http_client_create(&opts));
  ck_assert(stub_log_contains(LOG_ERR, "cannot parse the URL"));
  ck_assert_str_eq(pd_http_outcome_name(PD_HTTP_PERMISSION), "permission");
  ck_assert_str_eq(pd_http_outcome_name(PD_HTTP_OK), "ok");
}
END_TEST

/* ---- TLS ------------------------------------------------------------------
 */

START_TEST(test_tls_right_ca_accepted) {
  pd_http_client_t *c = make_client((client_opts_t){.url = tls_sim.url,
                                                    .cacert = certs.ca_cert,
                                                    .verify_peer = true,
                                                    .verify_host = true});
  pd_http_client_set_token(c, tls_sim.token);
  pd_http_response_t resp;
  get(c, "/users/me", &resp);
  ck_assert_outcome(resp, PD_HTTP_OK);
  pd_http_client_destroy(c);

  /* By name as well: the certificate's SAN has localhost. */
  char url[300];
  const char *port = strrchr(tls_sim.url, ':');
  snprintf(url, sizeof(url), "https://localhost%s", port);
  c = make_client((client_opts_t){.url = url,
                                  .cacert = certs.ca_cert,
                                  .verify_peer = true,
                                  .verify_host = true});
  pd_http_client_set_token(c, tls_sim.token);
  get(c, "/users/me", &resp);
  ck_assert_outcome(resp, PD_HTTP_OK);
  pd_http_client_destroy(c);
  assert_no_secret_logged();
}
END_TEST

START_TEST(test_tls_wrong_ca_refused) {
  pd_http_client_t *c =
      make_client((client_opts_t){.url = tls_sim.url,
                                  .cacert = certs.other_ca_cert,
                                  .verify_peer = true,
                                  .verify_host = true});
  pd_http_client_set_token(c, tls_sim.token);
  pd_http_response_t resp;
  get(c, "/users/me", &resp);
  ck_assert_outcome(resp, PD_HTTP_PERMANENT);
  ck_assert_int_eq(resp.status, 0);
  ck_assert_message_has(resp, "TLS verification of 127.0.0.1 failed");
  ck_assert_message_has(resp, "certificate");
  ck_assert_message_has(resp, "CACert");
  pd_http_client_destroy(c);

  /* The system's CAs do not know the test CA either. */
  c = make_client((client_opts_t){
      .url = tls_sim.url, .verify_peer = true, .verify_host = true});
  get(c, "/users/me", &resp);
  ck_assert_outcome(resp, PD_HTTP_PERMANENT);
  pd_http_client_destroy(c);

  /* The request never reached the application. */
  yajl_val root = sim_requests(&tls_sim);
  ck_assert_uint_eq(requests_array(root)->u.array.len, 0);
  yajl_tree_free(root);
}
END_TEST

START_TEST(test_tls_verify_peer_off) {
  pd_http_client_t *c =
      make_client((client_opts_t){.url = tls_sim.url,
                                  .cacert = certs.other_ca_cert,
                                  .verify_peer = false,
                                  .verify_host = false});
  pd_http_client_set_token(c, tls_sim.token);
  pd_http_response_t resp;
  get(c, "/users/me", &resp);
  ck_assert_outcome(resp, PD_HTTP_OK);
  pd_http_client_destroy(c);
}
END_TEST

START_TEST(test_tls_verify_host) {
  /* The right CA, but a certificate for another name. */
  pdsim_certs_t wrong = certs;
  strcpy(wrong.server_cert, certs.wrong_host_cert);
  strcpy(wrong.server_key, certs.wrong_host_key);
  pdsim_t other;
  ck_assert_int_eq(pdsim_start(&other, "demo", &wrong), 0);
  pd_http_client_t *c = make_client((client_opts_t){.url = other.url,
                                                    .cacert = certs.ca_cert,
                                                    .verify_peer = true,
                                                    .verify_host = true});
  pd_http_client_set_token(c, other.token);
  pd_http_response_t resp;
  get(c, "/users/me", &resp);
  ck_assert_outcome(resp, PD_HTTP_PERMANENT);
  ck_assert_message_has(resp, "TLS verification of 127.0.0.1 failed");
  pd_http_client_destroy(c);

  /* VerifyHost false accepts it (the chain is still checked). */
  c = make_client((client_opts_t){.url = other.url,
                                  .cacert = certs.ca_cert,
                                  .verify_peer = true,
                                  .verify_host = false});
  pd_http_client_set_token(c, other.token);
  get(c, "/users/me", &resp);
  ck_assert_outcome(resp, PD_HTTP_OK);
  pd_http_client_destroy(c);
  pdsim_stop(&other);
}
END_TEST

/* ---- suite -------------------------------------------------------------- */

static Suite *http_suite(void) {
  Suite *s = suite_create("http");

  TCase *tc = tcase_create("offline");
  tcase_add_checked_fixture(tc, stub_log_reset, NULL);
  tcase_add_test(tc, test_exact_headers);
  tcase_add_test(tc, test_url_builder);
  tcase_add_test(tc, test_retry_after_http_date);
  tcase_add_test(tc, test_response_cap_chunked);
  tcase_add_test(tc, test_error_body_echoing_token_is_scrubbed);
  tcase_add_test(tc, test_redirect_not_followed);
  tcase_add_test(tc, test_connection_refused_is_retry);
  tcase_add_test(tc, test_bad_base_url);
  tcase_set_timeout(tc, 20);
  suite_add_tcase(s, tc);

  tc = tcase_create("simulator");
  tcase_add_unchecked_fixture(tc, sim_up, sim_down);
  tcase_add_checked_fixture(tc, sim_fresh, NULL);
  tcase_add_test(tc, test_get_users_me);
  tcase_add_test(tc, test_from_on_writes_only);
  tcase_add_test(tc, test_streaming_body_in_chunks);
  tcase_add_test(tc, test_url_filters_understood_by_simulator);
  tcase_add_test(tc, test_bad_token_is_auth);
  tcase_add_test(tc, test_revoked_token_is_auth);
  tcase_add_test(tc, test_observer_write_is_permission);
  tcase_add_test(tc, test_not_found_is_permanent);
  tcase_add_test(tc, test_injected_5xx_is_retry);
  tcase_add_test(tc, test_fault_limited_to_path_and_method);
  tcase_add_test(tc, test_429_with_headers);
  tcase_add_test(tc, test_429_retry_after_only);
  tcase_add_test(tc, test_429_without_headers_backs_off);
  tcase_add_test(tc, test_hang_times_out);
  tcase_add_test(tc, test_connection_reset_is_retry);
  tcase_add_test(tc, test_truncated_body_is_retry);
  tcase_add_test(tc, test_garbage_body_is_permanent);
  tcase_add_test(tc, test_html_error_page);
  tcase_add_test(tc, test_notjson_401);
  tcase_add_test(tc, test_response_cap);
  tcase_add_test(tc, test_local_ceiling);
  tcase_add_test(tc, test_ratelimit_remaining_recorded);
  tcase_add_test(tc, test_server_budget_exhausted);
  tcase_add_test(tc, test_cancel_wakes_waiting_request);
  tcase_add_test(tc, test_cancel_aborts_transfer_in_flight);
  tcase_set_timeout(tc, 30);
  suite_add_tcase(s, tc);

  tc = tcase_create("tls");
  tcase_add_unchecked_fixture(tc, tls_up, tls_down);
  tcase_add_checked_fixture(tc, tls_fresh, NULL);
  tcase_add_test(tc, test_tls_right_ca_accepted);
  tcase_add_test(tc, test_tls_wrong_ca_refused);
  tcase_add_test(tc, test_tls_verify_peer_off);
  tcase_add_test(tc, test_tls_verify_host);
  tcase_set_timeout(tc, 30);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (pd_http_global_init() != 0)
    return EXIT_FAILURE;
  SRunner *sr = srunner_create(http_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  pd_http_global_cleanup();
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
