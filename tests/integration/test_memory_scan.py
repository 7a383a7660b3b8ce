"""No stray copies of secrets in the daemon's ordinary memory.

The registry tokens, the webhook secrets, the AppRole role_id and secret_id
and the Vault token may live only in OpenSSL's secure heap (locked, and
marked don't-dump: `dd` in /proc/PID/smaps).  This test reads every other
mapping of the running daemon through /proc/PID/mem (the tests run as root)
and searches it for canary values generated here, at four points:

  1. after start (and a GitLab webhook, whose token travels in a header),
  2. after a PyPI and an npm publish,
  3. after vault/rotate_secret.sh rotated PYPI_API_TOKEN (the retired value
     is searched too; the script also sends the new value to the daemon for
     its fingerprint, `aos-publishctl secrets fingerprint`),
  4. after a refused token's refresh: the daemon holds a wrong token, Vault
     a newer right one; verdaccio's 401 makes the daemon refresh and retry
     (the wrong values are searched too).

Two daemons run it: one logging in with AppRole (role_id and secret_id are
canaries), one with a Vault token the test created (the token is a canary).
TEST_PYPI_API_TOKEN is in the Vault secret but no registry of the daemon
uses it: it must never be kept at all.

Each value is searched whole and by its first and last 16 characters (12 for
values shorter than 32), and PyPI tokens also as the base64 Basic credential
`__token__:<token>`.  The values are random (at least 24 characters of
base64), so a match cannot be chance.  Two controls keep the scan honest: a
random marker in the configuration must be found outside the secure heap,
and the current tokens must be found inside it.  A copy still in use by a
job whose transfer is being released is given up to two seconds to go.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import time
from pathlib import Path

import pytest

from aos_fixtures import approle_auth, run_rotate
from peers.openbao import OpenBao, seed_package_registry
from publish_support import EXIT, NPM_NAME, PY_NAME, make_npm, make_wheel, publish
from webhook_support import WEBHOOK_KEYS, gitlab_tag_push, wait_listening

CHUNK = 16 << 20
SETTLE_TRIES = 4  # rescans, 0.5 s apart, while copies are still found


# -- reading the daemon's memory ---------------------------------------------------------
class Region:
    def __init__(self, line: str):
        parts = line.split(None, 5)
        start, end = parts[0].split("-")
        self.start, self.end = int(start, 16), int(end, 16)
        self.perms = parts[1]
        self.path = parts[5].strip() if len(parts) > 5 else ""
        self.flags: set[str] = set()

    @property
    def dont_dump(self) -> bool:
        return "dd" in self.flags

    def __str__(self):
        return (f"{self.start:x}-{self.end:x} {self.perms} {self.path or '[anon]'}"
                f" ({(self.end - self.start) // 1024} KiB)")


def regions(pid: int) -> list[Region]:
    """The mappings of /proc/PID/smaps with their VmFlags."""
    out: list[Region] = []
    head = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if head.match(line):
            out.append(Region(line))
        elif line.startswith("VmFlags:") and out:
            out[-1].flags = set(line.split()[1:])
    assert out, f"/proc/{pid}/smaps lists no mappings"
    return out


class Memory:
    """A snapshot of the readable mappings of a process: the ordinary ones
    and, apart, the don't-dump ones (the secure heap)."""

    def __init__(self, pid: int):
        self.ordinary: list[tuple[Region, bytes]] = []
        self.dont_dump: list[tuple[Region, bytes]] = []
        self.unreadable: list[str] = []
        fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
        try:
            for r in regions(pid):
                if "r" not in r.perms or r.path in ("[vvar]", "[vsyscall]"):
                    continue
                data = self._read(fd, r)
                if data is None:
                    self.unreadable.append(str(r))
                    continue
                (self.dont_dump if r.dont_dump else self.ordinary).append((r, data))
        finally:
            os.close(fd)

    @staticmethod
    def _read(fd: int, r: Region) -> bytes | None:
        parts = []
        at = r.start
        while at < r.end:
            try:
                parts.append(os.pread(fd, min(CHUNK, r.end - at), at))
            except OSError:
                return None
            at += len(parts[-1])
            if not parts[-1]:
                return None
        return b"".join(parts)

    def ordinary_bytes(self) -> int:
        return sum(len(d) for _, d in self.ordinary)


