/* control_conn.c - one control connection: request lines and the
 * descriptors that come with them (recvmsg), answers (an output buffer
 * written when the socket is writable), and the bounds.
 *
 * Descriptors and request lines: a descriptor is taken to belong to the
 * request line that holds the last byte of the recvmsg() that delivered it.
 * The kernel delivers a message's descriptors with the first read that
 * reaches the message and ends that read within it, so a client that sends
 * each request with its descriptors in one sendmsg() gets them attached to
 * that request (docs/control-protocol.md).
 *
 * Bounds: CONTROL_LINE_MAX bytes of input (a complete line waiting for its
 * turn stops reading, so only a single line can fill it); CONTROL_FDS_MAX
 * descriptors queued per connection; the next request is taken only once
 * the answers before it are mostly written (CONTROL_OUT_LOW), and a client
 * that lets more than CONTROL_OUT_MAX bytes of a stream queue up (job.log
 * --follow, job.wait) is dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "control_internal.h"

static void process(struct control_conn *c);
static void conn_cb(uv_poll_t *h, int status, int events);

/* A NUL byte, or a \u0000 escape (which cJSON would cut a string at). */
static bool has_nul(const char *s, size_t len)
{
	size_t i;

	if (memchr(s, '\0', len) != NULL)
		return true;
	for (i = 0; i + 1 < len; i++) {
		if (s[i] != '\\')
			continue;
		if (s[i + 1] == 'u' && len - i >= 6 && memcmp(s + i + 2, "0000", 4) == 0)
			return true;
		i++; /* past the escaped character */
	}
	return false;
}

cJSON *control_request_parse(const char *line, size_t len, char *msg, size_t msglen)
{
	cJSON *req;

	if (has_nul(line, len)) {
		snprintf(msg, msglen, "the request holds a NUL character");
		return NULL;
	}
	req = cJSON_ParseWithLength(line, len);
	if (!cJSON_IsObject(req) ||
	    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(req, "cmd"))) {
		cJSON_Delete(req);
		snprintf(msg, msglen,
			 "request must be a JSON object with a \"cmd\" string");
		return NULL;
	}
	return req;
}

static size_t pending(const struct control_conn *c)
{
	return c->out_len - c->out_off;
}

static void conn_closed(uv_handle_t *h)
{
	struct control_conn *c = h->data;
	struct control *ctl = c->ctl;
	size_t i;

	close(c->fd);
	for (i = 0; i < c->nfds; i++)
		close(c->fds[i].fd);
	buf_free(&c->in);
	free(c->out);
	free(c);
	control__release(ctl);
}

void control__conn_close(struct control_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->cancel != NULL) {
		c->cancel(c, c->cancel_arg);
		c->cancel = NULL;
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->ctl->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->ctl->nconns--;
	uv_close((uv_handle_t *)&c->poll, conn_closed);
}

/* Watches for input unless a complete line waits for its turn, for room to
 * write while output is queued, and for the peer hanging up. */
static void update_poll(struct control_conn *c)
{
	int ev = UV_DISCONNECT;

	if (c->closing)
		return;
	if (!c->close_when_written &&
	    (c->in.len == 0 || memchr(c->in.data, '\n', c->in.len) == NULL))
		ev |= UV_READABLE;
	if (pending(c) > 0)
		ev |= UV_WRITABLE;
	if (ev != c->events && uv_poll_start(&c->poll, ev, conn_cb) == 0)
		c->events = ev;
}

static void flush(struct control_conn *c)
{
	while (pending(c) > 0) {
		ssize_t w = send(c->fd, c->out + c->out_off, pending(c),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w <= 0) {
			control__conn_close(c);
			return;
		}
		c->out_off += (size_t)w;
	}
	if (pending(c) == 0) {
		c->out_off = c->out_len = 0;
		if (c->out_cap > 2 * CONTROL_OUT_LOW) { /* let a big answer's memory go */
			free(c->out);
			c->out = NULL;
			c->out_cap = 0;
		}
		if (c->close_when_written) {
			control__conn_close(c);
			return;
		}
	}
	update_poll(c);
}

/* Queues answer (consumed) as one line.  Returns false if the connection is
 * gone or had to be closed. */
