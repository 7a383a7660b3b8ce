/* daemon.c - the daemon's life: start, systemd notifications, signals,
 * reload and a clean stop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "base/http.h"
#include "base/log.h"
#include "common/backoff.h"
#include "common/err.h"
#include "common/file.h"
#include "common/secret.h"
#include "daemon/agent.h"
#include "daemon/daemon_pg.h"
#include "daemon/daemon_probe.h"
#include "daemon/daemon_queue.h"
#include "daemon/follow.h"
#include "daemon/ingest.h"
#include "daemon/metrics.h"
#include "daemon/token_check.h"
#include "queue/queue.h"
#include "queue/queue_async.h"
#include "worker/worker.h"

static void update_status(struct agent *a)
{
	const char *err = session_last_error(a->session);
	char line[sizeof(a->status_line)];

	if (err != NULL)
		snprintf(line, sizeof(line), "%s: %.200s", agent_state(a), err);
	else
		snprintf(line, sizeof(line), "%s: secrets version %lld from Vault",
			 agent_state(a),
			 (long long)store_kv_version(session_store(a->session)));
	if (strcmp(line, a->status_line) == 0)
		return;
	memcpy(a->status_line, line, sizeof(line));
	sd_notifyf(0, "STATUS=%s", line);
}

static uint64_t monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The first READY=1: the secrets are loaded and the build sandbox probed
 * (both start together: daemon_probe.c). */
static void announce_ready(struct agent *a)
{
	if (!a->ready_sent) {
		a->ready_sent = true;
		log_notice("ready: %zu secret key(s) loaded from Vault",
			   store_size(session_store(a->session)) -
			       store_missing(session_store(a->session)));
	}
	update_status(a);
	sd_notifyf(0, "READY=1\nSTATUS=%s", a->status_line);
}

static void session_event(struct vault_session *s, bool first_ready, void *data)
{
	struct agent *a = data;

	(void)s;
	ingest_secrets_changed(a->ingest); /* webhook secrets' rotation grace */
	token_checks_update(a->tokens);	   /* new or rotated registry tokens */
	if (session_loaded(a->session))
		metrics_secrets(a->metrics, store_kv_version(session_store(a->session)),
				aos_wall_ms());
	if (first_ready)
		a->secrets_ready = true;
	daemon_pg_session_event(a); /* a kv_key password, dbcreds' token */
	if (first_ready && a->worker != NULL)
		worker_kick(a->worker); /* jobs waited for the tokens */
	if (a->reloading && session_loaded(a->session)) {
		update_status(a);
		a->reloading = false;
		sd_notify(0, "READY=1");
	} else if (first_ready && a->sandbox.probed) {
		announce_ready(a);
	} else {
		update_status(a); /* READY=1 when the probe ends: sandbox_probed() */
	}
}

/* A sandbox probe ended (daemon_probe.c): the first READY=1 if the secrets
 * came first, and claims may start (the worker waits for the caps). */
static void sandbox_probed(struct agent *a)
{
	if (a->secrets_ready && !a->ready_sent && !a->reloading)
		announce_ready(a);
	if (a->worker != NULL)
		worker_kick(a->worker);
}

/* Closes what is left open at the end, but the queue_async handles:
 * queue_async_close() alone closes them (daemon_queue_stop()). */
static void close_walk(uv_handle_t *h, void *arg)
{
	const struct agent *a = arg;

	if (!uv_is_closing(h) && !daemon_queue_owns(a, h))
		uv_close(h, NULL);
}

static void agent_stop(struct agent *a, const char *why)
{
	if (a->stopping)
		return;
	a->stopping = true;
	log_notice("stopping (%s)", why);
	sd_notify(0, "STOPPING=1");
	uv_timer_stop(&a->grace);
	uv_close((uv_handle_t *)&a->grace, NULL);
	ingest_close(a->ingest); /* commits what is pending first */
	a->ingest = NULL;
	http_server_close(a->metrics_srv);
	a->metrics_srv = NULL;
	worker_close(a->worker); /* releases anything still running */
	a->worker = NULL;
	follow_close(a);
	disk_close(a);
	control_close(a->ctl);
	a->ctl = NULL;
	daemon_pg_stop(a); /* dbcreds rides on the session's token */
	session_close(a->session);
	token_checks_free(a->tokens); /* cancels its requests first */
	a->tokens = NULL;
	transport_close(a->tp);
	uv_close((uv_handle_t *)&a->sig_term, NULL);
	uv_close((uv_handle_t *)&a->sig_int, NULL);
	uv_close((uv_handle_t *)&a->sig_hup, NULL);
	uv_close((uv_handle_t *)&a->watchdog, NULL);
}

