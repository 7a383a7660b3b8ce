/* control.c - control socket server on libuv pipes. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "control.h"
#include "log.h"

struct control {
	uv_pipe_t server;
	char *path;
	control_handler handler;
	void *data;
	struct control_conn *conns;
	int open_handles;
	bool closing;
};

struct control_conn {
	uv_pipe_t pipe;
	struct control *ctl;
	struct buf in;
	bool busy;      /* a request is waiting for its answer */
	bool closing;
	void (*cancel)(struct control_conn *c, void *arg);
	void *cancel_arg;
	struct control_conn *next, *prev;
};

struct write_req {
	uv_write_t req;
	char *data;
};

static void process(struct control_conn *c);

static void ctl_release(struct control *ctl)
{
	if (--ctl->open_handles > 0)
		return;
	free(ctl->path);
	free(ctl);
}

static void conn_closed(uv_handle_t *h)
{
	struct control_conn *c = h->data;
	struct control *ctl = c->ctl;

	buf_free(&c->in);
	free(c);
	ctl_release(ctl);
}

static void conn_close(struct control_conn *c)
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
	uv_close((uv_handle_t *)&c->pipe, conn_closed);
}

static void write_done(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;

	(void)status;
	free(w->data);
	free(w);
}

void control_set_cancel(struct control_conn *c,
			void (*fn)(struct control_conn *c, void *arg), void *arg)
{
	c->cancel = fn;
	c->cancel_arg = arg;
}

/* Queues answer (consumed) as one line.  Returns false if the connection
 * is gone or had to be closed. */
static bool write_line(struct control_conn *c, cJSON *answer)
{
	struct write_req *w;
	char *text;
	uv_buf_t b;
	size_t n;

	text = answer != NULL ? cJSON_PrintUnformatted(answer) : NULL;
	cJSON_Delete(answer);
	if (c->closing) {
		free(text);
		return false;
	}
	if (text == NULL) {
		text = strdup("{\"ok\":false,\"error\":\"out of memory\"}");
		if (text == NULL) {
			conn_close(c);
			return false;
		}
	}
	n = strlen(text);
	w = malloc(sizeof(*w));
	text = realloc(text, n + 2);
	if (w == NULL || text == NULL) {
		free(w);
		free(text);
		conn_close(c);
		return false;
	}
	text[n] = '\n';
	text[n + 1] = '\0';
	w->data = text;
	b = uv_buf_init(text, (unsigned)(n + 1));
	if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, write_done) < 0) {
		free(text);
		free(w);
		conn_close(c);
		return false;
	}
	return true;
}

void control_send(struct control_conn *c, cJSON *event)
{
	write_line(c, event);
}

size_t control_pending_bytes(const struct control_conn *c)
{
	return c->closing ? 0 : uv_stream_get_write_queue_size((const uv_stream_t *)&c->pipe);
}

void control_reply(struct control_conn *c, cJSON *answer)
{
	c->cancel = NULL;
	c->busy = false;
	if (write_line(c, answer))
		process(c); /* the next request, if one is buffered */
}

void control_reply_error(struct control_conn *c, const char *msg)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddFalseToObject(o, "ok");
	cJSON_AddStringToObject(o, "error", msg);
	control_reply(c, o);
}

/* Handles complete lines in the input while no request is pending. */
static void process(struct control_conn *c)
{
	while (!c->busy && !c->closing && c->in.len > 0) {
		char *nl = memchr(c->in.data, '\n', c->in.len);
		size_t linelen;
		cJSON *req;

		if (nl == NULL)
			return;
		linelen = (size_t)(nl - c->in.data);
		req = cJSON_ParseWithLength(c->in.data, linelen);
		memmove(c->in.data, nl + 1, c->in.len - linelen - 1);
		c->in.len -= linelen + 1;
		/* The consumed line's bytes (a value to fingerprint) go. */
		OPENSSL_cleanse(c->in.data + c->in.len, linelen + 1);
		c->busy = true;
		if (!cJSON_IsObject(req) ||
		    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(req, "cmd")))
			control_reply_error(c, "request must be a JSON object with a \"cmd\" string");
		else
			c->ctl->handler(c, req, c->ctl->data);
		cJSON_Delete(req);
	}
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	static char slab[16384];

	(void)h;
	(void)suggested;
	*b = uv_buf_init(slab, sizeof(slab));
}

