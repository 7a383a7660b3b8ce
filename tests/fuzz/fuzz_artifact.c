/* fuzz_artifact.c - libFuzzer target for artifact inspection: a file's
 * bytes -> artifact_inspect() (libarchive over the file, the metadata
 * member, METADATA / PKG-INFO / package.json parsing, names, versions,
 * digests), then what the daemon prepares from an inspected artifact, on
 * a curl handle that never performs: the PyPI upload (pypi_upload_setup:
 * form, multipart, file part) and the simple index URL, or the npm publish
 * (npm_publish_setup) with its streamed document read to the end.
 *
 * Input layout:
 *   byte 0   flags.  Bit 0: "wrap": the rest is a list of members that the
 *            harness packs into the archive the file name asks for (zip for
 *            .whl and .zip, tar for .tar.gz and .tgz) with libarchive, so
 *            mutations reach the metadata parsers instead of dying in
 *            deflate; clear, the rest is the file itself.  Bits 1-2: the
 *            expected version (none, "0.1.0", "0.1.0rc1", "1.0.0-rc.1").
 *            Bit 3: any_npm_filename.  Bit 4: small bounds (256 bytes of
 *            metadata, 4 members, 4 KiB unpacked).  Bit 5 (wrap): stored,
 *            not compressed (zip "store", tar without gzip).
 *   line 1   the file name (no '/'), which sets the kind, as in the spool.
 *   rest     raw: the file.  wrap: members, each a line "<type><path>"
 *            (type 'f' file, 'd' folder, 'l' symlink, 'h' hard link; any
 *            other byte is a file whose path starts with it), then two
 *            bytes of big-endian length and that many bytes of content (a
 *            link's target).
 *
 * The file is written to a private folder under /dev/shm (or $TMPDIR) and
 * inspected through its path, exactly as the spool and the pipeline
 * collection do.  Besides the sanitizers, the harness aborts when: a failure
 * has no message, or one with control characters or invalid UTF-8 (messages
 * reach logs and terminals); an accepted artifact's size or digests are not
 * those of the file; its name or version would not pass the registry's own
 * rules or is not the expected one; the upload form lacks the artifact's
 * identity; the npm document is not JSON, its length is not what was
 * announced, or it names another package, version or digest, or its
 * attachment is not the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "common/hex.h"
#include "publishers/artifact.h"
#include "publishers/npm.h"
#include "publishers/pypi.h"
#include "publishers/pypi_meta.h"
#include "publishers/pypi_name.h"
#include "publishers/semver.h"
#include "tests/fuzz/fuzz_util.h"

#define TARGET "fuzz_artifact"
#define NAME_MAX_LEN 200
#define BODY_MAX (4u << 20) /* the npm document of a fuzz input stays far below */

static const char *const expected_versions[4] = {NULL, "0.1.0", "0.1.0rc1", "1.0.0-rc.1"};

static char dir[64];
static CURL *curl; /* set up as for an upload, never performed */

static void remove_dir(void)
{
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");

	(void)argc;
	(void)argv;
	fz_init();
	snprintf(dir, sizeof(dir), "%s/aos-fuzz-artifact-XXXXXX",
		 base != NULL && strlen(base) < 32 ? base : "/tmp");
	if (mkdtemp(dir) == NULL)
		fz_die(TARGET, "mkdtemp");
	atexit(remove_dir);
	curl = curl_easy_init();
	if (curl == NULL)
		fz_die(TARGET, "curl_easy_init");
	return 0;
}

static void die(const char *what)
{
	fz_die(TARGET, what);
}

/* ---- writing the file ---------------------------------------------------- */

static bool write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Packs the member list at p into an archive of the kind the name implies,
 * on fd.  Paths that libarchive refuses are skipped, as a broken writer
 * would leave them out. */
