#!/usr/bin/env python3
"""Queue benchmark 2: scheduling overhead, from enqueue to the first upload
byte at a local registry.

The registry is bench_queue_sink.py (loopback, its own process): it notes
the CLOCK_MONOTONIC time at which each request's first byte, end of
headers and first body byte arrive, and prints them as soon as it has
answered (200 OK).  This script, on the same clock, sends one publish
request on the control socket (`"wait": false`, a new ~20 KiB wheel each
time, distinct versions so each POST is matched to its job by file name),
notes when the request was sent and when the acknowledgement (the job id,
sent after the commit) was read, waits for the sink's record of the POST,
then for the job to be `succeeded` (job.show, polled only after the POST
has arrived), pauses a random --gap-ms (default 10 to 30 ms: publishes
come now and then, the daemon is idle in between), and sends the next: one
job at a time (resumed, not drained; default queue settings).  Then
--b2b-jobs more (default 100) back to back, without the pause: the same
path with warm threads and caches.

Reported, p50/p99/max over --jobs jobs (the first --warmup not counted:
the first one also opens the TCP connection to the sink):

  ack -> first byte       what the queue adds after the client has its job
                          id: worker kick, claim (a write transaction),
                          loading the job, re-inspecting the spooled file on
                          the thread pool, marking the upload SENDING (a
                          write transaction), then libcurl's request
  send -> first byte      the whole path: + spool copy, fsync, inspection,
                          the job's commit, the acknowledgement
  send -> ack             the enqueue alone (as in bench_queue_enqueue.py)
  ack -> first body byte  the same with the request headers included

The "first byte" is the first byte of the HTTP request (the request line).
Target (issue 4): p99 of enqueue to first upload byte at most 5 ms with the
registry local; the report gives both readings (from the ack, and from
sending the request).  Nothing is asserted.

Usage: .venv/bin/python tests/bench/bench_queue_sched.py [--jobs 500]
           [--warmup 5] [--kib 20] [--gap-ms 10,30] [--b2b-jobs 100] [--seed N]
           [--queue-dir DIR] [--json FILE] [--keep] [--time-limit 600]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_queue_lib as Q  # noqa: E402

L, B = Q.L, Q.B
NAME = "aos-bench-sched"
TARGET_P99_MS = 5.0


def wait_state(c: Q.Ctl, job_id: int, want: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        j = c.call({"cmd": "job.show", "id": job_id})
        st = j.get("job", {}).get("state")
        if st == want:
            return j
        if st in ("dead", "canceled") or time.monotonic() > deadline:
            raise B.BenchError(f"job {job_id}: state {st}, not {want}: {j}")
        time.sleep(0.002)


def phase(c: Q.Ctl, sink: Q.TimestampSink, wheels: list[Path], gap_ms, rnd) -> list[dict]:
    """One job at a time: enqueue, wait for its POST at the sink, wait for
    it to succeed, pause."""
    recs = []
    for i, wh in enumerate(wheels):
        ans, t_send, t_ack = c.timed(Q.publish_req("bench", wh))
        if not ans.get("ok"):
            raise B.BenchError(f"enqueue {i}: {ans}")
        post = None
        while post is None:
            r = sink.get(timeout=30)
            if r["method"] == "POST":
                post = r
        if post["filename"] != wh.name:
            raise B.BenchError(f"job {ans['job_id']}: the sink got {post['filename']}, "
                               f"not {wh.name}")
        wait_state(c, ans["job_id"], "succeeded")
        recs.append({"i": i, "job_id": ans["job_id"], "t_send": t_send, "t_ack": t_ack,
                     "t_first": post["t_first_ns"], "t_body": post["t_body_first_ns"],
                     "t_end": post["t_body_end_ns"], "conn": post["conn"],
                     "conn_req": post["conn_req"], "new_conn": post["conn_req"] == 1,
                     "t_accept": post["t_accept_ns"], "bytes": post["bytes"],
                     "expect": post["expect"]})
        if gap_ms[1] > 0:
            time.sleep(rnd.uniform(*gap_ms) / 1000.0)
    return recs


def run(w, sink: Q.TimestampSink, wheels: list[Path], b2b: list[Path], gap_ms, rnd,
        queue_cfg: dict | None = None) -> dict:
    d = Q.daemon(w, {"bench": {"type": "pypi", "url": sink.url,
                               "token_key": "PYPI_API_TOKEN"}}, queue=queue_cfg)
    c = Q.Ctl(d.socket)
    mark = (time.monotonic(), Q.cpu_times())
    recs = phase(c, sink, wheels, gap_ms, rnd)
    busy = Q.LoadMonitor.busy_since(mark)
    recs_b2b = phase(c, sink, b2b, (0, 0), rnd) if b2b else []
    # For scale: the inspection alone (a dry run inspects the file on the
    # thread pool and answers, nothing queued) and a bare round trip.
    dry, rt = [], []
    for wh in wheels[:50]:
        t0 = c.send(Q.publish_req("bench", wh, dry_run=True))
        while True:
            ans, t1 = c.recv()
            if "ok" in ans and "event" not in ans:
                break
        if ans.get("outcome") != "dry-run":
            raise B.BenchError(f"dry run: {ans}")
        dry.append(Q.ms(t1 - t0))
        ans, t0, t1 = c.timed({"cmd": "status"})
        rt.append(Q.ms(t1 - t0))
    others = sink.drain()
    mem = Q.mem(d.pid)
    c.close()
    rc = Q.stop_daemon(w, d)
    logtxt = d.log_path.read_text(errors="replace").splitlines()
    return {"records": recs, "records_b2b": recs_b2b, "machine_cpu_busy": busy,
            "dry_run_ms": Q.summary(dry), "status_ms": Q.summary(rt), "mem_end": mem,
            "daemon_exit": rc,
            "other_requests": [{k: r[k] for k in ("method", "path", "bytes")} for r in others],
            "log_warnings": [ln for ln in logtxt if " warning: " in ln or " err: " in ln][:20]}


def analyse(recs: list[dict], warmup: int) -> dict:
    m = recs[warmup:]

    def s(f):
        return Q.summary([Q.ms(f(r)) for r in m])
    out = {
        "ack_to_first_byte": s(lambda r: r["t_first"] - r["t_ack"]),
        "send_to_first_byte": s(lambda r: r["t_first"] - r["t_send"]),
        "send_to_ack": s(lambda r: r["t_ack"] - r["t_send"]),
        "ack_to_first_body_byte": s(lambda r: r["t_body"] - r["t_ack"]),
        "first_byte_to_body_end": s(lambda r: r["t_end"] - r["t_first"]),
        "new_connections": sum(1 for r in m if r["new_conn"]),
        "expect_sent": sum(1 for r in m if r["expect"]),
        "warmup": [{"ack_to_first_byte_ms": Q.ms(r["t_first"] - r["t_ack"]),
                    "send_to_first_byte_ms": Q.ms(r["t_first"] - r["t_send"]),
                    "new_conn": r["new_conn"]} for r in recs[:warmup]],
    }
    for k in ("ack_to_first_byte", "send_to_first_byte"):
        v = [Q.ms(r["t_first"] - (r["t_ack"] if k.startswith("ack") else r["t_send"]))
             for r in m]
        out[k]["over_5ms"] = sum(1 for x in v if x > TARGET_P99_MS)
    return out


def interval_table(a: dict) -> str:
    rows = []
    for key, label in (("ack_to_first_byte", "ack -> first request byte"),
                       ("ack_to_first_body_byte", "ack -> first body byte"),
                       ("send_to_ack", "request sent -> ack (enqueue)"),
                       ("send_to_first_byte", "request sent -> first request byte"),
                       ("first_byte_to_body_end", "first request byte -> last body byte")):
        x = a[key]
        rows.append([label, x["n"], Q.fmt(x["p50"]), Q.fmt(x["p90"]), Q.fmt(x["p99"]),
                     Q.fmt(x["max"]), x.get("over_5ms", "")])
    return L.table(rows, ["interval", "n", "p50 ms", "p90 ms", "p99 ms", "max ms",
                          "samples > 5 ms"])


def report(res: dict) -> str:
    a = res["analysis"]
    p99a, p99s = a["ack_to_first_byte"]["p99"], a["send_to_first_byte"]["p99"]
    lines = [f"{res['jobs'] + res['warmup']} jobs one after the other (the first {res['warmup']} not counted), "
             f"wheels of {res['wheel_bytes'] / 1024:.1f} KiB, a pause of "
             f"{res['gap_ms'][0]:.0f}-{res['gap_ms'][1]:.0f} ms after each job ended.\n",
             interval_table(a),
             "",
             f"Target p99 <= {TARGET_P99_MS:.0f} ms: from the ack {p99a:.2f} ms "
             f"({'met' if p99a <= TARGET_P99_MS else 'NOT met'}); from sending the request "
             f"{p99s:.2f} ms ({'met' if p99s <= TARGET_P99_MS else 'NOT met'}).",
             f"New TCP connections to the sink among the measured jobs: "
             f"{a['new_connections']}; requests with `Expect:`: {a['expect_sent']}. "
             f"Warm-up jobs: " + ", ".join(
                 f"{x['ack_to_first_byte_ms']:.2f} / {x['send_to_first_byte_ms']:.2f} ms"
                 f"{' (new connection)' if x['new_conn'] else ''}" for x in a["warmup"]) + ".",
             ] + ([
             "",
             f"Back to back ({len(res['run']['records_b2b'])} more jobs on the same daemon, the "
             "next request sent as soon as the previous job succeeded, no pause):",
             "",
             interval_table(res["analysis_b2b"]),
             "",
             f"From the ack p99 {res['analysis_b2b']['ack_to_first_byte']['p99']:.2f} ms, from "
             f"sending the request p99 {res['analysis_b2b']['send_to_first_byte']['p99']:.2f} ms.",
             ""] if res.get("analysis_b2b") else [""]) + [
             f"For scale, on the same connection: a dry run of the same kind of wheel (the "
             f"inspection on the thread pool, the plan, no commit) p50 "
             f"{res['run']['dry_run_ms']['p50']:.2f} ms, p99 {res['run']['dry_run_ms']['p99']:.2f} ms;"
             f" a `status` round trip p50 {res['run']['status_ms']['p50']:.2f} ms.",
             f"Other requests the sink saw: {len(res['run']['other_requests'])}; daemon VmHWM "
             f"{res['run']['mem_end']['VmHWM_kB'] / 1024:.1f} MiB; exit {res['run']['daemon_exit']}."
             + (f" Log warnings: {res['run']['log_warnings'][:3]}" if res["run"]["log_warnings"]
                else ""),
             ""]
    lines += Q.machine_lines(res["info"], res["load"])
    if res["info"].get("queue_dir"):
        lines.append(f"- queue.db and spool NOT in the state folder but in {res['info']['queue_dir']}")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--kib", type=float, default=20)
    ap.add_argument("--gap-ms", default="10,30")
    ap.add_argument("--b2b-jobs", type=int, default=100)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--queue-dir", help="put queue.db and the spool in a new folder under "
                    "DIR (e.g. /dev/shm, to see what the disk's syncs cost); default: the "
                    "daemon's state folder")
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--time-limit", type=float, default=600)
    args = B.parse_args(ap, smoke={"jobs": 4, "warmup": 1, "kib": 2, "gap_ms": "10,10",
                                    "b2b_jobs": 3, "time_limit": 120})
    Q.time_limit(args.time_limit)
    gap = tuple(float(x) for x in args.gap_ms.split(","))
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rnd = random.Random(seed)
    sink = None
    cleanup: list[Path] = []
    with L.World(keep=args.keep, need_pypi=False, need_npm=False) as w:
        try:
            info = Q.header("bench_queue_sched: enqueue to the first upload byte", w.dir)
            art = w.dir / "art"
            art.mkdir()
            n = args.jobs + args.warmup
            wheels = [Q.make_wheel(art, NAME, f"1.0.{i}", args.kib) for i in range(n)]
            b2b = [Q.make_wheel(art, NAME, f"2.0.{i}", args.kib) for i in range(args.b2b_jobs)]
            wheel_bytes = wheels[0].stat().st_size
            sink = Q.TimestampSink(w.dir).start()
            mon = Q.LoadMonitor().start()
            qcfg = None
            if args.queue_dir:
                import tempfile
                qd = Path(tempfile.mkdtemp(prefix="aosq-", dir=args.queue_dir))
                cleanup.append(qd)
                qcfg = {"path": str(qd / "queue.db"), "spool_dir": str(qd / "spool")}
                info["queue_dir"] = f"{qd} ({Q.fs_of(qd)})"
            r = run(w, sink, wheels, b2b, gap, rnd, qcfg)
            load = mon.stop()
        finally:
            if sink:
                sink.stop()
            import shutil
            for p in cleanup:
                shutil.rmtree(p, ignore_errors=True)
    info["load_after"] = " ".join(open("/proc/loadavg").read().split()[:3])
    res = {"info": info, "load": load, "jobs": args.jobs, "warmup": args.warmup,
           "seed": seed, "gap_ms": gap, "wheel_bytes": wheel_bytes,
           "run": r, "analysis": analyse(r["records"], args.warmup),
           "analysis_b2b": analyse(r["records_b2b"], 0) if r["records_b2b"] else None}
    B.write_result(args.json, res)
    print(report(res))
    return 0


if __name__ == "__main__":
    B.run(main)
