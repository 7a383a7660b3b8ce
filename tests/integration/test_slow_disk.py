"""A slow disk must not stall the loop (issue 14).

tests/tools/slowsync-shim.so is preloaded into the daemon: while a gate
file exists, an fsync()/fdatasync() of the queue database (queue.db and
its WAL) first appends to a marker file, then waits until the gate is
removed.  With the gate in place a job is submitted, a valid signed
delivery or `aos-publishctl publish`: its commit blocks in that sync (the
marker appears).  While it is held, GET /healthz, GET /readyz, a delivery
with a bad signature (401) and `aos-publishctl status` must all answer;
only then is the gate removed, and the job's acknowledgement comes (the
202, or publish's job id: after its commit, never before), the job is in
the queue and runs to success.  The same for `aos-publishctl reconcile`,
whose jobs are committed by the write queue too (test_reconcile_commit_held),
`aos-publishctl job cancel` (test_cancel_commit_held), and the worker's own
writes (test_worker_write_held: its claim's commit held).

test_webhook_backlog: with a delivery's commit held, BACKLOG more
deliveries wait for the next commit and every one after them is answered
503 at once, with Retry-After and a message saying why; once the gate is
removed every waiting delivery gets its 202, each of those jobs exists,
and none of the refused deliveries became a job.

Order of events, not timing: every bound is generous (30 s) and only says
how long to wait for an answer that must come while the commit is held.

Failed before this change (the commits ran on the loop thread): in both
tests GET /healthz timed out after 30 s while the job's sync was held.
test_reconcile_commit_held failed the same way before reconcile's enqueue
went to the writer (it committed on the loop), and test_cancel_commit_held
before `job cancel` went to the write queue_async.
"""

from __future__ import annotations

import hashlib
import select
import threading
import time

import pytest

from aos_fixtures import BUILD_DIR, preload, wait_for
from publish_support import make_wheel
from queue_support import job_log, jobs, try_enqueue
from webhook_support import (Conn, body_of, build_request, ctl_reconcile, expect_accepted,
                             expect_error, expect_job, forge_headers, github_push, http,
                             job_show, python_pipeline, wait_listening)

SHIM = BUILD_DIR / "tests" / "tools" / "slowsync-shim.so"
BOUND = 30.0  # an answer that must come while the commit is held
VERSION = "0.21.0"
TAG = f"python-sdk-v{VERSION}"
# The reconcile test's own pipeline and tag: nothing else matches it.
RC_PIPELINE, RC_VERSION = "slow-reconcile", "0.22.0"
RC_TAG = f"slow-reconcile-v{RC_VERSION}"
# Deliveries that wait behind a commit in flight (ingest.c BATCH_MAX,
# docs/ARCHITECTURE.md "Commits off the loop"), and how many more are sent.
BACKLOG, OVER = 512, 40


class Gated:
    """A webhook daemon whose queue syncs are held while `gate` exists."""

    def __init__(self, webhook_env, folder, listen: dict | None = None):
        self.gate, self.marker = folder / "gate", folder / "blocked"
        repo = webhook_env.repo
        self.d = webhook_env.hook_daemon(
            {"python-sdk": python_pipeline(repo, verify=None),
             RC_PIPELINE: python_pipeline(repo, "slow-reconcile-v*", verify=None)},
            listen=listen, start=False)
        self.d.start(env={"LD_PRELOAD": preload(SHIM),
                          "AOS_SLOWSYNC_PATH": str(self.d.state_dir / "queue.db"),
                          "AOS_SLOWSYNC_GATE": str(self.gate),
                          "AOS_SLOWSYNC_MARKER": str(self.marker)})
        wait_listening(self.d)

    def held(self, what: str) -> None:
        """Waits until a queue sync is held by the shim."""
        wait_for(self.marker.exists, BOUND, what=lambda: f"a queue sync to be held by "
                 f"the shim after {what}:\n{self.d.log_tail()}")

    def submit(self, what: str, work) -> dict:
        """Closes the gate, runs work() on a thread (its result, or the
        exception, in the returned dict's "answer") and waits until a
        queue sync is held."""
        results: dict = {}

        def run():
            try:
                results["answer"] = work()
            except Exception as e:  # noqa: BLE001 - reported by the test
                results["answer"] = e
        self.gate.touch()
        results["thread"] = threading.Thread(target=run, daemon=True)
        results["thread"].start()
        self.held(what)
        return results

    def others_answer(self, results: dict, sha: str) -> None:
        """Everything that needs no commit answers while the sync is held,
        and the held job is not acknowledged meanwhile."""
        d = self.d
        r = http(d.http_port, "GET", "/healthz", timeout=BOUND)
        assert r.status == 200, r
        r = http(d.http_port, "GET", "/readyz", timeout=BOUND)
        assert r.status == 200 and r.json["ready"] is True, r
        bad = body_of(github_push("python-sdk-v0.29.9", sha))
        r = d.hooks.post(bad, forge_headers("github", bad, "not-the-secret"), timeout=BOUND)
        expect_error(r, 401)
        st = d.ctl("status", json_out=True, timeout=BOUND)
        assert st.rc == 0 and st.json["ok"] is True, st
        assert self.gate.exists() and "answer" not in results, (
            f"the job was acknowledged while its commit was held: {results}")

    def open_gate(self, results: dict):
        """Removes the gate; returns the held work's answer."""
        self.gate.unlink(missing_ok=True)
        results["thread"].join(4 * BOUND)
        answer = results.get("answer")
        assert answer is not None and not isinstance(answer, Exception), (
            f"no answer once the gate was removed: {answer!r}\n{self.d.log_tail()}")
        return answer


