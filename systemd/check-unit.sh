#!/usr/bin/env bash
# check-unit.sh UNIT SYSUSERS TMPDIR - the ctest "systemd.unit" test.
#
#  1. systemd-analyze verify UNIT, strictly: --recursive-errors=no makes a
#     warning about UNIT itself (unknown key, bad value, missing ExecStart=
#     binary) fail, while the state of its dependencies on this machine
#     (network-online.target, ...) does not count; any output fails too.
#     verify does not check that User= exists (systemd 252 does not resolve
#     users when verifying), so step 3 checks the sysusers entry instead.
#  2. systemd-analyze security --offline=yes UNIT: prints the table and the
#     exposure score, fails above $AOS_MAX_EXPOSURE (default 2.5, the unit's
#     score with the build sandbox's namespaces allowed: docs/security.md).
#  3. systemd-sysusers --root=TMPDIR/root SYSUSERS creates the user and group
#     named by User=/Group= with the StateDirectory as home.
# None of this needs systemd as PID 1.
set -euo pipefail

unit=$1 sysusers=$2 tmp=$3
analyze=${AOS_SYSTEMD_ANALYZE:-systemd-analyze}
sysusers_bin=${AOS_SYSTEMD_SYSUSERS:-systemd-sysusers}
max=${AOS_MAX_EXPOSURE:-2.5}

fail() { printf 'check-unit: FAIL: %s\n' "$*" >&2; exit 1; }

need() {
	case $1 in
	'' | *-NOTFOUND) fail "$2 not found: install systemd (scripts/setup.sh does) and re-run cmake" ;;
	esac
	command -v "$1" >/dev/null || fail "$1: not executable (set by cmake as the path of $2)"
}
need "$analyze" systemd-analyze
need "$sysusers_bin" systemd-sysusers
[ -f "$unit" ] || fail "$unit: no such unit (is the aos-publishd target built?)"
rm -rf "$tmp"
mkdir -p "$tmp/root/etc"

# 1. verify
echo "== systemd-analyze verify --recursive-errors=no $unit"
rc=0
"$analyze" verify --recursive-errors=no "$unit" >"$tmp/verify.out" 2>&1 || rc=$?
cat "$tmp/verify.out"
[ "$rc" -eq 0 ] || fail "systemd-analyze verify exited $rc"
[ ! -s "$tmp/verify.out" ] || fail "systemd-analyze verify printed warnings"
echo "verify: ok"

# 2. security --offline=yes; --threshold takes the score times ten.
echo "== systemd-analyze security --offline=yes $unit"
threshold=$(awk -v m="$max" 'BEGIN { printf "%d", m * 10 + 0.5 }')
rc=0
SYSTEMD_COLORS=0 "$analyze" security --offline=yes --threshold="$threshold" \
	--no-pager "$unit" >"$tmp/security.out" 2>&1 || rc=$?
cat "$tmp/security.out"
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' \
	"$tmp/security.out")
[ -n "$score" ] || fail "no exposure score in systemd-analyze security output"
echo "exposure: $score (limit $max)"
[ "$rc" -eq 0 ] || fail "exposure $score is above $max (or security exited $rc)"
awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }' \
	|| fail "exposure $score is above $max"

# 3. sysusers, in a scratch root
echo "== systemd-sysusers --root=$tmp/root $sysusers"
"$sysusers_bin" --root="$tmp/root" "$sysusers"
user=$(sed -n 's/^User=//p' "$unit")
group=$(sed -n 's/^Group=//p' "$unit")
home=/var/lib/$(sed -n 's/^StateDirectory=//p' "$unit")
grep -q "^$user:x:[0-9]*:[0-9]*:[^:]*:$home:" "$tmp/root/etc/passwd" \
	|| fail "sysusers did not create user $user with home $home"
grep -q "^$group:x:" "$tmp/root/etc/group" \
	|| fail "sysusers did not create group $group"
echo "sysusers: ok ($user, $group, home $home)"
rm -rf "$tmp"
