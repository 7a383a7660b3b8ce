/* follow.c - clients following a job (follow.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/control.h"
#include "common/err.h"
#include "daemon/agent.h"
#include "daemon/follow.h"
#include "queue/queue.h"
#include "worker/worker.h"

enum follow_kind {
	FOLLOW_JOB, /* job.wait, publish --wait: events, then the job's answer */
	FOLLOW_LOG, /* job.log --follow: log lines, then {"state": "ended"} */
};

struct follower {
	struct agent *a;
	/* NULL once answered or gone: freed by the next sweep (a follower can
	 * go while it is being sent to: control_send() may drop a client that
	 * does not read, and calls its cancel hook at once). */
	struct control_conn *conn;
	int64_t id;
	enum follow_kind kind;
	int64_t after; /* FOLLOW_LOG: the last line sent */
	bool due;      /* FOLLOW_LOG: the queue reported new lines */
	bool ended;    /* FOLLOW_JOB: the job ended, its answer is being read */
	struct follower *next;
};

static void sweep(uv_timer_t *t);

/* Sweeps (and reads the due logs) on the next turn of the loop: never
 * inside the queue's write or under a loop over the followers. */
static void sweep_soon(struct agent *a)
{
	if (!uv_is_closing((uv_handle_t *)&a->follow_sweep))
		uv_timer_start(&a->follow_sweep, sweep, 0, 0);
}

/* f is done: no hook of its connection refers to it any more. */
static void let_go(struct follower *f)
{
	if (f->conn != NULL)
		control_set_cancel(f->conn, NULL, NULL);
	f->conn = NULL;
	sweep_soon(f->a);
}

