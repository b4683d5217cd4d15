/* SPDX-License-Identifier: MIT */
/*
 * test_intent.c - what a REST acknowledge, note or resolve does to an
 * incident in each state (pd_intent.h), reading the state from a
 * GET /incidents/{id} body, and the wait after an Events API 429
 * (pd_sender_events_throttle_wait).
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "chunked_feed.h"
#include "pd_intent.h"
#include "pd_sender.h"

static pd_incident_view_t view(pd_incident_status_t status,
                               const char *merged_into) {
  pd_incident_view_t v;
  pd_incident_view_init(&v);
  strcpy(v.id, "PSOURCE");
  v.status = status;
  if (merged_into != NULL)
    strcpy(v.merged_into, merged_into);
  return v;
}

#define T PD_INCIDENT_TRIGGERED
#define A PD_INCIDENT_ACKNOWLEDGED
#define R PD_INCIDENT_RESOLVED

static pd_intent_t decide(pd_action_t action, pd_incident_status_t status,
                          const char *merged_into, bool named) {
  pd_incident_view_t v = view(status, merged_into);
  pd_intent_t d = pd_intent_decide(action, &v, named);
  /* Whenever nothing is sent, the log can say why. */
  const char *why = pd_intent_why_nothing(action, &v, named);
  ck_assert_int_eq(d == PD_INTENT_NOTHING, why[0] != '\0');
  return d;
}

START_TEST(test_acknowledge_never_reopens) {
  for (int named = 0; named <= 1; named++) {
    ck_assert_int_eq(decide(PD_ACTION_ACKNOWLEDGE, T, NULL, named),
                     PD_INTENT_SEND);
    ck_assert_int_eq(decide(PD_ACTION_ACKNOWLEDGE, A, NULL, named),
                     PD_INTENT_NOTHING);
    ck_assert_int_eq(decide(PD_ACTION_ACKNOWLEDGE, R, NULL, named),
                     PD_INTENT_NOTHING);
    ck_assert_int_eq(decide(PD_ACTION_ACKNOWLEDGE, R, "PTARGET", named),
                     PD_INTENT_FOLLOW);
  }
  pd_incident_view_t v = view(R, NULL);
  ck_assert_ptr_nonnull(strstr(
      pd_intent_why_nothing(PD_ACTION_ACKNOWLEDGE, &v, false), "reopen"));
}
END_TEST

START_TEST(test_resolve_stops_at_resolved_and_merged) {
  for (int named = 0; named <= 1; named++) {
    ck_assert_int_eq(decide(PD_ACTION_RESOLVE, T, NULL, named), PD_INTENT_SEND);
    ck_assert_int_eq(decide(PD_ACTION_RESOLVE, A, NULL, named), PD_INTENT_SEND);
    ck_assert_int_eq(decide(PD_ACTION_RESOLVE, R, NULL, named),
                     PD_INTENT_NOTHING);
    ck_assert_int_eq(decide(PD_ACTION_RESOLVE, R, "PTARGET", named),
                     PD_INTENT_NOTHING);
  }
  pd_incident_view_t v = view(R, "PTARGET");
  ck_assert_ptr_nonnull(
      strstr(pd_intent_why_nothing(PD_ACTION_RESOLVE, &v, false), "merged"));
}
END_TEST

START_TEST(test_note_follows_merges_and_names) {
  for (int named = 0; named <= 1; named++) {
    ck_assert_int_eq(decide(PD_ACTION_NOTE, T, NULL, named), PD_INTENT_SEND);
    ck_assert_int_eq(decide(PD_ACTION_NOTE, A, NULL, named), PD_INTENT_SEND);
    ck_assert_int_eq(decide(PD_ACTION_NOTE, R, "PTARGET", named),
                     PD_INTENT_FOLLOW);
  }
  /* A resolved incident takes a note only when the operator named it. */
  ck_assert_int_eq(decide(PD_ACTION_NOTE, R, NULL, true), PD_INTENT_SEND);
  ck_assert_int_eq(decide(PD_ACTION_NOTE, R, NULL, false), PD_INTENT_NOTHING);
}
END_TEST

