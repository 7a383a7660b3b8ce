"""Bad artifacts and requests are refused before anything is sent.

Every case exits 8 with a message naming the file and the problem, with and
without --dry-run, and the registries (pypiserver's folder, verdaccio's
storage) are unchanged afterwards.  Also: one bad file among good ones stops
them all, --version must match, an artifact must suit the registry's type,
and npm's dist-tag rules (a prerelease goes to its own tag, never `latest`;
`latest` never moves down by default), checked before anything is queued."""

import os
import re
from pathlib import Path

import pytest

from publish_support import (EXIT, NPM_NAME, PY_NAME, core_metadata, make_npm,
                             make_sdist, make_wheel, npm_filename, npm_members,
                             package_json, publish, sdist_members, sha512_sri,
                             wheel_filename, wheel_members, write_zip)
from queue_support import db_job_count, jobs

V = "1.0"
NV = "1.0.0"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def daemon(publish_env):
    return publish_env.daemon()


# -- the cases: (registry, builder(folder) -> path, what the message says) ---
def _truncate(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * fraction)])
    return path


def wheel_not_archive(d):
    p = d / wheel_filename(PY_NAME, V)
    p.write_bytes(os.urandom(8192))
    return p


def sdist_not_archive(d):
    p = d / f"aos_sdk-{V}.tar.gz"
    p.write_text("this is not a tarball\n" * 200)
    return p


def wheel_truncated(d):
    files = {"aos_sdk/__init__.py": b"", "aos_sdk/data.bin": os.urandom(256 * 1024)}
    p = write_zip(d / wheel_filename(PY_NAME, V), wheel_members(PY_NAME, V, files=files),
                  stored=True)
    return _truncate(p, 0.6)


def sdist_truncated(d):
    extra = [(f"aos_sdk-{V}/data.bin", os.urandom(256 * 1024))]
    return _truncate(make_sdist(d, PY_NAME, V, extra=extra), 0.5)


def wheel_no_metadata(d):
    members = [(n, b) for n, b in wheel_members(PY_NAME, V) if not n.endswith("/METADATA")]
    return write_zip(d / wheel_filename(PY_NAME, V), members)


def sdist_no_pkg_info(d):
    members = [(n, b) for n, b in sdist_members(PY_NAME, V) if not n.endswith("/PKG-INFO")]
    return make_sdist(d, PY_NAME, V, members=members)


def wheel_two_metadata(d):
    members = wheel_members(PY_NAME, V)
    members.insert(0, (f"aos_sdk_extra-{V}.dist-info/METADATA", core_metadata(PY_NAME, V)))
    return write_zip(d / wheel_filename(PY_NAME, V), members)


def sdist_two_pkg_info(d):
    members = sdist_members(PY_NAME, V)
    members.append((f"aos_sdk-{V}/PKG-INFO", core_metadata(PY_NAME, V)))
    return make_sdist(d, PY_NAME, V, members=members)


def wheel_oversized_metadata(d):
    big = core_metadata(PY_NAME, V, body="x" * 70 + "\n") + (("y" * 99 + "\n") * 11000).encode()
    assert len(big) > MIB
    return make_wheel(d, PY_NAME, V, metadata=big)


def sdist_oversized_pkg_info(d):
    big = core_metadata(PY_NAME, V) + (("y" * 99 + "\n") * 11000).encode()
    return make_sdist(d, PY_NAME, V, pkg_info=big)


def wheel_path_escape(d):
    members = wheel_members(PY_NAME, V)
    members.insert(0, ("../x", b"escaped\n"))
    return write_zip(d / wheel_filename(PY_NAME, V), members)


def wheel_absolute_path(d):
    members = wheel_members(PY_NAME, V)
    members.insert(0, ("/tmp/aos-escaped", b"escaped\n"))
    return write_zip(d / wheel_filename(PY_NAME, V), members)


def sdist_path_escape(d):
    return make_sdist(d, PY_NAME, V, extra=[(f"aos_sdk-{V}/../../x", b"escaped\n")])


def wheel_invalid_utf8(d):
    meta = core_metadata(PY_NAME, V, summary="bad @@ bytes").replace(b"@@", b"\xff\xfe")
    assert b"\xff\xfe" in meta
    return make_wheel(d, PY_NAME, V, metadata=meta)


