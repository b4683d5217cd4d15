/* SPDX-License-Identifier: MIT */
/*
 * pd_intent.c - see pd_intent.h.
 */
#include "pd_intent.h"

#include <string.h>

void pd_incident_view_init(pd_incident_view_t *v) {
  memset(v, 0, sizeof(*v));
  v->status = PD_INCIDENT_UNKNOWN;
  v->urgency = PD_URGENCY_UNKNOWN;
}

bool pd_incident_view_merged(const pd_incident_view_t *v) {
  return v->status == PD_INCIDENT_RESOLVED && v->merged_into[0] != '\0';
}

pd_intent_t pd_intent_decide(pd_action_t action, const pd_incident_view_t *v,
                             bool named) {
  bool open = v->status == PD_INCIDENT_TRIGGERED ||
              v->status == PD_INCIDENT_ACKNOWLEDGED;
  switch (action) {
  case PD_ACTION_ACKNOWLEDGE:
    if (v->status == PD_INCIDENT_TRIGGERED)
      return PD_INTENT_SEND;
    return pd_incident_view_merged(v) ? PD_INTENT_FOLLOW : PD_INTENT_NOTHING;
  case PD_ACTION_RESOLVE:
    /* Merged away: resolving the target would close alerts of others. */
    return open ? PD_INTENT_SEND : PD_INTENT_NOTHING;
  case PD_ACTION_NOTE:
    if (open)
      return PD_INTENT_SEND;
    if (pd_incident_view_merged(v))
      return PD_INTENT_FOLLOW; /* responders look at the target now */
    /* A note on a resolved incident reopens nothing: fine when asked for
     * by name (a post-mortem remark), pointless for "still failing". */
    return v->status == PD_INCIDENT_RESOLVED && named ? PD_INTENT_SEND
                                                      : PD_INTENT_NOTHING;
  default:
    return PD_INTENT_NOTHING;
  }
}

const char *pd_intent_why_nothing(pd_action_t action,
                                  const pd_incident_view_t *v, bool named) {
  if (pd_intent_decide(action, v, named) != PD_INTENT_NOTHING)
    return "";
  if (v->status == PD_INCIDENT_UNKNOWN)
    return "has a status this plugin does not know; nothing sent";
  if (pd_incident_view_merged(v)) /* only a resolve stops at a merge */
    return "was merged into another incident, which is not resolved from "
           "here: it holds alerts a person judged to be one problem";
  if (v->status == PD_INCIDENT_RESOLVED)
    return action == PD_ACTION_ACKNOWLEDGE
               ? "is already resolved; acknowledging it would reopen it"
           : action == PD_ACTION_RESOLVE ? "is already resolved"
                                         : "is already resolved; the note "
                                           "is not added";
  return "is already acknowledged";
}

/* ------------------------------------------------------------- parsing */

static int view_value(void *ctx, pd_json_stream_t *js,
                      const pd_json_value_t *v) {
  pd_incident_view_t *view = ctx;
  if (v->type != PD_JSON_STRING)
    return PD_JSON_CONTINUE;
  if (pd_json_match(js, 0, "incident/id"))
    pd_id_set(view->id, v->text, v->len);
  else if (pd_json_match(js, 0, "incident/status"))
    view->status = pd_incident_status_parse(v->text, v->len);
  else if (pd_json_match(js, 0, "incident/urgency"))
    view->urgency = pd_urgency_parse(v->text, v->len);
  else if (pd_json_match(js, 0, "incident/resolve_reason/incident/id"))
    pd_id_set(view->merged_into, v->text, v->len);
  return PD_JSON_CONTINUE;
}

/* Only the incident's own fields matter: its lists (assignments, teams,
 * acknowledgements...) are skipped unread. */
static int view_start(void *ctx, pd_json_stream_t *js, bool is_map) {
  (void)ctx;
  (void)is_map;
  size_t depth = pd_json_depth(js);
  if (depth <= 1 || pd_json_match(js, 0, "incident/resolve_reason") ||
      pd_json_match(js, 0, "incident/resolve_reason/incident"))
    return PD_JSON_CONTINUE;
  return PD_JSON_SKIP;
}

const pd_json_handlers_t pd_incident_view_handlers = {
    .on_value = view_value,
    .on_start = view_start,
};
