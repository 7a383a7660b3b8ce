"""The answers of the real PyPI (Warehouse) and npm registry that the local
servers never give, through the real aos-publishd and its queue.

pypiserver, devpi and verdaccio produce "exists", a conflict, a refused
token and a body too large (the other integration tests use them for
those).  The answers below come only from PyPI and the npm registry,
so a registry scripted by this test (peer_support.Peer) gives them, with
the status lines and bodies the registries' own sources write
(pypi/warehouse: warehouse/forklift/legacy.py, forklift/decorators.py,
macaroons/caveats/__init__.py; npm/cli: npm-registry-fetch's
lib/check-response.js, lib/utils/error-message.js).  Each job is enqueued
as a build host does it, and its recorded outcome, message, attempts and
retry delay (the queue's decision) are checked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading

import pytest

from peer_support import Answer, Peer
from publish_support import make_npm, make_wheel, sha256_file, sha512_sri
from queue_support import describe_jobs, enqueue, job_log, job_show, queue_config, wait_state

REUSE = ("This filename was previously used by a file that has since been deleted. "
         "Use a different version. See https://pypi.example/help/#file-name-reuse for "
         "more information.")
METADATA = ("'1.0-what' is an invalid value for Version. Error: Start and end with a "
            "letter or numeral containing only ASCII numeric and '.', '_' and '-'. "
            "See https://packaging.python.org/specifications/core-metadata for more "
            "information.")
SCOPED = "project-scoped token is not valid for project: 'aos-answer-scoped'"
# warehouse/forklift/legacy.py: a file name the project has, with other
# hashes (an identical file is a 200).
EXISTS = ("File already exists ('{}', with blake2_256 hash '{}'). See "
          "https://pypi.example/help/#file-name-reuse for more information.")
BAD_AUTH = ("Invalid or non-existent authentication information. "
            "See https://pypi.example/help/#invalid-auth for more information.")


def _json(doc) -> bytes:
    return json.dumps(doc).encode()


def pypi_macaroon(projects: list[str]) -> str:
    """A token in the form PyPI issues (pymacaroons V2, base64url, "pypi-"):
    a random identifier and signature, made now, and a ProjectName caveat
    for projects (Warehouse's compact JSON [1,[names]]).  The scripted
    registry does not check it; the daemon reads the caveat to say which
    projects the token is for."""
    def fld(t: int, v: bytes) -> bytes:
        assert len(v) < 128
        return bytes([t, len(v)]) + v

    caveat = json.dumps([1, projects], separators=(",", ":")).encode()
    raw = (b"\x02" + fld(1, b"pypi.example") + fld(2, secrets.token_hex(16).encode()) + b"\x00"
           + fld(2, caveat) + b"\x00" + b"\x00" + fld(6, secrets.token_bytes(32)))
    return "pypi-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


class Scripted:
    """Per registry (the first path segment), the answers to its uploads in
    order (the last one repeats), and the packument npm's GETs get or the
    simple page (PEP 691 JSON) PyPI's GETs get."""

    def __init__(self):
        self.lock = threading.Lock()
        self.uploads: dict[str, list[Answer]] = {}
        self.sent: dict[str, int] = {}
        self.packuments: dict[str, bytes] = {}
        self.pages: dict[str, bytes] = {}

    def handler(self, seen, peer) -> Answer:
        prefix = seen.path.strip("/").split("/")[0]
        with self.lock:
            if seen.method == "GET" and self.pages.get(prefix) and self.sent.get(prefix):
                return Answer(200, {"Content-Type": "application/vnd.pypi.simple.v1+json"},
                              self.pages[prefix])
            if seen.method == "GET":
                # npmjs shows a version only once it was sent.
                doc = self.packuments.get(prefix) if self.sent.get(prefix) else None
                if doc is None:
                    return Answer(404, {"Content-Type": "application/json"},
                                  _json({"error": "Not found"}))
                return Answer(200, {"Content-Type": "application/json"}, doc)
            n = self.sent.get(prefix, 0)
            self.sent[prefix] = n + 1
            script = self.uploads[prefix]
            return script[min(n, len(script) - 1)]


@pytest.fixture(scope="module")
def scripted():
    s = Scripted()
    peer = Peer(s.handler)
    s.peer = peer
    yield s
    peer.close()


PYPI_CASES = {
    # name: (answers, state, attempts, outcome, words in the job's error)
    # "exists" and "taken": 400 File already exists, then the simple page
    # lists the file with our sha256 (exists, a success) or another one
    # (a conflict naming both); the answer is made in the test (the file's
    # name and digest).
    "exists": ([], "succeeded", 1, None, ["same sha256"]),
    "taken": ([], "dead", 1, "conflict", ["different content", "post-release"]),
    "reuse": ([Answer(400, reason=REUSE)], "dead", 1, "conflict",
              ["previously used", "post-release"]),
    "meta": ([Answer(400, reason=METADATA)], "dead", 1, "rejected",
             ["is an invalid value for Version", "fix what its message names"]),
    "scoped": ([Answer(403, reason=SCOPED)], "dead", 1, "auth",
               ["not valid for project: 'aos-answer-scoped'",
                "scoped to other projects", "the token is for project aos-answer-other",
                "rotate_secret.sh package-registry SCOPED_PYPI_TOKEN"]),
    "badauth": ([Answer(403, reason=BAD_AUTH)], "dead", 1, "auth",
                ["Invalid or non-existent authentication", "expired or revoked"]),
    "throttled": ([Answer(429, {"Retry-After": "2"}, reason="Too many new projects created"),
                   Answer(200)], "succeeded", 2, None, ["rate-limited"]),
    "maint": ([Answer(503, {"Retry-After": "2"}, b"<html><title>PyPI is down for "
                     b"maintenance</title></html>"),
               Answer(200)], "succeeded", 2, None, ["maintenance"]),
}

NPM_OVER = _json({"error": "You cannot publish over the previously published "
                           "versions: 1.0.0."})
NPM_CASES = {
    "over": ([Answer(403, {"Content-Type": "application/json"}, NPM_OVER)],
             "succeeded", 1, None, []),
    "payment": ([Answer(402, {"Content-Type": "application/json"},
                        _json({"error": "You must sign up for private packages"}))],
                "dead", 1, "rejected", ["402", '"access": "public"']),
    "otp": ([Answer(401, {"WWW-Authenticate": "OTP", "Content-Type": "application/json"},
                    _json({"error": "This operation requires a one-time password."}))],
            "dead", 1, "rejected", ["EOTP", "bypass 2FA", "never prompts"]),
    "scope": ([Answer(404, {"Content-Type": "application/json"},
                      _json({"error": "Scope not found"}))],
              "dead", 1, "rejected", ["E404", "Scope not found"]),
    "race": ([Answer(409, {"Content-Type": "application/json"},
                     _json({"error": "Document update conflict."})),
              Answer(201, {"Content-Type": "application/json"}, _json({"ok": True}))],
             "succeeded", 2, None, ["E409"]),
    "throttled": ([Answer(429, {"Retry-After": "2", "Content-Type": "application/json"},
                          _json({"error": "rate limited"})),
                   Answer(201, {"Content-Type": "application/json"}, _json({"ok": True}))],
                  "succeeded", 2, None, ["rate-limited"]),
}


@pytest.fixture(scope="module")
def daemon(publish_env, scripted):
    """One daemon whose registries "wh-<case>" (PyPI) and "npmjs-<case>" (npm)
    are the scripted registry under /<case>/ (queue retries, one publish try
    per run)."""
    origin = scripted.peer.origin
    regs = {f"wh-{c}": {"type": "pypi", "url": f"{origin}/wh-{c}/legacy/",
                        "token_key": "PYPI_API_TOKEN", "username": "__token__",
                        "index_url": f"{origin}/wh-{c}/simple/"} for c in PYPI_CASES}
    regs |= {f"npmjs-{c}": {"type": "npm", "url": f"{origin}/npmjs-{c}/",
                            "token_key": "NPM_TOKEN", "access": "public"}
             for c in NPM_CASES}
    # The scoped case holds a macaroon limited to another project.
    regs["wh-scoped"]["token_key"] = "SCOPED_PYPI_TOKEN"
    publish_env.set_secret(SCOPED_PYPI_TOKEN=pypi_macaroon(["aos-answer-other"]))
    cfg = queue_config(max_attempts=3)
    cfg["registries"] = regs
    return publish_env.daemon(config=cfg)


def _check(d, scripted, reg, jid, state, attempts, outcome, words):
    job = wait_state(d, jid, ("succeeded", "dead"), timeout=60)
    assert job["state"] == state, describe_jobs(d, {jid})
    assert job["attempts"] == attempts, describe_jobs(d, {jid})
    text = "\n".join(job_log(d, jid)) + "\n" + job.get("last_error", "")
    if outcome is not None:
        assert job["last_error"].startswith(outcome + ":"), job
    for w in words:
        assert w in text, f"{w!r} not in the job's record:\n{text}"
    assert scripted.sent[reg] == attempts, (reg, scripted.sent[reg])
    return job, text


def _retry_delays(d, jid) -> list[float]:
    """The delay of each retry the queue decided (its "running -> failed"
    lines)."""
    return [float(x) for t in job_log(d, jid) if t.startswith("running -> failed")
            for x in re.findall(r"next try in ([0-9.]+) s", t)]


@pytest.mark.parametrize("case", list(PYPI_CASES))
def test_warehouse_answer(publish_env, scripted, daemon, case, tmp_path):
    answers, state, attempts, outcome, words = PYPI_CASES[case]
    reg = f"wh-{case}"
    wheel = make_wheel(tmp_path, f"aos-answer-{case}", "1.0.0")
    theirs = sha256_file(wheel) if case == "exists" else hashlib.sha256(b"other").hexdigest()
    if case in ("exists", "taken"):
        answers = [Answer(400, reason=EXISTS.format(wheel.name, secrets.token_hex(32)))]
        scripted.pages[reg] = _json({
            "meta": {"api-version": "1.1"}, "name": f"aos-answer-{case}",
            "files": [{"filename": wheel.name, "url": f"../../files/{wheel.name}",
                       "hashes": {"sha256": theirs}}]})
    scripted.uploads[reg] = answers
    jid = enqueue(daemon, reg, wheel)
    job, text = _check(daemon, scripted, reg, jid, state, attempts, outcome, words)
    if case == "exists":
        up = job_show(daemon, jid)["uploads"][0]
        assert up["answer"].startswith("exists:") and "same sha256" in up["answer"], up
    if case == "taken":
        assert sha256_file(wheel) in text and theirs in text, text
    for v in publish_env.values.values():
        assert v not in text, "a token in the job's record"
    if "Retry-After" in answers[0].headers:
        # The queue waited at least what the registry asked (the queue's own
        # backoff is capped at 1 s here).
        assert _retry_delays(daemon, jid) == [2.0], text


@pytest.mark.parametrize("case", list(NPM_CASES))
def test_npmjs_answer(publish_env, scripted, daemon, case, tmp_path):
    answers, state, attempts, outcome, words = NPM_CASES[case]
    reg = f"npmjs-{case}"
    name = f"@agenticverz/answer-{case}"
    tgz = make_npm(tmp_path, name, "1.0.0")
    scripted.uploads[reg] = answers
    if case == "over":
        # npmjs refuses the version as published (403); its packument then
        # shows ours: the same integrity, so "exists" (a success).
        scripted.packuments[reg] = _json({
            "name": name, "dist-tags": {"latest": "1.0.0"},
            "versions": {"1.0.0": {"name": name, "version": "1.0.0",
                                   "dist": {"integrity": sha512_sri(tgz)}}}})
    jid = enqueue(daemon, reg, tgz)
    job, text = _check(daemon, scripted, reg, jid, state, attempts, outcome, words)
    if case == "over":
        up = job_show(daemon, jid)["uploads"][0]
        assert up["answer"].startswith("exists:") and "same integrity" in up["answer"], up
    if case == "throttled":
        assert _retry_delays(daemon, jid) == [2.0], text
