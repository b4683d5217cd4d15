#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_read_faults.py - a failing answer leaves the read side running,
honest while it lasts and right after it clears.

For each fault kind of the simulator that answers (tests/pdsim/README.md:
status 5xx, truncated body, garbage body, HTML error page) on one of the
collections (the faults of the connection and of the rate limit are in
test_read_faults_conn.py), the checks of truth.FaultCheck.run_fault():
  - api-up is 0 while it lasts, api-errors (or api-throttled) counts it,
    and the log says so once;
  - not one value dispatched before, during or after is wrong: every row
    the csv plugin wrote is checked against the independent truth
    (tests/integration/truth.py) at the moment the plugin looked - a
    failed collection must silence its series, never dispatch zeros or
    half a listing;
  - series that do not need the failing collection keep coming;
  - once the fault is cleared, api-up is 1 again and every series is back
    and right; collectd is still running and exits 0.
"""

import harness
import series
from truth import FaultCheck, compare_rows

# A random account with several pages of open incidents.
SEED_MANY_OPEN = 4
# Faults on GET /incidents need a cycle that asks it every time: between
# full reads an incremental cycle lists only the services that changed
# (none here). test_log_entries_failing_falls_back covers that mode.
FULL_EVERY_CYCLE = {"FullSyncInterval": 0}


def INCIDENT_SERIES(ident):
    """Series computed from the incident listings (the table of series:
    those that need the open or the created incidents)."""
    m = series.match_identifier(ident)
    return m is not None and bool({"open", "created"} & set(m[0].needs))


class FaultsReadTest(FaultCheck):
    # ~8 requests a cycle on demo: 320 a minute, well inside 960.
    INTERVAL = 1.5

    def test_status_503_on_incidents(self):
        self.run_fault("status", "/incidents", status=503,
                       log=r"GET /incidents failed: .*503",
                       account_options=FULL_EVERY_CYCLE)

    def test_status_500_on_schedules(self):
        # A cached, SlowInterval collection: dropped and fetched again.
        self.run_fault("status", "/schedules", status=500,
                       log=r"GET /schedules failed: .*500")

    def test_truncated_body(self):
        self.run_fault("truncate", "/incidents",
                       log=r"GET /incidents failed: .*",
                       account_options=FULL_EVERY_CYCLE)

    def test_garbage_body(self):
        self.run_fault("garbage", "/escalation_policies",
                       log=r"GET /escalation_policies failed: .*malformed")

    def test_html_error_page(self):
        self.run_fault("html", "/teams", status=502,
                       log=r"GET /teams failed: .*502")

    def test_listing_broken_off_midway_dispatches_nothing_of_it(self):
        """A listing whose later page fails must not be counted: a page
        of 100 open incidents is not the open incidents."""
        sim = self.start_simulator(scenario="random", seed=SEED_MANY_OPEN)
        truth = self.truth(sim)
        open_pages = -(-len(truth.open_inc) // 100)
        self.assertGreaterEqual(open_pages, 2, "needs 2+ pages")
        incident_ids = {i for i in truth.identifiers() if INCIDENT_SERIES(i)}
        _, daemon = self.start_read(sim=sim, **FULL_EVERY_CYCLE)
        self.wait_cycles(daemon, truth, 1, timeout=60)
        # The n-th incidents request of the next cycle fails: a fault that
        # changes nothing (a 0 s hang) takes the n-1 before it.
        for nth in (2, open_pages, open_pages + 1):
            self.wait_cycles(daemon, truth, 1, up=1)
            sim.add_fault("hang", count=nth - 1, path="/incidents",
                          seconds=0)
            sim.add_fault("status", count=1, path="/incidents", status=503)
            harness.wait_until(lambda: not sim.control("GET", "/faults")[
                "faults"], 30, message="the faults to be used")
        self.wait_cycles(daemon, truth, 2, up=1)
        failed = [r for r in self.plugin_requests(sim) if r["status"] == 503]
        self.assertEqual(len(failed), 3)
        self.assertEqual(sorted(int(r["query"].get("offset", ["0"])[0]) > 0
                                for r in failed)[-1], True,
                         "a page after the first failed")
        res = compare_rows(truth, self.csv(daemon), idents=incident_ids)
        self.assertTrue(res.ok, res.describe())
        up = [u for _, _, u in self.cycles(daemon, truth)]
        self.assertEqual(up.count(0), 3, up)

    def test_log_entries_failing_falls_back(self):
        """An incremental read whose GET /log_entries fails reads in full
        that cycle: no value is wrong or missing, api-up stays 1, and the
        log says so once each way."""
        sim, daemon = self.start_read("demo")
        truth = self.truth(sim)
        self.wait_cycles(daemon, truth, 2, timeout=60)
        sim.add_fault("status", count=-1, path="/log_entries", status=503)
        daemon.wait_for_log(r'incremental read not proven complete '
                            r'\(GET /log_entries failed\): a full read',
                            severity="info")
        during = self.wait_cycles(daemon, truth, 3, timeout=60)
        self.assertEqual([up for _, _, up in during[-3:]], [1, 1, 1])
        full = [r for r in self.plugin_requests(sim)
                if r["path"] == "/incidents"]
        self.assertGreater(len(full), 0)
        sim.clear_faults()
        daemon.wait_for_log(r'incremental reads work again', severity="info")
        after = self.wait_cycles(daemon, truth, 2, timeout=60)
        self.assertMatchesTruth(daemon, truth)
        self.assertNoHoles(daemon, truth, after=during[0][0])
        errors = daemon.errors()
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("GET /log_entries failed", errors[0])
        self.assertEqual([up for _, _, up in after[-2:]], [1, 1])
        self.assertEqual(daemon.stop(), 0)


if __name__ == "__main__":
    harness.main()
