#!/usr/bin/env python3
"""A loopback registry for the queue benchmarks that notes *when* each
request's bytes arrive: like bench_publish_sink.py it reads every body and
throws it away, then answers like a registry that accepted it
(POST 200 "OK", PUT 201, GET/HEAD 404), but for every request it prints one
JSON line on stdout, as soon as the answer has been sent:

  {"method", "path", "conn": connection number, "conn_req": requests on it
   so far (1 = the first: a new connection), "t_accept_ns": when the
   connection was accepted, "t_first_ns": when the first byte of the request
   (request line) was read, "t_headers_ns": when the end of the headers was
   read, "t_body_first_ns": when the first body byte was read, "t_body_end_ns",
   "bytes": body bytes, "expect": Expect header or null, "filename": the first
   filename="..." of a multipart body (null if none)}

Times are time.monotonic_ns() (CLOCK_MONOTONIC, the same clock for every
process on the machine), taken right after the recv() that returned those
bytes.  A recv() may return the request line, headers and body together;
then the three times are the same.

Standard library only; one thread per connection; HTTP/1.1 keep-alive,
Content-Length or chunked bodies, `Expect: 100-continue` answered at once.

With --hang-first PREFIX, the first POST of each file whose name starts
with PREFIX is read and printed like the others but never answered (the
connection is held until the client closes it): a job that uploaded and
then hangs, for the takeover benchmark; the next POST of that file is
answered.

Usage: bench_queue_sink.py [--port P] [--hang-first PREFIX]
       (prints "PORT <n>" when listening)
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
import threading
import time

_out_lock = threading.Lock()
_conn_no = 0
FILENAME = re.compile(rb'filename="([^"]{1,255})"')
KEEP = 1 << 20  # bytes of a body kept to look for the file name
_hang_prefix: str | None = None
_hung: set[str] = set()  # files whose first POST was held (under _out_lock)


def hold(method: str, filename: str | None) -> bool:
    """True for the first POST of a file named with the --hang-first prefix."""
    if method != "POST" or not _hang_prefix or not filename:
        return False
    if not filename.startswith(_hang_prefix):
        return False
    with _out_lock:
        if filename in _hung:
            return False
        _hung.add(filename)
        return True


def emit(rec: dict) -> None:
    line = json.dumps(rec, separators=(",", ":")) + "\n"
    with _out_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


class Conn:
    def __init__(self, sock: socket.socket, no: int, t_accept: int):
        self.sock, self.no, self.t_accept = sock, no, t_accept
        self.pending = b""
        self.pending_t = 0  # when self.pending's bytes were read

    def recv(self) -> tuple[bytes, int]:
        data = self.sock.recv(262144)
        return data, time.monotonic_ns()

    def read_headers(self):
        data = self.pending
        t_first = self.pending_t if data else 0
        while b"\r\n\r\n" not in data:
            chunk, t = self.recv()
            if not chunk:
                return None
            if not data:
                t_first = t
            data += chunk
            if len(data) > 1 << 20:
                raise ValueError("headers too long")
            self.pending_t = t
        head, _, rest = data.partition(b"\r\n\r\n")
        self.pending = rest
        return head, t_first, self.pending_t

    def body(self, n: int):
        """Reads n body bytes: (kept bytes, time of the first, time of the
        last)."""
        kept = bytearray()
        t_first = t_last = 0
        if self.pending:
            take = self.pending[:n]
            self.pending = self.pending[n:]
            kept += take
            t_first = t_last = self.pending_t
            n -= len(take)
        while n > 0:
            chunk, t = self.recv()
            if not chunk:
                raise ConnectionError("peer closed inside the body")
            if not t_first:
                t_first = t
            t_last = t
            use, self.pending = chunk[:n], chunk[n:]
            self.pending_t = t
            if len(kept) < KEEP:
                kept += use
            n -= len(use)
        return bytes(kept), t_first, t_last

    def readline(self) -> bytes:
        while b"\r\n" not in self.pending:
            chunk, t = self.recv()
            if not chunk:
                raise ConnectionError("peer closed inside a chunked body")
            self.pending += chunk
            self.pending_t = t
        line, _, self.pending = self.pending.partition(b"\r\n")
        return line

    def chunked(self):
        kept = bytearray()
        t_first = t_last = 0
        total = 0
        while True:
            size = int(self.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self.readline():
                    pass
                return bytes(kept), t_first, t_last, total
            part, tf, tl = self.body(size)
            t_first = t_first or tf
            t_last = tl
            total += size
            if len(kept) < KEEP:
                kept += part
            self.readline()


def answer(sock, status: str, body: bytes, ctype: str, close: bool) -> None:
    head = (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n").encode()
    sock.sendall(head + body)


def serve(sock: socket.socket, no: int, t_accept: int) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c = Conn(sock, no, t_accept)
    nreq = 0
    try:
        while True:
            got = c.read_headers()
            if got is None:
                return
            head, t_first, t_headers = got
            nreq += 1
            lines = head.decode("latin-1").split("\r\n")
            method, path, version = (lines[0].split(" ") + ["", "", ""])[:3]
            hdr = {}
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                hdr[k.strip().lower()] = v.strip()
            if hdr.get("expect", "").lower() == "100-continue":
                sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            if "chunked" in hdr.get("transfer-encoding", "").lower():
                kept, tbf, tbe, n = c.chunked()
            else:
                n = int(hdr.get("content-length", "0") or 0)
                kept, tbf, tbe = c.body(n)
            m = FILENAME.search(kept)
            filename = m.group(1).decode(errors="replace") if m else None
            close = (hdr.get("connection", "").lower() == "close"
                     or version == "HTTP/1.0")
            held = hold(method, filename)
            if held:
                pass
            elif method in ("GET", "HEAD"):
                answer(sock, "404 Not Found", b'{"error":"not found"}',
                       "application/json", close)
            elif method == "PUT":
                answer(sock, "201 Created", b'{"ok":"created"}', "application/json", close)
            else:
                answer(sock, "200 OK", b"OK", "text/plain", close)
            emit({"method": method, "path": path, "conn": no, "conn_req": nreq,
                  "t_accept_ns": t_accept, "t_first_ns": t_first,
                  "t_headers_ns": t_headers, "t_body_first_ns": tbf or t_headers,
                  "t_body_end_ns": tbe or t_headers, "bytes": n,
                  "expect": hdr.get("expect"),
                  "filename": filename, "held": held})
            if held:
                while c.sock.recv(65536):
                    pass
                return
            if close:
                return
    except (ConnectionError, OSError, ValueError):
        return
    finally:
        sock.close()


def main() -> int:
    global _conn_no, _hang_prefix
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--hang-first")
    args = ap.parse_args()
    _hang_prefix = args.hang_first
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", args.port))
    ls.listen(64)
    print(f"PORT {ls.getsockname()[1]}", flush=True)
    while True:
        s, _ = ls.accept()
        t = time.monotonic_ns()
        _conn_no += 1
        threading.Thread(target=serve, args=(s, _conn_no, t), daemon=True).start()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (KeyboardInterrupt, BrokenPipeError):
        sys.exit(0)
