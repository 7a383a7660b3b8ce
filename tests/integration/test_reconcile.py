"""`aos-publishctl reconcile PIPELINE [--dry-run]`: tags the forge sent no
webhook for.

The repository has python-sdk-v0.1.0 .. v0.6.0 (the last two annotated)
and js-sdk-v0.1.0.  Through
the daemon's webhooks, 0.1.0 and 0.2.0 are published to both targets
(testpypi, then the second); 0.3.0 is on both registries by hand (a zip
sdist, uploaded with `aos-publishctl publish`), 0.4.0 by hand on the second
only.  So
`reconcile python-sdk` must enqueue exactly 0.4.0 (missing on testpypi)
and 0.6.0 (missing everywhere), with the idempotency keys a webhook would
give (tag@peeled commit), and not 0.5.0 whose webhook job is still queued; `--dry-run` enqueues nothing; a second run enqueues nothing; once the
jobs have run, nothing is missing; `reconcile js-sdk` enqueues the js tag.

The second target is each PyPI implementation of the tests in turn (the
`kind` fixture, as `pypi_kind` in test_pypi_kinds.py): pypiserver, whose
simple pages are PEP 503 HTML, and devpi-server, whose index lives under
+simple/ and answers PEP 691 JSON.  Per kind the tests share one set of
servers (an environment of their own, so the first kind's uploads are not
on the second's testpypi), one repository and one daemon, and run in file
order.
"""

import re

import pytest

from aos_fixtures import running_env
from peers.pypiserver import PypiServer
from publish_support import (EXIT, NPM_NAME, PY_NAME, PYPI_KINDS, publish, sdist_members,
                             write_zip)
from webhook_support import (QueueSnapshot, WebhookEnv, ctl_reconcile, expect_accepted,
                             expect_job, github_push, gitlab_tag_push, jobs,
                             publishctl_help, python_pipeline, quick_js_pipeline,
                             quick_python_pipeline)

VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0"]
ANNOTATED = {"0.5.0", "0.6.0"}
# Where each kind's simple pages are and how they are read (the daemon's
# log says which).
FORM = {"pypiserver": ("/simple/", "PEP 503 HTML"), "devpi": ("/+simple/", "PEP 691 JSON")}


