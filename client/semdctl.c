/*
 * semdctl.c -- look at a running semd: main, the usage (the commands'
 * synopses are in semdctl_synopses), and status, ping, list and the
 * administrative commands; stats and metrics are in semdctl-stats.c,
 * watch in semdctl-watch.c.
 *
 * semdctl never starts a daemon: asking an idle per-user daemon into
 * existence just to report that it holds nothing would be pointless, so
 * when nothing listens it says so and exits 69 (EX_UNAVAILABLE) -- but
 * `status` on the per-user default reports "no semaphores in use" and
 * exits 0, which is the truth.
 */

#include "config.h"

#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "semd.h"
#include "semdctl.h"
#include "tool.h"

#define SEMDCTL_CMDLINE_SHOW	100	/* columns of it shown in the table */

/*
 * The synopsis of each command, as in semdctl(1).  A usage error in a
 * command shows that command's lines; --help and the other usage errors
 * show all.
 */
static const struct {
	const char	*cmd;		/* NULL: not a command */
	const char	*args;
} semdctl_synopses[] = {
	{ "status",	"[-v] [-S path] status [--json] [name]" },
	{ "ping",	"[-v] [-S path] ping" },
	{ "list",	"[-S path] list [--json]" },
	{ "resize",	"[-S path] resize name capacity" },
	{ "drain",	"[-S path] drain [--wait] name" },
	{ "undrain",	"[-S path] undrain name" },
	{ "revoke",	"[-S path] revoke name pid" },
	{ "revoke",	"[-S path] revoke name --token token" },
	{ "reload",	"[-S path] reload" },
	{ "stats",	"[-S path] stats [--json] [name]" },
	{ "metrics",	"[-S path] metrics [--http]" },
	{ "watch",	"[-S path] watch [-n secs] [name]" },
	{ NULL,		"-h | -V" },
};
#define SEMDCTL_NSYNOPSES \
	(sizeof semdctl_synopses / sizeof semdctl_synopses[0])

static const char	*semdctl_cmd;	/* the command, once main knows it */

/*
 * Print the synopsis of cmd to f: "usage: semdctl ..." and its other
 * lines under it.  NULL, or a command that does not exist: all of them.
 */
static void
semdctl_synopsis(FILE *f, const char *cmd)
{
	size_t	i, n = 0;
	int	all = 1;

	for (i = 0; i < SEMDCTL_NSYNOPSES && cmd != NULL; i++) {
		if (semdctl_synopses[i].cmd != NULL &&
		    strcmp(cmd, semdctl_synopses[i].cmd) == 0)
			all = 0;
	}
	for (i = 0; i < SEMDCTL_NSYNOPSES; i++) {
		if (!all && (semdctl_synopses[i].cmd == NULL ||
		    strcmp(cmd, semdctl_synopses[i].cmd) != 0))
			continue;
		fprintf(f, "%s semdctl %s\n", n++ == 0 ? "usage:" : "      ",
		    semdctl_synopses[i].args);
	}
}

/* Print the help to stdout.  Returns 0, or EX_IOERR if it failed. */
static int
semdctl_help(void)
{
	semdctl_synopsis(stdout, NULL);
	fputs(
"\n"
"Look at a running semd.\n"
"\n"
"Commands:\n"
"  status [--json] [NAME]  show capacity, holders and waiters of each\n"
"                          semaphore in use (or of NAME only)\n"
"  stats [--json] [NAME]   show grants, timeouts, withdrawals and the\n"
"                          p50/p90/p99 of wait and hold times\n"
"  metrics [--http]        print the figures in the Prometheus text\n"
"                          format; --http: serve them over HTTP on the\n"
"                          socket systemd passes (semd-metrics.socket)\n"
"  watch [-n SECS] [NAME]  a live view, like top; q or ^C quits\n"
"  ping                    exit 0 if semd answers, 69 if not\n"
"  list [--json]           every semaphore: capacity, held, waiting,\n"
"                          declared by the configuration, drained\n"
"\n"
"Administration (root, semd's own user, or an admin of the name in\n"
"semd's configuration; see semd(8)):\n"
"  resize NAME CAPACITY    change the capacity now: growing grants\n"
"                          waiters at once, shrinking takes nothing back\n"
"  drain [--wait] NAME     grant nothing more (waiters keep their place);\n"
"                          --wait returns once nothing is held\n"
"  undrain NAME            grant again\n"
"  revoke NAME PID         tell the holder with process id PID that its\n"
"                          grant is revoked (semrun stops its command)\n"
"  revoke NAME --token T   the same for the grant with token T\n"
"                          ($SEMD_TOKEN of the command)\n"
"  reload                  read semd's configuration file again\n"
"\n"
"Options:\n"
"  -S, --socket=PATH  semd socket (default: $SEMD_SOCKET, else the system\n"
"                     daemon's if it runs, else the per-user one)\n"
"  -v, --verbose      ping: say that semd answered\n"
"  -h, --help         show this help and exit\n"
"  -V, --version      show the version and exit\n"
"\n"
"-S, -v and -h may also follow the command.\n"
"\n"
"semdctl never starts semd.  With no per-user semd running, status says\n"
"no semaphores are in use (exit 0); an -S or SEMD_SOCKET that nobody\n"
"serves exits 69.\n"
"\n"
"Exit status: 0 success, 1 the action failed (no such semaphore,\n"
"nothing held by PID, bad configuration file), 64 usage error, 69 no\n"
"semd answering, 70 protocol or internal error, 74 output error, 75\n"
"a daemon limit (try again later), 77 denied by semd.\n", stdout);
	return (fflush(stdout) == 0 ? 0 : EX_IOERR);
}

