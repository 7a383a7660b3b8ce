/* child.c - child processes for build steps.
 *
 * The child is a session leader (UV_PROCESS_DETACHED: setsid), so its pid
 * is the id of a process group holding everything it starts.  When it
 * exits, what is left of that group is killed: a build step may not leave
 * processes behind, and a grandchild holding the output pipe open must not
 * keep the job waiting.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/close_range.h>

#include "base/child.h"

#define ABORT_GRACE_MS 2000 /* child_abort(): SIGTERM to SIGKILL */

#define DEFAULT_GRACE_MS 10000
#define DEFAULT_OUTPUT (64 * 1024)
#define DRAIN_MS 2000 /* after the exit: at most this long for the pipes */

struct stream {
	uv_pipe_t pipe;
	struct child *c;
	char line[CHILD_LINE_MAX + 1];
	size_t len;
	bool cut; /* the current line passed CHILD_LINE_MAX */
	bool open;
};

struct child {
	uv_process_t proc;
	uv_timer_t timer;
	struct stream out, err;
	struct child_opts o;
	struct child_result res;
	int open_handles;
	size_t shown;
	bool exited, terminating, aborted, reported;
	char rbuf[16384];
};

static void maybe_done(struct child *c);

static void handle_closed(uv_handle_t *h)
{
	struct child *c = h->data;

	if (--c->open_handles == 0)
		free(c);
}

static void close_all(struct child *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, handle_closed);
	if (!uv_is_closing((uv_handle_t *)&c->proc))
		uv_close((uv_handle_t *)&c->proc, handle_closed);
	if (!uv_is_closing((uv_handle_t *)&c->out.pipe))
		uv_close((uv_handle_t *)&c->out.pipe, handle_closed);
	if (!uv_is_closing((uv_handle_t *)&c->err.pipe))
		uv_close((uv_handle_t *)&c->err.pipe, handle_closed);
}

static void kill_group(struct child *c, int sig)
{
	if (c->proc.pid > 0)
		kill(-c->proc.pid, sig);
}

static void emit(struct stream *s)
{
	struct child *c = s->c;

	s->line[s->len] = '\0';
	if (c->o.line != NULL && !c->aborted)
		c->o.line(c->o.data, s->line, s->len);
	s->len = 0;
	s->cut = false;
}

static void take(struct stream *s, const char *p, size_t n)
{
	struct child *c = s->c;
	size_t i;

	for (i = 0; i < n; i++) {
		if (c->shown >= c->o.max_output) {
			c->res.dropped += n - i;
			return;
		}
		c->shown++;
		if (p[i] == '\n') {
			if (!s->cut || s->len > 0)
				emit(s);
			else
				s->cut = false;
			continue;
		}
		if (s->len == CHILD_LINE_MAX) {
			if (!s->cut) {
				emit(s);
				s->cut = true;
			}
			continue; /* the rest of an over-long line is dropped */
		}
		s->line[s->len++] = p[i];
	}
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct stream *s = (struct stream *)(uv_pipe_t *)h; /* the pipe is first */

	(void)hint;
	buf->base = s->c->rbuf;
	buf->len = sizeof(s->c->rbuf);
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct stream *s = (struct stream *)(uv_pipe_t *)st;

	if (n > 0) {
		take(s, buf->base, (size_t)n);
		return;
	}
	if (n == 0)
		return;
	if (s->len > 0)
		emit(s);
	s->open = false;
	uv_read_stop(st);
	maybe_done(s->c);
}

static void maybe_done(struct child *c)
{
	if (c->reported || !c->exited)
		return;
	if (c->out.open || c->err.open)
		return;
	c->reported = true;
	uv_timer_stop(&c->timer);
	if (c->o.done != NULL && !c->aborted)
		c->o.done(c->o.data, &c->res);
	close_all(c);
}

