# SPDX-License-Identifier: MIT
"""Schedule rendering and on-call computation.

A layer hands out turns of `turn_seconds` to its users in order, counted from
`rotation_virtual_start`, only inside [start, end) and, when it has
restrictions, only inside their windows (daily: a time of day + duration every
day; weekly: a day of week + time + duration every week; all in UTC, the
schedules' time zone). The final schedule stacks the layers: a later layer
beats an earlier one wherever it has someone, and overrides beat every layer.
Wherever no layer has anyone, the final schedule has a gap.

Entries are (start, end, user_id) tuples in epoch seconds, sorted and
non-overlapping; adjacent entries of the same user are merged, as PagerDuty
shows one shift.
"""

import math

DAY = 86400
WEEK = 7 * DAY
# 1970-01-01 was a Thursday; the Monday of that week began 3 days earlier.
_EPOCH_MONDAY = -3 * DAY
# How far around a moment the final schedule is rendered to find the whole shift.
SHIFT_HORIZON = 45 * DAY


def _time_of_day(text):
    h, m, s = (int(x) for x in text.split(":"))
    return h * 3600 + m * 60 + s


def _restriction_windows(restrictions, since, until):
    """Sorted, merged windows in [since, until) allowed by the restrictions."""
    windows = []
    for r in restrictions:
        dur = int(r["duration_seconds"])
        tod = _time_of_day(r["start_time_of_day"])
        if r["type"] == "daily_restriction":
            period, base = DAY, tod
        else:   # weekly_restriction
            period, base = WEEK, _EPOCH_MONDAY + (int(r["start_day_of_week"]) - 1) * DAY + tod
        k = math.floor((since - base - dur) / period)
        while True:
            start = base + k * period
            if start >= until:
                break
            end = start + dur
            if end > since:
                windows.append((max(start, since), min(end, until)))
            k += 1
    return _merge_spans(windows)


def _merge_spans(spans):
    spans.sort()
    out = []
    for s, e in spans:
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def render_layer(layer, since, until):
    """The layer's own entries in [since, until)."""
    lo = max(since, layer.start)
    hi = until if layer.end is None else min(until, layer.end)
    if lo >= hi or not layer.user_ids:
        return []
    turn = layer.turn_seconds
    n = len(layer.user_ids)
    entries = []
    k = math.floor((lo - layer.rotation_virtual_start) / turn)
    while True:
        t0 = layer.rotation_virtual_start + k * turn
        if t0 >= hi:
            break
        s, e = max(t0, lo), min(t0 + turn, hi)
        if s < e:
            entries.append((s, e, layer.user_ids[k % n]))
        k += 1
    if layer.restrictions:
        windows = _restriction_windows(layer.restrictions, lo, hi)
        clipped = []
        for s, e, u in entries:
            for ws, we in windows:
                if we <= s:
                    continue
                if ws >= e:
                    break
                clipped.append((max(s, ws), min(e, we), u))
        entries = clipped
    return _merge_entries(entries)


def _merge_entries(entries):
    out = []
    for s, e, u in entries:
        if out and out[-1][2] == u and out[-1][1] == s:
            out[-1] = (out[-1][0], e, u)
        elif s < e:
            out.append((s, e, u))
    return out


def _overlay(base, top):
    """`top` wins wherever it has an entry; `base` fills the rest."""
    if not top:
        return base
    out = []
    ti = 0
    for s, e, u in base:
        cur = s
        # Skip top entries ending before this base entry.
        while ti < len(top) and top[ti][1] <= cur:
            ti += 1
        j = ti
        while cur < e and j < len(top) and top[j][0] < e:
            ts, te, _ = top[j]
            if ts > cur:
                out.append((cur, ts, u))
            cur = max(cur, te)
            j += 1
        if cur < e:
            out.append((cur, e, u))
    out.extend(top)
    out.sort()
    return _merge_entries(out)


def render_final(schedule, since, until):
    """Final schedule entries clipped to [since, until)."""
    result = []
    for layer in schedule.layers:
        result = _overlay(result, render_layer(layer, since, until))
    overrides = sorted((max(o.start, since), min(o.end, until), o.user_id)
                       for o in schedule.overrides if o.end > since and o.start < until)
    result = _overlay(result, overrides)
    return result


def render_overrides(schedule, since, until):
    return sorted((max(o.start, since), min(o.end, until), o.user_id)
                  for o in schedule.overrides if o.end > since and o.start < until)