/*
 * Print what a usage error shows after its message (semdctl_usage_error):
 * the synopsis of the command, all of it before a command is known.
 */
void
semdctl_usage(FILE *f)
{
	semdctl_synopsis(f, semdctl_cmd);
}

/* Exit status for a library error. */
static int
semdctl_error_status(const struct semd_error *err)
{
	if (tool_unreachable(err))
		return (EX_UNAVAILABLE);
	switch (err->code) {
	case SEMD_E_USAGE:
		return (EX_USAGE);
	case SEMD_E_LIMIT:
		return (EX_TEMPFAIL);
	case SEMD_E_DENIED:
		return (EX_NOPERM);
	case SEMD_E_NO_CAPACITY:
	case SEMD_E_NOT_HELD:
	case SEMD_E_BAD_REQUEST:
	case SEMD_E_BAD_NAME:
	case SEMD_E_TOO_HEAVY:
		return (1);
	default:
		return (EX_SOFTWARE);
	}
}

/*
 * Does err mean that nothing listens at the socket (no file, or nobody
 * accepting), as opposed to a socket we may not use?
 */
static int
semdctl_nobody(const struct semd_error *err)
{
	return (err->code == SEMD_E_UNREACHABLE && (err->sys_errno == 0 ||
	    err->sys_errno == ENOENT || err->sys_errno == ECONNREFUSED));
}

/* Print err and return its exit status. */
int
semdctl_fail(struct semdctl *sc, const struct semd_error *err)
{
	const char	*msg = err->message;

	if (*msg == '\0')
		msg = semd_strerror(err->code);
	/*
	 * "No semd running" only when that is what happened; a socket we
	 * may not use (EACCES) is not "no semd": say what the library says,
	 * as semrun does.
	 */
	if (semdctl_nobody(err) && err->sys_errno != 0)
		fprintf(stderr, "semdctl: no semd running at %s (%s)\n",
		    sc->path, strerror(err->sys_errno));
	else if (semdctl_nobody(err))
		fprintf(stderr, "semdctl: no semd running at %s\n", sc->path);
	else
		fprintf(stderr, "semdctl: %s\n", msg);
	return (semdctl_error_status(err));
}

/*
 * Parse the arguments of `CMD [--json] [NAME]` (status, stats): *json
 * set by --json or -j, *name the NAME or NULL.  Exits EX_USAGE on
 * anything else.
 */
void
semdctl_json_name(const char *cmd, int argc, char **argv, int *json,
    const char **name)
{
	int	i, opts = 1;

	*json = 0;
	*name = NULL;
	for (i = 0; i < argc; i++) {
		if (opts && strcmp(argv[i], "--") == 0)
			opts = 0;
		else if (opts && (strcmp(argv[i], "--json") == 0 ||
		    strcmp(argv[i], "-j") == 0))
			*json = 1;
		else if (opts && argv[i][0] == '-' && argv[i][1] != '\0')
			semdctl_usage_error("%s: unknown option '%s'", cmd,
			    argv[i]);
		else if (*name != NULL)
			semdctl_usage_error("%s: only one NAME, please "
			    "('%s' and '%s')", cmd, *name, argv[i]);
		else
			*name = argv[i];
	}
	if (*name != NULL && **name == '\0')
		semdctl_usage_error("%s: empty NAME", cmd);
}

