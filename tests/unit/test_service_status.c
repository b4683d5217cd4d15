/* SPDX-License-Identifier: MIT */
/*
 * test_service_status.c - a service's status from the listing's disabled
 * flag, the maintenance windows and the open incidents
 * (pd_service_status.h): PagerDuty's rule, the windows' start and end
 * honoured to the second, and what cannot be known left unknown.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_service_status.h"

#define T0 ((time_t)1795000000)

typedef struct {
  pd_services_t services;
  pd_service_status_t listed[8];
  pd_incident_recs_t open;
  pd_maintenance_windows_t windows;
} world_t;

/* Services PS1..PSn (sorted by ID), each listed with `listed`. */
static void add_service(world_t *w, const char *id,
                        pd_service_status_t listed) {
  pd_service_t s = {.status = listed};
  snprintf(s.id, sizeof(s.id), "%s", id);
  ck_assert_uint_lt(w->services.num, 8);
  w->listed[w->services.num] = listed;
  ck_assert_int_eq(pd_services_push(&w->services, &s), 0);
}

static void add_incident(world_t *w, const char *id, const char *service,
                         pd_incident_status_t status) {
  pd_incident_t inc = {.status = (unsigned char)status,
                       .urgency = PD_URGENCY_HIGH,
                       .created_at = T0 - 600};
  snprintf(inc.id, sizeof(inc.id), "%s", id);
  snprintf(inc.service_id, sizeof(inc.service_id), "%s", service);
  ck_assert_int_eq(pd_incident_recs_push(&w->open, &inc), 0);
}

static void add_window(world_t *w, time_t start, time_t end,
                       const char *service) {
  pd_maintenance_window_t win = {.start = start, .end = end};
  snprintf(win.id, sizeof(win.id), "PW%zu", w->windows.num + 1);
  ck_assert_int_eq(pd_idlist_add(&win.service_ids, service), 0);
  ck_assert_int_eq(pd_maintenance_windows_push(&w->windows, &win), 0);
  pd_idlist_free(&win.service_ids);
}

static pd_service_status_t status_at(world_t *w, const char *id, time_t now) {
  ck_assert_int_eq(pd_service_status_derive(&w->services, w->listed, &w->open,
                                            &w->windows, now),
                   0);
  for (size_t i = 0; i < w->services.num; i++)
    if (strcmp(w->services.items[i].id, id) == 0)
      return w->services.items[i].status;
  ck_abort_msg("no service %s", id);
  return PD_SERVICE_UNKNOWN;
}

static void world_free(world_t *w) {
  pd_services_free(&w->services);
  pd_incident_recs_free(&w->open);
  pd_maintenance_windows_free(&w->windows);
}

/* Triggered beats acknowledged; without open incidents: active. The
 * listed status (critical, listed a SlowInterval ago) is not what counts. */
START_TEST(test_incidents_decide_critical_warning_active) {
  world_t w = {0};
  add_service(&w, "PS1", PD_SERVICE_ACTIVE);
  add_service(&w, "PS2", PD_SERVICE_CRITICAL);
  add_service(&w, "PS3", PD_SERVICE_ACTIVE);
  add_service(&w, "PS4", PD_SERVICE_WARNING);
  add_incident(&w, "PI1", "PS1", PD_INCIDENT_ACKNOWLEDGED);
  add_incident(&w, "PI2", "PS1", PD_INCIDENT_TRIGGERED);
  add_incident(&w, "PI3", "PS1", PD_INCIDENT_ACKNOWLEDGED);
  add_incident(&w, "PI4", "PS3", PD_INCIDENT_ACKNOWLEDGED);
  /* a resolved record and an incident of a service not listed count for
   * nothing */
  add_incident(&w, "PI5", "PS4", PD_INCIDENT_RESOLVED);
  add_incident(&w, "PI6", "PS9", PD_INCIDENT_TRIGGERED);
  ck_assert_int_eq(status_at(&w, "PS1", T0), PD_SERVICE_CRITICAL);
  ck_assert_int_eq(status_at(&w, "PS2", T0), PD_SERVICE_ACTIVE);
  ck_assert_int_eq(status_at(&w, "PS3", T0), PD_SERVICE_WARNING);
  ck_assert_int_eq(status_at(&w, "PS4", T0), PD_SERVICE_ACTIVE);
  world_free(&w);
}
END_TEST

/* A window counts from its start to just before its end, with or
 * without incidents, and for its services only. */
