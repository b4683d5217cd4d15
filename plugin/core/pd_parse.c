/* SPDX-License-Identifier: MIT */
/*
 * pd_parse.c - endpoint parsers: which fields of which response land in
 * which pd_model struct. See pd_parse.h for the rules.
 *
 * Each kind is a table of the fields it reads, as paths relative to the
 * entity object ("service/id", "teams/ * /id" without spaces). The driver
 * below finds the entity objects (the elements of the list key, or the
 * object under the single key), skips every container no table entry
 * names, checks types, and calls the kind's entity callback when an entity
 * object closes.
 *
 * pd_parser_create compiles the table into a tree (each field's parent
 * field and last path component), and the parser remembers which field
 * each open container is. Finding the field of a value is then one look at
 * the children of the enclosing container, comparing one key, instead of
 * matching every path of the table against the whole JSON path: this runs
 * for every key of every entity, so it decides the parser's speed.
 */
#include "pd_parse.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_json.h"

/* What a field must hold (null is always accepted). */
typedef enum {
  T_STRING,
  T_INTEGER,
  T_NUMBER,
  T_OBJECT,
  T_ARRAY,
} field_type_t;

/* What to do with a field. */
typedef enum {
  S_NONE = 0, /* a container on the way to wanted fields */
  S_ID,
  S_NAME,
  S_EMAIL,
  S_ROLE,
  S_STATUS,
  S_URGENCY,
  S_CREATED_AT,
  S_SERVICE_ID,
  S_POLICY_ID,
  S_SCHEDULE_ID,
  S_USER_ID,
  S_TEAM_ID,
  S_LEVEL,
  S_START,
  S_END,
  S_NUM_LOOPS,
  S_RULE,   /* an escalation rule object */
  S_TARGET, /* a target object of a rule */
  S_TARGET_ID,
  S_TARGET_TYPE,
  S_ENTRY, /* a final schedule entry object */
  S_ENTRY_START,
  S_ENTRY_END,
  S_ENTRY_USER_ID,
  S_ENTRY_MEMBER,      /* a shift assignment's member object */
  S_ENTRY_MEMBER_TYPE, /* user_member, empty_member, ... */
  S_COVERAGE,
  S_INCIDENT_ID,         /* a log entry's incident.id */
  S_INCIDENT_CREATED_AT, /* a log entry's incident.created_at */
  S_INCIDENT_SERVICE_ID, /* a log entry's incident.service.id */
  S_WINDOW_START,        /* a maintenance window's start_time */
  S_WINDOW_END,          /* a maintenance window's end_time */
  S_WINDOW_SERVICE_ID,   /* a maintenance window's services[].id */
} field_slot_t;

typedef struct {
  const char *path; /* relative to the entity object */
  field_type_t type;
  field_slot_t slot;
} field_t;

#define MAX_FIELDS 24

#define TEAM_FIELDS                                                            \
  {"teams", T_ARRAY, S_NONE}, {"teams/*", T_OBJECT, S_NONE}, {                 \
    "teams/*/id", T_STRING, S_TEAM_ID                                          \
  }

static const field_t user_fields[] = {
    {"id", T_STRING, S_ID},
    {"name", T_STRING, S_NAME},
    {"email", T_STRING, S_EMAIL},
    {"role", T_STRING, S_ROLE},
    {NULL, 0, 0},
};

static const field_t team_fields[] = {
    {"id", T_STRING, S_ID},
    {"name", T_STRING, S_NAME},
    {NULL, 0, 0},
};

static const field_t service_fields[] = {
    {"id", T_STRING, S_ID},
    {"name", T_STRING, S_NAME},
    {"status", T_STRING, S_STATUS},
    {"escalation_policy", T_OBJECT, S_NONE},
    {"escalation_policy/id", T_STRING, S_POLICY_ID},
    TEAM_FIELDS,
    {NULL, 0, 0},
};

static const field_t incident_fields[] = {
    {"id", T_STRING, S_ID},
    {"status", T_STRING, S_STATUS},
    {"urgency", T_STRING, S_URGENCY},
    {"created_at", T_STRING, S_CREATED_AT},
    {"service", T_OBJECT, S_NONE},
    {"service/id", T_STRING, S_SERVICE_ID},
    TEAM_FIELDS,
    {NULL, 0, 0},
};

/* GET /schedules: the list never carries final schedules
 * (doc/pagerduty-api.md). */
static const field_t schedule_list_fields[] = {
    {"id", T_STRING, S_ID},
    {"name", T_STRING, S_NAME},
    TEAM_FIELDS,
    {NULL, 0, 0},
};

/* GET /v3/schedules: schedule_v3_reference items. */
static const field_t schedule_v3_list_fields[] = {
    {"id", T_STRING, S_ID},
    {"summary", T_STRING, S_NAME},
    {NULL, 0, 0},
};

#define SHIFTS "final_schedule/computed_shift_assignments"
static const field_t schedule_v3_fields[] = {
    {"id", T_STRING, S_ID},
    {"name", T_STRING, S_NAME},
    TEAM_FIELDS,
    {"final_schedule", T_OBJECT, S_NONE},
    {"final_schedule/rendered_coverage_percentage", T_NUMBER, S_COVERAGE},
    {SHIFTS, T_ARRAY, S_NONE},
    {SHIFTS "/*", T_OBJECT, S_ENTRY},
    {SHIFTS "/*/start_time", T_STRING, S_ENTRY_START},
    {SHIFTS "/*/end_time", T_STRING, S_ENTRY_END},
    {SHIFTS "/*/member", T_OBJECT, S_ENTRY_MEMBER},
    {SHIFTS "/*/member/type", T_STRING, S_ENTRY_MEMBER_TYPE},
    {SHIFTS "/*/member/user_id", T_STRING, S_ENTRY_USER_ID},
    {NULL, 0, 0},
};

