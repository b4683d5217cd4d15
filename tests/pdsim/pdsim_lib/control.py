# SPDX-License-Identifier: MIT
"""The /_sim/ control interface (tests only; no authentication; never in the
request log). See README.md for the contract."""

import re

from . import scenarios, timeutil
from .errors import ApiError
from .model import READ_ONLY_ROLES, SERVICE_STATUSES, USER_ROLES, MaintenanceWindow, Token

_SERVICE_RE = re.compile(r"^/_sim/services/([A-Za-z0-9]+)$")


def _bad(message):
    return ApiError(400, {"error": message})


def _token_json(account, t):
    user = account.users.get(t.user_id) if t.user_id else None
    return {"token": t.token, "kind": t.kind, "user_id": t.user_id, "role": t.role,
            "email": user.email if user else None, "name": user.name if user else None,
            "revoked": t.revoked, "label": t.label}


def _time_value(value, name):
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return timeutil.parse(value)
    except (ValueError, TypeError):
        raise _bad("%s must be an ISO 8601 time or epoch seconds" % name)


def handle(sim, method, path, query, body):
    """-> (status, JSON body)."""
    a = sim.account
    if path == "/_sim/health" and method == "GET":
        return 200, {"ok": True, "scenario": sim.scenario, "seed": sim.seed}
    if path == "/_sim/reset" and method == "POST":
        body = body or {}
        scenario = body.get("scenario", sim.scenario)
        seed = body.get("seed", sim.seed)
        if scenario not in scenarios.SCENARIOS:
            raise _bad("scenario must be one of demo, large, random")
        sim.reset(scenario, seed)
        return 200, {"ok": True, "scenario": scenario, "seed": seed,
                     "token": sim.account.manager_token}
    if path == "/_sim/tokens" and method == "GET":
        with a.lock:
            keys = [{"service_id": s.id, "service_name": s.name, "integration_id": i.id,
                     "routing_key": i.routing_key}
                    for s in sorted(a.services.values(), key=lambda s: s.name) for i in s.integrations]
            return 200, {"tokens": [_token_json(a, t) for t in a.tokens.values()], "routing_keys": keys}
    if path == "/_sim/tokens" and method == "POST":
        return _add_token(a, body or {})
    if path == "/_sim/tokens/revoke" and method == "POST":
        with a.lock:
            t = a.tokens.get((body or {}).get("token"))
            if t is None:
                raise ApiError(404, {"error": "unknown token"})
            t.revoked = True
            return 200, {"ok": True}
    if path == "/_sim/faults" and method == "POST":
        try:
            return 200, {"fault": sim.faults.add(body or {})}
        except ValueError as e:
            raise _bad(str(e))
    if path == "/_sim/faults" and method == "GET":
        return 200, {"faults": sim.faults.list()}
    if path == "/_sim/faults" and method == "DELETE":
        sim.faults.clear()
        return 200, {"ok": True}
    if path == "/_sim/requests" and method == "GET":
        try:
            since = int((query.get("since") or ["0"])[-1])
        except ValueError:
            raise _bad("since must be an integer")
        records, nxt = sim.requests.since(since)
        return 200, {"requests": records, "next": nxt}
    if path == "/_sim/requests" and method == "DELETE":
        sim.requests.clear()
        return 200, {"ok": True}
    if path == "/_sim/ratelimit" and method == "POST":
        body = body or {}
        for name, budget in (("per_minute", sim.rest_budget), ("events_per_minute", sim.events_budget)):
            if name in body:
                if not isinstance(body[name], int) or body[name] < 1:
                    raise _bad(name + " must be a positive integer")
                budget.set_limit(body[name])
                budget.clear()
        return 200, {"per_minute": sim.rest_budget.per_minute, "events_per_minute": sim.events_budget.per_minute}
    if path == "/_sim/state" and method == "GET":
        with a.lock:
            state = a.snapshot()
            now = sim.clock.now()
            for s in state["services"]:
                s["status"] = a.service_status(a.services[s["id"]], now)
            state["now"] = now
            state["clock_offset"] = sim.clock.offset
            state["scenario"] = sim.scenario
            return 200, state
    if path == "/_sim/incidents" and method == "POST":
        return _seed_incident(sim, body or {})
    m = _SERVICE_RE.match(path)
    if m and method == "POST":
        return _change_service(sim, m.group(1), body or {})
    if path == "/_sim/clock" and method == "POST":
        offset = (body or {}).get("offset")
        if not isinstance(offset, (int, float)):
            raise _bad("offset must be a number of seconds")
        sim.clock.set_offset(offset)
        return 200, {"offset": sim.clock.offset, "now": timeutil.fmt(sim.clock.now())}
    if path == "/_sim/clock" and method == "GET":
        return 200, {"offset": sim.clock.offset, "now": timeutil.fmt(sim.clock.now())}
    if path == "/_sim/behaviour" and method == "GET":
        return 200, _behaviour_json(sim, a)
    if path == "/_sim/behaviour" and method == "POST":
        return _set_behaviour(sim, a, body)
    if path == "/_sim/churn" and method == "GET":
        return 200, {"per_minute": sim.churn.per_minute, "done": sim.churn.done}
    if path == "/_sim/churn" and method == "POST":
        return _churn(sim, body or {})
    if path == "/_sim/abilities" and method == "POST":
        abilities = (body or {}).get("abilities")
        if not isinstance(abilities, list) or not all(isinstance(x, str) for x in abilities):
            raise _bad("abilities must be a list of names")
        with a.lock:
            a.abilities = list(abilities)
        return 200, {"abilities": a.abilities}
    raise ApiError(404, {"error": "no such control endpoint: %s %s" % (method, path)})


