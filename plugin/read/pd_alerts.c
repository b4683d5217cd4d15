/* SPDX-License-Identifier: MIT */
/*
 * pd_alerts.c - see pd_alerts.h.
 *
 * Per condition, the remembered states are an array of (ID, bad) in ID
 * order, the order the readings come in, so one cycle is a merge of two
 * sorted lists.
 */
#include "pd_alerts.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_series.h"

typedef struct {
  pd_id_t id;
  bool bad;
} watch_state_t;

typedef struct {
  watch_state_t *items;
  size_t num;
} watch_t;

struct pd_alerts_s {
  watch_t schedule_gap;
  watch_t service_critical;
  watch_t policy_uncovered;
};

pd_alerts_t *pd_alerts_create(void) { return calloc(1, sizeof(pd_alerts_t)); }

void pd_alerts_destroy(pd_alerts_t *a) {
  if (a == NULL)
    return;
  free(a->schedule_gap.items);
  free(a->service_critical.items);
  free(a->policy_uncovered.items);
  free(a);
}

static const watch_state_t *watch_find(const watch_t *w, const char *id) {
  size_t lo = 0, hi = w->num;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(w->items[mid].id, id);
    if (c == 0)
      return &w->items[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* Names in messages are cut so the whole message fits collectd's field
 * with the fixed text and two RFC 3339 times around them. */
#define MESSAGE_NAME_MAX 150

typedef struct {
  const char *host;
  const char *account;
  const pd_notification_sink_t *sink;
  time_t now;
  int sent;
} notify_ctx_t;

/* A notification about `instance`'s value of `series` (pd_series.def). */
static void notify_send(notify_ctx_t *ctx, pd_notif_severity_t severity,
                        pd_series_id_t series, const char *instance,
                        const char *message) {
  char type_instance[PD_TYPE_INSTANCE_MAX];
  char text[PD_NOTIF_MESSAGE_MAX];
  if (pd_series_type_instance(type_instance, sizeof(type_instance), series,
                              instance, NULL) != 0)
    return; /* cannot happen: instance names are bounded to fit */
  pd_text_copy(text, sizeof(text), message, strlen(message));
  pd_notification_t n = {
      .severity = severity,
      .time = ctx->now,
      .host = ctx->host != NULL ? ctx->host : "",
      .plugin_instance = ctx->account,
      .type = pd_series[series].type,
      .type_instance = type_instance,
      .message = text,
  };
  if (ctx->sink != NULL && ctx->sink->emit != NULL &&
      ctx->sink->emit(ctx->sink->ctx, &n) == 0)
    ctx->sent++;
}

static void short_name(char out[MESSAGE_NAME_MAX + 1], const char *name) {
  pd_text_copy(out, MESSAGE_NAME_MAX + 1, name, strlen(name));
}

static void format_utc(char out[32], time_t t) {
  struct tm tm;
  if (gmtime_r(&t, &tm) == NULL ||
      strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf(out, 32, "@%lld", (long long)t);
}

/* What one condition says about one entity this cycle. */
typedef struct {
  const char *id;
  bool bad;
  bool unknown; /* the entity's state cannot be told this cycle: keep it */
} observation_t;

/* Describes entity i of the readings: observe() fills its observation,
 * notify() sends the notification for its new state. */
typedef struct {
  void (*observe)(const pd_readings_t *r, size_t i, observation_t *obs);
  void (*notify)(notify_ctx_t *ctx, const pd_readings_t *r, size_t i, bool bad);
} condition_t;

/*
 * One condition over num entities: the new states replace the old ones,
 * and every entity that is new and bad, or whose state flipped, is
 * notified. On allocation failure the old states stay.
 */
static int watch_run(watch_t *w, const condition_t *cond,
                     const pd_readings_t *r, size_t num, notify_ctx_t *ctx) {
  watch_state_t *items = malloc((num ? num : 1) * sizeof(*items));
  bool *changed = malloc((num ? num : 1) * sizeof(*changed));
  if (items == NULL || changed == NULL) {
    free(items);
    free(changed);
    return -1;
  }
  size_t *entity = malloc((num ? num : 1) * sizeof(*entity));
  if (entity == NULL) {
    free(items);
    free(changed);
    return -1;
  }
  size_t kept = 0;
  for (size_t i = 0; i < num; i++) {
    observation_t obs = {0};
    cond->observe(r, i, &obs);
    const watch_state_t *old = watch_find(w, obs.id);
    if (obs.unknown) {
      /* Unknown: the state stays what it was, and nothing is said. */
      if (old != NULL) {
        items[kept] = *old;
        changed[kept] = false;
        entity[kept++] = i;
      }
      continue;
    }
    changed[kept] = old == NULL ? obs.bad : old->bad != obs.bad;
    snprintf(items[kept].id, sizeof(items[kept].id), "%s", obs.id);
    items[kept].bad = obs.bad;
    entity[kept++] = i;
  }
  free(w->items);
  w->items = items;
  w->num = kept;
  for (size_t k = 0; k < kept; k++)
    if (changed[k])
      cond->notify(ctx, r, entity[k], items[k].bad);
  free(entity);
  free(changed);
  return 0;
}

/* --- schedule: a gap inside CoverageWindow -------------------------------- */

static void schedule_observe(const pd_readings_t *r, size_t i,
                             observation_t *obs) {
  *obs = (observation_t){.id = r->schedules[i].rec->schedule.id,
                         .bad = r->schedules[i].coverage.gap_s > 0,
                         .unknown = r->schedules[i].unknown};
}

static void schedule_notify(notify_ctx_t *ctx, const pd_readings_t *r, size_t i,
                            bool bad) {
  const pd_schedule_reading_t *s = &r->schedules[i];
  char name[MESSAGE_NAME_MAX + 1], from[32], to[32], msg[512];
  short_name(name, s->rec->schedule.name);
  if (bad) {
    format_utc(from, s->coverage.gap_start);
    format_utc(to, s->coverage.gap_end);
    snprintf(msg, sizeof(msg),
             "Schedule \"%s\" has nobody on call from %s to %s.", name, from,
             to);
  } else {
    snprintf(msg, sizeof(msg),
             "Schedule \"%s\" is covered again for the next %.0f s.", name,
             r->coverage_window_s);
  }
  notify_send(ctx, bad ? PD_NOTIF_WARNING : PD_NOTIF_OKAY,
              PD_SERIES_SCHEDULE_GAP, s->instance, msg);
}

/* --- service: critical ---------------------------------------------------- */

static void service_observe(const pd_readings_t *r, size_t i,
                            observation_t *obs) {
  *obs = (observation_t){.id = r->services[i].service->id,
                         .bad = r->services[i].service->status ==
                                PD_SERVICE_CRITICAL};
}

static void service_notify(notify_ctx_t *ctx, const pd_readings_t *r, size_t i,
                           bool bad) {
  const pd_service_t *svc = r->services[i].service;
  char name[MESSAGE_NAME_MAX + 1], msg[512];
  short_name(name, svc->name);
  if (bad)
    snprintf(msg, sizeof(msg),
             "Service \"%s\" is critical: it has triggered incidents.", name);
  else
    snprintf(msg, sizeof(msg), "Service \"%s\" is no longer critical (%s).",
             name,
             svc->status < PD_SERVICE_STATUS_NUM
                 ? pd_service_status_name(svc->status)
                 : "status unknown");
  notify_send(ctx, bad ? PD_NOTIF_FAILURE : PD_NOTIF_OKAY,
              PD_SERIES_SERVICE_STATUS, r->services[i].instance, msg);
}

/* --- policy: nobody on call at level 1 ------------------------------------ */

static void policy_observe(const pd_readings_t *r, size_t i,
                           observation_t *obs) {
  const pd_policy_reading_t *p = &r->policies[i];
  *obs =
      (observation_t){.id = p->policy->id,
                      .bad = p->policy->rules_num > 0 && p->oncall_level1 == 0};
}

static void policy_notify(notify_ctx_t *ctx, const pd_readings_t *r, size_t i,
                          bool bad) {
  const pd_policy_reading_t *p = &r->policies[i];
  char name[MESSAGE_NAME_MAX + 1], msg[512];
  short_name(name, p->policy->name);
  snprintf(msg, sizeof(msg),
           bad ? "Escalation policy \"%s\" has nobody on call at level 1."
               : "Escalation policy \"%s\" has somebody on call at level 1 "
                 "again.",
           name);
  notify_send(ctx, bad ? PD_NOTIF_FAILURE : PD_NOTIF_OKAY,
              PD_SERIES_POLICY_ONCALL, p->instance, msg);
}

static const condition_t schedule_gap = {schedule_observe, schedule_notify};
static const condition_t service_critical = {service_observe, service_notify};
static const condition_t policy_uncovered = {policy_observe, policy_notify};

int pd_alerts_update(pd_alerts_t *a, const pd_readings_t *r, const char *host,
                     const char *account, const pd_notification_sink_t *sink) {
  notify_ctx_t ctx = {
      .host = host, .account = account, .sink = sink, .now = r->now};
  int status = 0;
  if (r->has[PD_GROUP_SCHEDULE_COVERAGE] &&
      watch_run(&a->schedule_gap, &schedule_gap, r, r->schedules_num, &ctx) !=
          0)
    status = -1;
  if (r->has[PD_GROUP_SERVICES] &&
      watch_run(&a->service_critical, &service_critical, r, r->services_num,
                &ctx) != 0)
    status = -1;
  if (r->has[PD_GROUP_POLICY_ONCALL] &&
      watch_run(&a->policy_uncovered, &policy_uncovered, r, r->policies_num,
                &ctx) != 0)
    status = -1;
  return status != 0 ? -1 : ctx.sent;
}
