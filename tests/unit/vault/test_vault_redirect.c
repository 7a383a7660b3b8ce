/* Unit tests for vault_redirect_next() (vault/request.c): which redirects
 * of a Vault request may be followed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "vault/vault.h"

static const struct vault_conn conn = {.address = "https://vault.example:8200/"};
static const char *const url = "https://vault.example:8200/v1/auth/approle/login";

static void follows(const char *location, unsigned hops, const char *want)
{
	char next[VAULT_URL_MAX], err[512];

	assert_int_equal(vault_redirect_next(&conn, url, location, hops, next,
					     sizeof(next), err, sizeof(err)),
			 0);
	assert_string_equal(next, want);
}

/* Refused with AOS_EREDIRECT and an error holding each of words. */
static void refuses(const char *location, unsigned hops, const char *w1, const char *w2)
{
	char next[VAULT_URL_MAX], err[512];

	assert_int_equal(vault_redirect_next(&conn, url, location, hops, next,
					     sizeof(next), err, sizeof(err)),
			 AOS_EREDIRECT);
	assert_non_null(strstr(err, "https://vault.example:8200"));
	if (w1 != NULL)
		assert_non_null(strstr(err, w1));
	if (w2 != NULL)
		assert_non_null(strstr(err, w2));
}

static void test_is_redirect(void **state)
{
	(void)state;
	assert_true(vault_is_redirect(307));
	assert_true(vault_is_redirect(308));
	assert_true(vault_is_redirect(301));
	assert_true(vault_is_redirect(302));
	assert_true(vault_is_redirect(303));
	assert_false(vault_is_redirect(200));
	assert_false(vault_is_redirect(304));
	assert_false(vault_is_redirect(300));
	assert_false(vault_is_redirect(429));
}

static void test_same_origin_followed(void **state)
{
	(void)state;
	follows("https://vault.example:8200/relay/v1/auth/approle/login", 0,
		"https://vault.example:8200/relay/v1/auth/approle/login");
	follows("/relay/v1/auth/approle/login", 2,
		"https://vault.example:8200/relay/v1/auth/approle/login");
	/* Scheme and host compared without case. */
	follows("HTTPS://VAULT.example:8200/v1/x", 1, "https://VAULT.example:8200/v1/x");
	follows("https://vault.example:8200", 0, "https://vault.example:8200/");
}

static void test_other_origin_refused(void **state)
{
	(void)state;
	refuses("https://active.example:8200/v1/auth/approle/login", 0,
		"https://active.example:8200", "vault.address");
	refuses("https://vault.example:8201/v1/x", 0, "https://vault.example:8201", NULL);
	refuses("http://vault.example:8200/v1/x", 0, "http://vault.example:8200", NULL);
	refuses("https://vault.example/v1/x", 0, "https://vault.example:443", NULL);
	refuses("//evil.example:8200/v1/x", 0, "https://evil.example:8200", NULL);
	refuses("https://vault.example:8200@evil.example/v1/x", 0,
		"https://evil.example:443", NULL);
}

static void test_limits(void **state)
{
	char longloc[VAULT_URL_MAX + 16];

	(void)state;
	refuses("/v1/x", VAULT_MAX_REDIRECTS, "more than 3", NULL);
	refuses(NULL, 0, "without a Location", NULL);
	refuses("", 0, "without a Location", NULL);
	refuses("http://[zz/v1/x", 0, "invalid", NULL);
	refuses("/v1/x\ny", 0, "invalid", NULL);
	memset(longloc, 'a', sizeof(longloc) - 1);
	longloc[0] = '/';
	longloc[sizeof(longloc) - 1] = '\0';
	refuses(longloc, 0, "too long", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_is_redirect),
	    cmocka_unit_test(test_same_origin_followed),
	    cmocka_unit_test(test_other_origin_refused),
	    cmocka_unit_test(test_limits),
	};
	int r;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return r;
}
