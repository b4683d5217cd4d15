#!/usr/bin/python3
"""
demo_watch.py - the live part of contrib/demo.sh.

contrib/demo.sh starts the simulator and collectd; this script watches and
drives them:
  - every couple of seconds it lists the pagerduty values collectd has
    (unixsock LISTVAL/GETVAL) and prints them as a table;
  - it plays a threshold story: it feeds collectd a disk usage value for
    host "web01" (PUTVAL web01/df-root/percent_bytes-used) - 42 %, then
    95 % (over FailureMax: the threshold plugin sends FAILURE, the Notify
    block triggers a PagerDuty incident), holds it (a "still failing" note),
    then 40 % (OKAY: the incident is resolved) - and shows what the
    simulator's PagerDuty account did.

--once: stop after one full cycle and exit 0 when collectd loaded the plugin
and the plugin reached the simulator, 1 otherwise. Never prints a token or
routing key.
"""

import argparse
import os
import re
import sys
import time

SRCDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "integration"))

from harness import Simulator, UnixSock, UnixSockError  # noqa: E402

DISK = "web01/df-root/percent_bytes-used"
DEDUP_KEY = "web01/df-root/percent_bytes-used"   # the default DedupKey
# How the logfile plugin logs a notification.
NOTIFICATION_RE = re.compile(r"Notification: severity = (\w+), host = ([^,]*),"
                             r".* message = (.*)$")


def say(text=""):
    print(text, flush=True)


def fmt_time(t):
    return time.strftime("%H:%M:%S", time.localtime(t))


