"""Shared pieces of the publishing integration tests (test_publish_*.py).

- PublishEnv: one OpenBao dev server holding the registry tokens, one real
  pypiserver (htpasswd user __token__) and one real verdaccio (a real user's
  token), and factories for aos-publishd daemons that reach them.  The
  module-scoped fixture `publish_env` gives each test module its own set.
- publish(): run `aos-publishctl [--json] publish ...` and parse its output.
- Builders for the fixtures in tests/fixtures (python -m build, npm pack),
  for hand-made wheels, sdists and npm tarballs (valid, huge, or broken in
  one precise way), and digests in every form the registries use.
- Fresh-environment installers: pip in a new venv, npm in a new folder, each
  isolated from the machine's configuration.

Every wait is bounded; every token is generated at test time.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.parse
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from aos_fixtures import SOURCE_DIR, Daemon, deep_merge, running_env, stop_daemons
from peers.openbao import DEFAULT_KV_PATH, OpenBao, read_policy
from peers.devpi import DevpiServer
from peers.pypiserver import PypiServer, sha256_file
from peers.verdaccio import Verdaccio, find_node

FIXTURES = SOURCE_DIR / "tests" / "fixtures"

# aos-publishctl publish exit statuses (the CLI's contract).
EXIT = {
    "published": 0, "error": 1, "usage": 2, "unreachable": 3, "timeout": 4,
    "exists": 5, "conflict": 6, "auth": 7, "invalid": 8, "rejected": 9,
    "unavailable": 10,
}

NPM_NAME = "@agenticverz/aos-sdk"
PY_NAME = "aos-sdk"

# The release pipelines of the two fixture SDKs, built the way the real ones
# are, with nothing from outside /usr, /etc and the job's work folder but
# the wheelhouse and the npm cache scripts/setup.sh fills: no registry is
# reached (docs/pipelines.md, "The sample SDKs' pipelines").  The tests'
# pipelines run these steps, and so do build_python_sdk / build_js_sdk.  The
# steps get the folders' real paths: a worktree may link them to another
# checkout's, and the build sandbox binds only the real folder (py_readable).
WHEELHOUSE = SOURCE_DIR / "tests" / "peers" / "wheelhouse"
NPM_CACHE = SOURCE_DIR / "tests" / "peers" / "npm-cache"
# Python: `build` (pinned, hashed) in a venv of the job, then `python -m
# build` with build isolation (hatchling from the wheelhouse too).
PY_BUILD = ['python3 -m venv "$HOME/buildenv"',
            '"$HOME/buildenv/bin/pip" install --quiet --require-hashes -r requirements-build.txt',
            '"$HOME/buildenv/bin/python" -m build --sdist --wheel --outdir dist .']
# The wheel and the sdist installed into fresh venvs: `aos version`.
PY_VERIFY = ["sh scripts/verify-dist.sh"]
PY_ENV = {"PIP_FIND_LINKS": os.path.realpath(WHEELHOUSE), "PIP_NO_INDEX": "1",
          "PIP_CONFIG_FILE": "/dev/null", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
# JS: the cache copied into the job (npm writes to its cache even offline),
# npm ci from the lock file, tsc, tsup (esm, cjs, dts), npm pack.
JS_BUILD = ['mkdir -p "$HOME/.npm" && cp -R "$NPM_SEED_CACHE/." "$HOME/.npm/"',
            "npm ci --offline", "npm run typecheck", "npm run build",
            "mkdir -p release && npm pack --pack-destination release"]
# The tarball installed into a fresh project: require(), import, tsc.
JS_VERIFY = ["sh scripts/verify-pack.sh release/*.tgz"]
JS_ENV = {"NPM_SEED_CACHE": os.path.realpath(NPM_CACHE), "npm_config_update_notifier": "false",
          "npm_config_audit": "false", "npm_config_fund": "false"}
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def step_path() -> str:
    """PATH for the JS pipelines' steps: node's folder, the system's."""
    return ":".join(dict.fromkeys([str(Path(find_node()).parent)] + SYSTEM_PATH.split(":")))


def _outside_usr(paths) -> list[str]:
    real = [os.path.realpath(p) for p in paths]
    return [p for p in dict.fromkeys(real) if not p.startswith(("/usr/", "/etc/"))]