/* Flush stdout.  Returns 0, or EX_IOERR with a message. */
int
semdctl_flush(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "semdctl: write error: %s\n", strerror(errno));
		return (EX_IOERR);
	}
	return (0);
}

/* Connect without starting a daemon.  Returns NULL with *err filled. */
struct semd *
semdctl_open(struct semdctl *sc, struct semd_error *err)
{
	struct semd_error	 perr;
	int			 is_default = 0;

	if (sc->socket != NULL)
		snprintf(sc->path, sizeof sc->path, "%s", sc->socket);
	else if (semd_default_path(sc->path, sizeof sc->path, &is_default,
	    &perr) != 0)
		snprintf(sc->path, sizeof sc->path, "the default socket");
	sc->is_default = is_default;
	memset(err, 0, sizeof *err);
	return (semd_open(sc->socket, "semdctl", SEMD_OPEN_NO_AUTOSTART, err));
}

/*
 * The command line of p into buf (len bytes), its arguments quoted as a
 * shell would need: what the client said in HELLO (worker_cmd, CMD's
 * argv for semrun), else /proc/PID/cmdline of the worker or of the
 * connection's pid.  Returns the length, or -1 when there is none (the
 * process is gone, a kernel thread, or hidden from us).
 */
ssize_t
semdctl_cmdline(const struct semd_party *p, char *buf, size_t len)
{
	char	 raw[SEMDCTL_CMDLINE_MAX], path[64];
	char	*argv[SEMDCTL_CMDLINE_MAX / 2 + 1];
	ssize_t	 n, got = 0;
	size_t	 argc = 0;
	pid_t	 pid = p->worker_pid != 0 ? p->worker_pid : p->pid;
	int	 fd;

	if (p->worker_cmd[0] != '\0')
		return ((ssize_t)snprintf(buf, len, "%s", p->worker_cmd));
	if (pid <= 0 || len < 2)
		return (-1);
	snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
	if ((fd = open(path, O_RDONLY|O_CLOEXEC)) == -1)
		return (-1);
	while ((size_t)got < sizeof raw - 1) {
		n = read(fd, raw + got, sizeof raw - 1 - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	/* Drop the trailing NUL(s), then split and quote the arguments. */
	while (got > 0 && raw[got - 1] == '\0')
		got--;
	if (got == 0)
		return (-1);
	raw[got] = '\0';
	argv[argc++] = raw;
	for (n = 0; n < got; n++) {
		if (raw[n] == '\0')
			argv[argc++] = raw + n + 1;
	}
	argv[argc] = NULL;
	return ((ssize_t)semd_shell_quote(buf, len, argv));
}

/* Write ms as a short human duration: 0.3s, 59.9s, 3m04s, 2h05m, 3d04h. */
void
semdctl_duration(uint64_t ms, char *buf, size_t len)
{
	uint64_t	s = ms / 1000;

	if (ms < 60000)
		snprintf(buf, len, "%" PRIu64 ".%" PRIu64 "s", s,
		    (ms % 1000) / 100);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60,
		    s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600,
		    (s % 3600) / 60);
	else
		snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h", s / 86400,
		    (s % 86400) / 3600);
}

/* The user name of uid, or NULL when it has none. */
const char *
semdctl_user(uid_t uid)
{
	struct passwd	*pw;

	pw = getpwuid(uid);
	return (pw != NULL ? pw->pw_name : NULL);
}

/*
 * Print s for a terminal: control and non-ASCII bytes as \ooo, at most
 * max columns (then "...").
 */
static void
semdctl_print_text(const char *s, size_t max)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 col = 0;

	for (; *p != '\0'; p++) {
		if (col >= max) {
			fputs("...", stdout);
			return;
		}
		if (*p < 0x20 || *p >= 0x7f) {
			printf("\\%03o", *p);
			col += 4;
		} else {
			putchar(*p);
			col++;
		}
	}
}

