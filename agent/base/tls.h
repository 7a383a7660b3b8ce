/* tls.h - TLS for the inbound listener: a server context loaded from PEM
 * files, and per connection an OpenSSL session over memory BIOs, so the
 * socket stays libuv's and the session never blocks.
 *
 * The context allows TLS 1.2 and 1.3 only, with forward-secret AEAD
 * ciphers for 1.2 (TLS 1.3's are all AEAD), no renegotiation and no
 * compression, and selects ALPN "http/1.1" (a client that offers only other
 * protocols is refused with no_application_protocol).  Loading refuses a
 * key that does not match the certificate and a certificate outside its
 * validity period, with a message naming the file and what to do.
 */
#ifndef AOS_TLS_H
#define AOS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct tls_ctx;
struct tls_conn;

/* Loads cert_file (the certificate, then its chain) and key_file.  Returns
 * 0 and *ret (refcount 1), or a negative errno / -EINVAL with errbuf set.
 * *ret_not_after (if not NULL) gets the certificate's expiry. */
int tls_ctx_load(const char *cert_file, const char *key_file, struct tls_ctx **ret,
		 time_t *ret_not_after, char *errbuf, size_t errlen);
struct tls_ctx *tls_ctx_ref(struct tls_ctx *t);
void tls_ctx_unref(struct tls_ctx *t); /* accepts NULL */

/* A server session of ctx; NULL when out of memory. */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx);
void tls_conn_free(struct tls_conn *t); /* accepts NULL */

/* Feeds ciphertext from the peer and decrypts what it completes into
 * out[0..outlen): returns the plaintext bytes (0: none yet, e.g. during the
 * handshake), or -EPROTO (a TLS error or an alert: the connection must
 * close after flushing tls_conn_take_out()), -EPIPE (the peer sent
 * close_notify) or -ENOBUFS (outlen too small: a bug of the caller, since
 * plaintext never exceeds the ciphertext fed plus the one partial record
 * kept from before, so outlen >= len + TLS_RECORD_MAX always fits). */
#define TLS_RECORD_MAX (16384 + 2048)
long tls_conn_feed(struct tls_conn *t, const char *in, size_t len, char *out,
		   size_t outlen);

/* Encrypts plain[0..len) for the peer (appended to the output).  Returns 0,
 * or -EPROTO / -ENOMEM. */
int tls_conn_write(struct tls_conn *t, const char *plain, size_t len);

/* Queues close_notify for the peer. */
void tls_conn_shutdown(struct tls_conn *t);

/* The ciphertext waiting to be sent, in a new buffer (*ret, free() it):
 * returns its length (0: nothing, *ret NULL), or -ENOMEM. */
long tls_conn_take_out(struct tls_conn *t, char **ret);

/* Whether the handshake has completed. */
bool tls_conn_established(const struct tls_conn *t);

/* Why the last -EPROTO happened (OpenSSL's reason), for logs. */
const char *tls_conn_error(const struct tls_conn *t);

#endif
