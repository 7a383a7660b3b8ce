"""Pipelines that must fail before anything is uploaded, and the clean
environment of the build steps.

- a build step exiting 3, a verify step exiting 4, an artifact glob that
  matches nothing: the job is dead at its first run with the reason (and the
  step's own output) in its log; no registry received anything;
- a build step that outlives timeout_s, having started a background
  grandchild (`sleep 300 &`): the step's whole process group is killed (the
  pids the step wrote to files are gone), the job is dead with "timed out"
  in its log; a step that ignores SIGTERM is killed with SIGKILL about 10 s
  later;
- artifacts whose version differs from the tag's (tag python-sdk-v0.2.0 on a
  commit holding 0.1.0), or whose name is not the pipeline's package: dead,
  the log names both versions (names), nothing uploaded;
- the environment of the steps is exactly PATH, HOME (the job's work
  folder, removed afterwards), TMPDIR (HOME/tmp), LANG, SOURCE_DATE_EPOCH (the commit's time),
  GIT_TERMINAL_PROMPT and the pipeline's env, stdin is /dev/null; no token,
  no webhook secret, nothing of the daemon's own environment; and no secret
  value (nor its base64, nor the Basic-auth pair) is in the step's output,
  the job log, the daemon's log, the queue database (queue.db, -wal, -shm)
  or any file under the state and runtime folders.

The tests share one set of servers, one repository and one daemon.
"""

import os
import re
import secrets
import signal
from pathlib import Path

import pytest

from aos_fixtures import wait_for
from metrics_support import sample
from queue_support import kill, start_again
from webhook_support import (PY_BUILD, expect_accepted, expect_job, files_under,
                             github_push, job_log, job_show, job_text, py_readable,
                             PY_QUICK_BUILD, python_pipeline, quick_python_pipeline,
                             scan_for_secrets, step_path, uploads, wait_listening)

# 5,000 digits on one line, then 1 MiB of 100-byte lines, then exit 5.
LOUD = ('printf "%05000d\\n" 7; head -c 1048576 /dev/zero | tr "\\0" x | fold -w 100; '
        'echo loud-end; exit 5')
# Waits while $FLAG exists (a background sleep beside it), then goes on.
# Each pid file is written under another name and renamed, so a file that
# exists is complete (the test polls for them while the step runs).
SLOW = ('echo $$ > "$PIDDIR/.s" && mv "$PIDDIR/.s" "$PIDDIR/slow.step"; sleep 300 & '
        'echo $! > "$PIDDIR/.g" && mv "$PIDDIR/.g" "$PIDDIR/slow.grandchild"; '
        'while [ -e "$FLAG" ]; do sleep 0.1; done; kill $!; echo slow-released')
SLEEPER = ('sleep 300 & '
           'echo $! > "$PIDDIR/.{name}.g" && mv "$PIDDIR/.{name}.g" "$PIDDIR/{name}.grandchild"; '
           'echo $$ > "$PIDDIR/.{name}.s" && mv "$PIDDIR/.{name}.s" "$PIDDIR/{name}.step"; '
           'echo started-{name}; sleep 300')
TERM_PROOF = ('trap "" TERM; sleep 300 & '
              'echo $! > "$PIDDIR/.{name}.g" && mv "$PIDDIR/.{name}.g" "$PIDDIR/{name}.grandchild"; '
              'echo $$ > "$PIDDIR/.{name}.s" && mv "$PIDDIR/.{name}.s" "$PIDDIR/{name}.step"; '
              'echo started-{name}; '
              'while :; do sleep 1; done')


@pytest.fixture(scope="module")
def dirs(webhook_env):
    out = {"pids": webhook_env.workdir / "pids", "dump": webhook_env.workdir / "dump",
           "flags": webhook_env.workdir / "flags"}
    for p in out.values():
        p.mkdir()
    return out


