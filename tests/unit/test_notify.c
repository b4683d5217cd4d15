/* SPDX-License-Identifier: MIT */
/*
 * test_notify.c - what a Notify block decides for each notification, and
 * what it remembers, on a real spool in a mkdtemp directory: start-up
 * OKAYs, repeats, notes every NoteInterval (time injected), WARNING ->
 * FAILURE, the pagerduty_* overrides, the self-notification rule, the
 * state file across close/reopen and across a crash (kill -9 of a child
 * process), and the reconciliation decisions and schedule.
 */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon_stubs.h"
#include "pd_notify.h"
#include "pd_reconcile.h"

#define BLOCK "paging"
#define ROUTING_KEY "R0123456789abcdef0123456789abcdef"
#define SECOND TIME_T_TO_CDTIME_T(1)

static char root[64];
static char block_dir[256];
static pd_notify_config_t cfg;
static pd_spool_t *spool;
static pd_notify_t *nt;

/* ------------------------------------------------------------ fixtures */

static void setup(void) {
  stub_log_reset();
  snprintf(root, sizeof(root), "/tmp/test_notify.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(root));
  snprintf(block_dir, sizeof(block_dir), "%s/" BLOCK, root);
  memset(&cfg, 0, sizeof(cfg));
  cfg.name = BLOCK;
  cfg.severities = PD_SEVERITY_ALL;
  cfg.routing_key = ROUTING_KEY;
  cfg.resolve_on_okay = true;
  cfg.note_interval_s = 600;
  spool = NULL;
  nt = NULL;
}

static void teardown(void) {
  pd_notify_close(nt);
  pd_spool_close(spool);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
  ck_assert_int_eq(system(cmd), 0);
}

static void open_block(bool has_account) {
  spool = pd_spool_open(root, BLOCK, 1000);
  ck_assert_ptr_nonnull(spool);
  nt = pd_notify_open(&cfg, spool, has_account);
  ck_assert_ptr_nonnull(nt);
}

static void close_block(void) {
  pd_notify_close(nt);
  pd_spool_close(spool);
  nt = NULL;
  spool = NULL;
}

/* ------------------------------------------------------------ helpers */

static notification_t notif(int severity, const char *host, const char *plugin,
                            const char *message) {
  notification_t n;
  memset(&n, 0, sizeof(n));
  n.severity = severity;
  n.time = cdtime();
  snprintf(n.host, sizeof(n.host), "%s", host);
  snprintf(n.plugin, sizeof(n.plugin), "%s", plugin);
  snprintf(n.plugin_instance, sizeof(n.plugin_instance), "root");
  snprintf(n.type, sizeof(n.type), "percent_bytes");
  snprintf(n.type_instance, sizeof(n.type_instance), "used");
  snprintf(n.message, sizeof(n.message), "%s", message);
  return n;
}

static notification_t df(int severity, const char *message) {
  return notif(severity, "web01", "df", message);
}

#define DF_KEY "web01/df-root/percent_bytes-used"

static notification_meta_t meta_string(const char *name, const char *value) {
  notification_meta_t m = {.type = NM_TYPE_STRING};
  snprintf(m.name, sizeof(m.name), "%s", name);
  m.nm_value.nm_string = value;
  return m;
}

static void attach(notification_t *n, notification_meta_t *m, size_t num) {
  for (size_t i = 0; i < num; i++)
    m[i].next = i + 1 < num ? &m[i + 1] : NULL;
  n->meta = num > 0 ? m : NULL;
}

/* The events in the spool, oldest first (at most max). */
static size_t queued(pd_event_t *out, size_t max) {
  pd_spool_entry_t *entries;
  ssize_t num = pd_spool_list(spool, &entries);
  ck_assert_int_ge(num, 0);
  size_t n = 0;
  for (ssize_t i = 0; i < num && n < max; i++) {
    ck_assert_int_eq(pd_spool_load(spool, entries[i].seq, &out[n]),
                     PD_SPOOL_OK);
    n++;
  }
  free(entries);
  return n;
}

static size_t queued_count(void) {
  pd_spool_stats_t st;
  pd_spool_stats(spool, &st);
  return st.pending;
}

/* The newest queued event (caller frees). */
static void last_event(pd_event_t *ev) {
  pd_event_t all[64];
  size_t n = queued(all, 64);
  ck_assert_uint_gt(n, 0);
  *ev = all[n - 1];
  for (size_t i = 0; i + 1 < n; i++)
    pd_event_free(&all[i]);
}

static void free_events(pd_event_t *ev, size_t n) {
  for (size_t i = 0; i < n; i++)
    pd_event_free(&ev[i]);
}

/* ------------------------------------------------------------- tests */

START_TEST(test_startup_okay_sends_nothing) {
  open_block(false);
  notification_t n = df(NOTIF_OKAY, "Host web01: value is back to normal");
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_NOTHING);
  ck_assert_uint_eq(queued_count(), 0);
  ck_assert_uint_eq(pd_notify_open_count(nt), 0);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 0);
  ck_assert_uint_eq(stub_log_count(LOG_WARNING), 0);
}
END_TEST

