"""What `aos-publishctl publish --wait` and `job wait` show while a file
uploads (issue 16), against both PyPI kinds of publish_env
(`pypi_kind_module`: pypiserver, devpi-server; the tests run kind by kind).

Under a real pseudo-terminal (python's pty module): a bar per file, redrawn
in place, with the bytes sent of the total, the rate and the time left
("done" at the end).  With --json on the same terminal: only the daemon's
JSON lines.  Into a pipe: plain lines.  And a file the registry already
holds, uploaded again, is never reported as "nothing sent" after its bytes
were reported sent (the contradiction the issue quotes): pypiserver's 409
and devpi's 200 both come after the body."""

import json
import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

import pytest

from aos_fixtures import PUBLISHCTL, wait_for
from publish_support import EXIT, PypiTarget, make_big_wheel, make_wheel, publish

SIZE = 6 * 1000 * 1000
SIZE_RE = r"[\d.]+ (?:B|kB|MB|GB)"
BAR = re.compile(rf"\r(?P<file>\S+) \[[#-]+\] +(?P<pct>\d+)% (?P<sent>{SIZE_RE}) of "
                 rf"(?P<total>{SIZE_RE}), (?:{SIZE_RE}|-- B)/s, (?P<eta>ETA \d+:\d\d|ETA --:--|done)"
                 r"\x1b\[K")


@pytest.fixture(scope="module")
def daemon(publish_env):
    """One daemon for the module, made after devpi is up: it has the
    registries pypi, devpi and npm."""
    publish_env.pypi_target("devpi")
    return publish_env.daemon()


@pytest.fixture(scope="module")
def target(publish_env, pypi_kind_module) -> PypiTarget:
    return publish_env.pypi_target(pypi_kind_module)


def run_pty(argv, timeout: float = 120, started=None) -> tuple[int, str]:
    """argv with its stdin, stdout and stderr on a new pseudo-terminal; its
    exit status and everything it wrote there.  started(proc) runs once it
    is running."""
    master, slave = pty.openpty()
    p = subprocess.Popen([str(a) for a in argv], stdin=slave, stdout=slave, stderr=slave,
                         env={"PATH": "/usr/bin:/bin", "TERM": "xterm"})
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        if started is not None:
            started(p)
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            out += chunk
        rc = p.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    return rc, out.decode(errors="replace")


def ctl(d, *args):
    return [PUBLISHCTL, "--socket", d.socket, *args]


def assert_bars(out: str, f: Path):
    bars = [m for m in BAR.finditer(out) if m.group("file") == f.name]
    assert bars, f"no progress bar for {f.name} on the terminal: {out!r}"
    last = bars[-1]
    assert last.group("pct") == "100" and last.group("eta") == "done", last.group(0)
    assert last.group("sent") == last.group("total") == "6.0 MB", last.group(0)
    pcts = [int(m.group("pct")) for m in bars]
    assert pcts == sorted(pcts), f"the bar went backwards: {pcts}"
    # Redrawn in place: no line break between two bars of the same file.
    between = out[bars[0].start():bars[-1].start()]
    assert "\n" not in between, f"the bar is not redrawn in place: {between!r}"


def test_publish_wait_bar_on_a_terminal(daemon, target, tmp_path):
    f = make_big_wheel(tmp_path, "aos-progress-tty", "1.0.0", SIZE)
    rc, out = run_pty(ctl(daemon, "publish", "--registry", target.registry, "--wait", f))
    assert rc == EXIT["published"], out
    assert_bars(out, f)
    assert out.rstrip().endswith(f"{target.registry}: published"), out


def test_json_on_a_terminal_is_only_json(daemon, target, tmp_path):
    f = make_big_wheel(tmp_path, "aos-progress-json", "1.0.0", SIZE)
    rc, out = run_pty(ctl(daemon, "--json", "publish", "--registry", target.registry,
                          "--wait", f))
    assert rc == EXIT["published"], out
    lines = [ln for ln in out.replace("\r\n", "\n").split("\n") if ln]
    assert any(json.loads(ln).get("event") == "progress" for ln in lines), out
    assert "\x1b[" not in out and "\r" not in out.replace("\r\n", ""), out
    for ln in lines:
        assert isinstance(json.loads(ln), dict), ln


def _has_socket(pid: int) -> bool:
    """Whether the process holds a socket; an fd closed while its folder
    is listed is skipped (readlink then finds it gone)."""
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd).startswith("socket:"):
                return True
        except FileNotFoundError:
            continue
    return False


def test_job_wait_bar_on_a_terminal(daemon, target, tmp_path):
    f = make_big_wheel(tmp_path, "aos-progress-wait", "1.0.0", SIZE)
    assert daemon.ctl_json("drain")["draining"] is True
    try:
        jid = daemon.ctl_json("publish", "--registry", target.registry, f)["job_id"]
    except BaseException:
        daemon.ctl_json("resume")
        raise

    def resume_once_following(p):
        # `job wait` sends its request right after connecting: resume once
        # its socket exists, so that it follows the whole upload.
        try:
            wait_for(lambda: _has_socket(p.pid), 10, interval=0.01, what="job wait's connection")
        finally:
            daemon.ctl_json("resume")
    rc, out = run_pty(ctl(daemon, "job", "wait", jid), started=resume_once_following)
    assert rc == 0, out
    assert_bars(out, f)
    assert f"job {jid}: succeeded" in out, out


def test_plain_lines_into_a_pipe(daemon, target, tmp_path):
    f = make_big_wheel(tmp_path, "aos-progress-pipe", "1.0.0", SIZE)
    r = publish(daemon, target.registry, f, json_out=False)
    assert r.rc == EXIT["published"], r
    assert "\r" not in r.out and "\x1b[" not in r.out, f"a bar into a pipe: {r}"
    # Progress, when the daemon reports it, as whole lines (the bytes are
    # those of the request body, which holds the file).
    for ln in r.out.splitlines():
        if " sent " in ln:
            assert re.fullmatch(rf"{re.escape(f.name)}: sent \d+ of \d+ bytes \(\d+%\)", ln), ln


def test_republish_never_says_nothing_sent_after_sending(daemon, target, tmp_path):
    """pypiserver answers "already exists" (409), devpi "Upload of identical
    file" (200), only after the upload's body: the bytes were sent, and the
    final line must not say otherwise."""
    f = make_wheel(tmp_path, "aos-progress-again", "1.0.0")
    publish(daemon, target.registry, f).expect(EXIT["published"], "published")
    r = publish(daemon, target.registry, f, json_out=False)
    assert r.rc == EXIT["exists"], r
    assert re.search(rf"^{re.escape(f.name)}: sent (\d+) of \1 bytes \(100%\)$", r.out, re.M), (
        f"the second upload's bytes were not reported (the case this test is about): {r}")
    assert "nothing sent" not in r.out, f"says nothing was sent after sending: {r}"
    assert f"{target.registry}: already published (identical)" in r.out, r
