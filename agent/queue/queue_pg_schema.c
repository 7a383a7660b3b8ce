/* queue_pg_schema.c - the PostgreSQL queue's schema: versioned migrations
 * applied at open in one transaction under an advisory lock, so that hosts
 * starting at once migrate one after the other and the second finds the
 * work done.  The version is the row of aos_queue_meta; a database with a
 * newer version than this program knows is refused, untouched.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "queue_pg_internal.h"

/* Migration N (1-based) takes the schema from version N-1 to N.  Never edit
 * a step once released: append a new one.  The state numbers are those of
 * enum job_state. */
static const char *const migrations[] = {
    /* 1: the initial schema, as SQLite's: head marks the oldest unfinished
     * job of each package (the only one that may run). */
    "CREATE TABLE aos_jobs ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " kind integer NOT NULL CHECK (kind BETWEEN 1 AND 2),"
    " state integer NOT NULL CHECK (state BETWEEN 1 AND 6),"
    " idem_key text NOT NULL UNIQUE,"
    " registry text NOT NULL,"
    " package text NOT NULL,"
    " inputs text,"
    " attempts integer NOT NULL DEFAULT 0,"
    " max_attempts integer NOT NULL,"
    " next_run_ms bigint NOT NULL,"
    " created_ms bigint NOT NULL,"
    " updated_ms bigint NOT NULL,"
    " lease_owner text NOT NULL DEFAULT '',"
    " lease_expires_ms bigint NOT NULL DEFAULT 0,"
    " fence bigint NOT NULL DEFAULT 0,"
    " last_error text NOT NULL DEFAULT '',"
    " wait_reason text NOT NULL DEFAULT '',"
    " head boolean NOT NULL DEFAULT false);"
    "CREATE INDEX aos_jobs_state ON aos_jobs (state, id);"
    "CREATE INDEX aos_jobs_open ON aos_jobs (package, id) WHERE state IN (1, 2, 4);"
    "CREATE INDEX aos_jobs_heads ON aos_jobs (registry, (" QP_DUE_EXPR ")) WHERE head;"
    "CREATE INDEX aos_jobs_running ON aos_jobs (package, lease_expires_ms) "
    " WHERE state = 2;"
    "CREATE INDEX aos_jobs_registry_running ON aos_jobs (registry, lease_expires_ms) "
    " WHERE state = 2;"
    "CREATE TABLE aos_uploads ("
    " seq bigint GENERATED ALWAYS AS IDENTITY,"
    " job_id bigint NOT NULL REFERENCES aos_jobs (id) ON DELETE CASCADE,"
    " filename text NOT NULL,"
    " registry text NOT NULL,"
    " sha256 text NOT NULL,"
    " state integer NOT NULL CHECK (state BETWEEN 1 AND 4),"
    " answer text NOT NULL DEFAULT '',"
    " updated_ms bigint NOT NULL,"
    " PRIMARY KEY (job_id, filename));"
    "CREATE TABLE aos_job_log ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " job_id bigint NOT NULL REFERENCES aos_jobs (id) ON DELETE CASCADE,"
    " at_ms bigint NOT NULL,"
    " text text NOT NULL);"
    "CREATE INDEX aos_job_log_job ON aos_job_log (job_id, id);",
    /* 2: a wake-up for the other hosts: NOTIFY aos_queue when a job is
     * added or changes state (delivered at commit, once per transaction). */
    "CREATE FUNCTION aos_queue_notify() RETURNS trigger LANGUAGE plpgsql AS "
    "$$BEGIN PERFORM pg_notify('aos_queue', ''); RETURN NULL; END$$;"
    "CREATE TRIGGER aos_jobs_notify AFTER INSERT OR UPDATE OF state ON aos_jobs "
    " FOR EACH STATEMENT EXECUTE FUNCTION aos_queue_notify();",
    /* 3: outcomes beside their messages (as SQLite's migration 4: the
     * outcome's word, '' for none), and the indexes of stats: jobs per kind
     * and state (index-only), the oldest due job (the first entry).  No
     * daemon ever wrote "word: message" texts here (the backend was not
     * wired before outcomes had columns), so nothing is split. */
    "ALTER TABLE aos_uploads ADD COLUMN outcome text NOT NULL DEFAULT '';"
    "ALTER TABLE aos_jobs ADD COLUMN outcome text NOT NULL DEFAULT '';"
    "CREATE INDEX aos_jobs_kind_state ON aos_jobs (kind, state);"
    "CREATE INDEX aos_jobs_due ON aos_jobs (next_run_ms) WHERE state IN (1, 4);",
    /* 4: the ended jobs (succeeded, dead, canceled) in id order, for the
     * pruning of those past queue.retention_days (as SQLite's 5). */
    "CREATE INDEX aos_jobs_ended ON aos_jobs (id, updated_ms) WHERE state IN (3, 5, 6);",
    /* 5: a job's files, in chunks of QUEUE_FILE_CHUNK bytes (seq from 0),
     * gone with their job.  size, chunks and sha256 are set when the last
     * chunk is in, in the same transaction.  Chunks are stored out of line
     * uncompressed (EXTERNAL): wheels and tarballs are compressed already. */
    "CREATE TABLE aos_job_files ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " job_id bigint NOT NULL REFERENCES aos_jobs (id) ON DELETE CASCADE,"
    " name text NOT NULL,"
    " size bigint NOT NULL DEFAULT 0 CHECK (size >= 0),"
    " chunks integer NOT NULL DEFAULT 0 CHECK (chunks >= 0),"
    " sha256 text NOT NULL DEFAULT '',"
    " created_ms bigint NOT NULL,"
    " UNIQUE (job_id, name));"
    "CREATE TABLE aos_file_chunks ("
    " file_id bigint NOT NULL REFERENCES aos_job_files (id) ON DELETE CASCADE,"
    " seq integer NOT NULL CHECK (seq >= 0),"
    " data bytea NOT NULL,"
    " PRIMARY KEY (file_id, seq));"
    "ALTER TABLE aos_file_chunks ALTER COLUMN data SET STORAGE EXTERNAL;",
    /* 6: drains across the fleet: the fleet's (host '') and each drained
     * host's, since when; every claim reads them in its transaction. */
    "CREATE TABLE aos_drains (host text PRIMARY KEY, since_ms bigint NOT NULL);",
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

int queue_pg__schema_version(void)
{
	return NMIGRATIONS;
}

/* Runs sql; on failure writes what into errbuf with the server's message. */
static int run(PGconn *conn, const char *sql, const char *what, PGresult **ret,
	       char *errbuf, size_t errlen)
{
	PGresult *r = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(r);
	int result = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		result = PQstatus(conn) == CONNECTION_OK ? -EIO : -ECONNRESET;
		snprintf(errbuf, errlen, "PostgreSQL queue: cannot %s: %s", what,
			 PQerrorMessage(conn));
		errbuf[strcspn(errbuf, "\n")] = '\0';
		PQclear(r);
		return result;
	}
	return qp__keep(r, ret);
}

