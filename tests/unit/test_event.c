/* SPDX-License-Identifier: MIT */
/*
 * test_event.c - notification -> event mapping (doc/contract.md §6), the spool
 * record and the wire bodies. Bodies are parsed back with yajl_tree and checked
 * field by field, and validated against PagerDuty's OpenAPI schemas by a
 * small /usr/bin/python3 (python3-jsonschema) script.
 */
#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <yajl/yajl_tree.h>

#include "daemon_stubs.h"
#include "notif_fixture.h"
#include "pd_event.h"
#include "pd_event_body.h"
#include "pd_event_record.h"

#define ROUTING_KEY "R0123456789abcdef0123456789abcdef"

/* ------------------------------------------------------------ helpers */

static notification_t df_failure(void) {
  return make_notification(NOTIF_FAILURE, "web01", "df", "root",
                           "percent_bytes", "used",
                           "Host web01, plugin df (instance root) type "
                           "percent_bytes (instance used): Data source "
                           "\"value\" is currently 95.500000.");
}

/* The threshold plugin's meta for a value above FailureMax. */
static notification_meta_t threshold_meta[5];
static void attach_threshold_meta(notification_t *n) {
  threshold_meta[0] = meta_string("DataSource", "value");
  threshold_meta[1] = meta_double("CurrentValue", 95.5);
  threshold_meta[2] = meta_double("WarningMin", NAN);
  threshold_meta[3] = meta_double("WarningMax", NAN);
  threshold_meta[4] = meta_double("FailureMax", 90);
  attach_meta(n, threshold_meta, 5);
}

/* A Notify block matching everything, Events path, defaults. */
static pd_notify_config_t make_block(void) {
  pd_notify_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.name = "paging";
  cfg.severities = PD_SEVERITY_ALL;
  cfg.resolve_on_okay = true;
  cfg.note_interval_s = 600;
  return cfg;
}

static yajl_val parse(const char *json) {
  char err[256];
  yajl_val root = yajl_tree_parse(json, err, sizeof(err));
  ck_assert_msg(root != NULL, "not JSON (%s): %.200s", err, json);
  return root;
}

static yajl_val get(yajl_val root, const char *a, const char *b,
                    const char *c) {
  const char *path[] = {a, b, c, NULL};
  return yajl_tree_get(root, path, yajl_t_any);
}

static const char *get_str(yajl_val root, const char *a, const char *b,
                           const char *c) {
  yajl_val v = get(root, a, b, c);
  ck_assert_msg(YAJL_IS_STRING(v), "%s.%s.%s is not a string", a, b ? b : "",
                c ? c : "");
  return YAJL_GET_STRING(v);
}

static void setup(void) { stub_log_reset(); }

/* ------------------------------------------------------------ mapping */

START_TEST(test_failure_triggers) {
  pd_notify_config_t cfg = make_block();
  notification_t n = df_failure();
  attach_threshold_meta(&n);
  pd_event_t ev;
  cdtime_t before = cdtime();
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  ck_assert_int_eq(ev.action, PD_ACTION_TRIGGER);
  ck_assert_str_eq(pd_event_severity(&ev), "critical");
  ck_assert_str_eq(pd_event_urgency(&ev), "high");
  ck_assert_int_eq(ev.severity, NOTIF_FAILURE);
  ck_assert_str_eq(ev.notify, "paging");
  ck_assert_str_eq(ev.summary, n.message);
  ck_assert_str_eq(ev.message, n.message);
  ck_assert_str_eq(ev.source, "web01");
  ck_assert_str_eq(ev.component, "df-root");
  ck_assert_str_eq(ev.group, "percent_bytes");
  ck_assert_str_eq(ev.event_class, "used");
  ck_assert_str_eq(ev.identifier, "web01/df-root/percent_bytes-used");
  ck_assert_str_eq(ev.dedup_key, "web01/df-root/percent_bytes-used");
  ck_assert_uint_eq(ev.time, n.time);
  ck_assert_uint_ge(ev.created, before);
  ck_assert_uint_le(ev.created, cdtime());
  ck_assert_uint_eq(ev.details_num, 5);
  ck_assert_str_eq(ev.details[0].name, "DataSource");
  ck_assert_int_eq(ev.details[0].type, PD_DETAIL_STRING);
  ck_assert_str_eq(ev.details[0].value.string, "value");
  ck_assert_int_eq(ev.details[1].type, PD_DETAIL_DOUBLE);
  ck_assert_double_eq(ev.details[1].value.number, 95.5);
  ck_assert(isnan(ev.details[3].value.number));
  ck_assert_ptr_null(ev.note);
  ck_assert_ptr_null(ev.incident);
  ck_assert(!ev.details_dropped);
  pd_event_free(&ev);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 0);
}
END_TEST

START_TEST(test_warning_and_okay) {
  pd_notify_config_t cfg = make_block();
  notification_t n = df_failure();
  pd_event_t ev;

  n.severity = NOTIF_WARNING;
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  ck_assert_int_eq(ev.action, PD_ACTION_TRIGGER);
  ck_assert_str_eq(pd_event_severity(&ev), "warning");
  ck_assert_str_eq(pd_event_urgency(&ev), "low");
  pd_event_free(&ev);

  n.severity = NOTIF_OKAY;
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  ck_assert_int_eq(ev.action, PD_ACTION_RESOLVE);
  ck_assert_str_eq(pd_event_severity(&ev), "info");
  /* Resolve finds the trigger by the same key. */
  ck_assert_str_eq(ev.dedup_key, "web01/df-root/percent_bytes-used");
  pd_event_free(&ev);

  cfg.resolve_on_okay = false;
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_NO_ACTION);
  ck_assert_int_eq(ev.action, PD_ACTION_NONE);
  pd_event_free(&ev);

  n.severity = 3; /* not a collectd severity */
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_ERROR);
  ck_assert(stub_log_contains(LOG_ERR, "unknown severity 3"));
  pd_event_free(&ev);
}
END_TEST

