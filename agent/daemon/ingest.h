/* ingest.h - the daemon's HTTP endpoints: /webhook (signed forge events
 * become pipeline jobs, committed before the answer, many per fsync),
 * /healthz and /readyz. */
#ifndef AOS_INGEST_H
#define AOS_INGEST_H

#include <cjson/cJSON.h>

struct agent;
struct ingest;

/* Starts listening when the configuration has listen.address (else *ret is
 * NULL and 0 is returned).  Returns 0 or a libuv error (logged). */
int ingest_open(struct agent *a, struct ingest **ret);

/* After the secrets changed (a session event): a rotated webhook secret's
 * previous value stays accepted for its rotation_grace_s.  Accepts NULL. */
void ingest_secrets_changed(struct ingest *in);

/* After a reload: new limits for new connections. */
void ingest_reconfigure(struct ingest *in);

/* Commits what is pending, stops listening, closes connections.  Accepts
 * NULL. */
void ingest_close(struct ingest *in);

/* {"address", "connections", "requests", "accepted", "duplicates",
 *  "ignored", "rejected", "unavailable", "unauthenticated_bytes",
 *  "unauthenticated_bytes_max"}; NULL for a NULL in. */
cJSON *ingest_status_json(const struct ingest *in);

#endif
