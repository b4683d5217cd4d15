/* SPDX-License-Identifier: MIT */
/*
 * pd_metrics.c - see pd_metrics.h.
 */
#include "pd_metrics.h"

#include <stdio.h>

void pd_metric_batch_init(pd_metric_batch_t *batch,
                          const pd_metric_sink_t *sink, const char *host,
                          const char *plugin_instance) {
  batch->sink = sink;
  batch->host = host ? host : "";
  batch->plugin_instance = plugin_instance;
  batch->errors = 0;
}

static void metric_emit(pd_metric_batch_t *batch, pd_metric_t *metric,
                        const char *fmt, va_list ap) {
  char type_instance[PD_TYPE_INSTANCE_MAX];
  int n = vsnprintf(type_instance, sizeof(type_instance), fmt, ap);
  if (n < 0 || (size_t)n >= sizeof(type_instance)) {
    batch->errors++;
    return;
  }
  metric->host = batch->host;
  metric->plugin_instance = batch->plugin_instance;
  metric->type_instance = type_instance;
  if (batch->sink->emit(batch->sink->ctx, metric) != 0)
    batch->errors++;
}

void pd_metric_gauge(pd_metric_batch_t *batch, const char *type, double value,
                     const char *fmt, ...) {
  pd_metric_t metric = {.type = type, .kind = PD_DS_GAUGE, .gauge = value};
  va_list ap;
  va_start(ap, fmt);
  metric_emit(batch, &metric, fmt, ap);
  va_end(ap);
}

void pd_metric_derive(pd_metric_batch_t *batch, int64_t value, const char *fmt,
                      ...) {
  pd_metric_t metric = {
      .type = "derive", .kind = PD_DS_DERIVE, .derive = value};
  va_list ap;
  va_start(ap, fmt);
  metric_emit(batch, &metric, fmt, ap);
  va_end(ap);
}
