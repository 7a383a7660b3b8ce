"""Kill storm: publish jobs to the real pypiserver, devpi-server and
verdaccio (reached through relays that slow uploads to 6 MB/s, so that they
last), all in one storm, are
enqueued while aos-publishd is killed with SIGKILL at random moments (at
least 50 times, mostly 20-150 ms after a start) and restarted at once with
the same configuration and state; when 8 kills in a row found no new job
acknowledged (a loaded machine), the storm waits for the next one before
it kills again, so it makes progress on any machine.  Afterwards every acknowledged job ends
succeeded, each file is on its registry exactly once with the right digest,
and the queue database passed PRAGMA integrity_check after every kill (read
while the daemon was down).

"Exactly once" is counted where each registry can tell: pypiserver's
package folder (a second upload of a file is refused, 409); devpi's request
log (DevpiServer.uploads(): every upload request it handled, since devpi
answers a second identical upload 200 and its index would look the same):
each file stored by one request, and any other request for it answered
"identical" (a killed daemon's request may still be in the registry's
hands when its successor asks: see _assert_devpi_once), none refused.
Both PyPI kinds share the one storm (each kill lands on whatever is under
way), so that the storm's time is not spent twice.

The schedule comes from a seed printed at the start; replay a run with
AOS_KILL_STORM_SEED=<seed>.
"""

from __future__ import annotations

import collections
import hashlib
import os
import random
import threading
import time
from pathlib import Path

from aos_fixtures import wait_for
from publish_support import (PYPI_KINDS, make_big_npm, make_big_wheel, make_sdist, sha1_hex,
                             sha256_file, sha512_sri)
from queue_support import (JOB_STATES, UPLOAD_STATES, ThrottledRelay, db_inspect,
                           describe_jobs, job_show, jobs, kill, port_of,
                           queue_config, relayed_registries, seed_from_env,
                           start_again, try_enqueue, wait_jobs)

MIN_KILLS = 50
MIN_MID_UPLOAD = 8   # kills that must land while an upload is under way
MAX_KILLS = 150
# Kills in a row without a new acknowledgement (while jobs are still to be
# enqueued) before the storm lets one enqueue through: on a slow or loaded
# machine a copy and its fsync may not fit between two kills 20-150 ms
# apart, and the storm must still make progress (it waits for the event,
# the next acknowledgement, not for a time).
STARVE_KILLS = 8
# Two Python packages per PyPI kind.
PY_PACKAGES = {"pypiserver": ("aos-storm-a", "aos-storm-b"),
               "devpi": ("aos-storm-c", "aos-storm-d")}
NPM_PACKAGES = ("@agenticverz/storm-a", "@agenticverz/storm-b", "@agenticverz/storm-c")
VERSIONS = ("1.0.0", "1.0.1")
MB = 1_000_000
# Uploads go through relays that pass 6 MB/s per connection, so that an
# upload lasts about a second however fast the machine is: most kills land
# while one is under way.
RATE = 6 * MB


class Job:
    def __init__(self, reg, name, version, files):
        self.reg, self.name, self.version, self.files = reg, name, version, files
        self.key = f"storm-{reg}-{name}-{version}"


