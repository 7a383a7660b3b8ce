/* pipeline_steps.c - checkout, build and verify steps of a pipeline job. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/child.h"
#include "common/err.h"
#include "pipeline/pipeline.h"
#include "pipeline/pipeline_steps.h"
#include "sandbox/sandbox.h"

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
#define SYSTEM_TIMEOUT_MS (600 * 1000)	   /* rm, mkdir, git */
#define LOG_CHUNK 1800			   /* output bytes per job log entry */
#define MAX_STEPS (PIPELINE_STEPS_MAX + 5) /* and mkdir, git init, fetch, checkout, log */

enum step_kind { ST_SYSTEM, ST_CHECKOUT, ST_HEAD, ST_BUILD, ST_VERIFY };

struct step {
	enum step_kind kind;
	char **argv;
	char *display;
	bool in_stepdir; /* cwd: the pipeline's directory, else the work folder */
	size_t num;	 /* 1-based among the build steps, or a cell's verify steps */
	size_t cell;	 /* verify: 1 + its cell's index in cells; 0: no matrix */
};

/* A verify_matrix cell, copied at start (the configuration may be reloaded
 * while the build runs). */
struct cell {
	char *name;
	char **env; /* "NAME=value" over the pipeline's env */
	size_t nenv;
};

struct pl_build {
	uv_loop_t *loop;
	struct pl_build_opts o;
	struct step steps[MAX_STEPS];
	size_t nsteps, cur, nbuild;
	struct pl_env env;
	struct cell *cells;
	size_t ncells;
	struct pl_env cellenv; /* env with the running cell's over it */
	uint64_t cell_started_ms;
	struct sandbox_argv wrap; /* --run-step prefix (sandbox.h), or empty */
	char isolation[800];	  /* sandbox_describe() */
	char workdir[4096], stepdir[4200];
	uint64_t timeout_ms;
	uint64_t started_ms;
	struct child *child;
	char out[LOG_CHUNK + CHILD_LINE_MAX + 8];
	size_t outlen;
	char head[72];
	char epoch[32];
	bool aborted;
};

static void run_step(struct pl_build *b);

/* ---- set-up ---------------------------------------------------------------- */

static char *xstrdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xstrdup_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

int pl_env_set(struct pl_env *e, const char *kv)
{
	size_t n = (size_t)(strchr(kv, '=') - kv), i;
	char *dup = strdup(kv);

	if (dup == NULL)
		return -ENOMEM;
	for (i = 0; i < e->n; i++) {
		if (strncmp(e->v[i], kv, n + 1) == 0) {
			free(e->v[i]);
			e->v[i] = dup;
			return 0;
		}
	}
	if (e->n == PL_ENV_MAX) {
		free(dup);
		return -E2BIG;
	}
	e->v[e->n++] = dup;
	return 0;
}

void pl_env_free(struct pl_env *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->v[i]);
	memset(e, 0, sizeof(*e));
}

int pl_env_init(struct pl_env *e, const struct pipeline_cfg *p, const char *home,
		const char *tmpdir)
{
	char *h = xstrdup_printf("HOME=%s", home);
	char *t = tmpdir != NULL ? xstrdup_printf("TMPDIR=%s", tmpdir) : NULL;
	size_t i;
	int rc = h == NULL || (tmpdir != NULL && t == NULL) ? -ENOMEM : 0;

	memset(e, 0, sizeof(*e));
	if (rc == 0)
		rc = pl_env_set(e, "PATH=" DEFAULT_PATH);
	if (rc == 0)
		rc = pl_env_set(e, h);
	if (rc == 0 && t != NULL)
		rc = pl_env_set(e, t);
	if (rc == 0)
		rc = pl_env_set(e, "LANG=C.UTF-8");
	if (rc == 0)
		rc = pl_env_set(e, "GIT_TERMINAL_PROMPT=0");
	if (rc == 0) /* no ext::, fd::, git:// or http:// (config.h) */
		rc = pl_env_set(e, "GIT_ALLOW_PROTOCOL=" PL_GIT_PROTOCOLS);
	for (i = 0; rc == 0 && i < p->nenv; i++)
		rc = pl_env_set(e, p->env[i]); /* HOME is refused by the config */
	free(h);
	free(t);
	if (rc < 0)
		pl_env_free(e);
	return rc;
}

