/* Unit tests for agent/daemon/daemon_probe.c: the sandbox probe runs off
 * the loop thread (the call returns before the caps are filled, and the
 * loop fills them), done() runs on the loop only once the caps are
 * filled, and a probe overtaken by a newer one does not call done() with
 * unfilled caps.  The probe is the real one (bwrap when installed, its
 * absence described otherwise): what is checked is when its result lands. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "daemon/agent.h"
#include "daemon/daemon_probe.h"

static int ndone;
static bool done_saw_probed = true;

static void done(struct agent *a)
{
	ndone++;
	if (!a->sandbox.probed || a->sandbox.detail[0] == '\0')
		done_saw_probed = false;
}

static struct agent *agent_new(struct config *cfg)
{
	struct agent *a = calloc(1, sizeof(*a));

	assert_non_null(a);
	memset(cfg, 0, sizeof(*cfg));
	cfg->build_isolation = ISOLATION_NAMESPACES;
	a->cfg = cfg;
	assert_int_equal(uv_loop_init(&a->loop), 0);
	ndone = 0;
	done_saw_probed = true;
	return a;
}

static void agent_end(struct agent *a)
{
	assert_int_equal(uv_loop_close(&a->loop), 0);
	free(a);
}

static void test_probe_off_the_loop(void **state)
{
	struct config cfg;
	struct agent *a = agent_new(&cfg);

	(void)state;
	agent_probe_sandbox(a, done);
	/* Returned at once: nothing filled, nothing called yet. */
	assert_false(a->sandbox.probed);
	assert_int_equal(ndone, 0);
	assert_int_equal(uv_run(&a->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(ndone, 1);
	assert_true(done_saw_probed);
	assert_true(a->sandbox.probed);
	agent_end(a);
}

static void test_newest_probe_wins(void **state)
{
	struct config cfg;
	struct agent *a = agent_new(&cfg);

	(void)state;
	agent_probe_sandbox(a, done);
	agent_probe_sandbox(a, done);
	agent_probe_sandbox(a, done);
	assert_int_equal(a->probe_gen, 3);
	assert_int_equal(uv_run(&a->loop, UV_RUN_DEFAULT), 0);
	/* The newest one's result was taken; an older one ending before it
	 * found no caps to report and called nothing. */
	assert_true(ndone >= 1 && ndone <= 3);
	assert_true(done_saw_probed);
	assert_true(a->sandbox.probed);
	agent_end(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_probe_off_the_loop),
	    cmocka_unit_test(test_newest_probe_wins),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
