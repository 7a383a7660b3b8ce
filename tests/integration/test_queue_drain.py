"""Drains kept in the queue database (issue 17), with real daemons (on the
SQLite queue, and two on one PostgreSQL queue) and the real registries:

- `drain --host` of another host's name leaves this daemon starting jobs;
- `drain` (the fleet's) keeps a new job queued, its wait reason and
  `status` say so, and the job starts only after `resume`;
- `drain --this-host` holds across a restart (it is in the queue, not in
  the process), and `resume` of the fleet or of another host does not end
  it: `resume --this-host` does;
- an older version's drain (the marker file <state_dir>/draining) is
  moved into the queue as this host's drain at the start, before the first
  claim, and the file removed;
- two daemons on one PostgreSQL queue: a drain asked of either holds on
  the other (per host, or the fleet's), and a drained host's job runs on
  the other host.

Whether a job "stays queued" is shown by the order of events: its claim
("queued -> running (claimed by ...)") comes after the resume in its log.
"""

from __future__ import annotations

import time

import pytest

from aos_fixtures import wait_for
from publish_support import make_wheel, sha256_file
from queue_support import (enqueue, job_log, job_show, queue_config, start_again,
                           wait_state)


@pytest.fixture(scope="module")
def daemon(queue_env):
    return queue_env.daemon(config=queue_config())


def _claimed_at(d, jid) -> int:
    """When job jid was first claimed (its log line's time)."""
    for ln in d.ctl_json("job", "log", jid)["lines"]:
        if "-> running (claimed by" in ln["text"]:
            return ln["at_ms"]
    raise AssertionError(f"job {jid} never claimed: {job_log(d, jid)}")


def _held_until_resume(d, jid, resume_args, env, wheel):
    """Job jid is queued (not claimed) until `resume RESUME_ARGS`, then
    runs to success and its file is on the registry."""
    time.sleep(2.2)  # two scheduler ticks: a lower bound only (nothing must start)
    j = job_show(d, jid)["job"]
    assert j["state"] == "queued" and j["attempts"] == 0, j
    assert "draining" in j.get("wait_reason", ""), j
    # the reason names the resume that ends it: the fleet's, or this host's
    want = "resume --host" if resume_args else "(aos-publishctl resume)"
    assert want in j["wait_reason"], j
    before = int(time.time() * 1000)
    r = d.ctl("resume", *resume_args)
    assert r.rc == 0 and "resumed" in r.out, r
    wait_state(d, jid, "succeeded", 60)
    assert _claimed_at(d, jid) >= before, job_log(d, jid)
    assert env.pypi.files().get(wheel.name) == sha256_file(wheel)


def test_fleet_and_host_drains(queue_env, daemon, tmp_path):
    env, d = queue_env, daemon
    host = d.status()["queue"]["host"]
    assert host and ":" not in host

    # Another host's drain: this daemon goes on.
    r = d.ctl("drain", "--host", "build-elsewhere")
    assert r.rc == 0 and "host build-elsewhere drained" in r.out, r
    st = d.status()["queue"]
    assert st["drained"] == {"fleet": False, "hosts": ["build-elsewhere"]}, st
    assert st["draining"] is False, st
    w = make_wheel(tmp_path, "aos-drain-other", "1.0.0")
    wait_state(d, enqueue(d, "pypi", w), "succeeded", 60)

    # The fleet's drain: a new job waits for the resume.
    dr = d.ctl_json("drain")
    assert dr["host"] is None and dr["changed"] is True and dr["draining"] is True, dr
    assert dr["drained"] == {"fleet": True, "hosts": ["build-elsewhere"]}, dr
    assert d.ctl_json("drain")["changed"] is False
    text = d.ctl("status")
    assert text.rc == 0 and "Drained:    the fleet (every host), host build-elsewhere" \
        in text.out, text
    w = make_wheel(tmp_path, "aos-drain-fleet", "1.0.0")
    _held_until_resume(d, enqueue(d, "pypi", w), [], env, w)
    st = d.status()["queue"]
    assert st["drained"] == {"fleet": False, "hosts": ["build-elsewhere"]}, st
    assert d.ctl_json("resume", "--host", "build-elsewhere")["drained"] == {
        "fleet": False, "hosts": []}


def test_this_host_drain_outlives_a_restart(queue_env, daemon, tmp_path):
    env, d = queue_env, daemon
    host = d.status()["queue"]["host"]
    dr = d.ctl_json("drain", "--this-host")
    assert dr["host"] == host and dr["draining"] is True, dr
    d.stop()
    start_again(d)
    wait_for(lambda: d.status()["queue"]["drained"]["hosts"] == [host], 10,
             what="this host's drain read back after the restart")
    assert d.status()["queue"]["draining"] is True
    w = make_wheel(tmp_path, "aos-drain-restart", "1.0.0")
    jid = enqueue(d, "pypi", w)
    # Neither the fleet's resume nor another host's ends this host's drain.
    assert d.ctl_json("resume")["draining"] is True
    assert d.ctl_json("resume", "--host", "build-elsewhere")["draining"] is True
    _held_until_resume(d, jid, ["--this-host"], env, w)


