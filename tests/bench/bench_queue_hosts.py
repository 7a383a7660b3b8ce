#!/usr/bin/env python3
"""Queue benchmark (issue 17): jobs per second from enqueue to succeeded,
the claim latency, and the takeover after a host is killed, for
aos-publishd's queue beside a peer PostgreSQL job queue, procrastinate
(tests/bench/bench_peer_procrastinate.py), on the same machine, the same
registry and the same PostgreSQL in the same run.

The registry is bench_queue_sink.py (loopback, its own process): it reads
each upload and notes when its first byte arrived (CLOCK_MONOTONIC, the
clock of this script).  Each job uploads one ~20 KiB wheel of its own (a
distinct name per --packages and version per job, so the sink's record
names its job).  PostgreSQL runs with fsync on (tests/peers/postgres.py),
as SQLite's queue syncs its commits.

  throughput   --jobs jobs enqueued as fast as they are acknowledged (4
               clients; a job counts as enqueued once committed), then the
               time until every one has succeeded: jobs / (last succeeded
               - first sent).  aos-publishd: one daemon on SQLite (its
               per-registry limit 2), then --daemons 1, 2 and 3 daemons on
               the PostgreSQL (bench_queue_pgd.py; each row adds a daemon;
               the jobs round robin over their control sockets);
               procrastinate: 1, 2 and 3 worker processes, 2 jobs at once
               each, one running job per package (its `lock`).
  claim        --claim-jobs jobs one at a time, 10-30 ms apart: from the
               acknowledgement (the daemon's job id; procrastinate's
               defer() returning) to the upload's first byte at the sink;
               for the daemons on PostgreSQL with the fewest and the most
               daemons (round robin).
  takeover     a worker holding a job is SIGKILLed while another worker
               runs: the time from the kill to the job's upload starting
               again.  aos-publishd on PostgreSQL: daemon A's upload is
               held by the sink (--hang-first), daemon B listens, A is
               killed and its spool removed (its host is gone): B claims
               the job when A's lease (--lease-s, queue.lease_s, 30 by
               default) has run out.  procrastinate (not with --smoke) as
               shipped (nothing retries a dead worker's job: waited
               --takeover-wait s) and with the recovery its documentation
               gives (a periodic task).

--smoke: 6 jobs, 1 and 2 daemons, the daemons' takeover with a 2 s lease;
procrastinate's takeover is left out (minutes).

Usage: .venv/bin/python tests/bench/bench_queue_hosts.py [--jobs 300]
           [--claim-jobs 50] [--packages 16] [--workers 1,2,3]
           [--daemons 1,2,3] [--lease-s 30] [--takeover-wait 120]
           [--no-takeover] [--json FILE] [--keep] [--smoke]
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import bench_queue_lib as Q  # noqa: E402
import bench_queue_pgd as PGD  # noqa: E402
from peers.postgres import Postgres  # noqa: E402

L, B = Q.L, Q.B
PEER = HERE / "bench_peer_procrastinate.py"
NAME = "aos-bench-hosts"
HANG = "hang"  # the wheel tag whose first upload the sink holds (takeover)


# -- the wheels and the sink ------------------------------------------------------

def wheels(folder: Path, tag: str, n: int, packages: int, kib: float) -> list[Path]:
    folder.mkdir(exist_ok=True)
    return [Q.make_wheel(folder, f"{NAME}-{tag}{i % packages}", f"1.0.{i}", kib)
            for i in range(n)]


def wait_posts(sink: Q.TimestampSink, names: set[str], timeout: float) -> dict[str, dict]:
    """The sink's first POST record of each file name in names."""
    got: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    while len(got) < len(names):
        r = sink.get(timeout=max(0.1, deadline - time.monotonic()))
        if r["method"] == "POST" and r["filename"] in names and r["filename"] not in got:
            got[r["filename"]] = r
    return got


def wait_done(who: str, counts, n: int, base: int = 0) -> int:
    """Polls counts() (state -> jobs) every 5 ms until n more jobs than
    base succeeded; returns the time (monotonic ns)."""
    deadline = time.monotonic() + 300
    while True:
        c = counts()
        if c.get("succeeded", 0) - base >= n:
            return time.monotonic_ns()
        if c.get("failed", 0) or c.get("dead", 0) or time.monotonic() > deadline:
            raise B.BenchError(f"{who}: not every job succeeded: {c}")
        time.sleep(0.005)


