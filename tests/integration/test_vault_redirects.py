"""Redirects from Vault are followed only to the configured Vault origin.

libcurl, following a 307 to another host by itself, drops only
Authorization and Cookie: it would forward X-Vault-Token and the AppRole
login body (role_id, secret_id) to whatever host the answer names.  The
daemon and rotate_secret.sh follow a redirect themselves, and only when it
stays on the configured scheme, host and port.

The attacker here is the host at vault.address answering every request with
307 to a second host it controls (both https, with a certificate the client
trusts, which is when curl would follow).  The second host must receive
nothing.  A relay in front of the real OpenBao that redirects every request
to itself (same origin, another path) keeps working.
"""

from __future__ import annotations

import secrets
import subprocess

import pytest

from aos_fixtures import ROTATE_SCRIPT, approle_auth, secrets_match, wait_for
from peer_support import Answer, Peer, forward, make_cert


@pytest.fixture
def cert(workdir):
    return make_cert(workdir / "tls")


@pytest.fixture
def attacker(cert):
    """(first, second): first answers everything with 307 to second, which
    records what it gets and answers 200."""
    second = Peer(lambda seen, peer: Answer(200, {"Content-Type": "application/json"},
                                            b'{"data":{}}'), tls=cert)
    first = Peer(lambda seen, peer: Answer(307, {"Location": second.origin + seen.path}),
                 tls=cert)
    yield first, second
    first.close()
    second.close()


def _leaked(second: Peer, secret_values) -> list[str]:
    return [v for v in secret_values for s in second.seen() if v in s.text()]


@pytest.mark.parametrize("method", ["token", "approle", "approle-wrapped"])
def test_cross_origin_redirect_is_not_followed(attacker, cert, daemons, method):
    first, second = attacker
    d = daemons(first.origin)
    d.config["vault"]["ca_file"] = str(cert[0])
    values = [secrets.token_urlsafe(24) for _ in range(2)]
    if method == "token":
        tf = d.write_file("vault-token", values[0] + "\n")
        d.config["vault"]["auth"] = {"method": "token", "token_file": str(tf)}
    else:
        creds = {"role_id": values[0], "secret_id": values[1]}
        d.config["vault"]["auth"] = approle_auth(d, creds, wrapped=method.endswith("wrapped"))
    d.start(wait_ready=False)
    # Several attempts (backoff 0.2 s to 2 s), each refused.
    wait_for(lambda: len(first.seen()) >= 3, 20,
             what=lambda: f"three requests to the configured address:\n{d.log_tail()}")
    st = d.assert_answers()
    assert not second.seen(), (
        f"the redirect to another origin was followed: {[s.text() for s in second.seen()]}")
    assert not _leaked(second, values)
    err = st["vault"]["last_error"] or ""
    for want in ("redirect", first.origin, second.origin):
        assert want in err, f"status last_error does not name {want!r}: {err!r}"
    assert "vault.address" in err, f"the error does not say what to do: {err!r}"
    log = d.log_text()
    assert "redirect" in log and second.origin in log, d.log_tail()
    for v in values:
        assert v not in log, "a credential is in the log"
    assert st["state"] != "ready", st


def _relay_to(bao, cert, relative: bool):
    """A relay at its own origin that answers /v1/... with 307 to
    /relay/v1/... on itself (absolute Location for POSTs, relative for the
    rest when `relative`), and forwards /relay/v1/... to OpenBao."""
    def handle(seen, peer):
        if seen.path.startswith("/relay/"):
            return forward(seen, "127.0.0.1", bao.port, seen.path[len("/relay"):])
        loc = "/relay" + seen.path
        if not relative or seen.method == "POST":
            loc = peer.origin + loc
        return Answer(307, {"Location": loc})
    return Peer(handle, tls=cert)


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_same_origin_redirect_is_followed(seeded, cert, daemons, relative):
    relay = _relay_to(seeded.bao, cert, relative)
    try:
        d = daemons(relay.origin)
        d.config["vault"]["ca_file"] = str(cert[0])
        d.config["vault"]["auth"] = approle_auth(d, seeded.creds)
        d.start()
        secrets_match(d, seeded.values)
        paths = [(s.method, s.path) for s in relay.seen()]
        assert ("POST", "/v1/auth/approle/login") in paths, paths
        assert ("POST", "/relay/v1/auth/approle/login") in paths, paths
        assert any(p.startswith("/relay/v1/secret/data/") for _, p in paths), paths
        new = seeded.bao.kv_patch(seeded.kv_path, {"NPM_TOKEN": secrets.token_urlsafe(24)})
        r = d.refresh()
        assert r.rc == 0 and r.json["kv_version"] == new, r
        st = d.status()
        assert st["state"] == "ready" and st["vault"]["healthy"] is True, st
        d.stop()
    finally:
        relay.close()


def _rotate(addr, cert, token, value, workdir):
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(workdir),
           "VAULT_ADDR": addr, "VAULT_CACERT": str(cert[0]), "VAULT_TOKEN": token}
    return subprocess.run([str(ROTATE_SCRIPT), "--no-refresh", "package-registry",
                           "PYPI_API_TOKEN", "-"], input=value + "\n", env=env,
                          capture_output=True, text=True, timeout=60, cwd=str(workdir))


def test_rotate_secret_does_not_follow_to_another_origin(attacker, cert, workdir):
    first, second = attacker
    token, value = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    p = _rotate(first.origin, cert, token, value, workdir)
    assert p.returncode == 1, p
    assert first.seen(), "rotate_secret.sh did not reach the configured address"
    assert not second.seen(), (
        f"rotate_secret.sh followed the redirect: {[s.text() for s in second.seen()]}")
    for want in ("redirect", first.origin, second.origin):
        assert want in p.stderr, (want, p.stderr)
    assert token not in p.stdout + p.stderr and value not in p.stdout + p.stderr


def test_rotate_secret_follows_a_same_origin_redirect(seeded, cert, workdir):
    bao = seeded.bao
    relay = _relay_to(bao, cert, relative=True)
    try:
        value = secrets.token_urlsafe(24)
        p = _rotate(relay.origin, cert, bao.root_token, value, workdir)
        assert p.returncode == 0, p
        assert bao.kv_get(seeded.kv_path)["data"]["PYPI_API_TOKEN"] == value
        paths = [(s.method, s.path) for s in relay.seen()]
        assert ("PATCH", f"/relay/v1/secret/data/{seeded.kv_path}") in paths, paths
    finally:
        relay.close()
