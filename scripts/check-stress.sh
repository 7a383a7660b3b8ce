#!/usr/bin/env bash
# `make check-stress`: the integration tests STRESS_RUNS times in a row (3)
# while stress-ng loads the machine (STRESS_ARGS: both cores busy, disk and
# memory pressure), to catch tests that wait for time instead of for the
# event.  Not part of `make check`: it takes three times the integration
# suite.  stress-ng is stopped at the end whatever happens.
#   scripts/check-stress.sh BUILD_DIR
#   STRESS_TESTS=REGEX  only the ctest entries matching it (ctest -R)
#   STRESS_JOBS=N       ctest -j N (1): the tests side by side, more load
set -euo pipefail

build=${1:-build}
runs=${STRESS_RUNS:-3}
jobs=${STRESS_JOBS:-1}
args=${STRESS_ARGS:---cpu 2 --io 1 --vm 1 --vm-bytes 256M}
say() { printf 'check-stress: %s\n' "$*"; }

command -v stress-ng >/dev/null || {
	say "stress-ng is missing: run scripts/setup.sh (Debian package stress-ng)" >&2
	exit 1
}
[ -f "$build/CTestTestfile.cmake" ] || {
	say "no build in $build: run make build first" >&2
	exit 1
}

# shellcheck disable=SC2086 # STRESS_ARGS is a list of options
stress-ng $args --quiet &
stress=$!
stop_stress() {
	kill -TERM "$stress" 2>/dev/null || true
	wait "$stress" 2>/dev/null || true
}
trap stop_stress EXIT
trap 'exit 130' INT TERM
say "stress-ng $args (pid $stress)"

filter=(-L integration)
[ -z "${STRESS_TESTS:-}" ] || filter+=(-R "$STRESS_TESTS")
failed=0
for i in $(seq 1 "$runs"); do
	kill -0 "$stress" 2>/dev/null || {
		say "stress-ng is no longer running: run $i would not be under load" >&2
		exit 1
	}
	say "run $i of $runs: ctest ${filter[*]} -j $jobs"
	if (cd "$build" && ctest "${filter[@]}" -j "$jobs" --no-tests=error --output-on-failure); then
		say "run $i of $runs: passed"
	else
		say "run $i of $runs: FAILED"
		failed=$((failed + 1))
	fi
done
[ "$failed" -eq 0 ] || { say "$failed of $runs runs failed under load"; exit 1; }
say "$runs of $runs runs passed under load"
