/* SPDX-License-Identifier: MIT */
/*
 * test_series.c - the table of series (plugin/core/pd_series.def,
 * doc/contract.md §4) is well formed: every format has exactly the "%s" its
 * entity and dimensions fill, names are unique, every series fits
 * collectd's name fields with the longest instance name, dimensions spell
 * the model's values, and emitting goes through the right collectd kind.
 */
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_model.h"
#include "pd_names.h"
#include "pd_series.h"

/* The "%s" a series' format must hold: instance, then each dimension. */
static size_t args_of(const pd_series_t *s) {
  return pd_series_entity_named(s->entity) + (s->dims[0] != PD_DIM_NONE) +
         (s->dims[1] != PD_DIM_NONE);
}

START_TEST(test_formats_match_their_arguments) {
  for (int id = 0; id < PD_SERIES_NUM; id++) {
    const pd_series_t *s = &pd_series[id];
    size_t placeholders = 0;
    for (const char *p = strchr(s->format, '%'); p != NULL;
         p = strchr(p + 2, '%')) {
      ck_assert_msg(p[1] == 's', "%s: only %%s may appear", s->name);
      placeholders++;
    }
    ck_assert_msg(placeholders == args_of(s), "%s: %zu %%s for %zu values",
                  s->name, placeholders, args_of(s));
    /* a dimension only where the one before it is used */
    ck_assert(s->dims[1] == PD_DIM_NONE || s->dims[0] != PD_DIM_NONE);
    /* an entity's series start "<entity>-<instance>-", so the instance
     * can be told from the name (instance names have no "-") */
    if (pd_series_entity_named(s->entity)) {
      char prefix[32];
      snprintf(prefix, sizeof(prefix), "%s-%%s-",
               pd_series_entity_name(s->entity));
      ck_assert_msg(strncmp(s->format, prefix, strlen(prefix)) == 0,
                    "%s: %s does not start with %s", s->name, s->format,
                    prefix);
      ck_assert_int_eq(s->dims[0], PD_DIM_NONE);
    }
    ck_assert_ptr_nonnull(s->meaning);
    ck_assert_uint_gt(strlen(s->meaning), 0);
    ck_assert_ptr_null(strchr(s->meaning, '\t'));
  }
}
END_TEST

START_TEST(test_names_are_unique) {
  /* Every value of every series, for one instance name: no two alike. */
  size_t cap = 256, num = 0;
  char(*names)[DATA_MAX_NAME_LEN] = calloc(cap, sizeof(*names));
  ck_assert_ptr_nonnull(names);
  for (int id = 0; id < PD_SERIES_NUM; id++) {
    const pd_series_t *s = &pd_series[id];
    for (size_t a = 0; a < pd_series_dim_size(s->dims[0]); a++)
      for (size_t b = 0; b < pd_series_dim_size(s->dims[1]); b++) {
        size_t at[2] = {a, b};
        ck_assert_uint_lt(num, cap);
        ck_assert_int_eq(
            pd_series_type_instance(names[num], DATA_MAX_NAME_LEN, id, "x", at),
            0);
        for (size_t i = 0; i < num; i++)
          ck_assert_msg(strcmp(names[i], names[num]) != 0, "%s twice",
                        names[num]);
        num++;
      }
    for (int other = 0; other < id; other++)
      ck_assert_str_ne(pd_series[other].name, s->name);
  }
  free(names);
}
END_TEST

START_TEST(test_every_series_fits_collectd) {
  char longest[PD_INSTANCE_NAME_MAX + 1];
  memset(longest, 'x', PD_INSTANCE_NAME_MAX);
  longest[PD_INSTANCE_NAME_MAX] = '\0';
  for (int id = 0; id < PD_SERIES_NUM; id++) {
    const pd_series_t *s = &pd_series[id];
    ck_assert_uint_lt(strlen(s->type), DATA_MAX_NAME_LEN);
    for (size_t a = 0; a < pd_series_dim_size(s->dims[0]); a++)
      for (size_t b = 0; b < pd_series_dim_size(s->dims[1]); b++) {
        size_t at[2] = {a, b};
        char ti[DATA_MAX_NAME_LEN];
        ck_assert_msg(
            pd_series_type_instance(ti, sizeof(ti), id, longest, at) == 0,
            "%s does not fit DATA_MAX_NAME_LEN", s->name);
      }
  }
  /* the compile-time check in pd_series.c counts on this bound */
  for (int d = PD_DIM_NONE + 1; d < PD_DIM_NUM; d++)
    for (size_t i = 0; i < pd_series_dim_size(d); i++)
      ck_assert_uint_le(strlen(pd_series_dim_value(d, i)),
                        PD_SERIES_DIM_VALUE_MAX);
}
END_TEST

