"""Registry answers other than success, through the daemon.

- A wrong token (the Vault key rotated to a wrong value, then refreshed) is
  refused: exit 7, nothing uploaded; rotating the right value back works
  without a restart, and a 401 makes the daemon refresh and retry once when
  Vault has a newer token.
- A token key missing from Vault: exit 7, while --dry-run still works.
- A body over the registry's limit (verdaccio max_body_size): exit 9.
- A registry that is down or answers 503: exit 10 after the configured
  number of tries, with backoff.
"""

import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aos_fixtures import wait_for
from peers.verdaccio import Verdaccio, free_port
from publish_support import (EXIT, NPM_NAME, PY_NAME, make_big_npm, make_npm,
                             make_wheel, publish, sha256_file, sha512_sri)

AUTH_WORDS = r"401|403|auth|token|credential|denied|refused|unauthori[sz]ed|forbidden"


def _has(r, pattern):
    import re
    return re.search(pattern, r.text, re.I)


def _refresh(d, *changed):
    r = d.refresh()
    assert r.rc == 0 and r.json.get("ok") is True, f"secrets refresh failed: {r}"
    for k in changed:
        assert k in r.json.get("changed", []), f"{k} not in changed: {r.json}"
    return r.json


def _token_check_settled(d, registry: str, version: int) -> None:
    """Waits until the daemon's own check of registry's token (GET -/whoami
    for npm, issue 15) has run for version: that request carries the token
    too and must not be mistaken for the publish's."""
    def done():
        t = {t["registry"]: t for t in d.status()["tokens"]}.get(registry)
        return t is not None and t["state"] not in ("none", "checking") \
            and t["version"] == version
    wait_for(done, 20, what=lambda: f"token check of {registry}: {d.status()['tokens']}")


def test_wrong_token_is_refused_and_nothing_uploaded(publish_env, tmp_path):
    env = publish_env
    d = env.daemon()
    good = {k: env.values[k] for k in ("PYPI_API_TOKEN", "NPM_TOKEN")}
    whl = make_wheel(tmp_path, PY_NAME, "4.0")
    tgz = make_npm(tmp_path, NPM_NAME, "4.0.0")
    before = env.snapshot()

    env.set_secret(PYPI_API_TOKEN="pypi-" + secrets.token_urlsafe(32),
                   NPM_TOKEN=secrets.token_urlsafe(32))
    _refresh(d, "PYPI_API_TOKEN", "NPM_TOKEN")
    try:
        for registry, f in (("pypi", whl), ("npm", tgz)):
            r = publish(d, registry, f).expect(EXIT["auth"], "auth")
            assert r.result_for(f).get("outcome") == "auth", r
            assert _has(r, AUTH_WORDS), f"the message does not say the token was refused: {r}"
            env.assert_unchanged(before, f"{f.name} with a wrong token")
        assert env.npm.packument(NPM_NAME) is None
        # A dry run needs no token and still succeeds.
        publish(d, "pypi", whl, dry_run=True).expect(EXIT["published"], "dry-run")
    finally:
        # Rotate the right values back (a newer KV version) and refresh: the
        # same daemon publishes, no restart.
        env.set_secret(**good)
    _refresh(d, "PYPI_API_TOKEN", "NPM_TOKEN")
    publish(d, "pypi", whl).expect(EXIT["published"], "published")
    publish(d, "npm", tgz).expect(EXIT["published"], "published")
    assert env.pypi.files().get(whl.name) == sha256_file(whl)
    assert env.npm.packument(NPM_NAME)["versions"]["4.0.0"]["dist"]["integrity"] == sha512_sri(tgz)
    for t in list(good.values()):
        assert t not in d.log_text(), "a token appeared in the daemon's log"


