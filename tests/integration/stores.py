# SPDX-License-Identifier: MIT
"""
stores.py - real metric stores on loopback, for tests/integration/
test_stores.py: Graphite (carbon-cache and graphite-web, Debian's
graphite-carbon and graphite-web) and InfluxDB 1.x (Debian's influxdb, with
its collectd input).

  Carbon        carbon-cache in the foreground with a carbon.conf and
                storage-schemas.conf of its own in a temp dir (whisper files,
                logs and pid file there too), on free loopback ports.
  GraphiteWeb   graphite-web's WSGI application under wsgiref (this file run
                as a script), with a settings module of its own that reads
                Carbon's whisper files and asks its cache for what is not
                written yet; render() and find() are its HTTP API.
  InfluxDB      influxd with a config of its own in a temp dir: HTTP API and
                the collectd (UDP) input with collectd's types.db on free
                loopback ports, nothing on the default ones; query().

  graphite_rows() / influx_rows() read what a store holds back as
  {collectd identifier: [(epoch, value), ...]}, the shape truth.py's
  compare_rows() checks.

The names, as the README's "Sending the values to Graphite / InfluxDB"
documents them (collectd's write_graphite with Prefix "collectd." and
StoreRates false; network plugin into InfluxDB's collectd input):
  Graphite  collectd.<host>.pagerduty-<account>.<type>-<type_instance>
  InfluxDB  measurement pagerduty_<data source> (pagerduty_value,
            pagerduty_seconds for duration), tags host, instance (the
            Account or notify-<name>), type, type_instance; field value.

Nothing here uses the system's service configuration or default ports, and
every wait is on a condition, bounded. Python standard library only.
"""

import json
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import harness

CARBON_CACHE = "/usr/bin/carbon-cache"
INFLUXD = "/usr/bin/influxd"
GRAPHITE_WSGI = "/usr/share/graphite-web/graphite.wsgi"
GRAPHITE_PREFIX = "collectd"


def missing_programs():
    """What of the stores is not installed (Debian package names)."""
    out = []
    if not os.access(CARBON_CACHE, os.X_OK):
        out.append("graphite-carbon")
    if not os.path.exists(GRAPHITE_WSGI):
        out.append("graphite-web")
    if not os.access(INFLUXD, os.X_OK):
        out.append("influxdb")
    return out


