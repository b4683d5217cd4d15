# SPDX-License-Identifier: MIT
"""Internal records -> PagerDuty REST JSON, shaped like the official examples
(examples/*.json) and the OpenAPI schemas. `self` links point at the simulator
itself; `html_url` at a fictitious web subdomain."""

from .timeutil import fmt
from .timeutil import fmt as timefmt
from . import oncall

HTML_BASE = "https://pdsim.pagerduty.com"
_HTML_PATH = {"service": "service-directory", "maintenance_window": "service-directory/maintenance-windows"}
_COLLECTION = {"service": "services", "user": "users", "team": "teams", "schedule": "schedules",
               "schedule_v3": "v3/schedules",
               "escalation_policy": "escalation_policies", "incident": "incidents",
               "maintenance_window": "maintenance_windows"}


class Renderer:
    def __init__(self, account, base_url, now):
        self.a = account
        self.base = base_url.rstrip("/")
        self.now = now

    # -- references ---------------------------------------------------------
    def _links(self, kind, oid):
        coll = _COLLECTION[kind]
        return {"self": "%s/%s/%s" % (self.base, coll, oid),
                "html_url": "%s/%s/%s" % (HTML_BASE, _HTML_PATH.get(kind, coll), oid)}

    def ref(self, kind, oid):
        summary = self._summary(kind, oid)
        d = {"id": oid, "type": kind + "_reference", "summary": summary}
        d.update(self._links(kind, oid))
        return d

    def _summary(self, kind, oid):
        table = {"service": self.a.services, "user": self.a.users, "team": self.a.teams,
                 "schedule": self.a.schedules, "schedule_v3": self.a.schedules_v3,
                 "escalation_policy": self.a.policies}.get(kind)
        if kind == "incident":
            inc = self.a.incidents.get(oid)
            return "[#%d] %s" % (inc.number, inc.title) if inc else oid
        obj = table.get(oid) if table is not None else None
        if obj is None and kind == "schedule":   # GET /oncalls names shift-based ones too
            obj = self.a.schedules_v3.get(oid)
        return getattr(obj, "name", oid)

    def target_ref(self, ttype, oid):
        kind = {"user_reference": "user", "schedule_v3_reference": "schedule_v3"}.get(ttype, "schedule")
        return self.ref(kind, oid)

    def agent_ref(self, agent):
        if not agent:
            return None
        return self.ref("user" if agent[0] == "user_reference" else "service", agent[1])

    # -- objects -------------------------------------------------------------
    def team(self, t):
        d = {"id": t.id, "type": "team", "summary": t.name, "name": t.name,
             "description": t.description, "default_role": "manager", "parent": None}
        d.update(self._links("team", t.id))
        return d

    def user(self, u):
        d = {"id": u.id, "type": "user", "summary": u.name, "name": u.name, "email": u.email,
             "time_zone": u.time_zone, "color": u.color, "role": u.role,
             "avatar_url": "https://secure.gravatar.com/avatar/%s.png?d=mm&r=PG" % u.id.lower(),
             "description": None, "invitation_sent": False, "job_title": u.job_title,
             "created_via_sso": False,
             "teams": [self.ref("team", t) for t in u.team_ids],
             "contact_methods": [{"id": "C" + u.id[1:], "type": "email_contact_method_reference",
                                  "summary": "Default",
                                  "self": "%s/users/%s/contact_methods/C%s" % (self.base, u.id, u.id[1:]),
                                  "html_url": None}],
             "notification_rules": [{"id": "N" + u.id[1:], "type": "assignment_notification_rule_reference",
                                     "summary": "0 minutes: channel C%s" % u.id[1:],
                                     "self": "%s/users/%s/notification_rules/N%s" % (self.base, u.id, u.id[1:]),
                                     "html_url": None}]}
        d.update(self._links("user", u.id))
        return d

    def service(self, s):
        d = {"id": s.id, "type": "service", "summary": s.name, "name": s.name,
             "description": s.description,
             "auto_resolve_timeout": s.auto_resolve_timeout,
             "acknowledgement_timeout": s.acknowledgement_timeout,
             "created_at": fmt(s.created_at),
             "status": self.a.service_status(s, self.now),
             "last_incident_timestamp": fmt(s.last_incident_at),
             "alert_creation": "create_alerts_and_incidents",
             "alert_grouping_parameters": {"type": None},
             "integrations": [{"id": i.id, "type": i.type + "_reference", "summary": i.name,
                               "self": "%s/services/%s/integrations/%s" % (self.base, s.id, i.id),
                               "html_url": "%s/services/%s/integrations/%s" % (HTML_BASE, s.id, i.id)}
                              for i in s.integrations],
             "escalation_policy": self.ref("escalation_policy", s.escalation_policy_id),
             "teams": [self.ref("team", t) for t in s.team_ids],
             "incident_urgency_rule": {"type": "constant", "urgency": "high"},
             "scheduled_actions": [],
             "addons": [],
             "auto_pause_notifications_parameters": {"enabled": False}}
        d.update(self._links("service", s.id))
        return d

    def log_entry(self, e, includes=()):
        """One log entry (schema LogEntry); include[] embeds the incident and
        service as they are NOW [U: doc/pagerduty-api.md], the teams, the channel's detail."""
        inc = self.a.incidents[e.incident_id]
        service = self.a.services.get(e.service_id)
        d = {"id": e.id, "type": e.type, "summary": e.summary,
             "self": "%s/log_entries/%s?incident_id=%s" % (self.base, e.id, inc.id),
             "html_url": "%s/incidents/%s/log_entries/%s" % (HTML_BASE, inc.id, e.id),
             "created_at": timefmt(e.created_at),
             "agent": self.agent_ref(e.agent),
             "channel": {"type": e.channel},
             "service": (self.service(service) if "services" in includes and service
                         else self.ref("service", e.service_id)),
             "incident": self.incident(inc) if "incidents" in includes else self.ref("incident", inc.id),
             "teams": [self.team(self.a.teams[t]) if "teams" in includes else self.ref("team", t)
                       for t in e.team_ids],
             "contexts": [],
             "event_details": {"description": e.summary}}
        if "channels" in includes:
            d["channel"]["summary"] = e.summary
        return d

    def incident(self, inc, zone=None):
        """zone (a tzinfo): the times in that zone's offset; None: UTC 'Z'."""
        def fmt(ts):
            return timefmt(ts, zone)
        first = inc.log[0] if inc.log else None
        alerts = [self.a.alerts[x] for x in inc.alert_ids]
        triggered = sum(1 for x in alerts if x.status == "triggered")
        d = {"id": inc.id, "type": "incident",
             "summary": "[#%d] %s" % (inc.number, inc.title),
             "incident_number": inc.number, "title": inc.title,
             "description": inc.title,
             "created_at": fmt(inc.created_at), "updated_at": fmt(inc.updated_at),
             "status": inc.status, "incident_key": inc.incident_key,
             "service": self.ref("service", inc.service_id),
             "assignments": [{"at": fmt(at), "assignee": self.ref("user", uid)} for uid, at in inc.assignments],
             "assigned_via": "escalation_policy",
             "last_status_change_at": fmt(inc.last_status_change_at),
             "resolved_at": fmt(inc.resolved_at),
             "first_trigger_log_entry": None if first is None else {
                 "id": first.id, "type": "trigger_log_entry_reference", "summary": first.summary,
                 "self": "%s/log_entries/%s?incident_id=%s" % (self.base, first.id, inc.id),
                 "html_url": "%s/incidents/%s/log_entries/%s" % (HTML_BASE, inc.id, first.id)},
             "alert_counts": {"all": len(alerts), "triggered": triggered, "resolved": len(alerts) - triggered},
             "is_mergeable": True,
             "incident_type": {"name": "incident_default"},
             "escalation_policy": self.ref("escalation_policy", inc.escalation_policy_id),
             "teams": [self.ref("team", t) for t in inc.team_ids],
             "pending_actions": [],
             "acknowledgements": [{"at": fmt(at), "acknowledger": self.ref("user", uid)}
                                  for uid, at in inc.acknowledgements],
             "last_status_change_by": self.agent_ref(inc.last_status_change_by),
             "resolve_reason": None if inc.merged_into is None else {
                 "type": "merge_resolve_reason", "incident": self.ref("incident", inc.merged_into)},
             "incidents_responders": [],
             "responder_requests": [],
             "urgency": inc.urgency}
        # priority, conference_bridge and alert_grouping appear only when set
        # (the simulator never sets them); the body is not part of responses.
        d.update(self._links("incident", inc.id))
        return d

    def note(self, n):
        return {"id": n.id,
                "user": self.ref("user", n.user_id) if n.user_id else None,
                "channel": {"summary": "The PagerDuty website or APIs"},
                "content": n.content,
                "created_at": fmt(n.created_at), "updated_at": fmt(n.created_at)}

    def alert(self, al):
        d = {"id": al.id, "type": "alert", "summary": al.summary,
             "self": "%s/alerts/%s" % (self.base, al.id),
             "html_url": "%s/alerts/%s" % (HTML_BASE, al.id),
             "created_at": fmt(al.created_at), "status": al.status, "alert_key": al.alert_key,
             "service": self.ref("service", al.service_id),
             "incident": self.ref("incident", al.incident_id),
             "suppressed": False, "severity": al.severity,
             "integration": None if al.integration_id is None else {
                 "id": al.integration_id, "type": "events_api_v2_inbound_integration_reference",
                 "summary": "Events API v2"},
             "body": {"type": "alert_body", "contexts": [], "details": al.body}}
        return d

    def escalation_policy(self, p):
        d = {"id": p.id, "type": "escalation_policy", "summary": p.name, "name": p.name,
             "description": p.description, "on_call_handoff_notifications": "if_has_services",
             "num_loops": p.num_loops,
             "escalation_rules": [{"id": r.id, "escalation_delay_in_minutes": r.delay_minutes,
                                   "targets": [self.target_ref(tt, tid) for tt, tid in r.targets]}
                                  for r in p.rules],
             "services": [self.ref("service", s.id) for s in sorted(self.a.services_of_policy(p.id),
                                                                     key=lambda s: s.name)],
             "teams": [self.ref("team", t) for t in p.team_ids]}
        d.update(self._links("escalation_policy", p.id))
        return d

    def _entries(self, entries):
        return [{"start": fmt(s), "end": fmt(e), "user": self.ref("user", u)} for s, e, u in entries]

    def schedule(self, sch, since=None, until=None, full=True):
        """With since/until the layers, overrides and final schedule are rendered
        for exactly [since, until); without, the entries are empty and the
        coverage percentage is null."""
        user_ids = []
        for layer in sch.layers:
            for u in layer.user_ids:
                if u not in user_ids:
                    user_ids.append(u)
        d = {"id": sch.id, "type": "schedule", "summary": sch.name, "name": sch.name,
             "time_zone": sch.time_zone, "description": sch.description,
             "escalation_policies": [self.ref("escalation_policy", p.id)
                                     for p in self.a.policies_of_schedule(sch.id)],
             "users": [self.ref("user", u) for u in user_ids],
             "teams": [self.ref("team", t) for t in sch.team_ids]}
        d.update(self._links("schedule", sch.id))
        if not full:
            return d
        rendered = since is not None and until is not None

        def sub(name, entries):
            return {"name": name,
                    "rendered_schedule_entries": self._entries(entries) if rendered else [],
                    "rendered_coverage_percentage":
                        oncall.coverage_percentage(entries, since, until) if rendered else None}

        layers = []
        for layer in reversed(sch.layers):   # PagerDuty lists the highest layer first
            entries = oncall.render_layer(layer, since, until) if rendered else []
            ld = {"id": layer.id, "name": layer.name, "start": fmt(layer.start), "end": fmt(layer.end),
                  "rotation_virtual_start": fmt(layer.rotation_virtual_start),
                  "rotation_turn_length_seconds": layer.turn_seconds,
                  "users": [{"user": self.ref("user", u)} for u in layer.user_ids],
                  "restrictions": [dict(r) for r in layer.restrictions]}
            ld.update({k: v for k, v in sub(layer.name, entries).items() if k != "name"})
            layers.append(ld)
        d["schedule_layers"] = layers
        d["overrides_subschedule"] = sub("Overrides", oncall.render_overrides(sch, since, until) if rendered else [])
        d["final_schedule"] = sub("Final Schedule", oncall.render_final(sch, since, until) if rendered else [])
        return d

    # -- shift-based ("v3") schedules --
    # (doc/pagerduty-api.md, "Where the real service differs")
    def schedule_v3_ref(self, sch):
        """An item of GET /v3/schedules: a reference, nothing more."""
        return self.ref("schedule_v3", sch.id)

    @staticmethod
    def _zoned(t, zone):
        return {"date_time": fmt(t), "time_zone": zone}

    def _member(self, user_id):
        return {"type": "user_member", "user_id": user_id} if user_id else {"type": "empty_member"}

    def _rotation(self, sch, rot):
        events = []
        for ev in rot.events:
            days, rest = divmod(ev.period, 86400)
            rule = ("RRULE:FREQ=DAILY;INTERVAL=%d" % days) if rest == 0 and days else \
                ("RRULE:FREQ=HOURLY;INTERVAL=%d" % max(1, ev.period // 3600))
            events.append({
                "id": ev.id, "type": "rotation_event", "name": ev.name,
                "start_time": self._zoned(ev.start, sch.time_zone),
                "end_time": self._zoned(ev.start + ev.duration, sch.time_zone),
                "effective_since": fmt(ev.effective_since),
                "effective_until": fmt(ev.effective_until),
                "recurrence": [rule],
                "assignment_strategy": {"type": "rotating_member_assignment_strategy",
                                        "shifts_per_member": ev.shifts_per_member,
                                        "members": [self._member(u) for u in ev.member_ids]}})
        return {"id": rot.id, "type": "rotation", "events": events}

    def schedule_v3(self, sch, since=None, until=None):
        """GET /v3/schedules/{id}; final_schedule for [since, until) when both
        are given (the caller asked include[]=final_schedule)."""
        d = {"id": sch.id, "type": "schedule_v3", "summary": sch.name, "name": sch.name,
             "description": sch.description, "time_zone": sch.time_zone,
             "teams": [self.ref("team", t) for t in sch.team_ids],
             "escalation_policies": [self.ref("escalation_policy", p.id)
                                     for p in self.a.policies_of_schedule(sch.id)],
             "rotations": [self._rotation(sch, r) for r in sch.rotations]}
        d.update(self._links("schedule_v3", sch.id))
        if since is not None and until is not None:
            final = oncall.v3_final(sch, since, until)
            d["final_schedule"] = {
                "type": "final_schedule",
                "rendered_coverage_percentage": oncall.coverage_percentage(
                    [(s, e, u) for s, e, u, _ in final], since, until),
                "computed_shift_assignments": [{
                    "type": "computed_shift_assignment", "start_time": fmt(s), "end_time": fmt(e),
                    "member": self._member(u),
                    "source": {"type": "rotation", "rotation_id": rot} if rot else None}
                    for s, e, u, rot in final]}
        return d

    def maintenance_window(self, w):
        teams = []
        for sid in w.service_ids:
            svc = self.a.services.get(sid)
            for t in (svc.team_ids if svc else []):
                if t not in teams:
                    teams.append(t)
        d = {"id": w.id, "type": "maintenance_window", "summary": w.description,
             "sequence_number": w.sequence_number,
             "start_time": fmt(w.start), "end_time": fmt(w.end), "description": w.description,
             "services": [self.ref("service", s) for s in w.service_ids],
             "teams": [self.ref("team", t) for t in teams],
             "created_by": self.ref("user", w.created_by) if w.created_by else None}
        d.update(self._links("maintenance_window", w.id))
        return d

    def oncall_entry(self, policy, level, schedule_id, user_id, start, end):
        return {"escalation_policy": self.ref("escalation_policy", policy.id),
                "escalation_level": level,
                "schedule": self.ref("schedule", schedule_id) if schedule_id else None,
                "user": self.ref("user", user_id),
                "start": fmt(start), "end": fmt(end)}
