"""Shared plumbing of bench_webhook.py (webhook ingest, issue 5): the signed
deliveries, the wrk runs, the two servers.  Built on bench_queue_lib.py (the
world, daemons, the control socket, the machine) and tests/peers/proc.py
(free ports, spawning, waiting, stopping), both imported unchanged.

  * write_bodies(): N GitHub `push` deliveries of tags python-sdk-v0.0.<i>,
    each with its own tag, commit and X-GitHub-Delivery, signed with the
    run's webhook secret (HMAC-SHA256 over the raw body), and some signed
    with a wrong key, as whole HTTP requests in files per wrk thread
    (webhook_wrk.lua sends them: wrk's Lua cannot compute an HMAC);
  * run_wrk(): one wrk run with webhook_wrk.lua, its summary parsed from
    the script's "WRKJSON" line, while ProcSampler reads the server's
    /proc/PID/status (VmRSS, VmHWM, threads) every 0.2 s and its CPU time
    (and, on request, SyscallSampler what its loop thread is doing), with
    the machine's CPU time beside (the machine is shared);
  * our daemon: the `listen`, `webhooks` and `pipelines` sections that
    make it accept the deliveries (docs/pipelines.md), started drained so
    that the jobs stay queued; its queue depth, and the jobs in a copy of
    its database after a SIGKILL (jobs_on_disk);
  * AdnanhWebhook: adnanh/webhook (Debian `webhook`) with one hook whose
    trigger rule is `payload-hmac-sha256` on X-Hub-Signature-256 and which
    runs /bin/true, served on POST /webhook like ours.

The webhook secret is generated at run time, put into Vault (our daemon)
and into webhook's environment (its hooks file is a template that reads
it), and never printed.  Nothing is asserted.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import resource
import secrets as _secrets
import shutil
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_queue_lib as Q  # noqa: E402

L, B = Q.L, Q.B
from peers.proc import free_port, http_ok, spawn, stop_process, wait_until  # noqa: E402

WRK = B.tool("wrk")
WEBHOOK = B.tool("webhook")
LUA = HERE / "webhook_wrk.lua"
REPO = "agenticverz/aos"
SECRET_KEY = "GITHUB_WEBHOOK_SECRET"
TAG_PREFIX = "python-sdk-v"
PATH = "/webhook"


# -- deliveries -------------------------------------------------------------------

def push_body(i: int, salt: str) -> bytes:
    """A GitHub `push` payload for the new lightweight tag python-sdk-v0.0.<i>
    of agenticverz/aos (fields and sizes as GitHub sends them, the
    repository object shortened), compact JSON."""
    sha = hashlib.sha1(f"{salt}:{i}".encode()).hexdigest()
    tree = hashlib.sha1(f"tree:{salt}:{i}".encode()).hexdigest()
    tag = f"{TAG_PREFIX}0.0.{i}"
    who = {"name": "AOS Release Bot", "email": "release-bot@example.invalid",
           "username": "aos-release-bot"}
    user = {"login": "aos-release-bot", "id": 4242, "node_id": "MDQ6VXNlcjQyNDI=",
            "type": "User", "site_admin": False,
            "html_url": "https://forge.example.invalid/aos-release-bot"}
    base = f"https://forge.example.invalid/{REPO}"
    body = {
        "ref": f"refs/tags/{tag}", "before": "0" * 40, "after": sha,
        "created": True, "deleted": False, "forced": False, "base_ref": None,
        "compare": f"{base}/compare/{tag}", "commits": [],
        "head_commit": {"id": sha, "tree_id": tree, "distinct": True,
                        "message": f"Release {tag}\n\nChangelog: see CHANGES.md.",
                        "timestamp": "2026-12-01T21:00:00Z", "url": f"{base}/commit/{sha}",
                        "author": who, "committer": who,
                        "added": [], "removed": [], "modified": ["sdk/python/pyproject.toml"]},
        "repository": {"id": 777001, "node_id": "R_kgDOAbCdEf", "name": "aos",
                       "full_name": REPO, "private": False, "owner": user,
                       "html_url": base, "description": "AOS", "fork": False,
                       "url": base, "git_url": f"git://forge.example.invalid/{REPO}.git",
                       "ssh_url": f"git@forge.example.invalid:{REPO}.git",
                       "clone_url": f"{base}.git", "default_branch": "main",
                       "master_branch": "main", "created_at": 1700000000,
                       "pushed_at": 1764622800, "size": 4096, "visibility": "public"},
        "pusher": {"name": "aos-release-bot", "email": "release-bot@example.invalid"},
        "sender": user,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def sign(key: bytes, body: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def raw_request(body: bytes, delivery: str, sig: str) -> bytes:
    """The whole HTTP request webhook_wrk.lua sends (both servers serve
    POST /webhook)."""
    head = (f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nUser-Agent: GitHub-Hookshot/bench\r\n"
            f"X-GitHub-Event: push\r\nX-GitHub-Delivery: {delivery}\r\n"
            f"X-GitHub-Hook-ID: 1\r\nX-Hub-Signature-256: sha256={sig}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def write_bodies(folder: Path, n: int, secret: str, threads: int, n_bad: int) -> dict:
    """Deliveries 0 .. n-1, dealt in turn to `threads` files
    <folder>/bodies.good.<t>.raw (signed with the secret), and the first
    n_bad of them to bodies.bad.<t>.raw (signed with another key): whole
    requests for webhook_wrk.lua, each followed by a NUL byte, mode 0600.
    Returns the prefix for webhook_wrk.lua and the sizes."""
    folder.mkdir(mode=0o700, exist_ok=True)
    key, wrong = secret.encode(), _secrets.token_bytes(32)
    salt = _secrets.token_hex(8)

    def files(which: str):
        return [open(os.open(folder / f"bodies.{which}.{t}.raw",
                             os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
                for t in range(threads)]
    good, bad = files("good"), files("bad")
    total = 0
    try:
        for k in range(n):
            body = push_body(k, salt)
            total += len(body)
            delivery = str(uuid.uuid4())
            good[k % threads].write(raw_request(body, delivery, sign(key, body)) + b"\0")
            if k < n_bad:
                bad[k % threads].write(raw_request(body, delivery, sign(wrong, body)) + b"\0")
    finally:
        for f in good + bad:
            f.close()
    return {"prefix": str(folder / "bodies"), "n": n, "n_bad": min(n, n_bad),
            "threads": threads, "body_bytes_mean": total / max(1, n), "salt": salt}


def probe_delivery(i: int, salt: str, key: bytes) -> tuple[bytes, dict]:
    """Delivery number i (outside the files' range), its body and headers."""
    body = push_body(i, salt)
    return body, {"Content-Type": "application/json", "X-GitHub-Event": "push",
                  "X-GitHub-Delivery": str(uuid.uuid4()),
                  "User-Agent": "GitHub-Hookshot/bench",
                  "X-Hub-Signature-256": "sha256=" + sign(key, body)}


# -- TLS (--tls): both servers get the same self-signed certificate -----------------
TLS: dict | None = None  # {"cert": path, "key": path, "ctx": client SSLContext}


def enable_tls(folder: Path) -> None:
    """A self-signed EC certificate for 127.0.0.1 (openssl command); the
    servers then listen with it and every client here uses https."""
    global TLS
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=bench",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    TLS = {"cert": cert, "key": key, "ctx": ssl.create_default_context(cafile=str(cert))}


def base_url(port: int) -> str:
    return f"{'https' if TLS else 'http'}://127.0.0.1:{port}"


def post(port: int, path: str, body: bytes, headers: dict, timeout: float = 10.0) -> dict:
    """One POST on a new connection; status, the answer's body (at most 300
    characters) and Content-Type."""
    c = (http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=TLS["ctx"])
         if TLS else http.client.HTTPConnection("127.0.0.1", port, timeout=timeout))
    try:
        t0 = time.monotonic_ns()
        c.request("POST", path, body=body, headers=headers)
        r = c.getresponse()
        text = r.read().decode(errors="replace")
        return {"status": r.status, "body": text[:300],
                "content_type": r.getheader("Content-Type"),
                "ms": Q.ms(time.monotonic_ns() - t0)}
    except (OSError, http.client.HTTPException) as e:
        return {"status": None, "body": f"{type(e).__name__}: {e}"}
    finally:
        c.close()


