"""Signed tag-push webhooks, end to end, one per forge format.

A real daemon with an HTTP listener and pipelines checks the signature,
commits a pipeline job (202), fetches the tagged commit from a local git
repository (file:// URL; the payload's clone URL points nowhere), builds the
fixture SDK as its release does (`python -m build` with isolation from the
wheelhouse; npm ci --offline, tsc, tsup, npm pack), verifies it in fresh
venvs / a fresh project, all in a clean environment, and
uploads to its targets in order: python-sdk to "testpypi" (a second
pypiserver), then "pypi", then "devpi" (a devpi-server: the SDK's pipeline
publishes to both PyPI kinds without a second build), js-sdk to verdaccio.
Each ends in a real `pip install` (`aos version` gives `aos-sdk <version>`,
from pypiserver and from devpi) or `npm install` (require() and import give
VERSION).

TestPyPI before PyPI: both get the same files, and testpypi's were written
before pypi's first; when the first target refuses (a wrong token, a
conflicting file already there, a server that is down), pypi receives
nothing and the job ends dead; the wrong-token and conflict cases run with
each PyPI kind as the first target (`pypi_kind`: testpypi, a pypiserver, or
devpi).

The tests share one set of servers, one repository and one daemon, and run
in file order (releases of one package run one at a time).
"""

import re
import secrets
import subprocess

import pytest

from peers.proc import free_port, sha256_file
from peers.pypiserver import PypiServer
from publish_support import (EXIT, NPM_NAME, PY_NAME, fresh_venv, make_wheel, npm_install,
                             pip_install, publish, sha512_sri, tool_env)
from webhook_support import (PY_BUILD, QueueSnapshot, expect_accepted, expect_error,
                             expect_job, gitea_push, github_push, gitlab_tag_push,
                             job_log, job_show, job_text, js_pipeline, python_pipeline,
                             uploads, wait_job)

PY_FILES = "aos_sdk-{v}-py3-none-any.whl", "aos_sdk-{v}.tar.gz"
# The python-sdk pipeline's targets, in order: both PyPI kinds.
PY_TARGETS = ("testpypi", "pypi", "devpi")
LATE_PORT = free_port()
# The first target that refuses, per PyPI kind: its registry, and the
# (tag, version, pipeline) of the wrong-token and the conflict case.
FIRST = {
    "pypiserver": {"registry": "testpypi",
                   "badtoken": ("badtoken-py-v0.4.0", "0.4.0", "py-badtoken"),
                   "conflict": ("conflict-py-v0.5.0", "0.5.0", "py-conflict")},
    "devpi": {"registry": "devpi",
              "badtoken": ("badtoken-devpi-v0.12.0", "0.12.0", "devpi-badtoken"),
              "conflict": ("conflict-devpi-v0.13.0", "0.13.0", "devpi-conflict")},
}


def py_files(v):
    return [f.format(v=v) for f in PY_FILES]


@pytest.fixture(scope="module")
def releases(webhook_env):
    """Commits with both SDKs at each version, and their tags: {tag: commit}."""
    repo = webhook_env.repo
    out = {}
    for v, tags in (("0.1.0", [("python-sdk-v0.1.0", True), ("js-sdk-v0.1.0", False)]),
                    ("0.2.0", [("python-sdk-v0.2.0", False), ("js-sdk-v0.2.0", False)]),
                    ("0.4.0", [("badtoken-py-v0.4.0", False)]),
                    ("0.5.0", [("conflict-py-v0.5.0", False)]),
                    ("0.6.0", [("down-py-v0.6.0", False)]),
                    ("0.7.0", [("reload-py-v0.7.0", False)]),
                    ("0.8.0", [("reload2-py-v0.8.0", False)]),
                    ("0.9.0", [("python-sdk-v0.9.0", False)]),
                    ("0.10.0", [("python-sdk-v0.10.0", False)]),
                    ("0.1.1", [("js-sdk-v0.1.1", False)]),
                    ("0.11.0", [("late-py-v0.11.0", False)]),
                    ("0.12.0", [("badtoken-devpi-v0.12.0", False)]),
                    ("0.13.0", [("conflict-devpi-v0.13.0", False)])):
        sha = repo.commit_release(v)
        for tag, annotated in tags:
            assert repo.tag(tag, sha, annotated=annotated) == sha
            out[tag] = sha
    return out


