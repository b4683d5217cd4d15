#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
demo_watch.py - the live part of contrib/demo.sh.

contrib/demo.sh starts the simulator and collectd; this script watches and
drives them:
  - every second it reads the pagerduty values collectd has (unixsock
    LISTVAL/GETVAL) and shows them as an on-call engineer reads them
    (contrib/demo_view.py): services, schedules, escalation policies, the
    API connection, each Notify block's queue - one screen;
  - it plays a threshold story: it feeds collectd a disk usage value for
    host "web01" (PUTVAL web01/df-root/percent_bytes-used) - 42 %, then
    95 % (over FailureMax: the threshold plugin sends FAILURE, the Notify
    block triggers a PagerDuty incident), holds it (a "still failing" note),
    then 40 % (OKAY: the incident is resolved) - and shows what the
    simulator's PagerDuty account did.

Output: the whole view once, then each story line followed by what changed
in the values after it. Interactive (not --once) on a terminal, the view is
redrawn in place instead, with the latest story lines under it.

--once: stop after one full cycle and exit 0 when collectd loaded the plugin
and the plugin reached the simulator, 1 otherwise.
--raw: also print every pagerduty identifier with its value, as collectd
has it, every few seconds (and never redraw in place).
Never prints a token or routing key.
"""

import argparse
import math
import os
import re
import shutil
import signal
import sys
import textwrap
import time

SRCDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "integration"))
sys.path.insert(0, os.path.join(SRCDIR, "contrib"))

from harness import Simulator, UnixSock, UnixSockError  # noqa: E402
import demo_view  # noqa: E402

DISK = "web01/df-root/percent_bytes-used"
DEDUP_KEY = "web01/df-root/percent_bytes-used"   # the default DedupKey
# How the logfile plugin logs a notification.
NOTIFICATION_RE = re.compile(r"Notification: severity = (\w+), host = ([^,]*),"
                             r".* message = (.*)$")
# The threshold plugin's messages start with the value's identifier, which
# the demo already names.
THRESHOLD_PREFIX_RE = re.compile(r"Host [^,]*, plugin .*?\(instance [^)]*\)"
                                 r"(?: type \S+(?: \(instance [^)]*\))?)?: ")
# ANSI: clear the screen, cursor home, erase to the end of the line / screen.
CLEAR, HOME, ERASE_LINE, ERASE_BELOW = "\033[2J", "\033[H", "\033[K", "\033[J"


def fmt_time(t):
    return time.strftime("%H:%M:%S", time.localtime(t))


def short(text, width=100):
    """A notification message without the identifier the demo already
    names and without trailing zeros (95.000000 -> 95, 90.500000 -> 90.5)."""
    text = THRESHOLD_PREFIX_RE.sub("", text)
    text = re.sub(r"\b(\d+\.\d*?)0+\b",
                  lambda m: m.group(1).rstrip("."), text)
    return text if len(text) <= width else text[:width - 3] + "..."


class Totals:
    """Counts of the derive series since the demo first saw them. unixsock
    answers a derive value as the rate over the interval before it, so each
    new value adds rate x (its time - the previous value's time): exactly
    the counter's increase. The demo reads every second, collectd's Interval
    is 2 s; should a value go by unseen all the same (more time between two
    values than 1.5 times the shortest seen, or than `interval`), the count
    becomes a lower bound, shown as ">=N"."""

    def __init__(self, interval):
        self.interval = interval  # the longest interval a series can have
        self.seen = {}       # identifier -> time of the value last counted
        self.step = {}       # identifier -> shortest time between 2 values
        self.total = {}      # identifier -> count since the first value
        self.missed = set()  # identifiers whose count is a lower bound

    def add(self, ident, when, rate):
        last = self.seen.get(ident)
        self.seen[ident] = when
        if last is None:
            self.total[ident] = 0.0
            return
        span = when - last
        if span <= 0 or math.isnan(rate):
            return
        step = self.step.get(ident, self.interval)
        if span > 1.5 * step:           # a value went by unseen
            self.missed.add(ident)
            span = step
        self.step[ident] = min(step, span)
        self.total[ident] += rate * span

    def shown(self):
        """{identifier: "3" or ">=3"}."""
        return {i: (">=" if i in self.missed else "") + "%d" % round(t)
                for i, t in self.total.items()}


class Screen:
    """Where the output goes. Append mode (--once, or not a terminal): the
    view once, then the story lines and the changes under them. Redraw mode
    (interactive on a terminal): the view in place, the latest story lines
    under it."""

    def __init__(self, redraw):
        self.redraw = redraw
        self.events = []     # [[line, continued...]], in order
        self.shown = 0       # how many of them are printed (append mode)
        self.view_shown = False

    def size(self):
        return shutil.get_terminal_size((80, 50)) if self.redraw \
            else os.terminal_size((80, 50))

    def event(self, line):
        """A story line ("hh:mm:ss ==> ...") or a detail under it
        ("hh:mm:ss       ..."), wrapped to the width under its text."""
        indent = 13 if line[9:12] == "==>" else 15
        self.events.append(textwrap.wrap(line, self.size().columns - 1,
                                         subsequent_indent=" " * indent))
        self.flush()

    def flush(self):
        """Append mode: prints the events not printed yet - once the view
        is out, so that the story reads after it."""
        if not self.redraw and self.view_shown:
            for lines in self.events[self.shown:]:
                print("\n".join(lines), flush=True)
            self.shown = len(self.events)

    def latest(self, room):
        """The lines of the latest whole events that fit in room lines."""
        out = []
        for lines in reversed(self.events):
            if len(out) + len(lines) > room:
                break
            out[:0] = lines
        return out

    def show_view(self, lines):
        first = not self.view_shown
        self.view_shown = True
        if not self.redraw:
            print("\n".join(lines), flush=True)
            return
        # The view, a blank line, a heading, the events; the cursor ends on
        # the last row (no newline there: it would scroll the top away).
        # Home, each line over the old one (erasing its rest), then erase
        # below: no flicker, as a full clear every second would cause.
        size = self.size()
        if len(lines) + 5 > size.lines:     # a small terminal: cut the view
            lines = lines[:max(1, size.lines - 6)] + [
                "... (%d more lines: a taller terminal shows them)"
                % (len(lines) - max(1, size.lines - 6))]
        room = max(3, size.lines - len(lines) - 2)
        out = lines + ["", "-- %s  what happened (latest last; Ctrl-C stops "
                       "everything)" % fmt_time(time.time())]
        sys.stdout.write((CLEAR if first else "") + HOME + "\n".join(
            line[:size.columns - 1] + ERASE_LINE
            for line in out + self.latest(room)) +
            ERASE_BELOW)
        sys.stdout.flush()

    def text(self, line):
        """Plain text (the raw dump, headings): printed in append mode,
        never drawn over in redraw mode."""
        if not self.redraw:
            print(line, flush=True)


class Demo:
    def __init__(self, args):
        self.args = args
        self.sock = UnixSock(args.socket)
        self.sim = Simulator.attach(args.sim)
        # --raw dumps scroll: no redrawing in place with them.
        self.screen = Screen(redraw=not args.once and not args.raw and
                             sys.stdout.isatty())
        self.seen_values = False
        self.story = []          # what happened, for the final summary
        self.incident_events = set()
        self.last_notification = None
        self.repeats = 0
        self.totals = Totals(args.interval)
        self.model = {}
        self.facts = None
        self.first_values_at = None

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

    def pagerduty_idents(self):
        return {ident: t for t, ident in self.sock.listval()
                if demo_view.split_identifier(ident) is not None}

    def pagerduty_values(self):
        """{identifier: {ds: value}} of every pagerduty value collectd has;
        counts the derive series into self.totals. A derive rate is counted
        only when LISTVAL shows the same value time before and after its
        GETVAL (so it is the rate of that value); the few derive series are
        read first, so that little time passes in between."""
        before = self.pagerduty_idents()
        derives = [i for i in before if "/derive-" in i]
        out = {}
        for ident in derives:
            values = self.sock.getval(ident)
            if values is not None:
                out[ident] = values
        after = self.pagerduty_idents()
        for ident in derives:
            if ident in out and after.get(ident) == before[ident]:
                self.totals.add(ident, before[ident],
                                next(iter(out[ident].values())))
        for ident in before:
            if ident not in out:
                values = self.sock.getval(ident)
                if values is not None:
                    out[ident] = values
        return out

    def feed_disk(self, percent):
        self.sock.putval(DISK, percent, interval=self.args.interval)

    # -- display -------------------------------------------------------------------
    def show(self, values):
        """The view (first time, or redrawn), or what changed since."""
        model = demo_view.parse(values, self.totals.shown())
        facts = demo_view.facts(model)
        if self.facts is None:
            if not model or not self.rates_known(values):
                return
            self.screen.text("\n-- %s  PagerDuty as the plugin sees it "
                             "(collectd's values)\n" % fmt_time(time.time()))
            self.screen.show_view(demo_view.render(model))
            self.screen.text("\n-- what happened, and what changed in the "
                             "values after it")
            self.screen.flush()
        else:
            for line in demo_view.handoffs(self.model, model) + \
                    demo_view.changes(self.facts, facts):
                self.screen.event("%s       %s" % (fmt_time(time.time()),
                                                   line))
            if self.screen.redraw:
                self.screen.show_view(demo_view.render(model))
        self.model, self.facts = model, facts

    def rates_known(self, values):
        """Whether the first screen can show the request rates (they need
        two values), or has waited long enough for them."""
        if time.monotonic() - self.first_values_at >= 3 * self.args.interval:
            return True
        rates = [next(iter(v.values())) for i, v in values.items()
                 if i.endswith("/derive-api-requests")]
        return bool(rates) and not any(math.isnan(r) for r in rates)

    def print_raw(self, values):
        """--raw: every identifier and value, as collectd has them."""
        text = self.screen.text
        text("\n-- %s  pagerduty values in collectd (--raw)"
             % fmt_time(time.time()))
        if not values:
            text("  (no pagerduty values yet)")
            return
        text("  %-34s %-36s %s" % ("host/plugin", "type-instance", "value"))
        for ident in sorted(values):
            host, plugin, type_part = ident.split("/")
            v = next(iter(values[ident].values()))
            if type_part.startswith("derive-"):
                shown = "%.3g/s" % v if v == v else "(rate after 2 values)"
            else:
                shown = "%.4g" % v
            text("  %-34s %-36s %s" % (host + "/" + plugin, type_part, shown))

    def report_log(self, seen):
        """Reports the plugin's new ERROR/WARNING lines and the collectd
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
                self.detail("collectd notification %s from %s: %s"
                            % (m.group(1), m.group(2), short(m.group(3))))
            elif "pagerduty plugin" in line and ("[error]" in line or
                                                 "[warning]" in line):
                self.detail("log: " + line)
        return len(lines)

    def flush_repeats(self):
        if self.repeats:
            self.detail("(%s repeated %d time%s, once per interval: "
                        "Persist true)" % (self.last_notification[0],
                                           self.repeats,
                                           "s" if self.repeats > 1 else ""))
        self.repeats = 0

    def detail(self, text):
        self.screen.event("%s       %s" % (fmt_time(time.time()), text))

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

    def service_name(self, inc):
        return next((s["name"] for s in self.sim.state()["services"]
                     if s["id"] == inc.get("service_id")), "?")

    def events_received(self):
        return [r for r in self.sim.requests() if r["path"] == "/v2/enqueue"]

    def note(self, text):
        self.flush_repeats()    # they belong under the story line before
        self.story.append(text)
        self.screen.event("%s ==> %s" % (fmt_time(time.time()), text))

    def watch_incident(self):
        """Reports the incident's changes; returns it."""
        inc = self.incident()
        if inc is None:
            return None
        key = ("opened", inc["id"])
        if key not in self.incident_events:
            self.incident_events.add(key)
            self.note("PagerDuty incident #%s opened on \"%s\" (%s, urgency "
                      "%s): %s" % (inc["number"], self.service_name(inc),
                                   inc["status"], inc["urgency"],
                                   short(inc["title"])))
        for n in inc.get("notes", []):
            key = ("note", n["id"])
            if key not in self.incident_events:
                self.incident_events.add(key)
                self.note("note on #%s: %s" % (inc["number"],
                                               short(n["content"])))
        if inc["status"] == "resolved" and \
                ("resolved", inc["id"]) not in self.incident_events:
            self.incident_events.add(("resolved", inc["id"]))
            self.note("incident #%s resolved%s" % (
                inc["number"], ": " + short(inc["resolution"])
                if inc.get("resolution") else ""))
        return inc

    # -- the run -----------------------------------------------------------------------
    def run(self):
        a = self.args
        start = time.monotonic()
        phase, phase_started = "normal", start
        log_seen = 0
        last_feed = 0.0
        last_raw = 0.0
        disk = 42
        noted_at = None
        while True:
            now = time.monotonic()
            if not self.collectd_alive():
                print("collectd is not running any more (see %s)" % a.log)
                return 1
            try:
                if now - last_feed >= a.interval:
                    self.feed_disk(disk)
                    last_feed = now
                values = self.pagerduty_values()
            except (OSError, UnixSockError) as e:
                self.detail("unixsock: %s" % e)
                values = {}
            if values and not self.seen_values:
                self.seen_values = True
                self.first_values_at = now
                self.note("the plugin's first values arrived after %.0f s"
                          % (now - start))
            if a.raw and (now - last_raw >= a.table_every or phase == "done"):
                self.print_raw(values)
                last_raw = now
            if values:
                self.show(values)
            log_seen = self.report_log(log_seen)
            inc = self.watch_incident()

            if a.once and not self.seen_values and now - start > 60:
                print("no pagerduty values arrived within 60 s")
                return self.verdict()

            # The threshold story, one phase after the other.
            in_phase = now - phase_started
            if phase == "normal" and self.seen_values and in_phase >= 6:
                disk, phase, phase_started = 95, "failing", now
                self.note("web01's disk is 95 % full (FailureMax 90): the "
                          "threshold plugin sends FAILURE")
            elif phase == "failing":
                if inc is not None and inc["status"] != "resolved" and \
                        inc.get("notes") and noted_at is None:
                    noted_at = now
                # After the note, an interval or so for its values to show.
                noted = noted_at is not None and \
                    now - noted_at >= a.interval + 1
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
                    continue    # one last look
            elif phase == "done":
                if a.once:
                    return self.verdict()
                phase, phase_started = "idle", now
                self.note("one cycle done; it plays again in a minute")
            elif phase == "idle" and in_phase >= 60:
                phase, phase_started = "normal", now   # play it again
                noted_at = None
            time.sleep(1)

    def verdict(self):
        """--once: did the plugin load and reach the simulator?"""
        self.flush_repeats()
        ok = True
        checks = [
            ("collectd loaded the plugin", self.plugin_loaded()),
            ("the plugin reached the simulator (GET /users/me)",
             self.reached_simulator()),
            ("pagerduty values in collectd", self.seen_values),
        ]
        done = {k[0] for k in self.incident_events}
        if self.events_received():
            # Delivery exists: the incident story must complete.
            checks.append(("the threshold story: incident opened, noted, "
                           "resolved", done >= {"opened", "note",
                                                "resolved"}))
        print("\n-- summary")
        for text, passed in checks:
            print("  %s: %s" % (text, "yes" if passed else "NO"))
            ok = ok and passed
        return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--socket", required=True)
    ap.add_argument("--sim", required=True, help="simulator base URL")
    ap.add_argument("--log", required=True, help="collectd's log file")
    ap.add_argument("--collectd-pid", type=int, required=True)
    ap.add_argument("--interval", type=float, default=2)
    ap.add_argument("--note-interval", type=float, default=10)
    ap.add_argument("--table-every", type=float, default=4,
                    help="--raw: seconds between two dumps")
    ap.add_argument("--once", action="store_true")
    ap.add_argument("--raw", action="store_true",
                    help="also dump every identifier and value")
    args = ap.parse_args()
    # demo.sh stops this script with SIGTERM (Ctrl-C reaches the script).
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(143))
    demo = Demo(args)
    try:
        return demo.run()
    except KeyboardInterrupt:
        return 130
    finally:
        if demo.screen.redraw:
            print(flush=True)   # off the view's last row, for the shell


if __name__ == "__main__":
    sys.exit(main())
