/* Unit tests for the one-pass inspection (artifact_inspect_source: the
 * spool's copy loop as the source), the artifact record an upload uses
 * instead of reading the file again, and filesrc's check of the bytes sent
 * against the recorded SHA-256. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "publishers/artifact.h"
#include "publishers/crc32c.h"
#include "publishers/filesrc.h"
#include "publishers/pub_err.h"
#include "publishers/pypi_meta.h"
#include "pub_fixture.h"

#define WHEEL "aos_sdk-0.1.0-py3-none-any.whl"
#define TGZ "agenticverz-aos-sdk-0.1.0.tgz"
#define WHEEL_META                                                                       \
	"Metadata-Version: 2.1\nName: aos-sdk\nVersion: 0.1.0\nSummary: S\n\nBody\n"
#define PACKAGE_JSON "{\"name\": \"@agenticverz/aos-sdk\", \"version\": \"0.1.0\"}"
#define PAYLOAD (700 * 1024 + 5) /* several of the walk's read blocks */

static char errbuf[512];

/* A source handing out a file's bytes in odd-sized pieces, keeping a copy
 * of every byte it gave (as the spool's copy loop writes them). */
struct piece_source {
	int fd;
	size_t piece, given, fail_at;
	char *copy;
	size_t cap;
};

static ssize_t piece_read(void *data, void *buf, size_t n)
{
	struct piece_source *s = data;
	ssize_t k;

	if (s->fail_at != 0 && s->given >= s->fail_at)
		return -EIO;
	k = read(s->fd, buf, n < s->piece ? n : s->piece);
	if (k > 0) {
		assert_true(s->given + (size_t)k <= s->cap);
		memcpy(s->copy + s->given, buf, (size_t)k);
		s->given += (size_t)k;
	}
	return k < 0 ? -errno : k;
}

static void write_fixtures(void)
{
	char *big = malloc(PAYLOAD);
	const struct fx_member whl[] = {
	    {"aos_sdk/data.bin", big, PAYLOAD, 0, NULL},
	    {"aos_sdk-0.1.0.dist-info/METADATA", WHEEL_META, 0, 0, NULL},
	    {"aos_sdk-0.1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n", 0, 0, NULL},
	};
	const struct fx_member tgz[] = {
	    {"package/package.json", PACKAGE_JSON, 0, 0, NULL},
	    {"package/data.bin", big, PAYLOAD, 0, NULL},
	};

	assert_non_null(big);
	fx_fill(big, PAYLOAD, 7);
	fx_write_archive(WHEEL, FX_ZIP, whl, 3);
	fx_write_archive(TGZ, FX_TGZ, tgz, 2);
	free(big);
}

static struct artifact *inspect_in_pieces(const char *name, size_t piece, size_t fail_at,
					  int want)
{
	size_t len;
	char *file = fx_read_file(name, &len);
	struct piece_source s = {.piece = piece, .fail_at = fail_at, .cap = len};
	struct artifact_source src = {.read = piece_read, .data = &s};
	struct artifact *a = NULL;
	int r;

	s.copy = malloc(len);
	s.fd = open(fx_path(name), O_RDONLY);
	assert_true(s.fd >= 0 && s.copy != NULL);
	r = artifact_inspect_source(fx_path(name), &src, NULL, &a, errbuf,
				    sizeof(errbuf));
	if (r != want)
		fail_msg("%s: got %d, want %d: %s", name, r, want, errbuf);
	if (want == 0) {
		/* Every byte handed out once, in order: the copy is the file. */
		assert_int_equal(s.given, len);
		assert_memory_equal(s.copy, file, len);
		assert_int_equal(a->size, len);
	}
	close(s.fd);
	free(s.copy);
	free(file);
	return a;
}

