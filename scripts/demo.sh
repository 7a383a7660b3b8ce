#!/usr/bin/env bash
# demo.sh - a release end to end on a local stack: OpenBao (dev) holding
# tokens and a webhook secret made at random, two pypiservers ("testpypi" and
# "pypi") and a verdaccio ("npm"), aos-publishd logging in with a
# least-privilege AppRole; a rotation with vault/rotate_secret.sh; a local git
# repository with the two sample SDKs, tagged python-sdk-v0.1.0 and
# js-sdk-v0.1.0; GitHub-style signed tag-push webhooks; the pipeline jobs
# followed to their end; both packages installed back from the registries in
# clean environments; a summary.  Everything runs on 127.0.0.1 (free ports)
# and is stopped at the end.
#
# The registries keep their packages in .demo/registries between runs and
# the sample commit is the same every run (fixed author and dates), so a
# second run rebuilds identical files and reports them "already published".
# rm -rf .demo starts over.  Secret values are never printed nor put on a
# command line: they live in files of mode 0600, pipes and shell variables.
#
# Usage: scripts/demo.sh [BUILD_DIR]   (after scripts/setup.sh and a build)
set -Eeuo pipefail
umask 077
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" 2>/dev/null && pwd) ||
	{ echo "demo.sh: no build folder ${1:-$top/build}: build first (make demo does)" >&2; exit 1; }
daemon="$build/agent/aos-publishd"
ctl="$build/agent/aos-publishctl"
py="$top/.venv/bin/python"
peers="$top/scripts/demo_peers.py"
demo="$top/.demo"
reg="$demo/registries" # kept between runs
run="$demo/run"        # this run only
version=0.1.0
repo_name=agenticverz/aos
tags=("python-sdk-v$version" "js-sdk-v$version")

bold() { printf '\033[1m%s\033[0m\n' "$*"; }
step() { printf '\n'; bold "== $*"; }
say() { printf '   %s\n' "$*"; }
indent() { sed 's/^/   /'; }
die() {
	printf '\n\033[1;31mdemo failed:\033[0m %s\n' "$*" >&2
	[ -z "${started:-}" ] || printf 'logs: %s\n' "$run" >&2
	exit 1
}
on_err() { # STATUS LINE COMMAND: a command failed under set -e
	local cmd=${3%%$'\n'*}
	die "line $2: \"$cmd\" exited with status $1"
}
trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR

for f in "$daemon" "$ctl" "$py"; do
	[ -x "$f" ] || die "$f is missing: run scripts/setup.sh and build first (make demo does both)"
done
for c in git jq curl node npm python3; do
	command -v "$c" >/dev/null || die "$c is not installed: run scripts/setup.sh"
done
# The SDKs' build dependencies (the pipelines reach no registry).
wheelhouse="$top/tests/peers/wheelhouse"
npm_cache="$top/tests/peers/npm-cache"
for f in "$wheelhouse" "$npm_cache"; do
	[ -d "$f" ] || die "$f is missing: run scripts/setup.sh (make demo does)"
done

# --- stopping everything, whatever happens -------------------------------------
daemon_pid=""
peers_pid=""
stop_daemon() {
	[ -n "$daemon_pid" ] || return 0
	kill -TERM "$daemon_pid" 2>/dev/null || true
	local rc=0
	wait "$daemon_pid" || rc=$?
	daemon_pid=""
	return "$rc"
}
stop_peers() {
	[ -n "$peers_pid" ] || return 0
	kill -TERM "$peers_pid" 2>/dev/null || true
	local rc=0
	wait "$peers_pid" 2>/dev/null || rc=$?
	peers_pid=""
	# Should the helper have failed without stopping its servers.
	if [ "$rc" != 0 ] && [ -f "$run/peers.json" ]; then
		for p in $(jq -r '.pids[]' "$run/peers.json"); do
			kill -TERM "$p" 2>/dev/null || true
		done
	fi
}
cleanup() {
	trap - ERR
	stop_daemon 2>/dev/null || true
	stop_peers
}
trap cleanup EXIT
trap 'printf "\ndemo interrupted: stopping everything\n" >&2; exit 130' INT
trap 'printf "\ndemo terminated: stopping everything\n" >&2; exit 143' TERM