static void pack(int fd, const char *name, bool store, const uint8_t *p, size_t n)
{
	enum artifact_kind kind = artifact_kind_from_name(name);
	bool zip = kind == ARTIFACT_WHEEL || pub__endswith_nocase(name, ".zip");
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	const uint8_t *line;
	char path[1024];

	if (a == NULL || e == NULL)
		die("archive_write_new");
	if (zip) {
		archive_write_set_format_zip(a);
		if (store)
			archive_write_zip_set_compression_store(a);
	} else {
		archive_write_set_format_pax_restricted(a);
		if (!store)
			archive_write_add_filter_gzip(a);
	}
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open_fd(a, fd) != ARCHIVE_OK)
		die("archive_write_open_fd");
	while (n > 0) {
		size_t len = fz_line(&p, &n, &line), clen;
		char type = len > 0 ? (char)line[0] : 'f';

		if (strchr("fdlh", type) != NULL && len > 0) {
			line++;
			len--;
		} else {
			type = 'f';
		}
		clen = n >= 2 ? (size_t)p[0] << 8 | p[1] : 0;
		p += n >= 2 ? 2 : n;
		n -= n >= 2 ? 2 : n;
		if (clen > n)
			clen = n;
		if (len == 0 || len >= sizeof(path) || memchr(line, '\0', len) != NULL) {
			p += clen;
			n -= clen;
			continue;
		}
		memcpy(path, line, len);
		path[len] = '\0';
		archive_entry_clear(e);
		archive_entry_set_pathname(e, path);
		archive_entry_set_mtime(e, 1767225600, 0);
		archive_entry_set_perm(e, type == 'd' ? 0755 : 0644);
		if (type == 'f') {
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, (la_int64_t)clen);
		} else if (type == 'd') {
			archive_entry_set_filetype(e, AE_IFDIR);
		} else {
			char *target = fz_strndup(p, clen);

			archive_entry_set_filetype(e, AE_IFREG);
			if (type == 'l') {
				archive_entry_set_filetype(e, AE_IFLNK);
				archive_entry_set_symlink(e, target);
			} else {
				archive_entry_set_hardlink(e, target);
			}
			free(target);
		}
		if (archive_write_header(a, e) >= ARCHIVE_WARN && type == 'f')
			archive_write_data(a, p, clen);
		p += clen;
		n -= clen;
	}
	archive_write_close(a);
	archive_write_free(a);
	archive_entry_free(e);
}

/* ---- checking what came out ---------------------------------------------- */

static void digest(const char *md, const void *p, size_t n, unsigned char *out,
		   unsigned int *outlen)
{
	if (!EVP_Digest(p, n, out, outlen, EVP_get_digestbyname(md), NULL))
		die("EVP_Digest");
}

/* The file's own digests against what inspection recorded. */
static void check_digests(const struct artifact *a, const void *file, size_t n)
{
	unsigned char md[64];
	char hex[129], sri[ARTIFACT_SRI_LEN + 1];
	unsigned int len;

	digest("SHA256", file, n, md, &len);
	aos_hex(md, len, hex);
	if (strcmp(hex, a->sha256) != 0)
		die("sha256 is not the file's");
	if (a->kind != ARTIFACT_NPM)
		return;
	digest("SHA1", file, n, md, &len);
	aos_hex(md, len, hex);
	if (strcmp(hex, a->sha1) != 0)
		die("sha1 is not the file's");
	digest("SHA512", file, n, md, &len);
	memcpy(sri, "sha512-", 7);
	EVP_EncodeBlock((unsigned char *)sri + 7, md, (int)len);
	if (strcmp(sri, a->sha512_sri) != 0)
		die("sha512 SRI is not the file's");
}

