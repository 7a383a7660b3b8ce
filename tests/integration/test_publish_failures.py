"""Registry answers other than success, through the daemon.

Every PyPI-side case runs against both PyPI kinds of the tests (the
`pypi_kind` fixture: pypiserver and devpi-server, each started once for the
module by publish_env), the npm ones against verdaccio.

- A wrong token (the Vault key rotated to a wrong value, then refreshed) is
  refused: exit 7, nothing uploaded; rotating the right value back works
  without a restart, and a 401 makes the daemon refresh and retry once when
  Vault has a newer token.
- A token key missing from Vault: exit 7, while --dry-run still works.
- A body over the registry's limit (verdaccio max_body_size, devpi
  --max-request-body-size; pypiserver has no such setting): exit 9.
- A registry that is down or answers 503: exit 10 after the configured
  number of tries, with backoff.
"""

import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aos_fixtures import wait_for
from peers.verdaccio import Verdaccio, free_port
import pytest

from peers.devpi import DevpiServer
from publish_support import (EXIT, NPM_NAME, PY_NAME, make_big_npm, make_big_wheel,
                             make_npm, make_wheel, publish, sha256_file, sha512_sri)

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


def _wrong_token_refused(env, d, registry: str, key: str, f, dry_run: bool) -> None:
    """Vault's key replaced by a wrong value of the same form (refreshed): publishing f is
    refused, exit 7, nothing uploaded (and with dry_run, a dry run, which
    needs no token, still succeeds); then the right value is rotated back
    and the same daemon publishes f, no restart."""
    good = env.values[key]
    before = env.snapshot()
    prefix = good.split("-", 1)[0] + "-" if good.startswith(("pypi-", "devpi-")) else ""
    env.set_secret(**{key: prefix + secrets.token_urlsafe(32)})
    _refresh(d, key)
    try:
        r = publish(d, registry, f).expect(EXIT["auth"], "auth")
        assert r.result_for(f).get("outcome") == "auth", r
        assert _has(r, AUTH_WORDS), f"the message does not say the token was refused: {r}"
        env.assert_unchanged(before, f"{f.name} with a wrong token")
        if dry_run:
            publish(d, registry, f, dry_run=True).expect(EXIT["published"], "dry-run")
    finally:
        # Rotate the right value back (a newer KV version) and refresh: the
        # same daemon publishes, no restart.
        env.set_secret(**{key: good})
    _refresh(d, key)
    publish(d, registry, f).expect(EXIT["published"], "published")
    assert good not in d.log_text(), "a token appeared in the daemon's log"


def test_wrong_token_is_refused_and_nothing_uploaded(publish_env, pypi_kind, tmp_path):
    env = publish_env
    target = env.pypi_target(pypi_kind)
    d = env.daemon()
    whl = make_wheel(tmp_path, PY_NAME, "4.0")
    _wrong_token_refused(env, d, target.registry, target.token_key, whl, dry_run=True)
    assert target.server.files().get(whl.name) == sha256_file(whl)


def test_wrong_npm_token_is_refused_and_nothing_uploaded(publish_env, tmp_path):
    env = publish_env
    d = env.daemon()
    tgz = make_npm(tmp_path, NPM_NAME, "4.0.0")
    assert env.npm.packument(NPM_NAME) is None
    _wrong_token_refused(env, d, "npm", "NPM_TOKEN", tgz, dry_run=False)
    assert env.npm.packument(NPM_NAME)["versions"]["4.0.0"]["dist"]["integrity"] == sha512_sri(tgz)


