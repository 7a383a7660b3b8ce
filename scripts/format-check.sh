#!/bin/sh
# The C sources as .clang-format lays them out (`make check`, ctest
# lint.format).  --fix rewrites them in place; without it, any difference
# fails with clang-format's own report (file:line and the expected text).
#   scripts/format-check.sh [--fix]
set -eu
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || {
	echo "format-check: clang-format is missing: run scripts/setup.sh (Debian package clang-format)" >&2
	exit 1
}
files=$(find common vault publishers agent ctl tests/unit tests/fuzz tests/tools \
	-name '*.[ch]' | sort)
if [ "${1:-}" = --fix ]; then
	# shellcheck disable=SC2086 # one file name per word (no spaces in the tree)
	clang-format -i $files
	exit 0
fi
# shellcheck disable=SC2086
if ! clang-format --dry-run -Werror $files; then
	echo "format-check: the files above differ from .clang-format's layout;" \
		"run scripts/format-check.sh --fix (or mark a hand-laid table" \
		"with /* clang-format off */ ... /* clang-format on */)" >&2
	exit 1
fi