# --- 1. the servers ------------------------------------------------------------
rm -rf "$run"
mkdir -p "$run/jobs" "$run/webhooks" "$reg"
started=1
step "Starting OpenBao (dev), pypiserver as testpypi and pypi, verdaccio as npm (127.0.0.1, free ports)"
"$py" "$peers" up "$run" "$reg" "$run/peers.json" >"$run/peers.log" 2>&1 &
peers_pid=$!
for _ in $(seq 600); do
	[ -f "$run/peers.json" ] && break
	kill -0 "$peers_pid" 2>/dev/null || die "the local servers did not start: $(tail -20 "$run/peers.log")"
	sleep 0.1
done
[ -f "$run/peers.json" ] || die "the local servers were not up after 60 s: $(tail -20 "$run/peers.log")"
P() { jq -r "$1" "$run/peers.json"; }
vault_addr=$(P .vault.addr)
say "OpenBao   $vault_addr (dev server: in memory, new each run)"
for r in testpypi pypi npm; do
	n=$(find "$(P ".registries.$r.folder")" -type f \( -name '*.whl' -o -name '*.tar.gz' -o -name '*.tgz' \) | wc -l)
	printf '   %-9s %-26s files in %s (%s from earlier runs)\n' "$r" "$(P ".registries.$r.url")" \
		"$(P ".registries.$r.folder")" "$n"
done

step "Secrets made for this run, in KV v2 $(P .vault.kv) (values never shown)"
say "pypiserver checks __token__:<token> against an htpasswd file; NPM_TOKEN is the token"
say "verdaccio gave its user $(P .registries.npm.user); the webhook secret signs the webhooks below"
say "keys: PYPI_API_TOKEN TEST_PYPI_API_TOKEN NPM_TOKEN GITHUB_WEBHOOK_SECRET; their"
say "fingerprints (keyed with the daemon's own key) appear in its status below"

step "A least-privilege AppRole for the daemon: role $(P .vault.role), policy $(P .vault.policy_name)"
P .vault.policy | sed "/^$/d" | indent
say "role_id and secret_id: files of mode 0600 in $run/creds, given to the daemon"
say "as \$CREDENTIALS_DIRECTORY (what systemd's LoadCredential= does)"

# --- 2. the sample repository ---------------------------------------------------
step "A local git repository with the two sample SDKs (the \"forge\")"
repo="$run/forge/aos"
mkdir -p "$repo/sdk"
cp -r "$top/tests/fixtures/python-sdk" "$repo/sdk/python"
cp -r "$top/tests/fixtures/js-sdk" "$repo/sdk/js"
grep -rlF '{{VERSION}}' "$repo/sdk" | while IFS= read -r f; do
	sed -i "s/{{VERSION}}/$version/g" "$f"
done
printf '__pycache__/\n*.egg-info/\nbuild/\ndist/\nrelease/\nnode_modules/\n' >"$repo/.gitignore"
printf '# aos (demo copy)\n\nsdk/python: aos-sdk on PyPI; sdk/js: @agenticverz/aos-sdk on npm.\n' >"$repo/README.md"
# Fixed author, committer and dates, no user configuration: the same commit
# every run, so the daemon's reproducible builds make the same files.
commit_date="2026-01-01T00:00:00Z"
(
	export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
	export GIT_AUTHOR_NAME="AOS Release" GIT_AUTHOR_EMAIL=release@agenticverz.invalid
	export GIT_COMMITTER_NAME="AOS Release" GIT_COMMITTER_EMAIL=release@agenticverz.invalid
	export GIT_AUTHOR_DATE="$commit_date" GIT_COMMITTER_DATE="$commit_date"
	git -C "$repo" init -q -b main
	git -C "$repo" config uploadpack.allowReachableSHA1InWant true
	git -C "$repo" add -A
	git -C "$repo" commit -q -m "AOS SDKs $version"
	for t in "${tags[@]}"; do git -C "$repo" tag "$t"; done
) || die "creating the sample repository in $repo failed"
commit=$(git -C "$repo" rev-parse HEAD)
commit_epoch=$(git -C "$repo" show -s --format=%ct HEAD)
say "repository  file://$repo"
say "commit      $commit (the same every run: fixed author and dates)"
say "            its time $commit_epoch is the builds' SOURCE_DATE_EPOCH"
say "tags        ${tags[*]}"
git -C "$repo" ls-files | sed 's/^/     /'

