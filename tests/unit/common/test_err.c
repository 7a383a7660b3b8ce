/* Unit tests for common/err.c: aos_strerror() for every project code,
 * -errno, and values that are neither. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"

static const int codes[] = {
    AOS_EPARSE,	  AOS_ETOOBIG,	AOS_EHTTP,     AOS_EDENIED,   AOS_ENOTFOUND, AOS_EAUTH,
    AOS_ESEALED,  AOS_ESTANDBY, AOS_ESERVER,   AOS_ECONFIG,   AOS_ENOKEY,    AOS_EWRAP,
    AOS_ETOKEN,	  AOS_ESECMEM,	AOS_ETIMEOUT,  AOS_ECANCELED, AOS_EFENCED,   AOS_ESCHEMA,
    AOS_ECORRUPT, AOS_EEXIST,	AOS_EREDIRECT,
};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

/* Every project code has its own phrase: none falls through to strerror()
 * or "unknown error", and no two share one. */
static void test_project_codes(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < NCODES; i++) {
		const char *s = aos_strerror(codes[i]);

		assert_non_null(s);
		assert_true(s[0] != '\0');
		assert_string_not_equal(s, "unknown error");
		assert_null(strstr(s, "Unknown error")); /* glibc's strerror */
		for (j = 0; j < i; j++)
			assert_string_not_equal(s, aos_strerror(codes[j]));
	}
	assert_string_equal(aos_strerror(AOS_EAUTH), "credentials rejected");
	assert_string_equal(aos_strerror(AOS_EREDIRECT), "redirect refused");
}

static void test_success_and_errno(void **state)
{
	(void)state;
	assert_string_equal(aos_strerror(0), "success");
	assert_string_equal(aos_strerror(-ENOENT), strerror(ENOENT));
	assert_string_equal(aos_strerror(-ENOMEM), strerror(ENOMEM));
}

/* An errno glibc has no text for: a constant string, not strerror()'s
 * buffer, which the next call (on any thread of a log line) rewrites. */
static void test_unknown_errno_is_constant(void **state)
{
	const char *a, *b;
	char text[128];

	(void)state;
	a = aos_strerror(-(AOS_EBASE - 1));
	snprintf(text, sizeof(text), "%s", a);
	b = aos_strerror(-(AOS_EBASE - 2));
	(void)strerror(AOS_EBASE - 3);
	assert_string_equal(a, text);
	assert_string_equal(a, "unknown error");
	assert_string_equal(b, "unknown error");
}

/* Positive values, -AOS_EBASE itself and unassigned project codes. */
static void test_unknown(void **state)
{
	static const int unknown[] = {1,
				      ENOENT,
				      -AOS_EBASE,
				      -(AOS_EBASE + 17),
				      -(AOS_EBASE + 39),
				      -(AOS_EBASE + 99),
				      INT32_MIN};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_string_equal(aos_strerror(unknown[i]), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_project_codes),
	    cmocka_unit_test(test_success_and_errno),
	    cmocka_unit_test(test_unknown_errno_is_constant),
	    cmocka_unit_test(test_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
