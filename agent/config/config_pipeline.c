/* config_pipeline.c - the "listen", "metrics", "webhooks" and "pipelines"
 * sections. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "publishers/npm.h"
#include "config_internal.h"

static const char *const forge_names[FORGE__COUNT] = {"github", "gitlab", "gitea"};

const char *forge_name(enum forge f)
{
	return (unsigned)f < FORGE__COUNT ? forge_names[f] : "unknown";
}

int cfg__add_secret_key(struct config *cfg, const char *key)
{
	char **keys;
	size_t i;

	for (i = 0; i < cfg->nsecret_keys; i++)
		if (strcmp(cfg->secret_keys[i], key) == 0)
			return 0;
	keys = realloc(cfg->secret_keys, (cfg->nsecret_keys + 1) * sizeof(*keys));
	if (keys == NULL)
		return -ENOMEM;
	cfg->secret_keys = keys;
	keys[cfg->nsecret_keys] = strdup(key);
	if (keys[cfg->nsecret_keys] == NULL)
		return -ENOMEM;
	cfg->nsecret_keys++;
	return 0;
}

const struct pipeline_cfg *config_pipeline(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->npipelines; i++)
		if (strcmp(cfg->pipelines[i].name, name) == 0)
			return &cfg->pipelines[i];
	return NULL;
}

/* A host name's characters (RFC 1123, and '_' as some hosts files have). */
static bool host_name_ok(const char *h)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
				 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._";

	return h[strspn(h, ok)] == '\0';
}

/* "HOST:PORT" or "[IPv6]:PORT" -> host (without brackets), port (1 to
 * 65535, digits only) and whether it was bracketed.  0 or -EINVAL. */
static int split_address(const char *a, char *host, size_t hostlen, long *ret_port,
			 bool *ret_v6)
{
	const char *h = a, *colon;
	size_t hl;
	long port;
	char *end;

	if (a[0] == '[') {
		const char *close = strchr(a, ']');

		if (close == NULL || close[1] != ':')
			return -EINVAL;
		h = a + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		/* Without brackets no ':' in the host: "::1:8080" is refused,
		 * not guessed. */
		colon = strchr(a, ':');
		if (colon == NULL)
			return -EINVAL;
		hl = (size_t)(colon - a);
	}
	if (hl == 0 || hl >= hostlen)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (a[0] != '[' && !host_name_ok(host))
		return -EINVAL;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	/* Digits only: strtol alone takes " 80" and "+80". */
	if (colon[1] < '0' || colon[1] > '9' || errno != 0 || *end != '\0' || port < 1 ||
	    port > 65535)
		return -EINVAL;
	*ret_port = port;
	*ret_v6 = a[0] == '[';
	return 0;
}

/* The first address of host (a literal, or a name from the hosts file or
 * DNS) as a numeric string.  0, or a getaddrinfo error (EAI_*). */
static int resolve(const char *host, bool v6, char *out, size_t outlen)
{
	struct addrinfo hints = {.ai_family = v6 ? AF_INET6 : AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = v6 ? AI_NUMERICHOST : 0};
	struct addrinfo *res = NULL;
	int r;

	r = getaddrinfo(host, NULL, &hints, &res);
	if (r != 0)
		return r;
	r = getnameinfo(res->ai_addr, res->ai_addrlen, out, (socklen_t)outlen, NULL, 0,
			NI_NUMERICHOST);
	freeaddrinfo(res);
	return r;
}

/* KEY ("listen.address", "metrics.address") -> *ret_host (resolved once,
 * now) and *ret_port. */