/* Print one holder or waiter line of the table. */
static void
semdctl_print_party(const struct semd_party *p, const char *tag)
{
	char		 cmd[SEMDCTL_CMDLINE_MAX], dur[32], uidbuf[32];
	char		 client[400];
	const char	*user;

	if ((user = semdctl_user(p->uid)) == NULL) {
		snprintf(uidbuf, sizeof uidbuf, "%lu", (unsigned long)p->uid);
		user = uidbuf;
	}
	semdctl_duration(p->ms, dur, sizeof dur);
	/* A cluster semaphore's holder on another host: "-@web2". */
	snprintf(client, sizeof client, "%s%s%s", p->client[0] != '\0' ?
	    p->client : "-", p->host[0] != '\0' ? "@" : "", p->host);
	printf("  %-8s %8ld  %-10s %6" PRIu32 "  %7s  %-8s  ", tag,
	    (long)(p->worker_pid != 0 ? p->worker_pid : p->pid), user,
	    p->weight, dur, client);
	if (semdctl_cmdline(p, cmd, sizeof cmd) == -1)
		fputs("-", stdout);
	else
		semdctl_print_text(cmd, SEMDCTL_CMDLINE_SHOW);
	putchar('\n');
}

/* Print a status report as a table. */
static void
semdctl_print_table(const struct semd_status *st, const char *name)
{
	const struct semd_sem_status	*s;
	char				 tag[32];
	size_t				 i, j;

	if (st->nsems == 0) {
		if (name != NULL)
			printf("%s: not in use\n", name);
		else
			printf("no semaphores in use\n");
		return;
	}
	for (i = 0; i < st->nsems; i++) {
		s = &st->sems[i];
		if (i > 0)
			putchar('\n');
		if (s->capacity != 0)
			printf("%s: capacity %" PRIu32 ", held %" PRIu32
			    ", waiting %" PRIu32, s->name, s->capacity,
			    s->held, s->waiting);
		else
			printf("%s: no capacity bound, held %" PRIu32
			    ", waiting %" PRIu32, s->name, s->held,
			    s->waiting);
		if (s->rate > 0)
			printf(", rate %g/s burst %" PRIu32 ", next grant in "
			    "%" PRIu64 " ms", s->rate, s->burst,
			    s->next_grant_ms);
		printf("%s%s\n", s->declared ? ", declared" : "",
		    s->drained ? ", drained" : "");
		if (s->nholders == 0 && s->nwaiters == 0)
			continue;
		printf("  %-8s %8s  %-10s %6s  %7s  %-8s  %s\n", "", "PID",
		    "USER", "WEIGHT", "FOR", "CLIENT", "COMMAND");
		for (j = 0; j < s->nholders; j++)
			semdctl_print_party(&s->holders[j], "holding");
		for (j = 0; j < s->nwaiters; j++) {
			snprintf(tag, sizeof tag, "wait #%zu", j + 1);
			semdctl_print_party(&s->waiters[j], tag);
		}
	}
	if (st->truncated)
		printf("\n(semd shortened these lists to fit its reply)\n");
}

/*
 * Length of the valid UTF-8 sequence at p (1 to 4), or 0 when the bytes
 * there are not one.  Overlong forms and surrogates are refused.
 */
static size_t
semdctl_utf8_len(const unsigned char *p)
{
	if (p[0] < 0x80)
		return (1);
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		return ((p[1] & 0xc0) == 0x80 ? 2 : 0);
	if (p[0] >= 0xe0 && p[0] <= 0xef) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return (0);
		if (p[0] == 0xe0 && p[1] < 0xa0)
			return (0);
		if (p[0] == 0xed && p[1] >= 0xa0)
			return (0);
		return (3);
	}
	if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
		    (p[3] & 0xc0) != 0x80)
			return (0);
		if (p[0] == 0xf0 && p[1] < 0x90)
			return (0);
		if (p[0] == 0xf4 && p[1] >= 0x90)
			return (0);
		return (4);
	}
	return (0);
}

/*
 * Begin the JSON object of the i-th semaphore of a "sems" array: a comma
 * after the first, then {"name":NAME.
 */
void
semdctl_json_sem(size_t i, const char *name)
{
	fputs(i > 0 ? ",{\"name\":" : "{\"name\":", stdout);
	semdctl_json_string(name);
}

/*
 * Print s as a JSON string: quotes, backslashes and control characters
 * escaped, bytes that are not UTF-8 replaced by U+FFFD.
 */
