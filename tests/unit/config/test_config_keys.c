/* Unit tests for agent/config_keys.c, generated from its table: every
 * integer at min - 1, min, max and max + 1; every string one byte past its
 * length; every list at and past its count; every enumerated value and one
 * more; every default the parser applies.  A value taken must land in the
 * row's field, a value refused must name the key path and the bound. */
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
#include <cjson/cJSON.h>

#include "common/err.h"
#include "config/config.h"
#include "config/config_internal.h"

#define CFG_PATH "/etc/aos-publishd/config.json"

/* Every section present, each "*" filled by one entry. */
static const char base_text[] =
    "{\"runtime_dir\":\"/run/aos-t\",\"state_dir\":\"/var/lib/aos-t\","
    "\"vault\":{\"address\":\"https://vault.example.test:8200\","
    "\"auth\":{\"method\":\"token\",\"token_file\":\"token\"}},"
    "\"registries\":{\"r\":{\"type\":\"npm\",\"url\":\"http://127.0.0.1:4873/\"}},"
    "\"control\":{\"operators\":[\"root\"]},"
    "\"listen\":{\"address\":\"127.0.0.1:8080\",\"tls\":{\"cert_file\":\"/c.pem\","
    "\"key_file\":\"/k.pem\"}},"
    "\"webhooks\":{\"github\":{\"secret_key\":\"GITHUB_WEBHOOK_SECRET\"}},"
    "\"pipelines\":{\"p\":{\"repository\":\"https://forge.example.test/o/r.git\","
    "\"tag_pattern\":\"v*\",\"package\":\"x\",\"build\":[\"true\"],\"verify\":[\"true\"],"
    "\"artifacts\":[\"*.tgz\"],\"targets\":[\"r\"]}}}";

/* Whether the "*" at star in path stands for an array's items (the key
 * before it has the row type CT_CELLS), not a name. */
static bool is_array(const char *path, const char *star)
{
	char before[256];
	const struct cfg_key *k;

	snprintf(before, sizeof(before), "%.*s", (int)(star - path - 1), path);
	k = cfg__key(before);
	return k != NULL && k->type == CT_CELLS;
}

/* The name each "*" of a key path stands for in base_text. */
static const char *star_name(const char *parent)
{
	if (strcmp(parent, "registries") == 0)
		return "r";
	if (strcmp(parent, "webhooks") == 0)
		return "github";
	return "p";
}

/* The key path with each "*" replaced: "pipelines.*.timeout_s" ->
 * "pipelines.p.timeout_s"; an array's item is "[0]":
 * "pipelines.*.verify_matrix.*.name" -> "pipelines.p.verify_matrix[0].name". */
static void concrete(const char *path, char *out, size_t outlen)
{
	char parent[64] = "";
	const char *s = path;
	size_t n = 0;

	for (; *s != '\0' && n + 8 < outlen; s++) {
		if (*s == '*' && n > 0 && out[n - 1] == '.' && is_array(path, s)) {
			n += (size_t)snprintf(out + n - 1, outlen - n + 1, "[0]") - 1;
			continue;
		}
		if (*s == '*') {
			n += (size_t)snprintf(out + n, outlen - n, "%s",
					      star_name(parent));
			continue;
		}
		out[n++] = *s;
		if (*s == '.' && parent[0] == '\0')
			snprintf(parent, sizeof(parent), "%.*s", (int)(n - 1), out);
	}
	out[n] = '\0';
}

/* o's item 0 of array name, created (with the array) when absent. */
static cJSON *first_item(cJSON *o, const char *name)
{
	cJSON *a = cJSON_GetObjectItemCaseSensitive(o, name);

	if (a == NULL)
		a = cJSON_AddArrayToObject(o, name);
	assert_non_null(a);
	if (cJSON_GetArraySize(a) == 0)
		assert_true(cJSON_AddItemToArray(a, cJSON_CreateObject()));
	return cJSON_GetArrayItem(a, 0);
}

