#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_read_messages.py - the read side's doc/contract.md §7 messages, and what the
metrics do meanwhile.

  401 (revoked token)      ERROR with doc/contract.md §7's advice, once; asked again
                           only every SlowInterval; no entity series while
                           it lasts; a rotated TokenFile ends it without a
                           restart, and the values are right again.
  account-level key        GET /users/me answers 400: one WARNING to use a
                           User API token; the key still reads, and every
                           value is right.
  401 without JSON         the same ERROR (the status decides, not the body).
  403 on a read            ERROR naming the request and that the user's
                           role or team access does not allow it, once; the
                           other series carry on, right; recovery is logged.
  token rotation           a TokenFile replaced while running: not one
                           failed cycle, not one missing series.
(The empty-scope WARNING and the unknown-Team ERROR are in
test_read_scoping.py.)
"""

import os
import re
import secrets

import harness
from truth import ReadTestCase, api_id, compare_rows

AUTH_FAILED = ("authentication failed; check the User API token is correct "
               "and not revoked, and that it is a User Token, not a REST API "
               "key")


class MessagesReadTest(ReadTestCase):

    def entity_series(self, daemon):
        return [i for i in daemon.listval("pagerduty-" + self.ACCOUNT)
                if "/" in i and not i.rsplit("/", 1)[1].split(
                    "-", 1)[1].startswith("api-")]

    def rotate(self, sim, path, user_id):
        """Writes a new valid token of user_id into the token file the way
        an operator should (write a new file, rename it over the old)."""
        new = "rotated-" + secrets.token_hex(16)
        sim.add_token(new, user_id=user_id)
        harness.write_secret_file(path + ".new", new)
        os.rename(path + ".new", path)
        return new

    def test_revoked_token_401(self):
        sim = self.start_simulator(scenario="demo")
        info = sim.token_info()
        sim.revoke()
        path = self.token_file(sim.token)
        slow = 4
        _, daemon = self.start_read(sim=sim, token_file=path, Interval=1,
                                    SlowInterval=slow)
        truth = self.truth(sim)
        daemon.wait_for_log(r'^pagerduty plugin: account "acme": .*'
                            + re.escape(AUTH_FAILED), severity="error")
        refused = sim.wait_for_requests(lambda r: r["auth"] == "revoked",
                                        count=3, timeout=40)
        # Once per change of state, asked again every SlowInterval, not
        # every Interval.
        self.assertEqual(len(daemon.errors()), 1, daemon.errors())
        times = [r["time"] for r in refused]
        gaps = [b - a for a, b in zip(times, times[1:])]
        self.assertGreater(min(gaps), slow - 1.5, gaps)
        self.assertEqual(daemon.value(api_id(truth, "api-up")), 0)
        self.assertEqual(self.entity_series(daemon), [])

        self.rotate(sim, path, info["user_id"])
        daemon.wait_for_log(r'account "acme": TokenFile ".*" changed; using the new token',
                            severity="info")
        self.wait_up(daemon, truth, timeout=30)
        daemon.wait_for_log(r'account "acme": .*succeed', severity="info")
        seen = self.wait_truth(daemon, truth, timeout=30)
        self.wait_cycles(daemon, truth, 2)
        self.assertMatchesTruth(daemon, truth, since=seen)
        self.assertEqual(len(daemon.errors()), 1, daemon.errors())
        self.assertEqual(daemon.stop(), 0)
        self.assertSecretNowhere(daemon, sim.token, exclude=[path])

    def test_401_without_a_json_body(self):
        # Real 401s are not always JSON: the status decides, the advice
        # is the same, and the account recovers when the token works again.
        sim, daemon = self.start_read("demo")
        truth = self.truth(sim)
        self.wait_cycles(daemon, truth, 1, timeout=60)
        sim.add_fault("notjson401", count=-1, path="/")
        daemon.wait_for_log(r'^pagerduty plugin: account "acme": .*'
                            + re.escape(AUTH_FAILED), severity="error")
        self.wait_cycles(daemon, truth, 3, up=0, timeout=30)
        self.assertEqual(len(daemon.errors()), 1, daemon.errors())
        sim.clear_faults()
        self.wait_up(daemon, truth, timeout=30)
        self.wait_cycles(daemon, truth, 2)
        self.assertMatchesTruth(daemon, truth)
        self.assertEqual(len(daemon.errors()), 1, daemon.errors())

    def test_account_level_key_warns_and_reads(self):
        sim = self.start_simulator(scenario="demo")
        key = [t["token"] for t in sim.tokens() if t["label"] == "account"][0]
        harness.register_secret(key)
        path = self.token_file(key)
        _, daemon = self.start_read(sim=sim, token_file=path)
        truth = self.truth(sim)
        warning = daemon.wait_for_log(
            r'^pagerduty plugin: account "acme": .*account-level.*'
            r'User API token', severity="warning")
        self.assertNotIn(key, warning.string)
        self.wait_cycles(daemon, truth, 3, timeout=60)
        # Once, not once per cycle.
        self.assertEqual(len(daemon.warnings()), 1, daemon.warnings())
        self.assertEqual(daemon.errors(), [])
        me = [r for r in sim.requests() if r["path"] == "/users/me"]
        self.assertEqual([r["status"] for r in me], [400])
        self.assertMatchesTruth(daemon, truth)
        self.assertListvalIsTruth(daemon, truth)
        self.assertEqual(daemon.stop(), 0)
        self.assertSecretNowhere(daemon, key, exclude=[path])

    def test_forbidden_read_403(self):
        sim, daemon = self.start_read("demo")
        truth = self.truth(sim)
        self.wait_cycles(daemon, truth, 1, timeout=60)
        policy_ids = {i for i in truth.identifiers() if "/count-policy-" in i}
        other_ids = truth.identifiers() - policy_ids

        sim.add_fault("status", status=403, path="/escalation_policies",
                      count=-1)
        error = daemon.wait_for_log(
            r'^pagerduty plugin: account "acme": GET /escalation_policies: '
            r'.*the user\'s role or team access does not allow it',
            severity="error")
        self.assertIsNotNone(error)
        during = self.wait_cycles(daemon, truth, 3, up=0, timeout=30)
        start = during[-3][0] - during[-3][1]
        self.assertEqual(len(daemon.errors()), 1, daemon.errors())
        csv = self.csv(daemon)
        # The policies' series stop; everything else carries on, right.
        late = [i for i in policy_ids
                if any(e > during[-2][0] for e, _ in csv.get(i, []))]
        self.assertEqual(late, [], "policy series without policies")
        res = compare_rows(truth, csv, since=start, idents=other_ids)
        self.assertTrue(res.ok, res.describe())

        sim.clear_faults()
        self.wait_up(daemon, truth, timeout=30)
        daemon.wait_for_log(r'account "acme": GET /escalation_policies '
                            r'succeeds again', severity="info")
        self.wait_cycles(daemon, truth, 2)
        self.assertMatchesTruth(daemon, truth)
        self.assertEqual(len(daemon.errors()), 1, daemon.errors())

    def test_token_rotation_keeps_metrics_flowing(self):
        sim = self.start_simulator(scenario="demo")
        info = sim.token_info()
        path = self.token_file(sim.token)
        _, daemon = self.start_read(sim=sim, token_file=path)
        truth = self.truth(sim)
        self.wait_cycles(daemon, truth, 2, timeout=60)
        new = self.rotate(sim, path, info["user_id"])
        daemon.wait_for_log(r'account "acme": TokenFile ".*" changed; using the new token',
                            severity="info")
        # Only now is the old token withdrawn.
        sim.revoke(sim.token)
        last = max(r["seq"] for r in sim.requests())
        self.wait_cycles(daemon, truth, 3)
        after = self.plugin_requests(sim, since=last)
        self.assertTrue(after)
        self.assertEqual({r["auth"] for r in after}, {"ok"})
        self.assertEqual({up for _, _, up in self.cycles(daemon, truth)},
                         {1.0}, "a cycle failed around the rotation")
        self.assertNoHoles(daemon, truth)
        self.assertMatchesTruth(daemon, truth)
        self.assertEqual(daemon.errors(), [])
        self.assertEqual(daemon.stop(), 0)
        for token in (sim.token, new):
            self.assertSecretNowhere(daemon, token, exclude=[path])


if __name__ == "__main__":
    harness.main()