def needles(name: str, value: str, pypi: bool = False) -> dict[bytes, str]:
    """Search strings for one canary: the value, its first and last part,
    and for a PyPI token its Basic credential."""
    v = value.encode()
    if len(v) < 24:
        raise ValueError(f"canary {name} too short ({len(v)}) to be unambiguous")
    part = 16 if len(v) >= 32 else 12
    out = {v: name, v[:part]: f"{name} (first {part} chars)",
           v[-part:]: f"{name} (last {part} chars)"}
    if pypi:
        b = base64.b64encode(b"__token__:" + v)
        out[b] = f"{name} (Basic credential)"
        out[b[-16:]] = f"{name} (Basic credential, last 16 chars)"
    return out


def _redact(ctx: bytes, values: list[bytes]) -> str:
    """ctx shown with every 4-byte window that occurs in a secret masked,
    so that no part of a secret reaches the test's output."""
    mask = bytearray(ctx)
    for i in range(len(ctx) - 3):
        if any(ctx[i:i + 4] in v for v in values):
            mask[i:i + 4] = b"****"
    return re.sub(rb"[^\x20-\x7e]", b".", bytes(mask)).decode()


def find(blobs, table: dict[bytes, str], values: list[bytes] | None = None) -> list[str]:
    """Every place in blobs [(region, bytes)] holding one of the needles
    (longest first; a part inside a longer match is not repeated), with 24
    bytes of context before it, secrets masked."""
    hits = []
    values = values if values is not None else list(table)
    for r, data in blobs:
        covered: list[tuple[int, int]] = []
        for n in sorted(table, key=len, reverse=True):
            i = data.find(n)
            while i >= 0:
                if not any(a <= i and i + len(n) <= b for a, b in covered):
                    covered.append((i, i + len(n)))
                    hits.append(f"{table[n]} at {r} +0x{i:x}, after "
                                f"{_redact(data[max(0, i - 24):i], values)!r}")
                i = data.find(n, i + 1)
    return hits


class Canaries:
    """The values searched for, by name.  Its repr shows names only, so a
    failing assertion never prints a value."""

    def __init__(self):
        self.table: dict[bytes, str] = {}
        self.values: dict[str, str] = {}

    def add(self, name: str, value: str, pypi: bool = False) -> None:
        self.table.update(needles(name, value, pypi))
        self.values[name] = value

    def __repr__(self):
        return f"Canaries({sorted(self.values)})"


def skip_if_asan(d) -> None:
    """AddressSanitizer's shadow memory spans terabytes (and its allocator
    keeps freed blocks aside): the scan is for the real build."""
    if "libasan" in Path(f"/proc/{d.pid}/maps").read_text():
        pytest.skip("the daemon is an ASan build: its memory is not the real layout")


def scan(d, canaries: Canaries, point: str, marker: str, in_secure_heap) -> list[str]:
    """What is wrong in the daemon's memory now: copies of canaries outside
    the secure heap, or a scan that could not have seen them."""
    if not d.alive:
        return [f"{point}: aos-publishd died:\n{d.log_tail()}"]
    skip_if_asan(d)
    mem = Memory(d.pid)
    # The scan reached the heap: the configuration's marker is there.
    if not find(mem.ordinary, {marker.encode(): "marker"}):
        return [f"{point}: the scan did not find the configuration's marker in "
                f"{len(mem.ordinary)} mappings ({mem.ordinary_bytes()} bytes); "
                f"unreadable: {mem.unreadable}"]
    # The secure heap exists, is marked don't-dump, and holds the tokens.
    if not mem.dont_dump:
        return [f"{point}: no don't-dump mapping (no secure heap?)"]
    for name in in_secure_heap:
        if not find(mem.dont_dump, {canaries.values[name].encode(): name}):
            return [f"{point}: {name} not found in the secure heap "
                    f"({[str(r) for r, _ in mem.dont_dump]}): the scan cannot see values"]
    values = [v.encode() for v in canaries.values.values()]
    hits = find(mem.ordinary, canaries.table, values)
    # A job's transfer (its header list) is released just after the answer
    # that ended it: copies still in use then get a moment to go.
    for _ in range(SETTLE_TRIES):
        if not hits:
            break
        time.sleep(0.5)
        hits = find(Memory(d.pid).ordinary, canaries.table, values)
    return [f"{point}: {h}" for h in hits]


