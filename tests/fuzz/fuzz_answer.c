/* fuzz_answer.c - libFuzzer target for the registries' answers: one HTTP
 * response goes through what the daemon does with an upload's answer and
 * with the documents that settle "already exists":
 *   - the status line through answer_status_line() (the daemon's header
 *     callback), the headers the way curl hands them over, then
 *     answer_classify() for the registry type;
 *   - the body as a PyPI index page (answer_pypi_file_sha256, JSON API,
 *     PEP 691 JSON or PEP 503 HTML) and, when the file is listed,
 *     answer_pypi_identity();
 *   - the body as an npm packument (answer_npm_packument) and then
 *     answer_npm_identity() and npm_dist_tag() with its dist-tags.latest;
 *   - the body as a PyPI token (pypi_token_projects).
 *
 * Input layout:
 *   byte 0   bit 0: npm (else PyPI) for answer_classify.  Bits 1-2: the
 *            file (PyPI) and version (npm) looked up, from a table.  Bit 3:
 *            "ours" is what the registry lists (the identical-file case);
 *            else a fixed other digest.  Bits 4-5: the dist-tag asked for
 *            (none, "latest", "next", "1.0").  Bits 6 and 7 both set, and
 *            $FUZZ_AMPLIFY set: the body is repeated to AMPLIFY bytes
 *            before the index and packument readers see it, so that a
 *            reader slower than linear in the body's length runs into
 *            libFuzzer's -timeout (answers may be 8 MiB; fuzz inputs are a
 *            few KiB).  Off by default: amplified inputs are slow and fill
 *            the corpus (their hit counts look new), which cut the rate
 *            from 15000 to 400 inputs a second.
 *   byte 1.. an HTTP/1.1 response as it came from the socket: status line,
 *            headers, empty line, body.  Without "HTTP/" at the start the
 *            whole rest is the body of a request that got no answer
 *            (status 0).  The body is passed without a terminator.
 *
 * Besides the sanitizers, the harness aborts when: a classification, a
 * reason or a message is out of range, not terminated, or holds control
 * characters or invalid UTF-8 (they reach logs, job logs and terminals); a
 * 2xx answer is not "ok", or "no answer" and 5xx are not "retry"; a
 * Retry-After is outside 0 to a day; a sha256 read is not 64 lower-case hex
 * digits; the registry's own digest does not settle as identical; a
 * dist-tag is given back that was not asked for, "latest" for a
 * prerelease without being asked, or "latest" below the registry's.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "publishers/answer.h"
#include "publishers/npm.h"
#include "publishers/pypi_token.h"
#include "publishers/semver.h"
#include "tests/fuzz/fuzz_util.h"

#define TARGET "fuzz_answer"
#define AMPLIFY (256 * 1024)
#define NOW 1767225600 /* 2026-01-01T00:00:00Z: Retry-After dates are relative to it */

static const char *const files[4] = {"aos_sdk-0.1.0-py3-none-any.whl",
				     "aos_sdk-0.1.0.tar.gz", "aos-sdk-0.1.0.tar.gz",
				     "x.whl"};
static const char *const versions[4] = {"0.1.0", "0.2.0-rc.1", "1.0.0", "10.0.0"};
static const char *const tags[4] = {NULL, "latest", "next", "1.0"};
static const char other_sha256[] =
    "0000000000000000000000000000000000000000000000000000000000000000";
static const char other_sri[] = "sha512-AAAA";
static const char other_sha1[] = "0000000000000000000000000000000000000000";
static bool amplified;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_init();
	amplified = getenv("FUZZ_AMPLIFY") != NULL;
	return 0;
}

static void die(const char *what)
{
	fz_die(TARGET, what);
}

static void check_text(const char *s, size_t cap, const char *what)
{
	if (memchr(s, '\0', cap) == NULL || !fz_clean_text(s)) {
		fprintf(stderr, "%s: %s: %.*s\n", TARGET, what, (int)cap, s);
		die("a text for the operator is not terminated, or not clean");
	}
}

/* The value of header name in head (lines after the status line), NUL-
 * terminated in a copy: curl gives the first one, trimmed. */
