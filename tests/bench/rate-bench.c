/*
 * rate-bench.c -- how exactly semd keeps a rate: part of `make bench`,
 * never of `make check` (it takes about a minute and measures time).
 *
 *	rate-bench [-q] [-b semd] [-s sections]
 *
 * Sections (-s, comma-separated; default all):
 *   hammer   10 processes hammer a semaphore of rate 50/s, burst 5, for
 *            10 s: how many grants (50 x 10 + 5 = 505 expected, +-1 %),
 *            and an independent check of every window of the grant times
 *            the clients saw: at most burst + rate x W grants in any
 *            window of W seconds
 *   slow     2 processes on 0.5/s for 20 s: 11 grants, 2 s apart
 *   engine   the engine alone (virtual clock): the cost of one grant by
 *            the rate with 10 to 10,000 waiters behind the head
 *   daemon   semd: a rate-limited head (1000/s) with 10 to 10,000
 *            waiters behind it: daemon CPU per grant, and the rate the
 *            client sees
 *
 * The clients are libsemd processes; each takes its timestamp
 * (CLOCK_MONOTONIC) when the ACQUIRED reaches it, so the window check
 * sees what a user of the grants sees, delivery delays included.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sem.h"
#include "semd.h"
#include "tl.h"

#define MAX_STAMPS	100000

static const char	*semd_bin;
static char		 dir[96];
static struct tl_daemon	 semd = { .pid = -1 };
#define sock		 semd.path
static int		 quiet;

/* Nanoseconds on the monotonic clock. */
static uint64_t
now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

