/*
 * semrun.c -- run a command while holding slots of a semd semaphore.
 *
 *	semrun [options] NAME [CAPACITY] [NAME [CAPACITY]]... -- CMD [ARG...]
 *
 * semrun connects to semd, asks for a slot of NAME (declaring CAPACITY,
 * or joining at the capacity semd has for NAME when it is left out; of
 * every NAME at once, all or none, when there are several: see
 * semrun_sems.c), waits in line, runs CMD, releases the slots and exits
 * with CMD's status.
 *
 * An administrator may revoke the slot while CMD runs (semdctl revoke):
 * semd sends REVOKED, and semrun applies --on-revoke: by default it
 * terminates CMD (SIGTERM, SIGKILL after --kill-after seconds) and gives
 * the slot back once CMD has exited; with --on-revoke=ignore it only
 * warns.
 *
 * The connection is what holds the slot.  CMD inherits it (FD_CLOEXEC is
 * cleared, its number is in $SEMD_FD), and a keeper process (keeper.c)
 * holds another copy until CMD has exited, so the slot stays held while
 * CMD runs even if semrun itself is killed with SIGKILL and CMD closes
 * what it inherited; when CMD exits normally semrun sends RELEASE, so
 * background children of CMD that kept the descriptor do not keep the
 * slot.  fds 0-2 are opened on /dev/null first if they were closed, so
 * the connection is never one of them.
 *
 * Signals are turned into records on a self-pipe by one handler; the
 * main loop reads them, so nothing but write(2) happens in the handler.
 * While waiting, a terminating signal withdraws the request and semrun
 * exits 128+N.  While CMD runs, signals sent to semrun alone are
 * forwarded to CMD; signals the terminal sends already reach CMD, which
 * is in the same process group, and are not sent twice.  Job-control
 * stops (SIGTSTP, SIGTTIN, SIGTTOU) are forwarded likewise, then semrun
 * stops itself.  Signals ignored
 * when semrun starts stay ignored, by semrun and by CMD, as shells do;
 * SIGCHLD excepted, which semrun must catch (see semrun_run()).
 *
 * Losing the daemon (it exits or is killed, so the connection reaches its
 * end) is watched for in both phases.  semrun then connects again (a
 * restarted or auto-started daemon, for as long as the grace period it
 * announced plus a margin: semd_reconnect).  While waiting, it asks
 * again (its place in line is lost).  While CMD runs, it reclaims the
 * slot (RECLAIM with the grant's token) and a new keeper holds the new
 * connection.  Only when that fails does --on-daemon-loss apply: while
 * waiting, CMD is not run and semrun exits SEMRUN_LOST; while CMD runs,
 * by default semrun warns and lets CMD finish, and with -K it terminates
 * CMD (SIGTERM, then SIGKILL after --kill-after seconds) and exits
 * SEMRUN_LOST.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <paths.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "jobserver.h"
#include "keeper.h"
#include "monoclock.h"
#include "semd.h"
#include "semrun_sems.h"
#include "semrun_wait.h"
#include "stdfds.h"
#include "tool.h"
#include "usage.h"

#define SEMRUN_CONFLICT		75	/* EX_TEMPFAIL: not granted in time */
#define SEMRUN_LOST		76	/* semd went away: CMD not run, or -K */
#define SEMRUN_DENIED		77	/* EX_NOPERM: semd's rules refuse */
#define SEMRUN_CANNOT_EXEC	126
#define SEMRUN_NOT_FOUND	127
#define SEMRUN_MAX_COUNT	2147483647UL	/* largest capacity/weight */
#define SEMRUN_MAX_SECONDS	315360000.0	/* ten years, as the daemon */
#define SEMRUN_WITHDRAW_MS	5000	/* how long to wait for a withdrawal */
#define SEMRUN_GRANTED		(-1)	/* not an exit status: go on */
#define SEMRUN_KILL_AFTER_MS	5000	/* -K: SIGTERM, then SIGKILL after */
#define SEMRUN_MAX_KEEPERS	16	/* keepers of reclaimed connections */

/* Long options without a short form. */
#define SEMRUN_OPT_ON_LOSS	256
#define SEMRUN_OPT_KILL_AFTER	257
#define SEMRUN_OPT_ON_REVOKE	258
#define SEMRUN_OPT_JOBSERVER	259
#define SEMRUN_OPT_JS_STYLE	260
#define SEMRUN_OPT_RATE		261
#define SEMRUN_OPT_BURST	262
#define SEMRUN_OPT_RECONNECT	263

/* semrun's options (semrun_parse_options). */
static const struct option semrun_longopts[] = {
	{ "timeout",		required_argument,	NULL, 't' },
	{ "no-wait",		no_argument,		NULL, 'n' },
	{ "weight",		required_argument,	NULL, 'w' },
	{ "socket",		required_argument,	NULL, 'S' },
	{ "conflict-exit-code",	required_argument,	NULL, 'E' },
	{ "on-daemon-loss",	required_argument,	NULL,
	    SEMRUN_OPT_ON_LOSS },
	{ "kill-after",		required_argument,	NULL,
	    SEMRUN_OPT_KILL_AFTER },
	{ "on-revoke",		required_argument,	NULL,
	    SEMRUN_OPT_ON_REVOKE },
	{ "jobserver",		no_argument,		NULL,
	    SEMRUN_OPT_JOBSERVER },
	{ "jobserver-style",	required_argument,	NULL,
	    SEMRUN_OPT_JS_STYLE },
	{ "rate",		required_argument,	NULL,
	    SEMRUN_OPT_RATE },
	{ "burst",		required_argument,	NULL,
	    SEMRUN_OPT_BURST },
	{ "reconnect",		required_argument,	NULL,
	    SEMRUN_OPT_RECONNECT },
	{ "verbose",		no_argument,		NULL, 'v' },
	{ "quiet",		no_argument,		NULL, 'q' },
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ NULL,			0,			NULL, 0 }
};

/* What to do with a caught signal, depending on the phase. */
#define SEMRUN_TERMINATES	0x1	/* while waiting: withdraw and exit */
#define SEMRUN_FORWARDS		0x2	/* while CMD runs: send it on to CMD */
#define SEMRUN_STOPS		0x4	/* job control: forward, then stop */

static const struct {
	int	signo;
	int	flags;
} semrun_signals[] = {
	{ SIGHUP,	SEMRUN_TERMINATES|SEMRUN_FORWARDS },
	{ SIGINT,	SEMRUN_TERMINATES|SEMRUN_FORWARDS },
	{ SIGQUIT,	SEMRUN_TERMINATES|SEMRUN_FORWARDS },
	{ SIGTERM,	SEMRUN_TERMINATES|SEMRUN_FORWARDS },
	{ SIGUSR1,	SEMRUN_TERMINATES|SEMRUN_FORWARDS },
	{ SIGUSR2,	SEMRUN_TERMINATES|SEMRUN_FORWARDS },
	{ SIGALRM,	SEMRUN_TERMINATES|SEMRUN_FORWARDS },
	{ SIGWINCH,	SEMRUN_FORWARDS },
	{ SIGCONT,	SEMRUN_FORWARDS },
	{ SIGTSTP,	SEMRUN_FORWARDS|SEMRUN_STOPS },
	{ SIGTTIN,	SEMRUN_FORWARDS|SEMRUN_STOPS },
	{ SIGTTOU,	SEMRUN_FORWARDS|SEMRUN_STOPS },
};
#define SEMRUN_NSIGNALS	(sizeof semrun_signals / sizeof semrun_signals[0])