def test_refused_token_refreshes_and_retries_once(publish_env, tmp_path):
    """The daemon holds a wrong token; Vault already has the right one in a
    newer version the daemon has not polled yet.  The registry's 401 makes it
    refresh, see the newer version, and retry once: published.  Relays count
    the Authorization headers on the wire: one request with the wrong token
    (the 401), then only the right one."""
    from queue_support import ThrottledRelay, port_of, relayed_registries
    from test_queue_outages import _names as auth_names
    env = publish_env
    pr, nr = ThrottledRelay(port_of(env.pypi.url)), ThrottledRelay(port_of(env.npm.url))
    try:
        d = env.daemon(config={"registries": relayed_registries(env, pr, nr, "-seen")})
        good = {k: env.values[k] for k in ("PYPI_API_TOKEN", "NPM_TOKEN")}
        whl = make_wheel(tmp_path, PY_NAME, "4.1")
        tgz = make_npm(tmp_path, NPM_NAME, "4.1.0")
        # One registry at a time: the refresh one 401 causes re-reads both keys.
        for relay, key, reg, f in ((pr, "PYPI_API_TOKEN", "pypi-seen", whl),
                                   (nr, "NPM_TOKEN", "npm-seen", tgz)):
            bad = secrets.token_urlsafe(32)
            env.set_secret(**{key: bad})
            _refresh(d, key)
            _token_check_settled(d, reg, d.secrets()[key]["version"])
            with relay.lock:  # only the publish's requests count from here
                relay.auth_seen.clear()
            env.set_secret(**{key: good[key]})  # no refresh: the daemon has the wrong one
            publish(d, reg, f).expect(EXIT["published"], "published")
            # On the wire: the wrong token (up to the 401), then only the
            # right one; the daemon logs one refusal and one retry.
            seen = auth_names(relay.auth_seen, bad, good[key])
            n_old = seen.count("old")
            assert n_old >= 1 and seen == ["old"] * n_old + ["new"] * (len(seen) - n_old) \
                and "new" in seen, f"{key}: Authorization on the wire {seen}"
            log = d.log_text()
            assert log.count(f"{reg}: token {key} refused") == 1, log
            assert log.count(f"retrying {f.name} once") == 1, log
    finally:
        pr.close()
        nr.close()
    assert env.pypi.files().get(whl.name) == sha256_file(whl)
    assert "4.1.0" in env.npm.packument(NPM_NAME)["versions"]
    s = d.secrets()  # the refresh after each 401 loaded Vault's newest version
    assert s["PYPI_API_TOKEN"]["version"] >= 3 and s["NPM_TOKEN"]["version"] >= 3, s


def test_token_missing_from_vault(publish_env, tmp_path):
    env = publish_env
    cfg = {"registries": {
        "pypi-nokey": {"type": "pypi", "url": env.pypi.upload_url,
                       "index_url": env.pypi.index_url, "token_key": "AOS_TEST_NO_SUCH_KEY"},
        "npm-nokey": {"type": "npm", "url": env.npm.url, "token_key": "AOS_TEST_NO_SUCH_KEY"},
    }}
    d = env.daemon(config=cfg, wait_ready=False)
    wait_for(lambda: d.ctl("secrets", json_out=True, record=False).rc == 0
             and "PYPI_API_TOKEN" in d.secrets() and d.secrets()["PYPI_API_TOKEN"]["present"],
             10, what=lambda: f"secrets loaded; log:\n{d.log_tail()}")
    whl = make_wheel(tmp_path, PY_NAME, "4.2")
    tgz = make_npm(tmp_path, NPM_NAME, "4.2.0")
    before = env.snapshot()
    for registry, f in (("pypi-nokey", whl), ("npm-nokey", tgz)):
        r = publish(d, registry, f).expect(EXIT["auth"], "auth")
        assert _has(r, r"AOS_TEST_NO_SUCH_KEY|missing|no token"), (
            f"the message does not say the token is missing: {r}")
        env.assert_unchanged(before, f"{f.name} without a token")
        publish(d, registry, f, dry_run=True).expect(EXIT["published"], "dry-run")
    assert d.alive