#define ENTRIES "final_schedule/rendered_schedule_entries"
static const field_t schedule_fields[] = {
    {"id", T_STRING, S_ID},
    {"name", T_STRING, S_NAME},
    TEAM_FIELDS,
    {"final_schedule", T_OBJECT, S_NONE},
    {"final_schedule/rendered_coverage_percentage", T_NUMBER, S_COVERAGE},
    {ENTRIES, T_ARRAY, S_NONE},
    {ENTRIES "/*", T_OBJECT, S_ENTRY},
    {ENTRIES "/*/start", T_STRING, S_ENTRY_START},
    {ENTRIES "/*/end", T_STRING, S_ENTRY_END},
    {ENTRIES "/*/user", T_OBJECT, S_NONE},
    {ENTRIES "/*/user/id", T_STRING, S_ENTRY_USER_ID},
    {NULL, 0, 0},
};

static const field_t oncall_fields[] = {
    {"escalation_policy", T_OBJECT, S_NONE},
    {"escalation_policy/id", T_STRING, S_POLICY_ID},
    {"escalation_level", T_INTEGER, S_LEVEL},
    {"schedule", T_OBJECT, S_NONE},
    {"schedule/id", T_STRING, S_SCHEDULE_ID},
    {"user", T_OBJECT, S_NONE},
    {"user/id", T_STRING, S_USER_ID},
    {"start", T_STRING, S_START},
    {"end", T_STRING, S_END},
    {NULL, 0, 0},
};

#define TARGETS "escalation_rules/*/targets"
static const field_t policy_fields[] = {
    {"id", T_STRING, S_ID},
    {"name", T_STRING, S_NAME},
    {"num_loops", T_INTEGER, S_NUM_LOOPS},
    {"escalation_rules", T_ARRAY, S_NONE},
    {"escalation_rules/*", T_OBJECT, S_RULE},
    {TARGETS, T_ARRAY, S_NONE},
    {TARGETS "/*", T_OBJECT, S_TARGET},
    {TARGETS "/*/id", T_STRING, S_TARGET_ID},
    {TARGETS "/*/type", T_STRING, S_TARGET_TYPE},
    TEAM_FIELDS,
    {NULL, 0, 0},
};

/* GET /log_entries?include[]=incidents. The entry's own service is where
 * the incident was when the entry was written; "teams" are read from the
 * embedded incident (the entry's teams are the service's then). */
static const field_t log_entry_fields[] = {
    {"id", T_STRING, S_ID},
    {"created_at", T_STRING, S_CREATED_AT},
    {"service", T_OBJECT, S_NONE},
    {"service/id", T_STRING, S_SERVICE_ID},
    {"incident", T_OBJECT, S_NONE},
    {"incident/id", T_STRING, S_INCIDENT_ID},
    {"incident/created_at", T_STRING, S_INCIDENT_CREATED_AT},
    {"incident/service", T_OBJECT, S_NONE},
    {"incident/service/id", T_STRING, S_INCIDENT_SERVICE_ID},
    {"incident/teams", T_ARRAY, S_NONE},
    {"incident/teams/*", T_OBJECT, S_NONE},
    {"incident/teams/*/id", T_STRING, S_TEAM_ID},
    {NULL, 0, 0},
};

/* GET /maintenance_windows. */
static const field_t maintenance_window_fields[] = {
    {"id", T_STRING, S_ID},
    {"start_time", T_STRING, S_WINDOW_START},
    {"end_time", T_STRING, S_WINDOW_END},
    {"services", T_ARRAY, S_NONE},
    {"services/*", T_OBJECT, S_NONE},
    {"services/*/id", T_STRING, S_WINDOW_SERVICE_ID},
    {NULL, 0, 0},
};

typedef struct {
  const char *name;
  const char *list_key;   /* {"incidents":[{...}, ...]}, or NULL */
  const char *single_key; /* {"incident":{...}}, or NULL */
  const field_t *fields;
} kind_desc_t;

static const kind_desc_t kinds[] = {
    [PD_PARSE_USER_ME] = {"user", NULL, "user", user_fields},
    [PD_PARSE_TEAMS] = {"teams", "teams", "team", team_fields},
    [PD_PARSE_SERVICES] = {"services", "services", "service", service_fields},
    [PD_PARSE_INCIDENTS] = {"incidents", "incidents", "incident",
                            incident_fields},
    [PD_PARSE_SCHEDULES] = {"schedules", "schedules", NULL,
                            schedule_list_fields},
    [PD_PARSE_SCHEDULE] = {"schedule", NULL, "schedule", schedule_fields},
    [PD_PARSE_SCHEDULES_V3] = {"shift-based schedules", "schedules", NULL,
                               schedule_v3_list_fields},
    [PD_PARSE_SCHEDULE_V3] = {"shift-based schedule", NULL, "schedule",
                              schedule_v3_fields},
    [PD_PARSE_ONCALLS] = {"oncalls", "oncalls", NULL, oncall_fields},
    [PD_PARSE_POLICIES] = {"escalation policies", "escalation_policies",
                           "escalation_policy", policy_fields},
    [PD_PARSE_LOG_ENTRIES] = {"log entries", "log_entries", NULL,
                              log_entry_fields},
    [PD_PARSE_MAINTENANCE_WINDOWS] = {"maintenance windows",
                                      "maintenance_windows",
                                      "maintenance_window",
                                      maintenance_window_fields},
};

