#!/usr/bin/env python3
"""Queue benchmark 3: the daemon's memory with 10,000 queued jobs, and
while they run.

  1. aos-publishd (default queue settings, log level info) starts with one
     registry, the loopback sink of bench_publish_sink.py (reads and
     discards bodies, answers 200); its memory at READY=1 is noted.
  2. It is drained (`{"cmd":"drain"}`: no job starts), then --jobs jobs
     (default 10,000) are enqueued through the control socket, each a new
     job for one of --packages small wheels (~20 KiB, one package name
     each, taken in turn), from --clients connections (default 1; a
     request the daemon refuses is sent again and counted).
  3. With them all queued: VmRSS, VmHWM, RssAnon, RssFile from
     /proc/PID/status; the sizes of queue.db, its WAL and the spool; the
     latency of `status` (--calls times on one connection, and once
     through `aos-publishctl --json status`), of `jobs` (default limit 50
     and --state queued --limit 1000) and of `job.show`.
  4. `{"cmd":"resume"}`: the jobs run against the sink for --run-s seconds
     (default 20; not to completion necessarily) while VmRSS is read every
     0.5 s and `status` every 2 s; then the jobs done, the memory at the
     end and its growth per 1,000 jobs run (least-squares slope of VmRSS
     against jobs done, after the first 2 s).
  5. Drained, stopped and started again on the same database: time from
     spawn to READY=1 against the first start (empty database), and the
     memory at READY=1.

Target (issue 4): RSS with 10,000 queued jobs at most 32 MB (read as
32 MiB = 32768 KiB; both VmRSS and VmHWM are compared).  Nothing is asserted.

Usage: .venv/bin/python tests/bench/bench_queue_rss.py [--jobs 10000]
           [--packages 16] [--clients 1] [--kib 20] [--run-s 20] [--calls 30]
           [--json FILE] [--keep] [--time-limit 900]
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
TARGET_KIB = 32 * 1024


def timed_calls(c: Q.Ctl, req: dict, n: int) -> tuple[dict, dict]:
    lat, ans = [], None
    for _ in range(n):
        ans, t0, t1 = c.timed(req)
        lat.append(Q.ms(t1 - t0))
    return Q.summary(lat), ans


def depth_total(st: dict) -> dict:
    return (st.get("queue") or {}).get("depth") or {}


def slope_kib_per_1000(samples: list[dict]) -> float | None:
    pts = [(s["done"], s["VmRSS_kB"]) for s in samples if s["t"] >= 2.0 and s["done"] is not None]
    if len(pts) < 3:
        return None
    n = len(pts)
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if sxx == 0:
        return None
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=10000)
    ap.add_argument("--packages", type=int, default=16)
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--kib", type=float, default=20)
    ap.add_argument("--run-s", type=float, default=20)
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--time-limit", type=float, default=900)
    args = B.parse_args(ap, smoke={"jobs": 20, "packages": 2, "kib": 2, "run_s": 1,
                                    "calls": 2, "time_limit": 120})
    Q.time_limit(args.time_limit)
    res = {"jobs": args.jobs, "packages": args.packages, "clients": args.clients,
           "run_s": args.run_s}
    with L.World(keep=args.keep, need_pypi=False, need_npm=False) as w:
        info = Q.header("bench_queue_rss: memory with 10,000 queued jobs", w.dir)
        mon = Q.LoadMonitor().start()
        art = w.dir / "art"
        art.mkdir()
        wheels = [Q.make_wheel(art, f"aos-bench-rss{k}", "1.0.0", args.kib)
                  for k in range(args.packages)]
        res["wheel_bytes"] = wheels[0].stat().st_size
        d = Q.daemon(w, {"bench": {"type": "pypi", "url": w.sink.url,
                                   "token_key": "PYPI_API_TOKEN"}})
        c = Q.Ctl(d.socket)
        res["mem_ready"] = Q.mem(d.pid)
        res["drain"] = c.call({"cmd": "drain"})

        # -- enqueue -------------------------------------------------------
        reqs = [Q.publish_req("bench", p) for p in wheels]
        t0 = time.monotonic()
        ok, rounds, errors, lat = 0, 0, [], []
        while ok < args.jobs and rounds < 20:
            r = Q.enqueue_load(d.socket, lambda i: reqs[(ok + i) % len(reqs)], args.clients,
                               count=args.jobs - ok, timeout_s=120)
            ok += r["ok"]
            errors += r["errors"]
            lat += r["latency_ms"]
            rounds += 1
        enq_s = time.monotonic() - t0
        res["enqueue"] = {"ok": ok, "seconds": enq_s, "jobs_per_s": ok / enq_s,
                          "rounds": rounds, "n_errors": len(errors),
                          "distinct_errors": sorted(set(errors))[:5],
                          "latency": Q.summary(lat)}
        Q.log(f"  enqueued {ok} jobs in {enq_s:.1f} s ({ok / enq_s:.0f}/s), "
              f"{len(errors)} refused and sent again")

        # -- 10,000 queued ---------------------------------------------------
        time.sleep(1.0)
        res["mem_queued"] = Q.mem(d.pid)
        res["sizes_queued"] = Q.state_sizes(d)
        res["status_ms"], st = timed_calls(c, {"cmd": "status"}, args.calls)
        res["depth_queued"] = depth_total(st)
        t = time.monotonic_ns()
        p = subprocess.run([str(B.PUBLISHCTL), "--socket", str(d.socket), "--json", "status"],
                           capture_output=True, timeout=60, env={"PATH": B.CLEAN_PATH})
        res["status_cli_ms"] = Q.ms(time.monotonic_ns() - t)
        res["status_cli_rc"] = p.returncode
        res["jobs_ms"], _ = timed_calls(c, {"cmd": "jobs"}, args.calls)
        res["jobs_queued_1000_ms"], ans = timed_calls(
            c, {"cmd": "jobs", "state": "queued", "limit": 1000}, max(3, args.calls // 3))
        res["jobs_queued_1000_count"] = len(ans.get("jobs", []))
        mid = (ans.get("jobs") or [{"id": 1}])[-1]["id"]
        res["job_show_ms"], _ = timed_calls(c, {"cmd": "job.show", "id": mid}, args.calls)
        res["mem_after_calls"] = Q.mem(d.pid)
        Q.log(f"  {sum(res['depth_queued'].values())} jobs in the database; VmRSS "
              f"{res['mem_queued']['VmRSS_kB'] / 1024:.1f} MiB, VmHWM "
              f"{res['mem_queued']['VmHWM_kB'] / 1024:.1f} MiB; status p50 "
              f"{res['status_ms']['p50']:.2f} ms")

        # -- run -------------------------------------------------------------
        w.sink.take_stats()
        res["resume"] = c.call({"cmd": "resume"})
        t0 = time.monotonic()
        samples, status_lat, done = [], [], 0
        next_status = 0.0
        while True:
            el = time.monotonic() - t0
            if el >= args.run_s:
                break
            s = {"t": el, **Q.mem(d.pid), "done": None}
            if el >= next_status:
                ans, a0, a1 = c.timed({"cmd": "status"})
                status_lat.append(Q.ms(a1 - a0))
                dep = depth_total(ans)
                s["done"] = dep.get("succeeded", 0)
                s["depth"] = dep
                s["running"] = len((ans.get("queue") or {}).get("running", []))
                next_status += 2.0
            samples.append(s)
            time.sleep(0.5)
        run_s = time.monotonic() - t0
        ans = c.call({"cmd": "status"})
        res["depth_end"] = depth_total(ans)
        res["mem_end"] = Q.mem(d.pid)
        posts = [s for s in w.sink.take_stats() if s["method"] == "POST"]
        res["run"] = {"seconds": run_s, "succeeded": res["depth_end"].get("succeeded", 0),
                      "sink_posts": len(posts),
                      "jobs_per_s": res["depth_end"].get("succeeded", 0) / run_s,
                      "status_ms": Q.summary(status_lat),
                      "rss_min_kB": min(s["VmRSS_kB"] for s in samples),
                      "rss_max_kB": max(s["VmRSS_kB"] for s in samples),
                      "slope_kib_per_1000_jobs": slope_kib_per_1000(samples),
                      "samples": samples}
        Q.log(f"  ran {res['run']['succeeded']} jobs in {run_s:.1f} s; VmRSS "
              f"{res['run']['rss_min_kB'] / 1024:.1f}-{res['run']['rss_max_kB'] / 1024:.1f} MiB, "
              f"VmHWM {res['mem_end']['VmHWM_kB'] / 1024:.1f} MiB")
        res["sizes_end"] = Q.state_sizes(d)
        c.close()

        # -- restart with the full database ------------------------------------
        # Drained and stopped, then started again on the same files: time to
        # READY=1 (the schema check and PRAGMA integrity_check read the whole
        # database) against the first start on an empty one.  The jobs left
        # start running again at once; the memory is read at READY=1.
        c = Q.Ctl(d.socket)
        c.call({"cmd": "drain"})
        c.close()
        res["first_start_s"] = d.start_s
        res["stop_rc"] = d.stop(expect_rc=None, timeout=60)
        n0 = len(d.notify.messages)  # notify message index
        t0 = time.monotonic()
        d.start(wait_ready=False, snapshot_at_ready=False)
        d.wait_ready(start=n0)
        res["restart_s"] = time.monotonic() - t0
        res["mem_restart"] = Q.mem(d.pid)
        c = Q.Ctl(d.socket)
        res["status_restart_ms"], st = timed_calls(c, {"cmd": "status"}, 5)
        res["depth_restart"] = depth_total(st)
        c.close()
        Q.log(f"  restart with {sum(res['depth_restart'].values())} jobs in the database: "
              f"READY after {res['restart_s'] * 1000:.0f} ms (first start "
              f"{res['first_start_s'] * 1000:.0f} ms)")
        res["daemon_exit"] = Q.stop_daemon(w, d)
        txt = d.log_path.read_text(errors="replace").splitlines()
        res["log_warnings"] = [ln for ln in txt if " warning: " in ln or " err: " in ln][:20]
        res["log_lines"] = len(txt)
        res["load"] = mon.stop()
    info["load_after"] = " ".join(open("/proc/loadavg").read().split()[:3])
    res["info"] = info
    B.write_result(args.json, res)
    print(report(res))
    return 0


def mib(kb) -> str:
    return f"{kb / 1024:.1f}"


def report(r: dict) -> str:
    mq, mr, me = r["mem_queued"], r["mem_ready"], r["mem_end"]
    run = r["run"]
    sq, se = r["sizes_queued"], r["sizes_end"]
    e = r["enqueue"]
    met_q = mq["VmHWM_kB"] <= TARGET_KIB
    met_run = me["VmHWM_kB"] <= TARGET_KIB
    rows = [
        ["at READY=1, empty queue", mib(mr["VmRSS_kB"]), mib(mr["VmHWM_kB"]),
         mib(mr["RssAnon_kB"]), mib(mr["RssFile_kB"]), mr["Threads"]],
        [f"{sum(r['depth_queued'].values())} jobs queued (drained)", mib(mq["VmRSS_kB"]),
         mib(mq["VmHWM_kB"]), mib(mq["RssAnon_kB"]), mib(mq["RssFile_kB"]), mq["Threads"]],
        ["after the status/jobs/job.show calls", mib(r["mem_after_calls"]["VmRSS_kB"]),
         mib(r["mem_after_calls"]["VmHWM_kB"]), mib(r["mem_after_calls"]["RssAnon_kB"]),
         mib(r["mem_after_calls"]["RssFile_kB"]), r["mem_after_calls"]["Threads"]],
        [f"after running {run['seconds']:.0f} s ({run['succeeded']} jobs done)",
         mib(me["VmRSS_kB"]), mib(me["VmHWM_kB"]), mib(me["RssAnon_kB"]),
         mib(me["RssFile_kB"]), me["Threads"]],
    ]
    slope = run["slope_kib_per_1000_jobs"]
    lines = [
        f"{r['jobs']} jobs, each one wheel of {r['wheel_bytes'] / 1024:.1f} KiB "
        f"({r['packages']} package names in turn), enqueued from {r['clients']} "
        f"connection(s) in {e['seconds']:.1f} s ({e['jobs_per_s']:.0f} jobs/s, enqueue "
        f"latency p50 {e['latency']['p50']:.2f} ms, p99 {e['latency']['p99']:.2f} ms; "
        f"{e['n_errors']} requests refused and sent again"
        + (f": {e['distinct_errors'][:2]}" if e["distinct_errors"] else "") + ").\n",
        "aos-publishd memory (/proc/PID/status, MiB):\n",
        L.table(rows, ["when", "VmRSS", "VmHWM", "RssAnon", "RssFile", "threads"]),
        "",
        f"Target VmRSS/VmHWM <= 32 MiB with {r['jobs']} queued jobs: VmHWM "
        f"{mib(mq['VmHWM_kB'])} MiB ({'met' if met_q else 'NOT met'}); while running, "
        f"VmRSS {mib(run['rss_min_kB'])} to {mib(run['rss_max_kB'])} MiB, VmHWM at the end "
        f"{mib(me['VmHWM_kB'])} MiB ({'met' if met_run else 'NOT met'}).",
        "",
        f"On disk with {r['jobs']} queued: queue.db {sq['queue.db'] / Q.MIB:.1f} MiB, WAL "
        f"{sq['queue.db-wal'] / Q.MIB:.1f} MiB, -shm {sq['queue.db-shm'] / 1024:.0f} KiB; "
        f"spool {sq['spool_bytes_on_disk'] / Q.MIB:.1f} MiB in {sq['spool_files']} files. "
        f"After the run: queue.db {se['queue.db'] / Q.MIB:.1f} MiB, WAL "
        f"{se['queue.db-wal'] / Q.MIB:.1f} MiB, spool {se['spool_bytes_on_disk'] / Q.MIB:.1f} MiB "
        f"in {se['spool_files']} files.",
        "",
        L.table([
            [f"`status` ({r['jobs']} queued)", r["status_ms"]["n"], Q.fmt(r["status_ms"]["p50"]),
             Q.fmt(r["status_ms"]["p99"]), Q.fmt(r["status_ms"]["max"])],
            ["`aos-publishctl --json status` (spawn to exit)", 1, Q.fmt(r["status_cli_ms"]),
             "", ""],
            ["`jobs` (limit 50)", r["jobs_ms"]["n"], Q.fmt(r["jobs_ms"]["p50"]),
             Q.fmt(r["jobs_ms"]["p99"]), Q.fmt(r["jobs_ms"]["max"])],
            [f"`jobs` state queued, limit 1000 ({r['jobs_queued_1000_count']} returned)",
             r["jobs_queued_1000_ms"]["n"], Q.fmt(r["jobs_queued_1000_ms"]["p50"]),
             Q.fmt(r["jobs_queued_1000_ms"]["p99"]), Q.fmt(r["jobs_queued_1000_ms"]["max"])],
            ["`job.show`", r["job_show_ms"]["n"], Q.fmt(r["job_show_ms"]["p50"]),
             Q.fmt(r["job_show_ms"]["p99"]), Q.fmt(r["job_show_ms"]["max"])],
            ["`status` while the jobs run", run["status_ms"]["n"],
             Q.fmt(run["status_ms"]["p50"]), Q.fmt(run["status_ms"]["p99"]),
             Q.fmt(run["status_ms"]["max"])],
        ], ["request", "n", "p50 ms", "p99 ms", "max ms"]),
        "",
        f"Restart with {sum(r['depth_restart'].values())} jobs in the database "
        f"(queue.db {se['queue.db'] / Q.MIB:.1f} MiB): spawn to READY=1 "
        f"{r['restart_s'] * 1000:.0f} ms, against {r['first_start_s'] * 1000:.0f} ms for the "
        f"first start on an empty database (both include the Vault login); VmRSS at READY "
        f"{mib(r['mem_restart']['VmRSS_kB'])} MiB.",
        "",
        f"Run: {run['succeeded']} jobs succeeded in {run['seconds']:.1f} s "
        f"({run['jobs_per_s']:.0f} jobs/s; the sink saw {run['sink_posts']} uploads); depth "
        f"at the end {r['depth_end']}. VmRSS growth while running: "
        + (f"{slope:.0f} KiB per 1,000 jobs run" if slope is not None else "n/a")
        + f". Daemon exit {r['daemon_exit']}; {r['log_lines']} log lines"
        + (f"; warnings: {r['log_warnings'][:3]}" if r["log_warnings"] else "; no warnings")
        + ".",
        "",
        "VmRSS while running (s: MiB, jobs done): " + ", ".join(
            f"{s['t']:.0f}: {mib(s['VmRSS_kB'])}"
            + (f" ({s['done']})" if s["done"] is not None else "")
            for s in run["samples"] if s["done"] is not None),
        "",
    ]
    lines += Q.machine_lines(r["info"], r["load"])
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    B.run(main)
