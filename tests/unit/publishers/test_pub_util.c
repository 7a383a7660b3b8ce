/* Unit tests for publishers/pub_util.c: message formatting, UTF-8
 * validation, quoting of untrusted text and the small string helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "publishers/pub_util.h"

static void test_errf(void **state)
{
	char buf[8];

	(void)state;
	pub__errf(buf, sizeof(buf), "%s %d", "ab", 42);
	assert_string_equal(buf, "ab 42");
	/* truncated, always terminated */
	pub__errf(buf, sizeof(buf), "%s", "0123456789");
	assert_string_equal(buf, "0123456");
	/* errlen 0 and NULL write nothing */
	memset(buf, 'x', sizeof(buf));
	pub__errf(buf, 0, "%s", "abc");
	assert_int_equal(buf[0], 'x');
	pub__errf(NULL, 16, "%s", "abc");
	pub__errf(buf, 1, "%s", "abc");
	assert_string_equal(buf, "");
}

struct utf8_case {
	const char *s;
	size_t len;
	bool valid;
	size_t off; /* of the first bad byte */
};

#define U(lit, ok, at)                                                                   \
	{                                                                                \
		lit, sizeof(lit) - 1, ok, at                                             \
	}

static void test_utf8_valid(void **state)
{
	static const struct utf8_case cases[] = {
	    U("", true, 0),
	    U("plain ASCII \x7f", true, 0),
	    U("\xc2\x80 \xdf\xbf", true, 0),		     /* U+0080, U+07FF */
	    U("\xe0\xa0\x80 \xef\xbf\xbf", true, 0),	     /* U+0800, U+FFFF */
	    U("\xed\x9f\xbf \xee\x80\x80", true, 0),	     /* around the surrogates */
	    U("\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf", true, 0), /* U+10000, U+10FFFF */
	    U("ab\xc0\xaf", false, 2),			     /* overlong '/' */
	    U("ab\xc1\xbf", false, 2),
	    U("a\xe0\x80\xaf", false, 1), /* overlong, 3 bytes */
	    U("a\xe0\x9f\xbf", false, 1),
	    U("a\xf0\x8f\xbf\xbf", false, 1), /* overlong, 4 bytes */
	    U("xy\xed\xa0\x80", false, 2),    /* U+D800 */
	    U("xy\xed\xbf\xbf", false, 2),    /* U+DFFF */
	    U("\xf4\x90\x80\x80", false, 0),  /* U+110000 */
	    U("\xf5\x80\x80\x80", false, 0),
	    U("\xff", false, 0),
	    U("abc\x80", false, 3),	 /* lone continuation */
	    U("abc\xe2\x82", false, 3),	 /* cut short */
	    U("\xe2\x82\x41", false, 0), /* bad continuation */
	    U("\xe2\x82\xac\xe2", false, 3),
	};
	size_t i, off;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		off = 999;
		assert_int_equal(pub__utf8_valid(cases[i].s, cases[i].len, &off),
				 cases[i].valid);
		assert_int_equal(off, cases[i].valid ? 999 : cases[i].off);
	}
	assert_false(pub__utf8_valid("\xff", 1, NULL));
	/* the length bounds the check: a NUL is a character like any other */
	assert_true(pub__utf8_valid("ab\0c\xff", 4, NULL));
}

static const char *quote(const char *in, size_t outlen)
{
	static char out[256];

	assert_true(outlen <= sizeof(out));
	memset(out, 'Z', sizeof(out));
	return pub__quote(in, strlen(in), out, outlen);
}