static void check_form(const struct artifact *a)
{
	struct pypi_upload_opts o = {.url = "http://127.0.0.1:8080/"};
	struct pypi_upload *u = NULL;
	const struct pypi_form *f;
	char err[512], *url;
	const char *v;
	size_t i;

	if (pypi_upload_setup(curl, a, &o, &u, err, sizeof(err)) != 0)
		die("pypi_upload_setup refused an inspected artifact");
	f = pypi_upload_form(u);
	if ((v = pypi_form_get(f, "name")) == NULL || strcmp(v, a->name) != 0 ||
	    (v = pypi_form_get(f, "version")) == NULL || strcmp(v, a->version) != 0 ||
	    (v = pypi_form_get(f, "sha256_digest")) == NULL ||
	    strcmp(v, a->sha256) != 0 || (v = pypi_form_get(f, "filetype")) == NULL ||
	    strcmp(v, a->kind == ARTIFACT_WHEEL ? "bdist_wheel" : "sdist") != 0)
		die("the upload form does not carry the artifact's identity");
	for (i = 0; i < pypi_form_count(f); i++) {
		const struct pypi_field *fl = pypi_form_field(f, i);

		if (fl->name == NULL || fl->value == NULL ||
		    !pub__utf8_valid(fl->value, strlen(fl->value), NULL))
			die("an upload form field is not UTF-8 text");
	}
	pypi_upload_free(u);
	curl_easy_reset(curl);
	url = pypi_simple_url("http://127.0.0.1:8080/simple/", a->name);
	if (url == NULL || url[strlen(url) - 1] != '/' || strpbrk(url, " \"<>\\") != NULL)
		die("no simple index URL for an accepted name");
	free(url);
}

