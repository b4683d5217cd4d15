/* SPDX-License-Identifier: MIT */
/*
 * pd_collect.h - what the read side asks PagerDuty, and when.
 *
 * One pd_collect_t per account decides, each cycle, which requests the
 * configured series need (Collect), makes them one at a time through the
 * account's REST endpoint (pd_rest_fetch: streaming parse, failure
 * logging, 429 waits),
 * and keeps the results as the snapshot pd_readmetrics computes from.
 *
 * What is fetched, and how often:
 *   every Interval      GET /services                   (services, teams)
 *                       GET /incidents open set          (services,
 *                           statuses[]=triggered&acknowledged,  incidents,
 *                           date_range=all                      teams)
 *                       GET /incidents since=now-TrendWindow-1d,
 *                           until=now+1d (kept: created_at in
 *                           [now-TrendWindow, now))        (services)
 *   every SlowInterval  GET /teams                       (teams; and to
 *     (cached, the          resolve Team names while any is unresolved)
 *     series re-        GET /schedules (layer-based; team_ids[]) and
 *     computed each         GET /v3/schedules (shift-based; no team
 *     cycle at the          filter): the lists, which never carry final
 *     current now)          schedules                (schedules, oncalls)
 *                       GET /schedules/{id}?since&until&time_zone=UTC or
 *                           GET /v3/schedules/{id}?since&until&include[]=
 *                           final_schedule, per schedule: since=now,
 *                           until=now+CoverageWindow+2 SlowInterval
 *                           +2 Interval; all never read (or whose window
 *                           no longer holds) at once, the due ones (a
 *                           SlowInterval old) oldest first, at most
 *                           ceil(N*Interval/SlowInterval) a cycle
 *                                                    (schedules, oncalls)
 *                       GET /escalation_policies        (policies, oncalls)
 *                       GET /oncalls since=now, until=now+SlowInterval
 *                           + 2 Interval: every shift of that stretch, so
 *                           "on call now" stays right between refreshes
 *                                                                (oncalls)
 * With FullSyncInterval > 0 the two GET /incidents above are made only in
 * the first cycle and every FullSyncInterval (the open set then per batch
 * of service_ids[], or by team_ids[] alone with Team); the other cycles
 * read GET /log_entries since the last cycle and list again the open
 * incidents of just the services it names (pd_incremental.h), falling back
 * to the full read when that cannot be proven complete. Without Team,
 * GET /services is then made every SlowInterval and with every full read,
 * together with GET /maintenance_windows?filter=open; each cycle derives
 * the services' status from them and the open incidents
 * (pd_service_status.h). Either failing fails the services for the cycle
 * (both are read again the next). With Team, GET /services stays every
 * Interval (the open incidents are then the in-scope teams', which need
 * not be all of an in-scope service's).
 *
 * The windows reach past the next refresh, so a series re-computed from the
 * cache later in the SlowInterval still looks at [now, now+CoverageWindow).
 * Every list is paged with limit=100 and deduplicated by ID (on-calls by
 * their whole content); `total` is asked only with the first page of an
 * incident listing (the 10,000 cap, below): counting needs every item
 * anyway, for the per-service and per-team series and for dedupe.
 *
 * Team scoping: with Team set, the configured values (IDs or exact names)
 * are resolved against GET /teams at the first cycle; every listing then
 * carries team_ids[], and GET /oncalls (which has no team filter) carries
 * escalation_policy_ids[] of the in-scope policies, 50 per request. A
 * value that matches no team is an ERROR naming it (retried every
 * SlowInterval; the cycle counts as failed meanwhile).
 *
 * More than 10,000 incidents (offset + limit may not pass 10,000): each
 * incident listing asks for its total with its first page; past the cap it
 * is split by status x urgency, then by batches of service_ids[] (halved
 * down to one service; their totals must add up), then one service's open
 * incidents of one status and urgency by created_at windows (until they
 * add up to the total). sort_by and the server's reading of since/until
 * are never relied on: times go in UTC, a day wider than needed, and
 * created_at is filtered here. A split that cannot be proven complete
 * fails the collection (an ERROR; no values). Repeats are dropped by ID.
 *
 * Shift-based schedules are scoped by the teams of their detail (the v3
 * listing has no documented team filter). A schedule whose detail fails is
 * unknown on its own: its series keep the values of its last known cycle
 * (pd_readmetrics.h), it raises no notification, and the change is logged
 * once per schedule (its requests' failures are not logged per request).
 *
 * Failure semantics: a collection is all or nothing. When any of its
 * requests fails (HTTP error, timeout, reset, truncated or malformed body)
 * the cycle does not offer it: the series that need it are not dispatched
 * this cycle, a cached collection is dropped and fetched again next cycle
 * (the next cycle starts clean). After a failure of the connection itself
 * or of the token (no HTTP answer, 401) the cycle makes no further
 * requests. pd_collect_run() returns -1 for any of these: api-up 0.
 */
#ifndef PD_COLLECT_H
#define PD_COLLECT_H

#include <stdint.h>
#include <time.h>

#include "pd_config.h"
#include "pd_readmetrics.h"
#include "pd_rest.h"

/* Longest since..until span of one incident listing (the API allows 6
 * months; 180 days is within every 6 months). */
#define PD_INCIDENT_RANGE_MAX_S (180 * 86400)
/* Escalation policy IDs per GET /oncalls when scoped by Team. */
#define PD_ONCALL_POLICY_CHUNK 50

typedef struct pd_collect_s pd_collect_t;

/* NULL on allocation failure. */
pd_collect_t *pd_collect_create(const pd_account_config_t *cfg);
void pd_collect_destroy(pd_collect_t *c);

/* Drops every cached collection (after a token change: another user may
 * see other things). */
void pd_collect_invalidate(pd_collect_t *c);

/* Differences the FullSyncInterval resyncs found that the log did not
 * explain (derive-api-resync_corrections; pd_incremental.h). */
uint64_t pd_collect_resync_corrections(const pd_collect_t *c);

/*
 * Runs one cycle's requests through rest at wall-clock time `now`, for a
 * read interval of interval_s, and fills snap with what is available;
 * snap points into c and stays valid until the next call. Returns 0 when
 * every collection the configured series need is available, -1 otherwise.
 */
int pd_collect_run(pd_collect_t *c, pd_rest_t *rest, double interval_s,
                   time_t now, pd_snapshot_t *snap);

#endif /* PD_COLLECT_H */
