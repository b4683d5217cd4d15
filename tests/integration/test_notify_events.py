#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_notify_events.py - collectd notifications become PagerDuty incidents
through the Events API v2 (a Notify block with a RoutingKey), in the real
collectd with the threshold plugin, against the simulator (doc/contract.md §6).

  - a threshold crossing (PUTVAL through unixsock into a watched value)
    opens exactly one incident, with the payload doc/contract.md §6 describes; repeats
    (Persist true) send nothing without an Account; OKAY resolves;
  - the threshold plugin's start-up OKAYs send nothing at all;
  - WARNING then FAILURE re-triggers at critical: still one incident, its
    urgency raised;
  - PUTNOTIF with s:pagerduty_action acknowledge / note / resolve and
    s:pagerduty_dedup_key act on the incident (the note through the
    Account's REST API, which the Events API cannot do);
  - with an Account, Persist true adds "still FAILURE" notes, at most one
    per NoteInterval;
  - the plugin's own notifications (Account "Notifications true") are
    ignored by every block that does not name Plugin "pagerduty".

Every wait is on a condition (request log, simulator state, collectd's
log), with generous timeouts.
"""

import re
import time

import harness
from harness import NotifyTestCase, threshold_config

IDENT = "web01/app-x/gauge-load"  # host/plugin-instance/type-instance
MSG_FAILURE = re.compile(r'Data source "value" is currently 95\.0+\. That is '
                         r'above the failure threshold of 90\.0+\.$')


def body(r):
    return r.get("body") or {}


def events_of(requests, key=None):
    return [r for r in requests if r["path"] == "/v2/enqueue"
            and (key is None or body(r).get("dedup_key") == key)]


def is_event(action, key):
    return lambda r: (r["path"] == "/v2/enqueue"
                      and body(r).get("event_action") == action
                      and body(r).get("dedup_key") == key)


class EventsNotifyTest(NotifyTestCase):

    def test_threshold_failure_opens_one_incident_and_okay_resolves(self):
        daemon = self.start_notify(
            self.events_notify(Host="web01"),
            threshold=threshold_config(WarningMax=80, FailureMax=90,
                                       Persist=True))
        # Start-up OKAY (UNKNOWN -> OKAY): nothing sent.
        self.putval(daemon, IDENT, 50)
        self.wait_notifications(daemon, "OKAY", 1, "host = web01")

        self.putval(daemon, IDENT, 95)
        incs = self.wait_incidents(IDENT, 1)
        self.assertEqual(len(incs), 1, incs)
        inc = incs[0]
        self.assertEqual(inc["status"], "triggered")
        self.assertEqual(inc["urgency"], "high")
        self.assertEqual(inc["service_id"], self.service)
        self.assertRegex(inc["title"], MSG_FAILURE)

        # Repeats while open (Persist true): no duplicate, nothing sent
        # (no Account: no notes).
        for value in (96, 97, 98):
            self.putval(daemon, IDENT, value)
        self.wait_notifications(daemon, "FAILURE", 4, "host = web01")

        self.putval(daemon, IDENT, 50)
        self.wait_incidents(IDENT, 1, status="resolved")
        # The simulator logs a request once it answered it.
        self.sim.wait_for_requests(is_event("resolve", IDENT))

        events = events_of(self.sim.requests())
        self.assertEqual([(e["body"]["event_action"], e["event_result"])
                          for e in events],
                         [("trigger", "created"), ("resolve", "resolved")])
        trigger = events[0]["body"]
        self.assertEqual(trigger["routing_key"], self.routing_key)
        self.assertEqual(trigger["dedup_key"], IDENT)
        payload = trigger["payload"]
        self.assertRegex(payload["summary"], MSG_FAILURE)
        self.assertEqual(payload["severity"], "critical")
        self.assertEqual(payload["source"], "web01")
        self.assertEqual(payload["component"], "app-x")
        self.assertEqual(payload["group"], "gauge")
        self.assertEqual(payload["class"], "load")
        details = payload["custom_details"]
        self.assertEqual(details["CurrentValue"], 95)
        self.assertEqual(details["FailureMax"], 90)
        self.assertEqual(details["WarningMax"], 80)
        self.assertIsNone(details["FailureMin"])  # NaN: not set
        self.assertEqual(details["DataSource"], "value")
        self.assertEqual(events[1]["body"]["dedup_key"], IDENT)
        self.assertEqual(len(self.incidents(IDENT)), 1)
        self.assertEqual(daemon.errors(), [])
        self.assertSecretNowhere(daemon, self.routing_key)

    def test_startup_okays_send_nothing(self):
        daemon = self.start_notify(
            self.events_notify(Host="web01"),
            threshold=threshold_config(FailureMax=90))
        for i in range(10):
            self.putval(daemon, "web01/app-%d/gauge-load" % i, 10 + i)
        self.wait_notifications(daemon, "OKAY", 10, "host = web01")
        # A sentinel after them: once it is delivered, anything the OKAYs
        # had queued before it would have been delivered too.
        daemon.sock.putnotif("sentinel", host="web01", plugin="sentinel",
                             type="gauge")
        self.wait_incidents("web01/sentinel/gauge", 1)
        self.sim.wait_for_requests(is_event("trigger",
                                            "web01/sentinel/gauge"))
        self.assertEqual([body(r).get("dedup_key")
                          for r in self.sim.requests()],
                         ["web01/sentinel/gauge"])
        self.wait_counter(daemon, "ev", "NOTIFY_SENT", lambda v: v == 1)
        self.assertEqual(daemon.csv_last(self.notify_id(
            daemon, "ev", "NOTIFY_FAILED")), 0)
        self.assertEqual(daemon.errors(), [])
        self.assertEqual(daemon.warnings(), [])

    def test_warning_then_failure_retriggers_at_critical(self):
        daemon = self.start_notify(
            self.events_notify(Host="web01"),
            threshold=threshold_config(WarningMax=80, FailureMax=90))
        self.putval(daemon, IDENT, 50)
        self.putval(daemon, IDENT, 85)
        incs = self.wait_incidents(IDENT, 1)
        self.assertEqual(incs[0]["urgency"], "low")
        self.putval(daemon, IDENT, 95)
        incs = self.wait_incidents(IDENT, 1,
                                   check=lambda i: i["urgency"] == "high")
        self.assertEqual(len(incs), 1, "a second incident was opened")
        self.putval(daemon, IDENT, 50)
        self.wait_incidents(IDENT, 1, status="resolved")
        self.sim.wait_for_requests(is_event("resolve", IDENT))
        events = events_of(self.sim.requests())
        self.assertEqual([(e["body"]["event_action"],
                           e["body"].get("payload", {}).get("severity"),
                           e["event_result"]) for e in events],
                         [("trigger", "warning", "created"),
                          ("trigger", "critical", "merged"),
                          ("resolve", None, "resolved")])
        self.assertEqual(len(self.incidents(IDENT)), 1)

    def test_putnotif_acknowledge_note_resolve_and_dedup_key(self):
        daemon = self.start_notify(
            self.account(),
            self.events_notify(Host="web01", Account="acme"))
        sock = daemon.sock
        fields = dict(host="web01", plugin="app", type="gauge",
                      type_instance="manual")
        key = "web01/app/gauge-manual"
        sock.putnotif("Manual problem", **fields)
        self.wait_incidents(key, 1, status="triggered")

        sock.putnotif("ack", severity="okay", meta={
            "pagerduty_action": "acknowledge"}, **fields)
        self.wait_incidents(key, 1, status="acknowledged")

        sock.putnotif("note", severity="warning", meta={
            "pagerduty_action": "note",
            "pagerduty_note": "Looking into it, disk replaced"}, **fields)
        incs = self.wait_incidents(key, 1, check=lambda i: i["notes"])
        self.assertEqual([n["content"] for n in incs[0]["notes"]],
                         ["Looking into it, disk replaced"])

        sock.putnotif("fixed by hand", severity="failure", meta={
            "pagerduty_action": "resolve"}, **fields)
        incs = self.wait_incidents(key, 1, status="resolved")
        self.assertEqual(len(incs), 1)

        # pagerduty_dedup_key replaces the template's key.
        sock.putnotif("Custom key problem", meta={
            "pagerduty_dedup_key": "my-own-key"}, **fields)
        self.wait_incidents("my-own-key", 1)
        self.sim.wait_for_requests(is_event("trigger", "my-own-key"))
        self.assertEqual(len(self.incidents(key)), 1)

        actions = [(r["body"]["event_action"], r["body"]["dedup_key"])
                   for r in events_of(self.sim.requests())]
        self.assertEqual(actions, [("trigger", key), ("acknowledge", key),
                                   ("resolve", key),
                                   ("trigger", "my-own-key")])
        notes = [r for r in self.sim.requests()
                 if r["method"] == "POST" and r["path"].endswith("/notes")]
        self.assertEqual(len(notes), 1)
        self.assertEqual(notes[0]["auth"], "ok")
        self.assertEqual(daemon.errors(), [])
        self.assertSecretNowhere(daemon, self.routing_key)
        self.assertSecretNowhere(daemon, self.sim.token,
                                 exclude=[self.token_path])

    def test_persist_with_account_adds_notes_at_most_every_note_interval(self):
        note_interval = 3
        daemon = self.start_notify(
            self.account(),
            self.events_notify(Host="web01", Account="acme",
                               NoteInterval=note_interval),
            threshold=threshold_config(FailureMax=90, Persist=True))
        # No note can be decided earlier than NoteInterval after this.
        triggered = time.time()
        self.putval(daemon, IDENT, 95)
        inc = self.wait_incidents(IDENT, 1)[0]
        # The problem lasts: a FAILURE every ~0.25 s for a while.
        first = time.time()
        while time.time() - first < 3.5 * note_interval:
            self.putval(daemon, IDENT, 95)
            time.sleep(0.25)
        last = time.time()
        self.putval(daemon, IDENT, 50)
        self.wait_incidents(IDENT, 1, status="resolved")
        notes = self.incidents(IDENT)[0]["notes"]
        # Since the trigger the problem lasted ~3.5 NoteIntervals: 2 or 3
        # notes, never more than one per NoteInterval.
        self.assertGreaterEqual(len(notes), 2, notes)
        # At most one per NoteInterval from the trigger (decided after
        # `triggered`) to the last FAILURE (handled before `last`); not
        # from the incident's created_at, which a busy sender makes late.
        self.assertLessEqual(len(notes),
                             int((last - triggered) / note_interval), notes)
        for note in notes:
            self.assertRegex(note["content"], r"^still FAILURE: .*" +
                             MSG_FAILURE.pattern)
        times = sorted(n["created_at"] for n in notes)
        for a, b in zip(times, times[1:]):
            # Decided NoteInterval apart, but these are delivery times: a
            # busy machine delays one delivery more than the next. Two
            # notes from one burst of FAILUREs would be well under 1 s.
            self.assertGreater(b - a, 1, times)
        self.assertEqual(len(self.incidents(IDENT)), 1)

    def test_own_notifications_ignored_unless_a_block_names_the_plugin(self):
        auth = "Auth Service"
        auth_key = harness.routing_key(self.sim, auth)
        daemon = self.start_notify(
            # The demo account has critical services: with Notifications
            # true the plugin dispatches FAILUREs of plugin "pagerduty".
            self.account(Notifications=True),
            self.events_notify("all"),  # no match field: matches anything
            self.events_notify("regex", Plugin="/^pager/"),
            self.events_notify("own", Plugin="pagerduty",
                               RoutingKey=auth_key))
        own_key = "pd-test/pagerduty-acme/gauge-service-checkout_api-status"
        self.wait_notifications(daemon, "FAILURE", 1,
                                "plugin = pagerduty, plugin_instance = acme")
        self.wait_incidents(own_key, 1, service=harness.service_id(
            self.sim, auth))
        # A PUTNOTIF claiming to come from the plugin is just as ignored.
        daemon.sock.putnotif("fake", host="pd-test", plugin="pagerduty",
                             plugin_instance="acme", type="gauge",
                             type_instance="fake")
        self.wait_incidents("pd-test/pagerduty-acme/gauge-fake", 1)
        daemon.sock.putnotif("sentinel", host="web01", plugin="sentinel",
                             type="gauge")
        self.wait_incidents("web01/sentinel/gauge", 1)
        self.sim.wait_for_requests(is_event("trigger",
                                            "web01/sentinel/gauge"))
        # "all" sent the sentinel and nothing else; "regex" nothing at all.
        to_tools = [body(r)["dedup_key"] for r in self.sim.requests()
                    if body(r).get("routing_key") == self.routing_key]
        self.assertEqual(to_tools, ["web01/sentinel/gauge"])
        own = [body(r) for r in self.sim.requests()
               if body(r).get("routing_key") == auth_key]
        self.assertTrue(all(b["dedup_key"].startswith("pd-test/pagerduty-")
                            for b in own), own)
        self.assertEqual(daemon.errors(), [])
        for key in (self.routing_key, auth_key):
            self.assertSecretNowhere(daemon, key)


if __name__ == "__main__":
    harness.main()
