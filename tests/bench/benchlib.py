"""Shared plumbing for the benchmarks in tests/bench/ (Python standard library
only).

Every benchmark builds the same small world in a private temporary folder:

  * an OpenBao dev server on a free 127.0.0.1 port with a generated root
    token (tests/peers/openbao.py), seeded with the KV v2 secret
    secret/agenticverz/package-registry (three generated values), a read-only
    policy on its data and metadata paths, and two AppRole roles with that
    policy: one for aos-publishd, one for `bao agent`;
  * aos-publishd with an AppRole configuration, the three registries of the
    demo, and otherwise default settings (log level info, poll 30 s);
  * `bao agent` with auto_auth (approle, role_id/secret_id files,
    remove_secret_id_file_after_reading = false), no sink, and one template
    rendering the three keys into a file; no template_config, so its
    defaults apply.

Nothing here asserts timings: the benchmarks measure and report.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import secrets as _secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("AOS_SOURCE_DIR") or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(SOURCE_DIR / "tests"))

from peers.openbao import (  # noqa: E402
    DEFAULT_KEYS, DEFAULT_KV_PATH, OpenBao, find_bao, fingerprint, read_policy)

BUILD_DIR = Path(os.environ.get("AOS_BUILD_DIR") or SOURCE_DIR / "build").resolve()
PUBLISHD = BUILD_DIR / "agent" / "aos-publishd"
PUBLISHCTL = BUILD_DIR / "agent" / "aos-publishctl"
ROTATE_SCRIPT = SOURCE_DIR / "vault" / "rotate_secret.sh"
CLEAN_PATH = "/usr/local/bin:/usr/bin:/bin"

REGISTRIES = {
    "pypi": {"type": "pypi", "url": "http://127.0.0.1:9/legacy/",
             "token_key": "PYPI_API_TOKEN"},
    "testpypi": {"type": "pypi", "url": "http://127.0.0.1:9/legacy/",
                 "token_key": "TEST_PYPI_API_TOKEN"},
    "npm": {"type": "npm", "url": "http://127.0.0.1:9/", "token_key": "NPM_TOKEN"},
}

TEMPLATE = "".join(
    ['{{ with secret "secret/data/%s" }}' % DEFAULT_KV_PATH]
    + ["%s={{ .Data.data.%s }}\n" % (k, k) for k in DEFAULT_KEYS]
    + ["{{ end }}"])


class BenchError(Exception):
    """Something went wrong that makes the measurement meaningless."""


# -- running a benchmark: tools, --smoke, the entry point ---------------------

def tool(name: str) -> str:
    """Where a tool is: on this process's PATH or the clean one, else the
    bare name (require_tools then says it is missing)."""
    return (shutil.which(name) or shutil.which(name, path=CLEAN_PATH) or name)


def require_tools(**tools) -> None:
    """Every tool the benchmark runs or compares with (name=path) is an
    executable file; else BenchError naming each missing one.  A benchmark
    never leaves a tool out silently: a comparison without its other side
    is no result.  scripts/setup.sh installs them all (docs/benchmarks.md)."""
    missing = [f"{name} ({path})" for name, path in tools.items()
               if not (os.path.isabs(str(path)) and os.access(path, os.X_OK))]
    if missing:
        raise BenchError(f"missing: {', '.join(missing)}; scripts/setup.sh (make setup) "
                         f"installs it, see docs/benchmarks.md")


def parse_args(ap, smoke: dict, argv=None):
    """ap's arguments plus --smoke: run once on tiny inputs (the option
    values in `smoke` replace the given ones), as `make check` does for
    every benchmark so that one that no longer works fails it; the numbers
    of a smoke run mean nothing and nothing is asserted about them."""
    ap.add_argument("--smoke", action="store_true",
                    help="run once on tiny inputs, only to check that the benchmark "
                         "still works (make check does)")
    args = ap.parse_args(argv)
    if args.smoke:
        for k, v in smoke.items():
            setattr(args, k, v)
    return args


def run(main, name: str | None = None) -> None:
    """The entry point of a benchmark script: exits with main()'s status;
    SIGTERM stops it through its `finally:` blocks; a BenchError or a
    missing file is one line on stderr naming the script, exit status 1."""
    name = name or Path(sys.argv[0]).stem
    sigterm_as_exit()
    try:
        rc = main()
    except (BenchError, FileNotFoundError) as e:
        print(f"{name}: {e}", file=sys.stderr)
        rc = 1
    sys.exit(rc)


def run_suite(prefix: str, plan, out: str | None, smoke: bool = False) -> int:
    """Runs benchmarks one after the other: plan is (name, extra argv,
    time limit s) for tests/bench/<prefix><name>.py, each given --json
    OUT/<name>.json (and --smoke), its report kept as OUT/<name>.md and
    printed, its stderr as OUT/<name>.log (its tail printed when it
    failed).  A script past its limit gets SIGTERM (it stops what it
    started), then SIGKILL.  OUT is `out`, or a new temporary folder (kept,
    but removed after a smoke run that passed).  Returns 1 if one failed,
    else 0."""
    here = Path(__file__).resolve().parent
    temporary = out is None
    out = Path(out or tempfile.mkdtemp(prefix=f"aos-{prefix}"))
    out.mkdir(parents=True, exist_ok=True)
    status = 0
    for name, extra, limit in plan:
        script = f"{prefix}{name}.py"
        argv = [sys.executable, str(here / script), "--json", str(out / f"{name}.json"),
                *extra] + (["--smoke"] if smoke else [])
        print(f"\n## {script}\n", flush=True)
        log, md = out / f"{name}.log", out / f"{name}.md"
        with open(log, "wb") as logf, open(md, "wb") as mdf:
            p = subprocess.Popen(argv, stdout=mdf, stderr=logf, env=os.environ.copy())
            try:
                rc = p.wait(limit)
            except subprocess.TimeoutExpired:
                rc = terminate(p, 30)
                print(f"{script} timed out after {limit} s", file=sys.stderr)
                rc = -1
        sys.stdout.write(md.read_text(errors="replace"))
        sys.stdout.flush()
        if rc != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            print(f"{script} failed (exit {rc}); log {log}, its end:\n{tail}",
                  file=sys.stderr)
            status = 1
    if smoke and temporary and status == 0:
        shutil.rmtree(out, ignore_errors=True)
    else:
        print(f"\nJSON results and logs: {out}", file=sys.stderr)
    return status


# -- small helpers ------------------------------------------------------------

def now() -> float:
    return time.monotonic()


def new_value(prefix: str = "bench") -> str:
    return f"{prefix}-{_secrets.token_urlsafe(32)}"


def write_private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def percentile(values, p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(1, math.ceil(p / 100.0 * len(s)))
    return s[k - 1]


def summary_ms(seconds) -> dict:
    """n, p50, p99, max, min, mean of a list of durations in seconds, in ms."""
    ms = [x * 1000.0 for x in seconds]
    if not ms:
        return {"n": 0}
    return {"n": len(ms), "min": min(ms), "p50": percentile(ms, 50),
            "p99": percentile(ms, 99), "max": max(ms), "mean": sum(ms) / len(ms)}


def proc_status(pid: int) -> dict:
    """The kB fields of /proc/<pid>/status (VmRSS, VmHWM, ...) as ints, and
    Threads."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            v = v.strip()
            if v.endswith(" kB"):
                out[k] = int(v[:-3])
            elif k == "Threads":
                out[k] = int(v)
    return out


