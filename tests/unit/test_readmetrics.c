/* SPDX-License-Identifier: MIT */
/*
 * test_readmetrics.c - every doc/contract.md §4 series of the read side, and
 * the doc/contract.md §5 notifications, from crafted snapshots (no network, no
 * clock).
 */
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"

#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_alerts.h"
#include "pd_readmetrics.h"
#include "series_fixture.h"

#define NOW ((time_t)1800000000) /* 2027-01-15T08:00:00Z */
/* long: they travel through the builders' variable arguments */
#define HOUR 3600L
#define DAY 86400L
#define WEEK (7 * DAY)

/* --- a recording metric sink (series_fixture.h) --------------------------- */

static const series_metric_t *find_metric(series_recorder_t *r,
                                          const char *type_instance) {
  const series_metric_t *m = series_recorder_find(r, type_instance);
  ck_assert_msg(r->problem[0] == '\0', "%s", r->problem);
  return m;
}

/* The value of a series that must be there, with that type. */
static double value_of(series_recorder_t *r, const char *type,
                       const char *type_instance) {
  const series_metric_t *m = find_metric(r, type_instance);
  ck_assert_msg(m != NULL, "series %s missing", type_instance);
  ck_assert_str_eq(m->type, type);
  ck_assert_int_eq(m->kind, PD_DS_GAUGE);
  return m->value;
}

static bool has_series(series_recorder_t *r, const char *type_instance) {
  return find_metric(r, type_instance) != NULL;
}

#define ck_assert_value(r, type, ti, expected)                                 \
  ck_assert_double_eq_tol(value_of((r), (type), (ti)), (expected), 1e-9)

/* --- snapshot builders ---------------------------------------------------- */

typedef struct {
  pd_services_t services;
  pd_incident_recs_t open, created;
  pd_teams_t teams;
  pd_schedule_recs_t schedules;
  pd_oncalls_t oncalls;
  pd_policies_t policies;
} world_t;

static void world_free(world_t *w) {
  pd_services_free(&w->services);
  pd_incident_recs_free(&w->open);
  pd_incident_recs_free(&w->created);
  pd_teams_free(&w->teams);
  pd_schedule_recs_free(&w->schedules);
  pd_oncalls_free(&w->oncalls);
  pd_policies_free(&w->policies);
}

/* teams: NULL-terminated list of team IDs */
static void add_service(world_t *w, const char *id, const char *name,
                        pd_service_status_t status, ...) {
  pd_service_t s = {.status = status};
  snprintf(s.id, sizeof(s.id), "%s", id);
  snprintf(s.name, sizeof(s.name), "%s", name);
  va_list ap;
  va_start(ap, status);
  for (const char *t; (t = va_arg(ap, const char *)) != NULL;)
    ck_assert_int_eq(pd_idlist_add(&s.team_ids, t), 0);
  va_end(ap);
  ck_assert_int_eq(pd_services_push(&w->services, &s), 0);
  pd_service_free(&s);
}

static void add_incident(pd_incident_recs_t *v, const char *id,
                         const char *service, pd_incident_status_t status,
                         pd_urgency_t urgency, time_t created) {
  pd_incident_t inc = {.status = (unsigned char)status,
                       .urgency = (unsigned char)urgency,
                       .created_at = created};
  snprintf(inc.id, sizeof(inc.id), "%s", id);
  snprintf(inc.service_id, sizeof(inc.service_id), "%s", service);
  ck_assert_int_eq(pd_incident_recs_push(v, &inc), 0);
}

static void add_team(world_t *w, const char *id, const char *name) {
  pd_team_t t = {0};
  snprintf(t.id, sizeof(t.id), "%s", id);
  snprintf(t.name, sizeof(t.name), "%s", name);
  ck_assert_int_eq(pd_teams_push(&w->teams, &t), 0);
}

/* entries: triples (user, start offset from NOW, end offset), user NULL
 * ends the list. */
static void add_schedule(world_t *w, const char *id, const char *name, ...) {
  pd_schedule_t s = {0};
  snprintf(s.id, sizeof(s.id), "%s", id);
  snprintf(s.name, sizeof(s.name), "%s", name);
  pd_schedule_entries_t entries = {0};
  va_list ap;
  va_start(ap, name);
  for (const char *user; (user = va_arg(ap, const char *)) != NULL;) {
    pd_schedule_entry_t e = {0};
    snprintf(e.user_id, sizeof(e.user_id), "%s", user);
    e.start = NOW + va_arg(ap, long);
    e.end = NOW + va_arg(ap, long);
    ck_assert_int_eq(pd_schedule_entries_push(&entries, &e), 0);
  }
  va_end(ap);
  ck_assert_int_eq(pd_schedule_recs_push(&w->schedules, &s, &entries), 0);
  ck_assert_uint_eq(entries.num, 0);
}

/* start/end: offsets from NOW; 0 for permanent (null) */
static void add_oncall(world_t *w, const char *policy, int level,
                       const char *schedule, const char *user, long start,
                       long end, bool permanent) {
  pd_oncall_t o = {.level = level};
  snprintf(o.escalation_policy_id, sizeof(o.escalation_policy_id), "%s",
           policy);
  snprintf(o.schedule_id, sizeof(o.schedule_id), "%s",
           schedule ? schedule : "");
  snprintf(o.user_id, sizeof(o.user_id), "%s", user ? user : "");
  if (!permanent) {
    o.start = NOW + start;
    o.end = NOW + end;
  }
  ck_assert_int_eq(pd_oncalls_push(&w->oncalls, &o), 0);
}

/* rules: number of escalation rules (each with one dummy target) */
static void add_policy(world_t *w, const char *id, const char *name,
                       size_t rules, int loops) {
  pd_policy_t p = {.num_loops = loops};
  snprintf(p.id, sizeof(p.id), "%s", id);
  snprintf(p.name, sizeof(p.name), "%s", name);
  for (size_t i = 0; i < rules; i++) {
    pd_escalation_rule_t *r = pd_policy_add_rule(&p);
    ck_assert_ptr_nonnull(r);
    pd_target_t t = {.type = PD_TARGET_SCHEDULE};
    snprintf(t.id, sizeof(t.id), "PSCHED%zu", i);
    ck_assert_int_eq(pd_rule_add_target(r, &t), 0);
  }
  ck_assert_int_eq(pd_policies_push(&w->policies, &p), 0);
  pd_policy_free(&p);
}

/* A snapshot of everything in w, all series collected. */
static pd_snapshot_t full_snapshot(const world_t *w) {
  return (pd_snapshot_t){.now = NOW,
                         .coverage_window_s = WEEK,
                         .instance_by = PD_INSTANCE_BY_NAME,
                         .collect = PD_COLLECT_ALL,
                         .services = &w->services,
                         .open_incidents = &w->open,
                         .created = &w->created,
                         .teams = &w->teams,
                         .schedules = &w->schedules,
                         .oncalls = &w->oncalls,
                         .policies = &w->policies};
}

/* Computes and emits into a fresh recorder. */
static void run(const pd_snapshot_t *snap, series_recorder_t *rec) {
  *rec = (series_recorder_t){0};
  pd_readings_t r;
  ck_assert_int_eq(pd_readings_compute(snap, &r), 0);
  pd_metric_sink_t sink = {.emit = series_record, .ctx = rec};
  pd_metric_batch_t batch;
  pd_metric_batch_init(&batch, &sink, "pdhost", "acme");
  pd_readings_emit(&r, &batch);
  ck_assert_int_eq(batch.errors, 0);
  pd_readings_free(&r);
  ck_assert_msg(rec->problem[0] == '\0', "%s", rec->problem);
  for (size_t i = 0; i < rec->num; i++) {
    ck_assert_str_eq(rec->items[i].host, "pdhost");
    ck_assert_str_eq(rec->items[i].plugin_instance, "acme");
  }
}

