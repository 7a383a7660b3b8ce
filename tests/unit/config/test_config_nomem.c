/* Unit tests for agent/config/: a strdup that fails while a pipeline is
 * parsed is a clear "out of memory" error, not a NULL used later (strlen()
 * of a failed copy of a build step crashed).  Linked with
 * -Wl,--wrap=strdup: __wrap_strdup fails for one chosen string. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "config/config.h"

#define CFG_PATH "/etc/aos-publishd/config.json"

#define BASE                                                                             \
	"\"state_dir\":\"/var/lib/aos-t\",\"runtime_dir\":\"/run/aos-t\","               \
	"\"vault\":{\"address\":\"https://vault.example.test:8200\","                    \
	"\"auth\":{\"method\":\"token\",\"token_file\":\"token\"}},"                     \
	"\"registries\":{\"pypi\":{\"type\":\"pypi\",\"url\":"                           \
	"\"https://upload.pypi.example/legacy/\"}}"

char *__real_strdup(const char *s);
char *__wrap_strdup(const char *s);

static const char *fail_on; /* strdup of this string returns NULL */

char *__wrap_strdup(const char *s)
{
	if (fail_on != NULL && strcmp(s, fail_on) == 0) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_strdup(s);
}

/* Parses a pipeline "name" with build and artifacts, strdup failing for
 * failing; expects an out-of-memory error naming keypath. */
static void expect_nomem(const char *name, const char *build, const char *artifacts,
			 const char *failing, const char *keypath)
{
	char text[4096], err[512] = "", prefix[256];
	struct config *cfg = NULL;
	int r;

	snprintf(
	    text, sizeof(text),
	    "{" BASE ",\"pipelines\":{\"%s\":{\"repository\":"
	    "\"https://forge.example/o/r.git\",\"tag_pattern\":\"v*\",\"package\":\"p\","
	    "\"build\":%s,\"artifacts\":%s,\"targets\":[\"pypi\"]}}}",
	    name, build, artifacts);
	fail_on = NULL;
	r = config_parse(text, strlen(text), CFG_PATH, &cfg, err, sizeof(err));
	assert_int_equal(r, 0); /* the same text parses when memory is there */
	config_free(cfg);
	cfg = NULL;
	fail_on = failing;
	r = config_parse(text, strlen(text), CFG_PATH, &cfg, err, sizeof(err));
	fail_on = NULL;
	snprintf(prefix, sizeof(prefix), CFG_PATH ": %s: ", keypath);
	if (r != AOS_ECONFIG || cfg != NULL ||
	    strncmp(err, prefix, strlen(prefix)) != 0 ||
	    strstr(err, "out of memory") == NULL)
		fail_msg("strdup(\"%s\") failing: %d \"%s\", want \"%sout of memory\"",
			 failing, r, err, prefix);
}

/* name, build, artifacts, the string whose copy fails, the key path named */
static const char *const cases[][5] = {
    {"py", "[[\"make\",\"nomem-arg\"]]", "[\"x\"]", "nomem-arg", "pipelines.py.build[0]"},
    {"py", "[\"make nomem-step\"]", "[\"x\"]", "make nomem-step",
     "pipelines.py.build[0]"},
    {"py", "[\"make\"]", "[\"nomem/*.whl\"]", "nomem/*.whl", "pipelines.py.artifacts"},
    {"nomempipe", "[\"make\"]", "[\"x\"]", "nomempipe", "pipelines.nomempipe"},
};

static void test_each_copy_checked(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_nomem(cases[i][0], cases[i][1], cases[i][2], cases[i][3],
			     cases[i][4]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_each_copy_checked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
