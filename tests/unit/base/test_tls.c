/* Unit tests for agent/base/tls.c: a server session driven through memory
 * by an OpenSSL client in the same process (no sockets): the handshake,
 * data both ways, ALPN, the versions refused, garbage and close_notify;
 * and the context's refusals (key mismatch, expired, not yet valid,
 * missing files) with messages that name the file. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ssl.h>

#include "base/tls.h"
#include "tests/unit/base/tls_fixture.h"

static char dir[] = "/tmp/aos-test-tls-XXXXXX";
static char crt[96], key[96], crt2[96], key2[96];
static char plain[65536 + TLS_RECORD_MAX];

/* A client of the fixture's certificate over two memory BIOs. */
struct client {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *in, *out;
};

static void client_new(struct client *c, int max_version, const char *alpn_wire)
{
	c->ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(c->ctx);
	SSL_CTX_set_max_proto_version(c->ctx, max_version);
	SSL_CTX_set_min_proto_version(c->ctx,
				      max_version == TLS1_1_VERSION ? TLS1_VERSION : 0);
	SSL_CTX_set_security_level(c->ctx, 0); /* let the client offer TLS 1.1 */
	c->ssl = SSL_new(c->ctx);
	c->in = BIO_new(BIO_s_mem());
	c->out = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(c->in, -1);
	SSL_set_bio(c->ssl, c->in, c->out);
	SSL_set_connect_state(c->ssl);
	if (alpn_wire != NULL)
		SSL_set_alpn_protos(c->ssl, (const unsigned char *)alpn_wire,
				    (unsigned)strlen(alpn_wire));
}

static void client_free(struct client *c)
{
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
}

/* Moves bytes both ways until neither side has more: returns the last
 * tls_conn_feed() result (plaintext the server got is in plain). */
static long pump(struct client *c, struct tls_conn *t)
{
	long r = 0, got = 0;
	char buf[32768], *out;
	int i, n;

	for (i = 0; i < 20; i++) {
		(void)SSL_do_handshake(c->ssl);
		n = BIO_read(c->out, buf, sizeof(buf));
		if (n > 0) {
			r = tls_conn_feed(t, buf, (size_t)n, plain + got,
					  sizeof(plain) - (size_t)got);
			if (r < 0)
				return r;
			got += r;
		}
		r = tls_conn_take_out(t, &out);
		assert_true(r >= 0);
		if (r > 0)
			assert_int_equal(BIO_write(c->in, out, (int)r), (int)r);
		free(out);
		if (n <= 0 && r == 0)
			break;
	}
	return got;
}

static void test_handshake_and_data(void **state)
{
	struct tls_ctx *ctx;
	struct tls_conn *t;
	struct client c;
	char err[512], back[64], *out;
	const unsigned char *proto;
	unsigned plen;
	time_t until = 0;
	long n;

	(void)state;
	assert_int_equal(tls_ctx_load(crt, key, &ctx, &until, err, sizeof(err)), 0);
	assert_true(until > time(NULL));
	t = tls_conn_new(ctx);
	tls_ctx_unref(ctx); /* the session keeps it */
	client_new(&c, TLS1_3_VERSION, "\x02h2\x08http/1.1");
	assert_int_equal(pump(&c, t), 0);
	assert_true(tls_conn_established(t));
	SSL_get0_alpn_selected(c.ssl, &proto, &plen);
	assert_int_equal(plen, 8);
	assert_memory_equal(proto, "http/1.1", 8);
	/* A request split over two records, then the answer. */
	assert_int_equal(SSL_write(c.ssl, "GET / HTTP/1.1\r\n", 16), 16);
	assert_int_equal(SSL_write(c.ssl, "\r\n", 2), 2);
	n = pump(&c, t);
	assert_int_equal(n, 18);
	assert_memory_equal(plain, "GET / HTTP/1.1\r\n\r\n", 18);
	assert_int_equal(tls_conn_write(t, "HTTP/1.1 200 OK\r\n", 17), 0);
	n = tls_conn_take_out(t, &out);
	assert_true(n > 17); /* a record, not the plaintext */
	assert_int_equal(BIO_write(c.in, out, (int)n), (int)n);
	free(out);
	assert_int_equal(SSL_read(c.ssl, back, sizeof(back)), 17);
	assert_memory_equal(back, "HTTP/1.1 200 OK\r\n", 17);
	/* The client's close_notify ends it. */
	SSL_shutdown(c.ssl);
	assert_int_equal(pump(&c, t), -EPIPE);
	client_free(&c);
	tls_conn_free(t);
}

