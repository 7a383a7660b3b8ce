"""A slow read of the queue must not stall the loop (issue 17, step 2b).

tests/tools/slowsync-shim.so is preloaded into the daemon with
AOS_SLOWREAD_GATE: while the gate file exists, a pread() of the queue
database (queue.db and its WAL), on whichever thread, first appends to a
marker file, then waits until the gate is removed.  Each test first
commits a job (the queue drained, so it stays queued and the worker reads
nothing), so that the next read of the queue reads pages from the files
(SQLite drops a connection's page cache when another one wrote), then
closes the gate and sends `jobs`: its read is held (the marker appears).

test_read_held_others_answer: while it is held, GET /healthz, `ping` and
`secrets` (no read of the queue) answer; `status` and GET /metrics, whose
reads wait behind it on the read queue, have not answered, nor has `jobs`;
once the gate is removed, all three answer, with the job in them.

test_jobs_busy_while_reads_held: with `jobs` reads out that hold 3050
rows, one more `jobs --limit 1000` is answered "busy ... retry" at once.

test_read_queue_full: with 1024 reads out (the read queue's depth), a
scrape is answered 503 with Retry-After and a text body, `status` and
`job show` "busy ... retry", at once.

test_client_gone_while_read_held: `jobs`, `job show`, `job log`, `job log
--follow`, `job wait`, `status` and a GET /metrics are sent while a read
is held, and every one of those clients leaves at once, and so does a
`job wait` client whose read was done (its follower is swept meanwhile);
once the gate is removed the daemon answers the next requests and stops
cleanly (run it with AOS_BUILD_DIR=build-asan: a completion touching a
freed request is reported by ASan and the daemon exits non-zero; checked
by breaking the rules on purpose: without the connection's cancel hook on
a read's record, or with the sweep freeing a follower whose read is out,
ASan reports a heap-use-after-free here).

Order of events, not timing: every bound is generous (30 s) and only says
how long to wait for an answer that must come while the read is held.

Failed before this change (the reads ran on the loop thread): the `jobs`
read held the loop, and GET /healthz, `ping`, the busy `jobs` and the
control connections timed out after 30 s (all four tests run on the
daemon of main).
"""

from __future__ import annotations

import select
import time

import pytest

from aos_fixtures import BUILD_DIR, preload, wait_for
from control_support import Raw
from publish_support import make_wheel
from queue_support import try_enqueue
from webhook_support import Conn, build_request, http, python_pipeline, wait_listening

SHIM = BUILD_DIR / "tests" / "tools" / "slowsync-shim.so"
BOUND = 30.0  # an answer that must come while the read is held


class ReadGated:
    """A daemon whose queue reads are held while `gate` exists."""

    def __init__(self, webhook_env, folder, config: dict | None = None):
        self.folder = folder
        self.gate, self.marker = folder / "read-gate", folder / "read-blocked"
        self.d = webhook_env.hook_daemon(
            {"python-sdk": python_pipeline(webhook_env.repo, verify=None)}, start=False,
            config=config)
        self.d.start(env={"LD_PRELOAD": preload(SHIM),
                          "AOS_SLOWSYNC_PATH": str(self.d.state_dir / "queue.db"),
                          "AOS_SLOWREAD_GATE": str(self.gate),
                          "AOS_SLOWREAD_MARKER": str(self.marker)})
        wait_listening(self.d)
        assert self.d.ctl("drain", timeout=BOUND).rc == 0
        self.n = 0

    def commit_job(self) -> int:
        """Commits a new job (it stays queued: drained); its id."""
        self.n += 1
        wheel = make_wheel(self.folder, f"slow-reads-{self.n}", "1.0.0")
        jid, r = try_enqueue(self.d, "pypi", wheel, timeout=BOUND)
        assert jid is not None, f"publish refused: {r}"
        return jid

    def hold(self) -> Raw:
        """Closes the gate and sends `jobs`; returns its connection once a
        read of the queue is held."""
        self.marker.unlink(missing_ok=True)
        self.gate.touch()
        held = Raw(self.d, timeout=4 * BOUND)
        held.send({"cmd": "jobs"})
        wait_for(self.marker.exists, BOUND, what=lambda: (
            f"a queue read to be held by the shim after `jobs`:\n{self.d.log_tail()}"))
        return held

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        """Opens the gate (a test that failed may leave it) and stops the
        daemon."""
        self.gate.unlink(missing_ok=True)
        self.d.stop()


