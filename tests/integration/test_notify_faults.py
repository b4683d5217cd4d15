#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_notify_faults.py - notification delivery through PagerDuty's failures
(doc/contract.md §6), in the real collectd against the simulator's injected faults:

  - a 429 storm (ratelimit-reset, Retry-After) loses nothing, on the
    Events and the REST path;
  - bursts of 5xx, HTML 502s, resets, cut-off bodies and answers that
    never come in time (the request went through but the client timed
    out) lose nothing and open no incident twice;
  - a 400 moves the event to SpoolDir/failed/ with its reason (0600 files
    in a 0700 directory, no secret), logged once, and later events flow;
  - a token revoked mid-run keeps the events queued (logged once, with
    the fix); they go out once the TokenFile holds a valid token;
  - PagerDuty hanging never blocks the notification callback;
  - the per-Notify metrics (queue_length-pending, duration-oldest,
    derive-sent/retried/failed) say what happened.
"""

import json
import os
import secrets
import stat
import time

import harness
import series
from harness import NotifyTestCase, wait_until


def body(r):
    return r.get("body") or {}


def is_event(action=None, key=None):
    return lambda r: (r["path"] == "/v2/enqueue"
                      and (action is None
                           or body(r).get("event_action") == action)
                      and (key is None or body(r).get("dedup_key") == key))


def is_post_incident(r):
    return r["method"] == "POST" and r["path"] == "/incidents"


class FaultsTest(NotifyTestCase):

    # -- helpers ------------------------------------------------------------
    def problems(self, daemon, keys, severity="failure"):
        """One PUTNOTIF per key (pagerduty_dedup_key), each a distinct
        problem."""
        for key in keys:
            daemon.sock.putnotif("problem %s" % key, severity=severity,
                                 host="web01", plugin="app", type="gauge",
                                 type_instance=key,
                                 meta={"pagerduty_dedup_key": key})

    def resolve(self, daemon, keys):
        for key in keys:
            daemon.sock.putnotif("recovered %s" % key, severity="okay",
                                 host="web01", plugin="app", type="gauge",
                                 type_instance=key,
                                 meta={"pagerduty_dedup_key": key})

    def assertOneIncidentEach(self, keys, status=None):
        by_key = {}
        for inc in self.incidents(service=self.service):
            by_key.setdefault(inc["incident_key"], []).append(inc)
        for key in keys:
            self.assertEqual(len(by_key.get(key, [])), 1,
                             "incidents for %s: %s" % (key, by_key.get(key)))
            if status is not None:
                self.assertEqual(by_key[key][0]["status"], status, key)

    def wait_all(self, keys, status=None, timeout=60):
        def done():
            got = {i["incident_key"] for i in self.incidents(
                service=self.service)
                if status is None or i["status"] == status}
            return set(keys) <= got
        wait_until(done, timeout, interval=0.3,
                   message="incidents %s for %d keys" % (status, len(keys)))

    def spool_dir(self, daemon):
        return daemon.path("pagerduty")

    # -- 429 ------------------------------------------------------------------
    def test_429_storm_events_loses_nothing(self):
        # Retry-After first, then ratelimit-reset. (A 429 naming no wait,
        # as the Events API's own, waits about 30 s: test_notify_writes.)
        for extra in ([{"headers": False, "retry_after": 1}] * 3
                      + [{"headers": True, "reset": 1}] * 4):
            self.sim.add_fault("ratelimit", path="/v2/enqueue", **extra)
        daemon = self.start_notify(self.events_notify())
        keys = ["storm-%02d" % i for i in range(12)]
        self.problems(daemon, keys)
        self.resolve(daemon, keys[:6])
        self.sim.wait_for_requests(is_event("resolve"), count=6, timeout=90)
        self.assertOneIncidentEach(keys[:6], "resolved")
        self.assertOneIncidentEach(keys[6:], "triggered")
        events = [r for r in self.sim.requests() if is_event()(r)]
        self.assertEqual([r["status"] for r in events[:7]], [429] * 7)
        self.assertEqual(sorted(r["event_result"] for r in events[7:]),
                         ["created"] * 12 + ["resolved"] * 6)
        self.wait_counter(daemon, "ev", "NOTIFY_SENT", lambda v: v == 18)
        self.assertEqual(daemon.csv_last(self.notify_id(
            daemon, "ev", "NOTIFY_RETRIED")), 7)
        self.assertEqual(daemon.csv_last(self.notify_id(
            daemon, "ev", "NOTIFY_FAILED")), 0)
        self.assertEqual(daemon.errors(), [])

    def test_429_storm_rest_loses_nothing(self):
        for extra in ([{"headers": True, "reset": 1}] * 3
                      + [{"headers": True, "reset": 1, "retry_after": 1}] * 2):
            self.sim.add_fault("ratelimit", path="/incidents", method="POST",
                               **extra)
        daemon = self.start_notify(self.account(), self.rest_notify())
        keys = ["storm-%02d" % i for i in range(8)]
        self.problems(daemon, keys)
        self.wait_all(keys, "triggered", timeout=90)
        self.resolve(daemon, keys[:4])
        self.wait_all(keys[:4], "resolved", timeout=60)
        self.assertOneIncidentEach(keys[:4], "resolved")
        self.assertOneIncidentEach(keys[4:], "triggered")
        posts = [r["status"] for r in self.sim.requests()
                 if is_post_incident(r)]
        self.assertEqual(posts, [429] * 5 + [201] * 8)
        self.wait_counter(daemon, "rest", "NOTIFY_SENT", lambda v: v == 12)
        self.assertEqual(daemon.csv_last(self.notify_id(
            daemon, "rest", "NOTIFY_RETRIED")), 5)

    # -- 5xx, resets, bad bodies, lost answers --------------------------------
    def test_5xx_bursts_events_lose_nothing(self):
        daemon = self.start_notify(self.events_notify(Timeout=1000))
        keys = ["burst-%02d" % i for i in range(10)]
        # Burst 1: server errors and a reset connection.
        for kind, extra in (("status", {"status": 503}),
                            ("status", {"status": 500}), ("reset", {})):
            self.sim.add_fault(kind, path="/v2/enqueue", **extra)
        self.problems(daemon, keys[:5])
        self.wait_all(keys[:5], "triggered")
        # Burst 2: an HTML 502, a body cut short, and an answer that comes
        # after the client gave up (the event went through meanwhile).
        for kind, extra in (("html", {"status": 502}), ("truncate", {}),
                            ("hang", {"seconds": 2})):
            self.sim.add_fault(kind, path="/v2/enqueue", **extra)
        self.problems(daemon, keys[5:])
        self.resolve(daemon, keys[:5])
        self.wait_all(keys[5:], "triggered")
        self.wait_all(keys[:5], "resolved")
        self.assertOneIncidentEach(keys[:5], "resolved")
        self.assertOneIncidentEach(keys[5:], "triggered")
        self.assertEqual(self.sim.control("GET", "/faults")["faults"], [])
        results = [r["event_result"] for r in self.sim.requests()
                   if is_event()(r) and r.get("event_result")]
        self.assertNotIn("dropped", " ".join(results))
        self.wait_counter(daemon, "ev", "NOTIFY_SENT", lambda v: v == 15)
        retried = daemon.csv_last(self.notify_id(daemon, "ev",
                                                 "NOTIFY_RETRIED"))
        # Every fault but the reset failed an attempt; libcurl may resend a
        # request whose reused connection was reset before any answer
        # (then the plugin never saw that one).
        self.assertIn(retried, (5, 6))
        self.assertEqual(daemon.csv_last(self.notify_id(
            daemon, "ev", "NOTIFY_FAILED")), 0)
        # One WARNING when delivery started failing, one INFO when it
        # recovered, per burst at most; no ERROR.
        self.assertEqual(daemon.errors(), [])
        self.assertLessEqual(len([w for w in daemon.warnings()
                                  if "delivery failing" in w]), 6)

    def test_5xx_bursts_rest_lose_nothing(self):
        daemon = self.start_notify(self.account(),
                                   self.rest_notify(Timeout=1000))
        keys = ["burst-%02d" % i for i in range(8)]
        for kind, extra in (("status", {"status": 503}),
                            ("status", {"status": 502}), ("reset", {})):
            self.sim.add_fault(kind, path="/incidents", method="POST",
                               **extra)
        self.problems(daemon, keys[:4])
        self.wait_all(keys[:4], "triggered")
        # The hung POST creates its incident after the client timed out:
        # the resend meets "Incident Already Exists" (400), which counts as
        # delivered once the open incident is found.
        for kind, extra in (("truncate", {}), ("garbage", {}),
                            ("hang", {"seconds": 2})):
            self.sim.add_fault(kind, path="/incidents", method="POST",
                               **extra)
        self.problems(daemon, keys[4:])
        self.wait_all(keys[4:], "triggered")
        self.resolve(daemon, keys[:4])
        self.wait_all(keys[:4], "resolved")
        self.assertOneIncidentEach(keys[:4], "resolved")
        self.assertOneIncidentEach(keys[4:], "triggered")
        self.wait_counter(daemon, "rest", "NOTIFY_SENT", lambda v: v == 12)
        self.assertEqual(daemon.csv_last(self.notify_id(
            daemon, "rest", "NOTIFY_FAILED")), 0)
        self.assertEqual(os.listdir(os.path.join(self.spool_dir(daemon),
                                                 "failed")), [])

    # -- 400 ------------------------------------------------------------------
    def check_dead_letter(self, daemon, block, key, reason_rx):
        failed = os.path.join(self.spool_dir(daemon), "failed")
        names = wait_until(lambda: sorted(os.listdir(failed)) or None, 20,
                           message="a file in failed/")
        self.assertEqual(len(names), 2, names)
        record, reason = names
        self.assertRegex(record, r"^%s-\d+\.json$" % block)
        self.assertEqual(reason, record + ".reason")
        self.assertEqual(stat.S_IMODE(os.stat(failed).st_mode), 0o700)
        for name in names:
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(
                failed, name)).st_mode), 0o600, name)
        with open(os.path.join(failed, record)) as f:
            event = json.load(f)
        self.assertEqual(event["dedup_key"], key)
        self.assertEqual(event["action"], "trigger")
        with open(os.path.join(failed, reason)) as f:
            text = f.read()
        self.assertRegex(text, reason_rx)
        self.assertEqual(len(text.strip().splitlines()), 1, text)
        return text

    def test_400_moves_the_event_to_failed_with_its_reason_events(self):
        self.sim.add_fault("status", status=400, path="/v2/enqueue")
        daemon = self.start_notify(self.events_notify())
        self.problems(daemon, ["refused"])
        self.check_dead_letter(daemon, "ev", "refused", r"400")
        daemon.wait_for_log(r'notify "ev": .*moved to SpoolDir/failed/: .*400',
                            severity="error")
        # The next event is delivered as usual.
        self.problems(daemon, ["accepted"])
        self.wait_all(["accepted"])
        self.wait_counter(daemon, "ev", "NOTIFY_FAILED", lambda v: v == 1)
        self.wait_counter(daemon, "ev", "NOTIFY_SENT", lambda v: v == 1)
        self.assertEqual(len(daemon.errors()), 1, daemon.errors())
        self.assertEqual(self.incidents("refused"), [])
        self.assertSecretNowhere(daemon, self.routing_key)

    def test_400_moves_the_event_to_failed_with_its_reason_rest(self):
        # A real 400: PagerDuty refuses incidents on a disabled service.
        disabled = harness.service_id(self.sim, "Legacy Billing")
        daemon = self.start_notify(
            self.account(),
            self.rest_notify("billing", Service=disabled, Plugin="billing"),
            self.rest_notify(Plugin="app"))
        daemon.sock.putnotif("billing broken", host="web01",
                             plugin="billing", type="gauge",
                             meta={"pagerduty_dedup_key": "refused"})
        text = self.check_dead_letter(daemon, "billing", "refused",
                                      r"POST /incidents.*400")
        self.assertNotIn(self.sim.token, text)
        daemon.wait_for_log(r'notify "billing": .*moved to SpoolDir/failed/',
                            severity="error")
        self.problems(daemon, ["accepted"])
        self.wait_all(["accepted"])
        self.wait_counter(daemon, "billing", "NOTIFY_FAILED", lambda v: v == 1)
        self.assertEqual(self.incidents("refused"), [])
        self.assertEqual(len([e for e in daemon.errors()
                              if 'notify "billing"' in e]), 1,
                         daemon.errors())
        self.assertSecretNowhere(daemon, self.sim.token,
                                 exclude=[self.token_path])

    # -- 401 and token rotation -----------------------------------------------
    def test_revoked_token_keeps_events_until_the_token_file_is_fixed(self):
        # SlowInterval long: only the rotation can let the events out.
        daemon = self.start_notify(self.account(SlowInterval=600),
                                   self.rest_notify())
        self.problems(daemon, ["before"])
        self.wait_all(["before"])
        info = self.sim.token_info()
        self.sim.revoke()
        keys = ["during-%d" % i for i in range(3)]
        self.problems(daemon, keys)
        self.resolve(daemon, ["before"])
        self.sim.wait_for_requests(
            lambda r: is_post_incident(r) and r["auth"] == "revoked")
        pending = self.notify_id(daemon, "rest", "NOTIFY_PENDING")
        daemon.wait_for_value(pending, lambda v: v == 4)
        daemon.wait_for_log(r'authentication failed; check the User API '
                            r'token', severity="error")
        self.assertEqual(self.incidents(service=self.service,
                                        key="during-0"), [])

        new_token = "u+" + secrets.token_urlsafe(15)[:20]
        self.sim.add_token(new_token, user_id=info["user_id"])
        harness.write_secret_file(self.token_path + ".new", new_token)
        os.rename(self.token_path + ".new", self.token_path)
        self.wait_all(keys, "triggered", timeout=60)
        self.wait_all(["before"], "resolved", timeout=60)
        self.assertOneIncidentEach(keys + ["before"])
        daemon.wait_for_value(pending, lambda v: v == 0)
        refused = [r for r in self.notify_requests() if r["auth"] != "ok"]
        # Refused while the token was revoked: a handful, not one per
        # event per second.
        self.assertLessEqual(len(refused), 4, refused)
        auth_errors = [e for e in daemon.errors()
                       if "authentication failed" in e]
        self.assertEqual(len(auth_errors), 1, daemon.errors())
        self.assertEqual(self.wait_counter(daemon, "rest", "NOTIFY_FAILED",
                                           lambda v: v == 0), 0)
        for token in (self.sim.token, new_token):
            self.assertSecretNowhere(daemon, token,
                                     exclude=[self.token_path])

    # -- the callback never waits ---------------------------------------------
    def test_hanging_pagerduty_never_blocks_the_callback(self):
        self.sim.add_fault("hang", count=-1, path="/v2/enqueue")
        # A long Timeout: a callback that waited for the request would take
        # that long, far above any delay a busy machine adds.
        daemon = self.start_notify(self.events_notify(Timeout=60000))
        keys = ["hang-%02d" % i for i in range(20)]
        slowest = 0
        for key in keys:
            started = time.monotonic()
            self.problems(daemon, [key])
            slowest = max(slowest, time.monotonic() - started)
        # Each PUTNOTIF ran the callback in the unixsock thread and
        # returned while the sender's request hung.
        self.assertLess(slowest, harness.scaled(20.0))
        # The sender's first request hangs (it may not have been made yet
        # when the last PUTNOTIF returned).
        wait_until(lambda: self.sim.control("GET", "/faults")["faults"][0]
                   ["hits"] >= 1, 20, message="a request to the hang")
        pending = self.notify_id(daemon, "ev", "NOTIFY_PENDING")
        oldest = self.notify_id(daemon, "ev", "NOTIFY_OLDEST")
        daemon.wait_for_value(pending, lambda v: v == 20)
        daemon.wait_for_value(oldest, lambda v: v >= 1)
        self.sim.clear_faults()
        self.wait_all(keys, "triggered")
        self.assertOneIncidentEach(keys)
        daemon.wait_for_value(pending, lambda v: v == 0)
        daemon.wait_for_value(oldest, lambda v: v == 0)

    # -- the per-Notify metrics -----------------------------------------------
    def test_per_notify_metrics(self):
        daemon = self.start_notify(self.events_notify())
        idents = [self.notify_id(daemon, "ev", s.id)
                  for s in series.of("notify")]
        wait_until(lambda: set(idents) <= set(daemon.listval()), 20,
                   message="the per-Notify metrics")
        for ident in idents:
            self.assertIsNotNone(daemon.getval(ident), ident)
        # Two 503s (retried) and a 400 (dead letter) among the first
        # attempts of three events: 2 sent, 2 retried, 1 failed.
        for status in (503, 503, 400):
            self.sim.add_fault("status", status=status, path="/v2/enqueue")
        self.problems(daemon, ["m-1", "m-2", "m-3"])
        self.wait_counter(daemon, "ev", "NOTIFY_FAILED", lambda v: v == 1)
        self.wait_counter(daemon, "ev", "NOTIFY_SENT", lambda v: v == 2)
        self.assertEqual(daemon.csv_last(self.notify_id(
            daemon, "ev", "NOTIFY_RETRIED")), 2)
        # Now PagerDuty hangs: events wait, and the oldest ages.
        self.sim.add_fault("hang", count=-1, path="/v2/enqueue")
        self.problems(daemon, ["m-4", "m-5", "m-6"])
        pending = self.notify_id(daemon, "ev", "NOTIFY_PENDING")
        oldest = self.notify_id(daemon, "ev", "NOTIFY_OLDEST")
        self.assertEqual(daemon.wait_for_value(pending, lambda v: v == 3), 3)
        age = daemon.wait_for_value(oldest, lambda v: v >= 2)
        self.assertLess(age, 60)
        self.sim.clear_faults()
        daemon.wait_for_value(pending, lambda v: v == 0)
        self.assertEqual(daemon.wait_for_value(oldest, lambda v: v == 0), 0)
        self.wait_counter(daemon, "ev", "NOTIFY_SENT", lambda v: v == 5)
        self.assertEqual(daemon.csv_last(self.notify_id(
            daemon, "ev", "NOTIFY_FAILED")), 1)
        # GETVAL answers the rate of a derive: sent no longer moves.
        wait_until(lambda: daemon.value(self.notify_id(
            daemon, "ev", "NOTIFY_SENT")) == 0, 20,
            message="derive-sent rate back to 0")


if __name__ == "__main__":
    harness.main()