def py_readable() -> list[str]:
    """What the Python pipeline's steps read beyond /usr, /etc and their
    work folder inside the build sandbox (pipelines.X.readable): the
    wheelhouse.  Debian's python3 and the job's own venvs need nothing else."""
    return _outside_usr([WHEELHOUSE])


def js_readable() -> list[str]:
    """The same for the JS pipeline: the npm cache (copied into the job),
    node's folder when node is not under /usr."""
    return _outside_usr([NPM_CACHE, Path(find_node()).resolve().parent])


# -- digests --------------------------------------------------------------
def file_digest(path, algo: str) -> bytes:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()


def sha512_sri(path) -> str:
    return "sha512-" + base64.b64encode(file_digest(path, "sha512")).decode()


def sha1_hex(path) -> str:
    return file_digest(path, "sha1").hex()


def digest_forms(path) -> set[str]:
    """Every way a message may name this file's digest: SHA-256 hex, SHA-512
    SRI, SHA-512 hex, SHA-1 hex."""
    return {sha256_file(path), sha512_sri(path), file_digest(path, "sha512").hex(),
            sha1_hex(path)}


def bytes_digest_forms(data: bytes) -> set[str]:
    return {hashlib.sha256(data).hexdigest(),
            "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
            hashlib.sha512(data).hexdigest(), hashlib.sha1(data).hexdigest()}


# -- environments for child tools ----------------------------------------
def tool_env(home: Path, extra: dict | None = None) -> dict:
    """A minimal environment for pip, npm, node and build: nothing of the
    caller's configuration (no PIP_*, no npm_config_*), HOME private."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    node_dir = str(Path(find_node()).parent)
    env = {
        "PATH": f"{SOURCE_DIR / '.venv' / 'bin'}:{node_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TMPDIR": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        # pip: no configuration file at all, no version check, no prompts.
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "PIP_NO_CACHE_DIR": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        # npm: private user and global configuration and cache.
        "npm_config_userconfig": str(home / ".npmrc"),
        "npm_config_globalconfig": str(home / "global-npmrc"),
        "npm_config_cache": str(home / ".npm-cache"),
        "npm_config_audit": "false",
        "npm_config_fund": "false",
        "npm_config_update_notifier": "false",
        "npm_config_loglevel": "warn",
        "SOURCE_DATE_EPOCH": "1700000000",
    }
    env.update(extra or {})
    return {k: v for k, v in env.items() if v is not None}


def run(argv, env, cwd=None, timeout=120, what=None) -> subprocess.CompletedProcess:
    """Run a tool; AssertionError with its output when it fails."""
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                       env=env, cwd=cwd, timeout=timeout)
    assert p.returncode == 0, (
        f"{what or ' '.join(map(str, argv))} failed with {p.returncode}:\n"
        f"stdout: {p.stdout[-3000:]}\nstderr: {p.stderr[-3000:]}")
    return p


# -- the fixtures in tests/fixtures ----------------------------------------
def render_fixture(name: str, version: str, dest: Path) -> Path:
    """Copy tests/fixtures/<name> to dest with every {{VERSION}} replaced."""
    src = FIXTURES / name
    dest = Path(dest)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(
        "build", "dist", "release", "*.egg-info", "__pycache__", "node_modules", "*.tgz"))
    for p in dest.rglob("*"):
        if p.is_file():
            try:
                text = p.read_text()
            except UnicodeDecodeError:
                continue
            if "{{VERSION}}" in text:
                p.write_text(text.replace("{{VERSION}}", version))
    return dest


def run_steps(steps, cwd: Path, env: dict, what: str) -> str:
    """Run a pipeline's shell steps in cwd, as the daemon does (sh -c, stdin
    /dev/null); AssertionError naming the step when one fails.  Returns
    their output."""
    out = []
    for step in steps:
        p = subprocess.run(["/bin/sh", "-c", step], cwd=cwd, env=env, capture_output=True,
                           text=True, timeout=300, stdin=subprocess.DEVNULL)
        out.append(p.stdout + p.stderr)
        assert p.returncode == 0, (f"{what}: `{step}` failed with {p.returncode}:\n"
                                   f"{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return "".join(out)


def _build_fixture(name: str, version: str, work: Path, steps, env: dict) -> Path:
    """tests/fixtures/<name> rendered at version in work/<name>-<version>,
    built by these steps with HOME work/home-<name> (a job's work folder);
    env is merged into tool_env's (a value None removes the variable)."""
    work = Path(work)
    src = render_fixture(name, version, work / f"{name}-{version}")
    home = work / f"home-{name}-{version}"
    run_steps(steps, src, tool_env(home, {"PATH": SYSTEM_PATH, **env}), f"building {name}")
    return src


def build_python_sdk(version: str, outdir: Path, work: Path, verify: bool = False
                     ) -> tuple[Path, Path]:
    """Build tests/fixtures/python-sdk at this version as its pipeline does
    (PY_BUILD, and PY_VERIFY when asked); returns (wheel, sdist) copied to
    outdir."""
    src = _build_fixture("python-sdk", version, work,
                         PY_BUILD + (PY_VERIFY if verify else []), PY_ENV)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    norm = PY_NAME.replace("-", "_")
    out = []
    for name in (f"{norm}-{version}-py3-none-any.whl", f"{norm}-{version}.tar.gz"):
        assert (src / "dist" / name).exists(), f"build made {os.listdir(src / 'dist')}"
        out.append(Path(shutil.copy2(src / "dist" / name, outdir / name)))
    return out[0], out[1]


def build_js_sdk(version: str, outdir: Path, work: Path, verify: bool = False) -> Path:
    """Build and pack tests/fixtures/js-sdk at this version as its pipeline
    does (JS_BUILD, and JS_VERIFY when asked); returns the tarball copied to
    outdir."""
    src = _build_fixture("js-sdk", version, work, JS_BUILD + (JS_VERIFY if verify else []),
                         {**JS_ENV, "PATH": step_path(), "npm_config_cache": None})
    name = npm_filename(NPM_NAME, version)
    assert (src / "release" / name).exists(), f"npm pack made {os.listdir(src / 'release')}"
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(src / "release" / name, outdir / name))