# -- the test ----------------------------------------------------------------------------
def test_needles_and_find():
    """The search finds a value, a part of one and a Basic credential, and
    nothing in random bytes."""
    v = secrets.token_urlsafe(32)
    t = needles("X", v, pypi=True)
    r = Region("1000-2000 rw-p 00000000 00:00 0")
    assert find([(r, b"..." + v.encode() + b"...")], t)
    assert find([(r, b"xx" + v.encode()[:16] + b"yy")], t)
    assert find([(r, b"xx" + v.encode()[-16:])], t)
    assert find([(r, b"Basic " + base64.b64encode(b"__token__:" + v.encode()))], t)
    assert not find([(r, os.urandom(1 << 20))], t)


@pytest.mark.parametrize("method", ["approle", "token"])
def test_no_secret_copies_in_ordinary_memory(webhook_env, tmp_path, method):  # noqa: F811
    env = webhook_env
    base = {"approle": 1, "token": 2}[method]
    marker = "memscan-" + secrets.token_hex(12)
    pypi_good, npm_good = env.values["PYPI_API_TOKEN"], env.values["NPM_TOKEN"]
    canaries = Canaries()
    canaries.add("PYPI_API_TOKEN", pypi_good, pypi=True)
    canaries.add("NPM_TOKEN", npm_good)
    canaries.add("TEST_PYPI_API_TOKEN (not configured)", env.values["TEST_PYPI_API_TOKEN"],
                 pypi=True)
    for forge, key in WEBHOOK_KEYS.items():
        canaries.add(key, env.webhook_secrets[forge])

    config = {"registries": {
        "testpypi": None,  # TEST_PYPI_API_TOKEN is in Vault, but not used
        marker: {"type": "pypi", "url": "http://127.0.0.1:9/legacy/",
                 "token_key": "PYPI_API_TOKEN"}}}
    d = env.hook_daemon({}, config=config, start=False)
    if method == "approle":
        mount, role = f"approle-scan{base}", f"memscan-{base}"
        env.bao.enable_approle(mount)
        role_id = env.bao.create_role(role, ["aos-publishd-read"], mount=mount,
                                      role_id=secrets.token_urlsafe(24))
        secret_id = env.bao.custom_secret_id(role, secrets.token_urlsafe(32), mount=mount)
        d.config["vault"]["auth"] = approle_auth(
            d, {"role_id": role_id, "secret_id": secret_id}, mount=mount)
        canaries.add("role_id", role_id)
        canaries.add("secret_id", secret_id)
    else:
        canaries.add("Vault token", env.vault_token)
    d.start()
    wait_listening(d)
    problems: list[str] = []

    # 1. After start, and after a GitLab delivery (its token is a header).
    r = d.hooks.send("gitlab", gitlab_tag_push("no-pipeline-v1.0.0", "1" * 40))
    assert r.status in (200, 202), f"GitLab delivery with the right token: {r}"
    problems += scan(d, canaries, "after start", marker, ["PYPI_API_TOKEN", "NPM_TOKEN"])

    # 2. After a PyPI and an npm publish.
    whl = make_wheel(tmp_path, PY_NAME, f"9.{base}.0")
    tgz = make_npm(tmp_path, NPM_NAME, f"9.{base}.0")
    publish(d, "pypi", whl).expect(EXIT["published"], "published")
    publish(d, "npm", tgz).expect(EXIT["published"], "published")
    problems += scan(d, canaries, "after publishes", marker, ["PYPI_API_TOKEN", "NPM_TOKEN"])

    # 3. After rotate_secret.sh replaced PYPI_API_TOKEN: the old value is
    #    retired, nothing may keep it.
    rotated = "pypi-" + secrets.token_urlsafe(32)
    canaries.add("PYPI_API_TOKEN (rotated in)", rotated, pypi=True)
    p, _ = run_rotate(env.bao, d, "PYPI_API_TOKEN", rotated)
    assert p.returncode == 0, f"rotate_secret.sh failed with {p.returncode}: {p.stderr}"
    env.values["PYPI_API_TOKEN"] = rotated
    problems += scan(d, canaries, "after rotate_secret.sh", marker,
                     ["PYPI_API_TOKEN (rotated in)", "NPM_TOKEN"])

    # 4. A refused token's refresh: the daemon holds a wrong npm token (and
    #    the retired rotated-in PyPI one), Vault has the right ones in a newer
    #    version it has not polled yet; verdaccio's 401 makes the daemon
    #    refresh and retry once.  (npm: pypiserver answers a refused upload
    #    before reading the body and resets the connection, which the daemon
    #    may see as "no answer" instead of 403.)
    wrong_npm = secrets.token_urlsafe(32)
    canaries.add("NPM_TOKEN (wrong)", wrong_npm)
    env.set_secret(NPM_TOKEN=wrong_npm)
    assert d.refresh().rc == 0
    env.set_secret(NPM_TOKEN=npm_good, PYPI_API_TOKEN=pypi_good)  # no refresh
    n = len(d.log_text())
    publish(d, "npm", make_npm(tmp_path, NPM_NAME, f"9.{base}.1")).expect(
        EXIT["published"], "published")
    assert re.search(r"token NPM_TOKEN refused .*refreshing", d.log_text()[n:]), (
        f"verdaccio did not refuse the wrong NPM_TOKEN first:\n{d.log_text()[n:]}")
    publish(d, "pypi", make_wheel(tmp_path, PY_NAME, f"9.{base}.1")).expect(
        EXIT["published"], "published")
    problems += scan(d, canaries, "after a refused token's refresh", marker,
                     ["PYPI_API_TOKEN", "NPM_TOKEN"])

    assert not problems, (f"{len(problems)} problems ({len(canaries.values)} values "
                          f"searched):\n" + "\n".join(problems[:80]))