static void
say(const char *fmt, ...)
{
	va_list	 ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* Start a private semd without limits on a fresh socket. */
static void
start_semd(void)
{
	static const char *const args[] = { "-q", "--max-connections", "0",
	    "--max-pending", "0", "--max-holds", "0", "--max-sems", "0", NULL };

	if (tl_tmpdir(dir, sizeof dir, "semd-rate") == -1) {
		perror("rate-bench: mkdtemp");
		exit(1);
	}
	snprintf(semd.path, sizeof semd.path, "%s/sock", dir);
	semd.bin = semd_bin;
	if (tl_daemon_start(&semd, args) == -1) {
		fprintf(stderr, "rate-bench: %s\n", semd.error);
		exit(1);
	}
}

static void
stop_semd(void)
{
	tl_daemon_stop(&semd, 0);
	tl_rmtree(dir);
}

static struct semd *
open_semd(void)
{
	struct semd_error	 err;
	struct semd		*sd;

	if ((sd = semd_open(sock, "rate-bench", SEMD_OPEN_NO_AUTOSTART,
	    &err)) == NULL) {
		fprintf(stderr, "rate-bench: %s\n", err.message);
		exit(1);
	}
	return (sd);
}

/* Grant times seen by the clients, shared by the hammering processes. */
struct stamps {
	volatile uint64_t	 n;
	uint64_t		 t[MAX_STAMPS];
};

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	 x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

/*
 * One hammering process: until end (ns), acquire name (rate, burst,
 * declared alike by all), stamp the grant, release it at once.
 */
static void
hammer_child(struct stamps *st, const char *name, double rate,
    uint32_t burst, uint64_t end)
{
	struct semd_want	 w;
	struct semd_error	 err;
	struct semd		*sd = open_semd();
	uint64_t		 token, t, i;
	int64_t			 left;
	int			 r;

	memset(&w, 0, sizeof w);
	w.name = name;
	w.rate = rate;
	w.burst = burst;
	for (;;) {
		t = now_ns();
		if (t >= end)
			break;
		left = (int64_t)((end - t) / 1000000) + 1;
		r = semd_acquire_many(sd, &w, 1, left, NULL, NULL, &token,
		    &err);
		t = now_ns();
		if (r == SEMD_TIMEDOUT)
			break;
		if (r != SEMD_OK) {
			fprintf(stderr, "rate-bench: %s\n", err.message);
			_exit(1);
		}
		i = __sync_fetch_and_add(&st->n, 1);
		if (i < MAX_STAMPS)
			st->t[i] = t;
		(void)semd_release_token(sd, token, &err);
	}
	semd_close(sd);
	_exit(0);
}

/*
 * The independent check: over every window [t_i, t_j] of the sorted
 * grant times, count j - i + 1 against burst + rate x (t_j - t_i).
 * *excess: the largest count over the bound (<= 0: never exceeded);
 * *slack_ms: the least J such that no window holds more than burst +
 * rate x (W + J) grants: how much the delivery to the clients compressed
 * the worst window.  O(n^2).
 */
static void
window_check(const uint64_t *t, size_t n, double rate, uint32_t burst,
    double *excess, double *slack_ms)
{
	size_t	 i, j;
	double	 w, over, need;

	*excess = -1e9;
	*slack_ms = 0;
	for (i = 0; i < n; i++) {
		for (j = i; j < n; j++) {
			w = (double)(t[j] - t[i]) / 1e9;
			over = (double)(j - i + 1) - (burst + rate * w);
			if (over > *excess)
				*excess = over;
			need = ((double)(j - i + 1) - burst) / rate - w;
			if (need * 1000 > *slack_ms)
				*slack_ms = need * 1000;
		}
	}
}

/*
 * nproc processes hammer name (rate, burst) for secs seconds; count the
 * grants the clients saw in the first secs seconds from the first grant,
 * and check every window.
 */
static void
hammer(const char *name, int nproc, double rate, uint32_t burst,
    double secs, const char *label)
{
	struct stamps	*st;
	uint64_t	 end, t0, *t;
	size_t		 n, k, in;
	double		 excess, slack, expect, gap, maxgap = 0, mingap = 1e18;
	int		 i;

	st = mmap(NULL, sizeof *st, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (st == MAP_FAILED) {
		perror("rate-bench: mmap");
		exit(1);
	}
	st->n = 0;
	end = now_ns() + (uint64_t)((secs + 0.5) * 1e9);
	say("rate-bench: %s: %d processes, %g s...\n", label, nproc,
	    secs + 0.5);
	for (i = 0; i < nproc; i++) {
		if (fork() == 0)
			hammer_child(st, name, rate, burst, end);
	}
	for (i = 0; i < nproc; i++)
		wait(NULL);
	n = st->n < MAX_STAMPS ? st->n : MAX_STAMPS;
	t = st->t;
	qsort(t, n, sizeof *t, cmp_u64);
	t0 = n > 0 ? t[0] : 0;
	for (k = 0, in = 0; k < n; k++) {
		if (t[k] - t0 <= (uint64_t)(secs * 1e9))
			in++;
	}
	for (k = burst; k + 1 < n && k + 1 < in; k++) {
		gap = (double)(t[k + 1] - t[k]) / 1e6;
		if (gap > maxgap)
			maxgap = gap;
		if (gap < mingap)
			mingap = gap;
	}
	window_check(t, in, rate, burst, &excess, &slack);
	expect = rate * secs + burst;
	printf("%-34s %6zu grants in %g s (expected %g: %+.2f %%)\n", label,
	    in, secs, expect, (in - expect) * 100 / expect);
	/* The last grant due within secs is due at exactly secs. */
	k = (size_t)expect - 1;
	if (k < n)
		printf("%-34s grant %zu (due at %g s) seen at %+.3f ms from "
		    "due\n", "", k + 1, secs,
		    ((double)(t[k] - t0) - secs * 1e9) / 1e6);
	printf("%-34s gaps after the burst %.2f .. %.2f ms (1/rate %.2f "
	    "ms)\n", "", mingap, maxgap, 1000 / rate);
	printf("%-34s worst window: %+.2f grants over burst + rate x W; "
	    "within it with W + %.3f ms\n", "", excess, slack);
	munmap(st, sizeof *st);
}

/* ---- the engine alone ---- */

static void	 nop_cb(struct sem_waiter *w, void *a) { (void)w; (void)a; }

/*
 * With nwait waiters queued behind a head held back by the rate (1000/s
 * on a virtual clock), time `grants` grants, one per ms: ns per grant,
 * sem_expire + sem_flush included.
 */
static double
engine_cost(size_t nwait, size_t grants)
{
	static const struct sem_callbacks cb = { .granted = nop_cb,
	    .expired = nop_cb };
	struct sem_table	*t = sem_table_new(&cb, NULL, NULL);
	struct sem_owner	*o = sem_owner_new(t, NULL, 1, 0);
	struct sem_want		 w;
	struct sem_acq_result	 r;
	uint64_t		 t0, t1, ms;
	size_t			 i;

	memset(&w, 0, sizeof w);
	w.name = "r";
	w.name_len = 1;
	w.weight = 1;
	w.has_rate = 1;
	w.rate = 1000;
	for (i = 0; i < nwait + grants + 1; i++)
		(void)sem_acquire_many(o, i, &w, 1, -1, 0, &r);
	t0 = now_ns();
	for (ms = 1; ms <= grants; ms++) {
		sem_expire(t, ms);
		(void)sem_flush(t);
	}
	t1 = now_ns();
	sem_table_free(t);
	return ((double)(t1 - t0) / (double)grants);
}

static void
engine_section(void)
{
	static const size_t	 ns[] = { 10, 100, 1000, 10000 };
	double			 c, best;
	size_t			 i, k;

	say("rate-bench: engine...\n");
	for (i = 0; i < sizeof ns / sizeof ns[0]; i++) {
		best = 1e18;
		for (k = 0; k < 5; k++) {
			c = engine_cost(ns[i], 10000);
			if (c < best)
				best = c;
		}
		printf("engine: rate-limited head, %5zu waiters behind: %7.0f "
		    "ns per grant (best of 5, 10,000 grants)\n", ns[i], best);
	}
}

/* ---- the daemon ---- */

/* CPU time (user + system, ns) of process pid so far, from /proc. */
static uint64_t
cpu_ns(pid_t pid)
{
	char		 path[64], buf[1024], *p;
	unsigned long	 ut, st;
	FILE		*f;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (0);
	if (fgets(buf, sizeof buf, f) == NULL) {
		fclose(f);
		return (0);
	}
	fclose(f);
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu "
	    "%lu", &ut, &st) != 2)
		return (0);
	return ((uint64_t)(ut + st) * (1000000000ULL /
	    (uint64_t)sysconf(_SC_CLK_TCK)));
}

