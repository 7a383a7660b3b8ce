"""Build steps cannot reach the daemon's own things.

A pipeline whose first build step probes, as a malicious build dependency
would: read the queue database, list the runtime folder, read the Vault
token file, steer the daemon through the control socket with
aos-publishctl, write outside the job's work folder.  The probe prints what
it managed and always exits 0; the real build follows and must still
succeed (the sandbox leaves what a build needs: the toolchain, its work
folder, TMPDIR).

- With build_isolation "auto" on a kernel with Landlock (status says
  "confined"), every probe is denied.  On a kernel without Landlock the job
  log carries the "not confined" warning instead; the control socket is
  refused either way (the peer is the daemon's descendant).
- With build_isolation "off" the same files are readable (the difference is
  the sandbox, not file modes), and the control socket is still refused.
"""

import pytest

from webhook_support import (PY_BUILD, expect_accepted, expect_job, github_push, job_text,
                             python_pipeline, webhook_env)  # noqa: F401
from conftest import PUBLISHCTL

PROBE = (
    'for f in "$STATE/queue.db" "$TOKEN_FILE"; do '
    'if cat "$f" > /dev/null 2>&1; then echo "probe: READABLE $f"; '
    'else echo "probe: denied read $f"; fi; done; '
    'if ls "$RUN" > /dev/null 2>&1; then echo "probe: LISTABLE $RUN"; '
    'else echo "probe: denied list $RUN"; fi; '
    'if "$CTL" --socket "$SOCK" --timeout 5 status > /dev/null 2>&1; '
    'then echo "probe: CONTROL ANSWERED"; else echo "probe: denied control"; fi; '
    'if touch "$OUTSIDE/probe-$$" 2> /dev/null; then echo "probe: WROTE $OUTSIDE"; '
    'else echo "probe: denied write $OUTSIDE"; fi; '
    'touch "$TMPDIR/ok" && echo "probe: tmpdir writable"; true')


def probe_daemon(env, isolation: str):
    repo = env.repo
    outside = env.workdir / f"outside-{isolation}"
    outside.mkdir()
    d = env.hook_daemon({}, start=False, config={"build_isolation": isolation})
    pipe = python_pipeline(repo, "python-sdk-v*", targets=["pypi"],
                           build=[PROBE, *PY_BUILD])
    pipe["env"].update({"STATE": str(d.state_dir), "RUN": str(d.runtime_dir),
                        "SOCK": str(d.socket), "CTL": str(PUBLISHCTL),
                        "TOKEN_FILE": str(d.dir / "vault-token"), "OUTSIDE": str(outside)})
    d.config["pipelines"] = {"python-sdk": pipe}
    d.write_config()
    d.start()
    return d


def run_probe(env, d, version):
    commit = env.repo.commit_release(version)
    tag = f"python-sdk-v{version}"
    env.repo.tag(tag, commit)
    jid = expect_accepted(d.hooks.send("github", github_push(tag, commit)), "python-sdk",
                          tag, version, commit)
    expect_job(d, jid, "succeeded")
    # The step's output lines, not the "$ command" line that spells the probe.
    return [line.strip() for line in job_text(d, jid).splitlines()
            if line.strip().startswith("probe:") or "not confined" in line]


@pytest.fixture(scope="module")
def env(webhook_env):
    return webhook_env


def test_auto_isolation_denies_every_probe(env):
    d = probe_daemon(env, "auto")
    confined = d.ctl_json("status")["build_isolation"]["confined"]
    lines = run_probe(env, d, "0.1.0")
    text = "\n".join(lines)
    assert "probe: denied control" in text, text
    assert "CONTROL ANSWERED" not in text, text
    assert "probe: tmpdir writable" in text, text
    if confined:
        for word in ("READABLE", "LISTABLE", "WROTE"):
            assert word not in text, text
        assert text.count("probe: denied") == 5, text
        assert "not confined" not in text, text
    else:
        # No Landlock in this kernel: the job log says so on every step.
        assert "warning: build step not confined" in text, text
    assert "refused" in d.log_text() and "build step" in d.log_text()


def test_without_isolation_the_same_files_are_readable(env):
    d = probe_daemon(env, "off")
    assert d.ctl_json("status")["build_isolation"]["confined"] is False
    text = "\n".join(run_probe(env, d, "0.2.0"))
    assert "READABLE" in text and "LISTABLE" in text and "WROTE" in text, text
    # The control socket refuses the daemon's descendants, sandbox or not.
    assert "probe: denied control" in text, text
