#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "publishers/pub_err.h"
#include "publishers/pub_util.h"
#include "publishers/pypi_meta.h"
#include "publishers/pypi_name.h"

struct meta_field {
	char *name;
	char *value;
};

struct pypi_meta {
	struct meta_field *fields;
	size_t n, cap;
	char *body; /* NULL if absent or blank */
	const char *name, *version, *metadata_version;
};

/* Core metadata fields and the legacy upload form fields that carry them. */
static const struct {
	const char *field;
	const char *form;
	bool multiple;
} form_map[] = {
    {"Metadata-Version", "metadata_version", false},
    {"Name", "name", false},
    {"Version", "version", false},
    {"Summary", "summary", false},
    {"Description", "description", false},
    {"Description-Content-Type", "description_content_type", false},
    {"Keywords", "keywords", false},
    {"Home-page", "home_page", false},
    {"Download-URL", "download_url", false},
    {"Author", "author", false},
    {"Author-email", "author_email", false},
    {"Maintainer", "maintainer", false},
    {"Maintainer-email", "maintainer_email", false},
    {"License", "license", false},
    {"License-Expression", "license_expression", false},
    {"Requires-Python", "requires_python", false},
    {"Platform", "platform", true},
    {"Supported-Platform", "supported_platform", true},
    {"Classifier", "classifiers", true},
    {"Requires-Dist", "requires_dist", true},
    {"Requires-External", "requires_external", true},
    {"Provides-Dist", "provides_dist", true},
    {"Obsoletes-Dist", "obsoletes_dist", true},
    {"Project-URL", "project_urls", true},
    {"Provides-Extra", "provides_extra", true},
    {"Dynamic", "dynamic", true},
    {"License-File", "license_file", true},
    {"Import-Name", "import_names", true},	     /* 2.5 (PEP 794) */
    {"Import-Namespace", "import_namespaces", true}, /* 2.5 */
    {"Requires", "requires", true},
    {"Provides", "provides", true},
    {"Obsoletes", "obsoletes", true},
};

static const char *const metadata_versions[] = {"1.0", "1.1", "1.2", "2.1",
						"2.2", "2.3", "2.4", "2.5"};

const char *pypi_meta_form_name(const char *field, bool *ret_multiple)
{
	size_t i;

	for (i = 0; i < sizeof(form_map) / sizeof(form_map[0]); i++) {
		if (strcasecmp(field, form_map[i].field) == 0) {
			if (ret_multiple != NULL)
				*ret_multiple = form_map[i].multiple;
			return form_map[i].form;
		}
	}
	return NULL;
}

void pypi_meta_free(struct pypi_meta *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++) {
		free(m->fields[i].name);
		free(m->fields[i].value);
	}
	free(m->fields);
	free(m->body);
	free(m);
}

/* Unfolds a raw value (first line, then "\n" + each continuation line with
 * its leading white space).  Description keeps its lines, minus the 8 columns
 * of indentation ("        " or "       |"); other fields join the stripped
 * lines with one space.  Returns a new string or NULL. */
static char *unfold(const char *field, const char *raw, size_t len)
{
	bool desc = strcasecmp(field, "Description") == 0;
	const char *p = raw, *end = raw + len, *nl;
	char *out = malloc(len + 1);
	size_t o = 0, n;
	bool first = true;

	if (out == NULL)
		return NULL;
	while (p <= end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl != NULL ? nl : end) - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (!first && desc) {
			if (n >= 8 && (memcmp(p, "        ", 8) == 0 ||
				       memcmp(p, "       |", 8) == 0)) {
				p += 8;
				n -= 8;
			} else {
				while (n > 0 && (*p == ' ' || *p == '\t')) {
					p++;
					n--;
				}
			}
			out[o++] = '\n';
		} else if (!first) {
			while (n > 0 && (*p == ' ' || *p == '\t')) {
				p++;
				n--;
			}
			if (o > 0 && n > 0)
				out[o++] = ' ';
		}
		memcpy(out + o, p, n);
		o += n;
		if (!desc) {
			while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t'))
				o--;
		}
		first = false;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t' || out[o - 1] == '\n'))
		o--;
	out[o] = '\0';
	n = strspn(out, " \t\n"); /* a value may start on the next line */
	if (n > 0)
		memmove(out, out + n, o - n + 1);
	return out;
}

