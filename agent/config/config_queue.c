/* config_queue.c - queue.backend and queue.postgresql: the connection
 * (host or socket, port, database, user, TLS) and its credentials
 * sub-section, where the PostgreSQL password comes from: a key of the
 * Vault secret, or a role of Vault's database secrets engine.  The key
 * table parses each key; this file checks the rules between them. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config/config.h"
#include "config_internal.h"

#define PG_SECT "queue.postgresql"
#define CRED_SECT PG_SECT ".credentials"

/* n bytes of letters, digits, '.', '_', '-', a letter or digit first: a
 * role's name or one part of a mount, safe in a Vault path. */
static bool name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || strchr(".-_", s[0]) != NULL)
		return false;
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

/* Names joined by single '/' (no '/' at either end, no ".."). */
static bool mount_ok(const char *s)
{
	const char *slash;

	for (;;) {
		slash = strchr(s, '/');
		if (!name_ok(s, slash != NULL ? (size_t)(slash - s) : strlen(s)))
			return false;
		if (slash == NULL)
			return true;
		s = slash + 1;
	}
}

static bool has(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key) != NULL;
}

/* The source decides which keys belong: exactly one of kv_key and
 * database_role, mount only with database_role. */
static void parse_credentials(struct cctx *c, const cJSON *cr, struct config *cfg)
{
	struct pg_credentials_cfg *pc = &cfg->queue.pg_credentials;
	bool kv = has(cr, "kv_key"), db = has(cr, "database_role");

	if (kv && db) {
		cfg__fail(c, CRED_SECT,
			  "give either kv_key (a password in the Vault secret) or "
			  "database_role (Vault's database secrets engine), not both");
		return;
	}
	if (!kv && !db) {
		cfg__fail(c, CRED_SECT,
			  "missing; expected kv_key (a password in the Vault secret) or "
			  "database_role (Vault's database secrets engine)");
		return;
	}
	if (kv && has(cr, "mount")) {
		cfg__fail(c, CRED_SECT ".mount",
			  "only with database_role (kv_key is read from the secret at "
			  "vault.kv_mount and vault.kv_path)");
		return;
	}
	cfg__section(c, cr, CRED_SECT, CRED_SECT, kv ? "kv" : "database", pc);
	if (c->failed)
		return;
	if (kv) {
		pc->source = PG_CRED_KV;
		if (cfg__add_secret_key(cfg, pc->kv_key) < 0)
			cfg__fail(c, CRED_SECT ".kv_key", "out of memory");
		return;
	}
	pc->source = PG_CRED_DATABASE;
	if (!name_ok(pc->database_role, strlen(pc->database_role)))
		cfg__fail(c, CRED_SECT ".database_role",
			  "expected letters, digits, \".\", \"_\" or \"-\", a letter or "
			  "digit first, got \"%.60s\"",
			  pc->database_role);
	else if (!mount_ok(pc->mount))
		cfg__fail(c, CRED_SECT ".mount",
			  "expected names of letters, digits, \".\", \"_\" or \"-\" "
			  "joined by \"/\" (no \"/\" at either end), got \"%.60s\"",
			  pc->mount);
}

/* A loopback host: "localhost", 127.0.0.0/8 or ::1 (plain TCP stays on
 * this machine). */
static bool loopback(const char *host)
{
	unsigned char a[16];
	static const unsigned char one6[16] = {[15] = 1};

	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	return inet_pton(AF_INET6, host, a) == 1 && memcmp(a, one6, 16) == 0;
}