/* --- incidents ------------------------------------------------------------ */

START_TEST(test_incident_counts_and_oldest) {
  world_t w = {0};
  add_service(&w, "PSVC1", "Web", PD_SERVICE_CRITICAL, NULL);
  add_incident(&w.open, "Q1", "PSVC1", PD_INCIDENT_TRIGGERED, PD_URGENCY_HIGH,
               NOW - 100);
  add_incident(&w.open, "Q2", "PSVC1", PD_INCIDENT_TRIGGERED, PD_URGENCY_HIGH,
               NOW - 40 * DAY); /* older than a month: still counted */
  add_incident(&w.open, "Q3", "PSVC1", PD_INCIDENT_TRIGGERED, PD_URGENCY_LOW,
               NOW - 5);
  add_incident(&w.open, "Q4", "PSVC1", PD_INCIDENT_ACKNOWLEDGED, PD_URGENCY_LOW,
               NOW - 300);
  add_incident(&w.open, "Q5", "PSVC1", PD_INCIDENT_ACKNOWLEDGED, PD_URGENCY_LOW,
               NOW - 200);
  /* a resolved one in the open set (a race) counts nowhere */
  add_incident(&w.open, "Q6", "PSVC1", PD_INCIDENT_RESOLVED, PD_URGENCY_HIGH,
               NOW - 50 * DAY);
  pd_snapshot_t snap = full_snapshot(&w);
  series_recorder_t rec;
  run(&snap, &rec);
  ck_assert_value(&rec, "count", "incidents-triggered-high", 2);
  ck_assert_value(&rec, "count", "incidents-triggered-low", 1);
  ck_assert_value(&rec, "count", "incidents-acknowledged-high", 0);
  ck_assert_value(&rec, "count", "incidents-acknowledged-low", 2);
  ck_assert_value(&rec, "duration", "incidents-oldest_triggered", 40 * DAY);
  ck_assert_value(&rec, "duration", "incidents-oldest_acknowledged", 300);
  ck_assert_uint_eq(series_count_group(&rec, PD_GROUP_INCIDENTS),
                    series_in_group(PD_GROUP_INCIDENTS));
  series_recorder_free(&rec);
  world_free(&w);
}
END_TEST

START_TEST(test_incidents_none_are_zeros) {
  world_t w = {0};
  pd_snapshot_t snap = full_snapshot(&w);
  series_recorder_t rec;
  run(&snap, &rec);
  ck_assert_value(&rec, "count", "incidents-triggered-high", 0);
  ck_assert_value(&rec, "count", "incidents-triggered-low", 0);
  ck_assert_value(&rec, "count", "incidents-acknowledged-high", 0);
  ck_assert_value(&rec, "count", "incidents-acknowledged-low", 0);
  ck_assert_value(&rec, "duration", "incidents-oldest_triggered", 0);
  ck_assert_value(&rec, "duration", "incidents-oldest_acknowledged", 0);
  /* all five service statuses, with nothing in them */
  ck_assert_value(&rec, "count", "services-active", 0);
  ck_assert_value(&rec, "count", "services-warning", 0);
  ck_assert_value(&rec, "count", "services-critical", 0);
  ck_assert_value(&rec, "count", "services-maintenance", 0);
  ck_assert_value(&rec, "count", "services-disabled", 0);
  series_recorder_free(&rec);
  world_free(&w);
}
END_TEST

START_TEST(test_dedupe_incident_recs) {
  pd_incident_recs_t v = {0};
  add_incident(&v, "QB", "PS", PD_INCIDENT_TRIGGERED, PD_URGENCY_HIGH, 5);
  add_incident(&v, "QA", "PS", PD_INCIDENT_TRIGGERED, PD_URGENCY_HIGH, 5);
  add_incident(&v, "QB", "PS", PD_INCIDENT_TRIGGERED, PD_URGENCY_HIGH, 5);
  add_incident(&v, "QC", "PS", PD_INCIDENT_TRIGGERED, PD_URGENCY_HIGH, 5);
  add_incident(&v, "QA", "PS", PD_INCIDENT_TRIGGERED, PD_URGENCY_HIGH, 5);
  pd_incident_recs_dedupe(&v);
  ck_assert_uint_eq(v.num, 3);
  ck_assert_str_eq(v.items[0].id, "QA");
  ck_assert_str_eq(v.items[1].id, "QB");
  ck_assert_str_eq(v.items[2].id, "QC");
  pd_incident_recs_free(&v);
}
END_TEST

/* --- services ------------------------------------------------------------- */

START_TEST(test_services_every_series) {
  world_t w = {0};
  add_service(&w, "PA", "Checkout API", PD_SERVICE_CRITICAL, NULL);
  add_service(&w, "PB", "Payment Gateway", PD_SERVICE_WARNING, NULL);
  add_service(&w, "PC", "Legacy Billing", PD_SERVICE_DISABLED, NULL);
  add_service(&w, "PD", "Search", PD_SERVICE_MAINTENANCE, NULL);
  add_service(&w, "PE", "Quiet", PD_SERVICE_ACTIVE, NULL);
  add_service(&w, "PF", "Odd", PD_SERVICE_UNKNOWN, NULL);
  add_incident(&w.open, "Q1", "PA", PD_INCIDENT_TRIGGERED, PD_URGENCY_HIGH,
               NOW - 10);
  add_incident(&w.open, "Q2", "PA", PD_INCIDENT_TRIGGERED, PD_URGENCY_LOW,
               NOW - 10);
  add_incident(&w.open, "Q3", "PA", PD_INCIDENT_ACKNOWLEDGED, PD_URGENCY_HIGH,
               NOW - 10);
  add_incident(&w.open, "Q4", "PB", PD_INCIDENT_ACKNOWLEDGED, PD_URGENCY_LOW,
               NOW - 10);
  /* an incident of a service out of scope: only account-wide */
  add_incident(&w.open, "Q5", "PZZ", PD_INCIDENT_TRIGGERED, PD_URGENCY_HIGH,
               NOW - 10);
  add_incident(&w.created, "Q1", "PA", PD_INCIDENT_TRIGGERED, PD_URGENCY_HIGH,
               NOW - 10);
  add_incident(&w.created, "Q7", "PA", PD_INCIDENT_RESOLVED, PD_URGENCY_HIGH,
               NOW - 1000);
  add_incident(&w.created, "Q8", "PD", PD_INCIDENT_RESOLVED, PD_URGENCY_LOW,
               NOW - 2000);
  pd_snapshot_t snap = full_snapshot(&w);
  series_recorder_t rec;
  run(&snap, &rec);

  ck_assert_value(&rec, "count", "services-active", 1);
  ck_assert_value(&rec, "count", "services-warning", 1);
  ck_assert_value(&rec, "count", "services-critical", 1);
  ck_assert_value(&rec, "count", "services-maintenance", 1);
  ck_assert_value(&rec, "count", "services-disabled", 1);

  ck_assert_value(&rec, "gauge", "service-checkout_api-status", 2);
  ck_assert_value(&rec, "gauge", "service-payment_gateway-status", 1);
  ck_assert_value(&rec, "gauge", "service-legacy_billing-status", 4);
  ck_assert_value(&rec, "gauge", "service-search-status", 3);
  ck_assert_value(&rec, "gauge", "service-quiet-status", 0);
  /* an unknown status gets no gauge, but the other series */
  ck_assert(!has_series(&rec, "service-odd-status"));
  ck_assert_value(&rec, "count", "service-odd-triggered", 0);

  ck_assert_value(&rec, "count", "service-checkout_api-triggered", 2);
  ck_assert_value(&rec, "count", "service-checkout_api-acknowledged", 1);
  ck_assert_value(&rec, "count", "service-checkout_api-high_urgency", 2);
  ck_assert_value(&rec, "count", "service-checkout_api-created", 2);
  ck_assert_value(&rec, "count", "service-payment_gateway-triggered", 0);
  ck_assert_value(&rec, "count", "service-payment_gateway-acknowledged", 1);
  ck_assert_value(&rec, "count", "service-payment_gateway-high_urgency", 0);
  ck_assert_value(&rec, "count", "service-search-created", 1);
  /* quiet services: zeros, every series */
  ck_assert_value(&rec, "count", "service-quiet-triggered", 0);
  ck_assert_value(&rec, "count", "service-quiet-acknowledged", 0);
  ck_assert_value(&rec, "count", "service-quiet-high_urgency", 0);
  ck_assert_value(&rec, "count", "service-quiet-created", 0);
  /* 5 services x 5 series + the odd one's 4 */
  /* every series of all six, but Odd's status */
  ck_assert_uint_eq(series_count_entity(&rec, PD_ENTITY_SERVICE),
                    6 * series_per(PD_ENTITY_SERVICE) - 1);
  ck_assert_value(&rec, "count", "incidents-triggered-high", 2);
  series_recorder_free(&rec);
  world_free(&w);
}
END_TEST

