/*
 * io.c -- the byte level of a libsemd connection: the output buffer of
 * encoded frames, the input buffer of received bytes, turning whole frames
 * into replies, and the blocking wait for the next reply.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "semd-int.h"

/*
 * Fill err (when not NULL) with code, the system errno e (0 if none) and a
 * printf-style message.  errno is preserved.
 */
void
libsemd_seterr(struct semd_error *err, enum semd_errcode code, int e,
    const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	if (err != NULL) {
		err->code = code;
		err->sys_errno = e;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof err->message, fmt, ap);
		va_end(ap);
	}
	errno = saved;
}

/*
 * Mark the connection unusable: later calls fail with a copy of err (when
 * not NULL; else with err's code left SEMD_E_NONE).  The first error that
 * broke it stays.
 */
void
libsemd_break(struct semd *sd, const struct semd_error *err)
{
	if (sd->broken)
		return;
	sd->broken = 1;
	if (err != NULL)
		sd->broken_err = *err;
}

/*
 * Is the connection broken?  Returns 1 with err (when not NULL) filled
 * with the error that broke it, or 0 when it is still usable.
 */
int
libsemd_broken(const struct semd *sd, struct semd_error *err)
{
	if (!sd->broken)
		return (0);
	if (err != NULL)
		*err = sd->broken_err;
	return (1);
}

/* A fresh request id: the per-connection counter, starting at 1. */
uint64_t
libsemd_new_id(struct semd *sd)
{
	return (++sd->next_id);
}

/*
 * Start req: all zero but op, a fresh id and, unless name is NULL, the
 * semaphore name (checked already).  Returns the id.
 */
uint64_t
libsemd_request_init(struct semd *sd, struct proto_request *req,
    enum proto_op op, const char *name)
{
	memset(req, 0, sizeof *req);
	req->op = op;
	req->id = libsemd_new_id(sd);
	if (name != NULL) {
		req->has_sem = 1;
		req->sem_len = strlen(name);
		memcpy(req->sem, name, req->sem_len + 1);
	}
	return (req->id);
}

