/* transport.c - the curl multi socket interface on libuv: one uv_poll_t per
 * socket curl asks to watch, one uv_timer_t for curl's timeout.
 *
 * Every socket libcurl opens for the daemon is close-on-exec, so a child
 * (build step, git) cannot inherit a connection to Vault or a registry:
 * connections through open_socket_cb(), set on every easy handle here, and
 * the multi handle's internal socket pair marked when it is created. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/close_range.h>

#include "base/transport.h"
#include "common/err.h"

struct transport {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	struct transport_opts opts;
	char *ca_file;
	char *ca_path;
	struct transport_req *running;
	unsigned long started;
	bool closing;
};

struct sock_ctx {
	uv_poll_t poll;
	curl_socket_t fd;
	struct transport *t;
};

static void check_done(struct transport *t);

static void finish(struct transport_req *req, int result)
{
	struct transport *t = req->t;

	curl_multi_remove_handle(t->multi, req->easy);
	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		t->running = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	req->next = req->prev = NULL;
	req->result = result;
	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &req->status);
	req->cb(req, result, req->data);
}

static void check_done(struct transport *t)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(t->multi, &left)) != NULL) {
		struct transport_req *req = NULL;
		int result = 0;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&req);
		/* write_cb marks an answer over the limit (the refused piece is
		 * not appended, so body.len alone does not tell). */
		if (m->data.result == CURLE_WRITE_ERROR && req->result == AOS_ETOOBIG)
			result = AOS_ETOOBIG;
		else if (m->data.result != CURLE_OK)
			result = AOS_EHTTP;
		if (result != 0 && req->error[0] == '\0')
			snprintf(req->error, sizeof(req->error), "%s",
				 curl_easy_strerror(m->data.result));
		if (result == AOS_ETOOBIG)
			snprintf(req->error, sizeof(req->error),
				 "answer larger than %zu bytes", req->body.limit);
		finish(req, result);
	}
}

static bool past_deadline(const struct transport *t, const struct transport_req *req)
{
	return req->send_until != NULL && *req->send_until != 0 &&
	       uv_now(t->loop) >= *req->send_until;
}

/* Ends the running requests whose send_until has passed, before curl
 * reads or writes anything more for them.  A callback may start or end
 * other requests: the list is walked again from its head after each. */
static void past_deadlines(struct transport *t)
{
	struct transport_req *req = t->running;

	while (req != NULL) {
		if (!past_deadline(t, req)) {
			req = req->next;
			continue;
		}
		snprintf(req->error, sizeof(req->error),
			 "stopped sending: the job's lease may have run out (the "
			 "daemon did not run, or the queue did not renew it, for about "
			 "its length)");
		finish(req, AOS_EFENCED);
		req = t->running;
	}
}

static void poll_cb(uv_poll_t *p, int status, int events)
{
	struct sock_ctx *s = (struct sock_ctx *)p;
	int flags = 0, running;

	past_deadlines(s->t);
	if (uv_is_closing((uv_handle_t *)p))
		return; /* its request ended there: its socket went with it */

	/* libuv reports POLLERR (say a reset) as an error and stops the poll.
	 * An answer may still wait in the socket: a registry that refuses an
	 * upload with 403 before reading the body, then resets.  curl reads
	 * and writes to find out what is left, rather than giving up on
	 * CURL_CSELECT_ERR with "select/poll returned error". */
	if (status < 0)
		flags = CURL_CSELECT_IN | CURL_CSELECT_OUT;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(s->t->multi, s->fd, flags, &running);
	check_done(s->t);
}

static void timer_cb(uv_timer_t *timer)
{
	struct transport *t = timer->data;
	int running;

	past_deadlines(t);

	curl_multi_socket_action(t->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(t);
}

static int curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct transport *t = userp;

	(void)multi;
	if (timeout_ms < 0)
		uv_timer_stop(&t->timer);
	else
		uv_timer_start(&t->timer, timer_cb, (uint64_t)timeout_ms, 0);
	return 0;
}

static void sock_close_cb(uv_handle_t *h)
{
	free(h);
}

static int curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct transport *t = userp;
	struct sock_ctx *s = socketp;
	int events = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			uv_poll_stop(&s->poll);
			uv_close((uv_handle_t *)&s->poll, sock_close_cb);
			curl_multi_assign(t->multi, fd, NULL);
		}
		return 0;
	}
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return -1;
		s->fd = fd;
		s->t = t;
		if (uv_poll_init_socket(t->loop, &s->poll, fd) < 0) {
			free(s);
			return -1;
		}
		curl_multi_assign(t->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&s->poll, events, poll_cb);
	return 0;
}

/* curl_multi_init() opens a socket pair for curl_multi_wakeup() without
 * close-on-exec (libcurl 7.88 has no option for it): every descriptor is
 * made close-on-exec right after, as child.c does before each spawn (no
 * descriptor of the daemon is meant for a child).  Returns the multi
 * handle or NULL. */
static CURLM *multi_init_cloexec(void)
{
	CURLM *m = curl_multi_init();

	syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
	return m;
}

int transport_new(uv_loop_t *loop, const struct transport_opts *opts,
		  struct transport **ret)
{
	struct transport *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -ENOMEM;
	t->multi = multi_init_cloexec();
	if (t->multi == NULL) {
		free(t);
		return -ENOMEM;
	}
	t->loop = loop;
	uv_timer_init(loop, &t->timer);
	t->timer.data = t;
	curl_multi_setopt(t->multi, CURLMOPT_SOCKETFUNCTION, curl_socket);
	curl_multi_setopt(t->multi, CURLMOPT_SOCKETDATA, t);
	curl_multi_setopt(t->multi, CURLMOPT_TIMERFUNCTION, curl_timer);
	curl_multi_setopt(t->multi, CURLMOPT_TIMERDATA, t);
	transport_set_opts(t, opts);
	*ret = t;
	return 0;
}

