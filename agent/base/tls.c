/* tls.c - the listener's TLS: a server SSL_CTX from PEM files, and sessions
 * over memory BIOs (see tls.h).  OpenSSL allocates through wipe.h (set up
 * in main.c), so record buffers with request bytes are wiped when freed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "base/tls.h"

/* Mozilla's "intermediate" TLS 1.2 list: ECDHE, AEAD only. */
#define TLS12_CIPHERS                                                                    \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                     \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                     \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

struct tls_ctx {
	SSL_CTX *ssl;
	int refs;
};

struct tls_conn {
	SSL *ssl;
	BIO *in;  /* ciphertext from the peer, read by OpenSSL */
	BIO *out; /* ciphertext for the peer, written by OpenSSL */
	char error[128];
};

/* OpenSSL's first queued error as text (the queue is emptied). */
static void ssl_error(char *buf, size_t len, const char *fallback)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, len, "%s", fallback);
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
}

/* ALPN: http/1.1 or nothing.  A client without ALPN is served (curl with
 * --no-alpn, old senders); one that offers only others is refused. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h11[] = "\x08http/1.1";
	unsigned char *sel = NULL;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, h11, sizeof(h11) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* The certificate must be valid now: not expired, not before its time. */
static int check_validity(SSL_CTX *ctx, const char *cert_file, time_t *ret_not_after,
			  char *errbuf, size_t errlen)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	const ASN1_TIME *na, *nb;
	struct tm tm;
	char when[64];

	if (x == NULL) {
		snprintf(errbuf, errlen, "%s: no certificate in the file", cert_file);
		return -EINVAL;
	}
	na = X509_get0_notAfter(x);
	nb = X509_get0_notBefore(x);
	if (ASN1_TIME_to_tm(na, &tm) == 1) {
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		if (ret_not_after != NULL)
			*ret_not_after = timegm(&tm);
	} else {
		snprintf(when, sizeof(when), "an unreadable date");
	}
	if (X509_cmp_current_time(na) <= 0) {
		snprintf(errbuf, errlen,
			 "%s: the certificate expired on %s; renew it and "
			 "reload (SIGHUP)",
			 cert_file, when);
		return -EINVAL;
	}
	if (X509_cmp_current_time(nb) >= 0) {
		snprintf(errbuf, errlen,
			 "%s: the certificate is not valid yet (notBefore "
			 "is in the future); check the clock or the certificate",
			 cert_file);
		return -EINVAL;
	}
	return 0;
}

/* "file: cannot load what: OpenSSL's reason" into errbuf; returns -EINVAL. */
static int load_failed(const char *file, const char *what, char *errbuf, size_t errlen)
{
	char why[256];

	ssl_error(why, sizeof(why), "unreadable");
	snprintf(errbuf, errlen, "%s: cannot load %s: %s", file, what, why);
	return -EINVAL;
}

static int load_files(SSL_CTX *ctx, const char *cert_file, const char *key_file,
		      char *errbuf, size_t errlen)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
		return load_failed(cert_file,
				   "the certificate chain (PEM, the server's certificate "
				   "first)",
				   errbuf, errlen);
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
			goto mismatch; /* checked against the certificate on load */
		return load_failed(key_file, "the private key (PEM, not encrypted)",
				   errbuf, errlen);
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
	mismatch:
		ERR_clear_error();
		snprintf(errbuf, errlen,
			 "%s: the private key does not match the "
			 "certificate in %s; give the key the certificate was made for",
			 key_file, cert_file);
		return -EINVAL;
	}
	return 0;
}

