#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# contrib/fuzz.sh SECONDS [TARGET...] - build the libFuzzer targets
# (tests/fuzz, "make fuzz": clang, ASan + UBSan) and run each for SECONDS.
#
# Each target starts from its seeds: the committed ones (tests/fuzz/seeds),
# PagerDuty's own example bodies (../shared/pagerduty-api/examples next to
# the checkout, else /work/shared/...; when present) and the simulator's
# answers (tests/fuzz/sim_seeds.py). What a target finds is kept in
# BUILD/tests/fuzz/corpus/<target>, so later runs go on from there.
#
# A run fails when a target crashes, leaks, trips UBSan, times out (10 s on
# one input) or breaks one of its own checks; libFuzzer then writes the
# input to BUILD/tests/fuzz/artifacts/<target>-crash-... and its log is
# printed. Replay one with BUILD/tests/fuzz/fuzz_<target> FILE; commit it to
# tests/fuzz/regressions/<target>/ so make check replays it from then on.
#
# Prints per target the executions, the coverage reached (libFuzzer's
# "cov" edges and "ft" features) and PASS/FAIL, writes BUILD/tests/fuzz/
# <target>.trs for contrib/test.sh's count, and exits non-zero when any
# target failed. One process per target (-jobs=1), PD_FUZZ_JOBS of them at
# a time.
#
# Environment: PD_FUZZ_BUILD (build dir relative to the source tree,
# default "build"; configured when it is not), FUZZ_CC (default clang),
# PD_FUZZ_JOBS (targets run at once; default nproc).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$PD_SRCDIR"

if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]] || [ "$1" -lt 1 ]; then
  echo "usage: $0 SECONDS [TARGET...]" >&2
  exit 2
fi
seconds=$1; shift
build=${PD_FUZZ_BUILD:-build}

pd_autoreconf
pd_configure "$build"
pd_say "make fuzz (in $build)"
make -C "$build" fuzz FUZZ_CC="${FUZZ_CC:-clang}" >"$build/fuzz-make.log" 2>&1 || {
  tail -n 40 "$build/fuzz-make.log"
  pd_say "make fuzz FAILED (full output: $build/fuzz-make.log)"
  exit 1
}

out="$PD_SRCDIR/$build/tests/fuzz"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for bin in "$out"/fuzz_*; do
    [ -x "$bin" ] && targets+=("${bin##*/fuzz_}")
  done
fi

# Example bodies of PagerDuty for each target (file name globs).
examples_for() {
  case $1 in
    parse_user) echo "rest_get_current_user*" ;;
    parse_teams) echo "rest_list_teams*" ;;
    parse_services) echo "rest_list_services* rest_get_service*" ;;
    parse_incidents) echo "rest_list_incidents* rest_get_incident.* rest_manage_incidents.200* rest_update_incident.200* rest_create_incident.201*" ;;
    parse_schedules) echo "rest_list_schedules*" ;;
    parse_schedule) echo "rest_get_schedule*" ;;
    parse_oncalls) echo "rest_list_oncalls*" ;;
    parse_policies) echo "rest_list_escalation_policies* rest_get_escalation_policy*" ;;
    # No example body of /log_entries in examples/: the simulator's
    # answers and the committed seeds.
    parse_log_entries) ;;
    parse_maintenance_windows) echo "rest_list_maintenance_windows*" ;;
    # No example body of /v3/schedules in examples/: the shift-based
    # targets start from the simulator's answers and their committed seeds.
    parse_schedules_v3 | parse_schedule_v3) ;;
    error) echo "rest_error_* events_v2_error* events_v2_change_error*" ;;
  esac
}

examples="$PD_SRCDIR/../shared/pagerduty-api/examples"
[ -d "$examples" ] || examples=/work/shared/pagerduty-api/examples

seeds="$out/seeds-run"
rm -rf "$seeds"
mkdir -p "$seeds" "$out/corpus" "$out/artifacts" "$out/logs"
if ! "${PYTHON3:-/usr/bin/python3}" tests/fuzz/sim_seeds.py "$seeds" >"$out/logs/sim_seeds.log" 2>&1; then
  cat "$out/logs/sim_seeds.log" >&2
  pd_say "warning: no seeds from the simulator (see above); going on without"