static char *header(const char *head, size_t len, const char *name)
{
	const char *p = head, *end = head + len, *nl, *v;
	size_t n = strlen(name), vl;

	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if ((size_t)(nl - p) <= n || p[n] != ':' || strncasecmp(p, name, n) != 0)
			continue;
		v = p + n + 1;
		while (v < nl && (*v == ' ' || *v == '\t'))
			v++;
		vl = (size_t)(nl - v);
		while (vl > 0 &&
		       (v[vl - 1] == '\r' || v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		return fz_strndup(v, vl);
	}
	return NULL;
}

static void classify(uint8_t sel, const uint8_t *p, size_t n, const char **ret_body,
		     size_t *ret_len)
{
	struct answer_input in = {.now = NOW};
	struct answer a;
	char reason[ANSWER_REASON_MAX], *hdr[4] = {NULL, NULL, NULL, NULL};
	const char *head = (const char *)p, *sep, *line_end;
	size_t headlen = 0, i;
	long status = 0;

	*ret_body = (const char *)p;
	*ret_len = n;
	if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		sep = memmem(head, n, "\r\n\r\n", 4);
		headlen = sep != NULL ? (size_t)(sep - head) + 2 : n;
		line_end = memchr(head, '\n', headlen);
		i = line_end != NULL ? (size_t)(line_end - head) + 1 : headlen;
		if (answer_status_line(head, i, &status, reason, sizeof(reason)) < 0)
			return; /* curl would have failed the transfer */
		check_text(reason, sizeof(reason), "status line reason");
		if (status < 0 || status > 999)
			die("answer_status_line read a status outside 000-999");
		in.reason_phrase = reason;
		in.retry_after = hdr[0] = header(head + i, headlen - i, "Retry-After");
		in.www_authenticate = hdr[1] =
		    header(head + i, headlen - i, "WWW-Authenticate");
		in.location = hdr[2] = header(head + i, headlen - i, "Location");
		in.content_type = hdr[3] = header(head + i, headlen - i, "Content-Type");
		*ret_body = sep != NULL ? sep + 4 : head + n;
		*ret_len = n - (size_t)(*ret_body - head);
	}
	in.status = status;
	in.body = *ret_body;
	in.body_len = *ret_len;
	answer_classify(sel & 1 ? REGISTRY_NPM : REGISTRY_PYPI, &in, &a);
	if (fz_verbose)
		fprintf(stderr, "%s: %ld -> %s: %s [%s] retry %ld\n", TARGET, status,
			answer_kind_name(a.kind), a.message, a.reason, a.retry_after);
	if (a.kind < ANSWER_OK || a.kind > ANSWER_PERMANENT || a.status != status)
		die("classification out of range");
	check_text(a.reason, sizeof(a.reason), "reason");
	check_text(a.message, sizeof(a.message), "message");
	/* devpi's 200 "Upload of identical file" is the one 2xx read as exists. */
	if ((status >= 200 && status < 300) !=
	    (a.kind == ANSWER_OK ||
	     (a.kind == ANSWER_EXISTS && status == 200 && !(sel & 1))))
		die("a 2xx answer is not ok, or ok without 2xx");
	if ((status == 0 || (status >= 500 && status < 600)) && a.kind != ANSWER_RETRY)
		die("no answer or 5xx is not retried");
	if (a.retry_after < -1 || a.retry_after > ANSWER_RETRY_MAX)
		die("Retry-After out of range");
	for (i = 0; i < 4; i++)
		free(hdr[i]);
}

static void pypi_index(uint8_t sel, const char *body, size_t len)
{
	const char *file = files[(sel >> 1) & 3];
	char theirs[65], msg[1024];
	enum answer_kind k;
	size_t i;
	int r;

	memset(theirs, 'X', sizeof(theirs));
	r = answer_pypi_file_sha256(body, len, file, theirs);
	if (fz_verbose)
		fprintf(stderr, "%s: pypi %s: %d %.64s\n", TARGET, file, r,
			r == 0 ? theirs : "");
	if (r < 0)
		return;
	if (theirs[64] != '\0')
		die("sha256 not terminated");
	for (i = 0; i < 64; i++)
		if (!((theirs[i] >= '0' && theirs[i] <= '9') ||
		      (theirs[i] >= 'a' && theirs[i] <= 'f')))
			die("sha256 is not lower-case hex");
	k = answer_pypi_identity(file, sel & 8 ? theirs : other_sha256, theirs, msg,
				 sizeof(msg));
	check_text(msg, sizeof(msg), "pypi identity");
	if ((sel & 8) && k != ANSWER_OK)
		die("the registry's own sha256 did not settle as identical");
}

