/* SPDX-License-Identifier: MIT */
/*
 * pd_series.h - the table of series (doc/contract.md §4), made from
 * pd_series.def: what each series is called, its collectd type, the entity
 * it is about, the Collect keyword that asks for it and what it needs. Code
 * that emits a series names it by PD_SERIES_<id> and lets this table spell
 * it; nothing else types a series name. It lives in core/ because both the
 * read side and the Notify blocks emit through it.
 *
 * A series' type instance is its format with each "%s" replaced, in order,
 * by the entity's instance name (pd_names.h; none for ACCOUNT and NOTIFY
 * series) and the value of each dimension, e.g. PD_SERIES_SERVICE_TRIGGERED
 * for "checkout_api" is "service-checkout_api-triggered", PD_SERIES_INCIDENTS
 * at (0, 1) is "incidents-triggered-low".
 */
#ifndef PD_SERIES_H
#define PD_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pd_config.h"
#include "pd_metrics.h"
#include "pd_model.h"

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
#define PD_SERIES(id, group, entity, type, format, dim1, dim2, value, meaning)
#include "pd_series.def"
#undef PD_SERIES_GROUP
#undef PD_SERIES
  PD_GROUP_NUM
} pd_series_group_t;

typedef enum {
#define PD_SERIES_GROUP(group, collect, needs)
#define PD_SERIES(id, group, entity, type, format, dim1, dim2, value, meaning) \
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
  PD_ENTITY_NOTIFY, /* a Notify block: named by the plugin instance */
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

/* The longest instance name an entity's series are given (pd_names.h: a
 * sanitised name of at most 64 bytes, "_" and a lowercased ID); the
 * compile-time length check in pd_series.c relies on it. */
#define PD_SERIES_INSTANCE_MAX (64 + 1 + PD_ID_MAX)

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

/* "account", "service", "team", "schedule", "policy", "notify". */
const char *pd_series_entity_name(pd_series_entity_t entity);
/* Does the entity's instance name go into its series' type instances (the
 * first "%s")? Not for ACCOUNT and NOTIFY: one account or Notify block per
 * plugin instance. */
bool pd_series_entity_named(pd_series_entity_t entity);
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

/* Emits one value of a series of type "derive" (without an instance name
 * or dimensions: an ACCOUNT or NOTIFY series). Anything else is counted as
 * a batch error. */
void pd_series_derive(pd_metric_batch_t *batch, pd_series_id_t id,
                      int64_t value);

/* Is the series of type "derive" (emitted with pd_series_derive())? */
bool pd_series_is_derive(pd_series_id_t id);

/* --- emitting the values of pd_series.def ---------------------------------
 *
 * The values of the table are expressions (pd_series.def, "value"); the
 * code that emits an entity's series expands them into a switch on the
 * series id, each case in a scope where the names its entity's values use
 * are defined, e.g. pd_sender.c:
 *
 *   #define PD_SERIES_GROUP(group, collect, needs)
 *   #define PD_SERIES(id, group, entity, type, format, dim1, dim2, value,
 *                     meaning) VALUE_OF_##entity(id, value)
 *   #define VALUE_OF_NOTIFY(id, value)
 *     case PD_SERIES_##id: PD_SERIES_STORE(out, id, value); break;
 *   #define VALUE_OF_ACCOUNT(id, value)        (and so on: nothing)
 *   switch (id) {
 *   #include "pd_series.def"
 *   default: break;
 *   }
 *
 * A value that names what its scope lacks does not compile.
 */

/* One value of a series, as its type wants it; present is false when the
 * series has none to send this time. */
typedef struct {
  bool present;
  double gauge;   /* any type but "derive" */
  int64_t derive; /* type "derive" */
} pd_series_value_t;

/* Stores the value of series PD_SERIES_<id> into *out. */
#define PD_SERIES_STORE(out, id, value)                                        \
  do {                                                                         \
    bool pd_series_absent = false;                                             \
    if (pd_series_is_derive(PD_SERIES_##id))                                   \
      (out)->derive = (int64_t)(value);                                        \
    else                                                                       \
      (out)->gauge = (double)(value);                                          \
    (out)->present = !pd_series_absent;                                        \
  } while (0)

/* In a value of pd_series.def: value when cond holds, else none this time
 * (a service of unknown status has no status gauge). */
#define PD_ONLY_IF(cond, value)                                                \
  ((cond) ? (value) : (pd_series_absent = true, 0))

/* Fills *out with the value of series id at the dimension indexes at[0],
 * at[1] of one entity (ctx says which), or leaves out->present false. */
typedef void (*pd_series_value_fn)(const void *ctx, pd_series_id_t id,
                                   const size_t at[2], pd_series_value_t *out);

/* Emits every series of `entity` in the table's order, over all their
 * dimensions, with the values value_of gives; instance is the entity's
 * instance name (NULL for ACCOUNT and NOTIFY). */
void pd_series_emit_entity(pd_metric_batch_t *batch, pd_series_entity_t entity,
                           const char *instance, pd_series_value_fn value_of,
                           const void *ctx);

#endif /* PD_SERIES_H */
