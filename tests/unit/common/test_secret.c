/* Unit tests for common/secret.c and common/backoff.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cmocka.h>
#include <openssl/crypto.h>

#include "common/backoff.h"
#include "common/secret.h"

static int setup(void **state)
{
	(void)state;
	return secret_init_process(64 * 1024) == 0 ? 0 : -1;
}

static void test_process_hardening(void **state)
{
	struct rlimit rl;

	(void)state;
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
	assert_int_equal(rl.rlim_cur, 0);
	assert_true(CRYPTO_secure_malloc_initialized());
}

static void test_secure_heap_and_refs(void **state)
{
	struct secret *s = NULL;
	size_t before = secret_live_count();

	(void)state;
	assert_int_equal(secret_new("hunter2", 7, &s), 0);
	assert_true(CRYPTO_secure_allocated(s));
	assert_string_equal(secret_value(s), "hunter2");
	assert_int_equal(secret_len(s), 7);
	assert_int_equal(secret_live_count(), before + 1);
	assert_ptr_equal(secret_ref(s), s);
	assert_int_equal(secret_refs(s), 2);
	secret_unref(s); /* an upload lets go... */
	assert_int_equal(secret_live_count(), before + 1);
	secret_unref(s); /* ...and the last reference frees */
	assert_int_equal(secret_live_count(), before);
	secret_unref(NULL);
}

static void test_equal(void **state)
{
	struct secret *a = NULL, *b = NULL, *c = NULL;

	(void)state;
	assert_int_equal(secret_new("same", 4, &a), 0);
	assert_int_equal(secret_new("same", 4, &b), 0);
	assert_int_equal(secret_new("diff", 4, &c), 0);
	assert_true(secret_equal(a, b));
	assert_false(secret_equal(a, c));
	assert_false(secret_equal(a, NULL));
	secret_unref(a);
	secret_unref(b);
	secret_unref(c);
}

/* A scripted random source for the backoff tests. */
static uint64_t fixed_rand(void *ctx)
{
	return *(uint64_t *)ctx;
}

static void test_backoff_bounds(void **state)
{
	uint64_t zero = 0, max = UINT64_MAX;
	unsigned a;

	(void)state;
	/* The floor: never below min. */
	for (a = 0; a < 40; a++)
		assert_int_equal(backoff_delay_ms(a, 1000, 300000, fixed_rand, &zero),
				 1000);
	/* The ceiling doubles per attempt and stops at max. */
	assert_true(backoff_delay_ms(0, 1000, 300000, fixed_rand, &max) <= 1000);
	assert_true(backoff_delay_ms(1, 1000, 300000, fixed_rand, &max) <= 2000);
	assert_true(backoff_delay_ms(3, 1000, 300000, fixed_rand, &max) <= 8000);
	for (a = 9; a < 64; a++)
		assert_true(backoff_delay_ms(a, 1000, 300000, fixed_rand, &max) <=
			    300000);
}

static void test_backoff_spread(void **state)
{
	uint64_t lo = UINT64_MAX, hi = 0, d;
	int i;

	(void)state;
	for (i = 0; i < 2000; i++) {
		d = backoff_delay_ms(5, 1000, 300000, aos_rand_u64, NULL);
		assert_true(d >= 1000 && d <= 32000);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	/* Full jitter: the draws spread over most of the window. */
	assert_true(lo < 4000);
	assert_true(hi > 28000);
}

static void test_jitter(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < 1000; i++) {
		uint64_t d = jitter_ms(30000, 10, aos_rand_u64, NULL);

		assert_true(d >= 27000 && d <= 33000);
	}
	assert_int_equal(uniform_ms(5, 5, aos_rand_u64, NULL), 5);
	assert_int_equal(uniform_ms(9, 3, aos_rand_u64, NULL), 9);
}

/* Runs last: secret_done_process() counts what is left once it has dropped
 * the fingerprint key, which lives until then (a clean stop used to report
 * the key as a leak), and keeps the heap while a secret is alive. */
static void test_done_process_counts_leaks(void **state)
{
	unsigned char key[SECRET_FPR_KEY_LEN] = {7};
	struct secret *k = NULL, *left = NULL;

	(void)state;
	assert_int_equal(secret_live_count(), 0);
	assert_int_equal(secret_new((const char *)key, sizeof(key), &k), 0);
	assert_int_equal(secret_fingerprint_key_set(k), 0);
	secret_unref(k); /* the key alone holds it now */
	assert_int_equal(secret_new("left", 4, &left), 0);
	assert_int_equal(secret_done_process(), 1); /* "left", not the key */
	assert_true(CRYPTO_secure_malloc_initialized());
	secret_unref(left);
	assert_int_equal(secret_done_process(), 0);
	assert_false(CRYPTO_secure_malloc_initialized());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_process_hardening),
	    cmocka_unit_test(test_secure_heap_and_refs),
	    cmocka_unit_test(test_equal),
	    cmocka_unit_test(test_backoff_bounds),
	    cmocka_unit_test(test_backoff_spread),
	    cmocka_unit_test(test_jitter),
	    cmocka_unit_test(test_done_process_counts_leaks),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
