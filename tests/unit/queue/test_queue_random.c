/* Random operations on the queue checked against the claim rules and the
 * package-head bookkeeping, on the backend the fixture picks (SQLite, or
 * PostgreSQL with AOS_TEST_PG: ctest unit.test_queue_random and
 * unit.test_queue_random.postgresql).  AOS_TEST_SEED replays a run.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/err.h"
#include "queue/queue.h"
#include "tests/unit/queue/queue_fixture.h"

/* ---- random operations against the claim rules ---- */

#define RND_JOBS 400

static uint32_t rnd_next(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static bool is_open(enum job_state s)
{
	return s == JOB_QUEUED || s == JOB_RUNNING || s == JOB_FAILED;
}

static bool valid_lease(const struct job *j, int64_t now)
{
	return j->state == JOB_RUNNING && j->lease_expires_ms > now;
}

/* Every head is the oldest unfinished job of its package, and only it. */
static void check_heads(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;

	if (fx_pg() != NULL) {
		assert_int_equal(
		    fx_pg_count(path, "SELECT count(*) FROM aos_jobs AS j "
				      "WHERE head IS DISTINCT FROM "
				      "(state IN (1, 2, 4) AND id = (SELECT min(id) "
				      "FROM aos_jobs AS o WHERE o.package = j.package "
				      "AND o.state IN (1, 2, 4)))"),
		    0);
		return;
	}
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db,
			       "SELECT count(*) FROM jobs AS j WHERE head != "
			       "(state IN (1, 2, 4) AND id = (SELECT min(id) "
			       "FROM jobs AS o WHERE o.package = j.package "
			       "AND o.state IN (1, 2, 4)))",
			       -1, &s, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
}

/* After a claim that could take everything: what is still eligible was
 * left for a reason, and nothing breaks the rules. */
static void check_rules(struct queue *q, int64_t now, int limit,
			const struct job *claimed, int nclaimed, const struct job *before,
			int nbefore)
{
	static struct job all[RND_JOBS + 10];
	int n, i, k, running_pkg, running_reg;
	bool older_open, pkg_busy;

	n = q->ops->list(q, &(struct job_filter){.limit = RND_JOBS + 10}, all,
			 RND_JOBS + 10);
	assert_true(n >= 0);
	/* Claimed jobs had no older unfinished job of their package. */
	for (i = 0; i < nclaimed; i++)
		for (k = 0; k < nbefore; k++)
			if (strcmp(before[k].package, claimed[i].package) == 0 &&
			    before[k].id < claimed[i].id && is_open(before[k].state))
				fail_msg("job %lld claimed before older job %lld",
					 (long long)claimed[i].id,
					 (long long)before[k].id);
	for (i = 0; i < n; i++) {
		const struct job *j = &all[i];

		running_pkg = running_reg = 0;
		older_open = pkg_busy = false;
		for (k = 0; k < n; k++) {
			if (strcmp(all[k].package, j->package) == 0) {
				running_pkg += valid_lease(&all[k], now);
				older_open |= all[k].id < j->id && is_open(all[k].state);
				pkg_busy |= k != i && valid_lease(&all[k], now);
			}
			if (strcmp(all[k].registry, j->registry) == 0)
				running_reg += valid_lease(&all[k], now);
		}
		assert_true(running_pkg <= 1);
		assert_true(running_reg <= limit);
		/* Still due and allowed? Then the claim should have taken it. */
		if ((j->state == JOB_QUEUED || j->state == JOB_FAILED) &&
		    j->next_run_ms <= now && !older_open && !pkg_busy &&
		    running_reg < limit)
			fail_msg("job %lld was eligible but not claimed",
				 (long long)j->id);
		if (j->state == JOB_RUNNING && j->lease_expires_ms <= now &&
		    !older_open && !pkg_busy && running_reg < limit)
			fail_msg("job %lld lease ran out but not reclaimed",
				 (long long)j->id);
	}
	for (i = 0; i < n; i++)
		job_clear(&all[i]);
}

static void test_claim_random(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	static struct job before[RND_JOBS + 10];
	struct job j[64], cur;
	const char *env = getenv("AOS_TEST_SEED"); /* to replay a failure */
	uint32_t seed =
	    env != NULL ? (uint32_t)strtoul(env, NULL, 10) : (uint32_t)time(NULL);
	uint32_t x;
	int64_t now = T0, id, njobs = 0, counts[JOB_CANCELED + 1];
	char key[32], pkg[16], reg[16], owner[16];
	int64_t recent[16] = {0}; /* recently claimed: finished more often */
	int step, n, nb, i, r, nclaimed = 0;

	x = seed != 0 ? seed : 1;
	print_message("seed %u (AOS_TEST_SEED=%u replays it)\n", seed, seed);
	for (step = 0; step < 3000 && njobs < RND_JOBS; step++) {
		switch (rnd_next(&x) % 8) {
		case 0:
		case 1:
			snprintf(key, sizeof(key), "k%d", step);
			snprintf(pkg, sizeof(pkg), "p%u", rnd_next(&x) % 6);
			snprintf(reg, sizeof(reg), "r%u", rnd_next(&x) % 3);
			enqueue_in(q, key, reg, pkg,
				   now + (int64_t)(rnd_next(&x) % 5000));
			njobs++;
			break;
		case 2: now += rnd_next(&x) % (LEASE * 3 / 2); break;
		case 3:
			nb = q->ops->list(q, &(struct job_filter){.limit = RND_JOBS + 10},
					  before, RND_JOBS + 10);
			snprintf(owner, sizeof(owner), "w%u:1", rnd_next(&x) % 3);
			n = claim(q, owner, now, 2, j, 64);
			if (n < 0)
				fail_msg("seed %u step %d: claim %d", seed, step, n);
			check_rules(q, now, 2, j, n, before, nb);
			for (i = 0; i < n; i++)
				recent[(nclaimed + i) % 16] = j[i].id;
			nclaimed += n;
			for (i = 0; i < nb; i++)
				job_clear(&before[i]);
			for (i = 0; i < n; i++)
				job_clear(&j[i]);
			break;
		default:
			if (njobs == 0)
				break;
			id = 1 + (int64_t)(rnd_next(&x) % (uint32_t)njobs);
			if (rnd_next(&x) % 4 != 0 && recent[0] != 0)
				id = recent[rnd_next(&x) % 16];
			if (id == 0)
				break;
			cur = get(q, id);
			r = (int)(rnd_next(&x) % 8);
			if (cur.state == JOB_RUNNING && r < 5) {
				static const enum job_state to[] = {
				    JOB_SUCCEEDED, JOB_FAILED, JOB_DEAD, JOB_QUEUED};
				if (r == 4)
					assert_int_equal(
					    q->ops->heartbeat(q, id, cur.fence, now,
							      LEASE),
					    cur.lease_expires_ms > now ? 0 : AOS_EFENCED);
				else
					assert_int_equal(q->ops->finish(q, id, cur.fence,
									to[r], now + 1000,
									OUT_NONE, "e",
									now),
							 0);
			} else if (r == 5) {
				q->ops->cancel(q, id, NULL, now);
			} else if (r == 6) {
				q->ops->retry(q, id, now);
			} else {
				snprintf(owner, sizeof(owner), "w%u:", rnd_next(&x) % 3);
				assert_true(q->ops->release_owner(q, owner, now) >= 0);
			}
			break;
		}
		check_heads(fx->path);
		fx_check_counts(q, fx->path);
	}
	assert_int_equal(q->ops->counts(q, counts), 0);
	print_message("%d steps, %d claimed: queued %lld, running %lld, succeeded %lld, "
		      "failed %lld, dead %lld, canceled %lld\n",
		      step, nclaimed, (long long)counts[1], (long long)counts[2],
		      (long long)counts[3], (long long)counts[4], (long long)counts[5],
		      (long long)counts[6]);
	assert_true(nclaimed > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_claim_random, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
