/* SPDX-License-Identifier: MIT */
/*
 * test_names.c - metric instance names of entities (doc/contract.md §4), case
 * by case.
 */
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_names.h"
#include "pd_series.h"

static const char *sanitize(const char *name) {
  static char out[PD_NAME_BASE_MAX + 1];
  memset(out, 'X', sizeof(out));
  size_t n = pd_names_sanitize(name, strlen(name), out);
  ck_assert_uint_eq(n, strlen(out));
  return out;
}

START_TEST(test_sanitize_rules) {
  ck_assert_str_eq(sanitize("Web  API"), "web_api");
  ck_assert_str_eq(sanitize("My Application Service"),
                   "my_application_service");
  ck_assert_str_eq(sanitize("\xc3\x84rger-Dienst"), "rger_dienst"); /* Ä */
  ck_assert_str_eq(sanitize("Caf\xc3\xa9 Backend"), "caf_backend");
  ck_assert_str_eq(sanitize("API/Gateway.v2"), "api_gateway_v2");
  ck_assert_str_eq(sanitize("2nd Line"), "2nd_line");
  ck_assert_str_eq(sanitize("ABC_def"), "abc_def");
  /* underscores are inside the class: they survive, runs of others do not
   * merge with them */
  ck_assert_str_eq(sanitize("a__b"), "a__b");
  ck_assert_str_eq(sanitize("a - _b"), "a__b");
  ck_assert_str_eq(sanitize("a\t\n\x01z"), "a_z");
  /* leading and trailing "_" removed, whatever produced them */
  ck_assert_str_eq(sanitize("__a__"), "a");
  ck_assert_str_eq(sanitize("  [prod] db  "), "prod_db");
  ck_assert_str_eq(sanitize("_ -x- _"), "x");
  /* nothing left */
  ck_assert_str_eq(sanitize(""), "");
  ck_assert_str_eq(sanitize("!!!"), "");
  ck_assert_str_eq(sanitize("___"), "");
  ck_assert_str_eq(sanitize("\xc3\x84\xc3\x96\xc3\x9c"), "");
}
END_TEST

START_TEST(test_sanitize_length) {
  char name[300];
  memset(name, 'A', 200);
  name[200] = '\0';
  const char *s = sanitize(name);
  ck_assert_uint_eq(strlen(s), PD_NAME_BASE_MAX);
  for (size_t i = 0; i < PD_NAME_BASE_MAX; i++)
    ck_assert_int_eq(s[i], 'a');

  /* exactly 64 survives whole */
  memset(name, 'b', 64);
  name[64] = '\0';
  ck_assert_str_eq(sanitize(name), name);

  /* doc/contract.md §4 cuts last: a cut right after a run leaves its "_" */
  memset(name, 'c', 63);
  strcpy(name + 63, " tail");
  s = sanitize(name);
  ck_assert_uint_eq(strlen(s), 64);
  ck_assert_int_eq(s[63], '_');
  ck_assert_int_eq(strncmp(s, name, 63), 0);

  /* leading junk does not count against the 64 bytes */
  memset(name, ' ', 100);
  memset(name + 100, 'd', 64);
  name[164] = '\0';
  ck_assert_uint_eq(strlen(sanitize(name)), 64);
  ck_assert_int_eq(sanitize(name)[0], 'd');
}
END_TEST

START_TEST(test_lower_id) {
  char out[PD_ID_MAX + 1];
  ck_assert_int_eq(pd_names_lower_id("PT4KHLK", out), 0);
  ck_assert_str_eq(out, "pt4khlk");
  ck_assert_int_eq(pd_names_lower_id("Q02JTSNZWHSEKV", out), 0);
  ck_assert_str_eq(out, "q02jtsnzwhsekv");
  ck_assert_int_eq(pd_names_lower_id("P/../x", out), -1);
  ck_assert_str_eq(out, "");
  ck_assert_int_eq(pd_names_lower_id("", out), -1);
  ck_assert_int_eq(pd_names_lower_id(NULL, out), -1);
  char too_long[PD_ID_MAX + 2];
  memset(too_long, 'P', sizeof(too_long) - 1);
  too_long[sizeof(too_long) - 1] = '\0';
  ck_assert_int_eq(pd_names_lower_id(too_long, out), -1);
}
END_TEST

/* Assigns names to pairs "ID", "name" (NULL-terminated list). */
static pd_name_entry_t *assign(const char *const *pairs, size_t *num,
                               pd_instance_by_t by, int expect) {
  size_t n = 0;
  while (pairs[2 * n] != NULL)
    n++;
  pd_name_entry_t *e = calloc(n ? n : 1, sizeof(*e));
  ck_assert_ptr_nonnull(e);
  for (size_t i = 0; i < n; i++) {
    e[i].id = pairs[2 * i];
    e[i].name = pairs[2 * i + 1];
  }
  ck_assert_int_eq(pd_names_assign(e, n, by), expect);
  *num = n;
  return e;
}

