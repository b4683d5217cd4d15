#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_valgrind.py - the plugin inside the real collectd, under valgrind.

collectd runs under memcheck (--leak-check=full --track-origins=yes
--errors-for-leak-kinds=definite --error-exitcode=99) with one Account
against the simulator, through injected faults (503, a non-JSON body, a
cut-off body, a dropped connection, an HTML 502, a 429, a plain-text 401),
good cycles, schedule details failing (503, non-JSON, cut off), a TokenFile rotation to a refused token (401) and on to a good
one, then SIGTERM. The daemon must exit 0:
valgrind turns any memory error or definite leak into status 99.
tests/integration/valgrind.supp hides only noise from collectd itself and
the libraries (each suppression says why); never our code.
"""

import secrets

import harness
from harness import DaemonTestCase, block, plugin_block


class ValgrindTest(DaemonTestCase):

    def setUp(self):
        super().setUp()
        if not harness.VALGRIND:
            self.fail("valgrind is not installed (apt-get install valgrind)")

    def run_cycles(self, sim, extra_options=()):
        # Every kind of failure, in this order, for the first requests
        # (the simulator applies queued faults in the order added).
        faults = [("status", {"status": 503}), ("garbage", {}),
                  ("truncate", {}), ("reset", {}), ("html", {"status": 502}),
                  ("ratelimit", {"headers": True, "reset": 1}),
                  ("notjson401", {})]
        for kind, extra in faults:
            sim.add_fault(kind, count=1, path="/users/me", **extra)
        token_path = self.token_file(sim.token)
        conf = plugin_block(block("Account", "vg", [
            ("TokenFile", token_path), ("URL", sim.url), ("Interval", 1),
            ("SlowInterval", 1)] + list(extra_options)))
        daemon = self.start_collectd(conf, valgrind=True)
        up = daemon.identifier("vg", "gauge", "api-up")

        # Through all the faults to a good cycle.
        daemon.wait_for_value(up, lambda v: v == 1, timeout=120)
        hit = [r.get("fault") for r in sim.requests()]
        self.assertGreaterEqual(len(hit), len(faults) + 1, hit)
        # Schedule details failing (503, garbage, cut off) at both detail
        # endpoints: the per-schedule error paths (unknown schedules).
        for kind, extra in faults[:3]:
            for path in ("/schedules/", "/v3/schedules/"):
                sim.add_fault(kind, count=1, path=path, **extra)
        harness.wait_until(lambda: not sim.control("GET", "/faults")[
            "faults"], 60, message="the schedule faults to be used")

        # A token that is refused (401), then a good one: rotation.
        info = sim.token_info()
        harness.write_secret_file(token_path, "vg-unknown-" +
                                  secrets.token_hex(12))
        daemon.wait_for_log(r"authentication failed", severity="error")
        daemon.wait_for_value(up, lambda v: v == 0, timeout=60)
        new_token = "vg-" + secrets.token_hex(16)
        sim.add_token(new_token, user_id=info["user_id"])
        harness.write_secret_file(token_path, new_token)
        daemon.wait_for_value(up, lambda v: v == 1, timeout=60)

        status = daemon.stop(timeout=120)
        errors, lost = daemon.valgrind_summary()
        self.assertIsNotNone(errors, "no valgrind summary; did it run?")
        self.assertEqual(errors, 0, "valgrind found errors (see the log)")
        self.assertEqual(lost, 0, "valgrind found definitely lost memory")
        self.assertEqual(status, 0, "collectd under valgrind exited %s "
                         "(99: valgrind errors)" % status)
        self.assertIn("Exiting normally.", daemon.log_text())
        for token in (sim.token, new_token):
            self.assertSecretNowhere(daemon, token)
        return daemon

    def test_http_cycles_faults_401_and_shutdown(self):
        sim = self.start_simulator(scenario="demo")
        self.run_cycles(sim)

    def test_https_cycles_faults_401_and_shutdown(self):
        ca = harness.make_test_ca(self.tempdir("pdca-").path)
        sim = self.start_simulator(scenario="demo", tls=ca)
        self.run_cycles(sim, extra_options=[("CACert", ca.ca_cert)])


if __name__ == "__main__":
    harness.main()
