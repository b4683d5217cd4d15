/* SPDX-License-Identifier: MIT */
/*
 * pd_event.c - see pd_event.h.
 *
 * What a notification becomes: the event itself, matching a Notify block,
 * and the mapping. The mapping is the only part of the event code that runs
 * in collectd's thread, so it allocates little and never blocks. The spool
 * record is pd_event_record.c, the wire bodies pd_event_body.c.
 */
#include "pd_event.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "collectd/core/daemon/globals.h"

#include "pd_utf8.h"
#include "pd_util.h"

/* --------------------------------------------------------------- basics */

void pd_event_init(pd_event_t *ev) { memset(ev, 0, sizeof(*ev)); }

/* ------------------------------------------------------- custom details */

/* A detail as the Events API shows it (see pd_event_body.h on NaN); here
 * because the mapping measures details with it (pd_event_custom_details_size).
 */
static void json_detail_value(pd_jw_t *j, const pd_detail_t *d) {
  char text[64];
  switch (d->type) {
  case PD_DETAIL_STRING:
    pd_jw_str(j, d->value.string);
    return;
  case PD_DETAIL_SIGNED:
    snprintf(text, sizeof(text), "%" PRId64, d->value.signed_int);
    pd_jw_number_text(j, text);
    return;
  case PD_DETAIL_UNSIGNED:
    snprintf(text, sizeof(text), "%" PRIu64, d->value.unsigned_int);
    pd_jw_number_text(j, text);
    return;
  case PD_DETAIL_DOUBLE:
    if (isnan(d->value.number)) {
      if (!j->failed)
        pd_jw_check(j, yajl_gen_null(j->g));
    } else if (isinf(d->value.number)) {
      pd_jw_str(j, d->value.number > 0 ? "inf" : "-inf");
    } else {
      snprintf(text, sizeof(text), "%.15g", d->value.number);
      pd_jw_number_text(j, text);
    }
    return;
  case PD_DETAIL_BOOLEAN:
    if (!j->failed)
      pd_jw_check(j, yajl_gen_bool(j->g, d->value.boolean));
    return;
  }
  j->failed = true;
}

void pd_event_json_custom_details(pd_jw_t *j, const pd_event_t *ev,
                                  bool drop_details) {
  pd_jw_open_map(j);
  if (drop_details || ev->details_dropped) {
    pd_jw_kstr(j, PD_DETAILS_DROPPED_KEY, PD_DETAILS_DROPPED_TEXT);
  } else {
    for (size_t i = 0; i < ev->details_num; i++) {
      pd_jw_str(j, ev->details[i].name);
      json_detail_value(j, &ev->details[i]);
    }
  }
  pd_jw_close_map(j);
}

size_t pd_event_custom_details_size(const pd_event_t *ev) {
  pd_jw_t j;
  if (pd_jw_begin(&j) != 0)
    return SIZE_MAX;
  pd_event_json_custom_details(&j, ev, false);
  size_t size = j.failed ? SIZE_MAX : pd_jw_length(&j);
  yajl_gen_free(j.g);
  return size;
}

static void details_free(pd_detail_t *details, size_t num) {
  for (size_t i = 0; i < num; i++) {
    free(details[i].name);
    if (details[i].type == PD_DETAIL_STRING)
      free(details[i].value.string);
  }
  free(details);
}

void pd_event_free(pd_event_t *ev) {
  free(ev->notify);
  details_free(ev->details, ev->details_num);
  free(ev->note);
  free(ev->incident);
  free(ev->incident_id);
  free(ev->last_error);
  pd_event_init(ev);
}

void pd_detail_value_text(const pd_detail_t *d, char *buf, size_t size) {
  switch (d->type) {
  case PD_DETAIL_SIGNED:
    snprintf(buf, size, "%" PRId64, d->value.signed_int);
    break;
  case PD_DETAIL_UNSIGNED:
    snprintf(buf, size, "%" PRIu64, d->value.unsigned_int);
    break;
  case PD_DETAIL_DOUBLE:
    snprintf(buf, size, "%.17g", d->value.number);
    break;
  case PD_DETAIL_BOOLEAN:
    snprintf(buf, size, "%s", d->value.boolean ? "true" : "false");
    break;
  default:
    buf[0] = '\0';
    break;
  }
}

static const char *const action_names[] = {
    [PD_ACTION_NONE] = "none",
    [PD_ACTION_TRIGGER] = "trigger",
    [PD_ACTION_ACKNOWLEDGE] = "acknowledge",
    [PD_ACTION_RESOLVE] = "resolve",
    [PD_ACTION_NOTE] = "note",
};

