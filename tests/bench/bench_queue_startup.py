#!/usr/bin/env python3
"""Start to READY=1 with a large queue database, after a clean stop and
after a crash, beside the full integrity check that every start ran before
(issue 14: "READY in constant time").

The script starts aos-publishd once to create its queue database, then
fills it with --jobs finished jobs (one upload and five log lines each, as
a year of releases would leave them) through SQLite directly.  Then, --runs
times each and interleaved:

  clean    start -> READY=1 after a clean stop (SIGTERM): no check at all
  crash    start -> READY=1 after SIGKILL: PRAGMA quick_check
  full     `aos-publishd --check-queue`: PRAGMA integrity_check over the whole
           file, which every start ran before this change (the comparison)
  empty    start -> READY=1 on an empty database (the floor)

and the status counts both ways: `SELECT state, count(*) ... GROUP BY
state` (before) and the kept counters `SELECT state, n FROM job_counts`.
Every start includes the AppRole login and the KV reads against the local
OpenBao, as in bench_startup.py.

Usage: .venv/bin/python tests/bench/bench_queue_startup.py [--jobs 100000]
           [--runs 10] [--json FILE] [--keep] [--smoke]
Target: READY=1 <= 35 ms at 100,000 jobs.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402

INPUTS = '{"files": ["aos_sdk-1.0.0-py3-none-any.whl"], "tag": "v1.0.0", ' + \
    '"version": "1.0.0", "requested_by": "uid 1000", "pad": "' + "x" * 200 + '"}'


def fill(db: Path, jobs: int) -> None:
    """jobs succeeded jobs with their upload and log lines, in one
    transaction (the triggers keep the counters as the daemon's writes do)."""
    con = sqlite3.connect(db)
    con.execute("BEGIN")
    # Ended now, not in 1970: queue.retention_days would prune them at start.
    now = int(time.time() * 1000)
    for i in range(1, jobs + 1):
        cur = con.execute(
            "INSERT INTO jobs (kind, state, idem_key, registry, package, inputs, "
            "attempts, max_attempts, next_run_ms, created_ms, updated_ms) VALUES "
            "(1, 3, ?, 'pypi', ?, ?, 1, 8, ?, ?, ?)",
            (f"bench-{i:08d}", f"pkg{i % 50}", INPUTS, now + i, now + i, now + i))
        jid = cur.lastrowid
        con.execute("INSERT INTO uploads (job_id, filename, registry, sha256, state, "
                    "answer, updated_ms) VALUES (?, ?, 'pypi', ?, 3, '200 OK', ?)",
                    (jid, f"aos_sdk-{i}.0.0-py3-none-any.whl", "ab" * 32, now + i))
        for t in ("queued", "queued -> running", "upload started",
                  "upload done: 200 OK", "running -> succeeded"):
            con.execute("INSERT INTO job_log (job_id, at_ms, text) VALUES (?, ?, ?)",
                        (jid, now + i, t))
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def time_counts(db: Path, runs: int) -> dict:
    con = sqlite3.connect(db)
    out = {}
    for name, sql in (("scan", "SELECT state, count(*) FROM jobs GROUP BY state"),
                      ("kept", "SELECT state, n FROM job_counts")):
        t = []
        for _ in range(runs):
            t0 = B.now()
            con.execute(sql).fetchall()
            t.append(B.now() - t0)
        out[name] = B.summary_ms(t)
    a = dict(con.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
    b = {s: n for s, n in con.execute("SELECT state, n FROM job_counts") if n}
    con.close()
    if a != b:
        raise B.BenchError(f"kept counters {b} differ from the jobs {a}")
    return out


def start_ready(w, cfg: Path, notify) -> tuple[float, object]:
    notify.drain()
    t0 = B.now()
    p = w.start_daemon(cfg, notify.path)
    return notify.wait_ready(p, 60) - t0, p


def crash(w, p) -> None:
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    w.procs.remove(p)


def check_queue(cfg: Path) -> float:
    t0 = B.now()
    r = subprocess.run([str(B.PUBLISHD), "--check-queue", "-c", str(cfg)],
                         capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise B.BenchError(f"--check-queue failed: {r.stderr.strip()}")
    return B.now() - t0


def fmt(s: dict) -> str:
    return f"p50 {s['p50']:8.1f}  p99 {s['p99']:8.1f}  max {s['max']:8.1f}  (n={s['n']})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = B.parse_args(ap, smoke={"jobs": 200, "runs": 1})

    t = {"clean": [], "crash": [], "full": [], "empty": []}
    with B.World(keep=args.keep) as w:
        notify = B.NotifySocket(w.dir / "notify.sock")
        empty_cfg = w.daemon_config("empty")
        cfg = w.daemon_config("big")
        db = cfg.parent / "state" / "queue.db"
        _, p = start_ready(w, cfg, notify)
        w.stop(p)
        t0 = B.now()
        fill(db, args.jobs)
        fill_s = B.now() - t0
        size_mib = db.stat().st_size / 1048576
        _, p = start_ready(w, empty_cfg, notify)  # warm caches, create it
        w.stop(p)
        for _ in range(args.runs):
            s, p = start_ready(w, cfg, notify)   # after a clean stop
            t["clean"].append(s)
            crash(w, p)
            s, p = start_ready(w, cfg, notify)   # after the crash
            t["crash"].append(s)
            w.stop(p)
            t["full"].append(check_queue(cfg))
            s, p = start_ready(w, empty_cfg, notify)
            t["empty"].append(s)
            w.stop(p)
        counts = time_counts(db, max(args.runs, 5))
        notify.close()

    res = {k: B.summary_ms(v) for k, v in t.items()}
    result = {"benchmark": "queue_startup", "jobs": args.jobs, "runs": args.runs,
              "db_mib": size_mib, "fill_s": fill_s, "ready_ms": res,
              "status_counts_ms": counts, "target_ms": 35,
              "machine": B.machine_info(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    print(f"## Start to READY=1 with {args.jobs} jobs in the queue "
          f"(queue.db {size_mib:.1f} MiB), {args.runs} runs each, interleaved (ms)\n")
    print("```")
    print(f"after a clean stop (no check)          {fmt(res['clean'])}")
    print(f"after SIGKILL (quick_check)            {fmt(res['crash'])}")
    print(f"full integrity_check (--check-queue;   {fmt(res['full'])}")
    print("  what every start ran before)")
    print(f"empty database                         {fmt(res['empty'])}")
    print(f"status counts, count(*) GROUP BY state {fmt(counts['scan'])}")
    print(f"status counts, kept counters           {fmt(counts['kept'])}")
    print("```")
    met = res["clean"]["p99"] <= 35
    print(f"\ntarget READY=1 <= 35 ms after a clean stop: p99 {'met' if met else 'NOT met'}")
    B.write_result(args.json, result)
    return 0


if __name__ == "__main__":
    B.run(main)
