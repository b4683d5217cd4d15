# SPDX-License-Identifier: MIT
"""Scenarios: the accounts the simulator can start with. All times are
relative to "now" at build time; everything else comes from the seed, so a
(scenario, seed) pair always builds the same account.

demo    a small hand-written account (see README.md, "Scenarios")
large   generated: 2,000+ services, 12,000+ open incidents, 300 layer-based and
        30 shift-based schedules, 300 escalation policies, 20 teams (paging and
        speed tests)
random  generated from the seed at moderate size, with every feature of demo
"""

import random

from .model import (Account, EscalationPolicy, Integration, Layer, MaintenanceWindow,
                    Override, Rotation, Rule, Schedule, ScheduleV3, Service, ShiftEvent, Team,
                    Token, User)
from .oncall import DAY, WEEK, _EPOCH_MONDAY

HOUR = 3600
SCENARIOS = ("demo", "large", "random")


def build(name, seed, now):
    if name not in SCENARIOS:
        raise ValueError("unknown scenario %r (demo, large, random)" % name)
    now = int(now)
    account = Account(seed, now)
    {"demo": _demo, "large": _large, "random": _random}[name](account, now)
    return account


def _monday_before(t):
    return t - ((t - _EPOCH_MONDAY) % WEEK)


def _midnight_before(t):
    return t - (t % DAY)


# -- shared pieces -----------------------------------------------------------
def _user(a, name, role, teams, title=""):
    email = name.lower().replace(" ", ".") + "@example.com"
    u = User(a.ids.object_id(), name, email, role, [t.id for t in teams], job_title=title)
    a.add_user(u)
    return u


def _tokens(a, manager, observer, restricted, extra=()):
    """The credentials every scenario has; GET /_sim/tokens lists them with a label."""
    def tok(label, kind, user, role=None, revoked=False):
        value = a.ids.user_token() if kind == "user" else a.ids.account_key()
        t = Token(value, kind, user.id if user else None, role or (user.role if user else "admin"), revoked)
        t.label = label
        a.add_token(t)
        return t

    a.manager_token = tok("manager", "user", manager).token
    tok("observer", "user", observer)
    tok("restricted", "user", restricted)
    for label, user in extra:
        tok(label, "user", user)
    tok("account", "account", None, "admin")
    tok("account_read_only", "account", None, "read_only")
    tok("revoked", "user", manager, revoked=True)


def _service(a, name, desc, teams, policy, created_at, disabled=False):
    integ = Integration(a.ids.object_id(), "Events API v2", a.ids.routing_key())
    s = Service(a.ids.object_id(), name, desc, [t.id for t in teams], policy.id, created_at,
                integrations=[integ], disabled=disabled)
    a.add_service(s)
    return s


def _layer(a, name, start, users, turn, restrictions=(), end=None, virtual_start=None):
    return Layer(a.ids.object_id(), name, start, start if virtual_start is None else virtual_start,
                 turn, [u.id for u in users], [dict(r) for r in restrictions], end)


def _schedule(a, name, desc, teams, layers, overrides=()):
    s = Schedule(a.ids.object_id(), name, desc, [t.id for t in teams], list(layers), list(overrides))
    a.schedules[s.id] = s
    return s


def _event(a, name, start, duration, period, members, since=None, until=None):
    """A recurring shift; members are Users or None (an empty member)."""
    return ShiftEvent(a.ids.object_id(), name, start, duration, period,
                      [m.id if m is not None else None for m in members],
                      start if since is None else since, until)


def _schedule_v3(a, name, desc, teams, rotations):
    """rotations: [[ShiftEvent, ...], ...]"""
    s = ScheduleV3(a.ids.object_id(), name, desc, [t.id for t in teams],
                   [Rotation(a.ids.object_id(), list(events)) for events in rotations])
    a.schedules_v3[s.id] = s
    return s


def _target_type(t):
    if isinstance(t, User):
        return "user_reference"
    return "schedule_v3_reference" if isinstance(t, ScheduleV3) else "schedule_reference"


def _policy(a, name, desc, teams, num_loops, rules):
    """rules: [(delay_minutes, [User|Schedule|ScheduleV3, ...])]"""
    built = []
    for delay, targets in rules:
        tlist = [(_target_type(t), t.id) for t in targets]
        built.append(Rule(a.ids.object_id(), delay, tlist))
    p = EscalationPolicy(a.ids.object_id(), name, desc, num_loops, built, [t.id for t in teams])
    a.policies[p.id] = p
    return p