@pytest.fixture(scope="module")
def daemon(webhook_env, releases):
    env, repo = webhook_env, webhook_env.repo
    env.pypi_target("devpi")  # up first: the daemon has the registry "devpi"
    count_dir = env.workdir / "counts"
    count_dir.mkdir()
    env.set_secret(TEST_PYPI_WRONG_TOKEN="pypi-" + secrets.token_urlsafe(32),
                   DEVPI_WRONG_TOKEN="devpi-" + secrets.token_urlsafe(24))
    regs = {
        "testpypi-wrongtoken": {"type": "pypi", "url": env.testpypi.upload_url,
                                "token_key": "TEST_PYPI_WRONG_TOKEN",
                                "index_url": env.testpypi.index_url},
        "devpi-wrongtoken": {**env.registries()["devpi"], "token_key": "DEVPI_WRONG_TOKEN"},
        # Nothing listens there: every try fails to connect.
        "testpypi-down": {"type": "pypi", "url": f"http://127.0.0.1:{free_port()}/",
                          "token_key": "TEST_PYPI_API_TOKEN"},
        # A registry that comes up only later in the module (LATE_PORT).
        "pypi-late": {"type": "pypi", "url": f"http://127.0.0.1:{LATE_PORT}/",
                      "token_key": "PYPI_API_TOKEN",
                      "index_url": f"http://127.0.0.1:{LATE_PORT}/simple/"},
    }
    pipelines = {
        "python-sdk": python_pipeline(repo, targets=PY_TARGETS),
        "js-sdk": js_pipeline(repo),
        # (The pipelines about targets skip the verification: its own is
        # the python-sdk pipeline's.)
        "py-badtoken": python_pipeline(repo, "badtoken-py-v*",
                                       targets=["testpypi-wrongtoken", "pypi"], verify=None),
        "py-conflict": python_pipeline(repo, "conflict-py-v*", verify=None),
        # The same two with devpi as the first target.
        "devpi-badtoken": python_pipeline(repo, "badtoken-devpi-v*",
                                          targets=["devpi-wrongtoken", "pypi"], verify=None),
        "devpi-conflict": python_pipeline(repo, "conflict-devpi-v*", targets=["devpi", "pypi"],
                                          verify=None),
        # Counts its builds: a retry after an upload failure must not build again.
        "py-down": python_pipeline(repo, "down-py-v*", targets=["testpypi-down", "pypi"],
                                   build=['echo build >> "$COUNT_DIR/py-down.builds"', *PY_BUILD],
                                   env={"COUNT_DIR": str(count_dir)}, writable=[str(count_dir)],
                                   verify=None),
        "py-late": python_pipeline(repo, "late-py-v*", targets=["testpypi", "pypi-late"],
                                   verify=None),
        "py-reload": python_pipeline(repo, "reload-py-v*", targets=["testpypi-down"],
                                     verify=None),
        "py-reload2": python_pipeline(repo, "reload2-py-v*", targets=["testpypi-down", "pypi"],
                                      verify=None),
    }
    return env.hook_daemon(pipelines, config={"registries": regs})


def _files_of(server, version):
    return {n: h for n, h in server.files().items() if f"-{version}" in n}


def _path_on(server, name):
    found = [p for p in server.packages.rglob(name) if p.is_file()]
    assert len(found) == 1, f"{name} on {server.url}: {found}"
    return found[0]


def _pip_check(env, version, tmp, server=None):
    """pip installs aos-sdk==version from this server (default "pypi"; the
    wheel there, checked by hash) in a fresh venv; `aos version` names the
    version."""
    server = server or env.pypi
    wheel = py_files(version)[0]
    digest = server.files()[wheel]
    venv = fresh_venv(tmp / "venv")
    p = pip_install(venv, server.index_url_with_auth, f"{PY_NAME}=={version}",
                    hashes=[digest])
    assert wheel in p.stdout, f"pip did not install {wheel}: {p.stdout}"
    out = subprocess.run([str(venv / "bin" / "aos"), "version"], capture_output=True,
                         text=True, timeout=30, env=tool_env(tmp / "home-run"))
    assert out.returncode == 0 and out.stdout.strip() == f"aos-sdk {version}", (
        f"`aos version`: rc={out.returncode} {out.stdout!r} {out.stderr!r}")


