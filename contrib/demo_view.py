#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
demo_view.py - the plugin's values as an on-call engineer reads them
(used by contrib/demo_watch.py).

The view is built only from the series the plugin dispatches, grouped by
their doc/contract.md §4 names - `<host>/pagerduty-<account>/<type>-<type_instance>`
with type instances `service-<svc>-<field>`, `schedule-<sched>-<field>`,
`policy-<policy>-<field>`, `team-<team>-<field>`, `incidents-...`,
`services-...`, `api-...`, and `<host>/pagerduty-notify-<block>/...` - so
whatever services, schedules, policies and Notify blocks an account has
show up without being named here.

  parse(values, totals)  -> {key: Account or Notify}  (the model)
  render(model)          -> [line, ...]                (the one-screen view)
  facts(model)           -> {(entity, field): text}    (what a change is)
  changes(old, new)      -> [line, ...]                (old -> new, per entity)
  handoffs(old, new)     -> [line, ...]                (shifts that ended)

A value the plugin did not dispatch (a schedule it could not read yet, a
rate before its second value) is shown as "?", never as 0 or "nobody".
"""

import math

STATUS = {0: "active", 1: "warning", 2: "critical", 3: "maintenance",
          4: "disabled"}
# The order an on-call engineer looks at services in: trouble first.
STATUS_ORDER = ["critical", "warning", "active", "maintenance", "disabled"]
ENTITY_KINDS = ("service", "schedule", "policy", "team")
UNKNOWN = "?"


class Account:
    """The values of one `<host>/pagerduty-<account>`."""

    def __init__(self, host, name):
        self.host, self.name = host, name
        self.entities = {kind: {} for kind in ENTITY_KINDS}
        self.incidents = {}     # "triggered-high", "oldest_triggered", ...
        self.services = {}      # "critical": 3, ...
        self.api = {}           # "up", "latency", "requests" (rate), ...
        self.api_totals = {}    # "errors": counted since the demo started


class Notify:
    """The values of one `<host>/pagerduty-notify-<block>`."""

    def __init__(self, host, name):
        self.host, self.name = host, name
        self.values = {}        # "pending", "oldest"
        self.totals = {}        # "sent", "retried", "failed", "dropped"


def split_identifier(ident):
    """(host, plugin_instance, type, type_instance) of a pagerduty
    identifier, or None for any other plugin's."""
    parts = ident.split("/")
    if len(parts) != 3 or not parts[1].startswith("pagerduty-"):
        return None
    host, plugin, type_part = parts
    vtype, _, type_instance = type_part.partition("-")
    return host, plugin[len("pagerduty-"):], vtype, type_instance


def parse(values, totals=None):
    """values: {identifier: {ds: value}} as unixsock GETVAL answers them
    (derive data sources as rates); totals: {identifier: count} of the
    derive series, counted by the caller (a number, or a text such as
    ">=3"). Returns {(host, "account"|"notify",
    name): Account or Notify}."""
    totals = totals or {}
    model = {}
    for ident, dsvalues in values.items():
        split = split_identifier(ident)
        if split is None or not dsvalues:
            continue
        host, instance, vtype, ti = split
        value = next(iter(dsvalues.values()))
        total = totals.get(ident)
        if instance.startswith("notify-"):
            name = instance[len("notify-"):]
            block = model.setdefault((host, "notify", name), Notify(host, name))
            if vtype == "derive":
                block.totals[ti] = total
            else:
                block.values[ti] = value
            continue
        account = model.setdefault((host, "account", instance),
                                   Account(host, instance))
        kind, _, rest = ti.partition("-")
        if kind in ENTITY_KINDS:
            # Entity names are [a-z0-9_] (doc/contract.md §4): the last dash ends them.
            name, _, field = rest.rpartition("-")
            account.entities[kind].setdefault(name, {})[field] = value
        elif kind == "incidents":
            account.incidents[rest] = value
        elif kind == "services":
            account.services[rest] = value
        elif kind == "api":
            account.api[rest] = value
            if vtype == "derive":
                account.api_totals[rest] = total
    return model


