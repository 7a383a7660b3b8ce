#!/usr/bin/env bash
# run_all.sh - run the memory, start-up, rotation, webhook and slow-fsync benchmarks of
# tests/bench/ and print a results table (the publish and queue benchmarks
# have their runners: bench_publish_all.py, bench_queue_all.py).  Each
# benchmark starts its own OpenBao dev server (free 127.0.0.1 port, generated
# root token), aos-publishd and bao agent, measures both in the same run, and
# stops everything.  Nothing is asserted; `make check` runs it with --smoke.
#
# usage: tests/bench/run_all.sh [--agent-rotations K] [--out DIR] [--smoke]
#   --agent-rotations K  rotations of benchmark 3 at default settings (bao
#                        agent re-reads a KV v2 secret only every ~4.5 min,
#                        so each one takes about that long; default 3, 0
#                        skips them: the rest of the suite takes ~4 min)
#   --out DIR            keep the JSON results and logs in DIR (default: a
#                        temporary folder, removed at the end)
#   --smoke              each benchmark once on tiny inputs, only to check
#                        that they still work (make check runs this)
# environment: AOS_BUILD_DIR (default ./build), AOS_BENCH_SEED (random delays)
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
here="$top/tests/bench"
py="$top/.venv/bin/python"
agent_rotations=${AOS_BENCH_AGENT_ROTATIONS:-3}
out=
smoke=()

while [ $# -gt 0 ]; do
	case $1 in
	--agent-rotations) agent_rotations=${2:?}; shift ;;
	--out) out=${2:?}; shift ;;
	--smoke) smoke=(--smoke) ;;
	-h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run_all.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[[ $agent_rotations =~ ^[0-9]+$ ]] || { echo "run_all.sh: --agent-rotations needs a number" >&2; exit 2; }

export AOS_BUILD_DIR=${AOS_BUILD_DIR:-$top/build}
export AOS_SOURCE_DIR=$top
export PYTHONDONTWRITEBYTECODE=1
if [ ! -x "$py" ]; then
	echo "run_all.sh: $py missing: run scripts/setup.sh (or make setup) first" >&2
	exit 1
fi
for b in aos-publishd aos-publishctl; do
	if [ ! -x "$AOS_BUILD_DIR/agent/$b" ]; then
		echo "run_all.sh: $AOS_BUILD_DIR/agent/$b missing: run make build first" >&2
		exit 1
	fi
done

keep=0
if [ -n "$out" ]; then
	keep=1
	mkdir -p "$out"
	out=$(cd "$out" && pwd)
else
	out=$(mktemp -d "${TMPDIR:-/tmp}/aos-bench.XXXXXX")
	trap 'rm -rf "$out"' EXIT
fi

commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$top" status --porcelain 2>/dev/null | head -n1)" ]; then
	commit="$commit + uncommitted changes"
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$AOS_BUILD_DIR/CMakeCache.txt" 2>/dev/null)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date '+%Y-%m-%d %H:%M %Z')

status=0
run() { # run NAME TIMEOUT_S SCRIPT ARGS...: one benchmark, bounded in time
	local name=$1 limit=$2 script=$3
	shift 3
	printf '\n== %s\n' "$name"
	timeout --signal=TERM --kill-after=15 "$limit" \
		"$py" "$here/$script" --json "$out/$name.json" "$@" "${smoke[@]}" \
		2> >(tee "$out/$name.log" >&2)
	local rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "run_all.sh: $name failed (exit $rc)" >&2
		status=1
	fi
}

run rss 120 bench_rss.py
run startup 600 bench_startup.py
# Phase 1 takes well under a minute; each default-settings rotation at most
# one agent re-read period (about 4.5 min) plus the 330 s cap margin.
run rotation $((300 + agent_rotations * 340)) bench_rotation.py --agent-rotations "$agent_rotations"
# Webhook ingest beside adnanh/webhook (wrk, about 3 minutes; prints its own
# Markdown report, not part of the table below).
run webhook 900 bench_webhook.py
# The same over HTTPS (listen.tls beside adnanh/webhook's -secure).
run webhook-tls 900 bench_webhook.py --tls
# Answers (/healthz, refusals, status) while every queue fsync takes 150 ms
# (tests/tools/slowsync-shim.so), beside the 202s; about half a minute.
run slow-fsync 300 bench_slow_fsync.py

"$py" - "$out/env.json" "$started" "$commit" "$AOS_BUILD_DIR (CMAKE_BUILD_TYPE=${build_type:-unset})" "$load_before" <<'EOF'
import json, sys
path, date, commit, build, before = sys.argv[1:6]
after = " ".join(open("/proc/loadavg").read().split()[:3])
json.dump({"date": date, "source": commit, "build": build,
           "load_before": before, "load_after": after}, open(path, "w"))
EOF

printf '\n== results\n\n'
"$py" "$here/report.py" "$out"
[ "$keep" -eq 0 ] || printf '\nJSON results and logs: %s\n' "$out"
exit $status
