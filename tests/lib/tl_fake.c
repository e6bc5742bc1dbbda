/*
 * tl_fake.c -- a scripted fake daemon: a server on a temporary socket, in
 * a process of its own, that reads real frames, decodes them with proto,
 * and answers as its script says -- out of order, with an op this
 * library does not know, half a frame, garbage, or nothing at all.  See
 * tl.h.  The child fails no test itself: it reports the first step that
 * went wrong through a pipe, and tl_fake_finish returns it.
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

#include "proto.h"
#include "tl.h"

#define TL_FAKE_MAX_REQS	64

/* The child's state. */
struct tl_fake_run {
	int			 lfd;	/* listening */
	int			 fd;	/* the connection, -1: none */
	int			 wfd;	/* the report */
	int			 step;	/* index of the running step */
	int64_t			 deadline;	/* for the whole script */
	uint64_t		 ids[TL_FAKE_MAX_REQS];	/* of this conn */
	int			 nreqs;
};

/* In the child: its directory and socket, removed when it ends. */
static char	 tl_fake_dir[96];
static char	 tl_fake_sock[108];

/*
 * Remove the fake's socket and directory (async-signal-safe: also from
 * the SIGTERM that PR_SET_PDEATHSIG sends when the test dies first).
 */
static void
tl_fake_cleanup(void)
{
	unlink(tl_fake_sock);
	rmdir(tl_fake_dir);
}

/* SIGTERM (the test process died): clean up and go. */
static void
tl_fake_term(int sig)
{
	(void)sig;
	tl_fake_cleanup();
	_exit(1);
}

/* Report why step r->step failed and exit 1 (in the child). */
static void
tl_fake_die(struct tl_fake_run *r, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));

static void
tl_fake_die(struct tl_fake_run *r, const char *fmt, ...)
{
	char	buf[TL_ERROR_LEN];
	int	n;
	va_list	ap;

	n = snprintf(buf, sizeof buf, "fake daemon, step %d: ", r->step + 1);
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof buf - n, fmt, ap);
	va_end(ap);
	tl_fake_cleanup();
	if (write(r->wfd, buf, strlen(buf)) == -1)
		_exit(2);
	_exit(1);
}

/*
 * Wait until fd is readable; dies at the script's deadline.  With poke,
 * send that signal to the client's process every 20 ms meanwhile.
 */
static void
tl_fake_wait_in(struct tl_fake_run *r, int fd, int poke)
{
	struct pollfd	pfd = { fd, POLLIN, 0 };
	struct ucred	cred;
	socklen_t	len = sizeof cred;
	int64_t		left;

	if (poke != 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred,
	    &len) == -1)
		tl_fake_die(r, "SO_PEERCRED: %s", strerror(errno));
	for (;;) {
		left = r->deadline - tl_now_ms();
		if (left <= 0)
			tl_fake_die(r, "the client sent nothing within %d ms",
			    TL_STOP_MS);
		if (poke != 0) {
			if (kill(cred.pid, poke) == -1)
				tl_fake_die(r, "kill %d: %s", (int)cred.pid,
				    strerror(errno));
			if (left > 20)
				left = 20;
		}
		if (poll(&pfd, 1, (int)left) > 0)
			return;
	}
}

/*
 * Read exactly len bytes.  Returns 0, or -1 at end of stream (a close
 * before any byte, when eof_ok is set); dies on a close within.
 */
static int
tl_fake_read(struct tl_fake_run *r, void *buf, size_t len, int eof_ok,
    int poke)
{
	uint8_t	*p = buf;
	size_t	 got = 0;
	ssize_t	 n;

	while (got < len) {
		tl_fake_wait_in(r, r->fd, got == 0 ? poke : 0);
		n = read(r->fd, p + got, len - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0 && got == 0 && eof_ok)
			return (-1);
		if (n <= 0)
			tl_fake_die(r, "the client %s within a frame",
			    n == 0 ? "closed the connection" :
			    strerror(errno));
		got += (size_t)n;
	}
	return (0);
}

/* The id of the request a step answers (ref: 0 the last, n the n-th). */
static uint64_t
tl_fake_ref(struct tl_fake_run *r, int ref)
{
	if (ref < 0 || ref > r->nreqs || r->nreqs == 0)
		tl_fake_die(r, "answers request %d of %d read", ref, r->nreqs);
	return (r->ids[ref == 0 ? r->nreqs - 1 : ref - 1]);
}