START_TEST(test_action_overrides) {
  pd_notify_config_t cfg = make_block();
  notification_t n = df_failure();
  notification_meta_t meta[3];
  pd_event_t ev;

  static const struct {
    const char *text;
    pd_action_t action;
  } cases[] = {{"trigger", PD_ACTION_TRIGGER},
               {"acknowledge", PD_ACTION_ACKNOWLEDGE},
               {"resolve", PD_ACTION_RESOLVE},
               {"note", PD_ACTION_NOTE},
               {"Acknowledge", PD_ACTION_ACKNOWLEDGE}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    meta[0] = meta_string(PD_META_ACTION, cases[i].text);
    meta[1] = meta_string("kept", "yes");
    attach_meta(&n, meta, 2);
    ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
    ck_assert_int_eq(ev.action, cases[i].action);
    /* Overrides are instructions, not details. */
    ck_assert_uint_eq(ev.details_num, 1);
    ck_assert_str_eq(ev.details[0].name, "kept");
    pd_event_free(&ev);
  }

  /* note without text: the message is the note. */
  meta[0] = meta_string(PD_META_ACTION, "note");
  attach_meta(&n, meta, 1);
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  ck_assert_str_eq(ev.note, n.message);
  pd_event_free(&ev);

  /* note with text. */
  meta[1] = meta_string(PD_META_NOTE, "restarted nginx");
  attach_meta(&n, meta, 2);
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  ck_assert_int_eq(ev.action, PD_ACTION_NOTE);
  ck_assert_str_eq(ev.note, "restarted nginx");
  ck_assert_uint_eq(ev.details_num, 0);
  pd_event_free(&ev);

  /* Anything else: ERROR, ignored. */
  stub_log_reset();
  meta[0] = meta_string(PD_META_ACTION, "escalate");
  attach_meta(&n, meta, 1);
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_ERROR);
  ck_assert_int_eq(ev.action, PD_ACTION_NONE);
  ck_assert_ptr_null(ev.notify);
  ck_assert_msg(stub_log_contains(LOG_ERR, "notify \"paging\": "
                                           "web01/df-root/percent_bytes-used: "
                                           "unknown pagerduty_action "
                                           "\"escalate\""),
                "%s", stub_log_dump());
  pd_event_free(&ev);

  /* An explicit resolve acts on an OKAY even without ResolveOnOkay. */
  cfg.resolve_on_okay = false;
  n.severity = NOTIF_OKAY;
  meta[0] = meta_string(PD_META_ACTION, "resolve");
  attach_meta(&n, meta, 1);
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  ck_assert_int_eq(ev.action, PD_ACTION_RESOLVE);
  pd_event_free(&ev);
}
END_TEST

START_TEST(test_dedup_key_and_incident_overrides) {
  pd_notify_config_t cfg = make_block();
  cfg.dedup_key = "%{host}:%{meta:DataSource}:%{severity}";
  notification_t n = df_failure();
  notification_meta_t meta[3];
  pd_event_t ev;

  meta[0] = meta_string("DataSource", "value");
  attach_meta(&n, meta, 1);
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  ck_assert_str_eq(ev.dedup_key, "web01:value:FAILURE");
  pd_event_free(&ev);

  meta[1] = meta_string(PD_META_DEDUP_KEY, "my-own-key");
  meta[2] = meta_string(PD_META_INCIDENT, "1234");
  attach_meta(&n, meta, 3);
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  ck_assert_str_eq(ev.dedup_key, "my-own-key");
  ck_assert_str_eq(ev.incident, "1234");
  ck_assert_uint_eq(ev.details_num, 1);
  pd_event_free(&ev);

  /* An override is bounded like a template result. */
  char long_key[400];
  memset(long_key, 'k', 399);
  long_key[399] = '\0';
  meta[1] = meta_string(PD_META_DEDUP_KEY, long_key);
  attach_meta(&n, meta, 2);
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  ck_assert_uint_eq(strlen(ev.dedup_key), PD_DEDUP_KEY_MAX);
  ck_assert_int_eq(ev.dedup_key[PD_DEDUP_KEY_MAX - PD_TEMPLATE_HASH_SUFFIX_LEN],
                   '~');
  pd_event_free(&ev);

  /* A template that comes out empty falls back to the identifier. */
  cfg.dedup_key = "%{meta:absent}";
  attach_meta(&n, NULL, 0);
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  ck_assert_str_eq(ev.dedup_key, "web01/df-root/percent_bytes-used");
  pd_event_free(&ev);

  /* A numeric incident meta (from a C plugin) works too. */
  cfg.dedup_key = NULL;
  meta[0] = meta_unsigned(PD_META_INCIDENT, 77);
  attach_meta(&n, meta, 1);
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  ck_assert_str_eq(ev.incident, "77");
  ck_assert_uint_eq(ev.details_num, 0);
  pd_event_free(&ev);
}
END_TEST

/* A notification time past what the record holds (a PUTNOTIF's time=)
 * gives way to the mapping's: the event is spooled and read back. */
START_TEST(test_time_past_record_bound) {
  pd_notify_config_t cfg = make_block();
  notification_t n = df_failure();
  pd_event_t ev, back;
  n.time = PD_EVENT_TIME_MAX;
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  ck_assert_uint_eq(ev.time, PD_EVENT_TIME_MAX);
  pd_event_free(&ev);

  n.time = PD_EVENT_TIME_MAX + 1;
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  ck_assert_uint_eq(ev.time, ev.created);
  char *json, err[256] = "";
  size_t len;
  ck_assert_int_eq(pd_event_to_record(&ev, &json, &len), 0);
  ck_assert_msg(pd_event_from_record(json, len, &back, err, sizeof(err)) == 0,
                "%s", err);
  ck_assert_uint_eq(back.time, ev.time);
  pd_event_free(&back);
  pd_event_free(&ev);
  free(json);
}
END_TEST

START_TEST(test_blank_message_and_host) {
  pd_notify_config_t cfg = make_block();
  notification_t n =
      make_notification(NOTIF_FAILURE, "", "load", "", "load", "", "");
  pd_event_t ev;
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  /* Events API: summary and source must not be blank. */
  ck_assert_str_eq(ev.source, "stubhost"); /* hostname_g */
  ck_assert_str_eq(ev.summary, "FAILURE: /load/load");
  ck_assert_str_eq(ev.message, "");
  ck_assert_str_eq(ev.component, "load");
  ck_assert_str_eq(ev.event_class, "");
  pd_event_free(&ev);

  snprintf(n.host, sizeof(n.host), "  ");
  snprintf(n.message, sizeof(n.message), " \t");
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  ck_assert_str_eq(ev.source, "stubhost");
  ck_assert_str_eq(ev.summary, "FAILURE:   /load/load");
  pd_event_free(&ev);

  /* Invalid UTF-8 from collectd becomes '?', everywhere. */
  snprintf(n.host, sizeof(n.host), "h\xe9te");
  snprintf(n.message, sizeof(n.message), "disk \xff full");
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  ck_assert_str_eq(ev.source, "h?te");
  ck_assert_str_eq(ev.summary, "disk ? full");
  ck_assert_str_eq(ev.dedup_key, "h?te/load/load");
  pd_event_free(&ev);
}
END_TEST

