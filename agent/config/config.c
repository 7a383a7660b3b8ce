/* config.c - JSON configuration with errors that name the key path. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config/config.h"
#include "config_internal.h"
#include "err.h"

#define CONFIG_MAX_BYTES (1024 * 1024)

void cfg__fail(struct cctx *c, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->failed)
		return;
	c->failed = true;
	n = snprintf(c->err, c->errlen, "%s: %s: ", c->file, path);
	if (n < 0 || (size_t)n >= c->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

void cfg__join(char *out, size_t outlen, const char *base, const char *key)
{
	snprintf(out, outlen, "%s%s%s", base, base[0] ? "." : "", key);
}

const char *cfg__type_name(const cJSON *v)
{
	if (cJSON_IsString(v)) return "a string";
	if (cJSON_IsNumber(v)) return "a number";
	if (cJSON_IsBool(v)) return "a boolean";
	if (cJSON_IsNull(v)) return "null";
	if (cJSON_IsArray(v)) return "an array";
	if (cJSON_IsObject(v)) return "an object";
	return "something else";
}

/* Reports repeated keys of obj, and keys not in allowed (NULL-terminated;
 * NULL allows any name). */
void cfg__check_keys(struct cctx *c, const cJSON *obj, const char *base,
		       const char *const *allowed)
{
	const cJSON *it;
	char p[256];

	cJSON_ArrayForEach(it, obj) {
		const char *const *a;
		const cJSON *prev;
		bool ok = false;

		for (prev = obj->child; prev != it; prev = prev->next) {
			if (strcmp(prev->string, it->string) == 0) {
				cfg__join(p, sizeof(p), base, it->string);
				cfg__fail(c, p, "duplicate key (only one may be given)");
			}
		}

		if (allowed == NULL)
			continue; /* any name, but each once */
		for (a = allowed; *a != NULL; a++)
			ok |= strcmp(*a, it->string) == 0;
		if (!ok) {
			cfg__join(p, sizeof(p), base, it->string);
			cfg__fail(c, p, "unknown key (check the spelling; see docs/configuration.md)");
		}
	}
}

/* A string value; NULL def means required unless optional is set. */
char *cfg__str(struct cctx *c, const cJSON *obj, const char *base,
		     const char *key, const char *def, bool optional)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char p[256];
	char *s;

	cfg__join(p, sizeof(p), base, key);
	if (v == NULL || cJSON_IsNull(v)) {
		if (def == NULL) {
			if (!optional)
				cfg__fail(c, p, "missing; expected a string");
			return NULL;
		}
		s = strdup(def);
	} else if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
		cfg__fail(c, p, "expected a non-empty string, got %s",
		     cJSON_IsString(v) ? "an empty string" : cfg__type_name(v));
		return NULL;
	} else if (strlen(v->valuestring) > 4096) {
		cfg__fail(c, p, "string too long (at most 4096 bytes)");
		return NULL;
	} else {
		s = strdup(v->valuestring);
	}
	if (s == NULL)
		cfg__fail(c, p, "out of memory");
	return s;
}

long cfg__int(struct cctx *c, const cJSON *obj, const char *base,
		    const char *key, long def, long min, long max)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char p[256];

	if (v == NULL)
		return def;
	cfg__join(p, sizeof(p), base, key);
	/* Range first: converting an out-of-range double to long is undefined. */
	if (!cJSON_IsNumber(v) || v->valuedouble < (double)min ||
	    v->valuedouble > (double)max ||
	    v->valuedouble != (double)(long)v->valuedouble) {
		char got[64];

		if (cJSON_IsString(v))
			snprintf(got, sizeof(got), "\"%.40s\"", v->valuestring);
		else if (cJSON_IsNumber(v))
			snprintf(got, sizeof(got), "%g", v->valuedouble);
		else
			snprintf(got, sizeof(got), "%s", cfg__type_name(v));
		cfg__fail(c, p, "expected an integer from %ld to %ld, got %s", min, max, got);
		return def;
	}
	return (long)v->valuedouble;
}

bool cfg__bool(struct cctx *c, const cJSON *obj, const char *base,
		     const char *key, bool def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char p[256];

	if (v == NULL)
		return def;
	if (!cJSON_IsBool(v)) {
		cfg__join(p, sizeof(p), base, key);
		cfg__fail(c, p, "expected true or false, got %s", cfg__type_name(v));
		return def;
	}
	return cJSON_IsTrue(v);
}