/* Sets doc's member at the key path to v (taking it), creating objects. */
static void set_at(cJSON *doc, const char *path, cJSON *v)
{
	char p[256], *part, *save = NULL;
	cJSON *o = doc;

	concrete(path, p, sizeof(p));
	for (part = strtok_r(p, ".", &save); part != NULL;
	     part = strtok_r(NULL, ".", &save)) {
		const char *rest = save != NULL && *save != '\0' ? save : NULL;
		cJSON *next;

		if (rest == NULL) {
			cJSON_DeleteItemFromObjectCaseSensitive(o, part);
			assert_true(cJSON_AddItemToObject(o, part, v));
			return;
		}
		if (strlen(part) > 3 && strcmp(part + strlen(part) - 3, "[0]") == 0) {
			part[strlen(part) - 3] = '\0';
			o = first_item(o, part);
			continue;
		}
		next = cJSON_GetObjectItemCaseSensitive(o, part);
		if (next == NULL)
			next = cJSON_AddObjectToObject(o, part);
		assert_non_null(next);
		o = next;
	}
}

/* A fresh base document, with vault.auth for variant (NULL: the token one). */
static cJSON *base(const char *variant)
{
	cJSON *doc = cJSON_Parse(base_text);

	assert_non_null(doc);
	if (variant != NULL && strcmp(variant, "approle") == 0)
		set_at(doc, "vault.auth", cJSON_Parse("{\"method\":\"approle\"}"));
	/* the PostgreSQL backend on a socket (no TLS keys needed) */
	set_at(doc, "queue.backend", cJSON_CreateString("postgresql"));
	set_at(doc, "queue.postgresql",
	       cJSON_Parse("{\"host\":\"/run/postgresql\",\"database\":\"aos\","
			   "\"user\":\"aos\"}"));
	/* queue.postgresql.credentials: database_role decides the variant
	 * (and Vault names the user) */
	if (variant != NULL && strcmp(variant, "database") == 0) {
		cJSON_DeleteItemFromObjectCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(doc, "queue"), "postgresql"),
		    "user");
		set_at(doc, "queue.postgresql.credentials.database_role",
		       cJSON_CreateString("r"));
	}
	return doc;
}

/* Keys whose bound depends on another: set that one where the first's
 * whole range is reachable. */
static void companions(cJSON *doc, const struct cfg_key *k)
{
	static const struct {
		const char *suffix, *other; /* other: a sibling key */
		bool at_max;
	} rel[] = {
	    {".backoff_min_ms", "backoff_max_ms", true},
	    {".backoff_max_ms", "backoff_min_ms", false},
	    {".max_unauthenticated_bytes", "max_body_bytes", false},
	    {".max_unauthenticated_bytes", "max_header_bytes", false},
	};
	size_t i, n = strlen(k->path);

	for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		size_t m = strlen(rel[i].suffix);
		const struct cfg_key *o;
		char p[256];

		if (n <= m || strcmp(k->path + n - m, rel[i].suffix) != 0)
			continue;
		snprintf(p, sizeof(p), "%.*s.%s", (int)(n - m), k->path, rel[i].other);
		o = cfg__key(p);
		assert_non_null(o);
		set_at(doc, p,
		       cJSON_CreateNumber((double)(rel[i].at_max ? o->max : o->min)));
	}
}

/* The struct a row's field is in, or NULL (webhooks: copied elsewhere). */
static void *section_of(struct config *cfg, const struct cfg_key *k)
{
	static const struct {
		const char *prefix;
		size_t off;
	} map[] = {
	    {"vault.", offsetof(struct config, vault)},
	    {"publish.", offsetof(struct config, publish)},
	    {"queue.postgresql.credentials.",
	     offsetof(struct config, queue.pg_credentials)},
	    {"queue.postgresql.", offsetof(struct config, queue.pg)},
	    {"queue.", offsetof(struct config, queue)},
	    {"control.", offsetof(struct config, control)},
	    {"listen.tls.", offsetof(struct config, listen.tls)},
	    {"listen.", offsetof(struct config, listen)},
	    {"metrics.", offsetof(struct config, metrics)},
	};
	size_t i;

	if (strncmp(k->path, "registries.", 11) == 0)
		return &cfg->registries[0];
	if (strncmp(k->path, "pipelines.*.verify_matrix.*.", 28) == 0)
		return &cfg->pipelines[0].matrix[0];
	if (strncmp(k->path, "pipelines.", 10) == 0)
		return &cfg->pipelines[0];
	if (strncmp(k->path, "webhooks.", 9) == 0)
		return NULL;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strncmp(k->path, map[i].prefix, strlen(map[i].prefix)) == 0)
			return (char *)cfg + map[i].off;
	return cfg; /* the top level and "http" */
}

