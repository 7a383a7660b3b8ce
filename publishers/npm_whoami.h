/* npm_whoami.h - asking an npm registry whose token this is:
 * "GET <registry>/-/whoami" with Bearer auth, answered {"username": NAME}
 * (npm/cli lib/commands/whoami.js through npm-registry-fetch; verdaccio
 * answers it too).  How a daemon learns that a rotated token is refused
 * before a release needs it. */
#ifndef AOS_NPM_WHOAMI_H
#define AOS_NPM_WHOAMI_H

#include <stddef.h>

#include <curl/curl.h>

#include "common/secret.h"

/* Configures h for the request.  Returns 0 and *ret_headers (free with
 * registry_headers_free once the transfer is over), or PUB_EURL /
 * AOS_EHTTP / -ENOMEM with errbuf set. */
int npm_whoami_setup(CURL *h, const char *registry, const struct secret *token,
		     struct curl_slist **ret_headers, char *errbuf, size_t errlen);

/* Reads the answer: 0 and the account name in user (a 200 with a string
 * "username"), -EACCES when the registry refuses the token (401, 403, or
 * a 200 without a username: anonymous), -EPROTO for anything else; msg says what was
 * answered (the name and the body quoted for display, never the token). */
int npm_whoami_answer(long status, const char *body, size_t len, char *user,
		      size_t userlen, char *msg, size_t msglen);

#endif
