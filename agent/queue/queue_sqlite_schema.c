/* queue_sqlite_schema.c - opening the queue database: the file, its identity
 * (application_id, tables, schema version), integrity, pragmas, migrations.
 *
 * A database is ours when its application_id is QUEUE_SQLITE_APP_ID, or when
 * it is empty (a file just created: application_id 0, no tables, version 0).
 * Anything else is refused with a message saying what is wrong and what to
 * do; nothing is written to a file that is not ours.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "queue/queue.h"
#include "queue_sqlite_internal.h"

/* Migration 2: "word: message" -> the word, and the message (one space
 * after the colon dropped), for the words the readers knew. */
#define SPLIT_WORD(c) "substr(" c ", 1, instr(" c ", ':') - 1)"
#define SPLIT_REST(c)                                                                    \
	"CASE WHEN substr(" c ", instr(" c ", ':') + 1, 1) = ' ' THEN substr(" c         \
	", instr(" c ", ':') + 2) ELSE substr(" c ", instr(" c ", ':') + 1) END"
#define OUTCOME_WORDS                                                                    \
	"'published', 'exists', 'conflict', 'auth', 'invalid', 'rejected', "             \
	"'unavailable', 'error'"

/* Migration N (1-based) takes the schema from version N-1 to N.  Never edit
 * a step once released: append a new one. */
static const char *const migrations[] = {
    /* 1: the initial schema.  head = 1 marks the oldest unfinished job of
     * each package (the only one that may run): claims scan the heads in
     * due order per registry instead of every queued job. */
    "CREATE TABLE jobs ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " kind INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 2),"
    " state INTEGER NOT NULL CHECK (state BETWEEN 1 AND 6),"
    " idem_key TEXT NOT NULL UNIQUE,"
    " registry TEXT NOT NULL,"
    " package TEXT NOT NULL,"
    " inputs TEXT,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " max_attempts INTEGER NOT NULL,"
    " next_run_ms INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL,"
    " lease_owner TEXT NOT NULL DEFAULT '',"
    " lease_expires_ms INTEGER NOT NULL DEFAULT 0,"
    " fence INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT NOT NULL DEFAULT '',"
    " wait_reason TEXT NOT NULL DEFAULT '',"
    " head INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX jobs_state ON jobs (state, id);"
    "CREATE INDEX jobs_open ON jobs (package, id) WHERE state IN (1, 2, 4);"
    "CREATE INDEX jobs_heads ON jobs (registry, " QS_DUE_EXPR ") WHERE head = 1;"
    "CREATE INDEX jobs_package_head ON jobs (package) WHERE head = 1;"
    "CREATE INDEX jobs_package_running ON jobs (package, lease_expires_ms) "
    " WHERE state = 2;"
    "CREATE INDEX jobs_registry_running ON jobs (registry, lease_expires_ms) "
    " WHERE state = 2;"
    "CREATE TABLE uploads ("
    " job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,"
    " filename TEXT NOT NULL,"
    " registry TEXT NOT NULL,"
    " sha256 TEXT NOT NULL,"
    " state INTEGER NOT NULL CHECK (state BETWEEN 1 AND 4),"
    " answer TEXT NOT NULL DEFAULT '',"
    " updated_ms INTEGER NOT NULL,"
    " PRIMARY KEY (job_id, filename));"
    "CREATE TABLE job_log ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,"
    " at_ms INTEGER NOT NULL,"
    " text TEXT NOT NULL);"
    "CREATE INDEX job_log_job ON job_log (job_id, id);",
    /* 2: start in constant time.  meta.clean_stop is 1 while no process has
     * the database open since a clean close (the integrity check is skipped
     * then); job_counts holds the jobs per state, kept by triggers, so
     * status reads six rows instead of counting the jobs. */
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO meta (key, value) VALUES ('clean_stop', 0);"
    "CREATE TABLE job_counts (state INTEGER PRIMARY KEY, n INTEGER NOT NULL);"
    "INSERT INTO job_counts (state, n) WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL "
    " SELECT x + 1 FROM s WHERE x < 6) SELECT x, (SELECT count(*) FROM jobs "
    " WHERE state = x) FROM s;"
    "CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN"
    " UPDATE job_counts SET n = n + 1 WHERE state = NEW.state; END;"
    "CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN"
    " UPDATE job_counts SET n = n - 1 WHERE state = OLD.state; END;"
    "CREATE TRIGGER jobs_count_update AFTER UPDATE OF state ON jobs"
    " WHEN NEW.state <> OLD.state BEGIN"
    " UPDATE job_counts SET n = n - 1 WHERE state = OLD.state;"
    " UPDATE job_counts SET n = n + 1 WHERE state = NEW.state; END;",
    /* 3: jobs per kind and state for metrics, from the index alone. */
    "CREATE INDEX jobs_kind_state ON jobs (kind, state);",
    /* 4: outcomes beside their messages.  Until now an upload's answer and
     * a job's last_error began with the outcome's word ("conflict: ...")
     * and readers split it off again; the word moves to its own column
     * and the text keeps the message. */
    "ALTER TABLE uploads ADD COLUMN outcome TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE jobs ADD COLUMN outcome TEXT NOT NULL DEFAULT '';"
    "UPDATE uploads SET outcome = " SPLIT_WORD("answer") ", answer = " SPLIT_REST("answer") " WHERE " SPLIT_WORD(
	"answer") " IN (" OUTCOME_WORDS ");"
		  "UPDATE jobs SET outcome = " SPLIT_WORD("last_error") ", last_error = " SPLIT_REST(
		      "last_error") " WHERE " SPLIT_WORD("last_error") " IN (" OUTCOME_WORDS
								       ");",
    /* 5: the ended jobs (succeeded, dead, canceled) in id order, for the
     * pruning of those past queue.retention_days. */
    "CREATE INDEX jobs_ended ON jobs (id, updated_ms) WHERE state IN (3, 5, 6);",
    /* 6: drains kept in the queue, not in a marker file of the host: the
     * fleet's (host '') and each drained host's, since when. */
    ("CREATE TABLE drains (host TEXT PRIMARY KEY, since_ms INTEGER NOT NULL) "
     "WITHOUT ROWID;"),
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

