"""A 50 MB wheel and a 50 MB npm tarball publish through the daemon in
constant memory: its peak RSS (VmHWM from /proc) stays under 32 MiB, and
the registries hold exactly the uploaded bytes.  The tight figures are the
benchmark's (tests/bench); this bound is generous.  The wheel goes to both
PyPI kinds (`pypi_kind_module`: pypiserver, devpi-server), the tarball to
verdaccio once; one daemon for the module, its peak checked after each."""

import hashlib

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
    """One daemon for the module, made after devpi is up: it has the
    registries pypi, devpi and npm."""
    publish_env.pypi_target("devpi")
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


def _publish_in_constant_memory(daemon, registry, path):
    base_hwm = _status_kib(daemon.pid, "VmHWM")
    r = publish(daemon, registry, path, timeout=180).expect(EXIT["published"], "published")
    _check_progress(r, path)
    hwm = _status_kib(daemon.pid, "VmHWM")
    print(f"{registry} {r.seconds:.1f}s; VmHWM {base_hwm} KiB before, {hwm} after")
    assert _sanitized_build() or hwm < RSS_LIMIT_KIB, (
        f"daemon peak RSS {hwm} KiB >= {RSS_LIMIT_KIB} KiB (before the 50 MB upload to "
        f"{registry}: {base_hwm} KiB): uploads are not streamed")
    assert daemon.alive


def test_large_wheel_in_constant_memory(publish_env, daemon, pypi_kind_module, bigdir):
    target = publish_env.pypi_target(pypi_kind_module)
    whl = make_big_wheel(bigdir, "aos-sdk-large", "1.0.0", SIZE)
    assert whl.stat().st_size > SIZE
    _publish_in_constant_memory(daemon, target.registry, whl)
    # The registry holds exactly the uploaded bytes.
    assert target.server.files().get(whl.name) == sha256_file(whl), target.server.files()


def test_large_tarball_in_constant_memory(publish_env, daemon, bigdir):
    env = publish_env
    tgz = make_big_npm(bigdir, "@agenticverz/aos-sdk-large", "1.0.0", SIZE)
    assert tgz.stat().st_size > SIZE
    _publish_in_constant_memory(daemon, "npm", tgz)
    doc = env.npm.packument("@agenticverz/aos-sdk-large")
    dist = doc["versions"]["1.0.0"]["dist"]
    assert dist["integrity"] == sha512_sri(tgz) and dist["shasum"] == sha1_hex(tgz), dist
    back = env.npm.fetch_tarball("@agenticverz/aos-sdk-large", "1.0.0")
    assert hashlib.sha256(back).hexdigest() == sha256_file(tgz), "tarball fetched back differs"
