/* config_keys.c - every key of the configuration file in one table: its
 * type, default and bounds, which the parser applies (cfg__section) and
 * which docs/configuration.md must show (--dump-config-schema and
 * tests/integration/test_config_reference.py compare the two). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config/config.h"
#include "publishers/npm.h"
#include "config_internal.h"

/* The key table is laid out by hand, one key per entry (clang-format would
 * fold the initializers). */
/* clang-format off */
#define STR_MAX 4096 /* any string value, in bytes */
#define NAME_MAX_KEY 127 /* a key inside the Vault secret */

#define O(st, m) offsetof(struct st, m)
#define OBJ(p, d, fl, r) { .path = p, .type = CT_OBJ, .off = CFG_CODE, .sdef = d, \
			   .flags = fl, .rule = r }
#define INT(p, st, m, d, lo, hi) { .path = p, .type = CT_INT, .off = O(st, m), .def = d, \
				   .min = lo, .max = hi }
#define BOOL(p, st, m, d) { .path = p, .type = CT_BOOL, .off = O(st, m), .def = d }
#define STR(p, st, m, d, fl) { .path = p, .type = CT_STR, .off = O(st, m), \
			       .max = STR_MAX, .sdef = d, .flags = fl }
#define STRN(p, st, m, d, fl, n, r) { .path = p, .type = CT_STR, .off = O(st, m), \
				      .max = n, .sdef = d, .flags = fl, .rule = r }
/* A path whose default is $ENV, else d */
#define ENVSTR(p, m, e, d) { .path = p, .type = CT_STR, .off = O(config, m), \
			     .max = STR_MAX, .sdef = d, .env = e }
/* A path whose default is a file or folder name in the folder key dir */
#define INSTR(p, st, m, dir, name, n, r) { .path = p, .type = CT_STR, .off = O(st, m), \
					   .max = n, .sdef = name, .under = dir, .rule = r }
/* A variant's key (vault.auth) */
#define VSTR(p, m, d, fl, v) { .path = p, .type = CT_STR, .off = O(vault_cfg, m), \
			       .max = STR_MAX, .sdef = d, .variant = v, .flags = fl }
/* backoff_max_ms: at least backoff_min_ms */
#define BACKOFF_MAX(p, st, d, hi) { .path = p, .type = CT_INT, \
				    .off = O(st, backoff_max_ms), .def = d, .min = 10, \
				    .max = hi, .rule = MAX_BACKOFF }
#define LIST(p, ty, d, fl, n, r) { .path = p, .type = ty, .off = CFG_CODE, .max = n, \
				   .sdef = d, .flags = fl, .rule = r }

static const char *const log_levels[] = {
	"err", "warning", "notice", "info", "debug", NULL
};
static const char *const isolations[] = { "namespaces", "landlock", "off", NULL };
static const char *const methods[] = { "token", "approle", NULL };
static const char *const registry_types[] = { "pypi", "npm", NULL };
static const char *const accesses[] = { "public", "restricted", NULL };
static const char *const backends[] = { "sqlite", "postgresql", NULL };
/* in the order of enum pg_sslmode */
static const char *const sslmodes[] = { "disable", "require", "verify-ca", "verify-full",
					NULL };

const char *pg_sslmode_name(int m)
{
	return m >= PG_SSL_DISABLE && m <= PG_SSL_VERIFY_FULL ? sslmodes[m] : "?";
}

#define MAX_BACKOFF "at least `backoff_min_ms`"
/* queue.postgresql.credentials (checked in config_queue.c) */
#define PG_NAME_RULE "letters, digits, `.`, `_`, `-`; a letter or digit first"
#define PG_MOUNT_RULE "names as `database_role`'s joined by `/`"
#define PG_STR_MAX 255 /* host, database, user */
#define ABS_PATHS "absolute paths without `..`"
/* pipelines.*.env and a verify_matrix cell's env (config_env.c) */
#define ENV_RULE "no `=`; not `HOME`, `TMPDIR`, `SOURCE_DATE_EPOCH`, " \
		 "`GIT_ALLOW_PROTOCOL`, `GIT_TERMINAL_PROMPT` or `LD_*`"