START_TEST(test_failure_then_okay) {
  open_block(false);
  cdtime_t now = cdtime();
  notification_t n = df(NOTIF_FAILURE, "disk full");
  ck_assert_int_eq(pd_notify_handle(nt, &n, now), PD_NOTIFY_QUEUED);
  pd_open_alert_t a;
  ck_assert_int_eq(pd_notify_lookup(nt, DF_KEY, &a), 0);
  ck_assert_str_eq(a.identifier, "web01/df-root/percent_bytes-used");
  ck_assert_int_eq(a.severity, NOTIF_FAILURE);
  ck_assert_uint_eq(a.opened, now);

  n = df(NOTIF_OKAY, "back to normal");
  ck_assert_int_eq(pd_notify_handle(nt, &n, now + SECOND), PD_NOTIFY_QUEUED);
  ck_assert_int_eq(pd_notify_lookup(nt, DF_KEY, NULL), -1);
  /* A second OKAY finds nothing open. */
  ck_assert_int_eq(pd_notify_handle(nt, &n, now + 2 * SECOND),
                   PD_NOTIFY_NOTHING);

  pd_event_t ev[4];
  ck_assert_uint_eq(queued(ev, 4), 2);
  ck_assert_int_eq(ev[0].action, PD_ACTION_TRIGGER);
  ck_assert_int_eq(ev[0].severity, NOTIF_FAILURE);
  ck_assert_str_eq(ev[0].dedup_key, DF_KEY);
  ck_assert_str_eq(ev[0].summary, "disk full");
  ck_assert_int_eq(ev[1].action, PD_ACTION_RESOLVE);
  ck_assert_str_eq(ev[1].dedup_key, DF_KEY);
  free_events(ev, 2);
}
END_TEST

START_TEST(test_repeat_without_account_sends_nothing) {
  open_block(false);
  cdtime_t now = cdtime();
  notification_t n = df(NOTIF_FAILURE, "disk full");
  ck_assert_int_eq(pd_notify_handle(nt, &n, now), PD_NOTIFY_QUEUED);
  /* Even long after: the Events API cannot note. */
  for (int i = 1; i <= 5; i++)
    ck_assert_int_eq(pd_notify_handle(nt, &n, now + i * 700 * SECOND),
                     PD_NOTIFY_NOTHING);
  ck_assert_uint_eq(queued_count(), 1);
}
END_TEST

START_TEST(test_repeat_notes_every_note_interval) {
  open_block(true);
  cdtime_t t0 = cdtime();
  notification_t n = df(NOTIF_FAILURE, "disk full");
  ck_assert_int_eq(pd_notify_handle(nt, &n, t0), PD_NOTIFY_QUEUED);
  ck_assert_int_eq(pd_notify_handle(nt, &n, t0 + 10 * SECOND),
                   PD_NOTIFY_NOTHING);
  ck_assert_int_eq(pd_notify_handle(nt, &n, t0 + 599 * SECOND),
                   PD_NOTIFY_NOTHING);
  snprintf(n.message, sizeof(n.message), "disk still full");
  ck_assert_int_eq(pd_notify_handle(nt, &n, t0 + 600 * SECOND),
                   PD_NOTIFY_QUEUED);
  ck_assert_uint_eq(queued_count(), 2);

  pd_event_t ev;
  last_event(&ev);
  ck_assert_int_eq(ev.action, PD_ACTION_NOTE);
  ck_assert_str_eq(ev.note, "still FAILURE: disk still full");
  ck_assert_str_eq(ev.dedup_key, DF_KEY);
  pd_event_free(&ev);

  /* The next note is due NoteInterval after the last one. */
  ck_assert_int_eq(pd_notify_handle(nt, &n, t0 + 1100 * SECOND),
                   PD_NOTIFY_NOTHING);
  ck_assert_int_eq(pd_notify_handle(nt, &n, t0 + 1200 * SECOND),
                   PD_NOTIFY_QUEUED);
  ck_assert_uint_eq(queued_count(), 3);

  /* NoteInterval 0: no notes at all. */
  cfg.note_interval_s = 0;
  ck_assert_int_eq(pd_notify_handle(nt, &n, t0 + 9000 * SECOND),
                   PD_NOTIFY_NOTHING);
}
END_TEST

