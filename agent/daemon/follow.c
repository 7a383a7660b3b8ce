/* follow.c - clients following a job to its end (follow.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/control.h"
#include "daemon/agent.h"
#include "daemon/follow.h"
#include "err.h"
#include "queue/queue.h"
#include "worker/worker.h"

struct follower {
	struct agent *a;
	struct control_conn *conn;
	int64_t id;
	struct follower *next;
};

/* A client of `job log --follow`: the lines after `after` are sent when
 * the queue reports new ones (due). */
struct log_follower {
	struct agent *a;
	struct control_conn *conn; /* NULL once it went away: freed by the flush */
	int64_t id;
	int64_t after; /* the last line sent */
	bool due;
	struct log_follower *next;
};

static void unfollow(struct agent *a, struct follower *x)
{
	struct follower **p;

	for (p = &a->followers; *p != NULL; p = &(*p)->next) {
		if (*p == x) {
			*p = x->next;
			free(x);
			return;
		}
	}
}

static void follower_gone(struct control_conn *c, void *arg)
{
	struct follower *f = arg;

	(void)c;
	unfollow(f->a, f);
}

/* Whether job id is in the queue (*ret_ended: it has ended). */
static int job_ended(struct agent *a, int64_t id, bool *ret_ended)
{
	struct job job = { 0 };

	if (a->queue->ops->get(a->queue, id, &job) < 0)
		return AOS_ENOTFOUND;
	*ret_ended = job_state_ended(job.state);
	job_clear(&job);
	return 0;
}

int follow_start(struct agent *a, struct control_conn *c, int64_t id)
{
	struct follower *f;
	bool over;

	if (job_ended(a, id, &over) < 0)
		return AOS_ENOTFOUND;
	if (over) {
		control_reply(c, worker_job_answer(a->worker, id));
		return 0;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	f->a = a;
	f->conn = c;
	f->id = id;
	f->next = a->followers;
	a->followers = f;
	control_set_cancel(c, follower_gone, f);
	return 0;
}

void follow_job_event(void *data, int64_t id, const cJSON *ev)
{
	struct agent *a = data;
	struct follower *f, *next;

	for (f = a->followers; f != NULL; f = next) {
		cJSON *copy;

		next = f->next; /* a follower that cannot keep up is dropped (freed) */
		if (f->id != id)
			continue;
		copy = cJSON_Duplicate(ev, true);
		if (copy != NULL)
			control_send(f->conn, copy);
	}
}

void follow_job_changed(void *data, int64_t id)
{
	struct agent *a = data;
	struct follower *f, *next;
	bool over;

	follow_logged(a, id); /* a log follower ends with the job too */
	if (job_ended(a, id, &over) < 0 || !over)
		return;
	for (f = a->followers; f != NULL; f = next) {
		next = f->next;
		if (f->id != id)
			continue;
		control_reply(f->conn, worker_job_answer(a->worker, id));
		unfollow(a, f);
	}
}

static void log_unfollow(struct agent *a, struct log_follower *x)
{
	struct log_follower **p;

	for (p = &a->log_followers; *p != NULL; p = &(*p)->next) {
		if (*p == x) {
			*p = x->next;
			free(x);
			return;
		}
	}
}

static void log_flush(uv_timer_t *t);

/* Flushes the followers that are due on the next turn of the loop. */
static void log_flush_soon(struct agent *a)
{
	if (!uv_is_closing((uv_handle_t *)&a->log_flush))
		uv_timer_start(&a->log_flush, log_flush, 0, 0);
}

static void log_follower_gone(struct control_conn *c, void *arg)
{
	struct log_follower *f = arg;

	(void)c;
	f->conn = NULL; /* freed by the flush: send_lines() may be using it now */
	f->due = true;
	log_flush_soon(f->a);
}

/* Sends the lines of f->id after f->after (as "log" events to f->conn, or
 * into arr); returns true if the job has ended (or is gone). */
static bool send_lines(struct queue *q, struct log_follower *f, cJSON *arr)
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

/* Sends f its new lines; answers it and drops it once the job has ended.
 * Returns true if f was dropped. */
static bool log_flush_one(struct log_follower *f)
{
	struct agent *a = f->a;
	cJSON *o;

	f->due = false;
	if (f->conn != NULL && !send_lines(a->queue, f, NULL))
		return false;
	if (f->conn == NULL) { /* it went away, maybe while it was sent to */
		log_unfollow(a, f);
		return true;
	}
	control_set_cancel(f->conn, NULL, NULL);
	o = cJSON_CreateObject();
	cJSON_AddTrueToObject(o, "ok");
	cJSON_AddStringToObject(o, "state", "ended");
	control_reply(f->conn, o);
	log_unfollow(a, f);
	return true;
}

static void log_flush(uv_timer_t *t)
{
	struct agent *a = t->data;
	struct log_follower *f, *next;

	for (f = a->log_followers; f != NULL; f = next) {
		next = f->next;
		if (f->due)
			log_flush_one(f);
	}
}

void follow_logged(void *data, int64_t id)
{
	struct agent *a = data;
	struct log_follower *f;
	bool any = false;

	for (f = a->log_followers; f != NULL; f = f->next) {
		if (f->id == id) {
			f->due = true;
			any = true;
		}
	}
	/* Read on the next turn of the loop, outside the queue's write. */
	if (any)
		log_flush_soon(a);
}

int follow_log(struct agent *a, struct control_conn *c, int64_t id, bool follow)
{
	struct log_follower one = { .a = a, .conn = c, .id = id }, *f;
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
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	*f = one;
	f->next = a->log_followers;
	a->log_followers = f;
	control_set_cancel(c, log_follower_gone, f);
	log_flush_one(f);
	return 0;
}

void follow_init(struct agent *a)
{
	uv_timer_init(&a->loop, &a->log_flush);
	a->log_flush.data = a;
}

void follow_close(struct agent *a)
{
	if (a->queue != NULL)
		a->queue->observer = (struct queue_observer){ 0 };
	if (!uv_is_closing((uv_handle_t *)&a->log_flush))
		uv_close((uv_handle_t *)&a->log_flush, NULL);
	while (a->log_followers != NULL) {
		if (a->log_followers->conn != NULL)
			control_set_cancel(a->log_followers->conn, NULL, NULL);
		log_unfollow(a, a->log_followers);
	}
	while (a->followers != NULL) {
		struct follower *f = a->followers;

		control_set_cancel(f->conn, NULL, NULL);
		control_reply_error(f->conn, "the daemon is stopping; the job stays queued "
				    "(follow it again with aos-publishctl job show)");
		unfollow(a, f);
	}
}