/* One caught signal, as written to the self-pipe by the handler. */
struct sigrec {
	int	signo;
	int	code;		/* si_code: SI_KERNEL when from the terminal */
	pid_t	pid;		/* si_pid: the sender, for SI_USER */
};

struct semrun {
	const char	*name;		/* all the names, for messages */
	struct semrun_sems sems;	/* what to acquire */
	int64_t		 timeout_ms;	/* SEMD_FOREVER, SEMD_TRY or ms */
	const char	*timeout_arg;	/* as the user wrote it, for messages */
	const char	*socket;	/* -S, or NULL */
	int		 conflict;	/* exit status when not granted */
	int		 verbose;
	int		 quiet;
	int		 terminate;	/* -K: terminate CMD if semd is lost */
	int64_t		 kill_after_ms;	/* -K: SIGKILL this long after SIGTERM */
	int		 revoke_ignore;	/* --on-revoke=ignore */
	int		 revoked;	/* the daemon revoked the slot */
	char		**cmd;
	int		 lost;		/* semd went away while CMD ran */
	pid_t		 keeper;	/* holds the connection until CMD ends */
	pid_t		 keepers[SEMRUN_MAX_KEEPERS];	/* of later ones */
	int		 nkeepers;
	int		 reclaims;	/* times the slot was reclaimed */
	char		 lost_why[512];	/* why a reclaim failed */
	int64_t		 reconnect_ms;	/* --reconnect; -1: semd's grace + 5 s */
	struct semd_grant grant;	/* what we hold, once granted */
	int		 jobserver;	/* --jobserver: JOBSERVER_PIPE/FIFO + 1 */
	struct jobserver *js;		/* --jobserver: the top, for CMD */
	struct jobserver *jsc;		/* make's, when we run in a recipe */
	int		 interrupted;	/* a signal ended the wait */
	int		 killed;	/* a signal ended CMD */

	struct semd	*semd;
	struct semrun_wait wait;	/* -v: position and estimate */
	int		 caught[SEMRUN_NSIGNALS];	/* handler installed */
	sigset_t	 oldmask;
};

static int	semrun_sigpipe[2] = { -1, -1 };

extern char	**environ;	/* CMD's, with SEMD_FD set */

static void	semrun_synopsis(FILE *);
/* A usage error, printed even with -q; exits EX_USAGE (usage.h). */
#define semrun_usage_error(...)						\
	usage_error("semrun", semrun_synopsis, __VA_ARGS__)
