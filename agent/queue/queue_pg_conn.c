/* queue_pg_conn.c - the PostgreSQL queue's connection settings and
 * current credentials as libpq's keyword/value arrays.  See
 * queue_pg_conn.h. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue_pg.h"
#include "queue/queue_pg_conn.h"

struct queue_pg_conn {
	/* copies of the settings' strings (NULL stays NULL) */
	char *host, *database, *user, *sslmode, *sslrootcert, *options, *appname;
	int port, connect_timeout_s;

	pthread_mutex_t mu; /* the credentials: set on the loop, read anywhere */
	char *cur_user;	    /* NULL: user */
	struct secret *password;
};

static int dup_opt(const char *s, char **ret)
{
	*ret = NULL;
	if (s == NULL)
		return 0;
	*ret = strdup(s);
	return *ret != NULL ? 0 : -ENOMEM;
}

void queue_pg_conn_free(struct queue_pg_conn *c)
{
	if (c == NULL)
		return;
	free(c->host);
	free(c->database);
	free(c->user);
	free(c->sslmode);
	free(c->sslrootcert);
	free(c->options);
	free(c->appname);
	free(c->cur_user);
	secret_unref(c->password);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int queue_pg_conn_new(const struct queue_pg_settings *s, struct queue_pg_conn **ret)
{
	struct queue_pg_conn *c;

	*ret = NULL;
	if (s == NULL || s->host == NULL || strlen(s->host) > QUEUE_PG_HOST_MAX ||
	    s->database == NULL || s->port < 0 || s->port > 65535 ||
	    s->connect_timeout_s < 0)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		return -ENOMEM;
	}
	c->port = s->port;
	c->connect_timeout_s = s->connect_timeout_s;
	if (dup_opt(s->host, &c->host) < 0 || dup_opt(s->database, &c->database) < 0 ||
	    dup_opt(s->user, &c->user) < 0 || dup_opt(s->sslmode, &c->sslmode) < 0 ||
	    dup_opt(s->sslrootcert, &c->sslrootcert) < 0 ||
	    dup_opt(s->options, &c->options) < 0 ||
	    dup_opt(s->application_name != NULL ? s->application_name : "aos-publishd",
		    &c->appname) < 0) {
		queue_pg_conn_free(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

int queue_pg_conn_set_credentials(struct queue_pg_conn *c, const char *user,
				  struct secret *password)
{
	char *u = NULL;
	struct secret *old;

	if (dup_opt(user, &u) < 0)
		return -ENOMEM;
	pthread_mutex_lock(&c->mu);
	free(c->cur_user);
	c->cur_user = u;
	old = c->password;
	c->password = secret_ref(password);
	pthread_mutex_unlock(&c->mu);
	secret_unref(old); /* wiped if it was the last reference */
	return 0;
}

void queue_pg_conn_user(struct queue_pg_conn *c, char *buf, size_t len)
{
	const char *u;

	pthread_mutex_lock(&c->mu);
	u = c->cur_user != NULL ? c->cur_user : c->user;
	snprintf(buf, len, "%s", u != NULL ? u : "");
	pthread_mutex_unlock(&c->mu);
}

/* Appends key=value when value is set. */
static void add(struct queue_pg_params *p, size_t *n, const char *key, const char *value)
{
	if (value == NULL)
		return;
	p->keys[*n] = key;
	p->values[*n] = value;
	(*n)++;
}

/* Appends key=v (written into buf) when v is set (> 0). */
static void add_num(struct queue_pg_params *p, size_t *n, const char *key, int v,
		    char *buf, size_t len)
{
	if (v <= 0)
		return;
	snprintf(buf, len, "%d", v);
	add(p, n, key, buf);
}

int queue_pg_conn_params(struct queue_pg_conn *c, struct queue_pg_params *p)
{
	size_t n = 0;
	const char *u;

	memset(p, 0, sizeof(*p));
	pthread_mutex_lock(&c->mu);
	u = c->cur_user != NULL ? c->cur_user : c->user;
	if (u != NULL && (p->user = strdup(u)) == NULL) {
		pthread_mutex_unlock(&c->mu);
		return -ENOMEM;
	}
	p->password = secret_ref(c->password);
	pthread_mutex_unlock(&c->mu);

	add(p, &n, "host", c->host);
	add_num(p, &n, "port", c->port, p->port, sizeof(p->port));
	add(p, &n, "dbname", c->database);
	add(p, &n, "user", p->user);
	add(p, &n, "password", p->password != NULL ? secret_value(p->password) : NULL);
	add(p, &n, "sslmode", c->sslmode);
	/* no GSSAPI encryption: where a Kerberos ticket is at hand, libpq
	 * would prefer it to TLS and sslmode's checks would not apply */
	add(p, &n, "gssencmode", "disable");
	add(p, &n, "sslrootcert", c->sslrootcert);
	add_num(p, &n, "connect_timeout", c->connect_timeout_s, p->timeout,
		sizeof(p->timeout));
	add(p, &n, "options", c->options);
	add(p, &n, "application_name", c->appname);
	/* TCP keepalives: a server that went away without a word (a host
	 * down, a dropped NAT entry) is noticed within about a minute, not
	 * after the kernel's two hours; the LISTEN connection only reads */
	add(p, &n, "keepalives", "1");
	add(p, &n, "keepalives_idle", "30");
	add(p, &n, "keepalives_interval", "10");
	add(p, &n, "keepalives_count", "3");
	p->keys[n] = NULL;
	p->values[n] = NULL;
	return 0;
}

int queue_pg_params_add(struct queue_pg_params *p, const char *key, const char *value)
{
	size_t n = 0;

	while (p->keys[n] != NULL)
		n++;
	if (n >= QUEUE_PG_PARAMS_MAX)
		return -ENOSPC;
	add(p, &n, key, value);
	p->keys[n] = NULL;
	p->values[n] = NULL;
	return 0;
}

const char *queue_pg_conn_host(const struct queue_pg_conn *c)
{
	return c->host;
}

void queue_pg_params_clear(struct queue_pg_params *p)
{
	secret_unref(p->password);
	free(p->user);
	memset(p, 0, sizeof(*p)); /* the values pointed at the password */
}

int queue_pg_conn_open(void *conn, struct queue **ret, char *errbuf, size_t errlen)
{
	struct queue_pg_params p;
	int result;

	result = queue_pg_conn_params(conn, &p);
	if (result < 0) {
		snprintf(errbuf, errlen, "PostgreSQL queue: out of memory");
		return result;
	}
	result = queue_pg_open_params(p.keys, p.values, ret, errbuf, errlen);
	queue_pg_params_clear(&p);
	return result;
}
