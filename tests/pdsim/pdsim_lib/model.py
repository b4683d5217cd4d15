# SPDX-License-Identifier: MIT
"""The simulated account: its records, the indexes that keep list requests
fast on the large scenario, and the one lock that guards them.

Records hold internal values (epoch seconds, ID lists); render.py turns them
into PagerDuty's JSON. Every change of an incident's status goes through
Account methods so the indexes (open incidents per service, open incident per
key, open alert per dedup key) stay true.
"""

import bisect
import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Optional

from .ids import IdFactory

# Roles that may not write anything (403, code 2010, on any non-GET).
READ_ONLY_ROLES = frozenset({"observer", "read_only_user", "read_only_limited_user", "read_only"})
USER_ROLES = ("admin", "owner", "user", "limited_user", "observer", "restricted_access",
              "read_only_user", "read_only_limited_user")
OPEN_STATUSES = ("triggered", "acknowledged")
SERVICE_STATUSES = ("active", "warning", "critical", "maintenance", "disabled")


@dataclass
class User:
    id: str
    name: str
    email: str
    role: str
    team_ids: list
    job_title: str = ""
    color: str = "green"
    time_zone: str = "Etc/UTC"


@dataclass
class Team:
    id: str
    name: str
    description: str = ""


@dataclass
class Integration:
    id: str
    name: str
    routing_key: str
    type: str = "events_api_v2_inbound_integration"


@dataclass
class Service:
    id: str
    name: str
    description: str
    team_ids: list
    escalation_policy_id: str
    created_at: float
    integrations: list = field(default_factory=list)
    disabled: bool = False
    acknowledgement_timeout: Optional[int] = 1800
    auto_resolve_timeout: Optional[int] = 14400
    last_incident_at: Optional[float] = None


@dataclass
class Layer:
    id: str
    name: str
    start: float
    rotation_virtual_start: float
    turn_seconds: int
    user_ids: list
    restrictions: list = field(default_factory=list)   # PagerDuty restriction dicts
    end: Optional[float] = None


@dataclass
class Override:
    id: str
    user_id: str
    start: float
    end: float


@dataclass
class Schedule:
    id: str
    name: str
    description: str
    team_ids: list
    layers: list                      # index order = priority order, last wins
    overrides: list = field(default_factory=list)
    time_zone: str = "Etc/UTC"


@dataclass
class ShiftEvent:
    """One recurring shift of a shift-based ("v3") schedule's rotation: an
    occurrence every `period` seconds from `start`, lasting `duration`, handed
    to `member_ids` in turn (`shifts_per_member` occurrences each); None in
    member_ids is an empty member (nobody). Occurrences start inside
    [effective_since, effective_until)."""
    id: str
    name: str
    start: float
    duration: int
    period: int
    member_ids: list
    effective_since: float
    effective_until: Optional[float] = None
    shifts_per_member: int = 1


@dataclass
class Rotation:
    id: str
    events: list                      # [ShiftEvent]


@dataclass
class ScheduleV3:
    """A shift-based schedule (GET /v3/schedules). Its rotations overlap
    freely: everyone with a shift at a moment is on call then."""
    id: str
    name: str
    description: str
    team_ids: list
    rotations: list                   # [Rotation]
    time_zone: str = "Etc/UTC"


@dataclass
class Rule:
    id: str
    delay_minutes: int
    targets: list                     # [("user_reference"|"schedule_reference"|"schedule_v3_reference", id)]


@dataclass
class EscalationPolicy:
    id: str
    name: str
    description: str
    num_loops: int
    rules: list
    team_ids: list


@dataclass
class MaintenanceWindow:
    id: str
    sequence_number: int
    start: float
    end: float
    description: str
    service_ids: list
    created_by: Optional[str] = None


@dataclass
class Alert:
    id: str
    alert_key: str
    incident_id: str
    service_id: str
    integration_id: Optional[str]
    status: str                       # triggered | resolved
    severity: str
    summary: str
    created_at: float
    resolved_at: Optional[float] = None
    body: dict = field(default_factory=dict)