/* The wall clock steps back two hours while an alert is open: the next
 * note comes NoteInterval after the step, not two hours later. */
START_TEST(test_note_interval_after_clock_step_back) {
  open_block(true);
  cdtime_t t0 = cdtime();
  notification_t n = df(NOTIF_FAILURE, "disk full");
  ck_assert_int_eq(pd_notify_handle(nt, &n, t0), PD_NOTIFY_QUEUED);
  cdtime_t back = t0 - 7200 * SECOND;
  ck_assert_int_eq(pd_notify_handle(nt, &n, back), PD_NOTIFY_NOTHING);
  ck_assert_int_eq(pd_notify_handle(nt, &n, back + 599 * SECOND),
                   PD_NOTIFY_NOTHING);
  ck_assert_int_eq(pd_notify_handle(nt, &n, back + 600 * SECOND),
                   PD_NOTIFY_QUEUED);
  ck_assert_uint_eq(queued_count(), 2);
}
END_TEST

START_TEST(test_note_carries_known_incident) {
  open_block(true);
  cdtime_t t0 = cdtime();
  notification_t n = df(NOTIF_FAILURE, "disk full");
  ck_assert_int_eq(pd_notify_handle(nt, &n, t0), PD_NOTIFY_QUEUED);
  pd_notify_set_incident(nt, DF_KEY, 0, "PINC123");
  ck_assert_int_eq(pd_notify_handle(nt, &n, t0 + 601 * SECOND),
                   PD_NOTIFY_QUEUED);
  pd_event_t ev;
  last_event(&ev);
  ck_assert_str_eq(ev.incident_id, "PINC123");
  pd_event_free(&ev);
  /* And so does the resolve. */
  n = df(NOTIF_OKAY, "ok");
  ck_assert_int_eq(pd_notify_handle(nt, &n, t0 + 700 * SECOND),
                   PD_NOTIFY_QUEUED);
  last_event(&ev);
  ck_assert_int_eq(ev.action, PD_ACTION_RESOLVE);
  ck_assert_str_eq(ev.incident_id, "PINC123");
  pd_event_free(&ev);
}
END_TEST

START_TEST(test_warning_to_failure_raises) {
  open_block(false);
  cdtime_t t0 = cdtime();
  notification_t w = df(NOTIF_WARNING, "disk filling");
  notification_t f = df(NOTIF_FAILURE, "disk full");
  ck_assert_int_eq(pd_notify_handle(nt, &w, t0), PD_NOTIFY_QUEUED);
  ck_assert_int_eq(pd_notify_handle(nt, &w, t0 + SECOND), PD_NOTIFY_NOTHING);
  ck_assert_int_eq(pd_notify_handle(nt, &f, t0 + 2 * SECOND), PD_NOTIFY_QUEUED);
  /* Back to WARNING and up again: the incident is already at FAILURE. */
  ck_assert_int_eq(pd_notify_handle(nt, &w, t0 + 3 * SECOND),
                   PD_NOTIFY_NOTHING);
  ck_assert_int_eq(pd_notify_handle(nt, &f, t0 + 4 * SECOND),
                   PD_NOTIFY_NOTHING);

  pd_event_t ev[4];
  ck_assert_uint_eq(queued(ev, 4), 2);
  ck_assert_int_eq(ev[0].action, PD_ACTION_TRIGGER);
  ck_assert_str_eq(pd_event_severity(&ev[0]), "warning");
  ck_assert_int_eq(ev[0].step, PD_STEP_NEW);
  ck_assert_int_eq(ev[1].action, PD_ACTION_TRIGGER);
  ck_assert_str_eq(pd_event_severity(&ev[1]), "critical");
  ck_assert_int_eq(ev[1].step, PD_STEP_RAISE);
  free_events(ev, 2);
  pd_open_alert_t a;
  ck_assert_int_eq(pd_notify_lookup(nt, DF_KEY, &a), 0);
  ck_assert_int_eq(a.severity, NOTIF_FAILURE);
  ck_assert_uint_eq(a.opened, t0);
}
END_TEST

