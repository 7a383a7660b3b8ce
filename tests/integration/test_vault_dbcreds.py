"""Database credentials from Vault's database secrets engine, against a
real OpenBao (its `database` engine, postgresql-database-plugin) and a real
PostgreSQL 15 (tests/peers/pg_run.sh: initdb as an unprivileged user in a
temporary folder, a free loopback port).

tests/tools/dbcreds-probe drives agent/session/dbcreds.c with a real Vault
session: it connects with libpq with every set of credentials it is
handed, opens one more connection at every renewal, and swaps its
connection to a new set only once the new one works, checking that the old
one still answers (nothing was revoked).  The role's leases are short
(default_ttl 6 s, max_ttl 15 s), so renewals, a renewal capped by the max
TTL and replacements all happen within one run.  The test asserts the
sequence of events, never their timing."""

import json
import re
import secrets
import subprocess
from pathlib import Path

import pytest

from aos_fixtures import BUILD_DIR, write_private
from peer_support import Answer, Peer, forward
from peers.postgres import Postgres

PROBE = BUILD_DIR / "tests" / "tools" / "dbcreds-probe"
SETS = 3  # the first set and two replacements
KV_PATH = "aos-dbcreds"

POLICY = f"""
path "database/creds/aos" {{ capabilities = ["read"] }}
path "sys/leases/renew" {{ capabilities = ["update"] }}
path "secret/data/{KV_PATH}" {{ capabilities = ["read"] }}
path "secret/metadata/{KV_PATH}" {{ capabilities = ["read"] }}
"""


@pytest.fixture
def postgres(workdir):
    pg = Postgres(workdir)
    yield pg
    assert pg.stop() == 0


def setup_database_engine(bao, pg) -> str:
    """OpenBao's database engine managing pg through a superuser made for it;
    role "aos": 6 s leases, renewable up to 15 s.  Returns the admin's
    password (to check it leaks nowhere)."""
    admin_pw = secrets.token_hex(16)
    pg.superuser_sql(f"CREATE ROLE vault_admin LOGIN SUPERUSER PASSWORD '{admin_pw}';\n")
    status, listed = bao.request("LIST", "sys/plugins/catalog/database")
    assert status == 200, listed
    assert "postgresql-database-plugin" in listed["data"]["keys"], \
        f"this OpenBao has no postgresql-database-plugin: {listed}"
    bao.api("POST", "sys/mounts/database", {"type": "database"})
    bao.api("POST", "database/config/aos", {
        "plugin_name": "postgresql-database-plugin",
        "connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:"
                          f"{pg.port}/aos?sslmode=disable",
        "username": "vault_admin", "password": admin_pw,
        "allowed_roles": ["aos"], "verify_connection": True})
    bao.api("POST", "database/roles/aos", {
        "db_name": "aos",
        "creation_statements": [
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
            "VALID UNTIL '{{expiration}}';"],
        "default_ttl": "6s", "max_ttl": "15s"})
    return admin_pw


def write_probe_config(workdir: Path, bao, token: str, address: str | None = None) -> Path:
    write_private(workdir / "token", token)
    cfg = {
        "state_dir": str(workdir), "runtime_dir": str(workdir),
        "vault": {"address": address or bao.addr, "kv_path": KV_PATH,
                  "auth": {"method": "token", "token_file": "token"},
                  "backoff_min_ms": 100, "backoff_max_ms": 2000},
        "queue": {"backend": "postgresql",
                  "postgresql": {"host": "127.0.0.1", "database": "aos",
                                 "sslmode": "disable",
                                 "credentials": {"database_role": "aos"}}},
    }
    path = workdir / "probe.json"
    path.write_text(json.dumps(cfg))
    return path


