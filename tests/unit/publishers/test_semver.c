/* Unit tests for publishers/semver and npm's dist-tag rules (npm_dist_tag). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "publishers/artifact.h"
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

/* The rule for version with the given tag, publishConfig.tag, the
 * prerelease default and the registry's latest (NULL: none). */
static struct npm_tag_rule rule(const char *version, const char *given, const char *pkg,
				const char *pre, const char *latest)
{
	return (struct npm_tag_rule){.version = version,
				     .given = given,
				     .given_by = "--tag",
				     .package = pkg,
				     .prerelease = pre,
				     .latest = latest};
}

static void tag_ok(struct npm_tag_rule r, const char *want, enum npm_tag_from from)
{
	struct npm_tag got = {.name = "?"};
	char err[512] = "";
	int rc = npm_dist_tag(&r, &got, err, sizeof(err));

	if (rc != 0)
		fail_msg("%s tag %s latest %s: %d %s", r.version, r.given, r.latest, rc,
			 err);
	assert_string_equal(got.name, want);
	assert_int_equal(got.from, from);
}

static void tag_refused(struct npm_tag_rule r, const char *needle)
{
	struct npm_tag got = {.name = "untouched"};
	char err[512] = "";

	assert_int_equal(npm_dist_tag(&r, &got, err, sizeof(err)), PUB_ETAG);
	assert_string_equal(got.name, "untouched");
	if (strstr(err, needle) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", err, needle);
}

/* Releases: "latest" by default, never moved down by a default. */
static void test_tag_release(void **state)
{
	tag_ok(rule("0.1.0", NULL, NULL, NULL, NULL), "latest", NPM_TAG_RELEASE);
	tag_ok(rule("0.1.0", "", "", "", NULL), "latest", NPM_TAG_RELEASE);
	tag_ok(rule("0.2.0", NULL, NULL, NULL, "0.1.0"), "latest", NPM_TAG_RELEASE);
	/* equal: the publish itself says "exists" */
	tag_ok(rule("0.1.0", NULL, NULL, NULL, "0.1.0"), "latest", NPM_TAG_RELEASE);
	tag_ok(rule("1.0.0", NULL, NULL, NULL, "1.0.0-rc.1"), "latest", NPM_TAG_RELEASE);
	tag_ok(rule("0.1.0", NULL, NULL, NULL, "not-a-version"), "latest",
	       NPM_TAG_RELEASE);
	/* the prerelease default does not apply to a release */
	tag_ok(rule("0.3.0", NULL, NULL, "beta", NULL), "latest", NPM_TAG_RELEASE);
	tag_refused(
	    rule("0.1.0", NULL, NULL, NULL, "0.2.0"),
	    "cannot move \"latest\" from 0.2.0 down to 0.1.0 (the default for a release)");
	tag_refused(rule("0.1.0", NULL, NULL, NULL, "0.2.0"),
		    "name a dist-tag explicitly");
	tag_refused(rule("v0.1.0", NULL, NULL, NULL, NULL), "not a semantic version");
}

/* An explicit tag wins over every default, "latest" included. */
static void test_tag_given(void **state)
{
	tag_ok(rule("0.1.1", "legacy-0.1", NULL, NULL, "0.2.0"), "legacy-0.1",
	       NPM_TAG_GIVEN);
	tag_ok(rule("0.2.0-rc.1", "next", "beta", "pre", "0.1.0"), "next", NPM_TAG_GIVEN);
	/* named explicitly, latest may go back (a deliberate rollback) */
	tag_ok(rule("0.1.0", "latest", NULL, NULL, "0.2.0"), "latest", NPM_TAG_GIVEN);
	tag_ok(rule("0.1.0", "latest", "legacy", NULL, "0.2.0"), "latest", NPM_TAG_GIVEN);
	tag_refused(rule("0.1.0", "1.x", NULL, NULL, NULL),
		    "dist-tag \"1.x\" (from --tag) refused");
	tag_refused(rule("0.1.0", "v2", NULL, NULL, NULL), "refused");
	tag_refused(rule("0.1.0", "=3", NULL, NULL, NULL), "refused");
	tag_refused(rule("0.1.0", "x", NULL, NULL, NULL), "refused");
	tag_refused(rule("0.1.0", "X", NULL, NULL, NULL), "refused");
	tag_refused(rule("0.1.0", "bad tag", NULL, NULL, NULL), "refused");
	tag_refused(rule("0.1.0", "a/b", NULL, NULL, NULL), "refused");
	{
		char longtag[NPM_TAG_MAX + 2];

		memset(longtag, 'a', sizeof(longtag) - 1);
		longtag[sizeof(longtag) - 1] = '\0';
		tag_refused(rule("0.1.0", longtag, NULL, NULL, NULL), "up to 128");
		longtag[NPM_TAG_MAX] = '\0';
		tag_ok(rule("0.1.0", longtag, NULL, NULL, NULL), longtag, NPM_TAG_GIVEN);
	}
}

/* "latest" is refused for a prerelease, however it is named, with what
 * to do instead. */
static void test_tag_prerelease_latest(void **state)
{
	struct npm_tag_rule r = rule("0.2.0-beta.1", "latest", NULL, NULL, "0.1.0");

	tag_refused(
	    r, "0.2.0-beta.1 is a prerelease: it never goes to dist-tag \"latest\" "
	       "(named by --tag); leave the tag unset so prereleases go to \"beta\"");
	r.given_by = NULL;
	tag_refused(r, "(named by the explicit tag)");
	tag_refused(rule("0.2.0-7", "latest", NULL, NULL, NULL), "go to \"next\"");
	tag_refused(rule("0.2.0-beta.1", "latest", NULL, "pre", NULL), "go to \"pre\"");
	tag_refused(rule("0.2.0-beta.1", "latest", NULL, "latest", NULL),
		    "go to \"beta\"");
	tag_refused(rule("0.2.0-rc.1", NULL, "latest", NULL, NULL),
		    "(named by publishConfig.tag in package.json)");
	tag_refused(rule("0.2.0-rc.1", NULL, NULL, "latest", NULL),
		    "(named by the prerelease default)");
	/* not even when it would not move latest down */
	tag_refused(rule("9.0.0-rc.1", "latest", NULL, NULL, "0.1.0"), "prerelease");
	tag_refused(rule("0.2.0-rc.1", NULL, NULL, "1.0", NULL),
		    "dist-tag \"1.0\" (from the prerelease default) refused");
}

/* A prerelease's own tag: the configured one, else its first identifier
 * when alphabetic, else "next". */
static void test_tag_prerelease_default(void **state)
{
	tag_ok(rule("0.2.0-beta.1", NULL, NULL, NULL, "0.1.0"), "beta",
	       NPM_TAG_PRERELEASE);
	tag_ok(rule("1.0.0-rc.2", NULL, NULL, NULL, NULL), "rc", NPM_TAG_PRERELEASE);
	tag_ok(rule("1.0.0-alpha", NULL, NULL, NULL, NULL), "alpha", NPM_TAG_PRERELEASE);
	tag_ok(rule("1.0.0-Beta.1", NULL, NULL, NULL, NULL), "Beta", NPM_TAG_PRERELEASE);
	/* below latest: a prerelease never touches latest */
	tag_ok(rule("0.1.0-beta.1", NULL, NULL, NULL, "0.2.0"), "beta",
	       NPM_TAG_PRERELEASE);
	tag_ok(rule("1.0.0+b.1-x", NULL, NULL, NULL, NULL), "latest", NPM_TAG_RELEASE);
	/* not alphabetic, not a tag npm takes, or "latest": "next" */
	tag_ok(rule("1.0.0-0.3.7", NULL, NULL, NULL, NULL), "next", NPM_TAG_PRERELEASE);
	tag_ok(rule("1.0.0-beta2", NULL, NULL, NULL, NULL), "next", NPM_TAG_PRERELEASE);
	tag_ok(rule("1.0.0-pre-1", NULL, NULL, NULL, NULL), "next", NPM_TAG_PRERELEASE);
	tag_ok(rule("1.0.0-x.7", NULL, NULL, NULL, NULL), "next", NPM_TAG_PRERELEASE);
	tag_ok(rule("1.0.0-latest.1", NULL, NULL, NULL, NULL), "next",
	       NPM_TAG_PRERELEASE);
	tag_ok(rule("1.0.0-dev+build.5", NULL, NULL, NULL, NULL), "dev",
	       NPM_TAG_PRERELEASE);
	/* configured */
	tag_ok(rule("1.0.0-rc.2", NULL, NULL, "testing", NULL), "testing",
	       NPM_TAG_PRERELEASE);
	tag_ok(rule("1.0.0-rc.2", "", NULL, "", NULL), "rc", NPM_TAG_PRERELEASE);
}

/* publishConfig.tag is the default when no tag is given. */
static void test_tag_package(void **state)
{
	tag_ok(rule("1.0.0", NULL, "next", NULL, NULL), "next", NPM_TAG_PACKAGE);
	tag_ok(rule("1.0.0-rc.1", NULL, "canary", "pre", NULL), "canary",
	       NPM_TAG_PACKAGE);
	tag_ok(rule("1.0.0", NULL, "latest", NULL, "0.9.0"), "latest", NPM_TAG_PACKAGE);
	tag_ok(rule("0.1.0", NULL, "legacy", NULL, "0.9.0"), "legacy", NPM_TAG_PACKAGE);
	tag_refused(rule("0.1.0", NULL, "latest", NULL, "0.9.0"),
		    "down to 0.1.0 (publishConfig.tag in package.json)");
	tag_refused(rule("0.1.0", NULL, "v1", NULL, NULL),
		    "(from publishConfig.tag in package.json) refused");
}

static void test_tag_names(void **state)
{
	assert_string_equal(npm_tag_from_name(NPM_TAG_GIVEN), "given");
	assert_string_equal(npm_tag_from_name(NPM_TAG_PACKAGE), "publishConfig.tag");
	assert_string_equal(npm_tag_from_name(NPM_TAG_PRERELEASE), "prerelease default");
	assert_string_equal(npm_tag_from_name(NPM_TAG_RELEASE), "release default");
	assert_true(npm_tag_valid("beta"));
	assert_true(npm_tag_valid("v"));
	assert_false(npm_tag_valid(""));
	assert_false(npm_tag_valid("V1"));
}

static int package_tag(const char *json, char *buf, size_t len, char *err)
{
	struct artifact a = {.filename = "p-1.0.0.tgz", .package_json = (char *)json};

	a.package_json_len = json != NULL ? strlen(json) : 0;
	return npm_package_tag(&a, buf, len, err, 256);
}

static void test_package_tag(void **state)
{
	char buf[NPM_TAG_MAX + 1] = "", err[256] = "";

	assert_int_equal(
	    package_tag("{\"publishConfig\":{\"tag\":\"next\"}}", buf, sizeof(buf), err),
	    1);
	assert_string_equal(buf, "next");
	assert_int_equal(package_tag("{\"publishConfig\":{\"access\":\"public\"}}", buf,
				     sizeof(buf), err),
			 0);
	assert_int_equal(package_tag("{\"name\":\"p\"}", buf, sizeof(buf), err), 0);
	assert_int_equal(package_tag(NULL, buf, sizeof(buf), err), 0);
	assert_int_equal(
	    package_tag("{\"publishConfig\":{\"tag\":7}}", buf, sizeof(buf), err),
	    PUB_ETAG);
	assert_non_null(strstr(err, "p-1.0.0.tgz: publishConfig.tag in package.json"));
	assert_int_equal(
	    package_tag("{\"publishConfig\":{\"tag\":\"abcdef\"}}", buf, 4, err),
	    PUB_ETAG);
}

static void test_prerelease_first(void **state)
{
	const char *id = NULL;

	assert_int_equal(semver_prerelease_first("1.0.0-beta.1", &id), 4);
	assert_memory_equal(id, "beta", 4);
	assert_int_equal(semver_prerelease_first("1.0.0-rc", &id), 2);
	assert_memory_equal(id, "rc", 2);
	assert_int_equal(semver_prerelease_first("1.0.0-0.3+x.y", &id), 1);
	assert_memory_equal(id, "0", 1);
	assert_int_equal(semver_prerelease_first("1.0.0+beta.1", &id), 0);
	assert_int_equal(semver_prerelease_first("1.0.0", &id), 0);
	assert_int_equal(semver_prerelease_first("junk-beta", &id), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_order),
	    cmocka_unit_test(test_tag_release),
	    cmocka_unit_test(test_tag_given),
	    cmocka_unit_test(test_tag_prerelease_latest),
	    cmocka_unit_test(test_tag_prerelease_default),
	    cmocka_unit_test(test_tag_package),
	    cmocka_unit_test(test_tag_names),
	    cmocka_unit_test(test_prerelease_first),
	    cmocka_unit_test(test_package_tag),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