START_TEST(test_missing_collections_silence_their_series) {
  world_t w = {0};
  add_service(&w, "PA", "Web", PD_SERVICE_ACTIVE, "PT1", NULL);
  add_team(&w, "PT1", "Ops");
  add_policy(&w, "PP1", "Main", 2, 1);
  add_schedule(&w, "PS1", "Primary", "PU1", -HOUR, 2 * WEEK, NULL);

  /* created failed: no service-*-created, the rest stays */
  pd_snapshot_t snap = full_snapshot(&w);
  snap.created = NULL;
  series_recorder_t rec;
  run(&snap, &rec);
  ck_assert(!has_series(&rec, "service-web-created"));
  ck_assert_value(&rec, "count", "service-web-triggered", 0);
  ck_assert_value(&rec, "count", "team-ops-triggered", 0);
  series_recorder_free(&rec);

  /* open incidents failed: no incident counts anywhere */
  snap = full_snapshot(&w);
  snap.open_incidents = NULL;
  run(&snap, &rec);
  ck_assert_uint_eq(series_count_group(&rec, PD_GROUP_INCIDENTS), 0);
  ck_assert_uint_eq(series_count_entity(&rec, PD_ENTITY_TEAM), 0);
  ck_assert(!has_series(&rec, "service-web-triggered"));
  ck_assert_value(&rec, "gauge", "service-web-status", 0);
  ck_assert_value(&rec, "count", "service-web-created", 0);
  series_recorder_free(&rec);

  /* on-calls failed: no policy oncall series; schedules (their oncall
   * comes from their final schedule), coverage and rules stay */
  snap = full_snapshot(&w);
  snap.oncalls = NULL;
  run(&snap, &rec);
  ck_assert_value(&rec, "count", "schedule-primary-oncall", 1);
  ck_assert(!has_series(&rec, "policy-main-oncall"));
  ck_assert(!has_series(&rec, "policy-main-uncovered_levels"));
  ck_assert_value(&rec, "percent", "schedule-primary-coverage", 100);
  ck_assert_value(&rec, "count", "policy-main-rules", 2);
  series_recorder_free(&rec);

  /* a schedule whose final schedule was never read: no series at all,
   * never "nobody on call" */
  snap = full_snapshot(&w);
  w.schedules.items[0].offered = false;
  run(&snap, &rec);
  ck_assert_uint_eq(series_count_entity(&rec, PD_ENTITY_SCHEDULE), 0);
  ck_assert_value(&rec, "count", "policy-main-rules", 2);
  w.schedules.items[0].offered = true;
  series_recorder_free(&rec);

  /* schedules failed (listing): no schedule series */
  snap = full_snapshot(&w);
  snap.schedules = NULL;
  run(&snap, &rec);
  ck_assert_uint_eq(series_count_entity(&rec, PD_ENTITY_SCHEDULE), 0);
  series_recorder_free(&rec);

  /* services failed: no service or team series */
  snap = full_snapshot(&w);
  snap.services = NULL;
  run(&snap, &rec);
  ck_assert_uint_eq(series_count_entity(&rec, PD_ENTITY_SERVICE), 0);
  ck_assert_uint_eq(series_count(&rec, PD_SERIES_SERVICES), 0);
  ck_assert_uint_eq(series_count_entity(&rec, PD_ENTITY_TEAM), 0);
  ck_assert_value(&rec, "count", "incidents-triggered-high", 0);
  series_recorder_free(&rec);
  world_free(&w);
}
END_TEST

START_TEST(test_collect_selects_series) {
  world_t w = {0};
  add_service(&w, "PA", "Web", PD_SERVICE_ACTIVE, "PT1", NULL);
  add_team(&w, "PT1", "Ops");
  add_policy(&w, "PP1", "Main", 1, 0);
  add_schedule(&w, "PS1", "Primary", "PU1", -HOUR, 2 * WEEK, NULL);
  add_oncall(&w, "PP1", 1, "PS1", "PU1", -HOUR, 2 * WEEK, false);
  pd_snapshot_t snap = full_snapshot(&w);
  series_recorder_t rec;

  snap.collect = PD_COLLECT_INCIDENTS;
  run(&snap, &rec);
  ck_assert_uint_eq(rec.num, series_of_collect(PD_COLLECT_INCIDENTS));
  ck_assert_uint_eq(series_count_group(&rec, PD_GROUP_INCIDENTS),
                    series_in_group(PD_GROUP_INCIDENTS));
  series_recorder_free(&rec);

  snap.collect = PD_COLLECT_TEAMS;
  run(&snap, &rec);
  ck_assert_uint_eq(rec.num, series_of_collect(PD_COLLECT_TEAMS));
  ck_assert_value(&rec, "count", "team-ops-acknowledged", 0);
  series_recorder_free(&rec);

  snap.collect = PD_COLLECT_ONCALLS;
  run(&snap, &rec);
  ck_assert_uint_eq(rec.num, series_of_collect(PD_COLLECT_ONCALLS));
  ck_assert_value(&rec, "count", "schedule-primary-oncall", 1);
  ck_assert_value(&rec, "count", "policy-main-oncall", 1);
  ck_assert_value(&rec, "count", "policy-main-uncovered_levels", 0);
  series_recorder_free(&rec);

  snap.collect = PD_COLLECT_SCHEDULES;
  run(&snap, &rec);
  ck_assert_uint_eq(rec.num, series_of_collect(PD_COLLECT_SCHEDULES));
  series_recorder_free(&rec);

  snap.collect = PD_COLLECT_POLICIES;
  run(&snap, &rec);
  ck_assert_uint_eq(rec.num, series_of_collect(PD_COLLECT_POLICIES));
  ck_assert_value(&rec, "count", "policy-main-rules", 1);
  ck_assert_value(&rec, "count", "policy-main-loops", 0);
  series_recorder_free(&rec);

  snap.collect = PD_COLLECT_SERVICES;
  run(&snap, &rec);
  ck_assert_uint_eq(rec.num, series_of_collect(PD_COLLECT_SERVICES));
  series_recorder_free(&rec);

  snap.collect = PD_COLLECT_ALL;
  run(&snap, &rec);
  ck_assert_uint_eq(rec.num, series_of_collect(PD_COLLECT_ALL));
  series_recorder_free(&rec);
  world_free(&w);
}
END_TEST

/* Every series of the table (pd_series.def), api-* aside, for every entity
 * of a full snapshot, with the table's type, and nothing else: a series
 * added to the table without its value in pd_readmetrics.c fails here. */
