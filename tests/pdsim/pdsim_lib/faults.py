# SPDX-License-Identifier: MIT
"""Injected failures (POST /_sim/faults).

A fault matches the next `count` requests (-1: until cleared) whose path
starts with `path` and whose method is `method` (both optional). The first
matching fault, in the order added, applies. Hanging requests wait on an
event that DELETE /_sim/faults (or shutdown) sets.
"""

import threading

KINDS = ("status", "ratelimit", "hang", "reset", "truncate", "garbage", "html", "notjson401")


class Fault:
    def __init__(self, spec, fault_id):
        self.id = fault_id
        self.kind = spec["kind"]
        self.count = int(spec.get("count", 1))
        self.path = spec.get("path") or ""
        self.method = (spec.get("method") or "").upper()
        self.spec = dict(spec)
        self.hits = 0

    def matches(self, method, path):
        return (self.count != 0 and path.startswith(self.path)
                and (not self.method or self.method == method))

    def describe(self):
        d = dict(self.spec)
        d.update({"id": self.id, "remaining": self.count, "hits": self.hits})
        return d


class FaultBook:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []
        self._next_id = 1
        self._release = threading.Event()

    def add(self, spec):
        kind = spec.get("kind")
        if kind not in KINDS:
            raise ValueError("kind must be one of " + ", ".join(KINDS))
        count = spec.get("count", 1)
        if not isinstance(count, int) or (count < 1 and count != -1):
            raise ValueError("count must be a positive integer or -1")
        for name in ("status", "seconds", "reset", "retry_after"):
            if name in spec and not isinstance(spec[name], (int, float)):
                raise ValueError(name + " must be a number")
        with self._lock:
            fault = Fault(spec, self._next_id)
            self._next_id += 1
            self._faults.append(fault)
            return fault.describe()

    def take(self, method, path):
        """The fault for this request, if any, consuming one of its count.
        Also returns the release event a hang waits on."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.count > 0:
                        fault.count -= 1
                    fault.hits += 1
                    spec = dict(fault.spec)
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return spec, self._release
        return None, None

    def clear(self):
        """Drop every fault and release every hanging request."""
        with self._lock:
            self._faults = []
            self._release.set()
            self._release = threading.Event()

    def list(self):
        with self._lock:
            return [f.describe() for f in self._faults]
