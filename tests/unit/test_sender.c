/* SPDX-License-Identifier: MIT */
/*
 * test_sender.c - Notify blocks delivering to the real simulator over real
 * sockets, from real spool directories: the Events and REST paths, notes,
 * urgency raises, 429 storms, 5xx bursts, 400s into failed/, a revoked
 * token, a simulator that is down, crashes (kill -9 of a child process
 * mid-request) that must not make a second incident or note, MaxEventAge,
 * order per dedup key, reconciliation and the per-Notify metrics. What
 * PagerDuty ended up with is read from /_sim/state and /_sim/requests.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon_stubs.h"
#include "pd_account.h"
#include "pd_sender.h"
#include "pdsim_fixture.h"
#include "series_fixture.h"

#define BLOCK "paging"
#define SERVICE_NAME "Auth Service" /* active, no open incidents */
#define SECOND TIME_T_TO_CDTIME_T(1)

static pdsim_t sim;
static char routing_key[64];
static char service_id[32];
static char root[64]; /* SpoolDir */

/* ------------------------------------------------------ simulator data */

static const char *const tokens_path[] = {"tokens", NULL};
static const char *const keys_path[] = {"routing_keys", NULL};

/* A token of the scenario by label (caller frees). */
static char *token_of(const char *label) {
  yajl_val root_v = pdsim_get_json(&sim, "/_sim/tokens");
  ck_assert_ptr_nonnull(root_v);
  yajl_val list = pdsim_json_get(root_v, tokens_path);
  char *token = NULL;
  for (size_t i = 0; list != NULL && i < list->u.array.len; i++) {
    const char *l = pdsim_json_string(list->u.array.values[i], "label");
    if (l != NULL && strcmp(l, label) == 0)
      token = strdup(pdsim_json_string(list->u.array.values[i], "token"));
  }
  yajl_tree_free(root_v);
  ck_assert_ptr_nonnull(token);
  return token;
}

static void load_service(void) {
  yajl_val root_v = pdsim_get_json(&sim, "/_sim/tokens");
  ck_assert_ptr_nonnull(root_v);
  yajl_val list = pdsim_json_get(root_v, keys_path);
  for (size_t i = 0; list != NULL && i < list->u.array.len; i++) {
    yajl_val k = list->u.array.values[i];
    if (strcmp(pdsim_json_string(k, "service_name"), SERVICE_NAME) == 0) {
      snprintf(routing_key, sizeof(routing_key), "%s",
               pdsim_json_string(k, "routing_key"));
      snprintf(service_id, sizeof(service_id), "%s",
               pdsim_json_string(k, "service_id"));
    }
  }
  yajl_tree_free(root_v);
  ck_assert_uint_eq(strlen(routing_key), 32);
}

static yajl_val array_at(yajl_val v, const char *key) {
  const char *path[] = {key, NULL};
  return yajl_tree_get(v, path, yajl_t_array);
}

static double number_of(yajl_val obj, const char *key) {
  const char *path[] = {key, NULL};
  yajl_val v = yajl_tree_get(obj, path, yajl_t_number);
  return v != NULL ? YAJL_GET_DOUBLE(v) : -1;
}

/* What the simulator holds for incident_key key. */
typedef struct {
  int total, open;
  char id[32], status[32], urgency[32], resolution[512];
  int notes_with[4]; /* notes whose content equals the texts asked for */
} key_view_t;

static void view_key(const char *key, const char *const *note_texts,
                     key_view_t *out) {
  memset(out, 0, sizeof(*out));
  yajl_val st = pdsim_get_json(&sim, "/_sim/state");
  ck_assert_ptr_nonnull(st);
  yajl_val incs = array_at(st, "incidents");
  ck_assert_ptr_nonnull(incs);
  for (size_t i = 0; i < incs->u.array.len; i++) {
    yajl_val inc = incs->u.array.values[i];
    const char *k = pdsim_json_string(inc, "incident_key");
    if (k == NULL || strcmp(k, key) != 0)
      continue;
    out->total++;
    const char *status = pdsim_json_string(inc, "status");
    if (strcmp(status, "resolved") != 0)
      out->open++;
    snprintf(out->id, sizeof(out->id), "%s", pdsim_json_string(inc, "id"));
    snprintf(out->status, sizeof(out->status), "%s", status);
    snprintf(out->urgency, sizeof(out->urgency), "%s",
             pdsim_json_string(inc, "urgency"));
    const char *res = pdsim_json_string(inc, "resolution");
    snprintf(out->resolution, sizeof(out->resolution), "%s",
             res != NULL ? res : "");
    yajl_val notes = array_at(inc, "notes");
    for (size_t j = 0; notes != NULL && j < notes->u.array.len; j++) {
      const char *content =
          pdsim_json_string(notes->u.array.values[j], "content");
      for (int t = 0; note_texts != NULL && note_texts[t] != NULL; t++)
        if (content != NULL && strcmp(content, note_texts[t]) == 0)
          out->notes_with[t]++;
    }
  }
  yajl_tree_free(st);
}

/* Requests in the log: method, path prefix, status (-1 any). */
static int count_requests(const char *method, const char *prefix, long status) {
  yajl_val log = pdsim_get_json(&sim, "/_sim/requests");
  ck_assert_ptr_nonnull(log);
  yajl_val list = array_at(log, "requests");
  int n = 0;
  for (size_t i = 0; list != NULL && i < list->u.array.len; i++) {
    yajl_val r = list->u.array.values[i];
    const char *m = pdsim_json_string(r, "method");
    const char *path = pdsim_json_string(r, "path");
    if (m != NULL && path != NULL && strcmp(m, method) == 0 &&
        strncmp(path, prefix, strlen(prefix)) == 0 &&
        (status < 0 || (long)number_of(r, "status") == status))
      n++;
  }
  yajl_tree_free(log);
  return n;
}

/* The event_action of every accepted Events request for dedup key, in
 * order, joined by ",". */
static void events_of(const char *key, char *out, size_t size) {
  out[0] = '\0';
  yajl_val log = pdsim_get_json(&sim, "/_sim/requests");
  ck_assert_ptr_nonnull(log);
  yajl_val list = array_at(log, "requests");
  const char *key_path[] = {"body", "dedup_key", NULL};
  const char *action_path[] = {"body", "event_action", NULL};
  for (size_t i = 0; list != NULL && i < list->u.array.len; i++) {
    yajl_val r = list->u.array.values[i];
    const char *path = pdsim_json_string(r, "path");
    if (path == NULL || strcmp(path, "/v2/enqueue") != 0 ||
        number_of(r, "status") != 202)
      continue;
    yajl_val k = yajl_tree_get(r, key_path, yajl_t_string);
    yajl_val a = yajl_tree_get(r, action_path, yajl_t_string);
    if (k == NULL || a == NULL || strcmp(k->u.string, key) != 0)
      continue;
    size_t len = strlen(out);
    snprintf(out + len, size - len, "%s%s", len > 0 ? "," : "", a->u.string);
  }
  yajl_tree_free(log);
}

