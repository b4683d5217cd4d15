#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Behaviour tests of the PagerDuty simulator (tests/pdsim/pdsim).

Each test class starts its own pdsim on port 0 and always stops it.
Exit status: 0 pass, 1 fail, 77 skip (automake).
"""

import datetime
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True     # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pdsim_client import SimProcess, skip_unless_runnable  # noqa: E402


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text):
    """An ISO 8601 time with 'Z' or an offset (incidents render in the
    account's time zone) -> epoch seconds."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class DemoCase(unittest.TestCase):
    """One demo simulator per class, reset before every test."""

    sim = None

    @classmethod
    def setUpClass(cls):
        cls.sim = SimProcess("demo").start()

    @classmethod
    def tearDownClass(cls):
        cls.sim.close()

    def setUp(self):
        self.sim.control("POST", "reset", {})
        self.tok = self.sim.tokens()
        self.state = self.sim.control("GET", "state")

    def tearDown(self):
        self.sim.control("DELETE", "faults")

    # helpers
    def req(self, method, path, label="manager", **kw):
        token = self.tok[label]["token"] if label else None
        return self.sim.request(method, path, token=token, **kw)

    def service(self, name):
        return next(s for s in self.state["services"] if s["name"] == name)

    def team(self, name):
        return next(t for t in self.state["teams"] if t["name"] == name)

    def routing_key(self, name):
        return self.service(name)["integrations"][0]["routing_key"]

    def now(self):
        return parse(self.sim.control("GET", "clock")["now"])

    def event(self, body, expect=202):
        status, _, out = self.sim.request("POST", "/v2/enqueue", body=body)
        self.assertEqual(status, expect, out)
        return out

    def trigger(self, service, key=None, severity="critical", summary="disk full"):
        ev = {"routing_key": self.routing_key(service), "event_action": "trigger",
              "payload": {"summary": summary, "source": "web-01", "severity": severity}}
        if key is not None:
            ev["dedup_key"] = key
        return self.event(ev)

    def incidents(self, **query):
        query.setdefault("date_range", "all")
        return self.sim.list_all("/incidents", "incidents", **query)


class TestStartup(unittest.TestCase):
    def test_ready_line_and_clean_stop(self):
        sim = SimProcess("demo")
        sim.start()
        try:
            self.assertRegex(sim.ready_line, r"^READY url=http://127\.0\.0\.1:\d+ token=u\+\S{18,}$")
            status, _, body = sim.get("/users/me", token=sim.token)
            self.assertEqual(status, 200)
            self.assertEqual(body["user"]["role"], "user")
            self.assertEqual(sim.control("GET", "health")["ok"], True)
            sim.proc.terminate()
            self.assertEqual(sim.proc.wait(5), 0)
        finally:
            sim.close()

    def test_same_seed_same_account(self):
        with SimProcess("random", seed=7) as a, SimProcess("random", seed=7) as b, \
                SimProcess("random", seed=8) as c:
            self.assertEqual(a.token, b.token)
            sa, sb, sc = (x.api("/services", limit=100) for x in (a, b, c))
            self.assertEqual([s["id"] for s in sa["services"]], [s["id"] for s in sb["services"]])
            self.assertNotEqual([s["id"] for s in sa["services"]], [s["id"] for s in sc["services"]])

    def test_bad_arguments(self):
        for bad in (["--scenario", "nope"], ["--latency", "-1"], ["--churn", "-5"], ["--log-delay", "3601"],
                    ["--log-time", "hour"]):
            out = subprocess.run([SimProcess().args[0], "--port", "0"] + bad, capture_output=True, timeout=120)  # a bound, not an estimate
            self.assertNotEqual(out.returncode, 0, bad)
            self.assertEqual(out.stdout, b"", bad)


class TestLauncher(unittest.TestCase):
    """pdsim_launch.py as a program, the way tests/unit/pdsim_fixture.c runs it:
    one READY line or an exit with the reason; the simulator goes with it."""

    LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pdsim_launch.py")
    BOUND = 120  # seconds: a bound for a broken launcher, not an estimate

    def launch(self, *args):
        proc = subprocess.Popen([sys.executable, self.LAUNCHER] + list(args), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def cleanup():
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=self.BOUND)
        self.addCleanup(cleanup)
        return proc

    def ready(self, proc):
        """(host, port) from the launcher's READY line, after checking that
        the simulator answers there."""
        line = proc.stdout.readline().decode()
        self.assertRegex(line, r"^READY url=http://127\.0\.0\.1:\d+ token=u\+\S{18,}\n$")
        host, port = line.split()[1][len("url=http://"):].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=self.BOUND)
        conn.request("GET", "/_sim/health")
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()
        return host, int(port)

    def refuses(self, address):
        """True when nothing listens at address any more. A reset is not
        that: the listening socket still took the connection into its
        backlog, and the process closed it while going away."""
        try:
            socket.create_connection(address, timeout=self.BOUND).close()
        except ConnectionRefusedError:
            return True
        except (ConnectionResetError, ConnectionAbortedError):
            return False
        return False

    def test_sigterm_stops_the_simulator_first(self):
        proc = self.launch("--scenario", "demo")
        address = self.ready(proc)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(self.BOUND), 0)
        self.assertTrue(self.refuses(address))

    def test_simulator_dies_with_a_killed_launcher(self):
        proc = self.launch("--scenario", "demo")
        address = self.ready(proc)
        proc.kill()
        proc.wait(self.BOUND)
        deadline = time.monotonic() + self.BOUND
        while not self.refuses(address):
            self.assertLess(time.monotonic(), deadline, "the simulator outlived its launcher")
            time.sleep(0.2)

    def test_failure_is_an_exit_with_the_reason(self):
        proc = self.launch("--scenario", "nope")
        out, err = proc.communicate(timeout=self.BOUND)
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(out, b"")
        self.assertIn(b"invalid choice: 'nope'", err)


class TestAuth(DemoCase):
    def test_header_must_be_exact(self):
        good = self.tok["manager"]["token"]
        for header in (None, "Bearer " + good, "Token " + good, "token token=" + good,
                       "Token token=" + good + "x", "Token token="):
            headers = {"Authorization": header} if header else {}
            status, h, body = self.sim.request("GET", "/users/me", headers=headers)
            self.assertEqual(status, 401, header)
            self.assertEqual(body, {"error": {"message": "Authentication failed", "code": 2006}})
        status, _, _ = self.sim.request("GET", "/users/me", headers={"Authorization": "Token token=" + good})
        self.assertEqual(status, 200)

    def test_revoked_and_runtime_revocation(self):
        status, _, _ = self.req("GET", "/services", "revoked")
        self.assertEqual(status, 401)
        self.assertEqual(self.req("GET", "/services", "observer")[0], 200)
        self.sim.control("POST", "tokens/revoke", {"token": self.tok["observer"]["token"]})
        self.assertEqual(self.req("GET", "/services", "observer")[0], 401)
        log = self.sim.control("GET", "requests")["requests"]
        self.assertEqual([r["auth"] for r in log[-2:]], ["ok", "revoked"])
        self.assertNotIn(self.tok["observer"]["token"], json.dumps(log))

    def test_users_me_with_account_key(self):
        status, _, body = self.req("GET", "/users/me", "account")
        self.assertEqual(status, 400)
        self.assertIsInstance(body["error"], str)
        self.assertIn("account-level access token", body["error"])
        status, _, body = self.req("GET", "/users/me", "observer")
        self.assertEqual((status, body["user"]["role"]), (200, "observer"))

    def test_read_only_roles_get_403_on_writes(self):
        inc = self.incidents(**{"statuses[]": ["triggered"]})[0]
        for label in ("observer", "stakeholder", "account_read_only"):
            headers = {"From": "morgan.lee@example.com"}
            status, _, body = self.req("PUT", "/incidents/" + inc["id"], label, headers=headers,
                                       body={"incident": {"type": "incident_reference", "status": "acknowledged"}})
            self.assertEqual(status, 403, label)
            self.assertEqual(body["error"]["code"], 2010)
            status, _, body = self.req("POST", "/incidents/%s/notes" % inc["id"], label, headers=headers,
                                       body={"note": {"content": "x"}})
            self.assertEqual(status, 403)
            self.assertEqual(self.req("GET", "/incidents/" + inc["id"], label)[0], 200)
        self.assertEqual(self.incidents(**{"statuses[]": ["triggered"]})[0]["status"], "triggered")

    def test_from_required_with_account_key(self):
        inc = self.incidents(**{"statuses[]": ["triggered"]})[0]
        body = {"note": {"content": "from the account key"}}
        status, _, out = self.req("POST", "/incidents/%s/notes" % inc["id"], "account", body=body)
        self.assertEqual(status, 400)
        self.assertEqual(out["error"]["code"], 2011)
        status, _, out = self.req("POST", "/incidents/%s/notes" % inc["id"], "account", body=body,
                                  headers={"From": "nobody@example.org"})
        self.assertEqual(status, 400)
        status, _, out = self.req("POST", "/incidents/%s/notes" % inc["id"], "account", body=body,
                                  headers={"From": "Ada.Admin@example.com"})
        self.assertEqual(status, 200, out)
        self.assertEqual(out["note"]["user"]["summary"], "Ada Admin")
        # A user token needs no From; it is recorded when sent.
        status, _, out = self.req("POST", "/incidents/%s/notes" % inc["id"], body=body,
                                  headers={"From": "morgan.lee@example.com"})
        self.assertEqual(status, 200)
        self.assertEqual(out["note"]["user"]["summary"], "Morgan Lee")
        log = self.sim.control("GET", "requests")["requests"]
        self.assertEqual(log[-1]["from"], "morgan.lee@example.com")
        self.assertEqual(log[-1]["accept"], "application/vnd.pagerduty+json;version=2")
        self.assertEqual(log[-1]["token_kind"], "user")
        self.assertEqual(log[-2]["token_kind"], "account")

    def test_restricted_user_sees_only_their_teams(self):
        web = self.team("Web")["id"]
        services = self.sim.list_all("/services", "services", token=self.tok["restricted"]["token"])
        names = {s["name"] for s in services}
        self.assertEqual(names, {"Web Frontend", "CDN Edge", "Auth Service"})
        for s in services:
            self.assertIn(web, [t["id"] for t in s["teams"]])
        incs = self.sim.list_all("/incidents", "incidents", token=self.tok["restricted"]["token"],
                                 date_range="all")
        self.assertTrue(incs)
        self.assertTrue(all(web in [t["id"] for t in i["teams"]] for i in incs))
        status, _, _ = self.req("GET", "/services/" + self.service("Checkout API")["id"], "restricted")
        self.assertEqual(status, 403)
        teams = self.sim.list_all("/teams", "teams", token=self.tok["restricted"]["token"])
        self.assertEqual([t["name"] for t in teams], ["Web"])

    def test_added_token(self):
        user = next(u for u in self.state["users"] if u["name"] == "Chen Wei")
        out = self.sim.control("POST", "tokens", {"kind": "user", "user_id": user["id"], "role": "observer"})
        token = out["token"]["token"]
        status, _, body = self.sim.get("/users/me", token=token)
        self.assertEqual((status, body["user"]["id"]), (200, user["id"]))
        inc = self.incidents(**{"statuses[]": ["triggered"]})[0]
        status, _, _ = self.sim.request("PUT", "/incidents/" + inc["id"], token=token,
                                        body={"incident": {"type": "incident_reference", "status": "resolved"}})
        self.assertEqual(status, 403)


