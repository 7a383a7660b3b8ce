/* publish.h - publishing files to a configured registry on behalf of a
 * control-socket client: inspect every file (on the thread pool), then
 * upload them in order with the registry's token from the secret store,
 * streaming progress back, and settle every answer a registry can give. */
#ifndef AOS_PUBLISH_H
#define AOS_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

struct agent;
struct control_conn;
struct publish_op;

enum pub_outcome {
	OUT_NONE,
	OUT_PUBLISHED,   /* sent now */
	OUT_EXISTS,      /* already there, identical */
	OUT_CONFLICT,    /* a different file holds the name/version */
	OUT_AUTH,        /* token refused or missing */
	OUT_INVALID,     /* bad artifact or request */
	OUT_REJECTED,    /* the registry refused for good */
	OUT_UNAVAILABLE, /* no usable answer after the tries allowed */
	OUT_ERROR,
	OUT_DRY_RUN,
};

/* For a publish run on behalf of a queued job instead of a client. */
struct publish_hooks {
	/* File i is about to be sent; a negative return stops the publish
	 * (the job's lease was lost). */
	int (*sending)(void *data, size_t i);
	/* File i ended with out (message names the file). */
	void (*file_done)(void *data, size_t i, enum pub_outcome out, const char *message);
	/* The publish ended: the overall outcome, the first failure's message
	 * (NULL on success) and the registry's Retry-After in seconds (-1 if
	 * none).  The op is freed right after. */
	void (*finished)(void *data, enum pub_outcome overall, const char *error,
			 long retry_after_s);
	/* Every event line a client would see (inspected, progress, result);
	 * ev stays the caller's. */
	void (*event)(void *data, const cJSON *ev);
	void *data;
};

struct publish_request {
	const char *registry;         /* a name under "registries" */
	const char *tag;              /* npm dist-tag named explicitly, or NULL */
	const char *tag_given_by;     /* how tag was named, for messages ("--tag") */
	const char *prerelease_tag;   /* npm: a prerelease's default tag, or NULL
				       * (derived from the version: npm_dist_tag) */
	const char *expected_version; /* or NULL */
	bool dry_run;                 /* inspect and show, use no token */
	const char *const *files;     /* absolute paths */
	const char *const *labels;    /* or NULL: per file, the name events and
					 answers give it (else its path) */
	size_t nfiles;
	const bool *probe_first;      /* per file: an earlier send's outcome is
					 unknown; ask the registry first (or NULL) */
	int max_attempts;             /* 0: publish.max_attempts */
	const char *remove_dir;       /* or NULL: a folder holding only the files
					 (copies for a dry run), removed with
					 them when the publish ends */
	const struct publish_hooks *hooks; /* NULL for a client request */
};

#define PUBLISH_MAX_FILES 64

/* Starts a publish answering on c (events, then one final answer), or, with
 * c NULL, reporting through r->hooks.  Returns 0 and *ret_op (may be NULL),
 * or a negative code with msg set, in which case nothing was started. */
int publish_start(struct agent *a, struct control_conn *c,
		  const struct publish_request *r, struct publish_op **ret_op,
		  char *msg, size_t msglen);

/* Stops a publish started with hooks: no hook runs any more; the transfer
 * is canceled and the op freed. */
void publish_abort(struct publish_op *op);

/* "published", "exists", ... */
const char *publish_outcome_name(enum pub_outcome out);

#endif
