/* ctl_conn.c - talking to the control socket (ctl.h): connecting, sending a
 * request line (with descriptors), reading an answer line within a time
 * bound; and the small helpers every command uses (ctl_str, ctl_num,
 * ctl_has_help).  The commands' files and ctl.c call this file; it calls
 * none of them. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ctl/ctl.h"

#define ANSWER_MAX (4 * 1024 * 1024)

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ctl_open(struct ctl_conn *c, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->path = path;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "aos-publishctl: socket path too long: %s\n", path);
		return EXIT_UNREACHABLE;
	}
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr,
			"aos-publishctl: cannot connect to %s: %s (is aos-publishd "
			"running? see --socket)\n",
			path, strerror(errno));
		return EXIT_UNREACHABLE;
	}
	return 0;
}

int ctl_send_fds(struct ctl_conn *c, const char *line, const int *fds, size_t nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * CTL_FDS_MAX)];
		struct cmsghdr align;
	} cm;
	size_t n = strlen(line), off = 0;

	if (nfds > CTL_FDS_MAX)
		return EXIT_USAGE;
	/* The descriptors go with the first bytes of the line, in one
	 * sendmsg() that carries nothing else (docs/control-protocol.md). */
	while (off <= n) {
		struct iovec iov[2] = {
		    {(char *)line + off, n - off},
		    {"\n", 1},
		};
		struct msghdr m = {.msg_iov = off < n ? iov : iov + 1,
				   .msg_iovlen = off < n ? 2 : 1};
		ssize_t w;

		if (off == 0 && nfds > 0) {
			struct cmsghdr *h;

			memset(&cm, 0, sizeof(cm));
			m.msg_control = cm.buf;
			m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			h = CMSG_FIRSTHDR(&m);
			h->cmsg_level = SOL_SOCKET;
			h->cmsg_type = SCM_RIGHTS;
			h->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(h), fds, sizeof(int) * nfds);
		}
		w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			/* Closed at once (refused, or too many connections): the
			 * reason is waiting to be read. */
			c->send_errno = errno;
			return 0;
		}
		if (w <= 0) {
			fprintf(stderr, "aos-publishctl: cannot send to %s: %s\n",
				c->path, strerror(errno));
			return EXIT_UNREACHABLE;
		}
		off += (size_t)w;
	}
	return 0;
}

int ctl_send(struct ctl_conn *c, const char *line)
{
	return ctl_send_fds(c, line, NULL, 0);
}

int ctl_read_line(struct ctl_conn *c, int timeout_s, char **ret)
{
	long long deadline = now_ms() + (long long)timeout_s * 1000;
	char *nl;

	/* Drop the line handed out last time. */
	if (c->buf != NULL && (nl = memchr(c->buf, '\0', c->len)) != NULL) {
		size_t used = (size_t)(nl - c->buf) + 1;

		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
	}
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		long long left;
		ssize_t n;

		if (c->buf != NULL && (nl = memchr(c->buf, '\n', c->len)) != NULL) {
			*nl = '\0';
			*ret = c->buf;
			return 0;
		}
		if (c->len + 1 >= c->cap) {
			char *bigger;

			if (c->cap >= ANSWER_MAX) {
				fprintf(stderr, "aos-publishctl: answer too large\n");
				return EXIT_FAIL;
			}
			bigger = realloc(c->buf, c->cap ? c->cap * 2 : 65536);
			if (bigger == NULL)
				return EXIT_FAIL;
			c->buf = bigger;
			c->cap = c->cap ? c->cap * 2 : 65536;
		}
		left = deadline - now_ms();
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			fprintf(stderr,
				"aos-publishctl: no answer from the daemon within %d s "
				"(see --timeout)\n",
				timeout_s);
			return EXIT_TIMEOUT;
		}
		n = read(c->fd, c->buf + c->len, c->cap - c->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr,
				"aos-publishctl: the daemon closed the connection%s%s\n",
				c->send_errno ? " before the request was sent: " : "",
				c->send_errno ? strerror(c->send_errno) : "");
			return EXIT_FAIL;
		}
		c->len += (size_t)n;
	}
}

void ctl_close(struct ctl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
}

int ctl_exchange(const char *path, const char *req, int timeout_s, char **ret)
{
	struct ctl_conn c;
	char *line = NULL;
	int rc;

	rc = ctl_open(&c, path);
	if (rc == 0)
		rc = ctl_send(&c, req);
	if (rc == 0)
		rc = ctl_read_line(&c, timeout_s, &line);
	if (rc == 0) {
		*ret = strdup(line);
		rc = *ret != NULL ? 0 : EXIT_FAIL;
	}
	ctl_close(&c);
	return rc;
}

const char *ctl_str(const cJSON *o, const char *key, const char *def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : def;
}

double ctl_num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

bool ctl_has_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}