static int	semrun_help(void);
static int	semrun_reclaim(struct semrun *, pid_t);
static void	semrun_stop(pid_t, const struct sigrec *);
static void	semrun_msg(struct semrun *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* Print one line to stderr unless -q was given. */
static void
semrun_msg(struct semrun *sr, const char *fmt, ...)
{
	va_list	ap;

	if (sr->quiet)
		return;
	va_start(ap, fmt);
	fputs("semrun: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Print the synopsis to f, as in semrun(1). */
static void
semrun_synopsis(FILE *f)
{
	fputs(
"usage: semrun [-Knqv] [-E code] [--jobserver [--jobserver-style=style]]\n"
"              [--kill-after=seconds] [--on-daemon-loss=action]\n"
"              [--on-revoke=action] [--reconnect=seconds] [-S path]\n"
"              [-t seconds] [-w [name=]weight] [--rate=[name=]rate]\n"
"              [--burst=[name=]burst] name [capacity] [name [capacity] ...]\n"
"              -- command [arg ...]\n"
"       semrun -h | -V\n", f);
}

/* Print the help to stdout.  Returns 0, or EX_IOERR if it failed. */
static int
semrun_help(void)
{
	semrun_synopsis(stdout);
	fputs(
"\n"
"Run CMD while holding a slot of the semd semaphore NAME, which has\n"
"CAPACITY slots: at most CAPACITY such commands run at once, the others\n"
"wait in line (first come, first served).  Without CAPACITY, join NAME\n"
"at the capacity semd has for it (declared in its configuration, or set\n"
"by whoever uses it now).  With several NAMEs, CMD runs holding a slot\n"
"of each, all taken at once (never one without the others, so commands\n"
"naming them in any order cannot deadlock).\n"
"\n"
"  -t, --timeout=SECONDS       give up after SECONDS (fractions allowed)\n"
"  -n, --no-wait               give up at once if no slot is free\n"
"  -w, --weight=[NAME=]N       take N slots instead of 1 (of NAME only)\n"
"      --rate=[NAME=]RATE      declare a rate: at most RATE grants per\n"
"                              second (10/s, 0.5/s, 30/min, 100/h); a\n"
"                              NAME with a rate and no CAPACITY has no\n"
"                              concurrency bound, only the rate\n"
"      --burst=[NAME=]N        with --rate, N grants may pass at once\n"
"                              after an idle spell (default 1)\n"
"  -S, --socket=PATH           semd socket (default: $SEMD_SOCKET, else the\n"
"                              system daemon if it runs, else the per-user\n"
"                              daemon, started when needed)\n"
"  -E, --conflict-exit-code=N  exit status when not granted (default 75)\n"
"  -K, --on-daemon-loss=terminate\n"
"                              if semd goes away while CMD runs and the\n"
"                              slot cannot be reclaimed, terminate CMD\n"
"                              (SIGTERM, later SIGKILL) and exit 76; the\n"
"                              default, 'continue', lets CMD finish\n"
"      --reconnect=SECONDS     when semd goes away, try this long to reach\n"
"                              the one that takes over and reclaim the slot\n"
"                              (default: its grace period plus 5 s; 0: do\n"
"                              not try)\n"
"      --on-revoke=ACTION      if an administrator revokes the slot while\n"
"                              CMD runs: 'terminate' (the default) sends\n"
"                              SIGTERM to CMD, later SIGKILL; 'ignore'\n"
"                              only warns\n"
"      --kill-after=SECONDS    with -K or a revoke, send SIGKILL SECONDS\n"
"                              after SIGTERM if CMD still runs (default 5)\n"
"      --jobserver             run CMD (make, without -j) as the top of a\n"
"                              jobserver whose job slots are slots of NAME\n"
"      --jobserver-style=STYLE pipe (make 4.3 and later, the default) or\n"
"                              fifo (make 4.4, ninja 1.13)\n"
"  -v, --verbose               say when waiting: the queue position, and\n"
"                              about how long from recent hold times,\n"
"                              again when the position changes\n"
"                              and when the slot is granted\n"
"  -q, --quiet                 print no messages except usage errors\n"
"  -h, --help                  show this help and exit\n"
"  -V, --version               show the version and exit\n"
"\n"
"CMD inherits the connection to semd as file descriptor $SEMD_FD, so the\n"
"slot stays held until CMD exits even if semrun is killed.  $SEMD_TOKEN\n"
"is the grant's token (what semdctl and the daemon's logs call it).\n"
"Run in a make recipe, semrun lends its job slot back to make while it\n"
"waits.\n"
"\n"
"Exit status:\n"
"  CMD's status  CMD ran and exited\n"
"  128+N         CMD was killed by signal N, or semrun got signal N while\n"
"                waiting (the request is withdrawn)\n"
"  75            not granted in time (-t, -n; see -E), or a daemon limit\n"
"                was reached (too many connections...): try again later\n"
"  76            semd went away while waiting (CMD was not run), or\n"
"                while CMD ran with -K (CMD was terminated)\n"
"  64            usage error\n"
"  65            semd refused the request (capacity or rate mismatch,\n"
"                weight above capacity, bad name)\n"
"  77            semd's access rules do not let this user take NAME\n"
"  69            semd is unreachable\n"
"  70            internal or protocol error\n"
"  126           CMD was found but could not be executed\n"
"  127           CMD was not found\n", stdout);
	return (fflush(stdout) == 0 ? 0 : EX_IOERR);
}

/* The signal handler: record the signal on the self-pipe. */
static void
semrun_signal_cb(int signo, siginfo_t *si, void *ctx)
{
	struct sigrec	rec;
	int		saved_errno = errno;
	ssize_t		n;

	(void)ctx;
	memset(&rec, 0, sizeof rec);
	rec.signo = signo;
	rec.code = si != NULL ? si->si_code : SI_USER;
	rec.pid = si != NULL ? si->si_pid : 0;
	/* Atomic (< PIPE_BUF); if the pipe is full, the signal is dropped. */
	n = write(semrun_sigpipe[1], &rec, sizeof rec);
	(void)n;
	errno = saved_errno;
}

/* Set O_NONBLOCK and FD_CLOEXEC on fd.  Returns 0 or -1. */
static int
semrun_fd_setup(int fd)
{
	int	fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return (-1);
	if ((fl = fcntl(fd, F_GETFD)) == -1 ||
	    fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == -1)
		return (-1);
	return (0);
}

/*
 * Create the self-pipe and catch the signals in semrun_signals, except
 * those that were ignored when we started: they stay ignored.  No
 * SA_RESTART, so blocking calls return EINTR and the loop notices.
 */
static void
semrun_signals_init(struct semrun *sr)
{
	struct sigaction	sa, old;
	size_t			i;

	if (pipe(semrun_sigpipe) == -1 ||
	    semrun_fd_setup(semrun_sigpipe[0]) == -1 ||
	    semrun_fd_setup(semrun_sigpipe[1]) == -1) {
		fprintf(stderr, "semrun: pipe: %s\n", strerror(errno));
		exit(EX_OSERR);
	}

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = semrun_signal_cb;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < SEMRUN_NSIGNALS; i++) {
		if (sigaction(semrun_signals[i].signo, NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			continue;
		if (sigaction(semrun_signals[i].signo, &sa, NULL) == 0)
			sr->caught[i] = 1;
	}
	/* A blocked signal would never wake us: unblock ours. */
	sigemptyset(&old.sa_mask);
	for (i = 0; i < SEMRUN_NSIGNALS; i++) {
		if (sr->caught[i])
			sigaddset(&old.sa_mask, semrun_signals[i].signo);
	}
	sigprocmask(SIG_UNBLOCK, &old.sa_mask, &sr->oldmask);
}

/* Flags of signo in semrun_signals, 0 when not ours. */
static int
semrun_signal_flags(int signo)
{
	size_t	i;

	for (i = 0; i < SEMRUN_NSIGNALS; i++) {
		if (semrun_signals[i].signo == signo)
			return (semrun_signals[i].flags);
	}
	return (0);
}

/*
 * Read the next signal record from the self-pipe.  Returns 1 with *rec
 * filled, 0 when there is none.
 */
static int
semrun_signal_next(struct sigrec *rec)
{
	ssize_t	n;

	for (;;) {
		n = read(semrun_sigpipe[0], rec, sizeof *rec);
		if (n == (ssize_t)sizeof *rec)
			return (1);
		if (n == -1 && errno == EINTR)
			continue;
		return (0);
	}
}

/* Parse SECONDS of option what into milliseconds (rounded up) or exit. */
static int64_t
semrun_parse_seconds(const char *s, const char *what)
{
	double	 secs, ms;
	char	*end;
	int64_t	 v;
	int	 tiny = 0;

	errno = 0;
	secs = strtod(s, &end);
	/*
	 * ERANGE is an overflow (too long, below) or an underflow: a
	 * positive number too small for a double, such as 1e-400, which is
	 * the smallest timeout there is, 1 ms (timeouts are rounded up).
	 */
	if (errno == ERANGE && secs < 1.0 && secs > -1.0 && *s != '-') {
		tiny = 1;
		secs = 0;
		errno = 0;
	}
	if (errno == ERANGE && secs > 0)
		semrun_usage_error("%s is too long (ten years at most): "
		    "'%s'", what, s);
	/* "!(secs >= 0)" also rejects NaN; hex and "inf" are refused. */
	if (*s == '\0' || *end != '\0' || errno == ERANGE ||
	    strpbrk(s, "xXnN") != NULL || !(secs >= 0))
		semrun_usage_error("%s must be a number of seconds: '%s'",
		    what, s);
	if (secs > SEMRUN_MAX_SECONDS)
		semrun_usage_error("%s is too long (ten years at most): "
		    "'%s'", what, s);
	ms = secs * 1000.0;
	v = (int64_t)ms;
	if ((double)v < ms || (tiny && v == 0))
		v++;
	return (v);
}

/*
 * Parse arg of option opt, which must be word a or word b, into va or vb,
 * or exit with "OPT must be 'A' or 'B': 'ARG'".
 */
static int
semrun_parse_choice(const char *arg, const char *opt, const char *a, int va,
    const char *b, int vb)
{
	if (strcmp(arg, a) == 0)
		return (va);
	if (strcmp(arg, b) != 0)
		semrun_usage_error("%s must be '%s' or '%s': '%s'", opt, a, b,
		    arg);
	return (vb);
}

/* Parse the -E exit code, 0 to 255, or exit. */
static int
semrun_parse_exit_code(const char *arg)
{
	char	*end;
	long	 code;

	errno = 0;
	code = strtol(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || errno != 0 || code < 0 ||
	    code > 255)
		semrun_usage_error("conflict exit code must be 0 to 255: '%s'",
		    arg);
	return ((int)code);
}

/* Print --version and exit. */
static void
semrun_version(void)
{
	printf("semrun (semd) %s, libsemd %s\n", PACKAGE_VERSION,
	    semd_version());
	exit(fflush(stdout) == 0 ? 0 : EX_IOERR);
}

/*
 * Parse the options before the names into sr (defaults first), or exit.
 * Leaves optind at the first name.
 */
static void
semrun_parse_options(struct semrun *sr, int argc, char **argv)
{
	char	why[256];
	int	ch, nowait = 0, style = JOBSERVER_PIPE;

	sr->timeout_ms = SEMD_FOREVER;
	sr->conflict = SEMRUN_CONFLICT;
	sr->kill_after_ms = SEMRUN_KILL_AFTER_MS;
	sr->reconnect_ms = -1;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:t:nw:S:E:KvqhV",
	    semrun_longopts, NULL)) != -1) {
		switch (ch) {
		case 't':
			sr->timeout_ms = semrun_parse_seconds(optarg,
			    "timeout");
			sr->timeout_arg = optarg;
			break;
		case 'n':
			nowait = 1;
			break;
		case 'w':
		case SEMRUN_OPT_RATE:
		case SEMRUN_OPT_BURST:
			if (semrun_sems_option(&sr->sems, ch == 'w' ? 'w' :
			    ch == SEMRUN_OPT_RATE ? 'r' : 'b', optarg, why,
			    sizeof why) == -1)
				semrun_usage_error("%s", why);
			break;
		case 'S':
			if (*optarg == '\0')
				semrun_usage_error("empty socket path");
			sr->socket = optarg;
			break;
		case 'E':
			sr->conflict = semrun_parse_exit_code(optarg);
			break;
		case 'K':
			sr->terminate = 1;
			break;
		case SEMRUN_OPT_ON_LOSS:
			sr->terminate = semrun_parse_choice(optarg,
			    "--on-daemon-loss", "continue", 0, "terminate", 1);
			break;
		case SEMRUN_OPT_ON_REVOKE:
			sr->revoke_ignore = semrun_parse_choice(optarg,
			    "--on-revoke", "terminate", 0, "ignore", 1);
			break;
		case SEMRUN_OPT_RECONNECT:
			sr->reconnect_ms = semrun_parse_seconds(optarg,
			    "--reconnect");
			break;
		case SEMRUN_OPT_KILL_AFTER:
			sr->kill_after_ms = semrun_parse_seconds(optarg,
			    "--kill-after");
			break;
		case SEMRUN_OPT_JOBSERVER:
			sr->jobserver = 1;
			break;
		case SEMRUN_OPT_JS_STYLE:
			style = semrun_parse_choice(optarg, "--jobserver-style",
			    "pipe", JOBSERVER_PIPE, "fifo", JOBSERVER_FIFO);
			break;
		case 'v':
		case 'q':
			sr->verbose = ch == 'v';
			sr->quiet = ch == 'q';
			break;
		case 'h':
			exit(semrun_help());
		case 'V':
			semrun_version();
			break;
		default:	/* ':' or '?' */
			usage_bad_option("semrun", semrun_synopsis, ch,
			    argv[optind - 1], optopt);
		}
	}
	if (nowait)
		sr->timeout_ms = SEMD_TRY;
	if (sr->jobserver)
		sr->jobserver = style + 1;
}

/*
 * Parse the names and capacities from optind, then "--" and CMD, into sr,
 * or exit.  The options are parsed already.
 */
static void
semrun_parse_operands(struct semrun *sr, int argc, char **argv)
{
	char	why[256];

	if (semrun_sems_parse(&sr->sems, argc, argv, &optind, why,
	    sizeof why) == -1)
		semrun_usage_error("%s", why);
	sr->name = sr->sems.label;
	if (sr->jobserver && sr->sems.n != 1)
		semrun_usage_error("--jobserver lends the slots of one NAME: "
		    "give one");
	if (sr->jobserver && sr->sems.v[0].weight != 1)
		semrun_usage_error("--jobserver takes one slot per job: no "
		    "--weight");

	if (optind >= argc)
		semrun_usage_error("expected -- after the names and "
		    "capacities");
	optind++;
	if (optind >= argc)
		semrun_usage_error("missing CMD after --");
	sr->cmd = argv + optind;
}

/* Parse the command line into sr, or exit. */
static void
semrun_parse(struct semrun *sr, int argc, char **argv)
{
	semrun_parse_options(sr, argc, argv);
	semrun_parse_operands(sr, argc, argv);
}

/* Exit status for a library error: 65, 69, 70, 75, 77 or 64. */
static int
semrun_error_status(const struct semd_error *err)
{
	if (tool_unreachable(err))
		return (EX_UNAVAILABLE);
	switch (err->code) {
	case SEMD_E_DENIED:
		return (SEMRUN_DENIED);
	case SEMD_E_BAD_NAME:
	case SEMD_E_NO_CAPACITY:
	case SEMD_E_CAPACITY_MISMATCH:
	case SEMD_E_RATE_MISMATCH:
	case SEMD_E_TOO_HEAVY:
		return (EX_DATAERR);
	case SEMD_E_LIMIT:
		/* A daemon limit: try again later, as after a timeout. */
		return (EX_TEMPFAIL);
	case SEMD_E_USAGE:
		return (EX_USAGE);
	default:
		return (EX_SOFTWARE);
	}
}

/*
 * Print err (unless -q) and return the exit status it maps to.  The
 * daemon's and the library's messages are sentences naming what is
 * wrong; they are printed as they are.
 */
static int
semrun_fail(struct semrun *sr, const struct semd_error *err)
{
	if (err->message[0] != '\0')
		semrun_msg(sr, "%s", err->message);
	else
		semrun_msg(sr, "%s: %s", sr->name, semd_strerror(err->code));
	return (semrun_error_status(err));
}

/* Tell the user (unless -q) that the slot was not granted in time. */
static int
semrun_conflict(struct semrun *sr)
{
	if (sr->timeout_ms == SEMD_TRY)
		semrun_msg(sr, "%s: no free slot (--no-wait)", sr->name);
	else
		semrun_msg(sr, "%s: no slot within %s seconds", sr->name,
		    sr->timeout_arg != NULL ? sr->timeout_arg : "?");
	return (sr->conflict);
}

/*
 * Wait for the connection to be readable (or writable when the library
 * has output queued), or for a signal record.  timeout_ms: -1 forever.
 * Returns the poll revents of the connection; *sig is set when the
 * self-pipe is readable.  -1 on poll failure.
 */
static int
semrun_poll(struct semrun *sr, int timeout_ms, int *sig)
{
	struct pollfd	pfd[2];
	int		n;

	pfd[0].fd = semd_fd(sr->semd);
	pfd[0].events = POLLIN;
	if (semd_want_write(sr->semd))
		pfd[0].events |= POLLOUT;
	pfd[0].revents = 0;
	pfd[1].fd = semrun_sigpipe[0];
	pfd[1].events = POLLIN;
	pfd[1].revents = 0;

	n = poll(pfd, 2, timeout_ms);
	if (n == -1 && errno != EINTR)
		return (-1);
	*sig = n > 0 && (pfd[1].revents & POLLIN);
	return (n > 0 ? pfd[0].revents : 0);
}

/*
 * Withdraw the pending ACQUIRE id after signal signo and wait (a bounded
 * time) for the daemon to confirm, so that when semrun exits the daemon
 * has already forgotten the request.  If the daemon granted it first,
 * the slot is given back when the connection closes.  Returns the exit
 * status, 128+signo.
 */
static int
semrun_withdraw(struct semrun *sr, uint64_t id, int signo)
{
	struct semd_event	ev;
	struct semd_error	err;
	int64_t			deadline;
	int			revents, sig, n, left;

	sr->interrupted = 1;
	if (semd_submit_withdraw(sr->semd, id, &err) != SEMD_OK)
		return (128 + signo);
	deadline = monoclock_ms() + SEMRUN_WITHDRAW_MS;
	for (;;) {
		left = (int)(deadline - monoclock_ms());
		if (left <= 0)
			break;
		revents = semrun_poll(sr, left, &sig);
		if (revents == -1)
			break;
		if (revents & POLLOUT) {
			if (semd_flush(sr->semd, &err) != 0)
				break;
		}
		if ((revents & (POLLIN|POLLHUP|POLLERR)) == 0)
			continue;
		while ((n = semd_process(sr->semd, &ev, &err)) == 1) {
			if (semrun_wait_event(&sr->wait, &ev))
				continue;
			if (ev.type == SEMD_EV_STATUS)
				semd_status_free(ev.status);
			if (ev.id != id)
				continue;
			/*
			 * TIMEOUT: withdrawn.  ERROR: NOT_PENDING, after
			 * ACQUIRED or TIMEOUT.  ACQUIRED: granted before the
			 * daemon read the withdrawal; closing releases it.
			 */
			if (ev.type == SEMD_EV_TIMEOUT ||
			    ev.type == SEMD_EV_ERROR ||
			    ev.type == SEMD_EV_ACQUIRED)
				return (128 + signo);
		}
		if (n == -1)
			break;
	}
	return (128 + signo);
}

/* Say (-v) what was granted: weight of capacity for each name. */
static void
semrun_verbose_granted(struct semrun *sr)
{
	const struct semd_want	*w;
	char			 buf[1024];
	size_t			 i, used = 0;
	int			 n;

	buf[0] = '\0';
	for (i = 0; i < sr->sems.n && used < sizeof buf; i++) {
		w = &sr->sems.v[i];
		if (w->capacity != 0)
			n = snprintf(buf + used, sizeof buf - used, "%s%s "
			    "(weight %" PRIu32 " of %" PRIu32 ")",
			    i > 0 ? ", " : "", w->name, w->weight,
			    w->capacity);
		else
			n = snprintf(buf + used, sizeof buf - used, "%s%s "
			    "(weight %" PRIu32 ")", i > 0 ? ", " : "",
			    w->name, w->weight);
		used += n > 0 ? (size_t)n : 0;
	}
	semrun_msg(sr, "acquired %s", buf);
}

/*
 * Act on the signals that came while semrun_acquire waited for request
 * id.  Returns 1 with *statusp set when one ended the wait (the request
 * is withdrawn), 0 to wait on.
 */
static int
semrun_acquire_signals(struct semrun *sr, uint64_t id, int *statusp)
{
	struct sigrec	rec;

	while (semrun_signal_next(&rec)) {
		if (semrun_signal_flags(rec.signo) & SEMRUN_STOPS)
			semrun_stop(0, &rec);
		if (semrun_signal_flags(rec.signo) & SEMRUN_TERMINATES) {
			semrun_wait_stop(&sr->wait);
			if (sr->verbose)
				semrun_msg(sr, "%s: interrupted by signal %d, "
				    "withdrawing", sr->name, rec.signo);
			*statusp = semrun_withdraw(sr, id, rec.signo);
			return (1);
		}
	}
	return (0);
}

/*
 * Act on event ev while semrun_acquire waits for request id.  Returns 1
 * with *statusp set when the wait is over (SEMRUN_GRANTED, or the exit
 * status semrun must end with), 0 to wait on.
 */
static int
semrun_acquire_event(struct semrun *sr, uint64_t id, struct semd_event *ev,
    int *statusp)
{
	if (semrun_wait_event(&sr->wait, ev))
		return (0);
	if (ev->type == SEMD_EV_STATUS)
		semd_status_free(ev->status);
	/* An ERROR with id 0 is about the whole connection. */
	if (ev->id != id && !(ev->type == SEMD_EV_ERROR && ev->id == 0))
		return (0);
	switch (ev->type) {
	case SEMD_EV_QUEUED:
		if (sr->jsc != NULL)
			jobserver_lend(sr->jsc);
		/* One name: follow the position (-v). */
		if (sr->verbose && !sr->quiet && sr->sems.n == 1)
			semrun_wait_start(&sr->wait, stderr, sr->semd,
			    sr->sems.v[0].name, sr->sems.v[0].weight,
			    ev->position, monoclock_ms());
		else if (sr->verbose)
			semrun_msg(sr, "waiting for %s, position %" PRIu32,
			    sr->name, ev->position);
		return (0);
	case SEMD_EV_ACQUIRED:
		/*
		 * The handle of the grant: its token gives back every
		 * semaphore of it at once.
		 */
		snprintf(sr->grant.name, sizeof sr->grant.name, "%s",
		    sr->sems.v[0].name);
		sr->grant.capacity = sr->sems.v[0].capacity;
		sr->grant.weight = sr->sems.v[0].weight;
		sr->grant.token = ev->token;
		semrun_wait_stop(&sr->wait);
		if (sr->verbose)
			semrun_verbose_granted(sr);
		*statusp = SEMRUN_GRANTED;
		return (1);
	case SEMD_EV_TIMEOUT:
		*statusp = semrun_conflict(sr);
		return (1);
	case SEMD_EV_ERROR:
		*statusp = semrun_fail(sr, &ev->error);
		return (1);
	default:
		return (0);
	}
}

/*
 * The connection failed (err) while semrun_acquire waited.  Returns 1
 * when semd came back (--reconnect) and the request must be made anew,
 * 0 with *statusp set to the exit status semrun must end with.
 */
static int
semrun_acquire_lost(struct semrun *sr, struct semd_error *err, int *statusp)
{
	if (err->code != SEMD_E_DISCONNECTED) {
		*statusp = semrun_fail(sr, err);
		return (0);
	}
	*statusp = SEMRUN_LOST;
	if (sr->reconnect_ms == 0) {
		semrun_msg(sr, "semd died while we waited for %s; CMD was not "
		    "run", sr->name);
		return (0);
	}
	/* Ask the daemon that takes over; in line anew. */
	semd_set_reconnect_ms(sr->semd, sr->reconnect_ms);
	if (semd_reconnect(sr->semd, err) == SEMD_OK) {
		if (sr->verbose)
			semrun_msg(sr, "semd restarted while we waited for "
			    "%s; asking again (the place in line is lost)",
			    sr->name);
		return (1);
	}
	semrun_msg(sr, "semd died while we waited for %s and did not come "
	    "back; CMD was not run", sr->name);
	return (0);
}

/*
 * Ask for the slot and wait.  Returns SEMRUN_GRANTED when it is held, or
 * the exit status semrun must end with (which may be 0, with -E 0).
 */
static int
semrun_acquire(struct semrun *sr)
{
	struct semd_event	ev;
	struct semd_error	err;
	uint64_t		id;
	int			revents, sig, n, status;

	memset(&err, 0, sizeof err);
again:
	if (semd_submit_acquire_many(sr->semd, &id, sr->sems.v, sr->sems.n,
	    sr->timeout_ms, &err) != SEMD_OK)
		return (semrun_fail(sr, &err));

	for (;;) {
		revents = semrun_poll(sr, semrun_wait_timeout(&sr->wait,
		    monoclock_ms()), &sig);
		if (revents == -1) {
			semrun_msg(sr, "poll: %s", strerror(errno));
			return (EX_OSERR);
		}
		semrun_wait_tick(&sr->wait, monoclock_ms());
		if (sig && semrun_acquire_signals(sr, id, &status))
			return (status);
		if (revents & POLLOUT) {
			if (semd_flush(sr->semd, &err) != 0)
				return (semrun_fail(sr, &err));
		}
		if ((revents & (POLLIN|POLLHUP|POLLERR)) == 0)
			continue;
		while ((n = semd_process(sr->semd, &ev, &err)) == 1) {
			if (semrun_acquire_event(sr, id, &ev, &status))
				return (status);
		}
		if (n == -1) {
			if (semrun_acquire_lost(sr, &err, &status))
				goto again;
			return (status);
		}
	}
}

/*
 * Take back the job slot lent to make while we waited (jobserver.c), so
 * that make has as many tokens as before, whether CMD runs or not.  Waits
 * until make has a token to spare, unless a terminating signal ended the
 * wait or comes now: then only a token there already is taken.  Returns
 * status (semrun_acquire()'s), or 128+N after signal N.
 */
static int
semrun_unlend(struct semrun *sr, int status)
{
	struct sigrec	rec;
	int		sig;

	if (sr->jsc == NULL)
		return (status);
	while (!sr->interrupted && jobserver_lent(sr->jsc) &&
	    jobserver_take(sr->jsc, semrun_sigpipe[0], -1) == -1) {
		sig = 0;
		while (semrun_signal_next(&rec)) {
			if (semrun_signal_flags(rec.signo) & SEMRUN_TERMINATES)
				sig = rec.signo;
		}
		if (sig != 0) {
			sr->interrupted = 1;
			status = 128 + sig;
		}
	}
	/*
	 * After a signal, do not wait for make to have a token to spare:
	 * mostly make is being interrupted too (^C reaches the whole
	 * process group), and it waits for us before it exits.
	 */
	if (sr->interrupted && jobserver_lent(sr->jsc) &&
	    jobserver_take(sr->jsc, -1, 0) != 1)
		jobserver_abandon(sr->jsc);
	jobserver_free(sr->jsc);
	sr->jsc = NULL;
	return (status);
}

/*
 * The file execvp(3) would have found for cmd and failed to run with
 * ENOEXEC: cmd itself when it has a slash, else the first regular file
 * we may execute in $PATH (glibc's default "/bin:/usr/bin" when unset;
 * an empty entry is the current directory), as the search before it
 * only passes over missing and unexecutable files.  Returns a malloc'ed
 * path, or NULL.
 */
static char *
semrun_script_path(const char *cmd)
{
	struct stat	 st;
	const char	*path, *p, *end;
	char		*buf;
	size_t		 len, dirlen;

	if (strchr(cmd, '/') != NULL)
		return (strdup(cmd));
	if ((path = getenv("PATH")) == NULL)
		path = "/bin:/usr/bin";
	len = strlen(path) + strlen(cmd) + 2;
	if ((buf = malloc(len)) == NULL)
		return (NULL);
	for (p = path;; p = end + 1) {
		if ((end = strchr(p, ':')) == NULL)
			end = p + strlen(p);
		dirlen = (size_t)(end - p);
		if (dirlen == 0)
			snprintf(buf, len, "%s", cmd);
		else
			snprintf(buf, len, "%.*s/%s", (int)dirlen, p, cmd);
		if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) &&
		    faccessat(AT_FDCWD, buf, X_OK, AT_EACCESS) == 0)
			return (buf);
		if (*end == '\0')
			break;
	}
	free(buf);
	return (NULL);
}