START_TEST(test_summary_cut_on_utf8_boundary) {
  pd_event_t ev;
  pd_event_init(&ev);
  /* "ab" then euro signs (3 bytes): one straddles byte 1024 (1022..1024). */
  char text[2 + 400 * 3 + 1];
  memcpy(text, "ab", 2);
  for (int i = 0; i < 400; i++)
    memcpy(text + 2 + 3 * i, "\xe2\x82\xac", 3);
  text[sizeof(text) - 1] = '\0';
  pd_event_set_summary(&ev, text);
  ck_assert_uint_eq(strlen(ev.summary), 1022);
  ck_assert_int_eq(memcmp(ev.summary, text, 1022), 0);
  ck_assert(pd_utf8_is_valid(ev.summary, strlen(ev.summary)));

  /* When a character ends exactly at 1024, all 1024 bytes stay. */
  pd_event_set_summary(&ev, text + 1); /* "b" + euros: 1 + 3*341 = 1024 */
  ck_assert_uint_eq(strlen(ev.summary), 1024);

  /* Short texts are untouched; blank ones are never sent blank. */
  pd_event_set_summary(&ev, "disk full");
  ck_assert_str_eq(ev.summary, "disk full");
  pd_event_set_summary(&ev, "   ");
  ck_assert_str_eq(ev.summary, "(no message)");
  pd_event_free(&ev);
}
END_TEST

/* ------------------------------------------------------------ matching */

static void set_match(pd_match_t *m, const char *text, bool is_regex) {
  m->text = (char *)text;
  m->is_regex = is_regex;
  if (is_regex)
    ck_assert_int_eq(regcomp(&m->regex, text, REG_EXTENDED | REG_NOSUB), 0);
}

static void free_match(pd_match_t *m) {
  if (m->is_regex)
    regfree(&m->regex);
  memset(m, 0, sizeof(*m));
}

START_TEST(test_matching) {
  pd_notify_config_t cfg = make_block();
  notification_t n = df_failure();

  ck_assert(pd_notify_matches(&cfg, &n)); /* nothing set: everything */

  set_match(&cfg.host, "^web", true);
  set_match(&cfg.plugin, "df", false);
  set_match(&cfg.type, "percent_bytes", false);
  set_match(&cfg.type_instance, "used", false);
  set_match(&cfg.plugin_instance, ".*", true);
  ck_assert(pd_notify_matches(&cfg, &n));

  snprintf(n.host, sizeof(n.host), "db01");
  ck_assert(!pd_notify_matches(&cfg, &n)); /* regex fails */
  snprintf(n.host, sizeof(n.host), "web02");
  snprintf(n.plugin, sizeof(n.plugin), "dfx");
  ck_assert(!pd_notify_matches(&cfg, &n)); /* exact means exact */
  snprintf(n.plugin, sizeof(n.plugin), "df");
  snprintf(n.type_instance, sizeof(n.type_instance), "free");
  ck_assert(!pd_notify_matches(&cfg, &n));
  snprintf(n.type_instance, sizeof(n.type_instance), "used");
  ck_assert(pd_notify_matches(&cfg, &n));

  /* Severities. */
  cfg.severities = PD_SEVERITY_FAILURE | PD_SEVERITY_OKAY;
  n.severity = NOTIF_WARNING;
  ck_assert(!pd_notify_matches(&cfg, &n));
  n.severity = NOTIF_OKAY;
  ck_assert(pd_notify_matches(&cfg, &n));
  n.severity = 0;
  ck_assert(!pd_notify_matches(&cfg, &n));

  free_match(&cfg.host);
  free_match(&cfg.plugin);
  free_match(&cfg.plugin_instance);
  free_match(&cfg.type);
  free_match(&cfg.type_instance);
}
END_TEST

START_TEST(test_own_notifications_need_literal_plugin) {
  pd_notify_config_t cfg = make_block();
  notification_t n =
      make_notification(NOTIF_WARNING, "pd", "pagerduty", "acme", "gauge",
                        "schedule-x-gap", "schedule x has a gap");
  /* A catch-all block ignores them: no loops (doc/contract.md §5). */
  ck_assert(!pd_notify_matches(&cfg, &n));

  /* So does a regex that happens to match. */
  set_match(&cfg.plugin, "^pager", true);
  ck_assert(!pd_notify_matches(&cfg, &n));
  snprintf(n.plugin, sizeof(n.plugin), "pagerfoo");
  ck_assert(pd_notify_matches(&cfg, &n)); /* the regex itself works */
  free_match(&cfg.plugin);

  /* Only the literal name opts in. */
  snprintf(n.plugin, sizeof(n.plugin), "pagerduty");
  set_match(&cfg.plugin, "pagerduty", false);
  ck_assert(pd_notify_matches(&cfg, &n));
  free_match(&cfg.plugin);
}
END_TEST

/* ---------------------------------------------------- custom details */

START_TEST(test_custom_details_in_events_body) {
  pd_notify_config_t cfg = make_block();
  notification_t n = df_failure();
  notification_meta_t meta[10];
  meta[0] = meta_string("DataSource", "value");
  meta[1] = meta_double("CurrentValue", 95.5);
  meta[2] = meta_double("WarningMax", NAN);
  meta[3] = meta_double("FailureMax", INFINITY);
  meta[4] = meta_double("FailureMin", -INFINITY);
  meta[5] = meta_signed("signed", -9223372036854775807LL - 1);
  meta[6] = meta_unsigned("unsigned", 18446744073709551615ULL);
  meta[7] = meta_bool("persist", true);
  meta[8] = meta_string(PD_META_NOTE, "not a detail");
  meta[9] = meta_string("DataSource", "duplicate: first one wins");
  attach_meta(&n, meta, 10);

  pd_event_t ev;
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  char *body;
  size_t len;
  bool dropped = true;
  ck_assert_int_eq(
      pd_event_events_body(&ev, ROUTING_KEY, NULL, &body, &len, &dropped), 0);
  ck_assert(!dropped);
  ck_assert_uint_eq(len, strlen(body));
  yajl_val root = parse(body);
  yajl_val cd = get(root, "payload", "custom_details", NULL);
  ck_assert(YAJL_IS_OBJECT(cd));
  ck_assert_uint_eq(cd->u.object.len, 8); /* no override, no duplicate */
  ck_assert_str_eq(get_str(cd, "DataSource", NULL, NULL), "value");
  ck_assert_double_eq(YAJL_GET_DOUBLE(get(cd, "CurrentValue", NULL, NULL)),
                      95.5);
  ck_assert(YAJL_IS_NULL(get(cd, "WarningMax", NULL, NULL))); /* NaN */
  ck_assert_str_eq(get_str(cd, "FailureMax", NULL, NULL), "inf");
  ck_assert_str_eq(get_str(cd, "FailureMin", NULL, NULL), "-inf");
  /* yajl_tree's own integer parser overflows at INT64_MIN and beyond
   * INT64_MAX; the number's text is what PagerDuty receives. */
  ck_assert(YAJL_IS_NUMBER(get(cd, "signed", NULL, NULL)));
  ck_assert_str_eq(YAJL_GET_NUMBER(get(cd, "signed", NULL, NULL)),
                   "-9223372036854775808");
  ck_assert_str_eq(YAJL_GET_NUMBER(get(cd, "unsigned", NULL, NULL)),
                   "18446744073709551615");
  ck_assert(YAJL_IS_TRUE(get(cd, "persist", NULL, NULL)));
  ck_assert_ptr_null(strstr(body, "not a detail"));
  yajl_tree_free(root);
  free(body);
  pd_event_free(&ev);
}
END_TEST

