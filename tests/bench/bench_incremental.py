#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
bench_incremental.py - measures the incremental read of the open incidents
that issue 8 asks the plugin for, BEFORE it is written in C: a reference
reader in Python against the simulator, side by side with today's full
listing (FullSyncInterval 0). Run by hand (not part of make check):

    /usr/bin/python3 tests/bench/bench_incremental.py [--latency 250]
        [--churn 60] [--interval 5] [--cycles 10] [--overlap 120]

What the reference reader does (the design proposed for plugin/read/pd_collect.c):

  full read     GET /services, then the open incidents (statuses[]
                triggered+acknowledged, date_range=all) of batches of 100
                service_ids[] (an exact filter: the batches add up, each
                far below 10,000); remembered by ID with their service,
                status and urgency. Later re-listings pack services by
                their cached counts into about one page each. A batch that
                took several pages is
                "exposed": a change to one of its services while it was
                paged may have shifted another incident past the offsets,
                so a log entry of such a change (next cycle) re-lists the
                whole batch.
  cycle         GET /log_entries?since=<cursor - overlap> (newest first;
                since honoured only to the day, so it pages until a page
                ends before cursor - overlap, and keeps only entries at or
                after it, each entry ID once: late entries inside the
                overlap are caught, seen ones are not counted twice).
                Affected services = each new entry's service plus the
                service the reader last saw its incident on (a move to
                another service logs only the new one), plus the exposed
                batches such an entry falls into. Then the open
                incidents of just those services, service_ids[] in batches
                of 100 (an exact filter): the cache's incidents of those
                services are replaced by the answer.
  resync        at the end a full read; every incident on which it differs
                from the incremental cache is a correction (the plugin's
                derive-api-resync_corrections). Churn is stopped first and
                the simulator's clock moved past --log-delay so every entry
                is visible: what is left is the reader's error, not lag.

  services      status without GET /services every Interval: disabled
                from the full read's service listing (a SlowInterval
                refresh in the plugin: nothing in the log says a service
                was disabled), maintenance from GET /maintenance_windows
                filter=open (start and end are known ahead, so the status
                changes on time with no request), critical / warning /
                active from the open incidents. Checked against the truth
                at the end and 3 h and 24.5 h later (the clock moved: the
                ongoing windows of `large` end, the future ones begin).

After every cycle the cache is compared with the simulator's ground truth
(GET /_sim/state); with churn running, changes made during the cycle count
as differences there (the truth moved on), so the per-cycle figure is what
one read can promise, and the resync figure is the exactness.

