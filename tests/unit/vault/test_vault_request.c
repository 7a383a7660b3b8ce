/* Unit tests for vault/request.c: easy-handle setup and status mapping. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/secret.h"
#include "vault/vault.h"

/* curl's free, watched: when a block test_headers_free names is freed, the
 * hook records whether its first `len` bytes were zero by then. */
struct watched {
	const void *p;
	size_t len;
	bool freed, wiped;
};
static struct watched watch[2];

static void watching_free(void *p)
{
	size_t i, j;

	for (i = 0; p != NULL && i < 2; i++) {
		if (watch[i].p != p)
			continue;
		watch[i].freed = true;
		watch[i].wiped = true;
		for (j = 0; j < watch[i].len; j++)
			watch[i].wiped &= ((const unsigned char *)p)[j] == 0;
	}
	free(p);
}

static int setup(void **state)
{
	(void)state;
	if (secret_init_process(64 * 1024) != 0)
		return -1;
	return curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, watching_free, realloc,
				    strdup, calloc) == CURLE_OK
		   ? 0
		   : -1;
}

static int teardown(void **state)
{
	(void)state;
	curl_global_cleanup();
	return 0;
}

/* ---- vault_check_status ---- */

static int check(long status, const char *body, char *errbuf, size_t errlen)
{
	return vault_check_status(status, body, body != NULL ? strlen(body) : 0, errbuf,
				  errlen);
}

static void test_status_2xx(void **state)
{
	char err[256] = "untouched";

	(void)state;
	assert_int_equal(check(200, "{\"data\":{}}", err, sizeof(err)), 0);
	assert_int_equal(check(204, NULL, err, sizeof(err)), 0);
	assert_int_equal(check(299, "", err, sizeof(err)), 0);
	/* Success leaves errbuf alone. */
	assert_string_equal(err, "untouched");
}

static void test_status_400_auth(void **state)
{
	char err[256];

	(void)state;
	/* What OpenBao answers to an AppRole login with a wrong secret_id. */
	assert_int_equal(check(400, "{\"errors\":[\"invalid role or secret ID\"]}\n", err,
			       sizeof(err)),
			 AOS_EAUTH);
	assert_non_null(strstr(err, "HTTP 400"));
	assert_non_null(strstr(err, "invalid role or secret ID"));
	assert_int_equal(
	    check(400, "{\"errors\":[\"invalid secret id\"]}", err, sizeof(err)),
	    AOS_EAUTH);
	assert_int_equal(
	    check(400, "{\"errors\":[\"invalid role ID\"]}", err, sizeof(err)),
	    AOS_EAUTH);
}

static void test_status_400_other(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(
	    check(400, "{\"errors\":[\"missing client token\"]}", err, sizeof(err)),
	    AOS_ESERVER);
	assert_string_equal(err, "HTTP 400: missing client token");
}

static void test_status_403(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(
	    check(403, "{\"errors\":[\"permission denied\"]}", err, sizeof(err)),
	    AOS_EDENIED);
	assert_string_equal(err, "HTTP 403: permission denied");
	assert_int_equal(check(401, NULL, err, sizeof(err)), AOS_EDENIED);
}

static void test_status_404(void **state)
{
	char err[256];

	(void)state;
	/* A KV read of a missing path: 404 with an empty errors array. */
	assert_int_equal(check(404, "{\"errors\":[]}", err, sizeof(err)), AOS_ENOTFOUND);
	assert_string_equal(err, "HTTP 404: no error text");
}

static void test_status_429(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(check(429,
			       "{\"errors\":[\"request path \\\"secret/data/x\\\": "
			       "rate limit quota exceeded\"]}",
			       err, sizeof(err)),
			 AOS_ESTANDBY);
	assert_non_null(strstr(err, "rate limit quota exceeded"));
	assert_non_null(strstr(err, "\"secret/data/x\""));
	assert_int_equal(check(412, NULL, err, sizeof(err)), AOS_ESTANDBY);
}

static void test_status_503(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(
	    check(503, "{\"errors\":[\"Vault is sealed\"]}", err, sizeof(err)),
	    AOS_ESEALED);
	assert_string_equal(err, "HTTP 503: Vault is sealed");
}