const struct cfg_key cfg__keys[] = {
	/* top level (struct config) */
	{ .path = "log_level", .type = CT_ENUM, .off = O(config, log_level),
	  .min = LOG_LVL_ERR, .sdef = "info", .choices = log_levels },
	ENVSTR("runtime_dir", runtime_dir, "RUNTIME_DIRECTORY", "/run/aos-publishd"),
	ENVSTR("state_dir", state_dir, "STATE_DIRECTORY", "/var/lib/aos-publishd"),
	INSTR("control_socket", config, control_socket, "runtime_dir", "control.sock", 99,
	      "a Unix socket path"),
	OBJ("control", "`{}`", 0, NULL),
	OBJ("http", "`{}`", 0, NULL),
	OBJ("vault", NULL, CK_REQUIRED, NULL),
	OBJ("registries", "`{}`", 0, NULL),
	OBJ("publish", "`{}`", 0, NULL),
	OBJ("queue", "`{}`", 0, NULL),
	OBJ("listen", NULL, 0, NULL),
	OBJ("listen.tls", "no TLS (plain HTTP)", 0, NULL),
	OBJ("metrics", "`{}`", 0, NULL),
	OBJ("webhooks", "`{}`", 0, "`github`, `gitlab` or `gitea`"),
	OBJ("pipelines", "`{}`", 0, "at most 100 bytes, no `:`, `/` or space"),
	INSTR("work_dir", config, work_dir, "state_dir", "work", STR_MAX, NULL),
	{ .path = "build_isolation", .type = CT_ENUM, .off = O(config, build_isolation),
	  .sdef = "namespaces", .choices = isolations },

	/* http (struct config) */
	INT("http.connect_timeout_ms", config, connect_timeout_ms, 5000, 100, 600000),
	INT("http.stall_timeout_s", config, stall_timeout_s, 30, 1, 3600),
	INT("http.request_timeout_s", config, request_timeout_s, 60, 1, 3600),
	STR("http.ca_file", config, ca_file, NULL, 0),
	STR("http.ca_path", config, ca_path, NULL, 0),

	/* vault */
	STRN("vault.address", vault_cfg, address,
	     "required unless `BAO_ADDR`/`VAULT_ADDR` is set", CK_DOC, STR_MAX,
	     "plain `http://` only to a loopback host"),
	STR("vault.namespace", vault_cfg, namespace, "`BAO_NAMESPACE`/`VAULT_NAMESPACE`",
	    CK_DOC),
	STR("vault.ca_file", vault_cfg, ca_file, "`BAO_CACERT`/`VAULT_CACERT`", CK_DOC),
	STR("vault.ca_path", vault_cfg, ca_path, "`BAO_CAPATH`/`VAULT_CAPATH`", CK_DOC),
	OBJ("vault.auth", NULL, CK_REQUIRED, NULL),
	STR("vault.kv_mount", vault_cfg, kv_mount, "secret", 0),
	STR("vault.kv_path", vault_cfg, kv_path, "agenticverz/package-registry", 0),
	INT("vault.poll_interval_s", vault_cfg, poll_interval_s, 30, 1, 86400),
	INT("vault.max_response_bytes", vault_cfg, max_response_bytes, 1048576, 4096,
	    64L * 1024 * 1024),
	INT("vault.backoff_min_ms", vault_cfg, backoff_min_ms, 1000, 10, 600000),
	BACKOFF_MAX("vault.backoff_max_ms", vault_cfg, 300000, 3600000),

	/* vault.auth: the method decides which other keys belong */
	{ .path = "vault.auth.method", .type = CT_ENUM, .off = O(vault_cfg, method),
	  .choices = methods, .flags = CK_REQUIRED },
	VSTR("vault.auth.token_file", token_file, NULL, CK_REQUIRED, "token"),
	VSTR("vault.auth.mount", mount, "approle", 0, "approle"),
	VSTR("vault.auth.role_id_file", role_id_file, "role_id", 0, "approle"),
	VSTR("vault.auth.secret_id_file", secret_id_file, "secret_id", 0, "approle"),
	{ .path = "vault.auth.secret_id_wrapped", .type = CT_BOOL,
	  .off = O(vault_cfg, secret_id_wrapped), .variant = "approle" },
	VSTR("vault.auth.wrap_creation_path", wrap_creation_path, NULL, 0, "approle"),

	/* registries.NAME */
	{ .path = "registries.*.type", .type = CT_ENUM, .off = O(registry_cfg, type),
	  .min = REGISTRY_PYPI, .choices = registry_types, .flags = CK_REQUIRED },
	STRN("registries.*.url", registry_cfg, url, NULL, CK_REQUIRED, STR_MAX,
	     "plain `http://` only to a loopback host"),
	STRN("registries.*.token_key", registry_cfg, token_key,
	     "`PYPI_API_TOKEN` (pypi), `NPM_TOKEN` (npm)", CK_DOC, NAME_MAX_KEY, NULL),
	STR("registries.*.username", registry_cfg, username, "__token__", 0),
	STRN("registries.*.index_url", registry_cfg, index_url, "derived from `url`",
	     CK_DOC, STR_MAX, "PyPI-style only"),
	{ .path = "registries.*.access", .type = CT_STR, .off = O(registry_cfg, access),
	  .max = STR_MAX, .choices = accesses, .rule = "npm only" },

	/* publish */
	INT("publish.max_attempts", publish_cfg, max_attempts, 4, 1, 100),
	INT("publish.backoff_min_ms", publish_cfg, backoff_min_ms, 1000, 10, 600000),
	BACKOFF_MAX("publish.backoff_max_ms", publish_cfg, 60000, 3600000),
	INT("publish.max_file_bytes", publish_cfg, max_file_bytes, PUBLISH_MAX_FILE_BYTES,
	    1024, 1L << 40),

	/* control */
	LIST("control.operators", CT_LIST, "root and the daemon's own group", CK_DOC, 256,
	     "1 to 255 bytes"),
	LIST("control.readers", CT_LIST, NULL, 0, 256, "1 to 255 bytes"),
	INT("control.max_connections", control_cfg, max_connections, 64, 1, 4096),

	/* queue */
	{ .path = "queue.backend", .type = CT_ENUM, .off = O(queue_cfg, backend),
	  .min = QUEUE_BACKEND_SQLITE, .sdef = "sqlite", .choices = backends,
	  .rule = "`postgresql` needs the section `postgresql`" },
	INSTR("queue.path", queue_cfg, path, "state_dir", "queue.db", STR_MAX, NULL),
	INSTR("queue.spool_dir", queue_cfg, spool_dir, "state_dir", "spool", STR_MAX, NULL),
	INT("queue.per_registry_concurrency", queue_cfg, per_registry_limit, 2, 1, 64),
	INT("queue.max_running", queue_cfg, max_running, 8, 1, 256),
	INT("queue.max_attempts", queue_cfg, max_attempts, 8, 1, 1000),
	INT("queue.backoff_min_ms", queue_cfg, backoff_min_ms, 5000, 10, 3600000),
	BACKOFF_MAX("queue.backoff_max_ms", queue_cfg, 900000, 86400000),
	INT("queue.lease_s", queue_cfg, lease_s, 30, 2, 3600),
	INT("queue.shutdown_grace_s", queue_cfg, shutdown_grace_s, 60, 0, 3600),
	INT("queue.retention_days", queue_cfg, retention_days, 30, 0, 3650),
	INT("queue.min_free_mb", queue_cfg, min_free_mb, 64, 0, 1048576),
	STRN("queue.host_name", queue_cfg, host_name, "the host's name (`hostname`)",
	     CK_DOC, 63, PG_NAME_RULE),
	OBJ("queue.postgresql", NULL, 0, "only with `backend` `\"postgresql\"`"),
	STRN("queue.postgresql.host", pg_cfg, host, NULL, CK_REQUIRED, PG_STR_MAX,
	     "a name, an address, or an absolute path: a Unix socket's folder"),
	INT("queue.postgresql.port", pg_cfg, port, 5432, 1, 65535),
	STRN("queue.postgresql.database", pg_cfg, database, NULL, CK_REQUIRED, PG_STR_MAX,
	     NULL),
	STRN("queue.postgresql.user", pg_cfg, user,
	     "required unless `credentials.database_role`", CK_DOC, PG_STR_MAX,
	     "refused with `credentials.database_role` (Vault names the user)"),
	{ .path = "queue.postgresql.sslmode", .type = CT_ENUM, .off = O(pg_cfg, sslmode),
	  .min = PG_SSL_DISABLE, .sdef = "`\"verify-full\"` for a host, `\"disable\"` "
	  "for a socket", .choices = sslmodes, .flags = CK_DOC,
	  .rule = "a socket: `disable`; `disable` to a host only on loopback" },
	STRN("queue.postgresql.sslrootcert", pg_cfg, sslrootcert, NULL, 0, STR_MAX,
	     "an absolute path; required by `verify-ca` and `verify-full`"),
	INT("queue.postgresql.connect_timeout_s", pg_cfg, connect_timeout_s, 10, 1, 300),
	OBJ("queue.postgresql.credentials", "libpq's own (a passfile)", 0,
	    "exactly one of `kv_key` and `database_role`"),

	/* queue.postgresql.credentials: the variant is the key given
	 * (config_queue.c) */
	{ .path = "queue.postgresql.credentials.kv_key", .type = CT_STR,
	  .off = O(pg_credentials_cfg, kv_key), .max = NAME_MAX_KEY, .variant = "kv",
	  .flags = CK_REQUIRED },
	{ .path = "queue.postgresql.credentials.database_role", .type = CT_STR,
	  .off = O(pg_credentials_cfg, database_role), .max = NAME_MAX_KEY,
	  .variant = "database", .flags = CK_REQUIRED, .rule = PG_NAME_RULE },
	{ .path = "queue.postgresql.credentials.mount", .type = CT_STR,
	  .off = O(pg_credentials_cfg, mount), .max = NAME_MAX_KEY, .sdef = "database",
	  .variant = "database", .rule = PG_MOUNT_RULE },

	/* listen */
	STRN("listen.address", listen_cfg, address, NULL, CK_REQUIRED, STR_MAX,
	     "port 1 to 65535"),
	INT("listen.max_header_bytes", listen_cfg, max_header_bytes, 16384, 1024,
	    1048576),
	INT("listen.max_body_bytes", listen_cfg, max_body_bytes, 1048576, 1024,
	    25L * 1024 * 1024),
	INT("listen.header_timeout_ms", listen_cfg, header_timeout_ms, 10000, 100,
	    600000),
	INT("listen.body_timeout_ms", listen_cfg, body_timeout_ms, 30000, 100, 600000),
	INT("listen.idle_timeout_ms", listen_cfg, idle_timeout_ms, 60000, 100, 3600000),
	INT("listen.max_connections", listen_cfg, max_connections, 512, 1, 65536),
	/* The least one request of the smallest limits holds: 1024 + 2 x 1024. */
	{ .path = "listen.max_unauthenticated_bytes", .type = CT_INT,
	  .off = O(listen_cfg, max_unauthenticated_bytes), .def = 16L << 20, .min = 3072,
	  .max = 1L << 32, .rule = "at least `max_body_bytes + 2 × max_header_bytes`" },
	/* listen.tls: checked by tls_ctx_load() at --check-config and at start */
	STRN("listen.tls.cert_file", listen_tls_cfg, cert_file, NULL, CK_REQUIRED, STR_MAX,
	     "PEM: the certificate, then its chain; valid now"),
	STRN("listen.tls.key_file", listen_tls_cfg, key_file, NULL, CK_REQUIRED, STR_MAX,
	     "PEM, not encrypted; matches `cert_file`"),

	/* metrics */
	STRN("metrics.address", metrics_cfg, address, NULL, 0, STR_MAX, "port 1 to 65535"),

	/* webhooks.FORGE */
	STRN("webhooks.*.secret_key", webhook_cfg, secret_key, NULL, CK_REQUIRED,
	     NAME_MAX_KEY, NULL),
	INT("webhooks.*.rotation_grace_s", webhook_cfg, rotation_grace_s, 600, 0, 86400),

	/* pipelines.NAME */
	STRN("pipelines.*.repository", pipeline_cfg, repository, NULL, CK_REQUIRED,
	     STR_MAX, "`GIT_ALLOW_PROTOCOL=" PL_GIT_PROTOCOLS "`"),
	STR("pipelines.*.repository_name", pipeline_cfg, repository_name,
	    "last two path parts of `repository` without `.git`", CK_DOC),
	STRN("pipelines.*.tag_pattern", pipeline_cfg, tag_pattern, NULL, CK_REQUIRED,
	     STR_MAX, "exactly one `*` (the version) and no `?` or `[`"),
	STR("pipelines.*.package", pipeline_cfg, package, NULL, CK_REQUIRED),
	STRN("pipelines.*.directory", pipeline_cfg, directory, ".", 0, STR_MAX,
	     "relative, inside the checkout"),
	LIST("pipelines.*.build", CT_STEPS, NULL, CK_REQUIRED, 0, NULL),
	LIST("pipelines.*.verify", CT_STEPS, "`[]`", CK_DOC, 0, NULL),
	LIST("pipelines.*.verify_matrix", CT_CELLS, "`[]`", CK_DOC, 16,
	     "cell names unique; needs `verify` steps"),
	LIST("pipelines.*.artifacts", CT_LIST, NULL, CK_REQUIRED, 0,
	     "relative to `directory`"),
	LIST("pipelines.*.targets", CT_LIST, NULL, CK_REQUIRED, 0,
	     "registry names (under `registries`)"),
	OBJ("pipelines.*.env", "`{}`", 0, ENV_RULE),
	INT("pipelines.*.timeout_s", pipeline_cfg, timeout_s, 1800, 1, 86400),
	STRN("pipelines.*.dist_tag", pipeline_cfg, dist_tag, NULL, 0, NPM_TAG_MAX,
	     "an npm dist-tag"),
	STRN("pipelines.*.prerelease_dist_tag", pipeline_cfg, prerelease_dist_tag, NULL, 0,
	     NPM_TAG_MAX, "an npm dist-tag, not `latest`"),
	LIST("pipelines.*.writable", CT_LIST, "`[]`", CK_DOC, 16, ABS_PATHS),
	LIST("pipelines.*.readable", CT_LIST, "`[]`", CK_DOC, 16, ABS_PATHS),
	BOOL("pipelines.*.network", pipeline_cfg, network, true),

	/* pipelines.NAME.verify_matrix[i] (struct verify_cell) */
	STRN("pipelines.*.verify_matrix.*.name", verify_cell, name, NULL, CK_REQUIRED, 64,
	     "letters, digits, `.`, `_`, `-`"),
	OBJ("pipelines.*.verify_matrix.*.env", "`{}`", 0, ENV_RULE),
};
/* clang-format on */

