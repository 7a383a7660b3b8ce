/* Unit tests for the digests of one pass on two threads (artifact_digest.c,
 * artifact_digest_par.c): the same digests as one thread, bit for bit,
 * whatever the size; failures of either thread; no thread left behind. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "publishers/artifact.h"
#include "publishers/artifact_internal.h"
#include "pub_fixture.h"

#define BLOCK (256 * 1024)	     /* artifact_read.c's READ_BLOCK */
#define BIG (5 * 1024 * 1024 + 4099) /* past the walk's split point (1 MiB) */

static const enum artifact_kind kinds[] = {ARTIFACT_WHEEL, ARTIFACT_NPM};

/* The threads of this process now. */
static int threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The thread count once it is want: a joined thread leaves
 * /proc/self/task a moment after pthread_join() returns (the kernel reaps
 * it after waking the joiner), so a count taken at once may still see
 * it.  Waits up to 10 s for want, then returns what is there. */
static int threads_settled(int want)
{
	struct timespec ms = {0, 1000000};
	int i, n = threads();

	for (i = 0; i < 10000 && n != want; i++) {
		nanosleep(&ms, NULL);
		n = threads();
	}
	return n;
}

static int base_threads; /* before any test: the process's own */

static void assert_same(const struct artifact *a, const struct artifact *b)
{
	assert_string_equal(a->sha256, b->sha256);
	assert_string_equal(a->blake2_256, b->blake2_256);
	assert_string_equal(a->sha512_sri, b->sha512_sri);
	assert_string_equal(a->sha1, b->sha1);
	assert_int_equal(a->crc32c, b->crc32c);
}

/* The digests of data on one thread, in one update. */
static void one_thread(enum artifact_kind kind, const char *data, size_t len,
		       struct artifact *out)
{
	struct artifact_digests d;

	assert_int_equal(artifact__digests_init(&d, kind), 0);
	assert_int_equal(artifact__digests_update(&d, data, len), 0);
	assert_int_equal(artifact__digests_final(&d, out), 0);
	assert_null(d.helper);
	artifact__digests_free(&d);
}

/* The digests of data split from the first byte, fed as the walk feeds
 * them: BLOCK bytes at a time through two buffers taken in turn (nbuf 2),
 * or through one buffer reused after a wait (nbuf 1). */
static void two_threads(enum artifact_kind kind, const char *data, size_t len, int nbuf,
			struct artifact *out)
{
	static char buf[2][BLOCK];
	struct artifact_digests d;
	size_t off, n;
	int base = threads_settled(base_threads), cur = 0;

	assert_int_equal(artifact__digests_init(&d, kind), 0);
	assert_int_equal(artifact__digests_split(&d), 0);
	assert_non_null(d.helper);
	assert_int_equal(threads(), base + 1);
	for (off = 0; off < len; off += n) {
		n = len - off < BLOCK ? len - off : BLOCK;
		if (nbuf == 1)
			assert_int_equal(artifact__digests_wait(&d), 0);
		memcpy(buf[cur], data + off, n);
		assert_int_equal(artifact__digests_update(&d, buf[cur], n), 0);
		cur = (cur + 1) % nbuf;
	}
	assert_int_equal(artifact__digests_final(&d, out), 0);
	assert_null(d.helper);
	assert_int_equal(threads_settled(base), base);
	artifact__digests_free(&d);
}

/* Every size around a block, both kinds, both ways of feeding: the same
 * digests as one thread.  The data differs from block to block, so a
 * block skipped, hashed twice or out of order changes them. */
static void test_same_digests(void **state)
{
	const size_t sizes[] = {0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 4097};
	size_t max = 3 * BLOCK + 4097, i, k;
	char *data = malloc(max);
	struct artifact one, two;
	int nbuf;

	(void)state;
	assert_non_null(data);
	fx_fill(data, max, 14);
	assert_memory_not_equal(data, data + BLOCK, BLOCK);
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			for (nbuf = 1; nbuf <= 2; nbuf++) {
				memset(&one, 0, sizeof(one));
				memset(&two, 0, sizeof(two));
				one_thread(kinds[k], data, sizes[i], &one);
				two_threads(kinds[k], data, sizes[i], nbuf, &two);
				assert_same(&one, &two);
			}
		}
	}
	free(data);
}

