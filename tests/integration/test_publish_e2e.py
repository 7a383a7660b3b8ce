"""Publishing the real SDK fixtures through the daemon, end to end.

The wheel and sdist of tests/fixtures/python-sdk (built here by its release
pipeline's steps: `python -m build` with isolation) go to both PyPI kinds of
the tests (`pypi_kind_module`): a real pypiserver with htpasswd auth and a
real devpi-server (user and index made at start); the tarball of
tests/fixtures/js-sdk (npm ci, tsup, npm pack) goes to a real verdaccio with
a real user's token; the tokens are in OpenBao and only the daemon reads
them.  Then pip installs aos-sdk==0.1.0 from each kind's index in a fresh
venv and runs `aos version`, npm installs @agenticverz/aos-sdk@0.1.0 in a
fresh folder and both require() and import give VERSION; every file on the
registries has the digests of the file uploaded.  Re-publishing is "already
published", a different file under the same name and version a conflict
naming both digests, and --dry-run shows without sending.  A tarball whose
top folder is not package/ publishes and installs (npm strips the first
component).

The tests of this module share one set of servers and one daemon.  The
PyPI-side ones take `target` (module-scoped, one per kind): pytest runs them
kind by kind, each kind's SDK publish made once (`py_published`) and
checked by the first of them; the npm ones run once.
"""

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest

from aos_fixtures import PUBLISHCTL
from publish_support import (EXIT, NPM_NAME, PY_NAME, PypiTarget, build_js_sdk,
                             build_python_sdk,
                             digest_forms, fresh_venv, make_npm, make_sdist,
                             make_wheel, npm_install, npm_members, pip_install, publish,
                             sha1_hex, sha256_file, sha512_sri, tool_env, write_tgz)

VERSION = "0.1.0"


@pytest.fixture(scope="module")
def daemon(publish_env):
    """One daemon for the module, made after devpi is up: it has the
    registries pypi, devpi and npm."""
    publish_env.pypi_target("devpi")
    return publish_env.daemon()


@pytest.fixture(scope="module")
def target(publish_env, pypi_kind_module) -> PypiTarget:
    return publish_env.pypi_target(pypi_kind_module)


@pytest.fixture(scope="module")
def sdk(publish_env):
    """The fixtures built at VERSION: {"wheel", "sdist", "tgz"} paths."""
    w = publish_env.workdir / "sdk"
    wheel, sdist = build_python_sdk(VERSION, w / "dist", w)
    tgz = build_js_sdk(VERSION, w / "dist", w)
    return {"wheel": wheel, "sdist": sdist, "tgz": tgz}


@pytest.fixture(scope="module")
def py_published(daemon, target, sdk):
    """The first publish of the Python fixtures to this kind's registry (it
    starts empty: every PyPI-side test of the kind takes this fixture)."""
    files = target.server.files()
    assert files == {}, f"{target.kind} not empty at start: {files}"
    return publish(daemon, target.registry, sdk["wheel"], sdk["sdist"])


@pytest.fixture(scope="module")
def npm_published(publish_env, daemon, sdk):
    """The first publish of the npm fixture (verdaccio starts empty)."""
    tarballs = publish_env.npm.tarballs()
    assert tarballs == {}, f"verdaccio not empty at start: {tarballs}"
    return publish(daemon, "npm", sdk["tgz"])


def _check_progress(r, f):
    """At least one progress event, never backwards, the last one complete
    (curl reports the finished upload, which passes the rate limit)."""
    prog = r.events("progress", f)
    assert prog, f"no progress event for {Path(f).name}: {r}"
    last = -1
    for e in prog:
        assert isinstance(e.get("sent"), int) and isinstance(e.get("total"), int), e
        assert e["sent"] >= last, f"progress went backwards for {Path(f).name}: {prog}"
        assert e["sent"] <= e["total"], f"sent > total: {e}"
        last = e["sent"]
    assert prog[-1]["sent"] == prog[-1]["total"], f"upload not complete: {prog}"


