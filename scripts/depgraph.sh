#!/bin/sh
# depgraph.sh - the dependency graph between rooms, read off the #include lines.
#
#   scripts/depgraph.sh           one "room -> room" edge a line (with the count)
#   scripts/depgraph.sh -v        each edge followed by the include lines behind it
#   scripts/depgraph.sh --check   exit 1 if a room includes a room that is not
#                                 below it in ROOMS, other than the KNOWN edges
#
# A room is a folder of agent/ (included as "room/x.h", agent/ being the
# include directory) or one of common/, vault/, publishers/, ctl/ (whose
# headers are included by bare name; a bare name is given the folder that
# holds the file).  Includes within a room are not edges.  docs/ARCHITECTURE.md
# shows the output and explains the order.
set -eu
cd "$(dirname "$0")/.."

# Lowest first: a room may include only rooms to its left.
ROOMS="common vault publishers base config queue sandbox session pipeline publish worker
daemon ctl"
# Upward edges tolerated for now, one "a -> b" a line (none since issue 11
# step two removed publish -> daemon and worker -> daemon).  --check fails
# on any other, and on one of these once it is gone (so the list cannot go
# stale).
KNOWN=""

mode=${1:-}

files=$(ls agent/*/*.[ch] common/*.[ch] vault/*.[ch] publishers/*.[ch] ctl/*.[ch])

# "from to file:line: include" for every include that crosses rooms.
lines() {
	for f in $files; do
		case $f in
		agent/*) from=$(echo "$f" | cut -d/ -f2) ;;
		*) from=$(echo "$f" | cut -d/ -f1) ;;
		esac
		grep -n '^#include "' "$f" | while IFS= read -r l; do
			h=$(echo "$l" | sed 's/.*#include "\([^"]*\)".*/\1/')
			case $h in
			*/*) to=${h%%/*} ;;
			*)
				to=
				for d in $(dirname "$f") common vault publishers ctl; do
					if [ -e "$d/$h" ]; then
						to=$(echo "$d" | sed 's#^agent/##')
						break
					fi
				done
				;;
			esac
			if [ -n "$to" ] && [ "$to" != "$from" ]; then
				echo "$from $to $f:${l%%:*}: $h"
			fi
		done
	done
}

# The include lines behind edge $1 -> $2, indented.
show() {
	echo "$all" | awk -v a="$1" -v b="$2" \
		'$1 == a && $2 == b { $1 = $2 = ""; print "   " $0 }'
}

rank() {
	echo $ROOMS | tr ' ' '\n' | grep -nx "$1" | cut -d: -f1
}

all=$(lines)
edges=$(echo "$all" | awk 'NF { print $1 " -> " $2 }' | sort | uniq -c |
	awk '{ print $2 " -> " $4 "  (" $1 ")" }')

case $mode in
-v)
	echo "$edges" | while read -r a _ b _; do
		echo "$a -> $b"
		show "$a" "$b"
	done
	;;
--check)
	bad=0
	up=$(echo "$edges" | while read -r a _ b _; do
		[ "$(rank "$b")" -lt "$(rank "$a")" ] || echo "$a -> $b"
	done)
	for e in $(echo "$up" | tr ' ' '_'); do
		e=$(echo "$e" | tr '_' ' ')
		if ! echo "$KNOWN" | grep -qx "$e"; then
			echo "depgraph: $e goes against the room order ($(echo $ROOMS))" >&2
			show "${e%% *}" "${e##* }" >&2
			bad=1
		fi
	done
	echo "$KNOWN" | while read -r e; do
		[ -n "$e" ] || continue
		echo "$up" | grep -qx "$e" || {
			echo "depgraph: $e is gone: remove it from KNOWN here and from" \
				"docs/ARCHITECTURE.md" >&2
			exit 1
		}
	done || bad=1
	exit $bad
	;;
'') echo "$edges" ;;
*)
	echo "usage: scripts/depgraph.sh [-v | --check]" >&2
	exit 2
	;;
esac
