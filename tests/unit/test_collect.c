/* SPDX-License-Identifier: MIT */
/*
 * test_collect.c - the read side end to end against the PagerDuty
 * simulator: pd_account_read() with a recording sink, the requests it
 * makes (from the simulator's request log), the series it dispatches
 * compared with the simulator's own state, failures, rate limits, the
 * doc/contract.md §7 messages and the doc/contract.md §5 notifications.
 */
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"

#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "daemon_stubs.h"
#include "pd_account.h"
#include "pd_collect.h"
#include "pdsim_fixture.h"
#include "series_fixture.h"

static pdsim_t sim;

#define DAY 86400.0

/* --- recording sinks ------------------------------------------------------ */

/* Metrics: series_fixture.h's recorder, expecting host "pdhost" and plugin
 * instance "acme" (start_account). */
static const series_metric_t *find_metric(series_recorder_t *r,
                                          const char *ti) {
  const series_metric_t *m = series_recorder_find(r, ti);
  ck_assert_msg(r->problem[0] == '\0', "%s", r->problem);
  return m;
}

static bool has_series(series_recorder_t *r, const char *ti) {
  return find_metric(r, ti) != NULL;
}

static double value_of(series_recorder_t *r, const char *type, const char *ti) {
  const series_metric_t *m = find_metric(r, ti);
  ck_assert_msg(m != NULL, "series %s missing", ti);
  ck_assert_msg(strcmp(m->type, type) == 0, "%s has type %s, not %s", ti,
                m->type, type);
  return m->value;
}

typedef struct {
  pd_notif_severity_t severity;
  char host[64], plugin_instance[64], type[64], type_instance[128];
  char message[PD_NOTIF_MESSAGE_MAX];
} rec_notif_t;

typedef struct {
  rec_notif_t items[256];
  size_t num;
} notif_recorder_t;

static int record_notif(void *ctx, const pd_notification_t *n) {
  notif_recorder_t *r = ctx;
  ck_assert_uint_lt(r->num, 256);
  rec_notif_t *x = &r->items[r->num++];
  x->severity = n->severity;
  snprintf(x->host, sizeof(x->host), "%s", n->host);
  snprintf(x->plugin_instance, sizeof(x->plugin_instance), "%s",
           n->plugin_instance);
  snprintf(x->type, sizeof(x->type), "%s", n->type);
  snprintf(x->type_instance, sizeof(x->type_instance), "%s", n->type_instance);
  snprintf(x->message, sizeof(x->message), "%s", n->message);
  return 0;
}

static const rec_notif_t *find_notif(const notif_recorder_t *r,
                                     const char *ti) {
  for (size_t i = 0; i < r->num; i++)
    if (strcmp(r->items[i].type_instance, ti) == 0)
      return &r->items[i];
  return NULL;
}

/* --- an account against the simulator ------------------------------------- */

typedef struct {
  pd_account_config_t cfg;
  char token[256];
  char *teams[4];
  pd_account_t *acct;
  series_recorder_t rec;
  notif_recorder_t notifs;
  pd_metric_sink_t sink;
  pd_notification_sink_t nsink;
} fixture_t;

static fixture_t fx;

/* A configuration like doc/contract.md §3's defaults, for the simulator. */
static void configure(const char *token) {
  memset(&fx, 0, sizeof(fx));
  snprintf(fx.token, sizeof(fx.token), "%s", token);
  fx.cfg = (pd_account_config_t){
      .name = "acme",
      .token_source = PD_TOKEN_FROM_CONFIG,
      .token = fx.token,
      .url = sim.url,
      .teams = fx.teams,
      .host = "pdhost",
      .interval_s = 60,
      .slow_interval_s = 300,
      .coverage_window_s = 604800,
      .trend_window_s = 86400,
      .collect = PD_COLLECT_ALL,
      .instance_by = PD_INSTANCE_BY_NAME,
      .max_requests_per_minute = 600,
      .transport = {.timeout_ms = 10000,
                    .verify_peer = true,
                    .verify_host = true},
  };
}

static void add_team_option(const char *team) {
  fx.teams[fx.cfg.teams_num++] = (char *)team;
}

static void start_account(void) {
  fx.acct = pd_account_create(&fx.cfg);
  ck_assert_msg(fx.acct != NULL, "%s", stub_log_dump());
  fx.rec.host = "pdhost";
  fx.rec.plugin_instance = "acme";
  fx.sink = (pd_metric_sink_t){.emit = series_record, .ctx = &fx.rec};
  fx.nsink = (pd_notification_sink_t){.emit = record_notif, .ctx = &fx.notifs};
  pd_account_set_notification_sink(fx.acct, &fx.nsink);
  pd_account_set_interval(fx.acct, fx.cfg.interval_s);
}

static void cycle(void) {
  series_recorder_free(&fx.rec);
  fx.notifs.num = 0;
  ck_assert_int_eq(pd_account_read(fx.acct, &fx.sink), 0);
  ck_assert_msg(fx.rec.problem[0] == '\0', "%s", fx.rec.problem);
}

static void stop_account(void) {
  pd_account_destroy(fx.acct);
  fx.acct = NULL;
  series_recorder_free(&fx.rec);
}

static double api_up(void) { return value_of(&fx.rec, "gauge", "api-up"); }

/* --- the simulator's request log and state -------------------------------- */

static void reset_sim(const char *scenario) {
  char json[128];
  snprintf(json, sizeof(json), "{\"scenario\":\"%s\",\"seed\":1}", scenario);
  ck_assert_int_eq(pdsim_reset(&sim, json), 0);
  stub_log_reset();
}

static void clear_requests(void) {
  ck_assert_int_eq(pdsim_call(&sim, "DELETE", "/_sim/requests", NULL, NULL),
                   200);
}

static yajl_val requests(void) {
  yajl_val log = pdsim_get_json(&sim, "/_sim/requests");
  ck_assert_ptr_nonnull(log);
  const char *path[] = {"requests", NULL};
  yajl_val list = pdsim_json_get(log, path);
  ck_assert(YAJL_IS_ARRAY(list));
  return log;
}

static yajl_val request_list(yajl_val log) {
  const char *path[] = {"requests", NULL};
  return pdsim_json_get(log, path);
}

static size_t discard_body(char *data, size_t size, size_t nmemb,
                           void *userdata) {
  (void)data;
  (void)userdata;
  return size * nmemb;
}

static const char *req_path(yajl_val req) {
  return pdsim_json_string(req, "path");
}

static size_t count_path(yajl_val log, const char *path) {
  yajl_val list = request_list(log);
  size_t n = 0;
  for (size_t i = 0; i < list->u.array.len; i++)
    n += strcmp(req_path(list->u.array.values[i]), path) == 0;
  return n;
}

/* Is this a schedule detail request (GET /schedules/{id}, GET
 * /v3/schedules/{id})? */
static bool is_detail(const char *path) {
  return (strncmp(path, "/schedules/", 11) == 0 && path[11] != '\0') ||
         (strncmp(path, "/v3/schedules/", 14) == 0 && path[14] != '\0');
}

static size_t count_details(yajl_val log) {
  yajl_val list = request_list(log);
  size_t n = 0;
  for (size_t i = 0; i < list->u.array.len; i++)
    n += is_detail(req_path(list->u.array.values[i]));
  return n;
}

/* The values of a query parameter of a logged request (a JSON array). */
static yajl_val query_values(yajl_val req, const char *key) {
  const char *path[] = {"query", key, NULL};
  yajl_val v = pdsim_json_get(req, path);
  return YAJL_IS_ARRAY(v) ? v : NULL;
}

static const char *query_one(yajl_val req, const char *key) {
  yajl_val v = query_values(req, key);
  if (v == NULL || v->u.array.len != 1 || !YAJL_IS_STRING(v->u.array.values[0]))
    return NULL;
  return v->u.array.values[0]->u.string;
}

static bool query_has(yajl_val req, const char *key, const char *value) {
  yajl_val v = query_values(req, key);
  for (size_t i = 0; v != NULL && i < v->u.array.len; i++)
    if (strcmp(v->u.array.values[i]->u.string, value) == 0)
      return true;
  return false;
}

static size_t query_count(yajl_val req, const char *key) {
  yajl_val v = query_values(req, key);
  return v != NULL ? v->u.array.len : 0;
}

static yajl_val state(void) {
  yajl_val s = pdsim_get_json(&sim, "/_sim/state");
  ck_assert_ptr_nonnull(s);
  return s;
}

static yajl_val member(yajl_val obj, const char *key) {
  const char *path[] = {key, NULL};
  return pdsim_json_get(obj, path);
}

static double number(yajl_val obj, const char *key) {
  yajl_val v = member(obj, key);
  ck_assert_msg(YAJL_IS_NUMBER(v), "%s is not a number", key);
  return YAJL_GET_DOUBLE(v);
}

static const char *string(yajl_val obj, const char *key) {
  const char *s = pdsim_json_string(obj, key);
  ck_assert_msg(s != NULL, "%s is not a string", key);
  return s;
}

static bool list_has(yajl_val list, const char *value) {
  for (size_t i = 0; YAJL_IS_ARRAY(list) && i < list->u.array.len; i++)
    if (YAJL_IS_STRING(list->u.array.values[i]) &&
        strcmp(list->u.array.values[i]->u.string, value) == 0)
      return true;
  return false;
}

static bool is_open(yajl_val inc) {
  const char *s = string(inc, "status");
  return strcmp(s, "triggered") == 0 || strcmp(s, "acknowledged") == 0;
}

static void lower(char *out, size_t size, const char *id) {
  size_t i = 0;
  for (; id[i] != '\0' && i + 1 < size; i++)
    out[i] = (char)(id[i] >= 'A' && id[i] <= 'Z' ? id[i] + 32 : id[i]);
  out[i] = '\0';
}

/* The value of an entity's series (InstanceBy "id": the lowercased ID),
 * named and typed by the table. */
static double series(pd_series_id_t series_id, const char *id) {
  char lid[64], ti[PD_TYPE_INSTANCE_MAX];
  lower(lid, sizeof(lid), id);
  ck_assert_int_eq(
      pd_series_type_instance(ti, sizeof(ti), series_id, lid, NULL), 0);
  return value_of(&fx.rec, pd_series[series_id].type, ti);
}

static const char *const service_states[] = {"active", "warning", "critical",
                                             "maintenance", "disabled"};