/* Parses doc (and frees it): 0 and *ret, or AOS_ECONFIG with err. */
static int parse_doc(cJSON *doc, struct config **ret, char *err, size_t errlen)
{
	char *text = cJSON_PrintUnformatted(doc);
	int r;

	assert_non_null(text);
	cJSON_Delete(doc);
	*ret = NULL;
	r = config_parse(text, strlen(text), CFG_PATH, ret, err, errlen);
	cJSON_free(text);
	return r;
}

/* Expects doc refused with "FILE: <k's path>: " and want in the message. */
static void expect_refused(cJSON *doc, const struct cfg_key *k, const char *want,
			   const char *what)
{
	char err[512] = "", prefix[300], p[256];
	struct config *cfg;
	int r = parse_doc(doc, &cfg, err, sizeof(err));

	concrete(k->path, p, sizeof(p));
	snprintf(prefix, sizeof(prefix), CFG_PATH ": %s: ", p);
	if (r != AOS_ECONFIG || cfg != NULL ||
	    strncmp(err, prefix, strlen(prefix)) != 0 || strstr(err, want) == NULL)
		fail_msg("%s (%s): %d \"%s\", want \"%s...%s\"", k->path, what, r, err,
			 prefix, want);
}

/* Expects doc taken; returns it (free with config_free). */
static struct config *expect_taken(cJSON *doc, const struct cfg_key *k, const char *what)
{
	char err[512] = "";
	struct config *cfg;