static int faults_armed(void) {
  yajl_val v = pdsim_get_json(&sim, "/_sim/faults");
  ck_assert_ptr_nonnull(v);
  yajl_val list = array_at(v, "faults");
  int n = list != NULL ? (int)list->u.array.len : 0;
  yajl_tree_free(v);
  return n;
}

/* ---------------------------------------------------------- the rig */

/* One Notify block with its spool, state, optional Account and sender. */
typedef struct {
  pd_notify_config_t cfg;
  pd_account_config_t acfg;
  bool with_account;
  pd_account_t *acct;
  pd_spool_t *spool;
  pd_notify_t *nt;
  pd_sender_t *sender;
  double max_event_age_s;
  double reconcile_s;
  double events_throttle_s; /* 0: the documented 30 s */
} rig_t;

static rig_t rig;

/* The fake collectd value cache of reconciliation. */
static struct {
  const char *identifier;
  pd_value_state_t state;
} values[4];

static pd_value_state_t fake_value_state(void *ctx, const char *identifier) {
  (void)ctx;
  for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
    if (values[i].identifier != NULL &&
        strcmp(values[i].identifier, identifier) == 0)
      return values[i].state;
  return PD_VALUE_UNKNOWN;
}

static void transport_defaults(pd_transport_config_t *t) {
  t->timeout_ms = 5000;
  t->verify_peer = true;
  t->verify_host = true;
}

/* An Events block on the simulator's Auth Service. */
static void events_block(void) {
  rig.cfg.routing_key = routing_key;
  rig.cfg.service = NULL;
}

/* A REST block on Auth Service with an Account whose token is `label`. */
static void rest_block(const char *label) {
  rig.cfg.routing_key = NULL;
  rig.cfg.service = service_id;
  rig.cfg.account = "acme";
  rig.with_account = true;
  rig.acfg.token = token_of(label);
}