def _refused_then_retried(env, relay, reg: str, cfg: dict, f) -> None:
    """The daemon holds a wrong token; Vault already has the right one in a
    newer version the daemon has not polled yet.  The registry's 401 makes it
    refresh, see the newer version, and retry once: published.  The relay
    counts the Authorization headers on the wire: one request with the wrong
    token (the 401), then only the right one.  cfg: the registry reg, through
    the relay."""
    from test_queue_outages import _names as auth_names
    key = cfg["token_key"]
    d = env.daemon(config={"registries": {reg: cfg}})
    good = env.values[key]
    bad = secrets.token_urlsafe(32)
    env.set_secret(**{key: bad})
    _refresh(d, key)
    _token_check_settled(d, reg, d.secrets()[key]["version"])
    with relay.lock:  # only the publish's requests count from here
        relay.auth_seen.clear()
    newest = env.set_secret(**{key: good})  # no refresh: the daemon has the wrong one
    publish(d, reg, f).expect(EXIT["published"], "published")
    # On the wire: the wrong token (up to the 401), then only the right one;
    # the daemon logs one refusal and one retry.
    seen = auth_names(relay.auth_seen, bad, good)
    n_old = seen.count("old")
    assert n_old >= 1 and seen == ["old"] * n_old + ["new"] * (len(seen) - n_old) \
        and "new" in seen, f"{key}: Authorization on the wire {seen}"
    log = d.log_text()
    assert log.count(f"{reg}: token {key} refused") == 1, log
    assert log.count(f"retrying {f.name} once") == 1, log
    # The refresh after the 401 loaded Vault's newest version.
    assert d.secrets()[key]["version"] == newest, d.secrets()


def test_refused_token_refreshes_and_retries_once(publish_env, pypi_kind, tmp_path):
    from queue_support import ThrottledRelay, port_of
    target = publish_env.pypi_target(pypi_kind)
    relay = ThrottledRelay(port_of(target.server.url))
    whl = make_wheel(tmp_path, PY_NAME, "4.1")
    try:
        _refused_then_retried(publish_env, relay, "pypi-seen", target.registry_via(relay.url),
                              whl)
    finally:
        relay.close()
    assert target.server.files().get(whl.name) == sha256_file(whl)


def test_refused_npm_token_refreshes_and_retries_once(publish_env, tmp_path):
    from queue_support import ThrottledRelay, port_of, relayed_registries
    relay = ThrottledRelay(port_of(publish_env.npm.url))
    tgz = make_npm(tmp_path, NPM_NAME, "4.1.0")
    try:
        _refused_then_retried(publish_env, relay, "npm-seen",
                              relayed_registries(publish_env, None, relay)["npm-slow"], tgz)
    finally:
        relay.close()
    assert "4.1.0" in publish_env.npm.packument(NPM_NAME)["versions"]


def _token_missing(env, reg: str, cfg: dict, f) -> None:
    """Registry reg (cfg, its token_key replaced by a key Vault does not
    have): publishing f is refused before anything is sent, exit 7, the
    message names the key; a dry run, which needs no token, succeeds."""
    cfg = cfg | {"token_key": "AOS_TEST_NO_SUCH_KEY"}
    d = env.daemon(config={"registries": {reg: cfg}}, wait_ready=False)
    wait_for(lambda: d.ctl("secrets", json_out=True, record=False).rc == 0
             and "PYPI_API_TOKEN" in d.secrets() and d.secrets()["PYPI_API_TOKEN"]["present"],
             10, what=lambda: f"secrets loaded; log:\n{d.log_tail()}")
    before = env.snapshot()
    r = publish(d, reg, f).expect(EXIT["auth"], "auth")
    assert _has(r, r"AOS_TEST_NO_SUCH_KEY|missing|no token"), (
        f"the message does not say the token is missing: {r}")
    env.assert_unchanged(before, f"{f.name} without a token")
    publish(d, reg, f, dry_run=True).expect(EXIT["published"], "dry-run")
    assert d.alive


def test_token_missing_from_vault(publish_env, pypi_kind, tmp_path):
    target = publish_env.pypi_target(pypi_kind)
    _token_missing(publish_env, "pypi-nokey", target.registry_via(target.server.url),
                   make_wheel(tmp_path, PY_NAME, "4.2"))


def test_npm_token_missing_from_vault(publish_env, tmp_path):
    _token_missing(publish_env, "npm-nokey", {"type": "npm", "url": publish_env.npm.url},
                   make_npm(tmp_path, NPM_NAME, "4.2.0"))


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


