/* registry.h - what every registry request shares: URL policy, the
 * options set on each curl easy handle, and Authorization headers.
 *
 * Registry URLs come from configuration.  They must be https, except that
 * plain http is allowed to loopback hosts (127.0.0.0/8, ::1, localhost) for
 * local test registries; they must not carry user info (tokens come from
 * the secret store only).  libcurl never follows a redirect: for an upload a
 * 3xx answer is an error the caller reports; for a read of an index or
 * packument the caller decides with answer_index_classify() (answer.h).
 */
#ifndef AOS_REGISTRY_H
#define AOS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

struct secret;

#ifndef AOS_VERSION
#define AOS_VERSION "0.0.0" /* set by the build (CMakeLists.txt) */
#endif
#define REGISTRY_USER_AGENT "aos-publishd/" AOS_VERSION

/* Checks url against the policy above.  Returns 0, or PUB_EURL with errbuf
 * saying why; *ret_loopback (may be NULL) tells whether the host is a
 * loopback one. */
int registry_check_url(const char *url, bool *ret_loopback, char *errbuf, size_t errlen);

/* Sets on h: the URL (checked as above), the protocols allowed (https, or
 * http for a loopback URL), no redirects, the User-Agent.  Returns 0,
 * PUB_EURL, or AOS_EHTTP if curl refused an option (errbuf says which). */
int registry_easy_setup(CURL *h, const char *url, char *errbuf, size_t errlen);

/* Appends "Authorization: Basic base64(user:token)" to *list (a new list if
 * *list is NULL).  Returns 0 or -ENOMEM.  The list holds the credential:
 * release it with registry_headers_free(), which wipes it. */
int registry_auth_basic(struct curl_slist **list, const char *user,
			const struct secret *token);

/* Appends "Authorization: Bearer <token>" to *list; as registry_auth_basic. */
int registry_auth_bearer(struct curl_slist **list, const struct secret *token);

/* Appends a plain header line ("Name: value") to *list.  Returns 0 or
 * -ENOMEM. */
int registry_header(struct curl_slist **list, const char *line);

/* Wipes every header string, then frees the list; accepts NULL.  Call it
 * only once the transfer using the list is over. */
void registry_headers_free(struct curl_slist *list);

/* Sets h up for a GET of url (registry_easy_setup) with the header line
 * accept and, when token is not NULL, "Authorization: Bearer".  Returns 0 and
 * *ret_headers, set on h: free them with registry_headers_free() once the
 * transfer is over; or -ENOMEM, PUB_EURL, or AOS_EHTTP with errbuf naming
 * what (e.g. "whoami") when curl refused an option. */
int registry_get_setup(CURL *h, const char *url, const char *accept,
		       const struct secret *token, const char *what,
		       struct curl_slist **ret_headers, char *errbuf, size_t errlen);

/* Joins base and a path segment with exactly one "/" between them.  Returns
 * a malloc'ed string or NULL. */
char *registry_join(const char *base, const char *segment);

#endif