Prints one table: requests and wall time of the full read and of each
incremental cycle, requests per minute against the 960 budget at the
given Interval, differences per cycle, resync corrections.
"""

import argparse
import datetime
import os
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pdsim"))
from pdsim_client import SimProcess  # noqa: E402

OPEN = {"statuses[]": ["triggered", "acknowledged"], "date_range": "all"}
BATCH = 100
PAGE_FILL = 90              # open incidents a re-listing aims at: one page of 100, with room
TREND_WINDOW = 86400        # the plugin's default TrendWindow
CAP = 10000


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Reader:
    def __init__(self, sim, overlap):
        self.sim = sim
        self.overlap = overlap
        self.conn = sim.connection(timeout=60)     # one keep-alive connection, serial requests
        self.requests = 0
        self.cache = {}          # incident id -> (service id, status, urgency)
        self.cursor = None
        self.seen = {}           # log entry id -> created_at, inside the overlap
        self.disabled, self.service_ids, self.windows = set(), [], []
        self.exposed = []        # (service ids, start, end) of multi-page listings
        # service-*-created: incident id -> [service id, created_at, time of the
        # newest log entry that set the service]
        self.created = {}

    def get(self, path, query):
        status, _, body = self.sim.request("GET", path, token=self.sim.token, query=query, conn=self.conn)
        self.requests += 1
        if status != 200:
            raise RuntimeError("GET %s -> %s %s" % (path, status, body))
        return body

    def pages(self, path, key, query, stop=None):
        """Every page (or until stop(page) says so); -> (items, total of the first page)."""
        items, offset, total = [], 0, None
        while True:
            body = self.get(path, dict(query, limit=100, offset=offset, total="true" if offset == 0 else "false"))
            if offset == 0:
                total = body.get("total")
                if total is not None and total > CAP:
                    return None, total
            items += body[key]
            if not body["more"] or (stop and stop(body[key])):
                return items, total
            offset += 100
            if offset + 100 > CAP:
                return None, total

    def open_incidents(self, extra):
        """The open incidents matching `extra`, split by urgency past the cap."""
        items, total = self.pages("/incidents", "incidents", dict(OPEN, **extra))
        if items is None:
            items = []
            for urgency in ("high", "low"):
                part, _ = self.pages("/incidents", "incidents", dict(OPEN, **extra, **{"urgencies[]": [urgency]}))
                if part is None:
                    raise RuntimeError("one urgency past 10,000: split further")
                items += part
        return {i["id"]: (i["service"]["id"], i["status"], i["urgency"]) for i in items}

    def list_services(self, services):
        """The open incidents of `services`, batches of 100 service_ids[]. A batch
        that took more than one page may have been shifted under its offsets by a
        change made while it was paged (doc/pagerduty-api.md: a long serial re-read of a
        changing list is a mix that never existed): remembered as exposed, with
        its paging window, for the next cycle to check against the log."""
        fresh = {}
        for batch in self.batches(services):
            before, t0 = self.requests, time.time()
            fresh.update(self.open_incidents({"service_ids[]": batch}))
            if self.requests - before > 1:
                self.exposed.append((set(batch), t0, time.time()))
        return fresh

    def batches(self, services):
        """At most 100 services a listing, and (from the cache's counts) about
        one page of open incidents: a one-page listing is one answer, which no
        concurrent change can shift, so it is never exposed."""
        per = {}
        for sid, _, _ in self.cache.values():
            per[sid] = per.get(sid, 0) + 1
        batch, size = [], 0
        for sid in services:
            n = per.get(sid, 0) + 1          # room for one more than last seen
            if batch and (len(batch) == BATCH or size + n > PAGE_FILL):
                yield batch
                batch, size = [], 0
            batch.append(sid)
            size += n
        if batch:
            yield batch

    def full(self):
        started = time.time()
        self.exposed = []
        services, _ = self.pages("/services", "services", {})
        self.disabled = {s["id"] for s in services if s["status"] == "disabled"}
        self.service_ids = sorted(s["id"] for s in services)
        windows, _ = self.pages("/maintenance_windows", "maintenance_windows", {"filter": "open"})
        self.windows = [(parse(w["start_time"]), parse(w["end_time"]), {x["id"] for x in w["services"]})
                        for w in windows]
        fresh = self.list_services(self.service_ids)
        self.created = self.list_created(started)
        self.cursor = started
        return fresh

    def list_created(self, now):
        """Created within TrendWindow (all statuses), asked a day wider each
        side (since/until may be honoured only to the day) and cut here."""
        low = now - TREND_WINDOW
        items, total = self.pages("/incidents", "incidents",
                                  {"since": iso(low - 86400), "until": iso(now + 86400)})
        if items is None:
            raise RuntimeError("more than 10,000 created within the window: split by status x urgency")
        return {i["id"]: [i["service"]["id"], parse(i["created_at"]), 0.0] for i in items
                if parse(i["created_at"]) >= low}

    def service_status(self, now):
        """Every service's status without listing the services: disabled from
        the last GET /services (SlowInterval), maintenance from the open windows'
        start/end (known ahead, so no polling), then critical / warning / active
        from the open incidents (PagerDuty's rule; pdsim model.service_status)."""
        worst = {}
        for sid, status, _ in self.cache.values():
            if status == "triggered" or worst.get(sid) != "critical":
                worst[sid] = "critical" if status == "triggered" else "warning"
        out = {}
        for sid in self.service_ids:
            if sid in self.disabled:
                out[sid] = "disabled"
            elif any(lo <= now < hi and sid in ids for lo, hi, ids in self.windows):
                out[sid] = "maintenance"
            else:
                out[sid] = worst.get(sid, "active")
        return out

    def created_counts(self, cut):
        out = {}
        for sid, created_at, _ in self.created.values():
            if created_at >= cut:
                out[sid] = out.get(sid, 0) + 1
        return out

    def cycle(self):
        started = time.time()
        low = self.cursor - self.overlap

        def older(page):
            return page and parse(page[-1]["created_at"]) < low
        entries, _ = self.pages("/log_entries", "log_entries", {"since": iso(low), "include[]": ["incidents"]},
                                stop=older)
        if entries is None:
            raise RuntimeError("more than 10,000 log entries since the cursor: resync")
        services = set()
        for e in entries:
            at = parse(e["created_at"])
            if at < low or e["id"] in self.seen:
                continue
            self.seen[e["id"]] = at
            sid = e["service"]["id"]
            self.note_created(e, at, sid)
            services.add(sid)
            old = self.cache.get(e["incident"]["id"])
            if old:
                services.add(old[0])
            # A change during a multi-page listing of its service may have
            # shifted other incidents past its offsets: that listing again.
            # (created_at is to the second: a second of slack either side.)
            for batch, t0, t1 in self.exposed:
                if t0 - 1 <= at <= t1 + 1 and (sid in batch or (old and old[0] in batch)):
                    services |= batch
        self.seen = {k: v for k, v in self.seen.items() if v >= started - self.overlap}
        self.exposed = [x for x in self.exposed if x[2] >= started - self.overlap]
        fresh = self.list_services(sorted(services))
        self.cache = {k: v for k, v in self.cache.items() if v[0] not in services}
        self.cache.update(fresh)
        for iid, rec in self.created.items():      # open ones: where the listing found them
            if iid in fresh:
                rec[0] = fresh[iid][0]
        self.created = {k: v for k, v in self.created.items() if v[1] >= started - TREND_WINDOW}
        self.cursor = started
        return len(entries), len(services)


    def note_created(self, e, at, sid):
        """An entry of an incident created within TrendWindow: a new one is
        counted (include[]=incidents gives its created_at, which never changes);
        a known one takes the entry's service when the entry is its newest
        (late entries come out of order). Open incidents are set from the
        service listing afterwards, so a same-second tie cannot mislead."""
        inc = e["incident"]
        created_at = parse(inc["created_at"])
        if created_at < self.cursor - TREND_WINDOW:
            return
        rec = self.created.setdefault(inc["id"], [sid, created_at, at])
        if at >= rec[2]:
            rec[0], rec[2] = sid, at


def truth(sim, cut=None):
    """Open incidents by ID, and (cut given) per-service counts of incidents
    created at or after the cut."""
    state = sim.control("GET", "state")
    open_set = {i["id"]: (i["service_id"], i["status"], i["urgency"])
                for i in state["incidents"] if i["status"] != "resolved"}
    counts = {}
    for i in state["incidents"]:
        if cut is not None and i["created_at"] >= cut:
            counts[i["service_id"]] = counts.get(i["service_id"], 0) + 1
    return open_set, counts, {s["id"]: s["status"] for s in state["services"]}, state["now"]


def differences_all(r, sim):
    """Incidents the open cache has wrong, plus services whose created count is wrong."""
    cut = int(time.time() - TREND_WINDOW) + 5   # whole seconds, as created_at is rendered
    open_set, counts, statuses, now = truth(sim, cut)
    mine = r.created_counts(cut)
    return (differences(r.cache, open_set) + differences(mine, counts)
            + differences(r.service_status(now), statuses))


def differences(a, b):
    return sum(1 for k in set(a) | set(b) if a.get(k) != b.get(k))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=int, default=250)
    ap.add_argument("--churn", type=int, default=60)
    ap.add_argument("--interval", type=float, default=5.0)
    ap.add_argument("--cycles", type=int, default=10)
    ap.add_argument("--overlap", type=float, default=120.0)
    ap.add_argument("--log-delay", type=int, default=30)
    args = ap.parse_args()
    extra = ["--latency", str(args.latency), "--churn", str(args.churn), "--log-delay", str(args.log_delay)]
    rows = []
    with SimProcess("large", extra_args=extra, ready_timeout=60) as sim:
        r = Reader(sim, args.overlap)
        t0 = time.monotonic()
        r.cache = r.full()
        rows.append(("full read (FullSyncInterval 0: every cycle)", r.requests, time.monotonic() - t0,
                     differences_all(r, sim), "", ""))
        next_start = time.monotonic() + args.interval
        for n in range(args.cycles):
            while time.monotonic() < next_start:      # the Interval: a schedule, not a synchronisation
                time.sleep(min(0.2, next_start - time.monotonic()))
            next_start += args.interval
            before, t0 = r.requests, time.monotonic()
            entries, services = r.cycle()
            rows.append(("incremental cycle %d" % (n + 1), r.requests - before, time.monotonic() - t0,
                         differences_all(r, sim), entries, services))
        sim.control("POST", "churn", {"per_minute": 0})
        offset = sim.control("GET", "clock")["offset"]
        sim.control("POST", "clock", {"offset": offset + args.log_delay + 1})
        before, t0 = r.requests, time.monotonic()
        r.cycle()
        rows.append(("last incremental cycle (churn stopped)", r.requests - before, time.monotonic() - t0,
                     differences_all(r, sim), "", ""))
        cache, cut = r.cache, int(time.time() - TREND_WINDOW) + 5
        created = r.created_counts(cut)
        fresh = r.full()
        corrections = differences(cache, fresh) + differences(created, r.created_counts(cut))
        statuses, snow = truth(sim)[2:]
        status_diff = differences(r.service_status(snow), statuses)
        moved = [sum(1 for st in statuses.values() if st == "maintenance")]
        # Maintenance windows start and end on their own: 3 and 24.5 hours on (large: the
        # ongoing windows have ended, the future ones begun), with no
        # request, the derived statuses must still be right.
        for hours in (3, 24.5):
            sim.control("POST", "clock", {"offset": offset + args.log_delay + 1 + hours * 3600})
            statuses, snow = truth(sim)[2:]
            moved.append(sum(1 for sid, st in statuses.items() if st == "maintenance"))
            status_diff += differences(r.service_status(snow), statuses)
    print("large, --latency %d ms, --churn %d/min, --log-delay %d s, Interval %.0f s, overlap %.0f s"
          % (args.latency, args.churn, args.log_delay, args.interval, args.overlap))
    print("%-46s %8s %8s %6s %8s %8s" % ("", "requests", "wall s", "diff", "entries", "services"))
    for name, req, wall, diff, entries, services in rows:
        print("%-46s %8d %8.2f %6d %8s %8s" % (name, req, wall, diff, entries, services))
    steady = rows[2:-1] or rows[1:-1]
    mean_req = sum(x[1] for x in steady) / len(steady)
    mean_wall = sum(x[2] for x in steady) / len(steady)
    per_min = 60.0 / max(args.interval, mean_wall)
    print("steady incremental: %.1f requests, %.2f s a cycle -> %.0f requests/minute of 960"
          % (mean_req, mean_wall, mean_req * per_min))
    full_wall = rows[0][2]
    print("full read every cycle: %d requests, %.1f s -> %.0f requests/minute of 960"
          % (rows[0][1], full_wall, rows[0][1] * 60.0 / max(args.interval, full_wall)))
    print("resync corrections after the incremental cycles: %d" % corrections)
    print("service statuses derived without GET /services each Interval that differ from the truth: %d"
          " (now, 3 h and 24.5 h on, with %s services in maintenance then)" % (status_diff, moved))
    return 0 if corrections == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
