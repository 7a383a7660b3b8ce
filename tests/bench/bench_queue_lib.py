"""Shared plumbing for the queue benchmarks (bench_queue_enqueue.py,
bench_queue_sched.py, bench_queue_rss.py).  Built on bench_publish_lib.py
(imported, not changed):

  * L.World(need_pypi=False, need_npm=False): an OpenBao dev server on a
    free 127.0.0.1 port holding generated registry tokens (PublishEnv), and
    the body-discarding sink of bench_publish_sink.py; no pypiserver, no
    verdaccio;
  * aos-publishd (log level info, the queue's default settings unless a
    benchmark says otherwise) with the registries each benchmark needs;
  * the control socket spoken directly (JSON lines, Python sockets): the
    CLI's process start is not part of the figures unless said so;
  * the machine: nproc, CPU, kernel, the state folder's file system and its
    fsync latency, and the load (load average and the share of CPU time the
    whole machine spent busy) sampled every second while a benchmark runs,
    with the processes of others that used the most CPU: the machine is
    shared, other engineers' tests may be running.

Every wait has a bound; every script has an overall time limit after which
it stops everything it started.  Nothing is asserted.
"""

from __future__ import annotations

import json
import os
import queue as _queue
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_publish_lib as L  # noqa: E402

B, PS = L.B, L.PS
MIB = 1024 * 1024


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ms(ns: int | float) -> float:
    return ns / 1e6


def summary(values_ms) -> dict:
    """n, min, p50, p90, p99, max, mean of a list of milliseconds."""
    v = sorted(values_ms)
    if not v:
        return {"n": 0}
    return {"n": len(v), "min": v[0], "p50": B.percentile(v, 50),
            "p90": B.percentile(v, 90), "p99": B.percentile(v, 99),
            "max": v[-1], "mean": sum(v) / len(v)}


def fmt(x, nd: int = 2) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def time_limit(seconds: float) -> None:
    """SIGTERM and, after `seconds`, SIGALRM become SystemExit, so that the
    `with World` blocks stop every process the script started."""
    B.sigterm_as_exit()

    def on_alarm(signum, frame):
        raise SystemExit(f"time limit of {seconds:.0f} s reached")
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)


# -- artifacts -------------------------------------------------------------------

def make_wheel(outdir: Path, name: str, version: str, kib: float) -> Path:
    """A valid wheel of about `kib` KiB (random, incompressible payload)."""
    norm = name.replace("-", "_")
    files = {f"{norm}/__init__.py": f'__version__ = "{version}"\n'.encode(),
             f"{norm}/payload.bin": os.urandom(max(0, int(kib * 1024) - 1200))}
    return PS.make_wheel(outdir, name, version, files=files)


# -- the machine -------------------------------------------------------------------

def fs_of(path: Path) -> str:
    try:
        out = subprocess.run(["df", "-PT", str(path)], capture_output=True, text=True,
                             timeout=10).stdout.splitlines()[1].split()
        return f"{out[1]} on {out[0]}"
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def fsync_probe(folder: Path, n: int = 200) -> dict:
    """write(4 KiB) + fsync() of one file in `folder`, n times: the floor of
    a durable commit on this disk (ms)."""
    p = Path(folder) / ".fsync-probe"
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    t = []
    try:
        buf = os.urandom(4096)
        for i in range(n):
            t0 = time.perf_counter_ns()
            os.pwrite(fd, buf, (i % 64) * 4096)
            os.fsync(fd)
            t.append(ms(time.perf_counter_ns() - t0))
    finally:
        os.close(fd)
        p.unlink()
    return summary(t)


