# SPDX-License-Identifier: MIT
"""
truth.py - an independent oracle for the read side's metrics (doc/contract.md §4).

    truth = Truth(sim, account="acme", teams=["Payments"])
    expected = truth.series(t)   # {identifier: (lo, hi)} at epoch second t
    result = compare_rows(truth, read_csv_tree(daemon, "acme"))

What the plugin must dispatch for an account is computed here from the
simulator's whole state (GET /_sim/state: teams, services, incidents,
maintenance windows, escalation policies) and, where a schedule has to be
rendered (layers, restrictions, overrides), from the public REST API
(GET /schedules/{id}?since&until, or GET /v3/schedules/{id}?since&until&
include[]=final_schedule for shift-based ones, read with the scenario's account-level
key, so the plugin's own user keeps its rate-limit budget). Nothing here
calls or copies the simulator's or the plugin's logic: every series follows
the definitions of doc/contract.md §4 (written out below), and two self-checks hold the
oracle to the simulator's own answers (service status, GET /oncalls).

Definitions (doc/contract.md §4; `t` is the moment the plugin looked, whole seconds):
  scope           with Team values: the teams whose ID (any case) or exact
                  name is a value; services, schedules, escalation policies
                  and incidents are in scope when one of their teams is in
                  scope (incidents: the teams PagerDuty gave them, their
                  service's at creation). Without Team: everything.
  open incidents  status triggered or acknowledged, in scope.
  incidents-<status>-<urgency>   open incidents by status and urgency.
  incidents-oldest_<status>      t - the earliest created_at; 0 if none.
  services-<status>              in-scope services by status; a service's
                  status is disabled, else maintenance (a maintenance window
                  of it with start <= t < end), else critical (an open
                  triggered incident, any scope), else warning (an
                  acknowledged one), else active.
  service-<svc>-status           0 active .. 4 disabled.
  service-<svc>-triggered/-acknowledged/-high_urgency   its open incidents.
  service-<svc>-created          its incidents (any status, in scope)
                  created in [t - TrendWindow, t).
  team-<team>-triggered/-acknowledged   open incidents of services that
                  list the team; teams: the scope (or every team).
  schedule-<sched>-oncall        distinct users the final schedule has on
                  call at t. Schedules are layer-based (GET /schedules/{id})
                  or shift-based (GET /v3/schedules/{id}, whose computed
                  shift assignments may overlap - several people at once -
                  and list gaps as empty_member entries, which cover
                  nothing); shift-based ones are in scope by their teams.
  schedule-<sched>-coverage/-gap/-next_gap
                  [t, t + CoverageWindow) against the union of the final
                  schedule's entries: covered percent, uncovered seconds,
                  seconds until the first uncovered moment (CoverageWindow
                  when none).
  schedule-<sched>-next_handoff  end of the final-schedule shift on at t
                  (touching or overlapping entries of one user are one
                  shift; the earliest such end of those on call) minus t;
                  0 when nobody is on call. A shift that runs past
                  t + CoverageWindow may be reported as ending anywhere from
                  there to its real end (doc/contract.md §4 is silent on how far ahead
                  the plugin looks); that is the one value given as a range.
  policy-<policy>-rules/-loops   number of rules; num_loops.
  policy-<policy>-oncall         distinct users on call at t at level 1:
                  its user targets, and whoever the final schedule of each
                  schedule target has on call.
  policy-<policy>-uncovered_levels  rules with nobody on call at t.
Names: see instance_names().

Which series each entity has, their names and types, and which Collect
keyword (doc/contract.md §3 Collect) gives each come from the table of
series (plugin/core/pd_series.def, read through series.py); the values
never do. A series of the table the oracle has no value for is an
OracleError: extend Truth.series() when doc/contract.md §4 gains one.

How values are compared (compare_rows): every row the csv plugin wrote
is checked, not just the latest. The plugin computes a cycle at one
whole-second `now` (time(NULL)) and collectd stamps the values when they
are dispatched, at most one cycle later; so a row stamped E is right when
it equals the truth at some whole second t in [E - longest api-cycle - 2,
E]. Counts must be equal, durations equal to the second, percentages
within 1e-4. Durations therefore need no loose tolerance, and a value that
was right a minute ago but is stale now is caught.

Also here: read_csv_tree (one directory listing per host, for the large
scenario's ~12,750 series), holes (a series missing from a successful
cycle), minimum_requests (the fewest requests a cycle needs), and the
read tests' base classes ReadTestCase (start a simulator and collectd with
one Account, wait for cycles, assert against the truth) and FaultCheck
(inject a simulator fault, check during and after).

Only the Python standard library; run with /usr/bin/python3.
"""

import bisect
import calendar
import math
import os
import re
import time

import harness
import series

ALL_COLLECT = ("services", "incidents", "oncalls", "schedules", "policies",
               "teams")
SERVICE_STATUSES = ("active", "warning", "critical", "maintenance",
                    "disabled")
OPEN_STATUSES = ("triggered", "acknowledged")
URGENCIES = ("high", "low")

# How far around the moment the oracle is built schedules are rendered:
# a test may compare values up to RENDER_AFTER seconds later.
RENDER_BEFORE = 3600
RENDER_AFTER = 86400

# The api-* self-metrics (group API of the table of series) are not entity
# series: the tests check them apart.
API_NAMES = frozenset(s.name() for s in series.TABLE if s.group == "API")


class _Once:
    """A function's result, computed on the first call only."""

    def __init__(self, fn):
        self.fn, self.done, self.value = fn, False, None

    def __call__(self):
        if not self.done:
            self.value, self.done = self.fn(), True
        return self.value
# api-* series whose truth is 0 whatever the account does, unless a test
# injects faults: derive-api-resync_corrections counts what a
# FullSyncInterval resync had to correct in the incremental read.
API_ZERO = ("api-resync_corrections",)


