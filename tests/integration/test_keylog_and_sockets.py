"""What the daemon's TLS and sockets leave reachable to other processes.

- SSLKEYLOGFILE in the daemon's environment would make libcurl write the
  TLS session keys of every Vault and registry connection to that file;
  the daemon clears it before libcurl starts.
- Every socket the daemon holds (libcurl's connections to Vault and the
  registries kept alive between requests, libcurl's internal socket pair,
  the listener, the control socket) is close-on-exec, so no child can
  inherit one.  (Children also close every descriptor above 2 before exec;
  this is the layer below.)
"""

from __future__ import annotations

import os

import pytest

from aos_fixtures import approle_auth, secrets_match, seed_package_registry, wait_for
from peers.openbao import OpenBao
from peers.pypiserver import PypiServer
from publish_support import EXIT, PY_NAME, make_wheel, publish

O_CLOEXEC = 0o2000000


@pytest.fixture
def tls_bao(workdir):
    """OpenBao dev server with TLS (`-dev-tls`), seeded."""
    server = OpenBao(workdir=workdir / "bao", tls=True)
    server.workdir.mkdir()
    server.start()
    creds = seed_package_registry(server)
    yield server, creds
    server.close()


@pytest.fixture
def pypi(workdir):
    server = PypiServer(workdir=workdir / "pypi")
    server.start()
    yield server
    server.close()


def _tls_daemon(daemons, bao, creds, config=None):
    d = daemons(bao.addr, config=config)
    d.config["vault"]["ca_file"] = str(bao.ca_file)
    d.config["vault"]["auth"] = approle_auth(d, creds)
    return d


def test_sslkeylogfile_is_ignored(tls_bao, daemons, workdir):
    bao, creds = tls_bao
    keylog = workdir / "keys.log"
    d = _tls_daemon(daemons, bao, creds)
    d.start(env={"SSLKEYLOGFILE": str(keylog)})
    secrets_match(d, creds["values"])
    # One more TLS connection's worth of requests.
    bao.kv_patch(creds["kv_path"], {"NPM_TOKEN": "x" + creds["values"]["NPM_TOKEN"]})
    assert d.refresh().rc == 0
    assert not keylog.exists() or keylog.stat().st_size == 0, (
        f"TLS keys written to SSLKEYLOGFILE: {keylog.read_text()[:200]!r}")
    assert "SSLKEYLOGFILE" in d.log_text(), "the daemon does not say it ignored SSLKEYLOGFILE"
    d.stop()


def _socket_inodes_to(port: int) -> set[str]:
    """Inodes of the TCP sockets (any process) whose remote port is port."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for ln in lines:
            f = ln.split()
            if int(f[2].rsplit(":", 1)[1], 16) == port:
                out.add(f[9])
    return out


def _sockets(pid: int) -> dict[int, tuple[str, int]]:
    """{fd: (inode, flags)} of the process's sockets."""
    out = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{name}")
            info = open(f"/proc/{pid}/fdinfo/{name}").read()
        except OSError:
            continue  # closed meanwhile
        if not link.startswith("socket:["):
            continue
        flags = next(int(ln.split()[1], 8) for ln in info.splitlines()
                     if ln.startswith("flags:"))
        out[int(name)] = (link[8:-1], flags)
    return out


def test_every_socket_is_close_on_exec(tls_bao, pypi, daemons, workdir):
    bao, creds = tls_bao
    bao.kv_patch(creds["kv_path"], {"PYPI_API_TOKEN": pypi.token})
    d = _tls_daemon(daemons, bao, creds, config={"registries": {"pypi": {
        "type": "pypi", "url": pypi.upload_url, "index_url": pypi.index_url,
        "token_key": "PYPI_API_TOKEN", "username": "__token__"}}})
    d.start()
    (workdir / "dist").mkdir()
    wheel = make_wheel(workdir / "dist", PY_NAME, "0.0.1")
    publish(d, "pypi", wheel).expect(EXIT["published"], "published")
    assert d.refresh().rc == 0  # Vault once more, after the upload

    # The connection to Vault is kept alive by libcurl: it must be among the
    # sockets checked, or this test would prove nothing.
    vault_conns = wait_for(lambda: set(i for i, _ in _sockets(d.pid).values())
                           & _socket_inodes_to(bao.port), 5,
                           what="a kept-alive connection from the daemon to Vault")
    socks = _sockets(d.pid)
    assert len(socks) >= 3, socks
    leaky = {fd: oct(fl) for fd, (_, fl) in socks.items() if not fl & O_CLOEXEC}
    assert not leaky, (f"sockets without O_CLOEXEC (fd: flags): {leaky}; "
                       f"Vault connection inodes {vault_conns}")
    d.stop()
