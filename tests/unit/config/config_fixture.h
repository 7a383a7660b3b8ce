/* config_fixture.h - what the pipeline-side config tests share: a
 * configuration around the sections under test, and the checks of a
 * parse that succeeds or fails naming a key path.  Include after
 * <cmocka.h>. */
#ifndef AOS_TEST_CONFIG_FIXTURE_H
#define AOS_TEST_CONFIG_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "config/config.h"

#define CFG_PATH "/etc/aos-publishd/config.json"

/* Everything but the sections under test: a vault, three registries. */
#define BASE                                                                             \
	"\"state_dir\":\"/var/lib/aos-t\",\"runtime_dir\":\"/run/aos-t\","               \
	"\"vault\":{\"address\":\"https://vault.example.test:8200\","                    \
	"\"auth\":{\"method\":\"token\",\"token_file\":\"token\"}},"                     \
	"\"registries\":{\"testpypi\":{\"type\":\"pypi\",\"url\":"                       \
	"\"https://test.pypi.org/legacy/\",\"token_key\":\"TEST_PYPI_API_TOKEN\"},"      \
	"\"pypi\":{\"type\":\"pypi\",\"url\":\"https://upload.pypi.org/legacy/\"},"      \
	"\"npm\":{\"type\":\"npm\",\"url\":\"https://registry.npmjs.org/\"}}"

/* A valid pipeline "py"; EXTRA adds keys (starting with a comma). */
#define PIPE_KEYS                                                                        \
	"\"repository\":\"https://forge.example/agenticverz/aos.git\","                  \
	"\"tag_pattern\":\"python-sdk-v*\",\"package\":\"aos-sdk\","                     \
	"\"build\":[\"python3 -m build\"],\"artifacts\":[\"dist/*.whl\"],"               \
	"\"targets\":[\"testpypi\",\"pypi\"]"

/* Parses "{BASE,sections}". */
static int parse(const char *sections, struct config **ret, char *err, size_t errlen)
{
	char text[8192];

	snprintf(text, sizeof(text), "{" BASE "%s%s}", sections[0] ? "," : "", sections);
	*ret = NULL;
	return config_parse(text, strlen(text), CFG_PATH, ret, err, errlen);
}

static struct config *parse_ok(const char *sections)
{
	struct config *cfg = NULL;
	char err[512];

	if (parse(sections, &cfg, err, sizeof(err)) != 0)
		fail_msg("config_parse(%s): %s", sections, err);
	return cfg;
}

/* Parsing sections fails with AOS_ECONFIG, and the message starts with
 * the file, then keypath, and holds want. */
static void expect_error(const char *sections, const char *keypath, const char *want)
{
	struct config *cfg = NULL;
	char err[512] = "", prefix[256];
	int r;

	r = parse(sections, &cfg, err, sizeof(err));
	snprintf(prefix, sizeof(prefix), CFG_PATH ": %s: ", keypath);
	if (r != AOS_ECONFIG || cfg != NULL ||
	    strncmp(err, prefix, strlen(prefix)) != 0 || strstr(err, want) == NULL)
		fail_msg("%s: %d \"%s\", want \"%s...%s\"", sections, r, err, prefix,
			 want);
}

#endif
