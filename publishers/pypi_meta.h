/* pypi_meta.h - Python core metadata (METADATA, PKG-INFO) parser.
 *
 * Parses the RFC 822-like format of core metadata versions 1.0 to 2.4:
 * "Field: value" lines, continuation lines (folded values), repeated fields,
 * and the body after the first blank line, which holds the description in
 * metadata 2.1 and later.  Field names compare without regard to case.
 * A struct pypi_meta is immutable once parsed; the strings it hands out
 * belong to it and stay valid until pypi_meta_free().
 */
#ifndef AOS_PYPI_META_H
#define AOS_PYPI_META_H

#include <stdbool.h>
#include <stddef.h>

struct pypi_meta;

#define PYPI_META_MAX_FIELDS 10000 /* bound on header fields in one file */

/* Parses len bytes of core metadata; what names the source in error
 * messages (e.g. "x.whl: x-1.0.dist-info/METADATA").  Returns 0 and sets
 * *ret (the caller frees it with pypi_meta_free), or PUB_EUTF8, PUB_EMETADATA
 * (malformed line, missing or repeated Metadata-Version, Name or Version,
 * unsupported Metadata-Version, invalid name or version), AOS_ETOOBIG (too
 * many fields) or -ENOMEM; errbuf then names the line and the problem. */
int pypi_meta_parse(const char *text, size_t len, const char *what,
		    struct pypi_meta **ret, char *errbuf, size_t errlen);

/* Frees m; accepts NULL. */
void pypi_meta_free(struct pypi_meta *m);

/* The first value of field, or NULL if absent. */
const char *pypi_meta_get(const struct pypi_meta *m, const char *field);

/* Iterates over the values of a (repeated) field in file order: start with
 * *pos = 0; returns the next value or NULL at the end. */
const char *pypi_meta_next(const struct pypi_meta *m, const char *field, size_t *pos);

/* Number of header fields, and the i-th one in file order (field name as
 * written, unfolded value).  pypi_meta_field returns 0, or -ERANGE. */
size_t pypi_meta_count(const struct pypi_meta *m);
int pypi_meta_field(const struct pypi_meta *m, size_t i, const char **ret_name,
		    const char **ret_value);

/* The body after the blank line, or NULL if there is none or it is blank. */
const char *pypi_meta_body(const struct pypi_meta *m);

/* The description: the body if there is one, else the Description field
 * (unfolded, indentation removed), else NULL. */
const char *pypi_meta_description(const struct pypi_meta *m);

/* Shortcuts for the three required fields (never NULL after a successful
 * parse). */
const char *pypi_meta_name(const struct pypi_meta *m);
const char *pypi_meta_version(const struct pypi_meta *m);
const char *pypi_meta_metadata_version(const struct pypi_meta *m);

/* The legacy upload form field that carries a core metadata field, and
 * whether it may repeat (*ret_multiple, may be NULL); NULL for fields the
 * upload does not carry.  E.g. "Classifier" -> "classifiers", true. */
const char *pypi_meta_form_name(const char *field, bool *ret_multiple);

#endif