char *pl_system_tool(const char *name)
{
	static const char *const dirs[] = {"/usr/local/bin", "/usr/bin", "/bin"};
	size_t i;

	for (i = 0; i < 3; i++) {
		char *p = xstrdup_printf("%s/%s", dirs[i], name);

		if (p != NULL && access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return strdup(name);
}

static int add_step(struct pl_build *b, enum step_kind kind, bool in_stepdir,
		    const char *display, const char *const *argv, size_t argc, size_t num,
		    size_t cell)
{
	struct step *s;
	size_t i, w;

	if (b->nsteps == MAX_STEPS)
		return -E2BIG;
	s = &b->steps[b->nsteps];
	w = kind == ST_SYSTEM ? 0 : b->wrap.n;
	s->argv = calloc(w + argc + 1, sizeof(char *));
	if (s->argv == NULL)
		return -ENOMEM;
	b->nsteps++;
	for (i = 0; i < w; i++)
		if ((s->argv[i] = strdup(b->wrap.v[i])) == NULL)
			return -ENOMEM;
	for (i = 0; i < argc; i++)
		if ((s->argv[w + i] = strdup(argv[i])) == NULL)
			return -ENOMEM;
	s->kind = kind;
	s->in_stepdir = in_stepdir;
	s->num = num;
	s->cell = cell;
	s->display = strdup(display);
	if (s->display == NULL)
		return -ENOMEM;
	pipeline_mask_url(s->display); /* the job log never shows credentials */
	return 0;
}

static int add_system(struct pl_build *b, enum step_kind kind, const char *tool,
		      const char *const *args, size_t nargs)
{
	const char *argv[16];
	char display[8192] = "";
	char *path = pl_system_tool(tool);
	size_t i, o;
	int rc;

	if (path == NULL || nargs > 14) {
		free(path);
		return -ENOMEM;
	}
	argv[0] = path;
	o = (size_t)snprintf(display, sizeof(display), "%s", tool);
	for (i = 0; i < nargs; i++) {
		argv[i + 1] = args[i];
		if (o < sizeof(display))
			o += (size_t)snprintf(display + o, sizeof(display) - o, " %s",
					      args[i]);
	}
	rc = add_step(b, kind, false, display, argv, nargs + 1, 0, 0);
	free(path);
	return rc;
}

static int plan(struct pl_build *b, const struct pipeline_cfg *p, const char *commit)
{
	char src[4200], tmp[4200];
	size_t i, c;
	int rc = 0;

	snprintf(src, sizeof(src), "%s/src", b->workdir);
	snprintf(tmp, sizeof(tmp), "%s/tmp", b->workdir);
	{
		const char *mk[] = {"-p", "-m", "0700", "--", src, tmp};
		const char *init[] = {"init", "-q", src};
		const char *fetch[] = {"-C",	    src,  "fetch",	 "--depth", "1",
				       "--no-tags", "-q", p->repository, commit};
		const char *co[] = {
		    "-C",	src,  "-c",	  "advice.detachedHead=false",
		    "checkout", "-q", "--detach", "FETCH_HEAD"};
		const char *head[] = {"-C", src, "log", "-1", "--format=%H %ct"};

		rc = add_system(b, ST_SYSTEM, "mkdir", mk, 6);
		if (rc == 0)
			rc = add_system(b, ST_CHECKOUT, "git", init, 3);
		if (rc == 0)
			rc = add_system(b, ST_CHECKOUT, "git", fetch, 9);
		if (rc == 0)
			rc = add_system(b, ST_CHECKOUT, "git", co, 8);
		if (rc == 0)
			rc = add_system(b, ST_HEAD, "git", head, 5);
	}
	for (i = 0; rc == 0 && i < p->nbuild; i++)
		rc = add_step(b, ST_BUILD, true, p->build[i].display,
			      (const char *const *)p->build[i].argv, p->build[i].argc,
			      i + 1, 0);
	b->nbuild = p->nbuild;
	/* verify: once, or once in each cell of the matrix, cell after cell */
	for (c = 0; rc == 0 && c < (b->ncells > 0 ? b->ncells : 1); c++)
		for (i = 0; rc == 0 && i < p->nverify; i++)
			rc =
			    add_step(b, ST_VERIFY, true, p->verify[i].display,
				     (const char *const *)p->verify[i].argv,
				     p->verify[i].argc, i + 1, b->ncells > 0 ? c + 1 : 0);
	return rc;
}

/* Copies p's verify_matrix into b->cells.  Returns 0 or -ENOMEM. */
static int copy_cells(struct pl_build *b, const struct pipeline_cfg *p)
{
	size_t i, k;

	if (p->nmatrix == 0)
		return 0;
	b->cells = calloc(p->nmatrix, sizeof(*b->cells));
	if (b->cells == NULL)
		return -ENOMEM;
	for (i = 0; i < p->nmatrix; i++) {
		struct cell *c = &b->cells[i];

		b->ncells++;
		c->name = strdup(p->matrix[i].name);
		c->env = calloc(p->matrix[i].nenv + 1, sizeof(char *));
		if (c->name == NULL || c->env == NULL)
			return -ENOMEM;
		for (k = 0; k < p->matrix[i].nenv; k++, c->nenv++)
			if ((c->env[k] = strdup(p->matrix[i].env[k])) == NULL)
				return -ENOMEM;
	}
	return 0;
}

/* b->cellenv: the steps' environment with cell c's env over it (after the
 * checkout, so with SOURCE_DATE_EPOCH).  Returns 0, -ENOMEM or -E2BIG. */
static int cell_env(struct pl_build *b, const struct cell *c)
{
	size_t i;
	int rc = 0;

	pl_env_free(&b->cellenv);
	for (i = 0; rc == 0 && i < b->env.n; i++)
		rc = pl_env_set(&b->cellenv, b->env.v[i]);
	for (i = 0; rc == 0 && i < c->nenv; i++)
		rc = pl_env_set(&b->cellenv, c->env[i]);
	return rc;
}

/* The --run-step prefix (sandbox.h) for the configured isolation. */
static int make_wrap(struct pl_build *b, const struct pl_build_opts *o, char *msg,
		     size_t msglen)
{
	char job[PATH_MAX], real[PATH_MAX];

	if (o->cfg == NULL || o->caps == NULL) /* unit tests: no wrap at all */
		return 0;
	/* The job's folder, by its canonical name (it is created later). */
	snprintf(job, sizeof(job), "%s%s",
		 realpath(o->cfg->work_dir, real) ? real : o->cfg->work_dir,
		 strrchr(b->workdir, '/'));
	return pl_sandbox_prefix(o->cfg, o->caps, o->pipeline, job, &b->wrap,
				 b->isolation, sizeof(b->isolation), msg, msglen);
}

static void build_free(struct pl_build *b)
{
	size_t i, k;

	sandbox_argv_free(&b->wrap);
	for (i = 0; i < b->nsteps; i++) {
		char **a;

		for (a = b->steps[i].argv; a != NULL && *a != NULL; a++)
			free(*a);
		free(b->steps[i].argv);
		free(b->steps[i].display);
	}
	pl_env_free(&b->env);
	pl_env_free(&b->cellenv);
	for (i = 0; i < b->ncells; i++) {
		free(b->cells[i].name);
		for (k = 0; k < b->cells[i].nenv; k++)
			free(b->cells[i].env[k]);
		free(b->cells[i].env);
	}
	free(b->cells);
	free(b);
}

/* ---- running ---------------------------------------------------------------- */

static void flush_out(struct pl_build *b)
{
	if (b->outlen == 0)
		return;
	if (b->out[b->outlen - 1] == '\n')
		b->outlen--;
	b->out[b->outlen] = '\0';
	b->o.log(b->o.data, b->out);
	b->outlen = 0;
}

static void on_line(void *data, const char *line, size_t len)
{
	struct pl_build *b = data;
	struct step *s = &b->steps[b->cur];

	if (s->kind == ST_HEAD && b->head[0] == '\0') {
		/* "<commit id> <commit time>" */
		const char *sp = memchr(line, ' ', len);

		if (sp != NULL && (size_t)(sp - line) < sizeof(b->head)) {
			snprintf(b->head, sizeof(b->head), "%.*s", (int)(sp - line),
				 line);
			snprintf(b->epoch, sizeof(b->epoch), "%.*s",
				 (int)(len - (size_t)(sp - line) - 1), sp + 1);
		}
		return;
	}
	if (b->outlen + len + 4 > LOG_CHUNK)
		flush_out(b);
	b->out[b->outlen++] = ' ';
	b->out[b->outlen++] = ' ';
	memcpy(b->out + b->outlen, line, len);
	b->out[b->outlen + len] = '\0';
	if (s->kind == ST_CHECKOUT) /* git may quote the repository URL */
		pipeline_mask_url(b->out + b->outlen);
	b->outlen += strlen(b->out + b->outlen);
	b->out[b->outlen++] = '\n';
}

static void finish(struct pl_build *b, int rc, bool permanent, const char *error)
{
	flush_out(b);
	b->o.done(b->o.data, rc, permanent, b->head, error);
	build_free(b);
}

static const char *step_what(const struct pl_build *b, const struct step *s, char *buf,
			     size_t len)
{
	if (s->kind == ST_BUILD)
		snprintf(buf, len, "build step %zu", s->num);
	else if (s->kind == ST_VERIFY && s->cell > 0)
		snprintf(buf, len, "verify step %zu in cell %s", s->num,
			 b->cells[s->cell - 1].name);
	else if (s->kind == ST_VERIFY)
		snprintf(buf, len, "verify step %zu", s->num);
	else
		snprintf(buf, len, "checkout");
	return buf;
}

/* How a step ended (res NULL: it did not start). */
static const char *step_result(const struct child_result *res)
{
	return res == NULL	       ? "error"
	       : res->timed_out	       ? "timeout"
	       : res->term_signal != 0 ? "signal"
	       : res->exit_status != 0 ? "failed"
				       : "ok";
}

/* Tells o.step how step s ended (res NULL: it did not start). */
static void report_step(struct pl_build *b, const struct step *s,
			const struct child_result *res)
{
	const char *which = s->kind == ST_BUILD	   ? "build"
			    : s->kind == ST_VERIFY ? "verify"
						   : "checkout";

	if (b->o.step != NULL)
		b->o.step(b->o.data, which, step_result(res),
			  (double)(uv_now(b->loop) - b->started_ms) / 1000.0);
}

/* After step s of a cell: when it failed (res not ok) or was the cell's
 * last, the cell's result goes to the job log and o.cell. */
static void report_cell(struct pl_build *b, const struct step *s,
			const struct child_result *res)
{
	const char *how = step_result(res);
	double secs = (double)(uv_now(b->loop) - b->cell_started_ms) / 1000.0;
	size_t next = (size_t)(s - b->steps) + 1;
	char line[200];

	if (s->cell == 0 || (strcmp(how, "ok") == 0 && next < b->nsteps &&
			     b->steps[next].cell == s->cell))
		return;
	snprintf(line, sizeof(line), "cell %s: %s (%.1f s)", b->cells[s->cell - 1].name,
		 how, secs);
	b->o.log(b->o.data, line);
	if (b->o.cell != NULL)
		b->o.cell(b->o.data, b->cells[s->cell - 1].name, how, secs);
}

/* Before step s: when it starts a cell, the cell's line in the job log
 * (its name and env: configuration, never a secret) and its env. */
static int start_cell(struct pl_build *b, const struct step *s)
{
	const struct cell *c = s->cell > 0 ? &b->cells[s->cell - 1] : NULL;
	char line[1024];
	size_t i, o;

	if (c == NULL || (s > b->steps && s[-1].cell == s->cell))
		return 0;
	o = (size_t)snprintf(line, sizeof(line), "verify in cell %s (%zu of %zu)%s",
			     c->name, s->cell, b->ncells, c->nenv > 0 ? ":" : "");
	for (i = 0; i < c->nenv && o < sizeof(line); i++)
		o += (size_t)snprintf(line + o, sizeof(line) - o, " %s", c->env[i]);
	b->o.log(b->o.data, line);
	b->cell_started_ms = uv_now(b->loop);
	return cell_env(b, c);
}

static void on_done(void *data, const struct child_result *res)
{
	struct pl_build *b = data;
	struct step *s = &b->steps[b->cur];
	double secs = (double)(uv_now(b->loop) - b->started_ms) / 1000.0;
	bool user = s->kind == ST_BUILD || s->kind == ST_VERIFY;
	char what[64], msg[1024], line[512];

	b->child = NULL;
	flush_out(b);
	report_step(b, s, res);
	step_what(b, s, what, sizeof(what));
	if (res->dropped > 0) {
		snprintf(line, sizeof(line), "  ... %zu more bytes of output not kept",
			 res->dropped);
		b->o.log(b->o.data, line);
	}
	if (res->timed_out) {
		snprintf(msg, sizeof(msg),
			 "%s timed out after %.0f s (its process group was "
			 "killed): %.300s",
			 what, secs, s->display);
	} else if (res->term_signal != 0) {
		snprintf(msg, sizeof(msg), "%s was killed by signal %d: %.300s", what,
			 res->term_signal, s->display);
	} else if (res->exit_status != 0) {
		snprintf(msg, sizeof(msg), "%s failed with exit status %lld: %.300s%s",
			 what, (long long)res->exit_status, s->display,
			 user ? "" : " (see the job log; the checkout is retried)");
	} else {
		snprintf(line, sizeof(line), "ok (%.1f s)", secs);
		b->o.log(b->o.data, line);
		report_cell(b, s, res);
		if (s->kind == ST_HEAD) {
			struct stat st;
			char *e;

			if (b->head[0] == '\0') {
				finish(b, -EIO, false,
				       "checkout: cannot read the commit checked out");
				return;
			}
			e = xstrdup_printf("SOURCE_DATE_EPOCH=%s", b->epoch);
			if (e == NULL || pl_env_set(&b->env, e) < 0) {
				free(e);
				finish(b, -ENOMEM, false, "out of memory");
				return;
			}
			free(e);
			if (stat(b->stepdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
				snprintf(msg, sizeof(msg),
					 "the pipeline's directory is not in the "
					 "checkout of %.12s: %s",
					 b->head, b->stepdir);
				finish(b, -ENOENT, true, msg);
				return;
			}
		}
		b->cur++;
		run_step(b);
		return;
	}
	b->o.log(b->o.data, msg);
	report_cell(b, s, res);
	finish(b, -EIO, user || res->timed_out, msg);
}

static void run_step(struct pl_build *b)
{
	struct step *s;
	struct child_opts co = {0};
	char line[8300], msg[1024];
	int rc;

	if (b->aborted)
		return;
	if (b->cur == b->nsteps) {
		finish(b, 0, false, NULL);
		return;
	}
	s = &b->steps[b->cur];
	rc = start_cell(b, s);
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "cell %s: %s", b->cells[s->cell - 1].name,
			 rc == -E2BIG ? "its env and the pipeline's make more than the "
					"variables a step may have"
				      : "out of memory");
		b->o.log(b->o.data, msg);
		report_cell(b, s, NULL);
		finish(b, rc, rc == -E2BIG, msg);
		return;
	}
	snprintf(line, sizeof(line), "$ %s", s->display);
	b->o.log(b->o.data, line);
	co.argv = (const char *const *)s->argv;
	co.env = (const char *const *)(s->cell > 0 ? b->cellenv.v : b->env.v);
	co.cwd = s->in_stepdir ? b->stepdir : b->workdir;
	co.timeout_ms = s->kind == ST_BUILD || s->kind == ST_VERIFY ? b->timeout_ms
								    : SYSTEM_TIMEOUT_MS;
	co.line = on_line;
	co.done = on_done;
	co.data = b;
	b->started_ms = uv_now(b->loop);
	rc = child_start(b->loop, &co, &b->child);
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "cannot run %.300s: %s", s->display,
			 uv_strerror(rc));
		report_step(b, s, NULL);
		b->o.log(b->o.data, msg);
		report_cell(b, s, NULL);
		finish(b, rc, s->kind == ST_BUILD || s->kind == ST_VERIFY, msg);
	}
}