# --- numbers as a person reads them ------------------------------------------

def known(v):
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def num(v):
    """A count: "3", or "?" when unknown; a text (a total the caller
    counted, ">=3") as it is."""
    if isinstance(v, str):
        return v
    return "%d" % round(v) if known(v) else UNKNOWN


def human_duration(seconds):
    """"2 h 10 min", "3 d 4 h", "45 s"; "?" when unknown."""
    if not known(seconds):
        return UNKNOWN
    s = int(round(seconds))
    units = [("d", 86400), ("h", 3600), ("min", 60), ("s", 1)]
    for i, (name, size) in enumerate(units[:-1]):
        if s >= size:
            big, rest = divmod(s, size)
            small_name, small_size = units[i + 1]
            small = rest // small_size
            return "%d %s %d %s" % (big, name, small, small_name) if small \
                else "%d %s" % (big, name)
    return "%d s" % s



# --- the view ------------------------------------------------------------------

def table(headers, rows, left=(0,)):
    """Lines of a table, two spaces in and between the columns; the columns
    in left are aligned left, the others (numbers) right."""
    widths = [max(len(str(r[i])) for r in [headers] + rows)
              for i in range(len(headers))]
    out = []
    for r in [headers] + rows:
        cells = [str(c).ljust(w) if i in left else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]
        out.append(("  " + "  ".join(cells)).rstrip())
    return out


def service_status(fields):
    v = fields.get("status")
    return STATUS.get(round(v), UNKNOWN) if known(v) else UNKNOWN


def service_rank(item):
    name, fields = item
    status = service_status(fields)
    order = STATUS_ORDER.index(status) if status in STATUS_ORDER else 0
    open_ = sum(fields.get(f, 0) or 0 for f in ("triggered", "acknowledged"))
    return (order, -open_, name)


def low_urgency(fields):
    t, a, h = (fields.get(f) for f in ("triggered", "acknowledged",
                                       "high_urgency"))
    return t + a - h if all(known(x) for x in (t, a, h)) else None


def incidents_lines(acc):
    inc = acc.incidents
    lines = []
    for status in ("triggered", "acknowledged"):
        high, low = inc.get(status + "-high"), inc.get(status + "-low")
        total = high + low if known(high) and known(low) else None
        text = "%s %s (%s high, %s low)" % (num(total), status, num(high),
                                            num(low))
        if known(total) and total > 0:
            text += ", the oldest %s old" % human_duration(
                inc.get("oldest_" + status))
        lines.append(("Open incidents: " if not lines else " " * 16) + text)
    return lines


def services_lines(acc):
    services = acc.entities["service"]
    counts = ", ".join("%s %s" % (num(acc.services[s]), s)
                       for s in STATUS_ORDER if s in acc.services)
    rows = [[name, service_status(f), num(f.get("triggered")),
             num(f.get("acknowledged")), num(f.get("high_urgency")),
             num(low_urgency(f)), num(f.get("created"))]
            for name, f in sorted(services.items(), key=service_rank)]
    return ["Services (%d): %s" % (len(services), counts or UNKNOWN)] + \
        table(["service", "status", "triggered", "acked", "high", "low",
               "created"], rows, left=(0, 1))


def teams_lines(acc):
    teams = acc.entities["team"]
    if not teams:
        return []
    rows = [[name, num(f.get("triggered")), num(f.get("acknowledged"))]
            for name, f in sorted(teams.items())]
    return ["Teams (%d), their services' open incidents:" % len(teams)] + \
        table(["team", "triggered", "acked"], rows)


def oncall_text(n):
    if not known(n):
        return UNKNOWN
    return "NOBODY" if round(n) == 0 else "%d" % round(n)


def next_gap_text(f):
    gap, next_gap, oncall = f.get("gap"), f.get("next_gap"), f.get("oncall")
    if not known(gap) or not known(next_gap):
        return UNKNOWN
    if round(gap) == 0:
        return "none"
    if round(next_gap) == 0 or (known(oncall) and round(oncall) == 0):
        return "NOW"
    return human_duration(next_gap)


