/*
 * semd-bench.c -- measure semd against its floors and its alternatives.
 *
 *	semd-bench [-hqR] [-b semd] [-S path] [-r semrun] [-L libdir]
 *	    [-x semrun-static] [-s sections] [-w windows] [-o plot-data]
 *
 * The floors: a bare AF_UNIX echo server written here (one epoll loop in
 * a process of its own, as semd is), answering frames of the size semd's
 * requests have; it costs what the round trips alone cost.  The
 * alternatives: the same acquire+release as a Lua-script semaphore in a
 * private redis-server on a Unix socket (when redis-server is installed),
 * and for semrun, flock(1) and GNU parallel's sem --fg.
 *
 * Sections (-s, comma-separated; default all):
 *   latency   acquire+release round trip of one client, p50/p99
 *   tput      acquire+release pairs/s, 1, 16 and 64 client threads
 *   lean      the same from one epoll thread, 1 and 64 connections with
 *             one request in flight each (the server's cost shows)
 *   handoff   RELEASE sent -> next waiter's ACQUIRED, 10 to 10,000 waiters
 *   memory    daemon VmRSS per idle connection, waiter and semaphore
 *   semrun    semrun x 1 -- true against flock and a bare true
 *
 * Every figure is the median over the windows (-w, default 5), and the
 * systems take turns inside each window (A B C A B C ...), so that a
 * slow spell of the machine hits them all alike.  Progress goes to
 * stderr; the table of results to stdout at the end.  The plot data
 * (-o) has one line per client count: clients, semd 1 sem, semd 64
 * sems, echo, redis 1 key, redis 64 keys (pairs/s; 0 when not run).
 */

#include "config.h"

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "semd.h"
#include "tl.h"

#define BENCH_MAX_WINDOWS	21
#define BENCH_NSEMS		64	/* semaphores of the spread runs */
#define BENCH_CAPACITY		64	/* >= clients: nobody ever waits */
#define BENCH_NCOUNTS		3
#define BENCH_MEM_COUNT		10000	/* connections, waiters, sems */
#define BENCH_MEM_CONNS		100	/* connections holding them */
#define BENCH_ECHO_MAX		65540

static const int bench_counts[BENCH_NCOUNTS] = { 1, 16, 64 };
/*
 * Handoff lines: waiters and the connections they come from.  The first
 * three differ only in length (the flatness target); the last has the
 * longest line spread over many connections.
 */
static const struct {
	int	waiters;
	int	conns;
} bench_lines[] = {
	{ 10, 10 }, { 1000, 10 }, { 10000, 10 }, { 10000, 1000 },
};
#define BENCH_NLINES	(sizeof bench_lines / sizeof bench_lines[0])
#define BENCH_NFLAT	3	/* lines of the flatness target */

enum bench_kind {
	BK_SEMD,
	BK_ECHO,
	BK_REDIS,
};

#define SEC_LATENCY	0x01
#define SEC_TPUT	0x02
#define SEC_HANDOFF	0x04
#define SEC_MEMORY	0x08
#define SEC_SEMRUN	0x10
#define SEC_LEAN	0x20
#define SEC_ALL		0x3f

static struct {
	const char	*semd_bin;
	const char	*socket;	/* -S: an existing daemon */
	const char	*semrun_bin;
	const char	*semrun_libdir;
	const char	*semrun_static;
	const char	*redis_bin;	/* NULL: no Redis */
	const char	*plot_data;
	int		 windows;
	int		 quick;
	unsigned int	 sections;
} conf;

static char		 bench_dir[96];
static char		 semd_sock[128];
static char		 echo_sock[128];
static char		 redis_sock[128];
static struct tl_daemon	 bench_semd = { .pid = -1 };  /* ours; not with -S */
static pid_t		 semd_peer = -1;	/* the daemon measured */
static pid_t		 echo_pid = -1;
static pid_t		 redis_pid = -1;
static char		 redis_acq_sha[41];
static char		 redis_rel_sha[41];
static size_t		 echo_acq_len, echo_rel_len;

static FILE		*table;		/* the results, printed at the end */
static char		*table_buf;
static size_t		 table_len;

/* Targets, for the summary. */
static int		 targets_checked, targets_missed;

static void	bench_note(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static void	bench_row(const char *, ...)
		    __attribute__((format(printf, 1, 2)));

/* Nanoseconds on the monotonic clock. */
static uint64_t
bench_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

/* Sleep for us microseconds. */
static void
bench_nap(long us)
{
	struct timespec	ts;

	ts.tv_sec = us / 1000000;
	ts.tv_nsec = (us % 1000000) * 1000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* A progress line on stderr. */
static void
bench_note(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fputs("semd-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* A line of the result table. */
static void
bench_row(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vfprintf(table, fmt, ap);
	va_end(ap);
	fputc('\n', table);
}

/* Record a target: name, whether it holds, and the numbers behind it. */
static void
bench_target(const char *what, int ok, const char *fmt, ...)
{
	char	detail[256];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	targets_checked++;
	if (!ok)
		targets_missed++;
	bench_row("  %-4s %-44s %s", ok ? "ok" : "MISS", what, detail);
}

/* qsort comparators. */
static int
bench_cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

static int
bench_cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return (x < y ? -1 : x > y);
}

/* The p-quantile (0 < p <= 1, nearest rank) of n samples; sorts v. */
static double
bench_pct(uint64_t *v, size_t n, double p)
{
	size_t	i;

	if (n == 0)
		return (0);
	qsort(v, n, sizeof *v, bench_cmp_u64);
	i = (size_t)(p * (double)n + 0.999999);
	if (i == 0)
		i = 1;
	if (i > n)
		i = n;
	return ((double)v[i - 1]);
}

/* The median of n doubles; sorts v. */
static double
bench_median(double *v, int n)
{
	if (n == 0)
		return (0);
	qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
	if (n % 2 == 1)
		return (v[n / 2]);
	return ((v[n / 2 - 1] + v[n / 2]) / 2);
}

/* ---- processes ---- */

/* Stop a child of ours and reap it. */
static void
bench_stop(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	waitpid(*pid, NULL, 0);
	*pid = -1;
}

/* At exit: stop every child and remove the temporary directory. */
static void
bench_cleanup(void)
{
	tl_daemon_stop(&bench_semd, 0);
	bench_stop(&echo_pid);
	bench_stop(&redis_pid);
	if (bench_dir[0] == '\0')
		return;
	if (tl_rmtree(bench_dir) == -1)
		warn("cannot remove %s", bench_dir);
	bench_dir[0] = '\0';
}

/* SIGINT, SIGTERM: leave through exit so that bench_cleanup runs. */
static void
bench_signal(int sig)
{
	(void)sig;
	exit(130);
}

/* Fork a child that is killed when we die. */
static pid_t
bench_fork(void)
{
	pid_t	pid;

	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	return (pid);
}

/* Wait until something accepts connections at path; die if pid exits. */
static void
bench_wait_socket(const char *path, pid_t pid, const char *what)
{
	int64_t	end = tl_now_ms() + TL_START_MS;

	while (!tl_can_dial(path)) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			errx(1, "%s exited before listening on %s", what, path);
		if (tl_now_ms() > end)
			errx(1, "%s does not listen on %s after %d ms", what,
			    path, TL_START_MS);
		tl_nap_ms(5);
	}
}

/*
 * Does the semd to start know option opt?  Its --help is read once (an
 * older semd, given with -b to compare, may lack newer limits).
 */
static int
bench_semd_has(const char *opt)
{
	static char	*help;
	static size_t	 len;
	char		 cmd[512], buf[4096];
	FILE		*f, *mem;
	size_t		 n;

	if (help == NULL) {
		if ((mem = open_memstream(&help, &len)) == NULL)
			err(1, "open_memstream");
		snprintf(cmd, sizeof cmd, "'%s' --help 2>&1", conf.semd_bin);
		if ((f = popen(cmd, "r")) != NULL) {
			while ((n = fread(buf, 1, sizeof buf, f)) > 0)
				fwrite(buf, 1, n, mem);
			pclose(f);
		}
		if (fclose(mem) != 0)
			err(1, "open_memstream");
	}
	return (strstr(help, opt) != NULL);
}

/*
 * (Re)start our private semd on semd_sock, without limits, and wait
 * until it listens.
 */
static void
bench_start_semd(void)
{
	static const char *const limits[] = { "--max-connections",
	    "--max-pending", "--max-holds", "--max-sems",
	    "--max-pending-per-uid", "--max-holds-per-uid",
	    "--max-connections-per-uid" };
	const char	*argv[32];
	size_t		 i, n = 0;

	argv[n++] = "-q";
	for (i = 0; i < sizeof limits / sizeof limits[0]; i++) {
		if (i < 4 || bench_semd_has(limits[i])) {
			argv[n++] = limits[i];
			argv[n++] = "0";
		}
	}
	argv[n] = NULL;
	if (tl_daemon_stop(&bench_semd, 0) == -1)
		warnx("%s", bench_semd.error);
	bench_semd.bin = conf.semd_bin;
	if ((size_t)snprintf(bench_semd.path, sizeof bench_semd.path, "%s",
	    semd_sock) >= sizeof bench_semd.path)
		errx(1, "%s: path too long", semd_sock);
	unlink(semd_sock);
	if (tl_daemon_start(&bench_semd, argv) == -1)
		errx(1, "%s", bench_semd.error);
}

/* ---- the echo server: the floor ---- */

/* Write all of buf to a non-blocking socket, waiting when it is full. */
static int
echo_write(int fd, const char *buf, size_t len)
{
	struct pollfd	pfd;
	ssize_t		n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			(void)poll(&pfd, 1, -1);
			continue;
		}
		return (-1);
	}
	return (0);
}

/*
 * The echo server's loop: one epoll set, every byte read is written
 * back at once.  The least a single-threaded AF_UNIX server can do per
 * request.  Never returns.
 */
static void
echo_serve(int lfd)
{
	static char		 buf[BENCH_ECHO_MAX];
	struct epoll_event	 ev, evs[64];
	ssize_t			 r;
	int			 ep, n, i, fd, cfd;

	if ((ep = epoll_create1(0)) == -1)
		_exit(1);
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) == -1)
		_exit(1);
	for (;;) {
		n = epoll_wait(ep, evs, 64, -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		for (i = 0; i < n; i++) {
			fd = evs[i].data.fd;
			if (fd == lfd) {
				while ((cfd = accept4(lfd, NULL, NULL,
				    SOCK_NONBLOCK)) != -1) {
					ev.events = EPOLLIN;
					ev.data.fd = cfd;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd,
					    &ev) == -1)
						close(cfd);
				}
				continue;
			}
			r = read(fd, buf, sizeof buf);
			if (r > 0) {
				if (echo_write(fd, buf, (size_t)r) == -1)
					close(fd);
			} else if (r == 0 || (errno != EAGAIN &&
			    errno != EINTR))
				close(fd);
		}
	}
}

/* Start the echo server on path; it listens before this returns. */
static pid_t
bench_start_echo(const char *path)
{
	pid_t	pid;
	int	lfd;

	if ((lfd = tl_listen(path, SOCK_NONBLOCK)) == -1)
		err(1, "listen on %s", path);
	if ((pid = bench_fork()) == 0) {
		echo_serve(lfd);
		_exit(0);
	}
	close(lfd);
	return (pid);
}

