# SPDX-License-Identifier: MIT
"""
harness.py - run the real collectd with the built plugin against pdsim.

Tests import this module (`import harness`, `harness.Collectd`, ...); it
only gathers the parts, one concern per module in harness_lib/:

  settings    paths and commands from the environment (below), shared
              constants, HarnessError, scaled() (PD_TIMEOUT_FACTOR)
  redaction   register_secret, redact, write_secret_file, files_containing
  util        child processes (spawned through tests/pdsim/pdsim_launch.py,
              killed at exit), TempDir, wait_until
  simulator   Simulator: the PagerDuty simulator (tests/pdsim/pdsim) on a
              free port, started by pdsim_launch.py like in every other
              test, with helpers for its /_sim/ control interface
  testca      make_test_ca: a throw-away CA and a server certificate for
              127.0.0.1 / localhost (openssl CLI), for HTTPS tests
  config      writing collectd configuration: quote, block, plugin_block,
              account_block, threshold_config
  unixsock    UnixSock: collectd's unixsock protocol (GETVAL, PUTVAL,
              PUTNOTIF, FLUSH, ...); the daemon's values through it
  logs        the daemon's log: entries, messages, errors, wait_for_log
  csvfiles    the csv plugin's files: raw counters, wait_for_csv
  daemon      Collectd: /usr/sbin/collectd -f with a generated
              collectd.conf in a temp dir (logfile, unixsock, csv, optional
              threshold, then the built plugin), optionally under valgrind;
              check_config: whether collectd refuses a configuration
  network     ConnectionCounter, TcpProxy: a URL never to use, PagerDuty
              going down and coming back
  testcase    DaemonTestCase / main(): unittest glue: everything started is
              torn down even when a test fails, failures print the daemon's
              log (secrets redacted), and main() exits 77 (automake "skip")
              only in a sanitizer build
  notify      the notification tests' service, routing key, incidents and
              NotifyTestCase

A helper for a new concern goes into a module of its own (or the module of
its concern) and is re-exported here. Only the Python standard library is
used; run with /usr/bin/python3.

Environment (set by `make check`, see Makefile.am; defaults for running a
test by hand from the source tree after an in-tree build):
  PD_SRCDIR      source tree                (default: two levels up)
  PD_BUILDDIR    build tree                 (default: PD_SRCDIR)
  PD_PLUGIN_DIR  where pagerduty.so is      (default: PD_BUILDDIR/plugin/.libs)
  PDSIM          the simulator              (default: PD_SRCDIR/tests/pdsim/pdsim)
  COLLECTD       the daemon                 (default: /usr/sbin/collectd)
  VALGRIND       valgrind, or "no"          (default: found on PATH)
  PD_SANITIZERS  non-empty in a sanitizer build: collectd runs with the
                 ASan runtime preloaded (see sanitizers.py; PD_CC)
  PD_KEEP_TMP    non-empty: keep the temp dirs (their paths are printed)
  PD_TIMEOUT_FACTOR  multiply every timeout (slow machines); default 1
"""

# Everything below is imported to be re-exported (hence the noqa marks).
import sanitizers  # noqa: F401

from harness_lib.settings import (  # noqa: F401
    BUILDDIR, COLLECTD, CONFIG_FAILED, HERE, INIT_COMPLETE, KEEP_TMP,
    LOG_PREFIX, PAGERDUTY_ACCEPT, PDSIM, PLUGIN_DIR, PLUGIN_NAME, PYTHON3,
    SRCDIR, STALL_TIMEOUT, SUPPRESSIONS, SYSTEM_PLUGIN_DIR, TIMEOUT_FACTOR,
    TOKEN_ENV, TYPES_DB, VALGRIND, HarnessError, _valgrind_env, scaled)
from harness_lib.redaction import (  # noqa: F401
    _SECRETS, files_containing, redact, register_secret, registered_secrets,
    write_secret_file)
from harness_lib.util import (  # noqa: F401
    TempDir, _kill_leftovers, _live_processes, _on_sigterm, _script_argv,
    _spawn, _terminate, wait_until)
from harness_lib.simulator import _READY_RE, Simulator  # noqa: F401
from harness_lib.testca import TestCA, _openssl, make_test_ca  # noqa: F401
from harness_lib.config import (  # noqa: F401
    Raw, account_block, block, option_lines, plugin_block, quote,
    threshold_config)
from harness_lib.unixsock import SockValues, UnixSock, UnixSockError  # noqa: F401
from harness_lib.logs import _LOG_LINE_RE, LogReading  # noqa: F401
from harness_lib.csvfiles import CsvReading  # noqa: F401
from harness_lib.daemon import Collectd, ConfigResult, check_config  # noqa: F401
from harness_lib.network import ConnectionCounter, TcpProxy  # noqa: F401
from harness_lib.testcase import (  # noqa: F401
    DaemonTestCase, _ReportingResult, main, skip_if_sanitizers)
from harness_lib.notify import (  # noqa: F401
    NOTIFY_SERVICE, WATCHED_INTERVAL, NotifyTestCase, incidents,
    is_notify_request, routing_key, service_id)
