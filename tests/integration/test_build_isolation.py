"""A build step is the attacker: it must not reach the daemon's things.

The pipeline's first build step is a probe that does what a malicious build
dependency would, once directly and once from a double-forked process
(setsid, fork, the parent exits: re-parented away from the step):

- read the Vault credential (here the token file, kept under /run as systemd
  keeps credentials) through /run, through /var/run (a symbolic link to
  /run: Landlock once followed it), through /proc/<daemon>/root and through
  $CREDENTIALS_DIRECTORY;
- list and read the daemon's descriptors through /proc/<daemon>/fd;
- read the queue database and list the spool;
- connect to the control socket (by its path, through /var/run and through
  /proc/<daemon>/root) and be served (the peer's role is checked: a build
  step, with no_new_privs as the daemon's user, is refused);
- find a descriptor it inherited (above 2) and use it;
- write outside its work folder;
- leave a process behind (setsid + double fork), which must be gone when
  the step ends.

Whatever the probe manages to read it copies to a folder it may write
(pipelines.X.writable); the test then looks for every secret value there.
Each attempt prints "probe[V]: NAME denied" or "probe[V]: NAME GOT"; every
attempt must be denied under the default isolation ("namespaces") and under
the fallback ("landlock"), and the real build that follows must still work.
With "off" the same probe gets through (the difference is the sandbox, not
file modes), which shows the probe can see a hole when there is one.
"""

import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from aos_fixtures import wait_for
from webhook_support import (PY_BUILD, PY_QUICK_BUILD, expect_accepted, expect_job,
                             files_under, github_push, job_text, python_pipeline,
                             quick_python_pipeline, wait_listening)

ATTEMPTS = ("run-token", "var-run-token", "proc-root-token", "credentials", "proc-fd",
            "queue-db", "spool", "control", "control-var-run", "control-proc-root",
            "inherited-fd", "write-outside")

# One attempt per line; $V (exported) names the variant (direct or double-
# forked).  Descriptors of the daemon are read only when they are regular
# files: reading its pipes would steal the daemon's own wake-ups.
PROBE = r'''
got() { echo "probe[$V]: $1 GOT"; }
den() { echo "probe[$V]: $1 denied"; }
steal() { # NAME FILE: copy FILE to the loot folder if it can be read
  if cat "$2" > "$LOOT/$V-$1" 2>/dev/null && [ -s "$LOOT/$V-$1" ]; then got "$1";
  else rm -f "$LOOT/$V-$1" 2>/dev/null; den "$1"; fi; }
steal run-token "$RUNDIR/vault-token"
steal var-run-token "/var/run/${RUNDIR#/run/}/vault-token"
steal proc-root-token "/proc/$DPID/root$RUNDIR/vault-token"
steal credentials "$CREDDIR/secret_id"
n=0; for f in /proc/$DPID/fd/*; do
  if readlink "$f" > /dev/null 2>&1; then n=$((n+1)); fi
  if [ -f "$f" ] && cat "$f" > "$LOOT/$V-fd-${f##*/}" 2>/dev/null; then n=$((n+1)); fi; done
if [ $n -gt 0 ]; then got proc-fd; else den proc-fd; fi
steal queue-db "$STATE/queue.db"
steal spool "$SPOOL/canary"
for s in control:$SOCK control-var-run:/var/run/${SOCK#/run/} \
         control-proc-root:/proc/$DPID/root$SOCK; do
  python3 - "${s%%:*}" "${s#*:}" <<'PY'
import json, os, socket, sys
name, path = sys.argv[1], sys.argv[2]
v = os.environ["V"]
try:
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(5)
    c.connect(path)
    # Any request a served peer gets "ok" for (a publish names no path
    # any more: files travel as descriptors).
    c.sendall(json.dumps({"cmd": "ping"}).encode() + b"\n")
    answer = c.recv(4096)
    # Served only if it says ok (a refusal is a line too: the peer's role).
    served = answer and json.loads(answer.split(b"\n")[0]).get("ok") is True
    print(f"probe[{v}]: {name} GOT" if served else f"probe[{v}]: {name} denied")
except OSError:
    print(f"probe[{v}]: {name} denied")
PY
done
python3 - <<'PY'
import os
v = os.environ["V"]
fds, used = [], []
for f in os.listdir("/proc/self/fd"):  # includes listdir's own, closed by now
    try:
        fds.append((int(f), os.readlink(f"/proc/self/fd/{f}")))
    except OSError:
        pass
fds = [(fd, what) for fd, what in fds if fd > 2]
for fd, what in fds:
    try:
        used.append((fd, what, os.read(fd, 64)))
    except OSError as e:
        used.append((fd, what, str(e)))
print(f"probe[{v}]: inherited-fd {'GOT ' + repr(used) if fds else 'denied'}")
PY
if touch "$OUTSIDE/probe-$V" 2>/dev/null; then got write-outside; else den write-outside; fi
setsid sleep "$LINGER" < /dev/null > /dev/null 2>&1 &
touch "$HOME/$V.done"
'''