/* The rules between the keys: TLS (sslmode's default, the CA), the user. */
static void check_pg(struct cctx *c, struct config *cfg)
{
	struct pg_cfg *pg = &cfg->queue.pg;
	bool sock = pg->host[0] == '/';
	bool verify;

	if (sock && strstr(pg->host, "/..") != NULL) {
		cfg__fail(c, PG_SECT ".host",
			  "a socket folder without \"..\", got \"%.60s\"", pg->host);
		return;
	}
	if (pg->sslmode < 0) /* absent: TLS that checks the server, unless a socket */
		pg->sslmode = sock ? PG_SSL_DISABLE : PG_SSL_VERIFY_FULL;
	verify = pg->sslmode == PG_SSL_VERIFY_CA || pg->sslmode == PG_SSL_VERIFY_FULL;
	if (sock && pg->sslmode != PG_SSL_DISABLE)
		cfg__fail(c, PG_SECT ".sslmode",
			  "\"%s\" with a Unix socket (host \"%.60s\"): libpq uses no TLS "
			  "on a socket; leave sslmode out or give \"disable\"",
			  pg_sslmode_name(pg->sslmode), pg->host);
	else if (!sock && pg->sslmode == PG_SSL_DISABLE && !loopback(pg->host))
		cfg__fail(c, PG_SECT ".sslmode",
			  "\"disable\" to \"%.60s\" would send the password and the jobs "
			  "in clear: use \"verify-full\" with sslrootcert (\"disable\" "
			  "is allowed for a loopback address or a Unix socket only)",
			  pg->host);
	else if (verify && pg->sslrootcert == NULL)
		cfg__fail(c, PG_SECT ".sslrootcert",
			  "missing: sslmode \"%s\" checks the server's certificate "
			  "against this CA file; give its absolute path",
			  pg_sslmode_name(pg->sslmode));
	else if (pg->sslrootcert != NULL && pg->sslmode == PG_SSL_DISABLE)
		cfg__fail(c, PG_SECT ".sslrootcert",
			  "only with TLS (sslmode \"disable\" uses no CA)");
	else if (pg->sslrootcert != NULL &&
		 (pg->sslrootcert[0] != '/' || strstr(pg->sslrootcert, "/..") != NULL))
		cfg__fail(c, PG_SECT ".sslrootcert",
			  "expected an absolute path without \"..\", got \"%.60s\"",
			  pg->sslrootcert);
	else if (cfg->queue.pg_credentials.source == PG_CRED_DATABASE && pg->user != NULL)
		cfg__fail(c, PG_SECT ".user",
			  "not with credentials.database_role: Vault names the user "
			  "with each new password; remove user");
	else if (cfg->queue.pg_credentials.source != PG_CRED_DATABASE && pg->user == NULL)
		cfg__fail(c, PG_SECT ".user",
			  "missing; give the database user (or credentials.database_role "
			  "for a user made by Vault)");
}

/* queue.host_name: given, else the host's name; a name_ok() either way
 * (it is the prefix of this daemon's lease owners, "<name>:<pid>"). */
static void check_host_name(struct cctx *c, struct config *cfg)
{
	char host[64] = "";
	bool given = cfg->queue.host_name != NULL;

	if (!given) {
		if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
			snprintf(host, sizeof(host), "localhost");
		cfg->queue.host_name = strdup(host);
		if (cfg->queue.host_name == NULL) {
			cfg__fail(c, "queue.host_name", "out of memory");
			return;
		}
	}
	if (!name_ok(cfg->queue.host_name, strlen(cfg->queue.host_name)))
		cfg__fail(c, "queue.host_name",
			  "%s\"%.63s\": expected letters, digits, \".\", \"_\" or "
			  "\"-\", a letter or digit first%s",
			  given ? "" : "the host's name is ", cfg->queue.host_name,
			  given ? "" : "; set queue.host_name");
}

void cfg__parse_queue_pg(struct cctx *c, const cJSON *root, struct config *cfg)
{
	const cJSON *pg = cfg__sub(cfg__sub(root, "queue"), "postgresql");
	const cJSON *cr;

	check_host_name(c, cfg);
	if (c->failed)
		return;
	if (cfg->queue.backend != QUEUE_BACKEND_POSTGRESQL) {
		if (pg != NULL)
			cfg__fail(
			    c, PG_SECT,
			    "settings of the PostgreSQL backend, but queue.backend is "
			    "\"sqlite\": set queue.backend to \"postgresql\", or remove "
			    "this section");
		return;
	}
	if (pg == NULL) {
		cfg__fail(
		    c, PG_SECT,
		    "missing: queue.backend \"postgresql\" needs the server's host, "
		    "database and user here");
		return;
	}
	cfg->queue.pg.sslmode = -1; /* absent: check_pg() decides */
	cfg__section(c, pg, PG_SECT, PG_SECT, NULL, &cfg->queue.pg);
	cr = cfg__sub(pg, "credentials");
	if (!c->failed && cr != NULL)
		parse_credentials(c, cr, cfg);
	if (!c->failed)
		check_pg(c, cfg);
}

void cfg__free_queue_pg(struct config *cfg)
{
	cfg__free_section(PG_SECT, &cfg->queue.pg);
	cfg__free_section(CRED_SECT, &cfg->queue.pg_credentials);
}
