#!/usr/bin/env python3
"""Run the three queue benchmarks one after the other, each with a time
limit, and print their reports (Markdown) on stdout:

  bench_queue_enqueue.py   durable enqueue through the control socket:
                           jobs/s, latency to the acknowledgement
  bench_queue_sched.py     enqueue to the first upload byte at a local sink
  bench_queue_rss.py       memory with 10,000 queued jobs, and while they run

Usage: .venv/bin/python tests/bench/bench_queue_all.py [--out DIR]
           [--only enqueue,sched,rss]
  --out DIR   keep each benchmark's JSON results, report and log in DIR
Environment: AOS_BUILD_DIR (default ./build) picks the binaries.  Takes
about 3 minutes.  Nothing is asserted; exit status 1 if a benchmark failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable
# Each script also stops itself (--time-limit) a little before these.
LIMITS = {"enqueue": 420, "sched": 300, "rss": 600}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out")
    ap.add_argument("--only", default="enqueue,sched,rss")
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="aos-queuebench-"))
    out.mkdir(parents=True, exist_ok=True)
    status = 0
    for name in [n for n in args.only.split(",") if n]:
        if name not in LIMITS:
            ap.error(f"unknown benchmark {name}")
        argv = [PY, str(HERE / f"bench_queue_{name}.py"), "--json", str(out / f"{name}.json"),
                "--time-limit", str(LIMITS[name] - 30)]
        print(f"\n## bench_queue_{name}.py\n", flush=True)
        with open(out / f"{name}.log", "wb") as log, open(out / f"{name}.md", "wb") as md:
            p = subprocess.Popen(argv, stdout=md, stderr=log, env=os.environ.copy())
            try:
                rc = p.wait(LIMITS[name])
            except subprocess.TimeoutExpired:
                p.terminate()  # SystemExit in the script: it stops what it started
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                print(f"bench_queue_{name}.py timed out after {LIMITS[name]} s",
                      file=sys.stderr)
                rc = -1
        sys.stdout.write((out / f"{name}.md").read_text(errors="replace"))
        sys.stdout.flush()
        if rc != 0:
            print(f"bench_queue_{name}.py failed (exit {rc}); log: {out / (name + '.log')}",
                  file=sys.stderr)
            status = 1
    print(f"\nJSON results and logs: {out}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
