"""Shared pieces of the webhook and pipeline integration tests
(test_webhook_*.py, test_pipeline_failures.py, test_reconcile.py).

- GitRepo: a stand-in for the forge's repository: a bare repository served
  as a file:// URL, holding the two fixture SDKs (tests/fixtures/python-sdk
  and js-sdk, {{VERSION}} replaced) under sdk/python and sdk/js, with
  commits at fixed dates and tags (lightweight or annotated).
- Payload builders for the three forge formats: GitHub `push`, GitLab `Tag
  Push Hook`, Gitea/Forgejo `push`; and their signatures (GitHub
  X-Hub-Signature-256 `sha256=<hex HMAC>`, GitLab X-Gitlab-Token = the
  secret, Gitea/Forgejo bare hex HMAC) with the headers each forge sends.
- An HTTP client on raw sockets (every byte under the test's control:
  malformed framing, slow clients, keep-alive), and Hooks, which sends
  webhooks to one daemon and checks that no answer ever echoes a secret or
  an expected signature.
- WebhookEnv: PublishEnv (OpenBao, pypiserver "pypi", verdaccio "npm") plus
  a second pypiserver ("testpypi"), the webhook secrets in the same Vault
  secret as the registry tokens (random, made at test time), the git
  repository, and daemons with a listener and pipelines.  The module-scoped
  fixture `webhook_env` gives each test module its own set.

Every wait is bounded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from aos_fixtures import (PUBLISHCTL, SOURCE_DIR, Daemon, deep_merge, running_env,
                          wait_for)
from peers.proc import free_port
from peers.pypiserver import PypiServer
from peers.verdaccio import find_node
from publish_support import (JS_BUILD, JS_ENV, JS_VERIFY, NPM_NAME, PY_BUILD, PY_ENV,  # noqa: F401
                             PY_NAME, PY_VERIFY, PublishEnv, js_readable, py_readable,
                             render_fixture, step_path)
from queue_support import TERMINAL, describe_jobs, job_log, job_show, jobs, queue_config


REPO_NAME = "agenticverz/aos"
ZERO_SHA = "0" * 40

# The Vault keys holding the webhook secrets (beside the registry tokens).
WEBHOOK_KEYS = {"github": "GITHUB_WEBHOOK_SECRET", "gitlab": "GITLAB_WEBHOOK_TOKEN",
                "gitea": "GITEA_WEBHOOK_SECRET"}

# -- the repository --------------------------------------------------------------
class GitRepo:
    """A bare repository at <root>/forge/<name>.git (its URL: file://...) and
    a work tree that commits and pushes to it.  Commit dates are fixed (one
    hour apart from 2023-11-14), so SOURCE_DATE_EPOCH, and the builds, are
    reproducible."""

    BASE_TIME = 1_700_000_000

    def __init__(self, root: Path, name: str = REPO_NAME):
        self.root = Path(root)
        self.name = name
        self.bare = self.root / "forge" / f"{name}.git"
        self.work = self.root / "worktree"
        self.home = self.root / "home-git"
        self.home.mkdir(parents=True, exist_ok=True)
        self._n = 0
        self.bare.parent.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "--bare", "-b", "main", str(self.bare), cwd=self.root)
        # A forge serves any commit of the repository by its id (what `git
        # fetch --depth 1 <url> <commit>` asks for).
        self.git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=self.bare)
        self.git("init", "-q", "-b", "main", str(self.work), cwd=self.root)
        self.git("config", "user.name", "AOS Release Bot")
        self.git("config", "user.email", "release@agenticverz.invalid")
        self.git("remote", "add", "origin", self.url)

    @property
    def url(self) -> str:
        return "file://" + str(self.bare)

    def env(self, extra: dict | None = None) -> dict:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(self.home),
               "LANG": "C.UTF-8", "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_TERMINAL_PROMPT": "0"}
        env.update(extra or {})
        return env

    def git(self, *args, cwd: Path | None = None, env: dict | None = None) -> str:
        p = subprocess.run(["git", *map(str, args)], cwd=str(cwd or self.work),
                           env=self.env(env), capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"git {' '.join(map(str, args))}: {p.stderr}{p.stdout}"
        return p.stdout.strip()

    def _date(self, when: int | None) -> str:
        if when is None:
            self._n += 1
            when = self.BASE_TIME + 3600 * self._n
        return f"@{when} +0000"

    def commit_release(self, version: str, js_version: str | None = None,
                       when: int | None = None, message: str | None = None) -> str:
        """Replace sdk/python and sdk/js with the fixtures rendered at these
        versions, commit (fixed date) and push main; returns the commit id."""
        sdk = self.work / "sdk"
        if sdk.exists():
            shutil.rmtree(sdk)
        render_fixture("python-sdk", version, sdk / "python")
        render_fixture("js-sdk", js_version or version, sdk / "js")
        self.git("add", "-A")
        date = self._date(when)
        self.git("commit", "-q", "--allow-empty", "-m",
                 message or f"Release python {version}, js {js_version or version}",
                 env={"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date})
        self.git("push", "-q", "origin", "main")
        return self.git("rev-parse", "HEAD")

    def tag(self, name: str, commit: str = "HEAD", annotated: bool = False) -> str:
        """Create and push tag `name` on commit; returns the commit id."""
        if annotated:
            date = self._date(None)
            self.git("tag", "-a", "-m", f"Release {name}", name, commit,
                     env={"GIT_COMMITTER_DATE": date})
        else:
            self.git("tag", name, commit)
        self.git("push", "-q", "origin", f"refs/tags/{name}")
        return self.git("rev-parse", f"{name}^{{commit}}")

    def tag_object(self, name: str) -> str:
        """What refs/tags/<name> points at (the tag object when annotated)."""
        return self.git("rev-parse", f"refs/tags/{name}")

    def commit_time(self, commit: str) -> int:
        return int(self.git("show", "-s", "--format=%ct", commit))


# -- payloads --------------------------------------------------------------------
def _iso(t: int | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t or GitRepo.BASE_TIME))


def github_push(tag: str | None, commit: str, repo: str = REPO_NAME, *,
                after: str | None = None, ref: str | None = None, deleted: bool = False,
                clone_url: str = "file:///nonexistent/payload-clone-url.git") -> dict:
    """A GitHub `push` event for a tag (ref refs/tags/TAG).  `after` is the
    tag object for an annotated tag; the commit is in head_commit.id.  The
    clone URL points nowhere: the daemon must use its configured one."""
    ref = ref or f"refs/tags/{tag}"
    owner, _, short = repo.partition("/")
    return {
        "ref": ref,
        "before": commit if deleted else ZERO_SHA,
        "after": ZERO_SHA if deleted else (after or commit),
        "repository": {"id": 4242, "name": short, "full_name": repo, "private": False,
                       "owner": {"login": owner, "name": owner},
                       "clone_url": clone_url, "ssh_url": "git@forge.invalid:x/y.git",
                       "html_url": f"https://forge.invalid/{repo}",
                       "default_branch": "main"},
        "pusher": {"name": "releaser", "email": "releaser@agenticverz.invalid"},
        "sender": {"login": "releaser", "id": 7},
        "created": not deleted,
        "deleted": deleted,
        "forced": False,
        "base_ref": None,
        "compare": f"https://forge.invalid/{repo}/compare/{tag}",
        "commits": [],
        "head_commit": None if deleted else {
            "id": commit, "tree_id": hashlib.sha1(commit.encode()).hexdigest(),
            "distinct": True, "message": f"Release {tag}", "timestamp": _iso(),
            "url": f"https://forge.invalid/{repo}/commit/{commit}",
            "author": {"name": "AOS Release Bot", "email": "release@agenticverz.invalid"},
            "committer": {"name": "AOS Release Bot", "email": "release@agenticverz.invalid"},
            "added": [], "removed": [], "modified": []},
    }


def gitlab_tag_push(tag: str | None, commit: str | None, repo: str = REPO_NAME, *,
                    ref: str | None = None, deleted: bool = False,
                    object_kind: str = "tag_push") -> dict:
    """A GitLab `Tag Push Hook` (object_kind tag_push; checkout_sha is the
    commit, null when the tag was deleted)."""
    ref = ref or f"refs/tags/{tag}"
    short = repo.rsplit("/", 1)[-1]
    return {
        "object_kind": object_kind,
        "event_name": object_kind,
        "before": commit if deleted else ZERO_SHA,
        "after": ZERO_SHA if deleted else commit,
        "ref": ref,
        "ref_protected": True,
        "checkout_sha": None if deleted else commit,
        "message": None,
        "user_id": 7, "user_name": "Releaser", "user_username": "releaser",
        "project_id": 4242,
        "project": {"id": 4242, "name": short, "path_with_namespace": repo,
                    "namespace": repo.split("/")[0],
                    "git_http_url": "file:///nonexistent/payload-clone-url.git",
                    "git_ssh_url": "git@forge.invalid:x/y.git",
                    "web_url": f"https://forge.invalid/{repo}", "default_branch": "main"},
        "commits": [],
        "total_commits_count": 0,
        "repository": {"name": short, "url": "git@forge.invalid:x/y.git",
                       "homepage": f"https://forge.invalid/{repo}"},
    }


def gitea_push(tag: str | None, commit: str, repo: str = REPO_NAME, *,
               ref: str | None = None, deleted: bool = False) -> dict:
    """A Gitea/Forgejo `push` event for a (lightweight) tag: the commit is
    `after`; a tag push carries no commits and no head_commit."""
    ref = ref or f"refs/tags/{tag}"
    owner, _, short = repo.partition("/")
    return {
        "ref": ref,
        "before": commit if deleted else ZERO_SHA,
        "after": ZERO_SHA if deleted else commit,
        "compare_url": "",
        "commits": [],
        "total_commits": 0,
        "head_commit": None,
        "repository": {"id": 4242, "name": short, "full_name": repo,
                       "owner": {"login": owner, "username": owner},
                       "clone_url": "file:///nonexistent/payload-clone-url.git",
                       "ssh_url": "git@forge.invalid:x/y.git",
                       "html_url": f"https://forge.invalid/{repo}",
                       "default_branch": "main"},
        "pusher": {"login": "releaser", "username": "releaser"},
        "sender": {"login": "releaser", "username": "releaser"},
    }


def body_of(payload) -> bytes:
    """The raw body: bytes as given, a dict as compact JSON."""
    if isinstance(payload, (bytes, bytearray)):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, separators=(",", ":")).encode()


# -- signatures --------------------------------------------------------------------
def hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def forge_headers(forge: str, body: bytes, secret: str | None, *, event: str | None = None,
                  delivery: str | None = None, forgejo: bool = False) -> list[tuple[str, str]]:
    """The headers a forge sends with this body.  secret None: no signature
    header at all.  Gitea sends its GitHub- and Gogs-compatible headers too
    (X-GitHub-Event, X-Hub-Signature-256 made with the Gitea secret); with
    forgejo=True only Forgejo's own X-Forgejo-* headers are sent."""
    delivery = delivery or str(uuid.uuid4())
    h = [("Content-Type", "application/json")]
    if forge == "github":
        h += [("User-Agent", "GitHub-Hookshot/5b1e7a9"),
              ("X-GitHub-Event", event or "push"), ("X-GitHub-Delivery", delivery),
              ("X-GitHub-Hook-ID", "424242")]
        if secret is not None:
            h.append(("X-Hub-Signature-256", "sha256=" + hmac_hex(secret, body)))
    elif forge == "gitlab":
        h += [("User-Agent", "GitLab/17.5.1"), ("X-Gitlab-Event", event or "Tag Push Hook"),
              ("X-Gitlab-Event-UUID", delivery), ("Idempotency-Key", delivery),
              ("X-Gitlab-Instance", "https://forge.invalid")]
        if secret is not None:
            h.append(("X-Gitlab-Token", secret))
    elif forge == "gitea" and forgejo:
        h += [("User-Agent", "Go-http-client/1.1"), ("X-Forgejo-Event", event or "push"),
              ("X-Forgejo-Event-Type", event or "push"), ("X-Forgejo-Delivery", delivery)]
        if secret is not None:
            h.append(("X-Forgejo-Signature", hmac_hex(secret, body)))
    elif forge == "gitea":
        ev = event or "push"
        h += [("User-Agent", "Go-http-client/1.1"), ("X-Gitea-Event", ev),
              ("X-Gitea-Event-Type", ev), ("X-Gitea-Delivery", delivery),
              ("X-Gogs-Event", ev), ("X-Gogs-Delivery", delivery),
              ("X-GitHub-Event", ev), ("X-GitHub-Event-Type", ev),
              ("X-GitHub-Delivery", delivery)]
        if secret is not None:
            sig = hmac_hex(secret, body)
            h += [("X-Gitea-Signature", sig), ("X-Gogs-Signature", sig),
                  ("X-Hub-Signature-256", "sha256=" + sig)]
    else:
        raise ValueError(forge)
    return h


# -- HTTP on raw sockets ---------------------------------------------------------------
class Response:
    """One HTTP answer as read off the socket."""

    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]],
                 body: bytes, raw: bytes, seconds: float = 0.0):
        self.status, self.reason, self.headers = status, reason, headers
        self.body, self.raw, self.seconds = body, raw, seconds

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @property
    def json(self) -> dict:
        try:
            j = json.loads(self.body)
        except ValueError as e:
            raise AssertionError(f"answer body is not JSON ({e}): {self}") from None
        assert isinstance(j, dict), f"answer body is not a JSON object: {self}"
        return j

    def __repr__(self):
        return (f"HTTP {self.status} {self.reason} ({self.seconds:.2f}s) "
                f"headers={self.headers} body={self.body[:1500]!r}")


