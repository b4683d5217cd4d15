/* SPDX-License-Identifier: MIT */
/*
 * test_ratelimit.c - the limiter's rules, one at a time, on a made-up clock.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "pd_ratelimit.h"

#define T0 1000.0 /* an arbitrary monotonic start time */

START_TEST(test_no_ceiling_never_waits) {
  pd_ratelimit_t rl;
  ck_assert_int_eq(pd_ratelimit_init(&rl, 0), 0);
  for (int i = 0; i < 10000; i++)
    pd_ratelimit_on_send(&rl, T0 + i * 0.001);
  ck_assert_double_eq(pd_ratelimit_delay(&rl, T0 + 10), 0);
  pd_ratelimit_free(&rl);
}
END_TEST

START_TEST(test_ceiling_sliding_minute) {
  pd_ratelimit_t rl;
  ck_assert_int_eq(pd_ratelimit_init(&rl, 5), 0);
  /* Five sends at T0, T0+1, ... T0+4 are all allowed at once. */
  for (int i = 0; i < 5; i++) {
    ck_assert_double_eq(pd_ratelimit_delay(&rl, T0 + i), 0);
    pd_ratelimit_on_send(&rl, T0 + i);
  }
  /* The sixth waits exactly until the oldest (T0) leaves the window. */
  pd_ratelimit_reason_t why;
  ck_assert_double_eq_tol(pd_ratelimit_delay_why(&rl, T0 + 10, &why), 50.0,
                          1e-9);
  ck_assert_int_eq(why, PD_RATELIMIT_CEILING);
  ck_assert_double_eq_tol(pd_ratelimit_delay(&rl, T0 + 59.5), 0.5, 1e-9);
  ck_assert_double_eq(pd_ratelimit_delay(&rl, T0 + 60), 0);
  pd_ratelimit_on_send(&rl, T0 + 60);
  /* Now the oldest is T0+1: one second later the next slot frees. */
  ck_assert_double_eq_tol(pd_ratelimit_delay(&rl, T0 + 60), 1.0, 1e-9);
  ck_assert_double_eq(pd_ratelimit_delay(&rl, T0 + 61), 0);
  pd_ratelimit_free(&rl);
}
END_TEST

START_TEST(test_ceiling_ring_wraps_many_times) {
  pd_ratelimit_t rl;
  ck_assert_int_eq(pd_ratelimit_init(&rl, 3), 0);
  /* Send at the limit's pace (one every 20 s) for a long time: never wait. */
  for (int i = 0; i < 100; i++) {
    ck_assert_double_eq(pd_ratelimit_delay(&rl, T0 + i * 20.0), 0);
    pd_ratelimit_on_send(&rl, T0 + i * 20.0);
  }
  /* A burst right after the last send must wait for the oldest of the
   * last three (T0 + 97*20) to expire. */
  double last = T0 + 99 * 20.0;
  ck_assert_double_eq_tol(pd_ratelimit_delay(&rl, last), 20.0, 1e-9);
  pd_ratelimit_free(&rl);
}
END_TEST

START_TEST(test_server_remaining_spreads) {
  pd_ratelimit_t rl;
  ck_assert_int_eq(pd_ratelimit_init(&rl, 0), 0);
  pd_ratelimit_set_server_limit(&rl, 960);
  /* Plenty left: no spacing. */
  pd_ratelimit_on_send(&rl, T0);
  pd_ratelimit_on_response(&rl, T0, 500, 30);
  ck_assert_double_eq(pd_ratelimit_delay(&rl, T0), 0);
  ck_assert_int_eq(rl.server_remaining, 500);

  /* 10 left (<= 10% of 960) with 20 s to the reset: one every 2 s. */
  pd_ratelimit_on_send(&rl, T0 + 1);
  pd_ratelimit_on_response(&rl, T0 + 1, 10, 20);
  pd_ratelimit_reason_t why;
  ck_assert_double_eq_tol(pd_ratelimit_delay_why(&rl, T0 + 1, &why), 2.0, 1e-9);
  ck_assert_int_eq(why, PD_RATELIMIT_SERVER_LOW);
  ck_assert_double_eq_tol(pd_ratelimit_delay(&rl, T0 + 2.5), 0.5, 1e-9);
  ck_assert_double_eq(pd_ratelimit_delay(&rl, T0 + 3), 0);

  /* After the server's window reset, the hint no longer applies. */
  pd_ratelimit_on_send(&rl, T0 + 3);
  pd_ratelimit_on_response(&rl, T0 + 3, 9, 18);
  ck_assert_double_eq_tol(pd_ratelimit_delay(&rl, T0 + 3), 2.0, 1e-9);
  ck_assert_double_eq(pd_ratelimit_delay(&rl, T0 + 21.5), 0);
  pd_ratelimit_free(&rl);
}
END_TEST

