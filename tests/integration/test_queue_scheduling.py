"""Scheduling and the operator's controls, against the real registries
(slowed down by throttling relays so that jobs overlap):

- per_registry_concurrency 2: never more than two running jobs per
  registry (sampled with `jobs --state running`), the limit is reached, and
  it is per registry, not global; one running job per package, and a
  package's jobs run one after the other in id order;
- `job cancel` of a queued job: canceled, never runs, a `publish --wait`
  follower exits 11; of a running job: its upload stops;
- `job retry` of a dead job: runs again; `job log` shows every transition;
- `drain` stops new jobs from starting (a running one finishes), `resume`
  starts them again.
"""

from __future__ import annotations

import collections
import json
import re
import subprocess
import threading
import time

import pytest

from aos_fixtures import PUBLISHCTL, wait_for
from publish_support import (EXIT, make_big_npm, make_big_wheel, make_wheel, publish,
                             sha256_file)
from queue_support import (ThrottledRelay, describe_jobs, enqueue, job_log, job_show,
                           jobs, port_of, queue_config, relayed_registries,
                           start_again, wait_jobs, wait_state)

MB = 1024 * 1024
KB = 1024


@pytest.fixture(scope="module")
def relays(queue_env):
    rs = (ThrottledRelay(port_of(queue_env.pypi.url), rate=1.5 * MB),
          ThrottledRelay(port_of(queue_env.npm.url), rate=1.5 * MB))
    yield rs
    for r in rs:
        r.close()


@pytest.fixture(scope="module")
def daemon(queue_env, relays):
    cfg = queue_config(per_registry_concurrency=2)
    cfg["registries"] = relayed_registries(queue_env, *relays)
    return queue_env.daemon(config=cfg)


def _log_lines(d, jid) -> list[dict]:
    return d.ctl_json("job", "log", jid)["lines"]


def _first_at(lines, prefix_rx) -> int | None:
    for ln in lines:
        if re.match(prefix_rx, ln["text"]):
            return ln["at_ms"]
    return None


class Sampler(threading.Thread):
    """Samples `jobs --state running` until stopped."""

    def __init__(self, d):
        super().__init__(daemon=True)
        self.d = d
        self.samples: list[list[dict]] = []
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                self.samples.append(jobs(self.d, "running"))
                time.sleep(0.02)
        except BaseException as e:
            self.error = e


def test_concurrency_limits_and_package_order(queue_env, daemon, tmp_path):
    env, d = queue_env, daemon
    plan = [("pypi-slow", "aos-sched-a", 3), ("pypi-slow", "aos-sched-b", 2),
            ("pypi-slow", "aos-sched-c", 1), ("pypi-slow", "aos-sched-d", 1),
            ("npm-slow", "@agenticverz/sched-e", 2), ("npm-slow", "@agenticverz/sched-f", 1),
            ("npm-slow", "@agenticverz/sched-g", 1)]
    items = []  # (registry, package, version, path)
    for reg, name, n in plan:
        for k in range(n):
            v = f"1.0.{k}"
            if reg.startswith("pypi"):
                p = make_big_wheel(tmp_path, name, v, 700 * KB)
            else:
                p = make_big_npm(tmp_path, name, v, 500 * KB)
            items.append((reg, name, v, p))
    d.ctl_json("drain")
    # Interleave the packages so that ids alone do not serialize them.
    order = sorted(items, key=lambda it: (it[2], it[1]))
    ids = {}
    for reg, name, v, p in order:
        ids[(name, v)] = enqueue(d, reg, p)
    sampler = Sampler(d)
    sampler.start()
    t0 = time.monotonic()
    d.ctl_json("resume")
    try:
        final = wait_jobs(d, ids.values(), timeout=60)
    finally:
        sampler.stop.set()
        sampler.join(5)
    took = time.monotonic() - t0
    assert sampler.error is None, sampler.error
    assert all(j["state"] == "succeeded" for j in final.values()), describe_jobs(d)

    # The samples can miss an overlap, never invent one: they check the
    # upper limits only.
    for s in sampler.samples:
        regs = collections.Counter(j["registry"] for j in s)
        pkgs = collections.Counter(j["package"] for j in s)
        for r, n in regs.items():
            assert n <= 2, f"{n} jobs running for {r} at once: {s}"
        for p, n in pkgs.items():
            assert n <= 1, f"{n} jobs of package {p} running at once: {s}"
    # That the limits are reached comes from the jobs' own logs (the
    # daemon's timestamps of "queued -> running" and "running -> ..."), not
    # from sampling at the right moment.
    spans = {jid: _span(d, jid) for jid in ids.values()}
    reg_of = {ids[(name, v)]: reg for reg, name, v, _ in items}
    per_reg_max = {r: _max_overlap([sp for jid, sp in spans.items() if reg_of[jid] == r])
                   for r in ("pypi-slow", "npm-slow")}
    max_total = _max_overlap(list(spans.values()))
    print(f"{len(ids)} jobs in {took:.1f}s; {len(sampler.samples)} samples; max running "
          f"per registry {per_reg_max}, in all {max_total}")
    assert per_reg_max["pypi-slow"] == 2, f"the pypi limit was never reached: {per_reg_max}"
    assert per_reg_max["npm-slow"] == 2, f"the npm limit was never reached: {per_reg_max}"
    assert max_total >= 3, f"the limit looks global, not per registry: {max_total}"

    # Per package: each job starts after the previous one (lower id) ended.
    by_pkg = collections.defaultdict(list)
    for (name, v), jid in ids.items():
        by_pkg[name].append(jid)
    for name, jids in by_pkg.items():
        jids.sort()
        spans = []
        for jid in jids:
            lines = _log_lines(d, jid)
            start = _first_at(lines, r"queued -> running")
            end = _first_at(lines, r"running -> succeeded")
            assert start is not None and end is not None, lines
            spans.append((jid, start, end))
        for (a, _, a_end), (b, b_start, _) in zip(spans, spans[1:]):
            assert b_start >= a_end, (f"{name}: job {b} started at {b_start}, before job "
                                      f"{a} (older) ended at {a_end}")
    # The registries saw the versions in order too.
    for name in ("@agenticverz/sched-e",):
        t = env.npm.packument(name)["time"]
        assert t["1.0.0"] < t["1.0.1"], t
    for reg, name, v, p in items:
        if reg.startswith("pypi"):
            assert env.pypi.files().get(p.name) == sha256_file(p), p.name