static bool write_line(struct control_conn *c, cJSON *answer)
{
	char *text = answer != NULL ? cJSON_PrintUnformatted(answer) : NULL;
	size_t n;

	cJSON_Delete(answer);
	if (c->closing) {
		free(text);
		return false;
	}
	if (pending(c) > CONTROL_OUT_MAX) {
		unsigned long more = 0;

		if (log_rate_ok(&c->ctl->rl_limits, uv_now(c->ctl->loop), &more))
			log_warn(
			    "control: uid %u pid %d does not read its answers (over %d bytes "
			    "queued); connection dropped%s",
			    (unsigned)c->peer.uid, (int)c->peer.pid, CONTROL_OUT_MAX,
			    more ? " (and others)" : "");
		free(text);
		control__conn_close(c);
		return false;
	}
	n = text != NULL ? strlen(text) : 0;
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, pending(c));
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (text == NULL || c->out_len + n + 1 > c->out_cap) {
		size_t cap = c->out_len + n + 1 + 4096;
		char *bigger = text != NULL ? realloc(c->out, cap) : NULL;

		if (bigger == NULL) {
			free(text);
			control__conn_close(c);
			return false;
		}
		c->out = bigger;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, text, n);
	c->out[c->out_len + n] = '\n';
	c->out_len += n + 1;
	free(text);
	flush(c);
	return !c->closing;
}

void control_send(struct control_conn *c, cJSON *event)
{
	write_line(c, event);
}

size_t control_pending_bytes(const struct control_conn *c)
{
	return c->closing ? 0 : pending(c);
}

void control_set_cancel(struct control_conn *c,
			void (*fn)(struct control_conn *c, void *arg), void *arg)
{
	c->cancel = fn;
	c->cancel_arg = arg;
}

void control_reply(struct control_conn *c, cJSON *answer)
{
	c->cancel = NULL;
	c->busy = false;
	if (write_line(c, answer) && !c->in_hook)
		process(c); /* the next request, if one is buffered */
}

void control_reply_error(struct control_conn *c, const char *msg)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddFalseToObject(o, "ok");
	cJSON_AddStringToObject(o, "error", msg);
	control_reply(c, o);
}

void control_refuse(struct control_conn *c, const char *cmd, const char *msg)
{
	unsigned long more = 0;

	if (log_rate_ok(&c->ctl->rl_refused, uv_now(c->ctl->loop), &more))
		log_warn("control: refused \"%.60s\" from uid %u (%s) pid %d: %s%s", cmd,
			 (unsigned)c->peer.uid, c->peer.name, (int)c->peer.pid, msg,
			 more ? " (more refusals not logged)" : "");
	control_reply_error(c, msg);
}

const struct control_peer *control_peer(const struct control_conn *c)
{
	return &c->peer;
}

size_t control_fds(const struct control_conn *c)
{
	return c->in_hook ? c->nreq_fds : 0;
}

size_t control_take_fds(struct control_conn *c, int *fds, size_t max)
{
	size_t i, n = 0;

	for (i = 0; c->in_hook && i < c->nreq_fds && n < max; i++) {
		fds[n++] = c->req_fds[i];
		c->req_fds[i] = -1;
	}
	return n;
}

/* Moves the queued descriptors that came with the line ending at end. */
static size_t line_fds(struct control_conn *c, uint64_t end, int *fds)
{
	size_t i, n = 0, keep = 0;

	for (i = 0; i < c->nfds; i++) {
		if (c->fds[i].at <= end)
			fds[n++] = c->fds[i].fd;
		else
			c->fds[keep++] = c->fds[i];
	}
	c->nfds = keep;
	return n;
}

/* Handles complete lines while no request is pending and the answers so
 * far are mostly written. */