static int service_state_index(const char *s) {
  for (int i = 0; i < 5; i++)
    if (strcmp(service_states[i], s) == 0)
      return i;
  ck_abort_msg("unknown service status %s", s);
  return -1;
}

/* What the state says about one service. */
typedef struct {
  const char *id;
  yajl_val team_ids;
  int status;
  long triggered, acknowledged, high, created_lo, created_hi;
} expect_service_t;

static int cmp_expect(const void *a, const void *b) {
  return strcmp(((const expect_service_t *)a)->id,
                ((const expect_service_t *)b)->id);
}

/*
 * Every service, team and incident series (InstanceBy "id") must equal what
 * the simulator's state says. The TrendWindow count is bracketed by t0 and
 * t1, taken before and after the cycle.
 */
static void check_against_state(yajl_val st, time_t t0, time_t t1,
                                bool with_teams) {
  yajl_val services = member(st, "services");
  yajl_val incidents = member(st, "incidents");
  yajl_val teams = member(st, "teams");
  size_t num = services->u.array.len;
  expect_service_t *exp = calloc(num ? num : 1, sizeof(*exp));
  for (size_t i = 0; i < num; i++) {
    yajl_val svc = services->u.array.values[i];
    exp[i].id = string(svc, "id");
    exp[i].team_ids = member(svc, "team_ids");
    exp[i].status = service_state_index(string(svc, "status"));
  }
  qsort(exp, num, sizeof(*exp), cmp_expect);

  long inc[2][2] = {{0, 0}, {0, 0}};
  double oldest[2] = {0, 0};
  size_t open_total = 0;
  for (size_t i = 0; i < incidents->u.array.len; i++) {
    yajl_val x = incidents->u.array.values[i];
    expect_service_t key = {.id = string(x, "service_id")};
    expect_service_t *svc = bsearch(&key, exp, num, sizeof(*exp), cmp_expect);
    double created = number(x, "created_at");
    if (svc != NULL) {
      svc->created_lo += created >= (double)t1 - DAY && created < (double)t0;
      svc->created_hi +=
          created >= (double)t0 - DAY - 1 && created < (double)t1;
    }
    if (!is_open(x))
      continue;
    open_total++;
    int s = strcmp(string(x, "status"), "triggered") == 0 ? 0 : 1;
    int u = strcmp(string(x, "urgency"), "high") == 0 ? 0 : 1;
    inc[s][u]++;
    if (oldest[s] == 0 || created < oldest[s])
      oldest[s] = created;
    if (svc != NULL) {
      if (s == 0)
        svc->triggered++;
      else
        svc->acknowledged++;
      svc->high += u == 0;
    }
  }
  ck_assert_double_eq(value_of(&fx.rec, "count", "incidents-triggered-high"),
                      inc[0][0]);
  ck_assert_double_eq(value_of(&fx.rec, "count", "incidents-triggered-low"),
                      inc[0][1]);
  ck_assert_double_eq(value_of(&fx.rec, "count", "incidents-acknowledged-high"),
                      inc[1][0]);
  ck_assert_double_eq(value_of(&fx.rec, "count", "incidents-acknowledged-low"),
                      inc[1][1]);
  /* ages at the cycle's now, somewhere in [t0, t1]; created_at is cut to
   * whole seconds on the wire */
  for (int s = 0; s < 2; s++) {
    double age = value_of(&fx.rec, "duration",
                          s == 0 ? "incidents-oldest_triggered"
                                 : "incidents-oldest_acknowledged");
    ck_assert_msg(age >= (double)t0 - oldest[s] - 1 &&
                      age <= (double)t1 - oldest[s] + 1,
                  "oldest age %.0f, expected %.0f..%.0f", age,
                  (double)t0 - oldest[s], (double)t1 - oldest[s]);
  }

  long by_status[5] = {0};
  double sum_open = 0;
  for (size_t i = 0; i < num; i++) {
    const expect_service_t *e = &exp[i];
    by_status[e->status]++;
    ck_assert_double_eq(series(PD_SERIES_SERVICE_STATUS, e->id), e->status);
    ck_assert_double_eq(series(PD_SERIES_SERVICE_TRIGGERED, e->id),
                        e->triggered);
    ck_assert_double_eq(series(PD_SERIES_SERVICE_ACKNOWLEDGED, e->id),
                        e->acknowledged);
    ck_assert_double_eq(series(PD_SERIES_SERVICE_HIGH_URGENCY, e->id), e->high);
    double created = series(PD_SERIES_SERVICE_CREATED, e->id);
    ck_assert_msg(created >= e->created_lo && created <= e->created_hi,
                  "service %s created %.0f, expected %ld..%ld", e->id, created,
                  e->created_lo, e->created_hi);
    sum_open += e->triggered + e->acknowledged;
  }
  ck_assert_double_eq(sum_open, (double)open_total);
  for (size_t s = 0; s < series_values(PD_SERIES_SERVICES); s++) {
    char ti[PD_TYPE_INSTANCE_MAX];
    size_t at[2] = {s, 0};
    ck_assert_int_eq(
        pd_series_type_instance(ti, sizeof(ti), PD_SERIES_SERVICES, NULL, at),
        0);
    int state = service_state_index(
        pd_series_dim_value(pd_series[PD_SERIES_SERVICES].dims[0], s));
    ck_assert_double_eq(
        value_of(&fx.rec, pd_series[PD_SERIES_SERVICES].type, ti),
        by_status[state]);
  }

  for (size_t t = 0; with_teams && t < teams->u.array.len; t++) {
    const char *team = string(teams->u.array.values[t], "id");
    long trig = 0, ack = 0;
    for (size_t i = 0; i < num; i++)
      if (list_has(exp[i].team_ids, team)) {
        trig += exp[i].triggered;
        ack += exp[i].acknowledged;
      }
    ck_assert_double_eq(series(PD_SERIES_TEAM_TRIGGERED, team), trig);
    ck_assert_double_eq(series(PD_SERIES_TEAM_ACKNOWLEDGED, team), ack);
  }
  free(exp);
}

/* Seeds incidents through the control interface, SEED_PARALLEL at a time:
 * the simulator answers a POST only after a delayed ACK (about 40 ms), so
 * thousands of them one after another would take minutes. */
#define SEED_PARALLEL 48

typedef struct {
  CURL *h;
  char body[256];
} seed_slot_t;

/* What to seed: num incidents of a service, the i-th created at
 * created_at + i * step; of `status` and high urgency, or (status NULL)
 * open ones of every status and urgency in turn. */
typedef struct {
  const char *service_id;
  size_t num;
  double created_at, step;
  const char *status;
} seed_t;

static void seed_body(seed_slot_t *slot, const seed_t *seed, size_t i) {
  static const char *const statuses[] = {"triggered", "acknowledged"};
  static const char *const urgencies[] = {"high", "low"};
  bool mixed = seed->status == NULL;
  snprintf(slot->body, sizeof(slot->body),
           "{\"service_id\":\"%s\",\"status\":\"%s\",\"urgency\":"
           "\"%s\",\"created_at\":%.3f}",
           seed->service_id, mixed ? statuses[i % 2] : seed->status,
           mixed ? urgencies[(i / 2) % 2] : "high",
           seed->created_at + (double)i * seed->step);
  curl_easy_setopt(slot->h, CURLOPT_POSTFIELDS, slot->body);
}

