/* follow.c - clients following a job (follow.h).
 *
 * Every read a follower needs goes to the read queue (a->rq) and goes on
 * from its completion; a follower has at most one read out (`reading`).
 * Something that asks for a read meanwhile (new log lines, the job
 * changed) sets `due`, and the follower reads again once its read is
 * back.  A follower whose client left is freed by the sweep, or by its
 * read's completion once the sweep is closed, never while a read of its
 * is out. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/control.h"
#include "common/err.h"
#include "daemon/agent.h"
#include "daemon/daemon_queue.h"
#include "daemon/follow.h"
#include "queue/queue.h"
#include "queue/queue_async.h"
#include "worker/worker.h"

#define LINES_PER_READ 64
/* A read refused (the read queue busy) is tried again after this long. */
#define RETRY_MS 1000

enum follow_kind {
	FOLLOW_JOB,   /* job.wait, publish --wait: events, then the job's answer */
	FOLLOW_LOG,   /* job.log --follow: log lines, then {"state": "ended"} */
	FOLLOW_LINES, /* job.log: the lines so far, in one answer */
};

struct follower {
	struct agent *a;
	/* NULL once answered or gone: freed by the next sweep (a follower can
	 * go while it is being sent to: control_send() may drop a client that
	 * does not read, and calls its cancel hook at once). */
	struct control_conn *conn;
	int64_t id;
	enum follow_kind kind;
	int64_t after;	 /* FOLLOW_LOG, _LINES: the last line sent */
	bool due;	 /* read again: new log lines, or the job changed */
	bool reading;	 /* a read is out: its completion has f */
	bool started;	 /* the first read answered: the client follows */
	bool ended;	 /* this round's get found the job ended (or gone) */
	cJSON *lines;	 /* FOLLOW_LINES: the answer's array */
	struct job *job; /* FOLLOW_JOB: the ended job, while its uploads are read */
	struct follower *next;
};

static void sweep(uv_timer_t *t);

static bool sweep_closed(const struct agent *a)
{
	return uv_is_closing((const uv_handle_t *)&a->follow_sweep);
}

/* Sweeps (and reads for the due followers) on the next turn of the loop:
 * never inside a completion's loop over the followers. */
static void sweep_soon(struct agent *a)
{
	if (!sweep_closed(a))
		uv_timer_start(&a->follow_sweep, sweep, 0, 0);
}

static void job_drop(struct follower *f)
{
	if (f->job != NULL) {
		job_clear(f->job);
		free(f->job);
		f->job = NULL;
	}
}

static void follower_free(struct follower *f)
{
	cJSON_Delete(f->lines);
	job_drop(f);
	free(f);
}

/* f has no client any more and no read out: freed by the sweep, or now if
 * the sweep is closed (the daemon stops). */
static void settle(struct follower *f)
{
	struct follower **p;

	if (f->conn != NULL || f->reading)
		return;
	if (!sweep_closed(f->a)) {
		sweep_soon(f->a);
		return;
	}
	for (p = &f->a->followers; *p != NULL; p = &(*p)->next) {
		if (*p == f) {
			*p = f->next;
			break;
		}
	}
	follower_free(f);
}

/* f is done: no hook of its connection refers to it any more. */
static void let_go(struct follower *f)
{
	if (f->conn != NULL)
		control_set_cancel(f->conn, NULL, NULL);
	f->conn = NULL;
	settle(f);
}

/* Answers f (and lets it go). */
static void answer(struct follower *f, cJSON *o)
{
	struct control_conn *c = f->conn;

	let_go(f);
	control_reply(c, o);
}

static void answer_error(struct follower *f, const char *msg)
{
	struct control_conn *c = f->conn;

	let_go(f);
	control_reply_error(c, msg);
}

static void follower_gone(struct control_conn *c, void *arg)
{
	struct follower *f = arg;

	(void)c;
	f->conn = NULL;
	settle(f);
}

static struct follower *follower_add(struct agent *a, struct control_conn *c, int64_t id,
				     enum follow_kind kind)
{
	struct follower *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	f->a = a;
	f->conn = c;
	f->id = id;
	f->kind = kind;
	f->next = a->followers;
	a->followers = f;
	control_set_cancel(c, follower_gone, f);
	return f;
}

/* A read for f could not be posted, or failed (rc): before the client
 * follows, or for a one-shot job.log, it is answered at once; a client
 * following already is read for again later. */