START_TEST(test_dimensions_follow_the_model) {
  ck_assert_uint_eq(pd_series_dim_size(PD_DIM_SERVICE_STATUS),
                    PD_SERVICE_STATUS_NUM);
  for (int i = 0; i < PD_SERVICE_STATUS_NUM; i++)
    ck_assert_str_eq(pd_series_dim_value(PD_DIM_SERVICE_STATUS, i),
                     pd_service_status_name(i));
  const char *st = pd_series_dim_value(PD_DIM_INCIDENT_STATUS, 0);
  ck_assert_int_eq(pd_incident_status_parse(st, strlen(st)),
                   PD_INCIDENT_TRIGGERED);
  st = pd_series_dim_value(PD_DIM_INCIDENT_STATUS, 1);
  ck_assert_int_eq(pd_incident_status_parse(st, strlen(st)),
                   PD_INCIDENT_ACKNOWLEDGED);
  ck_assert_uint_eq(pd_series_dim_size(PD_DIM_INCIDENT_STATUS), 2);
  const char *u = pd_series_dim_value(PD_DIM_URGENCY, 0);
  ck_assert_int_eq(pd_urgency_parse(u, strlen(u)), PD_URGENCY_HIGH);
  u = pd_series_dim_value(PD_DIM_URGENCY, 1);
  ck_assert_int_eq(pd_urgency_parse(u, strlen(u)), PD_URGENCY_LOW);
  ck_assert_uint_eq(pd_series_dim_size(PD_DIM_URGENCY), 2);
  ck_assert_uint_eq(pd_series_dim_size(PD_DIM_NONE), 1);
  ck_assert_ptr_null(pd_series_dim_value(PD_DIM_NONE, 0));
  ck_assert_ptr_null(pd_series_dim_value(PD_DIM_URGENCY, 2));
}
END_TEST

START_TEST(test_type_instance_composes) {
  char ti[DATA_MAX_NAME_LEN];
  size_t at[2] = {PD_INCIDENT_ACKNOWLEDGED, PD_URGENCY_LOW};
  ck_assert_int_eq(
      pd_series_type_instance(ti, sizeof(ti), PD_SERIES_INCIDENTS, NULL, at),
      0);
  ck_assert_str_eq(ti, "incidents-acknowledged-low");
  ck_assert_int_eq(pd_series_type_instance(ti, sizeof(ti),
                                           PD_SERIES_SCHEDULE_NEXT_HANDOFF,
                                           "payments_primary", NULL),
                   0);
  ck_assert_str_eq(ti, "schedule-payments_primary-next_handoff");
  ck_assert_int_eq(
      pd_series_type_instance(ti, sizeof(ti), PD_SERIES_API_UP, "x", NULL), 0);
  ck_assert_str_eq(ti, "api-up");
  /* refused: a missing instance or dimension, a value out of range, an
   * unknown series, too small a buffer */
  ck_assert_int_eq(pd_series_type_instance(
                       ti, sizeof(ti), PD_SERIES_SERVICE_STATUS, NULL, NULL),
                   -1);
  ck_assert_str_eq(ti, "");
  ck_assert_int_eq(
      pd_series_type_instance(ti, sizeof(ti), PD_SERIES_INCIDENTS, NULL, NULL),
      -1);
  size_t bad[2] = {2, 0};
  ck_assert_int_eq(
      pd_series_type_instance(ti, sizeof(ti), PD_SERIES_INCIDENTS, NULL, bad),
      -1);
  ck_assert_int_eq(
      pd_series_type_instance(ti, sizeof(ti), PD_SERIES_NUM, NULL, NULL), -1);
  char small[6];
  ck_assert_int_eq(pd_series_type_instance(small, sizeof(small),
                                           PD_SERIES_API_CYCLE, NULL, NULL),
                   -1);
  ck_assert_str_eq(small, "");
  ck_assert_int_eq(pd_series_type_instance(small, sizeof(small),
                                           PD_SERIES_API_UP, NULL, NULL),
                   -1);
  char exact[7]; /* "api-up" and its NUL, exactly */
  ck_assert_int_eq(pd_series_type_instance(exact, sizeof(exact),
                                           PD_SERIES_API_UP, NULL, NULL),
                   0);
  ck_assert_str_eq(exact, "api-up");
}
END_TEST