/* ---- Redis: a Lua-script semaphore over RESP ---- */

/*
 * Acquire: take a slot if the counter stays within the capacity (ARGV[1]),
 * answer 1; else put it back and answer 0.  Release: give one back.  A
 * counter is the cheapest semaphore Redis can hold; it has no owners, so
 * a client that dies keeps its slot forever (semd gives it back).
 */
static const char redis_acq_lua[] =
    "local n = redis.call('INCR', KEYS[1]) "
    "if n > tonumber(ARGV[1]) then redis.call('DECR', KEYS[1]) return 0 end "
    "return 1";
static const char redis_rel_lua[] = "return redis.call('DECR', KEYS[1])";

/* Encode a RESP command of argc strings into buf; returns its length. */
static size_t
resp_encode(char *buf, size_t size, int argc, const char **argv)
{
	size_t	len;
	int	i;

	len = (size_t)snprintf(buf, size, "*%d\r\n", argc);
	for (i = 0; i < argc && len < size; i++) {
		len += (size_t)snprintf(buf + len, size - len,
		    "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
	}
	if (len >= size)
		errx(1, "RESP command too long");
	return (len);
}

/*
 * Read one RESP reply (a line, or a bulk string) from fd into buf.
 * Replies come one per request, so nothing follows it.  Returns its
 * length, or -1 with errno.
 */
static ssize_t
resp_read(int fd, char *buf, size_t size)
{
	size_t	 len = 0, want;
	ssize_t	 n;
	char	*eol;
	long	 blen;

	for (;;) {
		n = read(fd, buf + len, size - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ECONNRESET;
			return (-1);
		}
		len += (size_t)n;
		buf[len] = '\0';
		if ((eol = strstr(buf, "\r\n")) == NULL)
			continue;
		if (buf[0] != '$')
			return ((ssize_t)len);
		blen = strtol(buf + 1, NULL, 10);
		want = (size_t)(eol - buf) + 2 + (blen < 0 ? 0 :
		    (size_t)blen + 2);
		if (len >= want)
			return ((ssize_t)len);
		if (len == size - 1) {
			errno = EMSGSIZE;
			return (-1);
		}
	}
}

/* Write all of buf to a blocking socket. */
static int
bench_write(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (-1);
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

/* Read exactly len bytes from a blocking socket. */
static int
bench_read(int fd, void *buf, size_t len)
{
	char	*p = buf;
	ssize_t	 n;

	while (len > 0) {
		n = read(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ECONNRESET;
			return (-1);
		}
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

/* SCRIPT LOAD script on fd; the SHA1 goes to sha (41 bytes). */
static void
redis_load(int fd, const char *script, char *sha)
{
	const char	*argv[] = { "SCRIPT", "LOAD", script };
	char		 buf[512];
	char		*p;
	size_t		 len;

	len = resp_encode(buf, sizeof buf, 3, argv);
	if (bench_write(fd, buf, len) == -1 ||
	    resp_read(fd, buf, sizeof buf) == -1)
		err(1, "redis SCRIPT LOAD");
	if (buf[0] != '$' || (p = strstr(buf, "\r\n")) == NULL ||
	    strlen(p + 2) < 42)
		errx(1, "redis SCRIPT LOAD answered %s", buf);
	memcpy(sha, p + 2, 40);
	sha[40] = '\0';
}

/*
 * Start a private redis-server on a Unix socket (no TCP, no persistence)
 * and load the two scripts.  Returns its pid.
 */
static pid_t
bench_start_redis(const char *path)
{
	pid_t	pid;
	int	fd;

	unlink(path);
	if ((pid = bench_fork()) == 0) {
		int	null = open("/dev/null", O_WRONLY);

		if (null != -1)
			dup2(null, STDOUT_FILENO);
		execlp(conf.redis_bin, conf.redis_bin, "--port", "0",
		    "--unixsocket", path, "--unixsocketperm", "700",
		    "--save", "", "--appendonly", "no", "--daemonize", "no",
		    "--loglevel", "warning", "--dir", bench_dir,
		    (char *)NULL);
		fprintf(stderr, "semd-bench: %s: %s\n", conf.redis_bin,
		    strerror(errno));
		_exit(127);
	}
	bench_wait_socket(path, pid, "redis-server");
	if ((fd = tl_dial(path)) == -1)
		err(1, "connect %s", path);
	redis_load(fd, redis_acq_lua, redis_acq_sha);
	redis_load(fd, redis_rel_lua, redis_rel_sha);
	close(fd);
	return (pid);
}

/* ---- one benchmark client of any kind ---- */

struct bclient {
	enum bench_kind	 kind;
	struct semd	*sd;
	int		 fd;
	char		 sem[64];
	char		 acq[256];	/* echo, redis: the request bytes */
	size_t		 acqlen;
	char		 rel[256];
	size_t		 rellen;
	char		 in[512];
};

/* Encode an ACQUIRE or RELEASE frame like libsemd's into buf. */
static size_t
bench_frame(char *buf, size_t size, enum proto_op op, const char *sem)
{
	struct proto_request	req;
	struct proto_buf	pb = { 0 };
	size_t			len;

	memset(&req, 0, sizeof req);
	req.op = op;
	req.id = 100000;	/* the size of an id after a while */
	req.has_sem = 1;
	snprintf(req.sem, sizeof req.sem, "%s", sem);
	req.sem_len = strlen(req.sem);
	req.weight = 1;
	req.timeout_ms = -1;
	if (op == PROTO_OP_ACQUIRE) {
		req.has_capacity = 1;
		req.capacity = BENCH_CAPACITY;
	}
	if (proto_encode_request(&pb, &req) == -1 || pb.len > size)
		errx(1, "cannot encode a frame");
	memcpy(buf, pb.data, pb.len);
	len = pb.len;
	proto_buf_free(&pb);
	return (len);
}

/*
 * Connect client number index of a run over nsems semaphores.  Returns 0,
 * or -1 with why filled.
 */
static int
bclient_open(struct bclient *c, enum bench_kind kind, int index, int nsems,
    char *why, size_t whylen)
{
	struct semd_error	 e;
	char			 cap[16];
	const char		*argv[6];

	memset(c, 0, sizeof *c);
	c->kind = kind;
	c->fd = -1;
	if (nsems <= 1)
		snprintf(c->sem, sizeof c->sem, "bench");
	else
		snprintf(c->sem, sizeof c->sem, "bench.%d", index % nsems);

	switch (kind) {
	case BK_SEMD:
		c->sd = semd_open(semd_sock, "semd-bench",
		    SEMD_OPEN_NO_AUTOSTART, &e);
		if (c->sd == NULL) {
			snprintf(why, whylen, "%.200s", e.message);
			return (-1);
		}
		return (0);
	case BK_ECHO:
		c->acqlen = bench_frame(c->acq, sizeof c->acq,
		    PROTO_OP_ACQUIRE, c->sem);
		c->rellen = bench_frame(c->rel, sizeof c->rel,
		    PROTO_OP_RELEASE, c->sem);
		if ((c->fd = tl_dial(echo_sock)) == -1)
			break;
		return (0);
	case BK_REDIS:
		snprintf(cap, sizeof cap, "%d", BENCH_CAPACITY);
		argv[0] = "EVALSHA";
		argv[1] = redis_acq_sha;
		argv[2] = "1";
		argv[3] = c->sem;
		argv[4] = cap;
		c->acqlen = resp_encode(c->acq, sizeof c->acq, 5, argv);
		argv[1] = redis_rel_sha;
		c->rellen = resp_encode(c->rel, sizeof c->rel, 4, argv);
		if ((c->fd = tl_dial(redis_sock)) == -1)
			break;
		return (0);
	}
	snprintf(why, whylen, "connect: %s", strerror(errno));
	return (-1);
}

/* Close a client. */
static void
bclient_close(struct bclient *c)
{
	if (c->sd != NULL)
		semd_close(c->sd);
	if (c->fd != -1)
		close(c->fd);
	c->sd = NULL;
	c->fd = -1;
}

/*
 * One acquire+release pair: two blocking round trips (for the echo
 * server, two echoes of frames the size of semd's).  Returns 0, or -1
 * with why filled.
 */
static int
bclient_pair(struct bclient *c, char *why, size_t whylen)
{
	struct semd_error	e;
	int			r;

	switch (c->kind) {
	case BK_SEMD:
		r = semd_acquire(c->sd, c->sem, BENCH_CAPACITY, 1,
		    SEMD_FOREVER, NULL, NULL, &e);
		if (r != SEMD_OK) {
			snprintf(why, whylen, "acquire: %.200s", e.message);
			return (-1);
		}
		if (semd_release(c->sd, c->sem, 1, &e) != SEMD_OK) {
			snprintf(why, whylen, "release: %.200s", e.message);
			return (-1);
		}
		return (0);
	case BK_ECHO:
		if (bench_write(c->fd, c->acq, c->acqlen) == -1 ||
		    bench_read(c->fd, c->in, c->acqlen) == -1 ||
		    bench_write(c->fd, c->rel, c->rellen) == -1 ||
		    bench_read(c->fd, c->in, c->rellen) == -1)
			break;
		return (0);
	case BK_REDIS:
		if (bench_write(c->fd, c->acq, c->acqlen) == -1 ||
		    resp_read(c->fd, c->in, sizeof c->in) == -1)
			break;
		if (strncmp(c->in, ":1\r\n", 4) != 0) {
			snprintf(why, whylen, "redis acquire answered %.40s",
			    c->in);
			return (-1);
		}
		if (bench_write(c->fd, c->rel, c->rellen) == -1 ||
		    resp_read(c->fd, c->in, sizeof c->in) == -1)
			break;
		if (c->in[0] != ':') {
			snprintf(why, whylen, "redis release answered %.40s",
			    c->in);
			return (-1);
		}
		return (0);
	}
	snprintf(why, whylen, "%s", strerror(errno));
	return (-1);
}

/* The name of a kind of client, for messages. */
static const char *
bench_kind_name(enum bench_kind kind)
{
	switch (kind) {
	case BK_SEMD:
		return ("semd");
	case BK_ECHO:
		return ("echo");
	case BK_REDIS:
		return ("redis");
	}
	return ("?");
}

/* ---- latency: one client ---- */

/*
 * Time npairs pairs of one client of kind, after a warm-up; the p50 and
 * p99 of a pair, in microseconds, go to *p50 and *p99.
 */
static void
bench_latency_one(enum bench_kind kind, int npairs, double *p50, double *p99)
{
	struct bclient	 c;
	uint64_t	*v, t0, t1;
	char		 why[256];
	int		 i;

	if ((v = calloc((size_t)npairs, sizeof *v)) == NULL)
		err(1, "calloc");
	if (bclient_open(&c, kind, 0, 1, why, sizeof why) == -1)
		errx(1, "%s: %s", bench_kind_name(kind), why);
	for (i = 0; i < npairs / 10 + 100; i++) {
		if (bclient_pair(&c, why, sizeof why) == -1)
			errx(1, "%s: %s", bench_kind_name(kind), why);
	}
	for (i = 0; i < npairs; i++) {
		t0 = bench_ns();
		if (bclient_pair(&c, why, sizeof why) == -1)
			errx(1, "%s: %s", bench_kind_name(kind), why);
		t1 = bench_ns();
		v[i] = t1 - t0;
	}
	bclient_close(&c);
	*p50 = bench_pct(v, (size_t)npairs, 0.50) / 1000.0;
	*p99 = bench_pct(v, (size_t)npairs, 0.99) / 1000.0;
	free(v);
}

/* The server process of kind (0 if unknown). */
static pid_t	bench_server(enum bench_kind);

/*
 * Pin the server of kind to CPU server_cpu and the calling thread to
 * client_cpu; -1 gives them all of mask again.  Returns 0, or -1 when
 * the kernel refuses (a daemon of another user, given with -S).
 */
static int
bench_pin(enum bench_kind kind, int server_cpu, int client_cpu,
    const cpu_set_t *mask)
{
	cpu_set_t	set;

	if (server_cpu < 0)
		set = *mask;
	else {
		CPU_ZERO(&set);
		CPU_SET(server_cpu, &set);
	}
	if (bench_server(kind) <= 0 ||
	    sched_setaffinity(bench_server(kind), sizeof set, &set) == -1)
		return (-1);
	if (client_cpu < 0)
		set = *mask;
	else {
		CPU_ZERO(&set);
		CPU_SET(client_cpu, &set);
	}
	return (sched_setaffinity(0, sizeof set, &set));
}

/*
 * The latency section: semd, echo and Redis in turn in each window, each
 * three ways: where the scheduler puts client and server, both pinned to
 * one CPU, and pinned to two different CPUs.  A ping-pong of one client
 * costs very different amounts in the last two cases (a context switch,
 * or a wake-up of another CPU), and left alone the scheduler picks either.
 */
static void
bench_latency(void)
{
	enum { PL_FREE, PL_SAME, PL_SPLIT, PL_N };
	static const char *plname[PL_N] = { "unpinned", "same CPU",
	    "2 CPUs" };
	enum bench_kind	 kinds[3] = { BK_SEMD, BK_ECHO, BK_REDIS };
	double		 p50[PL_N][3][BENCH_MAX_WINDOWS];
	double		 p99[PL_N][3][BENCH_MAX_WINDOWS];
	double		 m50[PL_N][3], m99[PL_N][3];
	cpu_set_t	 mask;
	int		 nk = conf.redis_bin != NULL ? 3 : 2;
	int		 npairs = conf.quick ? 1000 : 5000;
	int		 cpu[2] = { -1, -1 }, npl = PL_N, ok = 1;
	int		 w, k, pl, i;
	char		 line[256];
	size_t		 len;

	/* Two CPUs we may use, for the pinned runs. */
	if (sched_getaffinity(0, sizeof mask, &mask) == -1)
		npl = 1;
	for (i = 0, k = 0; npl > 1 && i < CPU_SETSIZE && k < 2; i++) {
		if (CPU_ISSET(i, &mask))
			cpu[k++] = i;
	}
	if (cpu[1] == -1)
		npl = 1;
	for (k = 0; npl > 1 && k < nk; k++) {
		if (bench_pin(kinds[k], -1, -1, &mask) == -1) {
			bench_note("latency: cannot pin the %s server, only "
			    "unpinned runs", bench_kind_name(kinds[k]));
			npl = 1;
		}
	}

	for (w = 0; w < conf.windows; w++) {
		bench_note("latency: window %d/%d", w + 1, conf.windows);
		for (pl = 0; pl < npl; pl++) {
			for (k = 0; k < nk; k++) {
				if (pl == PL_SAME)
					bench_pin(kinds[k], cpu[0], cpu[0],
					    &mask);
				else if (pl == PL_SPLIT)
					bench_pin(kinds[k], cpu[1], cpu[0],
					    &mask);
				bench_latency_one(kinds[k], npairs,
				    &p50[pl][k][w], &p99[pl][k][w]);
				if (pl != PL_FREE)
					bench_pin(kinds[k], -1, -1, &mask);
			}
		}
	}
	for (pl = 0; pl < npl; pl++) {
		for (k = 0; k < nk; k++) {
			m50[pl][k] = bench_median(p50[pl][k], conf.windows);
			m99[pl][k] = bench_median(p99[pl][k], conf.windows);
		}
	}

	bench_row("%s", "");
	bench_row("LATENCY, 1 client, %d pairs per window (us; median of "
	    "windows)", npairs);
	len = (size_t)snprintf(line, sizeof line, "  %-34s", "");
	for (pl = 0; pl < npl; pl++)
		len += (size_t)snprintf(line + len, sizeof line - len,
		    " %17s", plname[pl]);
	bench_row("%s", line);
	len = (size_t)snprintf(line, sizeof line, "  %-34s", "");
	for (pl = 0; pl < npl; pl++)
		len += (size_t)snprintf(line + len, sizeof line - len,
		    " %8s %8s", "p50", "p99");
	bench_row("%s", line);
	for (k = 0; k < nk; k++) {
		len = (size_t)snprintf(line, sizeof line, "  %-34s",
		    k == 0 ? "semd acquire+release (libsemd)" : k == 1 ?
		    "echo floor: 2 round trips" :
		    "redis EVALSHA acquire+release");
		for (pl = 0; pl < npl; pl++)
			len += (size_t)snprintf(line + len, sizeof line - len,
			    " %8.1f %8.1f", m50[pl][k], m99[pl][k]);
		bench_row("%s", line);
	}
	for (k = 1; k < nk; k++) {
		len = (size_t)snprintf(line, sizeof line, "  %-34s",
		    k == 1 ? "semd / echo" : "semd / redis");
		for (pl = 0; pl < npl; pl++)
			len += (size_t)snprintf(line + len, sizeof line - len,
			    " %7.2fx %7.2fx", m50[pl][0] / m50[pl][k],
			    m99[pl][0] / m99[pl][k]);
		bench_row("%s", line);
	}
	len = 0;
	line[0] = '\0';
	for (pl = 0; pl < npl; pl++) {
		if (m50[pl][0] > 1.3 * m50[pl][1])
			ok = 0;
		len += (size_t)snprintf(line + len, sizeof line - len,
		    "%s%s %.2fx", pl == 0 ? "p50 " : ", ", plname[pl],
		    m50[pl][0] / m50[pl][1]);
	}
	bench_target("1-client pair <= 1.3x two echo round trips", ok, "%s",
	    line);
}

/* ---- throughput: client threads ---- */

struct brun {
	enum bench_kind		 kind;
	int			 nsems;
	pthread_barrier_t	 start;
	atomic_int		 stop;
	atomic_int		 failed;
};

struct bworker {
	struct brun		*run;
	int			 index;
	pthread_t		 thread;
	_Atomic uint64_t	 pairs;
	char			 why[256];
};

/* A client thread: connect, wait for the others, do pairs until told. */
static void *
bench_worker(void *arg)
{
	struct bworker	*w = arg;
	struct brun	*run = w->run;
	struct bclient	 c;
	uint64_t	 n = 0;
	int		 ok;

	ok = bclient_open(&c, run->kind, w->index, run->nsems, w->why,
	    sizeof w->why) == 0;
	if (!ok)
		atomic_fetch_add(&run->failed, 1);
	pthread_barrier_wait(&run->start);
	if (!ok)
		return (NULL);
	while (!atomic_load_explicit(&run->stop, memory_order_relaxed)) {
		if (bclient_pair(&c, w->why, sizeof w->why) == -1) {
			atomic_fetch_add(&run->failed, 1);
			break;
		}
		atomic_store_explicit(&w->pairs, ++n, memory_order_relaxed);
	}
	bclient_close(&c);
	return (NULL);
}

/*
 * Nanoseconds the main thread of pid has spent on a CPU
 * (/proc/PID/schedstat), or 0 when unknown.
 */
static uint64_t
bench_cpu_ns(pid_t pid)
{
	char			 path[64];
	FILE			*f;
	unsigned long long	 ns = 0;

	if (pid <= 0)
		return (0);
	snprintf(path, sizeof path, "/proc/%ld/schedstat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (0);
	if (fscanf(f, "%llu", &ns) != 1)
		ns = 0;
	fclose(f);
	return ((uint64_t)ns);
}

/* CPU time (user and system) of this whole process so far, in ns. */
static uint64_t
bench_self_cpu_ns(void)
{
	struct rusage	ru;

	if (getrusage(RUSAGE_SELF, &ru) == -1)
		return (0);
	return (((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) *
	    1000000000ULL + ((uint64_t)ru.ru_utime.tv_usec +
	    (uint64_t)ru.ru_stime.tv_usec) * 1000ULL);
}

/* The server process of kind (0 if unknown). */
static pid_t
bench_server(enum bench_kind kind)
{
	switch (kind) {
	case BK_SEMD:
		return (semd_peer);
	case BK_ECHO:
		return (echo_pid);
	case BK_REDIS:
		return (redis_pid);
	}
	return (0);
}

/* Sum of the pairs done so far by n workers. */
static uint64_t
bench_pairs(struct bworker *w, int n)
{
	uint64_t	sum = 0;
	int		i;

	for (i = 0; i < n; i++)
		sum += atomic_load_explicit(&w[i].pairs, memory_order_relaxed);
	return (sum);
}

/*
 * Run nclients threads of kind over nsems semaphores for one window and
 * return the pairs completed per second (after a short warm-up); the
 * server's CPU time per pair goes to *cpu_us (0 when unknown).
 */
static double
bench_tput_one(enum bench_kind kind, int nclients, int nsems, long window_us,
    double *cpu_us, double *client_us)
{
	struct brun	 run;
	struct bworker	*w;
	uint64_t	 c0, c1, t0, t1, s0, s1, u0, u1;
	pid_t		 server = bench_server(kind);
	int		 i;

	memset(&run, 0, sizeof run);
	run.kind = kind;
	run.nsems = nsems;
	if ((w = calloc((size_t)nclients, sizeof *w)) == NULL)
		err(1, "calloc");
	pthread_barrier_init(&run.start, NULL, (unsigned int)nclients + 1);
	for (i = 0; i < nclients; i++) {
		w[i].run = &run;
		w[i].index = i;
		if (pthread_create(&w[i].thread, NULL, bench_worker,
		    &w[i]) != 0)
			errx(1, "pthread_create failed");
	}
	pthread_barrier_wait(&run.start);
	bench_nap(window_us / 10);		/* warm-up */
	c0 = bench_pairs(w, nclients);
	t0 = bench_ns();
	s0 = bench_cpu_ns(server);
	u0 = bench_self_cpu_ns();
	bench_nap(window_us);
	c1 = bench_pairs(w, nclients);
	t1 = bench_ns();
	s1 = bench_cpu_ns(server);
	u1 = bench_self_cpu_ns();
	atomic_store(&run.stop, 1);
	for (i = 0; i < nclients; i++)
		pthread_join(w[i].thread, NULL);
	pthread_barrier_destroy(&run.start);
	if (atomic_load(&run.failed) != 0) {
		for (i = 0; i < nclients; i++) {
			if (w[i].why[0] != '\0')
				errx(1, "%s client %d: %s",
				    bench_kind_name(kind), i, w[i].why);
		}
		errx(1, "%s: a client failed", bench_kind_name(kind));
	}
	free(w);
	*cpu_us = s0 != 0 && s1 > s0 && c1 > c0 ?
	    (double)(s1 - s0) / 1000.0 / (double)(c1 - c0) : 0;
	*client_us = c1 > c0 ? (double)(u1 - u0) / 1000.0 / (double)(c1 - c0) :
	    0;
	return ((double)(c1 - c0) * 1e9 / (double)(t1 - t0));
}

/*
 * The throughput section.  Columns: semd on 1 and on 64 semaphores, the
 * echo floor in pairs/s (its round trips/s divided by 2), Redis on 1 and
 * 64 keys.
 */
static void
bench_tput(void)
{
	enum { T_SEMD1, T_SEMD64, T_ECHO, T_REDIS1, T_REDIS64, T_N };
	static const struct {
		enum bench_kind	kind;
		int		nsems;
	} sys[T_N] = {
		{ BK_SEMD, 1 }, { BK_SEMD, BENCH_NSEMS }, { BK_ECHO, 1 },
		{ BK_REDIS, 1 }, { BK_REDIS, BENCH_NSEMS },
	};
	double	 v[T_N][BENCH_NCOUNTS][BENCH_MAX_WINDOWS];
	double	 u[T_N][BENCH_NCOUNTS][BENCH_MAX_WINDOWS];
	double	 k[T_N][BENCH_NCOUNTS][BENCH_MAX_WINDOWS];
	double	 m[T_N][BENCH_NCOUNTS], mu[T_N][BENCH_NCOUNTS];
	double	 mk[T_N][BENCH_NCOUNTS];
	long	 window_us = conf.quick ? 200000 : 500000;
	int	 w, c, s, ns = conf.redis_bin != NULL ? T_N : T_ECHO + 1;
	FILE	*f;

	memset(m, 0, sizeof m);
	memset(mu, 0, sizeof mu);
	memset(mk, 0, sizeof mk);
	for (w = 0; w < conf.windows; w++) {
		bench_note("throughput: window %d/%d", w + 1, conf.windows);
		for (c = 0; c < BENCH_NCOUNTS; c++) {
			for (s = 0; s < ns; s++)
				v[s][c][w] = bench_tput_one(sys[s].kind,
				    bench_counts[c], sys[s].nsems, window_us,
				    &u[s][c][w], &k[s][c][w]);
		}
	}
	for (s = 0; s < ns; s++) {
		for (c = 0; c < BENCH_NCOUNTS; c++) {
			m[s][c] = bench_median(v[s][c], conf.windows);
			mu[s][c] = bench_median(u[s][c], conf.windows);
			mk[s][c] = bench_median(k[s][c], conf.windows);
		}
	}

	bench_row("%s", "");
	bench_row("THROUGHPUT, acquire+release pairs/s, %.1f s windows, "
	    "capacity %d (nobody waits)", window_us / 1e6, BENCH_CAPACITY);
	bench_row("  echo floor = echo round trips/s / 2 (a pair is 2 round "
	    "trips); ratios use the 1-semaphore/1-key columns");
	bench_row("  %7s %10s %10s %10s %10s %10s %9s %9s", "clients",
	    "semd 1sem", "semd 64sem", "echo", "redis 1key", "redis 64key",
	    "semd/echo", "semd/redis");
	for (c = 0; c < BENCH_NCOUNTS; c++) {
		if (ns == T_N)
			bench_row("  %7d %10.0f %10.0f %10.0f %10.0f %10.0f "
			    "%8.2fx %8.2fx", bench_counts[c], m[T_SEMD1][c],
			    m[T_SEMD64][c], m[T_ECHO][c], m[T_REDIS1][c],
			    m[T_REDIS64][c], m[T_SEMD1][c] / m[T_ECHO][c],
			    m[T_SEMD1][c] / m[T_REDIS1][c]);
		else
			bench_row("  %7d %10.0f %10.0f %10.0f %10s %10s "
			    "%8.2fx %9s", bench_counts[c], m[T_SEMD1][c],
			    m[T_SEMD64][c], m[T_ECHO][c], "-", "-",
			    m[T_SEMD1][c] / m[T_ECHO][c], "-");
	}
	bench_row("  server CPU per pair (us; the server's main thread, "
	    "/proc/PID/schedstat):");
	for (c = 0; c < BENCH_NCOUNTS; c++) {
		if (ns == T_N)
			bench_row("  %7d %10.2f %10.2f %10.2f %10.2f %10.2f",
			    bench_counts[c], mu[T_SEMD1][c], mu[T_SEMD64][c],
			    mu[T_ECHO][c], mu[T_REDIS1][c], mu[T_REDIS64][c]);
		else
			bench_row("  %7d %10.2f %10.2f %10.2f %10s %10s",
			    bench_counts[c], mu[T_SEMD1][c], mu[T_SEMD64][c],
			    mu[T_ECHO][c], "-", "-");
	}
	bench_row("  client CPU per pair (us; all client threads, "
	    "getrusage):");
	for (c = 0; c < BENCH_NCOUNTS; c++) {
		if (ns == T_N)
			bench_row("  %7d %10.2f %10.2f %10.2f %10.2f %10.2f",
			    bench_counts[c], mk[T_SEMD1][c], mk[T_SEMD64][c],
			    mk[T_ECHO][c], mk[T_REDIS1][c], mk[T_REDIS64][c]);
		else
			bench_row("  %7d %10.2f %10.2f %10.2f %10s %10s",
			    bench_counts[c], mk[T_SEMD1][c], mk[T_SEMD64][c],
			    mk[T_ECHO][c], "-", "-");
	}
	c = BENCH_NCOUNTS - 1;
	bench_target("64-client throughput >= 80% of echo floor",
	    m[T_SEMD1][c] >= 0.8 * m[T_ECHO][c], "%.0f vs %.0f pairs/s: "
	    "%.0f%% (64 sems: %.0f%%)", m[T_SEMD1][c], m[T_ECHO][c],
	    100 * m[T_SEMD1][c] / m[T_ECHO][c],
	    100 * m[T_SEMD64][c] / m[T_ECHO][c]);
	if (ns == T_N)
		bench_target("64-client throughput >= 2x Redis",
		    m[T_SEMD1][c] >= 2 * m[T_REDIS1][c], "%.0f vs %.0f "
		    "pairs/s: %.2fx (64 sems/keys: %.2fx)", m[T_SEMD1][c],
		    m[T_REDIS1][c], m[T_SEMD1][c] / m[T_REDIS1][c],
		    m[T_SEMD64][c] / m[T_REDIS64][c]);

	if (conf.plot_data == NULL)
		return;
	if ((f = fopen(conf.plot_data, "w")) == NULL)
		err(1, "%s", conf.plot_data);
	fprintf(f, "# clients semd_1sem semd_64sems echo_floor redis_1key "
	    "redis_64keys (pairs/s)\n");
	for (c = 0; c < BENCH_NCOUNTS; c++)
		fprintf(f, "%d %.0f %.0f %.0f %.0f %.0f\n", bench_counts[c],
		    m[T_SEMD1][c], m[T_SEMD64][c], m[T_ECHO][c],
		    m[T_REDIS1][c], m[T_REDIS64][c]);
	if (fclose(f) != 0)
		err(1, "%s", conf.plot_data);
}

/* ---- lean: one thread, epoll, one request in flight per connection ---- */

/*
 * The lean client (like redis-benchmark): one thread drives every
 * connection from one epoll set, each connection with exactly one
 * request in flight.  Threaded blocking clients spend more CPU than the
 * server and so hide what the server costs; this one spends about what
 * the echo server does.  Both systems get the same ACQUIRE and RELEASE
 * frames (semd answers ACQUIRED and RELEASED, the echo server sends the
 * frame back); the client checks each answer's op (or the echoed bytes).
 */

#define LEAN_NCOUNTS		2
#define LEAN_MAX_SAMPLES	(1 << 20)

static const int lean_counts[LEAN_NCOUNTS] = { 1, 64 };

struct lconn {
	int		 fd;
	int		 rel;		/* 1: the RELEASE is in flight */
	size_t		 have;		/* bytes of the answer read */
	uint64_t	 t0;		/* when the pair's ACQUIRE was sent */
	uint8_t		 in[512];
};

struct lrun {
	enum bench_kind	 kind;
	char		 acq[256], rel[256];
	size_t		 acqlen, rellen;
	uint8_t		 want_acq[16], want_rel[16];	/* semd: op prefix */
	size_t		 want_acqlen, want_rellen;
	uint64_t	 pairs;
	uint64_t	*lat;		/* pair times, while measuring */
	size_t		 nlat;
	int		 measuring;
};

/*
 * CPU time (user + system, all threads) of process pid so far, in ns,
 * from /proc/PID/stat (clock ticks), the user part of it in *user;
 * UINT64_MAX when unknown.
 */
static uint64_t
lean_proc_cpu_ns(pid_t pid, uint64_t *user)
{
	char			 path[64], buf[1024], *p;
	unsigned long long	 ut, st;
	FILE			*f;
	size_t			 n;
	long			 hz = sysconf(_SC_CLK_TCK);

	if (pid <= 0 || hz <= 0)
		return (UINT64_MAX);
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (UINT64_MAX);
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After "(comm) ": state is field 3, utime 14 and stime 15. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 2, "%*c %*d %*d "
	    "%*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return (UINT64_MAX);
	*user = (uint64_t)ut * (1000000000ULL / (uint64_t)hz);
	return ((uint64_t)(ut + st) * (1000000000ULL / (uint64_t)hz));
}

/* The op prefix of a semd answer body: fixstr "op", fixstr name. */
static size_t
lean_op_prefix(uint8_t *buf, enum proto_op op)
{
	const char	*name = proto_op_name(op);
	size_t		 len = strlen(name);

	buf[0] = 0xa2;
	buf[1] = 'o';
	buf[2] = 'p';
	buf[3] = (uint8_t)(0xa0 | len);
	memcpy(buf + 4, name, len);
	return (4 + len);
}

/* Send the next request of lc: ACQUIRE, or RELEASE after ACQUIRED. */
static void
lean_send(struct lrun *r, struct lconn *lc)
{
	const char	*buf = lc->rel ? r->rel : r->acq;
	size_t		 len = lc->rel ? r->rellen : r->acqlen;

	if (!lc->rel)
		lc->t0 = bench_ns();
	if (write(lc->fd, buf, len) != (ssize_t)len)
		err(1, "lean %s: write", bench_kind_name(r->kind));
}

/*
 * lc is readable: read its answer; once it is whole, check it and send
 * the next request.
 */
static void
lean_input(struct lrun *r, struct lconn *lc)
{
	struct proto_reply	 rep;
	const char		*sent = lc->rel ? r->rel : r->acq;
	const uint8_t		*want = lc->rel ? r->want_rel : r->want_acq;
	size_t			 sentlen = lc->rel ? r->rellen : r->acqlen;
	size_t			 wantlen = lc->rel ? r->want_rellen :
				    r->want_acqlen;
	size_t			 total;
	ssize_t			 n;
	char			 why[128];

	n = read(lc->fd, lc->in + lc->have, sizeof lc->in - lc->have);
	if (n <= 0)
		errx(1, "lean %s: %s", bench_kind_name(r->kind), n == 0 ?
		    "the server closed the connection" : strerror(errno));
	lc->have += (size_t)n;
	if (lc->have < PROTO_HDR_LEN)
		return;
	total = PROTO_HDR_LEN + (size_t)proto_frame_len(lc->in);
	if (total > sizeof lc->in || lc->have > total)
		errx(1, "lean %s: an answer of %zu bytes", bench_kind_name(
		    r->kind), total);
	if (lc->have < total)
		return;
	if (r->kind == BK_ECHO ? total != sentlen ||
	    memcmp(lc->in, sent, sentlen) != 0 : total < PROTO_HDR_LEN + 1 +
	    wantlen || memcmp(lc->in + PROTO_HDR_LEN + 1, want,
	    wantlen) != 0) {
		memset(&rep, 0, sizeof rep);
		why[0] = '\0';
		(void)proto_decode_reply(lc->in + PROTO_HDR_LEN,
		    total - PROTO_HDR_LEN, &rep, why, sizeof why);
		errx(1, "lean %s: unexpected answer (%s %s)",
		    bench_kind_name(r->kind), proto_op_name(rep.op) != NULL ?
		    proto_op_name(rep.op) : "?", rep.message[0] != '\0' ?
		    rep.message : why);
	}
	lc->have = 0;
	if (lc->rel) {
		r->pairs++;
		if (r->measuring && r->nlat < LEAN_MAX_SAMPLES)
			r->lat[r->nlat++] = bench_ns() - lc->t0;
	}
	lc->rel = !lc->rel;
	lean_send(r, lc);
}

/*
 * One window of the lean client of kind with nconns connections: pairs
 * per second after a warm-up; the server's CPU per pair (us, 0 when
 * unknown) and the user part of it, this process's CPU per pair (us)
 * and the median pair time (us) go to *server_us, *user_us, *client_us
 * and *p50_us.
 */
static double
lean_one(enum bench_kind kind, int nconns, long window_us, double *server_us,
    double *user_us, double *client_us, double *p50_us)
{
	static struct lrun	 r;
	static uint64_t		*lat;
	struct lconn		*lc;
	struct epoll_event	 ev, evs[64];
	uint64_t		 t, start, end, t0 = 0, c0 = 0, s0 = 0, u0 = 0;
	uint64_t		 s1, u1, su0 = 0, su1 = 0;
	pid_t			 server = bench_server(kind);
	int			 ep, i, n;

	if (lat == NULL && (lat = calloc(LEAN_MAX_SAMPLES,
	    sizeof *lat)) == NULL)
		err(1, "calloc");
	memset(&r, 0, sizeof r);
	r.kind = kind;
	r.lat = lat;
	r.acqlen = bench_frame(r.acq, sizeof r.acq, PROTO_OP_ACQUIRE, "bench");
	r.rellen = bench_frame(r.rel, sizeof r.rel, PROTO_OP_RELEASE, "bench");
	r.want_acqlen = lean_op_prefix(r.want_acq, PROTO_OP_ACQUIRED);
	r.want_rellen = lean_op_prefix(r.want_rel, PROTO_OP_RELEASED);
	if ((lc = calloc((size_t)nconns, sizeof *lc)) == NULL)
		err(1, "calloc");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		err(1, "epoll_create1");
	for (i = 0; i < nconns; i++) {
		lc[i].fd = tl_dial(kind == BK_SEMD ? semd_sock :
		    echo_sock);
		if (lc[i].fd == -1)
			err(1, "lean %s: connect", bench_kind_name(kind));
		memset(&ev, 0, sizeof ev);
		ev.events = EPOLLIN;
		ev.data.ptr = &lc[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, lc[i].fd, &ev) == -1)
			err(1, "epoll_ctl");
	}
	for (i = 0; i < nconns; i++)
		lean_send(&r, &lc[i]);
	start = bench_ns() + (uint64_t)window_us * 100;	/* warm-up: 1/10 */
	end = start + (uint64_t)window_us * 1000;
	for (;;) {
		n = epoll_wait(ep, evs, 64, 1000);
		if (n == -1 && errno != EINTR)
			err(1, "epoll_wait");
		for (i = 0; i < n; i++)
			lean_input(&r, evs[i].data.ptr);
		t = bench_ns();
		if (!r.measuring && t >= start) {
			r.measuring = 1;
			t0 = t;
			c0 = r.pairs;
			s0 = lean_proc_cpu_ns(server, &su0);
			u0 = bench_self_cpu_ns();
		}
		if (t >= end)
			break;
	}
	s1 = lean_proc_cpu_ns(server, &su1);
	u1 = bench_self_cpu_ns();
	for (i = 0; i < nconns; i++)
		close(lc[i].fd);
	close(ep);
	free(lc);
	n = (int)(r.pairs - c0);
	*server_us = s0 != UINT64_MAX && s1 != UINT64_MAX && n > 0 ?
	    (double)(s1 - s0) / 1000.0 / n : 0;
	*user_us = *server_us > 0 ? (double)(su1 - su0) / 1000.0 / n : 0;
	*client_us = n > 0 ? (double)(u1 - u0) / 1000.0 / n : 0;
	*p50_us = bench_pct(r.lat, r.nlat, 0.50) / 1000.0;
	return ((double)n * 1e9 / (double)(t - t0));
}

/* "median (min-max)" of n values, into buf; sorts v. */
static const char *
lean_spread(char *buf, size_t len, const char *fmt, double *v, int n)
{
	char	a[20], b[20], c[20];

	snprintf(b, sizeof b, fmt, bench_median(v, n));
	snprintf(a, sizeof a, fmt, v[0]);
	snprintf(c, sizeof c, fmt, v[n - 1]);
	snprintf(buf, len, "%s (%s-%s)", b, a, c);
	return (buf);
}

/*
 * One row of the lean table: label (a format taking the connections),
 * semd's and echo's n values with fmt, and the ratios (NULL: none).
 * Returns the median ratio (0 without).  Sorts the arrays.
 */
static double
lean_row(const char *label, int conns, const char *fmt, double *semd,
    double *echo, double *ratio, int n)
{
	char	l[64], a[64], b[64], r[64];

	snprintf(l, sizeof l, label, conns, conns == 1 ? "" : "s");
	bench_row("  %-30s %22s %22s %22s", l, lean_spread(a, sizeof a, fmt,
	    semd, n), lean_spread(b, sizeof b, fmt, echo, n), ratio == NULL ?
	    "" : lean_spread(r, sizeof r, "%.2fx", ratio, n));
	return (ratio == NULL ? 0 : bench_median(ratio, n));
}

/*
 * The lean section: semd and the echo floor in turn in each window, at
 * 1 and 64 connections.  The 1-connection runs pin client and server to
 * one CPU (when allowed), so that every round trip is two context
 * switches and the server's own cost shows in the pair time; left alone,
 * the scheduler picks that or a cross-CPU wake-up (~50 us) from run to
 * run.  Ratios are taken inside each window (semd against the echo run
 * next to it), then the median and range of the windows are printed.
 */
static void
bench_lean(void)
{
	enum { L_SEMD, L_ECHO, L_N };
	enum bench_kind	 kinds[L_N] = { BK_SEMD, BK_ECHO };
	double		 v[L_N][LEAN_NCOUNTS][BENCH_MAX_WINDOWS];
	double		 su[L_N][LEAN_NCOUNTS][BENCH_MAX_WINDOWS];
	double		 uu[L_N][LEAN_NCOUNTS][BENCH_MAX_WINDOWS];
	double		 cu[L_N][LEAN_NCOUNTS][BENCH_MAX_WINDOWS];
	double		 p50[L_N][LEAN_NCOUNTS][BENCH_MAX_WINDOWS];
	double		 rt[LEAN_NCOUNTS][BENCH_MAX_WINDOWS];
	double		 rc[LEAN_NCOUNTS][BENCH_MAX_WINDOWS];
	double		 rl[BENCH_MAX_WINDOWS];
	double		 mt[LEAN_NCOUNTS], mc[LEAN_NCOUNTS], ml;
	long		 window_us = conf.quick ? 300000 : 1000000;
	int		 w, c, k, nw = conf.windows, cpu = -1, pinned;
	cpu_set_t	 mask;

	if (sched_getaffinity(0, sizeof mask, &mask) == 0) {
		for (k = 0; k < CPU_SETSIZE && cpu == -1; k++) {
			if (CPU_ISSET(k, &mask))
				cpu = k;
		}
	}
	for (w = 0; w < nw; w++) {
		bench_note("lean: window %d/%d", w + 1, nw);
		for (c = 0; c < LEAN_NCOUNTS; c++) {
			for (k = 0; k < L_N; k++) {
				pinned = lean_counts[c] == 1 && cpu != -1 &&
				    bench_pin(kinds[k], cpu, cpu, &mask) == 0;
				v[k][c][w] = lean_one(kinds[k],
				    lean_counts[c], window_us, &su[k][c][w],
				    &uu[k][c][w], &cu[k][c][w],
				    &p50[k][c][w]);
				if (pinned)
					bench_pin(kinds[k], -1, -1, &mask);
			}
			rt[c][w] = v[L_SEMD][c][w] / v[L_ECHO][c][w];
			rc[c][w] = su[L_ECHO][c][w] > 0 ?
			    su[L_SEMD][c][w] / su[L_ECHO][c][w] : 0;
		}
		rl[w] = p50[L_SEMD][0][w] / p50[L_ECHO][0][w];
	}

	bench_row("%s", "");
	bench_row("LEAN CLIENT, one thread, epoll, one request in flight per "
	    "connection, %.1f s windows", window_us / 1e6);
	bench_row("  semd: ACQUIRE+RELEASE on one semaphore of capacity %d "
	    "(nobody waits); echo: the same frames echoed", BENCH_CAPACITY);
	bench_row("  1 connection: client and server pinned to CPU %d; "
	    "median of %d windows (min-max),", cpu, nw);
	bench_row("  ratios taken inside each window; server CPU = "
	    "utime+stime of its process (/proc/PID/stat) / pairs");
	bench_row("  %-30s %22s %22s %22s", "", "semd", "echo", "semd/echo");
	for (c = 0; c < LEAN_NCOUNTS; c++)
		mt[c] = lean_row("pairs/s, %d conn%s", lean_counts[c], "%.0f",
		    v[L_SEMD][c], v[L_ECHO][c], rt[c], nw);
	ml = lean_row("pair p50 us, %d conn%s", 1, "%.1f", p50[L_SEMD][0],
	    p50[L_ECHO][0], rl, nw);
	for (c = 0; c < LEAN_NCOUNTS; c++)
		mc[c] = lean_row("server CPU/pair us, %d conn%s",
		    lean_counts[c], "%.2f", su[L_SEMD][c], su[L_ECHO][c], rc[c],
		    nw);
	for (c = 0; c < LEAN_NCOUNTS; c++)
		(void)lean_row("  of it user, %d conn%s", lean_counts[c],
		    "%.2f", uu[L_SEMD][c], uu[L_ECHO][c], NULL, nw);
	for (c = 0; c < LEAN_NCOUNTS; c++)
		(void)lean_row("client CPU/pair us, %d conn%s", lean_counts[c],
		    "%.2f", cu[L_SEMD][c], cu[L_ECHO][c], NULL, nw);
	bench_target("lean 64 conns: pairs/s >= 0.85x echo", mt[1] >= 0.85,
	    "%.2fx", mt[1]);
	bench_target("lean 1 conn: pair <= 1.15x two echo trips", ml <= 1.15,
	    "%.2fx", ml);
	if (mc[1] > 0)
		bench_target("lean: server CPU/pair <= 1.3x echo's",
		    mc[0] <= 1.3 && mc[1] <= 1.3, "1 conn %.2fx, 64 conns "
		    "%.2fx", mc[0], mc[1]);
	else
		bench_note("lean: the server's CPU time is unknown");
}

/* ---- many connections: helpers for handoff and memory ---- */

/* Open n libsemd connections (each has done its HELLO round trip). */
static struct semd **
bench_open_many(int n)
{
	struct semd		**sd;
	struct semd_error	  e;
	int			  i;

	if ((sd = calloc((size_t)n, sizeof *sd)) == NULL)
		err(1, "calloc");
	for (i = 0; i < n; i++) {
		sd[i] = semd_open(semd_sock, "semd-bench",
		    SEMD_OPEN_NO_AUTOSTART, &e);
		if (sd[i] == NULL)
			errx(1, "connection %d: %s", i, e.message);
	}
	return (sd);
}

/* Close n connections and free the array. */
static void
bench_close_many(struct semd **sd, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		semd_close(sd[i]);
	free(sd);
}

/* An epoll set watching n connections for input; data.u32 = index. */
static int
bench_epoll(struct semd **sd, int n)
{
	struct epoll_event	ev;
	int			ep, i;

	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		err(1, "epoll_create1");
	for (i = 0; i < n; i++) {
		memset(&ev, 0, sizeof ev);
		ev.events = EPOLLIN;
		ev.data.u32 = (uint32_t)i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, semd_fd(sd[i]), &ev) == -1)
			err(1, "epoll_ctl");
	}
	return (ep);
}

/*
 * Wait for events on the connections of ep and count them by type into
 * counts[] until counts[type] reaches want.  Errors are fatal.  If
 * last is not NULL, *last is set to the index of the connection of the
 * last event of that type.
 */
static void
bench_collect(int ep, struct semd **sd, enum semd_event_type type,
    uint64_t *counts, uint64_t want, int *last)
{
	struct epoll_event	evs[64];
	struct semd_event	ev;
	struct semd_error	e;
	int			n, i, r, idx;

	while (counts[type] < want) {
		n = epoll_wait(ep, evs, 64, 30000);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			err(1, "epoll_wait");
		if (n == 0)
			errx(1, "no reply from semd in 30 seconds");
		for (i = 0; i < n; i++) {
			idx = (int)evs[i].data.u32;
			while ((r = semd_process(sd[idx], &ev, &e)) == 1) {
				if (ev.type == SEMD_EV_ERROR)
					errx(1, "semd: %s", ev.error.message);
				if (ev.type <= SEMD_EV_ERROR)
					counts[ev.type]++;
				if (ev.type == type && last != NULL)
					*last = idx;
			}
			if (r == -1)
				errx(1, "semd: %s", e.message);
		}
	}
}

/*
 * Send an ACQUIRE (or RELEASE when rel) on sd, waiting until the socket
 * took all of it (the daemon reads on; its replies wait in its buffer);
 * errors are fatal.
 */
static void
bench_submit(struct semd *sd, int rel, const char *sem, uint32_t cap,
    uint32_t weight)
{
	struct semd_error	e;
	struct pollfd		pfd;
	uint64_t		id;
	int			r;

	if (rel)
		r = semd_submit_release(sd, &id, sem, weight, &e);
	else
		r = semd_submit_acquire(sd, &id, sem, cap, weight,
		    SEMD_FOREVER, &e);
	if (r != SEMD_OK || semd_flush(sd, &e) != 0)
		errx(1, "submit: %s", e.message);
	while (semd_want_write(sd)) {
		pfd.fd = semd_fd(sd);
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 30000) == 0)
			errx(1, "semd does not read its requests");
		if (semd_flush(sd, &e) != 0)
			errx(1, "submit: %s", e.message);
	}
}

/* ---- handoff ---- */

/* One line of waiters on one semaphore of capacity 1. */
struct hring {
	int		  nwaiters;
	int		  nconns;
	struct semd	**sd;
	int		  ep;
	int		  holder;	/* connection holding the slot */
	uint64_t	  counts[SEMD_EV_ERROR + 1];
	char		  sem[32];
	double		  p50[BENCH_MAX_WINDOWS];
	double		  p99[BENCH_MAX_WINDOWS];
};

/*
 * Set up a line: nconns connections, the first holds the slot, nwaiters
 * ACQUIREs queued round-robin from all of them.
 */
static void
hring_open(struct hring *r, int nwaiters, int nconns)
{
	struct semd_error	e;
	int			i;

	memset(r, 0, sizeof *r);
	r->nwaiters = nwaiters;
	r->nconns = nconns;
	snprintf(r->sem, sizeof r->sem, "handoff.%d.%d", nwaiters, nconns);
	r->sd = bench_open_many(nconns);
	r->ep = bench_epoll(r->sd, nconns);
	if (semd_acquire(r->sd[0], r->sem, 1, 1, SEMD_FOREVER, NULL, NULL,
	    &e) != SEMD_OK)
		errx(1, "handoff: %s", e.message);
	r->holder = 0;
	for (i = 0; i < nwaiters; i++)
		bench_submit(r->sd[i % nconns], 0, r->sem, 1, 1);
	bench_collect(r->ep, r->sd, SEMD_EV_QUEUED, r->counts,
	    (uint64_t)nwaiters, NULL);
}

/*
 * Pass the slot down the line n times: the holder sends RELEASE and a new
 * ACQUIRE (back to the tail, so the line keeps its length); the time
 * until the next head's ACQUIRED arrives is one sample, in v[].
 */
static void
hring_run(struct hring *r, uint64_t *v, int n)
{
	uint64_t	t0;
	int		i;

	for (i = 0; i < n; i++) {
		t0 = bench_ns();
		bench_submit(r->sd[r->holder], 1, r->sem, 1, 1);
		bench_submit(r->sd[r->holder], 0, r->sem, 1, 1);
		bench_collect(r->ep, r->sd, SEMD_EV_ACQUIRED, r->counts,
		    r->counts[SEMD_EV_ACQUIRED] + 1, &r->holder);
		v[i] = bench_ns() - t0;
	}
}

/*
 * The handoff section: lines of 10, 1,000 and 10,000 waiters pipelined
 * from 10 connections each, and 10,000 waiters from 1,000 connections,
 * all queued at once on their own semaphores and connections; in each
 * window every line takes its turn.
 */
static void
bench_handoff(void)
{
	struct hring	 r[BENCH_NLINES];
	uint64_t	*v;
	double		 m50[BENCH_NLINES], m99[BENCH_NLINES];
	double		 lo, hi;
	int		 per_window = conf.quick ? 1000 : 5000, w;
	size_t		 i;

	for (i = 0; i < BENCH_NLINES; i++) {
		bench_note("handoff: queueing %d waiters from %d connections",
		    bench_lines[i].waiters, bench_lines[i].conns);
		hring_open(&r[i], bench_lines[i].waiters,
		    bench_lines[i].conns);
	}
	if ((v = calloc((size_t)per_window, sizeof *v)) == NULL)
		err(1, "calloc");
	for (w = 0; w <= conf.windows; w++) {
		bench_note("handoff: window %d/%d%s", w, conf.windows,
		    w == 0 ? " (warm-up)" : "");
		for (i = 0; i < BENCH_NLINES; i++) {
			hring_run(&r[i], v, per_window);
			if (w == 0)
				continue;
			r[i].p50[w - 1] = bench_pct(v, (size_t)per_window,
			    0.50) / 1000.0;
			r[i].p99[w - 1] = bench_pct(v, (size_t)per_window,
			    0.99) / 1000.0;
		}
	}
	free(v);
	for (i = 0; i < BENCH_NLINES; i++) {
		m50[i] = bench_median(r[i].p50, conf.windows);
		m99[i] = bench_median(r[i].p99, conf.windows);
		close(r[i].ep);
		bench_close_many(r[i].sd, r[i].nconns);
	}

	bench_row("%s", "");
	bench_row("HANDOFF, RELEASE sent -> next waiter's ACQUIRED received "
	    "(us), %d per line per window", per_window);
	bench_row("  %9s %12s %9s %9s", "waiters", "connections", "p50",
	    "p99");
	lo = hi = m99[0];
	for (i = 0; i < BENCH_NLINES; i++) {
		bench_row("  %9d %12d %9.1f %9.1f", bench_lines[i].waiters,
		    r[i].nconns, m50[i], m99[i]);
		if (i >= BENCH_NFLAT)
			continue;
		if (m99[i] < lo)
			lo = m99[i];
		if (m99[i] > hi)
			hi = m99[i];
	}
	bench_target("handoff p99 flat (+-25%) from 10 to 10,000",
	    hi <= 1.25 * m99[0] && lo >= 0.75 * m99[0], "p99 %.1f .. %.1f "
	    "us (at 10: %.1f; 10 connections)", lo, hi, m99[0]);
}

/* ---- memory ---- */

/* The daemon's resident set in bytes (VmRSS), or -1. */
static long
bench_rss(pid_t pid)
{
	char	 path[64], line[256];
	FILE	*f;
	long	 kb = -1;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kb = strtol(line + 6, NULL, 10);
			break;
		}
	}
	fclose(f);
	return (kb < 0 ? -1 : kb * 1024);
}

