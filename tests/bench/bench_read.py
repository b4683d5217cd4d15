#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
bench_read.py - what one read cycle of the simulator's `large` account
costs: requests, CPU, parse throughput, memory. Run by hand (not part of
make check), from a build:

    PD_BUILDDIR=/path/to/build /usr/bin/python3 tests/bench/bench_read.py
        [--interval 60] [--cycles 3] [--rounds 7] [--parse-only]
        [--corpus FILE]

Prints one table. What each line means:

  requests      per collection, requests the plugin made in one cycle
                (from the simulator's request log) against the fewest the
                scenario needs: one page of 100 (PagerDuty's maximum) per
                started hundred of teams, services, layer-based schedules,
                escalation policies, on-call entries now, open incidents
                and incidents created within TrendWindow, one page of
                shift-based schedules, and one detail request per schedule
                (GET /schedules/{id}, GET /v3/schedules/{id}: the listings
                never carry final schedules; tests/integration/truth.py,
                minimum_requests). The first cycle also asks GET /users/me
                once. ~500 requests a cycle: Interval 60 s stays inside the
                default MaxRequestsPerMinute 600.
  CPU           seconds of CPU per cycle: collectd's reader threads (they
                run nothing but this plugin's read callback here) from
                /proc/<pid>/task/<tid>/stat, sampled every 0.2 s and cut at
                the start of each cycle; and the whole process, against an
                idle collectd with the same configuration minus the plugin
                over the same time. Steady-state cycles (every collection
                refreshed: SlowInterval = Interval), the first one apart.
  parse         MB/s of the plugin's incident parser (pd_parse_buffer,
                streaming, entities to a callback) on GET /incidents pages
                of this account, against yajl tokenising the same bytes
                without callbacks (the ceiling any yajl-based parser has)
                and yajl_tree_parse (a document tree), best of --rounds
                (tests/bench/bench_parse.c, built here with gcc against the
                build's libpdcore.a and yajl). --parse-only measures this
                alone, without running collectd (about a minute).
  memory        VmHWM (peak resident set) of collectd with the plugin after
                the first cycle and after the measured ones (no growth: no
                leak per cycle), against the idle collectd. The difference
                is everything loading the plugin brings: its collections,
                libcurl and OpenSSL, and collectd's own value cache of the
                ~12,750 series it dispatches.

collectd runs with logfile and unixsock only (no csv: writing ~12,750
files a cycle would measure the csv plugin).

Environment: PD_SRCDIR, PD_BUILDDIR (default: the source tree), PDSIM,
COLLECTD, PD_PLUGIN_DIR as for the integration tests (harness.py).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402
import truth as truthlib  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
ACCOUNT = "bench"


# --------------------------------------------------------------------------
# collectd, minimal


class MiniCollectd:
    """collectd -f with logfile, unixsock and (optionally) the plugin."""

    def __init__(self, plugin_config, load_plugin=True):
        self.dir = tempfile.mkdtemp(prefix="pdbench-", dir="/tmp")
        self.sock = os.path.join(self.dir, "collectd.sock")
        self.log = os.path.join(self.dir, "collectd.log")
        lines = [
            "Hostname \"bench\"", "FQDNLookup false",
            "BaseDir %s" % harness.quote(self.dir),
            "PIDFile %s" % harness.quote(os.path.join(self.dir, "pid")),
            "Interval 10", "TypesDB %s" % harness.quote(harness.TYPES_DB),
            "PluginDir %s" % harness.quote(harness.SYSTEM_PLUGIN_DIR),
            "LoadPlugin logfile", "<Plugin logfile>",
            "  File %s" % harness.quote(self.log), "  LogLevel \"info\"",
            "</Plugin>",
            "LoadPlugin unixsock", "<Plugin unixsock>",
            "  SocketFile %s" % harness.quote(self.sock), "</Plugin>",
        ]
        if load_plugin:
            lines += ["PluginDir %s" % harness.quote(harness.PLUGIN_DIR),
                      "LoadPlugin pagerduty",
                      "PluginDir %s" % harness.quote(
                          harness.SYSTEM_PLUGIN_DIR),
                      plugin_config]
        self.conf = os.path.join(self.dir, "collectd.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        env = {k: v for k, v in os.environ.items()
               if k != harness.TOKEN_ENV}
        self.proc = harness._spawn([harness.COLLECTD, "-f", "-C", self.conf],
                                   cwd=self.dir, env=env,
                                   stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        harness.wait_until(lambda: os.path.exists(self.sock), 30,
                           message="collectd's socket")

    @property
    def pid(self):
        return self.proc.pid

    def value(self, identifier):
        values = harness.UnixSock(self.sock).getval(identifier)
        return None if values is None else next(iter(values.values()))

    def close(self):
        harness._terminate(self.proc, 20)
        shutil.rmtree(self.dir, ignore_errors=True)


def thread_cpu(pid):
    """{tid: (name, cpu seconds)} of a process's threads."""
    out = {}
    task = "/proc/%d/task" % pid
    for tid in os.listdir(task):
        try:
            with open(os.path.join(task, tid, "comm")) as f:
                name = f.read().strip()
            with open(os.path.join(task, tid, "stat")) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime and stime: fields 14 and 15 of stat, 12 and 13 after ")"
        out[tid] = (name, (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return out


def process_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


class CpuSampler(threading.Thread):
    """Samples (time, reader threads' CPU, process CPU, VmHWM KiB) every
    0.2 s."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.samples = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                threads = thread_cpu(self.pid)
                reader = sum(c for name, c in threads.values()
                             if name.startswith("reader"))
                self.samples.append((time.time(), reader,
                                     process_cpu(self.pid),
                                     vm_hwm_kib(self.pid)))
            except (OSError, ValueError):
                pass
            self.stop.wait(0.2)

    def at(self, t):
        """The last sample taken before t."""
        before = [s for s in self.samples if s[0] <= t]
        return before[-1] if before else self.samples[0]


# --------------------------------------------------------------------------
# Steps


def build_bench_parse(workdir):
    src = os.path.join(HERE, "bench_parse.c")
    lib = os.path.join(harness.BUILDDIR, ".libs", "libpdcore.a")
    if not os.path.exists(lib):
        sys.exit("bench_read: %s not found (build first; set PD_BUILDDIR)"
                 % lib)
    exe = os.path.join(workdir, "bench_parse")
    argv = ["gcc", "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror",
            "-DHAVE_CONFIG_H", "-I/usr/include/collectd",
            ] + ["-I" + os.path.join(harness.SRCDIR, "plugin", room)
                 for room in ("core", "read", "notify")] + [src, lib,
            "-lyajl", "-lcurl", "-lm", "-lpthread", "-o", exe]
    subprocess.run(argv, check=True)
    return exe, " ".join(argv)


def incident_corpus(sim, token, path):
    """GET /incidents pages of the open incidents (date_range=all, 100 a
    page, up to the 10,000 offset cap) written as "<len>\\n<body>"."""
    pages = 0
    total = 0
    with open(path, "wb") as out:
        offset = 0
        while offset + truthlib.PAGE <= 10000:
            query = urllib.parse.urlencode(
                [("statuses[]", "triggered"), ("statuses[]", "acknowledged"),
                 ("date_range", "all"), ("limit", truthlib.PAGE),
                 ("offset", offset)])
            req = urllib.request.Request(
                sim.url + "/incidents?" + query,
                headers={"Accept": harness.PAGERDUTY_ACCEPT,
                         "Authorization": "Token token=" + token})
            with urllib.request.urlopen(req, timeout=60) as resp:
                body = resp.read()
            out.write(b"%d\n" % len(body))
            out.write(body)
            pages += 1
            total += len(body)
            if not json.loads(body)["more"]:
                break
            offset += truthlib.PAGE
    return pages, total


def run_parse_bench(exe, corpus, rounds):
    out = subprocess.run([exe, corpus, str(rounds)], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    result = {}
    for line in out.splitlines():
        parts = line.split()
        if parts[0] in ("plugin", "yajl", "yajl_tree"):
            result[parts[0]] = (float(parts[1]), float(parts[2]),
                                int(parts[3]))
        elif parts[0] == "documents":
            result["documents"] = (int(parts[1]), int(parts[3]))
    return result


def cycle_starts(requests, interval):
    """Start times of the plugin's cycles: the first request after a quiet
    stretch of a third of the interval."""
    starts = []
    last = None
    for r in sorted(requests, key=lambda r: r["time"]):
        if last is None or r["time"] - last > min(5.0, interval / 3):
            starts.append(r["time"])
        last = r["time"]
    return starts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--interval", type=float, default=60)
    ap.add_argument("--cycles", type=int, default=3,
                    help="steady-state cycles measured after the first")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--parse-only", action="store_true",
                    help="only the JSON parse throughput (no collectd run): "
                    "the corpus from the simulator, then bench_parse")
    ap.add_argument("--corpus", metavar="FILE",
                    help="write the GET /incidents pages to FILE and keep "
                    "it (to profile bench_parse on them by hand)")
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="pdbench-", dir="/tmp")
    daemon = idle = None
    try:
        exe, gcc_line = build_bench_parse(workdir)
        with harness.Simulator(scenario="large") as sim:
            truth = truthlib.Truth(sim, account=ACCOUNT, host="bench")
            minimum = truthlib.minimum_requests(
                truth, truthlib.oncall_entries_now(truth))
            key = truth._account_key()

            corpus = args.corpus or os.path.join(workdir, "incidents.pages")
            pages, size = incident_corpus(sim, key, corpus)
            parse = run_parse_bench(exe, corpus, args.rounds)
            if args.parse_only:
                print_parse(args, parse)
                print("bench_parse built with: %s" % gcc_line)
                return

            token_path = os.path.join(workdir, "token")
            harness.write_secret_file(token_path, sim.token)
            account = harness.block("Account", ACCOUNT, [
                ("TokenFile", token_path), ("URL", sim.url),
                ("Interval", args.interval),
                ("SlowInterval", args.interval)])
            sim.clear_requests()
            daemon = MiniCollectd(harness.plugin_block(account))
            sampler = CpuSampler(daemon.pid)
            sampler.start()
            # first cycle + the measured ones + the start of one more
            needed = args.cycles + 2
            harness.wait_until(
                lambda: len(cycle_starts([r for r in sim.requests()
                                          if r["token_kind"] == "user"],
                                         args.interval)) >= needed,
                args.interval * (needed + 1) + 120, interval=0.5,
                message="%d cycles" % needed)
            time.sleep(0.5)
            sampler.stop.set()
            sampler.join()
            hwm_plugin = vm_hwm_kib(daemon.pid)
            up = daemon.value("bench/pagerduty-%s/gauge-api-up" % ACCOUNT)
            cycle_s = daemon.value("bench/pagerduty-%s/duration-api-cycle"
                                   % ACCOUNT)
            wall = sampler.samples[-1][0] - sampler.samples[0][0]
            requests = [r for r in sim.requests()
                        if r["token_kind"] == "user"]
            daemon.close()
            daemon = None

        starts = cycle_starts(requests, args.interval)
        per_cycle = []
        for a, b in zip(starts, starts[1:]):
            made = {}
            for r in requests:
                if a <= r["time"] < b:
                    kind = truthlib.request_kind(r["path"])
                    made[kind] = made.get(kind, 0) + 1
            s0, s1 = sampler.at(a), sampler.at(b)
            per_cycle.append((made, s1[1] - s0[1], s1[2] - s0[2]))
        first, steady = per_cycle[0], per_cycle[1:args.cycles + 1]
        # The running maximum of the samples: the kernel updates the
        # high-water mark lazily, so single readings may dip.
        def peak_before(t):
            return max(s[3] for s in sampler.samples if s[0] <= t)
        hwm_first = peak_before(starts[1])
        hwm_by_cycle = [peak_before(b) for b in starts[1:]]
        hwm_plugin = max(hwm_plugin, max(s[3] for s in sampler.samples))

        # The idle baseline: same daemon without the plugin, same time.
        idle = MiniCollectd("", load_plugin=False)
        c0 = process_cpu(idle.pid)
        time.sleep(min(wall, 30))
        idle_cpu_per_s = (process_cpu(idle.pid) - c0) / min(wall, 30)
        hwm_idle = vm_hwm_kib(idle.pid)
        idle.close()
        idle = None

        print_report(args, minimum, first, steady, parse, pages, size,
                     (hwm_first, hwm_plugin, hwm_by_cycle), hwm_idle,
                     idle_cpu_per_s, up,
                     cycle_s, gcc_line)
    finally:
        for d in (daemon, idle):
            if d is not None:
                d.close()
        shutil.rmtree(workdir, ignore_errors=True)


def print_parse(args, parse):
    docs, nbytes = parse["documents"]
    print("JSON parse of %d GET /incidents pages (%.1f MB), best of %d:"
          % (docs, nbytes / 1e6, args.rounds))
    print("%-24s %10s %12s %10s" % ("parser", "MB/s", "s/round",
                                     "incidents"))
    for name in ("plugin", "yajl", "yajl_tree"):
        mbs, secs, ents = parse[name]
        print("%-24s %10.1f %12.4f %10s" % (name, mbs, secs,
                                              ents if ents else "-"))
    print("%-24s %10.2f" % ("plugin / bare yajl", parse["plugin"][0]
                            / parse["yajl"][0]))


def print_report(args, minimum, first, steady, parse, pages, size,
                 hwm, hwm_idle, idle_cpu_per_s, up, cycle_s, gcc_line):
    def mean(xs):
        return sum(xs) / len(xs) if xs else float("nan")

    print("collectd-pagerduty read benchmark: simulator scenario `large`, "
          "Interval = SlowInterval = %g s" % args.interval)
    print("api-up %s, last api-cycle %.2f s" % (up, cycle_s or 0))
    print()
    print("%-26s %10s %10s %10s" % ("requests per cycle", "first",
                                     "steady", "minimum"))
    steady_made = steady[-1][0] if steady else {}
    paths = sorted(set(minimum) | set(first[0]) | set(steady_made))
    for p in paths:
        print("%-26s %10d %10d %10s" % (
            "GET " + p, first[0].get(p, 0), steady_made.get(p, 0),
            minimum.get(p, "-")))
    total_min = sum(minimum.values())
    print("%-26s %10d %10d %10d" % ("total", sum(first[0].values()),
                                     sum(steady_made.values()), total_min))
    print()
    print("%-40s %10s" % ("CPU per cycle (s)", ""))
    print("%-40s %10.2f" % ("  first cycle, reader thread", first[1]))
    print("%-40s %10.2f" % ("  steady cycles, reader thread (mean)",
                            mean([c[1] for c in steady])))
    print("%-40s %10.2f" % ("  steady cycles, whole collectd (mean)",
                            mean([c[2] for c in steady])))
    print("%-40s %10.3f" % ("  idle collectd, same span",
                            idle_cpu_per_s * args.interval))
    print()
    print_parse(args, parse)
    print()
    print("%-40s %10s" % ("peak memory (VmHWM)", "MiB"))
    hwm_first, hwm_plugin, hwm_by_cycle = hwm
    print("%-40s %10.1f" % ("  with the plugin, after the first cycle",
                            hwm_first / 1024))
    print("%-40s %10.1f" % ("  with the plugin, after %d more"
                            % len(steady), hwm_plugin / 1024))
    print("%-40s %10.1f" % ("  collectd without it", hwm_idle / 1024))
    print("%-40s %10.1f" % ("  difference", (hwm_plugin - hwm_idle) / 1024))
    print("  with the plugin, at the end of each cycle: %s"
          % " ".join("%.1f" % (k / 1024) for k in hwm_by_cycle))
    print()
    print("bench_parse built with: %s" % gcc_line)


if __name__ == "__main__":
    main()
