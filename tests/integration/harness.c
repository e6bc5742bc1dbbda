/*
 * harness.c -- start and stop a real semd on a temporary socket, talk to
 * it as blocking test clients built on proto.h, fork children that hold
 * connections of their own, and write raw MessagePack for hostile frames.
 *
 * The daemon is a child of the test process (Check forks one process per
 * test) and dies with it (PR_SET_PDEATHSIG; Check also kills the test's
 * process group).  A failing test ends with _exit, so no atexit handler
 * runs: a guard process (tl_guard_start) waits for the
 * test process to go away and, if the daemon's directory is still there
 * (the test did not reach integ_stop), prints the daemon's log and removes
 * the directory.  A failing test leaves nothing running and nothing in
 * $TMPDIR.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "integ.h"

#define INTEG_MAX_DAEMONS	4
#define INTEG_MAX_ARGS		32
#define INTEG_AUX_ID		0x5e4d000000000000ULL

static struct integ_daemon integ_daemons[INTEG_MAX_DAEMONS];
static char		 integ_ctx[128];	/* prefix of failure messages */
static unsigned long	 integ_nofile;		/* for the next daemon; 0: ours */

/* The name of an op, never NULL. */
static const char *
integ_op_name(enum proto_op op)
{
	const char	*name = proto_op_name(op);

	return (name != NULL ? name : "(unknown op)");
}

/*
 * Name the case a looped test is running (NULL: none); failure messages
 * start with it.
 */
void
integ_context(const char *name)
{
	if (name == NULL)
		integ_ctx[0] = '\0';
	else
		snprintf(integ_ctx, sizeof integ_ctx, "[%s] ", name);
}

/*
 * Fail the running test at file:line with a formatted message.  In Check's
 * fork mode this exits the test process (the guard cleans up).
 */
void
integ_fail(const char *file, int line, const char *fmt, ...)
{
	char	buf[3072];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	_ck_assert_failed(file, line, "Failed", "%s%s", integ_ctx, buf);
}

/*
 * Describe a reply in one line into buf (len bytes) and return buf.
 */
const char *
integ_reply_str(const struct proto_reply *rep, char *buf, size_t len)
{
	const char		*name;
	unsigned long long	 id = rep->id;

	name = integ_op_name(rep->op);
	switch (rep->op) {
	case PROTO_OP_HELLO:
		snprintf(buf, len, "HELLO id=%llu version=%u server=\"%s\" "
		    "pid=%u", id, rep->version, rep->server, rep->pid);
		break;
	case PROTO_OP_QUEUED:
		snprintf(buf, len, "QUEUED id=%llu position=%u", id,
		    rep->position);
		break;
	case PROTO_OP_ACQUIRED:
	case PROTO_OP_RELEASED:
		snprintf(buf, len, "%s id=%llu sem=%s weight=%u", name, id,
		    rep->sem, rep->weight);
		break;
	case PROTO_OP_ERROR:
		name = proto_err_name(rep->code);
		snprintf(buf, len, "ERROR id=%llu %s: %s", id,
		    name != NULL ? name : "?", rep->message);
		break;
	case PROTO_OP_STATUS:
		snprintf(buf, len, "STATUS id=%llu nsems=%zu%s", id,
		    rep->nsems, rep->truncated ? " truncated" : "");
		break;
	default:
		snprintf(buf, len, "%s id=%llu", name, id);
		break;
	}
	return (buf);
}

/* Close our copies of every guard pipe (in a forked child). */
static void
integ_guard_close_all(void)
{
	int	i;

	for (i = 0; i < INTEG_MAX_DAEMONS; i++)
		if (integ_daemons[i].used && integ_daemons[i].guard.fd > 0)
			close(integ_daemons[i].guard.fd);
}

/*
 * Give the daemons started from now on an open-file limit of n (soft and
 * hard, set before exec); 0 goes back to inheriting ours.
 */
void
integ_set_nofile(unsigned long n)
{
	integ_nofile = n;
}

/*
 * Start semd -f -S PATH on a fresh temporary directory, with the extra
 * arguments given (NULL-terminated), and wait until it accepts a
 * connection.  Fails the test if it cannot be started or exits early.
 */