/* The pid of the daemon at semd_sock, from its HELLO reply. */
static pid_t
bench_peer_pid(void)
{
	struct semd		*sd;
	struct semd_error	 e;
	pid_t			 pid;

	if ((sd = semd_open(semd_sock, "semd-bench", SEMD_OPEN_NO_AUTOSTART,
	    &e)) == NULL)
		errx(1, "%s", e.message);
	pid = semd_server_pid(sd);
	semd_close(sd);
	return (pid);
}

/* Start a fresh daemon for a memory test (unless -S); its pid. */
static pid_t
bench_mem_daemon(void)
{
	if (conf.socket == NULL) {
		bench_start_semd();
	}
	return (bench_peer_pid());
}

/*
 * Warm up conns connections with the traffic shape of the test: each
 * pipelines per ACQUIREs of a private semaphore and releases them, so
 * that the transient buffers of such bursts are in the baseline.
 */
static void
bench_mem_warm(int ep, struct semd **sd, int nconns, int per)
{
	uint64_t	counts[SEMD_EV_ERROR + 1];
	char		sem[32];
	int		i, k;

	memset(counts, 0, sizeof counts);
	for (i = 0; i < nconns; i++) {
		snprintf(sem, sizeof sem, "warm.%d", i);
		for (k = 0; k < per; k++)
			bench_submit(sd[i], 0, sem, (uint32_t)per, 1);
	}
	bench_collect(ep, sd, SEMD_EV_ACQUIRED, counts,
	    (uint64_t)nconns * (uint64_t)per, NULL);
	for (i = 0; i < nconns; i++) {
		snprintf(sem, sizeof sem, "warm.%d", i);
		bench_submit(sd[i], 1, sem, 0, (uint32_t)per);
	}
	bench_collect(ep, sd, SEMD_EV_RELEASED, counts, (uint64_t)nconns,
	    NULL);
}

