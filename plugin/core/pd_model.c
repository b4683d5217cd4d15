/* SPDX-License-Identifier: MIT */
/*
 * pd_model.c - bounded copies, time parsing and the entity containers.
 */
#include "pd_model.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pd_utf8.h"

/* --- bounded copies ------------------------------------------------------ */

static bool is_alnum_ascii(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
         (c >= 'a' && c <= 'z');
}

bool pd_id_is_valid(const char *src, size_t len) {
  if (src == NULL || len == 0 || len > PD_ID_MAX)
    return false;
  for (size_t i = 0; i < len; i++)
    if (!is_alnum_ascii((unsigned char)src[i]))
      return false;
  return true;
}

int pd_id_set(pd_id_t dst, const char *src, size_t len) {
  if (!pd_id_is_valid(src, len)) {
    dst[0] = '\0';
    return -1;
  }
  memcpy(dst, src, len);
  dst[len] = '\0';
  return 0;
}

size_t pd_text_copy(char *dst, size_t size, const char *src, size_t len) {
  return pd_utf8_copy_blanked(dst, size, src, len);
}

/* --- time --------------------------------------------------------------- */

/* Reads exactly n digits at s[*pos]; -1 when they are not all digits. */
static int read_digits(const char *s, size_t len, size_t *pos, int n) {
  int value = 0;
  if (*pos + (size_t)n > len)
    return -1;
  for (int i = 0; i < n; i++) {
    char c = s[*pos + (size_t)i];
    if (c < '0' || c > '9')
      return -1;
    value = value * 10 + (c - '0');
  }
  *pos += (size_t)n;
  return value;
}

static bool expect_char(const char *s, size_t len, size_t *pos, char c) {
  if (*pos >= len || s[*pos] != c)
    return false;
  (*pos)++;
  return true;
}

static int days_in_month(int year, int month) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return (month == 2 && leap) ? 29 : days[month - 1];
}

/* Parses "Z", "+HH:MM", "+HHMM", "+HH" or nothing into seconds east. */
static int parse_offset(const char *s, size_t len, size_t *pos, long *east) {
  *east = 0;
  if (*pos == len)
    return 0;
  char sign = s[*pos];
  if (sign == 'Z' || sign == 'z') {
    (*pos)++;
    return 0;
  }
  if (sign != '+' && sign != '-')
    return -1;
  (*pos)++;
  int hours = read_digits(s, len, pos, 2);
  int minutes = 0;
  if (hours < 0 || hours > 23)
    return -1;
  if (*pos < len) {
    expect_char(s, len, pos, ':');
    minutes = read_digits(s, len, pos, 2);
    if (minutes < 0 || minutes > 59)
      return -1;
  }
  *east = (sign == '-' ? -1 : 1) * (hours * 3600L + minutes * 60L);
  return 0;
}

int pd_time_parse(const char *s, size_t len, time_t *out) {
  size_t pos = 0;
  struct tm tm = {0};

  int year = read_digits(s, len, &pos, 4);
  if (year < 1970 || !expect_char(s, len, &pos, '-'))
    return -1;
  int month = read_digits(s, len, &pos, 2);
  if (month < 1 || month > 12 || !expect_char(s, len, &pos, '-'))
    return -1;
  int day = read_digits(s, len, &pos, 2);
  if (day < 1 || day > days_in_month(year, month))
    return -1;
  if (pos >= len || (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' '))
    return -1;
  pos++;
  int hour = read_digits(s, len, &pos, 2);
  if (hour < 0 || hour > 23 || !expect_char(s, len, &pos, ':'))
    return -1;
  int minute = read_digits(s, len, &pos, 2);
  if (minute < 0 || minute > 59 || !expect_char(s, len, &pos, ':'))
    return -1;
  int second = read_digits(s, len, &pos, 2);
  if (second < 0 || second > 60) /* 60: a leap second, normalised below */
    return -1;
  if (pos < len && (s[pos] == '.' || s[pos] == ',')) {
    size_t digits = 0;
    for (pos++; pos < len && s[pos] >= '0' && s[pos] <= '9'; pos++)
      digits++;
    if (digits == 0)
      return -1;
  }
  long east;
  if (parse_offset(s, len, &pos, &east) != 0 || pos != len)
    return -1;

  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  errno = 0;
  time_t t = timegm(&tm);
  if (t == (time_t)-1 && errno != 0)
    return -1;
  *out = t - (time_t)east;
  return 0;
}

/* --- enums ---------------------------------------------------------------- */

static bool text_is(const char *s, size_t len, const char *word) {
  size_t n = strlen(word);
  return len == n && memcmp(s, word, n) == 0;
}

static const char *const service_status_names[] = {
    "active", "warning", "critical", "maintenance", "disabled", "unknown"};

const char *pd_service_status_name(pd_service_status_t s) {
  if ((unsigned)s > PD_SERVICE_UNKNOWN)
    s = PD_SERVICE_UNKNOWN;
  return service_status_names[s];
}

