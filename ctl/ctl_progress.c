/* ctl_progress.c - upload progress on the operator's terminal
 * (ctl_progress.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"
#include "ctl/ctl_progress.h"

#define BAR_WIDTH 24

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

/* n bytes as "512 B", "12.3 kB", "4.5 MB", "1.2 GB". */
static const char *human(double n, char *buf, size_t len)
{
	static const char *const unit[] = {"B", "kB", "MB", "GB", "TB"};
	size_t u = 0;

	while (n >= 1000 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		n /= 1000;
		u++;
	}
	snprintf(buf, len, u == 0 ? "%.0f %s" : "%.1f %s", n, unit[u]);
	return buf;
}

void ctl_progress_init(struct ctl_progress *p, bool tty)
{
	memset(p, 0, sizeof(*p));
	p->tty = tty;
}

void ctl_progress_end(struct ctl_progress *p)
{
	if (p->bar_open) {
		fputc('\n', stdout);
		p->bar_open = false;
	}
}

bool ctl_progress_sent_any(const struct ctl_progress *p)
{
	return p->sent_total > 0;
}

/* A new file: close the previous bar, start its clock. */
static void next_file(struct ctl_progress *p, const char *file, double sent)
{
	ctl_progress_end(p);
	snprintf(p->file, sizeof(p->file), "%s", file);
	p->last_quarter = 0;
	p->start_ms = now_ms();
	p->start_bytes = sent;
	p->sent_file = 0;
}

static void draw_bar(struct ctl_progress *p, double sent, double total, int pct)
{
	char bar[BAR_WIDTH + 1], s[16], t[16], r[16], eta[24] = "ETA --:--";
	double secs = (double)(now_ms() - p->start_ms) / 1000;
	double rate = secs > 0 ? (sent - p->start_bytes) / secs : 0;
	int i, fill = pct * BAR_WIDTH / 100;

	for (i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '-';
	bar[BAR_WIDTH] = '\0';
	if (sent >= total)
		snprintf(eta, sizeof(eta), "done");
	else if (rate > 0) {
		long left = (long)((total - sent) / rate + 0.5);

		snprintf(eta, sizeof(eta), "ETA %ld:%02ld", left / 60, left % 60);
	}
	printf("\r%s [%s] %3d%% %s of %s, %s/s, %s\033[K", base(p->file), bar, pct,
	       human(sent, s, sizeof(s)), human(total, t, sizeof(t)),
	       rate > 0 ? human(rate, r, sizeof(r)) : "-- B", eta);
	fflush(stdout);
	p->bar_open = true;
}

void ctl_progress_show(struct ctl_progress *p, const cJSON *ev)
{
	const char *file = ctl_str(ev, "file", "?");
	double sent = ctl_num(ev, "sent"), total = ctl_num(ev, "total");
	int pct = total > 0 ? (int)(sent * 100 / total) : 0;

	if (strncmp(p->file, file, sizeof(p->file) - 1) != 0 || p->start_ms == 0)
		next_file(p, file, sent);
	if (sent > p->sent_file) {
		p->sent_total += sent - p->sent_file;
		p->sent_file = sent;
	}
	if (p->tty) {
		draw_bar(p, sent, total, pct);
		return;
	}
	if (pct / 25 > p->last_quarter) {
		p->last_quarter = pct / 25;
		printf("%s: sent %.0f of %.0f bytes (%d%%)\n", base(file), sent, total,
		       pct);
		fflush(stdout);
	}
}

void ctl_progress_exists_line(const struct ctl_progress *p, const char *registry)
{
	if (ctl_progress_sent_any(p))
		printf("%s: already published (identical): the registry answered that it "
		       "already had each file sent, so nothing changed there\n",
		       registry);
	else
		printf("%s: already published (identical), nothing sent\n", registry);
}