/*
 * The memory section: the daemon's VmRSS after adding 10,000 idle
 * connections (each past its HELLO), 10,000 waiters, or 10,000
 * semaphores (each held once), minus the RSS just before, per item.
 */
static void
bench_memory(void)
{
	struct semd		**base, **many;
	struct semd_error	  e;
	uint64_t		  counts[SEMD_EV_ERROR + 1];
	long			  r0, r1, rbase;
	double			  per_conn, per_waiter, per_sem;
	char			  sem[48];
	pid_t			  pid;
	int			  ep, i, k, per = BENCH_MEM_COUNT /
				      BENCH_MEM_CONNS;

	/* Idle connections. */
	bench_note("memory: %d idle connections", BENCH_MEM_COUNT);
	pid = bench_mem_daemon();
	rbase = bench_rss(pid);
	base = bench_open_many(1);
	if (semd_acquire(base[0], "warm", 1, 1, SEMD_FOREVER, NULL, NULL,
	    &e) != SEMD_OK || semd_release(base[0], "warm", 1, &e) != SEMD_OK)
		errx(1, "%s", e.message);
	if ((r0 = bench_rss(pid)) == -1)
		errx(1, "cannot read the RSS of semd (pid %ld)", (long)pid);
	many = bench_open_many(BENCH_MEM_COUNT);
	r1 = bench_rss(pid);
	per_conn = (double)(r1 - r0) / BENCH_MEM_COUNT;
	bench_close_many(many, BENCH_MEM_COUNT);
	bench_close_many(base, 1);

	/* Waiters on one semaphore, from BENCH_MEM_CONNS connections. */
	bench_note("memory: %d waiters", BENCH_MEM_COUNT);
	pid = bench_mem_daemon();
	many = bench_open_many(BENCH_MEM_CONNS);
	ep = bench_epoll(many, BENCH_MEM_CONNS);
	bench_mem_warm(ep, many, BENCH_MEM_CONNS, per);
	if (semd_acquire(many[0], "mem.w", 1, 1, SEMD_FOREVER, NULL, NULL,
	    &e) != SEMD_OK)
		errx(1, "%s", e.message);
	r0 = bench_rss(pid);
	memset(counts, 0, sizeof counts);
	for (i = 0; i < BENCH_MEM_CONNS; i++) {
		for (k = 0; k < per; k++)
			bench_submit(many[i], 0, "mem.w", 1, 1);
	}
	bench_collect(ep, many, SEMD_EV_QUEUED, counts, BENCH_MEM_COUNT,
	    NULL);
	r1 = bench_rss(pid);
	per_waiter = (double)(r1 - r0) / BENCH_MEM_COUNT;
	close(ep);
	bench_close_many(many, BENCH_MEM_CONNS);

	/* Semaphores, each held by one connection. */
	bench_note("memory: %d semaphores", BENCH_MEM_COUNT);
	pid = bench_mem_daemon();
	many = bench_open_many(BENCH_MEM_CONNS);
	ep = bench_epoll(many, BENCH_MEM_CONNS);
	bench_mem_warm(ep, many, BENCH_MEM_CONNS, per);
	r0 = bench_rss(pid);
	memset(counts, 0, sizeof counts);
	for (i = 0; i < BENCH_MEM_CONNS; i++) {
		for (k = 0; k < per; k++) {
			snprintf(sem, sizeof sem, "mem.s.%d.%d", i, k);
			bench_submit(many[i], 0, sem, 1, 1);
		}
	}
	bench_collect(ep, many, SEMD_EV_ACQUIRED, counts, BENCH_MEM_COUNT,
	    NULL);
	r1 = bench_rss(pid);
	per_sem = (double)(r1 - r0) / BENCH_MEM_COUNT;
	close(ep);
	bench_close_many(many, BENCH_MEM_CONNS);
	if (conf.socket == NULL) {
		bench_start_semd();
	}

	bench_row("%s", "");
	bench_row("MEMORY, semd VmRSS growth per item, %d of each (a fresh "
	    "daemon each; started at %ld KiB)", BENCH_MEM_COUNT,
	    rbase / 1024);
	bench_row("  %-44s %9.0f bytes", "idle connection (after HELLO)",
	    per_conn);
	bench_row("  %-44s %9.0f bytes", "waiter (100 per connection)",
	    per_waiter);
	bench_row("  %-44s %9.0f bytes", "semaphore (held by one connection)",
	    per_sem);
	bench_target("<= 4 KiB per idle connection", per_conn <= 4096,
	    "%.0f bytes", per_conn);
	bench_target("<= 512 bytes per waiter", per_waiter <= 512,
	    "%.0f bytes", per_waiter);
}