def _churn(sim, body):
    """{"per_minute":N} sets the steady rate (0 stops it); {"changes":N} makes N
    changes now and lists them (tests: a moving account without waiting)."""
    per_minute = body.get("per_minute")
    changes = body.get("changes", 0)
    for name, v in (("per_minute", per_minute), ("changes", changes)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise _bad("%s must be a whole number, 0 or more" % name)
    if changes > 1000:
        raise _bad("changes: at most 1000 at once")
    made = sim.churn.step(changes)
    if per_minute is not None:
        sim.churn.set_rate(per_minute)
    return 200, {"per_minute": sim.churn.per_minute, "done": sim.churn.done, "changes": made}


def _add_token(a, body):
    kind = body.get("kind", "user")
    if kind not in ("user", "account"):
        raise _bad("kind must be user or account")
    with a.lock:
        user = None
        if kind == "user":
            user = a.users.get(body.get("user_id"))
            if user is None:
                raise _bad("user_id must name a user of the scenario")
        role = body.get("role") or (user.role if user else "admin")
        if role not in USER_ROLES and role not in READ_ONLY_ROLES:
            raise _bad("unknown role")
        value = body.get("token") or (a.ids.user_token() if kind == "user" else a.ids.account_key())
        if value in a.tokens:
            raise _bad("token already exists")
        t = Token(value, kind, user.id if user else None, role, False, body.get("label", ""))
        a.add_token(t)
        return 200, {"token": _token_json(a, t)}


def _behaviour_json(sim, a):
    """Every switch: the incident listing's (behaviour.py) and the writes'."""
    return dict(sim.behaviour.as_json(), resolve_resolved=a.resolve_resolved_status)


def _set_behaviour(sim, a, body):
    """Switches for what the real service leaves unknown (README "Unknowns as
    switches"); all are validated before any is set."""
    if not isinstance(body, dict):
        raise _bad("body must be an object of switches")
    changes = dict(body)
    resolve_resolved = changes.pop("resolve_resolved", a.resolve_resolved_status)
    if resolve_resolved not in (200, 400):
        raise _bad("resolve_resolved must be 200 or 400")
    with a.lock:
        try:
            sim.behaviour.update(changes)
        except ValueError as e:
            raise _bad(str(e))
        a.resolve_resolved_status = resolve_resolved
        return 200, _behaviour_json(sim, a)


def _seed_incident(sim, body):
    a = sim.account
    with a.lock:
        service = a.services.get(body.get("service_id"))
        if service is None:
            raise _bad("service_id must name a service")
        status = body.get("status", "triggered")
        urgency = body.get("urgency", "high")
        if status not in ("triggered", "acknowledged", "resolved") or urgency not in ("high", "low"):
            raise _bad("bad status or urgency")
        now = sim.clock.now()
        created = _time_value(body["created_at"], "created_at") if "created_at" in body else now
        key = body.get("incident_key")
        if key is not None and status != "resolved" and (service.id, key) in a.open_by_key:
            raise _bad("an open incident with that incident_key exists on the service")
        manager = a.tokens[a.manager_token].user_id
        inc = a.new_incident(service, body.get("title", "Seeded incident"), urgency, created, incident_key=key)
        if body.get("alert", False) and key:
            a.add_alert(inc, service.integrations[0].id if service.integrations else None, key,
                        "critical" if urgency == "high" else "warning", inc.title, created, {})
        if status != "triggered":
            a.set_status(inc, "acknowledged", created + 1, user_id=manager)
        if status == "resolved":
            a.set_status(inc, "resolved", created + 2, user_id=manager)
        return 200, {"incident": sim.renderer(now).incident(inc)}


def _change_service(sim, service_id, body):
    a = sim.account
    with a.lock:
        service = a.services.get(service_id)
        if service is None:
            raise ApiError(404, {"error": "no such service"})
        now = sim.clock.now()
        status = body.get("status")
        if status is not None:
            if status not in SERVICE_STATUSES:
                raise _bad("status must be one of " + ", ".join(SERVICE_STATUSES))
            if status == "disabled":
                service.disabled = True
            elif status == "maintenance":
                service.disabled = False
                seconds = body.get("seconds", 3600)
                w = MaintenanceWindow(a.ids.object_id(), len(a.maintenance_windows) + 1, now, now + seconds,
                                      "Maintenance (simulator)", [service.id], None)
                a.maintenance_windows[w.id] = w
            else:
                # active/warning/critical follow the open incidents; this ends
                # disabled and any ongoing maintenance of the service.
                service.disabled = False
                for w in a.ongoing_windows(now, service.id):
                    w.end = now
        if "name" in body:
            service.name = str(body["name"])
        if "team_ids" in body:
            service.team_ids = [t for t in body["team_ids"] if t in a.teams]
        return 200, {"service": sim.renderer(now).service(service)}

