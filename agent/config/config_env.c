/* config_env.c - the steps' environment: pipelines.X.env and the cells of
 * pipelines.X.verify_matrix, one rule for both (docs/pipelines.md, "The
 * steps' environment"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

#define CELL_NAME_MAX 64

/* What the daemon sets for every step (pl_env_init, SOURCE_DATE_EPOCH
 * after the checkout): the work folder, the commit's time, git's guards.
 * LD_* would reach bubblewrap and the daemon's own binary in --run-step
 * mode, which start each step with its environment before it is confined. */
static const char *const reserved[] = {
    "HOME", "TMPDIR", "SOURCE_DATE_EPOCH", "GIT_ALLOW_PROTOCOL", "GIT_TERMINAL_PROMPT",
    NULL};

/* Whether name can be set in a step's environment; if not, why in why. */
static bool env_name_ok(const char *name, char *why, size_t whylen)
{
	const char *const *r;

	if (name[0] == '\0' || strchr(name, '=') != NULL) {
		snprintf(why, whylen, "a name is not empty and has no '='");
		return false;
	}
	if (strncmp(name, "LD_", 3) == 0) {
		snprintf(why, whylen,
			 "LD_* cannot be set: it would reach the daemon's step "
			 "launcher, which runs before the sandbox confines the step");
		return false;
	}
	for (r = reserved; *r != NULL; r++) {
		if (strcmp(name, *r) == 0) {
			snprintf(why, whylen,
				 "%s cannot be set: the daemon sets it for every "
				 "step",
				 name);
			return false;
		}
	}
	return true;
}

char **cfg__env(struct cctx *c, const cJSON *env, const char *path, size_t *ret_n)
{
	const cJSON *it;
	char **out;
	size_t n = 0;

	*ret_n = 0;
	if (env == NULL)
		return NULL;
	cfg__check_keys(c, env, path, NULL);
	out = calloc((size_t)cJSON_GetArraySize(env) + 1, sizeof(char *));
	if (out == NULL) {
		cfg__fail(c, path, "out of memory");
		return NULL;
	}
	cJSON_ArrayForEach(it, env)
	{
		char why[200] = "the value is not a string";

		if (!env_name_ok(it->string, why, sizeof(why)) || !cJSON_IsString(it)) {
			cfg__fail(c, path,
				  "\"%.60s\": expected NAME: \"value\" (a string); %s",
				  it->string, why);
			break;
		}
		if (asprintf(&out[n], "%s=%s", it->string, it->valuestring) < 0) {
			out[n] = NULL; /* undefined after a failure */
			cfg__fail(c, path, "out of memory");
			break;
		}
		n++;
	}
	*ret_n = n;
	return out;
}

/* A cell's name: 1 to CELL_NAME_MAX of [A-Za-z0-9._-] (it goes into job
 * logs and error messages as it is). */
static bool cell_name_ok(const char *s)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
				 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";

	return s[0] != '\0' && s[strspn(s, ok)] == '\0';
}

static void parse_cell(struct cctx *c, const cJSON *it, const char *base,
		       struct verify_cell *cells, size_t n)
{
	struct verify_cell *cell = &cells[n];
	char path[400];
	size_t k;

	if (!cJSON_IsObject(it)) {
		cfg__fail(c, base,
			  "expected an object {\"name\": \"...\", \"env\": {...}}, "
			  "got %s",
			  cfg__type_name(it));
		return;
	}
	cfg__section(c, it, base, "pipelines.*.verify_matrix.*", NULL, cell);
	if (cell->name == NULL || c->failed)
		return;
	cfg__join(path, sizeof(path), base, "name");
	if (!cell_name_ok(cell->name)) {
		cfg__fail(c, path, "\"%.80s\": expected letters, digits, '.', '_' or '-'",
			  cell->name);
		return;
	}
	for (k = 0; k < n; k++)
		if (strcmp(cells[k].name, cell->name) == 0)
			cfg__fail(c, path,
				  "\"%s\" names cell %zu already; cell names are unique",
				  cell->name, k);
	cfg__join(path, sizeof(path), base, "env");
	cell->env = cfg__env(c, cfg__sub(it, "env"), path, &cell->nenv);
}

/* Build steps + verify steps x cells within PIPELINE_STEPS_MAX. */
static void check_steps(struct cctx *c, const char *base, const struct pipeline_cfg *p)
{
	size_t cells = p->nmatrix > 0 ? p->nmatrix : 1;

	if (p->nbuild > PIPELINE_STEPS_MAX || p->nverify > PIPELINE_STEPS_MAX ||
	    p->nbuild + p->nverify * cells > PIPELINE_STEPS_MAX)
		cfg__fail(c, base,
			  "%zu build step(s) and %zu verify step(s) in %zu cell(s) "
			  "make %zu steps, more than the %d of one job: fewer steps or "
			  "fewer cells",
			  p->nbuild, p->nverify, cells, p->nbuild + p->nverify * cells,
			  PIPELINE_STEPS_MAX);
}

void cfg__parse_matrix(struct cctx *c, const cJSON *o, const char *base,
		       struct pipeline_cfg *p)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "verify_matrix"), *it;
	long max = cfg__key("pipelines.*.verify_matrix")->max;
	char path[300], cell[340];

	cfg__join(path, sizeof(path), base, "verify_matrix");
	if (v != NULL && !cJSON_IsArray(v))
		cfg__fail(c, path,
			  "expected an array of cells {\"name\": \"...\", \"env\": "
			  "{...}}, got %s",
			  cfg__type_name(v));
	else if (cJSON_GetArraySize(v) > max)
		cfg__fail(c, path, "at most %ld cells", max);
	else if (cJSON_GetArraySize(v) > 0 && p->nverify == 0)
		cfg__fail(c, path,
			  "no verify steps to run in its cells: add \"verify\" "
			  "steps, or remove verify_matrix");
	if (v == NULL || c->failed || cJSON_GetArraySize(v) == 0) {
		check_steps(c, base, p);
		return;
	}
	p->matrix = calloc((size_t)cJSON_GetArraySize(v), sizeof(*p->matrix));
	if (p->matrix == NULL) {
		cfg__fail(c, path, "out of memory");
		return;
	}
	cJSON_ArrayForEach(it, v)
	{
		snprintf(cell, sizeof(cell), "%s[%zu]", path, p->nmatrix);
		parse_cell(c, it, cell, p->matrix, p->nmatrix);
		p->nmatrix++;
		if (c->failed)
			return;
	}
	check_steps(c, base, p);
}

void cfg__free_matrix(struct verify_cell *m, size_t n)
{
	size_t i;

	for (i = 0; m != NULL && i < n; i++) {
		free(m[i].name);
		cfg__free_list(m[i].env, m[i].nenv);
	}
	free(m);
}
