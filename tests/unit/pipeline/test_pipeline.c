/* Unit tests for agent/pipeline/pipeline.c: tag patterns and versions, tag names,
 * and the pipeline job (idempotency key, inputs).  The webhook decision:
 * test_pipeline_decide.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "common/err.h"
#include "pipeline/pipeline.h"
#include "tests/unit/pipeline/hook_fixture.h"

/* ---- tag patterns ---- */

struct tv_case {
	const char *pattern, *tag;
	const char *version; /* NULL: no match */
};

static const struct tv_case tv_cases[] = {
    {"python-sdk-v*", "python-sdk-v0.1.0", "0.1.0"},
    {"python-sdk-v*", "python-sdk-v10.2.3rc1", "10.2.3rc1"},
    {"python-sdk-v*", "python-sdk-v1.0+local.7", "1.0+local.7"},
    {"python-sdk-v*", "python-sdk-v1!2.0", "1!2.0"},
    {"python-sdk-v*", "python-sdk-v1.0.0-beta_2", "1.0.0-beta_2"},
    {"python-sdk-v*", "python-sdk-v", NULL},	 /* nothing for the star */
    {"python-sdk-v*", "python-sdk-vx1.0", NULL}, /* not a digit first */
    {"python-sdk-v*", "python-sdk-v.1", NULL},
    {"python-sdk-v*", "python-sdk-v-1", NULL},
    {"python-sdk-v*", "python-sdk-v1.0 x", NULL}, /* space */
    {"python-sdk-v*", "python-sdk-v1.0/x", NULL}, /* slash */
    {"python-sdk-v*", "python-sdk-v1.0~x", NULL},
    {"python-sdk-v*", "python-sdk-v1.0\"", NULL},
    {"python-sdk-v*", "js-sdk-v1.0", NULL},
    {"python-sdk-v*", "Python-sdk-v1.0", NULL}, /* case matters */
    {"python-sdk-v*", "xpython-sdk-v1.0", NULL},
    {"*-release", "1.2.3-release", "1.2.3"},
    {"*-release", "1.2.3-releasex", NULL},
    {"*-release", "-release", NULL},
    {"pkg-*-final", "pkg-2.0-final", "2.0"},
    {"pkg-*-final", "pkg--final", NULL},
    {"pkg-*-final", "pkg-final", NULL}, /* prefix and suffix overlap */
    {"a*a", "aa", NULL},
    {"a*a", "a1a", "1"},
    {"*", "7", "7"},
    {"*", "v7", NULL},
    {"v*", "v1", "1"},
    {"v1", "v1", NULL}, /* no star: no version */
};

static void test_tag_version(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(tv_cases) / sizeof(tv_cases[0]); i++) {
		const struct tv_case *c = &tv_cases[i];
		char ver[128] = "unchanged";
		bool ok = pipeline_tag_version(c->pattern, c->tag, ver, sizeof(ver));

		if (ok != (c->version != NULL) || (ok && strcmp(ver, c->version) != 0))
			fail_msg("%s ~ %s: %d \"%s\", want %s", c->pattern, c->tag, ok,
				 ver, c->version ? c->version : "no match");
	}
}

/* The version must fit the buffer with its terminator. */
static void test_tag_version_room(void **state)
{
	char ver[6];

	(void)state;
	assert_true(pipeline_tag_version("v*", "v1.2.3", ver, sizeof(ver)));
	assert_string_equal(ver, "1.2.3");
	assert_false(pipeline_tag_version("v*", "v1.2.34", ver, sizeof(ver)));
}

struct tagok_case {
	const char *tag;
	bool ok;
};

static const struct tagok_case tagok_cases[] = {
    {"v1.0.0", true},
    {"python-sdk-v0.1.0", true},
    {"release/v1.0", true},
    {"v1.0+build_7", true},
    {"", false},
    {"-v1", false},
    {"/v1", false},
    {".v1", false},
    {"v1/", false},
    {"v1.", false},
    {"a..b", false},
    {"a//b", false},
    {"a b", false},
    {"a~b", false},
    {"a:b", false},
    {"a^b", false},
    {"a@{b", false},
    {"a\\b", false},
    {"a*b", false},
    {"a?b", false},
    {"a[b", false},
    {"v1\n", false},
    {"v\xc3\xa9", false},
};

