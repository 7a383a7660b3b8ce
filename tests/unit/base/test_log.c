/* Unit tests for agent/base/log.c: the journal's structured fields
 * (JOB_ID=, PIPELINE=, REGISTRY=, DELIVERY=) as formatted for
 * sd_journal_sendv, and stderr's format, unchanged when stderr is not
 * journald's stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/log.h"

static void test_fields_formatted(void **state)
{
	char out[LOG_FIELDS_MAX][LOG_FIELD_MAX];
	struct log_fields f = {.job_id = 7,
			       .pipeline = "js-sdk",
			       .registry = "npm",
			       .delivery = "d1\n\x1b[31mX"};

	(void)state;
	assert_int_equal(log_fields_format(&f, out), 4);
	assert_string_equal(out[0], "JOB_ID=7");
	assert_string_equal(out[1], "PIPELINE=js-sdk");
	assert_string_equal(out[2], "REGISTRY=npm");
	/* A forge's delivery id cannot add a field or a line. */
	assert_string_equal(out[3], "DELIVERY=d1??[31mX");

	assert_int_equal(log_fields_format(NULL, out), 0);
	f = (struct log_fields){.pipeline = "", .registry = NULL};
	assert_int_equal(log_fields_format(&f, out), 0);
	f = (struct log_fields){.registry = "pypi", .job_id = -1};
	assert_int_equal(log_fields_format(&f, out), 1);
	assert_string_equal(out[0], "REGISTRY=pypi");
}

static void test_field_cut_to_fit(void **state)
{
	char out[LOG_FIELDS_MAX][LOG_FIELD_MAX], big[LOG_FIELD_MAX * 2];
	struct log_fields f = {.delivery = big};

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(log_fields_format(&f, out), 1);
	assert_int_equal(strlen(out[0]), LOG_FIELD_MAX - 1);
	assert_memory_equal(out[0], "DELIVERY=aaa", 12);
}

/* What log_msg_f() wrote to stderr, redirected to a temporary file, with
 * JOURNAL_STREAM unset (NULL), set to js, or (js "") naming that file. */
static void emit_text(const char *js, const char *text, char *buf, size_t len)
{
	char path[] = "/tmp/test_log.XXXXXX", own[64];
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	struct log_fields f = {.job_id = 7, .registry = "pypi"};
	struct stat st;
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0 && fstat(fd, &st) == 0);
	unlink(path);
	snprintf(own, sizeof(own), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	if (js != NULL)
		setenv("JOURNAL_STREAM", js[0] != '\0' ? js : own, 1);
	else
		unsetenv("JOURNAL_STREAM");
	log_init(LOG_LVL_INFO);
	log_msg_f(LOG_LVL_NOTICE, &f, "%s", text);
	log_msg_f(LOG_LVL_DEBUG, &f, "not shown");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	unsetenv("JOURNAL_STREAM");
	log_init(LOG_LVL_INFO);
	n = pread(fd, buf, len - 1, 0);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
}

static void emit(const char *js, char *buf, size_t len)
{
	emit_text(js, "job 7 queued", buf, len);
}

/* Text from outside (a server's error, a registry's answer) cannot move
 * the terminal or forge a line: newlines, returns and tabs become spaces,
 * every other control byte (ESC, BEL, DEL...) a '?' (found by review: ESC
 * reached stderr). */
static void test_control_bytes_folded(void **state)
{
	char buf[512];
	const char *sp;

	(void)state;
	emit_text(NULL, "db said \x1b[31mred\x07\x7f and\ttab\r\nnext", buf, sizeof(buf));
	sp = strchr(buf, ' ');
	assert_non_null(sp);
	assert_string_equal(sp, " notice: db said ?[31mred?? and tab  next\n");
}

static void test_stderr_unchanged(void **state)
{
	char buf[512];
	const char *sp;

	(void)state;
	emit(NULL, buf, sizeof(buf));
	/* "2026-01-02T03:04:05.678Z notice: job 7 queued\n", no fields. */
	sp = strchr(buf, ' ');
	assert_non_null(sp);
	assert_int_equal(sp - buf, 24);
	assert_int_equal(buf[23], 'Z');
	assert_string_equal(sp, " notice: job 7 queued\n");
	/* JOURNAL_STREAM that is not stderr (a parent's, inherited): the same. */
	emit("1:1", buf, sizeof(buf));
	sp = strchr(buf, ' ');
	assert_non_null(sp);
	assert_string_equal(sp, " notice: job 7 queued\n");
}

static void test_journal_stream_is_stderr(void **state)
{
	char buf[512];

	(void)state;
	emit("", buf, sizeof(buf));
	if (access("/run/systemd/journal/socket", W_OK) == 0)
		/* journald is here: the message went to it, fields and all. */
		assert_string_equal(buf, "");
	else
		/* Its socket is not (sd_journal_sendv would drop the message
		 * without an error): stderr with the priority prefix. */
		assert_string_equal(buf, "<5>job 7 queued\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fields_formatted),
	    cmocka_unit_test(test_field_cut_to_fit),
	    cmocka_unit_test(test_stderr_unchanged),
	    cmocka_unit_test(test_control_bytes_folded),
	    cmocka_unit_test(test_journal_stream_is_stderr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
