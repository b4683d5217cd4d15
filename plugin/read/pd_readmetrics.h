/* SPDX-License-Identifier: MIT */
/*
 * pd_readmetrics.h - every doc/contract.md §4 series of the read side, computed
 * from a snapshot of what one cycle collected.
 *
 * Pure: no I/O, no clock. pd_collect fills a pd_snapshot_t (tests craft
 * one), pd_readings_compute() turns it into per-entity readings at the
 * snapshot's `now`, pd_readings_emit() hands them to a metric batch and
 * pd_alerts (doc/contract.md §5) reads the same readings for its state changes.
 *
 * Which series exist, the Collect keyword behind each and what each one
 * needs from the snapshot are in one table, pd_series.def: a collection
 * that is NULL - not collected, not needed, or failed this cycle - silences
 * exactly the series whose group needs it, never others. The readings are
 * computed here; the table says which field of them each series is, and
 * pd_readings_emit() names and emits them through it.
 *
 * Definitions (doc/contract.md §4, and the choices where it is silent):
 *  - "On call now" is an on-call entry with start <= now < end (a null
 *    start or end is open-ended: permanently on call). Entries without a
 *    user do not count.
 *  - schedule oncall: distinct users the schedule's final schedule has on
 *    call now (layer-based and shift-based alike; a shift-based one may
 *    have several people on call at once). A schedule no policy uses
 *    counts too.
 *  - coverage / gap / next_gap: [now, now + CoverageWindow) against the
 *    union of the final schedule's entries that name a user (entries may
 *    overlap or touch; shift-based empty_member entries name nobody).
 *    next_gap is CoverageWindow when fully covered and 0 when nobody is on
 *    call now.
 *  - an unknown schedule (offered, but its detail failed this round) gets
 *    the values computed at its known_at: the ones it last had.
 *  - next_handoff: for each user the final schedule has on call now, the
 *    end of that user's unbroken stretch (touching or overlapping entries
 *    of the same user are one shift); the earliest of those ends, minus
 *    now: the next moment somebody on call hands over. 0 when nobody is on
 *    call now. A shift reaching past the rendered window counts as ending
 *    there.
 *  - policy oncall: distinct users on call now at level 1; uncovered_levels:
 *    rules (level = index + 1) with no user on call now.
 *  - team counts: open incidents of services that list the team (a service
 *    in two teams counts for both). Incidents of services not in the
 *    snapshot count only in the account-wide incidents-* series.
 *  - A service whose status PagerDuty sent as something unknown gets no
 *    status gauge and counts in no services-<status> series.
 * Every in-scope entity gets all of its series, zeros included.
 */
#ifndef PD_READMETRICS_H
#define PD_READMETRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "pd_config.h"
#include "pd_http.h"
#include "pd_metrics.h"
#include "pd_model.h"
#include "pd_names.h"
#include "pd_series.h"

/* One incident, as much of it as the metrics need (80 bytes: the large
 * scenario keeps 12,500 open ones). */
typedef struct {
  pd_id_t id;
  pd_id_t service_id;
  time_t created_at;     /* 0 when PagerDuty sent none */
  unsigned char status;  /* pd_incident_status_t */
  unsigned char urgency; /* pd_urgency_t */
} pd_incident_rec_t;

typedef struct {
  pd_incident_rec_t *items;
  size_t num, cap;
} pd_incident_recs_t;

/* Appends the compact form of an incident; -1 on allocation failure. */
int pd_incident_recs_push(pd_incident_recs_t *v, const pd_incident_t *inc);
/* Sorts by ID and drops repeats (an incident seen on two pages). */
void pd_incident_recs_dedupe(pd_incident_recs_t *v);
void pd_incident_recs_free(pd_incident_recs_t *v);

/* Layer-based (GET /schedules) or shift-based (GET /v3/schedules). */
typedef enum { PD_SCHEDULE_LAYERS = 0, PD_SCHEDULE_SHIFTS } pd_schedule_kind_t;

/*
 * A schedule and its final schedule, as pd_collect's cache keeps it
 * between detail reads (pd_collect.h). Only `offered` records are series;
 * an `unknown` one (its detail could not be read this round) is computed at
 * known_at, so it keeps the values it last had (doc/contract.md §4).
 */
typedef struct {
  pd_schedule_t schedule;
  pd_schedule_entries_t entries; /* the final schedule of [.., until) */
  pd_schedule_kind_t kind;
  bool listed;         /* in the last listing */
  bool read;           /* a detail was read at least once */
  bool unknown;        /* the last detail request failed */
  bool logged_unknown; /* that was logged (so its recovery is, too) */
  bool offered; /* listed, read and in scope: its series are dispatched */
  double fetched_mono; /* when the entries were read (monotonic) */
  time_t until;        /* end of the entries' window */
  time_t known_at;     /* the last cycle's now while it was known */
} pd_schedule_rec_t;

typedef struct {
  pd_schedule_rec_t *items;
  size_t num, cap;
} pd_schedule_recs_t;