static void parse_address(struct cctx *c, const char *key, const char *address,
			  char **ret_host, int *ret_port)
{
	char host[256], ip[INET6_ADDRSTRLEN];
	long port;
	bool v6;
	int r;

	if (split_address(address, host, sizeof(host), &port, &v6) < 0) {
		cfg__fail(c, key,
			  "expected HOST:PORT or [IPv6]:PORT with a "
			  "port from 1 to 65535, got \"%.80s\"",
			  address);
		return;
	}
	r = resolve(host, v6, ip, sizeof(ip));
	if (r != 0 && v6) {
		cfg__fail(c, key,
			  "\"%.80s\" is not an IPv6 address (inside "
			  "[] only an IPv6 literal is taken)",
			  host);
		return;
	}
	if (r != 0) {
		cfg__fail(c, key,
			  "host \"%.80s\" does not resolve (%s): "
			  "give an IP address, or a name the hosts file or DNS knows",
			  host, gai_strerror(r));
		return;
	}
	*ret_host = strdup(ip);
	*ret_port = (int)port;
	if (*ret_host == NULL)
		cfg__fail(c, key, "out of memory");
}

static void parse_metrics(struct cctx *c, const cJSON *o, struct config *cfg)
{
	struct metrics_cfg *m = &cfg->metrics;
	const struct listen_cfg *l = &cfg->listen;

	cfg__section(c, o, "metrics", "metrics", NULL, m);
	if (m->address == NULL || c->failed)
		return;
	parse_address(c, "metrics.address", m->address, &m->host, &m->port);
	if (!c->failed && l->host != NULL && m->port == l->port &&
	    strcmp(m->host, l->host) == 0)
		cfg__fail(
		    c, "metrics.address",
		    "\"%.80s\" is listen.address's own "
		    "address: leave metrics.address out to serve /metrics there, or "
		    "give another port",
		    m->address);
}

static void parse_listen(struct cctx *c, const cJSON *o, struct listen_cfg *l)
{
	long one; /* the most one request may hold: body, header strings */

	cfg__section(c, o, "listen", "listen", NULL, l);
	if (l->address != NULL && !c->failed)
		parse_address(c, "listen.address", l->address, &l->host, &l->port);
	if (cfg__sub(o, "tls") != NULL && !c->failed)
		cfg__section(c, cfg__sub(o, "tls"), "listen.tls", "listen.tls", NULL,
			     &l->tls);
	one = l->max_body_bytes + 2 * l->max_header_bytes;
	if (cJSON_GetObjectItemCaseSensitive(o, "max_unauthenticated_bytes") == NULL &&
	    l->max_unauthenticated_bytes < one)
		l->max_unauthenticated_bytes = one; /* the default grows */
	if (!c->failed && l->max_unauthenticated_bytes < one)
		cfg__fail(
		    c, "listen.max_unauthenticated_bytes",
		    "%ld is less than one request "
		    "of the largest size (max_body_bytes + 2 x max_header_bytes = %ld): "
		    "raise it, or lower listen.max_body_bytes",
		    l->max_unauthenticated_bytes, one);
}

static void parse_webhooks(struct cctx *c, const cJSON *o, struct config *cfg)
{
	static const char *const fk[] = {"github", "gitlab", "gitea", NULL};
	char base[64];
	int f;

	cfg__check_keys(c, o, "webhooks", fk);
	for (f = 0; f < FORGE__COUNT; f++) {
		const cJSON *e = cfg__obj(c, o, "webhooks", forge_names[f], false);
		struct webhook_cfg w = {0};

		if (e == NULL)
			continue;
		snprintf(base, sizeof(base), "webhooks.%s", forge_names[f]);
		cfg__section(c, e, base, "webhooks.*", NULL, &w);
		cfg->webhook_keys[f] = w.secret_key;
		cfg->webhook_grace_s[f] = w.rotation_grace_s;
		if (w.secret_key != NULL && cfg__add_secret_key(cfg, w.secret_key) < 0)
			cfg__fail(c, base, "out of memory");
	}
}

/* A string array (or a single string when one_ok) into a NULL-terminated
 * vector. */
