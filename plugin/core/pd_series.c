/* SPDX-License-Identifier: MIT */
/*
 * pd_series.c - the table of series; see pd_series.def and pd_series.h.
 */
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"

#include "pd_series.h"

#include <string.h>

#include "pd_model.h"

/* Collect keywords (doc/contract.md §3) as pd_series.def spells them. */
#define COLLECT_BIT_incidents PD_COLLECT_INCIDENTS
#define COLLECT_BIT_services PD_COLLECT_SERVICES
#define COLLECT_BIT_teams PD_COLLECT_TEAMS
#define COLLECT_BIT_schedules PD_COLLECT_SCHEDULES
#define COLLECT_BIT_oncalls PD_COLLECT_ONCALLS
#define COLLECT_BIT_policies PD_COLLECT_POLICIES
#define COLLECT_BIT_always 0u

/* Does an entity's instance name go into the type instance
 * (pd_series_entity_named())? As constants, for the check below. */
#define NAMED_ACCOUNT 0
#define NAMED_SERVICE 1
#define NAMED_TEAM 1
#define NAMED_SCHEDULE 1
#define NAMED_POLICY 1
#define NAMED_NOTIFY 0

/*
 * Every type instance fits collectd's name fields, checked here for each
 * series at compile time: the format's own bytes (its "%s" counted too),
 * the longest instance name and the longest dimension values, plus the
 * terminator. test_series checks the exact lengths.
 */