def test_publish_wheel_and_sdist(target, py_published, sdk):
    r = py_published.expect(EXIT["published"], "published")
    for key, kind in (("wheel", "wheel"), ("sdist", "sdist")):
        f = sdk[key]
        ins = r.events("inspected", f)
        assert len(ins) == 1, f"one inspected event expected for {f.name}: {r}"
        e = ins[0]
        assert e.get("kind") == kind, e
        assert e.get("name") == PY_NAME and e.get("version") == VERSION, e
        assert e.get("size") == f.stat().st_size, e
        assert e.get("sha256") == sha256_file(f), e
        res = r.events("result", f)
        assert [x.get("outcome") for x in res] == ["published"], f"{f.name}: {res}: {r}"
        assert r.result_for(f).get("outcome") == "published", r
        _check_progress(r, f)
    # Every inspected event comes before the first progress event.
    kinds = [ln.get("event") for ln in r.lines if "event" in ln]
    last_inspected = max(i for i, k in enumerate(kinds) if k == "inspected")
    first_sent = min((i for i, k in enumerate(kinds) if k in ("progress", "result")),
                     default=len(kinds))
    assert last_inspected < first_sent, f"a file was sent before all were inspected: {kinds}"

    # Exactly these two files are on the registry, with the uploaded bytes.
    want = {sdk["wheel"].name: sha256_file(sdk["wheel"]),
            sdk["sdist"].name: sha256_file(sdk["sdist"])}
    assert target.server.files() == want, (
        f"{target.kind} holds {target.server.files()}, expected {want}")
    # The simple index (PEP 503 HTML) serves them with matching digests,
    # and fetching them back gives the same bytes.
    st, html = target.simple_page(PY_NAME)
    assert st == 200, (st, html[:300])
    links = dict(re.findall(rb'href="([^"#]+)#sha256=([0-9a-f]{64})"', html))
    assert len(links) == 2, f"index links: {html.decode(errors='replace')}"
    for href, digest in links.items():
        name = href.decode().rsplit("/", 1)[-1]
        assert want.get(name) == digest.decode(), f"{name}: index sha256 {digest} != {want}"
        st, body = target.fetch_link(PY_NAME, href.decode())
        assert st == 200 and hashlib.sha256(body).hexdigest() == want[name], (
            f"{name} fetched back: HTTP {st}, sha256 {hashlib.sha256(body).hexdigest()}")


def test_publish_tarball_to_verdaccio(publish_env, npm_published, sdk):
    r = npm_published.expect(EXIT["published"], "published")
    f = sdk["tgz"]
    ins = r.events("inspected", f)
    assert len(ins) == 1, r
    e = ins[0]
    assert e.get("kind") == "npm" and e.get("name") == NPM_NAME, e
    assert e.get("version") == VERSION and e.get("size") == f.stat().st_size, e
    assert e.get("sha256") == sha256_file(f), e
    assert e.get("integrity") == sha512_sri(f), e
    assert r.result_for(f).get("outcome") == "published", r
    _check_progress(r, f)

    doc = publish_env.npm.packument(NPM_NAME)
    assert doc is not None, f"{NPM_NAME} not on verdaccio: {publish_env.npm.log_tail()}"
    assert list(doc["versions"]) == [VERSION], doc["versions"].keys()
    assert doc["dist-tags"].get("latest") == VERSION, doc["dist-tags"]
    man = doc["versions"][VERSION]
    assert man["dist"]["integrity"] == sha512_sri(f), man["dist"]
    assert man["dist"]["shasum"] == sha1_hex(f), man["dist"]
    assert man.get("name") == NPM_NAME and man.get("version") == VERSION, man
    # The version manifest is the tarball's package.json (plus npm's fields).
    pkg = json.loads((publish_env.workdir / "sdk" / f"js-sdk-{VERSION}" / "package.json")
                     .read_text())
    for k in ("exports", "main", "module", "types", "description", "license"):
        assert man.get(k) == pkg[k], f"manifest {k}: {man.get(k)!r} != {pkg[k]!r}"
    # The stored tarball and the one served back are the uploaded bytes.
    stored = publish_env.npm.tarballs()
    assert list(stored.values()) == [sha256_file(f)], (
        f"verdaccio storage {stored}, uploaded sha256 {sha256_file(f)}")
    back = publish_env.npm.fetch_tarball(NPM_NAME, VERSION)
    assert hashlib.sha256(back).hexdigest() == sha256_file(f), "tarball fetched back differs"


