#!/usr/bin/env python3
"""Answers while commits are slow (issue 14): what the webhook listener and
the control socket answer while every fsync of the queue database takes
--fsync-ms (default 150).

tests/tools/slowsync-shim.so is preloaded into aos-publishd with
AOS_SLOW_FSYNC_MS: each fsync()/fdatasync() of a file under the run's
folder (the queue database and its WAL) sleeps that long first.  The
daemon (drained: the jobs stay queued) then gets, for --duration seconds:

  * load: correctly signed GitHub `push` deliveries, each of a new tag, one
    at a time from --senders threads (each sends its next once the answer
    came); every one needs a commit, so commits run back to back, each
    waiting --fsync-ms for its sync;
  * probes, one at a time on new connections, every --probe-ms:
    GET /healthz, a delivery signed with a wrong key (401), and
    `status` on the control socket, in turn.  None of them needs a commit.

The answer times of each kind (ms; p50, p99, max) and the number of 202s
are reported.  The same script measures any build (AOS_BUILD_DIR): run it
on the build before a change and after it, on the same machine, to compare.
Nothing is asserted.

Usage: .venv/bin/python tests/bench/bench_slow_fsync.py [--fsync-ms 150]
           [--duration 20] [--senders 4] [--probe-ms 20] [--json FILE]
           [--keep] [--time-limit 600] [--smoke]
Environment: AOS_BUILD_DIR (default ./build).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_webhook_lib as W  # noqa: E402

Q, L, B = W.Q, W.L, W.B
PROBE_BASE = 10_000_000  # probe deliveries are numbered apart from the load's


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fsync-ms", type=int, default=150,
                    help="each queue fsync sleeps this long first (default 150)")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    ap.add_argument("--senders", type=int, default=4,
                    help="threads sending signed deliveries, one at a time each")
    ap.add_argument("--probe-ms", type=float, default=20.0,
                    help="pause between two probes (default 20)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the run's folder")
    ap.add_argument("--time-limit", type=float, default=600)
    return B.parse_args(ap, smoke={"duration": 2.0, "senders": 2, "fsync_ms": 50})


def shim() -> Path:
    p = B.BUILD_DIR / "tests" / "tools" / "slowsync-shim.so"
    if not p.exists():
        raise B.BenchError(f"{p} missing: build the tests/tools targets (make build)")
    return p


class Run:
    """The load and the probes against one daemon, until `until`."""

    def __init__(self, port: int, socket_path: Path, key: bytes, until: float):
        self.port, self.socket, self.key, self.until = port, socket_path, key, until
        self.salt = secrets.token_hex(4)
        self.next = 0
        self.mu = threading.Lock()
        self.times = {"ack": [], "healthz": [], "refusal": [], "status": []}
        self.statuses = {"ack": {}, "healthz": {}, "refusal": {}}

    def _note(self, kind: str, ms: float, status) -> None:
        with self.mu:
            self.times[kind].append(ms)
            if kind in self.statuses:
                self.statuses[kind][status] = self.statuses[kind].get(status, 0) + 1

    def _number(self) -> int:
        with self.mu:
            self.next += 1
            return self.next

    def sender(self) -> None:
        while time.monotonic() < self.until:
            body, headers = W.probe_delivery(self._number(), self.salt, self.key)
            r = W.post(self.port, W.PATH, body, headers, timeout=30)
            self._note("ack", r.get("ms", 30000.0), r["status"])

    def _get(self) -> None:
        t0 = time.monotonic_ns()
        ok = W.http_ok(f"{W.base_url(self.port)}/healthz", 30)
        self._note("healthz", Q.ms(time.monotonic_ns() - t0), 200 if ok else None)

    def _refusal(self, i: int) -> None:
        body, headers = W.probe_delivery(PROBE_BASE + i, self.salt, b"not-the-key")
        r = W.post(self.port, W.PATH, body, headers, timeout=30)
        self._note("refusal", r.get("ms", 30000.0), r["status"])

    def _status(self) -> None:
        c = Q.Ctl(self.socket)
        try:
            t0 = time.monotonic_ns()
            c.call({"cmd": "status"})
            self._note("status", Q.ms(time.monotonic_ns() - t0), None)
        finally:
            c.close()

    def prober(self, pause_s: float) -> None:
        i = 0
        while time.monotonic() < self.until:
            (self._get, lambda: self._refusal(i), self._status)[i % 3]()
            i += 1
            time.sleep(pause_s)


def one_run(w, args) -> dict:
    key = secrets.token_hex(32)
    w.env.set_secret(**{W.SECRET_KEY: key})
    env = {"LD_PRELOAD": str(shim()), "AOS_SLOWSYNC_PATH": str(w.dir),
           "AOS_SLOW_FSYNC_MS": str(args.fsync_ms)}
    d, port = W.start_ours(w, env=env)
    run = Run(port, d.socket, key.encode(), time.monotonic() + args.duration)
    threads = [threading.Thread(target=run.sender, daemon=True) for _ in range(args.senders)]
    threads.append(threading.Thread(target=run.prober, args=(args.probe_ms / 1000,),
                                    daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.duration + 120)
    depth = W.queue_depth(d)
    Q.stop_daemon(w, d)
    return {"times": {k: Q.summary(v) for k, v in run.times.items()},
            "statuses": {k: {str(s): n for s, n in v.items()} for k, v in run.statuses.items()},
            "queued": depth}


def report(res: dict) -> str:
    r = res["run"]
    lines = [f"### Answers while each queue fsync takes {res['fsync_ms']} ms",
             "", f"{res['info']['build']}, {res['duration']:.0f} s,"
             f" {res['senders']} senders; load {res['load_before']} before",
             "", "| answer | n | p50 ms | p99 ms | max ms | statuses |",
             "|---|---:|---:|---:|---:|---|"]
    for kind in ("ack", "healthz", "refusal", "status"):
        s = r["times"][kind]
        st = ", ".join(f"{k}: {v}" for k, v in r["statuses"].get(kind, {}).items())
        lines.append(f"| {kind} | {s.get('n', 0)} | {Q.fmt(s.get('p50'))} | "
                     f"{Q.fmt(s.get('p99'))} | {Q.fmt(s.get('max'))} | {st} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    args = parse_args()
    Q.time_limit(args.time_limit)
    res = {"fsync_ms": args.fsync_ms, "duration": args.duration, "senders": args.senders,
           "load_before": " ".join(open("/proc/loadavg").read().split()[:3])}
    with L.World(keep=args.keep, need_pypi=False, need_npm=False) as w:
        res["info"] = Q.header("bench_slow_fsync: answers while commits are slow", w.dir)
        res["run"] = one_run(w, args)
    print(report(res))
    B.write_result(args.json, res)
    return 0


if __name__ == "__main__":
    B.run(main)
