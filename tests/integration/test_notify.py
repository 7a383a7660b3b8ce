"""The systemd notify protocol on a real datagram socket (NOTIFY_SOCKET):
READY=1 only once secrets are loaded, STATUS= lines, RELOADING=1/READY=1 on
SIGHUP, STOPPING=1 on SIGTERM, WATCHDOG=1 from a timer."""

import re
import signal
import time

import pytest

from aos_fixtures import DEFAULT_KEYS, secrets_match, wait_for


def _check_snapshot(d, values):
    snap = d.secrets_at_ready
    assert snap is not None, "no `secrets --json` snapshot was taken at READY=1"
    assert snap.rc == 0, f"secrets at READY=1 failed: {snap}"
    got = {s["key"]: s for s in snap.json["secrets"]}
    for k in DEFAULT_KEYS:
        assert got.get(k, {}).get("present") is True, f"{k} not loaded at READY=1: {got}"
        assert got[k]["fingerprint"] == d.fingerprint(values[k]), got[k]


def test_ready_after_secrets_and_status_lines(seeded, approle_daemon):
    d = approle_daemon()
    d.start()
    _check_snapshot(d, seeded.values)
    lines = d.notify.lines()
    i_ready = lines.index("READY=1")
    assert any(ln.startswith("STATUS=") and len(ln) > 7 for ln in lines), (
        f"no STATUS= line: {lines}")
    assert "STOPPING=1" not in lines[:i_ready]
    n = d.notify.count()
    d.stop()
    assert d.notify.wait_line("STOPPING=1", start=n, timeout=2), (
        f"no STOPPING=1 on SIGTERM: {d.notify.lines(n)}")


def test_ready_waits_for_vault(gated_seeded, gated_approle_daemon):
    """Started while Vault is down: no READY=1 until the secrets are loaded."""
    seeded = gated_seeded
    bao = seeded.bao
    d = gated_approle_daemon({"vault": {"backoff_min_ms": 200, "backoff_max_ms": 1000}})
    bao.stop()
    d.start(wait_ready=False)

    def failed_twice():
        r = d.ctl("status", json_out=True)
        v = r.json.get("vault", {}) if isinstance(r.json, dict) else {}
        return r.json if v.get("consecutive_failures", 0) >= 2 else None
    # Two failed attempts (a retry after a backoff): still no READY=1.
    wait_for(failed_twice, 30, what=lambda: f"two failed Vault attempts:\n{d.log_tail()}")
    assert "READY=1" not in d.notify.lines(), f"READY=1 without secrets: {d.notify.lines()}"
    st = d.assert_answers()
    assert st["state"] in ("starting", "degraded"), st
    assert not any(s.get("present") for s in st.get("secrets", [])), st
    assert any(ln.startswith("STATUS=") for ln in d.notify.lines()), (
        f"no STATUS= line while waiting for Vault: {d.notify.lines()}")

    bao.start()  # re-seeded before it accepts connections
    d.wait_ready(timeout=30)
    _check_snapshot(d, seeded.values)
    assert d.status()["state"] == "ready"
    d.stop()


def test_reload_notifications(seeded, approle_daemon):
    d = approle_daemon()
    d.start()
    n = d.notify.count()
    d.reload()  # asserts RELOADING=1 then READY=1
    lines = d.notify.lines(n)
    assert lines.index("RELOADING=1") < len(lines) - 1 - lines[::-1].index("READY=1"), lines
    secrets_match(d, seeded.values)
    assert d.status()["state"] == "ready"
    # A second reload works the same way.
    d.reload()
    d.stop()


def test_stopping_on_sigint(seeded, approle_daemon):
    d = approle_daemon()
    d.start()
    n = d.notify.count()
    d.signal(signal.SIGINT)
    assert d.notify.wait_line("STOPPING=1", start=n, timeout=5), d.notify.lines(n)
    d.proc.wait(10)
    assert d.proc.returncode == 0, f"SIGINT exit code {d.proc.returncode}\n{d.log_tail()}"
    d.exit_checked = True


def _watchdog_times(d, start, count):
    """The arrival times of the first `count` WATCHDOG=1 from message start
    on (waited for with a generous bound)."""
    def times():
        with d.notify.cond:
            msgs = list(d.notify.messages[start:])
        t = [t for t, text in msgs if "WATCHDOG=1" in text.split("\n")]
        return t if len(t) >= count else None
    return wait_for(times, 30, what=lambda: f"{count} WATCHDOG=1: {d.notify.lines(start)}")


@pytest.mark.parametrize("pid_mode", ["unset", "self"])
def test_watchdog(seeded, approle_daemon, pid_mode):
    """WATCHDOG_USEC=1000000: the daemon pings at half the interval.  The
    interval is read from its log line; the pings are counted, not timed,
    except that the closest two must be nearer than the watchdog interval
    (a timer never fires early, so a daemon pinging every 1 s or slower
    cannot produce that; a loaded machine only widens the other gaps)."""
    d = approle_daemon()
    env = {"WATCHDOG_USEC": "1000000"}
    prefix = None
    if pid_mode == "self":
        # The shell's pid is the daemon's after exec.
        prefix = ["/bin/sh", "-c", 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$0" "$@"']
    d.start(env=env, argv_prefix=prefix)
    every = int(d.wait_log(r"systemd watchdog every (\d+) ms").group(1))
    assert 0 < every <= 500, f"watchdog pings every {every} ms with WATCHDOG_USEC=1000000"
    n = d.notify.count()
    times = _watchdog_times(d, n, 4)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) < 1.0, f"no two WATCHDOG=1 pings within the 1 s watchdog: {gaps}"
    d.stop()


def test_no_watchdog_for_other_pid(seeded, approle_daemon):
    """WATCHDOG_PID naming another process: the watchdog is not ours."""
    d = approle_daemon()
    d.start(env={"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    n = d.notify.count()
    # Nothing must happen: this sleep is a lower bound only (three ping
    # intervals of an enabled watchdog), there is no event to wait for.
    time.sleep(1.5)
    with d.notify.cond:
        msgs = list(d.notify.messages[n:])
    assert not [t for t, text in msgs if "WATCHDOG=1" in text.split("\n")], (
        "WATCHDOG=1 sent although WATCHDOG_PID names another process")
    assert not re.search(r"systemd watchdog every", d.log_text()), d.log_tail()
    d.stop()
