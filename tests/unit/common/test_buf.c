/* Unit tests for common/buf.c: the bounded buffer. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"

static void test_append_and_terminate(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(buf_append(&b, "abc", 3), 0);
	assert_int_equal(buf_puts(&b, "def"), 0);
	assert_int_equal(b.len, 6);
	assert_string_equal(b.data, "abcdef");
	assert_int_equal(buf_printf(&b, "-%d-%s", 42, "x"), 0);
	assert_string_equal(b.data, "abcdef-42-x");
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

static void test_limit_is_hard(void **state)
{
	struct buf b;
	char big[300];

	(void)state;
	memset(big, 'x', sizeof(big));
	buf_init(&b, 256);
	assert_int_equal(buf_append(&b, big, 200), 0);
	/* Past the limit: refused, contents unchanged. */
	assert_int_equal(buf_append(&b, big, 57), AOS_ETOOBIG);
	assert_int_equal(b.len, 200);
	assert_int_equal(buf_append(&b, big, 56), 0);
	assert_int_equal(b.len, 256);
	assert_int_equal(buf_append(&b, "y", 1), AOS_ETOOBIG);
	assert_int_equal(buf_printf(&b, "%s", "z"), AOS_ETOOBIG);
	assert_int_equal(b.data[256], '\0');
	buf_free(&b);
}

static void test_reset_keeps_limit(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_puts(&b, "12345678"), 0);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(buf_puts(&b, "123456789"), AOS_ETOOBIG);
	assert_int_equal(buf_puts(&b, "abc"), 0);
	assert_string_equal(b.data, "abc");
	buf_free(&b);
	buf_free(&b); /* twice is harmless */
}

static void test_growth_many_appends(void **state)
{
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b, 100000);
	for (i = 0; i < 10000; i++)
		assert_int_equal(buf_append(&b, "0123456789", 10), 0);
	assert_int_equal(b.len, 100000);
	assert_int_equal(memcmp(b.data + 99990, "0123456789", 10), 0);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_append_and_terminate),
	    cmocka_unit_test(test_limit_is_hard),
	    cmocka_unit_test(test_reset_keeps_limit),
	    cmocka_unit_test(test_growth_many_appends),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
