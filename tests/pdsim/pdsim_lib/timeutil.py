# SPDX-License-Identifier: MIT
"""Times: PagerDuty renders ISO 8601 in UTC ("2026-11-28T08:00:00Z"); the
simulator's "now" is the wall clock plus an offset tests can move."""

import datetime
import threading
import time

_UTC = datetime.timezone.utc


def fmt(ts, zone=None):
    """Epoch seconds -> '2026-11-28T08:00:00Z', or in `zone` (a tzinfo)
    '2026-11-28T03:00:00-05:00' (None stays None)."""
    if ts is None:
        return None
    if zone is None:
        return datetime.datetime.fromtimestamp(int(ts), _UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return datetime.datetime.fromtimestamp(int(ts), zone).isoformat()


def parse(text, zone=None):
    """ISO 8601 date or date-time (any offset, 'Z', fractions) -> epoch seconds.
    Raises ValueError for anything else. A naive time is read in `zone` (a
    tzinfo: the account's time zone, as PagerDuty does), UTC when None."""
    if not isinstance(text, str) or not text:
        raise ValueError("empty time")
    s = text.strip().replace(" ", "T", 1) if "T" not in text else text.strip()
    # An unencoded '+' of an offset arrives as a space in a query string.
    if len(s) > 6 and s[-6] == " " and s[-3] == ":":
        s = s[:-6] + "+" + s[-5:]
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    # Python 3.11 fromisoformat accepts most ISO 8601 forms; fix +0000 offsets.
    if len(s) > 5 and s[-5] in "+-" and s[-4:].isdigit() and ":" not in s[-5:]:
        s = s[:-2] + ":" + s[-2:]
    dt = datetime.datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone or _UTC)
    return dt.timestamp()


class Clock:
    """Wall clock shifted by an offset (POST /_sim/clock)."""

    def __init__(self):
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self):
        with self._lock:
            return time.time() + self._offset

    @property
    def offset(self):
        with self._lock:
            return self._offset

    def set_offset(self, seconds):
        with self._lock:
            self._offset = float(seconds)