static void setup(void) {
  stub_log_reset();
  ck_assert_int_eq(pdsim_reset(&sim, NULL), 0);
  snprintf(root, sizeof(root), "/tmp/test_sender.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(root));
  memset(&rig, 0, sizeof(rig));
  memset(values, 0, sizeof(values));
  rig.cfg.name = BLOCK;
  rig.cfg.severities = PD_SEVERITY_ALL;
  rig.cfg.events_url = sim.url;
  rig.cfg.resolve_on_okay = true;
  rig.cfg.note_interval_s = 600;
  transport_defaults(&rig.cfg.transport);
  rig.acfg.name = "acme";
  rig.acfg.token_source = PD_TOKEN_FROM_CONFIG;
  rig.acfg.url = sim.url;
  rig.acfg.interval_s = 60;
  rig.acfg.slow_interval_s = 300;
  rig.acfg.coverage_window_s = 604800;
  rig.acfg.trend_window_s = 86400;
  rig.acfg.collect = PD_COLLECT_SERVICES;
  rig.acfg.max_requests_per_minute = 600;
  transport_defaults(&rig.acfg.transport);
  rig.max_event_age_s = 86400;
}

/* Builds what is not built yet; the sender only when asked. Returns -1
 * instead of asserting (children use it too). */
static int rig_open(bool with_sender) {
  if (rig.with_account && rig.acct == NULL &&
      (rig.acct = pd_account_create(&rig.acfg)) == NULL)
    return -1;
  if (rig.spool == NULL &&
      (rig.spool = pd_spool_open(root, BLOCK, 100000)) == NULL)
    return -1;
  if (rig.nt == NULL &&
      (rig.nt = pd_notify_open(&rig.cfg, rig.spool, rig.acct != NULL)) == NULL)
    return -1;
  if (with_sender && rig.sender == NULL) {
    pd_sender_options_t opts = {
        .notify = rig.nt,
        .rest = rig.acct != NULL ? pd_account_rest(rig.acct) : NULL,
        .max_event_age_s = rig.max_event_age_s,
        .reconcile_interval_s = rig.reconcile_s,
        .value_state = fake_value_state,
        .events_throttle_s = rig.events_throttle_s,
    };
    rig.sender = pd_sender_create(&opts);
    if (rig.sender == NULL || pd_sender_start(rig.sender) != 0)
      return -1;
  }
  return 0;
}

static void rig_close(void) {
  if (rig.acct != NULL)
    pd_http_client_cancel(pd_rest_http(pd_account_rest(rig.acct)));
  pd_sender_destroy(rig.sender);
  pd_notify_close(rig.nt);
  pd_spool_close(rig.spool);
  pd_account_destroy(rig.acct);
  rig.sender = NULL;
  rig.nt = NULL;
  rig.spool = NULL;
  rig.acct = NULL;
}

static void teardown(void) {
  rig_close();
  free(rig.acfg.token);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
  ck_assert_int_eq(system(cmd), 0);
  pdsim_clear_faults(&sim);
}

static void sim_up(void) {
  ck_assert_msg(pdsim_start(&sim, "demo", NULL) == 0,
                "cannot start the simulator %s", pdsim_path());
  load_service();
}

static void sim_down(void) { pdsim_stop(&sim); }

/* ------------------------------------------------------------ helpers */

static notification_t notif(int severity, const char *host,
                            const char *message) {
  notification_t n;
  memset(&n, 0, sizeof(n));
  n.severity = severity;
  n.time = cdtime();
  snprintf(n.host, sizeof(n.host), "%s", host);
  snprintf(n.plugin, sizeof(n.plugin), "df");
  snprintf(n.plugin_instance, sizeof(n.plugin_instance), "root");
  snprintf(n.type, sizeof(n.type), "percent_bytes");
  snprintf(n.type_instance, sizeof(n.type_instance), "used");
  snprintf(n.message, sizeof(n.message), "%s", message);
  return n;
}

static notification_meta_t meta_string(const char *name, const char *value) {
  notification_meta_t m = {.type = NM_TYPE_STRING};
  snprintf(m.name, sizeof(m.name), "%s", name);
  m.nm_value.nm_string = value;
  return m;
}

static void handle(const notification_t *n, cdtime_t now,
                   pd_notify_result_t expected) {
  ck_assert_int_eq(pd_notify_handle(rig.nt, n, now), expected);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Every wait for a condition below is bounded by WAIT_SCALE times the
 * seconds it names: bounds for a broken sender, not estimates. A passing
 * test returns as soon as the condition holds, so a generous bound costs
 * nothing, and a busy machine (or ASan) may be several times slower. */
#define WAIT_SCALE 4

/* Waits until a message containing text was logged at severity. */
static bool wait_logged(int severity, const char *text, double timeout_s);

static void sleep_s(double s) {
  struct timespec ts = {.tv_sec = (time_t)s,
                        .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

static size_t pending(void) {
  pd_spool_stats_t st;
  pd_spool_stats(rig.spool, &st);
  return st.pending;
}

/* Waits until the spool is empty; false after timeout_s. */
static bool drained(double timeout_s) {
  double end = now_s() + WAIT_SCALE * timeout_s;
  while (now_s() < end) {
    if (pending() == 0)
      return true;
    sleep_s(0.05);
  }
  return pending() == 0;
}

static bool wait_key(const char *key, const char *status, double timeout_s) {
  double end = now_s() + WAIT_SCALE * timeout_s;
  key_view_t v;
  do {
    view_key(key, NULL, &v);
    if (v.total > 0 && strcmp(v.status, status) == 0)
      return true;
    sleep_s(0.1);
  } while (now_s() < end);
  return false;
}

static bool wait_logged(int severity, const char *text, double timeout_s) {
  double end = now_s() + WAIT_SCALE * timeout_s;
  while (!stub_log_contains(severity, text) && now_s() < end)
    sleep_s(0.05);
  return stub_log_contains(severity, text);
}

#define KEY_WEB01 "web01/df-root/percent_bytes-used"

/* The value of a NOTIFY series of the table (pd_series.def) in r. */
static double metric(series_recorder_t *r, pd_series_id_t id) {
  char ti[PD_TYPE_INSTANCE_MAX];
  ck_assert_int_eq(pd_series_type_instance(ti, sizeof(ti), id, NULL, NULL), 0);
  const series_metric_t *m = series_recorder_find(r, ti);
  ck_assert_msg(m != NULL, "metric %s not dispatched", ti);
  ck_assert_str_eq(m->type, pd_series[id].type);
  return m->value;
}

/* Records the block's metrics into r (series_recorder_free() after): one
 * value of each Notify series, in the block's plugin instance. */
static void metrics(series_recorder_t *r) {
  *r = (series_recorder_t){.plugin_instance = "notify-" BLOCK};
  pd_metric_sink_t sink = {.emit = series_record, .ctx = r};
  pd_sender_dispatch_metrics(rig.sender, &sink, "");
  ck_assert_uint_eq(r->num, series_per(PD_ENTITY_NOTIFY));
  ck_assert_uint_eq(series_count_entity(r, PD_ENTITY_NOTIFY), r->num);
  ck_assert_double_eq(metric(r, PD_SERIES_NOTIFY_DROPPED),
                      0); /* a healthy disk */
  ck_assert_str_eq(r->problem, "");
}

static int files_in(const char *dir, const char *suffix) {
  DIR *d = opendir(dir);
  if (d == NULL)
    return 0;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    size_t len = strlen(de->d_name), sl = strlen(suffix);
    if (len > sl && strcmp(de->d_name + len - sl, suffix) == 0)
      n++;
  }
  closedir(d);
  return n;
}

/* ------------------------------------------------------- Events path */

START_TEST(test_events_trigger_ack_resolve) {
  events_block();
  ck_assert_int_eq(rig_open(true), 0);
  notification_t n = notif(NOTIF_FAILURE, "web01", "Disk 97% full");
  handle(&n, cdtime(), PD_NOTIFY_QUEUED);
  ck_assert(drained(10));
  key_view_t v;
  view_key(KEY_WEB01, NULL, &v);
  ck_assert_int_eq(v.total, 1);
  ck_assert_str_eq(v.status, "triggered");
  ck_assert_str_eq(v.urgency, "high");

  /* A repeat is not sent again. */
  handle(&n, cdtime(), PD_NOTIFY_NOTHING);

  notification_t ack = notif(NOTIF_OKAY, "web01", "on it");
  notification_meta_t m[1] = {meta_string("pagerduty_action", "acknowledge")};
  ack.meta = m;
  handle(&ack, cdtime(), PD_NOTIFY_QUEUED);
  ck_assert(drained(10));
  ck_assert(wait_key(KEY_WEB01, "acknowledged", 5));

  notification_t ok = notif(NOTIF_OKAY, "web01", "Disk 50% full");
  handle(&ok, cdtime(), PD_NOTIFY_QUEUED);
  ck_assert(drained(10));
  ck_assert(wait_key(KEY_WEB01, "resolved", 5));
  view_key(KEY_WEB01, NULL, &v);
  ck_assert_int_eq(v.total, 1);

  char actions[256];
  events_of(KEY_WEB01, actions, sizeof(actions));
  ck_assert_str_eq(actions, "trigger,acknowledge,resolve");
  ck_assert_int_eq(count_requests("POST", "/v2/enqueue", -1), 3);

  series_recorder_t r;
  metrics(&r);
  ck_assert_double_eq(metric(&r, PD_SERIES_NOTIFY_PENDING), 0);
  ck_assert_double_eq(metric(&r, PD_SERIES_NOTIFY_OLDEST), 0);
  ck_assert_double_eq(metric(&r, PD_SERIES_NOTIFY_SENT), 3);
  ck_assert_double_eq(metric(&r, PD_SERIES_NOTIFY_RETRIED), 0);
  ck_assert_double_eq(metric(&r, PD_SERIES_NOTIFY_FAILED), 0);
  series_recorder_free(&r);
  ck_assert(!stub_log_contains(-1, routing_key));
}
END_TEST

START_TEST(test_events_warning_to_failure) {
  events_block();
  ck_assert_int_eq(rig_open(true), 0);
  notification_t w = notif(NOTIF_WARNING, "web01", "Disk 85% full");
  handle(&w, cdtime(), PD_NOTIFY_QUEUED);
  ck_assert(drained(10));
  key_view_t v;
  view_key(KEY_WEB01, NULL, &v);
  ck_assert_str_eq(v.urgency, "low");
  notification_t f = notif(NOTIF_FAILURE, "web01", "Disk 97% full");
  handle(&f, cdtime(), PD_NOTIFY_QUEUED);
  ck_assert(drained(10));
  view_key(KEY_WEB01, NULL, &v);
  ck_assert_int_eq(v.total, 1);
  ck_assert_str_eq(v.urgency, "high");
  char actions[256];
  events_of(KEY_WEB01, actions, sizeof(actions));
  ck_assert_str_eq(actions, "trigger,trigger");
}
END_TEST

/* --------------------------------------------------------- REST path */

START_TEST(test_rest_create_note_resolve) {
  rest_block("manager");
  rig.cfg.note_interval_s = 60;
  ck_assert_int_eq(rig_open(true), 0);
  cdtime_t t0 = cdtime();
  notification_t n = notif(NOTIF_FAILURE, "web01", "Disk 97% full");
  handle(&n, t0, PD_NOTIFY_QUEUED);
  ck_assert(drained(10));
  key_view_t v;
  view_key(KEY_WEB01, NULL, &v);
  ck_assert_int_eq(v.total, 1);
  ck_assert_str_eq(v.urgency, "high");
  pd_open_alert_t a;
  ck_assert_int_eq(pd_notify_lookup(rig.nt, KEY_WEB01, &a), 0);
  ck_assert_str_eq(a.incident_id, v.id); /* learnt from the 201 */

  /* A repeat within NoteInterval: nothing; after it: one note. */
  handle(&n, t0 + 30 * SECOND, PD_NOTIFY_NOTHING);
  snprintf(n.message, sizeof(n.message), "Disk 98%% full");
  handle(&n, t0 + 61 * SECOND, PD_NOTIFY_QUEUED);
  ck_assert(drained(10));
  const char *texts[] = {"still FAILURE: Disk 98% full", NULL};
  view_key(KEY_WEB01, texts, &v);
  ck_assert_int_eq(v.notes_with[0], 1);

  notification_t ok = notif(NOTIF_OKAY, "web01", "Disk 50% full");
  handle(&ok, t0 + 62 * SECOND, PD_NOTIFY_QUEUED);
  ck_assert(drained(10));
  view_key(KEY_WEB01, texts, &v);
  ck_assert_int_eq(v.total, 1);
  ck_assert_str_eq(v.status, "resolved");
  ck_assert_str_eq(v.resolution, "Disk 50% full");
  ck_assert_int_eq(count_requests("POST", "/incidents", 201), 1);
  ck_assert_int_eq(count_requests("PUT", "/incidents/", 200), 1);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 0);
}
END_TEST

START_TEST(test_rest_warning_to_failure_raises_urgency) {
  rest_block("manager");
  ck_assert_int_eq(rig_open(true), 0);
  notification_t w = notif(NOTIF_WARNING, "web01", "Disk 85% full");
  handle(&w, cdtime(), PD_NOTIFY_QUEUED);
  ck_assert(drained(10));
  key_view_t v;
  view_key(KEY_WEB01, NULL, &v);
  ck_assert_str_eq(v.urgency, "low");
  notification_t f = notif(NOTIF_FAILURE, "web01", "Disk 97% full");
  handle(&f, cdtime(), PD_NOTIFY_QUEUED);
  ck_assert(drained(10));
  view_key(KEY_WEB01, NULL, &v);
  ck_assert_int_eq(v.total, 1);
  ck_assert_str_eq(v.urgency, "high");
  ck_assert_int_eq(count_requests("POST", "/incidents", -1), 1);
}
END_TEST

START_TEST(test_rest_okay_without_incident_sends_nothing) {
  rest_block("manager");
  ck_assert_int_eq(rig_open(true), 0);
  /* The threshold plugin's start-up OKAY: no event at all. */
  notification_t ok = notif(NOTIF_OKAY, "web01", "ok");
  handle(&ok, cdtime(), PD_NOTIFY_NOTHING);
  /* An operator's resolve with nothing open: looked up, nothing PUT. */
  notification_meta_t m[1] = {meta_string("pagerduty_action", "resolve")};
  ok.meta = m;
  handle(&ok, cdtime(), PD_NOTIFY_QUEUED);
  ck_assert(drained(10));
  ck_assert_int_eq(count_requests("GET", "/incidents", 200), 1);
  ck_assert_int_eq(count_requests("PUT", "/incidents", -1), 0);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 0);
}
END_TEST

START_TEST(test_rest_acknowledge_by_incident_number) {
  rest_block("manager");
  ck_assert_int_eq(rig_open(true), 0);
  notification_t n = notif(NOTIF_FAILURE, "web01", "Disk 97% full");
  handle(&n, cdtime(), PD_NOTIFY_QUEUED);
  ck_assert(drained(10));
  /* The operator names the incident by its number. */
  yajl_val st = pdsim_get_json(&sim, "/_sim/state");
  yajl_val incs = array_at(st, "incidents");
  long number = -1;
  for (size_t i = 0; i < incs->u.array.len; i++) {
    const char *k = pdsim_json_string(incs->u.array.values[i], "incident_key");
    if (k != NULL && strcmp(k, KEY_WEB01) == 0)
      number = (long)number_of(incs->u.array.values[i], "number");
  }
  yajl_tree_free(st);
  ck_assert_int_gt(number, 0);
  char ref[32];
  snprintf(ref, sizeof(ref), "%ld", number);
  notification_t ack = notif(NOTIF_OKAY, "ops", "");
  notification_meta_t m[2] = {meta_string("pagerduty_action", "acknowledge"),
                              meta_string("pagerduty_incident", ref)};
  m[0].next = &m[1];
  ack.meta = m;
  handle(&ack, cdtime(), PD_NOTIFY_QUEUED);
  ck_assert(drained(10));
  ck_assert(wait_key(KEY_WEB01, "acknowledged", 5));
}
END_TEST

START_TEST(test_observer_role_warned) {
  rest_block("observer");
  ck_assert_int_eq(rig_open(true), 0);
  double end = now_s() + WAIT_SCALE * 5;
  while (now_s() < end && !stub_log_contains(LOG_WARNING, "\"observer\""))
    sleep_s(0.05);
  ck_assert_msg(stub_log_contains(LOG_WARNING, "Responder or Manager"), "%s",
                stub_log_dump());
  /* And a write is refused (403), kept, logged with the role. */
  notification_t n = notif(NOTIF_FAILURE, "web01", "Disk 97% full");
  handle(&n, cdtime(), PD_NOTIFY_QUEUED);
  end = now_s() + WAIT_SCALE * 5;
  while (now_s() < end && count_requests("POST", "/incidents", 403) == 0)
    sleep_s(0.1);
  /* The sender has handled the 403 once it logged it (not after a guessed
   * sleep); the event is still kept then. */
  ck_assert_msg(wait_logged(LOG_ERR, "Responder or Manager", 5), "%s",
                stub_log_dump());
  ck_assert_uint_eq(pending(), 1);
  ck_assert(stub_log_contains(LOG_WARNING, "role is \"observer\""));
}
END_TEST

/* ------------------------------------------------- failures, retries */

START_TEST(test_429_storm_and_5xx_burst_lose_nothing) {
  events_block();
  ck_assert_int_eq(pdsim_fault(&sim, "{\"kind\":\"ratelimit\",\"count\":3,"
                                     "\"reset\":1,\"path\":\"/v2/enqueue\"}"),
                   0);
  ck_assert_int_eq(rig_open(false), 0);
  char hosts[8][16];
  for (int i = 0; i < 8; i++) {
    snprintf(hosts[i], sizeof(hosts[i]), "web%02d", i);
    notification_t n = notif(NOTIF_FAILURE, hosts[i], "Disk full");
    handle(&n, cdtime(), PD_NOTIFY_QUEUED);
  }
  ck_assert_int_eq(rig_open(true), 0);
  /* A 5xx burst in the middle. */
  sleep_s(0.5);
  ck_assert_int_eq(pdsim_fault(&sim, "{\"kind\":\"status\",\"status\":503,"
                                     "\"count\":2,\"path\":\"/v2/enqueue\"}"),
                   0);
  ck_assert(drained(30));
  for (int i = 0; i < 8; i++) {
    char key[256];
    snprintf(key, sizeof(key), "%s/df-root/percent_bytes-used", hosts[i]);
    key_view_t v;
    view_key(key, NULL, &v);
    ck_assert_msg(v.total == 1, "%s: %d incidents", key, v.total);
  }
  ck_assert_int_eq(count_requests("POST", "/v2/enqueue", 429), 3);
  series_recorder_t r;
  metrics(&r);
  ck_assert_double_eq(metric(&r, PD_SERIES_NOTIFY_SENT), 8);
  ck_assert_double_ge(metric(&r, PD_SERIES_NOTIFY_RETRIED), 3);
  ck_assert_double_eq(metric(&r, PD_SERIES_NOTIFY_FAILED), 0);
  series_recorder_free(&r);
  /* Logged when the failing started, not per attempt. */
  ck_assert_uint_le(stub_log_count(LOG_WARNING), 3);
}
END_TEST

/* The time the simulator logged the first request matching method, path
 * and status; -1 none. */
static double first_request_time(const char *method, const char *path,
                                 long status) {
  yajl_val log = pdsim_get_json(&sim, "/_sim/requests");
  ck_assert_ptr_nonnull(log);
  yajl_val list = array_at(log, "requests");
  double t = -1;
  for (size_t i = 0; list != NULL && i < list->u.array.len && t < 0; i++) {
    yajl_val r = list->u.array.values[i];
    const char *m = pdsim_json_string(r, "method");
    const char *p = pdsim_json_string(r, "path");
    if (m != NULL && p != NULL && strcmp(m, method) == 0 &&
        strcmp(p, path) == 0 && (long)number_of(r, "status") == status)
      t = number_of(r, "time");
  }
  yajl_tree_free(log);
  return t;
}

/* The Events API's own 429 names no wait (no headers, no Retry-After): the
 * whole block waits the documented ~30 s (shortened here through the
 * tests' knob), then every dedup key's events still go in order. */
START_TEST(test_events_429_without_named_wait_backs_off_in_order) {
  events_block();
  rig.events_throttle_s = 0.6;
  ck_assert_int_eq(pdsim_fault(&sim, "{\"kind\":\"ratelimit\",\"count\":1,"
                                     "\"headers\":false,\"body\":true,"
                                     "\"path\":\"/v2/enqueue\"}"),
                   0);
  ck_assert_int_eq(rig_open(false), 0);
  notification_t f = notif(NOTIF_FAILURE, "web01", "Disk 97% full");
  handle(&f, cdtime(), PD_NOTIFY_QUEUED);
  notification_t other = notif(NOTIF_FAILURE, "db01", "Disk 97% full");
  handle(&other, cdtime(), PD_NOTIFY_QUEUED);
  notification_t ack = notif(NOTIF_OKAY, "web01", "on it");
  notification_meta_t m[1] = {meta_string("pagerduty_action", "acknowledge")};
  ack.meta = m;
  handle(&ack, cdtime(), PD_NOTIFY_QUEUED);
  notification_t ok = notif(NOTIF_OKAY, "web01", "fine");
  handle(&ok, cdtime(), PD_NOTIFY_QUEUED);
  ck_assert_int_eq(rig_open(true), 0);
  ck_assert(drained(15));

  char actions[256];
  events_of(KEY_WEB01, actions, sizeof(actions));
  ck_assert_str_eq(actions, "trigger,acknowledge,resolve");
  events_of("db01/df-root/percent_bytes-used", actions, sizeof(actions));
  ck_assert_str_eq(actions, "trigger");
  /* Nothing went out until the wait was over: not even db01's trigger. */
  double refused = first_request_time("POST", "/v2/enqueue", 429);
  double next = first_request_time("POST", "/v2/enqueue", 202);
  ck_assert(refused > 0 && next > 0);
  ck_assert_msg(next - refused >= 0.6, "retried after %.3f s", next - refused);
  ck_assert_int_eq(count_requests("POST", "/v2/enqueue", 429), 1);
  ck_assert_int_eq(count_requests("POST", "/v2/enqueue", 202), 4);
}
END_TEST

START_TEST(test_400_goes_to_failed_with_reason) {
  events_block();
  /* A routing key of the wrong length: the Events API answers 400. */
  rig.cfg.routing_key = "R0123456789abcdef0123456789abcd";
  ck_assert_int_eq(rig_open(true), 0);
  notification_t n = notif(NOTIF_FAILURE, "web01", "Disk 97% full");
  handle(&n, cdtime(), PD_NOTIFY_QUEUED);
  ck_assert(drained(10));
  char failed[128], cmd[512];
  snprintf(failed, sizeof(failed), "%s/failed", root);
  ck_assert_int_eq(files_in(failed, ".json"), 1);
  ck_assert_int_eq(files_in(failed, ".reason"), 1);
  snprintf(cmd, sizeof(cmd), "grep -q 'HTTP 400' %s/*.reason", failed);
  ck_assert_int_eq(system(cmd), 0);
  snprintf(cmd, sizeof(cmd), "grep -rq '%s' %s", rig.cfg.routing_key, root);
  ck_assert_int_ne(system(cmd), 0); /* no secret on disk */
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  ck_assert(stub_log_contains(LOG_ERR, "HTTP 400"));
  ck_assert(!stub_log_contains(-1, rig.cfg.routing_key));
  ck_assert_int_eq(count_requests("POST", "/v2/enqueue", 400), 1);
  series_recorder_t r;
  metrics(&r);
  ck_assert_double_eq(metric(&r, PD_SERIES_NOTIFY_FAILED), 1);
  series_recorder_free(&r);
  /* The trigger never got through: the key is not believed open. */
  handle(&n, cdtime(), PD_NOTIFY_QUEUED);
}
END_TEST

START_TEST(test_revoked_token_keeps_events) {
  rest_block("revoked");
  /* A TokenFile, so the token can change under the running account. */
  char token_file[128];
  snprintf(token_file, sizeof(token_file), "%s/token", root);
  FILE *f = fopen(token_file, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f, "%s\n", rig.acfg.token);
  fclose(f);
  chmod(token_file, 0600);
  rig.acfg.token_source = PD_TOKEN_FROM_FILE;
  rig.acfg.token_file = token_file;
  ck_assert_int_eq(rig_open(true), 0);

  notification_t n = notif(NOTIF_FAILURE, "web01", "Disk 97% full");
  handle(&n, cdtime(), PD_NOTIFY_QUEUED);
  /* The block's first REST request is refused: GET /users/me, which the
   * sender asks for the From address before its first write. */
  double end = now_s() + WAIT_SCALE * 5;
  while (now_s() < end && count_requests("GET", "/users/me", 401) == 0)
    sleep_s(0.1);
  ck_assert(wait_logged(LOG_ERR, "authentication failed", 5)); /* handled */
  sleep_s(1.5);                    /* time for a (wrong) quick retry */
  ck_assert_uint_eq(pending(), 1); /* kept */
  ck_assert_int_eq(count_requests("GET", "/users/me", 401), 1); /* slowly */
  ck_assert_int_eq(count_requests("POST", "/incidents", -1), 0);
  ck_assert(!stub_log_contains(-1, rig.acfg.token));

  /* The operator rotates the token; the read side picks it up. */
  char *good = token_of("manager");
  sleep_s(1.1); /* a new mtime for the token file */
  f = fopen(token_file, "w");
  fprintf(f, "%s\n", good);
  fclose(f);
  series_recorder_t ignored = {0};
  pd_metric_sink_t sink = {.emit = series_record, .ctx = &ignored};
  pd_account_read(rig.acct, &sink);
  series_recorder_free(&ignored);
  ck_assert(drained(10));
  key_view_t v;
  view_key(KEY_WEB01, NULL, &v);
  ck_assert_int_eq(v.total, 1);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  free(good);
}
END_TEST

/* 2xx answers that are garbage or cut short are not taken as delivered;
 * the resend is idempotent. */
START_TEST(test_rest_garbage_answers_retried) {
  rest_block("manager");
  ck_assert_int_eq(pdsim_fault(&sim, "{\"kind\":\"garbage\",\"count\":1,"
                                     "\"method\":\"POST\",\"path\":"
                                     "\"/incidents\"}"),
                   0);
  ck_assert_int_eq(rig_open(true), 0);
  notification_t n = notif(NOTIF_FAILURE, "web01", "Disk 97% full");
  handle(&n, cdtime(), PD_NOTIFY_QUEUED);
  ck_assert(drained(10));
  key_view_t v;
  view_key(KEY_WEB01, NULL, &v);
  ck_assert_int_eq(v.total, 1);
  ck_assert_int_eq(count_requests("POST", "/incidents", 201), 1);
  char failed[128];
  snprintf(failed, sizeof(failed), "%s/failed", root);
  ck_assert_int_eq(files_in(failed, ".json"), 0);
}
END_TEST

/* A free TCP port on 127.0.0.1 (nothing listens there afterwards). */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

START_TEST(test_simulator_down_then_up) {
  events_block();
  int port = free_port();
  char url[64];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
  rig.cfg.events_url = url;
  ck_assert_int_eq(rig_open(true), 0);
  for (int i = 0; i < 3; i++) {
    char host[16];
    snprintf(host, sizeof(host), "db%02d", i);
    notification_t n = notif(NOTIF_FAILURE, host, "Disk full");
    handle(&n, cdtime(), PD_NOTIFY_QUEUED);
  }
  /* Connection refused, a few times: until the sender says so. */
  ck_assert_msg(wait_logged(LOG_WARNING, "delivery failing", 10), "%s",
                stub_log_dump());
  ck_assert_uint_eq(pending(), 3);

  /* A second simulator on that port (same scenario and seed, so the same
   * routing keys). */
  pdsim_t second;
  ck_assert_int_eq(pdsim_start_on(&second, "demo", NULL, port), 0);
  bool ok = drained(20);
  int total = 0;
  yajl_val st = pdsim_get_json(&second, "/_sim/state");
  yajl_val incs = st != NULL ? array_at(st, "incidents") : NULL;
  for (size_t i = 0; incs != NULL && i < incs->u.array.len; i++) {
    const char *k = pdsim_json_string(incs->u.array.values[i], "incident_key");
    if (k != NULL && strncmp(k, "db0", 3) == 0)
      total++;
  }
  yajl_tree_free(st);
  pdsim_stop(&second);
  ck_assert(ok);
  ck_assert_int_eq(total, 3);
  ck_assert(stub_log_contains(LOG_INFO, "succeed again"));
}
END_TEST

/* Runs a sender in a child process until the parent kills it (-9). */
static pid_t sender_child(void) {
  fflush(NULL);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    if (rig_open(true) != 0)
      _exit(2);
    for (;;)
      pause();
  }
  return pid;
}