# --- 3. the daemon --------------------------------------------------------------
hook_port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
hook_url="http://127.0.0.1:$hook_port"
node_dir=$(dirname "$(command -v node)")
# What the steps read beyond /usr, /etc and their work folder inside the
# build sandbox: the wheelhouse (Python); the npm cache and node's folder,
# when it is not under /usr (JS).
readable() {
	"$py" -c 'import json, os, sys
paths = [os.path.realpath(p) for p in sys.argv[1:]]
print(json.dumps([p for p in dict.fromkeys(paths) if not p.startswith(("/usr/", "/etc/"))]))' "$@"
}
py_readable=$(readable "$wheelhouse")
js_readable=$(readable "$npm_cache" "$node_dir")
jq -n --arg run "$run" --arg vault "$vault_addr" --arg listen "127.0.0.1:$hook_port" \
	--arg testpypi "$(P .registries.testpypi.url)" --arg pypi "$(P .registries.pypi.url)" \
	--arg npm "$(P .registries.npm.url)" --arg repo "file://$repo" --arg name "$repo_name" \
	--arg wheelhouse "$wheelhouse" --arg npm_cache "$npm_cache" \
	--argjson py_readable "$py_readable" --argjson js_readable "$js_readable" \
	--arg nodepath "$node_dir:/usr/local/bin:/usr/bin:/bin" '
{
  runtime_dir: "\($run)/runtime",
  state_dir: "\($run)/state",
  work_dir: "\($run)/work",
  vault: {address: $vault, auth: {method: "approle"}, poll_interval_s: 30},
  registries: {
    testpypi: {type: "pypi", url: $testpypi, token_key: "TEST_PYPI_API_TOKEN"},
    pypi: {type: "pypi", url: $pypi, token_key: "PYPI_API_TOKEN"},
    npm: {type: "npm", url: $npm, token_key: "NPM_TOKEN", access: "public"}
  },
  publish: {max_attempts: 3, backoff_min_ms: 500, backoff_max_ms: 3000},
  queue: {max_attempts: 3, backoff_min_ms: 1000, backoff_max_ms: 5000, shutdown_grace_s: 10},
  listen: {address: $listen},
  webhooks: {github: {secret_key: "GITHUB_WEBHOOK_SECRET"}},
  pipelines: {
    "python-sdk": {
      repository: $repo, repository_name: $name,
      tag_pattern: "python-sdk-v*", package: "aos-sdk", directory: "sdk/python",
      build: ["python3 -m venv \"$HOME/buildenv\"",
              "\"$HOME/buildenv/bin/pip\" install --quiet --require-hashes -r requirements-build.txt",
              "\"$HOME/buildenv/bin/python\" -m build --sdist --wheel --outdir dist ."],
      verify: ["sh scripts/verify-dist.sh"],
      artifacts: ["dist/*.whl", "dist/*.tar.gz"],
      targets: ["testpypi", "pypi"],
      env: {PIP_FIND_LINKS: $wheelhouse, PIP_NO_INDEX: "1", PIP_CONFIG_FILE: "/dev/null",
            PIP_DISABLE_PIP_VERSION_CHECK: "1"},
      readable: $py_readable,
      timeout_s: 300
    },
    "js-sdk": {
      repository: $repo, repository_name: $name,
      tag_pattern: "js-sdk-v*", package: "@agenticverz/aos-sdk", directory: "sdk/js",
      build: ["mkdir -p \"$HOME/.npm\" && cp -R \"$NPM_SEED_CACHE/.\" \"$HOME/.npm/\"",
              "npm ci --offline", "npm run typecheck", "npm run build",
              "mkdir -p release && npm pack --pack-destination release"],
      verify: ["sh scripts/verify-pack.sh release/*.tgz"],
      artifacts: ["release/*.tgz"],
      targets: ["npm"],
      env: {PATH: $nodepath, NPM_SEED_CACHE: $npm_cache, npm_config_update_notifier: "false",
            npm_config_loglevel: "warn", npm_config_fund: "false", npm_config_audit: "false"},
      readable: $js_readable,
      timeout_s: 300
    }
  }
}' >"$run/config.json"
step "The daemon's configuration: $run/config.json (no secret in it)"
jq -c '.pipelines | to_entries[] | {pipeline: .key, tag_pattern: .value.tag_pattern,
	package: .value.package, directory: .value.directory, targets: .value.targets}' \
	"$run/config.json" | indent
