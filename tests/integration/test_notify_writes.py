#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_notify_writes.py - REST writes that do what the user meant (issue 7),
in the real collectd against the simulator, which acts as the real
PagerDuty does: PUT status acknowledged on a RESOLVED incident reopens it.

  - acknowledge, note and resolve on an incident a person already resolved
    reopen nothing and send nothing (a note only when the incident is named
    with pagerduty_incident); acknowledging an acknowledged one sends
    nothing;
  - a person resolving the incident while the plugin's resolve is on the
    wire: done, nothing reopened, nothing dead-lettered, whether PagerDuty
    answers 400 (code 1001) or 200 (the simulator's switch, both ways);
  - merged away: acknowledge and note go to the incident it was merged
    into; a resolve leaves that incident open;
  - the very first REST write carries From, learnt by the sender itself
    (GET /users/me) when the Account's read side has not learnt it;
  - an Events API 429 that names no wait (as the real one never does) puts
    the next attempt about 30 s later (the spool says when), not sooner.
"""

import glob
import json
import os

import harness
from harness import NotifyTestCase, wait_until

FIELDS = dict(host="web01", plugin="app", type="gauge",
              type_instance="manual")
KEY = "web01/app/gauge-manual"
PLUGIN_UA = "collectd-pagerduty/"


def is_plugin(r):
    return (r.get("user_agent") or "").startswith(PLUGIN_UA)


class WritesTest(NotifyTestCase):

    # -- helpers --------------------------------------------------------------
    def since(self):
        reqs = self.sim.requests()
        return reqs[-1]["seq"] if reqs else 0

    def plugin_requests(self, since=0, method=None, path=None):
        return [r for r in self.sim.requests(since) if is_plugin(r)
                and (method is None or r["method"] == method)
                and (path is None or r["path"] == path)]

    def human(self, method, path, body):
        status, out = self.sim.rest(method, path, body=body)
        self.assertLess(status, 300, out)
        return out

    def human_status(self, incident_id, status):
        return self.human("PUT", "/incidents/" + incident_id, {
            "incident": {"type": "incident_reference", "status": status}})

    def incident(self, incident_id):
        return [i for i in self.incidents() if i["id"] == incident_id][0]

    def act(self, daemon, action, message="by hand", **meta):
        meta = dict(meta, pagerduty_action=action)
        daemon.sock.putnotif(message, severity="okay", meta=meta, **FIELDS)

    def wait_sent(self, daemon, count):
        """Waits until the REST block counts `count` events delivered or
        found needing nothing: the sender is done with them."""
        self.wait_counter(daemon, "rest", "NOTIFY_SENT", lambda v: v >= count)

    def open_incident(self, daemon):
        daemon.sock.putnotif("Manual problem", **FIELDS)
        return self.wait_incidents(KEY, 1, status="triggered")[0]

    # -- a person resolved it ---------------------------------------------------
    def test_resolved_by_a_person_is_never_reopened(self):
        daemon = self.start_notify(self.account(),
                                   self.rest_notify(Host="web01"))
        inc = self.open_incident(daemon)
        self.wait_sent(daemon, 1)
        self.human_status(inc["id"], "resolved")
        mark = self.since()

        self.act(daemon, "acknowledge", "taking it")
        self.wait_sent(daemon, 2)
        daemon.wait_for_log("incident %s is already resolved; acknowledging "
                            "it would reopen it" % inc["id"])
        self.act(daemon, "note", pagerduty_note="still looking")
        self.wait_sent(daemon, 3)
        self.act(daemon, "resolve", "fixed")
        self.wait_sent(daemon, 4)

        self.assertEqual(self.incident(inc["id"])["status"], "resolved")
        self.assertEqual(self.incident(inc["id"])["notes"], [])
        self.assertEqual(len(self.incidents(KEY)), 1)
        # The plugin read the incident before each write, and wrote nothing.
        writes = [r for r in self.plugin_requests(mark)
                  if r["method"] != "GET"]
        self.assertEqual(writes, [])
        self.assertTrue(self.plugin_requests(mark, "GET",
                                             "/incidents/" + inc["id"]))
        # A note on a resolved incident named by the operator is added: it
        # reopens nothing.
        self.act(daemon, "note", pagerduty_note="post-mortem: disk swapped",
                 pagerduty_incident=str(inc["number"]))
        self.wait_sent(daemon, 5)
        got = self.incident(inc["id"])
        self.assertEqual([n["content"] for n in got["notes"]],
                         ["post-mortem: disk swapped"])
        self.assertEqual(got["status"], "resolved")
        self.assertEqual(daemon.errors(), [])

    def test_acknowledged_is_not_acknowledged_again(self):
        daemon = self.start_notify(self.account(),
                                   self.rest_notify(Host="web01"))
        inc = self.open_incident(daemon)
        self.act(daemon, "acknowledge", "taking it")
        self.wait_incidents(KEY, 1, status="acknowledged")
        self.act(daemon, "acknowledge", "me too")
        self.wait_sent(daemon, 3)
        daemon.wait_for_log("incident %s is already acknowledged"
                            % inc["id"])
        puts = self.plugin_requests(method="PUT")
        self.assertEqual([r["body"]["incident"]["status"] for r in puts],
                         ["acknowledged"])
        self.assertEqual(daemon.errors(), [])

    def resolved_while_resolving(self, answer):
        """The plugin's resolve reaches PagerDuty just after a person
        resolved the incident, which answers `answer`."""
        self.sim.control("POST", "/behaviour", {"resolve_resolved": answer})
        daemon = self.start_notify(self.account(),
                                   self.rest_notify(Host="web01"))
        inc = self.open_incident(daemon)
        self.wait_sent(daemon, 1)
        # Hold the plugin's PUT until the person has resolved it.
        self.sim.add_fault("hang", method="PUT",
                           path="/incidents/" + inc["id"])
        self.act(daemon, "resolve", "fixed by collectd")
        wait_until(lambda: not self.sim.control("GET", "/faults")["faults"],
                   20, message="the plugin's PUT to hang")
        self.human_status(inc["id"], "resolved")
        self.sim.clear_faults()  # the plugin's PUT is answered now
        self.wait_sent(daemon, 2)
        puts = self.plugin_requests(method="PUT")
        self.assertEqual([r["status"] for r in puts], [answer])
        got = self.incident(inc["id"])
        self.assertEqual(got["status"], "resolved")
        self.assertEqual(len(self.incidents(KEY)), 1)
        self.assertEqual(daemon.csv_last(self.notify_id(
            daemon, "rest", "NOTIFY_FAILED")), 0)
        self.assertEqual(os.listdir(os.path.join(daemon.path("pagerduty"),
                                                 "failed")), [])
        self.assertEqual(daemon.errors(), [])

    def test_resolved_meanwhile_answered_400(self):
        self.resolved_while_resolving(400)

    def test_resolved_meanwhile_answered_200(self):
        self.resolved_while_resolving(200)

    # -- merged away --------------------------------------------------------
    def test_merged_away_ack_and_note_follow_resolve_does_not(self):
        daemon = self.start_notify(self.account(),
                                   self.rest_notify(Host="web01"))
        inc = self.open_incident(daemon)
        self.wait_sent(daemon, 1)
        target = self.sim.add_incident(
            service_id=self.service, incident_key="merge/target",
            alert=True, title="the one problem")["incident"]
        self.human("PUT", "/incidents/%s/merge" % target["id"], {
            "source_incidents": [{"id": inc["id"],
                                  "type": "incident_reference"}]})
        self.assertEqual(self.incident(inc["id"])["merged_into"],
                         target["id"])

        self.act(daemon, "acknowledge", "taking it")
        wait_until(lambda: self.incident(target["id"])["status"]
                   == "acknowledged", 20, message="target acknowledged")
        daemon.wait_for_log("incident %s was merged into incident %s"
                            % (inc["id"], target["id"]))
        self.act(daemon, "note", pagerduty_note="it is the disk")
        wait_until(lambda: self.incident(target["id"])["notes"], 20,
                   message="note on the target")
        self.act(daemon, "resolve", "fixed")
        self.wait_sent(daemon, 4)
        daemon.wait_for_log("incident %s was merged into another incident"
                            % inc["id"])

        got = self.incident(target["id"])
        self.assertEqual(got["status"], "acknowledged")
        self.assertEqual([n["content"] for n in got["notes"]],
                         ["it is the disk"])
        self.assertEqual(self.incident(inc["id"])["notes"], [])
        writes = [(r["method"], r["path"], r["status"])
                  for r in self.plugin_requests() if r["method"] != "GET"]
        self.assertEqual(writes, [
            ("POST", "/incidents", 201),
            ("PUT", "/incidents/" + target["id"], 200),
            ("POST", "/incidents/%s/notes" % target["id"], 200)])
        self.assertEqual(daemon.errors(), [])

    # -- From ---------------------------------------------------------------
    def test_first_write_carries_from(self):
        email = self.sim.token_info()["email"]
        # The read side's GET /users/me fails, and its next cycle is an
        # hour away: only the sender can learn the email.
        self.sim.add_fault("status", count=-1, status=503, path="/users/me")
        daemon = self.start_notify(self.account(Interval=3600),
                                   self.rest_notify(Host="web01"))
        daemon.sock.putnotif("Manual problem", **FIELDS)
        self.sim.wait_for_requests(
            lambda r: r["path"] == "/users/me" and r["status"] == 503,
            count=2)
        # No write goes without From: the event waits.
        self.assertEqual(self.plugin_requests(method="POST"), [])
        self.sim.clear_faults()
        self.wait_incidents(KEY, 1, status="triggered")
        self.act(daemon, "acknowledge", "taking it")
        self.wait_incidents(KEY, 1, status="acknowledged")
        writes = [r for r in self.plugin_requests() if r["method"] != "GET"]
        self.assertEqual([(r["method"], r["from"]) for r in writes],
                         [("POST", email), ("PUT", email)])
        # Only the injected failure was logged as an error.
        self.assertEqual(
            [e for e in daemon.errors() if "GET /users/me failed" not in e],
            [])

    # -- Events API 429 ---------------------------------------------------------
    def test_events_429_next_attempt_about_30_s_later(self):
        # The simulator's own Events limit: its 429 has no headers.
        self.sim.control("POST", "/ratelimit", {"events_per_minute": 1})
        daemon = self.start_notify(self.events_notify())
        for i in range(2):
            daemon.sock.putnotif("problem %d" % i, host="web01",
                                 plugin="app", type="gauge",
                                 type_instance="k%d" % i)
        refused = self.sim.wait_for_requests(
            lambda r: r["path"] == "/v2/enqueue" and r["status"] == 429)[0]
        self.assertNotIn("Retry-After", json.dumps(refused))
        spool = os.path.join(daemon.path("pagerduty"), "ev")

        def rescheduled():
            for path in glob.glob(os.path.join(spool, "*.json")):
                with open(path) as f:
                    record = json.load(f)
                if record["attempts"] >= 1:
                    return record
            return None
        record = wait_until(rescheduled, 20, message="the event rescheduled")
        # Spool records (version 2) hold collectd's cdtime_t: 2^-30 s.
        self.assertEqual(record["v"], 2, record)
        wait = record["next_attempt"] / 2 ** 30 - refused["time"]
        self.assertGreaterEqual(wait, 30.0, record)
        self.assertLessEqual(wait, 36.0 + 5, record)
        self.assertEqual(len([r for r in self.sim.requests()
                              if r["path"] == "/v2/enqueue"]), 2)


if __name__ == "__main__":
    harness.main()