/* Kills the child as soon as the hanging request is under way, then lets
 * the simulator answer it (into the closed connection). The hang lasts
 * until released here, however late the kill comes on a busy machine. */
static void kill_mid_request(pid_t child) {
  double end = now_s() + WAIT_SCALE * 10;
  while (now_s() < end && faults_armed() > 0)
    sleep_s(0.05);
  ck_assert_int_eq(faults_armed(), 0); /* the hang was taken */
  kill(child, SIGKILL);
  int status;
  ck_assert_int_eq(waitpid(child, &status, 0), child);
  ck_assert(WIFSIGNALED(status));
  ck_assert_int_eq(pdsim_clear_faults(&sim), 0); /* release the hang */
}

START_TEST(test_crash_after_create_makes_no_second_incident) {
  rest_block("manager");
  ck_assert_int_eq(rig_open(false), 0);
  notification_t n = notif(NOTIF_FAILURE, "web01", "Disk 97% full");
  handle(&n, cdtime(), PD_NOTIFY_QUEUED);
  rig_close();

  /* The POST reaches PagerDuty, which answers only after the crash. */
  ck_assert_int_eq(pdsim_fault(&sim, "{\"kind\":\"hang\","
                                     "\"method\":\"POST\",\"path\":"
                                     "\"/incidents\"}"),
                   0);
  kill_mid_request(sender_child());
  double end = now_s() + WAIT_SCALE * 5;
  key_view_t v;
  do {
    sleep_s(0.1);
    view_key(KEY_WEB01, NULL, &v);
  } while (v.total == 0 && now_s() < end);
  ck_assert_int_eq(v.total, 1);

  /* Restart: the event is replayed, PagerDuty says 400 (open key),
   * which counts as delivered. */
  ck_assert_int_eq(rig_open(true), 0);
  ck_assert(drained(10));
  view_key(KEY_WEB01, NULL, &v);
  ck_assert_int_eq(v.total, 1);
  ck_assert_int_eq(count_requests("POST", "/incidents", 400), 1);
  pd_open_alert_t a;
  ck_assert_int_eq(pd_notify_lookup(rig.nt, KEY_WEB01, &a), 0);
  ck_assert_str_eq(a.incident_id, v.id);
  char failed[128];
  snprintf(failed, sizeof(failed), "%s/failed", root);
  ck_assert_int_eq(files_in(failed, ".json"), 0);
}
END_TEST

