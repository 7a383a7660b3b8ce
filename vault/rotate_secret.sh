#!/usr/bin/env bash
# rotate_secret.sh - write one key of a Vault/OpenBao KV v2 secret under
# agenticverz/ and have aos-publishd pick it up.  See usage() below and
# docs/operations.md (rotation runbook).
#
# The value and the Vault token never appear in any process's argv: the
# value goes from this shell (builtins only) through a pipe into jq -R and on
# into curl --data-binary @-, and through a pipe into `aos-publishctl secrets
# fingerprint` (the daemon computes the keyed fingerprint); the token header
# reaches curl as -H @/dev/fd/N from a process substitution.  Neither is
# ever printed.
set -euo pipefail
umask 077

prog=${0##*/}

# Exit codes (also in usage()).
readonly EX_OK=0 EX_FAIL=1 EX_USAGE=2 EX_NODAEMON=3 EX_UNCONFIRMED=4 EX_REFUSED=5

usage() {
	cat <<EOF
usage: $prog [--no-refresh] [--verify] NAME KEY [VALUE|-]

Write KEY of the Vault KV v2 secret agenticverz/NAME (e.g. $prog
package-registry PYPI_API_TOKEN) with a merge PATCH that keeps the other
keys, then ask aos-publishd to refresh and wait until it reports the new
version.  On success prints

    KEY: version N, fingerprint XXXXXXXX (aos-publishd confirmed)

where the fingerprint is the one aos-publishctl shows: the first 8 hex
digits of HMAC-SHA256 of the value under the installation's fingerprint
key, computed by aos-publishd (the value reaches it on a pipe through
\`aos-publishctl secrets fingerprint\`).  The value is never printed.

The value is read from standard input when VALUE is "-" or absent (one
trailing newline is removed; an empty value is refused; on a terminal it is
read without echo).  A VALUE on the command line still works but is visible
to other users in the process list and may be kept in shell history.

Options:
  --no-refresh   only write to Vault; do not contact aos-publishd
  --verify       before writing, have aos-publishd check the value with every
                 registry that uses KEY (\`aos-publishctl secrets check\`: npm
                 asks the registry, a PyPI token's caveats are read); a value
                 a registry refuses, or an expired one, is not written (exit 5)
  -h, --help     this text

Environment:
  BAO_ADDR / VAULT_ADDR         Vault address (required; http:// only for
                                loopback hosts); a redirect is followed only
                                to its scheme, host and port (at most 3):
                                give the active node's address
  BAO_TOKEN / VAULT_TOKEN       Vault token (else ~/.vault-token); needs the
                                "patch" capability on
                                <mount>/data/agenticverz/NAME
  BAO_NAMESPACE / VAULT_NAMESPACE, BAO_CACERT / VAULT_CACERT,
  BAO_CAPATH / VAULT_CAPATH     as for the Vault CLI
  AOS_KV_MOUNT                  KV v2 mount (default: secret)
  AOS_PUBLISHCTL                aos-publishctl command (default: aos-publishctl)
  AOS_PUBLISHCTL_SOCKET         control socket, passed as --socket
  AOS_ROTATE_WAIT               seconds to wait for aos-publishd (default: 10)

Exit status:
  0  written, and aos-publishd reports the new value (or --no-refresh)
  1  not written: Vault unreachable, permission denied, secret not found,
     aos-publishctl not installed, ...
  2  usage error: bad arguments, empty value
  3  WRITTEN, but aos-publishd could not be asked (not running, socket
     unreachable or not permitted); it picks the value up at its next poll
     or start
  4  WRITTEN, aos-publishd answered but did not report the new value in
     time (or reports another value, or does not load KEY)
  5  not written (--verify): a registry refuses the value, or it expired
EOF
}

die() { # die CODE MESSAGE
	local code=$1
	shift
	printf '%s: %s\n' "$prog" "$*" >&2
	exit "$code"
}
warn() { printf '%s: warning: %s\n' "$prog" "$*" >&2; }

# --- arguments ---------------------------------------------------------------

refresh=1
verify=0
args=()
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit $EX_OK ;;
	--no-refresh) refresh=0 ;;
	--verify) verify=1 ;;
	--) shift; args+=("$@"); break ;;
	-?*)
		# After NAME and KEY, anything else is the VALUE (a token may
		# start with "-"); "-" alone never matches this pattern.
		[ ${#args[@]} -eq 2 ] || die $EX_USAGE "unknown option: $1 (see --help)"
		args+=("$1")
		;;
	*) args+=("$1") ;;
	esac
	shift
done
if [ ${#args[@]} -lt 2 ] || [ ${#args[@]} -gt 3 ]; then
	die $EX_USAGE "usage: $prog [--no-refresh] [--verify] NAME KEY [VALUE|-] (see --help)"
fi
name=${args[0]}
key=${args[1]}
[[ $name =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$ ]] \
	|| die $EX_USAGE "invalid secret name: '$name' (expected e.g. package-registry)"
[[ $key =~ ^[A-Za-z_][A-Za-z0-9_.-]*$ ]] \
	|| die $EX_USAGE "invalid key: '$key' (expected e.g. PYPI_API_TOKEN)"

for tool in curl jq; do
	command -v "$tool" >/dev/null || die $EX_FAIL "$tool is required but not installed"
done

value=
if [ ${#args[@]} -eq 3 ] && [ "${args[2]}" != - ]; then
	warn "a value on the command line is visible to other users (ps, /proc) and may stay in shell history; pass '-' and give it on standard input instead"
	value=${args[2]}
elif [ -t 0 ]; then
	IFS= read -r -s -p "New value for $key: " value || true
	printf '\n' >&2
else
	# Everything up to EOF, newlines included (bash builtin: no argv).
	IFS= read -r -d '' value || true
	value=${value%$'\n'}
	value=${value%$'\r'}
fi
[ -n "$value" ] || die $EX_USAGE "refusing to write an empty value for $key"
args=()

# --- Vault settings ----------------------------------------------------------

addr=${BAO_ADDR:-${VAULT_ADDR:-}}
[ -n "$addr" ] || die $EX_FAIL "set BAO_ADDR or VAULT_ADDR to the Vault address"
addr=${addr%/}
loopback='^http://(127(\.[0-9]{1,3}){3}|localhost|\[::1\])(:[0-9]+)?(/.*)?$'
if [[ $addr == https://?* ]]; then
	proto='=https'
elif [[ $addr =~ $loopback ]]; then
	proto='=http'
elif [[ $addr == http://* ]]; then
	die $EX_FAIL "refusing plain http:// to a non-loopback Vault ($addr): the token would travel in clear"
else
	die $EX_FAIL "invalid Vault address: $addr (expected https://host:port)"
fi

token=${BAO_TOKEN:-${VAULT_TOKEN:-}}
if [ -z "$token" ] && [ -r "${HOME:-/nonexistent}/.vault-token" ]; then
	IFS= read -r token <"$HOME/.vault-token" || true
fi
[ -n "$token" ] || die $EX_FAIL "no Vault token: set BAO_TOKEN or VAULT_TOKEN, or log in (~/.vault-token)"
# Keep the token out of the environment of every child (curl, jq, ctl).
unset BAO_TOKEN VAULT_TOKEN
namespace=${BAO_NAMESPACE:-${VAULT_NAMESPACE:-}}
cacert=${BAO_CACERT:-${VAULT_CACERT:-}}
capath=${BAO_CAPATH:-${VAULT_CAPATH:-}}

mount=${AOS_KV_MOUNT:-secret}
mount=${mount#/}
mount=${mount%/}
[[ $mount =~ ^[A-Za-z0-9_][A-Za-z0-9_./-]*$ ]] || die $EX_USAGE "invalid AOS_KV_MOUNT: '$mount'"
kvpath=agenticverz/$name
where="$mount/$kvpath"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rotate_secret.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# vault_headers: the request headers, token included, on stdout (printf is a
# builtin, so the token is in no argv); read by curl from a pipe.
vault_headers() {
	printf 'X-Vault-Token: %s\n' "$token"
	printf 'X-Vault-Request: true\n'
	[ -z "$namespace" ] || printf 'X-Vault-Namespace: %s\n' "$namespace"
}

# No --location: curl would send the token header and the value to any
# host a Location names.  Redirects are followed below, within $addr's
# origin only.
curl_opts=(--silent --show-error --proto "$proto" --connect-timeout 5 --max-time 30
	--output "$tmp/body" --write-out '%{http_code} %{redirect_url}')
[ -z "$cacert" ] || curl_opts+=(--cacert "$cacert")
[ -z "$capath" ] || curl_opts+=(--capath "$capath")

# origin_of URL: "scheme://host:port" in REPLY (lower case, default port
# written out); fails for anything but a plain http(s) URL.
origin_of() {
	local u=${1,,} scheme auth host port
	[[ $u =~ ^(https?)://([^/?#]*) ]] || return 1
	scheme=${BASH_REMATCH[1]} auth=${BASH_REMATCH[2]}
	[[ $auth =~ ^([a-z0-9._-]+|\[[0-9a-f:.]+\])(:([0-9]{1,5}))?$ ]] || return 1
	host=${BASH_REMATCH[1]} port=${BASH_REMATCH[3]}
	if [ -z "$port" ]; then
		port=80
		[ "$scheme" = http ] || port=443
	fi
	REPLY="$scheme://$host:$((10#$port))"
}
origin_of "$addr" || die $EX_FAIL "invalid Vault address: $addr (expected https://host:port)"
vault_origin=$REPLY

vault_errors() { # the "errors" of a Vault error answer, on one line
	jq -r '(.errors // []) | map(tostring) | join("; ")' "$tmp/body" 2>/dev/null | head -c 300 || true
}

# --- aos-publishd settings (checked before anything is written) -------------

ctl=${AOS_PUBLISHCTL:-aos-publishctl}
ctl_args=()
[ -z "${AOS_PUBLISHCTL_SOCKET:-}" ] || ctl_args+=(--socket "$AOS_PUBLISHCTL_SOCKET")
wait_s=${AOS_ROTATE_WAIT:-10}
[[ $wait_s =~ ^[0-9]+$ ]] || die $EX_USAGE "AOS_ROTATE_WAIT must be a whole number of seconds, got '$wait_s'"
if [ "$refresh" -eq 1 ] && ! command -v "$ctl" >/dev/null; then
	die $EX_FAIL "$ctl not found: install aos-publishctl, set AOS_PUBLISHCTL, or pass --no-refresh; nothing written"
fi

# --- verify (--verify): before anything is written --------------------------

if [ "$verify" -eq 1 ]; then
	[ "$refresh" -eq 1 ] || die $EX_USAGE "--verify needs aos-publishd: drop --no-refresh"
	rc=0
	printf '%s' "$value" | "$ctl" "${ctl_args[@]}" --timeout 30 secrets check "$key" \
		>"$tmp/check" 2>&1 || rc=$?
	sed "s/^/$prog: check: /" "$tmp/check" >&2
	case $rc in
	0) ;;
	7) die $EX_REFUSED "a registry refuses the new value of $key (above); nothing written" ;;
	3) die $EX_FAIL "cannot verify: aos-publishd is not reachable; nothing written (start it, or rotate without --verify)" ;;
	*) die $EX_FAIL "cannot verify the new value of $key (aos-publishctl exit $rc); nothing written" ;;
	esac
fi

# --- write -------------------------------------------------------------------

# The new value's fingerprint as aos-publishd shows it.  It is keyed with the
# installation's key, which only the daemon reads, so the daemon computes it;
# the value goes to it on a pipe (printf is a builtin: in no argv).  Empty
# when the daemon cannot be asked; the new version then identifies the value.
fingerprint=
if [ "$refresh" -eq 1 ]; then
	fingerprint=$(printf '%s' "$value" |
		"$ctl" "${ctl_args[@]}" --timeout 5 secrets fingerprint 2>/dev/null) || true
	[[ $fingerprint =~ ^[0-9a-f]{8}$ ]] || fingerprint=
fi

# The JSON body.  jq 1.6 takes ~40 ms to start, so a key and value without
# control characters are encoded with builtins (escape \ and "); anything
# else goes through jq -R.  Builtins run no process: no argv holds them.
jkey='' jval=''
json_str() {
	local s=$1
	[[ $s != *[[:cntrl:]]* ]] || return 1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	REPLY="\"$s\""
}
if json_str "$key"; then
	jkey=$REPLY
	if json_str "$value"; then
		jval=$REPLY
	fi
	REPLY=
fi
write_body() {
	if [ -n "$jval" ]; then
		printf '{"data":{%s:%s}}' "$jkey" "$jval"
	else
		printf '%s' "$value" | jq -R -s -c --arg k "$key" '{data: {($k): .}}'
	fi
}

# A standby answers 307 to the active node: the same PATCH again where it
# points, at most 3 times, and only within the origin of $addr.
url="$addr/v1/$mount/data/$kvpath"
hops=0
while :; do
	rc=0
	out=$(write_body |
		curl "${curl_opts[@]}" --request PATCH \
			--header 'Content-Type: application/merge-patch+json' \
			--header @<(vault_headers) \
			--data-binary @- \
			"$url" 2>"$tmp/err") || rc=$?
	code=${out%% *}
	next=${out#* }
	case $rc:$code in
	0:301 | 0:302 | 0:303 | 0:307 | 0:308) ;;
	*) break ;;
	esac
	[ -n "$next" ] || die $EX_FAIL "Vault at $vault_origin answered $code without a Location; nothing written"
	REPLY=
	if ! origin_of "$next" || [ "$REPLY" != "$vault_origin" ]; then
		die $EX_FAIL "Vault at $vault_origin redirected to ${REPLY:-an invalid URL}, another origin; not followed, so that the token and the value go nowhere else: if that is the active node, set BAO_ADDR or VAULT_ADDR to its address; nothing written"
	fi
	hops=$((hops + 1))
	[ "$hops" -le 3 ] || die $EX_FAIL "Vault at $vault_origin redirected more than 3 times (a loop?); set BAO_ADDR or VAULT_ADDR to the active node's address; nothing written"
	url=$next
done
value=
jval=
token=
if [ "$rc" -ne 0 ]; then
	die $EX_FAIL "cannot reach Vault at $addr: $(head -n1 "$tmp/err" | sed 's/^curl: ([0-9]*) //') (nothing written)"
fi
errs=''
[ "$code" = 200 ] || errs=$(vault_errors)
case $code in
200 | 204) ;;
400) die $EX_FAIL "Vault refused the write to $where (400${errs:+: $errs}); nothing written" ;;
403) die $EX_FAIL "permission denied writing $where (403): the token is invalid or expired, or its policy lacks the \"patch\" capability on $mount/data/$kvpath; nothing written" ;;
404) die $EX_FAIL "$where not found (404): the secret or the KV v2 mount \"$mount\" does not exist (create the secret first); nothing written" ;;
405) die $EX_FAIL "Vault does not allow PATCH on $where (405): is \"$mount\" a KV version 2 mount?; nothing written" ;;
412) die $EX_FAIL "Vault rejected the write to $where (412${errs:+: $errs}); nothing written" ;;
429) die $EX_FAIL "Vault at $addr is a standby node (429); use the active node's address; nothing written" ;;
503) die $EX_FAIL "Vault at $addr is sealed or unavailable (503); nothing written" ;;
000) die $EX_FAIL "no answer from Vault at $addr; nothing written" ;;
*) die $EX_FAIL "Vault answered HTTP $code for $where${errs:+: $errs}; check with 'bao kv get' whether it was written" ;;
esac
# data.version of the answer.  jq costs ~40 ms to start (1.6), so read the
# usual shape, {..."data":{"created_time":...,"version":N}...}, directly and
# ask jq only for anything else.
version=
answer=$(<"$tmp/body")
if [[ $answer =~ \"data\":\{[^{}]*\"version\":[[:space:]]*([0-9]+)[[:space:]]*[,}] ]]; then
	version=${BASH_REMATCH[1]}
else
	version=$(jq -r '.data.version // empty' "$tmp/body" 2>/dev/null || true)
fi
[[ $version =~ ^[0-9]+$ ]] \
	|| die $EX_FAIL "unexpected answer from Vault for $where (no data.version); check the secret with 'bao kv get'"

if [ "$refresh" -eq 0 ]; then
	printf '%s: version %s (written; aos-publishd not asked)\n' "$key" "$version"
	exit $EX_OK
fi

# --- ask aos-publishd --------------------------------------------------------

written="the new value is in Vault: $key written to $where as version $version${fingerprint:+ (fingerprint $fingerprint)}"

# ask OUT CMD...: run aos-publishctl --json CMD (bounded by the wait, at
# least 1 s) and judge its answer, saved in $tmp/OUT, with one jq run.
# Returns 0: the daemon reports our value (its version for KEY in
# $have_version); 1: not yet; 2: never will (why in $verdict); 3: no "ok"
# answer (error in $ctl_error).
have_version='' verdict='' ctl_error=''
ask() {
	local out=$1 left=$((deadline - SECONDS)) rc=0 r
	shift
	[ "$left" -ge 1 ] || left=1
	"$ctl" "${ctl_args[@]}" --timeout "$left" --json "$@" \
		>"$tmp/$out" 2>"$tmp/$out.err" </dev/null || rc=$?
	# The daemon's usual compact answer is read with builtins; jq only
	# for any other shape.
	local a=''
	r=''
	[ "$rc" -ne 0 ] || a=$(<"$tmp/$out")
	if [[ $key =~ ^[A-Za-z0-9_]+$ && $a == '{"ok":true,'* &&
	      $a =~ \"kv_version\":([0-9]+) ]]; then
		local kvn=${BASH_REMATCH[1]}
		if [ "$kvn" -lt "$version" ]; then
			r=wait
		elif [[ $a =~ \{\"key\":\"$key\",\"present\":false ]]; then
			r=absent
		elif [[ $a =~ \{\"key\":\"$key\",\"present\":true,\"version\":([0-9]+),\"created_time\":\"[^\"]*\",\"fingerprint\":\"([^\"]*)\" ]]; then
			r="have ${BASH_REMATCH[1]} ${BASH_REMATCH[2]} $kvn"
		fi
	fi
	[ -n "$r" ] || r=$(jq -r -s --arg k "$key" --argjson v "$version" '
		(last // {}) as $a |
		if ($a | type) != "object" or $a.ok != true then
			"error \(($a.error? // "") | tostring | split("\n") | .[0] // "")"
		else
			($a.kv_version // 0) as $kv |
			([$a.secrets[]? | select(.key == $k)] | first) as $s |
			if $kv < $v then "wait"
			elif $s == null then "nokey"
			elif ($s.present | not) then "absent"
			else "have \($s.version // 0) \($s.fingerprint // "-") \($kv)"
			end
		end' "$tmp/$out" 2>/dev/null) || r='error '
	if [ "$rc" -ne 0 ] && [[ $r != error* ]]; then
		r='error '
	fi
	case $r in
	error*)
		ctl_error=${r#error }
		[ -n "$ctl_error" ] || ctl_error=$(head -n1 "$tmp/$out.err" 2>/dev/null || true)
		ctl_error=${ctl_error:-no answer}
		return 3
		;;
	wait) return 1 ;;
	nokey) verdict="aos-publishd does not load $key (no registry uses it as token_key)"; return 2 ;;
	absent) verdict="aos-publishd reports $key missing from the secret"; return 2 ;;
	esac
	local sv sfp kv
	read -r _ sv sfp kv <<<"$r"
	if { [ -n "$fingerprint" ] && [ "$sfp" = "$fingerprint" ]; } ||
		{ [ -z "$fingerprint" ] && [ "$sv" = "$version" ]; }; then
		have_version=$sv
		fingerprint=$sfp
		return 0
	fi
	if [ "$kv" -gt "$version" ]; then
		verdict="aos-publishd is at version $kv, where $key has fingerprint $sfp: a newer write replaced this one"
		return 2
	fi
	verdict="aos-publishd reports $key with fingerprint $sfp at version $kv, not ${fingerprint:-version $version}"
	return 2
}

# state: as ask() returns; reached: the daemon answered at least once.
reached=0
refresh_error=
deadline=$((SECONDS + wait_s))
state=0
ask refresh secrets refresh || state=$?
if [ "$state" -eq 3 ]; then
	# Not running, or it could not read Vault just now: tell them apart.
	refresh_error=$ctl_error
	state=0
	ask secrets secrets || state=$?
fi
[ "$state" -eq 3 ] || reached=1
while [ "$state" -eq 1 ] || { [ "$state" -eq 3 ] && [ "$reached" -eq 1 ]; }; do
	[ "$SECONDS" -lt "$deadline" ] || break
	sleep 0.1
	state=0
	ask secrets secrets || state=$?
done

if [ "$state" -eq 0 ]; then
	if [ "$have_version" = "$version" ]; then
		printf '%s: version %s, fingerprint %s (aos-publishd confirmed)\n' \
			"$key" "$version" "$fingerprint"
	else
		printf '%s: version %s, fingerprint %s (aos-publishd confirmed; value unchanged since version %s)\n' \
			"$key" "$version" "$fingerprint" "$have_version"
	fi
	exit $EX_OK
fi
if [ "$reached" -eq 0 ]; then
	warn "$written"
	die $EX_NODAEMON "could not ask aos-publishd to refresh ($ctl: $refresh_error); it will pick the new value up at its next poll or start"
fi
warn "$written"
if [ "$state" -eq 2 ]; then
	die $EX_UNCONFIRMED "$verdict"
fi
if [ -n "$refresh_error" ]; then
	die $EX_UNCONFIRMED "aos-publishd did not report version $version of $key within ${wait_s}s (refresh failed: $refresh_error)"
fi
die $EX_UNCONFIRMED "aos-publishd did not report version $version of $key within ${wait_s}s; check 'aos-publishctl status'"
