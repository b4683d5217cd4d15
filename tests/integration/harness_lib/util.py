# SPDX-License-Identifier: MIT
"""Processes, temp dirs and waiting.

Processes: every child (simulator, collectd, stores) is started through
tests/pdsim/pdsim_launch.py's spawn() / terminate(), so whatever is still
running when the test process dies (an uncaught exception, SIGTERM from
make: testcase.main() installs _on_sigterm) is killed, never left behind.
"""

import os
import shutil
import sys
import tempfile
import time

import pdsim_launch

from .settings import KEEP_TMP, scaled

_live_processes = pdsim_launch.LIVE
_kill_leftovers = pdsim_launch.kill_leftovers
_spawn = pdsim_launch.spawn
_terminate = pdsim_launch.terminate
_script_argv = pdsim_launch.script_argv


def _on_sigterm(signum, _frame):
    _kill_leftovers()
    os._exit(128 + signum)


class TempDir:
    """A temp dir removed on close() unless PD_KEEP_TMP is set."""

    def __init__(self, prefix):
        self.path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        if KEEP_TMP:
            sys.stderr.write("harness: keeping %s\n" % self.path)

    def join(self, *parts):
        return os.path.join(self.path, *parts)

    def close(self):
        if self.path and not KEEP_TMP:
            shutil.rmtree(self.path, ignore_errors=True)
        self.path = self.path if KEEP_TMP else None


def wait_until(condition, timeout, interval=0.1, message="condition"):
    """Polls condition() until it returns something truthy; returns that.
    Raises AssertionError naming `message` on timeout."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s"
                                 % (scaled(timeout), message))
        time.sleep(interval)