class OracleError(Exception):
    """The oracle could not compute (the simulator answered something
    unexpected): a failure of the test set-up, not of the plugin."""


# --------------------------------------------------------------------------
# Names (doc/contract.md §4)

_OUTSIDE = re.compile(rb"[^a-z0-9_]+")


def sanitize(name):
    """doc/contract.md §4 on a name's bytes: ASCII letters lowercased, every run
    of bytes outside [a-z0-9_] one "_", leading/trailing "_" removed, cut to
    64 bytes (in that order). "" when nothing is left."""
    raw = (name or "").encode("utf-8")
    lowered = bytes(b + 32 if 65 <= b <= 90 else b for b in raw)
    text = _OUTSIDE.sub(b"_", lowered).strip(b"_")[:64]
    return text.decode("ascii")


def instance_names(entities, instance_by="name"):
    """{id: instance name} for one kind of entity ((id, name) pairs).

    doc/contract.md §4: the sanitised name, or the lowercased ID when that is empty;
    when two entities come out the same, each of them gets
    "_<lowercased ID>" appended. InstanceBy "id": the lowercased ID.
    A suffixed name that lands on another entity's plain name is not
    covered by doc/contract.md §4; the plugin's documented answer (pd_names.h) is to
    suffix that plain name too, repeatedly, which is what is done here."""
    if instance_by == "id":
        return {eid: eid.lower() for eid, _ in entities}
    names = {}
    for eid, name in entities:
        names[eid] = sanitize(name) or eid.lower()
    suffixed = set()
    while True:
        by_name = {}
        for eid, n in names.items():
            by_name.setdefault(n, []).append(eid)
        clash = [eid for ids in by_name.values() if len(ids) > 1
                 for eid in ids if eid not in suffixed]
        if not clash:
            return names
        for eid in clash:
            names[eid] = "%s_%s" % (names[eid], eid.lower())
            suffixed.add(eid)


# --------------------------------------------------------------------------
# Times


def parse_time(text):
    """An ISO 8601 UTC time as PagerDuty writes it ("...Z" or "+00:00",
    optional fractional seconds) -> epoch seconds (int)."""
    m = re.match(r"^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d+)?"
                 r"(Z|[+-]\d\d:?\d\d)?$", text)
    if m is None:
        raise OracleError("unexpected time %r" % text)
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    t = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    tz = m.group(8)
    if tz and tz != "Z":
        sign = -1 if tz[0] == "+" else 1
        digits = tz[1:].replace(":", "")
        t += sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return t


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


# --------------------------------------------------------------------------
# A rendered final schedule


class FinalSchedule:
    """Final-schedule entries of one schedule over [since, until), as the
    REST API renders them, merged into shifts (touching entries of one
    user) and into covered spans (touching or overlapping entries)."""

    def __init__(self, entries, since, until):
        self.since, self.until = since, until
        entries = sorted((s, e, u) for s, e, u in entries if e > s and u)
        # One user's touching or overlapping entries are one shift, even
        # with other people's entries between them (shift-based schedules
        # have several people on call at once).
        shifts = []
        for s, e, u in sorted(entries, key=lambda x: (x[2], x[0])):
            if shifts and shifts[-1][2] == u and s <= shifts[-1][1]:
                shifts[-1] = (shifts[-1][0], max(e, shifts[-1][1]), u)
            else:
                shifts.append((s, e, u))
        self.shifts = sorted(shifts)
        spans = []
        for s, e, _ in entries:
            if spans and s <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(e, spans[-1][1]))
            else:
                spans.append((s, e))
        self.spans = spans
        self._span_starts = [s for s, _ in spans]

    def check_range(self, t, window):
        if t < self.since or t + window > self.until:
            raise OracleError("t=%d (+%d) outside the rendered range "
                              "[%d, %d)" % (t, window, self.since,
                                            self.until))

    def users_at(self, t):
        """Users the final schedule has on call at t."""
        return {u for s, e, u in self.shifts if s <= t < e}

    def coverage(self, t, window):
        """(covered seconds, first uncovered moment or None) in
        [t, t + window)."""
        self.check_range(t, window)
        end = t + window
        covered = 0
        first_gap = None
        reach = t
        i = max(0, bisect.bisect_right(self._span_starts, t) - 1)
        for s, e in self.spans[i:]:
            if s >= end:
                break
            if e <= reach:
                continue
            if s > reach and first_gap is None:
                first_gap = reach
            lo = max(s, reach)
            hi = min(e, end)
            if hi > lo:
                covered += hi - lo
                reach = hi
        if reach < end and first_gap is None:
            first_gap = reach
        return covered, first_gap

    def first_gap(self, t, window):
        """(start, end) of the first uncovered stretch of [t, t + window),
        or None when it is all covered."""
        covered, start = self.coverage(t, window)
        if start is None:
            return None
        end = t + window
        for s, _ in self.spans:
            if s > start:
                end = min(end, s)
                break
        return (start, end)

    def handoff(self, t, window):
        """(lo, hi) for next_handoff at t: the shift on at t ends at e,
        so e - t; (0, 0) when nobody is on call. A shift reaching past
        t + window may be reported as ending anywhere from t + window to
        its real end (unknown, so infinite, when it also reaches past the
        rendered range)."""
        self.check_range(t, window)
        ends = [e for s, e, _ in self.shifts if s <= t < e]
        if not ends:
            return (0, 0)
        e = min(ends)
        if e <= t + window:
            return (e - t, e - t)
        hi = math.inf if e >= self.until else e - t
        return (window, hi)


# --------------------------------------------------------------------------
# The oracle