/* ---- semrun overhead ---- */

struct bcmd {
	const char	 *label;
	char		**argv;
	char		**envp;
	int		  every;	/* run in one round out of every */
	uint64_t	 *v;		/* this window's samples */
	size_t		  n;
	double		  med[BENCH_MAX_WINDOWS];
};

/* Run argv to completion; return the wall time in ns.  Fatal if it fails. */
static uint64_t
bench_spawn(char **argv, char **envp)
{
	uint64_t	t0, t1;
	pid_t		pid;
	int		status, r;

	t0 = bench_ns();
	if ((r = posix_spawnp(&pid, argv[0], NULL, NULL, argv, envp)) != 0)
		errx(1, "%s: %s", argv[0], strerror(r));
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR)
			err(1, "waitpid");
	}
	t1 = bench_ns();
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		errx(1, "%s failed (status 0x%x)", argv[0], status);
	return (t1 - t0);
}

/*
 * environ without LD_LIBRARY_PATH (the libtool wrapper that runs us sets
 * it), and with LD_LIBRARY_PATH=libdir when libdir is not NULL.  Free it
 * with bench_env_free.
 */
static char **
bench_env(const char *libdir)
{
	extern char	**environ;
	char		**env;
	size_t		  n, i, j = 0;

	for (n = 0; environ[n] != NULL; n++)
		;
	if ((env = calloc(n + 2, sizeof *env)) == NULL)
		err(1, "calloc");
	for (i = 0; i < n; i++) {
		if (strncmp(environ[i], "LD_LIBRARY_PATH=", 16) != 0)
			env[j++] = environ[i];
	}
	if (libdir != NULL && asprintf(&env[j++], "LD_LIBRARY_PATH=%s",
	    libdir) == -1)
		err(1, "asprintf");
	env[j] = NULL;
	return (env);
}

