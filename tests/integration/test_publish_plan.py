"""The dry run shows the plan: what would be sent, exactly, without sending.

Against a real verdaccio, pypiserver and devpi-server (the PyPI case runs on
both kinds, `pypi_kind`): `publish --dry-run` shows, for npm,
the publish document as it would be PUT (name, versions.<v> with dist,
dist-tags, access from package.json's publishConfig over the registry's
setting, _attachments with a placeholder instead of the base64 bytes), and
for PyPI the multipart fields and the upload URL.  After a version is
published the dry run still shows the plan and says it would be a no-op (or
a conflict).  A package whose publishConfig.registry names another registry
is refused before anything is queued or sent.  The real upload sends the
access the plan shows.  An npm tarball whose single top folder is not
`package/` is published and installs with npm (npm strips the first path
component whatever it is).

The tests share one set of servers and one daemon and run in file order.
"""

import base64
import json
import re
import subprocess

import pytest

from publish_support import (EXIT, PY_NAME, make_npm, make_wheel, npm_members,
                             package_json, publish, sha1_hex, sha256_file, sha512_sri)

SCOPED = "@agenticverz/plan-sdk"


@pytest.fixture(scope="module")
def daemon(publish_env):
    # devpi up first: the daemon has the registries pypi and devpi too.
    publish_env.pypi_target("devpi")
    # "npm" has access "public" (publish_env); "npm-plain" has none.
    plain = dict(publish_env.registries()["npm"])
    plain.pop("access")
    return publish_env.daemon({"registries": {"npm-plain": plain}})


def _pkg(name, version, **extra):
    return package_json(name, version, **extra)


def _one_plan(r, f):
    plans = r.events("plan", f)
    assert len(plans) == 1, f"expected one plan event for {f.name}: {r}"
    return plans[0]


def _tarball_url(registry_url, name, version):
    # As libnpmpublish writes it: `${name}/-/${name}-${version}.tgz`.
    return f"{registry_url.rstrip('/')}/{name}/-/{name}-{version}.tgz"


PUBLISHED = {}  # the tarball test_upload_sends_the_planned_access published