static void reload(struct agent *a)
{
	struct config *ncfg = NULL, *old;
	char err[1024];
	int r;

	a->reloading = true;
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading %s",
		   (unsigned long long)monotonic_usec(), a->cfg->path);
	r = config_load(a->cfg->path, &ncfg, err, sizeof(err));
	if (r < 0) {
		log_err("reload rejected, keeping the running configuration: %s", err);
		a->reloading = false;
		a->status_line[0] = '\0';
		update_status(a);
		sd_notify(0, "READY=1");
		return;
	}
	if (ncfg->queue.backend != a->cfg->queue.backend) {
		/* the queue is opened once, at the start: its jobs would stay
		 * behind in the other backend */
		log_err("reload rejected, keeping the running configuration: "
			"queue.backend changed to \"%s\": the queue's backend does not "
			"change while the daemon runs (move the jobs and restart)",
			ncfg->queue.backend == QUEUE_BACKEND_POSTGRESQL ? "postgresql"
									: "sqlite");
		config_free(ncfg);
		a->reloading = false;
		a->status_line[0] = '\0';
		update_status(a);
		sd_notify(0, "READY=1");
		return;
	}
	log_set_level(ncfg->log_level);
	if (strcmp(ncfg->control_socket, a->cfg->control_socket) != 0)
		log_warn("control_socket changed to %s: takes effect at the next restart",
			 ncfg->control_socket);
	if (strcmp(ncfg->metrics.address ? ncfg->metrics.address : "",
		   a->cfg->metrics.address ? a->cfg->metrics.address : "") != 0)
		log_warn("metrics.address changed: takes effect at the next restart");
	transport_set_opts(a->tp, &(struct transport_opts){
				      .connect_timeout_ms = ncfg->connect_timeout_ms,
				      .stall_timeout_s = ncfg->stall_timeout_s,
				      .ca_file = ncfg->ca_file,
				      .ca_path = ncfg->ca_path});
	r = session_reconfigure(a->session, ncfg);
	if (r < 0) {
		log_err_r(r, "reload failed, keeping the running configuration");
		config_free(ncfg);
		a->reloading = false;
		sd_notify(0, "READY=1");
		return;
	}
	old = a->cfg;
	a->cfg = ncfg;
	daemon_pg_reconfigure(a, old);
	if (strcmp(ncfg->queue.host_name, old->queue.host_name) != 0)
		log_warn("queue.host_name changed: takes effect at the next restart "
			 "(this process's leases keep the old name)");
	config_free(old);
	control_set_max_connections(a->ctl, (size_t)ncfg->control.max_connections);
	ingest_reconfigure(a->ingest);
	token_checks_update(a->tokens); /* registries may have changed */
	agent_probe_sandbox(a, sandbox_probed);
	log_notice("configuration reloaded from %s; refreshing secrets", a->cfg->path);
	if (!session_loaded(a->session)) {
		a->reloading = false;
		sd_notify(0, "READY=1");
	}
}

static uint64_t grace_deadline_ms;

static void grace_check(uv_timer_t *t)
{
	struct agent *a = t->data;

	/* Ended once its end is recorded and its followers answered. */
	if (worker_running(a->worker) == 0 && !follow_answering(a)) {
		agent_stop(a, "running uploads finished");
		return;
	}
	if (uv_now(&a->loop) >= grace_deadline_ms) {
		log_warn(
		    "grace period over: %zu job(s) still running go back to the queue",
		    worker_running(a->worker));
		worker_abort_all(a->worker, "stopped at the end of the grace period");
		agent_stop(a, "grace period over");
	}
}

