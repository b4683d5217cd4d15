# SPDX-License-Identifier: MIT
"""
sanitizers.py - the daemon tests in a sanitizer build (./configure
--enable-sanitizers, PD_SANITIZERS set by make check).

collectd itself is not instrumented, so it cannot dlopen the ASan plugin on
its own: the compiler's ASan and UBSan runtimes are preloaded into it
(LD_PRELOAD of `$CC -print-file-name=libasan.so`, and libubsan likewise).
Leak detection is on (detect_leaks=1, at collectd's exit). Any sanitizer
report on collectd's stderr fails the test (harness.Collectd.close() calls
check()), except a leak that FOREIGN_LEAKS below shows is collectd's own.
collectd's binary and plugins have no symbols, so LeakSanitizer's own
suppressions (which match a module anywhere in the stack) cannot tell
collectd's leak from one of ours that happens under the same unixsock
thread; FOREIGN_LEAKS matches the exact frames that allocated instead.

Tests that cannot run this way skip (exit 77) in a sanitizer build: those in
SKIP below.

Environment: PD_SANITIZERS (non-empty: sanitizer build), PD_CC (the
compiler of the build; default cc).
"""

import os
import re
import subprocess

ENABLED = bool(os.environ.get("PD_SANITIZERS", "").strip())
RUNTIMES = ("libasan.so", "libubsan.so")

# Daemon test scripts that skip in a sanitizer build, and why. The load,
# read and notify tests (test_load.py, test_read_*.py, test_notify_*.py)
# run; these do not, to keep CI time in check (or cannot).
SKIP = {
    "test_valgrind.py": "valgrind cannot run an ASan process",
    "test_config_errors.py": "configuration parsing runs under ASan in the "
                             "unit test test_config",
    "test_read_large.py": "the large account's paging runs under ASan in "
                          "the unit test test_collect (this one takes "
                          "minutes there)",
    "test_package.py": "it builds and runs the Debian package, whose "
                       "plugin is the normal build's: nothing of it is "
                       "instrumented here (and collectd's own config "
                       "parser leaks an Include'd file's tree)",
    "test_notify_clock.py": "it runs collectd under libfaketime, which "
                            "cannot be preloaded together with the ASan "
                            "runtime (collectd exits at start); the spool "
                            "clock code runs under ASan in test_spool",
}

# Leaks that are not ours: the modules (basenames) of the allocating frames
# right above the sanitizer's malloc/calloc/strdup (#1, #2, ...) -> why.
FOREIGN_LEAKS = {
    ("collectd", "unixsock.so"):
        # Seen with the pagerduty plugin not loaded at all: one 152-byte
        # notification_meta_t (and its strdup'ed value) per meta option.
        "collectd 5.12's unixsock PUTNOTIF never frees the notification's "
        "meta data it allocated (plugin_notification_meta_add_*)",
}

# The first line of every ASan, LeakSanitizer and UBSan report.
_REPORT_RE = re.compile(r"ERROR: (?:AddressSanitizer|LeakSanitizer)"
                        r"|runtime error: "
                        r"|SUMMARY: (?:AddressSanitizer|LeakSanitizer"
                        r"|UndefinedBehaviorSanitizer)")


def skip_reason(script):
    """Why the test script `script` skips in this build, or None."""
    if not ENABLED:
        return None
    return SKIP.get(os.path.basename(script))


def _runtime_path(name):
    cc = os.environ.get("PD_CC") or "cc"
    try:
        out = subprocess.run([*cc.split(), "-print-file-name=" + name],
                             stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, check=True,
                             universal_newlines=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        raise RuntimeError("cannot ask %s for %s: %s" % (cc, name, e))
    # Without the library the compiler echoes the bare name back.
    if not os.path.isabs(out) or not os.path.exists(out):
        raise RuntimeError("%s has no %s (install its sanitizer runtime)"
                           % (cc, name))
    return out


def environment():
    """Environment for a collectd that loads the ASan plugin; reports go to
    its stderr, which the harness keeps."""
    common = "print_suppressions=0"
    return {
        "LD_PRELOAD": " ".join(_runtime_path(n) for n in RUNTIMES),
        # fast_unwind_on_malloc=0: collectd and the libraries are built
        # without frame pointers; the slow unwinder gives the whole stack,
        # which the suppressions need to match.
        "ASAN_OPTIONS": common + ":detect_leaks=1:fast_unwind_on_malloc=0",
        # A leak is found by check() (the status stays collectd's own).
        "LSAN_OPTIONS": common + ":exitcode=0",
        "UBSAN_OPTIONS": "print_stacktrace=1:" + common,
    }


_LEAK_RE = re.compile(r"^(?:Direct|Indirect) leak of ")
_FRAME_RE = re.compile(r"^\s*#(\d+) .*\(([^()]+?)\+0x[0-9a-f]+\)\s*$")


def _leak_owner(block):
    """Why the leak report block (its lines) is not ours, or None."""
    modules = []
    for line in block[1:]:
        m = _FRAME_RE.match(line)
        if m and m.group(1) != "0":  # #0 is the sanitizer's allocator
            modules.append(os.path.basename(m.group(2)))
    for frames, why in FOREIGN_LEAKS.items():
        if tuple(modules[:len(frames)]) == frames:
            return why
    return None


def _without_foreign_leaks(text):
    """text minus the leak blocks FOREIGN_LEAKS explains, and minus a
    LeakSanitizer report left with no block of its own."""
    out, block, kept_leaks = [], None, 0
    for line in text.splitlines() + [""]:
        if block is not None:
            if line.strip():
                block.append(line)
                continue
            if _leak_owner(block) is None:
                out += block
                kept_leaks += 1
            block = None
        if _LEAK_RE.match(line):
            block = [line]
        else:
            out.append(line)
    if kept_leaks == 0:
        out = [l for l in out if "LeakSanitizer: detected memory leaks" not in l
               and not re.search(r"SUMMARY: AddressSanitizer: \d+ byte\(s\) "
                                 r"leaked", l)]
    return "\n".join(out)


def reports(text):
    """The lines of text that start (or sum up) a sanitizer report of
    ours (collectd's own leaks, FOREIGN_LEAKS, left out)."""
    return [line for line in _without_foreign_leaks(text).splitlines()
            if _REPORT_RE.search(line)]


def check(stderr_text, what="collectd"):
    """Raises AssertionError (with the report) when stderr_text holds a
    sanitizer report."""
    if not ENABLED:
        return
    found = reports(stderr_text)
    if found:
        raise AssertionError("%s: sanitizer report on stderr (%s):\n%s"
                             % (what, "; ".join(found[:3]), stderr_text))
