"""Bounded disk, a full disk: while the state file system is full no webhook
delivery and no publish is acknowledged (503 with Retry-After; aos-publishctl
publish exits 10, "unavailable", saying the disk is full), what was
committed before stays, and the daemon takes work again by itself once
space is back, without a restart.  PRAGMA integrity_check is ok afterwards.

Two ways to fill it: a small tmpfs mounted over the daemon's state_dir by
the test (root; unmounted whatever happens), filled with a file; and
tests/tools/enospc-shim.so preloaded into the daemon, which fails write()
or fsync() with ENOSPC on files under state_dir while a trigger file
exists (what a full disk does to SQLite's WAL and to the spool's copies,
and to an fsync of written data: SQLite reports that one as a plain I/O
error, so its 503 does not name the disk).

Failed before this change: publish on a full disk exited 1 ("error"), not
10, and a refused publish whose job could not be written left its spooled
copies behind; the webhook's 503 did not say the disk was full."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from aos_fixtures import BUILD_DIR, preload
from publish_support import EXIT, make_wheel, publish
from queue_support import queue_config, try_enqueue
from webhook_support import (expect_accepted, expect_error, github_push, python_pipeline,
                             wait_job, wait_listening)

SHIM = BUILD_DIR / "tests" / "tools" / "enospc-shim.so"
TAGS = iter(f"python-sdk-v0.{n}.0" for n in range(1, 100))

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a tmpfs: needs root")


def _fill(path: Path) -> Path:
    """Writes path until the file system says ENOSPC."""
    chunk = b"\0" * (256 * 1024)
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                f.write(chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                break
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
    return path


def _deliver(d, commit: str = "a" * 40):
    tag = next(TAGS)
    return tag, d.hooks.send("github", github_push(tag, commit))


def _accepted(d, commit: str = "b" * 40) -> int:
    tag, r = _deliver(d, commit)
    return expect_accepted(r, "python-sdk", tag, tag.rsplit("v", 1)[1], commit)


def _refused_503(d) -> str:
    _, r = _deliver(d)
    err = expect_error(r, 503)
    assert r.header("Retry-After") is not None, f"no Retry-After: {r}"
    assert int(r.header("Retry-After")) >= 1, r
    return err


def _publish_refused(d, wheel: Path) -> str:
    jid, r = try_enqueue(d, "pypi", wheel)
    assert jid is None and r.rc == EXIT["unavailable"], f"publish on a full disk: {r}"
    return r.json["error"]


def _integrity_ok(db: Path) -> None:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    con.close()


def _daemon(webhook_env, min_free_mb: int):
    return webhook_env.hook_daemon({"python-sdk": python_pipeline(webhook_env.repo,
                                                                  verify=None)},
                                   config=queue_config(min_free_mb=min_free_mb),
                                   start=False)


def _start(d, env=None):
    d.start(env=env)
    wait_listening(d)
    d.ctl_json("drain")  # pipeline jobs are kept queued: no build runs here


@pytest.fixture
def tmpfs_daemon(webhook_env, request):
    """A webhook daemon whose state_dir is a 24 MiB tmpfs mounted for it."""
    made = []

    def make(min_free_mb: int):
        d = _daemon(webhook_env, min_free_mb)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs",
                        str(d.state_dir)], check=True)
        made.append(d)
        _start(d)
        return d
    yield make
    for d in made:
        try:
            d.stop(expect_rc=None)
        finally:
            subprocess.run(["umount", "-l", str(d.state_dir)], check=False)


def test_tmpfs_full_refused_then_recovers(tmpfs_daemon, tmp_path):
    d = tmpfs_daemon(1)
    before = _accepted(d)
    w1 = make_wheel(tmp_path, "full-a", "1.0.0")
    kept, r = try_enqueue(d, "pypi", w1)
    assert kept is not None, r
    filler = _fill(d.state_dir / "filler")

    err = _refused_503(d)
    assert "disk is full" in err and "min_free_mb" in err, err
    w2 = make_wheel(tmp_path, "full-b", "1.0.0")
    err = _publish_refused(d, w2)
    assert "disk is full" in err, err
    st = d.status()["disk"]
    assert st["full"] is True and st["free_bytes"] < 1024 * 1024, st
    assert "FULL: new work refused" in d.ctl("status").out
    for jid in (before, kept):  # committed before: still there
        assert d.ctl_json("job", "show", jid)["job"]["state"] == "queued"

    filler.unlink()
    _accepted(d)
    again, r = try_enqueue(d, "pypi", w2)
    assert again is not None, f"no recovery once space was back: {r}"
    assert d.status()["disk"]["full"] is False
    d.ctl_json("resume")
    d.ctl_json("job", "cancel", before)  # a pipeline job: not built here
    for jid in (kept, again):
        assert wait_job(d, jid)["state"] == "succeeded"
    d.stop()
    _integrity_ok(d.state_dir / "queue.db")


def test_tmpfs_full_without_reserve(tmpfs_daemon, tmp_path):
    """queue.min_free_mb 0: the failing write itself refuses; the spool's
    partial copy does not stay behind."""
    d = tmpfs_daemon(0)
    filler = _fill(d.state_dir / "filler")
    big = make_wheel(tmp_path, "full-c", "1.0.0",
                     files={"full_c/__init__.py": os.urandom(256 * 1024)})
    err = _publish_refused(d, big)
    assert "No space left on device" in err, err
    spool = d.state_dir / "spool"
    left = [p for p in spool.rglob("*")] if spool.exists() else []
    assert left == [], f"the refused publish left {left}"
    filler.unlink()
    jid, r = try_enqueue(d, "pypi", big)
    assert jid is not None, r
    d.stop()
    _integrity_ok(d.state_dir / "queue.db")


@pytest.mark.parametrize("ops", ["write", "fsync"])
def test_injected_enospc(webhook_env, tmp_path, ops):
    d = _daemon(webhook_env, 0)
    trigger = tmp_path / "disk-full"
    _start(d, env={"LD_PRELOAD": preload(SHIM), "AOS_ENOSPC_DIR": str(d.state_dir),
                   "AOS_ENOSPC_TRIGGER": str(trigger), "AOS_ENOSPC_OPS": ops})
    try:
        before = _accepted(d)
        trigger.touch()
        err = _refused_503(d)
        # A failed write of the WAL is SQLITE_FULL; a failed fsync is
        # SQLITE_IOERR_FSYNC with ENOSPC as the system errno: either way the
        # answer names the disk.
        assert "disk is full" in err, err
        w = make_wheel(tmp_path, f"inj-{ops}", "1.0.0")
        err = _publish_refused(d, w)
        assert "No space left on device" in err, err
        assert d.alive, d.log_tail()

        trigger.unlink()
        after = _accepted(d)
        assert after > before
        jid, r = try_enqueue(d, "pypi", w)
        assert jid is not None, f"no recovery once writes work again: {r}"
        shown = d.ctl_json("jobs")["jobs"]
        assert {j["id"] for j in shown} >= {before, after, jid}, shown
    finally:
        trigger.unlink(missing_ok=True)
        d.stop()
    _integrity_ok(d.state_dir / "queue.db")
