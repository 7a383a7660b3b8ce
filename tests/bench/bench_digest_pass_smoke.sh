#!/usr/bin/env bash
# bench_digest_pass_smoke.sh BENCH_BINARY: `make check`'s smoke run of
# bench_digest_pass (docs/benchmarks.md, "Digests on two threads"): one
# pass each over a small wheel and npm tarball made here (2 MiB of random
# content each, past the 1 MiB where the second thread starts), timing
# nothing; fails if the pass fails.
set -euo pipefail
bench=${1:?usage: $0 BENCH_BINARY}
d=$(mktemp -d "${TMPDIR:-/tmp}/aos-digest-smoke.XXXXXX")
trap 'rm -rf "$d"' EXIT
python3 - "$d" <<'PY'
import io, os, sys, tarfile, zipfile
d = sys.argv[1]
blob = os.urandom(2 << 20)
with zipfile.ZipFile(f"{d}/smoke-0.1.0-py3-none-any.whl", "w") as z:
    z.writestr("smoke/data.bin", blob)
    z.writestr("smoke-0.1.0.dist-info/METADATA",
               "Metadata-Version: 2.1\nName: smoke\nVersion: 0.1.0\n")
    z.writestr("smoke-0.1.0.dist-info/WHEEL",
               "Wheel-Version: 1.0\nGenerator: smoke\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    z.writestr("smoke-0.1.0.dist-info/RECORD", "")
with tarfile.open(f"{d}/smoke-0.1.0.tgz", "w:gz") as t:
    for name, data in (("package/package.json", b'{"name":"smoke","version":"0.1.0"}'),
                       ("package/data.bin", blob)):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
PY
"$bench" 1 "$d/copy" "$d/smoke-0.1.0-py3-none-any.whl" "$d/smoke-0.1.0.tgz"