"$daemon" --check-config "$run/config.json" 2>&1 | indent ||
	die "aos-publishd --check-config refused $run/config.json (see above)"

step "Starting aos-publishd (webhooks on $hook_url)"
export AOS_PUBLISHCTL_SOCKET="$run/runtime/control.sock"
env -u VAULT_ADDR -u BAO_ADDR -u VAULT_TOKEN -u BAO_TOKEN CREDENTIALS_DIRECTORY="$run/creds" \
	"$daemon" -c "$run/config.json" 2>"$run/aos-publishd.log" &
daemon_pid=$!
ready=""
for _ in $(seq 300); do
	kill -0 "$daemon_pid" 2>/dev/null ||
		die "aos-publishd exited; its log: $(tail -20 "$run/aos-publishd.log")"
	if "$ctl" --json status 2>/dev/null | jq -e '.state == "ready"' >/dev/null &&
		curl -sf "$hook_url/readyz" >/dev/null 2>&1; then
		ready=1
		break
	fi
	sleep 0.1
done
[ -n "$ready" ] || die "aos-publishd not ready after 30 s (status and GET /readyz); its log: $(tail -20 "$run/aos-publishd.log")"
say "GET /readyz -> $(curl -s "$hook_url/readyz")"

step "aos-publishctl status"
"$ctl" status | indent

# --- 4. a rotation --------------------------------------------------------------
step "Rotating PYPI_API_TOKEN: a new token for the pypi registry, then vault/rotate_secret.sh (value on stdin)"
new_token="pypi-$(head -c 32 /dev/urandom | base64 | tr -d '/+=\n')"
printf '%s\n' "$new_token" >>"$run/secrets/values"
printf '%s' "$new_token" | "$py" "$peers" htpasswd "$(P .registries.pypi.htpasswd)"
say "pypi now accepts only the new token; the daemon still holds the old one"
rotated=$(printf '%s' "$new_token" |
	VAULT_ADDR="$vault_addr" VAULT_TOKEN="$(<"$run/secrets/vault-root-token")" \
		AOS_PUBLISHCTL="$ctl" "$top/vault/rotate_secret.sh" package-registry PYPI_API_TOKEN -) ||
	die "vault/rotate_secret.sh failed (its message is above)"
say "$rotated"
unset new_token
step "aos-publishctl status (after the rotation: PYPI_API_TOKEN has a new version and fingerprint; the uploads below use it)"
"$ctl" status | indent