START_TEST(test_server_low_without_known_limit) {
  pd_ratelimit_t rl;
  ck_assert_int_eq(pd_ratelimit_init(&rl, 0), 0);
  /* No ratelimit-limit header: 96 or fewer counts as low. */
  pd_ratelimit_on_send(&rl, T0);
  pd_ratelimit_on_response(&rl, T0, 97, 60);
  ck_assert_double_eq(pd_ratelimit_delay(&rl, T0), 0);
  pd_ratelimit_on_send(&rl, T0);
  pd_ratelimit_on_response(&rl, T0, 30, 60);
  ck_assert_double_eq_tol(pd_ratelimit_delay(&rl, T0), 2.0, 1e-9);
  /* With a small real limit, 30 of 100 is not low. */
  pd_ratelimit_set_server_limit(&rl, 100);
  pd_ratelimit_on_response(&rl, T0, 30, 60);
  ck_assert_double_eq(pd_ratelimit_delay(&rl, T0), 0);
  pd_ratelimit_free(&rl);
}
END_TEST

START_TEST(test_server_remaining_zero_blocks_until_reset) {
  pd_ratelimit_t rl;
  ck_assert_int_eq(pd_ratelimit_init(&rl, 0), 0);
  pd_ratelimit_on_send(&rl, T0);
  pd_ratelimit_on_response(&rl, T0, 0, 7);
  pd_ratelimit_reason_t why;
  ck_assert_double_eq_tol(pd_ratelimit_delay_why(&rl, T0 + 2, &why), 5.0, 1e-9);
  ck_assert_int_eq(why, PD_RATELIMIT_BLOCKED);
  ck_assert_double_eq(pd_ratelimit_delay(&rl, T0 + 7), 0);
  pd_ratelimit_free(&rl);
}
END_TEST

START_TEST(test_missing_headers_forget_hints) {
  pd_ratelimit_t rl;
  ck_assert_int_eq(pd_ratelimit_init(&rl, 0), 0);
  pd_ratelimit_on_send(&rl, T0);
  pd_ratelimit_on_response(&rl, T0, 5, 50);
  ck_assert(pd_ratelimit_delay(&rl, T0) > 0);
  pd_ratelimit_on_response(&rl, T0, -1, -1);
  ck_assert_int_eq(rl.server_remaining, -1);
  ck_assert_double_eq(pd_ratelimit_delay(&rl, T0), 0);
  pd_ratelimit_free(&rl);
}
END_TEST

START_TEST(test_429_with_named_wait) {
  pd_ratelimit_t rl;
  ck_assert_int_eq(pd_ratelimit_init(&rl, 100), 0);
  pd_ratelimit_on_send(&rl, T0);
  ck_assert_double_eq(pd_ratelimit_on_429(&rl, T0, 20), 20);
  pd_ratelimit_reason_t why;
  ck_assert_double_eq_tol(pd_ratelimit_delay_why(&rl, T0 + 5, &why), 15.0,
                          1e-9);
  ck_assert_int_eq(why, PD_RATELIMIT_BLOCKED);
  ck_assert_double_eq(pd_ratelimit_delay(&rl, T0 + 20), 0);
  /* A second 429 naming a time still uses that time, not the backoff. */
  ck_assert_double_eq(pd_ratelimit_on_429(&rl, T0 + 20, 3), 3);
  ck_assert_double_eq_tol(pd_ratelimit_delay(&rl, T0 + 20), 3.0, 1e-9);
  pd_ratelimit_free(&rl);
}
END_TEST

