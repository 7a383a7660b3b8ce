"""TLS on the webhook listener (listen.tls), against real clients: curl,
`openssl s_client` and Python's ssl module, with a CA, certificates and
keys made by the test with the openssl command.

- HTTPS works end to end: /healthz with `curl --cacert`, and a signed GitHub
  delivery over a kept-alive TLS connection is accepted (202) and queued.
- Only TLS 1.2 and 1.3; ALPN selects http/1.1 and a client offering only h2
  is refused; plain HTTP on the TLS port gets no HTTP answer.
- A handshake that never comes, or stops half way, is closed by the header
  timeout.
- SIGHUP loads a new certificate for new connections while a connection
  opened before goes on; a bad new certificate is refused and the one in
  use kept.
- `--check-config` and the start refuse a key that does not match its
  certificate, an expired certificate, a missing file (exit 78), naming the
  file and what to do.
"""

from __future__ import annotations

import json
import signal
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from aos_fixtures import PUBLISHD, wait_for
from webhook_support import (Conn, expect_accepted, github_push, python_pipeline)

TAG, VERSION = "python-sdk-v0.5.0", "0.5.0"
OPENSSL = "openssl"


def _run(*args, cwd: Path) -> None:
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


class Pki:
    """A CA and server certificates for 127.0.0.1, made with the openssl
    command in folder."""

    def __init__(self, folder: Path):
        self.dir = folder
        folder.mkdir(parents=True, exist_ok=True)
        _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=aos test CA", cwd=folder)
        (folder / "index.txt").write_text("")
        (folder / "serial").write_text("1000\n")
        (folder / "ca.cnf").write_text(
            "[ca]\ndefault_ca = d\n[d]\ndir = .\ndatabase = index.txt\n"
            "new_certs_dir = .\nserial = serial\ndefault_md = sha256\n"
            "policy = p\ncopy_extensions = copy\nunique_subject = no\n"
            "[p]\ncommonName = supplied\n")
        self.ca = folder / "ca.pem"

    def server(self, name: str, start: str | None = None, end: str | None = None,
               days: int = 2) -> tuple[Path, Path]:
        """A key and a certificate for 127.0.0.1 signed by the CA; start/end
        as YYYYMMDDHHMMSSZ to make one outside its validity."""
        key, csr, crt = f"{name}.key", f"{name}.csr", f"{name}.pem"
        _run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", f"/CN={name}",
             "-addext", "subjectAltName=IP:127.0.0.1", cwd=self.dir)
        dates = ["-startdate", start, "-enddate", end] if start else ["-days", str(days)]
        _run("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
             "-in", csr, "-out", crt, "-notext", *dates, cwd=self.dir)
        return self.dir / crt, self.dir / key


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def commit(webhook_env):
    sha = webhook_env.repo.commit_release(VERSION)
    webhook_env.repo.tag(TAG, sha)
    return sha


def client_ctx(pki: Pki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def tls_conn(port: int, pki: Pki, timeout: float = 15.0) -> Conn:
    c = Conn(port, timeout)
    c.sock = client_ctx(pki).wrap_socket(c.sock, server_hostname="127.0.0.1")
    return c


def wait_https(d, pki: Pki) -> None:
    def up():
        assert d.alive, f"aos-publishd died:\n{d.log_tail()}"
        try:
            with tls_conn(d.http_port, pki, 2) as c:
                return c.request("GET", "/healthz").status == 200
        except (OSError, AssertionError, TimeoutError):
            return False
    wait_for(up, 15, interval=0.1, what=lambda: f"GET /healthz over TLS:\n{d.log_tail()}")


@pytest.fixture(scope="module")
def daemon(webhook_env, pki, commit):
    crt, key = pki.server("server")
    pipes = {"python-sdk": python_pipeline(webhook_env.repo, targets=["pypi"],
                                           build=["exit 1"])}
    d = webhook_env.hook_daemon(pipes, start=False, listen={
        "header_timeout_ms": 1500,
        "tls": {"cert_file": str(crt), "key_file": str(key)}})
    d.start()
    wait_https(d, pki)
    return d


def s_client(port: int, pki: Pki, *opts: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(pki.ca),
         "-verify_return_error", *opts],
        input=b"", capture_output=True, timeout=30)