@dataclass
class Note:
    id: str
    incident_id: str
    user_id: Optional[str]
    content: str
    created_at: float


@dataclass
class LogEntry:
    id: str
    type: str                         # trigger_log_entry, acknowledge_log_entry, ...
    created_at: float
    summary: str
    agent: Optional[tuple] = None     # ("user_reference", id) | ("service_reference", id)
    channel: str = "api"
    # Set by Account.log_entry: what the account-wide GET /log_entries shows and
    # filters on (the incident, its service and teams when the entry was written).
    incident_id: Optional[str] = None
    service_id: Optional[str] = None
    team_ids: list = field(default_factory=list)


@dataclass
class Incident:
    id: str
    number: int
    title: str
    status: str
    urgency: str
    incident_key: Optional[str]
    service_id: str
    escalation_policy_id: str
    team_ids: list
    created_at: float
    updated_at: float
    last_status_change_at: float
    resolved_at: Optional[float] = None
    assignments: list = field(default_factory=list)      # [(user_id, at)]
    acknowledgements: list = field(default_factory=list)  # [(user_id, at)]
    last_status_change_by: Optional[tuple] = None        # (ref type, id)
    details: Optional[str] = None
    resolution: Optional[str] = None
    alert_ids: list = field(default_factory=list)
    note_ids: list = field(default_factory=list)
    log: list = field(default_factory=list)
    merged_into: Optional[str] = None  # the target when resolved by a merge (resolve_reason)


@dataclass
class Token:
    token: str
    kind: str                         # user | account
    user_id: Optional[str]
    role: str
    revoked: bool = False
    label: str = ""


@dataclass
class EventRecord:
    seq: int
    received_at: float
    event_action: str
    dedup_key: Optional[str]
    service_id: Optional[str]
    result: str                       # created | merged | acknowledged | resolved | dropped
    incident_id: Optional[str] = None
    severity: Optional[str] = None
    summary: Optional[str] = None