START_TEST(test_details_dropped_at_mapping) {
  pd_notify_config_t cfg = make_block();
  notification_t n = df_failure();
  size_t huge_len = 600 * 1024;
  char *huge = malloc(huge_len + 1);
  memset(huge, 'x', huge_len);
  huge[huge_len] = '\0';
  notification_meta_t meta[2] = {meta_string("CurrentValue", "1"),
                                 meta_string("dump", huge)};
  attach_meta(&n, meta, 2);

  pd_event_t ev;
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  ck_assert(ev.details_dropped);
  ck_assert_uint_eq(ev.details_num, 0);
  ck_assert(stub_log_contains(LOG_WARNING, "custom_details dropped"));

  char *body;
  size_t len;
  ck_assert_int_eq(
      pd_event_events_body(&ev, ROUTING_KEY, NULL, &body, &len, NULL), 0);
  ck_assert_uint_le(len, PD_EVENT_MAX_BYTES);
  yajl_val root = parse(body);
  ck_assert_str_eq(
      get_str(root, "payload", "custom_details", PD_DETAILS_DROPPED_KEY),
      PD_DETAILS_DROPPED_TEXT);
  ck_assert_str_eq(get_str(root, "payload", "summary", NULL), ev.summary);
  yajl_tree_free(root);
  free(body);

  /* The REST body says so as well. */
  char *text = pd_event_details_text(&ev);
  ck_assert_ptr_nonnull(strstr(text, PD_DETAILS_DROPPED_TEXT));
  free(text);
  pd_event_free(&ev);
  free(huge);
}
END_TEST

START_TEST(test_details_dropped_at_send) {
  /* Details just under the mapping bound, plus a long client_url, push the
   * body over 512 KB: the body builder drops custom_details itself. */
  pd_notify_config_t cfg = make_block();
  notification_t n = df_failure();
  size_t big_len = PD_DETAILS_MAX_BYTES - 100;
  char *big = malloc(big_len + 1);
  memset(big, 'y', big_len);
  big[big_len] = '\0';
  notification_meta_t meta[1] = {meta_string("big", big)};
  attach_meta(&n, meta, 1);
  pd_event_t ev;
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  ck_assert(!ev.details_dropped);

  char *body;
  size_t len;
  bool dropped = false;
  ck_assert_int_eq(pd_event_events_body(&ev, ROUTING_KEY, "https://x", &body,
                                        &len, &dropped),
                   0);
  ck_assert(!dropped);
  ck_assert_uint_le(len, PD_EVENT_MAX_BYTES);
  free(body);

  size_t url_len = 20 * 1024;
  char *url = malloc(url_len + 1);
  memcpy(url, "https://", 8);
  memset(url + 8, 'u', url_len - 8);
  url[url_len] = '\0';
  ck_assert_int_eq(
      pd_event_events_body(&ev, ROUTING_KEY, url, &body, &len, &dropped), 0);
  ck_assert(dropped);
  ck_assert_uint_le(len, PD_EVENT_MAX_BYTES);
  ck_assert_ptr_nonnull(strstr(body, PD_DETAILS_DROPPED_TEXT));
  ck_assert_ptr_null(strstr(body, "yyyy"));
  free(body);

  /* Nothing left to drop and still too big: refused, not sent. */
  free(url);
  url_len = PD_EVENT_MAX_BYTES + 10;
  url = malloc(url_len + 1);
  memset(url, 'u', url_len);
  url[url_len] = '\0';
  ck_assert_int_eq(
      pd_event_events_body(&ev, ROUTING_KEY, url, &body, &len, &dropped), -1);
  ck_assert_ptr_null(body);
  free(url);
  free(big);
  pd_event_free(&ev);
}
END_TEST

/* ------------------------------------------------------------ bodies */

START_TEST(test_events_trigger_body_fields) {
  pd_notify_config_t cfg = make_block();
  notification_t n = df_failure();
  attach_threshold_meta(&n);
  pd_event_t ev;
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  char *body;
  size_t len;
  ck_assert_int_eq(pd_event_events_body(&ev, ROUTING_KEY,
                                        "https://collectd.example.com", &body,
                                        &len, NULL),
                   0);
  yajl_val root = parse(body);
  ck_assert_str_eq(get_str(root, "routing_key", NULL, NULL), ROUTING_KEY);
  ck_assert_str_eq(get_str(root, "event_action", NULL, NULL), "trigger");
  ck_assert_str_eq(get_str(root, "dedup_key", NULL, NULL),
                   "web01/df-root/percent_bytes-used");
  ck_assert_str_eq(get_str(root, "client", NULL, NULL), "collectd");
  ck_assert_str_eq(get_str(root, "client_url", NULL, NULL),
                   "https://collectd.example.com");
  ck_assert_str_eq(get_str(root, "payload", "summary", NULL), n.message);
  ck_assert_str_eq(get_str(root, "payload", "source", NULL), "web01");
  ck_assert_str_eq(get_str(root, "payload", "severity", NULL), "critical");
  ck_assert_str_eq(get_str(root, "payload", "component", NULL), "df-root");
  ck_assert_str_eq(get_str(root, "payload", "group", NULL), "percent_bytes");
  ck_assert_str_eq(get_str(root, "payload", "class", NULL), "used");
  /* n.time is 1764318596.5 */
  ck_assert_str_eq(get_str(root, "payload", "timestamp", NULL),
                   "2025-11-28T08:29:56.500Z");
  yajl_tree_free(root);
  free(body);

  /* Without client_url, and without empty component/group/class. */
  n = make_notification(NOTIF_WARNING, "h", "", "", "", "", "m");
  pd_event_free(&ev);
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  ck_assert_int_eq(
      pd_event_events_body(&ev, ROUTING_KEY, NULL, &body, &len, NULL), 0);
  root = parse(body);
  ck_assert_ptr_null(get(root, "client_url", NULL, NULL));
  ck_assert_ptr_null(get(root, "payload", "component", NULL));
  ck_assert_ptr_null(get(root, "payload", "group", NULL));
  ck_assert_ptr_null(get(root, "payload", "class", NULL));
  ck_assert_str_eq(get_str(root, "payload", "severity", NULL), "warning");
  yajl_tree_free(root);
  free(body);
  pd_event_free(&ev);
}
END_TEST