def machine_info() -> dict:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "machine": platform.machine()}


def bao_version(bao: str) -> str:
    try:
        return subprocess.run([bao, "version"], capture_output=True, text=True,
                              timeout=10, env={"PATH": CLEAN_PATH}).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def check_binaries() -> None:
    for p in (PUBLISHD, PUBLISHCTL):
        if not os.access(p, os.X_OK):
            raise BenchError(f"{p} missing: run `make build` first "
                             f"(or set AOS_BUILD_DIR)")


def terminate(proc: subprocess.Popen | None, timeout: float = 10.0) -> int | None:
    """SIGTERM, wait, SIGKILL if needed.  Returns the exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def sigterm_as_exit() -> None:
    """Turn SIGTERM into SystemExit so that `finally:` blocks stop every
    process this benchmark started."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)


def write_result(path: str | None, result: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(result, indent=2) + "\n")


# -- the world ----------------------------------------------------------------

class World:
    """A private folder, a seeded OpenBao dev server, credential files for
    the daemon and the agent.  Use as a context manager: everything started
    through it is stopped and the folder removed on exit."""

    def __init__(self, keep: bool = False):
        check_binaries()
        self.keep = keep
        # Short path: Unix socket names are limited to 107 bytes.
        self.dir = Path(tempfile.mkdtemp(prefix="aosb-"))
        os.chmod(self.dir, 0o700)
        self.bao = OpenBao(workdir=self.dir / "openbao")
        (self.dir / "openbao").mkdir()
        self.procs: list[subprocess.Popen] = []
        self.values = {k: new_value(k.lower()) for k in DEFAULT_KEYS}

    def __enter__(self) -> "World":
        try:
            self.bao.start()
            self._seed()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for p in self.procs:
            terminate(p)
        self.procs.clear()
        self.bao.stop()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"(kept {self.dir})", file=sys.stderr)

    def _seed(self) -> None:
        bao = self.bao
        bao.write_policy("package-registry-read", read_policy(DEFAULT_KV_PATH))
        bao.enable_approle()
        self.creds = {}
        for who in ("aos-publishd", "bao-agent"):
            role_id = bao.create_role(who, ["package-registry-read"],
                                      token_ttl="1h", token_max_ttl="24h",
                                      role_id=_secrets.token_urlsafe(18))
            secret_id = bao.custom_secret_id(who)
            d = self.dir / f"creds-{who}"
            d.mkdir(mode=0o700)
            write_private(d / "role_id", role_id + "\n")
            write_private(d / "secret_id", secret_id + "\n")
            self.creds[who] = d
        self.kv_version = bao.kv_put(DEFAULT_KV_PATH, self.values)

    # -- KV ---------------------------------------------------------------
    def kv_patch(self, key: str, value: str) -> int:
        """One KV v2 merge patch through the HTTP API (root token); returns
        the new version.  Not journaled (the server is never restarted)."""
        r = self.bao.api("PATCH", f"secret/data/{DEFAULT_KV_PATH}",
                         {"data": {key: value}},
                         headers={"Content-Type": "application/merge-patch+json"})
        self.values[key] = value
        self.kv_version = r["data"]["version"]
        return self.kv_version

    # -- aos-publishd -------------------------------------------------------
    def daemon_config(self, name: str = "d", **vault_over) -> Path:
        d = self.dir / name
        (d / "run").mkdir(parents=True, mode=0o700, exist_ok=True)
        (d / "state").mkdir(mode=0o700, exist_ok=True)
        creds = self.creds["aos-publishd"]
        vault = {"address": self.bao.addr,
                 "auth": {"method": "approle",
                          "role_id_file": str(creds / "role_id"),
                          "secret_id_file": str(creds / "secret_id")}}
        vault.update(vault_over)
        cfg = {"log_level": "info", "runtime_dir": str(d / "run"),
               "state_dir": str(d / "state"),
               "control_socket": str(d / "run" / "control.sock"),
               "vault": vault, "registries": REGISTRIES}
        path = d / "config.json"
        path.write_text(json.dumps(cfg, indent=2))
        return path

    def start_daemon(self, config: Path, notify_path: str | None = None,
                     log_name: str = "daemon.log", binary: Path | None = None,
                     bind_now: bool = True) -> subprocess.Popen:
        # LD_BIND_NOW as the shipped unit sets it (else the daemon
        # executes itself once more to set it: docs/security.md);
        # bind_now=False measures that hand start.  binary: another
        # build's aos-publishd (bench_startup.py --compare).
        env = {"PATH": CLEAN_PATH}
        if bind_now:
            env["LD_BIND_NOW"] = "1"
        if notify_path:
            env["NOTIFY_SOCKET"] = notify_path
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        with open(config.parent / log_name, "ab") as log:
            p = subprocess.Popen([str(binary or PUBLISHD), "-c", str(config)],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 env=env, cwd="/", start_new_session=True)
        self.procs.append(p)
        return p

    def stop(self, proc: subprocess.Popen) -> int | None:
        rc = terminate(proc)
        if proc in self.procs:
            self.procs.remove(proc)
        return rc

    # -- bao agent --------------------------------------------------------
    def agent_config(self, name: str = "a",
                     render_interval: str | None = None) -> tuple[Path, Path]:
        """Write an agent configuration and return (config path, rendered file
        path).  template_config is left out (defaults) unless render_interval
        is given (static_secret_render_interval, e.g. "5s")."""
        d = self.dir / name
        d.mkdir(mode=0o700, exist_ok=True)
        (d / "out").mkdir(mode=0o700, exist_ok=True)
        creds = self.creds["bao-agent"]
        tmpl = d / "registry.ctmpl"
        tmpl.write_text(TEMPLATE)
        dest = d / "out" / "registry.env"
        hcl = f'''# bao agent rendering secret/{DEFAULT_KV_PATH}: auto_auth with
# AppRole, no sink, one template; template_config left at its defaults.
vault {{
  address = "{self.bao.addr}"
}}
auto_auth {{
  method "approle" {{
    mount_path = "auth/approle"
    config = {{
      role_id_file_path = "{creds / 'role_id'}"
      secret_id_file_path = "{creds / 'secret_id'}"
      remove_secret_id_file_after_reading = false
    }}
  }}
}}
template {{
  source = "{tmpl}"
  destination = "{dest}"
  perms = "0600"
  error_on_missing_key = true
}}
'''
        if render_interval:
            hcl += ("template_config {\n"
                    f'  static_secret_render_interval = "{render_interval}"\n}}\n')
        cfg = d / "agent.hcl"
        cfg.write_text(hcl)
        return cfg, dest

    def start_agent(self, config: Path, log_name: str = "agent.log") -> subprocess.Popen:
        env = {"PATH": CLEAN_PATH, "HOME": str(config.parent)}
        with open(config.parent / log_name, "ab") as log:
            p = subprocess.Popen([self.bao.bao, "agent", f"-config={config}"],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 env=env, cwd=str(config.parent), start_new_session=True)
        self.procs.append(p)
        return p


