/* config_queue.c - queue.postgresql.  For now only its credentials
 * sub-section, where the PostgreSQL password comes from: a key of the Vault
 * secret, or a role of Vault's database secrets engine.  The other settings
 * of the PostgreSQL backend come with its wiring (issue 17). */
#include <stdbool.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config/config.h"
#include "config_internal.h"

#define CRED_SECT "queue.postgresql.credentials"

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

void cfg__parse_queue_pg(struct cctx *c, const cJSON *root, struct config *cfg)
{
	const cJSON *pg = cfg__sub(cfg__sub(root, "queue"), "postgresql");
	const cJSON *cr;

	if (pg == NULL)
		return;
	/* the keys of queue.postgresql: rows without a field (the objects) */
	cfg__section(c, pg, "queue.postgresql", "queue.postgresql", NULL, NULL);
	cr = cfg__sub(pg, "credentials");
	if (!c->failed && cr != NULL)
		parse_credentials(c, cr, cfg);
}

void cfg__free_queue_pg(struct config *cfg)
{
	cfg__free_section(CRED_SECT, &cfg->queue.pg_credentials);
}