def wheel_name_mismatch(d):
    return make_wheel(d, PY_NAME, V, metadata=core_metadata("other-sdk", V))


def wheel_version_mismatch(d):
    return make_wheel(d, PY_NAME, V, metadata=core_metadata(PY_NAME, "1.1"))


def sdist_name_mismatch(d):
    return make_sdist(d, PY_NAME, V, pkg_info=core_metadata("other-sdk", V))


def sdist_version_mismatch(d):
    return make_sdist(d, PY_NAME, V, pkg_info=core_metadata(PY_NAME, "1.1"))


def npm_on_pypi(d):
    return make_npm(d, NPM_NAME, NV)


def wheel_on_npm(d):
    return make_wheel(d, PY_NAME, V)


def npm_not_archive(d):
    p = d / npm_filename(NPM_NAME, NV)
    p.write_bytes(os.urandom(8192))
    return p


def npm_truncated(d):
    extra = [("package/data.bin", os.urandom(256 * 1024))]
    return _truncate(make_npm(d, NPM_NAME, NV, members=npm_members(NPM_NAME, NV, extra=extra)),
                     0.5)


def npm_no_package_json(d):
    members = [(n, b) for n, b in npm_members(NPM_NAME, NV) if not n.endswith("package.json")]
    return make_npm(d, NPM_NAME, NV, members=members)


def npm_two_package_json(d):
    members = npm_members(NPM_NAME, NV)
    members.append(("package/package.json", package_json(NPM_NAME, NV)))
    return make_npm(d, NPM_NAME, NV, members=members)


def npm_oversized_package_json(d):
    pkg = package_json(NPM_NAME, NV, readme="r" * (MIB + 1000))
    return make_npm(d, NPM_NAME, NV, pkg=pkg)


def npm_path_escape(d):
    return make_npm(d, NPM_NAME, NV, members=npm_members(
        NPM_NAME, NV, extra=[("package/../../x", b"escaped\n")]))


def npm_two_top_folders(d):
    # npm strips one component from every entry (pacote, strip: 1), so two
    # top folders would be merged on install: refused as ambiguous.
    return make_npm(d, NPM_NAME, NV, members=npm_members(
        NPM_NAME, NV, extra=[("other/index.js", b"1\n")]))


def npm_top_level_file(d):
    # A file outside any top folder: npm's extraction drops it.
    return make_npm(d, NPM_NAME, NV, members=npm_members(
        NPM_NAME, NV, extra=[("README.md", b"read me\n")]))


def npm_dot_top_package(d):
    # "./package/package.json": npm strips ".", so package.json would land
    # in package/, not at the package's root.
    return make_npm(d, NPM_NAME, NV, members=[
        ("./package/package.json", package_json(NPM_NAME, NV))])


def npm_invalid_json(d):
    return make_npm(d, NPM_NAME, NV, pkg=b'{"name": "@agenticverz/aos-sdk", "version": ')


def npm_invalid_utf8(d):
    pkg = package_json(NPM_NAME, NV, description="bad @@ bytes").replace(b"@@", b"\xff\xfe")
    assert b"\xff\xfe" in pkg
    return make_npm(d, NPM_NAME, NV, pkg=pkg)


def npm_name_mismatch(d):
    return make_npm(d, NPM_NAME, NV, pkg=package_json("@agenticverz/other-sdk", NV))


def npm_version_mismatch(d):
    return make_npm(d, NPM_NAME, NV, pkg=package_json(NPM_NAME, "1.0.1"))


NOT_ARCHIVE = r"archive|format|unrecogni[sz]ed|gzip|zip"
TRUNCATED = r"truncat|unexpected end|premature|incomplete"
NO_META = r"metadata|PKG-INFO|package\.json|METADATA"
TWO_META = r"two|duplicate|more than one|multiple|twice"
OVERSIZED = r"large|size|limit|exceed|too (big|long)|bytes|MiB"
ESCAPE = r"escap|outside|unsafe|\.\./|absolute"
UTF8 = r"UTF-?8|encoding"
JSON = r"JSON"
NAME = r"name"
VERSION = r"version"
KIND = r"wheel|sdist|npm|tarball|registry|type|kind"
TOP = r"top folder"