def test_npm_plan_is_the_document(publish_env, daemon, tmp_path):
    before = publish_env.snapshot()
    tgz = make_npm(tmp_path, SCOPED, "1.0.0")
    r = publish(daemon, "npm", tgz, dry_run=True).expect(EXIT["published"], "dry-run")
    plan = _one_plan(r, tgz)
    assert plan.get("method") == "PUT", plan
    assert plan.get("would") == "publish", plan
    doc = plan.get("document")
    assert isinstance(doc, dict), f"no publish document in the plan: {plan}"
    assert doc["_id"] == SCOPED and doc["name"] == SCOPED, doc
    assert doc["dist-tags"] == {"latest": "1.0.0"}, doc["dist-tags"]
    assert list(doc["versions"]) == ["1.0.0"], doc["versions"].keys()
    man = doc["versions"]["1.0.0"]
    assert man["name"] == SCOPED and man["version"] == "1.0.0", man
    assert man["_id"] == f"{SCOPED}@1.0.0", man
    assert man["dist"] == {"integrity": sha512_sri(tgz), "shasum": sha1_hex(tgz),
                           "tarball": _tarball_url(publish_env.npm.url, SCOPED, "1.0.0")}, man
    assert doc["access"] == "public", "the registry's access is public"
    att = doc["_attachments"]
    assert list(att) == [f"{SCOPED}-1.0.0.tgz"], att
    a = att[f"{SCOPED}-1.0.0.tgz"]
    size = tgz.stat().st_size
    assert a["content_type"] == "application/octet-stream" and a["length"] == size, a
    # The data is a placeholder stating length and digest, never the bytes.
    data = a["data"]
    assert str(size) in data and sha512_sri(tgz) in data, a
    assert base64.b64encode(tgz.read_bytes()).decode()[:40] not in r.text, "bytes shown"
    # The document's length is the length that would be sent.
    b64 = 4 * ((size + 2) // 3)
    shown = len(json.dumps(doc, separators=(",", ":")).encode()) - len(data) + b64
    assert plan.get("content_length") == shown, (plan.get("content_length"), shown)
    publish_env.assert_unchanged(before, "npm --dry-run")


@pytest.mark.parametrize("registry,config,want", [
    ("npm", {"access": "restricted"}, "restricted"),
    ("npm-plain", {"access": "restricted"}, "restricted"),
    ("npm", {"access": "public"}, "public"),
    ("npm-plain", {"access": "public"}, "public"),
    ("npm", None, "public"),
    ("npm-plain", None, None),
])
def test_npm_plan_access(publish_env, daemon, tmp_path, registry, config, want):
    extra = {"publishConfig": config} if config is not None else {}
    tgz = make_npm(tmp_path, SCOPED, "1.0.0", pkg=_pkg(SCOPED, "1.0.0", **extra))
    r = publish(daemon, registry, tgz, dry_run=True).expect(EXIT["published"], "dry-run")
    doc = _one_plan(r, tgz)["document"]
    assert "access" in doc and doc["access"] == want, (
        f"{registry} with publishConfig {config}: access {doc.get('access')!r}, "
        f"expected {want!r}")
    # Text output says it too.
    r = publish(daemon, registry, tgz, dry_run=True, json_out=False)
    assert r.rc == 0, r
    assert re.search(rf"access\W+{want or 'null'}", r.out), r.out


def test_restricted_unscoped_refused(publish_env, daemon, tmp_path):
    before = publish_env.snapshot()
    tgz = make_npm(tmp_path, "plan-unscoped", "1.0.0",
                   pkg=_pkg("plan-unscoped", "1.0.0", publishConfig={"access": "restricted"}))
    for dry in (True, False):
        r = publish(daemon, "npm", tgz, dry_run=dry).expect(EXIT["invalid"], "invalid")
        assert "unscoped" in r.final.get("error", ""), r
        assert not r.events("progress"), r
    publish_env.assert_unchanged(before, "restricted unscoped package")


def test_publish_config_registry(publish_env, daemon, tmp_path):
    before = publish_env.snapshot()
    other = "http://127.0.0.1:9/elsewhere/"
    tgz = make_npm(tmp_path, SCOPED, "1.0.1",
                   pkg=_pkg(SCOPED, "1.0.1", publishConfig={"registry": other}))
    jobs_before = daemon.ctl("jobs", json_out=True).out
    for dry in (True, False):
        r = publish(daemon, "npm", tgz, dry_run=dry).expect(EXIT["invalid"], "invalid")
        err = r.final.get("error", "")
        assert tgz.name in err and other in err and "publishConfig" in err, r
        assert not r.events("progress") and not r.events("queued"), r
        assert "job_id" not in r.final, f"queued although refused: {r}"
    assert daemon.ctl("jobs", json_out=True).out == jobs_before, "a job was queued"
    publish_env.assert_unchanged(before, "publishConfig.registry elsewhere")
    # The same registry, spelled without its trailing slash, is fine.
    (tmp_path / "same").mkdir()
    tgz2 = make_npm(tmp_path / "same", SCOPED, "1.0.1", pkg=_pkg(SCOPED, "1.0.1", publishConfig={
        "registry": publish_env.npm.url.rstrip("/")}))
    publish(daemon, "npm", tgz2, dry_run=True).expect(EXIT["published"], "dry-run")
    publish_env.assert_unchanged(before, "publishConfig.registry the same")


def test_upload_sends_the_planned_access(publish_env, daemon, tmp_path):
    """verdaccio keeps what the client PUT; the packument shows what was
    sent is what the plan said (the document's fields, the dist-tag)."""
    tgz = make_npm(tmp_path, SCOPED, "1.0.0",
                   pkg=_pkg(SCOPED, "1.0.0", publishConfig={"access": "restricted"}))
    plan = _one_plan(publish(daemon, "npm", tgz, dry_run=True)
                     .expect(EXIT["published"], "dry-run"), tgz)
    assert plan["document"]["access"] == "restricted", plan
    publish(daemon, "npm", tgz).expect(EXIT["published"], "published")
    PUBLISHED["tgz"] = tgz
    doc = publish_env.npm.packument(SCOPED)
    # verdaccio rewrites dist.tarball to its own address; the digests stay.
    sent = {k: v for k, v in plan["document"]["versions"]["1.0.0"]["dist"].items()
            if k != "tarball"}
    kept = doc["versions"]["1.0.0"]["dist"]
    assert {k: kept.get(k) for k in sent} == sent, (kept, sent)
    assert doc["dist-tags"]["latest"] == "1.0.0", doc["dist-tags"]


def test_npm_plan_after_publish_is_a_no_op(publish_env, daemon, tmp_path):
    before = publish_env.snapshot()
    tgz = PUBLISHED["tgz"]
    r = publish(daemon, "npm", tgz, dry_run=True).expect(EXIT["published"], "dry-run")
    plan = _one_plan(r, tgz)
    assert plan.get("would") == "no-op", plan
    assert plan["document"]["access"] == "restricted", plan
    assert plan["document"]["versions"]["1.0.0"]["dist"]["integrity"] == sha512_sri(tgz)
    assert "no-op" in r.events("result", tgz)[0]["message"], r
    # A different file under the same version: the plan says conflict.
    (tmp_path / "b").mkdir()
    other = make_npm(tmp_path / "b", SCOPED, "1.0.0", members=npm_members(
        SCOPED, "1.0.0", extra=[("package/extra.js", b"1\n")]))
    r = publish(daemon, "npm", other, dry_run=True).expect(EXIT["conflict"], "conflict")
    assert _one_plan(r, other).get("would") == "conflict", r
    assert sha512_sri(other) in r.final["error"], r
    r = publish(daemon, "npm", tgz, dry_run=True, json_out=False)
    assert r.rc == 0 and "no-op" in r.out, r
    publish_env.assert_unchanged(before, "dry runs after publishing")


def test_pypi_plan_fields(publish_env, daemon, pypi_kind, tmp_path):
    target = publish_env.pypi_target(pypi_kind)
    reg = target.registry
    before = publish_env.snapshot()
    whl = make_wheel(tmp_path, PY_NAME, "4.0")
    r = publish(daemon, reg, whl, dry_run=True).expect(EXIT["published"], "dry-run")
    plan = _one_plan(r, whl)
    assert plan.get("method") == "POST" and plan.get("would") == "publish", plan
    assert plan["url"] == target.server.upload_url, plan
    fields = plan["fields"]
    names = [k for k, _ in fields]
    assert names[:8] == [":action", "protocol_version", "metadata_version", "name",
                         "version", "filetype", "pyversion", "sha256_digest"], names
    f = dict(fields)
    assert f["filetype"] == "bdist_wheel" and f["pyversion"] == "py3", f
    assert f["sha256_digest"] == sha256_file(whl), f
    # The description goes whole, as it would be sent.
    assert f["description"].startswith("A test distribution made by"), f
    assert plan.get("file_part") == {"name": "content", "filename": whl.name,
                                     "content_type": "application/octet-stream",
                                     "length": whl.stat().st_size}, plan
    r = publish(daemon, reg, whl, dry_run=True, json_out=False)
    assert r.rc == 0 and "filetype" in r.out and "bdist_wheel" in r.out, r
    publish_env.assert_unchanged(before, f"{reg} --dry-run")
    # Published, the same wheel's plan is a no-op.
    publish(daemon, reg, whl).expect(EXIT["published"], "published")
    r = publish(daemon, reg, whl, dry_run=True).expect(EXIT["published"], "dry-run")
    assert _one_plan(r, whl).get("would") == "no-op", r

