/* queue_check.c - what every queue backend shares (queue_internal.h): the
 * argument checks and the wording of the log lines. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/hex.h"
#include "queue_internal.h"

int queue__check_str(const char *s, size_t max)
{
	if (s == NULL || s[0] == '\0')
		return -EINVAL;
	return strnlen(s, max) < max ? 0 : AOS_ETOOBIG;
}

int queue__check_inputs(const char *inputs)
{
	return inputs != NULL && strnlen(inputs, JOB_INPUTS_MAX + 1) > JOB_INPUTS_MAX
		   ? AOS_ETOOBIG
		   : 0;
}

/* A digest as the queue stores it: 64 lower-case hex digits. */
static bool is_sha256_hex(const char *s, size_t size)
{
	return strnlen(s, size) == AOS_SHA256_HEX_LEN &&
	       aos_is_hex(s, AOS_SHA256_HEX_LEN, true);
}

int queue__check_uploads(const struct job_upload *ups, size_t n)
{
	size_t i, k;
	int r;

	if (n > 0 && ups == NULL)
		return -EINVAL;
	if (n > QUEUE_UPLOADS_MAX)
		return AOS_ETOOBIG;
	for (i = 0; i < n; i++) {
		const struct job_upload *u = &ups[i];

		if ((r = queue__check_str(u->filename, sizeof(u->filename))) < 0)
			return r;
		if (strnlen(u->registry, sizeof(u->registry)) == sizeof(u->registry) ||
		    !is_sha256_hex(u->sha256, sizeof(u->sha256)))
			return -EINVAL;
		/* The same filename twice: refused before anything is written
		 * (in a batch the constraint would leave half a job behind). */
		for (k = 0; k < i; k++)
			if (strcmp(ups[k].filename, u->filename) == 0)
				return -EINVAL;
	}
	return 0;
}

int queue__check_new(const struct job_new *j)
{
	int r;

	if (j == NULL || (j->kind != JOB_PUBLISH && j->kind != JOB_PIPELINE) ||
	    j->max_attempts < 1)
		return -EINVAL;
	if ((r = queue__check_str(j->idem_key, JOB_KEY_MAX)) < 0 ||
	    (r = queue__check_str(j->registry, sizeof(((struct job *)0)->registry))) <
		0 ||
	    (r = queue__check_str(j->package, sizeof(((struct job *)0)->package))) < 0 ||
	    (r = queue__check_inputs(j->inputs)) < 0)
		return r;
	return queue__check_uploads(j->uploads, j->nuploads);
}

size_t queue__list_limit(const struct job_filter *f, size_t max)
{
	size_t limit = f != NULL && f->limit > 0 ? f->limit : QUEUE_LIST_DEFAULT;

	if (limit > max)
		limit = max;
	return limit > INT_MAX ? INT_MAX : limit;
}

int queue__check_claim(const char *owner, int64_t now_ms, int64_t lease_ms,
		       const struct job *ret, size_t *max)
{
	int result = queue__check_str(owner, sizeof(ret->lease_owner));

	if (result < 0)
		return result;
	if (now_ms < 0 || lease_ms <= 0 || lease_ms > INT64_MAX - now_ms ||
	    (*max > 0 && ret == NULL))
		return -EINVAL;
	if (*max > QUEUE_CLAIM_MAX)
		*max = QUEUE_CLAIM_MAX;
	return 0;
}

int queue__check_upload_set(const char *filename, enum upload_state st)
{
	int result =
	    queue__check_str(filename, sizeof(((struct job_upload *)0)->filename));

	if (result < 0)
		return result;
	return st < UPLOAD_PENDING || st > UPLOAD_FAILED ? -EINVAL : 0;
}

struct queue_pick *queue__picks_add(struct queue_picks *p)
{
	struct queue_pick *v;
	size_t cap;

	if (p->n == p->cap) {
		cap = p->cap ? p->cap * 2 : 16;
		v = realloc(p->v, cap * sizeof(*v));
		if (v == NULL)
			return NULL;
		p->v = v;
		p->cap = cap;
	}
	return &p->v[p->n++];
}

static int pick_cmp(const void *a_, const void *b_)
{
	const struct queue_pick *a = a_, *b = b_;

	if (a->due_ms != b->due_ms)
		return a->due_ms < b->due_ms ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

void queue__picks_keep(struct queue_picks *p, size_t max)
{
	if (p->n > 1)
		qsort(p->v, p->n, sizeof(*p->v), pick_cmp);
	if (p->n > max)
		p->n = max;
}

size_t queue__text_len(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (n < max)
		return n;
	n = max - 1;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* "2024-05-01T12:00:00.250Z" */
static void fmt_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms < 0 || gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "%" PRId64 " ms", ms);
		return;
	}
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(ms % 1000));
}

void queue__finish_text(enum job_state st, int64_t next_run_ms, enum pub_outcome out,
			const char *message, char *buf, size_t len)
{
	char when[40], error[JOB_TEXT_MAX];
	const char *sep = message != NULL || out != OUT_NONE ? ": " : "";

	outcome_text(out, message, error, sizeof(error));
	fmt_time(next_run_ms, when, sizeof(when));
	switch (st) {
	case JOB_FAILED:
		snprintf(buf, len, "running -> failed%s%s; next try at %s", sep, error,
			 when);
		break;
	case JOB_QUEUED:
		snprintf(buf, len,
			 "running -> queued (released without counting the attempt%s%s; "
			 "next try at %s)",
			 sep, error, when);
		break;
	default: snprintf(buf, len, "running -> %s%s%s", job_state_name(st), sep, error);
	}
}

const char *queue__outcome_word(enum pub_outcome out)
{
	return out == OUT_NONE ? "" : outcome_name(out);
}

void queue__enqueue_text(const struct job_new *j, char *buf, size_t len)
{
	snprintf(buf, len,
		 "queued (enqueued: %s to %s, package %s, %zu file%s, at most %d "
		 "attempt%s)",
		 j->kind == JOB_PUBLISH ? "publish" : "pipeline", j->registry, j->package,
		 j->nuploads, j->nuploads == 1 ? "" : "s", j->max_attempts,
		 j->max_attempts == 1 ? "" : "s");
}

void queue__artifacts_text(size_t n, char *buf, size_t len)
{
	if (n == 0)
		snprintf(buf, len, "build results recorded (no upload)");
	else
		snprintf(buf, len, "artifacts recorded: %zu upload%s", n,
			 n == 1 ? "" : "s");
}

int queue__claimed(int result, struct job *ret, size_t nret)
{
	size_t i;

	if (result >= 0)
		return (int)nret;
	for (i = 0; i < nret; i++)
		job_clear(&ret[i]);
	return result;
}
