# SPDX-License-Identifier: MIT
"""REST API v2 handlers.

Each handler takes a Request (see server.py: method, path, query, headers,
json(), token, user, account, now, renderer) and returns (status, body) or
raises ApiError. Authentication and rate limiting happen before dispatch;
write permission (roles, From) is checked here.
"""

import bisect
import re

from . import behaviour, errors
from .errors import ApiError, invalid_input, not_found, rest_error
from .model import READ_ONLY_ROLES
from .oncall import OncallCalculator
from .pagination import paginate
from . import timeutil

MONTH = 30 * 86400
MAX_NOTES = 2000
MAX_BULK = 250
# Verbatim from the real API (examples/rest_error_400_users_me_account_token.*.json).
ACCOUNT_KEY_ME_ERROR = ("Because this request was made using an account-level access token, we were unable "
                        "to determine the user's identity. Please use a user-level token.")


# -- authentication (called by the server before dispatch) -------------------
AUTH_RE = re.compile(r"^Token token=(\S+)$")


def authenticate(account, header):
    """-> (auth state, Token|None): 'ok', 'missing', 'invalid' or 'revoked'."""
    if header is None:
        return "missing", None
    m = AUTH_RE.match(header)
    if not m:
        return "invalid", None
    tok = account.tokens.get(m.group(1))
    if tok is None:
        return "invalid", None
    if tok.revoked:
        return "revoked", tok
    return "ok", tok


def rate_key(tok):
    """All of a user's tokens share one budget; an account key has its own."""
    return "user:" + tok.user_id if tok.kind == "user" else "key:" + tok.token


# -- helpers ------------------------------------------------------------------
def _values(q, name):
    return [v for v in q.get(name, []) if v != ""]


def _one(q, name):
    v = q.get(name)
    return v[-1] if v else None


def _time_param(q, name, zone=None):
    """A time parameter; one without a zone is read in `zone` (the
    account's time zone for GET /incidents)."""
    v = _one(q, name)
    if v is None or v == "":
        return None
    try:
        return timeutil.parse(v, zone)
    except ValueError:
        raise invalid_input("%s is not a valid ISO 8601 time" % name.capitalize())


def _enum_values(q, name, allowed):
    vals = _values(q, name)
    for v in vals:
        if v not in allowed:
            raise invalid_input("%s has an invalid value: %s" % (name, v))
    return vals


def _visible(req, team_ids):
    """restricted_access users see only objects of their teams."""
    user = req.user
    if user is None or user.role != "restricted_access":
        return True
    return bool(set(team_ids) & set(user.team_ids))


def _require_teams_ability(req):
    if "teams" not in req.account.abilities:
        raise rest_error(402, "Account does not have the abilities to perform the action", 2014,
                         ["Your account does not have the 'teams' ability"])


def _team_filter(req):
    wanted = set(_values(req.query, "team_ids[]"))
    if wanted:
        _require_teams_ability(req)
    return wanted


def _matches_teams(wanted, team_ids):
    return not wanted or bool(wanted & set(team_ids))


def _query_match(q, name):
    text = _one(q, "query")
    return not text or text.lower() in name.lower()


def _sorted_by_name(items, q):
    sort = _one(q, "sort_by") or "name"
    if sort not in ("name", "name:asc", "name:desc"):
        raise invalid_input("sort_by has an invalid value: %s" % sort)
    return sorted(items, key=lambda x: (x.name.lower(), x.id), reverse=sort == "name:desc")


def _body_object(req, key):
    body = req.json()
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise invalid_input("%s must be an object" % key.capitalize().replace("_", " "))
    return body[key]


def _acting_user(req):
    """Who performs a write: the token's user, or the From header's user with an
    account key (required then: 400, code 2011)."""
    if req.token.kind == "user":
        return req.user
    sender = req.headers.get("From")
    if not sender:
        raise rest_error(400, "You must specify a user's email address in the \"From\" header to perform "
                              "this action", 2011)
    user = req.account.user_by_email.get(sender.strip().lower())
    if user is None:
        raise rest_error(400, "The email address specified in the \"From\" header is not a valid user on "
                              "this account", 2011)
    return user


