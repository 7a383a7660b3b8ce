"""Start a real verdaccio (npm registry) for tests and benchmarks.

Only the Python standard library is used here; verdaccio itself is installed
in tests/peers/npm by scripts/setup.sh and runs on the machine's Node.
Typical use:

    from peers.verdaccio import Verdaccio

    with Verdaccio() as npm:             # free 127.0.0.1 port
        token = npm.add_user("aos-ci")   # a real user's token (NPM_TOKEN)
        npm.url                          # "http://127.0.0.1:P/"
        npm.packument("@agenticverz/aos-sdk")
        npm.tarballs()                   # {relative path: sha256} on disk

The configuration has no uplinks (nothing is proxied, nothing leaves the
machine), storage in a private folder, `max_body_size: 200mb` (the default
10mb is too small for the 50 MB tarball test), htpasswd authentication,
read access for everyone and publishing for authenticated users.

Run as a script it starts a server, creates a user, prints shell assignments
and runs until interrupted.
"""

from __future__ import annotations

import json
import os
import secrets as _secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

try:
    from .proc import (ServerProcess, free_port, log_lines, run_until_signalled,
                       sha256_file, spawn)
except ImportError:  # run as a script: tests/peers is on sys.path
    from proc import (ServerProcess, free_port, log_lines, run_until_signalled,
                      sha256_file, spawn)

SOURCE_DIR = Path(
    os.environ.get("AOS_SOURCE_DIR") or Path(__file__).resolve().parents[2])
NPM_DIR = SOURCE_DIR / "tests" / "peers" / "npm"
VERDACCIO_BIN = NPM_DIR / "node_modules" / ".bin" / "verdaccio"


def find_node() -> str:
    node = shutil.which("node")
    if not node:
        raise FileNotFoundError("node is not installed: run scripts/setup.sh first")
    return node


def escape_name(name: str) -> str:
    """A package name as it appears in a registry URL: @scope%2fname."""
    return urllib.parse.quote(name, safe="@")


CONFIG_TEMPLATE = """\
# Written by tests/peers/verdaccio.py: a private, offline registry.
storage: {storage}
auth:
  htpasswd:
    file: {htpasswd}
    max_users: 100
uplinks: {{}}
packages:
  '@*/*':
    access: $all
    publish: $authenticated
    unpublish: $authenticated
  '**':
    access: $all
    publish: $authenticated
    unpublish: $authenticated
listen: 127.0.0.1:{port}
max_body_size: {max_body_size}
web:
  enable: false
log:
  type: stdout
  format: pretty
  level: {log_level}
"""