@pytest.fixture(scope="module")
def commits(webhook_env):
    repo = webhook_env.repo
    c1 = repo.commit_release("0.1.0")
    for t in ("exit3-v0.1.0", "verify4-v0.1.0", "noartifact-v0.1.0", "timeout-v0.1.0",
              "termproof-v0.1.0", "othername-v0.1.0", "python-sdk-v0.2.0"):
        repo.tag(t, c1)
    repo.tag("loud-v0.1.0", c1)
    repo.tag("cancel-v0.1.0", c1)
    c3 = repo.commit_release("0.3.0")
    repo.tag("envdump-v0.3.0", c3)
    c4 = repo.commit_release("0.4.0")
    repo.tag("slow-v0.4.0", c4)
    c5 = repo.commit_release("0.5.0")
    repo.tag("python-sdk-v0.5.0", c5)
    return {"0.1.0": c1, "0.3.0": c3, "0.4.0": c4, "0.5.0": c5}


@pytest.fixture(scope="module")
def marker():
    return "daemon-env-" + secrets.token_hex(8)


@pytest.fixture(scope="module")
def daemon(webhook_env, commits, dirs, marker):
    repo = webhook_env.repo
    pid_env = {"PATH": step_path(), "PIDDIR": str(dirs["pids"])}
    pids_rw = [str(dirs["pids"])]  # the steps may write only there (and their work folder)
    pipes = {
        "exit3": python_pipeline(repo, "exit3-v*",
                                 build=["echo step-output-marker-$((1 + 2)); exit 3"]),
        "verify4": python_pipeline(repo, "verify4-v*", build=["true"],
                                   verify=["echo verify-output-marker-$((2 + 2)); exit 4"]),
        "noartifact": python_pipeline(repo, "noartifact-v*", build=["mkdir -p dist"],
                                      verify=None, artifacts=["dist/*.whl"]),
        "timeout": python_pipeline(repo, "timeout-v*", build=[SLEEPER.format(name="timeout")],
                                   timeout_s=2, env=pid_env, writable=pids_rw),
        "termproof": python_pipeline(repo, "termproof-v*",
                                     build=[TERM_PROOF.format(name="termproof")],
                                     timeout_s=1, env=pid_env, writable=pids_rw),
        # The jobs below check artifacts, a kill and a restart, not the
        # build: QUICK_DIST makes their wheel and sdist in a second.
        "othername": quick_python_pipeline(repo, "othername-v*", package="aos-sdk-other"),
        "python-sdk": quick_python_pipeline(repo),
        "envdump": python_pipeline(
            repo, "envdump-v*",
            build=[["env"], 'env > "$DUMP_DIR/env.txt"',
                   'readlink /proc/self/fd/0 > "$DUMP_DIR/stdin.txt"', *PY_BUILD],
            env={"PATH": step_path(), "DUMP_DIR": str(dirs["dump"])},
            writable=[str(dirs["dump"])], verify=None),
    }
    pipes["loud"] = python_pipeline(repo, "loud-v*", build=[LOUD], timeout_s=60)
    pipes["cancel"] = python_pipeline(repo, "cancel-v*", build=[SLEEPER.format(name="cancel")],
                                      env=pid_env, writable=pids_rw)
    pipes["slow"] = quick_python_pipeline(
        repo, "slow-v*", targets=["pypi"],
        build=[SLOW, *PY_QUICK_BUILD], writable=pids_rw,
        readable=py_readable() + [str(dirs["flags"])],  # the step waits for FLAG to go
        env=dict(pid_env, FLAG=str(dirs["flags"] / "hold")))
    return webhook_env.hook_daemon(pipes, env={"AOS_DAEMON_ENV_MARKER": marker,
                                               "LANG": "de_DE.UTF-8", "TZ": "Europe/Berlin"},
                                   config={"queue": {"lease_s": 3, "shutdown_grace_s": 3}})


def _trigger(daemon, tag, pipeline, version, commit):
    r = daemon.hooks.send("github", github_push(tag, commit))
    return expect_accepted(r, pipeline, tag, version, commit)


def _dead_at_once(webhook_env, daemon, tag, pipeline, version, commit, timeout=120):
    """Trigger; the job ends dead at its first run; nothing was uploaded."""
    before = webhook_env.snapshot()
    jid = _trigger(daemon, tag, pipeline, version, commit)
    job = expect_job(daemon, jid, "dead", timeout=timeout)
    assert job.get("attempts") == 1, (
        f"a build failure is final: the job was run {job.get('attempts')} times: {job}")
    webhook_env.assert_unchanged(before, f"{tag}: a job that failed before its uploads")
    for name, state in uploads(daemon, jid).items():
        assert state not in ("done", "sending"), f"{name}: {state}"
    return jid, job_text(daemon, jid)