def check_write(req):
    """403 (2010) for read-only roles and read-only keys on any write."""
    if req.token.role in READ_ONLY_ROLES:
        raise errors.access_denied("Your role (%s) does not allow this action" % req.token.role)


def _found_and_visible(req, obj, not_found, code):
    """obj, or a 404 (not_found, code) when it is None, or a 403 when the
    caller's team scope does not see it."""
    if obj is None:
        raise rest_error(404, not_found, code)
    if not _visible(req, obj.team_ids):
        raise errors.access_denied()
    return obj


def _get_incident(req, ref):
    return _found_and_visible(req, req.account.find_incident(ref), "Incident Not Found", 5001)


# -- users, teams, abilities -------------------------------------------------
def users_me(req, m):
    if req.token.kind != "user":
        raise ApiError(400, {"error": ACCOUNT_KEY_ME_ERROR})
    return 200, {"user": req.renderer.user(req.user)}


def list_users(req, m):
    q = req.query
    wanted = _team_filter(req)
    items = [u for u in req.account.users.values()
             if _matches_teams(wanted, u.team_ids) and _query_match(q, u.name + " " + u.email)
             and _visible(req, u.team_ids)]
    items.sort(key=lambda u: (u.name.lower(), u.id))
    return 200, paginate(q, items, "users", req.renderer.user)


def get_user(req, m):
    u = req.account.users.get(m.group(1))
    if u is None or not _visible(req, u.team_ids):
        raise not_found()
    return 200, {"user": req.renderer.user(u)}


def list_teams(req, m):
    _require_teams_ability(req)
    q = req.query
    items = [t for t in req.account.teams.values() if _query_match(q, t.name) and _visible(req, [t.id])]
    items.sort(key=lambda t: (t.name.lower(), t.id))
    return 200, paginate(q, items, "teams", req.renderer.team)


def get_team(req, m):
    t = req.account.teams.get(m.group(1))
    if t is None or not _visible(req, [t.id]):
        raise rest_error(404, "Team Not Found", 6001)
    return 200, {"team": req.renderer.team(t)}


def list_abilities(req, m):
    return 200, {"abilities": list(req.account.abilities)}


def test_ability(req, m):
    if m.group(1) in req.account.abilities:
        return 204, None
    raise rest_error(402, "Account does not have the abilities to perform the action", 2014)


# -- services ------------------------------------------------------------------
def list_services(req, m):
    q = req.query
    wanted = _team_filter(req)
    name = _one(q, "name")
    items = [s for s in req.account.services.values()
             if _matches_teams(wanted, s.team_ids) and _query_match(q, s.name)
             and (name is None or s.name == name) and _visible(req, s.team_ids)]
    return 200, paginate(q, _sorted_by_name(items, q), "services", req.renderer.service)


def get_service(req, m):
    s = _found_and_visible(req, req.account.services.get(m.group(1)), "Service Not Found", 5002)
    return 200, {"service": req.renderer.service(s)}


# -- incidents ---------------------------------------------------------------------
_INCIDENT_SORT_FIELDS = ("incident_number", "created_at", "resolved_at", "urgency")


def _incident_sort(q):
    """sort_by: up to two 'field[:asc|:desc]' (default created_at ascending)."""
    specs = _values(q, "sort_by") or _values(q, "sort_by[]")
    keys = []
    for spec in specs[:2]:
        field, _, direction = spec.partition(":")
        if field not in _INCIDENT_SORT_FIELDS or direction not in ("", "asc", "desc"):
            raise invalid_input("sort_by has an invalid value: %s" % spec)
        keys.append((field, direction == "desc"))
    return keys