struct integ_daemon *
integ_start_at(const char *file, int line, ...)
{
	struct integ_daemon	*d = NULL;
	const char		*argv[INTEG_MAX_ARGS], *arg;
	char			 dir[96];
	va_list			 ap;
	int			 argc, i;

	for (i = 0; i < INTEG_MAX_DAEMONS; i++) {
		if (!integ_daemons[i].used) {
			d = &integ_daemons[i];
			break;
		}
	}
	if (d == NULL)
		integ_fail(file, line, "too many daemons in one test");

	argc = 0;
	va_start(ap, line);
	while ((arg = va_arg(ap, const char *)) != NULL) {
		if (argc >= INTEG_MAX_ARGS - 1)
			integ_fail(file, line, "too many semd arguments");
		argv[argc++] = arg;
	}
	va_end(ap);
	argv[argc] = NULL;

	memset(d, 0, sizeof *d);
	if (tl_tmpdir(dir, sizeof dir, "semd-integ") == -1)
		integ_fail(file, line, "mkdtemp %s: %s", dir, strerror(errno));
	if ((size_t)snprintf(d->tl.path, sizeof d->tl.path, "%s/semd.sock",
	    dir) >= sizeof d->tl.path ||
	    (size_t)snprintf(d->tl.log, sizeof d->tl.log, "%s/semd.log",
	    dir) >= sizeof d->tl.log)
		integ_fail(file, line, "temporary path too long: %s", dir);
	memcpy(d->dir, dir, sizeof d->dir);
	d->tl.nofile = integ_nofile;
	d->used = 1;
	if (tl_daemon_spawn(&d->tl, argv) == -1)
		integ_fail(file, line, "%s", d->tl.error);
	if (tl_guard_start(&d->guard, d->dir, d->tl.log) == -1)
		integ_fail(file, line, "guard: %s", strerror(errno));
	if (tl_daemon_wait(&d->tl, INTEG_START_MS) == -1)
		integ_fail(file, line, "%s", d->tl.error);
	return (d);
}

/* Fail the test if the daemon has exited. */
static void
integ_check_running(const char *file, int line, struct integ_daemon *d)
{
	char	tail[1500], what[64];

	if (d->tl.pid <= 0)
		integ_fail(file, line, "semd is not running");
	if (tl_daemon_exited(&d->tl))
		integ_fail(file, line, "semd %s; log:\n%s",
		    tl_wait_str(d->tl.status, what, sizeof what),
		    tl_file_tail(d->tl.log, tail, sizeof tail));
}

/*
 * Check that the daemon still runs and serves: a HELLO round trip on a
 * new connection, answered with version 1 and the daemon's own pid.
 */
void
integ_alive_at(const char *file, int line, struct integ_daemon *d)
{
	struct tclient		*c;
	struct proto_reply	 rep;

	integ_check_running(file, line, d);
	c = tc_connect_at(file, line, d);
	tc_hello_at(file, line, c, 0xa11fe, PROTO_VERSION);
	tc_expect_at(file, line, c, PROTO_OP_HELLO, 0xa11fe, &rep);
	if (rep.version != PROTO_VERSION || rep.pid != (uint32_t)d->tl.pid)
		integ_fail(file, line, "HELLO reply has version %u pid %u, "
		    "expected version %d pid %d", rep.version, rep.pid,
		    PROTO_VERSION, (int)d->tl.pid);
	tc_close(c);
}

/*
 * Check the daemon serves, stop it with SIGTERM and reap it: it must exit
 * with status 0 and remove its socket file.  Removes the directory.
 */
void
integ_stop_at(const char *file, int line, struct integ_daemon *d)
{
	integ_alive_at(file, line, d);
	if (tl_daemon_stop(&d->tl, INTEG_STOP_MS) == -1)
		integ_fail(file, line, "%s", d->tl.error);
	if (access(d->tl.path, F_OK) == 0 || errno != ENOENT)
		integ_fail(file, line, "semd exited but left its socket %s",
		    d->tl.path);
	tl_rmtree(d->dir);
	tl_guard_release(&d->guard);
	memset(d, 0, sizeof *d);
}

/* --- test clients --- */

/* Connect a new non-blocking test client to the daemon. */
struct tclient *
tc_connect_at(const char *file, int line, struct integ_daemon *d)
{
	struct tclient	*c;
	int		 fd;

	if ((fd = tl_dial(d->tl.path)) == -1)
		integ_fail(file, line, "connect %s: %s", d->tl.path,
		    strerror(errno));
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		integ_fail(file, line, "fcntl: %s", strerror(errno));
	if ((c = calloc(1, sizeof *c)) == NULL)
		integ_fail(file, line, "out of memory");
	c->fd = fd;
	c->aux_id = INTEG_AUX_ID;
	return (c);
}

/* Close a test client's connection and free it; NULL is fine. */
void
tc_close(struct tclient *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c->buf);
	free(c);
}

/*
 * Write len bytes, waiting for the socket to drain; fail the test if the
 * daemon stops reading for INTEG_REPLY_MS or the write fails.
 */
