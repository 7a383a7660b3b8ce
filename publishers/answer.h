/* answer.h - what a registry's answer means, and what it holds.
 *
 * answer_classify() turns a finished request (status, a few headers, body)
 * into one of a handful of outcomes the worker acts on, per registry type,
 * with the server's own reason quoted (sanitized and bounded) and a short
 * explanation.  The other functions read the documents used to settle an
 * "exists" answer or to learn whether an interrupted send arrived: what a
 * GET of one answered (answer_index_classify), a PyPI JSON API or simple
 * index page (the file's sha256), and an npm packument (dist-tags.latest,
 * versions[v].dist).
 */
#ifndef AOS_ANSWER_H
#define AOS_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <curl/curl.h>

enum registry_type {
	REGISTRY_PYPI = 1, /* legacy upload API: PyPI, TestPyPI, pypiserver, devpi */
	REGISTRY_NPM,	   /* npm registry API: npmjs, verdaccio */
};

enum answer_kind {
	ANSWER_OK = 1,	  /* published */
	ANSWER_EXISTS,	  /* already there: compare digests (identical is success) */
	ANSWER_CONFLICT,  /* a different file holds the name/version for good */
	ANSWER_AUTH,	  /* token refused: refresh the secret, retry once if newer */
	ANSWER_RETRY,	  /* 408/429/5xx or no answer: retry with backoff */
	ANSWER_TOO_LARGE, /* 413: over the registry's body limit */
	ANSWER_PERMANENT, /* any other refusal: do not retry */
};

#define ANSWER_REASON_MAX 256  /* bound on the quoted server reason */
#define ANSWER_MESSAGE_MAX 512 /* bound on the explanation */
#define ANSWER_RETRY_MAX 86400 /* Retry-After values are capped at a day */

/* A finished request, as the transport saw it.  Strings may be NULL. */
struct answer_input {
	long status;		      /* HTTP status, 0 if no answer came */
	const char *reason_phrase;    /* status line text after the code */
	const char *retry_after;      /* Retry-After header value */
	const char *www_authenticate; /* WWW-Authenticate header value */
	const char *location;	      /* Location header value */
	const char *content_type;     /* Content-Type header value */
	const char *body;	      /* body bytes (need not be NUL-terminated) */
	size_t body_len;
	time_t now; /* for Retry-After dates; 0 means time(NULL) */
};

struct answer {
	enum answer_kind kind;
	long status;
	long retry_after;  /* seconds to wait, -1 if the server said nothing */
	bool scoped_token; /* PyPI: the token is limited to other projects */
	char reason[ANSWER_REASON_MAX];	  /* the server's words, "" if none */
	char message[ANSWER_MESSAGE_MAX]; /* what it means, for the operator */
};

/* Classifies in for a registry of type into *ret.  Never fails. */
void answer_classify(enum registry_type type, const struct answer_input *in,
		     struct answer *ret);

/* "ok", "exists", "conflict", "auth", "retry", "too-large", "permanent". */
const char *answer_kind_name(enum answer_kind kind);

/* Seconds from now a Retry-After value (delta-seconds or HTTP-date) asks
 * for, capped at ANSWER_RETRY_MAX; 0 for a date in the past; -1 if value is
 * not valid. */
long answer_retry_after(const char *value, time_t now);

/* Parses an HTTP status line ("HTTP/1.1 400 File already exists...") of
 * len bytes, as seen by a CURLOPT_HEADERFUNCTION.  Returns 0, sets
 * *ret_status and copies the reason phrase (sanitized, may be empty) into
 * out; -EINVAL if line is not a status line. */
int answer_status_line(const char *line, size_t len, long *ret_status, char *out,
		       size_t outlen);

/* Fills the status and header fields of *in from a finished transfer on h
 * (curl_easy_header); the reason phrase and body are the caller's.  The
 * strings stay valid until h's next transfer.  Returns 0 or AOS_EHTTP. */
int answer_input_from_curl(CURL *h, struct answer_input *in);

/* Finds filename's sha256 in a PyPI answer: the JSON API
 * ({"urls": [{"filename", "digests": {"sha256"}}]}), the PEP 691 JSON simple
 * API ({"files": [{"filename", "hashes": {"sha256"}}]}) or a PEP 503 HTML
 * page (<a href="...#sha256=HEX">filename</a>).  Returns 0 and writes 64 hex
 * digits and a NUL into ret_sha256, or AOS_ENOTFOUND (file not listed),
 * PUB_ENODIGEST (listed without a sha256), AOS_EPARSE. */
