/* SPDX-License-Identifier: MIT */
/*
 * pd_readmetrics.c - see pd_readmetrics.h for what each series means.
 *
 * Everything here is a function of the snapshot: lookups go through
 * arrays sorted by ID (bsearch), so a cycle over 2,000 services and 12,500
 * incidents costs O(n log n) and no hashing.
 */
#include "pd_readmetrics.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* --- compact incident records --------------------------------------------- */

static void *grow(void *items, size_t *cap, size_t num, size_t size) {
  if (num < *cap)
    return items;
  size_t new_cap = *cap ? *cap * 2 : 64;
  if (new_cap > SIZE_MAX / size)
    return NULL;
  void *p = realloc(items, new_cap * size);
  if (p != NULL)
    *cap = new_cap;
  return p;
}

int pd_incident_recs_push(pd_incident_recs_t *v, const pd_incident_t *inc) {
  pd_incident_rec_t *items = grow(v->items, &v->cap, v->num, sizeof(*items));
  if (items == NULL)
    return -1;
  v->items = items;
  pd_incident_rec_t *r = &v->items[v->num++];
  memcpy(r->id, inc->id, sizeof(r->id));
  memcpy(r->service_id, inc->service_id, sizeof(r->service_id));
  r->created_at = inc->created_at;
  r->status = inc->status;
  r->urgency = inc->urgency;
  return 0;
}

static int cmp_incident_rec(const void *a, const void *b) {
  return strcmp(((const pd_incident_rec_t *)a)->id,
                ((const pd_incident_rec_t *)b)->id);
}

void pd_incident_recs_dedupe(pd_incident_recs_t *v) {
  if (v->num < 2)
    return;
  qsort(v->items, v->num, sizeof(*v->items), cmp_incident_rec);
  size_t kept = 1;
  for (size_t i = 1; i < v->num; i++)
    if (strcmp(v->items[i].id, v->items[kept - 1].id) != 0)
      v->items[kept++] = v->items[i];
  v->num = kept;
}

void pd_incident_recs_free(pd_incident_recs_t *v) {
  free(v->items);
  *v = (pd_incident_recs_t){0};
}

/* --- schedule records ----------------------------------------------------- */

int pd_schedule_recs_push(pd_schedule_recs_t *v, const pd_schedule_t *s,
                          pd_schedule_entries_t *entries) {
  pd_schedule_rec_t *items = grow(v->items, &v->cap, v->num, sizeof(*items));
  if (items == NULL)
    return -1;
  v->items = items;
  pd_schedule_rec_t *r = &v->items[v->num];
  *r = (pd_schedule_rec_t){.listed = true, .read = true, .offered = true};
  if (pd_schedule_copy(&r->schedule, s) != 0)
    return -1;
  r->entries = *entries;
  *entries = (pd_schedule_entries_t){0};
  v->num++;
  return 0;
}

static void schedule_rec_free(pd_schedule_rec_t *r) {
  pd_schedule_free(&r->schedule);
  pd_schedule_entries_free(&r->entries);
}

static int cmp_schedule_rec(const void *a, const void *b) {
  return strcmp(((const pd_schedule_rec_t *)a)->schedule.id,
                ((const pd_schedule_rec_t *)b)->schedule.id);
}

void pd_schedule_recs_dedupe(pd_schedule_recs_t *v) {
  if (v->num < 2)
    return;
  qsort(v->items, v->num, sizeof(*v->items), cmp_schedule_rec);
  size_t kept = 1;
  for (size_t i = 1; i < v->num; i++) {
    if (strcmp(v->items[i].schedule.id, v->items[kept - 1].schedule.id) == 0)
      schedule_rec_free(&v->items[i]);
    else
      v->items[kept++] = v->items[i];
  }
  v->num = kept;
}