/* No field: the entity object itself as a parent, the end of a list. */
#define NO_FIELD (-1)
/* The parent of a field whose parent path is not in the table: such a
 * field can never be reached (its parent container is skipped). */
#define UNREACHABLE (-2)

/* One field of the kind's table as a tree node. */
typedef struct {
  int parent;       /* index of the field one component up, or NO_FIELD */
  const char *last; /* its last path component: a key, or "*" */
  size_t last_len;
  int next_sibling; /* next field with the same parent, or NO_FIELD */
} field_node_t;

struct pd_parser_s {
  pd_parse_kind_t kind;
  const kind_desc_t *desc;
  field_node_t nodes[MAX_FIELDS];
  int entity_first_child;      /* first field directly in the entity */
  int first_child[MAX_FIELDS]; /* first field directly in field i */
  /* Lengths of the keys of those children, as bits (1 << length): most
   * keys of an entity are not read, and most of those are told apart by
   * their length alone, before any comparison. */
  uint64_t entity_key_lengths;
  uint64_t key_lengths[MAX_FIELDS];
  /* the field each open container inside the entity is, by path depth */
  int open_field[PD_JSON_MAX_DEPTH + 1];
  pd_parse_callbacks_t cb;
  pd_json_stream_t *js;
  pd_parse_result_t result;

  bool seen_key; /* the list or single key was there */
  bool in_entity;
  size_t ent_frame; /* path component that is the entity object's key */

  /* The entity being read; only the kind's member is used. ID lists keep
   * their buffers from one entity to the next. */
  bool has_level;
  pd_user_t user;
  pd_team_t team;
  pd_service_t service;
  pd_incident_t incident;
  pd_schedule_t schedule;
  pd_oncall_t oncall;
  pd_policy_t policy;
  pd_log_entry_t log_entry;
  pd_maintenance_window_t window;
  bool window_has_start, window_has_end;

  pd_schedule_entry_t entry;
  bool entry_has_start, entry_has_end;
  bool entry_has_member, entry_user_member; /* shift assignments */
  pd_target_t target;
};

const char *pd_parse_kind_name(pd_parse_kind_t kind) {
  if ((size_t)kind >= sizeof(kinds) / sizeof(kinds[0]))
    return "unknown";
  return kinds[kind].name;
}

/* --- entity state ------------------------------------------------------- */

/* Empties an ID list but keeps its buffer for the next entity. */
static void idlist_clear(pd_idlist_t *l) { l->num = 0; }

static void begin_entity(pd_parser_t *p, size_t ent_frame) {
  p->in_entity = true;
  p->ent_frame = ent_frame;
  p->open_field[ent_frame] = NO_FIELD;
  p->has_level = false;
  switch (p->kind) {
  case PD_PARSE_USER_ME:
    p->user = (pd_user_t){0};
    break;
  case PD_PARSE_TEAMS:
    p->team = (pd_team_t){0};
    break;
  case PD_PARSE_SERVICES: {
    pd_idlist_t teams = p->service.team_ids;
    p->service = (pd_service_t){.status = PD_SERVICE_UNKNOWN};
    p->service.team_ids = teams;
    idlist_clear(&p->service.team_ids);
    break;
  }
  case PD_PARSE_INCIDENTS: {
    pd_idlist_t teams = p->incident.team_ids;
    p->incident = (pd_incident_t){.status = PD_INCIDENT_UNKNOWN,
                                  .urgency = PD_URGENCY_UNKNOWN};
    p->incident.team_ids = teams;
    idlist_clear(&p->incident.team_ids);
    break;
  }
  case PD_PARSE_SCHEDULES:
  case PD_PARSE_SCHEDULE:
  case PD_PARSE_SCHEDULES_V3:
  case PD_PARSE_SCHEDULE_V3: {
    pd_idlist_t teams = p->schedule.team_ids;
    p->schedule = (pd_schedule_t){0};
    p->schedule.team_ids = teams;
    idlist_clear(&p->schedule.team_ids);
    break;
  }
  case PD_PARSE_ONCALLS:
    p->oncall = (pd_oncall_t){0};
    break;
  case PD_PARSE_POLICIES:
    pd_policy_free(&p->policy);
    p->policy = (pd_policy_t){0};
    break;
  case PD_PARSE_LOG_ENTRIES: {
    pd_idlist_t teams = p->log_entry.team_ids;
    p->log_entry = (pd_log_entry_t){0};
    p->log_entry.team_ids = teams;
    idlist_clear(&p->log_entry.team_ids);
    break;
  }
  case PD_PARSE_MAINTENANCE_WINDOWS: {
    pd_idlist_t services = p->window.service_ids;
    p->window = (pd_maintenance_window_t){0};
    p->window.service_ids = services;
    idlist_clear(&p->window.service_ids);
    p->window_has_start = p->window_has_end = false;
    break;
  }
  }
}

/* The ID list of the current entity, for "teams/ * /id". */
static pd_idlist_t *entity_teams(pd_parser_t *p) {
  switch (p->kind) {
  case PD_PARSE_SERVICES:
    return &p->service.team_ids;
  case PD_PARSE_INCIDENTS:
    return &p->incident.team_ids;
  case PD_PARSE_SCHEDULES:
  case PD_PARSE_SCHEDULE:
  case PD_PARSE_SCHEDULES_V3:
  case PD_PARSE_SCHEDULE_V3:
    return &p->schedule.team_ids;
  case PD_PARSE_POLICIES:
    return &p->policy.team_ids;
  case PD_PARSE_LOG_ENTRIES:
    return &p->log_entry.team_ids;
  default:
    return NULL;
  }
}