void
semdctl_json_string(const char *s)
{
	/* The characters with a short escape, and their letters. */
	static const char	 esc[] = "\"\\\n\r\t", letter[] = "\"\\nrt";
	const unsigned char	*p = (const unsigned char *)s;
	const char		*e;
	size_t			 n;

	putchar('"');
	for (; *p != '\0'; p += n) {
		n = 1;
		if ((e = strchr(esc, *p)) != NULL)
			printf("\\%c", letter[e - esc]);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\u%04x", *p);
		/* The NUL ends the string, so p[1..3] are safe. */
		else if ((n = semdctl_utf8_len(p)) == 0) {
			fputs("\\ufffd", stdout);
			n = 1;
		} else
			fwrite(p, 1, n, stdout);
	}
	putchar('"');
}

/* Print the holders or waiters array; key is "held_ms" or "waited_ms". */
static void
semdctl_json_parties(const struct semd_party *v, size_t n, const char *key)
{
	char		 cmd[SEMDCTL_CMDLINE_MAX];
	const char	*user;
	size_t		 i;

	putchar('[');
	for (i = 0; i < n; i++) {
		if (i > 0)
			putchar(',');
		printf("{\"pid\":%ld,\"uid\":%lu,\"user\":", (long)v[i].pid,
		    (unsigned long)v[i].uid);
		if ((user = semdctl_user(v[i].uid)) != NULL)
			semdctl_json_string(user);
		else
			fputs("null", stdout);
		printf(",\"weight\":%" PRIu32 ",\"%s\":%" PRIu64
		    ",\"cmdline\":", v[i].weight, key, v[i].ms);
		if (semdctl_cmdline(&v[i], cmd, sizeof cmd) == -1)
			fputs("null", stdout);
		else
			semdctl_json_string(cmd);
		fputs(",\"worker_pid\":", stdout);
		if (v[i].worker_pid != 0)
			printf("%ld", (long)v[i].worker_pid);
		else
			fputs("null", stdout);
		fputs(",\"client\":", stdout);
		if (v[i].client[0] != '\0')
			semdctl_json_string(v[i].client);
		else
			fputs("null", stdout);
		if (v[i].host[0] != '\0') {
			fputs(",\"host\":", stdout);
			semdctl_json_string(v[i].host);
		}
		putchar('}');
	}
	putchar(']');
}

/* Print a status report as one line of JSON (schema in semdctl(1)). */
static void
semdctl_print_json(const struct semd_status *st)
{
	const struct semd_sem_status	*s;
	size_t				 i;

	fputs("{\"sems\":[", stdout);
	for (i = 0; i < st->nsems; i++) {
		s = &st->sems[i];
		semdctl_json_sem(i, s->name);
		printf(",\"capacity\":%" PRIu32 ",\"held\":%" PRIu32
		    ",\"waiting\":%" PRIu32, s->capacity, s->held,
		    s->waiting);
		if (s->rate > 0)
			printf(",\"rate\":%.17g,\"burst\":%" PRIu32
			    ",\"next_grant_ms\":%" PRIu64, s->rate, s->burst,
			    s->next_grant_ms);
		fputs(",\"holders\":", stdout);
		semdctl_json_parties(s->holders, s->nholders, "held_ms");
		fputs(",\"waiters\":", stdout);
		semdctl_json_parties(s->waiters, s->nwaiters, "waited_ms");
		printf(",\"declared\":%s,\"drained\":%s}",
		    s->declared ? "true" : "false",
		    s->drained ? "true" : "false");
	}
	printf("],\"truncated\":%s}\n", st->truncated ? "true" : "false");
}

/* semdctl status [--json] [NAME] */
static int
semdctl_status(struct semdctl *sc, int argc, char **argv)
{
	struct semd_error	 err;
	struct semd_status	*st = NULL, none;
	struct semd		*semd;
	const char		*name;
	int			 json;

	semdctl_json_name("status", argc, argv, &json, &name);

	if ((semd = semdctl_open(sc, &err)) == NULL) {
		/*
		 * No per-user daemon running holds nothing: that is a
		 * report, not a failure (a monitoring script must not see
		 * one).  A socket named with -S or $SEMD_SOCKET that nobody
		 * serves is still an error.
		 */
		if (!sc->is_default || !semdctl_nobody(&err))
			return (semdctl_fail(sc, &err));
		memset(&none, 0, sizeof none);
		st = &none;
	} else if (semd_status(semd, name, &st, &err) != SEMD_OK) {
		semd_close(semd);
		return (semdctl_fail(sc, &err));
	}
	semd_close(semd);

	if (json)
		semdctl_print_json(st);
	else
		semdctl_print_table(st, name);
	if (st != &none)
		semd_status_free(st);
	return (semdctl_flush());
}