START_TEST(test_resolve_on_okay_false) {
  cfg.resolve_on_okay = false;
  open_block(false);
  notification_t n = df(NOTIF_FAILURE, "disk full");
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_QUEUED);
  n = df(NOTIF_OKAY, "ok");
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_NOTHING);
  ck_assert_uint_eq(queued_count(), 1);
}
END_TEST

START_TEST(test_override_acknowledge_and_resolve) {
  open_block(false);
  /* An operator's PUTNOTIF acts even when nothing of ours is open. */
  notification_t n = df(NOTIF_OKAY, "looking into it");
  notification_meta_t m[1] = {meta_string("pagerduty_action", "acknowledge")};
  attach(&n, m, 1);
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_QUEUED);
  pd_event_t ev;
  last_event(&ev);
  ck_assert_int_eq(ev.action, PD_ACTION_ACKNOWLEDGE);
  ck_assert_str_eq(ev.dedup_key, DF_KEY);
  pd_event_free(&ev);

  m[0] = meta_string("pagerduty_action", "resolve");
  attach(&n, m, 1);
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_QUEUED);
  last_event(&ev);
  ck_assert_int_eq(ev.action, PD_ACTION_RESOLVE);
  pd_event_free(&ev);

  /* A forced trigger on a FAILURE that is already open goes out too. */
  n = df(NOTIF_FAILURE, "disk full");
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_QUEUED);
  m[0] = meta_string("pagerduty_action", "trigger");
  attach(&n, m, 1);
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_QUEUED);
  ck_assert_uint_eq(queued_count(), 4);

  /* Acknowledging leaves it open; an unknown action is refused. */
  m[0] = meta_string("pagerduty_action", "acknowledge");
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_QUEUED);
  ck_assert_int_eq(pd_notify_lookup(nt, DF_KEY, NULL), 0);
  m[0] = meta_string("pagerduty_action", "snooze");
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_FAILED);
  ck_assert(stub_log_contains(LOG_ERR, "unknown pagerduty_action"));
  ck_assert_uint_eq(queued_count(), 5);
}
END_TEST

START_TEST(test_override_note_needs_account) {
  open_block(false);
  notification_t n = df(NOTIF_OKAY, "");
  notification_meta_t m[2] = {meta_string("pagerduty_action", "note"),
                              meta_string("pagerduty_note", "checked: ok")};
  attach(&n, m, 2);
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_FAILED);
  ck_assert(stub_log_contains(LOG_ERR, "needs an Account"));
  ck_assert_uint_eq(queued_count(), 0);
}
END_TEST

START_TEST(test_override_note_incident_and_key) {
  open_block(true);
  notification_t n = df(NOTIF_OKAY, "");
  notification_meta_t m[4] = {
      meta_string("pagerduty_action", "note"),
      meta_string("pagerduty_note", "checked by ops: replacing the disk"),
      meta_string("pagerduty_incident", "1234"),
      meta_string("pagerduty_dedup_key", "custom/key"),
  };
  attach(&n, m, 4);
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_QUEUED);
  pd_event_t ev;
  last_event(&ev);
  ck_assert_int_eq(ev.action, PD_ACTION_NOTE);
  ck_assert_str_eq(ev.note, "checked by ops: replacing the disk");
  ck_assert_str_eq(ev.incident, "1234");
  ck_assert_str_eq(ev.dedup_key, "custom/key");
  /* Overrides are not custom details. */
  for (size_t i = 0; i < ev.details_num; i++)
    ck_assert(strncmp(ev.details[i].name, "pagerduty_", 10) != 0);
  pd_event_free(&ev);
}
END_TEST

START_TEST(test_override_incident_without_account) {
  open_block(false);
  notification_t n = df(NOTIF_OKAY, "");
  notification_meta_t m[2] = {meta_string("pagerduty_action", "resolve"),
                              meta_string("pagerduty_incident", "PABC123")};
  attach(&n, m, 2);
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_QUEUED);
  ck_assert(stub_log_contains(LOG_WARNING, "needs an Account"));
  pd_event_t ev;
  last_event(&ev);
  ck_assert_int_eq(ev.action, PD_ACTION_RESOLVE);
  ck_assert_ptr_null(ev.incident); /* acts by dedup key */
  pd_event_free(&ev);
}
END_TEST