def _npm_check(env, version, tmp):
    """npm installs @agenticverz/aos-sdk@version from verdaccio in a fresh
    folder; require() and import give VERSION; the lock file's integrity is
    the stored tarball's."""
    app = tmp / "app"
    npm_install(app, env.npm.url, f"{NPM_NAME}@{version}")
    run_env = tool_env(tmp / "home-node")
    for argv in (["node", "-e", f"console.log(require('{NPM_NAME}').VERSION)"],
                 ["node", "--input-type=module", "-e",
                  f"import {{ VERSION }} from '{NPM_NAME}'; console.log(VERSION)"]):
        p = subprocess.run(argv, cwd=app, capture_output=True, text=True, timeout=30,
                           env=run_env)
        assert p.returncode == 0 and p.stdout.strip() == version, (
            f"{argv[-1]}: rc={p.returncode} {p.stdout!r} {p.stderr!r}")
    import json
    lock = json.loads((app / "package-lock.json").read_text())
    entry = lock["packages"][f"node_modules/{NPM_NAME}"]
    doc = env.npm.packument(NPM_NAME)
    assert entry["version"] == version, entry
    assert entry["integrity"] == doc["versions"][version]["dist"]["integrity"], (entry, doc)


def _check_pipeline_job(d, jid, pipeline, package):
    job = job_show(d, jid)["job"]
    assert job.get("kind") == "pipeline", job
    assert job.get("registry") == f"pipeline:{pipeline}", job
    assert job.get("package") == package, job
    return job


def _answered_first(job, forge):
    """The forge wants its answer within seconds (GitHub 10, Gitea 5): the
    daemon answers before the pipeline (clone, build, uploads) has run, so
    the job the answer names has not ended yet.  Order, not speed."""
    assert job["state"] in ("queued", "running"), (
        f"{forge} got its answer only after job {job.get('id')} ended: {job}")


def _nothing_of(env, version, where=("pypi", "testpypi", "devpi")):
    for name in where:
        server = getattr(env, name)
        got = _files_of(server, version)
        assert not got, f"{name} received {sorted(got)} for {version}"


def test_github_tag_push_testpypi_then_pypi(webhook_env, daemon, releases, tmp_path):
    env = webhook_env
    tag, version = "python-sdk-v0.1.0", "0.1.0"
    commit = releases[tag]
    tag_obj = env.repo.tag_object(tag)
    assert tag_obj != commit, "the tag should be annotated (after = the tag object)"
    r = daemon.hooks.send("github", github_push(tag, commit, after=tag_obj))
    jid = expect_accepted(r, "python-sdk", tag, version, commit)
    _answered_first(_check_pipeline_job(daemon, jid, "python-sdk", PY_NAME), "GitHub")
    expect_job(daemon, jid, "succeeded", timeout=240)

    names = py_files(version)
    on_test, on_pypi = _files_of(env.testpypi, version), _files_of(env.pypi, version)
    assert sorted(on_test) == sorted(names), f"testpypi holds {on_test}"
    assert on_pypi == on_test, f"pypi {on_pypi} != testpypi {on_test}"
    on_devpi = _files_of(env.devpi, version)
    assert on_devpi == on_test, f"devpi {on_devpi} != testpypi {on_test}"
    want = {f"{t}/{n}": "done" for t in PY_TARGETS for n in names}
    assert uploads(daemon, jid) == want, f"uploads {uploads(daemon, jid)} != {want}"

    # testpypi's files were complete before pypi received its first byte.
    t_last = max(_path_on(env.testpypi, n).stat().st_mtime_ns for n in names)
    p_first = min(_path_on(env.pypi, n).stat().st_mtime_ns for n in names)
    assert t_last <= p_first, (f"pypi got a file {(t_last - p_first) / 1e6:.1f} ms before "
                               f"testpypi's last one was written")
    # And the job log says so, where it names the uploads.
    lines = job_log(daemon, jid)
    assert _published_by_target(lines) == [(t, sorted(names)) for t in PY_TARGETS], (
        f"the log does not show the uploads target by target {PY_TARGETS}: {lines}")
    _pip_check(env, version, tmp_path / "pypi")
    _pip_check(env, version, tmp_path / "devpi", env.devpi)


