"""The integration tests' fixtures and helpers, a pytest plugin (conftest.py
lists it in pytest_plugins, beside the fixture modules publish_support,
queue_support, webhook_support and control_support): a real OpenBao dev
server per test, the real aos-publishd / aos-publishctl binaries, a real
NOTIFY_SOCKET.

A test requests the fixtures by name (workdir, bao, gated_bao, seeded,
gated_seeded, daemons, approle_daemon, gated_approle_daemon; publish_env,
queue_env, webhook_env, shared from the other modules) and imports the
helpers it calls from here (`from aos_fixtures import wait_for, PUBLISHD`),
never from conftest.  running_env() is the one body of every module-scoped
environment fixture.

Run from the repository root (ctest does) with AOS_BUILD_DIR set to the build
directory, or by hand: `.venv/bin/python -m pytest tests/integration`.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SOURCE_DIR = Path(os.environ.get("AOS_SOURCE_DIR") or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(SOURCE_DIR / "tests"))

from peers.openbao import (  # noqa: E402
    DEFAULT_KEYS, DEFAULT_KV_PATH, OpenBao, VaultError, find_bao, fingerprint,
    read_policy, seed_package_registry)

BUILD_DIR = Path(os.environ.get("AOS_BUILD_DIR") or SOURCE_DIR / "build")
PUBLISHD = BUILD_DIR / "agent" / "aos-publishd"
PUBLISHCTL = BUILD_DIR / "agent" / "aos-publishctl"
ROTATE_SCRIPT = SOURCE_DIR / "vault" / "rotate_secret.sh"

# Registries used by every test config: the daemon loads exactly their keys.
REGISTRIES = {
    "testpypi": {"type": "pypi", "url": "http://127.0.0.1:9/legacy/",
                 "token_key": "TEST_PYPI_API_TOKEN"},
    "pypi": {"type": "pypi", "url": "http://127.0.0.1:9/legacy/"},
    "npm": {"type": "npm", "url": "http://127.0.0.1:9/"},
}

# Environment variables passed through to the daemon (sanitizer builds).
PASSTHROUGH_ENV = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")


def preload(shim: Path) -> str:
    """LD_PRELOAD for a tests/tools shim in the daemon; a sanitizer build
    needs its runtime first."""
    assert shim.exists(), f"{shim} missing: build the tests/tools targets"
    ldd = subprocess.run(["ldd", str(PUBLISHD)], capture_output=True, text=True,
                         check=True).stdout
    asan = [ln.split("=>")[1].split()[0] for ln in ldd.splitlines()
            if "libasan" in ln and "=>" in ln]
    return " ".join(asan + [str(shim)])


def wait_for(pred, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll pred() until it returns a true value (returned) or time runs out
    (AssertionError naming `what`; `what` may be a callable for details)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            msg = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {msg}")
        time.sleep(interval)


def deep_merge(base: dict, over: dict) -> dict:
    """base updated recursively with over; a value None deletes the key."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def write_private(path: Path, text: str) -> Path:
    """Write a credential file with mode 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


class CtlResult:
    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    @property
    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as e:
            raise AssertionError(
                f"{' '.join(self.argv[3:])}: output is not one JSON object "
                f"({e}): rc={self.rc} out={self.out!r} err={self.err!r}") from None

    def __iter__(self):  # rc, out, err = daemon.ctl(...)
        return iter((self.rc, self.out, self.err))

    def __repr__(self):
        return f"CtlResult(rc={self.rc}, out={self.out!r}, err={self.err!r})"


class Notifications:
    """A NOTIFY_SOCKET: an AF_UNIX datagram socket whose datagrams are
    collected by a background thread as (monotonic time, text)."""

    def __init__(self, path: Path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []
        self.cond = threading.Condition()
        self.on_ready = None  # called once, from the thread, at the first READY=1
        self.ready_hook_error: Exception | None = None  # what on_ready raised
        self._ready_seen = False
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            text = data.decode(errors="replace")
            now = time.monotonic()
            first_ready = (not self._ready_seen and "READY=1" in text.split("\n"))
            if first_ready:
                self._ready_seen = True
                if self.on_ready:
                    try:
                        self.on_ready()
                    except Exception as e:  # raised again by Daemon.wait_ready
                        self.ready_hook_error = e
            with self.cond:
                self.messages.append((now, text))
                self.cond.notify_all()

    def lines(self, start: int = 0) -> list[str]:
        """Every assignment (e.g. "READY=1", "STATUS=...") received from
        message index `start` on, in order."""
        with self.cond:
            msgs = list(self.messages[start:])
        return [ln for _, t in msgs for ln in t.split("\n") if ln]

    def count(self) -> int:
        with self.cond:
            return len(self.messages)

    def wait_line(self, pred, start: int = 0, timeout: float = 10.0):
        """Wait for a received assignment matching pred (a string for an exact
        line, or a callable); returns (message index, line) or None."""
        match = (lambda ln: ln == pred) if isinstance(pred, str) else pred
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.messages)):
                    for ln in self.messages[i][1].split("\n"):
                        if ln and match(ln):
                            return i, ln
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def close(self):
        self._stop = True
        self.thread.join(2)
        self.sock.close()


class Daemon:
    """One aos-publishd process with its own configuration, credential files,
    runtime/state folders, NOTIFY_SOCKET and log, all in a short private
    folder (Unix socket paths are limited to 107 bytes)."""

    def __init__(self, workdir: Path, vault_addr: str | None, auth: dict | None = None,
                 config: dict | None = None, name: str = "d"):
        self.dir = Path(workdir) / name
        self.dir.mkdir(parents=True)
        self.runtime_dir = self.dir / "run"
        self.state_dir = self.dir / "state"
        self.runtime_dir.mkdir(mode=0o700)
        self.state_dir.mkdir(mode=0o700)
        self.socket = self.runtime_dir / "control.sock"
        self.config_path = self.dir / "config.json"
        self.log_path = self.dir / "daemon.log"
        self.stdout_path = self.dir / "daemon.stdout"
        base = {
            "log_level": "debug",
            "runtime_dir": str(self.runtime_dir),
            "state_dir": str(self.state_dir),
            "control_socket": str(self.socket),
            "http": {"connect_timeout_ms": 2000, "request_timeout_s": 10},
            "vault": {"address": vault_addr, "auth": auth or {},
                      "poll_interval_s": 30,
                      "backoff_min_ms": 200, "backoff_max_ms": 2000},
            "registries": copy.deepcopy(REGISTRIES),
        }
        if vault_addr is None:
            del base["vault"]["address"]
        self.config = deep_merge(base, config or {})
        self.proc: subprocess.Popen | None = None
        self.notify: Notifications | None = None
        self.ctl_log: list[CtlResult] = []  # every aos-publishctl run
        self._secrets_at_ready = None  # `secrets --json` taken at the first READY=1
        self.exit_checked = False

    # -- files ------------------------------------------------------------
    def write_config(self, config: dict | None = None, path: Path | None = None,
                     raw: str | None = None) -> Path:
        path = Path(path or self.config_path)
        if raw is None:
            raw = json.dumps(config if config is not None else self.config, indent=2)
        path.write_text(raw)
        return path

    def write_file(self, name: str, text: str, folder: Path | None = None) -> Path:
        """A 0600 credential file in `folder` (default: the config folder)."""
        return write_private(Path(folder or self.dir) / name, text)

    # -- process ----------------------------------------------------------
    def env(self, extra: dict | None = None) -> dict:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin",
               "NOTIFY_SOCKET": self.notify.path if self.notify else ""}
        for k in PASSTHROUGH_ENV:
            if k in os.environ:
                env[k] = os.environ[k]
        env.update(extra or {})
        return {k: v for k, v in env.items() if v is not None}

    def start(self, wait_ready: bool = True, env: dict | None = None,
              timeout: float = 15.0, argv_prefix: list[str] | None = None,
              snapshot_at_ready: bool = True) -> "Daemon":
        assert PUBLISHD.exists(), f"{PUBLISHD} missing: run `make build` first"
        if not self.config_path.exists():
            self.write_config()
        if self.notify is None:
            self.notify = Notifications(self.dir / "notify.sock")
        if snapshot_at_ready:
            self.notify.on_ready = self._snapshot_at_ready
        logf = open(self.log_path, "ab")
        outf = open(self.stdout_path, "ab")
        argv = (argv_prefix or []) + [str(PUBLISHD), "-c", str(self.config_path)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=outf,
                                     stderr=logf, env=self.env(env), cwd="/")
        logf.close()
        outf.close()
        if wait_ready:
            self.wait_ready(timeout)
        else:
            self.wait_socket()
        return self

    def wait_socket(self, timeout: float = 5.0) -> None:
        """Wait until the control socket exists (it is opened before the
        first Vault request)."""
        def there():
            if not self.alive:
                raise AssertionError(
                    f"aos-publishd exited with {self.proc.returncode} at start;"
                    f" log tail:\n{self.log_tail()}")
            return self.socket.is_socket()
        wait_for(there, timeout, interval=0.01,
                 what=lambda: f"control socket {self.socket}:\n{self.log_tail()}")

    def fingerprint(self, value: str | bytes) -> str:
        """The fingerprint this daemon shows for value (keyed with the
        fingerprint.key in its state_dir, made at its first start)."""
        return fingerprint(value, (self.state_dir / "fingerprint.key").read_bytes())

    def _snapshot_at_ready(self):
        self._secrets_at_ready = self.ctl("secrets", json_out=True, record=False)

    def check_ready_hook(self) -> None:
        """Raise what the READY=1 hook raised (it runs on the notify thread,
        before the line is recorded)."""
        err = self.notify.ready_hook_error if self.notify else None
        if err is not None:
            raise AssertionError(f"the READY=1 hook failed: {err!r}") from err

    @property
    def secrets_at_ready(self):
        """`secrets --json` taken at the first READY=1 (None before it)."""
        self.check_ready_hook()
        return self._secrets_at_ready

    def wait_ready(self, timeout: float = 15.0, start: int = 0) -> None:
        """Wait for READY=1 on the notify socket."""
        deadline = time.monotonic() + timeout
        while True:
            if self.notify.wait_line("READY=1", start=start, timeout=0.1):
                self.check_ready_hook()
                return
            if not self.alive:
                raise AssertionError(
                    f"aos-publishd exited with {self.proc.returncode} before READY=1;"
                    f" log tail:\n{self.log_tail()}")
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"no READY=1 within {timeout}s; notifications: "
                    f"{self.notify.lines()}; log tail:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.alive, f"daemon not running (rc={self.proc.returncode})"
        self.proc.send_signal(sig)

    def reload(self, timeout: float = 10.0) -> None:
        """SIGHUP, then wait for RELOADING=1 and the READY=1 after it."""
        n = self.notify.count()
        self.signal(signal.SIGHUP)
        got = self.notify.wait_line("RELOADING=1", start=n, timeout=timeout)
        assert got, (f"no RELOADING=1 after SIGHUP; notifications since: "
                     f"{self.notify.lines(n)}\n{self.log_tail()}")
        ready = self.notify.wait_line("READY=1", start=got[0], timeout=timeout)
        assert ready, (f"no READY=1 after RELOADING=1; notifications since: "
                       f"{self.notify.lines(n)}\n{self.log_tail()}")

    def stop(self, expect_rc: int | None = 0, timeout: float = 10.0) -> int:
        """SIGTERM and wait; asserts the exit code (None: do not check)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(
                    f"aos-publishd did not exit within {timeout}s of SIGTERM;"
                    f" log tail:\n{self.log_tail()}")
        rc = self.proc.returncode
        self.exit_checked = True
        if expect_rc is not None:
            assert rc == expect_rc, (f"aos-publishd exited with {rc}, expected "
                                     f"{expect_rc}; log tail:\n{self.log_tail()}")
        if rc == 0:
            # A clean stop frees every secret (the warning names a leak).
            assert "still allocated at exit" not in self.log_text(), (
                f"aos-publishd left secrets allocated; log tail:\n{self.log_tail()}")
        return rc

    def close(self) -> None:
        if self.alive:
            self.proc.kill()
            self.proc.wait()
        if self.notify:
            self.notify.close()

    # -- aos-publishctl ---------------------------------------------------
    def ctl(self, *args, json_out: bool = False, timeout: float = 15.0,
            record: bool = True) -> CtlResult:
        """Run aos-publishctl --socket SOCK [--json] ARGS."""
        argv = [str(PUBLISHCTL), "--socket", str(self.socket)]
        if json_out:
            argv.append("--json")
        argv += [str(a) for a in args]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           env={"PATH": "/usr/local/bin:/usr/bin:/bin"})
        r = CtlResult(argv, p.returncode, p.stdout, p.stderr)
        if record:
            self.ctl_log.append(r)
        return r

    def ctl_json(self, *args) -> dict:
        """`aos-publishctl --json ARGS`, asserting rc 0 and "ok": true."""
        r = self.ctl(*args, json_out=True)
        j = r.json
        assert r.rc == 0 and j.get("ok") is True, (
            f"aos-publishctl {' '.join(map(str, args))} failed: {r}\n{self.log_tail()}")
        return j

    def status(self) -> dict:
        return self.ctl_json("status")

    def secrets(self) -> dict:
        """{key: secret entry} from `secrets --json`."""
        return {s["key"]: s for s in self.ctl_json("secrets")["secrets"]}

    def refresh(self) -> CtlResult:
        return self.ctl("secrets", "refresh", json_out=True)

    def assert_answers(self) -> dict:
        """The process is alive and its control socket answers status."""
        assert self.alive, (f"aos-publishd died (rc={self.proc.returncode});"
                            f" log tail:\n{self.log_tail()}")
        r = self.ctl("status", json_out=True)
        assert r.rc in (0, 1) and isinstance(r.json, dict), (
            f"control socket did not answer status: {r}")
        assert r.json.get("ok") is True, f"status answered an error: {r}"
        return r.json

    # -- log --------------------------------------------------------------
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n: int = 4000) -> str:
        return self.log_text()[-n:]

    def wait_log(self, pattern: str, timeout: float = 10.0, flags=re.I) -> re.Match:
        rx = re.compile(pattern, flags)
        return wait_for(lambda: rx.search(self.log_text()), timeout,
                        what=lambda: f"log line /{pattern}/; log tail:\n{self.log_tail()}")