class Demo:
    def __init__(self, args):
        self.args = args
        self.sock = UnixSock(args.socket)
        self.sim = Simulator.attach(args.sim)
        self.seen_values = False
        self.story = []          # what happened, for the final summary
        self.incident_events = set()
        self.last_notification = None
        self.repeats = 0

    # -- collectd ----------------------------------------------------------------
    def collectd_alive(self):
        try:
            os.kill(self.args.collectd_pid, 0)
            return True
        except OSError:
            return False

    def log_text(self):
        try:
            with open(self.args.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def plugin_loaded(self):
        return 'plugin "pagerduty" successfully loaded' in self.log_text()

    def pagerduty_values(self):
        """{identifier: {ds: value}} of every pagerduty value collectd has."""
        out = {}
        for _t, ident in self.sock.listval():
            if ident.split("/")[1].startswith("pagerduty"):
                values = self.sock.getval(ident)
                if values is not None:
                    out[ident] = values
        return out

    def feed_disk(self, percent):
        self.sock.putval(DISK, percent, interval=self.args.interval)

    # -- display -------------------------------------------------------------------
    def print_table(self, values):
        if not values:
            say("  (no pagerduty values yet)")
            return
        say("  %-34s %-36s %s" % ("host/plugin", "type-instance", "value"))
        for ident in sorted(values):
            host, plugin, type_part = ident.split("/")
            v = next(iter(values[ident].values()))
            if type_part.startswith("derive-"):
                shown = "%.3g/s" % v if v == v else "(rate after 2 values)"
            else:
                shown = "%.4g" % v
            say("  %-34s %-36s %s" % (host + "/" + plugin, type_part, shown))

    def report_log(self, seen):
        """Prints the plugin's new ERROR/WARNING lines and the collectd
        notifications the logfile plugin logged (the threshold plugin's
        FAILURE/OKAY). Returns how many lines were considered."""
        lines = self.log_text().splitlines()
        for line in lines[seen:]:
            m = NOTIFICATION_RE.search(line)
            if m and m.groups() == self.last_notification:
                self.repeats += 1    # Persist true: the same, every interval
            elif m:
                self.flush_repeats()
                self.last_notification = m.groups()
                say("  collectd notification %s from %s: %s"
                    % (m.group(1), m.group(2), m.group(3)))
            elif "pagerduty plugin" in line and ("[error]" in line or
                                                 "[warning]" in line):
                say("  log: " + line)
        return len(lines)

    def flush_repeats(self):
        if self.repeats:
            say("  (the same notification %d more time%s)"
                % (self.repeats, "s" if self.repeats > 1 else ""))
        self.repeats = 0

    # -- the simulator ---------------------------------------------------------------
    def reached_simulator(self):
        return any(r["path"] == "/users/me" and r["auth"] == "ok"
                   for r in self.sim.requests())

    def incident(self):
        """The simulator's incident for our dedup key (the newest), with
        its notes, or None."""
        found = [i for i in self.sim.state()["incidents"]
                 if i.get("incident_key") == DEDUP_KEY]
        return found[-1] if found else None

    def events_received(self):
        return [r for r in self.sim.requests() if r["path"] == "/v2/enqueue"]

    def note(self, text):
        self.story.append(text)
        say("==> " + text)

    def watch_incident(self):
        """Reports the incident's changes; returns it."""
        inc = self.incident()
        if inc is None:
            return None
        key = ("opened", inc["id"])
        if key not in self.incident_events:
            self.incident_events.add(key)
            self.note("PagerDuty incident #%s opened (%s, urgency %s): %s"
                      % (inc["number"], inc["status"], inc["urgency"],
                         inc["title"]))
        for n in inc.get("notes", []):
            key = ("note", n["id"])
            if key not in self.incident_events:
                self.incident_events.add(key)
                self.note("note on #%s: %s" % (inc["number"], n["content"]))
        if inc["status"] == "resolved" and \
                ("resolved", inc["id"]) not in self.incident_events:
            self.incident_events.add(("resolved", inc["id"]))
            self.note("incident #%s resolved%s" % (
                inc["number"], ": " + inc["resolution"]
                if inc.get("resolution") else ""))
        return inc

    # -- the run -----------------------------------------------------------------------
    def run(self):
        a = self.args
        start = time.monotonic()
        phase, phase_started = "normal", start
        log_seen = 0
        last_feed = 0.0
        last_table = 0.0
        disk = 42
        while True:
            now = time.monotonic()
            if not self.collectd_alive():
                say("collectd is not running any more (see %s)" % a.log)
                return 1
            try:
                if now - last_feed >= a.interval:
                    self.feed_disk(disk)
                    last_feed = now
                values = self.pagerduty_values()
            except (OSError, UnixSockError) as e:
                say("unixsock: %s" % e)
                values = {}
            if values and not self.seen_values:
                self.seen_values = True
                self.note("the plugin's first values arrived after %.0f s"
                          % (now - start))
            if now - last_table >= a.table_every or phase == "done":
                say("\n-- %s  pagerduty values in collectd" %
                    fmt_time(time.time()))
                self.print_table(values)
                last_table = now
            log_seen = self.report_log(log_seen)
            inc = self.watch_incident()

            if a.once and not self.seen_values and now - start > 60:
                say("no pagerduty values arrived within 60 s")
                return self.verdict()

            # The threshold story, one phase after the other.
            in_phase = now - phase_started
            if phase == "normal" and self.seen_values and in_phase >= 6:
                disk, phase, phase_started = 95, "failing", now
                self.note("web01's disk is 95 % full (FailureMax 90): the "
                          "threshold plugin sends FAILURE")
            elif phase == "failing":
                noted = inc is not None and inc.get("notes")
                if noted or in_phase >= a.note_interval + 20 or \
                        (inc is None and in_phase >= 30):
                    if inc is None:
                        self.note("no incident was opened%s" % (
                            "" if self.events_received() else
                            " (no event reached the simulator: this build "
                            "does not deliver notifications yet)"))
                    disk, phase, phase_started = 40, "recovering", now
                    self.note("web01's disk is back to 40 %: the threshold "
                              "plugin sends OKAY")
            elif phase == "recovering":
                # Give the OKAY a couple of intervals to show up.
                settled = in_phase >= 2 * a.interval + 1
                if (settled and (inc is None or inc["status"] == "resolved")) \
                        or in_phase >= 30:
                    if inc is not None and inc["status"] != "resolved":
                        self.note("the incident was not resolved")
                    phase = "done"
                    continue    # one last table
            elif phase == "done":
                if a.once:
                    return self.verdict()
                phase, phase_started = "idle", now
                say("\n(one cycle done; still watching - Ctrl-C stops "
                    "everything)")
            elif phase == "idle" and in_phase >= 60:
                phase, phase_started = "normal", now   # play it again
            time.sleep(1)

    def verdict(self):
        """--once: did the plugin load and reach the simulator?"""
        self.flush_repeats()
        say("\n-- summary")
        ok = True
        if self.plugin_loaded():
            say("  collectd loaded the plugin: yes")
        else:
            say("  collectd loaded the plugin: NO")
            ok = False
        if self.reached_simulator():
            say("  the plugin reached the simulator (GET /users/me): yes")
        else:
            say("  the plugin reached the simulator: NO")
            ok = False
        if not self.seen_values:
            say("  pagerduty values in collectd: NONE")
            ok = False
        for line in self.story:
            say("  - " + line)
        events = self.events_received()
        if events and not any(k[0] == "resolved"
                              for k in self.incident_events):
            # Delivery exists but the incident story did not complete.
            say("  the threshold story did not complete (open, note, "
                "resolve)")
            ok = False
        return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--socket", required=True)
    ap.add_argument("--sim", required=True, help="simulator base URL")
    ap.add_argument("--log", required=True, help="collectd's log file")
    ap.add_argument("--collectd-pid", type=int, required=True)
    ap.add_argument("--interval", type=float, default=2)
    ap.add_argument("--note-interval", type=float, default=10)
    ap.add_argument("--table-every", type=float, default=4)
    ap.add_argument("--once", action="store_true")
    args = ap.parse_args()
    try:
        return Demo(args).run()
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