	if (parse_doc(doc, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s (%s) refused: %s", k->path, what, err);
	return cfg;
}

/* The long a row's field holds (webhooks: the copy in struct config). */
static long int_field(struct config *cfg, const struct cfg_key *k)
{
	void *sect = section_of(cfg, k);

	if (sect == NULL)
		return cfg->webhook_grace_s[FORGE_GITHUB];
	return *(long *)((char *)sect + k->off);
}

static void test_int_bounds(void **state)
{
	size_t i, tested = 0;

	(void)state;
	for (i = 0; i < cfg__nkeys; i++) {
		const struct cfg_key *k = &cfg__keys[i];
		const long at[] = {k->min - 1, k->min, k->max, k->max + 1};
		char want[100];
		size_t j;

		if (k->type != CT_INT)
			continue;
		for (j = 0; j < 4; j++) {
			cJSON *doc = base(k->variant);
			char what[64];

			snprintf(what, sizeof(what), "%ld", at[j]);
			set_at(doc, k->path, cJSON_CreateNumber((double)at[j]));
			companions(doc, k);
			if (j == 0 || j == 3) {
				snprintf(want, sizeof(want),
					 "expected an integer "
					 "from %ld to %ld, got %ld",
					 k->min, k->max, at[j]);
				expect_refused(doc, k, want, what);
			} else {
				struct config *cfg = expect_taken(doc, k, what);

				assert_int_equal(int_field(cfg, k), at[j]);
				config_free(cfg);
			}
		}
		tested++;
	}
	assert_true(tested >= 20); /* the loop found the table's integers */
}

/* n bytes: "/aaa..." (a path for the keys that want one), or "aaa..." for the
 * dist-tag keys, the verify_matrix cells' names and the PostgreSQL
 * credentials' names (none of them starts with '/'). */
static cJSON *string_of(const struct cfg_key *k, size_t n)
{
	char *s = malloc(n + 1);
	cJSON *v;

	assert_non_null(s);
	memset(s, 'a', n);
	s[0] = strstr(k->path, "dist_tag") != NULL ||
		       strstr(k->path, "verify_matrix") != NULL ||
		       strstr(k->path, "postgresql.credentials") != NULL ||
		       strcmp(k->path, "queue.host_name") == 0
		   ? 'a'
		   : '/';
	s[n] = '\0';
	v = cJSON_CreateString(s);
	free(s);
	return v;
}

static void test_string_lengths(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < cfg__nkeys; i++) {
		const struct cfg_key *k = &cfg__keys[i];
		cJSON *doc;
		char want[64];

		if (k->type != CT_STR)
			continue;
		snprintf(want, sizeof(want), "too long (at most %ld bytes)", k->max);
		doc = base(k->variant);
		set_at(doc, k->path, string_of(k, (size_t)k->max + 1));
		expect_refused(doc, k, want, "max + 1 bytes");
		if (k->max >= 4096 || k->choices != NULL)
			continue; /* the shorter bounds: the longest is taken */
		doc = base(k->variant);
		set_at(doc, k->path, string_of(k, (size_t)k->max));
		config_free(expect_taken(doc, k, "max bytes"));
	}
}

/* An array of n absolute paths (or of "root" for the control lists). */
static cJSON *list_of(const struct cfg_key *k, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	for (i = 0; i < n; i++) {
		char s[32];
		bool user = strncmp(k->path, "control.", 8) == 0;

		snprintf(s, sizeof(s), "/p%zu", i);
		assert_true(
		    cJSON_AddItemToArray(a, cJSON_CreateString(user ? "root" : s)));
	}
	return a;
}

static void test_list_counts(void **state)
{
	size_t i, tested = 0;

	(void)state;
	for (i = 0; i < cfg__nkeys; i++) {
		const struct cfg_key *k = &cfg__keys[i];
		struct config *cfg;
		cJSON *doc;
		char want[64];

		if (k->type != CT_LIST || k->max == 0)
			continue;
		doc = base(k->variant);
		set_at(doc, k->path, list_of(k, (size_t)k->max));
		cfg = expect_taken(doc, k, "max entries");
		config_free(cfg);
		doc = base(k->variant);
		set_at(doc, k->path, list_of(k, (size_t)k->max + 1));
		snprintf(want, sizeof(want), "at most %ld", k->max);
		expect_refused(doc, k, want, "max + 1 entries");
		tested++;
	}
	assert_int_equal(tested, 4); /* writable, readable, operators, readers */
}

static void test_choices(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < cfg__nkeys; i++) {
		const struct cfg_key *k = &cfg__keys[i];
		cJSON *doc;

		if (k->choices == NULL || strcmp(k->path, "vault.auth.method") == 0)
			continue; /* it decides which keys belong: test_config.c */
		/* they decide which other keys belong (a section, a CA):
		 * each value in test_config_queue.c */
		if (strcmp(k->path, "queue.backend") == 0 ||
		    strcmp(k->path, "queue.postgresql.sslmode") == 0)
			continue;
		for (j = 0; k->choices[j] != NULL; j++) {
			struct config *cfg;
			char *field;

			doc = base(k->variant);
			set_at(doc, k->path, cJSON_CreateString(k->choices[j]));
			cfg = expect_taken(doc, k, k->choices[j]);
			field = (char *)section_of(cfg, k) + k->off;
			if (k->type == CT_ENUM)
				assert_int_equal(*(int *)field, k->min + (long)j);
			else
				assert_string_equal(*(char **)field, k->choices[j]);
			config_free(cfg);
		}
		doc = base(k->variant);
		set_at(doc, k->path, cJSON_CreateString("none-of-these"));
		expect_refused(doc, k, "got \"none-of-these\"", "another value");
	}
}