static int add_field(struct pypi_meta *m, const char *name, size_t nlen, const char *raw,
		     size_t rlen)
{
	struct meta_field *f;
	size_t cap;

	if (m->n == PYPI_META_MAX_FIELDS)
		return AOS_ETOOBIG;
	if (m->n == m->cap) {
		cap = m->cap ? m->cap * 2 : 32;
		f = realloc(m->fields, cap * sizeof(*f));
		if (f == NULL)
			return -ENOMEM;
		m->fields = f;
		m->cap = cap;
	}
	f = &m->fields[m->n];
	f->name = pub__strndup(name, nlen);
	f->value = f->name != NULL ? unfold(f->name, raw, rlen) : NULL;
	if (f->value == NULL) {
		free(f->name);
		return -ENOMEM;
	}
	m->n++;
	return 0;
}

static bool valid_field_name(const char *p, size_t n)
{
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		if ((unsigned char)p[i] <= 32 || (unsigned char)p[i] >= 127)
			return false;
	}
	return true;
}

/* Checks required fields, single-use fields and the version numbers. */
static int validate(struct pypi_meta *m, const char *what, char *errbuf, size_t errlen)
{
	char q[PUB_QUOTE_MAX], norm[PYPI_NAME_MAX];
	const char *v;
	size_t i, j, k;
	bool multiple;

	for (i = 0; i < m->n; i++) {
		if (pypi_meta_form_name(m->fields[i].name, &multiple) == NULL || multiple)
			continue;
		for (j = i + 1; j < m->n; j++) {
			if (strcasecmp(m->fields[i].name, m->fields[j].name) == 0) {
				pub__errf(errbuf, errlen,
					  "%s: field %.64s appears more than once", what,
					  m->fields[i].name);
				return PUB_EMETADATA;
			}
		}
	}
	m->metadata_version = pypi_meta_get(m, "Metadata-Version");
	m->name = pypi_meta_get(m, "Name");
	m->version = pypi_meta_get(m, "Version");
	if (m->metadata_version == NULL || m->name == NULL || m->version == NULL) {
		pub__errf(errbuf, errlen, "%s: required field %s missing", what,
			  m->metadata_version == NULL ? "Metadata-Version"
			  : m->name == NULL	      ? "Name"
						      : "Version");
		return PUB_EMETADATA;
	}
	for (k = 0; k < sizeof(metadata_versions) / sizeof(metadata_versions[0]); k++) {
		if (strcmp(m->metadata_version, metadata_versions[k]) == 0)
			break;
	}
	if (k == sizeof(metadata_versions) / sizeof(metadata_versions[0])) {
		v = m->metadata_version;
		pub__errf(errbuf, errlen,
			  "%s: unsupported Metadata-Version \"%s\" (1.0 to 2.5)", what,
			  pub__quote(v, strlen(v), q, sizeof(q)));
		return PUB_EMETADATA;
	}
	if (!pypi_name_valid(m->name)) {
		pub__errf(errbuf, errlen, "%s: invalid Name \"%s\"", what,
			  pub__quote(m->name, strlen(m->name), q, sizeof(q)));
		return PUB_EMETADATA;
	}
	if (pypi_version_normalize(m->version, norm, sizeof(norm)) < 0) {
		pub__errf(errbuf, errlen, "%s: Version \"%s\" is not a PEP 440 version",
			  what, pub__quote(m->version, strlen(m->version), q, sizeof(q)));
		return PUB_EMETADATA;
	}
	return 0;
}

int pypi_meta_parse(const char *text, size_t len, const char *what,
		    struct pypi_meta **ret, char *errbuf, size_t errlen)
{
	const char *p = text, *end = text + len, *nl, *line, *colon;
	const char *fname = NULL, *raw = NULL;
	size_t n, fnlen = 0, rawlen = 0, lineno = 0, off;
	struct pypi_meta *m;
	int r;