static void test_tag_ok(void **state)
{
	char tag[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(tagok_cases) / sizeof(tagok_cases[0]); i++)
		if (pipeline_tag_ok(tagok_cases[i].tag) != tagok_cases[i].ok)
			fail_msg("pipeline_tag_ok(\"%s\") != %d", tagok_cases[i].tag,
				 tagok_cases[i].ok);
	memset(tag, 'a', sizeof(tag));
	tag[199] = '\0';
	assert_true(pipeline_tag_ok(tag));
	tag[199] = 'a';
	tag[200] = '\0';
	assert_false(pipeline_tag_ok(tag));
}

/* ---- pipeline jobs ---- */

static struct pipeline_cfg mkpipeline(char *name)
{
	struct pipeline_cfg p;

	memset(&p, 0, sizeof(p));
	p.name = name;
	p.repository = "https://forge.example/agenticverz/aos.git";
	p.package = "aos-sdk";
	return p;
}

static void test_job_init(void **state)
{
	char name[] = "python-sdk";
	struct pipeline_cfg p = mkpipeline(name);
	struct pipeline_job j;
	cJSON *in;

	(void)state;
	assert_int_equal(pipeline_job_init(&j, &p, "python-sdk-v0.1.0", "0.1.0",
					   FX_COMMIT, "github", "d-1", 8, NULL),
			 0);
	assert_string_equal(j.idem_key,
			    "pipeline:python-sdk:python-sdk-v0.1.0@" FX_COMMIT);
	assert_string_equal(j.registry, "pipeline:python-sdk");
	assert_int_equal(j.jn.kind, JOB_PIPELINE);
	assert_ptr_equal(j.jn.idem_key, j.idem_key);
	assert_ptr_equal(j.jn.registry, j.registry);
	assert_string_equal(j.jn.package, "aos-sdk");
	assert_ptr_equal(j.jn.inputs, j.inputs);
	assert_int_equal(j.jn.max_attempts, 8);
	assert_int_equal(j.jn.nuploads, 0);
	in = cJSON_Parse(j.inputs);
	assert_non_null(in);
	assert_string_equal(cJSON_GetObjectItem(in, "pipeline")->valuestring,
			    "python-sdk");
	assert_string_equal(cJSON_GetObjectItem(in, "tag")->valuestring,
			    "python-sdk-v0.1.0");
	assert_string_equal(cJSON_GetObjectItem(in, "version")->valuestring, "0.1.0");
	assert_string_equal(cJSON_GetObjectItem(in, "commit")->valuestring, FX_COMMIT);
	assert_string_equal(cJSON_GetObjectItem(in, "forge")->valuestring, "github");
	assert_string_equal(cJSON_GetObjectItem(in, "delivery")->valuestring, "d-1");
	assert_string_equal(cJSON_GetObjectItem(in, "repository")->valuestring,
			    p.repository);
	cJSON_Delete(in);
	pipeline_job_clear(&j);
	assert_null(j.inputs);
	pipeline_job_clear(NULL);

	/* Inputs are JSON however odd the strings are. */
	assert_int_equal(pipeline_job_init(&j, &p, "v1", "1", FX_COMMIT, "gitlab",
					   "\"quoted\"\\\n", 1, NULL),
			 0);
	in = cJSON_Parse(j.inputs);
	assert_non_null(in);
	assert_string_equal(cJSON_GetObjectItem(in, "delivery")->valuestring,
			    "\"quoted\"\\\n");
	cJSON_Delete(in);
	pipeline_job_clear(&j);
}

/* A credential in a repository URL is never stored in the job's inputs
 * (nor shown in a step's command line in the job log). */
static void test_mask_url(void **state)
{
	static const char *const cases[][2] = {
	    {"https://user:pw@forge.example/o/r.git",
	     "https://***@forge.example/o/r.git"},
	    {"https://tok@forge.example/o/r.git", "https://***@forge.example/o/r.git"},
	    {"ssh://git@forge.example:2222/o/r.git",
	     "ssh://***@forge.example:2222/o/r.git"},
	    {"https://forge.example/o/r@x.git", "https://forge.example/o/r@x.git"},
	    {"https://forge.example/o/r.git", "https://forge.example/o/r.git"},
	    {"git@forge.example:o/r.git", "git@forge.example:o/r.git"},
	    {"https://@h/x", "https://@h/x"},
	    {"https://ab@h/x", "https://**@h/x"},
	};
	char name[] = "python-sdk", url[] = "https://user:s3cr3t@forge.example/o/r.git";
	struct pipeline_cfg p = mkpipeline(name);
	struct pipeline_job j;
	char buf[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", cases[i][0]);
		pipeline_mask_url(buf);
		assert_string_equal(buf, cases[i][1]);
	}
	p.repository = url;
	assert_int_equal(pipeline_job_init(&j, &p, "python-sdk-v1", "1", FX_COMMIT,
					   "github", "d", 1, NULL),
			 0);
	assert_null(strstr(j.inputs, "s3cr3t"));
	assert_non_null(strstr(j.inputs, "https://***@forge.example/o/r.git"));
	assert_string_equal(p.repository, "https://user:s3cr3t@forge.example/o/r.git");
	pipeline_job_clear(&j);
}

