/* SPDX-License-Identifier: MIT */
/*
 * pd_metrics.h - handing values to collectd, through a sink.
 *
 * Everything that computes metrics writes them to a pd_metric_sink_t, never
 * to plugin_dispatch_values() directly: the collectd glue supplies a sink
 * that dispatches, unit tests supply one that records. A batch fixes the
 * host and plugin instance ("<Account>" or "notify-<name>") of a group of
 * values so call sites name only type and type instance (doc/contract.md §4).
 */
#ifndef PD_METRICS_H
#define PD_METRICS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

/* The data source kind of the collectd type. Every type this plugin uses
 * (count, duration, percent, gauge, response_time, queue_length, derive)
 * has exactly one data source. */
typedef enum { PD_DS_GAUGE = 0, PD_DS_DERIVE } pd_ds_kind_t;

typedef struct {
  const char *host;            /* "" = collectd's Hostname */
  const char *plugin_instance; /* account name or "notify-<name>" */
  const char *type;            /* from collectd's stock types.db */
  const char *type_instance;
  pd_ds_kind_t kind;
  double gauge;   /* when kind == PD_DS_GAUGE */
  int64_t derive; /* when kind == PD_DS_DERIVE */
} pd_metric_t;

typedef struct {
  int (*emit)(void *ctx, const pd_metric_t *metric);
  void *ctx;
} pd_metric_sink_t;

typedef struct {
  const pd_metric_sink_t *sink;
  const char *host;
  const char *plugin_instance;
  int errors; /* emits that failed; the batch carries on */
} pd_metric_batch_t;

void pd_metric_batch_init(pd_metric_batch_t *batch,
                          const pd_metric_sink_t *sink, const char *host,
                          const char *plugin_instance);

/* Emits one gauge-kind value of `type`; the type instance is formatted from
 * fmt (bounded to collectd's 128 bytes; a longer one is refused and counted
 * as an error rather than cut into a misleading name). */
__attribute__((format(printf, 4, 5))) void
pd_metric_gauge(pd_metric_batch_t *batch, const char *type, double value,
                const char *fmt, ...);

/* Emits one value of type "derive". */
__attribute__((format(printf, 3, 4))) void
pd_metric_derive(pd_metric_batch_t *batch, int64_t value, const char *fmt, ...);

/* Longest type instance collectd stores, terminator included. */
#define PD_TYPE_INSTANCE_MAX 128

#endif /* PD_METRICS_H */
