/* SPDX-License-Identifier: MIT */
/*
 * pd_series_table - prints the table of series (plugin/core/pd_series.def)
 * as tab-separated values, one series a line after a header line, for the
 * Python tests (tests/integration/series.py) and the generator of the
 * documentation's metric rows (contrib/gen-series-docs.py):
 *
 *   id       SERVICE_TRIGGERED
 *   group    SERVICE_INCIDENTS
 *   collect  the Collect keyword, or "always"
 *   needs    the collections it needs, comma-separated ("services,open")
 *   entity   account, service, team, schedule, policy or notify
 *   type     collectd's type ("count")
 *   format   the type instance, "%s" for the instance name, then for each
 *            dimension's value ("service-%s-triggered")
 *   pattern  the same as README.md writes it ("service-<svc>-triggered",
 *            "incidents-<status>-<urgency>")
 *   dims     each dimension's values, comma-separated, dimensions separated
 *            by "|" ("triggered,acknowledged|high,low"); "" when none
 *   meaning  one line
 *
 * No daemon, no plugin: it only reads the compiled table.
 */
#include <stdio.h>
#include <string.h>

#include "pd_series.h"

/* How README.md and the man page write an instance name or a dimension. */
static const char *placeholder_of_entity(pd_series_entity_t entity) {
  static const char *const names[PD_ENTITY_NUM] = {
      "", "<svc>", "<team>", "<sched>", "<policy>", ""};
  return names[entity];
}

static const char *placeholder_of_dim(pd_series_dim_t dim) {
  return dim == PD_DIM_URGENCY ? "<urgency>" : "<status>";
}

static void print_needs(unsigned needs) {
  const char *sep = "";
  for (unsigned i = 0; i < PD_NEED_NUM; i++)
    if (needs & (1u << i)) {
      printf("%s%s", sep, pd_series_need_name(1u << i));
      sep = ",";
    }
}

static void print_pattern(const pd_series_t *s) {
  const char *args[3];
  size_t num = 0;
  if (pd_series_entity_named(s->entity))
    args[num++] = placeholder_of_entity(s->entity);
  for (size_t d = 0; d < 2; d++)
    if (s->dims[d] != PD_DIM_NONE)
      args[num++] = placeholder_of_dim(s->dims[d]);
  size_t used = 0;
  for (const char *p = s->format; *p != '\0'; p++) {
    if (p[0] == '%' && p[1] == 's' && used < num) {
      fputs(args[used++], stdout);
      p++;
    } else {
      putchar(*p);
    }
  }
}

static void print_dims(const pd_series_t *s) {
  const char *sep = "";
  for (size_t d = 0; d < 2; d++) {
    if (s->dims[d] == PD_DIM_NONE)
      continue;
    fputs(sep, stdout);
    for (size_t i = 0; i < pd_series_dim_size(s->dims[d]); i++)
      printf("%s%s", i > 0 ? "," : "", pd_series_dim_value(s->dims[d], i));
    sep = "|";
  }
}

int main(void) {
  puts("id\tgroup\tcollect\tneeds\tentity\ttype\tformat\tpattern\tdims\t"
       "meaning");
  for (int id = 0; id < PD_SERIES_NUM; id++) {
    const pd_series_t *s = &pd_series[id];
    const pd_series_group_info_t *g = &pd_series_groups[s->group];
    printf("%s\t%s\t%s\t", s->name, g->name, g->collect);
    print_needs(g->needs);
    printf("\t%s\t%s\t%s\t", pd_series_entity_name(s->entity), s->type,
           s->format);
    print_pattern(s);
    putchar('\t');
    print_dims(s);
    printf("\t%s\n", s->meaning);
  }
  return fflush(stdout) == 0 ? 0 : 1;
}
