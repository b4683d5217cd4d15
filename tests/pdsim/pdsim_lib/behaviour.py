# SPDX-License-Identifier: MIT
"""What PagerDuty does not document about GET /incidents, as switches.

doc/pagerduty-api.md "Where the real service differs": the granularity to which
since/until are honoured is unknown (developer-docs issue #74; one report,
pagerduty-mcp-server issue #47, says only the date part counts), whether
sort_by is applied before the offset cap is unknown, and a time without a
zone is read in the account's time zone. Each switch defaults to the
harshest plausible behaviour, so a client tested here must be right under
all of them:

  incident_time   second | minute | day: since is moved back and until
                  forward to whole units of the account's time zone (the
                  window only ever widens; default day)
  incident_sort   honoured | ignored: ignored lists incidents in an order
                  unrelated to created_at (a hash of the ID), stable
                  between pages (default ignored)
  time_zone       the account's time zone: zone-less since/until are read
                  in it, and incidents render in it unless the request
                  names time_zone (default America/New_York)

The same is unknown of GET /log_entries (doc/pagerduty-api.md, "GET /log_entries, what
is not documented"):

  log_time        second | minute | day: as incident_time, for the
                  since/until of GET /log_entries (default day)
  log_delay       0..3600 seconds: a log entry is listed only some time
                  after its created_at, up to this many seconds (each
                  entry its own delay, a hash of its ID; default 30), so
                  a reader that moves its cursor to "now" loses entries
"""

import datetime
import hashlib
import zoneinfo

TIME_UNITS = ("second", "minute", "day")
SORTS = ("honoured", "ignored")
DEFAULTS = {"incident_time": "day", "incident_sort": "ignored", "time_zone": "America/New_York",
            "log_time": "day", "log_delay": 30}
MAX_LOG_DELAY = 3600


def zone(name):
    """The ZoneInfo of an IANA name; ValueError when there is none."""
    if not isinstance(name, str) or not name:
        raise ValueError("time_zone must be an IANA time zone name")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone: %s" % name)


class Behaviour:
    """The current switches (one per simulator; POST /_sim/behaviour)."""

    def __init__(self, **settings):
        self.incident_time = DEFAULTS["incident_time"]
        self.incident_sort = DEFAULTS["incident_sort"]
        self.time_zone = DEFAULTS["time_zone"]
        self.zone = zone(self.time_zone)
        self.log_time = DEFAULTS["log_time"]
        self.log_delay = DEFAULTS["log_delay"]
        self.update(settings)

    def update(self, changes):
        """Applies a dict of switches (all validated before any is set);
        ValueError names the first bad one."""
        unknown = set(changes) - set(DEFAULTS)
        if unknown:
            raise ValueError("unknown switch: %s" % sorted(unknown)[0])
        t = changes.get("incident_time", self.incident_time)
        s = changes.get("incident_sort", self.incident_sort)
        if t not in TIME_UNITS:
            raise ValueError("incident_time must be one of " + ", ".join(TIME_UNITS))
        if s not in SORTS:
            raise ValueError("incident_sort must be one of " + ", ".join(SORTS))
        lt = changes.get("log_time", self.log_time)
        if lt not in TIME_UNITS:
            raise ValueError("log_time must be one of " + ", ".join(TIME_UNITS))
        ld = changes.get("log_delay", self.log_delay)
        if isinstance(ld, bool) or not isinstance(ld, int) or not 0 <= ld <= MAX_LOG_DELAY:
            raise ValueError("log_delay must be whole seconds from 0 to %d" % MAX_LOG_DELAY)
        name = changes.get("time_zone", self.time_zone)
        z = zone(name)
        self.incident_time, self.incident_sort, self.time_zone, self.zone = t, s, name, z
        self.log_time, self.log_delay = lt, ld

    def as_json(self):
        return {k: getattr(self, k) for k in DEFAULTS}

    # -- what the switches do ---------------------------------------------------
    def widen(self, since, until, unit=None):
        """The [since, until) the server applies for the one asked for, in
        `unit` (default incident_time)."""
        unit = unit or self.incident_time
        if unit == "second":
            return float(int(since // 1)), float(-int(-until // 1))
        if unit == "minute":
            return float(since // 60 * 60), float(-(-until // 60) * 60)
        lo = datetime.datetime.fromtimestamp(since, self.zone)
        lo = lo.replace(hour=0, minute=0, second=0, microsecond=0)
        hi = datetime.datetime.fromtimestamp(until, self.zone)
        hi_day = hi.replace(hour=0, minute=0, second=0, microsecond=0)
        if hi_day.timestamp() < until:
            hi_day = hi_day + datetime.timedelta(days=1)   # wall clock: the next midnight
        return lo.timestamp(), hi_day.timestamp()

    def visible_at(self, entry):
        """When a log entry first shows in GET /log_entries (log_delay)."""
        if not self.log_delay:
            return entry.created_at
        h = int(hashlib.sha1(entry.id.encode()).hexdigest()[:8], 16)
        return entry.created_at + h % (self.log_delay + 1)

    def order(self, items):
        """incident_sort ignored: an order of its own, stable across pages."""
        return sorted(items, key=lambda i: hashlib.sha1(i.id.encode()).hexdigest())
