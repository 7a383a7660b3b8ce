/* follow.h - clients following a job to its end (`job wait`, `publish
 * --wait`).  The worker reports through its hooks (worker_hooks): each
 * event of a job's publish goes to that job's followers, and when a job's
 * state is recorded a follower of an ended job gets the job's answer
 * (worker_job_answer).  The only way a client follows a job in memory;
 * `job log --follow` reads the log lines from the queue. */
#ifndef AOS_FOLLOW_H
#define AOS_FOLLOW_H

#include <stdint.h>

#include <cjson/cJSON.h>

struct agent;
struct control_conn;

/* Streams job id's events to c and answers it when the job ends (at once
 * if it has ended).  Returns 0, AOS_ENOTFOUND or -ENOMEM (c not answered). */
int follow_start(struct agent *a, struct control_conn *c, int64_t id);

/* worker_hooks.job_event: ev (the worker's) to every follower of job id. */
void follow_job_event(void *data, int64_t id, const cJSON *ev);

/* worker_hooks.job_changed, and after an operator's cancel: answers every
 * follower of job id if the job has ended. */
void follow_job_changed(void *data, int64_t id);

/* Answers every follower that the daemon stops (the job stays queued). */
void follow_close(struct agent *a);

#endif