START_TEST(test_every_series_of_the_table) {
  world_t w = {0};
  add_service(&w, "PA", "Web", PD_SERVICE_WARNING, "PT1", NULL);
  add_service(&w, "PB", "Db", PD_SERVICE_ACTIVE, NULL);
  add_team(&w, "PT1", "Ops");
  add_policy(&w, "PP1", "Main", 2, 1);
  add_schedule(&w, "PS1", "Primary", "PU1", -HOUR, 2 * WEEK, NULL);
  add_oncall(&w, "PP1", 1, "PS1", "PU1", -HOUR, 2 * WEEK, false);
  add_incident(&w.open, "Q1", "PA", PD_INCIDENT_ACKNOWLEDGED, PD_URGENCY_HIGH,
               NOW - 10);
  pd_snapshot_t snap = full_snapshot(&w);
  series_recorder_t rec;
  run(&snap, &rec);
  const char *instances[PD_ENTITY_NUM][2] = {
      [PD_ENTITY_ACCOUNT] = {""},    [PD_ENTITY_SERVICE] = {"web", "db"},
      [PD_ENTITY_TEAM] = {"ops"},    [PD_ENTITY_SCHEDULE] = {"primary"},
      [PD_ENTITY_POLICY] = {"main"},
  };
  size_t expected = 0;
  for (int id = 0; id < PD_SERIES_NUM; id++) {
    const pd_series_t *x = &pd_series[id];
    if (x->group == PD_GROUP_API)
      continue;
    for (size_t e = 0; e < 2 && instances[x->entity][e] != NULL; e++)
      for (size_t a = 0; a < pd_series_dim_size(x->dims[0]); a++)
        for (size_t b = 0; b < pd_series_dim_size(x->dims[1]); b++) {
          char ti[PD_TYPE_INSTANCE_MAX];
          size_t at[2] = {a, b};
          ck_assert_int_eq(pd_series_type_instance(ti, sizeof(ti), id,
                                                   instances[x->entity][e], at),
                           0);
          const series_metric_t *m = find_metric(&rec, ti);
          ck_assert_msg(m != NULL, "%s (%s) not emitted", ti, x->name);
          ck_assert_str_eq(m->type, x->type);
          expected++;
        }
  }
  ck_assert_uint_eq(rec.num, expected);
  series_recorder_free(&rec);
  world_free(&w);
}
END_TEST

/* --- teams ---------------------------------------------------------------- */

START_TEST(test_team_counts) {
  world_t w = {0};
  add_team(&w, "PT1", "Platform");
  add_team(&w, "PT2", "Web");
  add_team(&w, "PT3", "Idle Team");
  add_service(&w, "PA", "Auth", PD_SERVICE_CRITICAL, "PT1", "PT2", NULL);
  add_service(&w, "PB", "Frontend", PD_SERVICE_WARNING, "PT2", NULL);
  add_service(&w, "PC", "No Team", PD_SERVICE_CRITICAL, NULL);
  /* a team outside the snapshot's teams is ignored */
  add_service(&w, "PD", "Elsewhere", PD_SERVICE_CRITICAL, "PT9", NULL);
  add_incident(&w.open, "Q1", "PA", PD_INCIDENT_TRIGGERED, PD_URGENCY_HIGH,
               NOW - 1);
  add_incident(&w.open, "Q2", "PA", PD_INCIDENT_ACKNOWLEDGED, PD_URGENCY_LOW,
               NOW - 1);
  add_incident(&w.open, "Q3", "PB", PD_INCIDENT_ACKNOWLEDGED, PD_URGENCY_LOW,
               NOW - 1);
  add_incident(&w.open, "Q4", "PC", PD_INCIDENT_TRIGGERED, PD_URGENCY_LOW,
               NOW - 1);
  add_incident(&w.open, "Q5", "PD", PD_INCIDENT_TRIGGERED, PD_URGENCY_LOW,
               NOW - 1);
  pd_snapshot_t snap = full_snapshot(&w);
  series_recorder_t rec;
  run(&snap, &rec);
  /* a service in two teams counts for both */
  ck_assert_value(&rec, "count", "team-platform-triggered", 1);
  ck_assert_value(&rec, "count", "team-platform-acknowledged", 1);
  ck_assert_value(&rec, "count", "team-web-triggered", 1);
  ck_assert_value(&rec, "count", "team-web-acknowledged", 2);
  ck_assert_value(&rec, "count", "team-idle_team-triggered", 0);
  ck_assert_value(&rec, "count", "team-idle_team-acknowledged", 0);
  ck_assert_uint_eq(series_count_entity(&rec, PD_ENTITY_TEAM),
                    3 * series_per(PD_ENTITY_TEAM));
  series_recorder_free(&rec);
  world_free(&w);
}
END_TEST

/* --- schedules: coverage -------------------------------------------------- */

static pd_coverage_t coverage_of(const pd_schedule_entry_t *e, size_t n,
                                 double window) {
  pd_coverage_t c;
  pd_coverage_compute(e, n, NOW, window, &c);
  return c;
}

#define ENTRY(user, from, to)                                                  \
  { user, NOW + (from), NOW + (to) }

START_TEST(test_coverage_full) {
  pd_schedule_entry_t e[] = {ENTRY("PU1", -DAY, 2 * DAY),
                             ENTRY("PU2", 2 * DAY, 10 * DAY)};
  pd_coverage_t c = coverage_of(e, 2, WEEK);
  ck_assert_double_eq(c.coverage_pct, 100);
  ck_assert_double_eq(c.gap_s, 0);
  ck_assert_double_eq(c.next_gap_s, WEEK);
  ck_assert_double_eq(c.next_handoff_s, 2 * DAY);
  ck_assert_int_eq(c.gap_start, 0);
  ck_assert_int_eq(c.gap_end, 0);
}
END_TEST

START_TEST(test_coverage_gap_inside) {
  /* covered now, a 6-hour gap starting in 3 days */
  pd_schedule_entry_t e[] = {ENTRY("PU1", -HOUR, 3 * DAY),
                             ENTRY("PU2", 3 * DAY + 6 * HOUR, 8 * DAY)};
  pd_coverage_t c = coverage_of(e, 2, WEEK);
  ck_assert_double_eq(c.gap_s, 6 * HOUR);
  ck_assert_double_eq_tol(c.coverage_pct, 100.0 * (WEEK - 6 * HOUR) / WEEK,
                          1e-9);
  ck_assert_double_eq(c.next_gap_s, 3 * DAY);
  ck_assert_int_eq(c.gap_start, NOW + 3 * DAY);
  ck_assert_int_eq(c.gap_end, NOW + 3 * DAY + 6 * HOUR);
  ck_assert_double_eq(c.next_handoff_s, 3 * DAY);
}
END_TEST

START_TEST(test_coverage_uncovered_now) {
  /* nobody until in one hour (a schedule that starts later) */
  pd_schedule_entry_t e[] = {ENTRY("PU1", HOUR, 10 * DAY)};
  pd_coverage_t c = coverage_of(e, 1, WEEK);
  ck_assert_double_eq(c.next_gap_s, 0);
  ck_assert_double_eq(c.next_handoff_s, 0);
  ck_assert_double_eq(c.gap_s, HOUR);
  ck_assert_int_eq(c.gap_start, NOW);
  ck_assert_int_eq(c.gap_end, NOW + HOUR);

  /* nothing at all */
  c = coverage_of(NULL, 0, WEEK);
  ck_assert_double_eq(c.coverage_pct, 0);
  ck_assert_double_eq(c.gap_s, WEEK);
  ck_assert_double_eq(c.next_gap_s, 0);
  ck_assert_double_eq(c.next_handoff_s, 0);
  ck_assert_int_eq(c.gap_start, NOW);
  ck_assert_int_eq(c.gap_end, NOW + WEEK);
}
END_TEST

