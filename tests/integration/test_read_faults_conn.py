#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_read_faults_conn.py - connection failures and rate limits leave the
read side running, honest while they last and right after they clear.

Fault kinds of the simulator (tests/pdsim/README.md): connection reset,
a request hanging past a short Timeout, 429 with ratelimit-* headers (more
of them than one cycle's budget waits out) and a bare 429 without headers
or body. Each is checked by truth.FaultCheck.run_fault(): api-up 0 and the
fault counted while it lasts, one ERROR line however long it lasts (doc/contract.md §7:
once per change of state), not one wrong value dispatched before, during
or after, every series back and right once it clears, collectd exits 0.
"""

import harness
from truth import FaultCheck


class ConnectionFaultsReadTest(FaultCheck):

    def test_connection_reset(self):
        self.run_fault("reset", "/services", others_continue=False)

    def test_hang_past_timeout(self):
        sim, daemon, truth = self.run_fault(
            "hang", "/oncalls", account_options={"Timeout": 1000},
            log=r"GET /oncalls failed: .*([Tt]ime|timed out)")
        # A request hanging forever costs a cycle the Timeout, not more.
        cycles = [d for e, d, up in self.cycles(daemon, truth) if up == 0]
        self.assertTrue(cycles)
        self.assertLess(max(cycles), 1.0 + 1.5, cycles)

    def test_ratelimit_with_headers(self):
        # The 429s outlast the cycle's budget: the cycle gives up (and makes
        # no further requests, like after a connection failure).
        sim, daemon, truth = self.run_fault(
            "ratelimit", "/services", headers=True, reset=1,
            counter="api-throttled", others_continue=False)
        # Each 429 was waited out (ratelimit-reset 1 s), not hammered.
        hits = [r for r in self.plugin_requests(sim)
                if r["path"] == "/services" and r["status"] == 429]
        self.assertGreaterEqual(len(hits), 2)
        gaps = [b["time"] - a["time"] for a, b in zip(hits, hits[1:])]
        self.assertGreater(min(gaps), 0.8, gaps)

    def test_ratelimit_without_headers(self):
        # FullSyncInterval 0: GET /incidents every cycle (incremental
        # cycles ask it only for services that changed).
        self.run_fault("ratelimit", "/incidents", headers=False,
                       counter="api-throttled",
                       account_options={"FullSyncInterval": 0})


if __name__ == "__main__":
    harness.main()
