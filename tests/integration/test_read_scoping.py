#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_read_scoping.py - Team scopes everything; InstanceBy "id"; a Team that
names nothing is an ERROR; an empty scope is a WARNING (doc/contract.md §3, §4, §7).

With Team set, every series must be exactly the scoped truth
(tests/integration/truth.py): services, incidents, schedules, escalation
policies and teams of the named teams only, named by name or by lowercased
ID. Nothing of another team may show up in LISTVAL - not a service, a
schedule, a policy, a team or an on-call count - and every listing request
must carry the scope (team_ids[], or escalation_policy_ids[] of in-scope
policies for GET /oncalls, which has no team filter; GET /v3/schedules has
no documented one, so shift-based schedules are kept or left out by the
teams their detail names). A restricted_access
user without Team sees the same as a Team scope of its own team.
"""

import harness
import series
from truth import ReadTestCase, sanitize

SCOPED_PATHS = ("/services", "/incidents", "/schedules",
                "/escalation_policies")
KIND_OF = {"services": "service", "schedules": "schedule",
           "schedules_v3": "schedule", "escalation_policies": "policy",
           "teams": "team"}


class ScopingReadTest(ReadTestCase):

    def instances(self, daemon):
        """{kind: {instance names}} of the entity series in LISTVAL."""
        out = {}
        for ident in daemon.listval("pagerduty-" + self.ACCOUNT):
            m = series.match_identifier(ident)
            if m and m[0].entity != "account":
                out.setdefault(m[0].entity, set()).add(m[1])
        return out

    def assertNothingOutOfScope(self, daemon, truth):
        """No series names an entity the scope leaves out, by name or ID."""
        state = truth.state
        shown = self.instances(daemon)
        in_scope = {"services": {s["id"] for s in truth.services},
                    "schedules": {s["id"] for s in truth.schedules},
                    "schedules_v3": {s["id"] for s in truth.schedules},
                    "escalation_policies": {p["id"] for p in truth.policies},
                    "teams": {t["id"] for t in truth.team_list}}
        leaks = []
        for key, kind in KIND_OF.items():
            for entity in state[key]:
                if entity["id"] in in_scope[key]:
                    continue
                for name in (sanitize(entity["name"]), entity["id"].lower()):
                    if any(n == name or n.startswith(name + "_")
                           for n in shown.get(kind, ())):
                        leaks.append("%s %r" % (kind, entity["name"]))
        self.assertEqual(leaks, [], "series of out-of-scope entities")

    def assertRequestsScoped(self, sim, truth):
        """Every listing carried the scope's team_ids[]; GET /oncalls only
        in-scope escalation_policy_ids[], all of them."""
        scope = sorted(truth.scope)
        policies = {p["id"] for p in truth.policies}
        asked = set()
        requests = self.plugin_requests(sim)
        self.assertTrue(requests)
        for r in requests:
            if r["path"] in SCOPED_PATHS:
                self.assertEqual(sorted(r["query"].get("team_ids[]", [])),
                                 scope, "%s %s" % (r["path"], r["query"]))
            if r["path"] == "/oncalls":
                ids = set(r["query"].get("escalation_policy_ids[]", []))
                self.assertTrue(ids, "GET /oncalls without a policy filter")
                self.assertLessEqual(ids, policies, "GET /oncalls asks for "
                                     "out-of-scope policies")
                asked |= ids
        self.assertEqual(asked, policies)

    def team_id(self, sim, name):
        return [t["id"] for t in sim.state()["teams"] if t["name"] == name][0]

    # -- tests ----------------------------------------------------------------
    def test_team_by_name_scopes_everything(self):
        sim, daemon = self.start_read("demo", Team="Payments")
        truth = self.truth(sim, teams=["Payments"])
        # Payments' own, plus what it depends on: its policy's level 2
        # targets Platform Primary (Platform), which must count there
        # without becoming a series of its own.
        self.assertEqual({s["name"] for s in truth.services},
                         {"Checkout API", "Payment Gateway",
                          "Legacy Billing"})
        # Shift-based schedules too: GET /v3/schedules has no documented
        # team filter, so they are scoped by their detail's teams (Checkout
        # Shifts is Payments', SRE Follow the Sun Platform's).
        self.assertEqual({s["name"] for s in truth.schedules},
                         {"Payments Primary", "Checkout Shifts"})
        self.assertIn("Checkout Escalation",
                      {p["name"] for p in truth.policies})
        self.wait_cycles(daemon, truth, 3, timeout=60)
        self.assertMatchesTruth(daemon, truth)
        self.assertListvalIsTruth(daemon, truth)
        self.assertNoHoles(daemon, truth)
        self.assertNothingOutOfScope(daemon, truth)
        self.assertRequestsScoped(sim, truth)
        self.assertEqual(daemon.errors(), [])
        self.assertEqual(daemon.warnings(), [])

    def test_two_teams_by_id_instance_by_id(self):
        sim = self.start_simulator(scenario="random", seed=4)
        teams = sim.state()["teams"]
        # One ID as PagerDuty writes it, one lowercased (IDs match in any
        # case).
        values = [teams[0]["id"], teams[1]["id"].lower()]
        _, daemon = self.start_read(sim=sim, Team=values, InstanceBy="id")
        truth = self.truth(sim, teams=values, instance_by="id")
        self.assertEqual(truth.scope, {teams[0]["id"], teams[1]["id"]})
        self.wait_cycles(daemon, truth, 3, timeout=60)
        self.assertMatchesTruth(daemon, truth)
        self.assertListvalIsTruth(daemon, truth)
        self.assertNothingOutOfScope(daemon, truth)
        self.assertRequestsScoped(sim, truth)
        for kind, names in self.instances(daemon).items():
            for name in names:
                self.assertRegex(name, r"^[a-z0-9]+$", "%s named by ID"
                                 % kind)
        self.assertEqual(daemon.errors(), [])

    def test_restricted_user_sees_only_its_team(self):
        sim = self.start_simulator(scenario="demo")
        token = [t["token"] for t in sim.tokens()
                 if t["label"] == "restricted"][0]
        harness.register_secret(token)
        _, daemon = self.start_read(sim=sim,
                                    token_file=self.token_file(token))
        # Riley Restricted is in Web: the same view as Team "Web".
        truth = self.truth(sim, teams=["Web"])
        self.wait_cycles(daemon, truth, 3, timeout=60)
        self.assertMatchesTruth(daemon, truth)
        self.assertListvalIsTruth(daemon, truth)
        self.assertNothingOutOfScope(daemon, truth)
        self.assertEqual(daemon.errors(), [])

    def test_unknown_team_is_an_error_and_nothing_leaks(self):
        sim, daemon = self.start_read("demo", Team=["Payments", "Nope"])
        truth = self.truth(sim, teams=["Payments"])
        self.wait_cycles(daemon, truth, 3, up=0, timeout=60)
        error = daemon.wait_for_log(
            r'^pagerduty plugin: account "acme": .*Team "Nope".*no team '
            r'with this ID or exact name', severity="error")
        self.assertNotIn("Payments", error.string)
        # Said once, however many cycles it lasts.
        self.assertEqual(len(daemon.errors()), 1, daemon.errors())
        # api-up says the configuration is not fully working; whatever is
        # dispatched is Payments' and right.
        self.assertEqual(daemon.value(truth.identifier("gauge", "api-up")), 0)
        self.assertMatchesTruth(daemon, truth)
        self.assertNothingOutOfScope(daemon, truth)

    def test_only_unknown_teams_collect_nothing(self):
        sim, daemon = self.start_read("demo", Team="Nope")
        truth = self.truth(sim, teams=["Nope"])
        self.assertEqual(truth.scope, set())
        self.wait_cycles(daemon, truth, 3, up=0, timeout=60)
        daemon.wait_for_log(r'Team "Nope".*no team with this ID or exact '
                            r'name', severity="error")
        self.assertEqual(len(daemon.errors()), 1, daemon.errors())
        # Unscoped collection would report on every team: nothing at all.
        self.assertEqual(self.instances(daemon), {})
        paths = {r["path"] for r in self.plugin_requests(sim)}
        self.assertEqual(paths - {"/users/me", "/teams"}, set())

    def test_empty_scope_warns_naming_the_teams(self):
        sim = self.start_simulator(scenario="demo")
        services = {s["name"]: s["id"] for s in sim.state()["services"]}
        payments = self.team_id(sim, "Payments")
        platform = self.team_id(sim, "Platform")
        # Web keeps its schedules and policy but loses every service.
        sim.set_service(services["Web Frontend"], team_ids=[payments])
        sim.set_service(services["CDN Edge"], team_ids=[payments])
        sim.set_service(services["Auth Service"], team_ids=[platform])
        _, daemon = self.start_read(sim=sim, Team="Web")
        truth = self.truth(sim, teams=["Web"])
        self.assertEqual(truth.services, [])
        warning = daemon.wait_for_log(
            r'^pagerduty plugin: account "acme": .*0 services with Team '
            r'"Web".*team membership', severity="warning")
        self.assertIsNotNone(warning)
        self.wait_cycles(daemon, truth, 3, timeout=60)
        self.assertEqual(len(daemon.warnings()), 1, daemon.warnings())
        self.assertEqual(daemon.errors(), [])
        self.assertMatchesTruth(daemon, truth)
        self.assertListvalIsTruth(daemon, truth)


if __name__ == "__main__":
    harness.main()
