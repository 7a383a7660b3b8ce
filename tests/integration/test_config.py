"""Configuration validation (`aos-publishd --check-config`) and reload on
SIGHUP (an invalid file is rejected and the running configuration kept)."""

import copy
import http.client
import json
import re
import secrets
import signal
import socket
import subprocess

import pytest

from aos_fixtures import PUBLISHD, deep_merge, wait_for
from peers.proc import free_port

VALID = {
    "log_level": "info",
    "runtime_dir": "(replaced by check_config)",
    "state_dir": "(replaced by check_config)",
    "vault": {
        "address": "http://127.0.0.1:8200",
        "auth": {"method": "approle", "role_id_file": "role_id",
                 "secret_id_file": "secret_id"},
        "kv_mount": "secret",
        "kv_path": "agenticverz/package-registry",
        "poll_interval_s": 30,
    },
    "registries": {
        "pypi": {"type": "pypi", "url": "http://127.0.0.1:8080/legacy/"},
        "npm": {"type": "npm", "url": "http://127.0.0.1:4873/"},
    },
}


def check_config(tmp_path, cfg=None, raw=None, env=None):
    path = tmp_path / "config.json"
    if cfg is not None:
        for k in ("runtime_dir", "state_dir"):
            if k in cfg:
                cfg = dict(cfg, **{k: str(tmp_path / k)})
    path.write_text(raw if raw is not None else json.dumps(cfg))
    for name in ("role_id", "secret_id"):
        (tmp_path / name).write_text(secrets.token_urlsafe(16) + "\n")
        (tmp_path / name).chmod(0o600)
    e = {"PATH": "/usr/bin:/bin"}
    e.update(env or {})
    p = subprocess.run([str(PUBLISHD), "--check-config", str(path)],
                       capture_output=True, text=True, timeout=10, env=e)
    return p


def test_valid_config_passes(tmp_path):
    p = check_config(tmp_path, VALID)
    assert p.returncode == 0, f"valid configuration rejected: {p.stderr}"


@pytest.mark.parametrize("address", ["localhost:8080", "127.0.0.1:8080", "[::1]:8080"])
def test_listen_address_forms_pass_check(tmp_path, address):
    p = check_config(tmp_path, deep_merge(VALID, {"listen": {"address": address}}))
    assert p.returncode == 0, f"listen.address {address!r} refused: {p.stderr}"
    p = check_config(tmp_path, deep_merge(VALID, {"metrics": {"address": address}}))
    assert p.returncode == 0, f"metrics.address {address!r} refused: {p.stderr}"


def test_address_from_environment_satisfies_check(tmp_path):
    cfg = deep_merge(VALID, {"vault": {"address": None}})
    p = check_config(tmp_path, cfg, env={"VAULT_ADDR": "http://127.0.0.1:8200"})
    assert p.returncode == 0, p.stderr
    p = check_config(tmp_path, cfg, env={"BAO_ADDR": "http://127.0.0.1:8200"})
    assert p.returncode == 0, p.stderr


