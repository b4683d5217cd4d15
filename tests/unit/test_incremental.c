/* SPDX-License-Identifier: MIT */
/*
 * test_incremental.c - the incremental read's rules (pd_incremental.h)
 * without a network: the log cursor and its overlap, dedupe of entries by
 * ID, the stop and order checks of a log read, the affected services
 * (moves included), the merge of a re-listing, the created records, and
 * the resync's corrections; and the GET /log_entries parser.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_incremental.h"
#include "pd_parse.h"

#define NOW ((time_t)1800000000)

static pd_log_entry_t entry(const char *id, time_t at, const char *service,
                            const char *incident, time_t created) {
  pd_log_entry_t e = {.created_at = at, .incident_created_at = created};
  snprintf(e.id, sizeof(e.id), "%s", id);
  snprintf(e.service_id, sizeof(e.service_id), "%s", service);
  snprintf(e.incident_id, sizeof(e.incident_id), "%s", incident);
  snprintf(e.incident_service_id, sizeof(e.incident_service_id), "%s", service);
  return e;
}

static void push_rec(pd_incident_recs_t *v, const char *id, const char *service,
                     int status, time_t created) {
  pd_incident_t inc = {.created_at = created,
                       .status = (unsigned char)status,
                       .urgency = PD_URGENCY_HIGH};
  snprintf(inc.id, sizeof(inc.id), "%s", id);
  snprintf(inc.service_id, sizeof(inc.service_id), "%s", service);
  ck_assert_int_eq(pd_incident_recs_push(v, &inc), 0);
  pd_incident_recs_dedupe(v);
}

static const pd_incident_rec_t *find(const pd_incident_recs_t *v,
                                     const char *id) {
  for (size_t i = 0; i < v->num; i++)
    if (strcmp(v->items[i].id, id) == 0)
      return &v->items[i];
  return NULL;
}

/* A log read of entries (newest first), taken into the state. */
static void take(pd_incr_t *st, const pd_log_entry_t *es, size_t n,
                 const pd_incident_recs_t *open, pd_incident_recs_t *created,
                 pd_idlist_t *affected) {
  pd_incr_log_t log;
  pd_incr_log_begin(&log, pd_incr_low(st));
  for (size_t i = 0; i < n; i++)
    ck_assert_int_eq(pd_incr_log_add(&log, &es[i]), 0);
  ck_assert(!log.disordered);
  ck_assert_int_eq(pd_incr_take_entries(st, &log, open, created, NOW - 86400,
                                        NULL, affected),
                   0);
  pd_incr_log_free(&log);
}

START_TEST(test_log_read_stops_before_the_overlap) {
  pd_incr_log_t log;
  pd_incr_log_begin(&log, NOW - 120);
  pd_log_entry_t a = entry("E3", NOW, "S1", "I1", NOW - 10);
  pd_log_entry_t b = entry("E2", NOW - 120, "S1", "I1", NOW - 10);
  pd_log_entry_t c = entry("E1", NOW - 121, "S1", "I1", NOW - 10);
  ck_assert_int_eq(pd_incr_log_add(&log, &a), 0);
  ck_assert_int_eq(pd_incr_log_add(&log, &b), 0);
  ck_assert(!log.reached); /* exactly at the overlap's start: kept */
  ck_assert_int_eq(pd_incr_log_add(&log, &c), 0);
  ck_assert(log.reached); /* older: no page further, and cut here */
  ck_assert_uint_eq(log.entries.num, 2);
  ck_assert(!log.disordered);
  pd_incr_log_free(&log);
}
END_TEST

START_TEST(test_log_read_not_newest_first_is_refused) {
  pd_incr_log_t log;
  pd_incr_log_begin(&log, NOW - 120);
  pd_log_entry_t a = entry("E1", NOW - 50, "S1", "I1", 0);
  pd_log_entry_t b = entry("E2", NOW - 50, "S1", "I1", 0); /* tie: fine */
  pd_log_entry_t c = entry("E3", NOW - 10, "S1", "I1", 0); /* newer later */
  ck_assert_int_eq(pd_incr_log_add(&log, &a), 0);
  ck_assert_int_eq(pd_incr_log_add(&log, &b), 0);
  ck_assert(!log.disordered);
  ck_assert_int_eq(pd_incr_log_add(&log, &c), 0);
  ck_assert(log.disordered);
  pd_incr_log_free(&log);
}
END_TEST