/*
 * Start CMD as pid with the signals as semrun found them, and with its
 * environment (SEMD_FD included).  posix_spawnp(3) runs the child in our
 * memory until it execs (glibc: clone(CLONE_VM|CLONE_VFORK)), so no page
 * tables are copied as fork(2) does, and it returns the exec error
 * itself.  Returns 0, or the errno of the failure.
 */
static int
semrun_spawn(struct semrun *sr, pid_t *pid)
{
	posix_spawnattr_t	  attr;
	sigset_t		  dfl;
	char			**argv, *file;
	size_t			  i, argc;
	int			  e;

	/*
	 * The signals we catch get their default action (exec would do it
	 * anyway; this says so before it too, so none of our handlers can
	 * run in the child).  Those ignored at start were not caught: they
	 * stay ignored.  The mask is the one semrun started with.  (glibc
	 * also leaves its own two signals, 32 and 33, ignored in CMD: no
	 * glibc program sees them, and glibc sets them up when it uses
	 * them.)
	 */
	sigemptyset(&dfl);
	for (i = 0; i < SEMRUN_NSIGNALS; i++) {
		if (sr->caught[i])
			sigaddset(&dfl, semrun_signals[i].signo);
	}
	if ((e = posix_spawnattr_init(&attr)) != 0)
		return (e);
	if ((e = posix_spawnattr_setflags(&attr,
	    POSIX_SPAWN_SETSIGDEF|POSIX_SPAWN_SETSIGMASK)) != 0 ||
	    (e = posix_spawnattr_setsigdefault(&attr, &dfl)) != 0 ||
	    (e = posix_spawnattr_setsigmask(&attr, &sr->oldmask)) != 0)
		goto out;

	e = posix_spawnp(pid, sr->cmd[0], NULL, &attr, sr->cmd, environ);
	if (e != ENOEXEC)
		goto out;

	/*
	 * A file in no format the kernel runs: execvp(3) hands it to
	 * /bin/sh as a script without #!, and so do we, with the same
	 * arguments ("/bin/sh FILE ARG..."), which posix_spawnp() does not
	 * do.  If the shell cannot be run, CMD's own ENOEXEC is reported.
	 */
	for (argc = 0; sr->cmd[argc] != NULL; argc++)
		continue;
	if ((argv = calloc(argc + 2, sizeof *argv)) == NULL)
		goto out;
	if ((file = semrun_script_path(sr->cmd[0])) != NULL) {
		argv[0] = (char *)_PATH_BSHELL;
		argv[1] = file;
		for (i = 1; i < argc; i++)
			argv[i + 1] = sr->cmd[i];
		if (posix_spawn(pid, _PATH_BSHELL, NULL, &attr, argv,
		    environ) == 0)
			e = 0;
		free(file);
	}
	free(argv);
out:
	posix_spawnattr_destroy(&attr);
	return (e);
}