CASES = [
    ("pypi", wheel_not_archive, NOT_ARCHIVE),
    ("pypi", sdist_not_archive, NOT_ARCHIVE),
    ("pypi", wheel_truncated, TRUNCATED),
    ("pypi", sdist_truncated, TRUNCATED),
    ("pypi", wheel_no_metadata, NO_META),
    ("pypi", sdist_no_pkg_info, NO_META),
    ("pypi", wheel_two_metadata, TWO_META),
    ("pypi", sdist_two_pkg_info, TWO_META),
    ("pypi", wheel_oversized_metadata, OVERSIZED),
    ("pypi", sdist_oversized_pkg_info, OVERSIZED),
    ("pypi", wheel_path_escape, ESCAPE),
    ("pypi", wheel_absolute_path, ESCAPE),
    ("pypi", sdist_path_escape, ESCAPE),
    ("pypi", wheel_invalid_utf8, UTF8),
    ("pypi", wheel_name_mismatch, NAME),
    ("pypi", wheel_version_mismatch, VERSION),
    ("pypi", sdist_name_mismatch, NAME),
    ("pypi", sdist_version_mismatch, VERSION),
    ("pypi", npm_on_pypi, KIND),
    ("npm", wheel_on_npm, KIND),
    ("npm", npm_not_archive, NOT_ARCHIVE),
    ("npm", npm_truncated, TRUNCATED),
    ("npm", npm_no_package_json, NO_META),
    ("npm", npm_two_package_json, TWO_META),
    ("npm", npm_oversized_package_json, OVERSIZED),
    ("npm", npm_path_escape, ESCAPE),
    ("npm", npm_two_top_folders, TOP),
    ("npm", npm_top_level_file, TOP),
    ("npm", npm_dot_top_package, NO_META),
    ("npm", npm_invalid_json, JSON),
    ("npm", npm_invalid_utf8, UTF8),
    ("npm", npm_name_mismatch, NAME),
    ("npm", npm_version_mismatch, VERSION),
]


def _messages(r) -> list[str]:
    """The error and per-file messages of a run (final line and result
    events), plus stderr lines."""
    out = []
    if r.lines:
        f = r.lines[-1]
        out.append(str(f.get("error") or ""))
        out += [str(x.get("message") or "") for x in f.get("results", [])]
        out += [str(e.get("message") or "") for e in r.events("result")]
    out += r.err.splitlines()
    return [m for m in out if m]


def assert_clear_message(r, path: Path, pattern: str):
    msgs = _messages(r)
    good = [m for m in msgs if path.name in m and re.search(pattern, m, re.I)]
    assert good, (f"no message names {path.name} and says /{pattern}/: {msgs}\n{r}")


def assert_nothing_sent(r, path: Path):
    assert not r.events("progress"), f"{path.name}: bytes were sent: {r}"
    assert not [e for e in r.events("result") if e.get("outcome") == "published"], r


@pytest.mark.parametrize("registry,build,pattern", CASES,
                         ids=[c[1].__name__ for c in CASES])
def test_bad_artifact(publish_env, daemon, tmp_path, registry, build, pattern):
    path = build(tmp_path)
    before = publish_env.snapshot()
    doc_before = publish_env.npm.packument(NPM_NAME)
    for dry in (False, True):
        r = publish(daemon, registry, path, dry_run=dry).expect(EXIT["invalid"], "invalid")
        assert_clear_message(r, path, pattern)
        assert_nothing_sent(r, path)
        publish_env.assert_unchanged(before, f"{path.name} (dry_run={dry})")
    assert publish_env.npm.packument(NPM_NAME) == doc_before, f"{NPM_NAME} changed"
    # Plain output says it too.
    r = publish(daemon, registry, path, json_out=False)
    assert r.rc == EXIT["invalid"], r
    assert path.name in r.text, f"plain output does not name {path.name}: {r}"
    publish_env.assert_unchanged(before, path.name)
    assert daemon.alive, "the daemon died"