def _sort_incidents(items, keys):
    if not keys:
        return items          # already in (created_at, id) order
    for field, desc in reversed(keys + [("id", False)]):
        if field == "incident_number":
            items.sort(key=lambda i: i.number, reverse=desc)
        elif field == "created_at":
            items.sort(key=lambda i: i.created_at, reverse=desc)
        elif field == "resolved_at":
            items.sort(key=lambda i: (i.resolved_at is None, i.resolved_at or 0), reverse=desc)
        elif field == "urgency":
            items.sort(key=lambda i: i.urgency, reverse=desc)
        else:
            items.sort(key=lambda i: i.created_at)
    return items


def _render_zone(req):
    """Incidents render in the request's time_zone, else the account's
    (sim.behaviour; doc/pagerduty-api.md)."""
    name = _one(req.query, "time_zone")
    if not name:
        return req.sim.behaviour.zone
    try:
        return behaviour.zone(name)
    except ValueError:
        raise invalid_input("Time zone is invalid")


def list_incidents(req, m):
    q = req.query
    a = req.account
    now = req.now
    how = req.sim.behaviour
    zone = _render_zone(req)
    statuses = set(_enum_values(q, "statuses[]", ("triggered", "acknowledged", "resolved")))
    urgencies = set(_enum_values(q, "urgencies[]", ("high", "low")))
    service_ids = set(_values(q, "service_ids[]"))
    user_ids = set(_values(q, "user_ids[]"))
    wanted_teams = _team_filter(req)
    key = _one(q, "incident_key")
    date_range = _one(q, "date_range")
    if date_range not in (None, "", "all"):
        raise invalid_input("Date range must be 'all'")
    sort_keys = _incident_sort(q)
    if date_range == "all":
        lo, hi = 0, len(a.incidents_by_created)
    else:
        since = _time_param(q, "since", how.zone)
        until = _time_param(q, "until", how.zone)
        if since is None and until is None:
            since, until = now - MONTH, now
        elif since is None:
            since = until - MONTH
        elif until is None:
            until = now
        if since > until:
            raise invalid_input("Since must be before until")
        since, until = how.widen(since, until)
        lo = bisect.bisect_left(a.incidents_by_created, (since,))
        hi = bisect.bisect_left(a.incidents_by_created, (until,))
    items = []
    for _, iid in a.incidents_by_created[lo:hi]:
        inc = a.incidents[iid]
        if statuses and inc.status not in statuses:
            continue
        if urgencies and inc.urgency not in urgencies:
            continue
        if service_ids and inc.service_id not in service_ids:
            continue
        if wanted_teams and not wanted_teams & set(inc.team_ids):
            continue
        if user_ids and not user_ids & {uid for uid, _ in inc.assignments}:
            continue
        if key is not None and inc.incident_key != key and \
                not any(a.alerts[x].alert_key == key for x in inc.alert_ids):
            continue
        if not _visible(req, inc.team_ids):
            continue
        items.append(inc)
    items = _sort_incidents(items, sort_keys) if how.incident_sort == "honoured" else how.order(items)
    return 200, paginate(q, items, "incidents", lambda i: req.renderer.incident(i, zone))


def get_incident(req, m):
    return 200, {"incident": req.renderer.incident(_get_incident(req, m.group(1)), _render_zone(req))}


def _assignees_now(req, policy_id):
    """Users of the first escalation level that has anyone on call now."""
    policy = req.account.policies.get(policy_id)
    if policy is None:
        return []
    calc = OncallCalculator(req.account)
    for level in range(1, len(policy.rules) + 1):
        users = sorted(calc.users_at_level(policy, level, req.now))
        if users:
            return users
    return []


