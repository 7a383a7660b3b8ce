/* Unit tests for agent/config/config_env.c: the steps' environment
 * (pipelines.X.env and the cells of pipelines.X.verify_matrix, one rule for
 * both) and the matrix itself: good matrices parsed as written, every bad
 * one refused naming its key path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config_fixture.h"

#define VERIFY ",\"verify\":[\"python3 -m twine check dist/*\",[\"sh\",\"v.sh\"]]"

/* "pipelines":{"py":{PIPE_KEYS EXTRA}} */
static void with(char *out, size_t len, const char *extra)
{
	snprintf(out, len, "\"pipelines\":{\"py\":{" PIPE_KEYS "%s}}", extra);
}

static void test_matrix_good(void **state)
{
	char s[2048];
	struct config *cfg;
	const struct pipeline_cfg *p;

	(void)state;
	with(s, sizeof(s),
	     VERIFY ",\"env\":{\"CI\":\"1\"},\"verify_matrix\":["
		    "{\"name\":\"py311\",\"env\":{\"PATH\":\"/opt/py311/bin:/usr/bin\","
		    "\"PYTHONDONTWRITEBYTECODE\":\"1\"}},"
		    "{\"name\":\"node-20.x_b\",\"env\":{\"PATH\":\"/opt/node20/bin\"}},"
		    "{\"name\":\"plain\"}]");
	cfg = parse_ok(s);
	p = config_pipeline(cfg, "py");
	assert_int_equal(p->nverify, 2);
	assert_int_equal(p->nenv, 1);
	assert_string_equal(p->env[0], "CI=1");
	assert_int_equal(p->nmatrix, 3);
	assert_string_equal(p->matrix[0].name, "py311");
	assert_int_equal(p->matrix[0].nenv, 2);
	assert_string_equal(p->matrix[0].env[0], "PATH=/opt/py311/bin:/usr/bin");
	assert_string_equal(p->matrix[0].env[1], "PYTHONDONTWRITEBYTECODE=1");
	assert_null(p->matrix[0].env[2]);
	assert_string_equal(p->matrix[1].name, "node-20.x_b");
	assert_string_equal(p->matrix[1].env[0], "PATH=/opt/node20/bin");
	/* a cell without env runs in the pipeline's own */
	assert_string_equal(p->matrix[2].name, "plain");
	assert_int_equal(p->matrix[2].nenv, 0);
	config_free(cfg);

	/* absent or empty: no matrix, verify runs once */
	with(s, sizeof(s), VERIFY);
	cfg = parse_ok(s);
	assert_int_equal(config_pipeline(cfg, "py")->nmatrix, 0);
	assert_null(config_pipeline(cfg, "py")->matrix);
	config_free(cfg);
	with(s, sizeof(s), VERIFY ",\"verify_matrix\":[]");
	cfg = parse_ok(s);
	assert_int_equal(config_pipeline(cfg, "py")->nmatrix, 0);
	config_free(cfg);
}