#define MOVE_AWAY "move it away or point the queue at another file"

int queue_sqlite__schema_version(void)
{
	return NMIGRATIONS;
}

const char *queue_sqlite__migration(int n)
{
	return n >= 1 && n <= NMIGRATIONS ? migrations[n - 1] : NULL;
}

__attribute__((format(printf, 4, 5))) static int fail(char *errbuf, size_t errlen,
						      int result, const char *fmt, ...)
{
	va_list ap;

	if (errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(errbuf, errlen, fmt, ap);
		va_end(ap);
	}
	return result;
}

/* A failed SQLite call while opening: the message names the likely cause. */
static int fail_sqlite(sqlite3 *db, int rc, const char *path, const char *what,
		       char *errbuf, size_t errlen)
{
	switch (rc & 0xff) {
	case SQLITE_NOTADB:
		return fail(errbuf, errlen, AOS_ECORRUPT,
			    "%s: not an aos-publishd queue database (file is not a "
			    "database); " MOVE_AWAY,
			    path);
	case SQLITE_CORRUPT:
		return fail(errbuf, errlen, AOS_ECORRUPT,
			    "%s: the queue database is corrupt (%s while %s); restore it "
			    "from a backup, or move it away to start with an empty queue",
			    path, sqlite3_errmsg(db), what);
	case SQLITE_BUSY:
		return fail(errbuf, errlen, -EBUSY,
			    "%s: the queue database is locked (%s while %s); is another "
			    "aos-publishd using it?",
			    path, sqlite3_errmsg(db), what);
	}
	return fail(errbuf, errlen, queue_sqlite__err(rc), "%s: cannot %s: %s", path,
		    what, sqlite3_errmsg(db));
}

/* Runs a pragma (or query) answering one integer. */
static int query_int(sqlite3 *db, const char *sql, int64_t *ret)
{
	sqlite3_stmt *s = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		goto out;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*ret = sqlite3_column_int64(s, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_ERROR;
	}
out:
	sqlite3_finalize(s);
	return rc;
}