static void packument(uint8_t sel, const char *body, size_t len)
{
	const char *version = versions[(sel >> 1) & 3], *tag = tags[(sel >> 4) & 3], *got;
	struct npm_tag_rule rule = {.version = version, .given = tag};
	struct npm_tag t;
	struct answer_packument p;
	char msg[1536], spec[300], sri[ANSWER_INTEGRITY_MAX];
	enum answer_kind k;
	int r, cmp;

	r = answer_npm_packument(body, len, version, &p);
	if (r < 0)
		return;
	if (memchr(p.latest, '\0', sizeof(p.latest)) == NULL ||
	    memchr(p.integrity, '\0', sizeof(p.integrity)) == NULL ||
	    memchr(p.shasum, '\0', sizeof(p.shasum)) == NULL ||
	    p.has_latest != (p.latest[0] != 0))
		die("packument fields not terminated, or has_latest wrong");
	if (p.has_version) {
		/* Ours: the first entry of the registry's list, or another. */
		snprintf(sri, sizeof(sri), "%.*s", (int)strcspn(p.integrity, " \t\n"),
			 p.integrity);
		snprintf(spec, sizeof(spec), "@agenticverz/aos-sdk@%s", version);
		k = answer_npm_identity(spec, sel & 8 ? sri : other_sri,
					sel & 8 ? p.shasum : other_sha1, &p, msg,
					sizeof(msg));
		check_text(msg, sizeof(msg), "npm identity");
		if ((sel & 8) && k != ANSWER_OK &&
		    (strncmp(sri, "sha512-", 7) == 0 ||
		     (!strstr(p.integrity, "sha512-") && p.shasum[0] != '\0')))
			die("the registry's own integrity did not settle as identical");
	}
	msg[0] = '\0';
	rule.latest = p.has_latest ? p.latest : NULL;
	r = npm_dist_tag(&rule, &t, msg, sizeof(msg));
	got = t.name;
	if (fz_verbose)
		fprintf(stderr, "%s: npm %s latest \"%s\": %d %s %s\n", TARGET, version,
			p.latest, r, r == 0 ? got : "", msg);
	if (r < 0) {
		check_text(msg, sizeof(msg), "dist-tag refusal");
		return;
	}
	if (tag != NULL && tag[0] != '\0' && strcmp(got, tag) != 0)
		die("a dist-tag that was not asked for");
	if (strcmp(got, "latest") == 0 && semver_is_prerelease(version))
		die("a prerelease tagged latest");
	if (strcmp(got, "latest") == 0 && p.has_latest && t.from != NPM_TAG_GIVEN &&
	    semver_compare(version, p.latest, &cmp) == 0 && cmp < 0)
		die("latest moved down");
}

/* The body as a PyPI token: the project names read from its macaroon are
 * terminated, printable, and only there when some were counted. */
static void token(const char *body, size_t len)
{
	char out[256];
	int r = pypi_token_projects(body, len, out, sizeof(out));

	if (memchr(out, '\0', sizeof(out)) == NULL)
		die("token projects not terminated");
	check_text(out, sizeof(out), "token projects");
	if (r <= 0 && out[0] != '\0')
		die("token projects written without a count");
}

/* body repeated to AMPLIFY bytes (the last copy cut short). */
static char *amplify(const char *body, size_t len, size_t *ret_len)
{
	char *big = malloc(AMPLIFY);
	size_t n;

	if (big == NULL)
		die("malloc");
	for (n = 0; n < AMPLIFY; n += len)
		memcpy(big + n, body, AMPLIFY - n < len ? AMPLIFY - n : len);
	*ret_len = AMPLIFY;
	return big;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body;
	char *copy, *big = NULL;
	size_t len;

	if (size < 1)
		return 0;
	copy = fz_copy(data + 1, size - 1);
	classify(data[0], (const uint8_t *)copy, size - 1, &body, &len);
	if (amplified && (data[0] & 0xc0) == 0xc0 && len > 0)
		body = big = amplify(body, len, &len);
	pypi_index(data[0], body, len);
	packument(data[0], body, len);
	token(body, len);
	free(big);
	free(copy);
	return 0;
}
