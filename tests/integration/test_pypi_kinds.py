"""Publishing to both PyPI implementations of the tests, pypiserver and
devpi-server, through the daemon: a new file, the same file again
("exists"), a different file under a published name (a conflict naming
both sha256 digests, nothing changed), a publish of which some files are
there already, a dry run that tells which are, and a wrong password.

The two answer differently (docs/operations.md, "Registry kinds"):
pypiserver 409 for any file it has and HTML simple pages only; devpi 200
("Upload of identical file") for the same file, 409 for a different one,
PEP 691 JSON simple pages under +simple/.  The daemon's outcomes are the
same on both, and it reads devpi's pages as JSON.
"""

from __future__ import annotations

import re

import pytest

from publish_support import EXIT, make_sdist, make_wheel, publish, sha256_file

FORM = {"pypiserver": "PEP 503 HTML", "devpi": "PEP 691 JSON"}


@pytest.fixture
def target(publish_env, pypi_kind):
    return publish_env.pypi_target(pypi_kind)


@pytest.fixture
def daemon(publish_env, target):
    """A daemon made after the target exists (so it has its registry)."""
    d = publish_env.daemon()
    yield d
    d.stop()


def _name(kind: str, what: str) -> str:
    return f"aos-kinds-{what}-{kind}"


def test_publish_again_and_conflict(publish_env, target, daemon, tmp_path):
    name = _name(target.kind, "pub")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    whl = make_wheel(tmp_path / "a", name, "1.0.0")
    sd = make_sdist(tmp_path / "a", name, "1.0.0")
    r = publish(daemon, target.registry, whl, sd).expect(EXIT["published"], "published")
    files = target.server.files()
    assert files.get(whl.name) == sha256_file(whl) and files.get(sd.name) == \
        sha256_file(sd), files

    # The same files again: "exists" on both kinds, nothing changes.
    before = publish_env.snapshot()
    r = publish(daemon, target.registry, whl, sd).expect(EXIT["exists"], "exists")
    for f in (whl, sd):
        res = r.result_for(f)
        assert res.get("outcome") == "exists", r
    assert "same sha256" in r.text, r
    publish_env.assert_unchanged(before, f"re-publishing identical files to {target.kind}")
    assert re.search(rf"read \S+/{name}/ as {FORM[target.kind]}", daemon.log_text()), \
        daemon.log_tail()

    # A different wheel under the same file name: a conflict naming both.
    other = make_wheel(tmp_path / "b", name, "1.0.0",
                       files={f"{name.replace('-', '_')}/other.py": b"OTHER = 1\n"})
    assert other.name == whl.name and sha256_file(other) != sha256_file(whl)
    r = publish(daemon, target.registry, other).expect(EXIT["conflict"], "conflict")
    assert r.result_for(other).get("outcome") == "conflict", r
    assert sha256_file(other) in r.text and sha256_file(whl) in r.text, r
    publish_env.assert_unchanged(before, f"a conflicting wheel on {target.kind}")


def test_partly_published_and_dry_run(publish_env, target, daemon, tmp_path):
    name = _name(target.kind, "part")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = make_wheel(tmp_path / "a", name, "1.0.0")
    b = make_wheel(tmp_path / "b", name, "1.0.1")
    publish(daemon, target.registry, a).expect(EXIT["published"], "published")

    # A dry run reads the index: a is there (no-op), b would be sent.
    before = publish_env.snapshot()
    r = publish(daemon, target.registry, a, b, dry_run=True).expect(
        EXIT["published"], "dry-run")
    assert "same sha256" in r.text, r
    publish_env.assert_unchanged(before, "a dry run")

    r = publish(daemon, target.registry, a, b).expect(EXIT["published"], "published")
    assert r.result_for(a).get("outcome") == "exists", r
    assert r.result_for(b).get("outcome") == "published", r
    files = target.server.files()
    assert files.get(a.name) == sha256_file(a) and files.get(b.name) == sha256_file(b), \
        files


def test_wrong_password_is_auth(publish_env, target, tmp_path):
    """Both refuse a wrong password (401): the daemon refreshes from Vault
    once, then says "auth" and how to put a valid token there."""
    cfg = {"registries": {"wrong": target.registry_via(target.server.url)
                          | {"token_key": "TEST_PYPI_API_TOKEN"}}}
    d = publish_env.daemon(config=cfg)
    try:
        before = publish_env.snapshot()
        whl = make_wheel(tmp_path, _name(target.kind, "auth"), "1.0.0")
        r = publish(d, "wrong", whl).expect(EXIT["auth"], "auth")
        assert "rotate_secret.sh" in r.text and "TEST_PYPI_API_TOKEN" in r.text, r
        assert publish_env.values["TEST_PYPI_API_TOKEN"] not in r.text
        publish_env.assert_unchanged(before, "a refused token")
    finally:
        d.stop()
