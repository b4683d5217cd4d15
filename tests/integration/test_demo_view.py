#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_demo_view.py - the view contrib/demo.sh shows (contrib/demo_view.py,
read as contrib/demo_watch.py reads it), against the real collectd and
plugin reading the simulator's demo account, with a Notify block.

The view has its sections (open incidents, API, services, schedules,
escalation policies, Notify blocks) and fits one screen; every service,
schedule and policy the truth (truth.py) knows has its own line with the
status, on-call count and uncovered levels the truth computes - the view
names no entity itself; a schedule the plugin has no values for is "?",
never "NOBODY"; a series the Notify block does not dispatch gets no column;
and when a threshold-style FAILURE opens an incident, the changes name the
Notify block's sent count and the service's triggered count going up.
About 15 s.
"""

import argparse
import os
import re
import sys

import harness
from truth import ReadTestCase

sys.path.insert(0, os.path.join(harness.SRCDIR, "contrib"))
import demo_view    # noqa: E402
import demo_watch   # noqa: E402

SCREEN = 50     # lines: one screen of a terminal


def rows_of(lines, heading):
    """{first cell: the row's cells} of the table under the line starting
    with heading."""
    start = next(i for i, l in enumerate(lines) if l.startswith(heading))
    out = {}
    for line in lines[start + 2:]:       # the heading, the column names
        if not line.startswith("  "):
            break
        cells = line.split()
        out[cells[0]] = cells
    return out


class DemoViewTest(ReadTestCase):

    def start(self):
        # Log entries listed at once (--log-delay 0): the story below waits
        # for the incident the FAILURE opens to show in the changes, which
        # the incremental read sees only once its log entry is listed (up
        # to 30 s late by default, as the real service's may be).
        sim = self.start_simulator(scenario="demo", args=["--log-delay", "0"])
        entry = sim.control("GET", "/tokens")["routing_keys"][0]
        harness.register_secret(entry["routing_key"])
        self.service_name = entry["service_name"]
        notify = harness.block("Notify", "disk", [
            ("Host", "web01"), ("RoutingKey", entry["routing_key"]),
            ("EventsURL", sim.url)])
        daemon = self.start_collectd(harness.plugin_block(
            self.account_block(sim), notify))
        truth = self.truth(sim)
        self.wait_cycles(daemon, truth, 2)
        args = argparse.Namespace(
            socket=daemon.socket_path, sim=sim.url, log=daemon.log_path,
            collectd_pid=daemon.proc.pid, interval=self.INTERVAL,
            note_interval=10, table_every=4, once=True, raw=False)
        return sim, daemon, truth, demo_watch.Demo(args)

    def model(self, demo):
        return demo_view.parse(demo.pagerduty_values(), demo.totals.shown())

    def test_the_view_tells_what_the_truth_says(self):
        sim, daemon, truth, demo = self.start()
        self.model(demo)    # the derive series' first values
        # Two reads one value apart: the counts of the derive series start.
        harness.wait_until(lambda: all(
            "?" not in l for l in demo_view.render(self.model(demo))
            if l.startswith("  disk")), 30, message="Notify counts known")
        lines = demo_view.render(self.model(demo))
        now = truth.series(truth.built_at)   # the seeded state; no change
        text = "\n".join(lines)
        self.assertLessEqual(len(lines), SCREEN, text)
        for heading in ("Open incidents: ", "API: up", "Services (",
                        "Schedules (", "Escalation policies (",
                        "Notify blocks ("):
            self.assertIn("\n" + heading, "\n" + text)

        services = rows_of(lines, "Services (")
        for sid, name in truth.names["service"].items():
            status = now[truth.series_id("SERVICE_STATUS", name)][0]
            trig = now[truth.series_id("SERVICE_TRIGGERED", name)][0]
            self.assertEqual(services[name][1:3],
                             [demo_view.STATUS[status], "%d" % trig], text)
        schedules = rows_of(lines, "Schedules (")
        for name in truth.names["schedule"].values():
            oncall = now[truth.series_id("SCHEDULE_ONCALL", name)][0]
            self.assertEqual(schedules[name][1],
                             "NOBODY" if oncall == 0 else "%d" % oncall)
        policies = rows_of(lines, "Escalation policies (")
        for name in truth.names["policy"].values():
            uncovered = now[truth.series_id("POLICY_UNCOVERED_LEVELS",
                                            name)][0]
            self.assertEqual(policies[name][-1], "%d" % uncovered, text)
        self.assertTrue(truth.names["schedule"])
        self.assertTrue(truth.names["policy"])

        notify = rows_of(lines, "Notify blocks (")
        self.assertEqual(notify["disk"][1:3], ["0", "-"], text)
        self.assertEqual(notify["disk"][3:6], ["0", "0", "0"], text)
        heading = next(l for l in lines if l.startswith("  block"))
        # The dropped column is there exactly when the plugin dispatches it.
        listed = {i for _, i in daemon.sock.listval()}
        self.assertEqual("dropped" in heading,
                         "pd-test/pagerduty-notify-disk/derive-dropped"
                         in listed, heading)

        # A schedule the plugin has no values for: unknown, not nobody.
        values = demo.pagerduty_values()
        name = next(iter(truth.names["schedule"].values()))
        unread = {i: v for i, v in values.items()
                  if "-schedule-%s-" % name not in i}
        row = rows_of(demo_view.render(demo_view.parse(unread)),
                      "Schedules (")
        self.assertNotIn(name, row)
        partial = {i: v for i, v in values.items()
                   if not i.endswith("-schedule-%s-oncall" % name)}
        row = rows_of(demo_view.render(demo_view.parse(partial)),
                      "Schedules (")[name]
        self.assertEqual(row[1], "?")

        # The story: a FAILURE for web01 opens an incident; the changes say
        # so in the Notify block's and the service's terms.
        before = demo_view.facts(self.model(demo))
        daemon.sock.putnotif("disk full", severity="failure", host="web01",
                               plugin="df", type="percent_bytes")
        svc = demo_view_name(self.service_name, truth)
        trig = now[truth.series_id("SERVICE_TRIGGERED", svc)][0]
        counted = "triggered %d -> %d" % (trig, trig + 1)
        seen = []

        def changed():
            lines = demo_view.changes(before,
                                      demo_view.facts(self.model(demo)))
            seen[:] = lines
            # ">=1": a value went by unseen on a busy machine (a lower
            # bound, as the demo says).
            return any(l.startswith("notify disk: ") and
                       re.search(r"\bsent 0 -> (>=)?1\b", l)
                       for l in lines) and \
                any(l.startswith("service %s: " % svc) and counted in l
                    for l in lines)
        # The service's status and its triggered count are two csv files
        # of one cycle: the status can be read changed before the count
        # is written, so the wait is for the count's change itself.
        harness.wait_until(changed, 30, interval=0.3,
                           message="the incident in the changes (%s)"
                           % counted)
        line = next(l for l in seen if l.startswith("service %s: " % svc))
        self.assertIn(counted, line)
        self.assertEqual(daemon.errors(), [])
        self.assertEqual(daemon.stop(), 0)


class TotalsTest(ReadTestCase):

    def test_counts_from_rates_and_a_value_gone_by_unseen(self):
        t = demo_watch.Totals(interval=2)
        ident = "h/pagerduty-notify-n/derive-sent"
        t.add(ident, 100.0, float("nan"))   # the first value: no rate yet
        self.assertEqual(t.shown(), {ident: "0"})
        t.add(ident, 102.0, 0.5)            # +1 over 2 s
        t.add(ident, 102.0, 0.5)            # the same value again
        t.add(ident, 104.0, 1.0)            # +2
        self.assertEqual(t.shown(), {ident: "3"})
        t.add(ident, 110.0, 0.5)            # 2 values unseen: a lower bound
        self.assertEqual(t.shown(), {ident: ">=4"})


def demo_view_name(service_name, truth):
    """The series name of the service called service_name."""
    for sid, name in truth.names["service"].items():
        if any(s["id"] == sid and s["name"] == service_name
               for s in truth.services):
            return name
    raise AssertionError("no service %r" % service_name)


if __name__ == "__main__":
    harness.main()