START_TEST(test_crash_after_note_makes_no_second_note) {
  rest_block("manager");
  ck_assert_int_eq(rig_open(true), 0);
  cdtime_t t0 = cdtime();
  notification_t n = notif(NOTIF_FAILURE, "web01", "Disk 97% full");
  handle(&n, t0, PD_NOTIFY_QUEUED);
  ck_assert(drained(10));
  rig_close();

  ck_assert_int_eq(rig_open(false), 0);
  handle(&n, t0 + 601 * SECOND, PD_NOTIFY_QUEUED); /* the note */
  pd_open_alert_t a;
  ck_assert_int_eq(pd_notify_lookup(rig.nt, KEY_WEB01, &a), 0);
  rig_close();

  char fault[256];
  snprintf(fault, sizeof(fault),
           "{\"kind\":\"hang\",\"method\":\"POST\","
           "\"path\":\"/incidents/%s/notes\"}",
           a.incident_id);
  ck_assert_int_eq(pdsim_fault(&sim, fault), 0);
  kill_mid_request(sender_child());
  const char *texts[] = {"still FAILURE: Disk 97% full", NULL};
  double end = now_s() + WAIT_SCALE * 5;
  key_view_t v;
  do {
    sleep_s(0.1);
    view_key(KEY_WEB01, texts, &v);
  } while (v.notes_with[0] == 0 && now_s() < end);
  ck_assert_int_eq(v.notes_with[0], 1);

  ck_assert_int_eq(rig_open(true), 0);
  ck_assert(drained(10));
  view_key(KEY_WEB01, texts, &v);
  ck_assert_int_eq(v.notes_with[0], 1);
  ck_assert_int_eq(count_requests("POST", "/incidents/", -1), 1);
  /* The resend looked for the note first, once. */
  char notes_path[64];
  snprintf(notes_path, sizeof(notes_path), "/incidents/%s/notes",
           a.incident_id);
  ck_assert_int_eq(count_requests("GET", notes_path, 200), 1);
}
END_TEST

