/* SPDX-License-Identifier: MIT */
/*
 * pd_event_body.h - the wire bodies: an event as the Events API v2 and the
 * REST API take it (doc/pagerduty-api.md). Generated with yajl_gen, never by
 * hand. Secrets (the routing key) are passed in only here, when a body is
 * built for sending.
 *
 * custom_details and JSON's missing NaN: collectd's threshold plugin sends
 * NaN for bounds that are not set (WarningMax NaN...). In the Events API
 * body a NaN becomes null ("not set") and +/-infinity the strings "inf" /
 * "-inf" (the text %{meta:} and the REST body print for them). The spool
 * record keeps every value losslessly.
 */
#ifndef PD_EVENT_BODY_H
#define PD_EVENT_BODY_H

#include <stdbool.h>
#include <stddef.h>

#include "pd_event.h"

/*
 * The Events API v2 body for ev. trigger carries routing_key, event_action,
 * dedup_key, payload{summary, source, severity, timestamp, component, group,
 * class, custom_details}, client "collectd" and client_url (when not NULL);
 * acknowledge and resolve carry routing_key, event_action and dedup_key only.
 * A note cannot be sent through the Events API: -1. When the body would
 * exceed 512 KB, custom_details are replaced by
 * {"pagerduty_plugin":"custom_details dropped: event exceeded 512 KB"} and
 * *details_dropped (may be NULL) is set; the summary is already cut at 1024
 * bytes, so what remains cannot exceed the limit unless routing_key or
 * client_url are absurd: -1 then. *body is NUL-terminated; caller frees.
 */
int pd_event_events_body(const pd_event_t *ev, const char *routing_key,
                         const char *client_url, char **body, size_t *len,
                         bool *details_dropped);

/*
 * The REST POST /incidents body: {"incident":{"type":"incident","title":
 * summary,"service":{"id":service_id,"type":"service_reference"},"urgency":
 * high|low,"incident_key":dedup_key,"body":{"type":"incident_body",
 * "details":"<message>\n\n<name>: <value>\n..."}}}.
 */
int pd_event_rest_create_body(const pd_event_t *ev, const char *service_id,
                              char **body, size_t *len);

/* The text of the incident body: the message (the summary when empty),
 * then one "name: value" line per detail. Caller frees.
 * Exported for tests only. */
char *pd_event_details_text(const pd_event_t *ev);

/* PUT /incidents/{id}: {"incident":{"type":"incident_reference","status":
 * status[,"resolution":resolution]}} (resolution only with "resolved" and
 * when not NULL). status is "acknowledged" or "resolved". */
int pd_rest_status_body(const char *status, const char *resolution, char **body,
                        size_t *len);

/* PUT /incidents/{id}: {"incident":{"type":"incident_reference",
 * "urgency":urgency}}; urgency is "high" or "low". */
int pd_rest_urgency_body(const char *urgency, char **body, size_t *len);

/* POST /incidents/{id}/notes: {"note":{"content":content}}. */
int pd_rest_note_body(const char *content, char **body, size_t *len);

#endif /* PD_EVENT_BODY_H */