pd_schedule_rec_t *pd_schedule_recs_find(pd_schedule_recs_t *v,
                                         const char *id) {
  size_t lo = 0, hi = v->num;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(v->items[mid].schedule.id, id);
    if (c == 0)
      return &v->items[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

void pd_schedule_recs_free(pd_schedule_recs_t *v) {
  for (size_t i = 0; i < v->num; i++)
    schedule_rec_free(&v->items[i]);
  free(v->items);
  *v = (pd_schedule_recs_t){0};
}

/* --- coverage of a final schedule ----------------------------------------- */

typedef struct {
  time_t start, end;
} span_t;

static int cmp_span(const void *a, const void *b) {
  const span_t *x = a, *y = b;
  return (x->start > y->start) - (x->start < y->start);
}

static int cmp_entry_user_start(const void *a, const void *b) {
  const pd_schedule_entry_t *x = a, *y = b;
  int c = strcmp(x->user_id, y->user_id);
  if (c != 0)
    return c;
  return (x->start > y->start) - (x->start < y->start);
}

/*
 * The earliest end of the unbroken stretch of any user on call at now, or
 * now when nobody is. entries are sorted by (user, start).
 */
static time_t earliest_handoff(const pd_schedule_entry_t *sorted, size_t num,
                               time_t now) {
  bool found = false;
  time_t best = now;
  size_t i = 0;
  while (i < num) {
    /* one stretch: entries of one user that touch or overlap */
    time_t s = sorted[i].start, e = sorted[i].end;
    size_t j = i + 1;
    while (j < num && strcmp(sorted[j].user_id, sorted[i].user_id) == 0 &&
           sorted[j].start <= e) {
      if (sorted[j].end > e)
        e = sorted[j].end;
      j++;
    }
    if (s <= now && now < e && (!found || e < best)) {
      best = e;
      found = true;
    }
    i = j;
  }
  return best;
}

void pd_coverage_compute(const pd_schedule_entry_t *entries, size_t num,
                         time_t now, double window_s, pd_coverage_t *out) {
  *out = (pd_coverage_t){0};
  time_t window = window_s > 0 ? (time_t)window_s : 0;
  time_t end = now + window;

  /* Only entries naming a user cover anything. */
  size_t users = 0;
  for (size_t i = 0; i < num; i++)
    users += entries[i].user_id[0] != '\0' && entries[i].end > entries[i].start;
  span_t *spans = users ? malloc(users * sizeof(*spans)) : NULL;
  pd_schedule_entry_t *by_user =
      users ? malloc(users * sizeof(*by_user)) : NULL;
  if (users > 0 && (spans == NULL || by_user == NULL)) {
    /* Out of memory: report no coverage rather than invent any. */
    users = 0;
  }
  size_t n = 0;
  for (size_t i = 0; i < num && users > 0; i++) {
    const pd_schedule_entry_t *e = &entries[i];
    if (e->user_id[0] == '\0' || e->end <= e->start)
      continue;
    by_user[n] = *e;
    spans[n++] = (span_t){e->start, e->end};
  }

  /* Walk the union of the spans from now; `reach` is how far [now, reach)
   * is covered so far. */
  if (n > 1)
    qsort(spans, n, sizeof(*spans), cmp_span);
  time_t reach = now;
  double covered = 0;
  bool gap = false;
  for (size_t i = 0; i < n && reach < end; i++) {
    if (spans[i].end <= reach)
      continue;
    if (spans[i].start > reach) {
      time_t gap_end = spans[i].start < end ? spans[i].start : end;
      if (!gap) {
        out->gap_start = reach;
        out->gap_end = gap_end;
        gap = true;
      }
      reach = spans[i].start;
      if (reach >= end)
        break;
    }
    time_t stop = spans[i].end < end ? spans[i].end : end;
    covered += (double)(stop - reach);
    reach = stop;
  }
  if (reach < end && !gap) {
    out->gap_start = reach;
    out->gap_end = end;
    gap = true;
  }

  if (window > 0) {
    out->coverage_pct = 100.0 * covered / (double)window;
    out->gap_s = (double)window - covered;
  } else {
    out->coverage_pct = 100.0;
  }
  out->next_gap_s = gap ? (double)(out->gap_start - now) : (double)window;

  if (n > 1)
    qsort(by_user, n, sizeof(*by_user), cmp_entry_user_start);
  out->next_handoff_s = (double)(earliest_handoff(by_user, n, now) - now);
  free(spans);
  free(by_user);
}

bool pd_oncall_is_now(const pd_oncall_t *oncall, time_t now) {
  return (oncall->start == 0 || oncall->start <= now) &&
         (oncall->end == 0 || now < oncall->end);
}

/* --- lookups -------------------------------------------------------------- */

static int cmp_service_ptr(const void *a, const void *b) {
  return strcmp((*(const pd_service_t *const *)a)->id,
                (*(const pd_service_t *const *)b)->id);
}

static int cmp_team_ptr(const void *a, const void *b) {
  return strcmp((*(const pd_team_t *const *)a)->id,
                (*(const pd_team_t *const *)b)->id);
}

static int cmp_schedule_ptr(const void *a, const void *b) {
  return strcmp((*(const pd_schedule_rec_t *const *)a)->schedule.id,
                (*(const pd_schedule_rec_t *const *)b)->schedule.id);
}

static int cmp_policy_ptr(const void *a, const void *b) {
  return strcmp((*(const pd_policy_t *const *)a)->id,
                (*(const pd_policy_t *const *)b)->id);
}

/* Index of the reading whose entity has `id`, or -1. Readings are in ID
 * order; id_of gives a reading's ID. */
#define DEFINE_FIND(fn, reading_t, id_expr)                                    \
  static long fn(const reading_t *r, size_t num, const char *id) {             \
    size_t lo = 0, hi = num;                                                   \
    while (lo < hi) {                                                          \
      size_t mid = lo + (hi - lo) / 2;                                         \
      const reading_t *x = &r[mid];                                            \
      int c = strcmp(id_expr, id);                                             \
      if (c == 0)                                                              \
        return (long)mid;                                                      \
      if (c < 0)                                                               \
        lo = mid + 1;                                                          \
      else                                                                     \
        hi = mid;                                                              \
    }                                                                          \
    return -1;                                                                 \
  }

DEFINE_FIND(find_service, pd_service_reading_t, x->service->id)
DEFINE_FIND(find_team, pd_team_reading_t, x->team->id)

/* --- instance names ------------------------------------------------------- */

/* Assigns names for one kind: ids[i]/names[i] in, instance i out. */
static int assign_names(size_t num, const char *(*id_of)(const void *, size_t),
                        const char *(*name_of)(const void *, size_t),
                        char *(*instance_of)(void *, size_t), void *readings,
                        pd_instance_by_t by) {
  if (num == 0)
    return 0;
  pd_name_entry_t *entries = calloc(num, sizeof(*entries));
  if (entries == NULL)
    return -1;
  for (size_t i = 0; i < num; i++) {
    entries[i].id = id_of(readings, i);
    entries[i].name = name_of(readings, i);
  }
  int status = pd_names_assign(entries, num, by);
  if (status == 0)
    for (size_t i = 0; i < num; i++)
      memcpy(instance_of(readings, i), entries[i].instance,
             sizeof(entries[i].instance));
  free(entries);
  return status;
}

#define NAME_ACCESSORS(kind, reading_t, entity)                                \
  static const char *kind##_id(const void *r, size_t i) {                      \
    return ((const reading_t *)r)[i].entity->id;                               \
  }                                                                            \
  static const char *kind##_name(const void *r, size_t i) {                    \
    return ((const reading_t *)r)[i].entity->name;                             \
  }                                                                            \
  static char *kind##_instance(void *r, size_t i) {                            \
    return ((reading_t *)r)[i].instance;                                       \
  }