def test_pip_install_in_fresh_venv(publish_env, target, py_published, sdk):
    py_published.expect(EXIT["published"])
    w = publish_env.workdir / f"pip-consumer-{target.kind}"
    venv = fresh_venv(w / "venv")
    # --require-hashes: pip refuses a downloaded file whose SHA-256 is not the
    # uploaded wheel's.
    p = pip_install(venv, target.server.index_url_with_auth, f"{PY_NAME}=={VERSION}",
                    hashes=[sha256_file(sdk["wheel"])])
    assert sdk["wheel"].name in p.stdout, f"pip did not install the wheel: {p.stdout}"
    out = subprocess.run([str(venv / "bin" / "aos"), "version"], capture_output=True,
                         text=True, timeout=30, env=tool_env(w / "home-run"))
    assert out.returncode == 0 and out.stdout.strip() == f"aos-sdk {VERSION}", (
        f"`aos version` gave rc={out.returncode} {out.stdout!r} {out.stderr!r}")
    # The installed files are those of the uploaded wheel (pip's RECORD).
    import zipfile
    with zipfile.ZipFile(sdk["wheel"]) as z:
        init = z.read("aos_sdk/__init__.py")
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert (site / "aos_sdk" / "__init__.py").read_bytes() == init


def test_npm_install_in_fresh_folder(publish_env, npm_published, sdk):
    npm_published.expect(EXIT["published"])
    w = publish_env.workdir / "npm-consumer"
    npm_install(w / "app", publish_env.npm.url, f"{NPM_NAME}@{VERSION}")
    env = tool_env(w / "home-node")
    cjs = subprocess.run(["node", "-e", f"console.log(require('{NPM_NAME}').VERSION)"],
                         cwd=w / "app", capture_output=True, text=True, timeout=30, env=env)
    assert cjs.returncode == 0 and cjs.stdout.strip() == VERSION, (
        f"require: rc={cjs.returncode} {cjs.stdout!r} {cjs.stderr!r}")
    esm = subprocess.run(["node", "--input-type=module", "-e",
                          f"import {{ VERSION }} from '{NPM_NAME}'; console.log(VERSION)"],
                         cwd=w / "app", capture_output=True, text=True, timeout=30, env=env)
    assert esm.returncode == 0 and esm.stdout.strip() == VERSION, (
        f"import: rc={esm.returncode} {esm.stdout!r} {esm.stderr!r}")
    inst = w / "app" / "node_modules" / "@agenticverz" / "aos-sdk"
    for types in ("dist/index.d.ts", "dist/index.d.mts"):  # require's and import's
        assert (inst / types).is_file(), f"type definitions {types} not installed"
    # npm checked the download against the registry's integrity, and that is
    # the uploaded tarball's.
    lock = json.loads((w / "app" / "package-lock.json").read_text())
    entry = lock["packages"][f"node_modules/{NPM_NAME}"]
    assert entry["version"] == VERSION, entry
    assert entry["integrity"] == sha512_sri(sdk["tgz"]), (
        f"installed integrity {entry['integrity']} != uploaded {sha512_sri(sdk['tgz'])}")


def test_republish_identical_is_already_published(publish_env, daemon, target, py_published,
                                                  sdk):
    py_published.expect(EXIT["published"])
    before = publish_env.snapshot()
    r = publish(daemon, target.registry, sdk["wheel"], sdk["sdist"]).expect(
        EXIT["exists"], "exists")
    for f in (sdk["wheel"], sdk["sdist"]):
        assert r.result_for(f).get("outcome") == "exists", r
    publish_env.assert_unchanged(before, f"re-publishing identical files to {target.kind}")
    # Without --json: plain lines naming the files, same exit status.
    r = publish(daemon, target.registry, sdk["wheel"], sdk["sdist"], json_out=False)
    assert r.rc == EXIT["exists"], r
    assert sdk["wheel"].name in r.text and sdk["sdist"].name in r.text, (
        f"plain output does not name the files: {r}")
    publish_env.assert_unchanged(before, f"re-publishing identical files to {target.kind}")