# --- 5. the webhooks ------------------------------------------------------------
# post_webhook NAME TAG DELIVERY_ID SECRET_FILE: writes $run/webhooks/NAME.*,
# sets $http_status; the body is GitHub's push event for a tag.
post_webhook() {
	local name=$1 tag=$2 delivery=$3 key=$4 w="$run/webhooks/$1"
	jq -cn --arg ref "refs/tags/$tag" --arg sha "$commit" --arg name "$repo_name" \
		--arg url "file://$repo" --arg ts "$commit_date" --arg msg "AOS SDKs $version" '{
		ref: $ref, before: "0000000000000000000000000000000000000000", after: $sha,
		created: true, deleted: false, forced: false, base_ref: null, compare: "",
		commits: [],
		head_commit: {id: $sha, distinct: true, message: $msg, timestamp: $ts,
			author: {name: "AOS Release", email: "release@agenticverz.invalid"},
			committer: {name: "AOS Release", email: "release@agenticverz.invalid"}},
		repository: {id: 1, name: ($name | split("/")[1]), full_name: $name,
			private: false, clone_url: $url, default_branch: "main"},
		pusher: {name: "aos-release", email: "release@agenticverz.invalid"},
		sender: {login: "aos-release", type: "User"}}' >"$w.json"
	{
		printf 'Content-Type: application/json\n'
		printf 'User-Agent: GitHub-Hookshot/aos-demo\n'
		printf 'X-GitHub-Event: push\n'
		printf 'X-GitHub-Delivery: %s\n' "$delivery"
		printf 'X-GitHub-Hook-ID: 1\n'
		printf 'X-Hub-Signature-256: %s\n' "$("$py" "$peers" sign "$key" "$w.json")"
	} >"$w.headers"
	http_status=$(curl -sS -o "$w.answer" -w '%{http_code}' -H @"$w.headers" \
		--data-binary @"$w.json" "$hook_url/webhook") ||
		die "POST $hook_url/webhook failed (curl); daemon log: $(tail -5 "$run/aos-publishd.log")"
	say "POST /webhook  push $tag  delivery $delivery  ($(wc -c <"$w.json") bytes)"
	say "  -> HTTP $http_status $(cat "$w.answer")"
}
secret_file="$run/secrets/github-webhook-secret"
step "Sending GitHub-style signed push webhooks (X-Hub-Signature-256: HMAC-SHA256 of the body)"
declare -A job_of delivery_of
for t in "${tags[@]}"; do
	delivery_of[$t]=$(cat /proc/sys/kernel/random/uuid)
	post_webhook "$t" "$t" "${delivery_of[$t]}" "$secret_file"
	[ "$http_status" = 202 ] || die "webhook for $t: expected HTTP 202, got $http_status"
	job_of[$t]=$(jq -er '.job_id' "$run/webhooks/$t.answer") ||
		die "webhook for $t: no job_id in the answer"
done

step "The listener's checks: a forged signature, and a redelivery"
head -c 32 /dev/urandom | base64 >"$run/secrets/wrong-secret"
post_webhook forged "${tags[0]}" "$(cat /proc/sys/kernel/random/uuid)" "$run/secrets/wrong-secret"
[ "$http_status" = 401 ] || die "a forged webhook: expected HTTP 401, got $http_status"
post_webhook redelivery "${tags[0]}" "${delivery_of[${tags[0]}]}" "$secret_file"
[ "$http_status" = 200 ] || die "a redelivered webhook: expected HTTP 200, got $http_status"
[ "$(jq -r '.job_id' "$run/webhooks/redelivery.answer")" = "${job_of[${tags[0]}]}" ] ||
	die "a redelivered webhook: expected the original job ${job_of[${tags[0]}]}"
say "forged: refused (401); redelivered: the original job ${job_of[${tags[0]}]}, nothing new queued"