DIRECT = 'export V=direct; eval "$PROBE"'
DOUBLE_FORK = ('( V=forked setsid sh -c "$PROBE" > "$HOME/forked.out" 2>&1 < /dev/null & ); '
               'i=0; while [ ! -e "$HOME/forked.done" ] && [ $i -lt 600 ]; do sleep 0.1; '
               'i=$((i+1)); done; cat "$HOME/forked.out"')


@pytest.fixture(scope="module")
def env(webhook_env):
    return webhook_env


@pytest.fixture(scope="module")
def rundir():
    """A folder under /run (reachable as /var/run too) for the daemon's
    runtime folder, its Vault token and a systemd-like credentials folder,
    and one under /var/lib for its state, as installed (Landlock's carving
    then descends into /var, where /var/run links to /run)."""
    name = f"aos-bt-{secrets.token_hex(4)}"
    run, lib = Path("/run") / name, Path("/var/lib") / name
    run.mkdir(mode=0o700)
    lib.mkdir(mode=0o700)
    yield run
    shutil.rmtree(run, ignore_errors=True)
    shutil.rmtree(lib, ignore_errors=True)


def attack_daemon(env, rundir: Path, isolation: str, name: str):
    """A daemon whose runtime folder, control socket and Vault token file
    live under rundir/name, with a pipeline whose build is the probe."""
    base = rundir / name
    (base / "run").mkdir(parents=True, mode=0o700)
    (base / "creds").mkdir(mode=0o700)
    loot, outside = env.workdir / f"loot-{name}", env.workdir / f"outside-{name}"
    loot.mkdir()
    outside.mkdir()
    d = env.hook_daemon({}, start=False, config={"build_isolation": isolation})
    d.state_dir = Path("/var/lib") / rundir.name / name
    d.state_dir.mkdir(mode=0o700)
    d.config["state_dir"] = str(d.state_dir)
    (d.state_dir / "spool").mkdir(mode=0o700)
    d.canary = secrets.token_hex(24)  # a file in the spool
    (d.state_dir / "spool" / "canary").write_text(d.canary)
    token = base / "vault-token"
    token.write_text(env.vault_token + "\n")
    token.chmod(0o600)
    (base / "creds" / "secret_id").write_text(env.vault_token + "\n")
    d.config["vault"]["auth"]["token_file"] = str(token)
    d.config["runtime_dir"] = str(base / "run")
    d.socket = base / "run" / "control.sock"
    d.config["control_socket"] = str(d.socket)
    linger = f"{7000 + secrets.randbelow(1000)}.{secrets.randbelow(10**6)}"
    # The real build shows that a sandbox still lets a build work; under
    # "off" there is none, and QUICK_DIST makes the artifacts.
    make, build = ((quick_python_pipeline, PY_QUICK_BUILD) if isolation == "off"
                   else (python_pipeline, PY_BUILD))
    pipe = make(env.repo, "python-sdk-v*", targets=["pypi"],
                build=[DIRECT, DOUBLE_FORK, *build], writable=[str(loot)])
    pipe["env"].update({"PROBE": PROBE, "RUNDIR": str(base), "CREDDIR": str(base / "creds"),
                        "STATE": str(d.state_dir), "SPOOL": str(d.state_dir / "spool"),
                        "SOCK": str(d.socket), "LOOT": str(loot), "OUTSIDE": str(outside),
                        "LINGER": linger, "DPID": "0"})
    d.config["pipelines"] = {"python-sdk": pipe}
    d.linger, d.loot = linger, loot
    d.write_config()
    d.start(env={"CREDENTIALS_DIRECTORY": str(base / "creds")})
    wait_listening(d)
    # The step learns the daemon's pid as an attacker would (ps, /proc).
    pipe["env"]["DPID"] = str(d.proc.pid)
    d.config["pipelines"]["python-sdk"] = pipe
    d.write_config()
    d.reload()
    return d


def run_attack(env, d, version):
    commit = env.repo.commit_release(version)
    tag = f"python-sdk-v{version}"
    env.repo.tag(tag, commit)
    jid = expect_accepted(d.hooks.send("github", github_push(tag, commit)), "python-sdk",
                          tag, version, commit)
    expect_job(d, jid, "succeeded", timeout=240)
    text = job_text(d, jid)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("probe[")]
    return text, lines


