/* Unit tests for common/wipe.c: the allocation functions that wipe. */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/crypto.h>

#include "common/wipe.h"

static int all_zero(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

static void test_wipe_block_clears_the_whole_block(void **state)
{
	unsigned char *p = wipe_malloc(40);
	size_t usable;

	(void)state;
	assert_non_null(p);
	usable = malloc_usable_size(p);
	assert_true(usable >= 40);
	memset(p, 0xa5, usable);
	wipe_block(p);
	assert_true(all_zero(p, usable)); /* beyond the 40 asked for too */
	wipe_free(p);
	wipe_free(NULL);
	wipe_block(NULL);
}

static void test_realloc_keeps_contents(void **state)
{
	char *p = wipe_realloc(NULL, 8), *q;

	(void)state;
	assert_non_null(p);
	memcpy(p, "abcdefg", 8);
	q = wipe_realloc(p, 4096); /* grows: a new block */
	assert_non_null(q);
	assert_string_equal(q, "abcdefg");
	q[4095] = 'z';
	p = wipe_realloc(q, 3); /* shrinks: the first bytes stay */
	assert_non_null(p);
	assert_memory_equal(p, "abc", 3);
	assert_null(wipe_realloc(p, 0)); /* frees */
}

static void test_strdup_and_calloc(void **state)
{
	char *s = wipe_strdup("token-shaped");
	unsigned char *z = wipe_calloc(16, 4);

	(void)state;
	assert_string_equal(s, "token-shaped");
	assert_non_null(z);
	assert_true(all_zero(z, 64));
	wipe_free(s);
	wipe_free(z);
}

/* Runs first (see main): OpenSSL has allocated nothing yet. */
static void test_openssl_allocates_through_wipe(void **state)
{
	CRYPTO_malloc_fn m = NULL;
	CRYPTO_realloc_fn r = NULL;
	CRYPTO_free_fn f = NULL;
	void *p;

	(void)state;
	assert_int_equal(wipe_install_openssl(), 0);
	CRYPTO_get_mem_functions(&m, &r, &f);
	assert_ptr_not_equal(m, CRYPTO_malloc);
	assert_ptr_not_equal(f, CRYPTO_free);
	p = OPENSSL_malloc(100);
	assert_non_null(p);
	p = OPENSSL_realloc(p, 1000);
	assert_non_null(p);
	OPENSSL_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_openssl_allocates_through_wipe),
	    cmocka_unit_test(test_wipe_block_clears_the_whole_block),
	    cmocka_unit_test(test_realloc_keeps_contents),
	    cmocka_unit_test(test_strdup_and_calloc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
