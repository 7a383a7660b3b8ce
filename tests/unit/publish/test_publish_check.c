/* Unit tests for the parts of agent/publish/publish_check.c that need no
 * registry: the npm dist-tag decision as a publish makes it
 * (publish_decide_tag), the version of the token key it watches
 * (publish_key_version), and how an answer to a registry read is
 * classified (publish_get_answer) for every answer but a redirect, which
 * starts a new request (the integration tests follow those). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/secret.h"
#include "publish/publish_internal.h"
#include "publishers/artifact.h"
#include "publishers/pub_err.h"

static struct artifact npm_art(const char *version, const char *package_json)
{
	struct artifact a = {
	    .kind = ARTIFACT_NPM, .filename = "pkg-x.tgz", .name = "pkg"};

	a.version = (char *)version;
	a.package_json = (char *)package_json;
	a.package_json_len = package_json != NULL ? strlen(package_json) : 0;
	return a;
}

/* Decides the tag of version (package.json pkg_json) for op; returns the
 * result, the tag in *tag ("" if none). */
static int decide(struct publish_op *op, const char *version, const char *pkg_json,
		  const char *latest, char *err, size_t errlen)
{
	struct artifact a = npm_art(version, pkg_json);
	struct pub_file f = {.art = &a};
	int r;

	err[0] = '\0';
	r = publish_decide_tag(op, &f, latest, err, errlen);
	if (r == 0) {
		assert_ptr_equal(op->dist_tag, op->decided.name);
	} else {
		assert_null(op->dist_tag);
		assert_true(err[0] != '\0');
	}
	return r;
}

static void test_decide_tag(void **state)
{
	struct publish_op op = {.type = REGISTRY_NPM};
	char err[512];

	(void)state;
	/* defaults: a release goes to latest, a prerelease to its name */
	assert_int_equal(decide(&op, "1.2.0", "{}", NULL, err, sizeof(err)), 0);
	assert_string_equal(op.dist_tag, "latest");
	assert_int_equal(decide(&op, "2.0.0-beta.1", "{}", "1.2.0", err, sizeof(err)), 0);
	assert_string_equal(op.dist_tag, "beta");
	assert_int_equal(decide(&op, "2.0.0-1", "{}", "1.2.0", err, sizeof(err)), 0);
	assert_string_equal(op.dist_tag, "next");
	/* the pipeline's prerelease default */
	op.prerelease_tag = "preview";
	assert_int_equal(decide(&op, "2.0.0-beta.1", "{}", NULL, err, sizeof(err)), 0);
	assert_string_equal(op.dist_tag, "preview");
	op.prerelease_tag = NULL;
	/* publishConfig.tag in the tarball's package.json */
	assert_int_equal(decide(&op, "1.3.0", "{\"publishConfig\":{\"tag\":\"lts\"}}",
				NULL, err, sizeof(err)),
			 0);
	assert_string_equal(op.dist_tag, "lts");
	assert_int_equal(op.decided.from, NPM_TAG_PACKAGE);
	/* a tag given with the request wins over package.json */
	op.tag = "canary";
	op.tag_given_by = "--tag";
	assert_int_equal(decide(&op, "1.3.0", "{\"publishConfig\":{\"tag\":\"lts\"}}",
				NULL, err, sizeof(err)),
			 0);
	assert_string_equal(op.dist_tag, "canary");
	assert_int_equal(op.decided.from, NPM_TAG_GIVEN);
	op.tag = op.tag_given_by = NULL;
}

static void test_decide_tag_refused(void **state)
{
	struct publish_op op = {.type = REGISTRY_NPM};
	char err[512];

	(void)state;
	/* publishConfig.tag that is not a string: the file is named */
	assert_int_equal(decide(&op, "1.0.0", "{\"publishConfig\":{\"tag\":5}}", NULL,
				err, sizeof(err)),
			 PUB_ETAG);
	assert_non_null(strstr(err, "pkg-x.tgz"));
	assert_non_null(strstr(err, "publishConfig.tag"));
	/* an older release would move latest back: refused unless given */
	assert_int_equal(decide(&op, "1.0.0", "{}", "2.0.0", err, sizeof(err)), PUB_ETAG);
	assert_non_null(strstr(err, "2.0.0"));
	op.tag = "latest";
	op.tag_given_by = "--tag";
	assert_int_equal(decide(&op, "1.0.0", "{}", "2.0.0", err, sizeof(err)), 0);
	assert_string_equal(op.dist_tag, "latest");
	/* a prerelease never goes to latest, however asked */
	assert_int_equal(decide(&op, "3.0.0-rc.1", "{}", "2.0.0", err, sizeof(err)),
			 PUB_ETAG);
	assert_non_null(strstr(err, "--tag"));
	/* a tag npm would take for a version */
	op.tag = "v2";
	assert_int_equal(decide(&op, "2.0.1", "{}", NULL, err, sizeof(err)), PUB_ETAG);
}

