/* SPDX-License-Identifier: MIT */
/*
 * fuzz_parse.c - libFuzzer target: one endpoint's streaming response parser
 * (pd_parse.h). Built once per endpoint with -DFUZZ_KIND=PD_PARSE_...
 *
 * The input is a response body. It is parsed twice: whole, and fed in small
 * chunks whose size depends on the input's length, because the parser is
 * streaming and chunk boundaries must not change the outcome. Every entity
 * is deep-copied the way the collector keeps it. Checked beyond "no crash":
 * both parses agree (counts, pagination, coverage, and how many schedule
 * entries name nobody: a shift-based empty_member), and a successful parse
 * delivered only valid IDs.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chunked_feed.h"
#include "fuzz_common.h"
#include "pd_model.h"
#include "pd_parse.h"

#ifndef FUZZ_KIND
#error "build with -DFUZZ_KIND=PD_PARSE_..."
#endif

typedef struct {
  pd_teams_t teams;
  pd_services_t services;
  pd_incidents_t incidents;
  pd_schedules_t schedules;
  pd_schedule_entries_t entries;
  pd_oncalls_t oncalls;
  pd_policies_t policies;
  pd_log_entries_t log_entries;
  pd_maintenance_windows_t windows;
  size_t users;
  size_t nobody; /* schedule entries without a user */
} kept_t;

static void require_id(const char *id) {
  require(pd_id_is_valid(id, strlen(id)));
}

static void require_id_or_empty(const char *id) {
  if (id[0] != '\0')
    require_id(id);
}

static int on_user(void *ctx, const pd_user_t *u) {
  require_id(u->id);
  ((kept_t *)ctx)->users++;
  return 0;
}
static int on_team(void *ctx, const pd_team_t *t) {
  require_id(t->id);
  return pd_teams_push(&((kept_t *)ctx)->teams, t);
}
static int on_service(void *ctx, const pd_service_t *s) {
  require_id(s->id);
  return pd_services_push(&((kept_t *)ctx)->services, s);
}
static int on_incident(void *ctx, const pd_incident_t *i) {
  require_id(i->id);
  require_id_or_empty(i->service_id);
  return pd_incidents_push(&((kept_t *)ctx)->incidents, i);
}
static int on_schedule(void *ctx, const pd_schedule_t *s) {
  require_id(s->id);
  return pd_schedules_push(&((kept_t *)ctx)->schedules, s);
}
static int on_entry(void *ctx, const pd_schedule_entry_t *e) {
  require_id_or_empty(e->user_id);
  if (e->user_id[0] == '\0')
    ((kept_t *)ctx)->nobody++;
  return pd_schedule_entries_push(&((kept_t *)ctx)->entries, e);
}
static int on_oncall(void *ctx, const pd_oncall_t *o) {
  require_id(o->escalation_policy_id);
  require_id_or_empty(o->schedule_id);
  require_id_or_empty(o->user_id);
  return pd_oncalls_push(&((kept_t *)ctx)->oncalls, o);
}
static int on_policy(void *ctx, const pd_policy_t *p) {
  require_id(p->id);
  return pd_policies_push(&((kept_t *)ctx)->policies, p);
}

static int on_log_entry(void *ctx, const pd_log_entry_t *e) {
  require_id(e->id);
  require_id_or_empty(e->service_id);
  require_id_or_empty(e->incident_id);
  require_id_or_empty(e->incident_service_id);
  return pd_log_entries_push(&((kept_t *)ctx)->log_entries, e);
}

static int on_window(void *ctx, const pd_maintenance_window_t *w) {
  require_id(w->id);
  for (size_t i = 0; i < w->service_ids.num; i++)
    require_id(w->service_ids.ids[i]);
  require(w->service_ids.num <= PD_PARSE_MAX_WINDOW_SERVICES);
  return pd_maintenance_windows_push(&((kept_t *)ctx)->windows, w);
}

static void kept_free(kept_t *k) {
  pd_teams_free(&k->teams);
  pd_services_free(&k->services);
  pd_incidents_free(&k->incidents);
  pd_schedules_free(&k->schedules);
  pd_schedule_entries_free(&k->entries);
  pd_oncalls_free(&k->oncalls);
  pd_policies_free(&k->policies);
  pd_log_entries_free(&k->log_entries);
  pd_maintenance_windows_free(&k->windows);
}

/* One parse; chunk 0: the whole body in one call. */
static int parse(const uint8_t *data, size_t size, size_t chunk,
                 pd_parse_result_t *result, size_t *nobody) {
  kept_t kept = {0};
  pd_parse_callbacks_t cb = {
      .ctx = &kept,
      .on_user = on_user,
      .on_team = on_team,
      .on_service = on_service,
      .on_incident = on_incident,
      .on_schedule = on_schedule,
      .on_schedule_entry = on_entry,
      .on_oncall = on_oncall,
      .on_policy = on_policy,
      .on_log_entry = on_log_entry,
      .on_maintenance_window = on_window,
  };
  pd_parser_t *p = pd_parser_create(FUZZ_KIND, &cb);
  require(p != NULL);
  int fed = feed_in_chunks(pd_parser_feed, p, data, size, chunk);
  int rc = pd_parser_finish(p);
  require(fed == 0 || rc != 0); /* a failed feed cannot finish well */
  /* The reason names a path and an offset, never the body: bounded. */
  require(rc == 0 ? pd_parser_error(p)[0] == '\0'
                  : strlen(pd_parser_error(p)) < 1024);
  *result = *pd_parser_result(p);
  *nobody = kept.nobody;
  pd_parser_destroy(p);
  kept_free(&kept);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pd_parse_result_t whole, chunked;
  size_t nobody_whole, nobody_chunked;
  int rc_whole = parse(data, size, 0, &whole, &nobody_whole);
  int rc_chunked = parse(data, size, 1 + size % 7, &chunked, &nobody_chunked);
  require(rc_whole == rc_chunked);
  if (rc_whole == 0) {
    require(whole.entities == chunked.entities);
    require(whole.entries == chunked.entries);
    require(whole.more == chunked.more && whole.limit == chunked.limit &&
            whole.offset == chunked.offset && whole.total == chunked.total);
    require(nobody_whole == nobody_chunked);
    /* Same coverage, or unknown (NAN) in both. */
    require(isnan(whole.coverage_percentage)
                ? isnan(chunked.coverage_percentage) != 0
                : whole.coverage_percentage == chunked.coverage_percentage);
  }
  return 0;
}
