#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_notify_disk.py - the spool's disk faults (doc/contract.md §4 derive-dropped, §6
durability), in the real collectd against the simulator:

  - SpoolDir on a 1 MiB tmpfs that fills up: every notification callback
    still returns at once, each event that cannot be stored is counted in
    derive-dropped, the failure is logged once, and when space comes back
    events are stored and delivered again by themselves (logged once);
  - the same tmpfs remounted read-only while collectd runs, then
    read-write again;
  - SpoolDir deleted while collectd runs: made again, delivery goes on;
  - MaxSpoolEvents overflow counts in derive-dropped, logged once;
  - truncated, corrupt, zero-length, FIFO and foreign files in the spool
    and a corrupt block state file at start: no crash, the good event is
    delivered, each damaged file is in failed/ with its reason, the
    foreign file is left alone.

The tmpfs cases need root: this file re-runs itself in a private mount
namespace (`unshare -m`) so its mounts are seen by nobody else and vanish
with it. Where that is not permitted they are skipped, saying why.
About 15 s in all.
"""

import os
import shutil
import subprocess
import sys
import time

import harness
from harness import NotifyTestCase, wait_until

NS_MARK = "PD_DISK_TEST_NS"


def reexec_in_private_mount_namespace():
    """Runs this file again inside `unshare -m --propagation private` when
    root and permitted; returns (False, why) when it cannot."""
    if os.environ.get(NS_MARK) == "1":
        return True, ""
    if os.geteuid() != 0:
        return False, "not root"
    unshare = shutil.which("unshare")
    if unshare is None:
        return False, "no unshare(1)"
    argv = [unshare, "-m", "--propagation", "private"]
    probe = subprocess.run(argv + ["true"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    if probe.returncode != 0:
        return False, "unshare -m refused: %s" % probe.stderr.strip()
    os.environ[NS_MARK] = "1"
    sys.stdout.flush()
    os.execv(unshare, argv + [sys.executable, os.path.abspath(__file__)]
             + sys.argv[1:])
    return False, "not reached"


NS_OK, NS_WHY = (os.environ.get(NS_MARK) == "1",
                 "no private mount namespace")


def body(r):
    return r.get("body") or {}


def triggers(sim, key):
    return [r for r in sim.requests() if r["path"] == "/v2/enqueue"
            and body(r).get("event_action") == "trigger"
            and body(r).get("dedup_key") == key and r["status"] == 202]


class DiskFaultTest(NotifyTestCase):

    # -- helpers ---------------------------------------------------------------
    def small_tmpfs(self):
        """A 1 MiB tmpfs (private to this process tree) as SpoolDir."""
        if not NS_OK:
            self.skipTest("tmpfs case skipped: %s" % NS_WHY)
        where = self.tempdir("pdspool-").join("mnt")
        os.mkdir(where, 0o700)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700",
                        "tmpfs", where], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", where])
        return where

    @staticmethod
    def fill(directory):
        """Fills the file system of directory; returns the filler's path."""
        path = os.path.join(directory, "filler")
        block = b"x" * 4096
        with open(path, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(block)
            except OSError as e:
                if e.errno != 28:  # ENOSPC
                    raise
        return path

    def problems(self, daemon, keys):
        """One PUTNOTIF per key; returns the slowest callback in seconds."""
        slowest = 0
        for key in keys:
            started = time.monotonic()
            daemon.sock.putnotif("problem %s" % key, host="web01",
                                 plugin="app", type="gauge",
                                 type_instance=key,
                                 meta={"pagerduty_dedup_key": key})
            slowest = max(slowest, time.monotonic() - started)
        return slowest

    def wait_delivered(self, key):
        return wait_until(lambda: triggers(self.sim, key), 30,
                          message="trigger %s delivered" % key)

    def dropped(self, daemon, predicate):
        return self.wait_counter(daemon, "ev", "NOTIFY_DROPPED", predicate)

    def spool_errors(self, daemon):
        return [m for m in daemon.errors() if "derive-dropped" in m]

    def start_on_tmpfs(self):
        """collectd with SpoolDir on a small tmpfs, one event delivered and
        gone from the spool (state saved first, journal emptied), so that
        nothing frees or takes space behind the test's back. Returns (daemon, spool,
        identifier of queue_length-pending)."""
        spool = self.small_tmpfs()
        daemon = self.start_notify(self.events_notify(),
                                   options={"SpoolDir": spool})
        self.problems(daemon, ["before"])
        self.wait_delivered("before")
        pending = self.notify_id(daemon, "ev", "NOTIFY_PENDING")
        daemon.wait_for_value(pending, lambda v: v == 0)
        # The block's journal emptied (a sync after the delivery): an event
        # cannot find room in its last block, behind the test's back.
        journal = os.path.join(spool, "ev", ".journal")
        wait_until(lambda: not os.path.exists(journal)
                   or os.path.getsize(journal) == 0, 30,
                   message="the journal emptied")
        return daemon, spool, pending

    # -- disk full -------------------------------------------------------------
    def test_disk_full(self):
        daemon, spool, _pending = self.start_on_tmpfs()
        filler = self.fill(spool)

        lost = ["full-%d" % i for i in range(5)]
        # Each callback returns at once although nothing can be written.
        self.assertLess(self.problems(daemon, lost), harness.scaled(2.0))
        self.assertEqual(self.dropped(daemon, lambda v: v == 5), 5)
        daemon.wait_for_log(r"cannot write spool file in .*No space left")
        self.assertEqual(len(self.spool_errors(daemon)), 1,
                         daemon.errors())
        self.assertEqual(triggers(self.sim, "full-0"), [])

        # Space again: the next notifications are stored and delivered,
        # with no restart; a repeat of a lost problem now triggers too.
        os.unlink(filler)
        self.problems(daemon, ["after", "full-0"])
        self.wait_delivered("after")
        self.wait_delivered("full-0")
        daemon.wait_for_log(r"can be written again; 5 events could not be "
                            r"stored", severity="info")
        self.assertEqual(len(self.spool_errors(daemon)), 1)
        self.assertEqual(daemon.csv_last(self.notify_id(
            daemon, "ev", "NOTIFY_DROPPED")), 5)

    # -- read-only -------------------------------------------------------------
    def test_read_only_then_writable(self):
        daemon, spool, pending = self.start_on_tmpfs()
        # A remount fails (EBUSY) while a file is open for writing, as the
        # state file is for a moment every second at most.
        wait_until(lambda: subprocess.run(
            ["mount", "-o", "remount,ro", spool],
            stderr=subprocess.DEVNULL).returncode == 0, 10,
            message="remount read-only")

        self.assertLess(self.problems(daemon, ["ro-1", "ro-2", "ro-3"]),
                        harness.scaled(2.0))
        self.assertEqual(self.dropped(daemon, lambda v: v == 3), 3)
        daemon.wait_for_log(r"Read-only file system")
        self.assertEqual(len(self.spool_errors(daemon)), 1,
                         daemon.errors())

        subprocess.run(["mount", "-o", "remount,rw", spool], check=True)
        self.problems(daemon, ["after"])
        self.wait_delivered("after")
        daemon.wait_for_value(pending, lambda v: v == 0)
        self.assertTrue(daemon.running)

    # -- SpoolDir deleted --------------------------------------------------------
    @staticmethod
    def _rmtree(path):
        try:
            shutil.rmtree(path)
            return True
        except OSError:
            return False

    def test_spool_dir_deleted(self):
        spool = self.tempdir("pdspool-").join("spool")
        daemon = self.start_notify(self.events_notify(),
                                   options={"SpoolDir": spool})
        self.problems(daemon, ["before"])
        self.wait_delivered("before")
        # The block's threads may be writing files into it meanwhile (its
        # prepared spool files): removal can meet a file made after the
        # listing, so it is repeated until one pass takes everything.
        harness.wait_until(lambda: self._rmtree(spool), 30,
                           message="the SpoolDir removed")
        self.problems(daemon, ["after"])
        self.wait_delivered("after")
        self.assertTrue(os.path.isdir(os.path.join(spool, "ev")))
        self.assertTrue(os.path.isdir(os.path.join(spool, "failed")))
        # Nothing was queued when it went: nothing lost.
        self.assertEqual(self.dropped(daemon, lambda v: v is not None), 0)

    # -- MaxSpoolEvents ----------------------------------------------------------
    def test_overflow_counts_in_dropped(self):
        proxy = harness.TcpProxy(self.sim.port)
        self.addCleanup(proxy.close)
        daemon = self.start_notify(self.events_notify(url=proxy.url),
                                   options={"MaxSpoolEvents": 3})
        proxy.down()
        self.problems(daemon, ["over-%d" % i for i in range(5)])
        self.assertEqual(self.dropped(daemon, lambda v: v == 2), 2)
        daemon.wait_for_log(r"spool full \(MaxSpoolEvents 3\)",
                            severity="warning")
        self.assertEqual(len([m for m in daemon.warnings()
                              if "spool full" in m]), 1)
        proxy.up()
        for key in ("over-2", "over-3", "over-4"):
            self.wait_delivered(key)
        self.assertEqual(triggers(self.sim, "over-0"), [])

    # -- damaged files at start --------------------------------------------------
    def test_damaged_files_at_start(self):
        spool = self.tempdir("pdspool-").join("spool")
        proxy = harness.TcpProxy(self.sim.port)
        self.addCleanup(proxy.close)
        daemon = self.start_notify(self.events_notify(url=proxy.url),
                                   options={"SpoolDir": spool})
        proxy.down()
        self.problems(daemon, ["good"])
        pending = self.notify_id(daemon, "ev", "NOTIFY_PENDING")
        daemon.wait_for_value(pending, lambda v: v == 1)
        daemon.stop()

        block = os.path.join(spool, "ev")
        records = sorted(n for n in os.listdir(block)
                         if n.endswith(".json") and not n.startswith("."))
        self.assertEqual(len(records), 1, os.listdir(block))
        with open(os.path.join(block, records[0]), "rb") as f:
            record = f.read()
        damaged = {
            "00000000000000000100.json": record[:len(record) // 2],
            "00000000000000000101.json": b"",
            "00000000000000000102.json": b"\x00\xff{not json",
        }
        for name, data in damaged.items():
            with open(os.path.join(block, name), "wb") as f:
                f.write(data)
        os.mkfifo(os.path.join(block, "00000000000000000103.json"), 0o600)
        with open(os.path.join(block, "notes.txt"), "w") as f:
            f.write("an operator's file\n")
        with open(os.path.join(block, ".state.json"), "w") as f:
            f.write('{"v":1,"alerts":[{"key":')

        proxy.up()
        daemon.start()
        self.wait_delivered("good")
        daemon.wait_for_value(pending, lambda v: v == 0)
        failed = os.path.join(spool, "failed")
        for seq in range(100, 104):
            reason = os.path.join(failed, "ev-%020d.json.reason" % seq)
            wait_until(lambda: os.path.exists(reason), 10, message=reason)
            with open(reason) as f:
                self.assertRegex(f.read(), r"corrupt record|not a regular")
        with open(os.path.join(failed, "ev-state.json.reason")) as f:
            self.assertIn("state file", f.read())
        self.assertTrue(os.path.exists(os.path.join(block, "notes.txt")))
        daemon.wait_for_log(r"unexpected file .*notes\.txt",
                            severity="warning")
        # Numbers go on after the damaged ones: nothing is overwritten.
        self.problems(daemon, ["later"])
        self.wait_delivered("later")
        self.assertTrue(daemon.running)


if __name__ == "__main__":
    NS_OK, NS_WHY = reexec_in_private_mount_namespace()
    if not NS_OK:
        print("test_notify_disk: tmpfs cases will be skipped: %s" % NS_WHY)
    harness.main()
