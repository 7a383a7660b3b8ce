"""The fleet test's pieces (test_fleet.py, issue 17): three aos-publishd on
one PostgreSQL, the real registries, and chaos while they publish.

- FleetEnv: PublishEnv (OpenBao, pypiserver with its request log, verdaccio)
  plus a PostgreSQL of pg_run.sh (peers/postgres.py) and OpenBao's database
  secrets engine managing it: role `aos-fleet`, leases of 6 s renewable to
  15 s, its users members of the database's owner `aos` and acting as it
  (`ALTER ROLE ... SET role`), so whichever user made the tables, every
  other can use them, and Vault can drop an expired user (it owns nothing).
  The owner's own password is in the Vault secret too (PG_PASSWORD), for a
  daemon with `credentials.kv_key`.  Module-scoped fixture `fleet_env`.
- Fleet: the three daemons (own state, runtime and socket; own
  `queue.host_name`), reading through whichever answers.
- build_jobs(): N publish jobs over a few packages (each file a size of its
  own, so that verdaccio's request lengths name the version).
- Enqueuer: every job through a random daemon's socket, retried with the
  same idempotency key until acknowledged (through any daemon), then
  acknowledged jobs sent again: the same key must give the same job.
- registry_requests(): every upload request the registries logged, mapped
  to its job: the ground truth of "exactly once" and of "no job ran while
  another held its package" (check_exclusive).

Every wait is bounded and waits for an event; no timing is asserted.
"""

from __future__ import annotations

import collections
import os
import random
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from aos_fixtures import Daemon, running_env
from peers.postgres import Postgres
from peers.pypiserver import PypiServer
from publish_support import PublishEnv, make_big_wheel, make_npm, make_sdist
from queue_support import jobs, queue_config, try_enqueue

DB_ROLE = "aos-fleet"
DB_POLICY = f"""
path "database/creds/{DB_ROLE}" {{ capabilities = ["read"] }}
path "sys/leases/renew" {{ capabilities = ["update"] }}
"""
PG_KV_KEY = "PG_PASSWORD"
LEASE_S = 5

# What a daemon logs when a fenced write of its own is refused (its lease
# was taken over): a heartbeat ("lease lost (canceled or taken over)"), a
# file's SENDING mark ("not sent: the lease was lost"), an upload's or a
# job's record ("cannot record ...: the job's lease was lost to another
# owner", "lease lost before it could be recorded"): agent/worker/, and
# AOS_EFENCED's text in common/err.c.
FENCED_RX = re.compile(r"job (\d+): [^\n]*(?:lease lost|lease was lost)")
# A write of a job that did not happen, refused or not: fenced (above), or
# failed on the database ("cannot record ...", "... not sent: ...",
# "cannot renew its lease": a woken daemon whose session the server had
# ended finds its connection gone).
UNWRITTEN_RX = re.compile(
    r"job (\d+): [^\n]*(?:lease lost|lease was lost|cannot record|not sent|cannot renew)")
# A set of dynamic credentials taken by a daemon (agent/session/dbcreds.c):
# the serial restarts at 1 in each process.
CREDS_RX = re.compile(r"database credentials (\d+) from database/creds/" + re.escape(DB_ROLE))
SUCCEEDED_RX = re.compile(r"job \d+ succeeded")
TAKEOVER_RX = re.compile(r"lease of (\S+) ran out; claimed by (\S+),")