void
tc_send_raw_at(const char *file, int line, struct tclient *c,
    const void *data, size_t len)
{
	const uint8_t	*p = data;
	struct pollfd	 pfd;
	int64_t		 deadline;
	ssize_t		 n;
	size_t		 off = 0;

	deadline = tl_now_ms() + INTEG_REPLY_MS;
	while (off < len) {
		n = send(c->fd, p + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			integ_fail(file, line, "write to semd failed after "
			    "%zu of %zu bytes: %s", off, len, strerror(errno));
		pfd.fd = c->fd;
		pfd.events = POLLOUT;
		if (tl_now_ms() > deadline)
			integ_fail(file, line, "semd did not read our request "
			    "within %d ms (%zu of %zu bytes written)",
			    INTEG_REPLY_MS, off, len);
		poll(&pfd, 1, 100);
	}
}

/* Send a body with its 4-byte big-endian length prefix (len as given). */
void
tc_send_body_at(const char *file, int line, struct tclient *c,
    const void *body, size_t len)
{
	uint8_t	*frame;

	if ((frame = malloc(len + PROTO_HDR_LEN)) == NULL)
		integ_fail(file, line, "out of memory");
	frame[0] = (uint8_t)(len >> 24);
	frame[1] = (uint8_t)(len >> 16);
	frame[2] = (uint8_t)(len >> 8);
	frame[3] = (uint8_t)len;
	memcpy(frame + PROTO_HDR_LEN, body, len);
	tc_send_raw_at(file, line, c, frame, len + PROTO_HDR_LEN);
	free(frame);
}

/* Encode a request with proto_encode_request and send it. */
void
tc_send_at(const char *file, int line, struct tclient *c,
    const struct proto_request *req)
{
	struct proto_buf	b = { 0 };

	if (proto_encode_request(&b, req) == -1)
		integ_fail(file, line, "proto_encode_request: %s",
		    strerror(errno));
	tc_send_raw_at(file, line, c, b.data, b.len);
	proto_buf_free(&b);
}

/*
 * Read the next reply, waiting up to timeout_ms.  Returns 1 with *rep
 * filled (free it with proto_reply_free), 0 at end of stream (EOF or
 * ECONNRESET), -1 when nothing came in time.  A bad frame from the daemon
 * or a stream cut mid-frame fails the test.
 */
int
tc_next_at(const char *file, int line, struct tclient *c,
    struct proto_reply *rep, int timeout_ms)
{
	struct pollfd	 pfd;
	char		 err[256];
	enum proto_err	 e;
	uint32_t	 blen;
	size_t		 need;
	int64_t		 deadline, left;
	ssize_t		 n;
	uint8_t		*nb;
	int		 r;

	deadline = tl_now_ms() + timeout_ms;
	for (;;) {
		r = proto_frame_check(c->buf, c->len, &blen);
		if (r == -1)
			integ_fail(file, line, "semd sent a frame with an "
			    "invalid length prefix");
		if (r == 1) {
			memset(rep, 0, sizeof *rep);
			e = proto_decode_reply(c->buf + PROTO_HDR_LEN, blen,
			    rep, err, sizeof err);
			if (e != PROTO_OK)
				integ_fail(file, line, "semd sent a reply we "
				    "cannot decode (%s): %s",
				    proto_err_name(e), err);
			c->len -= PROTO_HDR_LEN + blen;
			memmove(c->buf, c->buf + PROTO_HDR_LEN + blen, c->len);
			return (1);
		}
		if (c->eof) {
			if (c->len != 0)
				integ_fail(file, line, "semd closed the "
				    "connection in the middle of a reply "
				    "(%zu bytes pending)", c->len);
			return (0);
		}

		need = c->len + 65536;
		if (c->cap < need) {
			if ((nb = realloc(c->buf, need)) == NULL)
				integ_fail(file, line, "out of memory");
			c->buf = nb;
			c->cap = need;
		}
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n > 0) {
			c->len += (size_t)n;
			continue;
		}
		if (n == 0 || errno == ECONNRESET) {
			c->eof = 1;
			continue;
		}
		if (errno != EAGAIN && errno != EINTR)
			integ_fail(file, line, "read from semd: %s",
			    strerror(errno));
		left = deadline - tl_now_ms();
		if (left < 0)
			return (-1);
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		poll(&pfd, 1, (int)left);
	}
}

/* Read the next reply; fail the test on EOF or after INTEG_REPLY_MS. */
void
tc_recv_at(const char *file, int line, struct tclient *c,
    struct proto_reply *rep)
{
	switch (tc_next_at(file, line, c, rep, INTEG_REPLY_MS)) {
	case 0:
		integ_fail(file, line, "semd closed the connection where a "
		    "reply was expected");
	case -1:
		integ_fail(file, line, "no reply from semd within %d ms",
		    INTEG_REPLY_MS);
	default:
		break;
	}
}

/*
 * Read the next reply and check it is op answering id.  The reply goes
 * to *out when out is not NULL (free it with proto_reply_free).
 */