class ConnectionEnded(AssertionError):
    """The server closed (or reset) the connection before a whole answer."""


class Conn:
    """One TCP connection to 127.0.0.1:port; requests and answers one after
    the other (keep-alive), or raw bytes."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.port = port
        self.timeout = timeout
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.eof = False
        self.reset = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def try_send(self, data: bytes) -> bool:
        """Send; False when the server has closed or reset the connection."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _fill(self, deadline: float) -> bool:
        """Read more into buf; False at EOF/reset."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no complete answer in time")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no complete answer in time") from None
        except ConnectionResetError:
            self.eof = self.reset = True
            return False
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_response(self, timeout: float | None = None, head: bool = False) -> Response:
        t0 = time.monotonic()
        deadline = t0 + (timeout or self.timeout)
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                raise ConnectionEnded(
                    f"connection {'reset' if self.reset else 'closed'} before an answer's "
                    f"headers; got {self.buf[:500]!r}")
        end = self.buf.index(b"\r\n\r\n") + 4
        head_bytes, self.buf = self.buf[:end], self.buf[end:]
        lines = head_bytes[:-4].decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3}) ?(.*)", lines[0])
        assert m, f"not an HTTP status line: {lines[0]!r}"
        status, reason = int(m.group(1)), m.group(2)
        headers = []
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers.append((k.strip(), v.strip()))
        hdr = {k.lower(): v for k, v in headers}
        body = b""
        if head or status in (204, 304) or 100 <= status < 200:
            pass
        elif "chunked" in hdr.get("transfer-encoding", "").lower():
            body = self._read_chunked(deadline)
        elif "content-length" in hdr:
            n = int(hdr["content-length"])
            while len(self.buf) < n:
                if not self._fill(deadline):
                    raise ConnectionEnded(f"body cut at {len(self.buf)} of {n} bytes")
            body, self.buf = self.buf[:n], self.buf[n:]
        else:
            while self._fill(deadline):
                pass
            body, self.buf = self.buf, b""
        raw = head_bytes + body
        return Response(status, reason, headers, body, raw, time.monotonic() - t0)

    def _read_chunked(self, deadline: float) -> bytes:
        out = b""
        while True:
            while b"\r\n" not in self.buf:
                if not self._fill(deadline):
                    raise ConnectionEnded("chunked body cut")
            line, self.buf = self.buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            while len(self.buf) < size + 2:
                if not self._fill(deadline):
                    raise ConnectionEnded("chunked body cut")
            out, self.buf = out + self.buf[:size], self.buf[size + 2:]
            if size == 0:
                return out

    def request(self, method: str, path: str, headers=None, body: bytes = b"",
                content_length: bool = True, timeout: float | None = None) -> Response:
        self.send(build_request(method, path, headers, body, content_length))
        return self.read_response(timeout, head=(method == "HEAD"))

    def closed_by_peer(self, timeout: float = 3.0) -> bool:
        """True when the server closes (or resets) the connection within
        timeout (bytes it still sends are kept in buf)."""
        deadline = time.monotonic() + timeout
        try:
            while self._fill(deadline):
                pass
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        self.sock.close()  # socket.close() does not raise for a dead peer

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def build_request(method: str, path: str, headers=None, body: bytes = b"",
                  content_length: bool = True) -> bytes:
    """Request bytes; headers as a list of pairs (order and duplicates kept)
    or a dict.  Host is added when missing, Content-Length for a body when
    content_length and no framing header is given."""
    hs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in hs}
    if "host" not in names:
        hs.insert(0, ("Host", "127.0.0.1"))
    if content_length and (body or method == "POST") and \
            not names & {"content-length", "transfer-encoding"}:
        hs.append(("Content-Length", str(len(body))))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs) + "\r\n"
    return head.encode("latin-1") + body


def http(port: int, method: str, path: str, headers=None, body: bytes = b"",
         timeout: float = 15.0) -> Response:
    """One request on a new connection."""
    with Conn(port, timeout) as c:
        return c.request(method, path, headers, body, timeout=timeout)


class Hooks:
    """Webhooks to one daemon's listener.  Every answer is kept and checked
    at once: it must not contain a webhook secret, a registry token, nor the
    signature expected for any body sent so far."""

    def __init__(self, port: int, secrets_by_forge: dict[str, str], other_secrets=()):
        self.port = port
        self.secrets = dict(secrets_by_forge)
        self.needles: set[str] = set(v for v in self.secrets.values() if v)
        self.needles.update(v for v in other_secrets if v)
        self.answers: list[Response] = []

    def expect_signatures(self, body: bytes) -> None:
        for s in self.secrets.values():
            if s:
                self.needles.add(hmac_hex(s, body))

    def check(self, r: Response) -> Response:
        self.answers.append(r)
        low = r.raw.decode("latin-1").lower()
        for n in self.needles:
            assert n.lower() not in low, (
                f"an answer echoes a secret or an expected signature "
                f"({len(n)} chars, starts {n[:4]!r}...): HTTP {r.status}")
        return r

    def post(self, body: bytes, headers, path: str = "/webhook", timeout: float = 15.0,
             conn: Conn | None = None) -> Response:
        self.expect_signatures(body)
        if conn is not None:
            return self.check(conn.request("POST", path, headers, body, timeout=timeout))
        return self.check(http(self.port, "POST", path, headers, body, timeout))

    def send(self, forge: str, payload, *, secret: str | None | bool = True,
             event: str | None = None, delivery: str | None = None, forgejo: bool = False,
             extra=(), drop=(), conn: Conn | None = None) -> Response:
        """POST /webhook in this forge's format.  secret True: the right one;
        None: no signature header; a string: sign with that."""
        body = body_of(payload)
        key = self.secrets.get(forge) if secret is True else secret
        hs = forge_headers(forge, body, key, event=event, delivery=delivery, forgejo=forgejo)
        hs = [(k, v) for k, v in hs if k.lower() not in {d.lower() for d in drop}]
        hs += list(extra)
        return self.post(body, hs, conn=conn)

    def get(self, path: str) -> Response:
        return self.check(http(self.port, "GET", path))


# -- answers -------------------------------------------------------------------------
def expect_json_answer(r: Response, status: int) -> dict:
    assert r.status == status, f"expected HTTP {status}: {r}"
    ct = (r.header("Content-Type") or "").lower()
    assert ct.startswith("application/json"), f"Content-Type {ct!r}: {r}"
    return r.json


def expect_accepted(r: Response, pipeline: str, tag: str, version: str, commit: str) -> int:
    """202 with the job: returns its id."""
    j = expect_json_answer(r, 202)
    assert j.get("ok") is True, r
    assert isinstance(j.get("job_id"), int) and j["job_id"] >= 1, r
    want = {"pipeline": pipeline, "tag": tag, "version": version, "commit": commit}
    got = {k: j.get(k) for k in want}
    assert got == want, f"202 answer {got} != {want}: {r}"
    assert not j.get("existing"), f"a first delivery answered existing: {r}"
    return j["job_id"]


def expect_existing(r: Response, job_id: int) -> None:
    j = expect_json_answer(r, 200)
    assert j.get("ok") is True and j.get("existing") is True, r
    assert j.get("job_id") == job_id, f"replay gave job {j.get('job_id')}, first was {job_id}"


def expect_ignored(r: Response, *words) -> str:
    """200 {"ok": true, "ignored": reason}; the reason contains one of words."""
    j = expect_json_answer(r, 200)
    assert j.get("ok") is True and isinstance(j.get("ignored"), str) and j["ignored"], r
    assert "job_id" not in j, f"an ignored delivery names a job: {r}"
    if words:
        assert any(w in j["ignored"].lower() for w in words), (
            f"ignored reason {j['ignored']!r} names none of {words}")
    return j["ignored"]


def expect_error(r: Response, status: int) -> str:
    j = expect_json_answer(r, status)
    assert j.get("ok") is False and isinstance(j.get("error"), str) and j["error"], r
    assert "job_id" not in j, f"a refused delivery names a job: {r}"
    return j["error"]


# -- the environment ---------------------------------------------------------------------
def python_pipeline(repo: GitRepo, tag_pattern: str = "python-sdk-v*",
                    targets=("testpypi", "pypi"), **over) -> dict:
    """The Python SDK's release pipeline; `over` is merged in (a step list
    replaces the default one, verify=None drops the verification)."""
    p = {"repository": repo.url, "repository_name": repo.name,
         "tag_pattern": tag_pattern, "package": PY_NAME, "directory": "sdk/python",
         "build": list(PY_BUILD), "verify": list(PY_VERIFY),
         "artifacts": ["dist/*.whl", "dist/*.tar.gz"],
         "targets": list(targets), "env": dict(PY_ENV), "timeout_s": 300,
         "readable": py_readable()}
    return deep_merge(p, over)


# A stand-in for PY_BUILD + PY_VERIFY where the build is not what a test is
# about (test_reconcile: which tags are missing, and that their jobs
# publish; a replayed delivery; an artifact of another version or name; a
# kill or a restart during a job): the wheel and the sdist of the
# checked-out project, with the name and version in its pyproject.toml and
# its src/ files, written by the standard library in about a second instead
# of PY_BUILD's three venvs and hatchling.  The daemon still checks the
# commit out, inspects the artifacts' names and versions against the tag,
# spools and uploads them.
QUICK_DIST = r"""
import base64, hashlib, io, pathlib, re, tarfile, zipfile
meta = pathlib.Path("pyproject.toml").read_text()
name, ver = (re.search(rf'^{k} = "(.+)"$', meta, re.M).group(1) for k in ("name", "version"))
norm = re.sub(r"[-_.]+", "_", name).lower()
info = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {ver}\n"
        "Summary: quick test build\nRequires-Python: >=3.8\n\n").encode()