static void refused(struct follower *f, int rc)
{
	if (!f->started || f->kind == FOLLOW_LINES) {
		answer_error(f, daemon_queue_refusal(rc));
		return;
	}
	f->due = true;
	if (!sweep_closed(f->a) && !uv_is_active((uv_handle_t *)&f->a->follow_sweep))
		uv_timer_start(&f->a->follow_sweep, sweep, RETRY_MS, 0);
}

/* The completion has f: false when its client left meanwhile (f settled). */
static bool came_back(struct follower *f)
{
	f->reading = false;
	if (f->conn != NULL)
		return true;
	settle(f);
	return false;
}

/* A read for f posted (rc 0) or refused. */
static void posted(struct follower *f, int rc)
{
	if (rc == 0)
		f->reading = true;
	else
		refused(f, rc);
}

static void lines_done(struct queue_async_result *res, void *data);

static void read_lines(struct follower *f)
{
	struct agent *a = f->a;

	posted(f, a->rq != NULL ? queue_async_log_read(a->rq, f->id, f->after,
						       LINES_PER_READ, lines_done, f)
				: -ESHUTDOWN);
}

/* The job's lines after f->after: sent, and read on until the last; then
 * a job that had ended at the get before them is answered. */
static void lines_done(struct queue_async_result *res, void *data)
{
	struct follower *f = data;
	cJSON *o;
	size_t i;

	if (!came_back(f))
		return;
	if (res->rc < 0) {
		refused(f, res->rc);
		return;
	}
	for (i = 0; i < res->n && f->conn != NULL; i++) {
		cJSON *l = cJSON_CreateObject();

		f->after = res->lines[i].id;
		if (f->kind == FOLLOW_LOG)
			cJSON_AddStringToObject(l, "event", "log");
		cJSON_AddNumberToObject(l, "id", (double)res->lines[i].id);
		cJSON_AddNumberToObject(l, "at_ms", (double)res->lines[i].at_ms);
		cJSON_AddStringToObject(l, "text", res->lines[i].text);
		if (f->kind == FOLLOW_LOG)
			control_send(f->conn, l); /* may drop the client */
		else
			cJSON_AddItemToArray(f->lines, l);
	}
	if (f->conn == NULL)
		return; /* dropped while sent to: follower_gone() settled f */
	if (res->n == LINES_PER_READ) {
		read_lines(f);
		return;
	}
	if (f->kind == FOLLOW_LINES) {
		o = cJSON_CreateObject();
		cJSON_AddTrueToObject(o, "ok");
		cJSON_AddItemToObject(o, "lines", f->lines);
		f->lines = NULL;
		answer(f, o);
	} else if (f->ended) {
		o = cJSON_CreateObject();
		cJSON_AddTrueToObject(o, "ok");
		cJSON_AddStringToObject(o, "state", "ended");
		answer(f, o);
	} else if (f->due) {
		sweep_soon(f->a);
	}
}

/* The uploads of f's ended job: its answer (worker_job_answer_of()). */
static void uploads_done(struct queue_async_result *res, void *data)
{
	struct follower *f = data;

	if (!came_back(f))
		return;
	if (res->rc < 0 || f->job == NULL)
		answer_error(f, "cannot read the job's answer now; see aos-publishctl "
				"job show");
	else
		answer(f, worker_job_answer_of(f->job, res->uploads, res->n));
	job_drop(f);
}

/* The job's answer for a job follower once it has ended: job (taken from
 * the get's result) and its uploads, read on the read queue like every
 * read of a follower (a reader's `job wait` puts nothing on the write
 * queue).  The get that found it ended ran after the finish's commit (the
 * worker tells of a change from the write's completion), and so do the
 * uploads' read.  A drain's stop waits for it (follow_answering()). */
static void job_answer(struct follower *f, struct job *job)
{
	int rc;

	job_drop(f);
	f->job = job;
	rc = f->a->rq != NULL ? queue_async_uploads(f->a->rq, f->id, uploads_done, f)
			      : -ESHUTDOWN;
	if (rc < 0)
		job_drop(f);
	posted(f, rc);
}

/* The job read: a job follower is answered if it has ended; a log
 * follower reads the lines next (the get first: a job seen ended has
 * written all its lines, so the lines read after it are the last). */
static void job_done(struct queue_async_result *res, void *data)
{
	struct follower *f = data;
	bool gone = res->rc == AOS_ENOTFOUND;

	if (!came_back(f))
		return;
	if (gone && f->kind == FOLLOW_JOB) {
		answer_error(f, f->started ? "the job vanished from the queue"
					   : "no such job");
		return;
	}
	if (res->rc < 0 && (!gone || !f->started)) {
		refused(f, res->rc);
		return;
	}
	f->started = true;
	f->ended = gone || job_state_ended(res->jobs[0].state);
	if (f->kind != FOLLOW_JOB) {
		read_lines(f);
	} else if (f->ended) {
		job_answer(f, res->jobs); /* f keeps the job */
		res->jobs = NULL;
	} else if (f->due)
		sweep_soon(f->a);
}

