"""A queue database the daemon cannot use is refused at start: random bytes,
another program's SQLite database, a schema newer than the program, damaged
pages.  The daemon exits non-zero without becoming ready, says which file
and what to do, and leaves the file exactly as it was."""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from aos_fixtures import PUBLISHD, Notifications
from queue_support import kill, start_again


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused(d, db: Path, must_say, timeout: float = 10.0) -> str:
    """Start d on db, which must be refused: non-zero exit, no READY=1, no
    control socket answering, an error naming the file and every regex in
    must_say; the file unchanged.  Returns the error line."""
    before = _digest(db)
    d.write_config()
    if d.notify is None:
        d.notify = Notifications(d.dir / "notify.sock")
    n = d.notify.count()
    log_start = len(d.log_text())
    with open(d.log_path, "ab") as logf:
        d.proc = subprocess.Popen([str(PUBLISHD), "-c", str(d.config_path)],
                                  stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                  env=d.env(), cwd="/")
    try:
        rc = d.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        d.proc.kill()
        d.proc.wait()
        raise AssertionError(f"the daemon kept running on {db}; log:\n{d.log_tail()}")
    d.exit_checked = True
    log = d.log_text()[log_start:]
    assert rc != 0, f"exit status 0 on a bad database {db}; log:\n{log}"
    assert rc == 78, f"exit status {rc}, expected 78 (EX_CONFIG); log:\n{log}"
    assert "READY=1" not in d.notify.lines(n), f"READY=1 sent: {d.notify.lines(n)}"
    r = d.ctl("status", json_out=True)
    assert r.rc == 3, f"the control socket answered: {r}"
    errs = [ln for ln in log.splitlines() if str(db) in ln]
    assert errs, f"no log line names {db}:\n{log}"
    line = errs[0]
    for rx in must_say:
        assert re.search(rx, line, re.I), f"error line lacks /{rx}/: {line!r}"
    assert _digest(db) == before, f"the daemon changed {db}"
    wal = db.with_name(db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0, f"the daemon wrote {wal}"
    print(f"refused (exit {rc}): {line}")
    return line


@pytest.fixture
def daemon(approle_daemon):
    return approle_daemon()


def _db(d) -> Path:
    return Path(d.config["state_dir"]) / "queue.db"


def test_random_bytes_refused_then_moved_away(daemon):
    db = _db(daemon)
    db.write_bytes(os.urandom(64 * 1024))
    _refused(daemon, db, [r"not an aos-publishd queue database|corrupt|not a database",
                          r"move it away|restore"])
    # Doing what the message says works: the daemon starts on a new file.
    db.rename(db.with_name("queue.db.bad"))
    start_again(daemon)
    assert daemon.ctl_json("jobs")["jobs"] == []
    daemon.stop()


def test_foreign_sqlite_database_refused(daemon):
    db = _db(daemon)
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT)")
    con.execute("INSERT INTO accounts (owner) VALUES ('someone else')")
    con.commit()
    con.close()
    _refused(daemon, db, [r"not an aos-publishd queue database", r"accounts",
                          r"move it away"])
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    assert con.execute("SELECT owner FROM accounts").fetchall() == [("someone else",)]
    assert con.execute("PRAGMA application_id").fetchone()[0] == 0
    con.close()


def test_foreign_application_id_refused(daemon):
    db = _db(daemon)
    con = sqlite3.connect(db)
    con.execute("PRAGMA application_id = 0x12345678")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    _refused(daemon, db, [r"not an aos-publishd queue database", r"0x12345678"])


def test_newer_schema_refused(daemon):
    db = _db(daemon)
    start_again(daemon)  # creates the database
    daemon.stop()
    con = sqlite3.connect(db)
    version = con.execute("PRAGMA user_version").fetchone()[0]
    assert version >= 1, version
    con.execute(f"PRAGMA user_version = {version + 5}")
    con.commit()
    con.close()
    _refused(daemon, db, [r"newer", rf"\b{version + 5}\b", r"upgrade|restore"])


def test_damaged_pages_refused(daemon):
    """A real queue database whose pages were overwritten (a bad disk, a
    partial copy): the header is fine, the b-trees are not."""
    db = _db(daemon)
    start_again(daemon)
    daemon.stop()
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = con.execute("PRAGMA page_size").fetchone()[0]
    con.execute("PRAGMA journal_mode = DELETE")
    con.close()
    data = bytearray(db.read_bytes())
    npages = len(data) // page
    assert npages >= 3, f"{db}: {npages} pages"
    # Keep page 1 (the header and the schema), scribble over every b-tree
    # page header after it.
    for n in range(1, npages):
        off = n * page
        data[off:off + 16] = b"\xee" * 16
    db.write_bytes(bytes(data))
    _refused(daemon, db, [r"corrupt|integrity", r"restore|move it away"])


def _log_since(d, start: int) -> str:
    return d.log_text()[start:]


def test_check_only_after_an_unclean_stop(daemon):
    """The start checks the database (quick_check) after a process died with
    it open, and skips the check after a clean stop: READY=1 in constant
    time however many jobs there are (docs/benchmarks.md)."""
    start_again(daemon)  # a new database: nothing to trust yet
    daemon.stop()
    at = len(daemon.log_text())
    start_again(daemon)
    log = _log_since(daemon, at)
    assert re.search(r"closed cleanly by the last process; integrity check skipped",
                     log), log
    assert kill(daemon) == -9
    at = len(daemon.log_text())
    start_again(daemon)
    log = _log_since(daemon, at)
    assert re.search(r"not closed cleanly by the last process; quick_check passed",
                     log), log
    daemon.stop()


def test_check_queue_on_demand(daemon):
    """aos-publishd --check-queue runs the full integrity check, which sees
    what the start does not look for after a clean stop: an index that does
    not match its table.  Read-only: the file is left as it was."""
    db = _db(daemon)
    start_again(daemon)
    daemon.stop()
    con = sqlite3.connect(db)  # a canceled job with a log line: rows to index
    con.execute("INSERT INTO jobs (kind, state, idem_key, registry, package, "
                "max_attempts, next_run_ms, created_ms, updated_ms) "
                "VALUES (1, 6, 'k', 'r', 'p', 1, 0, 0, 0)")
    con.execute("INSERT INTO job_log (job_id, at_ms, text) VALUES (1, 5, 'x')")
    con.commit()
    con.close()
    cmd = [str(PUBLISHD), "--check-queue", "-c", str(daemon.config_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=daemon.env())
    assert r.returncode == 0, r
    assert f"{db}: integrity check ok" in r.stdout, r
    con = sqlite3.connect(db)
    con.execute("PRAGMA writable_schema = ON")
    con.execute("UPDATE sqlite_master SET sql = 'CREATE INDEX job_log_job ON job_log "
                "(at_ms, id)' WHERE name = 'job_log_job'")
    con.commit()
    con.close()
    before = _digest(db)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=daemon.env())
    assert r.returncode == 1, r
    assert str(db) in r.stderr and "job_log_job" in r.stderr, r
    assert re.search(r"restore it from a backup", r.stderr), r
    assert _digest(db) == before
