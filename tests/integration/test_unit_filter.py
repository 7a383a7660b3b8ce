"""The systemd unit and the build sandbox, tested together (issue 9).

The unit's SystemCallFilter=, RestrictNamespaces=, RestrictAddressFamilies=
and capability settings are read off systemd/aos-publishd.service.in
(unit_filter.py expands the groups with `systemd-analyze syscall-filter`)
and applied by tests/tools/unit-launch to bubblewrap running a build step
the way the daemon runs one: bwrap with its namespaces, then
`aos-publishd --run-step` confining itself with Landlock, then the step.

- Every system call, namespace and address family bwrap and the Landlock
  helper use (traced with strace) is allowed by the unit.
- Under the unit's filter the step runs, with both layers working; under the
  filter the unit had before (@system-service, RestrictNamespaces=yes) it
  cannot start, and taking out any one thing the unit adds for the sandbox
  breaks it: the unit allows exactly what is needed.
- In the mount namespace the unit's file-system settings and PrivateUsers=
  give (tests/tools/unit-mounts.sh, root only) bwrap still mounts its /proc;
  with ProtectKernelTunables= or ProtectKernelLogs= it cannot.

The tests run the sandbox as nobody when run as root (a service user is
never root: the kernel lets only a process with CAP_SETFCAP map uid 0 into a
user namespace).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from aos_fixtures import BUILD_DIR, PUBLISHD, SOURCE_DIR
from unit_filter import (LAUNCHER, MOUNTS_SCRIPT, UnitSandbox, add_setting, bwrap_argv,
                         old_unit, replace_settings, sanitizer_env, step_ids, unit_text)

# What the unit adds to @system-service for the build sandbox.
SANDBOX_CALLS = ("mount", "umount2", "pivot_root", "landlock_create_ruleset",
                 "landlock_add_rule", "landlock_restrict_self")
SANDBOX_NAMESPACES = ("user", "mnt", "pid", "ipc", "uts", "cgroup", "net")


@pytest.fixture
def box():
    """A scratch folder outside /tmp (the unit's PrivateTmp= hides /tmp):
    root/ is bound into the sandbox read-write, root/work is the only place
    Landlock lets the step write."""
    assert PUBLISHD.exists(), f"{PUBLISHD} missing: run `make build` first"
    d = Path(tempfile.mkdtemp(prefix="unit-filter-",
                              dir=(BUILD_DIR / "tests" / "tools").resolve()))
    d.chmod(0o755)
    root = d / "root"
    (root / "work").mkdir(parents=True)
    ids = step_ids()
    if ids:
        for p in (root, root / "work"):
            os.chown(p, *ids)
    yield d
    shutil.rmtree(d, ignore_errors=True)


PROBE = ('echo step ran > "$W/work/out"; grep "^Seccomp:" /proc/self/status; '
         'if echo x > "$W/sibling" 2>/dev/null; then echo "WROTE sibling"; '
         'else echo "landlock denied sibling"; fi; '
         'if [ -e "$HOSTFILE" ]; then echo "SAW the host"; fi; true')


def run_step(box: Path, prefix: list[str], net: bool = False, step=None,
             timeout: float = 60) -> subprocess.CompletedProcess:
    """bwrap + run-step + step (PROBE by default) behind prefix."""
    root = box / "root"
    step = step or ["/bin/sh", "-c", PROBE]
    argv = prefix + bwrap_argv(root, root / "work", step, net=net)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          env={"PATH": "/usr/bin:/bin", "W": str(root),
                               "HOSTFILE": str(SOURCE_DIR / "CMakeLists.txt"),
                               **sanitizer_env()}, cwd="/")


def launcher(box: Path, text: str) -> list[str]:
    return UnitSandbox(text).prefix(box, user=step_ids())


def expect_confined_step(box: Path, p: subprocess.CompletedProcess) -> None:
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"the step did not run (rc {p.returncode}):\n{out}"
    assert (box / "root" / "work" / "out").read_text() == "step ran\n", out
    assert re.search(r"^Seccomp:\s+2$", p.stdout, re.M), (
        f"the unit's filter was not in force in the step:\n{out}")
    assert "landlock denied sibling" in out and "WROTE" not in out, out
    assert "SAW the host" not in out, out


CHECKS = r"""
import ctypes, errno, json, socket
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(nr, *args)
    return errno.errorcode.get(ctypes.get_errno(), "ok") if r < 0 else "ok"
out = {}
out["getppid"] = call(110)                        # not in the allow list
out["clone3"] = call(435, None, 0)                # flags unreadable by a filter
out["unshare user+mnt"] = call(272, 0x10000000 | 0x00020000)
out["unshare user"] = call(272, 0x10000000)
for name, kind in (("0", 0), ("user", 0x10000000), ("net", 0x40000000)):
    out["setns " + name] = call(308, -1, kind)    # EBADF once past the filter
for name, af in (("unix", socket.AF_UNIX), ("inet", socket.AF_INET)):
    try:
        socket.socket(af, socket.SOCK_STREAM).close()
        out["socket " + name] = "ok"
    except OSError as e:
        out["socket " + name] = errno.errorcode[e.errno]
print(json.dumps(out))
"""


def test_launcher_applies_what_it_is_given(box):
    """unit-launch's own semantics, with a filter unlike the unit's: the
    errno given, RestrictNamespaces= on unshare/setns with clone3 refused
    with ENOSYS, RestrictAddressFamilies= on socket()."""
    text = replace_settings(unit_text(), SystemCallErrorNumber="EACCES",
                            RestrictNamespaces="user", RestrictAddressFamilies="AF_UNIX")
    prefix = UnitSandbox(add_setting(text, "SystemCallFilter", "~getppid")).prefix(
        box, user=step_ids())
    p = subprocess.run(prefix + ["/usr/bin/python3", "-c", CHECKS], capture_output=True,
                       text=True, timeout=60, cwd="/")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {
        "getppid": "EACCES", "clone3": "ENOSYS", "unshare user+mnt": "EPERM",
        "unshare user": "ok", "setns 0": "EPERM", "setns user": "EBADF", "setns net": "EPERM",
        "socket unix": "ok", "socket inet": "EAFNOSUPPORT"}, p.stdout


def test_traced_calls_namespaces_and_families_are_allowed(box):
    """strace -f of bwrap (with --unshare-net) and the Landlock helper: each
    system call they make, each namespace they create, each socket family
    they open is in what the unit allows."""
    strace = shutil.which("strace")
    assert strace, "strace not found (Debian package strace; scripts/setup.sh)"
    unit = UnitSandbox(unit_text())
    trace = box / "root" / "trace"
    ids = step_ids()
    prefix = [str(LAUNCHER)] + (["--user", f"{ids[0]}:{ids[1]}"] if ids else []) + [
        "--", strace, "-f", "-qq", "-o", str(trace)]
    p = run_step(box, prefix, net=True, step=["/bin/true"])
    assert p.returncode == 0, f"bwrap under strace failed:\n{p.stdout}{p.stderr}"
    text = trace.read_text()
    calls = set(re.findall(r"^\d+\s+([a-z0-9_]+)\(", text, re.M))
    missing = {"clone", "mount", "pivot_root", "umount2", "landlock_restrict_self"} - calls
    assert not missing, f"the trace lacks {missing}: strace output not understood?"
    assert calls <= unit.allowed(), (
        f"bwrap or the Landlock helper need calls the unit forbids: "
        f"{sorted(calls - unit.allowed())}")
    flags = set()
    for f in re.findall(r"(?:clone|unshare)\((?:[^)]*flags=)?([A-Z_|]+)", text):
        flags |= {x[len("CLONE_NEW"):].lower() for x in f.split("|")
                  if x.startswith("CLONE_NEW")}
    kinds = {"ns": "mnt"}.get
    used = {kinds(f, f) for f in flags}
    assert used >= {"user", "mnt", "pid", "net"}, f"no namespaces seen in the trace: {used}"
    assert used <= unit.namespaces, (
        f"bwrap creates namespaces the unit forbids: {sorted(used - unit.namespaces)}")
    families = set(re.findall(r"socket\((AF_[A-Z0-9]+)", text))
    assert families <= unit.families, (
        f"bwrap opens sockets the unit forbids: {sorted(families - unit.families)}")


@pytest.mark.parametrize("net", [False, True], ids=["network", "no-network"])
def test_step_confined_under_the_unit_filter(box, net):
    expect_confined_step(box, run_step(box, launcher(box, unit_text()), net=net))


def test_old_unit_filter_breaks_the_sandbox(box):
    """The filter the unit shipped with: bwrap cannot create its namespaces,
    and Landlock alone (today's build_isolation "required") refuses to run
    the step, because landlock_* fail with EPERM."""
    old = launcher(box, old_unit(unit_text()))
    p = run_step(box, old)
    assert p.returncode != 0, f"bwrap ran under the old filter:\n{p.stdout}{p.stderr}"
    assert "namespace" in p.stderr, p.stderr
    assert not (box / "root" / "work" / "out").exists()
    p = subprocess.run(old + [str(PUBLISHD), "--run-step", "--landlock", "--write", str(box / "root"),
                              "--", "/bin/true"],
                       capture_output=True, text=True, timeout=60, cwd="/",
                       env={"PATH": "/usr/bin:/bin", **sanitizer_env()})
    assert p.returncode == 126, f"rc {p.returncode}: {p.stderr}"
    assert "offers no Landlock" in p.stderr, p.stderr


def _without(text: str, what: str) -> str:
    """The unit minus one thing it allows for the sandbox."""
    s = UnitSandbox(text).settings
    if what in SANDBOX_CALLS:
        return add_setting(text, "SystemCallFilter", "~" + what)
    if what in SANDBOX_NAMESPACES:
        kinds = [k for k in s["RestrictNamespaces"][0].split() if k != what]
        return replace_settings(text, RestrictNamespaces=" ".join(kinds) or "yes")
    fams = [f for f in s["RestrictAddressFamilies"][0].split() if f != what]
    return replace_settings(text, RestrictAddressFamilies=" ".join(fams))


def _allows(text: str, what: str) -> bool:
    u = UnitSandbox(text)
    if what in SANDBOX_CALLS:
        return what in u.allowed()
    return what in (u.namespaces if what in SANDBOX_NAMESPACES else u.families)


@pytest.mark.parametrize("what", SANDBOX_CALLS + SANDBOX_NAMESPACES + ("AF_NETLINK",))
def test_each_allowance_is_needed(box, what):
    """Without any one of the unit's additions the step does not run."""
    text = unit_text()
    assert _allows(text, what), f"the unit no longer allows {what}: update this test"
    smaller = _without(text, what)
    assert not _allows(smaller, what)
    p = run_step(box, launcher(box, smaller), net=what in ("net", "AF_NETLINK"))
    assert p.returncode != 0, (f"the step ran without {what}: the unit allows more than "
                               f"the sandbox needs\n{p.stdout}{p.stderr}")
    why = ("NETLINK" if what == "AF_NETLINK" else "namespace" if what in SANDBOX_NAMESPACES
           else "Operation not permitted")
    assert why in p.stderr, f"failed for another reason than {what}:\n{p.stderr}"
    assert not (box / "root" / "work" / "out").exists()


MOUNT_SETTINGS = ("ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
                  "ProtectKernelModules", "ProtectControlGroups", "ProtectProc",
                  "ProtectKernelTunables", "ProtectKernelLogs")


def mount_namespace(box: Path, text: str) -> list[str]:
    """unshare + unit-mounts.sh for the unit's file-system settings, with
    the scratch folder standing in for its StateDirectory=."""
    s = UnitSandbox(text).settings
    args = [f"{k}={s[k][-1]}" for k in MOUNT_SETTINGS if k in s]
    assert "PrivateMounts" in s and "ProtectHostname" in s  # the new namespaces below
    return ["unshare", "--mount", "--uts", "--propagation", "private", "--",
            "sh", str(MOUNTS_SCRIPT), "--scratch", str(box),
            f"ReadWritePaths={box / 'root'}", *args, "--"]


@pytest.mark.parametrize("extra,works", [
    ({}, True),
    ({"ProtectKernelTunables": "yes"}, False),
    ({"ProtectKernelLogs": "yes"}, False),
], ids=["unit", "+ProtectKernelTunables", "+ProtectKernelLogs"])
def test_unit_mounts_leave_room_for_bwrap(box, extra, works):
    if os.geteuid() != 0:
        pytest.skip("emulating the unit's mount namespace needs root")
    text = replace_settings(unit_text(), **extra)
    unit = UnitSandbox(text)
    assert unit.settings.get("PrivateUsers") == ["yes"]
    prefix = mount_namespace(box, text) + unit.prefix(box, user=step_ids(),
                                                      private_users=True)
    p = run_step(box, prefix)
    if works:
        expect_confined_step(box, p)
    else:
        assert p.returncode != 0 and "Can't mount proc" in p.stderr, (
            f"rc {p.returncode}:\n{p.stdout}{p.stderr}")
