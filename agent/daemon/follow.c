/* follow.c - clients following a job to its end (follow.h). */
#include <errno.h>
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
	struct follower *f;

	for (f = a->followers; f != NULL; f = f->next) {
		cJSON *copy;

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

void follow_close(struct agent *a)
{
	while (a->followers != NULL) {
		struct follower *f = a->followers;

		control_set_cancel(f->conn, NULL, NULL);
		control_reply_error(f->conn, "the daemon is stopping; the job stays queued "
				    "(follow it again with aos-publishctl job show)");
		unfollow(a, f);
	}
}