# -- hand-made archives ----------------------------------------------------
def write_zip(path: Path, members, stored: bool = False) -> Path:
    """members: (name, bytes) pairs, written in order (duplicates allowed)."""
    comp = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w", compression=comp) as z:
        for name, data in members:
            zi = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            zi.compress_type = comp
            zi.external_attr = 0o644 << 16
            with _quiet_duplicates():
                z.writestr(zi, data)
    return Path(path)


class _quiet_duplicates:
    def __enter__(self):
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


def write_tgz(path: Path, members, compresslevel: int = 6) -> Path:
    """members: (name, bytes) pairs; a name ending in "/" is a folder."""
    with tarfile.open(path, "w:gz", compresslevel=compresslevel,
                      format=tarfile.PAX_FORMAT) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            if name.endswith("/"):
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                t.addfile(ti)
            else:
                ti.mode = 0o644
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
    return Path(path)


def core_metadata(name: str, version: str, summary: str = "A test distribution",
                  body: str = "A test distribution made by the aos-publishd tests.\n",
                  extra: str = "") -> bytes:
    text = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            f"Summary: {summary}\nRequires-Python: >=3.8\n"
            f"Description-Content-Type: text/plain\n{extra}\n{body}")
    return text.encode()


def _record(members) -> bytes:
    lines = []
    for name, data in members:
        d = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{name},sha256={d},{len(data)}")
    return ("\n".join(lines) + "\n").encode()


def wheel_members(name: str, version: str, metadata: bytes | None = None,
                  files: dict | None = None, dist_info: str | None = None):
    """The members of a valid pure-Python wheel (RECORD last)."""
    norm = re.sub(r"[-_.]+", "_", name).lower()
    di = dist_info or f"{norm}-{version}.dist-info"
    members = list((files or {f"{norm}/__init__.py":
                              f'__version__ = "{version}"\n'.encode()}).items())
    members.append((f"{di}/METADATA", metadata if metadata is not None
                    else core_metadata(name, version)))
    members.append((f"{di}/WHEEL", b"Wheel-Version: 1.0\nGenerator: aos-tests\n"
                    b"Root-Is-Purelib: true\nTag: py3-none-any\n\n"))
    members.append((f"{di}/RECORD", _record(members) + f"{di}/RECORD,,\n".encode()))
    return members


def wheel_filename(name: str, version: str) -> str:
    return f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}-py3-none-any.whl"


def make_wheel(outdir: Path, name: str, version: str, filename: str | None = None,
               members=None, **kw) -> Path:
    path = Path(outdir) / (filename or wheel_filename(name, version))
    return write_zip(path, members if members is not None
                     else wheel_members(name, version, **kw))


