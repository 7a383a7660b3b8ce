/* daemon_probe.h - the build sandbox probed off the loop thread. */
#ifndef AOS_DAEMON_PROBE_H
#define AOS_DAEMON_PROBE_H

struct agent;

typedef void (*probe_done_fn)(struct agent *a);

/* Probes the build sandbox on a thread-pool thread; on the loop, the
 * result becomes a->sandbox (logged when pipelines are configured), then
 * done(a) runs.  A probe overtaken by a newer one is dropped.  Without
 * memory or a thread it probes on the loop, done() before it returns. */
void agent_probe_sandbox(struct agent *a, probe_done_fn done);

#endif
