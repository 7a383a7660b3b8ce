/* Unit tests for ctl/ctl_text.c: build output's control bytes as
 * aos-publishctl shows them on a terminal and in --json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl/ctl_text.h"

struct esc_case {
	const char *in, *text, *json;
};

static const struct esc_case cases[] = {
    /* plain text, newline and tab, UTF-8 letters and an emoji: unchanged */
    {"ok: line\n\tnext", "ok: line\n\tnext", "ok: line\\u000a\\u0009next"},
    {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6",
     "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6",
     "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6"},
    /* C0: ESC, BEL, CR, BS, and the OSC title + clear screen of the brief */
    {"\x1b]0;pwned\x07\x1b[2J", "\\x1b]0;pwned\\x07\\x1b[2J",
     "\\u001b]0;pwned\\u0007\\u001b[2J"},
    {"a\rb\bc\x01", "a\\x0db\\x08c\\x01", "a\\u000db\\u0008c\\u0001"},
    /* DEL */
    {"x\x7fy", "x\\x7fy", "x\\u007fy"},
    /* C1 in UTF-8: CSI U+009B, U+0080, U+009F; U+00A0 is not a control */
    {"\xc2\x9b"
     "31m \xc2\x80\xc2\x9f\xc2\xa0",
     "\\u009b31m \\u0080\\u009f\xc2\xa0", "\\u009b31m \\u0080\\u009f\xc2\xa0"},
    /* not UTF-8: a lone 8-bit CSI, FF, an overlong '/', a surrogate, past
     * U+10FFFF, a cut sequence at the end */
    {"\x9b"
     "2J",
     "\\x9b2J", "\\ufffd2J"},
    {"\xff\xfe", "\\xff\\xfe", "\\ufffd\\ufffd"},
    {"\xc0\xaf", "\\xc0\\xaf", "\\ufffd\\ufffd"},
    {"\xed\xa0\x80", "\\xed\\xa0\\x80", "\\ufffd\\ufffd\\ufffd"},
    {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"},
    {"end\xe2\x82", "end\\xe2\\x82", "end\\ufffd\\ufffd"},
    /* a backslash stays itself */
    {"C:\\x1b", "C:\\x1b", "C:\\x1b"},
    {"", "", ""},
};

static char *json_of(const char *s, enum ctl_escape mode)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	ctl_put_json(f, s, mode);
	fclose(f);
	assert_true(len > 0 && buf[len - 1] == '\n');
	buf[len - 1] = '\0';
	return buf;
}

static void test_escape_text(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = ctl_escape_text(cases[i].in), *again, *j;

		assert_non_null(t);
		if (strcmp(t, cases[i].text) != 0)
			fail_msg("case %zu: text \"%s\", want \"%s\"", i, t,
				 cases[i].text);
		again = ctl_escape_text(t); /* escaped text has nothing left to escape */
		assert_string_equal(again, t);
		j = json_of(cases[i].in, CTL_ESCAPE_AUTO);
		if (strcmp(j, cases[i].json) != 0)
			fail_msg("case %zu: json \"%s\", want \"%s\"", i, j,
				 cases[i].json);
		free(j);
		j = json_of(cases[i].in, CTL_ESCAPE_OFF);
		assert_string_equal(j, cases[i].in);
		free(j);
		free(t);
		free(again);
	}
}

/* Every string of a parsed answer, at any depth; keys, numbers and
 * booleans untouched. */
static void test_escape_tree(void **state)
{
	cJSON *o =
	    cJSON_Parse("{\"ok\":true,\"job\":{\"last_error\":\"evil\\u001b[2J.whl\","
			"\"id\":7},\"lines\":[{\"text\":\"\\u009b1m\\u007f\"},"
			"{\"text\":\"plain\"}]}");
	const cJSON *l;

	(void)state;
	assert_non_null(o);
	assert_int_equal(ctl_escape_tree(o), 0);
	assert_string_equal(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(o, "job"), "last_error")->valuestring,
	    "evil\\x1b[2J.whl");
	l = cJSON_GetObjectItem(o, "lines");
	assert_string_equal(cJSON_GetArrayItem(l, 0)->child->valuestring,
			    "\\u009b1m\\x7f");
	assert_string_equal(cJSON_GetArrayItem(l, 1)->child->valuestring, "plain");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "ok")));
	assert_int_equal(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(o, "job"), "id")->valueint, 7);
	assert_int_equal(ctl_escape_tree(NULL), 0);
	cJSON_Delete(o);
}

static void test_escaping_mode(void **state)
{
	FILE *f = tmpfile();

	(void)state;
	assert_non_null(f);
	assert_false(ctl_escaping(CTL_ESCAPE_AUTO, f)); /* a file is not a terminal */
	assert_true(ctl_escaping(CTL_ESCAPE_ON, f));
	assert_false(ctl_escaping(CTL_ESCAPE_OFF, f));
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape_text),
	    cmocka_unit_test(test_escape_tree),
	    cmocka_unit_test(test_escaping_mode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