void
tc_expect_at(const char *file, int line, struct tclient *c, enum proto_op op,
    uint64_t id, struct proto_reply *out)
{
	struct proto_reply	rep;
	char			got[512];
	int			r;

	r = tc_next_at(file, line, c, &rep, INTEG_REPLY_MS);
	if (r == 0)
		integ_fail(file, line, "expected %s id=%llu, got EOF",
		    integ_op_name(op), (unsigned long long)id);
	if (r == -1)
		integ_fail(file, line, "expected %s id=%llu, got nothing "
		    "within %d ms", integ_op_name(op), (unsigned long long)id,
		    INTEG_REPLY_MS);
	if (rep.op != op || rep.id != id) {
		integ_reply_str(&rep, got, sizeof got);
		proto_reply_free(&rep);
		integ_fail(file, line, "expected %s id=%llu, got %s",
		    integ_op_name(op), (unsigned long long)id, got);
	}
	if (out != NULL)
		*out = rep;
	else
		proto_reply_free(&rep);
}

/* Expect HELLO {version 1} answering id. */
void
tc_expect_hello_at(const char *file, int line, struct tclient *c,
    uint64_t id)
{
	struct proto_reply	rep;

	tc_expect_at(file, line, c, PROTO_OP_HELLO, id, &rep);
	if (rep.version != PROTO_VERSION)
		integ_fail(file, line, "HELLO reply has version %u",
		    rep.version);
}

/* Expect QUEUED {position} answering id. */
void
tc_expect_queued_at(const char *file, int line, struct tclient *c,
    uint64_t id, uint32_t position)
{
	struct proto_reply	rep;

	tc_expect_at(file, line, c, PROTO_OP_QUEUED, id, &rep);
	if (rep.position != position)
		integ_fail(file, line, "QUEUED id=%llu at position %u, "
		    "expected %u", (unsigned long long)id, rep.position,
		    position);
}

/* Check an ACQUIRED or RELEASED reply's sem and weight. */
static void
tc_check_sem_weight(const char *file, int line, const struct proto_reply *rep,
    const char *sem, uint32_t weight)
{
	char	got[512];

	if (strcmp(rep->sem, sem) != 0 || rep->weight != weight)
		integ_fail(file, line, "expected sem=%s weight=%u, got %s",
		    sem, weight, integ_reply_str(rep, got, sizeof got));
}

/* Expect ACQUIRED {sem, weight} answering id. */
void
tc_expect_acquired_at(const char *file, int line, struct tclient *c,
    uint64_t id, const char *sem, uint32_t weight)
{
	struct proto_reply	rep;

	tc_expect_at(file, line, c, PROTO_OP_ACQUIRED, id, &rep);
	tc_check_sem_weight(file, line, &rep, sem, weight);
}

/* Expect RELEASED {sem, weight} answering id. */
void
tc_expect_released_at(const char *file, int line, struct tclient *c,
    uint64_t id, const char *sem, uint32_t weight)
{
	struct proto_reply	rep;

	tc_expect_at(file, line, c, PROTO_OP_RELEASED, id, &rep);
	tc_check_sem_weight(file, line, &rep, sem, weight);
}

/* Expect TIMEOUT {id}. */
void
tc_expect_timeout_at(const char *file, int line, struct tclient *c,
    uint64_t id)
{
	tc_expect_at(file, line, c, PROTO_OP_TIMEOUT, id, NULL);
}

/*
 * Expect ERROR {code} answering id, with a non-empty message; copy the
 * message to msg (len bytes) when msg is not NULL.
 */
void
tc_expect_error_at(const char *file, int line, struct tclient *c,
    uint64_t id, enum proto_err code, char *msg, size_t len)
{
	struct proto_reply	rep;
	char			got[512];

	tc_expect_at(file, line, c, PROTO_OP_ERROR, id, &rep);
	if (rep.code != code)
		integ_fail(file, line, "expected ERROR %s, got %s",
		    proto_err_name(code),
		    integ_reply_str(&rep, got, sizeof got));
	if (rep.message[0] == '\0')
		integ_fail(file, line, "ERROR %s has an empty message",
		    proto_err_name(code));
	if (msg != NULL)
		snprintf(msg, len, "%s", rep.message);
}

/* Expect the daemon to close the connection with no further reply. */
void
tc_expect_eof_at(const char *file, int line, struct tclient *c)
{
	struct proto_reply	rep;
	char			got[512];

	switch (tc_next_at(file, line, c, &rep, INTEG_REPLY_MS)) {
	case 1:
		integ_reply_str(&rep, got, sizeof got);
		proto_reply_free(&rep);
		integ_fail(file, line, "expected EOF, got %s", got);
	case -1:
		integ_fail(file, line, "expected EOF, connection still open "
		    "after %d ms", INTEG_REPLY_MS);
	default:
		break;
	}
}