/* Where S_ID and S_NAME of the current entity go. */
static char *entity_id(pd_parser_t *p) {
  switch (p->kind) {
  case PD_PARSE_USER_ME:
    return p->user.id;
  case PD_PARSE_TEAMS:
    return p->team.id;
  case PD_PARSE_SERVICES:
    return p->service.id;
  case PD_PARSE_INCIDENTS:
    return p->incident.id;
  case PD_PARSE_SCHEDULES:
  case PD_PARSE_SCHEDULE:
  case PD_PARSE_SCHEDULES_V3:
  case PD_PARSE_SCHEDULE_V3:
    return p->schedule.id;
  case PD_PARSE_POLICIES:
    return p->policy.id;
  case PD_PARSE_LOG_ENTRIES:
    return p->log_entry.id;
  case PD_PARSE_MAINTENANCE_WINDOWS:
    return p->window.id;
  case PD_PARSE_ONCALLS:
    break;
  }
  return NULL;
}

static char *entity_name(pd_parser_t *p) {
  switch (p->kind) {
  case PD_PARSE_USER_ME:
    return p->user.name;
  case PD_PARSE_TEAMS:
    return p->team.name;
  case PD_PARSE_SERVICES:
    return p->service.name;
  case PD_PARSE_SCHEDULES:
  case PD_PARSE_SCHEDULE:
  case PD_PARSE_SCHEDULES_V3:
  case PD_PARSE_SCHEDULE_V3:
    return p->schedule.name;
  case PD_PARSE_POLICIES:
    return p->policy.name;
  default:
    return NULL;
  }
}

/* Runs the kind's entity callback, if the caller set one. */
static int emit_entity(pd_parser_t *p) {
  const pd_parse_callbacks_t *cb = &p->cb;
  switch (p->kind) {
  case PD_PARSE_USER_ME:
    return cb->on_user ? cb->on_user(cb->ctx, &p->user) : 0;
  case PD_PARSE_TEAMS:
    return cb->on_team ? cb->on_team(cb->ctx, &p->team) : 0;
  case PD_PARSE_SERVICES:
    return cb->on_service ? cb->on_service(cb->ctx, &p->service) : 0;
  case PD_PARSE_INCIDENTS:
    return cb->on_incident ? cb->on_incident(cb->ctx, &p->incident) : 0;
  case PD_PARSE_SCHEDULES:
  case PD_PARSE_SCHEDULE:
  case PD_PARSE_SCHEDULES_V3:
  case PD_PARSE_SCHEDULE_V3:
    return cb->on_schedule ? cb->on_schedule(cb->ctx, &p->schedule) : 0;
  case PD_PARSE_ONCALLS:
    return cb->on_oncall ? cb->on_oncall(cb->ctx, &p->oncall) : 0;
  case PD_PARSE_POLICIES:
    return cb->on_policy ? cb->on_policy(cb->ctx, &p->policy) : 0;
  case PD_PARSE_LOG_ENTRIES:
    return cb->on_log_entry ? cb->on_log_entry(cb->ctx, &p->log_entry) : 0;
  case PD_PARSE_MAINTENANCE_WINDOWS:
    return cb->on_maintenance_window
               ? cb->on_maintenance_window(cb->ctx, &p->window)
               : 0;
  }
  return 0;
}

static int end_entity(pd_parser_t *p) {
  p->in_entity = false;
  if (p->kind == PD_PARSE_ONCALLS) {
    if (p->oncall.escalation_policy_id[0] == '\0')
      return pd_json_fail(p->js, "on-call entry without escalation_policy.id");
    if (!p->has_level)
      return pd_json_fail(p->js, "on-call entry without escalation_level");
  } else if (entity_id(p)[0] == '\0') {
    return pd_json_fail(p->js, "%s entry without an id", p->desc->name);
  } else if (p->kind == PD_PARSE_MAINTENANCE_WINDOWS &&
             (!p->window_has_start || !p->window_has_end)) {
    /* Without both, whether a service is in maintenance is unknown. */
    return pd_json_fail(p->js, "maintenance window without %s",
                        p->window_has_start ? "end_time" : "start_time");
  }
  p->result.entities++;
  if (emit_entity(p) != 0)
    return pd_json_fail(p->js, "stopped by the caller");
  return PD_JSON_CONTINUE;
}

/* --- fields -----------------------------------------------------------------
 */

/* Does a field's last path component name the current path's last one (a
 * key, or "*" for an array index)? */
static bool node_matches(const field_node_t *n, const char *key,
                         size_t key_len) {
  if (key == NULL)
    return n->last_len == 1 && n->last[0] == '*';
  return n->last_len == key_len && memcmp(n->last, key, key_len) == 0;
}

/* The child of `parent` (NO_FIELD: the entity) that the key names. */
static const field_t *find_child(const pd_parser_t *p, int parent,
                                 const char *key, size_t key_len) {
  int i = parent == NO_FIELD ? p->entity_first_child : p->first_child[parent];
  for (; i != NO_FIELD; i = p->nodes[i].next_sibling)
    if (node_matches(&p->nodes[i], key, key_len))
      return &p->desc->fields[i];
  return NULL;
}