const size_t cfg__nkeys = sizeof(cfg__keys) / sizeof(cfg__keys[0]);

const struct cfg_key *cfg__key(const char *path)
{
	size_t i;

	for (i = 0; i < cfg__nkeys; i++)
		if (strcmp(cfg__keys[i].path, path) == 0)
			return &cfg__keys[i];
	return NULL;
}

/* The last part of k's path if k is directly under sect, else NULL. */
static const char *leaf_under(const struct cfg_key *k, const char *sect)
{
	size_t n = strlen(sect);
	const char *leaf = k->path;

	if (n > 0) {
		if (strncmp(k->path, sect, n) != 0 || k->path[n] != '.')
			return NULL;
		leaf = k->path + n + 1;
	}
	return strchr(leaf, '.') == NULL ? leaf : NULL;
}

static bool variant_ok(const struct cfg_key *k, const char *variant)
{
	return k->variant == NULL ||
	       (variant != NULL && strcmp(k->variant, variant) == 0);
}

/* "\"a\", \"b\" or \"c\"" (quote: '"') or with backticks. */
static void render_choices(const char *const *ch, char quote, char *out, size_t outlen)
{
	size_t i, n, at = 0;

	out[0] = '\0';
	for (n = 0; ch[n] != NULL; n++)
		;
	for (i = 0; i < n && at < outlen; i++) {
		const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
		int w =
		    snprintf(out + at, outlen - at, "%s%c%s%c", sep, quote, ch[i], quote);

		if (w < 0)
			return;
		at += (size_t)w;
	}
}

