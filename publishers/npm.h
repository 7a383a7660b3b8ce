/* npm.h - publishing tarballs to npm-style registries.
 *
 * A publish is "PUT <registry>/<escaped name>" of a JSON document holding
 * the version's manifest and the tarball base64-encoded in _attachments.
 * The document is streamed: a JSON prefix, the tarball encoded as it is
 * read from disk, a suffix; its exact length is known up front, so memory
 * use does not grow with the tarball.  Dist-tags follow npm 11's client-side
 * rules (npm_dist_tag).
 */
#ifndef AOS_NPM_H
#define AOS_NPM_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

struct artifact;
struct secret;
struct npm_body;
struct npm_publish;

/* The registry URL of a package document: registry joined with the name,
 * a scoped name escaped as "@scope%2fname".  Returns a malloc'ed string or
 * NULL. */
char *npm_package_url(const char *registry, const char *name);

/* The dist.tarball URL npm records: "<registry>/<name>/-/<name>-<version>.tgz"
 * (name unescaped, as npm writes it).  Returns a malloc'ed string or NULL. */
char *npm_tarball_url(const char *registry, const char *name, const char *version);

/* Applies npm 11's dist-tag rules to publishing version: tag is the tag
 * asked for (NULL or "" for none), current_latest the registry's
 * dist-tags.latest (NULL if the package or the tag does not exist yet).
 * A prerelease needs an explicit tag; "latest" never moves to a version
 * lower than current_latest; a tag must not look like a version or range.
 * Returns 0 and sets *ret_tag (tag itself or the static "latest"), or
 * PUB_ETAG with errbuf saying why. */
int npm_dist_tag(const char *version, const char *tag, const char *current_latest,
		 const char **ret_tag, char *errbuf, size_t errlen);

struct npm_publish_opts {
	const char *registry;	    /* base URL, e.g. http://127.0.0.1:4873/ */
	const char *tag;	    /* dist-tag, already checked with npm_dist_tag */
	const char *access;	    /* NULL (sent as null), "public" or "restricted" */
	const struct secret *token; /* Bearer token; NULL sends none */
};

/* Builds the streamed publish document for the npm artifact a: root _id,
 * name, description, dist-tags {tag: version}, versions {version: the
 * tarball's package.json + _id + dist {integrity, shasum, tarball}},
 * access, _attachments {"<name>-<version>.tgz": {content_type, length,
 * data}}, and opens the tarball (checking it is the file inspected).
 * Returns 0 and sets *ret (free with npm_body_free), or -EINVAL (not an npm
 * artifact, "restricted" for an unscoped name, a private package),
 * PUB_EJSON, PUB_ECHANGED, -errno or -ENOMEM with errbuf set. */
int npm_body_new(const struct artifact *a, const struct npm_publish_opts *o,
		 struct npm_body **ret, char *errbuf, size_t errlen);

/* The exact number of bytes the document has. */
uint64_t npm_body_length(const struct npm_body *b);

/* CURLOPT_READFUNCTION for the document (userdata: the npm_body).  Returns
 * the bytes written, 0 at the end, or CURL_READFUNC_ABORT if the tarball
 * changed or could not be read (npm_body_error then says why). */
size_t npm_body_read(char *buf, size_t size, size_t nitems, void *userdata);

/* CURLOPT_SEEKFUNCTION: rewinds to the start (offset 0, SEEK_SET) for a
 * resend; other seeks answer CURL_SEEKFUNC_CANTSEEK. */
int npm_body_seek(void *userdata, curl_off_t offset, int origin);

/* The document as it would be sent, but with placeholder (JSON string
 * content: no quote, no backslash) instead of the base64 tarball, for a
 * dry run.  Returns a malloc'ed NUL-terminated string, or NULL. */
char *npm_body_shown(const struct npm_body *b, const char *placeholder);

/* Bytes produced so far, and why reading stopped ("" if it did not). */
uint64_t npm_body_produced(const struct npm_body *b);
const char *npm_body_error(const struct npm_body *b);

/* Frees b and closes the tarball; accepts NULL. */
void npm_body_free(struct npm_body *b);

/* Configures h for the publish PUT: registry_easy_setup() on the package
 * URL, the streamed body with its Content-Length, "Content-Type:
 * application/json", Bearer auth.  Returns 0 and sets *ret, which owns the
 * body and the header list (free it with npm_publish_free once the transfer
 * is over, before h is reused or freed), or npm_body_new's errors, PUB_EURL
 * or AOS_EHTTP, with errbuf set. */
int npm_publish_setup(CURL *h, const struct artifact *a, const struct npm_publish_opts *o,
		      struct npm_publish **ret, char *errbuf, size_t errlen);

/* The publish's document (owned by p). */
struct npm_body *npm_publish_body(struct npm_publish *p);

/* Wipes the credential header and frees p; accepts NULL. */
void npm_publish_free(struct npm_publish *p);

/* Configures h for "GET <registry>/<escaped name>" (the packument, to read
 * dist-tags and versions[v].dist.integrity before and after a publish),
 * with Bearer auth when token is not NULL.  Returns 0 and sets *ret_headers
 * (free with registry_headers_free once the transfer is over), PUB_EURL,
 * AOS_EHTTP or -ENOMEM with errbuf set. */
int npm_packument_setup(CURL *h, const char *registry, const char *name,
			const struct secret *token, struct curl_slist **ret_headers,
			char *errbuf, size_t errlen);

#endif