static void seed_incidents(const seed_t *seed) {
  size_t num = seed->num;
  char url[512];
  snprintf(url, sizeof(url), "%s/_sim/incidents", sim.url);
  struct curl_slist *headers =
      curl_slist_append(NULL, "Content-Type: application/json");
  CURLM *multi = curl_multi_init();
  ck_assert_ptr_nonnull(multi);
  seed_slot_t slots[SEED_PARALLEL];
  size_t started = 0, done = 0;
  for (size_t k = 0; k < SEED_PARALLEL; k++) {
    slots[k].h = curl_easy_init();
    ck_assert_ptr_nonnull(slots[k].h);
    curl_easy_setopt(slots[k].h, CURLOPT_URL, url);
    curl_easy_setopt(slots[k].h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(slots[k].h, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(slots[k].h, CURLOPT_PRIVATE, &slots[k]);
    if (started < num) {
      seed_body(&slots[k], seed, started++);
      curl_multi_add_handle(multi, slots[k].h);
    }
  }
  while (done < num) {
    int running = 0;
    curl_multi_perform(multi, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      long status = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      ck_assert_int_eq(msg->data.result, CURLE_OK);
      ck_assert_int_eq(status, 200);
      done++;
      seed_slot_t *slot;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&slot);
      curl_multi_remove_handle(multi, msg->easy_handle);
      if (started < num) {
        seed_body(slot, seed, started++);
        curl_multi_add_handle(multi, slot->h);
      }
    }
    if (done < num)
      curl_multi_poll(multi, NULL, 0, 100, NULL);
  }
  for (size_t k = 0; k < SEED_PARALLEL; k++)
    curl_easy_cleanup(slots[k].h);
  curl_multi_cleanup(multi);
  curl_slist_free_all(headers);
}

/* The ID of the first service in the state. */
static void any_service(yajl_val st, char *out, size_t size) {
  yajl_val services = member(st, "services");
  ck_assert_uint_gt(services->u.array.len, 0);
  snprintf(out, size, "%s", string(services->u.array.values[0], "id"));
}

/* The token of a scenario's token with that label. */
static void token_by_label(const char *label, char *out, size_t size) {
  yajl_val t = pdsim_get_json(&sim, "/_sim/tokens");
  ck_assert_ptr_nonnull(t);
  yajl_val list = member(t, "tokens");
  out[0] = '\0';
  for (size_t i = 0; i < list->u.array.len; i++) {
    yajl_val x = list->u.array.values[i];
    const char *l = pdsim_json_string(x, "label");
    if (l != NULL && strcmp(l, label) == 0)
      snprintf(out, size, "%s", string(x, "token"));
  }
  yajl_tree_free(t);
  ck_assert_msg(out[0] != '\0', "no token labelled %s", label);
}

/* The ID of the demo team with this name. */
static void team_id(const char *name, char *out, size_t size) {
  yajl_val st = state();
  yajl_val teams = member(st, "teams");
  out[0] = '\0';
  for (size_t i = 0; i < teams->u.array.len; i++)
    if (strcmp(string(teams->u.array.values[i], "name"), name) == 0)
      snprintf(out, size, "%s", string(teams->u.array.values[i], "id"));
  yajl_tree_free(st);
  ck_assert_msg(out[0] != '\0', "no team %s", name);
}

static void no_secret_in_log(void) {
  ck_assert_msg(strstr(stub_log_dump(), fx.token) == NULL,
                "the token reached the log");
}

/* --- fixtures ------------------------------------------------------------- */

static void sim_up(void) {
  ck_assert_msg(pdsim_start(&sim, "demo", NULL) == 0, "simulator start");
}

static void sim_down(void) { pdsim_stop(&sim); }

/* --- demo: what one cycle asks and dispatches ----------------------------- */

START_TEST(test_demo_requests_and_series) {
  reset_sim("demo");
  configure(sim.token);
  fx.cfg.instance_by = PD_INSTANCE_BY_ID;
  start_account();
  clear_requests();
  time_t t0 = time(NULL);
  cycle();
  time_t t1 = time(NULL);
  ck_assert_msg(api_up() == 1, "%s", stub_log_dump());

  /* exactly these requests, in this order, one page each: the lists,
   * then one detail per schedule (the lists never carry final schedules),
   * then the on-calls */
  yajl_val log = requests();
  yajl_val list = request_list(log);
  static const char *const expected[] = {"/users/me",  "/teams",
                                         "/services",  "/incidents",
                                         "/incidents", "/escalation_policies",
                                         "/schedules", "/v3/schedules"};
  enum { LISTS = 8, DETAILS = 7, ALL = LISTS + DETAILS + 1 };
  ck_assert_uint_eq(list->u.array.len, ALL);
  for (size_t i = 0; i < ALL; i++) {
    yajl_val req = list->u.array.values[i];
    if (i < LISTS)
      ck_assert_str_eq(req_path(req), expected[i]);
    else if (i < LISTS + DETAILS)
      ck_assert_msg(is_detail(req_path(req)), "%s", req_path(req));
    else
      ck_assert_str_eq(req_path(req), "/oncalls");
    ck_assert_str_eq(string(req, "method"), "GET");
    ck_assert_str_eq(string(req, "auth"), "ok");
    if (i > 0 && !is_detail(req_path(req))) {
      ck_assert_str_eq(query_one(req, "limit"), "100");
      ck_assert_str_eq(query_one(req, "offset"), "0");
    }
  }
  /* the open set: both open statuses over all time */
  yajl_val open = list->u.array.values[3];
  ck_assert_uint_eq(query_count(open, "statuses[]"), 2);
  ck_assert(query_has(open, "statuses[]", "triggered"));
  ck_assert(query_has(open, "statuses[]", "acknowledged"));
  ck_assert_str_eq(query_one(open, "date_range"), "all");
  /* created in TrendWindow: every status, one day */
  yajl_val created = list->u.array.values[4];
  ck_assert_uint_eq(query_count(created, "statuses[]"), 0);
  ck_assert_ptr_null(query_values(created, "date_range"));
  ck_assert_ptr_nonnull(query_one(created, "since"));
  ck_assert_ptr_nonnull(query_one(created, "until"));
  /* the lists ask for nothing only a detail gives */
  for (size_t i = 6; i < LISTS; i++) {
    yajl_val sched = list->u.array.values[i];
    ck_assert_uint_eq(query_count(sched, "include[]"), 0);
    ck_assert_ptr_null(query_values(sched, "since"));
  }
  /* each detail: the final schedule, far enough ahead for the cache */
  size_t v3 = 0;
  for (size_t i = LISTS; i < LISTS + DETAILS; i++) {
    yajl_val d = list->u.array.values[i];
    bool shifts = strncmp(req_path(d), "/v3/", 4) == 0;
    v3 += shifts;
    ck_assert_ptr_nonnull(query_one(d, "since"));
    ck_assert_ptr_nonnull(query_one(d, "until"));
    if (shifts)
      ck_assert(query_has(d, "include[]", "final_schedule"));
    else
      ck_assert_str_eq(query_one(d, "time_zone"), "UTC");
  }
  ck_assert_uint_eq(v3, 2);
  /* no team filter without Team */
  for (size_t i = 0; i < ALL; i++)
    ck_assert_uint_eq(query_count(list->u.array.values[i], "team_ids[]"), 0);
  yajl_tree_free(log);

  /* the values are the simulator's */
  yajl_val st = state();
  check_against_state(st, t0, t1, true);
  yajl_tree_free(st);

  ck_assert_double_eq(value_of(&fx.rec, "derive", "api-requests"), 16);
  ck_assert_double_eq(value_of(&fx.rec, "derive", "api-errors"), 0);
  ck_assert_double_eq(value_of(&fx.rec, "derive", "api-throttled"), 0);
  ck_assert(value_of(&fx.rec, "response_time", "api-latency") > 0);
  ck_assert(value_of(&fx.rec, "gauge", "api-ratelimit_remaining") > 0);
  ck_assert(value_of(&fx.rec, "duration", "api-cycle") > 0);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 0);
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 0);
  no_secret_in_log();
  stop_account();
}
END_TEST

START_TEST(test_demo_named_series) {
  reset_sim("demo");
  configure(sim.token);
  start_account();
  cycle();
  ck_assert_msg(api_up() == 1, "%s", stub_log_dump());
  series_recorder_t *r = &fx.rec;
  /* Kubernetes Platform's incident is 40 days old: only date_range=all
   * finds it */
  ck_assert_double_eq(value_of(r, "count",
                               "service-kubernetes_platform-"
                               "triggered"),
                      1);
  ck_assert(value_of(r, "duration", "incidents-oldest_triggered") >=
            40 * DAY - 60);
  ck_assert_double_eq(value_of(r, "gauge", "service-checkout_api-status"), 2);
  ck_assert_double_eq(value_of(r, "count", "service-checkout_api-triggered"),
                      2);
  ck_assert_double_eq(value_of(r, "gauge", "service-legacy_billing-status"), 4);
  ck_assert_double_eq(value_of(r, "gauge", "service-search_indexer-status"), 3);
  ck_assert_double_eq(value_of(r, "count", "service-internal_tools-created"),
                      0);
  ck_assert_double_eq(value_of(r, "count", "team-payments-triggered"), 2);
  ck_assert_double_eq(value_of(r, "count", "team-payments-acknowledged"), 1);

  /* Web Secondary starts in the next hour or two: nobody on call now */
  ck_assert_double_eq(value_of(r, "count", "schedule-web_secondary-oncall"), 0);
  ck_assert_double_eq(value_of(r, "duration",
                               "schedule-web_secondary-"
                               "next_gap"),
                      0);
  ck_assert_double_eq(value_of(r, "duration",
                               "schedule-web_secondary-"
                               "next_handoff"),
                      0);
  double gap = value_of(r, "duration", "schedule-web_secondary-gap");
  ck_assert_msg(gap > 3600 && gap <= 2 * 3600 + 60, "gap %.0f", gap);
  /* Payments Primary: a 6-hour gap within the week, covered now */
  ck_assert_double_eq(value_of(r, "duration", "schedule-payments_primary-gap"),
                      6 * 3600);
  double next_gap = value_of(r, "duration",
                             "schedule-payments_primary-"
                             "next_gap");
  ck_assert(next_gap > DAY && next_gap < 4 * DAY);
  ck_assert_double_eq_tol(value_of(r, "percent",
                                   "schedule-payments_primary-"
                                   "coverage"),
                          100.0 * (604800 - 6 * 3600) / 604800, 1e-6);
  ck_assert_double_eq(value_of(r, "count", "schedule-payments_primary-oncall"),
                      1);
  double handoff = value_of(r, "duration",
                            "schedule-payments_primary-"
                            "next_handoff");
  ck_assert(handoff > 0 && handoff <= DAY);
  /* Platform Primary never has a gap */
  ck_assert_double_eq(value_of(r, "percent",
                               "schedule-platform_primary-"
                               "coverage"),
                      100);
  ck_assert_double_eq(value_of(r, "duration",
                               "schedule-platform_primary-"
                               "next_gap"),
                      604800);
  ck_assert(value_of(r, "count", "schedule-platform_primary-oncall") >= 1);

  /* policies */
  ck_assert_double_eq(value_of(r, "count", "policy-platform_escalation-rules"),
                      2);
  ck_assert_double_eq(value_of(r, "count", "policy-platform_escalation-loops"),
                      2);
  ck_assert_double_eq(value_of(r, "count", "policy-web_escalation-loops"), 0);
  ck_assert_double_eq(value_of(r, "count", "policy-web_escalation-oncall"), 0);
  ck_assert_double_eq(value_of(r, "count",
                               "policy-web_escalation-"
                               "uncovered_levels"),
                      1);
  ck_assert(value_of(r, "count", "policy-platform_escalation-oncall") >= 1);
  ck_assert_double_eq(value_of(r, "count",
                               "policy-platform_escalation-"
                               "uncovered_levels"),
                      0);
  /* every entity has all of its series */
  ck_assert_uint_eq(series_count_entity(r, PD_ENTITY_SERVICE),
                    10 * series_per(PD_ENTITY_SERVICE));
  ck_assert_uint_eq(series_count_entity(r, PD_ENTITY_TEAM),
                    3 * series_per(PD_ENTITY_TEAM));
  /* 5 layer-based and 2 shift-based schedules; 6 policies */
  ck_assert_uint_eq(series_count_entity(r, PD_ENTITY_SCHEDULE),
                    7 * series_per(PD_ENTITY_SCHEDULE));
  ck_assert_uint_eq(series_count_entity(r, PD_ENTITY_POLICY),
                    6 * series_per(PD_ENTITY_POLICY));
  /* shift-based: two people on call at once */
  ck_assert_double_eq(value_of(r, "count", "schedule-checkout_shifts-oncall"),
                      2);
  ck_assert_uint_eq(series_count_group(r, PD_GROUP_INCIDENTS),
                    series_in_group(PD_GROUP_INCIDENTS));
  ck_assert_uint_eq(series_count(r, PD_SERIES_SERVICES),
                    series_values(PD_SERIES_SERVICES));
  stop_account();
}
END_TEST

/* Slow collections are cached, re-dispatched every cycle, refreshed every
 * SlowInterval. */