START_TEST(test_entries_deduped_and_late_ones_caught) {
  pd_incr_t st;
  pd_incr_init(&st, 120);
  pd_incr_commit(&st, NOW);
  pd_incident_recs_t open = {0}, created = {0};
  pd_idlist_t affected = {0};

  pd_log_entry_t first[] = {entry("E2", NOW + 5, "S2", "I2", NOW + 5),
                            entry("E1", NOW - 30, "S1", "I1", NOW - 30)};
  take(&st, first, 2, &open, &created, &affected);
  ck_assert_uint_eq(affected.num, 2);
  ck_assert_uint_eq(created.num, 2);
  pd_incr_commit(&st, NOW + 10);

  /* The same entries again (the overlap), one repeated by a page shift,
   * and one written before the cursor that showed only now (late). */
  pd_idlist_free(&affected);
  pd_log_entry_t second[] = {entry("E2", NOW + 5, "S2", "I2", NOW + 5),
                             entry("E2", NOW + 5, "S2", "I2", NOW + 5),
                             entry("LATE", NOW + 1, "S3", "I3", NOW - 3600),
                             entry("E1", NOW - 30, "S1", "I1", NOW - 30)};
  take(&st, second, 4, &open, &created, &affected);
  ck_assert_uint_eq(affected.num, 1);
  ck_assert_str_eq(affected.ids[0], "S3");
  ck_assert_uint_eq(created.num, 3);

  /* Entries behind the new overlap are forgotten, not read again. */
  pd_incr_commit(&st, NOW + 200);
  ck_assert_int_eq(pd_incr_low(&st), NOW + 80);
  ck_assert_uint_eq(st.seen_num, 0);

  pd_idlist_free(&affected);
  pd_incident_recs_free(&open);
  pd_incident_recs_free(&created);
  pd_incr_free(&st);
}
END_TEST

START_TEST(test_a_move_affects_the_old_service_too) {
  pd_incr_t st;
  pd_incr_init(&st, 120);
  pd_incr_commit(&st, NOW);
  pd_incident_recs_t open = {0}, created = {0}, fresh = {0};
  push_rec(&open, "I1", "SA", PD_INCIDENT_TRIGGERED, NOW - 999999);
  push_rec(&open, "I2", "SA", PD_INCIDENT_TRIGGERED, NOW - 999999);
  push_rec(&open, "I9", "SC", PD_INCIDENT_ACKNOWLEDGED, NOW - 999999);
  pd_idlist_t affected = {0};
  /* I1 moved from SA to SB: the entry names only SB. */
  pd_log_entry_t moved[] = {entry("E1", NOW + 1, "SB", "I1", NOW - 999999)};
  take(&st, moved, 1, &open, &created, &affected);
  ck_assert_uint_eq(affected.num, 2);
  ck_assert(pd_incr_idset_has(&affected, "SA"));
  ck_assert(pd_incr_idset_has(&affected, "SB"));

  /* The re-listing of SA and SB: I1 on SB, I2 still on SA. */
  push_rec(&fresh, "I1", "SB", PD_INCIDENT_TRIGGERED, NOW - 999999);
  push_rec(&fresh, "I2", "SA", PD_INCIDENT_TRIGGERED, NOW - 999999);
  ck_assert_int_eq(pd_incr_merge(&open, &affected, &fresh, &created), 0);
  ck_assert_uint_eq(open.num, 3);
  ck_assert_str_eq(find(&open, "I1")->service_id, "SB");
  ck_assert_str_eq(find(&open, "I9")->service_id, "SC"); /* untouched */
  ck_assert_uint_eq(fresh.num, 0);

  pd_idlist_free(&affected);
  pd_incident_recs_free(&open);
  pd_incident_recs_free(&fresh);
  pd_incident_recs_free(&created);
  pd_incr_free(&st);
}
END_TEST

