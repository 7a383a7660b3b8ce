/* fuzz_vault.c - libFuzzer target for Vault's answers: one body goes
 * through every reader the session uses, as the session would call it:
 * vault_check_status() with the status the first byte picks, then
 * vault_parse_auth() (login with a token, renew-self without),
 * vault_parse_lookup(), vault_parse_kv_meta(), vault_parse_kv_data() for
 * the keys of a typical configuration followed by store_update() of what it
 * read (as apply_data does), vault_parse_wrap_lookup() followed by
 * vault_check_creation_path(), and vault_parse_unwrap_secret_id().
 *
 * Input layout:
 *   byte 0   the HTTP status, from a table (low 4 bits): 200 204 400 401 403
 *            404 412 429 500 503 307 0 201 502 302 308; bits 4-5: the
 *            redirects already followed for this request.
 *   byte 1.. the body, passed without a terminator (the readers take a
 *            length), so reading past it is caught.  For a redirect status
 *            its first line is also the Location, which vault_redirect_next
 *            must follow only within the configured Vault origin.
 *
 * Besides the sanitizers, the harness aborts when: a reader fails without
 * a negative code and a message; a reader's code or message changes when
 * every string value of the answer is replaced by another of the same
 * length (the "twin": a message must quote no token or secret value, as it
 * goes to the log; for vault_check_status the "errors" texts are kept,
 * since quoting them is its job); a 2xx status is refused or another
 * accepted; a secret read is not the answer's string; a TTL or version read
 * is negative; applying the same KV values twice changes the store the
 * second time; a redirect is followed to another scheme, host or port than
 * the configured address's (as libcurl parses them), or after
 * VAULT_MAX_REDIRECTS, or refused without a message free of control
 * characters.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "common/err.h"
#include "tests/fuzz/fuzz_util.h"
#include "vault/store.h"
#include "vault/vault.h"

#define TARGET "fuzz_vault"
#define NKEYS 4

static const long statuses[16] = {200, 204, 400, 401, 403, 404, 412, 429,
				  500, 503, 307, 0,   201, 502, 302, 308};
static const struct vault_conn conn = {.address = "https://Vault.example.test:8200"};
static const char request_url[] = "https://vault.example.test:8200/v1/secret/data/x";
static const char *const keys[NKEYS] = {"PYPI_API_TOKEN", "NPM_TOKEN",
					"TEST_PYPI_API_TOKEN", "GITHUB_WEBHOOK_SECRET"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_init();
	return 0;
}

static void die(const char *what)
{
	fz_die(TARGET, what);
}

/* The document with every string value changed but not its length (nor
 * its emptiness), the values in a top-level "errors" array kept when
 * keep_errors is set.  A reader's outcome and message must not differ
 * between a body and its twin: that is how the harness knows a message
 * quotes no value of the answer (tokens, secrets go to logs otherwise). */
static void scramble(cJSON *o, bool keep_errors)
{
	cJSON *c;

	if (cJSON_IsString(o)) {
		for (char *p = o->valuestring; *p != '\0'; p++)
			*p = *p == 'x' ? 'y' : 'x';
		return;
	}
	cJSON_ArrayForEach(c, o)
	{
		if (!(keep_errors && c->string != NULL &&
		      strcmp(c->string, "errors") == 0))
			scramble(c, false);
	}
}

static char *twin_of(const cJSON *doc, bool keep_errors)
{
	cJSON *t = cJSON_Duplicate(doc, true);
	char *text;

	if (t == NULL)
		die("cJSON_Duplicate");
	scramble(t, keep_errors);
	text = cJSON_PrintUnformatted(t);
	if (text == NULL)
		die("cJSON_Print");
	cJSON_Delete(t);
	return text;
}

/* A secret read from the answer is exactly a string of it. */
static void check_secret(const struct secret *s, const cJSON *item)
{
	if (s == NULL || !cJSON_IsString(item) ||
	    secret_len(s) != strlen(item->valuestring) ||
	    memcmp(secret_value(s), item->valuestring, secret_len(s)) != 0)
		die("a secret read is not the answer's string");
}

static const cJSON *at(const cJSON *o, const char *a, const char *b, const char *c)
{
	o = cJSON_GetObjectItemCaseSensitive(o, a);
	if (b != NULL)
		o = cJSON_GetObjectItemCaseSensitive(o, b);
	if (c != NULL)
		o = cJSON_GetObjectItemCaseSensitive(o, c);
	return o;
}

/* One reader of the session: reads body (len bytes; doc is what cJSON
 * makes of it, or NULL), checks what it read against doc, frees it, and
 * returns the reader's code with its message in err. */
typedef int reader_fn(const char *body, size_t len, const cJSON *doc, char *err,
		      size_t errlen);

