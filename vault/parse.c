/* parse.c - reading Vault answers.  Values that are secrets go straight from
 * the parsed document into the secure heap; the agent installs cJSON hooks
 * that wipe every cJSON allocation on free. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "common/err.h"
#include "vault/vault.h"

static cJSON *parse_doc(const char *body, size_t len, char *errbuf, size_t errlen)
{
	cJSON *root = NULL;

	if (body != NULL && len > 0)
		root = cJSON_ParseWithLength(body, len);
	if (!cJSON_IsObject(root)) {
		snprintf(errbuf, errlen, "answer is not a JSON object (%zu bytes)", len);
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

/* Walks a dotted path of object keys. */
static cJSON *get_path(cJSON *root, const char *const *keys)
{
	cJSON *o = root;

	for (; *keys != NULL && o != NULL; keys++)
		o = cJSON_GetObjectItemCaseSensitive(o, *keys);
	return o;
}

static int get_int(cJSON *o, int64_t *ret)
{
	if (!cJSON_IsNumber(o) || o->valuedouble < 0 || o->valuedouble > 9e15)
		return -EINVAL;
	*ret = (int64_t)o->valuedouble;
	return 0;
}

static int secret_from_json(cJSON *o, struct secret **ret)
{
	if (!cJSON_IsString(o) || o->valuestring == NULL)
		return -EINVAL;
	return secret_new(o->valuestring, strlen(o->valuestring), ret);
}

int vault_parse_auth(const char *body, size_t len, bool want_token,
		     struct vault_token_info *ret, char *errbuf, size_t errlen)
{
	static const char *const p_auth[] = {"auth", NULL};
	struct vault_token_info info = {0};
	cJSON *root, *auth;
	int r = AOS_EPARSE;

	root = parse_doc(body, len, errbuf, errlen);
	if (root == NULL)
		return AOS_EPARSE;
	auth = get_path(root, p_auth);
	if (!cJSON_IsObject(auth)) {
		snprintf(errbuf, errlen, "answer has no \"auth\" object");
		goto out;
	}
	if (get_int(cJSON_GetObjectItemCaseSensitive(auth, "lease_duration"),
		    &info.ttl_s) < 0) {
		snprintf(errbuf, errlen, "auth.lease_duration missing or not a number");
		goto out;
	}
	info.renewable =
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(auth, "renewable"));
	if (want_token) {
		cJSON *t = cJSON_GetObjectItemCaseSensitive(auth, "client_token");

		if (!cJSON_IsString(t) || t->valuestring[0] == '\0') {
			snprintf(errbuf, errlen, "auth.client_token missing");
			goto out;
		}
		r = secret_from_json(t, &info.token);
		if (r < 0)
			goto out;
	}
	*ret = info;
	r = 0;
out:
	cJSON_Delete(root);
	return r;
}

int vault_parse_lookup(const char *body, size_t len, struct vault_token_info *ret,
		       char *errbuf, size_t errlen)
{
	struct vault_token_info info = {0};
	cJSON *root, *data;
	int r = AOS_EPARSE;

	root = parse_doc(body, len, errbuf, errlen);
	if (root == NULL)
		return AOS_EPARSE;
	data = cJSON_GetObjectItemCaseSensitive(root, "data");
	if (!cJSON_IsObject(data) ||
	    get_int(cJSON_GetObjectItemCaseSensitive(data, "ttl"), &info.ttl_s) < 0) {
		snprintf(errbuf, errlen, "lookup-self answer has no data.ttl");
		goto out;
	}
	if (get_int(cJSON_GetObjectItemCaseSensitive(data, "creation_ttl"),
		    &info.creation_ttl_s) < 0)
		info.creation_ttl_s = info.ttl_s;
	info.renewable =
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "renewable"));
	*ret = info;
	r = 0;
out:
	cJSON_Delete(root);
	return r;
}

int vault_parse_kv_meta(const char *body, size_t len, struct vault_kv_meta *ret,
			char *errbuf, size_t errlen)
{
	struct vault_kv_meta meta = {0};
	cJSON *root, *data, *versions, *v;
	char vkey[24];
	int r = AOS_EPARSE;

	root = parse_doc(body, len, errbuf, errlen);
	if (root == NULL)
		return AOS_EPARSE;
	data = cJSON_GetObjectItemCaseSensitive(root, "data");
	if (!cJSON_IsObject(data) ||
	    get_int(cJSON_GetObjectItemCaseSensitive(data, "current_version"),
		    &meta.current_version) < 0) {
		snprintf(errbuf, errlen, "metadata answer has no data.current_version");
		goto out;
	}
	versions = cJSON_GetObjectItemCaseSensitive(data, "versions");
	snprintf(vkey, sizeof(vkey), "%lld", (long long)meta.current_version);
	v = cJSON_GetObjectItemCaseSensitive(versions, vkey);
	if (cJSON_IsObject(v)) {
		cJSON *ct = cJSON_GetObjectItemCaseSensitive(v, "created_time");
		cJSON *dt = cJSON_GetObjectItemCaseSensitive(v, "deletion_time");

		if (cJSON_IsString(ct))
			snprintf(meta.created_time, sizeof(meta.created_time), "%s",
				 ct->valuestring);
		if ((cJSON_IsString(dt) && dt->valuestring[0] != '\0') ||
		    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "destroyed")))
			meta.deleted = true;
	}
	*ret = meta;
	r = 0;