const char *pd_action_name(pd_action_t action) {
  if ((size_t)action >= sizeof(action_names) / sizeof(action_names[0]))
    return "none";
  return action_names[action];
}

pd_action_t pd_action_parse(const char *text) {
  for (size_t i = PD_ACTION_TRIGGER;
       i < sizeof(action_names) / sizeof(action_names[0]); i++)
    if (strcasecmp(text, action_names[i]) == 0)
      return (pd_action_t)i;
  return PD_ACTION_NONE;
}

const char *pd_event_severity(const pd_event_t *ev) {
  switch (ev->severity) {
  case NOTIF_FAILURE:
    return "critical";
  case NOTIF_WARNING:
    return "warning";
  default:
    return "info";
  }
}

const char *pd_event_urgency(const pd_event_t *ev) {
  return ev->severity == NOTIF_FAILURE ? "high" : "low";
}

void pd_event_set_summary(pd_event_t *ev, const char *text) {
  if (text == NULL || pd_is_blank(text))
    text = "(no message)";
  pd_utf8_copy(ev->summary, sizeof(ev->summary), text);
}

int pd_event_set_text(char **field, const char *text) {
  char *copy = NULL;
  if (text != NULL) {
    size_t len = pd_utf8_cut(text, strlen(text), PD_EVENT_TEXT_MAX);
    if ((copy = pd_utf8_dup(text, len)) == NULL)
      return -1;
  }
  free(*field);
  *field = copy;
  return 0;
}

/* ------------------------------------------------------------- matching */

static unsigned severity_bit(int severity) {
  switch (severity) {
  case NOTIF_FAILURE:
    return PD_SEVERITY_FAILURE;
  case NOTIF_WARNING:
    return PD_SEVERITY_WARNING;
  case NOTIF_OKAY:
    return PD_SEVERITY_OKAY;
  default:
    return 0;
  }
}

/* doc/contract.md §5: only a block that names Plugin "pagerduty" literally may
 * act on the plugin's own notifications; a regex that happens to match does
 * not. */
static bool names_own_plugin(const pd_match_t *plugin) {
  return plugin->text != NULL && !plugin->is_regex &&
         strcmp(plugin->text, "pagerduty") == 0;
}

bool pd_notify_matches(const pd_notify_config_t *cfg, const notification_t *n) {
  if ((cfg->severities & severity_bit(n->severity)) == 0)
    return false;
  if (strcmp(n->plugin, "pagerduty") == 0 && !names_own_plugin(&cfg->plugin))
    return false;
  return pd_match_matches(&cfg->host, n->host) &&
         pd_match_matches(&cfg->plugin, n->plugin) &&
         pd_match_matches(&cfg->plugin_instance, n->plugin_instance) &&
         pd_match_matches(&cfg->type, n->type) &&
         pd_match_matches(&cfg->type_instance, n->type_instance);
}

/* ------------------------------------------------------- custom details */

static bool is_override(const char *name) {
  return strcmp(name, PD_META_ACTION) == 0 || strcmp(name, PD_META_NOTE) == 0 ||
         strcmp(name, PD_META_DEDUP_KEY) == 0 ||
         strcmp(name, PD_META_INCIDENT) == 0;
}

/* Is name already among the first num details? (JSON objects need unique
 * keys; the first meta of a name wins, as pd_meta_find() finds it.) */
static bool detail_seen(const pd_event_t *ev, const char *name) {
  for (size_t i = 0; i < ev->details_num; i++)
    if (strcmp(ev->details[i].name, name) == 0)
      return true;
  return false;
}

static int detail_from_meta(pd_detail_t *d, const notification_meta_t *m) {
  memset(d, 0, sizeof(*d));
  if (pd_event_set_text(&d->name, m->name) != 0)
    return -1;
  switch (m->type) {
  case NM_TYPE_STRING: {
    d->type = PD_DETAIL_STRING;
    /* Bounded later as a whole (PD_DETAILS_MAX_BYTES), so copy it all. */
    const char *text =
        m->nm_value.nm_string != NULL ? m->nm_value.nm_string : "";
    d->value.string = pd_utf8_dup(text, strlen(text));
    if (d->value.string == NULL) {
      free(d->name);
      d->name = NULL;
      return -1;
    }
    return 0;
  }
  case NM_TYPE_SIGNED_INT:
    d->type = PD_DETAIL_SIGNED;
    d->value.signed_int = m->nm_value.nm_signed_int;
    return 0;
  case NM_TYPE_UNSIGNED_INT:
    d->type = PD_DETAIL_UNSIGNED;
    d->value.unsigned_int = m->nm_value.nm_unsigned_int;
    return 0;
  case NM_TYPE_DOUBLE:
    d->type = PD_DETAIL_DOUBLE;
    d->value.number = m->nm_value.nm_double;
    return 0;
  case NM_TYPE_BOOLEAN:
    d->type = PD_DETAIL_BOOLEAN;
    d->value.boolean = m->nm_value.nm_boolean;
    return 0;
  }
  free(d->name);
  d->name = NULL;
  return 1; /* a type this collectd does not have: skip it */
}

