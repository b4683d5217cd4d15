/* SPDX-License-Identifier: MIT */
/*
 * pd_model.h - the PagerDuty entities the read side keeps, as plain structs.
 *
 * Everything that comes from PagerDuty is bounded on the way in
 * (doc/contract.md §8): IDs are at most PD_ID_MAX bytes of [A-Za-z0-9]
 * (anything else is refused, never truncated: a cut ID would name another
 * object), names and other text are cut on a UTF-8 boundary with control
 * characters blanked, so a string from the API can go into any collectd field
 * or log line as is.
 *
 * IDs are fixed-size NUL-terminated arrays so they compare with strcmp and
 * copy with the struct. Lists that vary per entity (team IDs, escalation
 * rules and their targets) are owned arrays: every entity type with such a
 * list has a _copy (deep) and a _free. Incidents stay compact (no title, no
 * assignments): the large scenario keeps more than 12,000 of them.
 *
 * The growable per-type arrays (pd_services_t ...) own deep copies of what
 * is pushed into them; their _free releases everything.
 */
#ifndef PD_MODEL_H
#define PD_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define PD_ID_MAX 32     /* bytes; PagerDuty IDs are 7 (objects) or 14 */
#define PD_NAME_MAX 255  /* entity names, cut on a UTF-8 boundary */
#define PD_EMAIL_MAX 254 /* RFC 5321 path limit */
#define PD_ROLE_MAX 32   /* longest known: "read_only_limited_user" (22) */

/* A PagerDuty object ID; "" when absent (a null reference). */
typedef char pd_id_t[PD_ID_MAX + 1];

/* --- bounded copies from the wire ------------------------------------ */

/* Is src[0..len) a usable ID: 1..PD_ID_MAX bytes of [A-Za-z0-9]? */
bool pd_id_is_valid(const char *src, size_t len);

/* Copies a valid ID into dst; returns -1 (dst = "") when it is not valid. */
int pd_id_set(pd_id_t dst, const char *src, size_t len);

/*
 * Copies text into dst (size bytes, size >= 1): cut on a UTF-8 boundary to
 * fit, control characters (including NUL) replaced by spaces; this is
 * pd_utf8_copy_blanked(), the rule for all text from the wire. Input is
 * expected to be valid UTF-8, as yajl checks; for other bytes the cut is
 * still within bounds. Returns the length written.
 */
size_t pd_text_copy(char *dst, size_t size, const char *src, size_t len);

/*
 * Parses an ISO 8601 date-time as PagerDuty writes it into UTC seconds:
 * "2026-11-28T08:00:00Z", "2015-11-06T11:12:51-05:00", "+0100" offsets,
 * fractional seconds (dropped), a space instead of the T, and no offset
 * (taken as UTC, as PagerDuty does). Returns 0, or -1 for anything else.
 */
int pd_time_parse(const char *s, size_t len, time_t *out);

/* --- ID lists ---------------------------------------------------------- */

typedef struct {
  pd_id_t *ids;
  size_t num, cap;
} pd_idlist_t;

/* Appends a copy of a valid ID; -1 on allocation failure or invalid ID. */
int pd_idlist_add(pd_idlist_t *l, const char *id);
bool pd_idlist_contains(const pd_idlist_t *l, const char *id);
void pd_idlist_free(pd_idlist_t *l);

/* --- entities ---------------------------------------------------------- */

/* GET /users/me */
typedef struct {
  pd_id_t id;
  char name[PD_NAME_MAX + 1];
  char email[PD_EMAIL_MAX + 1];
  char role[PD_ROLE_MAX + 1]; /* "observer", "read_only_user", ... */
} pd_user_t;

typedef struct {
  pd_id_t id;
  char name[PD_NAME_MAX + 1];
} pd_team_t;

/* In the order of the service-<svc>-status gauge (doc/contract.md §4). */
typedef enum {
  PD_SERVICE_ACTIVE = 0,
  PD_SERVICE_WARNING,
  PD_SERVICE_CRITICAL,
  PD_SERVICE_MAINTENANCE,
  PD_SERVICE_DISABLED,
  PD_SERVICE_UNKNOWN, /* absent, null or a status this code does not know */
} pd_service_status_t;
#define PD_SERVICE_STATUS_NUM PD_SERVICE_UNKNOWN

typedef struct {
  pd_id_t id;
  char name[PD_NAME_MAX + 1];
  pd_service_status_t status;
  pd_id_t escalation_policy_id;
  pd_idlist_t team_ids;
} pd_service_t;

typedef enum {
  PD_INCIDENT_TRIGGERED = 0,
  PD_INCIDENT_ACKNOWLEDGED,
  PD_INCIDENT_RESOLVED,
  PD_INCIDENT_UNKNOWN,
} pd_incident_status_t;

typedef enum {
  PD_URGENCY_HIGH = 0,
  PD_URGENCY_LOW,
  PD_URGENCY_UNKNOWN,
} pd_urgency_t;

typedef struct {
  pd_id_t id;
  pd_id_t service_id;
  time_t created_at;     /* 0 when absent */
  unsigned char status;  /* pd_incident_status_t, kept small on purpose */
  unsigned char urgency; /* pd_urgency_t */
  pd_idlist_t team_ids;
} pd_incident_t;

