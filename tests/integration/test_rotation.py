"""Rotation: vault/rotate_secret.sh notifies the daemon (the new version is
reported when the script returns, with a poll interval of 600 s); a change
written straight to Vault is picked up by the poll; `secrets refresh` and
SIGHUP check at once.  No test here measures speed (tests/bench does)."""

import re
import secrets
import signal
import time

from aos_fixtures import DEFAULT_KEYS, run_rotate, secrets_match, wait_for


def _version_of(d, key):
    return d.secrets()[key]["version"]


def test_rotate_secret_script_notifies_daemon(seeded, approle_daemon):
    bao = seeded.bao
    d = approle_daemon({"vault": {"poll_interval_s": 600}})
    d.start()
    before = secrets_match(d, seeded.values)
    new = secrets.token_urlsafe(32)

    # Poll interval 600 s: the new version reported below, as soon as the
    # script has returned, can only come from the script's notification.
    p, _ = run_rotate(bao, d, "PYPI_API_TOKEN", new)
    assert p.returncode == 0, f"rotate_secret.sh failed: rc={p.returncode} {p.stderr}"
    assert d.fingerprint(new) in p.stdout, f"new fingerprint not printed: {p.stdout!r}"
    assert new not in p.stdout + p.stderr, "rotate_secret.sh echoed the value"

    # Vault: a patch that kept the other keys.
    kv = bao.kv_get(seeded.kv_path)
    assert kv["metadata"]["version"] == 2, kv["metadata"]
    assert kv["data"]["PYPI_API_TOKEN"] == new
    for k in ("NPM_TOKEN", "TEST_PYPI_API_TOKEN"):
        assert kv["data"][k] == seeded.values[k], f"{k} lost by the rotation"

    # The daemon already reports the new version (no poll in between).
    after = d.secrets()
    assert after["PYPI_API_TOKEN"]["version"] == 2, after
    assert after["PYPI_API_TOKEN"]["fingerprint"] == d.fingerprint(new), after
    for k in ("NPM_TOKEN", "TEST_PYPI_API_TOKEN"):
        assert after[k]["fingerprint"] == before[k]["fingerprint"], after[k]
        assert after[k]["version"] == 1, f"{k} did not change: its version stays 1: {after[k]}"
    assert d.status()["vault"]["kv_version"] == 2

    # The log names the key with old and new version and fingerprint.
    old_fp, new_fp = d.fingerprint(seeded.values["PYPI_API_TOKEN"]), d.fingerprint(new)
    lines = [ln for ln in d.log_text().splitlines()
             if "PYPI_API_TOKEN" in ln and old_fp in ln and new_fp in ln]
    assert lines, f"no log line naming PYPI_API_TOKEN {old_fp} -> {new_fp}:\n{d.log_tail()}"
    assert re.search(r"\b1\b", lines[0]) and re.search(r"\b2\b", lines[0]), (
        f"versions 1 and 2 not in the change line: {lines[0]}")
    d.stop()


def test_rotate_secret_repeatedly_and_legacy_argv(seeded, approle_daemon):
    bao = seeded.bao
    d = approle_daemon({"vault": {"poll_interval_s": 600}})
    d.start()
    for i in range(3):
        new = secrets.token_urlsafe(32)
        p, _ = run_rotate(bao, d, "NPM_TOKEN", new)
        assert p.returncode == 0, p.stderr
        # Reported when the script returns (poll 600 s): notified each time.
        s = d.secrets()["NPM_TOKEN"]
        assert s["fingerprint"] == d.fingerprint(new) and s["version"] == 2 + i, s

    # The old call shape (value in argv) still works, with a warning.
    new = secrets.token_urlsafe(32)
    p, _ = run_rotate(bao, d, "TEST_PYPI_API_TOKEN", new, via_argv=True)
    assert p.returncode == 0, p.stderr
    assert re.search(r"warn|visible|argv|command line", p.stderr, re.I), (
        f"no warning about the value in argv: {p.stderr!r}")
    assert new not in p.stdout + p.stderr, "rotate_secret.sh echoed the value"
    s = d.secrets()["TEST_PYPI_API_TOKEN"]
    assert s["fingerprint"] == d.fingerprint(new) and s["version"] == 5, s
    d.stop()