START_TEST(test_groups) {
  /* every group has series, and every group but API and NOTIFY a Collect
   * keyword */
  for (int g = 0; g < PD_GROUP_NUM; g++) {
    size_t n = 0;
    for (int id = 0; id < PD_SERIES_NUM; id++)
      n += pd_series[id].group == (pd_series_group_t)g;
    ck_assert_msg(n > 0, "group %s has no series", pd_series_groups[g].name);
    ck_assert_int_eq(pd_series_groups[g].collect_bit == 0,
                     g == PD_GROUP_API || g == PD_GROUP_NOTIFY);
  }
  unsigned all = (1u << PD_NEED_NUM) - 1;
  ck_assert(pd_series_group_on(PD_GROUP_API, 0, 0));
  ck_assert(pd_series_group_on(PD_GROUP_TEAMS, PD_COLLECT_TEAMS, all));
  ck_assert(!pd_series_group_on(PD_GROUP_TEAMS,
                                PD_COLLECT_ALL & ~PD_COLLECT_TEAMS, all));
  ck_assert(
      !pd_series_group_on(PD_GROUP_TEAMS, PD_COLLECT_ALL, all & ~PD_NEED_OPEN));
  ck_assert(pd_series_group_on(PD_GROUP_SERVICES, PD_COLLECT_SERVICES,
                               PD_NEED_SERVICES));
  ck_assert(!pd_series_group_on(PD_GROUP_NUM, PD_COLLECT_ALL, all));
  for (unsigned i = 0; i < PD_NEED_NUM; i++)
    ck_assert_ptr_nonnull(pd_series_need_name(1u << i));
  ck_assert_ptr_null(pd_series_need_name(3));
}
END_TEST

/* --- emitting --------------------------------------------------------------
 */

typedef struct {
  char type[DATA_MAX_NAME_LEN], type_instance[DATA_MAX_NAME_LEN];
  pd_ds_kind_t kind;
  double value;
  int num;
} last_metric_t;

static int record(void *ctx, const pd_metric_t *m) {
  last_metric_t *x = ctx;
  snprintf(x->type, sizeof(x->type), "%s", m->type);
  snprintf(x->type_instance, sizeof(x->type_instance), "%s", m->type_instance);
  x->kind = m->kind;
  x->value = m->kind == PD_DS_DERIVE ? (double)m->derive : m->gauge;
  x->num++;
  return 0;
}

START_TEST(test_emit_kinds) {
  last_metric_t got = {0};
  pd_metric_sink_t sink = {.emit = record, .ctx = &got};
  pd_metric_batch_t batch;
  pd_metric_batch_init(&batch, &sink, "h", "acme");

  pd_series_gauge(&batch, PD_SERIES_SCHEDULE_COVERAGE, "web", NULL, 42.5);
  ck_assert_int_eq(got.num, 1);
  ck_assert_str_eq(got.type, "percent");
  ck_assert_str_eq(got.type_instance, "schedule-web-coverage");
  ck_assert_int_eq(got.kind, PD_DS_GAUGE);
  ck_assert_double_eq(got.value, 42.5);

  pd_series_derive(&batch, PD_SERIES_API_REQUESTS, 7);
  ck_assert_int_eq(got.num, 2);
  ck_assert_str_eq(got.type, "derive");
  ck_assert_str_eq(got.type_instance, "api-requests");
  ck_assert_int_eq(got.kind, PD_DS_DERIVE);
  ck_assert_double_eq(got.value, 7);
  ck_assert_int_eq(batch.errors, 0);

  /* the wrong kind, or a name that cannot be made: an error, no value */
  pd_series_gauge(&batch, PD_SERIES_API_REQUESTS, NULL, NULL, 1);
  pd_series_derive(&batch, PD_SERIES_API_UP, 1);
  pd_series_derive(&batch, PD_SERIES_SERVICE_CREATED, 1);
  pd_series_gauge(&batch, PD_SERIES_SERVICE_CREATED, NULL, NULL, 1);
  ck_assert_int_eq(got.num, 2);
  ck_assert_int_eq(batch.errors, 4);

  /* derive types go through pd_series_derive, all others through
   * pd_series_gauge */
  for (int id = 0; id < PD_SERIES_NUM; id++)
    if (strcmp(pd_series[id].type, "derive") == 0)
      ck_assert(!pd_series_entity_named(pd_series[id].entity) &&
                pd_series[id].dims[0] == PD_DIM_NONE);
}
END_TEST

