/* log.c - logging to stderr or the journal (log.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "base/log.h"
#include "common/err.h"

static enum log_level log_threshold = LOG_LVL_INFO;
static bool log_journal; /* stderr is journald's stream: "<N>" prefixes */
static bool log_native;	 /* and its native socket is there: sd_journal_sendv */

/* sd_journal_sendv() drops messages silently (returns 0) when this socket
 * is missing, so it is used only when the socket is there. */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static const char *const level_names[] = {
    [LOG_LVL_ERR] = "err",   [LOG_LVL_WARNING] = "warning", [LOG_LVL_NOTICE] = "notice",
    [LOG_LVL_INFO] = "info", [LOG_LVL_DEBUG] = "debug",
};

/* True when JOURNAL_STREAM ("DEV:INO") names stderr: it is journald's
 * stream, not a file or pipe a parent set up after systemd started it. */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void log_init(enum log_level level)
{
	log_threshold = level;
	log_journal = stderr_is_journal();
	log_native = log_journal && access(JOURNAL_SOCKET, W_OK) == 0;
}

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

int log_level_parse(const char *s, enum log_level *ret)
{
	int i;

	for (i = LOG_LVL_ERR; i <= LOG_LVL_DEBUG; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*ret = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* "NAME=" then v, control characters as '?', cut to fit. */
static void put_field(char *out, const char *name, const char *v)
{
	size_t k = (size_t)snprintf(out, LOG_FIELD_MAX, "%s=", name);

	for (; *v != '\0' && k + 1 < LOG_FIELD_MAX; v++)
		out[k++] = (unsigned char)*v < 0x20 || *v == 0x7f ? '?' : *v;
	out[k] = '\0';
}

size_t log_fields_format(const struct log_fields *f,
			 char out[LOG_FIELDS_MAX][LOG_FIELD_MAX])
{
	size_t n = 0;

	if (f == NULL)
		return 0;
	if (f->job_id > 0)
		snprintf(out[n++], LOG_FIELD_MAX, "JOB_ID=%" PRId64, f->job_id);
	if (f->pipeline != NULL && f->pipeline[0] != '\0')
		put_field(out[n++], "PIPELINE", f->pipeline);
	if (f->registry != NULL && f->registry[0] != '\0')
		put_field(out[n++], "REGISTRY", f->registry);
	if (f->delivery != NULL && f->delivery[0] != '\0')
		put_field(out[n++], "DELIVERY", f->delivery);
	return n;
}

/* The message (without prefix) to the journal; false if it was not sent. */
static bool journal_send(enum log_level level, const char *msg, size_t len,
			 const struct log_fields *f)
{
	char fields[LOG_FIELDS_MAX][LOG_FIELD_MAX], prio[16], text[2100];
	struct iovec iov[LOG_FIELDS_MAX + 3];
	size_t n, i;

	n = log_fields_format(f, fields);
	snprintf(prio, sizeof(prio), "PRIORITY=%d", (int)level);
	snprintf(text, sizeof(text), "MESSAGE=%.*s", (int)len, msg);
	iov[0] = (struct iovec){.iov_base = text, .iov_len = strlen(text)};
	iov[1] = (struct iovec){.iov_base = prio, .iov_len = strlen(prio)};
	iov[2] = (struct iovec){.iov_base = (char *)"SYSLOG_IDENTIFIER=aos-publishd",
				.iov_len = strlen("SYSLOG_IDENTIFIER=aos-publishd")};
	for (i = 0; i < n; i++)
		iov[3 + i] =
		    (struct iovec){.iov_base = fields[i], .iov_len = strlen(fields[i])};
	return sd_journal_sendv(iov, (int)(3 + n)) == 0;
}

__attribute__((format(printf, 4, 0))) static void log_vemit(enum log_level level,
							    const struct log_fields *f,
							    int err, const char *fmt,
							    va_list ap)
{
	char line[2048];
	size_t n = 0, start;
	int w;

	if (level > log_threshold)
		return;
	if (log_journal) {
		w = snprintf(line, sizeof(line), "<%d>", (int)level);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		w = snprintf(
		    line, sizeof(line),
		    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: ", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		    ts.tv_nsec / 1000000, level_names[level]);
	}
	if (w > 0)
		n = (size_t)w;
	start = n; /* the message itself, for the journal */
	w = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (w > 0)
		n += (size_t)w;
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	if (err != 0) {
		w = snprintf(line + n, sizeof(line) - n, ": %s", aos_strerror(err));
		if (w > 0)
			n += (size_t)w;
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
	}
	/* One line per message, and no terminal control from text that came
	 * from outside: newlines, returns and tabs fold to spaces, any other
	 * control byte (ESC, BEL, DEL...) shows as '?'. */
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)line[i];

		if (ch == '\n' || ch == '\r' || ch == '\t')
			line[i] = ' ';
		else if (ch < 0x20 || ch == 0x7f)
			line[i] = '?';
	}
	if (log_native && journal_send(level, line + start, n - start, f))
		return;
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	fwrite(line, 1, n, stderr);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(level, NULL, 0, fmt, ap);
	va_end(ap);
}

void log_msg_f(enum log_level level, const struct log_fields *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(level, f, 0, fmt, ap);
	va_end(ap);
}

void log_msg_r(enum log_level level, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(level, NULL, err, fmt, ap);
	va_end(ap);
}

bool log_rate_ok(struct log_rate *r, uint64_t now_ms, unsigned long *ret_suppressed)
{
	if (r->window_ms == 0 || now_ms - r->window_ms >= 1000) {
		r->window_ms = now_ms;
		r->used = 0;
	}
	if (r->used >= (r->burst ? r->burst : 1)) {
		r->suppressed++;
		return false;
	}
	r->used++;
	*ret_suppressed = r->suppressed;
	r->suppressed = 0;
	return true;
}