/* First SIGTERM: stop claiming and let running uploads finish within the
 * grace period (telling systemd to wait that long); a second one stops
 * them at once.  Either way nothing is lost: unfinished jobs go back to
 * the queue. */
static void request_stop(struct agent *a, const char *sig)
{
	size_t n = a->worker != NULL ? worker_running(a->worker) : 0;
	long grace = a->cfg->queue.shutdown_grace_s;

	a->stop_requests++;
	if (a->stop_requests > 1 || n == 0 || grace == 0) {
		if (n > 0) {
			log_warn(
			    "%s again: stopping %zu running job(s) now; they go back "
			    "to the queue",
			    sig, n);
			worker_abort_all(a->worker, "stopped by a second signal");
		}
		agent_stop(a, sig);
		return;
	}
	worker_set_draining(a->worker, true);
	log_notice("%s: no new jobs start; waiting up to %ld s for %zu running job(s) "
		   "(send it again to stop them now)",
		   sig, grace, n);
	sd_notifyf(0,
		   "EXTEND_TIMEOUT_USEC=%llu\nSTATUS=stopping: waiting for %zu "
		   "running job(s)",
		   (unsigned long long)(grace + 10) * 1000000ULL, n);
	grace_deadline_ms = uv_now(&a->loop) + (uint64_t)grace * 1000;
	uv_timer_start(&a->grace, grace_check, 100, 100);
}

