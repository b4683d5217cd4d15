/* SPDX-License-Identifier: MIT */
/*
 * pd_parse.h - one streaming parser per PagerDuty response the read side
 * uses.
 *
 * A pd_parser_t reads one response body as it arrives (pd_parser_feed has
 * the pd_http_body_cb shape) and hands every entity to a callback the
 * moment its object closes, so memory grows with what the caller keeps,
 * never with the size of the response. Only the fields in pd_model.h are
 * read; everything else, nested objects included, is skipped by path, so
 * incident.service.id, incident.assignments[].assignee.id and incident.id
 * never mix. Dedupe across pages is the caller's job (IDs compare with
 * strcmp).
 *
 * Strictness, to never turn a bad answer into wrong numbers:
 *  - the response must be a JSON object holding the endpoint's key (list
 *    "incidents" or single "incident", ...), of the right container type;
 *  - every entity needs a valid ID (pd_id_is_valid); an on-call needs its
 *    escalation_policy.id and escalation_level; a schedule entry its start
 *    and end; a shift assignment its start_time, end_time and member, and a
 *    user_member its user_id (other member types name nobody); an
 *    escalation target its id;
 *  - a field read here that has the wrong type ("more": "yes", "status": 3,
 *    "service": "PX"), an invalid ID, or a time that is not ISO 8601 fails
 *    the whole response; null is accepted for every other field and leaves
 *    its default ("" / UNKNOWN / 0; NAN for the coverage);
 *  - a maintenance window needs its start_time and end_time;
 *  - per entity at most PD_PARSE_MAX_LIST team IDs, rules, targets per rule
 *    (a maintenance window at most PD_PARSE_MAX_WINDOW_SERVICES services).
 * Entities are delivered before the end of the body is seen: when the parse
 * fails (malformed, truncated, wrong types), discard what the callbacks
 * received from that response.
 */
#ifndef PD_PARSE_H
#define PD_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "pd_model.h"

#define PD_PARSE_MAX_LIST 256
#define PD_PARSE_MAX_WINDOW_SERVICES 10000

typedef enum {
  PD_PARSE_USER_ME = 0,  /* GET /users/me: {"user":{...}} */
  PD_PARSE_TEAMS,        /* GET /teams; also {"team":{...}} */
  PD_PARSE_SERVICES,     /* GET /services; also {"service":{...}} */
  PD_PARSE_INCIDENTS,    /* GET|PUT /incidents; also {"incident":{...}}
                            (GET|POST|PUT /incidents/{id}) */
  PD_PARSE_SCHEDULES,    /* GET /schedules */
  PD_PARSE_SCHEDULE,     /* GET /schedules/{id}: the schedule, its
                            final_schedule entries and coverage */
  PD_PARSE_SCHEDULES_V3, /* GET /v3/schedules: references (id, summary as
                            the name) */
  PD_PARSE_SCHEDULE_V3,  /* GET /v3/schedules/{id}: the schedule, its
                            final_schedule.computed_shift_assignments (an
                            empty_member entry names no user) and coverage */
  PD_PARSE_ONCALLS,      /* GET /oncalls */
  PD_PARSE_POLICIES,     /* GET /escalation_policies; also
                            {"escalation_policy":{...}} */
  PD_PARSE_LOG_ENTRIES,  /* GET /log_entries?include[]=incidents: id,
                            created_at, service.id, incident.id and the
                            embedded incident's created_at and teams */
  /* GET /maintenance_windows: id, start_time, end_time (both required),
   * services[].id */
  PD_PARSE_MAINTENANCE_WINDOWS,
} pd_parse_kind_t;

/*
 * Entity callbacks; the pointer is valid only during the call (copy what
 * you keep, e.g. with pd_incidents_push). A non-zero return stops the parse
 * with an error. Callbacks the kind does not produce, or NULL ones, are not
 * called.
 */
typedef struct {
  void *ctx;
  int (*on_user)(void *ctx, const pd_user_t *user);
  int (*on_team)(void *ctx, const pd_team_t *team);
  int (*on_service)(void *ctx, const pd_service_t *service);
  int (*on_incident)(void *ctx, const pd_incident_t *incident);
  int (*on_schedule)(void *ctx, const pd_schedule_t *schedule);
  /* final_schedule.rendered_schedule_entries[] of PD_PARSE_SCHEDULE,
   * final_schedule.computed_shift_assignments[] of PD_PARSE_SCHEDULE_V3 */
  int (*on_schedule_entry)(void *ctx, const pd_schedule_entry_t *entry);
  int (*on_oncall)(void *ctx, const pd_oncall_t *oncall);
  int (*on_policy)(void *ctx, const pd_policy_t *policy);
  int (*on_log_entry)(void *ctx, const pd_log_entry_t *entry);
  int (*on_maintenance_window)(void *ctx,
                               const pd_maintenance_window_t *window);
} pd_parse_callbacks_t;

typedef struct {
  /* classic pagination of list responses; -1 when absent or null */
  long long limit, offset, total;
  bool more; /* false when absent or null */
  /* PD_PARSE_SCHEDULE: final_schedule.rendered_coverage_percentage,
   * NAN when absent or null */
  double coverage_percentage;
  size_t entities; /* entity callbacks made (users, incidents, ...) */
  size_t entries;  /* schedule entry callbacks made */
} pd_parse_result_t;

typedef struct pd_parser_s pd_parser_t;

/* NULL on allocation failure. cb is copied. */
pd_parser_t *pd_parser_create(pd_parse_kind_t kind,
                              const pd_parse_callbacks_t *cb);
void pd_parser_destroy(pd_parser_t *p);

/* Feeds a chunk of the body; 0, or non-zero once the parse failed.
 * Pass it as pd_http_request_t.on_body with the parser as ctx. */
int pd_parser_feed(void *parser, const unsigned char *data, size_t len);

/* After the last chunk: 0 when the body was complete and valid, else -1. */
int pd_parser_finish(pd_parser_t *p);

/* Why the parse failed: "" while it has not. Names the JSON path and byte
 * offset, never the body's text. */
const char *pd_parser_error(const pd_parser_t *p);

/* Pagination and coverage; complete after a successful finish. */
const pd_parse_result_t *pd_parser_result(const pd_parser_t *p);

/* Parses a whole body at once (tests, small bodies). result and err may be
 * NULL. Returns 0 or -1.
 * Exported for tests only. */
int pd_parse_buffer(pd_parse_kind_t kind, const pd_parse_callbacks_t *cb,
                    const void *data, size_t len, pd_parse_result_t *result,
                    char *err, size_t err_size);

/* "incidents", "schedule", ... for log lines.
 * Exported for tests only. */
const char *pd_parse_kind_name(pd_parse_kind_t kind);

#endif /* PD_PARSE_H */