static char **str_list(struct cctx *c, const cJSON *v, const char *path, size_t *ret_n,
		       bool required)
{
	const cJSON *it;
	char **out;
	size_t n = 0;

	*ret_n = 0;
	if (v == NULL) {
		if (required)
			cfg__fail(c, path, "missing; expected an array of strings");
		return NULL;
	}
	if (!cJSON_IsArray(v) || (required && cJSON_GetArraySize(v) == 0)) {
		cfg__fail(c, path, "expected a%s array of strings, got %s",
			  required ? " non-empty" : "n", cfg__type_name(v));
		return NULL;
	}
	out = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(*out));
	if (out == NULL) {
		cfg__fail(c, path, "out of memory");
		return NULL;
	}
	cJSON_ArrayForEach(it, v)
	{
		if (!cJSON_IsString(it) || it->valuestring[0] == '\0' ||
		    strlen(it->valuestring) > 4096) {
			cfg__fail(c, path,
				  "item %zu: expected a non-empty string (at most 4096 "
				  "bytes)",
				  n);
			break;
		}
		out[n] = strdup(it->valuestring);
		if (out[n] == NULL) {
			cfg__fail(c, path, "out of memory");
			break;
		}
		n++;
	}
	*ret_n = n;
	return out;
}

static struct step_cfg *parse_steps(struct cctx *c, const cJSON *v, const char *path,
				    size_t *ret_n, bool required)
{
	struct step_cfg *steps;
	const cJSON *it;
	char p[300];
	size_t n = 0;

	*ret_n = 0;
	if (v == NULL && !required)
		return NULL;
	if (!cJSON_IsArray(v) || (required && cJSON_GetArraySize(v) == 0)) {
		cfg__fail(c, path,
			  "expected a%s array of commands (strings for /bin/sh -c, "
			  "or arrays of argv strings)",
			  required ? " non-empty" : "n");
		return NULL;
	}
	steps = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(*steps));
	if (steps == NULL) {
		cfg__fail(c, path, "out of memory");
		return NULL;
	}
	cJSON_ArrayForEach(it, v)
	{
		struct step_cfg *s = &steps[n];

		snprintf(p, sizeof(p), "%s[%zu]", path, n);
		n++;
		if (cJSON_IsString(it) && it->valuestring[0] != '\0') {
			s->argv = calloc(4, sizeof(char *));
			if (s->argv == NULL) {
				cfg__fail(c, p, "out of memory");
				break;
			}
			s->argv[0] = strdup("/bin/sh");
			s->argv[1] = strdup("-c");
			s->argv[2] = strdup(it->valuestring);
			s->argc = 3;
			s->display = strdup(it->valuestring);
			if (s->argv[0] == NULL || s->argv[1] == NULL ||
			    s->argv[2] == NULL || s->display == NULL) {
				cfg__fail(c, p, "out of memory");
				break;
			}
		} else if (cJSON_IsArray(it)) {
			size_t k, len = 0;

			s->argv = str_list(c, it, p, &s->argc, true);
			for (k = 0; k < s->argc; k++)
				len += strlen(s->argv[k]) + 1;
			s->display = calloc(1, len + 1);
			if (s->display == NULL && !c->failed)
				cfg__fail(c, p, "out of memory");
			for (k = 0; s->display != NULL && k < s->argc; k++) {
				strcat(s->display, s->argv[k]);
				if (k + 1 < s->argc)
					strcat(s->display, " ");
			}
		} else {
			cfg__fail(c, p,
				  "expected a command string or an argv array, got %s",
				  cfg__type_name(it));
		}
	}
	*ret_n = n;
	return steps;
}

static void free_steps(struct step_cfg *s, size_t n)
{
	size_t i;

	for (i = 0; s != NULL && i < n; i++) {
		cfg__free_list(s[i].argv, s[i].argc);
		free(s[i].display);
	}
	free(s);
}