START_TEST(test_cache_and_slow_interval) {
  reset_sim("demo");
  configure(sim.token);
  fx.cfg.interval_s = 1;
  /* Long enough that the first two cycles always fall inside one
   * SlowInterval, even on a busy machine or under ASan (3 s was not). */
  fx.cfg.slow_interval_s = 8;
  start_account();
  cycle();
  size_t series_first = fx.rec.num;
  ck_assert_double_eq(api_up(), 1);

  clear_requests();
  cycle();
  ck_assert_double_eq(api_up(), 1);
  yajl_val log = requests();
  yajl_val list = request_list(log);
  ck_assert_uint_eq(list->u.array.len, 3);
  ck_assert_str_eq(req_path(list->u.array.values[0]), "/services");
  ck_assert_str_eq(req_path(list->u.array.values[1]), "/incidents");
  ck_assert_str_eq(req_path(list->u.array.values[2]), "/incidents");
  yajl_tree_free(log);
  /* the same series, none missing */
  ck_assert_uint_eq(fx.rec.num, series_first);
  ck_assert(has_series(&fx.rec, "schedule-web_primary-coverage"));
  ck_assert(has_series(&fx.rec, "policy-web_escalation-oncall"));
  ck_assert(has_series(&fx.rec, "team-web-triggered"));

  sleep(8); /* one SlowInterval: the slow collections are due again */
  clear_requests();
  cycle();
  log = requests();
  /* the lists, and the details spread over SlowInterval: 7 schedules,
   * Interval 1 s, SlowInterval 8 s: ceil(7 x 1 / 8) = 1 per cycle */
  ck_assert_uint_eq(request_list(log)->u.array.len, 9);
  ck_assert_uint_eq(count_details(log), 1);
  ck_assert_uint_eq(count_path(log, "/teams"), 1);
  ck_assert_uint_eq(count_path(log, "/schedules"), 1);
  ck_assert_uint_eq(count_path(log, "/v3/schedules"), 1);
  ck_assert_uint_eq(count_path(log, "/escalation_policies"), 1);
  ck_assert_uint_eq(count_path(log, "/oncalls"), 1);
  ck_assert_uint_eq(count_path(log, "/users/me"), 0);
  yajl_tree_free(log);
  ck_assert_uint_eq(fx.rec.num, series_first);
  stop_account();
}
END_TEST

/* Collect excludes: nothing is fetched that no collected series needs. */
START_TEST(test_collect_fetches_only_what_is_needed) {
  static const struct {
    unsigned collect;
    const char *paths[8];
  } cases[] = {
      {PD_COLLECT_INCIDENTS, {"/users/me", "/incidents", NULL}},
      {PD_COLLECT_SERVICES,
       {"/users/me", "/services", "/incidents", "/incidents", NULL}},
      {PD_COLLECT_TEAMS,
       {"/users/me", "/teams", "/services", "/incidents", NULL}},
      {PD_COLLECT_POLICIES, {"/users/me", "/escalation_policies", NULL}},
      {PD_COLLECT_SCHEDULES,
       {"/users/me", "/schedules", "/v3/schedules", "{details}", NULL}},
      {PD_COLLECT_ONCALLS,
       {"/users/me", "/escalation_policies", "/schedules", "/v3/schedules",
        "{details}", "/oncalls", NULL}},
  };
  reset_sim("demo");
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    configure(sim.token);
    fx.cfg.collect = cases[c].collect;
    start_account();
    clear_requests();
    cycle();
    ck_assert_double_eq(api_up(), 1);
    yajl_val log = requests();
    yajl_val list = request_list(log);
    /* "{details}": the 7 schedule details, one after the other */
    size_t n = 0, at = 0;
    for (; cases[c].paths[n] != NULL; n++) {
      ck_assert_uint_gt(list->u.array.len, at);
      if (strcmp(cases[c].paths[n], "{details}") == 0) {
        for (size_t k = 0; k < 7; k++, at++)
          ck_assert(is_detail(req_path(list->u.array.values[at])));
        continue;
      }
      ck_assert_str_eq(req_path(list->u.array.values[at]), cases[c].paths[n]);
      at++;
    }
    ck_assert_uint_eq(list->u.array.len, at);
    yajl_tree_free(log);
    stop_account();
  }
}
END_TEST

/* --- large: more than 10,000 open incidents ------------------------------- */

static void set_behaviour(const char *json) {
  ck_assert_int_eq(pdsim_call(&sim, "POST", "/_sim/behaviour", json, NULL),
                   200);
}

/* The ways the simulator may treat what PagerDuty leaves undocumented
 * (tests/pdsim/README.md), besides its default (day, ignored,
 * America/New_York): every unit of since/until with sort_by honoured and
 * ignored, in time zones from UTC-11 to UTC+14. */
static const char *const behaviours[] = {
    "{\"incident_time\":\"second\",\"incident_sort\":\"honoured\","
    "\"time_zone\":\"UTC\"}",
    "{\"incident_time\":\"minute\",\"incident_sort\":\"ignored\","
    "\"time_zone\":\"Asia/Kolkata\"}",
    "{\"incident_time\":\"day\",\"incident_sort\":\"honoured\","
    "\"time_zone\":\"Pacific/Kiritimati\"}",
    "{\"incident_time\":\"second\",\"incident_sort\":\"ignored\","
    "\"time_zone\":\"America/New_York\"}",
    "{\"incident_time\":\"minute\",\"incident_sort\":\"honoured\","
    "\"time_zone\":\"America/Los_Angeles\"}",
    "{\"incident_time\":\"day\",\"incident_sort\":\"ignored\","
    "\"time_zone\":\"Pacific/Pago_Pago\"}",
};
#define NUM_BEHAVIOURS (sizeof(behaviours) / sizeof(*behaviours))

/* A GET /incidents of the open set over all time (the others have since). */
static bool open_listing(yajl_val req) {
  return strcmp(req_path(req), "/incidents") == 0 &&
         query_values(req, "since") == NULL;
}

/* Every GET /incidents asks total=true with its first page and stays
 * within the offset cap. */
static void check_incident_paging(yajl_val list) {
  for (size_t i = 0; i < list->u.array.len; i++) {
    yajl_val req = list->u.array.values[i];
    if (strcmp(req_path(req), "/incidents") != 0)
      continue;
    ck_assert_int_eq((int)number(req, "status"), 200);
    long offset = atol(query_one(req, "offset"));
    ck_assert(offset + 100 <= 10000);
    ck_assert((offset == 0) == (query_one(req, "total") != NULL));
    /* sort_by is not relied on, and times are sent in UTC */
    ck_assert(query_values(req, "sort_by") == NULL);
    const char *since = query_one(req, "since");
    ck_assert(since == NULL || since[strlen(since) - 1] == 'Z');
  }
}

START_TEST(test_large_more_than_10000_open) {
  reset_sim("large");
  configure(sim.token);
  fx.cfg.instance_by = PD_INSTANCE_BY_ID;
  fx.cfg.interval_s = 300;
  start_account();
  clear_requests();
  time_t t0 = time(NULL);
  cycle();
  time_t t1 = time(NULL);
  ck_assert_msg(api_up() == 1, "%s", stub_log_dump());

  yajl_val st = state();
  yajl_val incidents = member(st, "incidents");
  yajl_val services = member(st, "services");
  size_t open = 0, by[2][2] = {{0, 0}, {0, 0}};
  for (size_t i = 0; i < incidents->u.array.len; i++) {
    yajl_val x = incidents->u.array.values[i];
    if (!is_open(x))
      continue;
    open++;
    by[strcmp(string(x, "status"), "triggered") != 0]
      [strcmp(string(x, "urgency"), "high") != 0]++;
  }
  ck_assert_uint_gt(open, 10000);
  double total = value_of(&fx.rec, "count", "incidents-triggered-high") +
                 value_of(&fx.rec, "count", "incidents-triggered-low") +
                 value_of(&fx.rec, "count", "incidents-acknowledged-high") +
                 value_of(&fx.rec, "count", "incidents-acknowledged-low");
  ck_assert_double_eq(total, (double)open);
  check_against_state(st, t0, t1, true);

  /* The requests: the open set's first page says more than 10,000, so it
   * is listed per status and urgency (each of those under the cap). */
  yajl_val log = requests();
  yajl_val list = request_list(log);
  check_incident_paging(list);
  size_t whole = 0, parts[2][2] = {{0, 0}, {0, 0}};
  for (size_t i = 0; i < list->u.array.len; i++) {
    yajl_val req = list->u.array.values[i];
    if (!open_listing(req))
      continue;
    if (query_values(req, "urgencies[]") == NULL) {
      whole++;
      ck_assert_uint_eq(query_count(req, "statuses[]"), 2);
      continue;
    }
    ck_assert_uint_eq(query_count(req, "statuses[]"), 1);
    ck_assert(query_values(req, "service_ids[]") == NULL);
    parts[!query_has(req, "statuses[]", "triggered")]
         [!query_has(req, "urgencies[]", "high")]++;
  }
  ck_assert_uint_eq(whole, 1);
  for (int s = 0; s < 2; s++)
    for (int u = 0; u < 2; u++)
      ck_assert_uint_eq(parts[s][u], (by[s][u] + 99) / 100);
  ck_assert_uint_eq(count_path(log, "/services"),
                    (services->u.array.len + 99) / 100);
  /* 300 layer-based schedules: 3 pages; 30 shift-based: 1 page; a final
   * schedule from each one's detail (the lists never carry them) */
  ck_assert_uint_eq(count_path(log, "/schedules"), 3);
  ck_assert_uint_eq(count_path(log, "/v3/schedules"), 1);
  ck_assert_uint_eq(count_details(log), 330);
  ck_assert_uint_eq(count_path(log, "/escalation_policies"), 3);
  ck_assert_uint_eq(count_path(log, "/teams"), 1);
  if (getenv("PD_TEST_VERBOSE") != NULL)
    fprintf(stderr,
            "large: %zu requests: services %zu, incidents %zu, "
            "schedules %zu, policies %zu, oncalls %zu, teams %zu; "
            "cycle %.1f s\n",
            list->u.array.len, count_path(log, "/services"),
            count_path(log, "/incidents"), count_path(log, "/schedules"),
            count_path(log, "/escalation_policies"),
            count_path(log, "/oncalls"), count_path(log, "/teams"),
            value_of(&fx.rec, "duration", "api-cycle"));
  yajl_tree_free(log);

  /* Exact whatever the server does with sort_by and since/until: with the
   * default above, each unit and both sort_by (a large cycle is several
   * seconds; test_one_service_past_10000_any_server has them all). */
  for (size_t b = 0; b < 3; b++) {
    set_behaviour(behaviours[b]);
    t0 = time(NULL);
    cycle();
    t1 = time(NULL);
    ck_assert_msg(api_up() == 1, "%s: %s", behaviours[b], stub_log_dump());
    check_against_state(st, t0, t1, true);
  }
  yajl_tree_free(st);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 0);
  stop_account();
}
END_TEST