pd_service_status_t pd_service_status_parse(const char *s, size_t len) {
  for (int i = 0; i < PD_SERVICE_STATUS_NUM; i++)
    if (text_is(s, len, service_status_names[i]))
      return (pd_service_status_t)i;
  return PD_SERVICE_UNKNOWN;
}

pd_incident_status_t pd_incident_status_parse(const char *s, size_t len) {
  if (text_is(s, len, "triggered"))
    return PD_INCIDENT_TRIGGERED;
  if (text_is(s, len, "acknowledged"))
    return PD_INCIDENT_ACKNOWLEDGED;
  if (text_is(s, len, "resolved"))
    return PD_INCIDENT_RESOLVED;
  return PD_INCIDENT_UNKNOWN;
}

pd_urgency_t pd_urgency_parse(const char *s, size_t len) {
  if (text_is(s, len, "high"))
    return PD_URGENCY_HIGH;
  if (text_is(s, len, "low"))
    return PD_URGENCY_LOW;
  return PD_URGENCY_UNKNOWN;
}

pd_target_type_t pd_target_type_parse(const char *s, size_t len) {
  if (text_is(s, len, "user_reference") || text_is(s, len, "user"))
    return PD_TARGET_USER;
  if (text_is(s, len, "schedule_reference") ||
      text_is(s, len, "schedule_v3_reference") || text_is(s, len, "schedule"))
    return PD_TARGET_SCHEDULE;
  return PD_TARGET_OTHER;
}

/* --- growing arrays ------------------------------------------------------- */

/*
 * Returns items with room for one more element of size bytes (num used,
 * *cap allocated), reallocated when full; NULL when that fails, and the old
 * array is then still valid and owned by the caller.
 */
static void *grow(void *items, size_t *cap, size_t num, size_t size) {
  if (num < *cap)
    return items;
  size_t new_cap = *cap ? *cap * 2 : 4;
  if (new_cap > SIZE_MAX / size)
    return NULL;
  void *p = realloc(items, new_cap * size);
  if (p != NULL)
    *cap = new_cap;
  return p;
}

/* --- ID lists ---------------------------------------------------------------
 */

int pd_idlist_add(pd_idlist_t *l, const char *id) {
  size_t len = strlen(id);
  if (!pd_id_is_valid(id, len))
    return -1;
  pd_id_t *ids = grow(l->ids, &l->cap, l->num, sizeof(*ids));
  if (ids == NULL)
    return -1;
  l->ids = ids;
  memcpy(l->ids[l->num], id, len + 1);
  l->num++;
  return 0;
}

bool pd_idlist_contains(const pd_idlist_t *l, const char *id) {
  for (size_t i = 0; i < l->num; i++)
    if (strcmp(l->ids[i], id) == 0)
      return true;
  return false;
}

/* A copy of src owning its own IDs; -1 on ENOMEM with dst left empty. */
static int pd_idlist_copy(pd_idlist_t *dst, const pd_idlist_t *src) {
  *dst = (pd_idlist_t){0};
  if (src->num == 0)
    return 0;
  dst->ids = malloc(src->num * sizeof(*dst->ids));
  if (dst->ids == NULL)
    return -1;
  memcpy(dst->ids, src->ids, src->num * sizeof(*dst->ids));
  dst->num = dst->cap = src->num;
  return 0;
}

void pd_idlist_free(pd_idlist_t *l) {
  free(l->ids);
  *l = (pd_idlist_t){0};
}

/* --- entities with owned lists ---------------------------------------------
 */

/* A copy is the struct plus its own team list; pd_idlist_copy() leaves the
 * list empty (owning nothing) when it fails. */

static int pd_service_copy(pd_service_t *dst, const pd_service_t *src) {
  *dst = *src;
  return pd_idlist_copy(&dst->team_ids, &src->team_ids);
}

void pd_service_free(pd_service_t *s) { pd_idlist_free(&s->team_ids); }

static int pd_incident_copy(pd_incident_t *dst, const pd_incident_t *src) {
  *dst = *src;
  return pd_idlist_copy(&dst->team_ids, &src->team_ids);
}

void pd_incident_free(pd_incident_t *i) { pd_idlist_free(&i->team_ids); }

int pd_schedule_copy(pd_schedule_t *dst, const pd_schedule_t *src) {
  *dst = *src;
  return pd_idlist_copy(&dst->team_ids, &src->team_ids);
}

void pd_schedule_free(pd_schedule_t *s) { pd_idlist_free(&s->team_ids); }

int pd_log_entry_copy(pd_log_entry_t *dst, const pd_log_entry_t *src) {
  *dst = *src;
  return pd_idlist_copy(&dst->team_ids, &src->team_ids);
}

void pd_log_entry_free(pd_log_entry_t *e) { pd_idlist_free(&e->team_ids); }

