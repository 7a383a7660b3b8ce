"""Three aos-publishd on one PostgreSQL under chaos (issue 17): real OpenBao
(with its database secrets engine), pypiserver, verdaccio and PostgreSQL
15; each daemon with its own state, runtime folder, control socket and
queue.host_name, all on queue.backend "postgresql" with a 5 s lease.  Two
take their database credentials from Vault's database engine (leases of
6 s, renewable to 15 s: replaced several times during the run), one the
owner's password from the Vault secret (kv_key).

N publish jobs (AOS_FLEET_JOBS; 100 here, 1000 in `make soak`) of eight
packages are enqueued in order through random daemons' sockets, each with
its own idempotency key, retried with that key (through any daemon) until
acknowledged, then sent again at random: the key must answer the same job.
Meanwhile, every 1-3 s, one daemon is SIGKILLed and restarted at once
(never d0, so that d0's credentials are renewed and replaced within one
process); a daemon holding a running job is SIGSTOPped, and SIGCONTed only
once another host took that job over (read through the others' sockets);
PostgreSQL is stopped and started once half the jobs are acknowledged.

At the end: every acknowledged job succeeded, one job per key; each file
reached its registry exactly once (the registries' own logs: one request
that stored it, none refused as a second copy) with the queued bytes; no
job reached a registry while another job of its package held it
(fleet_support.check_exclusive); every SIGSTOPped daemon's next write
for a job it held did not happen when it woke: refused by the fence (its
heartbeat or upload record; the job had been taken over), or failed on a
connection the server had ended while it was stopped (idle in a
transaction past the lease): which of the two depends on where the stop
landed, so the test asserts one of them and counts each; d0 took
replacement credentials and ran jobs after; all three stop cleanly.

Replay a run with AOS_FLEET_SEED=<seed>.  AOS_FLEET_BACKEND=sqlite runs the
same harness on three separate SQLite queues (no shared queue, no
PostgreSQL chaos): the negative control, which must fail (duplicates,
packages running on two hosts at once).
"""

from __future__ import annotations

import collections
import os
import random
import signal
import time

from aos_fixtures import wait_for
from fleet_support import (FENCED_RX, TAKEOVER_RX, UNWRITTEN_RX, Enqueuer, Fleet, build_jobs,
                           check_exactly_once, check_exclusive, fleet_config, log_counts,
                           owner_pid, registry_reads, registry_requests, running_jobs)
from publish_support import sha1_hex, sha256_file, sha512_sri
from queue_support import (ThrottledRelay, describe_jobs, job_log, job_show, jobs, kill,
                           port_of, relayed_registries, seed_from_env, start_again, wait_jobs)

