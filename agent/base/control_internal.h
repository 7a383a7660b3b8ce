/* control_internal.h - the control socket's state, shared by control.c
 * (the listening socket, admission) and control_conn.c (a connection:
 * reading lines and descriptors, writing answers, the bounds). */
#ifndef AOS_CONTROL_INTERNAL_H
#define AOS_CONTROL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "base/control.h"
#include "base/log.h"
#include "common/buf.h"

#define CONTROL_OUT_LOW (64 * 1024) /* take the next request below this */
#define LOG_BURST 10		    /* refusal lines per second */

struct control {
	uv_loop_t *loop;
	uv_poll_t poll;
	int fd;
	char *path;
	struct control_hooks hooks;
	struct control_conn *conns;
	size_t nconns, max_conns;
	int open_handles;
	bool closing;
	struct log_rate rl_refused, rl_limits;
};

struct pending_fd {
	int fd;
	uint64_t at; /* stream offset of the last byte of the read that brought it */
};

struct control_conn {
	uv_poll_t poll;
	int fd;
	int events; /* what the poll handle watches now */
	struct control *ctl;
	struct control_peer peer;
	bool fds_ok; /* the peer may send descriptors (it may publish) */
	struct buf in;
	uint64_t in_base; /* stream offset of in.data[0] */
	uint64_t received;
	char *out;
	size_t out_off, out_len, out_cap;
	struct pending_fd fds[CONTROL_FDS_MAX];
	size_t nfds;
	bool fds_lost; /* descriptors beyond the bound were closed */
	int *req_fds;  /* the handled request's, during the hook only */
	size_t nreq_fds;
	bool busy; /* a request is waiting for its answer */
	bool in_hook;
	bool closing, close_when_written;
	void (*cancel)(struct control_conn *c, void *arg);
	void *cancel_arg;
	struct control_conn *next, *prev;
};

/* control_conn.c: drops one reference of ctl (freed when none is left):
 * the listening socket and each connection hold one, and the last of them
 * to close frees it.  Here, beside the connections, so that control.c
 * calls control_conn.c and not the other way round. */
void control__release(struct control *ctl);

/* control_conn.c: serves the accepted connection c (fd, ctl, peer and
 * fds_ok set); returns 0 or a negative libuv code (nothing to undo but
 * closing fd and freeing c). */
int control__conn_start(struct control_conn *c);
void control__conn_close(struct control_conn *c);

#endif
