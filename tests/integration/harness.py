# SPDX-License-Identifier: MIT
"""
harness.py - run the real collectd with the built plugin against pdsim.

Every daemon test uses these pieces:

  Simulator     the PagerDuty simulator (tests/pdsim/pdsim) on a free port,
                with helpers for its /_sim/ control interface.
  make_test_ca  a throw-away CA and a server certificate for 127.0.0.1 /
                localhost, made with the openssl CLI, for HTTPS tests.
  Collectd      /usr/sbin/collectd -f with a generated collectd.conf in a
                temp dir (logfile, unixsock, csv, optional threshold, then
                the built plugin), optionally under valgrind; log, unixsock
                and csv helpers.
  check_config  runs collectd on a configuration and reports whether it was
                refused, and what it logged.
  DaemonTestCase / main()
                unittest glue: everything started is torn down even when a
                test fails, failures print the daemon's log (secrets
                redacted), and main() exits 77 (automake "skip") only in a
                sanitizer build.

Only the Python standard library is used; run with /usr/bin/python3.

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

import atexit
import grp
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import sanitizers

HERE = os.path.dirname(os.path.abspath(__file__))
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


# --------------------------------------------------------------------------
# Secrets: every token a test handles is registered here so that anything
# the harness prints (logs on failure, error messages) has it blanked out.
# Tests still assert separately that the plugin never wrote it anywhere.

_SECRETS = set()


def register_secret(value):
    if value:
        _SECRETS.add(value)
    return value


def registered_secrets():
    """Every secret registered so far in this process (tokens, routing
    keys, passwords), for tests that look for them in what was left behind."""
    return sorted(_SECRETS)


def redact(text):
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
    return text


# --------------------------------------------------------------------------
# Processes: whatever is still running when the test process dies (an
# uncaught exception, SIGTERM from make) is killed, never left behind.

_live_processes = set()


def _kill_leftovers():
    for proc in list(_live_processes):
        if proc.poll() is None:
            try:
                proc.kill()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        _live_processes.discard(proc)


atexit.register(_kill_leftovers)


def _on_sigterm(signum, _frame):
    _kill_leftovers()
    os._exit(128 + signum)


def _spawn(argv, **kwargs):
    proc = subprocess.Popen(argv, start_new_session=True, **kwargs)
    _live_processes.add(proc)
    return proc


def _terminate(proc, timeout):
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
    _live_processes.discard(proc)
    return proc.returncode


def _script_argv(path):
    """Executable scripts run directly (their shebang names the
    interpreter); a non-executable .py file runs with PYTHON3."""
    if os.access(path, os.X_OK):
        return [path]
    return [PYTHON3, path]


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


def write_secret_file(path, secret, mode=0o600):
    """Writes a token file (as an operator would: one line) with `mode`."""
    register_secret(secret)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    os.chmod(path, mode)
    return path


def files_containing(root, needle, exclude=()):
    """Relative paths of the files under root whose bytes contain needle."""
    needle_b = needle.encode() if isinstance(needle, str) else needle
    excluded = {os.path.realpath(p) for p in exclude}
    hits = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.path.realpath(path) in excluded or os.path.islink(path):
                continue
            try:
                with open(path, "rb") as f:
                    if needle_b in f.read():
                        hits.append(os.path.relpath(path, root))
            except OSError:
                continue
    return hits


# --------------------------------------------------------------------------
# The simulator

_READY_RE = re.compile(r"^READY url=(\S+) token=(\S+)\s*$")


class Simulator:
    """tests/pdsim/pdsim on a free port, as a context manager.

        with Simulator(scenario="demo") as sim:
            sim.url, sim.token        # from the READY line
            sim.add_fault("status", status=503, path="/users/me", count=2)
            sim.requests()            # the request log

    For HTTPS pass tls=make_test_ca(dir): the simulator serves the CA's
    server certificate and the control client trusts the CA.
    """

    def __init__(self, scenario="demo", seed=None, tls=None, rate_limit=None,
                 args=(), startup_timeout=STALL_TIMEOUT):
        self.scenario = scenario
        self.seed = seed
        self.tls = tls
        self.rate_limit = rate_limit
        self.args = list(args)
        self.startup_timeout = startup_timeout
        self.proc = None
        self.url = None
        self.token = None
        self._tmp = None
        self._stdout_thread = None
        self._ssl_context = None

    @classmethod
    def attach(cls, url, ca_cert=None):
        """A control client for a simulator somebody else started (the
        demo): no process, no token; stop() does nothing."""
        sim = cls()
        sim.url = url.rstrip("/")
        if ca_cert:
            sim._ssl_context = ssl.create_default_context(cafile=ca_cert)
        return sim

    # -- life cycle --------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def __repr__(self):  # never the token
        return "<Simulator %s %s>" % (self.scenario, self.url)

    def start(self):
        if not os.path.exists(PDSIM):
            raise HarnessError("simulator not found: %s (set PDSIM)" % PDSIM)
        self._tmp = TempDir("pdsim-")
        argv = _script_argv(PDSIM) + ["--port", "0", "--scenario",
                                      self.scenario]
        if self.seed is not None:
            argv += ["--seed", str(self.seed)]
        if self.tls is not None:
            argv += ["--tls-cert", self.tls.server_cert,
                     "--tls-key", self.tls.server_key]
            self._ssl_context = ssl.create_default_context(
                cafile=self.tls.ca_cert)
        if self.rate_limit is not None:
            argv += ["--rate-limit", str(self.rate_limit)]
        argv += self.args
        self.stderr_path = self._tmp.join("pdsim.stderr")
        with open(self.stderr_path, "wb") as err:
            self.proc = _spawn(argv, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=err)
        try:
            line = self._read_ready_line()
        except BaseException:
            self.stop()
            raise
        m = _READY_RE.match(line)
        if m is None:
            self.stop()
            raise HarnessError("pdsim printed an unexpected first line: %r"
                               % redact(line[:200]))
        self.url = m.group(1).rstrip("/")
        self.token = register_secret(m.group(2))
        # pdsim should print nothing else on stdout; drain it anyway so a
        # chatty simulator can never block on a full pipe.
        self._stdout_thread = threading.Thread(
            target=self._drain_stdout, daemon=True)
        self._stdout_thread.start()
        return self

    def _read_ready_line(self):
        fd = self.proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + scaled(self.startup_timeout)
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HarnessError("pdsim printed no READY line within %.0f s;"
                                   " stderr:\n%s" % (scaled(
                                       self.startup_timeout), self.stderr()))
            ready, _, _ = select.select([fd], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                buf += chunk
            elif self.proc.poll() is not None:
                break
        if b"\n" not in buf:
            self.proc.wait(timeout=5)
            raise HarnessError("pdsim exited (status %s) before READY; "
                               "stderr:\n%s" % (self.proc.returncode,
                                                self.stderr()))
        line, self._stdout_rest = buf.split(b"\n", 1)
        return line.decode("utf-8", "replace")

    def _drain_stdout(self):
        try:
            while self.proc.stdout.read(4096):
                pass
        except (OSError, ValueError):
            pass

    def stop(self):
        if self.proc is not None:
            _terminate(self.proc, timeout=10)
            self.proc.stdout.close()
            self._stderr_snapshot = self._read_stderr()
            self.proc = None
        if self._tmp is not None:
            self._tmp.close()
            self._tmp = None

    def _read_stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, AttributeError):
            return getattr(self, "_stderr_snapshot", "")

    def stderr(self):
        """What pdsim wrote on stderr (its request log), redacted."""
        return redact(self._read_stderr())

    def stderr_unredacted(self):
        """The same as it is, for tests that look for secrets in it."""
        return self._read_stderr()

    @property
    def port(self):
        return urllib.parse.urlsplit(self.url).port

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def describe(self):
        """For failure reports: the tail of pdsim's stderr."""
        tail = self.stderr().splitlines()[-40:]
        return "pdsim %s (scenario %s), stderr tail:\n%s" % (
            self.url, self.scenario, "\n".join("  " + l for l in tail))

    # -- HTTP --------------------------------------------------------------
    def _http(self, method, path, body=None, query=None, headers=None,
              timeout=STALL_TIMEOUT):
        """One request; returns (status, headers, parsed JSON or text)."""
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        data = None
        hdrs = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        req = urllib.request.Request(url, data=data, method=method,
                                     headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=scaled(timeout),
                                        context=self._ssl_context) as resp:
                status, rhdrs, raw = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            status, rhdrs, raw = e.code, e.headers, e.read()
        except (urllib.error.URLError, OSError) as e:
            if self.proc is not None and self.proc.poll() is not None:
                raise HarnessError("pdsim is gone (exit status %s; a "
                                   "negative status is the signal that "
                                   "stopped it): %s %s failed: %s"
                                   % (self.proc.returncode, method, path, e))
            raise
        text = raw.decode("utf-8", "replace")
        try:
            payload = json.loads(text) if text.strip() else None
        except ValueError:
            payload = text
        return status, rhdrs, payload

    def control(self, method, path, body=None, query=None):
        """A /_sim/ control call; raises HarnessError unless it is 2xx."""
        status, _, payload = self._http(method, "/_sim" + path, body, query)
        if not 200 <= status < 300:
            raise HarnessError("pdsim %s /_sim%s -> %s: %s" % (
                method, path, status, redact(str(payload))[:500]))
        return payload

    def rest(self, method, path, body=None, query=None, token=None,
             headers=None):
        """A request to the simulated REST API as a PagerDuty client would
        make it (token defaults to the READY token). Returns (status,
        payload)."""
        hdrs = {"Accept": PAGERDUTY_ACCEPT,
                "Authorization": "Token token=%s" % (token or self.token)}
        hdrs.update(headers or {})
        status, _, payload = self._http(method, path, body, query, hdrs)
        return status, payload

    # -- control interface (tests/pdsim/README.md) -------------------------
    def health(self):
        return self.control("GET", "/health")

    def reset(self, scenario=None, seed=None):
        body = {}
        if scenario is not None:
            body["scenario"] = scenario
        if seed is not None:
            body["seed"] = seed
        return self.control("POST", "/reset", body)

    def add_fault(self, kind, count=1, path=None, method=None, **extra):
        """Injects a fault for the next `count` matching requests (-1: until
        cleared). extra: status=, headers=, reset=, retry_after=, seconds="""
        body = {"kind": kind, "count": count}
        if path is not None:
            body["path"] = path
        if method is not None:
            body["method"] = method
        body.update(extra)
        return self.control("POST", "/faults", body)

    def clear_faults(self):
        return self.control("DELETE", "/faults")

    def requests(self, since=None):
        """The request log: a list of dicts (seq, method, path, query,
        token_kind, auth, from, status, body, ...)."""
        query = {"since": since} if since is not None else None
        return self.control("GET", "/requests", query=query)["requests"]

    def clear_requests(self):
        return self.control("DELETE", "/requests")

    def state(self):
        return self.control("GET", "/state")

    def tokens(self):
        return self.control("GET", "/tokens")["tokens"]

    def add_token(self, token, user_id=None, kind="user", role=None):
        register_secret(token)
        body = {"token": token, "kind": kind}
        if user_id is not None:
            body["user_id"] = user_id
        if role is not None:
            body["role"] = role
        return self.control("POST", "/tokens", body)

    def revoke(self, token=None):
        return self.control("POST", "/tokens/revoke",
                            {"token": token or self.token})

    def set_ratelimit(self, per_minute):
        return self.control("POST", "/ratelimit", {"per_minute": per_minute})

    def set_clock(self, offset):
        return self.control("POST", "/clock", {"offset": offset})

    def add_incident(self, **incident):
        return self.control("POST", "/incidents", incident)

    def set_service(self, service_id, **fields):
        return self.control("POST", "/services/%s" % service_id, fields)

    def token_info(self, token=None):
        """The /_sim/tokens entry of a token (default: the READY one)."""
        token = token or self.token
        for entry in self.tokens():
            if entry.get("token") == token:
                return entry
        raise HarnessError("token not known to pdsim")

    def wait_for_requests(self, predicate=lambda r: True, count=1,
                          timeout=20, message=None):
        """Waits until at least `count` logged requests satisfy predicate;
        returns them all."""
        def matching():
            hits = [r for r in self.requests() if predicate(r)]
            return hits if len(hits) >= count else None
        return wait_until(matching, timeout, interval=0.2,
                          message=message or "%d matching pdsim request(s)"
                          % count)


