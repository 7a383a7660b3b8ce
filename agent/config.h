/* config.h - the daemon's configuration, parsed and validated from JSON.
 * See docs/configuration.md for every key. */
#ifndef AOS_CONFIG_H
#define AOS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "answer.h" /* enum registry_type */
#include "log.h"

enum auth_method { AUTH_TOKEN, AUTH_APPROLE };

struct registry_cfg {
	char *name;
	enum registry_type type;
	char *url;
	char *token_key;
	char *username;  /* pypi: Basic-auth user */
	char *index_url; /* pypi: simple index, to settle "already exists" */
	char *access;    /* npm: NULL, "public" or "restricted" */
};

struct queue_cfg {
	char *path;               /* SQLite file; default <state_dir>/queue.db */
	char *spool_dir;          /* default <state_dir>/spool */
	long per_registry_limit;  /* running jobs per registry */
	long max_running;         /* running jobs in all */
	long max_attempts;        /* per job */
	long backoff_min_ms;
	long backoff_max_ms;
	long lease_s;
	long shutdown_grace_s;
};

struct publish_cfg {
	long max_attempts;   /* tries per upload for retryable answers */
	long backoff_min_ms;
	long backoff_max_ms;
};

struct vault_cfg {
	char *address;
	char *namespace;
	char *ca_file;
	char *ca_path;
	enum auth_method method;
	char *token_file;
	char *mount;
	char *role_id_file;
	char *secret_id_file;
	bool secret_id_wrapped;
	char *wrap_creation_path;
	char *kv_mount;
	char *kv_path;
	long poll_interval_s;
	long max_response_bytes;
	long backoff_min_ms;
	long backoff_max_ms;
};

struct config {
	char *path;    /* the file it came from */
	char *dir;     /* that file's folder (for relative credential names) */
	enum log_level log_level;
	char *runtime_dir;
	char *state_dir;
	char *control_socket;
	long connect_timeout_ms;
	long stall_timeout_s;
	long request_timeout_s;
	char *ca_file;
	char *ca_path;
	struct vault_cfg vault;
	struct publish_cfg publish;
	struct queue_cfg queue;
	struct registry_cfg *registries;
	size_t nregistries;
	char **secret_keys; /* distinct token keys of all registries */
	size_t nsecret_keys;
};

/* Reads and validates FILE.  Returns 0 and *ret (free with config_free), or
 * AOS_ECONFIG / -errno with a one-line message in errbuf naming the file,
 * the key path and what was expected. */
int config_load(const char *path, struct config **ret, char *errbuf, size_t errlen);

/* As config_load, from text already in memory; path is used in messages and
 * for the folder of relative names. */
int config_parse(const char *text, size_t len, const char *path,
		 struct config **ret, char *errbuf, size_t errlen);

/* Frees a configuration.  Accepts NULL. */
void config_free(struct config *cfg);

/* The registry named name, or NULL. */
const struct registry_cfg *config_registry(const struct config *cfg, const char *name);

/* True if url is https://, or http:// to a loopback host. */
bool config_url_allowed(const char *url);

#endif