def rate(n: int, t0: int, t1: int) -> dict:
    return {"jobs": n, "wall_s": (t1 - t0) / 1e9, "jobs_per_s": n / ((t1 - t0) / 1e9)}


def claim_loop(sink, whls: list[Path], rnd, enqueue) -> list[float]:
    """One job at a time, 10-30 ms apart: enqueue(wheel) returns the time
    of its acknowledgement; ms from it to the upload's first byte."""
    out = []
    for wh in whls:
        t_ack = enqueue(wh)
        post = wait_posts(sink, {wh.name}, 30)[wh.name]
        out.append(Q.ms(post["t_first_ns"] - t_ack))
        time.sleep(rnd.uniform(0.010, 0.030))
    return out


# -- aos-publishd -------------------------------------------------------------------

def load_run(who: str, sockets, counts, sink, whls: list[Path], cpu) -> dict:
    """Every wheel enqueued by 4 clients (round robin over the daemons'
    sockets), then until all have succeeded; cpu: a PGD.CpuMeter."""
    base = counts().get("succeeded", 0)
    cpu.start()
    t0 = time.monotonic_ns()
    load = Q.enqueue_load(sockets, lambda i: Q.publish_req("bench", whls[i]), clients=4,
                          count=len(whls), timeout_s=120)
    if load["errors"]:
        raise B.BenchError(f"{who} enqueue: {load['errors'][:3]}")
    t1 = wait_done(who, counts, len(whls), base)
    used = cpu.stop(len(whls))
    sink.drain()
    return {**rate(len(whls), t0, t1), "enqueue_wall_s": load["wall_s"],
            "cpu_ms_per_job": used}


def daemon_throughput(w, sink, whls: list[Path]) -> dict:
    d = Q.daemon(w, {"bench": {"type": "pypi", "url": sink.url,
                               "token_key": "PYPI_API_TOKEN"}})
    c = Q.Ctl(d.socket)
    r = load_run("aos-publishd", d.socket, lambda: PGD.counts_of(c), sink, whls,
                 PGD.CpuMeter({"queue": lambda: [d.proc.pid]}))
    c.close()
    return {"d": d, **r}


def daemon_claim(sockets, sink, whls: list[Path], rnd) -> list[float]:
    """One job at a time, round robin over the daemons."""
    cs = [Q.Ctl(s) for s in sockets]
    n = 0

    def enqueue(wh):
        nonlocal n
        ans, _, t_ack = cs[n % len(cs)].timed(Q.publish_req("bench", wh))
        n += 1
        if not ans.get("ok"):
            raise B.BenchError(f"aos-publishd enqueue: {ans}")
        return t_ack
    out = claim_loop(sink, whls, rnd, enqueue)
    for c in cs:
        c.close()
    return out


def daemons_pg(w, pg, sink, args, rnd, res: dict) -> None:
    """For each --per-registry limit: 1, 2, 3 daemons on PostgreSQL (each
    row adds one), the claim with the fewest and the most (first limit
    only); then the takeover by lease.  Rows in res["pg"]."""
    art = w.dir / "art"
    for k, limit in enumerate(args.per_registry):
        pgd = PGD.PgDaemons(w, pg, sink, tag=f"pg{limit}",
                            queue={"per_registry_concurrency": limit})
        try:
            for n in args.daemons:
                pgd.up_to(n)
                Q.log(f"aos-publishd on PostgreSQL, {n} daemon(s), limit {limit}: throughput")
                before, st0 = pgd.ran(), PGD.pg_stats(pg)
                cpu = PGD.CpuMeter({"queue": lambda: [d.proc.pid for d in pgd.daemons],
                                    "postgres": lambda: PGD.postmaster(pg)})
                row = load_run(f"aos-publishd x{n}", pgd.sockets, pgd.counts, sink,
                               wheels(art, f"g{limit}-{n}-", args.jobs, args.packages,
                                      args.kib), cpu)
                row.update(daemons=n, limit=limit,
                           ran_by=[(b[0] - a[0], b[1] - a[1])
                                   for a, b in zip(before, pgd.ran())],
                           **PGD.per_job(st0, PGD.pg_stats(pg), args.jobs))
                if k == 0 and n in (args.daemons[0], args.daemons[-1]):
                    Q.log(f"aos-publishd on PostgreSQL, {n} daemon(s): claim latency")
                    row["claim_ms"] = daemon_claim(
                        pgd.sockets, sink,
                        wheels(art, f"gc{n}-", args.claim_jobs, args.packages, args.kib),
                        rnd)
                res["pg"].append(row)
        finally:
            pgd.stop()
    if args.takeover:
        Q.log(f"aos-publishd on PostgreSQL: takeover, lease {args.lease_s} s")
        wh = wheels(art, HANG, 1, 1, args.kib)[0]
        res["pg_takeover"] = PGD.takeover(w, pg, sink, wh, args.lease_s, wait_posts)