def test_republish_identical_npm_is_already_published(publish_env, daemon, npm_published,
                                                      sdk):
    npm_published.expect(EXIT["published"])
    before = publish_env.snapshot()
    r = publish(daemon, "npm", sdk["tgz"]).expect(EXIT["exists"], "exists")
    assert r.result_for(sdk["tgz"]).get("outcome") == "exists", r
    publish_env.assert_unchanged(before, "re-publishing identical files")
    # Without --json: plain lines naming the file, same exit status.
    r = publish(daemon, "npm", sdk["tgz"], json_out=False)
    assert r.rc == EXIT["exists"], r
    assert sdk["tgz"].name in r.text, f"plain output does not name the file: {r}"
    assert "\x1b[" not in r.out and "\r" not in r.out, f"a progress bar without a tty: {r}"
    publish_env.assert_unchanged(before, "re-publishing identical files")


def _assert_names_both(r, ours_forms, theirs_forms):
    assert any(x in r.text for x in ours_forms), (
        f"the conflict message does not name the new file's digest "
        f"(any of {sorted(ours_forms)}): {r}")
    assert any(x in r.text for x in theirs_forms), (
        f"the conflict message does not name the registry's digest "
        f"(any of {sorted(theirs_forms)}): {r}")


def test_conflict_pypi(publish_env, daemon, target, py_published, sdk, tmp_path):
    py_published.expect(EXIT["published"])
    before = publish_env.snapshot()
    other = make_wheel(tmp_path, PY_NAME, VERSION,
                       files={"aos_sdk/__init__.py": b'__version__ = "0.1.0"  # other\n'})
    assert other.name == sdk["wheel"].name and sha256_file(other) != sha256_file(sdk["wheel"])
    r = publish(daemon, target.registry, other).expect(EXIT["conflict"], "conflict")
    assert r.result_for(other).get("outcome") == "conflict", r
    assert sha256_file(other) in r.text and sha256_file(sdk["wheel"]) in r.text, (
        f"the conflict message must name both sha256 digests "
        f"(new {sha256_file(other)}, registry {sha256_file(sdk['wheel'])}): {r}")
    publish_env.assert_unchanged(before, "a conflicting wheel")

    other_sd = make_sdist(tmp_path, PY_NAME, VERSION)
    assert other_sd.name == sdk["sdist"].name
    r = publish(daemon, target.registry, other_sd).expect(EXIT["conflict"], "conflict")
    _assert_names_both(r, {sha256_file(other_sd)}, {sha256_file(sdk["sdist"])})
    publish_env.assert_unchanged(before, "a conflicting sdist")


def test_conflict_npm(publish_env, daemon, npm_published, sdk, tmp_path):
    npm_published.expect(EXIT["published"])
    before = publish_env.snapshot()
    doc_before = publish_env.npm.packument(NPM_NAME)
    other = make_npm(tmp_path, NPM_NAME, VERSION)
    assert other.name == sdk["tgz"].name and sha256_file(other) != sha256_file(sdk["tgz"])
    r = publish(daemon, "npm", other).expect(EXIT["conflict"], "conflict")
    assert r.result_for(other).get("outcome") == "conflict", r
    _assert_names_both(r, digest_forms(other), digest_forms(sdk["tgz"]))
    publish_env.assert_unchanged(before, "a conflicting npm tarball")
    doc = publish_env.npm.packument(NPM_NAME)
    assert doc["versions"][VERSION]["dist"] == doc_before["versions"][VERSION]["dist"]
    assert doc["dist-tags"] == doc_before["dist-tags"]


