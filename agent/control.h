/* control.h - the control socket: a Unix stream socket carrying JSON lines.
 * One request per line, one answer per line; a connection handles its
 * requests in turn.  See docs/control-protocol.md. */
#ifndef AOS_CONTROL_H
#define AOS_CONTROL_H

#include <stdbool.h>

#include <cjson/cJSON.h>
#include <uv.h>

#define CONTROL_LINE_MAX (64 * 1024)

struct control;
struct control_conn;

/* Handles one parsed request.  It must answer with control_reply(), now or
 * later; if later, it sets a cancel hook with control_set_cancel(). */
typedef void (*control_handler)(struct control_conn *c, const cJSON *req, void *data);

/* Binds path (replacing a stale socket), mode 0660, and starts listening.
 * Returns 0 and *ret, or a negative libuv/errno code. */
int control_open(uv_loop_t *loop, const char *path, control_handler h, void *data,
		 struct control **ret);

/* Stops listening, closes every connection, removes the socket file; the
 * control frees itself when its handles are closed.  Accepts NULL. */
void control_close(struct control *ctl);

/* Sends answer (consumed) as one line and lets the next request in. */
void control_reply(struct control_conn *c, cJSON *answer);

/* Sends event (consumed) as one line of a request still in progress (a
 * progress report); the request continues until control_reply(). */
void control_send(struct control_conn *c, cJSON *event);

/* Bytes queued for the client and not yet written (to skip progress
 * reports for a slow reader). */
size_t control_pending_bytes(const struct control_conn *c);

/* Sends {"ok": false, "error": msg}. */
void control_reply_error(struct control_conn *c, const char *msg);

/* Registers fn to run if the connection closes before the answer is sent. */
void control_set_cancel(struct control_conn *c, void (*fn)(struct control_conn *c,
							     void *arg), void *arg);

#endif
