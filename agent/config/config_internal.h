/* config_internal.h - the parsing helpers shared by config.c and
 * config_pipeline.c.  Each reports the first error only, naming the file and
 * the key path. */
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
};

void cfg__fail(struct cctx *c, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* out = base + "." + key (or key alone when base is ""). */
void cfg__join(char *out, size_t outlen, const char *base, const char *key);
const char *cfg__type_name(const cJSON *v);
/* Repeated keys of obj, and keys not in allowed (NULL: any name). */
void cfg__check_keys(struct cctx *c, const cJSON *obj, const char *base,
		     const char *const *allowed);
/* A malloc'ed string value, def when absent (NULL def: required unless
 * optional); NULL on error or when absent and optional. */
char *cfg__str(struct cctx *c, const cJSON *obj, const char *base, const char *key,
	       const char *def, bool optional);
long cfg__int(struct cctx *c, const cJSON *obj, const char *base, const char *key,
	      long def, long min, long max);
bool cfg__bool(struct cctx *c, const cJSON *obj, const char *base, const char *key,
	       bool def);
const cJSON *cfg__obj(struct cctx *c, const cJSON *obj, const char *base,
		      const char *key, bool required);
void cfg__check_url(struct cctx *c, const char *path, const char *url);

/* config_pipeline.c: the "listen", "webhooks" and "pipelines" sections
 * (root is the whole document; registries are parsed already).  Adds the
 * webhook secret keys to cfg->secret_keys. */
void cfg__parse_pipelines(struct cctx *c, const cJSON *root, struct config *cfg);
void cfg__free_pipelines(struct config *cfg);
/* config_control.c: the "control" section (who may use the control
 * socket; the names are resolved to ids here). */
void cfg__parse_control(struct cctx *c, const cJSON *root, struct config *cfg);
void cfg__free_control(struct config *cfg);

/* Adds key to cfg->secret_keys unless present.  Returns 0 or -ENOMEM. */
int cfg__add_secret_key(struct config *cfg, const char *key);

#endif