# Two quick tries (publish.max_attempts), one run of them (queue.max_attempts),
# then the job is dead.
QUICK_TRIES = {"publish": {"max_attempts": 2, "backoff_min_ms": 100, "backoff_max_ms": 300},
               "queue": {"max_attempts": 1}}


def _unavailable_quickly(d, reg: str, f) -> None:
    """Nothing listens at reg's address: exit 10 after the two tries."""
    r = publish(d, reg, f, timeout=60).expect(EXIT["unavailable"], "unavailable")
    assert r.result_for(f).get("outcome") == "unavailable", r
    assert r.seconds < 30, f"{reg}: took {r.seconds:.1f}s with 2 tries: {r}"


def test_registry_unavailable(publish_env, pypi_kind, tmp_path):
    """The kind's registry configuration (its URL paths, user, index) at a
    port nothing listens on, and at a server answering 503."""
    env = publish_env
    target = env.pypi_target(pypi_kind)
    closed = free_port()  # nothing listens there
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Answer503)
    _Answer503.hits = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        port503 = srv.server_address[1]
        d = env.daemon(config=QUICK_TRIES | {"registries": {
            "pypi-down": target.registry_via(f"http://127.0.0.1:{closed}/"),
            "pypi-503": target.registry_via(f"http://127.0.0.1:{port503}/")}})
        whl = make_wheel(tmp_path, PY_NAME, "4.3")
        _unavailable_quickly(d, "pypi-down", whl)
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


def test_npm_registry_unavailable(publish_env, tmp_path):
    d = publish_env.daemon(config=QUICK_TRIES | {"registries": {
        "npm-down": {"type": "npm", "url": f"http://127.0.0.1:{free_port()}/",
                     "token_key": "NPM_TOKEN"}}})
    _unavailable_quickly(d, "npm-down", make_npm(tmp_path, NPM_NAME, "4.3.0"))
    assert d.alive


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


# The PyPI side: only devpi has a limit to set (--max-request-body-size,
# waitress's max_request_body_size, 1 GiB by default).  pypiserver has no
# setting for one (bottle takes any body), so there is no pypiserver case.
@pytest.mark.parametrize("kind", [pytest.param("devpi", id="devpi-only-pypiserver-has-no-limit")])
def test_pypi_body_over_registry_limit(publish_env, kind, tmp_path):
    """devpi-server with --max-request-body-size 1 MiB answers a 2 MiB
    wheel 413: exit 9, clear error, nothing on the index."""
    from publish_support import PypiTarget
    env = publish_env
    small = DevpiServer(workdir=env.workdir / "devpi-small", max_body=1024 * 1024)
    try:
        small.start()
        env.set_secret(DEVPI_SMALL_TOKEN=small.token)
        reg = PypiTarget(kind, "devpi-small", small).registry_via(small.url)
        d = env.daemon(config={"registries": {
            "devpi-small": reg | {"token_key": "DEVPI_SMALL_TOKEN"}}})
        (tmp_path / "big").mkdir()
        whl = make_big_wheel(tmp_path / "big", "aos-sdk-big", "1.0.0", 2 * 1024 * 1024)
        r = publish(d, "devpi-small", whl, timeout=60).expect(EXIT["rejected"], "rejected")
        assert _has(r, r"413|too large|body|limit"), f"no clear error for 413: {r}"
        assert "--max-request-body-size" in r.text, f"no word of devpi's setting: {r}"
        assert small.files() == {}
        # A small one goes through the same registry.
        ok = make_wheel(tmp_path, "aos-sdk-big", "0.1.0")
        publish(d, "devpi-small", ok).expect(EXIT["published"], "published")
        assert small.files() == {ok.name: sha256_file(ok)}
    finally:
        small.close()


def test_refusal_before_the_body_then_reset_is_read(publish_env, pypi_kind, tmp_path):
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
    # The kind's registry configuration (URL paths, user, index) at that port.
    target = env.pypi_target(pypi_kind)
    cfg = {"registries": {"pypi-rst": target.registry_via(f"http://127.0.0.1:{port}/")},
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