class TestListsAndPagination(DemoCase):
    def test_pagination_fields_and_limits(self):
        body = self.sim.api("/services")
        self.assertEqual((body["limit"], body["offset"], body["more"], body["total"]), (25, 0, False, None))
        body = self.sim.api("/services", limit=3, offset=3, total="true")
        self.assertEqual((body["limit"], body["offset"], body["more"], body["total"]), (3, 3, True, 10))
        self.assertEqual(len(body["services"]), 3)
        body = self.sim.api("/services", limit=500)
        self.assertEqual(body["limit"], 100)
        body = self.sim.api("/services", limit=4, offset=8)
        self.assertEqual((len(body["services"]), body["more"]), (2, False))
        status, _, body = self.req("GET", "/services", query={"offset": 9901, "limit": 100})
        self.assertEqual(status, 400)
        # the real answer (doc/pagerduty-api.md: airbyte-connectors #991, cloudquery #12750)
        self.assertEqual(body, {"error": {"message": "Arguments Caused Error", "code": 2002,
                                          "errors": ["Offset+limit exceeds maximum allowed value of 10000."]}})
        self.assertEqual(self.req("GET", "/services", query={"offset": 9900, "limit": 100})[0], 200)
        self.assertEqual(self.req("GET", "/services", query={"offset": 9950, "limit": 500})[0], 400)
        self.assertEqual(self.req("GET", "/services", query={"limit": "x"})[0], 400)

    def test_services_sorted_by_name_and_pages_cover_all(self):
        pages = []
        for offset in range(0, 10, 3):
            pages += self.sim.api("/services", limit=3, offset=offset)["services"]
        names = [s["name"] for s in pages]
        self.assertEqual(names, sorted(names, key=str.lower))
        self.assertEqual(len(set(s["id"] for s in pages)), 10)

    def test_team_filters(self):
        web, platform = self.team("Web")["id"], self.team("Platform")["id"]
        checks = [("/services", "services"), ("/schedules", "schedules"),
                  ("/escalation_policies", "escalation_policies"), ("/users", "users")]
        for path, key in checks:
            everything = self.sim.list_all(path, key)
            only_web = self.sim.list_all(path, key, **{"team_ids[]": [web]})
            both = self.sim.list_all(path, key, **{"team_ids[]": [web, platform]})
            self.assertTrue(0 < len(only_web) < len(everything), path)
            self.assertLessEqual(len(only_web), len(both))
            for obj in only_web:
                self.assertIn(web, [t["id"] for t in obj["teams"]], path)
        svc = self.sim.list_all("/services", "services", **{"team_ids[]": [web]})
        self.assertEqual({s["name"] for s in svc}, {"Web Frontend", "CDN Edge", "Auth Service"})
        incs = self.incidents(**{"team_ids[]": [web]})
        self.assertTrue(incs)
        self.assertTrue(all(web in [t["id"] for t in i["teams"]] for i in incs))
        mws = self.sim.list_all("/maintenance_windows", "maintenance_windows", **{"team_ids[]": [web]})
        self.assertEqual([w["services"][0]["summary"] for w in mws], ["CDN Edge"])

    def test_queries(self):
        body = self.sim.api("/services", query="check")
        self.assertEqual([s["name"] for s in body["services"]], ["Checkout API"])
        body = self.sim.api("/schedules", query="web")
        self.assertEqual({s["name"] for s in body["schedules"]}, {"Web Primary", "Web Secondary"})

    def test_teams_abilities_users(self):
        self.assertEqual([t["name"] for t in self.sim.api("/teams")["teams"]], ["Payments", "Platform", "Web"])
        self.assertIn("teams", self.sim.api("/abilities")["abilities"])
        self.assertEqual(self.req("GET", "/abilities/teams")[0], 204)
        self.assertEqual(len(self.sim.list_all("/users", "users")), 12)
        self.sim.control("POST", "abilities", {"abilities": ["urgencies"]})
        status, _, body = self.req("GET", "/teams")
        self.assertEqual((status, body["error"]["code"]), (402, 2014))
        self.assertEqual(self.req("GET", "/abilities/teams")[0], 402)

    def test_not_found(self):
        status, _, body = self.req("GET", "/services/PNOPE00")
        self.assertEqual(status, 404)
        self.assertIn("code", body["error"])
        self.assertEqual(self.req("GET", "/no/such/path")[0], 404)


