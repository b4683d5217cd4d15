# SPDX-License-Identifier: MIT
"""Notification tests (doc/contract.md §6): tests/integration/test_notify_*.py
and tests/bench/bench_notify.py. The demo service they open incidents on,
its routing key, the simulator's incidents, which logged requests deliver a
notification, and NotifyTestCase."""

from .config import block, plugin_block
from .redaction import register_secret
from .settings import HarnessError
from .testcase import DaemonTestCase
from .util import wait_until

# The demo service the notification tests open incidents on: active, in no
# team, no maintenance window, nothing open at start.
NOTIFY_SERVICE = "Internal Tools"
# PUTVAL interval of the values a threshold watches: collectd drops a value
# (and the threshold plugin sends a FAILURE "has not been updated") after
# 2 intervals without an update, which a test must never trip over.
WATCHED_INTERVAL = 3600


def service_id(sim, name=NOTIFY_SERVICE):
    """The id of the simulator's service called name."""
    for service in sim.state()["services"]:
        if service["name"] == name:
            return service["id"]
    raise HarnessError("pdsim has no service %r" % name)


def routing_key(sim, name=NOTIFY_SERVICE):
    """The Events API v2 routing key of the service called name (registered
    as a secret: it must never show up in anything collectd writes)."""
    for entry in sim.control("GET", "/tokens")["routing_keys"]:
        if entry["service_name"] == name:
            return register_secret(entry["routing_key"])
    raise HarnessError("pdsim has no routing key for %r" % name)


def incidents(sim, key=None, service=None):
    """The simulator's incidents (with notes), optionally only those with
    incident_key `key` and/or on service id `service`."""
    return [i for i in sim.state()["incidents"]
            if (key is None or i.get("incident_key") == key)
            and (service is None or i.get("service_id") == service)]


def is_notify_request(r):
    """Whether a logged pdsim request delivers a notification (Events API,
    or a REST write or incident lookup), as opposed to the read side's
    polling (GET /users/me, /services, incident lists)."""
    path = r["path"]
    if path == "/v2/enqueue" or r["method"] in ("POST", "PUT"):
        return True
    if r["method"] != "GET" or not path.startswith("/incidents"):
        return False
    return path != "/incidents" or "incident_key" in (r.get("query") or {})


class NotifyTestCase(DaemonTestCase):
    """Base of the notification tests: a demo simulator, the routing key
    and id of NOTIFY_SERVICE, a token file of the manager, and builders for
    Account / Notify blocks."""

    def setUp(self):
        super().setUp()
        self.sim = self.start_simulator(scenario="demo")
        self.service = service_id(self.sim)
        self.routing_key = routing_key(self.sim)
        self.token_path = self.token_file(self.sim.token)

    # -- configuration -----------------------------------------------------
    def account(self, name="acme", url=None, **options):
        """An Account polling little (Collect "services") every second, so
        that a TokenFile change is seen within a second."""
        opts = {"TokenFile": self.token_path, "URL": url or self.sim.url,
                "Interval": 1, "Collect": "services"}
        opts.update(options)
        return block("Account", name, [(k, v) for k, v in opts.items()
                                       if v is not None])

    def events_notify(self, name="ev", url=None, **options):
        """A Notify block on the Events API (RoutingKey)."""
        opts = {"RoutingKey": self.routing_key,
                "EventsURL": url or self.sim.url}
        opts.update(options)
        return block("Notify", name, [(k, v) for k, v in opts.items()
                                      if v is not None])

    def rest_notify(self, name="rest", account="acme", **options):
        """A Notify block on the REST API (Service + Account)."""
        opts = {"Service": self.service, "Account": account}
        opts.update(options)
        return block("Notify", name, [(k, v) for k, v in opts.items()
                                      if v is not None])

    def start_notify(self, *blocks, options=(), **collectd_kwargs):
        return self.start_collectd(plugin_block(*blocks, options=options),
                                   **collectd_kwargs)

    # -- the simulator's side --------------------------------------------------
    def incidents(self, key=None, service=None):
        return incidents(self.sim, key, service)

    def wait_incidents(self, key=None, count=1, status=None, service=None,
                       timeout=30, check=None):
        """Waits until at least `count` incidents with incident_key `key`
        (and `status`, and satisfying check(incident)) exist; returns all
        incidents with that key."""
        def found():
            all_ = self.incidents(key, service)
            ok = [i for i in all_ if (status is None or i["status"] == status)
                  and (check is None or check(i))]
            return all_ if len(ok) >= count else None
        return wait_until(found, timeout, interval=0.2,
                          message="%d incident(s) key=%r status=%s"
                          % (count, key, status))

    def notify_requests(self, since=None):
        return [r for r in self.sim.requests(since) if is_notify_request(r)]

    # -- the daemon's side -------------------------------------------------------
    @staticmethod
    def notify_id(daemon, name, series_id):
        """<Hostname>/pagerduty-notify-<name>/<type>-<type_instance> of a
        Notify block's series of the table (series.py), e.g.
        "NOTIFY_PENDING"."""
        import series  # runs tests/pd_series_table: only when needed
        s = series.by_id(series_id)
        if s.entity != "notify":
            raise HarnessError("%s is not a Notify block's series" % s.id)
        return daemon.identifier("notify-" + name, s.type, s.name())

    def wait_counter(self, daemon, name, series_id, predicate, timeout=30):
        """Waits for the raw value of a derive series of Notify `name`
        ("NOTIFY_SENT", "NOTIFY_RETRIED", "NOTIFY_FAILED", ...; csv: GETVAL
        answers rates) to satisfy predicate."""
        import series
        if series.by_id(series_id).type != "derive":
            raise HarnessError("%s is not a counter" % series_id)
        return daemon.wait_for_csv(
            self.notify_id(daemon, name, series_id), predicate,
            timeout=timeout)

    def putval(self, daemon, identifier, value):
        """PUTVAL of a watched value (see WATCHED_INTERVAL)."""
        return daemon.sock.putval(identifier, value,
                                  interval=WATCHED_INTERVAL)

    def wait_notifications(self, daemon, severity, count, contains="",
                           timeout=20):
        """Waits until collectd's logfile plugin logged `count`
        notifications of `severity` (FAILURE, WARNING, OKAY) whose line
        contains `contains`: they were dispatched (the notification
        callbacks run one after the other in the dispatching thread)."""
        head = "Notification: severity = %s," % severity

        def seen():
            hits = [m for m in daemon.messages(None, contains=head)
                    if contains in m]
            return hits if len(hits) >= count else None
        return wait_until(seen, timeout, interval=0.1,
                          message="%d %s notification(s) %r"
                          % (count, severity, contains))