START_TEST(test_events_ack_resolve_note) {
  pd_notify_config_t cfg = make_block();
  notification_t n = df_failure();
  attach_threshold_meta(&n);
  pd_event_t ev;
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);

  const pd_action_t actions[] = {PD_ACTION_ACKNOWLEDGE, PD_ACTION_RESOLVE};
  for (size_t i = 0; i < 2; i++) {
    ev.action = actions[i];
    char *body;
    size_t len;
    ck_assert_int_eq(
        pd_event_events_body(&ev, ROUTING_KEY, "https://x", &body, &len, NULL),
        0);
    yajl_val root = parse(body);
    ck_assert(YAJL_IS_OBJECT(root));
    ck_assert_uint_eq(root->u.object.len, 3); /* nothing but these three */
    ck_assert_str_eq(get_str(root, "routing_key", NULL, NULL), ROUTING_KEY);
    ck_assert_str_eq(get_str(root, "event_action", NULL, NULL),
                     pd_action_name(actions[i]));
    ck_assert_str_eq(get_str(root, "dedup_key", NULL, NULL), ev.dedup_key);
    yajl_tree_free(root);
    free(body);
  }

  /* The Events API has no notes. */
  ev.action = PD_ACTION_NOTE;
  char *body = (char *)"untouched";
  size_t len;
  ck_assert_int_eq(
      pd_event_events_body(&ev, ROUTING_KEY, NULL, &body, &len, NULL), -1);
  ck_assert_ptr_null(body);
  pd_event_free(&ev);
}
END_TEST

START_TEST(test_rest_bodies) {
  pd_notify_config_t cfg = make_block();
  notification_t n = df_failure();
  attach_threshold_meta(&n);
  pd_event_t ev;
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);

  char *body;
  size_t len;
  ck_assert_int_eq(pd_event_rest_create_body(&ev, "PSERVICE", &body, &len), 0);
  yajl_val root = parse(body);
  ck_assert_str_eq(get_str(root, "incident", "type", NULL), "incident");
  ck_assert_str_eq(get_str(root, "incident", "title", NULL), n.message);
  ck_assert_str_eq(get_str(root, "incident", "urgency", NULL), "high");
  ck_assert_str_eq(get_str(root, "incident", "incident_key", NULL),
                   ev.dedup_key);
  ck_assert_str_eq(get_str(root, "incident", "body", "type"), "incident_body");
  const char *details = get_str(root, "incident", "body", "details");
  ck_assert_str_eq(details, "Host web01, plugin df (instance root) type "
                            "percent_bytes (instance used): Data source "
                            "\"value\" is currently 95.500000.\n\n"
                            "DataSource: value\nCurrentValue: 95.5\n"
                            "WarningMin: nan\nWarningMax: nan\n"
                            "FailureMax: 90");
  const char *svc[] = {"incident", "service", "id", NULL};
  ck_assert_str_eq(YAJL_GET_STRING(yajl_tree_get(root, svc, yajl_t_string)),
                   "PSERVICE");
  ck_assert_str_eq(get_str(root, "incident", "service", "type"),
                   "service_reference");
  yajl_tree_free(root);
  free(body);

  ev.severity = NOTIF_WARNING;
  ck_assert_int_eq(pd_event_rest_create_body(&ev, "PSERVICE", &body, &len), 0);
  root = parse(body);
  ck_assert_str_eq(get_str(root, "incident", "urgency", NULL), "low");
  yajl_tree_free(root);
  free(body);

  ck_assert_int_eq(pd_rest_status_body("resolved", "back to 50%", &body, &len),
                   0);
  root = parse(body);
  ck_assert_str_eq(get_str(root, "incident", "type", NULL),
                   "incident_reference");
  ck_assert_str_eq(get_str(root, "incident", "status", NULL), "resolved");
  ck_assert_str_eq(get_str(root, "incident", "resolution", NULL),
                   "back to 50%");
  yajl_tree_free(root);
  free(body);

  /* A resolution only goes with "resolved". */
  ck_assert_int_eq(pd_rest_status_body("acknowledged", "ignored", &body, &len),
                   0);
  root = parse(body);
  ck_assert_str_eq(get_str(root, "incident", "status", NULL), "acknowledged");
  ck_assert_ptr_null(get(root, "incident", "resolution", NULL));
  yajl_tree_free(root);
  free(body);

  ck_assert_int_eq(pd_rest_urgency_body("high", &body, &len), 0);
  root = parse(body);
  ck_assert_str_eq(get_str(root, "incident", "urgency", NULL), "high");
  ck_assert_str_eq(get_str(root, "incident", "type", NULL),
                   "incident_reference");
  yajl_tree_free(root);
  free(body);

  ck_assert_int_eq(
      pd_rest_note_body("still FAILURE: \"quoted\"\n\xff", &body, &len), 0);
  root = parse(body);
  ck_assert_str_eq(get_str(root, "note", "content", NULL),
                   "still FAILURE: \"quoted\"\n?");
  yajl_tree_free(root);
  free(body);
  pd_event_free(&ev);
}
END_TEST

/* ------------------------------------------------ schema validation */

static const char *find_api_dir(void) {
  static char dir[4096];
  const char *srcdir = getenv("PD_SRCDIR");
  const char *candidates[3] = {getenv("PD_SHARED"), NULL,
                               "/work/shared/pagerduty-api"};
  char from_src[4096];
  if (srcdir != NULL) {
    snprintf(from_src, sizeof(from_src), "%s/../shared/pagerduty-api", srcdir);
    candidates[1] = from_src;
  }
  for (size_t i = 0; i < 3; i++) {
    if (candidates[i] == NULL)
      continue;
    char probe[4200];
    snprintf(probe, sizeof(probe), "%s/events-v2-openapiv3.json",
             candidates[i]);
    if (access(probe, R_OK) == 0) {
      snprintf(dir, sizeof(dir), "%s", candidates[i]);
      return dir;
    }
  }
  return NULL;
}

/* Validates every <kind>-*.json in dir against the request schema of the
 * endpoint <kind> names. IncidentBody.details: the schema says object, but
 * PagerDuty only accepts a string (examples/SOURCES.md, "Known flaws"). */
static const char validator_py[] =
    "import glob, json, os, sys\n"
    "import jsonschema\n"
    "api, bodies = sys.argv[1], sys.argv[2]\n"
    "def request_schema(spec_file, path, method):\n"
    "    spec = json.load(open(os.path.join(api, spec_file)))\n"
    "    body = spec['components']['schemas'].get('IncidentBody')\n"
    "    if body:\n"
    "        body['properties']['details'] = {'type': 'string'}\n"
    "    schema = dict(spec['paths'][path][method]['requestBody']['content']\n"
    "                  ['application/json']['schema'])\n"
    "    schema['components'] = spec['components']\n"
    "    return schema\n"
    "kinds = {\n"
    "  'events': ('events-v2-openapiv3.json', '/enqueue', 'post'),\n"
    "  'create': ('rest-openapiv3.json', '/incidents', 'post'),\n"
    "  'update': ('rest-openapiv3.json', '/incidents/{id}', 'put'),\n"
    "  'note': ('rest-openapiv3.json', '/incidents/{id}/notes', 'post'),\n"
    "}\n"
    "checked = 0\n"
    "for kind, where in kinds.items():\n"
    "    schema = request_schema(*where)\n"
    "    validator = jsonschema.Draft4Validator(schema,\n"
    "        format_checker=jsonschema.FormatChecker())\n"
    "    for f in sorted(glob.glob(os.path.join(bodies, kind + '-*.json'))):\n"
    "        errors = list(validator.iter_errors(json.load(open(f))))\n"
    "        for e in errors:\n"
    "            print('%s: %s at %s' % (os.path.basename(f), e.message,\n"
    "                  list(e.absolute_path)))\n"
    "        if errors:\n"
    "            sys.exit(1)\n"
    "        checked += 1\n"
    "print('validated %d bodies' % checked)\n"
    "sys.exit(0 if checked > 0 else 1)\n";