const cJSON *cfg__obj(struct cctx *c, const cJSON *obj, const char *base,
			    const char *key, bool required)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char p[256];

	cfg__join(p, sizeof(p), base, key);
	if (v == NULL) {
		if (required)
			cfg__fail(c, p, "missing; expected an object");
		return NULL;
	}
	if (!cJSON_IsObject(v)) {
		cfg__fail(c, p, "expected an object, got %s", cfg__type_name(v));
		return NULL;
	}
	return v;
}

/* Past "127.x.y.z" (decimal octets) at h, or NULL. */
static const char *skip_ipv4_loopback(const char *h)
{
	int i, n, v;

	if (strncmp(h, "127", 3) != 0)
		return NULL;
	h += 3;
	for (i = 0; i < 3; i++) {
		if (*h++ != '.')
			return NULL;
		for (n = 0, v = 0; n < 3 && *h >= '0' && *h <= '9'; n++, h++)
			v = v * 10 + (*h - '0');
		if (n == 0 || v > 255)
			return NULL;
	}
	return h;
}

bool config_url_allowed(const char *url)
{
	static const char *const names[] = { "localhost", "[::1]", NULL };
	const char *host, *end = NULL;
	const char *const *l;
	int digits = 0;

	if (strncasecmp(url, "https://", 8) == 0)
		return url[8] != '\0' && url[8] != '/';
	if (strncasecmp(url, "http://", 7) != 0)
		return false;
	host = url + 7;
	end = skip_ipv4_loopback(host);
	for (l = names; end == NULL && *l != NULL; l++)
		if (strncasecmp(host, *l, strlen(*l)) == 0)
			end = host + strlen(*l);
	if (end == NULL)
		return false;
	/* The host must end here: "127.0.0.1.evil.example" and userinfo such
	 * as "127.0.0.1:1@evil.example" name another host.  An optional
	 * numeric port, then the path or the end. */
	if (*end == ':') {
		for (end++; *end >= '0' && *end <= '9'; end++)
			digits++;
		if (digits == 0 || digits > 5)
			return false;
	}
	return *end == '\0' || *end == '/';
}

void cfg__check_url(struct cctx *c, const char *path, const char *url)
{
	if (url != NULL && !config_url_allowed(url))
		cfg__fail(c, path, "expected an https:// URL (plain http:// only to a "
		     "loopback host), got \"%.200s\"", url);
}

