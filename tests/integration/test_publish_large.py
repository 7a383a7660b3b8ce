"""A 50 MB wheel and a 50 MB npm tarball publish through the daemon in
constant memory: its peak RSS (VmHWM from /proc) stays under 32 MiB, and
the registries hold exactly the uploaded bytes.  The tight figures are the
benchmark's (tests/bench); this bound is generous."""

import hashlib
import time

import pytest

from publish_support import (EXIT, make_big_npm, make_big_wheel, publish, sha1_hex,
                             sha256_file, sha512_sri)

MIB = 1024 * 1024
SIZE = 50 * MIB
RSS_LIMIT_KIB = 32 * 1024


def _sanitized_build() -> bool:
    """True for an AddressSanitizer build (its shadow memory makes RSS
    figures meaningless): the upload still runs, the bound is not checked."""
    from aos_fixtures import BUILD_DIR
    try:
        return "AOS_SANITIZE:BOOL=ON" in (BUILD_DIR / "CMakeCache.txt").read_text()
    except OSError:
        return False


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith(field + ":"):
                return int(ln.split()[1])
    raise KeyError(field)


@pytest.fixture(scope="module")
def daemon(publish_env):
    return publish_env.daemon()


@pytest.fixture
def bigdir(tmp_path):
    """tmp_path, emptied afterwards (pytest keeps old tmp_paths around)."""
    yield tmp_path
    for p in tmp_path.iterdir():
        p.unlink()


def _check_progress(r, f):
    prog = r.events("progress", f)
    assert len(prog) >= 2, f"expected progress events while sending {f.name}: {r}"
    sent = [e["sent"] for e in prog]
    assert sent == sorted(sent), f"progress went backwards: {sent}"
    assert prog[-1]["sent"] == prog[-1]["total"], f"last progress: {prog[-1]}"
    assert prog[-1]["total"] >= f.stat().st_size, prog[-1]


def test_large_uploads_in_constant_memory(publish_env, daemon, bigdir):
    env = publish_env
    t0 = time.monotonic()
    whl = make_big_wheel(bigdir, "aos-sdk-large", "1.0.0", SIZE)
    tgz = make_big_npm(bigdir, "@agenticverz/aos-sdk-large", "1.0.0", SIZE)
    made = time.monotonic() - t0
    assert whl.stat().st_size > SIZE and tgz.stat().st_size > SIZE
    base_hwm = _status_kib(daemon.pid, "VmHWM")

    r = publish(daemon, "pypi", whl, timeout=180).expect(EXIT["published"], "published")
    _check_progress(r, whl)
    hwm_pypi = _status_kib(daemon.pid, "VmHWM")
    r2 = publish(daemon, "npm", tgz, timeout=180).expect(EXIT["published"], "published")
    _check_progress(r2, tgz)
    hwm = _status_kib(daemon.pid, "VmHWM")
    print(f"built in {made:.1f}s; pypi {r.seconds:.1f}s, npm {r2.seconds:.1f}s; "
          f"VmHWM {base_hwm} KiB at start, {hwm_pypi} after the wheel, {hwm} after the tarball")
    assert _sanitized_build() or hwm < RSS_LIMIT_KIB, (
        f"daemon peak RSS {hwm} KiB >= {RSS_LIMIT_KIB} KiB (start {base_hwm} KiB, after the "
        f"50 MB wheel {hwm_pypi} KiB): uploads are not streamed")

    # The registries hold exactly the uploaded bytes.
    assert env.pypi.files().get(whl.name) == sha256_file(whl), env.pypi.files()
    doc = env.npm.packument("@agenticverz/aos-sdk-large")
    dist = doc["versions"]["1.0.0"]["dist"]
    assert dist["integrity"] == sha512_sri(tgz) and dist["shasum"] == sha1_hex(tgz), dist
    back = env.npm.fetch_tarball("@agenticverz/aos-sdk-large", "1.0.0")
    assert hashlib.sha256(back).hexdigest() == sha256_file(tgz), "tarball fetched back differs"
    assert daemon.alive
