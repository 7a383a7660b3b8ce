/* publish_internal.h - a publish request's state, shared by publish.c (the
 * upload flow) and publish_check.c (reading the registry: npm packuments,
 * PyPI indexes, dry-run plans). */
#ifndef AOS_PUBLISH_INTERNAL_H
#define AOS_PUBLISH_INTERNAL_H

#include <stdint.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <uv.h>

#include "answer.h"
#include "publish/publish.h"
#include "session/session.h"

enum pub_phase {
	PH_IDLE,
	PH_INSPECT, /* on the thread pool */
	PH_PACKUMENT,
	PH_UPLOAD,
	PH_VERIFY,
	PH_REFRESH, /* waiting for the secret store */
	PH_WAIT,    /* backoff timer */
};

struct pub_file {
	char *path;
	char *label;     /* how events name the file: publish_request.labels, or path */
	struct artifact *art;
	int rc;
	enum pub_outcome outcome;
	bool probe;      /* ask the registry before sending (unknown outcome) */
	char message[1536];
};

struct publish_op {
	struct agent *a;
	struct control_conn *conn; /* NULL once the client is gone */
	bool canceled;
	enum pub_phase phase;
	/* the registry, copied: a reload may free the configuration */
	enum registry_type type;
	char *reg_name, *url, *token_key, *username, *index_url, *access;
	char *tag;
	char *expected_version;
	bool dry_run;
	char *remove_dir; /* publish_request.remove_dir */
	bool probing;    /* the current check is a probe before sending */
	int max_attempts;
	long retry_after_s; /* the registry's last Retry-After, -1 if none */
	struct publish_hooks hooks;
	bool has_hooks;
	struct pub_file *files;
	size_t nfiles;
	size_t cur;
	/* the current file */
	unsigned attempt;
	bool auth_retried;
	int64_t key_version_before;
	char auth_reason[800];
	const char *dist_tag;
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

/* publish.c */
void publish_upload(struct publish_op *op);
/* Frees op once nothing runs for it (no transfer, no waiter). */
void publish_op_destroy(struct publish_op *op);
/* Backs off and retries the current file, or gives up after max_attempts. */
void publish_retry(struct publish_op *op, long retry_after_s, const char *why);
/* Drops the previous transfer and makes op->req a new request. */
int publish_new_request(struct publish_op *op);
void publish_timer_cb(uv_timer_t *t);

/* publish_check.c */
/* npm: reads the packument, settles an existing version, picks the
 * dist-tag, then calls publish_upload(). */
void publish_npm_prepare(struct publish_op *op);
/* After an "exists" answer: compares the registry's digest with ours. */
void publish_verify_exists(struct publish_op *op);
/* The dry-run description of what would be sent for f. */
cJSON *publish_plan(struct publish_op *op, struct pub_file *f);
/* The version of op's token key in the secret store (0 if missing). */
int64_t publish_key_version(struct publish_op *op);
/* Records the outcome of the current file and moves on (publish.c). */
void publish_file_done(struct publish_op *op, enum pub_outcome out, const char *msg);

#endif
