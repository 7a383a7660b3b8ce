"""The Debian package, built, installed, checked and purged on this machine
(issue 16; docs/packaging.md).

scripts/build-deb.sh (what `make deb` runs) builds the package from a copy
of the tree in a folder outside it and runs lintian (errors and warnings
fail).  The package is installed with apt-get into the machine the test
runs on, which needs root: as any other user the test is skipped, saying
so; CI runs as root, so it runs there.  Only this package is installed or
purged; its dependencies are already there (scripts/setup.sh)."""

import grp
import json
import os
import pwd
import re
import stat
import subprocess
from pathlib import Path

import pytest

from aos_fixtures import SOURCE_DIR

PKG = "aos-publishd"
ETC = Path("/etc/aos-publishd")
STATE = Path("/var/lib/aos-publishd")
UNIT = Path("/lib/systemd/system/aos-publishd.service")
WANTS = Path("/etc/systemd/system/multi-user.target.wants/aos-publishd.service")
APT = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=300"]
PLACEHOLDER = re.compile(r"<[A-Za-z0-9._-]+>")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="installs a Debian package into this machine: needs root (CI runs as root)")


def run(argv, timeout=900, check=True, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                       timeout=timeout, env=env, **kw)
    assert not check or p.returncode == 0, f"{' '.join(map(str, argv))}: {p}"
    return p


def installed() -> bool:
    p = run(["dpkg-query", "-W", "-f=${Status}", PKG], check=False)
    return p.returncode == 0 and "installed" in p.stdout.split()


def tree_state() -> str:
    return run(["git", "-C", SOURCE_DIR, "status", "--porcelain", "--ignored"]).stdout


def mode_owner(path: Path) -> tuple[str, str, str]:
    st = path.stat()
    return (oct(stat.S_IMODE(st.st_mode)), pwd.getpwuid(st.st_uid).pw_name,
            grp.getgrgid(st.st_gid).gr_name)


def publishd_running() -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and os.readlink(p / "exe") == "/usr/bin/aos-publishd":
                pids.append(int(p.name))
        except OSError:
            pass
    return pids


@pytest.fixture(scope="module")
def deb(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("deb")
    before = tree_state()
    p = run([SOURCE_DIR / "scripts" / "build-deb.sh", out, "2"], check=False)
    assert p.returncode == 0, f"build-deb.sh failed (lintian or the build): {p}"
    assert tree_state() == before, "building the package changed the tree"
    return Path(p.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def package(deb):
    if installed():  # left by an interrupted run
        run(APT + ["purge", PKG])
    run(APT + ["install", "--no-install-recommends", deb.resolve()])
    files = [Path(f) for f in run(["dpkg-query", "-L", PKG]).stdout.splitlines()]
    try:
        yield files
    finally:
        if installed():
            run(APT + ["purge", PKG], check=False)


def test_user_and_folders(package):
    user = pwd.getpwnam("aos-publishd")
    assert user.pw_dir == str(STATE) and user.pw_shell.endswith("nologin"), user
    assert user.pw_uid < 1000, f"not a system user: {user}"
    assert grp.getgrnam("aos-publishd").gr_gid == user.pw_gid
    assert STATE.is_dir() and mode_owner(STATE) == ("0o750", "aos-publishd", "aos-publishd")
    assert mode_owner(ETC) == ("0o755", "root", "root")


def test_config_is_the_example_as_conffile(package):
    cfg = ETC / "config.json"
    assert mode_owner(cfg) == ("0o644", "root", "root")
    assert cfg.read_text() == (SOURCE_DIR / "systemd" / "config.example.json").read_text()
    conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", PKG]).stdout
    assert str(cfg) in conffiles, conffiles


def test_check_config_of_the_shipped_example(package, tmp_path):
    p = run(["/usr/bin/aos-publishd", "--check-config", ETC / "config.json"], check=False)
    assert p.returncode == 78, f"the untouched example was accepted: {p}"
    text = (ETC / "config.json").read_text()
    for value in set(PLACEHOLDER.findall(text)):
        assert value in p.stderr, f"placeholder {value} not named: {p.stderr}"
    for m in set(PLACEHOLDER.findall(text)):
        text = text.replace(m, "127.0.0.1" if "host" in m else "x")
    done = tmp_path / "config.json"
    done.write_text(text)
    p = run(["/usr/bin/aos-publishd", "--check-config", done], check=False)
    assert p.returncode == 0, p


def test_unit_enabled_not_started(package):
    assert UNIT.is_file() and "ExecStart=/usr/bin/aos-publishd " in UNIT.read_text()
    assert WANTS.is_symlink() and Path(os.readlink(WANTS)) == UNIT, \
        f"{WANTS}: the unit is not enabled"
    assert publishd_running() == [], "the package started the daemon"
    if Path("/run/systemd/system").is_dir():  # systemd is PID 1 here
        p = run(["systemctl", "is-active", "aos-publishd"], check=False)
        assert p.stdout.strip() == "inactive", p


def test_docs_man_pages_completion(package):
    have = {str(f) for f in package}
    for want in ("/usr/bin/aos-publishctl", "/usr/bin/aos-rotate-secret",
                 "/usr/lib/sysusers.d/aos-publishd.conf",
                 "/usr/lib/tmpfiles.d/aos-publishd.conf",
                 "/usr/share/bash-completion/completions/aos-publishctl",
                 "/usr/share/zsh/vendor-completions/_aos-publishctl",
                 "/usr/share/doc/aos-publishd/operations.md.gz",
                 "/usr/share/doc/aos-publishd/config.example.json"):
        assert want in have, f"{want} not in the package"
    for page in ("aos-publishd.8", "aos-publishctl.1", "aos-publishd.json.5",
                 "aos-rotate-secret.8"):
        name, section = page.rsplit(".", 1)
        p = run(["man", "-w", section, name], check=False)
        assert p.returncode == 0 and p.stdout.strip(), f"man {section} {name}: {p}"
    alerts = SOURCE_DIR / "docs" / "alerts.yml"
    if alerts.exists():
        assert "/usr/share/aos-publishd/prometheus/alerts.yml" in have


def test_purge_leaves_only_the_user(package):
    # Files an operator adds and the daemon makes are purged with the rest.
    (ETC / "role_id").write_text("r\n")
    (STATE / "queue.db").write_text("")
    run(APT + ["purge", PKG])
    assert not installed()
    left = [str(f) for f in package if f.exists() and not f.is_dir()]
    assert left == [], f"files of the package left after purge: {left}"
    for gone in (ETC, STATE, WANTS):
        assert not gone.exists() and not gone.is_symlink(), f"{gone} left after purge"
    # Debian policy: system users and groups stay.
    assert pwd.getpwnam("aos-publishd") and grp.getgrnam("aos-publishd")
