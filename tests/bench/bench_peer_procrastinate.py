#!/usr/bin/env python3
"""The peer of bench_queue_hosts.py: procrastinate (a PostgreSQL job queue
for Python, from PyPI), doing the daemon's job: each job uploads one wheel
to the registry as a multipart POST (the form `aos-publishd` and twine
send), with the job's package as its procrastinate `lock`, so that one job
per package runs at a time across all workers, as the daemon's queue does.

  worker   runs one worker process (--concurrency jobs at once, as the
           daemon's per-registry limit): what a host runs
  schema   applies procrastinate's schema to the database

The database comes from AOS_PEER_PG (a libpq connection string whose
password is in a passfile, never in the environment), the registry
from AOS_PEER_SINK (its upload URL).  With --recover the worker also runs
the stalled-job recovery procrastinate's documentation gives as a periodic
task (every minute: jobs of workers without a heartbeat for 30 s are
retried); procrastinate itself retries nothing a dead worker held.

Not a test: bench_queue_hosts.py starts it.
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import threading
import time
import urllib.parse
import uuid

import procrastinate

app = procrastinate.App(connector=procrastinate.PsycopgConnector(
    conninfo=os.environ.get("AOS_PEER_PG", "")))
_local = threading.local()


def _conn() -> http.client.HTTPConnection:
    """One keep-alive connection per worker thread (libcurl's reuse)."""
    c = getattr(_local, "conn", None)
    if c is None:
        u = urllib.parse.urlsplit(os.environ["AOS_PEER_SINK"])
        c = _local.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    return c


def _post(path: str, filename: str) -> None:
    boundary = uuid.uuid4().hex
    with open(path, "rb") as f:
        data = f.read()
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\":action\"\r\n\r\n"
            f"file_upload\r\n--{boundary}\r\nContent-Disposition: form-data; "
            f"name=\"content\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()
    body = head + data + f"\r\n--{boundary}--\r\n".encode()
    for attempt in (1, 2):
        c = _conn()
        try:
            c.request("POST", urllib.parse.urlsplit(os.environ["AOS_PEER_SINK"]).path or "/",
                      body=body, headers={
                          "Content-Type": f"multipart/form-data; boundary={boundary}"})
            r = c.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError(f"{filename}: the registry answered {r.status}")
            return
        except (ConnectionError, http.client.HTTPException):
            c.close()
            _local.conn = None
            if attempt == 2:
                raise


@app.task(name="upload")
def upload(path: str, filename: str) -> None:
    _post(path, filename)


@app.task(name="hang")
def hang(path: str, filename: str) -> None:
    """Uploads, then never ends: the job a SIGKILLed worker held."""
    _post(path, filename)
    while True:
        time.sleep(3600)


def install_recovery() -> None:
    """The recovery recipe of procrastinate's documentation ("Retry stalled
    jobs"): a periodic task, every minute, that retries the jobs of workers
    whose heartbeat (every 10 s) is older than 30 s."""
    @app.periodic(cron="* * * * *")
    @app.task(name="retry_stalled", queueing_lock="retry_stalled", pass_context=True)
    async def retry_stalled(context, timestamp):
        for job in await app.job_manager.get_stalled_jobs():
            await app.job_manager.retry_job(job)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("worker")
    w.add_argument("--concurrency", type=int, default=2)
    w.add_argument("--recover", action="store_true")
    sub.add_parser("schema")
    args = ap.parse_args()
    if args.cmd == "schema":
        with app.open():
            app.schema_manager.apply_schema()
        return 0
    if args.recover:
        install_recovery()
    app.run_worker(concurrency=args.concurrency, install_signal_handlers=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
