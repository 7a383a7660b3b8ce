/* queue_pg.h - the PostgreSQL queue backend: several hosts share one queue.
 *
 * The same contract as queue.h's SQLite backend, across hosts: a job id is
 * returned after the commit; idempotency keys are unique in the database;
 * claims pick rows with FOR UPDATE SKIP LOCKED and keep per-registry limits
 * and one running job per package for all hosts together; every fenced
 * write is checked against the job's row under its row lock.
 *
 * The calls block on the network (libpq's synchronous API): they are not
 * for the daemon's loop thread.  The next step runs every queue call on a
 * database thread (docs/ARCHITECTURE.md, "The queue").
 */
#ifndef AOS_QUEUE_PG_H
#define AOS_QUEUE_PG_H

#include <stddef.h>

#include "queue/queue.h"

/* Connects with a libpq connection string (its search_path decides the
 * schema; the tables are created there) and applies the missing migrations
 * in one transaction under an advisory lock (hosts opening at once wait for
 * each other).  Returns 0 and *ret (closed with (*ret)->ops->close), or
 * AOS_ESCHEMA (a newer schema), AOS_ECORRUPT (tables of another program),
 * -ECONNREFUSED (cannot connect, or the password was refused) or -EIO, with
 * errbuf (always set on failure) saying what is wrong and what to do.  The
 * connection string is never copied into errbuf. */
int queue_pg_open(const char *conninfo, struct queue **ret, char *errbuf, size_t errlen);

/* As queue_pg_open(), with libpq's keyword/value arrays (NULL-terminated;
 * PQconnectdbParams, the database name never expanded as settings): a
 * password passed this way is never written into a string of settings
 * (queue_pg_conn.h builds the arrays).  Neither array is kept. */
int queue_pg_open_params(const char *const *keys, const char *const *values,
			 struct queue **ret, char *errbuf, size_t errlen);

#endif
