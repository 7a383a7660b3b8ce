/* log.h - the daemon's logging to stderr.
 *
 * Lines carry a syslog priority: under journald (JOURNAL_STREAM set) as the
 * "<N>" prefix journald understands, otherwise as a readable level word.
 * Callers never pass secret values here; secrets are logged as fingerprints.
 */
#ifndef AOS_LOG_H
#define AOS_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARNING = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

/* Sets up the sink: prefix style from the environment, threshold level. */
void log_init(enum log_level level);
void log_set_level(enum log_level level);

/* Parses "debug".."err"; returns 0 and sets *ret, or -EINVAL. */
int log_level_parse(const char *s, enum log_level *ret);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* As log_msg, with ": <aos_strerror(err)>" appended. */
void log_msg_r(enum log_level level, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* At most `burst` lines a second of one kind (refusals, floods), so a
 * flood cannot fill the journal: log_rate_ok() says whether to log now and,
 * when it does, how many lines were left out since the last one. */
struct log_rate {
	unsigned burst; /* lines a second; 0 counts as 1 */
	uint64_t window_ms;
	unsigned used;
	unsigned long suppressed;
};

bool log_rate_ok(struct log_rate *r, uint64_t now_ms, unsigned long *ret_suppressed);

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_err_r(r, ...) log_msg_r(LOG_LVL_ERR, r, __VA_ARGS__)
#define log_warn_r(r, ...) log_msg_r(LOG_LVL_WARNING, r, __VA_ARGS__)

#endif