/* Forward a signal record to CMD (pid) when it was sent to semrun alone. */
static void
semrun_forward(pid_t pid, const struct sigrec *rec)
{
	if ((semrun_signal_flags(rec->signo) & SEMRUN_FORWARDS) == 0)
		return;
	/*
	 * The terminal (SI_KERNEL) signals the whole foreground process
	 * group, CMD included: sending it again would deliver it twice.
	 * Nor bounce back what CMD itself sent us.
	 */
	if (rec->code == SI_KERNEL || rec->pid == pid)
		return;
	kill(pid, rec->signo);
}

/*
 * A job-control stop (SIGTSTP, SIGTTIN, SIGTTOU) came: forward it to CMD
 * (pid; 0 before CMD runs) when it was sent to semrun alone, then stop
 * semrun itself, as the default action would have, until SIGCONT.  So a
 * stopped semrun never leaves its CMD running (and then a zombie holding
 * the slot); a stopped CMD keeps its slot, as a stopped process keeps a
 * flock.
 */
static void
semrun_stop(pid_t pid, const struct sigrec *rec)
{
	struct sigaction	sa, old;

	if (pid > 0)
		semrun_forward(pid, rec);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	if (sigaction(rec->signo, &sa, &old) == -1)
		return;
	raise(rec->signo);	/* stopped here until SIGCONT */
	sigaction(rec->signo, &old, NULL);
}