def _published_by_target(lines):
    """[(target, sorted files published)] in the order the job log's
    "target N of M: NAME (...)" sections come."""
    out = []
    for ln in lines:
        if m := re.match(r"target \d+ of \d+: (\S+) \(", ln):
            out.append((m.group(1), []))
        elif (m := re.match(r"published: (\S+) ", ln)) and out:
            out[-1][1].append(m.group(1))
    return [(t, sorted(files)) for t, files in out]


def test_gitlab_tag_push_npm(webhook_env, daemon, releases, tmp_path):
    env = webhook_env
    tag, version = "js-sdk-v0.1.0", "0.1.0"
    commit = releases[tag]
    r = daemon.hooks.send("gitlab", gitlab_tag_push(tag, commit))
    jid = expect_accepted(r, "js-sdk", tag, version, commit)
    _check_pipeline_job(daemon, jid, "js-sdk", NPM_NAME)
    expect_job(daemon, jid, "succeeded", timeout=180)
    doc = env.npm.packument(NPM_NAME)
    assert doc is not None and version in doc["versions"], doc
    assert doc["dist-tags"].get("latest") == version, doc["dist-tags"]
    assert uploads(daemon, jid) == {f"npm/agenticverz-aos-sdk-{version}.tgz": "done"}, \
        uploads(daemon, jid)
    _npm_check(env, version, tmp_path)


def test_gitea_tag_push_pypi(webhook_env, daemon, releases, tmp_path):
    """Gitea's real header set: its own X-Gitea-* and also X-GitHub-Event and
    X-Hub-Signature-256 (made with the Gitea secret): the daemon must take it
    for Gitea."""
    env = webhook_env
    tag, version = "python-sdk-v0.2.0", "0.2.0"
    commit = releases[tag]
    r = daemon.hooks.send("gitea", gitea_push(tag, commit))
    jid = expect_accepted(r, "python-sdk", tag, version, commit)
    _answered_first(job_show(daemon, jid)["job"], "Gitea")
    expect_job(daemon, jid, "succeeded", timeout=240)
    assert _files_of(env.testpypi, version) == _files_of(env.pypi, version)
    assert _files_of(env.devpi, version) == _files_of(env.pypi, version)
    assert sorted(_files_of(env.pypi, version)) == sorted(py_files(version))
    _pip_check(env, version, tmp_path)


def test_forgejo_tag_push_npm(webhook_env, daemon, releases, tmp_path):
    """Forgejo's own headers only (X-Forgejo-Event, X-Forgejo-Signature)."""
    env = webhook_env
    tag, version = "js-sdk-v0.2.0", "0.2.0"
    commit = releases[tag]
    r = daemon.hooks.send("gitea", gitea_push(tag, commit), forgejo=True)
    jid = expect_accepted(r, "js-sdk", tag, version, commit)
    expect_job(daemon, jid, "succeeded", timeout=180)
    doc = env.npm.packument(NPM_NAME)
    assert sorted(doc["versions"]) == ["0.1.0", "0.2.0"], doc["versions"].keys()
    assert doc["dist-tags"].get("latest") == version, doc["dist-tags"]
    _npm_check(env, version, tmp_path)


def _dead_first_target(daemon, env, tag, pipeline, version, commit, words):
    before_pypi = env.pypi.files()
    r = daemon.hooks.send("github", github_push(tag, commit))
    jid = expect_accepted(r, pipeline, tag, version, commit)
    job = expect_job(daemon, jid, "dead", timeout=180)
    text = job_text(daemon, jid).lower()
    assert any(w in text for w in words), (
        f"job {jid}'s log gives no reason naming any of {words}:\n{text}")
    assert env.pypi.files() == before_pypi, (
        f"pypi changed although the first target failed: {before_pypi} -> {env.pypi.files()}")
    for name, state in uploads(daemon, jid).items():
        if name.startswith("pypi/"):
            assert state not in ("done", "sending"), f"{name} is {state}"
    return jid, job


def _first_server(env, kind):
    """The server behind FIRST[kind]'s registry: testpypi (a pypiserver) or
    devpi."""
    return env.testpypi if kind == "pypiserver" else env.pypi_target(kind).server


def test_first_target_wrong_token_pypi_gets_nothing(webhook_env, daemon, releases, pypi_kind):
    """The first target refuses the password (pypiserver 403, devpi 401)."""
    tag, version, pipeline = FIRST[pypi_kind]["badtoken"]
    _dead_first_target(daemon, webhook_env, tag, pipeline, version, releases[tag],
                       ("auth", "401", "403", "token", "refused", "denied"))
    _nothing_of(webhook_env, version)