def test_https_healthz_with_curl_and_a_signed_delivery(daemon, pki, commit):
    r = subprocess.run(["curl", "-sS", "--cacert", str(pki.ca), "-o", "-", "-w",
                        "\n%{http_code} %{http_version}",
                        f"https://127.0.0.1:{daemon.http_port}/healthz"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r
    assert r.stdout.rstrip().endswith("200 1.1"), r.stdout
    # A delivery over a kept-alive TLS connection, then a second request on it.
    with tls_conn(daemon.http_port, pki) as c:
        assert c.sock.selected_alpn_protocol() == "http/1.1"
        assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
        job = expect_accepted(daemon.hooks.send("github", github_push(TAG, commit), conn=c),
                              "python-sdk", TAG, VERSION, commit)
        assert c.request("GET", "/healthz").status == 200
    assert job >= 1
    assert daemon.status()["webhooks"]["tls"] is True


def test_versions_ciphers_and_alpn(daemon, pki):
    port = daemon.http_port
    for v in ("-tls1_2", "-tls1_3"):
        r = s_client(port, pki, v, "-alpn", "http/1.1")
        out = (r.stdout + r.stderr).decode(errors="replace")
        assert r.returncode == 0, f"{v}: {out}"
        assert "ALPN protocol: http/1.1" in out, out
        assert "Verify return code: 0 (ok)" in out, out
        assert "Cipher is ECDHE-" in out or "Cipher is TLS_" in out, out
    r = s_client(port, pki, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA")  # CBC: refused
    assert r.returncode != 0, r.stderr
    r = s_client(port, pki, "-tls1_1")
    assert r.returncode != 0, r.stderr
    r = s_client(port, pki, "-alpn", "h2")
    assert r.returncode != 0 and b"no application protocol" in r.stderr.lower(), r.stderr
    # Without ALPN at all (older senders): served.
    assert s_client(port, pki, "-tls1_3").returncode == 0
    # Plain HTTP to the TLS port: no HTTP answer, the connection ends.
    with Conn(port, 10) as c:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        c.sock.settimeout(10)
        got = b""
        try:
            while chunk := c.sock.recv(4096):
                got += chunk
        except ConnectionResetError:
            pass
        assert not got.startswith(b"HTTP/"), got[:80]


def _closed_by_server(sock: socket.socket, bound: float) -> bool:
    sock.settimeout(bound)
    try:
        while sock.recv(4096):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_handshake_timeout(daemon):
    """listen.header_timeout_ms (1.5 s here) bounds the handshake: silence,
    or a ClientHello cut after its record header, is closed."""
    with Conn(daemon.http_port, 10) as c:
        assert _closed_by_server(c.sock, 20), "a silent connection stayed open"
    with Conn(daemon.http_port, 10) as c:
        c.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        assert _closed_by_server(c.sock, 20), "a half ClientHello stayed open"
    assert daemon.alive


def _serial(c: Conn) -> str:
    der = c.sock.getpeercert(binary_form=True)
    return ssl.DER_cert_to_PEM_cert(der)


def test_reload_new_certificate_keeps_open_connections(daemon, pki):
    cfg_tls = daemon.config["listen"]["tls"]
    old = tls_conn(daemon.http_port, pki)
    try:
        assert old.request("GET", "/healthz").status == 200
        old_pem = _serial(old)
        crt, key = pki.server("server2")
        Path(cfg_tls["cert_file"]).write_bytes(crt.read_bytes())
        Path(cfg_tls["key_file"]).write_bytes(key.read_bytes())
        at = len(daemon.log_text())
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: "TLS on the webhook listener reloaded" in daemon.log_text()[at:],
                 15, what=lambda: daemon.log_tail())
        with tls_conn(daemon.http_port, pki) as new:
            assert new.request("GET", "/healthz").status == 200
            assert _serial(new) != old_pem, "a new connection got the old certificate"
        assert old.request("GET", "/healthz").status == 200, "the open connection broke"
        assert _serial(old) == old_pem
        # A key that does not match: refused, the certificate in use kept.
        other_crt, _ = pki.server("server3")
        Path(cfg_tls["cert_file"]).write_bytes(other_crt.read_bytes())
        at = len(daemon.log_text())
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: "the certificate in use is kept" in daemon.log_text()[at:], 15,
                 what=lambda: daemon.log_tail())
        assert "does not match the certificate" in daemon.log_text()[at:]
        with tls_conn(daemon.http_port, pki) as new:
            assert new.request("GET", "/healthz").status == 200
    finally:
        old.close()


@pytest.mark.parametrize("case", ["mismatch", "expired", "missing"])
def test_check_config_refuses_bad_tls_files(webhook_env, daemon, pki, case):
    crt, key = pki.server(f"cc-{case}")
    want = {"mismatch": "does not match the certificate",
            "expired": "expired on 2021-01-01",
            "missing": "cannot load the certificate chain"}[case]
    if case == "mismatch":
        _, key = pki.server(f"cc-{case}-other")
    elif case == "expired":
        crt, key = pki.server(f"cc-{case}-old", start="20200101000000Z",
                              end="20210101000000Z")
    elif case == "missing":
        crt = pki.dir / "nope.pem"
    cfg = dict(daemon.config)
    cfg["listen"] = dict(cfg["listen"], tls={"cert_file": str(crt), "key_file": str(key)})
    own = daemon.dir / f"check-{case}"  # its own folders: the module's daemon runs
    for sub in ("state", "run"):
        (own / sub).mkdir(parents=True, mode=0o700)
    cfg.update(state_dir=str(own / "state"), runtime_dir=str(own / "run"),
               control_socket=str(own / "run" / "control.sock"))
    path = daemon.dir / f"check-{case}.json"
    path.write_text(json.dumps(cfg))
    r = subprocess.run([str(PUBLISHD), "--check-config", str(path)], capture_output=True,
                       text=True, timeout=30, env=daemon.env())
    assert r.returncode == 78, r
    assert "listen.tls" in r.stderr and want in r.stderr, r.stderr
    # The daemon refuses to start with it too (EX_CONFIG, no restart loop).
    r = subprocess.run([str(PUBLISHD), "-c", str(path)], capture_output=True, text=True,
                       timeout=60, env=daemon.env())
    assert r.returncode == 78, r
    assert want in r.stderr, r.stderr[-2000:]
