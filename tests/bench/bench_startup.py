#!/usr/bin/env python3
"""Benchmark 2: start to READY=1 of aos-publishd against a local OpenBao,
beside `bao agent` start to its first template render, in the same run.

aos-publishd is started --runs times (default 100) with NOTIFY_SOCKET set to
an AF_UNIX datagram socket bound here; each run is timed from just before
the process is spawned (fork + exec included) to the receipt of the datagram
carrying READY=1 (after AppRole login, token lookup and the KV v2 reads),
then stopped with SIGTERM.  bao agent is started as many times, interleaved
with the daemon runs, and timed from just before spawning to the moment its
rendered file exists with all three keys (polled every 1 ms).  Each start is
a fresh AppRole login for both.

The daemon is started as the shipped unit starts it (LD_BIND_NOW=1 in its
environment).  --no-bind-now adds, interleaved in every round, a start
without it (the daemon then executes itself once more to set it: the start
by hand).  --compare OLD_BUILD adds the same start(s) of another build's
aos-publishd (e.g. a build of an older commit), interleaved too, so that
old and new are measured in the same minutes on the same machine.

Usage: .venv/bin/python tests/bench/bench_startup.py [--runs N] [--json FILE]
           [--no-bind-now] [--compare OLD_BUILD]
Target (issue 2): aos-publishd start to READY=1 <= 50 ms.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402


def fmt(s: dict) -> str:
    return (f"p50 {s['p50']:7.1f}  p99 {s['p99']:7.1f}  max {s['max']:7.1f}  "
            f"min {s['min']:7.1f}  (n={s['n']})")


LABELS = {
    "unit": "start -> READY=1 (as the unit)",
    "hand": "start -> READY=1 (by hand)",
    "old-unit": "OLD build, as the unit",
    "old-hand": "OLD build, by hand",
}


def variant_list(args) -> list[tuple[str, Path | None, bool]]:
    """(name, binary or None for this build, LD_BIND_NOW set) per start of
    a round."""
    out = [("unit", None, True)]
    if args.no_bind_now:
        out.append(("hand", None, False))
    if args.compare:
        old = Path(args.compare).resolve() / "agent" / "aos-publishd"
        if not os.access(old, os.X_OK):
            raise B.BenchError(f"--compare: {old} is not an executable; "
                               f"build that tree first (make build)")
        out.append(("old-unit", old, True))
        if args.no_bind_now:
            out.append(("old-hand", old, False))
    return out


def start_once(w, cfg, notify, sock, binary, bind_now, rcs) -> float:
    """Start one daemon, return seconds from spawn to READY=1, stop it."""
    notify.drain()
    t0 = B.now()
    p = w.start_daemon(cfg, notify.path, binary=binary, bind_now=bind_now)
    t1 = notify.wait_ready(p, 15)
    if not all(s.get("present") for s in
               B.secrets_by_key(B.ctl_secrets(sock)).values()):
        raise B.BenchError("READY=1 without every key loaded")
    rcs.append(w.stop(p))
    return t1 - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--no-bind-now", action="store_true",
                    help="also time starts without LD_BIND_NOW (by hand)")
    ap.add_argument("--compare", metavar="OLD_BUILD",
                    help="also time this build folder's aos-publishd")
    args = B.parse_args(ap, smoke={"runs": 1})

    variants = variant_list(args)
    times = {name: [] for name, _, _ in variants}
    a_times, d_rcs = [], []
    with B.World(keep=args.keep) as w:
        notify = B.NotifySocket(w.dir / "notify.sock")
        cfg = w.daemon_config()
        sock = cfg.parent / "run" / "control.sock"
        acfg, dest = w.agent_config()
        expected = {k: w.values[k] for k in B.DEFAULT_KEYS}

        # One untimed start of each first: page cache warm for both binaries
        # and their libraries, as on a machine where they ran before.
        for timed in [False] + [True] * args.runs:
            for name, binary, bind_now in variants:
                t = start_once(w, cfg, notify, sock, binary, bind_now, d_rcs)
                if timed:
                    times[name].append(t)

            # bao agent
            try:
                os.unlink(dest)
            except FileNotFoundError:
                pass
            t0 = B.now()
            a = w.start_agent(acfg)
            t1, vals = B.wait_file(dest, a, 30)
            if vals != expected:
                raise B.BenchError("bao agent rendered unexpected values")
            if timed:
                a_times.append(t1 - t0)
            w.stop(a)
        notify.close()
        bao_ver = B.bao_version(w.bao.bao)

    ds, as_ = B.summary_ms(times["unit"]), B.summary_ms(a_times)
    vs = {name: B.summary_ms(t) for name, t in times.items()}
    result = {
        "benchmark": "startup", "runs": args.runs,
        "aos-publishd_ready_ms": ds, "bao_agent_first_render_ms": as_,
        "variants": vs, "compare_build": args.compare,
        "ratio_p50": as_["p50"] / ds["p50"], "ratio_p99": as_["p99"] / ds["p99"],
        "target_ms": 50, "daemon_exit_codes": sorted(set(d_rcs)),
        "machine": B.machine_info(), "bao_version": bao_ver,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    print(f"Start to ready, {args.runs} runs each, interleaved (ms)")
    for name, _, _ in variants:
        print(f"  aos-publishd  {LABELS[name]:<30} {fmt(vs[name])}")
    print(f"  bao agent     start -> first render  {fmt(as_)}")
    print(f"ratio bao agent / aos-publishd: p50 {result['ratio_p50']:.1f}x, "
          f"p99 {result['ratio_p99']:.1f}x")
    print(f"target: aos-publishd READY <= 50 ms: p99 "
          f"{'met' if ds['p99'] <= 50 else 'NOT met'}, max "
          f"{'met' if ds['max'] <= 50 else 'NOT met'}")
    if set(d_rcs) != {0}:
        print(f"note: aos-publishd exit codes on SIGTERM: {sorted(set(d_rcs))}",
              file=sys.stderr)
    B.write_result(args.json, result)
    return 0


if __name__ == "__main__":
    B.run(main)