static const char *env2(const char *a, const char *b)
{
	const char *v = getenv(a);

	if (v == NULL || v[0] == '\0')
		v = getenv(b);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Replaces *field with the environment's value when set (env wins). */
static void env_override(struct cctx *c, char **field, const char *bao,
			 const char *vault)
{
	const char *v = env2(bao, vault);

	if (v == NULL)
		return;
	free(*field);
	*field = strdup(v);
	if (*field == NULL)
		cfg__fail(c, bao, "out of memory");
}

static void parse_auth(struct cctx *c, const cJSON *auth, struct vault_cfg *v)
{
	static const char *const token_keys[] = { "method", "token_file", NULL };
	static const char *const approle_keys[] = {
		"method", "mount", "role_id_file", "secret_id_file",
		"secret_id_wrapped", "wrap_creation_path", NULL
	};
	const char *base = "vault.auth";
	char *method = cfg__str(c, auth, base, "method", NULL, false);

	if (method == NULL)
		return;
	if (strcmp(method, "token") == 0) {
		v->method = AUTH_TOKEN;
		cfg__check_keys(c, auth, base, token_keys);
		v->token_file = cfg__str(c, auth, base, "token_file", NULL, false);
	} else if (strcmp(method, "approle") == 0) {
		v->method = AUTH_APPROLE;
		cfg__check_keys(c, auth, base, approle_keys);
		v->mount = cfg__str(c, auth, base, "mount", "approle", false);
		v->role_id_file = cfg__str(c, auth, base, "role_id_file", "role_id", false);
		v->secret_id_file = cfg__str(c, auth, base, "secret_id_file", "secret_id", false);
		v->secret_id_wrapped = cfg__bool(c, auth, base, "secret_id_wrapped", false);
		v->wrap_creation_path = cfg__str(c, auth, base, "wrap_creation_path", NULL, true);
	} else {
		cfg__fail(c, "vault.auth.method", "expected \"token\" or \"approle\", got \"%.60s\"",
		     method);
	}
	free(method);
}

static void parse_vault(struct cctx *c, const cJSON *vo, struct vault_cfg *v)
{
	static const char *const keys[] = {
		"address", "namespace", "ca_file", "ca_path", "auth", "kv_mount",
		"kv_path", "poll_interval_s", "max_response_bytes",
		"backoff_min_ms", "backoff_max_ms", NULL
	};
	const char *base = "vault";
	const cJSON *auth;

	cfg__check_keys(c, vo, base, keys);
	v->address = cfg__str(c, vo, base, "address", NULL, true);
	env_override(c, &v->address, "BAO_ADDR", "VAULT_ADDR");
	if (v->address == NULL)
		cfg__fail(c, "vault.address", "missing; set it in the file or in BAO_ADDR/VAULT_ADDR");
	cfg__check_url(c, "vault.address", v->address);
	v->namespace = cfg__str(c, vo, base, "namespace", NULL, true);
	env_override(c, &v->namespace, "BAO_NAMESPACE", "VAULT_NAMESPACE");
	v->ca_file = cfg__str(c, vo, base, "ca_file", NULL, true);
	env_override(c, &v->ca_file, "BAO_CACERT", "VAULT_CACERT");
	v->ca_path = cfg__str(c, vo, base, "ca_path", NULL, true);
	env_override(c, &v->ca_path, "BAO_CAPATH", "VAULT_CAPATH");
	v->kv_mount = cfg__str(c, vo, base, "kv_mount", "secret", false);
	v->kv_path = cfg__str(c, vo, base, "kv_path", "agenticverz/package-registry", false);
	v->poll_interval_s = cfg__int(c, vo, base, "poll_interval_s", 30, 1, 86400);
	v->max_response_bytes = cfg__int(c, vo, base, "max_response_bytes", 1048576,
					4096, 64L * 1024 * 1024);
	v->backoff_min_ms = cfg__int(c, vo, base, "backoff_min_ms", 1000, 10, 600000);
	v->backoff_max_ms = cfg__int(c, vo, base, "backoff_max_ms", 300000, 10, 3600000);
	if (!c->failed && v->backoff_max_ms < v->backoff_min_ms)
		cfg__fail(c, "vault.backoff_max_ms", "must be at least vault.backoff_min_ms");
	auth = cfg__obj(c, vo, base, "auth", true);
	if (auth != NULL)
		parse_auth(c, auth, v);
}

/* PyPI-style upload URLs end in "legacy/" (PyPI) or are the root
 * (pypiserver): the simple index is "<url without legacy/>/simple/", with
 * or without a trailing slash in url (without one, "http://h:8080" gave
 * "http://h:8080simple/": another port, or another host). */
static char *default_index_url(const char *url)
{
	size_t n = strlen(url);
	char *out;

	while (n > 0 && url[n - 1] == '/')
		n--;
	if (n >= 7 && strncmp(url + n - 7, "/legacy", 7) == 0)
		n -= 7;
	if (asprintf(&out, "%.*s/simple/", (int)n, url) < 0)
		return NULL;
	return out;
}

const struct registry_cfg *config_registry(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nregistries; i++)
		if (strcmp(cfg->registries[i].name, name) == 0)
			return &cfg->registries[i];
	return NULL;
}

