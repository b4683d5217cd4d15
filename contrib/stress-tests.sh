#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# contrib/stress-tests.sh N - runs the whole test suite N times while
# stress-ng keeps every core busy, and ends with
#   N passed, N failed
# (runs, not tests). A suite that passes here does not depend on timing.
#
# Each run is contrib/test.sh (both builds; the environment it reads applies:
# PD_SKIP_ASAN=1 for the normal build only, JOBS), or, with
# PD_STRESS_BUILD=DIR, "make check" in that existing, configured build.
# The first contrib/test.sh run also builds; later runs only test.
#
# Environment:
#   PD_STRESS_BUILD    a configured build directory to run "make check" in
#   PD_STRESS_WORKERS  CPU hogs to run (default: one per core, nproc)
#   PD_STRESS_LOGDIR   where each run's output goes (default: stress-logs/
#                      in the source tree); the log of a failed run is kept,
#                      with its builds' test-suite.log (the failed tests' logs)
# Exits non-zero when any run failed.
set -euo pipefail
source "$(dirname "$0")/common.sh"

runs=${1:-}
if ! [[ $runs =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 N   (run the suite N times under CPU load)" >&2
  exit 2
fi

# Only this script needs stress-ng: CI (contrib/test.sh) does not install it.
PD_PACKAGES+=(stress-ng)
pd_install_packages
command -v stress-ng >/dev/null 2>&1 || { pd_say "stress-ng is missing"; exit 1; }

workers=${PD_STRESS_WORKERS:-$(nproc)}
logdir=${PD_STRESS_LOGDIR:-$PD_SRCDIR/stress-logs}
mkdir -p "$logdir"

# The load runs for as long as this script does, and no longer.
stress-ng --cpu "$workers" --quiet >"$logdir/stress-ng.log" 2>&1 &
stress_pid=$!
trap 'kill "$stress_pid" 2>/dev/null; wait "$stress_pid" 2>/dev/null || true' EXIT
pd_say "stress-ng: $workers CPU workers (pid $stress_pid)"

one_run() {
  if [ -n "${PD_STRESS_BUILD:-}" ]; then
    make -C "$PD_STRESS_BUILD" -j"${JOBS:-2}" check
  else
    "$PD_SRCDIR/contrib/test.sh"
  fi
}

passed=0 failed=0
for i in $(seq 1 "$runs"); do
  log="$logdir/run-$i.log"
  started=$(date +%s)
  pd_say "run $i of $runs (output: $log)"
  if one_run >"$log" 2>&1; then
    passed=$((passed + 1))
    summary=$(grep '^tests: ' "$log" | tail -n 1 || true)
    pd_say "run $i passed in $(( $(date +%s) - started )) s${summary:+ ($summary)}"
    rm -f "$log"
  else
    failed=$((failed + 1))
    pd_say "run $i FAILED in $(( $(date +%s) - started )) s; what failed:"
    grep -E '^(FAIL|ERROR|XPASS):|:[FE]:|^tests: ' "$log" >&2 || tail -n 20 "$log" >&2
    # The failed tests' own logs: the next run writes over them.
    for suite in "${PD_STRESS_BUILD:-$PD_SRCDIR/build}" "$PD_SRCDIR/build-asan"; do
      if [ -f "$suite/test-suite.log" ]; then
        cp "$suite/test-suite.log" "$logdir/run-$i-$(basename "$suite")-test-suite.log"
      fi
    done
  fi
  # stress-ng must still be loading the machine, or the run proved less.
  kill -0 "$stress_pid" 2>/dev/null || { pd_say "stress-ng died; see $logdir/stress-ng.log"; exit 1; }
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
