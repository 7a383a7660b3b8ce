/* Unit tests for publishers/semver and npm's dist-tag rules (npm_dist_tag). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "publishers/npm.h"
#include "publishers/pub_err.h"
#include "publishers/semver.h"

static void test_valid(void **state)
{
	static const char *const good[] = {"0.0.0",
					   "1.2.3",
					   "10.20.30",
					   "1.0.0-alpha",
					   "1.0.0-alpha.1",
					   "1.0.0-0.3.7",
					   "1.0.0-x.7.z.92",
					   "1.0.0-x-y-z.--",
					   "1.0.0+20130313144700",
					   "1.0.0-beta+exp.sha.5114f85",
					   "1.0.0+21AF26D3----117B344092BD",
					   "99999999999999999999999.1.1"};
	static const char *const bad[] = {
	    "",		  "1",	    "1.2",	    "1.2.3.4", "v1.2.3",
	    "01.2.3",	  "1.02.3", "1.2.03",	    "1.2.3-",  "1.2.3-01",
	    "1.2.3-a..b", "1.2.3+", "1.2.3+a..b",   "1.2.3 ",  " 1.2.3",
	    "1.2.3-a_b",  "-1.2.3", "1.2.3-alpha+", "a.b.c"};
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!semver_valid(good[i]))
			fail_msg("%s should be valid", good[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (semver_valid(bad[i]))
			fail_msg("%s should be invalid", bad[i]);
	}
	assert_true(semver_is_prerelease("1.0.0-rc.1"));
	assert_false(semver_is_prerelease("1.0.0+build-1"));
	assert_false(semver_is_prerelease("1.0.0"));
	assert_false(semver_is_prerelease("junk-1"));
}

static int cmp(const char *a, const char *b)
{
	int c = 99;

	assert_int_equal(semver_compare(a, b, &c), 0);
	return c;
}

/* The precedence list of semver 2.0.0, section 11. */
static void test_order(void **state)
{
	static const char *const order[] = {
	    "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
	    "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
	    "1.0.0-rc.1",  "1.0.0",	    "1.0.1",
	    "1.1.0",	   "2.0.0",	    "2.1.0",
	    "2.1.1",	   "10.0.0",	    "18446744073709551616.0.0",
	};
	size_t i, j;
	int c;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		for (j = 0; j < sizeof(order) / sizeof(order[0]); j++) {
			c = cmp(order[i], order[j]);
			if ((i < j && c >= 0) || (i == j && c != 0) || (i > j && c <= 0))
				fail_msg("%s vs %s gave %d", order[i], order[j], c);
		}
	}
	assert_int_equal(cmp("1.0.0+a", "1.0.0+b"), 0);
	assert_true(cmp("1.0.0-2", "1.0.0-10") < 0);
	assert_true(cmp("1.0.0-a", "1.0.0-1") > 0);
	assert_true(cmp("1.0.0-B", "1.0.0-a") < 0); /* ASCII order */
	assert_int_equal(semver_compare("1.0", "1.0.0", &c), -EINVAL);
}

static void tag_ok(const char *version, const char *tag, const char *latest,
		   const char *want)
{
	const char *got = NULL;
	char err[256] = "";
	int r = npm_dist_tag(version, tag, latest, &got, err, sizeof(err));

	if (r != 0)
		fail_msg("%s tag %s latest %s: %d %s", version, tag, latest, r, err);
	assert_string_equal(got, want);
}

static void tag_refused(const char *version, const char *tag, const char *latest,
			const char *needle)
{
	const char *got = NULL;
	char err[256] = "";

	assert_int_equal(npm_dist_tag(version, tag, latest, &got, err, sizeof(err)),
			 PUB_ETAG);
	assert_null(got);
	if (strstr(err, needle) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", err, needle);
}

static void test_dist_tags(void **state)
{
	tag_ok("0.1.0", NULL, NULL, "latest");
	tag_ok("0.1.0", "", NULL, "latest");
	tag_ok("0.2.0", NULL, "0.1.0", "latest");
	tag_ok("0.1.0", NULL, "0.1.0",
	       "latest"); /* equal: the publish itself says "exists" */
	tag_ok("1.0.0", NULL, "1.0.0-rc.1", "latest");
	tag_ok("0.2.0-rc.1", "next", "0.1.0", "next");
	tag_ok("0.2.0-rc.1", "latest", "0.1.0", "latest"); /* explicit and not lower */
	tag_ok("0.1.1", "legacy-0.1", "0.2.0", "legacy-0.1");
	tag_ok("0.1.0", NULL, "not-a-version", "latest");
	tag_refused("0.2.0-rc.1", NULL, NULL, "prerelease");
	tag_refused("0.2.0-rc.1", NULL, "0.1.0", "explicit dist-tag");
	tag_refused("0.1.0", NULL, "0.2.0",
		    "cannot move \"latest\" from 0.2.0 down to 0.1.0");
	tag_refused("0.1.0", "latest", "0.2.0", "down to 0.1.0");
	tag_refused("0.2.0-rc.1", "latest", "0.2.0", "down to");
	tag_refused("0.1.0", "1.x", NULL, "dist-tag \"1.x\" refused");
	tag_refused("0.1.0", "v2", NULL, "refused");
	tag_refused("0.1.0", "x", NULL, "refused");
	tag_refused("0.1.0", "bad tag", NULL, "refused");
	tag_refused("0.1.0", "a/b", NULL, "refused");
	tag_refused("v0.1.0", NULL, NULL, "not a semantic version");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_order),
	    cmocka_unit_test(test_dist_tags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
