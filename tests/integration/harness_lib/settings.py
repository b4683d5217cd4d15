# SPDX-License-Identifier: MIT
"""Where things are (from the environment, see harness.py), the constants
every part shares, HarnessError, and scaled() for PD_TIMEOUT_FACTOR."""

import os
import shutil

# tests/integration, where harness.py and valgrind.supp are.
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRCDIR = os.environ.get("PD_SRCDIR") or os.path.dirname(os.path.dirname(HERE))
BUILDDIR = os.environ.get("PD_BUILDDIR") or SRCDIR
PLUGIN_DIR = os.environ.get("PD_PLUGIN_DIR") or os.path.join(
    BUILDDIR, "plugin", ".libs")
PDSIM = os.environ.get("PDSIM") or os.path.join(SRCDIR, "tests", "pdsim",
                                                "pdsim")
COLLECTD = os.environ.get("COLLECTD") or "/usr/sbin/collectd"
_valgrind_env = os.environ.get("VALGRIND", "")
VALGRIND = (_valgrind_env if _valgrind_env not in ("", "no")
            else shutil.which("valgrind"))
PYTHON3 = os.environ.get("PYTHON3") or "/usr/bin/python3"
TYPES_DB = "/usr/share/collectd/types.db"
SYSTEM_PLUGIN_DIR = "/usr/lib/collectd"
SUPPRESSIONS = os.path.join(HERE, "valgrind.supp")
KEEP_TMP = bool(os.environ.get("PD_KEEP_TMP"))
TIMEOUT_FACTOR = float(os.environ.get("PD_TIMEOUT_FACTOR") or "1")
# How long a socket to pdsim or collectd may stay silent (and pdsim take to
# start) before the harness gives up: a bound for a hung peer, not an
# estimate. GET /_sim/state of the large scenario (12 MB, built in Python)
# takes 5 s on an idle machine and several times that on a busy one.
STALL_TIMEOUT = 120

PLUGIN_NAME = "pagerduty"
LOG_PREFIX = "pagerduty plugin: "
TOKEN_ENV = "PAGERDUTY_USER_API_KEY"
# What collectd logs once every plugin's init ran and reading starts.
INIT_COMPLETE = "Initialization complete, entering read-loop."
# What collectd prints on stderr when a config callback returned an error.
CONFIG_FAILED = "Error: Parsing the config file failed!"
PAGERDUTY_ACCEPT = "application/vnd.pagerduty+json;version=2"


class HarnessError(Exception):
    """The test environment itself failed (not the code under test)."""


def scaled(seconds):
    return seconds * TIMEOUT_FACTOR
