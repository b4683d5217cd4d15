/* SPDX-License-Identifier: MIT */
/*
 * pd_series.h - the table of read-side series (doc/contract.md §4), made
 * from pd_series.def: what each series is called, its collectd type, the
 * entity it is about, the Collect keyword that asks for it and what it
 * needs. Code that emits a series names it by PD_SERIES_<id> and lets this
 * table spell it; nothing else types a series name.
 *
 * A series' type instance is its format with each "%s" replaced, in order,
 * by the entity's instance name (pd_names.h; none for ACCOUNT series) and
 * the value of each dimension, e.g. PD_SERIES_SERVICE_TRIGGERED for
 * "checkout_api" is "service-checkout_api-triggered", PD_SERIES_INCIDENTS
 * at (0, 1) is "incidents-triggered-low".
 */
#ifndef PD_SERIES_H
#define PD_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pd_config.h"
#include "pd_metrics.h"

/* The collections of a cycle a series may need (pd_readmetrics.h,
 * pd_snapshot_t): a series is produced only when all it needs was read. */
enum {
  PD_NEED_SERVICES = 1u << 0,
  PD_NEED_OPEN = 1u << 1,    /* the open incidents */
  PD_NEED_CREATED = 1u << 2, /* the incidents created within TrendWindow */
  PD_NEED_TEAMS = 1u << 3,
  PD_NEED_SCHEDULES = 1u << 4,
  PD_NEED_ONCALLS = 1u << 5,
  PD_NEED_POLICIES = 1u << 6,
};
#define PD_NEED_NUM 7

typedef enum {
#define PD_SERIES_GROUP(group, collect, needs) PD_GROUP_##group,
#define PD_SERIES(id, group, entity, type, format, dim1, dim2, meaning)
#include "pd_series.def"
#undef PD_SERIES_GROUP
#undef PD_SERIES
  PD_GROUP_NUM
} pd_series_group_t;

typedef enum {
#define PD_SERIES_GROUP(group, collect, needs)
#define PD_SERIES(id, group, entity, type, format, dim1, dim2, meaning)        \
  PD_SERIES_##id,
#include "pd_series.def"
#undef PD_SERIES_GROUP
#undef PD_SERIES
  PD_SERIES_NUM
} pd_series_id_t;

typedef enum {
  PD_ENTITY_ACCOUNT = 0,
  PD_ENTITY_SERVICE,
  PD_ENTITY_TEAM,
  PD_ENTITY_SCHEDULE,
  PD_ENTITY_POLICY,
  PD_ENTITY_NUM
} pd_series_entity_t;

/* What a series may repeat over; value i of a dimension is the one the
 * model's enum gives i (pd_model.h): PD_INCIDENT_TRIGGERED is
 * "triggered", PD_URGENCY_LOW "low", PD_SERVICE_CRITICAL "critical". */
typedef enum {
  PD_DIM_NONE = 0,
  PD_DIM_INCIDENT_STATUS, /* triggered, acknowledged */
  PD_DIM_URGENCY,         /* high, low */
  PD_DIM_SERVICE_STATUS,  /* active, warning, critical, maintenance, disabled */
  PD_DIM_NUM
} pd_series_dim_t;

/* The longest value of any dimension ("acknowledged"); test_series checks
 * it, and the compile-time length check in pd_series.c relies on it. */
#define PD_SERIES_DIM_VALUE_MAX 12

typedef struct {
  const char *name; /* "SERVICE_TRIGGERED" */
  pd_series_group_t group;
  pd_series_entity_t entity;
  const char *type;   /* "count" */
  const char *format; /* "service-%s-triggered" */
  pd_series_dim_t dims[2];
  const char *meaning;
} pd_series_t;

typedef struct {
  const char *name;     /* "SERVICE_INCIDENTS" */
  const char *collect;  /* its Collect keyword, or "always" */
  unsigned collect_bit; /* PD_COLLECT_*; 0 for "always" */
  unsigned needs;       /* PD_NEED_* bits */
} pd_series_group_info_t;

extern const pd_series_t pd_series[PD_SERIES_NUM];
extern const pd_series_group_info_t pd_series_groups[PD_GROUP_NUM];

/* "account", "service", "team", "schedule", "policy". */
const char *pd_series_entity_name(pd_series_entity_t entity);
/* The name of a PD_NEED_* bit ("services", "open", ...), or NULL. */
const char *pd_series_need_name(unsigned need);
/* How many values a dimension has (1 for PD_DIM_NONE), and value i. */
size_t pd_series_dim_size(pd_series_dim_t dim);
const char *pd_series_dim_value(pd_series_dim_t dim, size_t i);

/* Is the group produced when `collect` (PD_COLLECT_* bits) is asked for and
 * the collections in `have` (PD_NEED_* bits) were read? */
bool pd_series_group_on(pd_series_group_t group, unsigned collect,
                        unsigned have);

/*
 * Composes the type instance of series `id` into out (size bytes):
 * instance is the entity's instance name (ignored for ACCOUNT series), at[0]
 * and at[1] the indexes into the series' dimensions (ignored where it has
 * none; at may be NULL when it has none). Returns 0, or -1 when a value is
 * missing or out of range or the result would not fit (out is then "").
 */
int pd_series_type_instance(char *out, size_t size, pd_series_id_t id,
                            const char *instance, const size_t *at);

/* Emits one value of a gauge-kind series (any type but "derive") through
 * the batch; arguments as for pd_series_type_instance(). A series that
 * cannot be named, or is a derive, is counted as a batch error. */
void pd_series_gauge(pd_metric_batch_t *batch, pd_series_id_t id,
                     const char *instance, const size_t *at, double value);

/* Emits one value of a series of type "derive" (an ACCOUNT series without
 * dimensions). Anything else is counted as a batch error. */
void pd_series_derive(pd_metric_batch_t *batch, pd_series_id_t id,
                      int64_t value);

#endif /* PD_SERIES_H */