static void test_status_500(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(check(500,
			       "{\"errors\":[\"1 error occurred:\\n\\t* internal "
			       "error\\n\\n\",\"second\"]}",
			       err, sizeof(err)),
			 AOS_ESERVER);
	assert_non_null(strstr(err, "internal error"));
	assert_non_null(strstr(err, "; second"));
	/* Without an errors array, or not JSON at all (a proxy's HTML page). */
	assert_int_equal(check(500, "{\"data\":null}", err, sizeof(err)), AOS_ESERVER);
	assert_string_equal(err, "HTTP 500: no error text");
	assert_int_equal(check(502, "<html>Bad Gateway</html>", err, sizeof(err)),
			 AOS_ESERVER);
	assert_string_equal(err, "HTTP 502: no error text");
	/* Non-string members are skipped. */
	assert_int_equal(check(500, "{\"errors\":[42,\"text\"]}", err, sizeof(err)),
			 AOS_ESERVER);
	assert_string_equal(err, "HTTP 500: text");
	/* A status curl reports without an answer. */
	assert_int_equal(check(0, NULL, err, sizeof(err)), AOS_ESERVER);
}

static void test_status_long_errors_truncated(void **state)
{
	char body[4096], err[64];
	size_t n;

	(void)state;
	n = (size_t)snprintf(body, sizeof(body), "{\"errors\":[\"");
	memset(body + n, 'x', 2000);
	n += 2000;
	snprintf(body + n, sizeof(body) - n, "\",\"tail\"]}");
	assert_int_equal(check(500, body, err, sizeof(err)), AOS_ESERVER);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_memory_equal(err, "HTTP 500: xxx", 13);
}

/* ---- vault_request_setup ---- */

static const char *effective_url(CURL *h)
{
	char *u = NULL;

	assert_int_equal(curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &u), CURLE_OK);
	return u;
}

static bool has_header(const struct curl_slist *l, const char *h)
{
	for (; l != NULL; l = l->next)
		if (strcmp(l->data, h) == 0)
			return true;
	return false;
}

static bool has_header_prefix(const struct curl_slist *l, const char *p)
{
	for (; l != NULL; l = l->next)
		if (strncasecmp(l->data, p, strlen(p)) == 0)
			return true;
	return false;
}

static void test_setup_url(void **state)
{
	struct vault_conn c = {.address = "https://vault.example.test:8200"};
	struct curl_slist *hdrs = NULL;
	CURL *h = curl_easy_init();

	(void)state;
	assert_non_null(h);
	assert_int_equal(
	    vault_request_setup(h, &c, "GET", "sys/health", NULL, NULL, &hdrs), 0);
	assert_string_equal(effective_url(h),
			    "https://vault.example.test:8200/v1/sys/health");
	vault_headers_free(hdrs);

	c.address = "https://vault.example.test:8200/";
	hdrs = NULL;
	assert_int_equal(
	    vault_request_setup(h, &c, "GET", "secret/data/a/b", NULL, NULL, &hdrs), 0);
	assert_string_equal(effective_url(h),
			    "https://vault.example.test:8200/v1/secret/data/a/b");
	vault_headers_free(hdrs);

	c.address = "http://127.0.0.1:8200///";
	hdrs = NULL;
	assert_int_equal(
	    vault_request_setup(h, &c, "POST", "auth/approle/login", "{}", NULL, &hdrs),
	    0);
	assert_string_equal(effective_url(h),
			    "http://127.0.0.1:8200/v1/auth/approle/login");
	vault_headers_free(hdrs);
	curl_easy_cleanup(h);
}

static void test_setup_url_too_long(void **state)
{
	struct vault_conn c = {.address = "https://vault.example.test"};
	struct curl_slist *hdrs = (struct curl_slist *)(uintptr_t)1;
	char path[3000];
	CURL *h = curl_easy_init();

	(void)state;
	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(vault_request_setup(h, &c, "GET", path, NULL, NULL, &hdrs),
			 -EINVAL);
	/* ret_headers is set only on success. */
	assert_ptr_equal(hdrs, (struct curl_slist *)(uintptr_t)1);
	curl_easy_cleanup(h);
}

static void test_setup_headers(void **state)
{
	struct vault_conn c = {.address = "https://vault.example.test"};
	struct curl_slist *hdrs = NULL;
	struct secret *tok = NULL;
	CURL *h = curl_easy_init();

	(void)state;
	/* No namespace, no token, no body. */
	assert_int_equal(
	    vault_request_setup(h, &c, "GET", "sys/health", NULL, NULL, &hdrs), 0);
	assert_true(has_header(hdrs, "X-Vault-Request: true"));
	assert_false(has_header_prefix(hdrs, "X-Vault-Namespace"));
	assert_false(has_header_prefix(hdrs, "X-Vault-Token"));
	assert_false(has_header_prefix(hdrs, "Content-Type"));
	assert_true(has_header(hdrs, "Expect:"));
	vault_headers_free(hdrs);

	/* An empty namespace is the same as none. */
	c.namespace = "";
	hdrs = NULL;
	assert_int_equal(
	    vault_request_setup(h, &c, "GET", "sys/health", NULL, NULL, &hdrs), 0);
	assert_false(has_header_prefix(hdrs, "X-Vault-Namespace"));
	vault_headers_free(hdrs);

	/* Namespace, token and a JSON body. */
	c.namespace = "team-a/ci";
	assert_int_equal(secret_new("test-token-value", 16, &tok), 0);
	hdrs = NULL;
	assert_int_equal(vault_request_setup(h, &c, "POST", "auth/token/renew-self",
					     "{\"increment\":\"1h\"}", tok, &hdrs),
			 0);
	assert_true(has_header(hdrs, "X-Vault-Request: true"));
	assert_true(has_header(hdrs, "X-Vault-Namespace: team-a/ci"));
	assert_true(has_header(hdrs, "X-Vault-Token: test-token-value"));
	assert_true(has_header(hdrs, "Content-Type: application/json"));
	vault_headers_free(hdrs);
	secret_unref(tok);
	curl_easy_cleanup(h);
}

