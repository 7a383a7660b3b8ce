/* fuzz_util.h - helpers the libFuzzer harnesses share (header only).
 *
 * Each harness is one executable, so these are static: a harness uses what
 * it needs.  A harness stops on a broken invariant with fz_die(), which
 * names the target and the invariant on stderr and aborts (libFuzzer then
 * writes the input as <prefix>crash-<sha1>).
 */
#ifndef AOS_FUZZ_UTIL_H
#define AOS_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "publishers/pub_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Set from $FUZZ_VERBOSE: harnesses then say what each input came to (for
 * checking seeds and replaying a crash). */
static bool fz_verbose;

__attribute__((unused)) static void fz_init(void)
{
	fz_verbose = getenv("FUZZ_VERBOSE") != NULL;
}

__attribute__((noreturn, unused)) static void fz_die(const char *target, const char *what)
{
	fprintf(stderr, "%s: %s\n", target, what);
	abort();
}

/* An exact-size copy of p[0..n) with no terminator, so that reading past
 * the end is caught by ASan (at least one byte is allocated). */
__attribute__((unused)) static char *fz_copy(const void *p, size_t n)
{
	char *c = malloc(n ? n : 1);

	if (c == NULL)
		abort();
	memcpy(c, p, n);
	return c;
}

/* A NUL-terminated copy of p[0..n). */
__attribute__((unused)) static char *fz_strndup(const void *p, size_t n)
{
	char *c = malloc(n + 1);

	if (c == NULL)
		abort();
	memcpy(c, p, n);
	c[n] = '\0';
	return c;
}

/* True if s holds no control characters (no line breaks or terminal
 * escapes for a log line or a client's terminal). */
__attribute__((unused)) static bool fz_no_controls(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* As fz_no_controls, and valid UTF-8: what pub__quote makes of untrusted
 * text. */
__attribute__((unused)) static bool fz_clean_text(const char *s)
{
	return fz_no_controls(s) && pub__utf8_valid(s, strlen(s), NULL);
}

/* Splits off the first line of *p (up to '\n', which is dropped): returns
 * its length and advances *p and *n past it.  Without a '\n' the whole
 * rest is the line. */
__attribute__((unused)) static size_t fz_line(const uint8_t **p, size_t *n,
					      const uint8_t **ret)
{
	const uint8_t *nl = memchr(*p, '\n', *n);
	size_t len = nl != NULL ? (size_t)(nl - *p) : *n;

	*ret = *p;
	*p += len + (nl != NULL);
	*n -= len + (nl != NULL);
	return len;
}

#endif
