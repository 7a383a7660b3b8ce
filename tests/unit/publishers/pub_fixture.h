/* pub_fixture.h - shared helpers of the publishers/ unit tests: a scratch
 * directory, archives written with libarchive's writer, and a one-shot
 * loopback HTTP server that records the request it gets.
 *
 * Header-only (static functions) so each test stays one executable.
 */
#ifndef AOS_TEST_PUB_FIXTURE_H
#define AOS_TEST_PUB_FIXTURE_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

enum fx_fmt { FX_ZIP, FX_TGZ };

struct fx_member {
	const char *path;
	const char *data; /* NULL: empty */
	size_t len;	  /* 0: strlen(data) */
	char type;	  /* 0 file, 'l' symlink, 'h' hard link, 'd' directory */
	const char *link;
};

static char fx_dir[64];

static inline int fx_setup(void **state)
{
	(void)state;
	snprintf(fx_dir, sizeof(fx_dir), "/tmp/aos-pub-test.XXXXXX");
	if (mkdtemp(fx_dir) == NULL)
		return -1;
	return 0;
}

static inline int fx_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The path of name inside the scratch directory (rotating static buffers). */
static inline const char *fx_path(const char *name)
{
	static char buf[8][300];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", fx_dir, name);
	return buf[i];
}

static inline void fx_write_archive(const char *name, enum fx_fmt fmt,
				    const struct fx_member *m, size_t n)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e;
	size_t i, len;

	assert_non_null(a);
	if (fmt == FX_ZIP) {
		assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
	} else {
		assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
		assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	}
	assert_int_equal(archive_write_open_filename(a, fx_path(name)), ARCHIVE_OK);
	for (i = 0; i < n; i++) {
		len = m[i].data == NULL ? 0 : m[i].len ? m[i].len : strlen(m[i].data);
		e = archive_entry_new();
		archive_entry_set_pathname(e, m[i].path);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_filetype(e, AE_IFREG);
		if (m[i].type == 'l') {
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_symlink(e, m[i].link);
			len = 0;
		} else if (m[i].type == 'h') {
			archive_entry_set_hardlink(e, m[i].link);
			len = 0;
		} else if (m[i].type == 'd') {
			archive_entry_set_filetype(e, AE_IFDIR);
			archive_entry_set_perm(e, 0755);
			len = 0;
		}
		archive_entry_set_size(e, (la_int64_t)len);
		assert_true(archive_write_header(a, e) >= ARCHIVE_WARN);
		if (len > 0)
			assert_int_equal(archive_write_data(a, m[i].data, len),
					 (la_ssize_t)len);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static inline void fx_write_file(const char *name, const void *data, size_t len)
{
	FILE *f = fopen(fx_path(name), "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Reads a whole file; the caller frees the result. */
static inline char *fx_read_file(const char *name, size_t *ret_len)
{
	FILE *f = fopen(fx_path(name), "rb");
	char *p;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	p[n] = '\0';
	*ret_len = (size_t)n;
	return p;
}

/* Deterministic pseudo-random bytes. */
static inline void fx_fill(char *p, size_t n, unsigned seed)
{
	uint32_t x = seed;
	size_t i;

	for (i = 0; i < n; i++) {
		x = x * 1103515245 + 12345;
		p[i] = (char)(x >> 16);
	}
}

/* A one-shot HTTP server on 127.0.0.1: accepts one connection, reads one
 * request (answering "Expect: 100-continue"), sends the canned response,
 * closes. */
struct fx_server {
	int fd, port;
	pthread_t thread;
	const char *response;
	char *request; /* headers and body, NUL-terminated */
	size_t request_len, header_len;
};

static inline size_t fx_content_length(const char *headers)
{
	const char *p = headers;

	while ((p = strchr(p, '\n')) != NULL) {
		p++;
		if (strncasecmp(p, "Content-Length:", 15) == 0)
			return (size_t)strtoull(p + 15, NULL, 10);
	}
	return 0;
}

static inline void *fx_serve(void *arg)
{
	struct fx_server *s = arg;
	size_t cap = 65536, want = 0;
	bool have_headers = false;
	char *end;
	ssize_t n;
	int c;

	c = accept(s->fd, NULL, NULL);
	if (c < 0)
		return NULL;
	s->request = malloc(cap + 1);
	s->request_len = 0;
	for (;;) {
		if (s->request_len == cap) {
			cap *= 2;
			s->request = realloc(s->request, cap + 1);
		}
		n = read(c, s->request + s->request_len, cap - s->request_len);
		if (n <= 0)
			break;
		s->request_len += (size_t)n;
		s->request[s->request_len] = '\0';
		if (!have_headers && (end = strstr(s->request, "\r\n\r\n")) != NULL) {
			have_headers = true;
			s->header_len = (size_t)(end - s->request) + 4;
			want = s->header_len + fx_content_length(s->request);
			if (strcasestr(s->request, "Expect: 100-continue") != NULL)
				(void)!write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
		}
		if (have_headers && s->request_len >= want)
			break;
	}
	(void)!write(c, s->response, strlen(s->response));
	shutdown(c, SHUT_WR);
	close(c);
	return NULL;
}

static inline void fx_server_start(struct fx_server *s, const char *response)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	memset(s, 0, sizeof(*s));
	s->response = response;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->fd, 1), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sa, &len), 0);
	s->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, fx_serve, s), 0);
}

/* Waits for the request to be served (the request fields are then set). */
static inline void fx_server_wait(struct fx_server *s)
{
	pthread_join(s->thread, NULL);
	close(s->fd);
	assert_non_null(s->request);
}

static inline void fx_server_free(struct fx_server *s)
{
	free(s->request);
	s->request = NULL;
}

#endif