def create_incident(req, m):
    check_write(req)
    actor = _acting_user(req)
    a = req.account
    body = _body_object(req, "incident")
    problems = []
    if body.get("type") not in ("incident", None):
        problems.append("Type must be 'incident'")
    title = body.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.append("Title cannot be empty.")
    elif len(title) > 1024:
        problems.append("Title is too long (maximum is 1024 characters)")
    service_ref = body.get("service")
    if not isinstance(service_ref, dict) or not service_ref.get("id"):
        problems.append("Service cannot be empty")
    urgency = body.get("urgency", "high")
    if urgency not in ("high", "low"):
        problems.append("Urgency must be one of high, low")
    key = body.get("incident_key")
    if key is not None and (not isinstance(key, str) or len(key) > 255):
        problems.append("Incident key must be a string of at most 255 characters")
    details = None
    if "body" in body:
        b = body["body"]
        if not isinstance(b, dict) or not isinstance(b.get("details", ""), str):
            problems.append("Body details must be a string")
        else:
            details = b.get("details")
    if problems:
        raise invalid_input(*problems)
    service = a.services.get(service_ref["id"])
    if service is None:
        raise invalid_input("Service not found")
    if not _visible(req, service.team_ids):
        raise errors.access_denied()
    if service.disabled:
        raise invalid_input("Service is disabled")
    if key is not None and (service.id, key) in a.open_by_key:
        raise rest_error(400, "Incident Already Exists", 2001,
                         ["Open incident with key '%s' already exists on this service" % key])
    inc = a.new_incident(service, title, urgency, req.now, incident_key=key,
                         agent=("user_reference", actor.id), details=details,
                         assignees=_assignees_now(req, service.escalation_policy_id))
    return 201, {"incident": req.renderer.incident(inc, _render_zone(req))}


def _apply_update(req, inc, change, actor, dry_run):
    """Validate (and unless dry_run apply) one incident update.

    Status on a resolved incident (doc/pagerduty-api.md, "Where the real service differs"):
    triggered or acknowledged REOPENS it (the OpenAPI description of the operation);
    resolved again changes nothing and answers as POST /_sim/behaviour says (400 code
    1001 by default, or 200). An urgency change of a resolved incident is a 400 (1001)."""
    status = change.get("status")
    urgency = change.get("urgency")
    if change.get("type") not in (None, "incident", "incident_reference"):
        raise invalid_input("Type must be 'incident_reference'")
    if status is not None and status not in ("triggered", "acknowledged", "resolved"):
        raise invalid_input("Status must be one of triggered, acknowledged, resolved")
    if urgency is not None and urgency not in ("high", "low"):
        raise invalid_input("Urgency must be one of high, low")
    already_resolved = rest_error(400, "Incident Already Resolved", 1001,
                                  ["Incident %s has already been resolved" % inc.id])
    if inc.status == "resolved":
        if status == "resolved" and req.account.resolve_resolved_status >= 400:
            raise already_resolved
        if status is None and urgency is not None:
            raise already_resolved
    title = change.get("title")
    if title is not None and (not isinstance(title, str) or not title.strip()):
        raise invalid_input("Title cannot be empty.")
    if dry_run:
        return
    now = req.now
    if inc.status == "resolved" and status in ("triggered", "acknowledged"):
        req.account.reopen(inc, status, now, actor.id, _assignees_now(req, inc.escalation_policy_id))
        status = None
    if urgency is not None:
        req.account.change_urgency(inc, urgency, now, actor.id)
    if title is not None:
        inc.title = title
        inc.updated_at = now
    if status == "acknowledged":
        if inc.status == "acknowledged":
            if all(uid != actor.id for uid, _ in inc.acknowledgements):
                inc.acknowledgements.append((actor.id, now))
            inc.updated_at = now
        else:
            req.account.set_status(inc, "acknowledged", now, user_id=actor.id)
    elif status == "triggered":
        if inc.status == "acknowledged":
            req.account.unacknowledge(inc, now, actor.id)
    elif status == "resolved" and inc.status != "resolved":
        req.account.set_status(inc, "resolved", now, user_id=actor.id, resolution=change.get("resolution"))


