/* daemon_probe.c - the build sandbox probed off the loop thread.
 *
 * sandbox_probe() forks and execs bwrap twice and waits: about 15 ms at
 * start, which the loop spends on the Vault login instead (the first
 * READY=1 waits for both: daemon.c).  The probe fills a copy on a
 * thread-pool thread; the copy replaces the agent's caps on the loop, so
 * a reader never sees a half-filled one.  A reload probes again; the
 * caps of the newest probe win. */
#include <stdlib.h>

#include "base/log.h"
#include "daemon/agent.h"
#include "daemon/daemon_probe.h"

struct probe {
	uv_work_t work;
	struct agent *a;
	unsigned gen;
	probe_done_fn done;
	struct sandbox_caps caps;
};

/* What build steps run under; said at every start and reload, a warning
 * when they are not confined or the configured isolation is missing. */
static void describe(struct agent *a)
{
	char text[800];
	bool ok;

	if (a->cfg->npipelines == 0)
		return;
	ok = sandbox_describe(a->cfg->build_isolation, &a->sandbox, text, sizeof(text));
	if (!ok)
		log_err("build_isolation \"%s\" is not available: %s; pipeline jobs fail "
			"until it is (or another build_isolation is configured)",
			sandbox_mode_name(a->cfg->build_isolation), text);
	else if (a->cfg->build_isolation != ISOLATION_NAMESPACES)
		log_warn("build steps run under %s", text);
	else
		log_info("build steps run under %s", text);
}

static void probe_work(uv_work_t *w)
{
	struct probe *p = w->data;

	sandbox_probe(&p->caps);
}

static void probe_done(uv_work_t *w, int status)
{
	struct probe *p = w->data;
	struct agent *a = p->a;
	probe_done_fn done = p->done;

	if (status == 0 && p->gen == a->probe_gen) {
		a->sandbox = p->caps;
		describe(a);
	}
	free(p);
	if (a->sandbox.probed)
		done(a);
}

void agent_probe_sandbox(struct agent *a, probe_done_fn done)
{
	struct probe *p = calloc(1, sizeof(*p));

	if (p != NULL) {
		p->a = a;
		p->gen = ++a->probe_gen;
		p->done = done;
		p->work.data = p;
		if (uv_queue_work(&a->loop, &p->work, probe_work, probe_done) == 0)
			return;
		free(p);
	}
	/* No memory or no thread: probe here, on the loop. */
	sandbox_probe(&a->sandbox);
	describe(a);
	done(a);
}