/* The table entry naming the current path inside the entity, or NULL: a
 * child of the field the enclosing container is. */
static const field_t *find_field(const pd_parser_t *p) {
  size_t depth = pd_json_depth(p->js);
  if (depth <= p->ent_frame)
    return NULL;
  int parent = p->open_field[depth - 1];
  size_t key_len = 0;
  const char *key = pd_json_key(p->js, depth - 1, &key_len);
  if (key != NULL) {
    uint64_t lengths =
        parent == NO_FIELD ? p->entity_key_lengths : p->key_lengths[parent];
    if (key_len >= 64 || (lengths & (UINT64_C(1) << key_len)) == 0)
      return NULL;
  }
  return find_child(p, parent, key, key_len);
}

/* The table entry of the container that just ended inside the entity. */
static const field_t *open_container_field(const pd_parser_t *p) {
  return &p->desc->fields[p->open_field[pd_json_depth(p->js)]];
}

static const char *field_type_name(field_type_t t) {
  switch (t) {
  case T_STRING:
    return "a string";
  case T_INTEGER:
    return "an integer";
  case T_NUMBER:
    return "a number";
  case T_OBJECT:
    return "an object";
  case T_ARRAY:
    return "an array";
  }
  return "a value";
}

static int set_id(pd_parser_t *p, pd_id_t dst, const pd_json_value_t *v) {
  if (pd_id_set(dst, v->text, v->len) != 0)
    return pd_json_fail(p->js, "not a valid PagerDuty ID (%zu bytes)", v->len);
  return PD_JSON_CONTINUE;
}

static int set_time(pd_parser_t *p, time_t *dst, const pd_json_value_t *v) {
  if (pd_time_parse(v->text, v->len, dst) != 0)
    return pd_json_fail(p->js, "not an ISO 8601 date-time");
  return PD_JSON_CONTINUE;
}

static int set_int(pd_parser_t *p, int *dst, const pd_json_value_t *v) {
  long long n;
  if (pd_json_to_integer(v, &n) != 0 || n < 0 || n > 1000000)
    return pd_json_fail(p->js, "not a plausible count or level");
  *dst = (int)n;
  return PD_JSON_CONTINUE;
}

static int add_team(pd_parser_t *p, const pd_json_value_t *v) {
  pd_idlist_t *teams = entity_teams(p);
  pd_id_t id;
  if (set_id(p, id, v) != PD_JSON_CONTINUE)
    return PD_JSON_ABORT;
  if (pd_idlist_contains(teams, id))
    return PD_JSON_CONTINUE;
  if (teams->num >= PD_PARSE_MAX_LIST)
    return pd_json_fail(p->js, "more than %d teams", PD_PARSE_MAX_LIST);
  if (pd_idlist_add(teams, id) != 0)
    return pd_json_fail(p->js, "out of memory");
  return PD_JSON_CONTINUE;
}

static int add_window_service(pd_parser_t *p, const pd_json_value_t *v) {
  pd_idlist_t *services = &p->window.service_ids;
  pd_id_t id;
  if (set_id(p, id, v) != PD_JSON_CONTINUE)
    return PD_JSON_ABORT;
  /* A repeated ID is harmless (it marks the same service twice). */
  if (services->num >= PD_PARSE_MAX_WINDOW_SERVICES)
    return pd_json_fail(p->js, "more than %d services",
                        PD_PARSE_MAX_WINDOW_SERVICES);
  if (pd_idlist_add(services, id) != 0)
    return pd_json_fail(p->js, "out of memory");
  return PD_JSON_CONTINUE;
}

static int set_status(pd_parser_t *p, const pd_json_value_t *v) {
  if (p->kind == PD_PARSE_SERVICES)
    p->service.status = pd_service_status_parse(v->text, v->len);
  else
    p->incident.status =
        (unsigned char)pd_incident_status_parse(v->text, v->len);
  return PD_JSON_CONTINUE;
}

/* The id field of a reference to a policy / schedule / user. */
static char *reference_id(pd_parser_t *p, field_slot_t slot) {
  switch (slot) {
  case S_SERVICE_ID:
    return p->kind == PD_PARSE_LOG_ENTRIES ? p->log_entry.service_id
                                           : p->incident.service_id;
  case S_INCIDENT_ID:
    return p->log_entry.incident_id;
  case S_INCIDENT_SERVICE_ID:
    return p->log_entry.incident_service_id;
  case S_POLICY_ID:
    return p->kind == PD_PARSE_SERVICES ? p->service.escalation_policy_id
                                        : p->oncall.escalation_policy_id;
  case S_SCHEDULE_ID:
    return p->oncall.schedule_id;
  case S_USER_ID:
    return p->oncall.user_id;
  case S_TARGET_ID:
    return p->target.id;
  case S_ENTRY_USER_ID:
    return p->entry.user_id;
  default:
    return NULL;
  }
}

