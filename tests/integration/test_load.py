#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_load.py - the real collectd loads the built plugin and talks to pdsim.

One or two Accounts against the simulator's demo scenario, over HTTP and
HTTPS: the api-* self-metrics of doc/contract.md §4 arrive under
<Host>/pagerduty-<Account>/..., the simulator sees GET /users/me sent the
way PagerDuty wants it, TLS, authentication and server failures are
reported the way doc/contract.md §7 says (once per change of state), TokenFile rotation
works without a restart, the token appears in no output, and collectd exits
0 on SIGTERM.

Values are read through unixsock (GETVAL) for gauges and from the csv files
for derive counters (unixsock answers rates for those).
"""

import os
import re
import secrets
import time

import harness
import series
from harness import (DaemonTestCase, block, plugin_block, PAGERDUTY_ACCEPT,
                     wait_until)

# The api-* series of doc/contract.md §4, (type, type instance), from the
# table of series.
API_METRICS = [(s.type, s.name()) for s in series.TABLE if s.group == "API"]

AUTH_FAILED = ("authentication failed; check the User API token is correct "
               "and not revoked, and that it is a User Token, not a REST API "
               "key")


def is_users_me(request):
    return request["method"] == "GET" and request["path"] == "/users/me"


class LoadTest(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.sim = self.start_simulator(scenario="demo")
        self.token_path = self.token_file(self.sim.token)

    # -- helpers ------------------------------------------------------------------
    def start(self, *accounts, **collectd_kwargs):
        """collectd with the given Account blocks (default: "demo" over the
        simulator with the token file, Interval 1)."""
        if not accounts:
            accounts = (self.account(),)
        return self.start_collectd(plugin_block(*accounts), **collectd_kwargs)

    def account(self, name="demo", **options):
        opts = {"TokenFile": self.token_path, "URL": self.sim.url,
                "Interval": 1}
        opts.update(options)
        return block("Account", name, [(k, v) for k, v in opts.items()
                                       if v is not None])

    @staticmethod
    def api(daemon, type_instance, account="demo", host=None):
        type_ = dict((ti, t) for t, ti in API_METRICS)[type_instance]
        return daemon.identifier(account, type_, type_instance, host=host)

    def wait_up(self, daemon, up=1, account="demo", host=None, timeout=20):
        return daemon.wait_for_value(self.api(daemon, "api-up", account, host),
                                     lambda v: v == up, timeout=timeout)

    def assertCleanShutdown(self, daemon):
        status = daemon.stop()
        self.assertEqual(status, 0, "collectd did not exit 0 on SIGTERM")
        self.assertIn("Exiting normally.", daemon.log_text())

    # -- tests ----------------------------------------------------------------------
    def test_http_account_dispatches_api_metrics(self):
        daemon = self.start()
        self.wait_up(daemon)
        requests_id = self.api(daemon, "api-requests")
        daemon.wait_for_csv(requests_id, lambda v: v > 0)

        # Every api-* series of doc/contract.md §4 exists, under <Host>/pagerduty-demo.
        listed = daemon.listval("pagerduty-demo")
        for type_, ti in API_METRICS:
            self.assertIn(daemon.identifier("demo", type_, ti), listed)
        self.assertEqual(daemon.csv_last(self.api(daemon, "api-errors")), 0)
        self.assertEqual(daemon.csv_last(self.api(daemon, "api-throttled")), 0)
        latency = daemon.value(self.api(daemon, "api-latency"))
        self.assertGreaterEqual(latency, 0)
        self.assertLess(latency, 10)
        cycle = daemon.value(self.api(daemon, "api-cycle"))
        self.assertGreaterEqual(cycle, 0)
        self.assertLess(cycle, 10)
        remaining = daemon.value(self.api(daemon, "api-ratelimit_remaining"))
        self.assertGreaterEqual(remaining, 0)
        self.assertLessEqual(remaining, 960)

        # The simulator saw GET /users/me, authenticated, as PagerDuty wants.
        me = self.sim.wait_for_requests(is_users_me)
        self.assertEqual(me[0]["auth"], "ok")
        self.assertEqual(me[0]["token_kind"], "user")
        self.assertEqual(me[0]["status"], 200)
        self.assertEqual(me[0].get("accept"), PAGERDUTY_ACCEPT,
                         "Accept header as PagerDuty asks for")

        # Values keep coming every cycle.
        up_id = self.api(daemon, "api-up")
        seen = len(daemon.csv_rows(up_id))
        wait_until(lambda: len(daemon.csv_rows(up_id)) >= seen + 2,
                   timeout=10, message="two more cycles")

        self.assertEqual(daemon.errors(), [])
        self.assertCleanShutdown(daemon)
        self.assertSecretNowhere(daemon, self.sim.token)

    def test_https_with_test_ca(self):
        ca = harness.make_test_ca(self.tempdir("pdca-").path)
        self.sim.stop()
        self.sim = self.start_simulator(scenario="demo", tls=ca)
        self.assertTrue(self.sim.url.startswith("https://"), self.sim.url)
        self.token_path = self.token_file(self.sim.token)
        daemon = self.start(self.account(CACert=ca.ca_cert))
        self.wait_up(daemon)
        me = self.sim.wait_for_requests(is_users_me)
        self.assertEqual(me[0]["auth"], "ok")
        self.assertEqual(daemon.errors(), [])
        self.assertEqual(daemon.warnings(), [])
        self.assertCleanShutdown(daemon)
        self.assertSecretNowhere(daemon, self.sim.token)

    def test_https_with_wrong_ca_fails_and_says_tls_once(self):
        server_ca = harness.make_test_ca(self.tempdir("pdca-").path)
        other_ca = harness.make_test_ca(self.tempdir("pdca-").path,
                                        name="some other CA")
        self.sim.stop()
        self.sim = self.start_simulator(scenario="demo", tls=server_ca)
        self.token_path = self.token_file(self.sim.token)
        daemon = self.start(self.account(CACert=other_ca.ca_cert))
        self.wait_up(daemon, up=0)
        daemon.wait_for_log(r'^pagerduty plugin: account "demo": .*'
                            r'(TLS|SSL|[Cc]ertificate)', severity="error")
        # Several failed cycles later it is still one ERROR line.
        daemon.wait_for_csv(self.api(daemon, "api-errors"), lambda v: v >= 3)
        self.assertEqual(len(daemon.errors()), 1, daemon.errors())
        # The handshake failed: no HTTP request ever reached the simulator.
        self.assertEqual([r for r in self.sim.requests() if is_users_me(r)],
                         [])
        self.assertCleanShutdown(daemon)
        self.assertSecretNowhere(daemon, self.sim.token)

    def test_revoked_token_is_reported_once_and_rotation_recovers(self):
        info = self.sim.token_info()
        self.sim.revoke()
        daemon = self.start(self.account(SlowInterval=2))
        daemon.wait_for_log(r'^pagerduty plugin: account "demo": .*'
                            + re.escape(AUTH_FAILED), severity="error")
        self.wait_up(daemon, up=0)
        # The plugin keeps trying (every SlowInterval) but says it once.
        self.sim.wait_for_requests(lambda r: r["auth"] == "revoked", count=3,
                                   timeout=30)
        auth_lines = [m for m in daemon.errors() if AUTH_FAILED in m]
        self.assertEqual(len(auth_lines), 1, daemon.errors())
        self.assertEqual(len(daemon.errors()), 1, daemon.errors())

        # The operator rotates the token file (write + rename, as one
        # should): picked up without a restart.
        new_token = "rotated-" + secrets.token_hex(16)
        self.sim.add_token(new_token, user_id=info["user_id"])
        harness.write_secret_file(self.token_path + ".new", new_token)
        os.rename(self.token_path + ".new", self.token_path)
        self.wait_up(daemon, timeout=30)
        daemon.wait_for_log(r'account "demo": TokenFile ".*" changed; using the new token',
                            severity="info")
        self.assertCleanShutdown(daemon)
        for token in (self.sim.token, new_token):
            self.assertSecretNowhere(daemon, token,
                                     exclude=[self.token_path])

    def test_token_file_rotation_uses_the_new_token(self):
        daemon = self.start()
        self.wait_up(daemon)
        info = self.sim.token_info()
        # From now on only the new token works: whatever the plugin sends
        # after the rotation must carry it.
        self.sim.revoke(self.sim.token)
        last_seq = max(r["seq"] for r in self.sim.requests())
        new_token = "rotated-" + secrets.token_hex(16)
        self.sim.add_token(new_token, user_id=info["user_id"])
        harness.write_secret_file(self.token_path, new_token)
        daemon.wait_for_log(r'account "demo": TokenFile ".*" changed; using the new token',
                            severity="info")
        after = self.sim.wait_for_requests(lambda r: r["seq"] > last_seq)
        self.assertEqual({r["auth"] for r in after}, {"ok"}, after)
        time.sleep(2)    # a few more cycles
        self.assertEqual(daemon.value(self.api(daemon, "api-up")), 1)
        self.assertEqual(daemon.errors(), [])
        self.assertCleanShutdown(daemon)

    def test_server_errors_are_reported_once_and_recover(self):
        self.sim.add_fault("status", status=503, path="/users/me", count=-1)
        daemon = self.start()
        self.wait_up(daemon, up=0)
        daemon.wait_for_log(r'^pagerduty plugin: account "demo": .*503',
                            severity="error")
        errors_id = self.api(daemon, "api-errors")
        daemon.wait_for_csv(errors_id, lambda v: v >= 3)
        self.assertEqual(len(daemon.errors()), 1, daemon.errors())
        self.sim.clear_faults()
        self.wait_up(daemon, timeout=60)
        daemon.wait_for_log(r'^pagerduty plugin: account "demo": .*'
                            r'succeeds? again', severity="info")
        self.assertEqual(len(daemon.errors()), 1, daemon.errors())
        self.assertCleanShutdown(daemon)

    def test_rate_limited_request_is_counted_and_retried(self):
        self.sim.add_fault("ratelimit", count=1, path="/users/me",
                           headers=True, reset=1)
        daemon = self.start()
        throttled = daemon.wait_for_csv(self.api(daemon, "api-throttled"),
                                        lambda v: v >= 1)
        self.assertEqual(throttled, 1)
        self.wait_up(daemon, timeout=30)
        statuses = [r["status"] for r in self.sim.requests()
                    if is_users_me(r)]
        self.assertEqual(statuses[0], 429)
        self.assertEqual(statuses[-1], 200)
        self.assertCleanShutdown(daemon)

    def test_two_accounts_and_host_option(self):
        daemon = self.start(self.account("demo"),
                            self.account("second", Host="pagerduty"))
        self.wait_up(daemon, account="demo")
        self.wait_up(daemon, account="second", host="pagerduty")
        self.assertIn("pagerduty/pagerduty-second/gauge-api-up",
                      daemon.listval("pagerduty-second"))
        self.assertNotIn("pd-test/pagerduty-second/gauge-api-up",
                         daemon.listval())
        self.assertCleanShutdown(daemon)

    def test_inline_token(self):
        daemon = self.start(self.account(TokenFile=None, Token=self.sim.token))
        self.wait_up(daemon)
        self.assertEqual(daemon.errors(), [])
        self.assertCleanShutdown(daemon)
        # collectd.conf holds it by design; nothing else may.
        self.assertSecretNowhere(daemon, self.sim.token)

    def test_account_interval_is_honoured(self):
        daemon = self.start(self.account(Interval=3))
        up_id = self.api(daemon, "api-up")

        def three_rows():
            rows = daemon.csv_rows(up_id)
            return rows if len(rows) >= 3 else None
        rows = wait_until(three_rows, timeout=20, message="3 api-up values")
        gaps = [b["epoch"] - a["epoch"] for a, b in zip(rows, rows[1:])]
        # Not collectd's Interval 1: about 3 s apart on average. Not each
        # gap: collectd runs a late read at once and the next one on time,
        # so on a busy machine one gap can be short and the one before long.
        # A late first read can shorten the average, a slow machine stretch
        # it; neither brings it near 1 s.
        self.assertGreater(sum(gaps) / len(gaps), 2, gaps)
        self.assertLess(sum(gaps) / len(gaps), 10, gaps)
        self.assertCleanShutdown(daemon)

    def test_load_plugin_without_config_is_idle(self):
        daemon = self.start_collectd("")
        time.sleep(2)
        self.assertEqual(daemon.listval("pagerduty"), [])
        self.assertEqual(daemon.errors(), [])
        self.assertEqual(self.sim.requests(), [])
        self.assertCleanShutdown(daemon)


if __name__ == "__main__":
    harness.main()
