/* ctl.h - aos-publishctl's pieces: talking to the control socket
 * (ctl_conn.c) and the exit statuses every command shares.  ctl.c (main)
 * calls the commands' files, and they all call ctl_conn.c: no file calls
 * back into one that calls it. */
#ifndef AOS_CTL_H
#define AOS_CTL_H

#include <stdbool.h>
#include <stddef.h>

#define EXIT_FAIL 1 /* the daemon answered with an error */
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3
#define EXIT_TIMEOUT 4
/* publish outcomes */
#define EXIT_EXISTS 5	    /* everything was already there, identical */
#define EXIT_CONFLICT 6	    /* a different file holds that name and version */
#define EXIT_AUTH 7	    /* token refused or missing */
#define EXIT_INVALID 8	    /* bad artifact or request */
#define EXIT_REJECTED 9	    /* the registry refused for good */
#define EXIT_UNAVAILABLE 10 /* the registry could not be reached in time */
#define EXIT_CANCELED 11    /* the job was canceled by an operator */

/* prune [--dry-run] (ctl_disk.c). */
int ctl_prune(const char *sock, bool json, int timeout_s, int argc, char **argv);
/* The Disk and Retention lines of status, from its "disk" (NULL: none). */
struct cJSON;
void ctl_print_disk(const struct cJSON *d);

/* The jobs commands (ctl_jobs.c): jobs, job ..., drain, resume. */
int ctl_jobs(const char *sock, bool json, int timeout_s, int argc, char **argv);
/* The Drained line of status and of drain/resume, from a "drained" object
 * ({"fleet": bool, "hosts": [names]}). */
void ctl_print_drains(const struct cJSON *d);

/* Whether argv[1..argc) holds --help or -h: a command answers with its help
 * (exit 0) wherever the option stands. */
bool ctl_has_help(int argc, char **argv);

struct ctl_conn {
	int fd;
	const char *path;
	char *buf;
	size_t len, cap;
	int send_errno; /* the daemon closed before taking the request */
};

#define CTL_FDS_MAX 64 /* descriptors with one request (the daemon's bound) */

/* Connects to the control socket at path.  Returns 0 or EXIT_UNREACHABLE
 * after printing why. */
int ctl_open(struct ctl_conn *c, const char *path);

/* Sends one request line.  Returns 0 or EXIT_UNREACHABLE.  A daemon that
 * closed the connection at once (a refusal) is not an error here: its
 * answer is read next. */
int ctl_send(struct ctl_conn *c, const char *line);

/* As ctl_send, with nfds open descriptors passed along (SCM_RIGHTS). */
int ctl_send_fds(struct ctl_conn *c, const char *line, const int *fds, size_t nfds);

/* Reads the next answer line, waiting at most timeout_s for it.  Returns 0
 * and *ret (valid until the next call), or EXIT_TIMEOUT / EXIT_FAIL after
 * printing why. */
int ctl_read_line(struct ctl_conn *c, int timeout_s, char **ret);

void ctl_close(struct ctl_conn *c);

/* Connects, sends one request line and reads its one answer into *ret
 * (malloc'ed, the caller frees it).  Returns 0 or an EXIT_* status after
 * printing why. */
int ctl_exchange(const char *path, const char *req, int timeout_s, char **ret);

struct cJSON;
/* o[key] as a string (def if absent or not a string) / as a number (0). */
const char *ctl_str(const struct cJSON *o, const char *key, const char *def);
double ctl_num(const struct cJSON *o, const char *key);

/* The publish command (ctl_publish.c): args after "publish". */
int ctl_publish(const char *sock, bool json, int timeout_s, int argc, char **argv);

/* secrets fingerprint, and secrets check KEY (key not NULL)
 * (ctl_fingerprint.c): reads the value on stdin. */
int ctl_fingerprint(const char *sock, bool json, int timeout_s, const char *key);

#endif
