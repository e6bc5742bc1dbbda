/*
 * soak.c -- a long randomized run of a real semd with many clients, and
 * the checks that it kept its promises (make soak; see soak.h).
 *
 *	soak [--seconds N] [--workers N] [--conns N] [--lanes N]
 *	     [--seed N] [--semd PATH] [--semrun PATH] [--keep] [-v]
 *	soak --sweep EVENTS
 *
 * It starts semd on a socket in a fresh temporary directory, forks the
 * clients (clients.c) and, while they run, asks the daemon for STATUS
 * every few milliseconds and checks each report: nothing held beyond
 * capacity, holders' weights adding up to what is held, the waiter count
 * equal to the waiters listed, waiters listed oldest first.  After the
 * clients have ended it checks that every slot came back (STATUS lists
 * no semaphore), that the daemon still runs, that its resident memory at
 * the end is not more than twice (plus a little) what it was after the
 * warm-up, and that it exits cleanly; then sweep.c checks the bound from
 * the clients' own event log.  Any violation makes it exit 1 with a
 * message saying what was seen.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "semd.h"
#include "soak.h"

#define SOAK_STATUS_MS		20	/* between STATUS checks */
#define SOAK_WARMUP_S		5	/* RSS reference after this (or 1/4) */
#define SOAK_RSS_SLACK_KB	(4 * 1024)	/* end <= 2 x warm + this */
#define SOAK_MAX_CHILDREN	64

const struct soak_sem soak_sems[] = {
	{ "soak.one",	1, 1 },
	{ "soak.two",	2, 2 },
	{ "soak.three",	3, 2 },
	{ "soak.five",	5, 3 },
};
const int soak_nsems = sizeof soak_sems / sizeof soak_sems[0];
const struct soak_sem soak_fifo_sem = { "soak.fifo", 3, 2 };

struct soak_config	 soak_conf;
const char		*soak_role = "main";

/* Seed a PRNG; any seed works (0 is mapped to another). */
void
soak_rng_init(struct soak_rng *r, uint64_t seed)
{
	r->s = seed * 0x9e3779b97f4a7c15ULL + 0x2545f4914f6cdd1dULL;
	if (r->s == 0)
		r->s = 1;
}

/* The next 64 random bits (xorshift64*). */
uint64_t
soak_rand(struct soak_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return (r->s * 0x2545f4914f6cdd1dULL);
}

/* A random number below n (n > 0). */
uint32_t
soak_below(struct soak_rng *r, uint32_t n)
{
	return ((uint32_t)((soak_rand(r) >> 11) % n));
}

/* Report a violation seen by this process and count it. */
void
soak_violation(struct soak_stats *st, const char *fmt, ...)
{
	va_list	ap;

	st->violations++;
	va_start(ap, fmt);
	fprintf(stderr, "soak[%s %ld]: VIOLATION: ", soak_role,
	    (long)getpid());
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/*
 * Append one event to the log with one write(2) (O_APPEND keeps lines
 * whole).  A log that cannot be written makes the run worthless: exit 3.
 */
void
soak_log(char type, const char *sem, uint32_t weight, const char *tag)
{
	char	line[256];
	int	len;

	len = snprintf(line, sizeof line, "%c %lld %s %u %s\n", type,
	    (long long)tl_now_ns(), sem, weight, tag);
	if (len <= 0 || (size_t)len >= sizeof line ||
	    write(soak_conf.events_fd, line, (size_t)len) != len) {
		fprintf(stderr, "soak[%s]: cannot write the event log %s: %s\n",
		    soak_role, soak_conf.events, strerror(errno));
		_exit(3);
	}
}

static void
soak_usage(FILE *f)
{
	fputs(
"usage: soak [--seconds N] [--workers N] [--conns N] [--lanes N] [--seed N]\n"
"            [--semd PATH] [--semrun PATH] [--keep] [-v]\n"
"       soak --sweep EVENTS   (check a kept event log alone)\n"
"Run semd under random load for N seconds (default $SOAK_SECONDS, else 60)\n"
"and check the bound, FIFO order, STATUS, that every slot comes back and\n"
"that the daemon's memory stays flat.  Exits 0 when nothing was violated.\n"
"  --workers N   event-loop client processes (default 4)\n"
"  --conns N     connections per worker (default 10)\n"
"  --lanes N     processes running semrun one after another (default 3)\n"
"  --seed N      seed of the random choices (default: from the clock)\n"
"  --semd PATH   the daemon (default $SEMD_BIN)\n"
"  --semrun PATH semrun (default $SEMD_BUILDDIR/client/semrun)\n"
"  --keep        keep the temporary directory (logs, event log)\n", f);
}

/* Parse a non-negative number of option opt or exit 64. */
static long
soak_number(const char *opt, const char *arg, long min, long max)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || errno != 0 || v < min ||
	    v > max) {
		fprintf(stderr, "soak: %s must be %ld to %ld: '%s'\n", opt, min,
		    max, arg);
		exit(64);
	}
	return (v);
}

