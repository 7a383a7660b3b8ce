/* Unit tests for common/hex.c: the encoder, the digit test, the field hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/hex.h"

static void test_hex_encodes_lower_case(void **state)
{
	const unsigned char in[] = {0x00, 0x0f, 0xa5, 0xff};
	char out[2 * sizeof(in) + 1];

	(void)state;
	memset(out, 'x', sizeof(out));
	aos_hex(in, sizeof(in), out);
	assert_string_equal(out, "000fa5ff");
	aos_hex(in, 0, out);
	assert_string_equal(out, "");
}

static void test_is_hex(void **state)
{
	(void)state;
	assert_true(aos_is_hex("0123456789abcdef", 16, true));
	assert_true(aos_is_hex("ABCDEF", 6, false));
	assert_false(aos_is_hex("ABCDEF", 6, true));
	assert_false(aos_is_hex("abcg", 4, false));
	assert_false(aos_is_hex("ab c", 4, false));
	/* only the n characters asked for are looked at */
	assert_true(aos_is_hex("abz", 2, true));
	assert_false(aos_is_hex("ab\0c", 4, false));
	assert_true(aos_is_hex("", 0, true));
}

static void test_sha256_fields(void **state)
{
	const char *none[] = {NULL};
	const char *abc[] = {"abc"};
	const char *split1[] = {"ab", "c"}, *split2[] = {"a", "bc"};
	char out[AOS_SHA256_HEX_LEN + 1], other[AOS_SHA256_HEX_LEN + 1];

	(void)state;
	/* SHA-256 of the empty input, and of "abc\0" (the NUL is hashed) */
	assert_int_equal(aos_sha256_fields(none, 0, out), 0);
	assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb924"
				 "27ae41e4649b934ca495991b7852b855");
	assert_int_equal(aos_sha256_fields(abc, 1, out), 0);
	assert_string_equal(out, "dc1114cd074914bd872cc1f9a23ec910"
				 "ea2203bc79779ab2e17da25782a624fc");
	/* the separators keep field boundaries apart */
	assert_int_equal(aos_sha256_fields(split1, 2, out), 0);
	assert_int_equal(aos_sha256_fields(split2, 2, other), 0);
	assert_string_not_equal(out, other);
	assert_int_equal(strlen(out), AOS_SHA256_HEX_LEN);
	assert_true(aos_is_hex(out, AOS_SHA256_HEX_LEN, true));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hex_encodes_lower_case),
	    cmocka_unit_test(test_is_hex),
	    cmocka_unit_test(test_sha256_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
