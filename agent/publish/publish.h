/* publish.h - publishing files to a configured registry: inspect every
 * file (on the thread pool), then upload them in order with the registry's
 * token from the secret store, and settle every answer a registry can give.
 * A publish never talks to a client: it reports through its hooks (events,
 * each file's outcome, the end), and its caller (daemon/ for a client, the
 * worker for a job) decides who hears of it. */
#ifndef AOS_PUBLISH_H
#define AOS_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "common/outcome.h"

struct config;
struct publish_op;
struct transport;
struct vault_session;

/* What a publish (and a dist-tag check) uses of the daemon: the loop, the
 * transport, the Vault session (its secret store holds the tokens) and the
 * configuration.  The caller keeps it alive as long as anything it started
 * runs; cfg points at the daemon's current configuration, which a reload
 * replaces (*cfg is read when needed, never kept). */
struct publish_env {
	uv_loop_t *loop;
	struct transport *tp;
	struct vault_session *session;
	struct config *const *cfg;
};

/* How a publish reports: to a client (daemon/, a dry run) or to a queued
 * job (worker/).  Every hook may be NULL; none runs after publish_abort(). */
struct publish_hooks {
	/* File i is about to be sent: 0 sends it, a negative return stops
	 * the publish (the job's lease was lost), PUBLISH_SEND_LATER holds
	 * the send until the caller answers with publish_send_ready(). */
	int (*sending)(void *data, size_t i);
	/* File i ended with out (message names the file). */
	void (*file_done)(void *data, size_t i, enum pub_outcome out,
			  const char *message);
	/* The publish ended: the overall outcome, the first failure's message
	 * (NULL on success), the registry's Retry-After in seconds (-1 if
	 * none) and the answer a client gets ({ok, outcome, registry, error,
	 * results}; stays publish's).  The op is freed right after. */
	void (*finished)(void *data, enum pub_outcome overall, const char *error,
			 long retry_after_s, const cJSON *answer);
	/* Every event line a client would see (inspected, progress, plan,
	 * result); ev stays publish's. */
	void (*event)(void *data, const cJSON *ev);
	/* True when the listener is behind: the next progress event is
	 * skipped (never a result). */
	bool (*behind)(void *data);
	void *data;
};

struct publish_request {
	const char *registry;	      /* a name under "registries" */
	const char *tag;	      /* npm dist-tag named explicitly, or NULL */
	const char *tag_given_by;     /* how tag was named, for messages ("--tag") */
	const char *prerelease_tag;   /* npm: a prerelease's default tag, or NULL
				       * (derived from the version: npm_dist_tag) */
	const char *expected_version; /* or NULL */
	bool dry_run;		      /* inspect and show, use no token */
	const char *const *files;     /* absolute paths */
	const char *const *records;   /* or NULL: per file, its artifact_record()
					 from the spool, or NULL: then the file is
					 inspected (read) again */
	const char *const *labels;    /* or NULL: per file, the name events and
					 answers give it (else its path) */
	size_t nfiles;
	const bool *probe_first;	   /* per file: an earlier send's outcome is
					      unknown; ask the registry first (or NULL) */
	int max_attempts;		   /* 0: publish.max_attempts */
	const char *remove_dir;		   /* or NULL: a folder holding only the files
					      (copies for a dry run), removed with
					      them when the publish ends */
	const struct publish_hooks *hooks; /* how it reports (copied) */
	/* or NULL: when (uv_now ms, 0: none) to stop sending, read at each
	 * step (transport_req.send_until): the job's lease as the worker
	 * last renewed it; must outlive the publish */
	const uint64_t *send_until;
};

#define PUBLISH_MAX_FILES 64
#define PUBLISH_NAME_MAX 255 /* bytes of a file name sent with publish */

/* Starts a publish reporting through r->hooks; no hook runs before this
 * returns.  Returns 0 and *ret_op (the caller's handle until finished runs
 * or it calls publish_abort), or a negative code with msg set, in which
 * case nothing was started. */
int publish_start(const struct publish_env *env, const struct publish_request *r,
		  struct publish_op **ret_op, char *msg, size_t msglen);

/* The sending hook answered PUBLISH_SEND_LATER (it records the send
 * first, off the loop): rc 0 sends the file now, a negative rc stops the
 * publish as the hook's own negative return would.  Call it once, and not
 * after publish_abort(). */
#define PUBLISH_SEND_LATER 1
void publish_send_ready(struct publish_op *op, int rc);

/* Stops a publish (its client went away, its job's worker stops): no hook
 * runs any more; the transfer is canceled and the op freed. */
void publish_abort(struct publish_op *op);

/* outcome_name(out) (outcome.h): "published", "exists", ... */
const char *publish_outcome_name(enum pub_outcome out);

#endif
