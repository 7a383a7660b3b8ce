/* ctl_text.h - text from the daemon on the operator's terminal.
 *
 * Job logs hold what build steps printed, byte for byte: a step can print
 * escape sequences that retitle, clear or reprogram the terminal that shows
 * them.  aos-publishctl shows such text escaped on a terminal: C0 controls
 * but newline and tab, DEL and bytes that are not UTF-8 as \xNN, the C1
 * controls U+0080..U+009F as \u00NN.  Its --json output escapes them as
 * JSON does and is valid UTF-8.
 */
#ifndef AOS_CTL_TEXT_H
#define AOS_CTL_TEXT_H

#include <stdbool.h>
#include <stdio.h>

#include <cjson/cJSON.h>

enum ctl_escape {
	CTL_ESCAPE_AUTO, /* escaped when the stream is a terminal */
	CTL_ESCAPE_ON,	 /* --escape */
	CTL_ESCAPE_OFF,	 /* --raw: as stored */
};

/* Whether text for f is escaped under mode. */
bool ctl_escaping(enum ctl_escape mode, FILE *f);

/* s with its control bytes as escapes (above).  Returns a malloc'ed string,
 * or NULL when out of memory. */
char *ctl_escape_text(const char *s);

/* Replaces every string value in o (recursively) by its
 * ctl_escape_text().  Returns 0 or -ENOMEM (o partly escaped). */
int ctl_escape_tree(cJSON *o);

/* Prints s to f (escaped when ctl_escaping(mode, f)); no newline added. */
void ctl_put_text(FILE *f, const char *s, enum ctl_escape mode);

/* Prints a JSON text line (the daemon's answer) to f with every C0 control,
 * DEL and C1 control as a \u00NN escape and each byte that is not UTF-8 as
 * \ufffd, then a newline; with mode OFF, as it is.  JSON's structure is
 * ASCII, so these bytes can only be inside its strings. */
void ctl_put_json(FILE *f, const char *line, enum ctl_escape mode);

#endif
