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
"""

import time

import harness
from truth import (ReadTestCase, api_id, api_zero_problems, compare_rows,
                   request_kind)

ROUNDS = 10
LOG_DELAY = 5          # seconds an entry may show late (the switch)
FULL_SYNC = 30         # seconds: several resyncs during the rounds
CHANGES_PER_ROUND = 4  # at least this many churn changes a round
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