@pytest.fixture(scope="module", params=PYPI_KINDS)
def kind(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def webhook_env(request, kind):
    """This module's environment, one per kind (replaces the shared
    fixture): the second kind starts from empty registries."""
    yield from running_env(request, WebhookEnv, f"aos-rc-{kind}-", "webhook_env")


@pytest.fixture(scope="module")
def target(webhook_env, kind):
    """The second target: its kind, registry name and server."""
    return webhook_env.pypi_target(kind)


@pytest.fixture(scope="module")
def tags(webhook_env):
    """{tag: commit}"""
    repo = webhook_env.repo
    out = {}
    for v in VERSIONS:
        sha = repo.commit_release(v)
        out[f"python-sdk-v{v}"] = repo.tag(f"python-sdk-v{v}", sha, annotated=v in ANNOTATED)
        if v == "0.1.0":
            out["js-sdk-v0.1.0"] = repo.tag("js-sdk-v0.1.0", sha)
    return out


@pytest.fixture(scope="module")
def daemon(webhook_env, tags, target):
    """What is under test is which tags reconcile enqueues and that those
    jobs publish, not the builds: the jobs build with QUICK_DIST and
    QUICK_PACK (the checked-out commit's name, version and sources, packed
    in a second).  Real builds and their verification through the daemon:
    test_webhook_e2e, test_sdk_builds."""
    repo = webhook_env.repo
    return webhook_env.hook_daemon({
        "python-sdk": quick_python_pipeline(repo, targets=("testpypi", target.registry)),
        "js-sdk": quick_js_pipeline(repo),
        "unreachable": python_pipeline(repo, "nowhere-v*",
                                       repository=f"file://{webhook_env.workdir}/no-repo.git")})


def key(tag, tags, pipeline="python-sdk"):
    return f"pipeline:{pipeline}:{tag}@{tags[tag]}"


def _by_key(d):
    return {j.get("idempotency_key"): j for j in jobs(d)}


def _zip_sdist(folder, version):
    folder.mkdir(parents=True, exist_ok=True)
    members = [(n, b) for n, b in sdist_members(PY_NAME, version) if not n.endswith("/")]
    return write_zip(folder / f"aos_sdk-{version}.zip", members)


def _reconcile(d, pipeline, dry_run=False):
    r = ctl_reconcile(d, pipeline, dry_run=dry_run)
    assert r.rc == 0, f"reconcile {pipeline}{' --dry-run' if dry_run else ''}: {r}\n" \
                      f"{d.log_tail()}"
    return r


def test_help_names_reconcile():
    assert "reconcile" in publishctl_help(), "aos-publishctl --help has no reconcile"


def test_setup_two_published_by_webhook_two_by_hand(webhook_env, target, daemon, tags,
                                                    tmp_path):
    env = webhook_env
    t1, t2 = "python-sdk-v0.1.0", "python-sdk-v0.2.0"
    j1 = expect_accepted(daemon.hooks.send("github", github_push(t1, tags[t1])),
                         "python-sdk", t1, "0.1.0", tags[t1])
    j2 = expect_accepted(daemon.hooks.send("gitlab", gitlab_tag_push(t2, tags[t2])),
                         "python-sdk", t2, "0.2.0", tags[t2])
    expect_job(daemon, j1, "succeeded", timeout=240)
    expect_job(daemon, j2, "succeeded", timeout=240)
    # 0.3.0 on both registries, 0.4.0 on the second only (zip sdists, by hand).
    z3 = _zip_sdist(tmp_path / "z3", "0.3.0")
    z4 = _zip_sdist(tmp_path / "z4", "0.4.0")
    for reg, f in (("testpypi", z3), (target.registry, z3), (target.registry, z4)):
        publish(daemon, reg, f).expect(EXIT["published"], "published")
    assert "aos_sdk-0.4.0.zip" not in env.testpypi.files()
    for v in ("0.1.0", "0.2.0", "0.3.0"):
        for server in (env.testpypi, target.server):
            assert any(f"-{v}" in n for n in server.files()), (v, server.files())


def test_dry_run_enqueues_nothing(daemon, tags, target):
    snap = QueueSnapshot(daemon)
    r = _reconcile(daemon, "python-sdk", dry_run=True)
    snap.assert_unchanged("reconcile --dry-run")
    actions = {t["version"]: (t["action"], t["missing"]) for t in r.json["tags"]}
    assert actions == {v: ("published", []) for v in ("0.1.0", "0.2.0", "0.3.0")} | {
        "0.4.0": ("would-queue", ["testpypi"])} | {
        v: ("would-queue", ["testpypi", target.registry]) for v in ("0.5.0", "0.6.0")}, r
    path, form = FORM[target.kind]
    page = f"{target.server.index_url}{PY_NAME}/"
    assert path in page, page
    assert f"reconcile python-sdk: read {page} as {form}" in daemon.log_text(), \
        daemon.log_tail()


def test_webhook_job_still_queued(webhook_env, daemon, tags):
    """While the queue is drained, the webhook for the annotated tag
    python-sdk-v0.5.0 (GitHub: after = the tag object, head_commit = the
    commit) gives a job that stays queued: reconcile must see it as the
    same job."""
    daemon.ctl_json("drain")
    t = "python-sdk-v0.5.0"
    tag_obj = webhook_env.repo.tag_object(t)
    assert tag_obj != tags[t]
    jid = expect_accepted(daemon.hooks.send("github", github_push(t, tags[t], after=tag_obj)),
                          "python-sdk", t, "0.5.0", tags[t])
    job = _by_key(daemon).get(key(t, tags))
    assert job is not None and job["id"] == jid, (
        f"the webhook's job has not the key {key(t, tags)}: {jobs(daemon)}")


def test_reconcile_enqueues_exactly_the_missing(daemon, tags):
    before = _by_key(daemon)
    _reconcile(daemon, "python-sdk")
    after = _by_key(daemon)
    new = set(after) - set(before)
    # 0.5.0 is missing too, but queued already (by its webhook).
    want = {key("python-sdk-v0.4.0", tags), key("python-sdk-v0.6.0", tags)}
    assert new == want, (f"reconcile enqueued {sorted(new)}, expected {sorted(want)}"
                         f"\n(already there: {sorted(k for k in before if k)})")
    for k in new:
        j = after[k]
        assert j.get("kind") == "pipeline" and j.get("registry") == "pipeline:python-sdk", j
        assert j.get("package") == PY_NAME, j


def test_reconcile_again_enqueues_nothing(daemon, tags):
    snap = QueueSnapshot(daemon)
    _reconcile(daemon, "python-sdk")
    snap.assert_unchanged("a second reconcile")
    daemon.ctl_json("resume")


def test_reconciled_jobs_publish_and_then_nothing_is_missing(webhook_env, target, daemon,
                                                             tags):
    env = webhook_env
    by_key = _by_key(daemon)
    for t in ("python-sdk-v0.4.0", "python-sdk-v0.5.0", "python-sdk-v0.6.0"):
        expect_job(daemon, by_key[key(t, tags)]["id"], "succeeded", timeout=240)
    for v in ("0.4.0", "0.5.0", "0.6.0"):
        for server in (env.testpypi, target.server):
            names = server.files()
            assert f"aos_sdk-{v}-py3-none-any.whl" in names and f"aos_sdk-{v}.tar.gz" in names, (
                v, server.url, sorted(names))
    snap = QueueSnapshot(daemon)
    _reconcile(daemon, "python-sdk", dry_run=True)
    _reconcile(daemon, "python-sdk")
    snap.assert_unchanged("reconcile with every version on every target")


def test_reconcile_js_pipeline(webhook_env, daemon, tags):
    before = _by_key(daemon)
    _reconcile(daemon, "js-sdk")
    after = _by_key(daemon)
    new = set(after) - set(before)
    assert new == {key("js-sdk-v0.1.0", tags, "js-sdk")}, sorted(new)
    expect_job(daemon, after[key("js-sdk-v0.1.0", tags, "js-sdk")]["id"], "succeeded",
               timeout=180)
    doc = webhook_env.npm.packument(NPM_NAME)
    assert doc is not None and list(doc["versions"]) == ["0.1.0"], doc


def test_reconcile_unknown_pipeline(daemon):
    snap = QueueSnapshot(daemon)
    r = ctl_reconcile(daemon, "no-such-pipeline")
    assert r.rc != 0, f"reconcile of an unknown pipeline succeeded: {r}"
    assert "pipeline" in (r.out + r.err).lower(), r
    snap.assert_unchanged("reconcile of an unknown pipeline")


def test_reconcile_unreachable_repository(daemon):
    """The repository cannot be listed: an error, nothing enqueued."""
    snap = QueueSnapshot(daemon)
    r = ctl_reconcile(daemon, "unreachable")
    assert r.rc != 0, f"reconcile of an unreachable repository succeeded: {r}"
    assert r.json.get("ok") is False and r.json.get("error"), r
    snap.assert_unchanged("reconcile of an unreachable repository")


@pytest.mark.parametrize("isolation", ["namespaces", "off"])
def test_ls_remote_runs_in_the_build_sandbox(webhook_env, tmp_path, isolation):
    """reconcile's git talks to the remote like a checkout does: from inside
    the pipeline's build sandbox.  git is asked (GIT_TRACE in the pipeline's
    env) to write a trace to a folder of the host's /tmp: inside the
    sandbox /tmp is private, so no trace reaches the host; with
    build_isolation "off" (the control) it does."""
    trace = tmp_path / "trace"
    pipe = python_pipeline(webhook_env.repo, "trace-v*")
    pipe["env"]["GIT_TRACE"] = str(trace)
    d = webhook_env.hook_daemon({"trace": pipe}, config={"build_isolation": isolation})
    _reconcile(d, "trace", dry_run=True)
    if isolation == "off":
        assert trace.exists() and "ls-remote" in trace.read_text(), trace
    else:
        assert not trace.exists(), f"git ls-remote ran outside the sandbox: {trace.read_text()}"


def test_reconcile_new_project_behind_a_fallback(webhook_env, tags, tmp_path):
    """A target pypiserver with its fallback on (pypiserver's default)
    answers /simple/<project>/ for a project it does not hold with a 303 to
    its upstream, another origin: every tag is missing there, not an error
    (and the upstream is not asked)."""
    env = webhook_env
    srv = PypiServer(workdir=tmp_path / "pypi-fb", token=env.values["PYPI_API_TOKEN"],
                     fallback_url="https://upstream.invalid/simple/").start()
    try:
        reg = {"pypi-fb": {"type": "pypi", "url": srv.upload_url,
                           "token_key": "PYPI_API_TOKEN", "username": "__token__",
                           "index_url": srv.index_url}}
        d = env.hook_daemon({"fb": python_pipeline(env.repo, targets=["pypi-fb"])},
                            config={"registries": reg})
        assert srv.get(f"simple/{PY_NAME}/")[0] == 303
        snap = QueueSnapshot(d)
        r = _reconcile(d, "fb", dry_run=True)
        snap.assert_unchanged("reconcile --dry-run")
        out = r.out + r.err
        for v in VERSIONS:
            assert f"python-sdk-v{v}" in out, f"python-sdk-v{v} not shown as missing: {r}"
    finally:
        srv.close()