/* "https://host/owner/name.git" -> "owner/name". */
static char *default_repo_name(const char *url)
{
	const char *end = url + strlen(url), *a, *b;
	char *out;

	while (end > url && end[-1] == '/')
		end--;
	if (end - url > 4 && strncmp(end - 4, ".git", 4) == 0)
		end -= 4;
	for (b = end; b > url && b[-1] != '/' && b[-1] != ':'; b--)
		;
	if (b == url)
		return NULL;
	for (a = b - 1; a > url && a[-1] != '/' && a[-1] != ':'; a--)
		;
	if (asprintf(&out, "%.*s", (int)(end - a), a) < 0)
		return NULL;
	return out;
}

/* The transports a release needs (https, ssh, file); git's "<transport>::"
 * helpers (ext::, fd::), git:// and plain http:// are refused.  git itself
 * also runs with GIT_ALLOW_PROTOCOL, so this is the early, clear error. */
static bool repository_transport_ok(const char *url)
{
	static const char *const schemes[] = {"https://", "ssh://", "git+ssh://",
					      "file://"};
	const char *colon = strchr(url, ':'), *slash = strchr(url, '/');
	size_t i;

	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strncmp(url, schemes[i], strlen(schemes[i])) == 0)
			return true;
	if (url[0] == '/')
		return colon == NULL || strstr(url, "::") == NULL;
	/* scp-like user@host:path: a ':' before any '/', not "::" */
	return colon != NULL && colon > url && colon[1] != ':' &&
	       (slash == NULL || colon < slash) && strstr(url, "://") == NULL;
}

/* pipelines.X.KEY: absolute paths (at most the row's max), bound into the
 * build sandbox. */
static char **path_list(struct cctx *c, const cJSON *o, const char *base, const char *key,
			size_t *n)
{
	char path[300];
	char **list;
	long max;
	size_t i;

	snprintf(path, sizeof(path), "pipelines.*.%s", key);
	max = cfg__key(path)->max;
	snprintf(path, sizeof(path), "%s.%s", base, key);
	list = str_list(c, cJSON_GetObjectItemCaseSensitive(o, key), path, n, false);
	for (i = 0; i < *n; i++)
		if (list[i][0] != '/' || strstr(list[i], "/..") != NULL)
			cfg__fail(c, path,
				  "\"%.80s\": expected an absolute path without \"..\"",
				  list[i]);
	if (*n > (size_t)max)
		cfg__fail(c, path, "at most %ld paths", max);
	return list;
}

/* pipelines.X.KEY, when set, is an npm dist-tag (npm_tag_valid). */
static void dist_tag(struct cctx *c, const char *base, const char *key, const char *tag)
{
	char path[300];

	cfg__join(path, sizeof(path), base, key);
	if (tag != NULL && !npm_tag_valid(tag))
		cfg__fail(
		    c, path,
		    "\"%.140s\" is not an npm dist-tag: up to %d letters, "
		    "digits, \".\", \"_\", \"~\", \"-\", not starting like a version",
		    tag, NPM_TAG_MAX);
	else if (tag != NULL && strcmp(key, "prerelease_dist_tag") == 0 &&
		 strcmp(tag, "latest") == 0)
		cfg__fail(c, path,
			  "prereleases never go to \"latest\": name another tag, "
			  "or leave it unset (the prerelease's own name: \"beta\" for "
			  "1.0.0-beta.1)");
}

static void parse_pipeline(struct cctx *c, const cJSON *o, const char *base,
			   struct pipeline_cfg *p, const struct config *cfg)
{
	char path[300];
	const char *star;
	size_t i;

