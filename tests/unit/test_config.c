/* SPDX-License-Identifier: MIT */
/*
 * test_config.c - the <Plugin pagerduty> block (doc/contract.md §3), option
 * by option.
 *
 * Configuration trees are built in code the way collectd's parser builds
 * them (keys, typed values, children), handed to pd_config_parse(), and the
 * result checked field by field. Every refused configuration must return
 * -1, log exactly one ERROR naming the block and the option, keep nothing
 * of the block, and never show a secret.
 */
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_fixture.h"
#include "daemon_stubs.h"
#include "pd_config.h"
#include "pd_template.h"

#define TOKEN "u+TestTokenAbc123xyz"
#define TOKEN2 "u+OtherToken987zyx"
#define ROUTING_KEY "R0123456789abcdef0123456789abcde"
#define ENV_TOKEN "u+FromTheEnvironment42"
#define PROXY_SECRET "pr0xyPassw0rd"

/* ------------------------------------------------------------------------ */
/* Building configuration trees                                              */

/* The builder is config_fixture.h; these short names keep the nested
 * option lists below readable. */
static oconfig_item_t *tree_new(const char *key) {
  return config_tree_new(key);
}
static void tree_free(oconfig_item_t *ci) { config_tree_free(ci); }

/* Pointers to children stay valid while a parent has few enough of them. */
static oconfig_item_t *child(oconfig_item_t *parent, const char *key) {
  ck_assert_int_lt(parent->children_num, CONFIG_FIXTURE_CHILDREN);
  return config_child(parent, key, strlen(key));
}

static oconfig_item_t *add_s(oconfig_item_t *ci, const char *s) {
  return config_add_string(ci, s);
}
static oconfig_item_t *add_n(oconfig_item_t *ci, double n) {
  return config_add_number(ci, n);
}
static oconfig_item_t *add_b(oconfig_item_t *ci, bool b) {
  return config_add_boolean(ci, b);
}

/* key "string" / key number / key boolean, as a child of parent. */
static oconfig_item_t *opt_s(oconfig_item_t *p, const char *k, const char *s) {
  return add_s(child(p, k), s);
}
static oconfig_item_t *opt_n(oconfig_item_t *p, const char *k, double n) {
  return add_n(child(p, k), n);
}
static oconfig_item_t *opt_b(oconfig_item_t *p, const char *k, bool b) {
  return add_b(child(p, k), b);
}

/* ------------------------------------------------------------------------ */
/* Fixture                                                                   */

static pd_config_t cfg;
static oconfig_item_t *root;
static char tmpdir[64];

static oconfig_item_t *plugin_block(void) {
  oconfig_item_t *ci = tree_new("Plugin");
  add_s(ci, "pagerduty");
  return ci;
}

/* <Account "name"> with an inline token. */
static oconfig_item_t *account(oconfig_item_t *plugin, const char *name) {
  oconfig_item_t *a = opt_s(plugin, "Account", name);
  opt_s(a, "Token", TOKEN);
  return a;
}

/* <Notify "name"> with a routing key. */
static oconfig_item_t *notify(oconfig_item_t *plugin, const char *name) {
  oconfig_item_t *n = opt_s(plugin, "Notify", name);
  opt_s(n, "RoutingKey", ROUTING_KEY);
  return n;
}

static void setup(void) {
  stub_log_reset();
  /* As the glue does (plugin/pagerduty.c). */
  pd_config_set_template_check(pd_template_validate);
  unsetenv(PD_TOKEN_ENV);
  pd_config_init(&cfg);
  root = plugin_block();
  snprintf(tmpdir, sizeof(tmpdir), "/tmp/pd_test_config.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void) {
  pd_config_free(&cfg);
  tree_free(root);
  root = NULL;
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
  ck_assert_int_eq(system(cmd), 0);
}

/* Writes a file in tmpdir with this content and mode; returns its path. */
static const char *write_file(const char *name, const char *content,
                              mode_t mode) {
  static char path[256];
  snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(content, f);
  ck_assert_int_eq(fclose(f), 0);
  ck_assert_int_eq(chmod(path, mode), 0);
  return path;
}

static void assert_no_secret_logged(int line) {
  const char *secrets[] = {TOKEN, TOKEN2, ROUTING_KEY, ENV_TOKEN, PROXY_SECRET};
  for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
    ck_assert_msg(!stub_log_contains(-1, secrets[i]),
                  "line %d: a secret was logged:\n%s", line, stub_log_dump());
}

/* Parses root and expects success with no ERROR. */
#define PARSE_OK() parse_ok(__LINE__)
static void parse_ok(int line) {
  stub_log_reset();
  int rc = pd_config_parse(&cfg, root);
  ck_assert_msg(rc == 0, "line %d: parse failed:\n%s", line, stub_log_dump());
  ck_assert_msg(stub_log_count(LOG_ERR) == 0, "line %d: ERROR logged:\n%s",
                line, stub_log_dump());
  assert_no_secret_logged(line);
}

/*
 * Parses root and expects it refused: -1, exactly one ERROR, which contains
 * the block ("<Account \"acme\">"), the option (or NULL) and a fragment of
 * the explanation (or NULL); nothing of the block kept; no secret logged.
 */
#define PARSE_FAILS(block, option, fragment)                                   \
  parse_fails(__LINE__, (block), (option), (fragment))
static void parse_fails(int line, const char *block, const char *option,
                        const char *fragment) {
  size_t accounts = cfg.accounts_num, notifies = cfg.notifies_num;
  stub_log_reset();
  int rc = pd_config_parse(&cfg, root);
  ck_assert_msg(rc == -1, "line %d: parse succeeded, expected failure", line);
  ck_assert_msg(stub_log_count(LOG_ERR) == 1,
                "line %d: expected exactly one ERROR, log:\n%s", line,
                stub_log_dump());
  ck_assert_msg(stub_log_contains(LOG_ERR, "pagerduty plugin: "),
                "line %d: no prefix:\n%s", line, stub_log_dump());
  char text[256];
  snprintf(text, sizeof(text), "pagerduty plugin: %s: ", block);
  ck_assert_msg(stub_log_contains(LOG_ERR, text),
                "line %d: ERROR does not name %s:\n%s", line, block,
                stub_log_dump());
  if (option != NULL) {
    snprintf(text, sizeof(text), "%s: option \"%s\": ", block, option);
    ck_assert_msg(stub_log_contains(LOG_ERR, text),
                  "line %d: ERROR does not name option %s:\n%s", line, option,
                  stub_log_dump());
  }
  if (fragment != NULL)
    ck_assert_msg(stub_log_contains(LOG_ERR, fragment),
                  "line %d: ERROR lacks \"%s\":\n%s", line, fragment,
                  stub_log_dump());
  ck_assert_msg(cfg.accounts_num == accounts && cfg.notifies_num == notifies,
                "line %d: the refused block left something behind", line);
  assert_no_secret_logged(line);
}

/* A fresh root, for tests that try several variants in a loop. */
static void reset_root(void) {
  tree_free(root);
  root = plugin_block();
  pd_config_free(&cfg);
}

#define ACME "<Account \"acme\">"
#define WEB "<Notify \"web\">"
#define PLUGIN "<Plugin pagerduty>"

/* ------------------------------------------------------------------------ */
/* Defaults                                                                  */

START_TEST(test_empty_block_defaults) {
  PARSE_OK();
  ck_assert_ptr_null(cfg.spool_dir);
  ck_assert_double_eq(cfg.max_event_age_s, 86400);
  ck_assert_int_eq(cfg.max_spool_events, 100000);
  ck_assert_uint_eq(cfg.accounts_num, 0);
  ck_assert_uint_eq(cfg.notifies_num, 0);
  ck_assert_int_eq(pd_config_validate(&cfg), 0);
}
END_TEST

START_TEST(test_account_defaults) {
  account(root, "acme");
  PARSE_OK();
  ck_assert_uint_eq(cfg.accounts_num, 1);
  pd_account_config_t *a = cfg.accounts[0];
  ck_assert_str_eq(a->name, "acme");
  ck_assert_int_eq(a->token_source, PD_TOKEN_FROM_CONFIG);
  ck_assert_str_eq(a->token, TOKEN);
  ck_assert_ptr_null(a->token_file);
  ck_assert_str_eq(a->url, PD_DEFAULT_URL);
  ck_assert_uint_eq(a->teams_num, 0);
  ck_assert_ptr_null(a->host);
  ck_assert_double_eq(a->interval_s, 0);
  ck_assert_double_eq(a->slow_interval_s, 300);
  ck_assert_double_eq(a->coverage_window_s, 604800);
  ck_assert_double_eq(a->trend_window_s, 86400);
  ck_assert_double_eq(a->full_sync_interval_s, 3600);
  ck_assert_uint_eq(a->collect, PD_COLLECT_ALL);
  ck_assert_int_eq(a->instance_by, PD_INSTANCE_BY_NAME);
  ck_assert(!a->notifications);
  ck_assert_int_eq(a->max_requests_per_minute, 600);
  ck_assert_ptr_null(a->from);
  ck_assert_int_eq(a->transport.timeout_ms, 10000);
  ck_assert(a->transport.verify_peer);
  ck_assert(a->transport.verify_host);
  ck_assert_ptr_null(a->transport.cacert);
  ck_assert_ptr_null(a->transport.proxy);
  ck_assert_ptr_eq(pd_config_find_account(&cfg, "acme"), a);
  ck_assert_ptr_null(pd_config_find_account(&cfg, "ACME"));
  ck_assert_ptr_null(pd_config_find_account(&cfg, NULL));
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 0);
}
END_TEST

