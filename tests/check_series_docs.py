#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
check_series_docs.py - the metric rows of README.md ("Metrics", "Per Notify
block"), the man page (doc/collectd-pagerduty.pod, METRICS, "Notify block
metrics") and doc/contract.md (§4) are the ones contrib/gen-series-docs.py
writes from the table of series, plugin/core/pd_series.def (as
tests/pd_series_table prints it): it runs that generator with --check,
which prints the diff and the command that fixes a stale document.

Run by make check (Makefile.am TESTS, < 1 s); PD_SRCDIR is the source tree
and PD_BUILDDIR the build tree.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("PD_SRCDIR") or os.path.dirname(HERE)

if __name__ == "__main__":
    sys.exit(subprocess.run(
        [sys.executable, os.path.join(SRCDIR, "contrib", "gen-series-docs.py"),
         "--check"]).returncode)