/* The index of s in ch, or -1. */
static int choice_index(const char *const *ch, const char *s)
{
	int i;

	for (i = 0; ch[i] != NULL; i++)
		if (strcmp(ch[i], s) == 0)
			return i;
	return -1;
}

/* A string that must be one of k->choices; NULL after an error. */
static char *parse_choice(struct cctx *c, const cJSON *obj, const char *base,
			  const struct cfg_key *k, const char *leaf)
{
	const char *def = k->flags & CK_DOC || k->env || k->under ? NULL : k->sdef;
	long max = k->type == CT_ENUM ? STR_MAX : k->max; /* an enum's max is unused */
	char *s = cfg__str(c, obj, base, leaf, def, !(k->flags & CK_REQUIRED), max);
	char want[200], p[256];

	if (s == NULL || k->choices == NULL || choice_index(k->choices, s) >= 0)
		return s;
	render_choices(k->choices, '"', want, sizeof(want));
	cfg__join(p, sizeof(p), base, leaf);
	cfg__fail(c, p, "expected %s, got \"%.60s\"", want, s);
	free(s);
	return NULL;
}

/* After a range error: " (RULE)", the row's rule without the reference's
 * backticks, so the bound that depends on another key is named too. */
static void append_rule(struct cctx *c, const struct cfg_key *k)
{
	size_t n = strlen(c->err);
	const char *r;

	if (k->rule == NULL || n + 3 >= c->errlen)
		return;
	c->err[n++] = ' ';
	c->err[n++] = '(';
	for (r = k->rule; *r != '\0' && n + 2 < c->errlen; r++)
		if (*r != '`')
			c->err[n++] = *r;
	c->err[n++] = ')';
	c->err[n] = '\0';
}