BAD = [
    ("unknown top-level key", {"log_levle": "debug"}, r"log_levle"),
    ("unknown nested key", {"vault": {"poll_intervall_s": 5}}, r"vault\.poll_intervall_s"),
    ("wrong type", {"vault": {"poll_interval_s": "fast"}}, r"vault\.poll_interval_s"),
    ("out of range", {"vault": {"poll_interval_s": 0}}, r"vault\.poll_interval_s"),
    ("missing vault.address", {"vault": {"address": None}}, r"vault\.address"),
    ("http to a non-loopback host", {"vault": {"address": "http://vault.example.net:8200"}},
     r"vault\.address"),
    ("unsupported scheme", {"vault": {"address": "ftp://127.0.0.1:8200"}}, r"vault\.address"),
    ("unknown auth method", {"vault": {"auth": {"method": "ldap"}}}, r"vault\.auth\.method"),
    ("missing vault", {"vault": None}, r"vault"),
    ("bad log level", {"log_level": "loud"}, r"log_level"),
    ("wrapped not a boolean", {"vault": {"auth": {"secret_id_wrapped": "yes"}}},
     r"vault\.auth\.secret_id_wrapped"),
    ("unknown registry type", {"registries": {"pypi": {"type": "cargo"}}},
     r"registries\.pypi\.type"),
    ("registry without url", {"registries": {"npm": {"url": None}}}, r"registries\.npm\.url"),
    ("token method without token_file",
     {"vault": {"auth": {"method": "token", "role_id_file": None, "secret_id_file": None}}},
     r"vault\.auth\.token_file"),
    ("unknown control user", {"control": {"operators": ["root", "no-such-user-aos"]}},
     r"control\.operators\[1\]"),
    ("unknown control group", {"control": {"readers": ["@no-such-group-aos"]}},
     r"control\.readers\[0\]"),
    ("control list not an array", {"control": {"readers": "nobody"}}, r"control\.readers"),
    ("control connections out of range", {"control": {"max_connections": 0}},
     r"control\.max_connections"),
    ("file limit out of range", {"publish": {"max_file_bytes": 10}}, r"publish\.max_file_bytes"),
    ("listen host that does not resolve", {"listen": {"address": "no-such-host.invalid:8080"}},
     r"listen\.address"),
    ("listen port 0", {"listen": {"address": "localhost:0"}}, r"listen\.address"),
    ("listen without a port", {"listen": {"address": "localhost"}}, r"listen\.address"),
    ("listen name in brackets", {"listen": {"address": "[localhost]:8080"}},
     r"listen\.address"),
    ("metrics without a port", {"metrics": {"address": "127.0.0.1"}}, r"metrics\.address"),
    ("metrics on the listener's own address",
     {"listen": {"address": "127.0.0.1:8080"}, "metrics": {"address": "127.0.0.1:8080"}},
     r"metrics\.address"),
    ("unknown metrics key", {"metrics": {"path": "/m"}}, r"metrics\.path"),
    ("pipeline env sets HOME",
     {"pipelines": {"p": {"repository": "https://forge.test/o/r.git", "tag_pattern": "v*",
                          "package": "x", "build": ["true"], "artifacts": ["*.tgz"],
                          "targets": ["npm"], "env": {"HOME": "/tmp"}}}},
     r"pipelines\.p\.env"),
    ("control socket path too long", {"control_socket": "/" + "s" * 99}, r"control_socket"),
    # the name leads this daemon's lease owners ("<host_name>:<pid>")
    ("queue.host_name with a colon", {"queue": {"host_name": "build:1"}},
     r"queue\.host_name"),
]


