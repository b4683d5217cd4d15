#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_read_schedules.py - schedules are read the way the real PagerDuty
serves them, and a schedule that cannot be read is unknown, never "nobody
on call" (doc/contract.md §4; doc/pagerduty-api.md "Where the real service differs").

  - The listings GET /schedules and GET /v3/schedules are asked for no
    final schedule (the real lists never carry one, whatever include[]
    says); every schedule's final schedule is asked of its own detail
    endpoint: GET /schedules/{id}?since&until&time_zone=UTC for
    layer-based ones, GET /v3/schedules/{id}?since&until&include[]=
    final_schedule for shift-based ones, never one kind at the other's
    endpoint. The demo's shift-based schedules are right (the truth,
    tests/integration/truth.py), two people on call at once included.
  - A shift-based schedule whose detail fails from the start dispatches
    nothing and raises no notification (with Notifications true), and one
    whose detail starts failing keeps the values it last had, with no
    notification, while every other schedule goes on; each is logged once
    however many cycles it lasts, and once more when it is read again;
    then its series are right again.
Cost: about 25 s (three short daemons on the demo account).
"""

import harness
import series
from truth import ReadTestCase, compare_rows


class SchedulesReadTest(ReadTestCase):
    INTERVAL = 1

    def schedule(self, truth, name):
        return next(s for s in truth.schedules if s["name"] == name)

    def series_of(self, truth, sched):
        """Every series of a schedule (the table of series)."""
        name = truth.names["schedule"][sched["id"]]
        return {truth.identifier(s.type, s.name(name))
                for s in series.of("schedule")}

    def test_lists_never_asked_for_what_only_details_give(self):
        sim, daemon = self.start_read("demo")
        truth = self.truth(sim)
        self.wait_cycles(daemon, truth, 3, timeout=60)
        requests = self.plugin_requests(sim)
        self.assertEqual({r["status"] for r in requests}, {200})
        v2 = {s["id"] for s in truth.state["schedules"]}
        v3 = {s["id"] for s in truth.state["schedules_v3"]}
        lists, details = 0, {}
        for r in requests:
            q = r["query"]
            if r["path"] in ("/schedules", "/v3/schedules"):
                lists += 1
                self.assertEqual(q.get("include[]", []), [], r)
                self.assertNotIn("since", q, r)
                self.assertNotIn("until", q, r)
            elif r["path"].startswith(("/schedules/", "/v3/schedules/")):
                sid = r["path"].rsplit("/", 1)[1]
                shifts = r["path"].startswith("/v3/")
                self.assertIn(sid, v3 if shifts else v2, r["path"])
                self.assertIn("since", q)
                self.assertIn("until", q)
                if shifts:
                    self.assertEqual(q.get("include[]"), ["final_schedule"])
                else:
                    self.assertEqual(q.get("time_zone"), ["UTC"])
                details[sid] = details.get(sid, 0) + 1
        self.assertGreaterEqual(lists, 2)
        # every schedule, of both kinds, through its detail
        self.assertEqual(set(details), v2 | v3)
        self.assertEqual(len(v3), 2)
        # and the values: right, shift-based ones included
        self.assertMatchesTruth(daemon, truth)
        now = truth.series(truth.built_at)
        ident = truth.identifier("count", "schedule-checkout_shifts-oncall")
        self.assertEqual(now[ident], (2, 2))
        self.assertEqual(daemon.errors(), [])
        self.assertEqual(daemon.warnings(), [])

    def test_never_read_dispatches_nothing_and_notifies_nothing(self):
        sim = self.start_simulator(scenario="demo")
        truth = self.truth(sim)
        sun = self.schedule(truth, "SRE Follow the Sun")
        self.assertTrue(sun["v3"])
        # It has gaps ahead: read, it would be a WARNING.
        self.assertIsNotNone(truth.finals[sun["id"]].first_gap(
            truth.built_at, truth.coverage_window))
        path = "/v3/schedules/" + sun["id"]
        sim.add_fault("status", count=-1, path=path, status=500)
        _, daemon = self.start_read(sim=sim, Notifications=True)
        self.wait_cycles(daemon, truth, 4, up=0, timeout=60)
        ours = self.series_of(truth, sun)
        csv = self.csv(daemon)
        self.assertEqual(sorted(ours & set(csv)), [])
        gap_ti = "schedule-%s-gap" % truth.names["schedule"][sun["id"]]
        self.assertEqual([n for n in self.notifications(daemon)
                          if n[1].get("type_instance") == gap_ti], [])
        # every other series goes on, right
        others = truth.identifiers() - ours
        res = compare_rows(truth, csv, idents=others)
        self.assertTrue(res.ok, res.describe())
        said = r'schedule "SRE Follow the Sun" \(%s\): its final schedule ' \
               r'could not be read .*500.*not dispatched' % sun["id"]
        daemon.wait_for_log(said, severity="warning")
        self.assertEqual(len(daemon.messages("warning", contains=sun["id"])),
                         1)
        self.assertEqual(daemon.errors(), [])

        sim.clear_faults()
        daemon.wait_for_log(r'schedule "SRE Follow the Sun" .*read again',
                            severity="info")
        harness.wait_until(lambda: [
            n for n in self.notifications(daemon)
            if n[1].get("type_instance") == gap_ti], 20,
            message="the WARNING once it is known")
        self.wait_truth(daemon, truth)
        self.assertEqual(daemon.stop(), 0)

    def test_detail_failing_keeps_last_values(self):
        sim = self.start_simulator(scenario="demo")
        truth = self.truth(sim)
        checkout = self.schedule(truth, "Checkout Shifts")
        ours = self.series_of(truth, checkout)
        _, daemon = self.start_read(sim=sim, Notifications=True)
        self.wait_cycles(daemon, truth, 2, timeout=60)
        gap_ti = "schedule-%s-gap" % truth.names["schedule"][checkout["id"]]
        notes_before = [n for n in self.notifications(daemon)
                        if n[1].get("type_instance") == gap_ti]
        # Its coverage ends in four days: a WARNING at start, once.
        self.assertEqual([n[0] for n in notes_before], ["WARNING"])
        # The next handoff counts down from cycle to cycle: seen to move
        # before the fault, its freeze during the fault means something.
        # (Two cycles are not enough on a busy machine: both can fall
        # before the first read of this schedule's detail.)
        handoff = [i for i in ours if series.match_identifier(i)[0].id
                   == "SCHEDULE_NEXT_HANDOFF"][0]
        harness.wait_until(
            lambda: len({v for _t, v in self.csv(daemon).get(handoff, [])})
            > 1, 60, message="next_handoff counting down")

        sim.add_fault("status", count=-1, status=503,
                      path="/v3/schedules/" + checkout["id"])
        said = daemon.wait_for_log(
            r'schedule "Checkout Shifts" \(%s\): its final schedule could '
            r'not be read .*503.*keep their last values' % checkout["id"],
            severity="warning")
        self.assertIsNotNone(said)
        self.wait_cycles(daemon, truth, 4, up=0)
        failed = [r["time"] for r in self.plugin_requests(sim)
                  if r["status"] == 503]
        self.assertGreaterEqual(len(failed), 3)
        sim.clear_faults()
        daemon.wait_for_log(r'schedule "Checkout Shifts" .*read again',
                            severity="info")
        self.wait_truth(daemon, truth)
        self.wait_cycles(daemon, truth, 2, up=1)
        first_fail, last_fail = failed[0], failed[-1]
        # Values from 3 s after the last failure seen are checked below: on
        # a fast machine the two cycles above can all end before that.
        recovered = last_fail + 3
        harness.wait_until(lambda: all(
            any(t >= recovered for t, _v in self.csv(daemon).get(i, []))
            for i in ours), 60, message="our series dispatched after %.1f"
            % recovered)

        csv = self.csv(daemon)
        for ident in ours:
            rows = csv[ident]
            before = [v for t, v in rows if t < first_fail]
            during = [v for t, v in rows if first_fail < t <= last_fail]
            self.assertTrue(before and during, ident)
            # the values it last had, not zeros, not moving on
            self.assertEqual(set(during), {before[-1]}, ident)
        # the next handoff and gap were counting down before: the freeze
        # is real (they would have moved by now)
        self.assertGreater(len({v for t, v in csv[handoff]
                                if t < first_fail}), 1)
        # every value outside the fault is right; the other schedules are
        # right throughout
        after = compare_rows(truth, csv, since=recovered, idents=ours)
        self.assertTrue(after.ok, after.describe())
        others = truth.identifiers() - ours
        res = compare_rows(truth, csv, idents=others)
        self.assertTrue(res.ok, res.describe())
        # one line, however many cycles; no notification meanwhile
        self.assertEqual(len(daemon.messages("warning",
                                             contains=checkout["id"])), 1)
        notes = [n for n in self.notifications(daemon)
                 if n[1].get("type_instance") == gap_ti]
        self.assertEqual(notes, notes_before)
        self.assertEqual(daemon.errors(), [])
        self.assertEqual(daemon.stop(), 0)


if __name__ == "__main__":
    harness.main()