/* Free an environment made by bench_env (not the strings of environ). */
static void
bench_env_free(char **env)
{
	extern char	**environ;
	size_t		  i, k;

	for (i = 0; env[i] != NULL; i++) {
		for (k = 0; environ[k] != NULL; k++) {
			if (environ[k] == env[i])
				break;
		}
		if (environ[k] == NULL)
			free(env[i]);
	}
	free(env);
}

/* Is prog found on PATH (or is it a path to an executable)? */
static int
bench_have(const char *prog)
{
	char	*path, *dir, *save = NULL, buf[4096];

	if (strchr(prog, '/') != NULL)
		return (access(prog, X_OK) == 0);
	if (getenv("PATH") == NULL || (path = strdup(getenv("PATH"))) == NULL)
		return (0);
	for (dir = strtok_r(path, ":", &save); dir != NULL;
	    dir = strtok_r(NULL, ":", &save)) {
		snprintf(buf, sizeof buf, "%s/%s", dir, prog);
		if (access(buf, X_OK) == 0) {
			free(path);
			return (1);
		}
	}
	free(path);
	return (0);
}

/*
 * The semrun section: bare true, flock FILE true, semrun x 1 -- true (and
 * its static build, and GNU sem --fg, when present), run in turn,
 * A B C A B C ...; per command the median wall time of each window, and
 * the median of those.
 */