N = int(os.environ.get("AOS_FLEET_JOBS", "100"))
BACKEND = os.environ.get("AOS_FLEET_BACKEND", "postgresql")
SHARED = BACKEND == "postgresql"
MIN_KILLS = max(8, N // 12)
# Separate queues (the control): another daemon cannot see what a stopped
# one holds, so no stop is made.
MIN_STOPS = max(1, N // 200) if SHARED else 0
MAX_KILLS = MIN_KILLS * 4
CREDENTIALS = ("database_role", "database_role", "kv_key")
# The registries answer through relays that hold each answer back this
# long (the upload itself is stored at full speed): a job lasts a few
# seconds, so that a daemon can be stopped while it holds one, and a
# daemon killed or stopped after sending leaves a file the registry has
# already stored, which the next owner finds when it asks.
ANSWER_DELAY = 0.7


def test_fleet(fleet_env, tmp_path):
    env = fleet_env
    relays = [ThrottledRelay(port_of(env.pypi.url), answer_delay=ANSWER_DELAY),
              ThrottledRelay(port_of(env.npm.url), answer_delay=ANSWER_DELAY)]
    try:
        _fleet(env, relays, tmp_path)
    finally:
        for r in relays:
            r.close()


def _fleet(env, relays, tmp_path):
    seed = seed_from_env("AOS_FLEET_SEED")
    print(f"fleet seed: {seed} (replay with AOS_FLEET_SEED={seed}); {N} jobs on {BACKEND}")
    rng = random.Random(seed)
    todo = build_jobs(N, tmp_path, rng)
    registries = relayed_registries(env, relays[0], relays[1], suffix="")
    ds = [env.daemon(config=fleet_config(env, i, CREDENTIALS[i], BACKEND, registries),
                     start=False) for i in range(3)]
    fleet = Fleet(ds)
    for d in ds:
        start_again(d, wait_ready=True, timeout=60)
    enq = Enqueuer(fleet, todo, rng, shared=SHARED)
    stats: collections.Counter = collections.Counter()
    problems: dict[str, list[str]] = collections.defaultdict(list)
    t0 = time.monotonic()
    enq.start()
    try:
        _chaos(env, fleet, enq, rng, stats, problems, seed)
    finally:
        enq.stop = True
        enq.join(15)
        if fleet.stopped is not None:
            fleet.stopped.signal(signal.SIGCONT)
    chaos_s = time.monotonic() - t0
    assert enq.error is None, f"enqueuer (seed {seed}): {enq.error}"
    for d in ds:
        wait_for(lambda d=d: d.ctl("status", json_out=True, record=False).rc == 0, 30,
                 what=lambda d=d: f"{d.dir.name} to answer after the chaos:\n{d.log_tail()}")

    acked = dict(enq.acked)
    assert len(acked) == len(todo), f"seed {seed}: acknowledged {len(acked)} of {len(todo)}"
    problems["one job per key"] += enq.mismatched
    # Where each job is read: any daemon of the shared queue (d0); on
    # separate queues (the control), the one that acknowledged it.
    home = {j.key: ds[0] if SHARED else enq.acked_via[j.key] for j in todo}
    final = _wait_all(ds, todo, acked, home, seed)
    t1 = time.monotonic()
    _check_jobs(ds, todo, acked, final, home, problems)
    view = registry_requests(env, todo)
    once, repeats = check_exactly_once(view, todo, registry_reads(env))
    problems["exactly once"] += once
    problems["exclusive"] += check_exclusive(view, todo, final)
    if view.unmatched:
        problems["unattributed requests"] += [str(u) for u in view.unmatched[:20]]
    problems["intact"] += _check_intact(env, todo)
    counts = {d.dir.name: log_counts(d) for d in ds}
    if BACKEND == "postgresql":
        anchor = counts[ds[0].dir.name]
        if not any(s >= 2 for s in anchor["creds"]) or not anchor["succeeded_after_replacement"]:
            problems["credentials"].append(
                f"d0 (never killed): credential serials {anchor['creds']}, a job succeeded "
                f"after a replacement: {anchor['succeeded_after_replacement']}")
    takeovers = _takeovers(todo, acked, home)
    for d in ds:
        d.stop(expect_rc=0)
    print(f"chaos {chaos_s:.1f}s, end {time.monotonic() - t1:.1f}s; {len(acked)} jobs "
          f"acknowledged after {enq.tries} tries (via {dict(enq.via)}), {enq.resent} sent "
          f"again; {dict(stats)}; takeovers {takeovers}; refused writes "
          f"{ {n: len(c['fenced']) for n, c in counts.items()} }; credential sets "
          f"{ {n: len(c['creds']) for n, c in counts.items()} }; registry requests "
          f"{len(view.requests)} ({view.cut_short} cut short); repeats the registry "
          f"answered \"not there\" to first: {len(repeats)} {repeats[:5]}")
    bad = {k: v for k, v in problems.items() if v}
    assert not bad, f"seed {seed}: " + "\n".join(
        f"{k}: {len(v)}: {v[:10]}" for k, v in bad.items())
    assert stats["stops"] >= MIN_STOPS and stats["kills"] >= MIN_KILLS, dict(stats)
    if BACKEND == "postgresql":
        assert stats["pg_restarts"] == 1, dict(stats)


def _chaos(env, fleet, enq, rng, stats, problems, seed):
    """Kills, stops and the database's restart until every job is
    acknowledged and the minimum counts are reached, and then until the
    jobs end (at most MAX_KILLS kills)."""
    ds = fleet.daemons
    episode = None  # (the SIGSTOPped daemon, the ids of the jobs it held)
    t0 = time.monotonic()
    while True:
        assert enq.error is None and enq.is_alive(), f"enqueuer (seed {seed}): {enq.error}"
        assert time.monotonic() - t0 < 1200, f"seed {seed}: chaos over 1200 s: {dict(stats)}"
        if episode is None and enq.all_acked.is_set() and stats["kills"] >= MIN_KILLS \
                and stats["stops"] >= MIN_STOPS \
                and (stats["pg_restarts"] or BACKEND != "postgresql"):
            left = fleet.read(lambda d: [j for j in jobs(d)
                                         if j["state"] not in ("succeeded", "dead", "canceled")])
            if left == [] or stats["kills"] >= MAX_KILLS:
                return
        if enq.all_acked.is_set() and stats["stops"] < MIN_STOPS and episode is None:
            left = fleet.read(lambda d: [j for j in jobs(d)
                                         if j["state"] not in ("succeeded", "dead", "canceled")])
            assert left != [], (f"seed {seed}: every job ended before a daemon could be "
                                f"stopped holding one: {dict(stats)}")
        # Every few seconds: nothing to wait for, the pause is the point.
        time.sleep(rng.uniform(1.0, 3.0))
        if episode is not None:
            episode = _maybe_wake(fleet, episode, stats, problems)
        elif SHARED and (stats["stops"] < MIN_STOPS or rng.random() < 0.1):
            episode = _try_stop(fleet, rng, stats)
        if BACKEND == "postgresql" and not stats["pg_restarts"] and len(enq.acked) >= N // 2:
            env.pg.ctl("stop")
            # Down for a while: enqueues are refused or unanswered meanwhile
            # (retried by the enqueuer), the daemons' connections fail.
            time.sleep(2)
            env.pg.ctl("start")
            stats["pg_restarts"] += 1
            print(f"{_t(t0)} PostgreSQL stopped and started, {len(enq.acked)} acknowledged")
        victims = [d for d in ds[1:] if d is not fleet.stopped]
        d = rng.choice(victims)
        rc = kill(d)
        assert rc == -9, (f"seed {seed}: {d.dir.name} had exited by itself with {rc}; "
                          f"log tail:\n{d.log_tail(6000)}")
        stats["kills"] += 1
        start_again(d, wait_ready=False, timeout=60)
        print(f"{_t(t0)} killed and restarted {d.dir.name}; {len(enq.acked)} acknowledged")


def _t(t0) -> str:
    return f"[{time.monotonic() - t0:6.1f}s]"


def _try_stop(fleet, rng, stats):
    """SIGSTOP a daemon that holds a running job; the episode starts only
    if, read through the others once it is stopped, it still holds one
    (then its lease must run out and another host take the job)."""
    running = running_jobs(fleet)
    if not running:
        return None
    holders = {owner_pid(j.get("lease_owner", "")) for j in running}
    cands = [d for d in fleet.answering() if d.proc.pid in holders]
    if not cands:
        return None
    d = rng.choice(cands)
    with fleet.lock:
        d.signal(signal.SIGSTOP)
        fleet.stopped = d
    running = running_jobs(fleet)
    held = [j["id"] for j in running or [] if owner_pid(j.get("lease_owner", "")) == d.pid]
    print(f"SIGSTOP {d.dir.name}: holds {held}")
    if not held:
        d.signal(signal.SIGCONT)
        with fleet.lock:
            fleet.stopped = None
        stats["stop_misses"] += 1
        return None
    return (d, held, time.monotonic())


def _maybe_wake(fleet, episode, stats, problems):
    """SIGCONT the stopped daemon once every job it held was taken over (or
    ended) by another host; then its next write for one of them must be
    refused (its log says so)."""
    d, held, since = episode

    def gone(jid):
        j = fleet.read(lambda x: job_show(x, jid)["job"])
        return j is not None and (j["state"] != "running"
                                  or owner_pid(j.get("lease_owner", "")) != d.pid)
    if not all(gone(jid) for jid in held):
        assert time.monotonic() - since < 120, (
            f"{d.dir.name} SIGSTOPped holding jobs {held}: not taken over in 120 s")
        return episode
    mark = len(d.log_text())
    print(f"SIGCONT {d.dir.name}: {held} taken over")
    d.signal(signal.SIGCONT)
    with fleet.lock:
        fleet.stopped = None
    stats["stops"] += 1
    # Its next write for one of them must not happen: refused by the fence,
    # or failed because the server had ended its session meanwhile (idle in
    # a transaction past the lease) and the connection is gone.
    try:
        m = wait_for(lambda: next((m for m in UNWRITTEN_RX.finditer(d.log_text()[mark:])
                                   if int(m.group(1)) in held), None), 30,
                     what=f"{d.dir.name}'s refused or failed write for one of {held}")
        stats["woken_fenced" if FENCED_RX.search(m.group(0)) else "woken_unconnected"] += 1
    except AssertionError as e:
        problems["fenced"].append(str(e))
    return None


def _wait_all(ds, todo, acked, home, seed) -> dict[str, dict]:
    """Every job ended; returns {idempotency key: job}."""
    final = {}
    for d in ds:
        keys = [j.key for j in todo if home[j.key] is d]
        if not keys:
            continue
        try:
            got = wait_jobs(d, {acked[k] for k in keys}, timeout=300)
        except AssertionError as e:
            raise AssertionError(f"seed {seed}: {e}") from None
        final.update({k: got[acked[k]] for k in keys})
    return final


def _check_jobs(ds, todo, acked, final, home, problems):
    bad = {acked[k]: home[k] for k, j in final.items() if j["state"] != "succeeded"}
    for jid, d in bad.items():
        problems["succeeded"].append(describe_jobs(d, {jid}))
    # The queue's count of jobs in every state (status: not bounded as a
    # listing is) against the keys acknowledged.
    total = sum(sum(d.status()["queue"]["depth"].values()) for d in (ds[:1] if SHARED else ds))
    if total != len(todo):
        listed = [j for d in (ds[:1] if SHARED else ds) for j in jobs(d)]
        twice = collections.Counter(j["idempotency_key"] for j in listed)
        problems["one job per key"].append(
            f"the queue(s) hold {total} jobs, {len(todo)} acknowledged; keys listed more "
            f"than once: {sorted(k for k, n in twice.items() if n > 1)[:10]}")
    for j in todo:
        show = job_show(home[j.key], acked[j.key])
        ups = show["uploads"]
        if show["job"]["idempotency_key"] != j.key or \
                [u["filename"] for u in ups] != [f.name for f in j.files] or \
                any(u["state"] != "done" or u["sha256"] != sha256_file(f)
                    for u, f in zip(ups, j.files)):
            problems["uploads recorded"].append(f"{j.key}: {show['job']} {ups}")


def _check_intact(env, todo) -> list[str]:
    """Each file on its registry with the queued bytes, nothing else."""
    out = []
    py = {f.name: sha256_file(f) for j in todo if j.reg == "pypi" for f in j.files}
    held = env.pypi.files()
    if held != py:
        out.append(f"pypiserver: {len(held)} files, {len(py)} expected; differing: "
                   f"{sorted(set(held.items()) ^ set(py.items()))[:10]}")
    stored = env.npm.tarballs()
    per_pkg = collections.defaultdict(list)
    for j in todo:
        if j.reg == "npm":
            per_pkg[j.name].append(j)
    for name, js in per_pkg.items():
        doc = env.npm.packument(name)
        if doc is None or sorted(doc["versions"]) != sorted(j.version for j in js):
            out.append(f"{name}: versions {sorted((doc or {}).get('versions', {}))}")
            continue
        for j in js:
            f = j.files[0]
            dist = doc["versions"][j.version]["dist"]
            base = name.split("/")[-1]
            if dist["shasum"] != sha1_hex(f) or dist["integrity"] != sha512_sri(f) or \
                    stored.get(f"{name}/{base}-{j.version}.tgz") != sha256_file(f):
                out.append(f"{name}@{j.version}: {dist}")
        if len([k for k in stored if k.startswith(name + "/")]) != len(js):
            out.append(f"{name}: {len(stored)} tarballs stored")
    return out


def _takeovers(todo, acked, home) -> int:
    """Job log lines of a job claimed by another host after a lease ran
    out (not a restarted daemon taking its own jobs back)."""
    n = 0
    for j in todo:
        for text in job_log(home[j.key], acked[j.key]):
            m = TAKEOVER_RX.search(text)
            if m and m.group(1).rsplit(":", 1)[0] != m.group(2).rsplit(":", 1)[0]:
                n += 1
    return n