# -- the environment ---------------------------------------------------------
class FleetEnv(PublishEnv):
    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.pypi = PypiServer(workdir=self.workdir / "pypi", request_log=True)
        self.pg: Postgres | None = None

    def start(self) -> "FleetEnv":
        super().start()
        self.pg = Postgres(self.workdir)
        self._database_engine()
        self.set_secret(**{PG_KV_KEY: self.pg.password()})
        self.bao.write_policy("aos-fleet-db", DB_POLICY)
        self.vault_token = self.bao.create_token(["aos-publishd-read", "aos-fleet-db"],
                                                 ttl="4h")
        return self

    def _database_engine(self) -> None:
        admin_pw = secrets.token_hex(16)
        self.pg.superuser_sql(
            f"CREATE ROLE vault_admin LOGIN SUPERUSER PASSWORD '{admin_pw}';\n")
        self.bao.api("POST", "sys/mounts/database", {"type": "database"})
        self.bao.api("POST", "database/config/aos", {
            "plugin_name": "postgresql-database-plugin",
            "connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:"
                              f"{self.pg.port}/aos?sslmode=disable",
            "username": "vault_admin", "password": admin_pw,
            "allowed_roles": [DB_ROLE], "verify_connection": True})
        self.bao.api("POST", f"database/roles/{DB_ROLE}", {
            "db_name": "aos",
            "creation_statements": [
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
                "VALID UNTIL '{{expiration}}' IN ROLE aos;",
                "ALTER ROLE \"{{name}}\" SET role = 'aos';"],
            "default_ttl": "6s", "max_ttl": "15s"})

    def stop(self) -> list[str]:
        problems = super().stop()
        if self.pg is not None:
            try:
                rc = self.pg.stop()
                if rc != 0:
                    problems.append(f"pg_run.sh exited with {rc}")
            except Exception as e:  # keep going: the folder is removed anyway
                problems.append(f"Postgres: {e}")
        return problems


@pytest.fixture(scope="module")
def fleet_env(request):
    """Per test module: OpenBao (with its database engine), pypiserver,
    verdaccio, PostgreSQL."""
    yield from running_env(request, FleetEnv, "aos-fleet-", "fleet_env")


def fleet_config(env: FleetEnv, i: int, credentials: str, backend: str,
                 registries: dict) -> dict:
    """Daemon i's configuration: queue.backend `backend`; on PostgreSQL the
    shared database with `credentials` "database_role" (Vault's engine) or
    "kv_key" (the owner's password from the Vault secret); these
    registries (the relays' addresses)."""
    q = {"lease_s": LEASE_S, "max_attempts": 100, "per_registry_concurrency": 4,
         "host_name": f"fleet-{i}"}
    if backend == "postgresql":
        pg = {"host": "127.0.0.1", "port": int(env.pg.port), "database": "aos",
              "sslmode": "disable"}
        if credentials == "database_role":
            pg["credentials"] = {"database_role": DB_ROLE}
        else:
            pg["user"] = "aos"
            pg["credentials"] = {"kv_key": PG_KV_KEY}
        q.update(backend="postgresql", postgresql=pg)
    cfg = queue_config(**q)
    cfg["registries"] = registries
    return cfg


# -- the daemons ----------------------------------------------------------------
class Fleet:
    """The daemons, and who is up: `stopped` is the one under SIGSTOP."""

    def __init__(self, daemons: list[Daemon]):
        self.daemons = daemons
        self.stopped: Daemon | None = None
        self.lock = threading.Lock()

    def answering(self) -> list[Daemon]:
        with self.lock:
            return [d for d in self.daemons if d.alive and d is not self.stopped]

    def by_pid(self, pid: int) -> Daemon | None:
        for d in self.daemons:
            if d.proc is not None and d.proc.pid == pid:
                return d
        return None

    def read(self, fn, rng: random.Random | None = None):
        """fn(d) through the first daemon that answers (AssertionError or a
        ctl timeout: the next); None when none did."""
        ds = self.answering()
        if rng is not None:
            rng.shuffle(ds)
        for d in ds:
            try:
                return fn(d)
            except (AssertionError, OSError, ValueError, TimeoutError):
                continue
            except Exception as e:  # subprocess.TimeoutExpired
                if type(e).__name__ != "TimeoutExpired":
                    raise
        return None