@pytest.fixture
def gated(webhook_env, tmp_path):
    with ReadGated(webhook_env, tmp_path) as g:
        yield g


# Reads out at once on the read queue (QUEUE_ASYNC_DEPTH), and control
# connections enough to hold that many `jobs` (one request out each).
DEPTH = 1024


@pytest.fixture
def gated_wide(webhook_env, tmp_path):
    with ReadGated(webhook_env, tmp_path,
                   {"control": {"max_connections": DEPTH + 64}}) as g:
        yield g


def _readable(*socks) -> list:
    ready, _, _ = select.select(list(socks), [], [], 0)
    return ready


def _loop_turned(d) -> None:
    """A `ping` on a new connection answered: what was sent (or closed) on
    other connections before it was read by the loop first (the kernel had
    it before this connection was accepted)."""
    with Raw(d, timeout=BOUND) as c:
        assert c.ask({"cmd": "ping"}, timeout=BOUND)["ok"] is True


def _connect(d) -> Raw:
    """A control connection, waiting while the socket's backlog is full
    (the daemon accepts them as fast as its loop turns)."""
    deadline = time.monotonic() + BOUND
    while True:
        try:
            return Raw(d, timeout=4 * BOUND)
        except BlockingIOError:
            assert time.monotonic() < deadline, "the control socket accepts nothing"
            time.sleep(0.01)


def _metrics_request() -> bytes:
    return build_request("GET", "/metrics", {}, b"")


def test_read_held_others_answer(gated):
    d = gated.d
    jid = gated.commit_job()
    held = gated.hold()
    status = Raw(d, timeout=4 * BOUND)
    metrics = Conn(d.http_port, timeout=4 * BOUND)
    try:
        status.send({"cmd": "status"})
        metrics.send(_metrics_request())
        r = http(d.http_port, "GET", "/healthz", timeout=BOUND)
        assert r.status == 200, r
        with Raw(d, timeout=BOUND) as c:
            assert c.ask({"cmd": "ping"}, timeout=BOUND)["ok"] is True
        with Raw(d, timeout=BOUND) as c:
            assert c.ask({"cmd": "secrets"}, timeout=BOUND)["ok"] is True
        assert gated.gate.exists()
        early = _readable(held.s, status.s, metrics.sock)
        assert early == [], "a read of the queue answered while the read was held"
    finally:
        gated.gate.unlink(missing_ok=True)
    ans = held.line(4 * BOUND)
    assert ans is not None and ans["ok"] is True, ans
    assert jid in [j["id"] for j in ans["jobs"]], ans
    st = status.line(4 * BOUND)
    assert st is not None and st["ok"] is True, st
    assert st["queue"]["depth"]["queued"] >= 1, st
    m = metrics.read_response(4 * BOUND)
    assert m.status == 200, m
    assert b'aos_jobs{kind="publish",state="queued"}' in m.body, m.body[:2000]
    for c in (held, status):
        c.close()
    metrics.sock.close()