class Setup:
    """What a test needs to talk about: the server, the credentials."""

    def __init__(self, bao: OpenBao, creds: dict):
        self.bao = bao
        self.creds = creds
        self.values = creds["values"]
        self.kv_path = creds["kv_path"]


@pytest.fixture
def workdir(request):
    """A short private folder for one test (socket paths must stay short).
    Kept when the test fails, for its logs."""
    d = Path(tempfile.mkdtemp(prefix="aos-it-", dir="/tmp"))
    yield d
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(f"test files kept in {d}")
    else:
        shutil.rmtree(d, ignore_errors=True)


def _bao(workdir, gate):
    server = OpenBao(workdir=workdir / "bao", gate=gate)
    server.workdir.mkdir()
    server.start()
    return server


@pytest.fixture
def bao(workdir):
    """A fresh OpenBao dev server for this test."""
    server = _bao(workdir, gate=False)
    yield server
    server.close()


@pytest.fixture
def gated_bao(workdir):
    """A fresh OpenBao dev server behind a relay, for tests that stop and
    start it: start() re-seeds it before clients can connect again."""
    server = _bao(workdir, gate=True)
    yield server
    server.close()


@pytest.fixture
def seeded(bao):
    """OpenBao seeded with the package-registry secret, a read-only policy and
    an AppRole role `aos-publishd`."""
    return Setup(bao, seed_package_registry(bao))


