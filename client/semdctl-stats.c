/*
 * semdctl-stats.c -- the figures semd keeps (STATS):
 *
 *	semdctl stats [--json] [NAME]	a table, or one line of JSON
 *	semdctl metrics			the Prometheus text format
 *	semdctl metrics --http		the same over HTTP, on the listening
 *					socket systemd passes (LISTEN_FDS)
 *
 * The HTTP server is for semd-metrics.socket: it serves one request per
 * connection, one connection at a time (Prometheus scrapes every few
 * seconds), and asks semd afresh for each scrape.  semd itself stays
 * AF_UNIX only.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "semd.h"
#include "semdctl.h"
#include "tool.h"

#define METRICS_LISTEN_FD	3	/* SD_LISTEN_FDS_START */
#define METRICS_REQ_MAX		8192	/* bytes of an HTTP request head */
#define METRICS_IO_SEC		5	/* per client: read and write */
/* The type of our own short answers. */
#define METRICS_TEXT		"text/plain; charset=utf-8"

/*
 * Write ms as a short duration with the precision a person needs: 0ms,
 * <1ms, 2.5ms, 12ms, 340ms, 1.25s, 42.0s, 3m04s, 2h05m.
 */
void
semdctl_ms(double ms, char *buf, size_t len)
{
	if (ms <= 0)
		snprintf(buf, len, "0ms");
	else if (ms < 1)
		snprintf(buf, len, "<1ms");
	else if (ms < 10)
		snprintf(buf, len, "%.1fms", ms);
	else if (ms < 1000)
		snprintf(buf, len, "%.0fms", ms);
	else if (ms < 10000)
		snprintf(buf, len, "%.2fs", ms / 1000);
	else if (ms < 60000)
		snprintf(buf, len, "%.1fs", ms / 1000);
	else
		semdctl_duration((uint64_t)ms, buf, len);
}

/* The number of times a histogram counted. */
static uint64_t
stats_count(const struct semd_hist *h)
{
	uint64_t	 n = 0;
	size_t		 i;

	for (i = 0; i < SEMD_HIST_BUCKETS; i++)
		n += h->count[i];
	return (n);
}

/* Print "p50 X  p90 Y  p99 Z  mean M (N)" for one histogram. */
static void
stats_print_hist(const char *what, const struct semd_hist *h)
{
	char		 p50[32], p90[32], p99[32], mean[32];
	uint64_t	 n = stats_count(h);

	if (n == 0) {
		printf("  %-5s none yet\n", what);
		return;
	}
	semdctl_ms(semd_hist_quantile(h, 0.50), p50, sizeof p50);
	semdctl_ms(semd_hist_quantile(h, 0.90), p90, sizeof p90);
	semdctl_ms(semd_hist_quantile(h, 0.99), p99, sizeof p99);
	semdctl_ms((double)h->sum_ms / (double)n, mean, sizeof mean);
	printf("  %-5s p50 %-7s p90 %-7s p99 %-7s mean %-7s (%" PRIu64
	    ")\n", what, p50, p90, p99, mean, n);
}

/* Print a statistics report as text, one block per semaphore. */
static void
stats_print_table(const struct semd_stats *st, const char *name)
{
	const struct semd_sem_stats	*s;
	char				 up[32], recent[32];
	size_t				 i;

	semdctl_duration(st->uptime_ms, up, sizeof up);
	if (name == NULL)
		printf("semd up %s, %" PRIu32 " connection%s, %" PRIu32
		    " semaphore%s\n", up, st->connections,
		    st->connections == 1 ? "" : "s", st->semaphores,
		    st->semaphores == 1 ? "" : "s");
	if (st->nsems == 0) {
		if (name != NULL)
			printf("%s: not in use\n", name);
		return;
	}
	for (i = 0; i < st->nsems; i++) {
		s = &st->sems[i];
		if (name == NULL || i > 0)
			putchar('\n');
		printf("%s: capacity %" PRIu32 ", held %" PRIu32 ", waiting %"
		    PRIu32 " (longest line %" PRIu32 ")\n", s->name,
		    s->capacity, s->held, s->waiting, s->max_waiting);
		printf("  grants %" PRIu64 ", timeouts %" PRIu64 ", withdrawals %"
		    PRIu64 ", releases %" PRIu64 ", released on disconnect %"
		    PRIu64 ", revoked %" PRIu64 "\n", s->grants, s->timeouts,
		    s->withdrawals, s->releases, s->disconnects, s->revokes);
		stats_print_hist("wait", &s->wait);
		stats_print_hist("hold", &s->hold);
		if (stats_count(&s->hold) > 0) {
			semdctl_ms((double)s->recent_hold_ms, recent,
			    sizeof recent);
			printf("  recent holds average %s\n", recent);
		}
	}
	if (st->truncated)
		printf("\n(semd listed only the first %zu of %" PRIu32
		    " semaphores; name one to see it)\n", st->nsems,
		    st->semaphores);
}

