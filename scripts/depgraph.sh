#!/bin/sh
# depgraph.sh - the dependency graph between rooms, read off the #include lines.
#
#   scripts/depgraph.sh           one "room -> room" edge a line (with the count)
#   scripts/depgraph.sh -v        each edge followed by the include lines behind it
#   scripts/depgraph.sh --check   exit 1 if a room includes a room that is not
#                                 below it in ROOMS, another room's private
#                                 header, or a public header by a bare name
#
# A room is a folder of agent/ or one of common/, vault/, publishers/, ctl/.
# Every public header is included by its folder-qualified name ("queue/queue.h",
# "common/err.h"): the folder in the include line is the room the edge goes
# to.  Only a room's private headers (*_internal.h) are included by bare
# name, from their own folder (the build enforces that much: the include
# path is the project root and agent/).  docs/ARCHITECTURE.md shows the
# output and explains the order.
set -eu
cd "$(dirname "$0")/.."

# Lowest first: a room may include only rooms to its left.
ROOMS="common vault publishers base config queue sandbox session pipeline publish worker
daemon ctl"

mode=${1:-}

# "from to file:line: include" for every include line, "to" being "-" for
# a bare name (the file's own folder).
lines() {
	grep -Hn '^#include "' agent/*/*.[ch] common/*.[ch] vault/*.[ch] publishers/*.[ch] \
		ctl/*.[ch] | sed 's#^agent/##' |
		sed -n 's#^\(\([a-z]*\)/[^:]*:[0-9]*\):\#include "\(\([a-z]*\)/\)\{0,1\}\([^"]*\)".*#\2 \4 \1: \3\5#p' |
		awk '$2 ~ /:$/ { $0 = $1 " - " $2 " " $3 } { print }'
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
edges=$(echo "$all" | awk '$2 != "-" && $1 != $2 { print $1 " -> " $2 }' | sort |
	uniq -c | awk '{ print $2 " -> " $4 "  (" $1 ")" }')

case $mode in
-v)
	echo "$edges" | while read -r a _ b _; do
		echo "$a -> $b"
		show "$a" "$b"
	done
	;;
--check)
	bad=0
	for e in $(echo "$edges" | while read -r a _ b _; do
		[ "$(rank "$b")" -lt "$(rank "$a")" ] || echo "$a:$b"
	done); do
		echo "depgraph: ${e%:*} -> ${e#*:} goes against the room order ($(echo $ROOMS))" >&2
		show "${e%:*}" "${e#*:}" >&2
		bad=1
	done
	priv=$(echo "$all" | awk '$2 != "-" && $1 != $2 && $4 ~ /_internal\.h$/')
	if [ -n "$priv" ]; then
		echo "depgraph: another room's private header (*_internal.h):" >&2
		echo "$priv" | awk '{ print "   " $3 " " $4 }' >&2
		bad=1
	fi
	bare=$(echo "$all" | awk '$2 == "-" && $4 !~ /_internal\.h$/')
	if [ -n "$bare" ]; then
		echo "depgraph: a public header by a bare name: write its folder" \
			"(\"room/x.h\", \"common/x.h\"):" >&2
		echo "$bare" | awk '{ print "   " $3 " " $4 }' >&2
		bad=1
	fi
	exit $bad
	;;
'') echo "$edges" ;;
*)
	echo "usage: scripts/depgraph.sh [-v | --check]" >&2
	exit 2
	;;
esac
