/* child.h - build steps as child processes on the loop: an explicit
 * environment, stdin from /dev/null, their own session and process group
 * (so a timeout or an abort reaches every grandchild), output split into
 * bounded lines, SIGTERM then SIGKILL on a timeout. */
#ifndef AOS_CHILD_H
#define AOS_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define CHILD_LINE_MAX 1000 /* longer output lines are cut */

struct child;

struct child_result {
	int64_t exit_status; /* when it exited */
	int term_signal;     /* when a signal ended it, else 0 */
	bool timed_out;
	size_t dropped;	 /* output bytes past max_output, not shown */
	int spawn_error; /* libuv error when it could not start, else 0 */
};

struct child_opts {
	const char *const *argv; /* argv[0] is searched in the given PATH */
	const char *const *env;	 /* "NAME=value", NULL-terminated: all it gets */
	const char *cwd;
	uint64_t timeout_ms;	/* 0: none */
	uint64_t kill_grace_ms; /* SIGTERM to SIGKILL; 0: 10 s */
	size_t max_output;	/* bytes of output passed to line(); 0: 64 KiB */
	/* Each line of stdout or stderr, without its newline (may be NULL). */
	void (*line)(void *data, const char *line, size_t len);
	/* Once, after the process ended and its output was read. */
	void (*done)(void *data, const struct child_result *res);
	void *data;
};

/* Starts a child.  Returns 0 and *ret (freed by itself after done), or a
 * libuv error (nothing started, done is not called). */
int child_start(uv_loop_t *loop, const struct child_opts *o, struct child **ret);

/* Stops the child's whole process group: SIGTERM, SIGKILL 2 s later if it
 * is still there; no callback runs any more and the child frees itself.
 * Accepts NULL. */
void child_abort(struct child *c);

/* Process id (also its process group id). */
int child_pid(const struct child *c);

#endif