# -- procrastinate ------------------------------------------------------------------

class Peer:
    """procrastinate's side: the app (for defer and counts) and its worker
    processes."""

    def __init__(self, pg: Postgres, sink: Q.TimestampSink, workdir: Path):
        self.env = dict(os.environ, AOS_PEER_PG=pg.conninfo, AOS_PEER_SINK=sink.url)
        self.workdir = workdir
        self.workers: list[subprocess.Popen] = []
        os.environ["AOS_PEER_PG"] = self.env["AOS_PEER_PG"]  # read at import
        sys.path.insert(0, str(HERE))
        import bench_peer_procrastinate as P
        self.P = P
        subprocess.run([sys.executable, str(PEER), "schema"], env=self.env, check=True,
                       timeout=60)
        self.P.app.open()

    def start_worker(self, recover: bool = False, concurrency: int = 2) -> subprocess.Popen:
        log = open(self.workdir / f"peer-worker-{len(self.workers)}.log", "ab")
        argv = [sys.executable, str(PEER), "worker", "--concurrency", str(concurrency)]
        if recover:
            argv.append("--recover")
        p = subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=log, start_new_session=True)
        log.close()
        self.workers.append(p)
        return p

    def stop_workers(self) -> None:
        for p in self.workers:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.workers:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.workers = []

    def defer(self, task: str, wh: Path, package: str) -> int:
        return self.P.app.configure_task(task, lock=package).defer(
            path=str(wh), filename=wh.name)

    def sql(self):
        return self.P.app.connector.get_sync_connector()

    def counts(self, task: str = "upload") -> dict:
        rows = self.sql().execute_query_all(
            "SELECT status::text AS s, count(*) AS n FROM procrastinate_jobs "
            "WHERE task_name = %(t)s GROUP BY status", t=task)
        return {r["s"]: r["n"] for r in rows}

    def reset(self) -> None:
        self.sql().execute_query(
            "DELETE FROM procrastinate_events; DELETE FROM procrastinate_jobs")

    def close(self) -> None:
        self.stop_workers()
        self.P.app.close()


def peer_throughput(peer: Peer, pg, sink, whls: list[Path], workers: int) -> dict:
    peer.reset()
    for _ in range(workers):
        peer.start_worker()
    time.sleep(1.0)  # the workers are listening
    sink.drain()
    cpu = PGD.CpuMeter({"queue": lambda: [p.pid for p in peer.workers],
                        "postgres": lambda: PGD.postmaster(pg)}).start()
    t0 = time.monotonic_ns()
    errs = []

    def client(part):
        for wh in part:
            try:
                peer.defer("upload", wh, wh.name.split("-1.0.")[0])
            except Exception as e:  # noqa: BLE001 - reported
                errs.append(str(e))
    parts = [whls[i::4] for i in range(4)]
    ts = [threading.Thread(target=client, args=(p,)) for p in parts]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    t_enq = time.monotonic_ns()
    if errs:
        raise B.BenchError(f"procrastinate defer: {errs[:3]}")
    t1 = wait_done("procrastinate", peer.counts, len(whls))
    used = cpu.stop(len(whls))
    peer.stop_workers()
    sink.drain()
    return {"workers": workers, **rate(len(whls), t0, t1), "cpu_ms_per_job": used,
            "enqueue_wall_s": (t_enq - t0) / 1e9}


def peer_claim(peer: Peer, sink, whls: list[Path], rnd) -> list[float]:
    peer.reset()
    peer.start_worker()
    time.sleep(1.0)
    sink.drain()

    def enqueue(wh):
        peer.defer("upload", wh, wh.name.split("-1.0.")[0])
        return time.monotonic_ns()
    out = claim_loop(sink, whls, rnd, enqueue)
    peer.stop_workers()
    return out