/* The context an injected failure hits, and after how many updates. */
static EVP_MD_CTX *fail_ctx;
static int fail_after;

/* The context of the digest d's helper runs. */
static EVP_MD_CTX *helper_ctx(const struct artifact_digests *d)
{
	int i;

	for (i = 0; i < DG_COUNT; i++) {
		if ((d->split & (1u << i)) != 0)
			return d->ctx[i];
	}
	fail();
	return NULL;
}

static int failing_update(EVP_MD_CTX *ctx, const void *p, size_t n)
{
	if (ctx == fail_ctx && fail_after-- <= 0)
		return 0;
	return EVP_DigestUpdate(ctx, p, n);
}

/* Starts split digests of kind whose helper's digest fails after `after`
 * blocks. */
static void start_failing(struct artifact_digests *d, enum artifact_kind kind, int after)
{
	assert_int_equal(artifact__digests_init(d, kind), 0);
	d->md_update = failing_update;
	fail_ctx = helper_ctx(d);
	fail_after = after;
	assert_int_equal(artifact__digests_split(d), 0);
}

/* Feeds nblocks blocks of data to d through two buffers; returns the index
 * of the first update that failed, or nblocks. */
static int feed(struct artifact_digests *d, const char *data, int nblocks)
{
	static char buf[2][BLOCK];
	int i;

	for (i = 0; i < nblocks; i++) {
		memcpy(buf[i % 2], data + (size_t)i * BLOCK, BLOCK);
		if (artifact__digests_update(d, buf[i % 2], BLOCK) < 0)
			return i;
	}
	return nblocks;
}

/* The helper's digest fails on its third block: the caller hears it at
 * the update after (the helper hashes block i while update i + 1 waits),
 * later updates fail too, and the thread is gone after the free. */
static void test_helper_digest_fails(void **state)
{
	char *data = malloc(6 * BLOCK);
	struct artifact_digests d;
	struct artifact a;
	int base = threads_settled(base_threads);
	size_t k;

	(void)state;
	assert_non_null(data);
	fx_fill(data, 6 * BLOCK, 3);
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		start_failing(&d, kinds[k], 2);
		assert_int_equal(feed(&d, data, 6), 3);
		assert_int_equal(artifact__digests_update(&d, data, 1), -EIO);
		assert_int_equal(artifact__digests_final(&d, &a), -EIO);
		artifact__digests_free(&d);
		assert_int_equal(threads_settled(base), base);
		/* Failing on the last block: the final says so. */
		start_failing(&d, kinds[k], 5);
		assert_int_equal(feed(&d, data, 6), 6);
		assert_int_equal(artifact__digests_final(&d, &a), -EIO);
		artifact__digests_free(&d);
		assert_int_equal(threads_settled(base), base);
	}
	free(data);
}

/* The caller's own digest fails while the helper holds a block: the free
 * waits for the helper and joins it. */
static void test_caller_digest_fails(void **state)
{
	char *data = malloc(6 * BLOCK);
	struct artifact_digests d;
	int base = threads_settled(base_threads);

	(void)state;
	assert_non_null(data);
	fx_fill(data, 6 * BLOCK, 4);
	assert_int_equal(artifact__digests_init(&d, ARTIFACT_NPM), 0);
	d.md_update = failing_update;
	fail_ctx = d.ctx[DG_SHA1];
	fail_after = 2;
	assert_int_equal(artifact__digests_split(&d), 0);
	assert_int_equal(feed(&d, data, 6), 2);
	artifact__digests_free(&d);
	assert_int_equal(threads_settled(base), base);
	free(data);
}

/* A source over a file that fails with -EIO once fail_at bytes are read
 * (0: never), and notes the most threads it saw (the walk reads on the
 * caller's thread, so a split pass shows one more). */
struct counting_src {
	FILE *f;
	uint64_t off, fail_at;
	int max_threads;
};

static ssize_t counting_read(void *data, void *buf, size_t n)
{
	struct counting_src *s = data;
	size_t k;
	int t = threads();

	if (t > s->max_threads)
		s->max_threads = t;
	if (s->fail_at != 0 && s->off >= s->fail_at)
		return -EIO;
	k = fread(buf, 1, n, s->f);
	s->off += k;
	return (ssize_t)k;
}