/* Print one histogram as a JSON object. */
static void
stats_json_hist(const struct semd_hist *h)
{
	size_t	 i;

	printf("{\"count\":%" PRIu64 ",\"sum_ms\":%" PRIu64 ",\"p50_ms\":%.3f,"
	    "\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"buckets\":[", stats_count(h),
	    h->sum_ms, semd_hist_quantile(h, 0.50),
	    semd_hist_quantile(h, 0.90), semd_hist_quantile(h, 0.99));
	for (i = 0; i < SEMD_HIST_BUCKETS; i++)
		printf("%s%" PRIu64, i > 0 ? "," : "", h->count[i]);
	fputs("]}", stdout);
}

/* Print a statistics report as one line of JSON (schema in semdctl(1)). */
static void
stats_print_json(const struct semd_stats *st, pid_t pid)
{
	const struct semd_sem_stats	*s;
	const uint32_t			*b = semd_hist_bounds();
	size_t				 i;

	printf("{\"pid\":%ld,\"uptime_ms\":%" PRIu64 ",\"connections\":%"
	    PRIu32 ",\"semaphores\":%" PRIu32 ",\"bucket_ms\":[", (long)pid,
	    st->uptime_ms, st->connections, st->semaphores);
	for (i = 0; i + 1 < SEMD_HIST_BUCKETS; i++)
		printf("%s%" PRIu32, i > 0 ? "," : "", b[i]);
	fputs("],\"sems\":[", stdout);
	for (i = 0; i < st->nsems; i++) {
		s = &st->sems[i];
		semdctl_json_sem(i, s->name);
		printf(",\"capacity\":%" PRIu32 ",\"held\":%" PRIu32
		    ",\"waiting\":%" PRIu32 ",\"grants\":%" PRIu64
		    ",\"timeouts\":%" PRIu64 ",\"withdrawals\":%" PRIu64
		    ",\"releases\":%" PRIu64 ",\"disconnects\":%" PRIu64
		    ",\"revokes\":%" PRIu64 ",\"max_waiting\":%" PRIu32
		    ",\"recent_hold_ms\":%" PRIu64 ",\"wait\":", s->capacity,
		    s->held, s->waiting, s->grants, s->timeouts,
		    s->withdrawals, s->releases, s->disconnects, s->revokes,
		    s->max_waiting, s->recent_hold_ms);
		stats_json_hist(&s->wait);
		fputs(",\"hold\":", stdout);
		stats_json_hist(&s->hold);
		putchar('}');
	}
	printf("],\"truncated\":%s}\n", st->truncated ? "true" : "false");
}

/* Fetch the statistics of name (NULL: all); on failure print why. */
static int
stats_fetch(struct semdctl *sc, const char *name, struct semd_stats **st,
    pid_t *pid)
{
	struct semd_error	 err;
	struct semd		*semd;

	if ((semd = semdctl_open(sc, &err)) == NULL)
		return (semdctl_fail(sc, &err));
	if (semd_stats(semd, name, st, &err) != SEMD_OK) {
		semd_close(semd);
		if (err.code == SEMD_E_UNKNOWN_OP)
			snprintf(err.message, sizeof err.message, "semd at "
			    "%.300s is too old for statistics (it does not "
			    "know STATS)", sc->path);
		return (semdctl_fail(sc, &err));
	}
	if (pid != NULL)
		*pid = semd_server_pid(semd);
	semd_close(semd);
	return (0);
}

/* semdctl stats [--json] [NAME] */
int
semdctl_stats(struct semdctl *sc, int argc, char **argv)
{
	struct semd_stats	*st = NULL;
	const char		*name;
	pid_t			 pid = 0;
	int			 json, r;

	semdctl_json_name("stats", argc, argv, &json, &name);
	if ((r = stats_fetch(sc, name, &st, &pid)) != 0)
		return (r);
	if (json)
		stats_print_json(st, pid);
	else
		stats_print_table(st, name);
	semd_stats_free(st);
	return (semdctl_flush());
}

