#!/usr/bin/env python3
"""Run the three publish benchmarks one after the other, each with a time
limit, and print their reports (Markdown) on stdout:

  bench_publish_wheel.py   50 MiB wheel: aos-publishd vs twine vs curl -F
  bench_publish_npm.py     50 MiB npm tarball: aos-publishd vs npm publish
                           vs curl PUT
  bench_publish_many.py    200 wheels of 20 KiB: aos-publishd vs twine

Usage: .venv/bin/python tests/bench/bench_publish_all.py [--out DIR]
           [--reps N] [--only wheel,npm,many]
  --out DIR   keep each benchmark's JSON results, report and log in DIR
  --reps N    repetitions for the wheel and npm benchmarks (default 5; the
              many-files benchmark keeps its default of 3)
Environment: AOS_BUILD_DIR (default ./build) picks the binaries.  Takes
about 4 minutes.  Nothing is asserted; exit status 1 if a benchmark failed.
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
LIMITS = {"wheel": 600, "npm": 900, "many": 900}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", default="wheel,npm,many")
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="aos-pubbench-"))
    out.mkdir(parents=True, exist_ok=True)
    status = 0
    for name in [n for n in args.only.split(",") if n]:
        if name not in LIMITS:
            ap.error(f"unknown benchmark {name}")
        argv = [PY, str(HERE / f"bench_publish_{name}.py"), "--json", str(out / f"{name}.json")]
        if name != "many":
            argv += ["--reps", str(args.reps)]
        print(f"\n## bench_publish_{name}.py\n", flush=True)
        with open(out / f"{name}.log", "wb") as log, \
                open(out / f"{name}.md", "wb") as md:
            p = subprocess.Popen(argv, stdout=md, stderr=log, env=os.environ.copy())
            try:
                rc = p.wait(LIMITS[name])
            except subprocess.TimeoutExpired:
                # SIGTERM first: the scripts turn it into SystemExit and stop
                # every server they started.
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                print(f"bench_publish_{name}.py timed out after {LIMITS[name]} s",
                      file=sys.stderr)
                rc = -1
        sys.stdout.write((out / f"{name}.md").read_text(errors="replace"))
        sys.stdout.flush()
        if rc != 0:
            print(f"bench_publish_{name}.py failed (exit {rc}); log: "
                  f"{out / (name + '.log')}", file=sys.stderr)
            status = 1
    print(f"\nJSON results and logs: {out}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
