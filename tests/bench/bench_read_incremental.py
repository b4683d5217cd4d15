#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
bench_read_incremental.py - the plugin's incremental reads (FullSyncInterval
3600, the default) side by side with a full read every cycle
(FullSyncInterval 0), in one run, on the simulator's `large` account with
a WAN-like latency and a moving account. Run by hand (not in make check),
from a build:

    PD_BUILDDIR=/path/to/build /usr/bin/python3 tests/bench/bench_read_incremental.py
        [--latency 250] [--churn 60] [--interval 5] [--cycles 10]
        [--full-cycles 3] [--collect services --collect incidents]

For each mode a fresh simulator (`large`, --latency, --churn; its default
--log-delay 30) and collectd with one Account (Interval --interval,
SlowInterval 3600, Collect as given: by default services and incidents, the
every-Interval collections; schedules and the rest are read every
SlowInterval and cost the same in both modes). Per cycle, from the
simulator's request log: the requests the plugin made and the time from
its first to its last answer. A cycle is a run of requests with no gap
over 1.5 s (incremental cycles are short and an Interval apart); full-read
cycles that run back to back (longer than the Interval) are counted as
requests over the minutes they took. Prints requests of the first and of
steady cycles, wall time, and requests per minute against PagerDuty's 960.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402
from bench_read import MiniCollectd  # noqa: E402

ACCOUNT = "bench"
GAP_S = 1.5


def plugin_requests(sim):
    return sorted((r for r in sim.requests() if r["token_kind"] == "user"),
                  key=lambda r: r["time"])


def split_cycles(requests):
    """[(first request time, last request time, [requests])] by gaps."""
    out = []
    for r in requests:
        if out and r["time"] - out[-1][1] <= GAP_S:
            out[-1][1] = r["time"]
            out[-1][2].append(r)
        else:
            out.append([r["time"], r["time"], [r]])
    return out


def kinds(reqs):
    made = {}
    for r in reqs:
        path = r["path"].split("?")[0]
        made[path] = made.get(path, 0) + 1
    return made


def run(args, full_sync, workdir, until_requests_for):
    extra = ["--latency", str(args.latency), "--churn", str(args.churn)]
    with harness.Simulator(scenario="large", args=extra) as sim:
        token_path = os.path.join(workdir, "token-%d" % full_sync)
        harness.write_secret_file(token_path, sim.token)
        opts = [("TokenFile", token_path), ("URL", sim.url),
                ("Interval", args.interval), ("SlowInterval", 3600),
                ("FullSyncInterval", full_sync),
                ("MaxRequestsPerMinute", 960)]
        opts += [("Collect", c) for c in args.collect]
        sim.clear_requests()
        daemon = MiniCollectd(harness.plugin_block(
            harness.block("Account", ACCOUNT, opts)))
        try:
            started = time.time()
            harness.wait_until(lambda: until_requests_for(
                plugin_requests(sim), started), args.timeout, interval=1.0,
                message="cycles")
            reqs = plugin_requests(sim)
            corrections = daemon.value(
                "bench/pagerduty-%s/derive-api-resync_corrections" % ACCOUNT)
        finally:
            daemon.close()
    return reqs, corrections


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latency", type=int, default=250)
    ap.add_argument("--churn", type=int, default=60)
    ap.add_argument("--interval", type=float, default=5)
    ap.add_argument("--cycles", type=int, default=10,
                    help="incremental cycles after the first")
    ap.add_argument("--full-cycles", type=int, default=3,
                    help="FullSyncInterval 0: cycles after the first")
    ap.add_argument("--collect", action="append")
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    args.collect = args.collect or ["services", "incidents"]
    workdir = harness.TempDir("pdbench-").path

    # Incremental: the first cycle, then --cycles more (one more started,
    # so the last counted one is complete).
    def enough_incr(reqs, started):
        return len(split_cycles(reqs)) >= args.cycles + 2
    reqs, corr = run(args, 3600, workdir, enough_incr)
    cyc = split_cycles(reqs)[:args.cycles + 1]
    first, steady = cyc[0], cyc[1:]
    print("large, --latency %d ms, --churn %d/min, Interval %.0f s, Collect %s"
          % (args.latency, args.churn, args.interval, " ".join(args.collect)))
    print("FullSyncInterval 3600 (incremental):")
    print("  first cycle (full read): %d requests, %.1f s  %s"
          % (len(first[2]), first[1] - first[0], kinds(first[2])))
    for n, c in enumerate(steady):
        print("  cycle %2d: %3d requests, %5.2f s  %s"
              % (n + 2, len(c[2]), c[1] - c[0], kinds(c[2])))
    span = steady[-1][1] - steady[0][0] + args.interval
    n_steady = sum(len(c[2]) for c in steady)
    print("  steady: %.1f requests, %.2f s a cycle (mean); %.0f requests/"
          "minute of 960; resync corrections %s"
          % (n_steady / len(steady),
             sum(c[1] - c[0] for c in steady) / len(steady),
             n_steady * 60.0 / span, corr))

    # Full read every cycle: cycles run back to back once they are longer
    # than the Interval; requests per cycle from the count of /log_entries-
    # free cycles is not possible, so: total over time after the first.
    def enough_full(reqs, started):
        return (len(reqs) > 0 and
                reqs[-1]["time"] - reqs[0]["time"] >
                args.full_cycles * 60 + 60)
    reqs, _ = run(args, 0, workdir, enough_full)
    services_pages = [r for r in reqs if r["path"].startswith("/services")]
    # each cycle starts with its GET /services pages (offset 0 first)
    starts = [r["time"] for r in services_pages
              if "0" in (r.get("query") or {}).get("offset", ["0"])[:1]]
    print("FullSyncInterval 0 (full read every cycle):")
    for n, (a, b) in enumerate(zip(starts, starts[1:])):
        inside = [r for r in reqs if a <= r["time"] < b]
        print("  cycle %2d: %3d requests, %5.1f s" % (n + 1, len(inside),
                                                      b - a))
    if len(starts) >= 3:
        a, b = starts[1], starts[-1]
        inside = [r for r in reqs if a <= r["time"] < b]
        print("  steady: %.0f requests/minute of 960"
              % (len(inside) * 60.0 / (b - a)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
