/* ctl_progress.h - the upload progress of `publish --wait` and `job wait`.
 *
 * On a terminal: one bar per file, redrawn in place, with the bytes sent,
 * the rate and the time left.  Elsewhere: a plain line at each quarter.
 * With --json the caller prints the events as they come and shows none of
 * this. */
#ifndef AOS_CTL_PROGRESS_H
#define AOS_CTL_PROGRESS_H

#include <stdbool.h>

#include <cjson/cJSON.h>

struct ctl_progress {
	bool tty;
	char file[256];	    /* the file shown */
	int last_quarter;   /* plain lines: the last 25 % step shown */
	bool bar_open;	    /* a bar is on the screen, without its newline */
	long long start_ms; /* this file's first progress event */
	double start_bytes; /* and its bytes then */
	double sent_total;  /* bytes reported sent, all files */
	double sent_file;   /* bytes reported sent for this file */
};

/* Initializes p; tty: stdout is a terminal and --json is not given. */
void ctl_progress_init(struct ctl_progress *p, bool tty);

/* Shows one "progress" event (file, sent, total). */
void ctl_progress_show(struct ctl_progress *p, const cJSON *ev);

/* Ends an open bar's line: call before printing anything else. */
void ctl_progress_end(struct ctl_progress *p);

/* Whether any bytes were reported sent (by the events shown so far). */
bool ctl_progress_sent_any(const struct ctl_progress *p);

/* The final line of an upload whose every file was already there:
 * "nothing sent", or, when bytes went out before the registry answered
 * that it had the file, says so instead.  Prints to stdout. */
void ctl_progress_exists_line(const struct ctl_progress *p, const char *registry);

#endif