@pytest.mark.parametrize("what, over, key", BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_key(tmp_path, what, over, key):
    cfg = deep_merge(VALID, over)
    p = check_config(tmp_path, cfg)
    assert p.returncode != 0, f"{what}: --check-config accepted {json.dumps(cfg)}"
    # As documented: "config.json: <key path>: <what is expected>".
    rx = r"config\.json: " + key + r": \S"
    assert re.search(rx, p.stderr), f"{what}: stderr does not name /{key}/: {p.stderr!r}"


PG_QUEUE = {"queue": {"backend": "postgresql", "host_name": "build-1",
                      "postgresql": {"host": "127.0.0.1", "database": "aos",
                                     "user": "aos", "sslmode": "disable"}}}


def test_postgresql_backend_checked_and_check_queue_refused(tmp_path):
    """A PostgreSQL queue passes --check-config; --check-queue (SQLite's
    integrity check) says it checks SQLite only instead of opening a file
    the daemon does not use."""
    cfg = deep_merge(VALID, PG_QUEUE)
    p = check_config(tmp_path, cfg)  # writes config.json and the credentials
    assert p.returncode == 0, p.stderr
    p = subprocess.run([str(PUBLISHD), "-c", str(tmp_path / "config.json"), "--check-queue"],
                       capture_output=True, text=True, timeout=20,
                       env={"PATH": "/usr/bin:/bin", "LD_BIND_NOW": "1"})
    assert p.returncode == 2, (p.returncode, p.stderr)  # a usage error
    assert "PostgreSQL" in p.stderr and "SQLite" in p.stderr, p.stderr
    assert not (tmp_path / "state_dir" / "queue.db").exists()


@pytest.mark.parametrize("raw", ['{"vault": ', "[]", ""], ids=["truncated", "array", "empty"])
def test_unparsable_config(tmp_path, raw):
    p = check_config(tmp_path, raw=raw)
    assert p.returncode != 0, f"--check-config accepted {raw!r}"
    assert p.stderr.strip(), "no error message"


def test_missing_config_file(tmp_path):
    p = subprocess.run([str(PUBLISHD), "--check-config", str(tmp_path / "nope.json")],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode != 0 and "nope.json" in p.stderr, p


def test_help_and_version():
    for flag in ("--help", "--version"):
        p = subprocess.run([str(PUBLISHD), flag], capture_output=True, text=True, timeout=10)
        assert p.returncode == 0 and (p.stdout + p.stderr).strip(), (flag, p)


def test_sighup_invalid_config_keeps_old_valid_applies(seeded, approle_daemon):
    bao = seeded.bao
    d = approle_daemon({"vault": {"poll_interval_s": 600}})
    d.start()
    good = copy.deepcopy(d.config)

    # Invalid: unknown key.  Rejected, old configuration kept, still healthy.
    bad = deep_merge(good, {"vault": {"poll_interval_s": 2, "bogus_key": 1}})
    d.write_config(bad)
    n = d.notify.count()
    mark = len(d.log_text())
    d.signal(signal.SIGHUP)
    wait_for(lambda: re.search(r"reload.*(reject|invalid|kept|keep|fail)|"
                                   r"(reject|invalid|kept|keep|fail).*reload",
                                   d.log_text()[mark:], re.I), 5,
                 what=lambda: f"a log line saying the reload was rejected:\n{d.log_tail()}")
    assert re.search(r"bogus_key", d.log_text()[mark:]), (
        f"the rejection does not name the bad key:\n{d.log_tail()}")
    # If RELOADING=1 was sent, READY=1 must follow.
    if d.notify.wait_line("RELOADING=1", start=n, timeout=0.5):
        assert d.notify.wait_line("READY=1", start=n, timeout=5), d.notify.lines(n)
    st = d.status()
    assert st["state"] == "ready" and st["vault"]["healthy"] is True, st
    # The old poll interval (600 s) is still in force: the next poll is
    # minutes away, not within the rejected 2 s (read from the daemon's own
    # schedule, not by waiting 2 s and seeing nothing).
    nxt = st["vault"].get("next_attempt_in_s")
    assert nxt is not None and nxt > 60, (
        f"next Vault poll in {nxt} s after the rejected reload (600 s kept?): {st['vault']}")

    # Valid: poll interval 2 s is applied.
    d.write_config(deep_merge(good, {"vault": {"poll_interval_s": 2}}))
    d.reload()
    nxt = d.status()["vault"].get("next_attempt_in_s")
    assert nxt is not None and nxt <= 2 * 1.1, (
        f"next Vault poll in {nxt} s after reloading poll_interval_s 2: {d.status()['vault']}")
    new = secrets.token_urlsafe(32)
    v = bao.kv_patch(seeded.kv_path, {"NPM_TOKEN": new})
    # Generous bound (a loaded machine), still far below the old 600 s.
    wait_for(lambda: d.secrets()["NPM_TOKEN"]["version"] == v, 30,
             what=lambda: f"change seen with the reloaded poll interval 2 s: {d.secrets()}")
    assert d.secrets()["NPM_TOKEN"]["fingerprint"] == d.fingerprint(new)
    assert d.status()["state"] == "ready"
    d.stop()


def test_listen_on_host_name(seeded, approle_daemon):
    """listen.address "localhost:PORT" (docs/configuration.md: HOST:PORT)
    is resolved at load and the daemon listens there: GET /healthz through
    the name answers, and the log names the address it resolved to."""
    port = free_port()
    d = approle_daemon({"listen": {"address": f"localhost:{port}"}})
    d.start()
    resolved = {a[4][0] for a in socket.getaddrinfo("localhost", port, type=socket.SOCK_STREAM)}

    def healthz():
        assert d.alive, f"aos-publishd died:\n{d.log_tail()}"
        c = http.client.HTTPConnection("localhost", port, timeout=5)
        try:
            c.request("GET", "/healthz")
            return c.getresponse().status == 200
        except OSError:
            return False
        finally:
            c.close()
    wait_for(healthz, 10, interval=0.1,
             what=lambda: f"GET /healthz on localhost:{port}:\n{d.log_tail()}")
    m = re.search(rf"listening for webhooks on localhost:{port} \((\S+) port {port}[,;]",
                  d.log_text())
    assert m, f"no log line naming the resolved address:\n{d.log_tail()}"
    assert m.group(1) in resolved, (m.group(1), resolved)
    d.stop()


def test_sighup_to_postgresql_backend_rejected(seeded, approle_daemon):
    """A reload naming queue.backend "postgresql" is rejected (the backend
    does not change while the daemon runs: the jobs would stay behind); it
    was accepted and the daemon stayed on SQLite without a word (found by
    review)."""
    d = approle_daemon({})
    d.start()
    bad = deep_merge(copy.deepcopy(d.config), PG_QUEUE)
    d.write_config(bad)
    mark = len(d.log_text())
    d.signal(signal.SIGHUP)
    wait_for(lambda: "reload rejected" in d.log_text()[mark:], 10,
             what=lambda: f"the reload's rejection:\n{d.log_tail()}")
    assert "queue.backend" in d.log_text()[mark:], d.log_tail()
    st = d.status()
    assert st["state"] == "ready", st