START_TEST(test_merge_drops_resolved_and_moved_copies) {
  pd_incident_recs_t open = {0}, fresh = {0}, created = {0};
  pd_idlist_t affected = {0};
  push_rec(&open, "I1", "SA", PD_INCIDENT_TRIGGERED, NOW - 10);
  push_rec(&open, "I2", "SA", PD_INCIDENT_TRIGGERED, NOW - 10);
  push_rec(&open, "I3", "SX", PD_INCIDENT_TRIGGERED, NOW - 10);
  push_rec(&created, "I3", "SX", PD_INCIDENT_TRIGGERED, NOW - 10);
  ck_assert_int_eq(pd_incr_idset_add(&affected, "SA"), 0);
  /* SA re-listed: I1 resolved (gone), I2 acknowledged, and I3 found there
   * (its move's entry not shown yet): one copy, on SA. */
  push_rec(&fresh, "I2", "SA", PD_INCIDENT_ACKNOWLEDGED, NOW - 10);
  push_rec(&fresh, "I3", "SA", PD_INCIDENT_TRIGGERED, NOW - 10);
  ck_assert_int_eq(pd_incr_merge(&open, &affected, &fresh, &created), 0);
  ck_assert_uint_eq(open.num, 2);
  ck_assert_ptr_null(find(&open, "I1"));
  ck_assert_int_eq(find(&open, "I2")->status, PD_INCIDENT_ACKNOWLEDGED);
  ck_assert_str_eq(find(&open, "I3")->service_id, "SA");
  ck_assert_str_eq(find(&created, "I3")->service_id, "SA");
  pd_idlist_free(&affected);
  pd_incident_recs_free(&open);
  pd_incident_recs_free(&fresh);
  pd_incident_recs_free(&created);
}
END_TEST

START_TEST(test_exposed_listing_listed_again) {
  pd_incr_t st;
  pd_incr_init(&st, 120);
  pd_incr_commit(&st, NOW);
  pd_idlist_t batch = {0}, affected = {0};
  ck_assert_int_eq(pd_incr_idset_add(&batch, "S1"), 0);
  ck_assert_int_eq(pd_incr_idset_add(&batch, "S2"), 0);
  ck_assert_int_eq(pd_incr_idset_add(&batch, "S3"), 0);
  ck_assert_int_eq(pd_incr_expose(&st, &batch, NOW + 2, NOW + 4), 0);
  pd_incident_recs_t open = {0}, created = {0};
  /* A change to S2 outside the paging window: just S2. */
  pd_log_entry_t outside[] = {entry("E1", NOW + 6, "S2", "I1", 0)};
  take(&st, outside, 1, &open, &created, &affected);
  ck_assert_uint_eq(affected.num, 1);
  pd_idlist_free(&affected);
  /* One to S2 while the batch was paged: the whole batch. */
  pd_log_entry_t inside[] = {entry("E2", NOW + 3, "S2", "I2", 0)};
  take(&st, inside, 1, &open, &created, &affected);
  ck_assert_uint_eq(affected.num, 3);
  pd_idlist_free(&affected);
  /* Forgotten once the overlap has passed it. */
  pd_incr_commit(&st, NOW + 4 + 1 + 121);
  ck_assert_uint_eq(st.exposed_num, 0);
  pd_idlist_free(&batch);
  pd_incr_free(&st);
}
END_TEST