/* semdctl ping */
static int
semdctl_ping(struct semdctl *sc, int argc, char **argv)
{
	struct semd_error	 err;
	struct semd		*semd;

	if (argc > 0)
		semdctl_usage_error("ping: unexpected argument '%s'", argv[0]);
	if ((semd = semdctl_open(sc, &err)) == NULL)
		return (semdctl_fail(sc, &err));
	if (semd_ping(semd, &err) != SEMD_OK) {
		semd_close(semd);
		return (semdctl_fail(sc, &err));
	}
	if (sc->verbose)
		printf("semd at %s is alive\n", semd_path(semd));
	semd_close(semd);
	return (0);
}

/* Print the list of semaphores as a table, or as one line of JSON. */
static void
semdctl_print_list(const struct semd_status *st, int json)
{
	const struct semd_sem_status	*s;
	size_t				 i;

	if (json) {
		fputs("{\"sems\":[", stdout);
		for (i = 0; i < st->nsems; i++) {
			s = &st->sems[i];
			semdctl_json_sem(i, s->name);
			printf(",\"capacity\":%" PRIu32 ",\"held\":%" PRIu32
			    ",\"waiting\":%" PRIu32 ",\"declared\":%s,"
			    "\"drained\":%s", s->capacity, s->held,
			    s->waiting, s->declared ? "true" : "false",
			    s->drained ? "true" : "false");
			if (s->rate > 0)
				printf(",\"rate\":%.17g,\"burst\":%" PRIu32,
				    s->rate, s->burst);
			putchar('}');
		}
		printf("],\"truncated\":%s}\n",
		    st->truncated ? "true" : "false");
		return;
	}
	if (st->nsems == 0) {
		printf("no semaphores\n");
		return;
	}
	printf("%-32s %10s %10s %10s  %s\n", "NAME", "CAPACITY", "HELD",
	    "WAITING", "FLAGS");
	/* CAPACITY "-": no bound, only a rate (shown in FLAGS). */
	for (i = 0; i < st->nsems; i++) {
		s = &st->sems[i];
		semdctl_print_text(s->name, 32);
		printf("%*s ", strlen(s->name) < 32 ?
		    (int)(32 - strlen(s->name)) : 0, "");
		if (s->capacity != 0)
			printf("%10" PRIu32, s->capacity);
		else
			printf("%10s", "-");
		printf(" %10" PRIu32 " %10" PRIu32 "  %s%s%s", s->held,
		    s->waiting, s->declared ? "declared" : "",
		    s->declared && s->drained ? "," : "",
		    s->drained ? "drained" : "");
		if (s->rate > 0)
			printf("%srate %g/s burst %" PRIu32,
			    s->declared || s->drained ? "," : "", s->rate,
			    s->burst);
		putchar('\n');
	}
	if (st->truncated)
		printf("(semd shortened this list to fit its reply)\n");
}

/* Parse a PID or CAPACITY argument (1 .. max) or exit with usage. */
static uint32_t
semdctl_parse_count(const char *cmd, const char *what, const char *s,
    unsigned long max)
{
	unsigned long	 v;
	char		*end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v == 0 ||
	    v > max)
		semdctl_usage_error("%s: %s must be a number from 1 to %lu: "
		    "'%s'", cmd, what, max, s);
	return ((uint32_t)v);
}

/* The ADMIN subcommands: what each asks, its operands, its one option. */
static const struct semdctl_admin_cmd {
	const char		*cmd;
	enum semd_admin_action	 action;
	int			 want;	/* operands: NAME, then a number */
	const char		*wrong;	/* what it says when npos != want */
	const char		*opt;	/* its option, or NULL */
	const char		*optc;	/* the option's short form, or NULL */
} semdctl_admin_cmds[] = {
	{ "list",	SEMD_ADMIN_LIST,	0, "takes no NAME",
	    "--json",	"-j" },
	{ "resize",	SEMD_ADMIN_RESIZE,	2, "needs NAME and CAPACITY",
	    NULL,	NULL },
	{ "drain",	SEMD_ADMIN_DRAIN,	1, "needs NAME",
	    "--wait",	"-w" },
	{ "undrain",	SEMD_ADMIN_UNDRAIN,	1, "needs NAME",
	    NULL,	NULL },
	{ "revoke",	SEMD_ADMIN_REVOKE,	2, "needs NAME and PID",
	    "--token",	NULL },
	{ "reload",	SEMD_ADMIN_RELOAD,	0, "takes no NAME",
	    NULL,	NULL },
};

