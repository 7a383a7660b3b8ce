/* agent.h - the daemon: one struct that owns everything on the loop. */
#ifndef AOS_AGENT_H
#define AOS_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "base/control.h"
#include "base/transport.h"
#include "config/config.h"
#include "daemon/disk.h"
#include "publish/publish.h"
#include "sandbox/sandbox.h"
#include "session/session.h"

struct agent {
	uv_loop_t loop;
	struct config *cfg;
	struct transport *tp;
	struct vault_session *session;
	struct publish_env penv; /* loop, tp, session, &cfg: for publish/ */
	struct control *ctl;
	/* The loop's SQLite connection (the start's check, the clean-stop
	 * mark); NULL on PostgreSQL, where pg holds the connection's settings,
	 * credentials and LISTEN (daemon_pg.h). */
	struct queue *queue;
	struct daemon_pg *pg;
	/* The write queue_async (daemon_queue.h); NULL before its start and
	 * once closed.  wq_state: its open's log, the stop. */
	struct queue_async *wq;
	struct daemon_queue *wq_state;
	/* The read queue_async (daemon_queue.h): every read of the loop's. */
	struct queue_async *rq;
	struct daemon_queue *rq_state;
	struct metrics_scrape *scrape; /* a scrape's stats read out (metrics_http.c) */
	size_t list_rows; /* rows of the `jobs` reads out (commands_read.c) */
	struct worker *worker;
	struct follower *followers;  /* clients following a job or its log (follow.c) */
	uv_timer_t follow_sweep;     /* reads reported log lines, frees followers */
	struct ingest *ingest;	     /* HTTP webhooks, or NULL */
	struct token_checks *tokens; /* each registry's token checked (token_check.c) */
	struct metrics *metrics;     /* counters for GET /metrics (metrics.c) */
	struct http_server *metrics_srv; /* on metrics.address, or NULL */
	uv_timer_t grace;		 /* first SIGTERM: waiting for running uploads */
	int stop_requests;
	int lock_fd;
	uv_signal_t sig_term;
	uv_signal_t sig_int;
	uv_signal_t sig_hup;
	uv_timer_t watchdog;
	uint64_t watchdog_usec;
	uint64_t start_ms;
	int64_t start_wall_ms;
	bool ready_sent;
	bool reloading;
	bool stopping;
	int exit_code;
	char status_line[256];
	struct sandbox_caps sandbox; /* probed at start and reload */
	unsigned probe_gen;	     /* the newest probe (daemon_probe.c) */
	bool secrets_ready;	     /* the session's first_ready came */
	struct disk disk;	     /* disk use, refusal when full, retention */
};

/* Runs the daemon with a loaded configuration (ownership taken) until it is
 * told to stop.  Returns the process exit code. */
int agent_run(struct config *cfg);

/* Admits a control connection by the peer's role (commands.c). */
bool agent_admit(const struct control_peer *peer, void *data, bool *ret_fds_ok, char *msg,
		 size_t msglen);

/* Handles one control request: the command's role, its arguments, then
 * the command (commands.c). */
void agent_command(struct control_conn *c, const cJSON *req, void *data);

/* Current state word: starting, ready, degraded or stopping (agent.c: a
 * leaf, so that the files daemon.c calls do not call back into it). */
const char *agent_state(const struct agent *a);

#endif
