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
# For the tests of lost connections COMMAND also gets AOS_TEST_PG_SUPER
# (the superuser "postgres" on the Unix socket: pg_terminate_backend,
# CREATE ROLE) and AOS_TEST_PG_CTL (a script: `stop` stops the server,
# fast; `start` starts it again on the same port).
#
# PG_RUN_SSL=1: the server has TLS on (ssl=on) with a certificate for
# 127.0.0.1 and localhost made now by a CA made now (openssl), and COMMAND
# gets AOS_TEST_PG_CA (that CA's file) and AOS_TEST_PG_WRONG_CA (another
# CA's, which did not sign it).
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

# TLS (PG_RUN_SSL=1): a CA, a server certificate it signs, another CA.
ssl_opts=
if [ "${PG_RUN_SSL:-0}" = 1 ]; then
	tls=$base/tls
	mkdir -m 755 "$tls"
	(
		cd "$tls"
		for ca in ca wrong-ca; do
			openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=aos test $ca" \
				-keyout "$ca.key" -out "$ca.pem" >/dev/null 2>&1
		done
		openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
			-keyout server.key -out server.csr >/dev/null 2>&1
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
			-days 2 -extfile server.ext -out server.crt >/dev/null 2>&1
		cp server.crt server.key "$data/"
	) || { echo "pg_run.sh: cannot make the test certificates" >&2; exit 2; }
	chmod 600 "$data/server.key"
	if [ "$(id -u)" = 0 ]; then
		chown nobody:nogroup "$data/server.crt" "$data/server.key"
	fi
	chmod 644 "$tls/ca.pem" "$tls/wrong-ca.pem"
	ssl_opts="-c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
fi

# A port taken between free_port and the start: try another.
tries=0
until port=$(free_port) &&
	opts="-c listen_addresses=127.0.0.1 -p $port -k $sock -c fsync=${PG_FSYNC:-off} $ssl_opts" &&
	as_pg "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 -o "$opts" \
	start >/dev/null 2>&1; do
	tries=$((tries + 1))
	if [ "$tries" -ge 5 ]; then
		echo "pg_run.sh: PostgreSQL did not start:" >&2
		cat "$log" >&2 || true
		exit 2
	fi
done

# AOS_TEST_PG_CTL stop|start: the same server, stopped or started again
ctl_prefix=
if [ "$(id -u)" = 0 ]; then
	ctl_prefix="setpriv --reuid=nobody --regid=nogroup --clear-groups"
fi
{
	printf '#!/bin/sh\n'
	printf 'pg() { exec env -i PATH=/usr/bin:/bin LANG=C.UTF-8 %s "%s/pg_ctl" -D "%s" "$@"; }\n' \
		"$ctl_prefix" "$bindir" "$data"
	printf 'case "$1" in\n'
	printf 'stop) pg -m fast -w -t 60 stop ;;\n'
	printf 'start) pg -l "%s" -w -t 60 -o "%s" start ;;\n' "$log" "$opts"
	printf '*) echo "usage: $0 stop|start" >&2; exit 2 ;;\n'
	printf 'esac\n'
} >"$base/pgctl"
chmod 700 "$base/pgctl"

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
AOS_TEST_PG_SUPER="host=$sock port=$port dbname=aos user=postgres"
AOS_TEST_PG_CTL=$base/pgctl
export AOS_TEST_PG AOS_TEST_PG_SUPER AOS_TEST_PG_CTL
if [ "${PG_RUN_SSL:-0}" = 1 ]; then
	AOS_TEST_PG_CA=$tls/ca.pem
	AOS_TEST_PG_WRONG_CA=$tls/wrong-ca.pem
	export AOS_TEST_PG_CA AOS_TEST_PG_WRONG_CA
fi
set +e
"$@"
