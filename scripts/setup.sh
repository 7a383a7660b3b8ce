#!/usr/bin/env bash
# setup.sh - install everything aos-publishd needs to build, test and demo on
# Debian 12: C libraries and tools from Debian, the test servers into a
# project-local Python venv (.venv) and npm folder (tests/peers/npm).
# Re-running it is fast: each part is skipped when already in place.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
stamps="$top/.stamps"
mkdir -p "$stamps"

say() { printf 'setup: %s\n' "$*"; }

debs=(build-essential cmake pkg-config git curl jq ca-certificates
      libuv1-dev libcurl4-openssl-dev libcjson-dev libsystemd-dev
      libcmocka-dev libssl-dev libarchive-dev libsqlite3-dev
      libhttp-parser-dev systemd clang libclang-rt-14-dev python3-venv nodejs npm
      wrk webhook time libseccomp-dev bubblewrap strace stress-ng prometheus
      scdoc man-db debhelper fakeroot lintian dpkg-dev
      postgresql libpq-dev zsh clang-format)
missing=()
for p in "${debs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
		|| missing+=("$p")
done
# Node and npm may come from outside Debian on some hosts: accept them.
if command -v node >/dev/null && command -v npm >/dev/null; then
	tmp=()
	for p in "${missing[@]}"; do
		[ "$p" = nodejs ] || [ "$p" = npm ] || tmp+=("$p")
	done
	missing=("${tmp[@]+"${tmp[@]}"}")
fi
if [ ${#missing[@]} -gt 0 ]; then
	say "installing Debian packages: ${missing[*]}"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Python venv with the pinned test servers and tools.
req="$top/tests/peers/requirements.txt"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ "$(cat "$stamps/venv" 2>/dev/null)" != "$want" ] || [ ! -x "$top/.venv/bin/python" ]; then
	say "creating .venv from tests/peers/requirements.txt"
	python3 -m venv "$top/.venv"
	"$top/.venv/bin/pip" install -q --disable-pip-version-check -r "$req"
	echo "$want" > "$stamps/venv"
fi

# npm test servers (verdaccio) from the committed lock file.
npmdir="$top/tests/peers/npm"
want=$(cat "$npmdir/package.json" "$npmdir/package-lock.json" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamps/npm" 2>/dev/null)" != "$want" ] || [ ! -d "$npmdir/node_modules" ]; then
	say "installing npm test servers (npm ci in tests/peers/npm)"
	(cd "$npmdir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	echo "$want" > "$stamps/npm"
fi
# The sample SDKs' build dependencies, so that no release pipeline of the
# tests or the demo reaches a registry: a wheelhouse of the Python SDK's
# requirements-build.txt (the pipelines set PIP_FIND_LINKS to it and
# PIP_NO_INDEX) and an npm cache holding every package of the JS SDK's
# package-lock.json (a pipeline copies it into its job and runs `npm ci
# --offline`; docs/pipelines.md says why a copy).
wheels="$top/tests/peers/wheelhouse"
breq="$top/tests/fixtures/python-sdk/requirements-build.txt"
want=$(sha256sum "$breq" | cut -d' ' -f1)
if [ "$(cat "$stamps/wheelhouse" 2>/dev/null)" != "$want" ] || [ ! -d "$wheels" ]; then
	say "filling tests/peers/wheelhouse (pip download of the Python SDK's build requirements)"
	rm -rf "$wheels"
	"$top/.venv/bin/pip" download -q --disable-pip-version-check --only-binary :all: \
		--require-hashes -r "$breq" -d "$wheels"
	echo "$want" > "$stamps/wheelhouse"
fi
npm_cache="$top/tests/peers/npm-cache"
js="$top/tests/fixtures/js-sdk"
want=$(cat "$js/package.json" "$js/package-lock.json" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamps/npm-cache" 2>/dev/null)" != "$want" ] || [ ! -d "$npm_cache" ]; then
	say "filling tests/peers/npm-cache (npm ci of the JS SDK's lock file)"
	rm -rf "$npm_cache"
	tmp=$(mktemp -d)
	cp "$js/package.json" "$js/package-lock.json" "$js/.npmrc" "$tmp/"
	sed -i 's/{{VERSION}}/0.0.0/' "$tmp/package.json" "$tmp/package-lock.json"
	(cd "$tmp" && npm_config_cache="$npm_cache" npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	rm -rf "$tmp" "$npm_cache/_logs"
	echo "$want" > "$stamps/npm-cache"
fi
say "ready"