/* One pass gives what a separate inspection of the file gives. */
static void test_source_pass_digests(void **state)
{
	static const char *const names[] = {WHEEL, TGZ};
	static const size_t pieces[] = {1000, 65536, 300000};
	struct artifact *ref, *a;
	size_t i, k;

	(void)state;
	write_fixtures();
	for (i = 0; i < 2; i++) {
		assert_int_equal(artifact_inspect(fx_path(names[i]), NULL, &ref, errbuf,
						  sizeof(errbuf)),
				 0);
		for (k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
			a = inspect_in_pieces(names[i], pieces[k], 0, 0);
			assert_string_equal(a->name, ref->name);
			assert_string_equal(a->version, ref->version);
			assert_string_equal(a->sha256, ref->sha256);
			assert_string_equal(a->blake2_256, ref->blake2_256);
			assert_int_equal(a->crc32c, ref->crc32c);
			assert_string_equal(a->sha1, ref->sha1);
			assert_string_equal(a->sha512_sri, ref->sha512_sri);
			assert_int_equal(a->crc32c, ref->crc32c);
			assert_int_equal(a->dev,
					 0); /* no identity: the source is not a file */
			artifact_free(a);
		}
		assert_int_equal(strlen(ref->sha256), 64);
		artifact_free(ref);
	}
}

/* A failed read stops the inspection with its error. */
static void test_source_error(void **state)
{
	(void)state;
	write_fixtures();
	assert_null(inspect_in_pieces(WHEEL, 65536, 300000, -EIO));
	assert_null(inspect_in_pieces(TGZ, 65536, 1, -EIO));
}

static struct artifact *from_record(const char *name, const char *rec,
				    const struct artifact_options *o, int want)
{
	struct artifact *a = NULL;
	int r = artifact_from_record(fx_path(name), rec, o, &a, errbuf, sizeof(errbuf));

	if (r != want)
		fail_msg("%s: got %d, want %d: %s", name, r, want, errbuf);
	assert_true((a != NULL) == (want == 0));
	return a;
}

/* The record gives the artifact back without its bytes: the same names,
 * digests and metadata. */
static void test_record_roundtrip(void **state)
{
	struct artifact_options o = {.expected_version = "0.1.0"};
	struct artifact *ref, *a;
	char *rec;

	(void)state;
	write_fixtures();
	assert_int_equal(
	    artifact_inspect(fx_path(WHEEL), NULL, &ref, errbuf, sizeof(errbuf)), 0);
	rec = artifact_record(ref, true);
	assert_non_null(rec);
	a = from_record(WHEEL, rec, &o, 0);
	assert_string_equal(a->name, "aos-sdk");
	assert_string_equal(a->pyversion, "py3");
	assert_string_equal(a->sha256, ref->sha256);
	assert_string_equal(a->blake2_256, ref->blake2_256);
	assert_int_equal(a->size, ref->size);
	assert_int_equal(a->ino, ref->ino);
	assert_string_equal(pypi_meta_get(a->meta, "Summary"), "S");
	assert_string_equal(pypi_meta_description(a->meta), "Body\n");
	artifact_free(a);
	o.expected_version = "0.2.0"; /* the same checks as an inspection */
	from_record(WHEEL, rec, &o, PUB_EVERSION);
	free(rec);
	artifact_free(ref);

	assert_int_equal(
	    artifact_inspect(fx_path(TGZ), NULL, &ref, errbuf, sizeof(errbuf)), 0);
	rec = artifact_record(ref, true);
	a = from_record(TGZ, rec, NULL, 0);
	assert_string_equal(a->name, "@agenticverz/aos-sdk");
	assert_string_equal(a->package_json, PACKAGE_JSON);
	assert_string_equal(a->sha1, ref->sha1);
	assert_string_equal(a->sha512_sri, ref->sha512_sri);
	artifact_free(a);
	free(rec);
	/* Without its metadata, the caller inspects the file instead. */
	rec = artifact_record(ref, false);
	from_record(TGZ, rec, NULL, -ENOENT);
	free(rec);
	artifact_free(ref);
}

