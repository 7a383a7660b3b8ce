/* pypi_token.c - reading a PyPI API token's caveats (see pypi_token.h).
 * The macaroon's binary format 2 (libmacaroons, pymacaroons'
 * binary_serializer.py): a version byte 2, then fields "type varint, length
 * varint, data"; type 0 (end) has no length.  The root's location and
 * identifier end with an end field, each caveat's location, identifier and
 * verification id likewise, an end field closes the caveats, and the
 * signature (type 6) comes last. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "common/err.h"
#include "publishers/pub_util.h"
#include "publishers/pypi_name.h"
#include "publishers/pypi_token.h"

#define TOKEN_MAX PYPI_TOKEN_MAX
#define F_END 0
#define F_IDENTIFIER 2
#define F_SIGNATURE 6

struct reader {
	const unsigned char *p, *end;
};

static bool varint(struct reader *r, uint64_t *ret)
{
	uint64_t v = 0;
	int shift;

	for (shift = 0; shift < 63 && r->p < r->end; shift += 7) {
		unsigned char b = *r->p++;

		v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*ret = v;
			return true;
		}
	}
	return false;
}

/* One field: its type, and its data (not for the end field). */
static bool field(struct reader *r, uint64_t *type, const unsigned char **data,
		  size_t *len)
{
	uint64_t n;

	if (!varint(r, type))
		return false;
	if (*type == F_END)
		return true;
	if (!varint(r, &n) || n > (uint64_t)(r->end - r->p))
		return false;
	*data = r->p;
	*len = (size_t)n;
	r->p += n;
	return true;
}

/* base64url without padding into a new buffer. */
static unsigned char *b64url_decode(const char *s, size_t n, size_t *ret_len)
{
	size_t i, padded = (n + 3) / 4 * 4;
	char *t = malloc(padded + 1);
	unsigned char *out;
	int got;

	if (t == NULL || n % 4 == 1)
		goto fail;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (c == '+' || c == '/' || c == '=')
			goto fail; /* not the url-safe alphabet */
		t[i] = c;
	}
	for (; i < padded; i++)
		t[i] = '=';
	out = malloc(padded / 4 * 3 + 1);
	if (out == NULL)
		goto fail;
	got = EVP_DecodeBlock(out, (const unsigned char *)t, (int)padded);
	OPENSSL_cleanse(t, padded);
	free(t);
	if (got < 0) {
		free(out);
		return NULL;
	}
	*ret_len = (size_t)got - (padded - n); /* less what the padding made */
	return out;
fail:
	free(t);
	return NULL;
}

/* A list of strings into the project restriction: an intersection with
 * what earlier caveats allowed. */
static void restrict_projects(struct pypi_token_info *t, const cJSON *list, bool ids)
{
	char names[PYPI_TOKEN_PROJECTS][PYPI_TOKEN_NAME];
	const cJSON *it;
	size_t n = 0, i, k;

	cJSON_ArrayForEach(it, list)
	{
		if (!cJSON_IsString(it) || n == PYPI_TOKEN_PROJECTS)
			continue;
		if (ids)
			snprintf(names[n], PYPI_TOKEN_NAME, "%s", it->valuestring);
		else if (pypi_name_normalize(it->valuestring, names[n], PYPI_TOKEN_NAME) <
			 0)
			continue;
		n++;
	}
	if (ids) {
		t->by_project_id = true;
		return; /* ids cannot be compared with names here */
	}
	if (t->nprojects == 0 && !t->by_project_id) {
		memcpy(t->projects, names, sizeof(names));
		t->nprojects = n == 0 ? 1 : n;
		if (n == 0)
			snprintf(t->projects[0], PYPI_TOKEN_NAME, "%s", "(none)");
		return;
	}
	for (i = 0, k = 0; i < t->nprojects; i++) {
		size_t j;

		for (j = 0; j < n; j++)
			if (strcmp(t->projects[i], names[j]) == 0)
				break;
		if (j < n)
			memmove(t->projects[k++], t->projects[i], PYPI_TOKEN_NAME);
	}
	t->nprojects = k;
	if (k == 0) {
		t->nprojects = 1;
		snprintf(t->projects[0], PYPI_TOKEN_NAME, "%s", "(none)");
	}
}

static void expiry(struct pypi_token_info *t, double exp, double nbf)
{
	if (exp > 0 && (t->expires == 0 || (int64_t)exp < t->expires))
		t->expires = (int64_t)exp;
	if (nbf > t->not_before)
		t->not_before = (int64_t)nbf;
}

/* The legacy mappings (warehouse/macaroons/caveats/_legacy.py). */
static void legacy(struct pypi_token_info *t, const cJSON *o)
{
	const cJSON *perm = cJSON_GetObjectItemCaseSensitive(o, "permissions");
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(o, "exp");
	const cJSON *nbf = cJSON_GetObjectItemCaseSensitive(o, "nbf");
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(o, "project_ids");

	if (cJSON_IsObject(perm))
		restrict_projects(t, cJSON_GetObjectItemCaseSensitive(perm, "projects"),
				  false);
	else if (cJSON_IsNumber(exp) && cJSON_IsNumber(nbf))
		expiry(t, exp->valuedouble, nbf->valuedouble);
	else if (cJSON_IsArray(ids))
		restrict_projects(t, ids, true);
	else if (!cJSON_IsString(perm)) /* "user": no restriction */
		t->unknown++;
}

