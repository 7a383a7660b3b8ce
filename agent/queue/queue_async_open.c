/* queue_async_open.c - the database thread's connection: the open with its
 * backoff after a failure, the reopen asked by queue_async_reopen() (new
 * credentials), and a connection lost under a request.  Everything here
 * runs on the database thread; what the loop must hear of (an open that
 * failed, the end of the failures, a loss) is noted under qa->mu for the
 * report hook.  See queue_async.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "queue/queue_async.h"
#include "queue_async_internal.h"

int qa__open_target(void *arg, struct queue **ret, char *errbuf, size_t errlen)
{
	struct queue_async *qa = arg;

	return qa->open(qa->target, ret, errbuf, errlen);
}

/* Notes an open's outcome for the loop's report (under qa->mu). */
static void note_open(struct queue_async *qa, int rc, const char *err)
{
	qa->ev_new = true;
	qa->ev_rc = rc;
	if (rc < 0 && err[0] != '\0')
		snprintf(qa->ev_err, sizeof(qa->ev_err), "%s", err);
	else if (rc < 0)
		snprintf(qa->ev_err, sizeof(qa->ev_err), "error %d", rc);
	else
		qa->ev_err[0] = '\0';
}

/* Records an open's outcome r: a failure starts the backoff; a failure, the
 * end of failures and the first open after a loss are reported. */
static void opened(struct queue_async *qa, int r, const char *err)
{
	if (r < 0 || qa->open_rc < 0 || qa->after_loss) {
		uv_mutex_lock(&qa->mu);
		note_open(qa, r < 0 ? r : 0, err);
		uv_mutex_unlock(&qa->mu);
	}
	qa->after_loss = false;
	qa->open_rc = r < 0 ? r : 0;
	if (r < 0)
		qa->failed_ns = uv_hrtime();
}

int qa__ensure_open(struct queue_async *qa)
{
	char err[OPEN_ERR_MAX] = "";
	bool wait;
	int r;

	if (qa->q != NULL)
		return 0;
	if (qa->open_rc < 0) {
		uv_mutex_lock(&qa->mu);
		wait = uv_hrtime() - qa->failed_ns < qa->backoff_ns;
		if (wait)
			qa->ev_refused++;
		uv_mutex_unlock(&qa->mu);
		if (wait)
			return qa->open_rc;
	}
	r = qa->open_with(qa->open_arg, &qa->q, err, sizeof(err));
	if (r < 0)
		qa->q = NULL;
	opened(qa, r, err);
	return qa->open_rc;
}

int qa__reopen(struct queue_async *qa)
{
	char err[OPEN_ERR_MAX] = "";
	struct queue *nq = NULL;
	int r;

	r = qa->open_with(qa->open_arg, &nq, err, sizeof(err));
	if (r < 0) {
		/* the old connection, if any, goes on serving: its credentials
		 * stay valid until their own lease ends */
		uv_mutex_lock(&qa->mu);
		note_open(qa, r, err);
		uv_mutex_unlock(&qa->mu);
		if (qa->q == NULL) {
			qa->open_rc = r;
			qa->failed_ns = uv_hrtime();
		}
		return r;
	}
	if (qa->q != NULL)
		qa->q->ops->close(qa->q);
	qa->q = nq;
	opened(qa, 0, err);
	return 0;
}

void qa__lost(struct queue_async *qa)
{
	qa->q->ops->close(qa->q);
	qa->q = NULL;
	qa->open_rc = 0; /* open again at once, no backoff for a first loss */
	qa->after_loss = true;
	uv_mutex_lock(&qa->mu);
	qa->ev_lost++;
	uv_mutex_unlock(&qa->mu);
}