/* The ADMIN subcommand cmd, or NULL when it is none. */
static const struct semdctl_admin_cmd *
semdctl_admin_find(const char *cmd)
{
	size_t	i;

	for (i = 0; i < sizeof semdctl_admin_cmds /
	    sizeof semdctl_admin_cmds[0]; i++) {
		if (strcmp(semdctl_admin_cmds[i].cmd, cmd) == 0)
			return (&semdctl_admin_cmds[i]);
	}
	return (NULL);
}

/*
 * Sort the arguments of subcommand c into at most two operands (pos,
 * returning how many) and its option (*flag = 1 when given), or exit.
 */
static int
semdctl_admin_args(const struct semdctl_admin_cmd *c, int argc, char **argv,
    char *pos[2], int *flag)
{
	int	i, npos = 0, opts = 1;

	for (i = 0; i < argc; i++) {
		if (opts && strcmp(argv[i], "--") == 0)
			opts = 0;
		else if (opts && c->opt != NULL &&
		    (strcmp(argv[i], c->opt) == 0 ||
		    (c->optc != NULL && strcmp(argv[i], c->optc) == 0)))
			*flag = 1;
		else if (opts && argv[i][0] == '-' && argv[i][1] != '\0')
			semdctl_usage_error("%s: unknown option '%s'", c->cmd,
			    argv[i]);
		else if (npos == 2)
			semdctl_usage_error("%s: unexpected argument '%s'",
			    c->cmd, argv[i]);
		else
			pos[npos++] = argv[i];
	}
	return (npos);
}

/*
 * Fill a's NAME and CAPACITY, PID or TOKEN from the npos operands pos of
 * subcommand c, or exit.
 */
static void
semdctl_admin_operands(const struct semdctl_admin_cmd *c, char *pos[2],
    int npos, struct semd_admin *a)
{
	char	*end;

	if (npos != c->want)
		semdctl_usage_error("%s: %s", c->cmd, c->wrong);
	if (c->want > 0) {
		if (*pos[0] == '\0')
			semdctl_usage_error("%s: empty NAME", c->cmd);
		a->name = pos[0];
	}
	if (a->action == SEMD_ADMIN_RESIZE)
		a->capacity = semdctl_parse_count(c->cmd, "CAPACITY", pos[1],
		    2147483647UL);
	if (a->action == SEMD_ADMIN_REVOKE && a->has_token) {
		errno = 0;
		a->token = strtoull(pos[1], &end, 10);
		if (*pos[1] < '0' || *pos[1] > '9' || *end != '\0' ||
		    errno != 0)
			semdctl_usage_error("revoke: TOKEN must be a number: "
			    "'%s'", pos[1]);
	} else if (a->action == SEMD_ADMIN_REVOKE)
		a->pid = (pid_t)semdctl_parse_count(c->cmd, "PID", pos[1],
		    4294967295UL);
}

/*
 * semdctl list | resize | drain | undrain | revoke | reload (c): one
 * ADMIN request; print what semd says it did.
 */
static int
semdctl_admin(struct semdctl *sc, const struct semdctl_admin_cmd *c,
    int argc, char **argv)
{
	struct semd_admin		 a;
	struct semd_admin_result	 res;
	struct semd_error		 err;
	struct semd			*semd;
	char				*pos[2];
	int				 npos, flag = 0, r;

	memset(&a, 0, sizeof a);
	a.action = c->action;
	npos = semdctl_admin_args(c, argc, argv, pos, &flag);
	a.wait = flag && a.action == SEMD_ADMIN_DRAIN;
	a.has_token = flag && a.action == SEMD_ADMIN_REVOKE;
	semdctl_admin_operands(c, pos, npos, &a);

	if ((semd = semdctl_open(sc, &err)) == NULL)
		return (semdctl_fail(sc, &err));
	if (semd_admin(semd, &a, &res, &err) != SEMD_OK) {
		semd_close(semd);
		return (semdctl_fail(sc, &err));
	}
	semd_close(semd);
	if (a.action == SEMD_ADMIN_LIST) {
		semdctl_print_list(res.list, flag);
		semd_status_free(res.list);
	} else if (res.message[0] != '\0')
		printf("%s\n", res.message);
	if ((r = semdctl_flush()) != 0)
		return (r);
	/* drain --wait answered although something is still held. */
	if (a.action == SEMD_ADMIN_DRAIN && a.wait && res.held != 0)
		return (1);
	return (0);
}