def _window(a, services, start, end, desc, user):
    w = MaintenanceWindow(a.ids.object_id(), len(a.maintenance_windows) + 1, start, end, desc,
                          [s.id for s in services], user.id)
    a.maintenance_windows[w.id] = w
    return w


def _incident(a, service, title, urgency, created, status="triggered", key=None, acked_by=None,
              ack_at=None, resolved_at=None, resolution=None, resolver=None, assignees=()):
    inc = a.new_incident(service, title, urgency, created, incident_key=key,
                         assignees=[u.id for u in assignees])
    if status in ("acknowledged", "resolved") and acked_by is not None:
        a.set_status(inc, "acknowledged", ack_at or created + 600, user_id=acked_by.id)
    if status == "resolved":
        a.set_status(inc, "resolved", resolved_at or created + HOUR,
                     user_id=resolver.id if resolver else None, resolution=resolution)
    return inc


def _alert_incident(a, service, title, severity, created, dedup_key):
    """An incident opened through the Events API (it has an alert with the key)."""
    urgency = "high" if severity in ("critical", "error") else "low"
    inc = a.new_incident(service, title, urgency, created, incident_key=dedup_key)
    a.add_alert(inc, service.integrations[0].id, dedup_key, severity, title, created,
                {"source": "demo-host", "severity": severity})
    return inc


