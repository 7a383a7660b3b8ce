"""Start a real pypiserver (PyPI-style registry) for tests and benchmarks.

Only the Python standard library is used here; the server itself and passlib
(for the htpasswd file) come from the project venv.  Typical use:

    from peers.pypiserver import PypiServer

    with PypiServer() as pypi:          # free 127.0.0.1 port, random token
        pypi.upload_url                 # "http://127.0.0.1:P/"  (POST /)
        pypi.index_url                  # "http://127.0.0.1:P/simple/"
        pypi.token                      # password of htpasswd user __token__
        pypi.files()                    # {filename: sha256 hex} on disk

The htpasswd file has one user, `__token__`, whose password is a token made
at start, so PyPI's Basic auth `__token__:<token>` works unchanged.  By
default updates, downloads and listings all need it (`-a
update,download,list`); `pip` then needs the credentials in the index URL
(index_url_with_auth).  The package folder on disk is the ground truth for
"exactly once" and digest checks.

Run as a script it starts a server, prints shell assignments and runs until
interrupted.
"""

from __future__ import annotations

import base64
import json
import os
import re
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
VENV_BIN = SOURCE_DIR / ".venv" / "bin"

TOKEN_USER = "__token__"


def find_pypi_server() -> list[str]:
    """argv prefix that runs pypiserver from the project venv."""
    exe = VENV_BIN / "pypi-server"
    if os.access(exe, os.X_OK):
        return [str(exe)]
    py = VENV_BIN / "python"
    if os.access(py, os.X_OK):
        return [str(py), "-m", "pypiserver"]
    raise FileNotFoundError(f"no pypi-server under {VENV_BIN}: run scripts/setup.sh first")


def write_htpasswd(path: Path, users: dict[str, str]) -> None:
    """An Apache htpasswd file (apr_md5_crypt, which passlib implements
    without extra packages and pypiserver accepts) written with the project
    venv's passlib, so this module itself needs only the standard library."""
    code = (
        "import json, sys\n"
        "from passlib.apache import HtpasswdFile\n"
        "users = json.load(sys.stdin)\n"
        "ht = HtpasswdFile(sys.argv[1], new=True, default_scheme='apr_md5_crypt')\n"
        "for u, p in users.items():\n"
        "    ht.set_password(u, p)\n"
        "ht.save()\n")
    py = VENV_BIN / "python"
    subprocess.run([str(py) if py.exists() else sys.executable, "-c", code, str(path)],
                   input=json.dumps(users), text=True, check=True, timeout=30,
                   capture_output=True)
    os.chmod(path, 0o600)


_STORED = re.compile(r"stored '([^']+)'\.$")
_EXISTS = re.compile(r"Cannot upload '([^']+)' since it already exists")


@dataclass
class UploadEvent:
    """One upload request pypiserver handled: its time (seconds since the
    epoch), the file, the outcome ("stored", "exists"; None: nothing
    stored, the request cut short) and when that outcome was logged."""
    at: float
    filename: str | None
    outcome: str | None
    done: float | None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kw):
        return None