src = sorted((str(f.relative_to("src")), f.read_bytes())
             for f in pathlib.Path("src").rglob("*.py"))
pathlib.Path("dist").mkdir(exist_ok=True)
di = f"{norm}-{ver}.dist-info"
members = src + [(f"{di}/METADATA", info), (f"{di}/WHEEL", b"Wheel-Version: 1.0\n"
                 b"Generator: aos-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n\n")]
def digest(d):
    return base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode()
rec = "".join(f"{n},sha256={digest(d)},{len(d)}\n" for n, d in members)
members.append((f"{di}/RECORD", (rec + f"{di}/RECORD,,\n").encode()))
with zipfile.ZipFile(f"dist/{norm}-{ver}-py3-none-any.whl", "w", zipfile.ZIP_DEFLATED) as z:
    for n, d in members:
        z.writestr(n, d)
top = f"{norm}-{ver}"
with tarfile.open(f"dist/{top}.tar.gz", "w:gz") as t:
    for n, d in [("PKG-INFO", info), ("pyproject.toml", meta.encode())] + [
            (f"src/{n}", d) for n, d in src]:
        ti = tarfile.TarInfo(f"{top}/{n}")
        ti.size, ti.mode = len(d), 0o644
        t.addfile(ti, io.BytesIO(d))