# --- 6. the jobs ----------------------------------------------------------------
# wait_job ID: prints the job's log as it grows, returns once it has ended.
wait_job() {
	local id=$1 seen=0 state="" deadline=$((SECONDS + 600)) j="$run/jobs/$1"
	while :; do
		"$ctl" --json job show "$id" >"$j.show.json" || die "aos-publishctl job show $id failed"
		state=$(jq -r '.job.state' "$j.show.json")
		"$ctl" --json job log "$id" >"$j.log.json" || die "aos-publishctl job log $id failed"
		# A step's output comes in chunks of several lines: three of each
		# here, all of them in the saved log.
		jq -r --argjson after "$seen" '.lines[] | select(.id > $after) |
			(.at_ms / 1000 | floor | strftime("%H:%M:%S")) as $t |
			(.text | split("\n") | map(select(length > 0))) as $l |
			"   \($t) \($l[0] // "")",
			($l[1:3][] | "            \(.)"),
			(if ($l | length) > 3 then "              [\($l | length - 3) more lines]" else empty end)' \
			"$j.log.json"
		seen=$(jq --argjson s "$seen" '[$s, (.lines[].id)] | max' "$j.log.json")
		case $state in succeeded | dead | canceled) return 0 ;; esac
		[ "$SECONDS" -lt "$deadline" ] || die "job $id still $state after 600 s"
		sleep 0.5
	done
}
declare -A outcome_of
for t in "${tags[@]}"; do
	id=${job_of[$t]}
	step "Job $id ($t): its log, as it runs"
	wait_job "$id"
	"$ctl" job log "$id" >"$run/jobs/$id.log"
	say "(the whole log: $run/jobs/$id.log)"
	"$ctl" job show "$id" | tee "$run/jobs/$id.show" | indent
	state=$(jq -r '.job.state' "$run/jobs/$id.show.json")
	if [ "$state" != succeeded ]; then
		err=$(jq -r '.job.last_error // "no error recorded"' "$run/jobs/$id.show.json")
		case $err in conflict*)
			say "A registry holds other files under $version: were they published from other"
			say "sample sources (an older checkout)?  rm -rf $reg starts the registries afresh." ;;
		esac
		die "job $id ($t) ended $state: $err"
	fi
	# job wait's last line is the job's final answer: outcome published or exists.
	"$ctl" --json job wait "$id" >"$run/jobs/$id.wait.json" ||
		die "aos-publishctl job wait $id: $(tail -1 "$run/jobs/$id.wait.json")"
	case $(tail -1 "$run/jobs/$id.wait.json" | jq -r .outcome) in
	published) outcome_of[$t]="published" ;;
	exists) outcome_of[$t]="already published" ;;
	*) die "job $id ($t): unexpected outcome: $(tail -1 "$run/jobs/$id.wait.json")" ;;
	esac
	say "=> $t: ${outcome_of[$t]}"
done

step "aos-publishctl jobs"
"$ctl" jobs | indent
step "aos-publishctl reconcile --dry-run: is any tag's version missing on a target?"
for p in python-sdk js-sdk; do
	"$ctl" reconcile "$p" --dry-run 2>&1 | indent || die "aos-publishctl reconcile $p --dry-run failed"
done

# --- 7. installing what was published --------------------------------------------
check="$run/install-check"
mkdir -p "$check"
export PIP_CONFIG_FILE=/dev/null PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
step "pip install aos-sdk==$version from pypi into a new venv"
python3 -m venv "$check/venv" || die "python3 -m venv failed (Debian: python3-venv)"
say "\$ python3 -m venv venv && venv/bin/pip install --index-url $(P .registries.pypi.index_url) aos-sdk==$version"
"$check/venv/bin/pip" install -q --index-url "$(P .registries.pypi.index_url)" "aos-sdk==$version" 2>&1 |
	indent || die "pip install aos-sdk==$version failed"
out=$("$check/venv/bin/aos" version) || die "aos version failed"
say "\$ aos version"
say "$out"
[ "$out" = "aos-sdk $version" ] || die "aos version printed \"$out\", expected \"aos-sdk $version\""