/* The default of a key with env or under (absent from the file): NULL
 * after a failure (reported) or when the folder it lives in is unset. */
static char *derived_default(struct cctx *c, const struct cfg_key *k)
{
	const char *v = k->env != NULL ? getenv(k->env) : NULL;
	const char *dir = NULL;
	char *s = NULL;

	if (c->failed)
		return NULL;
	if (k->under != NULL) {
		dir = *(char *const *)((const char *)c->cfg + cfg__key(k->under)->off);
		if (dir == NULL || asprintf(&s, "%s/%s", dir, k->sdef) < 0)
			s = NULL;
	} else {
		s = strdup(v != NULL ? v : k->sdef);
	}
	if (s == NULL && (k->under == NULL || dir != NULL))
		cfg__fail(c, k->path, "out of memory");
	return s;
}

void cfg__one(struct cctx *c, const cJSON *obj, const char *base, const struct cfg_key *k,
	      void *out)
{
	const char *leaf = strrchr(k->path, '.') ? strrchr(k->path, '.') + 1 : k->path;
	char *field;
	bool failed;
	char *s;

	if (k->off == CFG_CODE) { /* no field: not an offset to add */
		if (k->type == CT_OBJ)
			cfg__obj(c, obj, base, leaf, k->flags & CK_REQUIRED);
		return;
	}
	field = (char *)out + k->off;
	switch (k->type) {
	case CT_STR:
		*(char **)field = parse_choice(c, obj, base, k, leaf);
		if (*(char **)field == NULL && (k->env != NULL || k->under != NULL))
			*(char **)field = derived_default(c, k);
		break;
	case CT_INT:
		failed = c->failed;
		*(long *)field = cfg__int(c, obj, base, leaf, k->def, k->min, k->max);
		if (c->failed && !failed)
			append_rule(c, k);
		break;
	case CT_BOOL: *(bool *)field = cfg__bool(c, obj, base, leaf, k->def != 0); break;
	case CT_ENUM:
		s = parse_choice(c, obj, base, k, leaf);
		if (s != NULL)
			*(int *)field = (int)k->min + choice_index(k->choices, s);
		free(s);
		break;
	default: break;
	}
}