print(f"quick-dist: {norm}-{ver}-py3-none-any.whl and {top}.tar.gz")
"""


PY_QUICK_BUILD = ['python3 -c "$AOS_QUICK_DIST"']
# The same for the JS SDK (JS_BUILD + JS_VERIFY: npm ci, tsc, tsup, npm
# pack, a fresh project): the checked-out package.json and src/ packed as
# npm pack names it, in release/.
QUICK_PACK = r"""
import io, json, pathlib, tarfile
pkg = pathlib.Path("package.json").read_bytes()
doc = json.loads(pkg)
name = doc["name"].lstrip("@").replace("/", "-")
files = [("package.json", pkg)] + sorted(
    (str(f), f.read_bytes()) for f in pathlib.Path("src").rglob("*") if f.is_file())
pathlib.Path("release").mkdir(exist_ok=True)
with tarfile.open(f"release/{name}-{doc['version']}.tgz", "w:gz") as t:
    for n, d in files:
        ti = tarfile.TarInfo(f"package/{n}")
        ti.size, ti.mode = len(d), 0o644
        t.addfile(ti, io.BytesIO(d))
print(f"quick-pack: {name}-{doc['version']}.tgz")
"""


def quick_python_pipeline(repo: GitRepo, tag_pattern: str = "python-sdk-v*",
                          targets=("testpypi", "pypi"), **over) -> dict:
    """python_pipeline whose build is QUICK_DIST (and no verification)."""
    quick = {"build": list(PY_QUICK_BUILD), "verify": None,
             "env": {"AOS_QUICK_DIST": QUICK_DIST}}
    return python_pipeline(repo, tag_pattern, targets, **deep_merge(quick, over))


def quick_js_pipeline(repo: GitRepo, tag_pattern: str = "js-sdk-v*", targets=("npm",),
                      **over) -> dict:
    """js_pipeline whose build is QUICK_PACK (and no verification)."""
    quick = {"build": ['python3 -c "$AOS_QUICK_PACK"'], "verify": None,
             "env": {"AOS_QUICK_PACK": QUICK_PACK}}
    return js_pipeline(repo, tag_pattern, targets, **deep_merge(quick, over))


def js_pipeline(repo: GitRepo, tag_pattern: str = "js-sdk-v*", targets=("npm",),
                **over) -> dict:
    """The JS SDK's release pipeline (see python_pipeline)."""
    p = {"repository": repo.url, "repository_name": repo.name,
         "tag_pattern": tag_pattern, "package": NPM_NAME, "directory": "sdk/js",
         "build": list(JS_BUILD), "verify": list(JS_VERIFY), "artifacts": ["release/*.tgz"],
         "targets": list(targets), "timeout_s": 300, "readable": js_readable(),
         "env": dict(JS_ENV, PATH=step_path())}
    return deep_merge(p, over)