def test_marker_of_an_older_version_moves_into_the_queue(queue_env, daemon, tmp_path):
    env, d = queue_env, daemon
    host = d.status()["queue"]["host"]
    d.stop()
    marker = d.state_dir / "draining"
    marker.write_bytes(b"")
    start_again(d)
    wait_for(lambda: not marker.exists(), 10, what="the marker moved into the queue")
    st = d.status()["queue"]
    assert st["drained"]["hosts"] == [host] and st["draining"] is True, st
    assert "is kept in the queue now" in d.log_text()
    w = make_wheel(tmp_path, "aos-drain-marker", "1.0.0")
    _held_until_resume(d, enqueue(d, "pypi", w), ["--host", host], env, w)


def test_bad_requests(daemon):
    d = daemon
    r = d.ctl("drain", "--host", "a:1")
    assert r.rc == 1 and "is not a host's name" in r.err, r
    r = d.ctl("drain", "--host", "x", "--this-host")
    assert r.rc == 2, r
    assert d.status()["queue"]["drained"] == {"fleet": False, "hosts": []}


# -- two daemons sharing one PostgreSQL queue ---------------------------------------


@pytest.fixture
def postgres(workdir):
    from peers.postgres import Postgres
    pg = Postgres(workdir)
    yield pg
    assert pg.stop() == 0


def test_drains_across_two_daemons_on_postgresql(publish_env, postgres, tmp_path):
    """Daemons pg-a and pg-b on one PostgreSQL queue: a drain asked of one
    holds on the other (it is in the database), per host or for the fleet;
    a job the drained host took in goes to the other host."""
    from test_queue_postgres import make_role, pg_queue

    env = publish_env
    pw = make_role(postgres, "aosdrain")
    env.set_secret(AOS_QUEUE_PG_PASSWORD=pw)
    a, b = (env.daemon(pg_queue(postgres, {"kv_key": "AOS_QUEUE_PG_PASSWORD"},
                                user="aosdrain", host_name=name))
            for name in ("pg-a", "pg-b"))

    # both drained by name through a (b's status says so): b's job waits;
    # a resumed alone runs it
    dr = a.ctl_json("drain", "--host", "pg-b")
    assert dr["draining"] is False and dr["drained"]["hosts"] == ["pg-b"], dr
    assert a.ctl_json("drain", "--this-host")["drained"]["hosts"] == ["pg-a", "pg-b"]
    wait_for(lambda: b.status()["queue"]["draining"] is True, 10,
             what=lambda: f"pg-b drained: {b.status()['queue']}")
    w = make_wheel(tmp_path, "aos-drain-pg-b", "1.0.0")
    jid = enqueue(b, "pypi", w)
    time.sleep(2.2)  # two scheduler ticks: a lower bound only (nothing must start)
    assert job_show(b, jid)["job"]["state"] == "queued"
    before = int(time.time() * 1000)
    assert a.ctl_json("resume", "--this-host")["draining"] is False
    wait_state(b, jid, "succeeded", 60)
    assert _claimed_at(b, jid) >= before
    claims = [t for t in job_log(b, jid) if "claimed by" in t]
    assert claims and all("claimed by pg-a:" in t for t in claims), job_log(b, jid)

    # the fleet drained through b: a's job waits until the fleet's resume,
    # and runs on a (b is still drained by name)
    assert b.ctl_json("drain")["drained"] == {"fleet": True, "hosts": ["pg-b"]}
    wait_for(lambda: a.status()["queue"]["draining"] is True, 10,
             what=lambda: f"pg-a drained: {a.status()['queue']}")
    w = make_wheel(tmp_path, "aos-drain-pg-fleet", "1.0.0")
    jid = enqueue(a, "pypi", w)
    time.sleep(2.2)  # two scheduler ticks: a lower bound only (nothing must start)
    assert job_show(a, jid)["job"]["state"] == "queued"
    before = int(time.time() * 1000)
    assert b.ctl_json("resume")["drained"] == {"fleet": False, "hosts": ["pg-b"]}
    wait_state(a, jid, "succeeded", 60)
    assert _claimed_at(a, jid) >= before
    assert all("claimed by pg-a:" in t for t in job_log(a, jid) if "claimed by" in t)
    assert env.pypi.files().get(w.name) == sha256_file(w)

    a.ctl_json("resume", "--host", "pg-b")
    wait_for(lambda: b.status()["queue"]["draining"] is False, 10,
             what=lambda: f"pg-b resumed: {b.status()['queue']}")
