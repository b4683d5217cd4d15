# SPDX-License-Identifier: MIT
"""HTTP(S) server and dispatch.

One ThreadingHTTPServer on 127.0.0.1 serves the REST API, the Events API
(/v2/enqueue) and the control interface (/_sim/). HTTP/1.1 with
Content-Length on every answer so clients (libcurl) keep connections alive;
every request has its own thread, so a hanging request blocks no other.

Order for API requests: fault injection -> (Events | authentication ->
rate limit -> REST handler). Every API request is recorded in the request log
with its final status; control requests are not.
"""

import http.server
import json
import os
import socket
import ssl
import stat
import struct
import sys
import threading
import time
import traceback
import urllib.parse

from . import control, events, rest, scenarios
from .behaviour import Behaviour
from .churn import Churn
from .errors import STATUS_CODES, ApiError, rest_error
from .faults import FaultBook
from .ratelimit import RollingBudget
from .render import Renderer
from .reqlog import RequestLog
from .timeutil import Clock

EVENTS_PATH = "/v2/enqueue"
CONTROL_PREFIX = "/_sim/"
JSON_TYPE = "application/json; charset=utf-8"
MAX_BODY = 8 * 1024 * 1024


class Simulator:
    """Everything the handlers share: the account and the test machinery."""

    def __init__(self, scenario, seed, rate_limit, behaviour_settings=None, latency_ms=0, churn=0):
        # What PagerDuty leaves undocumented (behaviour.py); reset returns
        # to the settings of the command line.
        self.start_behaviour = dict(behaviour_settings or {})
        self.behaviour = Behaviour(**self.start_behaviour)
        self.scenario = scenario
        self.seed = seed
        self.clock = Clock()
        self.faults = FaultBook()
        self.requests = RequestLog()
        self.start_rate_limit = rate_limit
        self.rest_budget = RollingBudget(rate_limit)
        self.events_budget = RollingBudget(120)
        self.base_url = None
        self.account = scenarios.build(scenario, seed, self.clock.now())
        # --latency: every API answer waits this long (the real service's
        # 200-500 ms per request); control requests do not.
        self.latency = latency_ms / 1000.0
        # --churn: incident changes per minute, by a thread of its own
        # (churn.py; POST /_sim/churn changes the rate or makes changes now).
        self.churn = Churn(self, churn, seed)
        self.churn.start()

    def reset(self, scenario, seed):
        account = scenarios.build(scenario, seed, self.clock.now())
        self.scenario, self.seed, self.account = scenario, seed, account
        self.faults.clear()
        self.requests.clear()
        self.rest_budget.set_limit(self.start_rate_limit)
        self.rest_budget.clear()
        self.events_budget.set_limit(120)
        self.events_budget.clear()
        self.behaviour = Behaviour(**self.start_behaviour)

    def renderer(self, now):
        return Renderer(self.account, self.base_url, now)


class Request:
    """What a REST handler sees."""

    def __init__(self, sim, method, path, query, headers, raw_body, token, now):
        self.sim = sim
        self.account = sim.account
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.raw_body = raw_body
        self.token = token
        self.user = sim.account.users.get(token.user_id) if token and token.user_id else None
        self.now = now
        self.renderer = sim.renderer(now)
        self._json = None

    def json(self):
        if self._json is None:
            try:
                self._json = json.loads(self.raw_body.decode("utf-8")) if self.raw_body else {}
            except (ValueError, UnicodeDecodeError):
                raise rest_error(400, "Invalid Input Provided", 2001, ["The request body is not valid JSON"])
        return self._json


