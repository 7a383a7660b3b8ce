#!/usr/bin/env python3
"""Run the three publish benchmarks one after the other, each with a time
limit, and print their reports (Markdown) on stdout:

  bench_publish_wheel.py   50 MiB wheel: aos-publishd vs twine vs curl -F
  bench_publish_npm.py     50 MiB npm tarball: aos-publishd vs npm publish
                           vs curl PUT
  bench_publish_many.py    200 wheels of 20 KiB: aos-publishd vs twine

Usage: .venv/bin/python tests/bench/bench_publish_all.py [--out DIR]
           [--reps N] [--only wheel,npm,many] [--smoke]
  --out DIR   keep each benchmark's JSON results, report and log in DIR
  --reps N    repetitions for the wheel and npm benchmarks (default 5; the
              many-files benchmark keeps its default of 3)
  --smoke     each benchmark once on tiny inputs (make check)
Environment: AOS_BUILD_DIR (default ./build) picks the binaries.  Takes
about 4 minutes.  Nothing is asserted; exit status 1 if a benchmark failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402

LIMITS = {"wheel": 600, "npm": 900, "many": 900}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", default="wheel,npm,many")
    ap.add_argument("--smoke", action="store_true",
                    help="each benchmark once on tiny inputs (make check)")
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n]
    for name in names:
        if name not in LIMITS:
            ap.error(f"unknown benchmark {name}")
    plan = [(n, [] if n == "many" else ["--reps", str(args.reps)], LIMITS[n]) for n in names]
    return B.run_suite("bench_publish_", plan, args.out, smoke=args.smoke)


if __name__ == "__main__":
    B.run(main)