void cfg__section(struct cctx *c, const cJSON *obj, const char *base, const char *sect,
		  const char *variant, void *out)
{
	const cJSON *it;
	size_t i;
	char p[256];

	cfg__check_keys(c, obj, base, NULL); /* repeated keys */
	cJSON_ArrayForEach(it, obj)
	{
		bool known = false;

		for (i = 0; i < cfg__nkeys && !known; i++) {
			const char *leaf = leaf_under(&cfg__keys[i], sect);

			known = leaf != NULL && strcmp(leaf, it->string) == 0 &&
				variant_ok(&cfg__keys[i], variant);
		}
		if (!known) {
			cfg__join(p, sizeof(p), base, it->string);
			cfg__fail(c, p,
				  "unknown key (check the spelling; see "
				  "docs/configuration.md)");
		}
	}
	for (i = 0; i < cfg__nkeys; i++) {
		const struct cfg_key *k = &cfg__keys[i];

		if (leaf_under(k, sect) != NULL && variant_ok(k, variant))
			cfg__one(c, obj, base, k, out);
	}
}

void cfg__free_section(const char *sect, void *out)
{
	size_t i;

	for (i = 0; i < cfg__nkeys; i++) {
		const struct cfg_key *k = &cfg__keys[i];

		if (k->type == CT_STR && k->off != CFG_CODE &&
		    leaf_under(k, sect) != NULL)
			free(*(char **)((char *)out + k->off));
	}
}