START_TEST(test_notify_defaults) {
  notify(root, "web");
  PARSE_OK();
  ck_assert_uint_eq(cfg.notifies_num, 1);
  pd_notify_config_t *n = cfg.notifies[0];
  ck_assert_str_eq(n->name, "web");
  ck_assert_ptr_null(n->host.text);
  ck_assert_ptr_null(n->plugin.text);
  ck_assert_ptr_null(n->plugin_instance.text);
  ck_assert_ptr_null(n->type.text);
  ck_assert_ptr_null(n->type_instance.text);
  ck_assert_uint_eq(n->severities, PD_SEVERITY_ALL);
  ck_assert_str_eq(n->routing_key, ROUTING_KEY);
  ck_assert_ptr_null(n->service);
  ck_assert_ptr_null(n->account);
  ck_assert_str_eq(n->events_url, PD_DEFAULT_EVENTS_URL);
  ck_assert_str_eq(n->dedup_key, PD_DEFAULT_DEDUP_KEY);
  ck_assert(n->resolve_on_okay);
  ck_assert_double_eq(n->note_interval_s, 600);
  ck_assert_int_eq(n->transport.timeout_ms, 10000);
  ck_assert(n->transport.verify_peer);
  ck_assert(n->transport.verify_host);
  ck_assert_int_eq(pd_config_validate(&cfg), 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Top level                                                                 */

START_TEST(test_plugin_options) {
  opt_s(root, "SpoolDir", "/var/lib/collectd/pd");
  opt_n(root, "MaxEventAge", 3600.5);
  opt_n(root, "MaxSpoolEvents", 42);
  PARSE_OK();
  ck_assert_str_eq(cfg.spool_dir, "/var/lib/collectd/pd");
  ck_assert_double_eq(cfg.max_event_age_s, 3600.5);
  ck_assert_int_eq(cfg.max_spool_events, 42);
}
END_TEST

START_TEST(test_plugin_option_names_case_insensitive) {
  opt_s(root, "spooldir", "/x");
  opt_n(root, "MAXEVENTAGE", 10);
  oconfig_item_t *a = opt_s(root, "account", "acme");
  opt_s(a, "tOkEn", TOKEN);
  opt_n(a, "interval", 30);
  oconfig_item_t *n = opt_s(root, "NOTIFY", "web");
  opt_s(n, "routingkey", ROUTING_KEY);
  PARSE_OK();
  ck_assert_str_eq(cfg.spool_dir, "/x");
  ck_assert_double_eq(cfg.max_event_age_s, 10);
  ck_assert_double_eq(cfg.accounts[0]->interval_s, 30);
  ck_assert_uint_eq(cfg.notifies_num, 1);
}
END_TEST

START_TEST(test_plugin_unknown_option) {
  opt_s(root, "Colour", "blue");
  PARSE_FAILS(PLUGIN, "Colour",
              "unknown option; <Plugin pagerduty> takes SpoolDir, "
              "MaxEventAge, MaxSpoolEvents and <Account> and <Notify> "
              "blocks.");
}
END_TEST

/* The unknown-option ERROR of each block lists exactly the options the
 * table gives that block (pd_config.h), each once. */
static void assert_lists_block(unsigned block, const char *block_text) {
  size_t num;
  const pd_option_t *opts = pd_config_options(&num);
  /* The one line logged (parse_fails() checked there is one ERROR). */
  const char *found_at = strstr(stub_log_dump(), "unknown option; ");
  ck_assert_ptr_nonnull(found_at);
  char line[1024];
  snprintf(line, sizeof(line), "%.*s", (int)strcspn(found_at, "\n"), found_at);
  const char *list = strstr(line, " takes ");
  ck_assert_msg(list != NULL && strstr(line, block_text) != NULL, "%s", line);
  size_t listed = 0;
  for (size_t i = 0; i < num; i++) {
    char name[64];
    snprintf(name, sizeof(name), opts[i].type == PD_OPT_BLOCK ? "<%s>" : "%s",
             opts[i].name);
    /* Each name is followed by ", ", " and " or "." (or " blocks."). */
    bool found = false;
    for (const char *p = strstr(list, name); p != NULL; p = strstr(p + 1, name))
      if ((p[-1] == ' ') &&
          (strchr(",.", p[strlen(name)]) != NULL || p[strlen(name)] == ' '))
        found = true;
    if (opts[i].blocks & block) {
      ck_assert_msg(found, "%s missing from: %s", name, line);
      listed++;
    }
  }
  /* As many names as the block has rows: "A, B, ... and Z". */
  size_t commas = 0, ands = 0;
  for (const char *p = list; *p != '\0'; p++)
    commas += *p == ',';
  for (const char *p = strstr(list, " and "); p != NULL;
       p = strstr(p + 1, " and "))
    ands++;
  ck_assert_uint_eq(commas + ands + 1, listed);
}

START_TEST(test_unknown_option_lists_the_table) {
  opt_s(root, "Colour", "blue");
  PARSE_FAILS(PLUGIN, "Colour", NULL);
  assert_lists_block(PD_BLOCK_PLUGIN, "<Plugin pagerduty> takes");

  reset_root();
  opt_s(account(root, "acme"), "Passwd", "x");
  PARSE_FAILS(ACME, "Passwd", NULL);
  assert_lists_block(PD_BLOCK_ACCOUNT, "an <Account> block takes");

  reset_root();
  opt_s(notify(root, "web"), "Urgency", "high");
  PARSE_FAILS(WEB, "Urgency", NULL);
  assert_lists_block(PD_BLOCK_NOTIFY, "a <Notify> block takes");
}
END_TEST

START_TEST(test_plugin_bad_values) {
  opt_s(root, "SpoolDir", "");
  PARSE_FAILS(PLUGIN, "SpoolDir", "must not be empty");
  reset_root();
  opt_n(root, "SpoolDir", 5);
  PARSE_FAILS(PLUGIN, "SpoolDir", "must be a string");
  reset_root();
  opt_n(root, "MaxEventAge", 0);
  PARSE_FAILS(PLUGIN, "MaxEventAge", "positive number of seconds (got 0)");
  reset_root();
  opt_n(root, "MaxEventAge", -3);
  PARSE_FAILS(PLUGIN, "MaxEventAge", "(got -3)");
  reset_root();
  opt_n(root, "MaxSpoolEvents", 0);
  PARSE_FAILS(PLUGIN, "MaxSpoolEvents", "positive whole number");
  reset_root();
  opt_n(root, "MaxSpoolEvents", 2.5);
  PARSE_FAILS(PLUGIN, "MaxSpoolEvents", "(got 2.5)");
  reset_root();
  opt_s(root, "MaxSpoolEvents", "100");
  PARSE_FAILS(PLUGIN, "MaxSpoolEvents", "(got the string \"100\")");
  reset_root();
  add_n(opt_n(root, "MaxEventAge", 10), 20);
  PARSE_FAILS(PLUGIN, "MaxEventAge", "exactly one value (got 2)");
  reset_root();
  child(root, "MaxEventAge");
  PARSE_FAILS(PLUGIN, "MaxEventAge", "exactly one value (got 0)");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* <Account>: each option                                                    */

START_TEST(test_account_all_options) {
  const char *ca = write_file("ca.pem", "-----BEGIN CERTIFICATE-----\n", 0644);
  char ca_path[256];
  snprintf(ca_path, sizeof(ca_path), "%s", ca);

  oconfig_item_t *a = account(root, "acme");
  opt_s(a, "URL", "https://api.eu.pagerduty.com/");
  opt_s(a, "Team", "PTEAM01");
  add_s(opt_s(a, "Team", "Platform Ops"), "PTEAM02");
  opt_s(a, "Host", "pagerduty");
  opt_n(a, "Interval", 60);
  opt_n(a, "SlowInterval", 600);
  opt_n(a, "CoverageWindow", 3600);
  opt_n(a, "TrendWindow", 7200);
  add_s(opt_s(a, "Collect", "services"), "incidents");
  opt_s(a, "InstanceBy", "id");
  opt_b(a, "Notifications", true);
  opt_n(a, "MaxRequestsPerMinute", 120);
  opt_n(a, "Timeout", 2500);
  opt_b(a, "VerifyPeer", true);
  opt_b(a, "VerifyHost", true);
  opt_s(a, "CACert", ca_path);
  opt_s(a, "Proxy", "http://proxy:3128");
  opt_s(a, "From", "ops@example.com");
  PARSE_OK();

  pd_account_config_t *c = cfg.accounts[0];
  ck_assert_str_eq(c->url, "https://api.eu.pagerduty.com");
  ck_assert_uint_eq(c->teams_num, 3);
  ck_assert_str_eq(c->teams[0], "PTEAM01");
  ck_assert_str_eq(c->teams[1], "Platform Ops");
  ck_assert_str_eq(c->teams[2], "PTEAM02");
  ck_assert_str_eq(c->host, "pagerduty");
  ck_assert_double_eq(c->interval_s, 60);
  ck_assert_double_eq(c->slow_interval_s, 600);
  ck_assert_double_eq(c->coverage_window_s, 3600);
  ck_assert_double_eq(c->trend_window_s, 7200);
  ck_assert_uint_eq(c->collect, PD_COLLECT_SERVICES | PD_COLLECT_INCIDENTS);
  ck_assert_int_eq(c->instance_by, PD_INSTANCE_BY_ID);
  ck_assert(c->notifications);
  ck_assert_int_eq(c->max_requests_per_minute, 120);
  ck_assert_int_eq(c->transport.timeout_ms, 2500);
  ck_assert_str_eq(c->transport.cacert, ca_path);
  ck_assert_str_eq(c->transport.proxy, "http://proxy:3128");
  ck_assert_str_eq(c->from, "ops@example.com");
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 0);
}
END_TEST

START_TEST(test_account_unknown_option) {
  oconfig_item_t *a = account(root, "acme");
  opt_s(a, "Passwd", "x");
  PARSE_FAILS(ACME, "Passwd",
              "unknown option; an <Account> block takes Token, TokenFile, "
              "URL, Team, Host, Interval, SlowInterval, CoverageWindow, "
              "TrendWindow, FullSyncInterval, Collect, InstanceBy, "
              "Notifications, MaxRequestsPerMinute, From, Timeout, "
              "VerifyPeer, VerifyHost, CACert and Proxy.");
}
END_TEST

START_TEST(test_account_interval_message) {
  oconfig_item_t *a = account(root, "acme");
  opt_n(a, "Interval", -5);
  PARSE_FAILS(ACME, "Interval", NULL);
  ck_assert_msg(
      stub_log_contains(
          LOG_ERR, "pagerduty plugin: <Account \"acme\">: option \"Interval\": "
                   "must be a positive number of seconds, or 0 for collectd's "
                   "interval (got -5)."),
      "%s", stub_log_dump());
}
END_TEST

START_TEST(test_account_intervals) {
  /* Interval 0 inherits. */
  opt_n(account(root, "acme"), "Interval", 0);
  PARSE_OK();
  ck_assert_double_eq(cfg.accounts[0]->interval_s, 0);

  const char *options[] = {"SlowInterval", "CoverageWindow", "TrendWindow"};
  for (size_t i = 0; i < 3; i++) {
    reset_root();
    opt_n(account(root, "acme"), options[i], 0);
    PARSE_FAILS(ACME, options[i], "positive number of seconds (got 0)");
    reset_root();
    opt_n(account(root, "acme"), options[i], -1);
    PARSE_FAILS(ACME, options[i], "(got -1)");
    reset_root();
    opt_s(account(root, "acme"), options[i], "abc");
    PARSE_FAILS(ACME, options[i], "(got the string \"abc\")");
    reset_root();
    opt_n(account(root, "acme"), options[i], 0.5);
    PARSE_OK();
  }
  /* FullSyncInterval 0: a full read every cycle. */
  reset_root();
  add_n(opt_n(account(root, "acme"), "Interval", 60), 70);
  PARSE_FAILS(ACME, "Interval", "exactly one value (got 2)");
  reset_root();
  opt_b(account(root, "acme"), "Interval", true);
  PARSE_FAILS(ACME, "Interval", "(got the boolean true)");
}
END_TEST

START_TEST(test_account_collect) {
  oconfig_item_t *a = account(root, "acme");
  add_s(add_s(opt_s(a, "Collect", "oncalls"), "SCHEDULES"), "oncalls");
  opt_s(a, "Collect", "teams");
  PARSE_OK();
  ck_assert_uint_eq(cfg.accounts[0]->collect, PD_COLLECT_ONCALLS |
                                                  PD_COLLECT_SCHEDULES |
                                                  PD_COLLECT_TEAMS);

  reset_root();
  a = account(root, "acme");
  add_s(add_s(add_s(add_s(add_s(opt_s(a, "Collect", "services"), "incidents"),
                          "oncalls"),
                    "schedules"),
              "policies"),
        "teams");
  PARSE_OK();
  ck_assert_uint_eq(cfg.accounts[0]->collect, PD_COLLECT_ALL);

  reset_root();
  add_s(opt_s(account(root, "acme"), "Collect", "services"), "users");
  PARSE_FAILS(ACME, "Collect", "(got the string \"users\")");
  reset_root();
  opt_n(account(root, "acme"), "Collect", 1);
  PARSE_FAILS(ACME, "Collect", "one or more of");
  reset_root();
  child(account(root, "acme"), "Collect");
  PARSE_FAILS(ACME, "Collect", "(got no value)");
}
END_TEST

START_TEST(test_account_instance_by) {
  opt_s(account(root, "acme"), "InstanceBy", "NAME");
  PARSE_OK();
  ck_assert_int_eq(cfg.accounts[0]->instance_by, PD_INSTANCE_BY_NAME);
  reset_root();
  opt_s(account(root, "acme"), "InstanceBy", "Id");
  PARSE_OK();
  ck_assert_int_eq(cfg.accounts[0]->instance_by, PD_INSTANCE_BY_ID);
  reset_root();
  opt_s(account(root, "acme"), "InstanceBy", "uuid");
  PARSE_FAILS(ACME, "InstanceBy", "\"name\" or \"id\" (got \"uuid\")");
}
END_TEST

START_TEST(test_account_booleans) {
  opt_s(account(root, "acme"), "Notifications", "yes");
  PARSE_OK();
  ck_assert(cfg.accounts[0]->notifications);
  reset_root();
  opt_s(account(root, "acme"), "Notifications", "Off");
  PARSE_OK();
  ck_assert(!cfg.accounts[0]->notifications);
  reset_root();
  opt_s(account(root, "acme"), "Notifications", "maybe");
  PARSE_FAILS(ACME, "Notifications",
              "true or false (got the string \"maybe\")");
  reset_root();
  opt_n(account(root, "acme"), "Notifications", 1);
  PARSE_FAILS(ACME, "Notifications", "true or false (got the number 1)");
}
END_TEST

START_TEST(test_account_max_requests) {
  opt_n(account(root, "acme"), "MaxRequestsPerMinute", 1);
  PARSE_OK();
  ck_assert_int_eq(cfg.accounts[0]->max_requests_per_minute, 1);
  reset_root();
  opt_n(account(root, "acme"), "MaxRequestsPerMinute", 960);
  PARSE_OK();
  ck_assert_int_eq(cfg.accounts[0]->max_requests_per_minute, 960);
  const double bad[] = {0, 961, -5, 10.5};
  for (size_t i = 0; i < 4; i++) {
    reset_root();
    opt_n(account(root, "acme"), "MaxRequestsPerMinute", bad[i]);
    PARSE_FAILS(ACME, "MaxRequestsPerMinute", "from 1 to 960");
  }
}
END_TEST

START_TEST(test_transport_timeout) {
  opt_n(account(root, "acme"), "Timeout", 1);
  PARSE_OK();
  ck_assert_int_eq(cfg.accounts[0]->transport.timeout_ms, 1);
  const double bad[] = {0, -100, 2.5};
  for (size_t i = 0; i < 3; i++) {
    reset_root();
    opt_n(account(root, "acme"), "Timeout", bad[i]);
    PARSE_FAILS(ACME, "Timeout", "positive whole number of milliseconds");
  }
  reset_root();
  opt_n(notify(root, "web"), "Timeout", 0);
  PARSE_FAILS(WEB, "Timeout", "milliseconds (got 0)");
}
END_TEST

START_TEST(test_transport_verify_warnings) {
  oconfig_item_t *a = account(root, "acme");
  opt_b(a, "VerifyPeer", false);
  PARSE_OK();
  ck_assert(!cfg.accounts[0]->transport.verify_peer);
  ck_assert(cfg.accounts[0]->transport.verify_host);
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 1);
  ck_assert(
      stub_log_contains(LOG_WARNING, ACME ": option \"VerifyPeer\": false"));

  reset_root();
  opt_b(account(root, "acme"), "VerifyHost", false);
  PARSE_OK();
  ck_assert(!cfg.accounts[0]->transport.verify_host);
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 1);
  ck_assert(
      stub_log_contains(LOG_WARNING, ACME ": option \"VerifyHost\": false"));

  reset_root();
  oconfig_item_t *n = notify(root, "web");
  opt_s(n, "VerifyPeer", "false");
  opt_b(n, "VerifyHost", false);
  PARSE_OK();
  ck_assert(!cfg.notifies[0]->transport.verify_peer);
  ck_assert(!cfg.notifies[0]->transport.verify_host);
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 2);
  ck_assert(stub_log_contains(LOG_WARNING, WEB ": option \"VerifyPeer\""));
  ck_assert(stub_log_contains(LOG_WARNING, WEB ": option \"VerifyHost\""));
}
END_TEST

