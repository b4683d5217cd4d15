# SPDX-License-Identifier: MIT
"""Start a pdsim for a test and talk to it (standard library only).

    with SimProcess("demo") as sim:
        status, headers, body = sim.get("/services", token=sim.token)

It is started, awaited and stopped by pdsim_launch.py, the one launcher every
test uses: always killed (context manager / stop(), and at exit); its stderr
goes to a temporary file so a full pipe can never stall it, and is printed on
failure by tests that ask for it (sim.stderr_text()).
"""

import http.client
import json
import os
import ssl
import sys
import urllib.parse

from pdsim_launch import SimLaunch, pdsim_path  # noqa: F401 (pdsim_path: for callers)


class SimProcess(SimLaunch):
    """A simulator started the one way (pdsim_launch.SimLaunch: start(),
    stop(), close(), stderr_text(), url, token, ready_line, proc, args),
    with HTTP helpers for its API and its /_sim/ control interface."""

    def __init__(self, scenario="demo", seed=None, extra_args=(), ready_timeout=120.0):
        super().__init__(scenario, seed=seed, args=extra_args, ready_timeout=ready_timeout)
        self.ssl_context = None

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