/* Write a number of milliseconds as seconds, exactly. */
static void
metrics_seconds(FILE *f, uint64_t ms)
{
	fprintf(f, "%" PRIu64 ".%03" PRIu64, ms / 1000, ms % 1000);
}

#define OFF(field)	offsetof(struct semd_sem_stats, field)

/* The families of one number per semaphore, in the order written. */
static const struct metrics_def {
	const char	*name;
	const char	*help;
	size_t		 off;
	int		 counter;	/* 1: a uint64_t counter, 0: a gauge */
} metrics_families[] = {
	{ "semd_capacity", "Capacity of the semaphore.", OFF(capacity), 0 },
	{ "semd_held", "Weight held now.", OFF(held), 0 },
	{ "semd_waiting", "Requests waiting in line now.", OFF(waiting), 0 },
	{ "semd_max_waiting",
	    "Longest line seen since the semaphore was created.",
	    OFF(max_waiting), 0 },
	{ "semd_grants_total", "Requests granted, at once or after waiting.",
	    OFF(grants), 1 },
	{ "semd_timeouts_total",
	    "Requests that timed out in line, or tries refused.",
	    OFF(timeouts), 1 },
	{ "semd_withdrawals_total",
	    "Requests withdrawn while waiting (also by disconnecting).",
	    OFF(withdrawals), 1 },
	{ "semd_releases_total", "RELEASE requests.", OFF(releases), 1 },
	{ "semd_disconnect_releases_total",
	    "Holds given back because their connection closed.",
	    OFF(disconnects), 1 },
	{ "semd_revokes_total", "Holds revoked by an administrator.",
	    OFF(revokes), 1 },
};

/* Write family d, one number per semaphore. */
static void
metrics_family(FILE *f, const struct semd_stats *st,
    const struct metrics_def *d)
{
	const struct semd_sem_stats	*s;
	size_t				 i;
	uint64_t			 v;

	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name,
	    d->counter ? "counter" : "gauge");
	for (i = 0; i < st->nsems; i++) {
		s = &st->sems[i];
		if (d->counter)
			memcpy(&v, (const char *)s + d->off, sizeof v);
		else {
			uint32_t	 v32;

			memcpy(&v32, (const char *)s + d->off, sizeof v32);
			v = v32;
		}
		fprintf(f, "%s{sem=\"%s\"} %" PRIu64 "\n", d->name, s->name,
		    v);
	}
}

/* Write one histogram family (times in seconds) over every semaphore. */
static void
metrics_histogram(FILE *f, const struct semd_stats *st, const char *name,
    const char *help, int hold)
{
	const struct semd_sem_stats	*s;
	const struct semd_hist		*h;
	const uint32_t			*b = semd_hist_bounds();
	uint64_t			 cum;
	size_t				 i, j;

	fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (i = 0; i < st->nsems; i++) {
		s = &st->sems[i];
		h = hold ? &s->hold : &s->wait;
		cum = 0;
		for (j = 0; j + 1 < SEMD_HIST_BUCKETS; j++) {
			cum += h->count[j];
			fprintf(f, "%s_bucket{sem=\"%s\",le=\"", name, s->name);
			metrics_seconds(f, b[j]);
			fprintf(f, "\"} %" PRIu64 "\n", cum);
		}
		cum += h->count[SEMD_HIST_BUCKETS - 1];
		fprintf(f, "%s_bucket{sem=\"%s\",le=\"+Inf\"} %" PRIu64 "\n",
		    name, s->name, cum);
		fprintf(f, "%s_sum{sem=\"%s\"} ", name, s->name);
		metrics_seconds(f, h->sum_ms);
		fprintf(f, "\n%s_count{sem=\"%s\"} %" PRIu64 "\n", name,
		    s->name, cum);
	}
}

/*
 * Write the Prometheus text exposition format (version 0.0.4) of a
 * statistics report, or, with st NULL, only semd_up 0.
 */