def test_no_secret_copies_with_vault_over_tls(workdir, daemons):
    """Vault over TLS (OpenBao -dev-tls): the answers are decrypted in
    OpenSSL's buffers, which must be wiped when freed (without its wiping
    allocator this found every KV value in the heap), and curl must not
    negotiate HTTP/2, whose nghttp2 buffers are freed outside the wiping
    allocators (with HTTP/2 this found X-Vault-Token's value three times)."""
    bao = OpenBao(workdir=workdir / "bao", tls=True)
    bao.workdir.mkdir()
    bao.start()
    try:
        creds = seed_package_registry(bao)
        token = bao.create_token([creds["policy"]], token_id=secrets.token_urlsafe(32))
        marker = "memscan-" + secrets.token_hex(12)
        d = daemons(bao.addr, config={
            "vault": {"ca_file": str(bao.ca_file), "kv_path": creds["kv_path"]},
            "registries": {marker: {"type": "npm", "url": "http://127.0.0.1:9/",
                                    "token_key": "NPM_TOKEN"}}})
        d.config["vault"]["auth"] = {"method": "token",
                                     "token_file": str(d.write_file("vault-token", token))}
        d.start()
        assert d.status()["vault"]["address"].startswith("https://"), d.status()
        canaries = Canaries()
        canaries.add("Vault token", token)
        for k, v in creds["values"].items():
            canaries.add(k, v, pypi="PYPI" in k)
        problems = scan(d, canaries, "after start over TLS", marker, ["NPM_TOKEN"])

        new = {"PYPI_API_TOKEN": "pypi-" + secrets.token_urlsafe(32),
               "NPM_TOKEN": secrets.token_urlsafe(32)}
        for k, v in new.items():
            canaries.add(f"{k} (new)", v, pypi="PYPI" in k)
        bao.kv_patch(creds["kv_path"], new)
        r = d.refresh()
        assert r.rc == 0 and set(new) <= set(r.json.get("changed", [])), r
        problems += scan(d, canaries, "after a refresh over TLS", marker, ["NPM_TOKEN (new)"])
        assert not problems, (f"{len(problems)} problems ({len(canaries.values)} values "
                              f"searched):\n" + "\n".join(problems[:80]))
    finally:
        bao.close()