NAME_ACCESSORS(service, pd_service_reading_t, service)
NAME_ACCESSORS(team, pd_team_reading_t, team)
NAME_ACCESSORS(policy, pd_policy_reading_t, policy)

static const char *schedule_id(const void *r, size_t i) {
  return ((const pd_schedule_reading_t *)r)[i].rec->schedule.id;
}
static const char *schedule_name(const void *r, size_t i) {
  return ((const pd_schedule_reading_t *)r)[i].rec->schedule.name;
}
static char *schedule_instance(void *r, size_t i) {
  return ((pd_schedule_reading_t *)r)[i].instance;
}

/* --- the readings, group by group ----------------------------------------- */

static bool is_open(unsigned char status) {
  return status == PD_INCIDENT_TRIGGERED || status == PD_INCIDENT_ACKNOWLEDGED;
}

static void count_incidents(const pd_snapshot_t *snap, pd_readings_t *r) {
  time_t oldest[2] = {0, 0};
  for (size_t i = 0; i < snap->open_incidents->num; i++) {
    const pd_incident_rec_t *inc = &snap->open_incidents->items[i];
    if (!is_open(inc->status))
      continue;
    if (inc->urgency == PD_URGENCY_HIGH || inc->urgency == PD_URGENCY_LOW)
      r->incidents[inc->status][inc->urgency]++;
    if (inc->created_at != 0 &&
        (oldest[inc->status] == 0 || inc->created_at < oldest[inc->status]))
      oldest[inc->status] = inc->created_at;
  }
  for (int s = 0; s < 2; s++)
    r->oldest_s[s] = oldest[s] != 0 && oldest[s] < snap->now
                         ? (double)(snap->now - oldest[s])
                         : 0.0;
}