START_TEST(test_resolve_naming_incident_closes_alert) {
  open_block(true);
  notification_t n = df(NOTIF_FAILURE, "disk full");
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_QUEUED);
  pd_notify_set_incident(nt, DF_KEY, 0, "PABC123");
  notification_t r = notif(NOTIF_OKAY, "ops", "manual", "fixed by hand");
  notification_meta_t m[2] = {meta_string("pagerduty_action", "resolve"),
                              meta_string("pagerduty_incident", "PABC123")};
  attach(&r, m, 2);
  ck_assert_int_eq(pd_notify_handle(nt, &r, cdtime()), PD_NOTIFY_QUEUED);
  ck_assert_int_eq(pd_notify_lookup(nt, DF_KEY, NULL), -1);
}
END_TEST

START_TEST(test_own_notifications_ignored) {
  open_block(true);
  notification_t n = notif(NOTIF_FAILURE, "pagerduty", "pagerduty",
                           "service Checkout API is critical");
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_IGNORED);
  /* A regex matching "pagerduty" is not enough... */
  close_block();
  cfg.plugin.text = "/^pager/";
  cfg.plugin.is_regex = true;
  ck_assert_int_eq(regcomp(&cfg.plugin.regex, "^pager", REG_EXTENDED), 0);
  open_block(true);
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_IGNORED);
  regfree(&cfg.plugin.regex);
  /* ...only naming the plugin literally. */
  close_block();
  cfg.plugin.text = "pagerduty";
  cfg.plugin.is_regex = false;
  open_block(true);
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_QUEUED);
  ck_assert_uint_eq(queued_count(), 1);
}
END_TEST

START_TEST(test_match_fields_and_severities) {
  cfg.host.text = "db01";
  cfg.severities = PD_SEVERITY_FAILURE | PD_SEVERITY_OKAY;
  open_block(false);
  notification_t n = df(NOTIF_FAILURE, "disk full");
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_IGNORED);
  n = notif(NOTIF_WARNING, "db01", "df", "disk filling");
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_IGNORED);
  n = notif(NOTIF_FAILURE, "db01", "df", "disk full");
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_QUEUED);
}
END_TEST

START_TEST(test_dedup_key_template) {
  cfg.dedup_key = "%{host}/%{type}";
  open_block(false);
  notification_t n = df(NOTIF_FAILURE, "disk full");
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_QUEUED);
  ck_assert_int_eq(pd_notify_lookup(nt, "web01/percent_bytes", NULL), 0);
  /* Another type instance, same key: a repeat. */
  snprintf(n.type_instance, sizeof(n.type_instance), "free");
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_NOTHING);
}
END_TEST

START_TEST(test_state_persists_across_reopen) {
  open_block(true);
  cdtime_t t0 = cdtime();
  notification_t n = df(NOTIF_WARNING, "disk filling");
  ck_assert_int_eq(pd_notify_handle(nt, &n, t0), PD_NOTIFY_QUEUED);
  pd_notify_set_incident(nt, DF_KEY, 0, "PINC999");
  notification_t other = notif(NOTIF_FAILURE, "web02", "load", "load high");
  ck_assert_int_eq(pd_notify_handle(nt, &other, t0), PD_NOTIFY_QUEUED);
  /* Deliver everything (as a sender would). */
  pd_spool_entry_t *entries;
  ssize_t num = pd_spool_list(spool, &entries);
  for (ssize_t i = 0; i < num; i++)
    ck_assert_int_eq(pd_spool_remove(spool, entries[i].seq), PD_SPOOL_OK);
  free(entries);
  ck_assert_int_eq(pd_notify_save(nt), 0);
  close_block();

  char path[512];
  snprintf(path, sizeof(path), "%s/.state.json", block_dir);
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_int_eq(st.st_mode & 0777, 0600);

  stub_log_reset();
  open_block(true);
  ck_assert_uint_eq(pd_notify_open_count(nt), 2);
  pd_open_alert_t a;
  ck_assert_int_eq(pd_notify_lookup(nt, DF_KEY, &a), 0);
  ck_assert_str_eq(a.incident_id, "PINC999");
  ck_assert_int_eq(a.severity, NOTIF_WARNING);
  ck_assert_str_eq(a.identifier, "web01/df-root/percent_bytes-used");
  /* Times survive to the microsecond or so. */
  ck_assert(a.opened > t0 - SECOND / 1000 && a.opened < t0 + SECOND / 1000);
  /* Still open: a repeat sends nothing, an OKAY resolves. */
  ck_assert_int_eq(pd_notify_handle(nt, &n, t0 + SECOND), PD_NOTIFY_NOTHING);
  n = df(NOTIF_OKAY, "ok");
  ck_assert_int_eq(pd_notify_handle(nt, &n, t0 + 2 * SECOND), PD_NOTIFY_QUEUED);
  ck_assert_uint_eq(stub_log_count(LOG_ERR), 0);
}
END_TEST