static int login(const char *body, size_t len, const cJSON *doc, char *err, size_t errlen)
{
	struct vault_token_info ti = {0};
	int r = vault_parse_auth(body, len, true, &ti, err, errlen);

	if (r == 0) {
		check_secret(ti.token, at(doc, "auth", "client_token", NULL));
		if (ti.ttl_s < 0)
			die("negative lease_duration");
		secret_unref(ti.token);
	}
	return r;
}

static int renew(const char *body, size_t len, const cJSON *doc, char *err, size_t errlen)
{
	struct vault_token_info ti = {0};
	int r = vault_parse_auth(body, len, false, &ti, err, errlen);

	(void)doc;
	if (r == 0 && (ti.token != NULL || ti.ttl_s < 0))
		die("renew read a token, or a negative TTL");
	return r;
}

static int lookup(const char *body, size_t len, const cJSON *doc, char *err,
		  size_t errlen)
{
	struct vault_token_info ti = {0};
	int r = vault_parse_lookup(body, len, &ti, err, errlen);

	(void)doc;
	if (r == 0 && (ti.ttl_s < 0 || ti.creation_ttl_s < 0 || ti.token != NULL))
		die("negative TTL from lookup-self, or a token");
	return r;
}

static int kv_meta(const char *body, size_t len, const cJSON *doc, char *err,
		   size_t errlen)
{
	struct vault_kv_meta meta;
	int r = vault_parse_kv_meta(body, len, &meta, err, errlen);

	(void)doc;
	if (r == 0 &&
	    (meta.current_version < 0 ||
	     memchr(meta.created_time, '\0', sizeof(meta.created_time)) == NULL))
		die("bad KV metadata");
	return r;
}

/* KV data into a fresh store, twice: the second time changes nothing. */
static int kv_data(const char *body, size_t len, const cJSON *doc, char *err,
		   size_t errlen)
{
	struct vault_kv_value vals[NKEYS];
	struct secret *values[NKEYS];
	struct store_change ch[NKEYS];
	struct secret_store *st = NULL;
	int64_t version = -1;
	size_t i;
	int r, n;

	for (i = 0; i < NKEYS; i++)
		vals[i].key = keys[i];
	r = vault_parse_kv_data(body, len, vals, NKEYS, &version, err, errlen);
	if (r < 0) {
		for (i = 0; i < NKEYS; i++)
			if (vals[i].value != NULL)
				die("a value left allocated after a failed KV read");
		return r;
	}
	if (version < 0)
		die("negative KV version");
	for (i = 0; i < NKEYS; i++) {
		values[i] = vals[i].value;
		if (values[i] != NULL)
			check_secret(values[i], at(doc, "data", "data", keys[i]));
	}
	if (store_new(keys, NKEYS, &st) != 0)
		die("store_new");
	n = store_update(st, version, "2026-01-01T00:00:00Z", keys, values, NKEYS, ch,
			 NKEYS);
	if (n < 0 || n > NKEYS)
		die("store_update's count is out of range");
	if (store_update(st, version + 1, "2026-01-02T00:00:00Z", keys, values, NKEYS, ch,
			 NKEYS) != 0)
		die("the same values applied again changed the store");
	for (i = 0; i < NKEYS; i++)
		secret_unref(values[i]);
	store_free(st);
	return r;
}

static int wrap_lookup(const char *body, size_t len, const cJSON *doc, char *err,
		       size_t errlen)
{
	static const char want[] = "auth/approle/role/r/secret-id";
	char path[256];
	int r = vault_parse_wrap_lookup(body, len, path, sizeof(path), err, errlen), c;

	(void)doc;
	if (r < 0)
		return r;
	if (memchr(path, '\0', sizeof(path)) == NULL)
		die("creation path not terminated");
	c = vault_check_creation_path(path, NULL, "approle");
	if (c != 0 && c != AOS_EWRAP)
		die("vault_check_creation_path returned another code");
	if (c == 0 && strncmp(path, "auth/approle/role/", 18) != 0)
		die("a creation path outside the AppRole mount was accepted");
	if (vault_check_creation_path(path, want, "approle") == 0 &&
	    strcmp(path, want) != 0)
		die("an expected creation path matched another");
	return r;
}

static int unwrap(const char *body, size_t len, const cJSON *doc, char *err,
		  size_t errlen)
{
	struct secret *sid = NULL;
	int r = vault_parse_unwrap_secret_id(body, len, &sid, err, errlen);

	if (r == 0) {
		check_secret(sid, at(doc, "data", "secret_id", NULL));
		secret_unref(sid);
	}
	return r;
}

static long status;

static int check_status(const char *body, size_t len, const cJSON *doc, char *err,
			size_t errlen)
{
	int r = vault_check_status(status, body, len, err, errlen);

	(void)doc;
	if ((status >= 200 && status < 300) != (r == 0))
		die("vault_check_status misread a 2xx status");
	return r;
}

