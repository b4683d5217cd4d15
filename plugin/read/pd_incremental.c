/* SPDX-License-Identifier: MIT */
/*
 * pd_incremental.c - the incremental read's cursor, dedupe, overlap,
 * merge and corrections; see pd_incremental.h for the rules.
 */
#include "pd_incremental.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for one more item in a growable array (doubling). */
static void *grow(void *items, size_t *cap, size_t num, size_t size) {
  if (num < *cap)
    return items;
  size_t new_cap = *cap ? *cap * 2 : 16;
  if (new_cap > SIZE_MAX / size)
    return NULL;
  void *p = realloc(items, new_cap * size);
  if (p != NULL)
    *cap = new_cap;
  return p;
}

void pd_incr_init(pd_incr_t *st, time_t overlap_s) {
  *st = (pd_incr_t){.overlap_s = overlap_s};
}

static void exposed_clear(pd_incr_t *st) {
  for (size_t i = 0; i < st->exposed_num; i++)
    pd_idlist_free(&st->exposed[i].services);
  st->exposed_num = 0;
}

void pd_incr_free(pd_incr_t *st) {
  exposed_clear(st);
  free(st->exposed);
  free(st->seen);
  free(st->pending);
  *st = (pd_incr_t){0};
}

void pd_incr_invalidate(pd_incr_t *st) {
  st->valid = false;
  exposed_clear(st);
}

time_t pd_incr_low(const pd_incr_t *st) { return st->cursor - st->overlap_s; }

/* --- one log read ---------------------------------------------------------
 */

void pd_incr_log_begin(pd_incr_log_t *log, time_t low) {
  *log = (pd_incr_log_t){.low = low};
}

int pd_incr_log_add(pd_incr_log_t *log, const pd_log_entry_t *e) {
  /* Newest first: a page shift repeats an entry (equal time), never
   * brings a newer one after an older one. */
  if (log->entries.num > 0 && e->created_at > log->last_at)
    log->disordered = true;
  log->last_at = e->created_at;
  if (e->created_at < log->low) {
    log->reached = true;
    return 0;
  }
  return pd_log_entries_push(&log->entries, e);
}

void pd_incr_log_free(pd_incr_log_t *log) {
  pd_log_entries_free(&log->entries);
}

/* --- sorted ID sets -------------------------------------------------------
 */