static void test_setup_namespace_too_long(void **state)
{
	char ns[600];
	struct vault_conn c = {.address = "https://vault.example.test", .namespace = ns};
	struct curl_slist *hdrs = NULL;
	CURL *h = curl_easy_init();

	(void)state;
	memset(ns, 'n', sizeof(ns) - 1);
	ns[sizeof(ns) - 1] = '\0';
	assert_int_equal(
	    vault_request_setup(h, &c, "GET", "sys/health", NULL, NULL, &hdrs), -EINVAL);
	assert_null(hdrs);
	curl_easy_cleanup(h);
}

static void test_headers_free(void **state)
{
	struct curl_slist *l = NULL;

	(void)state;
	vault_headers_free(NULL);
	l = curl_slist_append(l, "X-Vault-Token: test-token-value");
	l = curl_slist_append(l, "");
	assert_non_null(l);
	assert_non_null(l->next);
	watch[0] = (struct watched){.p = l->data, .len = strlen(l->data)};
	watch[1] = (struct watched){.p = l->next->data, .len = 0};
	vault_headers_free(l); /* under ASan: no invalid access, no leak */
	/* Each string was wiped before curl freed it. */
	assert_true(watch[0].freed && watch[1].freed);
	assert_true(watch[0].wiped);
	memset(watch, 0, sizeof(watch));
}

/* ---- the same setup on the wire, against a one-shot loopback server ---- */

struct wire {
	int lfd;
	char req[8192];
	size_t len;
	const char *answer; /* NULL: 200 with "{}" */
	long code;	    /* the status curl reports */
};

static void *wire_serve(void *arg)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				 "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
	struct wire *w = arg;
	const char *answer = w->answer != NULL ? w->answer : ok;
	const char *eoh;
	size_t want = 0;
	ssize_t n;
	int fd;

	fd = accept(w->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	for (;;) {
		n = read(fd, w->req + w->len, sizeof(w->req) - 1 - w->len);
		if (n <= 0)
			break;
		w->len += (size_t)n;
		w->req[w->len] = '\0';
		eoh = strstr(w->req, "\r\n\r\n");
		if (eoh == NULL)
			continue;
		if (want == 0) {
			const char *cl = strcasestr(w->req, "\r\nContent-Length:");

			want = (size_t)(eoh + 4 - w->req);
			if (cl != NULL && cl < eoh)
				want += strtoul(cl + 17, NULL, 10);
		}
		if (w->len >= want)
			break;
	}
	if (write(fd, answer, strlen(answer)) < 0)
		w->len = 0;
	close(fd);
	return NULL;
}

static size_t discard(char *p, size_t size, size_t n, void *data)
{
	(void)p;
	(void)data;
	return size * n;
}

/* Runs one request configured by vault_request_setup against the server;
 * reuses h when given (as a caller keeping one easy handle would). */