/* EXPECT: read one request; its op (and sem) must be the step's. */
static void
tl_fake_expect(struct tl_fake_run *r, const struct tl_fake_step *s)
{
	static uint8_t		 buf[PROTO_HDR_LEN + PROTO_MAX_FRAME];
	struct proto_request	 req;
	const char		*want = proto_op_name(s->op), *got;
	uint32_t		 blen;
	char			 why[256];

	if (tl_fake_read(r, buf, PROTO_HDR_LEN, 1, s->poke) == -1)
		tl_fake_die(r, "the client closed the connection; expected "
		    "%s", want);
	blen = proto_frame_len(buf);
	if (blen == 0 || blen > PROTO_MAX_FRAME)
		tl_fake_die(r, "the client sent a frame length of %u",
		    (unsigned int)blen);
	tl_fake_read(r, buf + PROTO_HDR_LEN, blen, 0, 0);
	memset(&req, 0, sizeof req);
	if (proto_decode_request(buf + PROTO_HDR_LEN, blen, &req, why,
	    sizeof why) != PROTO_OK)
		tl_fake_die(r, "the client sent a request proto cannot read: "
		    "%s", why);
	got = proto_op_name(req.op);
	if ((int)req.op != s->op)
		tl_fake_die(r, "the client sent %s, expected %s",
		    got != NULL ? got : "?", want != NULL ? want : "?");
	if (s->sem != NULL && strcmp(req.sem, s->sem) != 0)
		tl_fake_die(r, "the client's %s names \"%s\", expected \"%s\"",
		    got, req.sem, s->sem);
	if (s->ref > 0 && req.id != tl_fake_ref(r, s->ref))
		tl_fake_die(r, "the client's %s has id %llu, not that of "
		    "request %d", got, (unsigned long long)req.id, s->ref);
	if (r->nreqs == TL_FAKE_MAX_REQS)
		tl_fake_die(r, "more than %d requests", TL_FAKE_MAX_REQS);
	r->ids[r->nreqs++] = req.id;
}