START_TEST(test_max_event_age) {
  events_block();
  rig.max_event_age_s = 1.5;
  ck_assert_int_eq(pdsim_fault(&sim, "{\"kind\":\"status\",\"status\":503,"
                                     "\"count\":-1,\"path\":\"/v2/enqueue\"}"),
                   0);
  ck_assert_int_eq(rig_open(true), 0);
  notification_t n = notif(NOTIF_FAILURE, "web01", "Disk 97% full");
  handle(&n, cdtime(), PD_NOTIFY_QUEUED);
  ck_assert(drained(6));
  char failed[128], cmd[256];
  snprintf(failed, sizeof(failed), "%s/failed", root);
  ck_assert_int_eq(files_in(failed, ".json"), 1);
  snprintf(cmd, sizeof(cmd), "grep -q 'expired.*HTTP 503' %s/*.reason", failed);
  ck_assert_int_eq(system(cmd), 0);
  ck_assert(stub_log_contains(LOG_ERR, "MaxEventAge"));
  ck_assert_int_ge(count_requests("POST", "/v2/enqueue", 503), 1);
}
END_TEST

START_TEST(test_order_per_dedup_key) {
  events_block();
  ck_assert_int_eq(rig_open(false), 0);
  /* The first trigger of web01 fails once: its acknowledge and resolve
   * must wait for it, while db01 goes ahead. */
  ck_assert_int_eq(pdsim_fault(&sim, "{\"kind\":\"status\",\"status\":500,"
                                     "\"count\":1,\"path\":\"/v2/enqueue\"}"),
                   0);
  notification_t f = notif(NOTIF_FAILURE, "web01", "Disk 97% full");
  handle(&f, cdtime(), PD_NOTIFY_QUEUED);
  notification_t other = notif(NOTIF_FAILURE, "db01", "Disk 97% full");
  handle(&other, cdtime(), PD_NOTIFY_QUEUED);
  notification_t ack = notif(NOTIF_OKAY, "web01", "on it");
  notification_meta_t m[1] = {meta_string("pagerduty_action", "acknowledge")};
  ack.meta = m;
  handle(&ack, cdtime(), PD_NOTIFY_QUEUED);
  notification_t ok = notif(NOTIF_OKAY, "web01", "fine");
  handle(&ok, cdtime(), PD_NOTIFY_QUEUED);
  handle(&f, cdtime(), PD_NOTIFY_QUEUED); /* opens again */
  ck_assert_int_eq(rig_open(true), 0);
  ck_assert(drained(15));
  char actions[256];
  events_of(KEY_WEB01, actions, sizeof(actions));
  ck_assert_str_eq(actions, "trigger,acknowledge,resolve,trigger");
  /* db01 did not wait for web01's backoff. */
  yajl_val log = pdsim_get_json(&sim, "/_sim/requests");
  yajl_val list = array_at(log, "requests");
  const char *key_path[] = {"body", "dedup_key", NULL};
  size_t first_ok = 0;
  for (size_t i = 0; i < list->u.array.len; i++) {
    yajl_val r = list->u.array.values[i];
    yajl_val k = yajl_tree_get(r, key_path, yajl_t_string);
    if (number_of(r, "status") == 202 && first_ok == 0) {
      first_ok = i + 1;
      ck_assert_ptr_nonnull(k);
      ck_assert_str_eq(k->u.string, "db01/df-root/percent_bytes-used");
    }
  }
  yajl_tree_free(log);
  key_view_t v;
  view_key(KEY_WEB01, NULL, &v);
  ck_assert_int_eq(v.total, 2);
  ck_assert_int_eq(v.open, 1);
}
END_TEST