class WebhookEnv(PublishEnv):
    """PublishEnv plus a second pypiserver (registry "testpypi", token
    TEST_PYPI_API_TOKEN), the webhook secrets in Vault and a git repo."""

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.testpypi = PypiServer(workdir=self.workdir / "testpypi")
        self.webhook_secrets: dict[str, str] = {}
        self.repo: GitRepo | None = None

    def start(self) -> "WebhookEnv":
        super().start()
        self.testpypi.token = self.values["TEST_PYPI_API_TOKEN"]
        self.testpypi.start()
        self.webhook_secrets = {f: secrets.token_urlsafe(32) for f in WEBHOOK_KEYS}
        self.set_secret(**{WEBHOOK_KEYS[f]: v for f, v in self.webhook_secrets.items()})
        self.repo = GitRepo(self.workdir / "git")
        return self

    def registries(self) -> dict:
        r = super().registries()
        r["testpypi"] = {"type": "pypi", "url": self.testpypi.upload_url,
                         "token_key": "TEST_PYPI_API_TOKEN", "username": "__token__",
                         "index_url": self.testpypi.index_url}
        return r

    def snapshot(self) -> dict:
        s = super().snapshot()
        s["testpypi"] = self.testpypi.files()
        return s

    def sensitive(self) -> list[str]:
        """Every secret value made for this module."""
        return [v for v in (list(self.values.values()) + [self.vault_token, self.bao.root_token])
                if v]

    def hook_daemon(self, pipelines: dict, listen: dict | None = None,
                    webhooks: dict | None = None, config: dict | None = None,
                    start: bool = True, env: dict | None = None) -> Daemon:
        """A daemon (PublishEnv.daemon) with an HTTP listener on a free port,
        the three forges' webhooks and these pipelines; quick queue retries
        (2 runs per job).  d.http_port, d.hooks (a Hooks) are set."""
        port = free_port()
        cfg = deep_merge(queue_config(max_attempts=2), {
            "listen": {"address": f"127.0.0.1:{port}", **(listen or {})},
            "webhooks": webhooks if webhooks is not None else {
                f: {"secret_key": k} for f, k in WEBHOOK_KEYS.items()},
            "pipelines": pipelines,
        })
        cfg = deep_merge(cfg, config or {})
        d = self.daemon(cfg, start=False)
        d.http_port = port
        d.hooks = Hooks(port, self.webhook_secrets, self.sensitive())
        if start:
            d.start(env=env)
            wait_listening(d)
        return d

    def stop(self) -> list[str]:
        problems = super().stop()
        try:
            self.testpypi.stop()
        except Exception as e:
            problems.append(f"testpypi: {e}")
        return problems