/* Stores a non-null scalar of the right type. */
static int store_value(pd_parser_t *p, const field_t *f,
                       const pd_json_value_t *v) {
  switch (f->slot) {
  case S_ID:
    return set_id(p, entity_id(p), v);
  case S_NAME:
    pd_text_copy(entity_name(p), PD_NAME_MAX + 1, v->text, v->len);
    return PD_JSON_CONTINUE;
  case S_EMAIL:
    pd_text_copy(p->user.email, sizeof(p->user.email), v->text, v->len);
    return PD_JSON_CONTINUE;
  case S_ROLE:
    pd_text_copy(p->user.role, sizeof(p->user.role), v->text, v->len);
    return PD_JSON_CONTINUE;
  case S_STATUS:
    return set_status(p, v);
  case S_URGENCY:
    p->incident.urgency = (unsigned char)pd_urgency_parse(v->text, v->len);
    return PD_JSON_CONTINUE;
  case S_CREATED_AT:
    return set_time(p,
                    p->kind == PD_PARSE_LOG_ENTRIES ? &p->log_entry.created_at
                                                    : &p->incident.created_at,
                    v);
  case S_INCIDENT_CREATED_AT:
    return set_time(p, &p->log_entry.incident_created_at, v);
  case S_SERVICE_ID:
  case S_INCIDENT_ID:
  case S_INCIDENT_SERVICE_ID:
  case S_POLICY_ID:
  case S_SCHEDULE_ID:
  case S_USER_ID:
  case S_TARGET_ID:
  case S_ENTRY_USER_ID:
    return set_id(p, reference_id(p, f->slot), v);
  case S_TEAM_ID:
    return add_team(p, v);
  case S_WINDOW_SERVICE_ID:
    return add_window_service(p, v);
  case S_WINDOW_START:
    p->window_has_start = true;
    return set_time(p, &p->window.start, v);
  case S_WINDOW_END:
    p->window_has_end = true;
    return set_time(p, &p->window.end, v);
  case S_LEVEL:
    if (set_int(p, &p->oncall.level, v) != PD_JSON_CONTINUE)
      return PD_JSON_ABORT;
    p->has_level = true;
    return PD_JSON_CONTINUE;
  case S_START:
    return set_time(p, &p->oncall.start, v);
  case S_END:
    return set_time(p, &p->oncall.end, v);
  case S_NUM_LOOPS:
    return set_int(p, &p->policy.num_loops, v);
  case S_TARGET_TYPE:
    p->target.type = pd_target_type_parse(v->text, v->len);
    return PD_JSON_CONTINUE;
  case S_ENTRY_START:
    p->entry_has_start = true;
    return set_time(p, &p->entry.start, v);
  case S_ENTRY_END:
    p->entry_has_end = true;
    return set_time(p, &p->entry.end, v);
  case S_ENTRY_MEMBER_TYPE:
    p->entry_user_member = v->len == strlen("user_member") &&
                           memcmp(v->text, "user_member", v->len) == 0;
    return PD_JSON_CONTINUE;
  case S_COVERAGE:
    if (pd_json_to_double(v, &p->result.coverage_percentage) != 0)
      return pd_json_fail(p->js, "not a usable number");
    return PD_JSON_CONTINUE;
  case S_NONE:
  case S_RULE:
  case S_TARGET:
  case S_ENTRY:
  case S_ENTRY_MEMBER:
    break;
  }
  return PD_JSON_CONTINUE;
}

/* A wanted object inside the entity opens. */
static int begin_object(pd_parser_t *p, const field_t *f) {
  switch (f->slot) {
  case S_RULE:
    if (p->policy.rules_num >= PD_PARSE_MAX_LIST)
      return pd_json_fail(p->js, "more than %d escalation rules",
                          PD_PARSE_MAX_LIST);
    if (pd_policy_add_rule(&p->policy) == NULL)
      return pd_json_fail(p->js, "out of memory");
    break;
  case S_TARGET:
    p->target = (pd_target_t){.type = PD_TARGET_OTHER};
    break;
  case S_ENTRY:
    p->entry = (pd_schedule_entry_t){0};
    p->entry_has_start = p->entry_has_end = false;
    p->entry_has_member = p->entry_user_member = false;
    break;
  case S_ENTRY_MEMBER:
    p->entry_has_member = true;
    break;
  default:
    break;
  }
  return PD_JSON_CONTINUE;
}

/* A shift assignment's member: a user_member must name its user; any
 * other member (empty_member, a type this code does not know) names
 * nobody, so it covers nothing. */
static int shift_member(pd_parser_t *p) {
  if (!p->entry_has_member)
    return pd_json_fail(p->js, "shift assignment without a member");
  if (!p->entry_user_member) {
    p->entry.user_id[0] = '\0';
    return 0;
  }
  if (p->entry.user_id[0] == '\0')
    return pd_json_fail(p->js, "user_member without a user_id");
  return 0;
}

/* A wanted object inside the entity closes. */
static int end_object(pd_parser_t *p, const field_t *f) {
  if (f->slot == S_TARGET) {
    pd_escalation_rule_t *rule = &p->policy.rules[p->policy.rules_num - 1];
    if (p->target.id[0] == '\0')
      return pd_json_fail(p->js, "escalation target without an id");
    if (rule->targets_num >= PD_PARSE_MAX_LIST)
      return pd_json_fail(p->js, "more than %d targets", PD_PARSE_MAX_LIST);
    if (pd_rule_add_target(rule, &p->target) != 0)
      return pd_json_fail(p->js, "out of memory");
  } else if (f->slot == S_ENTRY) {
    if (!p->entry_has_start || !p->entry_has_end)
      return pd_json_fail(p->js, "schedule entry without start or end");
    if (p->kind == PD_PARSE_SCHEDULE_V3 && shift_member(p) != 0)
      return PD_JSON_ABORT;
    p->result.entries++;
    if (p->cb.on_schedule_entry != NULL &&
        p->cb.on_schedule_entry(p->cb.ctx, &p->entry) != 0)
      return pd_json_fail(p->js, "stopped by the caller");
  }
  return PD_JSON_CONTINUE;
}

/* --- the response's top level ------------------------------------------------
 */