static void parse_registries(struct cctx *c, const cJSON *ro, struct config *cfg)
{
	static const char *const keys[] = { "type", "url", "token_key", "username",
					    "index_url", "access", NULL };
	const cJSON *it;
	size_t n = (size_t)cJSON_GetArraySize(ro), i = 0;

	cfg__check_keys(c, ro, "registries", NULL);
	cfg->registries = calloc(n ? n : 1, sizeof(*cfg->registries));
	if (cfg->registries == NULL) {
		cfg__fail(c, "registries", "out of memory");
		return;
	}
	cJSON_ArrayForEach(it, ro) {
		struct registry_cfg *r = &cfg->registries[i++];
		char base[200], p[256];
		char *type;

		cfg->nregistries = i;
		snprintf(base, sizeof(base), "registries.%.100s", it->string);
		if (!cJSON_IsObject(it)) {
			cfg__fail(c, base, "expected an object, got %s", cfg__type_name(it));
			return;
		}
		r->name = strdup(it->string);
		cfg__check_keys(c, it, base, keys);
		type = cfg__str(c, it, base, "type", NULL, false);
		if (type != NULL && strcmp(type, "pypi") == 0)
			r->type = REGISTRY_PYPI;
		else if (type != NULL && strcmp(type, "npm") == 0)
			r->type = REGISTRY_NPM;
		else if (type != NULL)
			cfg__fail(c, strcat(strcpy(p, base), ".type"),
			     "expected \"pypi\" or \"npm\", got \"%.60s\"", type);
		free(type);
		r->url = cfg__str(c, it, base, "url", NULL, false);
		cfg__check_url(c, strcat(strcpy(p, base), ".url"), r->url);
		r->token_key = cfg__str(c, it, base, "token_key",
				       r->type == REGISTRY_NPM ? "NPM_TOKEN" : "PYPI_API_TOKEN",
				       false);
		r->username = cfg__str(c, it, base, "username", "__token__", false);
		r->index_url = cfg__str(c, it, base, "index_url", NULL, true);
		if (r->index_url != NULL)
			cfg__check_url(c, strcat(strcpy(p, base), ".index_url"), r->index_url);
		else if (r->url != NULL && r->type == REGISTRY_PYPI)
			r->index_url = default_index_url(r->url);
		r->access = cfg__str(c, it, base, "access", NULL, true);
		if (r->access != NULL && strcmp(r->access, "public") != 0 &&
		    strcmp(r->access, "restricted") != 0)
			cfg__fail(c, strcat(strcpy(p, base), ".access"),
			     "expected \"public\" or \"restricted\", got \"%.40s\"", r->access);
		if (r->access != NULL && r->type != REGISTRY_NPM)
			cfg__fail(c, strcat(strcpy(p, base), ".access"), "only for npm registries");
		if (r->token_key == NULL)
			continue;
		if (strlen(r->token_key) >= 128)
			cfg__fail(c, strcat(strcpy(p, base), ".token_key"),
			     "too long (at most 127 bytes)");
		if (cfg__add_secret_key(cfg, r->token_key) < 0)
			cfg__fail(c, base, "out of memory");
	}
}

int config_parse(const char *text, size_t len, const char *path,
		 struct config **ret, char *errbuf, size_t errlen)
{
	static const char *const keys[] = {
		"log_level", "runtime_dir", "state_dir", "control_socket", "http",
		"vault", "registries", "publish", "queue", "listen", "webhooks",
		"pipelines", "work_dir", "build_isolation", "control", NULL
	};
	static const char *const queue_keys[] = {
		"path", "spool_dir", "per_registry_concurrency", "max_running",
		"max_attempts", "backoff_min_ms", "backoff_max_ms", "lease_s",
		"shutdown_grace_s", NULL
	};
	static const char *const publish_keys[] = {
		"max_attempts", "backoff_min_ms", "backoff_max_ms", "max_file_bytes", NULL
	};
	static const char *const http_keys[] = {
		"connect_timeout_ms", "stall_timeout_s", "request_timeout_s",
		"ca_file", "ca_path", NULL
	};
	struct cctx c = { .file = path, .err = errbuf, .errlen = errlen };
	struct config *cfg = NULL;
	const cJSON *o;
	cJSON *root = NULL;
	char *s, *tmp;
	int r = AOS_ECONFIG;

	errbuf[0] = '\0';
	if (len > CONFIG_MAX_BYTES) {
		cfg__fail(&c, "(file)", "larger than %d bytes", CONFIG_MAX_BYTES);
		goto out;
	}
	root = cJSON_ParseWithLength(text, len);
	if (root == NULL) {
		const char *at = cJSON_GetErrorPtr();
		size_t line = 1;

		for (const char *q = text; at != NULL && q < at && q < text + len; q++)
			line += *q == '\n';
		cfg__fail(&c, "(file)", "not valid JSON (near line %zu)", line);
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		cfg__fail(&c, "(top level)", "expected a JSON object, got %s", cfg__type_name(root));
		goto out;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		r = -ENOMEM;
		goto out;
	}
	cfg->path = strdup(path);
	tmp = strdup(path);
	cfg->dir = tmp != NULL ? strdup(dirname(tmp)) : NULL;
	free(tmp);
	cfg__check_keys(&c, root, "", keys);