static void
metrics_write(FILE *f, const struct semd_stats *st)
{
	const struct metrics_def	*d;

	fputs("# HELP semd_up Whether semd answered (1) or not (0).\n"
	    "# TYPE semd_up gauge\n", f);
	fprintf(f, "semd_up %d\n", st != NULL);
	if (st == NULL)
		return;
	fputs("# HELP semd_uptime_seconds Seconds since semd started.\n"
	    "# TYPE semd_uptime_seconds gauge\nsemd_uptime_seconds ", f);
	metrics_seconds(f, st->uptime_ms);
	fprintf(f, "\n# HELP semd_connections Client connections open now.\n"
	    "# TYPE semd_connections gauge\nsemd_connections %" PRIu32 "\n"
	    "# HELP semd_semaphores Semaphores alive now.\n"
	    "# TYPE semd_semaphores gauge\nsemd_semaphores %" PRIu32 "\n"
	    "# HELP semd_stats_truncated Whether semaphores were left out "
	    "of these metrics (1) for lack of room.\n"
	    "# TYPE semd_stats_truncated gauge\nsemd_stats_truncated %d\n",
	    st->connections, st->semaphores, st->truncated != 0);
	for (d = metrics_families; d < metrics_families +
	    sizeof metrics_families / sizeof metrics_families[0]; d++)
		metrics_family(f, st, d);
	metrics_histogram(f, st, "semd_wait_seconds",
	    "Time from request to grant (0 when granted at once).", 0);
	metrics_histogram(f, st, "semd_hold_seconds",
	    "Time from grant to release.", 1);
}

/*
 * Build the metrics text in a malloc'ed buffer: *len bytes.  When semd
 * cannot be reached the text says semd_up 0 (and why on stderr, once per
 * change), as an exporter should, rather than failing the scrape.
 */
static char *
metrics_build(struct semdctl *sc, size_t *len)
{
	static char		 last[512];
	struct semd_error	 err;
	struct semd_stats	*st = NULL;
	struct semd		*semd;
	FILE			*f;
	char			*buf = NULL;

	if ((semd = semdctl_open(sc, &err)) != NULL &&
	    semd_stats(semd, NULL, &st, &err) != SEMD_OK)
		st = NULL;
	semd_close(semd);
	if (st == NULL && strcmp(last, err.message) != 0) {
		fprintf(stderr, "semdctl: metrics: %s\n", err.message);
		snprintf(last, sizeof last, "%s", err.message);
	} else if (st != NULL)
		last[0] = '\0';
	if ((f = open_memstream(&buf, len)) == NULL) {
		semd_stats_free(st);
		return (NULL);
	}
	metrics_write(f, st);
	semd_stats_free(st);
	if (fclose(f) != 0) {
		free(buf);
		return (NULL);
	}
	return (buf);
}

/* Write all of buf to fd (blocking, with the socket's send timeout). */
static int
metrics_send_all(int fd, const char *buf, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (-1);
		buf += n;
		len -= (size_t)n;
	}
	return (0);
}

/* Answer with a status line and a short text body. */
static void
metrics_reply(int fd, const char *status, const char *extra,
    const char *ctype, const char *body, size_t len, int head)
{
	char	 hdr[512];
	int	 n;

	n = snprintf(hdr, sizeof hdr, "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\n%sConnection: close\r\n\r\n", status,
	    ctype, len, extra);
	if (n < 0 || (size_t)n >= sizeof hdr)
		return;
	if (metrics_send_all(fd, hdr, (size_t)n) == -1 || head)
		return;
	(void)metrics_send_all(fd, body, len);
}

/*
 * Read an HTTP request head from fd into req (METRICS_REQ_MAX + 1 bytes,
 * NUL-terminated).  Returns 0, or -1 when there is none to answer: the
 * peer left or timed out, or it was too large (answered 431).
 */
static int
metrics_read_head(int fd, char *req)
{
	size_t	got = 0;
	ssize_t	n;

	for (;;) {
		n = recv(fd, req + got, METRICS_REQ_MAX - got, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (-1);
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL ||
		    strstr(req, "\n\n") != NULL)
			return (0);
		if (got == METRICS_REQ_MAX) {
			metrics_reply(fd, "431 Request Header Fields Too Large",
			    "", METRICS_TEXT, "request too large\n", 18, 0);
			return (-1);
		}
	}
}

/*
 * Serve one HTTP connection: read the request head (at most
 * METRICS_REQ_MAX bytes, METRICS_IO_SEC seconds), answer GET or HEAD of
 * /metrics with the metrics, / with a pointer to them, anything else
 * with 404, 405 or 400.  Then close.
 */
