"""The daemon on a PostgreSQL queue (queue.backend "postgresql"), against a
real PostgreSQL 15 (tests/peers/postgres.py), the real OpenBao, pypiserver
and verdaccio:

- the password from a key of the Vault secret: jobs run and reach the
  registries (pip install), the jobs are rows of the database, status
  shows the backend and the LISTEN connection; the password rotated in
  Vault and in the database, every old session killed: the queue
  reconnects with the new one and keeps working;
- the password from Vault's database engine with 6 s leases (15 s at
  most): the daemon goes through several sets while it publishes, and
  every job succeeds.

No timing is asserted; every wait is bounded."""

from __future__ import annotations

import re
import secrets
import subprocess
from pathlib import Path

import pytest

from aos_fixtures import deep_merge, wait_for
from peers.postgres import PG_BINDIR, Postgres
from queue_support import enqueue, jobs, wait_state
from publish_support import (fresh_venv, make_npm, make_wheel, pip_install, publish,
                             sha256_file)
from test_vault_dbcreds import setup_database_engine

SCHEMA_ROLE = "aosq"


@pytest.fixture
def postgres(workdir):
    pg = Postgres(workdir)
    yield pg
    assert pg.stop() == 0


def sql_rows(pg: Postgres, sql: str, db: str = "aos") -> list[list[str]]:
    """Rows of one query run as the superuser on the socket (unaligned,
    tab-separated)."""
    p = subprocess.run([str(PG_BINDIR / "psql"), "-X", "-q", "-A", "-t", "-F", "\t",
                        "-h", pg.socket_dir, "-p", pg.port, "-U", "postgres", "-d", db,
                        "-f", "-"], input=sql, text=True, capture_output=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    return [ln.split("\t") for ln in p.stdout.splitlines() if ln]


def make_role(pg: Postgres, role: str) -> str:
    """A login role with a schema of its own in database aos (the queue's
    tables go into the user's schema); returns its password."""
    pw = secrets.token_urlsafe(24)
    pg.superuser_sql(f"CREATE ROLE {role} LOGIN PASSWORD '{pw}';\n"
                     f"\\c aos\nCREATE SCHEMA {role} AUTHORIZATION {role};\n")
    return pw


def pg_queue(pg: Postgres, credentials: dict, user: str | None = None, **queue) -> dict:
    q = {"backend": "postgresql",
         "postgresql": {"host": "127.0.0.1", "port": int(pg.port), "database": "aos",
                        "sslmode": "disable", "credentials": credentials},
         "backoff_min_ms": 200, "backoff_max_ms": 1000, "shutdown_grace_s": 5}
    if user is not None:
        q["postgresql"]["user"] = user
    q.update(queue)
    return {"queue": q,
            "publish": {"max_attempts": 1, "backoff_min_ms": 100, "backoff_max_ms": 200}}


def test_kv_password_publish_and_rotation(publish_env, postgres, tmp_path):
    env = publish_env
    pw = make_role(postgres, SCHEMA_ROLE)
    env.set_secret(AOS_QUEUE_PG_PASSWORD=pw)
    d = env.daemon(pg_queue(postgres, {"kv_key": "AOS_QUEUE_PG_PASSWORD"},
                            user=SCHEMA_ROLE, host_name="pg-kv-1"))
    st = d.status()
    q = st.get("queue", st)
    assert q.get("backend") == "postgresql", st
    assert q.get("user") == SCHEMA_ROLE and q.get("credentials") == "vault_kv_key", st
    assert q.get("password_fingerprint") == d.fingerprint(pw), st
    assert "database" not in q or q["database"] == "aos", st
    wait_for(lambda: d.status().get("queue", {}).get("listening") is True, 15,
             what=lambda: f"LISTEN connected: {d.status()}")
    text = d.ctl("status").out
    assert re.search(rf"Database: +PostgreSQL 127\.0\.0\.1, database aos, user {SCHEMA_ROLE} "
                     rf"\(vault_kv_key, password fingerprint {d.fingerprint(pw)}\), "
                     r"LISTEN on; this daemon is pg-kv-1", text), text

    out = tmp_path / "dist"
    out.mkdir()
    whl = make_wheel(out, "aos-pg-kv", "1.0.0")
    tgz = make_npm(out, "@agenticverz/pg-kv", "1.0.0")
    publish(d, "pypi", whl).expect(0, "published")
    publish(d, "npm", tgz).expect(0, "published")
    venv = fresh_venv(tmp_path / "venv")
    pip_install(venv, env.pypi.index_url_with_auth, "aos-pg-kv==1.0.0")

    # the jobs the daemon lists are the database's rows
    listed = {j["id"]: j["state"] for j in jobs(d)}
    assert sorted(listed.values()) == ["succeeded", "succeeded"], listed
    rows = sql_rows(postgres, f"SELECT id FROM {SCHEMA_ROLE}.aos_jobs ORDER BY id")
    assert sorted(int(r[0]) for r in rows) == sorted(listed), (rows, listed)
    # no file of this host's SQLite queue was made
    assert not (Path(d.config["state_dir"]) / "queue.db").exists()

    # Rotation: a new password in the database and in Vault; every session
    # of the old one killed, so what works after runs on new connections.
    new = secrets.token_urlsafe(24)
    postgres.superuser_sql(f"ALTER ROLE {SCHEMA_ROLE} PASSWORD '{new}';\n")
    env.set_secret(AOS_QUEUE_PG_PASSWORD=new)
    d.refresh()
    d.wait_log(r"database password from the Vault secret's key AOS_QUEUE_PG_PASSWORD "
               r"\(fingerprint " + d.fingerprint(new) + r"\): the queue reconnects", 15)
    pids_before = sql_rows(postgres, "SELECT pid FROM pg_stat_activity "
                                     f"WHERE usename = '{SCHEMA_ROLE}'")
    sql_rows(postgres, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       f"WHERE usename = '{SCHEMA_ROLE}'")
    whl2 = make_wheel(out, "aos-pg-kv", "1.0.1")
    publish(d, "pypi", whl2).expect(0, "published")
    assert d.status()["queue"]["password_fingerprint"] == d.fingerprint(new)
    wait_for(lambda: d.status()["queue"].get("listening") is True, 15,
             what="LISTEN back after its session was killed")
    pids_after = sql_rows(postgres, "SELECT pid FROM pg_stat_activity "
                                    f"WHERE usename = '{SCHEMA_ROLE}'")
    assert pids_after and not set(map(tuple, pids_after)) & set(map(tuple, pids_before))
    for value in (pw, new):
        assert value not in d.log_text()


DB_POLICY = """
path "database/creds/aos" {{ capabilities = ["read"] }}
path "sys/leases/renew" {{ capabilities = ["update"] }}
path "secret/data/{kv}" {{ capabilities = ["read"] }}
path "secret/metadata/{kv}" {{ capabilities = ["read"] }}
"""


def test_database_role_sets_replaced_while_publishing(publish_env, postgres, tmp_path):
    """6 s leases renewable to 15 s: within the run the daemon takes several
    sets (each a new database user made by OpenBao); jobs published all
    along succeed.  The role's users share one schema (each set's user is
    granted the group role that owns it)."""
    env = publish_env
    setup_database_engine(env.bao, postgres)
    postgres.superuser_sql(
        "CREATE ROLE aosgroup NOLOGIN;\n\\c aos\n"
        "CREATE SCHEMA aosgroup AUTHORIZATION aosgroup;\n")
    # each user OpenBao makes joins the group and works in its schema
    env.bao.api("POST", "database/roles/aos", {
        "db_name": "aos",
        "creation_statements": [
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
            "VALID UNTIL '{{expiration}}' IN ROLE aosgroup;",
            "ALTER ROLE \"{{name}}\" SET role = 'aosgroup';",
            "ALTER ROLE \"{{name}}\" SET search_path = aosgroup;"],
        "default_ttl": "6s", "max_ttl": "15s"})
    env.bao.write_policy("aos-pg-db", DB_POLICY.format(kv=env.kv_path))
    token = env.bao.create_token(["aos-publishd-read", "aos-pg-db"], ttl="1h")
    d = env.daemon(deep_merge(pg_queue(postgres, {"database_role": "aos"},
                                 host_name="pg-db-1"),
                        {"vault": {"backoff_min_ms": 100, "backoff_max_ms": 2000}}),
                   start=False)
    tf = d.write_file("vault-token-db", token + "\n")
    d.config["vault"]["auth"] = {"method": "token", "token_file": str(tf)}
    d.start()

    out = tmp_path / "dist"
    out.mkdir()
    users = set()
    n = 0
    # publish until the daemon has gone through three sets (about 25 s)
    def third_set():
        nonlocal n
        n += 1
        whl = make_wheel(out, "aos-pg-db", f"1.0.{n}")
        publish(d, "pypi", whl).expect(0, "published")
        q = d.status()["queue"]
        users.add(q.get("user"))
        return q.get("credentials_serial", 0) >= 3
    wait_for(third_set, 90, interval=1.0,
             what=lambda: f"three credential sets: {d.status()}")
    assert len(users) >= 2, users
    listed = jobs(d)
    assert len(listed) == n and {j["state"] for j in listed} == {"succeeded"}, listed
    rows = sql_rows(postgres, "SELECT count(*) FROM aosgroup.aos_jobs")
    assert rows == [[str(n)]], rows
    log = d.log_text()
    assert len(re.findall(r"database credentials \d+ from database/creds/aos", log)) >= 3
    assert not re.search(r"cannot open its connection", log), d.log_tail()



def test_job_of_one_daemon_run_by_another(publish_env, postgres, tmp_path):
    """Two daemons on one queue (their own state and spool): a job queued on
    A while A starts none runs on B, which reads its files from the
    database (A's spool is not B's) and publishes them intact; B's copies
    and the database's go once it succeeded.  The same job's status read
    on A follows B's run (LISTEN)."""
    env = publish_env
    pw = make_role(postgres, "aosq2")
    env.set_secret(AOS_QUEUE_PG2_PASSWORD=pw)
    cfg = {"kv_key": "AOS_QUEUE_PG2_PASSWORD"}
    a = env.daemon(pg_queue(postgres, cfg, user="aosq2", host_name="pg-a"))
    a.ctl_json("drain", "--this-host")  # A starts no job (a bare drain is the fleet's)
    b = env.daemon(pg_queue(postgres, cfg, user="aosq2", host_name="pg-b"))
    out = tmp_path / "dist"
    out.mkdir()
    whl = make_wheel(out, "aos-pg-two", "1.0.0")
    tgz = make_npm(out, "@agenticverz/pg-two", "1.0.0")
    ids = [enqueue(a, "pypi", whl), enqueue(a, "npm", tgz)]
    for jid in ids:
        j = wait_state(a, jid, ("succeeded", "dead"), timeout=60)
        assert j["state"] == "succeeded", (j, b.log_tail())
    b.wait_log(rf"job {ids[0]}: 1 file\(s\) read from the queue's database", 5)
    assert f"job {ids[0]}: running" not in a.log_text()
    # intact on the registries: the digests of the files A was given
    files = env.pypi.files()
    assert files.get(whl.name) == sha256_file(whl), files
    venv = fresh_venv(tmp_path / "venv")
    pip_install(venv, env.pypi.index_url_with_auth, "aos-pg-two==1.0.0")
    tarballs = env.npm.tarballs()
    assert sha256_file(tgz) in tarballs.values(), tarballs
    # B's copies and the database's are gone; A keeps its spool until
    # its own retention prunes the job
    spool_b = Path(b.config["state_dir"]) / "spool"
    assert not list(spool_b.glob("taken-*")), list(spool_b.iterdir())
    rows = sql_rows(postgres, "SELECT count(*) FROM aosq2.aos_job_files")
    assert rows == [["0"]], rows
