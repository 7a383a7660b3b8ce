"""Authentication to a real OpenBao: AppRole (plain, wrapped secret_id,
systemd credentials), token file, address from the environment."""

import re
import secrets

import pytest

from aos_fixtures import (DEFAULT_KEYS, approle_auth, read_policy,
                      secrets_match)


def test_approle_login_with_read_only_policy(seeded, approle_daemon):
    bao, creds = seeded.bao, seeded.creds
    # The role's policy grants read on the secret's data and metadata only.
    policy = bao.api("GET", f"sys/policies/acl/{creds['policy']}")["data"]["policy"]
    assert policy == read_policy(), policy
    token = bao.approle_login(creds["role_id"], creds["secret_id"])["client_token"]
    st, _ = bao.request("GET", "secret/data/agenticverz/other", token=token)
    assert st == 403, "the test policy must not allow other paths"
    st, _ = bao.request("POST", f"secret/data/{seeded.kv_path}", {"data": {}}, token=token)
    assert st == 403, "the test policy must not allow writes"
    bao.api("POST", "auth/token/revoke", {"token": token})

    d = approle_daemon()
    d.start()
    s = secrets_match(d, seeded.values)
    for k in DEFAULT_KEYS:
        assert s[k]["version"] == 1, s[k]
        assert s[k]["created_time"], s[k]

    st = d.status()
    assert st["state"] == "ready", st
    v = st["vault"]
    assert v["healthy"] is True, v
    assert v["auth_method"] == "approle", v
    assert v["address"].rstrip("/") == bao.addr, v
    assert v["kv"] == "secret/agenticverz/package-registry", v
    assert v["kv_version"] == 1, v
    assert v["token_renewable"] is True, v
    assert 0 < v["token_ttl_s"] <= 3600, v
    assert v["consecutive_failures"] == 0 and v["last_error"] is None, v
    assert st["pid"] == d.pid, st

    # Exactly one token was issued to the daemon, through the role.
    toks = bao.tokens_of_role(creds["role"])
    assert len(toks) == 1, toks
    assert sorted(toks[0]["policies"]) == sorted([creds["policy"], "default"])

    # Human output shows the keys and their fingerprints.
    r = d.ctl("secrets")
    assert r.rc == 0, r
    for k in DEFAULT_KEYS:
        assert k in r.out and d.fingerprint(seeded.values[k]) in r.out, r.out
    r = d.ctl("status")
    assert r.rc == 0 and re.search(r"ready", r.out), r
    d.stop()


@pytest.mark.parametrize("explicit_path", [True, False], ids=["wrap_creation_path", "default-pattern"])
def test_approle_wrapped_secret_id(seeded, daemons, explicit_path):
    bao, creds = seeded.bao, seeded.creds
    wrap_token = bao.generate_secret_id(creds["role"], wrap_ttl="120s")
    st, info = bao.wrapping_lookup(wrap_token)
    assert st == 200 and info["data"]["creation_path"] == \
        f"auth/approle/role/{creds['role']}/secret-id", info

    d = daemons(bao.addr)
    extra = {}
    if explicit_path:
        extra["wrap_creation_path"] = f"auth/approle/role/{creds['role']}/secret-id"
    auth = approle_auth(d, creds, wrapped=True, **extra)
    d.write_file("secret_id", wrap_token + "\n")
    d.config["vault"]["auth"] = auth
    d.start()
    secrets_match(d, seeded.values)
    assert d.status()["state"] == "ready"
    # The wrapping token was consumed by the daemon's unwrap.
    st, _ = bao.wrapping_lookup(wrap_token)
    assert st == 400, "the wrapping token should have been unwrapped (used)"
    d.stop()