START_TEST(test_maintenance_from_start_to_end) {
  world_t w = {0};
  add_service(&w, "PS1", PD_SERVICE_ACTIVE);
  add_service(&w, "PS2", PD_SERVICE_ACTIVE);
  add_incident(&w, "PI1", "PS1", PD_INCIDENT_TRIGGERED);
  add_window(&w, T0 + 60, T0 + 3600, "PS1");
  ck_assert_int_eq(status_at(&w, "PS1", T0), PD_SERVICE_CRITICAL);
  ck_assert_int_eq(status_at(&w, "PS1", T0 + 59), PD_SERVICE_CRITICAL);
  ck_assert_int_eq(status_at(&w, "PS1", T0 + 60), PD_SERVICE_MAINTENANCE);
  ck_assert_int_eq(status_at(&w, "PS2", T0 + 60), PD_SERVICE_ACTIVE);
  ck_assert_int_eq(status_at(&w, "PS1", T0 + 3599), PD_SERVICE_MAINTENANCE);
  ck_assert_int_eq(status_at(&w, "PS1", T0 + 3600), PD_SERVICE_CRITICAL);
  /* the listing said maintenance, the window is over: it is over */
  w.listed[1] = PD_SERVICE_MAINTENANCE;
  ck_assert_int_eq(status_at(&w, "PS2", T0 + 4000), PD_SERVICE_ACTIVE);
  world_free(&w);
}
END_TEST

/* Several windows, one of them covering several services. */
START_TEST(test_several_windows) {
  world_t w = {0};
  add_service(&w, "PS1", PD_SERVICE_ACTIVE);
  add_service(&w, "PS2", PD_SERVICE_ACTIVE);
  add_service(&w, "PS3", PD_SERVICE_ACTIVE);
  add_window(&w, T0, T0 + 100, "PS1");
  add_window(&w, T0 + 50, T0 + 200, "PS3");
  ck_assert_int_eq(pd_idlist_add(&w.windows.items[1].service_ids, "PS2"), 0);
  ck_assert_int_eq(status_at(&w, "PS1", T0 + 10), PD_SERVICE_MAINTENANCE);
  ck_assert_int_eq(status_at(&w, "PS2", T0 + 10), PD_SERVICE_ACTIVE);
  ck_assert_int_eq(status_at(&w, "PS2", T0 + 150), PD_SERVICE_MAINTENANCE);
  ck_assert_int_eq(status_at(&w, "PS3", T0 + 150), PD_SERVICE_MAINTENANCE);
  ck_assert_int_eq(status_at(&w, "PS1", T0 + 150), PD_SERVICE_ACTIVE);
  world_free(&w);
}
END_TEST

/* Disabled (from the listing) beats maintenance and incidents; a status
 * the listing did not give stays unknown (no gauge), never a guess. */
START_TEST(test_disabled_and_unknown_from_the_listing) {
  world_t w = {0};
  add_service(&w, "PS1", PD_SERVICE_DISABLED);
  add_service(&w, "PS2", PD_SERVICE_UNKNOWN);
  add_incident(&w, "PI1", "PS1", PD_INCIDENT_TRIGGERED);
  add_incident(&w, "PI2", "PS2", PD_INCIDENT_TRIGGERED);
  add_window(&w, T0 - 10, T0 + 10, "PS1");
  ck_assert_int_eq(status_at(&w, "PS1", T0), PD_SERVICE_DISABLED);
  ck_assert_int_eq(status_at(&w, "PS2", T0), PD_SERVICE_UNKNOWN);
  world_free(&w);
}
END_TEST

/* Derived again every cycle: a status set by an earlier call does not
 * stick (the listing's is what counts for disabled). */
START_TEST(test_each_call_starts_from_the_listing) {
  world_t w = {0};
  add_service(&w, "PS1", PD_SERVICE_ACTIVE);
  add_incident(&w, "PI1", "PS1", PD_INCIDENT_TRIGGERED);
  ck_assert_int_eq(status_at(&w, "PS1", T0), PD_SERVICE_CRITICAL);
  w.open.num = 0;
  ck_assert_int_eq(status_at(&w, "PS1", T0), PD_SERVICE_ACTIVE);
  world_free(&w);
}
END_TEST

/* No services, no incidents, no windows. */
START_TEST(test_empty) {
  world_t w = {0};
  ck_assert_int_eq(
      pd_service_status_derive(&w.services, w.listed, &w.open, &w.windows, T0),
      0);
  add_incident(&w, "PI1", "PS1", PD_INCIDENT_TRIGGERED);
  add_window(&w, T0 - 10, T0 + 10, "PS1");
  ck_assert_int_eq(
      pd_service_status_derive(&w.services, w.listed, &w.open, &w.windows, T0),
      0);
  world_free(&w);
}
END_TEST

int main(void) {
  Suite *s = suite_create("service_status");
  TCase *tc = tcase_create("derive");
  tcase_add_test(tc, test_incidents_decide_critical_warning_active);
  tcase_add_test(tc, test_maintenance_from_start_to_end);
  tcase_add_test(tc, test_several_windows);
  tcase_add_test(tc, test_disabled_and_unknown_from_the_listing);
  tcase_add_test(tc, test_each_call_starts_from_the_listing);
  tcase_add_test(tc, test_empty);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