/* What the listener refuses at the handshake: TLS 1.1, ALPN without
 * http/1.1, bytes that are not TLS. */
static void test_refused_handshakes(void **state)
{
	struct tls_ctx *ctx;
	struct tls_conn *t;
	struct client c;
	char err[512];

	(void)state;
	assert_int_equal(tls_ctx_load(crt, key, &ctx, NULL, err, sizeof(err)), 0);
	t = tls_conn_new(ctx);
	client_new(&c, TLS1_1_VERSION, NULL);
	assert_int_equal(pump(&c, t), -EPROTO);
	assert_non_null(strstr(tls_conn_error(t), "protocol"));
	client_free(&c);
	tls_conn_free(t);

	t = tls_conn_new(ctx);
	client_new(&c, TLS1_3_VERSION, "\x02h2");
	assert_int_equal(pump(&c, t), -EPROTO);
	assert_false(tls_conn_established(t));
	client_free(&c);
	tls_conn_free(t);

	t = tls_conn_new(ctx);
	assert_int_equal(
	    tls_conn_feed(t, "GET / HTTP/1.1\r\n\r\n", 18, plain, sizeof(plain)),
	    -EPROTO);
	tls_conn_free(t);
	tls_ctx_unref(ctx);
}

static void expect_load_fails(const char *c, const char *k, const char *want1,
			      const char *want2)
{
	struct tls_ctx *ctx = (struct tls_ctx *)1;
	char err[768];

	assert_int_equal(tls_ctx_load(c, k, &ctx, NULL, err, sizeof(err)), -EINVAL);
	assert_null(ctx);
	if (strstr(err, want1) == NULL || strstr(err, want2) == NULL)
		fail_msg("\"%s\" lacks \"%s\" or \"%s\"", err, want1, want2);
}

static void test_load_refusals(void **state)
{
	char bad[128];

	(void)state;
	expect_load_fails(crt, key2, key2, "does not match the certificate");
	assert_true(tls_fixture_write(crt2, key2, "old", -7200, -3600, NULL));
	expect_load_fails(crt2, key2, crt2, "expired on");
	assert_true(tls_fixture_write(crt2, key2, "future", 3600, 7200, NULL));
	expect_load_fails(crt2, key2, crt2, "not valid yet");
	snprintf(bad, sizeof(bad), "%s/none.pem", dir);
	expect_load_fails(bad, key, bad, "cannot load the certificate chain");
	expect_load_fails(crt, bad, bad, "cannot load the private key");
}

static int setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(crt, sizeof(crt), "%s/c.pem", dir);
	snprintf(key, sizeof(key), "%s/k.pem", dir);
	snprintf(crt2, sizeof(crt2), "%s/c2.pem", dir);
	snprintf(key2, sizeof(key2), "%s/k2.pem", dir);
	return tls_fixture_write(crt, key, "test", -60, 86400, NULL) &&
		       tls_fixture_write(crt2, key2, "other", -60, 86400, NULL)
		   ? 0
		   : -1;
}

static int teardown(void **state)
{
	(void)state;
	unlink(crt);
	unlink(key);
	unlink(crt2);
	unlink(key2);
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handshake_and_data),
	    cmocka_unit_test(test_refused_handshakes),
	    cmocka_unit_test(test_load_refusals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