def owner_pid(owner: str) -> int | None:
    """The pid in a lease owner "host:pid"."""
    try:
        return int(owner.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None


def running_jobs(fleet: Fleet) -> list[dict] | None:
    return fleet.read(lambda d: jobs(d, state="running"))


# -- the jobs ---------------------------------------------------------------------
PY_PACKAGES = ("aos-fleet-a", "aos-fleet-b", "aos-fleet-c", "aos-fleet-d", "aos-fleet-e")
NPM_PACKAGES = ("@agenticverz/fleet-a", "@agenticverz/fleet-b", "@agenticverz/fleet-c")


@dataclass
class FleetJob:
    i: int
    reg: str
    name: str
    version: str
    files: list[Path]
    key: str = ""

    def __post_init__(self):
        self.key = f"fleet-{self.name}-{self.version}"


def build_jobs(n: int, outdir: Path, rng: random.Random) -> list[FleetJob]:
    """n jobs, job i of package i mod 8 (5 Python, 3 npm) at version
    1.0.<i div 8>: each package's versions come in enqueue order.  A Python
    job has a wheel and an sdist, an npm job one tarball; every file holds
    a payload of a size of its own, 512 bytes more at each version."""
    pkgs = [("pypi", p) for p in PY_PACKAGES] + [("npm", p) for p in NPM_PACKAGES]
    out = []
    for i in range(n):
        reg, name = pkgs[i % len(pkgs)]
        v = f"1.0.{i // len(pkgs)}"
        size = 4096 + 512 * (i // len(pkgs)) + rng.randrange(64)
        if reg == "pypi":
            norm = name.replace("-", "_")
            files = [make_big_wheel(outdir, name, v, size),
                     make_sdist(outdir, name, v,
                                extra=[(f"{norm}-{v}/payload.bin", os.urandom(size))])]
        else:
            files = [make_npm(outdir, name, v, extra=[("package/payload.bin", os.urandom(size))])]
        out.append(FleetJob(i, reg, name, v, files))
    return out


class Enqueuer(threading.Thread):
    """Enqueues the jobs in order, each through a random daemon that is
    up, with its idempotency key, until one acknowledges it (a refusal, no
    answer, a daemon killed under it: the same key again, maybe through
    another daemon).  Then, until stopped, sends acknowledged jobs again
    through random daemons: the key must answer the job first acknowledged
    (mismatched lists those that did not)."""

    def __init__(self, fleet: Fleet, todo: list[FleetJob], rng: random.Random,
                 shared: bool = True):
        """shared: the daemons share one queue (a job id means the same job
        whichever daemon answers)."""
        super().__init__(daemon=True)
        self.shared = shared
        self.fleet, self.todo, self.rng = fleet, todo, random.Random(rng.random())
        self.acked: dict[str, int] = {}
        self.acked_via: dict[str, Daemon] = {}  # the daemon that answered first
        self.via: collections.Counter = collections.Counter()
        self.mismatched: list[str] = []  # a key sent again that answered another job
        self.tries = 0
        self.resent = 0
        self.error: BaseException | None = None
        self.stop = False
        self.all_acked = threading.Event()

    def _once(self, j: FleetJob) -> tuple[int | None, Daemon | None]:
        ds = self.fleet.answering()
        if not ds:
            time.sleep(0.05)
            return None, None
        d = self.rng.choice(ds)
        self.tries += 1
        try:
            jid, _ = try_enqueue(d, j.reg, *j.files, key=j.key, timeout=3, record=False)
        except Exception as e:  # the ctl's own timeout: no answer
            if type(e).__name__ != "TimeoutExpired":
                raise
            return None, d
        return jid, d

    def run(self):
        try:
            for j in self.todo:
                deadline = time.monotonic() + 300
                while not self.stop:
                    jid, d = self._once(j)
                    if jid is not None:
                        self.acked[j.key], self.acked_via[j.key] = jid, d
                        self.via[d.dir.name] += 1
                        break
                    assert time.monotonic() < deadline, f"{j.key}: never acknowledged in 300 s"
                    time.sleep(self.rng.uniform(0.01, 0.05))
            self.all_acked.set()
            while not self.stop:
                j = self.rng.choice(self.todo)
                jid, d = self._once(j)
                if jid is not None:
                    self.resent += 1
                    if jid != self.acked[j.key] or (not self.shared
                                                    and d is not self.acked_via[j.key]):
                        self.mismatched.append(
                            f"{j.key}: sent again through {d.dir.name}, answered job {jid}; "
                            f"first acknowledged as job {self.acked[j.key]} by "
                            f"{self.acked_via[j.key].dir.name}")
                time.sleep(self.rng.uniform(0.05, 0.2))
        except BaseException as e:  # reported by the test
            self.error = e


# -- what reached the registries ------------------------------------------------
@dataclass
class Request:
    """One upload request a registry logged: when (ms since the epoch:
    pypiserver's once the body was in, verdaccio's at its headers), the job
    it belongs to, the file, its kind ("request"; "end": verdaccio's answer,
    logged apart) and what came of it: "stored", "exists" (refused as a
    second copy), None (cut short, nothing stored), or the HTTP status of
    another refusal."""
    at_ms: float
    job: FleetJob | None
    file: str
    kind: str
    outcome: str | int | None
    done_ms: float | None = None  # when the outcome was logged (stored: the file is there)


@dataclass
class RegistryView:
    requests: list[Request] = field(default_factory=list)
    unmatched: list = field(default_factory=list)  # requests no job could be named for
    cut_short: int = 0  # verdaccio's ends of requests that stored nothing (CUT_SHORT, 5xx)


# How verdaccio logs a request whose sender went away (killed) before or
# while it read the body: nothing stored.  A 5xx (the registry's own
# failure) stores nothing either.
CUT_SHORT = ("request aborted", "stream is not readable")


def _npm_versions_by_length(ends, todo: list[FleetJob]) -> dict[tuple[str, int], FleetJob]:
    """{(package, body length): job} from verdaccio's stored (201) answers:
    a package's bodies sorted by length are its versions sorted by tarball
    size (build_jobs makes each version's tarball hundreds of bytes bigger
    than the one before; the body is mostly its base64).  Left empty for a
    package whose stored count is not its version count (reported by
    check_exactly_once)."""
    per_pkg = collections.defaultdict(list)
    for j in todo:
        if j.reg == "npm":
            per_pkg[j.name].append(j)
    lens = collections.defaultdict(set)
    for e in ends:
        if e.status == 201:
            lens[e.package].add(e.length)
    out = {}
    for pkg, js in per_pkg.items():
        if len(lens[pkg]) == len(js):
            js = sorted(js, key=lambda j: j.files[0].stat().st_size)
            out.update({(pkg, n): j for n, j in zip(sorted(lens[pkg]), js)})
    return out


def registry_requests(env: FleetEnv, todo: list[FleetJob]) -> RegistryView:
    """Every upload request of pypiserver's and verdaccio's logs, mapped
    to its job: pypiserver names the file; verdaccio the package only, so
    its requests go to the version whose stored body had the same length."""
    view = RegistryView()
    by_file = {f.name: j for j in todo for f in j.files}
    for ev in env.pypi.uploads():
        j = by_file.get(ev.filename) if ev.filename else None
        if ev.filename is not None and j is None:
            view.unmatched.append(ev)
            continue
        view.requests.append(Request(ev.at * 1000.0, j, ev.filename or "?", "request",
                                     ev.outcome, ev.done * 1000.0 if ev.done else None))
    starts, ends = env.npm.publish_log()
    by_len = _npm_versions_by_length(ends, todo)
    for s in starts:
        j = by_len.get((s.package, s.length))
        if j is None:
            view.unmatched.append(s)
            continue
        view.requests.append(Request(float(s.at_ms), j, j.files[0].name, "request", None))
    for e in ends:
        j = by_len.get((e.package, e.length))
        name = j.files[0].name if j else e.package
        if e.status == 201:
            view.requests.append(Request(float(e.at_ms), j, name, "end", "stored",
                                         float(e.at_ms)))
        elif e.status >= 500 or e.error in CUT_SHORT:
            view.cut_short += 1  # nothing stored: the sender tries again
        elif e.status >= 400:
            view.requests.append(Request(float(e.at_ms), j, name, "end",
                                         "exists" if e.status == 409 else e.status))
    return view


def registry_reads(env: FleetEnv) -> dict[str, list[float]]:
    """{package: times (ms) the registry answered a read of its listing}:
    pypiserver's /simple/<project>/ pages, verdaccio's package documents:
    when a daemon asked whether a file is there."""
    out = collections.defaultdict(list)
    for at, path in env.pypi.listings():
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "simple":
            out[parts[1]].append(at * 1000.0)
    for at, name in env.npm.package_reads():
        out[name].append(float(at))
    return {k: sorted(v) for k, v in out.items()}


def check_exactly_once(view: RegistryView, todo: list[FleetJob],
                       reads: dict[str, list[float]]) -> tuple[list[str], list[str]]:
    """Each file stored by exactly one request, and no request refused.
    Returns (problems, repeats allowed).

    A request refused as a second copy ("exists") is a second upload all
    the same, allowed in one case only, the one no client can avoid (see
    test_queue_kill_storm's devpi): its sender asked the registry first and
    was told the file was not there because the request that stored it
    was still in the registry's hands: a request for that file had arrived
    before the registry answered the sender's last read of the package's
    listing, and the file was stored only after that answer.  A repeat
    sent without asking (the SENDING mark not committed before the first
    byte), after the registry could have said the file was there, or while
    no earlier request for it was under way (two hosts sending one job at
    once) is a problem.  (Not told apart: an earlier request of that file
    cut short before the read, with two hosts sending it at once after.)"""
    problems, allowed = [], []
    by_file = {f.name: j for j in todo for f in j.files}
    stored_at: dict[str, float] = {}
    starts = collections.defaultdict(list)  # file: its requests' arrivals
    stored = collections.Counter()
    for r in view.requests:
        if r.outcome == "stored":
            stored[r.file] += 1
            stored_at.setdefault(r.file, r.done_ms)
        if r.kind == "request":
            starts[r.file].append(r.at_ms)
    first_at = {f: min(ts) for f, ts in starts.items()}
    for j in todo:
        for f in j.files:
            if stored[f.name] != 1:
                problems.append(f"{f.name} stored {stored[f.name]} times")
    for r in view.requests:
        if r.outcome in (None, "stored"):
            continue
        j = by_file.get(r.file)
        # When the repeat was sent: verdaccio logs its refusal apart from
        # its arrival, the latest arrival of that file before the refusal.
        sent = max([t for t in starts[r.file] if t <= r.at_ms], default=r.at_ms)
        asked = [t for t in reads.get(j.name if j else "", []) if t < sent]
        what = (f"{r.file}: a request sent at {sent:.0f} refused ({r.outcome}) at "
                f"{r.at_ms:.0f}; first request "
                f"at {first_at.get(r.file)}, last asked at {asked[-1] if asked else None}, "
                f"stored at {stored_at.get(r.file)}")
        if r.outcome == "exists" and asked and r.file in stored_at and \
                first_at[r.file] < asked[-1] < stored_at[r.file]:
            allowed.append(what)
        else:
            problems.append(what)
    return problems, allowed


def check_exclusive(view: RegistryView, todo: list[FleetJob],
                    final: dict[str, dict]) -> list[str]:
    """No job of a package reached a registry while another job of that
    package held it: for consecutive versions k, k+1 of a package, every
    request of k's files came before the first request of k+1's, and k's
    success was recorded (its updated_ms, the finishing host's clock; one
    machine, one clock) before k+1's first request arrived.  Two hosts
    running k and k+1 at once, or a host sending k's file after k+1 had
    started, fail it.  final: {idempotency key: job}."""
    problems = []
    reqs = collections.defaultdict(list)
    for r in view.requests:
        if r.job is not None and r.kind == "request":
            reqs[r.job.key].append(r.at_ms)
    per_pkg = collections.defaultdict(list)
    for j in todo:
        per_pkg[j.name].append(j)
    for name, js in per_pkg.items():
        for a, b in zip(js, js[1:]):
            if not reqs[b.key]:
                problems.append(f"{b.key}: no upload request logged")
                continue
            first_b = min(reqs[b.key])
            last_a = max(reqs[a.key], default=0)
            ended_a = final[a.key]["updated_ms"]
            if last_a >= first_b:
                problems.append(f"{name}: {a.version}'s request at {last_a:.0f} after "
                                f"{b.version}'s first at {first_b:.0f}")
            if ended_a >= first_b:
                problems.append(f"{name}: {b.version} reached the registry at {first_b:.0f}, "
                                f"before {a.version} ended at {ended_a:.0f}")
    return problems


def log_counts(d: Daemon) -> dict:
    """From a daemon's log (all its processes): fenced writes refused, the
    job ids they name, credential sets (their serials, in order) and the
    lines' order of replacement and success."""
    text = d.log_text()
    fenced = [int(m.group(1)) for m in FENCED_RX.finditer(text)]
    serials = [int(m.group(1)) for m in CREDS_RX.finditer(text)]
    # A job succeeded after a set other than a process's first was taken:
    # the daemon carried on with replaced credentials.
    after_replacement = False
    replaced = False
    for line in text.splitlines():
        m = CREDS_RX.search(line)
        if m:
            replaced = replaced or int(m.group(1)) >= 2
        elif replaced and SUCCEEDED_RX.search(line):
            after_replacement = True
    return {"fenced": fenced, "creds": serials, "succeeded_after_replacement":
            after_replacement}