/* ------------------------------------------------------ reconciliation */

/* PUT /incidents/{id} resolved, as a human would in the web UI. */
static void human_resolves(const char *id) {
  pd_http_options_t opts = {.base_url = sim.url, .log_name = "human"};
  transport_defaults(&opts.transport);
  pd_http_client_t *c = pd_http_client_create(&opts);
  ck_assert_ptr_nonnull(c);
  pd_http_client_set_token(c, sim.token);
  char path[64];
  snprintf(path, sizeof(path), "/incidents/%s", id);
  const char *body = "{\"incident\":{\"type\":\"incident_reference\","
                     "\"status\":\"resolved\",\"resolution\":\"by hand\"}}";
  pd_http_request_t req = {
      .method = "PUT", .path = path, .body = body, .body_len = strlen(body)};
  pd_http_response_t resp;
  ck_assert_int_eq(pd_http_perform(c, &req, &resp), 0);
  pd_http_client_destroy(c);
}

START_TEST(test_reconcile_rest) {
  rest_block("manager");
  rig.reconcile_s = 3600; /* started by hand below */
  ck_assert_int_eq(rig_open(true), 0);
  notification_t lost = notif(NOTIF_FAILURE, "web01", "Disk 97% full");
  notification_t human = notif(NOTIF_FAILURE, "web02", "Disk 97% full");
  notification_t still = notif(NOTIF_FAILURE, "web03", "Disk 97% full");
  handle(&lost, cdtime(), PD_NOTIFY_QUEUED);
  handle(&human, cdtime(), PD_NOTIFY_QUEUED);
  handle(&still, cdtime(), PD_NOTIFY_QUEUED);
  ck_assert(drained(10));
  /* web01 recovered but its OKAY was lost; web02 was resolved by a human;
   * web03 is still failing. */
  values[0].identifier = KEY_WEB01;
  values[0].state = PD_VALUE_OKAY;
  values[1].identifier = "web02/df-root/percent_bytes-used";
  values[1].state = PD_VALUE_FAILURE;
  values[2].identifier = "web03/df-root/percent_bytes-used";
  values[2].state = PD_VALUE_FAILURE;
  key_view_t v2;
  view_key("web02/df-root/percent_bytes-used", NULL, &v2);
  human_resolves(v2.id);

  pd_sender_reconcile_now(rig.sender);
  double end = now_s() + WAIT_SCALE * 10;
  while (now_s() < end && (pd_notify_open_count(rig.nt) != 1 || pending() > 0))
    sleep_s(0.05);
  ck_assert_uint_eq(pd_notify_open_count(rig.nt), 1);
  ck_assert_int_eq(
      pd_notify_lookup(rig.nt, "web03/df-root/percent_bytes-used", NULL), 0);
  ck_assert(drained(10));
  key_view_t v;
  view_key(KEY_WEB01, NULL, &v);
  ck_assert_str_eq(v.status, "resolved");
  ck_assert_str_eq(v.resolution,
                   "resolved by collectd-pagerduty reconciliation: "
                   "web01/df-root/percent_bytes-used is OKAY now; the "
                   "recovery notification was lost");
  view_key("web02/df-root/percent_bytes-used", NULL, &v2);
  ck_assert_str_eq(v2.resolution, "by hand");
  view_key("web03/df-root/percent_bytes-used", NULL, &v);
  ck_assert_str_eq(v.status, "triggered");
  /* The sender PUT only web01 (the human resolved web02). */
  ck_assert_int_eq(count_requests("PUT", "/incidents/", -1), 2);
}
END_TEST