/* The version of the schema, 0 for an empty one; AOS_ECORRUPT for tables of
 * ours without a version (another program's, or damaged by hand). */
static int read_version(PGconn *conn, int *ret, char *errbuf, size_t errlen)
{
	PGresult *r = NULL;
	int result;

	result = run(conn,
		     "SELECT (SELECT version FROM aos_queue_meta LIMIT 1), "
		     "to_regclass('aos_jobs') IS NOT NULL, current_schema()",
		     "read the schema version", &r, errbuf, errlen);
	if (result < 0)
		return result;
	*ret = PQgetisnull(r, 0, 0) ? 0 : atoi(PQgetvalue(r, 0, 0));
	if (*ret == 0 && strcmp(PQgetvalue(r, 0, 1), "t") == 0)
		result = AOS_ECORRUPT;
	if (result < 0)
		snprintf(errbuf, errlen,
			 "PostgreSQL queue: schema \"%s\" has a table aos_jobs but no "
			 "aos_queue_meta version: not made by aos-publishd, or damaged; "
			 "point the queue at another schema or database",
			 PQgetvalue(r, 0, 2));
	PQclear(r);
	return result;
}

static int apply(PGconn *conn, int upto, char *errbuf, size_t errlen)
{
	char sql[128];
	int version = 0, i, result;

	result =
	    run(conn,
		"SELECT pg_advisory_xact_lock(hashtext('aos-queue-migrate:' || "
		"current_schema()));"
		"CREATE TABLE IF NOT EXISTS aos_queue_meta (version integer NOT NULL)",
		"lock the schema for its migration", NULL, errbuf, errlen);
	if (result == 0)
		result = read_version(conn, &version, errbuf, errlen);
	if (result < 0)
		return result;
	if (version > NMIGRATIONS) {
		snprintf(errbuf, errlen,
			 "PostgreSQL queue: written by a newer aos-publishd (schema %d, "
			 "this program knows %d); upgrade aos-publishd on this host",
			 version, NMIGRATIONS);
		return AOS_ESCHEMA;
	}
	for (i = version; i < upto && result == 0; i++)
		result = run(conn, migrations[i], "apply the schema migrations", NULL,
			     errbuf, errlen);
	if (result < 0 || version >= upto)
		return result;
	snprintf(sql, sizeof(sql),
		 "DELETE FROM aos_queue_meta; INSERT INTO aos_queue_meta VALUES (%d)",
		 upto);
	return run(conn, sql, "record the schema version", NULL, errbuf, errlen);
}

int queue_pg__migrate(PGconn *conn, int upto, char *errbuf, size_t errlen)
{
	char ignored[8];
	int result;

	if (upto < 1 || upto > NMIGRATIONS)
		return -EINVAL;
	result = run(conn, "BEGIN", "start the schema migration", NULL, errbuf, errlen);
	if (result < 0)
		return result;
	result = apply(conn, upto, errbuf, errlen);
	if (result == 0)
		return run(conn, "COMMIT", "commit the schema migration", NULL, errbuf,
			   errlen);
	run(conn, "ROLLBACK", "roll back", NULL, ignored, sizeof(ignored));
	return result;
}
