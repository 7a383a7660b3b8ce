"""The sandbox of systemd/aos-publishd.service.in, read off the unit file,
as a command-line prefix for tests/tools/unit-launch (test_unit_filter.py,
test_unit_daemon.py).

- service_settings(text): {key: [assignments in order]} of [Service].
- UnitSandbox(text): what the unit's seccomp settings allow, derived the
  way systemd 252 derives it: SystemCallFilter= lines (the first decides
  allow or deny list; an allow list always holds @default; "~" lines take
  calls out again) with every @group expanded by `systemd-analyze
  syscall-filter`, minus the calls other settings forbid (ProtectClock= ...);
  SystemCallErrorNumber=, RestrictNamespaces=, RestrictAddressFamilies=,
  an empty CapabilityBoundingSet=.  .prefix() is the unit-launch argv.
- old_unit(text): the unit with the filter it shipped with before the build
  sandbox (@system-service only, RestrictNamespaces=yes, no AF_NETLINK).
- bwrap_argv(): the command line the daemon runs a build step with.
- sanitizer_env(): what an ASan build needs under the filter.

Nothing is hard-coded about what the unit allows: change the unit and the
tests follow.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

from aos_fixtures import BUILD_DIR, PUBLISHD, SOURCE_DIR

UNIT_IN = SOURCE_DIR / "systemd" / "aos-publishd.service.in"
LAUNCHER = BUILD_DIR.resolve() / "tests" / "tools" / "unit-launch"
MOUNTS_SCRIPT = SOURCE_DIR / "tests" / "tools" / "unit-mounts.sh"

# Calls that other settings of a unit forbid with a filter of their own
# (systemd 252, src/core/execute.c apply_protect_*()/apply_private_devices()).
IMPLIED_DENIALS = {
    "ProtectClock": ["@clock"],
    "ProtectKernelModules": ["@module"],
    "PrivateDevices": ["@raw-io"],
    "ProtectKernelLogs": ["syslog"],
    "ProtectKernelTunables": ["_sysctl"],
    "ProtectHostname": ["sethostname", "setdomainname"],
}
NAMESPACE_KINDS = ("cgroup", "ipc", "net", "mnt", "pid", "user", "uts", "time")


def unit_text() -> str:
    return UNIT_IN.read_text()


def service_settings(text: str) -> dict[str, list[str]]:
    """{key: [values]} of the [Service] section (comments and other sections
    skipped, backslash continuations joined)."""
    out: dict[str, list[str]] = {}
    section = None
    lines = iter(text.splitlines())
    for line in lines:
        while line.endswith("\\"):
            line = line[:-1] + " " + next(lines, "")
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]" and "=" in line:
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def yes(settings: dict, key: str) -> bool:
    """A boolean setting (the last assignment counts)."""
    return settings.get(key, ["no"])[-1].lower() in ("yes", "true", "on", "1")


@functools.lru_cache(maxsize=1)
def syscall_groups() -> dict[str, list[str]]:
    """{@group: [entries]} as `systemd-analyze syscall-filter` lists them."""
    exe = shutil.which("systemd-analyze")
    assert exe, "systemd-analyze not found (Debian package systemd; scripts/setup.sh)"
    p = subprocess.run([exe, "syscall-filter", "--no-pager"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, f"systemd-analyze syscall-filter failed: {p.stderr}"
    groups: dict[str, list[str]] = {}
    current = None
    for line in p.stdout.splitlines():
        if line.startswith("@"):
            current = line.strip()
            groups[current] = []
        elif current and line.startswith("    ") and not line.strip().startswith("#"):
            groups[current].append(line.strip())
    assert "@system-service" in groups and "@default" in groups, (
        f"unexpected `systemd-analyze syscall-filter` output:\n{p.stdout[:2000]}")
    return groups


def expand(names) -> set[str]:
    """System call names, every @group replaced by its members."""
    groups = syscall_groups()
    out: set[str] = set()
    for n in names:
        n = n.split(":", 1)[0]  # name:errno
        if n.startswith("@"):
            assert n in groups, f"unknown system call group {n}"
            out |= expand(groups[n])
        else:
            out.add(n)
    return out


class UnitSandbox:
    """The seccomp-relevant settings of a unit, ready for unit-launch."""

    def __init__(self, text: str):
        s = self.settings = service_settings(text)
        assert yes(s, "NoNewPrivileges"), "the unit must set NoNewPrivileges=yes"
        assert s.get("SystemCallArchitectures") == ["native"], (
            "unit-launch emulates SystemCallArchitectures=native only")
        assert s.get("SystemCallErrorNumber"), (
            "without SystemCallErrorNumber= systemd kills on a filtered call;"
            " unit-launch emulates an errno")
        self.errno = s["SystemCallErrorNumber"][-1]
        self.syscalls = self._syscalls(s.get("SystemCallFilter", []))
        self.namespaces = self._namespaces(s.get("RestrictNamespaces", []))
        self.families = self._families(s.get("RestrictAddressFamilies", []))
        self.no_caps = (s.get("CapabilityBoundingSet") == [""]
                        and s.get("AmbientCapabilities", [""]) == [""])

    @staticmethod
    def _syscalls(lines: list[str]) -> set[str]:
        allow: set[str] | None = None
        for line in lines:
            if not line:
                allow = None
                continue
            invert = line.startswith("~")
            words = line.lstrip("~").split()
            if allow is None:
                assert not invert, "unit-launch emulates a SystemCallFilter= allow list only"
                allow = expand(["@default"])
            allow = allow - expand(words) if invert else allow | expand(words)
        assert allow is not None, "the unit has no SystemCallFilter="
        return allow

    def allowed(self) -> set[str]:
        """The allow list with what other settings forbid taken out."""
        out = set(self.syscalls)
        for key, names in IMPLIED_DENIALS.items():
            if yes(self.settings, key):
                out -= expand(names)
        return out

    @staticmethod
    def _namespaces(lines: list[str]) -> set[str]:
        assert len(lines) == 1, "expected one RestrictNamespaces= line"
        v = lines[0]
        if v in ("yes", "true"):
            return set()
        if v in ("no", "false", ""):
            return set(NAMESPACE_KINDS)
        kinds = set(v.lstrip("~").split())
        assert kinds <= set(NAMESPACE_KINDS), f"unknown namespace kinds in {v!r}"
        return set(NAMESPACE_KINDS) - kinds if v.startswith("~") else kinds

    @staticmethod
    def _families(lines: list[str]) -> set[str]:
        out: set[str] = set()
        for v in lines:
            assert not v.startswith("~"), "unit-launch emulates an allow list only"
            out |= {w for w in v.split() if w != "none"}
        return out

    def prefix(self, folder: Path, user: tuple[int, int] | None = None,
               private_users: bool = False) -> list[str]:
        """unit-launch ARGS -- (the allow list is written to folder)."""
        assert LAUNCHER.exists(), f"{LAUNCHER} missing: run `make build` first"
        path = Path(folder) / "syscalls.allow"
        path.write_text("\n".join(sorted(self.allowed())) + "\n")
        path.chmod(0o644)
        argv = [str(LAUNCHER), "--syscalls", str(path), "--errno", self.errno,
                "--namespaces", " ".join(sorted(self.namespaces)) or "yes",
                "--families", " ".join(sorted(self.families)) or "none"]
        if self.no_caps:
            argv.append("--no-caps")
        if private_users:
            argv.append("--private-users")
        if user is not None:
            argv += ["--user", f"{user[0]}:{user[1]}"]
        return argv + ["--"]


def sanitizer_env() -> dict:
    """ASAN_OPTIONS for a sanitized binary run under the unit's filter:
    LeakSanitizer's exit-time check needs ptrace(2), which the filter rightly
    forbids, so the leak check is off there (every other ASan test keeps
    it); the other options are kept."""
    opts = os.environ.get("ASAN_OPTIONS", "")
    return {"ASAN_OPTIONS": (opts + ":" if opts else "") + "detect_leaks=0"}


def add_setting(text: str, key: str, value: str) -> str:
    """The unit text with KEY=VALUE added at the end of [Service]."""
    assert "\n[Install]" in text
    return text.replace("\n[Install]", f"\n{key}={value}\n\n[Install]", 1)


def replace_settings(text: str, **values) -> str:
    """The unit text with every line of each key replaced by one line with
    the given value at the end of [Service] (None: only removed)."""
    for key, value in values.items():
        text = re.sub(rf"^{key}=.*\n", "", text, flags=re.M)
        if value is not None:
            text = add_setting(text, key, value)
    return text


def old_unit(text: str) -> str:
    """The unit with the filter settings of the release before the build
    sandbox (commit 9638090)."""
    return replace_settings(text, SystemCallFilter="@system-service",
                            RestrictNamespaces="yes",
                            RestrictAddressFamilies="AF_UNIX AF_INET AF_INET6")


def step_ids() -> tuple[int, int] | None:
    """The ids the sandboxed tests run as: nobody when the tests run as root
    (a service user is never root), else the tests' own (None)."""
    return (65534, 65534) if os.geteuid() == 0 else None


def bwrap_argv(work: Path, writable: Path, step: list[str], net: bool = False,
               helper: Path = PUBLISHD.resolve()) -> list[str]:
    """bwrap running `aos-publishd --run-step` (Landlock, writes only beneath
    `writable`) in front of step, with work bound read-write."""
    exe = shutil.which("bwrap")
    assert exe, "bwrap not found (Debian package bubblewrap; scripts/setup.sh)"
    argv = [exe, "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup"] + (["--unshare-net"] if net else []) + [
        "--die-with-parent", "--new-session", "--cap-drop", "ALL",
        "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for link in ("bin", "lib", "lib64", "sbin"):
        if Path("/" + link).is_symlink():
            argv += ["--symlink", os.readlink("/" + link), "/" + link]
    return argv + ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
                   "--bind", str(work), str(work),
                   "--ro-bind", str(helper), "/run/aos-step",
                   "--", "/run/aos-step", "--run-step", "--landlock", "--write", str(writable),
                   "--", *step]
