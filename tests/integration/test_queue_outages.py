"""Outages while jobs are queued, against the real registries and OpenBao:

- registries down, then back: jobs fail, retry with capped full-jitter
  backoff, and succeed once the registries are started again (pypiserver,
  devpi-server and verdaccio, all in one run);
- a permanent error (a different file under a published name and version)
  goes to dead at once, with the reason in `job show`;
- Vault down at start: jobs wait (queued, saying why) and complete once
  Vault returns; Vault down after the tokens were loaded: the held tokens
  keep working;
- tokens rotated while jobs are queued: the later uploads use the new
  tokens (seen on the wire), none fails, no attempt is spent (on both PyPI
  kinds and verdaccio, in one run).

The PyPI kinds (pypiserver, devpi-server) share the module's servers: the
two tests above take both at once rather than a `pypi_kind` parameter, so
that verdaccio's part runs once and the daemon and Vault work is not
repeated.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from pathlib import Path

import pytest

from aos_fixtures import run_rotate, wait_for
from publish_support import (EXIT, PYPI_KINDS, digest_forms, make_npm, make_wheel,
                             publish, sha256_file)
from queue_support import (ThrottledRelay, describe_jobs, enqueue, job_log, job_show,
                           jobs, port_of, queue_config, relayed_registries,
                           wait_jobs, wait_state)


def _published(env, path: Path, npm_name: str | None = None, version: str | None = None,
               server=None):
    """Whether path is on npm (npm_name, version) or on a PyPI-style server
    (default: pypiserver) with its bytes."""
    if npm_name is None:
        return (server or env.pypi).files().get(path.name) == sha256_file(path)
    doc = env.npm.packument(npm_name)
    if doc is None or version not in doc.get("versions", {}):
        return False
    return hashlib.sha256(env.npm.fetch_tarball(npm_name, version)).hexdigest() == \
        sha256_file(path)


def _failed_runs(d, jid) -> list[str]:
    return [t for t in job_log(d, jid) if t.startswith("running -> failed")]


# -- registries down, then back ------------------------------------------------
def test_registries_down_then_back(queue_env, tmp_path):
    env = queue_env
    targets = [env.pypi_target(k) for k in PYPI_KINDS]
    d = env.daemon(config=queue_config(max_attempts=60))
    files = [(t.registry, make_wheel(tmp_path, f"aos-down-{t.kind}-{x}", "1.0.0"), t.server,
              None, None) for t in targets for x in "ab"]
    files.append(("npm", make_npm(tmp_path, "@agenticverz/down-a", "1.0.0"), None,
                  "@agenticverz/down-a", "1.0.0"))
    servers = [t.server for t in targets] + [env.npm]
    for s in servers:
        s.stop()
    try:
        ids = [enqueue(d, reg, f) for reg, f, _, _, _ in files]
        # Each job fails, is retried, fails again...
        wait_for(lambda: all(len(_failed_runs(d, i)) >= 3 for i in ids), 30,
                 what=lambda: f"three failed runs of each job:\n{describe_jobs(d, ids)}")
    finally:
        t_up = time.monotonic()
        for s in servers:
            s.start()
        up_s = time.monotonic() - t_up
    for i in ids:
        j = job_show(d, i)["job"]
        assert j["attempts"] >= 3, j
        runs = _failed_runs(d, i)
        # "unavailable: ... (next try in 0.4 s)" -> within the cap of 1 s.
        delays = [float(m) for t in runs for m in re.findall(r"next try in ([0-9.]+) s", t)]
        assert len(delays) == len(runs), runs
        assert all(0 <= x <= 1.0 for x in delays), f"backoff beyond the 1 s cap: {delays}"
        assert all("unavailable" in t for t in runs), runs
    final = wait_jobs(d, ids, timeout=30)
    assert all(j["state"] == "succeeded" for j in final.values()), describe_jobs(d, ids)
    for reg, f, server, name, v in files:
        assert _published(env, f, name, v, server=server), f"{f.name} not on {reg}"
    print(f"registries restarted in {up_s:.1f}s; attempts "
          f"{[final[i]['attempts'] for i in ids]}")
    d.stop()


# -- a permanent error -------------------------------------------------------
@pytest.mark.parametrize("kind", ["pypiserver", "devpi", "npm"])
def test_conflict_goes_dead_with_reason(queue_env, tmp_path, kind):
    env = queue_env
    target = env.pypi_target(kind) if kind != "npm" else None
    reg = target.registry if target is not None else "npm"
    d = env.daemon(config=queue_config())
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    if target is not None:
        first = make_wheel(a, "aos-conflict", "2.0.0")
        second = make_wheel(b, "aos-conflict", "2.0.0",
                            files={"aos_conflict/__init__.py": b"OTHER = 1\n"})
    else:
        first = make_npm(a, "@agenticverz/conflict", "2.0.0")
        second = make_npm(b, "@agenticverz/conflict", "2.0.0",
                          extra=[("package/other.js", b"exports.other = 1;\n")])
    assert first.name == second.name and sha256_file(first) != sha256_file(second)
    publish(d, reg, first).expect(EXIT["published"], "published")

    r = publish(d, reg, second)
    r.expect(EXIT["conflict"], "conflict")
    jid = r.final["job_id"]
    show = job_show(d, jid)
    j = show["job"]
    assert j["state"] == "dead", j
    assert j["attempts"] == 1, f"a permanent error was retried: {j}"
    err = j.get("last_error", "")
    assert err.startswith("conflict"), err
    assert second.name in err or reg == "npm", err
    assert any(f in err for f in digest_forms(second)), f"our digest not named: {err}"
    assert show["uploads"][0]["state"] == "failed", show["uploads"]
    # The human view says it too.
    h = d.ctl("job", "show", jid)
    assert h.rc == 0 and re.search(r"^Job \d+: dead", h.out, re.M), h
    assert re.search(r"^Last error: conflict", h.out, re.M), h
    assert any(t.startswith("running -> dead: conflict") for t in job_log(d, jid)), \
        job_log(d, jid)
    # What to do about it (docs/operations.md, "A conflict").
    assert "What to do:" in err and "aos-publishctl job retry" in err, err
    if reg == "npm":
        assert (f"npm unpublish @agenticverz/conflict@2.0.0 --registry {env.npm.url}"
                in err), err
        assert "release a new patch version" in err, err
    else:
        assert f"pypiserver: {second.name} from its package folder" in err, err
        assert "devpi remove --force aos-conflict==2.0.0" in err, err
        assert "release a post-release (2.0.0.post1)" in err, err
        # Following the advice: the other file deleted (from pypiserver's
        # package folder; `devpi remove`), the job retried, ours published.
        if kind == "devpi":
            target.server.remove("aos-conflict", "2.0.0")
        else:
            held = [p for p in env.pypi.packages.rglob(second.name) if p.is_file()]
            assert len(held) == 1, held
            held[0].unlink()
        assert second.name not in target.server.files()
        assert d.ctl("job", "retry", jid).rc == 0
        assert wait_state(d, jid, ("succeeded", "dead"))["state"] == "succeeded", \
            describe_jobs(d, {jid})
        assert target.server.files()[second.name] == sha256_file(second)
    d.stop()


def _vault_failures(d) -> int:
    return d.ctl("status", json_out=True).json["vault"]["consecutive_failures"]


# -- Vault down ------------------------------------------------------------------
def test_vault_down_at_start_jobs_wait(queue_env, tmp_path):
    env = queue_env
    wheel = make_wheel(tmp_path, "aos-vault-wait", "1.0.0")
    tgz = make_npm(tmp_path, "@agenticverz/vault-wait", "1.0.0")
    problems = []
    env.bao.stop()
    try:
        d = env.daemon(config=queue_config(), wait_ready=False)
        wait_for(lambda: d.ctl("status", json_out=True).rc == 0, 10, what="status")
        ids = [enqueue(d, "pypi", wheel), enqueue(d, "npm", tgz)]
        # Vault retried (and failed) twice since the jobs were queued, and a
        # scheduler tick (1 s) passed: a lower bound only, nothing must start.
        failures = _vault_failures(d)
        wait_for(lambda: _vault_failures(d) >= failures + 2, 30,
                 what=lambda: f"two more failed Vault retries: {d.log_tail()}")
        time.sleep(1.1)
        for i in ids:
            show = job_show(d, i)
            j = show["job"]
            assert j["state"] == "queued", f"job {i} {j['state']} while Vault is down: {j}"
            assert j["attempts"] == 0, j
            why = json.dumps(show)
            if "waiting for a token" not in why:
                problems.append(f"job {i}: queued without saying why (no \"waiting for "
                                f"a token\" in job show): {json.dumps(j)}; log "
                                f"{job_log(d, i)}")
        assert not _published(env, wheel)
    finally:
        t0 = time.monotonic()
        env.bao.start()
    final = wait_jobs(d, ids, timeout=30)
    took = time.monotonic() - t0
    assert all(j["state"] == "succeeded" for j in final.values()), describe_jobs(d, ids)
    assert all(j["attempts"] == 1 for j in final.values()), (
        f"waiting for Vault spent attempts: {final}")
    assert _published(env, wheel)
    assert _published(env, tgz, "@agenticverz/vault-wait", "1.0.0")
    print(f"jobs done {took:.1f}s after Vault came back")
    d.stop()
    assert not problems, "\n".join(problems)


def test_vault_down_after_load_held_tokens_work(queue_env, tmp_path):
    env = queue_env
    d = env.daemon(config=queue_config())
    wheel = make_wheel(tmp_path, "aos-vault-held", "1.0.0")
    env.bao.stop()
    try:
        jid = enqueue(d, "pypi", wheel)
        j = wait_state(d, jid, ("succeeded", "dead", "canceled"), 20)
        assert j["state"] == "succeeded", describe_jobs(d, [jid])
        assert _published(env, wheel)
    finally:
        env.bao.start()
    d.stop()


# -- token rotation ---------------------------------------------------------------
def _names(seen, old, new):
    """Authorization values seen on the wire as "old", "new" or "other"
    (Basic __token__:TOKEN for pypi, Bearer TOKEN for npm)."""
    out = []
    for a in seen:
        scheme, _, raw = a.partition(" ")
        if scheme.lower() == "basic":
            try:
                raw = base64.b64decode(raw).decode().split(":", 1)[-1]
            except ValueError:
                pass
        out.append("old" if raw == old else "new" if raw == new else "other")
    return out


def test_tokens_rotated_while_queued(queue_env, tmp_path):
    env = queue_env
    targets = [env.pypi_target(k) for k in PYPI_KINDS]
    relays = {t.kind: ThrottledRelay(port_of(t.server.url)) for t in targets}
    nr = ThrottledRelay(port_of(env.npm.url))
    try:
        cfg = queue_config()
        cfg["registries"] = relayed_registries(env, None, nr, suffix="-seen")
        for t in targets:
            cfg["registries"][f"{t.registry}-seen"] = t.registry_via(relays[t.kind].url)
        d = env.daemon(config=cfg)
        old = {t.kind: env.values[t.token_key] for t in targets}
        old_npm = env.values["NPM_TOKEN"]
        d.ctl_json("drain")
        items = []
        for k in range(3):
            for t in targets:
                items.append((f"{t.registry}-seen", t,
                              make_wheel(tmp_path, f"aos-rot-{t.kind}-{k}", "1.0.0")))
            items.append(("npm-seen", None,
                          make_npm(tmp_path, f"@agenticverz/rot-{k}", "1.0.0")))
        ids = [enqueue(d, reg, f) for reg, _, f in items]
        # Drained: nothing must start.  A lower bound only (a scheduler tick
        # and more), there is no event to wait for.
        time.sleep(1.2)
        assert all(j["state"] == "queued" for j in jobs(d) if j["id"] in ids)
        # Before queueing, each npm publish read its package document (the
        # dist-tag rules) with the token of the time: the old one.
        npm_before = len(nr.auth_seen)
        assert set(_names(nr.auth_seen, old_npm, "-")) <= {"old"}, nr.auth_seen

        # npm: a new user's token, rotated the operator's way
        # (rotate_secret.sh writes Vault and has the daemon refresh).
        new_npm = env.npm.add_user(f"aos-rot-{secrets.token_hex(3)}")
        p, _ = run_rotate(env.bao, d, "NPM_TOKEN", new_npm)
        assert p.returncode == 0, f"rotate_secret.sh: {p.returncode} {p.stdout} {p.stderr}"
        env.values["NPM_TOKEN"] = new_npm
        # pypiserver and devpi, after that: the registry's password changes
        # and Vault gets the new value, nobody tells the daemon (its poll is
        # 30 s away): the first upload is refused (pypiserver 403, devpi
        # 401), the daemon re-reads Vault and retries.
        new = {t.kind: env.rotate_registry_token(t) for t in targets}
        env.set_secret(**{t.token_key: new[t.kind] for t in targets})

        def wire() -> str:
            return "; ".join(f"{k} {_names(r.auth_seen, old[k], new[k])}"
                             for k, r in relays.items())

        d.ctl_json("resume")
        # Well before the daemon's next Vault poll (30 s): only the refusal
        # can have told it about the new PyPI tokens.
        try:
            final = wait_jobs(d, ids, timeout=20)
        except AssertionError as e:
            raise AssertionError(f"{e}\nauth on the wire: {wire()}") from None
        bad = {i: j for i, j in final.items() if j["state"] != "succeeded"}
        assert not bad, (f"jobs failed across the rotation (auth on the wire: {wire()}):\n"
                         f"{describe_jobs(d, set(bad))}")
        assert all(j["attempts"] == 1 for j in final.values()), (
            f"a refused token cost an attempt: {[(i, j['attempts']) for i, j in final.items()]}")
        for _, t, f in items:
            if t is not None:
                assert _published(env, f, server=t.server), f"{f.name} not on {t.kind}"
        # On the wire: every npm request since the rotation carried the new
        # token.  Up to two uploads to each PyPI registry
        # (per_registry_concurrency) went out with the old one before the
        # first refusal; everything after uses the new one.
        npm_auth = _names(nr.auth_seen[npm_before:], old_npm, new_npm)
        assert npm_auth and set(npm_auth) == {"new"}, npm_auth
        for t in targets:
            py_auth = _names(relays[t.kind].auth_seen, old[t.kind], new[t.kind])
            assert set(py_auth) == {"old", "new"}, (t.kind, py_auth)
            assert 1 <= py_auth.count("old") <= 2, (t.kind, py_auth)
            assert "old" not in py_auth[py_auth.index("new"):], (t.kind, py_auth)
            assert py_auth.count("new") >= 3, (t.kind, py_auth)
        print(f"auth sequences {wire()}; npm {npm_auth}")
        d.stop()
    finally:
        for r in [*relays.values(), nr]:
            r.close()
