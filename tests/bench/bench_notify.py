#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
bench_notify.py - how fast collectd notifications reach PagerDuty, and what
they cost collectd while they do. Run by hand (not part of make check):

    /usr/bin/python3 tests/bench/bench_notify.py            # full run
    /usr/bin/python3 tests/bench/bench_notify.py --quick    # a smaller one

after building (PD_PLUGIN_DIR / PD_BUILDDIR as for the daemon tests, see
tests/integration/harness.py). Prints three tables:

1. Notification callback latency. collectd runs notification callbacks
   synchronously in the thread that dispatched the notification; for
   PUTNOTIF that is the unixsock client thread, which answers only after
   every callback returned. So the PUTNOTIF round trip through unixsock,
   measured from outside, is the callbacks' cost plus a constant (the
   "no notification plugin" column). Three collectd daemons, one after the
   other, against the same simulator:
     - none:        collectd with no notification plugin (the constant);
     - pagerduty:   this plugin, a Notify block with a RoutingKey (every
                    sample a new problem, so each one is spooled);
     - write_http:  collectd's stock write_http plugin, <Node> with
                    Notifications true (5.12 posts notifications as JSON
                    whatever its Format), to the same endpoint.
   Each with PagerDuty reachable (answers in about a millisecond) and
   unreachable: every request hangs --hang seconds before being answered
   (the simulator's "hang" fault), as a blackholed network or an overloaded
   endpoint does until the client's timeout.
2. Time from a threshold crossing (PUTVAL of a value above FailureMax) to
   the incident existing in the simulator (its created_at), over the Events
   API and over REST.
3. Sustained delivery into one routing key limited to 120 events a minute
   (PagerDuty's Events API limit, enforced by the simulator): --events
   distinct problems at --rate a minute; how many arrive, once each, the
   429s met, and how long it took.
"""

import argparse
import http.client
import math
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import harness  # noqa: E402
from harness import (Collectd, Simulator, block, plugin_block,  # noqa: E402
                     threshold_config, wait_until)

ENQUEUE = "/v2/enqueue"


def percentile(samples, p):
    s = sorted(samples)
    return s[max(0, math.ceil(p / 100.0 * len(s)) - 1)]


def fmt_ms(seconds):
    ms = seconds * 1000.0
    return "%.2f" % ms if ms < 100 else "%.0f" % ms


def log(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class Bench:

    def __init__(self, args):
        self.args = args
        self.sim = None

    # -- setup ----------------------------------------------------------------
    def events_block(self, name="ev", **options):
        opts = [("RoutingKey", self.routing_key), ("EventsURL", self.sim.url)]
        opts += list(options.items())
        return block("Notify", name, opts)

    def write_http_config(self):
        return "\n".join([
            "LoadPlugin write_http",
            "<Plugin write_http>",
            '  <Node "slow">',
            '    URL "%s%s"' % (self.sim.url, ENQUEUE),
            '    Format "JSON"',
            "    Metrics false",
            "    Notifications true",
            "    Timeout %d" % int(self.args.write_http_timeout * 1000),
            "  </Node>",
            "</Plugin>"])

    def daemon(self, kind):
        if kind == "none":
            return Collectd("", load_plugin=False)
        if kind == "write_http":
            return Collectd("", load_plugin=False,
                            extra_config=self.write_http_config())
        return Collectd(plugin_block(self.events_block()))

    # -- 1. callback latency --------------------------------------------------
    def endpoint_round_trip(self, n=50):
        """What one POST to the endpoint takes on a kept-alive connection,
        as write_http sends it (for reading table 1)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.sim.port,
                                          timeout=10)
        out = []
        try:
            for _ in range(n):
                started = time.perf_counter()
                conn.request("POST", ENQUEUE, body=b'[{"severity":"OKAY"}]',
                             headers={"Content-Type": "application/json"})
                conn.getresponse().read()
                out.append(time.perf_counter() - started)
        finally:
            conn.close()
        return statistics.median(out[1:])

    def putnotif_latencies(self, daemon, n, tag):
        sock = daemon.sock
        out = []
        for i in range(n):
            line = ("PUTNOTIF severity=failure time=%d host=bench plugin=app "
                    "type=gauge type_instance=%s-%d message=\"bench problem "
                    "%d\"" % (time.time(), tag, i, i))
            started = time.perf_counter()
            sock.putnotif_raw(line)
            out.append(time.perf_counter() - started)
        return out

    def callback_latency(self):
        rows = []
        for state in ("reachable", "unreachable"):
            for kind in ("none", "pagerduty", "write_http"):
                self.sim.clear_faults()
                if state == "unreachable":
                    self.sim.add_fault("hang", count=-1, path=ENQUEUE,
                                       seconds=self.args.hang)
                slow = state == "unreachable" and kind == "write_http"
                n = self.args.slow_samples if slow else self.args.samples
                log("latency: %s, PagerDuty %s, %d samples" % (kind, state,
                                                               n))
                with self.daemon(kind) as daemon:
                    # Warm up (connections, first spool files).
                    self.putnotif_latencies(daemon, 3, "warm-%s" % state)
                    samples = self.putnotif_latencies(daemon, n, state)
                    # collectd's own unixsock sometimes fails to name a
                    # connection thread that already ended: not ours.
                    errors = len([e for e in daemon.errors(contains=None)
                                  if "set_thread_name" not in e])
                rows.append((state, kind, n, statistics.median(samples),
                             percentile(samples, 99), max(samples), errors))
        self.sim.clear_faults()
        return rows

    # -- 2. crossing to incident ----------------------------------------------
    def crossing_to_incident(self):
        token_dir = harness.TempDir("bench-token-")
        try:
            token = harness.write_secret_file(token_dir.join("token"),
                                              self.sim.token)
            conf = plugin_block(
                block("Account", "acme", [("TokenFile", token),
                                          ("URL", self.sim.url),
                                          ("Interval", 60),
                                          ("Collect", "services")]),
                self.events_block(Host="web01"),
                block("Notify", "rest", [("Host", "web02"),
                                         ("Service", self.service),
                                         ("Account", "acme")]))
            thresholds = "\n".join(threshold_config(host, FailureMax=90)
                                   for host in ("web01", "web02"))
            results = {}
            with Collectd(conf, threshold=thresholds) as daemon:
                for host, path in (("web01", "Events API"),
                                   ("web02", "REST")):
                    log("crossing to incident: %s, %d samples"
                        % (path, self.args.crossings))
                    results[path] = self.crossings(daemon, host)
                errors = daemon.errors()
            return results, errors
        finally:
            token_dir.close()

    def crossings(self, daemon, host):
        out = []
        for i in range(self.args.crossings):
            ident = "%s/app-c%d/gauge-load" % (host, i)
            daemon.sock.putval(ident, 50, interval=harness.WATCHED_INTERVAL)
            started = time.time()
            daemon.sock.putval(ident, 95, interval=harness.WATCHED_INTERVAL)
            inc = wait_until(lambda: harness.incidents(self.sim, ident), 60,
                             interval=0.05, message="incident " + ident)[0]
            out.append(inc["created_at"] - started)
        return out

    # -- 3. sustained delivery under the Events API limit ---------------------
    def sustained(self):
        self.sim.control("POST", "/ratelimit", {"events_per_minute": 120})
        n, rate = self.args.events, self.args.rate
        keys = ["sustained-%03d" % i for i in range(n)]
        log("sustained: %d events at %d/min into one routing key limited "
            "to 120/min" % (n, rate))
        since = self.sim.requests()[-1]["seq"] if self.sim.requests() else 0
        with Collectd(plugin_block(self.events_block())) as daemon:
            pending = daemon.identifier("notify-ev", "queue_length",
                                        "pending")
            started = time.monotonic()
            max_pending = 0
            for i, key in enumerate(keys):
                due = started + i * 60.0 / rate
                while time.monotonic() < due:
                    time.sleep(min(0.05, due - time.monotonic()))
                daemon.sock.putnotif("sustained problem %d" % i,
                                     host="bench", plugin="app",
                                     type="gauge", type_instance=key,
                                     meta={"pagerduty_dedup_key": key})
            sending_took = time.monotonic() - started

            def delivered():
                nonlocal max_pending
                v = daemon.value(pending)
                if v is not None:
                    max_pending = max(max_pending, v)
                got = {i["incident_key"] for i in harness.incidents(
                    self.sim, service=self.service)} & set(keys)
                return len(got) == n or None
            try:
                wait_until(delivered, self.args.sustained_timeout,
                           interval=1.0, message="all sustained events")
                complete = True
            except AssertionError:
                complete = False
            drained = time.monotonic() - started
            requests = [r for r in self.sim.requests(since)
                        if r["path"] == ENQUEUE]
            errors = daemon.errors()
        per_key = {}
        for inc in harness.incidents(self.sim, service=self.service):
            if inc["incident_key"] in keys:
                per_key[inc["incident_key"]] = per_key.get(
                    inc["incident_key"], 0) + 1
        accepted = [r for r in requests if r["status"] == 202]
        return {
            "events": n, "rate": rate, "sending_s": sending_took,
            "complete": complete, "drained_s": drained,
            "incidents": len(per_key),
            "duplicates": sum(c - 1 for c in per_key.values()),
            "accepted": len(accepted),
            "throttled": len([r for r in requests if r["status"] == 429]),
            "max_pending": max_pending, "errors": errors,
            "effective_per_min": len(accepted) / drained * 60.0,
        }

    # -- the run --------------------------------------------------------------
    def run(self):
        with Simulator(scenario="demo") as sim:
            self.sim = sim
            self.routing_key = harness.routing_key(sim)
            self.service = harness.service_id(sim)
            # Tables 1 and 2 are about latency, not the Events API limit.
            sim.control("POST", "/ratelimit", {"events_per_minute": 100000})
            self.endpoint_rtt = self.endpoint_round_trip()
            latency = self.callback_latency()
            crossing, crossing_errors = self.crossing_to_incident()
            sustained = None if self.args.skip_sustained else \
                self.sustained()
        self.report(latency, crossing, crossing_errors, sustained)

    def report(self, latency, crossing, crossing_errors, sustained):
        a = self.args
        print("collectd-pagerduty notification benchmark")
        print("collectd %s, plugin %s, %d CPUs, load %.2f"
              % (harness.COLLECTD, harness.PLUGIN_DIR, os.cpu_count(),
                 os.getloadavg()[0]))
        print()
        print("1. Notification callback latency (PUTNOTIF round trip "
              "through unixsock, ms)")
        print("   reachable = the simulator answers a POST on a kept-alive "
              "connection in %s ms (median)" % fmt_ms(self.endpoint_rtt))
        print("   unreachable = every request to the endpoint hangs %g s; "
              "write_http Timeout %g s" % (a.hang, a.write_http_timeout))
        head = "   %-12s %-11s %7s %9s %9s %9s %7s" % (
            "PagerDuty", "plugin", "samples", "median", "p99", "max",
            "errors")
        print(head)
        print("   " + "-" * (len(head) - 3))
        for state, kind, n, med, p99, mx, errors in latency:
            print("   %-12s %-11s %7d %9s %9s %9s %7d" % (
                state, kind, n, fmt_ms(med), fmt_ms(p99), fmt_ms(mx),
                errors))
        print()
        print("2. Threshold crossing to incident in PagerDuty (ms; PUTVAL "
              "sent -> incident created_at)")
        print("   %-11s %7s %9s %9s %9s" % ("path", "samples", "median",
                                          "p99", "max"))
        for path, samples in crossing.items():
            print("   %-11s %7d %9s %9s %9s" % (
                path, len(samples), fmt_ms(statistics.median(samples)),
                fmt_ms(percentile(samples, 99)), fmt_ms(max(samples))))
        if crossing_errors:
            print("   collectd logged errors: %s" % crossing_errors[:3])
        if sustained is not None:
            s = sustained
            print()
            print("3. Sustained delivery into one routing key limited to "
                  "120 events/min")
            print("   %d distinct problems sent at %d/min (took %.0f s)"
                  % (s["events"], s["rate"], s["sending_s"]))
            print("   incidents opened:        %d of %d%s" % (
                s["incidents"], s["events"],
                "" if s["complete"] else "  (timed out waiting)"))
            print("   duplicate incidents:     %d" % s["duplicates"])
            print("   events accepted (202):   %d" % s["accepted"])
            print("   429 answers met:         %d" % s["throttled"])
            print("   largest queue seen:      %d" % s["max_pending"])
            print("   first sent -> last delivered: %.0f s (%.0f events/min)"
                  % (s["drained_s"], s["effective_per_min"]))
            print("   collectd ERROR lines:    %d" % len(s["errors"]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=500,
                   help="PUTNOTIF samples per cell (default 500)")
    p.add_argument("--slow-samples", type=int, default=10,
                   help="samples for write_http while the endpoint hangs "
                   "(each takes --hang seconds; default 10)")
    p.add_argument("--hang", type=float, default=2.0,
                   help="seconds each request hangs when unreachable "
                   "(default 2)")
    p.add_argument("--write-http-timeout", type=float, default=10.0,
                   help="write_http's Timeout, seconds (default 10)")
    p.add_argument("--crossings", type=int, default=30,
                   help="threshold crossings per path (default 30)")
    p.add_argument("--events", type=int, default=300,
                   help="events for the sustained run (default 300)")
    p.add_argument("--rate", type=int, default=300,
                   help="their rate, per minute (default 300)")
    p.add_argument("--sustained-timeout", type=float, default=900,
                   help="how long to wait for delivery, seconds")
    p.add_argument("--skip-sustained", action="store_true")
    p.add_argument("--quick", action="store_true",
                   help="--samples 100 --slow-samples 5 --crossings 10 "
                   "--events 150 --rate 300")
    args = p.parse_args()
    if args.quick:
        args.samples, args.slow_samples, args.crossings = 100, 5, 10
        args.events, args.rate = 150, 300
    Bench(args).run()


if __name__ == "__main__":
    main()