/* Expect ERROR BAD_FRAME (any id), then EOF. */
void
tc_expect_bad_frame_eof_at(const char *file, int line, struct tclient *c)
{
	struct proto_reply	rep;
	char			got[512];
	int			r;

	r = tc_next_at(file, line, c, &rep, INTEG_REPLY_MS);
	if (r == 0)
		integ_fail(file, line, "expected ERROR BAD_FRAME, got EOF "
		    "without a reply");
	if (r == -1)
		integ_fail(file, line, "expected ERROR BAD_FRAME, got nothing "
		    "within %d ms", INTEG_REPLY_MS);
	if (rep.op != PROTO_OP_ERROR || rep.code != PROTO_E_BAD_FRAME) {
		integ_reply_str(&rep, got, sizeof got);
		proto_reply_free(&rep);
		integ_fail(file, line, "expected ERROR BAD_FRAME, got %s",
		    got);
	}
	proto_reply_free(&rep);
	tc_expect_eof_at(file, line, c);
}

/*
 * Check that no reply is pending right now (nothing within
 * INTEG_QUIET_MS).  This cannot flake the wrong way: a reply that comes
 * later than the wait is caught by the next expectation.
 */
void
tc_expect_quiet_at(const char *file, int line, struct tclient *c)
{
	tc_expect_quiet_all_at(file, line, &c, 1, INTEG_QUIET_MS);
}

/* Check that none of n clients has a reply pending within wait_ms. */
void
tc_expect_quiet_all_at(const char *file, int line, struct tclient **v,
    size_t n, int wait_ms)
{
	struct proto_reply	rep;
	char			got[512];
	size_t			i;
	int			r;

	for (i = 0; i < n; i++) {
		r = tc_next_at(file, line, v[i], &rep, i == 0 ? wait_ms : 0);
		if (r == 1) {
			integ_reply_str(&rep, got, sizeof got);
			proto_reply_free(&rep);
			integ_fail(file, line, "client %zu: unexpected reply "
			    "%s", i, got);
		}
		if (r == 0)
			integ_fail(file, line, "client %zu: unexpected EOF",
			    i);
	}
}

/* --- requests --- */

/* Send HELLO {version}. */
void
tc_hello_at(const char *file, int line, struct tclient *c, uint64_t id,
    uint32_t version)
{
	struct proto_request	req;

	memset(&req, 0, sizeof req);
	req.op = PROTO_OP_HELLO;
	req.id = id;
	req.version = version;
	snprintf(req.client, sizeof req.client, "integ_tests");
	tc_send_at(file, line, c, &req);
}

/* Fill a request's sem field; names longer than the struct holds abort. */
static void
enc_set_sem(struct proto_request *req, const char *sem)
{
	req->has_sem = 1;
	req->sem_len = strlen(sem);
	if (req->sem_len > PROTO_MAX_NAME)
		abort();
	memcpy(req->sem, sem, req->sem_len + 1);
}

/* Encode a request and append its frame to b; aborts on ENOMEM. */
static void
enc_request(struct proto_buf *b, const struct proto_request *req)
{
	if (proto_encode_request(b, req) == -1)
		abort();
}

/*
 * Append an ACQUIRE frame to b.  capacity 0: none declared; timeout_ms
 * -1: wait forever.
 */
void
enc_acquire(struct proto_buf *b, uint64_t id, const char *sem,
    uint32_t capacity, uint32_t weight, int64_t timeout_ms)
{
	struct proto_request	req;

	memset(&req, 0, sizeof req);
	req.op = PROTO_OP_ACQUIRE;
	req.id = id;
	enc_set_sem(&req, sem);
	req.has_capacity = capacity != 0;
	req.capacity = capacity;
	req.weight = weight;
	req.timeout_ms = timeout_ms;
	enc_request(b, &req);
}

/* Append a RELEASE frame to b. */
void
enc_release(struct proto_buf *b, uint64_t id, const char *sem,
    uint32_t weight)
{
	struct proto_request	req;

	memset(&req, 0, sizeof req);
	req.op = PROTO_OP_RELEASE;
	req.id = id;
	enc_set_sem(&req, sem);
	req.weight = weight;
	req.timeout_ms = -1;
	enc_request(b, &req);
}

/* Append a STATUS frame to b (sem NULL: all semaphores). */
void
enc_status(struct proto_buf *b, uint64_t id, const char *sem)
{
	struct proto_request	req;

	memset(&req, 0, sizeof req);
	req.op = PROTO_OP_STATUS;
	req.id = id;
	req.timeout_ms = -1;
	if (sem != NULL)
		enc_set_sem(&req, sem);
	enc_request(b, &req);
}

/* Send ACQUIRE.  capacity 0: none declared; timeout_ms -1: forever. */
void
tc_acquire_at(const char *file, int line, struct tclient *c, uint64_t id,
    const char *sem, uint32_t capacity, uint32_t weight, int64_t timeout_ms)
{
	struct proto_buf	b = { 0 };

	enc_acquire(&b, id, sem, capacity, weight, timeout_ms);
	tc_send_raw_at(file, line, c, b.data, b.len);
	proto_buf_free(&b);
}

