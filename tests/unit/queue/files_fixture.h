/* files_fixture.h - what the tests of a job's files share
 * (test_queue_files.c, test_queue_enqfiles.c, test_queue_pgfiles.c): a
 * file that exists only as a function of the offset, read and checked
 * through the queue's source and sink callbacks, with the heap sampled at
 * each call; its SHA-256.  Header-only; include after queue_fixture.h. */
#ifndef AOS_TEST_FILES_FIXTURE_H
#define AOS_TEST_FILES_FIXTURE_H

#include <malloc.h>

#include <openssl/evp.h>

#include "common/hex.h"

#if defined(__SANITIZE_ADDRESS__)
#define FX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FX_ASAN 1
#endif
#endif
#ifdef FX_ASAN
/* ASan's runtime (gcc's and clang's); gcc ships no header for it */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#define CHUNK QUEUE_FILE_CHUNK

/* Bytes of the heap in use now (ASan's allocator or glibc's). */
static inline size_t heap_in_use(void)
{
#ifdef FX_ASAN
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
#endif
}

/* A file of size bytes that exists only as a function of the offset (no
 * copy of it anywhere), read in pieces of at most piece bytes; the heap is
 * sampled at each call and each piece's length checked. */
struct gen {
	int64_t size, off;
	size_t piece, biggest_ask;
	size_t heap_base, heap_top;
};

static inline unsigned char byte_at(int64_t off)
{
	uint64_t x = (uint64_t)off * 0x9E3779B97F4A7C15ULL;

	return (unsigned char)(x >> 56 ^ (uint64_t)off);
}

static inline void gen_sample(struct gen *g)
{
	size_t now = heap_in_use();

	if (now > g->heap_top)
		g->heap_top = now;
}

static inline int gen_read(void *data, void *buf, size_t len, size_t *ret_n)
{
	struct gen *g = data;
	unsigned char *p = buf;
	size_t i, n = len < g->piece ? len : g->piece;

	gen_sample(g);
	if (len > g->biggest_ask)
		g->biggest_ask = len;
	if ((int64_t)n > g->size - g->off)
		n = (size_t)(g->size - g->off);
	for (i = 0; i < n; i++)
		p[i] = byte_at(g->off + (int64_t)i);
	g->off += (int64_t)n;
	*ret_n = n;
	return 0;
}

/* Compares what file_get writes with the generator, as it comes. */
static inline int gen_check(void *data, const void *buf, size_t len)
{
	struct gen *g = data;
	const unsigned char *p = buf;
	size_t i;

	gen_sample(g);
	if (len > g->biggest_ask)
		g->biggest_ask = len;
	for (i = 0; i < len; i++)
		if (p[i] != byte_at(g->off + (int64_t)i))
			return -EILSEQ;
	g->off += (int64_t)len;
	return 0;
}

/* As gen_read, failing with -EIO once two chunks were read. */
static inline int gen_read_failing(void *data, void *buf, size_t len, size_t *ret_n)
{
	struct gen *g = data;

	if (g->off >= 2 * (int64_t)CHUNK)
		return -EIO;
	return gen_read(g, buf, len, ret_n);
}

static inline struct gen gen_new(int64_t size, size_t piece)
{
	struct gen g = {.size = size, .piece = piece};

	g.heap_base = g.heap_top = heap_in_use();
	return g;
}

/* The SHA-256 (hex) of the generator's first size bytes, computed here. */
static inline void gen_sha256(int64_t size, char out[65])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char b[4096], d[32];
	unsigned int dlen = 0;
	int64_t off = 0;
	size_t i, n;

	assert_non_null(md);
	assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	while (off < size) {
		n = size - off < (int64_t)sizeof(b) ? (size_t)(size - off) : sizeof(b);
		for (i = 0; i < n; i++)
			b[i] = byte_at(off + (int64_t)i);
		assert_int_equal(EVP_DigestUpdate(md, b, n), 1);
		off += (int64_t)n;
	}
	assert_int_equal(EVP_DigestFinal_ex(md, d, &dlen), 1);
	EVP_MD_CTX_free(md);
	aos_hex(d, 32, out);
}

/* Writes the generator's first size bytes to fd (at its offset). */
static inline void gen_to_fd(int fd, int64_t size)
{
	struct gen g = gen_new(size, 65536);
	unsigned char buf[65536];
	size_t n;

	for (;;) {
		assert_int_equal(gen_read(&g, buf, sizeof(buf), &n), 0);
		if (n == 0)
			break;
		assert_int_equal(queue_file_fd_write(&fd, buf, n), 0);
	}
}

#endif