START_TEST(test_transport_cacert) {
  char missing[256];
  snprintf(missing, sizeof(missing), "%s/nope.pem", tmpdir);
  opt_s(account(root, "acme"), "CACert", missing);
  PARSE_FAILS(ACME, "CACert", "cannot read the CA bundle");
  reset_root();
  opt_s(account(root, "acme"), "CACert", tmpdir);
  PARSE_FAILS(ACME, "CACert", "not a regular file");
  reset_root();
  opt_s(account(root, "acme"), "CACert", "");
  PARSE_FAILS(ACME, "CACert", "must not be empty");
  reset_root();
  opt_s(notify(root, "web"), "CACert", missing);
  PARSE_FAILS(WEB, "CACert", "cannot read the CA bundle");
}
END_TEST

START_TEST(test_transport_proxy) {
  const char *good[] = {"http://proxy:3128", "https://proxy.example.com",
                        "socks5h://127.0.0.1:1080",
                        "http://user:" PROXY_SECRET "@proxy:3128"};
  for (size_t i = 0; i < 4; i++) {
    reset_root();
    opt_s(account(root, "acme"), "Proxy", good[i]);
    PARSE_OK();
    ck_assert_str_eq(cfg.accounts[0]->transport.proxy, good[i]);
  }
  const char *bad[] = {"proxy:3128", "ftp://proxy:21",
                       "http://user:" PROXY_SECRET "@",
                       "http://proxy:3128/\r\n" PROXY_SECRET, ""};
  for (size_t i = 0; i < 5; i++) {
    reset_root();
    opt_s(account(root, "acme"), "Proxy", bad[i]);
    PARSE_FAILS(ACME, "Proxy", NULL);
  }
  reset_root();
  opt_s(notify(root, "web"), "Proxy", "nonsense");
  PARSE_FAILS(WEB, "Proxy", "must be a proxy URL");
}
END_TEST

