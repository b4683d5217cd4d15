#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_read_large.py - the large scenario: complete, exact, and with about
the fewest requests PagerDuty allows.

The simulator's `large` account has 2,000 services, 12,500 open incidents
(more than the 10,000 that offset paging reaches, a fifth older than the
default 30-day window), 1,500 resolved ones, 300 schedules, 300 escalation
policies and 20 teams. Every one of its ~12,750 series must be dispatched
every cycle and be right (tests/integration/truth.py), and a cycle's
requests must stay near the minimum that scenario needs:

  GET /users/me              1, the first cycle only
  GET /teams                 ceil(teams / 100)
  GET /services              ceil(services / 100)
  GET /incidents (open)      1 (its first page says, with its total, that
                             it is past the 10,000 offset cap) + per status
                             and urgency ceil(open incidents of them / 100)
  GET /incidents (created)   ceil(incidents created within TrendWindow and
                             a day either side / 100) (the plugin asks a
                             day wider on each side; a server that honours
                             only the date widens that to whole days:
                             truth.incident_allowance)
  GET /schedules             ceil(layer-based schedules / 100)
  GET /v3/schedules          ceil(shift-based schedules / 100)
  GET /schedules/{id}        one per layer-based schedule, and
  GET /v3/schedules/{id}     one per shift-based schedule: the listings
                             never carry final schedules (doc/pagerduty-api.md)
  GET /escalation_policies   ceil(policies / 100)
  GET /oncalls               ceil(on-call entries now / 100), +1 (the plugin
                             asks for the shifts up to its next refresh)
(pages of 100, the most PagerDuty gives.) That is the first cycle; the
second, SlowInterval (300 s) not having passed, makes only the every-cycle
listings (services, incidents), at their minimum too. This is the full
read of every cycle (FullSyncInterval 0); incremental reads on `large` are
test_read_incremental.py's.
"""

import harness
import series
from truth import (ALLOWANCE, ReadTestCase, cycles, incident_allowance,
                   minimum_requests, oncall_entries_now, request_kind)


# Every-cycle collections; the others are read every SlowInterval.
EVERY_CYCLE = ("/services", "/incidents")


class LargeReadTest(ReadTestCase):
    # The first cycle reads everything (~500 requests, 330 of them schedule
    # details), the second only the every-cycle listings (~150): inside
    # MaxRequestsPerMinute 960 (PagerDuty's own limit per user).
    INTERVAL = 20

    def test_large_account_is_complete_exact_and_frugal(self):
        sim = self.start_simulator(scenario="large")
        truth = self.truth(sim)
        open_n = sum(1 for i in truth.incidents
                     if i["status"] in ("triggered", "acknowledged"))
        self.assertGreater(open_n, 12000)
        self.assertGreater(len(truth.identifiers()), 12000)
        minimum = minimum_requests(truth, oncall_entries_now(truth))
        allowance = dict(ALLOWANCE, **{"/incidents": incident_allowance(truth)})

        _, daemon = self.start_read(sim=sim, SlowInterval=300,
                                    MaxRequestsPerMinute=960,
                                    FullSyncInterval=0)
        # The first cycle (every collection, every schedule's detail) and
        # a second one (the every-cycle listings; the rest is cached and
        # not due for SlowInterval).
        self.wait_cycles(daemon, truth, 2, timeout=120)
        csv = self.csv(daemon)
        runs = cycles(csv, truth)

        with self.subTest("every value right, nothing missing or extra"):
            self.assertMatchesTruth(daemon, truth)
            self.assertListvalIsTruth(daemon, truth)
            self.assertNoHoles(daemon, truth)
            total = sum(daemon.csv_last(truth.series_id("INCIDENTS", None,
                                                        *dims))
                        for dims, _ in series.by_id("INCIDENTS").expand())
            self.assertEqual(total, open_n)

        with self.subTest("requests per cycle"):
            requests = self.plugin_requests(sim)
            self.assertEqual({r["status"] for r in requests}, {200})
            for n, (end, duration, up) in enumerate(runs[:2]):
                self.assertEqual(up, 1)
                mine = [r for r in requests
                        if end - duration - 0.5 <= r["time"] <= end]
                made = {}
                for r in mine:
                    kind = request_kind(r["path"])
                    made[kind] = made.get(kind, 0) + 1
                self.assertEqual(made.pop("/users/me", 0), 1 if n == 0
                                 else 0)
                want = {p: m for p, m in minimum.items()
                        if n == 0 or p in EVERY_CYCLE}
                report = ", ".join("%s %d/%d" % (p, made.get(p, 0), m)
                                   for p, m in sorted(want.items()))
                self.assertEqual(set(made), set(want),
                                 "cycle %d: %s" % (n + 1, report))
                for path, least in want.items():
                    self.assertLessEqual(
                        made[path], least + allowance.get(path, 0),
                        "cycle %d: %s (made/minimum)" % (n + 1, report))
                    self.assertGreaterEqual(made[path], least, report)

        self.assertEqual(daemon.errors(), [])
        self.assertEqual(daemon.stop(), 0)


if __name__ == "__main__":
    harness.main()