def coverage_percentage(entries, since, until):
    """Covered share of [since, until): the union of the entries naming a user
    (shift-based schedules' entries may overlap)."""
    if until <= since:
        return 0.0
    covered = sum(e - s for s, e in _merge_spans([(s, e) for s, e, u in entries if u]))
    return round(100.0 * covered / (until - since), 2)


# -- shift-based ("v3") schedules ------------------------------------------------
def v3_assignments(schedule, since, until):
    """Every shift occurrence of every rotation event overlapping
    [since, until), clipped to it: [(start, end, user_id|None, rotation_id)]
    sorted by start. None is an empty member."""
    out = []
    for rot in schedule.rotations:
        for ev in rot.events:
            if not ev.member_ids or ev.period <= 0 or ev.duration <= 0:
                continue
            # the first occurrence that can still reach past `since`
            k = max(0, math.floor((since - ev.start - ev.duration) / ev.period))
            while True:
                t0 = ev.start + k * ev.period
                if t0 >= until or (ev.effective_until is not None and t0 >= ev.effective_until):
                    break
                if t0 >= ev.effective_since:
                    s, e = max(t0, since), min(t0 + ev.duration, until)
                    if s < e:
                        member = ev.member_ids[(k // max(1, ev.shifts_per_member)) % len(ev.member_ids)]
                        out.append((s, e, member, rot.id))
                k += 1
    out.sort(key=lambda x: (x[0], x[1], x[2] or "", x[3]))
    return out


def v3_final(schedule, since, until):
    """The computed shift assignments of [since, until) as PagerDuty lists
    them: every user's shift (overlaps kept: several people at once), and an
    empty-member entry for each stretch nobody covers (empty members of a
    rotation included). [(start, end, user_id|None, rotation_id|None)]"""
    users = [a for a in v3_assignments(schedule, since, until) if a[2]]
    out = list(users)
    reach = since
    for s, e in _merge_spans([(a[0], a[1]) for a in users]):
        if s > reach:
            out.append((reach, s, None, None))
        reach = max(reach, e)
    if reach < until:
        out.append((reach, until, None, None))
    out.sort(key=lambda x: (x[0], x[1], x[2] or ""))
    return out


def v3_shifts(schedule, since, until):
    """Per user, touching or overlapping shifts merged: [(start, end, user)]."""
    by_user = {}
    for s, e, u, _ in v3_assignments(schedule, since, until):
        if u:
            by_user.setdefault(u, []).append((s, e))
    out = []
    for u, spans in by_user.items():
        out.extend((s, e, u) for s, e in _merge_spans(spans))
    out.sort()
    return out


class OncallCalculator:
    """On-call answers for one request; renders each schedule once."""

    def __init__(self, account):
        self.account = account
        self._cache = {}

    def shifts(self, schedule_id, since, until):
        """Final-schedule shifts overlapping [since, until] (a point when equal),
        with their whole extent (up to SHIFT_HORIZON either side)."""
        key = (schedule_id, since, until)
        if key not in self._cache:
            sched = self.account.schedules.get(schedule_id)
            v3 = self.account.schedules_v3.get(schedule_id)
            if sched is None and v3 is None:
                self._cache[key] = []
            else:
                if sched is not None:
                    entries = render_final(sched, since - SHIFT_HORIZON, until + SHIFT_HORIZON)
                else:
                    entries = v3_shifts(v3, since - SHIFT_HORIZON, until + SHIFT_HORIZON)
                if since == until:
                    hit = [x for x in entries if x[0] <= since < x[1]]
                else:
                    hit = [x for x in entries if x[0] < until and x[1] > since]
                self._cache[key] = hit
        return self._cache[key]

    def oncalls(self, policy, since, until):
        """[(level, schedule_id|None, user_id, start|None, end|None)] of a policy."""
        out = []
        for index, rule in enumerate(policy.rules):
            level = index + 1
            for ttype, tid in rule.targets:
                if ttype == "user_reference":
                    out.append((level, None, tid, None, None))
                else:
                    for s, e, u in self.shifts(tid, since, until):
                        out.append((level, tid, u, s, e))
        return out

    def users_at_level(self, policy, level, at):
        return {u for lvl, _, u, _, _ in self.oncalls(policy, at, at) if lvl == level}
