/* control_policy.h - what the control socket allows: every command with
 * the role it needs and the check of its arguments, in one table; and the
 * role of a peer under the configuration.  Pure functions: no socket, no
 * state (the fuzz target tests/fuzz/fuzz_control.c drives them directly). */
#ifndef AOS_CONTROL_POLICY_H
#define AOS_CONTROL_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "base/control.h"
#include "config/config.h"
#include "publish/publish.h" /* PUBLISH_NAME_MAX */

enum control_role {
	CONTROL_ROLE_NONE,
	CONTROL_ROLE_READ,    /* status, secrets, jobs, job show/log/wait */
	CONTROL_ROLE_OPERATE, /* anything that changes something; implies read */
};

enum control_cmd_id {
	CMD_PING,
	CMD_STATUS,
	CMD_SECRETS,
	CMD_JOBS,
	CMD_JOB_SHOW,
	CMD_JOB_LOG,
	CMD_JOB_WAIT,
	CMD_SECRETS_REFRESH,
	CMD_SECRETS_FINGERPRINT,
	CMD_SECRETS_CHECK,
	CMD_PUBLISH,
	CMD_JOB_RETRY,
	CMD_JOB_CANCEL,
	CMD_DRAIN,
	CMD_RESUME,
	CMD_RECONCILE,
	CMD_PRUNE,
};

struct control_command {
	const char *name;
	enum control_cmd_id id;
	enum control_role role;
	/* Checks the arguments (nfds: descriptors that came with the request);
	 * returns 0, or -EINVAL with msg set.  NULL: takes none. */
	int (*check)(const cJSON *req, size_t nfds, char *msg, size_t msglen);
};

/* "read", "operate", "no". */
const char *control_role_name(enum control_role r);

/* The role peer has under cfg->control: operate if its uid or one of its
 * groups is in control.operators, else read if in control.readers.  A peer
 * not identified, or sandboxed, has none. */
enum control_role control_role_of(const struct config *cfg, const struct control_peer *p);

/* Whether a new connection from p is served at all: true, or false with
 * msg saying why and what to change. */
bool control_admit(const struct config *cfg, const struct control_peer *p, char *msg,
		   size_t msglen);

/* Decides a parsed request from p: the command must be known, p must have
 * its role, and its arguments (with nfds descriptors) must be valid.
 * Returns the command, or NULL with msg set; *ret_denied is set when the
 * role was what lacked (a refusal to log). */
const struct control_command *control_request_check(const struct config *cfg,
						    const struct control_peer *p,
						    const cJSON *req, size_t nfds,
						    char *msg, size_t msglen,
						    bool *ret_denied);

/* Checks one file name sent with publish: a base name (no '/'), no control
 * character, not starting with '.', at most PUBLISH_NAME_MAX bytes.  Returns 0 or
 * -EINVAL with msg set. */
int control_check_file_name(const char *name, char *msg, size_t msglen);

#endif