/* Index of id in the sorted set, or where it would go (*found false). */
static size_t idset_find(const pd_idlist_t *set, const char *id, bool *found) {
  size_t lo = 0, hi = set->num;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(set->ids[mid], id);
    if (c == 0) {
      *found = true;
      return mid;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = false;
  return lo;
}

bool pd_incr_idset_has(const pd_idlist_t *set, const char *id) {
  bool found;
  idset_find(set, id, &found);
  return found;
}

int pd_incr_idset_add(pd_idlist_t *set, const char *id) {
  if (id[0] == '\0')
    return 0;
  bool found;
  size_t at = idset_find(set, id, &found);
  if (found)
    return 0;
  if (pd_idlist_add(set, id) != 0)
    return -1;
  memmove(&set->ids[at + 1], &set->ids[at],
          (set->num - 1 - at) * sizeof(*set->ids));
  memcpy(set->ids[at], id, strlen(id) + 1);
  return 0;
}

/* --- incident records by ID -----------------------------------------------
 */

static int cmp_rec(const void *a, const void *b) {
  return strcmp(((const pd_incident_rec_t *)a)->id,
                ((const pd_incident_rec_t *)b)->id);
}

static pd_incident_rec_t *rec_find(const pd_incident_recs_t *v,
                                   const char *id) {
  pd_incident_rec_t key;
  snprintf(key.id, sizeof(key.id), "%s", id);
  return v->num == 0
             ? NULL
             : bsearch(&key, v->items, v->num, sizeof(*v->items), cmp_rec);
}

/* --- seen entries ---------------------------------------------------------
 */

static int cmp_seen(const void *a, const void *b) {
  return strcmp(((const pd_incr_seen_t *)a)->id,
                ((const pd_incr_seen_t *)b)->id);
}

static bool seen_has(const pd_incr_t *st, const char *id) {
  pd_incr_seen_t key;
  snprintf(key.id, sizeof(key.id), "%s", id);
  return st->seen_num > 0 && bsearch(&key, st->seen, st->seen_num,
                                     sizeof(*st->seen), cmp_seen) != NULL;
}

static int seen_add(pd_incr_t *st, const pd_log_entry_t *e) {
  pd_incr_seen_t *seen =
      grow(st->seen, &st->seen_cap, st->seen_num, sizeof(*seen));
  if (seen == NULL)
    return -1;
  st->seen = seen;
  pd_incr_seen_t *s = &st->seen[st->seen_num++];
  memcpy(s->id, e->id, sizeof(s->id));
  s->created_at = e->created_at;
  return 0;
}

/* --- taking a log read ----------------------------------------------------
 */

static bool in_scope(const pd_idlist_t *teams, const pd_teams_t *scope) {
  if (scope == NULL)
    return true;
  for (size_t i = 0; i < teams->num; i++)
    for (size_t j = 0; j < scope->num; j++)
      if (strcmp(teams->ids[i], scope->items[j].id) == 0)
        return true;
  return false;
}

/* An incident created within the window is counted where it is now;
 * created_at never changes, so an incident is added once and later only
 * moves. */
static int note_created(const pd_log_entry_t *e, pd_incident_recs_t *created,
                        time_t floor, const pd_teams_t *scope) {
  if (e->incident_id[0] == '\0' || e->incident_created_at == 0 ||
      e->incident_created_at < floor || !in_scope(&e->team_ids, scope))
    return 0;
  const char *service = e->incident_service_id[0] != '\0'
                            ? e->incident_service_id
                            : e->service_id;
  pd_incident_rec_t *r = rec_find(created, e->incident_id);
  if (r != NULL) {
    snprintf(r->service_id, sizeof(r->service_id), "%s", service);
    return 0;
  }
  pd_incident_t inc = {.created_at = e->incident_created_at,
                       .status = PD_INCIDENT_UNKNOWN,
                       .urgency = PD_URGENCY_UNKNOWN};
  memcpy(inc.id, e->incident_id, sizeof(inc.id));
  snprintf(inc.service_id, sizeof(inc.service_id), "%s", service);
  if (pd_incident_recs_push(created, &inc) != 0)
    return -1;
  if (created->num > 1)
    qsort(created->items, created->num, sizeof(*created->items), cmp_rec);
  return 0;
}

/* An entry written while an exposed listing of its service was paged:
 * that whole listing is affected. */
static int add_exposed(const pd_incr_t *st, time_t at, const char *a,
                       const char *b, pd_idlist_t *affected) {
  for (size_t i = 0; i < st->exposed_num; i++) {
    const pd_incr_exposed_t *x = &st->exposed[i];
    /* created_at is to the second: a second of slack either side */
    if (at < x->from - 1 || at > x->to + 1)
      continue;
    if (!pd_incr_idset_has(&x->services, a) &&
        (b[0] == '\0' || !pd_incr_idset_has(&x->services, b)))
      continue;
    for (size_t j = 0; j < x->services.num; j++)
      if (pd_incr_idset_add(affected, x->services.ids[j]) != 0)
        return -1;
  }
  return 0;
}

static int take_entry(pd_incr_t *st, const pd_log_entry_t *e,
                      const pd_incident_recs_t *open,
                      pd_incident_recs_t *created, time_t floor,
                      const pd_teams_t *scope, pd_idlist_t *affected) {
  const pd_incident_rec_t *old =
      e->incident_id[0] != '\0' ? rec_find(open, e->incident_id) : NULL;
  const char *before = old != NULL ? old->service_id : "";
  if (pd_incr_idset_add(affected, e->service_id) != 0 ||
      pd_incr_idset_add(affected, e->incident_service_id) != 0 ||
      pd_incr_idset_add(affected, before) != 0 ||
      add_exposed(st, e->created_at, e->service_id, before, affected) != 0 ||
      add_exposed(st, e->created_at, e->incident_service_id, "", affected) != 0)
    return -1;
  return note_created(e, created, floor, scope);
}

int pd_incr_take_entries(pd_incr_t *st, const pd_incr_log_t *log,
                         const pd_incident_recs_t *open,
                         pd_incident_recs_t *created, time_t created_floor,
                         const pd_teams_t *scope, pd_idlist_t *affected) {
  size_t before = st->seen_num;
  for (size_t i = 0; i < log->entries.num; i++) {
    const pd_log_entry_t *e = &log->entries.items[i];
    if (e->created_at < log->low || seen_has(st, e->id))
      continue;
    /* the same entry twice in one read (a page shift): seen_has looks
     * only at the sorted part, so check the ones added just now */
    bool repeat = false;
    for (size_t j = before; j < st->seen_num && !repeat; j++)
      repeat = strcmp(st->seen[j].id, e->id) == 0;
    if (repeat)
      continue;
    if (seen_add(st, e) != 0 ||
        take_entry(st, e, open, created, created_floor, scope, affected) != 0)
      return -1;
  }
  if (st->seen_num > 1)
    qsort(st->seen, st->seen_num, sizeof(*st->seen), cmp_seen);
  return 0;
}

/* --- merging a re-listing -------------------------------------------------
 */

int pd_incr_merge(pd_incident_recs_t *open, const pd_idlist_t *affected,
                  pd_incident_recs_t *fresh, pd_incident_recs_t *created) {
  pd_incident_recs_t out = {0};
  size_t need = open->num + fresh->num;
  if (need > 0) {
    out.items = malloc(need * sizeof(*out.items));
    if (out.items == NULL)
      return -1;
    out.cap = need;
  }
  for (size_t i = 0; i < open->num; i++) {
    const pd_incident_rec_t *r = &open->items[i];
    if (pd_incr_idset_has(affected, r->service_id) ||
        rec_find(fresh, r->id) != NULL)
      continue;
    out.items[out.num++] = *r;
  }
  for (size_t i = 0; i < fresh->num; i++) {
    out.items[out.num++] = fresh->items[i];
    pd_incident_rec_t *c = rec_find(created, fresh->items[i].id);
    if (c != NULL)
      memcpy(c->service_id, fresh->items[i].service_id, sizeof(c->service_id));
  }
  if (out.num > 1)
    qsort(out.items, out.num, sizeof(*out.items), cmp_rec);
  pd_incident_recs_free(open);
  *open = out;
  fresh->num = 0;
  return 0;
}

int pd_incr_expose(pd_incr_t *st, const pd_idlist_t *services, time_t from,
                   time_t to) {
  pd_incr_exposed_t *x =
      grow(st->exposed, &st->exposed_cap, st->exposed_num, sizeof(*x));
  if (x == NULL)
    return -1;
  st->exposed = x;
  pd_incr_exposed_t *n = &st->exposed[st->exposed_num];
  *n = (pd_incr_exposed_t){.from = from, .to = to};
  for (size_t i = 0; i < services->num; i++)
    if (pd_incr_idset_add(&n->services, services->ids[i]) != 0) {
      pd_idlist_free(&n->services);
      return -1;
    }
  st->exposed_num++;
  return 0;
}

void pd_incr_commit(pd_incr_t *st, time_t started) {
  st->cursor = started;
  st->valid = true;
  time_t low = pd_incr_low(st);
  size_t kept = 0;
  for (size_t i = 0; i < st->seen_num; i++)
    if (st->seen[i].created_at >= low)
      st->seen[kept++] = st->seen[i];
  st->seen_num = kept; /* still sorted */
  kept = 0;
  for (size_t i = 0; i < st->exposed_num; i++) {
    /* entries written while it was paged are read until its end + 1 s
     * falls behind the overlap */
    if (st->exposed[i].to + 1 >= low)
      st->exposed[kept++] = st->exposed[i];
    else
      pd_idlist_free(&st->exposed[i].services);
  }
  st->exposed_num = kept;
}

/* --- created within TrendWindow -------------------------------------------
 */

void pd_incr_prune_created(pd_incident_recs_t *created, time_t floor) {
  size_t kept = 0;
  for (size_t i = 0; i < created->num; i++)
    if (created->items[i].created_at >= floor)
      created->items[kept++] = created->items[i];
  created->num = kept;
}

int pd_incr_created_view(const pd_incident_recs_t *all, time_t lo, time_t hi,
                         pd_incident_recs_t *view) {
  view->num = 0;
  for (size_t i = 0; i < all->num; i++) {
    const pd_incident_rec_t *r = &all->items[i];
    if (r->created_at < lo || r->created_at >= hi)
      continue;
    pd_incident_rec_t *items =
        grow(view->items, &view->cap, view->num, sizeof(*items));
    if (items == NULL)
      return -1;
    view->items = items;
    view->items[view->num++] = *r;
  }
  return 0;
}

/* --- resync corrections ---------------------------------------------------
 */

static int pending_add(pd_incr_t *st, const char *id, const char *a,
                       const char *b) {
  pd_incr_pending_t *p =
      grow(st->pending, &st->pending_cap, st->pending_num, sizeof(*p));
  if (p == NULL)
    return -1;
  st->pending = p;
  pd_incr_pending_t *n = &st->pending[st->pending_num++];
  snprintf(n->id, sizeof(n->id), "%s", id);
  snprintf(n->service_a, sizeof(n->service_a), "%s", a);
  snprintf(n->service_b, sizeof(n->service_b), "%s", b);
  return 0;
}

static bool rec_same(const pd_incident_rec_t *a, const pd_incident_rec_t *b,
                     bool whole) {
  if (strcmp(a->service_id, b->service_id) != 0)
    return false;
  return !whole || (a->status == b->status && a->urgency == b->urgency &&
                    a->created_at == b->created_at);
}

int pd_incr_compare(pd_incr_t *st, const pd_incident_recs_t *mine,
                    const pd_incident_recs_t *full, bool whole, time_t now) {
  size_t i = 0, j = 0;
  while (i < mine->num || j < full->num) {
    const pd_incident_rec_t *a = i < mine->num ? &mine->items[i] : NULL;
    const pd_incident_rec_t *b = j < full->num ? &full->items[j] : NULL;
    int c = a == NULL ? 1 : b == NULL ? -1 : strcmp(a->id, b->id);
    int rc = 0;
    if (c < 0) {
      rc = pending_add(st, a->id, a->service_id, "");
      i++;
    } else if (c > 0) {
      rc = pending_add(st, b->id, "", b->service_id);
      j++;
    } else {
      if (!rec_same(a, b, whole))
        rc = pending_add(st, a->id, a->service_id, b->service_id);
      i++;
      j++;
    }
    if (rc != 0)
      return -1;
  }
  st->pending_until = now + st->overlap_s;
  return 0;
}

void pd_incr_explain(pd_incr_t *st, const pd_idlist_t *affected) {
  size_t kept = 0;
  for (size_t i = 0; i < st->pending_num; i++) {
    const pd_incr_pending_t *p = &st->pending[i];
    if (pd_incr_idset_has(affected, p->service_a) ||
        pd_incr_idset_has(affected, p->service_b))
      continue;
    st->pending[kept++] = *p;
  }
  st->pending_num = kept;
}

void pd_incr_settle(pd_incr_t *st, time_t now) {
  if (st->pending_num == 0 || now < st->pending_until)
    return;
  st->corrections += st->pending_num;
  st->pending_num = 0;
}