static int details_from_meta(pd_event_t *ev, const notification_t *n) {
  size_t num = 0;
  for (const notification_meta_t *m = n->meta; m != NULL; m = m->next)
    num++;
  if (num == 0)
    return 0;
  ev->details = calloc(num, sizeof(*ev->details));
  if (ev->details == NULL)
    return -1;
  for (const notification_meta_t *m = n->meta; m != NULL; m = m->next) {
    /* A meta with an empty name has no key to go under in custom_details, and
     * the spool record refuses nameless details: skip it. */
    if (m->name[0] == '\0' || is_override(m->name) || detail_seen(ev, m->name))
      continue;
    int status = detail_from_meta(&ev->details[ev->details_num], m);
    if (status < 0)
      return -1;
    if (status == 0)
      ev->details_num++;
  }
  if (pd_event_custom_details_size(ev) > PD_DETAILS_MAX_BYTES) {
    PD_NOTIFY_WARNING(ev->notify,
                      "%s: custom_details dropped: the event would exceed "
                      "512 KB",
                      ev->identifier);
    details_free(ev->details, ev->details_num);
    ev->details = NULL;
    ev->details_num = 0;
    ev->details_dropped = true;
  }
  return 0;
}

/* -------------------------------------------------------------- mapping */

/* A meta value as text: strings as they are, numbers formatted in scratch. */
static const char *meta_text(const notification_meta_t *m, char *scratch,
                             size_t scratch_size) {
  if (m->type == NM_TYPE_STRING)
    return m->nm_value.nm_string != NULL ? m->nm_value.nm_string : "";
  pd_meta_format(m, scratch, scratch_size);
  return scratch;
}

static void set_identity(pd_event_t *ev, const notification_t *n) {
  bool pi = n->plugin_instance[0] != '\0';
  bool ti = n->type_instance[0] != '\0';

  snprintf(ev->identifier, sizeof(ev->identifier), "%s/%s%s%s/%s%s%s", n->host,
           n->plugin, pi ? "-" : "", n->plugin_instance, n->type, ti ? "-" : "",
           n->type_instance);
  pd_utf8_sanitize(ev->identifier, strlen(ev->identifier));

  /* Events API: payload.source must not be blank. */
  const char *source = n->host;
  if (pd_is_blank(source))
    source = (hostname_g != NULL && !pd_is_blank(hostname_g)) ? hostname_g
                                                              : "collectd";
  pd_utf8_copy(ev->source, sizeof(ev->source), source);

  char component[sizeof(ev->component)];
  snprintf(component, sizeof(component), "%s%s%s", n->plugin,
           (pi && n->plugin[0] != '\0') ? "-" : "", n->plugin_instance);
  pd_utf8_copy(ev->component, sizeof(ev->component), component);
  pd_utf8_copy(ev->group, sizeof(ev->group), n->type);
  pd_utf8_copy(ev->event_class, sizeof(ev->event_class), n->type_instance);
}

static void set_summary_from(pd_event_t *ev, const notification_t *n) {
  pd_utf8_copy(ev->message, sizeof(ev->message), n->message);
  if (!pd_is_blank(ev->message)) {
    pd_event_set_summary(ev, ev->message);
    return;
  }
  /* An empty message (PUTNOTIF without one): name what it is about. */
  char text[PD_SUMMARY_MAX + 1];
  snprintf(text, sizeof(text), "%s: %s", pd_severity_name(n->severity),
           ev->identifier);
  pd_event_set_summary(ev, text);
}

/* The action the severity asks for, before overrides. */
static int default_action(const pd_notify_config_t *cfg,
                          const notification_t *n, pd_action_t *action) {
  switch (n->severity) {
  case NOTIF_FAILURE:
  case NOTIF_WARNING:
    *action = PD_ACTION_TRIGGER;
    return PD_MAP_EVENT;
  case NOTIF_OKAY:
    *action = cfg->resolve_on_okay ? PD_ACTION_RESOLVE : PD_ACTION_NONE;
    return cfg->resolve_on_okay ? PD_MAP_EVENT : PD_MAP_NO_ACTION;
  default:
    return PD_MAP_ERROR;
  }
}