def free_port(kind=socket.SOCK_STREAM):
    """A loopback port nobody listens on now (the servers here cannot
    report a port 0 they were given; the window until they bind is short
    and a lost race fails their start-up loudly)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _http_json(url, data=None, timeout=30):
    req = urllib.request.Request(url, data=data)
    try:
        with urllib.request.urlopen(req, timeout=harness.scaled(timeout)) \
                as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        raise harness.HarnessError("%s -> HTTP %s: %s" % (
            url.split("?")[0], e.code,
            e.read().decode("utf-8", "replace")[:500]))
    return json.loads(raw.decode("utf-8")) if raw.strip() else None


class _Server:
    """A server process in a temp dir; stop() terminates it."""

    name = "server"

    def __init__(self):
        self.tmp = harness.TempDir("pd-%s-" % self.name)
        self.proc = None
        self.log_path = self.tmp.join("%s.out" % self.name)

    def _start(self, argv, env=None):
        with open(self.log_path, "ab") as out:
            self.proc = harness._spawn(argv, cwd=self.tmp.path, env=env,
                                       stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT)

    def _wait(self, ready, timeout, what):
        def check():
            if self.proc.poll() is not None:
                raise harness.HarnessError("%s exited (status %s) while "
                                           "starting\n%s" % (
                                               self.name, self.proc.returncode,
                                               self.describe()))
            return ready()
        try:
            harness.wait_until(check, timeout, interval=0.2, message=what)
        except AssertionError as e:
            raise harness.HarnessError("%s\n%s" % (e, self.describe()))

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def describe(self, tail=30):
        lines = self.log_text().splitlines()[-tail:]
        return "%s (%s), output tail:\n%s" % (
            self.name, self.tmp.path, "\n".join("  " + l for l in lines))

    def stop(self):
        if self.proc is not None:
            harness._terminate(self.proc, timeout=15)
            self.proc = None
        self.tmp.close()


class Carbon(_Server):
    """carbon-cache: line receiver on .line_port (what write_graphite talks
    to), cache query port for graphite-web, whisper files in .whisper_dir
    kept at one point per second for an hour (so every value the plugin
    dispatches keeps its own second: see the README on retentions)."""

    name = "carbon"

    def start(self):
        self.whisper_dir = self.tmp.join("whisper")
        self.line_port = free_port()
        self.pickle_port = free_port()
        self.query_port = free_port()
        conf = self.tmp.join("carbon.conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "[cache]",
                "STORAGE_DIR = %s/" % self.tmp.path,
                "LOCAL_DATA_DIR = %s/" % self.whisper_dir,
                "WHITELISTS_DIR = %s/lists/" % self.tmp.path,
                "CONF_DIR = %s/" % self.tmp.path,
                "LOG_DIR = %s/" % self.tmp.path,
                "PID_DIR = %s/" % self.tmp.path,
                "DATABASE = whisper",
                "ENABLE_LOGROTATION = False",
                "USER =",
                "MAX_CACHE_SIZE = inf",
                "MAX_UPDATES_PER_SECOND = inf",
                "MAX_CREATES_PER_MINUTE = inf",
                "LINE_RECEIVER_INTERFACE = 127.0.0.1",
                "LINE_RECEIVER_PORT = %d" % self.line_port,
                "ENABLE_UDP_LISTENER = False",
                "PICKLE_RECEIVER_INTERFACE = 127.0.0.1",
                "PICKLE_RECEIVER_PORT = %d" % self.pickle_port,
                "CACHE_QUERY_INTERFACE = 127.0.0.1",
                "CACHE_QUERY_PORT = %d" % self.query_port,
                "LOG_LISTENER_CONN_SUCCESS = False",
                "WHISPER_AUTOFLUSH = False",
                "WHISPER_FALLOCATE_CREATE = False",
                ""]))
        with open(self.tmp.join("storage-schemas.conf"), "w") as f:
            f.write("[everything]\npattern = .*\nretentions = 1s:1h\n")
        os.makedirs(self.whisper_dir)
        self._start([CARBON_CACHE, "--config=%s" % conf, "--debug",
                     "--pidfile=%s" % self.tmp.join("carbon.pid"),
                     "--logdir=%s" % self.tmp.path, "start"])
        self._wait(lambda: _accepts(self.line_port) and
                   _accepts(self.query_port), 60, "carbon-cache's ports")
        return self


class GraphiteWeb(_Server):
    """graphite-web on a free loopback port (wsgiref, this file as a
    script), reading `carbon`'s whisper files and cache; nothing cached on
    its side, so every request sees the latest points."""

    name = "graphite-web"

    def start(self, carbon):
        storage = self.tmp.join("storage")
        os.makedirs(os.path.join(storage, "log", "webapp"))
        with open(self.tmp.join("pd_graphite_settings.py"), "w") as f:
            f.write("\n".join([
                "# graphite-web settings of tests/integration/stores.py",
                "SECRET_KEY = %r" % os.urandom(16).hex(),
                "STORAGE_DIR = %r" % storage,
                "WHISPER_DIR = %r" % (carbon.whisper_dir + "/"),
                "STANDARD_DIRS = [%r]" % (carbon.whisper_dir + "/"),
                "LOG_DIR = %r" % os.path.join(storage, "log", "webapp"),
                "INDEX_FILE = %r" % os.path.join(storage, "index"),
                "CARBONLINK_HOSTS = ['127.0.0.1:%d']" % carbon.query_port,
                "DEFAULT_CACHE_DURATION = 0",
                "FIND_CACHE_DURATION = 0",
                "USE_WORKER_POOL = False",
                "ALLOWED_HOSTS = ['127.0.0.1', 'localhost']",
                "DATABASES = {'default': {'ENGINE': "
                "'django.db.backends.sqlite3', 'NAME': %r}}"
                % os.path.join(storage, "graphite.db"),
                ""]))
        env = dict(os.environ,
                   PYTHONPATH=self.tmp.path,
                   GRAPHITE_SETTINGS_MODULE="pd_graphite_settings",
                   DJANGO_SETTINGS_MODULE="graphite.settings")
        self._start([harness.PYTHON3, os.path.abspath(__file__),
                     "graphite-web"], env=env)
        self._wait(self._port_from_log, 60, "graphite-web's READY line")
        self.url = "http://127.0.0.1:%d" % self.port
        return self

    def _port_from_log(self):
        m = re.search(r"^READY port=(\d+)$", self.log_text(), re.M)
        if m:
            self.port = int(m.group(1))
        return m is not None

    def render(self, targets, since="-15min", max_points=None):
        """POST /render format=json: [{"target", "datapoints"}, ...]."""
        params = [("format", "json"), ("from", since), ("until", "now")]
        params += [("target", t) for t in targets]
        if max_points:
            params.append(("maxDataPoints", str(max_points)))
        return _http_json(self.url + "/render",
                          urllib.parse.urlencode(params).encode())

    def png(self, targets, since="-5min", **params):
        """POST /render as a PNG (graphite-web draws it with cairo):
        the image's bytes. params: width, height, title, ... as the render
        API names them."""
        fields = [("from", since), ("until", "now"), ("format", "png")]
        fields += [("target", t) for t in targets]
        fields += sorted((k, str(v)) for k, v in params.items())
        req = urllib.request.Request(self.url + "/render",
                                     urllib.parse.urlencode(fields).encode())
        with urllib.request.urlopen(req, timeout=harness.scaled(60)) as resp:
            data = resp.read()
        if not data.startswith(b"\x89PNG"):
            raise harness.HarnessError("graphite-web answered no PNG: %r"
                                       % data[:200])
        return data

    def find(self, query):
        """/metrics/find: the names of the nodes matching query."""
        found = _http_json(self.url + "/metrics/find?" + urllib.parse.
                           urlencode({"query": query, "format": "treejson"}))
        return [n["text"] for n in found]


class InfluxDB(_Server):
    """influxd with the HTTP API on .http_port and the collectd input on
    UDP .collectd_port (database "collectd", collectd's types.db)."""

    name = "influxdb"
    DATABASE = "collectd"

    def start(self):
        self.http_port = free_port()
        self.rpc_port = free_port()
        self.collectd_port = free_port(socket.SOCK_DGRAM)
        conf = self.tmp.join("influxdb.conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "reporting-disabled = true",
                'bind-address = "127.0.0.1:%d"' % self.rpc_port,
                "[meta]",
                '  dir = "%s"' % self.tmp.join("meta"),
                "[data]",
                '  dir = "%s"' % self.tmp.join("data"),
                '  wal-dir = "%s"' % self.tmp.join("wal"),
                "  query-log-enabled = false",
                "[http]",
                "  enabled = true",
                '  bind-address = "127.0.0.1:%d"' % self.http_port,
                "  log-enabled = false",
                "[monitor]",
                "  store-enabled = false",
                "[continuous_queries]",
                "  enabled = false",
                "[[collectd]]",
                "  enabled = true",
                '  bind-address = "127.0.0.1:%d"' % self.collectd_port,
                '  database = "%s"' % self.DATABASE,
                '  typesdb = "%s"' % harness.TYPES_DB,
                "  batch-size = 1000",
                '  batch-timeout = "200ms"',
                ""]))
        self.url = "http://127.0.0.1:%d" % self.http_port
        self._start([INFLUXD, "-config", conf])
        self._wait(self._pings, 60, "influxd's HTTP API")
        # The collectd input would create its database with the first
        # batch; queries before that would fail instead of finding nothing.
        self.query("CREATE DATABASE %s" % self.DATABASE, db=None, post=True)
        return self

    def _pings(self):
        try:
            with urllib.request.urlopen(self.url + "/ping", timeout=2) as r:
                return r.status == 204
        except (OSError, urllib.error.URLError):
            return False

    def query(self, q, db=DATABASE, post=False):
        """/query (epoch=ms; POST for statements that change something):
        the "series" of the single statement's result ([] when it has
        none); raises on an error."""
        params = {"q": q, "epoch": "ms"}
        if db:
            params["db"] = db
        encoded = urllib.parse.urlencode(params)
        if post:
            answer = _http_json(self.url + "/query", encoded.encode())
        else:
            answer = _http_json(self.url + "/query?" + encoded)
        results = answer.get("results") or [{}]
        if "error" in answer or "error" in results[0]:
            raise harness.HarnessError("InfluxDB: %s: %s" % (
                q, answer.get("error") or results[0].get("error")))
        return results[0].get("series") or []


