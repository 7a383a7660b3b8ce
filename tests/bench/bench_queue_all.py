#!/usr/bin/env python3
"""Run the queue benchmarks one after the other, each with a time
limit, and print their reports (Markdown) on stdout:

  bench_queue_enqueue.py   durable enqueue through the control socket:
                           jobs/s, latency to the acknowledgement
  bench_queue_sched.py     enqueue to the first upload byte at a local sink
  bench_queue_rss.py       memory with 10,000 queued jobs, and while they run
  bench_queue_startup.py   start to READY=1 with 100,000 jobs in the database
  bench_queue_hosts.py     jobs/s, claim latency and takeover beside
                           procrastinate on PostgreSQL (issue 17)

Usage: .venv/bin/python tests/bench/bench_queue_all.py [--out DIR]
           [--only enqueue,sched,rss,startup,hosts] [--smoke]
  --out DIR   keep each benchmark's JSON results, report and log in DIR
  --smoke     each benchmark once on tiny inputs (make check)
Environment: AOS_BUILD_DIR (default ./build) picks the binaries.  Takes
about 8 minutes.  Nothing is asserted; exit status 1 if a benchmark failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402

# Each script also stops itself (--time-limit) a little before these.
LIMITS = {"enqueue": 420, "sched": 300, "rss": 600, "startup": 600, "hosts": 1200}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out")
    ap.add_argument("--only", default=",".join(LIMITS))
    ap.add_argument("--smoke", action="store_true",
                    help="each benchmark once on tiny inputs (make check)")
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n]
    for name in names:
        if name not in LIMITS:
            ap.error(f"unknown benchmark {name}")
    plan = [(n, [] if n == "startup" else ["--time-limit", str(LIMITS[n] - 30)],
             LIMITS[n]) for n in names]
    return B.run_suite("bench_queue_", plan, args.out, smoke=args.smoke)


if __name__ == "__main__":
    B.run(main)