/*
 * One connection queues nwait + grants requests on a rate-only
 * semaphore of 1000/s (burst 1); receive `grants` ACQUIREDs: the daemon's
 * CPU per grant, and the rate they came at.
 */
static void
daemon_one(size_t nwait, size_t grants, const char *name)
{
	struct semd_want	 w;
	struct semd_error	 err;
	struct semd_event	 ev;
	struct semd		*sd = open_semd();
	struct pollfd		 pfd;
	uint64_t		 id, c0, c1, first = 0, t, *seen;
	size_t			 got = 0, i;
	int			 r;

	memset(&w, 0, sizeof w);
	w.name = name;
	w.rate = 1000;
	seen = calloc(grants, sizeof *seen);
	for (i = 0; i < nwait + grants; i++) {
		if (semd_submit_acquire_many(sd, &id, &w, 1, SEMD_FOREVER,
		    &err) == -1) {
			fprintf(stderr, "rate-bench: %s\n", err.message);
			exit(1);
		}
		while (semd_want_write(sd)) {
			pfd.fd = semd_fd(sd);
			pfd.events = POLLOUT | POLLIN;
			(void)poll(&pfd, 1, 100);
			(void)semd_flush(sd, &err);
			/* Drain replies so the daemon never blocks on us. */
			while ((r = semd_process(sd, &ev, &err)) == 1) {
				if (ev.type == SEMD_EV_ACQUIRED && got <
				    grants) {
					t = now_ns();
					if (got == 0)
						first = t;
					seen[got++] = t;
				}
			}
		}
	}
	/* Measure from here: everybody is queued. */
	c0 = cpu_ns(semd.pid);
	got = 0;
	while (got < grants) {
		pfd.fd = semd_fd(sd);
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 5000) != 1)
			break;
		while (got < grants && (r = semd_process(sd, &ev, &err)) == 1) {
			if (ev.type != SEMD_EV_ACQUIRED)
				continue;
			t = now_ns();
			if (got == 0)
				first = t;
			seen[got] = t;
			got++;
		}
	}
	c1 = cpu_ns(semd.pid);
	t = got > 0 ? seen[got - 1] : now_ns();
	printf("daemon: rate-limited head, %5zu waiters behind: %6.1f us "
	    "CPU per grant; %6.1f grants/s of 1000 (%zu grants)\n", nwait,
	    got > 0 ? (double)(c1 - c0) / got / 1000 : 0,
	    got > 1 ? (got - 1) * 1e9 / (double)(t - first) : 0, got);
	free(seen);
	semd_close(sd);
}

static void
daemon_section(void)
{
	static const size_t	 ns[] = { 10, 100, 1000, 10000 };
	char			 name[32];
	size_t			 i;

	say("rate-bench: daemon...\n");
	for (i = 0; i < sizeof ns / sizeof ns[0]; i++) {
		snprintf(name, sizeof name, "head%zu", i);
		daemon_one(ns[i], 3000, name);
	}
}

static int
want(const char *sections, const char *s)
{
	const char	*p;
	size_t		 n = strlen(s);

	if (sections == NULL)
		return (1);
	for (p = sections; (p = strstr(p, s)) != NULL; p += n) {
		if ((p == sections || p[-1] == ',') &&
		    (p[n] == '\0' || p[n] == ','))
			return (1);
	}
	return (0);
}

int
main(int argc, char **argv)
{
	const char	*sections = NULL;
	struct rlimit	 rl;
	int		 ch;

	semd_bin = getenv("SEMD_BIN");
	while ((ch = getopt(argc, argv, "b:qs:h")) != -1) {
		switch (ch) {
		case 'b':
			semd_bin = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case 's':
			sections = optarg;
			break;
		default:
			fprintf(stderr, "usage: rate-bench [-q] [-b semd] "
			    "[-s hammer,slow,engine,daemon]\n");
			return (ch == 'h' ? 0 : 64);
		}
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (want(sections, "engine"))
		engine_section();
	if (want(sections, "hammer") || want(sections, "slow") ||
	    want(sections, "daemon")) {
		if (semd_bin == NULL) {
			fprintf(stderr, "rate-bench: give -b semd or set "
			    "SEMD_BIN\n");
			return (64);
		}
		start_semd();
		if (want(sections, "hammer"))
			hammer("hammer", 10, 50, 5, 10, "hammer: 10 x 50/s burst 5");
		if (want(sections, "slow"))
			hammer("slow", 2, 0.5, 1, 20, "slow: 2 x 0.5/s burst 1");
		if (want(sections, "daemon"))
			daemon_section();
		stop_semd();
	}
	return (0);
}