static void follower_gone(struct control_conn *c, void *arg)
{
	struct follower *f = arg;

	(void)c;
	f->conn = NULL;
	sweep_soon(f->a);
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

/* Whether job id is in the queue (*ret_ended: it has ended). */
static int job_ended(struct agent *a, int64_t id, bool *ret_ended)
{
	struct job job = {0};

	if (a->queue->ops->get(a->queue, id, &job) < 0)
		return AOS_ENOTFOUND;
	*ret_ended = job_state_ended(job.state);
	job_clear(&job);
	return 0;
}

/* Sends the lines of f->id after f->after (as "log" events to f->conn, or
 * into arr); returns true if the job has ended (or is gone). */
static bool send_lines(struct queue *q, struct follower *f, cJSON *arr)
{
	struct job_log_entry lines[64];
	bool over;
	int n, i;

	do {
		n = q->ops->log_read(q, f->id, f->after, lines, 64);
		for (i = 0; i < n && (arr != NULL || f->conn != NULL); i++) {
			cJSON *l = cJSON_CreateObject();

			f->after = lines[i].id;
			if (arr == NULL)
				cJSON_AddStringToObject(l, "event", "log");
			cJSON_AddNumberToObject(l, "id", (double)lines[i].id);
			cJSON_AddNumberToObject(l, "at_ms", (double)lines[i].at_ms);
			cJSON_AddStringToObject(l, "text", lines[i].text);
			if (arr == NULL)
				control_send(f->conn, l);
			else
				cJSON_AddItemToArray(arr, l);
		}
	} while (n == 64 && (arr != NULL || f->conn != NULL));
	return job_ended(f->a, f->id, &over) < 0 || over;
}

/* Sends a log follower its new lines; answers it once the job has ended. */
static void log_flush(struct follower *f)
{
	cJSON *o;

	f->due = false;
	if (f->conn == NULL || !send_lines(f->a->queue, f, NULL) || f->conn == NULL)
		return;
	o = cJSON_CreateObject();
	cJSON_AddTrueToObject(o, "ok");
	cJSON_AddStringToObject(o, "state", "ended");
	control_set_cancel(f->conn, NULL, NULL);
	control_reply(f->conn, o);
	let_go(f);
}

static void sweep(uv_timer_t *t)
{
	struct agent *a = t->data;
	struct follower **p = &a->followers, *f;

	for (f = a->followers; f != NULL; f = f->next)
		if (f->kind == FOLLOW_LOG && f->due)
			log_flush(f);
	while ((f = *p) != NULL) {
		if (f->conn == NULL) {
			*p = f->next;
			free(f);
		} else {
			p = &f->next;
		}
	}
}

/* Job id's answer for its followers that ended: the read holds none of
 * them, so one that leaves meanwhile is simply not there when it returns. */
struct answer_wait {
	struct agent *a;
	int64_t id;
};

static void answered(void *data, cJSON *answer)
{
	struct answer_wait *aw = data;
	struct follower *f;

	for (f = aw->a->followers; f != NULL; f = f->next) {
		if (f->id != aw->id || f->kind != FOLLOW_JOB || !f->ended ||
		    f->conn == NULL)
			continue;
		control_set_cancel(f->conn, NULL, NULL);
		if (answer != NULL)
			control_reply(f->conn, cJSON_Duplicate(answer, true));
		else
			control_reply_error(f->conn,
					    "cannot read the job's answer now; see "
					    "aos-publishctl job show");
		let_go(f);
	}
	cJSON_Delete(answer);
	aw->a->follow_answers--;
	free(aw);
}

/* Reads job id's answer (through the worker's queue_async, after the
 * job's last write) for its followers marked ended. */
static void answer_ended(struct agent *a, int64_t id)
{
	struct answer_wait *aw = malloc(sizeof(*aw));

	if (aw == NULL)
		return; /* its followers wait: the next change, or their client */
	*aw = (struct answer_wait){.a = a, .id = id};
	a->follow_answers++;
	if (a->worker == NULL || worker_job_answer(a->worker, id, answered, aw) < 0)
		answered(aw, NULL);
}

int follow_start(struct agent *a, struct control_conn *c, int64_t id)
{
	struct follower *f;
	bool over;

	if (job_ended(a, id, &over) < 0)
		return AOS_ENOTFOUND;
	f = follower_add(a, c, id, FOLLOW_JOB);
	if (f == NULL)
		return -ENOMEM;
	if (over) {
		f->ended = true;
		answer_ended(a, id);
	}
	return 0;
}

int follow_log(struct agent *a, struct control_conn *c, int64_t id, bool follow)
{
	struct follower one = {.a = a, .conn = c, .id = id}, *f;
	bool over;
	cJSON *o;

	if (job_ended(a, id, &over) < 0)
		return AOS_ENOTFOUND;
	if (!follow) {
		o = cJSON_CreateObject();
		cJSON_AddTrueToObject(o, "ok");
		send_lines(a->queue, &one, cJSON_AddArrayToObject(o, "lines"));
		control_reply(c, o);
		return 0;
	}
	f = follower_add(a, c, id, FOLLOW_LOG);
	if (f == NULL)
		return -ENOMEM;
	log_flush(f); /* the lines so far (and the end, if it came) */
	return 0;
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

void follow_logged(void *data, int64_t id)
{
	struct agent *a = data;
	struct follower *f;
	bool any = false;

	for (f = a->followers; f != NULL; f = f->next) {
		if (f->id == id && f->kind == FOLLOW_LOG) {
			f->due = true;
			any = true;
		}
	}
	if (any)
		sweep_soon(a);
}

void follow_job_changed(void *data, int64_t id)
{
	struct agent *a = data;
	struct follower *f;
	bool over, any = false;

	follow_logged(a, id); /* a log follower ends with the job too */
	if (job_ended(a, id, &over) < 0 || !over)
		return;
	for (f = a->followers; f != NULL; f = f->next) {
		if (f->id != id || f->kind != FOLLOW_JOB || f->conn == NULL)
			continue;
		f->ended = true;
		any = true;
	}
	if (any)
		answer_ended(a, id);
}

bool follow_answering(const struct agent *a)
{
	return a->follow_answers > 0;
}

void follow_init(struct agent *a)
{
	uv_timer_init(&a->loop, &a->follow_sweep);
	a->follow_sweep.data = a;
}

void follow_close(struct agent *a)
{
	struct follower *f;

	if (a->queue != NULL)
		a->queue->observer = (struct queue_observer){0};
	while ((f = a->followers) != NULL) {
		if (f->conn != NULL) {
			control_set_cancel(f->conn, NULL, NULL);
			if (f->kind == FOLLOW_JOB)
				control_reply_error(f->conn,
						    "the daemon is stopping; the job "
						    "stays queued (follow it again with "
						    "aos-publishctl job show)");
		}
		a->followers = f->next;
		free(f);
	}
	if (!uv_is_closing((uv_handle_t *)&a->follow_sweep))
		uv_close((uv_handle_t *)&a->follow_sweep, NULL);
}