# -- demo ----------------------------------------------------------------------
def _demo(a, now):
    platform = Team(a.ids.object_id(), "Platform", "Kubernetes, databases and shared infrastructure")
    payments = Team(a.ids.object_id(), "Payments", "Checkout and payment processing")
    web = Team(a.ids.object_id(), "Web", "Customer-facing web frontends")
    for t in (platform, payments, web):
        a.teams[t.id] = t

    manager = _user(a, "Morgan Lee", "user", [platform, payments, web], "Engineering Manager")
    admin = _user(a, "Ada Admin", "admin", [platform], "SRE Lead")
    observer = _user(a, "Olive Observer", "observer", [platform, payments, web], "Dashboard bot")
    restricted = _user(a, "Riley Restricted", "restricted_access", [web], "Contractor")
    responder = _user(a, "Ravi Responder", "limited_user", [payments], "SRE")
    stakeholder = _user(a, "Sam Stakeholder", "read_only_user", [payments], "Product Owner")
    priya = _user(a, "Priya Patel", "user", [platform], "SRE")
    chen = _user(a, "Chen Wei", "limited_user", [platform], "SRE")
    diego = _user(a, "Diego Alvarez", "limited_user", [payments], "Backend Engineer")
    emma = _user(a, "Emma Novak", "limited_user", [web], "Frontend Engineer")
    kofi = _user(a, "Kofi Mensah", "limited_user", [web], "Frontend Engineer")
    lena = _user(a, "Lena Fischer", "limited_user", [payments, platform], "DBA")
    _tokens(a, manager, observer, restricted,
            extra=[("admin", admin), ("responder", responder), ("stakeholder", stakeholder)])

    monday = _monday_before(now)
    midnight = _midnight_before(now)
    year_ago = monday - 52 * WEEK
    # Platform Primary: weekly rotation of three, business-hours layer on top; no gaps.
    s_platform = _schedule(a, "Platform Primary", "24x7 weekly rotation, business-hours cover on top", [platform], [
        _layer(a, "Layer 1", year_ago, [priya, chen, lena], WEEK),
        _layer(a, "Layer 2", year_ago, [admin], WEEK, restrictions=[
            {"type": "weekly_restriction", "start_time_of_day": "09:00:00", "duration_seconds": 8 * HOUR,
             "start_day_of_week": d} for d in range(1, 6)]),
    ])
    # Payments Primary: daily rotation; the old layer ends in three days and the
    # new one starts six hours later -> a gap in the coming week.
    gap_start = midnight + 3 * DAY + 6 * HOUR
    s_payments = _schedule(a, "Payments Primary", "Daily rotation (layer hand-over leaves a gap)", [payments], [
        _layer(a, "Layer 1", year_ago, [diego, lena, responder], DAY, end=gap_start,
               virtual_start=year_ago + 8 * HOUR),
        _layer(a, "Layer 2", gap_start + 6 * HOUR, [diego, responder], DAY,
               virtual_start=year_ago + 8 * HOUR),
    ])
    # Web Secondary: starts two hours from now -> nobody on call now.
    s_web_secondary = _schedule(a, "Web Secondary", "New rotation, not started yet", [web], [
        _layer(a, "Layer 1", now - (now % HOUR) + 2 * HOUR, [kofi, emma], WEEK),
    ])
    # Web Primary: weekly rotation with an override covering now.
    s_web = _schedule(a, "Web Primary", "Weekly rotation with an override", [web], [
        _layer(a, "Layer 1", year_ago, [emma, kofi], WEEK),
    ], overrides=[Override(a.ids.object_id(), manager.id, now - (now % HOUR) - HOUR, now - (now % HOUR) + 4 * HOUR)])
    # Database Business Hours: weekdays 09:00-17:00 UTC only.
    s_db = _schedule(a, "Database Business Hours", "Weekdays 09:00-17:00 UTC", [platform], [
        _layer(a, "Layer 1", year_ago, [lena, priya], WEEK, restrictions=[
            {"type": "weekly_restriction", "start_time_of_day": "09:00:00", "duration_seconds": 8 * HOUR,
             "start_day_of_week": d} for d in range(1, 6)]),
    ])

    # Shift-based ("v3") schedules. SRE Follow the Sun: a day shift and an
    # evening shift that overlap 14:00-18:00 UTC (two people on call at once),
    # and a night shift whose every other turn is an empty member (a gap
    # 00:00-06:00 every other night).
    s_sun = _schedule_v3(a, "SRE Follow the Sun", "Shift-based: overlapping day shifts, "
                         "a night shift with an empty member", [platform], [
        [_event(a, "EMEA day", year_ago + 6 * HOUR, 12 * HOUR, DAY, [priya, chen])],
        [_event(a, "Americas day", year_ago + 14 * HOUR, 10 * HOUR, DAY, [lena, admin])],
        [_event(a, "Night", year_ago, 6 * HOUR, DAY, [chen, None])],
    ])
    # Checkout Shifts: 8-hour shifts around the clock that stop in four days
    # (a gap to the end of the window), and a one-off launch shift on top now.
    hour = now - (now % HOUR)
    s_checkout = _schedule_v3(a, "Checkout Shifts", "Shift-based: rotation ending in four days, "
                              "a launch shift on top", [payments], [
        [_event(a, "Shift", hour - 2 * HOUR, 8 * HOUR, 8 * HOUR, [diego, responder, lena],
                until=midnight + 4 * DAY)],
        [_event(a, "Launch", hour - HOUR, 3 * HOUR, 52 * WEEK, [manager])],
    ])

    ep_platform = _policy(a, "Platform Escalation", "Platform on-call, then the manager", [platform], 2,
                          [(15, [s_platform]), (30, [manager])])
    ep_payments = _policy(a, "Payments Escalation", "Payments on-call, then the SRE lead", [payments], 1,
                          [(10, [s_payments]), (20, [admin, s_platform])])
    ep_web = _policy(a, "Web Escalation", "Level 1 is not staffed yet (uncovered)", [web], 0,
                     [(5, [s_web_secondary]), (15, [s_web, manager])])
    ep_db = _policy(a, "Database Escalation", "Business-hours DBAs, then Payments on-call", [platform], 3,
                    [(30, [s_db]), (30, [s_payments, admin])])

    _policy(a, "SRE Escalation", "Shift-based SRE rota, then Platform on-call", [platform], 1,
            [(10, [s_sun]), (20, [s_platform, manager])])
    _policy(a, "Checkout Escalation", "Shift-based checkout rota, then Payments on-call", [payments], 2,
            [(5, [s_checkout]), (15, [s_payments])])

    created = now - 400 * DAY
    svc = {}
    for name, desc, teams, policy, disabled in [
        ("Checkout API", "Public checkout endpoints", [payments], ep_payments, False),
        ("Payment Gateway", "Card processor integration", [payments], ep_payments, False),
        ("Legacy Billing", "Retired billing system", [payments], ep_payments, True),
        ("Web Frontend", "www and mobile web", [web], ep_web, False),
        ("CDN Edge", "Edge caching", [web], ep_web, False),
        ("Auth Service", "Login and sessions (shared by Web and Platform)", [web, platform], ep_web, False),
        ("Kubernetes Platform", "Production clusters", [platform], ep_platform, False),
        ("Database Cluster", "PostgreSQL primary and replicas", [platform], ep_db, False),
        ("Search Indexer", "Search ingestion pipeline", [platform], ep_platform, False),
        ("Internal Tools", "Back-office tools (no team)", [], ep_platform, False),
    ]:
        svc[name] = _service(a, name, desc, teams, policy, created, disabled)

    _window(a, [svc["Search Indexer"]], now - HOUR, now + 3 * HOUR, "Reindexing after schema change", admin)
    _window(a, [svc["CDN Edge"]], now + 2 * DAY, now + 2 * DAY + 2 * HOUR, "Certificate rotation", emma)
    _window(a, [svc["Checkout API"]], now - 20 * DAY, now - 20 * DAY + HOUR, "Database upgrade", diego)

    # Every status x urgency, an old open one, resolved ones, an Events-created one.
    _incident(a, svc["Kubernetes Platform"], "Node pool autoscaler stuck", "high", now - 40 * DAY,
              key="k8s/autoscaler", assignees=[priya])
    _incident(a, svc["Checkout API"], "Checkout p99 latency above 2s", "high", now - 2 * HOUR,
              key="checkout/latency", assignees=[diego])
    _incident(a, svc["Web Frontend"], "5xx rate elevated on web-03", "low", now - 30 * 60, assignees=[kofi])
    pg = _incident(a, svc["Payment Gateway"], "Payment provider timeouts", "high", now - 5 * HOUR,
                   status="acknowledged", acked_by=responder, ack_at=now - 4 * HOUR, assignees=[responder])
    _incident(a, svc["Database Cluster"], "Replica lag on db-2", "low", now - DAY, status="acknowledged",
              acked_by=lena, ack_at=now - DAY + 900, assignees=[lena])
    _incident(a, svc["Search Indexer"], "Indexer backlog growing", "low", now - 3 * HOUR, assignees=[chen])
    _incident(a, svc["CDN Edge"], "CDN purge failures", "high", now - 3 * DAY, status="resolved",
              acked_by=emma, resolved_at=now - 3 * DAY + HOUR, resolver=emma, resolution="Purge API recovered")
    _incident(a, svc["CDN Edge"], "Cache hit ratio dropped", "low", now - 10 * DAY, status="resolved",
              resolved_at=now - 10 * DAY + 2 * HOUR)
    _incident(a, svc["Auth Service"], "Login errors after deploy", "low", now - 2 * DAY, status="resolved",
              acked_by=kofi, resolved_at=now - 2 * DAY + 1800, resolver=kofi, resolution="Rolled back")
    _incident(a, svc["Checkout API"], "Checkout outage", "high", now - 45 * DAY, status="resolved",
              acked_by=diego, resolved_at=now - 45 * DAY + 3 * HOUR, resolver=diego, resolution="Failover")
    _incident(a, svc["Legacy Billing"], "Billing batch failed", "low", now - 60 * DAY, status="resolved",
              resolved_at=now - 60 * DAY + HOUR)
    _alert_incident(a, svc["Checkout API"], "Disk 95% full on checkout-db-1", "critical", now - 20 * 60,
                    "checkout-db-1/df-root/percent_bytes-used")
    a.add_note(pg, responder.id, "Provider status page confirms degraded API.", now - 4 * HOUR + 300)
    a.add_note(pg, manager.id, "Switched 50% of traffic to the backup processor.", now - 3 * HOUR)