@pytest.fixture
def gated_seeded(gated_bao):
    """Like `seeded`, on a gated server."""
    return Setup(gated_bao, seed_package_registry(gated_bao))


def stop_daemons(daemons) -> list[str]:
    """SIGTERM each daemon still running (it must exit 0) and close them
    all; returns the problems (one text each) instead of stopping at the
    first."""
    problems = []
    for d in daemons:
        if d.proc is not None and not d.exit_checked:
            try:
                d.stop(expect_rc=0)
            except AssertionError as e:
                problems.append(str(e))
        d.close()
    return problems


@pytest.fixture
def daemons(request, workdir):
    """Factory: daemons(vault_addr, auth=..., config=...) -> Daemon.  At the
    end of the test each daemon still running gets SIGTERM and must exit 0;
    on failure the logs are printed."""
    made: list[Daemon] = []

    def make(vault_addr, auth=None, config=None):
        d = Daemon(workdir, vault_addr, auth, config, name=f"d{len(made)}")
        made.append(d)
        return d

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    problems = stop_daemons(made)
    if failed:
        for d in made:
            print(f"--- {d.dir} log tail ---\n{d.log_tail(6000)}")
    if problems and not failed:
        pytest.fail("clean shutdown: " + "\n".join(problems))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def approle_auth(d: Daemon, creds: dict, wrapped: bool = False, **extra) -> dict:
    """Write role_id/secret_id files beside the daemon's config and return
    the matching vault.auth object (absolute file names)."""
    rid = d.write_file("role_id", creds["role_id"] + "\n")
    sid = d.write_file("secret_id", creds["secret_id"] + "\n")
    auth = {"method": "approle", "role_id_file": str(rid), "secret_id_file": str(sid)}
    if wrapped:
        auth["secret_id_wrapped"] = True
    auth.update(extra)
    return auth


