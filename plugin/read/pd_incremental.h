/* SPDX-License-Identifier: MIT */
/*
 * pd_incremental.h - the incremental read's state: the log cursor, the
 * entries already seen, the listings a concurrent change may have shifted,
 * and the resync's corrections. No HTTP here (pd_collect makes the
 * requests), so every rule below is unit-tested on its own.
 *
 * After one full read, a cycle reads GET /log_entries?since=<cursor -
 * overlap>&include[]=incidents, newest first, and pages only until an
 * entry older than cursor - overlap shows (since may be honoured only to
 * the day: doc/pagerduty-api.md). Entries older than that are cut here,
 * each entry ID is taken once (late entries inside the overlap are caught,
 * seen ones are not counted twice). The affected services are each new
 * entry's service, its embedded incident's service, and the service the
 * cache last had its incident on (a move logs only the new one); their
 * open incidents are then listed again with service_ids[] (an exact
 * filter) and replace the cache's incidents of those services.
 *
 * What cannot be proven falls back to a full read (pd_collect): a log
 * read that fails, is not newest first, or reaches the offset cap before
 * the overlap. A listing of several pages is "exposed": a change to one
 * of its services while it was paged may have shifted another incident
 * past its offsets, so an entry written in its paging window lists the
 * whole batch again.
 *
 * Corrections (derive-api-resync_corrections): every FullSyncInterval the
 * cycle runs its incremental step and then a full read; each incident on
 * which the two differ is pending. A pending difference that a later log
 * entry explains (its service is listed again within the overlap: the
 * incident changed while the full read ran, or its entry was late) is
 * dropped; the rest count once the overlap has passed.
 */
#ifndef PD_INCREMENTAL_H
#define PD_INCREMENTAL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "pd_model.h"
#include "pd_readmetrics.h"

/* How far behind the cursor each log read looks: longer than an entry
 * takes to show (doc/pagerduty-api.md: late entries) and than a cycle. */
#define PD_INCR_OVERLAP_S 120

typedef struct {
  pd_id_t id;
  time_t created_at;
} pd_incr_seen_t;

typedef struct {
  pd_idlist_t services;
  time_t from, to; /* when it was paged (whole seconds) */
} pd_incr_exposed_t;

typedef struct {
  pd_id_t id;
  pd_id_t service_a, service_b; /* its service in each read ("" absent) */
} pd_incr_pending_t;

typedef struct {
  bool valid;    /* a full read has set the cursor */
  time_t cursor; /* start of the last successful read */
  time_t overlap_s;
  double full_mono; /* when the last full read was made (monotonic) */

  pd_incr_seen_t *seen; /* sorted by ID */
  size_t seen_num, seen_cap;
  pd_incr_exposed_t *exposed;
  size_t exposed_num, exposed_cap;
  pd_incr_pending_t *pending;
  size_t pending_num, pending_cap;
  time_t pending_until;
  uint64_t corrections; /* counted so far */
} pd_incr_t;

/* One log read, page by page. */
typedef struct {
  time_t low; /* entries older than this are cut */
  pd_log_entries_t entries;
  bool reached;    /* an entry older than low showed: no page further */
  bool disordered; /* not newest first: nothing can be proven */
  time_t last_at;  /* created_at of the entry before */
} pd_incr_log_t;

void pd_incr_init(pd_incr_t *st, time_t overlap_s);
void pd_incr_free(pd_incr_t *st);
/* Forgets the cursor (next cycle: a full read); keeps the counters. */
void pd_incr_invalidate(pd_incr_t *st);

/* cursor - overlap */
time_t pd_incr_low(const pd_incr_t *st);

void pd_incr_log_begin(pd_incr_log_t *log, time_t low);
/* Keeps a copy of an entry of the read (the parse callback); -1 ENOMEM. */
int pd_incr_log_add(pd_incr_log_t *log, const pd_log_entry_t *e);
void pd_incr_log_free(pd_incr_log_t *log);

/*
 * Takes the new entries of a complete log read (each ID once, none older
 * than log->low) into `affected` (sorted service IDs) and into `created`
 * (the incidents created in [created_floor, ...), kept sorted by ID; its
 * service is the embedded incident's). `open` is the cache, sorted by ID.
 * With scope (Team), an incident none of whose teams is in scope is not
 * counted as created. Marks the entries seen. -1 on ENOMEM.
 */
int pd_incr_take_entries(pd_incr_t *st, const pd_incr_log_t *log,
                         const pd_incident_recs_t *open,
                         pd_incident_recs_t *created, time_t created_floor,
                         const pd_teams_t *scope, pd_idlist_t *affected);

/* Adds an ID to a sorted list once; -1 on ENOMEM. */
int pd_incr_idset_add(pd_idlist_t *set, const char *id);
bool pd_incr_idset_has(const pd_idlist_t *set, const char *id);

/*
 * The cache after a re-listing of the affected services: their incidents
 * and every incident that `fresh` has (it moved) are replaced by fresh.
 * Both arrays sorted by ID; fresh is emptied. Open incidents of `created`
 * take fresh's service. -1 on ENOMEM (open unchanged).
 */
int pd_incr_merge(pd_incident_recs_t *open, const pd_idlist_t *affected,
                  pd_incident_recs_t *fresh, pd_incident_recs_t *created);

/* A listing of several pages, paged in [from, to]. -1 on ENOMEM. */
int pd_incr_expose(pd_incr_t *st, const pd_idlist_t *services, time_t from,
                   time_t to);

/* After a successful read that started at `started`: the cursor moves
 * there, and what the next read can no longer see is forgotten. */
void pd_incr_commit(pd_incr_t *st, time_t started);

/* Drops the records created before `floor`. */
void pd_incr_prune_created(pd_incident_recs_t *created, time_t floor);
/* The records created in [lo, hi) into view (emptied first); -1 ENOMEM. */
int pd_incr_created_view(const pd_incident_recs_t *all, time_t lo, time_t hi,
                         pd_incident_recs_t *view);

/*
 * A resync: every incident on which `mine` (the incremental cache) and
 * `full` (the full read) differ becomes pending until now + overlap: in
 * service, and with `whole` in status, urgency and created_at (the created
 * records of the log know only the service). Both sorted by ID. -1 on
 * ENOMEM.
 */
int pd_incr_compare(pd_incr_t *st, const pd_incident_recs_t *mine,
                    const pd_incident_recs_t *full, bool whole, time_t now);
/* Pending differences whose service was listed again are explained. */
void pd_incr_explain(pd_incr_t *st, const pd_idlist_t *affected);
/* Past the deadline, the pending ones are corrections. */
void pd_incr_settle(pd_incr_t *st, time_t now);

#endif /* PD_INCREMENTAL_H */