static bool key_is(const pd_parser_t *p, const char *key) {
  return key != NULL && pd_json_match(p->js, 0, key);
}

static int set_page_integer(pd_parser_t *p, long long *dst,
                            const pd_json_value_t *v) {
  if (v->type == PD_JSON_NULL)
    return PD_JSON_CONTINUE;
  if (v->type != PD_JSON_NUMBER)
    return pd_json_fail(p->js, "expected a non-negative integer, got %s",
                        pd_json_type_name(v->type));
  if (pd_json_to_integer(v, dst) != 0 || *dst < 0)
    return pd_json_fail(p->js, "expected a non-negative integer");
  return PD_JSON_CONTINUE;
}

/* Is the current top-level key a pagination field of a list response? */
static bool is_page_key(const pd_parser_t *p) {
  return p->desc->list_key != NULL &&
         (pd_json_match(p->js, 0, "limit") ||
          pd_json_match(p->js, 0, "offset") ||
          pd_json_match(p->js, 0, "more") || pd_json_match(p->js, 0, "total"));
}

/* A scalar directly in the top-level object. */
static int top_level_value(pd_parser_t *p, const pd_json_value_t *v) {
  const char *want = NULL;
  if (key_is(p, p->desc->list_key))
    want = "an array";
  else if (key_is(p, p->desc->single_key))
    want = "an object";
  if (want != NULL)
    return pd_json_fail(p->js, "expected %s, got %s", want,
                        pd_json_type_name(v->type));
  if (p->desc->list_key == NULL)
    return PD_JSON_CONTINUE; /* no pagination outside list responses */

  if (pd_json_match(p->js, 0, "more")) {
    if (v->type == PD_JSON_BOOL)
      p->result.more = v->boolean;
    else if (v->type != PD_JSON_NULL)
      return pd_json_fail(p->js, "expected a boolean, got %s",
                          pd_json_type_name(v->type));
  } else if (pd_json_match(p->js, 0, "limit")) {
    return set_page_integer(p, &p->result.limit, v);
  } else if (pd_json_match(p->js, 0, "offset")) {
    return set_page_integer(p, &p->result.offset, v);
  } else if (pd_json_match(p->js, 0, "total")) {
    return set_page_integer(p, &p->result.total, v);
  }
  return PD_JSON_CONTINUE;
}

/*
 * A container outside any entity. Only the root object, the list key's
 * array and its elements, and the single key's object are entered; the
 * rest of the top level (e.g. "next_oncall_for_user") is skipped.
 */
static int outer_start(pd_parser_t *p, bool is_map) {
  switch (pd_json_depth(p->js)) {
  case 0:
    if (!is_map)
      return pd_json_fail(p->js, "expected a JSON object, got an array");
    return PD_JSON_CONTINUE;
  case 1:
    if (key_is(p, p->desc->list_key)) {
      if (is_map)
        return pd_json_fail(p->js, "expected an array, got an object");
      p->seen_key = true;
      return PD_JSON_CONTINUE;
    }
    if (key_is(p, p->desc->single_key)) {
      if (!is_map)
        return pd_json_fail(p->js, "expected an object, got an array");
      p->seen_key = true;
      begin_entity(p, 1);
      return PD_JSON_CONTINUE;
    }
    if (is_page_key(p))
      return pd_json_fail(p->js, "expected a scalar, got %s",
                          is_map ? "an object" : "an array");
    return PD_JSON_SKIP;
  case 2: /* an element of the list: nothing else at depth 1 was entered */
    if (!is_map)
      return pd_json_fail(p->js, "expected an object, got an array");
    begin_entity(p, 2);
    return PD_JSON_CONTINUE;
  default:
    return PD_JSON_SKIP;
  }
}

/* --- JSON handlers
 * -------------------------------------------------------------- */

static int on_start(void *ctx, pd_json_stream_t *js, bool is_map) {
  pd_parser_t *p = ctx;
  (void)js;
  if (!p->in_entity)
    return outer_start(p, is_map);

  const field_t *f = find_field(p);
  if (f == NULL)
    return PD_JSON_SKIP;
  if ((f->type == T_OBJECT && !is_map) || (f->type == T_ARRAY && is_map) ||
      (f->type != T_OBJECT && f->type != T_ARRAY))
    return pd_json_fail(p->js, "expected %s, got %s", field_type_name(f->type),
                        is_map ? "an object" : "an array");
  p->open_field[pd_json_depth(p->js)] = (int)(f - p->desc->fields);
  return begin_object(p, f);
}

static int on_value(void *ctx, pd_json_stream_t *js, const pd_json_value_t *v) {
  pd_parser_t *p = ctx;
  (void)js;
  if (!p->in_entity) {
    size_t depth = pd_json_depth(p->js);
    if (depth == 0)
      return pd_json_fail(p->js, "expected a JSON object, got %s",
                          pd_json_type_name(v->type));
    if (depth == 1)
      return top_level_value(p, v);
    /* depth 2: an element of the list that is not an object */
    return pd_json_fail(p->js, "expected an object, got %s",
                        pd_json_type_name(v->type));
  }

  const field_t *f = find_field(p);
  if (f == NULL || v->type == PD_JSON_NULL)
    return PD_JSON_CONTINUE;
  bool ok;
  switch (f->type) {
  case T_STRING:
    ok = v->type == PD_JSON_STRING;
    break;
  case T_INTEGER:
  case T_NUMBER:
    ok = v->type == PD_JSON_NUMBER;
    break;
  default:
    ok = false;
    break;
  }
  if (!ok)
    return pd_json_fail(p->js, "expected %s, got %s", field_type_name(f->type),
                        pd_json_type_name(v->type));
  return store_value(p, f, v);
}

