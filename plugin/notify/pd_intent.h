/* SPDX-License-Identifier: MIT */
/*
 * pd_intent.h - what an acknowledge, note or resolve sent through REST does
 * to an incident in the state PagerDuty has it now (issue 7).
 *
 * PUT /incidents/{id} with status acknowledged (or triggered) REOPENS a
 * resolved incident (doc/pagerduty-api.md, "Where the real service differs"). A
 * notification sent after a person resolved the incident must not do that,
 * so the sender reads the incident first (GET /incidents/{id}) and asks
 * pd_intent_decide() what the user meant:
 *
 *   state \ action  acknowledge      resolve          note
 *   triggered       send             send             send
 *   acknowledged    nothing (is so)  send             send
 *   resolved        nothing (never   nothing (is so)  send when the operator
 *                   reopen)                           named the incident,
 *                                                     else nothing
 *   merged away     follow the       nothing (the     follow the merge
 *                   merge to the     target holds
 *                   target           alerts a person
 *                                    judged one
 *                                    problem)
 *
 * A merged-away incident is resolved with resolve_reason
 * {"type":"merge_resolve_reason","incident":{"id":<target>}}; its alerts
 * moved to the target. "Follow" decides again on the target (at most
 * PD_INTENT_MAX_HOPS merges), as an incident nobody named.
 *
 * The Events API needs none of this: acknowledge and resolve act on the
 * alert of the dedup key, and PagerDuty drops them when that alert is
 * resolved.
 */
#ifndef PD_INTENT_H
#define PD_INTENT_H

#include <stdbool.h>

#include "pd_event.h"
#include "pd_json.h"
#include "pd_model.h"

/* Merges followed from one incident before giving up (as "resolved"). */
#define PD_INTENT_MAX_HOPS 3

typedef enum {
  PD_INTENT_SEND = 0, /* send the write to this incident */
  PD_INTENT_NOTHING,  /* send nothing: the write is done */
  PD_INTENT_FOLLOW,   /* merged away: decide again on the target */
} pd_intent_t;

/* One incident as GET /incidents/{id} returns it: what the decision and
 * the sender need. */
typedef struct {
  pd_id_t id;
  pd_incident_status_t status; /* PD_INCIDENT_UNKNOWN until read */
  pd_urgency_t urgency;
  pd_id_t merged_into; /* resolve_reason merge target; "" none */
} pd_incident_view_t;

void pd_incident_view_init(pd_incident_view_t *v);

/* Is v merged away (resolved, with a merge target)? */
bool pd_incident_view_merged(const pd_incident_view_t *v);

/*
 * What `action` (PD_ACTION_ACKNOWLEDGE, _RESOLVE or _NOTE) does to an
 * incident in state v. named: the operator named this incident
 * (pagerduty_incident), rather than the block finding it by dedup key.
 * An unknown status or another action: PD_INTENT_NOTHING.
 */
pd_intent_t pd_intent_decide(pd_action_t action, const pd_incident_view_t *v,
                             bool named);

/* Why nothing is sent, for the log: "is already resolved; acknowledging it
 * would reopen it", ... ("" when the decision is not PD_INTENT_NOTHING). */
const char *pd_intent_why_nothing(pd_action_t action,
                                  const pd_incident_view_t *v, bool named);

/* pd_json handlers that fill a pd_incident_view_t (the ctx) from a
 * {"incident":{...}} body. After pd_json_finish(), the view is usable when
 * its id is set and its status known. */
extern const pd_json_handlers_t pd_incident_view_handlers;

#endif /* PD_INTENT_H */
