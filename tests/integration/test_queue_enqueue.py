"""Concurrent enqueues: each request its own job, none refused.

Requests are spooled on libuv's thread pool, several at a time; two in the
same millisecond once shared a temporary folder and one was refused as
"invalid" (found by the queue benchmark)."""

from __future__ import annotations

import json
import os
import socket
import threading

from publish_support import make_wheel

CLIENTS = 16


def _enqueue(sock_path: str, registry: str, path: str, out: list, i: int) -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock_path)
    line = json.dumps({"cmd": "publish", "registry": registry,
                       "files": [os.path.basename(path)]}).encode() + b"\n"
    fd = os.open(path, os.O_RDONLY)
    try:
        socket.send_fds(s, [line], [fd])  # the file goes as a descriptor
    finally:
        os.close(fd)
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    out[i] = json.loads(data) if data else {"ok": False, "error": "no answer"}


def test_concurrent_enqueues_all_acknowledged(publish_env, tmp_path):
    env = publish_env
    d = env.daemon()
    r = d.ctl("drain")
    assert r.rc == 0, r
    for i in range(CLIENTS):
        (tmp_path / f"w{i}").mkdir()
    wheels = [make_wheel(tmp_path / f"w{i}", "aos-concurrent", f"1.0.{i}")
              for i in range(CLIENTS)]
    answers: list = [None] * CLIENTS
    start = threading.Barrier(CLIENTS)

    def client(i):
        start.wait()
        _enqueue(str(d.socket), "pypi", str(wheels[i]), answers, i)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    refused = [a for a in answers if not a or not a.get("ok")]
    assert not refused, f"{len(refused)} of {CLIENTS} concurrent enqueues refused: {refused[:3]}"
    ids = {a["job_id"] for a in answers}
    assert len(ids) == CLIENTS, f"expected {CLIENTS} distinct jobs, got {sorted(ids)}"
    r = d.ctl("jobs", "--state", "queued", "--limit", "100", json_out=True)
    assert r.rc == 0, r
    queued = {j["id"] for j in json.loads(r.out)["jobs"]}
    assert ids <= queued, f"acknowledged jobs missing from the queue: {ids - queued}"
    assert d.alive