def sdist_members(name: str, version: str, pkg_info: bytes | None = None,
                  top: str | None = None, extra=()):
    norm = re.sub(r"[-_.]+", "_", name).lower()
    top = top or f"{norm}-{version}"
    return [(f"{top}/", b""),
            (f"{top}/PKG-INFO", pkg_info if pkg_info is not None
             else core_metadata(name, version)),
            (f"{top}/pyproject.toml", b"[project]\nname = \"x\"\n"),
            *extra]


def make_sdist(outdir: Path, name: str, version: str, filename: str | None = None,
               members=None, **kw) -> Path:
    norm = re.sub(r"[-_.]+", "_", name).lower()
    path = Path(outdir) / (filename or f"{norm}-{version}.tar.gz")
    return write_tgz(path, members if members is not None
                     else sdist_members(name, version, **kw))


def npm_filename(name: str, version: str) -> str:
    return f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"


def package_json(name: str, version: str, **extra) -> bytes:
    doc = {"name": name, "version": version,
           "description": "A test package made by the aos-publishd tests",
           "main": "index.js", "license": "Apache-2.0", **extra}
    return json.dumps(doc, indent=2).encode()


def npm_members(name: str, version: str, pkg: bytes | None = None, extra=()):
    return [("package/package.json", pkg if pkg is not None else package_json(name, version)),
            ("package/index.js", f"module.exports.VERSION = '{version}';\n".encode()),
            *extra]


def make_npm(outdir: Path, name: str, version: str, filename: str | None = None,
             members=None, **kw) -> Path:
    path = Path(outdir) / (filename or npm_filename(name, version))
    return write_tgz(path, members if members is not None
                     else npm_members(name, version, **kw))


class _RandomReader(io.RawIOBase):
    """size bytes of incompressible data, produced as they are read."""

    def __init__(self, size: int):
        self.left = size
        self.h = hashlib.sha256()

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self.left, 1 << 20)
        if n <= 0:
            return 0
        chunk = os.urandom(n)
        b[:n] = chunk
        self.h.update(chunk)
        self.left -= n
        return n


def make_big_wheel(outdir: Path, name: str, version: str, payload_bytes: int) -> Path:
    """A valid wheel carrying payload_bytes of random data in one member,
    stored (not deflated) so that it is built in about a second."""
    norm = re.sub(r"[-_.]+", "_", name).lower()
    di = f"{norm}-{version}.dist-info"
    path = Path(outdir) / wheel_filename(name, version)
    small = [(f"{norm}/__init__.py", f'__version__ = "{version}"\n'.encode()),
             (f"{di}/METADATA", core_metadata(name, version)),
             (f"{di}/WHEEL", b"Wheel-Version: 1.0\nGenerator: aos-tests\n"
              b"Root-Is-Purelib: true\nTag: py3-none-any\n\n")]
    payload_name = f"{norm}/payload.bin"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for n, data in small:
            z.writestr(zipfile.ZipInfo(n, date_time=(2024, 1, 1, 0, 0, 0)), data)
        src = _RandomReader(payload_bytes)
        zi = zipfile.ZipInfo(payload_name, date_time=(2024, 1, 1, 0, 0, 0))
        with z.open(zi, "w", force_zip64=payload_bytes > 0x7FFFFFFF) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        digest = base64.urlsafe_b64encode(src.h.digest()).rstrip(b"=").decode()
        record = _record(small) + (f"{payload_name},sha256={digest},{payload_bytes}\n"
                                   f"{di}/RECORD,,\n").encode()
        z.writestr(zipfile.ZipInfo(f"{di}/RECORD", date_time=(2024, 1, 1, 0, 0, 0)), record)
    return path


def make_big_npm(outdir: Path, name: str, version: str, payload_bytes: int) -> Path:
    """A valid npm tarball carrying payload_bytes of random data (gzip level
    1: random data does not compress anyway)."""
    path = Path(outdir) / npm_filename(name, version)
    with tarfile.open(path, "w:gz", compresslevel=1, format=tarfile.PAX_FORMAT) as t:
        for n, data in npm_members(name, version):
            ti = tarfile.TarInfo(n)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 1700000000
            t.addfile(ti, io.BytesIO(data))
        ti = tarfile.TarInfo("package/payload.bin")
        ti.size, ti.mode, ti.mtime = payload_bytes, 0o644, 1700000000
        t.addfile(ti, io.BufferedReader(_RandomReader(payload_bytes), 1 << 20))
    return path