static void wire_request_on(CURL *reuse, const char *method, const char *body,
			    const struct secret *tok, struct wire *w)
{
	const char *answer = w->answer;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t salen = sizeof(sa);
	struct curl_slist *hdrs = NULL;
	struct vault_conn c = {.namespace = "ns1"};
	char addr[64];
	pthread_t th;
	long code = 0;
	CURL *h;

	memset(w, 0, sizeof(*w));
	w->answer = answer;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	w->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(w->lfd >= 0);
	assert_int_equal(bind(w->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(w->lfd, 1), 0);
	assert_int_equal(getsockname(w->lfd, (struct sockaddr *)&sa, &salen), 0);
	snprintf(addr, sizeof(addr), "http://127.0.0.1:%u/", ntohs(sa.sin_port));
	c.address = addr;
	assert_int_equal(pthread_create(&th, NULL, wire_serve, w), 0);

	h = reuse != NULL ? reuse : curl_easy_init();
	assert_int_equal(vault_request_setup(h, &c, method, "auth/token/lookup-self",
					     body, tok, &hdrs),
			 0);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	w->code = code;
	assert_int_equal(pthread_join(th, NULL), 0);
	close(w->lfd);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	if (reuse == NULL)
		curl_easy_cleanup(h);
	vault_headers_free(hdrs);
}

static void wire_request(const char *method, const char *body, const struct secret *tok,
			 struct wire *w)
{
	w->answer = NULL;
	wire_request_on(NULL, method, body, tok, w);
	assert_int_equal(w->code, 200);
}

/* A 307 to another host is handed back, not followed: libcurl would send
 * the token and the body there (vault_redirect_next decides instead). */
static void test_setup_does_not_follow_redirects(void **state)
{
	static const char moved[] =
	    "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.2:1/v1/x\r\n"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n";
	CURL *h = curl_easy_init();
	struct secret *tok = NULL;
	const char *loc = NULL;
	struct wire w = {.answer = moved};

	(void)state;
	assert_int_equal(secret_new("test-token-value", 16, &tok), 0);
	wire_request_on(h, "POST", "{\"role_id\":\"r\"}", tok, &w);
	assert_int_equal(w.code, 307);
	curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc);
	assert_non_null(loc);
	assert_string_equal(loc, "http://127.0.0.2:1/v1/x");
	curl_easy_cleanup(h);
	secret_unref(tok);
}

static void test_setup_on_the_wire(void **state)
{
	struct secret *tok = NULL;
	struct wire w;

	(void)state;
	assert_int_equal(secret_new("test-token-value", 16, &tok), 0);

	wire_request("GET", NULL, tok, &w);
	assert_memory_equal(w.req, "GET /v1/auth/token/lookup-self HTTP/1.1\r\n", 41);
	assert_non_null(strstr(w.req, "\r\nX-Vault-Request: true\r\n"));
	assert_non_null(strstr(w.req, "\r\nX-Vault-Namespace: ns1\r\n"));
	assert_non_null(strstr(w.req, "\r\nX-Vault-Token: test-token-value\r\n"));

	wire_request("POST", "{\"token\":\"x\"}", NULL, &w);
	assert_memory_equal(w.req, "POST /v1/auth/token/lookup-self HTTP/1.1\r\n", 42);
	assert_null(strstr(w.req, "X-Vault-Token"));
	assert_null(strcasestr(w.req, "Expect:"));
	assert_non_null(strstr(w.req, "\r\nContent-Type: application/json\r\n"));
	assert_non_null(strstr(w.req, "\r\nContent-Length: 13\r\n"));
	assert_non_null(strstr(w.req, "\r\n\r\n{\"token\":\"x\"}"));

	/* A bodiless POST (renew-self) still sends Content-Length: 0. */
	wire_request("POST", NULL, tok, &w);
	assert_memory_equal(w.req, "POST /v1/", 9);
	assert_non_null(strstr(w.req, "\r\nContent-Length: 0\r\n"));
	assert_null(strstr(w.req, "application/json"));

	wire_request("DELETE", NULL, tok, &w);
	assert_memory_equal(w.req, "DELETE /v1/auth/token/lookup-self HTTP/1.1\r\n", 44);

	secret_unref(tok);
}

static void test_setup_reused_handle(void **state)
{
	CURL *h = curl_easy_init();
	struct wire w;

	(void)state;
	/* A method set for one request must not leak into the next. */
	w.answer = NULL;
	wire_request_on(h, "DELETE", NULL, NULL, &w);
	assert_memory_equal(w.req, "DELETE /v1/", 11);
	wire_request_on(h, "GET", NULL, NULL, &w);
	assert_memory_equal(w.req, "GET /v1/", 8);
	wire_request_on(h, "PUT", "{}", NULL, &w);
	assert_memory_equal(w.req, "PUT /v1/", 8);
	wire_request_on(h, "POST", "{}", NULL, &w);
	assert_memory_equal(w.req, "POST /v1/", 9);
	curl_easy_cleanup(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_2xx),
	    cmocka_unit_test(test_status_400_auth),
	    cmocka_unit_test(test_status_400_other),
	    cmocka_unit_test(test_status_403),
	    cmocka_unit_test(test_status_404),
	    cmocka_unit_test(test_status_429),
	    cmocka_unit_test(test_status_503),
	    cmocka_unit_test(test_status_500),
	    cmocka_unit_test(test_status_long_errors_truncated),
	    cmocka_unit_test(test_setup_url),
	    cmocka_unit_test(test_setup_url_too_long),
	    cmocka_unit_test(test_setup_headers),
	    cmocka_unit_test(test_setup_namespace_too_long),
	    cmocka_unit_test(test_headers_free),
	    cmocka_unit_test(test_setup_on_the_wire),
	    cmocka_unit_test(test_setup_reused_handle),
	    cmocka_unit_test(test_setup_does_not_follow_redirects),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
