/* Unit tests for publishers/npm_whoami.c: the answers of GET -/whoami. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "publishers/npm_whoami.h"

static int answer(long status, const char *body, char *user, char *msg)
{
	return npm_whoami_answer(status, body, strlen(body), user, 64, msg, 256);
}

static void test_answers(void **state)
{
	char user[64], msg[256];

	(void)state;
	assert_int_equal(answer(200, "{\"username\":\"aos-ci\"}", user, msg), 0);
	assert_string_equal(user, "aos-ci");
	/* verdaccio's answer to a token it does not know: anonymous. */
	assert_int_equal(answer(200, "{}", user, msg), -EACCES);
	assert_non_null(strstr(msg, "does not know the token"));
	assert_int_equal(answer(200, "{\"username\":null}", user, msg), -EACCES);
	assert_int_equal(answer(401, "{\"error\":\"bad token\"}", user, msg), -EACCES);
	assert_non_null(strstr(msg, "HTTP 401"));
	assert_int_equal(answer(403, "", user, msg), -EACCES);
	assert_int_equal(answer(500, "oops", user, msg), -EPROTO);
	assert_int_equal(answer(200, "[1]", user, msg), -EPROTO);
	/* A name with a terminal escape is quoted for display. */
	assert_int_equal(answer(200, "{\"username\":\"a\\u001b[2Jb\"}", user, msg), 0);
	assert_null(strchr(user, 0x1b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_answers)};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