/* Send RELEASE. */
void
tc_release_at(const char *file, int line, struct tclient *c, uint64_t id,
    const char *sem, uint32_t weight)
{
	struct proto_buf	b = { 0 };

	enc_release(&b, id, sem, weight);
	tc_send_raw_at(file, line, c, b.data, b.len);
	proto_buf_free(&b);
}

/* Send TIMEOUT (withdrawal) for the pending ACQUIRE id. */
void
tc_withdraw_at(const char *file, int line, struct tclient *c, uint64_t id)
{
	struct proto_request	req;

	memset(&req, 0, sizeof req);
	req.op = PROTO_OP_TIMEOUT;
	req.id = id;
	req.timeout_ms = -1;
	tc_send_at(file, line, c, &req);
}

/* ACQUIRE (no timeout) and expect ACQUIRED at once. */
void
tc_acquire_ok_at(const char *file, int line, struct tclient *c, uint64_t id,
    const char *sem, uint32_t capacity, uint32_t weight)
{
	tc_acquire_at(file, line, c, id, sem, capacity, weight, -1);
	tc_expect_acquired_at(file, line, c, id, sem, weight);
}

/* ACQUIRE (no timeout) and expect QUEUED at position. */
void
tc_acquire_queued_at(const char *file, int line, struct tclient *c,
    uint64_t id, const char *sem, uint32_t capacity, uint32_t weight,
    uint32_t position)
{
	tc_acquire_at(file, line, c, id, sem, capacity, weight, -1);
	tc_expect_queued_at(file, line, c, id, position);
}

/* RELEASE and expect RELEASED. */
void
tc_release_ok_at(const char *file, int line, struct tclient *c, uint64_t id,
    const char *sem, uint32_t weight)
{
	tc_release_at(file, line, c, id, sem, weight);
	tc_expect_released_at(file, line, c, id, sem, weight);
}

/* HELLO round trip on this connection. */
void
tc_hello_ok_at(const char *file, int line, struct tclient *c)
{
	uint64_t	id = c->aux_id++;

	tc_hello_at(file, line, c, id, PROTO_VERSION);
	tc_expect_hello_at(file, line, c, id);
}

/* STATUS round trip (sem NULL: all); free *rep with proto_reply_free. */
void
tc_status_at(const char *file, int line, struct tclient *c, const char *sem,
    struct proto_reply *rep)
{
	struct proto_buf	b = { 0 };
	uint64_t		id = c->aux_id++;

	enc_status(&b, id, sem);
	tc_send_raw_at(file, line, c, b.data, b.len);
	proto_buf_free(&b);
	tc_expect_at(file, line, c, PROTO_OP_STATUS, id, rep);
}

/* Find sem in a STATUS reply, or NULL. */
const struct proto_sem_status *
status_find(const struct proto_reply *rep, const char *sem)
{
	size_t	i;

	for (i = 0; i < rep->nsems; i++)
		if (strcmp(rep->sems[i].sem, sem) == 0)
			return (&rep->sems[i]);
	return (NULL);
}

/*
 * Check STATUS of sem: it is listed exactly once, alone, with this
 * capacity, held weight and number of waiters, and the holders' and
 * waiters' lists agree with those totals.
 */
void
tc_check_status_at(const char *file, int line, struct tclient *c,
    const char *sem, uint32_t capacity, uint32_t held, uint32_t waiting)
{
	struct proto_reply		 rep;
	const struct proto_sem_status	*s;
	uint64_t			 sum = 0;
	size_t				 i, n;

	tc_status_at(file, line, c, sem, &rep);
	n = rep.nsems;
	if (n != 1 || (s = status_find(&rep, sem)) == NULL) {
		proto_reply_free(&rep);
		integ_fail(file, line, "STATUS %s lists %zu semaphores, "
		    "expected just %s", sem, n, sem);
	}
	for (i = 0; i < s->nholders; i++)
		sum += s->holders[i].weight;
	if (s->capacity != capacity || s->held != held ||
	    s->waiting != waiting || (!rep.truncated && (sum != held ||
	    s->nwaiters != waiting))) {
		integ_fail(file, line, "STATUS %s: capacity=%u held=%u "
		    "waiting=%u (holders sum %llu, %zu waiters listed), "
		    "expected capacity=%u held=%u waiting=%u", sem,
		    s->capacity, s->held, s->waiting, (unsigned long long)sum,
		    s->nwaiters, capacity, held, waiting);
	}
	proto_reply_free(&rep);
}