static void mkdir_work(uv_fs_t *req)
{
	struct pl_build *b = req->data;
	int result = (int)req->result;

	uv_fs_req_cleanup(req);
	free(req);
	if (b->aborted) {
		build_free(b);
		return;
	}
	if (result < 0) {
		char msg[4300];

		snprintf(msg, sizeof(msg), "cannot create the work folder %s: %s",
			 b->workdir, uv_strerror(result));
		finish(b, result, false, msg);
		return;
	}
	run_step(b);
}

/* The earlier attempt's folder goes first (rm -rf as a child), then the new
 * one is created. */
static void removed(void *data, const struct child_result *res)
{
	struct pl_build *b = data;
	uv_fs_t *req = calloc(1, sizeof(*req));

	(void)res;
	b->child = NULL;
	if (req == NULL) {
		finish(b, -ENOMEM, false, "out of memory");
		return;
	}
	req->data = b;
	if (uv_fs_mkdir(b->loop, req, b->workdir, 0700, mkdir_work) < 0) {
		free(req);
		finish(b, -EIO, false, "cannot create the work folder");
	}
}

int pl_build_start(uv_loop_t *loop, const struct pl_build_opts *o, struct pl_build **ret,
		   char *msg, size_t msglen)
{
	struct pl_build *b = calloc(1, sizeof(*b));
	char *rm = pl_system_tool("rm");
	const char *argv[] = {rm, "-rf", "--", o->workdir, NULL};
	struct child_opts co = {.argv = argv, .cwd = "/", .done = removed, .data = b};
	char tmp[4200];
	int rc;

	if (b == NULL || rm == NULL) {
		free(b);
		free(rm);
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	b->loop = loop;
	b->o = *o;
	b->timeout_ms = (uint64_t)o->pipeline->timeout_s * 1000;
	snprintf(b->workdir, sizeof(b->workdir), "%s", o->workdir);
	snprintf(b->stepdir, sizeof(b->stepdir), "%s/src/%s", o->workdir,
		 o->pipeline->directory);
	snprintf(tmp, sizeof(tmp), "%s/tmp", o->workdir);
	rc = pl_env_init(&b->env, o->pipeline, o->workdir, tmp);
	msg[0] = '\0';
	if (rc == 0)
		rc = make_wrap(b, o, msg, msglen);
	if (rc == 0 && b->isolation[0] != '\0') {
		char line[900];

		snprintf(line, sizeof(line), "isolation: %s", b->isolation);
		b->o.log(b->o.data, line);
	}
	if (rc == 0)
		rc = copy_cells(b, o->pipeline);
	if (rc == 0)
		rc = plan(b, o->pipeline, o->commit);
	if (rc == 0) {
		co.env = (const char *const *)b->env.v;
		rc = child_start(loop, &co, &b->child);
	}
	free(rm);
	if (rc < 0) {
		if (msg[0] == '\0')
			snprintf(msg, msglen, "cannot start the build: %s",
				 rc < -1000 ? aos_strerror(rc) : strerror(-rc));
		build_free(b);
		return rc;
	}
	*ret = b;
	return 0;
}

void pl_build_abort(struct pl_build *b)
{
	if (b == NULL)
		return;
	b->aborted = true;
	if (b->child != NULL) {
		child_abort(b->child);
		b->child = NULL;
		build_free(b);
	}
	/* else a mkdir is in flight: its callback frees b */
}

void pl_build_cleanup(uv_loop_t *loop, const char *workdir)
{
	char *rm = pl_system_tool("rm");
	const char *argv[] = {rm, "-rf", "--", workdir, NULL};
	const char *env[] = {"PATH=" DEFAULT_PATH, NULL};
	struct child_opts co = {.argv = argv, .env = env, .cwd = "/"};
	struct child *c;

	if (rm != NULL)
		child_start(loop, &co, &c);
	free(rm);
}