/*
 * The daemon revoked the slot while CMD (pid) runs (semdctl revoke, or
 * a cluster semaphore whose etcd lease was lost): apply
 * --on-revoke.  terminate: SIGTERM to CMD now, SIGKILL at *kill_at; the
 * slot is given back as usual once CMD has exited.  ignore: warn only.
 */
static void
semrun_revoked(struct semrun *sr, pid_t pid, int64_t *kill_at)
{
	if (sr->revoked)
		return;
	sr->revoked = 1;
	if (sr->revoke_ignore) {
		semrun_msg(sr, "warning: semd revoked the slot of %s (an "
		    "administrator, or a lost cluster lease); CMD (%s, pid %ld) "
		    "continues (--on-revoke=ignore)",
		    sr->name, sr->cmd[0], (long)pid);
		return;
	}
	semrun_msg(sr, "semd revoked the slot of %s (an administrator, or a "
	    "lost cluster lease); terminating CMD (%s, pid %ld)", sr->name,
	    sr->cmd[0], (long)pid);
	kill(pid, SIGTERM);
	if (*kill_at == -1)
		*kill_at = monoclock_ms() + sr->kill_after_ms;
}

/*
 * The daemon went away while CMD (pid) runs: connect to the one that
 * takes over and reclaim the slot (semd_reconnect), then let a new
 * keeper hold the new connection until CMD exits.  Returns 0 when the
 * slot is held again, or -1 with the reason in sr->lost_why.
 */
