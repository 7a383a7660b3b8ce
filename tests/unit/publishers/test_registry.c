/* Unit tests for publishers/registry: URL policy, easy-handle options,
 * Authorization headers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "common/secret.h"
#include "publishers/pub_err.h"
#include "publishers/registry.h"

static void url_ok(const char *url, bool want_loopback)
{
	char err[256] = "";
	bool loopback = !want_loopback;

	if (registry_check_url(url, &loopback, err, sizeof(err)) != 0)
		fail_msg("%s refused: %s", url, err);
	assert_int_equal(loopback, want_loopback);
}

static void url_refused(const char *url, const char *needle)
{
	char err[256] = "";

	assert_int_equal(registry_check_url(url, NULL, err, sizeof(err)), PUB_EURL);
	if (strstr(err, needle) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", err, needle);
}

static void test_urls(void **state)
{
	url_ok("https://pypi.example.invalid/legacy/", false);
	url_ok("https://127.0.0.1:8443/", true);
	url_ok("http://127.0.0.1:8080/", true);
	url_ok("http://127.8.9.10/", true);
	url_ok("http://localhost:4873/", true);
	url_ok("http://[::1]:4873/", true);
	url_ok("HTTP://127.0.0.1/", true);
	url_refused("http://registry.example.invalid/", "must be https");
	url_refused("http://127.0.0.1.example.invalid/", "must be https");
	url_refused("http://10.0.0.1/", "must be https");
	url_refused("ftp://127.0.0.1/", "must be https");
	url_refused("https://user:pw@host.invalid/", "user info");
	url_refused("no scheme", "not an absolute URL");
}

static void test_easy_setup(void **state)
{
	CURL *h = curl_easy_init();
	char err[256] = "";
	char *url = NULL;

	assert_non_null(h);
	assert_int_equal(
	    registry_easy_setup(h, "http://127.0.0.1:9/x/", err, sizeof(err)), 0);
	assert_int_equal(curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &url), CURLE_OK);
	assert_string_equal(url, "http://127.0.0.1:9/x/");
	assert_int_equal(
	    registry_easy_setup(h, "http://example.invalid/", err, sizeof(err)),
	    PUB_EURL);
	curl_easy_cleanup(h);
}

static void test_auth(void **state)
{
	struct curl_slist *l = NULL;
	struct secret *tok;

	assert_int_equal(secret_new("pypi-s3cr3t", 11, &tok), 0);
	assert_int_equal(registry_auth_basic(&l, "__token__", tok), 0);
	/* base64("__token__:pypi-s3cr3t") */
	assert_string_equal(l->data, "Authorization: Basic X190b2tlbl9fOnB5cGktczNjcjN0");
	assert_int_equal(registry_auth_bearer(&l, tok), 0);
	assert_string_equal(l->next->data, "Authorization: Bearer pypi-s3cr3t");
	assert_int_equal(registry_header(&l, "Accept: */*"), 0);
	assert_string_equal(l->next->next->data, "Accept: */*");
	registry_headers_free(l);
	registry_headers_free(NULL);
	secret_unref(tok);
}

static void test_join(void **state)
{
	char *p;

	p = registry_join("http://h/a/", "/b");
	assert_string_equal(p, "http://h/a/b");
	free(p);
	p = registry_join("http://h/a", "b/");
	assert_string_equal(p, "http://h/a/b/");
	free(p);
	p = registry_join("http://h//", "");
	assert_string_equal(p, "http://h/");
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_urls),
	    cmocka_unit_test(test_easy_setup),
	    cmocka_unit_test(test_auth),
	    cmocka_unit_test(test_join),
	};
	int r;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return r;
}
