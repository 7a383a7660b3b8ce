#!/usr/bin/env python3
"""Benchmark 1: idle memory of aos-publishd with its secrets loaded, beside
`bao agent` rendering the same secret through a template, in the same run.

Both run against one OpenBao dev server.  aos-publishd is measured after
READY=1, bao agent after its first render; then both sit idle for --settle
seconds (default 2) and /proc/<pid>/status (VmRSS, VmHWM, RssAnon, RssFile)
and /proc/<pid>/smaps_rollup (Pss, and Uss = Private_Clean + Private_Dirty:
the memory only that process holds) are read for each.  --samples N repeats
the read N times, --interval seconds apart, and reports the last read (and
the largest VmRSS seen).

Usage: .venv/bin/python tests/bench/bench_rss.py [--settle S] [--json FILE]
Target (issue 2): aos-publishd VmRSS <= 8 MB.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402

MIB = 1024.0  # /proc reports kB (KiB); we print MiB


def rollup_kb(pid: int) -> dict:
    """Pss and Uss (Private_Clean + Private_Dirty: what only this process
    holds, what stopping it would give back) from /proc/<pid>/smaps_rollup."""
    got = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Pss", "Private_Clean", "Private_Dirty"):
                    got[k] = int(v.split()[0])
    except OSError:
        return {"Pss": None, "Uss": None}
    uss = got.get("Private_Clean", 0) + got.get("Private_Dirty", 0) \
        if "Private_Dirty" in got else None
    return {"Pss": got.get("Pss"), "Uss": uss}


def sample(pid: int) -> dict:
    s = B.proc_status(pid)
    r = rollup_kb(pid)
    return {"VmRSS_kB": s.get("VmRSS"), "VmHWM_kB": s.get("VmHWM"),
            "RssAnon_kB": s.get("RssAnon"), "RssFile_kB": s.get("RssFile"),
            "Pss_kB": r["Pss"], "Uss_kB": r["Uss"], "VmLck_kB": s.get("VmLck"),
            "Threads": s.get("Threads")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--settle", type=float, default=2.0,
                    help="idle seconds after READY / first render (default 2)")
    ap.add_argument("--samples", type=int, default=1)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = B.parse_args(ap, smoke={"settle": 0.2})

    with B.World(keep=args.keep) as w:
        # aos-publishd: start, wait for READY=1 (secrets loaded).
        notify = B.NotifySocket(w.dir / "notify.sock")
        cfg = w.daemon_config()
        d = w.start_daemon(cfg, notify.path)
        notify.wait_ready(d, 15)
        notify.start_drain()
        d_sock = cfg.parent / "run" / "control.sock"
        loaded = B.secrets_by_key(B.ctl_secrets(d_sock))
        if not all(loaded.get(k, {}).get("present") for k in B.DEFAULT_KEYS):
            raise B.BenchError(f"daemon did not load every key: {loaded}")

        # bao agent: start, wait for the first complete render.
        acfg, dest = w.agent_config()
        a = w.start_agent(acfg)
        _, vals = B.wait_file(dest, a, 30)
        if vals != {k: w.values[k] for k in B.DEFAULT_KEYS}:
            raise B.BenchError("bao agent rendered unexpected values")

        time.sleep(args.settle)
        peak = {"aos-publishd": 0, "bao agent": 0}
        for i in range(args.samples):
            if i:
                time.sleep(args.interval)
            res = {"aos-publishd": sample(d.pid), "bao agent": sample(a.pid)}
            for k in peak:
                peak[k] = max(peak[k], res[k]["VmRSS_kB"])
        for k in peak:
            res[k]["VmRSS_max_kB"] = peak[k]
        for p in (d, a):
            if p.poll() is not None:
                raise B.BenchError(f"pid {p.pid} exited during the measurement")
        rc = w.stop(d)
        w.stop(a)
        notify.close()

    dm, am = res["aos-publishd"], res["bao agent"]
    result = {
        "benchmark": "idle_rss", "settle_s": args.settle, "samples": args.samples,
        "aos-publishd": dm, "bao agent": am,
        "ratio_VmRSS": am["VmRSS_kB"] / dm["VmRSS_kB"],
        "ratio_VmHWM": am["VmHWM_kB"] / dm["VmHWM_kB"],
        "ratio_Pss": (am["Pss_kB"] / dm["Pss_kB"]) if dm["Pss_kB"] and am["Pss_kB"] else None,
        "target_VmRSS_MiB": 8, "daemon_exit_code": rc,
        "machine": B.machine_info(), "bao_version": B.bao_version(w.bao.bao),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }

    print(f"Idle memory after READY / first render + {args.settle:g} s idle (MiB)")
    print(f"{'':14}{'VmRSS':>8}{'VmHWM':>8}{'RssAnon':>9}{'RssFile':>9}{'Pss':>8}"
          f"{'Uss':>8}{'threads':>9}")
    for name, m in (("aos-publishd", dm), ("bao agent", am)):
        pss, uss = (f"{m[k] / MIB:8.1f}" if m[k] is not None else f"{'-':>8}"
                    for k in ("Pss_kB", "Uss_kB"))
        print(f"{name:14}{m['VmRSS_kB'] / MIB:8.1f}{m['VmHWM_kB'] / MIB:8.1f}"
              f"{m['RssAnon_kB'] / MIB:9.1f}{m['RssFile_kB'] / MIB:9.1f}{pss}{uss}"
              f"{m['Threads']:9d}")
    print(f"ratio bao agent / aos-publishd: VmRSS {result['ratio_VmRSS']:.1f}x, "
          f"VmHWM {result['ratio_VmHWM']:.1f}x"
          + (f", Pss {result['ratio_Pss']:.1f}x" if result["ratio_Pss"] else ""))
    print(f"target: aos-publishd VmRSS <= 8 MiB: "
          f"{'met' if dm['VmRSS_kB'] <= 8 * 1024 else 'NOT met'}")
    if dm["Uss_kB"] is not None:
        print(f"target (issue 14): aos-publishd USS <= 3 MiB: "
              f"{'met' if dm['Uss_kB'] <= 3 * 1024 else 'NOT met'} "
              f"({dm['Uss_kB'] / MIB:.1f} MiB)")
    if rc != 0:
        print(f"note: aos-publishd exited with {rc} on SIGTERM", file=sys.stderr)
    B.write_result(args.json, result)
    return 0


if __name__ == "__main__":
    B.run(main)
