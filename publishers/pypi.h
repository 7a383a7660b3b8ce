/* pypi.h - upload of wheels and sdists to PyPI-style registries.
 *
 * The legacy upload API (PyPI and TestPyPI ".../legacy/", pypiserver "/",
 * devpi "/<user>/<index>/") takes a multipart/form-data POST with the
 * fields twine sends and the file as the part "content".  The fields are
 * built first as a plain list (struct pypi_form) that can be shown for a dry
 * run and unit-tested, then turned into a curl_mime whose file part streams
 * from disk.
 */
#ifndef AOS_PYPI_H
#define AOS_PYPI_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

struct artifact;
struct filesrc;
struct secret;
struct pypi_form;
struct pypi_upload;

#define PYPI_DEFAULT_USER "__token__"

/* One form field; both strings belong to the form. */
struct pypi_field {
	const char *name;
	const char *value;
};

/* Builds the form fields for an inspected wheel or sdist: ":action",
 * "protocol_version", "metadata_version", "name", "version", "filetype",
 * "pyversion", "sha256_digest", "blake2_256_digest" (when computed), then
 * every metadata field the upload carries (repeated fields repeated, the
 * description from the body).  The file part is not in the list.  Returns
 * 0 and sets *ret (free with pypi_form_free), -EINVAL for an npm artifact,
 * or -ENOMEM.  The form copies what it needs from a. */
int pypi_form_new(const struct artifact *a, struct pypi_form **ret);

/* Frees f; accepts NULL. */
void pypi_form_free(struct pypi_form *f);

/* Number of fields, and the i-th field (NULL past the end). */
size_t pypi_form_count(const struct pypi_form *f);
const struct pypi_field *pypi_form_field(const struct pypi_form *f, size_t i);

/* The next value of field name from index *pos on (start with 0), or NULL;
 * pypi_form_get returns the first.  Strings belong to f. */
const char *pypi_form_next(const struct pypi_form *f, const char *name, size_t *pos);
const char *pypi_form_get(const struct pypi_form *f, const char *name);

/* Turns f into a curl_mime for h: one part per field, then "content" (the
 * file name given, application/octet-stream) read from src as curl sends
 * it.  Returns 0 and sets *ret (the caller frees it with curl_mime_free once
 * the transfer is over; src must live as long), AOS_EHTTP or -ENOMEM. */
int pypi_form_mime(const struct pypi_form *f, CURL *h, struct filesrc *src,
		   const char *filename, curl_mime **ret);

struct pypi_upload_opts {
	const char *url;	    /* upload URL, e.g. https://<host>/legacy/ */
	const char *user;	    /* Basic auth user; NULL for "__token__" */
	const struct secret *token; /* the password; NULL sends no credentials */
};

/* Configures h to upload a: registry_easy_setup() on o->url, the form as
 * the multipart POST body with the file streamed from disk, and Basic auth
 * as o->user (default "__token__") with the token as password.  Returns 0
 * and sets *ret, which owns the form, the mime,
 * the open file and the header list (free it with pypi_upload_free once the
 * transfer is over, before h is reused or freed), or PUB_EURL, PUB_ECHANGED,
 * -EINVAL, AOS_EHTTP, -errno, -ENOMEM with errbuf set. */
int pypi_upload_setup(CURL *h, const struct artifact *a, const struct pypi_upload_opts *o,
		      struct pypi_upload **ret, char *errbuf, size_t errlen);

/* The form the upload sends (owned by u). */
const struct pypi_form *pypi_upload_form(const struct pypi_upload *u);

/* Bytes of the file read for sending so far. */
uint64_t pypi_upload_file_offset(const struct pypi_upload *u);

/* Why the file part stopped ("" if it did not): set when curl reports
 * CURLE_ABORTED_BY_CALLBACK / CURLE_READ_ERROR because the file changed. */
const char *pypi_upload_error(const struct pypi_upload *u);

/* Wipes the credential header and frees u; accepts NULL. */
void pypi_upload_free(struct pypi_upload *u);

/* The Accept header of a read of a simple index page: the PEP 691 JSON form
 * where the registry offers it (devpi, PyPI), else the PEP 503 HTML page
 * (pypiserver), as PEP 691 asks clients to negotiate. */
#define PYPI_SIMPLE_ACCEPT                                                               \
	"Accept: application/vnd.pypi.simple.v1+json, "                                  \
	"application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"

/* The PEP 503 simple index page of a project under index_url (e.g.
 * "https://<host>/simple/" -> "https://<host>/simple/aos-sdk/").  Returns a
 * malloc'ed URL, or NULL if name is invalid or memory ran out. */
char *pypi_simple_url(const char *index_url, const char *name);

#endif
