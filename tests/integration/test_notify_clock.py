#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_notify_clock.py - the wall clock steps by hours while events wait
(README "Clocks"), in the real collectd against the simulator. collectd
runs under libfaketime (Debian package libfaketime), whose offset file the
test rewrites to step CLOCK_REALTIME; the monotonic clock is left alone
(FAKETIME_DONT_FAKE_MONOTONIC) - as when an administrator or NTP steps the
clock. A time namespace (unshare --time) cannot do this: it offsets only
the monotonic and boot-time clocks.

  - a retry waiting out a 429 goes out after its wait although the wall
    clock went back two hours meanwhile (durations are monotonic);
  - MaxEventAge counts the time an event waited: a step back does not
    keep an event past it, a step forward does not expire a fresh one;
  - duration-oldest does not jump with the wall clock.

About 15 s. Skipped, saying why, where libfaketime is not installed.
"""

import os
import time

import harness
from harness import NotifyTestCase, wait_until

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
HOUR = 3600


def body(r):
    return r.get("body") or {}


class ClockStepTest(NotifyTestCase):

    def setUp(self):
        super().setUp()
        if not os.path.exists(LIBFAKETIME):
            self.skipTest("libfaketime not installed (%s)" % LIBFAKETIME)
        self.offset_file = self.tempdir("pdclock-").join("offset")
        self.step(0)

    def step(self, seconds):
        """Sets collectd's wall clock to the real one + seconds (read again
        by libfaketime at every call: FAKETIME_NO_CACHE)."""
        tmp = self.offset_file + ".new"
        with open(tmp, "w") as f:
            f.write("%+d\n" % seconds)
        os.rename(tmp, self.offset_file)

    def start(self, *blocks, **options):
        env = {"LD_PRELOAD": LIBFAKETIME,
               "FAKETIME_TIMESTAMP_FILE": self.offset_file,
               "FAKETIME_NO_CACHE": "1",
               "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        self.spool = self.tempdir("pdspool-").join("spool")
        options["SpoolDir"] = self.spool
        return self.start_notify(*blocks, options=options, env=env)

    def problem(self, daemon, key):
        daemon.sock.putnotif("problem %s" % key, host="web01", plugin="app",
                             type="gauge", type_instance=key,
                             meta={"pagerduty_dedup_key": key})

    def delivered(self, key):
        return [r for r in self.sim.requests()
                if r["path"] == "/v2/enqueue" and r["status"] == 202
                and body(r).get("dedup_key") == key]

    def expired_reasons(self):
        failed = os.path.join(self.spool, "failed")
        reasons = []
        for name in sorted(os.listdir(failed)) if os.path.isdir(failed) \
                else []:
            if name.endswith(".reason"):
                with open(os.path.join(failed, name)) as f:
                    reasons.append(f.read())
        return [r for r in reasons if "expired" in r]

    def wait_daemon_sees(self, daemon, after):
        """Waits until collectd wrote a value stamped after `after` (epoch
        seconds): its wall clock has stepped there."""
        pending = self.notify_id(daemon, "ev", "NOTIFY_PENDING")
        wait_until(lambda: any(r["epoch"] > after
                               for r in daemon.csv_rows(pending)), 20,
                   message="a value stamped after %d" % after)

    # -- retries -----------------------------------------------------------------
    def test_retry_after_429_survives_a_step_back(self):
        self.sim.add_fault("ratelimit", path="/v2/enqueue", reset=3)
        daemon = self.start(self.events_notify())
        self.problem(daemon, "held")
        self.sim.wait_for_requests(lambda r: r["status"] == 429)
        # The event now waits ~3 s. Two hours back: by the wall clock its
        # next attempt is two hours away; it must go out all the same.
        self.step(-2 * HOUR)
        wait_until(lambda: self.delivered("held"), 30,
                   message="the retry after the step back")
        self.assertEqual(self.expired_reasons(), [])

    # -- MaxEventAge ---------------------------------------------------------------
    def test_max_event_age_after_a_step_back(self):
        proxy = harness.TcpProxy(self.sim.port)
        self.addCleanup(proxy.close)
        daemon = self.start(self.events_notify(url=proxy.url),
                            MaxEventAge=2)
        proxy.down()
        self.problem(daemon, "stale")
        self.step(-2 * HOUR)
        # By the wall clock the event is from two hours in the future; it
        # has waited 2 s all the same, and leaves for failed/.
        reasons = wait_until(self.expired_reasons, 30,
                             message="the event expired")
        self.assertIn("trigger stale: expired", reasons[0])
        self.assertIn("MaxEventAge (2 s)", reasons[0])
        # (That delivery goes on after a step back is
        # test_retry_after_429_survives_a_step_back's; an event made here
        # would meet the block's backoff from the refused attempts, which
        # can outlast a 2 s MaxEventAge on a busy machine.)
        self.assertEqual(self.delivered("stale"), [])

    def test_step_forward_expires_nothing(self):
        proxy = harness.TcpProxy(self.sim.port)
        self.addCleanup(proxy.close)
        daemon = self.start(self.events_notify(url=proxy.url),
                            MaxEventAge=HOUR)
        proxy.down()
        self.problem(daemon, "waiting")
        oldest = self.notify_id(daemon, "ev", "NOTIFY_OLDEST")
        daemon.wait_for_csv(oldest, lambda v: v is not None and v >= 1)
        stepped_at = time.time() + 2 * HOUR
        self.step(2 * HOUR)
        self.wait_daemon_sees(daemon, stepped_at - 60)
        # Two hours later by the wall clock, seconds by the event's: it is
        # neither expired nor reported two hours old.
        rows = wait_until(lambda: [r for r in daemon.csv_rows(oldest)
                                   if r["epoch"] > stepped_at - 60], 20,
                          message="duration-oldest after the step")
        age = [v for k, v in rows[-1].items() if k != "epoch"][0]
        self.assertLess(age, HOUR, rows)
        proxy.up()
        wait_until(lambda: self.delivered("waiting"), 60,
                   message="the waiting event delivered")
        self.assertEqual(self.expired_reasons(), [])


if __name__ == "__main__":
    harness.main()