def test_one_bad_file_stops_all(publish_env, daemon, tmp_path):
    before = publish_env.snapshot()
    good = make_wheel(tmp_path, PY_NAME, "2.0")
    good_sd = make_sdist(tmp_path, PY_NAME, "2.0")
    (tmp_path / "bad").mkdir()
    bad = wheel_two_metadata(tmp_path / "bad")
    r = publish(daemon, "pypi", good, bad, good_sd).expect(EXIT["invalid"], "invalid")
    assert_clear_message(r, bad, TWO_META)
    assert_nothing_sent(r, bad)
    publish_env.assert_unchanged(before, "a good wheel and sdist with a bad wheel")

    (tmp_path / "npm").mkdir()
    good_npm = make_npm(tmp_path / "npm", "@agenticverz/aos-sdk-good", "2.0.0")
    bad_npm = npm_invalid_json(tmp_path)
    r = publish(daemon, "npm", good_npm, bad_npm).expect(EXIT["invalid"], "invalid")
    assert_clear_message(r, bad_npm, JSON)
    assert_nothing_sent(r, bad_npm)
    publish_env.assert_unchanged(before, "a good tarball with a bad one")
    assert publish_env.npm.packument("@agenticverz/aos-sdk-good") is None


def test_expected_version_must_match(publish_env, daemon, tmp_path):
    before = publish_env.snapshot()
    whl = make_wheel(tmp_path, PY_NAME, "3.0")
    sd = make_sdist(tmp_path, PY_NAME, "3.0")
    tgz = make_npm(tmp_path, NPM_NAME, "3.0.0")
    for registry, files in (("pypi", [whl, sd]), ("npm", [tgz])):
        for dry in (True, False):
            r = publish(daemon, registry, *files, version="3.1.0", dry_run=dry)
            r.expect(EXIT["invalid"], "invalid")
            assert_clear_message(r, files[0], r"version|3\.1\.0")
            assert_nothing_sent(r, files[0])
            publish_env.assert_unchanged(before, f"--version 3.1.0 for {files[0].name}")
    # The matching version is accepted (PEP 440 equality for PyPI: 3.0 == 3.0.0).
    r = publish(daemon, "pypi", whl, sd, version="3.0.0", dry_run=True)
    r.expect(EXIT["published"], "dry-run")
    r = publish(daemon, "npm", tgz, version="3.0.0", dry_run=True)
    r.expect(EXIT["published"], "dry-run")
    publish_env.assert_unchanged(before, "dry runs")


def _npm_maker(tmp_path, name):
    def tgz(version, **pkg):
        d = tmp_path / version
        d.mkdir()
        if pkg:
            return make_npm(d, name, version, pkg=package_json(name, version, **pkg))
        return make_npm(d, name, version)
    return tgz


def _refused_before_queueing(r, path, *words):
    """Exit 8 naming the file and each of words, and no job made."""
    assert_clear_message(r, path, "|".join(re.escape(w) for w in words))
    for w in words:
        assert w in r.text, f"the refusal does not say {w!r}: {r}"
    assert "nothing was queued" in r.text, r


