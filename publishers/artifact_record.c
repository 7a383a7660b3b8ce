/* artifact_record.c - an inspected artifact kept as a record, so that an
 * upload (a retry, a restart, a second target) needs none of the file's
 * bytes before it sends them: the digests the spool computed while it
 * copied the file, and the metadata member, checked again from the record.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "publishers/artifact.h"
#include "publishers/pub_err.h"
#include "publishers/pub_util.h"
#include "artifact_internal.h"

#define RECORD_VERSION 1

/* The metadata text of a, and its length. */
static const char *metadata_of(const struct artifact *a, size_t *len)
{
	*len = a->kind == ARTIFACT_NPM ? a->package_json_len : a->metadata_len;
	return a->kind == ARTIFACT_NPM ? a->package_json : a->metadata;
}

char *artifact_record(const struct artifact *a, bool with_metadata)
{
	cJSON *o = cJSON_CreateObject();
	size_t len;
	const char *text = metadata_of(a, &len);
	char *out = NULL;

	/* A JSON string cannot carry a NUL: such metadata is inspected again. */
	if (text == NULL || a->member == NULL || memchr(text, '\0', len) != NULL)
		with_metadata = false;
	if (o == NULL || cJSON_AddNumberToObject(o, "v", RECORD_VERSION) == NULL ||
	    cJSON_AddStringToObject(o, "kind", artifact_kind_name(a->kind)) == NULL ||
	    cJSON_AddNumberToObject(o, "size", (double)a->size) == NULL ||
	    cJSON_AddStringToObject(o, "sha256", a->sha256) == NULL ||
	    cJSON_AddStringToObject(o, "blake2_256", a->blake2_256) == NULL ||
	    cJSON_AddStringToObject(o, "sha1", a->sha1) == NULL ||
	    cJSON_AddStringToObject(o, "sha512_sri", a->sha512_sri) == NULL ||
	    cJSON_AddNumberToObject(o, "crc32c", a->crc32c) == NULL)
		goto out;
	if (with_metadata && (cJSON_AddStringToObject(o, "member", a->member) == NULL ||
			      cJSON_AddStringToObject(o, "metadata", text) == NULL))
		goto out;
	out = cJSON_PrintUnformatted(o);
out:
	cJSON_Delete(o);
	return out;
}

/* Copies the string member key of o (at most len - 1 bytes, all of it
 * made of the characters in set, or any when set is NULL) into dst.
 * Returns true if it fits. */
static bool take(const cJSON *o, const char *key, const char *set, char *dst, size_t len)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
	size_t n = v != NULL ? strlen(v) : len;

	if (n >= len || (set != NULL && strspn(v, set) != n))
		return false;
	memcpy(dst, v, n + 1);
	return true;
}

/* The digests of the record o into a; true if each is well formed for
 * a's kind. */
static bool take_digests(const cJSON *o, struct artifact *a)
{
	const cJSON *crc = cJSON_GetObjectItemCaseSensitive(o, "crc32c");
	static const char hex[] = "0123456789abcdef";
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-";

	if (!take(o, "sha256", hex, a->sha256, sizeof(a->sha256)) ||
	    strlen(a->sha256) != 64 ||
	    !take(o, "blake2_256", hex, a->blake2_256, sizeof(a->blake2_256)) ||
	    !take(o, "sha1", hex, a->sha1, sizeof(a->sha1)) ||
	    !take(o, "sha512_sri", b64, a->sha512_sri, sizeof(a->sha512_sri)) ||
	    !cJSON_IsNumber(crc) || crc->valuedouble < 0 || crc->valuedouble > UINT32_MAX)
		return false;
	a->crc32c = (uint32_t)crc->valuedouble;
	if (a->kind != ARTIFACT_NPM)
		return true;
	return strlen(a->sha1) == 40 && strlen(a->sha512_sri) == ARTIFACT_SRI_LEN &&
	       strncmp(a->sha512_sri, "sha512-", 7) == 0;
}

/* The file at a->path: a regular file of the recorded size; its identity
 * into a.  Returns 0, PUB_ECHANGED or -errno with errbuf set. */
static int take_identity(struct artifact *a, uint64_t size, const char *what,
			 char *errbuf, size_t errlen)
{
	struct stat st;

	if (stat(a->path, &st) < 0) {
		int r = -errno;

		pub__errf(errbuf, errlen, "%s: %s", what, strerror(-r));
		return r;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != size) {
		pub__errf(errbuf, errlen, "%s: changed since it was spooled (%s)", what,
			  S_ISREG(st.st_mode) ? "size differs" : "not a regular file");
		return PUB_ECHANGED;
	}
	a->size = size;
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	a->mtime = st.st_mtim;
	return 0;
}

int artifact_from_record(const char *path, const char *record,
			 const struct artifact_options *opts, struct artifact **ret,
			 char *errbuf, size_t errlen)
{
	struct artifact__found found = {NULL, NULL, 0};
	struct artifact_options o;
	struct artifact *a = NULL;
	const cJSON *size, *member, *meta;
	const char *kind;
	char what[PUB_QUOTE_MAX];
	cJSON *rec = NULL;
	int r;

	r = artifact__begin_record(path, opts, &a, &o, what, errbuf, errlen);
	if (r < 0)
		return r;
	rec = cJSON_Parse(record);
	size = cJSON_GetObjectItemCaseSensitive(rec, "size");
	member = cJSON_GetObjectItemCaseSensitive(rec, "member");
	meta = cJSON_GetObjectItemCaseSensitive(rec, "metadata");
	kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "kind"));
	r = PUB_EJSON;
	if (!cJSON_IsObject(rec) || !cJSON_IsNumber(size) || size->valuedouble < 0 ||
	    kind == NULL || strcmp(kind, artifact_kind_name(a->kind)) != 0 ||
	    !take_digests(rec, a)) {
		pub__errf(errbuf, errlen, "%s: its spool record is not readable", what);
		goto out;
	}
	if (!cJSON_IsString(member) || !cJSON_IsString(meta)) {
		pub__errf(errbuf, errlen, "%s: its spool record holds no metadata", what);
		r = -ENOENT;
		goto out;
	}
	found.len = strlen(meta->valuestring);
	found.member = strdup(member->valuestring);
	found.data = strdup(meta->valuestring);
	r = -ENOMEM;
	if (found.member == NULL || found.data == NULL)
		goto out;
	r = take_identity(a, (uint64_t)size->valuedouble, what, errbuf, errlen);
	if (r == 0)
		r = artifact__check_metadata(a, &o, what, &found, errbuf, errlen);
out:
	cJSON_Delete(rec);
	free(found.member);
	free(found.data);
	if (r < 0) {
		artifact_free(a);
		return r;
	}
	*ret = a;
	return 0;
}