	cfg__section(c, o, base, "pipelines.*", NULL, p);
	if (p->repository_name == NULL && p->repository != NULL && !c->failed) {
		p->repository_name = default_repo_name(p->repository);
		if (p->repository_name == NULL)
			cfg__fail(c, base,
				  "cannot take repository_name from repository "
				  "\"%.100s\"; set repository_name",
				  p->repository);
	}
	if (p->repository != NULL && p->repository[0] == '-')
		cfg__fail(c, base, "repository must not start with '-'");
	else if (p->repository != NULL && !repository_transport_ok(p->repository))
		cfg__fail(c, base,
			  "repository \"%.100s\": only https://, ssh://, file://, "
			  "user@host:path and absolute paths are allowed (git runs with "
			  "GIT_ALLOW_PROTOCOL=%s)",
			  p->repository, PL_GIT_PROTOCOLS);
	star = p->tag_pattern != NULL ? strchr(p->tag_pattern, '*') : NULL;
	if (p->tag_pattern != NULL && (star == NULL || strchr(star + 1, '*') != NULL ||
				       strpbrk(p->tag_pattern, "?[") != NULL))
		cfg__fail(c, base,
			  "tag_pattern must hold exactly one '*' (the version) and "
			  "no '?' or '[', got \"%.80s\"",
			  p->tag_pattern);
	if (p->directory != NULL &&
	    (p->directory[0] == '/' || strstr(p->directory, "..")))
		cfg__fail(c, base, "directory must be relative, inside the checkout");
	snprintf(path, sizeof(path), "%s.build", base);
	p->build = parse_steps(c, cJSON_GetObjectItemCaseSensitive(o, "build"), path,
			       &p->nbuild, true);
	snprintf(path, sizeof(path), "%s.verify", base);
	p->verify = parse_steps(c, cJSON_GetObjectItemCaseSensitive(o, "verify"), path,
				&p->nverify, false);
	snprintf(path, sizeof(path), "%s.artifacts", base);
	p->artifacts = str_list(c, cJSON_GetObjectItemCaseSensitive(o, "artifacts"), path,
				&p->nartifacts, true);
	for (i = 0; i < p->nartifacts; i++)
		if (p->artifacts[i][0] == '/' || strstr(p->artifacts[i], ".."))
			cfg__fail(c, path,
				  "\"%.80s\": globs must be relative to directory",
				  p->artifacts[i]);
	snprintf(path, sizeof(path), "%s.targets", base);
	p->targets = str_list(c, cJSON_GetObjectItemCaseSensitive(o, "targets"), path,
			      &p->ntargets, true);
	for (i = 0; i < p->ntargets; i++)
		if (config_registry(cfg, p->targets[i]) == NULL)
			cfg__fail(c, path,
				  "\"%.80s\" is not a registry under \"registries\"",
				  p->targets[i]);
	snprintf(path, sizeof(path), "%s.env", base);
	p->env = cfg__env(c, cfg__obj(c, o, base, "env", false), path, &p->nenv);
	cfg__parse_matrix(c, o, base, p);
	p->writable = path_list(c, o, base, "writable", &p->nwritable);
	p->readable = path_list(c, o, base, "readable", &p->nreadable);
	dist_tag(c, base, "dist_tag", p->dist_tag);
	dist_tag(c, base, "prerelease_dist_tag", p->prerelease_dist_tag);
}

/* True if some tag matches both one-'*' patterns: their prefixes and their
 * suffixes each nest (one is a prefix, resp. suffix, of the other). */
static bool patterns_overlap(const char *a, const char *b)
{
	const char *sa = strchr(a, '*'), *sb = strchr(b, '*');
	size_t pa = (size_t)(sa - a), pb = (size_t)(sb - b);
	size_t xa = strlen(sa + 1), xb = strlen(sb + 1);
	size_t p = pa < pb ? pa : pb, x = xa < xb ? xa : xb;

	return strncmp(a, b, p) == 0 && strcmp(sa + 1 + xa - x, sb + 1 + xb - x) == 0;
}