def _gated(webhook_env, folder, listen=None):
    g = Gated(webhook_env, folder, listen)
    yield g
    g.gate.unlink(missing_ok=True)
    g.d.stop()


@pytest.fixture
def gated(webhook_env, tmp_path):
    yield from _gated(webhook_env, tmp_path)


@pytest.fixture(scope="module")
def release(webhook_env):
    sha = webhook_env.repo.commit_release(VERSION)
    assert webhook_env.repo.tag(TAG, sha) == sha
    return sha


def test_webhook_commit_held(gated, release):
    d, sha = gated.d, release
    body = body_of(github_push(TAG, sha))
    headers = forge_headers("github", body, d.hooks.secrets["github"])
    results = gated.submit("a signed delivery",
                           lambda: d.hooks.post(body, headers, timeout=4 * BOUND))
    try:
        gated.others_answer(results, sha)
    finally:
        answer = gated.open_gate(results)
    jid = expect_accepted(answer, "python-sdk", TAG, VERSION, sha)
    assert job_show(d, jid)["job"]["state"] in ("queued", "running", "succeeded")
    expect_job(d, jid, "succeeded")


def test_publish_commit_held(gated, release, tmp_path):
    d = gated.d
    wheel = make_wheel(tmp_path, "slow-disk", "1.0.0")
    results = gated.submit("aos-publishctl publish",
                           lambda: try_enqueue(d, "pypi", wheel, timeout=4 * BOUND))
    try:
        gated.others_answer(results, release)
    finally:
        jid, r = gated.open_gate(results)
    assert jid is not None, f"publish not acknowledged after the gate: {r}"
    expect_job(d, jid, "succeeded")


@pytest.fixture
def rc_release(webhook_env):
    sha = webhook_env.repo.commit_release(RC_VERSION)
    assert webhook_env.repo.tag(RC_TAG, sha) == sha
    return sha


def test_reconcile_commit_held(gated, release, rc_release):
    """reconcile's jobs are committed by the writer: while that commit is
    held, everything else answers, and reconcile answers only after it."""
    d = gated.d
    results = gated.submit("aos-publishctl reconcile",
                           lambda: ctl_reconcile(d, RC_PIPELINE, timeout=4 * BOUND))
    try:
        gated.others_answer(results, release)
    finally:
        r = gated.open_gate(results)
    assert r.rc == 0 and r.json["ok"] is True, f"{r}\n{d.log_tail()}"
    assert r.json["queued"] == 1, r
    [t] = r.json["tags"]
    assert (t["tag"], t["commit"], t["action"]) == (RC_TAG, rc_release, "queued"), r
    job = job_show(d, t["job_id"])["job"]
    assert job["idempotency_key"] == f"pipeline:{RC_PIPELINE}:{RC_TAG}@{rc_release}", job


def test_cancel_commit_held(gated, release, tmp_path):
    """`job cancel` is written by the write queue too (issue 17, step 2a):
    while its commit is held, everything else answers, and the cancel
    answers only after it.  Failed before (the cancel ran on the loop):
    GET /healthz timed out while the cancel's sync was held."""
    d = gated.d
    # Drained: the job stays queued (a claim is a write on the loop's own
    # connection, which the held sync would stop).
    assert d.ctl("drain", timeout=BOUND).rc == 0
    wheel = make_wheel(tmp_path, "slow-cancel", "1.0.0")
    jid, r = try_enqueue(d, "pypi", wheel, timeout=4 * BOUND)
    assert jid is not None, f"publish refused: {r}"
    results = gated.submit(
        "aos-publishctl job cancel",
        lambda: d.ctl("job", "cancel", jid, json_out=True, timeout=4 * BOUND))
    try:
        gated.others_answer(results, release)
    finally:
        r = gated.open_gate(results)
    assert r.rc == 0 and r.json["ok"] is True and r.json["id"] == jid, r
    assert job_show(d, jid)["job"]["state"] == "canceled"