static int compute_services(const pd_snapshot_t *snap, pd_readings_t *r) {
  size_t num = snap->services->num;
  const pd_service_t **sorted = malloc((num ? num : 1) * sizeof(*sorted));
  r->services = calloc(num ? num : 1, sizeof(*r->services));
  if (sorted == NULL || r->services == NULL) {
    free(sorted);
    return -1;
  }
  for (size_t i = 0; i < num; i++)
    sorted[i] = &snap->services->items[i];
  qsort(sorted, num, sizeof(*sorted), cmp_service_ptr);
  for (size_t i = 0; i < num; i++) {
    r->services[i].service = sorted[i];
    if (sorted[i]->status < PD_SERVICE_STATUS_NUM)
      r->services_by_status[sorted[i]->status]++;
  }
  r->services_num = num;
  free(sorted);

  if (r->has[PD_GROUP_SERVICE_INCIDENTS])
    for (size_t i = 0; i < snap->open_incidents->num; i++) {
      const pd_incident_rec_t *inc = &snap->open_incidents->items[i];
      long at = find_service(r->services, num, inc->service_id);
      if (at < 0 || !is_open(inc->status))
        continue;
      pd_service_reading_t *s = &r->services[at];
      if (inc->status == PD_INCIDENT_TRIGGERED)
        s->triggered++;
      else
        s->acknowledged++;
      if (inc->urgency == PD_URGENCY_HIGH)
        s->high_urgency++;
    }
  if (r->has[PD_GROUP_SERVICE_CREATED])
    for (size_t i = 0; i < snap->created->num; i++) {
      long at =
          find_service(r->services, num, snap->created->items[i].service_id);
      if (at >= 0)
        r->services[at].created++;
    }
  return assign_names(num, service_id, service_name, service_instance,
                      r->services, snap->instance_by);
}

static int compute_teams(const pd_snapshot_t *snap, pd_readings_t *r) {
  size_t num = snap->teams->num;
  const pd_team_t **sorted = malloc((num ? num : 1) * sizeof(*sorted));
  r->teams = calloc(num ? num : 1, sizeof(*r->teams));
  if (sorted == NULL || r->teams == NULL) {
    free(sorted);
    return -1;
  }
  for (size_t i = 0; i < num; i++)
    sorted[i] = &snap->teams->items[i];
  qsort(sorted, num, sizeof(*sorted), cmp_team_ptr);
  for (size_t i = 0; i < num; i++)
    r->teams[i].team = sorted[i];
  r->teams_num = num;
  free(sorted);

  /* Incidents reach teams through their service's team list. */
  for (size_t i = 0; i < snap->open_incidents->num; i++) {
    const pd_incident_rec_t *inc = &snap->open_incidents->items[i];
    long at = find_service(r->services, r->services_num, inc->service_id);
    if (at < 0 || !is_open(inc->status))
      continue;
    const pd_idlist_t *team_ids = &r->services[at].service->team_ids;
    for (size_t t = 0; t < team_ids->num; t++) {
      long team = find_team(r->teams, num, team_ids->ids[t]);
      if (team < 0)
        continue;
      if (inc->status == PD_INCIDENT_TRIGGERED)
        r->teams[team].triggered++;
      else
        r->teams[team].acknowledged++;
    }
  }
  return assign_names(num, team_id, team_name, team_instance, r->teams,
                      snap->instance_by);
}

