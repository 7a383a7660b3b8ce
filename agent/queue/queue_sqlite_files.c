/* queue_sqlite_files.c - a job's files on the SQLite backend: not kept in
 * the queue.  One host has the queue and the spool on the same disk, so the
 * spool keeps a job's files (agent/publish/spool.c) and the queue names
 * them in the job's inputs; storing them again in the database would only
 * double the writes.  Files in the queue are for hosts sharing one queue
 * (the PostgreSQL backend). */
#include <errno.h>
#include <stdio.h>

#include "queue_sqlite_internal.h"

static const char unsupported[] =
    "the SQLite queue keeps no files: a job's files are in this host's spool";

static void say(char *errbuf, size_t errlen)
{
	if (errbuf != NULL && errlen > 0)
		snprintf(errbuf, errlen, "%s", unsupported);
}

int queue_sqlite__file_put(struct queue *q, int64_t id, int64_t fence, const char *name,
			   const struct queue_file_src *src, int64_t now_ms,
			   struct queue_file_info *ret, char *errbuf, size_t errlen)
{
	(void)q, (void)id, (void)fence, (void)name, (void)src, (void)now_ms, (void)ret;
	say(errbuf, errlen);
	return -ENOTSUP;
}

int queue_sqlite__file_get(struct queue *q, int64_t id, const char *name,
			   const struct queue_file_sink *dst, struct queue_file_info *ret,
			   char *errbuf, size_t errlen)
{
	(void)q, (void)id, (void)name, (void)dst, (void)ret;
	say(errbuf, errlen);
	return -ENOTSUP;
}

int queue_sqlite__files_remove(struct queue *q, int64_t id)
{
	(void)q, (void)id;
	return -ENOTSUP;
}
