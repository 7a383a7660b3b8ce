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

#include "common/err.h"
#include "config/config.h"
#include "config_internal.h"

#define CONFIG_MAX_BYTES (1024 * 1024)

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
	static const char *const names[] = {"localhost", "[::1]", NULL};
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
		cfg__fail(c, path,
			  "expected an https:// URL (plain http:// only to a "
			  "loopback host), got \"%.200s\"",
			  url);
}

static const char *env2(const char *a, const char *b)
{
	const char *v = getenv(a);

	if (v == NULL || v[0] == '\0')
		v = getenv(b);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Replaces *field with the environment's value when set (env wins). */
static void env_override(struct cctx *c, char **field, const char *bao, const char *vault)
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
	const char *base = "vault.auth";

	/* The method first: it decides which other keys belong. */
	cfg__one(c, auth, base, cfg__key("vault.auth.method"), v);
	if (!c->failed)
		cfg__section(c, auth, base, base,
			     v->method == AUTH_TOKEN ? "token" : "approle", v);
}

/* sect.backoff_max_ms is at least sect.backoff_min_ms. */
static void check_backoff(struct cctx *c, const char *sect, long min, long max)
{
	char p[64];

	if (c->failed || max >= min)
		return;
	snprintf(p, sizeof(p), "%s.backoff_max_ms", sect);
	cfg__fail(c, p, "must be at least %s.backoff_min_ms", sect);
}

static void parse_vault(struct cctx *c, const cJSON *vo, struct vault_cfg *v)
{
	cfg__section(c, vo, "vault", "vault", NULL, v);
	env_override(c, &v->address, "BAO_ADDR", "VAULT_ADDR");
	if (v->address == NULL)
		cfg__fail(c, "vault.address",
			  "missing; set it in the file or in BAO_ADDR/VAULT_ADDR");
	cfg__check_url(c, "vault.address", v->address);
	env_override(c, &v->namespace, "BAO_NAMESPACE", "VAULT_NAMESPACE");
	env_override(c, &v->ca_file, "BAO_CACERT", "VAULT_CACERT");
	env_override(c, &v->ca_path, "BAO_CAPATH", "VAULT_CAPATH");
	check_backoff(c, "vault", v->backoff_min_ms, v->backoff_max_ms);
	if (!c->failed)
		parse_auth(c, cfg__sub(vo, "auth"), v);
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

static void parse_registry(struct cctx *c, const cJSON *it, const char *base,
			   struct registry_cfg *r, struct config *cfg)
{
	char p[256];

	cfg__section(c, it, base, "registries.*", NULL, r);
	cfg__check_url(c, strcat(strcpy(p, base), ".url"), r->url);
	if (r->token_key == NULL && !c->failed) {
		r->token_key =
		    strdup(r->type == REGISTRY_NPM ? "NPM_TOKEN" : "PYPI_API_TOKEN");
		if (r->token_key == NULL)
			cfg__fail(c, base, "out of memory");
	}
	if (r->index_url != NULL)
		cfg__check_url(c, strcat(strcpy(p, base), ".index_url"), r->index_url);
	else if (r->url != NULL && r->type == REGISTRY_PYPI &&
		 (r->index_url = default_index_url(r->url)) == NULL)
		cfg__fail(c, base, "out of memory");
	if (r->access != NULL && r->type != REGISTRY_NPM)
		cfg__fail(c, strcat(strcpy(p, base), ".access"),
			  "only for npm registries");
	if (r->token_key != NULL && cfg__add_secret_key(cfg, r->token_key) < 0)
		cfg__fail(c, base, "out of memory");
}

static void parse_registries(struct cctx *c, const cJSON *ro, struct config *cfg)
{
	const cJSON *it;
	size_t n = (size_t)cJSON_GetArraySize(ro), i = 0;

	cfg__check_keys(c, ro, "registries", NULL);
	cfg->registries = calloc(n ? n : 1, sizeof(*cfg->registries));
	if (cfg->registries == NULL) {
		cfg__fail(c, "registries", "out of memory");
		return;
	}
	cJSON_ArrayForEach(it, ro)
	{
		struct registry_cfg *r = &cfg->registries[i++];
		char base[200];

		cfg->nregistries = i;
		snprintf(base, sizeof(base), "registries.%.100s", it->string);
		if (!cJSON_IsObject(it)) {
			cfg__fail(c, base, "expected an object, got %s",
				  cfg__type_name(it));
			return;
		}
		r->name = strdup(it->string);
		if (r->name == NULL) {
			cfg__fail(c, base, "out of memory");
			return;
		}
		parse_registry(c, it, base, r, cfg);
	}
}

/* build_isolation: what each value means, and that "auto" and "required"
 * were values once. */
static void check_isolation(struct cctx *c, const cJSON *root)
{
	const struct cfg_key *k = cfg__key("build_isolation");
	const char *s = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(root, "build_isolation"));
	size_t i;

	for (i = 0; s != NULL && k->choices[i] != NULL; i++)
		if (strcmp(s, k->choices[i]) == 0)
			return;
	if (s != NULL && s[0] != '\0')
		cfg__fail(c, "build_isolation",
			  "expected \"namespaces\" (bubblewrap, "
			  "the default), \"landlock\" (the fallback) or \"off\", got "
			  "\"%.40s\"%s",
			  s,
			  strcmp(s, "auto") == 0 || strcmp(s, "required") == 0
			      ? " (\"auto\" and \"required\" were replaced, see "
				"docs/configuration.md)"
			      : "");
}

