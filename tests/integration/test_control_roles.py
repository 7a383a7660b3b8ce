"""Who may use the control socket: peers identified by SO_PEERCRED and
given a role by `control.operators` / `control.readers`.

Attacks, each made by a real local process against a real daemon:
- a user with no role (nobody) connects: refused at once, with a message
  naming the role and the key to change, and logged with its uid and pid;
- a reader tries every command that changes something: each refused,
  nothing changes;
- a process running as the daemon's own user with no_new_privs (what every
  build step is), started outside the daemon's process tree by a double
  fork (`setsid --fork`), tries to drain and to publish: refused.  The old
  check (is the peer a descendant of the daemon?) let exactly this in.
Group membership counts by the running gid and by the uid's group list.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import subprocess
import time

import pytest

from aos_fixtures import PUBLISHCTL, deep_merge, wait_for
from control_support import NOBODY, Raw, ctl_as, open_to_others
from publish_support import PY_NAME, make_wheel

OPERATE_ONLY = [
    ["drain"], ["resume"], ["secrets", "refresh"], ["job", "cancel", "1"],
    ["job", "retry", "1"], ["reconcile", "python-sdk", "--dry-run"],
]


def daemon(env, control: dict | None = None, **config):
    d = env.daemon(deep_merge({"control": control} if control else {}, config))
    open_to_others(d)
    return d


def refusal(r, role: str) -> str:
    assert r.rc == 1, f"expected a refusal (exit 1): {r}"
    err = r.err + r.out
    assert f"needs the {role} role" in err, f"the refusal does not name the {role} role: {r}"
    return err


def test_a_user_without_a_role_is_refused_at_connect(publish_env):
    d = daemon(publish_env)
    r = ctl_as(d, *NOBODY, "status")
    err = refusal(r, "read")
    assert "uid 65534 (nobody)" in err and "control.readers" in err, r
    assert str(d.config_path) in err, f"the refusal does not name the file to change: {r}"
    assert '"version"' not in r.out, f"status was answered: {r}"
    d.wait_log(r"control: refused a connection from uid 65534 \(nobody\) pid \d+")
    # root, an operator by default, is served as before.
    assert d.ctl_json("status")["state"] in ("ready", "degraded")


def test_a_reader_reads_but_changes_nothing(publish_env, shared):
    d = daemon(publish_env, {"readers": ["nobody"]})
    r = ctl_as(d, *NOBODY, "status")
    assert r.rc == 0 and r.json["ok"] is True, r
    assert ctl_as(d, *NOBODY, "jobs").rc == 0
    assert ctl_as(d, *NOBODY, "secrets").rc == 0
    for args in OPERATE_ONLY:
        r = ctl_as(d, *NOBODY, *args)
        err = refusal(r, "operate")
        assert "uid 65534 (nobody) is a reader only" in err, r
        assert "control.operators" in err and str(d.config_path) in err, r
    d.wait_log(r'control: refused "drain" from uid 65534 \(nobody\) pid \d+: "drain" needs '
               r'the operate role')
    # Checking a candidate token makes the daemon send it to a registry: an
    # operator's act, never a reader's (no oracle for guessed tokens).
    for sub in ("check", "fingerprint"):
        args = ["secrets", sub] + (["NPM_TOKEN"] if sub == "check" else [])
        refusal(ctl_as(d, *NOBODY, *args, input="npm_guess\n"), "operate")
    d.wait_log(r'control: refused "secrets.check" from uid 65534')
    assert d.ctl_json("status")["queue"]["draining"] is False, "a reader drained the queue"
    # A reader's publish is refused before any file is looked at.
    whl = make_wheel(shared, PY_NAME, "9.9.1")
    os.chmod(whl, 0o644)
    before = publish_env.snapshot()
    r = ctl_as(d, *NOBODY, "publish", "--registry", "pypi", "--wait", whl)
    refusal(r, "operate")
    assert d.ctl_json("jobs")["jobs"] == [], "a reader's publish was queued"
    publish_env.assert_unchanged(before, "a reader's publish")


def test_operators_by_group(publish_env):
    d = daemon(publish_env, {"operators": ["root", "@daemon"]})
    r = ctl_as(d, "nobody", "nogroup", "drain")
    refusal(r, "read")  # neither list names nobody or nogroup
    r = ctl_as(d, "nobody", "daemon", "drain")  # running with gid daemon
    assert r.rc == 0 and r.json["draining"] is True, r
    assert d.ctl_json("resume")["draining"] is False


def _member_of_a_group_list():
    """A user listed as a member of a group that is not its primary one."""
    for g in grp.getgrall():
        for name in g.gr_mem:
            try:
                u = pwd.getpwnam(name)
            except KeyError:
                continue
            if u.pw_gid != g.gr_gid and u.pw_uid != 0:
                return u, g
    return None, None


def test_operators_by_the_uids_group_list(publish_env):
    user, group = _member_of_a_group_list()
    if user is None:
        pytest.skip("no user on this host is listed as a member of a group other than "
                    "its primary one (/etc/group)")
    primary = grp.getgrgid(user.pw_gid).gr_name
    d = daemon(publish_env, {"operators": ["root", "@" + group.gr_name]})
    # The process has no supplementary groups; the uid's group list has it.
    r = ctl_as(d, user.pw_name, primary, "drain")
    assert r.rc == 0 and r.json["draining"] is True, r
    d.ctl_json("resume")


def _double_forked(d, tmp, *args) -> tuple[int, str, str]:
    """aos-publishctl ARGS as root with no_new_privs, like a build step, in a
    process that is not the daemon's descendant: setsid --fork detaches it
    (double fork), and its parent has exited when it connects."""
    out, err, rc = tmp / "out", tmp / "err", tmp / "rc"
    for f in (out, err, rc):
        f.unlink(missing_ok=True)
    script = (f'setpriv --no-new-privs {PUBLISHCTL} --socket {d.socket} --json '
              + " ".join(f"'{a}'" for a in args) + f' > {out} 2> {err}; echo $? > {rc}')
    subprocess.run(["setsid", "--fork", "sh", "-c", script], check=True, timeout=10)
    wait_for(lambda: rc.exists() and rc.read_text().strip(), 30, what="the detached client")
    return int(rc.read_text()), out.read_text(), err.read_text()


def test_sandboxed_process_of_the_daemons_user_is_refused(publish_env, tmp_path):
    d = daemon(publish_env)
    assert os.geteuid() == 0  # the daemon runs as root here: same uid as root's clients
    rc, out, err = _double_forked(d, tmp_path, "drain")
    assert rc == 1, f"a no_new_privs peer of the daemon's uid was served: {out} {err}"
    assert "no_new_privs" in out + err and "build steps" in out + err, (out, err)
    assert d.ctl_json("status")["queue"]["draining"] is False
    d.wait_log(r"control: refused a connection from uid 0 \(root\) pid \d+: .*no_new_privs")
    whl = make_wheel(tmp_path, PY_NAME, "9.9.2")
    before = publish_env.snapshot()
    rc, out, err = _double_forked(d, tmp_path, "publish", "--registry", "pypi", "--wait", whl)
    assert rc == 1 and "no_new_privs" in out + err, (rc, out, err)
    assert d.ctl_json("jobs")["jobs"] == [], "a sandboxed peer's publish was queued"
    publish_env.assert_unchanged(before, "a sandboxed peer's publish")
    # The same user without no_new_privs (an operator's shell) is served.
    assert d.ctl_json("status")["ok"] is True


def test_reload_changes_roles(publish_env):
    d = daemon(publish_env, {"readers": ["nobody"]})
    refusal(ctl_as(d, *NOBODY, "drain"), "operate")
    d.config = deep_merge(d.config, {"control": {"operators": ["root", "nobody"]}})
    d.write_config()
    d.reload()
    r = ctl_as(d, *NOBODY, "drain")
    assert r.rc == 0 and r.json["draining"] is True, r
    d.ctl_json("resume")
    # And back: an operator removed from the lists is refused from then on.
    d.config = deep_merge(d.config, {"control": {"operators": ["root"], "readers": []}})
    d.write_config()
    d.reload()
    refusal(ctl_as(d, *NOBODY, "status"), "read")


FLOOD = """
import socket, sys
n = 0
for _ in range(200):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    n += b"needs the read role" in s.recv(4096)
    s.close()