def test_partly_published_sends_only_the_new_files(daemon, target, py_published, tmp_path):
    """Some files already there (identical), one new: exit 0, per-file
    outcomes.  (The daemon sends every file and reads the registry's answer:
    the identical one is answered 409 by pypiserver, 200 by devpi.)"""
    (tmp_path / "a").mkdir()
    a = make_wheel(tmp_path / "a", "aos-sdk-partial", "1.0.0", files={
        "aos_sdk_partial/__init__.py": b"A = 1\n"})
    r = publish(daemon, target.registry, a).expect(EXIT["published"], "published")
    (tmp_path / "b").mkdir()
    b = make_wheel(tmp_path / "b", "aos-sdk-partial", "1.0.1", files={
        "aos_sdk_partial/__init__.py": b"B = 1\n"})
    r = publish(daemon, target.registry, a, b).expect(EXIT["published"], "published")
    assert r.result_for(a).get("outcome") == "exists", r
    assert r.result_for(b).get("outcome") == "published", r
    files = target.server.files()
    assert files.get(a.name) == sha256_file(a) and files.get(b.name) == sha256_file(b), files


def test_partly_published_npm_sends_only_the_new_files(publish_env, daemon, tmp_path):
    name = "@agenticverz/aos-sdk-partial"
    (tmp_path / "c").mkdir()
    c = make_npm(tmp_path / "c", name, "1.0.0")
    publish(daemon, "npm", c).expect(EXIT["published"], "published")
    (tmp_path / "d").mkdir()
    dd = make_npm(tmp_path / "d", name, "1.0.1")
    r = publish(daemon, "npm", c, dd).expect(EXIT["published"], "published")
    assert r.result_for(c).get("outcome") == "exists", r
    assert r.result_for(dd).get("outcome") == "published", r
    doc = publish_env.npm.packument(name)
    assert sorted(doc["versions"]) == ["1.0.0", "1.0.1"], doc["versions"].keys()
    assert doc["dist-tags"]["latest"] == "1.0.1", doc["dist-tags"]
    assert doc["versions"]["1.0.1"]["dist"]["integrity"] == sha512_sri(dd)


def test_dry_run_shows_without_sending(publish_env, daemon, target, py_published, tmp_path):
    before = publish_env.snapshot()
    whl = make_wheel(tmp_path, PY_NAME, "0.3.0")
    sd = make_sdist(tmp_path, PY_NAME, "0.3.0")
    r = publish(daemon, target.registry, whl, sd, dry_run=True).expect(EXIT["published"], "dry-run")
    for f, kind in ((whl, "wheel"), (sd, "sdist")):
        ins = r.events("inspected", f)
        assert len(ins) == 1, r
        assert ins[0].get("kind") == kind and ins[0].get("name") == PY_NAME, ins
        assert ins[0].get("version") == "0.3.0" and ins[0].get("sha256") == sha256_file(f), ins
        assert ins[0].get("size") == f.stat().st_size, ins
        assert not r.events("progress", f), f"dry run sent {f.name}: {r}"
        plan = r.events("plan", f)
        assert len(plan) == 1, f"no plan event for {f.name}: {r}"
        assert plan[0].get("method") == "POST", plan
        assert plan[0].get("url", "").rstrip("/") == target.server.upload_url.rstrip("/"), plan
        fields = {k: v for k, v in plan[0].get("fields", [])}
        assert fields.get("name") == PY_NAME and fields.get("version") == "0.3.0", fields
        assert fields.get("sha256_digest") == sha256_file(f), fields
        assert fields.get("filetype") == ("bdist_wheel" if kind == "wheel" else "sdist"), fields
    assert target.server.token not in r.text

    # Plain output names the fields too.
    r = publish(daemon, target.registry, whl, dry_run=True, json_out=False)
    assert r.rc == 0, r
    for s in (whl.name, PY_NAME, "0.3.0", sha256_file(whl)):
        assert s in r.out, f"dry-run output lacks {s}: {r}"
    # A relative FILE is opened by the CLI in its own cwd (the daemon has
    # another, and never opens a client's path); the file is named by its
    # base name, never by the daemon's spool copy.
    p = subprocess.run([str(PUBLISHCTL), "--socket", str(daemon.socket), "--json", "publish",
                        "--registry", target.registry, "--dry-run", whl.name], cwd=tmp_path,
                       capture_output=True, text=True, timeout=30,
                       env={"PATH": "/usr/local/bin:/usr/bin:/bin"})
    assert p.returncode == 0, f"relative FILE: rc={p.returncode} {p.stdout} {p.stderr}"
    ins = [json.loads(ln) for ln in p.stdout.splitlines()
           if ln.strip() and json.loads(ln).get("event") == "inspected"]
    assert ins and ins[0]["file"] == whl.name, f"relative FILE: {p.stdout}"
    assert "spool" not in p.stdout, f"the spool copy is shown: {p.stdout}"
    publish_env.assert_unchanged(before, f"--dry-run to {target.kind}")


