/* publish.h - publishing files to a configured registry on behalf of a
 * control-socket client: inspect every file (on the thread pool), then
 * upload them in order with the registry's token from the secret store,
 * streaming progress back, and settle every answer a registry can give. */
#ifndef AOS_PUBLISH_H
#define AOS_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>

struct agent;
struct control_conn;

struct publish_request {
	const char *registry;         /* a name under "registries" */
	const char *tag;              /* npm dist-tag, or NULL */
	const char *expected_version; /* or NULL */
	bool dry_run;                 /* inspect and show, use no token */
	const char *const *files;     /* absolute paths */
	size_t nfiles;
};

#define PUBLISH_MAX_FILES 64

/* Starts a publish answering on c (events, then one final answer).
 * Returns 0, or a negative code with msg set, in which case the caller
 * answers with the error. */
int publish_start(struct agent *a, struct control_conn *c,
		  const struct publish_request *r, char *msg, size_t msglen);

#endif
