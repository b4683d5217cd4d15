#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
bench_memory.py - where the memory of collectd with the plugin goes on the
simulator's `large` scenario. Run by hand (not part of make check), from a
build:

    PD_BUILDDIR=/path/to/build /usr/bin/python3 tests/bench/bench_memory.py
        [--interval 60] [--parts native,massif,pad] [--pad-factor 10]

Parts (each starts its own simulator; they can run as separate commands):

  native  collectd run natively, VmHWM / VmRSS and /proc/PID/smaps split
          into the heap of the main arena ([heap]), other anonymous memory
          (the malloc arenas of collectd's threads, thread stacks, large
          mmap'd blocks) and file-backed pages (the libraries' code):
            idle        collectd with logfile + unixsock only;
            cache       the same after PUTVAL of every identifier the
                        plugin dispatched (collectd's value cache for those
                        series, without the plugin);
            init        the plugin with an Account whose URL refuses
                        connections (curl_global_init, OpenSSL, the plugin's
                        configuration; no data);
            plugin      the plugin on `large`, Interval = SlowInterval,
                        after the first and the second cycle;
            arena1      the same, MALLOC_ARENA_MAX=1 (one malloc arena for
                        all threads), first cycle.
  massif  collectd with the plugin under valgrind --tool=massif for one
          cycle of `large` (then SIGTERM); every heap allocation is charged
          to the first frame of its stack (from the allocation outwards)
          that belongs to an owner: libcurl/OpenSSL, yajl, the plugin (by
          source file and function), collectd's value cache (uc_*),
          collectd's write queue (plugin_write_enqueue...), the rest of
          collectd, the dynamic loader. Figures: at the heap's peak, and
          retained after the cycle (the last snapshot before SIGTERM).
  pad     the plugin on `large` behind a proxy that adds a padding field
          to every item of every list answer, so each response is
          --pad-factor times larger; VmHWM against the same proxy without
          padding, natively (VmHWM) and under massif (the plugin's, yajl's
          and libcurl's own largest heap). A streaming parser's peak does
          not follow the size.
  tls     the plugin on `large` over HTTPS (the simulator with a test CA;
          CACert the system's CA bundle with the test CA appended, so
          OpenSSL loads as many certificates as against PagerDuty):
          natively, and under massif as above.

Environment: PD_SRCDIR, PD_BUILDDIR, PDSIM, COLLECTD, PD_PLUGIN_DIR as for
the integration tests (harness.py).
"""

import argparse
import collections
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402

ACCOUNT = "bench"
CYCLE_ID = "bench/pagerduty-%s/duration-api-cycle" % ACCOUNT
UP_ID = "bench/pagerduty-%s/gauge-api-up" % ACCOUNT
MIB = 1024.0


# --------------------------------------------------------------------------
# collectd


class Daemon:
    """collectd -f with logfile, unixsock and optionally the plugin; argv
    may be prefixed (valgrind)."""

    def __init__(self, plugin_config=None, env_extra=None, prefix=()):
        self.dir = tempfile.mkdtemp(prefix="pdmem-", dir="/tmp")
        self.sock = os.path.join(self.dir, "collectd.sock")
        self.log = os.path.join(self.dir, "collectd.log")
        q = harness.quote
        lines = [
            "Hostname \"bench\"", "FQDNLookup false",
            "BaseDir %s" % q(self.dir),
            "PIDFile %s" % q(os.path.join(self.dir, "pid")),
            "Interval 10", "TypesDB %s" % q(harness.TYPES_DB),
            "PluginDir %s" % q(harness.SYSTEM_PLUGIN_DIR),
            "LoadPlugin logfile", "<Plugin logfile>",
            "  File %s" % q(self.log), "  LogLevel \"info\"", "</Plugin>",
            "LoadPlugin unixsock", "<Plugin unixsock>",
            "  SocketFile %s" % q(self.sock), "</Plugin>",
        ]
        if plugin_config is not None:
            lines += ["PluginDir %s" % q(harness.PLUGIN_DIR),
                      "LoadPlugin pagerduty",
                      "PluginDir %s" % q(harness.SYSTEM_PLUGIN_DIR),
                      plugin_config]
        self.conf = os.path.join(self.dir, "collectd.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        env = {k: v for k, v in os.environ.items() if k != harness.TOKEN_ENV}
        env.update(env_extra or {})
        self.started = time.time()
        self.proc = harness._spawn(
            list(prefix) + [harness.COLLECTD, "-f", "-C", self.conf],
            cwd=self.dir, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        def up():
            if self.proc.poll() is not None:
                with open(self.log) as f:
                    sys.exit("collectd exited:\n" + f.read())
            return os.path.exists(self.sock)
        harness.wait_until(up, 300, interval=0.5, message="collectd's socket")

    @property
    def pid(self):
        return self.proc.pid

    def listval(self):
        return harness.UnixSock(self.sock, timeout=120).listval()

    def wait_cycles(self, n, timeout):
        """Until the plugin finished n cycles (n distinct times of its
        api-cycle value), then until the write queue is drained (the
        number of values stops changing)."""
        seen = set()

        def done():
            for t, ident in self.listval():
                if ident == CYCLE_ID:
                    seen.add(t)
            return len(seen) >= n
        harness.wait_until(done, timeout, interval=1,
                           message="%d plugin cycles" % n)
        return self.wait_settled()

    def wait_settled(self):
        counts = []

        def settled():
            counts.append(len(self.listval()))
            return len(counts) >= 3 and counts[-1] == counts[-2] == counts[-3]
        harness.wait_until(settled, 300, interval=1, message="values settle")
        return counts[-1]

    def stop(self):
        if self.proc is not None:
            harness._terminate(self.proc, 600)
            self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


CA_FILE = None  # the tls part: the system's CA bundle + the test CA


def account_config(url, token_path, interval):
    extra = [("CACert", CA_FILE)] if CA_FILE else []
    return harness.plugin_block(harness.block("Account", ACCOUNT, [
        ("TokenFile", token_path), ("URL", url), ("Interval", interval),
        ("SlowInterval", interval)] + extra))


# --------------------------------------------------------------------------
# /proc


def memory(pid):
    """KiB: VmHWM, VmRSS and RSS by kind of mapping from smaps."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(rest.split()[0])
    heap = anon = files = 0
    libs = collections.Counter()
    name = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            head = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                name = head[5] if len(head) > 5 else ""
            elif head and head[0] == "Rss:":
                kib = int(head[1])
                if name == "[heap]":
                    heap += kib
                elif name == "" or name.startswith("["):
                    anon += kib  # arenas, stacks, mmap'd blocks
                else:
                    files += kib
                    libs[os.path.basename(name).split(".so")[0]] += kib
    out.update(heap=heap, anon=anon, files=files, libs=libs)
    return out


def fmt_mem(m):
    return ("VmHWM %6.1f  VmRSS %6.1f  = [heap] %5.1f + other anon %5.1f"
            " + file-backed %5.1f MiB"
            % (m["VmHWM"] / MIB, m["VmRSS"] / MIB, m["heap"] / MIB,
               m["anon"] / MIB, m["files"] / MIB))


# --------------------------------------------------------------------------
# value cache without the plugin: PUTVAL over unixsock


def type_sizes():
    sizes = {}
    with open(harness.TYPES_DB) as f:
        for line in f:
            parts = line.split(None, 1)
            if len(parts) == 2 and not parts[0].startswith("#"):
                sizes[parts[0]] = parts[1].count(":") // 3
    return sizes


def putval_all(sock, identifiers):
    """PUTVAL every identifier once, pipelined on one connection in batches
    (unixsock answers each line in order)."""
    sizes = type_sizes()
    failed = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(120)
        s.connect(sock)
        f = s.makefile("r", encoding="utf-8", errors="replace")
        for i in range(0, len(identifiers), 200):
            batch = identifiers[i:i + 200]
            lines = []
            for ident in batch:
                typ = ident.rsplit("/", 1)[1].split("-", 1)[0]
                vals = ":".join(["N"] + ["1"] * sizes.get(typ, 1))
                lines.append('PUTVAL "%s" interval=60 %s\n' % (ident, vals))
            s.sendall("".join(lines).encode())
            for _ in batch:
                if not f.readline().startswith("0 "):
                    failed += 1
    return failed


# --------------------------------------------------------------------------
# massif


OWNER_LIBS = (("libcurl/OpenSSL", re.compile(
    r"/lib(curl|ssl|crypto|nghttp2|idn2|psl|ssh|rtmp|gssapi|krb5|k5crypto|"
    r"ldap|lber|brotli|zstd|z|sasl2|gnutls|unistring|keyutils)[.-]")),
    ("yajl (the plugin's parser)", re.compile(r"/libyajl\.")),
    ("dynamic loader", re.compile(r"/ld-linux")))
PLUGIN_FRAME = re.compile(r"^(\S+) \(((?:pagerduty|pd_\w+)\.c):\d+\)$")
COLLECTD_QUEUE = re.compile(
    r"plugin_write_enqueue|plugin_value_list_clone|plugin_dispatch_values|"
    r"meta_data_clone")


def classify(path):
    """(category, detail) of an allocation from its stack, allocation site
    first. Frames without a symbol (stripped code of collectd, libcurl or
    yajl called by the plugin) are passed over; the first named frame
    decides, and when that is the plugin's HTTP or JSON layer after such
    frames the allocation is libcurl's or yajl's."""
    unnamed = False
    for n, frame in enumerate(path):
        desc = frame.split(": ", 1)[-1]
        if desc.startswith("???") and "(in /usr/sbin/" not in desc \
                and "/lib" not in desc:
            unnamed = True
            continue
        m = PLUGIN_FRAME.match(desc)
        if m:
            if unnamed and m.group(2) == "pd_http.c":
                return "libcurl/OpenSSL", "called from " + m.group(1)
            if unnamed and m.group(2) == "pd_json.c":
                return "yajl (the plugin's parser)", ""
            names = [mm.group(1) for mm in
                     (PLUGIN_FRAME.match(f.split(": ", 1)[-1])
                      for f in path[n:n + 3]) if mm]
            return "the plugin", "%s: %s" % (m.group(2), " < ".join(names))
        for name, rx in OWNER_LIBS:
            if rx.search(desc):
                return name, ""
        if "(in /usr/sbin/" in desc:
            fn = desc.split(" ", 1)[0]
            if fn == "???":
                continue
            if fn == "uc_get_names":  # LISTVAL's copy of the names
                return "LISTVAL (this script's polling)", fn
            if fn.startswith("uc_") or fn.startswith("c_avl"):
                return "collectd value cache", fn
            if COLLECTD_QUEUE.search(fn):
                return "collectd write queue", fn
            return "collectd other", fn
    return "other (libc, threads)", ""


def parse_massif(path):
    """[(time_ms, heap_B, extra_B, {(category, detail): bytes})]."""
    snaps = []
    with open(path) as f:
        lines = f.read().splitlines()
    i = 0
    cur = None
    while i < len(lines):
        line = lines[i]
        if line.startswith("snapshot="):
            cur = {"cats": collections.Counter()}
            snaps.append(cur)
        elif cur is not None and "=" in line and not line.startswith(" ") \
                and not line.startswith("n"):
            k, _, v = line.partition("=")
            cur[k] = v
        elif cur is not None and re.match(r"^ *n\d+: ", line):
            # the tree: depth = indentation; leaves charge their path
            stack = []
            while i < len(lines) and re.match(r"^ *n\d+: ", lines[i]):
                l = lines[i]
                depth = len(l) - len(l.lstrip(" "))
                m = re.match(r"^ *n(\d+): (\d+) ?(.*)$", l)
                children, nbytes, desc = int(m.group(1)), int(m.group(2)), \
                    m.group(3)
                del stack[depth:]
                stack.append(desc)
                if children == 0 and depth > 0:
                    cur["cats"][classify(stack[1:])] += nbytes
                i += 1
            continue
        i += 1
    return [(int(s.get("time", 0)), int(s.get("mem_heap_B", 0)),
             int(s.get("mem_heap_extra_B", 0)), s["cats"]) for s in snaps]


def by_category(cats):
    out = collections.Counter()
    for (cat, _), b in cats.items():
        out[cat] += b
    return out


def report_massif(snaps, end_ms):
    peak = max(snaps, key=lambda s: s[1])
    before = [s for s in snaps if s[0] <= end_ms]
    kept = before[-1] if before else snaps[-1]
    pc, kc = by_category(peak[3]), by_category(kept[3])
    cmax = collections.Counter()
    for s in snaps:
        for cat, b in by_category(s[3]).items():
            cmax[cat] = max(cmax[cat], b)
    print("massif: heap at its peak (t=%.1f s) and retained after the cycle "
          "(t=%.1f s), MiB" % (peak[0] / 1000, kept[0] / 1000))
    print("%-30s %10s %10s %12s" % ("owner", "at peak", "retained",
                                     "own maximum"))
    for cat in sorted(cmax, key=lambda c: -cmax[c]):
        print("%-30s %10.2f %10.2f %12.2f" % (
            cat, pc[cat] / 2**20, kc[cat] / 2**20, cmax[cat] / 2**20))
    print("%-30s %10.2f %10.2f" % ("heap total (requested)",
                                    peak[1] / 2**20, kept[1] / 2**20))
    print("%-30s %10.2f %10.2f" % ("allocator overhead (massif)",
                                    peak[2] / 2**20, kept[2] / 2**20))
    mine = max(snaps, key=lambda s: by_category(s[3])["the plugin"])
    for label, snap in (("at the plugin's own maximum (t=%.1f s)"
                         % (mine[0] / 1000), mine), ("retained", kept)):
        print("the plugin's largest owners %s:" % label)
        rows = sorted(((b, d) for (c, d), b in snap[3].items()
                       if c == "the plugin"), reverse=True)[:8]
        for b, d in rows:
            print("    %8.2f MiB  %s" % (b / 2**20, d))


# --------------------------------------------------------------------------
# padding proxy


class PadProxy:
    """Forwards GET to the simulator; with factor > 1 every dict in a
    top-level list of the answer gets a "pd_bench_pad" string so the body
    is about factor times larger."""

    def __init__(self, upstream, factor):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                req = urllib.request.Request(
                    upstream + self.path,
                    headers={k: v for k, v in self.headers.items()
                             if k.lower() in ("accept", "authorization",
                                              "from", "user-agent")})
                try:
                    with urllib.request.urlopen(req, timeout=120) as r:
                        status, headers, body = r.status, r.headers, r.read()
                except urllib.error.HTTPError as e:
                    status, headers, body = e.code, e.headers, e.read()
                if status == 200 and factor > 1:
                    body = proxy.pad(body)
                proxy.largest = max(proxy.largest, len(body))
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in ("content-length", "connection",
                                         "transfer-encoding", "date",
                                         "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.factor = factor
        self.largest = 0
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def pad(self, body):
        doc = json.loads(body)
        items = [x for v in doc.values() if isinstance(v, list)
                 for x in v if isinstance(x, dict)]
        if items:
            n = (self.factor - 1) * len(body) // len(items)
            for x in items:
                x["pd_bench_pad"] = "x" * n
            body = json.dumps(doc).encode()
        return body

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------
# parts


def part_native(sim, token_path, args):
    results = {}
    daemon = Daemon(account_config(sim.url, token_path, args.interval))
    try:
        daemon.wait_cycles(1, args.interval + 600)
        results["plugin, after cycle 1"] = memory(daemon.pid)
        n = daemon.wait_cycles(2, 2 * args.interval + 600)
        results["plugin, after cycle 2"] = memory(daemon.pid)
        idents = [i for _, i in daemon.listval()]
    finally:
        daemon.close()
    print("the plugin's values: %d identifiers" % len(idents))

    daemon = Daemon(None)
    try:
        daemon.wait_settled()
        results["idle (no plugin)"] = memory(daemon.pid)
        failed = putval_all(daemon.sock, idents)
        n = daemon.wait_settled()
        results["idle + PUTVAL of the plugin's %d series" % n] = \
            memory(daemon.pid)
        print("PUTVAL: %d identifiers refused" % failed)
    finally:
        daemon.close()

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = "http://127.0.0.1:%d" % s.getsockname()[1]
    daemon = Daemon(account_config(closed, token_path, args.interval))
    try:
        harness.wait_until(lambda: any(i == UP_ID for _, i in
                                       daemon.listval()),
                           300, interval=1, message="api-up")
        daemon.wait_settled()
        results["plugin, no PagerDuty (init only)"] = memory(daemon.pid)
    finally:
        daemon.close()

    daemon = Daemon(account_config(sim.url, token_path, args.interval),
                    env_extra={"MALLOC_ARENA_MAX": "1"})
    try:
        daemon.wait_cycles(1, args.interval + 600)
        results["plugin, MALLOC_ARENA_MAX=1, cycle 1"] = memory(daemon.pid)
    finally:
        daemon.close()

    print("native (KiB from /proc/PID/status and smaps, shown in MiB):")
    for k, m in results.items():
        print("  %-44s %s" % (k, fmt_mem(m)))
    idle = results["idle (no plugin)"]["libs"]
    init = results["plugin, no PagerDuty (init only)"]["libs"]
    grown = sorted(((init[k] - idle[k], k) for k in init), reverse=True)
    print("file-backed pages the plugin's libraries add (init only - idle):")
    print("  " + ", ".join("%s %.2f" % (k, d / MIB) for d, k in grown
                           if d >= 100) + " MiB")


def massif_cycle(url, token_path, args, workdir, name="massif.out"):
    """One cycle of the plugin against url under massif; (snapshots, time
    in ms of the end of the cycle)."""
    out = os.path.join(workdir, name)
    prefix = [harness.VALGRIND or "valgrind", "--tool=massif",
              "--massif-out-file=" + out, "--time-unit=ms",
              "--detailed-freq=1", "--max-snapshots=200", "--depth=40",
              "--threshold=0.01"]
    # one cycle only: the next is an hour away
    daemon = Daemon(account_config(url, token_path, max(args.interval, 3600)),
                    prefix=prefix)
    try:
        daemon.wait_cycles(1, 1800)
        end_ms = (time.time() - daemon.started) * 1000 - 2000
    finally:
        daemon.close()
    if args.keep:
        keep = os.path.join(tempfile.gettempdir(), "pdmem-" + name)
        shutil.copy(out, keep)
        print("massif output kept in", keep)
    return parse_massif(out), end_ms


def part_massif(sim, token_path, args, workdir):
    report_massif(*massif_cycle(sim.url, token_path, args, workdir))


def part_pad(sim, token_path, args, workdir):
    rows = []
    for factor in (1, args.pad_factor):
        proxy = PadProxy(sim.url, factor)
        try:
            native = one_cycle_memory(proxy.url, token_path, args)
            snaps, _ = massif_cycle(proxy.url, token_path, args, workdir,
                                    "massif-pad%d.out" % factor)
        finally:
            proxy.close()
        own = max(by_category(s[3])["the plugin"] for s in snaps)
        parser = max(by_category(s[3])["yajl (the plugin's parser)"]
                     for s in snaps)
        curl = max(by_category(s[3])["libcurl/OpenSSL"] for s in snaps)
        rows.append((factor, proxy.largest, native, own, parser, curl))
    print("responses padded (a filler field in every list item), one cycle:")
    print("  %-7s %13s %9s %11s %10s %12s" % (
        "factor", "largest KiB", "VmHWM MiB", "plugin MiB", "yajl MiB",
        "libcurl MiB"))
    for factor, largest, m, own, parser, curl in rows:
        print("  x%-6d %13.1f %9.1f %11.2f %10.2f %12.2f" % (
            factor, largest / 1024.0, m["VmHWM"] / MIB, own / 2**20,
            parser / 2**20, curl / 2**20))


def one_cycle_memory(url, token_path, args):
    """collectd's memory (memory()) after one read cycle against url; the
    Interval is long enough that no second cycle starts meanwhile."""
    daemon = Daemon(account_config(url, token_path, max(args.interval, 3600)))
    try:
        daemon.wait_cycles(1, 1800)
        return memory(daemon.pid)
    finally:
        daemon.close()


def part_tls(sim, token_path, args, workdir):
    native = one_cycle_memory(sim.url, token_path, args)
    print("HTTPS (CACert: the system bundle + the test CA), one cycle:")
    print("  native: %s" % fmt_mem(native))
    report_massif(*massif_cycle(sim.url, token_path, args, workdir,
                                "massif-tls.out"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--interval", type=float, default=60)
    ap.add_argument("--parts", default="native,massif,pad,tls")
    ap.add_argument("--pad-factor", type=int, default=10)
    ap.add_argument("--keep", action="store_true",
                    help="keep massif's output file")
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="pdmem-", dir="/tmp")
    try:
        global CA_FILE
        for part in args.parts.split(","):
            tls = None
            if part == "tls":
                tls = harness.make_test_ca(os.path.join(workdir, "ca"))
                CA_FILE = os.path.join(workdir, "ca-bundle.pem")
                with open(CA_FILE, "w") as out:
                    for path in ("/etc/ssl/certs/ca-certificates.crt",
                                 tls.ca_cert):
                        with open(path) as f:
                            out.write(f.read())
            with harness.Simulator(scenario="large", tls=tls) as sim:
                token_path = os.path.join(workdir, "token")
                harness.write_secret_file(token_path, sim.token)
                print("== %s" % part, flush=True)
                if part == "native":
                    part_native(sim, token_path, args)
                elif part == "massif":
                    part_massif(sim, token_path, args, workdir)
                elif part == "tls":
                    part_tls(sim, token_path, args, workdir)
                elif part == "pad":
                    part_pad(sim, token_path, args, workdir)
                else:
                    sys.exit("unknown part %r" % part)
                sys.stdout.flush()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    main()
