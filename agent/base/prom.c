/* prom.c - the Prometheus text format (prom.h). */
#include <math.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/prom.h"
#include "common/err.h"

void prom_hist_init(struct prom_hist *h, const double *bounds, size_t nbounds)
{
	memset(h, 0, sizeof(*h));
	h->bounds = bounds;
	h->nbounds = nbounds < PROM_BUCKETS_MAX ? nbounds : PROM_BUCKETS_MAX;
}

void prom_hist_observe(struct prom_hist *h, double v)
{
	size_t i = 0;

	while (i < h->nbounds && v > h->bounds[i])
		i++;
	h->counts[i]++;
	h->sum += v;
	h->count++;
}

int prom_family(struct buf *b, const char *name, const char *type, const char *help)
{
	return buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Appends s to out[*n..] escaped; false when it does not fit. */
static bool put_escaped(char *out, size_t outlen, size_t *n, const char *s)
{
	for (; *s != '\0'; s++) {
		const char *rep = *s == '\\'   ? "\\\\"
				  : *s == '"'  ? "\\\""
				  : *s == '\n' ? "\\n"
					       : NULL;
		size_t k = rep != NULL ? 2 : 1;

		if (*n + k >= outlen)
			return false;
		memcpy(out + *n, rep != NULL ? rep : s, k);
		*n += k;
	}
	return true;
}

int prom_labels(char *out, size_t outlen, ...)
{
	const char *name, *value;
	size_t n = 0;
	bool ok = outlen > 0;
	va_list ap;
	int w;

	va_start(ap, outlen);
	while (ok && (name = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		w = snprintf(out + n, outlen - n, "%s%s=\"", n > 0 ? "," : "", name);
		ok = w > 0 && (size_t)w < outlen - n;
		if (ok)
			n += (size_t)w;
		ok = ok && put_escaped(out, outlen, &n, value != NULL ? value : "");
		ok = ok && n + 1 < outlen;
		if (ok)
			out[n++] = '"';
	}
	va_end(ap);
	if (!ok) {
		if (outlen > 0)
			out[0] = '\0';
		return AOS_ETOOBIG;
	}
	out[n] = '\0';
	return 0;
}

static int put_value(struct buf *b, double v)
{
	if (isnan(v))
		return buf_puts(b, "NaN\n");
	if (isinf(v))
		return buf_puts(b, v > 0 ? "+Inf\n" : "-Inf\n");
	if (v == (double)(int64_t)v && (v < 0 ? -v : v) < 9e15)
		return buf_printf(b, "%lld\n", (long long)v);
	return buf_printf(b, "%.17g\n", v);
}

int prom_sample(struct buf *b, const char *name, const char *labels, double v)
{
	int r;

	if (labels != NULL && labels[0] != '\0')
		r = buf_printf(b, "%s{%s} ", name, labels);
	else
		r = buf_printf(b, "%s ", name);
	return r < 0 ? r : put_value(b, v);
}

int prom_hist_write(struct buf *b, const char *name, const char *labels,
		    const struct prom_hist *h)
{
	const char *sep = labels != NULL && labels[0] != '\0' ? "," : "";
	uint64_t cum = 0;
	size_t i;
	int r = 0;

	if (labels == NULL)
		labels = "";
	for (i = 0; r == 0 && i <= h->nbounds; i++) {
		cum += h->counts[i];
		if (i < h->nbounds)
			r = buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
				       sep, h->bounds[i], (unsigned long long)cum);
		else
			r = buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name,
				       labels, sep, (unsigned long long)cum);
	}
	if (r == 0)
		r = buf_printf(b, "%s_sum%s%s%s ", name, labels[0] ? "{" : "", labels,
			       labels[0] ? "}" : "");
	if (r == 0)
		r = put_value(b, h->sum);
	if (r == 0)
		r = buf_printf(b, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "",
			       labels, labels[0] ? "}" : "",
			       (unsigned long long)h->count);
	return r;
}