def update_incident(req, m):
    check_write(req)
    actor = _acting_user(req)
    inc = _get_incident(req, m.group(1))
    change = _body_object(req, "incident")
    _apply_update(req, inc, change, actor, dry_run=False)
    return 200, {"incident": req.renderer.incident(inc, _render_zone(req))}


def update_incidents(req, m):
    """Bulk: all-or-nothing, at most 250 (413 beyond)."""
    check_write(req)
    actor = _acting_user(req)
    body = req.json()
    changes = body.get("incidents") if isinstance(body, dict) else None
    if not isinstance(changes, list) or not changes:
        raise invalid_input("Incidents must be a non-empty array")
    if len(changes) > MAX_BULK:
        raise rest_error(413, "Request Entity Too Large", 2001,
                         ["At most %d incidents can be updated in one request" % MAX_BULK])
    pairs = []
    for change in changes:
        if not isinstance(change, dict) or not change.get("id"):
            raise invalid_input("Each incident needs an id")
        inc = _get_incident(req, change["id"])
        _apply_update(req, inc, change, actor, dry_run=True)
        pairs.append((inc, change))
    for inc, change in pairs:
        _apply_update(req, inc, change, actor, dry_run=False)
    zone = _render_zone(req)
    return 200, paginate(req.query, [inc for inc, _ in pairs], "incidents",
                         lambda i: req.renderer.incident(i, zone))


def merge_incidents(req, m):
    """PUT /incidents/{id}/merge: source_incidents are resolved into the target, which
    receives their alerts; the target must be open (OpenAPI description)."""
    check_write(req)
    actor = _acting_user(req)
    target = _get_incident(req, m.group(1))
    body = req.json()
    refs = body.get("source_incidents") if isinstance(body, dict) else None
    if not isinstance(refs, list) or not refs:
        raise invalid_input("Source incidents must be a non-empty array")
    if target.status == "resolved":
        raise invalid_input("Open incidents cannot be merged into a resolved incident")
    sources = []
    for ref in refs:
        if not isinstance(ref, dict) or not ref.get("id"):
            raise invalid_input("Each source incident needs an id")
        src = _get_incident(req, ref["id"])
        if src.id == target.id:
            raise invalid_input("An incident cannot be merged into itself")
        sources.append(src)
    if len(target.alert_ids) + sum(max(1, len(s.alert_ids)) for s in sources) > 1000:
        raise invalid_input("An incident cannot have more than 1000 alerts")
    req.account.merge(target, sources, req.now, actor.id)
    return 200, {"incident": req.renderer.ref("incident", target.id)}


def list_notes(req, m):
    inc = _get_incident(req, m.group(1))
    return 200, {"notes": [req.renderer.note(req.account.notes[n]) for n in inc.note_ids]}


def create_note(req, m):
    check_write(req)
    actor = _acting_user(req)
    inc = _get_incident(req, m.group(1))
    note = _body_object(req, "note")
    content = note.get("content")
    if not isinstance(content, str) or not content.strip():
        raise invalid_input("Content cannot be empty")
    if len(content) > 25000:
        raise invalid_input("Content is too long (maximum is 25000 characters)")
    if len(inc.note_ids) >= MAX_NOTES:
        raise invalid_input("Incident has reached the maximum of %d notes" % MAX_NOTES)
    n = req.account.add_note(inc, actor.id, content, req.now)
    inc.updated_at = req.now
    # The OpenAPI file documents 200 for this operation (the prose docs say 201).
    return 200, {"note": req.renderer.note(n)}


def list_alerts(req, m):
    inc = _get_incident(req, m.group(1))
    q = req.query
    statuses = set(_enum_values(q, "statuses[]", ("triggered", "resolved")))
    key = _one(q, "alert_key")
    items = [req.account.alerts[x] for x in inc.alert_ids]
    items = [x for x in items if (not statuses or x.status in statuses) and (key is None or x.alert_key == key)]
    return 200, paginate(q, items, "alerts", req.renderer.alert)