static void timer_cb(uv_timer_t *t)
{
	struct child *c = t->data;

	if (c->exited) {
		/* The pipes stayed open past the drain time: give up on them. */
		if (c->out.len > 0)
			emit(&c->out);
		if (c->err.len > 0)
			emit(&c->err);
		c->out.open = c->err.open = false;
		maybe_done(c);
		return;
	}
	if (c->aborted) { /* the grace of child_abort() is over */
		kill_group(c, SIGKILL);
		return;
	}
	if (!c->terminating) {
		c->terminating = true;
		c->res.timed_out = true;
		kill_group(c, SIGTERM);
		uv_timer_start(&c->timer, timer_cb, c->o.kill_grace_ms, 0);
		return;
	}
	kill_group(c, SIGKILL);
}

static void exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct child *c = p->data;

	if (c->aborted) {
		c->exited = true;
		close_all(c);
		return;
	}
	c->exited = true;
	c->res.exit_status = status;
	c->res.term_signal = sig;
	/* Whatever the step left running goes too. */
	kill_group(c, SIGKILL);
	uv_timer_start(&c->timer, timer_cb, DRAIN_MS, 0);
	maybe_done(c);
}

int child_start(uv_loop_t *loop, const struct child_opts *o, struct child **ret)
{
	struct child *c = calloc(1, sizeof(*c));
	uv_process_options_t po = {0};
	uv_stdio_container_t stdio[3];
	int r;

	if (c == NULL)
		return UV_ENOMEM;
	c->o = *o;
	if (c->o.kill_grace_ms == 0)
		c->o.kill_grace_ms = DEFAULT_GRACE_MS;
	if (c->o.max_output == 0)
		c->o.max_output = DEFAULT_OUTPUT;
	uv_timer_init(loop, &c->timer);
	uv_pipe_init(loop, &c->out.pipe, 0);
	uv_pipe_init(loop, &c->err.pipe, 0);
	c->timer.data = c->out.pipe.data = c->err.pipe.data = c;
	c->out.c = c->err.c = c;
	c->open_handles = 3;
	stdio[0].flags = UV_IGNORE; /* /dev/null */
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&c->out.pipe;
	stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[2].data.stream = (uv_stream_t *)&c->err.pipe;
	po.file = o->argv[0];
	po.args = (char **)o->argv;
	po.env = (char **)o->env;
	po.cwd = o->cwd;
	po.flags = UV_PROCESS_DETACHED; /* setsid: its own process group */
	po.stdio = stdio;
	po.stdio_count = 3;
	po.exit_cb = exit_cb;
	c->proc.data = c;
	/* Nothing of the daemon's reaches a child: every descriptor above 2 is
	 * made close-on-exec first (libcurl's sockets are not, by default).
	 * Children run on this thread only, so none is opened in between;
	 * build steps also close them all themselves (sandbox.h). */
	syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
	r = uv_spawn(loop, &c->proc, &po);
	if (r < 0) {
		/* uv_spawn leaves an initialised handle that must be closed. */
		c->open_handles = 4;
		c->aborted = true;
		close_all(c);
		return r;
	}
	c->open_handles = 4;
	c->out.open = c->err.open = true;
	uv_read_start((uv_stream_t *)&c->out.pipe, alloc_cb, read_cb);
	uv_read_start((uv_stream_t *)&c->err.pipe, alloc_cb, read_cb);
	if (c->o.timeout_ms > 0)
		uv_timer_start(&c->timer, timer_cb, c->o.timeout_ms, 0);
	*ret = c;
	return 0;
}

void child_abort(struct child *c)
{
	if (c == NULL || c->aborted)
		return;
	c->aborted = true;
	if (!c->exited) {
		/* SIGTERM first: a step's --reap helper (sandbox.h) then kills
		 * what the step left behind, double-forked processes only it can
		 * find; SIGKILL after a short grace.  The exit callback still
		 * runs, then closes. */
		kill_group(c, SIGTERM);
		c->reported = true;
		uv_timer_start(&c->timer, timer_cb, ABORT_GRACE_MS, 0);
		return;
	}
	kill_group(c, SIGKILL);
	if (!c->reported) {
		c->reported = true;
		close_all(c);
	}
}

int child_pid(const struct child *c)
{
	return c->proc.pid;
}