START_TEST(test_created_window_and_scope) {
  pd_incr_t st;
  pd_incr_init(&st, 120);
  pd_incr_commit(&st, NOW);
  pd_incident_recs_t open = {0}, created = {0}, view = {0};
  pd_idlist_t affected = {0};
  pd_log_entry_t es[] = {
      entry("E3", NOW + 2, "S1", "IFUT", NOW + 2), /* after now */
      entry("E2", NOW + 1, "S1", "INEW", NOW - 5),
      entry("E1", NOW + 1, "S1", "IOLD", NOW - 86401), /* before window */
  };
  pd_teams_t scope = {0};
  pd_team_t t = {.id = "T1"};
  ck_assert_int_eq(pd_teams_push(&scope, &t), 0);
  ck_assert_int_eq(pd_idlist_add(&es[0].team_ids, "T1"), 0);
  ck_assert_int_eq(pd_idlist_add(&es[1].team_ids, "T1"), 0);
  pd_log_entry_t other = entry("E4", NOW + 1, "S9", "IOUT", NOW - 5);
  ck_assert_int_eq(pd_idlist_add(&other.team_ids, "T2"), 0);

  pd_incr_log_t log;
  pd_incr_log_begin(&log, pd_incr_low(&st));
  ck_assert_int_eq(pd_incr_log_add(&log, &es[0]), 0);
  ck_assert_int_eq(pd_incr_log_add(&log, &es[1]), 0);
  ck_assert_int_eq(pd_incr_log_add(&log, &es[2]), 0);
  ck_assert_int_eq(pd_incr_log_add(&log, &other), 0);
  ck_assert_int_eq(pd_incr_take_entries(&st, &log, &open, &created, NOW - 86400,
                                        &scope, &affected),
                   0);
  pd_incr_log_free(&log);
  /* IOLD is before the window, IOUT out of scope. */
  ck_assert_uint_eq(created.num, 2);
  /* The cycle at NOW counts INEW only; IFUT is kept for later. */
  ck_assert_int_eq(pd_incr_created_view(&created, NOW - 86400, NOW, &view), 0);
  ck_assert_uint_eq(view.num, 1);
  ck_assert_str_eq(view.items[0].id, "INEW");
  pd_incr_prune_created(&created, NOW - 2);
  ck_assert_uint_eq(created.num, 1);
  ck_assert_str_eq(created.items[0].id, "IFUT");

  for (size_t i = 0; i < 3; i++)
    pd_log_entry_free(&es[i]);
  pd_log_entry_free(&other);
  pd_teams_free(&scope);
  pd_idlist_free(&affected);
  pd_incident_recs_free(&open);
  pd_incident_recs_free(&created);
  pd_incident_recs_free(&view);
  pd_incr_free(&st);
}
END_TEST

START_TEST(test_corrections_explained_or_counted) {
  pd_incr_t st;
  pd_incr_init(&st, 120);
  pd_incident_recs_t mine = {0}, full = {0};
  push_rec(&mine, "I1", "S1", PD_INCIDENT_TRIGGERED, NOW - 10);
  push_rec(&mine, "I2", "S2", PD_INCIDENT_TRIGGERED, NOW - 10);
  push_rec(&mine, "I3", "S3", PD_INCIDENT_TRIGGERED, NOW - 10);
  push_rec(&full, "I1", "S1", PD_INCIDENT_TRIGGERED, NOW - 10);    /* same */
  push_rec(&full, "I2", "S2", PD_INCIDENT_ACKNOWLEDGED, NOW - 10); /* differs */
  push_rec(&full, "I4", "S4", PD_INCIDENT_TRIGGERED, NOW - 10);    /* missing */
  /* I3 extra in mine */
  ck_assert_int_eq(pd_incr_compare(&st, &mine, &full, true, NOW), 0);
  ck_assert_uint_eq(st.pending_num, 3);
  /* Not yet: the log may still explain them. */
  pd_incr_settle(&st, NOW + 119);
  ck_assert_uint_eq(st.corrections, 0);
  /* S2 changed (its entry showed late): explained. */
  pd_idlist_t affected = {0};
  ck_assert_int_eq(pd_incr_idset_add(&affected, "S2"), 0);
  pd_incr_explain(&st, &affected);
  ck_assert_uint_eq(st.pending_num, 2);
  pd_incr_settle(&st, NOW + 120);
  ck_assert_uint_eq(st.corrections, 2);
  ck_assert_uint_eq(st.pending_num, 0);

  /* Nothing differs: nothing pending, nothing counted. */
  ck_assert_int_eq(pd_incr_compare(&st, &full, &full, true, NOW + 200), 0);
  pd_incr_settle(&st, NOW + 1000);
  ck_assert_uint_eq(st.corrections, 2);

  /* Created records compare by service only. */
  pd_incident_recs_t created = {0};
  push_rec(&created, "I1", "S1", PD_INCIDENT_UNKNOWN, NOW - 10);
  pd_incident_recs_t one = {0};
  push_rec(&one, "I1", "S1", PD_INCIDENT_TRIGGERED, NOW - 10);
  ck_assert_int_eq(pd_incr_compare(&st, &created, &one, false, NOW), 0);
  ck_assert_uint_eq(st.pending_num, 0);

  pd_idlist_free(&affected);
  pd_incident_recs_free(&mine);
  pd_incident_recs_free(&full);
  pd_incident_recs_free(&created);
  pd_incident_recs_free(&one);
  pd_incr_free(&st);
}
END_TEST

