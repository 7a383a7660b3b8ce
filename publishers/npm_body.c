/* npm_body.c - the streamed npm publish document.
 *
 * The document is prefix + base64(tarball) + suffix.  The prefix is the
 * whole publish JSON up to the opening quote of _attachments[...].data; the
 * tarball is read in large blocks, each a multiple of 3 bytes (so
 * EVP_EncodeBlock's output of every block but the last has no padding and
 * the pieces join into one base64 string; EVP_EncodeUpdate would insert
 * newlines), and encoded straight into curl's upload buffer: as many whole
 * groups as that buffer holds, up to RAW_BLOCK bytes per read.  Only when
 * curl offers less than one group's room (never with its default buffer)
 * does a group go through a small staging buffer.  The suffix closes the
 * strings and objects.  Its length is therefore known before the
 * first byte is sent: prefix + 4 * ceil(size / 3) + suffix.
 *
 * The tarball's URL that the document names (npm_tarball_url) is made here
 * too, so that npm.c calls this file and not the other way round.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "publishers/artifact.h"
#include "publishers/filesrc.h"
#include "publishers/npm.h"
#include "publishers/pub_err.h"
#include "publishers/pub_util.h"
#include "publishers/registry.h"

#define RAW_BLOCK (3 * 64 * 1024) /* bytes read at once: 192 KiB, a multiple of 3 */
#define STAGE_RAW 3		  /* one group, for a buffer under 5 bytes */

static const char suffix[] = "\"}}}";

enum state { ST_PREFIX, ST_DATA, ST_SUFFIX, ST_DONE };

struct npm_body {
	char *prefix;
	size_t prefix_len;
	struct filesrc *src;
	uint64_t length, produced;
	enum state state;
	size_t off;		 /* within the prefix or the suffix */
	size_t enc_len, enc_off; /* the staged group */
	char error[256];
	unsigned char enc[4 + 1];
	unsigned char *raw; /* RAW_BLOCK bytes */
};

/* Removes every member named key (cJSON keeps duplicates). */
static void delete_all(cJSON *obj, const char *key)
{
	while (cJSON_GetObjectItemCaseSensitive(obj, key) != NULL)
		cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
}

