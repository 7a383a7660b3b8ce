"""aos-publishd on PostgreSQL for bench_queue_hosts.py (issue 17): one, two
or three daemons sharing one queue in the benchmark's PostgreSQL, and the
takeover of a killed daemon's job by lease.

Each daemon has its own state, runtime folder and control socket (the
World's Daemon gives them) and its own `queue.host_name`; all reach the
database as the login role "aos" of tests/peers/postgres.py with libpq's
own credentials: PGPASSFILE in the daemon's environment names the
server's passfile (the password is never in a config file, argv or the
environment).  The registries: "bench", the benchmark's sink
(bench_queue_sink.py, whose --hang-first holds the first upload of the
takeover's file).  Nothing is asserted.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import bench_queue_lib as Q
from peers.postgres import PG_BINDIR

B = Q.B
SUCCEEDED = re.compile(r"notice: job \d+ succeeded$", re.M)
FETCHED = re.compile(r"info: job \d+: \d+ file\(s\) read from the queue's database")


def pg_queue(pg, host_name: str, lease_s: int | None = None) -> dict:
    """The daemon's queue section: PostgreSQL on loopback (sslmode disable
    is allowed there), the role and database of pg_run.sh."""
    q = {"backend": "postgresql", "host_name": host_name,
         "postgresql": {"host": "127.0.0.1", "port": int(pg.port), "database": "aos",
                        "user": "aos", "sslmode": "disable"}}
    if lease_s is not None:
        q["lease_s"] = lease_s
    return q


def pg_stats(pg) -> dict:
    """The server's transaction ids handed out so far (one per transaction
    that wrote) and its WAL position in bytes, read at once (the
    statistics views lag: backends report them up to seconds later)."""
    p = subprocess.run([str(PG_BINDIR / "psql"), "-X", "-q", "-A", "-t", "-F", " ",
                        "-h", pg.socket_dir, "-p", pg.port, "-U", "postgres", "-d", "aos",
                        "-c", "SELECT pg_snapshot_xmax(pg_current_snapshot()), "
                        "pg_current_wal_lsn() - '0/0'::pg_lsn"],
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise B.BenchError(f"psql: {p.stderr.strip()}")
    xids, wal = p.stdout.split()
    return {"write_xacts": int(xids), "wal_kib": int(wal) / 1024}


def per_job(before: dict, after: dict, jobs: int) -> dict:
    """pg_stats' growth per job (anything else the server ran meanwhile
    counts too: autovacuum, another client)."""
    return {f"{k}_per_job": (after[k] - before[k]) / jobs for k in before}


def cpu_s(roots: list[int]) -> float:
    """CPU seconds (user + system) used so far by the processes under roots
    (the roots included), with what they used of children they have
    reaped (PostgreSQL's exited backends, through the postmaster)."""
    snap = Q.proc_cpu(reaped=True)
    pids = set().union(*(Q.descendants(snap, r) for r in roots)) if roots else set()
    return sum(snap[p][2] for p in pids if p in snap) / os.sysconf("SC_CLK_TCK")


def postmaster(pg) -> list[int]:
    """The server's postmaster (pg_ctl leaves it outside pg_run.sh's
    process tree): the first line of its data folder's postmaster.pid."""
    return [int((Path(pg.socket_dir) / "data" / "postmaster.pid").read_text().split()[0])]


class CpuMeter:
    """CPU ms per job of named groups of processes between start() and
    stop(); groups: name -> function returning the root pids."""

    def __init__(self, groups: dict):
        self.groups = groups

    def start(self) -> "CpuMeter":
        self.t0 = {k: cpu_s(f()) for k, f in self.groups.items()}
        return self

    def stop(self, jobs: int) -> dict:
        return {k: (cpu_s(f()) - self.t0[k]) * 1000 / jobs for k, f in self.groups.items()}


def counts_of(c: Q.Ctl) -> dict:
    """The queue's jobs by state as a daemon's status shows them (on
    PostgreSQL: every host's jobs)."""
    return c.call({"cmd": "status"}).get("queue", {}).get("depth", {})


class PgDaemons:
    """The daemons on the benchmark's PostgreSQL; started one by one."""

    def __init__(self, w, pg, sink: Q.TimestampSink, tag: str = "pg",
                 lease_s: int | None = None, queue: dict | None = None):
        """queue: more settings of each daemon's queue section."""
        self.w, self.pg, self.sink, self.tag, self.lease_s = w, pg, sink, tag, lease_s
        self.queue = queue or {}
        self.daemons: list = []
        self.ctl: Q.Ctl | None = None

    def add(self):
        """One more daemon, READY and listening on the database."""
        name = f"{self.tag}-{len(self.daemons) + 1}"
        d = Q.daemon(self.w, {"bench": {"type": "pypi", "url": self.sink.url,
                                        "token_key": "PYPI_API_TOKEN"}},
                     queue=pg_queue(self.pg, name, self.lease_s) | self.queue,
                     env={"PGPASSFILE": self.pg.passfile})
        c = Q.Ctl(d.socket)
        deadline = time.monotonic() + 30
        while True:
            q = c.call({"cmd": "status"}).get("queue", {})
            if q.get("backend") == "postgresql" and q.get("listening") is True:
                break
            if time.monotonic() > deadline:
                raise B.BenchError(f"{name}: not listening on PostgreSQL: {q}")
            time.sleep(0.05)
        self.daemons.append(d)
        if self.ctl is None:
            self.ctl = c
        else:
            c.close()
        return d

    def up_to(self, n: int) -> None:
        while len(self.daemons) < n:
            self.add()

    @property
    def sockets(self) -> list[Path]:
        return [d.socket for d in self.daemons]

    def ran(self) -> list[tuple[int, int]]:
        """Per daemon: jobs it has logged as succeeded so far, and jobs whose
        files it read from the database (queued by another daemon)."""
        return [(len(SUCCEEDED.findall(t)), len(FETCHED.findall(t)))
                for t in (d.log_text() for d in self.daemons)]

    def counts(self) -> dict:
        return counts_of(self.ctl)

    def stop(self) -> None:
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None
        for d in self.daemons:
            if d.alive:  # this host's drain: a bare drain holds the fleet
                c = Q.Ctl(d.socket)
                c.call({"cmd": "drain", "this_host": True})
                c.close()
            Q.stop_daemon(self.w, d, drain=False)
        self.daemons = []


def takeover(w, pg, sink: Q.TimestampSink, wh: Path, lease_s: int, wait_posts) -> dict:
    """Daemon A (alone) takes the job of `wh`, whose first upload the sink
    holds unanswered; daemon B starts and listens; A is SIGKILLed and its
    spool removed (its host is gone; B reads the job's files from the
    database): the seconds from the kill to the first byte of the upload again (B's,
    after A's lease ran out), and whether the job then succeeded.
    wait_posts(sink, names, timeout) is bench_queue_hosts's."""
    a_side = PgDaemons(w, pg, sink, tag="take-a", lease_s=lease_s)
    b_side = PgDaemons(w, pg, sink, tag="take-b", lease_s=lease_s)
    try:
        a = a_side.add()
        base = a_side.counts().get("succeeded", 0)
        sink.drain()
        ans = a_side.ctl.call(Q.publish_req("bench", wh))
        if not ans.get("ok"):
            raise B.BenchError(f"aos-publishd enqueue: {ans}")
        first = wait_posts(sink, {wh.name}, 30)[wh.name]
        if not first.get("held"):
            raise B.BenchError(f"the sink answered the takeover's first upload: {first}")
        b_side.add()
        time.sleep(1.0)  # B idle, listening
        t_kill = time.monotonic_ns()
        a.proc.kill()
        a.proc.wait()
        # A's host is gone, its disk with it (B reads the job's files from
        # the database; it never reads another daemon's spool)
        shutil.rmtree(Path(a.state_dir) / "spool")
        try:
            again = wait_posts(sink, {wh.name}, 2 * lease_s + 30)[wh.name]
        except B.BenchError as e:
            raise B.BenchError(f"takeover: {e}; the jobs: {b_side.counts()}") from None
        took = (again["t_first_ns"] - t_kill) / 1e9
        deadline = time.monotonic() + 60
        while (c := b_side.counts()).get("succeeded", 0) <= base:
            if time.monotonic() > deadline or c.get("dead") or c.get("failed"):
                raise B.BenchError(f"the job taken over did not succeed: {c}")
            time.sleep(0.05)
        return {"lease_s": lease_s, "seconds": took, "succeeded": True,
                "upload_to_kill_s": (t_kill - first["t_first_ns"]) / 1e9}
    finally:
        a_side.stop()
        b_side.stop()