fi

# Targets that read files (token, state, notification) make them in here;
# a crashed target cannot clean up after itself.
scratch_base=/tmp
[ -w /dev/shm ] && scratch_base=/dev/shm
export PD_FUZZ_SCRATCH
PD_FUZZ_SCRATCH=$(mktemp -d "$scratch_base/pd-fuzz-run-XXXXXX")
trap 'rm -rf "$PD_FUZZ_SCRATCH"' EXIT

# run_target T: runs target T for $seconds; writes its result line to
# $out/logs/T.result and, when it failed, its log's tail to T.failure.
run_target() {
  local t=$1 bin="$out/fuzz_$1" result=PASS status=0
  rm -f "$out/logs/$t.result" "$out/logs/$t.failure"
  if [ ! -x "$bin" ]; then
    printf '%-16s %12s %8s %8s  %s\n' "$t" - - - "FAIL (no target)" >"$out/logs/$t.result"
    return
  fi
  mkdir -p "$seeds/$t" "$out/corpus/$t"
  [ -d "tests/fuzz/seeds/$t" ] && cp tests/fuzz/seeds/"$t"/* "$seeds/$t/"
  [ -d "tests/fuzz/regressions/$t" ] && cp tests/fuzz/regressions/"$t"/* "$seeds/$t/"
  if [ -d "$examples" ]; then
    for pattern in $(examples_for "$t"); do
      for f in "$examples"/$pattern; do
        [ -f "$f" ] && cp "$f" "$seeds/$t/"
      done
    done
  fi
  local before after execs last cov ft max_len=()
  before=$(find "$out/artifacts" -name "$t-*" | wc -l)
  [ "$t" = token ] && max_len=(-max_len=8192) # longer than the 4096-byte line limit
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 "${max_len[@]}" \
      -artifact_prefix="$out/artifacts/$t-" \
      "$out/corpus/$t" "$seeds/$t" >"$out/logs/$t.log" 2>&1 || status=$?
  after=$(find "$out/artifacts" -name "$t-*" | wc -l)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/logs/$t.log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$out/logs/$t.log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  if [ "$status" -ne 0 ] || [ "$after" -ne "$before" ]; then
    result=FAIL
    { printf -- '---- %s (exit %s) ----\n' "$out/logs/$t.log" "$status"
      tail -n 60 "$out/logs/$t.log"
      printf -- '---- end of %s ----\n' "$out/logs/$t.log"; } >"$out/logs/$t.failure"
  fi
  printf ':test-result: %s\n:global-test-result: %s\n:recheck: no\n:copy-in-global-log: no\n' \
    "$result" "$result" >"$out/$t.trs"
  printf '%-16s %12s %8s %8s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$result" \
    >"$out/logs/$t.result"
}

# The targets run PD_FUZZ_JOBS (default: one per core) at a time: each is
# one single-threaded process for a fixed time, so this divides the wall
# time without shortening any target's run.
jobs=${PD_FUZZ_JOBS:-$(nproc)}
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  run_target "$t" &
  running=$((running + 1))
done
wait || true

failed=0 total_execs=0
printf '%-16s %12s %8s %8s  %s\n' target executions cov ft result
for t in "${targets[@]}"; do
  if [ -f "$out/logs/$t.result" ]; then
    cat "$out/logs/$t.result"
  else
    printf '%-16s %12s %8s %8s  %s\n' "$t" - - - "FAIL (did not finish)"
  fi
  grep -q ' PASS$' "$out/logs/$t.result" 2>/dev/null || failed=$((failed + 1))
  [ -f "$out/logs/$t.failure" ] && cat "$out/logs/$t.failure"
  execs=$(awk '{print $2}' "$out/logs/$t.result" 2>/dev/null || true)
  [[ ${execs:-} =~ ^[0-9]+$ ]] && total_execs=$((total_execs + execs))
done
pd_say "fuzz: ${#targets[@]} targets, $total_execs executions, $failed failed"
[ "$failed" -eq 0 ]