/* A child opens the block, decides, and dies with SIGKILL before any
 * state is saved: the parent finds the decision in the spool. */
START_TEST(test_state_survives_kill) {
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    pd_spool_t *sp = pd_spool_open(root, BLOCK, 1000);
    pd_notify_t *b = sp != NULL ? pd_notify_open(&cfg, sp, false) : NULL;
    notification_t n = df(NOTIF_FAILURE, "disk full");
    notification_t o = notif(NOTIF_FAILURE, "web02", "load", "load high");
    notification_t ok = notif(NOTIF_OKAY, "web02", "load", "load ok");
    if (b != NULL && pd_notify_handle(b, &n, cdtime()) == PD_NOTIFY_QUEUED &&
        pd_notify_handle(b, &o, cdtime()) == PD_NOTIFY_QUEUED &&
        pd_notify_handle(b, &ok, cdtime()) == PD_NOTIFY_QUEUED)
      kill(getpid(), SIGKILL);
    _exit(3);
  }
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  open_block(false);
  ck_assert_uint_eq(queued_count(), 3);
  ck_assert_uint_eq(pd_notify_open_count(nt), 1);
  ck_assert_int_eq(pd_notify_lookup(nt, DF_KEY, NULL), 0);
  notification_t n = df(NOTIF_FAILURE, "disk full");
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_NOTHING);
}
END_TEST

START_TEST(test_corrupt_state_file) {
  ck_assert_int_eq(mkdir(block_dir, 0700), 0);
  char path[512];
  snprintf(path, sizeof(path), "%s/.state.json", block_dir);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs("{\"v\":1,\"alerts\":[{\"key\":42}]}", f);
  fclose(f);
  open_block(false);
  ck_assert(stub_log_contains(LOG_ERR, "state file"));
  ck_assert_uint_eq(pd_notify_open_count(nt), 0);
  /* Moved to failed/ with its reason, not deleted. */
  snprintf(path, sizeof(path), "%s/.state.json", block_dir);
  struct stat st;
  ck_assert_int_ne(stat(path, &st), 0);
  snprintf(path, sizeof(path), "%s/failed/" BLOCK "-state.json", root);
  ck_assert_int_eq(stat(path, &st), 0);
  snprintf(path, sizeof(path), "%s/failed/" BLOCK "-state.json.reason", root);
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert(!stub_log_contains(LOG_WARNING, "unexpected file"));
  notification_t n = df(NOTIF_FAILURE, "disk full");
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_QUEUED);
}
END_TEST

/* A time beyond what cdtime_t spans (found by fuzz_state: the conversion
 * overflowed) makes the file corrupt, like any other bad value. */
START_TEST(test_state_time_out_of_range) {
  ck_assert_int_eq(mkdir(block_dir, 0700), 0);
  char path[512];
  snprintf(path, sizeof(path), "%s/.state.json", block_dir);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs("{\"v\":1,\"alerts\":[{\"key\":\"k\",\"identifier\":\"h/p/t\","
        "\"severity\":\"FAILURE\",\"incident_id\":null,\"opened\":17.0,"
        "\"last_note\":1.7e12}]}",
        f);
  fclose(f);
  open_block(false);
  ck_assert(stub_log_contains(LOG_ERR, "out of bounds"));
  ck_assert_uint_eq(pd_notify_open_count(nt), 0);
}
END_TEST

/* Before the sender removes an event, the state file reflects it. */
START_TEST(test_save_through) {
  open_block(false);
  notification_t n = df(NOTIF_FAILURE, "disk full");
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_QUEUED);
  pd_spool_entry_t e;
  ck_assert_int_eq(pd_spool_next(spool, 0, &e), 0);
  char path[512];
  snprintf(path, sizeof(path), "%s/.state.json", block_dir);
  struct stat st;
  ck_assert_int_ne(stat(path, &st), 0); /* nothing saved yet */
  ck_assert_int_eq(pd_notify_save_through(nt, e.seq), 0);
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_int_eq(pd_spool_remove(spool, e.seq), PD_SPOOL_OK);
  /* A crash now (no close): the file alone says the key is open. */
  pd_notify_t *again = NULL;
  pd_spool_close(spool);
  spool = pd_spool_open(root, BLOCK, 1000);
  ck_assert_ptr_nonnull(spool);
  again = pd_notify_open(&cfg, spool, false);
  ck_assert_int_eq(pd_notify_lookup(again, DF_KEY, NULL), 0);
  pd_notify_close(again);
  /* Saving again through the same event writes nothing new. */
  ck_assert_int_eq(unlink(path), 0);
  ck_assert_int_eq(pd_notify_save_through(nt, e.seq), 0);
  ck_assert_int_ne(stat(path, &st), 0);
}
END_TEST