def handoff_text(f):
    oncall, handoff = f.get("oncall"), f.get("next_handoff")
    if known(oncall) and round(oncall) == 0:
        return "-"
    return human_duration(handoff)


def schedules_lines(acc):
    schedules = acc.entities["schedule"]
    rows = []
    for name, f in sorted(schedules.items()):
        cov, gap = f.get("coverage"), f.get("gap")
        rows.append([name, oncall_text(f.get("oncall")),
                     "%.1f %%" % cov if known(cov) else UNKNOWN,
                     human_duration(gap) if known(gap) and gap > 0 else
                     num(gap), next_gap_text(f), handoff_text(f)])
    return ["Schedules (%d; coverage and uncovered time: the CoverageWindow "
            "ahead):" % len(schedules)] + \
        table(["schedule", "on call", "coverage", "uncovered", "next gap",
               "handoff in"], rows, left=(0, 3, 4, 5))


def policies_lines(acc):
    policies = acc.entities["policy"]
    rows = [[name, num(f.get("rules")), num(f.get("loops")),
             oncall_text(f.get("oncall")), num(f.get("uncovered_levels"))]
            for name, f in sorted(policies.items())]
    return ["Escalation policies (%d):" % len(policies)] + \
        table(["policy", "levels", "loops", "level 1 on call",
               "uncovered levels"], rows)


def seconds_text(v):
    """A short time: "12 ms", "1.25 s"."""
    if not known(v):
        return UNKNOWN
    return "%.0f ms" % (v * 1000) if v < 1 else "%.2f s" % v


def api_lines(acc):
    api, totals = acc.api, acc.api_totals
    up = api.get("up")
    state = UNKNOWN if not known(up) else ("up" if round(up) == 1
                                           else "DOWN (the last cycle failed)")
    rate, latency, cycle = (api.get(k) for k in ("requests", "latency",
                                                 "cycle"))
    lines = ["API: %s; %s requests/min, latency %s, cycle %s, rate limit %s "
             "left" % (state, "%.0f" % (rate * 60) if known(rate) else UNKNOWN,
                       seconds_text(latency),
                       seconds_text(cycle),
                       num(api.get("ratelimit_remaining")))]
    counted = ", ".join("%s %s" % (num(totals.get(k)), label) for k, label in (
        ("errors", "errors"), ("throttled", "throttled (429)"),
        ("resync_corrections", "resync corrections")) if k in totals)
    if counted:
        lines.append("  since the demo started: " + counted)
    return lines


NOTIFY_COUNTS = ("sent", "retried", "failed", "dropped")


def notify_lines(blocks):
    if not blocks:
        return []
    # A count no block dispatches (an older plugin) gets no column.
    counts = [k for k in NOTIFY_COUNTS if any(k in b.totals for b in blocks)]
    rows = []
    for b in blocks:
        pending, oldest = b.values.get("pending"), b.values.get("oldest")
        rows.append([b.name, num(pending),
                     human_duration(oldest) if known(oldest) and oldest > 0
                     else ("-" if known(oldest) else UNKNOWN)] +
                    [num(b.totals.get(k)) if k in b.totals else "-"
                     for k in counts])
    return ["Notify blocks (the queue now; %s: since the demo started):"
            % ", ".join(counts)] + \
        table(["block", "pending", "oldest"] + counts, rows)


