#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_notify_durability.py - no alert is lost and none is sent twice across
PagerDuty outages and collectd crashes (doc/contract.md §6), in the real collectd
against the simulator.

  - PagerDuty down (a proxy in front of the simulator stops listening)
    while 200 notifications arrive; collectd is killed with SIGKILL after
    the first 100, restarted, gets the other 100; PagerDuty comes back:
    every event is delivered once, one incident per problem, the repeats
    send nothing, the OKAYs resolve what was opened before the crash.
    Meanwhile the queue is visible (queue_length-pending), the spool is
    0600 files in 0700 directories and holds neither token nor routing
    key. Over the Events API and over REST.
  - collectd killed right after the last notification callback returned
    (events still only in the block's journal): each delivered once after
    the restart.
  - collectd killed while a request is on the wire (PagerDuty got it, the
    answer never came back): the resend after restart opens no second
    incident (Events: a merge; REST: the duplicate incident_key 400
    counts as delivered).
  - an alert opened before a restart is resolved by the threshold
    plugin's first OKAY after it (the open-alert state survives).
"""

import os
import re
import signal
import stat

import harness
from harness import (NotifyTestCase, TcpProxy, threshold_config,
                     wait_until)

KEYS = ["web01/app/gauge-k%02d" % i for i in range(100)]
IDENT = "web01/app-x/gauge-load"


def body(r):
    return r.get("body") or {}


class DurabilityTest(NotifyTestCase):

    def setUp(self):
        super().setUp()
        # 160 events go out within seconds: above the Events API's 120 a
        # minute per routing key, which is not what this test is about.
        self.sim.control("POST", "/ratelimit", {"events_per_minute": 10000})

    def notify(self, daemon, indexes, severity="failure"):
        for i in indexes:
            daemon.sock.putnotif("problem k%02d: %s" % (i, severity),
                                 severity=severity, host="web01",
                                 plugin="app", type="gauge",
                                 type_instance="k%02d" % i)

    def assertSpoolSafe(self, daemon, spool, secrets):
        """0700 directories, 0600 files, no secret in any file."""
        self.assertEqual(stat.S_IMODE(os.stat(spool).st_mode), 0o700)
        files = 0
        for dirpath, dirs, names in os.walk(spool):
            for d in dirs:
                mode = stat.S_IMODE(os.stat(os.path.join(dirpath,
                                                         d)).st_mode)
                self.assertEqual(mode, 0o700, os.path.join(dirpath, d))
            for name in names:
                path = os.path.join(dirpath, name)
                self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600,
                                 path)
                files += 1
        self.assertGreater(files, 100)
        for secret in secrets:
            self.assertEqual(harness.files_containing(spool, secret), [])

    def outage_kill_restart(self, rest):
        proxy = TcpProxy(self.sim.port)
        self.addCleanup(proxy.close)
        spool = self.tempdir("pdspool-").join("spool")
        if rest:
            name = "rest"
            blocks = (self.account(url=proxy.url, Interval=5),
                      self.rest_notify(Host="web01"))
        else:
            name = "ev"
            blocks = (self.events_notify(url=proxy.url, Host="web01"),)
        daemon = self.start_notify(*blocks, options={"SpoolDir": spool})
        proxy.down()

        # 100 notifications, then kill -9.
        self.notify(daemon, range(80))
        self.notify(daemon, range(10))              # repeats: nothing
        self.notify(daemon, range(10), "okay")      # resolve k00..k09
        pending = self.notify_id(daemon, name, "NOTIFY_PENDING")
        daemon.wait_for_value(pending, lambda v: v == 90)
        self.assertEqual(daemon.kill(signal.SIGKILL), -signal.SIGKILL)

        # Restarted (PagerDuty still down), 100 more.
        daemon.start()
        self.notify(daemon, range(80, 100))
        self.notify(daemon, range(50, 80))          # repeats: nothing
        self.notify(daemon, range(10, 60), "okay")  # resolve k10..k59
        self.assertEqual(daemon.wait_for_value(pending, lambda v: v == 160),
                         160)
        daemon.wait_for_value(self.notify_id(daemon, name, "NOTIFY_OLDEST"),
                              lambda v: v >= 1)
        self.assertSpoolSafe(daemon, spool, [self.routing_key,
                                             self.sim.token])
        self.assertEqual(self.notify_requests(), [])

        proxy.up()
        daemon.wait_for_value(pending, lambda v: v == 0, timeout=90)
        by_key = {}
        for inc in self.incidents(service=self.service):
            by_key.setdefault(inc["incident_key"], []).append(inc["status"])
        self.assertEqual({k: by_key.get(k) for k in KEYS},
                         {k: ["resolved" if i < 60 else "triggered"]
                          for i, k in enumerate(KEYS)})
        self.wait_counter(daemon, name, "NOTIFY_SENT", lambda v: v == 160)
        self.assertEqual(daemon.csv_last(self.notify_id(
            daemon, name, "NOTIFY_FAILED")), 0)
        self.assertSecretNowhere(daemon, self.routing_key)
        return daemon

    def test_outage_kill9_restart_events(self):
        daemon = self.outage_kill_restart(rest=False)
        self.sim.wait_for_requests(lambda r: body(r).get("event_action") ==
                                   "resolve", count=60)
        sent = [r for r in self.sim.requests() if r["status"] == 202]
        triggers = [body(r)["dedup_key"] for r in sent
                    if body(r)["event_action"] == "trigger"]
        resolves = [body(r)["dedup_key"] for r in sent
                    if body(r)["event_action"] == "resolve"]
        # Once each: nothing reached PagerDuty before it came back.
        self.assertEqual(sorted(triggers), KEYS)
        self.assertEqual(sorted(resolves), KEYS[:60])
        self.assertEqual({r["event_result"] for r in sent},
                         {"created", "resolved"})
        self.assertEqual(daemon.errors(), [])

    def test_outage_kill9_restart_rest(self):
        self.outage_kill_restart(rest=True)
        self.sim.wait_for_requests(lambda r: r["method"] == "PUT", count=60)
        posts = [body(r)["incident"]["incident_key"]
                 for r in self.notify_requests()
                 if r["method"] == "POST" and r["status"] == 201]
        self.assertEqual(sorted(posts), KEYS)
        puts = [r for r in self.notify_requests() if r["method"] == "PUT"]
        self.assertEqual(len(puts), 60)
        self.assertEqual({(r["status"], body(r)["incident"]["status"])
                          for r in puts}, {(200, "resolved")})

    # -- a crash right after the callbacks returned ---------------------------
    def test_kill9_right_after_callbacks_returned(self):
        """collectd killed the moment the last PUTNOTIF returned (collectd
        has run the callbacks by then): events the callbacks left only in
        the block's journal, not yet turned into spool files, are recovered
        at the restart. Each is delivered once."""
        proxy = TcpProxy(self.sim.port)
        self.addCleanup(proxy.close)
        spool = self.tempdir("pdspool-").join("spool")
        daemon = self.start_notify(self.events_notify(url=proxy.url,
                                                      Host="web01"),
                                   options={"SpoolDir": spool})
        proxy.down()
        self.notify(daemon, range(40))
        self.assertEqual(daemon.kill(signal.SIGKILL), -signal.SIGKILL)

        proxy.up()
        daemon.start()
        pending = self.notify_id(daemon, "ev", "NOTIFY_PENDING")
        daemon.wait_for_value(pending, lambda v: v == 0, timeout=90)
        sent = [r for r in self.sim.requests() if r["status"] == 202]
        self.assertEqual(sorted(body(r)["dedup_key"] for r in sent
                                if body(r)["event_action"] == "trigger"),
                         KEYS[:40])
        self.assertEqual(len(sent), 40)
        self.assertEqual(daemon.csv_last(self.notify_id(
            daemon, "ev", "NOTIFY_FAILED")), 0)
        self.assertEqual(daemon.errors(), [])

    # -- a crash in the middle of deliveries ----------------------------------
    def kill_mid_delivery(self, rest):
        """PagerDuty up; 60 problems and 30 recoveries are being delivered
        when collectd is killed; after the restart every problem has one
        incident, in the right state (at least once, never a duplicate)."""
        if rest:
            name = "rest"
            blocks = (self.account(Interval=5), self.rest_notify(Host="web01"))
            first = lambda r: (r["method"] == "POST"  # noqa: E731
                               and r["path"] == "/incidents")
        else:
            name = "ev"
            blocks = (self.events_notify(Host="web01"),)
            first = lambda r: r["path"] == "/v2/enqueue"  # noqa: E731
        # Every delivery answered 50 ms late: the 90 deliveries take seconds,
        # so the kill lands among them however fast the machine is.
        self.sim.add_fault("hang", count=-1, seconds=0.05,
                           path="/incidents" if rest else "/v2/enqueue")
        daemon = self.start_notify(*blocks)
        self.notify(daemon, range(60))
        self.notify(daemon, range(30), "okay")
        self.sim.wait_for_requests(first, count=15)
        daemon.kill(signal.SIGKILL)
        delivered_before = len([r for r in self.sim.requests() if first(r)])
        daemon.start()

        def settled():
            by_key = {}
            for inc in self.incidents(service=self.service):
                by_key.setdefault(inc["incident_key"], []).append(
                    inc["status"])
            return {k: by_key.get(k) for k in KEYS[:60]}
        expected = {k: ["resolved" if i < 30 else "triggered"]
                    for i, k in enumerate(KEYS[:60])}
        wait_until(lambda: settled() == expected, 60, interval=0.5,
                   message="60 incidents, 30 resolved")
        pending = self.notify_id(daemon, name, "NOTIFY_PENDING")
        daemon.wait_for_value(pending, lambda v: v == 0)
        self.assertEqual(settled(), expected)
        self.assertLess(delivered_before, 60, "killed too late to tell")
        self.assertEqual(daemon.errors(), [])

    def test_kill9_mid_delivery_events(self):
        self.kill_mid_delivery(rest=False)
        results = [r.get("event_result") for r in self.sim.requests()]
        self.assertNotIn("dropped: ", " ".join(str(x) for x in results))

    def test_kill9_mid_delivery_rest(self):
        self.kill_mid_delivery(rest=True)

    # -- a crash with a request on the wire -----------------------------------
    def crash_mid_request(self, daemon, method, path, send=None):
        """Sends a notification (default: the trigger of KEYS[0]) whose
        request hangs in PagerDuty, kills collectd while it hangs, waits for
        PagerDuty to finish it, and restarts collectd."""
        self.sim.add_fault("hang", path=path, method=method, seconds=3)
        (send or (lambda: self.notify(daemon, [0])))()
        wait_until(lambda: self.sim.control("GET", "/faults")["faults"] == [],
                   20, message="the request to hang")
        daemon.kill(signal.SIGKILL)
        self.sim.wait_for_requests(lambda r: r["method"] == method
                                   and r["path"] == path)
        daemon.start()

    def test_crash_during_rest_request_resend_opens_no_second_incident(self):
        daemon = self.start_notify(self.account(),
                                   self.rest_notify(Host="web01"))
        self.crash_mid_request(daemon, "POST", "/incidents")
        daemon.wait_for_log(r'notify "rest": .*already open \(an earlier '
                            r'attempt got through\); counted as delivered',
                            severity="info")
        posts = [r["status"] for r in self.sim.requests()
                 if r["method"] == "POST" and r["path"] == "/incidents"]
        self.assertEqual(posts, [201, 400])
        self.wait_counter(daemon, "rest", "NOTIFY_SENT", lambda v: v == 1)
        self.assertEqual(len(self.incidents(KEYS[0])), 1)
        # The restarted collectd knows the alert is open: OKAY resolves it.
        self.notify(daemon, [0], "okay")
        incs = self.wait_incidents(KEYS[0], 1, status="resolved")
        self.assertEqual(len(incs), 1)
        self.assertEqual(daemon.errors(), [])

    def test_crash_during_events_request_resend_opens_no_second_incident(
            self):
        daemon = self.start_notify(self.events_notify(Host="web01"))
        self.crash_mid_request(daemon, "POST", "/v2/enqueue")
        self.sim.wait_for_requests(lambda r: r["path"] == "/v2/enqueue",
                                   count=2)
        results = [r.get("event_result") for r in self.sim.requests()]
        self.assertEqual(results, ["created", "merged"])
        self.wait_counter(daemon, "ev", "NOTIFY_SENT", lambda v: v == 1)
        self.notify(daemon, [0], "okay")
        self.wait_incidents(KEYS[0], 1, status="resolved")
        self.assertEqual(len(self.incidents(KEYS[0])), 1)
        self.assertEqual(daemon.errors(), [])

    def test_crash_during_rest_note_and_resolve_sends_each_once(self):
        daemon = self.start_notify(self.account(),
                                   self.rest_notify(Host="web01"))
        self.notify(daemon, [0])
        inc = self.wait_incidents(KEYS[0], 1)[0]
        self.wait_counter(daemon, "rest", "NOTIFY_SENT", lambda v: v == 1)
        notes_path = "/incidents/%s/notes" % inc["id"]

        # A note whose POST got through while collectd died: the resend
        # finds it on the incident and posts nothing.
        def note():
            daemon.sock.putnotif("note", host="web01", plugin="app",
                                 type="gauge", type_instance="k00", meta={
                                     "pagerduty_action": "note",
                                     "pagerduty_note": "checked the disk"})
        self.crash_mid_request(daemon, "POST", notes_path, note)
        self.sim.wait_for_requests(lambda r: r["method"] == "GET"
                                   and r["path"] == notes_path)
        self.wait_counter(daemon, "rest", "NOTIFY_SENT", lambda v: v == 1)
        self.assertEqual([n["content"] for n in self.incidents(KEYS[0])[0][
            "notes"]], ["checked the disk"])
        self.assertEqual(len([r for r in self.sim.requests()
                              if r["method"] == "POST"
                              and r["path"] == notes_path]), 1)

        # A resolve whose PUT got through: the resend reads the incident
        # first, finds it resolved and sends nothing (an INFO line).
        self.crash_mid_request(daemon, "PUT", "/incidents/" + inc["id"],
                               lambda: self.notify(daemon, [0], "okay"))
        put = self.sim.wait_for_requests(lambda r: r["method"] == "PUT")[0]
        self.sim.wait_for_requests(
            lambda r: r["method"] == "GET" and r["seq"] > put["seq"]
            and r["path"] == "/incidents/" + inc["id"])
        self.wait_counter(daemon, "rest", "NOTIFY_SENT", lambda v: v == 1)
        daemon.wait_for_log("incident %s is already resolved" % inc["id"],
                            severity="info")
        puts = [r["status"] for r in self.sim.requests()
                if r["method"] == "PUT"]
        self.assertEqual(puts, [200])
        incs = self.incidents(KEYS[0])
        self.assertEqual([i["status"] for i in incs], ["resolved"])
        self.assertEqual(daemon.errors(), [])
        self.assertEqual(daemon.warnings(), [])

    # -- state across a restart -----------------------------------------------
    def test_first_okay_after_restart_resolves_what_was_open(self):
        daemon = self.start_notify(
            self.events_notify(Host="web01"),
            threshold=threshold_config(FailureMax=90))
        self.putval(daemon, IDENT, 95)
        self.wait_incidents(IDENT, 1)
        # Delivered (not only received: a stop while the answer is on its
        # way leaves the event queued, and it is sent again, merged).
        self.wait_counter(daemon, "ev", "NOTIFY_SENT", lambda v: v == 1)
        self.assertEqual(daemon.stop(), 0)
        daemon.start()
        # The threshold plugin forgot the value: its first OKAY is a
        # "start-up" one, but this alert is open, so it resolves it.
        self.putval(daemon, IDENT, 50)
        self.wait_incidents(IDENT, 1, status="resolved")
        self.sim.wait_for_requests(count=2)
        actions = [body(r)["event_action"] for r in self.sim.requests()]
        self.assertEqual(actions, ["trigger", "resolve"])
        self.assertTrue(re.search(r"Exiting normally", daemon.log_text()))


if __name__ == "__main__":
    harness.main()