/* A new account collecting incidents and services (Team `team` unless
 * NULL) makes one cycle between *t0 and *t1; api-up must be `up`. */
static void incident_cycle(const char *team, double up, time_t *t0,
                           time_t *t1) {
  configure(sim.token);
  if (team != NULL)
    add_team_option(team);
  fx.cfg.instance_by = PD_INSTANCE_BY_ID;
  fx.cfg.collect = PD_COLLECT_INCIDENTS | PD_COLLECT_SERVICES;
  fx.cfg.interval_s = 300;
  start_account();
  clear_requests();
  *t0 = time(NULL);
  cycle();
  *t1 = time(NULL);
  ck_assert_msg(api_up() == up, "%s", stub_log_dump());
}

/* More than 10,000 open incidents created within one second: no time
 * window could split them; status and urgency do. */
START_TEST(test_more_than_10000_in_one_second) {
  reset_sim("demo");
  char service[64];
  yajl_val st = state();
  any_service(st, service, sizeof(service));
  double second = floor(number(st, "now")) - 300 * DAY;
  yajl_tree_free(st);
  seed_incidents(
      &(seed_t){.service_id = service, .num = 10050, .created_at = second});
  time_t t0, t1;
  incident_cycle(NULL, 1, &t0, &t1);
  st = state();
  check_against_state(st, t0, t1, false);
  yajl_tree_free(st);
  ck_assert_double_eq(
      value_of(&fx.rec, "duration", "incidents-oldest_acknowledged"),
      value_of(&fx.rec, "duration", "incidents-oldest_triggered"));

  yajl_val log = requests();
  yajl_val list = request_list(log);
  check_incident_paging(list);
  size_t split = 0, split_pages[4] = {0};
  for (size_t i = 0; i < list->u.array.len; i++) {
    yajl_val req = list->u.array.values[i];
    if (!open_listing(req) || query_values(req, "urgencies[]") == NULL)
      continue;
    split++;
    ck_assert_uint_eq(query_count(req, "statuses[]"), 1);
    int s = query_has(req, "statuses[]", "triggered") ? 0 : 1;
    int u = query_has(req, "urgencies[]", "high") ? 0 : 1;
    split_pages[s * 2 + u]++;
  }
  yajl_tree_free(log);
  /* 10,050 / 4 = 2,512 or 2,513 each: 26 pages per status and urgency */
  ck_assert_uint_eq(split, 4 * 26);
  for (int i = 0; i < 4; i++)
    ck_assert_uint_eq(split_pages[i], 26);
  stop_account();
}
END_TEST

/* The ID of the demo service with this name. */
static void service_id(yajl_val st, const char *name, char *out, size_t size) {
  yajl_val services = member(st, "services");
  out[0] = '\0';
  for (size_t i = 0; i < services->u.array.len; i++)
    if (strcmp(string(services->u.array.values[i], "name"), name) == 0)
      snprintf(out, size, "%s", string(services->u.array.values[i], "id"));
  ck_assert_msg(out[0] != '\0', "no service %s", name);
}

/*
 * The last resort: more than 10,000 open incidents of one service, status
 * and urgency, split by created_at. Exact under every way the server may
 * treat sort_by, since/until and zone-less times (tests/pdsim/README.md);
 * and where a split cannot be proven to add up, an ERROR and no values.
 */
START_TEST(test_one_service_past_10000_any_server) {
  reset_sim("demo");
  char checkout[64], web[64];
  yajl_val st = state();
  service_id(st, "Checkout API", checkout, sizeof(checkout));
  double now = floor(number(st, "now"));
  yajl_tree_free(st);
  team_id("Web", web, sizeof(web));
  /* 10,050 triggered high over the last 400 days, one every ~57 minutes */
  seed_incidents(&(seed_t){.service_id = checkout,
                           .num = 10050,
                           .created_at = now - 400 * DAY,
                           .step = 400 * DAY / 10050,
                           .status = "triggered"});
  time_t t0, t1;
  for (size_t b = 0; b < NUM_BEHAVIOURS; b++) {
    set_behaviour(behaviours[b]);
    incident_cycle(NULL, 1, &t0, &t1);
    st = state();
    check_against_state(st, t0, t1, false);
    yajl_tree_free(st);
    /* it came to windows of one service */
    yajl_val log = requests();
    yajl_val list = request_list(log);
    check_incident_paging(list);
    size_t windows = 0;
    for (size_t i = 0; i < list->u.array.len; i++) {
      yajl_val req = list->u.array.values[i];
      windows += strcmp(req_path(req), "/incidents") == 0 &&
                 query_count(req, "service_ids[]") == 1 &&
                 query_values(req, "since") != NULL &&
                 query_values(req, "urgencies[]") != NULL;
    }
    yajl_tree_free(log);
    ck_assert_msg(windows > 100, "%s: %zu window pages", behaviours[b],
                  windows);
    ck_assert_uint_eq(stub_log_count(LOG_ERR), 0);
    stop_account();
  }
  set_behaviour("{\"incident_time\":\"day\",\"incident_sort\":"
                "\"ignored\",\"time_zone\":\"America/New_York\"}");

  /* Team Payments, and Checkout API moved to Web: its incidents keep the
   * team they were created with, so they are in scope, but the service
   * is not: the listings per service cannot add up. */
  char body[128];
  snprintf(body, sizeof(body), "{\"team_ids\":[\"%s\"]}", web);
  char path[128];
  snprintf(path, sizeof(path), "/_sim/services/%s", checkout);
  ck_assert_int_eq(pdsim_call(&sim, "POST", path, body, NULL), 200);
  stub_log_reset();
  incident_cycle("Payments", 0, &t0, &t1);
  ck_assert_uint_eq(series_count_group(&fx.rec, PD_GROUP_INCIDENTS), 0);
  ck_assert_uint_eq(series_count(&fx.rec, PD_SERIES_SERVICE_TRIGGERED) +
                        series_count(&fx.rec, PD_SERIES_TEAM_TRIGGERED),
                    0);
  ck_assert_uint_gt(series_count(&fx.rec, PD_SERIES_SERVICE_CREATED), 0);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  ck_assert_msg(stub_log_contains(LOG_ERR, "cannot be proven complete") &&
                    stub_log_contains(LOG_ERR, "add up to"),
                "%s", stub_log_dump());
  stop_account();
  ck_assert_int_eq(pdsim_reset(&sim, NULL), 0);
}
END_TEST

/* More than 10,000 incidents of one service, status and urgency created
 * within TrendWindow: time windows cannot split them (the server may
 * widen any window to whole days), so service-*-created is not reported,
 * and the open counts still are. */
START_TEST(test_trend_unprovable) {
  reset_sim("demo");
  char checkout[64];
  yajl_val st = state();
  service_id(st, "Checkout API", checkout, sizeof(checkout));
  double now = floor(number(st, "now"));
  yajl_tree_free(st);
  seed_incidents(&(seed_t){.service_id = checkout,
                           .num = 10050,
                           .created_at = now - 3600,
                           .step = 0.3,
                           .status = "resolved"});
  time_t t0, t1;
  incident_cycle(NULL, 0, &t0, &t1);
  ck_assert_uint_eq(series_count(&fx.rec, PD_SERIES_SERVICE_CREATED), 0);
  ck_assert_uint_gt(series_count(&fx.rec, PD_SERIES_SERVICE_TRIGGERED) +
                        series_count(&fx.rec, PD_SERIES_TEAM_TRIGGERED),
                    0);
  ck_assert_uint_eq(series_count_group(&fx.rec, PD_GROUP_INCIDENTS),
                    series_in_group(PD_GROUP_INCIDENTS));
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  ck_assert_msg(stub_log_contains(LOG_ERR, "resolved high-urgency incidents "
                                           "of service") &&
                    stub_log_contains(LOG_ERR, "cannot be proven complete"),
                "%s", stub_log_dump());
  stop_account();
}
END_TEST

/* --- Team scoping --------------------------------------------------------- */

START_TEST(test_team_scope) {
  reset_sim("demo");
  char web[64];
  team_id("Web", web, sizeof(web));
  configure(sim.token);
  add_team_option("Payments"); /* by exact name */
  add_team_option(web);        /* by ID */
  fx.cfg.instance_by = PD_INSTANCE_BY_NAME;
  start_account();
  clear_requests();
  cycle();
  ck_assert_msg(api_up() == 1, "%s", stub_log_dump());

  char payments[64];
  team_id("Payments", payments, sizeof(payments));
  yajl_val st = state();
  yajl_val log = requests();
  yajl_val list = request_list(log);
  for (size_t i = 0; i < list->u.array.len; i++) {
    yajl_val req = list->u.array.values[i];
    const char *path = req_path(req);
    if (strcmp(path, "/services") == 0 || strcmp(path, "/incidents") == 0 ||
        strcmp(path, "/schedules") == 0 ||
        strcmp(path, "/escalation_policies") == 0) {
      ck_assert_uint_eq(query_count(req, "team_ids[]"), 2);
      ck_assert(query_has(req, "team_ids[]", payments));
      ck_assert(query_has(req, "team_ids[]", web));
    }
  }
  /* /oncalls: scoped by the in-scope policies, all of them, nothing else */
  ck_assert_uint_eq(count_path(log, "/oncalls"), 1);
  yajl_val policies = member(st, "escalation_policies");
  size_t in_scope = 0;
  for (size_t i = 0; i < list->u.array.len; i++) {
    yajl_val req = list->u.array.values[i];
    if (strcmp(req_path(req), "/oncalls") != 0)
      continue;
    for (size_t p = 0; p < policies->u.array.len; p++) {
      yajl_val pol = policies->u.array.values[p];
      bool scoped = list_has(member(pol, "team_ids"), payments) ||
                    list_has(member(pol, "team_ids"), web);
      in_scope += scoped;
      ck_assert(query_has(req, "escalation_policy_ids[]", string(pol, "id")) ==
                scoped);
    }
    ck_assert_uint_eq(query_count(req, "escalation_policy_ids[]"), in_scope);
  }
  ck_assert_uint_eq(in_scope, 3);
  /* shift-based schedules: listed without a team filter (none is
   * documented), every one's detail read, scoped by the detail's teams */
  ck_assert_uint_eq(count_path(log, "/v3/schedules"), 1);
  for (size_t i = 0; i < list->u.array.len; i++)
    if (strncmp(req_path(list->u.array.values[i]), "/v3/", 4) == 0)
      ck_assert_uint_eq(query_count(list->u.array.values[i], "team_ids[]"), 0);
  yajl_tree_free(log);
  yajl_tree_free(st);

  series_recorder_t *r = &fx.rec;
  /* Payments: 3 services, Web: 3 */
  ck_assert_uint_eq(series_count_entity(r, PD_ENTITY_SERVICE),
                    6 * series_per(PD_ENTITY_SERVICE));
  ck_assert(has_series(r, "service-checkout_api-status"));
  ck_assert(has_series(r, "service-auth_service-status"));
  ck_assert(!has_series(r, "service-kubernetes_platform-status"));
  ck_assert(!has_series(r, "service-internal_tools-status"));
  ck_assert_uint_eq(series_count_entity(r, PD_ENTITY_TEAM),
                    2 * series_per(PD_ENTITY_TEAM));
  ck_assert(!has_series(r, "team-platform-triggered"));
  /* Kubernetes Platform's old incident is outside the scope */
  ck_assert_double_eq(value_of(r, "count", "incidents-triggered-high"), 2);
  ck_assert_double_eq(value_of(r, "count", "incidents-triggered-low"), 1);
  ck_assert(!has_series(r, "policy-platform_escalation-rules"));
  ck_assert(has_series(r, "policy-web_escalation-uncovered_levels"));
  ck_assert(!has_series(r, "schedule-platform_primary-coverage"));
  ck_assert(has_series(r, "schedule-web_secondary-coverage"));
  ck_assert(has_series(r, "schedule-checkout_shifts-coverage"));
  ck_assert(!has_series(r, "schedule-sre_follow_the_sun-coverage"));
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 0);
  stop_account();
}
END_TEST