static void caveat(struct pypi_token_info *t, const unsigned char *data, size_t len)
{
	cJSON *j = cJSON_ParseWithLength((const char *)data, len);
	const cJSON *tag = cJSON_GetArrayItem(j, 0);

	t->ncaveats++;
	if (cJSON_IsObject(j)) {
		legacy(t, j);
	} else if (!cJSON_IsArray(j) || !cJSON_IsNumber(tag)) {
		t->unknown++;
	} else if (tag->valueint == 0) {
		const cJSON *e = cJSON_GetArrayItem(j, 1), *b = cJSON_GetArrayItem(j, 2);

		expiry(t, cJSON_IsNumber(e) ? e->valuedouble : 0,
		       cJSON_IsNumber(b) ? b->valuedouble : 0);
	} else if (tag->valueint == 1 || tag->valueint == 2) {
		restrict_projects(t, cJSON_GetArrayItem(j, 1), tag->valueint == 2);
	} else if (tag->valueint == 3) {
		t->user_bound = true;
	} else if (tag->valueint == 4) {
		t->oidc = true;
	} else {
		t->unknown++;
	}
	cJSON_Delete(j);
}

/* The macaroon: the root's fields, the caveats, the signature. */
static int parse(struct reader *r, struct pypi_token_info *t, char *errbuf, size_t errlen)
{
	const unsigned char *data = NULL, *id = NULL;
	size_t len = 0, idlen = 0;
	uint64_t type;
	bool root = true;

	if (r->p == r->end || *r->p++ != 2) {
		pub__errf(errbuf, errlen,
			  "not a macaroon of format 2 (the version byte)");
		return -EBADMSG;
	}
	for (;;) {
		if (!field(r, &type, &data, &len)) {
			pub__errf(errbuf, errlen, "a macaroon field runs past the end");
			return -EBADMSG;
		}
		if (type == F_IDENTIFIER) {
			id = data;
			idlen = len;
		} else if (type == F_END) {
			if (id == NULL)
				break; /* the end of the caveats */
			if (!root)
				caveat(t, id, idlen);
			root = false;
			id = NULL;
		} else if (type == F_SIGNATURE) {
			break;
		}
	}
	if (root) {
		pub__errf(errbuf, errlen, "a macaroon without an identifier");
		return -EBADMSG;
	}
	return 0;
}

int pypi_token_inspect(const char *token, size_t len, struct pypi_token_info *out,
		       char *errbuf, size_t errlen)
{
	struct reader r;
	unsigned char *raw;
	size_t n = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	if (len < 5 || memcmp(token, "pypi-", 5) != 0) {
		pub__errf(errbuf, errlen, "not a PyPI API token (no \"pypi-\" prefix)");
		return -EINVAL;
	}
	if (len - 5 > TOKEN_MAX) {
		pub__errf(errbuf, errlen, "longer than %d characters after \"pypi-\"",
			  TOKEN_MAX);
		return -EBADMSG;
	}
	raw = b64url_decode(token + 5, len - 5, &n);
	if (raw == NULL) {
		pub__errf(errbuf, errlen, "the part after \"pypi-\" is not base64url");
		return -EBADMSG;
	}
	r.p = raw;
	r.end = raw + n;
	ret = parse(&r, out, errbuf, errlen);
	OPENSSL_cleanse(raw, n);
	free(raw);
	return ret;
}

bool pypi_token_allows(const struct pypi_token_info *t, const char *project)
{
	char norm[PYPI_TOKEN_NAME];
	size_t i;

	if (t->nprojects == 0)
		return true;
	if (pypi_name_normalize(project, norm, sizeof(norm)) < 0)
		return false;
	for (i = 0; i < t->nprojects; i++)
		if (strcmp(t->projects[i], norm) == 0)
			return true;
	return false;
}

int pypi_token_projects(const char *token, size_t len, char *out, size_t outlen)
{
	struct pypi_token_info t;
	char err[160];
	size_t i, used = 0;
	int r;

	if (outlen > 0)
		out[0] = '\0';
	if (len > 5 && len - 5 > PYPI_TOKEN_MAX && memcmp(token, "pypi-", 5) == 0)
		return AOS_ETOOBIG;
	r = pypi_token_inspect(token, len, &t, err, sizeof(err));
	if (r < 0)
		return AOS_EPARSE;
	for (i = 0; i < t.nprojects; i++) {
		const char *sep = used > 0 ? ", " : "";
		size_t need = strlen(sep) + strlen(t.projects[i]);

		if (used + need < outlen)
			used += (size_t)snprintf(out + used, outlen - used, "%s%s", sep,
						 t.projects[i]);
	}
	return (int)t.nprojects;
}