# --------------------------------------------------------------------------
# A throw-away certificate authority for HTTPS tests


class TestCA:
    """Files made by make_test_ca(): ca_cert, ca_key, server_cert,
    server_key (PEM), all inside `dir`."""

    def __init__(self, directory):
        self.dir = directory
        self.ca_cert = os.path.join(directory, "ca.pem")
        self.ca_key = os.path.join(directory, "ca.key")
        self.server_cert = os.path.join(directory, "server.pem")
        self.server_key = os.path.join(directory, "server.key")

    def __repr__(self):
        return "<TestCA %s>" % self.dir


def _openssl(*args, cwd):
    proc = subprocess.run(["openssl"] + list(args), cwd=cwd,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise HarnessError("openssl %s failed:\n%s" % (
            args[0], proc.stdout.decode("utf-8", "replace")))


def make_test_ca(directory, name="collectd-pagerduty test CA"):
    """Creates a CA and a server certificate signed by it, valid for
    IP:127.0.0.1 and DNS:localhost, in `directory` (created if needed).
    Each call makes an unrelated CA, so two calls give a "wrong CA"."""
    if shutil.which("openssl") is None:
        raise HarnessError("the openssl command is needed for HTTPS tests")
    os.makedirs(directory, exist_ok=True)
    ca = TestCA(directory)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    _openssl("req", "-x509", *ec, "-nodes", "-sha256", "-days", "2",
             "-keyout", ca.ca_key, "-out", ca.ca_cert, "-subj", "/CN=" + name,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash", cwd=directory)
    csr = os.path.join(directory, "server.csr")
    _openssl("req", "-new", *ec, "-nodes", "-sha256", "-keyout",
             ca.server_key, "-out", csr, "-subj", "/CN=localhost",
             cwd=directory)
    ext = os.path.join(directory, "server.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "subjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid,issuer\n")
    _openssl("x509", "-req", "-in", csr, "-CA", ca.ca_cert, "-CAkey",
             ca.ca_key, "-CAcreateserial", "-sha256", "-days", "2",
             "-extfile", ext, "-out", ca.server_cert, cwd=directory)
    os.chmod(ca.ca_key, 0o600)
    os.chmod(ca.server_key, 0o600)
    return ca


# --------------------------------------------------------------------------
# Writing collectd configuration


class Raw(str):
    """A config value written verbatim (unquoted), e.g. Raw("abc")."""


def quote(value):
    """One collectd config value: strings quoted (backslash and double
    quote escaped; every other byte, CR/LF included, kept), numbers and
    booleans bare."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return '"%s"' % text


def option_lines(options, indent="  "):
    """options: a dict or a list of (key, value) pairs; a list/tuple value
    puts several values on one line (Collect "a" "b"). Repeat a key by
    using the pair form. A value of None leaves the option out."""
    items = options.items() if isinstance(options, dict) else options
    lines = []
    for key, value in items:
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        lines.append("%s%s %s" % (indent, key,
                                  " ".join(quote(v) for v in values)))
    return lines


def block(kind, name, options=(), body=""):
    """<kind "name"> ... </kind>, e.g. block("Account", "acme", {...})."""
    head = "<%s %s>" % (kind, quote(name)) if name is not None \
        else "<%s>" % kind
    lines = ["  " + head]
    lines += option_lines(options, indent="    ")
    if body:
        lines += ["    " + l for l in body.strip("\n").splitlines()]
    lines.append("  </%s>" % kind)
    return "\n".join(lines)


def plugin_block(*blocks, options=()):
    """The whole <Plugin pagerduty> block: top-level options, then the
    given Account/Notify blocks (strings from block())."""
    lines = ["<Plugin %s>" % PLUGIN_NAME]
    lines += option_lines(options)
    lines += list(blocks)
    lines.append("</Plugin>")
    return "\n".join(lines) + "\n"


def account_block(name, url, token_file=None, token=None, **options):
    """An <Account> block; options in the order given (Python keeps keyword
    order), e.g. account_block("demo", sim.url, token_file=p, Interval=1)."""
    items = [("TokenFile", token_file), ("Token", token), ("URL", url)]
    items += list(options.items())
    return block("Account", name, items)


# --------------------------------------------------------------------------
# collectd's unixsock text protocol (collectd-unixsock(5))


class UnixSockError(Exception):
    pass


class UnixSock:
    """A client of collectd's unixsock plugin; one connection per command."""

    MULTILINE = ("GETVAL", "LISTVAL", "GETTHRESHOLD")

    def __init__(self, path, timeout=STALL_TIMEOUT):
        self.path = path
        self.timeout = timeout

    def command(self, line):
        """Sends one command line; returns (status, message, lines). For
        GETVAL/LISTVAL a positive status is the number of lines that
        follow."""
        if "\n" in line:
            raise ValueError("one command per call")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(scaled(self.timeout))
            s.connect(self.path)
            s.sendall(line.encode() + b"\n")
            f = s.makefile("r", encoding="utf-8", errors="replace")
            head = f.readline()
            if not head:
                raise UnixSockError("unixsock closed without answering %r"
                                    % line.split(" ", 1)[0])
            status_text, _, message = head.rstrip("\n").partition(" ")
            status = int(status_text)
            lines = []
            if status > 0 and line.split(" ", 1)[0].upper() in self.MULTILINE:
                for _ in range(status):
                    lines.append(f.readline().rstrip("\n"))
            return status, message, lines

    @staticmethod
    def _quote(text):
        return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')

    def listval(self):
        """[(time, identifier), ...]."""
        status, message, lines = self.command("LISTVAL")
        if status < 0:
            raise UnixSockError("LISTVAL: " + message)
        out = []
        for l in lines:
            t, _, ident = l.partition(" ")
            out.append((float(t), ident))
        return out

    def getval(self, identifier):
        """{ds_name: float} of the value cache, or None when collectd has no
        such value. Note that unixsock answers RATES for derive and counter
        data sources (NaN until two values were seen): read raw counters
        from the csv files instead."""
        status, message, lines = self.command("GETVAL " +
                                              self._quote(identifier))
        if status < 0:
            if "No such value" in message:
                return None
            raise UnixSockError("GETVAL %s: %s" % (identifier, message))
        values = {}
        for l in lines:
            name, _, v = l.partition("=")
            values[name] = float(v)
        return values

    def putval(self, identifier, *values, when="N", interval=None):
        opts = " interval=%s" % interval if interval else ""
        vals = ":".join([str(when)] + [str(v) for v in values])
        status, message, _ = self.command("PUTVAL %s%s %s" % (
            self._quote(identifier), opts, vals))
        if status < 0:
            raise UnixSockError("PUTVAL: " + message)
        return message

    def putnotif(self, message, severity="failure", when=None, meta=None,
                 **fields):
        """PUTNOTIF with fields host=, plugin=, plugin_instance=, type=,
        type_instance=, and string meta {"pagerduty_action": "note"}."""
        parts = ["PUTNOTIF", "severity=" + severity,
                 "time=%d" % int(when if when is not None else time.time())]
        for key in ("host", "plugin", "plugin_instance", "type",
                    "type_instance"):
            if fields.get(key) is not None:
                parts.append("%s=%s" % (key, self._quote(fields.pop(key))))
        if fields:
            raise TypeError("unknown PUTNOTIF fields: %s" % sorted(fields))
        for key, value in (meta or {}).items():
            parts.append("s:%s=%s" % (key, self._quote(value)))
        parts.append("message=" + self._quote(message))
        return self.putnotif_raw(" ".join(parts))

    def putnotif_raw(self, line):
        status, message, _ = self.command(line)
        if status < 0:
            raise UnixSockError("PUTNOTIF: " + message)
        return message

    def flush(self, plugin=None, identifier=None, timeout=None):
        parts = ["FLUSH"]
        if timeout is not None:
            parts.append("timeout=%s" % timeout)
        if plugin:
            parts.append("plugin=%s" % plugin)
        if identifier:
            parts.append("identifier=%s" % self._quote(identifier))
        status, message, _ = self.command(" ".join(parts))
        if status < 0:
            raise UnixSockError("FLUSH: " + message)
        return message


# --------------------------------------------------------------------------
# The daemon

_LOG_LINE_RE = re.compile(r"^\[[^\]]*\] \[(\w+)\] (.*)$")


class Collectd:
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

    def log_lines(self):
        return self.log_text().splitlines()

    def stderr_text(self):
        return self._file_text("stderr", "stderr_path")

    def valgrind_text(self):
        return self._file_text("valgrind", "valgrind_log_path")

    def log_entries(self):
        """[(severity, message)] of the logfile lines (severity lowercase:
        error, warning, notice, info)."""
        out = []
        for line in self.log_lines():
            m = _LOG_LINE_RE.match(line)
            if m:
                out.append((m.group(1).lower(), m.group(2)))
        return out

    def messages(self, severity=None, contains=LOG_PREFIX):
        """Log messages at a severity ("error", "warning", ...; None: any)
        that contain `contains` (default: the plugin's prefix)."""
        return [msg for sev, msg in self.log_entries()
                if (severity is None or sev == severity)
                and (contains is None or contains in msg)]

    def errors(self, contains=LOG_PREFIX):
        return self.messages("error", contains)

    def warnings(self, contains=LOG_PREFIX):
        return self.messages("warning", contains)

    def wait_for_log(self, pattern, timeout=None, severity=None):
        """Waits for a log message matching the regex `pattern` (searched,
        optionally only at `severity`); returns the match. Fails early when
        the daemon exits."""
        rx = re.compile(pattern)
        timeout = timeout or self.default_timeout(20)

        def found():
            for sev, msg in self.log_entries():
                if severity is None or sev == severity:
                    m = rx.search(msg)
                    if m:
                        return m
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError("collectd exited (status %s) while "
                                     "waiting for log /%s/"
                                     % (self.proc.returncode, pattern))
            return None
        return wait_until(found, timeout, message="log /%s/" % pattern)

    # -- values ----------------------------------------------------------------
    def listval(self, prefix=None):
        """Identifiers collectd has values for (optionally only those whose
        plugin part starts with `prefix`, e.g. "pagerduty-demo")."""
        idents = [ident for _t, ident in self.sock.listval()]
        if prefix is not None:
            idents = [i for i in idents
                      if i.split("/")[1].startswith(prefix)]
        return sorted(idents)

    def getval(self, identifier):
        return self.sock.getval(identifier)

    def value(self, identifier):
        """The value of a one-data-source identifier (whatever the DS is
        called: "value", "seconds", ...), or None when collectd has none."""
        values = self.getval(identifier)
        if values is None:
            return None
        if len(values) != 1:
            raise HarnessError("%s has %d data sources" % (identifier,
                                                          len(values)))
        return next(iter(values.values()))

    def wait_for_value(self, identifier, predicate=None, timeout=None):
        """Waits until GETVAL identifier gives values satisfying predicate
        (called with the single value for one-DS types, else the dict);
        returns that value/dict. Remember GETVAL gives rates for derive."""
        timeout = timeout or self.default_timeout(20)
        last = {}

        def check():
            if not self.running:
                raise AssertionError("collectd exited (status %s) while "
                                     "waiting for %s"
                                     % (self.proc.returncode, identifier))
            values = self.getval(identifier)
            last["v"] = values
            if values is None:
                return None
            v = next(iter(values.values())) if len(values) == 1 else values
            if predicate is None or predicate(v):
                return ("ok", v)
            return None
        try:
            return wait_until(check, timeout, interval=0.2,
                              message="value %s" % identifier)[1]
        except AssertionError as e:
            raise AssertionError("%s (last seen: %s)" % (e, last.get("v")))

    # -- csv files ---------------------------------------------------------------
    def csv_rows(self, identifier):
        """The rows the csv plugin wrote for identifier, oldest first:
        [{"epoch": t, "<ds>": value, ...}] (raw counters, not rates)."""
        host, plugin, type_part = identifier.split("/")
        directory = os.path.join(self.csv_dir, host, plugin)
        rows = []
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            return rows
        for name in names:
            # <type>-<type_instance>-YYYY-MM-DD
            if not re.fullmatch(re.escape(type_part) + r"-\d{4}-\d\d-\d\d",
                                name):
                continue
            # One read to EOF, then only whole lines (collectd may be
            # appending one: see truth.read_csv_tree).
            with open(os.path.join(directory, name)) as f:
                lines = f.read().split("\n")
            header = lines[0].strip().split(",")
            for line in lines[1:-1]:
                fields = line.strip().split(",")
                if len(fields) == len(header):
                    rows.append({k: float(v) for k, v in
                                 zip(header, fields)})
        rows.sort(key=lambda r: r["epoch"])
        return rows

    def csv_last(self, identifier):
        """The last value written for a one-DS identifier, or None."""
        rows = self.csv_rows(identifier)
        if not rows:
            return None
        return [v for k, v in rows[-1].items() if k != "epoch"][0]

    def wait_for_csv(self, identifier, predicate=None, timeout=None):
        """Waits until the last csv value satisfies predicate; returns it."""
        timeout = timeout or self.default_timeout(20)

        def check():
            v = self.csv_last(identifier)
            if v is not None and (predicate is None or predicate(v)):
                return ("ok", v)
            return None
        return wait_until(check, timeout, interval=0.2,
                          message="csv value %s" % identifier)[1]

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


class ConnectionCounter:
    """A TCP listener on 127.0.0.1 that counts connections and answers
    nothing: a URL for configs that must never be used."""

    def __init__(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self._sock.getsockname()[1]

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.count += 1
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# --------------------------------------------------------------------------
# unittest glue


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


# --------------------------------------------------------------------------
# Notification tests (doc/contract.md §6): tests/integration/test_notify_*.py and
# tests/bench/bench_notify.py.

# The demo service the notification tests open incidents on: active, in no
# team, no maintenance window, nothing open at start.
NOTIFY_SERVICE = "Internal Tools"
# PUTVAL interval of the values a threshold watches: collectd drops a value
# (and the threshold plugin sends a FAILURE "has not been updated") after
# 2 intervals without an update, which a test must never trip over.
WATCHED_INTERVAL = 3600


def service_id(sim, name=NOTIFY_SERVICE):
    """The id of the simulator's service called name."""
    for service in sim.state()["services"]:
        if service["name"] == name:
            return service["id"]
    raise HarnessError("pdsim has no service %r" % name)


def routing_key(sim, name=NOTIFY_SERVICE):
    """The Events API v2 routing key of the service called name (registered
    as a secret: it must never show up in anything collectd writes)."""
    for entry in sim.control("GET", "/tokens")["routing_keys"]:
        if entry["service_name"] == name:
            return register_secret(entry["routing_key"])
    raise HarnessError("pdsim has no routing key for %r" % name)


def incidents(sim, key=None, service=None):
    """The simulator's incidents (with notes), optionally only those with
    incident_key `key` and/or on service id `service`."""
    return [i for i in sim.state()["incidents"]
            if (key is None or i.get("incident_key") == key)
            and (service is None or i.get("service_id") == service)]


def is_notify_request(r):
    """Whether a logged pdsim request delivers a notification (Events API,
    or a REST write or incident lookup), as opposed to the read side's
    polling (GET /users/me, /services, incident lists)."""
    path = r["path"]
    if path == "/v2/enqueue" or r["method"] in ("POST", "PUT"):
        return True
    if r["method"] != "GET" or not path.startswith("/incidents"):
        return False
    return path != "/incidents" or "incident_key" in (r.get("query") or {})


def threshold_config(host="web01", plugin="app", type_="gauge", **options):
    """The body of a <Plugin threshold> block watching host/plugin/type,
    e.g. threshold_config(FailureMax=90, Persist=True)."""
    lines = ['<Host %s>' % quote(host), '  <Plugin %s>' % quote(plugin),
             '    <Type %s>' % quote(type_)]
    lines += option_lines(options, indent="      ")
    lines += ['    </Type>', '  </Plugin>', '</Host>']
    return "\n".join(lines)


class TcpProxy:
    """A TCP forwarder on 127.0.0.1 in front of the simulator, to take
    PagerDuty "down" (connections refused, open ones reset) and bring it
    back on the same port with the simulator's state intact.

        with TcpProxy(sim.port) as proxy:
            url = proxy.url        # give this to the plugin
            proxy.down(); ...; proxy.up()
    """

    def __init__(self, target_port, target_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.port = None
        self._listener = None
        self._thread = None
        self._conns = set()
        self._lock = threading.Lock()
        self.connections = 0  # accepted so far (was the proxy used at all?)
        self.up()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def is_up(self):
        return self._listener is not None

    def up(self):
        if self._listener is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", self.port or 0))
        except OSError as e:
            sock.close()
            raise HarnessError("proxy cannot listen on port %s again: %s"
                               % (self.port, e))
        sock.listen(64)
        sock.settimeout(0.1)
        self.port = sock.getsockname()[1]
        self._listener = sock
        self._thread = threading.Thread(target=self._accept, args=(sock,),
                                         daemon=True)
        self._thread.start()

    def down(self):
        """Stops listening (new connections are refused) and resets every
        open connection."""
        sock, self._listener = self._listener, None
        if sock is None:
            return
        self._thread.join(timeout=5)
        sock.close()
        with self._lock:
            conns, self._conns = self._conns, set()
        for c in conns:
            try:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             b"\x01\x00\x00\x00\x00\x00\x00\x00")
                c.close()
            except OSError:
                pass

    def close(self):
        self.down()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _accept(self, listener):
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream),
                             daemon=True).start()

    def _pump(self, a, b):
        peers = {a: b, b: a}
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    peers[s].sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._conns.discard(a)
                self._conns.discard(b)
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass


class NotifyTestCase(DaemonTestCase):
    """Base of the notification tests: a demo simulator, the routing key
    and id of NOTIFY_SERVICE, a token file of the manager, and builders for
    Account / Notify blocks."""

    def setUp(self):
        super().setUp()
        self.sim = self.start_simulator(scenario="demo")
        self.service = service_id(self.sim)
        self.routing_key = routing_key(self.sim)
        self.token_path = self.token_file(self.sim.token)

    # -- configuration -----------------------------------------------------
    def account(self, name="acme", url=None, **options):
        """An Account polling little (Collect "services") every second, so
        that a TokenFile change is seen within a second."""
        opts = {"TokenFile": self.token_path, "URL": url or self.sim.url,
                "Interval": 1, "Collect": "services"}
        opts.update(options)
        return block("Account", name, [(k, v) for k, v in opts.items()
                                       if v is not None])

    def events_notify(self, name="ev", url=None, **options):
        """A Notify block on the Events API (RoutingKey)."""
        opts = {"RoutingKey": self.routing_key,
                "EventsURL": url or self.sim.url}
        opts.update(options)
        return block("Notify", name, [(k, v) for k, v in opts.items()
                                      if v is not None])

    def rest_notify(self, name="rest", account="acme", **options):
        """A Notify block on the REST API (Service + Account)."""
        opts = {"Service": self.service, "Account": account}
        opts.update(options)
        return block("Notify", name, [(k, v) for k, v in opts.items()
                                      if v is not None])

    def start_notify(self, *blocks, options=(), **collectd_kwargs):
        return self.start_collectd(plugin_block(*blocks, options=options),
                                   **collectd_kwargs)

    # -- the simulator's side --------------------------------------------------
    def incidents(self, key=None, service=None):
        return incidents(self.sim, key, service)

    def wait_incidents(self, key=None, count=1, status=None, service=None,
                       timeout=30, check=None):
        """Waits until at least `count` incidents with incident_key `key`
        (and `status`, and satisfying check(incident)) exist; returns all
        incidents with that key."""
        def found():
            all_ = self.incidents(key, service)
            ok = [i for i in all_ if (status is None or i["status"] == status)
                  and (check is None or check(i))]
            return all_ if len(ok) >= count else None
        return wait_until(found, timeout, interval=0.2,
                          message="%d incident(s) key=%r status=%s"
                          % (count, key, status))

    def notify_requests(self, since=None):
        return [r for r in self.sim.requests(since) if is_notify_request(r)]

    # -- the daemon's side -------------------------------------------------------
    @staticmethod
    def notify_id(daemon, name, type_, type_instance):
        """<Hostname>/pagerduty-notify-<name>/<type>-<type_instance>."""
        return daemon.identifier("notify-" + name, type_, type_instance)

    def wait_counter(self, daemon, name, counter, predicate, timeout=30):
        """Waits for the raw derive-<counter> (sent, retried, failed) of
        Notify `name` (csv: GETVAL answers rates) to satisfy predicate."""
        return daemon.wait_for_csv(
            self.notify_id(daemon, name, "derive", counter), predicate,
            timeout=timeout)

    def putval(self, daemon, identifier, value):
        """PUTVAL of a watched value (see WATCHED_INTERVAL)."""
        return daemon.sock.putval(identifier, value,
                                  interval=WATCHED_INTERVAL)

    def wait_notifications(self, daemon, severity, count, contains="",
                           timeout=20):
        """Waits until collectd's logfile plugin logged `count`
        notifications of `severity` (FAILURE, WARNING, OKAY) whose line
        contains `contains`: they were dispatched (the notification
        callbacks run one after the other in the dispatching thread)."""
        head = "Notification: severity = %s," % severity

        def seen():
            hits = [m for m in daemon.messages(None, contains=head)
                    if contains in m]
            return hits if len(hits) >= count else None
        return wait_until(seen, timeout, interval=0.1,
                          message="%d %s notification(s) %r"
                          % (count, severity, contains))
