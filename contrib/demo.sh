#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# contrib/demo.sh - see the plugin work, end to end, on this machine.
#
# Installs what is missing (apt), builds (in build/), starts the bundled
# PagerDuty simulator with its demo account, writes a collectd config with
# the plugin (an Account reading the simulator, a Notify block that turns a
# threshold alert into a PagerDuty incident) and runs the real collectd
# daemon on it. Then it shows PagerDuty as the plugin's values tell it, in
# one screen (services, schedules, escalation policies, the API connection,
# the Notify block's queue; contrib/demo_view.py), and plays a threshold
# story: web01's disk fills up (FAILURE -> incident opened), stays full (a
# note), and is cleaned up (OKAY -> incident resolved). Each story line is
# followed by what changed in the values after it.
#
#   contrib/demo.sh          runs until Ctrl-C, which stops everything; on a
#                            terminal the view is redrawn in place
#   contrib/demo.sh --once   one full cycle, a summary, exit 0 - or non-zero
#                            when collectd did not load the plugin, the
#                            plugin did not reach the simulator or the
#                            incident was not opened, noted and resolved
#   contrib/demo.sh --raw    (with or without --once) also every pagerduty
#                            identifier and its value, every few seconds
#                            (the output scrolls: no redrawing in place)
#   contrib/demo.sh --graphs DIR
#                            the values through write_graphite into a real
#                            carbon-cache, a short story (an incident opened,
#                            acknowledged, resolved; a disk alert delivered
#                            after a retry), then PNGs drawn by graphite-web's
#                            render API in DIR (contrib/demo_graphs.py;
#                            about two minutes)
#
# Nothing is installed into the system's collectd: the daemon runs with a
# config in a temp dir and loads the plugin from build/plugin/.libs. The
# token and routing key are only in files in that 0700 temp dir; they are
# never printed.
set -euo pipefail
source "$(dirname "$0")/common.sh"

ONCE=
RAW=
GRAPHS=
while [ $# -gt 0 ]; do
  case $1 in
    --once) ONCE=--once ;;
    --raw) RAW=--raw ;;
    --graphs) GRAPHS=${2:?--graphs needs a directory}; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--once] [--raw] | --graphs DIR" >&2; exit 2 ;;
  esac
  shift
done

COLLECTD=${COLLECTD:-/usr/sbin/collectd}
PYTHON3=${PYTHON3:-/usr/bin/python3}
INTERVAL=2
NOTE_INTERVAL=10

# --- install and build -------------------------------------------------------
pd_install_packages
# autoreconf's chatter (libtoolize, automake) into a log, as make's is.
mkdir -p "$PD_SRCDIR/build"
if ! pd_autoreconf >"$PD_SRCDIR/build/autoreconf.log" 2>&1; then
  cat "$PD_SRCDIR/build/autoreconf.log" >&2
  exit 1
fi
pd_configure build
pd_say "make (in build)"
if ! make -C "$PD_SRCDIR/build" -j2 >"$PD_SRCDIR/build/make.log" 2>&1; then
  tail -n 40 "$PD_SRCDIR/build/make.log"
  pd_say "the build failed (full output: build/make.log)"
  exit 1
fi
PLUGIN_DIR="$PD_SRCDIR/build/plugin/.libs"

if [ -n "$GRAPHS" ]; then
  mkdir -p "$GRAPHS"
  exec "$PYTHON3" "$PD_SRCDIR/contrib/demo_graphs.py" --out "$GRAPHS" \
    --plugin-dir "$PLUGIN_DIR"
fi

