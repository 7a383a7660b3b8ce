"""Recovery after a crash during the first upload of a NEW project (issue 10,
item 2).

After a restart the daemon asks the registry whether the interrupted upload
arrived: it reads /simple/<project>/.  A project the registry does not hold
yet is answered, by pypiserver with its default fallback on, with a 303 to
its upstream (another origin), and with --disable-fallback with a 404: both
mean "not here", so the file is sent.  A file that did arrive is found and
not sent again.

The daemon is killed (SIGKILL) while the body is on its way: uploads go
through a ThrottledRelay that slows them down, and the kill comes once part
of the body has passed.  The upstream of the fallback is an address on
another origin that nothing listens on: the daemon must not go there.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest

from aos_fixtures import wait_for
from peers.devpi import DevpiServer
from peers.pypiserver import PypiServer
from publish_support import (PypiTarget, fresh_venv, make_big_wheel, make_wheel,
                             pip_install, sha256_file)
from queue_support import (ThrottledRelay, describe_jobs, enqueue, job_log, job_show,
                           kill, port_of, queue_config, start_again, wait_state)

MB = 1_000_000
RATE = 400_000        # bytes/s through the relay while the kill is aimed
SIZE = 3 * MB         # the wheel: about 7 s at RATE
KILL_AFTER = 300_000  # body bytes through the relay before the kill
# Another origin (reserved name, never resolved): the daemon must not follow.
UPSTREAM = "https://upstream.invalid/simple/"


@pytest.fixture(scope="module")
def fallback_pypi(queue_env):
    """A second pypiserver, with its fallback on (as pypiserver starts by
    default), the same token as the module's own (which runs with
    --disable-fallback)."""
    srv = PypiServer(workdir=queue_env.workdir / "pypi-fallback", token=queue_env.pypi.token,
                     fallback_url=UPSTREAM)
    srv.start()
    yield srv
    srv.stop()


def daemon_for(env, relay: ThrottledRelay, target: PypiTarget | None = None, **queue):
    """A daemon (not started) whose registry "pypi-r" is reached through relay
    (pypiserver's paths, or those of target)."""
    cfg = queue_config(lease_s=2, **queue)
    cfg["registries"] = {"pypi-r": (target or env.pypi_target("pypiserver"))
                         .registry_via(relay.url)}
    return env.daemon(config=cfg, start=False)


def posts(relay: ThrottledRelay) -> int:
    return sum(1 for ln in relay.first_lines if ln.startswith("POST "))


def kill_mid_upload(d, relay: ThrottledRelay, wheel: Path) -> int:
    """Enqueues wheel, kills the daemon once KILL_AFTER bytes of the upload
    passed the relay (before its end); returns the job id."""
    start_again(d)
    before = relay.bytes_up
    jid = enqueue(d, "pypi-r", wheel)
    wait_for(lambda: relay.bytes_up - before >= KILL_AFTER, 30, interval=0.02,
             what=lambda: f"{KILL_AFTER} bytes of the upload through the relay "
             f"({relay.bytes_up - before} so far)\n{d.log_tail()}")
    assert kill(d) == -9
    assert relay.bytes_up - before < wheel.stat().st_size, "the upload ended before the kill"
    return jid


def assert_recovered(d, srv: PypiServer | DevpiServer, jid: int, wheel: Path) -> dict:
    job = wait_state(d, jid, ("succeeded", "dead", "canceled"), timeout=60)
    assert job["state"] == "succeeded", (
        f"{describe_jobs(d, {jid})}\nthe registry holds {srv.files()}\n{d.log_tail(4000)}")
    if isinstance(srv, PypiServer):
        files = [p for p in srv.packages.rglob("*") if p.is_file()]
        assert [p.name for p in files].count(wheel.name) == 1, files
    assert srv.files()[wheel.name] == sha256_file(wheel)
    return job


def new_name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def test_new_project_fallback_on_recovers(queue_env, fallback_pypi, tmp_path):
    """The issue's case: pypiserver answers 303 to its upstream for the
    new project; the daemon sends the file after the restart."""
    name = new_name("aos-recover-fb")
    wheel = make_big_wheel(tmp_path, name, "1.0.0", SIZE)
    with ThrottledRelay(port_of(fallback_pypi.url), rate=RATE) as relay:
        d = daemon_for(queue_env, relay, max_attempts=3)
        jid = kill_mid_upload(d, relay, wheel)
        assert wheel.name not in fallback_pypi.files(), "a half-sent body was kept"
        # What the daemon asks after the restart, asked here the same way.
        status, _ = fallback_pypi.get(f"simple/{name}/")
        assert status == 303, f"pypiserver's fallback is off ({status}): the test is moot"
        relay.rate = None
        start_again(d)
        assert_recovered(d, fallback_pypi, jid, wheel)
        text = "\n".join(job_log(d, jid))
        assert "says the file exists" not in text, text
        # The daemon's log says what it asked and what it was answered.
        said = f"GET {relay.url}simple/{name}/: HTTP 303 See Other to {UPSTREAM}{name}/"
        assert said in d.log_tail(100_000), d.log_tail()
        assert posts(relay) == 2, relay.first_lines  # the killed one, and one more
    d.stop(expect_rc=0)

    venv = fresh_venv(tmp_path / "venv")
    p = pip_install(venv, fallback_pypi.index_url_with_auth, f"{name}==1.0.0",
                    hashes=[sha256_file(wheel)])
    assert p.returncode == 0, p.stdout + p.stderr


def test_new_project_fallback_disabled_recovers(queue_env, pypi_kind, tmp_path):
    """pypiserver with --disable-fallback, and devpi, answer 404 for the new
    project."""
    name = new_name("aos-recover-nofb")
    wheel = make_big_wheel(tmp_path, name, "1.0.0", SIZE)
    target = queue_env.pypi_target(pypi_kind)
    srv = target.server
    assert getattr(srv, "fallback_url", None) is None
    with ThrottledRelay(port_of(srv.url), rate=RATE) as relay:
        d = daemon_for(queue_env, relay, target, max_attempts=3)
        jid = kill_mid_upload(d, relay, wheel)
        assert target.simple_status(name) == 404
        relay.rate = None
        start_again(d)
        assert_recovered(d, srv, jid, wheel)
        assert posts(relay) == 2, relay.first_lines
    d.stop(expect_rc=0)


def test_upload_arrived_before_the_kill(queue_env, fallback_pypi, pypi_kind, tmp_path):
    """The body arrived and the registry (pypiserver with its fallback on, or
    devpi) stored it; the daemon was killed before it read the answer (held
    by the relay).  After the restart the file is found on the index (in the
    PEP 691 JSON form devpi offers, the HTML page of pypiserver): no second
    upload."""
    name = new_name("aos-recover-arrived")
    wheel = make_wheel(tmp_path, name, "1.0.0")
    if pypi_kind == "pypiserver":
        target = PypiTarget(pypi_kind, "pypi", fallback_pypi)
    else:
        target = queue_env.pypi_target(pypi_kind)
    srv = target.server
    with ThrottledRelay(port_of(srv.url)) as relay:
        d = daemon_for(queue_env, relay, target, max_attempts=3)
        start_again(d)
        relay.hold_answers()
        jid = enqueue(d, "pypi-r", wheel)
        wait_for(lambda: srv.files().get(wheel.name) == sha256_file(wheel), 30,
                 what=lambda: f"the registry to store {wheel.name}: {srv.files()}")
        assert kill(d) == -9
        relay.release_answers()
        start_again(d)
        assert_recovered(d, srv, jid, wheel)
        form = "PEP 691 JSON" if pypi_kind == "devpi" else "PEP 503 HTML"
        assert re.search(rf"read \S+/{name}/ as {form}", d.log_text()), d.log_tail()
        assert posts(relay) == 1, relay.first_lines
        up = job_show(d, jid)["uploads"][0]
        assert "same sha256" in up["answer"], up
    d.stop(expect_rc=0)


def test_job_retry_after_an_unanswered_probe(queue_env, tmp_path):
    """A job dead with its upload's outcome unknown (the state the old
    behaviour left: dead, the upload still "sending"): `job retry` asks the
    registry again, gets the fallback's 303 and sends the file.  The job is
    made dead here by a registry that is down when the daemon restarts."""
    name = new_name("aos-recover-retry")
    wheel = make_big_wheel(tmp_path, name, "1.0.0", SIZE)
    srv = PypiServer(workdir=tmp_path / "pypi", token=queue_env.pypi.token,
                     fallback_url=UPSTREAM).start()
    try:
        with ThrottledRelay(port_of(srv.url), rate=RATE) as relay:
            d = daemon_for(queue_env, relay, max_attempts=2)
            jid = kill_mid_upload(d, relay, wheel)
            srv.stop()
            relay.rate = None
            start_again(d)
            job = wait_state(d, jid, ("dead",), timeout=60)
            ups = job_show(d, jid)["uploads"]
            assert [u["state"] for u in ups] == ["sending"], ups
            srv.start()
            assert srv.get(f"simple/{name}/")[0] == 303
            r = d.ctl("job", "retry", str(jid))
            assert r.rc == 0, r
            assert_recovered(d, srv, jid, wheel)
            assert posts(relay) == 2, relay.first_lines
            assert job["last_error"], job
        d.stop(expect_rc=0)
    finally:
        srv.close()
