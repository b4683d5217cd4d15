#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_stores.py - the plugin's values end to end into real stores, and the
Grafana dashboards of contrib/grafana/ answered by them.

On loopback, in temp dirs, on free ports (stores.py): a real carbon-cache
with graphite-web in front of it, a real InfluxDB 1.x with its collectd
input and collectd's types.db, the simulator's demo account, and the real
collectd with the plugin (an Account on the demo account, a Notify block
fed by the threshold plugin) and write_graphite + network configured
exactly as the README's "Sending the values to Graphite / InfluxDB" says.

test_every_series_arrives_in_both_stores
    Every doc/contract.md §4 series truth.py (the oracle) expects, and no other, is in
    Graphite (through graphite-web's render API) and in InfluxDB (through
    its query API) under the documented names, every stored value right
    for the moment the plugin looked; the api-* series are there too. The
    Notify block's series arrive with the simulator's story: one event
    refused with a 503, then accepted - sent 1, retried 1, failed 0,
    nothing pending.
test_every_dashboard_panel_answers
    Every panel query of contrib/grafana/pagerduty-graphite.json and
    pagerduty-influxdb.json, with the template variables expanded the way
    Grafana does (variable queries sent to the store, regex applied, values
    formatted for the data source), gets a non-empty answer from the store.

