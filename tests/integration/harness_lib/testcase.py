# SPDX-License-Identifier: MIT
"""unittest glue: DaemonTestCase (everything started is stopped, failures
print the daemon's log and the simulator's stderr, redacted) and main()."""

import os
import signal
import sys
import unittest

import sanitizers

from .daemon import Collectd
from .redaction import write_secret_file
from .settings import COLLECTD, PDSIM, PLUGIN_DIR, VALGRIND
from .simulator import Simulator
from .util import TempDir, _on_sigterm


class DaemonTestCase(unittest.TestCase):
    """Base class of the daemon tests: start_* helpers register cleanups so
    everything is stopped even when the test fails, and a failing test
    prints the collectd log and simulator stderr (redacted)."""

    maxDiff = None

    def setUp(self):
        super().setUp()
        self._artifacts = []

    def tempdir(self, prefix="pdtest-"):
        d = TempDir(prefix)
        self.addCleanup(d.close)
        return d

    def start_simulator(self, **kwargs):
        sim = Simulator(**kwargs)
        sim.start()
        self.addCleanup(sim.stop)
        self._artifacts.append(sim)
        return sim

    def start_collectd(self, plugin_config, wait_ready=True, **kwargs):
        daemon = Collectd(plugin_config, **kwargs)
        self._artifacts.append(daemon)
        self.addCleanup(daemon.close)
        daemon.start(wait_ready=wait_ready)
        return daemon

    def token_file(self, token, mode=0o600, directory=None):
        """A token file with `token` in a fresh temp dir."""
        d = directory or self.tempdir("pdtoken-").path
        return write_secret_file(os.path.join(d, "token"), token, mode)

    def failure_report(self):
        return "\n".join(a.describe() for a in self._artifacts)

    def assertSecretNowhere(self, daemon, secret, exclude=()):
        """The secret is in no file the daemon wrote and not in its log."""
        hits = daemon.files_containing(secret, exclude)
        self.assertEqual(hits, [], "the token leaked into these files")
        self.assertNotIn(secret, daemon.log_text())
        self.assertNotIn(secret, daemon.stderr_text())


class _ReportingResult(unittest.TextTestResult):
    """Prints the daemon logs of a failed test right under its traceback."""

    def _report(self, test):
        report = getattr(test, "failure_report", None)
        if report is None or not getattr(test, "_artifacts", None):
            return
        try:
            text = report()
        except Exception as e:  # never hide the real failure
            text = "(no report: %s)" % e
        self.stream.write("\n==== artifacts of %s ====\n%s\n==== end ====\n"
                          % (test.id(), text))
        self.stream.flush()

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._report(test)

    def addError(self, test, err):
        super().addError(test, err)
        self._report(test)


def skip_if_sanitizers():
    """In a sanitizer build the daemon tests run with the ASan runtime
    preloaded into collectd, except those sanitizers.SKIP names: they exit
    77 (automake's "skip"). Everything else that is missing fails."""
    why = sanitizers.skip_reason(sys.argv[0])
    if why:
        print("SKIP: sanitizer build: %s; it runs in the normal build" % why)
        sys.exit(77)


def main():
    """Entry point of a daemon test file."""
    skip_if_sanitizers()
    signal.signal(signal.SIGTERM, _on_sigterm)
    print("harness: collectd=%s plugin_dir=%s pdsim=%s valgrind=%s"
          % (COLLECTD, PLUGIN_DIR, PDSIM, VALGRIND or "none"))
    sys.stdout.flush()
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2,
                                     resultclass=_ReportingResult)
    unittest.main(testRunner=runner, verbosity=2)