START_TEST(test_429_backoff_doubles_and_caps) {
  pd_ratelimit_t rl;
  ck_assert_int_eq(pd_ratelimit_init(&rl, 0), 0);
  const double expected[] = {1, 2, 4, 8, 16, 32, 60, 60, 60};
  double now = T0;
  for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
    double wait = pd_ratelimit_on_429(&rl, now, -1);
    ck_assert_msg(wait == expected[i], "429 #%zu: waited %g, expected %g",
                  i + 1, wait, expected[i]);
    ck_assert_double_eq_tol(pd_ratelimit_delay(&rl, now), expected[i], 1e-9);
    now += wait;
    ck_assert_double_eq(pd_ratelimit_delay(&rl, now), 0);
  }
  pd_ratelimit_free(&rl);
}
END_TEST

START_TEST(test_success_resets_backoff) {
  pd_ratelimit_t rl;
  ck_assert_int_eq(pd_ratelimit_init(&rl, 0), 0);
  ck_assert_double_eq(pd_ratelimit_on_429(&rl, T0, -1), 1);
  ck_assert_double_eq(pd_ratelimit_on_429(&rl, T0 + 1, -1), 2);
  ck_assert_double_eq(pd_ratelimit_on_429(&rl, T0 + 3, -1), 4);
  pd_ratelimit_on_response(&rl, T0 + 7, -1, -1);
  ck_assert_uint_eq(rl.consecutive_429, 0);
  ck_assert_double_eq(pd_ratelimit_on_429(&rl, T0 + 8, -1), 1);
  pd_ratelimit_free(&rl);
}
END_TEST

START_TEST(test_longest_wait_wins) {
  pd_ratelimit_t rl;
  ck_assert_int_eq(pd_ratelimit_init(&rl, 1), 0);
  pd_ratelimit_on_send(&rl, T0);
  /* Ceiling: 60 s; 429: 10 s. The ceiling decides. */
  pd_ratelimit_on_429(&rl, T0, 10);
  pd_ratelimit_reason_t why;
  ck_assert_double_eq_tol(pd_ratelimit_delay_why(&rl, T0, &why), 60, 1e-9);
  ck_assert_int_eq(why, PD_RATELIMIT_CEILING);
  /* A later 429 of 120 s outlasts the ceiling. */
  pd_ratelimit_on_429(&rl, T0, 120);
  ck_assert_double_eq_tol(pd_ratelimit_delay_why(&rl, T0, &why), 120, 1e-9);
  ck_assert_int_eq(why, PD_RATELIMIT_BLOCKED);
  /* A shorter 429 does not shorten an existing block. */
  pd_ratelimit_on_429(&rl, T0, 1);
  ck_assert_double_eq_tol(pd_ratelimit_delay(&rl, T0), 120, 1e-9);
  pd_ratelimit_free(&rl);
}
END_TEST

START_TEST(test_reason_names) {
  ck_assert_ptr_nonnull(
      strstr(pd_ratelimit_reason_name(PD_RATELIMIT_CEILING), "ceiling"));
  ck_assert_ptr_nonnull(
      strstr(pd_ratelimit_reason_name(PD_RATELIMIT_BLOCKED), "rate limited"));
}
END_TEST

static Suite *ratelimit_suite(void) {
  Suite *s = suite_create("ratelimit");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_no_ceiling_never_waits);
  tcase_add_test(tc, test_ceiling_sliding_minute);
  tcase_add_test(tc, test_ceiling_ring_wraps_many_times);
  tcase_add_test(tc, test_server_remaining_spreads);
  tcase_add_test(tc, test_server_low_without_known_limit);
  tcase_add_test(tc, test_server_remaining_zero_blocks_until_reset);
  tcase_add_test(tc, test_missing_headers_forget_hints);
  tcase_add_test(tc, test_429_with_named_wait);
  tcase_add_test(tc, test_429_backoff_doubles_and_caps);
  tcase_add_test(tc, test_success_resets_backoff);
  tcase_add_test(tc, test_longest_wait_wins);
  tcase_add_test(tc, test_reason_names);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(ratelimit_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