/* The top level's own keys, the paths derived from them, "http", "publish"
 * and "queue". */
static void parse_top(struct cctx *c, const cJSON *root, struct config *cfg)
{
	long sock_max = cfg__key("control_socket")->max;
	struct publish_cfg *pub = &cfg->publish;
	struct queue_cfg *q = &cfg->queue;

	check_isolation(c, root);
	/* The table's defaults, derived ones too (runtime_dir, then the
	 * control socket in it, ...; config_keys.c) */
	cfg__section(c, root, "", "", NULL, cfg);
	if (!c->failed && strlen(cfg->control_socket) > (size_t)sock_max)
		cfg__fail(c, "control_socket",
			  "path too long for a Unix socket (at most "
			  "%ld bytes; set control_socket or a shorter runtime_dir)",
			  sock_max);
	cfg__section(c, cfg__sub(root, "http"), "http", "http", NULL, cfg);
	cfg__section(c, cfg__sub(root, "publish"), "publish", "publish", NULL, pub);
	check_backoff(c, "publish", pub->backoff_min_ms, pub->backoff_max_ms);
	cfg__section(c, cfg__sub(root, "queue"), "queue", "queue", NULL, q);
	check_backoff(c, "queue", q->backoff_min_ms, q->backoff_max_ms);
}

int config_parse(const char *text, size_t len, const char *path, struct config **ret,
		 char *errbuf, size_t errlen)
{
	struct cctx c = {.file = path, .err = errbuf, .errlen = errlen};
	struct config *cfg = NULL;
	cJSON *root = NULL;
	char *tmp;
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
		cfg__fail(&c, "(top level)", "expected a JSON object, got %s",
			  cfg__type_name(root));
		goto out;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		r = -ENOMEM;
		goto out;
	}
	c.cfg = cfg;
	cfg->path = strdup(path);
	tmp = strdup(path);
	cfg->dir = tmp != NULL ? strdup(dirname(tmp)) : NULL;
	free(tmp);
	if (cfg->path == NULL || cfg->dir == NULL) {
		r = -ENOMEM;
		goto out;
	}
	parse_top(&c, root, cfg);
	if (!c.failed)
		cfg__check_placeholders(&c, root);
	if (!c.failed && cfg__sub(root, "vault") != NULL)
		parse_vault(&c, cfg__sub(root, "vault"), &cfg->vault);
	if (!c.failed && cfg__sub(root, "registries") != NULL)
		parse_registries(&c, cfg__sub(root, "registries"), cfg);
	if (!c.failed)
		cfg__parse_queue_pg(&c, root, cfg);
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
	/* the strings of the key table (config_keys.c) */
	cfg__free_section("", cfg);
	cfg__free_section("http", cfg);
	cfg__free_section("queue", &cfg->queue);
	cfg__free_queue_pg(cfg);
	cfg__free_section("vault", &cfg->vault);
	cfg__free_section("vault.auth", &cfg->vault);
	for (i = 0; i < cfg->nregistries; i++) {
		cfg__free_section("registries.*", &cfg->registries[i]);
		free(cfg->registries[i].name);
	}
	free(cfg->registries);
	cfg__free_pipelines(cfg);
	cfg__free_control(cfg);
	for (i = 0; i < cfg->nsecret_keys; i++)
		free(cfg->secret_keys[i]);
	free(cfg->secret_keys);
	free(cfg);
}