class _Answer503(BaseHTTPRequestHandler):
    """Answers every request 503 with Retry-After: 1 and counts them."""
    hits: list = []

    def _any(self):
        n = int(self.headers.get("Content-Length") or 0)
        while n > 0:
            chunk = self.rfile.read(min(n, 65536))
            if not chunk:
                break
            n -= len(chunk)
        type(self).hits.append((time.monotonic(), self.command, self.path))
        body = b"registry down for maintenance\n"
        self.send_response(503)
        self.send_header("Retry-After", "1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _any

    def log_message(self, *a):
        pass


def test_registry_unavailable(publish_env, tmp_path):
    env = publish_env
    closed = free_port()  # nothing listens there
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Answer503)
    _Answer503.hits = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        port503 = srv.server_address[1]
        cfg = {
            "publish": {"max_attempts": 2, "backoff_min_ms": 100, "backoff_max_ms": 300},
            "queue": {"max_attempts": 1},  # one run of two quick tries, then dead
            "registries": {
                "pypi-down": {"type": "pypi", "url": f"http://127.0.0.1:{closed}/",
                              "token_key": "PYPI_API_TOKEN"},
                "npm-down": {"type": "npm", "url": f"http://127.0.0.1:{closed}/",
                             "token_key": "NPM_TOKEN"},
                "pypi-503": {"type": "pypi", "url": f"http://127.0.0.1:{port503}/",
                             "token_key": "PYPI_API_TOKEN"},
            }}
        d = env.daemon(config=cfg)
        whl = make_wheel(tmp_path, PY_NAME, "4.3")
        tgz = make_npm(tmp_path, NPM_NAME, "4.3.0")
        for registry, f in (("pypi-down", whl), ("npm-down", tgz)):
            r = publish(d, registry, f, timeout=60).expect(EXIT["unavailable"], "unavailable")
            assert r.result_for(f).get("outcome") == "unavailable", r
            assert r.seconds < 30, f"{registry}: took {r.seconds:.1f}s with 2 tries: {r}"
        r = publish(d, "pypi-503", whl, timeout=60).expect(EXIT["unavailable"], "unavailable")
        posts = [h for h in _Answer503.hits if h[1] == "POST"]
        assert len(posts) == 2, f"expected 2 tries (publish.max_attempts), got {_Answer503.hits}"
        gap = posts[1][0] - posts[0][0]
        assert gap >= 0.9, f"Retry-After: 1 not honoured: tries {gap:.2f}s apart"
        assert _has(r, r"503|unavailable|maintenance"), r
        assert d.alive
    finally:
        srv.shutdown()
        srv.server_close()


def test_body_over_registry_limit(publish_env, tmp_path):
    """verdaccio with max_body_size 1mb answers 413: exit 9, clear error."""
    env = publish_env
    small = Verdaccio(workdir=env.workdir / "npm-small", max_body_size="1mb")
    small.start()
    try:
        env.set_secret(NPM_SMALL_TOKEN=small.add_user("aos-ci-small"))
        cfg = {"registries": {"npm-small": {"type": "npm", "url": small.url,
                                            "token_key": "NPM_SMALL_TOKEN"}}}
        d = env.daemon(config=cfg)
        tgz = make_big_npm(tmp_path, "@agenticverz/aos-sdk-big", "1.0.0", 2 * 1024 * 1024)
        r = publish(d, "npm-small", tgz, timeout=60).expect(EXIT["rejected"], "rejected")
        assert _has(r, r"413|too large|body|limit"), f"no clear error for 413: {r}"
        assert small.packument("@agenticverz/aos-sdk-big") is None
        assert small.tarballs() == {}
        # A small one goes through the same registry.
        ok = make_npm(tmp_path, "@agenticverz/aos-sdk-big", "0.1.0")
        publish(d, "npm-small", ok).expect(EXIT["published"], "published")
    finally:
        small.close()


def test_refusal_before_the_body_then_reset_is_read(publish_env, tmp_path):
    """A registry that answers 403 as soon as it has the headers and then
    resets the connection (pypiserver does, under load) is an "auth"
    answer, not "no answer": the daemon reads the 403 that waits in the
    socket instead of giving up on the reset (libuv's POLLERR)."""
    import socket
    import struct
    import threading
    env = publish_env
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(30)
    port = srv.getsockname()[1]
    served = []

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = c.recv(4096)
                if not chunk:
                    break
                head += chunk
            c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
                      b"Content-Length: 9\r\n\r\nForbidden")
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            served.append(1)
            c.close()  # RST at once: the body is never read

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    cfg = {"registries": {"pypi-rst": {"type": "pypi", "url": f"http://127.0.0.1:{port}/",
                                       "token_key": "PYPI_API_TOKEN"}},
           "publish": {"max_attempts": 2, "backoff_min_ms": 100, "backoff_max_ms": 200}}
    d = env.daemon(config=cfg)
    whl = make_wheel(tmp_path, PY_NAME, "4.3")
    try:
        r = publish(d, "pypi-rst", whl)
    finally:
        srv.close()
    assert served, f"the peer served nothing: {r}"
    r.expect(EXIT["auth"], "auth")
    assert "select/poll" not in r.out + r.err, r