def _build(rng: random.Random, outdir: Path, py_registries: dict) -> list[Job]:
    """14 jobs: 2 versions of 2 Python packages per PyPI kind (a wheel of
    3-8 MB and an sdist of 0.5-2 MB each: two uploads per job) and 2
    versions of 3 npm packages (a tarball of 4-8 MB), in a shuffled enqueue
    order that keeps each package's versions in order.  py_registries:
    {kind: registry name}."""
    out = []
    for kind, names in PY_PACKAGES.items():
        for name in names:
            for v in VERSIONS:
                norm = name.replace("-", "_")
                whl = make_big_wheel(outdir, name, v, rng.randrange(3 * MB, 8 * MB))
                sd = make_sdist(outdir, name, v, extra=[
                    (f"{norm}-{v}/payload.bin", os.urandom(rng.randrange(MB // 2, 2 * MB)))])
                out.append(Job(py_registries[kind], name, v, [whl, sd]))
    for name in NPM_PACKAGES:
        for v in VERSIONS:
            out.append(Job("npm", name, v,
                           [make_big_npm(outdir, name, v, rng.randrange(4 * MB, 8 * MB))]))
    rng.shuffle(out)
    by_pkg: dict[str, list[Job]] = collections.defaultdict(list)
    for j in out:
        by_pkg[j.name].append(j)
    for js in by_pkg.values():
        js.sort(key=lambda j: j.version)
    return [by_pkg[j.name].pop(0) for j in out]


class Enqueuer(threading.Thread):
    """Enqueues every job through `aos-publishctl publish` (no --wait), with
    its idempotency key, retrying until the daemon acknowledges it (the job
    id printed).  Then, until stopped, sends acknowledged jobs again, as a
    client retrying would: the same key must answer the same job id (and
    each enqueue has the scheduler look at the queue at once)."""

    def __init__(self, d, jobs_: list[Job], rng: random.Random):
        super().__init__(daemon=True)
        self.d, self.jobs, self.rng = d, jobs_, random.Random(rng.random())
        self.acked: dict[str, int] = {}
        self.tries = 0
        self.resent = 0
        self.error: BaseException | None = None
        self.stop = False
        self.all_acked = threading.Event()

    def run(self):
        try:
            for j in self.jobs:
                # The storm lets an enqueue through when it starves
                # (STARVE_KILLS): this bound is only a safety net.
                deadline = time.monotonic() + 180
                while not self.stop:
                    self.tries += 1
                    jid, _ = try_enqueue(self.d, j.reg, *j.files, key=j.key, timeout=3,
                                         record=False)
                    if jid is not None:
                        self.acked[j.key] = jid
                        break
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{j.key}: never acknowledged in 180 s")
                    time.sleep(self.rng.uniform(0.005, 0.03))
                time.sleep(self.rng.uniform(0.05, 0.2))
            self.all_acked.set()
            while not self.stop:
                j = self.rng.choice(self.jobs)
                jid, _ = try_enqueue(self.d, j.reg, *j.files, key=j.key, timeout=3,
                                     record=False)
                if jid is not None:
                    self.resent += 1
                    assert jid == self.acked[j.key], (
                        f"{j.key}: enqueued again as job {jid}, first acknowledged as "
                        f"job {self.acked[j.key]}")
                time.sleep(self.rng.uniform(0.03, 0.2))
        except BaseException as e:  # reported by the test
            self.error = e


def test_kill_storm(queue_env, tmp_path):
    env = queue_env
    seed = seed_from_env("AOS_KILL_STORM_SEED")
    print(f"kill storm seed: {seed} (replay with AOS_KILL_STORM_SEED={seed})")
    rng = random.Random(seed)
    targets = {k: env.pypi_target(k) for k in PYPI_KINDS}
    relays = {k: ThrottledRelay(port_of(t.server.url), rate=RATE) for k, t in targets.items()}
    relays["npm"] = ThrottledRelay(port_of(env.npm.url), rate=RATE)
    try:
        _storm(env, targets, relays, seed, rng, tmp_path)
    finally:
        for r in relays.values():
            r.close()


def _storm(env, targets, relays, seed, rng, tmp_path):
    todo = _build(rng, tmp_path, {k: t.registry for k, t in targets.items()})
    cfg = queue_config(lease_s=2, max_attempts=100)
    cfg["registries"] = relayed_registries(env, None, relays["npm"], suffix="")
    for k, t in targets.items():
        cfg["registries"][t.registry] = t.registry_via(relays[k].url)
    d = env.daemon(config=cfg, start=False)
    db = Path(d.config["state_dir"]) / "queue.db"

    enq = Enqueuer(d, todo, rng)
    kills = 0
    stats = collections.Counter()
    unfinished = True
    t0 = time.monotonic()
    start_again(d, wait_ready=True)
    enq.start()
    progress = (0, 0)  # (jobs acknowledged, kills) when that count last grew
    try:
        while (kills < MIN_KILLS or not enq.all_acked.is_set()
               or (stats["mid_upload"] < MIN_MID_UPLOAD and unfinished and kills < MAX_KILLS)):
            assert enq.error is None and enq.is_alive(), f"enqueuer (seed {seed}): {enq.error}"
            assert time.monotonic() - t0 < 600, f"the storm took over 600 s: {dict(stats)}"
            if len(enq.acked) > progress[0]:
                progress = (len(enq.acked), kills)
            elif not enq.all_acked.is_set() and kills - progress[1] >= STARVE_KILLS:
                # Starving: no kill until the next acknowledgement.
                stats["starved"] += 1
                n = progress[0]
                wait_for(lambda: len(enq.acked) > n or enq.error or not enq.is_alive(), 180,
                         what=f"an enqueue to get through with the daemon up (seed {seed})")
                progress = (len(enq.acked), kills)
            # Mostly 20-150 ms after the start; sometimes long enough for
            # an upload or two to finish.
            pause = (rng.uniform(0.8, 1.6) if rng.random() < 0.3
                     else rng.uniform(0.02, 0.15))
            time.sleep(pause)
            rc = kill(d)
            kills += 1
            assert rc == -9, (f"kill {kills}: the daemon had exited by itself with "
                              f"{rc} (seed {seed}); log tail:\n{d.log_tail(6000)}")
            if db.exists():
                snap = db_inspect(db)
                assert snap["integrity"] == ["ok"], (
                    f"kill {kills} (seed {seed}): integrity_check: {snap['integrity']}")
                assert snap["foreign_keys"] == [], (
                    f"kill {kills} (seed {seed}): foreign_key_check: {snap['foreign_keys']}")
                states = collections.Counter(JOB_STATES[s] for s in snap["jobs"].values())
                stats["integrity_checks"] += 1
                stats["with_running_job"] += states["running"] > 0
                # A running job one of whose uploads had started.
                stats["mid_upload"] += any(
                    UPLOAD_STATES[s] == "sending" and JOB_STATES[snap["jobs"][j]] == "running"
                    for (j, _), s in snap["uploads"].items())
                unfinished = (len(snap["jobs"]) < len(todo)
                              or any(JOB_STATES[s] not in ("succeeded", "dead", "canceled")
                                     for s in snap["jobs"].values()))
            start_again(d, wait_ready=False)
    finally:
        enq.stop = True
        enq.join(10)
    storm_s = time.monotonic() - t0
    assert enq.error is None, f"enqueuer (seed {seed}): {enq.error}"
    print(f"{kills} kills in {storm_s:.1f}s; {len(enq.acked)} jobs acknowledged after "
          f"{enq.tries} tries, {enq.resent} sent again; {dict(stats)}")

    # Let it run to completion.
    wait_for(lambda: d.ctl("status", json_out=True, record=False).rc == 0, 15,
             what=lambda: f"the daemon to answer after the storm:\n{d.log_tail()}")
    t1 = time.monotonic()
    acked = set(enq.acked.values())
    assert len(acked) == len(todo), f"acknowledged {enq.acked} (seed {seed})"
    final = wait_jobs(d, acked, timeout=120)
    print(f"all jobs ended {time.monotonic() - t1:.1f}s after the last restart")
    bad = {i: j for i, j in final.items() if j["state"] != "succeeded"}
    assert not bad, (f"seed {seed}: jobs not succeeded:\n{describe_jobs(d, set(bad))}\n"
                     f"pypiserver holds {env.pypi.files()}\ndevpi holds "
                     f"{targets['devpi'].server.files()}\nlog tail:\n{d.log_tail(4000)}")

    # Exactly one job per idempotency key, nothing else in the queue; every
    # upload recorded done with the digest of what was queued.
    all_jobs = jobs(d)
    assert sorted(j["id"] for j in all_jobs) == sorted(acked), (
        f"seed {seed}: the queue holds {[(j['id'], j['idempotency_key']) for j in all_jobs]}"
        f", acknowledged {enq.acked}")
    for j in todo:
        show = job_show(d, enq.acked[j.key])
        assert show["job"]["idempotency_key"] == j.key, show["job"]
        ups = show["uploads"]
        assert [u["filename"] for u in ups] == [f.name for f in j.files], ups
        for u, f in zip(ups, j.files):
            assert u["state"] == "done" and u["sha256"] == sha256_file(f), (
                f"seed {seed}: {j.key}: {u}")

    # pypiserver: each file exactly once in the package folder, same bytes.
    on_disk = collections.Counter()
    digests = {}
    for p in env.pypi.packages.rglob("*"):
        if p.is_file():
            on_disk[p.name] += 1
            digests[p.name] = sha256_file(p)
    py_files = [f for j in todo if j.reg == targets["pypiserver"].registry for f in j.files]
    assert sorted(on_disk) == sorted(f.name for f in py_files), (
        f"seed {seed}: pypiserver holds {dict(on_disk)}")
    for f in py_files:
        assert on_disk[f.name] == 1, f"seed {seed}: {f.name} {on_disk[f.name]} times"
        assert digests[f.name] == sha256_file(f), (
            f"seed {seed}: pypiserver's {f.name} has other bytes "
            f"({(env.pypi.packages / f.name).stat().st_size} of {f.stat().st_size})")
    _assert_devpi_once(targets["devpi"], [j for j in todo if j.reg == targets["devpi"].registry],
                       seed)

    # verdaccio: each version exactly once; the packument's digests and the
    # stored tarball match what was queued.
    stored = env.npm.tarballs()  # {storage path: sha256}
    for name in NPM_PACKAGES:
        doc = env.npm.packument(name)
        assert doc is not None, f"seed {seed}: {name} not on verdaccio"
        assert sorted(doc["versions"]) == sorted(VERSIONS), (
            f"seed {seed}: {name} versions {sorted(doc['versions'])}")
        for j in todo:
            if j.name != name:
                continue
            f = j.files[0]
            dist = doc["versions"][j.version]["dist"]
            assert dist["shasum"] == sha1_hex(f), f"{name}@{j.version}: {dist}"
            assert dist["integrity"] == sha512_sri(f), f"{name}@{j.version}: {dist}"
            body = env.npm.fetch_tarball(name, j.version)
            assert hashlib.sha256(body).hexdigest() == sha256_file(f), f"{name}@{j.version}"
            base = name.split("/")[-1]
            assert stored.get(f"{name}/{base}-{j.version}.tgz") == sha256_file(f), (
                f"seed {seed}: {name}@{j.version}: stored tarballs {sorted(stored)}")
        assert len([k for k in stored if k.startswith(name + "/")]) == len(VERSIONS), (
            f"seed {seed}: {name}: stored tarballs {sorted(stored)}")

    # The storm must have hit uploads in progress, not only an idle daemon.
    assert stats["mid_upload"] >= MIN_MID_UPLOAD, (
        f"seed {seed}: only {stats['mid_upload']} kills landed during an upload: "
        f"{dict(stats)}")
    # Each start removes the .incoming-* folders of enqueues its predecessor
    # was killed in; no kill came after the last start.
    leftovers = [p.name for p in (d.state_dir / "spool").glob(".incoming-*")]
    assert leftovers == [], f"seed {seed}: spool folders of killed enqueues left: {leftovers}"
    d.stop(expect_rc=0)


def _assert_devpi_once(target, devpi_jobs: list[Job], seed: int) -> None:
    """devpi: each file on the index with the queued bytes, stored by one
    upload request; any other upload request was a repeat of a stored file
    that devpi answered "identical" (200, the index left as it was: only
    the request log shows it), never a refusal.

    A repeat cannot always be avoided, by this daemon or any client: a
    daemon killed just after its request was sent leaves the request to
    the registry, which may still be storing it (devpi took 0.9 s under
    load in one CI run) when the restarted daemon asks whether the file is
    there; the answer is no, so it sends the file again, and the registry
    answers that it has it.  What must never happen is a second stored
    copy or a refused request, which this asserts."""
    files = target.server.files()
    want = {f.name: sha256_file(f) for j in devpi_jobs for f in j.files}
    assert files == want, f"seed {seed}: devpi holds {files}, expected {want}"
    ups = target.server.uploads()
    stored = collections.Counter(u.filename for u in ups if u.outcome == "stored")
    assert stored == collections.Counter(list(want)), (
        f"seed {seed}: devpi stored {dict(stored)}, expected each of {sorted(want)} once")
    releases = {u.release for u in ups if u.outcome == "stored"}
    bad = [u for u in ups if u.outcome != "stored" and
           (u.outcome != "identical" or u.release not in releases)]
    assert not bad, (f"seed {seed}: upload requests devpi refused, or repeats of a file "
                     f"it never stored: {bad}")