/* Builds the JSON prefix.  Returns 0, -EINVAL, PUB_EJSON or -ENOMEM. */
static int build_prefix(struct npm_body *b, const struct artifact *a,
			const struct npm_publish_opts *o, char *errbuf, size_t errlen)
{
	cJSON *root = NULL, *manifest, *dist = NULL, *item;
	const char *text = a->package_json, *tag = o->tag != NULL ? o->tag : "latest";
	size_t len = a->package_json_len, n;
	char *json = NULL, *id = NULL, *tarball = NULL, *key = NULL, *attachment = NULL;
	cJSON *keystr = NULL;
	int r = -ENOMEM;

	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		text += 3;
		len -= 3;
	}
	manifest = cJSON_ParseWithLength(text, len);
	if (!cJSON_IsObject(manifest)) {
		pub__errf(errbuf, errlen, "%s: package.json does not parse", a->filename);
		cJSON_Delete(manifest);
		return PUB_EJSON;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(manifest, "private"))) {
		pub__errf(errbuf, errlen, "%s: package.json has \"private\": true",
			  a->filename);
		r = -EINVAL;
		goto out;
	}
	n = strlen(a->name) + strlen(a->version) + 2;
	id = malloc(n);
	tarball = npm_tarball_url(o->registry, a->name, a->version);
	if (id == NULL || tarball == NULL)
		goto out;
	snprintf(id, n, "%s@%s", a->name, a->version);
	delete_all(manifest, "_id");
	delete_all(manifest, "dist");
	dist = cJSON_CreateObject();
	if (dist == NULL || cJSON_AddStringToObject(manifest, "_id", id) == NULL ||
	    cJSON_AddStringToObject(dist, "integrity", a->sha512_sri) == NULL ||
	    cJSON_AddStringToObject(dist, "shasum", a->sha1) == NULL ||
	    cJSON_AddStringToObject(dist, "tarball", tarball) == NULL ||
	    !cJSON_AddItemToObject(manifest, "dist", dist))
		goto out;
	dist = NULL; /* transferred */
	root = cJSON_CreateObject();
	if (root == NULL || cJSON_AddStringToObject(root, "_id", a->name) == NULL ||
	    cJSON_AddStringToObject(root, "name", a->name) == NULL)
		goto out;
	item = cJSON_GetObjectItemCaseSensitive(manifest, "description");
	if (cJSON_IsString(item) &&
	    cJSON_AddStringToObject(root, "description", item->valuestring) == NULL)
		goto out;
	item = cJSON_AddObjectToObject(root, "dist-tags");
	if (item == NULL || cJSON_AddStringToObject(item, tag, a->version) == NULL)
		goto out;
	item = cJSON_AddObjectToObject(root, "versions");
	if (item == NULL || !cJSON_AddItemToObject(item, a->version, manifest))
		goto out;
	manifest = NULL; /* transferred */
	if ((o->access != NULL ? cJSON_AddStringToObject(root, "access", o->access)
			       : cJSON_AddNullToObject(root, "access")) == NULL)
		goto out;
	json = cJSON_PrintUnformatted(root);
	n = strlen(a->name) + strlen(a->version) + 6;
	attachment = malloc(n);
	if (json == NULL || attachment == NULL)
		goto out;
	snprintf(attachment, n, "%s-%s.tgz", a->name, a->version);
	keystr = cJSON_CreateString(attachment);
	key = keystr != NULL ? cJSON_PrintUnformatted(keystr) : NULL;
	if (key == NULL)
		goto out;
	n = strlen(json) + strlen(key) + 128;
	b->prefix = malloc(n);
	if (b->prefix == NULL)
		goto out;
	json[strlen(json) - 1] = '\0'; /* drop the closing brace */
	b->prefix_len =
	    (size_t)snprintf(b->prefix, n,
			     "%s,\"_attachments\":{%s:{\"content_type\":"
			     "\"application/octet-stream\",\"length\":%llu,\"data\":\"",
			     json, key, (unsigned long long)a->size);
	r = 0;
out:
	if (r == -ENOMEM)
		pub__errf(errbuf, errlen, "%s: out of memory", a->filename);
	cJSON_Delete(manifest);
	cJSON_Delete(dist);
	cJSON_Delete(root);
	cJSON_Delete(keystr);
	cJSON_free(json);
	cJSON_free(key);
	free(attachment);
	free(id);
	free(tarball);
	return r;
}

int npm_body_new(const struct artifact *a, const struct npm_publish_opts *o,
		 struct npm_body **ret, char *errbuf, size_t errlen)
{
	struct npm_body *b;
	int r;