def read_rendered(path: Path) -> dict | None:
    """KEY=VALUE lines of the agent's rendered file, or None when it does not
    exist (yet) or is incomplete."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out[k] = v
    if not all(k in out for k in DEFAULT_KEYS):
        return None
    return out


# -- notify socket and control socket -----------------------------------------

class NotifySocket:
    """An AF_UNIX datagram socket to give as NOTIFY_SOCKET."""

    def __init__(self, path: Path):
        self.path = str(path)
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def drain(self) -> None:
        self.sock.setblocking(False)
        try:
            while True:
                self.sock.recv(65536)
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)

    def wait_ready(self, proc: subprocess.Popen, timeout: float) -> float:
        """Block until a datagram with a READY=1 line arrives; returns the
        monotonic time of its receipt.  Raises BenchError if the process exits
        or the time runs out."""
        deadline = now() + timeout
        while True:
            left = deadline - now()
            if left <= 0:
                raise BenchError(f"no READY=1 within {timeout}s")
            self.sock.settimeout(min(left, 0.5))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                if proc.poll() is not None:
                    raise BenchError(f"aos-publishd exited with {proc.returncode}"
                                     " before READY=1") from None
                continue
            t = now()
            if "READY=1" in data.decode(errors="replace").split("\n"):
                return t

    def start_drain(self) -> None:
        """Keep reading (and dropping) datagrams in a background thread.
        Needed once the daemon runs on after READY=1: it sends a STATUS=
        datagram on every secret change, and libsystemd's sd_notify() is a
        blocking send, so an unread socket (Linux queues only
        net.unix.max_dgram_qlen datagrams, 10 by default) would stall the
        daemon's event loop and spoil the measurement."""
        self._stop = False

        def run():
            self.sock.settimeout(0.2)
            while not self._stop:
                try:
                    self.sock.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def close(self) -> None:
        if getattr(self, "_thread", None):
            self._stop = True
            self._thread.join(2)
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class Control:
    """A persistent connection to the daemon's control socket (JSON lines)."""

    def __init__(self, path: Path, timeout: float = 15.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""

    def call(self, cmd: str) -> dict:
        self.sock.sendall(json.dumps({"cmd": cmd}).encode() + b"\n")
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise BenchError("control socket closed")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def close(self) -> None:
        self.sock.close()


def secrets_by_key(answer: dict) -> dict:
    return {s["key"]: s for s in answer.get("secrets", [])}


def ctl_secrets(socket_path: Path) -> dict:
    """`aos-publishctl --json secrets`, as an operator would check."""
    p = subprocess.run([str(PUBLISHCTL), "--socket", str(socket_path), "--json",
                        "secrets"], capture_output=True, text=True, timeout=15,
                       env={"PATH": CLEAN_PATH})
    if p.returncode != 0:
        raise BenchError(f"aos-publishctl secrets: rc={p.returncode} {p.stderr.strip()}")
    return json.loads(p.stdout)


def wait_file(path: Path, proc: subprocess.Popen, timeout: float,
              pred=lambda d: True, interval: float = 0.001) -> tuple[float, dict]:
    """Poll the agent's rendered file until it is complete and pred(values)
    holds; returns (monotonic time seen, values)."""
    deadline = now() + timeout
    while True:
        d = read_rendered(path)
        if d is not None and pred(d):
            return now(), d
        if proc.poll() is not None:
            raise BenchError(f"bao agent exited with {proc.returncode}")
        if now() >= deadline:
            raise BenchError(f"{path.name}: condition not met within {timeout}s")
        time.sleep(interval)


def rng() -> random.Random:
    seed = os.environ.get("AOS_BENCH_SEED")
    return random.Random(int(seed)) if seed else random.Random()
