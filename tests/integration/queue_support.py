"""Shared pieces of the publish queue's integration tests (test_queue_*.py).

- QueueEnv: PublishEnv (OpenBao + pypiserver + verdaccio) whose OpenBao sits
  behind a gate and whose daemon token has a fixed id, so that Vault can be
  stopped and started again (re-seeded, the same token still valid).  The
  module-scoped fixture `queue_env` gives each test module its own set.
- The queue through aos-publishctl: enqueue without --wait (the job id is
  the acknowledgement), jobs / job show / job log, bounded waits for states.
- The queue database read directly (read-only, while the daemon is down):
  PRAGMA integrity_check and a snapshot of the jobs and uploads.
- ThrottledRelay: a TCP relay in front of a real registry that slows the
  client's bytes (uploads) down, can hold them, and counts connections; a
  slow registry for graceful-stop and concurrency tests.

Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import socket
import sqlite3
import struct
import threading
import time
from pathlib import Path

import pytest

from aos_fixtures import Daemon, running_env, wait_for
from peers.openbao import OpenBao, read_policy
from peers.pypiserver import write_htpasswd, TOKEN_USER
from publish_support import PublishEnv, PypiTarget

TERMINAL = ("succeeded", "dead", "canceled")


# -- the environment ---------------------------------------------------------
class QueueEnv(PublishEnv):
    """PublishEnv with a gated OpenBao (stop()/start() keep the port and
    replay what was written) and a daemon token that survives a restart."""

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.bao = OpenBao(workdir=self.workdir / "bao", gate=True)

    def token_id(self) -> str:
        # A chosen id: reseed() re-creates the same token after a restart.
        return "aosq" + secrets.token_hex(16)

    def rotate_pypi_token(self) -> str:
        """A new pypiserver password for __token__ (the old one stops working
        at once: pypiserver re-reads its htpasswd file); returns it.  The
        caller puts it into Vault."""
        new = "pypi-" + secrets.token_urlsafe(32)
        write_htpasswd(self.pypi.htpasswd, {TOKEN_USER: new})
        self.pypi.token = new
        return new

    def rotate_registry_token(self, target: PypiTarget) -> str:
        """A new password on this PyPI-style registry (pypiserver: its
        htpasswd file; devpi: its user's password, through its API), the old
        one refused from then on; returns it.  The caller puts it into Vault
        (under target.token_key)."""
        if target.kind == "pypiserver":
            return self.rotate_pypi_token()
        new = "devpi-" + secrets.token_urlsafe(24)
        target.server.set_password(new)
        return new


@pytest.fixture(scope="module")
def queue_env(request):
    """Per test module: gated OpenBao, pypiserver, verdaccio (started,
    seeded).  The folder is kept when a test of the module failed (or
    AOS_KEEP_WORKDIR is set)."""
    yield from running_env(request, QueueEnv, "aos-q-", "queue_env")


def queue_config(**queue) -> dict:
    """A daemon config override with these queue keys, quick publish tries
    (each job run makes one try; retries are the queue's), small queue
    backoff and a 5 s shutdown grace (the fixtures' SIGTERM waits 10 s)
    unless given."""
    q = {"backoff_min_ms": 200, "backoff_max_ms": 1000, "shutdown_grace_s": 5}
    q.update(queue)
    return {"queue": q,
            "publish": {"max_attempts": 1, "backoff_min_ms": 100, "backoff_max_ms": 200}}


def start_again(d: Daemon, wait_ready: bool = True, timeout: float = 15.0) -> None:
    """(Re)start the daemon with its config and state; with wait_ready, wait
    for a READY=1 sent by this process (Daemon.start would accept the one
    of an earlier run)."""
    n = d.notify.count() if d.notify is not None else 0
    d.exit_checked = False
    d.start(wait_ready=False, snapshot_at_ready=False)
    if wait_ready:
        d.wait_ready(timeout, start=n)


def kill(d: Daemon) -> int:
    """SIGKILL and reap; returns the exit status (-9 when our signal ended
    it)."""
    if d.proc.poll() is None:
        d.proc.kill()
    rc = d.proc.wait(10)
    d.exit_checked = True
    return rc


# -- the queue through aos-publishctl ------------------------------------------
class EnqueueError(AssertionError):
    pass


def try_enqueue(d: Daemon, registry: str, *files, key: str | None = None,
                tag: str | None = None, timeout: float = 10.0, record: bool = True):
    """`aos-publishctl --json publish --registry R [-k KEY] FILE...` without
    --wait.  Returns (job id or None, CtlResult): the id only when the daemon
    acknowledged the job (exit 0 and {"ok": true, "job_id": N})."""
    args = ["--timeout", str(max(1, int(timeout))), "publish", "--registry", registry]
    if key is not None:
        args += ["--idempotency-key", key]
    if tag is not None:
        args += ["--tag", tag]
    args += [str(f) for f in files]
    r = d.ctl(*args, json_out=True, timeout=timeout + 5, record=record)
    if r.rc != 0:
        return None, r
    try:
        ans = json.loads(r.out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None, r
    if ans.get("ok") is True and isinstance(ans.get("job_id"), (int, float)) \
            and ans["job_id"] >= 1:
        return int(ans["job_id"]), r
    return None, r


def enqueue(d: Daemon, registry: str, *files, **kw) -> int:
    jid, r = try_enqueue(d, registry, *files, **kw)
    if jid is None:
        raise EnqueueError(f"enqueue to {registry} of {[Path(f).name for f in files]} "
                           f"not acknowledged: {r}\n{d.log_tail()}")
    return jid


def jobs(d: Daemon, state: str | None = None, limit: int = 1000) -> list[dict]:
    args = ["jobs", "--limit", str(limit)]
    if state:
        args += ["--state", state]
    return d.ctl_json(*args)["jobs"]


def job_show(d: Daemon, jid: int) -> dict:
    return d.ctl_json("job", "show", jid)


def job_log(d: Daemon, jid: int) -> list[str]:
    return [ln["text"] for ln in d.ctl_json("job", "log", jid)["lines"]]


def describe_jobs(d: Daemon, ids=None) -> str:
    """Every job (or these) with its state, attempts, last error and log, for
    failure messages."""
    out = []
    try:
        for j in sorted(jobs(d), key=lambda j: j["id"]):
            if ids is not None and j["id"] not in ids:
                continue
            out.append(f"job {j['id']} {j['state']} {j['registry']}/{j['package']} "
                       f"attempts {j['attempts']}/{j['max_attempts']} "
                       f"err={j.get('last_error', '')!r}")
            try:
                for t in job_log(d, j["id"])[-8:]:
                    out.append(f"    {t}")
            except AssertionError:
                pass
    except AssertionError as e:
        out.append(f"(cannot list jobs: {e})")
    return "\n".join(out)


def wait_jobs(d: Daemon, ids, states=TERMINAL, timeout: float = 60.0,
              interval: float = 0.2) -> dict[int, dict]:
    """Wait until every job in ids is in one of `states`; returns {id: job}."""
    ids = set(ids)
    last: dict[int, dict] = {}

    def done():
        last.clear()
        last.update({j["id"]: j for j in jobs(d) if j["id"] in ids})
        return set(last) == ids and all(j["state"] in states for j in last.values())

    wait_for(done, timeout, interval=interval,
             what=lambda: f"jobs {sorted(ids)} to reach {states}; now:\n"
             f"{describe_jobs(d, ids)}\nlog tail:\n{d.log_tail(3000)}")
    return dict(last)


def wait_state(d: Daemon, jid: int, states, timeout: float = 30.0) -> dict:
    if isinstance(states, str):
        states = (states,)
    return wait_jobs(d, [jid], states, timeout)[jid]


# -- the database, read directly -------------------------------------------------
def db_inspect(path: Path) -> dict:
    """Open the queue database read-only (the daemon must be down) and
    return {"integrity": [rows of PRAGMA integrity_check], "jobs": {id:
    state}, "uploads": {(job_id, filename): state}, "journal_mode": ...}.
    Nothing is written: no checkpoint, no recovery is persisted."""
    uri = f"file:{path}?mode=ro"
    con = sqlite3.connect(uri, uri=True, timeout=5, isolation_level=None)
    try:
        integrity = [r[0] for r in con.execute("PRAGMA integrity_check")]
        fk = con.execute("PRAGMA foreign_key_check").fetchall()
        jobs_ = dict(con.execute("SELECT id, state FROM jobs"))
        ups = {(j, f): s for j, f, s in
               con.execute("SELECT job_id, filename, state FROM uploads")}
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        con.close()
    return {"integrity": integrity, "foreign_keys": fk, "jobs": jobs_, "uploads": ups,
            "journal_mode": mode}


def db_job_count(d: Daemon) -> int:
    """Rows in the jobs table of d's queue.db, read-only beside the running
    daemon (a refusal before queueing must leave none)."""
    con = sqlite3.connect(f"file:{d.state_dir / 'queue.db'}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute("SELECT count(*) FROM jobs").fetchone()[0]
    finally:
        con.close()


# enum job_state / upload_state numbers as stored.
JOB_STATES = {1: "queued", 2: "running", 3: "succeeded", 4: "failed", 5: "dead",
              6: "canceled"}
UPLOAD_STATES = {1: "pending", 2: "sending", 3: "done", 4: "failed"}


# -- a slow registry -------------------------------------------------------------
class ThrottledRelay:
    """127.0.0.1:port -> 127.0.0.1:backend.  Bytes from the client (the
    daemon's requests: uploads) go at most `rate` bytes/s per connection
    (None: unthrottled); answers pass at full speed, an upload's (POST,
    PUT) held back answer_delay seconds first (a slow registry that has
    stored the upload already but answers late).  hold() stops the
    client's bytes entirely until release(); hold_answers() the server's
    until release_answers().  Counts connections and records the first line
    each connection's client sent (first_lines: "POST / HTTP/1.1")."""

    def __init__(self, backend_port: int, rate: float | None = None,
                 answer_delay: float = 0.0):
        self.backend = backend_port
        self.rate = rate
        self.answer_delay = answer_delay
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Small buffers: what the client has sent but the throttle holds
        # back stays small (accepted sockets inherit the size).
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.open_conns = 0
        self.max_open = 0
        self.total_conns = 0
        self.bytes_up = 0
        self.ends = {"eof": 0, "reset": 0}  # how clients' sides ended
        # Authorization header values seen in requests, in order.
        self.auth_seen: list[str] = []
        self.first_lines: list[str] = []
        self._go = threading.Event()
        self._go.set()
        self._go_down = threading.Event()
        self._go_down.set()
        self._closed = False
        self._socks: set[socket.socket] = set()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def hold(self) -> None:
        self._go.clear()

    def release(self) -> None:
        self._go.set()

    def hold_answers(self) -> None:
        self._go_down.clear()

    def release_answers(self) -> None:
        self._go_down.set()

    def _accept(self):
        while not self._closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                b = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                b.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
                b.settimeout(5)
                b.connect(("127.0.0.1", self.backend))
                b.settimeout(None)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.open_conns += 1
                self.total_conns += 1
                self.max_open = max(self.max_open, self.open_conns)
                self._socks.update((c, b))
            state = {"left": 2, "asked": False}
            threading.Thread(target=self._pump, args=(c, b, True, state, c, b),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(b, c, False, state, c, b),
                             daemon=True).start()

    def _pump(self, src, dst, up, state, c, b):
        chunk = 8192
        reset = False
        first = True
        tail = b""
        try:
            while True:
                if up:
                    held_eof = False
                    while not self._go.wait(0.2):
                        if self._closed:
                            return
                        # While holding, still notice the client going away
                        # (a reset raises here), as a real network would.
                        try:
                            if src.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                                held_eof = True
                                break
                        except BlockingIOError:
                            pass
                    if held_eof:
                        break
                else:
                    while not self._go_down.wait(0.2):
                        if self._closed:
                            return
                data = src.recv(chunk if up else 65536)
                if not data:
                    break
                if up:
                    if data[:5] in (b"POST ", b"PUT /"):
                        state["asked"] = True  # an upload: its answer is held
                    elif data[:4] in (b"GET ", b"HEAD"):
                        state["asked"] = False
                elif state["asked"] and self.answer_delay:
                    state["asked"] = False
                    time.sleep(self.answer_delay)
                if up and first:
                    first = False
                    with self.lock:
                        self.first_lines.append(
                            data.split(b"\r\n", 1)[0][:200].decode(errors="replace"))
                t0 = time.monotonic()
                dst.sendall(data)
                if up:
                    tail = self._sniff(tail, data)
                    with self.lock:
                        self.bytes_up += len(data)
                    rate = self.rate
                    if rate:
                        wait = len(data) / rate - (time.monotonic() - t0)
                        if wait > 0:
                            time.sleep(wait)
        except OSError:
            reset = True
        finally:
            with self.lock:
                self.ends["reset" if reset else "eof"] += up
            try:
                if reset:
                    # Pass a reset on as a reset (not as a clean end of the
                    # body, which a lax server might take for a whole one).
                    dst.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
                    # Wake the other direction's thread, blocked in recv() on
                    # this socket: a close() alone neither wakes it nor lets
                    # the reset out while that call holds the socket.
                    dst.shutdown(socket.SHUT_RD)
                    dst.close()
                else:
                    dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            with self.lock:
                state["left"] -= 1
                last = state["left"] == 0
                if last:
                    self.open_conns -= 1
                    self._socks.discard(c)
                    self._socks.discard(b)
            if last:
                c.close()
                b.close()

    _AUTH = re.compile(rb"\r\nAuthorization: ([^\r\n]*)\r\n", re.I)

    def _sniff(self, tail: bytes, data: bytes) -> bytes:
        """Records Authorization headers in the client's bytes (a header may
        straddle two reads: the end of the previous read is kept)."""
        buf = tail + data
        for m in self._AUTH.finditer(buf):
            if m.end() > len(tail):
                with self.lock:
                    self.auth_seen.append(m.group(1).decode(errors="replace"))
        return buf[-1024:]

    def close(self) -> None:
        self._closed = True
        self._go.set()
        self._go_down.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def port_of(url: str) -> int:
    return int(url.rstrip("/").rsplit(":", 1)[1].split("/")[0])


def relayed_registries(env: PublishEnv, pypi_relay: ThrottledRelay | None,
                       npm_relay: ThrottledRelay | None, suffix: str = "-slow") -> dict:
    """Registries "pypi<suffix>" / "npm<suffix>" reaching the real servers
    through the relays (same tokens)."""
    out = {}
    if pypi_relay is not None:
        out["pypi" + suffix] = {"type": "pypi", "url": pypi_relay.url,
                                "token_key": "PYPI_API_TOKEN", "username": "__token__",
                                "index_url": pypi_relay.url + "simple/"}
    if npm_relay is not None:
        out["npm" + suffix] = {"type": "npm", "url": npm_relay.url,
                               "token_key": "NPM_TOKEN", "access": "public"}
    return out


def seed_from_env(name: str) -> int:
    """A random seed, or the one given in the environment to replay a run."""
    v = os.environ.get(name)
    return int(v) if v else random.SystemRandom().randrange(1, 2**31)