static int
semrun_reclaim(struct semrun *sr, pid_t pid)
{
	struct semd_error	 err;
	pid_t			 k;
	int64_t			 t0 = monoclock_ms();

	if (sr->verbose)
		semrun_msg(sr, "lost semd while CMD runs; reclaiming the slot "
		    "of %s (token %" PRIu64 ")", sr->name, sr->grant.token);
	memset(&err, 0, sizeof err);
	if (sr->grant.token == 0) {
		snprintf(sr->lost_why, sizeof sr->lost_why, "semd gave the "
		    "grant no token");
		return (-1);
	}
	semd_set_reconnect_ms(sr->semd, sr->reconnect_ms);
	if (semd_reconnect(sr->semd, &err) != SEMD_OK) {
		snprintf(sr->lost_why, sizeof sr->lost_why, "%s", err.message);
		return (-1);
	}
	sr->reclaims++;
	/* The new daemon shows CMD too (semdctl status). */
	(void)semd_submit_worker(sr->semd, pid, sr->cmd, &err);
	if (sr->verbose)
		semrun_msg(sr, "reclaimed the slot of %s from semd (pid %ld) "
		    "in %" PRId64 " ms", sr->name,
		    (long)semd_server_pid(sr->semd), monoclock_ms() - t0);
	if (sr->nkeepers < SEMRUN_MAX_KEEPERS &&
	    (k = keeper_start(semd_fd(sr->semd), pid)) != -1)
		sr->keepers[sr->nkeepers++] = k;
	return (0);
}

/*
 * While CMD (pid) runs, the connection became readable: nothing is asked
 * of the daemon then, so this is its end (the daemon exited or was
 * killed) or something to drop.  On the end, the slot no longer exists:
 * warn, and with -K send SIGTERM to CMD and set *kill_at to when SIGKILL
 * follows.  Clears *watch once the connection is of no more use, so that
 * the caller stops polling it.
 */
static void
semrun_watch(struct semrun *sr, pid_t pid, int *watch, int64_t *kill_at)
{
	struct semd_event	ev;
	struct semd_error	err;
	int			n;

	memset(&err, 0, sizeof err);
	while ((n = semd_process(sr->semd, &ev, &err)) == 1) {
		/* A late answer to -v's questions while we waited. */
		if (semrun_wait_event(&sr->wait, &ev))
			continue;
		if (sr->js != NULL)
			jobserver_event(sr->js, sr->semd, &ev);
		if (ev.type == SEMD_EV_STATUS)
			semd_status_free(ev.status);
		if (ev.type == SEMD_EV_REVOKED)
			semrun_revoked(sr, pid, kill_at);
	}
	if (n == 0)
		return;
	*watch = 0;
	if (err.code != SEMD_E_DISCONNECTED) {
		/* Still connected, so the slot is still held: go on. */
		semrun_msg(sr, "warning: %s", err.message);
		return;
	}
	if (sr->reconnect_ms != 0 && semrun_reclaim(sr, pid) == 0) {
		*watch = 1;
		if (sr->js != NULL)	/* its pending ACQUIRE is gone */
			jobserver_reconnected(sr->js);
		return;
	}
	sr->lost = 1;
	if (sr->reconnect_ms == 0) {
		/* --reconnect=0: not even tried. */
		semrun_msg(sr, "lost semd while CMD (%s, pid %ld) runs; the "
		    "slot of %s is no longer held, %s", sr->cmd[0], (long)pid,
		    sr->name, sr->terminate ? "terminating CMD" :
		    "CMD continues");
	} else
		semrun_msg(sr, "lost semd while CMD (%s, pid %ld) runs and "
		    "could not reclaim the slot of %s (%s); %s", sr->cmd[0],
		    (long)pid, sr->name, sr->lost_why, sr->terminate ?
		    "terminating CMD" : "CMD continues without it");
	if (!sr->terminate)
		return;
	kill(pid, SIGTERM);
	*kill_at = monoclock_ms() + sr->kill_after_ms;
}

/*
 * Let CMD inherit the connection fd (its close-on-exec flags before are
 * in *flp) and export SEMD_FD and SEMD_TOKEN.  Returns 0, or EX_OSERR
 * after a message.
 */
static int
semrun_run_env(struct semrun *sr, int fd, int *flp)
{
	char	buf[32];
	int	fl;

	if ((fl = fcntl(fd, F_GETFD)) == -1 ||
	    fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) == -1) {
		semrun_msg(sr, "fcntl: %s", strerror(errno));
		return (EX_OSERR);
	}
	*flp = fl;
	snprintf(buf, sizeof buf, "%d", fd);
	if (setenv("SEMD_FD", buf, 1) == -1) {
		semrun_msg(sr, "setenv: %s", strerror(errno));
		return (EX_OSERR);
	}
	/* The grant's token; none (an older semd) must not inherit ours. */
	snprintf(buf, sizeof buf, "%" PRIu64, sr->grant.token);
	if (sr->grant.token != 0 ? setenv("SEMD_TOKEN", buf, 1) :
	    unsetenv("SEMD_TOKEN")) {
		semrun_msg(sr, "setenv: %s", strerror(errno));
		return (EX_OSERR);
	}
	return (0);
}

/*
 * Start CMD into *pidp with fd inherited (fl: its flags to restore), then
 * name it the worker and start the keeper.  Returns 0, or the exit status
 * semrun must end with after a message.
 */
static int
semrun_run_start(struct semrun *sr, int fd, int fl, pid_t *pidp)
{
	struct semd_error	 err;
	struct sigaction	 sa;
	char			 cause[512];
	int			 e;

	/*
	 * SIGCHLD wakes semrun_run_wait (the self-pipe trick).  It must be
	 * caught, not ignored, or CMD would be reaped without its status;
	 * so CMD starts with its default action even if it was ignored.
	 */
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = semrun_signal_cb;
	sa.sa_flags = SA_SIGINFO|SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);

	if (sr->js != NULL &&
	    jobserver_export(sr->js, cause, sizeof cause) == -1) {
		semrun_msg(sr, "%s", cause);
		return (EX_OSERR);
	}
	e = semrun_spawn(sr, pidp);
	fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
	if (sr->js != NULL)
		jobserver_spawned(sr->js);
	if (e != 0) {
		/* Also a failed clone (EAGAIN, ENOMEM): it looks the same. */
		if (e == ENOENT && strchr(sr->cmd[0], '/') == NULL)
			semrun_msg(sr, "%s: command not found", sr->cmd[0]);
		else
			semrun_msg(sr, "%s: %s", sr->cmd[0], strerror(e));
		return (e == ENOENT ? SEMRUN_NOT_FOUND : SEMRUN_CANNOT_EXEC);
	}
	/* Status shows who does the work: CMD, not semrun. */
	memset(&err, 0, sizeof err);
	if (semd_submit_worker(sr->semd, *pidp, sr->cmd, &err) == -1 &&
	    sr->verbose)
		semrun_msg(sr, "warning: %s", err.message);
	/* From now on the slot stays held until CMD exits (keeper.c). */
	sr->keeper = keeper_start(fd, *pidp);
	if (sr->keeper == -1 && sr->verbose)
		semrun_msg(sr, "warning: cannot start the keeper (%s); the "
		    "slot is held by semrun and CMD only", strerror(errno));
	return (0);
}

/*
 * The poll timeout in ms (-1: none) while CMD pid runs: until *kill_at
 * (SIGKILL now and *kill_at = -1 when it is past), or the jobserver's
 * next look while watch is set.
 */