static const struct {
	const char *extra, *keypath, *want;
} bad[] = {
    {VERIFY ",\"verify_matrix\":{\"py311\":{}}", "pipelines.py.verify_matrix",
     "expected an array of cells"},
    {VERIFY ",\"verify_matrix\":[\"py311\"]", "pipelines.py.verify_matrix[0]",
     "expected an object"},
    {VERIFY ",\"verify_matrix\":[{\"env\":{}}]", "pipelines.py.verify_matrix[0].name",
     "missing"},
    {VERIFY ",\"verify_matrix\":[{\"name\":\"\"}]", "pipelines.py.verify_matrix[0].name",
     "expected a non-empty string"},
    {VERIFY ",\"verify_matrix\":[{\"name\":\"py 3.11\"}]",
     "pipelines.py.verify_matrix[0].name", "expected letters, digits"},
    {VERIFY ",\"verify_matrix\":[{\"name\":\"a/b\"}]",
     "pipelines.py.verify_matrix[0].name", "expected letters, digits"},
    {VERIFY ",\"verify_matrix\":[{\"name\":\"x\"},{\"name\":\"y\"},{\"name\":\"x\"}]",
     "pipelines.py.verify_matrix[2].name", "\"x\" names cell 0 already"},
    {VERIFY ",\"verify_matrix\":[{\"name\":\"x\",\"path\":\"/opt\"}]",
     "pipelines.py.verify_matrix[0].path", "unknown key"},
    {VERIFY ",\"verify_matrix\":[{\"name\":\"x\",\"env\":[\"PATH=/opt\"]}]",
     "pipelines.py.verify_matrix[0].env", "expected an object"},
    {VERIFY ",\"verify_matrix\":[{\"name\":\"x\",\"env\":{\"PATH\":3}}]",
     "pipelines.py.verify_matrix[0].env", "\"PATH\": expected NAME: \"value\""},
    {VERIFY ",\"verify_matrix\":[{\"name\":\"x\",\"env\":{\"HOME\":\"/root\"}}]",
     "pipelines.py.verify_matrix[0].env", "HOME cannot be set"},
    {VERIFY ",\"verify_matrix\":[{\"name\":\"x\",\"env\":{\"TMPDIR\":\"/tmp\"}}]",
     "pipelines.py.verify_matrix[0].env", "TMPDIR cannot be set"},
    {VERIFY ",\"verify_matrix\":[{\"name\":\"x\",\"env\":{\"SOURCE_DATE_EPOCH\":\"0\"}}]",
     "pipelines.py.verify_matrix[0].env", "SOURCE_DATE_EPOCH cannot be set"},
    {VERIFY
     ",\"verify_matrix\":[{\"name\":\"x\",\"env\":{\"GIT_ALLOW_PROTOCOL\":\"ext\"}}]",
     "pipelines.py.verify_matrix[0].env", "GIT_ALLOW_PROTOCOL cannot be set"},
    {VERIFY ",\"verify_matrix\":[{\"name\":\"x\",\"env\":{\"LD_PRELOAD\":\"/x.so\"}}]",
     "pipelines.py.verify_matrix[0].env", "LD_* cannot be set"},
    {VERIFY ",\"verify_matrix\":[{\"name\":\"x\",\"env\":{\"A=B\":\"1\"}}]",
     "pipelines.py.verify_matrix[0].env", "no '='"},
    /* a matrix without verify steps would run nothing */
    {",\"verify_matrix\":[{\"name\":\"x\"}]", "pipelines.py.verify_matrix",
     "no verify steps to run"},
    /* the pipeline's own env: the same rule (failed before: only HOME was
     * refused there) */
    {",\"env\":{\"LD_PRELOAD\":\"/x.so\"}", "pipelines.py.env", "LD_* cannot be set"},
    {",\"env\":{\"LD_LIBRARY_PATH\":\"/x\"}", "pipelines.py.env", "LD_* cannot be set"},
    {",\"env\":{\"TMPDIR\":\"/tmp\"}", "pipelines.py.env", "TMPDIR cannot be set"},
    {",\"env\":{\"GIT_ALLOW_PROTOCOL\":\"ext:file\"}", "pipelines.py.env",
     "GIT_ALLOW_PROTOCOL cannot be set"},
    {",\"env\":{\"SOURCE_DATE_EPOCH\":\"1\"}", "pipelines.py.env",
     "SOURCE_DATE_EPOCH cannot be set"},
    {",\"env\":{\"GIT_TERMINAL_PROMPT\":\"1\"}", "pipelines.py.env",
     "GIT_TERMINAL_PROMPT cannot be set"},
};

static void test_matrix_bad(void **state)
{
	char s[2048];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		with(s, sizeof(s), bad[i].extra);
		expect_error(s, bad[i].keypath, bad[i].want);
	}
}

/* The bounds: a name of 64 bytes, 16 cells, build + verify x cells within
 * PIPELINE_STEPS_MAX. */
static void test_matrix_bounds(void **state)
{
	char s[6000], cells[4000], name[80];
	struct config *cfg;
	size_t i, o = 0;

	(void)state;
	memset(name, 'n', 64);
	name[64] = '\0';
	snprintf(cells, sizeof(cells), VERIFY ",\"verify_matrix\":[{\"name\":\"%s\"}]",
		 name);
	with(s, sizeof(s), cells);
	cfg = parse_ok(s);
	assert_int_equal(strlen(config_pipeline(cfg, "py")->matrix[0].name), 64);
	config_free(cfg);
	snprintf(cells, sizeof(cells), VERIFY ",\"verify_matrix\":[{\"name\":\"%sn\"}]",
		 name);
	with(s, sizeof(s), cells);
	expect_error(s, "pipelines.py.verify_matrix[0].name", "at most 64 bytes");

	/* 16 cells of 2 verify steps: taken; a 17th: refused */
	o = (size_t)snprintf(cells, sizeof(cells), VERIFY ",\"verify_matrix\":[");
	for (i = 0; i < 16; i++)
		o += (size_t)snprintf(cells + o, sizeof(cells) - o,
				      "%s{\"name\":\"c%zu\"}", i ? "," : "", i);
	snprintf(cells + o, sizeof(cells) - o, "]");
	with(s, sizeof(s), cells);
	cfg = parse_ok(s);
	assert_int_equal(config_pipeline(cfg, "py")->nmatrix, 16);
	config_free(cfg);
	snprintf(cells + o, sizeof(cells) - o, ",{\"name\":\"c16\"}]");
	with(s, sizeof(s), cells);
	expect_error(s, "pipelines.py.verify_matrix", "at most 16 cells");

	/* 5 verify steps in 15 cells (75) and a build step: one too many */
	o = (size_t)snprintf(cells, sizeof(cells),
			     ",\"verify\":[\"a\",\"b\",\"c\",\"d\",\"e\"],"
			     "\"verify_matrix\":[");
	for (i = 0; i < 15; i++)
		o += (size_t)snprintf(cells + o, sizeof(cells) - o,
				      "%s{\"name\":\"c%zu\"}", i ? "," : "", i);
	snprintf(cells + o, sizeof(cells) - o, "]");
	with(s, sizeof(s), cells);
	expect_error(s, "pipelines.py",
		     "1 build step(s) and 5 verify step(s) in 15 cell(s) "
		     "make 76 steps, more than the 75 of one job");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_matrix_good),
	    cmocka_unit_test(test_matrix_bad),
	    cmocka_unit_test(test_matrix_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