def test_first_target_conflict_pypi_gets_nothing(webhook_env, daemon, releases, pypi_kind,
                                                 tmp_path):
    """The first target holds another file under the name (pypiserver 409,
    devpi 409 "already exists in non-volatile index")."""
    env = webhook_env
    tag, version, pipeline = FIRST[pypi_kind]["conflict"]
    first, server = FIRST[pypi_kind]["registry"], _first_server(env, pypi_kind)
    # Another wheel already holds the name on the first target.
    other = make_wheel(tmp_path, PY_NAME, version, files={
        "aos_sdk/__init__.py": f'__version__ = "{version}"  # not ours\n'.encode()})
    publish(daemon, first, other).expect(EXIT["published"], "published")
    held = server.files()[other.name]
    assert held == sha256_file(other)
    _dead_first_target(daemon, env, tag, pipeline, version, releases[tag],
                       ("conflict", "exists", "differ"))
    assert server.files()[other.name] == held, f"{first}'s file was replaced"
    _nothing_of(env, version, where=("pypi",))


def test_first_target_down_pypi_gets_nothing(webhook_env, daemon, releases):
    tag, version = "down-py-v0.6.0", "0.6.0"
    jid, job = _dead_first_target(daemon, webhook_env, tag, "py-down", version, releases[tag],
                                  ("connect", "refused", "unavailable", "unreachable",
                                   "couldn't", "could not"))
    assert job.get("attempts", 0) >= 2, f"the job was not retried: {job}"
    _nothing_of(webhook_env, version)
    builds = (webhook_env.workdir / "counts" / "py-down.builds").read_text().splitlines()
    assert len(builds) == 1, (f"built {len(builds)} times in {job['attempts']} runs: the "
                              f"recorded artifacts should be uploaded without a rebuild")


def _recorded_sha256(daemon, filename: str) -> set[str]:
    """The sha256 digests the jobs recorded for a done upload named filename
    (<target>/<file>): the digest of the file the pipeline built."""
    from queue_support import jobs
    return {u["sha256"] for j in jobs(daemon)
            for u in job_show(daemon, j["id"]).get("uploads", [])
            if u["filename"] == filename and u["state"] == "done"}


def test_npm_tarball_is_the_built_one(webhook_env, daemon):
    """The tarballs verdaccio serves are the files the pipeline built: their
    sha256 is the one the job recorded for its upload (and the packument's
    integrity names them)."""
    env = webhook_env
    doc = env.npm.packument(NPM_NAME)
    stored = env.npm.tarballs()
    assert len(stored) == 2, stored
    for v in ("0.1.0", "0.2.0"):
        p = env.workdir / f"back-{v}.tgz"
        p.write_bytes(env.npm.fetch_tarball(NPM_NAME, v))
        built = _recorded_sha256(daemon, f"npm/agenticverz-aos-sdk-{v}.tgz")
        assert built == {sha256_file(p)}, (f"{v}: verdaccio serves sha256 {sha256_file(p)}, "
                                           f"the job built {built or 'nothing recorded'}")
        assert doc["versions"][v]["dist"]["integrity"] == sha512_sri(p)


def _reload_targets(daemon, pipeline, targets):
    daemon.config["pipelines"][pipeline]["targets"] = targets
    daemon.write_config()
    daemon.reload()


def test_reload_applies_to_a_job_not_built_yet(webhook_env, daemon, releases):
    env = webhook_env
    tag, version = "reload-py-v0.7.0", "0.7.0"
    daemon.ctl_json("drain")
    try:
        jid = expect_accepted(daemon.hooks.send("github", github_push(tag, releases[tag])),
                              "py-reload", tag, version, releases[tag])
        _reload_targets(daemon, "py-reload", ["pypi"])
    finally:
        daemon.ctl_json("resume")
    expect_job(daemon, jid, "succeeded", timeout=240)
    assert uploads(daemon, jid) == {f"pypi/{n}": "done" for n in py_files(version)}, \
        uploads(daemon, jid)
    assert sorted(_files_of(env.pypi, version)) == sorted(py_files(version))