def test_client_gone_while_read_held(gated):
    d = gated.d
    jid = gated.commit_job()
    # A follower whose first read is done (the `jobs` after it on the read
    # queue answered): it leaves while the others' reads are held, and the
    # sweep that frees it must not free them.
    waiter = Raw(d, timeout=BOUND)
    waiter.send({"cmd": "job.wait", "id": jid})
    assert jid in [j["id"] for j in d.ctl_json("jobs")["jobs"]]
    gone = [gated.hold()]
    scrape = Conn(d.http_port, timeout=BOUND)
    try:
        for req in ({"cmd": "job.show", "id": jid}, {"cmd": "job.log", "id": jid},
                    {"cmd": "job.log", "id": jid, "follow": True},
                    {"cmd": "job.wait", "id": jid}, {"cmd": "status"}):
            c = Raw(d, timeout=BOUND)
            c.send(req)
            gone.append(c)
        scrape.send(_metrics_request())
        _loop_turned(d)  # every request above was read and posted
        for c in gone:
            c.close()
        scrape.sock.close()
        waiter.close()
        _loop_turned(d)  # every close was seen (and the waiter swept)
        assert gated.gate.exists()
    finally:
        gated.gate.unlink(missing_ok=True)
    # Every held read completes for a client that left; the daemon goes on.
    st = d.ctl_json("status")
    assert st["queue"]["depth"]["queued"] >= 1, st
    assert jid in [j["id"] for j in d.ctl_json("jobs")["jobs"]]
    assert d.ctl_json("job", "show", jid)["job"]["state"] == "queued"
    r = http(d.http_port, "GET", "/metrics", timeout=BOUND)
    assert r.status == 200, r
    assert d.alive, d.log_tail()


def test_jobs_busy_while_reads_held(gated):
    """The rows the `jobs` reads out may hold are bounded (each read's
    result is allocated when it is posted): past LIST_ROWS_OUT_MAX, a
    `jobs` is answered busy at once, the error shape of cancel and retry,
    and answered again once the held reads are done."""
    d = gated.d
    jid = gated.commit_job()
    waiting = [gated.hold()]  # 50 rows: the default limit
    try:
        for _ in range(3):  # 3050 rows out
            c = Raw(d, timeout=4 * BOUND)
            c.send({"cmd": "jobs", "limit": 1000})
            waiting.append(c)
        with Raw(d, timeout=BOUND) as c:
            ans = c.ask({"cmd": "jobs", "limit": 1000}, timeout=BOUND)
        assert ans["ok"] is False, ans
        assert "busy" in ans["error"] and "retry" in ans["error"], ans
        assert gated.gate.exists()
        assert _readable(*[c.s for c in waiting]) == [], (
            "a `jobs` answered while its read was held")
    finally:
        gated.gate.unlink(missing_ok=True)
    for c in waiting:
        ans = c.line(4 * BOUND)
        assert ans is not None and ans["ok"] is True, ans
        assert jid in [j["id"] for j in ans["jobs"]], ans
        c.close()
    assert jid in [j["id"] for j in d.ctl_json("jobs", "--limit", "1000")["jobs"]]


def test_read_queue_full(gated_wide):
    """With DEPTH reads out on the read queue (`jobs --limit 1`, one row
    each: under the rows bound), a scrape is answered 503 with
    Retry-After and a text body, and `status` and `job show` "busy ...
    retry", at once; once the gate is removed every waiting `jobs`
    answers."""
    d = gated_wide.d
    jid = gated_wide.commit_job()
    waiting = [gated_wide.hold()]
    try:
        for _ in range(DEPTH - 1):
            c = _connect(d)
            c.send({"cmd": "jobs", "limit": 1})
            waiting.append(c)
        _loop_turned(d)  # every one of them is posted
        r = http(d.http_port, "GET", "/metrics", timeout=BOUND)
        assert r.status == 503, r
        assert r.header("Retry-After") == "1", r
        assert r.header("Content-Type").startswith("text/plain"), r
        assert b"busy" in r.body and b"retry" in r.body, r.body
        for req in ({"cmd": "status"}, {"cmd": "job.show", "id": jid}):
            with Raw(d, timeout=BOUND) as c:
                ans = c.ask(req, timeout=BOUND)
            assert ans["ok"] is False and "busy" in ans["error"], ans
            assert "retry" in ans["error"], ans
        assert gated_wide.gate.exists()
    finally:
        gated_wide.gate.unlink(missing_ok=True)
    for c in waiting:
        ans = c.line(4 * BOUND)
        assert ans is not None and ans["ok"] is True, ans
        c.close()
    assert d.ctl_json("status")["queue"]["depth"]["queued"] >= 1
