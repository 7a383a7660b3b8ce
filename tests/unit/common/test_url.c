/* Unit tests for common/url.c: origins as libcurl parses them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "common/err.h"
#include "common/url.h"

static void origin_is(const char *url, const char *want)
{
	char o[URL_ORIGIN_MAX];

	assert_int_equal(url_origin(url, o, sizeof(o)), 0);
	assert_string_equal(o, want);
}

static void test_origin(void **state)
{
	(void)state;
	origin_is("https://vault.example:8200/v1/sys/health",
		  "https://vault.example:8200");
	origin_is("https://Vault.EXAMPLE/", "https://vault.example:443");
	origin_is("HTTP://127.0.0.1", "http://127.0.0.1:80");
	origin_is("http://[::1]:8200/x?y#z", "http://[::1]:8200");
	/* User info is not part of the origin: the host is what follows '@'. */
	origin_is("https://good.example@evil.example/simple/",
		  "https://evil.example:443");
	origin_is("https://good.example:443@evil.example:8443/",
		  "https://evil.example:8443");
}

static void test_origin_refused(void **state)
{
	char o[URL_ORIGIN_MAX], small[12];

	(void)state;
	assert_int_equal(url_origin("/v1/sys/health", o, sizeof(o)), AOS_EPARSE);
	assert_int_equal(url_origin("vault.example:8200", o, sizeof(o)), AOS_EPARSE);
	assert_int_equal(url_origin("", o, sizeof(o)), AOS_EPARSE);
	assert_int_equal(url_origin(NULL, o, sizeof(o)), AOS_EPARSE);
	assert_int_equal(url_origin("https://:8200/nohost", o, sizeof(o)), AOS_EPARSE);
	assert_int_equal(url_origin("http://[zz/", o, sizeof(o)), AOS_EPARSE);
	assert_int_equal(url_origin("https://vault.example/", small, sizeof(small)),
			 AOS_ETOOBIG);
}

static void test_same_origin(void **state)
{
	(void)state;
	assert_true(url_same_origin("https://pypi.example/legacy/",
				    "https://PYPI.example:443/simple/"));
	assert_true(
	    url_same_origin("http://127.0.0.1:8080/", "http://127.0.0.1:8080/simple/x/"));
	assert_false(url_same_origin("http://127.0.0.1:8080/", "http://127.0.0.1:8081/"));
	assert_false(url_same_origin("https://h.example/", "http://h.example/"));
	assert_false(url_same_origin("https://h.example/", "https://h.example.evil/"));
	assert_false(
	    url_same_origin("https://h.example/", "https://h.example@evil.example/"));
	assert_false(url_same_origin("https://h.example/", "/simple/"));
	assert_false(url_same_origin(NULL, "https://h.example/"));
}

static void resolves(const char *base, const char *ref, const char *want)
{
	char out[512];

	assert_int_equal(url_resolve(base, ref, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void test_resolve(void **state)
{
	char out[24];

	(void)state;
	resolves("https://v.example:8200/v1/auth/approle/login",
		 "/relay/v1/auth/approle/login",
		 "https://v.example:8200/relay/v1/auth/approle/login");
	resolves("https://v.example:8200/v1/a/b", "c", "https://v.example:8200/v1/a/c");
	resolves("https://v.example:8200/v1/a", "https://other.example/v1/a",
		 "https://other.example/v1/a");
	/* A scheme-relative reference names another host. */
	resolves("https://v.example:8200/v1/a", "//evil.example/v1/a",
		 "https://evil.example/v1/a");
	assert_int_equal(url_resolve("https://v.example/",
				     "https://v.example/a-long-path", out, sizeof(out)),
			 AOS_ETOOBIG);
	assert_int_equal(url_resolve("not a url", "/x", out, sizeof(out)), AOS_EPARSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_origin),
	    cmocka_unit_test(test_origin_refused),
	    cmocka_unit_test(test_same_origin),
	    cmocka_unit_test(test_resolve),
	};
	int r;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return r;
}