def test_worker_write_held(gated, release, tmp_path):
    """The worker's and the operator's writes go through the write
    queue_async (issue 17, step 2c; the drains are kept in the queue): with
    the commit of `resume` held in the sync, everything else answers, the
    resume is not answered and the job is not running yet; once the gate is
    removed the resume answers, the job runs and succeeds, sent once: one
    attempt, its file published (not found there already), one
    "published" line in its log.  Failed before (the claim ran on the
    loop's own connection): GET /healthz timed out while a sync was held."""
    d = gated.d
    assert d.ctl("drain", timeout=BOUND).rc == 0
    wheel = make_wheel(tmp_path, "slow-worker", "1.0.0")
    jid, r = try_enqueue(d, "pypi", wheel, timeout=4 * BOUND)
    assert jid is not None, f"publish refused: {r}"
    results = gated.submit("resume (its drain's write)",
                           lambda: d.ctl("resume", timeout=4 * BOUND))
    try:
        gated.others_answer(results, release)
        # Nothing is committed: the reads still see the job queued.
        assert job_show(d, jid)["job"]["state"] == "queued"
    finally:
        answer = gated.open_gate(results)
    assert answer.rc == 0, answer
    job = expect_job(d, jid, "succeeded")
    assert job["attempts"] == 1, job
    [u] = job_show(d, jid)["uploads"]
    assert u["state"] == "done" and u["answer"].startswith("published"), u
    published = [ln for ln in job_log(d, jid) if ln.startswith("published")]
    assert len(published) == 1, job_log(d, jid)


# -- the webhook backlog --------------------------------------------------------------
BACKLOG_VERSION = "0.30.0"
BACKLOG_TAG = f"python-sdk-v{BACKLOG_VERSION}"


@pytest.fixture
def wide(webhook_env, tmp_path):
    """A gated daemon whose listener takes every connection of the test."""
    yield from _gated(webhook_env, tmp_path,
                      listen={"max_connections": 4 * (BACKLOG + OVER)})


def _delivery(d, i: int) -> tuple[bytes, str]:
    """Signed delivery i (its own made-up commit, so its own job) and the
    commit."""
    sha = hashlib.sha1(f"backlog-{i}".encode()).hexdigest()
    body = body_of(github_push(BACKLOG_TAG, sha))
    return build_request("POST", "/webhook",
                         forge_headers("github", body, d.hooks.secrets["github"]),
                         body), sha


def _answered(conns: dict, timeout: float) -> list[int]:
    """The connections of conns (index: Conn) with bytes to read within
    timeout."""
    by_fd = {c.sock.fileno(): i for i, c in conns.items()}
    ready, _, _ = select.select(list(by_fd), [], [], timeout)
    return [by_fd[fd] for fd in ready]


def test_webhook_backlog(wide):
    d = wide.d
    wide.gate.touch()
    first = Conn(d.http_port, timeout=4 * BOUND)
    req, sha0 = _delivery(d, 0)
    first.send(req)
    wide.held("a signed delivery")
    conns, shas = {}, {}
    try:
        for i in range(1, BACKLOG + OVER + 1):
            conns[i] = Conn(d.http_port, timeout=4 * BOUND)
            req, shas[i] = _delivery(d, i)
            conns[i].send(req)
        # Every delivery past the backlog is refused at once; wait for
        # those answers while the gate holds the first commit.
        refused, deadline = {}, time.monotonic() + BOUND
        while len(refused) < OVER and time.monotonic() < deadline:
            for i in _answered({k: c for k, c in conns.items() if k not in refused}, 1):
                refused[i] = conns[i].read_response(BOUND)
        assert len(refused) == OVER, (
            f"{len(refused)} of {BACKLOG + OVER} deliveries answered while a commit "
            f"was held; want the {OVER} past the backlog of {BACKLOG}:\n{d.log_tail()}")
        for i, r in refused.items():
            err = expect_error(r, 503)
            assert "behind" in err and "retry" in err, r
            assert r.header("Retry-After") and int(r.header("Retry-After")) > 0, r
        assert wide.gate.exists()
        waiting = {k: c for k, c in conns.items() if k not in refused}
        assert _answered(waiting | {0: first}, 0) == [], (
            "a delivery waiting for its commit was answered before the commit")
    finally:
        wide.gate.unlink(missing_ok=True)
    accepted = {0: expect_accepted(first.read_response(), "python-sdk", BACKLOG_TAG,
                                   BACKLOG_VERSION, sha0)}
    for i, c in waiting.items():
        accepted[i] = expect_accepted(c.read_response(), "python-sdk", BACKLOG_TAG,
                                      BACKLOG_VERSION, shas[i])
    for c in [first, *conns.values()]:
        c.close()
    assert len(accepted) == BACKLOG + 1
    by_key = {j["idempotency_key"]: j["id"] for j in jobs(d)}
    key = f"pipeline:python-sdk:{BACKLOG_TAG}@"
    missing = {i: jid for i, jid in accepted.items()
               if by_key.get(key + (sha0 if i == 0 else shas[i])) != jid}
    assert not missing, f"202 answers whose job is not in the queue: {missing}"
    made = [i for i in refused if key + shas[i] in by_key]
    assert not made, f"deliveries answered 503 became jobs: {made}"
    assert len(by_key) == BACKLOG + 1, f"{len(by_key)} jobs for {BACKLOG + 1} 202s"
