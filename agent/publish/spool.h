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

#include <cjson/cJSON.h>

#include "publish/publish.h"

struct artifact;
struct artifact_options;
struct job_new;
struct queue;
struct spool_op;

/* What the spool uses of the daemon, copied by spool_enqueue(); what it
 * points to must outlive every request. */
struct spool_env {
	struct publish_env pub;
	struct queue *queue;  /* where the job is committed */
	const bool *stopping; /* the daemon is stopping: queue nothing */
	/* Called after each commit, listened to or not (the daemon looks for
	 * due jobs); may be NULL. */
	void (*committed)(void *data);
	void *committed_data;
	/* Commits a job off the loop (the daemon's writer), or NULL: on the
	 * loop with queue->ops->enqueue.  It keeps jn (valid until done) and
	 * calls done(op, result, id) later, on the loop, result and id as
	 * enqueue()'s; it returns 0, or a negative code without calling done. */
	int (*commit)(void *data, const struct job_new *jn, int64_t now_ms,
		      void (*done)(void *op, int result, int64_t id), void *op);
	void *commit_data;
};

/* How the spool reports on one request (it never talks to a client).
 * Exactly one of committed, refused and dry_run_started is called, once,
 * unless spool_forget() came first. */
struct spool_hooks {
	/* The job was written: result 0 (a new job) or AOS_EEXIST (the job
	 * of the same idempotency key), its id and key.  spool_env.committed
	 * (the worker's kick) runs right after this returns, so a listener
	 * that starts following the job here misses none of its events. */
	void (*committed)(void *data, int result, int64_t id, const char *idem_key);
	/* Nothing was queued: out is OUT_INVALID (the files are at fault),
	 * OUT_UNAVAILABLE (the spool's or the queue's file system is full:
	 * retry when space is freed; or the commit was refused -EBUSY: retry
	 * in a moment) or OUT_ERROR (the daemon or its queue
	 * otherwise), error says what and why. */
	void (*refused)(void *data, enum pub_outcome out, const char *error);
	/* A dry run's publish started: it reports through dry_run below (its
	 * own data pointer); the listener calls publish_abort(op) if it goes
	 * away before dry_run.finished. */
	void (*dry_run_started)(void *data, struct publish_op *op);
	struct publish_hooks dry_run;
	void *data;
};

struct spool_request {
	const char *registry;
	const char *tag;	  /* or NULL */
	const char *version;	  /* expected version, or NULL */
	const char *idem_key;	  /* or NULL: the registry, digests, tag and a nonce */
	bool dry_run;		  /* inspect and show the plan; nothing is queued */
	const char *const *names; /* the files' base names, as the client sent them */
	int *fds;		  /* one open descriptor per name */
	size_t nfiles;		  /* 1 to PUBLISH_MAX_FILES */
	uid_t uid;		  /* who asked (recorded with the job) */
	pid_t pid;
	const struct spool_hooks *hooks; /* copied */
};

/* Starts taking r's files; reports through r->hooks when the job is
 * committed (or refused), or when a dry run's publish starts.  The
 * descriptors are the spool's from now on (closed in every case).  Returns
 * 0 and *ret_op (valid until a hook is called), or a negative code with
 * msg set (nothing started, no hook called). */
int spool_enqueue(const struct spool_env *env, const struct spool_request *r,
		  struct spool_op **ret_op, char *msg, size_t msglen);

/* The listener of op went away: no hook is called any more.  The request
 * still goes on (a job is still committed: acknowledged or not; a dry run
 * is not started). */
void spool_forget(struct spool_op *op);

/* Copies the regular file open as in (read from offset 0, at most max
 * bytes) to dst (created 0640, must not exist), fsync'ed, and inspects it
 * in the same pass (artifact_inspect_source(): every digest its registry
 * needs, the metadata, opts' checks): each byte is read once.  label names
 * the file in messages.  Returns 0 and *ret_art (the copy's artifact, to
 * artifact_free), or a negative code with msg set; *ret_theirs says
 * whether the file was at fault (not a regular file, too large,
 * unreadable, not a valid artifact: a PUB_E* code) rather than the spool
 * or the daemon (a write or fsync of the copy, a digest that failed, no
 * memory). */
int spool_take_fd(int in, const char *label, const char *dst, uint64_t max,
		  const struct artifact_options *opts, struct artifact **ret_art,
		  bool *ret_theirs, char *msg, size_t msglen);

/* Adds record (artifact_record(), or NULL: nothing) to a job's inputs
 * entry for one file as its "artifact" object: the digests and metadata
 * the upload uses instead of reading the file again. */
void spool_add_record(cJSON *file, const char *record);

/* Drops the metadata of every file's record in a job's inputs "files"
 * array (inputs over JOB_INPUTS_MAX): those uploads inspect again. */
void spool_trim_records(cJSON *files);

#endif