static const char *instance_of(pd_name_entry_t *e, size_t n, const char *id) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(e[i].id, id) == 0)
      return e[i].instance;
  ck_abort_msg("no entry %s", id);
  return NULL;
}

START_TEST(test_assign_plain) {
  const char *pairs[] = {
      "PSVC001", "Web API", "PSVC002", "Database", "PSVC003",  "",  "PSVC004",
      NULL,      "PSVC005", "!!!",     "PSVC006",  "web_api2", NULL};
  size_t n;
  pd_name_entry_t *e = assign(pairs, &n, PD_INSTANCE_BY_NAME, 0);
  ck_assert_str_eq(instance_of(e, n, "PSVC001"), "web_api");
  ck_assert_str_eq(instance_of(e, n, "PSVC002"), "database");
  ck_assert_str_eq(instance_of(e, n, "PSVC003"), "psvc003");
  ck_assert_str_eq(instance_of(e, n, "PSVC004"), "psvc004");
  ck_assert_str_eq(instance_of(e, n, "PSVC005"), "psvc005");
  ck_assert_str_eq(instance_of(e, n, "PSVC006"), "web_api2");
  free(e);
}
END_TEST

START_TEST(test_assign_two_way) {
  const char *pairs[] = {"PAAAAA1", "Web API", "PBBBBB2", "web-api",
                         "PCCCCC3", "Mail",    NULL};
  size_t n;
  pd_name_entry_t *e = assign(pairs, &n, PD_INSTANCE_BY_NAME, 0);
  ck_assert_str_eq(instance_of(e, n, "PAAAAA1"), "web_api_paaaaa1");
  ck_assert_str_eq(instance_of(e, n, "PBBBBB2"), "web_api_pbbbbb2");
  ck_assert_str_eq(instance_of(e, n, "PCCCCC3"), "mail");
  free(e);
}
END_TEST

START_TEST(test_assign_three_way) {
  const char *pairs[] = {"P3",    "Ops!", "P1",    "ops", "P2",
                         " OPS ", "P4",   "ops-2", NULL};
  size_t n;
  pd_name_entry_t *e = assign(pairs, &n, PD_INSTANCE_BY_NAME, 0);
  ck_assert_str_eq(instance_of(e, n, "P1"), "ops_p1");
  ck_assert_str_eq(instance_of(e, n, "P2"), "ops_p2");
  ck_assert_str_eq(instance_of(e, n, "P3"), "ops_p3");
  ck_assert_str_eq(instance_of(e, n, "P4"), "ops_2");
  free(e);
}
END_TEST

/* An ID fallback can collide with a real name: both are suffixed. */
START_TEST(test_assign_fallback_collision) {
  const char *pairs[] = {"P1", "", "P2", "P1", NULL};
  size_t n;
  pd_name_entry_t *e = assign(pairs, &n, PD_INSTANCE_BY_NAME, 0);
  ck_assert_str_eq(instance_of(e, n, "P1"), "p1_p1");
  ck_assert_str_eq(instance_of(e, n, "P2"), "p1_p2");
  free(e);
}
END_TEST

/* "a"+"a" suffixed to "a_p1" meets the plain name "a_p1" of P3. */
START_TEST(test_assign_suffix_creates_collision) {
  const char *orders[][7] = {
      {"P1", "a", "P2", "a", "P3", "a_p1", NULL},
      {"P3", "a_p1", "P2", "a", "P1", "a", NULL},
      {"P2", "a", "P3", "A P1", "P1", "A", NULL},
  };
  for (size_t k = 0; k < 3; k++) {
    size_t n;
    pd_name_entry_t *e = assign(orders[k], &n, PD_INSTANCE_BY_NAME, 0);
    ck_assert_str_eq(instance_of(e, n, "P1"), "a_p1");
    ck_assert_str_eq(instance_of(e, n, "P2"), "a_p2");
    ck_assert_str_eq(instance_of(e, n, "P3"), "a_p1_p3");
    free(e);
  }
}
END_TEST

