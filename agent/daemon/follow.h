/* follow.h - clients following a job (`job wait`, `publish --wait`, `job
 * log --follow`), all in memory and driven by what the engines report:
 * the worker's hooks (worker_hooks) send each event of a job's publish to
 * that job's followers and, when a job's state is recorded, answer the
 * followers of an ended job (worker_job_answer_of(): the job and its
 * uploads read after the job's last write); the worker's `logged` hook (from its writes'
 * completions, on the loop) says when a job's log has new lines, which are then read from
 * the queue, the one source of the lines.  Nothing polls.  Every read of the lines and
 * the job goes to the read queue (a->rq), one out per follower at a time; a client that
 * leaves while its read is out is forgotten. */
#ifndef AOS_FOLLOW_H
#define AOS_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct agent;
struct control_conn;

/* Streams job id's events to c and answers it when the job ends (once the
 * job is read, if it has ended).  c is answered in every case: "no such
 * job", the read queue's refusal (busy, stopping), out of memory. */
void follow_start(struct agent *a, struct control_conn *c, int64_t id);

/* worker_hooks.job_event: ev (the worker's) to every follower of job id. */
void follow_job_event(void *data, int64_t id, const cJSON *ev);

/* worker_hooks.job_changed, and after an operator's cancel: every
 * follower of job id reads it again, and is answered if it has ended. */
void follow_job_changed(void *data, int64_t id);

/* job.log: job id's log lines; with follow, as "log" events now and as
 * they come, answered {"ok": true, "state": "ended"} when the job ends.
 * c is answered in every case, as by follow_start(). */
void follow_log(struct agent *a, struct control_conn *c, int64_t id, bool follow);

/* worker_hooks.logged: job id's log has new lines (read on the next turn
 * of the loop). */
void follow_logged(void *data, int64_t id);

/* True while the answer of an ended job is being read for its followers
 * (a drain's stop waits for it: they would be told "stopping" instead). */
bool follow_answering(const struct agent *a);

/* The queue changed where this daemon cannot see it (another host
 * queued, ran or ended a job: daemon_pg.c's LISTEN): every follower reads
 * again. */
void follow_queue_changed(struct agent *a);

/* Sets up following on a's loop (before the queue opens).  Followers are
 * one list; one that is answered or gone is freed on the next turn of the
 * loop, never under a loop that sends to them. */
void follow_init(struct agent *a);

/* Answers every follower that the daemon stops (the job stays queued),
 * drops the log followers (their connections close) and stops listening
 * to the queue.  A follower whose read is out is freed by its completion. */
void follow_close(struct agent *a);

#endif
