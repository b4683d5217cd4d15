# SPDX-License-Identifier: MIT
"""Start a pdsim for a test and talk to it (standard library only).

    with SimProcess("demo") as sim:
        status, headers, body = sim.get("/services", token=sim.token)

The process is always killed (context manager / stop()); its stderr goes to a
temporary file so a full pipe can never stall it, and is printed on failure
by tests that ask for it (sim.stderr_text()).
"""

import atexit
import http.client
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))


def pdsim_path():
    return os.environ.get("PDSIM") or os.path.join(HERE, "pdsim")


class SimProcess:
    def __init__(self, scenario="demo", seed=None, extra_args=(), ready_timeout=120.0):
        self.scenario = scenario
        self.args = [pdsim_path(), "--port", "0", "--scenario", scenario]
        if seed is not None:
            self.args += ["--seed", str(seed)]
        self.args += list(extra_args)
        self.ready_timeout = ready_timeout
        self.proc = None
        self.url = None
        self.token = None
        self._stderr = None
        self.ssl_context = None

    # -- lifecycle ----------------------------------------------------------------
    def start(self):
        atexit.register(self.stop)      # never leave a simulator behind
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self._stderr,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.ready_timeout
        line = b""
        # READY is the first stdout line; readline blocks, so guard with poll.
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if sel.select(timeout=0.2):
                line = self.proc.stdout.readline()
                break
            if self.proc.poll() is not None:
                break
        sel.close()
        text = line.decode().strip()
        if not text.startswith("READY "):
            self.stop()
            raise RuntimeError("pdsim did not become ready: %r\n%s" % (text, self.stderr_text()))
        fields = dict(part.split("=", 1) for part in text.split()[1:])
        self.url = fields["url"]
        self.token = fields["token"]
        self.ready_line = text
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()

    def close(self):
        """Stop and drop the captured stderr."""
        self.stop()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def stderr_text(self):
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- HTTP -----------------------------------------------------------------------------
    @property
    def host_port(self):
        p = urllib.parse.urlsplit(self.url)
        return p.hostname, p.port

    # Socket timeouts bound a hung simulator; a busy machine (the large
    # scenario's state is 12 MB of Python JSON) must never reach them.
    def connection(self, timeout=60):
        host, port = self.host_port
        if self.url.startswith("https"):
            return http.client.HTTPSConnection(host, port, timeout=timeout,
                                               context=self.ssl_context or ssl._create_unverified_context())
        return http.client.HTTPConnection(host, port, timeout=timeout)

    def request(self, method, path, token=None, body=None, headers=None, query=None, raw_body=None,
                timeout=60, conn=None):
        """-> (status, headers dict (lower-case names), parsed JSON or raw bytes)."""
        if query:
            path = path + "?" + urllib.parse.urlencode(query, doseq=True)
        hdrs = {"Accept": "application/vnd.pagerduty+json;version=2"}
        if token is not None:
            hdrs["Authorization"] = "Token token=" + token
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        own = conn is None
        conn = conn or self.connection(timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            rh = {k.lower(): v for k, v in resp.getheaders()}
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw
            return resp.status, rh, parsed
        finally:
            if own:
                conn.close()

    def get(self, path, token=None, **kw):
        return self.request("GET", path, token=token, **kw)

    def api(self, path, **query):
        """GET with the manager token; asserts 200 and returns the body."""
        status, _, body = self.get(path, token=self.token, query=query or None)
        if status != 200:
            raise AssertionError("GET %s -> %s %s" % (path, status, body))
        return body

    def control(self, method, path, body=None):
        status, _, out = self.request(method, "/_sim/" + path, body=body)
        if status != 200:
            raise AssertionError("%s /_sim/%s -> %s %s" % (method, path, status, out))
        return out

    def tokens(self):
        """label -> token record."""
        return {t["label"]: t for t in self.control("GET", "tokens")["tokens"]}

    def list_all(self, path, key, token=None, **query):
        """Every item of a paginated list (limit 100)."""
        items, offset = [], 0
        while True:
            q = dict(query, limit=100, offset=offset)
            status, _, body = self.get(path, token=token or self.token, query=q)
            if status != 200:
                raise AssertionError("GET %s -> %s %s" % (path, status, body))
            items += body[key]
            if not body["more"]:
                return items
            offset += 100


def skip_unless_runnable():
    """Exit 77 (automake: skipped) when python3 or pdsim cannot run here."""
    if not os.access(pdsim_path(), os.X_OK):
        print("pdsim not executable at %s" % pdsim_path())
        sys.exit(77)