Skips (exit 77, saying so) when graphite-carbon, graphite-web or influxdb
is not installed (contrib/test.sh installs them). Cost: about 40 s.
"""

import importlib.util
import json
import os
import re
import sys
import time
import unittest

import harness
import series
import stores
from truth import Truth, api_id, compare_rows, cycles, read_csv_tree

HOST = "pd-e2e"
ACCOUNT = "demo"
NOTIFY = "disk"
INTERVAL = 2
WATCHED = "web01/app/gauge"
GRAFANA_DIR = os.path.join(harness.SRCDIR, "contrib", "grafana")


class StoresTest(unittest.TestCase):
    """One set of servers for both tests (starting them is most of the
    cost); the tests only read."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.parts = []
        try:
            cls._start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for part in reversed(cls.parts):
            try:
                part.close() if hasattr(part, "close") else part.stop()
            except Exception as e:  # stop the others whatever happens
                sys.stderr.write("stopping %r: %s\n" % (part, e))
        cls.parts = []

    @classmethod
    def _start(cls):
        # Log entries listed at once (--log-delay 0): every series is
        # compared with the truth from the first cycle after the trigger's
        # answer, and with the simulator's default (an entry shows up to
        # 30 s late, as the real service's may) the incident it opens would
        # reach the plugin's incremental read only then. Late entries are
        # test_read_incremental.py's subject.
        cls.sim = harness.Simulator(scenario="demo",
                                    args=["--log-delay", "0"]).start()
        cls.parts.append(cls.sim)
        cls.carbon = stores.Carbon()
        cls.parts.append(cls.carbon)
        cls.carbon.start()
        cls.influx = stores.InfluxDB()
        cls.parts.append(cls.influx)
        cls.influx.start()
        cls.web = stores.GraphiteWeb()
        cls.parts.append(cls.web)
        cls.web.start(cls.carbon)

        cls.tmp = harness.TempDir("pdstores-")
        cls.parts.append(cls.tmp)
        token = harness.write_secret_file(cls.tmp.join("token"),
                                          cls.sim.token)
        account = harness.block("Account", ACCOUNT, [
            ("TokenFile", token), ("URL", cls.sim.url),
            ("Interval", INTERVAL), ("SlowInterval", INTERVAL)])
        notify = harness.block("Notify", NOTIFY, [
            ("Host", "web01"), ("Plugin", "app"),
            ("RoutingKey", harness.routing_key(cls.sim)),
            ("EventsURL", cls.sim.url)])
        cls.daemon = harness.Collectd(
            harness.plugin_block(account, notify), hostname=HOST,
            interval=INTERVAL,
            threshold=harness.threshold_config(FailureMax=90),
            extra_config=stores.collectd_config(cls.carbon.line_port,
                                                cls.influx.collectd_port,
                                                INTERVAL))
        cls.parts.append(cls.daemon)
        cls.daemon.start()

        # The Notify block's story: the first delivery is refused (503),
        # the retry accepted.
        cls.sim.add_fault("status", status=503, path="/v2/enqueue")
        # One value only: collectd's write threads may check two values
        # put back to back in either order (an OKAY after the FAILURE).
        cls.daemon.sock.putval(WATCHED, 95, interval=harness.WATCHED_INTERVAL)
        cls.sim.wait_for_requests(
            lambda r: r["path"] == "/v2/enqueue" and r["status"] == 202,
            timeout=60, message="the trigger event accepted")
        # Now, not the request's "time": that is when it arrived, and on a
        # busy machine the incident is made a while later (a cycle that
        # started in between can still miss it). The answer is logged
        # once the incident exists, so from now on every cycle sees it.
        accepted = time.time()

        cls.truth = Truth(cls.sim, account=ACCOUNT, host=HOST)
        problems = cls.truth.self_check()
        if problems:
            raise harness.HarnessError("the oracle disagrees with the "
                                       "simulator: %s" % problems)
        # The incident the event opened is part of the truth: values of
        # the cycle under way then may predate it. Checked are the values
        # after that cycle, once three more cycles have sent theirs.
        def after(n):
            ends = [e for e, _, up in cycles(read_csv_tree(
                cls.daemon, ACCOUNT), cls.truth) if e > accepted]
            return ends if len(ends) >= n else None
        cls.since = harness.wait_until(lambda: after(4), 60, interval=0.2,
                                       message="four cycles")[0] + 0.001

    def setUp(self):
        # For harness's failure report.
        self._artifacts = [p for p in self.parts if hasattr(p, "describe")]

    def failure_report(self):
        return "\n".join(a.describe() for a in self._artifacts)

    # -- item: every series in both stores -----------------------------------
    def notify_expected(self):
        """The Notify block's series as the simulator's request log tells
        them: events accepted, attempts refused, nothing left."""
        events = [r for r in self.sim.requests()
                  if r["path"] == "/v2/enqueue"]
        sent = sum(1 for r in events if 200 <= r["status"] < 300)
        retried = sum(1 for r in events if r["status"] >= 500)
        self.assertEqual((sent, retried), (1, 1), events)
        prefix = "%s/pagerduty-notify-%s/" % (HOST, NOTIFY)
        values = {"NOTIFY_SENT": sent, "NOTIFY_RETRIED": retried,
                  "NOTIFY_FAILED": 0, "NOTIFY_DROPPED": 0,
                  "NOTIFY_PENDING": 0, "NOTIFY_OLDEST": 0}
        # Names and types from the table of series; a series it gains
        # needs its value here (KeyError).
        return {prefix + "%s-%s" % (s.type, s.name()): values[s.id]
                for s in series.of("notify")}

    def wait_store(self, name, read, expected_notify):
        """Waits until the store has every truth series, every api-*
        series, and the Notify block's latest values; returns its rows."""
        wanted_api = {api_id(self.truth, ti) for ti in (
            "api-requests", "api-errors", "api-throttled", "api-latency",
            "api-ratelimit_remaining", "api-up", "api-cycle")}
        last = {}

        def complete():
            rows, notify_rows = read()
            last.update(rows=rows, notify=notify_rows)
            res = compare_rows(self.truth, rows, since=self.since)
            latest = {i: r[-1][1] for i, r in notify_rows.items() if r}
            return rows if not res.missing and wanted_api <= set(rows) \
                and latest == expected_notify else None
        try:
            return harness.wait_until(complete, 60, interval=0.5,
                                      message="every series in " + name)
        except AssertionError as e:
            res = compare_rows(self.truth, last.get("rows", {}),
                               since=self.since)
            raise AssertionError("%s\n%s\napi-* missing: %s\nnotify: %s" % (
                e, res.describe(), sorted(wanted_api - set(last.get(
                    "rows", {}))), {i: r[-1:] for i, r in
                                    last.get("notify", {}).items()}))

    def check_store(self, name, read):
        expected_notify = self.notify_expected()
        rows = self.wait_store(name, read, expected_notify)
        res = compare_rows(self.truth, rows, since=self.since)
        self.assertTrue(res.ok, "%s: %s" % (name, res.describe()))
        self.assertGreater(res.checked, len(self.truth.identifiers()))
        up = rows[api_id(self.truth, "api-up")]
        self.assertEqual(up[-1][1], 1, name)
        return rows

    def test_every_series_arrives_in_both_stores(self):
        graphite = self.check_store("Graphite", lambda: (
            stores.graphite_rows(self.web, HOST, "pagerduty-" + ACCOUNT),
            stores.graphite_rows(self.web, HOST, "pagerduty-notify-" +
                                 NOTIFY)))
        influx = self.check_store("InfluxDB", lambda: (
            stores.influx_rows(self.influx, HOST, ACCOUNT),
            stores.influx_rows(self.influx, HOST, "notify-" + NOTIFY)))
        # The documented names, spelled out for one series of each kind.
        names = self.web.find("collectd.%s.pagerduty-%s.*" % (HOST, ACCOUNT))
        self.assertIn("count-services-critical", names)
        self.assertIn("duration-incidents-oldest_triggered", names)
        self.assertIn("gauge-api-up", names)
        self.assertEqual(self.web.find("collectd.%s.pagerduty-notify-%s.*"
                                       % (HOST, NOTIFY)),
                         sorted(["derive-dropped", "derive-failed", "derive-retried",
                                 "derive-sent", "duration-oldest",
                                 "queue_length-pending"]))
        measurements = sorted(v[0] for s in self.influx.query(
            "SHOW MEASUREMENTS") for v in s["values"])
        self.assertEqual([m for m in measurements
                          if m.startswith("pagerduty")],
                         ["pagerduty_seconds", "pagerduty_value"])
        tags = self.influx.query(
            'SHOW TAG VALUES FROM "pagerduty_value" WITH KEY = "instance"')
        self.assertEqual(sorted(v[1] for v in tags[0]["values"]),
                         [ACCOUNT, "notify-" + NOTIFY])
        # Both stores hold the same series.
        self.assertEqual(sorted(graphite), sorted(influx))
        self.assertEqual(self.daemon.errors(contains=None), [])

    # -- item: the dashboards ---------------------------------------------------
    def dashboard(self, store):
        with open(os.path.join(GRAFANA_DIR, "pagerduty-%s.json" % store)) \
                as f:
            return json.load(f)

    def test_dashboards_are_what_the_generator_writes(self):
        spec = importlib.util.spec_from_file_location(
            "make_dashboards", os.path.join(GRAFANA_DIR, "make_dashboards.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, text in module.dashboards().items():
            with open(os.path.join(GRAFANA_DIR, name)) as f:
                self.assertEqual(f.read(), text, "%s is not what "
                                 "make_dashboards.py writes: run it" % name)

    def test_every_dashboard_panel_answers(self):
        for store in ("graphite", "influxdb"):
            with self.subTest(store=store):
                self.check_dashboard(store, self.dashboard(store))

    def check_dashboard(self, store, board):
        self.assertGreaterEqual(board["schemaVersion"], 39)
        variables = board["templating"]["list"]
        self.assertEqual([(v["name"], v["type"]) for v in variables], [
            ("datasource", "datasource"), ("host", "query"),
            ("account", "query"), ("notify", "query")])
        self.assertEqual(variables[0]["query"], store)
        rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
        self.assertEqual(rows, ["Now", "On call", "Escalation",
                                "Plugin health"])

        values = self.expand_variables(store, variables)
        # Grafana's default is each variable's first value (sort 1) and
        # "All" for a multi-value one: here the plugin's own host/account.
        self.assertEqual(values["host"], HOST)
        self.assertEqual(values["account"], ACCOUNT)
        self.assertEqual(values["notify"], [NOTIFY])

        panels = [p for p in board["panels"] if p["type"] != "row"]
        self.assertGreaterEqual(len(panels), 15)
        empty = []
        for panel in panels:
            self.assertEqual(panel["datasource"]["uid"], "${datasource}",
                             panel["title"])
            self.assertTrue(panel["targets"], panel["title"])
            for target in panel["targets"]:
                query = target["target" if store == "graphite" else "query"]
                expanded = interpolate(query, values, variables, store)
                self.assertNotIn("$", expanded.replace("$/", "").replace(
                    "$'", ""), expanded)
                # A rate (derivative per time bucket) needs values in two
                # buckets: the values keep coming every Interval, so a
                # query that has no answer yet is asked again, bounded.
                try:
                    harness.wait_until(
                        lambda: self.answers(store, expanded), 60,
                        interval=1, message=expanded)
                except AssertionError:
                    empty.append("%s [%s]: %s" % (panel["title"],
                                                  target["refId"], expanded))
        self.assertEqual(empty, [], "%s panels without an answer" % store)

    def expand_variables(self, store, variables):
        """Each query variable's values, as Grafana computes them: its
        query (earlier variables expanded) sent to the store, its regex
        applied (group 1 when there is one), sorted; multi-value ones keep
        all (All), others the first."""
        values = {}
        for var in variables:
            if var["type"] != "query":
                continue
            query = var["query"]["target"] if store == "graphite" \
                else var["query"]
            query = interpolate(query, values, variables, store)
            if store == "graphite":
                found = self.web.find(query)
            else:
                found = [v[1] for s in self.influx.query(query)
                         for v in s["values"]]
            if var["regex"]:
                rx = js_regex(var["regex"])
                kept = []
                for text in found:
                    m = rx.search(text)
                    if m:
                        kept.append(m.group(1) if m.groups() else text)
                found = kept
            found = sorted(set(found))
            self.assertTrue(found, "variable %s: no values for %s"
                            % (var["name"], query))
            values[var["name"]] = found if var["multi"] or \
                var["includeAll"] else found[0]
        return values

    def answers(self, store, query):
        """Does the store answer the query with at least one value?"""
        if store == "graphite":
            series = self.web.render([query], since="-15min", max_points=300)
            return any(v is not None for s in series
                       for v, _ in s["datapoints"])
        return any(row[1] is not None for s in self.influx.query(query)
                   for row in s["values"])


def js_regex(text):
    """A Grafana variable regex (/pattern/flags) as a Python regex."""
    m = re.fullmatch(r"/(.*)/([a-z]*)", text, re.S)
    return re.compile(m.group(1), re.I if "i" in m.group(2) else 0)


# What Grafana puts for its built-in variables when the dashboard shows the
# last 15 minutes (InfluxDB; Graphite gets from/until as parameters).
INFLUX_BUILTINS = {"timeFilter": "time >= now() - 15m", "__interval": "10s"}


def interpolate(text, values, variables, store):
    """Expands $name and ${name} as Grafana does for the data source: a
    multi-value variable as a Graphite glob {a,b} or an InfluxQL regex
    alternation (a|b) of regex-escaped values; a single-value one as is."""
    multi = {v["name"] for v in variables if v.get("multi") or
             v.get("includeAll")}

    def value(m):
        name = m.group(1) or m.group(2)
        if store == "influxdb" and name in INFLUX_BUILTINS:
            return INFLUX_BUILTINS[name]
        if name not in values:
            return m.group(0)
        v = values[name]
        if name not in multi:
            return v
        if store == "graphite":
            return v[0] if len(v) == 1 else "{%s}" % ",".join(v)
        escaped = [re.escape(x) for x in v]
        return escaped[0] if len(escaped) == 1 else \
            "(%s)" % "|".join(escaped)
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", value, text)


def main():
    harness.skip_if_sanitizers()
    missing = stores.missing_programs()
    if missing:
        print("SKIP: not installed: %s (contrib/test.sh installs them)"
              % " ".join(missing))
        sys.exit(77)
    harness.main()


if __name__ == "__main__":
    main()
