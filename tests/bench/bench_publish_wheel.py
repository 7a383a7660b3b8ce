#!/usr/bin/env python3
"""Publish benchmark 1: one 50 MiB wheel uploaded by aos-publishd, by
`twine upload` and by `curl -F` of the same multipart form, in the same run,
to the same two local servers: the loopback sink (reads and discards the
body, answers 200) and a real pypiserver.

The wheel is built once (random, incompressible content, stored) and every
client uploads that same file; before each upload to pypiserver its package
folder is emptied (untimed), so no upload collides, and after it the folder
must hold exactly that file with the same SHA-256.  Against the sink, the
sink must have received at least the file's size.

  aos-publishd   `aos-publishctl --json publish --registry R WHEEL`, timed
                 from spawn to exit; the daemon (a fresh one per server) is
                 already running and READY.  Its peak RSS is its VmHWM from
                 /proc after the uploads (absolute, since its start).
  dry run        `aos-publishctl publish --dry-run`: the daemon's inspection
                 alone (archive, metadata, digests), nothing sent.
  twine          `.venv/bin/twine upload --non-interactive
                 --disable-progress-bar --repository-url URL WHEEL`, token in
                 TWINE_PASSWORD; includes Python start-up and hashing.
  curl -F        the minimum form twine sends (:action, protocol_version,
                 name, version, filetype, pyversion, metadata_version,
                 sha256_digest as --form-string, content=@WHEEL), digest
                 computed beforehand (untimed); libcurl's default
                 `Expect: 100-continue`, like the daemon's.
  curl -F, no Expect   the same with `-H Expect:` (no 100-continue wait).

Clients' peak RSS is what GNU `/usr/bin/time` reports for them (ru_maxrss;
every client, aos-publishctl included, runs under it).  Each client runs
once untimed (warm-up), then --reps times (default 5), the order rotated
each repetition; median and min are reported.

Usage: .venv/bin/python tests/bench/bench_publish_wheel.py [--reps 5]
           [--size-mib 50] [--targets sink,pypiserver] [--json FILE] [--keep]
Targets (issue 3): aos-publishd wall time <= 1.15x curl's; its peak RSS
<= 16 MB.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_publish_lib as L  # noqa: E402

B, PS = L.B, L.PS
NAME, VERSION = "aos-sdk-bench", "1.0.0"
CLIENTS = ["aos-publishd", "aos-publishd --dry-run", "twine", "curl -F",
           "curl -F, no Expect"]


def bench_target(w: L.World, target: str, whl: Path, sha: str, form, reps: int) -> dict:
    size = whl.stat().st_size
    if target == "sink":
        url, reg = w.sink.url, "sink-pypi"
    else:
        url, reg = w.env.pypi.upload_url, "pypi"
    token = w.env.pypi.token
    cfg = L.curl_config(w, f"{target}.curl", "Authorization: Basic " + base64.b64encode(
        f"__token__:{token}".encode()).decode())
    d = w.daemon()
    mem = {"ready": L.status_kb(d.pid)}
    clean = {"PATH": B.CLEAN_PATH}

    def reset():
        if target == "sink":
            w.sink.take_stats()
        else:
            w.env.pypi.remove_all()

    def verify(what: str) -> dict:
        """Checks the upload arrived; against the sink, returns how long the
        body took to arrive (end of headers to end of body)."""
        if target == "sink":
            got = [s for s in w.sink.take_stats() if s["method"] == "POST"]
            if len(got) != 1 or got[0]["bytes"] < size:
                raise B.BenchError(f"{what}: the sink saw {got}")
            return {"sink_body_s": got[0]["body_s"]}
        files = w.env.pypi.files()
        if files != {whl.name: sha}:
            raise B.BenchError(f"{what}: pypiserver holds {files}")
        return {}

    def rec(r: L.Run, **extra) -> dict:
        out = {"seconds": r.seconds, "maxrss_kb": r.maxrss_kb}
        out.update(extra)
        return out

    def daemon(i):
        reset()
        r = L.timed("aos-publishctl publish", L.publishctl_argv(d, reg, [whl]), clean,
                    workdir=w.dir).check()
        final = L.publishctl_final(r)
        if final.get("outcome") != "published":
            raise B.BenchError(f"aos-publishd: {final}")
        v = verify("aos-publishd")
        st = L.status_kb(d.pid)
        if "first_upload" not in mem:
            mem["first_upload"] = st
        # ctl_maxrss_kb is aos-publishctl's; the daemon's memory is in "daemon".
        return {"seconds": r.seconds, "ctl_maxrss_kb": r.maxrss_kb, "daemon": st, **v}

    def dry(i):
        r = L.timed("aos-publishctl publish --dry-run",
                    [B.PUBLISHCTL, "--socket", d.socket, "--json", "publish",
                     "--dry-run", "--registry", reg, whl], clean, workdir=w.dir).check()
        if L.publishctl_final(r).get("outcome") != "dry-run":
            raise B.BenchError(f"dry run: {r.out[-1000:]}")
        return {"seconds": r.seconds, "ctl_maxrss_kb": r.maxrss_kb,
                "daemon": L.status_kb(d.pid)}

    def twine(i):
        reset()
        r = L.timed("twine upload", L.twine_argv(url, [whl]), L.twine_env(w, token),
                    workdir=w.dir, timeout=180).check()
        return rec(r, **verify("twine"))

    def curl(no_expect):
        def run(i):
            reset()
            r = L.timed("curl -F", L.curl_form_argv(url, form, whl, cfg, no_expect),
                        clean, workdir=w.dir).check()
            return rec(r, **verify("curl"))
        return run

    tools = [("aos-publishd", daemon), ("aos-publishd --dry-run", dry), ("twine", twine),
             ("curl -F", curl(False)), ("curl -F, no Expect", curl(True))]
    L.log(f"== {target}: {url}")
    res = L.rounds(tools, reps, warmup=1, log=L.log)
    mem["end"] = L.status_kb(d.pid)
    rc = w.stop_daemon(d)
    return {"url": url, "runs": res, "summary": {k: L.summarize(v) for k, v in res.items()},
            "daemon_memory": mem, "daemon_exit": rc}


def report(result: dict) -> str:
    lines = []
    cap = result["sink_capacity"]
    lines.append(f"Sink capacity (sendfile of the same {cap['bytes'] / L.MIB:.1f} MiB "
                 f"file, one connection): best {cap['MB_per_s_best']:.0f} MB/s, "
                 f"median {cap['seconds']['median']:.3f} s; sink CPU per body "
                 f"{cap['sink_cpu_s']['median'] * 1000:.1f} ms (median).\n")
    for target, t in result["targets"].items():
        s = t["summary"]
        curl = s["curl -F"]["median"]
        curl_ne = s["curl -F, no Expect"]["median"]
        rows = []
        for name in CLIENTS:
            x = s[name]
            if name.startswith("aos-publishd"):
                rss = "-"
                if name == "aos-publishd":
                    rss = f"{L.fmt_mib(t['daemon_memory']['end']['VmHWM_kB'])} (VmHWM)"
            else:
                rss = L.fmt_mib(x.get("maxrss_kb"))
            row = [name, L.fmt_s(x["median"]), L.fmt_s(x["min"]), L.fmt_s(x["max"]),
                   f"{x['median'] / curl:.2f}x", f"{x['median'] / curl_ne:.2f}x", rss]
            if target == "sink":
                row.append(L.fmt_s(x.get("sink_body_s_median")))
            rows.append(row)
        lines.append(f"### {target} ({t['url']}), n={s['curl -F']['n']} each\n")
        cols = ["client", "median s", "min s", "max s", "median / curl -F",
                "median / curl -F no Expect", "peak RSS MiB"]
        if target == "sink":
            cols.append("body arrival s (sink, median)")
        lines.append(L.table(rows, cols))
        m = t["daemon_memory"]
        lines.append("")
        lines.append("aos-publishd memory (/proc/PID/status, MiB): " + "; ".join(
            f"{k}: VmHWM {L.fmt_mib(v['VmHWM_kB'])}, VmRSS {L.fmt_mib(v['VmRSS_kB'])}, "
            f"RssAnon {L.fmt_mib(v['RssAnon_kB'])}, RssFile {L.fmt_mib(v['RssFile_kB'])}"
            for k, v in m.items()))
        lines.append(f"aos-publishctl (the client) peak RSS: "
                     f"{L.fmt_mib(s['aos-publishd'].get('ctl_maxrss_kb'))} MiB.")
        d = s["aos-publishd"]["median"]
        hwm = m["end"]["VmHWM_kB"]
        lines.append(f"\nTargets: wall time {d / curl:.2f}x curl -F (target <= 1.15x: "
                     f"{'met' if d / curl <= 1.15 else 'NOT met'}); "
                     f"{d / curl_ne:.2f}x curl -F without Expect; peak RSS "
                     f"{hwm / 1024:.1f} MiB (target <= 16 MiB: "
                     f"{'met' if hwm <= 16 * 1024 else 'NOT met'}).\n")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--size-mib", type=float, default=50)
    ap.add_argument("--targets", default="sink,pypiserver")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = B.parse_args(ap, smoke={"reps": 1, "size_mib": 0.05})
    B.require_tools(twine=L.TWINE, curl=L.CURL, time=L.GNU_TIME)
    targets = [t for t in args.targets.split(",") if t]
    for t in targets:
        if t not in ("sink", "pypiserver"):
            ap.error(f"unknown target {t}")
    result = L.header("bench_publish_wheel: 50 MiB wheel")
    with L.World(keep=args.keep, need_npm=False) as w:
        art = w.dir / "art"
        art.mkdir()
        whl = PS.make_big_wheel(art, NAME, VERSION, int(args.size_mib * L.MIB))
        sha = PS.sha256_file(whl)
        form = L.wheel_form(whl, NAME, VERSION)
        result.update({"file": whl.name, "bytes": whl.stat().st_size, "sha256": sha,
                       "reps": args.reps})
        L.log(f"wheel {whl.name}: {whl.stat().st_size} bytes")
        result["sink_capacity"] = w.sink.capacity(whl)
        result["targets"] = {t: bench_target(w, t, whl, sha, form, args.reps)
                             for t in targets}
    result["load_after"] = " ".join(open("/proc/loadavg").read().split()[:3])
    B.write_result(args.json, result)
    print(report(result))
    return 0


if __name__ == "__main__":
    B.run(main)
