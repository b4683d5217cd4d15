# SPDX-License-Identifier: MIT
"""Events API v2: POST /v2/enqueue (no Authorization; the routing key in the
body is a service's Events API v2 integration key).

Semantics (doc/pagerduty-api.md, PagerDuty's Events API docs):
- trigger with a dedup_key that has an open alert on that service merges into
  it (no new incident); otherwise a new alert and incident open, with
  incident_key = dedup_key, title = summary, urgency high for critical/error
  and low for warning/info. A merge at critical/error raises a low incident
  to high (never lowers it).
- acknowledge / resolve act on the open alert with that dedup_key; unknown or
  already resolved keys are accepted (202) and dropped.
- A well-formed but unknown routing key is accepted (202) and dropped, as the
  real API ingests asynchronously; a malformed one is a 400.
- Triggers for a disabled service or one in maintenance are accepted and
  create no incident (PagerDuty suppresses them).
- Invalid events: 400 {"status":"invalid event","message":"Event object is
  invalid","errors":[...]}; unparsable JSON: 400 "Unrecognized object"; an
  event over 512 KB: 400 (errors say so). Over ~120 events per minute per
  routing key: 429.
"""

import json
import re

from .errors import ApiError, events_invalid
from .model import EventRecord

MAX_EVENT_BYTES = 512 * 1024
SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = ("trigger", "acknowledge", "resolve")
_KEY_CHARS = re.compile(r"^[A-Za-z0-9]*$")


def _missing(value):
    return value is None or (isinstance(value, str) and not value.strip())


def validate(raw):
    """Parse and validate; returns the event dict or raises ApiError (400)."""
    if len(raw) > MAX_EVENT_BYTES:
        raise events_invalid("Event object is too large (the limit is 512 KB)")
    try:
        event = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, {"status": "Unrecognized object", "message": "Event object format is unrecognized",
                             "errors": ["JSON parse error"]})
    if not isinstance(event, dict):
        raise ApiError(400, {"status": "Unrecognized object", "message": "Event object format is unrecognized",
                             "errors": ["Event object must be a JSON object"]})
    problems = []
    key = event.get("routing_key")
    if _missing(key):
        problems.append("'routing_key' is missing or blank")
    elif not isinstance(key, str):
        problems.append("'routing_key' must be a string")
    else:
        if len(key) != 32:
            problems.append("Length of 'routing_key' is incorrect (should be 32 characters)")
        if not _KEY_CHARS.match(key):
            problems.append("'routing_key' cannot contain non-alphanumeric characters.")
    action = event.get("event_action")
    if _missing(action):
        problems.append("'event_action' is missing or blank")
    elif action not in ACTIONS:
        problems.append("'event_action' is invalid (must be one of trigger, acknowledge, resolve)")
    dedup = event.get("dedup_key")
    if dedup is not None and not isinstance(dedup, str):
        problems.append("'dedup_key' must be a string")
    elif isinstance(dedup, str) and len(dedup) > 255:
        problems.append("'dedup_key' is too long (maximum 255 characters)")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            problems.append("'payload' is missing or blank")
        else:
            for name in ("summary", "source", "severity"):
                if _missing(payload.get(name)):
                    problems.append("'payload.%s' is missing or blank" % name)
            sev = payload.get("severity")
            if not _missing(sev) and sev not in SEVERITIES:
                problems.append("'payload.severity' is invalid (must be one of critical, error, warning, info)")
            if "custom_details" in payload and not isinstance(payload["custom_details"], (dict, str, type(None))):
                problems.append("'payload.custom_details' must be an object")
    elif action in ("acknowledge", "resolve") and _missing(dedup):
        problems.append("'dedup_key' is missing or blank")
    if problems:
        raise events_invalid(*problems)
    return event


def _urgency(severity):
    return "high" if severity in ("critical", "error") else "low"


def enqueue(account, event, now, assignees_for):
    """Apply a validated event; returns (202 body, EventRecord).
    assignees_for(policy_id) -> user IDs to assign a new incident to."""
    action = event["event_action"]
    dedup = event.get("dedup_key") or None
    if action == "trigger" and dedup is None:
        dedup = account.ids.dedup_key()
    payload = event.get("payload") if isinstance(event.get("payload"), dict) else {}
    severity = payload.get("severity")
    summary = payload.get("summary")
    if isinstance(summary, str) and len(summary) > 1024:
        summary = summary[:1024]    # PagerDuty truncates long summaries
    record = EventRecord(len(account.events) + 1, now, action, dedup, None, "dropped",
                         severity=severity, summary=summary)
    found = account.integration_by_key.get(event["routing_key"])
    if found is None:
        record.result = "dropped: unknown routing key"
    else:
        service_id, integration_id = found
        service = account.services[service_id]
        record.service_id = service_id
        alert_id = account.open_alert_by_key.get((service_id, dedup))
        alert = account.alerts.get(alert_id) if alert_id else None
        inc = account.incidents.get(alert.incident_id) if alert else None
        if action == "trigger":
            if alert is not None:
                alert.severity = severity
                alert.summary = summary
                if _urgency(severity) == "high" and inc.urgency == "low":
                    inc.urgency = "high"
                inc.updated_at = now
                record.result = "merged"
                record.incident_id = inc.id
            elif service.disabled:
                record.result = "dropped: service disabled"
            elif account.ongoing_windows(now, service_id):
                record.result = "dropped: service in maintenance"
            else:
                inc = account.new_incident(service, summary, _urgency(severity), now, incident_key=dedup,
                                           agent=("service_reference", service_id),
                                           assignees=assignees_for(service.escalation_policy_id))
                body = {k: v for k, v in payload.items()}
                for extra in ("links", "images", "client", "client_url"):
                    if extra in event:
                        body[extra] = event[extra]
                account.add_alert(inc, integration_id, dedup, severity, summary, now, body)
                record.result = "created"
                record.incident_id = inc.id
        elif inc is None:
            record.result = "dropped: no open alert"
        elif action == "acknowledge":
            record.incident_id = inc.id
            if inc.status == "triggered":
                account.set_status(inc, "acknowledged", now, agent=("service_reference", service_id))
                record.result = "acknowledged"
            else:
                record.result = "dropped: already acknowledged"
        else:
            record.incident_id = inc.id
            alert.status = "resolved"
            alert.resolved_at = now
            del account.open_alert_by_key[(service_id, dedup)]
            if not any(account.alerts[x].status == "triggered" for x in inc.alert_ids):
                account.set_status(inc, "resolved", now, agent=("service_reference", service_id))
            record.result = "resolved"
    account.events.append(record)
    return {"status": "success", "message": "Event processed", "dedup_key": dedup}, record


THROTTLED = ApiError(429, {"status": "throttle event",
                           "message": "Requests for this service are arriving too quickly.  Please retry later."})