def test_rotate_secret_fails_clearly(seeded, approle_daemon):
    """A bad Vault token: non-zero exit, a message, nothing written."""
    from aos_fixtures import rotate_env
    bao = seeded.bao
    d = approle_daemon({"vault": {"poll_interval_s": 600}})
    d.start()
    new = secrets.token_urlsafe(32)
    env = rotate_env(bao, d, token=secrets.token_urlsafe(24))
    p, _ = run_rotate(bao, d, "PYPI_API_TOKEN", new, env=env)
    assert p.returncode != 0, "rotate_secret.sh succeeded with a bad token"
    assert p.stderr.strip(), "no error message"
    assert new not in p.stdout + p.stderr
    assert bao.kv_metadata(seeded.kv_path)["current_version"] == 1
    assert d.secrets()["PYPI_API_TOKEN"]["version"] == 1
    d.stop()


def test_poll_picks_up_direct_change(seeded, approle_daemon):
    """Written straight to Vault without telling the daemon: the poll (2 s
    here) picks it up.  The bound is generous (a loaded machine); it is far
    below the default interval, and nothing else tells the daemon."""
    bao = seeded.bao
    d = approle_daemon({"vault": {"poll_interval_s": 2}})
    d.start()
    secrets_match(d, seeded.values)
    for round_ in range(2):
        new = secrets.token_urlsafe(32)
        version = bao.kv_patch(seeded.kv_path, {"NPM_TOKEN": new})
        wait_for(lambda: d.secrets()["NPM_TOKEN"]["version"] == version, 30,
                 what=lambda: f"round {round_}: NPM_TOKEN version {version} (poll 2 s): "
                              f"{d.secrets()}")
        s = d.secrets()["NPM_TOKEN"]
        assert s["fingerprint"] == d.fingerprint(new), s


def _poll_requests(d) -> int:
    """Vault requests other than logins and renewals: the polls' reads."""
    v = d.status()["vault"]
    return v["requests"] - v["logins"] - v["renewals"]


def test_poll_fetches_data_only_on_change(seeded, approle_daemon):
    """Polls read only the metadata while current_version is unchanged: one
    request per poll, not two.  Polls are at least 0.9 s apart (1 s -10 %
    jitter; a timer never fires early), so N requests made within T seconds
    are at most T / 0.9 + 2 polls' worth: two reads per poll would exceed it.
    The test waits for the requests, not for a time; a slow machine only
    makes the bound looser, never wrong."""
    d = approle_daemon({"vault": {"poll_interval_s": 1}})
    d.start()
    want = 6
    n0 = _poll_requests(d)
    t0 = time.monotonic()
    n1 = wait_for(lambda: (lambda n: n if n - n0 >= want else 0)(_poll_requests(d)), 60,
                  what=lambda: f"{want} poll requests: {d.status()['vault']}")
    took = time.monotonic() - t0
    polls_max = int(took / 0.9) + 2
    assert n1 - n0 <= polls_max, (
        f"{n1 - n0} Vault requests in {took:.1f} s with poll_interval_s=1 and no change: "
        f"at most {polls_max} polls fit, one metadata read each")
    d.stop()


def test_secrets_refresh_command(seeded, approle_daemon):
    bao = seeded.bao
    d = approle_daemon({"vault": {"poll_interval_s": 600}})
    d.start()
    r = d.refresh()
    assert r.rc == 0 and r.json["ok"] is True, r
    assert r.json["changed"] == [] and r.json["kv_version"] == 1, r.json

    new = secrets.token_urlsafe(32)
    version = bao.kv_patch(seeded.kv_path, {"NPM_TOKEN": new})
    r = d.refresh()
    assert r.rc == 0 and r.json["ok"] is True, r
    assert r.json["changed"] == ["NPM_TOKEN"] and r.json["kv_version"] == version, r.json
    got = {s["key"]: s for s in r.json["secrets"]}
    assert got["NPM_TOKEN"]["fingerprint"] == d.fingerprint(new), got
    # Human form works too.
    r = d.ctl("secrets", "refresh")
    assert r.rc == 0, r
    d.stop()


def test_sighup_refreshes_secrets(seeded, approle_daemon):
    bao = seeded.bao
    d = approle_daemon({"vault": {"poll_interval_s": 600}})
    d.start()
    new = secrets.token_urlsafe(32)
    version = bao.kv_patch(seeded.kv_path, {"TEST_PYPI_API_TOKEN": new})
    d.signal(signal.SIGHUP)
    wait_for(lambda: d.secrets()["TEST_PYPI_API_TOKEN"]["version"] == version, 3,
             what=lambda: f"TEST_PYPI_API_TOKEN v{version} after SIGHUP: {d.secrets()}")
    assert d.secrets()["TEST_PYPI_API_TOKEN"]["fingerprint"] == d.fingerprint(new)
    assert all(d.secrets()[k]["present"] for k in DEFAULT_KEYS)
    d.stop()
