#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
demo_graphs.py - the demo's values as Graphite graphs (contrib/demo.sh
--graphs DIR runs this after building).

Starts, on loopback and in temp dirs: the simulator's demo account, a real
carbon-cache with graphite-web in front of it (tests/integration/stores.py),
and the real collectd with the built plugin and write_graphite configured
as the README says. Then it plays a short story while the values flow:

  - a high-urgency incident is triggered on "Internal Tools";
  - web01's disk crosses the threshold: the Notify block sends a trigger
    event (the first attempt is refused with a 503 and retried);
  - the incident is acknowledged, then resolved;

and writes PNGs drawn by graphite-web's render API into DIR:
  incidents.png   open incidents by status and urgency
  oncall.png      seconds to the next handoff, per schedule
  health.png      API requests per second and cycle duration
  notify.png      the Notify block's events sent and retried

Every wait is on a condition (plugin cycles, simulator requests), bounded.
Takes about two minutes. Run with Debian's /usr/bin/python3 (graphite-web
and its cairo binding are Debian packages).

    contrib/demo_graphs.py --out DIR [--plugin-dir DIR]
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

HOST = "demo"
ACCOUNT = "demo"
NOTIFY = "disk"
INTERVAL = 2
WATCHED = "web01/df-root/percent_bytes-used"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="directory for the PNGs")
    ap.add_argument("--plugin-dir", help="where pagerduty.so is "
                    "(default: build/plugin/.libs)")
    return ap.parse_args()


def main():
    args = parse_args()
    os.makedirs(args.out, exist_ok=True)
    os.environ["PD_PLUGIN_DIR"] = os.path.abspath(
        args.plugin_dir or os.path.join(HERE, "..", "build", "plugin",
                                        ".libs"))
    import harness  # after PD_PLUGIN_DIR: it is read at import
    import stores
    from truth import Truth, cycles, read_csv_tree

    missing = stores.missing_programs()
    missing = [m for m in missing if m != "influxdb"]
    if missing:
        sys.exit("demo_graphs: not installed: %s" % " ".join(missing))

    parts = []
    try:
        sim = harness.Simulator(scenario="demo").start()
        parts.append(sim)
        carbon = stores.Carbon()
        parts.append(carbon)
        carbon.start()
        web = stores.GraphiteWeb()
        parts.append(web)
        web.start(carbon)
        say("simulator, carbon-cache and graphite-web are up")

        tmp = harness.TempDir("pd-demo-graphs-")
        parts.append(tmp)
        token = harness.write_secret_file(tmp.join("token"), sim.token)
        account = harness.block("Account", ACCOUNT, [
            ("TokenFile", token), ("URL", sim.url),
            ("Interval", INTERVAL), ("SlowInterval", INTERVAL)])
        notify = harness.block("Notify", NOTIFY, [
            ("Host", "web01"), ("Plugin", "df"), ("Type", "percent_bytes"),
            ("RoutingKey", harness.routing_key(sim)),
            ("EventsURL", sim.url)])
        threshold = harness.threshold_config(
            host="web01", plugin="df", type_="percent_bytes",
            Instance="used", WarningMax=80, FailureMax=90)
        daemon = harness.Collectd(
            harness.plugin_block(account, notify), hostname=HOST,
            interval=INTERVAL, threshold=threshold,
            extra_config=stores.collectd_config(carbon.line_port, None,
                                                INTERVAL))
        parts.append(daemon)
        daemon.start()
        started = int(time.time())
        say("collectd is running with the plugin and write_graphite")

        truth = Truth(sim, account=ACCOUNT, host=HOST)

        def wait_cycles(n):
            start = len(cycles(read_csv_tree(daemon, ACCOUNT), truth))
            harness.wait_until(
                lambda: len(cycles(read_csv_tree(daemon, ACCOUNT), truth))
                >= start + n, 30 + 5 * n * INTERVAL, interval=0.5,
                message="%d plugin cycles" % n)

        wait_cycles(10)
        services = {s["name"]: s["id"] for s in sim.state()["services"]}
        incident = sim.add_incident(service_id=services["Internal Tools"],
                                    status="triggered", urgency="high",
                                    title="Checkout latency above 2 s")
        incident_id = (incident.get("incident") or incident).get("id")
        say("story: a high-urgency incident on Internal Tools")
        wait_cycles(8)

        sim.add_fault("status", status=503, path="/v2/enqueue")
        daemon.sock.putval(WATCHED, 95, interval=harness.WATCHED_INTERVAL)
        sim.wait_for_requests(lambda r: r["path"] == "/v2/enqueue" and
                              r["status"] == 202, timeout=60,
                              message="the disk alert delivered")
        say("story: web01's disk is full, PagerDuty has the alert")
        wait_cycles(8)

        for status in ("acknowledged", "resolved"):
            code, body = sim.rest("PUT", "/incidents/%s" % incident_id, body={
                "incident": {"type": "incident_reference",
                             "status": status}})
            if code != 200:
                raise harness.HarnessError("PUT /incidents: %s %s"
                                           % (code, body))
            say("story: the incident is %s" % status)
            wait_cycles(8)

        render(web, args.out, started)
        return 0
    finally:
        for part in reversed(parts):
            part.close() if hasattr(part, "close") else part.stop()


def render(web, out, started):
    p = "collectd.%s.pagerduty-%s" % (HOST, ACCOUNT)
    n = "collectd.%s.pagerduty-notify-%s" % (HOST, NOTIFY)
    style = {"width": 900, "height": 320, "bgcolor": "white",
             "fgcolor": "black", "majorGridLineColor": "#cccccc",
             "minorGridLineColor": "#eeeeee", "lineWidth": 2,
             "fontSize": 11, "hideLegend": "false", "yMin": 0}
    graphs = {
        "incidents.png": ("Open incidents by status and urgency", [
            "aliasSub(keepLastValue(%s.count-incidents-*-*), "
            "'^.*count-incidents-([^)]*).*$', '\\1')" % p]),
        "oncall.png": ("Seconds to the next handoff, per schedule", [
            "aliasSub(keepLastValue(%s.duration-schedule-*-next_handoff), "
            "'^.*schedule-(.*)-next_handoff.*$', '\\1')" % p]),
        "health.png": ("PagerDuty API: requests per second, cycle seconds", [
            # per 10 s, so that the one-second points do not zigzag
            "alias(scale(summarize(nonNegativeDerivative(keepLastValue("
            "%s.derive-api-requests)), '10s', 'sum', false), 0.1), "
            "'requests/s')" % p,
            "alias(keepLastValue(%s.duration-api-cycle), 'cycle (s)')" % p]),
        "notify.png": ("Notify block \"disk\": events sent and retried", [
            "alias(keepLastValue(%s.derive-sent), 'sent (total)')" % n,
            "dashed(alias(keepLastValue(%s.derive-retried), "
            "'retried (total)'))" % n]),
    }
    for name, (title, targets) in graphs.items():
        data = web.png(targets, since=str(started), title=title, **style)
        path = os.path.join(out, name)
        with open(path, "wb") as f:
            f.write(data)
        say("wrote %s (%d bytes)" % (path, len(data)))


def say(text):
    sys.stderr.write("==> %s\n" % text)
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