int answer_pypi_file_sha256(const char *body, size_t len, const char *filename,
			    char ret_sha256[65]);

/* The form of a PyPI page, from its Content-Type (answer_pypi_page_format). */
enum pypi_page_format {
	PYPI_PAGE_UNKNOWN = 0, /* no or another Content-Type: the body is sniffed */
	PYPI_PAGE_JSON,	       /* application/vnd.pypi.simple.v1+json (PEP 691) */
	PYPI_PAGE_HTML,	       /* text/html or application/vnd.pypi.simple.v1+html */
	PYPI_PAGE_JSON_API,    /* application/json: the project JSON API */
};

/* The form content_type (may be NULL; parameters and case ignored) names. */
enum pypi_page_format answer_pypi_page_format(const char *content_type);

/* "PEP 691 JSON", "PEP 503 HTML", "JSON API", "unknown form". */
const char *answer_pypi_page_format_name(enum pypi_page_format format);

/* What a GET of an index page or packument answered, when the question is
 * "is this file (or version) on the registry?". */
enum index_kind {
	INDEX_FOUND = 1, /* 200: read the document */
	INDEX_ABSENT,	 /* 404, 410, or a redirect to another origin (pypiserver's
			  * fallback to its upstream): not on this registry */
	INDEX_FOLLOW,	 /* a redirect on the same origin: ask again at location */
	INDEX_AUTH,	 /* 401, 403 */
	INDEX_RETRY,	 /* no answer, 408, 429, 5xx: ask again later */
	INDEX_FAILED,	 /* anything else: a redirect without a usable Location or
			  * past ANSWER_INDEX_HOPS, another status */
};

#define ANSWER_INDEX_HOPS 3  /* same-origin redirects followed per question */
#define ANSWER_URL_MAX 1024  /* bound on a redirect's target */
#define ANSWER_SAID_MAX 1280 /* bound on index_answer.said */

struct index_answer {
	enum index_kind kind;
	char location[ANSWER_URL_MAX]; /* the redirect's target, absolute; "" if none */
	char said[ANSWER_SAID_MAX];    /* what was asked and answered, for messages:
					* "GET URL: HTTP 303 See Other, to LOC ..." */
};

/* Classifies the answer to "GET url": status (0 if no answer came; error
 * then says why, may be NULL), reason phrase and Location header (either may
 * be NULL), after hops same-origin redirects already followed.  A relative
 * Location is resolved against url.  Never fails. */
void answer_index_classify(const char *url, long status, const char *reason,
			   const char *location, const char *error, unsigned hops,
			   struct index_answer *ret);

#define ANSWER_INTEGRITY_MAX 512

/* What a packument says about one version. */
struct answer_packument {
	bool has_latest;
	char latest[256];		      /* dist-tags.latest */
	bool has_version;		      /* versions[v] exists */
	char integrity[ANSWER_INTEGRITY_MAX]; /* versions[v].dist.integrity, "" if none */
	char shasum[41];		      /* versions[v].dist.shasum, "" if none */
};

/* Reads dist-tags.latest and, when version is not NULL, versions[version]
 * .dist from an npm packument (full or abbreviated).  Returns 0 and fills
 * *ret, or AOS_EPARSE. */
int answer_npm_packument(const char *body, size_t len, const char *version,
			 struct answer_packument *ret);

/* Settles an "exists" answer for PyPI: ANSWER_OK if the registry's sha256
 * equals ours (case-insensitive hex), else ANSWER_CONFLICT; msg names the
 * file and both digests. */
enum answer_kind answer_pypi_identity(const char *filename, const char *ours,
				      const char *theirs, char *msg, size_t msglen);

/* Settles an "exists" answer for npm from the packument: ANSWER_OK if one of
 * versions[v].dist.integrity's sha512 entries equals our SRI (or, lacking
 * any, its shasum our sha1), else ANSWER_CONFLICT; msg names both. */
enum answer_kind answer_npm_identity(const char *spec, const char *our_sri,
				     const char *our_sha1,
				     const struct answer_packument *p, char *msg,
				     size_t msglen);

#endif
