#!/bin/sh
# pg_run.sh COMMAND [ARG...] - runs COMMAND against a PostgreSQL of its own.
#
# Makes a temporary folder, runs initdb there as an unprivileged user
# (`nobody` when run as root: PostgreSQL refuses root), starts the server
# with pg_ctl on a free 127.0.0.1 port and a Unix socket in that folder,
# creates the database "aos" owned by the login role "aos" (its password
# generated now, kept in a passfile, never in argv or the environment), and
# runs COMMAND with AOS_TEST_PG set to a libpq connection string.  The
# server is stopped and the folder removed when COMMAND ends, fails or is
# interrupted; COMMAND's exit status is returned.
#
# PG_BINDIR overrides /usr/lib/postgresql/15/bin.  The server runs with
# fsync=off (tests: nothing to keep past the run) unless PG_FSYNC=on
# (benchmarks whose figures include the commit's flush).
set -eu

bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
if [ ! -x "$bindir/initdb" ]; then
	echo "pg_run.sh: no $bindir/initdb: install the Debian package postgresql" \
	     "(scripts/setup.sh does)" >&2
	exit 2
fi

base=$(mktemp -d "${TMPDIR:-/tmp}/aos-pg.XXXXXX")
data=$base/pg/data
sock=$base/pg
log=$base/pg/server.log
chmod 711 "$base"
mkdir -m 700 "$base/pg"

# as_pg CMD...: runs CMD as the server's user, with a clean environment
if [ "$(id -u)" = 0 ]; then
	chown nobody:nogroup "$base/pg"
	as_pg() {
		env -i PATH=/usr/bin:/bin LANG=C.UTF-8 \
			setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
	}
else
	as_pg() { env -i PATH=/usr/bin:/bin LANG=C.UTF-8 "$@"; }
fi

cleanup() {
	status=$?
	trap - EXIT INT TERM HUP
	if [ -f "$data/postmaster.pid" ]; then
		as_pg "$bindir/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$base"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

as_pg "$bindir/initdb" -D "$data" -U postgres -E UTF8 --no-locale \
	--auth-local=trust --auth-host=scram-sha-256 >"$base/initdb.log" 2>&1 || {
	cat "$base/initdb.log" >&2
	exit 2
}

# A port taken between free_port and the start: try another.
tries=0
until as_pg "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 \
	-o "-c listen_addresses=127.0.0.1 -p $(port=$(free_port); echo "$port" >"$base/port"; echo "$port") -k $sock -c fsync=${PG_FSYNC:-off}" \
	start >/dev/null 2>&1; do
	tries=$((tries + 1))
	if [ "$tries" -ge 5 ]; then
		echo "pg_run.sh: PostgreSQL did not start:" >&2
		cat "$log" >&2 || true
		exit 2
	fi
done
port=$(cat "$base/port")

# A watchdog in a session of its own: when this script is killed (SIGKILL
# from a test timeout runs no trap), it stops the server and removes the
# folder once the script is gone.
pg_ctl_stop="$bindir/pg_ctl -D $data -m immediate -w stop"
if [ "$(id -u)" = 0 ]; then
	pg_ctl_stop="setpriv --reuid=nobody --regid=nogroup --clear-groups $pg_ctl_stop"
fi
setsid sh -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done
	[ -f "$2/postmaster.pid" ] && $3 >/dev/null 2>&1
	rm -rf "$4"' watchdog "$$" "$data" "$pg_ctl_stop" "$base" </dev/null >/dev/null 2>&1 &

password=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
umask 077
printf '127.0.0.1:%s:aos:aos:%s\n' "$port" "$password" >"$base/pgpass"
# SQL on stdin: the password stays out of every argv
printf "CREATE ROLE aos LOGIN PASSWORD '%s';\nCREATE DATABASE aos OWNER aos;\n" \
	"$password" |
	as_pg "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres \
		-d postgres -f - >/dev/null
unset password

AOS_TEST_PG="host=127.0.0.1 port=$port dbname=aos user=aos passfile=$base/pgpass connect_timeout=10"
export AOS_TEST_PG
set +e
"$@"