START_TEST(test_team_unknown) {
  reset_sim("demo");
  configure(sim.token);
  add_team_option("Payments");
  add_team_option("Nope Team");
  start_account();
  cycle();
  ck_assert_double_eq(api_up(), 0);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  ck_assert(stub_log_contains(LOG_ERR, "\"Nope Team\""));
  ck_assert(!stub_log_contains(LOG_ERR, "\"Payments\""));
  /* the part of the scope that resolved is collected */
  ck_assert(has_series(&fx.rec, "service-checkout_api-status"));
  ck_assert(!has_series(&fx.rec, "service-web_frontend-status"));
  cycle();
  ck_assert_double_eq(api_up(), 0);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  stop_account();

  /* nothing resolves: nothing is collected, nothing unscoped is asked */
  stub_log_reset();
  configure(sim.token);
  add_team_option("payments"); /* names are exact */
  start_account();
  clear_requests();
  cycle();
  ck_assert_double_eq(api_up(), 0);
  ck_assert(stub_log_contains(LOG_ERR, "\"payments\""));
  ck_assert_uint_eq(series_count_entity(&fx.rec, PD_ENTITY_SERVICE), 0);
  ck_assert_uint_eq(series_count(&fx.rec, PD_SERIES_SERVICES), 0);
  yajl_val log = requests();
  ck_assert_uint_eq(request_list(log)->u.array.len, 2); /* users/me, teams */
  yajl_tree_free(log);
  stop_account();
}
END_TEST

START_TEST(test_team_empty_scope_warns) {
  reset_sim("demo");
  char platform[64], id_path[128];
  team_id("Platform", platform, sizeof(platform));
  /* move every Web service to Platform: Web owns nothing */
  yajl_val st = state();
  yajl_val services = member(st, "services");
  char web[64];
  team_id("Web", web, sizeof(web));
  for (size_t i = 0; i < services->u.array.len; i++) {
    yajl_val svc = services->u.array.values[i];
    if (!list_has(member(svc, "team_ids"), web))
      continue;
    char body[128];
    snprintf(body, sizeof(body), "{\"team_ids\":[\"%s\"]}", platform);
    snprintf(id_path, sizeof(id_path), "/_sim/services/%s", string(svc, "id"));
    ck_assert_int_eq(pdsim_call(&sim, "POST", id_path, body, NULL), 200);
  }
  yajl_tree_free(st);
  stub_log_reset();

  configure(sim.token);
  add_team_option("Web");
  start_account();
  cycle();
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 1);
  ck_assert(stub_log_contains(LOG_WARNING, "Nothing visible in scope"));
  ck_assert(stub_log_contains(LOG_WARNING, "\"Web\""));
  ck_assert(stub_log_contains(LOG_WARNING, "account \"acme\""));
  ck_assert_double_eq(value_of(&fx.rec, "count", "services-active"), 0);
  ck_assert_double_eq(value_of(&fx.rec, "count", "team-web-triggered"), 0);
  cycle();
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 1);
  stop_account();
}
END_TEST

/* An account without the teams ability: GET /teams answers 402. */
START_TEST(test_no_teams_ability) {
  reset_sim("demo");
  ck_assert_int_eq(pdsim_call(&sim, "POST", "/_sim/abilities",
                              "{\"abilities\":[\"urgencies\"]}", NULL),
                   200);
  configure(sim.token);
  start_account();
  cycle();
  /* no team series, but nothing else lost and the cycle is fine */
  ck_assert_msg(api_up() == 1, "%s", stub_log_dump());
  ck_assert_uint_eq(series_count_entity(&fx.rec, PD_ENTITY_TEAM), 0);
  ck_assert(has_series(&fx.rec, "service-web_frontend-status"));
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 1);
  ck_assert(stub_log_contains(LOG_WARNING, "teams ability"));
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 0);
  cycle();
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 1);
  stop_account();

  /* with Team set the scope cannot be resolved: an error, nothing else */
  stub_log_reset();
  configure(sim.token);
  add_team_option("Web");
  start_account();
  clear_requests();
  cycle();
  cycle();
  ck_assert_double_eq(api_up(), 0);
  ck_assert_uint_eq(series_count_entity(&fx.rec, PD_ENTITY_SERVICE), 0);
  ck_assert_uint_eq(series_count(&fx.rec, PD_SERIES_SERVICES), 0);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  ck_assert(stub_log_contains(LOG_ERR, "GET /teams"));
  yajl_val log = requests();
  ck_assert_uint_eq(count_path(log, "/services"), 0);
  yajl_tree_free(log);
  stop_account();
}
END_TEST

/* --- failures ------------------------------------------------------------- */

/* Arms a fault on /incidents once the open listing is a few pages in. */
typedef struct {
  atomic_bool stop;
  atomic_bool armed;
} arm_ctx_t;

static void *arm_when_paging(void *arg) {
  arm_ctx_t *ctx = arg;
  while (!atomic_load(&ctx->stop) && !atomic_load(&ctx->armed)) {
    yajl_val log = pdsim_get_json(&sim, "/_sim/requests");
    if (log != NULL && count_path(log, "/incidents") >= 3) {
      pdsim_fault(&sim, "{\"kind\":\"truncate\",\"path\":\"/incidents\","
                        "\"count\":1}");
      atomic_store(&ctx->armed, true);
    }
    yajl_tree_free(log);
    usleep(20000);
  }
  return NULL;
}

START_TEST(test_failure_part_way_dispatches_nothing) {
  reset_sim("large");
  configure(sim.token);
  fx.cfg.interval_s = 300;
  fx.cfg.collect = PD_COLLECT_SERVICES | PD_COLLECT_INCIDENTS;
  start_account();
  clear_requests();
  arm_ctx_t ctx = {0};
  pthread_t arm;
  ck_assert_int_eq(pthread_create(&arm, NULL, arm_when_paging, &ctx), 0);
  cycle();
  atomic_store(&ctx.stop, true);
  pthread_join(arm, NULL);
  ck_assert(atomic_load(&ctx.armed));

  /* the truncated page was not the first one */
  yajl_val log = requests();
  yajl_val list = request_list(log);
  long faulted_offset = -1;
  for (size_t i = 0; i < list->u.array.len; i++) {
    yajl_val req = list->u.array.values[i];
    const char *fault = pdsim_json_string(req, "fault");
    if (fault != NULL && strcmp(fault, "truncate") == 0) {
      /* in the open listing */
      ck_assert(open_listing(req));
      faulted_offset = atol(query_one(req, "offset"));
    }
  }
  yajl_tree_free(log);
  ck_assert_int_gt(faulted_offset, 0);

  ck_assert_double_eq(api_up(), 0);
  ck_assert_uint_eq(series_count_group(&fx.rec, PD_GROUP_INCIDENTS), 0);
  ck_assert_uint_gt(series_count_entity(&fx.rec, PD_ENTITY_SERVICE), 0);
  ck_assert_uint_eq(series_count(&fx.rec, PD_SERIES_SERVICE_TRIGGERED) +
                        series_count(&fx.rec, PD_SERIES_TEAM_TRIGGERED),
                    0);
  ck_assert_uint_eq(series_count(&fx.rec, PD_SERIES_SERVICE_HIGH_URGENCY), 0);
  ck_assert_uint_gt(series_count(&fx.rec, PD_SERIES_SERVICE_CREATED), 0);
  /* services themselves are fine, and created came after the failure */
  ck_assert_uint_gt(series_count(&fx.rec, PD_SERIES_SERVICES), 0);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  ck_assert(stub_log_contains(LOG_ERR, "GET /incidents"));

  /* the next cycle starts clean and counts everything */
  cycle();
  ck_assert_double_eq(api_up(), 1);
  yajl_val st = state();
  size_t open = 0;
  yajl_val incidents = member(st, "incidents");
  for (size_t i = 0; i < incidents->u.array.len; i++)
    open += is_open(incidents->u.array.values[i]);
  double total = value_of(&fx.rec, "count", "incidents-triggered-high") +
                 value_of(&fx.rec, "count", "incidents-triggered-low") +
                 value_of(&fx.rec, "count", "incidents-acknowledged-high") +
                 value_of(&fx.rec, "count", "incidents-acknowledged-low");
  ck_assert_double_eq(total, (double)open);
  yajl_tree_free(st);
  ck_assert(stub_log_contains(LOG_INFO, "GET /incidents succeeds again"));
  stop_account();
}
END_TEST

static void fault(const char *json) {
  ck_assert_int_eq(pdsim_fault(&sim, json), 0);
}

/* FullSyncInterval > 0: the services and the open maintenance windows
 * are listed in the first cycle and kept; later cycles derive the status
 * from them and their open incidents (pd_service_status.h), with no
 * GET /services. A full read lists both again; when the window listing
 * fails, no service series that cycle, and the next cycle lists again. */