/* A tag starts one pipeline: two of one repository may not both match. */
static void check_overlaps(struct cctx *c, const struct config *cfg)
{
	size_t i, k;

	for (i = 0; i < cfg->npipelines && !c->failed; i++) {
		const struct pipeline_cfg *p = &cfg->pipelines[i];

		for (k = i + 1; k < cfg->npipelines && !c->failed; k++) {
			const struct pipeline_cfg *q = &cfg->pipelines[k];
			char base[200];

			if (p->repository_name == NULL || q->repository_name == NULL ||
			    p->tag_pattern == NULL || q->tag_pattern == NULL ||
			    strcmp(p->repository_name, q->repository_name) != 0 ||
			    !patterns_overlap(p->tag_pattern, q->tag_pattern))
				continue;
			snprintf(base, sizeof(base), "pipelines.%.100s.tag_pattern",
				 q->name);
			cfg__fail(
			    c, base,
			    "\"%.80s\" and pipeline %.100s's \"%.80s\" can match the "
			    "same tag of %.100s; make the patterns disjoint",
			    q->tag_pattern, p->name, p->tag_pattern, p->repository_name);
		}
	}
}

void cfg__parse_pipelines(struct cctx *c, const cJSON *root, struct config *cfg)
{
	const cJSON *o, *it;
	size_t n, i;

	o = cfg__sub(root, "listen");
	if (o != NULL)
		parse_listen(c, o, &cfg->listen);
	o = cfg__sub(root, "metrics");
	if (o != NULL)
		parse_metrics(c, o, cfg);
	o = cfg__sub(root, "webhooks");
	if (o != NULL)
		parse_webhooks(c, o, cfg);
	o = cfg__sub(root, "pipelines");
	if (o == NULL)
		return;
	cfg__check_keys(c, o, "pipelines", NULL);
	n = (size_t)cJSON_GetArraySize(o);
	cfg->pipelines = calloc(n ? n : 1, sizeof(*cfg->pipelines));
	if (cfg->pipelines == NULL) {
		cfg__fail(c, "pipelines", "out of memory");
		return;
	}
	i = 0;
	cJSON_ArrayForEach(it, o)
	{
		struct pipeline_cfg *p = &cfg->pipelines[i++];
		char base[200];

		cfg->npipelines = i;
		snprintf(base, sizeof(base), "pipelines.%.100s", it->string);
		p->name = strdup(it->string);
		if (p->name == NULL) {
			cfg__fail(c, base, "out of memory");
			return;
		}
		if (!cJSON_IsObject(it)) {
			cfg__fail(c, base, "expected an object, got %s",
				  cfg__type_name(it));
			return;
		}
		if (strlen(it->string) > 100 || strpbrk(it->string, ":/ ") != NULL)
			cfg__fail(c, base,
				  "a pipeline name has at most 100 bytes and no ':', "
				  "'/' or space");
		parse_pipeline(c, it, base, p, cfg);
	}
	check_overlaps(c, cfg);
}

void cfg__free_pipelines(struct config *cfg)
{
	size_t i;
	int f;

	free(cfg->listen.address);
	free(cfg->listen.host);
	free(cfg->listen.tls.cert_file);
	free(cfg->listen.tls.key_file);
	free(cfg->metrics.address);
	free(cfg->metrics.host);
	for (f = 0; f < FORGE__COUNT; f++)
		free(cfg->webhook_keys[f]);
	for (i = 0; i < cfg->npipelines; i++) {
		struct pipeline_cfg *p = &cfg->pipelines[i];

		free(p->name);
		free(p->repository);
		free(p->repository_name);
		free(p->tag_pattern);
		free(p->package);
		free(p->directory);
		free_steps(p->build, p->nbuild);
		free_steps(p->verify, p->nverify);
		cfg__free_matrix(p->matrix, p->nmatrix);
		cfg__free_list(p->artifacts, p->nartifacts);
		cfg__free_list(p->targets, p->ntargets);
		cfg__free_list(p->env, p->nenv);
		cfg__free_list(p->writable, p->nwritable);
		cfg__free_list(p->readable, p->nreadable);
		free(p->dist_tag);
		free(p->prerelease_dist_tag);
	}
	free(cfg->pipelines);
}