def render(model):
    """The one-screen view of every account and Notify block."""
    lines = []
    for key in sorted(model):
        item = model[key]
        if isinstance(item, Account):
            lines += ["PagerDuty account \"%s\" (host %s)" % (item.name,
                                                              item.host)]
            if item.incidents:
                lines += incidents_lines(item)
            lines += api_lines(item) + [""]
            # A kind the account does not Collect has no section.
            for kinds, sections in ((("service", "team"),
                                     (services_lines, teams_lines)),
                                    (("schedule",), (schedules_lines,)),
                                    (("policy",), (policies_lines,))):
                for kind, section in zip(kinds, sections):
                    if item.entities[kind]:
                        lines += section(item)
                if any(item.entities[k] for k in kinds):
                    lines.append("")
    lines += notify_lines([model[k] for k in sorted(model)
                           if isinstance(model[k], Notify)])
    while lines and lines[-1] == "":
        lines.pop()
    return lines


# --- what counts as a change ---------------------------------------------------
# Only states, not clocks: ages, handoff countdowns, latency and the request
# rate move every cycle and would drown the story.

def facts(model):
    """{(entity, field): text} of every state worth reporting a change of."""
    out = {}
    for key in sorted(model):
        item = model[key]
        if isinstance(item, Notify):
            ent = "notify " + item.name
            out[(ent, "pending")] = num(item.values.get("pending"))
            for k in NOTIFY_COUNTS:
                if k in item.totals:
                    out[(ent, k)] = num(item.totals[k])
            continue
        prefix = "" if len([k for k in model if k[1] == "account"]) == 1 \
            else "account %s: " % item.name
        for k, v in sorted(item.incidents.items()):
            if not k.startswith("oldest"):
                out[(prefix + "incidents", k.replace("-", " "))] = num(v)
        for status in STATUS_ORDER:
            if status in item.services:
                out[(prefix + "services", status)] = num(item.services[status])
        for name, f in item.entities["service"].items():
            ent = prefix + "service " + name
            out[(ent, "status")] = service_status(f)
            for field in ("triggered", "acknowledged", "high_urgency",
                          "created"):
                out[(ent, field.replace("_", " "))] = num(f.get(field))
        for name, f in item.entities["team"].items():
            for field in ("triggered", "acknowledged"):
                out[(prefix + "team " + name, field)] = num(f.get(field))
        for name, f in item.entities["schedule"].items():
            ent = prefix + "schedule " + name
            out[(ent, "on call")] = num(f.get("oncall"))
            gap = f.get("next_gap")
            out[(ent, "gap now")] = UNKNOWN if not known(gap) else (
                "yes" if round(gap) == 0 and known(f.get("gap")) and
                round(f["gap"]) > 0 else "no")
        for name, f in item.entities["policy"].items():
            ent = prefix + "policy " + name
            for field, label in (("oncall", "level 1 on call"),
                                 ("uncovered_levels", "uncovered levels"),
                                 ("rules", "levels"), ("loops", "loops")):
                out[(ent, label)] = num(f.get(field))
        up = item.api.get("up")
        out[(prefix + "API", "up")] = UNKNOWN if not known(up) else (
            "yes" if round(up) == 1 else "no")
        for k, v in item.api_totals.items():
            if k != "requests":
                out[(prefix + "API", k.replace("_", " "))] = num(v)
    return out


def handoffs(old_model, new_model):
    """Schedules whose current shift ended (next_handoff jumped up) between
    two models: [line, ...]."""
    out = []
    for key, item in new_model.items():
        old = old_model.get(key)
        if not isinstance(item, Account) or not isinstance(old, Account):
            continue
        for name, f in item.entities["schedule"].items():
            before = old.entities["schedule"].get(name, {}).get("next_handoff")
            after = f.get("next_handoff")
            if known(before) and known(after) and before > 0 and \
                    after > before + 60:
                out.append("schedule %s: handoff (the next in %s)"
                           % (name, human_duration(after)))
    return out


def changes(old, new):
    """Lines "entity: field a -> b; field c -> d" for facts that differ."""
    by_entity = {}
    for key in list(old) + [k for k in new if k not in old]:
        before, after = old.get(key, "-"), new.get(key, "-")
        if before != after:
            entity, field = key
            by_entity.setdefault(entity, []).append(
                "%s %s -> %s" % (field, before, after))
    return ["%s: %s" % (e, "; ".join(parts)) for e, parts in by_entity.items()]
