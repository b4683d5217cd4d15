#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_read_random.py - every doc/contract.md §4 series of two seeded random accounts is
right.

The simulator's `random` scenario draws an account's size and contents
from a seed (teams, services in one or two teams, disabled ones,
maintenance windows, schedules that have not started, have gaps, cover
business hours only, escalation policies of 1-3 levels, open incidents
older than a month...). For two seeds, every value collectd dispatched is
checked against the independent truth (tests/integration/truth.py), LISTVAL
must show exactly the truth's series, and no successful cycle may leave a
series out. The second seed also runs with a non-default CoverageWindow and
TrendWindow.
"""

import harness
from truth import ReadTestCase


class RandomReadTest(ReadTestCase):

    def check_seed(self, seed, **windows):
        options = {}
        if windows:
            options = {"CoverageWindow": windows["coverage_window"],
                       "TrendWindow": windows["trend_window"]}
        sim, daemon = self.start_read("random", seed=seed, **options)
        truth = self.truth(sim, **windows)
        self.assertGreater(len(truth.services), 0)
        self.wait_cycles(daemon, truth, 3, timeout=60)
        self.assertMatchesTruth(daemon, truth)
        self.assertListvalIsTruth(daemon, truth)
        self.assertNoHoles(daemon, truth)
        self.assertEqual(daemon.errors(), [])
        self.assertEqual(daemon.stop(), 0)

    def test_seed_2(self):
        self.check_seed(2)

    def test_seed_3_with_other_windows(self):
        self.check_seed(3, coverage_window=3 * 86400, trend_window=7 * 86400)

    def test_schedule_no_policy_uses_counts_its_oncall(self):
        """doc/contract.md §4 schedule-<sched>-oncall: distinct users on call now. A
        schedule that no escalation policy targets still has them (GET
        /oncalls lists on-calls per policy only, so it cannot be the
        source for such a schedule)."""
        sim, daemon = self.start_read("random", seed=2)
        truth = self.truth(sim)
        targeted = {tid for p in truth.policies for rule in p["rules"]
                    for ttype, tid in rule["targets"]
                    if ttype != "user_reference"}
        lonely = [s for s in truth.schedules if s["id"] not in targeted
                  and truth.finals[s["id"]].users_at(truth.built_at)]
        self.assertNotEqual(lonely, [], "seed 2 has such a schedule")
        idents = {truth.series_id("SCHEDULE_ONCALL",
                                  truth.names["schedule"][s["id"]])
                  for s in lonely}
        self.wait_cycles(daemon, truth, 2, timeout=60)
        csv = self.csv(daemon)
        for ident in sorted(idents):
            want = truth.series(truth.built_at)[ident]
            self.assertEqual(csv.get(ident, [(0, None)])[-1][1], want[0],
                             "%s: somebody is on call in this schedule, "
                             "which no escalation policy uses" % ident)


if __name__ == "__main__":
    harness.main()
