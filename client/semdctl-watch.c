/*
 * semdctl-watch.c -- semdctl watch [-n SECS] [NAME]: a live view of semd,
 * like top.  Every SECS seconds (default 1) it asks for STATUS (who holds,
 * who waits) and STATS (counters, histograms) on one connection, and
 * redraws the whole screen: one line per semaphore with its recent grants
 * per second (smoothed over a few seconds), then its holders and waiters.
 *
 * The terminal: the alternate screen and a hidden cursor while it runs,
 * input without echo or line buffering so that q quits at once; ^C
 * (SIGINT), SIGTERM and SIGHUP quit too, and SIGWINCH redraws at the new
 * size.  Whatever ends it, the terminal is restored before it exits.  The
 * signals are blocked except inside ppoll(), so none is lost between a
 * check and the wait.
 */

#include "config.h"

#include <sys/ioctl.h>
#include <sys/types.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "semd.h"
#include "semdctl.h"
#include "tool.h"

#define WATCH_MAX_SEMS		256	/* remembered for the rates */
#define WATCH_RATE_SEC		2.0	/* time constant of the rates */

static volatile sig_atomic_t	 watch_quit;
static volatile sig_atomic_t	 watch_resized;
static struct termios		 watch_saved;
static int			 watch_tty_set;

/* The grants of one semaphore at the last refresh, for its rate. */
struct watch_prev {
	char		 name[129];
	uint64_t	 grants;
	double		 rate;		/* grants/s over the last interval */
};

struct watch {
	struct semdctl		*sc;
	const char		*name;		/* only this one, or NULL */
	double			 interval;	/* seconds */
	struct semd		*semd;
	struct watch_prev	 prev[WATCH_MAX_SEMS];
	size_t			 nprev;
	struct timespec		 prev_at;
	int			 have_prev;
	unsigned short		 rows, cols;
	char			*frame;		/* built here, then written */
	size_t			 len, cap;
	size_t			 line;		/* lines of the frame so far */
	size_t			 col;		/* columns of this line */
};

/* Signal handler: only sets a flag. */
static void
watch_signal(int sig)
{
	if (sig == SIGWINCH)
		watch_resized = 1;
	else
		watch_quit = sig;
}

/* Put the terminal back as it was: screen, cursor, modes. */
static void
watch_restore(void)
{
	static const char	 leave[] = "\033[?25h\033[?1049l";

	if (!watch_tty_set)
		return;
	(void)write(STDOUT_FILENO, leave, sizeof leave - 1);
	(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &watch_saved);
	watch_tty_set = 0;
}

/*
 * Take the terminal: no echo, no line buffering (signals still work), the
 * alternate screen, no cursor.  Returns 0, or -1 with errno set.
 */
static int
watch_take_tty(void)
{
	static const char	 enter[] = "\033[?1049h\033[?25l\033[H\033[2J";
	struct termios		 t;

	if (tcgetattr(STDIN_FILENO, &watch_saved) == -1)
		return (-1);
	t = watch_saved;
	t.c_lflag &= ~(ICANON | ECHO);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == -1)
		return (-1);
	watch_tty_set = 1;
	atexit(watch_restore);
	if (write(STDOUT_FILENO, enter, sizeof enter - 1) == -1)
		return (-1);
	return (0);
}

/* Read the terminal's size (80x24 if it will not say). */
static void
watch_size(struct watch *w)
{
	struct winsize	 ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
	    ws.ws_col > 0) {
		w->rows = ws.ws_row;
		w->cols = ws.ws_col;
	} else {
		w->rows = 24;
		w->cols = 80;
	}
}

/* Append n bytes to the frame. */
static void
watch_put(struct watch *w, const char *s, size_t n)
{
	char	*p;
	size_t	 cap;

	if (w->len + n + 1 > w->cap) {
		cap = w->cap == 0 ? 8192 : w->cap;
		while (cap < w->len + n + 1)
			cap *= 2;
		if ((p = realloc(w->frame, cap)) == NULL)
			return;
		w->frame = p;
		w->cap = cap;
	}
	memcpy(w->frame + w->len, s, n);
	w->len += n;
}

/*
 * Add one line to the frame, cut to the width of the terminal, unless the
 * screen is full.  Unprintable bytes become '?'.
 */
