#!/usr/bin/env python3
"""Publish benchmark 3: many small files.  200 wheels of about 20 KB each
(one project, versions 1.0.0 to 1.0.199, random content) uploaded to a real
pypiserver, and to the loopback sink for the clients' own per-file cost,
by aos-publishd, by `twine upload` and, for reference, by curl -F, in the
same run.  Total time for all 200 files.

  aos-publishd, 64 per call   `aos-publishctl --json publish --registry R`
                 with at most 64 files per call (the daemon's cap,
                 PUBLISH_MAX_FILES): 4 calls one after the other.
  aos-publishd, 1 per call    200 calls, one file each.
  twine          one `twine upload` of the 200 files.
  curl -F        200 curl invocations with the minimum form twine sends
                 (digests computed beforehand, untimed).

Every client uploads the same 200 files; before each client's turn the
pypiserver package folder is emptied (untimed) and after it must hold the
200 files with their SHA-256; the sink must have received 200 uploads.  The
daemon is a fresh one per server, already READY; its VmHWM is reported.
Each client runs --warmup times untimed (default 1), then --reps times
(default 3), the order rotated each repetition.

Usage: .venv/bin/python tests/bench/bench_publish_many.py [--reps 3]
           [--files 200] [--kib 20] [--targets pypiserver,sink] [--json FILE]
Target (issue 3): total time vs twine (no number given).  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_publish_lib as L  # noqa: E402

B, PS = L.B, L.PS
NAME = "aos-bench-small"
NORM = "aos_bench_small"
MAX_PER_CALL = 64
CLIENTS = ["aos-publishd, 64 per call", "aos-publishd, 1 per call", "twine", "curl -F"]


def make_wheels(outdir: Path, n: int, kib: float) -> list[Path]:
    out = []
    for i in range(n):
        v = f"1.0.{i}"
        # The wheel's other members take about 1.2 KiB of the size asked for.
        files = {f"{NORM}/__init__.py": f'__version__ = "{v}"\n'.encode(),
                 f"{NORM}/payload.bin": os.urandom(max(0, int(kib * 1024) - 1200))}
        out.append(PS.make_wheel(outdir, NAME, v, files=files))
    return out


def bench_target(w: L.World, target: str, wheels: list[Path], shas: dict, forms: dict,
                 reps: int, warmup: int) -> dict:
    if target == "sink":
        url, reg = w.sink.url, "sink-pypi"
    else:
        url, reg = w.env.pypi.upload_url, "pypi"
    token = w.env.pypi.token
    cfg = L.curl_config(w, f"{target}-many.curl", "Authorization: Basic " + base64.b64encode(
        f"__token__:{token}".encode()).decode())
    d = w.daemon()
    mem = {"ready": L.status_kb(d.pid)}
    clean = {"PATH": B.CLEAN_PATH}
    n = len(wheels)

    def reset():
        if target == "sink":
            w.sink.take_stats()
        else:
            w.env.pypi.remove_all()

    def verify(what: str):
        if target == "sink":
            got = [s for s in w.sink.take_stats() if s["method"] == "POST"]
            if len(got) != n:
                raise B.BenchError(f"{what}: the sink saw {len(got)} uploads, not {n}")
        else:
            files = w.env.pypi.files()
            if files != shas:
                raise B.BenchError(f"{what}: pypiserver holds {len(files)} files, "
                                   f"{sum(1 for k, v in files.items() if shas.get(k) == v)}"
                                   f" of them right, expected {n}")

    def daemon(per_call: int):
        def run(i):
            reset()
            calls = [wheels[k:k + per_call] for k in range(0, n, per_call)]
            t0 = time.perf_counter()
            per = []
            for files in calls:
                r = L.timed("aos-publishctl publish", L.publishctl_argv(d, reg, files),
                            clean, workdir=w.dir, timeout=300).check()
                per.append(r.seconds)
                if per_call > 1:  # the final line is cheap to check here
                    final = L.publishctl_final(r)
                    if final.get("outcome") != "published":
                        raise B.BenchError(f"aos-publishd: {final}")
            total = time.perf_counter() - t0
            verify(f"aos-publishd, {per_call} per call")
            return {"seconds": total, "calls": len(calls),
                    "call_seconds": L.stats(per), "daemon": L.status_kb(d.pid)}
        return run

    def twine(i):
        reset()
        r = L.timed("twine upload", L.twine_argv(url, wheels), L.twine_env(w, token),
                    workdir=w.dir, timeout=600).check()
        verify("twine")
        return {"seconds": r.seconds, "maxrss_kb": r.maxrss_kb}

    def curl(i):
        reset()
        t0 = time.perf_counter()
        rss = 0
        for p in wheels:
            r = L.timed("curl -F", L.curl_form_argv(url, forms[p.name], p, cfg), clean,
                        workdir=w.dir).check()
            rss = max(rss, r.maxrss_kb)
        total = time.perf_counter() - t0
        verify("curl -F")
        return {"seconds": total, "maxrss_kb": rss}

    tools = [("aos-publishd, 64 per call", daemon(MAX_PER_CALL)),
             ("aos-publishd, 1 per call", daemon(1)), ("twine", twine), ("curl -F", curl)]
    L.log(f"== {target}: {url}")
    res = L.rounds(tools, reps, warmup=warmup, log=L.log)
    mem["end"] = L.status_kb(d.pid)
    rc = w.stop_daemon(d)
    return {"url": url, "runs": res, "summary": {k: L.summarize(v) for k, v in res.items()},
            "daemon_memory": mem, "daemon_exit": rc}


def report(result: dict) -> str:
    lines = [f"{result['files']} wheels, {result['bytes_total'] / result['files'] / 1024:.1f}"
             f" KiB each on average ({result['bytes_total'] / L.MIB:.1f} MiB in all).\n"]
    for target, t in result["targets"].items():
        s = t["summary"]
        tw = s["twine"]["median"]
        rows = []
        for name in CLIENTS:
            x = s[name]
            if name.startswith("aos-publishd"):
                rss = f"{L.fmt_mib(t['daemon_memory']['end']['VmHWM_kB'])} (daemon VmHWM)"
            else:
                rss = L.fmt_mib(x.get("maxrss_kb"))
            rows.append([name, L.fmt_s(x["median"]), L.fmt_s(x["min"]), L.fmt_s(x["max"]),
                         f"{x['median'] / result['files'] * 1000:.1f}",
                         f"{x['median'] / tw:.2f}x", rss])
        lines.append(f"### {target} ({t['url']}), n={s['twine']['n']} each\n")
        lines.append(L.table(rows, ["client", "median s (all files)", "min s", "max s",
                                    "ms per file", "median / twine", "peak RSS MiB"]))
        m = t["daemon_memory"]
        lines.append("")
        lines.append("aos-publishd memory (/proc/PID/status, MiB): " + "; ".join(
            f"{k}: VmHWM {L.fmt_mib(v['VmHWM_kB'])}, VmRSS {L.fmt_mib(v['VmRSS_kB'])}, "
            f"RssAnon {L.fmt_mib(v['RssAnon_kB'])}" for k, v in m.items()))
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--kib", type=float, default=20)
    ap.add_argument("--targets", default="pypiserver,sink")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = B.parse_args(ap, smoke={"reps": 1, "warmup": 0, "files": 3, "kib": 2})
    B.require_tools(twine=L.TWINE, curl=L.CURL, time=L.GNU_TIME)
    targets = [t for t in args.targets.split(",") if t]
    for t in targets:
        if t not in ("sink", "pypiserver"):
            ap.error(f"unknown target {t}")
    result = L.header("bench_publish_many: 200 small wheels")
    with L.World(keep=args.keep, need_npm=False) as w:
        art = w.dir / "art"
        art.mkdir()
        wheels = make_wheels(art, args.files, args.kib)
        shas = {p.name: PS.sha256_file(p) for p in wheels}
        forms = {p.name: L.wheel_form(p, NAME, f"1.0.{i}") for i, p in enumerate(wheels)}
        result.update({"files": len(wheels), "reps": args.reps,
                       "bytes_total": sum(p.stat().st_size for p in wheels)})
        result["targets"] = {t: bench_target(w, t, wheels, shas, forms, args.reps,
                                              args.warmup) for t in targets}
    result["load_after"] = " ".join(open("/proc/loadavg").read().split()[:3])
    B.write_result(args.json, result)
    print(report(result))
    return 0


if __name__ == "__main__":
    B.run(main)