def test_npm_dist_tag_rules(publish_env, daemon, tmp_path):
    name = "@agenticverz/aos-sdk-tags"
    tgz = _npm_maker(tmp_path, name)

    def tags():
        return publish_env.npm.packument(name)["dist-tags"]

    def versions():
        return sorted(publish_env.npm.packument(name)["versions"])

    publish(daemon, "npm", tgz("1.0.0")).expect(EXIT["published"], "published")
    assert tags() == {"latest": "1.0.0"}, tags()

    # A prerelease goes to a tag of its own: its first identifier.
    rc1 = tgz("1.1.0-rc.1")
    publish(daemon, "npm", rc1).expect(EXIT["published"], "published")
    assert tags() == {"latest": "1.0.0", "rc": "1.1.0-rc.1"}, tags()

    # "latest" named for a prerelease: refused before queueing.
    ids, rows = {j["id"] for j in jobs(daemon)}, db_job_count(daemon)
    rc2 = tgz("1.1.0-rc.2")
    r = publish(daemon, "npm", rc2, tag="latest").expect(EXIT["invalid"], "invalid")
    _refused_before_queueing(r, rc2, "prerelease", '"latest"', "--tag", '"rc"')
    assert "job_id" not in r.final, r

    # `latest` never moves to a lower version by default: refused before
    # queueing; an explicit tag takes it.
    old = tgz("0.9.0")
    r = publish(daemon, "npm", old).expect(EXIT["invalid"], "invalid")
    _refused_before_queueing(r, old, 'cannot move "latest" from 1.0.0 down to 0.9.0')
    assert {j["id"] for j in jobs(daemon)} == ids, "a refused publish made a job"
    assert db_job_count(daemon) == rows, "a refused publish left a row in queue.db"
    assert versions() == ["1.0.0", "1.1.0-rc.1"], versions()
    publish(daemon, "npm", old, tag="legacy").expect(EXIT["published"], "published")
    assert tags() == {"latest": "1.0.0", "rc": "1.1.0-rc.1", "legacy": "0.9.0"}, tags()

    # publishConfig.tag is the default; --tag wins over it.
    publish(daemon, "npm", tgz("1.3.0", publishConfig={"tag": "next"})).expect(
        EXIT["published"], "published")
    assert tags()["next"] == "1.3.0" and tags()["latest"] == "1.0.0", tags()
    publish(daemon, "npm", tgz("1.3.1", publishConfig={"tag": "next"}), tag="canary").expect(
        EXIT["published"], "published")
    assert tags()["canary"] == "1.3.1" and tags()["next"] == "1.3.0", tags()

    # A higher version moves latest.
    publish(daemon, "npm", tgz("1.2.0")).expect(EXIT["published"], "published")
    assert tags()["latest"] == "1.2.0", tags()
    doc = publish_env.npm.packument(name)
    for v in ("0.9.0", "1.0.0", "1.1.0-rc.1", "1.2.0"):
        assert doc["versions"][v]["dist"]["integrity"] == sha512_sri(tmp_path / v / f"agenticverz-aos-sdk-tags-{v}.tgz")


def test_missing_file_and_usage(publish_env, daemon, tmp_path):
    before = publish_env.snapshot()
    missing = tmp_path / wheel_filename(PY_NAME, "9.9")
    r = publish(daemon, "pypi", missing)
    assert r.rc == EXIT["invalid"], r
    assert missing.name in r.text, f"the error does not name the missing file: {r}"
    r = publish(daemon, "no-such-registry", make_wheel(tmp_path, PY_NAME, "9.8"))
    assert r.rc == EXIT["error"], r
    assert "no-such-registry" in r.text, r
    r = daemon.ctl("publish", "--registry", "pypi")  # no FILE
    assert r.rc == EXIT["usage"], r
    publish_env.assert_unchanged(before, "missing file / unknown registry")
    assert daemon.alive


def test_publish_help_says_the_dist_tag_rules(daemon):
    out = daemon.ctl("publish", "--help").out
    for words in ("publishConfig.tag", "prerelease's own", '"beta" for 1.0.0-beta.1',
                  '"latest" is', "Checked before the job is queued"):
        assert words in out, f"publish --help does not say {words!r}:\n{out}"


def test_npm_dist_tag_rules_in_dry_run(publish_env, daemon, tmp_path):
    """--dry-run applies the same dist-tag rules: it says 8 where the real
    publish would, and names the tag it would use."""
    name = "@agenticverz/aos-sdk-tags-dry"
    tgz = _npm_maker(tmp_path, name)

    publish(daemon, "npm", tgz("2.0.0")).expect(EXIT["published"], "published")
    before = publish_env.snapshot()
    pre = tgz("2.1.0-beta.1")
    r = publish(daemon, "npm", pre, dry_run=True).expect(EXIT["published"], "dry-run")
    assert "would be tagged beta" in r.text, r
    r = publish(daemon, "npm", pre, dry_run=True, tag="latest").expect(EXIT["invalid"],
                                                                      "invalid")
    assert_clear_message(r, pre, r"prerelease")
    assert '"beta"' in r.text, f"the refusal does not say what to use instead: {r}"
    old = tgz("1.0.0")
    r = publish(daemon, "npm", old, dry_run=True).expect(EXIT["invalid"], "invalid")
    assert_clear_message(r, old, r"latest|lower|tag")
    publish(daemon, "npm", old, dry_run=True, tag="legacy").expect(EXIT["published"], "dry-run")
    publish_env.assert_unchanged(before, "dry runs")
