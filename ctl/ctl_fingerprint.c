/* ctl_fingerprint.c - `aos-publishctl secrets fingerprint`: the fingerprint
 * the daemon shows for a value read on standard input; and `secrets check
 * KEY`: that value checked with every registry using KEY, before it is
 * written to Vault (rotate_secret.sh --verify).
 *
 * Fingerprints are keyed with the installation's key, which only the daemon
 * reads, so the daemon computes it.  The value is read from standard input
 * (never argv), without echo on a terminal, sent over the control socket
 * and wiped here once sent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ctl/ctl.h"

#define VALUE_READ_MAX 65536 /* the daemon refuses long values; stop reading here */

/* Reads the value: everything up to EOF (one trailing newline removed), or
 * one line without echo from a terminal.  Returns its length (0: none). */
static size_t read_value(char *buf, size_t cap)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	size_t len = 0;
	ssize_t n;

	if (tty) {
		fprintf(stderr, "Value: ");
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	while (len < cap && (n = read(STDIN_FILENO, buf + len, cap - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
		if (tty && memchr(buf, '\n', len) != NULL)
			break;
	}
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
		if (memchr(buf, '\n', len) != NULL)
			len = (size_t)((char *)memchr(buf, '\n', len) - buf);
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	return len;
}

/* {"cmd":"secrets.fingerprint","value":...} (or secrets.check with "key")
 * as one line; the caller wipes and frees it.  NULL without memory. */
static char *request_line(const char *value, const char *key)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *v = cJSON_AddStringToObject(o, "value", value);
	char *line = NULL;

	if (v != NULL &&
	    (key == NULL || cJSON_AddStringToObject(o, "key", key) != NULL) &&
	    cJSON_AddStringToObject(
		o, "cmd", key != NULL ? "secrets.check" : "secrets.fingerprint") != NULL)
		line = cJSON_PrintUnformatted(o);
	if (v != NULL)
		explicit_bzero(v->valuestring, strlen(v->valuestring));
	cJSON_Delete(o);
	return line;
}

static bool refused(const char *state)
{
	return strcmp(state, "refused") == 0 || strcmp(state, "expired") == 0 ||
	       strcmp(state, "not_yet_valid") == 0;
}

/* With --json: the exit status alone. */
static int print_checks_rc(const cJSON *o)
{
	const cJSON *t;

	cJSON_ArrayForEach(
	    t, cJSON_GetObjectItemCaseSensitive(
		   o, "checks")) if (refused(ctl_str(t, "state", ""))) return EXIT_AUTH;
	return 0;
}

/* secrets check: one line per registry; EXIT_AUTH when one refuses. */
static int print_checks(const cJSON *o, const char *key)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "checks"), *t;
	int rc = 0;

	if (cJSON_GetArraySize(arr) == 0)
		printf("no registry uses %s: nothing to check\n", key);
	cJSON_ArrayForEach(t, arr)
	{
		const char *state = ctl_str(t, "state", "?");
		const cJSON *w = cJSON_GetObjectItemCaseSensitive(t, "warnings");

		printf("%s: %s: %s\n", ctl_str(t, "registry", "?"), state,
		       ctl_str(t, "message", ""));
		if (cJSON_IsString(w))
			printf("%s: warning: %s\n", ctl_str(t, "registry", "?"),
			       w->valuestring);
		if (refused(state))
			rc = EXIT_AUTH;
	}
	return rc;
}

int ctl_fingerprint(const char *sock, bool json, int timeout_s, const char *key)
{
	char *buf = malloc(VALUE_READ_MAX + 1), *line = NULL, *answer = NULL;
	size_t len;
	cJSON *o = NULL;
	int rc = EXIT_FAIL;

	if (buf == NULL)
		return EXIT_FAIL;
	len = read_value(buf, VALUE_READ_MAX);
	buf[len] = '\0';
	if (len == 0 || memchr(buf, '\0', len) != NULL) {
		fprintf(stderr,
			"aos-publishctl: secrets %s reads the value on "
			"standard input (e.g. from a password manager's pipe); got %s\n",
			key != NULL ? "check" : "fingerprint",
			len == 0 ? "nothing" : "a NUL byte");
		rc = EXIT_USAGE;
		goto out;
	}
	line = request_line(buf, key);
	if (line == NULL)
		goto out;
	rc = ctl_exchange(sock, line, timeout_s, &answer);
	if (rc != 0)
		goto out;
	o = cJSON_Parse(answer);
	rc = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")) ? 0 : EXIT_FAIL;
	if (json)
		printf("%s\n", answer);
	else if (rc == 0 && key != NULL)
		rc = print_checks(o, key);
	else if (rc == 0)
		printf("%s\n", ctl_str(o, "fingerprint", "?"));
	if (json && rc == 0 && key != NULL)
		rc = print_checks_rc(o);
	if (rc != 0)
		fprintf(stderr, "aos-publishctl: %s\n",
			ctl_str(o, "error", "unknown error"));
out:
	cJSON_Delete(o);
	free(answer);
	if (line != NULL) {
		explicit_bzero(line, strlen(line));
		free(line);
	}
	explicit_bzero(buf, VALUE_READ_MAX + 1);
	free(buf);
	return rc;
}