static void read_start(struct follower *f)
{
	struct agent *a = f->a;

	f->due = false;
	posted(f,
	       a->rq != NULL ? queue_async_get(a->rq, f->id, job_done, f) : -ESHUTDOWN);
}

static void sweep(uv_timer_t *t)
{
	struct agent *a = t->data;
	struct follower **p = &a->followers, *f;

	for (f = a->followers; f != NULL; f = f->next)
		if (f->conn != NULL && f->due && !f->reading)
			read_start(f);
	while ((f = *p) != NULL) {
		if (f->conn == NULL && !f->reading) {
			*p = f->next;
			follower_free(f);
		} else {
			p = &f->next;
		}
	}
}

/* A follower of kind for c, reading at once; c answered if none. */
static void follow_begin(struct agent *a, struct control_conn *c, int64_t id,
			 enum follow_kind kind)
{
	struct follower *f = follower_add(a, c, id, kind);

	if (f == NULL) {
		control_set_cancel(c, NULL, NULL);
		control_reply_error(c, "out of memory");
		return;
	}
	if (kind == FOLLOW_LINES && (f->lines = cJSON_CreateArray()) == NULL) {
		answer_error(f, "out of memory");
		return;
	}
	read_start(f);
}

void follow_start(struct agent *a, struct control_conn *c, int64_t id)
{
	/* Following before the read: no event the worker sends meanwhile is
	 * missed. */
	follow_begin(a, c, id, FOLLOW_JOB);
}

void follow_log(struct agent *a, struct control_conn *c, int64_t id, bool follow)
{
	follow_begin(a, c, id, follow ? FOLLOW_LOG : FOLLOW_LINES);
}

void follow_job_event(void *data, int64_t id, const cJSON *ev)
{
	struct agent *a = data;
	struct follower *f;

	for (f = a->followers; f != NULL; f = f->next) {
		cJSON *copy;

		if (f->id != id || f->kind != FOLLOW_JOB || f->conn == NULL)
			continue;
		copy = cJSON_Duplicate(ev, true);
		if (copy != NULL)
			control_send(f->conn, copy);
	}
}

/* Marks the followers of job id of kind (or of both following kinds) due. */
/* Marks the followers of job id (0: of every job) due. */
static void mark_due(struct agent *a, int64_t id, bool jobs_too)
{
	struct follower *f;
	bool any = false;

	for (f = a->followers; f != NULL; f = f->next) {
		if ((f->id == id || id == 0) && f->conn != NULL &&
		    (f->kind == FOLLOW_LOG || (jobs_too && f->kind == FOLLOW_JOB))) {
			f->due = true;
			any = true;
		}
	}
	if (any)
		sweep_soon(a);
}

void follow_logged(void *data, int64_t id)
{
	mark_due(data, id, false);
}

void follow_job_changed(void *data, int64_t id)
{
	mark_due(data, id, true); /* a log follower ends with the job too */
}

void follow_queue_changed(struct agent *a)
{
	mark_due(a, 0, true); /* every follower reads again */
}

void follow_init(struct agent *a)
{
	uv_timer_init(&a->loop, &a->follow_sweep);
	a->follow_sweep.data = a;
}

void follow_close(struct agent *a)
{
	struct follower **p = &a->followers, *f;

	if (!sweep_closed(a))
		uv_close((uv_handle_t *)&a->follow_sweep, NULL);
	while ((f = *p) != NULL) {
		if (f->conn != NULL) {
			control_set_cancel(f->conn, NULL, NULL);
			if (f->kind == FOLLOW_JOB)
				control_reply_error(f->conn,
						    "the daemon is stopping; the job "
						    "stays queued (follow it again with "
						    "aos-publishctl job show)");
			f->conn = NULL;
		}
		if (f->reading) { /* freed by its read's completion (settle) */
			p = &f->next;
			continue;
		}
		*p = f->next;
		follower_free(f);
	}
}

bool follow_answering(const struct agent *a)
{
	const struct follower *f;

	/* a job follower told its job changed is read again (due) or being
	 * read (its job, or the ended job's uploads): its answer may be on
	 * the way */
	for (f = a->followers; f != NULL; f = f->next)
		if (f->kind == FOLLOW_JOB && f->conn != NULL && (f->due || f->reading))
			return true;
	return false;
}
