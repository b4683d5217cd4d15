#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_package.py - the Debian package, from build to purge.

contrib/build-deb.sh builds collectd-pagerduty_<version>_<arch>.deb from a
copy of the source tree (dpkg-buildpackage -us -uc -b, then lintian with
--fail-on error,warning); the package is installed with dpkg -i; the
system's collectd runs with the INSTALLED plugin (PluginDir
/usr/lib/collectd) and the installed, inactive collectd.conf.d snippet, and
an Account on the simulator's demo scenario: the values read over unixsock
and the csv files must be the truth (truth.py). Then dpkg --purge, after
which nothing the package installed may be left (its conffile included),
and no directory it created.

Skips (exit 77), saying why: dpkg-buildpackage is not installed; the test
cannot install packages (not root); collectd-pagerduty is already installed
on this machine (the test would replace and purge somebody's package).
Two runs at once (two build trees on one machine) take turns on a lock file;
dpkg's own lock is taken the way apt takes it, waiting (bounded) while
another dpkg or apt runs.
"""

import fcntl
import os
import re
import shutil
import subprocess
import sys

# The daemon must load the installed plugin, not the build tree's.
INSTALLED_PLUGIN_DIR = "/usr/lib/collectd"
os.environ["PD_PLUGIN_DIR"] = INSTALLED_PLUGIN_DIR

import harness  # noqa: E402
from truth import ReadTestCase, api_id  # noqa: E402

PACKAGE = "collectd-pagerduty"
BUILD_DEB = os.path.join(harness.SRCDIR, "contrib", "build-deb.sh")
SNIPPET = "/etc/collectd/collectd.conf.d/pagerduty.conf"
EXAMPLE = "/usr/share/doc/collectd-pagerduty/examples/pagerduty.conf"
TEST_LOCK = "/tmp/collectd-pagerduty-test-package.lock"
DPKG_FRONTEND_LOCK = "/var/lib/dpkg/lock-frontend"


def skip(reason):
    print("SKIP: " + reason)
    sys.stdout.flush()
    sys.exit(77)


def run(argv, timeout=600, env=None):
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=harness.scaled(timeout), env=env)
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def package_status():
    """dpkg's status of the package: "install ok installed", ..., or None
    when dpkg knows nothing of it."""
    rc, out = run(["dpkg-query", "-W", "-f=${Status}", PACKAGE])
    return out.strip() if rc == 0 and out.strip() else None


def lock_file(path, timeout, what):
    """An exclusive fcntl lock on path (dpkg and apt use fcntl locks too),
    waited for at most timeout seconds; returns the open fd."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)

    def taken():
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False
    try:
        harness.wait_until(taken, timeout, interval=0.5, message=what)
    except BaseException:
        os.close(fd)
        raise
    return fd


def dpkg(*args):
    """dpkg with the frontend lock held by us, as apt runs it (waits while
    another apt or dpkg holds it). Returns (status, output)."""
    fd = lock_file(DPKG_FRONTEND_LOCK, 300, "dpkg's frontend lock")
    try:
        env = dict(os.environ, DPKG_FRONTEND_LOCKED="1",
                   DEBIAN_FRONTEND="noninteractive")
        return run(["dpkg"] + list(args), env=env)
    finally:
        os.close(fd)


class PackageTest(ReadTestCase):

    ACCOUNT = "demo"

    def setUp(self):
        super().setUp()
        self.out = self.tempdir("pdpkg-")
        lock = lock_file(TEST_LOCK, 900, "the other test_package run")
        self.addCleanup(os.close, lock)
        self.installed = False
        self.addCleanup(self.purge_if_installed)

    def purge_if_installed(self):
        if self.installed:
            dpkg("--purge", PACKAGE)

    def build(self):
        rc, out = run([BUILD_DEB, "--output", self.out.path], timeout=900)
        self.assertEqual(rc, 0, "contrib/build-deb.sh failed:\n" + out)
        debs = [f for f in os.listdir(self.out.path) if f.endswith(".deb")]
        self.assertEqual(len(debs), 1, debs)
        self.assertRegex(debs[0], r"^collectd-pagerduty_[0-9][^_]*-[^_]+_"
                         r"[a-z0-9]+\.deb$")
        return self.out.join(debs[0])

    def contents(self, deb):
        """The paths the package holds (directories end in /)."""
        rc, listing = run(["sh", "-c", "dpkg-deb --fsys-tarfile '%s' | "
                           "tar -tf -" % deb])
        self.assertEqual(rc, 0, listing)
        paths = []
        for line in listing.splitlines():
            p = "/" + line.lstrip("./")
            if p != "/":
                paths.append(p)
        return paths

    def test_build_install_run_purge(self):
        deb = self.build()
        rc, fields = run(["dpkg-deb", "-f", deb, "Depends"])
        self.assertEqual(rc, 0, fields)
        # The ABI bound: the collectd-core of the major.minor it was built
        # against; the libraries it links through shlibs.
        self.assertRegex(fields, r"collectd-core \(>= \d+\.\d+\.\d+\), "
                         r"collectd-core \(<< \d+\.\d+~\)")
        for lib in ("libcurl", "libyajl", "libc6"):
            self.assertIn(lib, fields)
        rc, conffiles = run(["sh", "-c", "dpkg-deb --ctrl-tarfile '%s' | "
                             "tar -xOf - ./conffiles" % deb])
        self.assertEqual(conffiles.split(), [SNIPPET])

        paths = self.contents(deb)
        for wanted in ("/usr/lib/collectd/pagerduty.so", SNIPPET, EXAMPLE,
                       "/usr/share/man/man5/collectd-pagerduty.5.gz"):
            self.assertIn(wanted, paths)
        existed = {p for p in paths if os.path.lexists(p.rstrip("/"))}

        rc, out = dpkg("-i", deb)
        self.installed = True
        self.assertEqual(rc, 0, "dpkg -i failed:\n" + out)
        self.assertEqual(package_status(), "install ok installed")
        for p in paths:
            self.assertTrue(os.path.lexists(p.rstrip("/")), p)

        # The snippet is inactive: every line is a comment or blank.
        with open(SNIPPET) as f:
            active = [l for l in f if l.strip() and
                      not l.lstrip().startswith("#")]
        self.assertEqual(active, [])
        self.run_installed_plugin()

        rc, out = dpkg("--purge", PACKAGE)
        self.assertEqual(rc, 0, "dpkg --purge failed:\n" + out)
        self.installed = False
        status = package_status()
        self.assertTrue(status is None or status.endswith("not-installed"),
                        status)
        left = sorted(p for p in paths
                      if os.path.lexists(p.rstrip("/")) and p not in existed)
        self.assertEqual(left, [], "left behind by dpkg --purge")
        leftovers = [f for f in os.listdir(os.path.dirname(SNIPPET))
                     if f.startswith("pagerduty.conf")] \
            if os.path.isdir(os.path.dirname(SNIPPET)) else []
        self.assertEqual(leftovers, [], "conffile leftovers")

    def run_installed_plugin(self):
        """The system's collectd, the installed plugin and snippet, the
        simulator's demo account: values read over unixsock are the
        truth's."""
        sim = self.start_simulator(scenario="demo")
        include = ('<Include "%s">\n  Filter "pagerduty.conf"\n</Include>'
                   % os.path.dirname(SNIPPET))
        _, daemon = self.start_read(sim=sim, collectd_kwargs={
            "extra_config": include})
        self.assertIn('PluginDir "%s"\nLoadPlugin pagerduty'
                      % INSTALLED_PLUGIN_DIR, daemon.config_text())
        truth = self.truth(sim)
        self.wait_cycles(daemon, truth, 2, timeout=60)
        self.assertEqual(daemon.value(api_id(truth, "api-up")), 1)
        self.assertListvalIsTruth(daemon, truth)
        # Over unixsock: the counts that do not move with the clock.
        now = truth.series(truth.built_at)
        checked = 0
        for ident, (lo, hi) in sorted(now.items()):
            if re.search(r"/count-(services|incidents)-", ident):
                self.assertEqual(daemon.value(ident), lo, ident)
                checked += 1
        self.assertGreater(checked, 5)
        self.assertMatchesTruth(daemon, truth)
        self.assertEqual(daemon.errors(contains=None), [])
        self.assertEqual(daemon.stop(), 0)


def main():
    harness.skip_if_sanitizers()
    if shutil.which("dpkg-buildpackage") is None:
        skip("dpkg-buildpackage is not installed (dpkg-dev; contrib/test.sh "
             "installs it with debhelper, dh-autoreconf and lintian)")
    if os.geteuid() != 0:
        skip("installing a package needs root; run as root (contrib/test.sh "
             "in CI does)")
    status = package_status()
    if status is not None and not status.endswith("not-installed"):
        skip("collectd-pagerduty is already installed here (%s): this test "
             "would replace and purge it" % status)
    harness.main()


if __name__ == "__main__":
    main()