class PypiServer(ServerProcess):
    """One `pypi-server run` process on 127.0.0.1:<port>."""

    def __init__(self, port: int | None = None, token: str | None = None,
                 workdir: str | Path | None = None,
                 authenticate: str = "update,download,list",
                 overwrite: bool = False, fallback_url: str | None = None,
                 request_log: bool = False):
        self.port = port or free_port()
        self.token = token or ("pypi-" + _secrets.token_urlsafe(32))
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="aos-pypi-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.packages = self.workdir / "packages"
        self.packages.mkdir(exist_ok=True)
        self.htpasswd = self.workdir / "htpasswd"
        self.log_path = self.workdir / "pypiserver.log"
        self.authenticate = authenticate
        self.overwrite = overwrite
        # None: --disable-fallback (an unknown project is a 404).  A URL:
        # pypiserver's default behaviour, an unknown project's /simple/
        # page redirected (303) to URL/<project>/, pointed at this URL
        # instead of the public index.
        self.fallback_url = fallback_url
        # True: the log also has a line per request and per stored file,
        # each with its time and the handling thread (uploads()).
        self.request_log = request_log
        self.proc: subprocess.Popen | None = None

    # -- addresses --------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def upload_url(self) -> str:
        """pypiserver takes uploads at POST / (not /legacy/)."""
        return self.url

    @property
    def index_url(self) -> str:
        return self.url + "simple/"

    @property
    def index_url_with_auth(self) -> str:
        """The simple index with the credentials in the URL, for pip."""
        return (f"http://{TOKEN_USER}:{urllib.parse.quote(self.token, safe='')}"
                f"@127.0.0.1:{self.port}/simple/")

    def auth_header(self, token: str | None = None) -> str:
        raw = f"{TOKEN_USER}:{token or self.token}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    # -- process ----------------------------------------------------------
    def start(self, timeout: float = 20.0) -> "PypiServer":
        if self.running:
            return self
        write_htpasswd(self.htpasswd, {TOKEN_USER: self.token})
        argv = find_pypi_server() + [
            "run", "-p", str(self.port), "-i", "127.0.0.1",
            "-P", str(self.htpasswd), "-a", self.authenticate,
            "--hash-algo", "sha256",
            "--log-file", str(self.log_path), "--log-stream", "none",
        ]
        if self.fallback_url is None:
            argv.append("--disable-fallback")
        else:
            argv += ["--fallback-url", self.fallback_url]
        if self.request_log:
            argv += ["-v", "--log-frmt", "%(created).6f %(thread)d %(levelname)s %(message)s",
                     "--log-req-frmt", "REQ %(REQUEST_METHOD)s %(PATH_INFO)s"]
        if self.overwrite:
            argv.append("-o")
        argv.append(str(self.packages))
        env = {"PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
               "HOME": str(self.workdir)}
        self.proc = spawn(argv, self.workdir / "pypiserver.out", env, self.workdir)
        deadline = time.monotonic() + timeout
        self.wait_ready(self.url + "health", deadline, "pypi-server", self.url)
        return self

    def log_tail(self, n: int = 3000) -> str:
        text = ""
        for p in (self.workdir / "pypiserver.out", self.log_path):
            try:
                text += p.read_text(errors="replace")
            except OSError:
                pass
        return text[-n:] or "(no log)"

    # -- state ------------------------------------------------------------
    def files(self) -> dict[str, str]:
        """{filename: sha256 hex} of every file in the package folder."""
        out = {}
        for p in sorted(self.packages.rglob("*")):
            if p.is_file():
                out[p.name] = sha256_file(p)
        return out

    def uploads(self) -> list["UploadEvent"]:
        """Every upload request in the log (request_log=True), in order:
        each POST with the file it stored or was refused ("already exists":
        a second upload of that file), or None when it stored nothing (a
        request cut short, a bad form).  The time is the request line's
        (waitress hands a request over once its body is in): the upload
        reached the registry then."""
        assert self.request_log, "start the server with request_log=True"
        out: list[UploadEvent] = []
        open_: dict[str, UploadEvent] = {}  # by thread: its POST being handled
        for line in log_lines(self.log_path):
            parts = line.split(" ", 3)
            if len(parts) < 4:
                continue
            try:
                at = float(parts[0])
            except ValueError:
                continue
            thread, msg = parts[1], parts[3]
            if msg.startswith("REQ "):
                open_.pop(thread, None)
                if msg.startswith("REQ POST "):
                    ev = UploadEvent(at, None, None, None)
                    out.append(ev)
                    open_[thread] = ev
                continue
            ev = open_.get(thread)
            m = _STORED.search(msg) or _EXISTS.search(msg)
            if ev is None or m is None:
                continue
            outcome = "stored" if m.re is _STORED else "exists"
            if ev.filename is None:
                ev.filename, ev.outcome, ev.done = m.group(1), outcome, at
            else:  # one request, several files (a signature): one event each
                out.append(UploadEvent(ev.at, m.group(1), outcome, at))
        return out

    def listings(self) -> list[tuple[float, str]]:
        """(time, path) of every GET in the log (request_log=True): when a
        client asked, say, /simple/<project>/ whether a file is there."""
        assert self.request_log, "start the server with request_log=True"
        out = []
        for line in log_lines(self.log_path):
            parts = line.split(" ")
            if len(parts) >= 6 and parts[3:5] == ["REQ", "GET"]:
                try:
                    out.append((float(parts[0]), parts[5]))
                except ValueError:
                    pass
        return out

    def get(self, path: str, auth: bool = True, timeout: float = 10.0):
        """(status, body bytes) of GET <url><path>; a redirect is not
        followed (its status is returned)."""
        req = urllib.request.Request(self.url + path.lstrip("/"))
        if auth:
            req.add_header("Authorization", self.auth_header())
        try:
            with urllib.request.build_opener(_NoRedirect).open(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def remove_all(self) -> None:
        """Delete every package file (the server re-lists the folder)."""
        for p in self.packages.iterdir():
            if p.is_file():
                p.unlink()
            else:
                shutil.rmtree(p)


def main() -> int:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    srv = PypiServer(port=args.port or None)
    srv.start()
    print(f"PYPI_URL={srv.upload_url}")
    print(f"PYPI_INDEX_URL={srv.index_url}")
    print(f"PYPI_API_TOKEN={srv.token}")
    print(f"PYPI_PACKAGES={srv.packages}")
    print(f"PYPISERVER_PID={srv.proc.pid}", flush=True)
    run_until_signalled(srv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