/* The key does not depend on the forge or the delivery: a reconcile and a
 * redelivery give the webhook's. */
static void test_job_key_stable(void **state)
{
	char name[] = "js-sdk";
	struct pipeline_cfg p = mkpipeline(name);
	struct pipeline_job a, b;

	(void)state;
	assert_int_equal(
	    pipeline_job_init(&a, &p, "js-sdk-v1", "1", FX_COMMIT, "gitea", "x", 3, NULL),
	    0);
	assert_int_equal(
	    pipeline_job_init(&b, &p, "js-sdk-v1", "1", FX_COMMIT, "", "", 3, NULL), 0);
	assert_string_equal(a.idem_key, b.idem_key);
	assert_non_null(strstr(b.inputs, "\"forge\":\"\""));
	pipeline_job_clear(&a);
	pipeline_job_clear(&b);
}

static void sha256_key(const char *name, const char *tag, const char *commit, char *out)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t i;

	assert_non_null(ctx);
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, name, strlen(name) + 1);
	EVP_DigestUpdate(ctx, tag, strlen(tag) + 1);
	EVP_DigestUpdate(ctx, commit, strlen(commit) + 1);
	EVP_DigestFinal_ex(ctx, md, NULL);
	EVP_MD_CTX_free(ctx);
	memcpy(out, "pipeline:", 9);
	for (i = 0; i < 32; i++) {
		out[9 + 2 * i] = digits[md[i] >> 4];
		out[10 + 2 * i] = digits[md[i] & 15];
	}
	out[73] = '\0';
}

/* A key that would not fit JOB_KEY_MAX is the SHA-256 of its parts. */
static void test_job_key_hashed(void **state)
{
	char name[101], tag[200], want[128];
	char commit64[] = FX_COMMIT "0123456789abcdef01234567";
	struct pipeline_cfg p;
	struct pipeline_job j, k;
	size_t plain;

	(void)state;
	memset(name, 'n', 100);
	name[100] = '\0';
	p = mkpipeline(name);
	memset(tag, 't', sizeof(tag) - 1);
	tag[sizeof(tag) - 1] = '\0';
	assert_int_equal(
	    pipeline_job_init(&j, &p, tag, "1", commit64, "github", "", 2, NULL), 0);
	sha256_key(name, tag, commit64, want);
	assert_string_equal(j.idem_key, want);
	assert_true(strlen(j.idem_key) < JOB_KEY_MAX);
	snprintf(want, sizeof(want), "pipeline:%s", name);
	assert_int_equal(strncmp(j.registry, want, sizeof(j.registry) - 1), 0);
	/* Another commit, another key. */
	commit64[0] = 'f';
	assert_int_equal(
	    pipeline_job_init(&k, &p, tag, "1", commit64, "github", "", 2, NULL), 0);
	assert_string_not_equal(j.idem_key, k.idem_key);
	pipeline_job_clear(&j);
	pipeline_job_clear(&k);

	/* The longest key written out: "pipeline:" + name + ":" + tag + "@" +
	 * commit = JOB_KEY_MAX - 1 bytes; one more byte is hashed. */
	plain = JOB_KEY_MAX - 1 - 9 - 100 - 1 - 1 - 40;
	tag[plain] = '\0';
	assert_int_equal(pipeline_job_init(&j, &p, tag, "1", FX_COMMIT, "", "", 1, NULL),
			 0);
	assert_int_equal(strlen(j.idem_key), JOB_KEY_MAX - 1);
	assert_non_null(strchr(j.idem_key, '@'));
	pipeline_job_clear(&j);
	tag[plain] = 't';
	tag[plain + 1] = '\0';
	assert_int_equal(pipeline_job_init(&j, &p, tag, "1", FX_COMMIT, "", "", 1, NULL),
			 0);
	sha256_key(name, tag, FX_COMMIT, want);
	assert_string_equal(j.idem_key, want);
	pipeline_job_clear(&j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tag_version),
	    cmocka_unit_test(test_tag_version_room),
	    cmocka_unit_test(test_tag_ok),
	    cmocka_unit_test(test_job_init),
	    cmocka_unit_test(test_mask_url),
	    cmocka_unit_test(test_job_key_stable),
	    cmocka_unit_test(test_job_key_hashed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