step "npm install @agenticverz/aos-sdk@$version from npm into a new folder"
mkdir -p "$check/node"
printf '{"name": "aos-install-check", "private": true}\n' >"$check/node/package.json"
(
	cd "$check/node"
	export HOME="$check/node" npm_config_userconfig="$check/node/.npmrc" \
		npm_config_globalconfig="$check/node/global-npmrc" npm_config_cache="$check/node/.npm-cache" \
		npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
	say "\$ npm install --registry $(P .registries.npm.url) @agenticverz/aos-sdk@$version"
	npm install --loglevel=error --registry "$(P .registries.npm.url)" "@agenticverz/aos-sdk@$version" 2>&1 |
		sed '/^$/d' | indent
) || die "npm install @agenticverz/aos-sdk@$version failed"
cjs=$(cd "$check/node" && node -e 'const sdk = require("@agenticverz/aos-sdk"); console.log(sdk.VERSION)') ||
	die "require(\"@agenticverz/aos-sdk\") failed"
esm=$(cd "$check/node" && node --input-type=module -e 'import { VERSION } from "@agenticverz/aos-sdk"; console.log(VERSION)') ||
	die "import from \"@agenticverz/aos-sdk\" failed"
say "require(\"@agenticverz/aos-sdk\").VERSION          -> $cjs"
say "import { VERSION } from \"@agenticverz/aos-sdk\"   -> $esm"
[ "$cjs" = "$version" ] && [ "$esm" = "$version" ] || die "expected VERSION $version from require and import"

# --- 8. no secret anywhere, stop ---------------------------------------------------
step "Stopping, and looking for the secret values where they must not be"
if hits=$(grep -laF -f "$run/secrets/values" /proc/[0-9]*/cmdline 2>/dev/null); then
	die "a secret value is on a command line: $hits"
fi
say "no token or webhook secret on the command line of any running process"
"$ctl" status >"$run/status.final"
stop_daemon && say "aos-publishd stopped cleanly" || die "aos-publishd exited with an error; see $run/aos-publishd.log"
stop_peers
say "the servers stopped"
if hits=$(grep -rlF -f "$run/secrets/values" "$run/aos-publishd.log" "$run/state" "$run/jobs" \
	"$run/webhooks" "$run/config.json" 2>/dev/null); then
	die "a secret value appears in: $hits"
fi
say "none in the daemon's log, queue, spool, job logs, the webhooks sent or the configuration"

# --- 9. summary -------------------------------------------------------------------
step "Summary"
for t in "${tags[@]}"; do
	id=${job_of[$t]}
	targets=$(jq -r --arg t "$t" '.pipelines[] | (.tag_pattern | rtrimstr("*")) as $p |
		select($t | startswith($p)) | .targets | join(" -> ")' "$run/config.json")
	printf '   %-20s job %-3s %-18s %s\n' "$t" "$id" "${outcome_of[$t]}" "$targets"
	jq -r '.uploads[] | "\(.filename)\t\(.answer | split(":")[0])"' "$run/jobs/$id.show.json" |
		awk -F'\t' '{ printf "        %-44s %s\n", $1, $2 }'
done
cat <<EOF

   Vault: $(P .vault.kv), read by AppRole $(P .vault.role) (policy $(P .vault.policy_name): read only);
   rotated before the uploads: $rotated.

   $(grep -E '^Webhooks:' "$run/status.final" | tr -s ' ')
   $(grep -E '^Builds:' "$run/status.final" | tr -s ' '); no token in the steps' environment.

   Installed back: aos-sdk $version from pypi (aos version: $out),
   @agenticverz/aos-sdk $version from npm (require and import: $cjs).

   Where to look:
     job logs        $run/jobs/<id>.log (aos-publishctl job log <id> while the daemon runs)
     daemon log      $run/aos-publishd.log
     configuration   $run/config.json
     webhooks sent   $run/webhooks/ (body, headers, answer)
     registries      testpypi $(P .registries.testpypi.folder)
                     pypi     $(P .registries.pypi.folder)
                     npm      $(P .registries.npm.folder)
     server logs     $run/openbao, $reg/*/
EOF
if [ "${outcome_of[${tags[0]}]}" = published ] || [ "${outcome_of[${tags[1]}]}" = published ]; then
	say "Run it again: the registries keep $version, so both jobs end \"already published\"."
else
	say "Both releases were already on the registries.  rm -rf .demo starts over."
fi
