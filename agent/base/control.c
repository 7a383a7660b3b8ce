/* control.c - the control socket server: a listening Unix socket, watched
 * with a uv_poll_t, whose connections are accepted here, identified
 * (control_peer.c) and admitted or refused at once by the admit hook, up to
 * max_connections; each admitted one is served by control_conn.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control_internal.h"

#define ACCEPT_BURST 64 /* accepts per loop turn */

/* Best effort, on a fresh connection that is closed right after. */
static void refuse_at_once(int fd, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *text;

	cJSON_AddFalseToObject(o, "ok");
	cJSON_AddStringToObject(o, "error", msg);
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (text != NULL && send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT) > 0)
		(void)send(fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(text);
	close(fd);
}

static void accept_one(struct control *ctl, int fd)
{
	struct control_conn *c;
	unsigned long more = 0;
	char msg[600];

	if (ctl->nconns >= ctl->max_conns) {
		if (log_rate_ok(&ctl->rl_limits, uv_now(ctl->loop), &more))
			log_warn(
			    "control: %zu connections open (control.max_connections); "
			    "a new one was closed at once%s",
			    ctl->nconns, more ? " (and others)" : "");
		snprintf(msg, sizeof(msg),
			 "too many control connections (control.max_connections "
			 "= %zu); try again later",
			 ctl->max_conns);
		refuse_at_once(fd, msg);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return;
	}
	control_peer_identify(fd, &c->peer);
	if (!ctl->hooks.admit(&c->peer, ctl->hooks.data, &c->fds_ok, msg, sizeof(msg))) {
		if (log_rate_ok(&ctl->rl_refused, uv_now(ctl->loop), &more))
			log_warn(
			    "control: refused a connection from uid %u (%s) pid %d: %s%s",
			    (unsigned)c->peer.uid, c->peer.name, (int)c->peer.pid, msg,
			    more ? " (more refusals not logged)" : "");
		refuse_at_once(fd, msg);
		free(c);
		return;
	}
	c->fd = fd;
	c->ctl = ctl;
	if (control__conn_start(c) < 0) {
		close(fd);
		free(c);
	}
}

static void server_cb(uv_poll_t *h, int status, int events)
{
	struct control *ctl = h->data;
	int i;

	(void)events;
	for (i = 0; status == 0 && !ctl->closing && i < ACCEPT_BURST; i++) {
		int fd = accept4(ctl->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("control: accept failed: %s", strerror(errno));
			return;
		}
		accept_one(ctl, fd);
	}
}

static void server_closed(uv_handle_t *h)
{
	struct control *ctl = h->data;

	close(ctl->fd);
	control__release(ctl);
}

void control_set_max_connections(struct control *ctl, size_t n)
{
	if (ctl != NULL)
		ctl->max_conns = n > 0 ? n : 1;
}

/* A listening socket at path, mode 0666: who may use it is decided per
 * peer (the admit hook), and the folder's mode is the outer fence; -errno
 * on failure. */
static int listen_at(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	mode_t old;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (unlink(path) < 0 && errno != ENOENT)
		goto fail;
	old = umask(0177); /* no one can connect before the mode is set */
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(path, 0666) < 0 || listen(fd, 64) < 0)
		goto fail;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

int control_open(uv_loop_t *loop, const char *path, const struct control_hooks *hooks,
		 size_t max_connections, struct control **ret)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	int r;

	if (ctl == NULL)
		return -ENOMEM;
	ctl->path = strdup(path);
	ctl->fd = listen_at(path);
	if (ctl->path == NULL || ctl->fd < 0) {
		r = ctl->path == NULL ? -ENOMEM : ctl->fd;
		if (ctl->fd >= 0)
			close(ctl->fd);
		free(ctl->path);
		free(ctl);
		return r;
	}
	ctl->loop = loop;
	ctl->hooks = *hooks;
	ctl->rl_refused.burst = LOG_BURST;
	ctl->rl_limits.burst = LOG_BURST;
	ctl->open_handles = 1;
	control_set_max_connections(ctl, max_connections);
	r = uv_poll_init(loop, &ctl->poll, ctl->fd);
	if (r < 0) {
		unlink(path);
		close(ctl->fd);
		free(ctl->path);
		free(ctl);
		return r;
	}
	ctl->poll.data = ctl;
	r = uv_poll_start(&ctl->poll, UV_READABLE, server_cb);
	if (r < 0) {
		ctl->closing = true;
		unlink(path);
		uv_close((uv_handle_t *)&ctl->poll, server_closed);
		return r;
	}
	*ret = ctl;
	return 0;
}

void control_close(struct control *ctl)
{
	if (ctl == NULL || ctl->closing)
		return;
	ctl->closing = true;
	while (ctl->conns != NULL)
		control__conn_close(ctl->conns);
	unlink(ctl->path);
	uv_close((uv_handle_t *)&ctl->poll, server_closed);
}