static void test_record_refused(void **state)
{
	struct artifact *ref;
	char *rec, *p;

	(void)state;
	write_fixtures();
	assert_int_equal(
	    artifact_inspect(fx_path(TGZ), NULL, &ref, errbuf, sizeof(errbuf)), 0);
	rec = artifact_record(ref, true);
	from_record(TGZ, "{\"v\": 1", NULL, PUB_EJSON);
	from_record(WHEEL, rec, NULL, PUB_EJSON); /* an npm record for a wheel */
	p = strstr(rec, "\"sha1\":\"") + 8;
	*p = 'x'; /* not hex */
	from_record(TGZ, rec, NULL, PUB_EJSON);
	assert_non_null(strstr(errbuf, "spool record is not readable"));
	free(rec);
	/* A file of another size than recorded has changed. */
	rec = artifact_record(ref, true);
	fx_write_file(TGZ, "short", 5);
	from_record(TGZ, rec, NULL, PUB_ECHANGED);
	assert_non_null(strstr(errbuf, "size differs"));
	free(rec);
	artifact_free(ref);
}

/* Reads the whole file through a filesrc; returns the last result. */
static ssize_t read_through(struct filesrc *f)
{
	char buf[100000];
	ssize_t n;

	while ((n = filesrc_read(f, buf, sizeof(buf))) > 0)
		;
	return n;
}

/* The upload checks what it sends against the record: a byte
 * changed on disk (same size, and the artifact taken after the change so
 * the identity matches) fails the read as corrupt, again after a rewind. */
static void test_filesrc_verifies(void **state)
{
	struct artifact *ref, *a;
	struct filesrc *f;
	char *rec, *bytes;
	size_t len;

	(void)state;
	write_fixtures();
	assert_int_equal(
	    artifact_inspect(fx_path(WHEEL), NULL, &ref, errbuf, sizeof(errbuf)), 0);
	rec = artifact_record(ref, true);
	assert_int_equal(filesrc_open(ref, &f, errbuf, sizeof(errbuf)), 0);
	assert_int_equal(read_through(f), 0);
	assert_string_equal(filesrc_error(f), "");
	filesrc_free(f);

	bytes = fx_read_file(WHEEL, &len);
	bytes[len / 2] ^= 0x01;
	fx_write_file(WHEEL, bytes, len);
	a = from_record(WHEEL, rec, NULL, 0);
	assert_int_equal(filesrc_open(a, &f, errbuf, sizeof(errbuf)), 0);
	assert_int_equal(read_through(f), PUB_ECORRUPT);
	assert_non_null(strstr(filesrc_error(f), "the file is corrupt"));
	assert_int_equal(filesrc_seek(f, 0, SEEK_SET), 0);
	assert_int_equal(read_through(f), PUB_ECORRUPT);
	filesrc_free(f);
	artifact_free(a);
	free(bytes);
	free(rec);
	artifact_free(ref);
}

/* The check value of CRC-32C, and pieces continuing one another. */
static void test_crc32c(void **state)
{
	char buf[1000];
	uint32_t whole, c = 0;
	size_t i, k;

	(void)state;
	assert_int_equal(crc32c_update(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c_update(0, "", 0), 0);
	fx_fill(buf, sizeof(buf), 3);
	whole = crc32c_update(0, buf, sizeof(buf));
	for (i = 0; i < sizeof(buf); i += k) {
		k = i % 13 + 1 < sizeof(buf) - i ? i % 13 + 1 : sizeof(buf) - i;
		c = crc32c_update(c, buf + i, k);
	}
	assert_int_equal(c, whole);
	buf[500] ^= 4;
	assert_int_not_equal(crc32c_update(0, buf, sizeof(buf)), whole);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_source_pass_digests),
	    cmocka_unit_test(test_source_error),
	    cmocka_unit_test(test_record_roundtrip),
	    cmocka_unit_test(test_record_refused),
	    cmocka_unit_test(test_filesrc_verifies),
	    cmocka_unit_test(test_crc32c),
	};

	return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