def lingering(d) -> list[str]:
    """Processes still running `sleep <linger>` (the probe's leftovers)."""
    out = []
    for c in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            cmd = c.read_bytes().split(b"\0")
        except OSError:
            continue
        if len(cmd) > 1 and cmd[0].endswith(b"sleep") and cmd[1] == d.linger.encode():
            out.append(c.parent.name)
    return out


def loot_has_secrets(env, d) -> list[str]:
    found = []
    for path, data in files_under(d.loot).items():
        for v in env.sensitive() + [d.canary]:
            if v.encode() in data:
                found.append(path)
    return found


@pytest.mark.parametrize("isolation,version", [("namespaces", "0.1.0"), ("landlock", "0.2.0")])
def test_every_attempt_of_a_build_step_is_denied(env, rundir, isolation, version):
    d = attack_daemon(env, rundir, isolation, isolation)
    status = d.ctl_json("status")["build_isolation"]
    assert status["mode"] == isolation and status["available"] is True, status
    text, lines = run_attack(env, d, version)
    assert f"isolation: {isolation}" in text, f"the job log does not name the isolation:\n{text}"
    for v in ("direct", "forked"):
        for a in ATTEMPTS:
            mine = [ln for ln in lines if ln.startswith(f"probe[{v}]: {a} ")]
            assert mine == [f"probe[{v}]: {a} denied"], (
                f"{isolation}, {v}: attempt {a}: {mine}\n{text}")
    assert not loot_has_secrets(env, d), f"secrets in the loot: {loot_has_secrets(env, d)}"
    assert wait_for(lambda: not lingering(d), 10,
                    what=lambda: f"the probe's leftover processes {lingering(d)} to go"), text


def test_without_isolation_the_probe_gets_through(env, rundir):
    """The same probe with build_isolation "off": it reads the token through
    every path, so a denial above is the sandbox's doing.  Even here no
    descriptor is inherited and no process outlives the step."""
    d = attack_daemon(env, rundir, "off", "off")
    assert d.ctl_json("status")["build_isolation"]["mode"] == "off"
    assert "NOT confined" in d.log_text() or "not confined" in d.log_text()
    text, lines = run_attack(env, d, "0.3.0")
    for a in ("run-token", "var-run-token", "proc-root-token", "credentials", "queue-db",
              "spool", "write-outside"):
        assert f"probe[direct]: {a} GOT" in lines, f"{a}:\n{text}"
    assert "probe[direct]: inherited-fd denied" in lines, text
    assert loot_has_secrets(env, d), "the probe copied no secret although it read the token"
    assert wait_for(lambda: not lingering(d), 10,
                    what=lambda: f"the probe's leftover processes {lingering(d)} to go"), text


def test_network_false_cuts_the_network(env):
    """pipelines.X.network false: a step cannot even reach the daemon's own
    listener on 127.0.0.1 (own network namespace); with the default it can."""
    probe = ('python3 -c "import socket,sys; s=socket.socket(); s.settimeout(3); '
             'r=s.connect_ex((\'127.0.0.1\', int(sys.argv[1]))); '
             'print(\'net-probe:\', \'connected\' if r == 0 else \'no network\')" "$PORT"')
    d = env.hook_daemon({}, start=False)
    pipes = {"off-net": python_pipeline(env.repo, "offnet-v*", targets=["pypi"],
                                        build=[probe, *PY_BUILD], network=False),
             # (the control: its build needs no proving, QUICK_DIST makes it)
             "on-net": quick_python_pipeline(env.repo, "onnet-v*", targets=["pypi"],
                                             build=[probe, *PY_QUICK_BUILD])}
    for p in pipes.values():
        p["env"]["PORT"] = str(d.http_port)
    d.config["pipelines"] = pipes
    d.write_config()
    d.start()
    wait_listening(d)
    out = {}
    for name, tag, version in (("off-net", "offnet-v0.4.0", "0.4.0"),
                               ("on-net", "onnet-v0.4.1", "0.4.1")):
        commit = env.repo.commit_release(version)
        env.repo.tag(tag, commit)
        jid = expect_accepted(d.hooks.send("github", github_push(tag, commit)), name, tag,
                              version, commit)
        expect_job(d, jid, "succeeded", timeout=240)
        out[name] = job_text(d, jid)
    assert "net-probe: no network" in out["off-net"], out["off-net"]
    assert "net-probe: connected" in out["on-net"], out["on-net"]


