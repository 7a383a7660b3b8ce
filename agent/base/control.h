/* control.h - the control socket: a Unix stream socket carrying JSON lines.
 * One request per line, one answer per line; a connection handles its
 * requests in turn.  Each peer is identified when it connects (uid, gid,
 * groups, pid: control_peer.c); a request may carry open descriptors
 * (SCM_RIGHTS).  See docs/control-protocol.md. */
#ifndef AOS_CONTROL_H
#define AOS_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <uv.h>

#define CONTROL_LINE_MAX (64 * 1024) /* bytes of one request line */
#define CONTROL_OUT_MAX                                                                  \
	(1024 * 1024)		/* bytes queued for a client that does                   \
				   not read: beyond, it is dropped */
#define CONTROL_FDS_MAX 64	/* descriptors with one request */
#define CONTROL_PEER_GROUPS 256 /* groups of a peer looked at */

struct control;
struct control_conn;

/* Who is at the other end, as the kernel and the user database say. */
struct control_peer {
	bool identified; /* false: refuse (why says what failed) */
	bool sandboxed;	 /* the daemon's own uid with no_new_privs set: a build
			    step or another confined process of that user */
	uid_t uid;
	gid_t gid;
	pid_t pid; /* 0 when the peer is outside our PID namespace */
	gid_t groups[CONTROL_PEER_GROUPS]; /* gid and the uid's group list */
	size_t ngroups;
	char name[64]; /* the user's name, or "uid N" */
	char why[200];
};

/* Identifies the peer of the connected socket fd: SO_PEERCRED, the uid's
 * groups (getpwuid_r, getgrouplist), and for a peer running as this
 * process's uid, NoNewPrivs from /proc/PID/status, checked against pid
 * reuse with SO_PEERPIDFD where the kernel has it.  Anything that cannot be
 * established leaves p->identified false (fail closed). */
void control_peer_identify(int fd, struct control_peer *p);

struct control_hooks {
	/* Decides whether a new connection is served.  Returns true, setting
	 * *ret_fds_ok if the peer may send descriptors (others are closed as
	 * they arrive), or false with msg set: the peer gets
	 * {"ok":false,"error":msg} and is closed. */
	bool (*admit)(const struct control_peer *peer, void *data, bool *ret_fds_ok,
		      char *msg, size_t msglen);
	/* Handles one parsed request (a JSON object with a "cmd" string).  It
	 * must answer with control_reply(), now or later; if later, it sets a
	 * cancel hook with control_set_cancel(). */
	void (*request)(struct control_conn *c, const cJSON *req, void *data);
	void *data;
};

/* Parses one request line (without its newline): a JSON object with a
 * "cmd" string and no NUL character.  Returns it (cJSON_Delete) or NULL
 * with msg set.  (Pure: the fuzz target calls it.) */
cJSON *control_request_parse(const char *line, size_t len, char *msg, size_t msglen);

/* Binds path (replacing a stale socket), mode 0666 (every peer is checked
 * by the admit hook), and starts listening.
 * Returns 0 and *ret, or a negative errno code. */
int control_open(uv_loop_t *loop, const char *path, const struct control_hooks *hooks,
		 size_t max_connections, struct control **ret);

/* Connections beyond n are closed at once (after a one-line error). */
void control_set_max_connections(struct control *ctl, size_t n);

/* Stops listening, closes every connection, removes the socket file; the
 * control frees itself when its handles are closed.  Accepts NULL. */
void control_close(struct control *ctl);

/* The peer of c, identified when it connected. */
const struct control_peer *control_peer(const struct control_conn *c);

/* The number of descriptors that came with the request being handled. */
size_t control_fds(const struct control_conn *c);

/* Moves up to max of those descriptors into fds, in the order sent; the
 * caller owns (and closes) them.  Only during the request hook: the ones
 * not taken are closed when it returns.  Returns the count moved. */
size_t control_take_fds(struct control_conn *c, int *fds, size_t max);

/* Sends answer (consumed) as one line and lets the next request in. */
void control_reply(struct control_conn *c, cJSON *answer);

/* Sends event (consumed) as one line of a request still in progress (a
 * progress report); the request continues until control_reply().  A client
 * that lets more than CONTROL_OUT_MAX bytes queue up is dropped. */
void control_send(struct control_conn *c, cJSON *event);

/* Bytes queued for the client and not yet written (to skip progress
 * reports for a slow reader). */
size_t control_pending_bytes(const struct control_conn *c);

/* Sends {"ok": false, "error": msg}. */
void control_reply_error(struct control_conn *c, const char *msg);

/* Refuses the request cmd: logs it (rate-limited) with the peer's uid and
 * pid, and answers {"ok": false, "error": msg}. */
void control_refuse(struct control_conn *c, const char *cmd, const char *msg);

/* Registers fn to run if the connection closes before the answer is sent. */
void control_set_cancel(struct control_conn *c,
			void (*fn)(struct control_conn *c, void *arg), void *arg);

#endif