	if (a->kind != ARTIFACT_NPM || a->package_json == NULL) {
		pub__errf(errbuf, errlen, "%s: not an npm tarball", a->filename);
		return -EINVAL;
	}
	if (o->access != NULL && strcmp(o->access, "public") != 0 &&
	    strcmp(o->access, "restricted") != 0) {
		pub__errf(errbuf, errlen,
			  "npm access must be \"public\" or \"restricted\"");
		return -EINVAL;
	}
	if (o->access != NULL && strcmp(o->access, "restricted") == 0 &&
	    a->name[0] != '@') {
		pub__errf(errbuf, errlen,
			  "%s: cannot restrict access to unscoped package %s",
			  a->filename, a->name);
		return -EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->raw = malloc(RAW_BLOCK);
	r = -ENOMEM;
	if (b->raw == NULL)
		goto fail;
	r = build_prefix(b, a, o, errbuf, errlen);
	if (r < 0)
		goto fail;
	r = filesrc_open(a, &b->src, errbuf, errlen);
	if (r < 0)
		goto fail;
	b->length = b->prefix_len + 4 * ((a->size + 2) / 3) + (sizeof(suffix) - 1);
	*ret = b;
	return 0;
fail:
	npm_body_free(b);
	return r;
}

uint64_t npm_body_length(const struct npm_body *b)
{
	return b->length;
}

char *npm_body_shown(const struct npm_body *b, const char *placeholder)
{
	size_t n = b->prefix_len + strlen(placeholder) + sizeof(suffix);
	char *s = malloc(n);

	if (s != NULL)
		snprintf(s, n, "%.*s%s%s", (int)b->prefix_len, b->prefix, placeholder,
			 suffix);
	return s;
}

uint64_t npm_body_produced(const struct npm_body *b)
{
	return b->produced;
}

const char *npm_body_error(const struct npm_body *b)
{
	return b->error;
}

/* Copies from src[*off..len) into dst; returns the count. */
static size_t copy_from(char *dst, size_t room, const void *src, size_t len, size_t *off)
{
	size_t k = len - *off < room ? len - *off : room;

	memcpy(dst, (const char *)src + *off, k);
	*off += k;
	return k;
}

/* Reads the next block of the tarball, as many whole 3-byte groups as
 * room holds as base64 (EVP_EncodeBlock writes a NUL after its output:
 * one byte of room is kept for it), and encodes it into dst; with less
 * room than that, one group goes to the staging buffer instead.  Returns
 * the bytes written to dst, or -1 with b->error set. */
static ssize_t encode_block(struct npm_body *b, char *dst, size_t room)
{
	size_t want = room > 4 ? (room - 1) / 4 * 3 : STAGE_RAW;
	ssize_t n;

	if (want > RAW_BLOCK)
		want = RAW_BLOCK;
	n = filesrc_read(b->src, b->raw, want);
	if (n <= 0) {
		snprintf(b->error, sizeof(b->error), "%s",
			 n < 0 ? filesrc_error(b->src) : "tarball ended early");
		return -1;
	}
	if (room > 4)
		return EVP_EncodeBlock((unsigned char *)dst, b->raw, (int)n);
	b->enc_len = (size_t)EVP_EncodeBlock(b->enc, b->raw, (int)n);
	b->enc_off = 0;
	return 0;
}

size_t npm_body_read(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct npm_body *b = userdata;
	size_t room = size * nitems, out = 0;
	ssize_t n;

	while (out < room && b->state != ST_DONE) {
		switch (b->state) {
		case ST_PREFIX:
			out += copy_from(buf + out, room - out, b->prefix, b->prefix_len,
					 &b->off);
			if (b->off == b->prefix_len) {
				b->state = ST_DATA;
				b->off = 0;
			}
			break;
		case ST_DATA:
			if (b->enc_off < b->enc_len) {
				out += copy_from(buf + out, room - out, b->enc,
						 b->enc_len, &b->enc_off);
				break;
			}
			if (filesrc_offset(b->src) == filesrc_size(b->src)) {
				b->state = ST_SUFFIX;
				break;
			}
			n = encode_block(b, buf + out, room - out);
			if (n < 0)
				return CURL_READFUNC_ABORT;
			out += (size_t)n;
			break;
		case ST_SUFFIX:
			out += copy_from(buf + out, room - out, suffix,
					 sizeof(suffix) - 1, &b->off);
			if (b->off == sizeof(suffix) - 1)
				b->state = ST_DONE;
			break;
		case ST_DONE: break;
		}
	}
	b->produced += out;
	return out;
}

int npm_body_seek(void *userdata, curl_off_t offset, int origin)
{
	struct npm_body *b = userdata;

	if (offset != 0 || origin != SEEK_SET || filesrc_seek(b->src, 0, SEEK_SET) < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	b->state = ST_PREFIX;
	b->off = 0;
	b->enc_len = b->enc_off = 0;
	b->produced = 0;
	b->error[0] = '\0';
	return CURL_SEEKFUNC_OK;
}

void npm_body_free(struct npm_body *b)
{
	if (b == NULL)
		return;
	filesrc_free(b->src);
	free(b->prefix);
	free(b->raw);
	free(b);
}

char *npm_tarball_url(const char *registry, const char *name, const char *version)
{
	size_t n = 2 * strlen(name) + strlen(version) + 16;
	char *seg = malloc(n), *url;

	if (seg == NULL)
		return NULL;
	snprintf(seg, n, "%s/-/%s-%s.tgz", name, name, version);
	url = registry_join(registry, seg);
	free(seg);
	return url;
}