# -- running publish -------------------------------------------------------
class Published:
    """One run of `aos-publishctl [--json] publish ...`."""

    def __init__(self, daemon: Daemon, argv, rc, out, err, json_out, seconds):
        self.daemon, self.argv, self.rc, self.out, self.err = daemon, argv, rc, out, err
        self.json_out, self.seconds = json_out, seconds
        self.lines: list[dict] = []
        self.bad_lines: list[str] = []
        if json_out:
            for ln in out.splitlines():
                if not ln.strip():
                    continue
                try:
                    self.lines.append(json.loads(ln))
                except ValueError:
                    self.bad_lines.append(ln)

    @property
    def text(self) -> str:
        return self.out + "\n" + self.err

    @property
    def final(self) -> dict:
        finals = [ln for ln in self.lines if "ok" in ln and "event" not in ln]
        assert finals, f"no final {{\"ok\": ...}} line in the output: {self}"
        assert finals[-1] is self.lines[-1], f"the final line is not the last one: {self}"
        return finals[-1]

    def events(self, kind: str, file=None) -> list[dict]:
        out = [ln for ln in self.lines if ln.get("event") == kind]
        if file is not None:
            out = [e for e in out if Path(str(e.get("file", ""))).name == Path(file).name]
        return out

    def result_for(self, file) -> dict:
        """The final line's result entry for this file."""
        res = [r for r in self.final.get("results", [])
               if Path(str(r.get("file", ""))).name == Path(file).name]
        assert len(res) == 1, f"expected one result for {Path(file).name}: {self}"
        return res[0]

    def __repr__(self):
        return (f"Published(argv={' '.join(map(str, self.argv[3:]))!r}, rc={self.rc}, "
                f"{self.seconds:.1f}s,\n out={self.out[-4000:]!r},\n err={self.err[-2000:]!r})"
                f"\n--- daemon log tail ---\n{self.daemon.log_tail(3000)}")

    __str__ = __repr__

    def expect(self, rc: int, outcome: str | None = None) -> "Published":
        """Assert the exit status and (with --json) the final line's outcome."""
        assert self.rc == rc, f"exit status {self.rc}, expected {rc}: {self}"
        if self.json_out:
            assert not self.bad_lines, f"non-JSON lines with --json: {self.bad_lines}: {self}"
            f = self.final
            want_ok = rc in (EXIT["published"], EXIT["exists"])
            assert f.get("ok") is want_ok, (
                f"final line ok={f.get('ok')!r} with exit {rc} (expected {want_ok}): {self}")
            if outcome is not None:
                assert f.get("outcome") == outcome, (
                    f"final outcome {f.get('outcome')!r}, expected {outcome!r}: {self}")
        return self


def publish(d: Daemon, registry: str, *files, tag: str | None = None,
            version: str | None = None, dry_run: bool = False, json_out: bool = True,
            timeout: float = 60.0, ctl_timeout: int | None = None) -> Published:
    args = []
    if ctl_timeout is not None:
        args += ["--timeout", str(ctl_timeout)]
    args += ["publish", "--registry", registry]
    if not dry_run:
        args.append("--wait")  # follow the queued job to its outcome
    if tag is not None:
        args += ["--tag", tag]
    if version is not None:
        args += ["--version", version]
    if dry_run:
        args.append("--dry-run")
    args += [str(f) for f in files]
    t0 = time.monotonic()
    r = d.ctl(*args, json_out=json_out, timeout=timeout)
    return Published(d, r.argv, r.rc, r.out, r.err, json_out, time.monotonic() - t0)


# -- the environment: Vault + registries + daemons -------------------------
# The PyPI implementations every PyPI-side publish, exists, conflict,
# crash-recovery and reconcile test runs against (the `pypi_kind` fixture).
PYPI_KINDS = ("pypiserver", "devpi")