class Truth:
    """Every doc/contract.md §4 entity series an Account must dispatch, as a function
    of time, for the simulator's current state.

    sim          a harness.Simulator
    account      the Account block's name (the plugin instance)
    host         the values' host (the Account's Host, else collectd's)
    teams        the Account's Team values (IDs or exact names)
    instance_by  "name" or "id"
    collect      the Account's Collect values
    coverage_window, trend_window   seconds
    """

    def __init__(self, sim, account="acme", host="pd-test", teams=(),
                 instance_by="name", collect=ALL_COLLECT,
                 coverage_window=604800, trend_window=86400):
        self.sim = sim
        self.account = account
        self.host = host
        self.instance_by = instance_by
        self.collect = set(collect)
        self.coverage_window = int(coverage_window)
        self.trend_window = int(trend_window)
        self._cache = {}

        state = sim.state()
        self.state = state
        self.built_at = int(math.floor(state["now"]))
        self.clock_offset = float(state.get("clock_offset") or 0)

        self.all_teams = {t["id"]: t for t in state["teams"]}
        self.scope = self._resolve_scope(teams)
        in_scope = self._in_scope

        self.services = [s for s in state["services"]
                         if in_scope(s.get("team_ids"))]
        self.service_by_id = {s["id"]: s for s in state["services"]}
        self.incidents = [dict(i, created=int(math.floor(
                              float(i["created_at"]))))
                          for i in state["incidents"]
                          if in_scope(i.get("team_ids"))]
        # Service status counts every open incident of the service, in
        # scope or not (it is PagerDuty's status of the service).
        self.open_all = [i for i in state["incidents"]
                         if i["status"] in OPEN_STATUSES]
        self.windows = state.get("maintenance_windows") or []
        self.team_list = ([self.all_teams[tid] for tid in sorted(self.scope)]
                          if self.scope is not None
                          else list(self.all_teams.values()))
        # Layer-based and shift-based schedules alike (doc/contract.md §4); "v3" tells
        # which REST endpoint renders one.
        self.schedules = ([dict(s, v3=False) for s in state["schedules"]
                           if in_scope(s.get("team_ids"))]
                          + [dict(s, v3=True)
                             for s in state.get("schedules_v3") or ()
                             if in_scope(s.get("team_ids"))])
        self.v3_ids = {s["id"] for s in state.get("schedules_v3") or ()}
        self.policies = [p for p in state["escalation_policies"]
                         if in_scope(p.get("team_ids"))]

        self.names = {
            "service": instance_names([(s["id"], s["name"])
                                       for s in self.services], instance_by),
            "team": instance_names([(t["id"], t["name"])
                                    for t in self.team_list], instance_by),
            "schedule": instance_names([(s["id"], s["name"])
                                        for s in self.schedules],
                                       instance_by),
            "policy": instance_names([(p["id"], p["name"])
                                      for p in self.policies], instance_by),
        }
        self._precompute()
        self.finals = self._render_schedules()

    # -- scope --------------------------------------------------------------
    def _resolve_scope(self, values):
        """The team IDs Team values name (ID, any case; else every team
        with exactly that name); None without Team. Unknown values are
        left out (the plugin reports them)."""
        if not values:
            return None
        scope = set()
        for v in values:
            by_id = [tid for tid in self.all_teams if tid.lower() == v.lower()]
            if by_id:
                scope.update(by_id)
                continue
            scope.update(tid for tid, t in self.all_teams.items()
                         if t["name"] == v)
        return scope

    def _in_scope(self, team_ids):
        return self.scope is None or bool(self.scope & set(team_ids or ()))

    # -- rendering schedules ------------------------------------------------
    def _account_key(self):
        for entry in self.sim.tokens():
            if entry.get("label") == "account" and not entry.get("revoked"):
                return harness.register_secret(entry["token"])
        raise OracleError("the scenario has no account-level key")

    def _render_schedules(self):
        """FinalSchedule of every in-scope schedule and of every schedule an
        in-scope policy targets, over [built_at - RENDER_BEFORE,
        built_at + CoverageWindow + RENDER_AFTER)."""
        wanted = {s["id"] for s in self.schedules}
        for p in self.policies:
            for rule in p["rules"]:
                for ttype, tid in rule["targets"]:
                    if ttype != "user_reference":
                        wanted.add(tid)
        if not wanted:
            return {}
        since = self.built_at - RENDER_BEFORE
        until = self.built_at + self.coverage_window + RENDER_AFTER
        token = self._account_key()
        finals = {}
        for sid in sorted(wanted):
            if sid in self.v3_ids:
                entries = self._render_v3(sid, since, until, token)
            else:
                entries = self._render_v2(sid, since, until, token)
            finals[sid] = FinalSchedule(entries, since, until)
        return finals

    def _get(self, path, query, token):
        status, body = self.sim.rest("GET", path, query=query, token=token)
        if status != 200:
            raise OracleError("GET %s -> %s: %s" % (path, status,
                                                    str(body)[:300]))
        return body

    def _render_v2(self, sid, since, until, token):
        """[(start, end, user)] of a layer-based final schedule."""
        body = self._get("/schedules/%s" % sid,
                         {"since": iso(since), "until": iso(until)}, token)
        entries = []
        for e in body["schedule"]["final_schedule"][
                "rendered_schedule_entries"]:
            user = e.get("user") or {}
            entries.append((parse_time(e["start"]), parse_time(e["end"]),
                            user.get("id")))
        return entries

    def _render_v3(self, sid, since, until, token):
        """[(start, end, user)] of a shift-based final schedule: its computed
        shift assignments; an empty_member names nobody (None)."""
        body = self._get("/v3/schedules/%s" % sid,
                         {"since": iso(since), "until": iso(until),
                          "include[]": "final_schedule"}, token)
        entries = []
        for a in body["schedule"]["final_schedule"][
                "computed_shift_assignments"]:
            member = a.get("member") or {}
            user = (member.get("user_id")
                    if member.get("type") == "user_member" else None)
            entries.append((parse_time(a["start_time"]),
                            parse_time(a["end_time"]), user))
        return entries

    # -- the series ---------------------------------------------------------
    def identifier(self, type_, type_instance):
        return "%s/pagerduty-%s/%s-%s" % (self.host, self.account, type_,
                                         type_instance)

    def series_id(self, series_id, instance=None, *dims):
        """The identifier of a series of the table (series.py) for an
        entity's instance name and dimension values:
        series_id("SERVICE_STATUS", "web")."""
        s = series.by_id(series_id)
        return self.identifier(s.type, s.name(instance, *dims))

    @staticmethod
    def series_key(series_id, instance=None, *dims):
        """(type, type_instance) of that series, as notifications carry
        them."""
        s = series.by_id(series_id)
        return s.type, s.name(instance, *dims)

    def _precompute(self):
        """What does not depend on time: counts per service and team, the
        creation times the TrendWindow counts slide over, and which
        services have open incidents (any scope) for their status."""
        self.open_inc = [i for i in self.incidents
                         if i["status"] in OPEN_STATUSES]
        self.by_status_urgency = {}
        oldest = {}
        per_service = {}
        for i in self.open_inc:
            key = (i["status"], i["urgency"])
            self.by_status_urgency[key] = self.by_status_urgency.get(key,
                                                                     0) + 1
            if i["status"] not in oldest or i["created"] < oldest[i["status"]]:
                oldest[i["status"]] = i["created"]
            c = per_service.setdefault(i["service_id"], {
                "triggered": 0, "acknowledged": 0, "high": 0})
            c[i["status"]] += 1
            c["high"] += i["urgency"] == "high"
        self.oldest = oldest
        self.per_service = per_service
        self.created_times = {}
        for i in self.incidents:
            self.created_times.setdefault(i["service_id"], []).append(
                i["created"])
        for times in self.created_times.values():
            times.sort()
        self.open_statuses_any_scope = {}
        for i in self.open_all:
            self.open_statuses_any_scope.setdefault(i["service_id"],
                                                    set()).add(i["status"])
        self.windows_by_service = {}
        for w in self.windows:
            for sid in w["service_ids"]:
                self.windows_by_service.setdefault(sid, []).append(
                    (w["start"], w["end"]))
        self.per_team = {}
        for team in self.team_list:
            c = {"triggered": 0, "acknowledged": 0}
            for i in self.open_inc:
                svc = self.service_by_id.get(i["service_id"]) or {}
                if team["id"] in svc.get("team_ids", ()):
                    c[i["status"]] += 1
            self.per_team[team["id"]] = c

    def refresh_incidents(self):
        """Takes the simulator's incidents as they are now (a moving
        account: churn), keeping everything else (schedules are rendered
        once, at construction). Call it only while nothing changes."""
        state = self.sim.state()
        in_scope = self._in_scope
        self.state["incidents"] = state["incidents"]
        self.incidents = [dict(i, created=int(math.floor(
                              float(i["created_at"]))))
                          for i in state["incidents"]
                          if in_scope(i.get("team_ids"))]
        self.open_all = [i for i in state["incidents"]
                         if i["status"] in OPEN_STATUSES]
        self._cache = {}
        self._precompute()
        return state

    def refresh_services(self):
        """Takes the simulator's services (disabled, names) and maintenance
        windows as they are now, and its incidents (refresh_incidents).
        Call it only while nothing changes."""
        state = self.refresh_incidents()
        self.state["services"] = state["services"]
        self.state["maintenance_windows"] = state.get("maintenance_windows")
        self.services = [s for s in state["services"]
                         if self._in_scope(s.get("team_ids"))]
        self.service_by_id = {s["id"]: s for s in state["services"]}
        self.windows = state.get("maintenance_windows") or []
        self._cache = {}
        self._precompute()
        return state

    def service_status(self, service, t):
        if service.get("disabled"):
            return "disabled"
        for start, end in self.windows_by_service.get(service["id"], ()):
            if start <= t < end:
                return "maintenance"
        statuses = self.open_statuses_any_scope.get(service["id"], ())
        if "triggered" in statuses:
            return "critical"
        if "acknowledged" in statuses:
            return "warning"
        return "active"

    def _level_users(self, rule, t):
        users = set()
        for ttype, tid in rule["targets"]:
            if ttype == "user_reference":
                users.add(tid)
            else:
                final = self.finals.get(tid)
                if final is None:
                    raise OracleError("schedule %s not rendered" % tid)
                users |= final.users_at(t)
        return users

    def series(self, t):
        """{identifier: (lo, hi)}: every entity series at epoch second t
        with the range of values that is right (lo == hi but for
        next_handoff, see FinalSchedule.handoff). Which series an entity
        has, their names and types, and the Collect keyword behind each come
        from the table of series (series.py); every value is computed
        here."""
        t = int(t)
        if t in self._cache:
            return self._cache[t]
        out = {}

        def put(entity, instance, values):
            """values: {series id: function of the dimension values}, for
            every series of the entity's kind in the table."""
            for s in series.of(entity):
                if s.group == "API" or s.collect not in self.collect:
                    continue
                if s.id not in values:
                    raise OracleError("the oracle computes no value for "
                                      "%s (%s)" % (s.id, s.pattern))
                for dims, ti in s.expand(instance):
                    v = values[s.id](*dims)
                    lo, hi = v if isinstance(v, tuple) else (v, v)
                    out[self.identifier(s.type, ti)] = (lo, hi)

        status_of = {s["id"]: self.service_status(s, t)
                     for s in self.services}

        def oldest(st):
            first = self.oldest.get(st)
            return t - first if first is not None and first < t else 0

        put("account", None, {
            "INCIDENTS": lambda st, urg:
                self.by_status_urgency.get((st, urg), 0),
            "INCIDENTS_OLDEST": oldest,
            "SERVICES": lambda status:
                sum(1 for v in status_of.values() if v == status),
        })

        zero = {"triggered": 0, "acknowledged": 0, "high": 0}
        for s in self.services:
            c = self.per_service.get(s["id"], zero)
            times = self.created_times.get(s["id"], [])
            put("service", self.names["service"][s["id"]], {
                "SERVICE_STATUS": lambda status=status_of[s["id"]]:
                    SERVICE_STATUSES.index(status),
                "SERVICE_TRIGGERED": lambda c=c: c["triggered"],
                "SERVICE_ACKNOWLEDGED": lambda c=c: c["acknowledged"],
                "SERVICE_HIGH_URGENCY": lambda c=c: c["high"],
                "SERVICE_CREATED": lambda times=times:
                    bisect.bisect_left(times, t)
                    - bisect.bisect_left(times, t - self.trend_window),
            })

        for team in self.team_list:
            c = self.per_team[team["id"]]
            put("team", self.names["team"][team["id"]], {
                "TEAM_TRIGGERED": lambda c=c: c["triggered"],
                "TEAM_ACKNOWLEDGED": lambda c=c: c["acknowledged"],
            })

        window = self.coverage_window
        for s in self.schedules:
            final = self.finals[s["id"]]
            cov = _Once(lambda f=final: f.coverage(t, window))
            put("schedule", self.names["schedule"][s["id"]], {
                "SCHEDULE_ONCALL": lambda f=final: len(f.users_at(t)),
                "SCHEDULE_COVERAGE": lambda cov=cov:
                    100.0 * cov()[0] / window,
                "SCHEDULE_GAP": lambda cov=cov: window - cov()[0],
                "SCHEDULE_NEXT_GAP": lambda cov=cov:
                    window if cov()[1] is None else cov()[1] - t,
                "SCHEDULE_NEXT_HANDOFF": lambda f=final: f.handoff(t, window),
            })

        for p in self.policies:
            put("policy", self.names["policy"][p["id"]], {
                "POLICY_RULES": lambda p=p: len(p["rules"]),
                "POLICY_LOOPS": lambda p=p: p["num_loops"],
                "POLICY_ONCALL": lambda p=p:
                    len(self._level_users(p["rules"][0], t))
                    if p["rules"] else 0,
                "POLICY_UNCOVERED_LEVELS": lambda p=p: sum(
                    1 for r in p["rules"] if not self._level_users(r, t)),
            })

        self._cache[t] = out
        return out

    def identifiers(self, t=None):
        return set(self.series(self.built_at if t is None else t))

    # -- self-checks against the simulator's own answers --------------------
    def self_check(self):
        """Problems of the oracle itself (empty list: none): its service
        statuses against the simulator's, and its level-1 on-call users
        against GET /oncalls (the current set) for every in-scope policy."""
        problems = []
        now = self.built_at
        for s in self.state["services"]:
            # at the simulator's own (fractional) now
            mine = self.service_status(s, self.state["now"])
            if s.get("status") not in (None, mine):
                problems.append("service %s: oracle %s, simulator %s"
                                % (s["name"], mine, s["status"]))
        token = self._account_key()
        entries = []
        offset = 0
        while True:
            status, body = self.sim.rest(
                "GET", "/oncalls", query={"limit": 100, "offset": offset},
                token=token)
            if status != 200:
                raise OracleError("GET /oncalls -> %s" % status)
            entries += body["oncalls"]
            if not body.get("more"):
                break
            offset += 100
        asked_at = int(math.floor(self.sim.state()["now"]))
        if asked_at - now > 5:
            return problems   # too long ago to compare with now
        by_level = {}
        for e in entries:
            key = (e["escalation_policy"]["id"], e["escalation_level"])
            if e.get("user"):
                by_level.setdefault(key, set()).add(e["user"]["id"])
        for p in self.policies:
            for level, rule in enumerate(p["rules"], 1):
                mine = self._level_users(rule, now)
                theirs = by_level.get((p["id"], level), set())
                if mine != theirs and self._level_users(rule, asked_at) \
                        != theirs:
                    problems.append("policy %s level %d: oracle %s, GET "
                                    "/oncalls %s" % (p["name"], level,
                                                     sorted(mine),
                                                     sorted(theirs)))
        return problems