/* Check that STATUS of sem lists nothing: the semaphore is forgotten. */
void
tc_check_gone_at(const char *file, int line, struct tclient *c,
    const char *sem)
{
	struct proto_reply	rep;
	size_t			n;

	tc_status_at(file, line, c, sem, &rep);
	n = rep.nsems;
	if (n != 0) {
		const struct proto_sem_status *s = &rep.sems[0];

		integ_fail(file, line, "STATUS %s: expected no semaphore "
		    "(forgotten), got %zu: %s capacity=%u held=%u waiting=%u",
		    sem, n, s->sem, s->capacity, s->held, s->waiting);
	}
	proto_reply_free(&rep);
}

/*
 * Wait until STATUS of sem shows held and waiting (an absent semaphore
 * counts as 0 and 0): for effects of a disconnect, which the daemon
 * notices asynchronously.  Fails after INTEG_REPLY_MS.
 */
void
tc_wait_status_at(const char *file, int line, struct tclient *c,
    const char *sem, uint32_t held, uint32_t waiting)
{
	struct proto_reply		 rep;
	const struct proto_sem_status	*s;
	uint32_t			 h, w;
	int64_t				 deadline;

	deadline = tl_now_ms() + INTEG_REPLY_MS;
	for (;;) {
		tc_status_at(file, line, c, sem, &rep);
		s = status_find(&rep, sem);
		h = s != NULL ? s->held : 0;
		w = s != NULL ? s->waiting : 0;
		proto_reply_free(&rep);
		if (h == held && w == waiting)
			return;
		if (tl_now_ms() > deadline)
			integ_fail(file, line, "STATUS %s stayed at held=%u "
			    "waiting=%u, expected held=%u waiting=%u", sem, h,
			    w, held, waiting);
		tl_nap_ms(10);
	}
}

/* --- child processes --- */

/*
 * The child's life: connect, ACQUIRE (id 1), then report the op of every
 * reply as one byte on wfd until the connection ends.  Never returns.
 */
static void
child_main(const char *path, int wfd, const char *sem, uint32_t capacity,
    uint32_t weight)
{
	struct proto_request	 req;
	struct proto_reply	 rep;
	struct proto_buf	 b = { 0 };
	static uint8_t		 buf[2 * (PROTO_HDR_LEN + PROTO_MAX_FRAME)];
	char			 err[256];
	uint32_t		 blen;
	size_t			 len = 0, off;
	ssize_t			 n;
	uint8_t			 op;
	int			 fd;

	if ((fd = tl_dial(path)) == -1)
		_exit(2);
	memset(&req, 0, sizeof req);
	req.op = PROTO_OP_ACQUIRE;
	req.id = 1;
	req.has_sem = 1;
	req.sem_len = strlen(sem);
	memcpy(req.sem, sem, req.sem_len + 1);
	req.has_capacity = 1;
	req.capacity = capacity;
	req.weight = weight;
	req.timeout_ms = -1;
	if (proto_encode_request(&b, &req) == -1)
		_exit(3);
	for (off = 0; off < b.len; off += (size_t)n)
		if ((n = send(fd, b.data + off, b.len - off,
		    MSG_NOSIGNAL)) <= 0)
			_exit(4);
	for (;;) {
		while (proto_frame_check(buf, len, &blen) == 1) {
			memset(&rep, 0, sizeof rep);
			if (proto_decode_reply(buf + PROTO_HDR_LEN, blen, &rep,
			    err, sizeof err) != PROTO_OK)
				_exit(5);
			op = (uint8_t)rep.op;
			proto_reply_free(&rep);
			if (write(wfd, &op, 1) != 1)
				_exit(6);
			len -= PROTO_HDR_LEN + blen;
			memmove(buf, buf + PROTO_HDR_LEN + blen, len);
		}
		n = read(fd, buf + len, sizeof buf - len);
		if (n <= 0)
			_exit(0);
		len += (size_t)n;
	}
}

/*
 * Fork a child process that connects to the daemon and sends ACQUIRE
 * {sem, capacity, weight} with no timeout; its replies are read with
 * child_expect.  The child dies with the test process.
 */
void
child_acquire_at(const char *file, int line, struct integ_daemon *d,
    struct tchild *ch, const char *sem, uint32_t capacity, uint32_t weight)
{
	pid_t	parent = getpid();
	int	p[2];

	if (pipe2(p, O_CLOEXEC) == -1)
		integ_fail(file, line, "pipe: %s", strerror(errno));
	if ((ch->pid = fork()) == -1)
		integ_fail(file, line, "fork: %s", strerror(errno));
	if (ch->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		close(p[0]);
		integ_guard_close_all();
		child_main(d->tl.path, p[1], sem, capacity, weight);
	}
	close(p[1]);
	ch->rfd = p[0];
}

/* Expect the child's next reply to be op. */
void
child_expect_at(const char *file, int line, struct tchild *ch,
    enum proto_op op)
{
	struct pollfd	pfd;
	uint8_t		got;
	ssize_t		n;

