"""A slow disk must not stall the loop (issue 14).

tests/tools/slowsync-shim.so is preloaded into the daemon: while a gate
file exists, an fsync()/fdatasync() of the queue database (queue.db and
its WAL) first appends to a marker file, then waits until the gate is
removed.  With the gate in place a valid signed delivery is sent: its
group commit blocks in that sync (the marker appears).  While it is held,
GET /healthz, GET /readyz, a delivery with a bad signature (401) and
`aos-publishctl status` must all answer; only then is the gate removed,
and the delivery's 202 comes (after its commit, never before), its job is
in the queue and runs to success.

Order of events, not timing: every bound is generous (30 s) and only says
how long to wait for an answer that must come while the commit is held.

Failed before this change (the commit ran on the loop thread): GET /healthz
timed out after 30 s while the sync was held.
"""

from __future__ import annotations

import threading

from aos_fixtures import BUILD_DIR, preload, wait_for
from webhook_support import (body_of, expect_accepted, expect_error, expect_job,
                             forge_headers, github_push, http, job_show, python_pipeline,
                             wait_listening)

SHIM = BUILD_DIR / "tests" / "tools" / "slowsync-shim.so"
BOUND = 30.0  # an answer that must come while the commit is held
VERSION = "0.21.0"
TAG = f"python-sdk-v{VERSION}"


def _send_async(d, payload, results: dict) -> threading.Thread:
    """POSTs a correctly signed delivery on a thread; its answer (or the
    exception) goes into results["answer"]."""
    body = body_of(payload)
    headers = forge_headers("github", body, d.hooks.secrets["github"])

    def run():
        try:
            results["answer"] = d.hooks.post(body, headers, timeout=4 * BOUND)
        except Exception as e:  # noqa: BLE001 - reported by the test
            results["answer"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_loop_answers_while_a_commit_waits(webhook_env, tmp_path):
    repo = webhook_env.repo
    sha = repo.commit_release(VERSION)
    assert repo.tag(TAG, sha) == sha
    d = webhook_env.hook_daemon({"python-sdk": python_pipeline(repo, verify=None)},
                                start=False)
    gate, marker = tmp_path / "gate", tmp_path / "blocked"
    d.start(env={"LD_PRELOAD": preload(SHIM),
                 "AOS_SLOWSYNC_PATH": str(d.state_dir / "queue.db"),
                 "AOS_SLOWSYNC_GATE": str(gate), "AOS_SLOWSYNC_MARKER": str(marker)})
    wait_listening(d)
    results: dict = {}
    try:
        gate.touch()
        sender = _send_async(d, github_push(TAG, sha), results)
        wait_for(marker.exists, BOUND, what=lambda: "a queue sync to be held by the "
                 f"shim after the delivery:\n{d.log_tail()}")

        # While the commit is held: each of these must answer.
        r = http(d.http_port, "GET", "/healthz", timeout=BOUND)
        assert r.status == 200, r
        r = http(d.http_port, "GET", "/readyz", timeout=BOUND)
        assert r.status == 200 and r.json["ready"] is True, r
        bad = body_of(github_push("python-sdk-v0.21.1", sha))
        r = d.hooks.post(bad, forge_headers("github", bad, "not-the-secret"), timeout=BOUND)
        expect_error(r, 401)
        st = d.ctl("status", json_out=True, timeout=BOUND)
        assert st.rc == 0 and st.json["ok"] is True, st
        assert gate.exists() and "answer" not in results, (
            f"the delivery was answered while its commit was held: {results}")
    finally:
        gate.unlink(missing_ok=True)

    sender.join(4 * BOUND)
    answer = results.get("answer")
    assert not isinstance(answer, Exception) and answer is not None, (
        f"no answer to the delivery once the gate was removed: {answer!r}\n{d.log_tail()}")
    jid = expect_accepted(answer, "python-sdk", TAG, VERSION, sha)
    assert job_show(d, jid)["job"]["state"] in ("queued", "running", "succeeded")
    expect_job(d, jid, "succeeded")
    d.stop()