# --------------------------------------------------------------------------
# collectd's side


def collectd_config(graphite_port, network_port=None, flush_interval=10):
    """write_graphite (and network, when network_port is given) as the
    README's "Sending the values to Graphite / InfluxDB" documents them;
    only the addresses and the flush interval differ."""
    text = """
LoadPlugin write_graphite
<LoadPlugin write_graphite>
  FlushInterval %(flush)d
</LoadPlugin>
<Plugin write_graphite>
  <Node "graphite">
    Host "127.0.0.1"
    Port "%(graphite)d"
    Protocol "tcp"
    Prefix "collectd."
    EscapeCharacter "_"
    SeparateInstances false
    StoreRates false
    AlwaysAppendDS false
  </Node>
</Plugin>
""" % {"flush": flush_interval, "graphite": graphite_port}
    if network_port is not None:
        text += """<LoadPlugin network>
  FlushInterval %(flush)d
</LoadPlugin>
<Plugin network>
  Server "127.0.0.1" "%(network)d"
</Plugin>
""" % {"flush": flush_interval, "network": network_port}
    return text


# --------------------------------------------------------------------------
# What the stores hold, as collectd identifiers


def graphite_name(identifier):
    """collectd identifier -> Graphite metric name (write_graphite with
    Prefix "collectd.", EscapeCharacter "_", one data source per type)."""
    host, plugin, type_part = identifier.split("/")
    return ".".join([GRAPHITE_PREFIX, host.replace(".", "_"), plugin,
                     type_part])


