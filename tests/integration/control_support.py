"""Shared pieces of the control-socket tests (test_control_*.py): running
aos-publishctl as another user (setpriv), a raw client that sends request
lines with descriptors (SCM_RIGHTS) the way an attacker's program would,
and what to look at in the daemon (open descriptors, memory, the spool).

The integration tests run as root; other users are real system users
(`nobody`, ...) reached with `setpriv --reuid --regid --clear-groups`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from aos_fixtures import PUBLISHCTL, CtlResult, Daemon

NOBODY = ("nobody", "nogroup")


def open_to_others(d: Daemon) -> None:
    """Let every user reach the daemon's socket: o+x on each folder above it
    (the test folders are private by default).  The socket itself is 0666:
    the daemon decides per peer."""
    p = d.socket.parent
    while p != Path("/tmp") and p != p.parent:
        os.chmod(p, os.stat(p).st_mode | stat.S_IXOTH)
        p = p.parent


@pytest.fixture
def shared():
    """A folder every user can read (pytest's tmp_path is root's only),
    removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="aos-ctl-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def ctl_as(d: Daemon, user: str, group: str, *args, groups: str | None = None,
           timeout: float = 30.0, cwd: str | None = None,
           input: str | None = None) -> CtlResult:
    """aos-publishctl --socket SOCK --json ARGS as user:group (and the
    supplementary groups given, else none); input: its standard input."""
    argv = ["setpriv", f"--reuid={user}", f"--regid={group}"]
    argv += [f"--groups={groups}"] if groups else ["--clear-groups"]
    argv += [str(PUBLISHCTL), "--socket", str(d.socket), "--json"] + [str(a) for a in args]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd or "/",
                       env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
                       input=input if input is not None else "")
    return CtlResult(argv, p.returncode, p.stdout, p.stderr)


class Raw:
    """One connection to the control socket, used the way any program may:
    request lines with descriptors, reading only when asked to."""

    def __init__(self, d: Daemon, timeout: float = 10.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(str(d.socket))
        self.buf = b""

    def send(self, req, fds=()) -> None:
        line = req if isinstance(req, bytes) else json.dumps(req).encode() + b"\n"
        if fds:
            socket.send_fds(self.s, [line], list(fds))
        else:
            self.s.sendall(line)

    def line(self, timeout: float = 10.0) -> dict | None:
        """The next answer line as an object, or None at EOF."""
        self.s.settimeout(timeout)
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        ln, self.buf = self.buf.split(b"\n", 1)
        return json.loads(ln)

    def ask(self, req, fds=(), timeout: float = 10.0) -> dict | None:
        """Send req; the first answer that is not an event."""
        self.send(req, fds)
        while True:
            a = self.line(timeout)
            if a is None or "event" not in a:
                return a

    def closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True once the daemon has closed (reading and dropping whatever
        was queued first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                if not self.s.recv(1 << 20):
                    return True
            except socket.timeout:
                return False
            except OSError:
                return True
        return False

    def close(self) -> None:
        self.s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def publish_request(registry: str, *names: str, **extra) -> dict:
    return {"cmd": "publish", "registry": registry, "files": list(names), **extra}


def open_fds(d: Daemon) -> set[str]:
    """What the daemon's descriptors point at (to find leaks)."""
    out = set()
    fd_dir = Path(f"/proc/{d.pid}/fd")
    for e in fd_dir.iterdir():
        try:
            out.add(f"{e.name}->{os.readlink(e)}")
        except OSError:
            pass
    return out


def fd_count(d: Daemon) -> int:
    return len(list(Path(f"/proc/{d.pid}/fd").iterdir()))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    raise KeyError("VmRSS")


def spool_bytes(d: Daemon) -> int:
    total = 0
    for root, _dirs, files in os.walk(d.state_dir / "spool"):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total
