/* url.h - the origin of a URL (scheme, host, port) as libcurl parses it:
 * what decides whether credentials may go to a URL.  No I/O.
 *
 * The daemon sends a credential (Vault token, AppRole login, registry
 * token) only to the origin it was configured for.  Origins are compared
 * after parsing with libcurl's own URL parser, the one that decides where
 * a request connects to, so a URL cannot look like one host to the check
 * and connect to another.
 */
#ifndef AOS_URL_H
#define AOS_URL_H

#include <stdbool.h>
#include <stddef.h>

/* Room for any origin url_origin() writes. */
#define URL_ORIGIN_MAX 320

/* Writes "scheme://host:port" of the absolute URL url into out: scheme and
 * host in lower case, the scheme's default port written out.  Returns 0,
 * AOS_EPARSE (not an absolute URL libcurl accepts) or AOS_ETOOBIG. */
int url_origin(const char *url, char *out, size_t outlen);

/* True when a and b are absolute URLs of the same origin; false when they
 * differ or either cannot be parsed. */
bool url_same_origin(const char *a, const char *b);

/* Resolves ref (an absolute URL or a reference relative to base, as in a
 * Location header) against the absolute URL base, into out.  Returns 0,
 * AOS_EPARSE, AOS_ETOOBIG or -ENOMEM. */
int url_resolve(const char *base, const char *ref, char *out, size_t outlen);

#endif