static void write_text(const char *dir, const char *name, const char *text) {
  char path[4200];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  ck_assert_int_eq(fclose(f), 0);
}

static void write_body(const char *dir, const char *name, char *body) {
  ck_assert_ptr_nonnull(body);
  write_text(dir, name, body);
  free(body);
}

START_TEST(test_bodies_validate_against_openapi) {
  const char *api = find_api_dir();
  if (api == NULL || access("/usr/bin/python3", X_OK) != 0) {
    fprintf(stderr, "test_bodies_validate_against_openapi: no schemas or "
                    "/usr/bin/python3; not validated\n");
    return;
  }
  char dir[] = "/tmp/test_event.XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));

  pd_notify_config_t cfg = make_block();
  notification_t n = df_failure();
  attach_threshold_meta(&n);
  pd_event_t ev;
  char *body;
  size_t len;
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);

  ck_assert_int_eq(pd_event_events_body(&ev, ROUTING_KEY,
                                        "https://collectd.example.com", &body,
                                        &len, NULL),
                   0);
  write_body(dir, "events-trigger.json", body);
  ev.action = PD_ACTION_ACKNOWLEDGE;
  pd_event_events_body(&ev, ROUTING_KEY, NULL, &body, &len, NULL);
  write_body(dir, "events-ack.json", body);
  ev.action = PD_ACTION_RESOLVE;
  pd_event_events_body(&ev, ROUTING_KEY, NULL, &body, &len, NULL);
  write_body(dir, "events-resolve.json", body);
  ev.action = PD_ACTION_TRIGGER;
  ev.details_dropped = true;
  pd_event_events_body(&ev, ROUTING_KEY, NULL, &body, &len, NULL);
  write_body(dir, "events-dropped.json", body);

  pd_event_rest_create_body(&ev, "PSERVICE", &body, &len);
  write_body(dir, "create-incident.json", body);
  pd_rest_status_body("resolved", "OKAY: back to normal", &body, &len);
  write_body(dir, "update-resolve.json", body);
  pd_rest_status_body("acknowledged", NULL, &body, &len);
  write_body(dir, "update-ack.json", body);
  pd_rest_urgency_body("high", &body, &len);
  write_body(dir, "update-urgency.json", body);
  pd_rest_note_body("still FAILURE: disk full", &body, &len);
  write_body(dir, "note-still.json", body);
  pd_event_free(&ev);

  write_text(dir, "validate.py", validator_py);
  char cmd[8400];
  snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/validate.py '%s' '%s'", dir,
           api, dir);
  int status = system(cmd);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "bodies do not validate (see output above)");

  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ------------------------------------------------------ spool record */

static void assert_events_equal(const pd_event_t *a, const pd_event_t *b) {
  ck_assert_str_eq(a->notify, b->notify);
  ck_assert_int_eq(a->action, b->action);
  ck_assert_int_eq(a->severity, b->severity);
  ck_assert_str_eq(a->dedup_key, b->dedup_key);
  ck_assert_str_eq(a->summary, b->summary);
  ck_assert_str_eq(a->message, b->message);
  ck_assert_str_eq(a->source, b->source);
  ck_assert_str_eq(a->component, b->component);
  ck_assert_str_eq(a->group, b->group);
  ck_assert_str_eq(a->event_class, b->event_class);
  ck_assert_str_eq(a->identifier, b->identifier);
  /* Times are written as cdtime_t integers: exact. */
  ck_assert_uint_eq(a->created, b->created);
  ck_assert_uint_eq(a->time, b->time);
  ck_assert_uint_eq(a->next_attempt, b->next_attempt);
  ck_assert_uint_eq(a->details_num, b->details_num);
  for (size_t i = 0; i < a->details_num; i++) {
    const pd_detail_t *x = &a->details[i], *y = &b->details[i];
    ck_assert_str_eq(x->name, y->name);
    ck_assert_int_eq(x->type, y->type);
    switch (x->type) {
    case PD_DETAIL_STRING:
      ck_assert_str_eq(x->value.string, y->value.string);
      break;
    case PD_DETAIL_SIGNED:
      ck_assert_int_eq(x->value.signed_int, y->value.signed_int);
      break;
    case PD_DETAIL_UNSIGNED:
      ck_assert_uint_eq(x->value.unsigned_int, y->value.unsigned_int);
      break;
    case PD_DETAIL_DOUBLE:
      if (isnan(x->value.number))
        ck_assert(isnan(y->value.number));
      else
        ck_assert(x->value.number == y->value.number); /* exact */
      break;
    case PD_DETAIL_BOOLEAN:
      ck_assert_int_eq(x->value.boolean, y->value.boolean);
      break;
    }
  }
  ck_assert_int_eq(a->details_dropped, b->details_dropped);
#define ASSERT_OPT_STR_EQ(f)                                                   \
  do {                                                                         \
    if (a->f == NULL)                                                          \
      ck_assert_ptr_null(b->f);                                                \
    else                                                                       \
      ck_assert_str_eq(a->f, b->f);                                            \
  } while (0)
  ASSERT_OPT_STR_EQ(note);
  ASSERT_OPT_STR_EQ(incident);
  ASSERT_OPT_STR_EQ(incident_id);
  ASSERT_OPT_STR_EQ(last_error);
#undef ASSERT_OPT_STR_EQ
  ck_assert_int_eq(a->step, b->step);
  ck_assert_uint_eq(a->attempts, b->attempts);
}