@dataclass
class PypiTarget:
    """One PyPI-style registry of a PublishEnv: its kind, the name of its
    registry in the daemon's configuration, and the server (PypiServer or
    DevpiServer: upload_url, index_url, index_url_with_auth, token,
    files(), get())."""
    kind: str
    registry: str
    server: PypiServer | DevpiServer

    @property
    def token_key(self) -> str:
        return "PYPI_API_TOKEN" if self.kind == "pypiserver" else "DEVPI_TOKEN"

    @property
    def username(self) -> str:
        return "__token__" if self.kind == "pypiserver" else self.server.username

    def _path(self, url: str) -> str:
        return url[len(self.server.url):]

    def registry_via(self, base: str) -> dict:
        """The registry's configuration reached at base (a relay's URL
        "http://127.0.0.1:P/") instead of the server's own origin."""
        return {"type": "pypi", "url": base + self._path(self.server.upload_url),
                "token_key": self.token_key, "username": self.username,
                "index_url": base + self._path(self.server.index_url)}

    def simple_page(self, project: str) -> tuple[int, bytes]:
        """(status, body) of GET on the project's simple page as PEP 503
        HTML (with the token)."""
        return self.server.get(self._path(self.server.index_url) + project + "/")

    def simple_status(self, project: str) -> int:
        """The status of GET on the project's simple page (with the token)."""
        return self.simple_page(project)[0]

    def fetch_link(self, project: str, href: str) -> tuple[int, bytes]:
        """(status, body) of GET on a link of the project's simple page:
        pypiserver's are absolute paths, devpi's relative (../../+f/...)."""
        url = urllib.parse.urljoin(f"{self.server.index_url}{project}/", href)
        return self.server.get(self._path(url))


@pytest.fixture(params=PYPI_KINDS)
def pypi_kind(request) -> str:
    """"pypiserver" or "devpi": a test taking it runs against both; it
    gets its registry with env.pypi_target(pypi_kind)."""
    return request.param


@pytest.fixture(scope="module", params=PYPI_KINDS)
def pypi_kind_module(request) -> str:
    """pypi_kind for module-scoped fixtures (a set published once per kind
    and shared by the module's tests): pytest runs the module's tests that
    take it kind by kind, in file order within each kind."""
    return request.param


class PublishEnv:
    """OpenBao holding real registry tokens, a pypiserver and a verdaccio;
    a devpi-server too, started when a test first asks for it."""

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.bao = OpenBao(workdir=self.workdir / "bao")
        self.bao.workdir.mkdir()
        self.pypi = PypiServer(workdir=self.workdir / "pypi")
        self.npm = Verdaccio(workdir=self.workdir / "npm")
        self.devpi: DevpiServer | None = None
        self.daemons: list[Daemon] = []
        self.kv_path = DEFAULT_KV_PATH
        self.values: dict[str, str] = {}
        self.vault_token = None
        self.npm_user = None

    def start(self) -> "PublishEnv":
        self.bao.start()
        self.pypi.start()
        self.npm.start()
        self.npm_user = f"aos-ci-{secrets.token_hex(3)}"
        npm_token = self.npm.add_user(self.npm_user)
        self.values = {"PYPI_API_TOKEN": self.pypi.token, "NPM_TOKEN": npm_token,
                       "TEST_PYPI_API_TOKEN": "pypi-" + secrets.token_urlsafe(32)}
        self.bao.write_policy("aos-publishd-read", read_policy(self.kv_path))
        self.bao.kv_put(self.kv_path, self.values)
        self.vault_token = self.bao.create_token(["aos-publishd-read"], ttl="4h",
                                                 token_id=self.token_id())
        return self

    def token_id(self) -> str | None:
        """The daemon token's id: None lets OpenBao choose."""
        return None

    def pypi_target(self, kind: str) -> PypiTarget:
        """The PyPI-style registry of this kind; devpi is started (and its
        password put into Vault as DEVPI_TOKEN) the first time.  Daemons
        made afterwards have its registry `devpi`."""
        if kind == "pypiserver":
            return PypiTarget(kind, "pypi", self.pypi)
        assert kind == "devpi", kind
        if self.devpi is None:
            devpi = DevpiServer(workdir=self.workdir / "devpi")
            try:
                devpi.start()
            except BaseException:
                devpi.stop()
                raise
            self.devpi = devpi
            self.set_secret(DEVPI_TOKEN=devpi.token)
        return PypiTarget(kind, "devpi", self.devpi)

    def registries(self) -> dict:
        return {
            "pypi": {"type": "pypi", "url": self.pypi.upload_url,
                     "token_key": "PYPI_API_TOKEN", "username": "__token__",
                     "index_url": self.pypi.index_url},
            "npm": {"type": "npm", "url": self.npm.url, "token_key": "NPM_TOKEN",
                    "access": "public"},
        } | ({} if self.devpi is None else {
            "devpi": {"type": "pypi", "url": self.devpi.upload_url,
                      "token_key": "DEVPI_TOKEN", "username": self.devpi.username,
                      "index_url": self.devpi.index_url}})

    def daemon(self, config: dict | None = None, start: bool = True,
               wait_ready: bool = True) -> Daemon:
        """A new aos-publishd logging in to OpenBao with a token file, its
        `pypi` and `npm` registries pointing at the local servers."""
        d = Daemon(self.workdir, self.bao.addr, name=f"d{len(self.daemons)}")
        tf = d.write_file("vault-token", self.vault_token + "\n")
        d.config["vault"]["auth"] = {"method": "token", "token_file": str(tf)}
        d.config["vault"]["kv_path"] = self.kv_path
        d.config["registries"].update(self.registries())
        d.config = deep_merge(d.config, config or {})
        self.daemons.append(d)
        if start:
            d.start(wait_ready=wait_ready)
        return d

    def set_secret(self, **values) -> int:
        """Patch keys of the Vault secret; returns the new KV version."""
        self.values.update(values)
        return self.bao.kv_patch(self.kv_path, values)

    # -- registry state -----------------------------------------------------
    def snapshot(self) -> dict:
        """Everything both registries hold: files with digests, packuments'
        versions and dist-tags."""
        out = {"pypi": self.pypi.files(), "npm": self.npm.tarballs()}
        if self.devpi is not None:
            out["devpi"] = self.devpi.files()
        return out

    def assert_unchanged(self, before: dict, what: str) -> None:
        after = self.snapshot()
        assert after == before, (
            f"{what}: the registries changed although nothing should have been "
            f"uploaded:\nbefore {before}\nafter  {after}")

    def stop(self) -> list[str]:
        problems = stop_daemons(self.daemons)
        for s in (self.devpi, self.npm, self.pypi, self.bao):
            if s is None:
                continue
            try:
                s.stop()
            except Exception as e:  # keep stopping the others
                problems.append(f"{type(s).__name__}: {e}")
        return problems