def test_dry_run_npm_shows_without_sending(publish_env, daemon, npm_published, tmp_path):
    npm_published.expect(EXIT["published"])
    before = publish_env.snapshot()
    tgz = make_npm(tmp_path, NPM_NAME, "0.3.0")
    r = publish(daemon, "npm", tgz, dry_run=True).expect(EXIT["published"], "dry-run")
    ins = r.events("inspected", tgz)
    assert len(ins) == 1 and ins[0].get("name") == NPM_NAME and ins[0].get("version") == "0.3.0", r
    assert ins[0].get("sha256") == sha256_file(tgz), ins
    plan = r.events("plan", tgz)
    assert len(plan) == 1 and plan[0].get("method") == "PUT", r
    assert "%2f" in plan[0].get("url", "").lower(), f"scoped name not escaped: {plan}"
    assert not r.events("progress", tgz), r
    publish_env.assert_unchanged(before, "--dry-run")
    assert publish_env.npm.packument(NPM_NAME)["versions"].keys() == {VERSION}


def test_npm_top_folder_not_package(publish_env, daemon, tmp_path):
    """npm strips the first path component of every entry whatever it is
    (pacote's tar extraction, strip: 1): a tarball whose top folder is
    mypkg/ publishes, and npm installs it."""
    name = "@agenticverz/top-folder"
    members = [(n.replace("package/", "mypkg/", 1), b)
               for n, b in npm_members(name, "1.0.0")]
    tgz = write_tgz(tmp_path / "agenticverz-top-folder-1.0.0.tgz", [("mypkg/", b"")] + members)
    publish(daemon, "npm", tgz).expect(EXIT["published"], "published")
    assert publish_env.npm.packument(name)["versions"]["1.0.0"]["dist"]["integrity"] == \
        sha512_sri(tgz)
    app = tmp_path / "app"
    npm_install(app, publish_env.npm.url, f"{name}@1.0.0")
    out = subprocess.run(["node", "-e", f"console.log(require('{name}').VERSION)"],
                         cwd=app, capture_output=True, text=True, timeout=60,
                         env=tool_env(tmp_path / "home-node"))
    assert out.returncode == 0 and out.stdout.strip() == "1.0.0", out


def test_no_token_in_any_output(publish_env, daemon):
    """Last: pytest runs the tests taking `target` first, kind by kind, then
    the others in file order; the daemon has published to all three."""
    used = {r.argv[r.argv.index("--registry") + 1] for r in daemon.ctl_log
            if "--registry" in r.argv}
    assert {"pypi", "devpi", "npm"} <= used, f"ran before the publishes: {used}"
    secrets = [publish_env.values["PYPI_API_TOKEN"], publish_env.values["NPM_TOKEN"],
               publish_env.values["DEVPI_TOKEN"], publish_env.vault_token]
    texts = [daemon.log_text()] + [r.out + r.err for r in daemon.ctl_log]
    for s in secrets:
        for t in texts:
            assert s not in t, "a token appeared in the daemon's log or the CLI's output"
    assert daemon.alive, "the daemon died"
