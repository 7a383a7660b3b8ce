/* outcome.h - how a publish, one of its uploads or a queued job ended: one
 * enum in memory and in every hook, one word per value in the queue
 * database and in answers ("published", "exists", ...), never a word parsed
 * back out of a message.  Here rather than in agent/publish/ because the
 * queue (a leaf that includes common/ only) records it too. */
#ifndef AOS_OUTCOME_H
#define AOS_OUTCOME_H

#include <stddef.h>

enum pub_outcome {
	OUT_NONE,	 /* none recorded */
	OUT_PUBLISHED,	 /* sent now */
	OUT_EXISTS,	 /* already there, identical */
	OUT_CONFLICT,	 /* a different file holds the name/version */
	OUT_AUTH,	 /* token refused or missing */
	OUT_INVALID,	 /* bad artifact or request */
	OUT_REJECTED,	 /* the registry refused for good */
	OUT_UNAVAILABLE, /* no usable answer after the tries allowed */
	OUT_ERROR,
	OUT_DRY_RUN,
};

/* The outcome's word: "published", ..., "dry-run"; "none" for OUT_NONE and
 * for a value out of range.  A static string. */
const char *outcome_name(enum pub_outcome out);

/* The outcome named word (as outcome_name() gives it), OUT_NONE for
 * anything else ("", NULL, "none", an unknown word). */
enum pub_outcome outcome_parse(const char *word);

/* "word: message" when out is not OUT_NONE, else message, into buf (cut
 * to len).  Returns buf.  How an outcome and its message are shown as one
 * text (a job's last error, an upload's answer, a log line). */
const char *outcome_text(enum pub_outcome out, const char *message, char *buf,
			 size_t len);

#endif