def _approle_factory(setup, daemons):
    def make(config=None):
        d = daemons(setup.bao.addr, config=config)
        d.config["vault"]["auth"] = approle_auth(d, setup.creds)
        d.config["vault"]["kv_path"] = setup.kv_path
        return d
    return make


@pytest.fixture
def approle_daemon(seeded, daemons):
    """Factory: make(config_overrides) -> a Daemon (not started) logging in
    with the seeded AppRole credentials."""
    return _approle_factory(seeded, daemons)


@pytest.fixture
def gated_approle_daemon(gated_seeded, daemons):
    """Like `approle_daemon`, against the gated server."""
    return _approle_factory(gated_seeded, daemons)


def secrets_match(d: Daemon, values: dict, keys=DEFAULT_KEYS) -> dict:
    """Assert every key is present with the fingerprint of its value."""
    s = d.secrets()
    for k in keys:
        assert k in s, f"{k} missing from secrets: {s}"
        assert s[k]["present"] is True, f"{k} not present: {s[k]}"
        assert s[k]["fingerprint"] == d.fingerprint(values[k]), (
            f"{k}: fingerprint {s[k]['fingerprint']} != HMAC-SHA256(key, value)[:8] "
            f"{d.fingerprint(values[k])}")
    return s


def rotate_env(bao: OpenBao, d: Daemon, token: str | None = None) -> dict:
    """Environment for vault/rotate_secret.sh."""
    bao_dir = str(Path(find_bao()).parent)
    return {
        "PATH": f"{SOURCE_DIR / '.venv' / 'bin'}:{bao_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(d.dir),
        "VAULT_ADDR": bao.addr,
        "VAULT_TOKEN": token or bao.root_token,
        "AOS_PUBLISHCTL": str(PUBLISHCTL),
        "AOS_PUBLISHCTL_SOCKET": str(d.socket),
    }