START_TEST(test_coverage_overlaps_and_order) {
  /* overlapping, unsorted, partly outside the window: the union counts */
  pd_schedule_entry_t e[] = {
      ENTRY("PU3", 5 * DAY, 9 * DAY),     /* past the window's end */
      ENTRY("PU1", -10 * DAY, 2 * DAY),   /* from before now */
      ENTRY("PU2", DAY, 3 * DAY),         /* overlaps the first */
      ENTRY("PU4", 2 * DAY, 2 * DAY + 5), /* inside the second */
      ENTRY("PU5", -5 * DAY, -DAY),       /* entirely past */
  };
  pd_coverage_t c = coverage_of(e, 5, WEEK);
  /* covered [now, now+3d) and [now+5d, now+7d): gap of 2 days */
  ck_assert_double_eq(c.gap_s, 2 * DAY);
  ck_assert_double_eq(c.next_gap_s, 3 * DAY);
  ck_assert_int_eq(c.gap_start, NOW + 3 * DAY);
  ck_assert_int_eq(c.gap_end, NOW + 5 * DAY);
  ck_assert_double_eq_tol(c.coverage_pct, 100.0 * 5 / 7, 1e-9);
  /* only PU1 is on call now; its shift ends in 2 days */
  ck_assert_double_eq(c.next_handoff_s, 2 * DAY);
}
END_TEST

START_TEST(test_coverage_trailing_gap_and_userless) {
  /* an entry without a user covers nothing */
  pd_schedule_entry_t e[] = {ENTRY("PU1", 0, 4 * DAY),
                             ENTRY("", 4 * DAY, WEEK)};
  pd_coverage_t c = coverage_of(e, 2, WEEK);
  ck_assert_double_eq(c.gap_s, 3 * DAY);
  ck_assert_double_eq(c.next_gap_s, 4 * DAY);
  ck_assert_int_eq(c.gap_start, NOW + 4 * DAY);
  ck_assert_int_eq(c.gap_end, NOW + WEEK);
  ck_assert_double_eq(c.next_handoff_s, 4 * DAY);

  /* an entry ending exactly now does not cover now */
  pd_schedule_entry_t past[] = {ENTRY("PU1", -DAY, 0), ENTRY("PU2", 0, WEEK)};
  c = coverage_of(past, 2, WEEK);
  ck_assert_double_eq(c.gap_s, 0);
  ck_assert_double_eq(c.next_handoff_s, WEEK);
}
END_TEST

START_TEST(test_handoff_rules) {
  /* one user's touching entries are one shift */
  pd_schedule_entry_t same[] = {ENTRY("PU1", -HOUR, HOUR),
                                ENTRY("PU1", HOUR, 5 * HOUR),
                                ENTRY("PU2", 5 * HOUR, 9 * DAY)};
  pd_coverage_t c = coverage_of(same, 3, WEEK);
  ck_assert_double_eq(c.next_handoff_s, 5 * HOUR);
  ck_assert_double_eq(c.gap_s, 0);

  /* two users on call now: the earlier end is the next hand-off */
  pd_schedule_entry_t two[] = {ENTRY("PU1", -HOUR, 8 * HOUR),
                               ENTRY("PU2", -2 * HOUR, 3 * HOUR),
                               ENTRY("PU3", 3 * HOUR, 9 * DAY)};
  c = coverage_of(two, 3, WEEK);
  ck_assert_double_eq(c.next_handoff_s, 3 * HOUR);

  /* a shift reaching past the rendered entries ends where they end */
  pd_schedule_entry_t long_one[] = {ENTRY("PU1", -HOUR, 8 * DAY)};
  c = coverage_of(long_one, 1, WEEK);
  ck_assert_double_eq(c.next_handoff_s, 8 * DAY);
}
END_TEST

START_TEST(test_schedule_series) {
  world_t w = {0};
  add_schedule(&w, "PS1", "Payments Primary", "PU1", -DAY, 3 * DAY, "PU2",
               3 * DAY + 6 * HOUR, 8 * DAY, NULL);
  add_schedule(&w, "PS2", "Empty", NULL);
  pd_snapshot_t snap = full_snapshot(&w);
  series_recorder_t rec;
  run(&snap, &rec);
  ck_assert_value(&rec, "duration", "schedule-payments_primary-gap", 6 * HOUR);
  ck_assert_value(&rec, "duration", "schedule-payments_primary-next_gap",
                  3 * DAY);
  ck_assert_value(&rec, "duration", "schedule-payments_primary-next_handoff",
                  3 * DAY);
  ck_assert_double_eq_tol(
      value_of(&rec, "percent", "schedule-payments_primary-coverage"),
      100.0 * (WEEK - 6 * HOUR) / WEEK, 1e-9);
  /* No on-call entry names it (no policy uses it), but its final schedule
   * has PU1 on call now: that counts. */
  ck_assert_value(&rec, "count", "schedule-payments_primary-oncall", 1);
  /* no data: zeros (and the whole window uncovered) */
  ck_assert_value(&rec, "percent", "schedule-empty-coverage", 0);
  ck_assert_value(&rec, "duration", "schedule-empty-gap", WEEK);
  ck_assert_value(&rec, "duration", "schedule-empty-next_gap", 0);
  ck_assert_value(&rec, "duration", "schedule-empty-next_handoff", 0);
  ck_assert_value(&rec, "count", "schedule-empty-oncall", 0);
  ck_assert_uint_eq(series_count_entity(&rec, PD_ENTITY_SCHEDULE),
                    2 * series_per(PD_ENTITY_SCHEDULE));

  /* another CoverageWindow changes the window, not the data */
  snap.coverage_window_s = 2 * DAY;
  series_recorder_free(&rec);
  run(&snap, &rec);
  ck_assert_value(&rec, "duration", "schedule-payments_primary-gap", 0);
  ck_assert_value(&rec, "duration", "schedule-payments_primary-next_gap",
                  2 * DAY);
  ck_assert_value(&rec, "percent", "schedule-payments_primary-coverage", 100);
  series_recorder_free(&rec);
  world_free(&w);
}
END_TEST

/* A shift-based schedule's final schedule: overlapping assignments of
 * several people, and empty_member entries (no user) that cover nothing. */
START_TEST(test_shift_based_union) {
  world_t w = {0};
  add_schedule(&w, "PS1", "Shifts",
               /* PU1 and PU2 both on now; PU1's next shift touches */
               "PU1", -2 * HOUR, 2 * HOUR, "PU2", -HOUR, 4 * HOUR, "PU1",
               2 * HOUR, 3 * HOUR,
               /* an empty member from 4 h to 10 h: a 6 h gap */
               "", 4 * HOUR, 10 * HOUR,
               /* PU3 from 10 h to the end, PU2 inside it (overlap) */
               "PU3", 10 * HOUR, 8 * DAY, "PU2", DAY, DAY + HOUR, NULL);
  pd_snapshot_t snap = full_snapshot(&w);
  series_recorder_t rec;
  run(&snap, &rec);
  ck_assert_value(&rec, "count", "schedule-shifts-oncall", 2);
  ck_assert_value(&rec, "duration", "schedule-shifts-gap", 6 * HOUR);
  ck_assert_value(&rec, "duration", "schedule-shifts-next_gap", 4 * HOUR);
  /* PU1's two touching shifts are one, to 3 h; PU2's ends at 4 h */
  ck_assert_value(&rec, "duration", "schedule-shifts-next_handoff", 3 * HOUR);
  ck_assert_double_eq_tol(value_of(&rec, "percent", "schedule-shifts-coverage"),
                          100.0 * (WEEK - 6 * HOUR) / WEEK, 1e-9);
  series_recorder_free(&rec);

  /* the same through pd_coverage_compute, entries out of order */
  pd_schedule_entry_t e[] = {
      ENTRY("PU3", 10 * HOUR, 8 * DAY), ENTRY("", 4 * HOUR, 10 * HOUR),
      ENTRY("PU2", -HOUR, 4 * HOUR), ENTRY("PU1", -2 * HOUR, 2 * HOUR)};
  pd_coverage_t c = coverage_of(e, 4, WEEK);
  ck_assert_double_eq(c.gap_s, 6 * HOUR);
  ck_assert_double_eq(c.next_gap_s, 4 * HOUR);
  ck_assert_int_eq(c.gap_start, NOW + 4 * HOUR);
  ck_assert_int_eq(c.gap_end, NOW + 10 * HOUR);
  ck_assert_double_eq(c.next_handoff_s, 2 * HOUR);
  /* only empty members: nobody, nothing covered */
  pd_schedule_entry_t empty[] = {ENTRY("", -HOUR, 8 * DAY)};
  c = coverage_of(empty, 1, WEEK);
  ck_assert_double_eq(c.coverage_pct, 0);
  ck_assert_double_eq(c.next_gap_s, 0);
  ck_assert_double_eq(c.next_handoff_s, 0);
  world_free(&w);
}
END_TEST

