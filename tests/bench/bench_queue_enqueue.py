#!/usr/bin/env python3
"""Queue benchmark 1: durable enqueue through the control socket.  Jobs per
second and latency from sending `{"cmd":"publish","registry":R,"files":[NAME],
"wait":false}` (the file's descriptor sent with it, SCM_RIGHTS) to reading its answer `{"ok":true,"job_id":N,...}`, which
the daemon sends only after the job is committed (the file copied into the
spool and fsync'ed, inspected there, the job row written with
synchronous=FULL).  Each request is a new job (no idempotency key) for the
same ~20 KiB wheel.

Clients speak the JSON-lines protocol on the Unix socket directly (one
thread, non-blocking sockets), closed loop: each of C connections sends its
next request as soon as the previous one is answered; C = 1 and 8 by
default.  Every setting runs --warmup seconds unmeasured, then --duration
seconds measured, on a fresh daemon (empty queue).

Workers must not compete for the disk and the loop, so the main figure
(mode `drain`) is taken with the daemon drained first (`{"cmd":"drain"}`: no
job starts).  --modes picks among (default: all three, in this order):

  drain        drained, default settings
  drain-pool1  drained, the daemon started with UV_THREADPOOL_SIZE=1 (one
               spool thread): a workaround that shows what concurrent
               clients get when the spool's temporary names cannot collide
               (with several pool threads, two requests spooled in the same
               millisecond collide on `.incoming-PID-MS` and one is refused)
  stall        not drained; the registry accepts connections but never reads
               or answers, so the one job the package may run hangs in
               `running` and the scheduler looks for work after every
               enqueue (and finds none it may start); queue.shutdown_grace_s
               is 0 here so that the hung uploads do not hold the stop

Once, in drain mode, `aos-publishctl --json publish --registry R F` is run
--cli-calls times one after the other (timed from spawn to exit, from
Python), for the figure an operator sees, with the CLI's process start.

Usage: .venv/bin/python tests/bench/bench_queue_enqueue.py [--clients 1,8]
           [--duration 10] [--warmup 1] [--kib 20] [--modes drain,drain-pool1,stall]
           [--cli-calls 50] [--json FILE] [--keep] [--time-limit 600]
Environment: AOS_BUILD_DIR (default ./build).  No target number in issue 4.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_queue_lib as Q  # noqa: E402

L, B = Q.L, Q.B
MODES = {
    "drain": "drained",
    "drain-pool1": "drained, UV_THREADPOOL_SIZE=1",
    "stall": "running, registry stalls",
}


def cli_runs(d, registry: str, wheel: Path, n: int) -> dict:
    argv = [str(B.PUBLISHCTL), "--socket", str(d.socket), "--json", "--timeout", "30",
            "publish", "--registry", registry, str(wheel)]
    lat, errs = [], []
    for _ in range(n):
        t0 = time.monotonic_ns()
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                           env={"PATH": B.CLEAN_PATH})
        lat.append(Q.ms(time.monotonic_ns() - t0))
        if p.returncode != 0 or '"job_id"' not in p.stdout:
            errs.append(f"rc={p.returncode} {p.stdout.strip()[-300:]} {p.stderr.strip()[-300:]}")
    st = []
    for _ in range(n):
        t0 = time.monotonic_ns()
        subprocess.run([str(B.PUBLISHCTL), "--socket", str(d.socket), "--json", "status"],
                       capture_output=True, timeout=60, env={"PATH": B.CLEAN_PATH})
        st.append(Q.ms(time.monotonic_ns() - t0))
    return {"publish_ms": Q.summary(lat), "status_ms": Q.summary(st), "errors": errs,
            "jobs_per_s": n / (sum(lat) / 1000.0)}


def one_mode(w, mode: str, wheel: Path, clients: list[int], duration: float,
             warmup: float, cli_calls: int) -> dict:
    env, qcfg = None, None
    if mode.startswith("drain"):
        reg = {"type": "pypi", "url": w.sink.url, "token_key": "PYPI_API_TOKEN"}
        stall = None
        if mode == "drain-pool1":
            env = {"UV_THREADPOOL_SIZE": "1"}
    else:
        stall = Q.StallRegistry()
        reg = {"type": "pypi", "url": stall.url, "token_key": "PYPI_API_TOKEN"}
        # The hung uploads would hold SIGTERM for the default 60 s grace.
        qcfg = {"shutdown_grace_s": 0}
    out = {"mode": mode, "settings": []}
    try:
        d = Q.daemon(w, {"bench": reg}, queue=qcfg, env=env)
        c = Q.Ctl(d.socket)
        if mode.startswith("drain"):
            out["drain_answer"] = c.call({"cmd": "drain"})
        out["mem_ready"] = Q.mem(d.pid)
        req = Q.publish_req("bench", wheel)
        for n in clients:
            Q.enqueue_load(d.socket, lambda i: req, n, duration_s=warmup)
            mark = (time.monotonic(), Q.cpu_times())
            r = Q.enqueue_load(d.socket, lambda i: req, n, duration_s=duration)
            r["machine_cpu_busy"] = Q.LoadMonitor.busy_since(mark)
            r["load1_after"] = float(open("/proc/loadavg").read().split()[0])
            r["jobs_per_s"] = r["ok"] / r["wall_s"]
            r["latency"] = Q.summary(r.pop("latency_ms"))
            ids = r.pop("job_ids")
            r["job_id_range"] = [min(ids), max(ids)] if ids else None
            r["distinct_errors"] = sorted(set(r["errors"]))[:10]
            r["n_errors"] = len(r.pop("errors"))
            st = c.call({"cmd": "status"})
            r["depth_after"] = st.get("queue", {}).get("depth")
            r["running_after"] = len(st.get("queue", {}).get("running", []))
            r["mem"] = Q.mem(d.pid)
            Q.log(f"  {mode}, {n} client(s): {r['ok']} jobs in {r['wall_s']:.1f} s = "
                  f"{r['jobs_per_s']:.0f} jobs/s; p50 {r['latency']['p50']:.2f} ms, p99 "
                  f"{r['latency']['p99']:.2f} ms, max {r['latency']['max']:.2f} ms; "
                  f"errors {r['n_errors']} {r['distinct_errors'][:2]}")
            out["settings"].append(r)
        if mode == "drain" and cli_calls > 0:
            out["cli"] = cli_runs(d, "bench", wheel, cli_calls)
            Q.log(f"  CLI: publish p50 {out['cli']['publish_ms']['p50']:.2f} ms, status p50 "
                  f"{out['cli']['status_ms']['p50']:.2f} ms")
        out["status_end"] = c.call({"cmd": "status"}).get("queue")
        out["sizes"] = Q.state_sizes(d)
        out["mem_end"] = Q.mem(d.pid)
        c.close()
        out["daemon_exit"] = Q.stop_daemon(w, d)
        out["log_warnings"] = [ln for ln in d.log_path.read_text(errors="replace").splitlines()
                               if " warning: " in ln or " err: " in ln][:20]
    finally:
        if stall:
            stall.stop()
    return out


def report(res: dict) -> str:
    lines = [f"Wheel of {res['wheel_bytes'] / 1024:.1f} KiB; each request a new job; "
             f"{res['warmup_s']:.0f} s warm-up, then {res['duration_s']:.0f} s measured per row; "
             "latency = request sent to answer read.\n"]
    rows = []
    for m in res["modes"]:
        for r in m["settings"]:
            lat = r["latency"]
            rows.append([MODES[m["mode"]], r["clients"], r["ok"], f"{r['jobs_per_s']:.0f}",
                         Q.fmt(lat["p50"]), Q.fmt(lat["p99"]), Q.fmt(lat["max"]),
                         r["n_errors"], f"{r['machine_cpu_busy'] * 100:.0f} %",
                         Q.fmt(r["mem"]["VmRSS_kB"] / 1024, 1)])
    lines.append(L.table(rows, ["daemon", "clients", "jobs acked", "jobs/s",
                                "p50 ms", "p99 ms", "max ms", "errors",
                                "machine CPU busy", "daemon VmRSS MiB"]))
    for m in res["modes"]:
        for r in m["settings"]:
            if r["distinct_errors"]:
                lines.append(f"\nErrors ({m['mode']}, {r['clients']} clients): "
                             + "; ".join(r["distinct_errors"]))
        if m.get("cli"):
            cl = m["cli"]
            lines.append(f"\nThrough the CLI (`aos-publishctl --json publish`, one call after "
                         f"another, spawn to exit, {cl['publish_ms']['n']} calls): p50 "
                         f"{cl['publish_ms']['p50']:.2f} ms, p99 {cl['publish_ms']['p99']:.2f} ms"
                         f" ({cl['jobs_per_s']:.0f} jobs/s); `aos-publishctl --json status` "
                         f"for comparison: p50 {cl['status_ms']['p50']:.2f} ms. Errors: "
                         f"{len(cl['errors'])}.")
        s = m["sizes"]
        lines.append(f"\n{m['mode']}: at the end {sum(v for k, v in (m['status_end'] or {}).get('depth', {}).items())}"
                     f" jobs in the database; queue.db {s['queue.db'] / Q.MIB:.1f} MiB, "
                     f"WAL {s['queue.db-wal'] / Q.MIB:.1f} MiB, spool "
                     f"{s['spool_bytes_on_disk'] / Q.MIB:.1f} MiB in {s['spool_files']} files; "
                     f"daemon VmHWM {m['mem_end']['VmHWM_kB'] / 1024:.1f} MiB; exit "
                     f"{m['daemon_exit']}."
                     + (f" Log warnings: {m['log_warnings'][:3]}" if m["log_warnings"] else ""))
    lines.append("")
    lines += Q.machine_lines(res["info"], res["load"])
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", default="1,8")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--kib", type=float, default=20)
    ap.add_argument("--modes", default="drain,drain-pool1,stall")
    ap.add_argument("--cli-calls", type=int, default=50)
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--time-limit", type=float, default=600)
    args = B.parse_args(ap, smoke={"clients": "1,2", "duration": 0.5, "warmup": 0.1,
                                    "kib": 2, "cli_calls": 2, "time_limit": 120})
    Q.time_limit(args.time_limit)
    clients = [int(x) for x in args.clients.split(",") if x]
    modes = [m for m in args.modes.split(",") if m]
    for m in modes:
        if m not in MODES:
            ap.error(f"unknown mode {m}")
    with L.World(keep=args.keep, need_pypi=False, need_npm=False) as w:
        info = Q.header("bench_queue_enqueue: durable enqueue through the control socket", w.dir)
        mon = Q.LoadMonitor().start()
        art = w.dir / "art"
        art.mkdir()
        wheel = Q.make_wheel(art, "aos-bench-q", "1.0.0", args.kib)
        res = {"info": info, "wheel_bytes": wheel.stat().st_size, "warmup_s": args.warmup,
               "duration_s": args.duration, "modes": []}
        for m in modes:
            res["modes"].append(one_mode(w, m, wheel, clients, args.duration, args.warmup,
                                         args.cli_calls if m == "drain" else 0))
        res["load"] = mon.stop()
    info["load_after"] = " ".join(open("/proc/loadavg").read().split()[:3])
    B.write_result(args.json, res)
    print(report(res))
    return 0


if __name__ == "__main__":
    B.run(main)
