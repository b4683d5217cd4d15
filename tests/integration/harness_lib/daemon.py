# SPDX-License-Identifier: MIT
"""The daemon: the real collectd with the built plugin (Collectd: its
configuration file, its process, optionally under valgrind, and failure
reports; log, unixsock and csv reading come from logs.py, unixsock.py and
csvfiles.py), and check_config() for configurations it may refuse."""

import grp
import os
import re
import signal
import subprocess
import sys
import time

import sanitizers

from .config import quote
from .csvfiles import CsvReading
from .logs import LogReading
from .redaction import files_containing, redact, register_secret
from .settings import (COLLECTD, CONFIG_FAILED, INIT_COMPLETE, PLUGIN_DIR,
                       PLUGIN_NAME, SUPPRESSIONS, SYSTEM_PLUGIN_DIR, TOKEN_ENV,
                       TYPES_DB, VALGRIND, HarnessError, scaled)
from .unixsock import SockValues, UnixSock
from .util import TempDir, _live_processes, _spawn, _terminate


class Collectd(LogReading, SockValues, CsvReading):
    """The real collectd with the built plugin, as a context manager.

        with Collectd(plugin_block(account_block("demo", sim.url,
                                                 token_file=path))) as cd:
            cd.wait_for_value(cd.identifier("demo", "gauge", "api-up"),
                              lambda v: v == 1)

    Files in cd.dir: collectd.conf, collectd.log (logfile plugin, with
    severities), collectd.stderr (the daemon's stdout+stderr: what it says
    before the logfile plugin is configured, e.g. that the config failed),
    collectd.sock (unixsock), csv/ (csv plugin), valgrind.log.

    plugin_config: the <Plugin pagerduty> text (or "" for none).
    threshold:     the body of a <Plugin threshold> block (loads threshold).
    extra_config:  more global config, placed before the pagerduty plugin.
    load_interval: an Interval inside <LoadPlugin pagerduty>.
    load_plugin:   False to leave the pagerduty plugin out entirely.
    env:           environment overrides; PAGERDUTY_USER_API_KEY is removed
                   from the inherited environment unless given here.
    mode:          "-f" (run until stopped) or "-T" (config, init, one read,
                   exit).
    """

    def __init__(self, plugin_config="", *, hostname="pd-test", interval=1,
                 threshold=None, extra_config="", load_interval=None,
                 load_plugin=True, valgrind=False, env=None, mode="-f",
                 log_level="info", echo_log=None):
        self.plugin_config = plugin_config
        self.hostname = hostname
        self.interval = interval
        self.threshold = threshold
        self.extra_config = extra_config
        self.load_interval = load_interval
        self.load_plugin = load_plugin
        self.valgrind = valgrind
        self.env_overrides = dict(env or {})
        self.mode = mode
        self.log_level = log_level
        # Also copy every new log line to our stderr while waiting (for
        # debugging a test by hand): PD_ECHO_LOG=1.
        self.echo_log = (bool(os.environ.get("PD_ECHO_LOG"))
                         if echo_log is None else echo_log)
        self.proc = None
        self.returncode = None
        self.starts = 0
        self._log_offset = 0
        self._tmp = None
        self._snapshot = None
        self._echoed = 0

    # -- paths ---------------------------------------------------------------
    @property
    def dir(self):
        return self._tmp.path

    def path(self, *parts):
        return self._tmp.join(*parts)

    @property
    def conf_path(self):
        return self.path("collectd.conf")

    @property
    def log_path(self):
        return self.path("collectd.log")

    @property
    def stderr_path(self):
        return self.path("collectd.stderr")

    @property
    def socket_path(self):
        return self.path("collectd.sock")

    @property
    def csv_dir(self):
        return self.path("csv")

    @property
    def valgrind_log_path(self):
        """One log per start: valgrind.log, then valgrind-2.log, ..."""
        if self.starts <= 1:
            return self.path("valgrind.log")
        return self.path("valgrind-%d.log" % self.starts)

    @property
    def sock(self):
        return UnixSock(self.socket_path)

    def identifier(self, plugin_instance, type_, type_instance, host=None):
        """<host>/pagerduty-<plugin_instance>/<type>-<type_instance>."""
        ident = "%s/%s" % (host or self.hostname, PLUGIN_NAME)
        if plugin_instance:
            ident += "-" + plugin_instance
        ident += "/" + type_
        if type_instance:
            ident += "-" + type_instance
        return ident

    # -- configuration -------------------------------------------------------
    def config_text(self):
        d = self._tmp
        try:
            group = grp.getgrgid(os.getgid()).gr_name
        except KeyError:
            group = str(os.getgid())
        out = [
            "# Written by tests/integration/harness.py",
            "Hostname %s" % quote(self.hostname),
            "FQDNLookup false",
            "BaseDir %s" % quote(d.path),
            "PIDFile %s" % quote(d.join("collectd.pid")),
            "Interval %s" % quote(self.interval),
            # One write thread checks values in the order they were put.
            # With collectd's default of 5, two PUTVALs of one watched
            # value sent back to back can reach the threshold plugin in
            # either order (50 then 85 became WARNING, then OKAY), and a
            # test would see a notification sequence it never asked for.
            "WriteThreads 1",
            "TypesDB %s" % quote(TYPES_DB),
            "PluginDir %s" % quote(SYSTEM_PLUGIN_DIR),
            "",
            "# First, so that everything after it is logged with severities.",
            "LoadPlugin logfile",
            "<Plugin logfile>",
            "  LogLevel %s" % quote(self.log_level),
            "  File %s" % quote(d.join("collectd.log")),
            "  Timestamp true",
            "  PrintSeverity true",
            "</Plugin>",
            "LoadPlugin unixsock",
            "<Plugin unixsock>",
            "  SocketFile %s" % quote(d.join("collectd.sock")),
            "  SocketGroup %s" % quote(group),
            "  SocketPerms \"0660\"",
            "</Plugin>",
            "LoadPlugin csv",
            "<Plugin csv>",
            "  DataDir %s" % quote(d.join("csv")),
            "  StoreRates false",
            "</Plugin>",
        ]
        if self.threshold is not None:
            out += ["LoadPlugin threshold", "<Plugin threshold>",
                    self.threshold.strip("\n"), "</Plugin>"]
        if self.extra_config:
            out.append(self.extra_config.strip("\n"))
        if self.load_plugin:
            # LoadPlugin "/full/path.so" does not work in 5.12: PluginDir
            # applies to the LoadPlugin lines after it, so switch it around
            # ours and back for anything loaded later.
            out += ["", "PluginDir %s" % quote(PLUGIN_DIR)]
            if self.load_interval is not None:
                out += ["<LoadPlugin %s>" % PLUGIN_NAME,
                        "  Interval %s" % quote(self.load_interval),
                        "</LoadPlugin>"]
            else:
                out.append("LoadPlugin %s" % PLUGIN_NAME)
            out.append("PluginDir %s" % quote(SYSTEM_PLUGIN_DIR))
        if self.plugin_config:
            out += ["", self.plugin_config.rstrip("\n")]
        return "\n".join(out) + "\n"

    # -- life cycle ------------------------------------------------------------
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def start(self, wait_ready=True, timeout=None):
        """Writes the config and starts the daemon. With wait_ready, waits
        until collectd logged that initialization is complete and unixsock
        answers; raises HarnessError (with the log) if it exited instead."""
        if not os.access(COLLECTD, os.X_OK):
            raise HarnessError("collectd not found at %s (install "
                               "collectd-core or set COLLECTD)" % COLLECTD)
        if self.load_plugin and not os.path.exists(
                os.path.join(PLUGIN_DIR, PLUGIN_NAME + ".so")):
            raise HarnessError("the plugin is not built: no %s.so in %s "
                               "(run make; or set PD_PLUGIN_DIR)"
                               % (PLUGIN_NAME, PLUGIN_DIR))
        if self.running:
            raise HarnessError("collectd is already running")
        if self._tmp is None:
            self._tmp = TempDir("collectd-pd-")
        self.starts += 1
        # A restart (same dir): only what this run logs counts, and the old
        # socket must not look like a ready daemon.
        self._log_offset = len(self.log_text())
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        with open(self.conf_path, "w") as f:
            f.write(self.config_text())
        env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
        if sanitizers.ENABLED:
            env.update(sanitizers.environment())
        env.update(self.env_overrides)
        if TOKEN_ENV in self.env_overrides:
            register_secret(self.env_overrides[TOKEN_ENV])
        argv = [COLLECTD, self.mode, "-C", self.conf_path]
        if self.valgrind:
            argv = self.valgrind_argv() + argv
        with open(self.stderr_path, "ab") as err:
            self.proc = _spawn(argv, cwd=self.dir, env=env,
                               stdin=subprocess.DEVNULL, stdout=err,
                               stderr=subprocess.STDOUT)
        self.returncode = None
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def valgrind_argv(self):
        if not VALGRIND:
            raise HarnessError("valgrind is not installed")
        return [VALGRIND, "--error-exitcode=99", "--leak-check=full",
                "--errors-for-leak-kinds=definite", "--track-origins=yes",
                "--num-callers=40", "--suppressions=" + SUPPRESSIONS,
                "--gen-suppressions=all",
                "--log-file=" + self.valgrind_log_path]

    def default_timeout(self, seconds):
        # Under valgrind everything runs 10-50 times slower.
        return seconds * (8 if self.valgrind else 1)

    def wait_ready(self, timeout=None):
        timeout = timeout or self.default_timeout(20)
        deadline = time.monotonic() + scaled(timeout)
        while True:
            if INIT_COMPLETE in self.log_text()[self._log_offset:] and \
                    os.path.exists(self.socket_path):
                return
            if self.proc.poll() is not None:
                self._reap()
                raise HarnessError(
                    "collectd exited with status %s during start-up\n%s"
                    % (self.returncode, self.describe(tail=15)))
            if time.monotonic() >= deadline:
                raise HarnessError("collectd not ready after %.0f s\n%s"
                                   % (scaled(timeout), self.describe(tail=15)))
            time.sleep(0.1)

    def wait_exit(self, timeout=None):
        """Waits for the daemon to exit by itself; returns its status, or
        None when it is still running after timeout."""
        try:
            self.proc.wait(timeout=scaled(timeout or
                                          self.default_timeout(15)))
        except subprocess.TimeoutExpired:
            return None
        self._reap()
        return self.returncode

    def _reap(self):
        _live_processes.discard(self.proc)
        self.returncode = self.proc.returncode

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=None):
        """SIGTERM, wait (SIGKILL after timeout); returns the exit status
        (negative: killed by that signal). Idempotent."""
        if self.proc is not None and self.returncode is None:
            self.returncode = _terminate(
                self.proc, scaled(timeout or self.default_timeout(20)))
        return self.returncode

    def kill(self, sig=signal.SIGKILL):
        """Sends sig (default: kill -9, no clean shutdown) and reaps the
        daemon; returns its status."""
        if self.proc is not None and self.returncode is None:
            try:
                self.proc.send_signal(sig)
            except OSError:
                pass
            self.proc.wait(timeout=scaled(30))
            self._reap()
        return self.returncode

    def restart(self, wait_ready=True, timeout=None):
        """Stops (SIGTERM) and starts again in the same dir: the spool,
        csv files and log carry over."""
        self.stop(timeout)
        return self.start(wait_ready=wait_ready, timeout=timeout)

    def close(self):
        """stop() and remove the temp dir, keeping the log texts in memory
        for failure reports."""
        self.stop()
        if self._tmp is not None and self._tmp.path is not None:
            self._snapshot = {
                "log": self._read(self.log_path),
                "stderr": self._read(self.stderr_path),
                "valgrind": self._read(self.valgrind_log_path),
                "conf": self._read(self.conf_path),
            }
            self._tmp.close()
        # A sanitizer build: any report (leaks come at exit) fails the test.
        sanitizers.check(self.stderr_text())

    @staticmethod
    def _read(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _file_text(self, key, path_attr):
        if self._tmp is not None and self._tmp.path is not None:
            return self._read(getattr(self, path_attr))
        return (self._snapshot or {}).get(key, "")

    # -- the log ---------------------------------------------------------------
    def log_text(self):
        text = self._file_text("log", "log_path")
        if self.echo_log and len(text) > self._echoed:
            sys.stderr.write(redact(text[self._echoed:]))
            self._echoed = len(text)
        return text

    def stderr_text(self):
        return self._file_text("stderr", "stderr_path")

    def valgrind_text(self):
        return self._file_text("valgrind", "valgrind_log_path")

    # -- secrets ---------------------------------------------------------------
    def files_containing(self, secret, exclude=()):
        """Files the daemon wrote (log, stderr, csv, spool, valgrind log...)
        that contain secret. collectd.conf and the given files (token
        files, which hold the secret by design) are not searched."""
        return files_containing(self.dir, secret,
                                exclude=[self.conf_path] + list(exclude))

    # -- valgrind ----------------------------------------------------------------
    def valgrind_summary(self):
        """(errors, definitely_lost_bytes) from the valgrind log."""
        text = self.valgrind_text()
        m = re.search(r"ERROR SUMMARY: ([\d,]+) errors", text)
        errors = int(m.group(1).replace(",", "")) if m else None
        m = re.search(r"definitely lost: ([\d,]+) bytes", text)
        lost = int(m.group(1).replace(",", "")) if m else 0
        return errors, lost

    # -- failure reports ---------------------------------------------------------
    def describe(self, tail=80):
        parts = ["collectd (%s, status %s), dir %s" % (
            "running" if self.running else "stopped", self.returncode,
            self._tmp.path if self._tmp and self._tmp.path else "removed")]
        log = self.log_text().splitlines()
        parts.append("--- collectd.log (last %d of %d lines)" %
                     (min(tail, len(log)), len(log)))
        parts += log[-tail:]
        err = self.stderr_text().strip()
        if err:
            parts.append("--- collectd stdout/stderr")
            parts += err.splitlines()[-30:]
        vg = self.valgrind_text().strip()
        if vg:
            parts.append("--- valgrind.log")
            parts += vg.splitlines()[-200:]
        return redact("\n".join(parts))


# --------------------------------------------------------------------------
# Config checking


class ConfigResult:
    """What collectd did with a configuration (see check_config())."""

    def __init__(self, daemon, refused, init_failed, returncode):
        self.refused = refused          # exited by itself before running
        self.init_failed = init_failed  # ran, but the plugin's init failed
        self.returncode = returncode
        self.log = daemon.log_lines()
        self.stderr = daemon.stderr_text()
        self.entries = daemon.log_entries()
        self.errors = daemon.errors()
        self.warnings = daemon.warnings()
        self.all_errors = daemon.errors(contains=None)
        self.config_failed_message = CONFIG_FAILED in self.stderr
        self.daemon = daemon

    def __repr__(self):
        return ("<ConfigResult refused=%s init_failed=%s status=%s "
                "errors=%r>" % (self.refused, self.init_failed,
                                self.returncode, [redact(e)
                                                  for e in self.errors]))


def check_config(plugin_config, settle=1.0, timeout=20, **collectd_kwargs):
    """Runs collectd -f on a config with the plugin and reports:
    refused (collectd exited on its own before "Initialization complete" -
    in 5.12 a complex config callback returning -1 makes it print
    CONFIG_FAILED on stderr and exit 1), or accepted (it started reading; it
    is left running `settle` seconds, then stopped with SIGTERM). The
    Collectd object is closed; the result keeps its log."""
    daemon = Collectd(plugin_config, **collectd_kwargs)
    try:
        daemon.start(wait_ready=False)
        deadline = time.monotonic() + scaled(timeout)
        while daemon.proc.poll() is None and \
                INIT_COMPLETE not in daemon.log_text():
            if time.monotonic() > deadline:
                raise HarnessError("collectd neither exited nor finished "
                                   "starting within %.0f s\n%s"
                                   % (scaled(timeout), daemon.describe()))
            time.sleep(0.05)
        refused = daemon.proc.poll() is not None
        if refused:
            daemon.wait_exit()
        else:
            time.sleep(scaled(settle))
            daemon.stop()
        init_failed = "Initialization of plugin `%s' failed" % PLUGIN_NAME \
            in daemon.log_text()
        return ConfigResult(daemon, refused, init_failed, daemon.returncode)
    finally:
        daemon.close()
