/* config.h - the daemon's configuration, parsed and validated from JSON.
 * See docs/configuration.md for every key. */
#ifndef AOS_CONFIG_H
#define AOS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/log.h"
#include "publishers/answer.h" /* enum registry_type */

enum auth_method { AUTH_TOKEN, AUTH_APPROLE };

struct registry_cfg {
	char *name;
	enum registry_type type;
	char *url;
	char *token_key;
	char *username;	 /* pypi: Basic-auth user */
	char *index_url; /* pypi: simple index, to settle "already exists" */
	char *access;	 /* npm: NULL, "public" or "restricted" */
};

/* queue.postgresql.credentials: where the PostgreSQL password comes from
 * (config_queue.c). */
enum pg_cred_source {
	PG_CRED_NONE,	  /* libpq's own: a passfile, peer authentication */
	PG_CRED_KV,	  /* a key of the Vault secret (vault.kv_path) */
	PG_CRED_DATABASE, /* Vault's database secrets engine: <mount>/creds/<role> */
};

struct pg_credentials_cfg {
	enum pg_cred_source source;
	char *kv_key;	     /* PG_CRED_KV: the key holding the password */
	char *database_role; /* PG_CRED_DATABASE: the engine's role */
	char *mount;	     /* PG_CRED_DATABASE: where the engine is mounted */
};

enum queue_backend { QUEUE_BACKEND_SQLITE, QUEUE_BACKEND_POSTGRESQL };

/* queue.postgresql.sslmode, as libpq spells them (pg_sslmode_name()). */
enum pg_sslmode { PG_SSL_DISABLE, PG_SSL_REQUIRE, PG_SSL_VERIFY_CA, PG_SSL_VERIFY_FULL };

/* queue.postgresql: the connection (config_queue.c checks the rules
 * between the keys). */
struct pg_cfg {
	char *host; /* a name or address, or an absolute socket folder */
	long port;
	char *database;
	char *user;	   /* NULL: dbcreds' user (credentials.database_role) */
	int sslmode;	   /* enum pg_sslmode */
	char *sslrootcert; /* the CA file; verify-ca and verify-full need it */
	long connect_timeout_s;
};

/* libpq's name of m ("verify-full"). */
const char *pg_sslmode_name(int m);

struct queue_cfg {
	enum queue_backend backend; /* queue.backend */
	char *path;		    /* SQLite file; default <state_dir>/queue.db */
	char *spool_dir;	    /* default <state_dir>/spool */
	long per_registry_limit;    /* running jobs per registry */
	long max_running;	    /* running jobs in all */
	long max_attempts;	    /* per job */
	long backoff_min_ms;
	long backoff_max_ms;
	long lease_s;
	long shutdown_grace_s;
	long retention_days; /* ended jobs pruned after it; 0: kept */
	long min_free_mb;    /* below it free on the state fs: refuse new work */
	char *host_name;     /* this daemon in lease owners ("<host_name>:<pid>") */
	struct pg_cfg pg;    /* queue.postgresql (backend postgresql) */
	struct pg_credentials_cfg pg_credentials; /* queue.postgresql.credentials */
};

struct publish_cfg {
	long max_attempts; /* tries per upload for retryable answers */
	long backoff_min_ms;
	long backoff_max_ms;
	long max_file_bytes; /* largest file a publish request may send */
};

#define PUBLISH_MAX_FILE_BYTES (1L << 30) /* default of publish.max_file_bytes */

/* Who may use the control socket (config_control.c).  A principal is a
 * user or a group, resolved to its id when the configuration is loaded. */
struct control_principal {
	bool group;
	unsigned id; /* uid or gid */
	char *name;  /* as configured, for messages */
};