def wait_listening(d: Daemon, timeout: float = 10.0) -> None:
    """Wait until the daemon's listener answers GET /healthz."""
    def up():
        assert d.alive, f"aos-publishd died (rc={d.proc.returncode}):\n{d.log_tail()}"
        try:
            return http(d.http_port, "GET", "/healthz", timeout=2).status == 200
        except (OSError, AssertionError, TimeoutError):
            return False
    wait_for(up, timeout, interval=0.1,
             what=lambda: f"GET /healthz on 127.0.0.1:{d.http_port}:\n{d.log_tail()}")


@pytest.fixture(scope="module")
def webhook_env(request):
    """Per test module: OpenBao, pypiserver (pypi), pypiserver (testpypi),
    verdaccio, the webhook secrets, a git repository.  The folder is kept
    when a test failed (or AOS_KEEP_WORKDIR is set)."""
    yield from running_env(request, WebhookEnv, "aos-wh-", "webhook_env")


# -- the queue --------------------------------------------------------------------------
def job_ids(d: Daemon) -> set[int]:
    return {j["id"] for j in jobs(d)}


def queue_depth_total(d: Daemon) -> int:
    depth = d.status().get("queue", {}).get("depth", {})
    assert isinstance(depth, dict), f"status queue.depth is not an object: {depth!r}"
    return sum(v for v in depth.values() if isinstance(v, int))


