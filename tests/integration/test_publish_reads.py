"""Hash once, while copying (issue 14): the daemon reads a published file's
bytes twice, once to copy it into the spool (hashing and inspecting it in
the same pass) and once to send it, and never again before sending: the
upload takes the digests and metadata recorded with the job.  Counted with
/proc/PID/io rchar (every byte read(2)/pread(2) returned to the daemon),
before and after each publish.  And a spool copy changed on disk after it
was recorded fails its upload as corrupt: the SHA-256 of the bytes sent,
computed while sending, differs from the recorded one."""

import json
from pathlib import Path

from publish_support import (EXIT, make_big_npm, make_big_wheel, publish, sha1_hex,
                             sha256_file, sha512_sri)
from queue_support import wait_jobs

MIB = 1024 * 1024
SIZE = 8 * MIB


def _rchar(pid: int) -> int:
    with open(f"/proc/{pid}/io") as f:
        for ln in f:
            if ln.startswith("rchar:"):
                return int(ln.split()[1])
    raise KeyError("rchar")


def _reads_per_byte(d, registry, path) -> float:
    before = _rchar(d.pid)
    publish(d, registry, path, timeout=120).expect(EXIT["published"], "published")
    return (_rchar(d.pid) - before) / path.stat().st_size


def test_each_byte_read_once_to_copy_and_once_to_send(publish_env, tmp_path):
    env = publish_env
    d = env.daemon()
    whl = make_big_wheel(tmp_path, "aos-sdk-reads", "1.0.0", SIZE)
    tgz = make_big_npm(tmp_path, "@agenticverz/aos-sdk-reads", "1.0.0", SIZE)

    wheel_ratio = _reads_per_byte(d, "pypi", whl)
    npm_ratio = _reads_per_byte(d, "npm", tgz)
    print(f"bytes read per byte of the file: wheel {wheel_ratio:.3f}, npm {npm_ratio:.3f}")
    # Two passes, plus a little: the control socket, the registry's answers,
    # SQLite pages.  A third pass (inspecting the copy, or the upload
    # inspecting it again) would make it 3 or more.
    for what, ratio in (("wheel", wheel_ratio), ("npm tarball", npm_ratio)):
        assert 2.0 <= ratio < 2.2, (
            f"{what}: the daemon read {ratio:.2f} bytes per byte of the file; expected "
            f"2 (copy, send)\n{d.log_tail(2000)}")
    assert env.pypi.files().get(whl.name) == sha256_file(whl)
    dist = env.npm.packument("@agenticverz/aos-sdk-reads")["versions"]["1.0.0"]["dist"]
    assert dist["integrity"] == sha512_sri(tgz) and dist["shasum"] == sha1_hex(tgz), dist


def _queued_job(d, registry, path) -> tuple[int, Path]:
    r = d.ctl("publish", "--registry", registry, str(path), json_out=True)
    assert r.rc == 0, r
    jid = json.loads(r.out.splitlines()[-1])["job_id"]
    (spooled,) = [p for p in d.state_dir.rglob(path.name) if p != path]
    assert sha256_file(spooled) == sha256_file(path)
    return jid, spooled


def test_a_spool_copy_changed_on_disk_fails_as_corrupt(publish_env, tmp_path):
    env = publish_env
    d = env.daemon()
    assert d.ctl_json("drain")["draining"] is True  # the jobs wait while we edit
    whl = make_big_wheel(tmp_path, "aos-sdk-corrupt", "1.0.0", 1 * MIB)
    tgz = make_big_npm(tmp_path, "@agenticverz/aos-sdk-corrupt", "1.0.0", 1 * MIB)
    jobs = [_queued_job(d, "pypi", whl), _queued_job(d, "npm", tgz)]
    for _, spooled in jobs:
        with open(spooled, "r+b") as f:  # one byte of the payload, same size
            f.seek(MIB // 2)
            b = f.read(1)
            f.seek(MIB // 2)
            f.write(bytes([b[0] ^ 0xFF]))
    d.ctl_json("resume")
    done = wait_jobs(d, [jid for jid, _ in jobs], timeout=60)
    for jid, _ in jobs:
        job = done[jid]
        assert job["state"] == "dead", job
        assert "the file is corrupt" in job["last_error"], job
        assert job["last_error"].startswith("invalid"), job
    assert whl.name not in env.pypi.files()
    doc = env.npm.packument("@agenticverz/aos-sdk-corrupt") or {}
    assert "1.0.0" not in doc.get("versions", {}), doc
