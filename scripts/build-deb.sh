#!/usr/bin/env bash
# build-deb.sh OUT [JOBS]: builds the Debian package from a copy of this
# tree in OUT/src (never in the tree itself) and checks it with lintian.
# Prints the path of the .deb on its last line.  `make deb` runs it.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: build-deb.sh OUT [JOBS]}
jobs=${2:-$(nproc)}
case $out in
/*) ;;
*) out=$PWD/$out ;;
esac
case $out/ in
"$top"/*) echo "build-deb.sh: $out is inside the tree $top; choose a folder outside it" >&2
	exit 2 ;;
esac

# One version: debian/changelog's must be project(VERSION) of CMakeLists.txt.
deb_version=$(cd "$top" && dpkg-parsechangelog -S Version)
cmake_version=$(sed -n 's/^project(aos-publishd VERSION \([^ ]*\) .*/\1/p' "$top/CMakeLists.txt")
if [ "$deb_version" != "$cmake_version" ]; then
	echo "build-deb.sh: debian/changelog has version $deb_version, CMakeLists.txt" \
		"$cmake_version: add a changelog entry (dch -v $cmake_version)" >&2
	exit 1
fi

rm -rf "$out/src"
mkdir -p "$out/src"
rm -f "$out"/aos-publishd_*.deb "$out"/aos-publishd_*.changes "$out"/aos-publishd_*.buildinfo \
	"$out"/aos-publishd-dbgsym_*.deb
# Tracked and untracked files, not what .gitignore names (build folders,
# .venv, the test peers' caches); files deleted in the work tree skipped.
(cd "$top" && git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
	tar --null -T - -cf -) | tar -xf - -C "$out/src"

(cd "$out/src" && DEB_BUILD_OPTIONS="parallel=$jobs ${DEB_BUILD_OPTIONS:-}" \
	dpkg-buildpackage -us -uc -b) > "$out/build.log" 2>&1 || {
	tail -n 40 "$out/build.log" >&2
	echo "build-deb.sh: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
	exit 1
}
deb=$(ls "$out"/aos-publishd_*.deb)
lintian --fail-on error,warning --info "$deb" "$out"/aos-publishd_*.changes
echo "$deb"