static void signal_cb(uv_signal_t *h, int signum)
{
	struct agent *a = h->data;

	if (signum == SIGHUP) {
		log_notice("SIGHUP: reloading the configuration");
		reload(a);
		return;
	}
	request_stop(a, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void watchdog_cb(uv_timer_t *t)
{
	(void)t;
	sd_notify(0, "WATCHDOG=1");
}

static int ensure_dir(const char *path)
{
	if (mkdir(path, 0750) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Requests being spooled when the previous process died left their
 * temporary folders (nothing was acknowledged for them). */
static void clean_incoming(const char *spool)
{
	DIR *d = opendir(spool);
	struct dirent *e;
	char path[4400];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, ".incoming-", 10) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", spool, e->d_name);
		(void)aos_rm_flat_dir(path);
	}
	closedir(d);
}

/* The installation's fingerprint key (secret.h), made at the first start:
 * secrets are shown keyed by it, stable across restarts. */
static int load_fingerprint_key(const char *state_dir)
{
	char err[1024];
	bool created = false;
	int r;

	r = secret_fingerprint_key_load(state_dir, &created, err, sizeof(err));
	if (r < 0)
		log_err("%s", err);
	else if (created)
		log_notice("created the fingerprint key %s/%s: secrets are shown as "
			   "HMAC-SHA256 fingerprints under it (keep it with the state)",
			   state_dir, SECRET_FPR_KEY_FILE);
	return r;
}

/* The job read after its change (on the read queue): its metrics. */
static void job_read(struct queue_async_result *res, void *data)
{
	struct agent *a = data;

	if (res->rc == 0)
		metrics_job_changed(a->metrics, &res->jobs[0]);
}

/* The worker's hooks: followers (follow.c) and metrics.  The worker's
 * write is committed when it calls: the read posted now sees it. */
static void job_changed(void *data, int64_t id)
{
	struct agent *a = data;
	int r = a->rq != NULL ? queue_async_get(a->rq, id, job_read, a) : -ESHUTDOWN;

	if (r < 0)
		log_msg_r(LOG_LVL_INFO, r,
			  "job %lld changed; not counted in the metrics: its read "
			  "was refused",
			  (long long)id);
	follow_job_changed(a, id);
}

static void upload_done(void *data, const struct worker_upload_stat *u)
{
	struct agent *a = data;

	metrics_upload(a->metrics, u);
}

static void step_done(void *data, const char *pipeline, const char *which,
		      const char *result, double seconds)
{
	struct agent *a = data;

	metrics_step(a->metrics, pipeline, which, result, seconds);
}

/* The loop's SQLite connection: the file checked (quick_check after an
 * unclean stop) and marked open; its close marks the clean stop. */
static int open_sqlite(struct agent *a)
{
	const struct config *cfg = a->cfg;
	char err[1024];
	enum queue_check check;
	int r;

	r = queue_sqlite_open(cfg->queue.path, &a->queue, err, sizeof(err));
	if (r < 0) {
		log_err("cannot use the queue database: %s", err);
		return r;
	}
	check = queue_sqlite_open_check(a->queue);
	if (check == QUEUE_CHECK_NEW)
		log_notice("queue database %s: created (an empty queue)",
			   cfg->queue.path);
	else if (check == QUEUE_CHECK_QUICK)
		log_notice("queue database %s: not closed cleanly by the last process; "
			   "quick_check passed (full check: aos-publishd --check-queue)",
			   cfg->queue.path);
	else
		log_info("queue database %s: closed cleanly by the last process; "
			 "integrity check skipped",
			 cfg->queue.path);
	return 0;
}

/* One daemon per state directory; the queue, then the worker on the write
 * queue_async.  Jobs that this daemon's previous process was running (it
 * crashed or was killed) go back to the queue first (worker_start()): at
 * once on SQLite, on PostgreSQL once its credentials are there
 * (daemon_pg.c). */
static int open_queue(struct agent *a)
{
	const struct config *cfg = a->cfg;
	char path[4200];
	int r;

	r = ensure_dir(cfg->state_dir);
	if (r < 0) {
		log_err_r(r, "cannot create state_dir %s", cfg->state_dir);
		return r;
	}
	snprintf(path, sizeof(path), "%s/aos-publishd.lock", cfg->state_dir);
	a->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (a->lock_fd < 0 || flock(a->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		log_err("another aos-publishd uses %s (lock %s held): stop it first, or "
			"give this one its own state_dir",
			cfg->state_dir, path);
		return -EBUSY;
	}
	r = load_fingerprint_key(cfg->state_dir);
	if (r < 0)
		return r;
	r = ensure_dir(cfg->work_dir);
	if (r < 0) {
		log_err_r(r, "cannot create work_dir %s", cfg->work_dir);
		return r;
	}
	clean_incoming(cfg->queue.spool_dir);
	r = cfg->queue.backend == QUEUE_BACKEND_POSTGRESQL ? daemon_pg_new(a)
							   : open_sqlite(a);
	if (r < 0)
		return r;
	/* No queue_observer: the loop's connection writes nothing, and the
	 * write queue_async's thread must not call follow.c; the worker tells
	 * follow of new log lines from its writes' completions (hooks.logged). */
	r = daemon_queue_start(a, a->pg != NULL ? daemon_pg_open : NULL);
	if (r < 0)
		return r;
	r = worker_new(
	    &(struct worker_env){
		.pub = a->penv,
		.sandbox = &a->sandbox,
		.hooks = {.job_event = follow_job_event,
			  .job_changed = job_changed,
			  .upload_done = upload_done,
			  .step_done = step_done,
			  .logged = follow_logged,
			  .data = a},
	    },
	    a->wq, &a->worker);
	if (r < 0) {
		log_err_r(r, "cannot start the queue's worker");
		return r;
	}
	if (a->pg != NULL)
		daemon_pg_start(a); /* or at the first credentials */
	else
		worker_start(a->worker); /* claims once release_owner is committed */
	disk_init(a);
	return r;
}

int agent_run(struct config *cfg)
{
	struct agent *a = calloc(1, sizeof(*a));
	int r;

	if (a == NULL)
		return 1;
	/* Everything started from here on (build steps, git) runs with
	 * no_new_privs and cannot clear it; the control socket relies on that
	 * to tell build steps from the daemon's user (control_peer.c).  The
	 * unit's NoNewPrivileges=yes does the same under systemd. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		log_err("cannot set no_new_privs: %s", strerror(errno));
		free(a);
		return 1;
	}
	a->cfg = cfg;
	a->exit_code = 0;
	uv_loop_init(&a->loop);
	a->loop.data = a;
	a->start_ms = uv_now(&a->loop);
	a->start_wall_ms = aos_wall_ms();

	if (metrics_new(&a->metrics) < 0) {
		log_err("cannot set up: out of memory");
		free(a);
		return 1;
	}
	r = transport_new(
	    &a->loop,
	    &(struct transport_opts){.connect_timeout_ms = cfg->connect_timeout_ms,
				     .stall_timeout_s = cfg->stall_timeout_s,
				     .ca_file = cfg->ca_file,
				     .ca_path = cfg->ca_path},
	    &a->tp);
	if (r == 0)
		r = token_checks_new(a, &a->tokens);
	if (r == 0)
		r = session_new(&a->loop, a->tp, cfg, session_event, a, &a->session);
	a->penv = (struct publish_env){
	    .loop = &a->loop, .tp = a->tp, .session = a->session, .cfg = &a->cfg};
	if (r < 0) {
		log_err_r(r, "cannot set up");
		return 1;
	}
	uv_signal_init(&a->loop, &a->sig_term);
	uv_signal_init(&a->loop, &a->sig_int);
	uv_signal_init(&a->loop, &a->sig_hup);
	a->sig_term.data = a->sig_int.data = a->sig_hup.data = a;
	uv_signal_start(&a->sig_term, signal_cb, SIGTERM);
	uv_signal_start(&a->sig_int, signal_cb, SIGINT);
	uv_signal_start(&a->sig_hup, signal_cb, SIGHUP);
	uv_timer_init(&a->loop, &a->watchdog);
	uv_timer_init(&a->loop, &a->grace);
	a->grace.data = a;
	follow_init(a);
	r = ensure_dir(cfg->runtime_dir);
	if (r < 0)
		log_warn_r(r, "cannot create runtime_dir %s", cfg->runtime_dir);
	agent_probe_sandbox(a, sandbox_probed); /* while Vault logs in */
	r = open_queue(a);
	if (r < 0) {
		a->exit_code = 78;
		agent_stop(a, "start-up failure");
		goto run;
	}
	r = control_open(&a->loop, cfg->control_socket,
			 &(struct control_hooks){
			     .admit = agent_admit, .request = agent_command, .data = a},
			 (size_t)cfg->control.max_connections, &a->ctl);
	if (r < 0) {
		log_err("cannot listen on control socket %s: %s (check runtime_dir and "
			"its permissions)",
			cfg->control_socket, uv_strerror(r));
		a->ctl = NULL;
		a->exit_code = 1;
		agent_stop(a, "start-up failure");
		goto run;
	}
	r = ingest_open(a, &a->ingest);
	if (r == 0)
		r = metrics_listen(a);
	if (r < 0) {
		a->exit_code = r == -EINVAL ? 78 : 1; /* listen.tls's files: EX_CONFIG */
		agent_stop(a, "start-up failure");
		goto run;
	}
	if (sd_watchdog_enabled(0, &a->watchdog_usec) > 0 && a->watchdog_usec > 0) {
		uint64_t every = a->watchdog_usec / 2000;

		log_info("systemd watchdog every %llu ms",
			 (unsigned long long)(every ? every : 1));
		uv_timer_start(&a->watchdog, watchdog_cb, 0, every ? every : 1);
	}
	log_notice("aos-publishd %s starting: Vault %s, secret %s/%s, control %s",
		   AOS_VERSION, cfg->vault.address, cfg->vault.kv_mount,
		   cfg->vault.kv_path, cfg->control_socket);
	update_status(a);
	session_start(a->session);
run:
	uv_run(&a->loop, UV_RUN_DEFAULT);
	/* Every write and read posted has completed (one out keeps the loop
	 * alive): the write and read queues close their connections on their
	 * threads, before the loop's, whose close marks the clean stop. */
	daemon_queue_stop(a);
	uv_walk(&a->loop, close_walk, a);
	uv_run(&a->loop, UV_RUN_DEFAULT);
	r = uv_loop_close(&a->loop);
	if (r < 0)
		log_warn("loop closed with handles open: %s", uv_strerror(r));
	if (a->queue != NULL)
		a->queue->ops->close(a->queue);
	daemon_pg_free(a); /* the queue_async threads are joined */
	if (a->lock_fd > 0)
		close(a->lock_fd);
	r = a->exit_code;
	config_free(a->cfg);
	metrics_free(a->metrics);
	free(a);
	log_info("stopped");
	return r;
}