# -- measuring a server -----------------------------------------------------------

def cpu_ticks(pid: int) -> tuple[int, int]:
    """(utime+stime, cutime+cstime) of pid, clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        raw = f.read()
    v = raw[raw.rindex(")") + 2:].split()
    return int(v[11]) + int(v[12]), int(v[13]) + int(v[14])


class ProcSampler:
    """Reads /proc/PID/status every `interval` s in a thread while a load
    runs; CPU time at start and stop."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.pid, self.interval = pid, interval
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "ProcSampler":
        self.t0 = time.monotonic()
        self.cpu0 = cpu_ticks(self.pid)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                s = L.status_kb(self.pid)
            except OSError:
                return
            s["t"] = time.monotonic() - self.t0
            self.samples.append(s)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(2)
        hz = os.sysconf("SC_CLK_TCK")
        try:
            c = cpu_ticks(self.pid)
        except OSError:
            c = self.cpu0
        rss = [s["VmRSS_kB"] for s in self.samples if s.get("VmRSS_kB")]
        return {"seconds": time.monotonic() - self.t0,
                "cpu_s": (c[0] - self.cpu0[0]) / hz,
                "children_cpu_s": (c[1] - self.cpu0[1]) / hz,
                "rss_max_kB": max(rss) if rss else None,
                "rss_min_kB": min(rss) if rss else None,
                "threads_max": max((s.get("Threads") or 0) for s in self.samples)
                if self.samples else None,
                "n_samples": len(self.samples)}


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of pid onto these CPUs (threads started later inherit)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(tid), cpus)