def peer_takeover(peer: Peer, sink, wh: Path, recover: bool, wait_s: float) -> dict:
    """Worker A takes a job that uploads and then never ends; worker B runs;
    A is SIGKILLed: seconds until the job's upload starts again (None: not
    within wait_s)."""
    peer.reset()
    a = peer.start_worker(concurrency=1)
    time.sleep(1.0)
    sink.drain()
    peer.defer("hang", wh, "takeover")
    wait_posts(sink, {wh.name}, 30)
    peer.start_worker(recover=recover)
    time.sleep(2.0)  # B is listening (and its periodic deferrer runs)
    t_kill = time.monotonic_ns()
    os.kill(a.pid, signal.SIGKILL)
    a.wait()
    try:
        again = wait_posts(sink, {wh.name}, wait_s)[wh.name]
        took = (again["t_first_ns"] - t_kill) / 1e9
    except B.BenchError:
        took = None
    for p in peer.workers:
        if p.poll() is None:
            p.kill()
            p.wait()
    peer.workers = []
    return {"recover": recover, "seconds": took, "waited_s": wait_s}


# -- the run and its report ---------------------------------------------------------

def run(w, args, rnd) -> dict:
    res: dict = {"daemon": {}, "pg": [], "peer": {}, "takeover": []}
    art = w.dir / "art"
    sink = Q.TimestampSink(w.dir, hang_first=f"{NAME}-{HANG}".replace("-", "_")).start()
    pg = Postgres(w.dir, fsync=True)
    peer = None
    try:
        Q.log("aos-publishd on SQLite: throughput")
        t = daemon_throughput(w, sink, wheels(art, "d", args.jobs, args.packages, args.kib))
        d = t.pop("d")
        res["daemon"]["sqlite"] = t
        Q.log("aos-publishd on SQLite: claim latency")
        res["daemon"]["sqlite_claim_ms"] = daemon_claim(
            [d.socket], sink, wheels(art, "dc", args.claim_jobs, args.packages, args.kib),
            rnd)
        Q.stop_daemon(w, d)
        daemons_pg(w, pg, sink, args, rnd, res)
        peer = Peer(pg, sink, w.dir)
        for n in args.workers:
            Q.log(f"procrastinate, {n} worker(s): throughput")
            st0 = PGD.pg_stats(pg)
            res["peer"][n] = peer_throughput(
                peer, pg, sink, wheels(art, f"p{n}-", args.jobs, args.packages, args.kib), n)
            res["peer"][n].update(PGD.per_job(st0, PGD.pg_stats(pg), args.jobs))
        Q.log("procrastinate: claim latency")
        res["peer"]["claim_ms"] = peer_claim(
            peer, sink, wheels(art, "pc", args.claim_jobs, args.packages, args.kib), rnd)
        if args.peer_takeover:
            for recover in (False, True):
                Q.log(f"procrastinate: takeover, recovery task {recover}")
                wh = wheels(art, f"t{int(recover)}-", 1, 1, args.kib)[0]
                res["takeover"].append(peer_takeover(
                    peer, sink, wh, recover, args.takeover_wait if not recover else 150))
    finally:
        if peer is not None:
            peer.close()
        pg.stop()
        sink.stop()
    return res


