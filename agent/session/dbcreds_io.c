/* dbcreds_io.c - the database credentials' clock, timers and Vault
 * requests on the loop and the transport (dbcreds_uv_io; the unit tests
 * bring their own). */
#include "session/dbcreds.h"
#include "dbcreds_internal.h"
#include "session_internal.h"

static uint64_t uv_io_now(const struct dbcreds *d)
{
	return uv_now(d->loop);
}

static void timer_cb(uv_timer_t *t)
{
	struct dbcreds *d = t->data;

	d->fire(d, (enum dbc_timer)(t - d->timers));
}

static void uv_io_arm(struct dbcreds *d, enum dbc_timer t, uint64_t ms)
{
	uv_timer_start(&d->timers[t], timer_cb, ms, 0);
}

static void uv_io_stop(struct dbcreds *d, enum dbc_timer t)
{
	uv_timer_stop(&d->timers[t]);
}

static int uv_io_request(struct dbcreds *d, const char *method, const char *path,
			 const char *body, const struct secret *tok,
			 struct transport_req **ret)
{
	return session__vault_request(d->tp, d->cfg, &d->conn, method, path, body, tok,
				      &d->hdrs, d->done, d, ret);
}

static void uv_io_cancel(struct dbcreds *d)
{
	transport_cancel(d->req);
}

const struct dbcreds_io dbcreds_uv_io = {
    .now = uv_io_now,
    .arm = uv_io_arm,
    .stop = uv_io_stop,
    .request = uv_io_request,
    .cancel = uv_io_cancel,
};