START_TEST(test_reconcile_events_with_account) {
  events_block();
  rig.cfg.account = "acme";
  rig.with_account = true;
  rig.acfg.token = token_of("manager");
  rig.reconcile_s = 3600;
  ck_assert_int_eq(rig_open(true), 0);
  notification_t lost = notif(NOTIF_FAILURE, "web01", "Disk 97% full");
  handle(&lost, cdtime(), PD_NOTIFY_QUEUED);
  ck_assert(drained(10));
  values[0].identifier = KEY_WEB01;
  values[0].state = PD_VALUE_OKAY;
  pd_sender_reconcile_now(rig.sender);
  ck_assert(wait_key(KEY_WEB01, "resolved", 10));
  const char *texts[] = {"resolved by collectd-pagerduty reconciliation: "
                         "web01/df-root/percent_bytes-used is OKAY now; the "
                         "recovery notification was lost",
                         NULL};
  ck_assert(drained(10));
  key_view_t v;
  view_key(KEY_WEB01, texts, &v);
  ck_assert_int_eq(v.notes_with[0], 1);
  char actions[256];
  events_of(KEY_WEB01, actions, sizeof(actions));
  ck_assert_str_eq(actions, "trigger,resolve");
  ck_assert_uint_eq(pd_notify_open_count(rig.nt), 0);
}
END_TEST

START_TEST(test_reconcile_events_only) {
  events_block();
  rig.reconcile_s = 3600;
  ck_assert_int_eq(rig_open(true), 0);
  notification_t a = notif(NOTIF_FAILURE, "web01", "Disk 97% full");
  notification_t b = notif(NOTIF_FAILURE, "web02", "Disk 97% full");
  handle(&a, cdtime(), PD_NOTIFY_QUEUED);
  handle(&b, cdtime(), PD_NOTIFY_QUEUED);
  ck_assert(drained(10));
  values[0].identifier = KEY_WEB01;
  values[0].state = PD_VALUE_OKAY; /* web02: unknown to collectd: kept */
  pd_sender_reconcile_now(rig.sender);
  ck_assert(wait_key(KEY_WEB01, "resolved", 10));
  ck_assert(drained(10));
  ck_assert_uint_eq(pd_notify_open_count(rig.nt), 1);
  ck_assert(stub_log_contains(LOG_NOTICE, "recovery notification was lost"));
}
END_TEST

/* A test case with its own simulator, and a fresh spool per test. */
static TCase *simulator_tcase(const char *name) {
  TCase *tc = tcase_create(name);
  tcase_add_unchecked_fixture(tc, sim_up, sim_down);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60 * WAIT_SCALE);
  return tc;
}

static Suite *sender_suite(void) {
  Suite *s = suite_create("sender");
  TCase *tc = simulator_tcase("events");
  tcase_add_test(tc, test_events_trigger_ack_resolve);
  tcase_add_test(tc, test_events_warning_to_failure);
  tcase_add_test(tc, test_order_per_dedup_key);
  suite_add_tcase(s, tc);

  tc = simulator_tcase("rest");
  tcase_add_test(tc, test_rest_create_note_resolve);
  tcase_add_test(tc, test_rest_warning_to_failure_raises_urgency);
  tcase_add_test(tc, test_rest_okay_without_incident_sends_nothing);
  tcase_add_test(tc, test_rest_acknowledge_by_incident_number);
  tcase_add_test(tc, test_observer_role_warned);
  suite_add_tcase(s, tc);

  tc = simulator_tcase("failures");
  tcase_add_test(tc, test_429_storm_and_5xx_burst_lose_nothing);
  tcase_add_test(tc, test_events_429_without_named_wait_backs_off_in_order);
  tcase_add_test(tc, test_400_goes_to_failed_with_reason);
  tcase_add_test(tc, test_revoked_token_keeps_events);
  tcase_add_test(tc, test_rest_garbage_answers_retried);
  tcase_add_test(tc, test_simulator_down_then_up);
  tcase_add_test(tc, test_max_event_age);
  suite_add_tcase(s, tc);

  tc = simulator_tcase("crash");
  tcase_add_test(tc, test_crash_after_create_makes_no_second_incident);
  tcase_add_test(tc, test_crash_after_note_makes_no_second_note);
  suite_add_tcase(s, tc);

  tc = simulator_tcase("reconcile");
  tcase_add_test(tc, test_reconcile_rest);
  tcase_add_test(tc, test_reconcile_events_with_account);
  tcase_add_test(tc, test_reconcile_events_only);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (pd_http_global_init() != 0)
    return EXIT_FAILURE;
  SRunner *sr = srunner_create(sender_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  pd_http_global_cleanup();
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