static void read_cb(uv_stream_t *stream, ssize_t n, const uv_buf_t *b)
{
	struct control_conn *c = stream->data;
	int r;

	if (n < 0) {
		conn_close(c);
		return;
	}
	if (n == 0)
		return;
	r = buf_append(&c->in, b->base, (size_t)n);
	OPENSSL_cleanse(b->base, (size_t)n); /* the shared slab keeps nothing */
	if (r < 0) {
		log_warn("control: request line over %d bytes; closing the connection",
			 CONTROL_LINE_MAX);
		conn_close(c);
		return;
	}
	process(c);
}

/* True if pid is a descendant of this process (a build step or anything
 * it started): walks the parent chain in /proc. */
static bool is_descendant(pid_t pid)
{
	pid_t self = getpid();
	int depth;

	for (depth = 0; depth < 64 && pid > 1; depth++) {
		char path[64], buf[512], *rpar;
		ssize_t n;
		int fd;
		long ppid;

		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return false;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			return false;
		buf[n] = '\0';
		/* "pid (comm) state ppid ...": comm may hold spaces and ')'. */
		rpar = strrchr(buf, ')');
		if (rpar == NULL || sscanf(rpar + 1, " %*c %ld", &ppid) != 1)
			return false;
		if ((pid_t)ppid == self)
			return true;
		pid = (pid_t)ppid;
	}
	return false;
}

/* Build steps run as this daemon's children under the same user: they
 * must not steer it (publish with its tokens, cancel jobs). */
static bool peer_refused(uv_pipe_t *p)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)p, &fd) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.pid > 0 && is_descendant(cred.pid);
}

static void connection_cb(uv_stream_t *server, int status)
{
	struct control *ctl = server->data;
	struct control_conn *c;

	if (status < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->ctl = ctl;
	buf_init(&c->in, CONTROL_LINE_MAX);
	uv_pipe_init(server->loop, &c->pipe, 0);
	c->pipe.data = c;
	ctl->open_handles++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
		c->closing = true;
		uv_close((uv_handle_t *)&c->pipe, conn_closed);
		return;
	}
	if (peer_refused(&c->pipe)) {
		log_warn("control: a connection from a build step (a child of the daemon) "
			 "was refused");
		c->closing = true;
		uv_close((uv_handle_t *)&c->pipe, conn_closed);
		return;
	}
	c->next = ctl->conns;
	if (ctl->conns != NULL)
		ctl->conns->prev = c;
	ctl->conns = c;
	uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb);
}

static void server_closed(uv_handle_t *h)
{
	ctl_release(h->data);
}

int control_open(uv_loop_t *loop, const char *path, control_handler h, void *data,
		 struct control **ret)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	mode_t old;
	int r;

	if (ctl == NULL)
		return -ENOMEM;
	ctl->path = strdup(path);
	ctl->handler = h;
	ctl->data = data;
	ctl->open_handles = 1;
	uv_pipe_init(loop, &ctl->server, 0);
	ctl->server.data = ctl;
	if (unlink(path) < 0 && errno != ENOENT) {
		r = -errno;
		goto fail;
	}
	old = umask(0117); /* the socket is created 0660 */
	r = uv_pipe_bind(&ctl->server, path);
	umask(old);
	if (r < 0)
		goto fail;
	if (chmod(path, 0660) < 0) {
		r = -errno;
		goto fail;
	}
	r = uv_listen((uv_stream_t *)&ctl->server, 64, connection_cb);
	if (r < 0)
		goto fail;
	*ret = ctl;
	return 0;
fail:
	ctl->closing = true;
	uv_close((uv_handle_t *)&ctl->server, server_closed);
	return r;
}

void control_close(struct control *ctl)
{
	if (ctl == NULL || ctl->closing)
		return;
	ctl->closing = true;
	while (ctl->conns != NULL)
		conn_close(ctl->conns);
	unlink(ctl->path);
	uv_close((uv_handle_t *)&ctl->server, server_closed);
}
