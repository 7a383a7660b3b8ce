/* sandbox.h - the build sandbox (docs/security.md, "Build steps").
 *
 * Every build, verify and git step is started through the daemon's own
 * binary in --run-step mode, which closes every inherited descriptor above
 * 2 and, as configured:
 *
 *   namespaces  execs bubblewrap: new user, mount, PID, IPC, UTS and cgroup
 *               namespaces (and network with pipelines.X.network false);
 *               only /usr, /etc, the job's folder and the pipeline's
 *               readable/writable paths exist inside.  Inside, the binary
 *               runs --run-step again and adds Landlock (writes only to the
 *               job's folder and the temporary folders) before the step.
 *   landlock    applies Landlock itself: the daemon's state, runtime,
 *               configuration and credentials unreachable, writes only to
 *               the job's folder (the fallback where user namespaces are
 *               not available).
 *   off         no confinement (logged as a warning at every start).
 */
#ifndef AOS_SANDBOX_H
#define AOS_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

/* Where the daemon's binary is bound inside the namespaces sandbox. */
#define SANDBOX_SELF "/run/aos-step"

/* What this host offers build steps, found by sandbox_probe(). */
struct sandbox_caps {
	int landlock_abi; /* >= 1, or a negative errno: no Landlock */
	char bwrap[256];  /* bubblewrap's path, "" when not installed */
	bool namespaces;  /* a trial bwrap with every namespace worked */
	char detail[600]; /* the version, or why namespaces are unavailable */
	bool probed;	  /* filled by sandbox_probe(); false before */
};

/* The kernel's Landlock ABI version (>= 1), or a negative errno when it
 * has none (or a seccomp filter refuses it). */
int sandbox_abi(void);

/* Looks for bwrap in the system folders and runs a trial sandbox (every
 * namespace the steps get, /bin/true inside).  Blocks for a few
 * milliseconds (two forks and execs, and a wait): the daemon runs it on a
 * thread-pool thread at start and reload.  Uses no global state.  Always
 * fills *ret and sets ret->probed. */
void sandbox_probe(struct sandbox_caps *ret);

/* A one-line description of what steps run under for mode: "namespaces
 * (bubblewrap 0.8.0) + Landlock ABI 6", or why it is unavailable.  Returns
 * true if mode can be used on this host. */
bool sandbox_describe(enum isolation mode, const struct sandbox_caps *caps, char *buf,
		      size_t len);

/* {"mode", "available", "description", "namespaces", "landlock_abi"} for
 * status; NULL when memory ran out. */
struct cJSON *sandbox_status_json(enum isolation mode, const struct sandbox_caps *caps);

/* The configuration word for mode: "namespaces", "landlock" or "off". */
const char *sandbox_mode_name(enum isolation mode);

/* A growing NULL-terminated argument vector. */
struct sandbox_argv {
	char **v;
	size_t n, cap;
};

/* Appends a copy of s.  Returns 0 or -ENOMEM. */
int sandbox_argv_add(struct sandbox_argv *a, const char *s);
void sandbox_argv_free(struct sandbox_argv *a);

/* One pipeline's sandbox, for sandbox_wrap(). */
struct sandbox_spec {
	enum isolation mode;
	const struct sandbox_caps *caps;
	const char *self;	     /* the daemon's binary, canonical */
	const char *workdir;	     /* the job's folder (read-write) */
	const char *const *readable; /* bound read-only (namespaces) */
	size_t nreadable;
	const char *const *writable; /* bound read-write / writable */
	size_t nwritable;
	const char *const *hidden; /* the daemon's own, canonical */
	size_t nhidden;
	bool network; /* false: own network namespace */
};

/* Appends the prefix that runs a step under s to a ("ARGV..." follows it).
 * Returns 0, -ENOMEM, or -EOPNOTSUPP when s->mode is namespaces and this
 * host cannot offer it (see sandbox_describe). */
int sandbox_wrap(const struct sandbox_spec *s, struct sandbox_argv *a);

/* Confines the calling process and its future children with Landlock: no
 * access at all beneath the hidden paths (absolute, canonical; also matched
 * by device and inode, also where mounted a second time), read and execute
 * elsewhere, write beneath the writable ones; symbolic links are never
 * followed.  Returns 0, -EOPNOTSUPP without Landlock, or -errno; msg says
 * what failed. */
int sandbox_apply(const char *const *hidden, size_t nhidden, const char *const *writable,
		  size_t nwritable, char *msg, size_t msglen);

/* main() for `aos-publishd --run-step [--landlock [--optional]] [--hide P]...
 * [--write P]... -- ARGV...`: close descriptors above 2, confine, exec
 * ARGV.  Returns an exit status only when that fails (126, 127; 2 for
 * usage). */
int sandbox_run_step(int argc, char **argv);

#endif
