/* artifact_digest_par.c - the helper thread of a split pass: it hashes each
 * block the caller posts with the digests of d->split while the caller runs
 * the others (artifact_digest.c), the copy's write and libarchive.
 *
 * One block at a time, in order: the caller posts a block only once the
 * helper is done with the one before (helper_wait), and reuses a block only
 * once it is done with it, so no block is skipped, doubled or reordered.
 * The handoff is a mutex and two conditions; the helper never blocks on
 * anything else.  After a failed digest it hashes nothing more but goes on
 * acknowledging blocks, so the caller's wait never hangs; the error shows
 * at the caller's next wait.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>

#include "artifact_internal.h"

struct artifact__helper {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t posted_cv;	  /* a block or the stop: helper wakes */
	pthread_cond_t done_cv;		  /* the block is done: caller wakes */
	const struct artifact_digests *d; /* its contexts of d->split */
	const void *p;			  /* the block, while posted */
	size_t n;
	bool posted, stop;
	int err; /* -EIO once a digest failed */
};

/* Feeds one block to the helper's digests.  Returns 0 or -EIO. */
static int hash_block(const struct artifact__helper *h, const void *p, size_t n)
{
	const struct artifact_digests *d = h->d;
	int i;

	for (i = 0; i < DG_COUNT; i++) {
		if ((d->split & (1u << i)) != 0 && d->md_update(d->ctx[i], p, n) != 1)
			return -EIO;
	}
	return 0;
}

static void *helper_main(void *arg)
{
	struct artifact__helper *h = arg;
	const void *p;
	size_t n;
	int err;

	pthread_mutex_lock(&h->mu);
	for (;;) {
		while (!h->posted && !h->stop)
			pthread_cond_wait(&h->posted_cv, &h->mu);
		if (!h->posted)
			break; /* stopped, nothing left */
		p = h->p;
		n = h->n;
		err = h->err;
		pthread_mutex_unlock(&h->mu);
		if (err == 0)
			err = hash_block(h, p, n);
		pthread_mutex_lock(&h->mu);
		h->err = err;
		h->posted = false;
		h->p = NULL;
		pthread_cond_signal(&h->done_cv);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

int artifact__helper_start(struct artifact_digests *d, struct artifact__helper **ret)
{
	struct artifact__helper *h = calloc(1, sizeof(*h));
	sigset_t all, old;
	int r;

	if (h == NULL)
		return -ENOMEM;
	h->d = d;
	r = pthread_mutex_init(&h->mu, NULL);
	if (r != 0)
		goto fail_mu;
	r = pthread_cond_init(&h->posted_cv, NULL);
	if (r != 0)
		goto fail_posted;
	r = pthread_cond_init(&h->done_cv, NULL);
	if (r != 0)
		goto fail_done;
	/* Signals stay with the threads that handle them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&h->thread, NULL, helper_main, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		goto fail_thread;
	*ret = h;
	return 0;
fail_thread:
	pthread_cond_destroy(&h->done_cv);
fail_done:
	pthread_cond_destroy(&h->posted_cv);
fail_posted:
	pthread_mutex_destroy(&h->mu);
fail_mu:
	free(h);
	return -r;
}

void artifact__helper_post(struct artifact__helper *h, const void *p, size_t n)
{
	pthread_mutex_lock(&h->mu);
	h->p = p;
	h->n = n;
	h->posted = true;
	pthread_cond_signal(&h->posted_cv);
	pthread_mutex_unlock(&h->mu);
}

int artifact__helper_wait(struct artifact__helper *h)
{
	int err;

	pthread_mutex_lock(&h->mu);
	while (h->posted)
		pthread_cond_wait(&h->done_cv, &h->mu);
	err = h->err;
	pthread_mutex_unlock(&h->mu);
	return err;
}

void artifact__helper_stop(struct artifact__helper *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	h->stop = true; /* a block still posted is finished first */
	pthread_cond_signal(&h->posted_cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->thread, NULL);
	pthread_cond_destroy(&h->done_cv);
	pthread_cond_destroy(&h->posted_cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
}