/* --- on-calls and policies ------------------------------------------------ */

START_TEST(test_oncall_counts) {
  world_t w = {0};
  /* schedule oncall comes from the final schedule: PU1 and PU2 now (an
   * override beside the layer), PU3 later */
  add_schedule(&w, "PS1", "Primary", "PU1", -HOUR, HOUR, "PU2", -HOUR, 2 * HOUR,
               "PU3", HOUR, 5 * HOUR, NULL);
  add_schedule(&w, "PS2", "Secondary", NULL);
  add_schedule(&w, "PS3", "Nobody", NULL);
  add_policy(&w, "PP1", "Main", 3, 2);
  add_policy(&w, "PP2", "Other", 2, 0);
  add_policy(&w, "PP3", "Bare", 0, 0);
  /* PU1 on call in PS1 through two policies: one user */
  add_oncall(&w, "PP1", 1, "PS1", "PU1", -HOUR, HOUR, false);
  add_oncall(&w, "PP2", 1, "PS1", "PU1", -HOUR, HOUR, false);
  /* PU2 also in PS1 now (an override next to the layer) */
  add_oncall(&w, "PP1", 1, "PS1", "PU2", -HOUR, 2 * HOUR, false);
  /* PU3's shift in PS1 starts later: not now */
  add_oncall(&w, "PP1", 1, "PS1", "PU3", HOUR, 5 * HOUR, false);
  /* a shift that ended exactly now does not count */
  add_oncall(&w, "PP1", 2, "PS2", "PU4", -5 * HOUR, 0, false);
  /* a user directly on level 3: permanent */
  add_oncall(&w, "PP1", 3, NULL, "PU5", 0, 0, true);
  /* PP2 level 2 only later */
  add_oncall(&w, "PP2", 2, "PS2", "PU6", 10, 20, false);
  /* an entry without a user counts for nobody */
  add_oncall(&w, "PP2", 2, "PS2", NULL, -10, 20, false);
  pd_snapshot_t snap = full_snapshot(&w);
  series_recorder_t rec;
  run(&snap, &rec);
  ck_assert_value(&rec, "count", "schedule-primary-oncall", 2);
  ck_assert_value(&rec, "count", "schedule-secondary-oncall", 0);
  ck_assert_value(&rec, "count", "schedule-nobody-oncall", 0);
  ck_assert_value(&rec, "count", "policy-main-rules", 3);
  ck_assert_value(&rec, "count", "policy-main-loops", 2);
  ck_assert_value(&rec, "count", "policy-main-oncall", 2);
  ck_assert_value(&rec, "count", "policy-main-uncovered_levels", 1);
  ck_assert_value(&rec, "count", "policy-other-oncall", 1);
  ck_assert_value(&rec, "count", "policy-other-uncovered_levels", 1);
  ck_assert_value(&rec, "count", "policy-bare-rules", 0);
  ck_assert_value(&rec, "count", "policy-bare-oncall", 0);
  ck_assert_value(&rec, "count", "policy-bare-uncovered_levels", 0);
  ck_assert_uint_eq(series_count_entity(&rec, PD_ENTITY_POLICY),
                    3 * series_per(PD_ENTITY_POLICY));
  series_recorder_free(&rec);

  /* nobody on call anywhere: every level uncovered */
  pd_oncalls_free(&w.oncalls);
  run(&snap, &rec);
  ck_assert_value(&rec, "count", "policy-main-oncall", 0);
  ck_assert_value(&rec, "count", "policy-main-uncovered_levels", 3);
  ck_assert_value(&rec, "count", "policy-other-uncovered_levels", 2);
  series_recorder_free(&rec);
  world_free(&w);
}
END_TEST

START_TEST(test_oncall_is_now) {
  pd_oncall_t o = {.start = NOW - 10, .end = NOW + 10};
  ck_assert(pd_oncall_is_now(&o, NOW));
  ck_assert(pd_oncall_is_now(&o, NOW - 10));
  ck_assert(!pd_oncall_is_now(&o, NOW + 10));
  o.start = 0;
  ck_assert(pd_oncall_is_now(&o, NOW - 1000));
  o.end = 0;
  ck_assert(pd_oncall_is_now(&o, NOW + 1000000));
}
END_TEST

/* --- names ---------------------------------------------------------------- */

START_TEST(test_names_collisions_and_ids) {
  world_t w = {0};
  add_service(&w, "PWEB1", "Web API", PD_SERVICE_ACTIVE, NULL);
  add_service(&w, "PWEB2", "web-api", PD_SERVICE_CRITICAL, NULL);
  add_service(&w, "PSYM", "!!!", PD_SERVICE_ACTIVE, NULL);
  add_service(&w, "PDB", "Database", PD_SERVICE_ACTIVE, NULL);
  /* collisions are per kind: a team may share a service's name */
  add_team(&w, "PT1", "Database");
  add_policy(&w, "PP1", "Web API", 1, 0);
  add_incident(&w.open, "Q1", "PWEB2", PD_INCIDENT_TRIGGERED, PD_URGENCY_HIGH,
               NOW - 1);
  pd_snapshot_t snap = full_snapshot(&w);
  series_recorder_t rec;
  run(&snap, &rec);
  ck_assert_value(&rec, "gauge", "service-web_api_pweb1-status", 0);
  ck_assert_value(&rec, "gauge", "service-web_api_pweb2-status", 2);
  ck_assert_value(&rec, "count", "service-web_api_pweb2-triggered", 1);
  ck_assert(!has_series(&rec, "service-web_api-status"));
  ck_assert_value(&rec, "gauge", "service-psym-status", 0);
  ck_assert_value(&rec, "gauge", "service-database-status", 0);
  ck_assert_value(&rec, "count", "team-database-triggered", 0);
  ck_assert_value(&rec, "count", "policy-web_api-rules", 1);
  series_recorder_free(&rec);

  snap.instance_by = PD_INSTANCE_BY_ID;
  run(&snap, &rec);
  ck_assert_value(&rec, "gauge", "service-pweb1-status", 0);
  ck_assert_value(&rec, "gauge", "service-pweb2-status", 2);
  ck_assert_value(&rec, "gauge", "service-pdb-status", 0);
  ck_assert_value(&rec, "count", "team-pt1-acknowledged", 0);
  ck_assert_value(&rec, "count", "policy-pp1-loops", 0);
  ck_assert_value(&rec, "count", "service-pweb2-triggered", 1);
  series_recorder_free(&rec);
  world_free(&w);
}
END_TEST