static int pd_maintenance_window_copy(pd_maintenance_window_t *dst,
                                      const pd_maintenance_window_t *src) {
  *dst = *src;
  return pd_idlist_copy(&dst->service_ids, &src->service_ids);
}

void pd_maintenance_window_free(pd_maintenance_window_t *w) {
  pd_idlist_free(&w->service_ids);
}

pd_escalation_rule_t *pd_policy_add_rule(pd_policy_t *p) {
  pd_escalation_rule_t *rules =
      grow(p->rules, &p->rules_cap, p->rules_num, sizeof(*rules));
  if (rules == NULL)
    return NULL;
  p->rules = rules;
  pd_escalation_rule_t *r = &p->rules[p->rules_num++];
  *r = (pd_escalation_rule_t){0};
  return r;
}

int pd_rule_add_target(pd_escalation_rule_t *r, const pd_target_t *t) {
  pd_target_t *targets =
      grow(r->targets, &r->targets_cap, r->targets_num, sizeof(*targets));
  if (targets == NULL)
    return -1;
  r->targets = targets;
  r->targets[r->targets_num++] = *t;
  return 0;
}

void pd_policy_free(pd_policy_t *p) {
  for (size_t i = 0; i < p->rules_num; i++)
    free(p->rules[i].targets);
  free(p->rules);
  p->rules = NULL;
  p->rules_num = p->rules_cap = 0;
  pd_idlist_free(&p->team_ids);
}

/* A deep copy: the rules, their targets and the team list. */
static int pd_policy_copy(pd_policy_t *dst, const pd_policy_t *src) {
  *dst = *src;
  dst->rules = NULL;
  dst->rules_num = dst->rules_cap = 0;
  dst->team_ids = (pd_idlist_t){0};
  for (size_t i = 0; i < src->rules_num; i++) {
    pd_escalation_rule_t *r = pd_policy_add_rule(dst);
    if (r == NULL)
      goto fail;
    for (size_t j = 0; j < src->rules[i].targets_num; j++)
      if (pd_rule_add_target(r, &src->rules[i].targets[j]) != 0)
        goto fail;
  }
  if (pd_idlist_copy(&dst->team_ids, &src->team_ids) != 0)
    goto fail;
  return 0;
fail:
  pd_policy_free(dst);
  return -1;
}

/* --- entity arrays
 * ------------------------------------------------------------ */

/* Items without owned parts are copied by assignment and need no freeing. */
static int copy_plain_team(pd_team_t *d, const pd_team_t *s) {
  *d = *s;
  return 0;
}
static int copy_plain_entry(pd_schedule_entry_t *d,
                            const pd_schedule_entry_t *s) {
  *d = *s;
  return 0;
}
static int copy_plain_oncall(pd_oncall_t *d, const pd_oncall_t *s) {
  *d = *s;
  return 0;
}
static void free_nothing(void *item) { (void)item; }

#define PD_DEFINE_VEC(vec_t, item_t, prefix, copy_fn, free_fn)                 \
  int prefix##_push(vec_t *v, const item_t *item) {                            \
    item_t *items = grow(v->items, &v->cap, v->num, sizeof(*items));           \
    if (items == NULL)                                                         \
      return -1;                                                               \
    v->items = items;                                                          \
    if (copy_fn(&v->items[v->num], item) != 0)                                 \
      return -1;                                                               \
    v->num++;                                                                  \
    return 0;                                                                  \
  }                                                                            \
  void prefix##_free(vec_t *v) {                                               \
    for (size_t i = 0; i < v->num; i++)                                        \
      free_fn(&v->items[i]);                                                   \
    free(v->items);                                                            \
    *v = (vec_t){0};                                                           \
  }

PD_DEFINE_VEC(pd_teams_t, pd_team_t, pd_teams, copy_plain_team, free_nothing)
PD_DEFINE_VEC(pd_services_t, pd_service_t, pd_services, pd_service_copy,
              pd_service_free)
PD_DEFINE_VEC(pd_incidents_t, pd_incident_t, pd_incidents, pd_incident_copy,
              pd_incident_free)
PD_DEFINE_VEC(pd_schedules_t, pd_schedule_t, pd_schedules, pd_schedule_copy,
              pd_schedule_free)
PD_DEFINE_VEC(pd_schedule_entries_t, pd_schedule_entry_t, pd_schedule_entries,
              copy_plain_entry, free_nothing)
PD_DEFINE_VEC(pd_oncalls_t, pd_oncall_t, pd_oncalls, copy_plain_oncall,
              free_nothing)
PD_DEFINE_VEC(pd_policies_t, pd_policy_t, pd_policies, pd_policy_copy,
              pd_policy_free)
PD_DEFINE_VEC(pd_log_entries_t, pd_log_entry_t, pd_log_entries,
              pd_log_entry_copy, pd_log_entry_free)
PD_DEFINE_VEC(pd_maintenance_windows_t, pd_maintenance_window_t,
              pd_maintenance_windows, pd_maintenance_window_copy,
              pd_maintenance_window_free)
