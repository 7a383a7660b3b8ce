/* npm_pubcfg.c - package.json's publishConfig as npm applies it.  See
 * npm_pubcfg.h. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/url.h"
#include "publishers/artifact.h"
#include "publishers/npm_pubcfg.h"
#include "publishers/pub_err.h"
#include "publishers/pub_util.h"

/* The path of an absolute URL without trailing slashes: start and length. */
static size_t url_path(const char *url, const char **ret)
{
	const char *p = strstr(url, "://"), *q;
	size_t n;

	p = p != NULL ? p + 3 : url;
	q = p + strcspn(p, "/?#");
	n = strcspn(q, "?#");
	while (n > 0 && q[n - 1] == '/')
		n--;
	*ret = q;
	return n;
}

/* True if a and b name the same registry: same origin, same path up to
 * trailing slashes ("http://h:1/npm" is "http://H:1/npm/"). */
static bool same_registry(const char *a, const char *b)
{
	char oa[URL_ORIGIN_MAX], ob[URL_ORIGIN_MAX];
	const char *pa, *pb;
	size_t na, nb;

	if (url_origin(a, oa, sizeof(oa)) < 0 || url_origin(b, ob, sizeof(ob)) < 0 ||
	    strcmp(oa, ob) != 0)
		return false;
	na = url_path(a, &pa);
	nb = url_path(b, &pb);
	return na == nb && memcmp(pa, pb, na) == 0;
}

/* The registry publishConfig sends a to (pickRegistry's order), or NULL. */
static const cJSON *config_registry(const cJSON *pc, const char *name, char *key,
				    size_t keylen)
{
	const char *slash = strchr(name, '/');
	const cJSON *r;

	if (name[0] == '@' && slash != NULL && (size_t)(slash - name) + 10 <= keylen) {
		memcpy(key, name, (size_t)(slash - name));
		strcpy(key + (slash - name), ":registry");
		r = cJSON_GetObjectItemCaseSensitive(pc, key);
		if (r != NULL)
			return r;
	}
	strcpy(key, "registry");
	return cJSON_GetObjectItemCaseSensitive(pc, "registry");
}

static int check(const struct artifact *a, const cJSON *pc, const char *registry_url,
		 const char *cfg_access, const char **ret_access, char *errbuf,
		 size_t errlen)
{
	const cJSON *acc = cJSON_GetObjectItemCaseSensitive(pc, "access"), *reg;
	char key[256], q[PUB_QUOTE_MAX];

	reg = cJSON_IsObject(pc) ? config_registry(pc, a->name, key, sizeof(key)) : NULL;
	if (reg != NULL &&
	    (!cJSON_IsString(reg) || !same_registry(reg->valuestring, registry_url))) {
		pub__errf(errbuf, errlen,
			  "%s: package.json says publishConfig.%s %s: the "
			  "package must go to another registry than %s; it is not sent "
			  "there. Publish it to a registry configured with that URL, or "
			  "change publishConfig",
			  a->filename, key,
			  cJSON_IsString(reg)
			      ? pub__quote(reg->valuestring, strlen(reg->valuestring), q,
					   sizeof(q))
			      : "(not a string)",
			  registry_url);
		return PUB_EURL;
	}
	*ret_access = cfg_access;
	if (acc != NULL && cJSON_IsObject(pc)) {
		if (cJSON_IsString(acc) && strcmp(acc->valuestring, "public") == 0) {
			*ret_access = "public";
		} else if (cJSON_IsString(acc) &&
			   strcmp(acc->valuestring, "restricted") == 0) {
			*ret_access = "restricted";
		} else if (!cJSON_IsNull(acc)) {
			pub__errf(errbuf, errlen,
				  "%s: package.json's publishConfig.access "
				  "must be \"public\" or \"restricted\"",
				  a->filename);
			return -EINVAL;
		}
	}
	/* libnpmpublish refuses this too (EUNSCOPED). */
	if (*ret_access != NULL && strcmp(*ret_access, "restricted") == 0 &&
	    a->name[0] != '@') {
		pub__errf(errbuf, errlen,
			  "%s: cannot restrict access to unscoped package "
			  "%s (access \"restricted\" from %s)",
			  a->filename, a->name,
			  *ret_access == cfg_access ? "the registry's configuration"
						    : "publishConfig");
		return -EINVAL;
	}
	return 0;
}

int npm_pubcfg_access(const struct artifact *a, const char *registry_url,
		      const char *cfg_access, const char **ret_access, char *errbuf,
		      size_t errlen)
{
	const char *text = a->package_json;
	size_t len = a->package_json_len;
	const char *access = NULL;
	cJSON *root;
	int r;

	if (a->kind != ARTIFACT_NPM || text == NULL) {
		pub__errf(errbuf, errlen, "%s: not an npm tarball", a->filename);
		return -EINVAL;
	}
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		text += 3;
		len -= 3;
	}
	root = cJSON_ParseWithLength(text, len);
	if (root == NULL) {
		pub__errf(errbuf, errlen, "%s: package.json does not parse", a->filename);
		return PUB_EJSON;
	}
	r = check(a, cJSON_GetObjectItemCaseSensitive(root, "publishConfig"),
		  registry_url, cfg_access, &access, errbuf, errlen);
	cJSON_Delete(root);
	if (r == 0)
		*ret_access = access;
	return r;
}