# --------------------------------------------------------------------------
# The fewest requests a cycle needs (test_read_large.py, bench_read.py)

PAGE = 100   # the most one page of a PagerDuty listing holds

# What a cycle may spend over the minimum, per collection: GET /oncalls is
# asked for the shifts up to the next refresh, not just the current ones
# (one page more at most). GET /incidents: see incident_allowance().
ALLOWANCE = {"/oncalls": 1}
# The plugin asks for created_at windows a day wider on each side (it
# cannot know to what the server honours since/until, doc/pagerduty-api.md) and keeps
# only the window on its side.
WINDOW_PAD = 86400
OFFSET_CAP = 10000


def _created_between(state, lo, hi):
    return sum(1 for i in state["incidents"] if lo <= i["created_at"] < hi)


def _pages(n):
    return max(1, -(-n // PAGE))


def _open_pages(state):
    """The open set over all time: one listing under the 10,000 offset cap;
    past it, the first page (which says so with its total) and one listing
    per status and urgency, exact filters every server applies."""
    by = {}
    for i in state["incidents"]:
        if i["status"] in OPEN_STATUSES:
            by[(i["status"], i["urgency"])] = by.get((i["status"], i["urgency"]), 0) + 1
    total = sum(by.values())
    if total <= OFFSET_CAP:
        return _pages(total)
    return 1 + sum(_pages(n) for n in by.values())


def incident_allowance(truth):
    """What GET /incidents may spend over minimum_requests: a server that
    honours since/until only to the date widens the padded window to whole
    days of its time zone (up to a day more on each side), and one page
    for an incident crossing a window edge while the cycles run."""
    t = truth.built_at
    lo = t - truth.trend_window
    padded = _created_between(truth.state, lo - WINDOW_PAD, t + WINDOW_PAD)
    widened = _created_between(truth.state, lo - 2 * WINDOW_PAD, t + 2 * WINDOW_PAD)
    return _pages(widened) - _pages(padded) + 1


def oncall_entries_now(truth):
    """How many entries GET /oncalls lists now (read with the account-level
    key)."""
    token = truth._account_key()
    n, offset = 0, 0
    while True:
        status, body = truth.sim.rest("GET", "/oncalls", token=token,
                                      query={"limit": PAGE, "offset": offset})
        if status != 200:
            raise OracleError("GET /oncalls -> %s" % status)
        n += len(body["oncalls"])
        if not body["more"]:
            return n
        offset += PAGE


def request_kind(path):
    """A logged request's path with a schedule's ID replaced by {id}: the
    detail requests (one per schedule) are counted together."""
    for prefix in ("/schedules/", "/v3/schedules/"):
        if path.startswith(prefix) and len(path) > len(prefix):
            return prefix + "{id}"
    return path


def minimum_requests(truth, oncall_entries):
    """{path: fewest requests one full cycle needs}: one page of PAGE per
    started hundred of teams, services, layer-based schedules, escalation
    policies and current on-call entries; for incidents the open set
    (_open_pages: split per status and urgency past 10,000) plus those
    created within TrendWindow asked a day wider on each side; one page of
    the shift-based schedules; and one detail request per schedule, since
    the listings never carry final schedules (paths as request_kind() gives
    them)."""
    state = truth.state
    t = truth.built_at
    pages = _pages
    # created within TrendWindow: the padded window, as a server that
    # honours since/until to the second answers it
    created_n = _created_between(state, t - truth.trend_window - WINDOW_PAD,
                                 t + WINDOW_PAD)
    return {
        "/teams": pages(len(state["teams"])),
        "/services": pages(len(state["services"])),
        "/incidents": _open_pages(state) + pages(created_n),
        "/schedules": pages(len(state["schedules"])),
        "/schedules/{id}": len(state["schedules"]),
        "/v3/schedules": pages(len(state.get("schedules_v3") or ())),
        "/v3/schedules/{id}": len(state.get("schedules_v3") or ()),
        "/escalation_policies": pages(len(state["escalation_policies"])),
        "/oncalls": pages(oncall_entries),
    }


# --------------------------------------------------------------------------
# Reading what the daemon dispatched


def read_csv_tree(daemon, account):
    """{identifier: [(epoch, value), ...] oldest first} of every value the
    csv plugin wrote under <host>/pagerduty-<account>/ for any host (one
    directory listing per host, not one per identifier: the large scenario
    has more than 10,000 series)."""
    out = {}
    root = daemon.csv_dir
    try:
        hosts = os.listdir(root)
    except OSError:
        return out
    plugin_dir = "pagerduty-" + account
    for host in hosts:
        directory = os.path.join(root, host, plugin_dir)
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            m = re.fullmatch(r"(.+)-\d{4}-\d\d-\d\d", name)
            if m is None:
                continue
            ident = "%s/%s/%s" % (host, plugin_dir, m.group(1))
            rows = out.setdefault(ident, [])
            # One read to EOF, then only whole lines: collectd may be
            # appending a line right now, and iterating the file on past a
            # momentary EOF would read its second half as a row of its own.
            with open(os.path.join(directory, name)) as f:
                lines = f.read().split("\n")[1:-1]
                for line in lines:
                    fields = line.strip().split(",")
                    if len(fields) == 2:
                        try:
                            rows.append((float(fields[0]), float(fields[1])))
                        except ValueError:
                            pass
    for rows in out.values():
        rows.sort()
    return out


def api_id(truth, type_instance):
    """The identifier of an api-* series, its type from the table."""
    if type_instance not in API_NAMES:
        raise KeyError("no api-* series %r in the table" % type_instance)
    return truth.identifier(series.match(type_instance)[0].type,
                            type_instance)
# api-* series whose truth is 0 whatever the account does, unless a test
# injects faults: derive-api-resync_corrections counts what a
# FullSyncInterval resync had to correct in the incremental read.
API_ZERO = ("api-resync_corrections",)


def _matches(value, lo, hi, ident):
    """Is value within [lo, hi] (with a float tolerance for percentages)?"""
    eps = 1e-6 if "-coverage" not in ident else 1e-4
    return lo - eps <= value <= hi + eps


class Comparison:
    """The result of compare_rows(): mismatches (human-readable lines),
    checked (rows checked), missing / extra identifiers."""

    def __init__(self):
        self.mismatches = []
        self.checked = 0
        self.missing = []
        self.extra = []

    @property
    def ok(self):
        return not (self.mismatches or self.missing or self.extra)

    def describe(self, limit=40):
        lines = []
        if self.missing:
            lines.append("%d series the truth has were never dispatched: %s"
                         % (len(self.missing), self.missing[:limit]))
        if self.extra:
            lines.append("%d pagerduty series dispatched that the truth "
                         "lacks: %s" % (len(self.extra), self.extra[:limit]))
        if self.mismatches:
            lines.append("%d of %d values differ from the truth:"
                         % (len(self.mismatches), self.checked))
            lines += ["  " + m for m in self.mismatches[:limit]]
        return "\n".join(lines) or "all %d values right" % self.checked


def cycle_slack(csv, truth):
    """Longest api-cycle seen, plus the second time(NULL) may lag the
    dispatch: how long before a value's timestamp the plugin may have
    looked at the clock."""
    rows = csv.get(api_id(truth, "api-cycle"), [])
    longest = max([v for _, v in rows] or [0.0])
    return longest + 2.0


def candidate_times(epoch, slack):
    """Whole seconds at which the plugin may have computed a value it
    dispatched at epoch."""
    return range(int(math.floor(epoch - slack)), int(math.ceil(epoch)) + 1)


def check_row(truth, ident, epoch, value, slack):
    """None when value is what the truth says at one of the moments the
    plugin may have looked; else (lo, hi) at the row's own time (None when
    the truth has no such series then)."""
    for t in candidate_times(epoch, slack):
        want = truth.series(t).get(ident)
        if want is not None and _matches(value, want[0], want[1], ident):
            return None
    return truth.series(int(epoch)).get(ident, "absent")


def compare_rows(truth, csv, since=None, until=None, last_only=False,
                 idents=None):
    """Checks dispatched values against the truth. csv: read_csv_tree().
    Rows with epoch in [since, until] (None: unbounded); last_only: just the
    latest row of each series. api-* series are skipped. Also lists truth
    series never dispatched (within the bounds) and dispatched series the
    truth lacks."""
    res = Comparison()
    slack = cycle_slack(csv, truth)
    expected = truth.identifiers()
    seen = set()
    for ident, rows in sorted(csv.items()):
        ti = ident.rsplit("/", 1)[1].split("-", 1)[-1]
        if ti in API_NAMES or (idents is not None and ident not in idents):
            continue
        rows = [r for r in rows if (since is None or r[0] >= since)
                and (until is None or r[0] <= until)]
        if not rows:
            continue
        seen.add(ident)
        if ident not in expected:
            res.extra.append(ident)
            continue
        for epoch, value in (rows[-1:] if last_only else rows):
            res.checked += 1
            want = check_row(truth, ident, epoch, value, slack)
            if want is not None:
                res.mismatches.append("%s = %r at %.3f; truth %s"
                                      % (ident, value, epoch, want))
    wanted = expected if idents is None else expected & set(idents)
    res.missing = sorted(wanted - seen)
    return res


def api_zero_problems(csv, truth):
    """The API_ZERO series whose latest value is not 0 (or that are
    missing): ["api-resync_corrections = 3", ...]."""
    out = []
    for ti in API_ZERO:
        rows = csv.get(api_id(truth, ti), [])
        if not rows:
            out.append("%s missing" % ti)
        elif rows[-1][1] != 0:
            out.append("%s = %r" % (ti, rows[-1][1]))
    return out


def pagerduty_listval(daemon, account):
    """Identifiers LISTVAL shows for pagerduty-<account>, api-* left out."""
    return {i for i in daemon.listval("pagerduty-" + account)
            if i.split("/")[1] == "pagerduty-" + account
            and i.rsplit("/", 1)[1].split("-", 1)[-1] not in API_NAMES}


def cycles(csv, truth):
    """[(end epoch, duration, up)] of the plugin's cycles, from the api-cycle
    and api-up series (dispatched together at the end of each cycle)."""
    durations = csv.get(api_id(truth, "api-cycle"), [])
    ups = dict(csv.get(api_id(truth, "api-up"), []))
    out = []
    for epoch, dur in durations:
        up = ups.get(epoch)
        if up is None:   # the two timestamps may differ by a hair
            near = [v for e, v in ups.items() if abs(e - epoch) < 0.5]
            up = near[0] if near else None
        out.append((epoch, dur, up))
    return out


def holes(truth, csv, after):
    """Series missing from a successful cycle that ended after `after`:
    ["<identifier> missing in the cycle ending at <epoch>", ...]. A cycle
    dispatches its series, then its api-* metrics: the series of the cycle
    ending at E have timestamps in (previous end, E]."""
    out = []
    ends = cycles(csv, truth)
    expected = truth.identifiers()
    stamps = {ident: [e for e, _ in csv.get(ident, [])] for ident in expected}
    for (prev_end, _, _), (end, dur, up) in zip(ends, ends[1:]):
        if end <= after or up != 1:
            continue
        for ident in sorted(expected):
            es = stamps[ident]
            i = bisect.bisect_right(es, prev_end)
            if i >= len(es) or es[i] > end + 0.001:
                out.append("%s missing in the cycle ending at %.3f"
                           % (ident, end))
    return out


# --------------------------------------------------------------------------
# The read tests' base class


class ReadTestCase(harness.DaemonTestCase):
    """A simulator, collectd with one Account on it, and the checks every
    read test makes against the truth.

        sim, daemon = self.start_read("demo", Team="Payments")
        truth = self.truth(sim, teams=["Payments"])
        self.wait_cycles(daemon, truth, 2)
        self.assertMatchesTruth(daemon, truth)
    """

    ACCOUNT = "acme"
    INTERVAL = 2

    def account_block(self, sim, name=None, token_file=None, **options):
        """An Account block on sim with a TokenFile (the manager's token
        unless given), Interval and SlowInterval INTERVAL; options override
        or add (None leaves one out; a list repeats the key)."""
        if token_file is None:
            token_file = self.token_file(sim.token)
        opts = [("TokenFile", token_file), ("URL", sim.url),
                ("Interval", self.INTERVAL), ("SlowInterval", self.INTERVAL)]
        keys = [k for k, _ in opts]
        for key, value in options.items():
            if key in keys:
                opts[keys.index(key)] = (key, value)
            elif isinstance(value, list):
                opts += [(key, v) for v in value]
            else:
                opts.append((key, value))
        return harness.block("Account", name or self.ACCOUNT,
                             [(k, v) for k, v in opts if v is not None])

    def start_read(self, scenario="demo", seed=None, sim=None,
                   collectd_kwargs=None, **options):
        """(sim, daemon): a simulator (unless given) and collectd with one
        Account on it."""
        if sim is None:
            sim = self.start_simulator(scenario=scenario, seed=seed)
        daemon = self.start_collectd(
            harness.plugin_block(self.account_block(sim, **options)),
            **(collectd_kwargs or {}))
        return sim, daemon

    def truth(self, sim, **kwargs):
        kwargs.setdefault("account", self.ACCOUNT)
        t = Truth(sim, **kwargs)
        problems = t.self_check()
        self.assertEqual(problems, [], "the oracle disagrees with the "
                         "simulator's own answers (a test bug)")
        return t

    # -- waiting ------------------------------------------------------------
    def csv(self, daemon, account=None):
        return read_csv_tree(daemon, account or self.ACCOUNT)

    def cycles(self, daemon, truth):
        return cycles(self.csv(daemon, truth.account), truth)

    def wait_cycles(self, daemon, truth, count, up=1, timeout=60):
        """Waits until `count` more cycles ended (api-cycle rows), the last
        of them with api-up == up; returns the cycles seen then."""
        start = len(self.cycles(daemon, truth))

        def done():
            if not daemon.running:
                raise AssertionError("collectd exited (status %s)"
                                     % daemon.proc.returncode)
            cs = self.cycles(daemon, truth)
            if len(cs) >= start + count and cs[-1][2] == up:
                return cs
            return None
        return harness.wait_until(done, timeout, interval=0.2,
                                  message="%d more cycle(s) ending with "
                                  "api-up %s" % (count, up))

    def wait_up(self, daemon, truth, up=1, timeout=60):
        return daemon.wait_for_value(api_id(truth, "api-up"),
                                     lambda v: v == up, timeout=timeout)

    def wait_truth(self, daemon, truth, timeout=60):
        """Waits until the latest value of every truth series is right
        (after a change of state); returns the epoch it was seen at."""
        last = {}

        def right():
            res = compare_rows(truth, self.csv(daemon, truth.account),
                               last_only=True)
            last["res"] = res
            return time.time() if not (res.mismatches or res.missing) \
                else None
        try:
            return harness.wait_until(right, timeout, interval=0.5,
                                      message="values matching the truth")
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, last["res"].describe()))

    # -- checks -------------------------------------------------------------
    def assertMatchesTruth(self, daemon, truth, since=None, until=None,
                           last_only=False):
        """Every value dispatched (in [since, until]) is right, and every
        truth series was dispatched."""
        res = compare_rows(truth, self.csv(daemon, truth.account),
                           since=since, until=until, last_only=last_only)
        self.assertTrue(res.checked > 0 or not truth.identifiers(),
                        "no values to check")
        self.assertTrue(res.ok, res.describe())
        return res

    def assertListvalIsTruth(self, daemon, truth):
        """LISTVAL shows exactly the truth's series (api-* aside)."""
        listed = pagerduty_listval(daemon, truth.account)
        expected = truth.identifiers()
        self.assertEqual(sorted(listed - expected), [],
                         "LISTVAL shows pagerduty series the truth lacks")
        self.assertEqual(sorted(expected - listed), [],
                         "LISTVAL lacks series the truth has")

    def assertNoHoles(self, daemon, truth, after=0):
        missing = holes(truth, self.csv(daemon, truth.account), after)
        self.assertEqual(missing[:20], [], "%d series missing from "
                         "successful cycles" % len(missing))

    def plugin_requests(self, sim, since=None):
        """The requests the plugin made (the manager's user token; the
        oracle reads with the account-level key)."""
        return [r for r in sim.requests(since)
                if r.get("token_kind") == "user"]

    def notifications(self, daemon, plugin="pagerduty"):
        """[(severity, fields dict, message)] the logfile plugin logged."""
        out = []
        for msg in daemon.messages(None, contains="Notification: "):
            m = re.match(r"^Notification: severity = (\w+), (.*?), "
                         r"message = (.*)$", msg)
            if m is None:
                continue
            fields = dict(kv.split(" = ", 1) for kv in m.group(2).split(", ")
                          if " = " in kv)
            if plugin is None or fields.get("plugin") == plugin:
                out.append((m.group(1), fields, m.group(3)))
        return out


