/* agent.c - what the daemon's state reads as (agent.h): the word the
 * control socket's status, the metrics and sd_notify's STATUS= show. */
#include "daemon/agent.h"
#include "session/session.h"

const char *agent_state(const struct agent *a)
{
	if (a->stopping || a->stop_requests > 0)
		return "stopping";
	if (!session_loaded(a->session))
		return "starting";
	return session_healthy(a->session) ? "ready" : "degraded";
}
