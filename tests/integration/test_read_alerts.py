#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_read_alerts.py - doc/contract.md §5: with Notifications true, collectd
notifications about PagerDuty's own state, from plugin "pagerduty".

collectd's logfile plugin logs every notification ("Notification: severity
= ..., host = ..., plugin = ..., plugin_instance = ..., type = ...,
type_instance = ..., message = ..."), which is how they are observed here.
What must be notified comes from the independent truth
(tests/integration/truth.py):
  - WARNING for every in-scope schedule with a gap in [now, now +
    CoverageWindow), naming the schedule and the first gap's start and end;
  - FAILURE for every critical service; OKAY when it recovers;
  - FAILURE for every escalation policy whose level 1 has nobody on call;
each once (state changes only, not every cycle), with plugin "pagerduty"
and the account as plugin instance. Notifications false (the default)
sends none. A Notify block acts on them only when it names Plugin
"pagerduty" (no loops).
"""

import re
import time

import harness
from truth import ReadTestCase, iso

SERVICE_STATUS_CRITICAL = 2


def expected_problems(truth, t):
    """{(type, type_instance): (severity, entity)} of the problems the
    truth has at t."""
    out = {}
    series = truth.series(t)
    for s in truth.services:
        name = truth.names["service"][s["id"]]
        status = series[truth.series_id("SERVICE_STATUS", name)][0]
        if status == SERVICE_STATUS_CRITICAL:
            out[truth.series_key("SERVICE_STATUS", name)] = ("FAILURE", s)
    for s in truth.schedules:
        name = truth.names["schedule"][s["id"]]
        if truth.finals[s["id"]].first_gap(t, truth.coverage_window):
            out[truth.series_key("SCHEDULE_GAP", name)] = ("WARNING", s)
    for p in truth.policies:
        name = truth.names["policy"][p["id"]]
        level1 = truth._level_users(p["rules"][0], t) if p["rules"] else ()
        if not level1:
            out[truth.series_key("POLICY_ONCALL", name)] = ("FAILURE", p)
    return out


class AlertsReadTest(ReadTestCase):
    INTERVAL = 1

    def test_problems_present_at_start_are_notified_once(self):
        sim, daemon = self.start_read("demo", Notifications=True)
        truth = self.truth(sim)
        t0 = int(time.time())
        self.wait_cycles(daemon, truth, 4, timeout=60)
        t1 = int(time.time())
        # Entities whose state changed while the test ran (a business-hours
        # schedule at 17:00) are left out.
        start, end = expected_problems(truth, t0), expected_problems(truth,
                                                                      t1)
        stable = {k: v for k, v in start.items() if end.get(k) == v}
        self.assertGreaterEqual(len(stable), 4, "the demo has problems")

        seen = {}
        for severity, fields, message in self.notifications(daemon):
            key = (fields["type"], fields["type_instance"])
            seen.setdefault(key, []).append((severity, fields, message))
            self.assertEqual(fields["plugin_instance"], self.ACCOUNT)
            self.assertEqual(fields["host"], daemon.hostname)
        for key, (severity, entity) in sorted(stable.items()):
            self.assertIn(key, seen, "no notification for %s" % (key,))
            self.assertEqual([n[0] for n in seen[key]], [severity],
                             "%s notified once, as %s" % (key, severity))
            self.assertIn(entity["name"], seen[key][0][2])
        unexpected = sorted(k for k in seen
                            if k not in start and k not in end)
        self.assertEqual(unexpected, [], "notifications of no problem")

        # A gap's WARNING names the schedule and the gap: Payments Primary
        # has one 3 days ahead (start and end exact), Web Secondary one
        # from now (starting when the plugin looked).
        for name, exact_start in (("payments_primary", True),
                                  ("web_secondary", False)):
            key = truth.series_key("SCHEDULE_GAP", name)
            _, entity = stable[key]
            message = seen[key][0][2]
            gap = truth.finals[entity["id"]].first_gap(t0,
                                                       truth.coverage_window)
            times = re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", message)
            self.assertEqual(len(times), 2, message)
            self.assertEqual(times[1], iso(gap[1]), message)
            if exact_start:
                self.assertEqual(times[0], iso(gap[0]), message)
            else:
                self.assertIn(times[0], [iso(t) for t in range(t0 - 5,
                                                               t1 + 1)])

    def test_service_turns_critical_and_recovers(self):
        sim, daemon = self.start_read("demo", Notifications=True)
        truth = self.truth(sim)
        self.wait_cycles(daemon, truth, 2, timeout=60)
        before = len(self.notifications(daemon))
        service = [s for s in sim.state()["services"]
                   if s["name"] == "Internal Tools"][0]
        incident = sim.add_incident(service_id=service["id"],
                                    status="triggered", urgency="low",
                                    title="Queue backlog")["incident"]
        key = ("gauge", "service-internal_tools-status")

        def of_key():
            return [(sev, msg) for sev, f, msg in self.notifications(daemon)
                    if (f["type"], f["type_instance"]) == key]
        harness.wait_until(of_key, 20, message="FAILURE for Internal Tools")
        self.assertEqual([s for s, _ in of_key()], ["FAILURE"])
        self.assertIn("Internal Tools", of_key()[0][1])

        status, _ = sim.rest("PUT", "/incidents/%s" % incident["id"],
                             body={"incident": {"type": "incident_reference",
                                                "status": "resolved"}})
        self.assertEqual(status, 200)
        harness.wait_until(lambda: len(of_key()) >= 2, 20,
                           message="OKAY for Internal Tools")
        self.wait_cycles(daemon, truth, 3)
        self.assertEqual([s for s, _ in of_key()], ["FAILURE", "OKAY"])
        # Nothing else changed, so nothing else was said.
        self.assertEqual(len(self.notifications(daemon)), before + 2)

    def test_no_notifications_unless_asked(self):
        sim, daemon = self.start_read("demo")
        truth = self.truth(sim)
        self.wait_cycles(daemon, truth, 3, timeout=60)
        self.assertEqual(self.notifications(daemon), [])

    def test_notify_blocks_ignore_them_unless_named(self):
        sim = self.start_simulator(scenario="demo")
        key = harness.routing_key(sim)
        token = self.token_file(sim.token)
        account = self.account_block(sim, token_file=token,
                                     Notifications=True)
        catch_all = harness.block("Notify", "all", [
            ("RoutingKey", key), ("EventsURL", sim.url)])
        named = harness.block("Notify", "ours", [
            ("RoutingKey", key), ("EventsURL", sim.url),
            ("Plugin", "pagerduty"), ("Severity", ("FAILURE",))])
        daemon = self.start_collectd(harness.plugin_block(
            account, catch_all, named))
        truth = self.truth(sim)
        self.wait_cycles(daemon, truth, 3, timeout=60)
        failures = [n for n in self.notifications(daemon)
                    if n[0] == "FAILURE"]
        self.assertTrue(failures)

        def events():
            return [r for r in sim.requests() if r["path"] == "/v2/enqueue"]
        harness.wait_until(lambda: len(events()) >= len(failures), 30,
                           message="the named block's events")
        # Give the catch-all block time to misbehave (its sender delivers
        # within a second).
        self.wait_cycles(daemon, truth, 2)
        sent = events()
        self.assertEqual(len(sent), len(failures), "only block \"ours\" "
                         "sends, once per FAILURE")
        for r in sent:
            self.assertEqual(r["body"]["event_action"], "trigger")
            self.assertEqual(r["body"]["payload"]["component"],
                             "pagerduty-" + self.ACCOUNT)


if __name__ == "__main__":
    harness.main()
