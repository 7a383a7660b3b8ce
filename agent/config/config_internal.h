/* config_internal.h - the parsing helpers shared by the files of config/.
 * Each reports the first error only, naming the file and the key path.
 * Who calls whom: config.c (the whole document) calls the sections'
 * files, config_pipeline.c calls config_env.c, and every one of them
 * calls config_keys.c (the key table) and config_value.c (the primitives
 * below, down to cfg__obj), which call nothing of config/ back. */
#ifndef AOS_CONFIG_INTERNAL_H
#define AOS_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "config/config.h"

/* Parsing context: where we are, and the first error. */
struct cctx {
	const char *file;
	char *err;
	size_t errlen;
	bool failed;
	const struct config *cfg; /* being parsed: the folders `under` keys name */
};

void cfg__fail(struct cctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* out = base + "." + key (or key alone when base is ""). */
void cfg__join(char *out, size_t outlen, const char *base, const char *key);
const char *cfg__type_name(const cJSON *v);
/* Repeated keys of obj, and keys not in allowed (NULL: any name). */
void cfg__check_keys(struct cctx *c, const cJSON *obj, const char *base,
		     const char *const *allowed);
/* A malloc'ed string value of at most max bytes, def when absent (NULL
 * def: required unless optional); NULL on error or when absent and
 * optional. */
char *cfg__str(struct cctx *c, const cJSON *obj, const char *base, const char *key,
	       const char *def, bool optional, long max);
long cfg__int(struct cctx *c, const cJSON *obj, const char *base, const char *key,
	      long def, long min, long max);
bool cfg__bool(struct cctx *c, const cJSON *obj, const char *base, const char *key,
	       bool def);
/* obj's member key if it is an object, else NULL (the type is checked by
 * its row). */
const cJSON *cfg__sub(const cJSON *obj, const char *key);
const cJSON *cfg__obj(struct cctx *c, const cJSON *obj, const char *base, const char *key,
		      bool required);
void cfg__check_url(struct cctx *c, const char *path, const char *url);
/* Fails naming every string value still holding a placeholder of the
 * shipped example ("<pypi-upload-host>"): config_placeholders.c. */
void cfg__check_placeholders(struct cctx *c, const cJSON *root);

/* ---- the key table (config_keys.c) ------------------------------------------
 * Every key of the file is one row: the parser reads a section from the
 * rows under it, and the reference (docs/configuration.md) is checked
 * against the rows (aos-publishd --dump-config-schema,
 * tests/integration/test_config_reference.py).  To add a key: add its field
 * to the section's struct in config.h, one row to cfg__keys, one row to
 * the reference's table; code is needed only for what the row cannot say. */
enum cfg_type {
	CT_STR,	  /* char *; max: length in bytes; choices: the values allowed */
	CT_INT,	  /* long; def, min, max */
	CT_BOOL,  /* bool; def */
	CT_ENUM,  /* int: min + the index of the value in choices; sdef */
	CT_OBJ,	  /* a section or a map of named entries (no field) */
	CT_LIST,  /* an array of strings (parsed by code); max: items */
	CT_STEPS, /* an array of commands (parsed by code) */
	CT_CELLS, /* an array of objects (parsed by code); max: items */
};

#define CK_REQUIRED 0x1u /* missing is an error */
#define CK_DOC 0x2u	 /* sdef is the default as the reference words it; code sets it */
#define CFG_CODE ((size_t)-1) /* off: parsed by code, not by cfg__section */

struct cfg_key {
	const char *path; /* "queue.max_running"; "*" is a name the user picks */
	enum cfg_type type;
	size_t off; /* the field in the section's struct, or CFG_CODE */
	long def, min, max;
	const char *sdef; /* CT_STR, CT_ENUM: the default value (or CK_DOC text) */
	const char *const *choices; /* NULL-terminated */
	const char *variant; /* only when the section's variant is this (vault.auth) */
	unsigned flags;
	const char *rule; /* what code checks besides; the reference must say it */
	/* CT_STR defaults computed when the key is absent (sdef is the rest):
	 * env: the environment variable's value, else sdef; under: the
	 * top-level folder key's value + "/" + sdef (a row after that key). */
	const char *env;
	const char *under;
};

extern const struct cfg_key cfg__keys[];
extern const size_t cfg__nkeys;

/* The row of path ("pipelines.*.timeout_s"), or NULL. */
const struct cfg_key *cfg__key(const char *path);
/* Parses the row k from obj (base: the section's path as written) into
 * out, the section's struct. */
void cfg__one(struct cctx *c, const cJSON *obj, const char *base, const struct cfg_key *k,
	      void *out);
/* Refuses keys of obj that have no row under sect ("pipelines.*") for this
 * variant (NULL: rows without one), repeated keys, and parses every row of
 * sect that has a field into out.  obj NULL: the defaults. */
void cfg__section(struct cctx *c, const cJSON *obj, const char *base, const char *sect,
		  const char *variant, void *out);
/* Frees the string of every CT_STR row directly under sect (as
 * cfg__section parsed them into out, whatever the variant). */
void cfg__free_section(const char *sect, void *out);
/* The default and the bounds as the reference writes them (see
 * docs/configuration.md, "Reading the tables"). */
void cfg__render_default(const struct cfg_key *k, char *out, size_t outlen);
void cfg__render_range(const struct cfg_key *k, char *out, size_t outlen);
const char *cfg__render_type(const struct cfg_key *k);

/* One forge's entry under "webhooks", as parsed (copied into struct config). */
struct webhook_cfg {
	char *secret_key;
	long rotation_grace_s;
};

/* config_pipeline.c: the "listen", "webhooks" and "pipelines" sections
 * (root is the whole document; registries are parsed already).  Adds the
 * webhook secret keys to cfg->secret_keys. */
void cfg__parse_pipelines(struct cctx *c, const cJSON *root, struct config *cfg);
void cfg__free_pipelines(struct config *cfg);
/* config_control.c: the "control" section (who may use the control
 * socket; the names are resolved to ids here). */
void cfg__parse_control(struct cctx *c, const cJSON *root, struct config *cfg);
void cfg__free_control(struct config *cfg);

/* config_queue.c: queue.postgresql (root is the whole document; the
 * "queue" section is parsed already).  A kv_key is added to
 * cfg->secret_keys. */
void cfg__parse_queue_pg(struct cctx *c, const cJSON *root, struct config *cfg);
void cfg__free_queue_pg(struct config *cfg);

/* config_env.c: the steps' environment.  env (an object, or NULL) as
 * "NAME=value" strings (*ret_n of them; NULL when none), refusing the names
 * the daemon sets for every step (HOME, TMPDIR, ...) and LD_*; path names
 * env in messages. */
char **cfg__env(struct cctx *c, const cJSON *env, const char *path, size_t *ret_n);
/* pipelines.X.verify_matrix of o (base: "pipelines.X") into p->matrix,
 * and the bound on p's steps (PIPELINE_STEPS_MAX); p's build and verify
 * steps are parsed already. */
void cfg__parse_matrix(struct cctx *c, const cJSON *o, const char *base,
		       struct pipeline_cfg *p);
void cfg__free_matrix(struct verify_cell *m, size_t n);
/* Frees the first n strings of l, then l.  Accepts NULL (config_value.c). */
void cfg__free_list(char **l, size_t n);

/* Adds key to cfg->secret_keys unless present.  Returns 0 or -ENOMEM. */
int cfg__add_secret_key(struct config *cfg, const char *key);

#endif