def graphite_rows(web, host, plugin, since="-15min"):
    """{identifier: [(epoch, value), ...]} of every metric under
    collectd.<host>.<plugin>.* (nulls left out)."""
    out = {}
    for series in web.render(["%s.%s.%s.*" % (GRAPHITE_PREFIX, host,
                                              plugin)], since=since):
        parts = series["target"].split(".")
        ident = "/".join(parts[1:4])
        rows = [(float(ts), float(v)) for v, ts in series["datapoints"]
                if v is not None]
        if rows:
            out[ident] = rows
    return out


def influx_rows(db, host, instance, since="15m"):
    """{identifier: [(epoch, value), ...]} of every pagerduty_* point with
    tags host and instance."""
    out = {}
    for m in ("pagerduty_value", "pagerduty_seconds"):
        q = ('SELECT "value" FROM "%s" WHERE "host" = \'%s\' AND '
             '"instance" = \'%s\' AND time > now() - %s GROUP BY "type", '
             '"type_instance"' % (m, host, instance, since))
        for series in db.query(q):
            tags = series["tags"]
            ident = "%s/pagerduty-%s/%s-%s" % (host, instance, tags["type"],
                                               tags["type_instance"])
            out.setdefault(ident, []).extend(
                (t / 1000.0, float(v)) for t, v in series["values"]
                if v is not None)
    for rows in out.values():
        rows.sort()
    return out


# --------------------------------------------------------------------------
# graphite-web under wsgiref (run by GraphiteWeb.start)


def _serve_graphite_web():
    from wsgiref.simple_server import WSGIRequestHandler, make_server
    import runpy

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, fmt, *args):  # one line per request: noise
            pass

    app = runpy.run_path(GRAPHITE_WSGI)["application"]
    # /metrics/find (what Grafana's variables use) looks up the user's
    # profile: the temp dir's sqlite database needs graphite-web's tables.
    from django.core.management import call_command
    call_command("migrate", verbosity=0, interactive=False)
    server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    print("READY port=%d" % server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    if sys.argv[1:] == ["graphite-web"]:
        _serve_graphite_web()
    else:
        sys.exit("usage: stores.py graphite-web (see GraphiteWeb)")