# --- a temp dir, and stopping everything whatever happens ----------------------
tmp=$(mktemp -d /tmp/pagerduty-demo.XXXXXX)   # mode 0700
pdsim_pid= collectd_pid= watch_pid=
stop_pid() {  # SIGTERM, then wait for it (it is our child)
  if [ -n "$1" ] && kill -TERM "$1" 2>/dev/null; then
    wait "$1" 2>/dev/null
  fi
  return 0
}
cleanup() {
  local status=$?
  set +e    # stop everything, whatever fails on the way
  trap - EXIT INT TERM
  stop_pid "$watch_pid"
  stop_pid "$collectd_pid"
  stop_pid "$pdsim_pid"
  if [ -n "${PD_DEMO_KEEP:-}" ]; then
    pd_say "kept $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the simulator ----------------------------------------------------------------
pd_say "starting the PagerDuty simulator (demo account)"
coproc PDSIM { exec "$PD_SRCDIR/tests/pdsim/pdsim" --port 0 --scenario demo 2>"$tmp/pdsim.log"; }
pdsim_pid=$PDSIM_PID
ready=
if ! read -r -t 30 ready <&"${PDSIM[0]}" || [[ $ready != READY\ url=* ]]; then
  pd_say "the simulator did not start; its log:"
  cat "$tmp/pdsim.log" >&2
  exit 1
fi
url=${ready#READY url=}
url=${url%% *}
( umask 077; printf '%s\n' "${ready##* token=}" >"$tmp/token" )
unset ready

# A service of the demo account with an Events API integration: its routing
# key goes into the Notify block (a file in the temp dir, never printed).
read -r service_id routing_key service_name < <("$PYTHON3" - "$url" <<'PY'
import json, sys, urllib.request
state = json.load(urllib.request.urlopen(sys.argv[1] + "/_sim/state"))
for service in state["services"]:
    for integration in service.get("integrations", []):
        if integration.get("routing_key"):
            print(service["id"], integration["routing_key"], service["name"])
            sys.exit(0)
sys.exit("no service with an Events API integration in the demo account")
PY
)
pd_say "simulator at $url; notifications go to service \"$service_name\" ($service_id)"

# --- collectd ---------------------------------------------------------------------
conf="$tmp/collectd.conf"
cat >"$conf" <<EOF
# collectd-pagerduty demo (written by contrib/demo.sh)
Hostname "demo"
FQDNLookup false
BaseDir "$tmp"
PIDFile "$tmp/collectd.pid"
Interval $INTERVAL
TypesDB "/usr/share/collectd/types.db"

LoadPlugin logfile
<Plugin logfile>
  LogLevel "info"
  File "$tmp/collectd.log"
  Timestamp true
  PrintSeverity true
</Plugin>

LoadPlugin unixsock
<Plugin unixsock>
  SocketFile "$tmp/collectd.sock"
  SocketGroup "$(id -gn)"
</Plugin>

# web01's disk (fed by the demo through unixsock PUTVAL) pages at 90 %.
LoadPlugin threshold
<Plugin threshold>
  <Host "web01">
    <Plugin "df">
      Instance "root"
      <Type "percent_bytes">
        Instance "used"
        WarningMax 80
        FailureMax 90
        # Repeat FAILURE every interval while it lasts (notes need this).
        Persist true
        PersistOK false
      </Type>
    </Plugin>
  </Host>
</Plugin>

# The plugin from the build tree (PluginDir applies to later LoadPlugin lines).
PluginDir "$PLUGIN_DIR"
LoadPlugin pagerduty
PluginDir "/usr/lib/collectd"

<Plugin pagerduty>
  <Account "demo">
    TokenFile "$tmp/token"
    URL "$url"
  </Account>
  <Notify "disk">
    Host "web01"
    Plugin "df"
    Type "percent_bytes"
    RoutingKey "$routing_key"
    Account "demo"
    EventsURL "$url"
    NoteInterval $NOTE_INTERVAL
  </Notify>
</Plugin>
EOF
chmod 600 "$conf"
unset routing_key

pd_say "starting collectd with $conf"
"$COLLECTD" -f -C "$conf" >"$tmp/collectd.stdout" 2>&1 &
collectd_pid=$!
for _ in $(seq 1 100); do
  [ -S "$tmp/collectd.sock" ] && break
  if ! kill -0 "$collectd_pid" 2>/dev/null; then
    pd_say "collectd exited at start-up:"
    cat "$tmp/collectd.stdout" "$tmp/collectd.log" 2>/dev/null >&2 || true
    collectd_pid=
    exit 1
  fi
  sleep 0.1
done
if [ -n "$ONCE" ]; then
  pd_say "collectd is running (log: $tmp/collectd.log); one cycle"
else
  pd_say "collectd is running (log: $tmp/collectd.log); Ctrl-C stops everything"
fi

# In the background so that `wait` returns as soon as a signal arrives and
# the trap stops everything (a foreground child would delay the trap).
"$PYTHON3" "$PD_SRCDIR/contrib/demo_watch.py" --socket "$tmp/collectd.sock" \
  --sim "$url" --log "$tmp/collectd.log" --collectd-pid "$collectd_pid" \
  --interval "$INTERVAL" --note-interval "$NOTE_INTERVAL" $ONCE $RAW &
watch_pid=$!
status=0
wait "$watch_pid" || status=$?
watch_pid=
exit "$status"