class TestIncidents(DemoCase):
    def test_default_window_is_last_month(self):
        # to the second and sorted by created_at (the window and order the
        # docs describe; test_incident_behaviour has the other switches)
        self.sim.control("POST", "behaviour", {"incident_time": "second", "incident_sort": "honoured"})
        now = self.now()
        default = self.sim.list_all("/incidents", "incidents")
        everything = self.incidents()
        self.assertEqual(len(everything), len(self.state["incidents"]))
        self.assertTrue(all(now - 30 * 86400 <= parse(i["created_at"]) <= now for i in default))
        old_open = [i for i in everything if i["status"] != "resolved" and parse(i["created_at"]) < now - 31 * 86400]
        self.assertEqual([i["title"] for i in old_open], ["Node pool autoscaler stuck"])
        self.assertNotIn(old_open[0]["id"], [i["id"] for i in default])
        window = self.sim.list_all("/incidents", "incidents", since=iso(now - 50 * 86400), until=iso(now - 35 * 86400))
        self.assertEqual({i["title"] for i in window}, {"Node pool autoscaler stuck", "Checkout outage"})
        created = [(i["created_at"], i["id"]) for i in everything]
        self.assertEqual(created, sorted(created))

    def test_incident_behaviour(self):
        """The switches for what PagerDuty leaves undocumented (README
        "Where the simulator knowingly differs")."""
        self.assertEqual(self.sim.control("GET", "behaviour"),
                         {"incident_time": "day", "incident_sort": "ignored", "time_zone": "America/New_York",
                          "log_time": "day", "log_delay": 30, "resolve_resolved": 400})
        sid = self.service("Checkout API")["id"]
        stamps = {}
        for label, created in (("a", "2026-03-10T04:59:59Z"), ("b", "2026-03-10T05:00:00Z"),
                               ("c", "2026-03-10T05:00:30Z"), ("d", "2026-03-11T03:59:59Z"),
                               ("e", "2026-03-11T04:00:00Z")):
            inc = self.sim.control("POST", "incidents", {"service_id": sid, "created_at": created,
                                                         "status": "resolved", "title": label})
            stamps[inc["incident"]["id"]] = label

        def window(since, until, **extra):
            got = self.sim.list_all("/incidents", "incidents", since=since, until=until,
                                    **{"service_ids[]": [sid]}, **extra)
            return sorted(stamps[i["id"]] for i in got if i["id"] in stamps)
        # since/until widen to whole units; New York is UTC-4 on 10 March 2026
        # (DST began on the 8th), so its 10 March is 04:00Z..04:00Z
        self.sim.control("POST", "behaviour", {"incident_time": "second"})
        self.assertEqual(window("2026-03-10T05:00:00Z", "2026-03-10T05:00:30Z"), ["b"])
        self.sim.control("POST", "behaviour", {"incident_time": "minute"})
        self.assertEqual(window("2026-03-10T05:00:00Z", "2026-03-10T05:00:01Z"), ["b", "c"])
        self.sim.control("POST", "behaviour", {"incident_time": "day"})
        self.assertEqual(window("2026-03-10T05:00:00Z", "2026-03-10T05:00:01Z"), ["a", "b", "c", "d"])
        # a time without a zone is read in the account's time zone
        self.sim.control("POST", "behaviour", {"incident_time": "second"})
        self.assertEqual(window("2026-03-10T01:00:00", "2026-03-10T01:00:30"), ["b"])
        self.sim.control("POST", "behaviour", {"time_zone": "UTC"})
        self.assertEqual(window("2026-03-10T05:00:00", "2026-03-10T05:00:30"), ["b"])
        # sort_by ignored: an order that is not created_at, the same on every page
        self.sim.control("POST", "behaviour", {"incident_sort": "ignored"})
        ids = [i["id"] for i in self.incidents(sort_by="created_at")]
        paged = []
        for offset in range(0, len(ids), 3):
            body = self.sim.api("/incidents", date_range="all", sort_by="created_at", limit=3, offset=offset)
            paged += [i["id"] for i in body["incidents"]]
        self.assertEqual(paged, ids)
        self.sim.control("POST", "behaviour", {"incident_sort": "honoured"})
        by_created = [i["id"] for i in self.incidents(sort_by="created_at")]
        self.assertEqual(sorted(ids), sorted(by_created))
        self.assertNotEqual(ids, by_created)
        # bad switches; reset returns to the command line's
        for bad in ({"incident_time": "hour"}, {"incident_sort": "maybe"}, {"time_zone": "Mars/Base"},
                    {"nope": 1}):
            status, _, out = self.sim.request("POST", "/_sim/behaviour", body=bad)
            self.assertEqual(status, 400, out)
        self.sim.control("POST", "reset", {})
        self.assertEqual(self.sim.control("GET", "behaviour")["incident_sort"], "ignored")
        status, _, body = self.req("GET", "/incidents", query={"time_zone": "Mars/Base"})
        self.assertEqual((status, body["error"]["code"]), (400, 2001))

    def test_status_and_urgency_matrix(self):
        seen = {(i["status"], i["urgency"]) for i in self.incidents()}
        for status in ("triggered", "acknowledged", "resolved"):
            for urgency in ("high", "low"):
                self.assertIn((status, urgency), seen)

    def test_filters(self):
        for statuses in (["triggered"], ["acknowledged"], ["triggered", "acknowledged"]):
            incs = self.incidents(**{"statuses[]": statuses})
            self.assertTrue(incs)
            self.assertTrue(all(i["status"] in statuses for i in incs))
        low = self.incidents(**{"urgencies[]": ["low"]})
        self.assertTrue(low and all(i["urgency"] == "low" for i in low))
        sid = self.service("Checkout API")["id"]
        by_service = self.incidents(**{"service_ids[]": [sid]})
        self.assertEqual(len(by_service), 3)
        self.assertTrue(all(i["service"]["id"] == sid for i in by_service))
        by_key = self.incidents(incident_key="checkout/latency")
        self.assertEqual([i["title"] for i in by_key], ["Checkout p99 latency above 2s"])
        self.assertEqual(self.incidents(incident_key="no-such-key"), [])
        status, _, body = self.req("GET", "/incidents", query={"statuses[]": "open"})
        self.assertEqual((status, body["error"]["code"]), (400, 2001))
        self.sim.control("POST", "behaviour", {"incident_sort": "honoured"})
        desc = self.incidents(sort_by="created_at:desc")
        self.assertEqual([i["created_at"] for i in desc], sorted((i["created_at"] for i in desc), reverse=True))

    def test_incident_fields(self):
        inc = self.incidents(incident_key="checkout/latency")[0]
        for field in ("id", "incident_number", "title", "status", "urgency", "incident_key", "created_at",
                      "service", "escalation_policy", "teams", "assignments", "acknowledgements", "html_url",
                      "self", "summary", "type", "last_status_change_at", "alert_counts"):
            self.assertIn(field, inc)
        self.assertEqual(inc["type"], "incident")
        self.assertEqual(inc["service"]["type"], "service_reference")
        # in the account's time zone (America/New_York), or time_zone's
        self.assertRegex(inc["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-0[45]:00$")
        utc = self.incidents(incident_key="checkout/latency", time_zone="UTC")[0]
        self.assertRegex(utc["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")
        self.assertEqual(parse(utc["created_at"]), parse(inc["created_at"]))
        status, _, one = self.req("GET", "/incidents/" + inc["id"])
        self.assertEqual((status, one["incident"]["id"]), (200, inc["id"]))

    def test_service_status_follows_incidents(self):
        statuses = {s["name"]: s["status"] for s in self.sim.list_all("/services", "services")}
        self.assertEqual(statuses, {"Checkout API": "critical", "Payment Gateway": "warning",
                                    "Legacy Billing": "disabled", "Web Frontend": "critical", "CDN Edge": "active",
                                    "Auth Service": "active", "Kubernetes Platform": "critical",
                                    "Database Cluster": "warning", "Search Indexer": "maintenance",
                                    "Internal Tools": "active"})
        sid = self.service("Web Frontend")["id"]
        for inc in self.incidents(**{"service_ids[]": [sid], "statuses[]": ["triggered"]}):
            self.req("PUT", "/incidents/" + inc["id"],
                     body={"incident": {"type": "incident_reference", "status": "acknowledged"}})
        self.assertEqual(self.sim.api("/services/" + sid)["service"]["status"], "warning")
        for inc in self.incidents(**{"service_ids[]": [sid], "statuses[]": ["acknowledged"]}):
            self.req("PUT", "/incidents/" + inc["id"],
                     body={"incident": {"type": "incident_reference", "status": "resolved"}})
        self.assertEqual(self.sim.api("/services/" + sid)["service"]["status"], "active")
        self.sim.control("POST", "services/" + sid, {"status": "maintenance"})
        self.assertEqual(self.sim.api("/services/" + sid)["service"]["status"], "maintenance")
        ongoing = self.sim.api("/maintenance_windows", filter="ongoing")["maintenance_windows"]
        self.assertIn(sid, [s["id"] for w in ongoing for s in w["services"]])
        self.sim.control("POST", "services/" + sid, {"status": "disabled"})
        self.assertEqual(self.sim.api("/services/" + sid)["service"]["status"], "disabled")
        self.sim.control("POST", "services/" + sid, {"status": "active"})
        self.assertEqual(self.sim.api("/services/" + sid)["service"]["status"], "active")

    def test_create_update_and_duplicate_key(self):
        sid = self.service("CDN Edge")["id"]
        body = {"incident": {"type": "incident", "title": "The server is on fire.",
                             "service": {"id": sid, "type": "service_reference"}, "urgency": "low",
                             "incident_key": "cdn/fire", "body": {"type": "incident_body", "details": "hot"}}}
        status, _, out = self.req("POST", "/incidents", body=body)
        self.assertEqual(status, 201, out)
        inc = out["incident"]
        self.assertEqual((inc["status"], inc["urgency"], inc["incident_key"], inc["title"]),
                         ("triggered", "low", "cdn/fire", "The server is on fire."))
        self.assertEqual(self.sim.api("/services/" + sid)["service"]["status"], "critical")
        status, _, out = self.req("POST", "/incidents", body=body)
        self.assertEqual(status, 400)
        self.assertEqual(out["error"]["code"], 2001)
        self.assertIn("cdn/fire", json.dumps(out))
        # Same key on another service is fine.
        other = json.loads(json.dumps(body))
        other["incident"]["service"]["id"] = self.service("Auth Service")["id"]
        self.assertEqual(self.req("POST", "/incidents", body=other)[0], 201)
        # Unknown service, disabled service, missing title.
        bad = json.loads(json.dumps(body))
        bad["incident"]["service"]["id"] = "PNOPE00"
        self.assertEqual(self.req("POST", "/incidents", body=bad)[0], 400)
        bad["incident"]["service"]["id"] = self.service("Legacy Billing")["id"]
        self.assertEqual(self.req("POST", "/incidents", body=bad)[0], 400)
        bad = json.loads(json.dumps(body))
        del bad["incident"]["title"]
        self.assertEqual(self.req("POST", "/incidents", body=bad)[0], 400)
        # Update: urgency, acknowledge, resolve; then a new incident with the key is allowed.
        put = lambda change: self.req("PUT", "/incidents/" + inc["id"],  # noqa: E731
                                      body={"incident": dict({"type": "incident_reference"}, **change)})
        status, _, out = put({"urgency": "high"})
        self.assertEqual((status, out["incident"]["urgency"]), (200, "high"))
        status, _, out = put({"status": "acknowledged"})
        self.assertEqual((status, out["incident"]["status"]), (200, "acknowledged"))
        self.assertEqual(out["incident"]["acknowledgements"][0]["acknowledger"]["summary"], "Morgan Lee")
        status, _, out = put({"status": "resolved", "resolution": "Cooled down"})
        self.assertEqual((status, out["incident"]["status"]), (200, "resolved"))
        self.assertIsNotNone(out["incident"]["resolved_at"])
        status, _, out = put({"urgency": "low"})
        self.assertEqual((status, out["error"]["code"]), (400, 1001))
        self.assertEqual(self.req("POST", "/incidents", body=body)[0], 201)
        self.assertEqual(self.req("PUT", "/incidents/PNOPE00",
                                  body={"incident": {"type": "incident_reference", "status": "resolved"}})[0], 404)
        self.assertEqual(put({"status": "bogus"})[0], 400)

    def test_bulk_update_all_or_nothing(self):
        open_ = self.incidents(**{"statuses[]": ["triggered"]})
        resolved = self.incidents(**{"statuses[]": ["resolved"]})
        body = {"incidents": [{"id": open_[0]["id"], "type": "incident_reference", "status": "acknowledged"},
                              {"id": resolved[0]["id"], "type": "incident_reference", "urgency": "high"}]}
        self.assertEqual(self.req("PUT", "/incidents", body=body)[0], 400)
        self.assertEqual(self.sim.api("/incidents/" + open_[0]["id"])["incident"]["status"], "triggered")
        body["incidents"].pop()
        status, _, out = self.req("PUT", "/incidents", body=body)
        self.assertEqual((status, out["incidents"][0]["status"]), (200, "acknowledged"))
        too_many = {"incidents": [{"id": open_[0]["id"], "type": "incident_reference"}] * 251}
        self.assertEqual(self.req("PUT", "/incidents", body=too_many)[0], 413)

    def test_notes(self):
        pg = next(i for i in self.incidents() if i["title"] == "Payment provider timeouts")
        notes = self.sim.api("/incidents/%s/notes" % pg["id"])["notes"]
        self.assertEqual(len(notes), 2)
        status, _, out = self.req("POST", "/incidents/%s/notes" % pg["id"], body={"note": {"content": "still bad"}})
        self.assertEqual(status, 200)
        self.assertEqual(out["note"]["content"], "still bad")
        self.assertEqual(len(self.sim.api("/incidents/%s/notes" % pg["id"])["notes"]), 3)
        for bad in ({"note": {"content": ""}}, {"note": {}}, {}):
            status, _, out = self.req("POST", "/incidents/%s/notes" % pg["id"], body=bad)
            self.assertEqual((status, out["error"]["code"]), (400, 2001))
        self.assertEqual(self.req("POST", "/incidents/PNOPE00/notes", body={"note": {"content": "x"}})[0], 404)

    def test_seeded_incident_and_clock(self):
        sid = self.service("Auth Service")["id"]
        now = self.now()
        out = self.sim.control("POST", "incidents", {"service_id": sid, "status": "acknowledged", "urgency": "low",
                                                     "created_at": iso(now - 40 * 86400), "title": "old ack",
                                                     "incident_key": "seeded/1"})
        self.assertEqual(out["incident"]["status"], "acknowledged")
        self.assertEqual(self.sim.api("/services/" + sid)["service"]["status"], "warning")
        self.assertEqual(self.incidents(incident_key="seeded/1")[0]["title"], "old ack")
        self.assertEqual(self.sim.list_all("/incidents", "incidents", incident_key="seeded/1"), [])
        self.sim.control("POST", "clock", {"offset": -20 * 86400})
        try:
            self.assertEqual(len(self.sim.list_all("/incidents", "incidents", incident_key="seeded/1")), 1)
        finally:
            self.sim.control("POST", "clock", {"offset": 0})


class TestIncidentWrites(DemoCase):
    """PUT on resolved incidents and merges (README "Incident writes")."""

    def put(self, inc_id, **change):
        return self.req("PUT", "/incidents/" + inc_id,
                        body={"incident": dict({"type": "incident_reference"}, **change)})

    def seed(self, status, key, alert=False):
        return self.sim.control("POST", "incidents", {
            "service_id": self.service("Auth Service")["id"], "status": status, "incident_key": key,
            "alert": alert, "title": "seeded " + key})["incident"]

    def test_acknowledge_reopens_resolved(self):
        inc = self.seed("resolved", "w/ack")
        status, _, out = self.put(inc["id"], status="acknowledged")
        self.assertEqual((status, out["incident"]["status"]), (200, "acknowledged"))
        self.assertIsNone(out["incident"]["resolved_at"])
        self.assertEqual(out["incident"]["assignments"][0]["assignee"]["summary"], "Morgan Lee")
        self.assertEqual([i["id"] for i in self.sim.list_all(
            "/incidents", "incidents", incident_key="w/ack", date_range="all", **{"statuses[]": ["acknowledged"]})],
            [inc["id"]])
        self.assertEqual(self.sim.api("/services/" + inc["service"]["id"])["service"]["status"], "warning")

    def test_triggered_reopens_resolved_and_unacknowledges(self):
        inc = self.seed("resolved", "w/trig")
        status, _, out = self.put(inc["id"], status="triggered")
        self.assertEqual((status, out["incident"]["status"]), (200, "triggered"))
        self.assertEqual(out["incident"]["acknowledgements"], [])
        self.put(inc["id"], status="acknowledged")
        status, _, out = self.put(inc["id"], status="triggered")
        self.assertEqual((status, out["incident"]["status"], out["incident"]["acknowledgements"]),
                         (200, "triggered", []))

    def test_resolve_resolved_switch(self):
        inc = self.seed("resolved", "w/res")
        before = self.sim.api("/incidents/" + inc["id"])["incident"]
        status, _, out = self.put(inc["id"], status="resolved", resolution="again")
        self.assertEqual((status, out["error"]["code"]), (400, 1001))
        self.assertEqual(self.sim.control("POST", "behaviour", {"resolve_resolved": 200})["resolve_resolved"],
                         200)
        status, _, out = self.put(inc["id"], status="resolved", resolution="again")
        self.assertEqual((status, out["incident"]["status"]), (200, "resolved"))
        self.assertEqual(out["incident"]["resolved_at"], before["resolved_at"])
        self.assertEqual(self.sim.request("POST", "/_sim/behaviour", body={"resolve_resolved": 201})[0], 400)
        self.assertEqual(self.sim.control("GET", "behaviour")["resolve_resolved"], 200)  # a bad value changes nothing
        self.sim.control("POST", "reset", {})
        self.assertEqual(self.sim.control("GET", "behaviour")["resolve_resolved"], 400)

    def test_merge_resolves_sources_with_reference(self):
        self.trigger("Auth Service", key="m/src")
        src = self.incidents(incident_key="m/src")[0]
        rest_src = self.seed("triggered", "m/rest")
        target = self.seed("triggered", "m/target", alert=True)
        body = {"source_incidents": [{"id": src["id"], "type": "incident_reference"},
                                     {"id": rest_src["id"], "type": "incident_reference"}]}
        status, _, out = self.req("PUT", "/incidents/%s/merge" % target["id"], body=body)
        self.assertEqual((status, out["incident"]["id"]), (200, target["id"]))
        for merged in (src, rest_src):
            got = self.sim.api("/incidents/" + merged["id"])["incident"]
            self.assertEqual(got["status"], "resolved")
            self.assertEqual(got["resolve_reason"]["type"], "merge_resolve_reason")
            self.assertEqual(got["resolve_reason"]["incident"]["id"], target["id"])
        # The alerts now live in the target: key lookups find it, open.
        for key in ("m/src", "m/rest"):
            found = self.incidents(incident_key=key, **{"statuses[]": ["triggered", "acknowledged"]})
            self.assertEqual([i["id"] for i in found], [target["id"]])
        # An Events resolve of a moved alert resolves the target once all its alerts are.
        self.event({"routing_key": self.routing_key("Auth Service"), "event_action": "resolve",
                    "dedup_key": "m/src"})
        self.assertEqual(self.sim.api("/incidents/" + target["id"])["incident"]["status"], "triggered")
        # Into a resolved incident: 400.
        other = self.seed("triggered", "m/other")
        status, _, _ = self.req("PUT", "/incidents/%s/merge" % src["id"],
                                body={"source_incidents": [{"id": other["id"], "type": "incident_reference"}]})
        self.assertEqual(status, 400)


class TestEvents(DemoCase):
    def test_trigger_dedup_ack_resolve_retrigger(self):
        out = self.trigger("CDN Edge", key="host1/df", severity="warning")
        self.assertEqual(out, {"status": "success", "message": "Event processed", "dedup_key": "host1/df"})
        incs = self.incidents(incident_key="host1/df")
        self.assertEqual(len(incs), 1)
        inc = incs[0]
        self.assertEqual((inc["status"], inc["urgency"], inc["title"]), ("triggered", "low", "disk full"))
        self.assertEqual(inc["service"]["summary"], "CDN Edge")
        self.trigger("CDN Edge", key="host1/df", severity="critical")           # merges
        incs = self.incidents(incident_key="host1/df")
        self.assertEqual(len(incs), 1)
        self.assertEqual(incs[0]["urgency"], "high")
        self.event({"routing_key": self.routing_key("CDN Edge"), "event_action": "acknowledge",
                    "dedup_key": "host1/df"})
        self.assertEqual(self.sim.api("/incidents/" + inc["id"])["incident"]["status"], "acknowledged")
        self.trigger("CDN Edge", key="host1/df")                                 # still open: merges
        self.assertEqual(len(self.incidents(incident_key="host1/df")), 1)
        self.event({"routing_key": self.routing_key("CDN Edge"), "event_action": "resolve", "dedup_key": "host1/df"})
        self.assertEqual(self.sim.api("/incidents/" + inc["id"])["incident"]["status"], "resolved")
        self.event({"routing_key": self.routing_key("CDN Edge"), "event_action": "resolve", "dedup_key": "host1/df"})
        self.trigger("CDN Edge", key="host1/df")                                 # after resolve: new
        incs = self.incidents(incident_key="host1/df")
        self.assertEqual(sorted(i["status"] for i in incs), ["resolved", "triggered"])
        results = [r["event_result"] for r in self.sim.control("GET", "requests")["requests"]
                   if r["path"] == "/v2/enqueue"]
        self.assertEqual(results, ["created", "merged", "acknowledged", "merged", "resolved",
                                   "dropped: no open alert", "created"])

    def test_generated_dedup_key_and_unknown_keys(self):
        out = self.trigger("Auth Service")
        self.assertRegex(out["dedup_key"], r"^\S{8,}$")
        self.assertEqual(len(self.incidents(incident_key=out["dedup_key"])), 1)
        self.event({"routing_key": self.routing_key("Auth Service"), "event_action": "acknowledge",
                    "dedup_key": "never-seen"})
        self.event({"routing_key": "0" * 32, "event_action": "trigger",
                    "payload": {"summary": "s", "source": "h", "severity": "info"}})
        self.assertEqual(len(self.incidents()), len(self.state["incidents"]) + 1)

    def test_incident_key_filter_matches_alert_key_and_rest_resolve(self):
        self.trigger("Auth Service", key="alert-key-1")
        inc = self.incidents(incident_key="alert-key-1")[0]
        self.req("PUT", "/incidents/" + inc["id"], body={"incident": {"type": "incident_reference",
                                                                       "status": "resolved"}})
        self.trigger("Auth Service", key="alert-key-1")
        self.assertEqual(sorted(i["status"] for i in self.incidents(incident_key="alert-key-1")),
                         ["resolved", "triggered"])

    def test_suppressed_for_maintenance_and_disabled(self):
        before = len(self.incidents())
        self.trigger("Search Indexer", key="m1")
        self.trigger("Legacy Billing", key="d1")
        self.assertEqual(len(self.incidents()), before)

    def test_invalid_events(self):
        rk = self.routing_key("CDN Edge")
        cases = [
            ({"routing_key": rk, "event_action": "trigger", "payload": {"summary": "s", "severity": "info"}},
             ["'payload.source' is missing or blank"]),
            ({"routing_key": rk, "event_action": "trigger",
              "payload": {"summary": "s", "source": "h", "severity": "fatal"}}, None),
            ({"routing_key": rk, "event_action": "explode", "dedup_key": "x"}, None),
            ({"routing_key": rk, "event_action": "resolve"}, ["'dedup_key' is missing or blank"]),
            ({"routing_key": "short", "event_action": "resolve", "dedup_key": "x"}, None),
            ({"event_action": "resolve", "dedup_key": "x"}, None),
        ]
        for body, errors in cases:
            out = self.event(body, expect=400)
            self.assertEqual((out["status"], out["message"]), ("invalid event", "Event object is invalid"))
            self.assertIsInstance(out["errors"], list)
            if errors:
                self.assertEqual(out["errors"], errors)
        status, _, out = self.sim.request("POST", "/v2/enqueue", raw_body=b"{not json")
        self.assertEqual(status, 400)
        self.assertIn("errors", out)
        big = {"routing_key": rk, "event_action": "trigger",
               "payload": {"summary": "s", "source": "h", "severity": "info", "custom_details": {"x": "y" * 600000}}}
        self.assertEqual(self.event(big, expect=400)["status"], "invalid event")

    def test_events_rate_limit(self):
        self.sim.control("POST", "ratelimit", {"events_per_minute": 3})
        try:
            for i in range(3):
                self.trigger("CDN Edge", key="rl-%d" % i)
            status, _, out = self.sim.request("POST", "/v2/enqueue", body={
                "routing_key": self.routing_key("CDN Edge"), "event_action": "resolve", "dedup_key": "rl-0"})
            self.assertEqual(status, 429)
            self.trigger("Auth Service", key="other-key-still-fine")
        finally:
            self.sim.control("POST", "ratelimit", {"events_per_minute": 120})


class TestRateLimit(DemoCase):
    def test_headers_and_429(self):
        status, h, _ = self.req("GET", "/services")
        self.assertEqual(status, 200)
        self.assertEqual(h["ratelimit-limit"], "960")
        self.assertEqual(int(h["ratelimit-remaining"]), 959)
        self.assertTrue(0 < int(h["ratelimit-reset"]) <= 60)
        self.sim.control("POST", "ratelimit", {"per_minute": 5})
        try:
            remaining = [int(self.req("GET", "/teams")[1]["ratelimit-remaining"]) for _ in range(5)]
            self.assertEqual(remaining, [4, 3, 2, 1, 0])
            status, h, body = self.req("GET", "/teams")
            self.assertEqual(status, 429)
            self.assertEqual(body, {"error": {"message": "Rate Limit Exceeded", "code": 2020}})
            self.assertEqual(h["ratelimit-remaining"], "0")
            self.assertTrue(0 < int(h["ratelimit-reset"]) <= 60)
            # The same user's other token shares the budget; another user does not.
            extra = self.sim.control("POST", "tokens", {"kind": "user", "user_id": self.tok["manager"]["user_id"]})
            self.assertEqual(self.sim.get("/teams", token=extra["token"]["token"])[0], 429)
            self.assertEqual(self.req("GET", "/teams", "observer")[0], 200)
            self.assertEqual(self.req("GET", "/teams", "account")[0], 200)
        finally:
            self.sim.control("POST", "ratelimit", {"per_minute": 960})
        self.assertEqual(self.req("GET", "/teams")[0], 200)


class TestFaults(DemoCase):
    def fault(self, **spec):
        return self.sim.control("POST", "faults", spec)

    def test_status_count_and_matching(self):
        self.fault(kind="status", status=503, count=2, path="/incidents", method="POST")
        self.assertEqual(self.req("GET", "/incidents")[0], 200)
        sid = self.service("CDN Edge")["id"]
        body = {"incident": {"type": "incident", "title": "t", "service": {"id": sid, "type": "service_reference"}}}
        s1, _, b1 = self.req("POST", "/incidents", body=body)
        s2, _, _ = self.req("POST", "/incidents", body=body)
        s3, _, _ = self.req("POST", "/incidents", body=body)
        self.assertEqual((s1, s2, s3), (503, 503, 201))
        self.assertIn("message", b1["error"])
        self.fault(kind="status", status=500, count=-1, path="/services")
        for _ in range(3):
            self.assertEqual(self.req("GET", "/services/" + sid)[0], 500)
        self.assertEqual(len(self.sim.control("GET", "faults")["faults"]), 1)
        self.sim.control("DELETE", "faults")
        self.assertEqual(self.req("GET", "/services/" + sid)[0], 200)
        log = self.sim.control("GET", "requests")["requests"]
        self.assertEqual([r["fault"] for r in log if r["status"] == 503], ["status", "status"])

    def test_ratelimit_fault(self):
        self.fault(kind="ratelimit", reset=7, retry_after=3)
        status, h, body = self.req("GET", "/services")
        self.assertEqual((status, h["ratelimit-reset"], h["retry-after"], body["error"]["code"]), (429, "7", "3", 2020))
        self.fault(kind="ratelimit", headers=False)
        status, h, body = self.req("GET", "/services")
        self.assertEqual(status, 429)
        self.assertNotIn("ratelimit-reset", h)
        self.assertFalse(body)

    def test_hang_is_released_and_blocks_nothing_else(self):
        self.fault(kind="hang", path="/services")
        result = {}

        def slow():
            result["r"] = self.req("GET", "/services", timeout=120)

        t = threading.Thread(target=slow)
        started = time.monotonic()
        t.start()
        # Wait until the simulator took the hang (the fault is used up),
        # not a guessed sleep: only then is a request really hanging.
        deadline = time.monotonic() + 60
        while self.sim.control("GET", "faults")["faults"] and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(self.sim.control("GET", "faults")["faults"], [])
        self.assertTrue(t.is_alive())
        self.assertEqual(self.req("GET", "/teams")[0], 200)
        self.sim.control("DELETE", "faults")
        t.join(60)
        self.assertFalse(t.is_alive())
        self.assertEqual(result["r"][0], 200)
        # The hang has no end of its own: only the DELETE ended it.
        self.assertLess(time.monotonic() - started, 60)
        self.fault(kind="hang", seconds=0.5)
        t0 = time.monotonic()
        self.assertEqual(self.req("GET", "/teams")[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.45)

    def test_hang_times_out_client(self):
        self.fault(kind="hang")
        with self.assertRaises((socket.timeout, TimeoutError)):
            self.req("GET", "/teams", timeout=0.5)

    def test_reset_truncate_garbage_html_notjson(self):
        self.fault(kind="reset")
        with self.assertRaises((ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine)):
            self.req("GET", "/services")
        self.fault(kind="truncate")
        with self.assertRaises(http.client.IncompleteRead):
            self.req("GET", "/services")
        self.fault(kind="garbage")
        status, h, body = self.req("GET", "/services")
        self.assertEqual(status, 200)
        self.assertIsInstance(body, bytes)
        with self.assertRaises(ValueError):
            json.loads(body)
        self.fault(kind="html", status=502)
        status, h, body = self.req("GET", "/services")
        self.assertEqual((status, h["content-type"]), (502, "text/html"))
        self.assertIn(b"<html>", body)
        self.fault(kind="notjson401")
        status, h, body = self.req("GET", "/services")
        self.assertEqual((status, h["content-type"]), (401, "text/plain"))
        self.assertIsInstance(body, bytes)
        self.assertEqual(self.req("GET", "/services")[0], 200)

    def test_faults_on_events_and_keepalive(self):
        self.fault(kind="status", status=500, path="/v2/enqueue")
        status, _, _ = self.sim.request("POST", "/v2/enqueue", body={"routing_key": self.routing_key("CDN Edge"),
                                                                     "event_action": "resolve", "dedup_key": "x"})
        self.assertEqual(status, 500)
        conn = self.sim.connection()
        try:
            for _ in range(3):
                status, h, _ = self.req("GET", "/teams", conn=conn)
                self.assertEqual(status, 200)
                self.assertNotEqual(h.get("connection"), "close")
        finally:
            conn.close()

    def test_bad_fault_spec(self):
        status, _, _ = self.sim.request("POST", "/_sim/faults", body={"kind": "meteor"})
        self.assertEqual(status, 400)


class TestSchedulesAndOncalls(DemoCase):
    def schedule(self, name, since=None, until=None):
        sid = next(s["id"] for s in self.state["schedules"] if s["name"] == name)
        q = {}
        if since is not None:
            q = {"since": iso(since), "until": iso(until)}
        return self.sim.api("/schedules/" + sid, **q)["schedule"]

    def assert_well_formed(self, final, since, until):
        prev_end = since
        for e in final["rendered_schedule_entries"]:
            s, t = parse(e["start"]), parse(e["end"])
            self.assertTrue(since <= s < t <= until, e)
            self.assertGreaterEqual(s, prev_end)
            prev_end = t
        covered = sum(parse(e["end"]) - parse(e["start"]) for e in final["rendered_schedule_entries"])
        self.assertAlmostEqual(final["rendered_coverage_percentage"], 100.0 * covered / (until - since), places=1)

    def test_no_window_means_null_coverage(self):
        sch = self.schedule("Platform Primary")
        self.assertIsNone(sch["final_schedule"]["rendered_coverage_percentage"])
        self.assertEqual(sch["final_schedule"]["rendered_schedule_entries"], [])
        self.assertEqual(sch["final_schedule"]["name"], "Final Schedule")

    def test_full_coverage_clipped_to_window(self):
        now = int(self.now())
        since, until = now + 123, now + 7 * 86400 + 77
        final = self.schedule("Platform Primary", since, until)["final_schedule"]
        self.assert_well_formed(final, since, until)
        entries = final["rendered_schedule_entries"]
        self.assertEqual(final["rendered_coverage_percentage"], 100.0)
        self.assertEqual((parse(entries[0]["start"]), parse(entries[-1]["end"])), (since, until))
        for a, b in zip(entries, entries[1:]):
            self.assertEqual(a["end"], b["start"])
            self.assertNotEqual(a["user"]["id"], b["user"]["id"])   # same-user neighbours are merged

    def test_gap_in_coming_week(self):
        now = int(self.now())
        since, until = now, now + 7 * 86400
        sch = self.schedule("Payments Primary", since, until)
        final = sch["final_schedule"]
        self.assert_well_formed(final, since, until)
        layers = {l["name"]: l for l in sch["schedule_layers"]}
        gap_start, gap_end = parse(layers["Layer 1"]["end"]), parse(layers["Layer 2"]["start"])
        self.assertEqual(gap_end - gap_start, 6 * 3600)
        gaps, prev = [], since
        for e in final["rendered_schedule_entries"]:
            if parse(e["start"]) > prev:
                gaps.append((prev, parse(e["start"])))
            prev = parse(e["end"])
        self.assertEqual(gaps, [(gap_start, gap_end)])
        self.assertEqual(final["rendered_coverage_percentage"], round(100.0 * (7 * 86400 - 6 * 3600) / (7 * 86400), 2))

    def test_nobody_now_and_override(self):
        now = int(self.now())
        web2 = self.schedule("Web Secondary", now, now + 3600)["final_schedule"]
        self.assertEqual((web2["rendered_schedule_entries"], web2["rendered_coverage_percentage"]), ([], 0.0))
        since, until = now - 86400, now + 86400
        sch = self.schedule("Web Primary", since, until)
        final = sch["final_schedule"]["rendered_schedule_entries"]
        override = sch["overrides_subschedule"]["rendered_schedule_entries"]
        self.assertEqual(len(override), 1)
        self.assertEqual(override[0]["user"]["summary"], "Morgan Lee")
        self.assertIn(override[0], final)
        layer = sch["schedule_layers"][0]["rendered_schedule_entries"]
        o_start, o_end = parse(override[0]["start"]), parse(override[0]["end"])
        for e in final:                       # outside the override, the layer shows through
            if e != override[0]:
                s, t = parse(e["start"]), parse(e["end"])
                self.assertTrue(t <= o_start or s >= o_end)
                self.assertTrue(any(l["user"]["id"] == e["user"]["id"] and parse(l["start"]) <= s
                                    and parse(l["end"]) >= t for l in layer))

    def test_rotation_turns(self):
        now = int(self.now())
        sch = self.schedule("Web Primary", now, now + 28 * 86400)
        layer = sch["schedule_layers"][0]
        turn = layer["rotation_turn_length_seconds"]
        users = [u["user"]["id"] for u in layer["users"]]
        vstart = parse(layer["rotation_virtual_start"])
        for e in layer["rendered_schedule_entries"]:
            s = parse(e["start"])
            self.assertEqual(e["user"]["id"], users[int((s - vstart) // turn) % len(users)])

    def test_oncalls_consistent_with_schedules_and_policies(self):
        now = int(self.now())
        oncalls = self.sim.list_all("/oncalls", "oncalls")
        policies = self.sim.list_all("/escalation_policies", "escalation_policies")
        self.assertEqual(len(policies), 6)
        expected = set()
        v3_ids = {s["id"] for s in self.state["schedules_v3"]}
        for p in policies:
            self.assertTrue(p["num_loops"] >= 0 and p["escalation_rules"])
            for level, rule in enumerate(p["escalation_rules"], 1):
                for t in rule["targets"]:
                    if t["type"] == "user_reference":
                        expected.add((p["id"], level, None, t["id"], None, None))
                    elif t["type"] == "schedule_v3_reference":
                        sch = self.sim.api("/v3/schedules/" + t["id"], since=iso(now), until=iso(now + 1),
                                           **{"include[]": "final_schedule"})
                        for a in sch["schedule"]["final_schedule"]["computed_shift_assignments"]:
                            if a["member"]["type"] == "user_member":
                                expected.add((p["id"], level, t["id"], a["member"]["user_id"]))
                    else:
                        sch = self.sim.api("/schedules/" + t["id"], since=iso(now), until=iso(now + 1))
                        for e in sch["schedule"]["final_schedule"]["rendered_schedule_entries"]:
                            expected.add((p["id"], level, t["id"], e["user"]["id"]))
        got = set()
        for o in oncalls:
            key = (o["escalation_policy"]["id"], o["escalation_level"],
                   o["schedule"]["id"] if o["schedule"] else None, o["user"]["id"])
            if o["schedule"] is None:
                self.assertIsNone(o["start"])
                self.assertIsNone(o["end"])
                key = key + (None, None)
            elif o["schedule"]["id"] in v3_ids:
                self.assertTrue(parse(o["start"]) <= now < parse(o["end"]))
                # The user's shifts cover it without a break.
                sch = self.sim.api("/v3/schedules/" + o["schedule"]["id"], since=o["start"], until=o["end"],
                                   **{"include[]": "final_schedule"})
                reach = parse(o["start"])
                for a in sorted(sch["schedule"]["final_schedule"]["computed_shift_assignments"],
                                key=lambda a: a["start_time"]):
                    if a["member"].get("user_id") == o["user"]["id"] and parse(a["start_time"]) <= reach:
                        reach = max(reach, parse(a["end_time"]))
                self.assertEqual(reach, parse(o["end"]))
            else:
                self.assertTrue(parse(o["start"]) <= now < parse(o["end"]))
                # The shift is one user's, whole: the schedule agrees over it.
                sch = self.sim.api("/schedules/" + o["schedule"]["id"], since=o["start"], until=o["end"])
                entries = sch["schedule"]["final_schedule"]["rendered_schedule_entries"]
                self.assertEqual([(e["user"]["id"], e["start"], e["end"]) for e in entries],
                                 [(o["user"]["id"], o["start"], o["end"])])
            got.add(key)
        self.assertEqual(got, expected)
        web = next(p for p in policies if p["name"] == "Web Escalation")
        self.assertFalse([o for o in oncalls if o["escalation_policy"]["id"] == web["id"]
                          and o["escalation_level"] == 1])

    def test_oncall_filters(self):
        policies = self.sim.list_all("/escalation_policies", "escalation_policies")
        plat = next(p for p in policies if p["name"] == "Platform Escalation")
        got = self.sim.list_all("/oncalls", "oncalls", **{"escalation_policy_ids[]": [plat["id"]]})
        self.assertEqual(sorted(o["escalation_level"] for o in got), [1, 2])
        sched = plat["escalation_rules"][0]["targets"][0]["id"]
        got = self.sim.list_all("/oncalls", "oncalls", **{"schedule_ids[]": [sched]})
        self.assertTrue(got and all(o["schedule"]["id"] == sched for o in got))
        manager = self.tok["manager"]["user_id"]
        got = self.sim.list_all("/oncalls", "oncalls", **{"user_ids[]": [manager]})
        self.assertTrue(got and all(o["user"]["id"] == manager for o in got))
        now = int(self.now())
        week = self.sim.list_all("/oncalls", "oncalls", since=iso(now), until=iso(now + 7 * 86400),
                                 **{"escalation_policy_ids[]": [plat["id"]]})
        earliest = self.sim.list_all("/oncalls", "oncalls", since=iso(now), until=iso(now + 7 * 86400),
                                     earliest="true", **{"escalation_policy_ids[]": [plat["id"]]})
        self.assertGreater(len(week), len(earliest))
        keys = [(o["escalation_level"], o["user"]["id"]) for o in earliest]
        self.assertEqual(len(keys), len(set(keys)))

    def test_policy_shape(self):
        p = next(p for p in self.sim.list_all("/escalation_policies", "escalation_policies")
                 if p["name"] == "Payments Escalation")
        self.assertEqual(p["num_loops"], 1)
        self.assertEqual([r["escalation_delay_in_minutes"] for r in p["escalation_rules"]], [10, 20])
        self.assertEqual([t["type"] for t in p["escalation_rules"][1]["targets"]],
                         ["user_reference", "schedule_reference"])
        self.assertEqual(sorted(s["summary"] for s in p["services"]),
                         ["Checkout API", "Legacy Billing", "Payment Gateway"])
        self.assertEqual(p["teams"][0]["summary"], "Payments")

    def test_maintenance_windows_filter(self):
        def names(flt):
            return sorted(w["services"][0]["summary"] for w in
                          self.sim.api("/maintenance_windows", filter=flt)["maintenance_windows"])
        self.assertEqual(names("ongoing"), ["Search Indexer"])
        self.assertEqual(names("future"), ["CDN Edge"])
        self.assertEqual(names("past"), ["Checkout API"])
        self.assertEqual(names("open"), ["CDN Edge", "Search Indexer"])
        self.assertEqual(len(names("all")), 3)


class TestShiftBasedSchedules(DemoCase):
    """Schedules as the real service serves them (doc/pagerduty-api.md, "Where the real
    service differs"): the v2 list without final schedules, and the v3
    ("shift-based") endpoints, whose shapes are not in the bundled OpenAPI
    file, checked here against doc/pagerduty-api.md."""

    def v3(self, name):
        return next(s for s in self.state["schedules_v3"] if s["name"] == name)

    def v3_detail(self, sid, since=None, until=None, final=True, label="manager"):
        q = {}
        if final:
            q["include[]"] = "final_schedule"
        if since is not None:
            q.update(since=iso(since), until=iso(until))
        return self.req("GET", "/v3/schedules/" + sid, label=label, query=q)

    def test_v2_list_never_carries_final_schedules(self):
        now = int(self.now())
        for include in (["final_schedule"], ["final_schedule", "overrides_subschedule"],
                        ["schedule_layers", "final_schedule"]):
            body = self.sim.api("/schedules", since=iso(now), until=iso(now + 86400),
                                **{"include[]": include})
            self.assertEqual(len(body["schedules"]), 5)
            for s in body["schedules"]:
                self.assertNotIn("final_schedule", s)
                self.assertNotIn("overrides_subschedule", s)
                self.assertEqual("schedule_layers" in s, "schedule_layers" in include)
        # the detail: the final schedule by default, given since/until
        sid = self.state["schedules"][0]["id"]
        d = self.sim.api("/schedules/" + sid, since=iso(now), until=iso(now + 86400))["schedule"]
        self.assertTrue(d["final_schedule"]["rendered_schedule_entries"])

    def test_lists_keep_the_kinds_apart(self):
        v2 = {s["id"] for s in self.sim.list_all("/schedules", "schedules")}
        body = self.sim.api("/v3/schedules")
        v3 = {s["id"] for s in body["schedules"]}
        self.assertEqual(v2, {s["id"] for s in self.state["schedules"]})
        self.assertEqual(v3, {s["id"] for s in self.state["schedules_v3"]})
        self.assertFalse(v2 & v3)
        self.assertEqual(len(v3), 2)

    def test_v3_list_shape(self):
        body = self.sim.api("/v3/schedules")
        self.assertEqual(set(body), {"schedules", "limit", "offset", "more"})   # no total
        self.assertEqual((body["limit"], body["offset"], body["more"]), (100, 0, False))
        for item in body["schedules"]:
            self.assertEqual(set(item), {"id", "type", "summary", "self", "html_url"})
            self.assertEqual(item["type"], "schedule_v3_reference")
            self.assertTrue(item["self"].endswith("/v3/schedules/" + item["id"]))
        self.assertEqual(self.sim.api("/v3/schedules", limit=5000)["limit"], 1000)
        page = self.sim.api("/v3/schedules", limit=1)
        self.assertEqual((len(page["schedules"]), page["more"]), (1, True))
        self.assertEqual([s["summary"] for s in self.sim.api("/v3/schedules", query="checkout")["schedules"]],
                         ["Checkout Shifts"])

    def test_v3_detail_shape_and_final_schedule(self):
        now = int(self.now())
        since, until = now, now + 7 * 86400
        sid = self.v3("SRE Follow the Sun")["id"]
        status, _, body = self.v3_detail(sid, final=False)
        self.assertEqual(status, 200)
        sch = body["schedule"]
        self.assertEqual(sch["type"], "schedule_v3")
        self.assertNotIn("final_schedule", sch)      # only with include[]=final_schedule
        for key in ("id", "name", "time_zone", "teams", "escalation_policies", "rotations"):
            self.assertIn(key, sch)
        self.assertEqual(len(sch["rotations"]), 3)
        status, _, body = self.v3_detail(sid, since, until)
        self.assertEqual(status, 200)
        final = body["schedule"]["final_schedule"]
        self.assertEqual(final["type"], "final_schedule")
        shifts = final["computed_shift_assignments"]
        users, reach, empty = [], since, 0
        for a in shifts:
            self.assertEqual(a["type"], "computed_shift_assignment")
            s, e = parse(a["start_time"]), parse(a["end_time"])
            self.assertTrue(since <= s < e <= until, a)
            m = a["member"]
            self.assertIn(m["type"], ("user_member", "empty_member"))
            if m["type"] == "user_member":
                self.assertEqual(set(m), {"type", "user_id"})      # members carry only user_id
                users.append((s, e))
            else:
                self.assertEqual(set(m), {"type"})
                empty += 1
        self.assertGreater(empty, 0)
        # empty members fill exactly what no user covers
        covered, reach = 0, since
        for s, e in sorted(users):
            if e > reach:
                covered += e - max(s, reach)
                reach = e
        gaps = sum(parse(a["end_time"]) - parse(a["start_time"]) for a in shifts
                   if a["member"]["type"] == "empty_member")
        self.assertEqual(covered + gaps, until - since)
        self.assertAlmostEqual(final["rendered_coverage_percentage"], 100.0 * covered / (until - since), places=1)
        # overlapping day shifts: two people at once, every day 14:00-18:00 UTC
        day = since - since % 86400 + 86400
        at = day + 15 * 3600
        self.assertEqual(len({a["member"]["user_id"] for a in shifts if a["member"]["type"] == "user_member"
                              and parse(a["start_time"]) <= at < parse(a["end_time"])}), 2)

    def test_v3_two_people_now_and_a_gap_later(self):
        now = int(self.now())
        sid = self.v3("Checkout Shifts")["id"]
        _, _, body = self.v3_detail(sid, now, now + 7 * 86400)
        shifts = body["schedule"]["final_schedule"]["computed_shift_assignments"]
        on_now = {a["member"]["user_id"] for a in shifts if a["member"]["type"] == "user_member"
                  and parse(a["start_time"]) <= now < parse(a["end_time"])}
        self.assertEqual(len(on_now), 2)
        self.assertEqual(shifts[-1]["member"], {"type": "empty_member"})
        self.assertEqual(parse(shifts[-1]["end_time"]), now + 7 * 86400)

    def test_kinds_answer_at_the_other_kinds_endpoint(self):
        v2 = self.state["schedules"][0]["id"]
        v3 = self.state["schedules_v3"][0]["id"]
        status, _, body = self.v3_detail(v2)
        self.assertEqual(status, 400)
        self.assertIn("error", body)
        status, _, body = self.req("GET", "/schedules/" + v3)
        self.assertEqual(status, 404)
        status, _, _ = self.v3_detail("PNOPE99")
        self.assertEqual(status, 404)

    def test_v3_visibility_follows_teams(self):
        # restricted_access (Web only) sees neither demo v3 schedule
        status, _, body = self.req("GET", "/v3/schedules", label="restricted")
        self.assertEqual((status, body["schedules"]), (200, []))
        status, _, _ = self.v3_detail(self.v3("Checkout Shifts")["id"], label="restricted")
        self.assertEqual(status, 403)

    def test_policies_target_v3_schedules_and_oncalls_follow(self):
        now = int(self.now())
        policies = self.sim.list_all("/escalation_policies", "escalation_policies")
        checkout = next(p for p in policies if p["name"] == "Checkout Escalation")
        target = checkout["escalation_rules"][0]["targets"][0]
        self.assertEqual(target["type"], "schedule_v3_reference")
        self.assertEqual(target["id"], self.v3("Checkout Shifts")["id"])
        got = self.sim.list_all("/oncalls", "oncalls", **{"escalation_policy_ids[]": [checkout["id"]]})
        level1 = {o["user"]["id"] for o in got if o["escalation_level"] == 1}
        _, _, body = self.v3_detail(target["id"], now, now + 1)
        self.assertEqual(level1, {a["member"]["user_id"] for a in
                                  body["schedule"]["final_schedule"]["computed_shift_assignments"]
                                  if a["member"]["type"] == "user_member"})
        self.assertEqual(len(level1), 2)
        for o in got:
            if o["escalation_level"] == 1:
                self.assertEqual(o["schedule"]["id"], target["id"])
                self.assertEqual(o["schedule"]["summary"], "Checkout Shifts")


class TestLogEntries(DemoCase):
    """GET /log_entries: every change of every incident, newest first, with the
    unknowns (README "Where the simulator knowingly differs") as switches."""

    def setUp(self):
        super().setUp()
        # Noon in the account's zone, so a whole-day window is unambiguous.
        zone = datetime.timezone(datetime.timedelta(hours=-5))
        self.sim.control("POST", "behaviour", {"time_zone": "Etc/GMT+5", "log_delay": 0})
        real = time.time() - self.sim.control("GET", "clock")["offset"]
        noon = datetime.datetime.fromtimestamp(real, zone).replace(hour=12, minute=0, second=0, microsecond=0)
        self.sim.control("POST", "clock", {"offset": noon.timestamp() - real})

    def tearDown(self):
        self.sim.control("POST", "clock", {"offset": 0})
        super().tearDown()

    def entries(self, **query):
        return self.sim.list_all("/log_entries", "log_entries", token=self.tok["manager"]["token"], **query)

    def open_incident(self, name):
        return next(i for i in self.state["incidents"]
                    if i["service_id"] == self.service(name)["id"] and i["status"] != "resolved")

    def test_every_change_newest_first_with_types(self):
        before = self.now()
        everything = self.entries(date_range="all", since=iso(before - 200 * 86400))
        after = self.now() + 1                 # the clock reads whole seconds
        # setUp moved the clock to noon of the account's day: in the afternoon
        # that is back, and the scenario's entries written since are in the
        # simulator's future, not listed yet (as no service lists the future).
        # Every entry written by `before` is listed once, none after `after`.
        written = {e["id"]: e["created_at"] for i in self.state["incidents"] for e in i["log"]}
        listed = [e["id"] for e in everything]
        self.assertEqual(len(listed), len(set(listed)))
        self.assertLessEqual({k for k, t in written.items() if t <= before}, set(listed))
        self.assertLessEqual(set(listed), {k for k, t in written.items() if t <= after})
        times = [parse(e["created_at"]) for e in everything]
        self.assertEqual(times, sorted(times, reverse=True))
        inc = self.open_incident("Web Frontend")
        before = self.now()
        for body in ({"urgency": "high"}, {"status": "acknowledged"}, {"status": "triggered"},
                     {"status": "resolved"}):
            status, _, out = self.req("PUT", "/incidents/" + inc["id"], body={"incident": body})
            self.assertEqual(status, 200, out)
        fresh = [e for e in self.entries(since=iso(before))        # the whole day: filter here
                 if e["incident"]["id"] == inc["id"] and parse(e["created_at"]) >= int(before)]
        self.assertEqual([e["type"] for e in fresh],
                         ["resolve_log_entry", "unacknowledge_log_entry", "acknowledge_log_entry",
                          "urgency_change_log_entry"])
        for e in fresh:
            self.assertEqual(e["service"]["id"], inc["service_id"])
            self.assertEqual(e["incident"]["type"], "incident_reference")
            self.assertTrue(e["id"] and e["self"].endswith("incident_id=" + inc["id"]))
        one = self.sim.list_all("/incidents/%s/log_entries" % inc["id"], "log_entries",
                                token=self.tok["manager"]["token"])
        self.assertEqual([e["id"] for e in one][:4], [e["id"] for e in fresh])

    def test_include_overview_and_teams(self):
        inc = self.open_incident("Web Frontend")
        before = self.now()
        self.req("PUT", "/incidents/" + inc["id"], body={"incident": {"status": "acknowledged"}})
        self.req("POST", "/incidents/%s/notes" % inc["id"], body={"note": {"content": "looking"}})
        self.req("PUT", "/incidents/" + inc["id"], body={"incident": {"urgency": "high"}})
        full = self.entries(since=iso(before), **{"include[]": ["incidents", "services", "teams"]})
        mine = [e for e in full if e["incident"]["id"] == inc["id"] and parse(e["created_at"]) >= before - 1]
        self.assertEqual(len(mine), 3)
        for e in mine:     # embedded as the incident is now, whatever the entry
            self.assertEqual((e["incident"]["type"], e["incident"]["status"], e["incident"]["urgency"]),
                             ("incident", "acknowledged", "high"))
            self.assertEqual(e["service"]["type"], "service")
            self.assertEqual([t["type"] for t in e["teams"]], ["team"])
        overview = {e["type"] for e in self.entries(since=iso(before), is_overview="true")}
        self.assertNotIn("annotate_log_entry", overview)
        self.assertNotIn("urgency_change_log_entry", overview)
        self.assertIn("acknowledge_log_entry", overview)
        web = self.team("Web")["id"]
        platform = self.entries(since=iso(before), **{"team_ids[]": [self.team("Platform")["id"]]})
        self.assertFalse([e for e in platform if e["incident"]["id"] == inc["id"]])
        for e in self.entries(since=iso(before), **{"team_ids[]": [web]}):
            self.assertIn(web, [t["id"] for t in e["teams"]])

    def test_since_until_honoured_to_the_day_by_default(self):
        inc = self.open_incident("Web Frontend")
        self.req("PUT", "/incidents/" + inc["id"], body={"incident": {"status": "acknowledged"}})
        at = self.now()
        later = {"since": iso(at + 60), "until": iso(at + 120)}
        ids = lambda: {e["incident"]["id"] for e in self.entries(**later)}  # noqa: E731
        self.assertIn(inc["id"], ids())             # the same day: listed although before since
        for unit in ("minute", "second"):
            self.sim.control("POST", "behaviour", {"log_time": unit})
            self.assertNotIn(inc["id"], ids())
        status, _, _ = self.req("GET", "/log_entries", query={"since": "yesterday"})
        self.assertEqual(status, 400)

    def test_entries_show_late(self):
        before = self.now()
        made = self.sim.control("POST", "churn", {"changes": 20})["changes"]
        self.sim.control("POST", "behaviour", {"log_delay": 3600})
        shown = {e["incident"]["id"] for e in self.entries(since=iso(before))}
        changed = {c["incident_id"] for c in made}
        self.assertTrue(changed - shown)            # some not listed yet
        self.sim.control("POST", "clock", {"offset": self.sim.control("GET", "clock")["offset"] + 3601})
        shown = {e["incident"]["id"] for e in self.entries(since=iso(before))}
        self.assertEqual(changed - shown, set())    # all of them after the longest delay
        status, _, _ = self.sim.request("POST", "/_sim/behaviour", body={"log_delay": -1})
        self.assertEqual(status, 400)


class TestChurn(DemoCase):
    """POST /_sim/churn: a moving account whose incidents, indexes and log agree."""

    def test_changes_keep_the_account_consistent(self):
        self.sim.control("POST", "behaviour", {"log_delay": 0})
        before = self.now()
        made = self.sim.control("POST", "churn", {"changes": 300})["changes"]
        self.assertEqual({c["kind"] for c in made},
                         {"create", "acknowledge", "resolve", "urgency", "move", "merge"})
        state = self.sim.control("GET", "state")
        incs = {i["id"]: i for i in state["incidents"]}
        for c in made:
            if c["kind"] == "merge":
                self.assertEqual(incs[c["incident_id"]]["status"], "resolved")
                self.assertEqual(incs[c["incident_id"]]["merged_into"], c["into"])
        # Every incident changed has an entry since `before`, of its service then.
        logged = {e["incident"]["id"] for e in self.sim.list_all(
            "/log_entries", "log_entries", token=self.tok["manager"]["token"], since=iso(before))}
        self.assertEqual({c["incident_id"] for c in made} - logged, set())
        # The exact per-service open lists agree with the state, moves included.
        moved = [c for c in made if c["kind"] == "move"]
        for c in moved[:5]:
            for sid in (c["from"], c["to"]):
                listed = {i["id"] for i in self.sim.list_all(
                    "/incidents", "incidents", token=self.tok["manager"]["token"], date_range="all",
                    **{"service_ids[]": [sid], "statuses[]": ["triggered", "acknowledged"]})}
                truth = {i["id"] for i in state["incidents"]
                         if i["service_id"] == sid and i["status"] != "resolved"}
                self.assertEqual(listed, truth)
        status = {s["id"]: s["status"] for s in state["services"]}
        for s in state["services"]:
            open_statuses = {i["status"] for i in state["incidents"]
                             if i["service_id"] == s["id"] and i["status"] != "resolved"}
            if status[s["id"]] in ("critical", "warning", "active"):
                want = "critical" if "triggered" in open_statuses else \
                    "warning" if "acknowledged" in open_statuses else "active"
                self.assertEqual(status[s["id"]], want, s["name"])

    def test_bad_churn_requests(self):
        for body in ({"changes": -1}, {"per_minute": "x"}, {"changes": 1001}):
            status, _, _ = self.sim.request("POST", "/_sim/churn", body=body)
            self.assertEqual(status, 400, body)


class TestLatencyAndSteadyChurn(unittest.TestCase):
    def test_latency_delays_api_answers_and_churn_runs(self):
        with SimProcess("demo", extra_args=["--latency", "300", "--churn", "600"]) as sim:
            t0 = time.monotonic()
            sim.api("/services")
            self.assertGreaterEqual(time.monotonic() - t0, 0.3)
            deadline = time.monotonic() + 60
            while sim.control("GET", "churn")["done"] < 3:       # 10 a second: bounded wait
                self.assertLess(time.monotonic(), deadline, "churn made no changes")
                time.sleep(0.1)
            out = sim.control("POST", "churn", {"per_minute": 0})
            self.assertEqual(out["per_minute"], 0)


class TestHttps(unittest.TestCase):
    def test_https_with_generated_cert(self):
        if shutil.which("openssl") is None:
            self.skipTest("no openssl CLI")
        tmp = tempfile.mkdtemp()
        try:
            cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
            with SimProcess("demo", extra_args=["--tls-cert", cert, "--tls-key", key]) as sim:
                self.assertTrue(sim.url.startswith("https://127.0.0.1:"))
                import ssl
                ctx = ssl.create_default_context(cafile=cert)
                sim.ssl_context = ctx
                status, _, body = sim.get("/users/me", token=sim.token)
                self.assertEqual((status, body["user"]["name"]), (200, "Morgan Lee"))
                # Plain HTTP to the TLS port does not get an API answer.
                host, port = sim.host_port
                conn = http.client.HTTPConnection(host, port, timeout=3)
                with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
                    conn.request("GET", "/users/me")
                    resp = conn.getresponse()
                    if resp.status:
                        raise ConnectionError("answered %d" % resp.status)
                conn.close()
                # An unverified client still works after the failed plain one.
                sim.ssl_context = None
                self.assertEqual(sim.get("/services", token=sim.token)[0], 200)
        finally:
            shutil.rmtree(tmp)


class TestLarge(unittest.TestCase):
    def test_large_counts_and_paging_past_10000(self):
        t0 = time.monotonic()
        with SimProcess("large") as sim:
            self.assertLess(time.monotonic() - t0, 5.0)
            total = lambda path, **q: sim.api(path, total="true", limit=1, **q)["total"]  # noqa: E731
            self.assertGreaterEqual(total("/services"), 2000)
            self.assertGreaterEqual(total("/schedules"), 300)
            self.assertGreaterEqual(total("/escalation_policies"), 300)
            self.assertEqual(total("/teams"), 20)
            open_total = total("/incidents", date_range="all", **{"statuses[]": ["triggered", "acknowledged"]})
            self.assertGreaterEqual(open_total, 12000)
            month = total("/incidents", **{"statuses[]": ["triggered", "acknowledged"]})
            self.assertLess(month, open_total)
            # Offsets stop at 10000: the open incidents are reachable per service slice.
            status, _, body = sim.get("/incidents", token=sim.token,
                                      query={"date_range": "all", "offset": 9950, "limit": 100})
            self.assertEqual(status, 400)
            t1 = time.monotonic()
            page = sim.api("/incidents", date_range="all", offset=9900, limit=100,
                           **{"statuses[]": ["triggered", "acknowledged"]})
            self.assertEqual(len(page["incidents"]), 100)
            self.assertTrue(page["more"])
            self.assertLess(time.monotonic() - t1, 1.0)
            # Split by urgency: each half fits under 10000 and together they are all.
            seen = set()
            for urgency in ("high", "low"):
                ids = sim.list_all("/incidents", "incidents", date_range="all",
                                   **{"statuses[]": ["triggered", "acknowledged"], "urgencies[]": [urgency]})
                seen.update(i["id"] for i in ids)
            self.assertEqual(len(seen), open_total)
            t2 = time.monotonic()
            oncalls = sim.list_all("/oncalls", "oncalls")
            self.assertTrue(oncalls)
            self.assertLess(time.monotonic() - t2, 10.0)


if __name__ == "__main__":
    skip_unless_runnable()
    unittest.main(verbosity=2)
