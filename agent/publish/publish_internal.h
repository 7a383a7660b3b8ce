/* publish_internal.h - a publish request's state, shared by publish.c (the
 * upload flow), publish_op.c (what every part uses: the op's end, events,
 * requests, reads of the registry), publish_check.c (npm packuments, the
 * registry's digest) and publish_plan.c (dry-run plans).  publish.c calls
 * the other three, publish_check.c calls publish_plan.c, and all of them
 * call publish_op.c; the flow goes on through op->flow, never by a call
 * back into publish.c. */
#ifndef AOS_PUBLISH_INTERNAL_H
#define AOS_PUBLISH_INTERNAL_H

#include <stdint.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <uv.h>

#include "publish/publish.h"
#include "publishers/answer.h"
#include "publishers/npm.h"
#include "session/session.h"

enum pub_phase {
	PH_IDLE,
	PH_INSPECT, /* on the thread pool */
	PH_PACKUMENT,
	PH_UPLOAD,
	PH_SEND_WAIT, /* the sending hook answered later: publish_send_ready() */
	PH_VERIFY,
	PH_REFRESH, /* waiting for the secret store */
	PH_WAIT,    /* backoff timer */
};

/* What sending a file would do, as a dry run finds out. */
enum plan_effect { PLAN_PUBLISH, PLAN_NOOP, PLAN_CONFLICT };

struct publish_op;

/* How the flow goes on after a read or a check: publish.c's functions, set
 * by publish_start(). */
struct publish_flow {
	/* Uploads the current file (its checks are done). */
	void (*upload)(struct publish_op *op);
	/* Backs off and retries the current file, or gives up after
	 * max_attempts. */
	void (*retry)(struct publish_op *op, long retry_after_s, const char *why);
	/* Records the outcome of the current file and moves on. */
	void (*file_done)(struct publish_op *op, enum pub_outcome out, const char *msg);
};

struct pub_file {
	char *path;
	char *label;  /* how events name the file: publish_request.labels, or path */
	char *record; /* publish_request.records[i], or NULL */
	struct artifact *art;
	int rc;
	enum pub_outcome outcome;
	bool probe;	    /* ask the registry before sending (unknown outcome) */
	const char *access; /* npm: sent as "access" (static, op->access or NULL) */
	char message[1536];
};

struct publish_op {
	struct publish_env env;
	const struct publish_flow *flow;
	bool canceled;
	enum pub_phase phase;
	/* the registry, copied: a reload may free the configuration */
	enum registry_type type;
	char *reg_name, *url, *token_key, *username, *index_url, *access;
	char *tag, *tag_given_by, *prerelease_tag; /* npm_tag_rule's inputs */
	char *expected_version;
	bool dry_run;
	char *remove_dir;	    /* publish_request.remove_dir */
	const uint64_t *send_until; /* publish_request.send_until */
	bool probing;		    /* the current check is a probe before sending */
	/* the registry document being read (publish_check.c) */
	char read_url[ANSWER_URL_MAX];
	unsigned read_hops; /* same-origin redirects followed to reach it */
	enum pub_phase read_phase;
	bool read_npm; /* it is the npm packument */
	transport_cb read_cb;
	int max_attempts;
	long retry_after_s;	    /* the registry's last Retry-After, -1 if none */
	struct publish_hooks hooks; /* all NULL once canceled */
	struct pub_file *files;
	size_t nfiles;
	size_t cur;
	/* the current file */
	unsigned attempt;
	bool auth_retried;
	int64_t key_version_before;
	char auth_reason[800];
	const char *dist_tag; /* decided.name once decided */
	struct npm_tag decided;
	struct secret *token; /* held for the upload in progress */
	struct transport_req *req;
	struct pypi_upload *pu;
	struct npm_publish *np;
	struct curl_slist *hdrs;
	uv_work_t work;
	uv_timer_t timer;
	struct session_waiter waiter;
	uint64_t last_progress_ms;
	curl_off_t last_sent;
};

/* publish_op.c */
/* Reports ev (consumed) through the event hook. */
void publish_send_event(struct publish_op *op, cJSON *ev);
/* Frees op once nothing runs for it (no transfer, no waiter). */
void publish_op_destroy(struct publish_op *op);
/* Drops the previous transfer and makes op->req a new request. */
int publish_new_request(struct publish_op *op);
/* The version of op's token key in the secret store (0 if missing). */
int64_t publish_key_version(struct publish_op *op);
/* Starts a GET of url (an index page, or the npm packument when npm_doc)
 * on the registry, in phase; cb settles the answer.  hops counts the
 * same-origin redirects followed to reach url.  On a failure to start,
 * the file ends "error". */
void publish_read_start(struct publish_op *op, enum pub_phase phase, const char *url,
			bool npm_doc, unsigned hops, transport_cb cb);
/* GETs url (the upload's credentials only on the upload URL's origin);
 * cb settles the answer.  On a failure to start, the file ends "error". */
void publish_get(struct publish_op *op, const char *url, transport_cb cb);
/* The form of the PyPI page req read (its Content-Type), logged with the
 * URL read: which of PEP 691 JSON and PEP 503 HTML the registry gave. */
enum pypi_page_format publish_page_format(struct publish_op *op,
					  struct transport_req *req);
/* Classifies the answer to that GET (or the packument read, the probe)
 * into *ia: what was asked (op->read_url) and answered.  A same-origin
 * redirect is asked again, with the same callback: then returns true and
 * the caller stops.  Cancellation and retries are the caller's. */
bool publish_get_answer(struct publish_op *op, struct transport_req *req, int result,
			struct index_answer *ia);

/* publish_check.c */
/* npm: reads the packument, settles an existing version, picks the
 * dist-tag, then uploads (op->flow->upload). */
void publish_npm_prepare(struct publish_op *op);
/* Decides f's npm dist-tag (op's rule, f's publishConfig.tag, the
 * registry's latest or NULL) into op->decided and op->dist_tag.  Returns 0
 * or PUB_ETAG with err saying why. */
int publish_decide_tag(struct publish_op *op, struct pub_file *f, const char *latest,
		       char *err, size_t errlen);
/* After an "exists" answer: compares the registry's digest with ours. */
void publish_verify_exists(struct publish_op *op);

/* publish_plan.c */
/* The dry-run plan of f: what would be sent, exactly, and what it would do.
 * Returns a "plan" event (the caller owns it). */
cJSON *publish_plan(struct publish_op *op, struct pub_file *f, enum plan_effect would);
/* Shows the current file's plan to the client and settles the file: a dry
 * run, or a conflict.  why: what the registry showed (NULL: nothing). */
void publish_dry_run_done(struct publish_op *op, enum plan_effect would, const char *why);
/* A PyPI dry run: reads the simple index (index_url) to tell a new file
 * from a no-op or a conflict, then publish_dry_run_done(). */
void publish_pypi_dry_run(struct publish_op *op);

#endif
