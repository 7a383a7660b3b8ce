"""Limits of the control socket, each tried by a client that misbehaves:
- more connections than control.max_connections: the new one gets a
  one-line error and is closed at once; the others keep working;
- a request line over 64 KiB: answered with an error saying so, then closed
  (it used to be closed without a word);
- a client that sends requests and never reads the answers: the daemon
  stops reading from it once answers are queued, so its memory stays
  bounded (it used to queue every answer);
- `job log --follow` to a client that does not read: past 1 MiB queued the
  connection is dropped and logged (it used to grow without bound).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest

from aos_fixtures import BUILD_DIR
from control_support import Raw, rss_kib
from publish_support import PY_NAME, make_wheel
from webhook_support import expect_accepted, github_push, python_pipeline, wait_job


def sanitized_build() -> bool:
    """An AddressSanitizer build: its shadow memory makes RSS meaningless,
    so only the behaviour is checked there, not the number."""
    try:
        return "AOS_SANITIZE:BOOL=ON" in (BUILD_DIR / "CMakeCache.txt").read_text()
    except OSError:
        return False


@pytest.fixture(scope="module")
def env(webhook_env):
    return webhook_env


def test_connection_limit(env):
    d = env.daemon({"control": {"max_connections": 4}})
    held = [Raw(d) for _ in range(4)]
    for c in held:
        assert c.ask({"cmd": "ping"}) == {"ok": True}
    with Raw(d) as extra:
        a = extra.line(timeout=5)
        assert a is not None and a["ok"] is False, a
        assert "too many control connections (control.max_connections = 4)" in a["error"], a
        assert extra.closed_by_peer(), "the connection over the limit was left open"
    r = d.ctl("status", json_out=True)
    assert r.rc == 1 and "max_connections" in r.err + r.out, r
    d.wait_log(r"control: 4 connections open \(control.max_connections\); a new one was "
               r"closed at once")
    # A flood over the limit is logged a few lines a second, not per attempt.
    mark = "a new one was closed at once"
    before = d.log_text().count(mark)
    t0 = time.monotonic()
    for _ in range(100):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(d.socket))
        s.recv(4096)
        s.close()
    logged = d.log_text().count(mark) - before
    assert logged <= 10 * (int(time.monotonic() - t0) + 1), f"{logged} lines for 100"
    # The held connections still work; one closed makes room.
    assert held[0].ask({"cmd": "ping"}) == {"ok": True}
    held.pop().close()
    time.sleep(0.2)
    assert d.ctl_json("status")["ok"] is True
    for c in held:
        c.close()


def test_request_line_limit(env):
    d = env.daemon()
    with Raw(d) as c:
        # 64 KiB exactly, newline apart: still one request.
        line = b'{"cmd":"ping"' + b" " * (65536 - 14) + b"}"
        assert len(line) == 65536
        assert c.ask(line + b"\n") == {"ok": True}
        c.send(b'{"cmd":"ping","pad":"' + b"x" * 70000)
        a = c.line(timeout=5)
        assert a is not None, "closed without saying why"
        assert a["ok"] is False and "request line over 65536 bytes" in a["error"], a
        assert c.closed_by_peer()
    d.wait_log(r"sent a request line over 65536 bytes; connection closed")
    assert d.ctl_json("status")["ok"] is True


def test_request_line_limit_while_a_request_is_in_progress(env, tmp_path):
    """The over-long line arrives while `job log --follow` runs on the same
    connection: the follow must end with the connection (no use after
    free: the ASan build checks), the daemon keeps serving."""
    d = env.daemon()
    d.ctl_json("drain")  # the job stays queued: the follow never ends by itself
    whl = make_wheel(tmp_path, PY_NAME, "5.5.5")
    r = d.ctl("publish", "--registry", "pypi", whl, json_out=True)
    jid = json.loads(r.out.splitlines()[-1])["job_id"]
    assert d.ctl_json("job", "show", str(jid))["job"]["state"] == "queued"
    with Raw(d) as c:
        c.send({"cmd": "job.log", "id": jid, "follow": True})
        assert c.line()["event"] == "log"
        c.send(b"x" * 70000)
        a = c.line(timeout=5)
        while a is not None and "event" in a:
            a = c.line(timeout=5)
        assert a and "request line over 65536 bytes" in a["error"], a
        assert c.closed_by_peer()
    time.sleep(1)  # the follow's timer would fire now
    assert d.alive and d.ctl_json("status")["ok"] is True
    d.ctl_json("resume")


def test_a_client_that_never_reads_its_answers(env):
    d = env.daemon()
    d.ctl_json("status")
    time.sleep(0.5)
    base = rss_kib(d.pid)
    line = b'{"cmd":"status"}\n'
    budget = 60000  # ~1 MiB of requests; ~70 MiB of answers if all were queued
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(d.socket))
    s.settimeout(2)
    sent = 0
    try:
        while sent < budget:
            s.sendall(line * 100)
            sent += 100
    except (socket.timeout, BlockingIOError):
        pass  # the daemon stopped reading: our send blocks
    grown = rss_kib(d.pid) - base
    assert sent < budget, (f"the daemon read all {budget} requests from a client that "
                           f"reads nothing (memory grew {grown} KiB)")
    if not sanitized_build():
        assert grown < 16 * 1024, f"the daemon's memory grew {grown} KiB"
    # Others are served meanwhile; the stuck client gets its answers in turn.
    assert d.ctl_json("status")["ok"] is True
    s.settimeout(5)
    got = s.recv(1 << 20)
    assert json.loads(got.split(b"\n", 1)[0])["ok"] is True
    s.close()


PRINT = "python3 -c \"import sys; sys.stdout.write(('y' * 1700 + '\\n') * 38)\""


def test_follow_to_a_client_that_does_not_read(env):
    """A job whose steps print 2.5 MB; a follower that never reads is
    dropped once more than 1 MiB waits for it."""
    pipe = python_pipeline(env.repo, "flood-v*", targets=["pypi"],
                           build=[PRINT] * 40 + ["false"])
    d = env.hook_daemon({"flood": pipe})
    commit = env.repo.commit_release("0.0.1")
    env.repo.tag("flood-v0.0.1", commit)
    # Hold the job until the follower is in place.
    assert d.ctl_json("drain")["draining"] is True
    jid = expect_accepted(d.hooks.send("github", github_push("flood-v0.0.1", commit)),
                          "flood", "flood-v0.0.1", "0.0.1", commit)
    with Raw(d) as c:
        c.send({"cmd": "job.log", "id": jid, "follow": True})
        d.ctl_json("resume")
        wait_job(d, jid, ("failed", "dead"), timeout=300)
        d.wait_log(r"control: uid 0 pid \d+ does not read its answers \(over 1048576 bytes "
                   r"queued\); connection dropped", timeout=30)
        # What was written before the drop is there, then the end: no final
        # answer was ever queued for it.
        data = b""
        c.s.settimeout(10)
        while True:
            chunk = c.s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        assert b'"state":"ended"' not in data, "the dropped follower got the final answer"
        assert len(data) < 4 << 20
    # A follower that reads gets the whole log and the end.
    r = subprocess.run([str(BUILD_DIR / "agent" / "aos-publishctl"), "--socket", str(d.socket),
                        "--json", "job", "log", str(jid), "--follow"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and '"state":"ended"' in r.stdout, r