static const char *str_of(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* The document as a registry reads it. */
static void check_document(const struct artifact *a, const char *doc, size_t len,
			   const void *file, size_t n)
{
	cJSON *root = cJSON_ParseWithLength(doc, len), *vers, *atts, *v;
	const char *data;
	unsigned char *raw;
	size_t dlen;
	int got;

	if (root == NULL)
		die("the npm document is not JSON");
	vers = cJSON_GetObjectItemCaseSensitive(root, "versions");
	atts = cJSON_GetObjectItemCaseSensitive(root, "_attachments");
	v = cJSON_GetObjectItemCaseSensitive(vers, a->version);
	if (str_of(root, "name") == NULL || strcmp(str_of(root, "name"), a->name) != 0 ||
	    cJSON_GetArraySize(vers) != 1 || v == NULL || cJSON_GetArraySize(atts) != 1 ||
	    str_of(v, "name") == NULL || strcmp(str_of(v, "name"), a->name) != 0)
		die("the npm document names another package or version");
	v = cJSON_GetObjectItemCaseSensitive(v, "dist");
	if (str_of(v, "integrity") == NULL ||
	    strcmp(str_of(v, "integrity"), a->sha512_sri) != 0 ||
	    str_of(v, "shasum") == NULL || strcmp(str_of(v, "shasum"), a->sha1) != 0)
		die("the npm document's dist is not the tarball's");
	data = str_of(atts->child, "data");
	dlen = data != NULL ? strlen(data) : 1;
	if (dlen % 4 != 0)
		die("the attachment is not base64");
	raw = malloc(dlen / 4 * 3 + 1);
	got = raw != NULL ? EVP_DecodeBlock(raw, (const unsigned char *)data, (int)dlen)
			  : -1;
	if (got < 0 || (size_t)got < n || (size_t)got > n + 2 ||
	    memcmp(raw, file, n) != 0)
		die("the attachment is not the tarball");
	free(raw);
	cJSON_Delete(root);
}

static void check_npm_body(const struct artifact *a, const void *file, size_t n)
{
	struct npm_publish_opts o = {.registry = "http://127.0.0.1:4873/",
				     .tag = "latest"};
	struct npm_publish *pub = NULL;
	struct npm_body *b;
	char err[512], *doc;
	size_t len = 0, k;
	int r;

	err[0] = '\0';
	r = npm_publish_setup(curl, a, &o, &pub, err, sizeof(err));
	if (r == -EINVAL && err[0] != '\0' && fz_clean_text(err))
		return; /* "private": true */
	if (r != 0)
		die("npm_publish_setup refused an inspected tarball");
	b = npm_publish_body(pub);
	if (npm_body_length(b) > BODY_MAX)
		die("npm document longer than the harness expects");
	doc = malloc(npm_body_length(b) + 1);
	if (doc == NULL)
		die("malloc");
	/* Odd piece sizes, as curl's buffer might ask. */
	while ((k = npm_body_read(doc + len, 1, 1 + len % 7919, b)) > 0) {
		if (k == CURL_READFUNC_ABORT || len + k > npm_body_length(b))
			die("npm_body_read gave more than the announced length, or failed");
		len += k;
	}
	if (len != npm_body_length(b) || npm_body_error(b)[0] != '\0')
		die("npm document length is not the announced one");
	check_document(a, doc, len, file, n);
	free(doc);
	npm_publish_free(pub);
	curl_easy_reset(curl);
}

static void check_accepted(const struct artifact *a, const char *expected,
			   const void *file, size_t n)
{
	char norm[PYPI_NAME_MAX];

	if (a->size != n)
		die("size is not the file's");
	check_digests(a, file, n);
	if (a->name == NULL || a->version == NULL)
		die("accepted without a name or version");
	if (a->kind == ARTIFACT_NPM) {
		if (a->package_json == NULL || !semver_valid(a->version))
			die("npm artifact without package.json or a semantic version");
		if (expected != NULL && strcmp(expected, a->version) != 0)
			die("npm version is not the expected one");
		check_npm_body(a, file, n);
		return;
	}
	if (a->meta == NULL || a->pyversion == NULL || !pypi_name_valid(a->name) ||
	    pypi_version_normalize(a->version, norm, sizeof(norm)) < 0)
		die("PyPI artifact without metadata, or with an invalid name or version");
	if (strcmp(a->name, pypi_meta_name(a->meta)) != 0 ||
	    strcmp(a->version, pypi_meta_version(a->meta)) != 0)
		die("name or version is not the metadata's");
	if (expected != NULL && !pypi_version_equal(expected, a->version))
		die("PyPI version is not the expected one");
	check_form(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct artifact_options o = {0};
	struct artifact *a = NULL;
	const uint8_t *p = data + 1, *line;
	char path[sizeof(dir) + NAME_MAX_LEN + 2], name[NAME_MAX_LEN + 1], err[1024];
	size_t n, len;
	uint8_t flags;
	off_t fsize;
	int fd, r;

	if (size < 1)
		return 0;
	flags = data[0];
	n = size - 1;
	len = fz_line(&p, &n, &line);
	if (len == 0 || len > NAME_MAX_LEN || memchr(line, '/', len) != NULL ||
	    memchr(line, '\0', len) != NULL || (len <= 2 && line[0] == '.'))
		return 0;
	memcpy(name, line, len);
	name[len] = '\0';
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("cannot create the file");
	if (flags & 1)
		pack(fd, name, (flags & 32) != 0, p, n);
	else if (!write_all(fd, p, n))
		die("cannot write the file");
	fsize = lseek(fd, 0, SEEK_END);
	o.expected_version = expected_versions[(flags >> 1) & 3];
	o.any_npm_filename = (flags & 8) != 0;
	if (flags & 16) {
		o.max_metadata = 256;
		o.max_members = 4;
		o.max_unpacked = 4096;
	}
	err[0] = '\0';
	r = artifact_inspect(path, &o, &a, err, sizeof(err));
	if (fz_verbose)
		fprintf(stderr, "%s: %s %s\n", TARGET, r == 0 ? "accepted" : "refused",
			r == 0 ? a->name : err);
	if (r == 0) {
		char *file = malloc((size_t)fsize + 1);

		if (file == NULL || pread(fd, file, (size_t)fsize, 0) != fsize)
			die("cannot read the file back");
		check_accepted(a, o.expected_version, file, (size_t)fsize);
		free(file);
		artifact_free(a);
	} else if (r > 0 || err[0] == '\0') {
		die("a refusal without a negative code and a message");
	} else if (!fz_clean_text(err)) {
		fprintf(stderr, "message: %s\n", err);
		die("a refusal's message holds control characters or invalid UTF-8");
	}
	close(fd);
	unlink(path);
	return 0;
}