class Verdaccio(ServerProcess):
    """One verdaccio process on 127.0.0.1:<port>."""

    def __init__(self, port: int | None = None, workdir: str | Path | None = None,
                 max_body_size: str = "200mb", log_level: str = "http"):
        self.port = port or free_port()
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="aos-verdaccio-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage = self.workdir / "storage"
        self.htpasswd = self.workdir / "htpasswd"
        self.config_path = self.workdir / "config.yaml"
        self.log_path = self.workdir / "verdaccio.log"
        self.max_body_size = max_body_size
        self.log_level = log_level
        self.proc: subprocess.Popen | None = None
        self.users: dict[str, str] = {}  # name -> token

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    # -- process ----------------------------------------------------------
    def write_config(self) -> None:
        self.storage.mkdir(exist_ok=True)
        self.config_path.write_text(CONFIG_TEMPLATE.format(
            storage=self.storage, htpasswd=self.htpasswd, port=self.port,
            max_body_size=self.max_body_size, log_level=self.log_level))

    def start(self, timeout: float = 30.0) -> "Verdaccio":
        if self.running:
            return self
        if not VERDACCIO_BIN.exists():
            raise FileNotFoundError(f"{VERDACCIO_BIN} missing: run scripts/setup.sh first")
        self.write_config()
        env = {"PATH": f"{Path(find_node()).parent}:/usr/local/bin:/usr/bin:/bin",
               "HOME": str(self.workdir), "NODE_ENV": "production",
               "XDG_CONFIG_HOME": str(self.workdir / "xdg"),
               "XDG_DATA_HOME": str(self.workdir / "xdg")}
        self.proc = spawn(
            [find_node(), str(VERDACCIO_BIN.resolve()), "--config", str(self.config_path)],
            self.log_path, env, self.workdir)
        deadline = time.monotonic() + timeout
        self.wait_ready(self.url + "-/ping", deadline, "verdaccio", self.url)
        return self

    # -- HTTP -------------------------------------------------------------
    def request(self, method: str, path: str, body=None, token: str | None = None,
                headers: dict | None = None, timeout: float = 30.0):
        """(status, body bytes) of one request; never raises for a status."""
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path.lstrip("/"), data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def add_user(self, name: str | None = None, password: str | None = None) -> str:
        """Create a user (PUT /-/user/org.couchdb.user:<name>) and return the
        token verdaccio issues for it."""
        name = name or f"aos-ci-{_secrets.token_hex(4)}"
        password = password or _secrets.token_urlsafe(24)
        st, raw = self.request("PUT", f"-/user/org.couchdb.user:{name}",
                               {"name": name, "password": password,
                                "type": "user", "roles": [], "date": ""})
        if st not in (200, 201):
            raise RuntimeError(f"creating verdaccio user {name}: HTTP {st}: {raw[:300]!r}")
        token = json.loads(raw).get("token")
        if not token:
            raise RuntimeError(f"verdaccio gave no token for {name}: {raw[:300]!r}")
        self.users[name] = token
        return token

    def whoami(self, token: str) -> str | None:
        st, raw = self.request("GET", "-/whoami", token=token)
        return json.loads(raw).get("username") if st == 200 else None

    def packument(self, name: str, token: str | None = None):
        """The package document as JSON, or None when the registry does not
        have the package (404)."""
        st, raw = self.request("GET", escape_name(name), token=token,
                               headers={"Accept": "application/json"})
        if st == 404:
            return None
        if st != 200:
            raise RuntimeError(f"GET {name}: HTTP {st}: {raw[:300]!r}")
        return json.loads(raw)

    def fetch_tarball(self, name: str, version: str) -> bytes:
        """The tarball the packument's dist.tarball names, fetched back."""
        doc = self.packument(name)
        if doc is None or version not in doc.get("versions", {}):
            raise KeyError(f"{name}@{version} not on the registry")
        url = doc["versions"][version]["dist"]["tarball"]
        path = urllib.parse.urlsplit(url).path
        st, raw = self.request("GET", path)
        if st != 200:
            raise RuntimeError(f"GET {url}: HTTP {st}")
        return raw

    def _json_log(self):
        """Each JSON line of the log, parsed (other lines: node's warnings)."""
        for line in log_lines(self.log_path):
            if line.startswith("{"):
                try:
                    yield json.loads(line)
                except ValueError:
                    pass

    def publish_log(self) -> tuple[list["PutEvent"], list["PutEvent"]]:
        """The publish requests (PUT of a package document) in verdaccio's
        log, (starts, ends), each in log order.  A start is logged when the
        request's headers are in (length: its Content-Length); an end when it
        was answered (length: the body bytes read; error: "request aborted"
        when the client went away).  verdaccio logs some ends twice (a 200
        before the 201, an abort twice): count ends by what they say, not by
        how many lines."""
        starts: list[PutEvent] = []
        ends: list[PutEvent] = []
        for d in self._json_log():
            req = d.get("req") or d.get("request") or {}
            url = req.get("url", "")
            if req.get("method") != "PUT" or not url.startswith("/") or url.startswith("/-/"):
                continue
            name = urllib.parse.unquote(url[1:])
            if "/" in name and not name.startswith("@"):
                continue  # a sub-resource, not a package document
            if "status" in d:
                ends.append(PutEvent(d["time"], name, d.get("bytes", {}).get("in"),
                                     d["status"], d.get("error")))
            else:
                try:
                    length = int(req.get("headers", {}).get("content-length", ""))
                except ValueError:
                    length = None
                starts.append(PutEvent(d["time"], name, length, None, None))
        return starts, ends

    def package_reads(self) -> list[tuple[int, str]]:
        """(time in ms, package) of every answered GET of a package document
        in the log: when a client was told which versions are there."""
        out = []
        for d in self._json_log():
            req = d.get("request") or {}
            url = req.get("url", "")
            # verdaccio logs a GET's answer twice: first a 200 of no bytes
            # as it starts, then the answer it sent (the document, a 404).
            if req.get("method") == "GET" and d.get("bytes", {}).get("out") and \
                    url.startswith("/") and not url.startswith("/-/"):
                name = urllib.parse.unquote(url[1:].split("?", 1)[0])
                if "/" not in name or name.startswith("@") and name.count("/") == 1:
                    out.append((d["time"], name))
        return out

    # -- state on disk ----------------------------------------------------
    def tarballs(self) -> dict[str, str]:
        """{path relative to storage: sha256 hex} of every stored tarball."""
        out = {}
        if self.storage.exists():
            for p in sorted(self.storage.rglob("*.tgz")):
                out[str(p.relative_to(self.storage))] = sha256_file(p)
        return out


@dataclass
class PutEvent:
    """A publish request in verdaccio's log: time (ms since the epoch),
    package name, length (start: Content-Length; end: bytes read), status
    and error of an end (None for a start)."""
    at_ms: int
    package: str
    length: int | None
    status: int | None
    error: str | None


def main() -> int:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    srv = Verdaccio(port=args.port or None)
    srv.start()
    token = srv.add_user()
    print(f"NPM_REGISTRY={srv.url}")
    print(f"NPM_TOKEN={token}")
    print(f"VERDACCIO_STORAGE={srv.storage}")
    print(f"VERDACCIO_PID={srv.proc.pid}", flush=True)
    run_until_signalled(srv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
