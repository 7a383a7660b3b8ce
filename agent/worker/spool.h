/* spool.h - taking a client's files: each arrives as an open descriptor
 * (the daemon never opens a client's path), is checked with fstat (a
 * regular file within publish.max_file_bytes) and copied into the spool,
 * and the copy is inspected.  Then the job is committed (the client gets
 * its id only after the commit), or, for a dry run, the copies are shown
 * and removed.  A later change to the client's file cannot change the job. */
#ifndef AOS_SPOOL_H
#define AOS_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "publish/publish.h"

struct control_conn;
struct queue;
struct worker;

/* What the spool uses of the daemon, copied by spool_enqueue(); what it
 * points to must outlive every request. */
struct spool_env {
	struct publish_env pub;
	struct queue *queue;          /* where the job is committed */
	struct worker *const *worker; /* kicked after a commit (the daemon's) */
	const bool *stopping;         /* the daemon is stopping: queue nothing */
};

struct spool_request {
	const char *registry;
	const char *tag;      /* or NULL */
	const char *version;  /* expected version, or NULL */
	const char *idem_key; /* or NULL: the registry, digests, tag and a nonce */
	bool wait;            /* follow the job to its end, with follow: */
	/* called once the job is committed, c told "queued": c follows job id
	 * from then on (daemon/follow.c).  Returns 0, or a negative code
	 * (c not answered). */
	int (*follow)(void *data, struct control_conn *c, int64_t id);
	void *follow_data;
	bool dry_run;         /* inspect and show the plan; nothing is queued */
	const char *const *names; /* the files' base names, as the client sent them */
	int *fds;             /* one open descriptor per name */
	size_t nfiles;
	uid_t uid;            /* who asked (recorded with the job) */
	pid_t pid;
};

/* Starts taking r's files for the client c; answers c when the job is
 * committed (or refused), or with the dry run's events and result.  The
 * descriptors are the spool's from now on (closed in every case).  Returns
 * 0, or a negative code with msg set (nothing started, nothing answered). */
int spool_enqueue(const struct spool_env *env, struct control_conn *c,
		  const struct spool_request *r, char *msg, size_t msglen);

/* Copies the regular file open as in (read from offset 0, at most max
 * bytes) to dst (created 0640, must not exist), fsync'ed, with its SHA-256
 * in sha (hex).  label names the file in messages.  Returns 0 or a negative
 * code with msg set; *ret_theirs says whether the file was at fault (not a
 * regular file, too large, unreadable) rather than the spool. */
int spool_copy_fd(int in, const char *label, const char *dst, uint64_t max, char sha[65],
		  bool *ret_theirs, char *msg, size_t msglen);

#endif
