/*
 * fuzz_request.c -- libFuzzer target for everything a client can send.
 *
 * The target runs the daemon's own connection layer (daemon/conn.c:
 * conn_accept, the frame reader, proto_frame_check and
 * proto_decode_request, the dispatcher, the engine calls, the replies,
 * the limits and the one teardown path) on a real libevent base, with up
 * to FUZZ_NCONN clients on socketpairs.  Nothing is re-implemented: the
 * fuzzer only plays the clients, the clock and main.c's glue
 * (server_settle, server_now_ms, and the deadline timer, which it replaces
 * by explicit "advance the clock" steps that call sem_expire as
 * main.c's timer callback does).
 *
 * The input is a script.  Its first two bytes choose the limits (so that
 * every limit is reachable with a few requests); then each step is one
 * byte, c % 8 the action and (c >> 3) % FUZZ_NCONN the client, followed
 * by the action's operands:
 *
 *   0 RAW n b1..bn   deliver n bytes as they are
 *   1 REQ 6 bytes    deliver one well-formed request (op, name, capacity,
 *                    weight, timeout, id chosen by the bytes), possibly
 *                    in two writes with the event loop run in between
 *   2 CLOSE          the client disconnects
 *   3 SHUT           the client shuts down its writing side
 *   4 TICK t         advance the clock (t = 0: to the next deadline)
 *   5 READ           the client reads what it was sent
 *   6 HDR h1 h2 n    deliver a length prefix of 256 * h1 + h2 (65536 +
 *                    h2 when h1 is 254, 2^31 + h2 when h1 is 255) and
 *                    n bytes of body
 *   7 READALL        every client reads what it was sent
 *
 * After each step the event loop runs until nothing is left to do, and
 * the target checks: the engine's invariants (sem_check_invariants), no
 * undelivered engine event, no more owners than connections, and every
 * byte the daemon sent is a valid frame holding a reply that
 * proto_decode_reply accepts.  A violation aborts, which libFuzzer
 * reports as a crash with the input that caused it.
 *
 * FUZZ_VERBOSE=1 in the environment turns the daemon's debug log on, to
 * see what a crashing input does.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <linux/sockios.h>

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "conn.h"
#include "daemon.h"
#include "log.h"
#include "proto.h"
#include "sem.h"

#define FUZZ_NCONN	6		/* client slots */
#define FUZZ_PUMPS	8		/* event loop rounds per pump, at most */
#define FUZZ_INBUF	(1 << 20)	/* a client's unread replies */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

/* What main.c defines for the daemon. */
struct server_config	 server_conf;
struct event_base	*server_base;
struct state		*server_state;	/* none: RECLAIM is DENIED */

/* One client: our end of a socketpair, and what the daemon sent it. */
struct fuzz_client {
	int		 fd;		/* -1: not connected */
	uint8_t		*buf;
	size_t		 len;
};

static struct fuzz_client	 fuzz_clients[FUZZ_NCONN];
static uint64_t			 fuzz_now;	/* the fake clock, ms */
static int			 fuzz_settling;

/* The input being read. */
struct fuzz_in {
	const uint8_t	*p;
	size_t		 left;
};

