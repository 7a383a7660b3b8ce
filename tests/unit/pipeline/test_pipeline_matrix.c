/* Unit tests for the verify_matrix sequencing of agent/pipeline/pipeline_steps.c:
 * a real build (no sandbox: no configuration given) of a local git
 * repository, whose verify steps run once per cell, cell after cell, each
 * with its cell's env over the pipeline's; a failing cell ends the build,
 * naming the cell, and the cells after it do not run. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "pipeline/pipeline_steps.h"

#define MAX_LINES 200

struct fx {
	char root[PATH_MAX], repo[PATH_MAX], work[PATH_MAX], commit[64];
	char bin[2][PATH_MAX];
};

/* What the build reported. */
struct seen {
	char *log[MAX_LINES];
	size_t nlog;
	char cells[512]; /* "name=result;" for each o.cell call */
	size_t nverify;	 /* o.step calls for verify steps */
	bool done;
	int rc;
	bool permanent;
	char error[1024];
};

static void run_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run_sh(const char *fmt, ...)
{
	char cmd[4 * PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("failed: %s", cmd);
}

/* A git repository with one commit, and two folders each holding a `tool`
 * that says which it is. */
static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	FILE *f;
	int i;

	assert_non_null(fx);
	snprintf(fx->root, sizeof(fx->root), "/tmp/aos-plmatrix-XXXXXX");
	assert_non_null(mkdtemp(fx->root));
	snprintf(fx->repo, sizeof(fx->repo), "%s/repo", fx->root);
	snprintf(fx->work, sizeof(fx->work), "%s/job-1", fx->root);
	run_sh("git init -q '%s' && echo x > '%s/README' && git -C '%s' add README && "
	       "git -C '%s' -c user.name=t -c user.email=t@example.test commit -qm one",
	       fx->repo, fx->repo, fx->repo, fx->repo);
	for (i = 0; i < 2; i++) {
		snprintf(fx->bin[i], sizeof(fx->bin[i]), "%s/bin-%c", fx->root, 'a' + i);
		run_sh(
		    "mkdir '%s' && printf '#!/bin/sh\\necho tool-%c\\n' > '%s/tool' && "
		    "chmod +x '%s/tool'",
		    fx->bin[i], 'a' + i, fx->bin[i], fx->bin[i]);
	}
	{
		char cmd[PATH_MAX + 64];

		snprintf(cmd, sizeof(cmd), "git -C '%s' rev-parse HEAD", fx->repo);
		f = popen(cmd, "r");
		assert_non_null(f);
		assert_non_null(fgets(fx->commit, sizeof(fx->commit), f));
		fx->commit[strcspn(fx->commit, "\n")] = '\0';
		assert_int_equal(pclose(f), 0);
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	run_sh("rm -rf '%s'", fx->root);
	free(fx);
	return 0;
}

static void on_log(void *data, const char *text)
{
	struct seen *s = data;

	if (s->nlog < MAX_LINES)
		s->log[s->nlog++] = strdup(text);
}

static void on_done(void *data, int rc, bool permanent, const char *head,
		    const char *error)
{
	struct seen *s = data;

	(void)head;
	s->done = true;
	s->rc = rc;
	s->permanent = permanent;
	snprintf(s->error, sizeof(s->error), "%s", error != NULL ? error : "");
}

static void on_step(void *data, const char *which, const char *result, double seconds)
{
	struct seen *s = data;

	(void)result;
	(void)seconds;
	s->nverify += strcmp(which, "verify") == 0;
}

static void on_cell(void *data, const char *name, const char *result, double seconds)
{
	struct seen *s = data;
	size_t n = strlen(s->cells);

	assert_true(seconds >= 0);
	snprintf(s->cells + n, sizeof(s->cells) - n, "%s=%s;", name, result);
}

static bool logged(const struct seen *s, const char *text)
{
	size_t i;

	for (i = 0; i < s->nlog; i++)
		if (strstr(s->log[i], text) != NULL)
			return true;
	return false;
}

/* The work folder's file "order": what the steps wrote, in order. */
static void read_order(const struct fx *fx, char *out, size_t len)
{
	char path[PATH_MAX + 8];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/order", fx->work);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	fclose(f);
}

/* Builds with cells a and b (PATH with bin-a, bin-b first); the second
 * verify step fails in the cell named by fail ("" for none). */
static void build(struct fx *fx, const char *fail, struct seen *s)
{
	char *build_argv[] = {"/bin/sh", "-c", "echo built >> \"$HOME/order\"", NULL};
	char *v1[] = {"/bin/sh", "-c",
		      "echo \"$CELL-1 $(tool) ${ONLY_A:-unset} $CI\" >> \"$HOME/order\"",
		      NULL};
	char *v2[] = {
	    "/bin/sh", "-c",
	    "echo \"$CELL-2\" >> \"$HOME/order\"; test \"$CELL\" != \"$FAIL_CELL\"",
	    NULL};
	struct step_cfg steps_b[] = {{build_argv, 3, "echo built"}};
	struct step_cfg steps_v[] = {{v1, 3, "verify one"}, {v2, 3, "verify two"}};
	char path_a[PATH_MAX + 32], path_b[PATH_MAX + 32], failenv[64];
	char *env_a[] = {path_a, "CELL=a", "ONLY_A=set", NULL};
	char *env_b[] = {path_b, "CELL=b", NULL};
	char *penv[] = {"CI=1", failenv, NULL};
	struct verify_cell cells[] = {{"a", env_a, 3}, {"b", env_b, 2}};
	struct pipeline_cfg p = {.name = "m",
				 .repository = fx->repo,
				 .directory = ".",
				 .build = steps_b,
				 .nbuild = 1,
				 .verify = steps_v,
				 .nverify = 2,
				 .matrix = cells,
				 .nmatrix = 2,
				 .env = penv,
				 .nenv = 2,
				 .timeout_s = 60};
	struct pl_build_opts o = {.pipeline = &p,
				  .workdir = fx->work,
				  .commit = fx->commit,
				  .log = on_log,
				  .done = on_done,
				  .step = on_step,
				  .cell = on_cell,
				  .data = s};
	struct pl_build *b = NULL;
	char msg[512];
	uv_loop_t loop;

	snprintf(path_a, sizeof(path_a), "PATH=%s:/usr/bin:/bin", fx->bin[0]);
	snprintf(path_b, sizeof(path_b), "PATH=%s:/usr/bin:/bin", fx->bin[1]);
	snprintf(failenv, sizeof(failenv), "FAIL_CELL=%s", fail);
	memset(s, 0, sizeof(*s));
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(pl_build_start(&loop, &o, &b, msg, sizeof(msg)), 0);
	/* p and its cells are read at start only: the build keeps copies */
	memset(&p, 0, sizeof(p));
	memset(cells, 0, sizeof(cells));
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_true(s->done);
}

static void seen_free(struct seen *s)
{
	size_t i;

	for (i = 0; i < s->nlog; i++)
		free(s->log[i]);
}

static void test_every_cell_in_order(void **state)
{
	struct fx *fx = *state;
	struct seen s;
	char order[1024], want[512];

	build(fx, "", &s);
	if (s.rc != 0)
		fail_msg("build failed: %s", s.error);
	read_order(fx, order, sizeof(order));
	/* build once, then both verify steps in a, then in b; each cell's
	 * env over the pipeline's, and a's own variable not in b */
	assert_string_equal(order, "built\n"
				   "a-1 tool-a set 1\na-2\n"
				   "b-1 tool-b unset 1\nb-2\n");
	assert_string_equal(s.cells, "a=ok;b=ok;");
	assert_int_equal(s.nverify, 4);
	snprintf(want, sizeof(want),
		 "verify in cell a (1 of 2): PATH=%s:/usr/bin:/bin CELL=a "
		 "ONLY_A=set",
		 fx->bin[0]);
	assert_true(logged(&s, want));
	assert_true(logged(&s, "verify in cell b (2 of 2): PATH="));
	assert_true(logged(&s, "cell a: ok ("));
	assert_true(logged(&s, "cell b: ok ("));
	seen_free(&s);
}

static void test_failing_cell_stops(void **state)
{
	struct fx *fx = *state;
	struct seen s;
	char order[1024];

	/* the first cell fails: the second never runs */
	build(fx, "a", &s);
	read_order(fx, order, sizeof(order));
	assert_string_equal(order, "built\na-1 tool-a set 1\na-2\n");
	assert_string_equal(s.cells, "a=failed;");
	assert_true(s.rc < 0);
	assert_true(s.permanent);
	assert_non_null(
	    strstr(s.error, "verify step 2 in cell a failed with exit status 1"));
	assert_true(logged(&s, "cell a: failed ("));
	assert_false(logged(&s, "verify in cell b"));
	seen_free(&s);

	/* the second fails after the first passed */
	build(fx, "b", &s);
	read_order(fx, order, sizeof(order));
	assert_string_equal(order,
			    "built\na-1 tool-a set 1\na-2\nb-1 tool-b unset 1\nb-2\n");
	assert_string_equal(s.cells, "a=ok;b=failed;");
	assert_true(s.rc < 0 && s.permanent);
	assert_non_null(
	    strstr(s.error, "verify step 2 in cell b failed with exit status 1"));
	seen_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_cell_in_order),
	    cmocka_unit_test(test_failing_cell_stops),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
