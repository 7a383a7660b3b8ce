"""The daemon copies a pipeline's artifacts into the spool without
following a symbolic link and without blocking on a FIFO (spool.c opens
with O_NOFOLLOW|O_NONBLOCK and checks the open descriptor with fstat).

The build step is the attacker: it leaves in dist/
- a symbolic link named like a wheel that points at the daemon's Vault token
  file (which the step itself cannot read: the daemon would read it for it
  and copy it into its spool);
- a FIFO named like a wheel (opening it for reading blocks until a writer
  comes: a thread of the pool would wait forever).
Either way the job must fail at once, nothing reaches the registries and
the token is nowhere in the spool.
"""

from __future__ import annotations

import pytest

from webhook_support import (expect_accepted, files_under, github_push, job_text,
                             python_pipeline, wait_job)

WHEEL = "aos_sdk-{v}-py3-none-any.whl"


@pytest.fixture(scope="module")
def env(webhook_env):
    return webhook_env


def run(env, name: str, version: str, step: str) -> tuple[object, int, str]:
    pipe = python_pipeline(env.repo, f"{name}-v*", targets=["pypi"],
                           build=[f"mkdir -p dist && {step}"], verify=None)
    d = env.hook_daemon({name: pipe})
    commit = env.repo.commit_release(version)
    tag = f"{name}-v{version}"
    env.repo.tag(tag, commit)
    jid = expect_accepted(d.hooks.send("github", github_push(tag, commit)), name, tag,
                          version, commit)
    job = wait_job(d, jid, ("failed", "dead", "succeeded"), timeout=60)
    assert job["state"] != "succeeded", job
    return d, jid, job_text(d, jid)


def test_symlink_to_the_daemons_token(env):
    before = env.snapshot()
    # The daemon made next is d<N> in the module's folder, its Vault token
    # file beside its configuration.
    token_file = env.workdir / f"d{len(env.daemons)}" / "vault-token"
    whl = WHEEL.format(v="0.6.1")
    d, jid, text = run(env, "link", "0.6.1", f"ln -s {token_file} dist/{whl}")
    assert token_file.exists(), "the test aimed at the wrong token file"
    assert "symbolic link" in text and whl in text, text
    token = token_file.read_text().strip()
    leaked = [p for p, data in files_under(d.state_dir / "spool").items()
              if token.encode() in data]
    assert not leaked, f"the daemon copied its token into the spool: {leaked}"
    env.assert_unchanged(before, "a symlinked artifact")


def test_fifo_named_like_a_wheel(env):
    """A regression guard more than an attack: the artifact glob already
    passes over what stat() says is not a regular file; the descriptor's
    own fstat() covers a FIFO put in its place after that stat."""
    before = env.snapshot()
    d, jid, text = run(env, "fifo", "0.6.2", f"mkfifo dist/{WHEEL.format(v='0.6.2')}")
    assert ("a FIFO, not a regular file" in text
            or 'artifact glob "dist/*.whl" matched no file' in text), text
    env.assert_unchanged(before, "a FIFO artifact")
    # The pool is not blocked: a publish dry run is answered at once.
    assert d.ctl_json("status")["ok"] is True


def test_symlinked_folder_to_the_daemons_files(env):
    """dist itself a symbolic link to a folder of the daemon's (here its
    config folder, which holds the Vault token file renamed like a wheel):
    O_NOFOLLOW on the last name is not enough; the daemon opens artifacts
    beneath the work folder with no link anywhere in their path."""
    before = env.snapshot()
    ddir = env.workdir / f"d{len(env.daemons)}"
    whl = WHEEL.format(v="0.6.3")
    # The step makes dist a link to ddir, where the test puts a "wheel"
    # holding the token once the daemon has written its token file.
    pipe = python_pipeline(env.repo, "dirlink-v*", targets=["pypi"],
                           build=[f"ln -s {ddir} dist"], verify=None)
    d = env.hook_daemon({"dirlink": pipe})
    token = (ddir / "vault-token").read_text().strip()
    (ddir / whl).write_text(token)
    commit = env.repo.commit_release("0.6.3")
    env.repo.tag("dirlink-v0.6.3", commit)
    jid = expect_accepted(d.hooks.send("github", github_push("dirlink-v0.6.3", commit)),
                          "dirlink", "dirlink-v0.6.3", "0.6.3", commit)
    job = wait_job(d, jid, ("failed", "dead", "succeeded"), timeout=60)
    text = job_text(d, jid)
    assert job["state"] == "dead", text
    assert "symbolic link" in text and whl in text, text
    leaked = [p for p, data in files_under(d.state_dir / "spool").items()
              if token.encode() in data]
    assert not leaked, f"the daemon copied its token into the spool: {leaked}"
    env.assert_unchanged(before, "an artifact through a symlinked folder")
