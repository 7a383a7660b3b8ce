"""A pipeline job on the PostgreSQL queue taken over by another daemon
after its artifacts were recorded: the second daemon uploads the bytes the
first one built (read from the database: its spool is not the first's),
and builds nothing.  Real PostgreSQL 15, OpenBao, pypiserver, a git
repository and the daemon's own build sandbox.

Daemon A's `pypi` registry points at a port where nothing listens, so its
run builds, records and stores the artifacts, then fails its upload and
waits (a long backoff); A is stopped, daemon B (the real registry) retries
the job."""

from __future__ import annotations

import socket
from pathlib import Path

from peers.postgres import Postgres
from publish_support import PY_NAME, fresh_venv, pip_install
from queue_support import job_show, wait_state
from test_queue_postgres import make_role, pg_queue, sql_rows
from webhook_support import expect_accepted, github_push, job_text, quick_python_pipeline


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pipeline_taken_over_after_its_artifacts(webhook_env, workdir, tmp_path):
    env = webhook_env
    pg = Postgres(workdir)
    try:
        run(env, pg, tmp_path)
    finally:
        assert pg.stop() == 0


def run(env, pg, tmp_path):
    pw = make_role(pg, "aospl")
    env.set_secret(AOS_QUEUE_PL_PASSWORD=pw)
    repo = env.repo
    commit = repo.commit_release("0.7.0")
    repo.tag("python-sdk-v0.7.0", commit)
    pipes = {"python-sdk": quick_python_pipeline(repo, targets=["pypi"])}
    queue = pg_queue(pg, {"kv_key": "AOS_QUEUE_PL_PASSWORD"}, user="aospl")
    dead_end = f"http://127.0.0.1:{closed_port()}/"
    a = env.hook_daemon(pipes, config={
        **queue, "queue": {**queue["queue"], "host_name": "pl-a",
                           "backoff_min_ms": 600000, "backoff_max_ms": 600000},
        "registries": {"pypi": {"url": dead_end, "index_url": dead_end + "simple/"}}})
    r = a.hooks.send("github", github_push("python-sdk-v0.7.0", commit))
    jid = expect_accepted(r, "python-sdk", "python-sdk-v0.7.0", "0.7.0", commit)
    job = wait_state(a, jid, ("failed", "dead"), timeout=180)
    assert job["state"] == "failed", job
    inputs = job_show(a, jid)["inputs"]
    built = {f["filename"]: f["sha256"] for f in inputs.get("files", [])}
    assert built and inputs.get("files_fence", 0) >= 1, inputs
    stored = sql_rows(pg, "SELECT name FROM aospl.aos_job_files ORDER BY name")
    assert sorted(n for (n,) in stored) == sorted(
        f"{inputs['files_fence']}-{n}" for n in built), stored
    a.stop()

    b = env.hook_daemon(pipes, config={**queue, "queue": {**queue["queue"],
                                                           "host_name": "pl-b"}})
    b.ctl_json("job", "retry", str(jid))
    job = wait_state(b, jid, ("succeeded", "dead"), timeout=120)
    assert job["state"] == "succeeded", (job, b.log_tail())
    b.wait_log(rf"job {jid}: {len(built)} file\(s\) read from the queue's database", 5)
    log_b = b.log_text()
    assert "artifacts were built in an earlier attempt" in job_text(b, jid)
    assert f"job {jid}: building" not in log_b.lower()
    # the registry holds exactly the bytes A built
    files = env.pypi.files()
    for name, digest in built.items():
        assert files.get(name) == digest, (name, files)
    venv = fresh_venv(tmp_path / "venv")
    pip_install(venv, env.pypi.index_url_with_auth, f"{PY_NAME}==0.7.0")
    assert sql_rows(pg, "SELECT count(*) FROM aospl.aos_job_files") == [["0"]]
    spool_b = Path(b.config["state_dir"]) / "spool"
    assert not list(spool_b.glob("taken-*")), list(spool_b.iterdir())
    b.stop()

