"""Shared plumbing for the publish benchmarks (bench_publish_wheel.py,
bench_publish_npm.py, bench_publish_many.py).

One world per script, in a private temporary folder:

  * an OpenBao dev server holding generated registry tokens, a real
    pypiserver (htpasswd user __token__) and a real verdaccio (max_body_size
    200mb, a real user's token), all from tests/integration/publish_support.py
    (PublishEnv);
  * the loopback sink (bench_publish_sink.py), which reads and discards
    bodies;
  * aos-publishd daemons (log level info) whose registries are `pypi` and
    `npm` (the real servers) and `sink-pypi` and `sink-npm` (the sink).

Every client run is a child process started under GNU `/usr/bin/time`
and timed from just before spawning to its exit; its peak RSS is the one
GNU time reports ("%M", ru_maxrss: the largest of the process and its
waited-for descendants, what `time -v` prints as "Maximum resident set
size").  Every run has a time limit.  Nothing is asserted: the scripts measure and report.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import benchlib as B  # noqa: E402

SOURCE_DIR = B.SOURCE_DIR
sys.path.insert(0, str(SOURCE_DIR / "tests" / "integration"))
sys.path.insert(0, str(SOURCE_DIR / "tests"))

import publish_support as PS  # noqa: E402
from peers.verdaccio import Verdaccio  # noqa: E402

VENV_BIN = SOURCE_DIR / ".venv" / "bin"
TWINE = VENV_BIN / "twine"
CURL = B.tool("curl")
NPM = B.tool("npm")
MIB = 1024 * 1024


class Run:
    """One timed child process."""

    def __init__(self, what: str, argv, rc: int, seconds: float, maxrss_kb: int,
                 out: str, err: str):
        self.what, self.argv, self.rc, self.seconds = what, argv, rc, seconds
        self.maxrss_kb, self.out, self.err = maxrss_kb, out, err

    def check(self, ok=(0,)) -> "Run":
        if self.rc not in ok:
            raise B.BenchError(f"{self.what}: exit {self.rc}\nstdout: {self.out[-2000:]}"
                               f"\nstderr: {self.err[-2000:]}")
        return self


GNU_TIME = "/usr/bin/time"


def timed(what: str, argv, env: dict, cwd=None, timeout: float = 120.0,
          workdir: Path | None = None) -> Run:
    """Run argv under GNU time; wall time from just before spawning to the
    reap, peak RSS as GNU time reports it ("%M": the child's ru_maxrss).

    Why GNU time rather than our own wait4(): a child's ru_maxrss includes
    the RSS of the memory image it was forked from (the kernel folds the
    old mm's high-water mark in at exec), so a child forked straight from
    this Python process would be charged this process's 30-150 MB.
    /usr/bin/time is a small process, so its children are charged their own
    memory only.  Spawning it costs about 1 ms, the same for every client.
    stdout/stderr go to files (no pipe for the parent to service)."""
    if not os.access(GNU_TIME, os.X_OK):
        raise B.BenchError(f"{GNU_TIME} missing: apt-get install -y time")
    workdir = Path(workdir or tempfile.gettempdir())
    outp, errp, rssp = workdir / "run.stdout", workdir / "run.stderr", workdir / "run.rss"
    rssp.write_text("")
    full = [GNU_TIME, "-f", "%M", "-o", str(rssp), *[str(a) for a in argv]]
    with open(outp, "wb") as o, open(errp, "wb") as e:
        t0 = time.perf_counter()
        p = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=o, stderr=e,
                             env=env, cwd=cwd, start_new_session=True)
        killer = threading.Timer(timeout, lambda: _kill_group(p.pid))
        killer.start()
        try:
            rc = p.wait()
        finally:
            killer.cancel()
        t1 = time.perf_counter()
    if rc < 0:
        rc = 128 - rc
    maxrss = 0
    for ln in rssp.read_text().splitlines():  # "Command exited with non-zero status N" first
        if ln.strip().isdigit():
            maxrss = int(ln.strip())
    return Run(what, argv, rc, t1 - t0, maxrss,
               outp.read_text(errors="replace"), errp.read_text(errors="replace"))


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stats(values) -> dict:
    v = list(values)
    if not v:
        return {"n": 0}
    return {"n": len(v), "median": statistics.median(v), "min": min(v), "max": max(v)}


def status_kb(pid: int) -> dict:
    s = B.proc_status(pid)
    return {"VmRSS_kB": s.get("VmRSS"), "VmHWM_kB": s.get("VmHWM"),
            "RssAnon_kB": s.get("RssAnon"), "RssFile_kB": s.get("RssFile"),
            "Threads": s.get("Threads")}


def tool_versions() -> dict:
    def out(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                               env={"PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
                                    "HOME": tempfile.gettempdir()})
            return (p.stdout or p.stderr).strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            return "unknown"
    return {"twine": out([TWINE, "--version"]),
            "curl": out([CURL, "--version"]),
            "npm": out([NPM, "--version"]),
            "node": out(["node", "--version"]),
            "pypiserver": out([VENV_BIN / "python", "-c",
                               "import pypiserver; print(pypiserver.__version__)"]),
            "verdaccio": _verdaccio_version()}


def _verdaccio_version() -> str:
    try:
        pj = SOURCE_DIR / "tests/peers/npm/node_modules/verdaccio/package.json"
        return json.loads(pj.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "unknown"


def build_info() -> str:
    try:
        cache = (B.BUILD_DIR / "CMakeCache.txt").read_text()
        bt = next((ln.split("=", 1)[1] for ln in cache.splitlines()
                   if ln.startswith("CMAKE_BUILD_TYPE:")), "unset")
    except OSError:
        bt = "unknown"
    try:
        commit = subprocess.run(["git", "-C", str(SOURCE_DIR), "rev-parse", "--short",
                                 "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    try:
        built = time.strftime("%Y-%m-%d %H:%M %Z",
                              time.localtime(B.PUBLISHD.stat().st_mtime))
    except OSError:
        built = "unknown"
    return (f"{B.BUILD_DIR} (CMAKE_BUILD_TYPE={bt or 'unset'}, aos-publishd built "
            f"{built}); source tree HEAD now {commit}")


def header(title: str) -> dict:
    m = B.machine_info()
    info = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": m,
            "build": build_info(), "versions": tool_versions(),
            "load_before": " ".join(open("/proc/loadavg").read().split()[:3])}
    print(f"# {title}", file=sys.stderr)
    print(f"# {info['date']}; {m['nproc']} CPUs ({m['cpu']}), Linux {m['kernel']}; "
          f"load {info['load_before']}", file=sys.stderr)
    print(f"# {info['build']}; {info['versions']}", file=sys.stderr)
    return info


# -- the sink ----------------------------------------------------------------

class Sink:
    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self, timeout: float = 10.0) -> "Sink":
        log = open(self.workdir / "sink.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "bench_publish_sink.py")],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
            start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        line = b""
        # readline() blocks; the sink prints its port at once or dies.
        t = threading.Timer(timeout, lambda: _kill_group(self.proc.pid))
        t.start()
        try:
            line = self.proc.stdout.readline()
        finally:
            t.cancel()
        if not line.startswith(b"PORT ") or time.monotonic() > deadline:
            raise B.BenchError(f"sink did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def take_stats(self) -> list[dict]:
        with urllib.request.urlopen(self.url + "__stats", timeout=10) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        if self.proc is not None:
            B.terminate(self.proc, 5)
            self.proc = None

    def capacity(self, path: Path, runs: int = 5) -> dict:
        """How fast the sink absorbs a body pushed with sendfile(2) on one
        connection: the ceiling any client can see against it."""
        import socket
        n = path.stat().st_size
        times = []
        for _ in range(runs):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            t0 = time.perf_counter()
            s.sendall(f"POST /capacity HTTP/1.1\r\nHost: x\r\nContent-Length: {n}\r\n"
                      f"Connection: close\r\n\r\n".encode())
            with open(path, "rb") as f:
                s.sendfile(f)  # os.sendfile(2) underneath
            s.recv(4096)
            times.append(time.perf_counter() - t0)
            s.close()
        st = self.take_stats()
        cpu = [x["cpu_s"] for x in st if x["path"] == "/capacity"]
        return {"bytes": n, "seconds": stats(times), "MB_per_s_best": n / min(times) / 1e6,
                "sink_cpu_s": stats(cpu)}


# -- the world ----------------------------------------------------------------

class World:
    """PublishEnv (OpenBao, pypiserver, verdaccio) + the sink + daemons."""

    def __init__(self, keep: bool = False, need_pypi: bool = True, need_npm: bool = True):
        B.check_binaries()
        self.keep = keep
        self.dir = Path(tempfile.mkdtemp(prefix="aosp-", dir="/tmp"))
        os.chmod(self.dir, 0o700)
        self.env = PS.PublishEnv(self.dir)
        # Quieter verdaccio (no per-request log lines), same 200mb body limit.
        self.env.npm = Verdaccio(workdir=self.dir / "npm", log_level="warn")
        self.need_pypi, self.need_npm = need_pypi, need_npm
        self.sink = Sink(self.dir)
        self.daemons = []

    def __enter__(self) -> "World":
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        e = self.env
        if not self.need_npm:  # skip verdaccio; keep NPM_TOKEN for the sink
            e.npm.start = lambda *a, **k: e.npm
            e.npm.add_user = lambda *a, **k: "npm-" + B.new_value("sink")
        if not self.need_pypi:
            e.pypi.start = lambda *a, **k: e.pypi
        e.start()
        self.sink.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for d in self.daemons:
            try:
                d.stop(expect_rc=None)
            finally:
                d.close()
        self.daemons.clear()
        self.sink.stop()
        try:
            self.env.stop()
        except Exception as ex:  # keep stopping
            print(f"stopping servers: {ex}", file=sys.stderr)
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"(kept {self.dir})", file=sys.stderr)

    def registries(self) -> dict:
        return {
            "sink-pypi": {"type": "pypi", "url": self.sink.url,
                          "token_key": "PYPI_API_TOKEN",
                          "index_url": self.sink.url + "simple/"},
            "sink-npm": {"type": "npm", "url": self.sink.url, "token_key": "NPM_TOKEN",
                         "access": "public"},
        }

    def daemon(self):
        """A fresh aos-publishd (log level info), started and READY."""
        d = self.env.daemon(config={"log_level": "info",
                                    "registries": self.registries()})
        self.daemons.append(d)
        return d

    def stop_daemon(self, d) -> int:
        rc = d.stop(expect_rc=None)
        d.close()
        self.daemons.remove(d)
        return rc

    def home(self, name: str) -> Path:
        h = self.dir / "homes" / name
        h.mkdir(parents=True, exist_ok=True)
        return h

    def tool_env(self, name: str, extra: dict | None = None) -> dict:
        return PS.tool_env(self.home(name), extra)


# -- client command lines -------------------------------------------------------

def publishctl_argv(d, registry: str, files, timeout_s: int = 300) -> list:
    return [B.PUBLISHCTL, "--socket", d.socket, "--json", "--timeout", str(timeout_s),
            "publish", "--wait", "--registry", registry, *files]


def publishctl_final(run: Run) -> dict:
    """The final {"ok": ...} line of `aos-publishctl --json publish`."""
    for ln in reversed(run.out.splitlines()):
        try:
            j = json.loads(ln)
        except ValueError:
            continue
        if "ok" in j and "event" not in j:
            return j
    raise B.BenchError(f"{run.what}: no final line: {run.out[-2000:]} {run.err[-1000:]}")


def twine_argv(url: str, files) -> list:
    return [TWINE, "upload", "--non-interactive", "--disable-progress-bar",
            "--repository-url", url, *files]


def twine_env(world: World, token: str) -> dict:
    return world.tool_env("twine", {"TWINE_USERNAME": "__token__",
                                    "TWINE_PASSWORD": token,
                                    "TWINE_NON_INTERACTIVE": "1",
                                    "NO_COLOR": "1"})


def wheel_form(path: Path, name: str, version: str) -> list[tuple[str, str]]:
    """The minimum fields twine sends, for `curl -F`."""
    return [(":action", "file_upload"), ("protocol_version", "1"), ("name", name),
            ("version", version), ("filetype", "bdist_wheel"), ("pyversion", "py3"),
            ("metadata_version", "2.1"), ("sha256_digest", PS.sha256_file(path))]


def curl_form_argv(url: str, form, path: Path, cfg: Path,
                   no_expect: bool = False) -> list:
    argv = [CURL, "-sS", "--fail-with-body", "-o", "/dev/null", "-w", "%{http_code}",
            "-K", cfg]
    if no_expect:
        argv += ["-H", "Expect:"]
    for k, v in form:
        argv += ["--form-string", f"{k}={v}"]
    argv += ["-F", f"content=@{path};type=application/octet-stream", url]
    return argv


def curl_config(world: World, name: str, header: str) -> Path:
    """A curl config file carrying one header (keeps the token out of argv)."""
    p = world.home("curl") / name
    B.write_private(p, f'header = "{header}"\n')
    return p


# -- npm documents ----------------------------------------------------------------

def npm_manifest(tgz: Path) -> dict:
    import tarfile
    with tarfile.open(tgz, "r:gz") as t:
        for m in t:
            if m.name == "package/package.json":
                return json.loads(t.extractfile(m).read())
    raise B.BenchError(f"{tgz}: no package/package.json")


def write_npm_doc(tgz: Path, registry: str, out: Path, tag: str = "latest",
                  access: str | None = "public") -> Path:
    """The publish document npm 11 (libnpmpublish) sends for this tarball:
    the manifest plus _id and dist, dist-tags, access, and the tarball
    base64-encoded in _attachments; streamed to `out`."""
    pkg = npm_manifest(tgz)
    name, version = pkg["name"], pkg["version"]
    data = tgz.read_bytes()
    tb_name = f"{name}-{version}.tgz"
    manifest = dict(pkg)
    manifest["_id"] = f"{name}@{version}"
    manifest["dist"] = {
        "integrity": "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
        "shasum": hashlib.sha1(data).hexdigest(),
        "tarball": registry.rstrip("/") + f"/{name}/-/{tb_name}",
    }
    doc_head = {"_id": name, "name": name, "description": pkg.get("description", ""),
                "dist-tags": {tag: version}, "versions": {version: manifest},
                "access": access}
    head = json.dumps(doc_head, separators=(",", ":"))[:-1]  # drop the final }
    with open(out, "wb") as f:
        f.write(head.encode())
        f.write(b',"_attachments":{' + json.dumps(tb_name).encode() +
                b':{"content_type":"application/octet-stream","data":"')
        f.write(base64.b64encode(data))
        f.write(b'","length":' + str(len(data)).encode() + b"}}}")
    del data
    return out


def curl_put_argv(url: str, doc: Path, cfg: Path) -> list:
    return [CURL, "-sS", "--fail-with-body", "-o", "/dev/null", "-w", "%{http_code}",
            "-K", cfg, "-H", "Content-Type: application/json",
            "-H", "Accept: application/json", "-T", doc, url]


def npm_package_url(registry: str, name: str) -> str:
    import urllib.parse
    return registry.rstrip("/") + "/" + urllib.parse.quote(name, safe="@")


def npm_env(world: World, registry: str, token: str) -> dict:
    """Private npm configuration: the registry and its token in a 0600
    userconfig."""
    home = world.home("npm")
    hostpath = registry.split(":", 1)[1].rstrip("/") + "/"  # //127.0.0.1:P/
    B.write_private(home / ".npmrc", f"registry={registry}\n{hostpath}:_authToken={token}\n")
    return PS.tool_env(home, {"npm_config_registry": registry})


# -- reporting -----------------------------------------------------------------------

def fmt_s(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def fmt_mib(kb) -> str:
    return "-" if kb is None else f"{kb / 1024:.1f}"


def table(rows, cols) -> str:
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(str(x) for x in r) + " |")
    return "\n".join(out)


def rounds(tools, reps: int, warmup: int = 1, log=None) -> dict:
    """Run each tool (name, fn) `warmup` untimed times, then `reps` times,
    the order rotated every repetition so that no tool always goes first.
    fn(i) runs one measured upload (its own untimed setup and checks
    around it) and returns a dict with at least "seconds"."""
    out = {name: [] for name, _ in tools}
    for _ in range(warmup):
        for name, fn in tools:
            fn(-1)
    for i in range(reps):
        k = i % len(tools)
        for name, fn in tools[k:] + tools[:k]:
            rec = fn(i)
            out[name].append(rec)
            if log:
                log(f"  rep {i + 1}/{reps} {name}: {rec['seconds']:.3f} s"
                    + (f", peak RSS {rec['maxrss_kb'] / 1024:.1f} MiB"
                       if rec.get("maxrss_kb") else ""))
    return out


def summarize(recs: list[dict]) -> dict:
    s = stats(r["seconds"] for r in recs)
    rss = [r["maxrss_kb"] for r in recs if r.get("maxrss_kb")]
    if rss:
        s["maxrss_kb"] = max(rss)
    body = [r["sink_body_s"] for r in recs if "sink_body_s" in r]
    if body:
        s["sink_body_s_median"] = statistics.median(body)
    ctl = [r["ctl_maxrss_kb"] for r in recs if r.get("ctl_maxrss_kb")]
    if ctl:
        s["ctl_maxrss_kb"] = max(ctl)
    return s


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
