/* SPDX-License-Identifier: MIT */
/*
 * series_fixture.c - see series_fixture.h.
 */
#include "series_fixture.h"

#include <stdbool.h>
#include <stdio.h>
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
    bool hit = s->entity == PD_ENTITY_ACCOUNT
                   ? account_match(id, type_instance)
                   : entity_match(s, type_instance, instance);
    if (hit) {
      if (instance != NULL && s->entity == PD_ENTITY_ACCOUNT)
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
