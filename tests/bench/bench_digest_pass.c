/* bench_digest_pass: the spool's one pass in process, without the daemon
 * (docs/benchmarks.md, issue 14, "Digests on two threads").
 *
 *     bench_digest_pass REPS COPY FILE...
 *
 * For each FILE, REPS times: reads it in 256 KiB blocks as spool_take_fd()
 * does, writes each block to COPY (created anew, removed after; no fsync,
 * whose time is the disk's) and feeds artifact_inspect_source() (every
 * digest of the kind, CRC-32C, libarchive).  Prints one line per FILE: the
 * median and minimum wall time of the pass, the median CPU time of the
 * process (all threads) and of the calling thread alone per pass.  On a
 * loaded machine the wall time is mostly waiting for a CPU; the calling
 * thread's CPU time is then the steadier figure: with an idle second CPU
 * a split pass takes about max(caller, process - caller).  Only the public
 * API: the same source builds against an older libaos_publishers for a
 * side-by-side run.  (RUSAGE_THREAD: the build defines _GNU_SOURCE.) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "publishers/artifact.h"

#define REPS_MAX 1000

struct copy_src {
	int in, out;
	off_t off;
};

static ssize_t copy_read(void *data, void *buf, size_t n)
{
	struct copy_src *s = data;
	ssize_t k = pread(s->in, buf, n, s->off), w;
	size_t done;

	if (k < 0)
		return -errno;
	for (done = 0; done < (size_t)k; done += (size_t)w) {
		w = write(s->out, (char *)buf + done, (size_t)k - done);
		if (w < 0)
			return -errno;
	}
	s->off += k;
	return k;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* CPU seconds of the process (RUSAGE_SELF) or this thread (RUSAGE_THREAD). */
static double cpu(int who)
{
	struct rusage u;

	getrusage(who, &u);
	return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
	       (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* One pass of file through copy; returns 0 or the inspection's error. */
static int pass(const char *file, const char *copy, double ret[3])
{
	struct copy_src s = {.in = open(file, O_RDONLY | O_CLOEXEC)};
	struct artifact_source src = {.read = copy_read, .data = &s};
	struct artifact *a = NULL;
	char msg[512];
	double t0, c0, m0;
	int r;

	s.out = open(copy, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (s.in < 0 || s.out < 0) {
		fprintf(stderr, "%s or %s: %s\n", file, copy, strerror(errno));
		return -errno;
	}
	t0 = now();
	c0 = cpu(RUSAGE_SELF);
	m0 = cpu(RUSAGE_THREAD);
	r = artifact_inspect_source(file, &src, NULL, &a, msg, sizeof(msg));
	ret[0] = now() - t0;
	ret[1] = cpu(RUSAGE_SELF) - c0;
	ret[2] = cpu(RUSAGE_THREAD) - m0;
	if (r < 0)
		fprintf(stderr, "%s\n", msg);
	artifact_free(a);
	close(s.in);
	close(s.out);
	unlink(copy);
	return r;
}

int main(int argc, char **argv)
{
	static double t[3][REPS_MAX]; /* wall, process CPU, caller CPU */
	double one[3];
	int reps = argc > 3 ? atoi(argv[1]) : 0, i, f, k;

	if (reps < 1 || reps > REPS_MAX) {
		fprintf(stderr, "usage: %s REPS(1-%d) COPY FILE...\n", argv[0], REPS_MAX);
		return 2;
	}
	for (f = 3; f < argc; f++) {
		for (i = 0; i < reps; i++) {
			if (pass(argv[f], argv[2], one) < 0)
				return 1;
			for (k = 0; k < 3; k++)
				t[k][i] = one[k];
		}
		for (k = 0; k < 3; k++)
			qsort(t[k], (size_t)reps, sizeof(double), cmp);
		printf("%s: pass median %.1f ms, min %.1f ms; cpu median %.1f ms, "
		       "caller's %.1f ms (%d reps)\n",
		       argv[f], t[0][reps / 2] * 1e3, t[0][0] * 1e3, t[1][reps / 2] * 1e3,
		       t[2][reps / 2] * 1e3, reps);
	}
	return 0;
}
