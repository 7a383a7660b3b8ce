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
the queue and runs to success.

Order of events, not timing: every bound is generous (30 s) and only says
how long to wait for an answer that must come while the commit is held.

Failed before this change (the commits ran on the loop thread): in both
tests GET /healthz timed out after 30 s while the job's sync was held.
"""

from __future__ import annotations

import threading

import pytest

from aos_fixtures import BUILD_DIR, preload, wait_for
from publish_support import make_wheel
from queue_support import try_enqueue
from webhook_support import (body_of, expect_accepted, expect_error, expect_job,
                             forge_headers, github_push, http, job_show, python_pipeline,
                             wait_listening)

SHIM = BUILD_DIR / "tests" / "tools" / "slowsync-shim.so"
BOUND = 30.0  # an answer that must come while the commit is held
VERSION = "0.21.0"
TAG = f"python-sdk-v{VERSION}"


class Gated:
    """A webhook daemon whose queue syncs are held while `gate` exists."""

    def __init__(self, webhook_env, folder):
        self.gate, self.marker = folder / "gate", folder / "blocked"
        self.d = webhook_env.hook_daemon(
            {"python-sdk": python_pipeline(webhook_env.repo, verify=None)}, start=False)
        self.d.start(env={"LD_PRELOAD": preload(SHIM),
                          "AOS_SLOWSYNC_PATH": str(self.d.state_dir / "queue.db"),
                          "AOS_SLOWSYNC_GATE": str(self.gate),
                          "AOS_SLOWSYNC_MARKER": str(self.marker)})
        wait_listening(self.d)

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
        wait_for(self.marker.exists, BOUND, what=lambda: f"a queue sync to be held by "
                 f"the shim after {what}:\n{self.d.log_tail()}")
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


@pytest.fixture
def gated(webhook_env, tmp_path):
    g = Gated(webhook_env, tmp_path)
    yield g
    g.gate.unlink(missing_ok=True)
    g.d.stop()


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
