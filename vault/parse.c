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

/* Reads what an answer holds from its document: 0, or AOS_EPARSE with errbuf
 * saying what is missing, or another negative code. */
typedef int reader_fn(cJSON *root, void *arg, char *errbuf, size_t errlen);

/* Parses body as a JSON object and reads it with read. */
static int parse_with(const char *body, size_t len, reader_fn *read, void *arg,
		      char *errbuf, size_t errlen)
{
	cJSON *root = parse_doc(body, len, errbuf, errlen);
	int r;

	if (root == NULL)
		return AOS_EPARSE;
	r = read(root, arg, errbuf, errlen);
	cJSON_Delete(root);
	return r;
}

static int fail(char *errbuf, size_t errlen, const char *what)
{
	snprintf(errbuf, errlen, "%s", what);
	return AOS_EPARSE;
}

struct auth_arg {
	bool want_token;
	struct vault_token_info *ret;
};

static int read_auth(cJSON *root, void *arg, char *errbuf, size_t errlen)
{
	static const char *const p_auth[] = {"auth", NULL};
	struct auth_arg *a = arg;
	struct vault_token_info info = {0};
	cJSON *auth = get_path(root, p_auth);
	int r;

	if (!cJSON_IsObject(auth))
		return fail(errbuf, errlen, "answer has no \"auth\" object");
	if (get_int(cJSON_GetObjectItemCaseSensitive(auth, "lease_duration"),
		    &info.ttl_s) < 0)
		return fail(errbuf, errlen,
			    "auth.lease_duration missing or not a number");
	info.renewable =
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(auth, "renewable"));
	if (a->want_token) {
		cJSON *t = cJSON_GetObjectItemCaseSensitive(auth, "client_token");

		if (!cJSON_IsString(t) || t->valuestring[0] == '\0')
			return fail(errbuf, errlen, "auth.client_token missing");
		r = secret_from_json(t, &info.token);
		if (r < 0)
			return r;
	}
	*a->ret = info;
	return 0;
}

int vault_parse_auth(const char *body, size_t len, bool want_token,
		     struct vault_token_info *ret, char *errbuf, size_t errlen)
{
	struct auth_arg a = {want_token, ret};

	return parse_with(body, len, read_auth, &a, errbuf, errlen);
}

static int read_lookup(cJSON *root, void *arg, char *errbuf, size_t errlen)
{
	struct vault_token_info info = {0};
	cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");

	if (!cJSON_IsObject(data) ||
	    get_int(cJSON_GetObjectItemCaseSensitive(data, "ttl"), &info.ttl_s) < 0)
		return fail(errbuf, errlen, "lookup-self answer has no data.ttl");
	if (get_int(cJSON_GetObjectItemCaseSensitive(data, "creation_ttl"),
		    &info.creation_ttl_s) < 0)
		info.creation_ttl_s = info.ttl_s;
	info.renewable =
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "renewable"));
	*(struct vault_token_info *)arg = info;
	return 0;
}

int vault_parse_lookup(const char *body, size_t len, struct vault_token_info *ret,
		       char *errbuf, size_t errlen)
{
	return parse_with(body, len, read_lookup, ret, errbuf, errlen);
}

static int read_kv_meta(cJSON *root, void *arg, char *errbuf, size_t errlen)
{
	struct vault_kv_meta meta = {0};
	cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data"), *versions, *v;
	char vkey[24];

	if (!cJSON_IsObject(data) ||
	    get_int(cJSON_GetObjectItemCaseSensitive(data, "current_version"),
		    &meta.current_version) < 0)
		return fail(errbuf, errlen,
			    "metadata answer has no data.current_version");
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
	*(struct vault_kv_meta *)arg = meta;
	return 0;
}

int vault_parse_kv_meta(const char *body, size_t len, struct vault_kv_meta *ret,
			char *errbuf, size_t errlen)
{
	return parse_with(body, len, read_kv_meta, ret, errbuf, errlen);
}