/* The index of value in k's choices. */
static long choice(const struct cfg_key *k, const char *value)
{
	long j;

	for (j = 0; k->choices[j] != NULL; j++)
		if (strcmp(k->choices[j], value) == 0)
			return j;
	fail_msg("%s: \"%s\" is not one of its values", k->path, value);
	return -1;
}

/* Every default written as a value in the table is what the parser sets
 * when the key is left out. */
/* A derived default, with the key left out of the document: $ENV else
 * sdef, or <the folder key's value>/sdef. */
static void check_derived(const struct cfg_key *k)
{
	cJSON *doc = base(NULL);
	struct config *cfg;
	char want[600], err[512];
	const char *dir, *got;

	cJSON_DeleteItemFromObjectCaseSensitive(doc, k->path); /* top-level keys */
	assert_int_equal(parse_doc(doc, &cfg, err, sizeof(err)), 0);
	got = *(char **)((char *)section_of(cfg, k) + k->off);
	if (k->under != NULL) {
		dir = *(char *const *)((const char *)cfg + cfg__key(k->under)->off);
		assert_non_null(dir);
		snprintf(want, sizeof(want), "%s/%s", dir, k->sdef);
	} else {
		snprintf(want, sizeof(want), "%s",
			 getenv(k->env) != NULL ? getenv(k->env) : k->sdef);
	}
	assert_non_null(got);
	assert_string_equal(got, want);
	config_free(cfg);
}

static void test_defaults(void **state)
{
	static const char *const variants[] = {"token", "approle"};
	size_t i, v;

	(void)state;
	for (v = 0; v < 2; v++) {
		struct config *cfg;
		char err[512];

		assert_int_equal(parse_doc(base(variants[v]), &cfg, err, sizeof(err)), 0);
		for (i = 0; i < cfg__nkeys; i++) {
			const struct cfg_key *k = &cfg__keys[i];
			bool other =
			    k->variant != NULL && strcmp(k->variant, variants[v]) != 0;
			char *field;

			if (k->off == CFG_CODE || k->flags & (CK_REQUIRED | CK_DOC) ||
			    other || section_of(cfg, k) == NULL)
				continue;
			/* the base is the PostgreSQL one: the default, sqlite, is
			 * test_config_queue.c's test_none */
			if (strcmp(k->path, "queue.backend") == 0)
				continue;
			field = (char *)section_of(cfg, k) + k->off;
			if (k->env != NULL || k->under != NULL) {
				check_derived(k);
				continue;
			}
			if (k->type == CT_INT)
				assert_int_equal(*(long *)field, k->def);
			else if (k->type == CT_BOOL)
				assert_int_equal(*(bool *)field, k->def != 0);
			else if (k->type == CT_ENUM)
				assert_int_equal(*(int *)field,
						 k->min + choice(k, k->sdef));
			else if (k->sdef != NULL)
				assert_string_equal(*(char **)field, k->sdef);
			else
				assert_null(*(char **)field);
		}
		assert_int_equal(cfg->webhook_grace_s[FORGE_GITHUB],
				 cfg__key("webhooks.*.rotation_grace_s")->def);
		config_free(cfg);
	}
}

/* A key that is not in the table is refused in every section. */
static void test_unknown_keys(void **state)
{
	static const char *const sections[] = {
	    "",		  "http",	  "vault",
	    "vault.auth", "registries.*", "publish",
	    "queue",	  "control",	  "listen",
	    "webhooks.*", "pipelines.*",  "queue.postgresql",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		struct cfg_key k = {.path = NULL};
		cJSON *doc = base(NULL);
		char p[128];

		snprintf(p, sizeof(p), "%s%sno_such_key", sections[i],
			 sections[i][0] ? "." : "");
		k.path = p;

		set_at(doc, p, cJSON_CreateNumber(1));
		expect_refused(doc, &k, "unknown key", "unknown");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_int_bounds),	cmocka_unit_test(test_string_lengths),
	    cmocka_unit_test(test_list_counts), cmocka_unit_test(test_choices),
	    cmocka_unit_test(test_defaults),	cmocka_unit_test(test_unknown_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
