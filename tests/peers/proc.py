"""Process management shared by the test-server helpers (openbao.py,
pypiserver.py, verdaccio.py).

Only the Python standard library is used.  ServerProcess holds the common
life cycle (running, stop, close, context manager, log_tail); the helpers
below start a server with its output in a log file, wait until it answers
with a bounded deadline, and stop it (terminate, wait, kill).
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable


class ProcessExited(Exception):
    """The server process exited while we waited for it to become ready."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def log_lines(path: str | Path) -> list[str]:
    """The lines of a server's log file so far ([] before it exists)."""
    try:
        return Path(path).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []


def spawn(argv: list[str], log, env: dict, cwd: str | Path) -> subprocess.Popen:
    """Start argv in its own session with stdin closed and stdout/stderr
    appended to `log` (a path, opened and closed here, or an open binary
    file, left open for the caller)."""
    if isinstance(log, (str, Path)):
        with open(log, "ab") as logf:
            return spawn(argv, logf, env, cwd)
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            env=env, cwd=cwd, start_new_session=True)


def http_ok(url: str, timeout: float = 1, context=None) -> bool:
    """True when GET url answers 200 (context: an ssl.SSLContext for https)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_until(proc: subprocess.Popen, ready: Callable[[], bool], deadline: float,
               interval: float = 0.05) -> bool:
    """Poll ready() until it is true (returns True) or time.monotonic()
    passes deadline (returns False).  Raises ProcessExited if proc exits
    first."""
    while True:
        if proc.poll() is not None:
            raise ProcessExited(proc.returncode)
        if ready():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def stop_process(p: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """Terminate, wait up to timeout, kill if needed.  None or an exited
    process is left alone."""
    if p is None or p.poll() is not None:
        return
    p.terminate()
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def run_until_signalled(server: "ServerProcess") -> None:
    """Block until SIGTERM, Ctrl-C or the server exiting; then close it."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        while not stop and server.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    server.close()


class ServerProcess:
    """Common life cycle of one server process.  Subclasses set proc,
    workdir, _own_workdir and log_path, and define start()."""

    proc: subprocess.Popen | None = None
    workdir: Path
    log_path: Path
    _own_workdir: bool = False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 20.0):
        raise NotImplementedError

    def wait_ready(self, probe_url: str, deadline: float, name: str, where: str,
                   interval: float = 0.05) -> None:
        """Wait until GET probe_url answers 200.  RuntimeError if the process
        exits first; stop() and TimeoutError if it is not ready by deadline."""
        try:
            ready = wait_until(self.proc, lambda: http_ok(probe_url), deadline, interval)
        except ProcessExited:
            raise RuntimeError(f"{name} exited with {self.proc.returncode}:"
                               f" {self.log_tail()}") from None
        if not ready:
            self.stop()
            raise TimeoutError(f"{name} not ready on {where}: {self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate, wait, kill if needed.  Safe to call twice."""
        p, self.proc = self.proc, None
        stop_process(p, timeout)

    def _release(self) -> None:
        """Hook for close(): free other resources after stop()."""

    def close(self) -> None:
        self.stop()
        self._release()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"