static void
watch_line(struct watch *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
watch_line(struct watch *w, const char *fmt, ...)
{
	char	 buf[1024];
	va_list	 ap;
	size_t	 n, i;

	if (w->line >= w->rows)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	n = strlen(buf);
	if (n > w->cols)
		n = w->cols;
	for (i = 0; i < n; i++) {
		if ((unsigned char)buf[i] < 0x20 ||
		    (unsigned char)buf[i] >= 0x7f)
			buf[i] = '?';
	}
	/* Each line: home on its row, text, clear to the end of the line. */
	watch_put(w, buf, n);
	watch_put(w, "\033[K", 3);
	w->line++;
	if (w->line < w->rows)
		watch_put(w, "\r\n", 2);
}

/* The recent rate of name's grants, and remember the count for later. */
static double
watch_rate(struct watch *w, struct watch_prev *next, size_t *nnext,
    const char *name, uint64_t grants, double dt)
{
	struct watch_prev	*p;
	size_t			 i;
	double			 rate = 0;

	for (i = 0; i < w->nprev; i++) {
		p = &w->prev[i];
		if (strcmp(p->name, name) != 0)
			continue;
		/*
		 * Smoothed over about WATCH_RATE_SEC seconds, so that a
		 * short refresh interval does not make it jump between 0
		 * and a burst.
		 */
		rate = p->rate;
		if (dt > 0 && grants >= p->grants)
			rate += ((double)(grants - p->grants) / dt - rate) *
			    dt / (dt + WATCH_RATE_SEC);
		break;
	}
	if (*nnext < WATCH_MAX_SEMS) {
		p = &next[(*nnext)++];
		snprintf(p->name, sizeof p->name, "%s", name);
		p->grants = grants;
		p->rate = rate;
	}
	return (rate);
}

/* The figures of name in st, or NULL. */
static const struct semd_sem_stats *
watch_find(const struct semd_stats *st, const char *name)
{
	size_t	 i;

	for (i = 0; st != NULL && i < st->nsems; i++) {
		if (strcmp(st->sems[i].name, name) == 0)
			return (&st->sems[i]);
	}
	return (NULL);
}

/* Write quantile q of h as a duration, or "-" when it counted nothing. */
static void
watch_quantile(const struct semd_hist *h, double q, char *buf, size_t len)
{
	uint64_t	 n = 0;
	size_t		 i;

	for (i = 0; h != NULL && i < SEMD_HIST_BUCKETS; i++)
		n += h->count[i];
	if (n == 0)
		snprintf(buf, len, "-");
	else
		semdctl_ms(semd_hist_quantile(h, q), buf, len);
}

/* One holder or waiter line. */
static void
watch_party(struct watch *w, const struct semd_party *p, const char *tag)
{
	char		 cmd[SEMDCTL_CMDLINE_MAX], dur[32], uidbuf[32];
	const char	*user;

	if ((user = semdctl_user(p->uid)) == NULL) {
		snprintf(uidbuf, sizeof uidbuf, "%lu", (unsigned long)p->uid);
		user = uidbuf;
	}
	semdctl_duration(p->ms, dur, sizeof dur);
	if (semdctl_cmdline(p, cmd, sizeof cmd) == -1)
		snprintf(cmd, sizeof cmd, "-");
	watch_line(w, "    %-9s %7ld %-8.8s w%-3" PRIu32 " %7s  %s", tag,
	    (long)p->pid, user, p->weight, dur, cmd);
}

/*
 * Draw the line of semaphore s (f: its statistics, or NULL; rate: its
 * grants/s), then one line per holder and waiter.
 */
static void
watch_draw_sem(struct watch *w, const struct semd_sem_status *s,
    const struct semd_sem_stats *f, double rate)
{
	char	wp50[32], wp99[32], hp50[32], hp99[32], tag[32];
	size_t	j;

	watch_quantile(f != NULL ? &f->wait : NULL, 0.5, wp50, sizeof wp50);
	watch_quantile(f != NULL ? &f->wait : NULL, 0.99, wp99, sizeof wp99);
	watch_quantile(f != NULL ? &f->hold : NULL, 0.5, hp50, sizeof hp50);
	watch_quantile(f != NULL ? &f->hold : NULL, 0.99, hp99, sizeof hp99);
	watch_line(w, "%-20.20s %5" PRIu32 " %5" PRIu32 " %5" PRIu32
	    " %8.1f %8" PRIu64 " %7" PRIu64 " %7s %7s %7s %7s",
	    s->name, s->capacity, s->held, s->waiting, rate,
	    f != NULL ? f->grants : 0, f != NULL ? f->timeouts : 0,
	    wp50, wp99, hp50, hp99);
	for (j = 0; j < s->nholders; j++)
		watch_party(w, &s->holders[j], "holding");
	for (j = 0; j < s->nwaiters; j++) {
		snprintf(tag, sizeof tag, "wait #%zu", j + 1);
		watch_party(w, &s->waiters[j], tag);
	}
}

/* Build and write one screen from a STATUS and a STATS report. */
static void
watch_draw(struct watch *w, const struct semd_status *ss,
    const struct semd_stats *st)
{
	struct watch_prev		 next[WATCH_MAX_SEMS];
	const struct semd_sem_status	*s;
	const struct semd_sem_stats	*f;
	struct timespec			 now;
	size_t				 i, j, nnext = 0;
	double				 dt = 0, rate, total = 0;
	char				 up[32], clock[16];
	struct tm			 tm;
	time_t				 t;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (w->have_prev)
		dt = (double)(now.tv_sec - w->prev_at.tv_sec) +
		    (double)(now.tv_nsec - w->prev_at.tv_nsec) / 1e9;
	w->len = 0;
	w->line = 0;
	watch_put(w, "\033[H", 3);

	t = time(NULL);
	localtime_r(&t, &tm);
	strftime(clock, sizeof clock, "%H:%M:%S", &tm);
	semdctl_duration(st != NULL ? st->uptime_ms : 0, up, sizeof up);
	watch_line(w, "semd at %s  up %s, %" PRIu32 " connections, %zu "
	    "semaphores  %s", w->sc->path, up, st != NULL ? st->connections :
	    0, ss->nsems, clock);
	/* The total rate goes in the header, so compute it first. */
	for (i = 0; i < ss->nsems; i++) {
		f = watch_find(st, ss->sems[i].name);
		if (f != NULL)
			total += watch_rate(w, next, &nnext, f->name,
			    f->grants, dt);
	}
	watch_line(w, "%.1f grants/s   refresh %.1fs   q: quit", total,
	    w->interval);
	watch_line(w, "%s", "");
	watch_line(w, "%-20s %5s %5s %5s %8s %8s %7s %7s %7s %7s %7s",
	    "SEMAPHORE", "CAP", "HELD", "WAIT", "GRANT/S", "GRANTS",
	    "TIMEOUT", "WAIT50", "WAIT99", "HOLD50", "HOLD99");
	for (i = 0; i < ss->nsems; i++) {
		s = &ss->sems[i];
		f = watch_find(st, s->name);
		rate = 0;
		for (j = 0; j < nnext; j++) {
			if (strcmp(next[j].name, s->name) == 0)
				rate = next[j].rate;
		}
		watch_draw_sem(w, s, f, rate);
	}
	if (ss->nsems == 0)
		watch_line(w, "%s", w->name != NULL ?
		    "(not in use)" : "(no semaphores in use)");
	memcpy(w->prev, next, nnext * sizeof next[0]);
	w->nprev = nnext;
	w->prev_at = now;
	w->have_prev = 1;
	/* Clear what the last, longer frame left below. */
	watch_put(w, "\033[J", 3);
	if (w->frame != NULL)
		(void)write(STDOUT_FILENO, w->frame, w->len);
}

/*
 * One refresh: STATUS and STATS of name (or all), then draw.  Returns 0,
 * or an exit status after printing why (semd gone).
 */
static int
watch_refresh(struct watch *w)
{
	struct semd_error	 err;
	struct semd_status	*ss = NULL;
	struct semd_stats	*st = NULL;

	if (semd_status(w->semd, w->name, &ss, &err) != SEMD_OK)
		goto fail;
	if (semd_stats(w->semd, w->name, &st, &err) != SEMD_OK &&
	    err.code != SEMD_E_UNKNOWN_OP)
		goto fail;
	watch_draw(w, ss, st);
	semd_status_free(ss);
	semd_stats_free(st);
	return (0);

fail:
	semd_status_free(ss);
	if (err.code == SEMD_E_INTERRUPTED && watch_quit)
		return (0);
	watch_restore();
	return (semdctl_fail(w->sc, &err));
}

/* Start w for sc with watch's arguments ([-n SECS] [NAME]), or exit. */
static void
watch_args(struct watch *w, struct semdctl *sc, int argc, char **argv)
{
	char	*end;
	int	 i;

	memset(w, 0, sizeof *w);
	w->sc = sc;
	w->interval = 1;
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 ||
		    strcmp(argv[i], "--interval") == 0) {
			if (i + 1 == argc)
				semdctl_usage_error("watch: %s needs a number "
				    "of seconds", argv[i]);
			errno = 0;
			w->interval = strtod(argv[++i], &end);
			if (errno != 0 || *end != '\0' || end == argv[i] ||
			    !(w->interval >= 0.1 && w->interval <= 3600))
				semdctl_usage_error("watch: bad interval '%s' "
				    "(seconds, 0.1 to 3600)", argv[i]);
		} else if (argv[i][0] == '-' && argv[i][1] != '\0')
			semdctl_usage_error("watch: unknown option '%s'",
			    argv[i]);
		else if (w->name != NULL)
			semdctl_usage_error("watch: only one NAME, please");
		else
			w->name = argv[i];
	}
	if (w->name != NULL && *w->name == '\0')
		semdctl_usage_error("watch: empty NAME");
}

