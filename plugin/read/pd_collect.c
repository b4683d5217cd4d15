/* SPDX-License-Identifier: MIT */
/*
 * pd_collect.c - the read side's requests; see pd_collect.h for what is
 * fetched when, and what a failure means.
 */
#include "pd_collect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pd_http.h"
#include "pd_incremental.h"
#include "pd_log.h"
#include "pd_service_status.h"

#define PAGE_LIMIT 100
#define OFFSET_CAP 10000 /* offset + limit may not pass this (else 400) */
/* How far past our own clock created_at windows of the open incidents
 * still look, for incidents stamped by a clock ahead of ours. */
#define CLOCK_SLACK_S 86400
#define ONCALL_RANGE_MAX_S (90 * 86400 - 1) /* GET /oncalls refuses more */

/* What each series group needs fetched (pd_readmetrics.h). */
#define NEED(cfg, bits) (((cfg)->collect & (bits)) != 0)
#define NEED_SERVICES(cfg) NEED(cfg, PD_COLLECT_SERVICES | PD_COLLECT_TEAMS)
#define NEED_OPEN(cfg)                                                         \
  NEED(cfg, PD_COLLECT_SERVICES | PD_COLLECT_INCIDENTS | PD_COLLECT_TEAMS)
#define NEED_CREATED(cfg) NEED(cfg, PD_COLLECT_SERVICES)
#define NEED_TEAMS(cfg) NEED(cfg, PD_COLLECT_TEAMS)
#define NEED_SCHEDULES(cfg) NEED(cfg, PD_COLLECT_SCHEDULES | PD_COLLECT_ONCALLS)
#define NEED_POLICIES(cfg) NEED(cfg, PD_COLLECT_POLICIES | PD_COLLECT_ONCALLS)
#define NEED_ONCALLS(cfg) NEED(cfg, PD_COLLECT_ONCALLS)

/* A collection fetched every SlowInterval and kept in between. */
typedef struct {
  bool valid;
  double fetched_mono; /* when it was fetched (monotonic) */
  time_t until;        /* end of the time window its data covers; 0 none */
} cache_t;

struct pd_collect_s {
  const pd_account_config_t *cfg;

  /* Team scope (Team set): per configured value the team IDs it resolved
   * to (none yet: unresolved), and the union of those teams. */
  pd_idlist_t *value_ids;
  pd_teams_t scope;
  bool scope_complete;   /* every configured value resolved */
  char *unknown_logged;  /* the unresolved values last logged; NULL none */
  bool empty_warned;     /* "nothing visible in scope" said */
  bool no_teams_ability; /* GET /teams answered 402 (no Team set) */
  bool said_capped[4];   /* "more than 10,000" said, per kind of list */
  bool said_empty_more;  /* "a page said more but was empty" said */

  /* Every cycle; with FullSyncInterval > 0 and no Team the services are a
   * listing kept for SlowInterval instead (services_cache, below). */
  pd_services_t services;
  bool services_ok;
  pd_incident_recs_t open;
  bool open_ok;
  pd_incident_recs_t created;
  bool created_ok;

  /* Incremental reads (FullSyncInterval > 0; pd_incremental.h): `open`
   * is kept between cycles, `created_all` holds every incident created
   * since now - TrendWindow (future ones too), `created` is the cycle's
   * view of it. */
  pd_incr_t incr;
  pd_incident_recs_t created_all;
  bool said_fallback;

  /* Service status with FullSyncInterval > 0 and no Team
   * (services_kept(), pd_service_status.h): the
   * listing in `services` with the status each service was listed with,
   * and the open maintenance windows, both refreshed together every
   * SlowInterval and at every full read; the statuses are derived every
   * cycle. */
  pd_service_status_t *listed_status;
  pd_maintenance_windows_t windows;
  cache_t services_cache;

  /* Every SlowInterval. */
  pd_teams_t teams;
  cache_t teams_cache;
  pd_schedule_recs_t schedules; /* the listings', with final schedules */
  cache_t schedules_cache;      /* the listings */
  pd_policies_t policies;
  cache_t policies_cache;
  pd_oncalls_t oncalls;
  cache_t oncalls_cache;
};

/* One cycle's context. */
typedef struct {
  pd_collect_t *c;
  pd_rest_t *rest;
  const pd_account_config_t *cfg;
  time_t now;
  double mono;
  double interval_s;
  bool aborted; /* the connection or the token failed: no more requests */
} cycle_t;

typedef enum { LIST_OK = 0, LIST_FAILED, LIST_CAPPED } list_status_t;

/* Kinds of list for the "more than 10,000" message. */
enum { CAPPED_TEAMS, CAPPED_SERVICES, CAPPED_SCHEDULES, CAPPED_OTHER };

/* --- lifetime ------------------------------------------------------------- */

pd_collect_t *pd_collect_create(const pd_account_config_t *cfg) {
  pd_collect_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  c->cfg = cfg;
  pd_incr_init(&c->incr, PD_INCR_OVERLAP_S);
  if (cfg->teams_num > 0) {
    c->value_ids = calloc(cfg->teams_num, sizeof(*c->value_ids));
    if (c->value_ids == NULL) {
      free(c);
      return NULL;
    }
  }
  return c;
}

static void drop_teams(pd_collect_t *c) {
  pd_teams_free(&c->teams);
  c->teams_cache = (cache_t){0};
}
static void drop_schedules(pd_collect_t *c) {
  pd_schedule_recs_free(&c->schedules);
  c->schedules_cache = (cache_t){0};
}
static void drop_policies(pd_collect_t *c) {
  pd_policies_free(&c->policies);
  c->policies_cache = (cache_t){0};
}
static void drop_oncalls(pd_collect_t *c) {
  pd_oncalls_free(&c->oncalls);
  c->oncalls_cache = (cache_t){0};
}
static void drop_service_listing(pd_collect_t *c) {
  pd_services_free(&c->services);
  free(c->listed_status);
  c->listed_status = NULL;
  pd_maintenance_windows_free(&c->windows);
  c->services_cache = (cache_t){0};
}

void pd_collect_invalidate(pd_collect_t *c) {
  drop_teams(c);
  drop_schedules(c);
  drop_policies(c);
  drop_oncalls(c);
  drop_service_listing(c);
  pd_incr_invalidate(&c->incr);
}

void pd_collect_destroy(pd_collect_t *c) {
  if (c == NULL)
    return;
  pd_collect_invalidate(c);
  for (size_t i = 0; c->value_ids != NULL && i < c->cfg->teams_num; i++)
    pd_idlist_free(&c->value_ids[i]);
  free(c->value_ids);
  pd_teams_free(&c->scope);
  free(c->unknown_logged);
  pd_services_free(&c->services);
  pd_incident_recs_free(&c->open);
  pd_incident_recs_free(&c->created);
  pd_incident_recs_free(&c->created_all);
  pd_incr_free(&c->incr);
  free(c);
}

/* --- small helpers -------------------------------------------------------- */

