#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_no_secrets.py - no secret in anything a session leaves behind.

One representative session of the real collectd with the plugin against
the simulator uses every kind of secret the plugin handles:
  - a TokenFile token, rotated during the session to a second one;
  - an inline Token (revoked during the session: the 401 is logged);
  - an Events API routing key (one 503 retried, one 400 dead-lettered);
  - proxy passwords in the Proxy URLs of an Account and of a Notify block
    (a TCP forwarder in front of the simulator is the proxy);
and reads (every collection), triggers, notes and resolves through both
the Events API and REST. Then every byte it left behind is collected:
  - every file collectd's directory holds (collectd.log, collectd's
    stdout+stderr, csv/, the spool with its state files and failed/ dead
    letters), except collectd.conf, which holds the secrets by design
    (token files live elsewhere);
  - the simulator's request log (GET /_sim/requests), where the routing key
    is allowed in one place only: the routing_key field of Events API
    bodies, which is where PagerDuty must get it;
  - the simulator's own stderr;
and none of the secrets (harness.registered_secrets(): every token,
routing key and password of the session), nor a proxy's user:password in
base64 (as in a Proxy-Authorization header), may be in any of it.

The scanner is shown to work first: the same collection with a secret
planted in a file and in the request log must be reported.

Cost: about 15 s.
"""

import base64
import json
import os
import re
import secrets

import harness
from harness import NotifyTestCase, TcpProxy

FIELDS = dict(host="web01", plugin="app", type="gauge",
              type_instance="leakcheck")
KEY = "web01/app/gauge-leakcheck"
ROUTING_KEY_PLACE = "<routing key, where PagerDuty must get it>"


def collect_leftovers(daemon, sim, routing_key):
    """{name: bytes} of everything the session left behind (see above)."""
    blobs = {}
    conf = os.path.realpath(daemon.conf_path)
    for dirpath, _dirs, files in os.walk(daemon.dir):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.path.realpath(path) == conf or os.path.islink(path):
                continue
            with open(path, "rb") as f:
                blobs[os.path.relpath(path, daemon.dir)] = f.read()
    requests = sim.requests()
    for r in requests:
        body = r.get("body")
        if (r["path"] == "/v2/enqueue" and isinstance(body, dict)
                and body.get("routing_key") == routing_key):
            body["routing_key"] = ROUTING_KEY_PLACE
    blobs["pdsim GET /_sim/requests"] = json.dumps(requests).encode()
    blobs["pdsim stderr"] = sim.stderr_unredacted().encode()
    return blobs


def needles(secret_list, proxy_credentials):
    """{label: bytes}: each secret, and base64 of each user:password. The
    labels name the kind and position, never the secret itself."""
    out = {}
    for i, s in enumerate(secret_list):
        out["secret #%d (%d bytes)" % (i, len(s))] = s.encode()
    for user, password in proxy_credentials:
        b64 = base64.b64encode(("%s:%s" % (user, password)).encode())
        out["base64 %s:<password>" % user] = b64
    return out


def find_leaks(blobs, needle_map):
    """Sorted [(blob name, needle label)] of every secret found."""
    return sorted((name, label) for name, data in blobs.items()
                  for label, needle in needle_map.items() if needle in data)


class NoSecretsTest(NotifyTestCase):

    def test_a_whole_session_leaves_no_secret_behind(self):
        sim = self.sim
        manager = sim.token_info()
        inline_token = "inline-" + secrets.token_hex(16)
        sim.add_token(inline_token, user_id=manager["user_id"])
        rotated_token = "rotated-" + secrets.token_hex(16)
        proxy_credentials = [
            ("readuser", harness.register_secret("pw-" + secrets.token_hex(12))),
            ("eventsuser", harness.register_secret("pw-" + secrets.token_hex(12))),
        ]
        proxy = TcpProxy(sim.port)
        self.addCleanup(proxy.close)

        def proxy_url(user, password):
            return "http://%s:%s@127.0.0.1:%d" % (user, password, proxy.port)

        daemon = self.start_notify(
            self.account(Interval=1, Collect=None,
                         Proxy=proxy_url(*proxy_credentials[0])),
            harness.block("Account", "inline", [
                ("Token", inline_token), ("URL", sim.url), ("Interval", 1),
                ("Collect", "services")]),
            self.events_notify(Host="web01",
                               Proxy=proxy_url(*proxy_credentials[1])),
            self.rest_notify(Host="web01"))
        sock = daemon.sock

        # Reading works, through the proxy.
        up = daemon.identifier("acme", "gauge", "api-up")
        daemon.wait_for_value(up, lambda v: v == 1)
        self.assertGreater(proxy.connections, 0, "the proxy was not used")

        # A trigger through both APIs; the Events API answers 503 once.
        sim.add_fault("status", status=503, path="/v2/enqueue", count=1)
        sock.putnotif("Leak check problem", **FIELDS)
        self.wait_incidents(KEY, 1)
        sim.wait_for_requests(
            lambda r: r["path"] == "/v2/enqueue"
            and r.get("event_result") in ("created", "merged"))
        sock.putnotif("note", severity="warning", meta={
            "pagerduty_action": "note",
            "pagerduty_note": "looking into it"}, **FIELDS)
        self.wait_incidents(KEY, 1, check=lambda i: i["notes"])

        # The TokenFile is rotated; the inline token is revoked.
        sim.add_token(rotated_token, user_id=manager["user_id"])
        sim.revoke(sim.token)
        harness.write_secret_file(self.token_path + ".new", rotated_token)
        os.rename(self.token_path + ".new", self.token_path)
        daemon.wait_for_log(r'account "acme": TokenFile ".*" changed; '
                            r'using the new token', severity="info")
        sim.revoke(inline_token)
        daemon.wait_for_log(r'account "inline": ', severity="error")

        # OKAY resolves: by REST with the new token; the Events API refuses
        # it (400), so it is dead-lettered to failed/ with its reason.
        sim.add_fault("status", status=400, path="/v2/enqueue", count=1)
        sock.putnotif("All good", severity="okay", **FIELDS)
        self.wait_incidents(
            KEY, 1, check=lambda i: i["status"] == "resolved"
            and i.get("service_id") == self.service)
        self.wait_counter(daemon, "ev", "NOTIFY_FAILED", lambda v: v >= 1)
        rest_writes = [r for r in self.notify_requests()
                       if r["method"] in ("POST", "PUT")
                       and r["path"].startswith("/incidents")]
        self.assertEqual({r["auth"] for r in rest_writes}, {"ok"})

        self.assertEqual(daemon.stop(), 0, "collectd did not exit 0")
        blobs = collect_leftovers(daemon, sim, self.routing_key)
        secret_list = harness.registered_secrets()
        for s in (sim.token, rotated_token, inline_token, self.routing_key):
            self.assertIn(s, secret_list)
        needle_map = needles(secret_list, proxy_credentials)
        # What the scan covers is really there.
        for name in ("collectd.log", "collectd.stderr"):
            self.assertIn(name, blobs)
        self.assertTrue(any(n.startswith("csv" + os.sep) for n in blobs))
        self.assertTrue(any(re.search(r"\.json\.reason$", n) for n in blobs),
                        sorted(blobs))
        self.assertTrue(any(n.endswith(".state.json") for n in blobs),
                        sorted(blobs))

        # The scanner finds a planted secret, in a file and in the log.
        planted = dict(blobs)
        planted["csv/planted"] = b"1,2," + self.routing_key.encode() + b"\n"
        planted["pdsim GET /_sim/requests"] += rotated_token.encode()
        planted["pdsim stderr"] += base64.b64encode(
            ("%s:%s" % proxy_credentials[1]).encode())
        found = set(find_leaks(planted, needle_map)) - set(
            find_leaks(blobs, needle_map))
        self.assertEqual({name for name, _label in found},
                         {"csv/planted", "pdsim GET /_sim/requests",
                          "pdsim stderr"})

        # And the session itself left none.
        self.assertEqual(find_leaks(blobs, needle_map), [],
                         "secrets found in what the session left behind")


if __name__ == "__main__":
    harness.main()