struct control_cfg {
	struct control_principal *operators; /* the "operate" role (implies read) */
	size_t noperators;
	struct control_principal *readers; /* the "read" role */
	size_t nreaders;
	bool default_operators; /* control.operators not set: root and the
				   daemon's own group */
	long max_connections;
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

/* listen.tls: both set, or TLS off. */
struct listen_tls_cfg {
	char *cert_file; /* PEM: the certificate, then its chain */
	char *key_file;	 /* PEM, not encrypted */
};

struct listen_cfg {
	char *address; /* "HOST:PORT"; NULL: no HTTP listener */
	char *host;    /* HOST resolved at load: an IP literal */
	int port;
	long max_header_bytes;	/* 431 beyond */
	long max_body_bytes;	/* 413 beyond */
	long header_timeout_ms; /* 408 beyond */
	long body_timeout_ms;
	long idle_timeout_ms;		/* keep-alive connections */
	long max_connections;		/* 503 beyond */
	long max_unauthenticated_bytes; /* held by unauthenticated requests: 503 beyond */
	struct listen_tls_cfg tls;
};

/* metrics: GET /metrics on its own listener (else on listen's). */
struct metrics_cfg {
	char *address; /* "HOST:PORT"; NULL: on the webhook listener */
	char *host;    /* HOST resolved at load */
	int port;
};

enum forge { FORGE_GITHUB, FORGE_GITLAB, FORGE_GITEA, FORGE__COUNT };

/* One build or verify command: argv[0..argc-1], NULL-terminated; a string
 * in the file becomes {"/bin/sh", "-c", string}. */
struct step_cfg {
	char **argv;
	size_t argc;
	char *display; /* as written, for the job log */
};

/* One cell of a pipeline's verify_matrix: the verify steps run once in
 * each cell, with env over the pipeline's own env. */
struct verify_cell {
	char *name; /* [A-Za-z0-9._-], unique in the pipeline */
	char **env; /* "NAME=value", in order */
	size_t nenv;
};

/* The most steps of one pipeline job: build steps, plus verify steps times
 * the verify_matrix cells (at least one); the checkout comes on top. */
#define PIPELINE_STEPS_MAX 75

/* The transports git may use in a pipeline (GIT_ALLOW_PROTOCOL). */
#define PL_GIT_PROTOCOLS "https:ssh:file"

struct pipeline_cfg {
	char *name;
	char *repository;      /* clone URL (never the payload's) */
	char *repository_name; /* the payload's full name must equal it */
	char *tag_pattern;     /* one '*': the version */
	char *package;	       /* the artifacts' name */
	char *directory;       /* inside the checkout, "." by default */
	struct step_cfg *build;
	size_t nbuild;
	struct step_cfg *verify;
	size_t nverify;
	struct verify_cell *matrix; /* verify_matrix; none: verify runs once */
	size_t nmatrix;
	char **artifacts; /* globs relative to directory */
	size_t nartifacts;
	char **targets; /* registry names, in upload order */
	size_t ntargets;
	char **env; /* "NAME=value", in order */
	size_t nenv;
	char **writable; /* extra folders the steps may write (sandbox) */
	size_t nwritable;
	char **readable; /* extra paths the steps may read (sandbox) */
	size_t nreadable;
	bool network;		   /* false: the steps get no network (own namespace) */
	long timeout_s;		   /* per step */
	char *dist_tag;		   /* npm targets: the tag for every version; NULL:
				    * npm_dist_tag's defaults */
	char *prerelease_dist_tag; /* npm targets: a prerelease's default tag;
				    * NULL: from the version ("beta", else "next") */
};

struct config {
	char *path; /* the file it came from */
	char *dir;  /* that file's folder (for relative credential names) */
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
	struct control_cfg control;
	struct queue_cfg queue;
	struct registry_cfg *registries;
	size_t nregistries;
	struct listen_cfg listen;
	struct metrics_cfg metrics;
	char *webhook_keys[FORGE__COUNT]; /* Vault key of each forge's secret, or NULL */
	long webhook_grace_s[FORGE__COUNT]; /* the secret before a rotation still counts */
	struct pipeline_cfg *pipelines;
	size_t npipelines;
	char *work_dir; /* per-job checkouts; default <state_dir>/work */
	enum isolation {
		ISOLATION_NAMESPACES,
		ISOLATION_LANDLOCK,
		ISOLATION_OFF
	} build_isolation;
	char **secret_keys; /* distinct Vault keys: tokens and webhook secrets */
	size_t nsecret_keys;
};

/* Reads and validates FILE.  Returns 0 and *ret (free with config_free), or
 * AOS_ECONFIG / -errno with a one-line message in errbuf naming the file,
 * the key path and what was expected. */
int config_load(const char *path, struct config **ret, char *errbuf, size_t errlen);

/* As config_load, from text already in memory; path is used in messages and
 * for the folder of relative names. */
int config_parse(const char *text, size_t len, const char *path, struct config **ret,
		 char *errbuf, size_t errlen);

/* Writes every key of the file, one JSON object a line: key path, type,
 * default and range as docs/configuration.md writes them, and the rule
 * its meaning must state (aos-publishd --dump-config-schema).  Returns 0 or
 * -errno. */
int config_dump_schema(FILE *f);

/* Frees a configuration.  Accepts NULL. */
void config_free(struct config *cfg);

/* The registry named name, or NULL. */
const struct registry_cfg *config_registry(const struct config *cfg, const char *name);

/* The pipeline named name, or NULL. */
const struct pipeline_cfg *config_pipeline(const struct config *cfg, const char *name);

/* "github", "gitlab", "gitea". */
const char *forge_name(enum forge f);

/* True if url is https://, or http:// to a loopback host. */
bool config_url_allowed(const char *url);

#endif