static void format_utc(char out[32], time_t t) {
  struct tm tm;
  if (gmtime_r(&t, &tm) == NULL ||
      strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf(out, 32, "1970-01-01T00:00:00Z");
}

static int url_add_time(pd_url_t *u, const char *key, time_t t) {
  char text[32];
  format_utc(text, t);
  return pd_url_add(u, key, text);
}

/* Adds team_ids[] of the resolved scope (nothing without Team). */
static int url_add_scope(pd_url_t *u, const pd_collect_t *c) {
  for (size_t i = 0; i < c->scope.num; i++)
    if (pd_url_add(u, "team_ids[]", c->scope.items[i].id) != 0)
      return -1;
  return 0;
}

/* Is a cached collection due for a refresh? Cycles come every Interval, so
 * "SlowInterval elapsed" is judged with half an Interval of tolerance:
 * otherwise a cycle a millisecond early pushes the refresh a whole
 * Interval late. */
static bool cache_due(const cache_t *k, const cycle_t *cy) {
  if (!k->valid)
    return true;
  double slow = cy->cfg->slow_interval_s;
  double tolerance = cy->interval_s / 2;
  if (tolerance > slow / 2)
    tolerance = slow / 2;
  return cy->mono - k->fetched_mono >= slow - tolerance;
}

static void cache_fresh(cache_t *k, const cycle_t *cy, time_t until) {
  *k = (cache_t){.valid = true, .fetched_mono = cy->mono, .until = until};
}

/* How far ahead the windowed slow collections are fetched: up to the next
 * refresh, which comes within SlowInterval + Interval, plus an Interval of
 * room for a late cycle. */
static time_t slow_horizon(const cycle_t *cy) {
  return cy->now + (time_t)(cy->cfg->slow_interval_s + 2 * cy->interval_s);
}

static int out_of_memory(const cycle_t *cy, const char *what) {
  PD_ACCOUNT_ERROR(cy->cfg->name, "%s: out of memory.", what);
  return -1;
}

static void say_capped(cycle_t *cy, int kind, const char *what) {
  if (cy->c->said_capped[kind])
    return;
  cy->c->said_capped[kind] = true;
  PD_ACCOUNT_ERROR(cy->cfg->name,
                   "%s: more than %d results, the most PagerDuty pages "
                   "through; narrow the account's scope with Team.",
                   what, OFFSET_CAP);
}

/* --- requests ------------------------------------------------------------- */

/* One request through the account's endpoint. Without an answer, or with a
 * refused token, the next request would only fail the same way (and a
 * timeout costs Timeout each): the cycle makes no more. */
static int fetch(cycle_t *cy, const pd_fetch_t *f, pd_parse_result_t *res,
                 pd_http_response_t *resp) {
  int rc = pd_rest_fetch(cy->rest, f, res, resp);
  if (rc != 0 && (resp->status == 0 || resp->outcome == PD_HTTP_AUTH))
    cy->aborted = true;
  return rc;
}

/* --- paging --------------------------------------------------------------- */

/*
 * Pages through one listing: base is the path with its filters; limit and
 * offset are added here. LIST_CAPPED when the offset cap was reached with
 * more to come. *failed_status (may be NULL) gets the HTTP status of a
 * failure. With total != NULL the first page asks total=true and *total
 * gets it (-1 when the answer has none); a total past the cap ends the
 * listing there, LIST_CAPPED, without paging up to the cap for nothing.
 */
static list_status_t page_through(cycle_t *cy, const char *what,
                                  const char *base, pd_parse_kind_t kind,
                                  const pd_parse_callbacks_t *cb,
                                  long quiet_status, long *failed_status,
                                  long long *total) {
  long long offset = 0;
  for (;;) {
    if (cy->aborted)
      return LIST_FAILED;
    pd_url_t u;
    if (pd_url_init(&u, base) != 0 ||
        pd_url_add_int(&u, "limit", PAGE_LIMIT) != 0 ||
        pd_url_add_int(&u, "offset", offset) != 0 ||
        (total != NULL && offset == 0 &&
         pd_url_add(&u, "total", "true") != 0)) {
      pd_url_free(&u);
      out_of_memory(cy, what);
      return LIST_FAILED;
    }
    pd_fetch_t f = {.what = what,
                    .path = u.buf,
                    .kind = kind,
                    .cb = cb,
                    .quiet_status = quiet_status};
    pd_parse_result_t res;
    pd_http_response_t resp;
    int rc = fetch(cy, &f, &res, &resp);
    pd_url_free(&u);
    if (rc != 0) {
      if (failed_status != NULL)
        *failed_status = resp.status;
      return LIST_FAILED;
    }
    if (total != NULL && offset == 0)
      *total = res.total;
    if (!res.more)
      return LIST_OK;
    if (total != NULL && *total > OFFSET_CAP)
      return LIST_CAPPED;
    if (res.entities == 0) {
      /* "more" with an empty page would page on forever. */
      if (!cy->c->said_empty_more)
        PD_ACCOUNT_ERROR(cy->cfg->name,
                         "%s: a page said more follow but "
                         "was empty; the listing is ignored.",
                         what);
      cy->c->said_empty_more = true;
      return LIST_FAILED;
    }
    offset += res.limit > 0 ? res.limit : PAGE_LIMIT;
    if (offset + PAGE_LIMIT > OFFSET_CAP)
      return LIST_CAPPED;
  }
}

static list_status_t list_pages(cycle_t *cy, const char *what, const char *base,
                                pd_parse_kind_t kind,
                                const pd_parse_callbacks_t *cb,
                                long quiet_status, long *failed_status) {
  return page_through(cy, what, base, kind, cb, quiet_status, failed_status,
                      NULL);
}

/* --- dedupe --------------------------------------------------------------- */

#define DEFINE_DEDUPE(fn, vec_t, item_t, free_item)                            \
  static int fn##_cmp(const void *a, const void *b) {                          \
    return strcmp(((const item_t *)a)->id, ((const item_t *)b)->id);           \
  }                                                                            \
  static void fn(vec_t *v) {                                                   \
    if (v->num < 2)                                                            \
      return;                                                                  \
    qsort(v->items, v->num, sizeof(*v->items), fn##_cmp);                      \
    size_t kept = 1;                                                           \
    for (size_t i = 1; i < v->num; i++) {                                      \
      if (strcmp(v->items[i].id, v->items[kept - 1].id) == 0)                  \
        free_item(&v->items[i]);                                               \
      else                                                                     \
        v->items[kept++] = v->items[i];                                        \
    }                                                                          \
    v->num = kept;                                                             \
  }

static void team_free_nothing(pd_team_t *t) { (void)t; }

DEFINE_DEDUPE(dedupe_teams, pd_teams_t, pd_team_t, team_free_nothing)
DEFINE_DEDUPE(dedupe_services, pd_services_t, pd_service_t, pd_service_free)
DEFINE_DEDUPE(dedupe_policies, pd_policies_t, pd_policy_t, pd_policy_free)

static int cmp_oncall(const void *a, const void *b) {
  const pd_oncall_t *x = a, *y = b;
  int c = strcmp(x->escalation_policy_id, y->escalation_policy_id);
  if (c == 0 && x->level != y->level)
    c = x->level < y->level ? -1 : 1;
  if (c == 0)
    c = strcmp(x->schedule_id, y->schedule_id);
  if (c == 0)
    c = strcmp(x->user_id, y->user_id);
  if (c == 0 && x->start != y->start)
    c = x->start < y->start ? -1 : 1;
  if (c == 0 && x->end != y->end)
    c = x->end < y->end ? -1 : 1;
  return c;
}

/* On-calls have no ID: an entry repeated by a page shift is equal in
 * every field. */
static void dedupe_oncalls(pd_oncalls_t *v) {
  if (v->num < 2)
    return;
  qsort(v->items, v->num, sizeof(*v->items), cmp_oncall);
  size_t kept = 1;
  for (size_t i = 1; i < v->num; i++)
    if (cmp_oncall(&v->items[i], &v->items[kept - 1]) != 0)
      v->items[kept++] = v->items[i];
  v->num = kept;
}

/* --- teams and the Team scope --------------------------------------------- */

static int on_team(void *ctx, const pd_team_t *team) {
  return pd_teams_push(ctx, team);
}

/* Appends `"value"` to a comma-separated list in buf. */
static void list_append(char *buf, size_t size, const char *value) {
  size_t len = strlen(buf);
  if (len < size)
    snprintf(buf + len, size - len, "%s\"%s\"", len > 0 ? ", " : "", value);
}

/*
 * The teams configured value `value` names: the team with that ID (any
 * case), else every team with exactly that name. Appends their IDs to ids.
 */
static int match_team(const pd_teams_t *all, const char *value,
                      pd_idlist_t *ids) {
  for (size_t i = 0; i < all->num; i++)
    if (strcasecmp(all->items[i].id, value) == 0)
      return pd_idlist_add(ids, all->items[i].id);
  for (size_t i = 0; i < all->num; i++)
    if (strcmp(all->items[i].name, value) == 0 &&
        pd_idlist_add(ids, all->items[i].id) != 0)
      return -1;
  return 0;
}

static const pd_team_t *find_team(const pd_teams_t *teams, const char *id) {
  for (size_t i = 0; i < teams->num; i++)
    if (strcmp(teams->items[i].id, id) == 0)
      return &teams->items[i];
  return NULL;
}

/* Rebuilds the scope from the resolved IDs, with the names of `all` (or
 * the ones known before, for a team the listing no longer shows). */
static int rebuild_scope(pd_collect_t *c, const pd_teams_t *all) {
  pd_teams_t scope = {0};
  for (size_t v = 0; v < c->cfg->teams_num; v++)
    for (size_t i = 0; i < c->value_ids[v].num; i++) {
      const char *id = c->value_ids[v].ids[i];
      const pd_team_t *t = find_team(all, id);
      if (t == NULL)
        t = find_team(&c->scope, id);
      pd_team_t fallback = {0};
      if (t == NULL) {
        snprintf(fallback.id, sizeof(fallback.id), "%s", id);
        snprintf(fallback.name, sizeof(fallback.name), "%s", id);
        t = &fallback;
      }
      if (find_team(&scope, id) == NULL && pd_teams_push(&scope, t) != 0) {
        pd_teams_free(&scope);
        return -1;
      }
    }
  pd_teams_free(&c->scope);
  c->scope = scope;
  return 0;
}

/*
 * Resolves the configured Team values against the visible teams, once per
 * value: a value resolved at start keeps its team IDs (a renamed team
 * stays in scope). Values that match nothing are logged when that set
 * changes, and tried again at the next listing.
 */
static int resolve_scope(cycle_t *cy, const pd_teams_t *all) {
  pd_collect_t *c = cy->c;
  char unknown[1024] = "";
  for (size_t v = 0; v < cy->cfg->teams_num; v++) {
    if (c->value_ids[v].num > 0)
      continue;
    if (match_team(all, cy->cfg->teams[v], &c->value_ids[v]) != 0)
      return out_of_memory(cy, "GET /teams");
    if (c->value_ids[v].num == 0)
      list_append(unknown, sizeof(unknown), cy->cfg->teams[v]);
  }
  if (rebuild_scope(c, all) != 0)
    return out_of_memory(cy, "GET /teams");
  c->scope_complete = unknown[0] == '\0';

  if (unknown[0] != '\0' &&
      (c->unknown_logged == NULL || strcmp(c->unknown_logged, unknown) != 0)) {
    PD_ACCOUNT_ERROR(cy->cfg->name,
                     "Team %s: no team with this ID or exact name is visible "
                     "to the user; check the spelling (names must match "
                     "exactly, case included) and the user's team "
                     "membership.%s",
                     unknown,
                     c->scope.num == 0 ? " Nothing is collected until a Team "
                                         "resolves."
                                       : "");
    free(c->unknown_logged);
    c->unknown_logged = strdup(unknown);
  } else if (unknown[0] == '\0' && c->unknown_logged != NULL) {
    PD_ACCOUNT_INFO(cy->cfg->name, "every Team resolves now.");
    free(c->unknown_logged);
    c->unknown_logged = NULL;
  }
  return 0;
}

/* GET /teams: the teams series' names, and the Team scope while it is not
 * fully resolved. */
static int collect_teams(cycle_t *cy) {
  pd_collect_t *c = cy->c;
  bool scoped = cy->cfg->teams_num > 0;
  pd_teams_t fresh = {0};
  pd_parse_callbacks_t cb = {.ctx = &fresh, .on_team = on_team};
  long status = 0;
  list_status_t ls = list_pages(cy, "GET /teams", "/teams", PD_PARSE_TEAMS, &cb,
                                scoped ? 0 : 402, &status);
  drop_teams(c);
  if (ls == LIST_FAILED && !scoped && status == 402) {
    /* An account without the teams ability has no teams to report; that
     * is not a failure of the cycle. Asked again every SlowInterval. */
    if (!c->no_teams_ability)
      PD_ACCOUNT_WARNING(cy->cfg->name,
                         "GET /teams: the PagerDuty account lacks the teams "
                         "ability (HTTP 402); no team series are dispatched.");
    c->no_teams_ability = true;
    pd_teams_free(&fresh);
    cache_fresh(&c->teams_cache, cy, 0);
    return 0;
  }
  if (ls != LIST_OK) {
    if (ls == LIST_CAPPED)
      say_capped(cy, CAPPED_TEAMS, "GET /teams");
    pd_teams_free(&fresh);
    return -1;
  }
  c->no_teams_ability = false;
  dedupe_teams(&fresh);
  if (scoped) {
    int rc = resolve_scope(cy, &fresh);
    pd_teams_free(&fresh);
    if (rc != 0)
      return -1;
    /* The team series cover the scope, with the names just read. */
    for (size_t i = 0; i < c->scope.num; i++)
      if (pd_teams_push(&c->teams, &c->scope.items[i]) != 0) {
        drop_teams(c);
        return out_of_memory(cy, "GET /teams");
      }
  } else {
    c->teams = fresh;
  }
  cache_fresh(&c->teams_cache, cy, 0);
  return 0;
}

/* --- services ------------------------------------------------------------- */

static int on_service(void *ctx, const pd_service_t *service) {
  return pd_services_push(ctx, service);
}

/* doc/contract.md §7: with Team set and nothing visible, name the teams,
 * once. */
static void check_empty_scope(cycle_t *cy) {
  pd_collect_t *c = cy->c;
  if (cy->cfg->teams_num == 0 || c->services.num > 0) {
    c->empty_warned = false;
    return;
  }
  if (c->empty_warned)
    return;
  c->empty_warned = true;
  char teams[1024] = "";
  for (size_t i = 0; i < cy->cfg->teams_num; i++)
    list_append(teams, sizeof(teams), cy->cfg->teams[i]);
  PD_ACCOUNT_WARNING(cy->cfg->name,
                     "Nothing visible in scope: 0 services with Team %s; "
                     "check the user's team membership and that these teams "
                     "own services.",
                     teams);
}

/* Lists the in-scope services into out (deduplicated); -1 with out
 * emptied when the listing fails. */
static int list_services(cycle_t *cy, pd_services_t *out) {
  pd_url_t u;
  if (pd_url_init(&u, "/services") != 0 || url_add_scope(&u, cy->c) != 0) {
    pd_url_free(&u);
    return out_of_memory(cy, "GET /services");
  }
  pd_parse_callbacks_t cb = {.ctx = out, .on_service = on_service};
  list_status_t ls =
      list_pages(cy, "GET /services", u.buf, PD_PARSE_SERVICES, &cb, 0, NULL);
  pd_url_free(&u);
  if (ls != LIST_OK) {
    if (ls == LIST_CAPPED)
      say_capped(cy, CAPPED_SERVICES, "GET /services");
    pd_services_free(out);
    return -1;
  }
  dedupe_services(out);
  return 0;
}

static int on_window(void *ctx, const pd_maintenance_window_t *window) {
  return pd_maintenance_windows_push(ctx, window);
}

/* The maintenance windows not over yet (ongoing and future), scoped as the
 * services are (team_ids[]; without Team today, services_kept()). -1 with
 * out emptied when the listing fails. */
static int list_windows(cycle_t *cy, pd_maintenance_windows_t *out) {
  pd_url_t u;
  if (pd_url_init(&u, "/maintenance_windows") != 0 ||
      pd_url_add(&u, "filter", "open") != 0 || url_add_scope(&u, cy->c) != 0) {
    pd_url_free(&u);
    return out_of_memory(cy, "GET /maintenance_windows");
  }
  pd_parse_callbacks_t cb = {.ctx = out, .on_maintenance_window = on_window};
  list_status_t ls = list_pages(cy, "GET /maintenance_windows", u.buf,
                                PD_PARSE_MAINTENANCE_WINDOWS, &cb, 0, NULL);
  pd_url_free(&u);
  if (ls != LIST_OK) {
    if (ls == LIST_CAPPED)
      say_capped(cy, CAPPED_OTHER, "GET /maintenance_windows");
    pd_maintenance_windows_free(out);
    return -1;
  }
  return 0;
}

/*
 * Does this mode keep the service listing between cycles (and derive the
 * statuses, pd_service_status.h)? Not with Team: the open incidents are
 * then those of in-scope teams, and an incident's teams need not be its
 * service's (it keeps the teams it was created with when the service
 * moves to another team), so an in-scope service may have open incidents
 * this read never sees; its critical or warning could not be proven. With
 * Team the services are listed every Interval, their status as PagerDuty
 * gives it.
 */
static bool services_kept(const pd_account_config_t *cfg) {
  return cfg->full_sync_interval_s > 0 && NEED_SERVICES(cfg) &&
         cfg->teams_num == 0;
}

static bool listed_this_cycle(const cycle_t *cy) {
  const cache_t *k = &cy->c->services_cache;
  return k->valid && k->fetched_mono == cy->mono;
}

/* The kept listing and the open maintenance windows, read again. All or
 * nothing: when either fails both are dropped (no status this cycle) and
 * read again next cycle. */
static int refresh_service_listing(cycle_t *cy) {
  pd_collect_t *c = cy->c;
  drop_service_listing(c);
  pd_services_t fresh = {0};
  pd_maintenance_windows_t windows = {0};
  if (list_services(cy, &fresh) != 0)
    return -1;
  if (list_windows(cy, &windows) != 0) {
    pd_services_free(&fresh);
    return -1;
  }
  pd_service_status_t *listed =
      malloc((fresh.num ? fresh.num : 1) * sizeof(*listed));
  if (listed == NULL) {
    pd_services_free(&fresh);
    pd_maintenance_windows_free(&windows);
    return out_of_memory(cy, "GET /services");
  }
  for (size_t i = 0; i < fresh.num; i++)
    listed[i] = fresh.items[i].status;
  c->services = fresh;
  c->listed_status = listed;
  c->windows = windows;
  cache_fresh(&c->services_cache, cy, 0);
  check_empty_scope(cy);
  return 0;
}

/* A full read of the incidents comes this cycle: at start, after an
 * invalidation or a failure, and every FullSyncInterval. */
static bool full_due(const cycle_t *cy);

static int collect_services(cycle_t *cy) {
  pd_collect_t *c = cy->c;
  if (services_kept(cy->cfg)) {
    /* Listed every SlowInterval and with every full read (which may also
     * start later this cycle, as a fallback: full_read lists then). */
    if (cache_due(&c->services_cache, cy) || !c->incr.valid || full_due(cy))
      return refresh_service_listing(cy);
    return 0;
  }
  if (list_services(cy, &c->services) != 0)
    return -1;
  c->services_ok = true;
  check_empty_scope(cy);
  return 0;
}

/* With the listing kept: the cycle's statuses from the listing, the
 * windows and the open incidents just read. Without either no status is
 * known: the services are not offered this cycle. */
static int derive_service_status(cycle_t *cy) {
  pd_collect_t *c = cy->c;
  if (!c->services_cache.valid || !c->open_ok)
    return -1;
  if (pd_service_status_derive(&c->services, c->listed_status, &c->open,
                               &c->windows, cy->now) != 0)
    return out_of_memory(cy, "service status");
  c->services_ok = true;
  return 0;
}

/* --- incidents ------------------------------------------------------------ */

/*
 * Past the 10,000 offset cap. PagerDuty documents neither the order of
 * GET /incidents before the cap (sort_by) nor to what since/until are
 * honoured (the second, the minute, only the date; a time without a zone
 * in the account's zone): doc/pagerduty-api.md "Where the real service
 * differs". So nothing here relies on either. A listing asks for its total with
 * its first page; one of more than 10,000 is split by what the API filters
 * exactly: status x urgency, then batches of service_ids[], halved down
 * to one service. Only one service's open incidents of one status and
 * urgency are split by created_at, as a last resort, and the windows must
 * add up to that listing's total. Every since/until is sent in UTC and a
 * day wider on each side, and created_at is cut on the client, so the
 * answer holds the window however the server reads it. A split that
 * cannot be proven to add up fails the collection: an ERROR, no values.
 */

#define DAY_S 86400
#define WINDOW_PAD_S DAY_S /* since/until asked this much wider */
/* created_at windows of the last resort: the widest (padded, within the
 * API's 6 months), the narrowest worth asking (the padding alone is two
 * days), the earliest start (PagerDuty began in 2009). */
#define WINDOW_MAX_S (PD_INCIDENT_RANGE_MAX_S - 2 * WINDOW_PAD_S)
#define WINDOW_MIN_S DAY_S
#define WINDOW_FLOOR ((time_t)1230768000) /* 2009-01-01T00:00:00Z */
#define SERVICE_BATCH 100 /* service_ids[] per listing: URLs near 3 KB */

static const char *const incident_statuses[] = {"triggered", "acknowledged",
                                                "resolved"};
static const char *const incident_urgencies[] = {"high", "low"};

typedef struct {
  bool open_only;                /* triggered + acknowledged, else all */
  const char *status;            /* just this status; NULL: see open_only */
  const char *urgency;           /* just this urgency; NULL: both */
  const pd_services_t *services; /* service_ids[]: items [first, +num) */
  size_t first, num;             /* num 0: no service filter */
  bool all_time;                 /* date_range=all, else the window */
  time_t since, until;           /* created_at in [since, until) */
} incident_query_t;

typedef struct {
  pd_incident_recs_t *recs;
  const incident_query_t *q;
} incident_sink_t;

/* Keeps what the query asked for: the server may answer a wider window. */
static int on_incident(void *ctx, const pd_incident_t *inc) {
  incident_sink_t *sink = ctx;
  const incident_query_t *q = sink->q;
  if (!q->all_time &&
      (inc->created_at < q->since || inc->created_at >= q->until))
    return 0;
  return pd_incident_recs_push(sink->recs, inc);
}

static int incident_url(const cycle_t *cy, const incident_query_t *q,
                        pd_url_t *u) {
  int rc = pd_url_init(u, "/incidents");
  if (q->status != NULL) {
    rc |= pd_url_add(u, "statuses[]", q->status);
  } else if (q->open_only) {
    rc |= pd_url_add(u, "statuses[]", "triggered");
    rc |= pd_url_add(u, "statuses[]", "acknowledged");
  }
  if (q->urgency != NULL)
    rc |= pd_url_add(u, "urgencies[]", q->urgency);
  for (size_t i = q->first; i < q->first + q->num; i++)
    rc |= pd_url_add(u, "service_ids[]", q->services->items[i].id);
  if (q->all_time) {
    rc |= pd_url_add(u, "date_range", "all");
  } else {
    rc |= url_add_time(u, "since", q->since - WINDOW_PAD_S);
    rc |= url_add_time(u, "until", q->until + WINDOW_PAD_S);
  }
  rc |= url_add_scope(u, cy->c);
  return rc;
}

/* One listing into recs; *total gets the server's total of it (-1 when
 * the answer had none). LIST_CAPPED after the first page when it is past
 * the cap. */
static list_status_t incident_query(cycle_t *cy, const incident_query_t *q,
                                    pd_incident_recs_t *recs,
                                    long long *total) {
  *total = -1;
  pd_url_t u;
  if (incident_url(cy, q, &u) != 0) {
    pd_url_free(&u);
    out_of_memory(cy, "GET /incidents");
    return LIST_FAILED;
  }
  incident_sink_t sink = {.recs = recs, .q = q};
  pd_parse_callbacks_t cb = {.ctx = &sink, .on_incident = on_incident};
  list_status_t ls = page_through(cy, "GET /incidents", u.buf,
                                  PD_PARSE_INCIDENTS, &cb, 0, NULL, total);
  pd_url_free(&u);
  return ls;
}

/* The listing's incidents cannot be proven all listed: says which and
 * why; the collection fails (no values this cycle). */
static int incomplete(cycle_t *cy, const incident_query_t *q, const char *why) {
  char service[64] = "", since[32] = "";
  if (q->num == 1)
    snprintf(service, sizeof(service), " of service %s",
             q->services->items[q->first].id);
  if (!q->all_time)
    format_utc(since, q->since);
  PD_ACCOUNT_ERROR(cy->cfg->name,
                   "GET /incidents: the %s%s%s%s incidents%s%s%s: %s, so "
                   "their count cannot be proven complete; the series "
                   "that need it are not reported this cycle.",
                   q->status != NULL ? q->status
                   : q->open_only    ? "open"
                                     : "",
                   q->status != NULL || q->open_only ? " " : "",
                   q->urgency != NULL ? q->urgency : "",
                   q->urgency != NULL ? "-urgency" : "", service,
                   q->all_time ? "" : " created since ", since, why);
  return -1;
}

/*
 * One service's open incidents of one status and urgency, more than
 * 10,000 of them (`total`): created_at windows from the future back to
 * 2009 until they add up to the total. A window past the cap is halved;
 * each step moves the window back or halves it, so this ends.
 */
static int split_by_window(cycle_t *cy, const incident_query_t *q,
                           long long total, pd_incident_recs_t *recs) {
  if (!q->all_time || total < 0)
    return incomplete(cy, q,
                      total < 0 ? "more than 10,000, and PagerDuty gave no "
                                  "total to check a split against"
                                : "more than 10,000 for one service, status "
                                  "and urgency within the window");
  /* This listing's incidents go after `base`: deduplicated there, they
   * are counted against the total. */
  size_t base = recs->num;
  time_t until = cy->now + CLOCK_SLACK_S, width = WINDOW_MAX_S;
  while ((long long)(recs->num - base) < total) {
    if (until <= WINDOW_FLOOR) {
      char why[128];
      snprintf(why, sizeof(why), "windows back to 2009 found %zu of %lld",
               recs->num - base, total);
      return incomplete(cy, q, why);
    }
    incident_query_t w = *q;
    w.all_time = false;
    w.since = until - width;
    w.until = until;
    long long t;
    list_status_t ls = incident_query(cy, &w, recs, &t);
    if (ls == LIST_FAILED)
      return -1;
    if (ls == LIST_CAPPED) {
      if (width <= WINDOW_MIN_S)
        return incomplete(cy, &w, "more than 10,000 within a few days");
      width /= 2;
    } else {
      until = w.since;
      width = width * 2 > WINDOW_MAX_S ? WINDOW_MAX_S : width * 2;
    }
    if (recs->num > base) {
      pd_incident_recs_t tail = {.items = recs->items + base,
                                 .num = recs->num - base,
                                 .cap = recs->num - base};
      pd_incident_recs_dedupe(&tail);
      recs->num = base + tail.num;
    }
  }
  return 0;
}

/* A batch of services (q->first, q->num): listed, or halved when past the
 * cap, down to one service. *total: the server's total of the batch. */
static int list_batch(cycle_t *cy, const incident_query_t *q,
                      pd_incident_recs_t *recs, long long *total) {
  list_status_t ls = incident_query(cy, q, recs, total);
  if (ls != LIST_CAPPED)
    return ls == LIST_OK ? 0 : -1;
  if (q->num == 1)
    return split_by_window(cy, q, *total, recs);
  /* Halves: service_ids[] is exact, so they add up by themselves. */
  incident_query_t half = *q;
  half.num = q->num / 2;
  long long half_total;
  if (list_batch(cy, &half, recs, &half_total) != 0)
    return -1;
  half.first += half.num;
  half.num = q->num - half.num;
  return list_batch(cy, &half, recs, &half_total);
}

/* Per batch of services. Incidents of a service the listing of services
 * did not show would be missed: the batches' totals must add up to the
 * listing's. */
static int split_by_service(cycle_t *cy, const incident_query_t *q,
                            long long total, pd_incident_recs_t *recs) {
  if (total < 0)
    return incomplete(cy, q,
                      "more than 10,000, and PagerDuty gave no total to "
                      "check a split against");
  pd_services_t fetched = {0};
  const pd_services_t *services = &cy->c->services;
  if (!cy->c->services_ok && !listed_this_cycle(cy)) {
    if (list_services(cy, &fetched) != 0)
      return -1;
    services = &fetched;
  }
  long long sum = 0;
  int rc = 0;
  for (size_t first = 0; first < services->num && rc == 0;
       first += SERVICE_BATCH) {
    incident_query_t batch = *q;
    batch.services = services;
    batch.first = first;
    batch.num = services->num - first < SERVICE_BATCH ? services->num - first
                                                      : SERVICE_BATCH;
    long long t;
    rc = list_batch(cy, &batch, recs, &t);
    sum += t;
  }
  if (rc == 0 && sum != total) {
    char why[160];
    snprintf(why, sizeof(why),
             "more than 10,000, and the listings per service add up to "
             "%lld of %lld",
             sum, total);
    rc = incomplete(cy, q, why);
  }
  pd_services_free(&fetched);
  return rc;
}

/* Lists q into recs, split as far as the 10,000 cap makes necessary. */
static int list_incidents(cycle_t *cy, const incident_query_t *q,
                          pd_incident_recs_t *recs) {
  long long total;
  list_status_t ls = incident_query(cy, q, recs, &total);
  if (ls != LIST_CAPPED)
    return ls == LIST_OK ? 0 : -1;
  if (q->urgency != NULL)
    return split_by_service(cy, q, total, recs);
  /* Status x urgency: exact filters, so the parts add up by themselves. */
  size_t num_statuses = q->open_only ? 2 : 3;
  for (size_t s = 0; s < num_statuses; s++)
    for (size_t u = 0; u < 2; u++) {
      incident_query_t part = *q;
      part.status = incident_statuses[s];
      part.urgency = incident_urgencies[u];
      if (list_incidents(cy, &part, recs) != 0)
        return -1;
    }
  return 0;
}

static int collect_open_incidents(cycle_t *cy) {
  pd_collect_t *c = cy->c;
  c->open.num = 0;
  incident_query_t q = {.open_only = true, .all_time = true};
  if (list_incidents(cy, &q, &c->open) != 0)
    return -1;
  pd_incident_recs_dedupe(&c->open);
  c->open_ok = true;
  return 0;
}

/* Created within TrendWindow, in windows within the API's 6 months. */
static int collect_created_incidents(cycle_t *cy) {
  pd_collect_t *c = cy->c;
  c->created.num = 0;
  time_t since = cy->now - (time_t)cy->cfg->trend_window_s;
  while (since < cy->now) {
    time_t until =
        cy->now - since > WINDOW_MAX_S ? since + WINDOW_MAX_S : cy->now;
    incident_query_t q = {.since = since, .until = until};
    if (list_incidents(cy, &q, &c->created) != 0)
      return -1;
    since = until;
  }
  pd_incident_recs_dedupe(&c->created);
  c->created_ok = true;
  return 0;
}

/* --- incremental incidents (pd_incremental.h) ----------------------------- */

/* Open incidents a re-listing aims at: one page of 100, with room (a
 * one-page listing is one answer, which no concurrent change can shift). */
#define PAGE_FILL 90

static int on_log_entry(void *ctx, const pd_log_entry_t *entry) {
  return pd_incr_log_add(ctx, entry);
}

/* GET /log_entries since log->low, newest first, paged only until an
 * entry older than that shows. -1 when the read is not proven complete:
 * a failure, not newest first, or the offset cap before the overlap. */
static int read_log(cycle_t *cy, pd_incr_log_t *log, const char **why) {
  *why = "GET /log_entries failed";
  for (long long offset = 0;; offset += PAGE_LIMIT) {
    if (cy->aborted || offset + PAGE_LIMIT > OFFSET_CAP) {
      if (!cy->aborted)
        *why = "more log entries than offset paging reaches";
      return -1;
    }
    pd_url_t u;
    if (pd_url_init(&u, "/log_entries") != 0 ||
        url_add_time(&u, "since", log->low) != 0 ||
        pd_url_add(&u, "include[]", "incidents") != 0 ||
        pd_url_add_int(&u, "limit", PAGE_LIMIT) != 0 ||
        pd_url_add_int(&u, "offset", offset) != 0) {
      pd_url_free(&u);
      return out_of_memory(cy, "GET /log_entries");
    }
    pd_parse_callbacks_t cb = {.ctx = log, .on_log_entry = on_log_entry};
    pd_fetch_t f = {.what = "GET /log_entries",
                    .path = u.buf,
                    .kind = PD_PARSE_LOG_ENTRIES,
                    .cb = &cb};
    pd_parse_result_t res;
    pd_http_response_t resp;
    int rc = fetch(cy, &f, &res, &resp);
    pd_url_free(&u);
    if (rc != 0)
      return -1;
    if (log->disordered) {
      *why = "the log entries did not come newest first";
      return -1;
    }
    if (log->reached || !res.more)
      return 0;
    if (res.entities == 0) {
      *why = "a log page said more follow but was empty";
      return -1;
    }
  }
}

static int cmp_id(const void *a, const void *b) {
  return strcmp((const char *)a, (const char *)b);
}

/* The cache's open incidents per service, as a sorted array of service
 * IDs (one per incident); counted with bounds below. */
static pd_id_t *services_of_open(const pd_incident_recs_t *open) {
  pd_id_t *ids = malloc((open->num + 1) * sizeof(*ids));
  if (ids == NULL)
    return NULL;
  for (size_t i = 0; i < open->num; i++)
    memcpy(ids[i], open->items[i].service_id, sizeof(ids[i]));
  qsort(ids, open->num, sizeof(*ids), cmp_id);
  return ids;
}

static size_t count_of(const pd_id_t *ids, size_t num, const char *id) {
  size_t lo = 0, hi = num;
  while (lo < hi) { /* the first >= id */
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(ids[mid], id) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  size_t n = 0;
  while (lo + n < num && strcmp(ids[lo + n], id) == 0)
    n++;
  return n;
}

/* One batch of services listed; exposed when it took several pages. */
static int list_open_batch(cycle_t *cy, const pd_services_t *batch,
                           const pd_idlist_t *ids, pd_incident_recs_t *out) {
  incident_query_t q = {.open_only = true,
                        .all_time = true,
                        .services = batch,
                        .first = 0,
                        .num = batch->num};
  time_t from = time(NULL);
  size_t before = out->num;
  long long total;
  if (list_batch(cy, &q, out, &total) != 0)
    return -1;
  if (out->num - before > PAGE_LIMIT &&
      pd_incr_expose(&cy->c->incr, ids, from, time(NULL)) != 0)
    return out_of_memory(cy, "GET /incidents");
  return 0;
}

/* The open incidents of `services` (service_ids[], an exact filter) into
 * out: at most SERVICE_BATCH services a listing, packed by the cache's
 * counts into about one page each. */
static int list_open_of(cycle_t *cy, const pd_idlist_t *services,
                        pd_incident_recs_t *out) {
  pd_id_t *counts = services_of_open(&cy->c->open);
  if (counts == NULL)
    return out_of_memory(cy, "GET /incidents");
  int rc = 0;
  size_t i = 0;
  while (i < services->num && rc == 0) {
    pd_services_t batch = {0};
    pd_idlist_t ids = {0};
    size_t fill = 0;
    while (i < services->num && batch.num < SERVICE_BATCH && rc == 0) {
      size_t n = count_of(counts, cy->c->open.num, services->ids[i]) + 1;
      if (batch.num > 0 && fill + n > PAGE_FILL)
        break;
      pd_service_t s = {0};
      snprintf(s.id, sizeof(s.id), "%s", services->ids[i]);
      if (pd_services_push(&batch, &s) != 0 || pd_idlist_add(&ids, s.id) != 0)
        rc = out_of_memory(cy, "GET /incidents");
      fill += n;
      i++;
    }
    if (rc == 0)
      rc = list_open_batch(cy, &batch, &ids, out);
    pd_services_free(&batch);
    pd_idlist_free(&ids);
  }
  free(counts);
  return rc;
}

/* With Team: the open listing scoped by team_ids[] alone (exact: an
 * incident's teams may be in scope while its service is not). Listed in
 * one piece, so every service in it is exposed for the paging window. */
static int full_open_scoped(cycle_t *cy, const pd_services_t *services) {
  pd_collect_t *c = cy->c;
  time_t from = time(NULL);
  if (collect_open_incidents(cy) != 0)
    return -1;
  c->open_ok = false; /* published by the caller */
  if (c->open.num <= PAGE_LIMIT)
    return 0;
  pd_idlist_t ids = {0};
  int rc = 0;
  for (size_t i = 0; i < services->num && rc == 0; i++)
    rc = pd_incr_idset_add(&ids, services->items[i].id);
  for (size_t i = 0; i < c->open.num && rc == 0; i++)
    rc = pd_incr_idset_add(&ids, c->open.items[i].service_id);
  if (rc == 0)
    rc = pd_incr_expose(&c->incr, &ids, from, time(NULL));
  pd_idlist_free(&ids);
  return rc == 0 ? 0 : out_of_memory(cy, "GET /incidents");
}

/* The open incidents per batch of services (so a concurrent change
 * exposes one batch, not all). */
static int full_open_batched(cycle_t *cy, const pd_services_t *services) {
  pd_collect_t *c = cy->c;
  pd_idlist_t ids = {0};
  int rc = 0;
  for (size_t i = 0; i < services->num && rc == 0; i++)
    if (pd_incr_idset_add(&ids, services->items[i].id) != 0)
      rc = out_of_memory(cy, "GET /incidents");
  pd_incident_recs_t open = {0};
  if (rc == 0)
    rc = list_open_of(cy, &ids, &open);
  pd_idlist_free(&ids);
  pd_incident_recs_dedupe(&open);
  pd_incident_recs_free(&c->open);
  c->open = open;
  return rc;
}

/* The full read of incremental mode: the open incidents, and the created
 * ones as in every mode. */
static int full_read(cycle_t *cy) {
  pd_collect_t *c = cy->c;
  pd_services_t fetched = {0};
  const pd_services_t *services = &c->services;
  if (services_kept(cy->cfg)) {
    /* The kept listing is read again with every full read. */
    if (!listed_this_cycle(cy) && refresh_service_listing(cy) != 0)
      return -1;
  } else if (!c->services_ok) {
    if (list_services(cy, &fetched) != 0)
      return -1;
    services = &fetched;
  }
  int rc = cy->cfg->teams_num > 0 ? full_open_scoped(cy, services)
                                  : full_open_batched(cy, services);
  pd_services_free(&fetched);
  if (rc == 0 && NEED_CREATED(cy->cfg)) {
    rc = collect_created_incidents(cy);
    pd_incident_recs_free(&c->created_all);
    c->created_all = c->created;
    c->created = (pd_incident_recs_t){0};
  }
  return rc;
}

/* The log since the cursor, and the open incidents of the services it
 * names listed again. */
static int incremental_step(cycle_t *cy, const char **why) {
  pd_collect_t *c = cy->c;
  pd_incr_log_t log;
  pd_incr_log_begin(&log, pd_incr_low(&c->incr));
  int rc = read_log(cy, &log, why);
  pd_idlist_t affected = {0};
  if (rc == 0) {
    *why = "out of memory";
    rc = pd_incr_take_entries(&c->incr, &log, &c->open, &c->created_all,
                              cy->now - (time_t)cy->cfg->trend_window_s,
                              cy->cfg->teams_num > 0 ? &c->scope : NULL,
                              &affected);
  }
  pd_incr_log_free(&log);
  pd_incident_recs_t fresh = {0};
  if (rc == 0) {
    *why = "GET /incidents of the changed services failed";
    rc = list_open_of(cy, &affected, &fresh);
  }
  if (rc == 0) {
    pd_incident_recs_dedupe(&fresh);
    *why = "out of memory";
    rc = pd_incr_merge(&c->open, &affected, &fresh, &c->created_all);
  }
  if (rc == 0) {
    pd_incr_explain(&c->incr, &affected);
    pd_incr_commit(&c->incr, cy->now);
  }
  pd_incident_recs_free(&fresh);
  pd_idlist_free(&affected);
  return rc;
}

/* The cycle's open set and created view from the caches. */
static int publish_incidents(cycle_t *cy) {
  pd_collect_t *c = cy->c;
  c->open_ok = true;
  if (!NEED_CREATED(cy->cfg))
    return 0;
  time_t floor = cy->now - (time_t)cy->cfg->trend_window_s;
  pd_incr_prune_created(&c->created_all, floor);
  if (pd_incr_created_view(&c->created_all, floor, cy->now, &c->created) != 0)
    return out_of_memory(cy, "GET /incidents");
  c->created_ok = true;
  return 0;
}

/* A resync: what the full read found against what the incremental
 * cache had (pending until the log explains it, pd_incremental.h). The
 * log's created records of incidents newer than now stay: their entries
 * are seen, and the full read stops at now. */
static int compare_resync(cycle_t *cy, const pd_incident_recs_t *mine_open,
                          const pd_incident_recs_t *mine_created) {
  pd_collect_t *c = cy->c;
  time_t floor = cy->now - (time_t)cy->cfg->trend_window_s;
  pd_incident_recs_t view = {0};
  int rc = pd_incr_compare(&c->incr, mine_open, &c->open, true, cy->now);
  if (rc == 0 && NEED_CREATED(cy->cfg))
    rc = pd_incr_created_view(mine_created, floor, cy->now, &view);
  if (rc == 0 && NEED_CREATED(cy->cfg))
    rc = pd_incr_compare(&c->incr, &view, &c->created_all, false, cy->now);
  pd_incident_recs_free(&view);
  return rc;
}

static int keep_future_created(cycle_t *cy, const pd_incident_recs_t *mine) {
  pd_collect_t *c = cy->c;
  size_t before = c->created_all.num;
  for (size_t i = 0; i < mine->num; i++) {
    if (mine->items[i].created_at < cy->now)
      continue;
    pd_incident_rec_t *items =
        realloc(c->created_all.items,
                (c->created_all.num + 1) * sizeof(*c->created_all.items));
    if (items == NULL)
      return -1;
    c->created_all.items = items;
    c->created_all.cap = c->created_all.num + 1;
    c->created_all.items[c->created_all.num++] = mine->items[i];
  }
  if (c->created_all.num != before)
    pd_incident_recs_dedupe(&c->created_all);
  return 0;
}

/* Is a full read due (FullSyncInterval, with half an Interval of
 * tolerance as cache_due)? */
static bool full_due(const cycle_t *cy) {
  return cy->mono - cy->c->incr.full_mono >=
         cy->cfg->full_sync_interval_s - cy->interval_s / 2;
}

/* A full read, this cycle; a resync compares it with the cache. */
static int full_incidents(cycle_t *cy, bool resync) {
  pd_collect_t *c = cy->c;
  pd_incident_recs_t mine_open = c->open, mine_created = c->created_all;
  c->open = (pd_incident_recs_t){0};
  c->created_all = (pd_incident_recs_t){0};
  int rc = full_read(cy);
  if (rc == 0)
    rc = keep_future_created(cy, &mine_created);
  if (rc == 0 && resync && compare_resync(cy, &mine_open, &mine_created) != 0)
    rc = out_of_memory(cy, "GET /incidents");
  pd_incident_recs_free(&mine_open);
  pd_incident_recs_free(&mine_created);
  if (rc != 0) {
    pd_incr_invalidate(&c->incr);
    c->open.num = c->created_all.num = 0;
    return -1;
  }
  c->incr.full_mono = cy->mono;
  pd_incr_commit(&c->incr, cy->now);
  return publish_incidents(cy);
}

/*
 * The open and created incidents. FullSyncInterval 0: a full read every
 * cycle. Otherwise the log since the last cycle and the changed services
 * (pd_incremental.h), a full read when that cannot be proven complete,
 * and every FullSyncInterval a full read compared with the cache.
 */
static int collect_incidents(cycle_t *cy) {
  pd_collect_t *c = cy->c;
  if (cy->cfg->full_sync_interval_s <= 0) {
    int rc = collect_open_incidents(cy);
    if (NEED_CREATED(cy->cfg) && collect_created_incidents(cy) != 0)
      rc = -1;
    return rc;
  }
  pd_incr_settle(&c->incr, cy->now);
  bool resync = false;
  if (c->incr.valid) {
    const char *why = "";
    if (incremental_step(cy, &why) == 0) {
      if (c->said_fallback)
        PD_ACCOUNT_INFO(cy->cfg->name, "incremental reads work again.");
      c->said_fallback = false;
      if (!full_due(cy))
        return publish_incidents(cy);
      resync = true;
    } else if (!c->said_fallback) {
      c->said_fallback = true;
      PD_ACCOUNT_INFO(cy->cfg->name,
                      "incremental read not proven complete (%s): a full "
                      "read this cycle.",
                      why);
    }
  }
  if (cy->aborted) {
    pd_incr_invalidate(&c->incr);
    return -1;
  }
  return full_incidents(cy, resync);
}

uint64_t pd_collect_resync_corrections(const pd_collect_t *c) {
  return c->incr.corrections;
}

/* --- escalation policies -------------------------------------------------- */

static int on_policy(void *ctx, const pd_policy_t *policy) {
  return pd_policies_push(ctx, policy);
}

static int collect_policies(cycle_t *cy) {
  pd_collect_t *c = cy->c;
  drop_policies(c);
  pd_url_t u;
  if (pd_url_init(&u, "/escalation_policies") != 0 ||
      url_add_scope(&u, c) != 0) {
    pd_url_free(&u);
    return out_of_memory(cy, "GET /escalation_policies");
  }
  pd_parse_callbacks_t cb = {.ctx = &c->policies, .on_policy = on_policy};
  list_status_t ls = list_pages(cy, "GET /escalation_policies", u.buf,
                                PD_PARSE_POLICIES, &cb, 0, NULL);
  pd_url_free(&u);
  if (ls != LIST_OK) {
    if (ls == LIST_CAPPED)
      say_capped(cy, CAPPED_OTHER, "GET /escalation_policies");
    drop_policies(c);
    return -1;
  }
  dedupe_policies(&c->policies);
  cache_fresh(&c->policies_cache, cy, 0);
  return 0;
}

/* --- schedules ------------------------------------------------------------ */

/*
 * Schedules are read in two steps (doc/pagerduty-api.md, "Where the real
 * service differs"): the listings GET /schedules (layer-based; team_ids[]) and
 * GET /v3/schedules (shift-based; references only, no team filter) every
 * SlowInterval, and each schedule's final schedule from its detail
 * endpoint, which the listings never carry. c->schedules is the cache of
 * both: sorted by ID, a record per listed schedule with its last final
 * schedule and the state of its detail (pd_readmetrics.h).
 */

static int on_listed_schedule(void *ctx, const pd_schedule_t *schedule) {
  pd_schedule_entries_t none = {0};
  return pd_schedule_recs_push(ctx, schedule, &none);
}

/* One listing into `listed`, its records marked with `kind`. */
static int list_schedule_kind(cycle_t *cy, pd_schedule_kind_t kind,
                              pd_schedule_recs_t *listed) {
  bool shifts = kind == PD_SCHEDULE_SHIFTS;
  const char *what = shifts ? "GET /v3/schedules" : "GET /schedules";
  pd_url_t u;
  int rc = pd_url_init(&u, shifts ? "/v3/schedules" : "/schedules");
  if (!shifts) /* /v3/schedules has no documented team filter */
    rc |= url_add_scope(&u, cy->c);
  if (rc != 0) {
    pd_url_free(&u);
    return out_of_memory(cy, what);
  }
  size_t first = listed->num;
  pd_parse_callbacks_t cb = {.ctx = listed, .on_schedule = on_listed_schedule};
  list_status_t ls = list_pages(
      cy, what, u.buf, shifts ? PD_PARSE_SCHEDULES_V3 : PD_PARSE_SCHEDULES, &cb,
      0, NULL);
  pd_url_free(&u);
  if (ls == LIST_CAPPED)
    say_capped(cy, CAPPED_SCHEDULES, what);
  for (size_t i = first; i < listed->num; i++) {
    listed->items[i].kind = kind;
    listed->items[i].read = listed->items[i].offered = false;
  }
  return ls == LIST_OK ? 0 : -1;
}

static void swap_schedule(pd_schedule_t *a, pd_schedule_t *b) {
  pd_schedule_t t = *a;
  *a = *b;
  *b = t;
}

/* A listed schedule the cache knew as the same kind keeps its final
 * schedule and detail state; a shift-based one also its name and teams,
 * which only its detail has (the listing has a summary). */
static void carry_over(pd_schedule_rec_t *fresh, pd_schedule_rec_t *old) {
  pd_schedule_entries_t entries = fresh->entries;
  fresh->entries = old->entries;
  old->entries = entries;
  if (fresh->kind == PD_SCHEDULE_SHIFTS && old->read)
    swap_schedule(&fresh->schedule, &old->schedule);
  fresh->read = old->read;
  fresh->unknown = old->unknown;
  fresh->logged_unknown = old->logged_unknown;
  fresh->fetched_mono = old->fetched_mono;
  fresh->until = old->until;
  fresh->known_at = old->known_at;
}

static int collect_schedules(cycle_t *cy) {
  pd_collect_t *c = cy->c;
  c->schedules_cache.valid = false;
  pd_schedule_recs_t listed = {0};
  if (list_schedule_kind(cy, PD_SCHEDULE_LAYERS, &listed) != 0 ||
      list_schedule_kind(cy, PD_SCHEDULE_SHIFTS, &listed) != 0) {
    /* Not offered this cycle; the cached final schedules stay for the
     * next listing. */
    pd_schedule_recs_free(&listed);
    return -1;
  }
  pd_schedule_recs_dedupe(&listed);
  for (size_t i = 0; i < listed.num; i++) {
    pd_schedule_rec_t *old =
        pd_schedule_recs_find(&c->schedules, listed.items[i].schedule.id);
    if (old != NULL && old->kind == listed.items[i].kind)
      carry_over(&listed.items[i], old);
  }
  pd_schedule_recs_free(&c->schedules);
  c->schedules = listed;
  cache_fresh(&c->schedules_cache, cy, 0);
  return 0;
}

/* How far ahead a final schedule is read: CoverageWindow from the last
 * moment it may still be used. A record is refreshed once it is a
 * SlowInterval old, at the latest one more SlowInterval later (the quota
 * below), so it must hold until now + 2 SlowInterval + 2 Interval (one for
 * a late cycle) + CoverageWindow. */
static time_t detail_until(const cycle_t *cy) {
  return cy->now + (time_t)(cy->cfg->coverage_window_s +
                            2 * cy->cfg->slow_interval_s + 2 * cy->interval_s);
}

/* Details read per cycle once every record has been read: all of them
 * spread over SlowInterval, ceil(num * Interval / SlowInterval). */
static size_t detail_quota(const cycle_t *cy, size_t num) {
  double slow = cy->cfg->slow_interval_s;
  if (cy->interval_s >= slow)
    return num;
  double q = (double)num * cy->interval_s / slow;
  size_t n = (size_t)q;
  return n < q ? n + 1 : n;
}

/* Must be read this cycle: never read, or the window read no longer holds
 * [now, now + CoverageWindow). */
static bool detail_needed(const cycle_t *cy, const pd_schedule_rec_t *r) {
  return !r->read || cy->now + (time_t)cy->cfg->coverage_window_s > r->until;
}

static bool detail_due(const cycle_t *cy, const pd_schedule_rec_t *r) {
  cache_t k = {.valid = true, .fetched_mono = r->fetched_mono};
  return cache_due(&k, cy);
}

typedef struct {
  pd_schedule_t schedule;
  bool got;
  pd_schedule_entries_t entries;
} detail_sink_t;

static int on_detail_schedule(void *ctx, const pd_schedule_t *schedule) {
  detail_sink_t *sink = ctx;
  pd_schedule_free(&sink->schedule);
  if (pd_schedule_copy(&sink->schedule, schedule) != 0)
    return -1;
  sink->got = true;
  return 0;
}

static int on_detail_entry(void *ctx, const pd_schedule_entry_t *entry) {
  detail_sink_t *sink = ctx;
  return pd_schedule_entries_push(&sink->entries, entry);
}

/* The detail request of one schedule: its final schedule of
 * [now, until). */
static int detail_url(const cycle_t *cy, const pd_schedule_rec_t *r,
                      time_t until, pd_url_t *u) {
  char path[64];
  bool shifts = r->kind == PD_SCHEDULE_SHIFTS;
  snprintf(path, sizeof(path), "%s/%s", shifts ? "/v3/schedules" : "/schedules",
           r->schedule.id);
  int rc = pd_url_init(u, path);
  rc |= url_add_time(u, "since", cy->now);
  rc |= url_add_time(u, "until", until);
  if (shifts)
    rc |= pd_url_add(u, "include[]", "final_schedule");
  else
    rc |= pd_url_add(u, "time_zone", "UTC");
  return rc;
}

/* The state of a schedule's detail changed to unknown: said once, unless
 * the connection or the token failed (the account says that). */
static void mark_unknown(cycle_t *cy, pd_schedule_rec_t *r,
                         const pd_http_response_t *resp) {
  bool account_wide =
      resp == NULL || resp->status == 0 || resp->outcome == PD_HTTP_AUTH;
  if (!r->unknown && !account_wide) {
    PD_ACCOUNT_WARNING(
        cy->cfg->name,
        "schedule \"%s\" (%s): its final schedule could not be read (%s); "
        "%s until it can.",
        r->schedule.name, r->schedule.id, resp->message,
        r->read ? "its series keep their last values"
                : "its series are not dispatched");
    r->logged_unknown = true;
  }
  r->unknown = true;
}

static int fetch_detail(cycle_t *cy, pd_schedule_rec_t *r) {
  bool shifts = r->kind == PD_SCHEDULE_SHIFTS;
  const char *what = shifts ? "GET /v3/schedules/{id}" : "GET /schedules/{id}";
  time_t until = detail_until(cy);
  pd_url_t u;
  if (detail_url(cy, r, until, &u) != 0) {
    pd_url_free(&u);
    r->unknown = true;
    return out_of_memory(cy, what);
  }
  detail_sink_t sink = {0};
  pd_parse_callbacks_t cb = {.ctx = &sink,
                             .on_schedule = on_detail_schedule,
                             .on_schedule_entry = on_detail_entry};
  pd_fetch_t f = {.what = what,
                  .path = u.buf,
                  .kind = shifts ? PD_PARSE_SCHEDULE_V3 : PD_PARSE_SCHEDULE,
                  .cb = &cb,
                  .caller_reports = true};
  pd_http_response_t resp;
  int rc = fetch(cy, &f, NULL, &resp);
  pd_url_free(&u);
  if (rc == 0 && (!sink.got || strcmp(sink.schedule.id, r->schedule.id) != 0)) {
    snprintf(resp.message, sizeof(resp.message),
             "the answer is not about this schedule");
    rc = -1;
  }
  if (rc != 0) {
    mark_unknown(cy, r, &resp);
    pd_schedule_free(&sink.schedule);
    pd_schedule_entries_free(&sink.entries);
    return -1;
  }
  pd_schedule_entries_free(&r->entries);
  r->entries = sink.entries;
  swap_schedule(&r->schedule, &sink.schedule);
  pd_schedule_free(&sink.schedule);
  if (r->logged_unknown)
    PD_ACCOUNT_INFO(cy->cfg->name,
                    "schedule \"%s\" (%s): its final schedule is read again.",
                    r->schedule.name, r->schedule.id);
  r->read = true;
  r->unknown = r->logged_unknown = false;
  r->fetched_mono = cy->mono;
  r->until = until;
  return 0;
}

static int cmp_rec_fetched(const void *a, const void *b) {
  const pd_schedule_rec_t *x = *(pd_schedule_rec_t *const *)a;
  const pd_schedule_rec_t *y = *(pd_schedule_rec_t *const *)b;
  return (x->fetched_mono > y->fetched_mono) -
         (x->fetched_mono < y->fetched_mono);
}

/* Is a read schedule in the Team scope? Layer-based ones are listed with
 * team_ids[]; shift-based ones by the teams of their detail. */
static bool schedule_in_scope(const pd_collect_t *c,
                              const pd_schedule_rec_t *r) {
  if (c->cfg->teams_num == 0 || r->kind == PD_SCHEDULE_LAYERS)
    return true;
  for (size_t i = 0; i < r->schedule.team_ids.num; i++)
    if (find_team(&c->scope, r->schedule.team_ids.ids[i]) != NULL)
      return true;
  return false;
}

/*
 * Reads the final schedules this cycle needs: every one never read or
 * whose window no longer holds, and of those due (a SlowInterval old) the
 * oldest, up to detail_quota(). Then decides what is offered. Returns -1
 * when any detail could not be read.
 */
static int refresh_details(cycle_t *cy) {
  pd_collect_t *c = cy->c;
  pd_schedule_recs_t *v = &c->schedules;
  pd_schedule_rec_t **due = malloc((v->num ? v->num : 1) * sizeof(*due));
  if (due == NULL)
    return out_of_memory(cy, "schedules");
  int status = 0;
  size_t due_num = 0;
  for (size_t i = 0; i < v->num; i++) {
    pd_schedule_rec_t *r = &v->items[i];
    if (detail_needed(cy, r)) {
      if (cy->aborted || fetch_detail(cy, r) != 0) {
        r->unknown = r->unknown || r->read; /* cannot be computed now */
        status = -1;
      }
    } else if (detail_due(cy, r)) {
      due[due_num++] = r;
    }
  }
  qsort(due, due_num, sizeof(*due), cmp_rec_fetched);
  size_t quota = detail_quota(cy, v->num);
  for (size_t i = 0; i < due_num && i < quota && !cy->aborted; i++)
    if (fetch_detail(cy, due[i]) != 0)
      status = -1;
  free(due);

  for (size_t i = 0; i < v->num; i++) {
    pd_schedule_rec_t *r = &v->items[i];
    r->offered = r->read && schedule_in_scope(c, r);
    if (r->read && !r->unknown)
      r->known_at = cy->now;
  }
  return status;
}

/* --- on-calls ------------------------------------------------------------- */

static int on_oncall(void *ctx, const pd_oncall_t *oncall) {
  return pd_oncalls_push(ctx, oncall);
}

/* One GET /oncalls listing for [since, until), optionally for policies
 * [first, first + num) only. */
static list_status_t oncall_query(cycle_t *cy, time_t until, size_t first,
                                  size_t num) {
  pd_collect_t *c = cy->c;
  pd_url_t u;
  int rc = pd_url_init(&u, "/oncalls");
  rc |= url_add_time(&u, "since", cy->now);
  rc |= url_add_time(&u, "until", until);
  for (size_t i = first; i < first + num; i++)
    rc |= pd_url_add(&u, "escalation_policy_ids[]", c->policies.items[i].id);
  if (rc != 0) {
    pd_url_free(&u);
    out_of_memory(cy, "GET /oncalls");
    return LIST_FAILED;
  }
  pd_parse_callbacks_t cb = {.ctx = &c->oncalls, .on_oncall = on_oncall};
  list_status_t ls =
      list_pages(cy, "GET /oncalls", u.buf, PD_PARSE_ONCALLS, &cb, 0, NULL);
  pd_url_free(&u);
  return ls;
}

/* Every shift of the in-scope policies, PD_ONCALL_POLICY_CHUNK policies
 * per listing (URLs stay short, and each listing far below the cap). */
static int oncalls_by_policy(cycle_t *cy, time_t until) {
  const pd_policies_t *policies = &cy->c->policies;
  for (size_t first = 0; first < policies->num;
       first += PD_ONCALL_POLICY_CHUNK) {
    size_t num = policies->num - first < PD_ONCALL_POLICY_CHUNK
                     ? policies->num - first
                     : PD_ONCALL_POLICY_CHUNK;
    list_status_t ls = oncall_query(cy, until, first, num);
    if (ls == LIST_CAPPED)
      say_capped(cy, CAPPED_OTHER, "GET /oncalls");
    if (ls != LIST_OK)
      return -1;
  }
  return 0;
}

static int collect_oncalls(cycle_t *cy) {
  pd_collect_t *c = cy->c;
  drop_oncalls(c);
  time_t until = slow_horizon(cy);
  if (until - cy->now > ONCALL_RANGE_MAX_S)
    until = cy->now + ONCALL_RANGE_MAX_S;
  /* Scoped by Team: GET /oncalls has no team filter, so it is filtered by
   * the in-scope policies (which must be known). */
  bool by_policy = cy->cfg->teams_num > 0;
  if (by_policy && !c->policies_cache.valid)
    return -1;
  int rc;
  if (by_policy) {
    rc = oncalls_by_policy(cy, until);
  } else {
    list_status_t ls = oncall_query(cy, until, 0, 0);
    if (ls == LIST_CAPPED && c->policies_cache.valid) {
      c->oncalls.num = 0; /* start over, a chunk of policies at a time */
      rc = oncalls_by_policy(cy, until);
    } else {
      if (ls == LIST_CAPPED)
        say_capped(cy, CAPPED_OTHER, "GET /oncalls");
      rc = ls == LIST_OK ? 0 : -1;
    }
  }
  if (rc != 0) {
    drop_oncalls(c);
    return -1;
  }
  dedupe_oncalls(&c->oncalls);
  cache_fresh(&c->oncalls_cache, cy, until);
  return 0;
}

/* --- the cycle ------------------------------------------------------------ */

/* Cached data whose time window no longer holds the current one is of no
 * use: drop it so it is fetched again. */
static void expire_windows(pd_collect_t *c, time_t now) {
  if (c->oncalls_cache.valid && now >= c->oncalls_cache.until)
    drop_oncalls(c);
}

/* Refreshes a cached collection when due; the cache stands for the
 * collection's availability this cycle. Returns -1 when it is needed and
 * not available. */
static int refresh(cycle_t *cy, cache_t *cache, int (*collect)(cycle_t *)) {
  if (cache_due(cache, cy))
    collect(cy);
  return cache->valid ? 0 : -1;
}

static void fill_snapshot(const pd_collect_t *c, time_t now,
                          pd_snapshot_t *snap) {
  const pd_account_config_t *cfg = c->cfg;
  *snap = (pd_snapshot_t){
      .now = now,
      .coverage_window_s = cfg->coverage_window_s,
      .instance_by = cfg->instance_by,
      .collect = cfg->collect,
      .services = c->services_ok ? &c->services : NULL,
      .open_incidents = c->open_ok ? &c->open : NULL,
      .created = c->created_ok ? &c->created : NULL,
      .teams = NEED_TEAMS(cfg) && c->teams_cache.valid ? &c->teams : NULL,
      .schedules = c->schedules_cache.valid ? &c->schedules : NULL,
      .oncalls = c->oncalls_cache.valid ? &c->oncalls : NULL,
      .policies = c->policies_cache.valid ? &c->policies : NULL,
  };
}

int pd_collect_run(pd_collect_t *c, pd_rest_t *rest, double interval_s,
                   time_t now, pd_snapshot_t *snap) {
  const pd_account_config_t *cfg = c->cfg;
  cycle_t cy = {.c = c,
                .rest = rest,
                .cfg = cfg,
                .now = now,
                .mono = pd_monotonic_now(),
                .interval_s = interval_s};
  int status = 0;

  /* Every-cycle collections start clean. */
  if (!services_kept(cfg))
    pd_services_free(&c->services);
  c->services_ok = c->open_ok = c->created_ok = false;
  expire_windows(c, now);

  bool scoped = cfg->teams_num > 0;
  if (NEED_TEAMS(cfg) || (scoped && !c->scope_complete))
    if (refresh(&cy, &c->teams_cache, collect_teams) != 0)
      status = -1;
  if (scoped && !c->scope_complete)
    status = -1; /* a Team that does not resolve (logged) */
  if (scoped && c->scope.num == 0) {
    /* No scope yet: collecting unscoped would report on other teams. */
    fill_snapshot(c, now, snap);
    snap->teams = NULL;
    return -1;
  }

  if (NEED_SERVICES(cfg) && collect_services(&cy) != 0)
    status = -1;
  if (NEED_OPEN(cfg) && collect_incidents(&cy) != 0)
    status = -1;
  if (services_kept(cfg) && derive_service_status(&cy) != 0)
    status = -1;
  /* Policies before on-calls: scoped on-calls are filtered by them. */
  if (NEED_POLICIES(cfg) &&
      refresh(&cy, &c->policies_cache, collect_policies) != 0)
    status = -1;
  if (NEED_SCHEDULES(cfg) &&
      (refresh(&cy, &c->schedules_cache, collect_schedules) != 0 ||
       refresh_details(&cy) != 0))
    status = -1;
  if (NEED_ONCALLS(cfg) &&
      refresh(&cy, &c->oncalls_cache, collect_oncalls) != 0)
    status = -1;

  fill_snapshot(c, now, snap);
  return status;
}
