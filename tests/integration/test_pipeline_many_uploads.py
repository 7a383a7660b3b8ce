"""A pipeline job with more uploads than a publish job may hold (issue 11).

A pipeline uploads every artifact to every target: 40 wheels (build tags
1..40 of one version) to two registries are 80 uploads, more than the 64
files of one publish.  Every one of them is sent, and every one is shown:
`job show --json` and `job wait --json` list the 80 uploads, each with its
state and outcome, not the first 64 (the daemon used to read at most 64
uploads of a job into a fixed array on the stack, and silently dropped
the rest from its answers).
"""

from __future__ import annotations

import pytest

from publish_support import PY_NAME, make_wheel, wheel_filename
from webhook_support import expect_accepted, expect_job, github_push, job_show, python_pipeline

VERSION = "0.7.0"
WHEELS = 40
TARGETS = ("testpypi", "pypi")


@pytest.fixture(scope="module")
def wheels(webhook_env):
    """40 valid wheels of one version, told apart by their build tag, in a
    folder the build step may read (it copies them into dist/)."""
    folder = webhook_env.workdir / "many-wheels"
    folder.mkdir()
    plain = wheel_filename(PY_NAME, VERSION)
    for i in range(1, WHEELS + 1):
        make_wheel(folder, PY_NAME, VERSION,
                   filename=plain.replace(f"-{VERSION}-", f"-{VERSION}-{i}-"))
    return folder


def test_every_upload_of_a_large_pipeline_job_is_sent_and_shown(webhook_env, wheels):
    env = webhook_env
    names = sorted(p.name for p in wheels.iterdir())
    pipe = python_pipeline(env.repo, "many-v*", targets=list(TARGETS), verify=None,
                           build=[f"mkdir -p dist && cp {wheels}/*.whl dist/"],
                           artifacts=["dist/*.whl"],
                           readable=[str(wheels)])
    d = env.hook_daemon({"many": pipe})
    commit = env.repo.commit_release(VERSION)
    tag = f"many-v{VERSION}"
    env.repo.tag(tag, commit)
    jid = expect_accepted(d.hooks.send("github", github_push(tag, commit)), "many", tag,
                          VERSION, commit)
    expect_job(d, jid, "succeeded", timeout=240)

    want = {f"{t}/{n}" for t in TARGETS for n in names}
    assert len(want) == WHEELS * len(TARGETS) > 64

    shown = job_show(d, jid)["uploads"]
    got = {u["filename"]: u["state"] for u in shown}
    assert len(shown) == len(want), (
        f"job show lists {len(shown)} uploads of {len(want)}; missing: "
        f"{sorted(want - set(got))[:5]}...")
    assert got == {n: "done" for n in want}, got

    # What `job wait` answers for the ended job: every upload, published.
    w = d.ctl("job", "wait", jid, json_out=True, timeout=30)
    answer = w.json
    assert w.rc == 0 and answer.get("ok") is True, w
    results = answer["results"]
    assert len(results) == len(want), (
        f"job wait answers {len(results)} uploads of {len(want)}")
    assert {r["filename"] for r in results} == want
    assert {r["outcome"] for r in results} == {"published"}, results
    # One upload shape in both answers (docs/control-protocol.md): job
    # show's upload and job wait's result agree on it; upload_state is the
    # old name of state, kept for one release.
    shape = ("filename", "registry", "sha256", "state")
    by_name = {u["filename"]: {k: u.get(k) for k in shape} for u in shown}
    assert {r["filename"]: {k: r.get(k) for k in shape} for r in results} == by_name
    assert all(r["upload_state"] == r["state"] for r in results), results[:2]

    # The registries hold every wheel.
    for t, server in (("testpypi", env.testpypi), ("pypi", env.pypi)):
        held = {f for f in server.files() if f in set(names)}
        assert held == set(names), f"{t} lacks {sorted(set(names) - held)}"
