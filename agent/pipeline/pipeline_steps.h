/* pipeline_steps.h - the build phase of a pipeline job as a sequence of
 * child processes: a fresh work folder, a shallow checkout of the commit,
 * then the pipeline's build and verify commands, each with the minimal
 * environment of docs/pipelines.md and the pipeline's timeout; with a
 * verify_matrix, the verify commands once in each cell, cell after cell,
 * each cell's env over the pipeline's. */
#ifndef AOS_PIPELINE_STEPS_H
#define AOS_PIPELINE_STEPS_H

#include <stdbool.h>

#include <uv.h>

#include "config/config.h"

struct pl_build;
struct sandbox_caps;
struct sandbox_argv;

#define PL_ENV_MAX 140

/* The whole environment of a pipeline's children (docs/pipelines.md):
 * PATH, HOME, TMPDIR, LANG, GIT_TERMINAL_PROMPT, then the pipeline's env;
 * nothing of the daemon's.  v is NULL-terminated. */
struct pl_env {
	char *v[PL_ENV_MAX + 1];
	size_t n;
};

/* Fills e for pipeline p with HOME=home and, unless NULL, TMPDIR=tmpdir.
 * Returns 0 or -ENOMEM / -E2BIG (e is then freed). */
int pl_env_init(struct pl_env *e, const struct pipeline_cfg *p, const char *home,
		const char *tmpdir);
/* Sets "NAME=value", replacing an earlier NAME.  Returns 0, -ENOMEM, -E2BIG. */
int pl_env_set(struct pl_env *e, const char *kv);
void pl_env_free(struct pl_env *e);

/* The absolute path of rm, mkdir or git in the system folders (never from
 * a pipeline's PATH), or a copy of name if none has it; malloc'ed (NULL
 * when memory ran out). */
char *pl_system_tool(const char *name);

struct pl_build_opts {
	const struct pipeline_cfg *pipeline; /* read at start only */
	const struct config *cfg;	     /* for the sandbox's hidden paths */
	const struct sandbox_caps *caps;     /* what the host offers (sandbox.h) */
	const char *workdir;		     /* created afresh; HOME of the steps */
	const char *commit;		     /* what to check out */
	/* Job log text (a step's command, its output in batches, its end). */
	void (*log)(void *data, const char *text);
	/* Once at the end: rc 0 and the checked-out commit in head, or rc < 0
	 * with error; permanent when retrying cannot help (a step failed or
	 * timed out; a checkout failure is not permanent). */
	void (*done)(void *data, int rc, bool permanent, const char *head,
		     const char *error);
	/* After each step, or NULL: which ("checkout" for the system steps,
	 * "build", "verify"), how it ended ("ok", "failed", "signal",
	 * "timeout", "error": not started) and its seconds. */
	void (*step)(void *data, const char *which, const char *result, double seconds);
	/* With a verify_matrix, after each cell that ran, or NULL: its name,
	 * how it ended (as step's result: its first step that was not "ok",
	 * else "ok") and its seconds.  A cell that fails ends the build:
	 * the cells after it do not run. */
	void (*cell)(void *data, const char *name, const char *result, double seconds);
	void *data;
};

/* Appends to ret the --run-step prefix (sandbox.h) that runs a step of p
 * under cfg's build_isolation, with workdir (canonical) its writable
 * folder; desc tells what that is (for job logs).  Returns 0, or
 * -EOPNOTSUPP when the isolation is not available here, or another
 * negative code, with msg set. */
int pl_sandbox_prefix(const struct config *cfg, const struct sandbox_caps *caps,
		      const struct pipeline_cfg *p, const char *workdir,
		      struct sandbox_argv *ret, char *desc, size_t desclen, char *msg,
		      size_t msglen);

/* Starts the build.  Returns 0 and *ret (freed by itself after done), or a
 * negative code with msg (nothing started, done not called): -EOPNOTSUPP
 * when the configured isolation is not available on this host. */
int pl_build_start(uv_loop_t *loop, const struct pl_build_opts *o, struct pl_build **ret,
		   char *msg, size_t msglen);

/* Stops a build (kills the running step's process group); no callback runs
 * any more.  Accepts NULL. */
void pl_build_abort(struct pl_build *b);

/* Removes a work folder in the background (rm -rf as a child). */
void pl_build_cleanup(uv_loop_t *loop, const char *workdir);

#endif