static void
metrics_serve(struct semdctl *sc, int fd)
{
	char			 req[METRICS_REQ_MAX + 1], *sp, *path, *body;
	struct timeval		 tv = { METRICS_IO_SEC, 0 };
	size_t			 len;
	int			 head;

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (metrics_read_head(fd, req) == -1)
		return;
	/* "METHOD SP PATH SP VERSION" */
	if ((sp = strchr(req, ' ')) == NULL) {
		metrics_reply(fd, "400 Bad Request", "", METRICS_TEXT,
		    "bad request\n", 12, 0);
		return;
	}
	*sp = '\0';
	path = sp + 1;
	if ((sp = strpbrk(path, " \r\n")) != NULL)
		*sp = '\0';
	if (strcmp(req, "GET") != 0 && strcmp(req, "HEAD") != 0) {
		metrics_reply(fd, "405 Method Not Allowed",
		    "Allow: GET, HEAD\r\n", METRICS_TEXT, "use GET\n", 8, 0);
		return;
	}
	head = strcmp(req, "HEAD") == 0;
	if ((sp = strchr(path, '?')) != NULL)
		*sp = '\0';
	if (strcmp(path, "/") == 0) {
		static const char	 index[] = "semd metrics: /metrics\n";

		metrics_reply(fd, "200 OK", "", METRICS_TEXT, index,
		    sizeof index - 1, head);
		return;
	}
	if (strcmp(path, "/metrics") != 0) {
		metrics_reply(fd, "404 Not Found", "", METRICS_TEXT,
		    "not found; the metrics are at /metrics\n", 39, head);
		return;
	}
	if ((body = metrics_build(sc, &len)) == NULL) {
		metrics_reply(fd, "500 Internal Server Error", "", METRICS_TEXT,
		    "out of memory\n", 14, head);
		return;
	}
	metrics_reply(fd, "200 OK", "", "text/plain; version=0.0.4; "
	    "charset=utf-8", body, len, head);
	free(body);
}

/*
 * semdctl metrics --http: serve the listening socket systemd passed
 * (LISTEN_FDS=1, LISTEN_PID ours) until killed.  A failing accept (out
 * of descriptors) backs off a second instead of spinning.
 */
static int
metrics_http(struct semdctl *sc)
{
	const char	*fds, *pid;
	struct stat	 st;
	int		 fd, type = 0;
	socklen_t	 tlen = sizeof type;

	fds = getenv("LISTEN_FDS");
	pid = getenv("LISTEN_PID");
	if (fds == NULL || pid == NULL || strtol(pid, NULL, 10) != getpid()) {
		fprintf(stderr, "semdctl: metrics --http serves the socket "
		    "systemd passes (semd-metrics.socket); none was passed "
		    "(LISTEN_FDS)\n");
		return (EX_USAGE);
	}
	if (strcmp(fds, "1") != 0) {
		fprintf(stderr, "semdctl: metrics --http: systemd passed %s "
		    "sockets; use exactly one ListenStream=\n", fds);
		return (EX_CONFIG);
	}
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	fd = METRICS_LISTEN_FD;
	if (fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == -1 ||
	    type != SOCK_STREAM) {
		fprintf(stderr, "semdctl: metrics --http: descriptor 3 is not "
		    "a stream socket\n");
		return (EX_CONFIG);
	}
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int	 c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

		if (c == -1) {
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EAGAIN)
				continue;
			fprintf(stderr, "semdctl: metrics --http: accept: "
			    "%s\n", strerror(errno));
			if (errno == EBADF || errno == EINVAL ||
			    errno == ENOTSOCK)
				return (EX_OSERR);
			sleep(1);
			continue;
		}
		metrics_serve(sc, c);
		close(c);
	}
}

/* semdctl metrics [--http] */
int
semdctl_metrics(struct semdctl *sc, int argc, char **argv)
{
	struct semd_stats	*st = NULL;
	int			 i, http = 0, r;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--http") == 0)
			http = 1;
		else if (argv[i][0] == '-')
			semdctl_usage_error("metrics: unknown option '%s'",
			    argv[i]);
		else
			semdctl_usage_error("metrics: unexpected argument "
			    "'%s'", argv[i]);
	}
	if (http)
		return (metrics_http(sc));
	if ((r = stats_fetch(sc, NULL, &st, NULL)) != 0)
		return (r);
	metrics_write(stdout, st);
	semd_stats_free(st);
	return (semdctl_flush());
}