void transport_set_opts(struct transport *t, const struct transport_opts *opts)
{
	free(t->ca_file);
	free(t->ca_path);
	t->opts = *opts;
	t->ca_file = opts->ca_file != NULL ? strdup(opts->ca_file) : NULL;
	t->ca_path = opts->ca_path != NULL ? strdup(opts->ca_path) : NULL;
	t->opts.ca_file = t->ca_file;
	t->opts.ca_path = t->ca_path;
}

static void transport_timer_closed(uv_handle_t *h)
{
	struct transport *t = h->data;

	curl_multi_cleanup(t->multi);
	free(t->ca_file);
	free(t->ca_path);
	free(t);
}

void transport_close(struct transport *t)
{
	if (t == NULL || t->closing)
		return;
	t->closing = true;
	while (t->running != NULL)
		finish(t->running, AOS_ECANCELED);
	uv_close((uv_handle_t *)&t->timer, transport_timer_closed);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct transport_req *req = userdata;
	size_t n = size * nmemb;
	int r = buf_append(&req->body, ptr, n);

	if (r < 0) {
		req->result = r;
		return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
	}
	return n;
}

/* Keeps the reason phrase of the final status line ("HTTP/1.1 400 File
 * already exists"): registries put their explanation there. */
static size_t header_cb(char *ptr, size_t size, size_t nitems, void *userdata)
{
	struct transport_req *req = userdata;
	size_t n = size * nitems, i = 0, j;

	if (n < 12 || strncmp(ptr, "HTTP/", 5) != 0)
		return n;
	while (i < n && ptr[i] != ' ')
		i++; /* version */
	while (i < n && ptr[i] == ' ')
		i++;
	while (i < n && ptr[i] >= '0' && ptr[i] <= '9')
		i++; /* code */
	while (i < n && ptr[i] == ' ')
		i++;
	for (j = 0; i < n && j + 1 < sizeof(req->reason); i++) {
		unsigned char ch = (unsigned char)ptr[i];

		if (ch == '\r' || ch == '\n')
			break;
		req->reason[j++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	req->reason[j] = '\0';
	return n;
}

/* libcurl's socket() without SOCK_CLOEXEC, with it (CURLOPT_OPENSOCKETFUNCTION). */
static curl_socket_t open_socket_cb(void *clientp, curlsocktype purpose,
				    struct curl_sockaddr *a)
{
	(void)clientp;
	(void)purpose;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

int transport_req_new(struct transport *t, size_t max_body, struct transport_req **ret)
{
	struct transport_req *req = calloc(1, sizeof(*req));

	if (req == NULL)
		return -ENOMEM;
	req->easy = curl_easy_init();
	if (req->easy == NULL) {
		free(req);
		return -ENOMEM;
	}
	req->t = t;
	buf_init(&req->body, max_body);
	curl_easy_setopt(req->easy, CURLOPT_OPENSOCKETFUNCTION, open_socket_cb);
	curl_easy_setopt(req->easy, CURLOPT_PRIVATE, req);
	curl_easy_setopt(req->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(req->easy, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(req->easy, CURLOPT_ERRORBUFFER, req->error);
	curl_easy_setopt(req->easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(req->easy, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(req->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(req->easy, CURLOPT_CONNECTTIMEOUT_MS,
			 t->opts.connect_timeout_ms);
	curl_easy_setopt(req->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(req->easy, CURLOPT_LOW_SPEED_TIME, t->opts.stall_timeout_s);
	curl_easy_setopt(req->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(req->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(req->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	/* HTTP/1.1 only: HTTP/2 goes through nghttp2, whose buffers (header
	 * compression tables holding X-Vault-Token) are freed with the plain
	 * free, outside the wiping allocators (common/wipe.h); the memory scan
	 * found the Vault token there after a TLS session. */
	curl_easy_setopt(req->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(req->easy, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(req->easy, CURLOPT_USERAGENT, "aos-publishd/" AOS_VERSION);
	if (t->opts.ca_file != NULL)
		curl_easy_setopt(req->easy, CURLOPT_CAINFO, t->opts.ca_file);
	if (t->opts.ca_path != NULL)
		curl_easy_setopt(req->easy, CURLOPT_CAPATH, t->opts.ca_path);
	*ret = req;
	return 0;
}

int transport_start(struct transport_req *req, transport_cb cb, void *data)
{
	struct transport *t = req->t;

	if (t->closing)
		return AOS_ECANCELED;
	buf_reset(&req->body);
	req->error[0] = '\0';
	req->reason[0] = '\0';
	req->status = 0;
	req->result = 0;
	req->cb = cb;
	req->data = data;
	if (curl_multi_add_handle(t->multi, req->easy) != CURLM_OK)
		return -ENOMEM;
	req->next = t->running;
	req->prev = NULL;
	if (t->running != NULL)
		t->running->prev = req;
	t->running = req;
	t->started++;
	return 0;
}

void transport_cancel(struct transport_req *req)
{
	struct transport *t = req->t;
	struct transport_req *p;

	for (p = t->running; p != NULL; p = p->next)
		if (p == req) {
			finish(req, AOS_ECANCELED);
			return;
		}
}

void transport_req_free(struct transport_req *req)
{
	if (req == NULL)
		return;
	curl_easy_cleanup(req->easy);
	buf_free(&req->body);
	free(req);
}

unsigned long transport_started(const struct transport *t)
{
	return t->started;
}