def test_reload_keeps_the_targets_recorded_with_the_artifacts(webhook_env, daemon, releases):
    """Artifacts recorded with targets [testpypi-down, pypi]: after a reload
    that leaves only pypi, a retry still goes to testpypi-down first (and
    fails), so pypi receives nothing."""
    env = webhook_env
    tag, version = "reload2-py-v0.8.0", "0.8.0"
    jid = expect_accepted(daemon.hooks.send("github", github_push(tag, releases[tag])),
                          "py-reload2", tag, version, releases[tag])
    expect_job(daemon, jid, "dead", timeout=180)
    _reload_targets(daemon, "py-reload2", ["pypi"])
    daemon.ctl_json("job", "retry", jid)
    expect_job(daemon, jid, "dead", timeout=180)
    assert {n.split("/", 1)[0] for n in uploads(daemon, jid)} == {"testpypi-down", "pypi"}, \
        uploads(daemon, jid)
    _nothing_of(env, version)


def test_releases_of_one_package_run_one_at_a_time_in_order(webhook_env, daemon, releases):
    tags = ["python-sdk-v0.9.0", "python-sdk-v0.10.0"]
    daemon.ctl_json("drain")
    try:
        ids = [expect_accepted(daemon.hooks.send("gitlab", gitlab_tag_push(t, releases[t])),
                               "python-sdk", t, t.rsplit("v", 1)[1], releases[t]) for t in tags]
    finally:
        daemon.ctl_json("resume")
    for jid in ids:
        expect_job(daemon, jid, "succeeded", timeout=240)
    logs = [daemon.ctl_json("job", "log", jid)["lines"] for jid in ids]
    started = [min(ln["at_ms"] for ln in lg if "running" in ln["text"]) for lg in logs]
    ended = [max(ln["at_ms"] for ln in lg) for lg in logs]
    assert started[1] >= ended[0], (
        f"{tags[1]} started {ended[0] - started[1]} ms before {tags[0]} ended: "
        f"{logs}")


def test_latest_is_not_moved_down(webhook_env, daemon, releases):
    """js-sdk-v0.1.1 after 0.2.0: refused before queueing (422, no job);
    latest stays 0.2.0."""
    env = webhook_env
    tag = "js-sdk-v0.1.1"
    before = QueueSnapshot(daemon)
    err = expect_error(daemon.hooks.send("github", github_push(tag, releases[tag])), 422)
    assert 'cannot move "latest" from 0.2.0 down to 0.1.1' in err, err
    before.assert_unchanged("a release below latest")
    doc = env.npm.packument(NPM_NAME)
    assert doc["dist-tags"].get("latest") == "0.2.0", doc["dist-tags"]


def test_retry_uploads_only_what_is_missing(webhook_env, daemon, releases):
    """testpypi done, the second target down until the job is dead; the
    second registry comes up and `job retry` sends it the files, without
    building again and without sending anything to testpypi again."""
    env = webhook_env
    tag, version = "late-py-v0.11.0", "0.11.0"
    jid = expect_accepted(daemon.hooks.send("github", github_push(tag, releases[tag])),
                          "py-late", tag, version, releases[tag])
    expect_job(daemon, jid, "dead", timeout=180)
    names = py_files(version)
    assert sorted(_files_of(env.testpypi, version)) == sorted(names)
    state = uploads(daemon, jid)
    assert all(state[f"testpypi/{n}"] == "done" for n in names), state
    assert not any(state[f"pypi-late/{n}"] == "done" for n in names), state
    late = PypiServer(port=LATE_PORT, token=env.values["PYPI_API_TOKEN"],
                      workdir=env.workdir / "pypi-late")
    late.start()
    try:
        daemon.ctl_json("job", "retry", jid)
        expect_job(daemon, jid, "succeeded", timeout=180)
        assert _files_of(late, version) == _files_of(env.testpypi, version), (
            f"pypi-late {late.files()} != testpypi {_files_of(env.testpypi, version)}")
        assert uploads(daemon, jid) == {f"{t}/{n}": "done" for t in ("testpypi", "pypi-late")
                                        for n in names}, uploads(daemon, jid)
        resent = [ln for ln in env.testpypi.log_tail(100000).splitlines()
                  if "already exists" in ln and f"-{version}" in ln]
        assert not resent, f"testpypi got its files again on the retry: {resent}"
        text = job_text(daemon, jid)
        assert text.count("-m build --sdist") <= 1, f"built again on the retry:\n{text}"
    finally:
        late.stop()
