#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_notify_rest.py - collectd notifications become PagerDuty incidents
through the REST API (a Notify block with Service + Account), in the real
collectd with the threshold plugin, against the simulator (doc/contract.md §6).

  - a threshold crossing opens exactly one incident (POST /incidents with
    urgency, incident_key and the notification's meta in the body);
    Persist true adds "still FAILURE" notes no more often than
    NoteInterval; OKAY resolves it with the message as resolution;
  - the threshold plugin's start-up OKAYs cause no notification request;
  - WARNING then FAILURE raises the incident's urgency (no second one);
  - PUTNOTIF with s:pagerduty_action acknowledge / note / resolve acts on
    the incident of the dedup key, and s:pagerduty_incident on any
    incident named by its number.
"""

import re
import time

import harness
from harness import NotifyTestCase, threshold_config

IDENT = "web01/app-x/gauge-load"
MSG_FAILURE = (r'Data source "value" is currently 95\.0+\. That is above the '
               r'failure threshold of 90\.0+\.')
MSG_OKAY = r'All data sources are within range again\.'


def is_put_status(status):
    return lambda r: (r["method"] == "PUT"
                      and (r.get("body") or {}).get("incident", {})
                      .get("status") == status)


class RestNotifyTest(NotifyTestCase):

    def test_threshold_failure_opens_one_incident_notes_and_okay_resolves(
            self):
        note_interval = 3
        daemon = self.start_notify(
            self.account(),
            self.rest_notify(Host="web01", NoteInterval=note_interval),
            threshold=threshold_config(WarningMax=80, FailureMax=90,
                                       Persist=True))
        self.putval(daemon, IDENT, 50)  # start-up OKAY: nothing
        # No note can be decided earlier than NoteInterval after this.
        triggered = time.time()
        self.putval(daemon, IDENT, 95)
        inc = self.wait_incidents(IDENT, 1)[0]
        self.assertEqual(inc["status"], "triggered")
        self.assertEqual(inc["urgency"], "high")
        self.assertEqual(inc["service_id"], self.service)
        self.assertRegex(inc["title"], MSG_FAILURE)
        self.assertRegex(inc["details"], "^Host web01, .*" + MSG_FAILURE)
        self.assertIn("\nCurrentValue: 95\n", inc["details"])
        self.assertIn("\nFailureMax: 90", inc["details"])
        post = self.sim.wait_for_requests(
            lambda r: r["method"] == "POST" and r["path"] == "/incidents")[0]
        self.assertEqual(post["status"], 201)
        self.assertEqual(post["auth"], "ok")
        self.assertEqual(post["body"]["incident"]["incident_key"], IDENT)
        self.assertEqual(post["body"]["incident"]["service"]["id"],
                         self.service)

        # The problem lasts (Persist true: a FAILURE every ~0.25 s).
        first = time.time()
        while time.time() - first < 3.5 * note_interval:
            self.putval(daemon, IDENT, 95)
            time.sleep(0.25)
        last = time.time()
        self.putval(daemon, IDENT, 50)
        inc = self.wait_incidents(IDENT, 1, status="resolved")[0]
        self.assertRegex(inc["resolution"], MSG_OKAY)
        self.sim.wait_for_requests(is_put_status("resolved"))

        notes = inc["notes"]
        self.assertGreaterEqual(len(notes), 2, notes)
        # At most one per NoteInterval from the trigger (decided after
        # `triggered`) to the last FAILURE (handled before `last`); not
        # from the incident's created_at, which a busy sender makes late.
        self.assertLessEqual(len(notes),
                             int((last - triggered) / note_interval), notes)
        for note in notes:
            self.assertRegex(note["content"], "^still FAILURE: Host web01.*"
                             + MSG_FAILURE)
        times = sorted(n["created_at"] for n in notes)
        for a, b in zip(times, times[1:]):
            # Decided NoteInterval apart, but these are delivery times: a
            # busy machine delays one delivery more than the next. Two
            # notes from one burst of FAILUREs would be well under 1 s.
            self.assertGreater(b - a, 1, times)
        self.assertEqual(len(self.incidents(IDENT)), 1)
        writes = [r for r in self.notify_requests()
                  if r["method"] in ("POST", "PUT")]
        self.assertEqual(len(writes), 1 + len(notes) + 1,
                         [(r["method"], r["path"]) for r in writes])
        self.assertEqual(daemon.errors(), [])
        self.assertSecretNowhere(daemon, self.sim.token,
                                 exclude=[self.token_path])

    def test_startup_okays_send_nothing(self):
        daemon = self.start_notify(
            self.account(), self.rest_notify(Host="web01"),
            threshold=threshold_config(FailureMax=90))
        for i in range(10):
            self.putval(daemon, "web01/app-%d/gauge-load" % i, 10 + i)
        self.wait_notifications(daemon, "OKAY", 10, "host = web01")
        daemon.sock.putnotif("sentinel", host="web01", plugin="sentinel",
                             type="gauge")
        self.wait_incidents("web01/sentinel/gauge", 1)
        self.sim.wait_for_requests(
            lambda r: r["method"] == "POST" and r["path"] == "/incidents")
        self.assertEqual([(r["method"], r["path"])
                          for r in self.notify_requests()],
                         [("POST", "/incidents")])
        self.wait_counter(daemon, "rest", "NOTIFY_SENT", lambda v: v == 1)
        self.assertEqual(daemon.errors(), [])
        self.assertEqual(daemon.warnings(), [])

    def test_warning_then_failure_raises_urgency(self):
        daemon = self.start_notify(
            self.account(), self.rest_notify(Host="web01"),
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
        self.sim.wait_for_requests(is_put_status("resolved"))
        posts = [r for r in self.notify_requests() if r["method"] == "POST"]
        self.assertEqual(len(posts), 1)
        self.assertEqual(posts[0]["body"]["incident"]["urgency"], "low")
        urgency = [r["body"]["incident"]["urgency"]
                   for r in self.notify_requests() if r["method"] == "PUT"
                   and "urgency" in r["body"]["incident"]]
        self.assertEqual(urgency, ["high"])
        self.assertEqual(daemon.errors(), [])

    def test_putnotif_acknowledge_note_resolve_and_incident_by_number(self):
        daemon = self.start_notify(self.account(),
                                   self.rest_notify(Host="web01"))
        sock = daemon.sock
        fields = dict(host="web01", plugin="app", type="gauge",
                      type_instance="manual")
        key = "web01/app/gauge-manual"
        sock.putnotif("Manual problem", **fields)
        inc = self.wait_incidents(key, 1, status="triggered")[0]

        sock.putnotif("taking it", severity="okay", meta={
            "pagerduty_action": "acknowledge"}, **fields)
        self.wait_incidents(key, 1, status="acknowledged")

        sock.putnotif("note", severity="warning", meta={
            "pagerduty_action": "note",
            "pagerduty_note": "Disk replaced, watching it"}, **fields)
        incs = self.wait_incidents(key, 1, check=lambda i: i["notes"])
        self.assertEqual([n["content"] for n in incs[0]["notes"]],
                         ["Disk replaced, watching it"])

        sock.putnotif("Fixed by hand", severity="failure", meta={
            "pagerduty_action": "resolve"}, **fields)
        incs = self.wait_incidents(key, 1, status="resolved")
        self.assertEqual(len(incs), 1)
        self.assertEqual(incs[0]["resolution"], "Fixed by hand")
        self.assertEqual(incs[0]["id"], inc["id"])

        # pagerduty_incident names any incident, here by number: the demo's
        # triggered incident on Web Frontend (not the block's service).
        web = harness.service_id(self.sim, "Web Frontend")
        target = [i for i in self.incidents(service=web)
                  if i["status"] == "triggered"][0]
        sock.putnotif("ops ack", severity="okay", meta={
            "pagerduty_action": "acknowledge",
            "pagerduty_incident": str(target["number"])},
            host="web01", plugin="ops", type="gauge")
        self.wait_until_incident(target["id"], "acknowledged")
        self.sim.wait_for_requests(
            lambda r: r["method"] == "PUT"
            and r["path"] == "/incidents/" + target["id"])

        writes = [(r["method"], re.sub(r"/P[0-9A-Z]+", "/{id}", r["path"]),
                   r["status"])
                  for r in self.notify_requests() if r["method"] != "GET"]
        self.assertEqual(writes, [("POST", "/incidents", 201),
                                  ("PUT", "/incidents/{id}", 200),
                                  ("POST", "/incidents/{id}/notes", 200),
                                  ("PUT", "/incidents/{id}", 200),
                                  ("PUT", "/incidents/{id}", 200)])
        self.assertEqual(daemon.errors(), [])

    def wait_until_incident(self, incident_id, status):
        harness.wait_until(
            lambda: [i for i in self.incidents()
                     if i["id"] == incident_id and i["status"] == status],
            30, message="incident %s %s" % (incident_id, status))


if __name__ == "__main__":
    harness.main()
