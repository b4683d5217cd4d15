# SPDX-License-Identifier: MIT
"""pdsim_launch.py - the one way tests start the simulator (standard library only).

Every test that needs a simulator goes through this file, so the simulator is
found, started, awaited and stopped the same way everywhere:

  Python   SimLaunch, directly or through tests/pdsim/pdsim_client.py
           (SimProcess, the simulator's own tests) and tests/integration's
           harness (Simulator, the daemon tests).
  C        tests/unit/pdsim_fixture.c runs this file as a program (below).

The simulator's side of the protocol (tests/pdsim/pdsim): started with
--port 0 it listens on a free port of 127.0.0.1, then prints exactly one
line on stdout,

    READY url=<base URL> token=<a manager's user token>

and nothing else there; SIGTERM stops it cleanly (exit status 0).

Python:

    sim = SimLaunch("demo", seed=7, tls_cert=c, tls_key=k, args=["--churn", "60"])
                         # also: rate_limit=, port=, ready_timeout=, pdsim=
    sim.start()          # raises LaunchError unless READY came in time
    sim.url, sim.token, sim.ready_line, sim.proc
    sim.stderr_text()    # what the simulator wrote on stderr (its request log)
    sim.stop()           # SIGTERM, SIGKILL after STOP_GRACE s; idempotent
    sim.close()          # stop() and drop the captured stderr

Command line (for programs that cannot import this, such as the C tests):

    python3 pdsim_launch.py [--scenario S] [--port N] [--ready-timeout S] [pdsim options]

prints the simulator's READY line on stdout once it is ready, or exits 1
with the reason (and the simulator's stderr) on stderr; it does one or the
other within the ready timeout. It then stays until SIGTERM or SIGINT,
stops the simulator and exits 0; it exits 1 if the simulator dies first.
The simulator dies with the launcher (PR_SET_PDEATHSIG), so a launcher
killed with -9 leaves nothing behind either. The simulator's stderr goes to
a temporary file, shown only when it fails to start, unless PDSIM_VERBOSE
is set (then it goes to the launcher's stderr).

Environment: PDSIM, the simulator (default: pdsim beside this file);
PYTHON3, the interpreter for a simulator without its x bit (default
/usr/bin/python3).

Every child a test starts (simulators, collectd, stores) can go through
spawn() / terminate(): it runs in its own session, and whatever is still
running when the test process exits is killed (atexit; call
kill_leftovers() from a SIGTERM handler too).
"""

import atexit
import ctypes
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# Bounds for a broken simulator, not estimates: a busy machine can be many
# times slower than an idle one (the large scenario builds 12 MB of state).
READY_TIMEOUT = 120.0
STOP_GRACE = 10.0

READY_RE = re.compile(r"^READY url=(\S+) token=(\S+)\s*$")


class LaunchError(RuntimeError):
    """The simulator did not start (the message says why, with its stderr)."""


def pdsim_path():
    """The simulator: $PDSIM, else the pdsim beside this file."""
    return os.environ.get("PDSIM") or os.path.join(HERE, "pdsim")


def script_argv(path):
    """Executable scripts run directly (their shebang names the
    interpreter); one without its x bit runs with $PYTHON3."""
    if os.access(path, os.X_OK):
        return [path]
    return [os.environ.get("PYTHON3") or "/usr/bin/python3", path]


# ---- child processes ------------------------------------------------------

LIVE = set()


def spawn(argv, **kwargs):
    """subprocess.Popen in a new session, remembered until terminate()."""
    proc = subprocess.Popen(argv, start_new_session=True, **kwargs)
    LIVE.add(proc)
    return proc


def terminate(proc, timeout):
    """SIGTERM, wait, SIGKILL. Returns the exit status (negative: signal)."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
        except OSError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    LIVE.discard(proc)
    return proc.returncode


def kill_leftovers():
    """Kills every spawned process still running."""
    for proc in list(LIVE):
        if proc.poll() is None:
            try:
                proc.kill()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        LIVE.discard(proc)


atexit.register(kill_leftovers)


def _die_with_parent():
    """In the child, before exec: SIGTERM when the parent dies. Only for a
    single-threaded parent: the signal comes when the forking thread ends."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


# ---- the simulator ----------------------------------------------------------