/* A pd_series_value_fn: the value of every NOTIFY series is 10 + its
 * position among them, but the one the scope names has none
 * (PD_ONLY_IF), as a value of pd_series.def would say. */
static void notify_values(const void *scope, pd_series_id_t id,
                          const size_t at[2], pd_series_value_t *out) {
  const pd_series_id_t *absent = scope;
  ck_assert_int_eq(pd_series[id].entity, PD_ENTITY_NOTIFY);
  ck_assert_uint_eq(at[0], 0);
  ck_assert_uint_eq(at[1], 0);
  double value = 10 + (double)(id - PD_SERIES_NOTIFY_PENDING);
  bool pd_series_absent = false;
  out->gauge = PD_ONLY_IF(id != *absent, value);
  out->derive = (int64_t)out->gauge;
  out->present = !pd_series_absent;
}

START_TEST(test_emit_entity) {
  /* every series of the entity, in the table's order, each through its
   * kind; a value that is absent is not sent */
  last_metric_t got = {0};
  pd_metric_sink_t sink = {.emit = record, .ctx = &got};
  pd_metric_batch_t batch;
  pd_metric_batch_init(&batch, &sink, "h", "notify-x");
  pd_series_id_t absent = PD_SERIES_NUM;
  pd_series_emit_entity(&batch, PD_ENTITY_NOTIFY, NULL, notify_values, &absent);
  int notify = 0;
  pd_series_id_t last = PD_SERIES_NUM;
  for (int id = 0; id < PD_SERIES_NUM; id++)
    if (pd_series[id].entity == PD_ENTITY_NOTIFY) {
      notify++;
      last = (pd_series_id_t)id;
    }
  ck_assert_int_eq(got.num, notify);
  ck_assert_int_eq(batch.errors, 0);
  ck_assert_str_eq(got.type, pd_series[last].type);
  ck_assert_int_eq(got.kind,
                   pd_series_is_derive(last) ? PD_DS_DERIVE : PD_DS_GAUGE);
  ck_assert_double_eq(got.value,
                      10 + (double)(last - PD_SERIES_NOTIFY_PENDING));

  got = (last_metric_t){0};
  absent = last;
  pd_series_emit_entity(&batch, PD_ENTITY_NOTIFY, NULL, notify_values, &absent);
  ck_assert_int_eq(got.num, notify - 1);
  ck_assert_str_ne(got.type_instance, "");
  char ti[PD_TYPE_INSTANCE_MAX];
  ck_assert_int_eq(pd_series_type_instance(ti, sizeof(ti), last, NULL, NULL),
                   0);
  ck_assert_str_ne(got.type_instance, ti);
  ck_assert_int_eq(batch.errors, 0);
}
END_TEST

static Suite *series_suite(void) {
  Suite *s = suite_create("series");
  TCase *tc = tcase_create("table");
  tcase_add_test(tc, test_formats_match_their_arguments);
  tcase_add_test(tc, test_names_are_unique);
  tcase_add_test(tc, test_every_series_fits_collectd);
  tcase_add_test(tc, test_dimensions_follow_the_model);
  tcase_add_test(tc, test_type_instance_composes);
  tcase_add_test(tc, test_groups);
  tcase_add_test(tc, test_emit_kinds);
  tcase_add_test(tc, test_emit_entity);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(series_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
