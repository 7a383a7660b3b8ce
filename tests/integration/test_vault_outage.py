"""Vault goes away for 20 s: the daemon stays up, says it is degraded, keeps
its tokens, backs off (no tight loop), and recovers by itself once Vault is
back on the same address (a dev server restarted empty, then re-seeded with
the same role_id, secret_id and KV versions)."""

import re
import time

from aos_fixtures import DEFAULT_KEYS, secrets_match, wait_for

OUTAGE_S = 20
BACKOFF_MAX_S = 4.0


def test_vault_down_then_back(gated_seeded, gated_approle_daemon):
    seeded = gated_seeded
    bao = seeded.bao
    d = gated_approle_daemon({"vault": {"poll_interval_s": 5, "backoff_min_ms": 500,
                                  "backoff_max_ms": int(BACKOFF_MAX_S * 1000)}})
    d.start()
    before = secrets_match(d, seeded.values)
    assert d.status()["state"] == "ready"

    bao.stop()
    t_down = time.monotonic()
    log_mark = len(d.log_text())
    # An explicit refresh fails at once and clearly.
    r = d.refresh()
    assert r.rc != 0 and r.json["ok"] is False and r.json["error"], r
    st = wait_for(lambda: (lambda s: s if s["state"] == "degraded" else None)(d.status()),
                  6, interval=0.1, what="state degraded after Vault stopped")
    assert st["vault"]["healthy"] is False, st
    assert st["vault"]["last_error"], st
    assert st["vault"]["consecutive_failures"] >= 1, st
    n_degraded = st["vault"]["requests"]

    samples = []
    while time.monotonic() - t_down < OUTAGE_S:
        assert d.alive, f"daemon died while Vault was down:\n{d.log_tail()}"
        st = d.status()
        samples.append(st)
        assert st["state"] == "degraded", f"state {st['state']} while Vault is down: {st}"
        now = {s["key"]: s for s in st["secrets"]}
        for k in DEFAULT_KEYS:
            assert now[k]["present"] is True, f"{k} lost while Vault is down: {now[k]}"
            assert now[k]["fingerprint"] == before[k]["fingerprint"], now[k]
        nxt = st["vault"].get("next_attempt_in_s")
        assert nxt is None or nxt <= BACKOFF_MAX_S + 1, (
            f"next attempt in {nxt}s exceeds backoff_max_ms: {st['vault']}")
        time.sleep(0.5)
    st = d.status()
    grown = st["vault"]["requests"] - n_degraded
    elapsed = time.monotonic() - t_down
    # Full-jitter backoff from 0.5 s capped at 4 s averages ~2 s per attempt
    # once capped: about 10-14 attempts in 20 s.  A tight loop makes thousands.
    assert grown <= 20, (f"{grown} Vault requests in {elapsed:.0f}s of outage "
                         f"(backoff 0.5-4 s): retry loop too tight")
    assert st["vault"]["consecutive_failures"] >= 3, st["vault"]
    # The log tells each failed attempt once: as many lines, no flood.
    failures = [ln for ln in d.log_text()[log_mark:].splitlines()
                if re.search(r"retrying in|cannot reach|couldn't connect", ln, re.I)]
    assert 3 <= len(failures) <= 25, (
        f"{len(failures)} failure lines in the log during the outage:\n"
        + "\n".join(failures[:30]))
    secrets_match(d, seeded.values)

    bao.start()  # re-seeded (same role_id, secret_id, KV versions) before it opens
    t_back = time.monotonic()
    wait_for(lambda: d.status()["state"] == "ready", BACKOFF_MAX_S + 6, interval=0.1,
             what=lambda: f"state ready after Vault came back: {d.status()}")
    recovered = time.monotonic() - t_back
    st = d.status()
    assert st["vault"]["healthy"] is True and st["vault"]["consecutive_failures"] == 0, st
    s = secrets_match(d, seeded.values)
    assert all(s[k]["version"] == 1 for k in DEFAULT_KEYS), s
    # It logged in again (the restarted dev server forgot the old token) and
    # reads the secret: a refresh sees a new version.
    assert bao.tokens_of_role(seeded.creds["role"]), "no token after recovery"
    v = bao.kv_patch(seeded.kv_path, {"NPM_TOKEN": "after-" + seeded.values["NPM_TOKEN"]})
    r = d.refresh()
    assert r.rc == 0 and r.json["kv_version"] == v, r
    print(f"recovered {recovered:.1f}s after Vault came back; {grown} requests in outage")
    d.stop()