START_TEST(test_incremental_service_status) {
  reset_sim("demo");
  set_behaviour("{\"log_delay\":0}");
  configure(sim.token);
  fx.cfg.full_sync_interval_s = 3600;
  start_account();
  clear_requests();
  cycle();
  ck_assert_msg(api_up() == 1, "%s", stub_log_dump());
  yajl_val log = requests();
  ck_assert_uint_eq(count_path(log, "/services"), 1);
  ck_assert_uint_eq(count_path(log, "/maintenance_windows"), 1);
  yajl_val list = request_list(log);
  for (size_t i = 0; i < list->u.array.len; i++)
    if (strcmp(req_path(list->u.array.values[i]), "/maintenance_windows") == 0)
      ck_assert_str_eq(query_one(list->u.array.values[i], "filter"), "open");
  yajl_tree_free(log);
  series_recorder_t *r = &fx.rec;
  ck_assert_double_eq(value_of(r, "gauge", "service-checkout_api-status"), 2);
  ck_assert_double_eq(value_of(r, "gauge", "service-legacy_billing-status"), 4);
  ck_assert_double_eq(value_of(r, "gauge", "service-search_indexer-status"), 3);
  ck_assert_double_eq(value_of(r, "gauge", "service-internal_tools-status"), 0);
  double active = value_of(r, "count", "services-active");
  double critical = value_of(r, "count", "services-critical");

  /* A triggered incident on an active service: critical from the next
   * cycle's log read, without listing the services. */
  yajl_val st = state();
  char tools[64], body[128];
  service_id(st, "Internal Tools", tools, sizeof(tools));
  yajl_tree_free(st);
  snprintf(body, sizeof(body),
           "{\"service_id\":\"%s\",\"status\":\"triggered\"}", tools);
  ck_assert_int_eq(pdsim_call(&sim, "POST", "/_sim/incidents", body, NULL),
                   200);
  clear_requests();
  cycle();
  ck_assert_msg(api_up() == 1, "%s", stub_log_dump());
  log = requests();
  ck_assert_uint_eq(count_path(log, "/services"), 0);
  ck_assert_uint_eq(count_path(log, "/maintenance_windows"), 0);
  ck_assert_uint_ge(count_path(log, "/log_entries"), 1);
  yajl_tree_free(log);
  ck_assert_double_eq(value_of(r, "gauge", "service-internal_tools-status"), 2);
  ck_assert_double_eq(value_of(r, "gauge", "service-legacy_billing-status"), 4);
  ck_assert_double_eq(value_of(r, "gauge", "service-search_indexer-status"), 3);
  ck_assert_double_eq(value_of(r, "count", "services-active"), active - 1);
  ck_assert_double_eq(value_of(r, "count", "services-critical"), critical + 1);

  /* The log read fails: a full read, which lists the services and the
   * windows again; the window listing fails: no status is known. */
  fault("{\"kind\":\"status\",\"status\":503,\"path\":\"/log_entries\"}");
  fault("{\"kind\":\"status\",\"status\":503,\"path\":"
        "\"/maintenance_windows\"}");
  clear_requests();
  cycle();
  ck_assert_double_eq(api_up(), 0);
  ck_assert_uint_eq(series_count(r, PD_SERIES_SERVICE_STATUS), 0);
  ck_assert_uint_eq(series_count(r, PD_SERIES_SERVICES), 0);
  log = requests();
  ck_assert_uint_eq(count_path(log, "/services"), 1);
  ck_assert_uint_eq(count_path(log, "/maintenance_windows"), 1);
  yajl_tree_free(log);

  clear_requests();
  cycle();
  ck_assert_msg(api_up() == 1, "%s", stub_log_dump());
  log = requests();
  ck_assert_uint_eq(count_path(log, "/services"), 1);
  ck_assert_uint_eq(count_path(log, "/maintenance_windows"), 1);
  yajl_tree_free(log);
  ck_assert_double_eq(value_of(r, "gauge", "service-internal_tools-status"), 2);
  ck_assert_double_eq(value_of(r, "gauge", "service-search_indexer-status"), 3);
  ck_assert_double_eq(value_of(r, "count", "services-critical"), critical + 1);
  stop_account();
}
END_TEST

/* With Team the open incidents are the in-scope teams', which need not be
 * all of an in-scope service's: the services are listed every cycle, their
 * status PagerDuty's, and no maintenance windows are asked. */
START_TEST(test_incremental_team_lists_services) {
  reset_sim("demo");
  set_behaviour("{\"log_delay\":0}");
  configure(sim.token);
  fx.cfg.full_sync_interval_s = 3600;
  add_team_option("Payments");
  start_account();
  for (int n = 0; n < 2; n++) {
    clear_requests();
    cycle();
    ck_assert_msg(api_up() == 1, "%s", stub_log_dump());
    yajl_val log = requests();
    ck_assert_uint_eq(count_path(log, "/services"), 1);
    ck_assert_uint_eq(count_path(log, "/maintenance_windows"), 0);
    ck_assert_uint_eq(count_path(log, "/log_entries"), n == 0 ? 0 : 1);
    yajl_tree_free(log);
    ck_assert_double_eq(
        value_of(&fx.rec, "gauge", "service-checkout_api-status"), 2);
  }
  stop_account();
}
END_TEST

START_TEST(test_failures_of_each_kind) {
  static const char *const faults[] = {
      "{\"kind\":\"status\",\"status\":503,\"path\":\"/incidents\"}",
      "{\"kind\":\"garbage\",\"path\":\"/incidents\"}",
      "{\"kind\":\"html\",\"status\":502,\"path\":\"/incidents\"}",
      "{\"kind\":\"truncate\",\"path\":\"/incidents\"}",
  };
  for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
    reset_sim("demo");
    configure(sim.token);
    start_account();
    fault(faults[i]);
    cycle();
    ck_assert_double_eq(api_up(), 0);
    ck_assert_uint_eq(series_count_group(&fx.rec, PD_GROUP_INCIDENTS), 0);
    ck_assert(!has_series(&fx.rec, "team-web-triggered"));
    ck_assert(!has_series(&fx.rec, "service-web_frontend-triggered"));
    /* other collections went on */
    ck_assert(has_series(&fx.rec, "service-web_frontend-status"));
    ck_assert(has_series(&fx.rec, "service-web_frontend-created"));
    ck_assert(has_series(&fx.rec, "schedule-web_primary-coverage"));
    ck_assert_double_eq(value_of(&fx.rec, "derive", "api-errors"), 1);
    ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
    cycle();
    ck_assert_double_eq(api_up(), 1);
    ck_assert_double_eq(value_of(&fx.rec, "count", "incidents-triggered-low"),
                        2);
    stop_account();
  }
}
END_TEST

START_TEST(test_slow_failure_retried_next_cycle) {
  reset_sim("demo");
  configure(sim.token);
  start_account();
  fault("{\"kind\":\"status\",\"status\":500,\"path\":\"/schedules\"}");
  cycle();
  ck_assert_double_eq(api_up(), 0);
  ck_assert_uint_eq(series_count_entity(&fx.rec, PD_ENTITY_SCHEDULE), 0);
  ck_assert(has_series(&fx.rec, "policy-web_escalation-oncall"));
  clear_requests();
  cycle();
  ck_assert_double_eq(api_up(), 1);
  ck_assert(has_series(&fx.rec, "schedule-web_primary-coverage"));
  ck_assert(has_series(&fx.rec, "schedule-web_primary-oncall"));
  yajl_val log = requests();
  ck_assert_uint_eq(count_path(log, "/schedules"), 1);
  ck_assert_uint_eq(count_path(log, "/oncalls"), 0); /* still cached */
  yajl_tree_free(log);
  stop_account();
}
END_TEST

START_TEST(test_timeout_stops_the_cycle) {
  reset_sim("demo");
  configure(sim.token);
  fx.cfg.transport.timeout_ms = 500;
  start_account();
  /* Hangs until cleared below: only the 500 ms Timeout can end it. */
  fault("{\"kind\":\"hang\",\"path\":\"/services\"}");
  clear_requests();
  cycle();
  ck_assert_double_eq(api_up(), 0);
  /* the connection failed: no more requests in this cycle */
  yajl_val log = requests();
  ck_assert_uint_eq(count_path(log, "/incidents"), 0);
  ck_assert_uint_eq(count_path(log, "/schedules"), 0);
  yajl_tree_free(log);
  ck_assert(value_of(&fx.rec, "duration", "api-cycle") < 30); /* loose */
  ck_assert_uint_eq(series_count_entity(&fx.rec, PD_ENTITY_SERVICE), 0);
  ck_assert_uint_eq(series_count(&fx.rec, PD_SERIES_SERVICES), 0);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  pdsim_clear_faults(&sim);

  fault("{\"kind\":\"reset\",\"path\":\"/services\"}");
  cycle();
  ck_assert_double_eq(api_up(), 0);
  /* a connection failure again: logged once for the account */
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  cycle();
  ck_assert_double_eq(api_up(), 1);
  ck_assert(has_series(&fx.rec, "service-web_frontend-status"));
  ck_assert(stub_log_contains(LOG_INFO, "PagerDuty requests succeed again"));
  stop_account();
}
END_TEST

START_TEST(test_429_is_waited_out) {
  reset_sim("demo");
  configure(sim.token);
  start_account();
  cycle();
  fault("{\"kind\":\"ratelimit\",\"reset\":1,\"path\":\"/services\"}");
  clear_requests();
  double started = pd_monotonic_now();
  cycle();
  double took = pd_monotonic_now() - started;
  ck_assert_msg(api_up() == 1, "%s", stub_log_dump());
  ck_assert_double_eq(value_of(&fx.rec, "derive", "api-throttled"), 1);
  ck_assert(took >= 0.9);
  yajl_val log = requests();
  ck_assert_uint_eq(count_path(log, "/services"), 2);
  yajl_tree_free(log);
  ck_assert(has_series(&fx.rec, "service-web_frontend-status"));
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 0);

  /* without rate-limit headers, with Retry-After */
  fault("{\"kind\":\"ratelimit\",\"headers\":false,\"retry_after\":1,"
        "\"path\":\"/incidents\"}");
  cycle();
  ck_assert_double_eq(api_up(), 1);
  ck_assert_double_eq(value_of(&fx.rec, "derive", "api-throttled"), 2);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 0);
  stop_account();
}
END_TEST