/* A fully populated event, every detail type and odd value included. */
static void make_rich_event(pd_event_t *ev) {
  pd_notify_config_t cfg = make_block();
  notification_t n = df_failure();
  static notification_meta_t meta[10];
  meta[0] = meta_string("DataSource", "va\"lue\n\\ é");
  meta[1] = meta_double("CurrentValue", 0.1);
  meta[2] = meta_double("WarningMax", NAN);
  meta[3] = meta_double("up", INFINITY);
  meta[4] = meta_double("down", -INFINITY);
  meta[5] = meta_signed("min", -9223372036854775807LL - 1);
  meta[6] = meta_unsigned("max", 18446744073709551615ULL);
  meta[7] = meta_bool("no", false);
  meta[8] = meta_string(PD_META_NOTE, "a note");
  meta[9] = meta_string(PD_META_INCIDENT, "Q1ABC");
  attach_meta(&n, meta, 10);
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, ev), PD_MAP_EVENT);
  ck_assert_int_eq(pd_event_set_text(&ev->incident_id, "PABC123"), 0);
  ck_assert_int_eq(pd_event_set_text(&ev->last_error, "HTTP 502 from x"), 0);
  ev->attempts = 7;
  ev->step = 2;
  ev->next_attempt = ev->created + TIME_T_TO_CDTIME_T(30);
}

START_TEST(test_record_round_trip) {
  pd_event_t ev, back;
  make_rich_event(&ev);
  char *json, *again;
  size_t len, again_len;
  ck_assert_int_eq(pd_event_to_record(&ev, &json, &len), 0);
  ck_assert_uint_eq(len, strlen(json));
  ck_assert_ptr_nonnull(strstr(json, "\"v\":2,"));
  ck_assert_ptr_null(strstr(json, "routing_key"));

  char err[256] = "";
  ck_assert_msg(pd_event_from_record(json, len, &back, err, sizeof(err)) == 0,
                "%s", err);
  assert_events_equal(&ev, &back);
  /* Lossless: writing it again gives the same bytes. */
  ck_assert_int_eq(pd_event_to_record(&back, &again, &again_len), 0);
  ck_assert_str_eq(again, json);
  free(again);
  pd_event_free(&back);

  /* A minimal event (no details, nulls) round-trips too. */
  pd_event_free(&ev);
  pd_notify_config_t cfg = make_block();
  notification_t n = make_notification(NOTIF_OKAY, "h", "p", "", "t", "", "");
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  free(json);
  ck_assert_int_eq(pd_event_to_record(&ev, &json, &len), 0);
  ck_assert_int_eq(pd_event_from_record(json, len, &back, err, sizeof(err)), 0);
  assert_events_equal(&ev, &back);
  pd_event_free(&back);
  pd_event_free(&ev);
  free(json);
}
END_TEST

/* A meta with an empty name (found by fuzz_notification) is no custom
 * detail: the record of the event must read back, or the spool would
 * dead-letter it instead of sending it. */
START_TEST(test_meta_with_empty_name_skipped) {
  pd_notify_config_t cfg = make_block();
  notification_t n = df_failure();
  notification_meta_t meta[2] = {meta_string("", "x"),
                                 meta_string("DataSource", "value")};
  attach_meta(&n, meta, 2);
  pd_event_t ev, back;
  ck_assert_int_eq(pd_event_from_notification(&cfg, &n, &ev), PD_MAP_EVENT);
  ck_assert_uint_eq(ev.details_num, 1);
  ck_assert_str_eq(ev.details[0].name, "DataSource");
  char *json, err[256] = "";
  size_t len;
  ck_assert_int_eq(pd_event_to_record(&ev, &json, &len), 0);
  ck_assert_msg(pd_event_from_record(json, len, &back, err, sizeof(err)) == 0,
                "%s", err);
  pd_event_free(&back);
  pd_event_free(&ev);
  free(json);
}
END_TEST

/* Replaces the first occurrence of from in json with to; caller frees. */
static char *replace(const char *json, const char *from, const char *to) {
  const char *at = strstr(json, from);
  ck_assert_msg(at != NULL, "\"%s\" not in record", from);
  size_t head = (size_t)(at - json);
  char *out = malloc(strlen(json) - strlen(from) + strlen(to) + 1);
  memcpy(out, json, head);
  strcpy(out + head, to);
  strcat(out, at + strlen(from));
  return out;
}

static void assert_rejected(const char *json, size_t len, const char *why) {
  pd_event_t ev;
  char err[256] = "";
  ck_assert_msg(pd_event_from_record(json, len, &ev, err, sizeof(err)) == -1,
                "accepted: %s", why);
  ck_assert_msg(err[0] != '\0', "no reason given: %s", why);
  /* Nothing is left allocated in ev. */
  ck_assert_ptr_null(ev.notify);
  ck_assert_ptr_null(ev.details);
  pd_event_free(&ev);
}

START_TEST(test_malformed_records_rejected) {
  pd_event_t ev;
  make_rich_event(&ev);
  char *json;
  size_t len;
  ck_assert_int_eq(pd_event_to_record(&ev, &json, &len), 0);
  pd_event_free(&ev);

  for (size_t cut = 0; cut < len; cut += 7)
    assert_rejected(json, cut, "truncated");
  assert_rejected("[1,2,3]", 7, "array root");
  assert_rejected("not json at all", 15, "garbage");

  static const struct {
    const char *from, *to, *why;
  } edits[] = {
      {"\"v\":2", "\"v\":3", "a later version"},
      {"\"v\":2", "\"v\":0", "version 0"},
      {"\"v\":2", "\"v\":\"2\"", "version as string"},
      {"\"v\":2,", "", "no version"},
      {"\"time\":", "\"time\":1.5,\"y\":", "version 2 time as a double"},
      {"\"time\":", "\"time\":9223372036854775808,\"y\":",
       "time past LLONG_MAX"},
      {"\"action\":\"trigger\"", "\"action\":\"page\"", "unknown action"},
      {"\"severity\":\"FAILURE\"", "\"severity\":\"BAD\"", "unknown severity"},
      {"\"dedup_key\":\"", "\"dedup_key\":\"\",\"x\":\"", "empty dedup key"},
      {"\"attempts\":7", "\"attempts\":-1", "negative attempts"},
      {"\"attempts\":7", "\"attempts\":1.5", "fractional attempts"},
      {"\"created\":", "\"created\":-5,\"y\":", "negative time"},
      {"\"details_dropped\":false", "\"details_dropped\":0", "bool as int"},
      {"[\"CurrentValue\",\"d\",\"0.10000000000000001\"]",
       "[\"CurrentValue\",\"d\",\"zero\"]", "bad double"},
      {"[\"CurrentValue\",\"d\",", "[\"CurrentValue\",\"q\",", "bad type"},
      {"[\"max\",\"u\",\"18446744073709551615\"]",
       "[\"max\",\"u\",\"18446744073709551616\"]", "uint overflow"},
      {"[\"max\",\"u\",\"18446744073709551615\"]", "[\"max\",\"u\",\"-1\"]",
       "negative uint"},
      {"[\"no\",\"b\",\"false\"]", "[\"no\",\"b\",\"nope\"]", "bad bool"},
      {"[\"no\",\"b\",\"false\"]", "[\"no\",\"b\"]", "detail pair"},
      {"\"source\":\"web01\"", "\"source\":\"web\xff\"", "invalid UTF-8"},
      {"\"source\":\"web01\"", "\"source\":7", "source as number"},
      {"\"note\":\"a note\"", "\"note\":[\"a note\"]", "note as array"},
  };
  for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
    char *bad = replace(json, edits[i].from, edits[i].to);
    assert_rejected(bad, strlen(bad), edits[i].why);
    free(bad);
  }

  /* A field longer than its bound. */
  char long_key[400];
  memset(long_key, 'k', 300);
  strcpy(long_key + 300, "\",");
  char *bad = replace(json, "web01/df-root/percent_bytes-used\",", long_key);
  assert_rejected(bad, strlen(bad), "dedup key > 255");
  free(bad);

  /* A NUL inside. */
  char *nul = strdup(json);
  nul[10] = '\0';
  assert_rejected(nul, len, "NUL byte");
  free(nul);

  /* Unknown keys are fine (a later version may add some). */
  char *extra = replace(json, "\"v\":2,", "\"v\":2,\"future\":{\"a\":[1]},");
  char err[256];
  ck_assert_int_eq(
      pd_event_from_record(extra, strlen(extra), &ev, err, sizeof(err)), 0);
  pd_event_free(&ev);
  free(extra);
  free(json);
}
END_TEST

