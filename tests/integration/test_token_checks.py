"""Tokens checked when they are loaded or rotated, before a release needs
them (issue 15): npm tokens are asked about with GET -/whoami at the real
verdaccio; PyPI API tokens ("pypi-" macaroons, made here as Warehouse
serializes them) have their caveats read and judged against the pipelines;
anything else is "not checkable".  Status shows each registry's result, the
log warns about a refusal, an expiry within 14 days and a project
restriction that does not fit the pipelines, and no token text appears in
either."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import time

import pytest

from aos_fixtures import ROTATE_SCRIPT, rotate_env, wait_for
from webhook_support import python_pipeline, PY_NAME


def macaroon_token(caveats: list) -> str:
    """A PyPI-style API token: "pypi-" + base64url (no padding) of a
    macaroon in binary format 2 with these caveats (JSON), as pymacaroons
    serializes Warehouse's tokens.  The signature is random: only PyPI could
    make a real one, and nothing here checks it."""
    def field(t: int, data: bytes) -> bytes:
        return bytes([t, len(data)]) if len(data) < 128 else bytes(
            [t, 0x80 | (len(data) & 0x7f), len(data) >> 7])

    def f(t: int, data: bytes) -> bytes:
        return field(t, data) + data

    raw = b"\x02" + f(1, b"pypi.org") + f(2, secrets.token_hex(16).encode()) + b"\x00"
    for c in caveats:
        raw += f(2, json.dumps(c, separators=(",", ":")).encode()) + b"\x00"
    raw += b"\x00" + f(6, secrets.token_bytes(32))
    return "pypi-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def tokens(d) -> dict:
    return {t["registry"]: t for t in d.status()["tokens"]}


def settled(d, registry: str, version: int | None = None, timeout: float = 20.0) -> dict:
    """The registry's check result once it is not pending (for version)."""
    def done():
        t = tokens(d).get(registry)
        if t is None or t["state"] in ("none", "checking"):
            return None
        return t if version is None or t["version"] == version else None
    return wait_for(done, timeout, what=lambda: f"token check of {registry}: "
                    f"{tokens(d).get(registry)}\n{d.log_tail()}")


def assert_no_token_text(d, *values: str) -> None:
    text = json.dumps(d.status()) + d.log_text()
    for v in values:
        assert v not in text, "a token value appears in the status or the log"
        assert v[5:25] not in text, "part of a token value appears in the status or log"


@pytest.fixture(scope="module")
def daemon(webhook_env):
    pipes = {"python-sdk": python_pipeline(webhook_env.repo, targets=["pypi"],
                                           build=["exit 1"])}
    return webhook_env.hook_daemon(pipes, config={"vault": {"poll_interval_s": 1}})


def test_npm_token_asked_at_the_registry(webhook_env, daemon):
    t = settled(daemon, "npm")
    assert t["state"] == "valid", t
    assert t["account"] == webhook_env.npm_user, t
    out = daemon.ctl("status").out
    assert f"Token:      npm NPM_TOKEN v{t['version']}: valid, account " \
        f"{webhook_env.npm_user}" in out, out
    good = webhook_env.values["NPM_TOKEN"]
    # A token verdaccio never issued: refused at the rotation, not at release.
    bad = "npm_" + secrets.token_urlsafe(27)
    at = len(daemon.log_text())
    version = webhook_env.set_secret(NPM_TOKEN=bad)
    t = settled(daemon, "npm", version)
    assert t["state"] == "refused", t
    # verdaccio answers a token it never issued as anonymous: 200 {}.
    assert "does not know the token" in t["message"] or "HTTP 401" in t["message"], t
    log = daemon.log_text()[at:]
    assert "registry npm: token NPM_TOKEN" in log and "refused" in log, log
    version = webhook_env.set_secret(NPM_TOKEN=good)
    assert settled(daemon, "npm", version)["state"] == "valid"
    assert_no_token_text(daemon, good, bad)


