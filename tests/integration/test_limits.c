/*
 * test_limits.c -- every limit of semd against a real daemon: each one is
 * answered with ERROR LIMIT naming its option (or BAD_FRAME for
 * --max-frame, or a truncated STATUS), the connection that hit it goes
 * on, and nobody else loses a slot or a place in line.  Also what the
 * daemon does when it runs out of file descriptors (stops accepting
 * without spinning, serves the clients it has, accepts the waiting ones
 * once descriptors are free) and with 10,000 connections at once.
 *
 * A test process is one uid, so the per-uid limits are reached with
 * several connections, each under its own per-connection limit.
 */

#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "integ.h"

#define NOFILE_LIMIT	32	/* the daemon's open-file limit */
#define NOFILE_FLOOD	48	/* clients beyond what it can hold */
#define NOFILE_KEEP	8	/* flood clients kept open at the end */
#define NOFILE_WATCH_MS	2500	/* how long CPU time is watched */
#define MANY_CONNS	10000	/* connections at once (if allowed) */
#define MANY_CAP	64
#define TRUNC_SEMS	600	/* long-named semaphores for STATUS */
#define TRUNC_WAITERS	5000	/* waiters on one semaphore */

/* Expect ERROR LIMIT for id whose message names "(option)". */
static void
expect_limit_at(const char *file, int line, struct tclient *c, uint64_t id,
    const char *option)
{
	char	msg[PROTO_MAX_TEXT + 1], want[64];

	tc_expect_error_at(file, line, c, id, PROTO_E_LIMIT, msg, sizeof msg);
	snprintf(want, sizeof want, "(%s)", option);
	if (strstr(msg, want) == NULL)
		integ_fail(file, line, "ERROR LIMIT \"%s\" does not name %s",
		    msg, want);
}
#define expect_limit(c, id, opt) expect_limit_at(__FILE__, __LINE__, c, id, opt)