static void process(struct control_conn *c)
{
	while (!c->busy && !c->closing && pending(c) < CONTROL_OUT_LOW && c->in.len > 0) {
		char *nl = memchr(c->in.data, '\n', c->in.len), msg[256];
		int fds[CONTROL_FDS_MAX];
		size_t len, n, i;
		bool lost;
		cJSON *req;

		if (nl == NULL)
			break;
		len = (size_t)(nl - c->in.data);
		n = line_fds(c, c->in_base + len, fds);
		lost = c->fds_lost;
		c->fds_lost = false;
		req = control_request_parse(c->in.data, len, msg, sizeof(msg));
		memmove(c->in.data, nl + 1, c->in.len - len - 1);
		c->in.len -= len + 1;
		/* The consumed line's bytes (a value to fingerprint) go. */
		OPENSSL_cleanse(c->in.data + c->in.len, len + 1);
		c->in_base += len + 1;
		c->busy = true;
		c->in_hook = true;
		c->req_fds = fds;
		c->nreq_fds = n;
		if (req == NULL)
			control_reply_error(c, msg);
		else if (lost)
			control_reply_error(
			    c, "more than 64 descriptors came with the request; "
			       "all were closed");
		else
			c->ctl->hooks.request(c, req, c->ctl->hooks.data);
		c->in_hook = false;
		for (i = 0; i < n; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		cJSON_Delete(req);
	}
	update_poll(c);
}

/* A line longer than CONTROL_LINE_MAX: say so, then close. */
static void line_too_long(struct control_conn *c)
{
	unsigned long more = 0;
	char msg[160];
	cJSON *o;

	if (log_rate_ok(&c->ctl->rl_limits, uv_now(c->ctl->loop), &more))
		log_warn("control: uid %u pid %d sent a request line over %d bytes; "
			 "connection closed%s",
			 (unsigned)c->peer.uid, (int)c->peer.pid, CONTROL_LINE_MAX,
			 more ? " (and others)" : "");
	snprintf(msg, sizeof(msg),
		 "request line over %d bytes (one JSON object per line, "
		 "at most %d bytes); closing the connection",
		 CONTROL_LINE_MAX, CONTROL_LINE_MAX);
	c->close_when_written = true;
	buf_reset(&c->in);
	o = cJSON_CreateObject();
	cJSON_AddFalseToObject(o, "ok");
	cJSON_AddStringToObject(o, "error", msg);
	/* Not control_reply(): a request in progress keeps its cancel hook,
	 * which runs when the connection closes. */
	write_line(c, o);
}

/* Takes the descriptors of a received message into the queue. */
static void take_fds(struct control_conn *c, struct msghdr *m, uint64_t at)
{
	struct cmsghdr *cm;

	if (m->msg_flags & MSG_CTRUNC)
		c->fds_lost = true; /* the kernel closed the ones with no room */
	for (cm = CMSG_FIRSTHDR(m); cm != NULL; cm = CMSG_NXTHDR(m, cm)) {
		size_t i, n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (!c->fds_ok || c->nfds == CONTROL_FDS_MAX) {
				/* Not from a peer that may publish: dropped quietly;
				 * over the bound: the request is refused. */
				c->fds_lost |= c->fds_ok;
				close(fd);
				continue;
			}
			c->fds[c->nfds].fd = fd;
			c->fds[c->nfds++].at = at;
		}
	}
}

static void conn_read(struct control_conn *c)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * CONTROL_FDS_MAX)];
		struct cmsghdr align;
	} cm;
	char data[16384];
	size_t room = CONTROL_LINE_MAX + 1 - c->in.len; /* the line and its newline */
	struct iovec iov = {data, room < sizeof(data) ? room : sizeof(data)};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = cm.buf,
			   .msg_controllen = sizeof(cm.buf)};
	ssize_t n;
	int r;

	if (room == 0) {
		line_too_long(c);
		return;
	}
	n = recvmsg(c->fd, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n > 0)
		take_fds(c, &m, c->received + (uint64_t)n - 1);
	else if (m.msg_controllen > 0)
		take_fds(c, &m,
			 c->received); /* none expected; closed with the connection */
	if (n <= 0) {
		control__conn_close(c); /* the peer is gone, or an error */
		return;
	}
	c->received += (uint64_t)n;
	r = buf_append(&c->in, data, (size_t)n);
	OPENSSL_cleanse(data, (size_t)n); /* the stack keeps nothing */
	if (r < 0) {
		control__conn_close(c);
		return;
	}
	process(c);
	/* A line filling the buffer without its newline is over the bound
	 * now: say so at once, not when (if ever) another byte comes. */
	if (!c->closing && !c->close_when_written && c->in.len > CONTROL_LINE_MAX &&
	    memchr(c->in.data, '\n', c->in.len) == NULL)
		line_too_long(c);
}

static void conn_cb(uv_poll_t *h, int status, int events)
{
	struct control_conn *c = h->data;

	if (status < 0) {
		control__conn_close(c);
		return;
	}
	if (events & UV_WRITABLE)
		flush(c);
	if (!c->closing && (events & UV_READABLE))
		conn_read(c);
	/* Hung up while not being read (a request in progress and another
	 * waiting): nobody is left to answer. */
	if (!c->closing && (events & UV_DISCONNECT) && !(c->events & UV_READABLE))
		control__conn_close(c);
}

int control__conn_start(struct control_conn *c)
{
	struct control *ctl = c->ctl;
	int r;

	buf_init(&c->in, CONTROL_LINE_MAX + 1);
	r = uv_poll_init(ctl->loop, &c->poll, c->fd);
	if (r < 0)
		return r;
	c->poll.data = c;
	ctl->open_handles++;
	ctl->nconns++;
	c->next = ctl->conns;
	if (ctl->conns != NULL)
		ctl->conns->prev = c;
	ctl->conns = c;
	update_poll(c);
	return 0;
}

void control__release(struct control *ctl)
{
	if (--ctl->open_handles > 0)
		return;
	free(ctl->path);
	free(ctl);
}