START_TEST(test_unknown_status_or_action_sends_nothing) {
  ck_assert_int_eq(
      decide(PD_ACTION_ACKNOWLEDGE, PD_INCIDENT_UNKNOWN, NULL, true),
      PD_INTENT_NOTHING);
  ck_assert_int_eq(decide(PD_ACTION_RESOLVE, PD_INCIDENT_UNKNOWN, NULL, true),
                   PD_INTENT_NOTHING);
  ck_assert_int_eq(decide(PD_ACTION_TRIGGER, T, NULL, true), PD_INTENT_NOTHING);
  /* A merge target on an open incident is no merge. */
  pd_incident_view_t v = view(T, "PTARGET");
  ck_assert(!pd_incident_view_merged(&v));
}
END_TEST

/* ------------------------------------------------------------- parsing */

static int parse(const char *body, pd_incident_view_t *v) {
  pd_incident_view_init(v);
  pd_json_stream_t *js =
      pd_json_stream_create(&pd_incident_view_handlers, v, 0);
  ck_assert_ptr_nonnull(js);
  /* In small chunks, as bodies arrive. */
  int status = feed_in_chunks(pd_json_feed, js, body, strlen(body), 7);
  if (status == 0)
    status = pd_json_finish(js);
  pd_json_stream_destroy(js);
  return status;
}

START_TEST(test_parse_merged_incident) {
  const char *body =
      "{\"incident\":{\"id\":\"PSRC001\",\"type\":\"incident\","
      "\"status\":\"resolved\",\"urgency\":\"low\","
      "\"service\":{\"id\":\"PSVC001\",\"type\":\"service_reference\"},"
      "\"assignments\":[{\"assignee\":{\"id\":\"PUSER01\"}}],"
      "\"acknowledgements\":[],"
      "\"resolve_reason\":{\"type\":\"merge_resolve_reason\","
      "\"incident\":{\"id\":\"PTGT001\",\"type\":\"incident_reference\","
      "\"summary\":\"[#9] target\"}},"
      "\"teams\":[{\"id\":\"PTEAM01\"}]}}";
  pd_incident_view_t v;
  ck_assert_int_eq(parse(body, &v), 0);
  ck_assert_str_eq(v.id, "PSRC001"); /* not a nested object's id */
  ck_assert_int_eq(v.status, PD_INCIDENT_RESOLVED);
  ck_assert_int_eq(v.urgency, PD_URGENCY_LOW);
  ck_assert_str_eq(v.merged_into, "PTGT001");
  ck_assert(pd_incident_view_merged(&v));
}
END_TEST

START_TEST(test_parse_open_incident_without_reason) {
  const char *body =
      "{\"incident\":{\"resolve_reason\":null,\"status\":\"acknowledged\","
      "\"id\":\"PABC123\",\"urgency\":\"high\",\"first_trigger_log_entry\":"
      "{\"id\":\"RLONGID0000000\"}}}";
  pd_incident_view_t v;
  ck_assert_int_eq(parse(body, &v), 0);
  ck_assert_str_eq(v.id, "PABC123");
  ck_assert_int_eq(v.status, PD_INCIDENT_ACKNOWLEDGED);
  ck_assert_int_eq(v.urgency, PD_URGENCY_HIGH);
  ck_assert_str_eq(v.merged_into, "");
  ck_assert(!pd_incident_view_merged(&v));
}
END_TEST