print(n)
"""


def test_refusals_are_rate_limited_in_the_log(publish_env):
    d = daemon(publish_env)
    mark = "control: refused a connection from uid 65534"
    before = d.log_text().count(mark)
    t0 = time.monotonic()
    p = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        "/usr/bin/python3", "-c", FLOOD, str(d.socket)],
                       capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t0
    assert p.returncode == 0 and p.stdout.strip() == "200", (
        f"every connection should get the refusal: {p.stdout} {p.stderr}")
    logged = d.log_text().count(mark) - before
    # At most 10 lines a second, the rest counted.
    assert 1 <= logged <= 10 * (int(took) + 1), f"{logged} lines for 200 refusals in {took:.1f}s"
    assert d.ctl_json("status")["ok"] is True


def test_the_known_commands_are_the_ones_served(publish_env):
    """The list of known commands the daemon gives for an unknown one is
    the table it dispatches from: every name in it is served (here each is
    refused for a stray descriptor, so nothing changes), never "unknown";
    `reconcile` is among them, and aos-publishctl's reconcile reaches the
    daemon's own check of its argument."""
    d = daemon(publish_env)
    with Raw(d) as c:
        a = c.ask({"cmd": "no-such-command"})
        assert a is not None and a["ok"] is False, a
        m = re.search(r"unknown command \"no-such-command\" \(known: ([^)]*)\)", a["error"])
        assert m, a
        known = [n.strip() for n in m.group(1).split(",")]
        assert "reconcile" in known and "job.wait" in known, known
        with open(os.devnull, "rb") as f:
            for name in known:
                a = c.ask({"cmd": name}, fds=[f.fileno()])
                assert a is not None and a["ok"] is False, (name, a)
                assert "unknown command" not in a["error"], (name, a)
    r = d.ctl("reconcile", "no-such-pipeline", "--dry-run")
    assert r.rc == 1 and "no such pipeline in the configuration" in r.err, r
    assert "unknown command" not in r.err + r.out, r