SYSCALLS = {"0": "read", "1": "write", "17": "pread64", "18": "pwrite64", "20": "writev",
            "74": "fsync", "75": "fdatasync", "232": "epoll_wait", "running": "on CPU"}


class SyscallSampler:
    """Reads /proc/PID/task/PID/syscall (what the main thread, the event
    loop, is doing: the system call it is in, or "running") every
    `interval` s in a thread: a diagnostic of where the loop's time goes
    (the reads cost this process some CPU).  A sample taken while the
    thread waits for a CPU also says "running"."""

    def __init__(self, pid: int, interval: float = 0.001):
        self.path = f"/proc/{pid}/task/{pid}/syscall"
        self.interval = interval
        self.samples: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "SyscallSampler":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with open(self.path) as f:
                    what = f.read().split(maxsplit=1)[0]
            except (OSError, IndexError):
                return
            self.samples.append((time.monotonic(), SYSCALLS.get(what, "syscall " + what)))
            time.sleep(self.interval)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(2)
        counts: dict[str, int] = {}
        for _, what in self.samples:
            counts[what] = counts.get(what, 0) + 1
        n = max(1, len(self.samples))
        longest: dict[str, float] = {}
        start = 0
        for i in range(1, len(self.samples) + 1):
            if i == len(self.samples) or self.samples[i][1] != self.samples[start][1]:
                what = self.samples[start][1]
                span = self.samples[i - 1][0] - self.samples[start][0]
                longest[what] = max(longest.get(what, 0.0), span * 1000)
                start = i
        return {"n": len(self.samples),
                "share": {k: v / n for k, v in sorted(counts.items(), key=lambda kv: -kv[1])},
                "longest_ms": longest}


