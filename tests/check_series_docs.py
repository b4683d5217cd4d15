#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
check_series_docs.py - the metric rows of README.md ("Metrics", "Per Notify
block"), the man page (doc/collectd-pagerduty.pod, METRICS, "Notify block
metrics") and doc/contract.md (§4) are the ones contrib/gen-series-docs.py
writes from the table of series, plugin/core/pd_series.def (as
tests/pd_series_table prints it): it runs that generator with --check,
which prints the diff and the command that fixes a stale document.

Then, so that the check is known to fail when it should, it runs the
generator on a copy of the documents with one row changed, and with a
marker missing: both must fail.

Run by make check (Makefile.am TESTS, < 1 s); PD_SRCDIR is the source tree
and PD_BUILDDIR the build tree.
"""

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("PD_SRCDIR") or os.path.dirname(HERE)
GENERATOR = os.path.join(SRCDIR, "contrib", "gen-series-docs.py")
DOCS = ("README.md", "doc/contract.md", "doc/collectd-pagerduty.pod")


def check(srcdir):
    """(exit status, output) of the generator's --check on srcdir."""
    env = dict(os.environ, PD_SRCDIR=srcdir)
    if not env.get("PD_BUILDDIR") and srcdir != SRCDIR:
        env["PD_BUILDDIR"] = os.path.join(SRCDIR, "build")
    done = subprocess.run([sys.executable, GENERATOR, "--check"], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    return done.returncode, done.stdout


def copy_tree(into):
    for rel in DOCS + ("tests/integration/series.py",):
        os.makedirs(os.path.dirname(os.path.join(into, rel)), exist_ok=True)
        shutil.copy(os.path.join(SRCDIR, rel), os.path.join(into, rel))


def edit(path, old, new):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if old not in text:
        raise AssertionError("%s lacks %r" % (path, old))
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(old, new, 1))


def must_fail(label, srcdir, expect):
    status, out = check(srcdir)
    if status != 1 or expect not in out:
        print(out)
        print("FAIL: the check passes %s (exit %d)" % (label, status))
        return False
    return True


def main():
    status, out = check(SRCDIR)
    print(out, end="")
    if status != 0:
        return status
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        copy_tree(tmp)
        edit(os.path.join(tmp, "doc/contract.md"), "| `api-up` |",
             "| `api-down` |")
        ok &= must_fail("with a row changed", tmp,
                        "to fix, run contrib/gen-series-docs.py")
    with tempfile.TemporaryDirectory() as tmp:
        copy_tree(tmp)
        edit(os.path.join(tmp, "doc/collectd-pagerduty.pod"),
             "=for comment END series notify", "")
        ok &= must_fail("without a marker", tmp, "END series notify")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