/* Write all of len bytes (a client gone is the script's error). */
static void
tl_fake_write(struct tl_fake_run *r, const void *buf, size_t len)
{
	const uint8_t	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = send(r->fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			tl_fake_die(r, "cannot write to the client: %s",
			    strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

/* REPLY: encode a reply of s->op to request s->ref with proto. */
static void
tl_fake_reply(struct tl_fake_run *r, const struct tl_fake_step *s)
{
	struct proto_reply	rep;
	struct proto_buf	b = { 0 };

	memset(&rep, 0, sizeof rep);
	rep.op = (enum proto_op)s->op;
	rep.id = tl_fake_ref(r, s->ref);
	switch (rep.op) {
	case PROTO_OP_HELLO:
		rep.version = PROTO_VERSION;
		strcpy(rep.server, "fake");
		rep.pid = (uint32_t)getpid();
		break;
	case PROTO_OP_QUEUED:
		rep.position = s->num != 0 ? s->num : 1;
		break;
	case PROTO_OP_ACQUIRED:
	case PROTO_OP_RELEASED:
		snprintf(rep.sem, sizeof rep.sem, "%s",
		    s->sem != NULL ? s->sem : "fake");
		rep.weight = s->num != 0 ? s->num : 1;
		break;
	case PROTO_OP_ERROR:
		rep.code = (enum proto_err)s->code;
		snprintf(rep.message, sizeof rep.message, "%s",
		    s->text != NULL ? s->text : "fake error");
		break;
	default:
		break;
	}
	if (proto_encode_reply(&b, &rep) == -1)
		tl_fake_die(r, "proto cannot encode the reply");
	tl_fake_write(r, b.data, b.len);
	proto_buf_free(&b);
}

/* Append a msgpack fixstr (up to 31 bytes) to buf at *n. */
static void
tl_fake_str(struct tl_fake_run *r, uint8_t *buf, size_t *n, const char *str)
{
	size_t	len = strlen(str);

	if (len > 31)
		tl_fake_die(r, "\"%s\" is too long for the fake", str);
	buf[(*n)++] = (uint8_t)(0xa0 | len);
	memcpy(buf + *n, str, len);
	*n += len;
}

/*
 * UNKNOWN_OP, ERROR_NAMED: a frame written by hand, which proto could
 * not encode: {op, id} or {op: "ERROR", id, code, message}, to .ref.
 */
static void
tl_fake_by_hand(struct tl_fake_run *r, const struct tl_fake_step *s)
{
	uint8_t		buf[PROTO_HDR_LEN + 160];
	uint64_t	id = tl_fake_ref(r, s->ref);
	size_t		n = PROTO_HDR_LEN;
	int		i, named = s->act == TL_FAKE_ERROR_NAMED;

	buf[n++] = named ? 0x84 : 0x82;		/* fixmap */
	tl_fake_str(r, buf, &n, "op");
	tl_fake_str(r, buf, &n, named ? "ERROR" : s->text);
	tl_fake_str(r, buf, &n, "id");
	buf[n++] = 0xcf;			/* uint 64 */
	for (i = 7; i >= 0; i--)
		buf[n++] = (uint8_t)(id >> (8 * i));
	if (named) {
		tl_fake_str(r, buf, &n, "code");
		tl_fake_str(r, buf, &n, s->name);
		tl_fake_str(r, buf, &n, "message");
		tl_fake_str(r, buf, &n, s->text);
	}
	buf[0] = buf[1] = 0;
	buf[2] = (uint8_t)((n - PROTO_HDR_LEN) >> 8);
	buf[3] = (uint8_t)(n - PROTO_HDR_LEN);
	tl_fake_write(r, buf, n);
}

/* WAIT_EOF, HANG: read and drop until the client closes. */
static void
tl_fake_drain(struct tl_fake_run *r)
{
	uint8_t	buf[4096];
	ssize_t	n;

	for (;;) {
		tl_fake_wait_in(r, r->fd, 0);
		n = read(r->fd, buf, sizeof buf);
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			return;
		if (n == -1 && errno != EINTR)
			tl_fake_die(r, "read: %s", strerror(errno));
	}
}

/* Close the connection, if any. */
static void
tl_fake_close(struct tl_fake_run *r)
{
	if (r->fd != -1)
		close(r->fd);
	r->fd = -1;
	r->nreqs = 0;
}

/* The child: play the script, then exit 0. */
static void
tl_fake_play(struct tl_fake_run *r, const struct tl_fake_step *script)
{
	const struct tl_fake_step	*s;

	for (r->step = 0; script[r->step].act != TL_FAKE_END; r->step++) {
		s = &script[r->step];
		if (s->act != TL_FAKE_ACCEPT && r->fd == -1)
			tl_fake_die(r, "no connection (ACCEPT first)");
		switch (s->act) {
		case TL_FAKE_ACCEPT:
			tl_fake_close(r);
			tl_fake_wait_in(r, r->lfd, 0);
			if ((r->fd = accept4(r->lfd, NULL, NULL,
			    SOCK_CLOEXEC)) == -1)
				tl_fake_die(r, "accept: %s", strerror(errno));
			break;
		case TL_FAKE_EXPECT:
			tl_fake_expect(r, s);
			break;
		case TL_FAKE_REPLY:
			tl_fake_reply(r, s);
			break;
		case TL_FAKE_UNKNOWN_OP:
		case TL_FAKE_ERROR_NAMED:
			tl_fake_by_hand(r, s);
			break;
		case TL_FAKE_RAW:
			tl_fake_write(r, s->text, s->len);
			break;
		case TL_FAKE_CLOSE:
			tl_fake_close(r);
			break;
		case TL_FAKE_WAIT_EOF:
		case TL_FAKE_HANG:
			tl_fake_drain(r);
			break;
		default:
			tl_fake_die(r, "unknown action %d", (int)s->act);
		}
	}
	tl_fake_close(r);
	tl_fake_cleanup();
	_exit(0);
}

/* Listen on a fresh socket and fork the fake to play script. */
int
tl_fake_start(struct tl_fake *f, const struct tl_fake_step *script)
{
	struct tl_fake_run	r;
	pid_t			parent = getpid();
	int			p[2];

	memset(f, 0, sizeof *f);
	f->pid = -1;
	f->rfd = -1;
	memset(&r, 0, sizeof r);
	r.fd = -1;
	if (tl_tmpdir(f->dir, sizeof f->dir, "semd-fake") == -1 ||
	    (size_t)snprintf(f->path, sizeof f->path, "%s/fake.sock",
	    f->dir) >= sizeof f->path) {
		snprintf(f->error, sizeof f->error, "temp dir: %s",
		    strerror(errno));
		return (-1);
	}
	if ((r.lfd = tl_listen(f->path, 0)) == -1 ||
	    pipe2(p, O_CLOEXEC) == -1) {
		snprintf(f->error, sizeof f->error, "listen on %s: %s",
		    f->path, strerror(errno));
		return (-1);
	}
	fflush(NULL);
	if ((f->pid = fork()) == -1) {
		snprintf(f->error, sizeof f->error, "fork: %s",
		    strerror(errno));
		return (-1);
	}
	if (f->pid == 0) {
		memcpy(tl_fake_dir, f->dir, sizeof tl_fake_dir);
		memcpy(tl_fake_sock, f->path, sizeof tl_fake_sock);
		signal(SIGTERM, tl_fake_term);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			tl_fake_term(SIGTERM);
		signal(SIGPIPE, SIG_IGN);
		close(p[0]);
		r.wfd = p[1];
		r.deadline = tl_now_ms() + TL_STOP_MS;
		tl_fake_play(&r, script);
	}
	close(p[1]);
	close(r.lfd);
	f->rfd = p[0];
	return (0);
}

/* Wait for the fake to end its script; 0 when it ran to the end. */
int
tl_fake_finish(struct tl_fake *f)
{
	struct pollfd	pfd = { f->rfd, POLLIN, 0 };
	ssize_t		n;
	char		what[64];
	int		status, r = -1;

	/* The child reports, or closes the pipe by exiting. */
	while (poll(&pfd, 1, TL_STOP_MS + 1000) == -1 && errno == EINTR)
		continue;
	n = read(f->rfd, f->error, sizeof f->error - 1);
	f->error[n > 0 ? n : 0] = '\0';
	if (n <= 0 && !(pfd.revents & (POLLIN | POLLHUP)))
		kill(f->pid, SIGKILL);
	while (waitpid(f->pid, &status, 0) == -1 && errno == EINTR)
		continue;
	if (f->error[0] == '\0') {
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			r = 0;
		else
			snprintf(f->error, sizeof f->error, "fake daemon %s",
			    tl_wait_str(status, what, sizeof what));
	}
	close(f->rfd);
	f->rfd = -1;
	f->pid = -1;
	tl_rmtree(f->dir);
	return (r);
}