@pytest.mark.parametrize("explicit_path", [True, False], ids=["wrap_creation_path", "default-pattern"])
def test_wrapped_secret_id_with_wrong_creation_path_is_refused(seeded, daemons, explicit_path):
    """A wrapping token from another origin (sys/wrapping/wrap) is refused
    before it is unwrapped, even though it holds a valid secret_id."""
    bao, creds = seeded.bao, seeded.creds
    wrap_token = bao.wrap({"secret_id": creds["secret_id"]})
    d = daemons(bao.addr)
    extra = {}
    if explicit_path:
        extra["wrap_creation_path"] = f"auth/approle/role/{creds['role']}/secret-id"
    d.config["vault"]["auth"] = approle_auth(d, creds, wrapped=True, **extra)
    d.write_file("secret_id", wrap_token + "\n")
    d.start(wait_ready=False)
    d.wait_log(r"creation[ _]path", timeout=10)
    st = d.assert_answers()
    assert st["state"] in ("starting", "degraded"), st
    assert not d.notify.wait_line("READY=1", timeout=1), "READY=1 without secrets"
    assert wrap_token not in d.log_text()
    st, _ = bao.wrapping_lookup(wrap_token)
    assert st == 200, "the daemon unwrapped a token whose creation path it should refuse"
    d.stop()


def test_token_file(seeded, daemons):
    bao = seeded.bao
    token = bao.create_token([seeded.creds["policy"]], ttl="1h",
                             token_id=secrets.token_urlsafe(24))
    d = daemons(bao.addr)
    tf = d.write_file("vault-token", token + "\n")
    d.config["vault"]["auth"] = {"method": "token", "token_file": str(tf)}
    d.start()
    secrets_match(d, seeded.values)
    st = d.status()
    assert st["state"] == "ready" and st["vault"]["auth_method"] == "token", st
    assert st["vault"]["healthy"] is True, st
    d.stop()


def test_credentials_directory_first(seeded, daemons):
    """Relative role_id/secret_id names are looked up in
    $CREDENTIALS_DIRECTORY before the configuration's folder."""
    bao, creds = seeded.bao, seeded.creds
    d = daemons(bao.addr)
    creddir = d.dir / "credentials"
    creddir.mkdir(mode=0o700)
    d.write_file("role-id.cred", creds["role_id"] + "\n", folder=creddir)
    d.write_file("secret-id.cred", creds["secret_id"] + "\n", folder=creddir)
    # Decoys beside the configuration: wrong values under the same names.
    d.write_file("role-id.cred", creds["role_id"] + "\n")
    d.write_file("secret-id.cred", secrets.token_urlsafe(24) + "\n")
    d.config["vault"]["auth"] = {"method": "approle", "role_id_file": "role-id.cred",
                                 "secret_id_file": "secret-id.cred"}
    d.start(env={"CREDENTIALS_DIRECTORY": str(creddir)})
    secrets_match(d, seeded.values)
    d.stop()


def test_credentials_default_names_beside_config(seeded, daemons):
    """Without $CREDENTIALS_DIRECTORY the default relative names role_id and
    secret_id are read from the configuration file's folder."""
    bao, creds = seeded.bao, seeded.creds
    d = daemons(bao.addr)
    d.write_file("role_id", creds["role_id"] + "\n")
    d.write_file("secret_id", creds["secret_id"] + "\n")
    d.config["vault"]["auth"] = {"method": "approle"}
    d.start()
    secrets_match(d, seeded.values)
    d.stop()


def test_address_from_environment(seeded, daemons):
    """BAO_ADDR overrides VAULT_ADDR, which overrides the file."""
    bao, creds = seeded.bao, seeded.creds
    d = daemons("http://127.0.0.1:1")
    d.config["vault"]["auth"] = approle_auth(d, creds)
    d.start(env={"BAO_ADDR": bao.addr, "VAULT_ADDR": "http://127.0.0.1:1"})
    secrets_match(d, seeded.values)
    st = d.status()
    assert st["vault"]["address"].rstrip("/") == bao.addr, st
    d.stop()

    d2 = daemons("http://127.0.0.1:1")
    d2.config["vault"]["auth"] = approle_auth(d2, creds)
    d2.start(env={"VAULT_ADDR": bao.addr})
    secrets_match(d2, seeded.values)
    d2.stop()
