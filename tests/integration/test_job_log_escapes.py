"""Build output cannot drive the operator's terminal through `job log`.

A build step is untrusted: what it prints is stored in the job log as it
came.  This pipeline's build step prints an OSC title change, a
clear-screen, an 8-bit CSI (U+009B, in UTF-8), DEL, a byte that is not
UTF-8, and a tab, then fails.  Then `aos-publishctl job log`:

- on a terminal (a pseudo-terminal made by the test) shows the control bytes
  as escapes (`\\x1b]0;pwned\\x07\\x1b[2J`, `\\u009b`, `\\x7f`, `\\xff`) and
  sends no ESC byte; tab and newline stay;
- with `--raw` on a terminal, and by default into a pipe, prints the bytes
  as stored (what scripts that read the log get); `--escape` escapes into a
  pipe too;
- with `--json` prints JSON escapes for them (also DEL and C1, which cJSON
  leaves raw) and valid UTF-8 (U+FFFD for the byte that is not UTF-8);
- `job show` and `jobs` (the build failure's message, on a terminal) and
  `job log --follow` escape the same way.
"""

import json
import os
import pty
import select
import time

import pytest

from aos_fixtures import PUBLISHCTL
from webhook_support import expect_accepted, expect_job, github_push, python_pipeline

TAG, VERSION = "python-sdk-v0.4.0", "0.4.0"
# printf (dash) takes octal escapes: ESC ] 0 ; pwned BEL ESC [ 2 J, then
# C2 9B (U+009B), DEL, FF (not UTF-8), a tab.
STEP = (r"printf 'title:\033]0;pwned\007\033[2J|c1:\302\233|del:\177|bad:\377|"
        r"tab:\tend\n'; exit 3")
STORED = "title:\x1b]0;pwned\x07\x1b[2J|c1:\x9b|del:\x7f|bad:"  # up to the bad byte
ESCAPED = b"title:\\x1b]0;pwned\\x07\\x1b[2J|c1:\\u009b|del:\\x7f|bad:\\xff|tab:\tend"
RAW = b"title:\x1b]0;pwned\x07\x1b[2J|c1:\xc2\x9b|del:\x7f|bad:\xff|tab:\tend"


@pytest.fixture(scope="module")
def daemon(webhook_env):
    repo = webhook_env.repo
    sha = repo.commit_release(VERSION)
    repo.tag(TAG, sha)
    d = webhook_env.hook_daemon(
        {"python-sdk": python_pipeline(repo, targets=["pypi"], build=[STEP])})
    jid = expect_accepted(d.hooks.send("github", github_push(TAG, sha)), "python-sdk", TAG,
                          VERSION, sha)
    expect_job(d, jid, "dead")
    d.job_id = jid
    return d


def ctl_argv(d, *args):
    return [str(PUBLISHCTL), "--socket", str(d.socket), *map(str, args)]


def on_terminal(argv, timeout=20.0) -> tuple[int, bytes]:
    """Run argv with stdout and stderr on a new pseudo-terminal; returns the
    exit status and every byte it wrote there."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: its stdin/stdout/stderr are the terminal
        try:
            os.execve(argv[0], argv, {"PATH": "/usr/bin:/bin", "TERM": "xterm"})
        finally:
            os._exit(127)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            out += data
        elif os.waitpid(pid, os.WNOHANG)[0] == pid:
            pid = 0
            break
    os.close(fd)
    if pid:
        _, status = os.waitpid(pid, 0)
    else:
        status = 0
    # The terminal turns "\n" into "\r\n" (onlcr).
    return os.waitstatus_to_exitcode(status) if pid else 0, out.replace(b"\r\n", b"\n")


def in_pipe(argv) -> tuple[int, bytes]:
    import subprocess
    p = subprocess.run(argv, capture_output=True, timeout=20, env={"PATH": "/usr/bin:/bin"})
    return p.returncode, p.stdout + p.stderr


def test_the_log_holds_the_raw_bytes(daemon):
    """The premise: the step's output is stored as it came."""
    rc, out = in_pipe(ctl_argv(daemon, "job", "log", daemon.job_id))
    assert rc == 0, out
    assert RAW in out, out


def test_job_log_on_a_terminal_is_escaped(daemon):
    rc, out = on_terminal(ctl_argv(daemon, "job", "log", daemon.job_id))
    assert rc == 0, out
    assert b"\x1b" not in out, f"a raw ESC reached the terminal: {out!r}"
    for b in (b"\x07", b"\x7f", b"\xc2\x9b", b"\xff"):
        assert b not in out, f"{b!r} reached the terminal: {out!r}"
    assert ESCAPED in out, out


def test_flags(daemon):
    rc, out = on_terminal(ctl_argv(daemon, "job", "log", daemon.job_id, "--raw"))
    assert rc == 0 and RAW in out, out
    rc, out = in_pipe(ctl_argv(daemon, "job", "log", daemon.job_id, "--escape"))
    assert rc == 0 and ESCAPED in out and b"\x1b" not in out, out
    rc, out = in_pipe(ctl_argv(daemon, "job", "log", daemon.job_id, "--escape", "--raw"))
    assert rc == 2 and b"--escape" in out, out
    rc, out = in_pipe(ctl_argv(daemon, "--help"))
    assert b"--raw" in out and b"--escape" in out, out


def test_follow_and_other_job_commands_on_a_terminal(daemon):
    for args in (("job", "log", daemon.job_id, "--follow"), ("job", "show", daemon.job_id),
                 ("jobs",)):
        rc, out = on_terminal(ctl_argv(daemon, *args))
        assert b"\x1b" not in out, f"{args}: a raw ESC reached the terminal: {out!r}"
        assert rc == 0, (args, out)
    rc, out = on_terminal(ctl_argv(daemon, "job", "log", daemon.job_id, "--follow"))
    assert ESCAPED in out, out


@pytest.mark.parametrize("where", ["pipe", "terminal"])
def test_json_escapes(daemon, where):
    run = in_pipe if where == "pipe" else on_terminal
    rc, out = run(ctl_argv(daemon, "--json", "job", "log", daemon.job_id))
    assert rc == 0, out
    for b in (b"\x1b", b"\x07", b"\x7f", b"\xc2\x9b", b"\xff"):
        assert b not in out, f"--json wrote {b!r} raw: {out!r}"
    for esc in (b"\\u001b]0;pwned\\u0007\\u001b[2J", b"\\u009b", b"\\u007f", b"\\ufffd"):
        assert esc in out, f"--json lacks {esc!r}: {out!r}"
    text = "\n".join(ln["text"] for ln in json.loads(out.decode("utf-8"))["lines"])
    assert STORED + "\ufffd|tab:\tend" in text, text
