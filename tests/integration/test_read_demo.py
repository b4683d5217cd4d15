#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_read_demo.py - every doc/contract.md §4 series of the demo account is dispatched,
right, every cycle.

The real collectd polls the simulator's demo scenario; tests/integration/
truth.py computes what doc/contract.md §4 says each series must be from the simulator's
state and the public REST API, independently of the plugin. Every value the
csv plugin wrote is checked against that truth at the moment the plugin
looked (durations move with the clock), LISTVAL must show exactly the
truth's series, and no successful cycle may leave a series out.

Also: the values follow changes of the account (incidents seeded and
resolved, a service put in maintenance); names are sanitised and made
unique as doc/contract.md §4 says; CoverageWindow, TrendWindow and Collect change what
is computed and dispatched; the api-* self-metrics agree with the
simulator's request log.
"""

import time

import harness
from truth import ReadTestCase, api_id, cycles, sanitize


def row_near(rows, epoch, within=0.5):
    """The value of the csv row nearest to epoch (the api-* values of one
    cycle are dispatched one after the other), or None."""
    best = min(rows, key=lambda r: abs(r[0] - epoch), default=None)
    return best[1] if best and abs(best[0] - epoch) <= within else None


class DemoReadTest(ReadTestCase):

    def test_every_series_matches_the_truth(self):
        sim, daemon = self.start_read("demo")
        truth = self.truth(sim)
        self.wait_cycles(daemon, truth, 3, timeout=60)

        self.assertMatchesTruth(daemon, truth)
        self.assertListvalIsTruth(daemon, truth)
        self.assertNoHoles(daemon, truth)
        # A sanity check on the truth itself: the demo is what its README
        # says (the truth would be useless if it were all zeros).
        now = truth.series(truth.built_at)
        ident = truth.identifier
        self.assertEqual(now[ident("count", "services-critical")], (3, 3))
        self.assertEqual(now[ident("gauge", "service-checkout_api-status")],
                         (2, 2))
        self.assertEqual(now[ident("count", "service-checkout_api-triggered")],
                         (2, 2))
        self.assertEqual(now[ident("gauge", "service-legacy_billing-status")],
                         (4, 4))
        self.assertEqual(now[ident("count", "schedule-web_secondary-oncall")],
                         (0, 0))
        self.assertGreater(now[ident("duration", "schedule-payments_primary-"
                                     "gap")][0], 6 * 3600 - 1)
        self.assertEqual(now[ident("count", "policy-platform_escalation-"
                                   "loops")], (2, 2))
        self.assertGreater(now[ident("duration",
                                     "incidents-oldest_triggered")][0],
                           40 * 86400 - 1)

        self.assertEqual(daemon.errors(), [])
        self.assertEqual(daemon.warnings(), [])
        # Notifications false (the default): none from the plugin.
        self.assertEqual(self.notifications(daemon), [])
        self.assertEqual(daemon.stop(), 0)

    def test_api_metrics_agree_with_the_request_log(self):
        sim, daemon = self.start_read("demo")
        truth = self.truth(sim)
        self.wait_cycles(daemon, truth, 3, timeout=60)
        csv = self.csv(daemon)
        ends = [e for e, _, up in cycles(csv, truth) if up == 1]
        self.assertGreaterEqual(len(ends), 3)
        requests = self.plugin_requests(sim)
        self.assertEqual({r["status"] for r in requests}, {200})
        for end in ends:
            logged = [r for r in requests if r["time"] <= end]
            # api-requests is the plugin's running total.
            total = row_near(csv[api_id(truth, "api-requests")], end)
            self.assertEqual(total, len(logged), "api-requests at %.3f" % end)
            # The simulator's budget: 960 per rolling minute per user; the
            # last answer of the cycle said how much was left.
            last = logged[-1]["time"]
            used = sum(1 for r in logged if r["time"] > last - 60)
            remaining = row_near(csv[api_id(truth,
                                            "api-ratelimit_remaining")], end)
            self.assertAlmostEqual(remaining, 960 - used, delta=1,
                                   msg="api-ratelimit_remaining at %.3f"
                                   % end)
        self.assertEqual(daemon.csv_last(api_id(truth, "api-errors")), 0)
        self.assertEqual(daemon.csv_last(api_id(truth, "api-throttled")), 0)
        cycle = daemon.value(api_id(truth, "api-cycle"))
        latency = daemon.value(api_id(truth, "api-latency"))
        self.assertGreater(latency, 0)
        self.assertLessEqual(latency, cycle)
        self.assertLess(cycle, self.INTERVAL)

    def test_values_follow_changes(self):
        # A full read every cycle: the incident seeded below is back-dated
        # an hour, log entries and all, which no real account can do, so
        # an incremental read (whose log cursor looks 120 s back) never
        # hears of it; test_read_incremental.py covers that mode.
        sim, daemon = self.start_read("demo", FullSyncInterval=0)
        truth = self.truth(sim)
        self.wait_cycles(daemon, truth, 1, timeout=60)
        self.assertMatchesTruth(daemon, truth)

        # Internal Tools: active -> critical (a triggered high incident),
        # Database Cluster: warning -> maintenance, CDN Edge gets an
        # incident created an hour ago (created counts) that is resolved.
        services = {s["name"]: s["id"] for s in sim.state()["services"]}
        sim.add_incident(service_id=services["Internal Tools"],
                         status="triggered", urgency="high",
                         title="Disk full")
        sim.add_incident(service_id=services["CDN Edge"], status="resolved",
                         urgency="low",
                         created_at=int(time.time()) - 3600)
        sim.set_service(services["Database Cluster"], status="maintenance",
                        seconds=3600)
        changed = self.truth(sim)
        # (the maintenance window began within the second built_at)
        now = changed.series(changed.built_at + 1)
        self.assertEqual(now[changed.identifier(
            "gauge", "service-internal_tools-status")], (2, 2))
        self.assertEqual(now[changed.identifier(
            "gauge", "service-database_cluster-status")], (3, 3))
        self.assertEqual(now[changed.identifier(
            "count", "service-cdn_edge-created")], (1, 1))
        seen = self.wait_truth(daemon, changed, timeout=30)
        self.wait_cycles(daemon, changed, 2)
        self.assertMatchesTruth(daemon, changed, since=seen)

        # Resolve it through the REST API, as a responder would.
        inc = [i for i in sim.state()["incidents"]
               if i["service_id"] == services["Internal Tools"]][0]
        status, _ = sim.rest("PUT", "/incidents/%s" % inc["id"],
                             body={"incident": {"type": "incident_reference",
                                                "status": "resolved"}})
        self.assertEqual(status, 200)
        resolved = self.truth(sim)
        self.assertEqual(resolved.series(resolved.built_at)[
            resolved.identifier("gauge", "service-internal_tools-status")],
            (0, 0))
        seen = self.wait_truth(daemon, resolved, timeout=30)
        self.wait_cycles(daemon, resolved, 2)
        self.assertMatchesTruth(daemon, resolved, since=seen)
        self.assertEqual(daemon.errors(), [])

    def test_names_are_sanitised_and_unique(self):
        sim = self.start_simulator(scenario="demo")
        services = {s["name"]: s["id"] for s in sim.state()["services"]}
        renames = {
            # collides with "Checkout API" once sanitised: both get their ID
            "Payment Gateway": "checkout--API!",
            # nothing left once sanitised: the lowercased ID
            "Internal Tools": "\u00a1\u00bf?! ***",
            # leading/trailing runs, case, non-ASCII bytes (2 per letter)
            "CDN Edge": "  __CDN  \u00c9dge (EU)__ ",
            # longer than 64 bytes once sanitised: cut
            "Auth Service": "Auth " + "x" * 80,
        }
        for old, new in renames.items():
            sim.set_service(services[old], name=new)
        # The rule written out by hand, so that the oracle's own sanitize()
        # is checked too.
        checkout, gateway = services["Checkout API"], services[
            "Payment Gateway"]
        expected = {
            services["Checkout API"]: "checkout_api_" + checkout.lower(),
            gateway: "checkout_api_" + gateway.lower(),
            services["Internal Tools"]: services["Internal Tools"].lower(),
            services["CDN Edge"]: "cdn_dge_eu",
            services["Auth Service"]: ("auth_" + "x" * 80)[:64],
        }
        self.assertEqual(sanitize("  __CDN  \u00c9dge (EU)__ "), "cdn_dge_eu")

        _, daemon = self.start_read(sim=sim)
        truth = self.truth(sim)
        for sid, name in expected.items():
            self.assertEqual(truth.names["service"][sid], name)
        self.wait_cycles(daemon, truth, 2, timeout=60)
        listed = daemon.listval("pagerduty-" + self.ACCOUNT)
        for name in expected.values():
            self.assertIn(daemon.identifier(self.ACCOUNT, "gauge",
                                            "service-%s-status" % name),
                          listed)
        self.assertNotIn(daemon.identifier(self.ACCOUNT, "gauge",
                                           "service-checkout_api-status"),
                         listed)
        self.assertMatchesTruth(daemon, truth)
        self.assertListvalIsTruth(daemon, truth)

    def test_windows_and_collect(self):
        # CoverageWindow of 2 days: Payments Primary's gap (3 days ahead)
        # falls outside; TrendWindow of 50 days counts the 40-day-old
        # incident; Collect leaves out everything but services, schedules
        # and policies.
        # Host names the values' host.
        sim, daemon = self.start_read(
            "demo", CoverageWindow=2 * 86400, TrendWindow=50 * 86400,
            Collect=("services", "schedules", "policies"), Host="pd-cloud")
        truth = self.truth(sim, coverage_window=2 * 86400,
                           trend_window=50 * 86400, host="pd-cloud",
                           collect=("services", "schedules", "policies"))
        now = truth.series(truth.built_at)
        self.assertEqual(now[truth.identifier(
            "duration", "schedule-payments_primary-gap")], (0, 0))
        self.assertEqual(now[truth.identifier(
            "count", "service-kubernetes_platform-created")], (1, 1))
        self.wait_cycles(daemon, truth, 3, timeout=60)
        self.assertMatchesTruth(daemon, truth)
        self.assertListvalIsTruth(daemon, truth)
        self.assertNoHoles(daemon, truth)
        # Nothing is fetched that these series do not need.
        paths = {r["path"] for r in self.plugin_requests(sim)}
        self.assertNotIn("/oncalls", paths)
        self.assertNotIn("/teams", paths)


if __name__ == "__main__":
    harness.main()