def test_pypi_token_caveats_judged_against_the_pipelines(webhook_env, daemon):
    now = int(time.time())
    tok = macaroon_token([{"version": 1, "permissions": "user"}])
    version = webhook_env.set_secret(PYPI_API_TOKEN=tok)
    t = settled(daemon, "pypi", version)
    assert t["state"] == "claims_read", t
    assert t["scope"] == "every project of the account", t
    assert "warnings" not in t, t
    # Restricted to another project, expiring in 5 days.
    tok = macaroon_token([[0, now + 5 * 86400, now - 60], [1, ["other-project"]]])
    at = len(daemon.log_text())
    version = webhook_env.set_secret(PYPI_API_TOKEN=tok)
    t = settled(daemon, "pypi", version)
    assert t["state"] == "claims_read", t
    assert t["projects"] == ["other-project"], t
    assert t["expires"] == now + 5 * 86400, t
    w = t["warnings"]
    assert f"pipeline python-sdk publishes {PY_NAME}, which this token does not allow" in w
    assert "restricted to projects that no pipeline publishes here" in w, w
    assert "expires in 4 day" in w or "expires in 5 day" in w, w
    assert "expires in" in daemon.log_text()[at:]
    # Expired: reported as such, a warning with what to do.
    tok2 = macaroon_token([[0, now - 10, now - 86400], [1, [PY_NAME]]])
    at = len(daemon.log_text())
    version = webhook_env.set_secret(PYPI_API_TOKEN=tok2)
    t = settled(daemon, "pypi", version)
    assert t["state"] == "expired", t
    assert "rotate it" in daemon.log_text()[at:]
    assert_no_token_text(daemon, tok, tok2)


def test_other_tokens_are_not_checkable(webhook_env, daemon):
    pw = secrets.token_urlsafe(24)  # a pypiserver password, say
    version = webhook_env.set_secret(PYPI_API_TOKEN=pw)
    t = settled(daemon, "pypi", version)
    assert t["state"] == "not_checkable", t
    assert "not a PyPI API token" in t["message"], t
    assert_no_token_text(daemon, "pypi-" + pw)


def _rotate_verify(env, d, key: str, value: str):
    argv = [str(ROTATE_SCRIPT), "--verify", "package-registry", key, "-"]
    return subprocess.run(argv, input=value + "\n", capture_output=True, text=True,
                          timeout=60, env=rotate_env(env.bao, d), cwd=str(d.dir))


def test_rotate_secret_verify_refuses_before_writing(webhook_env, daemon):
    """rotate_secret.sh --verify: the daemon checks the candidate with the
    registries that use the key before anything is written to Vault."""
    kv_before = webhook_env.bao.kv_get(webhook_env.kv_path)["metadata"]["version"]
    bad = "npm_" + secrets.token_urlsafe(27)
    p = _rotate_verify(webhook_env, daemon, "NPM_TOKEN", bad)
    assert p.returncode == 5, p
    assert "npm: refused" in p.stderr and "nothing written" in p.stderr, p.stderr
    assert bad not in p.stdout + p.stderr
    assert webhook_env.bao.kv_get(webhook_env.kv_path)["metadata"]["version"] == kv_before
    # An expired PyPI token: refused too; a good npm token is written.
    now = int(time.time())
    expired = macaroon_token([[0, now - 10, now - 86400]])
    p = _rotate_verify(webhook_env, daemon, "PYPI_API_TOKEN", expired)
    assert p.returncode == 5 and "pypi: expired" in p.stderr, p
    good = webhook_env.values["NPM_TOKEN"]
    p = _rotate_verify(webhook_env, daemon, "NPM_TOKEN", good)
    assert p.returncode == 0, p
    assert f"npm: valid: HTTP 200: account {webhook_env.npm_user}" in p.stderr, p.stderr
    assert webhook_env.bao.kv_get(webhook_env.kv_path)["metadata"]["version"] == kv_before + 1
    assert_no_token_text(daemon, bad, expired, good)