/* On-call entries that count now (a user, on call at now). */
static const pd_oncall_t **oncalls_now(const pd_snapshot_t *snap, size_t *num) {
  const pd_oncalls_t *all = snap->oncalls;
  const pd_oncall_t **now = malloc((all->num ? all->num : 1) * sizeof(*now));
  *num = 0;
  if (now == NULL)
    return NULL;
  for (size_t i = 0; i < all->num; i++)
    if (all->items[i].user_id[0] != '\0' &&
        pd_oncall_is_now(&all->items[i], snap->now))
      now[(*num)++] = &all->items[i];
  return now;
}

static int cmp_oncall_by_policy(const void *a, const void *b) {
  const pd_oncall_t *x = *(const pd_oncall_t *const *)a;
  const pd_oncall_t *y = *(const pd_oncall_t *const *)b;
  int c = strcmp(x->escalation_policy_id, y->escalation_policy_id);
  if (c != 0)
    return c;
  if (x->level != y->level)
    return x->level < y->level ? -1 : 1;
  return strcmp(x->user_id, y->user_id);
}

/* First index in sorted[0..num) whose key is not less than the probe. */
static size_t lower_bound(const pd_oncall_t **sorted, size_t num,
                          const pd_oncall_t *probe,
                          int (*cmp)(const void *, const void *)) {
  size_t lo = 0, hi = num;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cmp(&sorted[mid], &probe) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int cmp_id(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Distinct users the final schedule has on call at `at` (shift-based
 * schedules may have several at once). Returns -1 on no memory. */
static long schedule_oncall(const pd_schedule_rec_t *rec, time_t at) {
  size_t num = rec->entries.num;
  const char **users = malloc((num ? num : 1) * sizeof(*users));
  if (users == NULL)
    return -1;
  size_t n = 0;
  for (size_t i = 0; i < num; i++) {
    const pd_schedule_entry_t *e = &rec->entries.items[i];
    if (e->user_id[0] != '\0' && e->start <= at && at < e->end)
      users[n++] = e->user_id;
  }
  qsort(users, n, sizeof(*users), cmp_id);
  long distinct = 0;
  for (size_t i = 0; i < n; i++)
    distinct += i == 0 || strcmp(users[i - 1], users[i]) != 0;
  free(users);
  return distinct;
}

/* Distinct users of the policy at one level among the entries now. */
static long policy_level_oncall(const pd_oncall_t **sorted, size_t num,
                                const char *policy, int level) {
  pd_oncall_t probe = {.level = level};
  memcpy(probe.escalation_policy_id, policy,
         sizeof(probe.escalation_policy_id));
  long users = 0;
  for (size_t i = lower_bound(sorted, num, &probe, cmp_oncall_by_policy);
       i < num && sorted[i]->level == level &&
       strcmp(sorted[i]->escalation_policy_id, policy) == 0;
       i++)
    users += i == 0 || sorted[i - 1]->level != level ||
             strcmp(sorted[i - 1]->escalation_policy_id, policy) != 0 ||
             strcmp(sorted[i - 1]->user_id, sorted[i]->user_id) != 0;
  return users;
}

static int compute_schedules(const pd_snapshot_t *snap, pd_readings_t *r) {
  size_t all = snap->schedules->num;
  const pd_schedule_rec_t **sorted = malloc((all ? all : 1) * sizeof(*sorted));
  r->schedules = calloc(all ? all : 1, sizeof(*r->schedules));
  if (sorted == NULL || r->schedules == NULL) {
    free(sorted);
    return -1;
  }
  size_t num = 0;
  for (size_t i = 0; i < all; i++)
    if (snap->schedules->items[i].offered)
      sorted[num++] = &snap->schedules->items[i];
  qsort(sorted, num, sizeof(*sorted), cmp_schedule_ptr);
  r->schedules_num = num;

  for (size_t i = 0; i < num; i++) {
    pd_schedule_reading_t *s = &r->schedules[i];
    s->rec = sorted[i];
    s->unknown = s->rec->unknown;
    /* An unknown schedule keeps the values it had when last known. */
    time_t at = s->unknown ? s->rec->known_at : snap->now;
    if (r->has[PD_GROUP_SCHEDULE_COVERAGE])
      pd_coverage_compute(s->rec->entries.items, s->rec->entries.num, at,
                          snap->coverage_window_s, &s->coverage);
    if (r->has[PD_GROUP_SCHEDULE_ONCALL] &&
        (s->oncall = schedule_oncall(s->rec, at)) < 0) {
      free(sorted);
      return -1;
    }
  }
  free(sorted);
  return assign_names(num, schedule_id, schedule_name, schedule_instance,
                      r->schedules, snap->instance_by);
}

static int compute_policies(const pd_snapshot_t *snap, pd_readings_t *r) {
  size_t num = snap->policies->num;
  const pd_policy_t **sorted = malloc((num ? num : 1) * sizeof(*sorted));
  r->policies = calloc(num ? num : 1, sizeof(*r->policies));
  if (sorted == NULL || r->policies == NULL) {
    free(sorted);
    return -1;
  }
  for (size_t i = 0; i < num; i++)
    sorted[i] = &snap->policies->items[i];
  qsort(sorted, num, sizeof(*sorted), cmp_policy_ptr);
  r->policies_num = num;

  size_t now_num = 0;
  const pd_oncall_t **now = NULL;
  if (r->has[PD_GROUP_POLICY_ONCALL]) {
    now = oncalls_now(snap, &now_num);
    if (now == NULL) {
      free(sorted);
      return -1;
    }
    qsort(now, now_num, sizeof(*now), cmp_oncall_by_policy);
  }
  for (size_t i = 0; i < num; i++) {
    pd_policy_reading_t *p = &r->policies[i];
    p->policy = sorted[i];
    if (!r->has[PD_GROUP_POLICY_ONCALL])
      continue;
    for (size_t level = 1; level <= p->policy->rules_num; level++) {
      long users = policy_level_oncall(now, now_num, p->policy->id, (int)level);
      if (level == 1)
        p->oncall_level1 = users;
      if (users == 0)
        p->uncovered_levels++;
    }
  }
  free(now);
  free(sorted);
  return assign_names(num, policy_id, policy_name, policy_instance, r->policies,
                      snap->instance_by);
}

/* Which groups of series this snapshot gives (pd_series.def): the ones
 * asked for whose collections were all read. */
static void decide_groups(const pd_snapshot_t *snap, bool has[PD_GROUP_NUM]) {
  unsigned have = (snap->services != NULL ? PD_NEED_SERVICES : 0) |
                  (snap->open_incidents != NULL ? PD_NEED_OPEN : 0) |
                  (snap->created != NULL ? PD_NEED_CREATED : 0) |
                  (snap->teams != NULL ? PD_NEED_TEAMS : 0) |
                  (snap->schedules != NULL ? PD_NEED_SCHEDULES : 0) |
                  (snap->oncalls != NULL ? PD_NEED_ONCALLS : 0) |
                  (snap->policies != NULL ? PD_NEED_POLICIES : 0);
  for (int g = 0; g < PD_GROUP_NUM; g++)
    has[g] = pd_series_group_on((pd_series_group_t)g, snap->collect, have);
  /* The api-* series are pd_account.c's, not the snapshot's; the Notify
   * blocks' are theirs. */
  has[PD_GROUP_API] = false;
  has[PD_GROUP_NOTIFY] = false;
}

int pd_readings_compute(const pd_snapshot_t *snap, pd_readings_t *out) {
  *out = (pd_readings_t){.now = snap->now,
                         .coverage_window_s = snap->coverage_window_s};
  decide_groups(snap, out->has);
  const bool *has = out->has;

  if (has[PD_GROUP_INCIDENTS])
    count_incidents(snap, out);
  /* Teams look incidents up through the services' readings. */
  if ((has[PD_GROUP_SERVICES] || has[PD_GROUP_TEAMS]) &&
      compute_services(snap, out) != 0)
    goto fail;
  if (has[PD_GROUP_TEAMS] && compute_teams(snap, out) != 0)
    goto fail;
  if ((has[PD_GROUP_SCHEDULE_COVERAGE] || has[PD_GROUP_SCHEDULE_ONCALL]) &&
      compute_schedules(snap, out) != 0)
    goto fail;
  if ((has[PD_GROUP_POLICIES] || has[PD_GROUP_POLICY_ONCALL]) &&
      compute_policies(snap, out) != 0)
    goto fail;
  return 0;
fail:
  pd_readings_free(out);
  return -1;
}

/* --- emitting ------------------------------------------------------------- */

/* What the values of pd_series.def are read from: the readings and the
 * index of one entity of the kind being emitted (svc, team, sched and pol
 * are its reading), or the api counters (api, for group API). */
typedef struct {
  const pd_readings_t *r; /* NULL for the api-* series */
  const pd_api_reading_t *api;
  size_t i;
} value_scope_t;

/* The cases of series_value(), one per row of pd_series.def, each in the
 * scope its entity's values are written for (pd_series.def, "value"). */
#define VALUE_CASE(id, value, scope)                                           \
  case PD_SERIES_##id: {                                                       \
    scope;                                                                     \
    PD_SERIES_STORE(out, id, value);                                           \
    break;                                                                     \
  }
#define VALUE_OF_ACCOUNT(id, value)                                            \
  VALUE_CASE(id, value, const pd_readings_t *r = c->r;                         \
             const pd_api_reading_t *api = c->api; (void)r; (void)api)
#define VALUE_OF_SERVICE(id, value)                                            \
  VALUE_CASE(id, value, const pd_service_reading_t *svc = &c->r->services[c->i])
#define VALUE_OF_TEAM(id, value)                                               \
  VALUE_CASE(id, value, const pd_team_reading_t *team = &c->r->teams[c->i])
#define VALUE_OF_SCHEDULE(id, value)                                           \
  VALUE_CASE(id, value,                                                        \
             const pd_schedule_reading_t *sched = &c->r->schedules[c->i])
#define VALUE_OF_POLICY(id, value)                                             \
  VALUE_CASE(id, value, const pd_policy_reading_t *pol = &c->r->policies[c->i])
#define VALUE_OF_NOTIFY(id, value) /* pd_sender.c's */

/* The value of series `id` at the dimension indexes `at` (a
 * pd_series_value_fn): none when the readings lack its group, or for the
 * api counters when it is not an api-* series. */
static void series_value(const void *scope, pd_series_id_t id,
                         const size_t at[2], pd_series_value_t *out) {
  const value_scope_t *c = scope;
  pd_series_group_t group = pd_series[id].group;
  if (c->r != NULL ? !c->r->has[group] : group != PD_GROUP_API)
    return;
  switch (id) {
#define PD_SERIES_GROUP(group, collect, needs)
#define PD_SERIES(id, group, entity, type, format, dim1, dim2, value, meaning) \
  VALUE_OF_##entity(id, value)
#include "pd_series.def"
#undef PD_SERIES_GROUP
#undef PD_SERIES
  default:
    break;
  }
}

void pd_readings_emit(const pd_readings_t *r, pd_metric_batch_t *batch) {
  value_scope_t c = {.r = r};
  pd_series_emit_entity(batch, PD_ENTITY_ACCOUNT, NULL, series_value, &c);
  for (c.i = 0; c.i < r->services_num; c.i++)
    pd_series_emit_entity(batch, PD_ENTITY_SERVICE, r->services[c.i].instance,
                          series_value, &c);
  for (c.i = 0; c.i < r->teams_num; c.i++)
    pd_series_emit_entity(batch, PD_ENTITY_TEAM, r->teams[c.i].instance,
                          series_value, &c);
  for (c.i = 0; c.i < r->schedules_num; c.i++)
    pd_series_emit_entity(batch, PD_ENTITY_SCHEDULE, r->schedules[c.i].instance,
                          series_value, &c);
  for (c.i = 0; c.i < r->policies_num; c.i++)
    pd_series_emit_entity(batch, PD_ENTITY_POLICY, r->policies[c.i].instance,
                          series_value, &c);
}

void pd_api_reading_emit(const pd_api_reading_t *api,
                         pd_metric_batch_t *batch) {
  value_scope_t c = {.api = api};
  pd_series_emit_entity(batch, PD_ENTITY_ACCOUNT, NULL, series_value, &c);
}

void pd_readings_free(pd_readings_t *r) {
  free(r->services);
  free(r->teams);
  free(r->schedules);
  free(r->policies);
  *r = (pd_readings_t){0};
}
