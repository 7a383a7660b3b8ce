/* queue.c - the backend-independent part of the queue interface: names of
 * states, freeing what a struct job owns, reading all of a job's uploads,
 * a job file's source and sink on a descriptor, host names of drains. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/file.h"
#include "queue/queue.h"

static const char *const job_state_names[] = {
    [JOB_QUEUED] = "queued", [JOB_RUNNING] = "running", [JOB_SUCCEEDED] = "succeeded",
    [JOB_FAILED] = "failed", [JOB_DEAD] = "dead",	[JOB_CANCELED] = "canceled",
};

static const char *const upload_state_names[] = {
    [UPLOAD_PENDING] = "pending",
    [UPLOAD_SENDING] = "sending",
    [UPLOAD_DONE] = "done",
    [UPLOAD_FAILED] = "failed",
};

void job_clear(struct job *j)
{
	if (j == NULL)
		return;
	free(j->inputs);
	j->inputs = NULL;
}

bool job_state_ended(enum job_state s)
{
	return s == JOB_SUCCEEDED || s == JOB_DEAD || s == JOB_CANCELED;
}

const char *job_state_name(enum job_state s)
{
	if (s < JOB_QUEUED || s > JOB_CANCELED)
		return "unknown";
	return job_state_names[s];
}

enum job_state job_state_parse(const char *s)
{
	int i;

	if (s == NULL)
		return 0;
	for (i = JOB_QUEUED; i <= JOB_CANCELED; i++)
		if (strcmp(s, job_state_names[i]) == 0)
			return (enum job_state)i;
	return 0;
}

const char *upload_state_name(enum upload_state s)
{
	if (s < UPLOAD_PENDING || s > UPLOAD_FAILED)
		return "unknown";
	return upload_state_names[s];
}

int queue_uploads_all(struct queue *q, int64_t id, struct job_upload **ret)
{
	struct job_upload *ups = calloc(QUEUE_UPLOADS_MAX, sizeof(*ups));
	int n;

	*ret = NULL;
	if (ups == NULL)
		return -ENOMEM;
	n = q->ops->uploads(q, id, ups, QUEUE_UPLOADS_MAX);
	if (n < 0) {
		free(ups);
		return n;
	}
	*ret = ups;
	return n;
}

int queue_file_fd_read(void *data, void *buf, size_t len, size_t *ret_n)
{
	ssize_t n;

	do
		n = read(*(int *)data, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	*ret_n = (size_t)n;
	return 0;
}

int queue_file_fd_write(void *data, const void *buf, size_t len)
{
	return aos_write_all(*(int *)data, buf, len);
}

static bool ascii_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int queue_host_check(const char *host)
{
	size_t i, n;

	if (host == NULL || !ascii_alnum(host[0]))
		return -EINVAL;
	n = strlen(host);
	if (n >= QUEUE_HOST_MAX)
		return AOS_ETOOBIG;
	for (i = 0; i < n; i++)
		if (!ascii_alnum(host[i]) && strchr("._-", host[i]) == NULL)
			return -EINVAL;
	return 0;
}

int queue_owner_host(const char *owner, char *buf, size_t len)
{
	size_t n = strcspn(owner, ":");

	if (n >= len)
		return AOS_ETOOBIG;
	memcpy(buf, owner, n);
	buf[n] = '\0';
	return 0;
}