class Account:
    """All of one simulated PagerDuty account. Callers hold `lock` around any
    read that must be consistent and around every change."""

    def __init__(self, seed, now):
        self.lock = threading.RLock()
        self.ids = IdFactory(seed)
        self.seed = seed
        self.created_now = now
        self.abilities = ["teams", "read_only_users", "service_support_hours", "urgencies",
                          "teams_v2", "advanced_permissions"]
        self.users = {}
        self.teams = {}
        self.services = {}
        self.schedules = {}               # layer-based (GET /schedules)
        self.schedules_v3 = {}            # shift-based (GET /v3/schedules); IDs shared with schedules
        self.policies = {}
        self.maintenance_windows = {}
        self.incidents = {}
        self.alerts = {}
        self.notes = {}
        self.tokens = {}
        self.events = []
        self.manager_token = None
        # Indexes.
        self.incidents_by_created = []          # sorted [(created_at, id)]
        self.open_by_service = {}               # service_id -> set(incident ids)
        self.open_by_key = {}                   # (service_id, incident_key) -> incident id
        self.open_alert_by_key = {}             # (service_id, alert_key) -> alert id
        self.integration_by_key = {}            # routing key -> (service_id, integration id)
        self.user_by_email = {}
        self.log = []                           # every incident's log entries, in the order written
        self._next_incident_number = 1
        # What PUT status=resolved answers for an incident already resolved: unknown for the
        # real service (doc/pagerduty-api.md, "Where the real service differs"); 400
        # (code 1001) is the harsher default. POST /_sim/behaviour.
        self.resolve_resolved_status = 400

    # -- creation helpers used by scenarios and handlers -------------------
    def add_user(self, user):
        self.users[user.id] = user
        self.user_by_email[user.email.lower()] = user

    def add_service(self, service):
        self.services[service.id] = service
        self.open_by_service.setdefault(service.id, set())
        for integ in service.integrations:
            self.integration_by_key[integ.routing_key] = (service.id, integ.id)

    def add_token(self, token):
        self.tokens[token.token] = token

    def new_incident(self, service, title, urgency, created_at, incident_key=None, status="triggered",
                     agent=None, details=None, assignees=None, channel="api", bulk=False):
        """Open (or seed) an incident on `service`; returns it. Resolved and
        acknowledged states are reached through set_status so logs stay true."""
        inc = Incident(
            id=self.ids.object_id(), number=self._next_incident_number, title=title,
            status="triggered", urgency=urgency, incident_key=incident_key,
            service_id=service.id, escalation_policy_id=service.escalation_policy_id,
            team_ids=list(service.team_ids), created_at=created_at, updated_at=created_at,
            last_status_change_at=created_at, details=details,
            last_status_change_by=agent or ("service_reference", service.id))
        self._next_incident_number += 1
        inc.assignments = [(uid, created_at) for uid in (assignees or [])]
        self.log_entry(inc, LogEntry(self.ids.long_id(), "trigger_log_entry", created_at,
                                "Triggered through the API" if channel == "api" else "Triggered through the website",
                                agent or ("service_reference", service.id), channel))
        self.incidents[inc.id] = inc
        if bulk:    # scenario generation: sorted once by finish_bulk()
            self.incidents_by_created.append((created_at, inc.id))
        else:
            bisect.insort(self.incidents_by_created, (created_at, inc.id))
        self.open_by_service[service.id].add(inc.id)
        if incident_key is not None:
            self.open_by_key[(service.id, incident_key)] = inc.id
        if service.last_incident_at is None or created_at > service.last_incident_at:
            service.last_incident_at = created_at
        if status != "triggered":
            user_id = agent[1] if agent and agent[0] == "user_reference" else None
            self.set_status(inc, status, created_at, user_id=user_id, agent=agent)
        return inc

    def log_entry(self, inc, entry):
        """Records a change of `inc` in its log and in the account-wide log."""
        entry.incident_id = inc.id
        entry.service_id = inc.service_id
        entry.team_ids = list(inc.team_ids)
        inc.log.append(entry)
        self.log.append(entry)

    def change_urgency(self, inc, urgency, at, actor_id):
        """PUT urgency on an open incident: an urgency_change_log_entry (schema)."""
        if urgency == inc.urgency:
            return
        inc.urgency = urgency
        inc.updated_at = at
        self.log_entry(inc, LogEntry(self.ids.long_id(), "urgency_change_log_entry", at,
                                     "Urgency changed to %s" % urgency, ("user_reference", actor_id)))

    def move(self, inc, service, at, actor_id):
        """Moves an open incident to another service (the web UI's "Move to another
        service"): it takes the service's escalation policy and teams, its alerts and
        key follow. The account-wide log's schema has no entry type for it; the
        simulator writes an assign_log_entry carrying the NEW service and teams [I]."""
        old = inc.service_id
        if old == service.id or inc.status == "resolved":
            return
        self.open_by_service[old].discard(inc.id)
        self.open_by_service[service.id].add(inc.id)
        if inc.incident_key is not None:
            if self.open_by_key.get((old, inc.incident_key)) == inc.id:
                del self.open_by_key[(old, inc.incident_key)]
            self.open_by_key.setdefault((service.id, inc.incident_key), inc.id)
        for aid in inc.alert_ids:
            alert = self.alerts[aid]
            if alert.status != "resolved" and self.open_alert_by_key.get((old, alert.alert_key)) == aid:
                del self.open_alert_by_key[(old, alert.alert_key)]
                self.open_alert_by_key.setdefault((service.id, alert.alert_key), aid)
            alert.service_id = service.id
        inc.service_id = service.id
        inc.escalation_policy_id = service.escalation_policy_id
        inc.team_ids = list(service.team_ids)
        inc.updated_at = at
        self.log_entry(inc, LogEntry(self.ids.long_id(), "assign_log_entry", at,
                                     "Moved from %s to %s" % (self.services[old].name, service.name),
                                     ("user_reference", actor_id)))

    def finish_bulk(self):
        self.incidents_by_created.sort()

    def set_status(self, inc, status, at, user_id=None, agent=None, resolution=None):
        """Move an incident to acknowledged/resolved/triggered, keeping indexes."""
        if status == inc.status:
            return
        agent = agent or (("user_reference", user_id) if user_id else ("service_reference", inc.service_id))
        inc.status = status
        inc.updated_at = at
        inc.last_status_change_at = at
        inc.last_status_change_by = agent
        if status == "acknowledged":
            if user_id:
                inc.acknowledgements.append((user_id, at))
            self.log_entry(inc, LogEntry(self.ids.long_id(), "acknowledge_log_entry", at, "Acknowledged", agent))
        elif status == "resolved":
            inc.resolved_at = at
            inc.resolution = resolution
            inc.assignments = []
            inc.acknowledgements = []
            self.open_by_service[inc.service_id].discard(inc.id)
            if inc.incident_key is not None and self.open_by_key.get((inc.service_id, inc.incident_key)) == inc.id:
                del self.open_by_key[(inc.service_id, inc.incident_key)]
            for aid in inc.alert_ids:
                alert = self.alerts[aid]
                if alert.status != "resolved":
                    alert.status = "resolved"
                    alert.resolved_at = at
                    if self.open_alert_by_key.get((alert.service_id, alert.alert_key)) == aid:
                        del self.open_alert_by_key[(alert.service_id, alert.alert_key)]
            self.log_entry(inc, LogEntry(self.ids.long_id(), "resolve_log_entry", at,
                                    "Resolved" + (": " + resolution if resolution else ""), agent))
        elif status == "triggered":   # seeding; the API reopens through reopen()
            inc.resolved_at = None
            self.open_by_service[inc.service_id].add(inc.id)

    def reopen(self, inc, status, at, actor_id, assignees):
        """PUT status triggered|acknowledged on a resolved incident reopens it (the
        OpenAPI description of PUT /incidents/{id}): triggered is assigned to `assignees`
        (the escalation policy), acknowledged to the acting user. Its alerts stay resolved
        [I]; the incident_key index is taken back unless another open incident holds it."""
        agent = ("user_reference", actor_id)
        inc.status = status
        inc.resolved_at = None
        inc.resolution = None
        inc.merged_into = None
        inc.updated_at = inc.last_status_change_at = at
        inc.last_status_change_by = agent
        self.open_by_service[inc.service_id].add(inc.id)
        if inc.incident_key is not None:
            self.open_by_key.setdefault((inc.service_id, inc.incident_key), inc.id)
        if status == "acknowledged":
            inc.assignments = [(actor_id, at)]
            inc.acknowledgements = [(actor_id, at)]
            self.log_entry(inc, LogEntry(self.ids.long_id(), "acknowledge_log_entry", at, "Reopened and acknowledged",
                                    agent))
        else:
            inc.assignments = [(uid, at) for uid in assignees]
            inc.acknowledgements = []
            self.log_entry(inc, LogEntry(self.ids.long_id(), "trigger_log_entry", at, "Reopened", agent))

    def unacknowledge(self, inc, at, actor_id):
        """PUT status triggered on an acknowledged incident."""
        agent = ("user_reference", actor_id)
        inc.status = "triggered"
        inc.acknowledgements = []
        inc.updated_at = inc.last_status_change_at = at
        inc.last_status_change_by = agent
        self.log_entry(inc, LogEntry(self.ids.long_id(), "unacknowledge_log_entry", at, "Unacknowledged", agent))

    def merge(self, target, sources, at, actor_id):
        """PUT /incidents/{id}/merge: the sources' alerts move to the target and the
        sources are resolved with resolve_reason {merge_resolve_reason, target}. A source
        without alerts (created through REST or the web UI) becomes one alert of the target
        keyed by its incident_key [I], so incident_key lookups find the target afterwards."""
        for src in sources:
            for aid in src.alert_ids:
                alert = self.alerts[aid]
                alert.incident_id = target.id
                target.alert_ids.append(aid)
                if alert.status != "resolved":
                    if self.open_alert_by_key.get((alert.service_id, alert.alert_key)) == aid \
                            and alert.service_id != target.service_id:
                        del self.open_alert_by_key[(alert.service_id, alert.alert_key)]
                        self.open_alert_by_key[(target.service_id, alert.alert_key)] = aid
                    alert.service_id = target.service_id
            if not src.alert_ids and src.incident_key is not None and src.status != "resolved":
                self.add_alert(target, None, src.incident_key, "critical" if src.urgency == "high" else "warning",
                               src.title, at, {})
            src.alert_ids = []
            self.set_status(src, "resolved", at, user_id=actor_id)
            src.merged_into = target.id
            src.log[-1].summary = "Resolved by merge into #%d" % target.number
            target.updated_at = at

    def add_note(self, inc, user_id, content, at):
        note = Note(self.ids.object_id(), inc.id, user_id, content, at)
        self.notes[note.id] = note
        inc.note_ids.append(note.id)
        self.log_entry(inc, LogEntry(self.ids.long_id(), "annotate_log_entry", at, "Note added",
                                ("user_reference", user_id) if user_id else None))
        return note

    def add_alert(self, inc, integration_id, alert_key, severity, summary, at, body):
        alert = Alert(self.ids.long_id(), alert_key, inc.id, inc.service_id, integration_id,
                      "triggered", severity, summary, at, None, body)
        self.alerts[alert.id] = alert
        inc.alert_ids.append(alert.id)
        self.open_alert_by_key[(inc.service_id, alert_key)] = alert.id
        return alert

    # -- derived views ------------------------------------------------------
    def ongoing_windows(self, now, service_id=None):
        return [w for w in self.maintenance_windows.values()
                if w.start <= now < w.end and (service_id is None or service_id in w.service_ids)]

    def service_status(self, service, now):
        """PagerDuty's rule: disabled and maintenance win; otherwise any
        triggered incident -> critical, any acknowledged -> warning, else active."""
        if service.disabled:
            return "disabled"
        if self.ongoing_windows(now, service.id):
            return "maintenance"
        statuses = {self.incidents[i].status for i in self.open_by_service.get(service.id, ())}
        if "triggered" in statuses:
            return "critical"
        if "acknowledged" in statuses:
            return "warning"
        return "active"

    def services_of_policy(self, policy_id):
        return [s for s in self.services.values() if s.escalation_policy_id == policy_id]

    def policies_of_schedule(self, schedule_id):
        return [p for p in self.policies.values()
                if any(t in (("schedule_reference", schedule_id), ("schedule_v3_reference", schedule_id))
                       for r in p.rules for t in r.targets)]

    def find_incident(self, ref):
        """An incident by ID, or by number (the web UI's #1234)."""
        inc = self.incidents.get(ref)
        if inc is None and isinstance(ref, str) and ref.isdigit():
            number = int(ref)
            inc = next((i for i in self.incidents.values() if i.number == number), None)
        return inc

    def snapshot(self):
        """Everything, as plain JSON-able dicts (GET /_sim/state)."""
        def plain(obj):
            return dataclasses.asdict(obj)

        incidents = []
        for _, iid in self.incidents_by_created:
            inc = self.incidents[iid]
            d = plain(inc)
            d["notes"] = [plain(self.notes[n]) for n in inc.note_ids]
            incidents.append(d)
        return {
            "seed": self.seed,
            "users": [plain(u) for u in self.users.values()],
            "teams": [plain(t) for t in self.teams.values()],
            "services": [plain(s) for s in self.services.values()],
            "incidents": incidents,
            "notes": [plain(n) for n in self.notes.values()],
            "schedules": [plain(s) for s in self.schedules.values()],
            "schedules_v3": [plain(s) for s in self.schedules_v3.values()],
            "escalation_policies": [plain(p) for p in self.policies.values()],
            "maintenance_windows": [plain(w) for w in self.maintenance_windows.values()],
            "events": [plain(e) for e in self.events],
            "alerts": [plain(a) for a in self.alerts.values()],
        }