/* Sleep ms milliseconds. */
static void
nap(int ms)
{
	struct timespec	ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Does the file at path contain text?  (The daemon's log.) */
static int
file_contains(const char *path, const char *text)
{
	static char	buf[1 << 20];
	ssize_t		n;
	int		fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (0);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return (0);
	buf[n] = '\0';
	return (strstr(buf, text) != NULL);
}

/* CPU time (user + system) process pid has used, in clock ticks. */
static unsigned long long
proc_cpu_ticks(pid_t pid)
{
	char			 path[64], buf[1024], *p;
	unsigned long long	 utime, stime;
	ssize_t			 n;
	int			 fd, field;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd != -1, "%s: %s", path, strerror(errno));
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	ck_assert_msg(n > 0, "%s: empty", path);
	buf[n] = '\0';
	/* The command name may hold spaces: fields count from its ')'. */
	p = strrchr(buf, ')');
	ck_assert_ptr_nonnull(p);
	/* Field 3 (state) follows; utime and stime are fields 14 and 15. */
	for (field = 2; field < 13 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	ck_assert_msg(p != NULL && sscanf(p, " %llu %llu", &utime,
	    &stime) == 2, "cannot parse %s", path);
	return (utime + stime);
}

/*
 * Nanoseconds process pid has been runnable: on a CPU or waiting in a run
 * queue for one (/proc/pid/schedstat).  Unlike CPU time this does not
 * depend on how busy the machine is: a process that spins is runnable
 * all the time even when other processes get the CPU.  Returns 0 if the
 * kernel does not keep the numbers.
 */
static unsigned long long
proc_runnable_ns(pid_t pid)
{
	char			 path[64];
	unsigned long long	 run, wait;
	FILE			*f;
	int			 n;

	snprintf(path, sizeof path, "/proc/%ld/schedstat", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return (0);
	n = fscanf(f, "%llu %llu", &run, &wait);
	fclose(f);
	return (n == 2 ? run + wait : 0);
}

/* A "VmRSS:" style line of /proc/pid/status, in KiB. */
static unsigned long
proc_status_kib(pid_t pid, const char *key)
{
	char		 path[64], line[256];
	unsigned long	 v = 0;
	size_t		 klen = strlen(key);
	FILE		*f;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	f = fopen(path, "re");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtoul(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	ck_assert_msg(v != 0, "%s: no %s", path, key);
	return (v);
}

/*
 * Pins --max-holds: a connection holding N semaphores is refused one
 * more with ERROR LIMIT naming --max-holds, may add weight where it
 * holds already, and may take the new one once it gave one back; other
 * connections are not affected.
 */
START_TEST(test_max_holds)
{
	struct integ_daemon	*d;
	struct tclient		*a, *b;

	d = integ_start("--max-holds", "2", NULL);
	a = tc_connect(d);
	b = tc_connect(d);
	tc_acquire_ok(a, 1, "h1", 3, 1);
	tc_acquire_ok(a, 2, "h2", 3, 1);
	tc_acquire(a, 3, "h3", 3, 1, -1);
	expect_limit(a, 3, "--max-holds");
	tc_check_gone(a, "h3");
	/* Queued or not, a third semaphore is refused. */
	tc_acquire_ok(b, 1, "h3", 1, 1);
	tc_acquire(a, 4, "h3", 1, 1, -1);
	expect_limit(a, 4, "--max-holds");
	tc_check_status(a, "h3", 1, 1, 0);
	tc_acquire_ok(a, 5, "h1", 3, 2);
	tc_check_status(a, "h1", 3, 3, 0);

	tc_release_ok(a, 6, "h2", 1);
	tc_acquire_queued(a, 7, "h3", 1, 1, 1);
	tc_release_ok(b, 2, "h3", 1);
	tc_expect_acquired(a, 7, "h3", 1);
	tc_check_status(b, "h3", 1, 1, 0);

	tc_close(a);
	tc_close(b);
	integ_stop(d);
}
END_TEST

/*
 * Pins --max-pending-per-uid: the waiting requests of all the
 * connections of one uid count together.  Connections a and b (this
 * process's uid) fill the uid's share while each is under --max-pending;
 * the next waiting request from a third connection is ERROR LIMIT naming
 * --max-pending-per-uid, while it may still take a free semaphore and
 * try a busy one.  A withdrawal and a disconnection give room back, and
 * the queue keeps its order throughout.
 */
START_TEST(test_max_pending_per_uid)
{
	struct integ_daemon	*d;
	struct tclient		*h, *a, *b, *c;

	d = integ_start("--max-pending", "3", "--max-pending-per-uid", "5",
	    NULL);
	h = tc_connect(d);
	a = tc_connect(d);
	b = tc_connect(d);
	c = tc_connect(d);
	tc_acquire_ok(h, 1, "pu", 1, 1);
	tc_acquire_queued(a, 1, "pu", 1, 1, 1);
	tc_acquire_queued(a, 2, "pu", 1, 1, 2);
	tc_acquire_queued(a, 3, "pu", 1, 1, 3);
	tc_acquire(a, 4, "pu", 1, 1, -1);
	expect_limit(a, 4, "--max-pending");
	tc_acquire_queued(b, 1, "pu", 1, 1, 4);
	tc_acquire_queued(b, 2, "pu", 1, 1, 5);
	tc_acquire(b, 3, "pu", 1, 1, -1);
	expect_limit(b, 3, "--max-pending-per-uid");
	tc_acquire(c, 1, "pu", 1, 1, 60000);
	expect_limit(c, 1, "--max-pending-per-uid");
	/* Not waiting: a grant now, and a try. */
	tc_acquire_ok(c, 2, "free", 1, 1);
	tc_acquire(c, 3, "pu", 1, 1, 0);
	tc_expect_timeout(c, 3);
	tc_check_status(c, "pu", 1, 1, 5);

	/* A withdrawal gives one place back, to the uid as a whole. */
	tc_withdraw(a, 2);
	tc_expect_timeout(a, 2);
	tc_acquire_queued(c, 4, "pu", 1, 1, 5);
	tc_acquire(b, 4, "pu", 1, 1, -1);
	expect_limit(b, 4, "--max-pending-per-uid");
	/* So does a disconnection: b's two leave the line. */
	tc_close(b);
	tc_wait_status(h, "pu", 1, 3);
	tc_acquire_queued(c, 5, "pu", 1, 1, 4);

	/* The line kept its order: a1, a3, c4, c5. */
	tc_release_ok(h, 2, "pu", 1);
	tc_expect_acquired(a, 1, "pu", 1);
	tc_release_ok(a, 5, "pu", 1);
	tc_expect_acquired(a, 3, "pu", 1);
	tc_release_ok(a, 6, "pu", 1);
	tc_expect_acquired(c, 4, "pu", 1);
	tc_expect_quiet(c);
	tc_check_status(h, "pu", 1, 1, 1);

	tc_close(h);
	tc_close(a);
	tc_close(c);
	integ_stop(d);
}
END_TEST

/*
 * Pins --max-holds-per-uid: the holds (one per connection and semaphore,
 * whatever the weight) of all the connections of one uid count together.
 * With a share of 3, a connection holding one semaphore is refused a
 * second with ERROR LIMIT naming --max-holds-per-uid once two other
 * holds of the uid exist, may add weight where it holds, and gets its
 * turn once a hold of the uid ends (a release, or a disconnection).
 */
START_TEST(test_max_holds_per_uid)
{
	struct integ_daemon	*d;
	struct tclient		*a, *b, *c;

	d = integ_start("--max-holds", "2", "--max-holds-per-uid", "3",
	    NULL);
	a = tc_connect(d);
	b = tc_connect(d);
	c = tc_connect(d);
	tc_acquire_ok(a, 1, "x", 4, 1);
	tc_acquire_ok(a, 2, "y", 4, 1);
	tc_acquire(a, 3, "z", 4, 1, -1);
	expect_limit(a, 3, "--max-holds");
	tc_acquire_ok(b, 1, "x", 4, 1);
	tc_acquire(b, 2, "z", 4, 1, -1);
	expect_limit(b, 2, "--max-holds-per-uid");
	tc_check_gone(b, "z");
	tc_acquire(c, 1, "y", 4, 1, -1);
	expect_limit(c, 1, "--max-holds-per-uid");
	/* More weight on a held semaphore is no new hold. */
	tc_acquire_ok(b, 3, "x", 4, 2);
	tc_check_status(b, "x", 4, 4, 0);

	/* Releasing part of a hold keeps it; all of it ends it. */
	tc_release_ok(b, 4, "x", 1);
	tc_acquire(c, 2, "y", 4, 1, -1);
	expect_limit(c, 2, "--max-holds-per-uid");
	tc_release_ok(b, 5, "x", 2);
	tc_acquire_ok(c, 3, "y", 4, 1);
	tc_acquire(b, 6, "z", 4, 1, -1);
	expect_limit(b, 6, "--max-holds-per-uid");
	/* A disconnection ends a's holds on x and y. */
	tc_close(a);
	tc_wait_status(c, "y", 1, 0);
	tc_acquire_ok(b, 7, "z", 4, 1);
	tc_check_status(c, "z", 4, 1, 0);

	tc_close(b);
	tc_close(c);
	integ_stop(d);
}
END_TEST

/*
 * Pins --max-frame: with --max-frame 100, a request body of exactly 100
 * bytes is served; a frame announcing 101 is answered ERROR BAD_FRAME
 * naming --max-frame and closed, and the holder on another connection
 * keeps its slot.
 */
START_TEST(test_max_frame_option)
{
	struct integ_daemon	*d;
	struct tclient		*h, *c;
	struct proto_buf	 body = { 0 };
	char			 msg[PROTO_MAX_TEXT + 1];
	char			 pad[128];

	d = integ_start("--max-frame", "100", NULL);
	h = tc_connect(d);
	c = tc_connect(d);
	tc_acquire_ok(h, 1, "mf", 1, 1);

	mp_map(&body, 4);
	mp_str(&body, "op");
	mp_str(&body, "HELLO");
	mp_str(&body, "id");
	mp_uint(&body, 7);
	mp_str(&body, "version");
	mp_uint(&body, 1);
	mp_str(&body, "pad");
	memset(pad, 'p', sizeof pad);
	/* A str8 header is two bytes (32 to 255); fill up to exactly 100. */
	ck_assert_uint_lt(body.len, 100 - 2 - 32);
	mp_strn(&body, pad, 100 - body.len - 2);
	ck_assert_uint_eq(body.len, 100);
	tc_send_body(c, body.data, body.len);
	tc_expect_hello(c, 7);

	body.len = 0;
	mp_map(&body, 4);
	mp_str(&body, "op");
	mp_str(&body, "HELLO");
	mp_str(&body, "id");
	mp_uint(&body, 8);
	mp_str(&body, "version");
	mp_uint(&body, 1);
	mp_str(&body, "pad");
	mp_strn(&body, pad, 101 - body.len - 2);
	ck_assert_uint_eq(body.len, 101);
	tc_send_body(c, body.data, body.len);
	proto_buf_free(&body);
	tc_expect_error_msg(c, 0, PROTO_E_BAD_FRAME, msg, sizeof msg);
	ck_assert_msg(strstr(msg, "--max-frame") != NULL, "BAD_FRAME \"%s\" "
	    "does not name --max-frame", msg);
	tc_expect_eof(c);
	tc_close(c);

	tc_check_status(h, "mf", 1, 1, 0);
	tc_close(h);
	integ_stop(d);
}
END_TEST

/* The longest name there is, numbered i (i < 10000): "t0042-000...0". */
static void
long_name(char *name, size_t i)
{
	int	k;

	memset(name, '0', PROTO_MAX_NAME);
	name[0] = 't';
	for (k = 4; k >= 1; k--, i /= 10)
		name[k] = (char)('0' + i % 10);
	name[5] = '-';
	name[PROTO_MAX_NAME] = '\0';
}

/*
 * Pins STATUS truncation: 600 semaphores with 128-byte names cannot be
 * listed in one 64 KiB frame, so STATUS of all lists fewer, says
 * truncated, and keeps each listed count exact; 5,000 waiters on one
 * semaphore are listed at most 4,000 (the first, in order), truncated,
 * with the exact count; the daemon serves on.
 */
START_TEST(test_status_truncated)
{
	struct integ_daemon		*d;
	struct tclient			*a, *w;
	struct proto_buf		 b = { 0 };
	struct proto_reply		 rep;
	const struct proto_sem_status	*s;
	char				 name[PROTO_MAX_NAME + 1];
	size_t				 i;

	d = integ_start("--max-pending", "0", NULL);
	a = tc_connect(d);
	w = tc_connect(d);
	for (i = 0; i < TRUNC_SEMS; i++) {
		long_name(name, i);
		enc_acquire(&b, i + 1, name, 1, 1, -1);
	}
	tc_send_raw(a, b.data, b.len);
	proto_buf_free(&b);
	for (i = 0; i < TRUNC_SEMS; i++) {
		long_name(name, i);
		tc_expect_acquired(a, i + 1, name, 1);
	}

	tc_status(a, NULL, &rep);
	ck_assert_msg(rep.truncated, "STATUS of %d long names not truncated",
	    TRUNC_SEMS);
	ck_assert_uint_gt(rep.nsems, 0);
	ck_assert_uint_lt(rep.nsems, TRUNC_SEMS);
	for (i = 0; i < rep.nsems; i++) {
		long_name(name, i);
		s = &rep.sems[i];
		ck_assert_str_eq(s->sem, name);
		ck_assert_uint_eq(s->capacity, 1);
		ck_assert_uint_eq(s->held, 1);
		ck_assert_uint_eq(s->waiting, 0);
	}
	proto_reply_free(&rep);

	/* 5,000 waiters behind the holder of the first one. */
	long_name(name, 0);
	for (i = 0; i < TRUNC_WAITERS; i++)
		enc_acquire(&b, i + 1, name, 1, 1, -1);
	tc_send_raw(w, b.data, b.len);
	proto_buf_free(&b);
	for (i = 0; i < TRUNC_WAITERS; i++)
		tc_expect_queued(w, i + 1, (uint32_t)i + 1);
	tc_status(a, name, &rep);
	ck_assert_uint_eq(rep.nsems, 1);
	ck_assert(rep.truncated);
	s = &rep.sems[0];
	ck_assert_uint_eq(s->held, 1);
	ck_assert_uint_eq(s->waiting, TRUNC_WAITERS);
	ck_assert_uint_eq(s->nholders, 1);
	ck_assert_uint_gt(s->nwaiters, 0);
	ck_assert_uint_lt(s->nwaiters, TRUNC_WAITERS);
	ck_assert_uint_le(s->nholders + s->nwaiters, 4000);
	proto_reply_free(&rep);

	tc_hello_ok(a);
	tc_close(w);
	tc_wait_status(a, name, 1, 0);
	tc_close(a);
	integ_stop(d);
}
END_TEST

/*
 * Pins running out of file descriptors: semd under an open-file limit of
 * 32 gets 48 more clients than it can hold.  It says in its log that it
 * pauses accepting, does not spin meanwhile, keeps serving the clients
 * it has (STATUS round trips, the holder keeps its slot and the waiter
 * its place), and once clients leave it accepts and serves the ones that
 * were waiting.  Not spinning: over 2.5 seconds its CPU time
 * (/proc/pid/stat) and the time it was runnable (/proc/pid/schedstat:
 * on a CPU or waiting for one, so that a spinning daemon is caught even
 * on a loaded machine where it gets little CPU) both stay under half the
 * elapsed time; a daemon spinning on its readable listening socket is
 * runnable all of it, a correct one a few milliseconds.  The bound is
 * generous on purpose: this is no benchmark.
 */
START_TEST(test_nofile_backoff)
{
	struct integ_daemon	*d;
	struct tclient		*h, *q, *f[NOFILE_FLOOD];
	struct proto_reply	 rep;
	unsigned long long	 cpu0, cpu1, run0, run1;
	int64_t			 t0, t1, deadline;
	long			 hz = sysconf(_SC_CLK_TCK);
	int			 got[NOFILE_FLOOD], i, waiting = 0, r;

	integ_set_nofile(NOFILE_LIMIT);
	d = integ_start(NULL);
	integ_set_nofile(0);
	h = tc_connect(d);
	q = tc_connect(d);
	tc_acquire_ok(h, 1, "nf", 1, 1);
	tc_acquire_queued(q, 2, "nf", 1, 1, 1);

	/* Connections wait in the listen backlog; HELLO waits with them. */
	for (i = 0; i < NOFILE_FLOOD; i++) {
		f[i] = tc_connect(d);
		tc_hello(f[i], (uint64_t)i + 1, PROTO_VERSION);
		got[i] = 0;
	}
	deadline = tl_now_ms() + INTEG_REPLY_MS;
	while (!file_contains(d->tl.log, "pausing accepts")) {
		ck_assert_msg(tl_now_ms() < deadline, "semd did not log that "
		    "it pauses accepting");
		nap(20);
	}

	/* Watch its CPU time while it backs off; serve h meanwhile. */
	cpu0 = proc_cpu_ticks(d->tl.pid);
	run0 = proc_runnable_ns(d->tl.pid);
	t0 = tl_now_ms();
	while (tl_now_ms() - t0 < NOFILE_WATCH_MS) {
		tc_check_status(h, "nf", 1, 1, 1);
		nap(100);
	}
	cpu1 = proc_cpu_ticks(d->tl.pid);
	run1 = proc_runnable_ns(d->tl.pid);
	t1 = tl_now_ms();
	ck_assert_msg((cpu1 - cpu0) * 1000 / (unsigned long long)hz <
	    (unsigned long long)(t1 - t0) / 2, "semd used %llu ms of CPU in "
	    "%lld ms while out of descriptors (spinning?)",
	    (cpu1 - cpu0) * 1000 / (unsigned long long)hz,
	    (long long)(t1 - t0));
	ck_assert_msg((run1 - run0) / 1000000 <
	    (unsigned long long)(t1 - t0) / 2, "semd was runnable %llu ms "
	    "of %lld ms while out of descriptors (spinning?)",
	    (run1 - run0) / 1000000, (long long)(t1 - t0));

	/* It cannot hold them all: some are still waiting. */
	for (i = 0; i < NOFILE_FLOOD; i++) {
		r = tc_next(f[i], &rep, 0);
		ck_assert_msg(r != 0, "flood client %d: EOF", i);
		if (r == 1) {
			ck_assert_msg(rep.op == PROTO_OP_HELLO &&
			    rep.id == (uint64_t)i + 1, "flood client %d: "
			    "unexpected reply", i);
			proto_reply_free(&rep);
			got[i] = 1;
		} else
			waiting++;
	}
	ck_assert_msg(waiting > 0, "all %d clients served under a limit of "
	    "%d descriptors", NOFILE_FLOOD, NOFILE_LIMIT);

	/* Room again: the waiting ones are accepted and answered. */
	for (i = 0; i < NOFILE_FLOOD - NOFILE_KEEP; i++) {
		tc_close(f[i]);
		f[i] = NULL;
	}
	for (i = NOFILE_FLOOD - NOFILE_KEEP; i < NOFILE_FLOOD; i++) {
		if (!got[i])
			tc_expect_hello(f[i], (uint64_t)i + 1);
		tc_hello_ok(f[i]);
	}
	tc_check_status(h, "nf", 1, 1, 1);
	tc_release_ok(h, 3, "nf", 1);
	tc_expect_acquired(q, 2, "nf", 1);

	for (i = NOFILE_FLOOD - NOFILE_KEEP; i < NOFILE_FLOOD; i++)
		tc_close(f[i]);
	tc_close(h);
	tc_close(q);
	integ_stop(d);
}
END_TEST

/*
 * How many connections to open: MANY_CONNS, or fewer when this process
 * may not open that many (one descriptor per client plus a few; the
 * daemon inherits the same limit, see main.c).  The hostile suite needs
 * 500 already.
 */
static int
many_conns(void)
{
	struct rlimit	rl;
	int		n = MANY_CONNS;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)n + 64) {
		n = (int)rl.rlim_cur - 64;
		fprintf(stderr, "test_limits: RLIMIT_NOFILE is %lu: %d "
		    "connections instead of %d\n", (unsigned long)rl.rlim_cur,
		    n, MANY_CONNS);
	}
	ck_assert_msg(n >= 500, "RLIMIT_NOFILE %lu is too low for this test "
	    "(raise it to %d)", (unsigned long)rl.rlim_cur, MANY_CONNS + 64);
	return (n);
}

/*
 * Connect n clients and send each a HELLO (id i + 1) before reading any
 * reply, so that they are all connected at once.  A client refused over
 * --max-connections may find the socket closed already, so a failed
 * send is left for the reply check to judge.
 */
static void
connect_many(struct integ_daemon *d, struct tclient **c, int n)
{
	struct proto_request	req;
	struct proto_buf	b = { 0 };
	int			i;

	memset(&req, 0, sizeof req);
	req.op = PROTO_OP_HELLO;
	req.version = PROTO_VERSION;
	for (i = 0; i < n; i++) {
		c[i] = tc_connect(d);
		req.id = (uint64_t)i + 1;
		b.len = 0;
		ck_assert_int_eq(proto_encode_request(&b, &req), 0);
		(void)send(c[i]->fd, b.data, b.len, MSG_NOSIGNAL);
	}
	proto_buf_free(&b);
}

/*
 * Pins 10,000 connections (fewer if this process may not open that many;
 * the daemon inherits the same limit) against the default
 * --max-connections of 4096 (half the connections, when fewer than 8192
 * can be opened): every client gets either HELLO or ERROR LIMIT naming
 * --max-connections followed by EOF, no more than the limit are served,
 * and the served ones all take part in one FIFO queue (64 granted, the
 * others queued at distinct positions).  The daemon survives, forgets
 * everything once they are gone, and its peak resident memory stays
 * under 256 MiB.
 */
START_TEST(test_many_refused)
{
	struct integ_daemon	*d;
	struct tclient		**c;
	struct proto_reply	 rep;
	char			 txt[512];
	unsigned char		*pos;
	char			 limit[16];
	int			 n = many_conns(), i, served = 0, refused = 0;
	int			 granted = 0, max = SEMD_DEF_MAX_CONNECTIONS;
	unsigned long		 rss;

	c = calloc((size_t)n, sizeof *c);
	pos = calloc((size_t)n + 1, 1);
	ck_assert(c != NULL && pos != NULL);
	/* One uid opens them all: no per-uid limit here. */
	if (n >= 2 * max)
		d = integ_start("--max-connections-per-uid", "0", NULL);
	else {
		max = n / 2;
		snprintf(limit, sizeof limit, "%d", max);
		d = integ_start("--max-connections", limit,
		    "--max-connections-per-uid", "0", NULL);
	}
	connect_many(d, c, n);
	for (i = 0; i < n; i++) {
		tc_recv(c[i], &rep);
		integ_reply_str(&rep, txt, sizeof txt);
		if (rep.op == PROTO_OP_HELLO) {
			ck_assert_msg(rep.id == (uint64_t)i + 1, "client %d: "
			    "%s", i, txt);
			served++;
		} else {
			ck_assert_msg(rep.op == PROTO_OP_ERROR &&
			    rep.code == PROTO_E_LIMIT &&
			    strstr(rep.message, "--max-connections") != NULL,
			    "client %d: expected HELLO or ERROR LIMIT, got %s",
			    i, txt);
			tc_expect_eof(c[i]);
			tc_close(c[i]);
			c[i] = NULL;
			refused++;
		}
		proto_reply_free(&rep);
	}
	ck_assert_int_eq(served + refused, n);
	ck_assert_int_le(served, max);
	ck_assert_msg(refused >= n - max, "%d refused of %d", refused, n);

	for (i = 0; i < n; i++)
		if (c[i] != NULL)
			tc_acquire(c[i], 1, "many", MANY_CAP, 1, -1);
	for (i = 0; i < n; i++) {
		if (c[i] == NULL)
			continue;
		tc_recv(c[i], &rep);
		integ_reply_str(&rep, txt, sizeof txt);
		if (rep.op == PROTO_OP_ACQUIRED)
			granted++;
		else {
			ck_assert_msg(rep.op == PROTO_OP_QUEUED &&
			    rep.position >= 1 && rep.position <= (uint32_t)n &&
			    !pos[rep.position], "client %d: %s", i, txt);
			pos[rep.position] = 1;
		}
		proto_reply_free(&rep);
	}
	ck_assert_int_eq(granted, served < MANY_CAP ? served : MANY_CAP);
	for (i = 1; i <= served - granted; i++)
		ck_assert_msg(pos[i], "queue position %d missing", i);

	rss = proc_status_kib(d->tl.pid, "VmHWM");
	for (i = 0; i < n; i++)
		tc_close(c[i]);
	c[0] = tc_connect(d);
	tc_wait_status(c[0], "many", 0, 0);
	tc_check_gone(c[0], "many");
	tc_close(c[0]);
	ck_assert_msg(rss < 256 * 1024, "semd's peak RSS is %lu KiB with "
	    "%d clients", rss, served);
	integ_stop(d);
	free(pos);
	free(c);
}
END_TEST

/*
 * Pins --max-connections-per-uid: one uid's connections beyond the limit
 * are answered ERROR LIMIT naming the option and closed, its connections
 * inside the limit keep their slot and place, and once one leaves the
 * next is served.
 */
/*
 * Connect and say HELLO once the daemon has room for this uid: a probe
 * closed just before may still count until the daemon notices it left;
 * a refused client (ERROR LIMIT, EOF) retries.
 */
static struct tclient *
connect_uid_room(struct integ_daemon *d)
{
	struct tclient		*c;
	struct proto_reply	 rep;
	int64_t			 deadline = tl_now_ms() + INTEG_REPLY_MS;

	for (;;) {
		c = tc_connect(d);
		tc_hello(c, 99, 1);
		ck_assert_int_eq(tc_next(c, &rep, INTEG_REPLY_MS), 1);
		if (rep.op == PROTO_OP_HELLO) {
			proto_reply_free(&rep);
			return (c);
		}
		ck_assert_msg(rep.op == PROTO_OP_ERROR &&
		    rep.code == PROTO_E_LIMIT, "expected HELLO or ERROR LIMIT");
		proto_reply_free(&rep);
		tc_close(c);
		ck_assert_msg(tl_now_ms() < deadline, "no room for a client");
		poll(NULL, 0, 10);
	}
}

START_TEST(test_max_connections_per_uid)
{
	struct integ_daemon	*d;
	struct tclient		*h, *q, *x, *y;
	struct proto_reply	 rep;
	char			 got[512];

	/* Room for integ_stop's own connection at the end. */
	d = integ_start("--max-connections-per-uid", "3", NULL);
	h = connect_uid_room(d);
	q = connect_uid_room(d);
	tc_acquire_ok(h, 1, "pu", 1, 1);
	tc_acquire_queued(q, 2, "pu", 1, 1, 1);
	x = connect_uid_room(d);

	/* The fourth connection of this uid is refused. */
	y = tc_connect(d);
	tc_recv(y, &rep);
	integ_reply_str(&rep, got, sizeof got);
	ck_assert_msg(rep.op == PROTO_OP_ERROR && rep.code == PROTO_E_LIMIT &&
	    strstr(rep.message, "--max-connections-per-uid") != NULL,
	    "fourth connection: expected ERROR LIMIT naming "
	    "--max-connections-per-uid, got %s", got);
	proto_reply_free(&rep);
	tc_expect_eof(y);
	tc_close(y);

	tc_check_status(h, "pu", 1, 1, 1);
	tc_expect_quiet(q);
	tc_close(x);
	tc_close(h);
	tc_expect_acquired(q, 2, "pu", 1);
	/* x and h are gone: room again. */
	x = connect_uid_room(d);
	tc_acquire_queued(x, 3, "pu", 1, 1, 1);
	tc_close(q);
	tc_expect_acquired(x, 3, "pu", 1);
	tc_close(x);
	integ_stop(d);
}
END_TEST

/*
 * Pins --max-output-total: 40 clients pipeline STATUS requests and never
 * read.  Each may leave at most --max-output (1M) unread, 40M in all;
 * with a 4M budget for all of them, the daemon disconnects those with the
 * most unread output and frees it, so its peak resident memory grows by
 * far less than 40M.  A client that reads its replies stays connected
 * and served, and a holder keeps its slot.
 */
#define OUT_CLIENTS	40
START_TEST(test_max_output_total)
{
	struct integ_daemon	*d;
	struct tclient		*h, *r, *s[OUT_CLIENTS];
	struct proto_buf	 batch = { 0 };
	struct pollfd		 pfd;
	char			 name[PROTO_MAX_NAME + 1], opts[512];
	const char		*asan;
	char			*saved;
	size_t			 off[OUT_CLIENTS];
	unsigned long		 base, peak;
	int64_t			 deadline;
	ssize_t			 n;
	int			 i, closed[OUT_CLIENTS], nclosed = 0;
	uint8_t			 sink[4096];

	/*
	 * Under AddressSanitizer freed memory waits in a quarantine (256M by
	 * default) before it can be reused, so the output the daemon frees
	 * when it cuts clients off would still count in its RSS.  Keep the
	 * quarantine small for this daemon, as the soak test does.
	 */
	asan = getenv("ASAN_OPTIONS");
	saved = asan != NULL ? strdup(asan) : NULL;
	snprintf(opts, sizeof opts, "%s%squarantine_size_mb=4",
	    asan != NULL ? asan : "", asan != NULL && *asan != '\0' ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
	d = integ_start("--max-output", "1M", "--max-output-total", "4M",
	    NULL);
	if (saved != NULL) {
		setenv("ASAN_OPTIONS", saved, 1);
		free(saved);
	} else
		unsetenv("ASAN_OPTIONS");
	h = tc_connect(d);
	r = tc_connect(d);
	tc_acquire_ok(h, 1, "out", 1, 1);
	/* Semaphores with long names make each STATUS reply large. */
	for (i = 0; i < 16; i++) {
		snprintf(name, sizeof name, "out-%02d-%0100d", i, 0);
		tc_acquire_ok(h, 10 + i, name, 1, 1);
	}
	base = proc_status_kib(d->tl.pid, "VmRSS");

	for (i = 0; i < 64; i++)
		enc_status(&batch, (uint64_t)i + 1, NULL);
	for (i = 0; i < OUT_CLIENTS; i++) {
		s[i] = tc_connect(d);
		off[i] = 0;
		closed[i] = 0;
	}
	/* Round robin until every client that never reads is cut off. */
	deadline = tl_now_ms() + 6 * INTEG_REPLY_MS;
	while (nclosed < OUT_CLIENTS) {
		ck_assert_msg(tl_now_ms() < deadline, "%d of %d clients that "
		    "never read are still connected", OUT_CLIENTS - nclosed,
		    OUT_CLIENTS);
		for (i = 0; i < OUT_CLIENTS; i++) {
			if (closed[i])
				continue;
			n = send(s[i]->fd, batch.data + off[i],
			    batch.len - off[i], MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0) {
				off[i] = (off[i] + (size_t)n) % batch.len;
				continue;
			}
			if (n == -1 && (errno == EPIPE ||
			    errno == ECONNRESET)) {
				closed[i] = 1;
				nclosed++;
				continue;
			}
			ck_assert_msg(n == -1 && (errno == EAGAIN ||
			    errno == EINTR), "send: %s", strerror(errno));
			pfd.fd = s[i]->fd;
			pfd.events = 0;
			if (poll(&pfd, 1, 0) == 1 &&
			    (pfd.revents & (POLLHUP | POLLERR)) != 0) {
				closed[i] = 1;
				nclosed++;
			}
		}
		/* The reader reads: it is never the biggest. */
		tc_check_status(r, "out", 1, 1, 0);
		poll(NULL, 0, 5);
	}
	peak = proc_status_kib(d->tl.pid, "VmHWM");
	fprintf(stderr, "test_max_output_total: semd's RSS %lu KiB before, "
	    "peak %lu KiB\n", base, peak);
	proto_buf_free(&batch);
	for (i = 0; i < OUT_CLIENTS; i++) {
		while ((n = read(s[i]->fd, sink, sizeof sink)) > 0)
			continue;
		tc_close(s[i]);
	}
	ck_assert_msg(peak < base + 16 * 1024, "semd's peak RSS grew from "
	    "%lu KiB to %lu KiB with a 4M budget for unread replies", base,
	    peak);

	tc_check_status(r, "out", 1, 1, 0);
	tc_check_status(h, "out", 1, 1, 0);
	tc_close(r);
	tc_close(h);
	integ_stop(d);
}
END_TEST

/*
 * Pins 10,000 connections served at once (--max-connections 0; fewer
 * connections if this process may not open that many): every client is
 * answered HELLO, then ACQUIRE puts them all in one FIFO queue, and
 * releasing the 64 holders grants the next 64 in queue order; closing
 * everyone releases everything.  Peak resident memory stays under 256
 * MiB (about 2 KiB per connection are expected, 8 under ASan).
 */
START_TEST(test_many_served)
{
	struct integ_daemon	*d;
	struct tclient		**c;
	struct proto_reply	 rep;
	char			 txt[512];
	int			*order, *held;
	int			 n = many_conns(), i, j, nheld = 0;
	unsigned long		 rss;

	c = calloc((size_t)n, sizeof *c);
	order = calloc((size_t)n + 1, sizeof *order);
	held = calloc((size_t)n, sizeof *held);
	ck_assert(c != NULL && order != NULL && held != NULL);
	d = integ_start("--max-connections", "0",
	    "--max-connections-per-uid", "0", NULL);
	connect_many(d, c, n);
	for (i = 0; i < n; i++)
		tc_expect_hello(c[i], (uint64_t)i + 1);
	for (i = 0; i < n; i++)
		tc_acquire(c[i], 1, "all", MANY_CAP, 1, -1);
	for (i = 0; i < n; i++) {
		tc_recv(c[i], &rep);
		integ_reply_str(&rep, txt, sizeof txt);
		if (rep.op == PROTO_OP_ACQUIRED)
			held[nheld++] = i;
		else {
			ck_assert_msg(rep.op == PROTO_OP_QUEUED &&
			    rep.position >= 1 && rep.position <= (uint32_t)n &&
			    order[rep.position] == 0, "client %d: %s", i,
			    txt);
			order[rep.position] = i + 1;
		}
		proto_reply_free(&rep);
	}
	ck_assert_int_eq(nheld, MANY_CAP);
	tc_check_status(c[0], "all", MANY_CAP, MANY_CAP, n - MANY_CAP);

	for (i = 0; i < MANY_CAP; i++)
		tc_release_ok(c[held[i]], 2, "all", 1);
	for (i = 1; i <= MANY_CAP; i++) {
		j = order[i] - 1;
		ck_assert_int_ge(j, 0);
		tc_expect_acquired(c[j], 1, "all", 1);
	}
	tc_check_status(c[0], "all", MANY_CAP, MANY_CAP,
	    n - 2 * MANY_CAP);

	rss = proc_status_kib(d->tl.pid, "VmHWM");
	for (i = 0; i < n; i++)
		tc_close(c[i]);
	c[0] = tc_connect(d);
	tc_wait_status(c[0], "all", 0, 0);
	tc_check_gone(c[0], "all");
	tc_close(c[0]);
	ck_assert_msg(rss < 256 * 1024, "semd's peak RSS is %lu KiB with "
	    "%d clients", rss, n);
	integ_stop(d);
	free(held);
	free(order);
	free(c);
}
END_TEST

/* The limits suite. */
Suite *
limits_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("limits");
	tc = tcase_create("options");
	tcase_set_timeout(tc, INTEG_TCASE_S);
	tcase_add_test(tc, test_max_holds);
	tcase_add_test(tc, test_max_pending_per_uid);
	tcase_add_test(tc, test_max_holds_per_uid);
	tcase_add_test(tc, test_max_frame_option);
	tcase_add_test(tc, test_status_truncated);
	tcase_add_test(tc, test_max_connections_per_uid);
	suite_add_tcase(s, tc);

	/*
	 * Left out of make check-valgrind (CK_EXCLUDE_TAGS): valgrind keeps
	 * descriptors of its own at the top of a low RLIMIT_NOFILE and
	 * closes connections accepted there, which this test would see as
	 * semd's doing.
	 */
	tc = tcase_create("fds");
	tcase_set_tags(tc, "fds");
	tcase_set_timeout(tc, INTEG_TCASE_S);
	tcase_add_test(tc, test_nofile_backoff);
	suite_add_tcase(s, tc);

	/*
	 * Heavy: left out of make check-valgrind too (and the memory
	 * bound of test_max_output_total means nothing under valgrind,
	 * which holds 20M of freed blocks back).
	 */
	tc = tcase_create("scale");
	tcase_set_tags(tc, "scale");
	tcase_set_timeout(tc, INTEG_TCASE_S);
	tcase_add_test(tc, test_max_output_total);
	tcase_add_test(tc, test_many_refused);
	tcase_add_test(tc, test_many_served);
	suite_add_tcase(s, tc);
	return (s);
}