/* The chain goes on: each suffix meets the next plain name. */
START_TEST(test_assign_suffix_chain) {
  const char *pairs[] = {"P1", "a",       "P2", "a",      "P3", "a_p1",
                         "P4", "a_p1_p3", "P5", "a_p2_x", NULL};
  size_t n;
  pd_name_entry_t *e = assign(pairs, &n, PD_INSTANCE_BY_NAME, 0);
  ck_assert_str_eq(instance_of(e, n, "P1"), "a_p1");
  ck_assert_str_eq(instance_of(e, n, "P2"), "a_p2");
  ck_assert_str_eq(instance_of(e, n, "P3"), "a_p1_p3");
  ck_assert_str_eq(instance_of(e, n, "P4"), "a_p1_p3_p4");
  ck_assert_str_eq(instance_of(e, n, "P5"), "a_p2_x");
  free(e);
}
END_TEST

/* A lone "a" makes no suffix, so "a_p1" keeps its plain name. */
START_TEST(test_assign_no_spurious_suffix) {
  const char *pairs[] = {"P1", "a", "P3", "a_p1", NULL};
  size_t n;
  pd_name_entry_t *e = assign(pairs, &n, PD_INSTANCE_BY_NAME, 0);
  ck_assert_str_eq(instance_of(e, n, "P1"), "a");
  ck_assert_str_eq(instance_of(e, n, "P3"), "a_p1");
  free(e);
}
END_TEST

START_TEST(test_assign_long_names_fit) {
  char name[200];
  memset(name, 'N', 150);
  name[150] = '\0';
  char id1[PD_ID_MAX + 1], id2[PD_ID_MAX + 1];
  memset(id1, 'A', PD_ID_MAX);
  memset(id2, 'B', PD_ID_MAX);
  id1[PD_ID_MAX] = id2[PD_ID_MAX] = '\0';
  pd_name_entry_t e[2] = {{.id = id1, .name = name}, {.id = id2, .name = name}};
  ck_assert_int_eq(pd_names_assign(e, 2, PD_INSTANCE_BY_NAME), 0);
  ck_assert_uint_eq(strlen(e[0].instance), PD_INSTANCE_NAME_MAX);
  ck_assert_uint_eq(strlen(e[1].instance), PD_INSTANCE_NAME_MAX);
  ck_assert_int_eq(e[0].instance[64], '_');
  ck_assert_int_eq(e[0].instance[65], 'a');
  ck_assert_int_eq(e[1].instance[65], 'b');

  /* every series of doc/contract.md §4 (pd_series.def), with the longest
   * instance name and every value of its dimensions, fits collectd's
   * type_instance */
  char ti[DATA_MAX_NAME_LEN];
  for (int id = 0; id < PD_SERIES_NUM; id++) {
    const pd_series_t *s = &pd_series[id];
    for (size_t a = 0; a < pd_series_dim_size(s->dims[0]); a++)
      for (size_t b = 0; b < pd_series_dim_size(s->dims[1]); b++) {
        size_t at[2] = {a, b};
        ck_assert_msg(
            pd_series_type_instance(ti, sizeof(ti), id, e[0].instance, at) == 0,
            "%s does not fit", s->name);
        ck_assert_uint_lt(strlen(ti), DATA_MAX_NAME_LEN);
        if (pd_series_entity_named(s->entity))
          ck_assert_ptr_nonnull(strstr(ti, e[0].instance));
      }
  }
  ck_assert_int_eq(pd_series_type_instance(ti, sizeof(ti),
                                           PD_SERIES_POLICY_UNCOVERED_LEVELS,
                                           e[0].instance, NULL),
                   0);
  ck_assert_uint_eq(strlen(ti), 7 + PD_INSTANCE_NAME_MAX + 17);
  /* too small a buffer is refused, not overrun */
  char small[100];
  ck_assert_int_eq(pd_series_type_instance(small, sizeof(small),
                                           PD_SERIES_POLICY_RULES,
                                           e[0].instance, NULL),
                   -1);
  ck_assert_str_eq(small, "");
  ck_assert_int_eq(pd_series_type_instance(small, sizeof(small),
                                           PD_SERIES_SERVICE_TRIGGERED,
                                           "web_api", NULL),
                   0);
  ck_assert_str_eq(small, "service-web_api-triggered");
}
END_TEST

START_TEST(test_assign_by_id) {
  const char *pairs[] = {"PAB12CD", "Same", "PZZ99YY", "Same",
                         "PQ",      NULL,   NULL};
  size_t n;
  pd_name_entry_t *e = assign(pairs, &n, PD_INSTANCE_BY_ID, 0);
  ck_assert_str_eq(instance_of(e, n, "PAB12CD"), "pab12cd");
  ck_assert_str_eq(instance_of(e, n, "PZZ99YY"), "pzz99yy");
  ck_assert_str_eq(instance_of(e, n, "PQ"), "pq");
  free(e);
}
END_TEST

