/* dist_tag.h - npm dist-tags decided before a job exists.
 *
 * A webhook delivery (ingest.c) and a publish request (spool.c) ask for a
 * check of the versions they would send to npm registries: each item's
 * package document is read once, with a short timeout
 * (DIST_TAG_READ_TIMEOUT_MS), and npm_dist_tag() decides its tag with the
 * registry's dist-tags.latest.  A refusal answers the request and no job
 * is made.  A registry that cannot be read is said so (item->unread) and
 * decided without its latest: the upload reads the registry again and
 * applies the same rule before anything is sent (publish_check.c), so
 * nothing is ever published on an unchecked decision.
 */
#ifndef AOS_DIST_TAG_H
#define AOS_DIST_TAG_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "publishers/npm.h"
#include "publishers/semver.h"

#define DIST_TAG_READ_TIMEOUT_MS 5000
#define DIST_TAG_ITEMS_MAX 64

struct publish_env;
struct registry_cfg;
struct transport_req;

struct dist_tag_item {
	char registry[128];
	char package[256];
	char version[SEMVER_MAX];
	char package_tag[NPM_TAG_MAX + 1]; /* publishConfig.tag, "" if none */
	/* the registry's answer */
	bool exists; /* the version is there: "exists" at upload */
	bool has_latest;
	char latest[SEMVER_MAX];
	char unread[400]; /* why the registry could not be read, or "" */
	/* the decision */
	struct npm_tag tag;
	int rc; /* 0 or PUB_ETAG */
	char error[768];
	/* private */
	struct dist_tag_check *check;
	struct transport_req *req;
	struct curl_slist *hdrs;
};

struct dist_tag_check;
typedef void (*dist_tag_done)(struct dist_tag_check *c, void *data);

/* A check, reading registries through env (copied; what it points to must
 * outlive the check), whose tags are decided from given (an explicit tag,
 * named by given_by in messages) and prerelease (a prerelease's default);
 * each may be NULL.  Returns 0 and *ret (free with dist_tag_check_free), or
 * -ENOMEM. */
int dist_tag_check_new(const struct publish_env *env, const char *given,
		       const char *given_by, const char *prerelease,
		       struct dist_tag_check **ret);

/* Adds package at version on npm registry reg, with its publishConfig.tag
 * (NULL: none).  Returns 0, -E2BIG past DIST_TAG_ITEMS_MAX, or -ENOMEM. */
int dist_tag_check_add(struct dist_tag_check *c, const struct registry_cfg *reg,
		       const char *package, const char *version, const char *package_tag);

/* Items added, and item i (< the count) of them. */
size_t dist_tag_check_count(const struct dist_tag_check *c);
const struct dist_tag_item *dist_tag_check_item(const struct dist_tag_check *c, size_t i);

/* Reads every item's registry and decides; done runs once, from the loop,
 * after the last answer (never from within this call).  Returns 0, or a
 * negative error (done will not run). */
int dist_tag_check_start(struct dist_tag_check *c, dist_tag_done done, void *data);

/* The first refused item, or NULL when every item has its tag. */
const struct dist_tag_item *dist_tag_check_refused(const struct dist_tag_check *c);

/* The decisions as a JSON array: {registry, dist_tag, from, latest (when
 * read), checked (the registry's latest was read), note (why not)}.
 * Returns a new array or NULL. */
cJSON *dist_tag_check_json(const struct dist_tag_check *c);

/* The decision for registry in a dist_tag_check_json() array, or NULL. */
const cJSON *dist_tag_json_find(const cJSON *decisions, const char *registry);

/* Cancels the reads still running (done does not run) and frees c; accepts
 * NULL. */
void dist_tag_check_free(struct dist_tag_check *c);

#endif
