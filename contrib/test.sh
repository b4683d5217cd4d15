#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# contrib/test.sh - install what is missing, build, run every test.
#
# Two out-of-tree builds of the same sources:
#   build/       the normal build: unit tests, simulator tests and the daemon
#                tests (the real collectd with the plugin, also under valgrind);
#   build-asan/  ./configure --enable-sanitizers: the unit tests again under
#                AddressSanitizer + UBSan, and the daemon tests with the ASan
#                and UBSan runtimes preloaded into collectd, leak detection on
#                (tests/integration/sanitizers.py; valgrind's test skips).
# Then contrib/fuzz.sh runs every libFuzzer target for 15 s (in build/).
# Prints the test-suite.log of any build whose tests failed, and ends with
#   tests: N passed, N failed[, N skipped]
# counted from the .trs files of both builds and of the fuzz run (a build
# step that fails before its tests ran counts as one failure). Exits
# non-zero when anything failed.
#
# Environment: JOBS (make -j, default 2), CHECK_JOBS (make check -j, default
# JOBS + 1), PD_SKIP_ASAN=1 (normal build only),
# PD_FUZZ_SECONDS (per fuzz target, default 15), PD_SKIP_FUZZ=1 (no fuzzing).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$PD_SRCDIR"

JOBS=${JOBS:-2}
# The daemon tests spend most of their time waiting on collectd's cycles,
# so one test more than make's jobs runs at a time. The suite passes with
# both cores taken by stress-ng (contrib/stress-tests.sh), a heavier load.
CHECK_JOBS=${CHECK_JOBS:-$((JOBS + 1))}
step_failures=0
started=$(date +%s)

# build_and_check DIR [configure options...]
build_and_check() {
  local dir=$1; shift
  if ! pd_configure "$dir" "$@"; then
    pd_say "$dir: configure FAILED"
    step_failures=$((step_failures + 1)); return 0
  fi
  pd_say "make (in $dir)"
  if ! make -C "$dir" -j"$JOBS" >"$dir/make.log" 2>&1; then
    tail -n 60 "$dir/make.log"
    pd_say "$dir: make FAILED (full output: $dir/make.log)"
    step_failures=$((step_failures + 1)); return 0
  fi
  # Results of tests that no longer exist must not be counted.
  find "$dir" -name '*.trs' -delete
  pd_say "make check (in $dir)"
  if ! make -C "$dir" -j"$CHECK_JOBS" check; then
    if [ -f "$dir/test-suite.log" ]; then
      printf '\n---- %s/test-suite.log (the failed tests) ----\n' "$dir"
      cat "$dir/test-suite.log"
      printf -- '---- end of %s/test-suite.log ----\n\n' "$dir"
    fi
    # make check can also fail before any test ran (a test program that
    # does not compile): then no .trs says so.
    if ! find "$dir" -name '*.trs' -exec \
         grep -lE '^:global-test-result: (FAIL|ERROR|XPASS)' {} + | grep -q .; then
      pd_say "$dir: make check FAILED before its tests ran"
      step_failures=$((step_failures + 1))
    fi
  fi
}

pd_install_packages
pd_say "autoreconf -fi"
autoreconf -fi
build_and_check build
if [ -z "${PD_SKIP_ASAN:-}" ]; then
  build_and_check build-asan --enable-sanitizers
fi

# Fuzzing: every libFuzzer target (tests/fuzz) for PD_FUZZ_SECONDS (default
# 15) s, built in build/; each target is one test (build/tests/fuzz/*.trs).
# 18 targets, one per core at a time: about 2.5 minutes on two cores. PD_SKIP_FUZZ=1 leaves it out.
if [ -z "${PD_SKIP_FUZZ:-}" ]; then
  pd_say "fuzzing (contrib/fuzz.sh ${PD_FUZZ_SECONDS:-15})"
  if ! contrib/fuzz.sh "${PD_FUZZ_SECONDS:-15}" &&
     ! find build/tests/fuzz -maxdepth 1 -name '*.trs' -exec \
         grep -l '^:global-test-result: FAIL' {} + 2>/dev/null | grep -q .; then
    pd_say "fuzzing FAILED before its targets ran"
    step_failures=$((step_failures + 1))
  fi
fi

# The summary, from every .trs of both builds.
passed=0 failed=$step_failures skipped=0
while read -r result; do
  case $result in
    PASS|XFAIL) passed=$((passed + 1)) ;;
    SKIP) skipped=$((skipped + 1)) ;;
    *) failed=$((failed + 1)) ;;
  esac
done < <(find build build-asan -name '*.trs' -exec \
           sed -n 's/^:global-test-result: *//p' {} + 2>/dev/null)

pd_say "took $(( $(date +%s) - started )) s"
summary="tests: $passed passed, $failed failed"
[ "$skipped" -gt 0 ] && summary="$summary, $skipped skipped"
echo "$summary"
[ "$failed" -eq 0 ]