# -- schedules, on-calls, escalation policies ----------------------------------------
TWO_WEEKS = 14 * 86400


def _schedule_window(q):
    since = _time_param(q, "since")
    until = _time_param(q, "until")
    if since is None and until is None:
        return None, None
    if since is None:
        since = until - TWO_WEEKS
    if until is None:
        until = since + TWO_WEEKS
    if since > until:
        raise invalid_input("Since must be before until")
    return since, until


def list_schedules(req, m):
    q = req.query
    wanted = _team_filter(req)
    include = set(_values(q, "include[]"))
    since, until = _schedule_window(q)
    items = [s for s in req.account.schedules.values()
             if _matches_teams(wanted, s.team_ids) and _query_match(q, s.name) and _visible(req, s.team_ids)]
    items.sort(key=lambda s: (s.name.lower(), s.id))

    def render(s):
        # The real list never carries final_schedule or overrides_subschedule,
        # whatever include[] says (api-schema issue #430); layers it does.
        if "schedule_layers" in include:
            d = req.renderer.schedule(s, since, until)
            d.pop("final_schedule", None)
            d.pop("overrides_subschedule", None)
            return d
        return req.renderer.schedule(s, full=False)
    return 200, paginate(q, items, "schedules", render)


def get_schedule(req, m):
    # A shift-based schedule is not found here (only at /v3/schedules/{id}).
    s = _found_and_visible(req, req.account.schedules.get(m.group(1)), "Schedule Not Found", 2100)
    since, until = _schedule_window(req.query)
    return 200, {"schedule": req.renderer.schedule(s, since, until)}


# Shift-based schedules: references only, limit default 100 max 1000, no total.
V3_DEFAULT_LIMIT = 100
V3_MAX_LIMIT = 1000


def list_schedules_v3(req, m):
    q = req.query
    try:
        limit = int(_one(q, "limit") or V3_DEFAULT_LIMIT)
        offset = int(_one(q, "offset") or 0)
    except ValueError:
        raise invalid_input("Limit and offset must be integers")
    if limit < 1 or offset < 0:
        raise invalid_input("Limit must be greater than 0 and offset not negative")
    limit = min(limit, V3_MAX_LIMIT)
    items = [s for s in req.account.schedules_v3.values()
             if _query_match(q, s.name) and _visible(req, s.team_ids)]
    items.sort(key=lambda s: (s.name.lower(), s.id))
    page = items[offset:offset + limit]
    return 200, {"schedules": [req.renderer.schedule_v3_ref(s) for s in page],
                 "limit": limit, "offset": offset, "more": offset + limit < len(items)}


def get_schedule_v3(req, m):
    sid = m.group(1)
    if sid in req.account.schedules:
        # The upgrade guide's way to tell the kinds apart: a layer-based ID -> 400.
        raise invalid_input("Schedule %s is not a shift-based schedule" % sid)
    s = _found_and_visible(req, req.account.schedules_v3.get(sid), "Schedule Not Found", 2100)
    since, until = None, None
    if "final_schedule" in set(_values(req.query, "include[]")):
        since, until = _schedule_window(req.query)
        if since is None:
            since, until = req.now, req.now + TWO_WEEKS
    return 200, {"schedule": req.renderer.schedule_v3(s, since, until)}


