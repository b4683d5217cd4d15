# SPDX-License-Identifier: MIT
"""Rolling 60-second request budgets.

REST: one budget per user (all of a user's tokens together) or per account
key, `per_minute` requests (default 960). Events: one per routing key (120).
Real time (monotonic), not the simulator clock, drives them. A refused
request does not use budget."""

import collections
import math
import threading
import time

WINDOW = 60.0


class Decision:
    __slots__ = ("allowed", "limit", "remaining", "reset")

    def __init__(self, allowed, limit, remaining, reset):
        self.allowed = allowed
        self.limit = limit
        self.remaining = remaining
        self.reset = reset

    def headers(self):
        return {"ratelimit-limit": str(self.limit), "ratelimit-remaining": str(self.remaining),
                "ratelimit-reset": str(self.reset)}


class RollingBudget:
    def __init__(self, per_minute):
        self.per_minute = per_minute
        self._hits = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def set_limit(self, per_minute):
        with self._lock:
            self.per_minute = per_minute

    def clear(self):
        with self._lock:
            self._hits.clear()

    def take(self, key):
        """Count one request for `key` if the budget allows it."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0] <= now - WINDOW:
                hits.popleft()
            allowed = len(hits) < self.per_minute
            if allowed:
                hits.append(now)
            remaining = max(0, self.per_minute - len(hits))
            # Rounded to milliseconds first: (t + 60) - t can come out as 60.000...01.
            reset = math.ceil(round(hits[0] + WINDOW - now, 3)) if hits else 0
            return Decision(allowed, self.per_minute, remaining, min(max(reset, 0), int(WINDOW)))