def _steps(daemon, pipeline: str, step: str, result: str) -> float | None:
    return sample(daemon.http_port, "aos_build_steps_total", pipeline=pipeline, step=step,
                  result=result)


def test_build_step_fails(webhook_env, daemon, commits):
    dead = sample(daemon.http_port, "aos_job_duration_seconds_count", kind="pipeline",
                  outcome="dead")
    jid, text = _dead_at_once(webhook_env, daemon, "exit3-v0.1.0", "exit3", "0.1.0",
                              commits["0.1.0"])
    # The metrics saw the checkout pass, the build step fail and the job die.
    assert _steps(daemon, "exit3", "build", "failed") == 1
    assert _steps(daemon, "exit3", "checkout", "ok") >= 1
    assert _steps(daemon, "exit3", "checkout", "failed") == 0
    assert sample(daemon.http_port, "aos_job_duration_seconds_count", kind="pipeline",
                  outcome="dead") == dead + 1
    assert sample(daemon.http_port, "aos_webhook_deliveries_total", forge="github",
                  outcome="accepted") >= 1
    assert "step-output-marker-3" in text, f"the step's stdout is not in the job log:\n{text}"
    assert re.search(r"(exit|status|code)\D{0,24}\b3\b", text, re.I), (
        f"the log does not say the step exited with 3:\n{text}")


def test_verify_step_fails(webhook_env, daemon, commits):
    jid, text = _dead_at_once(webhook_env, daemon, "verify4-v0.1.0", "verify4", "0.1.0",
                              commits["0.1.0"])
    assert _steps(daemon, "verify4", "build", "ok") == 1
    assert _steps(daemon, "verify4", "verify", "failed") == 1
    assert "verify-output-marker-4" in text, f"the step's stdout is not in the job log:\n{text}"
    assert re.search(r"(exit|status|code)\D{0,24}\b4\b", text, re.I), text