/* semd.h's codes for the wire's errors have the wire's numbers. */
#define LIBSEMD_SAME(name, text)					\
	_Static_assert((int)SEMD_E_##name == (int)PROTO_E_##name,	\
	    "SEMD_E_" #name " differs from PROTO_E_" #name);
PROTO_ERRORS(LIBSEMD_SAME)
#undef LIBSEMD_SAME

/* libsemd_answer's set of operations is a bit mask of an unsigned int. */
#define LIBSEMD_ONE(name)	+ 1
_Static_assert(0 PROTO_OPS(LIBSEMD_ONE) < 32,
    "too many operations for LIBSEMD_OP");
#undef LIBSEMD_ONE

/* Translate a protocol error code into the library's. */
enum semd_errcode
libsemd_code(enum proto_err code)
{
	switch (code) {
#define LIBSEMD_CODE(name, text)					\
	case PROTO_E_##name:						\
		return (SEMD_E_##name);
	PROTO_ERRORS(LIBSEMD_CODE)
#undef LIBSEMD_CODE
	case PROTO_OK:
		break;
	}
	return (SEMD_E_PROTOCOL);
}

/*
 * Fill err from an ERROR reply: the daemon's code and its message, which
 * is already a sentence a person can act on.
 */
void
libsemd_error_reply(const struct proto_reply *rep, struct semd_error *err)
{
	const char	*name;

	if (rep->message[0] != '\0') {
		libsemd_seterr(err, libsemd_code(rep->code), 0, "%s",
		    rep->message);
		return;
	}
	name = proto_err_name(rep->code);
	libsemd_seterr(err, libsemd_code(rep->code), 0, "semd answered %s",
	    name != NULL ? name : "an unknown error");
}

/*
 * Append the frame of req to the output buffer (nothing is written yet).
 * Returns 0, or -1 with err filled (SEMD_E_SYSTEM: out of memory,
 * SEMD_E_USAGE: the encoder refused the request).
 */
int
libsemd_queue(struct semd *sd, const struct proto_request *req,
    struct semd_error *err)
{
	if (sd->out_off == sd->out.len) {
		sd->out.len = 0;
		sd->out_off = 0;
	} else if (sd->out_off > 0 && sd->out_off >= sd->out.len / 2) {
		memmove(sd->out.data, sd->out.data + sd->out_off,
		    sd->out.len - sd->out_off);
		sd->out.len -= sd->out_off;
		sd->out_off = 0;
	}
	if (proto_encode_request(&sd->out, req) == -1) {
		if (errno == ENOMEM) {
			libsemd_seterr(err, SEMD_E_SYSTEM, errno,
			    "cannot queue a request: %s", strerror(errno));
		} else {
			libsemd_seterr(err, SEMD_E_USAGE, errno,
			    "cannot encode a %s request",
			    proto_op_name(req->op));
		}
		return (-1);
	}
	return (0);
}

/*
 * Write as much queued output as the socket takes without blocking.
 * Returns 0 (all written, or the socket is full), or -1 with err filled.
 * If the daemon has closed the connection the output is dropped and 0
 * returned: reading then delivers what the daemon said last (perhaps an
 * ERROR saying why) and the end of the stream.
 */
int
libsemd_flush(struct semd *sd, struct semd_error *err)
{
	ssize_t	n;

	if (libsemd_broken(sd, err))
		return (-1);
	while (sd->out_off < sd->out.len) {
		n = send(sd->fd, sd->out.data + sd->out_off,
		    sd->out.len - sd->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return (0);
			if (errno == EPIPE || errno == ECONNRESET) {
				sd->out_off = sd->out.len = 0;
				return (0);
			}
			libsemd_seterr(err, SEMD_E_SYSTEM, errno,
			    "cannot write to semd at %s: %s", sd->path,
			    strerror(errno));
			libsemd_break(sd, err);
			return (-1);
		}
		sd->out_off += n;
	}
	sd->out_off = sd->out.len = 0;
	return (0);
}

/*
 * Queue req, tell its id in *id (when id is not NULL) and write what the
 * socket takes: the tail of every semd_submit_* call.  Returns 0, or -1
 * with err filled.
 */
int
libsemd_send(struct semd *sd, const struct proto_request *req, uint64_t *id,
    struct semd_error *err)
{
	if (libsemd_queue(sd, req, err) == -1)
		return (-1);
	if (id != NULL)
		*id = req->id;
	return (libsemd_flush(sd, err));
}

/*
 * Read once from the socket into the input buffer, growing it up to one
 * largest frame.  Returns 1 when bytes arrived, 0 when none are available,
 * or -1 with err filled (SEMD_E_DISCONNECTED at the end of the stream).
 */
int
libsemd_read(struct semd *sd, struct semd_error *err)
{
	uint8_t	*p;
	size_t	 cap;
	ssize_t	 n;

	if (libsemd_broken(sd, err))
		return (-1);
	if (sd->in_off > 0) {
		memmove(sd->in, sd->in + sd->in_off, sd->in_len - sd->in_off);
		sd->in_len -= sd->in_off;
		sd->in_off = 0;
	}
	if (sd->in_len == sd->in_cap) {
		cap = sd->in_cap == 0 ? LIBSEMD_IN_INITIAL : sd->in_cap * 2;
		if (cap > LIBSEMD_IN_MAX)
			cap = LIBSEMD_IN_MAX;
		if (cap <= sd->in_len) {
			/* proto_frame_check refuses longer frames first. */
			libsemd_seterr(err, SEMD_E_PROTOCOL, 0,
			    "semd at %s sent a frame that is too long",
			    sd->path);
			libsemd_break(sd, err);
			return (-1);
		}
		if ((p = realloc(sd->in, cap)) == NULL) {
			libsemd_seterr(err, SEMD_E_SYSTEM, errno,
			    "cannot read from semd: %s", strerror(errno));
			return (-1);
		}
		sd->in = p;
		sd->in_cap = cap;
	}
	for (;;) {
		n = recv(sd->fd, sd->in + sd->in_len, sd->in_cap - sd->in_len,
		    MSG_DONTWAIT);
		if (n > 0) {
			sd->in_len += n;
			return (1);
		}
		if (n == 0) {
			libsemd_seterr(err, SEMD_E_DISCONNECTED, 0,
			    "semd at %s closed the connection", sd->path);
			libsemd_break(sd, err);
			return (-1);
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return (0);
		if (errno == ECONNRESET) {
			libsemd_seterr(err, SEMD_E_DISCONNECTED, errno,
			    "semd at %s closed the connection", sd->path);
		} else {
			libsemd_seterr(err, SEMD_E_SYSTEM, errno,
			    "cannot read from semd at %s: %s", sd->path,
			    strerror(errno));
		}
		libsemd_break(sd, err);
		return (-1);
	}
}

/*
 * Take the next whole reply out of the input buffer, without reading.
 * Replies with an operation this version does not know are skipped (a
 * later daemon may send them).  Returns 1 with *rep filled (the caller
 * calls proto_reply_free), 0 when no whole frame is buffered, or -1 with
 * err filled (SEMD_E_PROTOCOL).
 */
int
libsemd_take(struct semd *sd, struct proto_reply *rep, struct semd_error *err)
{
	enum proto_err	 r;
	const uint8_t	*p;
	uint32_t	 blen;
	char		 why[256];

	if (libsemd_broken(sd, err))
		return (-1);
	for (;;) {
		p = sd->in + sd->in_off;
		switch (proto_frame_check(p, sd->in_len - sd->in_off, &blen)) {
		case 0:
			return (0);
		case -1:
			libsemd_seterr(err, SEMD_E_PROTOCOL, 0,
			    "semd at %s sent an invalid frame length (is it "
			    "really semd?)", sd->path);
			libsemd_break(sd, err);
			return (-1);
		}
		sd->in_off += PROTO_HDR_LEN + blen;
		memset(rep, 0, sizeof *rep);
		r = proto_decode_reply(p + PROTO_HDR_LEN, blen, rep, why,
		    sizeof why);
		if (r == PROTO_OK) {
			libsemd_track(sd, rep);
			return (1);
		}
		if (r == PROTO_E_BAD_REQUEST && rep->op == PROTO_OP_ERROR &&
		    rep->message[0] != '\0') {
			/*
			 * An ERROR whose code a later daemon added: it still
			 * ends the request it names, and the connection goes
			 * on (PROTOCOL.md: clients expect unknown codes).  It
			 * reaches the caller as SEMD_E_PROTOCOL with the
			 * daemon's message.
			 */
			rep->code = PROTO_OK;
			return (1);
		}
		proto_reply_free(rep);
		if (r == PROTO_E_UNKNOWN_OP)
			continue;
		libsemd_seterr(err, SEMD_E_PROTOCOL, 0,
		    "semd at %s sent a reply this library cannot read: %s",
		    sd->path, why);
		libsemd_break(sd, err);
		return (-1);
	}
}

/*
 * Wait for the next reply, writing queued output while waiting.  A signal
 * that interrupts the wait makes it return -2 when interruptible is set;
 * otherwise the wait goes on.  Returns 1 with *rep filled (caller frees it
 * with proto_reply_free), -2 when interrupted, or -1 with err filled.
 */
int
libsemd_next(struct semd *sd, int interruptible, struct proto_reply *rep,
    struct semd_error *err)
{
	struct pollfd	pfd;
	int		r;

	for (;;) {
		if ((r = libsemd_take(sd, rep, err)) != 0)
			return (r);
		if (libsemd_flush(sd, err) == -1)
			return (-1);

		pfd.fd = sd->fd;
		pfd.events = POLLIN;
		if (sd->out_off < sd->out.len)
			pfd.events |= POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, -1) == -1) {
			if (errno == EINTR) {
				if (interruptible)
					return (-2);
				continue;
			}
			libsemd_seterr(err, SEMD_E_SYSTEM, errno,
			    "cannot wait for semd: poll: %s", strerror(errno));
			return (-1);
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			if (libsemd_read(sd, err) == -1)
				return (-1);
		}
	}
}

/*
 * Report a reply that makes no sense for the request it answers as a
 * protocol error; the connection is no longer trusted.  Returns -1.
 */
int
libsemd_unexpected(struct semd *sd, const struct proto_reply *rep,
    struct semd_error *err)
{
	const char	*op;

	op = proto_op_name(rep->op);
	libsemd_seterr(err, SEMD_E_PROTOCOL, 0,
	    "semd at %s sent an unexpected %s reply", sd->path,
	    op != NULL ? op : "unknown");
	libsemd_break(sd, err);
	return (-1);
}

/*
 * Wait for the answer to request id: the one reply wait of the blocking
 * calls.  Replies to other ids (left over from a withdrawn or interrupted
 * request) are dropped; an ERROR with id 0 concerns the whole connection
 * (a limit, a bad frame) and is taken as the answer.  want is the set of
 * operations that answer the request, LIBSEMD_OP(PROTO_OP_...) or-ed.
 * A signal interrupts the wait only when what (what we wait for, for the
 * message) is not NULL.  Returns 1 with *rep filled (the caller frees it
 * with proto_reply_free) when its operation is in want; -2 with err
 * SEMD_E_INTERRUPTED ("interrupted while waiting for WHAT") when a signal
 * interrupted the wait; -1 with err filled when the wait failed, the
 * answer is an ERROR (the daemon's code and message) or any other
 * operation (SEMD_E_PROTOCOL; the connection is then broken).
 */
int
libsemd_answer(struct semd *sd, uint64_t id, unsigned int want,
    const char *what, struct proto_reply *rep, struct semd_error *err)
{
	int	r;

	for (;;) {
		r = libsemd_next(sd, what != NULL, rep, err);
		if (r == -2)
			libsemd_seterr(err, SEMD_E_INTERRUPTED, EINTR,
			    "interrupted while waiting for %s", what);
		if (r != 1)
			return (r);
		if (rep->id == id ||
		    (rep->id == 0 && rep->op == PROTO_OP_ERROR))
			break;
		proto_reply_free(rep);
	}
	if (want & LIBSEMD_OP(rep->op))
		return (1);
	if (rep->op == PROTO_OP_ERROR)
		libsemd_error_reply(rep, err);
	else
		libsemd_unexpected(sd, rep, err);
	proto_reply_free(rep);
	return (-1);
}
