/* SPDX-License-Identifier: MIT */
/*
 * series_fixture.c - see series_fixture.h.
 */
#include "series_fixture.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Is ti the entity series s for some instance name ([a-z0-9_]+, the only
 * bytes pd_names.h makes)? */
static bool entity_match(const pd_series_t *s, const char *ti, char *instance) {
  const char *mark = strstr(s->format, "%s");
  size_t head = (size_t)(mark - s->format), tail = strlen(mark + 2);
  size_t len = strlen(ti);
  if (len <= head + tail || strncmp(ti, s->format, head) != 0 ||
      strcmp(ti + len - tail, mark + 2) != 0)
    return false;
  for (size_t i = head; i < len - tail; i++) {
    char c = ti[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  }
  if (instance != NULL)
    snprintf(instance, PD_TYPE_INSTANCE_MAX, "%.*s", (int)(len - head - tail),
             ti + head);
  return true;
}

/* Is ti a value of series id, which has no instance name (ACCOUNT, NOTIFY)? */
static bool account_match(pd_series_id_t id, const char *ti) {
  const pd_series_t *s = &pd_series[id];
  for (size_t a = 0; a < pd_series_dim_size(s->dims[0]); a++)
    for (size_t b = 0; b < pd_series_dim_size(s->dims[1]); b++) {
      char name[PD_TYPE_INSTANCE_MAX];
      size_t at[2] = {a, b};
      if (pd_series_type_instance(name, sizeof(name), id, NULL, at) == 0 &&
          strcmp(name, ti) == 0)
        return true;
    }
  return false;
}

pd_series_id_t series_of(const char *type_instance, char *instance) {
  for (int id = 0; id < PD_SERIES_NUM; id++) {
    const pd_series_t *s = &pd_series[id];
    bool named = pd_series_entity_named(s->entity);
    bool hit = named ? entity_match(s, type_instance, instance)
                     : account_match(id, type_instance);
    if (hit) {
      if (instance != NULL && !named)
        instance[0] = '\0';
      return id;
    }
  }
  return PD_SERIES_NUM;
}

size_t series_values(pd_series_id_t id) {
  return pd_series_dim_size(pd_series[id].dims[0]) *
         pd_series_dim_size(pd_series[id].dims[1]);
}

size_t series_per(pd_series_entity_t entity) {
  size_t n = 0;
  for (int id = 0; id < PD_SERIES_NUM; id++)
    if (pd_series[id].entity == entity && pd_series[id].group != PD_GROUP_API)
      n += series_values(id);
  return n;
}

size_t series_in_group(pd_series_group_t group) {
  size_t n = 0;
  for (int id = 0; id < PD_SERIES_NUM; id++)
    if (pd_series[id].group == group)
      n += series_values(id);
  return n;
}

size_t series_of_collect(unsigned collect) {
  size_t n = 0;
  for (int id = 0; id < PD_SERIES_NUM; id++)
    if (pd_series_groups[pd_series[id].group].collect_bit & collect)
      n += series_values(id);
  return n;
}

/* --- a recording metric sink ---------------------------------------------- */

__attribute__((format(printf, 2, 3))) static void
problem(series_recorder_t *r, const char *fmt, ...) {
  if (r->problem[0] != '\0')
    return; /* the first one says most */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->problem, sizeof(r->problem), fmt, ap);
  va_end(ap);
}

int series_record(void *ctx, const pd_metric_t *m) {
  series_recorder_t *r = ctx;
  if (r->host != NULL && strcmp(m->host, r->host) != 0)
    problem(r, "%s: host \"%s\", not \"%s\"", m->type_instance, m->host,
            r->host);
  if (r->plugin_instance != NULL &&
      strcmp(m->plugin_instance, r->plugin_instance) != 0)
    problem(r, "%s: plugin instance \"%s\", not \"%s\"", m->type_instance,
            m->plugin_instance, r->plugin_instance);
  if (r->num == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 256;
    series_metric_t *items = realloc(r->items, cap * sizeof(*items));
    if (items == NULL) {
      problem(r, "out of memory recording %s", m->type_instance);
      return -1;
    }
    r->items = items;
    r->cap = cap;
  }
  series_metric_t *x = &r->items[r->num++];
  snprintf(x->host, sizeof(x->host), "%s", m->host);
  snprintf(x->plugin_instance, sizeof(x->plugin_instance), "%s",
           m->plugin_instance);
  snprintf(x->type, sizeof(x->type), "%s", m->type);
  snprintf(x->type_instance, sizeof(x->type_instance), "%s", m->type_instance);
  x->kind = m->kind;
  x->value = m->kind == PD_DS_DERIVE ? (double)m->derive : m->gauge;
  r->sorted = false;
  return 0;
}

static int cmp_metric(const void *a, const void *b) {
  return strcmp(((const series_metric_t *)a)->type_instance,
                ((const series_metric_t *)b)->type_instance);
}

const series_metric_t *series_recorder_find(series_recorder_t *r,
                                            const char *type_instance) {
  if (r->num == 0)
    return NULL;
  if (!r->sorted) {
    qsort(r->items, r->num, sizeof(*r->items), cmp_metric);
    for (size_t i = 1; i < r->num; i++)
      if (strcmp(r->items[i - 1].type_instance, r->items[i].type_instance) == 0)
        problem(r, "%s recorded twice", r->items[i].type_instance);
    r->sorted = true;
  }
  series_metric_t key;
  snprintf(key.type_instance, sizeof(key.type_instance), "%s", type_instance);
  return bsearch(&key, r->items, r->num, sizeof(*r->items), cmp_metric);
}

void series_recorder_free(series_recorder_t *r) {
  free(r->items);
  r->items = NULL;
  r->num = r->cap = 0;
  r->sorted = false;
  r->problem[0] = '\0';
}

size_t series_count(const series_recorder_t *r, pd_series_id_t id) {
  size_t n = 0;
  for (size_t i = 0; i < r->num; i++)
    n += series_of(r->items[i].type_instance, NULL) == id;
  return n;
}

size_t series_count_group(const series_recorder_t *r, pd_series_group_t group) {
  size_t n = 0;
  for (size_t i = 0; i < r->num; i++) {
    pd_series_id_t id = series_of(r->items[i].type_instance, NULL);
    n += id != PD_SERIES_NUM && pd_series[id].group == group;
  }
  return n;
}

size_t series_count_entity(const series_recorder_t *r,
                           pd_series_entity_t entity) {
  size_t n = 0;
  for (size_t i = 0; i < r->num; i++) {
    pd_series_id_t id = series_of(r->items[i].type_instance, NULL);
    n += id != PD_SERIES_NUM && pd_series[id].entity == entity;
  }
  return n;
}