def test_missing_artifact(webhook_env, daemon, commits):
    jid, text = _dead_at_once(webhook_env, daemon, "noartifact-v0.1.0", "noartifact", "0.1.0",
                              commits["0.1.0"])
    assert "dist/*.whl" in text, f"the log does not name the glob that matched nothing:\n{text}"


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _host_pid(nspid: int, needle: str) -> int:
    """The host pid of the process a step knows as nspid (the build sandbox
    gives steps their own PID namespace), found by its NSpid line and its
    command line."""
    found = []
    for st in Path("/proc").glob("[0-9]*/status"):
        try:
            ns = [ln for ln in st.read_text().splitlines() if ln.startswith("NSpid:")]
            cmd = (st.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ids = ns[0].split()[1:] if ns else []
        if len(ids) > 1 and int(ids[-1]) == nspid and needle in cmd:
            found.append(int(ids[0]))
    assert len(found) == 1, f"pid {nspid} ({needle!r}) in a namespace: found {found}"
    return found[0]


def _pids(dirs, name):
    """The host pids of the step and its grandchild, once both files are there."""
    wait_for(lambda: all((dirs["pids"] / f"{name}.{k}").exists()
                         for k in ("step", "grandchild")), 60,
             what=f"the {name} step to write its pid files")
    out = {}
    needles = {"step": f"started-{name}" if name != "slow" else "slow-released",
               "grandchild": "sleep 300"}
    for kind in ("step", "grandchild"):
        f = dirs["pids"] / f"{name}.{kind}"
        assert f.exists(), f"the step did not write {f.name}: did it run?"
        out[kind] = _host_pid(int(f.read_text().strip()), needles[kind])
    return out


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "(gone)"


def _timed_out(webhook_env, daemon, dirs, name, tag, commit, timeout_s):
    """Trigger a step that outlives timeout_s.  In order: the step starts
    (its pid files), its processes are alive, then the job is dead with
    "timed out after N s" (N >= timeout_s, counted by the daemon from the
    step's start) logged after the step's own output, and the step with its
    grandchild is gone.  No upper bound: speed belongs in tests/bench."""
    before = webhook_env.snapshot()
    jid = _trigger(daemon, tag, name, "0.1.0", commit)
    # While the step runs, both processes are there (_host_pid finds each
    # by its command line, so each is alive when its pid file is read).
    pids = _pids(dirs, name)
    job = expect_job(daemon, jid, "dead", timeout=90)
    lines = job_log(daemon, jid)
    text = "\n".join(lines)
    out = [i for i, ln in enumerate(lines) if f"started-{name}" in ln]
    killed = [(i, int(m.group(1))) for i, ln in enumerate(lines)
              if (m := re.search(r"timed out after (\d+) s", ln))]
    assert out, f"the step's output is not in job {jid}'s log:\n{text}"
    assert killed, f"no 'timed out after N s' in job {jid}'s log:\n{text}"
    # The daemon's own count from the step's start: never short of timeout_s.
    assert killed[0][1] >= timeout_s, f"killed before timeout_s {timeout_s}:\n{text}"
    assert out[0] < killed[0][0], f"the step was killed before it started:\n{text}"
    for kind, pid in pids.items():
        wait_for(lambda: _gone(pid), 5,
                 what=lambda: f"the step's {kind} (pid {pid}: {_cmdline(pid)}) to be killed")
    webhook_env.assert_unchanged(before, f"{tag}: a step that timed out")
    assert _steps(daemon, name, "build", "timeout") == 1
    assert job.get("attempts") == 1, f"a timed-out build is final: {job}"


def test_timeout_kills_process_group(webhook_env, daemon, dirs, commits):
    _timed_out(webhook_env, daemon, dirs, "timeout", "timeout-v0.1.0", commits["0.1.0"], 2)


def test_timeout_kills_a_step_that_ignores_sigterm(webhook_env, daemon, dirs, commits):
    """Under the namespaces isolation the timeout's SIGTERM ends bubblewrap,
    and with it (--die-with-parent) the step's whole PID namespace, so a
    step that ignores SIGTERM dies too (_timed_out checks that the step and
    its child are gone; how soon is for benchmarks, not asserted here)."""
    _timed_out(webhook_env, daemon, dirs, "termproof", "termproof-v0.1.0", commits["0.1.0"],
               1)


def test_artifact_version_differs_from_tag(webhook_env, daemon, commits):
    jid, text = _dead_at_once(webhook_env, daemon, "python-sdk-v0.2.0", "python-sdk", "0.2.0",
                              commits["0.1.0"], timeout=180)
    assert "0.1.0" in text and "0.2.0" in text, (
        f"the log must name the artifact's version 0.1.0 and the tag's 0.2.0:\n{text}")


def test_artifact_name_differs_from_package(webhook_env, daemon, commits):
    jid, text = _dead_at_once(webhook_env, daemon, "othername-v0.1.0", "othername", "0.1.0",
                              commits["0.1.0"], timeout=180)
    assert "aos-sdk-other" in text or "aos_sdk_other" in text, text
    assert re.search(r"aos[-_]sdk(?![-_]other)", text), (
        f"the log does not name the artifact's own name aos-sdk:\n{text}")


def test_steps_environment_holds_no_secret(webhook_env, daemon, dirs, commits, marker):
    env = webhook_env
    commit = commits["0.3.0"]
    jid = _trigger(daemon, "envdump-v0.3.0", "envdump", "0.3.0", commit)
    expect_job(daemon, jid, "succeeded", timeout=240)
    assert sorted(n for n in env.pypi.files() if "-0.3.0" in n) == [
        "aos_sdk-0.3.0-py3-none-any.whl", "aos_sdk-0.3.0.tar.gz"], env.pypi.files()

    dump = (dirs["dump"] / "env.txt").read_text()
    got = dict(ln.split("=", 1) for ln in dump.splitlines() if "=" in ln)
    want = {**daemon.config["pipelines"]["envdump"]["env"], "LANG": "C.UTF-8",
            "GIT_TERMINAL_PROMPT": "0", "GIT_ALLOW_PROTOCOL": "https:ssh:file",
            "SOURCE_DATE_EPOCH": str(env.repo.commit_time(commit))}
    assert want["PATH"] == step_path() and want["DUMP_DIR"] == str(dirs["dump"]), want
    for k, v in want.items():
        assert got.get(k) == v, f"step environment {k}={got.get(k)!r}, expected {v!r}"
    allowed = set(want) | {"HOME", "TMPDIR"} | {"PWD", "OLDPWD", "SHLVL", "_"}  # last: sh's
    assert set(got) <= allowed, f"unexpected variables in the steps' environment: " \
                                f"{sorted(set(got) - allowed)}"
    home = os.path.realpath(got["HOME"])
    work = os.path.realpath(daemon.state_dir / "work")
    assert home.startswith(work + os.sep), f"HOME={home} is not a job folder under {work}"
    assert got.get("TMPDIR") == got["HOME"] + "/tmp", f"TMPDIR={got.get('TMPDIR')!r}"
    # removed in the background (rm -rf) once the artifacts are recorded
    wait_for(lambda: not Path(home).exists(), 30,
             what=f"the job's work folder {home} to be removed")
    assert marker not in dump, "the daemon's own environment reached the step"
    stdin = (dirs["dump"] / "stdin.txt").read_text().strip()
    assert stdin == "/dev/null", f"the steps' stdin is {stdin!r}, not /dev/null"

    # The argv step's output (`env`, run directly) is in the job log.
    text = "\n".join(job_log(daemon, jid))
    assert f"SOURCE_DATE_EPOCH={want['SOURCE_DATE_EPOCH']}" in text, (
        f"the env step's output is not in the job log:\n{text[:3000]}")
    assert marker not in text

    # No secret anywhere: the step's view, the job log, the daemon's output,
    # the queue database and every file the daemon keeps.
    _assert_no_secret(env, daemon, {"step environment": dump, "job log": text,
                                    "job show": str(job_show(daemon, jid)),
                                    **files_under(dirs["dump"])})


def _assert_no_secret(env, daemon, extra):
    """No form of any secret of the module in the daemon's output, the
    answers of aos-publishctl, the files under its state and runtime
    folders (queue.db, -wal, -shm, spool, work), nor in `extra`."""
    values = env.sensitive()
    assert set(env.webhook_secrets.values()) <= set(values)
    sources = dict(extra)
    sources["daemon stderr"] = daemon.log_text()
    sources["daemon stdout"] = daemon.stdout_path.read_text(errors="replace")
    for r in daemon.ctl_log:
        sources[f"aos-publishctl {' '.join(r.argv[3:])}"] = r.out + r.err
    for folder in (daemon.state_dir, daemon.runtime_dir):
        sources.update(files_under(folder))
    assert [s for s in sources if s.endswith("queue.db")], (
        f"no queue.db among the daemon's files: {sorted(sources)}")
    hits = scan_for_secrets(sources, values)
    assert not hits, "secret material found:\n" + "\n".join(hits)


def test_step_output_is_bounded(webhook_env, daemon, commits):
    """A step writing 1 MiB and a 5,000-byte line: its log holds at most
    64 KiB, no line over 1,000 bytes; the step is not blocked by the cap (it
    ends with its own exit status, not a timeout)."""
    jid, text = _dead_at_once(webhook_env, daemon, "loud-v0.1.0", "loud", "0.1.0",
                              commits["0.1.0"], timeout=90)
    assert "timed out" not in text.lower(), (
        f"the step was blocked once its output was capped:\n{text[-2000:]}")
    assert re.search(r"(exit|status|code)\D{0,24}\b5\b", text, re.I), text[-2000:]
    # A log record may hold several lines of output.
    lines = [ln for rec in job_log(daemon, jid) for ln in rec.split("\n")]
    longest = max(len(ln.encode()) for ln in lines)
    assert longest <= 1000 + 16, f"a log line of {longest} bytes (cut at 1,000 expected)"
    assert any("0" * 900 in ln for ln in lines), "the long line is not in the log at all"
    assert not any("0" * 4990 + "7" in ln for ln in lines), "the long line was not cut"
    step_bytes = sum(len(ln.encode()) for ln in lines if "x" * 100 in ln or "0" * 900 in ln)
    assert 32 * 1024 <= step_bytes <= 64 * 1024 + 4096, (
        f"the step's log holds {step_bytes} bytes of output (64 KiB at most expected)")


def test_sigterm_during_a_build_kills_it_and_the_job_resumes(webhook_env, daemon, dirs,
                                                              commits):
    """SIGTERM while a build step runs: the daemon exits 0, leaving none of
    the step's processes behind; started again, it runs the job again and
    publishes it once."""
    env = webhook_env
    flag = dirs["flags"] / "hold"
    flag.write_text("")
    for f in dirs["pids"].glob("slow.*"):
        f.unlink()
    jid = _trigger(daemon, "slow-v0.4.0", "slow", "0.4.0", commits["0.4.0"])
    wait_for(lambda: (dirs["pids"] / "slow.grandchild").exists(), 60,
             what="the slow build step to start")
    pids = _pids(dirs, "slow")
    daemon.signal(signal.SIGTERM)
    try:
        rc = daemon.proc.wait(20)
    except Exception:
        raise AssertionError(f"the daemon did not exit within 20 s of SIGTERM during a "
                             f"build:\n{daemon.log_tail()}")
    daemon.exit_checked = True
    assert rc == 0, f"exit status {rc} after SIGTERM:\n{daemon.log_tail()}"
    for kind, pid in pids.items():
        wait_for(lambda: _gone(pid), 5,
                 what=lambda: f"the build's {kind} (pid {pid}: {_cmdline(pid)}) to be "
                              f"killed when the daemon stopped")
    assert not any("-0.4.0" in n for n in env.pypi.files()), env.pypi.files()
    flag.unlink()
    start_again(daemon)
    wait_listening(daemon)
    job = expect_job(daemon, jid, "succeeded", timeout=240)
    assert job.get("attempts", 0) >= 1, job
    assert "slow-released" in job_text(daemon, jid)
    assert sorted(n for n in env.pypi.files() if "-0.4.0" in n) == [
        "aos_sdk-0.4.0-py3-none-any.whl", "aos_sdk-0.4.0.tar.gz"], env.pypi.files()


def test_sigkill_after_202_the_job_survives(webhook_env, daemon, commits):
    """The 202 comes after the job is on disk: SIGKILL right after it, start
    again, and the job (same id) runs to the end."""
    env = webhook_env
    daemon.ctl_json("drain")
    jid = _trigger(daemon, "python-sdk-v0.5.0", "python-sdk", "0.5.0", commits["0.5.0"])
    assert kill(daemon) == -9
    start_again(daemon)
    wait_listening(daemon)
    daemon.ctl_json("resume")
    show = job_show(daemon, jid)["job"]
    assert show.get("registry") == "pipeline:python-sdk", show
    expect_job(daemon, jid, "succeeded", timeout=240)
    for server in (env.testpypi, env.pypi):
        assert sorted(n for n in server.files() if "-0.5.0" in n) == [
            "aos_sdk-0.5.0-py3-none-any.whl", "aos_sdk-0.5.0.tar.gz"], server.files()


def test_cancel_a_running_build(webhook_env, daemon, dirs, commits):
    """`job cancel` while the build runs: the job is canceled and the step's
    process group is killed; nothing uploaded."""
    before = webhook_env.snapshot()
    jid = _trigger(daemon, "cancel-v0.1.0", "cancel", "0.1.0", commits["0.1.0"])
    wait_for(lambda: (dirs["pids"] / "cancel.grandchild").exists(), 60,
             what="the build step to start")
    pids = _pids(dirs, "cancel")
    daemon.ctl_json("job", "cancel", jid)
    expect_job(daemon, jid, "canceled", timeout=30)
    for kind, pid in pids.items():
        wait_for(lambda: _gone(pid), 15,
                 what=lambda: f"the canceled build's {kind} (pid {pid}: {_cmdline(pid)}) "
                              f"to be killed")
    webhook_env.assert_unchanged(before, "a canceled build")


def test_no_secret_anywhere_at_the_end(webhook_env, daemon):
    """After every test of the module (restarts, kills, failures): the same
    scan again, and over every job's log."""
    logs = {f"job {j['id']} log": "\n".join(job_log(daemon, j["id"]))
            for j in daemon.ctl_json("jobs", "--limit", "1000")["jobs"]}
    _assert_no_secret(webhook_env, daemon, logs)