# -- generated accounts -------------------------------------------------------
_ADJ = ["Primary", "Secondary", "Core", "Edge", "Batch", "Realtime", "Public", "Internal", "Mobile", "Legacy",
        "Payments", "Search", "Auth", "Storage", "Network", "Analytics", "Billing", "Email", "Media", "Admin"]
_NOUN = ["API", "Gateway", "Worker", "Database", "Cache", "Queue", "Frontend", "Scheduler", "Indexer",
         "Proxy", "Store", "Pipeline", "Service", "Cluster", "Portal", "Router", "Monitor", "Exporter"]
_FIRST = ["Alex", "Blake", "Casey", "Dana", "Eli", "Fran", "Gale", "Hana", "Ivan", "Jo", "Kim", "Lou", "Max",
          "Nia", "Oli", "Pat", "Quinn", "Ray", "Sky", "Tao", "Uma", "Vic", "Wren", "Xia", "Yuri", "Zoe"]
_LAST = ["Adams", "Baker", "Cruz", "Diaz", "Evans", "Ford", "Gomez", "Hill", "Ito", "Jones", "Khan", "Lopez",
         "Moore", "Nash", "Ortiz", "Park", "Quist", "Reed", "Shah", "Tran", "Ueda", "Vega", "Wong", "Young"]