/* Refuses a database that is not ours or is newer than this program. */
static int check_identity(sqlite3 *db, const char *path, char *errbuf, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	int64_t app = 0, version = 0;
	char table[128];
	int rc, result = 0;

	rc = query_int(db, "PRAGMA application_id", &app);
	if (rc != SQLITE_OK)
		return fail_sqlite(db, rc, path, "reading its header", errbuf, errlen);
	rc = query_int(db, "PRAGMA user_version", &version);
	if (rc != SQLITE_OK)
		return fail_sqlite(db, rc, path, "reading its header", errbuf, errlen);

	if (app != 0 && app != QUEUE_SQLITE_APP_ID)
		return fail(errbuf, errlen, AOS_ECORRUPT,
			    "%s: not an aos-publishd queue database (a SQLite database "
			    "with application_id 0x%08x); " MOVE_AWAY,
			    path, (unsigned)(uint32_t)app);
	if (app == QUEUE_SQLITE_APP_ID) {
		if (version > NMIGRATIONS)
			return fail(errbuf, errlen, AOS_ESCHEMA,
				    "%s: written by a newer aos-publishd (schema %lld, "
				    "this program knows %d); upgrade or restore",
				    path, (long long)version, NMIGRATIONS);
		return 0;
	}

	/* application_id 0: only an empty database is ours to set up. */
	rc = sqlite3_prepare_v2(db,
				"SELECT name FROM sqlite_master WHERE type = 'table' "
				"AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' LIMIT 1",
				-1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		queue_sqlite__col_text(s, 0, table, sizeof(table));
		result = fail(errbuf, errlen, AOS_ECORRUPT,
			      "%s: not an aos-publishd queue database (a SQLite database "
			      "of another program, with a table \"%s\"); " MOVE_AWAY,
			      path, table);
	} else if (rc != SQLITE_DONE) {
		result = fail_sqlite(db, rc, path, "reading its tables", errbuf, errlen);
	} else if (version != 0) {
		result = fail(errbuf, errlen, AOS_ECORRUPT,
			      "%s: not an aos-publishd queue database (a SQLite database "
			      "of another program, user_version %lld); " MOVE_AWAY,
			      path, (long long)version);
	}
	sqlite3_finalize(s);
	return result;
}

/* Runs pragma ("PRAGMA integrity_check(10)" or "PRAGMA quick_check(10)"):
 * 0 if it answers "ok", else AOS_ECORRUPT naming the first problem. */
static int check_integrity(sqlite3 *db, const char *pragma, const char *path,
			   char *errbuf, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	char first[512] = "";
	int rc, n = 0, result = 0;

	rc = sqlite3_prepare_v2(db, pragma, -1, &s, NULL);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(s);
		if (rc != SQLITE_ROW)
			break;
		if (n++ == 0)
			queue_sqlite__col_text(s, 0, first, sizeof(first));
	}
	if (rc != SQLITE_DONE)
		result =
		    fail_sqlite(db, rc, path, "checking its integrity", errbuf, errlen);
	else if (n != 1 || strcmp(first, "ok") != 0)
		result =
		    fail(errbuf, errlen, AOS_ECORRUPT,
			 "%s: the queue database failed its integrity check (%s%s); "
			 "restore it from a backup, or move it away to start with an "
			 "empty queue",
			 path, first, n > 1 ? ", ..." : "");
	sqlite3_finalize(s);
	return result;
}

static int set_pragmas(sqlite3 *db, const char *path, char *errbuf, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	char mode[16] = "";
	int rc, result = 0;

	rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		queue_sqlite__col_text(s, 0, mode, sizeof(mode));
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		return fail_sqlite(db, rc, path, "switch to WAL mode", errbuf, errlen);
	if (strcmp(mode, "wal") != 0)
		return fail(errbuf, errlen, -EIO,
			    "%s: cannot switch the queue database to WAL mode (it stays "
			    "in \"%s\"); put it on a local filesystem",
			    path, mode);

	rc = sqlite3_exec(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", NULL,
			  NULL, NULL);
	if (rc != SQLITE_OK)
		result = fail_sqlite(db, rc, path, "set its pragmas", errbuf, errlen);
	return result;
}

/* Applies the missing migrations in one transaction. */
static int migrate(sqlite3 *db, const char *path, char *errbuf, size_t errlen)
{
	char sql[64];
	int64_t version = 0;
	int rc, i, result;

	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return fail_sqlite(db, rc, path, "start the schema migration", errbuf,
				   errlen);
	/* Read again under the write lock: another process may have migrated. */
	rc = query_int(db, "PRAGMA user_version", &version);
	if (rc != SQLITE_OK)
		goto fail;
	if (version > NMIGRATIONS) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return fail(errbuf, errlen, AOS_ESCHEMA,
			    "%s: written by a newer aos-publishd (schema %lld, this "
			    "program knows %d); upgrade or restore",
			    path, (long long)version, NMIGRATIONS);
	}
	for (i = (int)version; i < NMIGRATIONS; i++) {
		rc = sqlite3_exec(db, migrations[i], NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			goto fail;
	}
	if (version < NMIGRATIONS) {
		snprintf(sql, sizeof(sql),
			 "PRAGMA user_version = %d; PRAGMA application_id = %d",
			 NMIGRATIONS, QUEUE_SQLITE_APP_ID);
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			goto fail;
	}
	rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	return 0;
fail:
	result = fail_sqlite(db, rc, path, "apply the schema migrations", errbuf, errlen);
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return result;
}