	s = cfg__str(&c, root, "", "log_level", "info", false);
	if (s != NULL && log_level_parse(s, &cfg->log_level) < 0)
		cfg__fail(&c, "log_level", "expected debug, info, notice, warning or err, got \"%.40s\"", s);
	free(s);
	cfg->runtime_dir = cfg__str(&c, root, "", "runtime_dir", NULL, true);
	if (cfg->runtime_dir == NULL && !c.failed)
		cfg->runtime_dir = strdup(getenv("RUNTIME_DIRECTORY") ? getenv("RUNTIME_DIRECTORY")
								       : "/run/aos-publishd");
	cfg->state_dir = cfg__str(&c, root, "", "state_dir", NULL, true);
	if (cfg->state_dir == NULL && !c.failed)
		cfg->state_dir = strdup(getenv("STATE_DIRECTORY") ? getenv("STATE_DIRECTORY")
								   : "/var/lib/aos-publishd");
	cfg->control_socket = cfg__str(&c, root, "", "control_socket", NULL, true);
	if (cfg->control_socket == NULL && cfg->runtime_dir != NULL && !c.failed) {
		if (asprintf(&cfg->control_socket, "%s/control.sock", cfg->runtime_dir) < 0)
			cfg->control_socket = NULL;
	}
	if (!c.failed && strlen(cfg->control_socket) >= 100)
		cfg__fail(&c, "control_socket", "path too long for a Unix socket (at most 99 bytes)");

	cfg->connect_timeout_ms = 5000;
	cfg->stall_timeout_s = 30;
	cfg->request_timeout_s = 60;
	o = cfg__obj(&c, root, "", "http", false);
	if (o != NULL) {
		cfg__check_keys(&c, o, "http", http_keys);
		cfg->connect_timeout_ms = cfg__int(&c, o, "http", "connect_timeout_ms", 5000, 100, 600000);
		cfg->stall_timeout_s = cfg__int(&c, o, "http", "stall_timeout_s", 30, 1, 3600);
		cfg->request_timeout_s = cfg__int(&c, o, "http", "request_timeout_s", 60, 1, 3600);
		cfg->ca_file = cfg__str(&c, o, "http", "ca_file", NULL, true);
		cfg->ca_path = cfg__str(&c, o, "http", "ca_path", NULL, true);
	}
	cfg->publish.max_attempts = 4;
	cfg->publish.backoff_min_ms = 1000;
	cfg->publish.backoff_max_ms = 60000;
	cfg->publish.max_file_bytes = PUBLISH_MAX_FILE_BYTES;
	o = cfg__obj(&c, root, "", "publish", false);
	if (o != NULL) {
		cfg__check_keys(&c, o, "publish", publish_keys);
		cfg->publish.max_attempts = cfg__int(&c, o, "publish", "max_attempts", 4, 1, 100);
		cfg->publish.backoff_min_ms = cfg__int(&c, o, "publish", "backoff_min_ms", 1000, 10, 600000);
		cfg->publish.backoff_max_ms = cfg__int(&c, o, "publish", "backoff_max_ms", 60000, 10, 3600000);
		if (!c.failed && cfg->publish.backoff_max_ms < cfg->publish.backoff_min_ms)
			cfg__fail(&c, "publish.backoff_max_ms", "must be at least publish.backoff_min_ms");
		cfg->publish.max_file_bytes = cfg__int(&c, o, "publish", "max_file_bytes",
						       PUBLISH_MAX_FILE_BYTES, 1024, 1L << 40);
	}
	o = cfg__obj(&c, root, "", "queue", false);
	if (o != NULL)
		cfg__check_keys(&c, o, "queue", queue_keys);
	{
		struct queue_cfg *q = &cfg->queue;
		const char *b = "queue";

		q->path = cfg__str(&c, o, b, "path", NULL, true);
		q->spool_dir = cfg__str(&c, o, b, "spool_dir", NULL, true);
		if (q->path == NULL && cfg->state_dir != NULL &&
		    asprintf(&q->path, "%s/queue.db", cfg->state_dir) < 0)
			q->path = NULL;
		if (q->spool_dir == NULL && cfg->state_dir != NULL &&
		    asprintf(&q->spool_dir, "%s/spool", cfg->state_dir) < 0)
			q->spool_dir = NULL;
		q->per_registry_limit = cfg__int(&c, o, b, "per_registry_concurrency", 2, 1, 64);
		q->max_running = cfg__int(&c, o, b, "max_running", 8, 1, 256);
		q->max_attempts = cfg__int(&c, o, b, "max_attempts", 8, 1, 1000);
		q->backoff_min_ms = cfg__int(&c, o, b, "backoff_min_ms", 5000, 10, 3600000);
		q->backoff_max_ms = cfg__int(&c, o, b, "backoff_max_ms", 900000, 10, 86400000);
		q->lease_s = cfg__int(&c, o, b, "lease_s", 30, 2, 3600);
		q->shutdown_grace_s = cfg__int(&c, o, b, "shutdown_grace_s", 60, 0, 3600);
		if (!c.failed && q->backoff_max_ms < q->backoff_min_ms)
			cfg__fail(&c, "queue.backoff_max_ms", "must be at least queue.backoff_min_ms");
	}
	o = cfg__obj(&c, root, "", "vault", true);
	if (o != NULL)
		parse_vault(&c, o, &cfg->vault);
	o = cfg__obj(&c, root, "", "registries", false);
	if (o != NULL)
		parse_registries(&c, o, cfg);
	cfg->work_dir = cfg__str(&c, root, "", "work_dir", NULL, true);
	if (cfg->work_dir == NULL && cfg->state_dir != NULL && !c.failed &&
	    asprintf(&cfg->work_dir, "%s/work", cfg->state_dir) < 0)
		cfg->work_dir = NULL;
	s = cfg__str(&c, root, "", "build_isolation", "namespaces", false);
	if (s != NULL && strcmp(s, "landlock") == 0)
		cfg->build_isolation = ISOLATION_LANDLOCK;
	else if (s != NULL && strcmp(s, "off") == 0)
		cfg->build_isolation = ISOLATION_OFF;
	else if (s != NULL && strcmp(s, "namespaces") != 0)
		cfg__fail(&c, "build_isolation", "expected \"namespaces\" (bubblewrap, the "
			  "default), \"landlock\" (the fallback) or \"off\", got \"%.40s\"%s", s,
			  strcmp(s, "auto") == 0 || strcmp(s, "required") == 0
				  ? " (\"auto\" and \"required\" were replaced, see "
				    "docs/configuration.md)" : "");
	free(s);
	if (!c.failed)
		cfg__parse_control(&c, root, cfg);
	if (!c.failed)
		cfg__parse_pipelines(&c, root, cfg);
	if (c.failed)
		goto out;
	*ret = cfg;
	cfg = NULL; /* transferred */
	r = 0;
out:
	config_free(cfg);
	cJSON_Delete(root);
	return r;
}