/*
 * Catch the signals watch ends or redraws on and block them (ppoll lets
 * them in); the mask before is left in *orig.
 */
static void
watch_signals(sigset_t *orig)
{
	static const int	 sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGWINCH };
	struct sigaction	 sa;
	sigset_t		 block;
	size_t			 i;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = watch_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		sigaction(sigs[i], &sa, NULL);
		sigaddset(&block, sigs[i]);
	}
	sigprocmask(SIG_BLOCK, &block, orig);
}

/*
 * Wait w's interval for a key with the signal mask orig: q, Q or ^C (or
 * the terminal's end) set watch_quit.
 */
static void
watch_wait(struct watch *w, const sigset_t *orig)
{
	struct pollfd	pfd;
	struct timespec	ts;
	char		buf[64];
	ssize_t		n, k;

	ts.tv_sec = (time_t)w->interval;
	ts.tv_nsec = (long)((w->interval - (double)ts.tv_sec) * 1e9);
	pfd.fd = STDIN_FILENO;
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (ppoll(&pfd, 1, &ts, orig) > 0 && (pfd.revents & POLLIN)) {
		n = read(STDIN_FILENO, buf, sizeof buf);
		for (k = 0; k < n; k++) {
			if (buf[k] == 'q' || buf[k] == 'Q' ||
			    buf[k] == 3 /* ^C without ISIG */)
				watch_quit = SIGINT;
		}
		if (n == 0)
			watch_quit = SIGHUP;	/* the tty went away */
	}
}

/* semdctl watch [-n SECS] [NAME] */
int
semdctl_watch(struct semdctl *sc, int argc, char **argv)
{
	struct watch		 w;
	struct semd_error	 err;
	sigset_t		 orig;
	int			 r = 0;

	watch_args(&w, sc, argc, argv);
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "semdctl: watch needs a terminal; use "
		    "'semdctl status' or 'semdctl stats' instead\n");
		return (EX_USAGE);
	}
	if ((w.semd = semdctl_open(sc, &err)) == NULL)
		return (semdctl_fail(sc, &err));

	watch_signals(&orig);
	if (watch_take_tty() == -1) {
		watch_restore();
		fprintf(stderr, "semdctl: watch: cannot set up the terminal: "
		    "%s\n", strerror(errno));
		semd_close(w.semd);
		return (EX_OSERR);
	}
	watch_size(&w);

	while (!watch_quit) {
		if ((r = watch_refresh(&w)) != 0)
			break;
		watch_wait(&w, &orig);
		if (watch_resized) {
			watch_resized = 0;
			watch_size(&w);
		}
	}
	watch_restore();
	semd_close(w.semd);
	free(w.frame);
	return (r);
}
