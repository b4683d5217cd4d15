#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_read_incremental.py - incremental reads (FullSyncInterval) on the
`large` account while its incidents change (the simulator's churn), under
the harshest time switches of the simulator (since/until honoured only to
the day, in a zone that is not UTC; incidents in an order of their own; log
entries shown late).

After one full read, each cycle reads only the log since the last one and
the open incidents of the services it names (plugin/read/pd_incremental.h).
For ten rounds: churn runs until it has made some changes, then stops;
once every entry it wrote is visible (the simulator shows an entry at most
log_delay seconds after it was written: a condition on the simulator's
clock), the test waits for a cycle that began after that and checks every
series of that cycle against the simulator's ground truth at that moment.
Churn is paused around the checked cycle on purpose: with changes landing
during a cycle, the truth moves while the plugin reads, and no single
moment of it is what the cycle must equal. Cycles also run while churn is
on (the Interval is 5 s), so the log reads see changes made mid-cycle and
late entries inside the overlap.

FullSyncInterval is short here, so resyncs (a full read compared with the
incremental cache) run during the rounds, with and without churn; every
difference they find that the log does not explain is counted in
derive-api-resync_corrections, which must stay 0.

Every Collect keyword is on (the default), services included: service
status (service-<svc>-status, services-*) is derived each cycle from the
open incidents, the maintenance windows' known start and end, and the
disabled flag of a service listing read only every SlowInterval and with
every full read (plugin/read/pd_service_status.h). So the rounds check it
exactly as incidents change, and after them a service is disabled and
another enters maintenance: both show from the first cycle after the next
listing, and the maintenance ends on time from the window's known end
(that last wait, MAINTENANCE seconds of real time, is left to the normal
build: under the sanitizers the listing path is what is checked).
Steady cycles make no GET /services at all: a cycle that lists the
services is one that reads the incidents in full.
"""

import time

import harness
import sanitizers
from truth import (ReadTestCase, api_id, api_zero_problems, compare_rows,
                   request_kind)

ROUNDS = 10
LOG_DELAY = 5          # seconds an entry may show late (the switch)
FULL_SYNC = 30         # seconds: several resyncs during the rounds
CHANGES_PER_ROUND = 4  # at least this many churn changes a round
# A maintenance window long enough to be listed (at the next full read,
# within FULL_SYNC and a cycle) while it lasts, however busy the machine.
MAINTENANCE = 240
HARSH = {"incident_time": "day", "incident_sort": "ignored",
         "time_zone": "America/New_York", "log_time": "day",
         "log_delay": LOG_DELAY}


class IncrementalReadTest(ReadTestCase):
    INTERVAL = 5

    def sim_now(self, sim):
        return time.time() + float(sim.control("GET", "/clock")["offset"])

    def churn_some(self, sim):
        """Runs churn until it has made CHANGES_PER_ROUND changes, then
        stops it; returns the simulator's time when it stopped."""
        done = sim.control("GET", "/churn")["done"]
        sim.control("POST", "/churn", {"per_minute": 600})
        harness.wait_until(
            lambda: sim.control("GET", "/churn")["done"]
            >= done + CHANGES_PER_ROUND, 60, interval=0.1,
            message="churn making changes")
        sim.control("POST", "/churn", {"per_minute": 0})
        return self.sim_now(sim)

    def cycle_after(self, daemon, truth, t):
        """Waits for a successful cycle that began after epoch t; returns
        (start, end). Reads just api-cycle and api-up (the whole tree of
        ~12,750 series is read once per round, for the comparison)."""
        def rows(type_instance):   # [(epoch, value)] of a one-DS series
            return [(r.pop("epoch"), list(r.values())[0]) for r in
                    daemon.csv_rows(api_id(truth, type_instance))]

        def found():
            ups = {round(e, 1): v for e, v in rows("api-up")}
            for end, dur in rows("api-cycle"):
                if end - dur > t:
                    if ups.get(round(end, 1), 1) != 1:
                        raise AssertionError("a cycle failed (api-up 0)")
                    return (end - dur, end)
            return None
        return harness.wait_until(found, 120, interval=0.5,
                                  message="a cycle after %.1f" % t)

    def requests_by_cycle(self, sim, daemon, truth):
        """The plugin's requests per cycle: [(start, end, [request])], a
        request in the cycle whose end (api-cycle's time) is the first at
        or after it (cycles run one after the other)."""
        ends = sorted(e for e in (r.pop("epoch") for r in daemon.csv_rows(
            api_id(truth, "api-cycle"))))
        out = [(e, []) for e in ends]
        for r in self.plugin_requests(sim):
            for end, reqs in out:
                if r["time"] <= end:
                    reqs.append(r)
                    break
        return out

    def status_value(self, daemon, truth, service, start, end):
        """service-<svc>-status of the cycle [start, end]."""
        rows = daemon.csv_rows(truth.identifier(
            "gauge", "service-%s-status" % service))
        values = [list(r.values())[0] for r in rows
                  if start <= r.pop("epoch") <= end]
        self.assertTrue(values, "no status of %s in the cycle" % service)
        return values[-1]

    def check_listing_after(self, sim, daemon, truth, since, expect):
        """Waits for the plugin's first GET /services listing and
        GET /maintenance_windows after epoch `since`, then for a cycle that
        began after them; every series of that cycle is the truth's, and
        the status of each service in `expect` ({instance: value}) is
        checked on its own too. Returns the listing's time."""
        def listed():
            times = {}
            for r in self.plugin_requests(sim):
                kind = request_kind(r["path"])
                if r["time"] > since and kind in ("/services",
                                                  "/maintenance_windows"):
                    times.setdefault(kind, r["time"])
            return max(times.values()) if len(times) == 2 else None
        at = harness.wait_until(listed, 180, interval=0.5,
                                message="a service listing after %.1f" % since)
        start, end = self.cycle_after(daemon, truth, at)
        truth.refresh_services()
        res = compare_rows(truth, self.csv(daemon), since=start, until=end,
                           last_only=True)
        self.assertTrue(res.ok, res.describe())
        self.assertEqual(res.missing, [])
        for instance, value in expect.items():
            self.assertEqual(self.status_value(daemon, truth, instance,
                                               start, end), value, instance)
        return at

    def test_large_with_churn_exact_every_cycle(self):
        sim = self.start_simulator(scenario="large")
        self.assertEqual({k: v for k, v in sim.control(
            "POST", "/behaviour", HARSH).items() if k in HARSH}, HARSH)
        # The rate limit is not under test: the first cycle alone makes
        # ~500 requests (every schedule's detail). The plugin keeps its own
        # ceiling, MaxRequestsPerMinute 960.
        sim.control("POST", "/ratelimit", {"per_minute": 100000})
        truth = self.truth(sim)
        _, daemon = self.start_read(sim=sim, SlowInterval=3600,
                                    FullSyncInterval=FULL_SYNC,
                                    MaxRequestsPerMinute=960)
        first = self.wait_cycles(daemon, truth, 1, timeout=300)[0]
        checked = 0
        for n in range(ROUNDS):
            stopped = self.churn_some(sim)
            # Every entry written so far is listed from stopped + LOG_DELAY.
            harness.wait_until(
                lambda: self.sim_now(sim) > stopped + LOG_DELAY + 1, 60,
                interval=0.2, message="late log entries visible")
            start, end = self.cycle_after(daemon, truth, time.time())
            truth.refresh_incidents()
            res = compare_rows(truth, self.csv(daemon), since=start,
                               until=end, last_only=True)
            self.assertTrue(res.ok, "round %d: %s" % (n + 1, res.describe()))
            self.assertEqual(res.missing, [])
            checked += res.checked

        self.assertGreater(checked, ROUNDS * 12000)

        # A service disabled and another put in maintenance (a window from
        # now to now + MAINTENANCE): neither is in any log, so both show
        # from the first cycle after the next listing (a full read's here;
        # else SlowInterval's).
        names = {s["id"]: s for s in truth.services}
        busy = {i["service_id"] for i in truth.open_all}
        quiet = sorted(sid for sid in names if sid not in busy)
        disabled, maintained = sorted(busy)[0], quiet[0]
        inst = {sid: truth.names["service"][sid]
                for sid in (disabled, maintained)}
        changed = time.time()
        sim.set_service(disabled, status="disabled")
        sim.set_service(maintained, status="maintenance",
                        seconds=MAINTENANCE)
        window_end = max(w["end"] for w in sim.state()["maintenance_windows"]
                         if maintained in w["service_ids"])
        self.check_listing_after(sim, daemon, truth, changed,
                                 {inst[disabled]: 4, inst[maintained]: 3})
        # The window ends on its known end_time: the first cycle after it
        # is active again, whatever was listed meanwhile. Not in the
        # sanitizer build: the minutes of waiting run no code the check
        # above did not (the status is derived every cycle alike), and
        # CI's time is bounded.
        if not sanitizers.ENABLED:
            self.check_window_ends(sim, daemon, truth, inst[maintained],
                                   window_end)
        self.check_steady_cycles_list_nothing(sim, daemon, truth, first)

    def check_window_ends(self, sim, daemon, truth, maintained, window_end):
        harness.wait_until(lambda: self.sim_now(sim) > window_end + 1,
                           MAINTENANCE + 60, interval=1,
                           message="the maintenance window over")
        start, end = self.cycle_after(daemon, truth, time.time())
        res = compare_rows(truth, self.csv(daemon), since=start, until=end,
                           last_only=True)
        self.assertTrue(res.ok, res.describe())
        self.assertEqual(self.status_value(daemon, truth, maintained,
                                           start, end), 0)

    def check_steady_cycles_list_nothing(self, sim, daemon, truth, first):
        # Steady cycles list no services: a cycle with GET /services (or
        # GET /maintenance_windows) is one that read the incidents in full
        # (the created listing, GET /incidents with since, comes only with
        # a full read); SlowInterval (3600 s) never came due.
        by_cycle = self.requests_by_cycle(sim, daemon, truth)
        listing, steady = 0, 0
        for end, reqs in by_cycle:
            kinds = [request_kind(r["path"]) for r in reqs]
            lists = "/services" in kinds or "/maintenance_windows" in kinds
            full = any(request_kind(r["path"]) == "/incidents"
                       and "since" in r["query"] for r in reqs)
            if lists:
                listing += 1
                self.assertTrue(full, "GET /services in a cycle without a "
                                "full read (ended %.1f): %s" % (end, kinds))
            elif reqs:
                steady += 1
        self.assertGreater(listing, 2)
        self.assertGreater(steady, listing)
        # Resyncs ran (full reads list every service again: many more
        # GET /incidents than the first cycle's alone), and corrected
        # nothing.
        requests = self.plugin_requests(sim)
        firsts = [r for r in requests if r["time"] <= first[0]
                  and request_kind(r["path"]) == "/incidents"]
        later = [r for r in requests if r["time"] > first[0]
                 and request_kind(r["path"]) == "/incidents"]
        self.assertGreater(len(later), len(firsts),
                           "no resync ran during the rounds")
        self.assertTrue(any(request_kind(r["path"]) == "/log_entries"
                            for r in requests))
        # The last resync's pending differences settle within the overlap
        # at the latest; corrections never go above 0 at any cycle.
        csv = self.csv(daemon)
        self.assertEqual(api_zero_problems(csv, truth), [])
        rows = csv.get(truth.identifier("derive", "api-resync_corrections"))
        self.assertEqual({v for _, v in rows}, {0.0})
        self.assertEqual(daemon.errors(), [])
        self.assertEqual(daemon.stop(), 0)


if __name__ == "__main__":
    harness.main()
