/* log.h - the daemon's logging to stderr, or to the journal.
 *
 * When stderr is connected to journald (JOURNAL_STREAM names stderr's
 * device and inode), each message goes to the journal with sd_journal_sendv:
 * MESSAGE=, PRIORITY=, SYSLOG_IDENTIFIER=aos-publishd and the structured
 * fields given (JOB_ID=, PIPELINE=, REGISTRY=, DELIVERY=), so that
 * `journalctl -u aos-publishd JOB_ID=7` works; if that send fails, the line
 * goes to stderr with the "<N>" priority prefix journald understands.
 * Otherwise lines go to stderr as before: a timestamp, a readable level
 * word and the message (the fields are not shown there).
 * Callers never pass secret values here; secrets are logged as fingerprints.
 */
#ifndef AOS_LOG_H
#define AOS_LOG_H

#include <stdbool.h>
#include <stddef.h>
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

/* Structured fields of one message (each unset field is left out). */
struct log_fields {
	int64_t job_id;	      /* JOB_ID=; 0: none */
	const char *pipeline; /* PIPELINE= */
	const char *registry; /* REGISTRY= */
	const char *delivery; /* DELIVERY=: the forge's delivery id */
};

#define LOG_FIELDS_MAX 4
#define LOG_FIELD_MAX 160 /* bytes of one "NAME=value", NUL included */

/* As log_msg, with fields for the journal (f may be NULL). */
void log_msg_f(enum log_level level, const struct log_fields *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Formats f's set fields as journal fields "NAME=value" into out; values
 * are cut to fit and control characters become '?' (a delivery id comes
 * from the forge).  Returns how many (0 for a NULL f). */
size_t log_fields_format(const struct log_fields *f,
			 char out[LOG_FIELDS_MAX][LOG_FIELD_MAX]);

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_err_r(r, ...) log_msg_r(LOG_LVL_ERR, r, __VA_ARGS__)
#define log_warn_r(r, ...) log_msg_r(LOG_LVL_WARNING, r, __VA_ARGS__)

#endif
