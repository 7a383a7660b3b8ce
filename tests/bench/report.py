#!/usr/bin/env python3
"""Print the results table (Markdown) from the JSON files the benchmarks
wrote into a folder (rss.json, startup.json, rotation.json; any may be
missing).  Usage: report.py DIR"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MIB = 1024.0


def load(d: Path, name: str):
    try:
        return json.loads((d / name).read_text())
    except (OSError, ValueError):
        return None


def ms(v) -> str:
    return "-" if v is None else f"{v:.1f}"


def s_(v) -> str:
    return "-" if v is None else f"{v:.1f}"


def ratio(a, b) -> str:
    return f"{a / b:.1f}x" if a is not None and b else "-"


def met(v, target) -> str:
    if v is None:
        return "-"
    return "yes" if v <= target else "**no**"


def main() -> int:
    d = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    rss, st, rot = (load(d, f) for f in ("rss.json", "startup.json", "rotation.json"))
    env = load(d, "env.json") or {}
    any_r = next((r for r in (rss, st, rot) if r), None)
    if any_r is None:
        print("no results found in", d)
        return 1
    m = any_r["machine"]
    print(f"Date: {env.get('date', any_r['date'])}  ")
    print(f"Machine: {m['nproc']} CPUs ({m['cpu']}), Linux {m['kernel']} {m['machine']}  ")
    print(f"OpenBao: {any_r.get('bao_version', '?')}  ")
    if env:
        print(f"Source: {env.get('source', '?')}; build: {env.get('build', '?')}  ")
        print(f"Load average before / after: {env.get('load_before', '?')} / "
              f"{env.get('load_after', '?')}")
    print()
    print("| measurement | aos-publishd | bao agent | bao agent / aos-publishd | target (aos-publishd) | met |")
    print("|---|---:|---:|---:|---|---|")
    if rss:
        dm, am = rss["aos-publishd"], rss["bao agent"]
        for field, label, target in (("VmRSS_kB", "idle VmRSS (MiB)", 8),
                                     ("VmHWM_kB", "idle VmHWM (MiB)", None),
                                     ("RssAnon_kB", "idle RssAnon (MiB)", None)):
            a, b = dm.get(field), am.get(field)
            if a is None or b is None:
                continue
            print(f"| {label} | {a / MIB:.1f} | {b / MIB:.1f} | {ratio(b, a)} | "
                  f"{'<= 8 MiB' if target else ''} | "
                  f"{met(a / MIB, target) if target else ''} |")
    if st:
        ds, as_ = st["aos-publishd_ready_ms"], st["bao_agent_first_render_ms"]
        n = ds["n"]
        for k in ("p50", "p99", "max"):
            print(f"| start to READY=1 / first render, {k} (ms, n={n}) | {ms(ds[k])} | "
                  f"{ms(as_[k])} | {ratio(as_[k], ds[k])} | "
                  f"{'<= 50 ms' if k != 'p50' else ''} | "
                  f"{met(ds[k], 50) if k != 'p50' else ''} |")
    if rot:
        rs = rot["rotate_secret_ms"]
        n = rs.get("n", 0)
        if n:
            for k in ("p50", "p99", "max"):
                print(f"| rotation pick-up, rotate_secret.sh write to confirmed, {k} "
                      f"(ms, n={n}) | {ms(rs[k])} | see below | | "
                      f"{'p99 <= 100 ms' if k == 'p99' else ''} | "
                      f"{met(rs[k], 100) if k == 'p99' else ''} |")
        ws, cs = rot["rotate_secret_no_refresh_ms"], rot["control_refresh_ms"]
        if ws.get("n"):
            print(f"| of which the script's own write (`--no-refresh`), p50 / p99 (ms) | "
                  f"{ms(ws['p50'])} / {ms(ws['p99'])} | | | | |")
        if cs.get("n"):
            print(f"| of which the daemon: control-socket `secrets.refresh`, p50 / p99 (ms) | "
                  f"{ms(cs['p50'])} / {ms(cs['p99'])} | | | | |")
        df = rot["defaults"]
        dd, ad, iv = df["aos-publishd_s"], df["bao_agent_s"], df["agent_rerender_intervals_s"]
        cfg = df.get("agent_static_secret_render_interval", "default (5m)")
        tag = "defaults" if cfg.startswith("default") else f"agent interval {cfg}, NOT default"
        if df["rows"]:
            mean = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
            poll = df.get("daemon_poll_s", 30)
            print(f"| same change unnotified ({tag}; daemon poll {poll} s), each (s) | "
                  f"{', '.join(s_(x['aos-publishd_s']) for x in df['rows'])} | "
                  f"{', '.join(s_(x['bao_agent_s']) if x['bao_agent_s'] is not None else '>' + s_(df['agent_cap_s']) for x in df['rows'])} | "
                  f"{ratio(mean(ad), mean(dd))} (means) | | |")
            if iv:
                print(f"| bao agent re-read period = its worst case (s) | | "
                      f"{', '.join(s_(v) for v in iv)} | | | |")
            if ad and n:
                print(f"| bao agent ({tag}) mean pick-up vs rotate_secret.sh p50 | "
                      f"{rs['p50']:.0f} ms | {s_(mean(ad))} s | "
                      f"{mean(ad) * 1000 / rs['p50']:.0f}x | | |")
        elif df.get("rotations_requested", 0) == 0:
            print("| same change unnotified, bao agent defaults | | skipped (--agent-rotations 0) | | | |")
        for p in rot.get("problems", []):
            print(f"\nproblem: {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