def run_rotate(bao: OpenBao, d: Daemon, key: str, value: str | None,
               via_argv: bool = False, env: dict | None = None, timeout: float = 30):
    """Run rotate_secret.sh package-registry KEY - with the value on stdin
    (or KEY VALUE when via_argv).  Returns (CompletedProcess, seconds)."""
    assert ROTATE_SCRIPT.exists(), f"{ROTATE_SCRIPT} missing"
    assert os.access(ROTATE_SCRIPT, os.X_OK), f"{ROTATE_SCRIPT} is not executable"
    argv = [str(ROTATE_SCRIPT), "package-registry", key]
    argv.append(value if via_argv else "-")
    t0 = time.monotonic()
    p = subprocess.run(argv, input="" if via_argv else value + "\n",
                       capture_output=True, text=True, timeout=timeout,
                       env=env or rotate_env(bao, d), cwd=str(d.dir))
    return p, time.monotonic() - t0


def running_env(request, make: Callable[[Path], object], prefix: str,
                label: str) -> Iterator:
    """The body of a module-scoped environment fixture (`yield from` it):
    make(workdir) in a new private folder under /tmp, started (stopped again
    when its start fails), yielded, stopped.  The folder is kept, and named,
    when a test of the session failed or AOS_KEEP_WORKDIR is set; a problem
    while stopping (a daemon that did not exit 0) fails the module."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    env = make(workdir)
    try:
        env.start()
    except BaseException:
        env.stop()
        raise
    yield env
    problems = env.stop()
    if request.session.testsfailed or os.environ.get("AOS_KEEP_WORKDIR"):
        print(f"{label}: kept {workdir} for its logs")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    if problems:
        pytest.fail("clean shutdown: " + "\n".join(problems))
