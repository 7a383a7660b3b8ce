"""Hash once, while copying (issue 14): the daemon reads a published file's
bytes twice, once to copy it into the spool (hashing and inspecting it in
the same pass) and once to send it, and never again before sending: the
upload takes the digests and metadata recorded with the job.  Counted with
/proc/PID/io rchar (every byte read(2)/pread(2) returned to the daemon),
before and after each publish.  And a spool copy changed on disk after it
was recorded fails its upload as corrupt: the SHA-256 of the bytes sent,
computed while sending, differs from the recorded one.

The wheel cases run against both PyPI kinds (`pypi_kind`: pypiserver and
devpi-server), the npm ones once."""

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


def _assert_two_passes(d, what: str, ratio: float) -> None:
    # Two passes, plus a little: the control socket, the registry's answers,
    # SQLite pages.  A third pass (inspecting the copy, or the upload
    # inspecting it again) would make it 3 or more.
    print(f"bytes read per byte of the {what}: {ratio:.3f}")
    assert 2.0 <= ratio < 2.2, (
        f"{what}: the daemon read {ratio:.2f} bytes per byte of the file; expected "
        f"2 (copy, send)\n{d.log_tail(2000)}")


def test_each_wheel_byte_read_once_to_copy_and_once_to_send(publish_env, pypi_kind,
                                                             tmp_path):
    target = publish_env.pypi_target(pypi_kind)
    d = publish_env.daemon()
    whl = make_big_wheel(tmp_path, "aos-sdk-reads", "1.0.0", SIZE)
    _assert_two_passes(d, f"wheel ({pypi_kind})", _reads_per_byte(d, target.registry, whl))
    assert target.server.files().get(whl.name) == sha256_file(whl)


def test_each_tarball_byte_read_once_to_copy_and_once_to_send(publish_env, tmp_path):
    d = publish_env.daemon()
    tgz = make_big_npm(tmp_path, "@agenticverz/aos-sdk-reads", "1.0.0", SIZE)
    _assert_two_passes(d, "npm tarball", _reads_per_byte(d, "npm", tgz))
    dist = publish_env.npm.packument("@agenticverz/aos-sdk-reads")["versions"]["1.0.0"]["dist"]
    assert dist["integrity"] == sha512_sri(tgz) and dist["shasum"] == sha1_hex(tgz), dist


def _queued_job(d, registry, path) -> tuple[int, Path]:
    r = d.ctl("publish", "--registry", registry, str(path), json_out=True)
    assert r.rc == 0, r
    jid = json.loads(r.out.splitlines()[-1])["job_id"]
    (spooled,) = [p for p in d.state_dir.rglob(path.name) if p != path]
    assert sha256_file(spooled) == sha256_file(path)
    return jid, spooled


def _corrupt_spool_copies(d, files) -> dict[int, dict]:
    """Queues each (registry, file) while the daemon is drained, flips one
    byte of each spool copy (same size), resumes; returns the ended jobs."""
    assert d.ctl_json("drain")["draining"] is True  # the jobs wait while we edit
    jobs = [_queued_job(d, registry, path) for registry, path in files]
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
    return done


def test_a_spool_copy_of_a_wheel_changed_on_disk_fails_as_corrupt(publish_env, pypi_kind,
                                                                  tmp_path):
    target = publish_env.pypi_target(pypi_kind)
    d = publish_env.daemon()
    whl = make_big_wheel(tmp_path, "aos-sdk-corrupt", "1.0.0", 1 * MIB)
    _corrupt_spool_copies(d, [(target.registry, whl)])
    assert whl.name not in target.server.files()


def test_a_spool_copy_of_a_tarball_changed_on_disk_fails_as_corrupt(publish_env, tmp_path):
    d = publish_env.daemon()
    tgz = make_big_npm(tmp_path, "@agenticverz/aos-sdk-corrupt", "1.0.0", 1 * MIB)
    _corrupt_spool_copies(d, [("npm", tgz)])
    doc = publish_env.npm.packument("@agenticverz/aos-sdk-corrupt") or {}
    assert "1.0.0" not in doc.get("versions", {}), doc