/* The resident set of pid in KiB, or -1. */
static long
soak_rss_kb(pid_t pid)
{
	FILE	*f;
	char	 path[64], line[256];
	long	 kb = -1;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return (kb);
}

/* Start semd -f on soak_conf.sock, logging to dir/semd.log. */
static int
soak_start_daemon(struct tl_daemon *d, const char *bin, struct soak_stats *st)
{
	static char	 asan_env[4200];
	const char	*asan = getenv("ASAN_OPTIONS");

	d->bin = bin;
	if ((size_t)snprintf(d->path, sizeof d->path, "%s",
	    soak_conf.sock) >= sizeof d->path ||
	    (size_t)snprintf(d->log, sizeof d->log, "%s/semd.log",
	    soak_conf.dir) >= sizeof d->log) {
		soak_violation(st, "%s: path too long", soak_conf.dir);
		return (-1);
	}
	/*
	 * Under AddressSanitizer, freed memory waits in a quarantine of up
	 * to 256 MiB, which would look like growth; keep it small so that
	 * the RSS check sees the daemon's own memory (leaks are
	 * LeakSanitizer's, at exit).  Other builds ignore the variable.
	 */
	snprintf(asan_env, sizeof asan_env, "ASAN_OPTIONS=%s%squarantine_"
	    "size_mb=4", asan != NULL ? asan : "", asan != NULL &&
	    *asan != '\0' ? ":" : "");
	d->env[0] = asan_env;
	if (tl_daemon_start(d, NULL) == -1) {
		soak_violation(st, "semd (%s) does not start: %s", bin,
		    d->error);
		return (-1);
	}
	return (0);
}

/* Index of a semaphore name among ours (soak_nsems: FIFO), or -1. */
static int
soak_sem_index(const char *name)
{
	int	i;

	for (i = 0; i < soak_nsems; i++) {
		if (strcmp(soak_sems[i].name, name) == 0)
			return (i);
	}
	return (strcmp(name, soak_fifo_sem.name) == 0 ? soak_nsems : -1);
}

/*
 * Check one STATUS report: only our semaphores, each with its declared
 * capacity, held <= capacity, holders' weights adding up to held, as
 * many waiters listed as counted (unless truncated), every weight
 * between 1 and the capacity, and waiters oldest first (FIFO).
 */