START_TEST(test_account_from) {
  const char *bad[] = {
      "not-an-email", "@example.com",     "ops@",
      "a@b@c",        "ops @example.com", "Ops <ops@example.com>"};
  for (size_t i = 0; i < 6; i++) {
    reset_root();
    opt_s(account(root, "acme"), "From", bad[i]);
    PARSE_FAILS(ACME, "From", "email address");
  }
  reset_root();
  opt_s(account(root, "acme"), "From", "ops@example.com\r\nX-Evil: 1");
  PARSE_FAILS(ACME, "From", "carriage return or line feed");
  reset_root();
  opt_n(account(root, "acme"), "From", 7);
  PARSE_FAILS(ACME, "From", "must be a string");
}
END_TEST

START_TEST(test_account_host) {
  opt_s(account(root, "acme"), "Host", "");
  PARSE_FAILS(ACME, "Host", "must not be empty");
  reset_root();
  opt_s(account(root, "acme"), "Host", "bad\nhost");
  PARSE_FAILS(ACME, "Host", "without control characters");
  reset_root();
  char longname[200];
  memset(longname, 'h', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  opt_s(account(root, "acme"), "Host", longname);
  PARSE_FAILS(ACME, "Host", "at most 127 bytes");
}
END_TEST

START_TEST(test_account_team) {
  opt_s(account(root, "acme"), "Team", "");
  PARSE_FAILS(ACME, "Team", "must not be empty");
  reset_root();
  add_n(opt_s(account(root, "acme"), "Team", "PTEAM"), 5);
  PARSE_FAILS(ACME, "Team", "(got the number 5)");
  reset_root();
  child(account(root, "acme"), "Team");
  PARSE_FAILS(ACME, "Team", "(got no value)");
  reset_root();
  opt_s(account(root, "acme"), "Team", "PTEAM\r\n");
  PARSE_FAILS(ACME, "Team", "carriage return or line feed");
}
END_TEST

START_TEST(test_option_given_as_block) {
  oconfig_item_t *a = account(root, "acme");
  oconfig_item_t *url = opt_s(a, "URL", "https://x.example.com");
  opt_n(url, "Foo", 1);
  PARSE_FAILS(ACME, "URL", "is an option, not a block");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Token sources                                                             */

START_TEST(test_token_and_tokenfile_contradict) {
  const char *path = write_file("token", TOKEN2 "\n", 0600);
  opt_s(account(root, "acme"), "TokenFile", path);
  PARSE_FAILS(ACME, "TokenFile", "Token and TokenFile are mutually exclusive");
}
END_TEST

START_TEST(test_token_missing) {
  opt_s(root, "Account", "acme");
  PARSE_FAILS(ACME, NULL,
              "no token: set Token, TokenFile or PAGERDUTY_USER_API_KEY");
  setenv(PD_TOKEN_ENV, "", 1);
  PARSE_FAILS(ACME, NULL,
              "no token: set Token, TokenFile or PAGERDUTY_USER_API_KEY");
}
END_TEST

START_TEST(test_token_from_environment) {
  setenv(PD_TOKEN_ENV, ENV_TOKEN, 1);
  opt_s(root, "Account", "acme");
  PARSE_OK();
  ck_assert_int_eq(cfg.accounts[0]->token_source, PD_TOKEN_FROM_ENV);
  ck_assert_str_eq(cfg.accounts[0]->token, ENV_TOKEN);

  /* An inline Token wins over the environment. */
  reset_root();
  account(root, "acme");
  PARSE_OK();
  ck_assert_int_eq(cfg.accounts[0]->token_source, PD_TOKEN_FROM_CONFIG);
  ck_assert_str_eq(cfg.accounts[0]->token, TOKEN);

  reset_root();
  setenv(PD_TOKEN_ENV, ENV_TOKEN "\r\nX-Evil: 1", 1);
  opt_s(root, "Account", "acme");
  PARSE_FAILS(ACME, NULL, "PAGERDUTY_USER_API_KEY");
}
END_TEST

START_TEST(test_token_inline_invalid) {
  opt_s(opt_s(root, "Account", "acme"), "Token", TOKEN "\nX-Evil: 1");
  PARSE_FAILS(ACME, "Token", "carriage return or line feed");
  reset_root();
  opt_s(opt_s(root, "Account", "acme"), "Token", "");
  PARSE_FAILS(ACME, "Token", "must not be empty");
  reset_root();
  opt_n(opt_s(root, "Account", "acme"), "Token", 12345);
  PARSE_FAILS(ACME, "Token", "must be a string");
  ck_assert(!stub_log_contains(-1, "12345"));
  reset_root();
  add_s(opt_s(opt_s(root, "Account", "acme"), "Token", TOKEN), TOKEN2);
  PARSE_FAILS(ACME, "Token", "exactly one value");
}
END_TEST

START_TEST(test_tokenfile_private) {
  const char *path = write_file("token", "  " TOKEN2 "  \nsecond line\n", 0600);
  char copy[256];
  snprintf(copy, sizeof(copy), "%s", path);
  opt_s(opt_s(root, "Account", "acme"), "TokenFile", copy);
  PARSE_OK();
  pd_account_config_t *a = cfg.accounts[0];
  ck_assert_int_eq(a->token_source, PD_TOKEN_FROM_FILE);
  ck_assert_str_eq(a->token_file, copy);
  ck_assert_ptr_null(a->token);
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 0);
}
END_TEST

START_TEST(test_tokenfile_permissions_warning) {
  const mode_t modes[] = {0644, 0640, 0604};
  for (size_t i = 0; i < 3; i++) {
    reset_root();
    const char *path = write_file("token", TOKEN2 "\n", modes[i]);
    opt_s(opt_s(root, "Account", "acme"), "TokenFile", path);
    PARSE_OK();
    ck_assert_uint_eq(stub_log_count(LOG_WARNING), 1);
    ck_assert_msg(
        stub_log_contains(LOG_WARNING, ACME ": option \"TokenFile\": \""), "%s",
        stub_log_dump());
    ck_assert(stub_log_contains(LOG_WARNING, "readable by group or others"));
    ck_assert(stub_log_contains(LOG_WARNING, path));
  }
}
END_TEST

START_TEST(test_tokenfile_unusable) {
  char path[256];
  snprintf(path, sizeof(path), "%s/absent", tmpdir);
  opt_s(opt_s(root, "Account", "acme"), "TokenFile", path);
  PARSE_FAILS(ACME, "TokenFile", "cannot open");

  reset_root();
  opt_s(opt_s(root, "Account", "acme"), "TokenFile",
        write_file("empty", "", 0600));
  PARSE_FAILS(ACME, "TokenFile", "holds no token");

  reset_root();
  opt_s(opt_s(root, "Account", "acme"), "TokenFile",
        write_file("blank", "   \n" TOKEN2 "\n", 0600));
  PARSE_FAILS(ACME, "TokenFile", "holds no token");

  reset_root();
  opt_s(opt_s(root, "Account", "acme"), "TokenFile",
        write_file("cr", TOKEN2 "\rX-Evil: 1\n", 0600));
  PARSE_FAILS(ACME, "TokenFile", "carriage return");

  reset_root();
  opt_s(opt_s(root, "Account", "acme"), "TokenFile", tmpdir);
  PARSE_FAILS(ACME, "TokenFile", "not a regular file");

  reset_root();
  opt_s(opt_s(root, "Account", "acme"), "TokenFile", "");
  PARSE_FAILS(ACME, "TokenFile", "must not be empty");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* URLs and loopback                                                         */

START_TEST(test_url_accepted) {
  const struct {
    const char *in, *out;
  } cases[] = {
      {"https://example.com", "https://example.com"},
      {"https://example.com/", "https://example.com"},
      {"https://example.com/api//", "https://example.com/api"},
      {"http://127.0.0.1", "http://127.0.0.1"},
      {"http://127.1.2.3:8080/", "http://127.1.2.3:8080"},
      {"http://localhost:1234/", "http://localhost:1234"},
      {"HTTP://LocalHost", "HTTP://LocalHost"},
      {"http://[::1]:9000", "http://[::1]:9000"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    reset_root();
    opt_s(account(root, "acme"), "URL", cases[i].in);
    opt_s(notify(root, "web"), "EventsURL", cases[i].in);
    PARSE_OK();
    ck_assert_str_eq(cfg.accounts[0]->url, cases[i].out);
    ck_assert_str_eq(cfg.notifies[0]->events_url, cases[i].out);
  }
}
END_TEST

START_TEST(test_url_refused) {
  const struct {
    const char *url, *fragment;
  } cases[] = {
      {"http://example.com", "only for a loopback host"},
      {"http://128.0.0.1", "only for a loopback host"},
      {"http://localhost.example.com", "only for a loopback host"},
      {"http://[::2]", "only for a loopback host"},
      {"ftp://example.com", "must start with https://"},
      {"api.pagerduty.com", "must be an https:// URL with a host"},
      {"https://", "must be an https:// URL with a host"},
      {"https://user:" PROXY_SECRET "@example.com", "user name or password"},
      {"https://example.com/?x=1", "query"},
      {"https://example.com/#top", "fragment"},
      {"https://example.com/\r\nX-Evil: 1", "carriage return or line feed"},
      {"", "must not be empty"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    reset_root();
    opt_s(account(root, "acme"), "URL", cases[i].url);
    PARSE_FAILS(ACME, "URL", cases[i].fragment);
    reset_root();
    opt_s(notify(root, "web"), "EventsURL", cases[i].url);
    PARSE_FAILS(WEB, "EventsURL", cases[i].fragment);
  }
}
END_TEST

START_TEST(test_url_is_loopback) {
  ck_assert(pd_url_is_loopback("http://127.0.0.1"));
  ck_assert(pd_url_is_loopback("http://127.255.0.9:80/x"));
  ck_assert(pd_url_is_loopback("https://localhost"));
  ck_assert(pd_url_is_loopback("http://LOCALHOST:8080"));
  ck_assert(pd_url_is_loopback("http://[::1]:8080/"));
  ck_assert(pd_url_is_loopback("http://[::ffff:127.0.0.1]/"));
  ck_assert(!pd_url_is_loopback("http://128.0.0.1"));
  ck_assert(!pd_url_is_loopback("http://10.0.0.1"));
  ck_assert(!pd_url_is_loopback("http://[::2]"));
  ck_assert(!pd_url_is_loopback("http://localhost.example.com"));
  ck_assert(!pd_url_is_loopback("http://example.com/127.0.0.1"));
  ck_assert(!pd_url_is_loopback("http://127.0.0.1.example.com"));
  ck_assert(!pd_url_is_loopback("not a url"));
  ck_assert(!pd_url_is_loopback(""));
  ck_assert(!pd_url_is_loopback(NULL));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* <Notify>                                                                  */

START_TEST(test_notify_all_options) {
  account(root, "acme");
  oconfig_item_t *n = opt_s(root, "Notify", "web-paging");
  opt_s(n, "Host", "/^web/");
  opt_s(n, "Plugin", "df");
  opt_s(n, "PluginInstance", "/.*/");
  opt_s(n, "Type", "percent_bytes");
  opt_s(n, "TypeInstance", "used");
  add_s(opt_s(n, "Severity", "FAILURE"), "warning");
  opt_s(n, "RoutingKey", ROUTING_KEY);
  opt_s(n, "Account", "acme");
  opt_s(n, "EventsURL", "https://events.eu.pagerduty.com/");
  opt_s(n, "DedupKey", "%{host}/%{plugin}-%{meta:DataSource}/%{severity}");
  opt_b(n, "ResolveOnOkay", false);
  opt_n(n, "NoteInterval", 0);
  opt_n(n, "Timeout", 3000);
  PARSE_OK();

  pd_notify_config_t *c = cfg.notifies[0];
  ck_assert_str_eq(c->name, "web-paging");
  ck_assert_str_eq(c->host.text, "/^web/");
  ck_assert(c->host.is_regex);
  ck_assert_str_eq(c->plugin.text, "df");
  ck_assert(!c->plugin.is_regex);
  ck_assert(c->plugin_instance.is_regex);
  ck_assert_str_eq(c->type.text, "percent_bytes");
  ck_assert_str_eq(c->type_instance.text, "used");
  ck_assert_uint_eq(c->severities, PD_SEVERITY_FAILURE | PD_SEVERITY_WARNING);
  ck_assert_str_eq(c->routing_key, ROUTING_KEY);
  ck_assert_str_eq(c->account, "acme");
  ck_assert_str_eq(c->events_url, "https://events.eu.pagerduty.com");
  ck_assert_str_eq(c->dedup_key,
                   "%{host}/%{plugin}-%{meta:DataSource}/%{severity}");
  ck_assert(!c->resolve_on_okay);
  ck_assert_double_eq(c->note_interval_s, 0);
  ck_assert_int_eq(c->transport.timeout_ms, 3000);
}
END_TEST

START_TEST(test_notify_unknown_option) {
  opt_s(notify(root, "web"), "Urgency", "high");
  PARSE_FAILS(WEB, "Urgency",
              "unknown option; a <Notify> block takes Host, Plugin, "
              "PluginInstance, Type, TypeInstance, Severity, RoutingKey, "
              "Service, Account, EventsURL, DedupKey, ResolveOnOkay, "
              "NoteInterval, Timeout, VerifyPeer, VerifyHost, CACert and "
              "Proxy.");
}
END_TEST

START_TEST(test_match_semantics) {
  oconfig_item_t *n = notify(root, "web");
  opt_s(n, "Host", "/^web[0-9]+$/");
  opt_s(n, "Plugin", "df");
  opt_s(n, "PluginInstance", "");
  opt_s(n, "Type", "/");
  PARSE_OK();
  const pd_notify_config_t *c = cfg.notifies[0];

  ck_assert(pd_match_matches(&c->host, "web01"));
  ck_assert(!pd_match_matches(&c->host, "db01"));
  ck_assert(!pd_match_matches(&c->host, "web"));
  ck_assert(!pd_match_matches(&c->host, "aweb01"));

  ck_assert(pd_match_matches(&c->plugin, "df"));
  ck_assert(!pd_match_matches(&c->plugin, "DF"));
  ck_assert(!pd_match_matches(&c->plugin, "dfx"));
  ck_assert(!pd_match_matches(&c->plugin, ""));

  /* "" is an exact match for the empty plugin instance. */
  ck_assert(pd_match_matches(&c->plugin_instance, ""));
  ck_assert(pd_match_matches(&c->plugin_instance, NULL));
  ck_assert(!pd_match_matches(&c->plugin_instance, "root"));

  /* A lone "/" is a string, not a regex. */
  ck_assert(!c->type.is_regex);
  ck_assert(pd_match_matches(&c->type, "/"));
  ck_assert(!pd_match_matches(&c->type, "x"));

  /* Absent: matches anything. */
  ck_assert(pd_match_matches(&c->type_instance, "anything"));
  ck_assert(pd_match_matches(&c->type_instance, NULL));
  ck_assert(pd_match_matches(NULL, "x"));
}
END_TEST

START_TEST(test_match_bad_regex) {
  const char *fields[] = {"Host", "Plugin", "PluginInstance", "Type",
                          "TypeInstance"};
  for (size_t i = 0; i < 5; i++) {
    reset_root();
    opt_s(notify(root, "web"), fields[i], "/web(/");
    PARSE_FAILS(WEB, fields[i], "bad regular expression /web(/");
  }
  reset_root();
  opt_n(notify(root, "web"), "Host", 3);
  PARSE_FAILS(WEB, "Host", "must be a string");
  /* Repetition that regcomp() would expand into gigabytes: counted, and
   * '+' on '+', which it doubles each time. */
  static const char *const too_much[] = {
      "/(a{999}){2,999}/",
      "/^web[5-9]+$_inst++++++++++++++++++/",
      "/((((((((((a)+)+)+)+)+)+)+)+)+)+/",
  };
  for (size_t i = 0; i < sizeof(too_much) / sizeof(too_much[0]); i++) {
    reset_root();
    opt_s(notify(root, "web"), "Host", too_much[i]);
    PARSE_FAILS(WEB, "Host", "repeats too much");
  }
  static const char *const fine[] = {
      "/^web[0-9]{1,3}$/",
      "/^(web|db)[0-9]+[.]dc[0-9]+[.]example[.]com$/",
  };
  for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
    reset_root();
    opt_s(notify(root, "web"), "Host", fine[i]);
    PARSE_OK();
  }
}
END_TEST

START_TEST(test_severity) {
  opt_s(notify(root, "web"), "Severity", "okay");
  PARSE_OK();
  ck_assert_uint_eq(cfg.notifies[0]->severities, PD_SEVERITY_OKAY);

  reset_root();
  oconfig_item_t *n = notify(root, "web");
  opt_s(n, "Severity", "Failure");
  add_s(opt_s(n, "Severity", "FAILURE"), "Warning");
  PARSE_OK();
  ck_assert_uint_eq(cfg.notifies[0]->severities,
                    PD_SEVERITY_FAILURE | PD_SEVERITY_WARNING);

  reset_root();
  add_s(opt_s(notify(root, "web"), "Severity", "FAILURE"), "CRITICAL");
  PARSE_FAILS(WEB, "Severity", "(got the string \"CRITICAL\")");
  reset_root();
  opt_n(notify(root, "web"), "Severity", 1);
  PARSE_FAILS(WEB, "Severity", "\"FAILURE\", \"WARNING\", \"OKAY\"");
  reset_root();
  child(notify(root, "web"), "Severity");
  PARSE_FAILS(WEB, "Severity", "(got no value)");
}
END_TEST

START_TEST(test_routing_key) {
  const char *bad[] = {
      "R0123456789abcdef0123456789abcd",   /* 31 */
      "R0123456789abcdef0123456789abcdef", /* 33 */
      "R0123456789abcdef0123456789abc-e",  /* not alphanumeric */
      "",
  };
  for (size_t i = 0; i < 4; i++) {
    reset_root();
    opt_s(opt_s(root, "Notify", "web"), "RoutingKey", bad[i]);
    PARSE_FAILS(WEB, "RoutingKey", "the routing key must be");
    ck_assert(i == 3 || !stub_log_contains(-1, bad[i]));
  }
  reset_root();
  opt_n(opt_s(root, "Notify", "web"), "RoutingKey", 42);
  PARSE_FAILS(WEB, "RoutingKey", "must be a string");
}
END_TEST

START_TEST(test_notify_target_rules) {
  account(root, "acme");
  oconfig_item_t *n = notify(root, "web");
  opt_s(n, "Service", "PSERVICE");
  opt_s(n, "Account", "acme");
  PARSE_FAILS(WEB, "Service", "RoutingKey and Service are mutually exclusive");

  reset_root();
  opt_s(root, "Notify", "web");
  PARSE_FAILS(WEB, "RoutingKey", "set RoutingKey");

  reset_root();
  opt_s(opt_s(root, "Notify", "web"), "Service", "PSERVICE");
  PARSE_FAILS(WEB, "Account", "Service needs Account");

  reset_root();
  n = notify(root, "web");
  opt_s(n, "Account", "nope");
  PARSE_FAILS(WEB, "Account", "no <Account \"nope\"> is defined");

  reset_root();
  opt_s(opt_s(root, "Notify", "web"), "Service", "PSERVICE\r\n");
  PARSE_FAILS(WEB, "Service", "carriage return or line feed");
}
END_TEST

START_TEST(test_notify_service_with_account_later_in_block) {
  oconfig_item_t *n = opt_s(root, "Notify", "rest");
  opt_s(n, "Service", "PSERVICE");
  opt_s(n, "Account", "acme");
  account(root, "acme");
  PARSE_OK();
  ck_assert_str_eq(cfg.notifies[0]->service, "PSERVICE");
  ck_assert_ptr_null(cfg.notifies[0]->routing_key);
  ck_assert_str_eq(cfg.notifies[0]->account, "acme");
  ck_assert_int_eq(pd_config_validate(&cfg), 0);
}
END_TEST

START_TEST(test_notify_dedup_key) {
  opt_s(notify(root, "web"), "DedupKey", "%{host}-%{hots}");
  PARSE_FAILS(WEB, "DedupKey", "%{hots}");
  reset_root();
  opt_s(notify(root, "web"), "DedupKey", "%{host}-%{type");
  PARSE_FAILS(WEB, "DedupKey", "unterminated");
  reset_root();
  opt_s(notify(root, "web"), "DedupKey", "%{meta:}");
  PARSE_FAILS(WEB, "DedupKey", NULL);
  reset_root();
  opt_s(notify(root, "web"), "DedupKey", "%{host}\r\n");
  PARSE_FAILS(WEB, "DedupKey", "carriage return or line feed");
  reset_root();
  opt_s(notify(root, "web"), "DedupKey", "");
  PARSE_FAILS(WEB, "DedupKey", "must not be empty");
  reset_root();
  opt_s(notify(root, "web"), "DedupKey", "static-key 100%");
  PARSE_OK();
  ck_assert_str_eq(cfg.notifies[0]->dedup_key, "static-key 100%");
}
END_TEST

START_TEST(test_notify_note_interval_and_resolve) {
  opt_n(notify(root, "web"), "NoteInterval", -1);
  PARSE_FAILS(WEB, "NoteInterval", "0 or more");
  reset_root();
  opt_s(notify(root, "web"), "ResolveOnOkay", "sometimes");
  PARSE_FAILS(WEB, "ResolveOnOkay", "true or false");
  reset_root();
  opt_n(notify(root, "web"), "NoteInterval", 90);
  PARSE_OK();
  ck_assert_double_eq(cfg.notifies[0]->note_interval_s, 90);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Block names, duplicates, several <Plugin> blocks                          */

START_TEST(test_block_names) {
  oconfig_item_t *a = child(root, "Account");
  opt_s(a, "Token", TOKEN);
  PARSE_FAILS(PLUGIN, "Account", "needs exactly one name");

  reset_root();
  a = opt_n(root, "Account", 5);
  opt_s(a, "Token", TOKEN);
  PARSE_FAILS(PLUGIN, "Account", "(got the number 5)");

  reset_root();
  add_s(opt_s(root, "Account", "a"), "b");
  PARSE_FAILS(PLUGIN, "Account", "(got 2 values)");

  reset_root();
  account(root, "");
  PARSE_FAILS(PLUGIN, "Account", "must not be empty");

  reset_root();
  account(root, "a/b");
  PARSE_FAILS(PLUGIN, "Account", "must not contain '/'");

  reset_root();
  notify(root, "caf\xe9");
  PARSE_FAILS(PLUGIN, "Notify", "is not valid UTF-8");

  reset_root();
  account(root, "caf\xc3\xa9"); /* UTF-8 is a name like any other */
  PARSE_OK();

  reset_root();
  account(root, "notify-web");
  PARSE_FAILS(PLUGIN, "Account", "must not start with \"notify-\"");

  reset_root();
  child(root, "Notify");
  PARSE_FAILS(PLUGIN, "Notify", "needs exactly one name");

  reset_root();
  char longname[130];
  memset(longname, 'n', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  notify(root, longname);
  PARSE_FAILS(PLUGIN, "Notify", "too long");
}
END_TEST

START_TEST(test_duplicate_names) {
  account(root, "acme");
  account(root, "acme");
  PARSE_FAILS(PLUGIN, "Account", "duplicate name \"acme\"");

  reset_root();
  notify(root, "web");
  notify(root, "web");
  PARSE_FAILS(PLUGIN, "Notify", "duplicate name \"web\"");

  /* Across <Plugin> blocks too. */
  reset_root();
  account(root, "acme");
  notify(root, "web");
  PARSE_OK();
  tree_free(root);
  root = plugin_block();
  account(root, "acme");
  PARSE_FAILS(PLUGIN, "Account", "duplicate name \"acme\"");
  tree_free(root);
  root = plugin_block();
  notify(root, "web");
  PARSE_FAILS(PLUGIN, "Notify", "duplicate name \"web\"");
  ck_assert_uint_eq(cfg.accounts_num, 1);
  ck_assert_uint_eq(cfg.notifies_num, 1);
}
END_TEST

START_TEST(test_plugin_blocks_accumulate) {
  opt_s(root, "SpoolDir", "/spool/one");
  account(root, "acme");
  PARSE_OK();

  /* Second block: another account and a Notify using the first one. */
  tree_free(root);
  root = plugin_block();
  account(root, "globex");
  oconfig_item_t *n = opt_s(root, "Notify", "rest");
  opt_s(n, "Service", "PSERVICE");
  opt_s(n, "Account", "acme");
  opt_n(root, "MaxEventAge", 60);
  PARSE_OK();
  ck_assert_uint_eq(cfg.accounts_num, 2);
  ck_assert_str_eq(cfg.accounts[0]->name, "acme");
  ck_assert_str_eq(cfg.accounts[1]->name, "globex");
  ck_assert_uint_eq(cfg.notifies_num, 1);
  ck_assert_str_eq(cfg.spool_dir, "/spool/one");
  ck_assert_double_eq(cfg.max_event_age_s, 60);

  /* A failing third block leaves nothing behind, top-level options included. */
  tree_free(root);
  root = plugin_block();
  opt_s(root, "SpoolDir", "/spool/three");
  opt_n(root, "MaxSpoolEvents", 5);
  account(root, "initech");
  notify(root, "web");
  opt_n(account(root, "umbrella"), "Interval", -1);
  PARSE_FAILS("<Account \"umbrella\">", "Interval", NULL);
  ck_assert_uint_eq(cfg.accounts_num, 2);
  ck_assert_uint_eq(cfg.notifies_num, 1);
  ck_assert_ptr_null(pd_config_find_account(&cfg, "initech"));
  ck_assert_str_eq(cfg.spool_dir, "/spool/one");
  ck_assert_int_eq(cfg.max_spool_events, 100000);
  ck_assert_int_eq(pd_config_validate(&cfg), 0);

  /* A Notify naming an account defined in a later block is refused. */
  tree_free(root);
  root = plugin_block();
  opt_s(notify(root, "late"), "Account", "hooli");
  PARSE_FAILS("<Notify \"late\">", "Account", "no <Account \"hooli\">");
}
END_TEST

START_TEST(test_validate) {
  account(root, "acme");
  oconfig_item_t *n = opt_s(root, "Notify", "rest");
  opt_s(n, "Service", "PSERVICE");
  opt_s(n, "Account", "acme");
  PARSE_OK();
  stub_log_reset();
  ck_assert_int_eq(pd_config_validate(&cfg), 0);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 0);

  /* Break it behind the parser's back: the safety net must notice. */
  char *saved = cfg.notifies[0]->account;
  cfg.notifies[0]->account = strdup("ghost");
  ck_assert_int_eq(pd_config_validate(&cfg), -1);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 1);
  ck_assert(
      stub_log_contains(LOG_ERR, "<Notify \"rest\">: option \"Account\""));
  free(cfg.notifies[0]->account);
  cfg.notifies[0]->account = NULL;
  stub_log_reset();
  ck_assert_int_eq(pd_config_validate(&cfg), -1);
  ck_assert(stub_log_contains(LOG_ERR, "Service needs Account"));
  cfg.notifies[0]->account = saved;
}
END_TEST

START_TEST(test_free_reinitialises) {
  account(root, "acme");
  notify(root, "web");
  opt_s(root, "SpoolDir", "/x");
  PARSE_OK();
  pd_config_free(&cfg);
  ck_assert_uint_eq(cfg.accounts_num, 0);
  ck_assert_uint_eq(cfg.notifies_num, 0);
  ck_assert_ptr_null(cfg.accounts);
  ck_assert_ptr_null(cfg.spool_dir);
  ck_assert_double_eq(cfg.max_event_age_s, 86400);
  /* Usable again. */
  PARSE_OK();
  ck_assert_uint_eq(cfg.accounts_num, 1);
}
END_TEST

/* FullSyncInterval: seconds, 0 or more (0: a full re-read every cycle). */
START_TEST(test_account_full_sync_interval) {
  oconfig_item_t *a = account(root, "acme");
  opt_n(a, "FullSyncInterval", 0);
  PARSE_OK();
  ck_assert_double_eq(cfg.accounts[0]->full_sync_interval_s, 0);

  reset_root();
  opt_n(account(root, "acme"), "fullsyncinterval", 120.5);
  PARSE_OK();
  ck_assert_double_eq(cfg.accounts[0]->full_sync_interval_s, 120.5);

  reset_root();
  opt_n(account(root, "acme"), "FullSyncInterval", -1);
  PARSE_FAILS(ACME, "FullSyncInterval",
              "must be a number of seconds, 0 or more (0: a full re-read "
              "every cycle) (got -1).");

  reset_root();
  opt_s(account(root, "acme"), "FullSyncInterval", "hourly");
  PARSE_FAILS(ACME, "FullSyncInterval", "(got the string \"hourly\")");
}
END_TEST

/* The template syntax is the notify side's: pd_config checks DedupKey with
 * whatever check the layer above handed in, and only with it. */
static int refuse_all(const char *text, char *err, size_t err_size) {
  snprintf(err, err_size, "refused \"%s\" from above", text);
  return -1;
}

START_TEST(test_notify_dedup_key_check_from_above) {
  pd_config_set_template_check(refuse_all);
  opt_s(notify(root, "web"), "DedupKey", "%{host}");
  PARSE_FAILS(WEB, "DedupKey", "refused \"%{host}\" from above.");

  /* The default template is not checked: nothing was written. */
  reset_root();
  notify(root, "web");
  PARSE_OK();

  pd_config_set_template_check(NULL);
  reset_root();
  opt_s(notify(root, "web"), "DedupKey", "%{bogus}");
  PARSE_OK();
  ck_assert_str_eq(cfg.notifies[0]->dedup_key, "%{bogus}");
  pd_config_set_template_check(pd_template_validate);
}
END_TEST

static Suite *config_suite(void) {
  Suite *s = suite_create("pd_config");
  TCase *tc = tcase_create("config");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_empty_block_defaults);
  tcase_add_test(tc, test_account_defaults);
  tcase_add_test(tc, test_unknown_option_lists_the_table);
  tcase_add_test(tc, test_account_full_sync_interval);
  tcase_add_test(tc, test_notify_dedup_key_check_from_above);
  tcase_add_test(tc, test_notify_defaults);
  tcase_add_test(tc, test_plugin_options);
  tcase_add_test(tc, test_plugin_option_names_case_insensitive);
  tcase_add_test(tc, test_plugin_unknown_option);
  tcase_add_test(tc, test_plugin_bad_values);
  tcase_add_test(tc, test_account_all_options);
  tcase_add_test(tc, test_account_unknown_option);
  tcase_add_test(tc, test_account_interval_message);
  tcase_add_test(tc, test_account_intervals);
  tcase_add_test(tc, test_account_collect);
  tcase_add_test(tc, test_account_instance_by);
  tcase_add_test(tc, test_account_booleans);
  tcase_add_test(tc, test_account_max_requests);
  tcase_add_test(tc, test_transport_timeout);
  tcase_add_test(tc, test_transport_verify_warnings);
  tcase_add_test(tc, test_transport_cacert);
  tcase_add_test(tc, test_transport_proxy);
  tcase_add_test(tc, test_account_from);
  tcase_add_test(tc, test_account_host);
  tcase_add_test(tc, test_account_team);
  tcase_add_test(tc, test_option_given_as_block);
  tcase_add_test(tc, test_token_and_tokenfile_contradict);
  tcase_add_test(tc, test_token_missing);
  tcase_add_test(tc, test_token_from_environment);
  tcase_add_test(tc, test_token_inline_invalid);
  tcase_add_test(tc, test_tokenfile_private);
  tcase_add_test(tc, test_tokenfile_permissions_warning);
  tcase_add_test(tc, test_tokenfile_unusable);
  tcase_add_test(tc, test_url_accepted);
  tcase_add_test(tc, test_url_refused);
  tcase_add_test(tc, test_url_is_loopback);
  tcase_add_test(tc, test_notify_all_options);
  tcase_add_test(tc, test_notify_unknown_option);
  tcase_add_test(tc, test_match_semantics);
  tcase_add_test(tc, test_match_bad_regex);
  tcase_add_test(tc, test_severity);
  tcase_add_test(tc, test_routing_key);
  tcase_add_test(tc, test_notify_target_rules);
  tcase_add_test(tc, test_notify_service_with_account_later_in_block);
  tcase_add_test(tc, test_notify_dedup_key);
  tcase_add_test(tc, test_notify_note_interval_and_resolve);
  tcase_add_test(tc, test_block_names);
  tcase_add_test(tc, test_duplicate_names);
  tcase_add_test(tc, test_plugin_blocks_accumulate);
  tcase_add_test(tc, test_validate);
  tcase_add_test(tc, test_free_reinitialises);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(config_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