#define PD_SERIES_GROUP(group, collect, needs)
#define PD_SERIES(id, group, entity, type, format, dim1, dim2, value, meaning) \
  _Static_assert(sizeof(format) + NAMED_##entity * PD_SERIES_INSTANCE_MAX +    \
                         ((PD_DIM_##dim1 != PD_DIM_NONE) +                     \
                          (PD_DIM_##dim2 != PD_DIM_NONE)) *                    \
                             PD_SERIES_DIM_VALUE_MAX <=                        \
                     DATA_MAX_NAME_LEN,                                        \
                 "the type instance of PD_SERIES_" #id                         \
                 " may not fit DATA_MAX_NAME_LEN");                            \
  _Static_assert(sizeof(type) <= DATA_MAX_NAME_LEN,                            \
                 "the type of PD_SERIES_" #id " is too long");
#include "pd_series.def"
#undef PD_SERIES_GROUP
#undef PD_SERIES

_Static_assert(PD_TYPE_INSTANCE_MAX == DATA_MAX_NAME_LEN,
               "pd_metrics bounds type instances as collectd does");

const pd_series_t pd_series[PD_SERIES_NUM] = {
#define PD_SERIES_GROUP(group, collect, needs)
#define PD_SERIES(id, group, entity, type, format, dim1, dim2, value, meaning) \
  [PD_SERIES_##                                                                \
      id] = {#id,    PD_GROUP_##group, PD_ENTITY_##entity,                     \
             type,   format,           {PD_DIM_##dim1, PD_DIM_##dim2},         \
             meaning},
#include "pd_series.def"
#undef PD_SERIES_GROUP
#undef PD_SERIES
};

const pd_series_group_info_t pd_series_groups[PD_GROUP_NUM] = {
#define PD_SERIES_GROUP(group, collect, needs)                                 \
  [PD_GROUP_##group] = {#group, #collect, COLLECT_BIT_##collect, needs},
#define PD_SERIES(id, group, entity, type, format, dim1, dim2, value, meaning)
#include "pd_series.def"
#undef PD_SERIES_GROUP
#undef PD_SERIES
};

const char *pd_series_entity_name(pd_series_entity_t entity) {
  static const char *const names[PD_ENTITY_NUM] = {
      "account", "service", "team", "schedule", "policy", "notify"};
  return (unsigned)entity < PD_ENTITY_NUM ? names[entity] : NULL;
}

bool pd_series_entity_named(pd_series_entity_t entity) {
  static const bool named[PD_ENTITY_NUM] = {
#define NAMED(entity) [PD_ENTITY_##entity] = NAMED_##entity
      NAMED(ACCOUNT),  NAMED(SERVICE), NAMED(TEAM),
      NAMED(SCHEDULE), NAMED(POLICY),  NAMED(NOTIFY),
#undef NAMED
  };
  return (unsigned)entity < PD_ENTITY_NUM && named[entity];
}

const char *pd_series_need_name(unsigned need) {
  static const char *const names[PD_NEED_NUM] = {
      "services",  "open",    "created", "teams",
      "schedules", "oncalls", "policies"};
  for (unsigned i = 0; i < PD_NEED_NUM; i++)
    if (need == 1u << i)
      return names[i];
  return NULL;
}

/* Indexed as the model's enums (pd_model.h). */
static const char *const incident_statuses[] = {"triggered", "acknowledged"};
static const char *const urgencies[] = {"high", "low"};
_Static_assert(PD_INCIDENT_TRIGGERED == 0 && PD_INCIDENT_ACKNOWLEDGED == 1,
               "incident_statuses follows pd_incident_status_t");
_Static_assert(PD_URGENCY_HIGH == 0 && PD_URGENCY_LOW == 1,
               "urgencies follows pd_urgency_t");

size_t pd_series_dim_size(pd_series_dim_t dim) {
  switch (dim) {
  case PD_DIM_INCIDENT_STATUS:
    return sizeof(incident_statuses) / sizeof(incident_statuses[0]);
  case PD_DIM_URGENCY:
    return sizeof(urgencies) / sizeof(urgencies[0]);
  case PD_DIM_SERVICE_STATUS:
    return PD_SERVICE_STATUS_NUM;
  case PD_DIM_NONE:
  case PD_DIM_NUM:
    break;
  }
  return 1;
}

const char *pd_series_dim_value(pd_series_dim_t dim, size_t i) {
  if (dim == PD_DIM_NONE || i >= pd_series_dim_size(dim))
    return NULL;
  switch (dim) {
  case PD_DIM_INCIDENT_STATUS:
    return incident_statuses[i];
  case PD_DIM_URGENCY:
    return urgencies[i];
  case PD_DIM_SERVICE_STATUS:
    return pd_service_status_name((pd_service_status_t)i);
  case PD_DIM_NONE:
  case PD_DIM_NUM:
    break;
  }
  return NULL;
}

bool pd_series_group_on(pd_series_group_t group, unsigned collect,
                        unsigned have) {
  if ((unsigned)group >= PD_GROUP_NUM)
    return false;
  const pd_series_group_info_t *g = &pd_series_groups[group];
  return (g->collect_bit == 0 || (collect & g->collect_bit) != 0) &&
         (have & g->needs) == g->needs;
}

/* Appends text to out[*len..size); false when it does not fit. */
static bool append(char *out, size_t size, size_t *len, const char *text,
                   size_t n) {
  if (n >= size - *len)
    return false;
  memcpy(out + *len, text, n);
  *len += n;
  out[*len] = '\0';
  return true;
}

int pd_series_type_instance(char *out, size_t size, pd_series_id_t id,
                            const char *instance, const size_t *at) {
  if (size == 0)
    return -1;
  out[0] = '\0';
  if ((unsigned)id >= PD_SERIES_NUM)
    return -1;
  const pd_series_t *s = &pd_series[id];

  /* The values for the "%s" of the format, in order. */
  const char *args[3];
  size_t num = 0;
  if (pd_series_entity_named(s->entity))
    args[num++] = instance;
  for (size_t d = 0; d < 2; d++)
    if (s->dims[d] != PD_DIM_NONE)
      args[num++] = at != NULL ? pd_series_dim_value(s->dims[d], at[d]) : NULL;

  size_t len = 0, used = 0;
  for (const char *p = s->format; *p != '\0';) {
    const char *mark = strstr(p, "%s");
    size_t literal = mark != NULL ? (size_t)(mark - p) : strlen(p);
    bool ok = append(out, size, &len, p, literal);
    if (ok && mark != NULL)
      ok = used < num && args[used] != NULL &&
           append(out, size, &len, args[used], strlen(args[used]));
    if (!ok) {
      out[0] = '\0';
      return -1;
    }
    if (mark == NULL)
      break;
    used++;
    p = mark + 2;
  }
  if (used != num) {
    out[0] = '\0';
    return -1;
  }
  return 0;
}

bool pd_series_is_derive(pd_series_id_t id) {
  return (unsigned)id < PD_SERIES_NUM &&
         strcmp(pd_series[id].type, "derive") == 0;
}

void pd_series_gauge(pd_metric_batch_t *batch, pd_series_id_t id,
                     const char *instance, const size_t *at, double value) {
  char type_instance[PD_TYPE_INSTANCE_MAX];
  if (pd_series_type_instance(type_instance, sizeof(type_instance), id,
                              instance, at) != 0 ||
      pd_series_is_derive(id)) {
    batch->errors++;
    return;
  }
  pd_metric_gauge(batch, pd_series[id].type, value, "%s", type_instance);
}

void pd_series_derive(pd_metric_batch_t *batch, pd_series_id_t id,
                      int64_t value) {
  char type_instance[PD_TYPE_INSTANCE_MAX];
  if (pd_series_type_instance(type_instance, sizeof(type_instance), id, NULL,
                              NULL) != 0 ||
      !pd_series_is_derive(id)) {
    batch->errors++;
    return;
  }
  pd_metric_derive(batch, value, "%s", type_instance);
}

void pd_series_emit_entity(pd_metric_batch_t *batch, pd_series_entity_t entity,
                           const char *instance, pd_series_value_fn value_of,
                           const void *ctx) {
  for (int id = 0; id < PD_SERIES_NUM; id++) {
    const pd_series_t *s = &pd_series[id];
    if (s->entity != entity)
      continue;
    size_t size0 = pd_series_dim_size(s->dims[0]);
    size_t size1 = pd_series_dim_size(s->dims[1]);
    for (size_t a = 0; a < size0; a++)
      for (size_t b = 0; b < size1; b++) {
        size_t at[2] = {a, b};
        pd_series_value_t v = {.present = false};
        value_of(ctx, (pd_series_id_t)id, at, &v);
        if (!v.present)
          continue;
        if (pd_series_is_derive((pd_series_id_t)id))
          pd_series_derive(batch, (pd_series_id_t)id, v.derive);
        else
          pd_series_gauge(batch, (pd_series_id_t)id, instance, at, v.gauge);
      }
  }
}