static void
soak_check_status(const struct semd_status *st, struct soak_stats *stats)
{
	const struct semd_sem_status	*s;
	uint64_t			 sum;
	uint32_t			 cap;
	size_t				 i, j;
	int				 k;

	for (i = 0; i < st->nsems; i++) {
		s = &st->sems[i];
		if ((k = soak_sem_index(s->name)) == -1) {
			soak_violation(stats, "STATUS lists an unknown "
			    "semaphore '%s'", s->name);
			continue;
		}
		cap = k == soak_nsems ? soak_fifo_sem.capacity :
		    soak_sems[k].capacity;
		if (s->capacity != cap)
			soak_violation(stats, "%s: capacity %u, declared %u",
			    s->name, s->capacity, cap);
		if (s->held > s->capacity)
			soak_violation(stats, "%s: STATUS says %u held, "
			    "capacity %u", s->name, s->held, s->capacity);
		sum = 0;
		for (j = 0; j < s->nholders; j++) {
			sum += s->holders[j].weight;
			if (s->holders[j].weight == 0 ||
			    s->holders[j].weight > cap)
				soak_violation(stats, "%s: a holder of weight "
				    "%u", s->name, s->holders[j].weight);
		}
		for (j = 0; j < s->nwaiters; j++) {
			if (s->waiters[j].weight == 0 ||
			    s->waiters[j].weight > cap)
				soak_violation(stats, "%s: a waiter of weight "
				    "%u", s->name, s->waiters[j].weight);
			if (j > 0 && s->waiters[j].ms > s->waiters[j - 1].ms)
				soak_violation(stats, "%s: waiter %zu has "
				    "waited %" PRIu64 " ms, longer than the "
				    "one before it (%" PRIu64 " ms): not FIFO",
				    s->name, j + 1, s->waiters[j].ms,
				    s->waiters[j - 1].ms);
		}
		if (st->truncated)
			continue;
		if (sum != s->held)
			soak_violation(stats, "%s: held %u, but the holders' "
			    "weights add up to %" PRIu64, s->name, s->held,
			    sum);
		if (s->nwaiters != s->waiting)
			soak_violation(stats, "%s: waiting %u, but %zu waiters "
			    "listed", s->name, s->waiting, s->nwaiters);
		if (s->held == 0 && s->waiting == 0)
			soak_violation(stats, "%s: listed with nothing held "
			    "and nobody waiting (not forgotten)", s->name);
	}
}

/* Add the counters of b to a. */
static void
soak_stats_add(struct soak_stats *a, const struct soak_stats *b)
{
	a->requests += b->requests;
	a->grants += b->grants;
	a->timeouts += b->timeouts;
	a->try_fails += b->try_fails;
	a->withdrawals += b->withdrawals;
	a->disconnects += b->disconnects;
	a->fifo_steps += b->fifo_steps;
	a->fifo_grants += b->fifo_grants;
	a->semruns += b->semruns;
	a->semrun_kills += b->semrun_kills;
	a->cmd_kills += b->cmd_kills;
	a->sigterms += b->sigterms;
	a->violations += b->violations;
}

/* Fork a client process running role; it reports on fd. */
static pid_t
soak_fork_client(char role, int idx, int fd)
{
	struct soak_stats	st;
	pid_t			pid, parent = getpid();

	fflush(NULL);
	if ((pid = fork()) != 0)
		return (pid);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	memset(&st, 0, sizeof st);
	st.role = role;
	switch (role) {
	case 'w':
		soak_role = "worker";
		soak_worker(idx, &st);
		break;
	case 'f':
		soak_role = "fifo";
		soak_fifo(&st);
		break;
	case 'l':
		soak_role = "lane";
		soak_lane(idx, &st);
		break;
	}
	if (write(fd, &st, sizeof st) != (ssize_t)sizeof st)
		exit(2);
	exit(st.violations == 0 ? 0 : 1);
}

/*
 * soak --sweep LOG: check an event log alone (a kept one, or one made up
 * to test the checker).  Returns the exit status: 0 clean, 1 violations,
 * 2 unreadable.
 */
static int
soak_sweep_only(const char *path)
{
	struct soak_sweep	sw;

	if (soak_sweep(path, &sw) == -1)
		return (2);
	printf("soak: sweep: %" PRIu64 " events, %" PRIu64 " grant "
	    "intervals, %" PRIu64 " violations\n", sw.events, sw.intervals,
	    sw.violations);
	return (sw.violations == 0 ? 0 : 1);
}

