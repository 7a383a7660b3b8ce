#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "publishers/artifact.h"
#include "publishers/filesrc.h"
#include "publishers/pub_err.h"
#include "publishers/pub_util.h"
#include "publishers/pypi.h"
#include "publishers/pypi_meta.h"
#include "publishers/pypi_name.h"
#include "publishers/registry.h"

struct pypi_form {
	struct pypi_field *fields; /* names and values malloc'ed */
	size_t n, cap;
};

struct pypi_upload {
	struct pypi_form *form;
	struct filesrc *src;
	curl_mime *mime;
	struct curl_slist *headers;
};

void pypi_form_free(struct pypi_form *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->n; i++) {
		free((char *)f->fields[i].name);
		free((char *)f->fields[i].value);
	}
	free(f->fields);
	free(f);
}

static int add(struct pypi_form *f, const char *name, const char *value)
{
	struct pypi_field *p;
	char *n, *v;
	size_t cap;

	if (f->n == f->cap) {
		cap = f->cap ? f->cap * 2 : 32;
		p = realloc(f->fields, cap * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		f->fields = p;
		f->cap = cap;
	}
	n = strdup(name);
	v = strdup(value);
	if (n == NULL || v == NULL) {
		free(n);
		free(v);
		return -ENOMEM;
	}
	f->fields[f->n].name = n;
	f->fields[f->n].value = v;
	f->n++;
	return 0;
}

/* Fields sent from the artifact itself rather than copied from metadata. */
static bool sent_apart(const char *field)
{
	return strcasecmp(field, "Metadata-Version") == 0 ||
	       strcasecmp(field, "Name") == 0 || strcasecmp(field, "Version") == 0 ||
	       strcasecmp(field, "Description") == 0;
}

int pypi_form_new(const struct artifact *a, struct pypi_form **ret)
{
	const char *fname, *value, *form, *desc;
	struct pypi_form *f;
	size_t i;
	int r;

	if ((a->kind != ARTIFACT_WHEEL && a->kind != ARTIFACT_SDIST) || a->meta == NULL)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	if ((r = add(f, ":action", "file_upload")) < 0 ||
	    (r = add(f, "protocol_version", "1")) < 0 ||
	    (r = add(f, "metadata_version", pypi_meta_metadata_version(a->meta))) < 0 ||
	    (r = add(f, "name", pypi_meta_name(a->meta))) < 0 ||
	    (r = add(f, "version", pypi_meta_version(a->meta))) < 0 ||
	    (r = add(f, "filetype",
		     a->kind == ARTIFACT_WHEEL ? "bdist_wheel" : "sdist")) < 0 ||
	    (r = add(f, "pyversion", a->pyversion)) < 0 ||
	    (r = add(f, "sha256_digest", a->sha256)) < 0)
		goto fail;
	if (a->blake2_256[0] != '\0' &&
	    (r = add(f, "blake2_256_digest", a->blake2_256)) < 0)
		goto fail;
	for (i = 0; i < pypi_meta_count(a->meta); i++) {
		pypi_meta_field(a->meta, i, &fname, &value);
		form = pypi_meta_form_name(fname, NULL);
		if (form == NULL || sent_apart(fname))
			continue;
		r = add(f, form, value);
		if (r < 0)
			goto fail;
	}
	desc = pypi_meta_description(a->meta);
	if (desc != NULL && (r = add(f, "description", desc)) < 0)
		goto fail;
	*ret = f;
	return 0;
fail:
	pypi_form_free(f);
	return r;
}

size_t pypi_form_count(const struct pypi_form *f)
{
	return f->n;
}

const struct pypi_field *pypi_form_field(const struct pypi_form *f, size_t i)
{
	return i < f->n ? &f->fields[i] : NULL;
}

const char *pypi_form_next(const struct pypi_form *f, const char *name, size_t *pos)
{
	while (*pos < f->n) {
		const struct pypi_field *p = &f->fields[(*pos)++];

		if (strcmp(p->name, name) == 0)
			return p->value;
	}
	return NULL;
}

const char *pypi_form_get(const struct pypi_form *f, const char *name)
{
	size_t pos = 0;

	return pypi_form_next(f, name, &pos);
}

static size_t content_read(char *buf, size_t size, size_t nitems, void *arg)
{
	ssize_t n = filesrc_read(arg, buf, size * nitems);

	return n < 0 ? CURL_READFUNC_ABORT : (size_t)n;
}

static int content_seek(void *arg, curl_off_t offset, int origin)
{
	return filesrc_seek(arg, offset, origin) == 0 ? CURL_SEEKFUNC_OK
						      : CURL_SEEKFUNC_FAIL;
}

int pypi_form_mime(const struct pypi_form *f, CURL *h, struct filesrc *src,
		   const char *filename, curl_mime **ret)
{
	curl_mime *mime = curl_mime_init(h);
	curl_mimepart *part;
	size_t i;

	if (mime == NULL)
		return -ENOMEM;
	for (i = 0; i < f->n; i++) {
		part = curl_mime_addpart(mime);
		if (part == NULL || curl_mime_name(part, f->fields[i].name) != CURLE_OK ||
		    curl_mime_data(part, f->fields[i].value, CURL_ZERO_TERMINATED) !=
			CURLE_OK)
			goto fail;
	}
	part = curl_mime_addpart(mime);
	if (part == NULL || curl_mime_name(part, "content") != CURLE_OK ||
	    curl_mime_filename(part, filename) != CURLE_OK ||
	    curl_mime_type(part, "application/octet-stream") != CURLE_OK ||
	    curl_mime_data_cb(part, (curl_off_t)filesrc_size(src), content_read,
			      content_seek, NULL, src) != CURLE_OK)
		goto fail;
	*ret = mime;
	return 0;
fail:
	curl_mime_free(mime);
	return AOS_EHTTP;
}

int pypi_upload_setup(CURL *h, const struct artifact *a, const struct pypi_upload_opts *o,
		      struct pypi_upload **ret, char *errbuf, size_t errlen)
{
	struct pypi_upload *u;
	int r;

	if (a->kind != ARTIFACT_WHEEL && a->kind != ARTIFACT_SDIST) {
		pub__errf(errbuf, errlen, "%s: not a wheel or sdist", a->filename);
		return -EINVAL;
	}
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return -ENOMEM;
	r = registry_easy_setup(h, o->url, errbuf, errlen);
	if (r < 0)
		goto fail;
	r = pypi_form_new(a, &u->form);
	if (r < 0)
		goto fail;
	r = filesrc_open(a, &u->src, errbuf, errlen);
	if (r < 0)
		goto fail;
	r = pypi_form_mime(u->form, h, u->src, a->filename, &u->mime);
	if (r < 0)
		goto fail;
	if (o->token != NULL) {
		r = registry_auth_basic(
		    &u->headers, o->user != NULL ? o->user : PYPI_DEFAULT_USER, o->token);
		if (r < 0)
			goto fail;
	}
	/* No "Expect: 100-continue" (twine sends none either): several
	 * registries (pypiserver's default server among them) never answer
	 * it, which costs a 1 s stall per large upload. */
	r = registry_header(&u->headers, "Expect:");
	if (r < 0)
		goto fail;
	if (curl_easy_setopt(h, CURLOPT_MIMEPOST, u->mime) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, u->headers) != CURLE_OK) {
		r = AOS_EHTTP;
		goto fail;
	}
	*ret = u;
	return 0;
fail:
	if (r == -ENOMEM)
		pub__errf(errbuf, errlen, "%s: out of memory", a->filename);
	else if (r == AOS_EHTTP)
		pub__errf(errbuf, errlen, "%s: curl refused the upload form",
			  a->filename);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_MIMEPOST, NULL);
	pypi_upload_free(u);
	return r;
}

const struct pypi_form *pypi_upload_form(const struct pypi_upload *u)
{
	return u->form;
}

uint64_t pypi_upload_file_offset(const struct pypi_upload *u)
{
	return filesrc_offset(u->src);
}

const char *pypi_upload_error(const struct pypi_upload *u)
{
	return filesrc_error(u->src);
}

void pypi_upload_free(struct pypi_upload *u)
{
	if (u == NULL)
		return;
	curl_mime_free(u->mime);
	registry_headers_free(u->headers);
	filesrc_free(u->src);
	pypi_form_free(u->form);
	free(u);
}

char *pypi_simple_url(const char *index_url, const char *name)
{
	char norm[PYPI_NAME_MAX + 1];
	size_t n;

	if (pypi_name_normalize(name, norm, sizeof(norm) - 1) < 0)
		return NULL;
	n = strlen(norm);
	norm[n] = '/';
	norm[n + 1] = '\0';
	return registry_join(index_url, norm);
}