typedef struct {
  pd_id_t id;
  char name[PD_NAME_MAX + 1];
  pd_idlist_t team_ids;
} pd_schedule_t;

/* One entry of a schedule's final_schedule.rendered_schedule_entries. */
typedef struct {
  pd_id_t user_id; /* "" when the entry names no user */
  time_t start, end;
} pd_schedule_entry_t;

/* One entry of GET /oncalls. */
typedef struct {
  pd_id_t escalation_policy_id;
  int level;           /* escalation_level, 1 = first */
  pd_id_t schedule_id; /* "" when on call directly, not via a schedule */
  pd_id_t user_id;     /* "" when absent */
  time_t start, end;   /* 0 for null: permanently on call */
} pd_oncall_t;

typedef enum {
  PD_TARGET_USER = 0, /* user_reference, user */
  PD_TARGET_SCHEDULE, /* schedule_reference, schedule_v3_reference, schedule */
  PD_TARGET_OTHER,
} pd_target_type_t;

typedef struct {
  pd_target_type_t type;
  pd_id_t id;
} pd_target_t;

typedef struct {
  pd_target_t *targets;
  size_t targets_num, targets_cap;
} pd_escalation_rule_t;

typedef struct {
  pd_id_t id;
  char name[PD_NAME_MAX + 1];
  int num_loops;
  pd_escalation_rule_t *rules; /* rules[0] is level 1 */
  size_t rules_num, rules_cap;
  pd_idlist_t team_ids;
} pd_policy_t;

/* One entry of GET /log_entries?include[]=incidents: what the incremental
 * read needs (plugin/read/pd_incremental.h). */
typedef struct {
  pd_id_t id;
  time_t created_at;           /* when the change was made */
  pd_id_t service_id;          /* the incident's service at that time */
  pd_id_t incident_id;         /* "" when the entry names no incident */
  time_t incident_created_at;  /* 0 when absent */
  pd_id_t incident_service_id; /* the embedded incident's service ("") */
  pd_idlist_t team_ids;        /* the embedded incident's teams */
} pd_log_entry_t;

/* One entry of GET /maintenance_windows: the services in maintenance from
 * start to end (start <= t < end). */
typedef struct {
  pd_id_t id;
  time_t start, end;       /* start_time, end_time (both required) */
  pd_idlist_t service_ids; /* services[].id */
} pd_maintenance_window_t;

const char *pd_service_status_name(pd_service_status_t s); /* "active"... */
pd_service_status_t pd_service_status_parse(const char *s, size_t len);
pd_incident_status_t pd_incident_status_parse(const char *s, size_t len);
pd_urgency_t pd_urgency_parse(const char *s, size_t len);
pd_target_type_t pd_target_type_parse(const char *s, size_t len);

/* A deep copy (dst is overwritten, not freed first); -1 on ENOMEM with
 * dst left empty. The vectors below copy the other entities the same way.
 * _free releases the owned lists and leaves an empty entity behind (safe to
 * free twice). */
int pd_schedule_copy(pd_schedule_t *dst, const pd_schedule_t *src);
void pd_service_free(pd_service_t *s);
void pd_incident_free(pd_incident_t *i);
void pd_schedule_free(pd_schedule_t *s);
void pd_policy_free(pd_policy_t *p);
int pd_log_entry_copy(pd_log_entry_t *dst, const pd_log_entry_t *src);
void pd_log_entry_free(pd_log_entry_t *e);
void pd_maintenance_window_free(pd_maintenance_window_t *w);

/* Appends a new empty rule / a target to a policy's last rule. */
pd_escalation_rule_t *pd_policy_add_rule(pd_policy_t *p);
int pd_rule_add_target(pd_escalation_rule_t *r, const pd_target_t *t);

/* --- growable arrays of entities -------------------------------------- */

#define PD_DECLARE_VEC(vec_t, item_t, prefix)                                  \
  typedef struct {                                                             \
    item_t *items;                                                             \
    size_t num, cap;                                                           \
  } vec_t;                                                                     \
  /* appends a deep copy; -1 on allocation failure (v unchanged) */            \
  int prefix##_push(vec_t *v, const item_t *item);                             \
  /* frees every item and the array; v becomes empty */                        \
  void prefix##_free(vec_t *v)

PD_DECLARE_VEC(pd_teams_t, pd_team_t, pd_teams);
PD_DECLARE_VEC(pd_services_t, pd_service_t, pd_services);
PD_DECLARE_VEC(pd_incidents_t, pd_incident_t, pd_incidents);
PD_DECLARE_VEC(pd_schedules_t, pd_schedule_t, pd_schedules);
PD_DECLARE_VEC(pd_schedule_entries_t, pd_schedule_entry_t, pd_schedule_entries);
PD_DECLARE_VEC(pd_oncalls_t, pd_oncall_t, pd_oncalls);
PD_DECLARE_VEC(pd_policies_t, pd_policy_t, pd_policies);
PD_DECLARE_VEC(pd_log_entries_t, pd_log_entry_t, pd_log_entries);
PD_DECLARE_VEC(pd_maintenance_windows_t, pd_maintenance_window_t,
               pd_maintenance_windows);

#endif /* PD_MODEL_H */