/* Print the last lines of a file to stderr. */
static void
soak_tail(const char *path, int lines)
{
	char	cmd[4300];

	snprintf(cmd, sizeof cmd, "tail -n %d '%s' >&2", lines, path);
	if (system(cmd) != 0)
		fprintf(stderr, "soak: cannot show %s\n", path);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seconds",	required_argument,	NULL, 's' },
		{ "workers",	required_argument,	NULL, 'W' },
		{ "conns",	required_argument,	NULL, 'C' },
		{ "lanes",	required_argument,	NULL, 'L' },
		{ "seed",	required_argument,	NULL, 'r' },
		{ "semd",	required_argument,	NULL, 'D' },
		{ "semrun",	required_argument,	NULL, 'R' },
		{ "keep",	no_argument,		NULL, 'k' },
		{ "verbose",	no_argument,		NULL, 'v' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 }
	};
	struct soak_stats	 total, st, mine;
	struct soak_sweep	 sw;
	struct semd_status	*status;
	struct semd_error	 err;
	struct semd		*sd;
	const char		*semd_bin, *env;
	char			 semrun_buf[4096], path[4200];
	struct tl_daemon	 semd = { .pid = -1 };
	pid_t			 kids[SOAK_MAX_CHILDREN], w;
	int64_t			 t0, warm_ns, deadline;
	long			 seconds = 60, rss_warm = -1, rss_end, limit;
	uint64_t		 snapshots = 0;
	ssize_t			 n;
	int			 ch, i, nkids = 0, left, sp[2], wstatus;
	int			 keep = 0, failed;

	if (argc > 1 && strcmp(argv[1], "--cmd") == 0)
		return (soak_cmd(argc - 1, argv + 1));
	if (argc == 3 && strcmp(argv[1], "--sweep") == 0)
		return (soak_sweep_only(argv[2]));

	memset(&mine, 0, sizeof mine);
	memset(&total, 0, sizeof total);
	soak_conf.workers = 4;
	soak_conf.conns = 10;
	soak_conf.lanes = 3;
	soak_conf.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
	if ((env = getenv("SOAK_SECONDS")) != NULL && *env != '\0')
		seconds = soak_number("SOAK_SECONDS", env, 1, 86400 * 7);
	semd_bin = getenv("SEMD_BIN");
	soak_conf.semrun = NULL;
	if ((env = getenv("SEMD_BUILDDIR")) != NULL) {
		snprintf(semrun_buf, sizeof semrun_buf, "%s/client/semrun",
		    env);
		soak_conf.semrun = semrun_buf;
	}
	while ((ch = getopt_long(argc, argv, "s:vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			seconds = soak_number("--seconds", optarg, 1,
			    86400 * 7);
			break;
		case 'W':
			soak_conf.workers = (int)soak_number("--workers",
			    optarg, 0, 16);
			break;
		case 'C':
			soak_conf.conns = (int)soak_number("--conns", optarg,
			    1, 64);
			break;
		case 'L':
			soak_conf.lanes = (int)soak_number("--lanes", optarg,
			    0, 16);
			break;
		case 'r':
			soak_conf.seed = (uint64_t)soak_number("--seed",
			    optarg, 0, 0x7fffffffffffffffL);
			break;
		case 'D':
			semd_bin = optarg;
			break;
		case 'R':
			soak_conf.semrun = optarg;
			break;
		case 'k':
			keep = 1;
			break;
		case 'v':
			soak_conf.verbose = 1;
			break;
		case 'h':
			soak_usage(stdout);
			return (0);
		default:
			soak_usage(stderr);
			return (64);
		}
	}
	if (optind != argc || semd_bin == NULL || *semd_bin == '\0' ||
	    (soak_conf.lanes > 0 && soak_conf.semrun == NULL)) {
		fprintf(stderr, "soak: give --semd and --semrun (or set "
		    "SEMD_BIN and SEMD_BUILDDIR)\n");
		return (64);
	}
	signal(SIGPIPE, SIG_IGN);

	/* The stage: a directory, the event log, the daemon. */
	if (tl_tmpdir(soak_conf.dir, sizeof soak_conf.dir, "semd-soak") == -1) {
		fprintf(stderr, "soak: mkdtemp: %s\n", strerror(errno));
		return (1);
	}
	snprintf(path, sizeof path, "%s/semd.sock", soak_conf.dir);
	soak_conf.sock = strdup(path);
	snprintf(soak_conf.events, sizeof soak_conf.events, "%s/events",
	    soak_conf.dir);
	n = readlink("/proc/self/exe", soak_conf.self,
	    sizeof soak_conf.self - 1);
	if (n <= 0 || soak_conf.sock == NULL) {
		fprintf(stderr, "soak: cannot find myself: %s\n",
		    strerror(errno));
		return (1);
	}
	soak_conf.self[n] = '\0';
	soak_conf.events_fd = open(soak_conf.events, O_WRONLY | O_CREAT |
	    O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (soak_conf.events_fd == -1) {
		fprintf(stderr, "soak: %s: %s\n", soak_conf.events,
		    strerror(errno));
		return (1);
	}
	printf("soak: %ld s, seed %" PRIu64 ", %d workers x %d connections, "
	    "a FIFO prober, %d semrun lanes; in %s\n", seconds,
	    soak_conf.seed, soak_conf.workers, soak_conf.conns,
	    soak_conf.lanes, soak_conf.dir);
	if (soak_start_daemon(&semd, semd_bin, &mine) == -1)
		goto report;

	/* The clients. */
	t0 = tl_now_ns();
	soak_conf.end_ns = t0 + (int64_t)seconds * 1000000000;
	warm_ns = t0 + (int64_t)(seconds / 4 < SOAK_WARMUP_S ? seconds * 250 :
	    SOAK_WARMUP_S * 1000) * 1000000;
	if (pipe2(sp, O_CLOEXEC) == -1) {
		fprintf(stderr, "soak: pipe: %s\n", strerror(errno));
		return (1);
	}
	for (i = 0; i < soak_conf.workers; i++)
		kids[nkids++] = soak_fork_client('w', i, sp[1]);
	kids[nkids++] = soak_fork_client('f', 0, sp[1]);
	for (i = 0; i < soak_conf.lanes; i++)
		kids[nkids++] = soak_fork_client('l', i, sp[1]);
	close(sp[1]);

	/* While they run: STATUS checks, and the RSS after the warm-up. */
	if ((sd = semd_open(soak_conf.sock, "soak-status",
	    SEMD_OPEN_NO_AUTOSTART, &err)) == NULL)
		soak_violation(&mine, "cannot connect: %s", err.message);
	while (sd != NULL && tl_now_ns() < soak_conf.end_ns) {
		if (semd_status(sd, NULL, &status, &err) != SEMD_OK) {
			soak_violation(&mine, "STATUS failed: %s",
			    err.message);
			break;
		}
		soak_check_status(status, &mine);
		semd_status_free(status);
		snapshots++;
		if (rss_warm == -1 && tl_now_ns() >= warm_ns)
			rss_warm = soak_rss_kb(semd.pid);
		tl_nap_ms(SOAK_STATUS_MS);
	}
	semd_close(sd);

	/* The end: every client must finish, and report. */
	deadline = soak_conf.end_ns + 2 * SOAK_DEADLINE_NS;
	for (left = nkids; left > 0;) {
		for (i = 0; i < nkids; i++) {
			if (kids[i] <= 0)
				continue;
			w = waitpid(kids[i], &wstatus, WNOHANG);
			if (w != kids[i])
				continue;
			if (!WIFEXITED(wstatus) || (WEXITSTATUS(wstatus) != 0 &&
			    WEXITSTATUS(wstatus) != 1))
				soak_violation(&mine, "client %ld ended badly "
				    "(wait status 0x%x)", (long)kids[i],
				    (unsigned int)wstatus);
			kids[i] = 0;
			left--;
		}
		if (left > 0 && tl_now_ns() > deadline) {
			for (i = 0; i < nkids; i++) {
				if (kids[i] <= 0)
					continue;
				soak_violation(&mine, "client %ld did not "
				    "finish; killed", (long)kids[i]);
				kill(kids[i], SIGKILL);
				waitpid(kids[i], NULL, 0);
				kids[i] = 0;
			}
			break;
		}
		tl_nap_ms(10);
	}
	memset(&total, 0, sizeof total);
	while ((n = read(sp[0], &st, sizeof st)) == (ssize_t)sizeof st)
		soak_stats_add(&total, &st);
	close(sp[0]);

	/* Every slot back: the daemon forgets every semaphore. */
	deadline = tl_now_ns() + SOAK_DEADLINE_NS;
	for (;;) {
		sd = semd_open(soak_conf.sock, "soak-final",
		    SEMD_OPEN_NO_AUTOSTART, &err);
		if (sd == NULL) {
			soak_violation(&mine, "cannot connect at the end: %s",
			    err.message);
			break;
		}
		if (semd_status(sd, NULL, &status, &err) != SEMD_OK) {
			soak_violation(&mine, "STATUS failed: %s",
			    err.message);
			semd_close(sd);
			break;
		}
		semd_close(sd);
		if (status->nsems == 0) {
			semd_status_free(status);
			break;
		}
		if (tl_now_ns() > deadline) {
			for (i = 0; i < (int)status->nsems; i++)
				soak_violation(&mine, "at the end %s still "
				    "has %u held and %u waiting",
				    status->sems[i].name, status->sems[i].held,
				    status->sems[i].waiting);
			semd_status_free(status);
			break;
		}
		semd_status_free(status);
		tl_nap_ms(20);
	}

	/* The daemon: alive, memory flat, a clean exit. */
	rss_end = soak_rss_kb(semd.pid);
	if (tl_daemon_exited(&semd)) {
		soak_violation(&mine, "semd died during the run (%s)",
		    tl_wait_str(semd.status, path, sizeof path));
	} else {
		if (rss_warm <= 0)
			rss_warm = rss_end;
		limit = 2 * rss_warm + SOAK_RSS_SLACK_KB;
		printf("soak: semd RSS %ld KiB after the warm-up, %ld KiB at "
		    "the end (limit %ld KiB)\n", rss_warm, rss_end, limit);
		if (rss_end <= 0 || rss_end > limit)
			soak_violation(&mine, "semd's RSS grew from %ld to %ld "
			    "KiB", rss_warm, rss_end);
		if (tl_daemon_stop(&semd, 0) == -1)
			soak_violation(&mine, "%s", semd.error);
	}

	/* The bound, from the clients' own log. */
	if (soak_sweep(soak_conf.events, &sw) == -1)
		soak_violation(&mine, "cannot read the event log");
	else
		mine.violations += sw.violations;

	printf("soak: requests %" PRIu64 " (grants %" PRIu64 ", timeouts %"
	    PRIu64 ", failed tries %" PRIu64 ", withdrawals %" PRIu64
	    ", disconnects %" PRIu64 ")\n", total.requests, total.grants,
	    total.timeouts, total.try_fails, total.withdrawals,
	    total.disconnects);
	printf("soak: FIFO prober: %" PRIu64 " steps, %" PRIu64 " grants "
	    "predicted by the model and checked\n", total.fifo_steps,
	    total.fifo_grants);
	printf("soak: semrun: %" PRIu64 " runs, %" PRIu64 " SIGTERM, %"
	    PRIu64 " SIGKILL to semrun, %" PRIu64 " SIGKILL to CMD\n",
	    total.semruns, total.sigterms, total.semrun_kills,
	    total.cmd_kills);
	printf("soak: STATUS snapshots checked: %" PRIu64 "\n", snapshots);
	printf("soak: sweep: %" PRIu64 " events, %" PRIu64 " grant "
	    "intervals; most held at once:", sw.events, sw.intervals);
	for (i = 0; i < soak_nsems; i++)
		printf(" %s %u/%u", soak_sems[i].name, sw.max_held[i],
		    soak_sems[i].capacity);
	printf(" %s %u/%u\n", soak_fifo_sem.name, sw.max_held[soak_nsems],
	    soak_fifo_sem.capacity);

report:
	mine.violations += total.violations;
	failed = mine.violations != 0;
	printf("soak: violations: %" PRIu64 "\n", mine.violations);
	if (failed) {
		snprintf(path, sizeof path, "%s/semd.log", soak_conf.dir);
		fprintf(stderr, "soak: FAIL; logs kept in %s; semd's log "
		    "ends:\n", soak_conf.dir);
		soak_tail(path, 20);
	} else if (!keep) {
		if (tl_rmtree(soak_conf.dir) == -1)
			fprintf(stderr, "soak: cannot remove %s: %s\n",
			    soak_conf.dir, strerror(errno));
	} else
		printf("soak: logs kept in %s\n", soak_conf.dir);
	printf("soak: %s\n", failed ? "FAIL" : "PASS");
	return (failed ? 1 : 0);
}
