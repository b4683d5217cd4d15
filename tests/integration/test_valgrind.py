#!/usr/bin/python3
"""
test_valgrind.py - the plugin inside the real collectd, under valgrind.

collectd runs under memcheck (--leak-check=full --track-origins=yes
--errors-for-leak-kinds=definite --error-exitcode=99) with one Account
against the simulator, through good cycles, injected faults (503, a
non-JSON body, a cut-off body, a dropped connection), a revoked token
(401) and a TokenFile rotation, then SIGTERM. The daemon must exit 0:
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
        token_path = self.token_file(sim.token)
        conf = plugin_block(block("Account", "vg", [
            ("TokenFile", token_path), ("URL", sim.url), ("Interval", 1),
            ("SlowInterval", 1)] + list(extra_options)))
        daemon = self.start_collectd(conf, valgrind=True)
        up = daemon.identifier("vg", "gauge", "api-up")
        requests = daemon.identifier("vg", "derive", "api-requests")

        def cycles(n):
            """Waits until n more requests were made."""
            start = daemon.csv_last(requests) or 0
            daemon.wait_for_csv(requests, lambda v: v >= start + n)

        daemon.wait_for_value(up, lambda v: v == 1)
        cycles(2)
        for kind, extra in (("status", {"status": 503}), ("garbage", {}),
                            ("truncate", {}), ("reset", {})):
            sim.add_fault(kind, count=1, path="/users/me", **extra)
            cycles(2)
        daemon.wait_for_value(up, lambda v: v == 1)

        # 401, then recovery by rotating the token file.
        info = sim.token_info()
        sim.revoke()
        daemon.wait_for_log(r"authentication failed", severity="error")
        new_token = "vg-" + secrets.token_hex(16)
        sim.add_token(new_token, user_id=info["user_id"])
        harness.write_secret_file(token_path, new_token)
        daemon.wait_for_value(up, lambda v: v == 1)
        cycles(2)

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
