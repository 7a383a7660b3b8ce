"""The sample SDKs are built the way a release builds them, and a rebuild of
one commit gives the same bytes.

- Each fixture built twice by its pipeline's own steps (publish_support's
  PY_BUILD/JS_BUILD: `python -m build` with isolation from the wheelhouse;
  npm ci --offline, tsc, tsup, npm pack), in other folders, at another time
  and under another umask, with one SOURCE_DATE_EPOCH: the wheel, the sdist
  and the npm tarball have the same sha256.  (The verification steps run on
  the first build: the wheel and sdist in fresh venvs, `aos version`; the
  tarball in a fresh project, require(), import and tsc on its types.)
- Through the daemon, as `make demo` run twice: a daemon builds and
  publishes python-sdk-v2.0.0 and js-sdk-v2.0.0; a second daemon with its
  own empty queue (a new state folder) gets the same webhooks, builds the
  same tags again, and its jobs succeed with outcome "exists" (the
  registries hold identical files), every upload with the sha256 of the
  first daemon's.

No step reaches a registry (PIP_NO_INDEX; npm --offline from the copied
cache).
"""

import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from publish_support import NPM_NAME, build_js_sdk, build_python_sdk
from webhook_support import (expect_accepted, expect_job, github_push, job_show,
                             js_pipeline, python_pipeline)

VERSION = "2.0.0"


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build_all(work, verify: bool) -> dict:
    """Both fixtures built side by side (each in its own folders under work;
    one umask, the caller's, for both)."""
    with ThreadPoolExecutor(2) as ex:
        py = ex.submit(build_python_sdk, VERSION, work / "out", work, verify=verify)
        js = ex.submit(build_js_sdk, VERSION, work / "out", work, verify=verify)
        wheel, sdist = py.result()
        tgz = js.result()
    return {p.name: sha256(p) for p in (wheel, sdist, tgz)}


def test_fixtures_rebuild_byte_for_byte(tmp_path):
    first = _build_all(tmp_path / "one", verify=True)
    # Later (other file times in the rendered sources), elsewhere, another umask.
    time.sleep(1.1)
    old = os.umask(0o002)
    try:
        second = _build_all(tmp_path / "two-elsewhere", verify=False)
    finally:
        os.umask(old)
    assert sorted(first) == sorted([f"aos_sdk-{VERSION}-py3-none-any.whl",
                                    f"aos_sdk-{VERSION}.tar.gz",
                                    f"agenticverz-aos-sdk-{VERSION}.tgz"]), first
    differ = {n: (first[n], second.get(n)) for n in first if first[n] != second.get(n)}
    assert not differ, f"a rebuild of the same sources differs (first, second sha256): {differ}"


@pytest.fixture(scope="module")
def tags(webhook_env):
    repo = webhook_env.repo
    commit = repo.commit_release(VERSION)
    for t in (f"python-sdk-v{VERSION}", f"js-sdk-v{VERSION}"):
        repo.tag(t, commit)
    return commit


def _release(env, tags_commit):
    """A new daemon (own state folder, empty queue) releasing both tags;
    returns {pipeline: (job's final answer, {upload: sha256})}."""
    repo = env.repo
    d = env.hook_daemon({"python-sdk": python_pipeline(repo, targets=["pypi"]),
                         "js-sdk": js_pipeline(repo)})
    # Both tags pushed before either job is waited for: the two pipelines
    # (registries pipeline:python-sdk and pipeline:js-sdk, other packages)
    # build side by side.
    jids = {}
    for pipeline in ("python-sdk", "js-sdk"):
        tag = f"{pipeline}-v{VERSION}"
        jids[pipeline] = expect_accepted(d.hooks.send("github", github_push(tag, tags_commit)),
                                         pipeline, tag, VERSION, tags_commit)
    out = {}
    for pipeline, jid in jids.items():
        expect_job(d, jid, "succeeded", timeout=300)
        r = d.ctl("job", "wait", jid, json_out=True, timeout=30)
        final = json.loads(r.out.strip().splitlines()[-1])
        ups = {u["filename"]: u["sha256"] for u in job_show(d, jid)["uploads"]}
        out[pipeline] = (final, ups)
    d.stop(expect_rc=0)
    return out


def test_second_daemon_rebuilds_and_finds_everything_published(webhook_env, tags):
    env = webhook_env
    first = _release(env, tags)
    second = _release(env, tags)
    for pipeline, files in (("python-sdk", 2), ("js-sdk", 1)):
        (f1, up1), (f2, up2) = first[pipeline], second[pipeline]
        assert f1.get("outcome") == "published", f"first {pipeline} release: {f1}"
        assert f2.get("outcome") == "exists", (
            f"second {pipeline} release of the same commit: {f2} (first: {f1})")
        assert len(up1) == files and up1 == up2, (
            f"{pipeline}: the rebuild uploaded other bytes: first {up1}, second {up2}")
    held = {n: h for n, h in env.pypi.files().items() if f"-{VERSION}" in n}
    assert held == {n.split("/", 1)[1]: h for n, h in first["python-sdk"][1].items()}, held
    doc = env.npm.packument(NPM_NAME)
    assert list(doc["versions"]) == [VERSION], doc["versions"].keys()