def test_renewed_replaced_and_each_user_connected(workdir, bao, postgres):
    assert PROBE.exists(), f"{PROBE} missing: run `make build` first"
    admin_pw = setup_database_engine(bao, postgres)
    bao.kv_put(KV_PATH, {"unused": "x"})
    bao.write_policy("aos-dbcreds", POLICY)
    token = bao.create_token(["aos-dbcreds"], ttl="1h")
    config = write_probe_config(workdir, bao, token)

    p = subprocess.run([str(PROBE), str(config), "127.0.0.1", postgres.port, "aos",
                        str(SETS)], capture_output=True, text=True, timeout=600)
    out, err = p.stdout, p.stderr
    assert p.returncode == 0, f"rc {p.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    lines = out.splitlines()
    assert lines and lines[-1] == "done", out
    assert not [ln for ln in lines if ln.startswith(("failed", "error"))], out

    # issued 1 U1 connected / renewed 1 U1 connected ... / issued 2 U2
    # connected previous U1 still answers / ...
    events = []
    for ln in lines[:-1]:
        m = re.fullmatch(r"(issued|renewed) (\d+) (\S+) connected"
                         r"(?: previous (\S+) (still answers|does NOT answer))?", ln)
        assert m, f"unexpected line {ln!r} in\n{out}"
        events.append((m[1], int(m[2]), m[3], m[4], m[5]))
    issued = [e for e in events if e[0] == "issued"]
    assert [e[1] for e in issued] == list(range(1, SETS + 1)), out
    users = [e[2] for e in issued]
    assert len(set(users)) == SETS, f"each set is a new database user: {users}"
    for prev, new in zip(issued, issued[1:]):
        # The swap: the new user connected while the old one still answered.
        assert new[3] == prev[2] and new[4] == "still answers", out
    assert issued[0][3] is None, out
    # Each set's lease was renewed (its user connected again) before it
    # was replaced; a renewal always belongs to the newest set.
    current = None
    renewed_sets = set()
    for kind, serial, user, _, _ in events:
        if kind == "issued":
            current = (serial, user)
        else:
            assert (serial, user) == current, f"renewal of an old set:\n{out}"
            renewed_sets.add(serial)
    assert renewed_sets >= set(range(1, SETS)), f"sets renewed: {renewed_sets}\n{out}"

    # The Vault session's log: every set with its password's fingerprint,
    # the replacements announced; no password of the admin or token value.
    for n, user in enumerate(users, 1):
        assert re.search(rf"database credentials {n} from database/creds/aos: "
                         rf"user {re.escape(user)}, password fingerprint [0-9a-f]{{8}}, "
                         rf"lease 6 s", err), err
    assert "its max TTL is near, fetching new credentials" in err, err
    for value in (admin_pw, token):
        assert value not in out and value not in err


def _ready_token(bao, postgres) -> str:
    setup_database_engine(bao, postgres)
    bao.kv_put(KV_PATH, {"unused": "x"})
    bao.write_policy("aos-dbcreds", POLICY)
    return bao.create_token(["aos-dbcreds"], ttl="1h")


def test_same_origin_redirect_is_followed(workdir, bao, postgres):
    """A standby behind vault.address answers 307 to another path of the
    same origin: the credentials' read (GET) and the lease's renewal (PUT,
    with its body) are sent again there.  Before, dbcreds gave up on any
    redirect ("not followed for database credentials")."""
    token = _ready_token(bao, postgres)

    def handle(seen, peer):
        if seen.path.startswith("/relay/"):
            return forward(seen, "127.0.0.1", bao.port, seen.path[len("/relay"):])
        return Answer(307, {"Location": peer.origin + "/relay" + seen.path})
    relay = Peer(handle)
    try:
        config = write_probe_config(workdir, bao, token, address=relay.origin)
        p = subprocess.run([str(PROBE), str(config), "127.0.0.1", postgres.port, "aos", "2"],
                           capture_output=True, text=True, timeout=300)
        paths = [(s.method, s.path) for s in relay.seen()]
    finally:
        relay.close()
    assert p.returncode == 0, f"rc {p.returncode}\n{p.stdout}\n{p.stderr}"
    assert p.stdout.splitlines()[-1] == "done", p.stdout
    for want in (("GET", "/v1/database/creds/aos"), ("GET", "/relay/v1/database/creds/aos"),
                 ("PUT", "/v1/sys/leases/renew"), ("PUT", "/relay/v1/sys/leases/renew")):
        assert want in paths, f"{want} not seen by the relay: {paths}"
    assert token not in p.stdout + p.stderr


def test_cross_origin_redirect_is_not_followed(workdir, bao, postgres):
    """The host at vault.address answers 307 to a host it controls: the
    credentials' read must not go there (it carries the Vault token), and
    the failure says why."""
    token = _ready_token(bao, postgres)
    second = Peer(lambda seen, peer: Answer(200, {"Content-Type": "application/json"},
                                            b'{"data":{}}'))
    first = Peer(lambda seen, peer: Answer(307, {"Location": second.origin + seen.path}))
    config = write_probe_config(workdir, bao, token, address=first.origin)
    p = subprocess.Popen([str(PROBE), str(config), "127.0.0.1", postgres.port, "aos", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        failed = []
        for line in p.stdout:
            if line.startswith("failed"):
                failed.append(line)
            if len(failed) >= 2:
                break
    finally:
        p.kill()
        err = p.communicate(timeout=30)[1]
        first.close()
        second.close()
    assert len(failed) >= 2, f"the probe did not fail twice: {failed}\n{err}"
    assert not second.seen(), f"followed to another origin: {[s.text() for s in second.seen()]}"
    for want in ("redirect", first.origin, second.origin):
        assert want in failed[0], f"{want!r} not in {failed[0]!r}"
    assert token not in "".join(failed) + err