static int set_dedup_key(const pd_notify_config_t *cfg, pd_event_t *ev,
                         const notification_t *n) {
  const notification_meta_t *m = pd_meta_find(n, PD_META_DEDUP_KEY);
  char scratch[64];
  const char *override =
      m != NULL ? meta_text(m, scratch, sizeof(scratch)) : "";
  if (override[0] != '\0') {
    pd_text_bound_hashed(override, strlen(override), ev->dedup_key,
                         sizeof(ev->dedup_key));
  } else {
    const char *tmpl =
        cfg->dedup_key != NULL ? cfg->dedup_key : PD_DEFAULT_DEDUP_KEY;
    if (pd_template_expand(tmpl, n, ev->dedup_key, sizeof(ev->dedup_key)) < 0)
      return -1;
  }
  /* A key that came out empty (a template of missing meta) would leave
   * nothing to resolve by: fall back to the identifier. */
  if (ev->dedup_key[0] == '\0')
    pd_text_bound_hashed(ev->identifier, strlen(ev->identifier), ev->dedup_key,
                         sizeof(ev->dedup_key));
  return 0;
}

static int set_overrides(const pd_notify_config_t *cfg, pd_event_t *ev,
                         const notification_t *n) {
  char scratch[64];
  const notification_meta_t *m = pd_meta_find(n, PD_META_ACTION);
  if (m != NULL) {
    const char *text = meta_text(m, scratch, sizeof(scratch));
    pd_action_t action = pd_action_parse(text);
    if (action == PD_ACTION_NONE) {
      char shown[65];
      pd_utf8_copy(shown, sizeof(shown), text);
      PD_NOTIFY_ERROR(cfg->name,
                      "%s: unknown " PD_META_ACTION " \"%s\" (use trigger, "
                      "acknowledge, resolve or note); notification ignored",
                      ev->identifier, shown);
      return PD_MAP_ERROR;
    }
    ev->action = action;
  }

  m = pd_meta_find(n, PD_META_NOTE);
  if (m != NULL &&
      pd_event_set_text(&ev->note, meta_text(m, scratch, sizeof(scratch))) != 0)
    return PD_MAP_ERROR;
  if (ev->action == PD_ACTION_NOTE &&
      (ev->note == NULL || pd_is_blank(ev->note)) &&
      pd_event_set_text(&ev->note, pd_is_blank(ev->message) ? ev->summary
                                                            : ev->message) != 0)
    return PD_MAP_ERROR;

  m = pd_meta_find(n, PD_META_INCIDENT);
  if (m != NULL) {
    const char *text = meta_text(m, scratch, sizeof(scratch));
    if (!pd_is_blank(text) && pd_event_set_text(&ev->incident, text) != 0)
      return PD_MAP_ERROR;
  }
  return PD_MAP_EVENT;
}

int pd_event_from_notification(const pd_notify_config_t *cfg,
                               const notification_t *n, pd_event_t *ev) {
  pd_event_init(ev);

  pd_action_t action = PD_ACTION_NONE;
  int status = default_action(cfg, n, &action);
  if (status == PD_MAP_ERROR) {
    PD_NOTIFY_ERROR(cfg->name, "notification with unknown severity %d ignored",
                    n->severity);
    return PD_MAP_ERROR;
  }
  /* An override acts on an OKAY even without ResolveOnOkay. */
  if (status == PD_MAP_NO_ACTION && pd_meta_find(n, PD_META_ACTION) == NULL)
    return PD_MAP_NO_ACTION;

  ev->notify = strdup(cfg->name);
  if (ev->notify == NULL)
    goto oom;
  ev->created = cdtime();
  /* A time past what the record can hold is no time collectd measured
   * (a PUTNOTIF's time=, say): the mapping's own is used instead. */
  ev->time =
      n->time != 0 && n->time <= PD_EVENT_TIME_MAX ? n->time : ev->created;
  ev->severity = n->severity;
  ev->action = action;

  set_identity(ev, n);
  set_summary_from(ev, n);

  status = set_overrides(cfg, ev, n);
  if (status != PD_MAP_EVENT) {
    pd_event_free(ev);
    return status;
  }
  if (set_dedup_key(cfg, ev, n) != 0) {
    PD_NOTIFY_ERROR(cfg->name, "%s: DedupKey template cannot be expanded",
                    ev->identifier);
    pd_event_free(ev);
    return PD_MAP_ERROR;
  }
  if (details_from_meta(ev, n) != 0)
    goto oom;
  return PD_MAP_EVENT;

oom:
  PD_NOTIFY_ERROR(cfg->name, "out of memory; notification dropped");
  pd_event_free(ev);
  return PD_MAP_ERROR;
}