struct kv_arg {
	struct vault_kv_value *vals;
	size_t nvals;
	int64_t *ret_version;
};

/* Reads each value asked for; on failure none is kept. */
static int read_kv_data(cJSON *root, void *arg, char *errbuf, size_t errlen)
{
	static const char *const p_ver[] = {"data", "metadata", "version", NULL};
	static const char *const p_data[] = {"data", "data", NULL};
	struct kv_arg *a = arg;
	cJSON *kv = get_path(root, p_data);
	int64_t version;
	size_t i;
	int r;

	if (!cJSON_IsObject(kv))
		return fail(errbuf, errlen,
			    "answer has no data.data object "
			    "(is the mount KV version 2, and the version not deleted?)");
	if (get_int(get_path(root, p_ver), &version) < 0)
		return fail(errbuf, errlen, "answer has no data.metadata.version");
	for (i = 0; i < a->nvals; i++) {
		cJSON *v = cJSON_GetObjectItemCaseSensitive(kv, a->vals[i].key);

		if (v == NULL)
			continue;
		if (!cJSON_IsString(v)) {
			a->vals[i].not_string = true;
			continue;
		}
		r = secret_from_json(v, &a->vals[i].value);
		if (r < 0)
			goto fail;
	}
	*a->ret_version = version;
	return 0;
fail:
	for (i = 0; i < a->nvals; i++) {
		secret_unref(a->vals[i].value);
		a->vals[i].value = NULL;
	}
	return r;
}

int vault_parse_kv_data(const char *body, size_t len, struct vault_kv_value *vals,
			size_t nvals, int64_t *ret_version, char *errbuf, size_t errlen)
{
	struct kv_arg a = {vals, nvals, ret_version};
	size_t i;

	for (i = 0; i < nvals; i++) {
		vals[i].value = NULL;
		vals[i].not_string = false;
	}
	return parse_with(body, len, read_kv_data, &a, errbuf, errlen);
}

struct path_arg {
	char *path;
	size_t pathlen;
};

static int read_wrap_lookup(cJSON *root, void *arg, char *errbuf, size_t errlen)
{
	static const char *const p_cp[] = {"data", "creation_path", NULL};
	struct path_arg *a = arg;
	cJSON *cp = get_path(root, p_cp);

	if (!cJSON_IsString(cp) || strlen(cp->valuestring) >= a->pathlen)
		return fail(errbuf, errlen, "wrapping lookup has no data.creation_path");
	snprintf(a->path, a->pathlen, "%s", cp->valuestring);
	return 0;
}

int vault_parse_wrap_lookup(const char *body, size_t len, char *path, size_t pathlen,
			    char *errbuf, size_t errlen)
{
	struct path_arg a = {path, pathlen};

	return parse_with(body, len, read_wrap_lookup, &a, errbuf, errlen);
}

static int read_unwrap(cJSON *root, void *arg, char *errbuf, size_t errlen)
{
	static const char *const p_sid[] = {"data", "secret_id", NULL};
	cJSON *sid = get_path(root, p_sid);

	if (!cJSON_IsString(sid) || sid->valuestring[0] == '\0')
		return fail(errbuf, errlen, "unwrapped answer has no data.secret_id");
	return secret_from_json(sid, arg);
}