int tls_ctx_load(const char *cert_file, const char *key_file, struct tls_ctx **ret,
		 time_t *ret_not_after, char *errbuf, size_t errlen)
{
	struct tls_ctx *t = calloc(1, sizeof(*t));
	int r = -ENOMEM;

	*ret = NULL;
	snprintf(errbuf, errlen, "out of memory");
	if (t == NULL)
		return r;
	t->refs = 1;
	t->ssl = SSL_CTX_new(TLS_server_method());
	if (t->ssl == NULL)
		goto fail;
	r = -EINVAL;
	if (SSL_CTX_set_min_proto_version(t->ssl, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(t->ssl, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(t->ssl, TLS12_CIPHERS) != 1) {
		snprintf(errbuf, errlen, "cannot set the TLS versions and ciphers");
		goto fail;
	}
	SSL_CTX_set_options(t->ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_alpn_select_cb(t->ssl, alpn_select, NULL);
	r = load_files(t->ssl, cert_file, key_file, errbuf, errlen);
	if (r == 0)
		r = check_validity(t->ssl, cert_file, ret_not_after, errbuf, errlen);
	if (r < 0)
		goto fail;
	errbuf[0] = '\0';
	*ret = t;
	return 0;
fail:
	ERR_clear_error();
	tls_ctx_unref(t);
	return r;
}

struct tls_ctx *tls_ctx_ref(struct tls_ctx *t)
{
	t->refs++;
	return t;
}

void tls_ctx_unref(struct tls_ctx *t)
{
	if (t == NULL || --t->refs > 0)
		return;
	SSL_CTX_free(t->ssl); /* sessions still open hold their own reference */
	free(t);
}

struct tls_conn *tls_conn_new(struct tls_ctx *ctx)
{
	struct tls_conn *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->ssl = SSL_new(ctx->ssl);
	t->in = BIO_new(BIO_s_mem());
	t->out = BIO_new(BIO_s_mem());
	if (t->ssl == NULL || t->in == NULL || t->out == NULL) {
		BIO_free(t->in);
		BIO_free(t->out);
		SSL_free(t->ssl);
		free(t);
		ERR_clear_error();
		return NULL;
	}
	BIO_set_mem_eof_return(t->in, -1);  /* empty: "retry", not end of file */
	SSL_set_bio(t->ssl, t->in, t->out); /* owned by ssl from here */
	SSL_set_accept_state(t->ssl);
	return t;
}

void tls_conn_free(struct tls_conn *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl);
	free(t);
}

long tls_conn_feed(struct tls_conn *t, const char *in, size_t len, char *out,
		   size_t outlen)
{
	size_t got = 0;

	if (len > 0 && BIO_write(t->in, in, (int)len) != (int)len) {
		snprintf(t->error, sizeof(t->error), "out of memory");
		return -EPROTO;
	}
	for (;;) {
		size_t n = 0;
		int r, e;

		if (got == outlen)
			return SSL_pending(t->ssl) > 0 || BIO_ctrl_pending(t->in) > 0
				   ? -ENOBUFS
				   : (long)got;
		r = SSL_read_ex(t->ssl, out + got, outlen - got, &n);
		if (r == 1) {
			got += n;
			continue;
		}
		e = SSL_get_error(t->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return (long)got;
		if (e == SSL_ERROR_ZERO_RETURN)
			return got > 0 ? (long)got : -EPIPE;
		ssl_error(t->error, sizeof(t->error), "protocol error");
		return -EPROTO;
	}
}

int tls_conn_write(struct tls_conn *t, const char *plain, size_t len)
{
	size_t n = 0;

	if (len == 0)
		return 0;
	/* Memory BIOs grow: one call writes everything, in records. */
	if (SSL_write_ex(t->ssl, plain, len, &n) != 1 || n != len) {
		ssl_error(t->error, sizeof(t->error), "cannot encrypt");
		return -EPROTO;
	}
	return 0;
}

void tls_conn_shutdown(struct tls_conn *t)
{
	if (SSL_is_init_finished(t->ssl))
		(void)SSL_shutdown(t->ssl); /* our close_notify; not waiting for theirs */
	ERR_clear_error();
}

long tls_conn_take_out(struct tls_conn *t, char **ret)
{
	size_t n = BIO_ctrl_pending(t->out);
	char *p;

	*ret = NULL;
	if (n == 0)
		return 0;
	p = malloc(n);
	if (p == NULL)
		return -ENOMEM;
	if (BIO_read(t->out, p, (int)n) != (int)n) {
		free(p);
		return -ENOMEM;
	}
	*ret = p;
	return (long)n;
}

bool tls_conn_established(const struct tls_conn *t)
{
	return SSL_is_init_finished(t->ssl);
}

const char *tls_conn_error(const struct tls_conn *t)
{
	return t->error[0] != '\0' ? t->error : "no error";
}