static int
semrun_run_timeout(struct semrun *sr, pid_t pid, int watch, int64_t *kill_at)
{
	int64_t	left;
	int	timeout = -1;

	if (*kill_at != -1) {
		left = *kill_at - monoclock_ms();
		if (left <= 0) {
			kill(pid, SIGKILL);
			*kill_at = -1;
		} else	/* Wake up hourly for long --kill-after. */
			timeout = left > 3600000 ? 3600000 : (int)left;
	}
	/* --jobserver: look at the token pipe now and then. */
	if (sr->js != NULL && watch &&
	    (timeout == -1 || jobserver_timeout(sr->js) < timeout))
		timeout = jobserver_timeout(sr->js);
	return (timeout);
}

/*
 * Wait for CMD pid into *statusp, forwarding signals, watching the
 * connection and ticking the jobserver.  Returns 0, or EX_OSERR after a
 * message.
 */
static int
semrun_run_wait(struct semrun *sr, pid_t pid, int *statusp)
{
	struct semd_error	 ferr;
	struct sigrec		 rec;
	struct pollfd		 pfd[2];
	int			 watch = 1, npfd, timeout;
	int64_t			 kill_at = -1;
	pid_t			 w;

	for (;;) {
		w = waitpid(pid, statusp, WNOHANG);
		if (w == pid)
			return (0);
		if (w == -1 && errno != EINTR) {
			semrun_msg(sr, "waitpid: %s", strerror(errno));
			return (EX_OSERR);
		}
		timeout = semrun_run_timeout(sr, pid, watch, &kill_at);
		pfd[0].fd = semrun_sigpipe[0];
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		npfd = 1;
		if (watch) {
			/* A reclaim (semrun_watch) changes it. */
			pfd[1].fd = semd_fd(sr->semd);
			pfd[1].events = POLLIN;
			if (semd_want_write(sr->semd))
				pfd[1].events |= POLLOUT;
			pfd[1].revents = 0;
			npfd = 2;
		}
		if (poll(pfd, npfd, timeout) == -1 && errno != EINTR) {
			semrun_msg(sr, "poll: %s", strerror(errno));
			return (EX_OSERR);
		}
		while (semrun_signal_next(&rec)) {
			if (semrun_signal_flags(rec.signo) & SEMRUN_STOPS)
				semrun_stop(pid, &rec);
			else if (rec.signo != SIGCHLD)
				semrun_forward(pid, &rec);
		}
		if (watch && (pfd[1].revents & POLLOUT))
			(void)semd_flush(sr->semd, &ferr);
		if (watch && (pfd[1].revents & (POLLIN|POLLHUP|POLLERR)))
			semrun_watch(sr, pid, &watch, &kill_at);
		if (sr->js != NULL && watch)
			jobserver_tick(sr->js, sr->semd);
	}
}

/*
 * Run CMD with the connection inherited and wait for it, watching the
 * connection for the loss of the daemon.  Returns the exit status semrun
 * must end with: CMD's status, 128+N if a signal killed it, 126 or 127
 * if it could not be executed, SEMRUN_LOST if -K terminated it.
 */
static int
semrun_run(struct semrun *sr)
{
	int	fd, fl, status, e;
	pid_t	pid;

	/* CMD inherits the connection: the slot is held while it runs. */
	fd = semd_fd(sr->semd);
	if ((e = semrun_run_env(sr, fd, &fl)) != 0 ||
	    (e = semrun_run_start(sr, fd, fl, &pid)) != 0 ||
	    (e = semrun_run_wait(sr, pid, &status)) != 0)
		return (e);

	if (sr->lost && sr->terminate)
		return (SEMRUN_LOST);
	if (WIFSIGNALED(status)) {
		sr->killed = 1;
		return (128 + WTERMSIG(status));
	}
	return (WEXITSTATUS(status));
}

/* --jobserver: create the token pipe for CMD.  Returns 0 or EX_OSERR. */
static int
semrun_jobserver(struct semrun *sr)
{
	char	cause[512];

	if ((sr->js = jobserver_create(sr->jobserver - 1, sr->sems.v[0].name,
	    sr->sems.v[0].capacity, sr->verbose, cause, sizeof cause)) ==
	    NULL) {
		semrun_msg(sr, "%s", cause);
		return (EX_OSERR);
	}
	if (jobserver_make_j(sr->cmd))
		semrun_msg(sr, "warning: make given -j ignores the jobserver "
		    "(\"resetting jobserver mode\"): leave -j out and let "
		    "--jobserver set the job count");
	return (0);
}

/*
 * Connect (or start) semd into sr->semd.  Returns 0, or the exit status
 * semrun must end with: a failure, or 128+N for a terminating signal
 * during connect or auto-start (as if it came while waiting).
 */
static int
semrun_connect(struct semrun *sr)
{
	struct semd_error	err;
	struct sigrec		rec;

	memset(&err, 0, sizeof err);
	sr->semd = semd_open(sr->socket, "semrun", 0, &err);
	while (semrun_signal_next(&rec)) {
		if (semrun_signal_flags(rec.signo) & SEMRUN_TERMINATES) {
			if (sr->semd != NULL)
				semd_close(sr->semd);
			return (128 + rec.signo);
		}
	}
	if (sr->semd == NULL)
		return (semrun_fail(sr, &err));
	return (0);
}

/*
 * After CMD: give the slot (and --jobserver's) back, close the
 * connection and reap the keepers.
 */
static void
semrun_finish(struct semrun *sr)
{
	struct semd_error	err;

	/*
	 * Give the slot back now: background children of CMD may still
	 * hold the descriptor, and they must not keep the slot.  If a
	 * signal interrupts the release, closing the connection gives the
	 * slot back just the same (unless CMD's children hold it open).
	 * A daemon that went away has nothing left to give back.
	 */
	memset(&err, 0, sizeof err);
	/*
	 * --jobserver: the slots behind tokens go back too, unless a signal
	 * killed the build: its jobs may still run, and they inherited the
	 * connection, so the slots stay held until they exit.
	 */
	if (sr->js != NULL && !sr->lost)
		jobserver_finish(sr->js, sr->semd, !sr->killed);
	if (!sr->lost && !(sr->js != NULL && sr->killed) &&
	    semd_release_h(sr->semd, &sr->grant, &err) != SEMD_OK &&
	    err.code != SEMD_E_INTERRUPTED && err.code != SEMD_E_DISCONNECTED)
		semrun_msg(sr, "warning: could not release %s: %s", sr->name,
		    *err.message != '\0' ? err.message :
		    semd_strerror(err.code));
	semd_close(sr->semd);
	keeper_reap(sr->keeper);
	jobserver_free(sr->js);
	while (sr->nkeepers > 0)
		keeper_reap(sr->keepers[--sr->nkeepers]);
}

int
main(int argc, char **argv)
{
	struct semrun	sr;
	int		status;

	/* Before anything opens a descriptor: see stdfds_open(). */
	if (stdfds_open() == -1)
		_exit(EX_OSERR);
	memset(&sr, 0, sizeof sr);
	semrun_parse(&sr, argc, argv);
	/* Before semrun opens a descriptor, which make's could be mistaken for. */
	if (sr.timeout_ms != SEMD_TRY)
		sr.jsc = jobserver_find(sr.verbose);
	semrun_signals_init(&sr);
	if (sr.jobserver && (status = semrun_jobserver(&sr)) != 0)
		return (status);
	if ((status = semrun_connect(&sr)) != 0)
		return (status);

	status = semrun_unlend(&sr, semrun_acquire(&sr));
	if (status != SEMRUN_GRANTED) {
		semd_close(sr.semd);
		jobserver_free(sr.js);
		return (status);
	}
	status = semrun_run(&sr);
	semrun_finish(&sr);
	return (status);
}
