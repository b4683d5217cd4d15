# SPDX-License-Identifier: MIT
"""collectd's unixsock text protocol (collectd-unixsock(5)): UnixSock, one
connection per command, and SockValues, the value cache as a daemon sees
it (mixed into daemon.Collectd)."""

import socket
import time

from .settings import STALL_TIMEOUT, HarnessError, scaled
from .util import wait_until


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


class SockValues:
    """Values through unixsock. Needs from its host: sock (a UnixSock),
    running, proc and default_timeout(seconds)."""

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