void cfg__render_default(const struct cfg_key *k, char *out, size_t outlen)
{
	if (k->flags & CK_REQUIRED)
		snprintf(out, outlen, "required");
	else if (k->env != NULL)
		snprintf(out, outlen, "`$%s`, else `%s`", k->env, k->sdef);
	else if (k->under != NULL)
		snprintf(out, outlen, "`<%s>/%s`", k->under, k->sdef);
	else if (k->flags & CK_DOC || (k->type == CT_OBJ && k->sdef != NULL))
		snprintf(out, outlen, "%s", k->sdef);
	else if (k->type == CT_INT)
		snprintf(out, outlen, "%ld", k->def);
	else if (k->type == CT_BOOL)
		snprintf(out, outlen, "`%s`", k->def ? "true" : "false");
	else if (k->sdef != NULL)
		snprintf(out, outlen, "`\"%s\"`", k->sdef);
	else
		snprintf(out, outlen, "unset");
}

void cfg__render_range(const struct cfg_key *k, char *out, size_t outlen)
{
	out[0] = '\0';
	if (k->type == CT_INT)
		snprintf(out, outlen, "%ld to %ld", k->min, k->max);
	else if (k->choices != NULL)
		render_choices(k->choices, '`', out, outlen);
	else if (k->type == CT_STR)
		snprintf(out, outlen, "at most %ld bytes", k->max);
	else if ((k->type == CT_LIST || k->type == CT_CELLS) && k->max > 0)
		snprintf(out, outlen, "at most %ld entries", k->max);
}

const char *cfg__render_type(const struct cfg_key *k)
{
	static const char *const names[] = {
	    [CT_STR] = "string",
	    [CT_INT] = "integer",
	    [CT_BOOL] = "boolean",
	    [CT_ENUM] = "string",
	    [CT_OBJ] = "object",
	    [CT_LIST] = "array of strings",
	    [CT_STEPS] = "array of commands",
	    [CT_CELLS] = "array of objects",
	};

	return names[k->type];
}

int config_dump_schema(FILE *f)
{
	char def[256], range[256];
	size_t i;

	for (i = 0; i < cfg__nkeys; i++) {
		const struct cfg_key *k = &cfg__keys[i];
		cJSON *o = cJSON_CreateObject();
		char *line;

		cfg__render_default(k, def, sizeof(def));
		cfg__render_range(k, range, sizeof(range));
		if (o == NULL || !cJSON_AddStringToObject(o, "key", k->path) ||
		    !cJSON_AddStringToObject(o, "type", cfg__render_type(k)) ||
		    !cJSON_AddStringToObject(o, "default", def) ||
		    !cJSON_AddStringToObject(o, "range", range) ||
		    !cJSON_AddStringToObject(o, "rule", k->rule != NULL ? k->rule : "") ||
		    (line = cJSON_PrintUnformatted(o)) == NULL) {
			cJSON_Delete(o);
			return -ENOMEM;
		}
		fprintf(f, "%s\n", line);
		cJSON_free(line);
		cJSON_Delete(o);
	}
	return fflush(f) == 0 ? 0 : -errno;
}
