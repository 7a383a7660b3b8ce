/* npm_tag.c - which dist-tag a version is published under (npm.h). */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "publishers/artifact.h"
#include "publishers/npm.h"
#include "publishers/pub_err.h"
#include "publishers/pub_util.h"
#include "publishers/semver.h"

#define TAG_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-"
#define LETTERS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define DEFAULT_PRERELEASE_TAG "next"

/* A dist-tag is URL-safe and does not look like a version or a range
 * ("1.2", "v2", "x"): npm refuses those because "npm install pkg@<tag>"
 * would read them as versions. */
bool npm_tag_valid(const char *tag)
{
	const char *p = tag;
	size_t n = strlen(tag);

	if (n == 0 || n > NPM_TAG_MAX || strspn(tag, TAG_CHARS) != n)
		return false;
	if (*p == 'v' || *p == 'V' || *p == '=')
		p++;
	if (*p >= '0' && *p <= '9')
		return false;
	return strcmp(tag, "x") != 0 && strcmp(tag, "X") != 0;
}

const char *npm_tag_from_name(enum npm_tag_from from)
{
	switch (from) {
	case NPM_TAG_GIVEN: return "given";
	case NPM_TAG_PACKAGE: return "publishConfig.tag";
	case NPM_TAG_PRERELEASE: return "prerelease default";
	case NPM_TAG_RELEASE: break;
	}
	return "release default";
}

static bool set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* A prerelease's own tag: its first identifier when alphabetic (and a
 * valid tag other than "latest"), else "next". */
static void prerelease_tag(const char *version, char *buf, size_t len)
{
	const char *id = NULL;
	size_t n = semver_prerelease_first(version, &id);

	snprintf(buf, len, "%s", DEFAULT_PRERELEASE_TAG);
	if (n == 0 || n >= len || strspn(id, LETTERS) < n)
		return;
	memcpy(buf, id, n);
	buf[n] = '\0';
	if (!npm_tag_valid(buf) || strcmp(buf, "latest") == 0)
		snprintf(buf, len, "%s", DEFAULT_PRERELEASE_TAG);
}

/* How the tag was named, for messages. */
static const char *named_by(const struct npm_tag_rule *rule, enum npm_tag_from from)
{
	switch (from) {
	case NPM_TAG_GIVEN:
		return set(rule->given_by) ? rule->given_by : "the explicit tag";
	case NPM_TAG_PACKAGE: return "publishConfig.tag in package.json";
	case NPM_TAG_PRERELEASE: return "the prerelease default";
	case NPM_TAG_RELEASE: break;
	}
	return "the default for a release";
}

/* Picks the tag into t; returns the name it was copied from (checked whole:
 * t->name may hold only its start), or NULL for a derived one. */
static const char *pick(const struct npm_tag_rule *rule, bool pre, struct npm_tag *t)
{
	const char *name = "latest";

	t->from = NPM_TAG_RELEASE;
	if (set(rule->given)) {
		name = rule->given;
		t->from = NPM_TAG_GIVEN;
	} else if (set(rule->package)) {
		name = rule->package;
		t->from = NPM_TAG_PACKAGE;
	} else if (pre && set(rule->prerelease)) {
		name = rule->prerelease;
		t->from = NPM_TAG_PRERELEASE;
	} else if (pre) {
		prerelease_tag(rule->version, t->name, sizeof(t->name));
		t->from = NPM_TAG_PRERELEASE;
		return NULL;
	}
	snprintf(t->name, sizeof(t->name), "%s", name);
	return name;
}

int npm_dist_tag(const struct npm_tag_rule *rule, struct npm_tag *ret, char *errbuf,
		 size_t errlen)
{
	char q[PUB_QUOTE_MAX], own[NPM_TAG_MAX + 1];
	const char *v = rule->version;
	bool pre = semver_is_prerelease(v);
	const char *name;
	struct npm_tag t;
	int cmp;

	if (!semver_valid(v)) {
		pub__errf(errbuf, errlen, "version %s is not a semantic version",
			  pub__quote(v, strlen(v), q, sizeof(q)));
		return PUB_ETAG;
	}
	name = pick(rule, pre, &t);
	if (name != NULL && !npm_tag_valid(name)) {
		pub__errf(
		    errbuf, errlen,
		    "dist-tag \"%s\" (from %s) refused: use up to %d "
		    "letters, digits, \".\", \"_\", \"~\", \"-\", not starting like a version",
		    pub__quote(name, strlen(name), q, sizeof(q)), named_by(rule, t.from),
		    NPM_TAG_MAX);
		return PUB_ETAG;
	}
	if (pre && strcmp(t.name, "latest") == 0) {
		prerelease_tag(v, own, sizeof(own));
		if (set(rule->prerelease) && strcmp(rule->prerelease, "latest") != 0)
			snprintf(own, sizeof(own), "%s", rule->prerelease);
		pub__errf(
		    errbuf, errlen,
		    "%s is a prerelease: it never goes to dist-tag "
		    "\"latest\" (named by %s); leave the tag unset so prereleases go to "
		    "\"%s\", or name another tag",
		    v, named_by(rule, t.from), own);
		return PUB_ETAG;
	}
	if (t.from != NPM_TAG_GIVEN && strcmp(t.name, "latest") == 0 &&
	    rule->latest != NULL && semver_compare(v, rule->latest, &cmp) == 0 &&
	    cmp < 0) {
		pub__errf(
		    errbuf, errlen,
		    "cannot move \"latest\" from %s down to %s (%s): "
		    "name a dist-tag explicitly for an older line (e.g. \"legacy\")",
		    pub__quote(rule->latest, strlen(rule->latest), q, sizeof(q)), v,
		    named_by(rule, t.from));
		return PUB_ETAG;
	}
	*ret = t;
	return 0;
}

int npm_package_tag(const struct artifact *a, char *buf, size_t len, char *errbuf,
		    size_t errlen)
{
	cJSON *root, *tag;
	int r = 0;

	if (a->package_json == NULL)
		return 0;
	root = cJSON_ParseWithLength(a->package_json, a->package_json_len);
	tag = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(root, "publishConfig"), "tag");
	if (tag != NULL && (!cJSON_IsString(tag) || strlen(tag->valuestring) >= len)) {
		pub__errf(errbuf, errlen,
			  "%s: publishConfig.tag in package.json is not a "
			  "dist-tag (a string of at most %zu characters)",
			  a->filename, len - 1);
		r = PUB_ETAG;
	} else if (tag != NULL) {
		snprintf(buf, len, "%s", tag->valuestring);
		r = 1;
	}
	cJSON_Delete(root);
	return r;
}