@pytest.fixture(scope="module")
def publish_env(request):
    """Per test module: OpenBao, pypiserver, verdaccio (started, seeded).
    The folder is kept when a test failed (or AOS_KEEP_WORKDIR is set)."""
    yield from running_env(request, PublishEnv, "aos-pub-", "publish_env")


# -- installation in fresh environments -------------------------------------
def fresh_venv(path: Path) -> Path:
    """A new virtual environment (with pip) at path."""
    run([sys.executable, "-m", "venv", path], tool_env(Path(path).parent / "home-venv"),
        timeout=180, what="python -m venv")
    return Path(path)


def pip_install(venv: Path, index_url: str, requirement: str, hashes=(),
                home: Path | None = None) -> subprocess.CompletedProcess:
    """pip install REQUIREMENT from index_url only, isolated from the
    machine's pip configuration; with hashes, pip checks the downloaded file
    against them (--require-hashes)."""
    venv = Path(venv)
    env = tool_env(home or venv.parent / "home-pip")
    args = [venv / "bin" / "python", "-m", "pip", "install", "--index-url", index_url,
            "--no-deps", "--only-binary", ":all:"]
    if hashes:
        req = venv.parent / "requirements.txt"
        req.write_text(requirement + " " + " ".join(f"--hash=sha256:{h}" for h in hashes) + "\n")
        args += ["--require-hashes", "-r", req]
    else:
        args.append(requirement)
    return run(args, env, timeout=180, what=f"pip install {requirement}")


def npm_install(folder: Path, registry: str, spec: str,
                home: Path | None = None) -> subprocess.CompletedProcess:
    """npm install SPEC from this registry only, in a new folder, with
    private npm configuration."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text(json.dumps(
        {"name": "aos-sdk-consumer", "version": "1.0.0", "private": True}))
    env = tool_env(home or folder.parent / "home-npm", {"npm_config_registry": registry})
    return run(["npm", "install", "--registry", registry, "--no-audit", "--no-fund", spec],
               env, cwd=folder, timeout=180, what=f"npm install {spec}")