/* The tables the program uses must be there (a database of ours that lost
 * them was damaged by hand). */
static int check_tables(sqlite3 *db, const char *path, char *errbuf, size_t errlen)
{
	int64_t n = 0;
	int rc;

	rc = query_int(db,
		       "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
		       "AND name IN ('jobs', 'uploads', 'job_log', 'meta', 'job_counts', "
		       "'drains')",
		       &n);
	if (rc != SQLITE_OK)
		return fail_sqlite(db, rc, path, "reading its tables", errbuf, errlen);
	if (n != 6)
		return fail(errbuf, errlen, AOS_ECORRUPT,
			    "%s: the queue database lacks some of its tables; restore it "
			    "from a backup, or move it away to start with an empty queue",
			    path);
	return 0;
}

/* Whether the last process to open the database closed it cleanly
 * (meta.clean_stop, schema 2 on).  A database of schema 1 never was. */
static bool stopped_cleanly(sqlite3 *db)
{
	int64_t version = 0, clean = 0;

	if (query_int(db, "PRAGMA user_version", &version) != SQLITE_OK || version < 2)
		return false;
	return query_int(db, "SELECT value FROM meta WHERE key = 'clean_stop'", &clean) ==
		   SQLITE_OK &&
	       clean == 1;
}

/* After a clean stop nothing is checked (start in constant time); after a
 * crash, a power cut or on a database older than the marker, quick_check
 * (the pages and the records, not the indexes against the tables). */
static int check_if_unclean(sqlite3 *db, const char *path, enum queue_check *ret_check,
			    char *errbuf, size_t errlen)
{
	int64_t version = -1;

	if (query_int(db, "PRAGMA user_version", &version) == SQLITE_OK && version == 0) {
		*ret_check = QUEUE_CHECK_NEW; /* an empty file: nothing in it to check */
		return 0;
	}
	if (stopped_cleanly(db)) {
		*ret_check = QUEUE_CHECK_SKIPPED;
		return 0;
	}
	*ret_check = QUEUE_CHECK_QUICK;
	return check_integrity(db, "PRAGMA quick_check(10)", path, errbuf, errlen);
}

int queue_sqlite__set_clean_stop(sqlite3 *db, bool clean)
{
	return sqlite3_exec(db,
			    clean ? "UPDATE meta SET value = 1 WHERE key = 'clean_stop'"
				  : "UPDATE meta SET value = 0 WHERE key = 'clean_stop'",
			    NULL, NULL, NULL);
}

static int set_clean_stop(sqlite3 *db, const char *path, bool clean, char *errbuf,
			  size_t errlen)
{
	int rc = queue_sqlite__set_clean_stop(db, clean);

	return rc == SQLITE_OK
		   ? 0
		   : fail_sqlite(db, rc, path, "mark it in use", errbuf, errlen);
}

int queue_sqlite_check(const char *path, char *errbuf, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc, result;

	if (errlen > 0)
		errbuf[0] = '\0';
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		result = db != NULL
			     ? fail_sqlite(db, rc, path, "open it", errbuf, errlen)
			     : fail(errbuf, errlen, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	sqlite3_busy_timeout(db, QUEUE_SQLITE_BUSY_MS);
	result = check_identity(db, path, errbuf, errlen);
	if (result == 0)
		result = check_integrity(db, "PRAGMA integrity_check(10)", path, errbuf,
					 errlen);
out:
	sqlite3_close(db);
	return result;
}

/* Creates the file with mode 0600 if missing; refuses what is not a file.
 * An existing file is only stat()ed, never opened: closing a descriptor
 * drops every POSIX lock this process holds on the file, the shared lock of
 * a connection already open on it included (the daemon opens a second
 * connection, the writer's), and then another process closing its own
 * connection believes it is the last one and deletes the WAL under us. */
static int create_file(const char *path, char *errbuf, size_t errlen)
{
	struct stat st;
	int fd;

	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) /* as open(2) would have said */
			return fail(errbuf, errlen, -EISDIR,
				    "%s: cannot open the queue database: %s; check the "
				    "path and its permissions",
				    path, strerror(EISDIR));
		if (!S_ISREG(st.st_mode))
			return fail(errbuf, errlen, AOS_ECORRUPT,
				    "%s: not an aos-publishd queue database (not a "
				    "regular file); " MOVE_AWAY,
				    path);
		return 0;
	}
	if (errno == ENOENT) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NONBLOCK, 0600);
		if (fd >= 0) {
			close(fd); /* a new file: no connection holds a lock on it */
			return 0;
		}
		if (errno == EEXIST) /* made meanwhile by another opener */
			return create_file(path, errbuf, errlen);
	}
	if (errno == ENOENT)
		return fail(errbuf, errlen, -ENOENT,
			    "%s: cannot create the queue database: its directory "
			    "does not exist; create the state directory first",
			    path);
	return fail(errbuf, errlen, -errno,
		    "%s: cannot open the queue database: %s; check the path and "
		    "its permissions",
		    path, strerror(errno));
}