/* Takes ownership of *entries (left empty) and deep-copies the schedule;
 * the record is offered and known at any time. -1 on allocation failure
 * (then nothing is taken). */
int pd_schedule_recs_push(pd_schedule_recs_t *v, const pd_schedule_t *s,
                          pd_schedule_entries_t *entries);
/* The record with this ID, or NULL; v must be sorted (dedupe). */
pd_schedule_rec_t *pd_schedule_recs_find(pd_schedule_recs_t *v, const char *id);
/* Sorts by ID and drops repeats. */
void pd_schedule_recs_dedupe(pd_schedule_recs_t *v);
void pd_schedule_recs_free(pd_schedule_recs_t *v);

/*
 * What one cycle knows. Every collection pointer is NULL when it is not
 * available (pd_series.def says which series need it). Entities are the
 * in-scope ones; the arrays need not be sorted but IDs must be unique per kind
 * (dedupe first).
 */
typedef struct {
  time_t now;
  double coverage_window_s; /* CoverageWindow */
  pd_instance_by_t instance_by;
  unsigned collect; /* PD_COLLECT_* bits: which series to produce */

  const pd_services_t *services;
  const pd_incident_recs_t *open_incidents; /* triggered + acknowledged */
  const pd_incident_recs_t *created;        /* created within TrendWindow */
  const pd_teams_t *teams;
  /* the offered records' entries are their final schedule for (at least)
   * [now, now + window), or [known_at, known_at + window) when unknown */
  const pd_schedule_recs_t *schedules;
  const pd_oncalls_t *oncalls;
  const pd_policies_t *policies;
} pd_snapshot_t;

/* Coverage of [now, now + window) by a final schedule. */
typedef struct {
  double coverage_pct;   /* 0..100 */
  double gap_s;          /* uncovered seconds */
  double next_gap_s;     /* until the first uncovered moment; window if none */
  double next_handoff_s; /* until the current shift ends; 0: nobody now */
  time_t gap_start, gap_end; /* the first uncovered stretch; both 0: none */
} pd_coverage_t;

/* Exported for tests only. */
void pd_coverage_compute(const pd_schedule_entry_t *entries, size_t num,
                         time_t now, double window_s, pd_coverage_t *out);

/* Is this on-call entry on call at `now`?
 * Exported for tests only. */
bool pd_oncall_is_now(const pd_oncall_t *oncall, time_t now);

typedef struct {
  const pd_service_t *service;
  char instance[PD_INSTANCE_NAME_MAX + 1];
  long triggered, acknowledged, high_urgency, created;
} pd_service_reading_t;

typedef struct {
  const pd_team_t *team;
  char instance[PD_INSTANCE_NAME_MAX + 1];
  long triggered, acknowledged;
} pd_team_reading_t;

typedef struct {
  const pd_schedule_rec_t *rec;
  char instance[PD_INSTANCE_NAME_MAX + 1];
  long oncall;
  pd_coverage_t coverage;
  bool unknown; /* last values kept: no notification may follow from them */
} pd_schedule_reading_t;

typedef struct {
  const pd_policy_t *policy;
  char instance[PD_INSTANCE_NAME_MAX + 1];
  long oncall_level1;
  long uncovered_levels;
} pd_policy_reading_t;

/*
 * The computed values; entity pointers point into the snapshot, which must
 * outlive the readings. Entity arrays are in ID order.
 */
typedef struct {
  time_t now;
  double coverage_window_s;
  bool has[PD_GROUP_NUM]; /* the groups of series (pd_series.def) it holds */

  /* [pd_incident_status_t triggered/acknowledged][pd_urgency_t high/low] */
  long incidents[2][2];
  double oldest_s[2]; /* age of the oldest triggered / acknowledged */
  long services_by_status[PD_SERVICE_STATUS_NUM];

  pd_service_reading_t *services;
  size_t services_num;
  pd_team_reading_t *teams;
  size_t teams_num;
  pd_schedule_reading_t *schedules;
  size_t schedules_num;
  pd_policy_reading_t *policies;
  size_t policies_num;
} pd_readings_t;

/* The api-* self-metrics of one cycle (group API of pd_series.def), from
 * the account's HTTP counters. */
typedef struct {
  pd_http_stats_t http; /* the counters now, since the account started */
  double latency_s;     /* mean latency of the last cycle with requests */
  bool up;              /* the last cycle fully succeeded */
  double cycle_s;       /* wall time of the last cycle */
  uint64_t resync_corrections;
} pd_api_reading_t;

/* Computes everything the snapshot allows. Returns 0, or -1 when memory
 * runs out or instance names cannot be assigned (out is then empty). */
int pd_readings_compute(const pd_snapshot_t *snap, pd_readings_t *out);

/* Emits every series the readings hold. */
void pd_readings_emit(const pd_readings_t *r, pd_metric_batch_t *batch);

/* Emits the api-* series (a ratelimit_remaining of -1, never seen: none). */
void pd_api_reading_emit(const pd_api_reading_t *api, pd_metric_batch_t *batch);

void pd_readings_free(pd_readings_t *r);

#endif /* PD_READMETRICS_H */
