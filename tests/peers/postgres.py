"""A PostgreSQL of its own for tests and benchmarks (tests/peers/pg_run.sh:
initdb as an unprivileged user in a temporary folder, pg_ctl on a free
127.0.0.1 port and a Unix socket in that folder, a login role "aos" with a
password generated at start, kept in a passfile).

    from peers.postgres import Postgres

    with Postgres(workdir) as pg:        # fsync=True for benchmarks
        pg.conninfo                      # libpq string: host port dbname user passfile
        pg.superuser_sql("CREATE ROLE ...")   # SQL on stdin, never in argv
        pg.ctl("stop"); pg.ctl("start")      # the same server down and up again

pg_run.sh runs a command that writes the connection string it was given
and waits for its stdin to close; the server stops and its folder goes when
it does (or when this process dies: pg_run.sh's watchdog).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PG_RUN = HERE / "pg_run.sh"
PG_BINDIR = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))


class Postgres:
    def __init__(self, workdir: Path, fsync: bool = False, timeout: float = 120.0):
        """fsync False (pg_run.sh's default for tests) or True (benchmarks
        whose figures include the commit's flush)."""
        self.info = Path(workdir) / "pg.info"
        env = dict(os.environ, PG_FSYNC="on" if fsync else "off")
        self.proc = subprocess.Popen(
            ["sh", str(PG_RUN), "sh", "-c",
             'printf "%s\\n" "$AOS_TEST_PG" >"$1.tmp" && mv "$1.tmp" "$1" && exec cat',
             "pg-info", str(self.info)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + timeout
        while not self.info.exists() and self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError(f"PostgreSQL did not start within {timeout} s")
            time.sleep(0.05)
        if not self.info.exists():
            raise RuntimeError(f"pg_run.sh exited with {self.proc.returncode}")
        self.conninfo = self.info.read_text().strip()
        conn = dict(kv.split("=", 1) for kv in self.conninfo.split())
        self.port = conn["port"]
        self.passfile = conn["passfile"]
        self.socket_dir = str(Path(conn["passfile"]).parent / "pg")

    def superuser_sql(self, sql: str) -> None:
        """Runs sql as the cluster's superuser on its Unix socket (trust);
        the SQL goes on stdin, so what it holds stays out of argv."""
        subprocess.run([str(PG_BINDIR / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                        "-h", self.socket_dir, "-p", self.port, "-U", "postgres",
                        "-d", "postgres", "-f", "-"],
                       input=sql, text=True, check=True, timeout=60,
                       stdout=subprocess.DEVNULL)

    def ctl(self, action: str) -> None:
        """Stops (`stop`: fast, every connection cut) or starts (`start`) the
        same server on the same port: pg_run.sh's AOS_TEST_PG_CTL script."""
        assert action in ("stop", "start"), action
        subprocess.run([str(Path(self.passfile).parent / "pgctl"), action], check=True,
                       timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def password(self) -> str:
        """The password of the login role "aos" (from the passfile), for a
        test that hands it to a daemon through Vault."""
        return Path(self.passfile).read_text().strip().split(":", 4)[4]

    def stop(self) -> int:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        return self.proc.wait(timeout=120)

    def __enter__(self) -> "Postgres":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