static int on_end(void *ctx, pd_json_stream_t *js, bool is_map) {
  pd_parser_t *p = ctx;
  (void)js;
  (void)is_map;
  if (!p->in_entity)
    return PD_JSON_CONTINUE;
  if (pd_json_depth(p->js) == p->ent_frame)
    return end_entity(p);
  /* only containers of the table are entered inside an entity */
  return end_object(p, open_container_field(p));
}

/* --- the parser
 * ------------------------------------------------------------------ */

/* The field whose path is path[0..len), or UNREACHABLE. */
static int field_by_path(const field_t *fields, const char *path, size_t len) {
  for (int i = 0; fields[i].path != NULL; i++)
    if (strlen(fields[i].path) == len && memcmp(fields[i].path, path, len) == 0)
      return i;
  return UNREACHABLE;
}

/* Builds the tree of the kind's table: each field's parent and last
 * component, and the children of every field in table order (the first
 * entry for a path wins, as the table reads). */
static void compile_fields(pd_parser_t *p) {
  const field_t *fields = p->desc->fields;
  int last_child[MAX_FIELDS];
  int entity_last = NO_FIELD;
  p->entity_first_child = NO_FIELD;
  p->entity_key_lengths = 0;
  for (int i = 0; i < MAX_FIELDS; i++) {
    p->first_child[i] = last_child[i] = NO_FIELD;
    p->key_lengths[i] = 0;
  }
  for (int i = 0; fields[i].path != NULL; i++) {
    field_node_t *n = &p->nodes[i];
    const char *slash = strrchr(fields[i].path, '/');
    n->parent = slash == NULL ? NO_FIELD
                              : field_by_path(fields, fields[i].path,
                                              (size_t)(slash - fields[i].path));
    n->last = slash == NULL ? fields[i].path : slash + 1;
    n->last_len = strlen(n->last);
    n->next_sibling = NO_FIELD;
    if (n->parent == UNREACHABLE)
      continue;
    int *first = n->parent == NO_FIELD ? &p->entity_first_child
                                       : &p->first_child[n->parent];
    int *last = n->parent == NO_FIELD ? &entity_last : &last_child[n->parent];
    uint64_t *lengths = n->parent == NO_FIELD ? &p->entity_key_lengths
                                              : &p->key_lengths[n->parent];
    if (n->last_len < 64) /* "*" too: it never meets a key */
      *lengths |= UINT64_C(1) << n->last_len;
    if (*last == NO_FIELD)
      *first = i;
    else
      p->nodes[*last].next_sibling = i;
    *last = i;
  }
}

pd_parser_t *pd_parser_create(pd_parse_kind_t kind,
                              const pd_parse_callbacks_t *cb) {
  if ((size_t)kind >= sizeof(kinds) / sizeof(kinds[0]))
    return NULL;
  pd_parser_t *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return NULL;
  p->kind = kind;
  p->desc = &kinds[kind];
  if (cb != NULL)
    p->cb = *cb;
  compile_fields(p);
  p->result = (pd_parse_result_t){
      .limit = -1, .offset = -1, .total = -1, .coverage_percentage = NAN};

  static const pd_json_handlers_t handlers = {
      .on_value = on_value, .on_start = on_start, .on_end = on_end};
  p->js = pd_json_stream_create(&handlers, p, 0);
  if (p->js == NULL) {
    free(p);
    return NULL;
  }
  return p;
}

void pd_parser_destroy(pd_parser_t *p) {
  if (p == NULL)
    return;
  pd_json_stream_destroy(p->js);
  pd_service_free(&p->service);
  pd_incident_free(&p->incident);
  pd_schedule_free(&p->schedule);
  pd_policy_free(&p->policy);
  pd_log_entry_free(&p->log_entry);
  pd_maintenance_window_free(&p->window);
  free(p);
}

int pd_parser_feed(void *parser, const unsigned char *data, size_t len) {
  pd_parser_t *p = parser;
  return pd_json_feed(p->js, data, len) != 0 ? -1 : 0;
}

int pd_parser_finish(pd_parser_t *p) {
  if (pd_json_finish(p->js) != 0)
    return -1;
  if (!p->seen_key) {
    const char *key =
        p->desc->list_key ? p->desc->list_key : p->desc->single_key;
    pd_json_fail(p->js, "no \"%s\" in the response", key);
    return -1;
  }
  return 0;
}

const char *pd_parser_error(const pd_parser_t *p) {
  return pd_json_error(p->js);
}

const pd_parse_result_t *pd_parser_result(const pd_parser_t *p) {
  return &p->result;
}

int pd_parse_buffer(pd_parse_kind_t kind, const pd_parse_callbacks_t *cb,
                    const void *data, size_t len, pd_parse_result_t *result,
                    char *err, size_t err_size) {
  pd_parser_t *p = pd_parser_create(kind, cb);
  if (p == NULL) {
    if (err != NULL && err_size > 0)
      snprintf(err, err_size, "out of memory");
    return -1;
  }
  int status = 0;
  if (pd_parser_feed(p, data, len) != 0 || pd_parser_finish(p) != 0)
    status = -1;
  if (result != NULL)
    *result = p->result;
  if (err != NULL && err_size > 0)
    snprintf(err, err_size, "%s", pd_parser_error(p));
  pd_parser_destroy(p);
  return status;
}