class SimLaunch:
    """One simulator process: started on a free port (or `port`), its READY
    line awaited and parsed, always stopped."""

    def __init__(self, scenario="demo", seed=None, tls_cert=None, tls_key=None,
                 rate_limit=None, args=(), port=0, ready_timeout=READY_TIMEOUT,
                 verbose=False, die_with_parent=False, pdsim=None):
        self.scenario = scenario
        self.pdsim = pdsim or pdsim_path()
        self.args = script_argv(self.pdsim) + ["--port", str(port)]
        if scenario is not None:
            self.args += ["--scenario", scenario]
        if seed is not None:
            self.args += ["--seed", str(seed)]
        if tls_cert is not None:
            self.args += ["--tls-cert", tls_cert, "--tls-key", tls_key]
        if rate_limit is not None:
            self.args += ["--rate-limit", str(rate_limit)]
        self.args += list(args)
        self.ready_timeout = ready_timeout
        self.verbose = verbose
        self.die_with_parent = die_with_parent
        self.proc = None
        self.url = None
        self.token = None
        self.ready_line = None
        self._stderr = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False

    def start(self):
        """Starts the simulator and waits for READY; returns self. On any
        failure the process is stopped and LaunchError raised."""
        if not os.path.exists(self.pdsim):
            raise LaunchError("simulator not found: %s (set PDSIM)" % self.pdsim)
        self._stderr = None if self.verbose else tempfile.TemporaryFile()
        self.proc = spawn(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=self._stderr,
                          preexec_fn=_die_with_parent if self.die_with_parent else None)
        try:
            line = self._read_ready_line()
            m = READY_RE.match(line)
            if m is None:
                raise LaunchError("pdsim printed %r instead of its READY line" % line[:200])
        except BaseException:
            self.stop()
            raise
        self.ready_line = line
        self.url = m.group(1).rstrip("/")
        self.token = m.group(2)
        # pdsim prints nothing else on stdout; drain it anyway so that it
        # can never block on a full pipe.
        threading.Thread(target=self._drain_stdout, args=(self.proc.stdout,), daemon=True).start()
        return self

    def _read_ready_line(self):
        fd = self.proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + self.ready_timeout
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LaunchError("pdsim printed no READY line within %.0f s; stderr:\n%s"
                                  % (self.ready_timeout, self.stderr_text()))
            ready, _, _ = select.select([fd], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                buf += chunk
            elif self.proc.poll() is not None:
                break
        if b"\n" not in buf:
            self.proc.wait(timeout=STOP_GRACE)
            raise LaunchError("pdsim exited (status %s) before READY; stderr:\n%s"
                              % (self.proc.returncode, self.stderr_text()))
        return buf.split(b"\n", 1)[0].decode("utf-8", "replace")

    @staticmethod
    def _drain_stdout(stream):
        try:
            while stream.read(4096):
                pass
        except (OSError, ValueError):
            pass

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM, SIGKILL after STOP_GRACE s; reaps it. Idempotent; the
        captured stderr stays readable."""
        if self.proc is not None:
            terminate(self.proc, STOP_GRACE)
            if self.proc.stdout is not None:
                self.proc.stdout.close()

    def close(self):
        """stop() and drop the captured stderr."""
        self.stop()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def stderr_text(self):
        """Everything the simulator wrote on stderr so far ("" when verbose)."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")


# ---- command line -------------------------------------------------------------


class _Stop(Exception):
    pass


def _raise_stop(signum, frame):
    raise _Stop()


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="pdsim_launch.py", description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="demo")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ready-timeout", type=float, default=READY_TIMEOUT)
    opts, rest = ap.parse_known_args(argv)
    sim = SimLaunch(opts.scenario, port=opts.port, args=rest, ready_timeout=opts.ready_timeout,
                    verbose=bool(os.environ.get("PDSIM_VERBOSE")), die_with_parent=True)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    try:
        sim.start()
        sys.stdout.write(sim.ready_line + "\n")
        sys.stdout.flush()
        while sim.proc.wait() is None:
            pass
        sys.stderr.write("pdsim_launch: the simulator exited (status %s)\n%s"
                         % (sim.proc.returncode, sim.stderr_text()))
        return 1
    except _Stop:
        return 0
    except LaunchError as e:
        sys.stderr.write("pdsim_launch: %s\n" % e)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sim.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
