#!/usr/bin/env python3
"""A loopback HTTP "sink" for the publish benchmarks: it reads every request
body and throws it away, then answers like a registry that accepted it.

  GET  (npm packument)   404 {"error": "not found"}
  PUT  (npm publish)     201 {"ok": "created"}
  POST (PyPI upload)     200 OK
  GET /__stats           200, JSON: one entry per request received so far
                         (method, path, body bytes, seconds from the end of
                         the headers to the end of the body, CPU seconds the
                         sink spent on it), then the list is emptied

Standard library only; one thread per connection, HTTP/1.1 keep-alive,
Content-Length or chunked bodies, `Expect: 100-continue` answered at once
(curl waits up to 1 s for it otherwise).  Bodies are read with recv_into()
into one 4 MiB buffer per connection (the kernel's receive-buffer autotuning
left on), so the sink costs little CPU per byte and is not the bottleneck (bench_publish_wheel.py
checks it by pushing a file with sendfile(2) and reporting the rate).

Usage: bench_publish_sink.py [--port P]   (prints "PORT <n>" when listening)
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time

BUF = 4 << 20
_stats: list[dict] = []
_lock = threading.Lock()


class Conn:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = bytearray(BUF)
        self.view = memoryview(self.buf)
        self.pending = b""  # bytes read past the headers

    def read_headers(self) -> bytes | None:
        data = self.pending
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            data += chunk
            if len(data) > 1 << 20:
                raise ValueError("headers too long")
        head, _, rest = data.partition(b"\r\n\r\n")
        self.pending = rest
        return head

    def discard(self, n: int) -> int:
        """Read and drop exactly n body bytes."""
        left = n
        if self.pending:
            take = min(left, len(self.pending))
            self.pending = self.pending[take:]
            left -= take
        while left > 0:
            k = self.sock.recv_into(self.view, min(left, BUF))
            if k == 0:
                raise ConnectionError("peer closed inside the body")
            left -= k
        return n

    def readline(self) -> bytes:
        while b"\r\n" not in self.pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("peer closed inside a chunked body")
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\r\n")
        return line

    def discard_chunked(self) -> int:
        total = 0
        while True:
            size = int(self.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self.readline():  # trailers up to the empty line
                    pass
                return total
            total += self.discard(size)
            self.readline()


def answer(sock: socket.socket, status: str, body: bytes, ctype: str, close: bool) -> None:
    head = (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n").encode()
    sock.sendall(head + body)


def serve(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c = Conn(sock)
    try:
        while True:
            head = c.read_headers()
            if head is None:
                return
            t0, c0 = time.perf_counter(), time.thread_time()
            lines = head.decode("latin-1").split("\r\n")
            method, path, version = (lines[0].split(" ") + ["", "", ""])[:3]
            hdr = {}
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                hdr[k.strip().lower()] = v.strip()
            if hdr.get("expect", "").lower() == "100-continue":
                sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            if "chunked" in hdr.get("transfer-encoding", "").lower():
                n = c.discard_chunked()
            else:
                n = c.discard(int(hdr.get("content-length", "0") or 0))
            dt, dc = time.perf_counter() - t0, time.thread_time() - c0
            close = (hdr.get("connection", "").lower() == "close"
                     or version == "HTTP/1.0")
            if method == "GET" and path == "/__stats":
                with _lock:
                    body = json.dumps(_stats).encode()
                    _stats.clear()
                answer(sock, "200 OK", body, "application/json", close)
            else:
                with _lock:
                    _stats.append({"method": method, "path": path, "bytes": n,
                                   "body_s": dt, "cpu_s": dc})
                if method == "GET" or method == "HEAD":
                    answer(sock, "404 Not Found", b'{"error":"not found"}',
                           "application/json", close)
                elif method == "PUT":
                    answer(sock, "201 Created", b'{"ok":"created"}',
                           "application/json", close)
                else:
                    answer(sock, "200 OK", b"OK", "text/plain", close)
            if close:
                return
    except (ConnectionError, OSError, ValueError):
        return
    finally:
        sock.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", args.port))
    ls.listen(64)
    print(f"PORT {ls.getsockname()[1]}", flush=True)
    while True:
        s, _ = ls.accept()
        threading.Thread(target=serve, args=(s,), daemon=True).start()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