	if (!pub__utf8_valid(text, len, &off)) {
		pub__errf(errbuf, errlen, "%s: invalid UTF-8 at byte %zu", what, off);
		return PUB_EUTF8;
	}
	if (memchr(text, '\0', len) != NULL) {
		pub__errf(errbuf, errlen, "%s: NUL byte in metadata", what);
		return PUB_EMETADATA;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	while (p < end) {
		line = p;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl != NULL ? nl : end) - p);
		p = nl != NULL ? nl + 1 : end;
		lineno++;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 0)
			break; /* end of the header section */
		if (line[0] == ' ' || line[0] == '\t') {
			if (fname == NULL) {
				pub__errf(
				    errbuf, errlen,
				    "%s: line %zu: continuation line before any field",
				    what, lineno);
				r = PUB_EMETADATA;
				goto out;
			}
			rawlen = (size_t)(line + n - raw);
			continue;
		}
		if (fname != NULL) {
			r = add_field(m, fname, fnlen, raw, rawlen);
			if (r < 0)
				goto out;
		}
		colon = memchr(line, ':', n);
		if (colon == NULL || !valid_field_name(line, (size_t)(colon - line))) {
			pub__errf(errbuf, errlen,
				  "%s: line %zu: not a \"Field: value\" line", what,
				  lineno);
			r = PUB_EMETADATA;
			goto out;
		}
		fname = line;
		fnlen = (size_t)(colon - line);
		raw = colon + 1;
		while (raw < line + n && (*raw == ' ' || *raw == '\t'))
			raw++;
		rawlen = (size_t)(line + n - raw);
	}
	if (fname != NULL) {
		r = add_field(m, fname, fnlen, raw, rawlen);
		if (r < 0)
			goto out;
	}
	/* p now points past the blank line (or at the end). */
	for (line = p; line < end; line++) {
		if (*line != ' ' && *line != '\t' && *line != '\r' && *line != '\n')
			break;
	}
	if (line < end) {
		m->body = pub__strndup(p, (size_t)(end - p));
		if (m->body == NULL) {
			r = -ENOMEM;
			goto out;
		}
	}
	r = validate(m, what, errbuf, errlen);
	if (r < 0)
		goto out;
	*ret = m;
	m = NULL; /* transferred */
out:
	if (r == AOS_ETOOBIG)
		pub__errf(errbuf, errlen, "%s: more than %d fields", what,
			  PYPI_META_MAX_FIELDS);
	pypi_meta_free(m);
	return r;
}

const char *pypi_meta_next(const struct pypi_meta *m, const char *field, size_t *pos)
{
	while (*pos < m->n) {
		const struct meta_field *f = &m->fields[(*pos)++];

		if (strcasecmp(f->name, field) == 0)
			return f->value;
	}
	return NULL;
}

const char *pypi_meta_get(const struct pypi_meta *m, const char *field)
{
	size_t pos = 0;

	return pypi_meta_next(m, field, &pos);
}

size_t pypi_meta_count(const struct pypi_meta *m)
{
	return m->n;
}

int pypi_meta_field(const struct pypi_meta *m, size_t i, const char **ret_name,
		    const char **ret_value)
{
	if (i >= m->n)
		return -ERANGE;
	*ret_name = m->fields[i].name;
	*ret_value = m->fields[i].value;
	return 0;
}

const char *pypi_meta_body(const struct pypi_meta *m)
{
	return m->body;
}

const char *pypi_meta_description(const struct pypi_meta *m)
{
	return m->body != NULL ? m->body : pypi_meta_get(m, "Description");
}

const char *pypi_meta_name(const struct pypi_meta *m)
{
	return m->name;
}

const char *pypi_meta_version(const struct pypi_meta *m)
{
	return m->version;
}

const char *pypi_meta_metadata_version(const struct pypi_meta *m)
{
	return m->metadata_version;
}
