# SPDX-License-Identifier: MIT
"""The request log tests read through GET /_sim/requests. Tokens are never
recorded, only what kind of token was used and whether it was accepted."""

import collections
import threading

MAX_RECORDS = 50000   # oldest records are dropped beyond this; seq keeps counting


class RequestLog:
    def __init__(self):
        self._lock = threading.Lock()
        self._records = collections.deque(maxlen=MAX_RECORDS)
        self._seq = 0

    def add(self, record):
        with self._lock:
            self._seq += 1
            record["seq"] = self._seq
            self._records.append(record)
            return self._seq

    def since(self, seq):
        """Records with a sequence number above `seq`, and the number to pass next time."""
        with self._lock:
            out = [dict(r) for r in self._records if r["seq"] > seq]
            return out, self._seq

    def clear(self):
        """Forget the records; sequence numbers keep increasing so a reader's
        `next` never points past new records."""
        with self._lock:
            self._records.clear()