def machine_cpu() -> dict:
    """CPU seconds of the whole machine since boot (/proc/stat): processes
    (user, nice, system), interrupts (irq, softirq: loopback TCP is mostly
    softirq), steal (the hypervisor gave the CPU to another guest), idle."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    hz = os.sysconf("SC_CLK_TCK")
    return {"processes": (v[0] + v[1] + v[2]) / hz, "interrupts": (v[5] + v[6]) / hz,
            "steal": v[7] / hz, "idle": (v[3] + v[4]) / hz}


def run_wrk(url: str, prefix: str, which: str, threads: int, conns: int,
            duration_s: float, count_status: bool = True, delay_ms: float = 0,
            pid: int | None = None, cpus: set[int] | None = None,
            workdir: Path | None = None, syscalls: bool = False) -> dict:
    """wrk -t threads -c conns -d duration with webhook_wrk.lua on `url`,
    signature `which` ("good" or "bad"), each connection pausing delay_ms
    on average before each request (0: closed loop), wrk on `cpus` if
    given; while it runs, the server `pid` is sampled.  Returns the
    script's summary (latencies in ms), wrk's own text, and the sampler's
    figures under "server"."""
    argv = [WRK, "-t", str(threads), "-c", str(conns), "-d", f"{duration_s:g}s",
            "--timeout", "5s", "-s", str(LUA), url, "--", prefix, which]
    env = {"PATH": B.CLEAN_PATH, "WRK_COUNT_STATUS": "1" if count_status else "0",
           "WRK_DELAY_MS": f"{delay_ms:g}"}
    sampler = ProcSampler(pid).start() if pid else None
    loop = SyscallSampler(pid).start() if pid and syscalls else None
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    self0, machine0 = resource.getrusage(resource.RUSAGE_SELF), machine_cpu()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, env=env,
                           timeout=duration_s + 120, cwd=str(workdir or HERE),
                           preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    finally:
        server = sampler.stop() if sampler else None
        loop_syscalls = loop.stop() if loop else None
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    self1, machine1 = resource.getrusage(resource.RUSAGE_SELF), machine_cpu()
    client_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    m = {k: machine1[k] - machine0[k] for k in machine1}
    own = (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime)
    rest = (m["processes"] - client_cpu - own
            - ((server["cpu_s"] + server["children_cpu_s"]) if server else 0))
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if p.returncode != 0 or line is None:
        raise B.BenchError(f"wrk failed (rc {p.returncode}): {p.stdout[-1500:]} "
                           f"{p.stderr[-1500:]}")
    r = json.loads(line[len("WRKJSON "):])
    secs = r["duration_us"] / 1e6
    out = {"argv": " ".join(str(a) for a in argv[:-2]) + f" PREFIX {which}",
           "delay_ms": delay_ms,
           "threads": threads, "conns": conns, "duration_s": secs,
           "requests": r["requests"], "req_per_s": r["requests"] / secs,
           "errors": {k[7:]: r[k] for k in r if k.startswith("errors_")},
           "latency_ms": {"min": r["lat_min_us"] / 1e3, "mean": float(r["lat_mean_us"]) / 1e3,
                          "p50": r["lat_p50_us"] / 1e3, "p90": r["lat_p90_us"] / 1e3,
                          "p99": r["lat_p99_us"] / 1e3, "p99.9": r["lat_p99.9_us"] / 1e3,
                          "max": r["lat_max_us"] / 1e3},
           "counted": r["counted"], "wrapped": r["wrapped"], "server": server,
           "client_cpu_s": client_cpu, "machine_cpu_s": m,
           "rest_cpu_s": rest,  # other processes: the machine is shared
           "loop_syscalls": loop_syscalls,
           "wrk_text": p.stdout.replace(line, "").strip()}
    if r["counted"]:
        out["status"] = {"200": r["n200"], "202": r["n202"], "401": r["n401"],
                         "other 4xx": r["n4xx"], "5xx": r["n5xx"], "other": r["nother"]}
    return out


# -- our daemon ---------------------------------------------------------------------

def ours_config(port: int, registry: str = "bench") -> dict:
    """The sections that make aos-publishd take the deliveries: a listener
    on 127.0.0.1:port, GitHub with the secret from Vault, one pipeline whose
    tags are python-sdk-v* of agenticverz/aos (a dummy repository: the
    daemon is drained, nothing is fetched or built)."""
    listen = {"address": f"127.0.0.1:{port}"}
    if TLS:
        listen["tls"] = {"cert_file": str(TLS["cert"]), "key_file": str(TLS["key"])}
    return {
        "listen": listen,
        "webhooks": {"github": {"secret_key": SECRET_KEY}},
        "pipelines": {"python-sdk": {
            "repository": "file:///nonexistent/aos.git", "repository_name": REPO,
            "tag_pattern": TAG_PREFIX + "*", "package": "aos-sdk",
            "directory": "sdk/python", "build": ["true"],
            "artifacts": ["dist/*.whl"], "targets": [registry], "timeout_s": 60}},
    }


OURS_REGISTRY = {"bench": {"type": "pypi", "url": "http://127.0.0.1:9/legacy/",
                           "token_key": "PYPI_API_TOKEN"}}


def wait_readyz(proc: subprocess.Popen, port: int, timeout: float = 15.0) -> float:
    """Poll GET /readyz until it answers 200; seconds waited."""
    t0 = time.monotonic()
    ctx = TLS["ctx"] if TLS else None
    if not wait_until(proc, lambda: http_ok(f"{base_url(port)}/readyz", 0.5, ctx),
                      t0 + timeout):
        raise B.BenchError(f"GET /readyz did not answer 200 within {timeout} s")
    return time.monotonic() - t0


def start_ours(w, env: dict | None = None):
    """A fresh aos-publishd (log level info) with the webhook listener on a
    free port, READY=1, /readyz 200, then drained.  Returns (daemon, port)."""
    port = free_port()
    d = Q.daemon(w, dict(OURS_REGISTRY), extra=ours_config(port), env=env)
    d.readyz_s = wait_readyz(d.proc, port)
    c = Q.Ctl(d.socket)
    d.drained = c.call({"cmd": "drain"})
    c.close()
    return d, port


def queue_depth(d) -> dict:
    c = Q.Ctl(d.socket)
    try:
        st = c.call({"cmd": "status"})
    finally:
        c.close()
    return (st.get("queue") or {}).get("depth") or {}


def jobs_on_disk(state_dir: Path, workdir: Path) -> dict:
    """Jobs in a copy of queue.db and its WAL (taken after the daemon was
    killed; SQLite rebuilds the -shm index from the WAL): by state, the
    pipeline jobs, and how many distinct idempotency keys."""
    dst = Path(workdir) / "queue-copy"
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(mode=0o700)
    for name in ("queue.db", "queue.db-wal"):
        if (Path(state_dir) / name).exists():
            shutil.copy2(Path(state_dir) / name, dst / name)
    con = sqlite3.connect(str(dst / "queue.db"))
    try:
        total, keys, pipe = con.execute(
            "SELECT count(*), count(DISTINCT idem_key), "
            "coalesce(sum(idem_key LIKE 'pipeline:python-sdk:%'), 0) FROM jobs").fetchone()
        by_state = dict(con.execute("SELECT state, count(*) FROM jobs GROUP BY state"))
    finally:
        con.close()
        shutil.rmtree(dst, ignore_errors=True)
    return {"jobs": total, "distinct_keys": keys, "pipeline_jobs": pipe,
            "by_state_code": by_state}


def log_lines(path: Path) -> dict:
    """Lines and bytes of a server's log, and its distinct warnings/errors
    (the same text at another time counts once)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return {"lines": 0, "bytes": 0, "n_problems": 0, "problems": []}
    lines = text.splitlines()
    bad: dict[str, str] = {}  # without the time stamp -> the first such line
    for ln in lines:
        low = ln.lower()
        if "warn" in low or "error" in low or "crit" in low:
            bad.setdefault(ln.partition(" ")[2][:200], ln[:300])
    return {"lines": len(lines), "bytes": len(text.encode()), "n_problems": len(bad),
            "problems": list(bad.values())[:8]}