int vault_parse_unwrap_secret_id(const char *body, size_t len, struct secret **ret,
				 char *errbuf, size_t errlen)
{
	return parse_with(body, len, read_unwrap, ret, errbuf, errlen);
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

/* Copies a non-empty string of printable ASCII shorter than outlen. */
static int copy_name(cJSON *o, char *out, size_t outlen)
{
	const char *v = cJSON_GetStringValue(o);
	size_t i, n;

	if (v == NULL || (n = strlen(v)) == 0 || n >= outlen)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (v[i] < 0x21 || v[i] > 0x7e)
			return -EINVAL;
	memcpy(out, v, n + 1);
	return 0;
}

/* The lease fields at the top of a creds or renew answer. */
static int read_lease(cJSON *root, struct vault_lease *ret, char *errbuf, size_t errlen)
{
	if (copy_name(cJSON_GetObjectItemCaseSensitive(root, "lease_id"), ret->id,
		      sizeof(ret->id)) < 0)
		return fail(errbuf, errlen,
			    "lease_id missing, empty, not printable or too long");
	if (get_int(cJSON_GetObjectItemCaseSensitive(root, "lease_duration"),
		    &ret->duration_s) < 0 ||
	    ret->duration_s == 0)
		return fail(errbuf, errlen, "lease_duration missing, 0 or not a number");
	ret->renewable =
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "renewable"));
	return 0;
}

static int read_db_creds(cJSON *root, void *arg, char *errbuf, size_t errlen)
{
	struct vault_db_creds c = {0};
	cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
	int r;

	if (!cJSON_IsObject(data))
		return fail(errbuf, errlen, "answer has no \"data\" object");
	if (copy_name(cJSON_GetObjectItemCaseSensitive(data, "username"), c.username,
		      sizeof(c.username)) < 0)
		return fail(errbuf, errlen,
			    "data.username missing, empty, not printable or too long");
	r = read_lease(root, &c.lease, errbuf, errlen);
	if (r < 0)
		return r;
	r = secret_from_json(cJSON_GetObjectItemCaseSensitive(data, "password"),
			     &c.password);
	if (r == -EINVAL || (r == 0 && secret_len(c.password) == 0)) {
		secret_unref(c.password);
		return fail(errbuf, errlen, "data.password missing or empty");
	}
	if (r < 0)
		return r;
	*(struct vault_db_creds *)arg = c;
	return 0;
}

int vault_parse_db_creds(const char *body, size_t len, struct vault_db_creds *ret,
			 char *errbuf, size_t errlen)
{
	return parse_with(body, len, read_db_creds, ret, errbuf, errlen);
}

static int read_renew(cJSON *root, void *arg, char *errbuf, size_t errlen)
{
	struct vault_lease l = {0};
	int r = read_lease(root, &l, errbuf, errlen);

	if (r == 0)
		*(struct vault_lease *)arg = l;
	return r;
}

int vault_parse_lease_renew(const char *body, size_t len, struct vault_lease *ret,
			    char *errbuf, size_t errlen)
{
	return parse_with(body, len, read_renew, ret, errbuf, errlen);
}

/* Prints o (and deletes it) into out, replacing what out held; the printed
 * copy is wiped (it may hold a secret).  Returns 0, -ENOMEM or AOS_ETOOBIG. */
static int print_body(cJSON *o, struct buf *out)
{
	char *text = cJSON_PrintUnformatted(o);
	int r = -ENOMEM;

	if (text != NULL) {
		buf_reset(out);
		r = buf_puts(out, text);
		OPENSSL_cleanse(text, strlen(text));
		cJSON_free(text);
	}
	cJSON_Delete(o);
	return r;
}

static int json_string_body(struct buf *out, const char *const *names,
			    const struct secret *const *vals, size_t n)
{
	cJSON *o = cJSON_CreateObject();
	size_t i;

	if (o == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (cJSON_AddStringToObject(o, names[i], secret_value(vals[i])) == NULL) {
			cJSON_Delete(o);
			return -ENOMEM;
		}
	}
	return print_body(o, out);
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

int vault_lease_renew_body(const char *lease_id, int64_t increment_s, struct buf *out)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return -ENOMEM;
	if (cJSON_AddStringToObject(o, "lease_id", lease_id) == NULL ||
	    cJSON_AddNumberToObject(o, "increment", (double)increment_s) == NULL) {
		cJSON_Delete(o);
		return -ENOMEM;
	}
	return print_body(o, out);
}
