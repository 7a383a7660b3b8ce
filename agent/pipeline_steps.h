/* pipeline_steps.h - the build phase of a pipeline job as a sequence of
 * child processes: a fresh work folder, a shallow checkout of the commit,
 * then the pipeline's build and verify commands, each with the minimal
 * environment of docs/pipelines.md and the pipeline's timeout. */
#ifndef AOS_PIPELINE_STEPS_H
#define AOS_PIPELINE_STEPS_H

#include <stdbool.h>

#include <uv.h>

#include "config.h"

struct pl_build;

struct pl_build_opts {
	const struct pipeline_cfg *pipeline; /* read at start only */
	const struct config *cfg;            /* for the sandbox's hidden paths */
	const char *workdir;                 /* created afresh; HOME of the steps */
	const char *commit;                  /* what to check out */
	/* Job log text (a step's command, its output in batches, its end). */
	void (*log)(void *data, const char *text);
	/* Once at the end: rc 0 and the checked-out commit in head, or rc < 0
	 * with error; permanent when retrying cannot help (a step failed or
	 * timed out; a checkout failure is not permanent). */
	void (*done)(void *data, int rc, bool permanent, const char *head, const char *error);
	void *data;
};

/* Starts the build.  Returns 0 and *ret (freed by itself after done), or a
 * negative code with msg (nothing started, done not called). */
int pl_build_start(uv_loop_t *loop, const struct pl_build_opts *o, struct pl_build **ret,
		   char *msg, size_t msglen);

/* Stops a build (kills the running step's process group); no callback runs
 * any more.  Accepts NULL. */
void pl_build_abort(struct pl_build *b);

/* Removes a work folder in the background (rm -rf as a child). */
void pl_build_cleanup(uv_loop_t *loop, const char *workdir);

#endif