/* replace() on one time field: "key":old_text becomes "key":new_text. */
static char *with_time(const char *json, const char *key, const char *old_text,
                       const char *new_text) {
  char from[96], to[96];
  snprintf(from, sizeof(from), "\"%s\":%s,", key, old_text);
  snprintf(to, sizeof(to), "\"%s\":%s,", key, new_text);
  return replace(json, from, to);
}

/* Spool files of the first releases (version 1, times as seconds) are
 * still read after an upgrade, to within what a double held. */
START_TEST(test_version_1_record_read) {
  pd_event_t ev, back;
  make_rich_event(&ev);
  ev.time = TIME_T_TO_CDTIME_T(1764730000) + MS_TO_CDTIME_T(250);
  char *json;
  size_t len;
  ck_assert_int_eq(pd_event_to_record(&ev, &json, &len), 0);

  /* Each time as version 2 wrote it, and as version 1 did. */
  const char *keys[] = {"created", "time", "next_attempt"};
  const cdtime_t times[] = {ev.created, ev.time, ev.next_attempt};
  char v2_text[3][32], v1_text[3][32];
  for (int i = 0; i < 3; i++) {
    snprintf(v2_text[i], sizeof(v2_text[i]), "%" PRIu64, (uint64_t)times[i]);
    snprintf(v1_text[i], sizeof(v1_text[i]), "%.17g",
             CDTIME_T_TO_DOUBLE(times[i]));
  }
  char *a = replace(json, "\"v\":2,", "\"v\":1,");
  char *b = with_time(a, keys[0], v2_text[0], v1_text[0]);
  char *c = with_time(b, keys[1], v2_text[1], v1_text[1]);
  char *v1 = with_time(c, keys[2], v2_text[2], v1_text[2]);
  free(a);
  free(b);
  free(c);

  char err[256] = "";
  ck_assert_msg(pd_event_from_record(v1, strlen(v1), &back, err, sizeof(err)) ==
                    0,
                "%s", err);
  ck_assert_uint_eq(back.time,
                    TIME_T_TO_CDTIME_T(1764730000) + MS_TO_CDTIME_T(250));
  ck_assert_double_eq_tol(CDTIME_T_TO_DOUBLE(back.created),
                          CDTIME_T_TO_DOUBLE(ev.created), 1e-6);
  ck_assert_double_eq_tol(CDTIME_T_TO_DOUBLE(back.next_attempt),
                          CDTIME_T_TO_DOUBLE(ev.next_attempt), 1e-6);
  ck_assert_str_eq(back.dedup_key, ev.dedup_key);
  ck_assert_uint_eq(back.details_num, ev.details_num);
  pd_event_free(&back);

  /* Version 1 times are numbers of seconds, and must fit a version 2
   * record (below 2^33 s), or the event could not be written again (found
   * by fuzz_spool_record). */
  char *late = with_time(v1, "time", v1_text[1], "9700000000");
  assert_rejected(late, strlen(late), "version 1 time past PD_EVENT_TIME_MAX");
  free(late);

  pd_event_free(&ev);
  free(v1);
  free(json);
}
END_TEST

START_TEST(test_action_names) {
  ck_assert_str_eq(pd_action_name(PD_ACTION_TRIGGER), "trigger");
  ck_assert_str_eq(pd_action_name(PD_ACTION_ACKNOWLEDGE), "acknowledge");
  ck_assert_str_eq(pd_action_name(PD_ACTION_RESOLVE), "resolve");
  ck_assert_str_eq(pd_action_name(PD_ACTION_NOTE), "note");
  ck_assert_str_eq(pd_action_name(PD_ACTION_NONE), "none");
  ck_assert_int_eq(pd_action_parse("RESOLVE"), PD_ACTION_RESOLVE);
  ck_assert_int_eq(pd_action_parse("none"), PD_ACTION_NONE);
  ck_assert_int_eq(pd_action_parse(""), PD_ACTION_NONE);
}
END_TEST

static Suite *event_suite(void) {
  Suite *s = suite_create("event");
  TCase *tc = tcase_create("mapping");
  tcase_add_checked_fixture(tc, setup, NULL);
  tcase_add_test(tc, test_failure_triggers);
  tcase_add_test(tc, test_warning_and_okay);
  tcase_add_test(tc, test_action_overrides);
  tcase_add_test(tc, test_dedup_key_and_incident_overrides);
  tcase_add_test(tc, test_blank_message_and_host);
  tcase_add_test(tc, test_time_past_record_bound);
  tcase_add_test(tc, test_summary_cut_on_utf8_boundary);
  tcase_add_test(tc, test_matching);
  tcase_add_test(tc, test_own_notifications_need_literal_plugin);
  tcase_add_test(tc, test_action_names);
  suite_add_tcase(s, tc);

  tc = tcase_create("bodies");
  tcase_add_checked_fixture(tc, setup, NULL);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_custom_details_in_events_body);
  tcase_add_test(tc, test_details_dropped_at_mapping);
  tcase_add_test(tc, test_details_dropped_at_send);
  tcase_add_test(tc, test_events_trigger_body_fields);
  tcase_add_test(tc, test_events_ack_resolve_note);
  tcase_add_test(tc, test_rest_bodies);
  tcase_add_test(tc, test_bodies_validate_against_openapi);
  suite_add_tcase(s, tc);

  tc = tcase_create("record");
  tcase_add_checked_fixture(tc, setup, NULL);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_record_round_trip);
  tcase_add_test(tc, test_meta_with_empty_name_skipped);
  tcase_add_test(tc, test_malformed_records_rejected);
  tcase_add_test(tc, test_version_1_record_read);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(event_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
