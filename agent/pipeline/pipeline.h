/* pipeline.h - from a webhook request to a pipeline job: the decision of
 * what to answer (verify, parse, match a pipeline) and the job to enqueue.
 * No I/O, no logging: the listener (ingest.c) and the fuzz target call it. */
#ifndef AOS_PIPELINE_H
#define AOS_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "base/httpreq.h"
#include "config/config.h"
#include "pipeline/webhook.h"
#include "queue/queue.h"
#include "vault/store.h"

struct hook_decision {
	int status;	/* 0: enqueue the job, then answer; else answer this */
	char text[512]; /* the error (4xx, 5xx) or the ignored reason (200) */
	bool ping;
	bool previous_secret; /* verified with the secret before a rotation */
	bool trusted;	      /* pipeline_decide_head: the headers authenticate
			       * the sender (GitLab's token) */
	long retry_after;     /* seconds for a 503, else -1 */
	/* for status 0: */
	const struct pipeline_cfg *pipeline;
	struct webhook_event ev;
	char tag[WEBHOOK_NAME_MAX];
	char version[128];
};

/* Decides what request r (a POST to the webhook path) gets, with the
 * webhook secrets in st.  Never fails: every outcome is a status. */
void pipeline_decide(const struct config *cfg, struct secret_store *st,
		     const struct http_request *r, struct hook_decision *ret);

/* As pipeline_decide, also accepting a signature made with prev[forge]
 * (the webhook secret before its last rotation, or NULL) when the current
 * secret does not match. */
void pipeline_decide_prev(const struct config *cfg, struct secret_store *st,
			  struct secret *const prev[FORGE__COUNT],
			  const struct http_request *r, struct hook_decision *ret);

/* The part of pipeline_decide_prev() that needs only r's headers (r->body
 * is not read): the forge, whether it is configured, its secret, the
 * signature header's form, and GitLab's token, which is the secret itself.
 * status 0: read the body (trusted: GitLab's token matched, the current or
 * the previous one); else answer status now.  pipeline_decide_prev() checks
 * all of this again, the same way. */
void pipeline_decide_head(const struct config *cfg, struct secret_store *st,
			  struct secret *const prev[FORGE__COUNT],
			  const struct http_request *r, struct hook_decision *d);

/* True if tag matches pattern (one '*'); the text the '*' matched goes to
 * ver (must be a version: starts with a digit, [A-Za-z0-9.+!_-]). */
bool pipeline_tag_version(const char *pattern, const char *tag, char *ver, size_t verlen);

/* True if tag is a name the daemon accepts in a git refspec. */
bool pipeline_tag_ok(const char *tag);

/* Replaces the user info of a URL in place with "***" (user:pw@host
 * becomes ***@host), so it can be shown or stored. */
void pipeline_mask_url(char *url);

/* A pipeline job, ready for queue enqueue(). */
struct pipeline_job {
	char idem_key[JOB_KEY_MAX];
	char registry[128];
	char *inputs;	   /* JSON, owned: pipeline_job_clear() */
	struct job_new jn; /* points into this struct and p */
};

/* Fills *ret for pipeline p at tag/version/commit; forge and delivery may be
 * "" (reconcile).  The idempotency key is "pipeline:NAME:TAG@COMMIT" (hashed
 * when that is too long), the same for a webhook and a reconcile.  The
 * inputs keep p's dist_tag and prerelease_dist_tag (the job's npm rule) and
 * dist_tags, the decisions made before queueing (dist_tag_check_json), when
 * not NULL.  Returns 0 or -ENOMEM. */
int pipeline_job_init(struct pipeline_job *ret, const struct pipeline_cfg *p,
		      const char *tag, const char *version, const char *commit,
		      const char *forge, const char *delivery, int max_attempts,
		      const cJSON *dist_tags);
void pipeline_job_clear(struct pipeline_job *j);

#endif