/*
 * Take the common options (-S PATH, --socket[=]PATH, -v, --verbose, -h,
 * --help) out of argv[first..*argc-1], the arguments after the command,
 * up to a "--", so that `semdctl ping -v` means `semdctl -v ping` for
 * every command; the rest move down in order.  Returns 1 when help was
 * asked for, else 0; exits on a usage error.
 */
static int
semdctl_common_opts(struct semdctl *sc, int *argc, char **argv, int first)
{
	const char	*a;
	int		 i, j = first, help = 0, opts = 1;

	for (i = first; i < *argc; i++) {
		a = argv[i];
		if (opts && strcmp(a, "--") == 0)
			opts = 0;
		if (!opts || a[0] != '-') {
			argv[j++] = argv[i];
			continue;
		}
		if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0)
			sc->verbose = 1;
		else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			help = 1;
		else if (strcmp(a, "-S") == 0 || strcmp(a, "--socket") == 0) {
			if (i + 1 >= *argc)
				semdctl_usage_error("option '%s' needs an "
				    "argument", a);
			sc->socket = argv[++i];
		} else if (strncmp(a, "--socket=", 9) == 0)
			sc->socket = a + 9;
		else if (strncmp(a, "-S", 2) == 0)
			sc->socket = a + 2;
		else
			argv[j++] = argv[i];
		if (sc->socket != NULL && *sc->socket == '\0')
			semdctl_usage_error("empty socket path");
	}
	argv[j] = NULL;
	*argc = j;
	return (help);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket",	required_argument,	NULL, 'S' },
		{ "verbose",	no_argument,		NULL, 'v' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL,		0,			NULL, 0 }
	};
	const struct semdctl_admin_cmd	*adm;
	struct semdctl			 sc;
	const char			*cmd;
	int				 ch;

	memset(&sc, 0, sizeof sc);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:S:vhV", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'S':
			if (*optarg == '\0')
				semdctl_usage_error("empty socket path");
			sc.socket = optarg;
			break;
		case 'v':
			sc.verbose = 1;
			break;
		case 'h':
			return (semdctl_help());
		case 'V':
			printf("semdctl (semd) %s, libsemd %s\n",
			    PACKAGE_VERSION, semd_version());
			return (fflush(stdout) == 0 ? 0 : EX_IOERR);
		default:	/* ':' or '?' */
			usage_bad_option("semdctl", semdctl_usage, ch,
			    argv[optind - 1], optopt);
		}
	}
	if (optind >= argc)
		semdctl_usage_error("missing command");
	cmd = semdctl_cmd = argv[optind++];
	/* The common options work after the command too, for every one. */
	if (semdctl_common_opts(&sc, &argc, argv, optind) == 1)
		return (semdctl_help());
	if (strcmp(cmd, "status") == 0)
		return (semdctl_status(&sc, argc - optind, argv + optind));
	if (strcmp(cmd, "ping") == 0)
		return (semdctl_ping(&sc, argc - optind, argv + optind));
	if ((adm = semdctl_admin_find(cmd)) != NULL)
		return (semdctl_admin(&sc, adm, argc - optind, argv + optind));
	if (strcmp(cmd, "stats") == 0)
		return (semdctl_stats(&sc, argc - optind, argv + optind));
	if (strcmp(cmd, "metrics") == 0)
		return (semdctl_metrics(&sc, argc - optind, argv + optind));
	if (strcmp(cmd, "watch") == 0)
		return (semdctl_watch(&sc, argc - optind, argv + optind));
	if (strcmp(cmd, "help") == 0)
		return (semdctl_help());
	semdctl_usage_error("unknown command '%s'", cmd);
}
