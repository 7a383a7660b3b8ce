/* config_control.c - the "control" section: who may use the control socket
 * (docs/configuration.md, "control").  User and group names are resolved
 * to ids here, at load, so a typo is a configuration error naming the key
 * rather than a refusal at the first request. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_internal.h"

#define NAME_MAX_LEN 255

/* The id of user (or group) name; 0 and *ret, -ENOENT if there is none,
 * or -errno when the lookup failed. */
static int lookup(const char *name, bool group, unsigned *ret)
{
	size_t len = 1024;
	char *buf = NULL;
	int r;

	for (;;) {
		struct passwd pw, *pwp = NULL;
		struct group gr, *grp = NULL;
		char *bigger = realloc(buf, len);

		if (bigger == NULL) {
			r = -ENOMEM;
			break;
		}
		buf = bigger;
		if (group) {
			r = getgrnam_r(name, &gr, buf, len, &grp);
			if (r == 0 && grp != NULL)
				*ret = (unsigned)grp->gr_gid;
		} else {
			r = getpwnam_r(name, &pw, buf, len, &pwp);
			if (r == 0 && pwp != NULL)
				*ret = (unsigned)pwp->pw_uid;
		}
		if (r == ERANGE && len < (1u << 20)) {
			len *= 4;
			continue;
		}
		if (r == 0)
			r = (group ? grp != NULL : pwp != NULL) ? 0 : -ENOENT;
		else
			r = -r;
		break;
	}
	free(buf);
	return r;
}

static int add(struct control_principal **list, size_t *n, bool group, unsigned id,
	       const char *name)
{
	struct control_principal *bigger = realloc(*list, (*n + 1) * sizeof(**list));

	if (bigger == NULL)
		return -ENOMEM;
	*list = bigger;
	bigger[*n].group = group;
	bigger[*n].id = id;
	bigger[*n].name = strdup(name);
	if (bigger[*n].name == NULL)
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* "NAME" (a user) or "@NAME" (a group), each resolved now. */
static void parse_list(struct cctx *c, const cJSON *o, const char *key,
		       struct control_principal **list, size_t *n)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, key), *it;
	char path[64];
	size_t i = 0;
	long max;

	snprintf(path, sizeof(path), "control.%s", key);
	max = cfg__key(path)->max;
	if (!cJSON_IsArray(arr)) {
		cfg__fail(c, path,
			  "expected an array of user names and \"@group\" names, "
			  "got %s",
			  cfg__type_name(arr));
		return;
	}
	if (cJSON_GetArraySize(arr) > max) {
		cfg__fail(c, path, "too many entries (at most %ld)", max);
		return;
	}
	cJSON_ArrayForEach(it, arr)
	{
		const char *s = cJSON_GetStringValue(it);
		bool group = s != NULL && s[0] == '@';
		const char *name = s != NULL ? s + group : NULL;
		unsigned id = 0;
		int r;

		snprintf(path, sizeof(path), "control.%s[%zu]", key, i++);
		if (name == NULL || name[0] == '\0' || strlen(name) > NAME_MAX_LEN) {
			cfg__fail(c, path,
				  "expected a user name or \"@\" and a group name "
				  "(1 to %d bytes), got %s",
				  NAME_MAX_LEN,
				  s != NULL ? "an empty or too long name"
					    : cfg__type_name(it));
			return;
		}
		r = lookup(name, group, &id);
		if (r == -ENOENT) {
			cfg__fail(c, path, "no %s named \"%.60s\" on this system%s",
				  group ? "group" : "user", name,
				  group ? "" : " (a group is written \"@NAME\")");
			return;
		}
		if (r == 0)
			r = add(list, n, group, id, s);
		if (r < 0) {
			cfg__fail(c, path, "cannot look up \"%.60s\": %s", s,
				  strerror(-r));
			return;
		}
	}
}

/* No control.operators: root and the daemon's own group (its running gid). */
static void default_operators(struct cctx *c, struct control_cfg *cc)
{
	char name[64];

	snprintf(name, sizeof(name), "the daemon's group (gid %u)", (unsigned)getegid());
	cc->default_operators = true;
	if (add(&cc->operators, &cc->noperators, false, 0, "root") < 0 ||
	    add(&cc->operators, &cc->noperators, true, (unsigned)getegid(), name) < 0)
		cfg__fail(c, "control.operators", "out of memory");
}

void cfg__parse_control(struct cctx *c, const cJSON *root, struct config *cfg)
{
	struct control_cfg *cc = &cfg->control;
	const cJSON *o = cfg__sub(root, "control");

	cfg__section(c, o, "control", "control", NULL, cc);
	if (cJSON_GetObjectItemCaseSensitive(o, "operators") != NULL)
		parse_list(c, o, "operators", &cc->operators, &cc->noperators);
	else
		default_operators(c, cc);
	if (cJSON_GetObjectItemCaseSensitive(o, "readers") != NULL)
		parse_list(c, o, "readers", &cc->readers, &cc->nreaders);
}

static void free_list(struct control_principal *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(list[i].name);
	free(list);
}

void cfg__free_control(struct config *cfg)
{
	free_list(cfg->control.operators, cfg->control.noperators);
	free_list(cfg->control.readers, cfg->control.nreaders);
}
