/* SPDX-License-Identifier: MIT */
/*
 * series_fixture.h - the unit tests' view of the table of series
 * (plugin/core/pd_series.def): which series a type instance is, how many
 * values an entity or a group has, and a metric sink that records what was
 * emitted and counts it by the table, so that tests count series by the
 * table instead of by lists or prefixes of their own.
 *
 *   series_of("service-web-created", NULL) == PD_SERIES_SERVICE_CREATED
 *   series_values(PD_SERIES_INCIDENTS) == 4     (status x urgency)
 *   series_per(PD_ENTITY_POLICY) == 4           (api-* never counted)
 *
 *   series_recorder_t rec = {.host = "pdhost", .plugin_instance = "acme"};
 *   pd_metric_sink_t sink = {.emit = series_record, .ctx = &rec};
 *   ... emit ...
 *   series_count_entity(&rec, PD_ENTITY_SERVICE);
 *   series_recorder_find(&rec, "api-up");      (rec.problem: "" if all fine)
 *   series_recorder_free(&rec);
 */
#ifndef SERIES_FIXTURE_H
#define SERIES_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "pd_metrics.h"
#include "pd_series.h"

/* The series whose name type_instance is, or PD_SERIES_NUM when none is;
 * instance (PD_TYPE_INSTANCE_MAX bytes, may be NULL) gets the entity's
 * instance name ("" for account series). */
pd_series_id_t series_of(const char *type_instance, char *instance);

/* Values of one series for one entity: the product of its dimensions. */
size_t series_values(pd_series_id_t id);
/* Values one entity of this kind has when every group is on, api-* aside. */
size_t series_per(pd_series_entity_t entity);
/* Values of one group for one entity of its kind. */
size_t series_in_group(pd_series_group_t group);
/* Values the Collect keywords give for one entity of each kind. */
size_t series_of_collect(unsigned collect);

/* --- a recording metric sink --------------------------------------------- */

typedef struct {
  char host[64], plugin_instance[64], type[64], type_instance[128];
  pd_ds_kind_t kind;
  double value; /* the gauge, or the derive as a double */
} series_metric_t;

typedef struct {
  /* Set by the test, or NULL: every value recorded must have this host or
   * plugin instance (a mismatch is a problem). */
  const char *host, *plugin_instance;

  series_metric_t *items; /* in emission order until the first find */
  size_t num, cap;
  bool sorted;
  /* The first thing that went wrong ("" when none): out of memory, a host
   * or plugin instance other than expected, a name recorded twice (found by
   * series_recorder_find). Tests assert it is empty. */
  char problem[256];
} series_recorder_t;

/* A pd_metric_sink_t emit: ctx is a series_recorder_t. */
int series_record(void *ctx, const pd_metric_t *m);

/* The value recorded under this type instance, or NULL. Sorts the
 * recorder by type instance first (then finds by bsearch), noting a name
 * recorded twice as a problem. */
const series_metric_t *series_recorder_find(series_recorder_t *r,
                                            const char *type_instance);

/* Forgets the values (and the problem), keeping the expectations. */
void series_recorder_free(series_recorder_t *r);

/* How many recorded values are of this series, group or entity's series
 * (the table tells them by name). */
size_t series_count(const series_recorder_t *r, pd_series_id_t id);
size_t series_count_group(const series_recorder_t *r, pd_series_group_t group);
size_t series_count_entity(const series_recorder_t *r,
                           pd_series_entity_t entity);

#endif /* SERIES_FIXTURE_H */