def list_oncalls(req, m):
    q = req.query
    a = req.account
    since = _time_param(q, "since")
    until = _time_param(q, "until")
    if since is None and until is None:
        since = until = req.now
    elif since is None:
        since = min(req.now, until)
    elif until is None:
        until = max(req.now, since)
    if since > until:
        raise invalid_input("Since must be before until")
    if until - since > 90 * 86400:
        raise invalid_input("The time range cannot exceed 90 days")
    policy_ids = set(_values(q, "escalation_policy_ids[]"))
    schedule_ids = set(_values(q, "schedule_ids[]"))
    user_ids = set(_values(q, "user_ids[]"))
    earliest = (_one(q, "earliest") or "").lower() == "true"
    calc = OncallCalculator(a)
    rows = []
    policies = sorted(a.policies.values(), key=lambda p: (p.name.lower(), p.id))
    for p in policies:
        if policy_ids and p.id not in policy_ids:
            continue
        if not _visible(req, p.team_ids):
            continue
        for level, sched_id, user_id, start, end in calc.oncalls(p, since, until):
            if schedule_ids and (sched_id or "null") not in schedule_ids:
                continue
            if user_ids and user_id not in user_ids:
                continue
            rows.append((p, level, sched_id, user_id, start, end))
    rows.sort(key=lambda r: (r[0].name.lower(), r[0].id, r[1], r[4] is not None, r[4] or 0,
                             a.users[r[3]].name.lower() if r[3] in a.users else r[3]))
    if earliest:
        seen = set()
        kept = []
        for r in rows:
            k = (r[0].id, r[1], r[3])
            if k not in seen:
                seen.add(k)
                kept.append(r)
        rows = kept
    return 200, paginate(q, rows, "oncalls", lambda r: req.renderer.oncall_entry(*r))


def list_policies(req, m):
    q = req.query
    wanted = _team_filter(req)
    users = set(_values(q, "user_ids[]"))
    items = [p for p in req.account.policies.values()
             if _matches_teams(wanted, p.team_ids) and _query_match(q, p.name) and _visible(req, p.team_ids)
             and (not users or users & {tid for r in p.rules for tt, tid in r.targets if tt == "user_reference"})]
    return 200, paginate(q, _sorted_by_name(items, q), "escalation_policies", req.renderer.escalation_policy)


def get_policy(req, m):
    p = _found_and_visible(req, req.account.policies.get(m.group(1)), "Escalation Policy Not Found",
                           2100)
    return 200, {"escalation_policy": req.renderer.escalation_policy(p)}


# -- maintenance windows ---------------------------------------------------------------
def _window_teams(a, w):
    out = set()
    for sid in w.service_ids:
        s = a.services.get(sid)
        if s:
            out.update(s.team_ids)
    return out


def list_maintenance_windows(req, m):
    q = req.query
    a = req.account
    now = req.now
    flt = _one(q, "filter") or "all"
    states = {"past": lambda w: w.end <= now, "future": lambda w: w.start > now,
              "ongoing": lambda w: w.start <= now < w.end, "open": lambda w: w.end > now,
              "all": lambda w: True}
    if flt not in states:
        raise invalid_input("Filter must be one of past, future, ongoing, open, all")
    services = set(_values(q, "service_ids[]"))
    wanted = _team_filter(req)
    items = [w for w in a.maintenance_windows.values()
             if states[flt](w) and (not services or services & set(w.service_ids))
             and _matches_teams(wanted, _window_teams(a, w)) and _query_match(q, w.description)
             and _visible(req, _window_teams(a, w))]
    items.sort(key=lambda w: (w.start, w.id))
    return 200, paginate(q, items, "maintenance_windows", req.renderer.maintenance_window)


# -- log entries -------------------------------------------------------------------------
# is_overview=true keeps "the most important changes" (schema); which those are is
# [U] (doc/pagerduty-api.md): the status changes and moves, not notes or urgency changes [I].
_OVERVIEW_TYPES = ("trigger_log_entry", "acknowledge_log_entry", "unacknowledge_log_entry",
                   "resolve_log_entry", "assign_log_entry", "escalate_log_entry")
_LOG_INCLUDES = ("incidents", "services", "channels", "teams")