int config_load(const char *path, struct config **ret, char *errbuf, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(errbuf, errlen, "%s: cannot open: %s", path, strerror(-r));
		return r;
	}
	text = malloc(CONFIG_MAX_BYTES + 1);
	if (text == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while ((n = read(fd, text + len, CONFIG_MAX_BYTES + 1 - len)) > 0) {
		len += (size_t)n;
		if (len > CONFIG_MAX_BYTES)
			break;
	}
	r = n < 0 ? -errno : 0;
	close(fd);
	if (r < 0)
		snprintf(errbuf, errlen, "%s: cannot read: %s", path, strerror(-r));
	else
		r = config_parse(text, len, path, ret, errbuf, errlen);
	free(text);
	return r;
}

void config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->dir);
	free(cfg->runtime_dir);
	free(cfg->state_dir);
	free(cfg->control_socket);
	free(cfg->ca_file);
	free(cfg->ca_path);
	free(cfg->queue.path);
	free(cfg->queue.spool_dir);
	free(cfg->vault.address);
	free(cfg->vault.namespace);
	free(cfg->vault.ca_file);
	free(cfg->vault.ca_path);
	free(cfg->vault.token_file);
	free(cfg->vault.mount);
	free(cfg->vault.role_id_file);
	free(cfg->vault.secret_id_file);
	free(cfg->vault.wrap_creation_path);
	free(cfg->vault.kv_mount);
	free(cfg->vault.kv_path);
	for (i = 0; i < cfg->nregistries; i++) {
		free(cfg->registries[i].name);
		free(cfg->registries[i].url);
		free(cfg->registries[i].token_key);
		free(cfg->registries[i].username);
		free(cfg->registries[i].index_url);
		free(cfg->registries[i].access);
	}
	free(cfg->registries);
	cfg__free_pipelines(cfg);
	cfg__free_control(cfg);
	free(cfg->work_dir);
	for (i = 0; i < cfg->nsecret_keys; i++)
		free(cfg->secret_keys[i]);
	free(cfg->secret_keys);
	free(cfg);
}
