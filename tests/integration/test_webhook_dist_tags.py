"""npm dist-tags through a pipeline, decided from the tag before the job
exists (issue 10, items 1 and 3).

A real daemon, verdaccio, OpenBao and a git repository; the js-sdk fixture
built as its release does.  A pipeline without dist_tag ships a release to
`latest` and the next prerelease to a tag of its own (`beta` for
X.Y.Z-beta.1) without moving `latest`; the 202 answer names the tag.  What
can be known before queueing is refused with 422 and no job (neither in
`aos-publishctl jobs` nor in queue.db): `latest` named for a prerelease,
a release below the registry's `latest`.  A registry that cannot be read
is said so in the 202 answer; the upload checks again.

The tests share one set of servers and one daemon, and run in file order.
"""

import pytest

from peers.proc import free_port
from publish_support import NPM_NAME, npm_install
from queue_support import db_job_count
from webhook_support import (QueueSnapshot, expect_accepted, expect_error, expect_job,
                             github_push, job_ids, job_show, job_text, js_pipeline)

STABLE, BETA, BELOW = "1.0.0", "1.0.1-beta.1", "0.9.0"
LATEST_RC = "1.0.2-rc.1"


@pytest.fixture(scope="module")
def releases(webhook_env):
    """{tag: commit} for the js SDK at each version."""
    repo, out = webhook_env.repo, {}
    for v, tags in ((STABLE, ["js-v" + STABLE]), (BETA, ["js-v" + BETA]),
                    (LATEST_RC, ["jsl-v" + LATEST_RC]), (BELOW, ["js-v" + BELOW]),
                    ("2.0.0", ["jsdown-v2.0.0"])):
        sha = repo.commit_release("0.0.1", js_version=v)
        for t in tags:
            out[t] = repo.tag(t, sha)
    return out


@pytest.fixture(scope="module")
def daemon(webhook_env, releases):
    repo = webhook_env.repo
    regs = {
        # Nothing listens there: its dist-tags cannot be read.
        "npm-down": {"type": "npm", "url": f"http://127.0.0.1:{free_port()}/",
                     "token_key": "NPM_TOKEN"},
    }
    pipelines = {
        "js": js_pipeline(repo, "js-v*"),
        "js-latest": js_pipeline(repo, "jsl-v*", dist_tag="latest"),
        "js-down": js_pipeline(repo, "jsdown-v*", targets=["npm-down"]),
    }
    return webhook_env.hook_daemon(pipelines, config={"registries": regs})


def dist_tags(env) -> dict:
    doc = env.npm.packument(NPM_NAME)
    return doc["dist-tags"] if doc else {}


def accepted_tag(r, pipeline, tag, version, commit, registry="npm"):
    """The 202 answer's dist-tag decision for registry; returns (job id, it)."""
    jid = expect_accepted(r, pipeline, tag, version, commit)
    decided = {x.get("registry"): x for x in r.json.get("dist_tags") or []}
    assert registry in decided, f"the 202 answer names no dist-tag for {registry}: {r}"
    return jid, decided[registry]


def expect_refused(r, *words) -> str:
    """422 naming what was wrong (every one of words) and no job."""
    err = expect_error(r, 422)
    low = err.lower()
    missing = [w for w in words if w.lower() not in low]
    assert not missing, f"the 422 error does not say {missing}: {err!r}"
    return err


def test_release_goes_to_latest(webhook_env, daemon, releases):
    tag = "js-v" + STABLE
    jid, dec = accepted_tag(daemon.hooks.send("github", github_push(tag, releases[tag])),
                            "js", tag, STABLE, releases[tag])
    assert dec.get("dist_tag") == "latest" and dec.get("checked") is True, dec
    expect_job(daemon, jid, "succeeded", timeout=300)
    assert dist_tags(webhook_env) == {"latest": STABLE}
    shown = job_show(daemon, jid)["inputs"]["dist_tags"]
    assert shown[0]["dist_tag"] == "latest", shown


def test_prerelease_goes_to_its_own_tag(webhook_env, daemon, releases, tmp_path):
    """X.Y.(Z+1)-beta.1 through a pipeline without dist_tag: "beta" in the
    202 answer, job show and the job log; latest stays; npm install @beta
    gets it."""
    tag = "js-v" + BETA
    jid, dec = accepted_tag(daemon.hooks.send("github", github_push(tag, releases[tag])),
                            "js", tag, BETA, releases[tag])
    assert dec.get("dist_tag") == "beta" and dec.get("from") == "prerelease default", dec
    assert dec.get("latest") == STABLE, dec
    shown = job_show(daemon, jid)["inputs"]["dist_tags"]
    assert shown[0]["dist_tag"] == "beta", shown
    out = daemon.ctl("job", "show", jid).out
    assert "Dist-tag:   npm: beta (prerelease default)" in out, out
    expect_job(daemon, jid, "succeeded", timeout=300)
    assert dist_tags(webhook_env) == {"latest": STABLE, "beta": BETA}
    text = job_text(daemon, jid)
    assert "dist-tag beta (prerelease default), decided before the build" in text, text
    assert "dist-tag beta)" in text, f"the upload does not name the tag it sent:\n{text}"
    npm_install(tmp_path / "app", webhook_env.npm.url, f"{NPM_NAME}@beta")
    lock = (tmp_path / "app" / "package-lock.json").read_text()
    assert f'"version": "{BETA}"' in lock, lock[:2000]


def test_latest_named_for_a_prerelease_is_refused_before_queueing(webhook_env, daemon,
                                                                   releases):
    tag = "jsl-v" + LATEST_RC
    before, rows = QueueSnapshot(daemon), db_job_count(daemon)
    r = daemon.hooks.send("github", github_push(tag, releases[tag]))
    err = expect_refused(r, LATEST_RC, "prerelease", '"latest"',
                         "dist_tag of pipeline js-latest", '"rc"')
    assert r.json.get("registry") == "npm", r
    before.assert_unchanged("a prerelease with dist_tag latest")
    assert db_job_count(daemon) == rows, f"queue.db has a row for a refusal: {err}"
    assert dist_tags(webhook_env) == {"latest": STABLE, "beta": BETA}


def test_release_below_latest_is_refused_before_queueing(webhook_env, daemon, releases):
    tag = "js-v" + BELOW
    before, rows = QueueSnapshot(daemon), db_job_count(daemon)
    r = daemon.hooks.send("github", github_push(tag, releases[tag]))
    expect_refused(r, f'cannot move "latest" from {STABLE} down to {BELOW}',
                   "name a dist-tag explicitly")
    assert r.json.get("latest") == STABLE, r
    before.assert_unchanged("a release below latest")
    assert db_job_count(daemon) == rows
    assert dist_tags(webhook_env) == {"latest": STABLE, "beta": BETA}


def test_unreadable_registry_is_said_and_checked_at_upload(webhook_env, daemon, releases):
    """The 202 answer says the registry could not be read; the job does not
    publish blindly (its upload reads the registry again: dead, nothing
    sent)."""
    tag = "jsdown-v2.0.0"
    jid, dec = accepted_tag(daemon.hooks.send("github", github_push(tag, releases[tag])),
                            "js-down", tag, "2.0.0", releases[tag], registry="npm-down")
    assert dec.get("checked") is False and dec.get("dist_tag") == "latest", dec
    assert "could not be read" in dec.get("note", "") and "again" in dec["note"], dec
    daemon.ctl_json("job", "cancel", jid)
    assert jid in job_ids(daemon)