START_TEST(test_assign_errors) {
  size_t n;
  const char *dup[] = {"P1", "a", "P1", "b", NULL};
  free(assign(dup, &n, PD_INSTANCE_BY_NAME, -1));
  const char *dup_case[] = {"PAB", "a", "pab", "b", NULL};
  free(assign(dup_case, &n, PD_INSTANCE_BY_NAME, -1));
  free(assign(dup_case, &n, PD_INSTANCE_BY_ID, -1));
  const char *bad[] = {"P1", "a", "P/2", "b", NULL};
  free(assign(bad, &n, PD_INSTANCE_BY_NAME, -1));
  const char *none[] = {NULL};
  free(assign(none, &n, PD_INSTANCE_BY_NAME, 0));
}
END_TEST

/*
 * Many entities with names drawn from a tiny alphabet collide in every
 * possible way; whatever the input order, the names must be unique, be the
 * plain sanitised name or it plus "_<id>", and not depend on the order.
 */
START_TEST(test_assign_random_unique_and_stable) {
  enum { N = 400 };
  static char names[N][8], ids[N][8];
  static const char alphabet[] = "a_p1 2";
  unsigned seed = 12345;
  for (size_t i = 0; i < N; i++) {
    size_t len = 1 + (size_t)(rand_r(&seed) % 6);
    for (size_t j = 0; j < len; j++)
      names[i][j] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
    names[i][len] = '\0';
    snprintf(ids[i], sizeof(ids[i]), "P%zu", i + 1);
  }
  pd_name_entry_t a[N], b[N];
  for (size_t i = 0; i < N; i++) {
    a[i] = (pd_name_entry_t){.id = ids[i], .name = names[i]};
    b[N - 1 - i] = a[i];
  }
  ck_assert_int_eq(pd_names_assign(a, N, PD_INSTANCE_BY_NAME), 0);
  ck_assert_int_eq(pd_names_assign(b, N, PD_INSTANCE_BY_NAME), 0);
  for (size_t i = 0; i < N; i++) {
    ck_assert_str_eq(a[i].instance, b[N - 1 - i].instance);
    for (size_t j = i + 1; j < N; j++)
      ck_assert_str_ne(a[i].instance, a[j].instance);
    char base[PD_NAME_BASE_MAX + 1], lower[PD_ID_MAX + 1], full[200];
    if (pd_names_sanitize(names[i], strlen(names[i]), base) == 0)
      pd_names_lower_id(ids[i], base);
    pd_names_lower_id(ids[i], lower);
    snprintf(full, sizeof(full), "%s_%s", base, lower);
    ck_assert_msg(strcmp(a[i].instance, base) == 0 ||
                      strcmp(a[i].instance, full) == 0,
                  "%s -> %s", names[i], a[i].instance);
  }
}
END_TEST

/* A big kind: no timing assert, just that it completes and stays unique. */
START_TEST(test_assign_large) {
  enum { N = 20000 };
  pd_name_entry_t *e = calloc(N, sizeof(*e));
  char(*ids)[12] = calloc(N, sizeof(*ids));
  char(*names)[24] = calloc(N, sizeof(*names));
  ck_assert_ptr_nonnull(e);
  for (size_t i = 0; i < N; i++) {
    snprintf(ids[i], sizeof(ids[i]), "P%06zu", i);
    snprintf(names[i], sizeof(names[i]), "Service %zu", i % (N / 2));
    e[i] = (pd_name_entry_t){.id = ids[i], .name = names[i]};
  }
  ck_assert_int_eq(pd_names_assign(e, N, PD_INSTANCE_BY_NAME), 0);
  ck_assert_str_eq(e[0].instance, "service_0_p000000");
  ck_assert_str_eq(e[N / 2].instance, "service_0_p010000");
  free(names);
  free(ids);
  free(e);
}
END_TEST

static Suite *names_suite(void) {
  Suite *s = suite_create("names");
  TCase *tc = tcase_create("names");
  tcase_add_test(tc, test_sanitize_rules);
  tcase_add_test(tc, test_sanitize_length);
  tcase_add_test(tc, test_lower_id);
  tcase_add_test(tc, test_assign_plain);
  tcase_add_test(tc, test_assign_two_way);
  tcase_add_test(tc, test_assign_three_way);
  tcase_add_test(tc, test_assign_fallback_collision);
  tcase_add_test(tc, test_assign_suffix_creates_collision);
  tcase_add_test(tc, test_assign_suffix_chain);
  tcase_add_test(tc, test_assign_no_spurious_suffix);
  tcase_add_test(tc, test_assign_long_names_fit);
  tcase_add_test(tc, test_assign_by_id);
  tcase_add_test(tc, test_assign_errors);
  tcase_add_test(tc, test_assign_random_unique_and_stable);
  tcase_add_test(tc, test_assign_large);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(names_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
