#!/bin/sh
# callgraph.sh - which source file calls which, read off the built objects.
#
#   scripts/callgraph.sh BUILD           the calls between files of one room, a
#                                        room a block: "a.c -> b.c c.c"
#   scripts/callgraph.sh -v BUILD        the same, an edge a line with its
#                                        symbols: "a.c -> b.c  (f, g)"
#   scripts/callgraph.sh --all BUILD     every edge with its symbols, rooms
#                                        crossed too
#   scripts/callgraph.sh --dot BUILD     every edge as a Graphviz digraph
#   scripts/callgraph.sh --check BUILD   exit 1 naming each cycle (files that
#                                        reach each other through calls)
#
# BUILD is a build folder (build/, build-asan/).  The nodes are the objects
# of the production libraries and programs (common/, vault/, publishers/,
# agent/*/, ctl/; not the tests); there is an edge a -> b when a's object
# uses a symbol (a function, or data) that b's object defines, as `nm` shows
# them.  A file is named by its room and name ("queue/queue_sqlite.c";
# "common/err.c").  docs/ARCHITECTURE.md shows the output and says how the
# cycles were broken.
set -eu

mode=text
case ${1:-} in
-v | --all | --dot | --check)
	mode=${1#-}
	mode=${mode#-}
	shift
	;;
esac
[ $# -eq 1 ] && [ -d "$1" ] || {
	echo "usage: scripts/callgraph.sh [-v | --all | --dot | --check] BUILD_DIR" >&2
	exit 2
}
build=$1
src=$(cd "$(dirname "$0")/.." && pwd)
command -v nm >/dev/null || {
	echo "callgraph: nm is missing (Debian package binutils)" >&2
	exit 1
}

objs=$(cd "$build" && find common vault publishers agent ctl \
	-path '*/CMakeFiles/*.dir/*.c.o' 2>/dev/null | sort)
[ -n "$objs" ] || {
	echo "callgraph: no objects under $build: build it first" >&2
	exit 1
}

# "D file symbol" for each symbol an object defines, "U file symbol" for each
# it uses; file is the source's room and name.  An object whose source is
# gone (a file deleted or renamed since that build) is left out.
symbols() {
	for o in $objs; do
		s=$(echo "$o" | sed 's#/CMakeFiles/[^/]*\.dir/#/#; s#\.o$##')
		[ -e "$src/$s" ] || continue
		f=${s#agent/}
		nm "$build/$o" | awk -v f="$f" '
			NF == 2 && $1 == "U" { print "U", f, $2; next }
			NF == 3 && $2 ~ /^[A-TV-Z]$/ { print "D", f, $3 }'
	done
}

# "a b sym1,sym2" for every pair of files where a uses what b defines.
edges=$(symbols | awk '
	$1 == "D" { def[$3] = $2; next }
	{ use[NR] = $2 " " $3 }
	END {
		for (i in use) {
			split(use[i], u, " ")
			b = def[u[2]]
			if (b != "" && b != u[1])
				print u[1], b, u[2]
		}
	}' | sort -u | awk '
	$1 " " $2 != k { if (k != "") print k, s; k = $1 " " $2; s = $3; next }
	{ s = s "," $3 }
	END { if (k != "") print k, s }')

case $mode in
text | v)
	echo "$edges" | awk -v v="$mode" '
		{ split($1, a, "/"); split($2, b, "/") }
		a[1] != b[1] { next }
		a[1] != room {
			if (line != "")
				print line
			line = ""
			print (room == "" ? "" : "\n") a[1] "/"
			room = a[1]
		}
		v == "v" {
			gsub(",", ", ", $3)
			print "  " a[2] " -> " b[2] "  (" $3 ")"
			next
		}
		a[2] != from {
			if (line != "")
				print line
			line = "  " a[2] " ->"
			from = a[2]
		}
		{ line = line " " b[2] }
		END {
			if (line != "")
				print line
		}'
	;;
all)
	echo "$edges" | awk '{ gsub(",", ", ", $3); print $1 " -> " $2 "  (" $3 ")" }'
	;;
dot)
	echo "digraph callgraph {"
	echo "$edges" | awk '{ printf "\t\"%s\" -> \"%s\";\n", $1, $2 }'
	echo "}"
	;;
check)
	# Tarjan's strongly connected components; a component of more than one
	# file is a cycle.
	echo "$edges" | awk '
		NF { n[$1]; n[$2]; adj[$1] = adj[$1] " " $2; sy[$1 " " $2] = $3 }
		function visit(v,   i, k, w, parts) {
			idx[v] = low[v] = ++counter
			stack[++sp] = v
			on[v] = 1
			k = split(adj[v], parts, " ")
			for (i = 1; i <= k; i++) {
				w = parts[i]
				if (!(w in idx)) {
					visit(w)
					if (low[w] < low[v])
						low[v] = low[w]
				} else if (on[w] && idx[w] < low[v])
					low[v] = idx[w]
			}
			if (low[v] == idx[v])
				component(v)
		}
		function component(v,   w, m, members, i, j) {
			m = 0
			do {
				w = stack[sp--]
				on[w] = 0
				members[++m] = w
			} while (w != v)
			if (m < 2)
				return
			cycles++
			line = ""
			for (i = m; i >= 1; i--)
				line = line " " members[i]
			print "callgraph: cycle between" line > "/dev/stderr"
			for (i = m; i >= 1; i--)
				for (j = m; j >= 1; j--)
					if ((members[i] " " members[j]) in sy)
						print "   " members[i] " -> " members[j] "  (" \
						    sy[members[i] " " members[j]] ")" > "/dev/stderr"
		}
		END {
			for (v in n)
				if (!(v in idx))
					visit(v)
			exit cycles > 0
		}'
	;;
esac
