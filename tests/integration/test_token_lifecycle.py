"""The daemon's Vault token lifecycle against short-TTL AppRole roles:
renewal at about 2/3 of the TTL, and a new login when the max TTL is near."""

import re
import time

import pytest

from aos_fixtures import Setup, approle_auth, secrets_match, seed_package_registry


def _expire(d):
    return d["expire_time"]


def _watch(d, t0: float, seconds: float) -> list[tuple]:
    """Status every 0.25 s until `seconds` after t0: (time since t0, state,
    healthy, token_ttl_s, last_error)."""
    samples = []
    while time.monotonic() - t0 < seconds:
        st = d.status()
        v = st["vault"]
        samples.append((round(time.monotonic() - t0, 2), st["state"], v["healthy"],
                        v["token_ttl_s"], v["last_error"]))
        time.sleep(0.25)
    return samples


def _unhealthy(samples) -> list[tuple]:
    return [s for s in samples if s[1] != "ready" or s[2] is not True]


@pytest.fixture
def short_ttl(bao, request):
    ttl, max_ttl = request.param
    return Setup(bao, seed_package_registry(bao, token_ttl=ttl, token_max_ttl=max_ttl))


@pytest.mark.parametrize("short_ttl", [("6s", "60s")], indirect=True)
def test_renewal_extends_ttl_and_keeps_token(short_ttl, daemons):
    bao, creds = short_ttl.bao, short_ttl.creds
    d = daemons(bao.addr)
    d.config["vault"]["auth"] = approle_auth(d, creds)
    d.start()
    t_ready = time.monotonic()
    toks = bao.tokens_of_role(creds["role"])
    assert len(toks) == 1, toks
    accessor, first_expire = toks[0]["accessor"], _expire(toks[0])

    # Watch for 10 s, well past the 6 s TTL: the token must be renewed, not
    # replaced, and the daemon must stay healthy throughout.
    samples = _watch(d, t_ready, 10)
    bad = _unhealthy(samples)
    assert not bad, f"daemon not ready/healthy during renewal: {bad}"
    assert all(0 < s[3] <= 6 for s in samples), f"token_ttl_s out of (0, 6]: {samples}"
    ttls = [s[3] for s in samples]
    assert any(b > a for a, b in zip(ttls, ttls[1:])), (
        f"status token_ttl_s never went up (no renewal seen): {samples}")

    toks = bao.tokens_of_role(creds["role"])
    assert [t["accessor"] for t in toks] == [accessor], (
        f"expected the original token only (renewed, no new login): {toks}")
    tok = toks[0]
    assert tok.get("last_renewal_time"), f"token never renewed: {tok}"
    assert _expire(tok) > first_expire, f"expire_time not extended: {tok}"
    assert re.search(r"\brenew(ed|al|ing)\b", d.log_text(), re.I), "no log line about renewal"

    # The renewed token still reads the secret.
    bao.kv_patch(short_ttl.kv_path, {"NPM_TOKEN": "renewed-" + short_ttl.values["NPM_TOKEN"]})
    r = d.refresh()
    assert r.rc == 0 and r.json["ok"] is True and r.json["kv_version"] == 2, r
    d.stop()


@pytest.mark.parametrize("short_ttl", [("4s", "10s")], indirect=True)
def test_relogin_when_max_ttl_is_near(short_ttl, daemons):
    bao, creds = short_ttl.bao, short_ttl.creds
    d = daemons(bao.addr)
    d.config["vault"]["auth"] = approle_auth(d, creds)
    d.start()
    t_ready = time.monotonic()
    toks = bao.tokens_of_role(creds["role"])
    assert len(toks) == 1, toks
    first = toks[0]["accessor"]
    logins_before = len(re.findall(r"log(?:ged)?[ -]?in", d.log_text(), re.I))

    bad = _unhealthy(_watch(d, t_ready, 15))
    assert not bad, (f"the daemon should log in again before its token's max TTL "
                     f"(10 s) ends, without an unhealthy gap: {bad}")

    toks = bao.tokens_of_role(creds["role"])
    assert toks and first not in [t["accessor"] for t in toks], (
        f"first token should be gone (max TTL 10 s) and a new one in use: {toks}")
    logins_after = len(re.findall(r"log(?:ged)?[ -]?in", d.log_text(), re.I))
    assert logins_after > logins_before, "no log line about logging in again"

    # Secrets still work with the new token.
    secrets_match(d, short_ttl.values)
    new = bao.kv_patch(short_ttl.kv_path, {"PYPI_API_TOKEN": "x" + short_ttl.values["PYPI_API_TOKEN"]})
    r = d.refresh()
    assert r.rc == 0 and r.json["ok"] is True and r.json["kv_version"] == new, r
    st = d.status()
    assert st["state"] == "ready" and st["vault"]["healthy"] is True, st
    assert st["vault"]["consecutive_failures"] == 0, st
    d.stop()


@pytest.mark.parametrize("short_ttl", [("4s", "10s")], indirect=True)
def test_wrapped_secret_id_logs_in_again_past_max_ttl(short_ttl, daemons):
    """A response-wrapped secret_id: the wrapping token works once, so the
    unwrapped secret_id must serve every later login.  Past two max TTLs
    the daemon is still logged in, healthy and reading the secret."""
    bao, creds = short_ttl.bao, short_ttl.creds
    wrap_token = bao.generate_secret_id(creds["role"], wrap_ttl="120s")
    d = daemons(bao.addr)
    d.config["vault"]["auth"] = approle_auth(d, creds, wrapped=True)
    d.write_file("secret_id", wrap_token + "\n")
    d.start()
    t_ready = time.monotonic()
    first = [t["accessor"] for t in bao.tokens_of_role(creds["role"])]
    assert len(first) == 1, first

    bad = _unhealthy(_watch(d, t_ready, 22))
    assert not bad, f"not ready/healthy past the max TTL (10 s): {bad[:3]}\n{d.log_tail()}"
    logins = re.findall(r"logged in to Vault", d.log_text())
    assert len(logins) >= 3, f"expected a login per max TTL, saw {len(logins)}:\n{d.log_tail()}"
    assert len(re.findall(r"unwrapped the AppRole secret_id", d.log_text())) == 1, (
        "the wrapping token should be unwrapped once, at start")
    toks = [t["accessor"] for t in bao.tokens_of_role(creds["role"])]
    assert toks and first[0] not in toks, toks

    new = bao.kv_patch(short_ttl.kv_path, {"NPM_TOKEN": "y" + short_ttl.values["NPM_TOKEN"]})
    r = d.refresh()
    assert r.rc == 0 and r.json["ok"] is True and r.json["kv_version"] == new, r
    assert wrap_token not in d.log_text()
    d.stop()