static const char *const names[] = {"aos_sdk-0.1.0-py3-none-any.whl",
				    "agenticverz-aos-sdk-0.1.0.tgz"};

/* A wheel or npm tarball (kinds[k]) holding len random bytes. */
static void write_artifact(size_t k, size_t len)
{
	char *big = malloc(len);
	struct fx_member m[] = {
	    {"package/package.json",
	     "{\"name\": \"@agenticverz/aos-sdk\", \"version\": \"0.1.0\"}", 0, 0, NULL},
	    {"package/big.bin", big, len, 0, NULL},
	};

	assert_non_null(big);
	fx_fill(big, len, (unsigned)(len + k));
	if (kinds[k] == ARTIFACT_WHEEL) {
		m[0].path = "aos_sdk-0.1.0.dist-info/METADATA";
		m[0].data = "Metadata-Version: 2.1\nName: aos-sdk\nVersion: 0.1.0\n";
	}
	fx_write_archive(names[k], kinds[k] == ARTIFACT_WHEEL ? FX_ZIP : FX_TGZ, m, 2);
	free(big);
}

/* Inspects names[k] through a counting source; returns the result. */
static int inspect(size_t k, struct counting_src *s, struct artifact **ret)
{
	struct artifact_source src = {.read = counting_read, .data = s};
	char errbuf[512] = "";
	int r;

	s->f = fopen(fx_path(names[k]), "rb");
	assert_non_null(s->f);
	s->max_threads = 0;
	r = artifact_inspect_source(fx_path(names[k]), &src, NULL, ret, errbuf,
				    sizeof(errbuf));
	fclose(s->f);
	if (r < 0)
		assert_non_null(strstr(errbuf, names[k]));
	if (r == -EIO)
		assert_non_null(strstr(errbuf, "read failed"));
	return r;
}

/* The walk splits a big file (and only a big one): its digests are the
 * same as one thread's over the whole file. */
static void test_walk_split(void **state)
{
	struct counting_src s = {0};
	struct artifact *a, one;
	int base = threads_settled(base_threads);
	size_t k, len;
	char *whole;

	(void)state;
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		write_artifact(k, BIG);
		s = (struct counting_src){0};
		assert_int_equal(inspect(k, &s, &a), 0);
		assert_int_equal(s.max_threads, base + 1);
		/* The reference: the whole file in one update on one thread. */
		whole = fx_read_file(names[k], &len);
		assert_int_equal(a->size, len);
		memset(&one, 0, sizeof(one));
		one_thread(kinds[k], whole, len, &one);
		assert_same(a, &one);
		free(whole);
		artifact_free(a);
		assert_int_equal(threads_settled(base), base);

		write_artifact(k, 900 * 1024); /* small: one thread */
		s = (struct counting_src){0};
		assert_int_equal(inspect(k, &s, &a), 0);
		assert_int_equal(s.max_threads, base);
		artifact_free(a);
	}
}

/* A read fails mid-file while the helper runs: the pass fails with the
 * read's error, nothing leaks (ASan) and no thread is left. */
static void test_read_fails_mid_file(void **state)
{
	struct counting_src s = {0};
	struct artifact *a = NULL;
	int base = threads_settled(base_threads);
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		write_artifact(k, BIG);
		s = (struct counting_src){.fail_at = 3 * 1024 * 1024};
		assert_int_equal(inspect(k, &s, &a), -EIO);
		assert_null(a);
		assert_int_equal(s.max_threads, base + 1);
		assert_int_equal(threads_settled(base), base);
	}
}

static void *nothing(void *arg)
{
	return arg;
}

int main(void)
{
	pthread_t t;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_digests),
	    cmocka_unit_test(test_helper_digest_fails),
	    cmocka_unit_test(test_caller_digest_fails),
	    cmocka_unit_test(test_walk_split),
	    cmocka_unit_test(test_read_fails_mid_file),
	};

	/* A sanitizer's runtime starts a thread of its own with the first
	 * thread: before the tests count theirs. */
	if (pthread_create(&t, NULL, nothing, NULL) != 0 || pthread_join(t, NULL) != 0)
		return 1;
	base_threads = threads();
	return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
