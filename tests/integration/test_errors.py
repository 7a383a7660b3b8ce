"""Each failure gives a clear error naming what is wrong, and none crashes
the daemon: it stays alive, its control socket answers, SIGTERM exits 0."""

import json
import re
import secrets
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aos_fixtures import (PUBLISHD, Setup, approle_auth, read_policy,
                      seed_package_registry, secrets_match, wait_for)


def _error_text(d):
    """The daemon's log plus the last_error it reports in status."""
    r = d.ctl("status", json_out=True, record=False)
    last = ""
    if r.rc == 0:
        last = str(r.json.get("vault", {}).get("last_error") or "")
    return d.log_text() + "\n" + last


def _assert_not_ready(d, st=None, wait=1.0):
    st = st or d.assert_answers()
    assert st["state"] in ("starting", "degraded"), st
    assert not d.notify.wait_line("READY=1", timeout=wait), (
        f"READY=1 sent although no secret could be loaded: {d.notify.lines()}")


def _assert_error_reads_once(d):
    """The reported last_error does not repeat (nest) its own beginning, as
    a message formatted into its own buffer does."""
    st = d.assert_answers()
    err = st["vault"].get("last_error") or ""
    assert err, f"no last_error in status: {st['vault']}"
    head = err[:30]
    assert err.count(head) == 1, f"last_error repeats itself: {err!r}"
    return err


def _line_with(text, *patterns):
    """The first line matching every regex (case-insensitive), or None."""
    for ln in text.splitlines():
        if all(re.search(p, ln, re.I) for p in patterns):
            return ln
    return None


