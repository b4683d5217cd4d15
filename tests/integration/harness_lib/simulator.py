# SPDX-License-Identifier: MIT
"""The PagerDuty simulator for daemon tests: Simulator, started the one way
every test starts it (tests/pdsim/pdsim_launch.py), with helpers for its
/_sim/ control interface (tests/pdsim/README.md) and its REST API."""

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request

import pdsim_launch

from .redaction import redact, register_secret
from .settings import (PAGERDUTY_ACCEPT, PDSIM, STALL_TIMEOUT, HarnessError,
                       scaled)
from .util import wait_until

_READY_RE = pdsim_launch.READY_RE


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
        self._launch = None
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
        tls = self.tls
        if tls is not None:
            self._ssl_context = ssl.create_default_context(cafile=tls.ca_cert)
        self._launch = pdsim_launch.SimLaunch(
            self.scenario, seed=self.seed,
            tls_cert=tls.server_cert if tls else None,
            tls_key=tls.server_key if tls else None,
            rate_limit=self.rate_limit, args=self.args, pdsim=PDSIM,
            ready_timeout=scaled(self.startup_timeout))
        try:
            self._launch.start()
        except pdsim_launch.LaunchError as e:
            raise HarnessError(redact(str(e))) from None
        self.proc = self._launch.proc
        self.url = self._launch.url
        self.token = register_secret(self._launch.token)
        return self

    def stop(self):
        """Stops the simulator (idempotent); its stderr stays readable."""
        if self.proc is not None:
            self._launch.stop()
            self.proc = None

    def _read_stderr(self):
        return self._launch.stderr_text() if self._launch is not None else ""

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