def report(res: dict) -> str:
    def claim(v):
        s = Q.summary(v)
        return f"{Q.fmt(s['p50'])} / {Q.fmt(s['p99'])}"
    d, p = res["daemon"], res["peer"]
    out = [f"### Queue across hosts: {res['jobs']} jobs of {res['kib']} KiB, "
           f"{res['packages']} packages, one sink registry", "",
           "| queue | hosts | jobs/s (enqueue to succeeded) | wall s | "
           "claim: ack -> first byte, p50 / p99 ms | PostgreSQL: write transactions / "
           "WAL KiB per job | CPU ms per job: queue processes / PostgreSQL |",
           "|---|---|---|---|---|---|---|",
           f"| aos-publishd, SQLite | 1 | {d['sqlite']['jobs_per_s']:.1f} | "
           f"{d['sqlite']['wall_s']:.2f} | {claim(d['sqlite_claim_ms'])} | | "
           f"{d['sqlite']['cpu_ms_per_job']['queue']:.2f} / - |"]

    def db(r):
        c = r["cpu_ms_per_job"]
        return (f"{r['write_xacts_per_job']:.1f} / {r['wal_kib_per_job']:.1f} | "
                f"{c['queue']:.2f} / {c['postgres']:.2f}")
    for g in res["pg"]:
        c = claim(g["claim_ms"]) if "claim_ms" in g else ""
        out.append(f"| aos-publishd, PostgreSQL, per-registry limit {g['limit']} | "
                   f"{g['daemons']} | {g['jobs_per_s']:.1f} | {g['wall_s']:.2f} | {c} | "
                   f"{db(g)} |")
    for n in res["workers"]:
        c = claim(p["claim_ms"]) if n == 1 else ""
        out.append(f"| procrastinate 3.10, PostgreSQL | {n} | {p[n]['jobs_per_s']:.1f} | "
                   f"{p[n]['wall_s']:.2f} | {c} | {db(p[n])} |")
    ran = [f"{g['daemons']} (limit {g['limit']}): "
           + " / ".join(f"{r} ({f})" for r, f in g["ran_by"])
           for g in res["pg"] if g["daemons"] > 1]
    if ran:
        out += ["", "Jobs each daemon on PostgreSQL ran (in brackets: of them, jobs queued "
                "by another daemon, whose files it read from the database): "
                + "; ".join(ran)]
    if res["takeover"] or "pg_takeover" in res:
        out += ["", "| takeover after SIGKILL of the worker holding the job | seconds |",
                "|---|---|"]
        for t in res["takeover"]:
            what = ("procrastinate with the documented recovery task (every minute, "
                    "heartbeat older than 30 s)" if t["recover"] else
                    "procrastinate as shipped")
            s = (f"{t['seconds']:.1f}" if t["seconds"] is not None
                 else f"not retried within {t['waited_s']:.0f} s")
            out.append(f"| {what} | {s} |")
    if "pg_takeover" in res:
        t = res["pg_takeover"]
        out.append(f"| aos-publishd on PostgreSQL, another daemon running (queue.lease_s "
                   f"{t['lease_s']}; A's upload began {t['upload_to_kill_s']:.1f} s before "
                   f"the kill) | {t['seconds']:.1f} |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=300)
    ap.add_argument("--claim-jobs", type=int, default=50)
    ap.add_argument("--packages", type=int, default=16)
    ap.add_argument("--kib", type=float, default=20)
    ap.add_argument("--workers", default="1,2,3")
    ap.add_argument("--daemons", default="1,2,3")
    ap.add_argument("--per-registry", default="2,6",
                    help="the daemons on PostgreSQL's queue.per_registry_concurrency, a "
                         "list: the daemon rows once for each (2: the default; the limit "
                         "holds for all daemons together)")
    ap.add_argument("--lease-s", type=int, default=30,
                    help="queue.lease_s of the takeover's daemons (the default: 30)")
    ap.add_argument("--takeover-wait", type=float, default=120)
    ap.add_argument("--no-takeover", dest="takeover", action="store_false")
    ap.set_defaults(peer_takeover=True)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--time-limit", type=float, default=1200)
    args = B.parse_args(ap, smoke={"jobs": 6, "claim_jobs": 2, "packages": 2, "kib": 2,
                                    "workers": "1", "daemons": "1,2", "per_registry": "2",
                                    "lease_s": 2, "peer_takeover": False,
                                    "time_limit": 300})
    args.peer_takeover = args.peer_takeover and args.takeover
    args.workers = [int(x) for x in str(args.workers).split(",")]
    args.daemons = [int(x) for x in str(args.daemons).split(",")]
    args.per_registry = [int(x) for x in str(args.per_registry).split(",")]
    Q.time_limit(args.time_limit)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    with L.World(keep=args.keep, need_pypi=False, need_npm=False) as w:
        info = Q.header("bench_queue_hosts: queue across hosts", w.dir)
        mon = Q.LoadMonitor().start()
        res = run(w, args, random.Random(seed))
        res["load"] = mon.stop()
    info["load_after"] = " ".join(open("/proc/loadavg").read().split()[:3])
    res.update({"info": info, "jobs": args.jobs, "kib": args.kib, "packages": args.packages,
                "workers": args.workers, "daemons": args.daemons,
                "per_registry": args.per_registry, "seed": seed,
                "load_after": info["load_after"]})
    B.write_result(args.json, res)
    print(report(res) + "\n\n" + "\n".join(Q.machine_lines(res["info"], res["load"])))
    return 0


if __name__ == "__main__":
    B.run(main)
