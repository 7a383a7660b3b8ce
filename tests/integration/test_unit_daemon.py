"""The whole daemon inside the systemd unit's sandbox: its seccomp filter,
namespace and address-family restrictions and empty capability sets, read
off systemd/aos-publishd.service.in and applied by tests/tools/unit-launch
(unit_filter.py), with a non-root uid as under User=.

A release whose first build step is the attacker (test_build_isolation.py's
probe: read the queue database and the Vault token file, list the runtime
folder, use the control socket, write outside the work folder) must find
every attempt denied while the release itself (Python and npm builds,
uploads) succeeds.  Under the filter the unit had before the build sandbox,
the same release cannot build: its steps are refused, never run unconfined.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from test_build_isolation import ATTEMPTS, DIRECT, PROBE
from unit_filter import UnitSandbox, old_unit, sanitizer_env, unit_text
from webhook_support import (PY_BUILD, expect_accepted, expect_job, github_push,
                             job_text, js_pipeline, python_pipeline, wait_listening)

# The isolation asked for: the default (bubblewrap + Landlock inside), and
# no step without it.
ISOLATION = "namespaces"


@pytest.fixture(scope="module")
def env(webhook_env):  # noqa: F811
    return webhook_env


def unit_daemon(env, text: str, name: str):
    """A daemon with a Python pipeline (probe, then build) and an npm one,
    started under the sandbox of the unit `text`."""
    outside = env.workdir / f"outside-{name}"
    outside.mkdir()
    d = env.hook_daemon({}, start=False, config={"build_isolation": ISOLATION})
    loot = env.workdir / f"loot-{name}"
    loot.mkdir()
    py = python_pipeline(env.repo, "python-sdk-v*", targets=["pypi"],
                         build=[DIRECT, *PY_BUILD], writable=[str(loot)])
    # test_build_isolation's probe: the token file is in d.dir here.
    py["env"].update({"PROBE": PROBE, "RUNDIR": str(d.dir), "CREDDIR": str(d.dir),
                      "STATE": str(d.state_dir), "SPOOL": str(d.state_dir / "spool"),
                      "SOCK": str(d.socket), "LOOT": str(loot), "OUTSIDE": str(outside),
                      "LINGER": "7777.25", "DPID": "1"})
    d.config["pipelines"] = {"python-sdk": py,
                             "js-sdk": js_pipeline(env.repo)}
    d.write_config()
    # As root the daemon gets a user namespace in which it is uid 4242: not
    # root, no capabilities, yet the owner of the test's root-owned files.
    userns = (["unshare", "--user", "--map-user=4242", "--map-group=4242", "--"]
              if os.geteuid() == 0 else [])
    d.start(argv_prefix=userns + UnitSandbox(text).prefix(d.dir), env=sanitizer_env())
    wait_listening(d)
    status = Path(f"/proc/{d.pid}/status").read_text()
    for want in (r"Seccomp:\s+2", r"NoNewPrivs:\s+1", r"CapEff:\s+0+$"):
        assert re.search(want, status, re.M), f"daemon not sandboxed ({want}):\n{status}"
    return d


def release(env, d, version: str, state: str) -> str:
    """Tag python-sdk-v<version> and js-sdk-v<version>, let both jobs end in
    `state`; returns the Python job's log."""
    commit = env.repo.commit_release(version)
    texts = {}
    for kind in ("python-sdk", "js-sdk"):
        tag = f"{kind}-v{version}"
        env.repo.tag(tag, commit)
        jid = expect_accepted(d.hooks.send("github", github_push(tag, commit)), kind,
                              tag, version, commit)
        expect_job(d, jid, state)
        texts[kind] = job_text(d, jid)
    return texts["python-sdk"]


def test_steps_confined_under_the_unit_filter(env):
    d = unit_daemon(env, unit_text(), "unit")
    status = d.status()["build_isolation"]
    assert status["mode"] == ISOLATION, status
    assert status["available"] is True and status["namespaces"] is True, status
    assert status["landlock_abi"] > 0, status
    text = release(env, d, "0.5.0", "succeeded")
    probes = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("probe[")]
    assert sorted(probes) == sorted(f"probe[direct]: {a} denied" for a in ATTEMPTS), (
        f"a probe got through under the unit's filter:\n{text}")
    assert "not confined" not in text and "not started" not in text, text
    # The job log says what the steps ran under: both layers.
    assert re.search(r"^\s*isolation: namespaces \(bubblewrap [^)]*\) \+ Landlock ABI \d+",
                     text, re.M), text
    assert d.alive, d.log_tail()


def test_old_unit_filter_refuses_steps(env):
    """The filter the unit shipped with forbids every namespace and makes
    landlock_* fail with EPERM: status says the isolation is unavailable,
    the jobs end with a clear error, nothing is built or uploaded."""
    d = unit_daemon(env, old_unit(unit_text()), "old")
    before = env.snapshot()
    text = release(env, d, "0.6.0", "dead")
    status = d.status()["build_isolation"]
    assert status["available"] is False and status["namespaces"] is False, status
    assert 'build_isolation "namespaces" is not available' in text, text
    assert not re.search(r"^\s*probe\[", text, re.M), f"a step ran under the old filter:\n{text}"
    env.assert_unchanged(before, "steps refused")