# Ways the default isolation becomes unusable for the daemon: (name, the
# argv prefix it is started under, what status's description must name).
NO_NAMESPACES = ["unshare", "--user", "--map-root-user", "sh", "-c",
                 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$0" "$@"']
# bwrap hidden: /dev/null (no execute bit) bound over it in a mount namespace.
NO_BWRAP = ["unshare", "--mount", "sh", "-c",
            'for b in /usr/bin/bwrap /bin/bwrap /usr/local/bin/bwrap; do '
            '[ ! -e "$b" ] || mount --bind /dev/null "$b" || exit 1; done; exec "$0" "$@"']


@pytest.mark.parametrize("name,prefix,cause,version", [
    ("nons", NO_NAMESPACES, "max_user_namespaces", "0.5.0"),
    ("nobwrap", NO_BWRAP, "bubblewrap (bwrap) is not installed", "0.5.1")])
def test_unavailable_namespaces_stop_the_job(env, name, prefix, cause, version):
    """No user namespaces for the daemon (max_user_namespaces 0 in its own
    user namespace), or no bwrap to make them: status says so, and a job
    fails with an error that names the cause and what to do; nothing runs
    unconfined and nothing is uploaded."""
    if name == "nobwrap" and os.geteuid() != 0:
        pytest.fail("hiding bwrap needs a mount namespace: run the suite as root")
    d = env.hook_daemon({"python-sdk": python_pipeline(env.repo, f"{name}-v*",
                                                       targets=["pypi"],
                                                       build=["touch /tmp/ran", *PY_BUILD])},
                        start=False)
    d.write_config()
    d.start(argv_prefix=prefix)
    wait_listening(d)
    status = d.ctl_json("status")["build_isolation"]
    assert status["mode"] == "namespaces" and status["available"] is False, status
    assert cause in status["description"], status
    before = env.snapshot()
    tag = f"{name}-v{version}"
    commit = env.repo.commit_release(version)
    env.repo.tag(tag, commit)
    jid = expect_accepted(d.hooks.send("github", github_push(tag, commit)),
                          "python-sdk", tag, version, commit)
    expect_job(d, jid, "dead", timeout=60)
    text = job_text(d, jid)
    assert 'build_isolation "namespaces" is not available' in text, text
    assert cause in text, f"the job's error does not name the cause {cause!r}:\n{text}"
    assert "$ touch /tmp/ran" not in text, f"a step ran although isolation failed:\n{text}"
    env.assert_unchanged(before, f"isolation unavailable ({name})")


def test_git_transports_are_limited(env, tmp_path):
    """A repository URL with git's ext:: helper (runs a command) is refused
    by --check-config; git itself runs with GIT_ALLOW_PROTOCOL."""
    from aos_fixtures import PUBLISHD
    d = env.hook_daemon({"evil": python_pipeline(env.repo, "evil-v*", targets=["pypi"])},
                        start=False)
    for url in ("ext::sh -c touch% /tmp/pwned", "fd::3", "git://127.0.0.1/x.git",
                "http://127.0.0.1/x.git"):
        d.config["pipelines"]["evil"]["repository"] = url
        d.write_config()
        p = subprocess.run([str(PUBLISHD), "--check-config", str(d.config_path)],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 78, (url, p.returncode, p.stderr)
        assert "GIT_ALLOW_PROTOCOL" in p.stderr and "repository" in p.stderr, p.stderr
    d.config["pipelines"]["evil"]["repository"] = env.repo.url
    d.write_config()
    p = subprocess.run([str(PUBLISHD), "--check-config", str(d.config_path)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr


def test_canceled_step_leaves_nothing_behind_under_landlock(env, rundir):
    """Under the landlock fallback (no PID namespace) a step's double-forked
    process is re-parented to the --reap helper; canceling the job (which
    stops the step's process group) must end that process too."""
    d = attack_daemon(env, rundir, "landlock", "cancel")
    step = ('( setsid sleep "$LINGER" < /dev/null > /dev/null 2>&1 & ); '
            'echo lingering-started; sleep 300')
    d.config["pipelines"]["python-sdk"]["build"] = [step, *PY_BUILD]
    d.write_config()
    d.reload()
    commit = env.repo.commit_release("0.6.0")
    env.repo.tag("python-sdk-v0.6.0", commit)
    jid = expect_accepted(d.hooks.send("github", github_push("python-sdk-v0.6.0", commit)),
                          "python-sdk", "python-sdk-v0.6.0", "0.6.0", commit)
    wait_for(lambda: lingering(d), 60, what="the step's double-forked process to start")
    assert d.ctl("job", "cancel", str(jid)).rc == 0
    expect_job(d, jid, "canceled", timeout=60)
    assert wait_for(lambda: not lingering(d), 10,
                    what=lambda: f"the canceled step's leftovers {lingering(d)} to go")
