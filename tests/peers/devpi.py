"""Start a real devpi-server (a second PyPI-style registry) for tests.

Only the Python standard library is used here; devpi-server comes from the
project venv.  Typical use:

    from peers.devpi import DevpiServer

    with DevpiServer() as devpi:        # free 127.0.0.1 port, random password
        devpi.upload_url                # "http://127.0.0.1:P/ci/rel/"
        devpi.index_url                 # "http://127.0.0.1:P/ci/rel/+simple/"
        devpi.username, devpi.token     # the index owner's user and password
        devpi.index_url_with_auth       # the index with user:password, for pip
        devpi.files()                   # {filename: sha256 hex} on the index
        devpi.uploads()                 # every upload request it handled, from its log
        devpi.set_password(new)         # the old password stops working at once

    DevpiServer(max_body=1 << 20)       # uploads over 1 MiB answered 413

The state folder is made by `devpi-init --no-root-pypi` (no mirror of any
public index), then `devpi-server --serverdir` runs on it.  A user and a
non-volatile index (`volatile: false`: a release file, once uploaded, is
never overwritten, as on PyPI) are created through devpi's HTTP API with
Basic auth, which devpi also takes on uploads (user:password).

How devpi answers differs from pypiserver (docs/operations.md, "Registry
kinds"): an identical file uploaded again is a 200 ("Upload of identical
file to non volatile index."), a different one a 409; the simple pages
are served under +simple/ and offer PEP 691 JSON.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets as _secrets
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .proc import ServerProcess, free_port, spawn

SOURCE_DIR = Path(
    os.environ.get("AOS_SOURCE_DIR") or Path(__file__).resolve().parents[2])
VENV_BIN = SOURCE_DIR / ".venv" / "bin"

USER = "ci"
INDEX = "rel"


@dataclass
class Upload:
    """One upload request devpi handled (its request log): `outcome` is
    "stored" (a new release file, `filename` set), "identical" (the 200
    for a file it holds already: devpi logs the request's project-version
    only, in `release`), or "refused" (any other answer it logged, e.g.
    409 or 400)."""
    request: str
    outcome: str
    filename: str | None
    release: str | None


# devpi-server's request log (INFO): "[reqN] POST /ci/rel/", then the
# request's own lines, "[reqN] [Wtx3] set_metadata NAME-VERSION" and
# "[reqN] [Wtx3] added <Rel.ReleaseFile: 'releasefile'> link ci/rel/+f/.../FILE"
# for a file stored, or "[reqN] [Wtx3] while handling URL:\nUpload of
# identical file to non volatile index." (devpi_server/views.py, the
# file_upload branch of submit, and tween_request_logging).
_REQ = re.compile(r"^\S+ \S+ \w+\s+\[(req\d+)\] (.*)$")
_STAMP = re.compile(r"^\d{4}-\d\d-\d\d ")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kw):
        return None


class DevpiServer(ServerProcess):
    """One devpi-server process on 127.0.0.1:<port>, with user `ci` and
    its index `ci/rel`."""

    kind = "devpi"

    def __init__(self, port: int | None = None, workdir: str | Path | None = None,
                 max_body: int | None = None):
        self.port = port or free_port()
        # --max-request-body-size (bytes): a larger upload is answered 413
        # by waitress before devpi sees it.  None: devpi's default, 1 GiB.
        self.max_body = max_body
        self.username = USER
        self.token = "devpi-" + _secrets.token_urlsafe(24)
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="aos-devpi-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.serverdir = self.workdir / "server"
        self.log_path = self.workdir / "devpi-server.log"
        self.proc: subprocess.Popen | None = None

    # -- addresses --------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def upload_url(self) -> str:
        """devpi takes legacy uploads at POST /<user>/<index>/."""
        return f"{self.url}{USER}/{INDEX}/"

    @property
    def index_url(self) -> str:
        return f"{self.upload_url}+simple/"

    @property
    def index_url_with_auth(self) -> str:
        """The simple index with the credentials in the URL, for pip (devpi
        lets anyone read the index; the credentials do no harm)."""
        return (f"http://{USER}:{urllib.parse.quote(self.token, safe='')}"
                f"@127.0.0.1:{self.port}/{USER}/{INDEX}/+simple/")

    def auth_header(self, token: str | None = None) -> str:
        raw = f"{USER}:{token or self.token}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def _env(self) -> dict:
        return {"PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
                "HOME": str(self.workdir), "PYTHONWARNINGS": "ignore"}

    # -- process ----------------------------------------------------------
    def start(self, timeout: float = 60.0) -> "DevpiServer":
        if self.running:
            return self
        if not (self.serverdir / ".nodeinfo").exists():
            subprocess.run([str(VENV_BIN / "devpi-init"), "--serverdir", str(self.serverdir),
                            "--no-root-pypi", "--root-passwd=" + _secrets.token_urlsafe(16)],
                           env=self._env(), cwd=self.workdir, check=True,
                           capture_output=True, timeout=120)
            fresh = True
        else:
            fresh = False
        argv = [str(VENV_BIN / "devpi-server"), "--serverdir", str(self.serverdir),
                "--host", "127.0.0.1", "--port", str(self.port)]
        # devpi derives its session-token key from a random secret with
        # argon2 (512 MiB, 16 passes: about 20 s of CPU on a loaded
        # machine, at every start).  The tests authenticate with Basic
        # auth only, so the cheap parameters devpi's own test suite uses
        # (its lower_argon2_parameters fixture) change nothing they see.
        argv += ["--argon2-memory-cost", "8192", "--argon2-time-cost", "1",
                 "--argon2-parallelism", "1"]
        if self.max_body is not None:
            argv += ["--max-request-body-size", str(self.max_body)]
        self.proc = spawn(argv, self.log_path, self._env(), self.workdir)
        deadline = time.monotonic() + timeout
        self.wait_ready(self.url + "+api", deadline, "devpi-server", self.url)
        if fresh:
            self._request("PUT", USER, {"password": self.token,
                                        "email": "ci@example.invalid"}, auth=False)
            self._request("PUT", f"{USER}/{INDEX}",
                          {"type": "stage", "bases": [], "volatile": False})
        return self

    def _request(self, method: str, path: str, doc: dict | None = None,
                 auth: bool = True, accept: str = "application/json"):
        """(status, body bytes) of METHOD <url><path>."""
        req = urllib.request.Request(self.url + path.lstrip("/"), method=method,
                                     data=json.dumps(doc).encode() if doc else None)
        req.add_header("Accept", accept)
        if doc is not None:
            req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", self.auth_header())
        try:
            with urllib.request.build_opener(_NoRedirect).open(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            if method == "PUT":
                raise RuntimeError(f"devpi {method} {path}: {e.code} {e.read()[:300]!r}")
            return e.code, e.read()

    def get(self, path: str, auth: bool = True, timeout: float = 10.0,
            accept: str = "text/html"):
        """(status, body bytes) of GET <url><path>; a redirect is not followed."""
        return self._request("GET", path, auth=auth, accept=accept)

    # -- state ------------------------------------------------------------
    def files(self) -> dict[str, str]:
        """{filename: sha256 hex} of every release file on the index, as its
        JSON simple pages list them (devpi keeps them in its own store)."""
        status, body = self._request("GET", f"{USER}/{INDEX}/+simple/",
                                     accept="application/vnd.pypi.simple.v1+json")
        assert status == 200, (status, body[:300])
        out = {}
        for p in json.loads(body)["projects"]:
            status, page = self._request("GET", f"{USER}/{INDEX}/+simple/{p['name']}/",
                                         accept="application/vnd.pypi.simple.v1+json")
            assert status == 200, (status, page[:300])
            for f in json.loads(page)["files"]:
                out[f["filename"]] = f["hashes"]["sha256"]
        return dict(sorted(out.items()))

    def remove(self, project: str, version: str) -> None:
        """`devpi remove --force PROJECT==VERSION` (the index is non-volatile),
        through the HTTP API."""
        status, body = self._request("DELETE",
                                     f"{USER}/{INDEX}/{project}/{version}?force")
        assert status == 200, (status, body[:300])

    def set_password(self, new: str) -> None:
        """A new password for the index owner (PATCH /ci): the old one is
        refused from then on.  The caller puts the new one into Vault."""
        self._request("PATCH", USER, {"password": new})
        self.token = new

    def uploads(self) -> list[Upload]:
        """Every upload request (POST to the index) devpi-server handled, in
        order, read from its log: a request devpi never dispatched (its body
        cut short, the client killed mid-upload: waitress drops it) is not
        there; one devpi answered is, whatever the answer.  A count of real
        requests, which files() (the final state) cannot give: devpi answers
        a second identical upload 200 and keeps one file."""
        lines: dict[str, list[str]] = {}
        posts: list[str] = []
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        last, run = None, 0
        for ln in text.splitlines():
            if " devpi-server version: " in ln:
                run += 1  # a restart (same log): request numbers start again
            m = _REQ.match(ln)
            if m is None:
                if last is not None and not _STAMP.match(ln):
                    lines[last].append(ln)  # the continuation of a message
                continue
            last = f"{run}:{m.group(1)}"
            if m.group(2) == f"POST /{USER}/{INDEX}/" and last not in lines:
                posts.append(last)
            lines.setdefault(last, []).append(m.group(2))
        out = []
        for req in posts:
            body = lines.get(req, [])
            stored = [re.search(r"'releasefile'> link \S+/([^/\s]+)$", x) for x in body]
            stored = [m.group(1) for m in stored if m]
            release = [x.rsplit(" ", 1)[1] for x in body if "set_metadata " in x]
            identical = any("Upload of identical file" in x for x in body)
            outcome = "stored" if stored else "identical" if identical else "refused"
            out.append(Upload(req, outcome, stored[0] if stored else None,
                              release[0] if release else None))
        return out
