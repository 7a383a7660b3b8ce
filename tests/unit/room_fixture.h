/* room_fixture.h - the teardown shared by the unit fixtures of rooms that
 * run on a loop with a Vault session, a SQLite queue and a parsed
 * configuration, in a folder of their own (tests/unit/worker/
 * worker_fixture.h, tests/unit/pipeline/test_reconcile.c).  Include it
 * after <cmocka.h>. */
#ifndef AOS_TEST_ROOM_FIXTURE_H
#define AOS_TEST_ROOM_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include <uv.h>

#include "config/config.h"
#include "queue/queue.h"
#include "session/session.h"

/* Closes the session, runs the loop until every handle is closed (the
 * caller has closed its own: the worker, the transport) and closes it, then
 * closes the queue, frees the configuration and its text, and removes dir
 * and everything in it. */
static inline void room_fx_close(uv_loop_t *loop, struct vault_session *s,
				 struct queue *q, struct config *cfg, char *cfg_text,
				 const char *dir)
{
	char cmd[128];

	session_close(s);
	assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(loop), 0);
	q->ops->close(q);
	config_free(cfg);
	free(cfg_text);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

#endif