def test_wrong_secret_id(seeded, daemons):
    creds = dict(seeded.creds, secret_id=secrets.token_urlsafe(24))
    d = daemons(seeded.bao.addr)
    d.config["vault"]["auth"] = approle_auth(d, creds)
    d.start(wait_ready=False)
    d.wait_log(r"invalid role or secret id", timeout=10)
    _assert_error_reads_once(d)
    st = d.assert_answers()
    _assert_not_ready(d, st, wait=2)
    assert creds["secret_id"] not in d.log_text()
    # Vault's answer is permanent: no tight retry loop on it.
    n0 = d.status()["vault"]["requests"]
    time.sleep(3)
    n1 = d.status()["vault"]["requests"]
    assert n1 - n0 <= 5, f"{n1 - n0} login attempts in 3 s with a wrong secret_id"
    # The configuration itself is valid.
    p = subprocess.run([str(PUBLISHD), "--check-config", str(d.config_path)],
                       capture_output=True, text=True, timeout=10,
                       env={"PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, f"--check-config rejected a valid file: {p.stderr}"
    d.assert_answers()
    # The operator fixes the file and asks for a refresh: the daemon logs in.
    d.write_file("secret_id", seeded.creds["secret_id"] + "\n")
    d.refresh()
    d.wait_ready(timeout=10)
    secrets_match(d, seeded.values)
    d.stop()


def test_policy_denial_names_path(bao, daemons):
    other = "agenticverz/something-else"
    s = Setup(bao, seed_package_registry(bao, policy_hcl=read_policy(other)))
    d = daemons(bao.addr)
    d.config["vault"]["auth"] = approle_auth(d, s.creds)
    d.start(wait_ready=False)
    wait_for(lambda: _line_with(_error_text(d), r"permission denied", re.escape(s.kv_path)),
             10, interval=0.2,
             what=lambda: f"an error naming 'permission denied' and {s.kv_path}:\n{d.log_tail()}")
    _assert_error_reads_once(d)
    _assert_not_ready(d)
    # Once the policy is fixed the daemon recovers by itself (backoff).
    bao.write_policy(s.creds["policy"], read_policy(s.kv_path))
    d.wait_ready(timeout=10)
    secrets_match(d, s.values)
    d.stop()


def test_missing_path_names_path(bao, daemons):
    missing = "agenticverz/no-such-secret"
    s = Setup(bao, seed_package_registry(bao, policy_hcl=read_policy(missing)))
    d = daemons(bao.addr)
    d.config["vault"]["auth"] = approle_auth(d, s.creds)
    d.config["vault"]["kv_path"] = missing
    d.start(wait_ready=False)
    wait_for(lambda: _line_with(_error_text(d), r"not found", re.escape(missing)),
             10, interval=0.2,
             what=lambda: f"an error naming 'not found' and {missing}:\n{d.log_tail()}")
    _assert_error_reads_once(d)
    _assert_not_ready(d)
    # Once the secret exists the daemon loads it by itself (backoff).
    bao.kv_put(missing, s.values)
    d.wait_ready(timeout=10)
    secrets_match(d, s.values)
    d.stop()


def test_invalid_token_file(seeded, daemons):
    """A dead token in the token file: a clear error; once a valid token is
    written to the file, the daemon re-reads it and becomes ready."""
    bao = seeded.bao
    d = daemons(bao.addr)
    bad = secrets.token_urlsafe(24)
    tf = d.write_file("vault-token", bad + "\n")
    d.config["vault"]["auth"] = {"method": "token", "token_file": str(tf)}
    d.start(wait_ready=False)
    wait_for(lambda: _line_with(_error_text(d), r"token",
                                r"denied|rejected|invalid|expired|403"),
             10, interval=0.2, what=lambda: f"an error about the token:\n{d.log_tail()}")
    _assert_error_reads_once(d)
    _assert_not_ready(d)
    assert bad not in d.log_text()
    good = bao.create_token([seeded.creds["policy"]], ttl="1h",
                            token_id=secrets.token_urlsafe(24))
    d.write_file("vault-token", good + "\n")
    d.refresh()
    d.wait_ready(timeout=10)
    secrets_match(d, seeded.values)
    d.stop()


def test_missing_key(seeded, daemons):
    d = daemons(seeded.bao.addr, config={"registries": {
        "extra": {"type": "pypi", "url": "http://127.0.0.1:9/legacy/",
                  "token_key": "NO_SUCH_KEY"}}})
    d.config["vault"]["auth"] = approle_auth(d, seeded.creds)
    d.start()  # still becomes READY: the other keys are usable
    s = secrets_match(d, seeded.values)
    assert "NO_SUCH_KEY" in s, s
    assert s["NO_SUCH_KEY"]["present"] is False, s["NO_SUCH_KEY"]
    st = d.status()
    assert st["state"] == "degraded", f"a configured key is missing: {st}"
    assert _line_with(d.log_text(), r"NO_SUCH_KEY"), f"log does not name the key:\n{d.log_tail()}"
    d.stop()


class FakeVault:
    """A loopback HTTP server that answers every request the same broken way."""

    def __init__(self, mode):
        self.mode = mode
        self.requests = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                fake.requests.append((time.monotonic(), self.command, self.path))
                try:
                    fake.answer(self)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_LIST = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.addr = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, h):
        big = 2 * 1024 * 1024
        if self.mode == "malformed":
            body = b'{"data": {"current_version": 3, "versions": {"1": {'
            self._send(h, 200, body)
        elif self.mode == "not-json":
            self._send(h, 200, b"<html><body>proxy error page</body></html>", "text/html")
        elif self.mode == "oversized":
            pad = "A" * big
            self._send(h, 200, json.dumps({"data": {"id": "x", "ttl": 3600, "pad": pad}}).encode())
        elif self.mode == "oversized-chunked":
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            chunks = [b'{"data": {"pad": "'] + [b"A" * 65536] * (big // 65536) + [b'"}}']
            for c in chunks:
                h.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
            h.wfile.write(b"0\r\n\r\n")
        elif self.mode == "sealed":
            self._send(h, 503, b'{"errors":["Vault is sealed"]}')

    @staticmethod
    def _send(h, code, body, ctype="application/json"):
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_vault(request):
    f = FakeVault(request.param)
    yield f
    f.close()


MALFORMED = r"malformed|invalid json|parse|not (a |valid )?json"
TOO_LARGE = r"too large|too big|exceed|larger than"


@pytest.mark.parametrize("fake_vault, pattern", [
    pytest.param("malformed", MALFORMED, id="malformed"),
    pytest.param("not-json", MALFORMED + r"|content.type", id="not-json"),
    pytest.param("oversized", TOO_LARGE, id="oversized"),
    pytest.param("oversized-chunked", TOO_LARGE, id="oversized-chunked"),
    pytest.param("sealed", r"sealed", id="sealed"),
], indirect=["fake_vault"])
def test_broken_vault_answer(fake_vault, pattern, daemons):
    d = daemons(fake_vault.addr, config={"vault": {"backoff_min_ms": 200,
                                                   "backoff_max_ms": 1000}})
    tf = d.write_file("vault-token", secrets.token_urlsafe(24) + "\n")
    d.config["vault"]["auth"] = {"method": "token", "token_file": str(tf)}
    d.start(wait_ready=False)
    wait_for(lambda: re.search(pattern, _error_text(d), re.I), 10, interval=0.2,
             what=lambda: f"an error matching /{pattern}/:\n{d.log_tail()}")
    assert fake_vault.requests, "the daemon never asked the fake Vault"
    _assert_error_reads_once(d)
    _assert_not_ready(d)
    # Backoff, not a tight loop: 3 s with backoff 0.2-1 s.
    n0 = len(fake_vault.requests)
    time.sleep(3)
    n = len(fake_vault.requests) - n0
    assert n <= 20, f"{n} requests to a broken Vault in 3 s: retry loop too tight"
    d.assert_answers()
    d.stop()