/* Abort with a message: libFuzzer saves the input as a crash. */
static __attribute__((__noreturn__, __format__(__printf__, 1, 2))) void
fuzz_fail(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	fprintf(stderr, "fuzz_request: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

/* The daemon's clock: the fake one. */
uint64_t
server_now_ms(void)
{
	return (fuzz_now);
}

/* The daemon's uptime, for STATS: the fake clock. */
uint64_t
server_uptime_ms(void)
{
	return (fuzz_now);
}

/*
 * main.c's server_settle without its timers: conn_settle, which drops the
 * owners of dead connections and delivers the engine's events until
 * nothing changes.
 */
void
server_settle(void)
{
	if (fuzz_settling)
		return;
	fuzz_settling = 1;
	conn_settle();
	fuzz_settling = 0;
}

/* Next byte of the input, 0 once it is used up. */
static uint8_t
fuzz_byte(struct fuzz_in *in)
{
	if (in->left == 0)
		return (0);
	in->left--;
	return (*in->p++);
}

/* Has the daemon left unread some bytes a client sent? */
static int
fuzz_unread(void)
{
	int	 i, n;

	for (i = 0; i < FUZZ_NCONN; i++) {
		if (fuzz_clients[i].fd != -1 &&
		    ioctl(fuzz_clients[i].fd, SIOCOUTQ, &n) == 0 && n > 0)
			return (1);
	}
	return (0);
}

/*
 * Run the event loop without blocking until the daemon has read what
 * the clients sent and answered it: at least two rounds (read and
 * answer, then the deferred frees), more while bytes are unread, at most
 * FUZZ_PUMPS (a closing connection never reads again).
 */
static void
fuzz_pump(void)
{
	int	 i;

	for (i = 0; i < FUZZ_PUMPS; i++) {
		if (event_base_loop(server_base, EVLOOP_NONBLOCK) == -1)
			fuzz_fail("event_base_loop failed");
		if (i >= 1 && !fuzz_unread())
			break;
	}
}

/* Connect client i if it is not: the daemon accepts our peer's end. */
static struct fuzz_client *
fuzz_client(int i)
{
	struct fuzz_client	*fc = &fuzz_clients[i];
	int			 sv[2], small = 4096;

	if (fc->fd != -1)
		return (fc);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1)
		fuzz_fail("socketpair: %s", strerror(errno));
	/* A small send buffer lets unread replies reach --max-output. */
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	fc->fd = sv[1];
	fc->len = 0;
	conn_accept(sv[0]);
	fuzz_pump();
	return (fc);
}

/* Forget client i's connection (after we closed it or the daemon did). */
static void
fuzz_client_close(struct fuzz_client *fc)
{
	if (fc->fd == -1)
		return;
	close(fc->fd);
	fc->fd = -1;
	fc->len = 0;
}

/*
 * Check the replies in fc->buf: each whole frame must be valid and
 * decode as a reply; keep an incomplete tail.
 */
static void
fuzz_check_replies(struct fuzz_client *fc)
{
	struct proto_reply	 rep;
	char			 err[PROTO_MAX_TEXT + 1];
	enum proto_err		 e;
	uint32_t		 blen;
	size_t			 off = 0, n;
	int			 r;

	for (;;) {
		r = proto_frame_check(fc->buf + off, fc->len - off, &blen);
		if (r == -1)
			fuzz_fail("the daemon sent a bad length prefix");
		if (r == 0)
			break;
		memset(&rep, 0, sizeof rep);
		e = proto_decode_reply(fc->buf + off + PROTO_HDR_LEN, blen,
		    &rep, err, sizeof err);
		if (e != PROTO_OK)
			fuzz_fail("the daemon sent a reply that does not "
			    "decode (%s): %s", proto_err_name(e), err);
		if (rep.op == PROTO_OP_ERROR && rep.message[0] == '\0')
			fuzz_fail("ERROR %s without a message",
			    proto_err_name(rep.code));
		proto_reply_free(&rep);
		off += PROTO_HDR_LEN + blen;
	}
	n = fc->len - off;
	memmove(fc->buf, fc->buf + off, n);
	fc->len = n;
}

/* Read what the daemon sent client fc; EOF closes our end. */
static void
fuzz_read(struct fuzz_client *fc)
{
	ssize_t	 n;

	if (fc->fd == -1)
		return;
	fuzz_pump();
	for (;;) {
		if (fc->len == FUZZ_INBUF)
			fuzz_fail("a reply larger than a frame");
		n = read(fc->fd, fc->buf + fc->len, FUZZ_INBUF - fc->len);
		if (n > 0) {
			fc->len += (size_t)n;
			fuzz_check_replies(fc);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		/*
		 * EOF or reset: the daemon closed.  A client dropped for
		 * not reading (--max-output) may see a reply cut short.
		 */
		fuzz_client_close(fc);
		return;
	}
}

/* Deliver len bytes to the daemon from client i (what fits). */
static void
fuzz_send(int i, const uint8_t *p, size_t len)
{
	struct fuzz_client	*fc = fuzz_client(i);
	ssize_t			 n;

	while (len > 0 && fc->fd != -1) {
		n = send(fc->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			/* The daemon does not read now: let it run once. */
			fuzz_pump();
			fuzz_read(fc);
			n = send(fc->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n <= 0)
				return;
			p += n;
			len -= (size_t)n;
			continue;
		}
		/* EPIPE, ECONNRESET: the daemon closed this client. */
		fuzz_read(fc);
		return;
	}
}

/* Names the requests use: short ones collide, the last is the longest. */
static const char *const fuzz_names[] = {
	"a", "b", "c", "d", "x.y:z@w/v+u-t_s",
	("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
};

/* Build one well-formed request from 6 bytes and deliver it. */
static void
fuzz_request(int i, struct fuzz_in *in)
{
	struct proto_request	 req;
	struct proto_buf	 b = { 0 };
	uint8_t			 kind = fuzz_byte(in), nm = fuzz_byte(in);
	uint8_t			 cap = fuzz_byte(in), wt = fuzz_byte(in);
	uint8_t			 tmo = fuzz_byte(in), id = fuzz_byte(in);
	const char		*name;
	size_t			 split;

	memset(&req, 0, sizeof req);
	switch (kind % 8) {
	case 0:
	case 1:
	case 2:
		req.op = PROTO_OP_ACQUIRE;
		break;
	case 3:
	case 4:
		req.op = PROTO_OP_RELEASE;
		break;
	case 5:
		req.op = PROTO_OP_TIMEOUT;
		break;
	case 6:
		/* The two listings: STATUS, or STATS when bit 6 is set. */
		req.op = (kind & 0x40) ? PROTO_OP_STATS : PROTO_OP_STATUS;
		break;
	default:
		req.op = PROTO_OP_HELLO;
		req.version = (kind & 0x80) ? 2 : PROTO_VERSION;
		snprintf(req.client, sizeof req.client, "fuzz");
		break;
	}
	req.id = id % 16;
	if (id >= 0xf0)
		req.id = UINT64_MAX - (id & 0xf);
	name = fuzz_names[nm % (sizeof fuzz_names / sizeof fuzz_names[0])];
	if ((req.op != PROTO_OP_STATUS && req.op != PROTO_OP_STATS) ||
	    (nm & 0x80)) {
		req.has_sem = 1;
		req.sem_len = strlen(name);
		memcpy(req.sem, name, req.sem_len + 1);
	}
	req.has_capacity = cap != 0;
	req.capacity = cap == 0xff ? PROTO_MAX_CAPACITY : cap % 8;
	req.weight = wt % 5;		/* 0: absent, that is 1 */
	if (wt >= 0xfe)
		req.weight = PROTO_MAX_CAPACITY;
	if (tmo == 0xff)
		req.timeout_ms = -1;
	else if (tmo == 0xfe)
		req.timeout_ms = PROTO_MAX_TIMEOUT_MS;
	else
		req.timeout_ms = tmo % 64;
	if (proto_encode_request(&b, &req) == -1)
		fuzz_fail("proto_encode_request: %s", strerror(errno));
	/* Bits 3..5 of kind: split the frame in two writes. */
	split = ((kind >> 3) & 7) * b.len / 8;
	if (split != 0) {
		fuzz_send(i, b.data, split);
		fuzz_pump();
	}
	fuzz_send(i, b.data + split, b.len - split);
	proto_buf_free(&b);
}

/* Deliver a length prefix chosen by the input, then some body bytes. */
static void
fuzz_header(int i, struct fuzz_in *in)
{
	uint8_t		 h1 = fuzz_byte(in), h2 = fuzz_byte(in);
	uint8_t		 frame[PROTO_HDR_LEN + 255];
	uint32_t	 len;
	size_t		 n = fuzz_byte(in);

	if (h1 == 0xff)
		len = 0x80000000U + h2;
	else if (h1 == 0xfe)
		len = PROTO_MAX_FRAME + (uint32_t)h2;
	else
		len = (uint32_t)h1 << 8 | h2;
	frame[0] = (uint8_t)(len >> 24);
	frame[1] = (uint8_t)(len >> 16);
	frame[2] = (uint8_t)(len >> 8);
	frame[3] = (uint8_t)len;
	if (n > in->left)
		n = in->left;
	memcpy(frame + PROTO_HDR_LEN, in->p, n);
	in->p += n;
	in->left -= n;
	fuzz_send(i, frame, PROTO_HDR_LEN + n);
}

/* The checks made after every step. */
static void
fuzz_check(void)
{
	char	 why[512];
	size_t	 n;

	fuzz_pump();
	if (sem_check_invariants(server_table, why, sizeof why) == -1)
		fuzz_fail("engine invariant broken: %s", why);
	if (sem_check_progress(server_table, fuzz_now, why, sizeof why) == -1)
		fuzz_fail("engine progress broken: %s", why);
	if ((n = sem_flush(server_table)) != 0)
		fuzz_fail("%zu engine events left undelivered", n);
	if (sem_owner_count(server_table) > conn_count())
		fuzz_fail("%zu owners for %zu connections",
		    sem_owner_count(server_table), conn_count());
	if (conn_count() > FUZZ_NCONN)
		fuzz_fail("%zu connections for %d clients", conn_count(),
		    FUZZ_NCONN);
}

/* Choose the limits from the first two bytes. */
static void
fuzz_config(uint8_t b0, uint8_t b1)
{
	static const uint32_t	 frames[4] = { PROTO_MAX_FRAME, 64, 256,
				     4096 };

	memset(&server_conf, 0, sizeof server_conf);
	snprintf(server_conf.socket_path, sizeof server_conf.socket_path,
	    "(fuzz)");
	server_conf.max_connections = (b0 & 3) == 0 ? 0 : (b0 & 3) + 1;
	server_conf.max_pending = ((b0 >> 2) & 3) * 2;
	server_conf.max_holds = (b0 >> 4) & 3;
	server_conf.max_sems = (b0 >> 6) * 2;
	server_conf.max_pending_per_uid = b1 & 7;
	server_conf.max_holds_per_uid = (b1 >> 3) & 7;
	server_conf.max_frame = frames[b1 >> 6];
	server_conf.max_output = PROTO_HDR_LEN + PROTO_MAX_FRAME;
}

/* Set up what does not change between inputs. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char	*v = getenv("FUZZ_VERBOSE");
	int		 i;

	/* As main.c: a client that went away is an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	log_init(LOG_DEST_STDERR, v != NULL && *v == '1' ?
	    LOG_VERBOSE_DEBUG : LOG_VERBOSE_QUIET);
	for (i = 0; i < FUZZ_NCONN; i++) {
		fuzz_clients[i].fd = -1;
		if ((fuzz_clients[i].buf = malloc(FUZZ_INBUF)) == NULL)
			fuzz_fail("out of memory");
	}
	return (0);
}

/* Run one script against a fresh daemon state. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in		 in;
	struct sem		*s;
	uint64_t		 at;
	uint8_t			 c, b0, b1;
	size_t			 n;
	int			 i;

	if (size < 2)
		return (0);
	in.p = data;
	in.left = size;
	b0 = fuzz_byte(&in);
	b1 = fuzz_byte(&in);
	fuzz_config(b0, b1);
	fuzz_now = 1000;
	if ((server_base = event_base_new()) == NULL)
		fuzz_fail("event_base_new");
	if (conn_init() == -1)
		fuzz_fail("conn_init");

	while (in.left > 0) {
		c = fuzz_byte(&in);
		i = (c >> 3) % FUZZ_NCONN;
		switch (c % 8) {
		case 0:
			n = fuzz_byte(&in);
			if (n > in.left)
				n = in.left;
			fuzz_send(i, in.p, n);
			in.p += n;
			in.left -= n;
			break;
		case 1:
			fuzz_request(i, &in);
			break;
		case 2:
			fuzz_client_close(&fuzz_clients[i]);
			break;
		case 3:
			if (fuzz_clients[i].fd != -1)
				shutdown(fuzz_clients[i].fd, SHUT_WR);
			break;
		case 4:
			n = fuzz_byte(&in);
			if (n == 0 && sem_next_deadline(server_table, &at))
				fuzz_now = at > fuzz_now ? at : fuzz_now;
			else
				fuzz_now += n * n;
			/* As main.c's deadline timer does. */
			sem_expire(server_table, fuzz_now);
			server_settle();
			break;
		case 5:
			fuzz_read(&fuzz_clients[i]);
			break;
		case 6:
			fuzz_header(i, &in);
			break;
		default:
			for (i = 0; i < FUZZ_NCONN; i++)
				fuzz_read(&fuzz_clients[i]);
			break;
		}
		fuzz_check();
	}

	/*
	 * Everyone leaves: the table must end empty, but for semaphores an
	 * ADMIN drain keeps (idle, nothing held, nobody waiting).
	 */
	for (i = 0; i < FUZZ_NCONN; i++) {
		fuzz_read(&fuzz_clients[i]);
		fuzz_client_close(&fuzz_clients[i]);
	}
	fuzz_check();
	/*
	 * A semaphore with a rate is kept until its rate has recovered:
	 * let the clock run to each wake-up (one per such semaphore).
	 */
	for (i = 0; i < 100000 && sem_next_deadline(server_table, &at); i++) {
		fuzz_now = at > fuzz_now ? at : fuzz_now;
		sem_expire(server_table, fuzz_now);
		server_settle();
	}
	fuzz_check();
	if (sem_owner_count(server_table) != 0)
		fuzz_fail("after every client left: %zu owners",
		    sem_owner_count(server_table));
	for (s = sem_first(server_table); s != NULL; s = sem_next(s)) {
		if (!sem_is_drained(s) || sem_used(s) != 0 ||
		    sem_nwaiting(s) != 0)
			fuzz_fail("after every client left: %s is alive "
			    "(held %llu, %u waiting, drained %d)", sem_name(s),
			    (unsigned long long)sem_used(s), sem_nwaiting(s),
			    sem_is_drained(s));
	}

	conn_shutdown();
	event_base_free(server_base);
	server_base = NULL;
	return (0);
}