/* Opens a read-write connection to the existing file at path, with the
 * busy timeout and extended result codes.  Returns 0 and *ret_db, or a
 * negative code with errbuf set (nothing to close). */
static int connect(const char *path, sqlite3 **ret_db, char *errbuf, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc, result;

	rc =
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		result = db != NULL
			     ? fail_sqlite(db, rc, path, "open it", errbuf, errlen)
			     : fail(errbuf, errlen, -ENOMEM, "%s: out of memory", path);
		sqlite3_close(db);
		return result;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, QUEUE_SQLITE_BUSY_MS);
	*ret_db = db;
	return 0;
}

int queue_sqlite__open_db(const char *path, sqlite3 **ret_db, enum queue_check *ret_check,
			  char *errbuf, size_t errlen)
{
	sqlite3 *db = NULL;
	int result;

	if (errlen > 0)
		errbuf[0] = '\0';
	result = create_file(path, errbuf, errlen);
	if (result < 0)
		return result;
	result = connect(path, &db, errbuf, errlen);
	if (result < 0)
		return result;
	if ((result = check_identity(db, path, errbuf, errlen)) < 0 ||
	    (result = check_if_unclean(db, path, ret_check, errbuf, errlen)) < 0 ||
	    (result = set_pragmas(db, path, errbuf, errlen)) < 0 ||
	    (result = migrate(db, path, errbuf, errlen)) < 0 ||
	    (result = check_tables(db, path, errbuf, errlen)) < 0 ||
	    (result = set_clean_stop(db, path, false, errbuf, errlen)) < 0)
		goto out;
	*ret_db = db;
	db = NULL; /* transferred */
out:
	sqlite3_close(db);
	return result;
}

/* The first connection's open left the database ours and current: the
 * header says so (two reads of page 1), or this is no further connection. */
static int check_current(sqlite3 *db, const char *path, char *errbuf, size_t errlen)
{
	int64_t app = 0, version = 0;
	int rc;

	rc = query_int(db, "PRAGMA application_id", &app);
	if (rc == SQLITE_OK)
		rc = query_int(db, "PRAGMA user_version", &version);
	if (rc != SQLITE_OK)
		return fail_sqlite(db, rc, path, "reading its header", errbuf, errlen);
	if (app != QUEUE_SQLITE_APP_ID || version != NMIGRATIONS)
		return fail(errbuf, errlen, AOS_ESCHEMA,
			    "%s: not a queue database at schema %d (application_id "
			    "0x%08x, schema %lld): a further connection opens only "
			    "one that the first connection has set up; was it "
			    "replaced while in use?",
			    path, NMIGRATIONS, (unsigned)(uint32_t)app,
			    (long long)version);
	return 0;
}

int queue_sqlite__open_more_db(const char *path, sqlite3 **ret_db, char *errbuf,
			       size_t errlen)
{
	struct stat st;
	sqlite3 *db = NULL;
	int result;

	if (errlen > 0)
		errbuf[0] = '\0';
	if (stat(path, &st) < 0) /* never created here */
		return fail(errbuf, errlen, -errno,
			    "%s: cannot open the queue database: %s; a further "
			    "connection opens only one that the first connection has "
			    "set up; was it moved away while in use?",
			    path, strerror(errno));
	result = connect(path, &db, errbuf, errlen);
	if (result < 0)
		return result;
	if ((result = check_current(db, path, errbuf, errlen)) < 0 ||
	    (result = set_pragmas(db, path, errbuf, errlen)) < 0)
		goto out;
	*ret_db = db;
	db = NULL; /* transferred */
out:
	sqlite3_close(db);
	return result;
}
