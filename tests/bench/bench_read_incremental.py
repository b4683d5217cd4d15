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
        [--full-cycles 2]

For each mode a fresh simulator (`large`, --latency, --churn; its default
--log-delay 30) and collectd with one Account (Interval --interval,
SlowInterval 3600; Collect incidents, then Collect services incidents: the
every-Interval collections; schedules and the rest are read every
SlowInterval and cost the same in both modes). Per cycle, from the
simulator's request log: the requests the plugin made and the time from
its first request to its last answer's arrival (split_cycles says where a
cycle starts). Prints requests of the first and of steady cycles, wall
time, and requests per minute against PagerDuty's 960: requests of the
steady cycles over the time from the first steady cycle's start to the end
of the last one (a cycle longer than the Interval delays the next).
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


def plugin_requests(sim):
    return sorted((r for r in sim.requests() if r["token_kind"] == "user"),
                  key=lambda r: r["time"])


def page0(r, path):
    return r["path"] == path and \
        (r.get("query") or {}).get("offset", ["0"])[:1] == ["0"]


def split_cycles(requests, marker):
    """[[first request time, last request time, [requests]]]. A cycle
    starts with the first page of `marker` (GET /services with
    FullSyncInterval 0: every cycle lists them first; else GET
    /log_entries, which the first cycle, a full read, does not ask, and
    which comes first in the later cycles of a run: the services are then
    listed only every SlowInterval and with a full read, neither of which
    comes due within the run but as a fallback, after the log); what comes
    before the first marker (GET /users/me) belongs to the first cycle."""
    out = []
    for r in requests:
        if not out or (page0(r, marker) and (
                marker == "/log_entries" or
                any(page0(x, marker) for x in out[-1][2]))):
            out.append([r["time"], r["time"], [r]])
        else:
            out[-1][1] = r["time"]
            out[-1][2].append(r)
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


def report(title, reqs, marker, skip, count, corrections):
    cyc = split_cycles(reqs, marker)
    first, steady = cyc[0], cyc[1 + skip:1 + skip + count]
    print(title)
    print("  first cycle (full read): %d requests, %.1f s  %s"
          % (len(first[2]), first[1] - first[0], kinds(first[2])))
    for n, c in enumerate(cyc[1:1 + skip] + steady):
        print("  cycle %2d: %3d requests, %5.2f s  %s"
              % (n + 2, len(c[2]), c[1] - c[0], kinds(c[2])))
    if not steady:
        return
    span = steady[-1][1] - steady[0][0]
    n = sum(len(c[2]) for c in steady)
    print("  steady: %.1f requests, %.2f s a cycle (mean, max %.2f s); %.0f "
          "requests/minute of 960%s"
          % (n / len(steady), sum(c[1] - c[0] for c in steady) / len(steady),
             max(c[1] - c[0] for c in steady), n * 60.0 / max(span, 1e-9),
             "" if corrections is None
             else "; api-resync_corrections %s" % corrections))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latency", type=int, default=250)
    ap.add_argument("--churn", type=int, default=60)
    ap.add_argument("--interval", type=float, default=5)
    ap.add_argument("--cycles", type=int, default=10,
                    help="incremental cycles after the first")
    ap.add_argument("--full-cycles", type=int, default=2,
                    help="FullSyncInterval 0: cycles after the first")
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    workdir = harness.TempDir("pdbench-").path
    print("large, --latency %d ms, --churn %d/min, --log-delay 30 s, "
          "Interval %.0f s, SlowInterval 3600 s"
          % (args.latency, args.churn, args.interval))

    # The second incremental cycle still catches up the changes made
    # during the first (full) read: counted apart from the steady ones.
    for collect, marker in ((["incidents"], "/log_entries"),
                            (["services", "incidents"], "/log_entries")):
        def enough(reqs, started, marker=marker):
            return len(split_cycles(reqs, marker)) >= args.cycles + 2
        args.collect = collect
        reqs, corr = run(args, 3600, workdir, enough)
        report("FullSyncInterval 3600, Collect %s (steady: cycles 3 on):"
               % " ".join(collect), reqs, marker, 1, args.cycles - 1, corr)

    args.collect = ["services", "incidents"]

    def enough_full(reqs, started):
        return len(split_cycles(reqs, "/services")) >= args.full_cycles + 2
    reqs, _ = run(args, 0, workdir, enough_full)
    report("FullSyncInterval 0, Collect services incidents:", reqs,
           "/services", 0, args.full_cycles, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