static void
bench_semrun(void)
{
	static char	*a_true[] = { "true", NULL };
	static char	*a_flock[] = { "flock", NULL, "true", NULL };
	static char	*a_semrun[] = { NULL, "-S", NULL, "bench.semrun", "1",
			    "--", "true", NULL };
	static char	*a_static[] = { NULL, "-S", NULL, "bench.semrun", "1",
			    "--", "true", NULL };
	static char	*a_sem[] = { "sem", "--will-cite", "--fg", "--id",
			    NULL, "-j", "1", "true", NULL };
	struct bcmd	 cmd[5];
	char		 lockfile[192], semid[64], xlabel[64];
	char		**plain_env;
	int		 rounds = conf.quick ? 20 : 60, ncmd = 0, i, r, w;
	int		 first = 0;

	plain_env = bench_env(NULL);
	snprintf(lockfile, sizeof lockfile, "%s/flock", bench_dir);
	snprintf(semid, sizeof semid, "semd-bench-%ld", (long)getpid());
	a_flock[1] = lockfile;
	a_semrun[0] = (char *)conf.semrun_bin;
	a_semrun[2] = semd_sock;
	a_static[0] = (char *)conf.semrun_static;
	a_static[2] = semd_sock;
	a_sem[4] = semid;

	memset(cmd, 0, sizeof cmd);
	cmd[ncmd].label = "true";
	cmd[ncmd].argv = a_true;
	cmd[ncmd++].envp = plain_env;
	cmd[ncmd].label = "flock FILE true";
	cmd[ncmd].argv = a_flock;
	cmd[ncmd++].envp = plain_env;
	cmd[ncmd].label = "semrun x 1 -- true";
	cmd[ncmd].argv = a_semrun;
	cmd[ncmd++].envp = bench_env(conf.semrun_libdir);
	if (conf.semrun_static != NULL) {
		snprintf(xlabel, sizeof xlabel, "  the same with -x %.30s",
		    strrchr(conf.semrun_static, '/') != NULL ?
		    strrchr(conf.semrun_static, '/') + 1 : conf.semrun_static);
		cmd[ncmd].label = xlabel;
		cmd[ncmd].argv = a_static;
		cmd[ncmd++].envp = plain_env;
	}
	if (bench_have("sem")) {
		cmd[ncmd].label = "sem --fg true (GNU parallel)";
		cmd[ncmd].argv = a_sem;
		cmd[ncmd].envp = plain_env;
		cmd[ncmd++].every = 10;
	} else
		bench_note("semrun: GNU sem not installed, skipping it");
	for (i = 0; i < ncmd; i++) {
		if (cmd[i].every == 0)
			cmd[i].every = 1;
		if ((cmd[i].v = calloc((size_t)rounds, sizeof *cmd[i].v)) ==
		    NULL)
			err(1, "calloc");
	}

	/* One untimed run each: page cache, the semaphore, ~/.parallel. */
	for (i = 0; i < ncmd; i++)
		(void)bench_spawn(cmd[i].argv, cmd[i].envp);
	for (w = 0; w < conf.windows; w++) {
		bench_note("semrun: window %d/%d", w + 1, conf.windows);
		for (i = 0; i < ncmd; i++)
			cmd[i].n = 0;
		for (r = 0; r < rounds; r++) {
			/* Rotate who goes first: none always follows X. */
			for (i = 0; i < ncmd; i++) {
				struct bcmd *c = &cmd[(first + i) % ncmd];

				if (r % c->every != 0)
					continue;
				c->v[c->n++] = bench_spawn(c->argv, c->envp);
			}
			first = (first + 1) % ncmd;
		}
		for (i = 0; i < ncmd; i++)
			cmd[i].med[w] = bench_pct(cmd[i].v, cmd[i].n, 0.5) /
			    1e6;
	}

	bench_row("%s", "");
	bench_row("SEMRUN OVERHEAD, wall time per run (ms), %d rounds x %d "
	    "windows, interleaved", rounds, conf.windows);
	bench_row("  %-44s %9s %9s %9s", "", "median", "vs true", "vs flock");
	for (i = 0; i < ncmd; i++)
		cmd[i].med[0] = bench_median(cmd[i].med, conf.windows);
	for (i = 0; i < ncmd; i++)
		bench_row("  %-44s %9.3f %8.2fx %8.2fx", cmd[i].label,
		    cmd[i].med[0], cmd[i].med[0] / cmd[0].med[0],
		    cmd[i].med[0] / cmd[1].med[0]);
	bench_target("semrun true median <= flock FILE true",
	    cmd[2].med[0] <= cmd[1].med[0], "%.3f vs %.3f ms",
	    cmd[2].med[0], cmd[1].med[0]);
	for (i = 0; i < ncmd; i++)
		free(cmd[i].v);
	bench_env_free(cmd[2].envp);
	bench_env_free(plain_env);
}