def _log(line):
    """Request logging on stderr; dropped rather than blocking when nobody
    reads the pipe."""
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (BlockingIOError, OSError, ValueError):
        pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate sends: without TCP_NODELAY every
    # answer on a kept-alive connection waits ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    server_version = "pdsim/1.0"
    sys_version = ""

    # -- plumbing ---------------------------------------------------------------
    def log_message(self, fmt, *args):
        pass

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status, body, headers=None, content_type=JSON_TYPE, declared_length=None):
        if body is None:
            data = b""
        elif isinstance(body, (bytes, bytearray)):
            data = bytes(body)
        else:
            data = json.dumps(body).encode("utf-8")
        self._log_request(status)
        self.send_response(status)
        if data or status not in (204, 304):
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(declared_length if declared_length is not None else len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    def _log_request(self, status):
        """Adds the API request being answered to the request log, before the
        answer leaves: a client that reads the log right after its response
        must find its request there."""
        record, self._pending_record = getattr(self, "_pending_record", None), None
        if record is None:
            return
        if record["status"] is None:
            record["status"] = status
        elapsed_ms = 1000 * (time.monotonic() - record.pop("started"))
        self.server.sim.requests.add(record)
        _log("pdsim: %s %s -> %s%s (%.0f ms)" % (
            record["method"], record["path"], record["status"],
            " fault=" + record["fault"] if record["fault"] else "", elapsed_ms))

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    # -- the request ---------------------------------------------------------------
    def _handle(self):
        sim = self.server.sim
        started = time.monotonic()
        parts = urllib.parse.urlsplit(self.path)
        path = parts.path or "/"
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        method = self.command
        try:
            raw = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send(413, {"error": {"message": "Request Entity Too Large", "code": 2001}})
            return
        self._pending_record = None
        if path.startswith(CONTROL_PREFIX):
            self._control(sim, method, path, query, raw)
            return
        record = {"time": time.time(), "started": started, "method": method, "path": path,
                  "query": query,
                  "token_kind": None, "auth": "missing", "user_id": None,
                  "from": self.headers.get("From"), "accept": self.headers.get("Accept"),
                  "content_type": self.headers.get("Content-Type"),
                  "user_agent": self.headers.get("User-Agent"),
                  "status": None, "body": _body_for_log(raw), "fault": None}
        self._pending_record = record
        try:
            self._api(sim, method, path, query, raw, record)
        except (ConnectionError, ssl.SSLError, TimeoutError):
            record["status"] = record["status"] or 0
            self.close_connection = True
        except Exception:   # a simulator bug: answer 500 and say why on stderr
            _log("pdsim: internal error on %s %s:\n%s" % (method, path, traceback.format_exc()))
            record["status"] = 500
            self.close_connection = True
            try:
                self._send(500, {"error": {"message": "Internal Server Error", "code": 2000}})
            except OSError:
                pass
        finally:
            # Requests that got no answer (a reset, a broken connection) are
            # logged here; answered ones were logged by _send.
            if record["status"] is not None or record["fault"] is not None:
                self._log_request(record["status"])
            self._pending_record = None

    def _control(self, sim, method, path, query, raw):
        try:
            body = json.loads(raw.decode("utf-8")) if raw.strip() else None
        except (ValueError, UnicodeDecodeError):
            self._send(400, {"error": "body is not JSON"})
            return
        try:
            status, out = control.handle(sim, method, path, query, body)
        except ApiError as e:
            status, out = e.status, e.body
        self._send(status, out)

    def _api(self, sim, method, path, query, raw, record):
        if sim.latency:
            time.sleep(sim.latency)     # --latency: the simulated network and server time
        if path != EVENTS_PATH:
            with sim.account.lock:
                auth, token = rest.authenticate(sim.account, self.headers.get("Authorization"))
            record["auth"] = auth
            if token is not None:
                record["token_kind"] = token.kind
                record["user_id"] = token.user_id
        else:
            record["auth"] = None      # the Events API has no Authorization
        fault, release = sim.faults.take(method, path)
        if fault is not None:
            record["fault"] = fault["kind"]
            if fault["kind"] == "hang":
                release.wait(fault.get("seconds"))
            elif self._apply_fault(fault, path, record):
                return
        if path == EVENTS_PATH:
            self._events(sim, method, raw, record)
        else:
            self._rest(sim, method, path, query, raw, record)

    # -- faults ------------------------------------------------------------------------
    def _apply_fault(self, fault, path, record):
        """Answer (or refuse to answer) as the fault says; True when done."""
        kind = fault["kind"]
        if kind == "status":
            status = int(fault.get("status", 503))
            record["status"] = status
            if path == EVENTS_PATH:
                body = {"status": "error", "message": self.responses.get(status, ("Error",))[0]}
            else:
                body = {"error": {"message": self.responses.get(status, ("Error",))[0],
                                  "code": STATUS_CODES.get(status, 2000 + status % 100)}}
            self._send(status, body)
            return True
        if kind == "ratelimit":
            record["status"] = 429
            headers = {}
            if fault.get("headers", True):
                headers = {"ratelimit-limit": str(self.server.sim.rest_budget.per_minute),
                           "ratelimit-remaining": "0", "ratelimit-reset": str(fault.get("reset", 2))}
            if fault.get("retry_after") is not None:
                headers["Retry-After"] = str(fault["retry_after"])
            if fault.get("body", fault.get("headers", True)):
                self._send(429, {"error": {"message": "Rate Limit Exceeded", "code": 2020}}, headers)
            else:
                self._send(429, b"", headers, content_type="text/plain")
            return True
        if kind == "reset":
            record["status"] = 0
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass
            return True
        if kind == "truncate":
            record["status"] = 200
            self.close_connection = True
            body = b'{"services":[{"id":"PTRUNC1","type":"service","name":"Truncated'
            self._send(200, body, declared_length=len(body) + int(fault.get("missing", 512)))
            return True
        if kind == "garbage":
            record["status"] = 200
            self._send(200, b"<<this is not JSON>> \x01\x02 }{ ][", content_type=JSON_TYPE)
            return True
        if kind == "html":
            status = int(fault.get("status", 502))
            record["status"] = status
            body = ("<html><head><title>%d Bad Gateway</title></head><body><center><h1>%d Bad Gateway"
                    "</h1></center><hr><center>nginx</center></body></html>\n" % (status, status)).encode()
            self._send(status, body, content_type="text/html")
            return True
        if kind == "notjson401":
            record["status"] = 401
            self._send(401, b"Unauthorized\n", content_type="text/plain")
            return True
        return False

    # -- Events API ------------------------------------------------------------------------
    def _events(self, sim, method, raw, record):
        if method != "POST":
            record["status"] = 404
            self._send(404, {"status": "Not Found", "message": "Not Found"})
            return
        try:
            event = events.validate(raw)
            decision = sim.events_budget.take("rk:" + event["routing_key"])
            if not decision.allowed:
                raise events.THROTTLED
            a = sim.account
            with a.lock:
                now = sim.clock.now()
                req = Request(sim, method, EVENTS_PATH, {}, self.headers, raw, None, now)
                body, rec = events.enqueue(a, event, now, lambda pid: rest._assignees_now(req, pid))
            record["event_result"] = rec.result
            record["status"] = 202
            self._send(202, body)
        except ApiError as e:
            record["status"] = e.status
            self._send(e.status, e.body, e.headers)

    # -- REST API ----------------------------------------------------------------------------
    def _rest(self, sim, method, path, query, raw, record):
        a = sim.account
        with a.lock:
            auth, token = rest.authenticate(a, self.headers.get("Authorization"))
        record["auth"] = auth
        if auth != "ok":
            err = rest.errors.auth_failed()
            record["status"] = err.status
            self._send(err.status, err.body)
            return
        decision = sim.rest_budget.take(rest.rate_key(token))
        headers = decision.headers()
        if not decision.allowed:
            record["status"] = 429
            self._send(429, {"error": {"message": "Rate Limit Exceeded", "code": 2020}}, headers)
            return
        try:
            with a.lock:
                req = Request(sim, method, path, query, self.headers, raw, token, sim.clock.now())
                status, body = rest.dispatch(req)
        except ApiError as e:
            status, body = e.status, e.body
            headers.update(e.headers)
        record["status"] = status
        self._send(status, body, headers)


def _body_for_log(raw):
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace")[:65536]


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, sim, port, tls_context=None):
        self.sim = sim
        super().__init__(("127.0.0.1", port), Handler)
        if tls_context is not None:
            # The handshake happens in the handler thread, on first read.
            self.socket = tls_context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        scheme = "https" if tls_context is not None else "http"
        sim.base_url = "%s://127.0.0.1:%d" % (scheme, self.server_address[1])

    def handle_error(self, request, client_address):
        # Clients that vanish (timeouts, resets, TLS failures) are not errors.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


def make_stderr_nonblocking():
    """When stderr is a pipe nobody drains, logging must not stall the server."""
    try:
        fd = sys.stderr.fileno()
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.set_blocking(fd, False)
    except (OSError, ValueError, AttributeError):
        pass


def tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


def serve(server):
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    t.start()
    return t