class QueueSnapshot:
    """The job ids and the status depth, to show that nothing was enqueued."""

    def __init__(self, d: Daemon):
        self.d = d
        self.ids = job_ids(d)
        self.total = queue_depth_total(d)

    def assert_unchanged(self, what: str) -> None:
        ids = job_ids(self.d)
        assert ids == self.ids, (f"{what}: jobs were enqueued: new ids "
                                 f"{sorted(ids - self.ids)}\n{describe_jobs(self.d, ids - self.ids)}")
        total = queue_depth_total(self.d)
        assert total == self.total, f"{what}: status depth total {self.total} -> {total}"


def wait_job(d: Daemon, jid: int, states=TERMINAL, timeout: float = 180.0) -> dict:
    """Wait for the job to reach one of states (`job show` polled); returns
    the job object."""
    if isinstance(states, str):
        states = (states,)
    last = {}

    def there():
        last["show"] = job_show(d, jid)
        return last["show"]["job"]["state"] in states
    wait_for(there, timeout, interval=0.3,
             what=lambda: f"job {jid} to reach {states}; now:\n{describe_jobs(d, {jid})}"
             f"\nlog tail:\n{d.log_tail(3000)}")
    return last["show"]["job"]


def job_text(d: Daemon, jid: int) -> str:
    """The job's log and last error as one text."""
    job = job_show(d, jid)["job"]
    return "\n".join(job_log(d, jid) + [str(job.get("last_error") or "")])