def _span(d, jid) -> tuple[int, int]:
    """(start, end) in the daemon's milliseconds of a job's one run."""
    lines = _log_lines(d, jid)
    start = _first_at(lines, r"queued -> running")
    end = _first_at(lines, r"running -> ")
    assert start is not None and end is not None, lines
    return start, end


def _max_overlap(spans) -> int:
    """The most spans open at one instant (an end before a start at the
    same millisecond)."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def _follow(d, *args):
    argv = [str(PUBLISHCTL), "--socket", str(d.socket), "--json", "publish", "--wait",
            *map(str, args)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={"PATH": "/usr/bin:/bin"})


def test_cancel_queued_job_never_runs(queue_env, daemon, tmp_path):
    env, d = queue_env, daemon
    w = make_wheel(tmp_path, "aos-cancel-q", "1.0.0")
    keep = make_wheel(tmp_path, "aos-cancel-keep", "1.0.0")
    d.ctl_json("drain")
    try:
        f = _follow(d, "--registry", "pypi", w)
        first = json.loads(f.stdout.readline())
        jid = int(first["job_id"])
        other = enqueue(d, "pypi", keep)
        r = d.ctl("job", "cancel", jid)
        assert r.rc == 0, r
        out, err = f.communicate(timeout=10)
        assert f.returncode == 11, f"publish --wait of a canceled job: {f.returncode} {out} {err}"
        assert json.loads(out.strip().splitlines()[-1])["outcome"] == "canceled", out
        assert job_show(d, jid)["job"]["state"] == "canceled"
        # Canceling again: one clear line, exit 1.
        again = d.ctl("job", "cancel", jid)
        assert again.rc == 1 and again.err.count("\n") == 1 and "ended" in again.err, again
    finally:
        d.ctl_json("resume")
    wait_state(d, other, "succeeded", 60)
    # A job enqueued after the cancel has run (the scheduler has passed over
    # the canceled one); one more tick is a lower bound only (nothing must
    # happen, there is no event to wait for).
    time.sleep(1.5)
    assert job_show(d, jid)["job"]["state"] == "canceled"
    log = job_log(d, jid)
    assert not any("-> running" in t for t in log), f"the canceled job ran: {log}"
    assert any(re.match(r"queued -> canceled", t) for t in log), log
    assert w.name not in env.pypi.files()


def test_cancel_running_job_stops_its_upload(queue_env, daemon, relays, tmp_path):
    env, d = queue_env, daemon
    relay = relays[1]
    tgz = make_big_npm(tmp_path, "@agenticverz/cancel-run", "1.0.0", 3 * MB)
    start = relay.bytes_up
    jid = enqueue(d, "npm-slow", tgz)
    wait_state(d, jid, "running", 30)
    wait_for(lambda: relay.bytes_up - start > 256 * KB, 30, what="upload bytes")
    r = d.ctl("job", "cancel", jid)
    assert r.rc == 0, r
    assert job_show(d, jid)["job"]["state"] == "canceled"
    # The worker lets go of it (not in the daemon's running list any more)
    # and its upload connection is closed, long before the 3 MB at 1.5 MB/s
    # could have been sent: the relay's byte count stops short of it.
    wait_for(lambda: not any(x["id"] == jid for x in d.status()["queue"]["running"]), 30,
             what=lambda: f"job {jid} to leave the running list: {d.status()['queue']}")
    wait_for(lambda: relay.open_conns == 0, 30,
             what=lambda: f"the upload connection to close ({relay.open_conns} open)")
    sent = relay.bytes_up - start
    landed = env.npm.packument("@agenticverz/cancel-run")
    landed = landed is not None and "1.0.0" in landed.get("versions", {})
    log = job_log(d, jid)
    assert job_show(d, jid)["job"]["state"] == "canceled", log
    assert not landed and sent < tgz.stat().st_size, (
        f"job {jid} canceled while uploading: {sent} of {tgz.stat().st_size} bytes went "
        f"out, and the file {'WAS' if landed else 'was not'} published; log {log}\n"
        f"{d.log_tail(2000)}")


def test_retry_dead_job_and_its_log(queue_env, daemon, tmp_path):
    env, d = queue_env, daemon
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    old = make_wheel(a, "aos-retry", "1.0.0")
    new = make_wheel(b, "aos-retry", "1.0.0", files={"aos_retry/__init__.py": b"X = 2\n"})
    publish(d, "pypi", old).expect(EXIT["published"])
    r = publish(d, "pypi", new).expect(EXIT["conflict"], "conflict")
    jid = r.final["job_id"]
    assert job_show(d, jid)["job"]["state"] == "dead"
    bad = d.ctl("job", "retry", 999999)
    assert bad.rc == 1 and "no such job" in bad.err, bad
    # The operator removes the wrong file from the registry, then retries.
    (env.pypi.packages / old.name).unlink()
    rr = d.ctl("job", "retry", jid)
    assert rr.rc == 0, rr
    j = wait_state(d, jid, ("succeeded", "dead"), 20)
    assert j["state"] == "succeeded", describe_jobs(d, [jid])
    assert env.pypi.files().get(new.name) == sha256_file(new)
    done = d.ctl("job", "retry", jid)
    assert done.rc == 1 and "only dead, failed or canceled" in done.err, done

    log = job_log(d, jid)
    want = [r"queued \(enqueued: publish to pypi",
            r"queued -> running \(claimed by .*attempt 1\)",
            r"running -> dead: conflict",
            r"dead -> queued \(retry requested",
            r"queued -> running \(claimed by .*attempt 1\)",
            r"running -> succeeded"]
    at = 0
    for rx in want:
        while at < len(log) and not re.match(rx, log[at]):
            at += 1
        assert at < len(log), f"job log lacks /{rx}/ (in order): {log}"
        at += 1
    human = d.ctl("job", "log", jid)
    assert human.rc == 0 and re.search(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ running -> succeeded$", human.out, re.M), human


def test_drain_and_resume(queue_env, daemon, relays, tmp_path):
    env, d = queue_env, daemon
    slow = make_big_wheel(tmp_path, "aos-drain-run", "1.0.0", 2 * MB)
    later = make_wheel(tmp_path, "aos-drain-wait", "1.0.0")
    running = enqueue(d, "pypi-slow", slow)
    wait_state(d, running, "running", 10)
    dr = d.ctl_json("drain")
    assert dr["draining"] is True and dr["running"] >= 1, dr
    held = enqueue(d, "pypi", later)
    # The running job finishes; the new one does not start.
    wait_state(d, running, "succeeded", 60)
    time.sleep(2.2)  # two scheduler ticks: a lower bound only (nothing must start)
    j = job_show(d, held)["job"]
    assert j["state"] == "queued" and j["attempts"] == 0, j
    st = d.status()["queue"]
    assert st["draining"] is True and st["depth"]["queued"] >= 1, st
    # The operator's drain outlives a restart: the held job stays queued.
    d.stop()
    start_again(d)
    assert d.status()["queue"]["draining"] is True, d.log_tail()
    time.sleep(2.2)  # two scheduler ticks: a lower bound only (nothing must start)
    j = job_show(d, held)["job"]
    assert j["state"] == "queued" and j["attempts"] == 0, j
    h = d.ctl("resume")
    assert h.rc == 0 and "resumed" in h.out, h
    wait_state(d, held, "succeeded", 60)
    assert env.pypi.files().get(later.name) == sha256_file(later)
    assert d.status()["queue"]["draining"] is False
