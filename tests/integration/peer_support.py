"""Small HTTP(S) peers that play an attacker's host (or a relay) in the
integration tests: every request they get is recorded, and a handler
chosen by the test answers it.  Also a throw-away certificate for them.

Only the Python standard library and the openssl command are used.  These
peers never stand in for Vault, PyPI or npm where a real server can give
the answer: they are the hosts those must not talk to, a relay in front of
the real servers, or (test_registry_answers.py) a registry scripted to give
the answers of PyPI and npmjs that pypiserver, devpi and verdaccio never do.
"""

from __future__ import annotations

import http.client
import http.server
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from peers.proc import free_port


@dataclass
class Seen:
    """One request a peer received."""
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def text(self) -> str:
        """Everything that was sent, as text (to search for secrets)."""
        head = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return f"{self.method} {self.path}\n{head}\n\n{self.body.decode(errors='replace')}"


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    reason: str | None = None  # the status line's reason phrase (default: standard)


def make_cert(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for `host` (an IP address), valid one day,
    usable as its own CA.  Returns (cert, key) paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "peer-cert.pem", folder / "peer-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-subj", f"/CN={host}",
         "-addext", f"subjectAltName=IP:{host}",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30)
    return cert, key


class Peer:
    """A threaded HTTP/1.1 server on 127.0.0.1:<free port>.  handler(seen,
    peer) returns the Answer for each request; every request is appended
    to `requests` first.  With tls=(cert, key) it speaks https."""

    def __init__(self, handler, tls: tuple[Path, Path] | None = None):
        self.handler = handler
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        self.port = free_port()
        self.scheme = "https" if tls else "http"
        peer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                seen = Seen(self.command, self.path,
                            {k.lower(): v for k, v in self.headers.items()}, body)
                with peer.lock:
                    peer.requests.append(seen)
                a = peer.handler(seen, peer)
                self.send_response(a.status, a.reason)
                for k, v in a.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(a.body)))
                self.end_headers()
                self.wfile.write(a.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_LIST = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def seen(self) -> list[Seen]:
        with self.lock:
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def forward(seen: Seen, host: str, port: int, path: str, tls_context=None) -> Answer:
    """Sends the request `seen` on to host:port at `path` (a relay) and
    returns the answer."""
    if tls_context is not None:
        conn = http.client.HTTPSConnection(host, port, timeout=10, context=tls_context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        skip = {"host", "content-length", "connection", "accept-encoding"}
        headers = {k: v for k, v in seen.headers.items() if k not in skip}
        conn.request(seen.method, path, body=seen.body or None, headers=headers)
        r = conn.getresponse()
        body = r.read()
        keep = {k: v for k, v in r.getheaders()
                if k.lower() in ("content-type", "location", "retry-after")}
        return Answer(r.status, keep, body)
    finally:
        conn.close()
