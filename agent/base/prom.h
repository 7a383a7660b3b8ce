/* prom.h - writing the Prometheus text exposition format (version 0.0.4)
 * into a bounded buffer, and fixed-bucket histograms.  No I/O, no state of
 * its own: the caller keeps the values and renders them on each scrape.
 *
 * Label values are escaped here (backslash, double quote, newline); the
 * caller keeps them bounded (names from the configuration, enum words),
 * never ids, tags or file names. */
#ifndef AOS_PROM_H
#define AOS_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define PROM_BUCKETS_MAX 16
#define PROM_LABELS_MAX 512 /* bytes of one rendered label set */

/* A histogram with fixed upper bounds (ascending, +Inf implied). */
struct prom_hist {
	const double *bounds;
	size_t nbounds;			       /* at most PROM_BUCKETS_MAX */
	uint64_t counts[PROM_BUCKETS_MAX + 1]; /* per bucket, not cumulative */
	double sum;
	uint64_t count;
};

/* Sets h empty with bounds (kept by pointer: static storage). */
void prom_hist_init(struct prom_hist *h, const double *bounds, size_t nbounds);
void prom_hist_observe(struct prom_hist *h, double v);

/* "# HELP name help\n# TYPE name type\n".  Returns 0 or buf_append()'s
 * error. */
int prom_family(struct buf *b, const char *name, const char *type, const char *help);

/* Renders label pairs (name, value, ..., NULL) as `a="x",b="y"` into out,
 * values escaped.  Returns 0, or AOS_ETOOBIG when out is too small (out is
 * then ""). */
int prom_labels(char *out, size_t outlen, ...) __attribute__((sentinel));

/* One sample: `name{labels} value` (labels "" or NULL: none). */
int prom_sample(struct buf *b, const char *name, const char *labels, double v);

/* A histogram's samples: name_bucket{labels,le=".."} cumulative, then
 * name_sum and name_count. */
int prom_hist_write(struct buf *b, const char *name, const char *labels,
		    const struct prom_hist *h);

#endif