def expect_job(d: Daemon, jid: int, state: str, timeout: float = 180.0) -> dict:
    job = wait_job(d, jid, timeout=timeout)
    assert job["state"] == state, (f"job {jid} ended {job['state']}, expected {state}:\n"
                                   f"{describe_jobs(d, {jid})}\n{d.log_tail(3000)}")
    return job


def uploads(d: Daemon, jid: int) -> dict[str, str]:
    """{upload name (<target>/<filename>): state} of a job."""
    return {u["filename"]: u["state"] for u in job_show(d, jid).get("uploads", [])}


def ctl_reconcile(d: Daemon, pipeline: str, dry_run: bool = False, timeout: float = 60):
    args = ["--timeout", str(int(timeout)), "reconcile", pipeline]
    if dry_run:
        args.append("--dry-run")
    return d.ctl(*args, json_out=True, timeout=timeout + 5)


# -- secrets in files ------------------------------------------------------------------
def needle_forms(values) -> dict[str, str]:
    """{text to look for: description} for each secret value: the value, its
    base64 (standard and URL-safe, padded or not), and the base64 of the
    Basic-auth pair `__token__:<value>` that goes on the wire."""
    out = {}
    for i, v in enumerate(values):
        if not v:
            continue
        out[v] = f"secret #{i}"
        for raw, what in ((v.encode(), "base64"), (f"__token__:{v}".encode(), "basic-auth")):
            for enc in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
                s = enc.decode()
                out[s] = f"secret #{i} ({what})"
                out[s.rstrip("=")] = f"secret #{i} ({what})"
    return out


def scan_for_secrets(sources: dict[str, bytes | str], values) -> list[str]:
    """Names of the sources containing any form of any value."""
    forms = needle_forms(values)
    hits = []
    for name, data in sources.items():
        text = data.decode("latin-1") if isinstance(data, bytes) else data
        for n, what in forms.items():
            if n in text:
                hits.append(f"{name}: contains {what} ({len(n)} chars, starts {n[:3]!r}...)")
    return hits


def files_under(folder: Path) -> dict[str, bytes]:
    """Every regular file under folder (a work folder may be removed by the
    daemon while it is read: what vanishes is skipped)."""
    out = {}
    for top, _dirs, names in os.walk(folder, onerror=lambda e: None):
        for n in names:
            f = Path(top) / n
            if f.is_file() and not f.is_symlink():
                try:
                    out[str(f)] = f.read_bytes()
                except OSError:
                    pass
    return out


def publishctl_help() -> str:
    p = subprocess.run([str(PUBLISHCTL), "--help"], capture_output=True, text=True,
                       timeout=10, env={"PATH": "/usr/bin:/bin"})
    return p.stdout + p.stderr