# -- adnanh/webhook -------------------------------------------------------------------

HOOKS_TEMPLATE = """[
  {
    "id": "webhook",
    "execute-command": "/bin/true",
    "command-working-directory": "%s",
    "response-message": "queued",
    "trigger-rule": {
      "match": {
        "type": "payload-hmac-sha256",
        "secret": "{{ getenv `BENCH_HOOK_SECRET` }}",
        "parameter": {"source": "header", "name": "X-Hub-Signature-256"}
      }
    }
  }
]
"""


class AdnanhWebhook:
    """adnanh/webhook on a free 127.0.0.1 port; the hooks file is a template
    (-template) that takes the secret from the environment; the hook's id
    is "webhook" and the URL prefix empty, so it serves POST /webhook as
    our daemon does."""

    def __init__(self, folder: Path, secret: str):
        self.dir = Path(folder)
        self.dir.mkdir(mode=0o700, exist_ok=True)
        self.hooks = self.dir / "hooks.json"
        self.hooks.write_text(HOOKS_TEMPLATE % self.dir)
        self.log_path = self.dir / "webhook.log"
        self.secret = secret
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self, timeout: float = 10.0) -> "AdnanhWebhook":
        self.port = free_port()
        argv = [WEBHOOK, "-hooks", str(self.hooks), "-template", "-urlprefix", "",
                "-ip", "127.0.0.1", "-port", str(self.port)]
        if TLS:
            argv += ["-secure", "-cert", str(TLS["cert"]), "-key", str(TLS["key"])]
        env = {"PATH": B.CLEAN_PATH, "BENCH_HOOK_SECRET": self.secret}
        self.proc = spawn(argv, self.log_path, env, self.dir)
        ctx = TLS["ctx"] if TLS else None
        if not wait_until(self.proc, lambda: http_ok(f"{base_url(self.port)}/", 0.5, ctx),
                          time.monotonic() + timeout):
            raise B.BenchError(f"webhook did not answer within {timeout} s")
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"{base_url(self.port)}{PATH}"

    def stop(self) -> int | None:
        stop_process(self.proc)
        return None if self.proc is None else self.proc.returncode


def webhook_version() -> str:
    try:
        return subprocess.run([WEBHOOK, "-version"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def wrk_version() -> str:
    try:
        p = subprocess.run([WRK, "-v"], capture_output=True, text=True, timeout=10)
        return (p.stdout or p.stderr).splitlines()[0].strip()
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"