class FaultCheck(ReadTestCase):
    """The read tests' fault injection (test_read_faults*.py)."""

    def run_fault(self, kind, path, log=None, account_options=None,
                  counter="api-errors", others_continue=True, **fault):
        """Runs the plugin on demo, injects `kind` on requests under `path`
        until cleared, and checks everything the module doc lists. `log`:
        a regex the one ERROR line must match (default: "GET <path>
        failed"). others_continue: whether the series that do not need
        `path` must keep coming (not after a failure of the connection,
        which ends the cycle's requests: pd_collect.h)."""
        sim, daemon = self.start_read("demo", **(account_options or {}))
        truth = self.truth(sim)
        self.wait_cycles(daemon, truth, 1, timeout=60)
        counted = daemon.csv_last(api_id(truth, counter))

        sim.add_fault(kind, count=-1, path=path, **fault)
        failing = self.wait_cycles(daemon, truth, 3, up=0, timeout=60)
        self.assertEqual([up for _, _, up in failing[-2:]], [0, 0])
        self.assertGreater(daemon.csv_last(api_id(truth, counter)), counted,
                           "%s did not count the fault" % counter)
        daemon.wait_for_log(r'^pagerduty plugin: account "acme": '
                            + (log or "GET %s failed" % path),
                            severity="error")
        # Once per change of state: not once per cycle.
        self.assertEqual(len(daemon.errors()), 1, daemon.errors())
        if others_continue:
            csv = self.csv(daemon)
            fresh = [i for i, rows in csv.items()
                     if rows and rows[-1][0] > failing[-2][0]]
            self.assertTrue(any("/gauge-service-" in i or "-policy-" in i
                                or "-schedule-" in i for i in fresh),
                            "no series at all during the fault")

        sim.clear_faults()
        self.wait_up(daemon, truth, timeout=60)
        daemon.wait_for_log(r'^pagerduty plugin: account "acme": .*'
                            r'succeeds? again', severity="info")
        recovered = self.wait_cycles(daemon, truth, 2, timeout=60)
        # Every value ever dispatched, during the fault too, is right;
        # after the recovery every series is back, every cycle.
        self.assertMatchesTruth(daemon, truth)
        self.assertNoHoles(daemon, truth, after=recovered[-2][0])
        self.assertListvalIsTruth(daemon, truth)
        self.assertEqual(len(daemon.errors()), 1, daemon.errors())
        self.assertTrue(daemon.running)
        self.assertEqual(daemon.stop(), 0)
        return sim, daemon, truth