_TITLES = ["CPU high on {h}", "Disk almost full on {h}", "Error rate above SLO on {h}", "Latency p99 high on {h}",
           "Replication lag on {h}", "Health check failing on {h}", "OOM kills on {h}", "Certificate expiring on {h}"]


def _generate(a, now, rng, n_teams, n_users, n_services, n_schedules, n_policies, n_open, n_resolved):
    teams = []
    for i in range(n_teams):
        t = Team(a.ids.object_id(), "Team %02d %s" % (i + 1, _ADJ[i % len(_ADJ)]), "Generated team %d" % (i + 1))
        a.teams[t.id] = t
        teams.append(t)
    manager = _user(a, "Morgan Lee", "user", teams, "Engineering Manager")
    observer = _user(a, "Olive Observer", "observer", teams, "Dashboard bot")
    restricted = _user(a, "Riley Restricted", "restricted_access", teams[:1], "Contractor")
    admin = _user(a, "Ada Admin", "admin", teams[:2], "SRE Lead")
    _tokens(a, manager, observer, restricted, extra=[("admin", admin)])
    users = []
    names = set()
    while len(users) < n_users:
        name = "%s %s" % (rng.choice(_FIRST), rng.choice(_LAST))
        if name in names:
            name = "%s %d" % (name, len(users))
        names.add(name)
        role = rng.choice(["user", "limited_user", "limited_user", "limited_user", "admin"])
        users.append(_user(a, name, role, rng.sample(teams, rng.randint(1, min(2, len(teams)))), "Engineer"))

    monday = _monday_before(now)
    year_ago = monday - 52 * WEEK
    schedules = []
    for i in range(n_schedules):
        team = teams[i % len(teams)]
        members = rng.sample(users, rng.randint(1, 4))
        kind = i % 6
        turn = rng.choice([DAY, WEEK, 12 * HOUR])
        if kind == 0:     # nobody on call now: starts later
            layers = [_layer(a, "Layer 1", now - (now % HOUR) + rng.randint(1, 48) * HOUR, members, turn)]
        elif kind == 1:   # a gap within the coming week
            cut = now + rng.randint(1, 6) * DAY
            layers = [_layer(a, "Layer 1", year_ago, members, turn, end=cut),
                      _layer(a, "Layer 2", cut + rng.randint(1, 12) * HOUR, members, turn, virtual_start=year_ago)]
        elif kind == 2:   # business hours only
            layers = [_layer(a, "Layer 1", year_ago, members, WEEK, restrictions=[
                {"type": "daily_restriction", "start_time_of_day": "09:00:00", "duration_seconds": 8 * HOUR}])]
        else:             # 24x7, sometimes with a second layer on top
            layers = [_layer(a, "Layer 1", year_ago, members, turn)]
            if kind == 3:
                layers.append(_layer(a, "Layer 2", year_ago, rng.sample(users, 1), WEEK, restrictions=[
                    {"type": "weekly_restriction", "start_time_of_day": "18:00:00", "duration_seconds": 14 * HOUR,
                     "start_day_of_week": 5}]))
        schedules.append(_schedule(a, "Schedule %03d %s" % (i + 1, team.name.split(" ", 2)[-1]),
                                   "Generated schedule", [team], layers))

    policies = []
    for i in range(n_policies):
        team = teams[i % len(teams)]
        rules = []
        for level in range(rng.randint(1, 3)):
            # Policy 1 starts with schedule 1, which has not started: an uncovered level 1.
            targets = [schedules[0] if i == 0 and level == 0 else rng.choice(schedules)]
            if level > 0 or rng.random() < 0.2:
                targets.append(rng.choice(users))
            rules.append((rng.choice([5, 10, 15, 30]), targets))
        policies.append(_policy(a, "Policy %03d %s" % (i + 1, team.name.split(" ", 2)[-1]), "Generated policy",
                                [team], rng.randint(0, 3), rules))

    _generate_v3(a, now, random.Random("v3-%s" % a.seed), teams, users, policies, max(2, n_schedules // 10))

    services = []
    created = now - 500 * DAY
    for i in range(n_services):
        team = teams[i % len(teams)]
        name = "%s %s %04d" % (_ADJ[rng.randrange(len(_ADJ))], _NOUN[rng.randrange(len(_NOUN))], i + 1)
        svc_teams = [team] if i % 17 else [team, teams[(i + 1) % len(teams)]]
        services.append(_service(a, name, "Generated service", svc_teams, policies[i % len(policies)], created,
                                 disabled=(i % 97 == 5)))
    # A few ongoing and future maintenance windows.
    for i in range(max(1, n_services // 200)):
        _window(a, [services[(i * 37 + 11) % len(services)]], now - HOUR, now + 2 * HOUR,
                "Generated maintenance %d" % (i + 1), manager)
        _window(a, [services[(i * 53 + 7) % len(services)]], now + DAY, now + DAY + HOUR,
                "Generated future maintenance %d" % (i + 1), manager)

    # Open incidents: most recent, a fifth older than a month; some acknowledged.
    for i in range(n_open):
        svc = services[rng.randrange(len(services))]
        old = i == 0 or rng.random() < 0.2        # the first one is always older than a month
        age = rng.randint(31 * DAY, 150 * DAY) if old else rng.randint(60, 30 * DAY - HOUR)
        host = "host-%03d" % rng.randrange(500)
        inc = a.new_incident(svc, rng.choice(_TITLES).format(h=host), rng.choice(["high", "low"]), now - age,
                             incident_key="gen/%s/%d" % (host, i), bulk=True)
        if rng.random() < 0.3:
            a.set_status(inc, "acknowledged", inc.created_at + 300, user_id=rng.choice(users).id)
    for i in range(n_resolved):
        svc = services[rng.randrange(len(services))]
        created_at = now - rng.randint(HOUR, 120 * DAY)
        inc = a.new_incident(svc, "Resolved: " + rng.choice(_TITLES).format(h="host-%03d" % rng.randrange(500)),
                             rng.choice(["high", "low"]), created_at, bulk=True)
        a.set_status(inc, "resolved", created_at + rng.randint(300, 6 * HOUR))
    a.finish_bulk()


def _generate_v3(a, now, rng, teams, users, policies, n):
    """n shift-based schedules (their own random stream, so the rest of the
    account is what it was before they existed); every seventh policy but
    the first also targets one at level 1."""
    base = _midnight_before(now) - 10 * WEEK
    made = []
    for i in range(n):
        team = teams[(3 * i + 1) % len(teams)]
        members = rng.sample(users, min(len(users), rng.randint(2, 4)))
        kind = i % 3
        if kind == 0:     # overlapping day and evening shifts, a gap at night
            rotations = [[_event(a, "Day", base + 8 * HOUR, 10 * HOUR, DAY, members[:2])],
                         [_event(a, "Evening", base + 14 * HOUR, 8 * HOUR, DAY, members[1:])]]
        elif kind == 1:   # around the clock, every third shift an empty member
            rotations = [[_event(a, "Round the clock", base, 12 * HOUR, 12 * HOUR, members[:2] + [None])]]
        else:             # not started yet
            start = now - (now % HOUR) + rng.randint(1, 72) * HOUR
            rotations = [[_event(a, "Shift", start, 8 * HOUR, 8 * HOUR, members)]]
        made.append(_schedule_v3(a, "Shifts %03d %s" % (i + 1, team.name.split(" ", 2)[-1]),
                                 "Generated shift-based schedule", [team], rotations))
    for i, p in enumerate(policies):
        if i % 7 == 3 and p.rules:
            p.rules[0].targets.append(("schedule_v3_reference", made[i % len(made)].id))


def _large(a, now):
    rng = random.Random("large-%s" % a.seed)
    _generate(a, now, rng, n_teams=20, n_users=400, n_services=2000, n_schedules=300, n_policies=300,
              n_open=12500, n_resolved=1500)


def _random(a, now):
    rng = random.Random("random-%s" % a.seed)
    _generate(a, now, rng, n_teams=rng.randint(3, 8), n_users=rng.randint(15, 40),
              n_services=rng.randint(20, 80), n_schedules=rng.randint(6, 24), n_policies=rng.randint(6, 20),
              n_open=rng.randint(30, 300), n_resolved=rng.randint(20, 200))