START_TEST(test_idset_sorted_unique) {
  pd_idlist_t set = {0};
  const char *ids[] = {"PC", "PA", "PB", "PA", "", "PC"};
  for (size_t i = 0; i < 6; i++)
    ck_assert_int_eq(pd_incr_idset_add(&set, ids[i]), 0);
  ck_assert_uint_eq(set.num, 3);
  ck_assert_str_eq(set.ids[0], "PA");
  ck_assert_str_eq(set.ids[1], "PB");
  ck_assert_str_eq(set.ids[2], "PC");
  ck_assert(pd_incr_idset_has(&set, "PB"));
  ck_assert(!pd_incr_idset_has(&set, "PD"));
  pd_idlist_free(&set);
}
END_TEST

/* --- the GET /log_entries parser ---------------------------------------- */

static int collect_entry(void *ctx, const pd_log_entry_t *e) {
  return pd_log_entries_push(ctx, e);
}

START_TEST(test_parse_log_entries) {
  const char *body =
      "{\"log_entries\":[{\"id\":\"R1\",\"type\":\"assign_log_entry\","
      "\"created_at\":\"2026-11-28T08:00:05Z\","
      "\"service\":{\"id\":\"PNEW\",\"type\":\"service_reference\"},"
      "\"teams\":[{\"id\":\"TSVC\"}],"
      "\"incident\":{\"id\":\"Q1\",\"created_at\":\"2026-11-28T03:00:00-05:"
      "00\",\"service\":{\"id\":\"PNOW\"},\"teams\":[{\"id\":\"TINC\"}],"
      "\"assignments\":[{\"assignee\":{\"id\":\"UX\"}}]}},"
      "{\"id\":\"R2\",\"created_at\":\"2026-11-28T07:59:00Z\","
      "\"service\":{\"id\":\"PNEW\"},\"incident\":null}],"
      "\"limit\":100,\"offset\":0,\"more\":false,\"total\":null}";
  pd_log_entries_t got = {0};
  pd_parse_callbacks_t cb = {.ctx = &got, .on_log_entry = collect_entry};
  pd_parse_result_t res;
  char err[256];
  ck_assert_msg(pd_parse_buffer(PD_PARSE_LOG_ENTRIES, &cb, body, strlen(body),
                                &res, err, sizeof(err)) == 0,
                "%s", err);
  ck_assert_uint_eq(got.num, 2);
  const pd_log_entry_t *e = &got.items[0];
  ck_assert_str_eq(e->id, "R1");
  ck_assert_int_eq(e->created_at, 1795852805);
  ck_assert_str_eq(e->service_id, "PNEW");
  ck_assert_str_eq(e->incident_id, "Q1");
  ck_assert_int_eq(e->incident_created_at, 1795852800);
  ck_assert_str_eq(e->incident_service_id, "PNOW");
  ck_assert_uint_eq(e->team_ids.num, 1);
  ck_assert_str_eq(e->team_ids.ids[0], "TINC");
  ck_assert_str_eq(got.items[1].incident_id, "");
  ck_assert_uint_eq(got.items[1].team_ids.num, 0);
  ck_assert(!res.more);
  pd_log_entries_free(&got);

  /* A bad time fails the whole answer. */
  const char *bad = "{\"log_entries\":[{\"id\":\"R1\",\"created_at\":\"soon\"}]"
                    ",\"more\":false}";
  ck_assert_int_eq(pd_parse_buffer(PD_PARSE_LOG_ENTRIES, &cb, bad, strlen(bad),
                                   NULL, NULL, 0),
                   -1);
  pd_log_entries_free(&got);
}
END_TEST

static Suite *incremental_suite(void) {
  Suite *s = suite_create("incremental");
  TCase *tc = tcase_create("cursor");
  tcase_add_test(tc, test_log_read_stops_before_the_overlap);
  tcase_add_test(tc, test_log_read_not_newest_first_is_refused);
  tcase_add_test(tc, test_entries_deduped_and_late_ones_caught);
  tcase_add_test(tc, test_a_move_affects_the_old_service_too);
  tcase_add_test(tc, test_merge_drops_resolved_and_moved_copies);
  tcase_add_test(tc, test_exposed_listing_listed_again);
  tcase_add_test(tc, test_created_window_and_scope);
  tcase_add_test(tc, test_corrections_explained_or_counted);
  tcase_add_test(tc, test_idset_sorted_unique);
  tcase_add_test(tc, test_parse_log_entries);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(incremental_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