START_TEST(test_429_past_the_budget) {
  reset_sim("demo");
  configure(sim.token);
  fx.cfg.interval_s = 2; /* a budget of 1.8 s */
  start_account();
  cycle();
  fault("{\"kind\":\"ratelimit\",\"reset\":5,\"count\":-1,"
        "\"path\":\"/services\"}");
  double started = pd_monotonic_now();
  cycle();
  /* Not waited out: that alone takes the 429's 5 s. */
  ck_assert(pd_monotonic_now() - started < 5);
  ck_assert_double_eq(api_up(), 0);
  ck_assert(!has_series(&fx.rec, "service-web_frontend-status"));
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  pdsim_clear_faults(&sim);
  sleep(5); /* the 429 said 5 s */
  cycle();
  ck_assert_msg(api_up() == 1, "%s", stub_log_dump());
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  stop_account();
}
END_TEST

/* --- doc/contract.md §7 messages ------------------------------------------ */

START_TEST(test_401_logged_once_retried_slowly) {
  reset_sim("demo");
  char revoked[256];
  token_by_label("revoked", revoked, sizeof(revoked));
  configure(revoked);
  start_account();
  clear_requests();
  cycle();
  ck_assert_double_eq(api_up(), 0);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  ck_assert(stub_log_contains(LOG_ERR, "authentication failed; check the "
                                       "User API token"));
  ck_assert_uint_eq(series_count_entity(&fx.rec, PD_ENTITY_SERVICE), 0);
  ck_assert_uint_eq(series_count(&fx.rec, PD_SERIES_SERVICES), 0);
  cycle();
  cycle();
  ck_assert_double_eq(api_up(), 0);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  yajl_val log = requests();
  /* one request, then nothing until SlowInterval */
  ck_assert_uint_eq(request_list(log)->u.array.len, 1);
  yajl_tree_free(log);
  no_secret_in_log();
  stop_account();
}
END_TEST

START_TEST(test_account_key_warns_and_collects) {
  reset_sim("demo");
  char key[256];
  token_by_label("account", key, sizeof(key));
  configure(key);
  start_account();
  cycle();
  ck_assert_double_eq(api_up(), 1);
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 1);
  ck_assert(stub_log_contains(LOG_WARNING, "account-level"));
  ck_assert(stub_log_contains(LOG_WARNING, "User API token"));
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 0);
  ck_assert(has_series(&fx.rec, "service-web_frontend-status"));
  cycle();
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 1);
  no_secret_in_log();
  stop_account();
}
END_TEST

START_TEST(test_403_logged_once) {
  reset_sim("demo");
  configure(sim.token);
  start_account();
  fault("{\"kind\":\"status\",\"status\":403,\"count\":-1,"
        "\"path\":\"/oncalls\"}");
  cycle();
  cycle();
  cycle();
  ck_assert_double_eq(api_up(), 0);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  ck_assert(stub_log_contains(LOG_ERR, "GET /oncalls"));
  ck_assert(stub_log_contains(LOG_ERR, "the user's role or team access does "
                                       "not allow it"));
  /* only the series that need on-calls are missing (a schedule's oncall
   * comes from its final schedule) */
  ck_assert(has_series(&fx.rec, "schedule-web_primary-oncall"));
  ck_assert(!has_series(&fx.rec, "policy-web_escalation-oncall"));
  ck_assert(!has_series(&fx.rec, "policy-web_escalation-uncovered_levels"));
  ck_assert(has_series(&fx.rec, "schedule-web_primary-coverage"));
  ck_assert(has_series(&fx.rec, "policy-web_escalation-rules"));
  pdsim_clear_faults(&sim);
  cycle();
  ck_assert_double_eq(api_up(), 1);
  ck_assert(has_series(&fx.rec, "policy-web_escalation-uncovered_levels"));
  ck_assert(stub_log_contains(LOG_INFO, "GET /oncalls succeeds again"));
  stop_account();
}
END_TEST

START_TEST(test_token_file_rotation) {
  reset_sim("demo");
  char revoked[256];
  token_by_label("revoked", revoked, sizeof(revoked));
  char path[] = "/tmp/pd-collect-token-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  fchmod(fd, 0600);
  ck_assert(write(fd, revoked, strlen(revoked)) == (ssize_t)strlen(revoked));
  close(fd);

  configure("");
  fx.cfg.token_source = PD_TOKEN_FROM_FILE;
  fx.cfg.token = NULL;
  fx.cfg.token_file = path;
  start_account();
  cycle();
  ck_assert_double_eq(api_up(), 0);
  ck_assert(stub_log_contains(LOG_ERR, "authentication failed"));

  /* rotate: the new token is used at once, metrics flow */
  sleep(1);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f, "%s\n", sim.token);
  fclose(f);
  cycle();
  ck_assert_msg(api_up() == 1, "%s", stub_log_dump());
  ck_assert(has_series(&fx.rec, "service-web_frontend-status"));
  ck_assert(has_series(&fx.rec, "schedule-web_primary-coverage"));
  ck_assert(stub_log_contains(LOG_INFO, "changed; using the new token"));
  ck_assert(strstr(stub_log_dump(), sim.token) == NULL);
  ck_assert(strstr(stub_log_dump(), revoked) == NULL);
  unlink(path);
  stop_account();
}
END_TEST

/* --- doc/contract.md §5 notifications ------------------------------------- */

START_TEST(test_notifications) {
  reset_sim("demo");
  configure(sim.token);
  fx.cfg.notifications = true;
  start_account();
  cycle();
  const notif_recorder_t *n = &fx.notifs;
  const rec_notif_t *x = find_notif(n, "service-checkout_api-status");
  ck_assert_ptr_nonnull(x);
  ck_assert_int_eq(x->severity, PD_NOTIF_FAILURE);
  ck_assert_str_eq(x->type, "gauge");
  ck_assert_str_eq(x->host, "pdhost");
  ck_assert_str_eq(x->plugin_instance, "acme");
  ck_assert_ptr_nonnull(find_notif(n, "service-web_frontend-status"));
  ck_assert_ptr_nonnull(find_notif(n, "service-kubernetes_platform-status"));
  ck_assert_ptr_null(find_notif(n, "service-cdn_edge-status"));
  x = find_notif(n, "schedule-payments_primary-gap");
  ck_assert_ptr_nonnull(x);
  ck_assert_int_eq(x->severity, PD_NOTIF_WARNING);
  ck_assert_ptr_nonnull(strstr(x->message, "Payments Primary"));
  ck_assert_msg(strstr(x->message, "T06:00:00Z") != NULL &&
                    strstr(x->message, "T12:00:00Z") != NULL,
                "%s", x->message);
  ck_assert_ptr_null(find_notif(n, "schedule-platform_primary-gap"));
  x = find_notif(n, "policy-web_escalation-oncall");
  ck_assert_ptr_nonnull(x);
  ck_assert_int_eq(x->severity, PD_NOTIF_FAILURE);
  for (size_t i = 0; i < n->num; i++)
    ck_assert_int_ne(n->items[i].severity, PD_NOTIF_OKAY);

  /* nothing changed: nothing sent */
  cycle();
  ck_assert_uint_eq(fx.notifs.num, 0);

  /* Checkout API goes into maintenance: no longer critical */
  yajl_val st = state();
  yajl_val services = member(st, "services");
  char path[128] = "";
  for (size_t i = 0; i < services->u.array.len; i++)
    if (strcmp(string(services->u.array.values[i], "name"), "Checkout API") ==
        0)
      snprintf(path, sizeof(path), "/_sim/services/%s",
               string(services->u.array.values[i], "id"));
  yajl_tree_free(st);
  ck_assert_int_eq(
      pdsim_call(&sim, "POST", path, "{\"status\":\"maintenance\"}", NULL),
      200);
  cycle();
  ck_assert_uint_eq(fx.notifs.num, 1);
  ck_assert_str_eq(fx.notifs.items[0].type_instance,
                   "service-checkout_api-status");
  ck_assert_int_eq(fx.notifs.items[0].severity, PD_NOTIF_OKAY);
  ck_assert_ptr_nonnull(strstr(fx.notifs.items[0].message, "maintenance"));
  stop_account();

  /* Notifications false: none */
  configure(sim.token);
  start_account();
  cycle();
  ck_assert_uint_eq(fx.notifs.num, 0);
  stop_account();
}
END_TEST

static Suite *collect_suite(void) {
  Suite *s = suite_create("collect");
  TCase *tc = tcase_create("simulator");
  /* A bound for a hung test, not an estimate: under ASan on a busy 2-core
   * machine one large-account test (a cycle of 250 requests, 12 MB states
   * parsed twice) took more than 300 s. */
  tcase_set_timeout(tc, 900);
  tcase_add_unchecked_fixture(tc, sim_up, sim_down);
  tcase_add_test(tc, test_demo_requests_and_series);
  tcase_add_test(tc, test_demo_named_series);
  tcase_add_test(tc, test_cache_and_slow_interval);
  tcase_add_test(tc, test_collect_fetches_only_what_is_needed);
  tcase_add_test(tc, test_incremental_service_status);
  tcase_add_test(tc, test_incremental_team_lists_services);
  tcase_add_test(tc, test_large_more_than_10000_open);
  tcase_add_test(tc, test_more_than_10000_in_one_second);
  tcase_add_test(tc, test_one_service_past_10000_any_server);
  tcase_add_test(tc, test_trend_unprovable);
  tcase_add_test(tc, test_team_scope);
  tcase_add_test(tc, test_team_unknown);
  tcase_add_test(tc, test_team_empty_scope_warns);
  tcase_add_test(tc, test_no_teams_ability);
  tcase_add_test(tc, test_failure_part_way_dispatches_nothing);
  tcase_add_test(tc, test_failures_of_each_kind);
  tcase_add_test(tc, test_slow_failure_retried_next_cycle);
  tcase_add_test(tc, test_timeout_stops_the_cycle);
  tcase_add_test(tc, test_429_is_waited_out);
  tcase_add_test(tc, test_429_past_the_budget);
  tcase_add_test(tc, test_401_logged_once_retried_slowly);
  tcase_add_test(tc, test_account_key_warns_and_collects);
  tcase_add_test(tc, test_403_logged_once);
  tcase_add_test(tc, test_token_file_rotation);
  tcase_add_test(tc, test_notifications);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (pd_http_global_init() != 0)
    return EXIT_FAILURE;
  SRunner *sr = srunner_create(collect_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  pd_http_global_cleanup();
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
