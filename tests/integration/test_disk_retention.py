"""Bounded disk, retention: a succeeded job's spooled files go when it ends;
a canceled (or dead) job keeps them for `job retry` until
queue.retention_days after it ended; then `aos-publishctl prune` (and the
daemon's own hourly run, the first a few seconds after the start) removes
the job, its uploads, its log and its spooled files in batches, and
--dry-run shows the same without removing anything.  Status shows what the
queue database, the spool and the work folders take, and GET /metrics has
aos_disk_bytes.

Jobs are made old by moving their updated_ms back in the queue database
(SQLite takes the other writer; the daemon's clock is not touched)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from aos_fixtures import wait_for
from peers.proc import free_port
from publish_support import make_wheel, publish
from queue_support import enqueue, queue_config, start_again

DAY_MS = 24 * 3600 * 1000


@pytest.fixture
def daemon(publish_env):
    port = free_port()
    d = publish_env.daemon(queue_config() | {"metrics": {"address": f"127.0.0.1:{port}"}})
    d.metrics_port = port
    yield d
    d.stop()


def _db(d) -> Path:
    return Path(d.config["state_dir"]) / "queue.db"


def _age(d, ids, days: int) -> None:
    con = sqlite3.connect(_db(d), timeout=10)
    with con:
        con.executemany("UPDATE jobs SET updated_ms = updated_ms - ? WHERE id = ?",
                        [(days * DAY_MS, i) for i in ids])
    con.close()


def _spool_files(d) -> set[str]:
    spool = Path(d.config["state_dir"]) / "spool"
    return {p.name for p in spool.rglob("*") if p.is_file()}


def _exists(d, jid: int) -> bool:
    r = d.ctl("job", "show", jid, json_out=True)
    return r.rc == 0


def _started_prune_done(d) -> dict:
    """The run a few seconds after the start is over (the next is an hour
    away): jobs made old from now on wait for `prune`."""
    return wait_for(lambda: (p := d.status()["disk"]["prune"]).get("at_ms") and p, 30,
                    interval=0.2, what="the prune run after the start")


def _jobs_with_canceled(d, tmp_path: Path, tag: str):
    """A succeeded job and a canceled one (drained, queued, canceled: its
    spooled wheel is kept).  Returns (succeeded id, canceled id, its file)."""
    ok = make_wheel(tmp_path, "disk-ok", f"1.0.{tag}")
    ok_id = publish(d, "pypi", ok).expect(0, "published").final["job_id"]
    d.ctl_json("drain")
    kept = make_wheel(tmp_path, "disk-kept", f"1.0.{tag}")
    canc = enqueue(d, "pypi", kept)
    d.ctl_json("job", "cancel", canc)
    d.ctl_json("resume")
    assert kept.name in _spool_files(d), "a canceled job keeps its files for job retry"
    assert ok.name not in _spool_files(d), "a succeeded job's files go when it ends"
    return ok_id, canc, kept.name


def test_prune_dry_run_then_prune(daemon, tmp_path):
    d = daemon
    _started_prune_done(d)
    ok_id, canc, kept = _jobs_with_canceled(d, tmp_path, "1")
    young = make_wheel(tmp_path, "disk-young", "1.0.1")
    young_id = publish(d, "pypi", young).expect(0, "published").final["job_id"]
    _age(d, [ok_id, canc], 31)

    st = wait_for(lambda: (s := d.status()["disk"]).get("spool_bytes", 0) > 0 and s,
                  15, interval=0.5, what="status disk measured with the spooled file")
    assert st["queue_bytes"] > 0 and st["free_bytes"] > 0, st
    assert st["retention_days"] == 30, st

    dry = d.ctl_json("prune", "--dry-run")
    assert dry["dry_run"] is True, dry
    assert dry["jobs"] == {"succeeded": 1, "dead": 0, "canceled": 1}, dry
    assert dry["spool_files"] == 1 and dry["spool_bytes"] > 0, dry
    assert _exists(d, ok_id) and _exists(d, canc), "a dry run removed jobs"
    assert kept in _spool_files(d), "a dry run removed a spooled file"
    text = d.ctl("prune", "--dry-run")
    assert text.rc == 0 and "Would prune 2 job(s) (1 succeeded, 0 dead, 1 canceled)" \
        in text.out, text

    done = d.ctl_json("prune")
    assert done["dry_run"] is False, done
    assert done["jobs"] == dry["jobs"], (done, dry)
    assert done["spool_bytes"] == dry["spool_bytes"], (done, dry)
    assert not _exists(d, ok_id) and not _exists(d, canc), "pruned jobs still shown"
    assert kept not in _spool_files(d), "the canceled job's spooled file stayed"
    assert _exists(d, young_id), "a job that ended today was pruned"
    con = sqlite3.connect(f"file:{_db(d)}?mode=ro", uri=True)
    left = con.execute("SELECT count(*) FROM uploads WHERE job_id IN (?, ?)",
                       (ok_id, canc)).fetchone()[0]
    left += con.execute("SELECT count(*) FROM job_log WHERE job_id IN (?, ?)",
                        (ok_id, canc)).fetchone()[0]
    con.close()
    assert left == 0, "uploads or log lines of pruned jobs stayed"
    again = d.ctl_json("prune")
    assert again["total_jobs"] == 0, again
    last = d.status()["disk"]["prune"]
    assert last["total_jobs"] == 0 and "at_ms" in last, last


def test_pruned_key_makes_a_new_job(daemon, tmp_path):
    d = daemon
    _started_prune_done(d)
    w = make_wheel(tmp_path, "disk-key", "2.0.0")
    first = enqueue(d, "pypi", w, key="release-2.0.0")
    wait_for(lambda: d.ctl_json("job", "show", first)["job"]["state"] == "succeeded",
             60, interval=0.2, what=f"job {first} succeeded")
    assert enqueue(d, "pypi", w, key="release-2.0.0") == first, "the key is still known"
    _age(d, [first], 40)
    assert d.ctl_json("prune")["jobs"]["succeeded"] == 1
    second = enqueue(d, "pypi", w, key="release-2.0.0")
    assert second > first, "a pruned job's key did not make a new job"


def test_periodic_prune_at_start_and_metrics(daemon, tmp_path):
    d = daemon
    ok_id, canc, kept = _jobs_with_canceled(d, tmp_path, "3")
    d.stop()
    _age(d, [ok_id, canc], 31)
    start_again(d)
    wait_for(lambda: not _exists(d, ok_id) and not _exists(d, canc), 30, interval=0.5,
             what="the daemon's own prune run after the start")
    assert kept not in _spool_files(d)
    last = _started_prune_done(d)
    assert last["jobs"] == {"succeeded": 1, "dead": 0, "canceled": 1}, last
    assert "pruned 2 job(s)" in d.log_text()

    from webhook_support import http
    def scraped():
        body = http(d.metrics_port, "GET", "/metrics").body.decode()
        lines = [ln for ln in body.splitlines() if ln.startswith("aos_disk_bytes{")]
        return len(lines) == 3 and lines
    lines = wait_for(scraped, 15, interval=0.5, what="aos_disk_bytes in /metrics")
    what = {ln.split('"')[1]: float(ln.rsplit(" ", 1)[1]) for ln in lines}
    assert set(what) == {"queue", "spool", "work"}, lines
    assert what["queue"] > 0, lines
    text = d.ctl("status")
    assert text.rc == 0 and "Disk:       queue " in text.out and "Retention:  30 days" \
        in text.out, text


def test_retention_zero_keeps_everything(publish_env, tmp_path):
    d = publish_env.daemon(queue_config(retention_days=0))
    try:
        r = d.ctl("prune", json_out=True)
        assert r.rc == 1 and "retention_days is 0" in r.json["error"], r
        assert d.status()["disk"]["retention_days"] == 0
    finally:
        d.stop()
