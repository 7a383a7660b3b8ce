/* config_placeholders.c - values of the shipped example that still hold a
 * placeholder.  systemd/config.example.json (the Debian package's
 * /etc/aos-publishd/config.json) writes what the operator must supply as
 * "<name>" inside a string, as in "https://<pypi-upload-host>/legacy/".
 * No URL, path or name may hold "<" or ">", so such a value is refused
 * everywhere, naming every key that still has one. */
#include <stdio.h>
#include <string.h>

#include "config_internal.h"

#define PLACEHOLDER_SHOWN_MAX 8 /* keys named in the message */

/* Whether s holds "<" one or more of [A-Za-z0-9._-] ">". */
static bool has_placeholder(const char *s)
{
	static const char name[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789._-";
	const char *lt;

	for (lt = strchr(s, '<'); lt != NULL; lt = strchr(lt + 1, '<')) {
		size_t n = strspn(lt + 1, name);

		if (n > 0 && lt[1 + n] == '>')
			return true;
	}
	return false;
}

struct found {
	size_t n;
	char list[1024];
};

static void walk(const cJSON *v, const char *path, struct found *f)
{
	const cJSON *it;
	char p[512];
	int i = 0;

	if (cJSON_IsString(v) && has_placeholder(v->valuestring)) {
		size_t used = strlen(f->list);

		if (f->n++ < PLACEHOLDER_SHOWN_MAX)
			snprintf(f->list + used, sizeof(f->list) - used,
				 "%s%s (\"%.80s\")", used ? ", " : "", path,
				 v->valuestring);
		return;
	}
	cJSON_ArrayForEach(it, v)
	{
		if (cJSON_IsArray(v))
			snprintf(p, sizeof(p), "%s[%d]", path, i++);
		else
			cfg__join(p, sizeof(p), path, it->string);
		walk(it, p, f);
	}
}

void cfg__check_placeholders(struct cctx *c, const cJSON *root)
{
	struct found f = {0};

	walk(root, "", &f);
	if (f.n == 0)
		return;
	cfg__fail(c, "placeholders",
		  "%zu value%s of the example still to replace: %s%s; "
		  "put your own there (docs/operations.md, \"Configure\")",
		  f.n, f.n == 1 ? "" : "s", f.list,
		  f.n > PLACEHOLDER_SHOWN_MAX ? ", ..." : "");
}