START_TEST(test_parse_other_shapes_leave_view_empty) {
  pd_incident_view_t v;
  ck_assert_int_eq(parse("{\"incidents\":[{\"id\":\"PX\",\"status\":"
                         "\"triggered\"}]}",
                         &v),
                   0);
  ck_assert_str_eq(v.id, "");
  ck_assert_int_eq(v.status, PD_INCIDENT_UNKNOWN);
  ck_assert_int_eq(parse("{\"incident\":{\"id\":\"P-BAD!\",\"status\":"
                         "\"snoozed\"}}",
                         &v),
                   0);
  ck_assert_str_eq(v.id, "");
  ck_assert_int_eq(v.status, PD_INCIDENT_UNKNOWN);
  ck_assert_int_ne(parse("{\"incident\":{\"id\":", &v), 0);
}
END_TEST

/* ------------------------------------------------------ Events 429 wait */

START_TEST(test_events_throttle_wait_without_named_wait) {
  /* PagerDuty: retry about 30 s apart; never sooner, at most 20% later. */
  ck_assert_double_eq(pd_sender_events_throttle_wait(-1, 0, 0), 30.0);
  ck_assert_double_eq_tol(pd_sender_events_throttle_wait(-1, 0, 0.5), 33.0,
                          1e-9);
  double top = pd_sender_events_throttle_wait(-1, 0, 0.999999);
  ck_assert(top >= 35.99 && top <= 36.0);
  for (int i = 0; i < 1000; i++) {
    double w = pd_sender_events_throttle_wait(-1, 0, (double)i / 1000.0);
    ck_assert(w >= PD_SENDER_EVENTS_THROTTLE_S);
    ck_assert(w <= PD_SENDER_EVENTS_THROTTLE_S *
                       (1 + PD_SENDER_EVENTS_THROTTLE_JITTER));
  }
  /* Out-of-range jitter is clamped, NaN taken as 0. */
  ck_assert_double_eq(pd_sender_events_throttle_wait(-1, 0, -3), 30.0);
  ck_assert_double_eq(pd_sender_events_throttle_wait(-1, 0, 7), 36.0);
  ck_assert_double_eq(pd_sender_events_throttle_wait(-1, 0, NAN), 30.0);
  /* A shorter base (tests' knob) scales the same way. */
  ck_assert_double_eq(pd_sender_events_throttle_wait(-1, 0.5, 0), 0.5);
  ck_assert_double_eq_tol(pd_sender_events_throttle_wait(-1, 0.5, 1), 0.6,
                          1e-9);
}
END_TEST

START_TEST(test_events_throttle_wait_honours_named_wait) {
  /* Retry-After (or ratelimit-reset) wins, also when shorter than 30 s. */
  ck_assert_double_eq(pd_sender_events_throttle_wait(5, 0, 0.9), 5.0);
  ck_assert_double_eq(pd_sender_events_throttle_wait(0, 0, 0.9), 0.0);
  ck_assert_double_eq(pd_sender_events_throttle_wait(120, 0.5, 0.9), 120.0);
  ck_assert_double_eq(pd_sender_events_throttle_wait(86400, 0, 0),
                      PD_SENDER_NAMED_WAIT_CAP_S);
}
END_TEST

static Suite *intent_suite(void) {
  Suite *s = suite_create("intent");
  TCase *tc = tcase_create("decide");
  tcase_add_test(tc, test_acknowledge_never_reopens);
  tcase_add_test(tc, test_resolve_stops_at_resolved_and_merged);
  tcase_add_test(tc, test_note_follows_merges_and_names);
  tcase_add_test(tc, test_unknown_status_or_action_sends_nothing);
  suite_add_tcase(s, tc);
  tc = tcase_create("parse");
  tcase_add_test(tc, test_parse_merged_incident);
  tcase_add_test(tc, test_parse_open_incident_without_reason);
  tcase_add_test(tc, test_parse_other_shapes_leave_view_empty);
  suite_add_tcase(s, tc);
  tc = tcase_create("events_429");
  tcase_add_test(tc, test_events_throttle_wait_without_named_wait);
  tcase_add_test(tc, test_events_throttle_wait_honours_named_wait);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(intent_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