def _log_entries(req, entries):
    """The shared part of GET /log_entries and GET /incidents/{id}/log_entries:
    since/until honoured only to behaviour.log_time units of the account's zone
    (default: whole days), an entry listed only once behaviour.log_delay has
    passed for it, newest first, offset paging."""
    q = req.query
    how = req.sim.behaviour
    includes = set(_enum_values(q, "include[]", _LOG_INCLUDES))
    overview = (_one(q, "is_overview") or "false").lower() == "true"
    wanted_teams = _team_filter(req)
    since = _time_param(q, "since", how.zone)
    until = _time_param(q, "until", how.zone)
    # Default window without since/until: [U] (doc/pagerduty-api.md); the last 30 days, as
    # GET /incidents [I].
    if since is None and until is None:
        since, until = req.now - MONTH, req.now
    elif since is None:
        since = until - MONTH
    elif until is None:
        until = req.now
    if since > until:
        raise invalid_input("Since must be before until")
    since, until = how.widen(since, until, how.log_time)
    items = [e for e in entries
             if since <= e.created_at < until and how.visible_at(e) <= req.now
             and (not overview or e.type in _OVERVIEW_TYPES)
             and _matches_teams(wanted_teams, e.team_ids) and _visible(req, e.team_ids)]
    items.sort(key=lambda e: (e.created_at, e.id), reverse=True)
    return paginate(q, items, "log_entries", lambda e: req.renderer.log_entry(e, includes))


def list_log_entries(req, m):
    return 200, _log_entries(req, req.account.log)


def list_incident_log_entries(req, m):
    inc = _get_incident(req, m.group(1))
    return 200, _log_entries(req, inc.log)


def get_maintenance_window(req, m):
    w = req.account.maintenance_windows.get(m.group(1))
    if w is None:
        raise not_found()
    return 200, {"maintenance_window": req.renderer.maintenance_window(w)}


# -- routing ---------------------------------------------------------------------------------
_ID = r"([A-Za-z0-9]+)"
ROUTES = [
    ("GET", r"/users/me", users_me),
    ("GET", r"/users", list_users),
    ("GET", r"/users/" + _ID, get_user),
    ("GET", r"/teams", list_teams),
    ("GET", r"/teams/" + _ID, get_team),
    ("GET", r"/abilities", list_abilities),
    ("GET", r"/abilities/([a-z_0-9]+)", test_ability),
    ("GET", r"/services", list_services),
    ("GET", r"/services/" + _ID, get_service),
    ("GET", r"/incidents", list_incidents),
    ("POST", r"/incidents", create_incident),
    ("PUT", r"/incidents", update_incidents),
    ("GET", r"/incidents/" + _ID, get_incident),
    ("PUT", r"/incidents/" + _ID, update_incident),
    ("PUT", r"/incidents/" + _ID + "/merge", merge_incidents),
    ("GET", r"/incidents/" + _ID + "/notes", list_notes),
    ("POST", r"/incidents/" + _ID + "/notes", create_note),
    ("GET", r"/incidents/" + _ID + "/alerts", list_alerts),
    ("GET", r"/incidents/" + _ID + "/log_entries", list_incident_log_entries),
    ("GET", r"/log_entries", list_log_entries),
    ("GET", r"/schedules", list_schedules),
    ("GET", r"/schedules/" + _ID, get_schedule),
    ("GET", r"/v3/schedules", list_schedules_v3),
    ("GET", r"/v3/schedules/" + _ID, get_schedule_v3),
    ("GET", r"/oncalls", list_oncalls),
    ("GET", r"/escalation_policies", list_policies),
    ("GET", r"/escalation_policies/" + _ID, get_policy),
    ("GET", r"/maintenance_windows", list_maintenance_windows),
    ("GET", r"/maintenance_windows/" + _ID, get_maintenance_window),
]
_COMPILED = [(method, re.compile("^" + pattern + "/?$"), fn) for method, pattern, fn in ROUTES]


def dispatch(req):
    for method, rx, fn in _COMPILED:
        if method == req.method:
            m = rx.match(req.path)
            if m:
                return fn(req, m)
    raise not_found()

