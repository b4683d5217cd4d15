#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_notify_reconcile.py - reconciliation closes what a lost notification
left open (issue 4), in the real collectd with the threshold plugin against
the simulator. It runs every SlowInterval of the block's Account (2 s here).

A "lost" OKAY, reproducibly: the Notify block's Severity filter drops OKAY
notifications, so the block never hears that the value recovered, while
the threshold plugin's state in collectd's value cache says OKAY.

  - REST: the incident is resolved with a resolution saying why; an alert
    whose value is still failing is left alone;
  - Events API with an Account: a note saying why, then a resolve;
  - an incident a human resolved in PagerDuty is forgotten, so the next
    FAILURE opens a new incident instead of noting a resolved one.
"""

import re

import harness
from harness import NotifyTestCase, threshold_config, wait_until

RECOVERED = "web01/app-x/gauge-load"
STILL_FAILING = "web01/app-y/gauge-load"
WHY = ("resolved by collectd-pagerduty reconciliation: %s is OKAY now; the "
       "recovery notification was lost")


def body(r):
    return r.get("body") or {}


class ReconcileTest(NotifyTestCase):

    def start_dropping_okays(self, notify_block):
        return self.start_notify(
            self.account(SlowInterval=2), notify_block,
            threshold=threshold_config(FailureMax=90))

    def lose_the_okay(self, daemon):
        """Both values fail, one recovers; its OKAY reaches no block."""
        self.putval(daemon, RECOVERED, 95)
        self.putval(daemon, STILL_FAILING, 95)
        first = self.wait_incidents(RECOVERED, 1)[0]
        self.wait_incidents(STILL_FAILING, 1)
        self.putval(daemon, RECOVERED, 50)
        self.wait_notifications(daemon, "OKAY", 1, "plugin_instance = x")
        return first

    def test_lost_okay_is_resolved_by_reconciliation_rest(self):
        daemon = self.start_dropping_okays(self.rest_notify(
            Host="web01", Severity=("FAILURE", "WARNING")))
        first = self.lose_the_okay(daemon)
        inc = self.wait_incidents(RECOVERED, 1, status="resolved")[0]
        self.assertEqual(inc["id"], first["id"])
        self.assertEqual(inc["resolution"], WHY % RECOVERED)
        daemon.wait_for_log(r'notify "rest": %s is OKAY now but its '
                            r'recovery notification was lost; resolving'
                            % re.escape(RECOVERED), severity="notice")
        # The failing one was looked at again and again, and kept.
        still = self.incidents(STILL_FAILING)[0]
        self.sim.wait_for_requests(
            lambda r: r["method"] == "GET"
            and r["path"] == "/incidents/" + still["id"], count=3)
        self.assertEqual(self.incidents(STILL_FAILING)[0]["status"],
                         "triggered")
        self.assertEqual(len(self.incidents(RECOVERED)), 1)
        self.assertEqual(daemon.errors(), [])

    def test_lost_okay_is_resolved_by_reconciliation_events(self):
        daemon = self.start_dropping_okays(self.events_notify(
            Host="web01", Account="acme", Severity=("FAILURE", "WARNING")))
        self.lose_the_okay(daemon)
        inc = self.wait_incidents(RECOVERED, 1, status="resolved")[0]
        # The Events API's resolve carries no text: a note says why.
        self.assertEqual([n["content"] for n in inc["notes"]],
                         [WHY % RECOVERED])
        self.sim.wait_for_requests(
            lambda r: body(r).get("event_action") == "resolve")
        events = [(body(r)["event_action"], body(r)["dedup_key"])
                  for r in self.sim.requests() if r["path"] == "/v2/enqueue"]
        self.assertEqual(sorted(events),
                         sorted([("trigger", RECOVERED),
                                 ("trigger", STILL_FAILING),
                                 ("resolve", RECOVERED)]))
        self.assertEqual(self.incidents(STILL_FAILING)[0]["status"],
                         "triggered")
        self.assertEqual(daemon.errors(), [])
        self.assertSecretNowhere(daemon, self.routing_key)

    def test_incident_resolved_in_pagerduty_is_forgotten(self):
        daemon = self.start_notify(
            self.account(SlowInterval=2),
            self.rest_notify(Host="web01", NoteInterval=0),
            threshold=threshold_config(FailureMax=90, Persist=True))
        self.putval(daemon, RECOVERED, 95)
        first = self.wait_incidents(RECOVERED, 1)[0]
        # A responder resolves it by hand while the value still fails.
        status, _ = self.sim.rest(
            "PUT", "/incidents/" + first["id"],
            {"incident": {"type": "incident_reference",
                          "status": "resolved"}})
        self.assertEqual(status, 200)
        daemon.wait_for_log(r'notify "rest": %s: the incident of dedup key '
                            r'"%s" is resolved in PagerDuty; no longer '
                            r'tracked' % (re.escape(RECOVERED),
                                          re.escape(RECOVERED)),
                            severity="info")
        # Still failing: the next FAILURE is a new alert.
        self.putval(daemon, RECOVERED, 96)
        incs = self.wait_incidents(RECOVERED, 2)
        self.assertEqual(sorted(i["status"] for i in incs),
                         ["resolved", "triggered"])
        wait_until(lambda: daemon.value(self.notify_id(
            daemon, "rest", "NOTIFY_PENDING")) == 0, 20,
            message="nothing pending")
        self.assertEqual(daemon.errors(), [])


if __name__ == "__main__":
    harness.main()
