#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
make_dashboards.py - writes the two Grafana dashboards of this directory
from one description, so that they show the same panels:

  pagerduty-graphite.json   collectd's write_graphite (Prefix "collectd.")
  pagerduty-influxdb.json   InfluxDB 1.x's collectd input

(names as README.md's "Sending the values to Graphite / InfluxDB" says).
Grafana dashboard JSON model, schemaVersion 39. Variables: datasource
(pick the Graphite or InfluxDB data source), host (collectd's Hostname),
account (an <Account> block), notify (the <Notify> blocks, multi-value).

    contrib/grafana/make_dashboards.py [DIR]     (default: this directory)

tests/integration/test_stores.py checks that the files are what this
script writes and sends every panel's query to real stores.
"""

import json
import os
import re
import sys

SCHEMA_VERSION = 39

# One series selection: (collectd type, type_instance regex with one group
# naming the entity or the thing shown; "" for a single series).
# Panels: (title, kind, unit, [(legend, type, type_instance pattern, how)]),
# how: "last" (the value) or "rate" (a counter's per-second rate); the
# pattern is a regex over type_instance whose group 1, when present, is the
# legend of each series.
ACCOUNT_ROWS = [
    ("Now", [
        ("Open incidents by status and urgency", "timeseries", "short", [
            ("count", r"incidents-((?:triggered|acknowledged)-(?:high|low))",
             "last")]),
        ("Oldest open incident", "stat", "s", [
            ("duration", r"incidents-oldest_(triggered|acknowledged)",
             "last")]),
        ("Services by status", "bargauge", "short", [
            ("count", r"services-(active|warning|critical|maintenance|"
             r"disabled)", "last")]),
        ("Services with the most triggered incidents", "top", "short", [
            ("count", r"service-(.+)-triggered", "last")]),
    ]),
    ("On call", [
        ("On call now, per schedule (0 = nobody)", "bargauge", "short", [
            ("count", r"schedule-(.+)-oncall", "last")]),
        ("Coverage of the coming window", "bargauge", "percent", [
            ("percent", r"schedule-(.+)-coverage", "last")]),
        ("Next gap in coverage", "bargauge", "s", [
            ("duration", r"schedule-(.+)-next_gap", "last")]),
        ("Next handoff", "bargauge", "s", [
            ("duration", r"schedule-(.+)-next_handoff", "last")]),
    ]),
    ("Escalation", [
        ("Uncovered levels per escalation policy", "bargauge", "short", [
            ("count", r"policy-(.+)-uncovered_levels", "last")]),
        ("On call at level 1, per escalation policy", "bargauge", "short", [
            ("count", r"policy-(.+)-oncall", "last")]),
    ]),
    ("Plugin health", [
        ("PagerDuty API up", "stat", "short", [
            ("gauge", r"api-(up)", "last")]),
        ("API requests, errors, throttled (per second)", "timeseries",
         "reqps", [
             ("derive", r"api-(requests)", "rate"),
             ("derive", r"api-(errors)", "rate"),
             ("derive", r"api-(throttled)", "rate")]),
        ("Cycle duration and request latency", "timeseries", "s", [
            ("duration", r"api-(cycle)", "last"),
            ("response_time", r"api-(latency)", "last")]),
        ("Rate limit remaining", "timeseries", "short", [
            ("gauge", r"api-(ratelimit_remaining)", "last")]),
    ]),
]

# Per Notify block (instance notify-<name>); the legend is the block's name.
NOTIFY_PANELS = [
    ("Notify: events queued", "timeseries", "short", [
        ("queue_length", "pending", "last")]),
    ("Notify: oldest undelivered event", "timeseries", "s", [
        ("duration", "oldest", "last")]),
    ("Notify: events sent (per second)", "timeseries", "ops", [
        ("derive", "sent", "rate")]),
    ("Notify: deliveries retried (per second)", "timeseries", "ops", [
        ("derive", "retried", "rate")]),
    ("Notify: events failed (per second)", "timeseries", "ops", [
        ("derive", "failed", "rate")]),
]


def is_literal(pattern):
    return all(c.isalnum() or c in "_-" for c in pattern)


# --------------------------------------------------------------------------
# Graphite


def graphite_glob(pattern):
    """A type_instance regex as a Graphite glob of one node: a group of
    alternatives becomes {a,b}, ".+" becomes *."""
    glob = pattern.replace("(?:", "(")
    glob = glob.replace(".+", "*")
    # innermost alternatives first: (a|b) -> {a,b}
    while True:
        new = re.sub(r"\(([^()]*)\)", lambda m: "{%s}" % m.group(1).replace(
            "|", ",") if "|" in m.group(1) else m.group(1), glob)
        if new == glob:
            break
        glob = new
    return glob


def graphite_target(plugin, type_, pattern, how):
    path = "collectd.$host.%s.%s-%s" % (plugin, type_,
                                         graphite_glob(pattern))
    if how == "rate":
        path = "perSecond(keepLastValue(%s))" % path
    if plugin.startswith("pagerduty-notify"):
        # Legend: the Notify block's name.
        regex = r"^.*\.pagerduty-notify-([^.]*)\.%s-%s\)*$" % (type_,
                                                                pattern)
        return "aliasSub(%s, '%s', '\\1')" % (path, regex)
    regex = r"^.*\.%s-%s\)*$" % (type_, pattern.replace(".+", "[^.]+"))
    return "aliasSub(%s, '%s', '\\1')" % (path, regex)


# --------------------------------------------------------------------------
# InfluxDB


def influx_query(instance, type_, pattern, how):
    measurement = "pagerduty_seconds" if type_ == "duration" \
        else "pagerduty_value"
    ti = ("\"type_instance\" = '%s'" % pattern if is_literal(pattern)
          else "\"type_instance\" =~ /^%s$/" % pattern)
    select = ('non_negative_derivative(last("value"), 1s)' if how == "rate"
              else 'last("value")')
    return ('SELECT %s FROM "%s" WHERE "host" =~ /^$host$/ AND '
            '"instance" =~ /^%s$/ AND "type" = \'%s\' AND %s AND $timeFilter '
            'GROUP BY time($__interval), "instance", "type_instance" '
            'fill(none)' % (select, measurement, instance, type_, ti))


# --------------------------------------------------------------------------
# The dashboard model

class Builder:
    def __init__(self, store):
        self.store = store
        self.ds = {"type": store, "uid": "${datasource}"}
        self.panels = []
        self.next_id = 1
        self.y = 0

    def new_id(self):
        self.next_id += 1
        return self.next_id - 1

    def row(self, title):
        self.panels.append({"type": "row", "id": self.new_id(),
                            "title": title, "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0,
                                        "y": self.y},
                            "panels": []})
        self.y += 1
        self.x = 0

    def target(self, ref, plugin, instance, type_, pattern, how, notify):
        if self.store == "graphite":
            return {"refId": ref, "datasource": self.ds,
                    "target": graphite_target(plugin, type_, pattern, how)}
        alias = "$tag_instance" if notify else "$tag_type_instance"
        return {"refId": ref, "datasource": self.ds, "rawQuery": True,
                "resultFormat": "time_series", "alias": alias,
                "query": influx_query(instance, type_, pattern, how)}

    def panel(self, title, kind, unit, series, notify=False):
        plugin = ("pagerduty-notify-$notify" if notify
                  else "pagerduty-$account")
        instance = "notify-$notify" if notify else "$account"
        targets = [self.target(chr(ord("A") + i), plugin, instance, t, p, h,
                               notify)
                   for i, (t, p, h) in enumerate(series)]
        width = 8 if kind != "timeseries" else 12
        if self.x + width > 24:
            self.x = 0
            self.y += 8
        p = {"id": self.new_id(), "title": title, "datasource": self.ds,
             "gridPos": {"h": 8, "w": width, "x": self.x, "y": self.y},
             "targets": targets,
             "fieldConfig": {"defaults": {"unit": unit, "min": 0},
                             "overrides": []}}
        self.x += width
        if self.store == "influxdb":
            # Legends as on the Graphite side: the entity, not the whole
            # type instance (Grafana's alias has no regex of its own).
            if notify:
                pattern = "^notify-(.+)$"
            elif all(pat.startswith("api-") for _, pat, _ in series):
                pattern = "^api-(.+)$"
            else:
                pattern = "^%s$" % series[0][1]
            if "(" in pattern:
                p["transformations"] = [{"id": "renameByRegex", "options": {
                    "regex": pattern, "renamePattern": "$1"}}]
        calcs = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                   "values": False}}
        if kind == "timeseries":
            p["type"] = "timeseries"
            p["options"] = {"legend": {"displayMode": "table",
                                       "placement": "bottom",
                                       "calcs": ["lastNotNull", "max"]},
                            "tooltip": {"mode": "multi"}}
            p["fieldConfig"]["defaults"]["custom"] = {
                "drawStyle": "line", "spanNulls": True, "fillOpacity": 10}
        elif kind == "stat":
            p["type"] = "stat"
            p["options"] = dict(calcs, colorMode="value", graphMode="area")
            if title.startswith("PagerDuty API up"):
                p["fieldConfig"]["defaults"]["mappings"] = [
                    {"type": "value", "options": {
                        "0": {"text": "DOWN", "color": "red"},
                        "1": {"text": "UP", "color": "green"}}}]
        else:
            p["type"] = "bargauge"
            p["options"] = dict(calcs, displayMode="basic",
                                orientation="horizontal", showUnfilled=True)
            if kind == "top":
                # The ten services with the most triggered incidents now.
                if self.store == "graphite":
                    t = p["targets"][0]
                    t["target"] = "highestCurrent(%s, 10)" % t["target"]
                else:
                    p["transformations"] = p.get("transformations", []) + [
                        {"id": "reduce", "options": {
                            "reducers": ["lastNotNull"], "mode": "seriesToRows"}},
                        {"id": "sortBy", "options": {
                            "sort": [{"field": "Last *", "desc": True}]}},
                        {"id": "limit", "options": {"limitField": 10}}]
                    p["options"]["reduceOptions"]["values"] = True
        if "uncovered" in title or title.startswith("Notify: events failed"):
            p["fieldConfig"]["defaults"]["thresholds"] = {
                "mode": "absolute", "steps": [
                    {"color": "green", "value": None},
                    {"color": "red", "value": 1 if "uncovered" in title
                     else 0.000001}]}
            p["fieldConfig"]["defaults"]["color"] = {"mode": "thresholds"}
        self.panels.append(p)

    def variables(self):
        if self.store == "graphite":
            def query(q):
                return {"queryType": "Default", "refId": "A", "target": q}
            host_q = query("collectd.*")
            account_q = query("collectd.$host.pagerduty-*")
            notify_q = query("collectd.$host.pagerduty-notify-*")
            account_re = "/^pagerduty-(?!notify-)(.+)$/"
            notify_re = "/^pagerduty-notify-(.+)$/"
        else:
            host_q = 'SHOW TAG VALUES FROM "pagerduty_value" WITH KEY = "host"'
            account_q = notify_q = (
                'SHOW TAG VALUES FROM "pagerduty_value" WITH KEY = '
                '"instance" WHERE "host" =~ /^$host$/')
            account_re = "/^(?!notify-)(.+)$/"
            notify_re = "/^notify-(.+)$/"

        def var(name, label, q, regex, multi=False):
            definition = q["target"] if isinstance(q, dict) else q
            return {"type": "query", "name": name, "label": label,
                    "datasource": self.ds, "query": q,
                    "definition": definition, "regex": regex, "refresh": 1,
                    "sort": 1, "multi": multi, "includeAll": multi,
                    "current": {}, "options": [], "hide": 0}
        return [
            {"type": "datasource", "name": "datasource",
             "label": "Data source", "query": self.store, "regex": "",
             "refresh": 1, "current": {}, "options": [], "hide": 0},
            var("host", "Host", host_q, ""),
            var("account", "Account", account_q, account_re),
            var("notify", "Notify block", notify_q, notify_re, multi=True),
        ]

    def dashboard(self):
        for title, panels in ACCOUNT_ROWS:
            self.row(title)
            for p in panels:
                self.panel(*p)
            if title == "Plugin health":
                for p in NOTIFY_PANELS:
                    self.panel(*p, notify=True)
            self.y += 8
        name = {"graphite": "Graphite", "influxdb": "InfluxDB"}[self.store]
        return {
            "title": "PagerDuty (collectd, %s)" % name,
            "uid": "collectd-pagerduty-%s" % self.store,
            "description": "PagerDuty as collectd-pagerduty reads it: "
                           "incidents, services, on-call, escalation and "
                           "the plugin's own health. Generated by "
                           "contrib/grafana/make_dashboards.py.",
            "tags": ["pagerduty", "collectd"],
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "editable": True,
            "graphTooltip": 1,
            "time": {"from": "now-6h", "to": "now"},
            "refresh": "1m",
            "timezone": "",
            "links": [],
            "annotations": {"list": []},
            "templating": {"list": self.variables()},
            "panels": self.panels,
        }


def dashboards():
    """{file name: JSON text} of both dashboards."""
    return {"pagerduty-%s.json" % store:
            json.dumps(Builder(store).dashboard(), indent=2,
                       sort_keys=True) + "\n"
            for store in ("graphite", "influxdb")}


def main(argv):
    out = argv[1] if len(argv) > 1 else os.path.dirname(
        os.path.abspath(__file__))
    for name, text in dashboards().items():
        with open(os.path.join(out, name), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main(sys.argv)