/* ---- main ---- */

/* The first three fields of /proc/loadavg, or "?". */
static void
bench_loadavg(char *buf, size_t len)
{
	FILE	*f;
	double	 a, b, c;

	snprintf(buf, len, "?");
	if ((f = fopen("/proc/loadavg", "r")) == NULL)
		return;
	if (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
		snprintf(buf, len, "%.2f %.2f %.2f", a, b, c);
	fclose(f);
}

/* One line: the CPU model from /proc/cpuinfo. */
static void
bench_cpu(char *buf, size_t len)
{
	char	 line[256], *p;
	FILE	*f;

	snprintf(buf, len, "unknown CPU");
	if ((f = fopen("/proc/cpuinfo", "r")) == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "model name", 10) == 0 &&
		    (p = strchr(line, ':')) != NULL) {
			p += strspn(p + 1, " \t") + 1;
			p[strcspn(p, "\n")] = '\0';
			snprintf(buf, len, "%s", p);
			break;
		}
	}
	fclose(f);
}

/* Print the usage to f. */
static void
bench_usage(FILE *f)
{
	fputs(
"usage: semd-bench [-hqR] [-b semd] [-S path] [-r semrun] [-L libdir]\n"
"                  [-x semrun-static] [-s sections] [-w windows]\n"
"                  [-o plot-data]\n"
"\n"
"  -b PATH   the semd to start ($SEMD_BIN, else ./daemon/semd)\n"
"  -S PATH   measure the semd already listening on PATH instead\n"
"  -r PATH   the semrun binary ($SEMRUN_BIN; no semrun section if none)\n"
"  -L DIR    LD_LIBRARY_PATH for semrun alone (an uninstalled libsemd)\n"
"  -x PATH   another semrun to time too (make bench: a fully static one)\n"
"  -R        leave Redis out even if redis-server is installed\n"
"  -s LIST   sections: latency,tput,lean,handoff,memory,semrun\n"
"            (default all)\n"
"  -w N      windows per figure, the median is reported (default 5)\n"
"  -q        quick: shorter windows, for a smoke test\n"
"  -o FILE   write the throughput figures for gnuplot to FILE\n", f);
}

/* Parse the -s list into a mask of sections. */
static unsigned int
bench_sections(const char *list)
{
	static const struct {
		const char	*name;
		unsigned int	 bit;
	} names[] = {
		{ "latency", SEC_LATENCY }, { "tput", SEC_TPUT },
		{ "handoff", SEC_HANDOFF }, { "memory", SEC_MEMORY },
		{ "semrun", SEC_SEMRUN }, { "lean", SEC_LEAN },
		{ "all", SEC_ALL },
	};
	char		*copy, *tok, *save = NULL;
	unsigned int	 mask = 0;
	size_t		 i;

	if ((copy = strdup(list)) == NULL)
		err(1, "strdup");
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < sizeof names / sizeof names[0]; i++) {
			if (strcmp(tok, names[i].name) == 0)
				break;
		}
		if (i == sizeof names / sizeof names[0])
			errx(2, "unknown section %s", tok);
		mask |= names[i].bit;
	}
	free(copy);
	return (mask);
}

int
main(int argc, char **argv)
{
	struct rlimit	 rl;
	struct utsname	 un;
	char		 cpu[128], load[64];
	int		 ch, no_redis = 0;

	conf.semd_bin = getenv("SEMD_BIN");
	conf.semrun_bin = getenv("SEMRUN_BIN");
	conf.windows = 5;
	conf.sections = SEC_ALL;
	while ((ch = getopt(argc, argv, "b:hL:o:qRr:S:s:w:x:")) != -1) {
		switch (ch) {
		case 'b':
			conf.semd_bin = optarg;
			break;
		case 'h':
			bench_usage(stdout);
			return (0);
		case 'L':
			conf.semrun_libdir = optarg;
			break;
		case 'o':
			conf.plot_data = optarg;
			break;
		case 'q':
			conf.quick = 1;
			break;
		case 'R':
			no_redis = 1;
			break;
		case 'r':
			conf.semrun_bin = optarg;
			break;
		case 'S':
			conf.socket = optarg;
			break;
		case 's':
			conf.sections = bench_sections(optarg);
			break;
		case 'w':
			conf.windows = atoi(optarg);
			if (conf.windows < 1 ||
			    conf.windows > BENCH_MAX_WINDOWS)
				errx(2, "-w takes 1 to %d", BENCH_MAX_WINDOWS);
			break;
		case 'x':
			conf.semrun_static = optarg;
			break;
		default:
			bench_usage(stderr);
			return (2);
		}
	}
	if (conf.semd_bin == NULL)
		conf.semd_bin = "./daemon/semd";
	if (conf.semrun_bin == NULL && (conf.sections & SEC_SEMRUN)) {
		bench_note("no semrun given (-r, $SEMRUN_BIN): skipping the "
		    "semrun section");
		conf.sections &= ~SEC_SEMRUN;
	}
	if (!no_redis && (conf.sections & (SEC_LATENCY | SEC_TPUT))) {
		conf.redis_bin = getenv("REDIS_SERVER");
		if (conf.redis_bin == NULL)
			conf.redis_bin = "redis-server";
		if (!bench_have(conf.redis_bin)) {
			bench_note("%s not installed: Redis left out",
			    conf.redis_bin);
			conf.redis_bin = NULL;
		}
	}

	/* 10,000 connections need as many descriptors. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((conf.sections & (SEC_HANDOFF | SEC_MEMORY)) &&
	    (getrlimit(RLIMIT_NOFILE, &rl) == -1 ||
	    rl.rlim_cur < BENCH_MEM_COUNT + 100))
		errx(1, "10,000 connections need RLIMIT_NOFILE >= %d (ulimit "
		    "-n)", BENCH_MEM_COUNT + 100);

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, bench_signal);
	signal(SIGTERM, bench_signal);
	if (tl_tmpdir(bench_dir, sizeof bench_dir, "semd-bench") == -1)
		err(1, "mkdtemp in $TMPDIR");
	atexit(bench_cleanup);
	snprintf(echo_sock, sizeof echo_sock, "%s/echo.sock", bench_dir);
	snprintf(redis_sock, sizeof redis_sock, "%s/redis.sock", bench_dir);
	if (conf.socket != NULL)
		snprintf(semd_sock, sizeof semd_sock, "%s", conf.socket);
	else {
		snprintf(semd_sock, sizeof semd_sock, "%s/semd.sock",
		    bench_dir);
		bench_start_semd();
	}
	semd_peer = bench_peer_pid();
	echo_pid = bench_start_echo(echo_sock);
	if (conf.redis_bin != NULL)
		redis_pid = bench_start_redis(redis_sock);
	echo_acq_len = bench_frame(cpu, sizeof cpu, PROTO_OP_ACQUIRE, "bench");
	echo_rel_len = bench_frame(cpu, sizeof cpu, PROTO_OP_RELEASE, "bench");

	if ((table = open_memstream(&table_buf, &table_len)) == NULL)
		err(1, "open_memstream");
	bench_cpu(cpu, sizeof cpu);
	uname(&un);
	bench_row("semd-bench: semd %s (pid %ld%s), %ld CPUs (%s), %s %s",
	    PACKAGE_VERSION, (long)semd_peer, conf.socket != NULL ?
	    ", given with -S" : "", sysconf(_SC_NPROCESSORS_ONLN), cpu,
	    un.sysname, un.release);
	bench_loadavg(load, sizeof load);
	bench_row("every figure is the median of %d windows; the systems "
	    "take turns inside each window; load average before: %s",
	    conf.windows, load);
	bench_row("echo floor: a minimal epoll AF_UNIX echo server in its "
	    "own process, frames of %zu and %zu bytes (semd's ACQUIRE and "
	    "RELEASE)", echo_acq_len, echo_rel_len);
	if (conf.redis_bin != NULL)
		bench_row("redis: private redis-server on a Unix socket, "
		    "EVALSHA of a Lua INCR/check acquire and a DECR "
		    "release");

	if (conf.sections & SEC_LATENCY)
		bench_latency();
	if (conf.sections & SEC_TPUT)
		bench_tput();
	if (conf.sections & SEC_LEAN)
		bench_lean();
	if (conf.sections & SEC_HANDOFF)
		bench_handoff();
	if (conf.sections & SEC_MEMORY) {
		if (semd_peer <= 0 || bench_rss(semd_peer) == -1)
			bench_note("memory: cannot read the daemon's RSS, "
			    "skipped");
		else
			bench_memory();
	}
	if (conf.sections & SEC_SEMRUN)
		bench_semrun();

	bench_row("%s", "");
	bench_row("TARGETS: %d of %d hold", targets_checked - targets_missed,
	    targets_checked);
	if (fclose(table) != 0)
		err(1, "open_memstream");
	table = NULL;
	fwrite(table_buf, 1, table_len, stdout);
	free(table_buf);
	if (fflush(stdout) != 0)
		err(1, "stdout");
	return (0);
}
