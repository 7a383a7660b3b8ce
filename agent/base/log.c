#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "base/log.h"

static enum log_level log_threshold = LOG_LVL_INFO;
static bool log_journal;

static const char *const level_names[] = {
	[LOG_LVL_ERR] = "err",       [LOG_LVL_WARNING] = "warning",
	[LOG_LVL_NOTICE] = "notice", [LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

void log_init(enum log_level level)
{
	log_threshold = level;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
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

__attribute__((format(printf, 3, 0)))
static void log_vemit(enum log_level level, int err, const char *fmt, va_list ap)
{
	char line[2048];
	size_t n = 0;
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
		w = snprintf(line, sizeof(line),
			     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			     tm.tm_hour, tm.tm_min, tm.tm_sec,
			     ts.tv_nsec / 1000000, level_names[level]);
	}
	if (w > 0)
		n = (size_t)w;
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
	/* One line per message: fold embedded newlines. */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	fwrite(line, 1, n, stderr);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(level, 0, fmt, ap);
	va_end(ap);
}

void log_msg_r(enum log_level level, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(level, err, fmt, ap);
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