out:
	cJSON_Delete(root);
	return r;
}

int vault_parse_kv_data(const char *body, size_t len, struct vault_kv_value *vals,
			size_t nvals, int64_t *ret_version, char *errbuf, size_t errlen)
{
	static const char *const p_ver[] = {"data", "metadata", "version", NULL};
	static const char *const p_data[] = {"data", "data", NULL};
	cJSON *root, *kv;
	int64_t version;
	size_t i;
	int r = AOS_EPARSE;

	for (i = 0; i < nvals; i++) {
		vals[i].value = NULL;
		vals[i].not_string = false;
	}
	root = parse_doc(body, len, errbuf, errlen);
	if (root == NULL)
		return AOS_EPARSE;
	kv = get_path(root, p_data);
	if (!cJSON_IsObject(kv)) {
		snprintf(errbuf, errlen,
			 "answer has no data.data object "
			 "(is the mount KV version 2, and the version not deleted?)");
		goto out;
	}
	if (get_int(get_path(root, p_ver), &version) < 0) {
		snprintf(errbuf, errlen, "answer has no data.metadata.version");
		goto out;
	}
	for (i = 0; i < nvals; i++) {
		cJSON *v = cJSON_GetObjectItemCaseSensitive(kv, vals[i].key);

		if (v == NULL)
			continue;
		if (!cJSON_IsString(v)) {
			vals[i].not_string = true;
			continue;
		}
		r = secret_from_json(v, &vals[i].value);
		if (r < 0)
			goto out;
	}
	*ret_version = version;
	r = 0;
out:
	if (r < 0) {
		for (i = 0; i < nvals; i++) {
			secret_unref(vals[i].value);
			vals[i].value = NULL;
		}
	}
	cJSON_Delete(root);
	return r;
}

int vault_parse_wrap_lookup(const char *body, size_t len, char *path, size_t pathlen,
			    char *errbuf, size_t errlen)
{
	static const char *const p_cp[] = {"data", "creation_path", NULL};
	cJSON *root, *cp;
	int r = AOS_EPARSE;

	root = parse_doc(body, len, errbuf, errlen);
	if (root == NULL)
		return AOS_EPARSE;
	cp = get_path(root, p_cp);
	if (!cJSON_IsString(cp) || strlen(cp->valuestring) >= pathlen) {
		snprintf(errbuf, errlen, "wrapping lookup has no data.creation_path");
		goto out;
	}
	snprintf(path, pathlen, "%s", cp->valuestring);
	r = 0;
out:
	cJSON_Delete(root);
	return r;
}

int vault_parse_unwrap_secret_id(const char *body, size_t len, struct secret **ret,
				 char *errbuf, size_t errlen)
{
	static const char *const p_sid[] = {"data", "secret_id", NULL};
	cJSON *root, *sid;
	int r = AOS_EPARSE;

	root = parse_doc(body, len, errbuf, errlen);
	if (root == NULL)
		return AOS_EPARSE;
	sid = get_path(root, p_sid);
	if (!cJSON_IsString(sid) || sid->valuestring[0] == '\0') {
		snprintf(errbuf, errlen, "unwrapped answer has no data.secret_id");
		goto out;
	}
	r = secret_from_json(sid, ret);
out:
	cJSON_Delete(root);
	return r;
}

int vault_check_creation_path(const char *path, const char *expected, const char *mount)
{
	char prefix[256];
	size_t plen, len;
	const char *rest, *slash;
	int n;

	if (expected != NULL && expected[0] != '\0')
		return strcmp(path, expected) == 0 ? 0 : AOS_EWRAP;
	n = snprintf(prefix, sizeof(prefix), "auth/%s/role/", mount);
	if (n < 0 || (size_t)n >= sizeof(prefix))
		return AOS_EWRAP;
	plen = (size_t)n;
	if (strncmp(path, prefix, plen) != 0)
		return AOS_EWRAP;
	rest = path + plen;
	slash = strchr(rest, '/');
	if (slash == NULL || slash == rest || strcmp(slash, "/secret-id") != 0)
		return AOS_EWRAP;
	len = (size_t)(slash - rest);
	return len > 0 ? 0 : AOS_EWRAP;
}

static int json_string_body(struct buf *out, const char *const *names,
			    const struct secret *const *vals, size_t n)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;
	size_t i;
	int r = -ENOMEM;

	if (o == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (cJSON_AddStringToObject(o, names[i], secret_value(vals[i])) == NULL)
			goto out;
	text = cJSON_PrintUnformatted(o);
	if (text == NULL)
		goto out;
	buf_reset(out);
	r = buf_puts(out, text);
out:
	if (text != NULL) {
		OPENSSL_cleanse(text, strlen(text));
		cJSON_free(text);
	}
	cJSON_Delete(o);
	return r;
}

int vault_login_body(const struct secret *role_id, const struct secret *secret_id,
		     struct buf *out)
{
	static const char *const names[] = {"role_id", "secret_id"};
	const struct secret *vals[] = {role_id, secret_id};

	return json_string_body(out, names, vals, 2);
}

int vault_token_body(const struct secret *token, struct buf *out)
{
	static const char *const names[] = {"token"};
	const struct secret *vals[] = {token};

	return json_string_body(out, names, vals, 1);
}