/* No file of the block holds the routing key. */
START_TEST(test_no_secret_in_files) {
  open_block(true);
  notification_t n = df(NOTIF_FAILURE, "disk full");
  ck_assert_int_eq(pd_notify_handle(nt, &n, cdtime()), PD_NOTIFY_QUEUED);
  ck_assert_int_eq(pd_notify_save(nt), 0);
  close_block();
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "grep -rq '%s' '%s'", ROUTING_KEY, root);
  ck_assert_int_ne(system(cmd), 0);
  snprintf(cmd, sizeof(cmd), "test -s '%s/.state.json'", block_dir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---------------------------------------------------- reconciliation */

START_TEST(test_reconcile_decide) {
  ck_assert_int_eq(pd_reconcile_decide(PD_VALUE_OKAY, PD_REMOTE_UNKNOWN),
                   PD_RECONCILE_RESOLVE);
  ck_assert_int_eq(pd_reconcile_decide(PD_VALUE_OKAY, PD_REMOTE_OPEN),
                   PD_RECONCILE_RESOLVE);
  ck_assert_int_eq(pd_reconcile_decide(PD_VALUE_OKAY, PD_REMOTE_GONE),
                   PD_RECONCILE_FORGET);
  ck_assert_int_eq(pd_reconcile_decide(PD_VALUE_FAILURE, PD_REMOTE_GONE),
                   PD_RECONCILE_FORGET);
  ck_assert_int_eq(pd_reconcile_decide(PD_VALUE_FAILURE, PD_REMOTE_OPEN),
                   PD_RECONCILE_KEEP);
  ck_assert_int_eq(pd_reconcile_decide(PD_VALUE_UNKNOWN, PD_REMOTE_UNKNOWN),
                   PD_RECONCILE_KEEP);
  ck_assert_int_eq(pd_reconcile_decide(PD_VALUE_WARNING, PD_REMOTE_OPEN),
                   PD_RECONCILE_KEEP);
}
END_TEST

START_TEST(test_reconcile_events) {
  pd_open_alert_t a = {.key = DF_KEY,
                       .identifier = "web01/df-root/percent_bytes-used",
                       .severity = NOTIF_FAILURE,
                       .incident_id = "PINC1"};
  pd_event_t ev[2];
  size_t num;
  ck_assert_int_eq(pd_reconcile_events(&a, BLOCK, true, ev, &num), 0);
  ck_assert_uint_eq(num, 2);
  const char *why = "resolved by collectd-pagerduty reconciliation: "
                    "web01/df-root/percent_bytes-used is OKAY now; the "
                    "recovery notification was lost";
  ck_assert_int_eq(ev[0].action, PD_ACTION_NOTE);
  ck_assert_str_eq(ev[0].note, why);
  ck_assert_int_eq(ev[1].action, PD_ACTION_RESOLVE);
  ck_assert_str_eq(ev[1].note, why);
  ck_assert_str_eq(ev[1].dedup_key, DF_KEY);
  ck_assert_str_eq(ev[1].incident_id, "PINC1");
  ck_assert_str_eq(ev[1].source, "web01");
  free_events(ev, num);
  ck_assert_int_eq(pd_reconcile_events(&a, BLOCK, false, ev, &num), 0);
  ck_assert_uint_eq(num, 1);
  ck_assert_int_eq(ev[0].action, PD_ACTION_RESOLVE);
  free_events(ev, num);
}
END_TEST

START_TEST(test_reconcile_schedule) {
  open_block(false);
  cdtime_t t0 = cdtime();
  notification_t a = df(NOTIF_FAILURE, "disk full");
  notification_t b = notif(NOTIF_FAILURE, "web02", "load", "load high");
  ck_assert_int_eq(pd_notify_handle(nt, &a, t0), PD_NOTIFY_QUEUED);
  ck_assert_int_eq(pd_notify_handle(nt, &b, t0 + SECOND), PD_NOTIFY_QUEUED);
  /* a was delivered; b is still queued. */
  pd_spool_entry_t e;
  ck_assert_int_eq(pd_spool_next(spool, 0, &e), 0);
  ck_assert_int_eq(pd_spool_remove(spool, e.seq), PD_SPOOL_OK);

  pd_reconcile_t rc;
  pd_reconcile_init(&rc, 300, t0);
  char key[PD_DEDUP_KEY_MAX + 1];
  cdtime_t wake;
  ck_assert(
      !pd_reconcile_next(&rc, nt, t0 + 299 * SECOND, key, sizeof(key), &wake));
  ck_assert_uint_eq(wake, t0 + 300 * SECOND);
  ck_assert(
      pd_reconcile_next(&rc, nt, t0 + 300 * SECOND, key, sizeof(key), &wake));
  ck_assert_str_eq(key, DF_KEY);
  /* b is skipped (queued); the pass ends, the next is one interval on. */
  ck_assert(
      !pd_reconcile_next(&rc, nt, t0 + 301 * SECOND, key, sizeof(key), &wake));
  ck_assert_uint_eq(wake, t0 + 600 * SECOND);

  /* close_with spools and closes only the same opening. */
  pd_open_alert_t open_a;
  ck_assert_int_eq(pd_notify_lookup(nt, DF_KEY, &open_a), 0);
  pd_event_t ev[2];
  size_t num;
  ck_assert_int_eq(pd_reconcile_events(&open_a, BLOCK, false, ev, &num), 0);
  ck_assert_int_eq(pd_notify_close_with(nt, DF_KEY, open_a.opened + 1, ev, num),
                   0);
  ck_assert_int_eq(pd_notify_close_with(nt, DF_KEY, open_a.opened, ev, num), 1);
  free_events(ev, num);
  ck_assert_int_eq(pd_notify_lookup(nt, DF_KEY, NULL), -1);
  ck_assert_uint_eq(queued_count(), 2);
  pd_reconcile_free(&rc);

  pd_reconcile_init(&rc, 0, t0);
  ck_assert(
      !pd_reconcile_next(&rc, nt, t0 + 9999 * SECOND, key, sizeof(key), &wake));
  ck_assert_uint_eq(wake, 0);
  pd_reconcile_free(&rc);
}
END_TEST

START_TEST(test_forget) {
  open_block(false);
  cdtime_t t0 = cdtime();
  notification_t n = df(NOTIF_FAILURE, "disk full");
  ck_assert_int_eq(pd_notify_handle(nt, &n, t0), PD_NOTIFY_QUEUED);
  ck_assert(!pd_notify_forget(nt, DF_KEY, t0 + 1));
  ck_assert(pd_notify_forget(nt, DF_KEY, t0));
  /* Forgotten: the next FAILURE triggers again. */
  ck_assert_int_eq(pd_notify_handle(nt, &n, t0 + SECOND), PD_NOTIFY_QUEUED);
}
END_TEST

static Suite *notify_suite(void) {
  Suite *s = suite_create("notify");
  TCase *tc = tcase_create("decisions");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_startup_okay_sends_nothing);
  tcase_add_test(tc, test_failure_then_okay);
  tcase_add_test(tc, test_repeat_without_account_sends_nothing);
  tcase_add_test(tc, test_repeat_notes_every_note_interval);
  tcase_add_test(tc, test_note_interval_after_clock_step_back);
  tcase_add_test(tc, test_note_carries_known_incident);
  tcase_add_test(tc, test_warning_to_failure_raises);
  tcase_add_test(tc, test_resolve_on_okay_false);
  tcase_add_test(tc, test_override_acknowledge_and_resolve);
  tcase_add_test(tc, test_override_note_needs_account);
  tcase_add_test(tc, test_override_note_incident_and_key);
  tcase_add_test(tc, test_override_incident_without_account);
  tcase_add_test(tc, test_resolve_naming_incident_closes_alert);
  tcase_add_test(tc, test_own_notifications_ignored);
  tcase_add_test(tc, test_match_fields_and_severities);
  tcase_add_test(tc, test_dedup_key_template);
  tcase_add_test(tc, test_forget);
  suite_add_tcase(s, tc);

  tc = tcase_create("state");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_state_persists_across_reopen);
  tcase_add_test(tc, test_state_survives_kill);
  tcase_add_test(tc, test_corrupt_state_file);
  tcase_add_test(tc, test_state_time_out_of_range);
  tcase_add_test(tc, test_no_secret_in_files);
  tcase_add_test(tc, test_save_through);
  suite_add_tcase(s, tc);

  tc = tcase_create("reconcile");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_reconcile_decide);
  tcase_add_test(tc, test_reconcile_events);
  tcase_add_test(tc, test_reconcile_schedule);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(notify_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