static const struct {
	const char *name;
	reader_fn *fn;
} readers[] = {
    {"vault_check_status", check_status},     {"vault_parse_auth (login)", login},
    {"vault_parse_auth (renew)", renew},      {"vault_parse_lookup", lookup},
    {"vault_parse_kv_meta", kv_meta},	      {"vault_parse_kv_data", kv_data},
    {"vault_parse_wrap_lookup", wrap_lookup}, {"vault_parse_unwrap_secret_id", unwrap},
};

/* Runs one reader on body and, when the body is a JSON object, on its
 * twin: same code, same message. */
static void run(size_t i, const char *body, size_t len, const cJSON *doc)
{
	char err[256], err2[256], *twin;
	const cJSON *tdoc;
	int r, r2;

	err[0] = '\0';
	r = readers[i].fn(body, len, doc, err, sizeof(err));
	if (fz_verbose)
		fprintf(stderr, "%s: %s: %d %s\n", TARGET, readers[i].name, r,
			r < 0 ? err : "");
	if (r > 0 || (r < 0 && err[0] == '\0')) {
		fprintf(stderr, "%s: %s returned %d\n", TARGET, readers[i].name, r);
		die("a refusal without a negative code and a message");
	}
	if (!cJSON_IsObject(doc))
		return;
	twin = twin_of(doc, readers[i].fn == check_status);
	tdoc = cJSON_Parse(twin);
	err2[0] = '\0';
	r2 = readers[i].fn(twin, strlen(twin), tdoc, err2, sizeof(err2));
	if (r2 != r || strcmp(err, err2) != 0) {
		fprintf(stderr, "%s: %s: %d \"%s\", with other strings %d \"%s\"\n",
			TARGET, readers[i].name, r, err, r2, err2);
		die("a reader's outcome or message depends on a string value of the answer");
	}
	cJSON_Delete((cJSON *)tdoc);
	cJSON_free(twin);
}

/* part of url, as libcurl parses it (lower case), or "" */
static void part(const char *url, CURLUPart what, char *out, size_t outlen)
{
	CURLU *u = curl_url();
	char *v = NULL;

	out[0] = '\0';
	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, what, &v, CURLU_DEFAULT_PORT) == CURLUE_OK)
		for (size_t i = 0; v[i] != '\0' && i + 1 < outlen; i++, out[i] = '\0')
			out[i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] + 32 : v[i]);
	curl_free(v);
	curl_url_cleanup(u);
}

/* A redirect answer's Location: followed only to the configured origin. */
static void redirect(const char *body, size_t len, unsigned hops)
{
	static const CURLUPart parts[] = {CURLUPART_SCHEME, CURLUPART_HOST,
					  CURLUPART_PORT};
	const char *nl = memchr(body, '\n', len);
	char *loc = fz_strndup(body, nl != NULL ? (size_t)(nl - body) : len);
	char next[2048], err[512], a[512], b[512];
	size_t i;
	int r;

	err[0] = '\0';
	r = vault_redirect_next(&conn, request_url, loc, hops, next, sizeof(next), err,
				sizeof(err));
	if (fz_verbose)
		fprintf(stderr, "%s: redirect to \"%s\": %d %s\n", TARGET, loc, r,
			r == 0 ? next : err);
	if (r == 0) {
		if (hops >= VAULT_MAX_REDIRECTS ||
		    memchr(next, '\0', sizeof(next)) == NULL)
			die("a redirect followed too often, or not terminated");
		for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
			part(next, parts[i], a, sizeof(a));
			part(conn.address, parts[i], b, sizeof(b));
			if (a[0] == '\0' || strcmp(a, b) != 0) {
				fprintf(stderr, "%s: followed %s\n", TARGET, next);
				die("a redirect followed to another origin");
			}
		}
	} else if (r != AOS_EREDIRECT || err[0] == '\0' || !fz_no_controls(err)) {
		/* Not fz_clean_text: the other origin is named as libcurl parsed
		 * it, and libcurl takes hosts of non-ASCII bytes (IDN, or not
		 * UTF-8 at all); it refuses control characters. */
		fprintf(stderr, "%s: %d %s\n", TARGET, r, err);
		die("a redirect refused without AOS_EREDIRECT and a clean message");
	}
	free(loc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *doc;
	char *body;
	size_t len, i;

	if (size < 1)
		return 0;
	status = statuses[data[0] & 15];
	len = size - 1;
	body = fz_copy(data + 1, len);
	if (vault_is_redirect(status))
		redirect(body, len, (data[0] >> 4) & 3);
	doc = cJSON_ParseWithLength(body, len); /* what the readers see */
	for (i = 0; i < sizeof(readers) / sizeof(readers[0]); i++)
		run(i, body, len, doc);
	cJSON_Delete(doc);
	free(body);
	return 0;
}