	pfd.fd = ch->rfd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, INTEG_REPLY_MS) <= 0)
		integ_fail(file, line, "child %d: expected %s, got nothing "
		    "within %d ms", (int)ch->pid, integ_op_name(op),
		    INTEG_REPLY_MS);
	n = read(ch->rfd, &got, 1);
	if (n != 1)
		integ_fail(file, line, "child %d: expected %s, but the child "
		    "ended", (int)ch->pid, integ_op_name(op));
	if (got != (uint8_t)op)
		integ_fail(file, line, "child %d: expected %s, got %s",
		    (int)ch->pid, integ_op_name(op),
		    integ_op_name((enum proto_op)got));
}

/* Kill the child with SIGKILL and reap it. */
void
child_kill_at(const char *file, int line, struct tchild *ch)
{
	int	status;

	if (kill(ch->pid, SIGKILL) == -1)
		integ_fail(file, line, "kill %d: %s", (int)ch->pid,
		    strerror(errno));
	if (waitpid(ch->pid, &status, 0) != ch->pid)
		integ_fail(file, line, "waitpid %d: %s", (int)ch->pid,
		    strerror(errno));
	close(ch->rfd);
	ch->pid = -1;
	ch->rfd = -1;
}

/* --- raw MessagePack --- */

/* Append len bytes to b; aborts the test process on ENOMEM. */
void
mp_bytes(struct proto_buf *b, const void *p, size_t len)
{
	uint8_t	*nd;
	size_t	 ncap;

	if (b->cap - b->len < len) {
		ncap = b->cap == 0 ? 256 : b->cap;
		while (ncap - b->len < len)
			ncap *= 2;
		if ((nd = realloc(b->data, ncap)) == NULL)
			abort();
		b->data = nd;
		b->cap = ncap;
	}
	memcpy(b->data + b->len, p, len);
	b->len += len;
}

/* Append a type byte followed by v as a big-endian n-byte integer. */
static void
mp_tagged(struct proto_buf *b, uint8_t tag, uint64_t v, int n)
{
	uint8_t	x[9];
	int	i;

	x[0] = tag;
	for (i = 0; i < n; i++)
		x[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	mp_bytes(b, x, (size_t)n + 1);
}

/* Append a map header for n pairs (smallest form). */
void
mp_map(struct proto_buf *b, uint32_t n)
{
	if (n < 16)
		mp_tagged(b, (uint8_t)(0x80 | n), 0, 0);
	else if (n <= 0xffff)
		mp_tagged(b, 0xde, n, 2);
	else
		mp_tagged(b, 0xdf, n, 4);
}

/* Append an array header for n elements (smallest form). */
void
mp_array(struct proto_buf *b, uint32_t n)
{
	if (n < 16)
		mp_tagged(b, (uint8_t)(0x90 | n), 0, 0);
	else if (n <= 0xffff)
		mp_tagged(b, 0xdc, n, 2);
	else
		mp_tagged(b, 0xdd, n, 4);
}

/* Append a string of len bytes (smallest form). */
void
mp_strn(struct proto_buf *b, const char *s, size_t len)
{
	if (len < 32)
		mp_tagged(b, (uint8_t)(0xa0 | len), 0, 0);
	else if (len <= 0xff)
		mp_tagged(b, 0xd9, len, 1);
	else if (len <= 0xffff)
		mp_tagged(b, 0xda, len, 2);
	else
		mp_tagged(b, 0xdb, len, 4);
	mp_bytes(b, s, len);
}

/* Append a NUL-terminated string. */
void
mp_str(struct proto_buf *b, const char *s)
{
	mp_strn(b, s, strlen(s));
}

/* Append an unsigned integer (smallest form). */
void
mp_uint(struct proto_buf *b, uint64_t v)
{
	if (v < 128)
		mp_tagged(b, (uint8_t)v, 0, 0);
	else if (v <= 0xff)
		mp_tagged(b, 0xcc, v, 1);
	else if (v <= 0xffff)
		mp_tagged(b, 0xcd, v, 2);
	else if (v <= 0xffffffffULL)
		mp_tagged(b, 0xce, v, 4);
	else
		mp_tagged(b, 0xcf, v, 8);
}

/* Append a signed integer (non-negative ones as unsigned). */
void
mp_int(struct proto_buf *b, int64_t v)
{
	if (v >= 0)
		mp_uint(b, (uint64_t)v);
	else if (v >= -32)
		mp_tagged(b, (uint8_t)(int8_t)v, 0, 0);
	else if (v >= INT8_MIN)
		mp_tagged(b, 0xd0, (uint64_t)v & 0xff, 1);
	else if (v >= INT16_MIN)
		mp_tagged(b, 0xd1, (uint64_t)v & 0xffff, 2);
	else if (v >= INT32_MIN)
		mp_tagged(b, 0xd2, (uint64_t)v & 0xffffffff, 4);
	else
		mp_tagged(b, 0xd3, (uint64_t)v, 8);
}