START_TEST(test_long_names_fit) {
  world_t w = {0};
  char name[PD_NAME_MAX + 1];
  memset(name, 'x', PD_NAME_MAX);
  name[PD_NAME_MAX] = '\0';
  /* two 255-byte names that collide after the cut to 64 */
  add_policy(&w, "PPOLICYAAAAAAAAAAAAAAAAAAAAAAAA1", name, 1, 0);
  name[200] = 'y';
  add_policy(&w, "PPOLICYAAAAAAAAAAAAAAAAAAAAAAAA2", name, 1, 0);
  pd_snapshot_t snap = full_snapshot(&w);
  series_recorder_t rec;
  run(&snap, &rec); /* asserts no emit was refused */
  ck_assert_uint_eq(series_count_entity(&rec, PD_ENTITY_POLICY),
                    2 * series_per(PD_ENTITY_POLICY));
  char ti[PD_TYPE_INSTANCE_MAX] = "policy-";
  memset(ti + 7, 'x', 64);
  ti[7 + 64] = '\0';
  strcat(ti, "_ppolicyaaaaaaaaaaaaaaaaaaaaaaaa2-uncovered_levels");
  ck_assert_value(&rec, "count", ti, 1);
  series_recorder_free(&rec);
  world_free(&w);
}
END_TEST

/* --- notifications (pd_alerts) -------------------------------------------- */

typedef struct {
  pd_notif_severity_t severity;
  char host[64], plugin_instance[64], type[64], type_instance[128];
  char message[PD_NOTIF_MESSAGE_MAX];
  time_t time;
} rec_notif_t;

typedef struct {
  rec_notif_t items[64];
  size_t num;
} notif_recorder_t;

static int record_notif(void *ctx, const pd_notification_t *n) {
  notif_recorder_t *r = ctx;
  ck_assert_uint_lt(r->num, 64);
  ck_assert_uint_lt(strlen(n->message), PD_NOTIF_MESSAGE_MAX);
  rec_notif_t *x = &r->items[r->num++];
  x->severity = n->severity;
  x->time = n->time;
  snprintf(x->host, sizeof(x->host), "%s", n->host);
  snprintf(x->plugin_instance, sizeof(x->plugin_instance), "%s",
           n->plugin_instance);
  snprintf(x->type, sizeof(x->type), "%s", n->type);
  snprintf(x->type_instance, sizeof(x->type_instance), "%s", n->type_instance);
  snprintf(x->message, sizeof(x->message), "%s", n->message);
  return 0;
}

/* Runs one cycle of alerts on the snapshot; the notifications land in r. */
static int alert_cycle(pd_alerts_t *a, const pd_snapshot_t *snap,
                       notif_recorder_t *r) {
  r->num = 0;
  pd_readings_t readings;
  ck_assert_int_eq(pd_readings_compute(snap, &readings), 0);
  pd_notification_sink_t sink = {.emit = record_notif, .ctx = r};
  int sent = pd_alerts_update(a, &readings, "pdhost", "acme", &sink);
  pd_readings_free(&readings);
  ck_assert_int_eq(sent, (int)r->num);
  return sent;
}

static const rec_notif_t *find_notif(const notif_recorder_t *r,
                                     const char *type_instance) {
  for (size_t i = 0; i < r->num; i++)
    if (strcmp(r->items[i].type_instance, type_instance) == 0)
      return &r->items[i];
  return NULL;
}

static void set_status(world_t *w, const char *id, pd_service_status_t s) {
  for (size_t i = 0; i < w->services.num; i++)
    if (strcmp(w->services.items[i].id, id) == 0)
      w->services.items[i].status = s;
}

START_TEST(test_alerts_services) {
  pd_alerts_t *a = pd_alerts_create();
  ck_assert_ptr_nonnull(a);
  world_t w = {0};
  add_service(&w, "PA", "Checkout API", PD_SERVICE_CRITICAL, NULL);
  add_service(&w, "PB", "Quiet", PD_SERVICE_ACTIVE, NULL);
  pd_snapshot_t snap = full_snapshot(&w);
  snap.collect = PD_COLLECT_SERVICES;
  notif_recorder_t r;

  /* first cycle: the critical one is reported, no OKAY for the quiet one */
  ck_assert_int_eq(alert_cycle(a, &snap, &r), 1);
  const rec_notif_t *n = &r.items[0];
  ck_assert_int_eq(n->severity, PD_NOTIF_FAILURE);
  ck_assert_str_eq(n->host, "pdhost");
  ck_assert_str_eq(n->plugin_instance, "acme");
  ck_assert_str_eq(n->type, "gauge");
  ck_assert_str_eq(n->type_instance, "service-checkout_api-status");
  ck_assert_ptr_nonnull(strstr(n->message, "Checkout API"));
  ck_assert_ptr_nonnull(strstr(n->message, "critical"));
  ck_assert_int_eq(n->time, NOW);

  /* unchanged: nothing */
  ck_assert_int_eq(alert_cycle(a, &snap, &r), 0);

  /* recovers (critical -> warning): OKAY */
  set_status(&w, "PA", PD_SERVICE_WARNING);
  ck_assert_int_eq(alert_cycle(a, &snap, &r), 1);
  ck_assert_int_eq(r.items[0].severity, PD_NOTIF_OKAY);
  ck_assert_ptr_nonnull(strstr(r.items[0].message, "warning"));

  /* the services collection failed this cycle: states kept, silence */
  set_status(&w, "PA", PD_SERVICE_CRITICAL);
  set_status(&w, "PB", PD_SERVICE_CRITICAL);
  pd_snapshot_t failed = snap;
  failed.services = NULL;
  ck_assert_int_eq(alert_cycle(a, &failed, &r), 0);
  /* back: both changed since the last known state */
  ck_assert_int_eq(alert_cycle(a, &snap, &r), 2);
  ck_assert_int_eq(r.items[0].severity, PD_NOTIF_FAILURE);
  ck_assert_int_eq(r.items[1].severity, PD_NOTIF_FAILURE);
  ck_assert_ptr_nonnull(find_notif(&r, "service-quiet-status"));

  /* Notifications only about what is collected */
  pd_snapshot_t other = snap;
  other.collect = PD_COLLECT_INCIDENTS;
  set_status(&w, "PA", PD_SERVICE_ACTIVE);
  ck_assert_int_eq(alert_cycle(a, &other, &r), 0);
  pd_alerts_destroy(a);
  world_free(&w);
}
END_TEST

START_TEST(test_alerts_schedule_gap) {
  pd_alerts_t *a = pd_alerts_create();
  world_t w = {0};
  add_schedule(&w, "PS1", "Payments Primary", "PU1", -DAY, 3 * DAY, "PU2",
               3 * DAY + 6 * HOUR, 8 * DAY, NULL);
  add_schedule(&w, "PS2", "Covered", "PU1", -DAY, 8 * DAY, NULL);
  pd_snapshot_t snap = full_snapshot(&w);
  snap.collect = PD_COLLECT_SCHEDULES;
  notif_recorder_t r;

  ck_assert_int_eq(alert_cycle(a, &snap, &r), 1);
  const rec_notif_t *n = &r.items[0];
  ck_assert_int_eq(n->severity, PD_NOTIF_WARNING);
  ck_assert_str_eq(n->type, "duration");
  ck_assert_str_eq(n->type_instance, "schedule-payments_primary-gap");
  ck_assert_ptr_nonnull(strstr(n->message, "Payments Primary"));
  /* NOW + 3 days = 2027-01-18T08:00:00Z; + 6 h */
  ck_assert_msg(strstr(n->message, "2027-01-18T08:00:00Z") != NULL &&
                    strstr(n->message, "2027-01-18T14:00:00Z") != NULL,
                "message: %s", n->message);
  ck_assert_int_eq(alert_cycle(a, &snap, &r), 0);

  /* a narrower window sees no gap any more: covered again */
  snap.coverage_window_s = 2 * DAY;
  ck_assert_int_eq(alert_cycle(a, &snap, &r), 1);
  ck_assert_int_eq(r.items[0].severity, PD_NOTIF_OKAY);
  ck_assert_str_eq(r.items[0].type_instance, "schedule-payments_primary-gap");

  /* without the schedules, schedules are not judged */
  snap.coverage_window_s = WEEK;
  snap.schedules = NULL;
  ck_assert_int_eq(alert_cycle(a, &snap, &r), 0);
  pd_alerts_destroy(a);
  world_free(&w);
}
END_TEST