def fsync_dir(path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def spool_probe(folder: Path, n: int = 50, gap_s: float = 0.0, kib: int = 20) -> dict:
    """The file-system work of one spooled enqueue, done by hand: mkdir a
    temporary folder, create a file in it, write `kib` KiB, fsync it, fsync
    the folder, rename the folder into place, fsync the parent (what
    spool.c does, without SQLite), n times with `gap_s` of sleep in between
    (an idle machine wakes up slower).  ms per enqueue."""
    base = Path(folder) / ".spool-probe"
    base.mkdir()
    data = os.urandom(kib * 1024)
    t = []
    try:
        for i in range(n):
            if gap_s:
                time.sleep(gap_s)
            t0 = time.perf_counter_ns()
            tmp = base / f".incoming-{i}"
            tmp.mkdir()
            fd = os.open(tmp / "f.whl", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
            fsync_dir(tmp)
            os.rename(tmp, base / f"job{i}")
            fsync_dir(base)
            t.append(ms(time.perf_counter_ns() - t0))
    finally:
        import shutil
        shutil.rmtree(base, ignore_errors=True)
    return summary(t)


def cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def proc_cpu(reaped: bool = False) -> dict:
    """{pid: (ppid, comm, utime+stime in clock ticks)} for every process;
    reaped: with what its children it has waited for used (cutime+cstime)."""
    out = {}
    for e in os.scandir("/proc"):
        if not e.name.isdigit():
            continue
        try:
            with open(f"/proc/{e.name}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        f = raw[raw.rindex(")") + 2:].split()
        out[int(e.name)] = (int(f[1]), comm,
                            sum(int(x) for x in f[11:15 if reaped else 13]))
    return out


def descendants(snap: dict, root: int) -> set[int]:
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in snap.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = {root}, [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in out:
                out.add(k)
                todo.append(k)
    return out


def others_cpu(before: dict, after: dict, seconds: float, n: int = 6) -> list[str]:
    """Processes that are not this benchmark's (not descendants of this
    process) and used at least 2 % of a CPU between two snapshots."""
    hz = os.sysconf("SC_CLK_TCK")
    ours = descendants(after, os.getpid()) | descendants(before, os.getpid())
    rows = []
    for pid, (ppid, comm, t1) in after.items():
        if pid in ours:
            continue
        t0 = before.get(pid, (0, "", 0))[2]
        used = (t1 - t0) / hz
        if seconds > 0 and used / seconds >= 0.02:
            rows.append((used, f"{comm} (pid {pid}): {used / seconds * 100:.0f} % of a CPU"))
    rows.sort(reverse=True)
    return [r[1] for r in rows[:n]]


class LoadMonitor:
    """Samples /proc/loadavg and /proc/stat every second in a thread."""

    def __init__(self):
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "LoadMonitor":
        self.t0 = time.monotonic()
        self.cpu0 = cpu_times()
        self.procs0 = proc_cpu()
        self._thread.start()
        return self

    def _run(self) -> None:
        prev = cpu_times()
        while not self._stop.wait(1.0):
            cur = cpu_times()
            busy = (cur[0] - prev[0]) / max(1, cur[1] - prev[1])
            prev = cur
            la = open("/proc/loadavg").read().split()
            self.samples.append({"t": time.monotonic() - self.t0, "load1": float(la[0]),
                                 "running": la[3], "cpu_busy": busy})

    def mark(self) -> tuple[float, tuple[int, int]]:
        return time.monotonic(), cpu_times()

    @staticmethod
    def busy_since(mark) -> float:
        c = cpu_times()
        return (c[0] - mark[1][0]) / max(1, c[1] - mark[1][1])

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(3)
        c = cpu_times()
        secs = time.monotonic() - self.t0
        loads = [s["load1"] for s in self.samples]
        return {"seconds": secs,
                "others": others_cpu(self.procs0, proc_cpu(), secs),
                "cpu_busy_mean": (c[0] - self.cpu0[0]) / max(1, c[1] - self.cpu0[1]),
                "load1_min": min(loads) if loads else None,
                "load1_max": max(loads) if loads else None,
                "samples": self.samples}


def header(title: str, state_parent: Path) -> dict:
    info = L.header(title)
    info["fs"] = fs_of(state_parent)
    info["fsync_ms"] = fsync_probe(state_parent)
    info["spool_probe_ms"] = spool_probe(state_parent)
    info["spool_probe_idle_ms"] = spool_probe(state_parent, n=50, gap_s=0.02)
    log(f"# state folder on {info['fs']}; fsync(4 KiB) p50 {info['fsync_ms']['p50']:.2f} ms, "
        f"p99 {info['fsync_ms']['p99']:.2f} ms; spool-like fs work p50 "
        f"{info['spool_probe_ms']['p50']:.2f} ms back to back, "
        f"{info['spool_probe_idle_ms']['p50']:.2f} ms after 20 ms idle")
    return info


def machine_lines(info: dict, load: dict) -> list[str]:
    m = info["machine"]
    f = info["fsync_ms"]
    out = [f"- date: {info['date']}",
           f"- machine: {m['nproc']} CPUs ({m['cpu']}), Linux {m['kernel']} {m['machine']}",
           f"- build: {info['build']}",
           f"- state folder: {info['fs']}; fsync of a 4 KiB write p50 {f['p50']:.2f} ms, "
           f"p99 {f['p99']:.2f} ms, max {f['max']:.2f} ms (n={f['n']}); the spool's file-system "
           f"work done by hand (mkdir, create, write 20 KiB, fsync, fsync folder, rename, "
           f"fsync parent) p50 {info['spool_probe_ms']['p50']:.2f} ms / p99 "
           f"{info['spool_probe_ms']['p99']:.2f} ms back to back, p50 "
           f"{info['spool_probe_idle_ms']['p50']:.2f} ms / p99 "
           f"{info['spool_probe_idle_ms']['p99']:.2f} ms after 20 ms idle (n=50 each)",
           f"- load average (1 min) before {info['load_before']}, during "
           f"{fmt(load['load1_min'])} to {fmt(load['load1_max'])}, after {info.get('load_after', '?')};"
           f" whole-machine CPU busy {load['cpu_busy_mean'] * 100:.0f} % over the run "
           f"({load['seconds']:.0f} s, this benchmark included)"]
    if load.get("others"):
        out.append("- other processes that used CPU during the run (not this benchmark's: "
                   "other engineers' tests): " + "; ".join(load["others"]))
    else:
        out.append("- no other process used 2 % of a CPU or more during the run")
    return out


# -- daemons --------------------------------------------------------------------

def daemon(w: L.World, registries: dict, queue: dict | None = None,
           extra: dict | None = None, env: dict | None = None):
    """aos-publishd with these registries (plus the World's own), log level
    info, started (with `env` added to its environment) and READY.  Stopped
    by the World on exit."""
    cfg = {"log_level": "info", "registries": registries}
    if queue:
        cfg["queue"] = queue
    cfg.update(extra or {})
    d = w.env.daemon(config=cfg, start=False)
    w.daemons.append(d)
    t0 = time.monotonic()
    d.start(env=env, snapshot_at_ready=False)
    d.start_s = time.monotonic() - t0  # spawn to READY=1
    return d


def stop_daemon(w: L.World, d, drain: bool = True) -> int | None:
    if drain and d.alive:
        try:
            c = Ctl(d.socket)
            c.call({"cmd": "drain"})
            c.close()
        except (OSError, B.BenchError):
            pass
    return w.stop_daemon(d)


def mem(pid: int) -> dict:
    return L.status_kb(pid)


def state_sizes(d) -> dict:
    st = Path(d.state_dir)
    out = {}
    for n in ("queue.db", "queue.db-wal", "queue.db-shm"):
        p = st / n
        out[n] = p.stat().st_size if p.exists() else 0
    spool = st / "spool"
    tot = files = 0
    if spool.exists():
        for root, _, fs in os.walk(spool):
            for f in fs:
                try:
                    tot += os.lstat(os.path.join(root, f)).st_blocks * 512
                    files += 1
                except OSError:
                    pass
    out["spool_bytes_on_disk"] = tot
    out["spool_files"] = files
    return out


# -- the control socket -----------------------------------------------------------

class Ctl:
    """One connection to the control socket, JSON lines."""

    def __init__(self, path, timeout: float = 30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""

    def send(self, obj: dict) -> int:
        t = time.monotonic_ns()
        send_request(self.sock, obj)
        return t

    def recv(self) -> tuple[dict, int]:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise B.BenchError("control socket closed")
            self.buf += chunk
        t = time.monotonic_ns()
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line), t

    def call(self, obj: dict) -> dict:
        self.send(obj)
        return self.recv()[0]

    def timed(self, obj: dict) -> tuple[dict, int, int]:
        t0 = self.send(obj)
        ans, t1 = self.recv()
        return ans, t0, t1

    def close(self) -> None:
        self.sock.close()


def publish_req(registry: str, path: Path, **extra) -> dict:
    """A publish of one file; "_open" is not sent: send_request() opens the
    file and passes the descriptor, as aos-publishctl does."""
    return {"cmd": "publish", "registry": registry, "files": [Path(path).name],
            "wait": False, "_open": [str(path)], **extra}


def send_request(sock, obj: dict) -> None:
    """One request line, with the descriptors of the files named in
    obj["_open"] (SCM_RIGHTS): the daemon never opens a client's path."""
    paths = obj.get("_open", [])
    data = json.dumps({k: v for k, v in obj.items() if k != "_open"}).encode() + b"\n"
    if not paths:
        sock.sendall(data)
        return
    fds = [os.open(p, os.O_RDONLY) for p in paths]
    try:
        n = socket.send_fds(sock, [data], fds)
        if n < len(data):
            sock.sendall(data[n:])
    finally:
        for fd in fds:
            os.close(fd)


def enqueue_load(sock_path, requests, clients: int, duration_s: float | None = None,
                 count: int | None = None, timeout_s: float = 60.0) -> dict:
    """Closed loop: `clients` connections, each sends the next publish
    request as soon as the previous one is answered, until `duration_s` has
    passed or `count` requests have been sent in all.  `requests` is a
    function i -> request dict.  `sock_path` may be a list of several
    daemons' sockets: each client connects to every one and request i goes
    to daemon i % n (round robin).  One thread, selectors: the client costs
    little next to the daemon.  Returns latencies (send -> answer, ms),
    answers' job ids, errors, wall time."""
    paths = sock_path if isinstance(sock_path, list) else [sock_path]
    sel = selectors.DefaultSelector()
    conns = []
    for _ in range(clients):
        socks = []
        for p in paths:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(p))
            s.setblocking(False)
            socks.append(s)
        conns.append({"socks": socks, "sock": socks[0], "buf": b"", "t0": 0})
    sent = 0
    lat, ids, errors = [], [], []
    t_start = time.monotonic_ns()
    deadline = t_start + int((duration_s or 1e9) * 1e9)
    hard = time.monotonic() + timeout_s + (duration_s or 0)

    def send(c):
        nonlocal sent
        c["sock"] = c["socks"][sent % len(paths)]
        c["sock"].setblocking(True)
        req = requests(sent)
        sent += 1
        c["t0"] = time.monotonic_ns()
        send_request(c["sock"], req)
        c["sock"].setblocking(False)

    def more() -> bool:
        return (count is None or sent < count) and time.monotonic_ns() < deadline

    active = 0
    for c in conns:
        for s in c["socks"]:
            sel.register(s, selectors.EVENT_READ, c)
        if more():
            send(c)
            active += 1
    while active:
        if time.monotonic() > hard:
            raise B.BenchError(f"enqueue load: no answer within {timeout_s} s")
        for key, _ in sel.select(timeout=1.0):
            c = key.data
            try:
                chunk = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            t = time.monotonic_ns()
            if not chunk:
                raise B.BenchError("control socket closed by the daemon")
            c["buf"] += chunk
            while b"\n" in c["buf"]:
                line, _, c["buf"] = c["buf"].partition(b"\n")
                ans = json.loads(line)
                lat.append(ms(t - c["t0"]))
                if ans.get("ok"):
                    ids.append(ans.get("job_id"))
                else:
                    errors.append(ans.get("error") or str(ans))
                if more():
                    send(c)
                else:
                    active -= 1
    wall = (time.monotonic_ns() - t_start) / 1e9
    for c in conns:
        for s in c["socks"]:
            s.close()
    sel.close()
    return {"clients": clients, "sent": sent, "answered": len(lat), "ok": len(ids),
            "errors": errors, "wall_s": wall, "latency_ms": lat, "job_ids": ids}


# -- registries -------------------------------------------------------------------------

class TimestampSink:
    """bench_queue_sink.py in its own process; its JSON lines are read by a
    thread into a queue."""

    def __init__(self, workdir: Path, hang_first: str | None = None):
        """hang_first: the sink's --hang-first prefix (the first POST of
        each such file is never answered)."""
        self.workdir = Path(workdir)
        self.argv = ["--hang-first", hang_first] if hang_first else []
        self.proc = None
        self.q: _queue.Queue = _queue.Queue()

    def start(self, timeout: float = 10.0) -> "TimestampSink":
        err = open(self.workdir / "tsink.log", "wb")
        argv = [sys.executable, str(HERE / "bench_queue_sink.py"), *self.argv]
        self.proc = subprocess.Popen(argv,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=err, start_new_session=True)
        err.close()
        t = threading.Timer(timeout, lambda: L._kill_group(self.proc.pid))
        t.start()
        try:
            line = self.proc.stdout.readline()
        finally:
            t.cancel()
        if not line.startswith(b"PORT "):
            raise B.BenchError(f"timestamp sink did not start: {line!r}")
        self.port = int(line.split()[1])
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                self.q.put(json.loads(line))
            except ValueError:
                pass

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def get(self, timeout: float) -> dict:
        try:
            return self.q.get(timeout=timeout)
        except _queue.Empty:
            raise B.BenchError(f"the sink saw no request within {timeout} s") from None

    def drain(self) -> list[dict]:
        out = []
        while True:
            try:
                out.append(self.q.get_nowait())
            except _queue.Empty:
                return out

    def stop(self) -> None:
        if self.proc is not None:
            B.terminate(self.proc, 5)
            self.proc = None


class StallRegistry:
    """A TCP listener that accepts connections and never reads or answers:
    uploads to it hang until the daemon's stall timeout."""

    def __init__(self):
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.conns = []
        self._stop = False
        self.ls.settimeout(0.5)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop:
            try:
                s, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(s)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        self._stop = True
        self.thread.join(2)
        for s in self.conns:
            s.close()
        self.ls.close()