static void test_quote_cleans(void **state)
{
	(void)state;
	assert_string_equal(quote("hello", 64), "hello");
	/* control characters and runs of white space become one space,
	 * leading and trailing ones none */
	assert_string_equal(quote("\t a\r\n\x1b[31m b \x7f", 64), "a [31m b");
	assert_string_equal(quote("  \n\t ", 64), "");
	/* invalid UTF-8: one '?' a byte; valid sequences kept */
	assert_string_equal(quote("a\xff\xc0\xafz", 64), "a???z");
	assert_string_equal(quote("\xed\xa0\x80", 64), "???");
	assert_string_equal(quote("caf\xc3\xa9 \xe2\x82\xac", 64),
			    "caf\xc3\xa9 \xe2\x82\xac");
	/* stops at a NUL inside inlen */
	{
		char out[16];

		assert_string_equal(pub__quote("ab\0cd", 5, out, sizeof(out)), "ab");
	}
}

static void test_quote_truncates(void **state)
{
	char big[600];

	(void)state;
	/* outlen 16: at most 12 bytes of text, then "..." */
	assert_string_equal(quote("0123456789ab", 16), "0123456789ab");
	assert_string_equal(quote("0123456789abc", 16), "0123456789ab...");
	/* cut on a character boundary: a 2-byte character that would
	 * straddle the limit is left out whole */
	assert_string_equal(quote("0123456789a\xc3\xa9", 16), "0123456789a...");
	assert_string_equal(quote("0123456789\xe2\x82\xac", 16), "0123456789...");
	assert_string_equal(quote("012345678\xe2\x82\xac", 16), "012345678\xe2\x82\xac");
	assert_string_equal(quote("\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
				  "\xf0\x9f\x98\x80",
				  16),
			    "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80...");
	/* the result is valid UTF-8 wherever the cut falls */
	assert_true(pub__utf8_valid(
	    quote("ab\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 16),
	    strlen(quote("ab\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 16)),
	    NULL));
	/* a space before the cut counts */
	assert_string_equal(quote("0123456789a b", 16), "0123456789a...");
	/* the bound: never past outlen - 1 */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(strlen(quote(big, PUB_QUOTE_MAX)), PUB_QUOTE_MAX - 1);
	/* too small to say anything */
	assert_string_equal(quote("abc", 7), "");
	assert_string_equal(quote("abc", 8), "abc");
	{
		char one = 'x';

		assert_ptr_equal(pub__quote("abc", 3, &one, 0), &one);
		assert_int_equal(one, 'x');
	}
}

static void test_strings(void **state)
{
	char *p;

	(void)state;
	p = pub__strndup("abcdef", 3);
	assert_non_null(p);
	assert_string_equal(p, "abc");
	free(p);
	p = pub__strndup("", 0);
	assert_non_null(p);
	assert_string_equal(p, "");
	free(p);

	assert_true(pub__endswith("pkg.tar.gz", ".tar.gz"));
	assert_true(pub__endswith("abc", ""));
	assert_true(pub__endswith(".whl", ".whl"));
	assert_false(pub__endswith("pkg.TAR.GZ", ".tar.gz"));
	assert_false(pub__endswith("gz", ".tar.gz"));
	assert_true(pub__endswith_nocase("pkg.TAR.GZ", ".tar.gz"));
	assert_false(pub__endswith_nocase("pkg.zip", ".tar.gz"));
	assert_false(pub__endswith_nocase("z", ".zip"));

	{
		static const char hay[] = "Content-Type: Text/HTML; charset";

		assert_ptr_equal(pub__memcasemem(hay, sizeof(hay) - 1, "text/html"),
				 hay + 14);
		assert_ptr_equal(pub__memcasemem(hay, sizeof(hay) - 1, ""), hay);
		assert_null(pub__memcasemem(hay, sizeof(hay) - 1, "xml"));
		/* only within len */
		assert_null(pub__memcasemem(hay, 20, "text/html"));
		assert_ptr_equal(pub__memcasemem(hay, 23, "text/html"), hay + 14);
		assert_null(pub__memcasemem("ab", 2, "abc"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_errf),	 cmocka_unit_test(test_utf8_valid),
	    cmocka_unit_test(test_quote_cleans), cmocka_unit_test(test_quote_truncates),
	    cmocka_unit_test(test_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