/* The token key's version in the session's store: 0 when the key has no
 * value or is not one the store holds. */
static void test_key_version(void **state)
{
	char *keys[] = {"PYPI", "NPM"};
	struct config cfg = {.secret_keys = keys, .nsecret_keys = 2};
	const char *const names[] = {"PYPI", "NPM"};
	struct secret *vals[2] = {NULL, NULL};
	struct store_change ch[2];
	struct publish_op op = {.type = REGISTRY_PYPI};
	struct vault_session *s = NULL;
	uv_loop_t loop;

	(void)state;
	cfg.vault.address = "http://127.0.0.1:1";
	cfg.vault.kv_mount = "kv";
	cfg.vault.kv_path = "aos";
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(session_new(&loop, NULL, &cfg, NULL, NULL, &s), 0);
	op.env.session = s;
	op.token_key = "PYPI";
	assert_int_equal(publish_key_version(&op), 0); /* nothing read yet */
	assert_int_equal(secret_new("tok", 3, &vals[0]), 0);
	assert_int_equal(secret_new("npm", 3, &vals[1]), 0);
	assert_true(store_update(session_store(s), 7, "", names, vals, 2, ch, 2) >= 0);
	assert_int_equal(publish_key_version(&op), 7);
	op.token_key = "NPM";
	assert_int_equal(publish_key_version(&op), 7);
	/* version 8 drops NPM: it has no value, so no version */
	secret_unref(vals[1]);
	vals[1] = NULL;
	assert_true(store_update(session_store(s), 8, "", names, vals, 2, ch, 2) >= 0);
	assert_int_equal(publish_key_version(&op), 0);
	op.token_key = "OTHER";
	assert_int_equal(publish_key_version(&op), 0);
	secret_unref(vals[0]);
	session_close(s);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Classifies an answer of status (result 0) or a transport failure. */
static enum index_kind classify(struct publish_op *op, int result, long status,
				struct index_answer *ia)
{
	struct transport_req req = {.status = status};

	req.easy = curl_easy_init();
	assert_non_null(req.easy);
	if (result < 0)
		snprintf(req.error, sizeof(req.error), "Connection refused");
	assert_false(publish_get_answer(op, &req, result, ia));
	curl_easy_cleanup(req.easy);
	return ia->kind;
}

static void test_get_answer(void **state)
{
	static const struct {
		int result;
		long status;
		enum index_kind kind;
	} cases[] = {
	    {0, 200, INDEX_FOUND},	 {0, 404, INDEX_ABSENT},
	    {0, 410, INDEX_ABSENT},	 {0, 401, INDEX_AUTH},
	    {0, 403, INDEX_AUTH},	 {0, 429, INDEX_RETRY},
	    {0, 503, INDEX_RETRY},	 {0, 418, INDEX_FAILED},
	    {0, 302, INDEX_FAILED}, /* no Location */
	    {AOS_EHTTP, 0, INDEX_RETRY},
	};
	struct publish_op op = {.type = REGISTRY_PYPI, .reg_name = "test"};
	struct index_answer ia;
	size_t i;

	(void)state;
	snprintf(op.read_url, sizeof(op.read_url), "http://127.0.0.1:9/simple/pkg/");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (classify(&op, cases[i].result, cases[i].status, &ia) != cases[i].kind)
			fail_msg("result %d, HTTP %ld: kind %d, want %d (%s)",
				 cases[i].result, cases[i].status, ia.kind, cases[i].kind,
				 ia.said);
		/* what was asked is in the message */
		assert_non_null(strstr(ia.said, op.read_url));
	}
	classify(&op, AOS_EHTTP, 0, &ia);
	assert_non_null(strstr(ia.said, "Connection refused"));
	assert_int_equal(op.phase, PH_IDLE); /* nothing was started */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decide_tag),
	    cmocka_unit_test(test_decide_tag_refused),
	    cmocka_unit_test(test_key_version),
	    cmocka_unit_test(test_get_answer),
	};

	if (secret_init_process(64 * 1024) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
