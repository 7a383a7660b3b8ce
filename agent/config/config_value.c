/* config_value.c - what every section's parser uses (config_internal.h):
 * the first error, with the file and the key path; one value of the
 * document read and checked (string, number, boolean, object) and the keys
 * of an object; a list of strings freed; and a registry found by name, as
 * the pipelines' section checks its targets.  It calls no other file of
 * config/, so that the sections (config.c, config_pipeline.c,
 * config_env.c, config_control.c, config_keys.c) call it and not each
 * other back. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "config/config.h"
#include "config_internal.h"

void cfg__fail(struct cctx *c, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->failed)
		return;
	c->failed = true;
	n = snprintf(c->err, c->errlen, "%s: %s: ", c->file, path);
	if (n < 0 || (size_t)n >= c->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

void cfg__join(char *out, size_t outlen, const char *base, const char *key)
{
	snprintf(out, outlen, "%s%s%s", base, base[0] ? "." : "", key);
}

const char *cfg__type_name(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsObject(v))
		return "an object";
	return "something else";
}

/* Reports repeated keys of obj, and keys not in allowed (NULL-terminated;
 * NULL allows any name). */
void cfg__check_keys(struct cctx *c, const cJSON *obj, const char *base,
		     const char *const *allowed)
{
	const cJSON *it;
	char p[256];

	cJSON_ArrayForEach(it, obj)
	{
		const char *const *a;
		const cJSON *prev;
		bool ok = false;

		for (prev = obj->child; prev != it; prev = prev->next) {
			if (strcmp(prev->string, it->string) == 0) {
				cfg__join(p, sizeof(p), base, it->string);
				cfg__fail(c, p, "duplicate key (only one may be given)");
			}
		}

		if (allowed == NULL)
			continue; /* any name, but each once */
		for (a = allowed; *a != NULL; a++)
			ok |= strcmp(*a, it->string) == 0;
		if (!ok) {
			cfg__join(p, sizeof(p), base, it->string);
			cfg__fail(
			    c, p,
			    "unknown key (check the spelling; see docs/configuration.md)");
		}
	}
}

/* A string value; NULL def means required unless optional is set. */
char *cfg__str(struct cctx *c, const cJSON *obj, const char *base, const char *key,
	       const char *def, bool optional, long max)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char p[256];
	char *s;

	cfg__join(p, sizeof(p), base, key);
	if (v == NULL || cJSON_IsNull(v)) {
		if (def == NULL) {
			if (!optional)
				cfg__fail(c, p, "missing; expected a string");
			return NULL;
		}
		s = strdup(def);
	} else if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
		cfg__fail(c, p, "expected a non-empty string, got %s",
			  cJSON_IsString(v) ? "an empty string" : cfg__type_name(v));
		return NULL;
	} else if (strlen(v->valuestring) > (size_t)max) {
		cfg__fail(c, p, "too long (at most %ld bytes)", max);
		return NULL;
	} else {
		s = strdup(v->valuestring);
	}
	if (s == NULL)
		cfg__fail(c, p, "out of memory");
	return s;
}

const cJSON *cfg__sub(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsObject(v) ? v : NULL;
}

long cfg__int(struct cctx *c, const cJSON *obj, const char *base, const char *key,
	      long def, long min, long max)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char p[256];

	if (v == NULL)
		return def;
	cfg__join(p, sizeof(p), base, key);
	/* Range first: converting an out-of-range double to long is undefined. */
	if (!cJSON_IsNumber(v) || v->valuedouble < (double)min ||
	    v->valuedouble > (double)max ||
	    v->valuedouble != (double)(long)v->valuedouble) {
		char got[64];

		if (cJSON_IsString(v))
			snprintf(got, sizeof(got), "\"%.40s\"", v->valuestring);
		else if (cJSON_IsNumber(v) && v->valuedouble > -1e18 &&
			 v->valuedouble < 1e18 &&
			 v->valuedouble == (double)(long long)v->valuedouble)
			snprintf(got, sizeof(got), "%.0f", v->valuedouble); /* no 1e+12 */
		else if (cJSON_IsNumber(v))
			snprintf(got, sizeof(got), "%g", v->valuedouble);
		else
			snprintf(got, sizeof(got), "%s", cfg__type_name(v));
		cfg__fail(c, p, "expected an integer from %ld to %ld, got %s", min, max,
			  got);
		return def;
	}
	return (long)v->valuedouble;
}

bool cfg__bool(struct cctx *c, const cJSON *obj, const char *base, const char *key,
	       bool def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char p[256];

	if (v == NULL)
		return def;
	if (!cJSON_IsBool(v)) {
		cfg__join(p, sizeof(p), base, key);
		cfg__fail(c, p, "expected true or false, got %s", cfg__type_name(v));
		return def;
	}
	return cJSON_IsTrue(v);
}

const cJSON *cfg__obj(struct cctx *c, const cJSON *obj, const char *base, const char *key,
		      bool required)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char p[256];

	cfg__join(p, sizeof(p), base, key);
	if (v == NULL) {
		if (required)
			cfg__fail(c, p, "missing; expected an object");
		return NULL;
	}
	if (!cJSON_IsObject(v)) {
		cfg__fail(c, p, "expected an object, got %s", cfg__type_name(v));
		return NULL;
	}
	return v;
}

const struct registry_cfg *config_registry(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nregistries; i++)
		if (strcmp(cfg->registries[i].name, name) == 0)
			return &cfg->registries[i];
	return NULL;
}

void cfg__free_list(char **l, size_t n)
{
	size_t i;

	for (i = 0; l != NULL && i < n; i++)
		free(l[i]);
	free(l);
}