START_TEST(test_alerts_policy_level1) {
  pd_alerts_t *a = pd_alerts_create();
  world_t w = {0};
  add_policy(&w, "PP1", "Web Escalation", 2, 0);
  add_policy(&w, "PP2", "Fine", 1, 0);
  add_oncall(&w, "PP1", 2, "PS2", "PU2", -HOUR, HOUR, false);
  add_oncall(&w, "PP2", 1, "PS3", "PU3", -HOUR, HOUR, false);
  pd_snapshot_t snap = full_snapshot(&w);
  snap.collect = PD_COLLECT_ONCALLS;
  notif_recorder_t r;
  ck_assert_int_eq(alert_cycle(a, &snap, &r), 1);
  ck_assert_int_eq(r.items[0].severity, PD_NOTIF_FAILURE);
  ck_assert_str_eq(r.items[0].type, "count");
  ck_assert_str_eq(r.items[0].type_instance, "policy-web_escalation-oncall");
  ck_assert_ptr_nonnull(strstr(r.items[0].message, "Web Escalation"));
  ck_assert_ptr_nonnull(strstr(r.items[0].message, "level 1"));

  add_oncall(&w, "PP1", 1, "PS1", "PU1", -HOUR, HOUR, false);
  ck_assert_int_eq(alert_cycle(a, &snap, &r), 1);
  ck_assert_int_eq(r.items[0].severity, PD_NOTIF_OKAY);

  /* the policy leaves the scope and comes back uncovered: a new FAILURE */
  pd_policies_t saved = w.policies;
  w.policies = (pd_policies_t){0};
  add_policy(&w, "PP2", "Fine", 1, 0);
  ck_assert_int_eq(alert_cycle(a, &snap, &r), 0);
  pd_policies_free(&w.policies);
  w.policies = saved;
  pd_oncalls_free(&w.oncalls);
  add_oncall(&w, "PP2", 1, "PS3", "PU3", -HOUR, HOUR, false);
  ck_assert_int_eq(alert_cycle(a, &snap, &r), 1);
  ck_assert_int_eq(r.items[0].severity, PD_NOTIF_FAILURE);
  pd_alerts_destroy(a);
  world_free(&w);
}
END_TEST

/* An unknown schedule (its detail failed this round) keeps the values it
 * had at known_at and raises no notification. */
START_TEST(test_unknown_schedule_keeps_last_values) {
  pd_alerts_t *a = pd_alerts_create();
  world_t w = {0};
  add_schedule(&w, "PS1", "Gappy", "PU1", -HOUR, 2 * HOUR, "PU2", 3 * HOUR,
               8 * DAY, NULL);
  pd_snapshot_t snap = full_snapshot(&w);
  snap.collect = PD_COLLECT_SCHEDULES | PD_COLLECT_ONCALLS;
  notif_recorder_t r;
  series_recorder_t rec;
  /* known at NOW: a WARNING for the gap */
  ck_assert_int_eq(alert_cycle(a, &snap, &r), 1);

  /* two hours later, unknown: the values at NOW, and no OKAY although
   * the gap (2 h to 3 h) is no longer ahead at NOW + 3 h */
  w.schedules.items[0].unknown = true;
  w.schedules.items[0].known_at = NOW;
  snap.now = NOW + 3 * HOUR;
  run(&snap, &rec);
  ck_assert_value(&rec, "count", "schedule-gappy-oncall", 1);
  ck_assert_value(&rec, "duration", "schedule-gappy-gap", HOUR);
  ck_assert_value(&rec, "duration", "schedule-gappy-next_gap", 2 * HOUR);
  ck_assert_value(&rec, "duration", "schedule-gappy-next_handoff", 2 * HOUR);
  series_recorder_free(&rec);
  ck_assert_int_eq(alert_cycle(a, &snap, &r), 0);
  ck_assert_int_eq(alert_cycle(a, &snap, &r), 0);

  /* known again: computed at now; covered, so OKAY */
  w.schedules.items[0].unknown = false;
  ck_assert_int_eq(alert_cycle(a, &snap, &r), 1);
  ck_assert_int_eq(r.items[0].severity, PD_NOTIF_OKAY);

  /* unknown while never judged before: nothing (no state to keep) */
  pd_alerts_destroy(a);
  a = pd_alerts_create();
  w.schedules.items[0].unknown = true;
  snap.now = NOW;
  ck_assert_int_eq(alert_cycle(a, &snap, &r), 0);
  w.schedules.items[0].unknown = false;
  ck_assert_int_eq(alert_cycle(a, &snap, &r), 1);
  pd_alerts_destroy(a);
  world_free(&w);
}
END_TEST

START_TEST(test_alerts_long_name_cut_on_utf8) {
  pd_alerts_t *a = pd_alerts_create();
  world_t w = {0};
  /* 127 two-byte characters (254 bytes) */
  char name[PD_NAME_MAX + 1] = "";
  for (int i = 0; i < 127; i++)
    strcat(name, "\xc3\xa9");
  add_schedule(&w, "PS1", name, NULL);
  pd_snapshot_t snap = full_snapshot(&w);
  snap.collect = PD_COLLECT_SCHEDULES;
  notif_recorder_t r;
  ck_assert_int_eq(alert_cycle(a, &snap, &r), 1);
  const char *m = r.items[0].message;
  /* both times survive, and no character is split */
  ck_assert_ptr_nonnull(strstr(m, "2027-01-15T08:00:00Z"));
  ck_assert_ptr_nonnull(strstr(m, "2027-01-22T08:00:00Z"));
  for (const unsigned char *p = (const unsigned char *)m; *p; p++)
    if (*p == 0xc3)
      ck_assert_int_eq(p[1], 0xa9);
  pd_alerts_destroy(a);
  world_free(&w);
}
END_TEST

static Suite *readmetrics_suite(void) {
  Suite *s = suite_create("readmetrics");
  TCase *tc = tcase_create("metrics");
  tcase_add_test(tc, test_incident_counts_and_oldest);
  tcase_add_test(tc, test_incidents_none_are_zeros);
  tcase_add_test(tc, test_dedupe_incident_recs);
  tcase_add_test(tc, test_services_every_series);
  tcase_add_test(tc, test_missing_collections_silence_their_series);
  tcase_add_test(tc, test_collect_selects_series);
  tcase_add_test(tc, test_every_series_of_the_table);
  tcase_add_test(tc, test_team_counts);
  tcase_add_test(tc, test_coverage_full);
  tcase_add_test(tc, test_coverage_gap_inside);
  tcase_add_test(tc, test_coverage_uncovered_now);
  tcase_add_test(tc, test_coverage_overlaps_and_order);
  tcase_add_test(tc, test_coverage_trailing_gap_and_userless);
  tcase_add_test(tc, test_handoff_rules);
  tcase_add_test(tc, test_schedule_series);
  tcase_add_test(tc, test_shift_based_union);
  tcase_add_test(tc, test_oncall_counts);
  tcase_add_test(tc, test_oncall_is_now);
  tcase_add_test(tc, test_names_collisions_and_ids);
  tcase_add_test(tc, test_long_names_fit);
  suite_add_tcase(s, tc);

  tc = tcase_create("alerts");
  tcase_add_test(tc, test_alerts_services);
  tcase_add_test(tc, test_alerts_schedule_gap);
  tcase_add_test(tc, test_unknown_schedule_keeps_last_values);
  tcase_add_test(tc, test_alerts_policy_level1);
  tcase_add_test(tc, test_alerts_long_name_cut_on_utf8);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(readmetrics_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
