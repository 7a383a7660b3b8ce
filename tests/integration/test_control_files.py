"""Files reach the daemon as open descriptors (SCM_RIGHTS), never as paths.

aos-publishctl opens each file itself (so the daemon reads only what the
caller can read) and passes the descriptors; the daemon fstat()s each (a
regular file within publish.max_file_bytes) and copies from it.  Attacks,
through aos-publishctl and through a raw client that sends whatever
descriptor it likes:
- /dev/zero (once: 2 GB into the spool in 3 s), a sparse 3 GiB file;
- a FIFO named f.whl (once: it blocked the thread pool; the next request
  got no answer) - the next request must be answered at once;
- a symlink to a file the caller cannot read (once: the daemon read it for
  them and published it);
- a directory, a file over the size limit;
- a path without a descriptor (the old protocol), names and descriptors
  that do not match, descriptors with other commands: refused, and no
  descriptor is leaked.
A guard kills the daemon if its spool grows past 64 MiB, so the attacks
cannot fill the disk when they succeed.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time

import pytest

from control_support import (NOBODY, Raw, ctl_as, open_fds, open_to_others,
                             publish_request, spool_bytes)
from publish_support import EXIT, PY_NAME, make_wheel, publish, sha256_file

SPOOL_GUARD = 64 << 20


@contextlib.contextmanager
def spool_guard(d):
    """Kills the daemon if its spool passes SPOOL_GUARD bytes; says so."""
    tripped = []
    stop = threading.Event()

    def watch():
        while not stop.wait(0.05):
            if spool_bytes(d) > SPOOL_GUARD and d.alive:
                tripped.append(spool_bytes(d))
                d.proc.kill()
                return

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        yield tripped
    finally:
        stop.set()
        t.join(5)
        assert not tripped, f"the spool grew to {tripped[0]} bytes: the daemon was killed"


@pytest.fixture(scope="module")
def daemon(publish_env):
    d = publish_env.daemon({"control": {"operators": ["root", "nobody"]},
                            "publish": {"max_file_bytes": 1 << 20}})
    open_to_others(d)
    return d


def njobs(d) -> int:
    return len(d.ctl_json("jobs", "--limit", "1000")["jobs"])


def invalid(a: dict | None, *words) -> str:
    assert a is not None, "the daemon closed the connection without an answer"
    assert a.get("ok") is False, f"accepted: {a}"
    err = a.get("error", "")
    for w in words:
        assert w in err, f"the error does not say {w!r}: {a}"
    return err


def test_dev_zero(daemon, tmp_path):
    d = daemon
    spooled = spool_bytes(d)
    with spool_guard(d):
        r = publish(d, "pypi", "/dev/zero", timeout=30, ctl_timeout=10)
        assert r.rc == EXIT["invalid"] and "not a regular file" in r.err, r
        with Raw(d) as c:
            fd = os.open("/dev/zero", os.O_RDONLY)
            t0 = time.monotonic()
            a = c.ask(publish_request("pypi", "zero.whl"), [fd])
            os.close(fd)
            invalid(a, "zero.whl is a character device, not a regular file")
            assert time.monotonic() - t0 < 5
    assert a.get("outcome") == "invalid", a
    assert spool_bytes(d) == spooled, "something of /dev/zero was copied"


def test_fifo_named_like_a_wheel(daemon, shared):
    d = daemon
    files = shared
    fifo = files / "f.whl"
    os.mkfifo(fifo)
    good = make_wheel(files, PY_NAME, "7.7.1")
    # Through the CLI (it opens without blocking and refuses), four times:
    # once, each of these held one thread of the pool forever.
    for _ in range(4):
        r = publish(d, "pypi", fifo, timeout=20, ctl_timeout=5)
        assert r.rc == EXIT["invalid"] and "not a regular file" in r.err, r
    # And as descriptors sent by a raw client: refused by the daemon.
    with Raw(d) as c:
        for _ in range(4):
            fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            t0 = time.monotonic()
            a = c.ask(publish_request("pypi", "f.whl"), [fd], timeout=5)
            os.close(fd)
            invalid(a, "f.whl is a FIFO, not a regular file")
            assert time.monotonic() - t0 < 3
    # The next request that needs the thread pool is answered at once.
    t0 = time.monotonic()
    r = publish(d, "pypi", good, dry_run=True, timeout=20, ctl_timeout=5)
    r.expect(EXIT["published"], "dry-run")
    assert time.monotonic() - t0 < 5, f"the dry run took {time.monotonic() - t0:.1f}s"


def test_symlink_to_a_file_the_caller_cannot_read(daemon, publish_env, shared):
    d = daemon
    private = shared / "private"
    private.mkdir(mode=0o700)
    secret = make_wheel(private, PY_NAME, "7.7.2")
    os.chmod(secret, 0o600)
    (shared / "files").mkdir(mode=0o755)
    link = shared / "files" / secret.name
    link.symlink_to(secret)
    before = publish_env.snapshot()
    r = ctl_as(d, *NOBODY, "publish", "--registry", "pypi", "--wait", link)
    assert r.rc == EXIT["invalid"] and "Permission denied" in r.err, r
    assert njobs(d) == 0, "a job was queued for an unreadable file"
    publish_env.assert_unchanged(before, "publish of a file the caller cannot read")
    # The same file made readable: nobody, an operator here, publishes it.
    os.chmod(private, 0o755)
    os.chmod(secret, 0o644)
    r = ctl_as(d, *NOBODY, "publish", "--registry", "pypi", "--wait", link)
    assert r.rc == 0, r
    job = d.ctl_json("jobs")["jobs"][0]
    inputs = d.ctl_json("job", "show", str(job["id"]))["inputs"]
    assert inputs["submitted_by"]["uid"] == 65534, inputs
    assert [f["source"] for f in inputs["files"]] == [secret.name], inputs
    assert publish_env.pypi.files().get(secret.name) == sha256_file(secret)


def test_directory(daemon, shared):
    d = daemon
    folder = shared
    r = publish(d, "pypi", folder, timeout=20, ctl_timeout=5)
    assert r.rc == EXIT["invalid"] and "not a regular file" in r.err, r
    with Raw(d) as c:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        a = c.ask(publish_request("pypi", "d.whl"), [fd])
        os.close(fd)
        invalid(a, "d.whl is a directory, not a regular file")


def test_files_over_the_size_limit(daemon, tmp_path):
    d = daemon  # publish.max_file_bytes: 1 MiB
    big = tmp_path / "aos_sdk-7.7.3-py3-none-any.whl"
    big.write_bytes(os.urandom((1 << 20) + 1))
    sparse = tmp_path / "aos_sdk-7.7.4-py3-none-any.whl"
    with open(sparse, "wb") as f:
        f.truncate(3 << 30)  # 3 GiB of nothing, at once
    spooled, jobs = spool_bytes(d), njobs(d)
    with spool_guard(d):
        for f in (big, sparse):
            t0 = time.monotonic()
            r = publish(d, "pypi", f, timeout=30, ctl_timeout=10)
            assert r.rc == EXIT["invalid"], r
            assert "over publish.max_file_bytes (1048576 bytes)" in r.err, r
            assert time.monotonic() - t0 < 5
    assert spool_bytes(d) == spooled
    assert njobs(d) == jobs


def test_paths_without_descriptors_are_refused(daemon, tmp_path):
    d = daemon
    whl = make_wheel(tmp_path, PY_NAME, "7.7.5")
    jobs = njobs(d)
    with Raw(d) as c:
        # The old protocol: an absolute path for the daemon to open.
        invalid(c.ask(publish_request("pypi", str(whl))), "not paths", "SCM_RIGHTS")
        # A name, but no descriptor came with it.
        invalid(c.ask(publish_request("pypi", whl.name)), "1 file but 0 descriptors")
        # Two names, one descriptor.
        fd = os.open(whl, os.O_RDONLY)
        invalid(c.ask(publish_request("pypi", whl.name, "b.whl"), [fd]),
                "2 files but 1 descriptor")
        os.close(fd)
    assert njobs(d) == jobs


def test_descriptors_are_never_leaked(daemon, tmp_path):
    d = daemon
    whl = make_wheel(tmp_path, PY_NAME, "7.7.6")
    d.ctl_json("status")
    before = open_fds(d)
    with Raw(d) as c:
        fds = [os.open(whl, os.O_RDONLY) for _ in range(65)]
        try:
            invalid(c.ask({"cmd": "status"}, fds[:3]), "takes no descriptors")
            invalid(c.ask(publish_request("pypi", *[f"{i}.whl" for i in range(64)]), fds),
                    "more than 64 descriptors")
            # Read from offset 0 whatever the sender's offset.
            os.lseek(fds[0], 100, os.SEEK_SET)
            a = c.ask(publish_request("pypi", whl.name, dry_run=True), fds[:1])
            assert a.get("ok") is True and a["results"][0]["sha256"] == sha256_file(whl), a
            # A request line split from its descriptors' message: the
            # descriptors belong to the line being received.
            c.send(b'{"cmd":"publish","registry":"pypi",')
            time.sleep(0.2)
            c.send(b'"files":["' + whl.name.encode() + b'"],"dry_run":true}\n', fds[1:2])
            a = c.line()
            while a is not None and "event" in a:
                a = c.line()
            assert a and a.get("ok") is True, a
        finally:
            for fd in fds:
                os.close(fd)

    def leaked():
        now = open_fds(d)
        return {x for x in now - before if str(tmp_path) in x}
    time.sleep(0.3)
    assert not leaked(), f"descriptors still open in the daemon: {leaked()}"
    assert stat.S_ISSOCK(os.stat(d.socket).st_mode)
