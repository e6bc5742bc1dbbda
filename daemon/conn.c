/*
 * conn.c -- one client connection's life.
 *
 * A connection is an accepted socket plus the engine's sem_owner.
 * Reading: a plain read event; read(2) goes into the connection's own
 * buffer, every complete frame in it is decoded and dispatched in place,
 * and what is left (at most one partial frame) moves to the front.  The
 * buffer grows only as far as one largest frame plus its header needs.
 * Writing: a reply is sent at once when nothing is queued before it,
 * else appended to a bufferevent's output buffer (used for writing only);
 * a client that lets more than --max-output bytes pile up unread is
 * disconnected.
 *
 * States: OPEN (serving), CLOSING (a malformed frame was answered with
 * ERROR BAD_FRAME; reading stopped and its slots were given back, the
 * connection closes once that reply is flushed or after a few seconds),
 * DEAD (gone; freed after the current callback returns).
 *
 * One teardown path: conn_lost() marks the connection dead and queues
 * its owner for dropping.  The drop itself happens in conn_drop_owners(),
 * called by server_settle() at the end of every callback and never while
 * the engine is delivering events (a callback must not call back into
 * the engine).  The struct, its read event and its bufferevent are freed
 * by a deferred "reaper" event, so no callback ever touches freed memory.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "cluster.h"
#include "conn.h"
#include "grace.h"
#include "state.h"
#include "listen.h"
#include "log.h"
#include "proto.h"
#include "rules.h"
#include "sem.h"
#include "daemon.h"

enum conn_state {
	CONN_OPEN,		/* reading and answering requests */
	CONN_CLOSING,		/* flushing a last ERROR, then closing */
	CONN_DEAD,		/* gone; freed after this callback returns */
};

/*
 * The input buffer: CONN_IN_MIN bytes at first, doubled while a frame
 * needs more (up to PROTO_HDR_LEN + --max-frame), given back once empty.
 * At most CONN_READ_MAX bytes are read per read event, so that one busy
 * client cannot keep the others waiting.
 */
#define CONN_IN_MIN	512
#define CONN_READ_MAX	16384

struct conn {
	uint64_t		 serial;	/* for the log */
	enum conn_state		 state;
	int			 fd;
	struct event		*rev;		/* EV_READ on fd */
	uint8_t			*in;		/* unhandled input, NULL if none */
	size_t			 inlen;		/* bytes in in */
	size_t			 incap;		/* in's size */
	struct bufferevent	*bev;		/* for writing only */
	struct sem_owner	*owner;		/* NULL once dropped */
	pid_t			 pid;		/* SO_PEERCRED; 0 if unknown */
	uid_t			 uid;
	gid_t			 gid;
	gid_t			*groups;	/* supplementary, see conn_who */
	size_t			 ngroups;
	int			 groups_known;
	int			 on_dropq;
	char			 name[80];	/* "client 7 (pid 1, uid 0)" */
	char			*client;	/* HELLO's client, or NULL */
	uint32_t		 worker_pid;	/* HELLO's worker_pid, or 0 */
	char			*worker_cmd;	/* HELLO's worker_cmd, or NULL */
	TAILQ_ENTRY(conn)	 entry;		/* on conn_list or conn_deadq */
	TAILQ_ENTRY(conn)	 drop_entry;	/* on conn_dropq */
};
TAILQ_HEAD(conn_head, conn);

static struct conn_head	 conn_list = TAILQ_HEAD_INITIALIZER(conn_list);
static struct conn_head	 conn_dropq = TAILQ_HEAD_INITIALIZER(conn_dropq);
static struct conn_head	 conn_deadq = TAILQ_HEAD_INITIALIZER(conn_deadq);
static size_t		 conn_nconns;		/* on conn_list */
static uint64_t		 conn_serial;
static struct event	*conn_reaper;		/* frees conn_deadq */
static struct proto_buf	 conn_out;		/* scratch for encoding */
static int		 conn_limit_warned;

static void	conn_granted_cb(struct sem_waiter *, void *);
static void	conn_expired_cb(struct sem_waiter *, void *);
static void	conn_refused_cb(struct sem_waiter *, void *);
static void	conn_observe_cb(const struct sem_obs *, void *);
static void	conn_lost(struct conn *, const char *, ...)
		    __attribute__((__format__(__printf__, 2, 3)));
static size_t	conn_drop_owners(void);

/* The semaphore table: created by conn_init, freed by conn_shutdown. */
struct sem_table	*server_table;

/*
 * Unsent replies of every connection together, kept by conn_outbuf_cb:
 * what --max-output-total bounds.
 */
static size_t		 conn_out_total;

/* An output buffer grew or shrank: keep conn_out_total. */
static void
conn_outbuf_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	conn_out_total += info->n_added;
	conn_out_total -= info->n_deleted;
}

/*
 * Free c's read event, input and bufferevent (which closes the socket),
 * its unsent output leaving conn_out_total.
 */
static void
conn_bev_free(struct conn *c)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);

	event_free(c->rev);
	free(c->in);
	evbuffer_drain(out, evbuffer_get_length(out));
	bufferevent_free(c->bev);
}

/*
 * The unsent output of all connections passed --max-output-total:
 * disconnect the connections with the most unsent output, biggest
 * first, until the total is within the budget again, and free their
 * output at once.  The clients that read their replies have little
 * unsent and are left alone.  Cost: O(connections) per connection cut.
 */
static void
conn_trim_output(void)
{
	struct conn	*c, *big;
	struct evbuffer	*out;
	size_t		 len, max;

	while (conn_out_total > server_conf.max_output_total) {
		big = NULL;
		max = 0;
		TAILQ_FOREACH(c, &conn_list, entry) {
			len = evbuffer_get_length(bufferevent_get_output(
			    c->bev));
			if (len > max) {
				max = len;
				big = c;
			}
		}
		if (big == NULL)
			break;
		log_warnx("%s: %zu bytes of replies unread, the most of all "
		    "clients, which have %zu unread together (limit %zu, "
		    "--max-output-total); disconnecting", big->name, max,
		    conn_out_total, server_conf.max_output_total);
		out = bufferevent_get_output(big->bev);
		conn_lost(big, "disconnected: the daemon's budget for unread "
		    "replies is spent and this client has the most");
		evbuffer_drain(out, evbuffer_get_length(out));
	}
}

/* Free c and what it owns (its bufferevent is freed by the caller). */
static void
conn_free(struct conn *c)
{
	free(c->groups);
	free(c->client);
	free(c->worker_cmd);
	free(c);
}

/* The deferred reaper: free the connections that died, then settle. */
static void
conn_reap_cb(evutil_socket_t fd, short events, void *arg)
{
	struct conn	*c;

	/* Make sure every dead connection's owner is gone first. */
	server_settle();
	while ((c = TAILQ_FIRST(&conn_deadq)) != NULL) {
		TAILQ_REMOVE(&conn_deadq, c, entry);
		conn_bev_free(c);
		conn_free(c);
	}
	/* Descriptors were given back: accept again if we had to stop. */
	listen_resume();
}

/*
 * Prepare the connection layer (needs server_base): create the semaphore
 * table (server_table) with the limits of server_conf, its events delivered
 * to the connections.  Returns 0, or -1 with errno ENOMEM.
 */
int
conn_init(void)
{
	struct sem_callbacks	 cb = {
		.granted = conn_granted_cb,
		.expired = conn_expired_cb,
		.refused = conn_refused_cb,
		.observe = conn_observe_cb,
	};
	struct sem_limits	 limits;

	memset(&limits, 0, sizeof limits);
	limits.max_sems = server_conf.max_sems;
	limits.max_pending = server_conf.max_pending;
	limits.max_holds = server_conf.max_holds;
	limits.max_pending_per_uid = server_conf.max_pending_per_uid;
	limits.max_holds_per_uid = server_conf.max_holds_per_uid;
	/* With a state file, every grant is recorded there (state.h). */
	if (server_state != NULL) {
		cb.grant_new = state_grant_new;
		cb.grant_weight = state_grant_weight;
		cb.grant_end = state_grant_end;
	}
	if ((server_table = sem_table_new(&cb, server_state, &limits)) == NULL)
		return (-1);
	conn_reaper = event_new(server_base, -1, 0, conn_reap_cb, NULL);
	if (conn_reaper == NULL) {
		sem_table_free(server_table);
		server_table = NULL;
		errno = ENOMEM;
		return (-1);
	}
	return (0);
}

/* Number of connections open or closing (not yet dead).  O(1). */
size_t
conn_count(void)
{
	return (conn_nconns);
}

/* Put c's owner on the queue of owners to drop at the next settle. */
static void
conn_queue_drop(struct conn *c)
{
	if (c->owner == NULL || c->on_dropq)
		return;
	TAILQ_INSERT_TAIL(&conn_dropq, c, drop_entry);
	c->on_dropq = 1;
}

/*
 * Drop the owners of connections that went away and deliver the table's
 * events to their connections (which may make more connections go away:
 * repeat), until nothing changes.  server_settle's work on the table, and
 * all of it for the fuzzer, which has no timers.  Must not be called from
 * inside sem_flush().
 */
void
conn_settle(void)
{
	conn_drop_owners();
	do {
		sem_flush(server_table);
		admin_settle();
	} while (conn_drop_owners() != 0);
}

/*
 * Drop the engine owners of connections that died or are closing: their
 * holds are released and their waiters leave the queues, which may queue
 * grants for others.  Must not be called from inside sem_flush(); called
 * by conn_settle().  Returns the number of owners dropped.
 */
static size_t
conn_drop_owners(void)
{
	struct conn	*c;
	size_t		 n = 0;
	uint64_t	 now;

	if (TAILQ_EMPTY(&conn_dropq))
		return (0);
	now = server_now_ms();
	while ((c = TAILQ_FIRST(&conn_dropq)) != NULL) {
		TAILQ_REMOVE(&conn_dropq, c, drop_entry);
		c->on_dropq = 0;
		if (c->owner != NULL) {
			cluster_drop(c);
			sem_owner_drop(c->owner, now);
			c->owner = NULL;
			n++;
		}
	}
	return (n);
}

/*
 * The one teardown path: mark c dead (logging why), stop its I/O, queue
 * its owner for dropping and its memory for the reaper.  Anything still
 * addressed to it is discarded.  Safe to call more than once, and from
 * inside engine callbacks.
 */
static void
conn_lost(struct conn *c, const char *fmt, ...)
{
	char	 why[256];
	va_list	 ap;

	if (c->state == CONN_DEAD)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	log_info("%s: %s", c->name, why);

	TAILQ_REMOVE(&conn_list, c, entry);
	conn_nconns--;
	if (conn_nconns < server_conf.max_connections)
		conn_limit_warned = 0;	/* warn again next time it is hit */
	c->state = CONN_DEAD;
	admin_conn_gone(c);
	event_del(c->rev);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	conn_queue_drop(c);
	TAILQ_INSERT_TAIL(&conn_deadq, c, entry);
	event_active(conn_reaper, EV_TIMEOUT, 1);
}

/* c's socket failed with errno err: disconnect it, saying why. */
static void
conn_sock_error(struct conn *c, int err)
{
	if (err == ECONNRESET || err == EPIPE)
		conn_lost(c, "disconnected (%s)", strerror(err));
	else
		conn_lost(c, "connection error: %s", strerror(err));
}

/*
 * Append the frame in conn_out to c's output.  Discarded unless c is
 * open; a client whose unsent output passes --max-output is dropped.
 */
static void
conn_write_out(struct conn *c)
{
	struct evbuffer	*out;
	size_t		 pending, off = 0;
	ssize_t		 n;
	int		 err;

	if (c->state != CONN_OPEN)
		return;
	out = bufferevent_get_output(c->bev);

	/*
	 * Nothing is queued before this reply: write it now.  Left to the
	 * bufferevent, each reply would cost a trip through the loop
	 * (watch for EPOLLOUT, wait, writev, unwatch): four system calls
	 * instead of one.  Only what the socket does not take goes to the
	 * output buffer, behind which later replies queue, so order holds.
	 */
	if (evbuffer_get_length(out) == 0) {
		n = send(c->fd, conn_out.data,
		    conn_out.len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == -1) {
			err = errno;
			if (err != EAGAIN && err != EWOULDBLOCK &&
			    err != EINTR) {
				conn_sock_error(c, err);
				return;
			}
		} else
			off = (size_t)n;
		if (off == conn_out.len)
			return;
	}
	if (evbuffer_add(out, conn_out.data + off, conn_out.len - off) == -1) {
		conn_lost(c, "out of memory for its replies, disconnecting");
		return;
	}
	pending = evbuffer_get_length(out);
	if (pending > server_conf.max_output) {
		log_warnx("%s: %zu bytes of replies unread (limit %zu, "
		    "--max-output), disconnecting", c->name, pending,
		    server_conf.max_output);
		conn_lost(c, "disconnected for not reading its replies");
		evbuffer_drain(out, pending);
	} else if (server_conf.max_output_total != 0 &&
	    conn_out_total > server_conf.max_output_total)
		conn_trim_output();
}

/* Encode rep and queue it for c; nothing happens unless c is open. */
void
conn_send(struct conn *c, const struct proto_reply *rep)
{
	if (c->state != CONN_OPEN)
		return;
	conn_out.len = 0;
	if (proto_encode_reply(&conn_out, rep) == -1) {
		conn_lost(c, "out of memory encoding a reply, disconnecting");
		return;
	}
	conn_write_out(c);
}

/* Send ERROR code for request id with a formatted sentence, and log it. */
void
conn_error(struct conn *c, uint64_t id, enum proto_err code,
    const char *fmt, ...)
{
	char	 msg[PROTO_MAX_TEXT + 1];
	va_list	 ap;

	if (c->state != CONN_OPEN)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_info("%s: ERROR %s for id %" PRIu64 ": %s", c->name,
	    proto_err_name(code), id, msg);
	conn_out.len = 0;
	if (proto_encode_error(&conn_out, id, code, msg) == -1) {
		conn_lost(c, "out of memory encoding a reply, disconnecting");
		return;
	}
	conn_write_out(c);
}

/* The last reply of a closing connection was written: close it. */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_lost(c, "closed after a protocol error");
	server_settle();
}

/* Writing: EOF, an error, or the closing timeout on c. */
static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	int		 err = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_EOF)
		conn_lost(c, "disconnected");
	else if (what & BEV_EVENT_TIMEOUT)
		conn_lost(c, "did not read its last reply in %d seconds, "
		    "closed", SEMD_CLOSE_LINGER_SEC);
	else
		conn_sock_error(c, err);
	server_settle();
}

/*
 * c sent something that is not a frame we can decode: answer ERROR
 * BAD_FRAME (id 0), give back its slots at once, stop reading, and close
 * once the reply is flushed (or after SEMD_CLOSE_LINGER_SEC seconds).
 */
static void
conn_bad_frame(struct conn *c, const char *why)
{
	struct timeval	 tv;

	if (c->state != CONN_OPEN)
		return;
	conn_error(c, 0, PROTO_E_BAD_FRAME, "%s; closing the connection",
	    why);
	if (c->state != CONN_OPEN)
		return;
	c->state = CONN_CLOSING;
	event_del(c->rev);
	conn_queue_drop(c);
	tv.tv_sec = SEMD_CLOSE_LINGER_SEC;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	bufferevent_setcb(c->bev, NULL, conn_write_cb, conn_event_cb, c);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_lost(c, "closed after a protocol error");
}

/* Copy free text from a client into dst, replacing unprintable bytes. */
static void
conn_clean_text(char *dst, size_t dstlen, const char *src)
{
	size_t	 i;

	for (i = 0; i + 1 < dstlen && src[i] != '\0'; i++)
		dst[i] = isprint((unsigned char)src[i]) ? src[i] : '?';
	dst[i] = '\0';
}

/* HELLO: check the version and introduce ourselves. */
static void
conn_do_hello(struct conn *c, const struct proto_request *req)
{
	struct proto_reply	 rep;
	char			 client[PROTO_MAX_TEXT + 1];

	if (req->version != PROTO_VERSION) {
		conn_error(c, req->id, PROTO_E_VERSION, "this semd speaks "
		    "protocol version %d, not %" PRIu32 "; use a matching "
		    "client", PROTO_VERSION, req->version);
		return;
	}
	/*
	 * HELLO may come again (semrun sends it once CMD runs): what it
	 * says replaces what was said.  Shown by STATUS, for people only:
	 * nothing is decided on it.  Out of memory, it is just not kept.
	 */
	if (req->client[0] != '\0') {
		conn_clean_text(client, sizeof client, req->client);
		log_info("%s: hello from \"%s\"", c->name, client);
		free(c->client);
		c->client = strdup(client);
	}
	if (req->worker_pid != 0)
		c->worker_pid = req->worker_pid;
	if (req->worker_cmd[0] != '\0') {
		conn_clean_text(client, sizeof client, req->worker_cmd);
		free(c->worker_cmd);
		c->worker_cmd = strdup(client);
		log_info("%s: works for pid %" PRIu32 ": %s", c->name,
		    c->worker_pid, client);
	}
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_OP_HELLO;
	rep.id = req->id;
	rep.version = PROTO_VERSION;
	snprintf(rep.server, sizeof rep.server, "semd %s", PACKAGE_VERSION);
	rep.pid = (uint32_t)getpid();
	rep.grace_ms = server_conf.grace_ms;
	conn_send(c, &rep);
}

/*
 * RECLAIM: a client whose connection to an earlier daemon broke asks
 * for its grant back; grace.c verifies it.  Answered ACQUIRED (with the
 * same token) or DENIED.
 */
static void
conn_do_reclaim(struct conn *c, const struct proto_request *req)
{
	struct proto_reply	 rep;
	char			 msg[PROTO_MAX_TEXT + 1];
	enum proto_err		 e;

	e = grace_reclaim(c->owner, req->token, req->sem, req->sem_len,
	    req->weight, &rep, msg, sizeof msg);
	if (e != PROTO_OK) {
		conn_error(c, req->id, e, "%s", msg);
		return;
	}
	rep.op = PROTO_OP_ACQUIRED;
	rep.id = req->id;
	log_info("%s: reclaimed %s weight %" PRIu32 " token %" PRIu64,
	    c->name, rep.sem, rep.weight, rep.token);
	conn_send(c, &rep);
}

/*
 * Explain which limit refused an ACQUIRE (sem_acquire() says which),
 * naming the option that sets it.
 */
static void
conn_limit_error(struct conn *c, const struct proto_request *req,
    enum sem_limit which)
{
	uint64_t	 n = sem_limit_count(c->owner, which);
	uint32_t	 uid = (uint32_t)c->uid;

	switch (which) {
	case SEM_LIMIT_SEMS:
		conn_error(c, req->id, PROTO_E_LIMIT, "semd already has "
		    "%" PRIu64 " semaphores, the most it allows (--max-sems)",
		    n);
		break;
	case SEM_LIMIT_HOLDS:
		conn_error(c, req->id, PROTO_E_LIMIT, "this connection already "
		    "holds %" PRIu64 " semaphores, the most semd allows "
		    "(--max-holds)", n);
		break;
	case SEM_LIMIT_UID_HOLDS:
		conn_error(c, req->id, PROTO_E_LIMIT, "the connections of uid "
		    "%" PRIu32 " already hold %" PRIu64 " semaphores in all, "
		    "the most semd allows one user (--max-holds-per-uid)",
		    uid, n);
		break;
	case SEM_LIMIT_PENDING:
		conn_error(c, req->id, PROTO_E_LIMIT, "this connection already "
		    "has %" PRIu64 " pending requests, the most semd allows "
		    "(--max-pending)", n);
		break;
	case SEM_LIMIT_UID_PENDING:
		conn_error(c, req->id, PROTO_E_LIMIT, "the connections of uid "
		    "%" PRIu32 " already have %" PRIu64 " pending requests in "
		    "all, the most semd allows one user "
		    "(--max-pending-per-uid)", uid, n);
		break;
	default:
		conn_error(c, req->id, PROTO_E_LIMIT, "a limit of semd was "
		    "reached; try again later");
		break;
	}
}

/*
 * The name, capacity, weight and rate of want i of an ACQUIRE, which
 * has either one sem or several (sems).
 */
static void
conn_want(const struct proto_request *req, size_t i, struct sem_want *w)
{
	const struct proto_sem_req	*e;

	memset(w, 0, sizeof *w);
	if (req->nsems == 0) {
		w->name = req->sem;
		w->name_len = req->sem_len;
		w->has_capacity = req->has_capacity;
		w->capacity = req->capacity;
		w->weight = req->weight;
		w->has_rate = req->has_rate;
		w->rate = req->rate;
		w->burst = req->burst;
		return;
	}
	e = &req->sems[i];
	w->name = e->sem;
	w->name_len = e->sem_len;
	w->has_capacity = e->has_capacity;
	w->capacity = e->capacity;
	w->weight = e->weight;
	w->has_rate = e->has_rate;
	w->rate = e->rate;
	w->burst = e->burst;
}

/* Write "10/s burst 5" or "no rate" for a rate and burst into buf. */
static const char *
conn_rate_text(char *buf, size_t len, double rate, uint32_t burst)
{
	if (rate <= 0)
		snprintf(buf, len, "no rate");
	else
		snprintf(buf, len, "rate %g/s burst %" PRIu32, rate,
		    burst == 0 ? 1 : burst);
	return (buf);
}

/* Reply to an ACQUIRE that sem_acquire_many() refused. */
static void
conn_acquire_error(struct conn *c, const struct proto_request *req,
    const struct sem_acq_result *res)
{
	struct sem_want	 w;
	struct sem	*s;
	uint32_t	 cap;
	char		 cur[64], want[64];

	conn_want(req, res->index < (req->nsems ? req->nsems : 1) ?
	    res->index : 0, &w);
	switch (res->code) {
	case PROTO_E_NO_CAPACITY:
		conn_error(c, req->id, res->code, "semaphore %s does not "
		    "exist; give its capacity to create it", w.name);
		break;
	case PROTO_E_CAPACITY_MISMATCH:
		if (rules_declared(req->sem, req->sem_len)) {
			conn_error(c, req->id, res->code, "semaphore %s has "
			    "capacity %" PRIu32 " (declared in %s), not %"
			    PRIu32 "; leave the capacity out to use it",
			    req->sem, res->capacity, rules_path(),
			    req->capacity);
			break;
		}
		conn_error(c, req->id, res->code, "semaphore %s has capacity "
		    "%" PRIu32 ", not %" PRIu32 "; it keeps it until nobody "
		    "holds or waits for it", w.name, res->capacity,
		    w.capacity);
		break;
	case PROTO_E_RATE_MISMATCH:
		conn_error(c, req->id, res->code, "semaphore %s has %s, not "
		    "%s; it keeps it until nobody holds or waits for it and "
		    "its rate has recovered", w.name, conn_rate_text(cur,
		    sizeof cur, res->rate, res->burst), conn_rate_text(want,
		    sizeof want, w.rate, w.burst));
		break;
	case PROTO_E_TOO_HEAVY:
		if (w.weight == 0) {
			conn_error(c, req->id, res->code, "weight must be at "
			    "least 1");
			break;
		}
		s = sem_lookup(server_table, w.name, w.name_len);
		cap = s != NULL ? sem_capacity(s) : w.capacity;
		conn_error(c, req->id, res->code, "weight %" PRIu32 " is more "
		    "than the capacity %" PRIu32 " of semaphore %s; it could "
		    "never be granted", w.weight, cap, w.name);
		break;
	case PROTO_E_DUPLICATE_ID:
		conn_error(c, req->id, res->code, "request id %" PRIu64 " is "
		    "already pending on this connection; use a new id",
		    req->id);
		break;
	case PROTO_E_LIMIT:
		conn_limit_error(c, req, res->limit);
		break;
	case PROTO_E_BAD_REQUEST:
		conn_error(c, req->id, res->code, "semaphore %s cannot be "
		    "asked for like this (a name given twice, or a rate out "
		    "of range)", w.name);
		break;
	default:
		conn_error(c, req->id, res->code, "cannot acquire %s (%s)",
		    w.name, proto_err_name(res->code));
		break;
	}
}

/*
 * Start rep as a reply op to request id with every field zero or empty.
 * Only the first byte of the text fields is cleared and no part is
 * touched (nparts is 0): a grant's reply would otherwise zero 3 KB, 375
 * instructions, per request.  The ranges between those arrays are
 * zeroed whole, so a field added anywhere is zero too; the asserts keep
 * the arrays in the order the ranges assume.
 */
#define CONN_REP_SPAN(from, to)						\
	(offsetof(struct proto_reply, to) - offsetof(struct proto_reply, from))
_Static_assert(offsetof(struct proto_reply, server) <
    offsetof(struct proto_reply, sem) &&
    offsetof(struct proto_reply, sem) < offsetof(struct proto_reply, parts) &&
    offsetof(struct proto_reply, parts) <
    offsetof(struct proto_reply, message),
    "conn_reply_start: the reply's arrays moved");
static void
conn_reply_start(struct proto_reply *rep, enum proto_op op, uint64_t id)
{
	char	*p = (char *)rep;
	size_t	 server_end = offsetof(struct proto_reply, server) +
	    sizeof rep->server;
	size_t	 sem_end = offsetof(struct proto_reply, sem) +
	    sizeof rep->sem;
	size_t	 parts_end = offsetof(struct proto_reply, parts) +
	    sizeof rep->parts;
	size_t	 message_end = offsetof(struct proto_reply, message) +
	    sizeof rep->message;

	memset(p, 0, offsetof(struct proto_reply, server));
	memset(p + server_end, 0, offsetof(struct proto_reply, sem) -
	    server_end);
	memset(p + sem_end, 0, offsetof(struct proto_reply, parts) - sem_end);
	memset(p + parts_end, 0, offsetof(struct proto_reply, message) -
	    parts_end);
	memset(p + message_end, 0, sizeof *rep - message_end);
	rep->server[0] = '\0';
	rep->sem[0] = '\0';
	rep->message[0] = '\0';
	rep->op = op;
	rep->id = id;
}

/*
 * Set sem and weight of an ACQUIRED or RELEASED to those of its first
 * semaphore, and with several, sems to all of them (rep->nparts), from
 * the names and weights given (n of them).
 */
static void
conn_reply_part(struct proto_reply *rep, size_t i, const struct sem *s,
    uint32_t weight)
{
	if (i == 0) {
		memcpy(rep->sem, sem_name(s), sem_name_len(s) + 1);
		rep->weight = weight;
	}
	if (i < PROTO_MAX_SEMS) {
		memcpy(rep->parts[i].sem, sem_name(s), sem_name_len(s) + 1);
		rep->parts[i].weight = weight;
	}
}

/* Describe the grant ring of g in rep (sems only for two or more). */
static void
conn_reply_grant(struct proto_reply *rep, struct sem_grant *g)
{
	struct sem_grant_info	 gi;
	struct sem_grant	*p = g;
	size_t			 n = 0;

	do {
		sem_grant_info(p, &gi);
		conn_reply_part(rep, n++, gi.sem, gi.weight);
		p = sem_grant_next(p);
	} while (p != g && n < PROTO_MAX_SEMS);
	rep->nparts = n > 1 ? n : 0;
}

/* ACQUIRE: grant now, queue, refuse a try, or explain the error. */
static void
conn_do_acquire(struct conn *c, const struct proto_request *req)
{
	struct sem_want		 wv[PROTO_MAX_SEMS];
	struct sem_acq_result	 res;
	struct proto_reply	 rep;
	size_t			 i, n = req->nsems ? req->nsems : 1;

	struct rules_who	 who;
	char			 why[PROTO_MAX_TEXT + 1];

	for (i = 0; i < n; i++)
		conn_want(req, i, &wv[i]);
	/* Each name must be allowed: a refusal refuses the whole request. */
	conn_who(c, &who);
	for (i = 0; i < n; i++) {
		if (!rules_may_acquire(&who, wv[i].name, wv[i].name_len, why,
		    sizeof why)) {
			conn_error(c, req->id, PROTO_E_DENIED, "%s", why);
			return;
		}
	}
	/* A cluster name anywhere: cluster.c (which refuses a mix). */
	for (i = 0; i < n; i++) {
		if (cluster_scoped(wv[i].name, wv[i].name_len)) {
			cluster_acquire(c, c->pid, c->uid, req);
			return;
		}
	}
	if (cluster_pending(c, req->id)) {
		conn_error(c, req->id, PROTO_E_DUPLICATE_ID, "request id %"
		    PRIu64 " is already pending on this connection; use a new "
		    "id", req->id);
		return;
	}
	memset(&res, 0, sizeof res);
	if (sem_acquire_many(c->owner, req->id, wv, n, req->timeout_ms,
	    server_now_ms(), &res) == -1) {
		conn_error(c, req->id, PROTO_E_LIMIT, "semd is out of memory; "
		    "try again later");
		return;
	}
	conn_reply_start(&rep, PROTO_OP_TIMEOUT, req->id);
	switch (res.status) {
	case SEM_ACQ_GRANTED:
		rep.op = PROTO_OP_ACQUIRED;
		rep.token = res.token;
		conn_reply_grant(&rep, sem_grant_lookup(server_table,
		    res.token));
		log_debug("%s: ACQUIRED id %" PRIu64 " %s weight %" PRIu32
		    "%s token %" PRIu64, c->name, req->id, rep.sem,
		    rep.weight, n > 1 ? " and more" : "", rep.token);
		break;
	case SEM_ACQ_QUEUED:
		rep.op = PROTO_OP_QUEUED;
		rep.position = res.position;
		log_debug("%s: QUEUED id %" PRIu64 " %s position %" PRIu32,
		    c->name, req->id, wv[0].name, res.position);
		break;
	case SEM_ACQ_BUSY:
		rep.op = PROTO_OP_TIMEOUT;
		log_debug("%s: TIMEOUT id %" PRIu64 " %s (busy)", c->name,
		    req->id, wv[0].name);
		break;
	case SEM_ACQ_ERROR:
	default:
		conn_acquire_error(c, req, &res);
		return;
	}
	conn_send(c, &rep);
}

/* RELEASE by token: give back a whole grant, or NOT_HELD. */
static void
conn_do_release_token(struct conn *c, const struct proto_request *req)
{
	struct proto_reply	 rep;
	struct sem_grant_info	 gi;
	struct sem_grant	*g;
	char			 name[PROTO_MAX_NAME + 1];
	uint32_t		 weight;

	g = sem_grant_lookup(server_table, req->token);
	if (g != NULL)
		sem_grant_info(g, &gi);
	if (g == NULL || gi.owner != c->owner) {
		conn_error(c, req->id, PROTO_E_NOT_HELD, "this connection "
		    "holds no grant with token %" PRIu64, req->token);
		return;
	}
	conn_reply_start(&rep, PROTO_OP_RELEASED, req->id);
	rep.token = req->token;
	/* Described before it goes: every semaphore of the grant. */
	conn_reply_grant(&rep, g);
	(void)sem_release_token(c->owner, req->token, server_now_ms(), name,
	    &weight);
	conn_send(c, &rep);
}

/* RELEASE: give back weight, or NOT_HELD. */
static void
conn_do_release(struct conn *c, const struct proto_request *req)
{
	struct proto_reply	 rep;
	enum proto_err		 e;

	if (cluster_release(c, req))
		return;
	if (req->has_token) {
		conn_do_release_token(c, req);
		return;
	}
	e = sem_release(c->owner, req->sem, req->sem_len, req->weight,
	    server_now_ms());
	if (e == PROTO_E_NOT_HELD) {
		conn_error(c, req->id, e, "this connection holds %" PRIu32
		    " on semaphore %s; it cannot release %" PRIu32,
		    sem_held(c->owner, req->sem, req->sem_len), req->sem,
		    req->weight);
		return;
	}
	if (e != PROTO_OK) {
		conn_error(c, req->id, e, "cannot release %s (%s)", req->sem,
		    proto_err_name(e));
		return;
	}
	conn_reply_start(&rep, PROTO_OP_RELEASED, req->id);
	memcpy(rep.sem, req->sem, req->sem_len);
	rep.sem[req->sem_len] = '\0';
	rep.weight = req->weight;
	conn_send(c, &rep);
}

/* TIMEOUT from the client: withdraw a pending ACQUIRE. */
static void
conn_do_withdraw(struct conn *c, const struct proto_request *req)
{
	struct proto_reply	 rep;
	enum proto_err		 e;

	if (cluster_withdraw(c, req->id))
		return;
	e = sem_withdraw(c->owner, req->id, server_now_ms());
	if (e == PROTO_E_NOT_PENDING) {
		conn_error(c, req->id, e, "no ACQUIRE with id %" PRIu64
		    " is waiting on this connection (already granted, timed "
		    "out, or never sent)", req->id);
		return;
	}
	if (e != PROTO_OK) {
		conn_error(c, req->id, e, "cannot withdraw id %" PRIu64
		    " (%s)", req->id, proto_err_name(e));
		return;
	}
	conn_reply_start(&rep, PROTO_OP_TIMEOUT, req->id);
	conn_send(c, &rep);
}

/*
 * Fill who a STATUS party is from its owner: the peer's pid and uid, and
 * what its connection said in HELLO (the strings stay the connection's).
 */
static void
conn_party(struct proto_party *p, const struct sem_owner *o)
{
	const struct conn	*c = sem_owner_ctx(o);

	p->pid = sem_owner_pid(o);
	p->uid = sem_owner_uid(o);
	if (c == NULL)
		return;
	p->worker_pid = c->worker_pid;
	p->client = c->client;
	p->worker_cmd = c->worker_cmd;
}

/* Where conn_status_party puts the parties of one semaphore. */
struct conn_status_fill {
	struct proto_party	*parties;
	size_t			 room, n, nholders;
	uint64_t		 now;
	int			*cut;
};

/* Add one holder or waiter of a semaphore; stop when there is no room. */
static int
conn_status_party(const struct sem_owner *o, uint32_t weight,
    uint64_t since_ms, int waiting, void *arg)
{
	struct conn_status_fill	*f = arg;
	struct proto_party	*p;

	if (f->n == f->room) {
		*f->cut = 1;
		return (1);
	}
	p = &f->parties[f->n++];
	conn_party(p, o);
	p->weight = weight;
	p->ms = f->now > since_ms ? f->now - since_ms : 0;
	if (!waiting)
		f->nholders++;
	return (0);
}

/*
 * Describe s in st without its holders and waiters: name, capacity,
 * held, waiting, declared, drained, and its rate with the time to its
 * next grant at now.  For STATUS and ADMIN list.
 */
void
conn_sem_status(const struct sem *s, struct proto_sem_status *st,
    uint64_t now)
{
	uint32_t	 burst;
	double		 rate;

	memcpy(st->sem, sem_name(s), sem_name_len(s) + 1);
	st->capacity = sem_capacity(s);
	st->held = sem_used(s) > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)sem_used(s);
	st->waiting = sem_nwaiting(s);
	st->declared = sem_is_declared(s);
	st->drained = sem_is_drained(s);
	if ((rate = sem_rate(s, &burst)) > 0) {
		st->rate = rate;
		st->burst = burst;
		st->next_grant_ms = sem_rate_next_ms(s, now) - now;
	}
}

/*
 * Describe s in st, listing holders then waiters from parties (at most
 * room entries).  Returns the number of entries used; sets *cut when
 * some did not fit.
 */
static size_t
conn_status_sem(struct sem *s, struct proto_sem_status *st,
    struct proto_party *parties, size_t room, uint64_t now, int *cut)
{
	struct conn_status_fill	 f = { .parties = parties, .room = room,
	    .now = now, .cut = cut };

	conn_sem_status(s, st, now);
	sem_parties(s, conn_status_party, &f);
	st->holders = parties;
	st->nholders = f.nholders;
	st->waiters = parties != NULL ? parties + f.nholders : NULL;
	st->nwaiters = f.n - f.nholders;
	return (f.n);
}

/*
 * STATUS: one semaphore (an unknown name gives an empty list) or all of
 * them in creation order.  At most SEMD_STATUS_MAX_SEMS semaphores and
 * SEMD_STATUS_MAX_PARTIES holders and waiters in all are collected (more
 * could not fit in one frame anyway); the encoder shortens further if
 * needed.  Either way the reply says truncated.  Cost: O(what is listed).
 */
static void
conn_do_status(struct conn *c, const struct proto_request *req)
{
	struct proto_reply	 rep;
	struct proto_sem_status	*sems = NULL;
	struct proto_party	*parties = NULL;
	struct sem		*s, *one = NULL;
	size_t			 nsems, want, used, i, ncl, clroom;
	uint64_t		 now = server_now_ms();
	int			 cut = 0;

	if (req->has_sem) {
		one = sem_lookup(server_table, req->sem, req->sem_len);
		nsems = one != NULL ? 1 : 0;
	} else {
		nsems = sem_count(server_table);
		if (nsems > SEMD_STATUS_MAX_SEMS) {
			nsems = SEMD_STATUS_MAX_SEMS;
			cut = 1;
		}
	}

	/* Count the parties to list, to allocate no more than needed. */
	want = 0;
	s = one != NULL ? one : (req->has_sem ? NULL : sem_first(server_table));
	for (i = 0; i < nsems && s != NULL; i++) {
		want += sem_nholders(s) + sem_nwaiting(s);
		if (want >= SEMD_STATUS_MAX_PARTIES) {
			want = SEMD_STATUS_MAX_PARTIES;
			break;
		}
		s = one != NULL ? NULL : sem_next(s);
	}
	/* Cluster pools follow the local ones, with their own room. */
	ncl = cluster_status_count(req->has_sem ? req->sem : NULL,
	    req->sem_len);
	if (ncl > SEMD_STATUS_MAX_SEMS)
		ncl = SEMD_STATUS_MAX_SEMS;
	clroom = ncl != 0 ? SEMD_STATUS_MAX_PARTIES : 0;
	if (nsems + ncl != 0 &&
	    (sems = calloc(nsems + ncl, sizeof *sems)) == NULL)
		goto nomem;
	if (want + clroom != 0 &&
	    (parties = calloc(want + clroom, sizeof *parties)) == NULL)
		goto nomem;

	used = 0;
	s = one != NULL ? one : (req->has_sem ? NULL : sem_first(server_table));
	for (i = 0; i < nsems && s != NULL; i++) {
		/* No parties at all: idle semaphores kept for their rate. */
		used += conn_status_sem(s, &sems[i], parties != NULL ?
		    parties + used : NULL, want - used, now, &cut);
		s = one != NULL ? NULL : sem_next(s);
	}
	if (ncl != 0)
		i += cluster_status(req->has_sem ? req->sem : NULL,
		    req->sem_len, sems + i, ncl, parties + used, clroom, &cut);

	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_OP_STATUS;
	rep.id = req->id;
	rep.sems = sems;
	rep.nsems = i;
	rep.truncated = cut;
	conn_send(c, &rep);
	free(parties);
	free(sems);
	return;

nomem:
	free(parties);
	free(sems);
	conn_error(c, req->id, PROTO_E_LIMIT, "semd is out of memory; try "
	    "again later");
}

/* Copy what the engine knows of s into st, for a STATS reply. */
static void
conn_stats_sem(const struct sem *s, struct proto_sem_stats *st)
{
	struct sem_stats	 ss;

	sem_stats(s, &ss);
	memcpy(st->sem, sem_name(s), sem_name_len(s) + 1);
	st->capacity = sem_capacity(s);
	st->held = sem_used(s) > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)sem_used(s);
	st->waiting = sem_nwaiting(s);
	st->grants = ss.grants;
	st->timeouts = ss.timeouts;
	st->withdrawals = ss.withdrawals;
	st->releases = ss.releases;
	st->disconnects = ss.disconnects;
	st->revokes = ss.revokes;
	st->max_waiting = ss.max_waiting;
	st->recent_hold_ms = ss.recent_hold_ms;
	memcpy(st->wait.count, ss.wait.count, sizeof st->wait.count);
	st->wait.sum_ms = ss.wait.sum_ms;
	memcpy(st->hold.count, ss.hold.count, sizeof st->hold.count);
	st->hold.sum_ms = ss.hold.sum_ms;
}

/*
 * STATS: the figures of one semaphore (an unknown name gives an empty
 * list) or of all of them, and the daemon's own.  The live ones come
 * first, in creation order, then the forgotten ones whose figures the
 * engine keeps (held and waiting 0), most recently forgotten first.  At
 * most SEMD_STATS_MAX_SEMS are collected; the encoder lists as many as
 * fit in a frame, and says truncated when some are left out.  Cost:
 * O(semaphores listed); one allocation per request, none per grant.
 */
static void
conn_do_stats(struct conn *c, const struct proto_request *req)
{
	struct proto_reply	 rep;
	struct proto_sem_stats	*stats = NULL;
	struct sem		*s = NULL;
	size_t			 n = 0, want;

	memset(&rep, 0, sizeof rep);
	if (req->has_sem) {
		s = sem_lookup(server_table, req->sem, req->sem_len);
		if (s == NULL)
			s = sem_retired_lookup(server_table, req->sem,
			    req->sem_len);
		want = s != NULL ? 1 : 0;
	} else {
		want = sem_count(server_table) + sem_retired_count(server_table);
		if (want > SEMD_STATS_MAX_SEMS)
			want = SEMD_STATS_MAX_SEMS;
	}
	if (want != 0 && (stats = calloc(want, sizeof *stats)) == NULL) {
		conn_error(c, req->id, PROTO_E_LIMIT, "semd is out of memory; "
		    "try again later");
		return;
	}
	if (req->has_sem) {
		if (s != NULL)
			conn_stats_sem(s, &stats[n++]);
	} else {
		for (s = sem_first(server_table); s != NULL && n < want;
		    s = sem_next(s))
			conn_stats_sem(s, &stats[n++]);
		for (s = sem_retired_first(server_table); s != NULL &&
		    n < want; s = sem_retired_next(s))
			conn_stats_sem(s, &stats[n++]);
		if (s != NULL)
			rep.truncated = 1;
	}
	rep.op = PROTO_OP_STATS;
	rep.id = req->id;
	rep.stats = stats;
	rep.nstats = n;
	rep.uptime_ms = server_uptime_ms();
	rep.connections = conn_nconns > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)conn_nconns;
	rep.semaphores = sem_count(server_table) > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)sem_count(server_table);
	conn_send(c, &rep);
	free(stats);
}

/* Log a request at debug level. */
static void
conn_log_request(struct conn *c, const struct proto_request *req)
{
	char	 cap[16];

	if (log_getverbose() < LOG_VERBOSE_DEBUG)
		return;
	switch (req->op) {
	case PROTO_OP_ACQUIRE:
		if (req->has_capacity)
			snprintf(cap, sizeof cap, "%" PRIu32, req->capacity);
		else
			snprintf(cap, sizeof cap, "-");
		log_debug("%s: ACQUIRE id %" PRIu64 " %s capacity %s weight %"
		    PRIu32 " timeout_ms %" PRId64, c->name, req->id, req->sem,
		    cap, req->weight, req->timeout_ms);
		break;
	case PROTO_OP_RELEASE:
		log_debug("%s: RELEASE id %" PRIu64 " %s weight %" PRIu32,
		    c->name, req->id, req->sem, req->weight);
		break;
	case PROTO_OP_STATUS:
	case PROTO_OP_STATS:
		log_debug("%s: %s id %" PRIu64 " %s", c->name,
		    proto_op_name(req->op), req->id,
		    req->has_sem ? req->sem : "(all)");
		break;
	default:
		log_debug("%s: %s id %" PRIu64, c->name,
		    proto_op_name(req->op), req->id);
		break;
	}
}

/* Decode one frame body from c and act on it. */
static void
conn_dispatch(struct conn *c, const uint8_t *body, size_t len)
{
	struct proto_request	 req;
	char			 errbuf[PROTO_MAX_TEXT + 1];
	enum proto_err		 e;

	/* The decoder zeroes req itself (3.5 KB: not twice per request). */
	errbuf[0] = '\0';
	e = proto_decode_request(body, len, &req, errbuf, sizeof errbuf);
	if (e == PROTO_E_BAD_FRAME) {
		conn_bad_frame(c, errbuf[0] != '\0' ? errbuf :
		    "the frame is not one MessagePack map");
		return;
	}
	if (e != PROTO_OK) {
		conn_error(c, req.id, e, "%s", errbuf[0] != '\0' ? errbuf :
		    proto_err_name(e));
		return;
	}
	conn_log_request(c, &req);

	switch (req.op) {
	case PROTO_OP_HELLO:
		conn_do_hello(c, &req);
		break;
	case PROTO_OP_ACQUIRE:
		conn_do_acquire(c, &req);
		break;
	case PROTO_OP_RELEASE:
		conn_do_release(c, &req);
		break;
	case PROTO_OP_TIMEOUT:
		conn_do_withdraw(c, &req);
		break;
	case PROTO_OP_STATUS:
		conn_do_status(c, &req);
		break;
	case PROTO_OP_ADMIN:
		admin_dispatch(c, &req);
		break;
	case PROTO_OP_STATS:
		conn_do_stats(c, &req);
		break;
	case PROTO_OP_RECLAIM:
		conn_do_reclaim(c, &req);
		break;
	default:
		conn_error(c, req.id, PROTO_E_UNKNOWN_OP, "%s is not a request "
		    "semd understands", proto_op_name(req.op) != NULL ?
		    proto_op_name(req.op) : "this op");
		break;
	}
}

/*
 * Handle every complete frame in c's input, settling the engine after
 * each request so that its events follow the reply, then move what is
 * left (part of a frame) to the front.  Returns the room the next frame
 * needs: at least what is left, more once its header is in.
 */
static size_t
conn_input(struct conn *c)
{
	uint8_t		*p = c->in, *end = c->in + c->inlen;
	uint32_t	 len;
	size_t		 need = PROTO_HDR_LEN;
	char		 why[128];

	while (c->state == CONN_OPEN) {
		if ((size_t)(end - p) < PROTO_HDR_LEN) {
			need = PROTO_HDR_LEN;
			break;
		}
		len = proto_frame_len(p);
		if (len == 0 || len > server_conf.max_frame) {
			snprintf(why, sizeof why, "frame length %" PRIu32
			    " is not between 1 and %" PRIu32 "%s", len,
			    server_conf.max_frame, len == 0 ? "" :
			    " (--max-frame)");
			conn_bad_frame(c, why);
			break;
		}
		need = PROTO_HDR_LEN + (size_t)len;
		if ((size_t)(end - p) < need)
			break;		/* wait for the rest of the frame */
		conn_dispatch(c, p + PROTO_HDR_LEN, len);
		p += need;
		server_settle();
	}
	if (c->state != CONN_OPEN) {
		c->inlen = 0;	/* reading stopped: nothing more is read */
		return (0);
	}
	c->inlen = (size_t)(end - p);
	if (c->inlen != 0 && p != c->in)
		memmove(c->in, p, c->inlen);
	return (need);
}

/*
 * Make c's input buffer at least need bytes long: grow by doubling from
 * CONN_IN_MIN, never beyond PROTO_HDR_LEN + --max-frame (a whole frame
 * always fits, so a partial one always leaves room); give a grown
 * buffer back once it is empty and a small one will do.  Returns 0, or
 * -1 when out of memory.
 */
static int
conn_input_room(struct conn *c, size_t need)
{
	size_t	 cap = c->incap, max = PROTO_HDR_LEN +
		    (size_t)server_conf.max_frame;
	uint8_t	*in;

	if (c->inlen == 0 && c->incap > CONN_IN_MIN && need <= CONN_IN_MIN) {
		free(c->in);
		c->in = NULL;
		c->incap = 0;
		cap = 0;
	}
	if (cap == 0)
		cap = CONN_IN_MIN;
	while (cap < need && cap < max)
		cap *= 2;
	if (cap > max)
		cap = max;
	if (cap <= c->incap)
		return (0);
	if ((in = realloc(c->in, cap)) == NULL)
		return (-1);
	c->in = in;
	c->incap = cap;
	return (0);
}

/*
 * c's socket is readable: read into its input buffer and handle every
 * complete frame.  One read(2) per event when it drains the socket (the
 * usual case: one request); when a read fills the buffer, read again
 * into one twice as big, up to CONN_READ_MAX bytes per event.  EOF or a
 * reset disconnects c at once, which gives its slots back (settled here:
 * the engine is settled after every request already, so an open
 * connection needs nothing more).
 */
static void
conn_read_cb(evutil_socket_t fd, short events, void *arg)
{
	struct conn	*c = arg;
	size_t		 want = PROTO_HDR_LEN, need, done = 0, room;
	ssize_t		 n;

	while (c->state == CONN_OPEN && done < CONN_READ_MAX) {
		if (want < c->inlen + 1)
			want = c->inlen + 1;
		if (conn_input_room(c, want) == -1) {
			conn_lost(c, "out of memory reading a frame, "
			    "disconnecting");
			break;
		}
		if ((room = c->incap - c->inlen) == 0)
			break;		/* cannot be: a whole frame fits */
		n = read(fd, c->in + c->inlen, room);
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				conn_sock_error(c, errno);
			break;
		}
		if (n == 0) {
			conn_lost(c, "disconnected");
			break;
		}
		c->inlen += (size_t)n;
		done += (size_t)n;
		need = conn_input(c);
		if ((size_t)n < room)
			break;		/* the socket is drained */
		want = need > 2 * c->incap ? need : 2 * c->incap;
	}
	/* Each request was settled after it; what is left is c's end. */
	if (c->state != CONN_OPEN)
		server_settle();
}

/*
 * Refuse a connection over --max-connections, or over
 * --max-connections-per-uid when per_uid, with ERROR LIMIT.
 */
static void
conn_refuse(int fd, pid_t pid, uid_t uid, int per_uid)
{
	char	 msg[PROTO_MAX_TEXT + 1];

	if (per_uid) {
		log_info("refused a connection from pid %ld: uid %ld has %"
		    PRIu32 " connections (--max-connections-per-uid)",
		    (long)pid, (long)(int)uid,
		    server_conf.max_connections_per_uid);
		snprintf(msg, sizeof msg, "semd serves at most %" PRIu32
		    " connections of one user at once "
		    "(--max-connections-per-uid); try again later",
		    server_conf.max_connections_per_uid);
		goto send;
	}
	if (!conn_limit_warned)
		log_warnx("connection limit reached (%" PRIu32 "), refusing "
		    "new connections", server_conf.max_connections);
	else
		log_debug("refused a connection from pid %ld (limit %" PRIu32
		    ")", (long)pid, server_conf.max_connections);
	conn_limit_warned = 1;
	snprintf(msg, sizeof msg, "semd serves at most %" PRIu32 " "
	    "connections at once (--max-connections); try again later",
	    server_conf.max_connections);
send:
	conn_out.len = 0;
	if (proto_encode_error(&conn_out, 0, PROTO_E_LIMIT, msg) == 0)
		(void)send(fd, conn_out.data, conn_out.len,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

/*
 * Take over a freshly accepted, non-blocking socket: read its peer's
 * credentials, create its connection and engine owner, and start
 * reading.  Over --max-connections the client gets ERROR LIMIT and is
 * closed.  Always consumes fd.
 */
void
conn_accept(int fd)
{
	struct conn	*c;
	struct ucred	 uc;
	socklen_t	 uclen = sizeof uc;

	memset(&uc, 0, sizeof uc);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &uclen) == -1) {
		log_warn("getsockopt SO_PEERCRED");
		uc.pid = 0;
		uc.uid = (uid_t)-1;
		uc.gid = (gid_t)-1;
	}
	if (server_conf.max_connections != 0 &&
	    conn_nconns >= server_conf.max_connections) {
		conn_refuse(fd, uc.pid, uc.uid, 0);
		return;
	}
	/* So that one user cannot take every connection from the others. */
	if (server_conf.max_connections_per_uid != 0 &&
	    sem_uid_owners(server_table, (uint32_t)uc.uid) >=
	    server_conf.max_connections_per_uid) {
		conn_refuse(fd, uc.pid, uc.uid, 1);
		return;
	}
	if ((c = calloc(1, sizeof *c)) == NULL)
		goto nomem;
	c->serial = ++conn_serial;
	c->pid = uc.pid;
	c->uid = uc.uid;
	c->gid = uc.gid;
	snprintf(c->name, sizeof c->name, "client %" PRIu64 " (pid %ld, "
	    "uid %ld)", c->serial, (long)c->pid, (long)(int)c->uid);
	c->fd = fd;
	c->rev = event_new(server_base, fd, EV_READ | EV_PERSIST,
	    conn_read_cb, c);
	if (c->rev == NULL)
		goto nomem;
	c->bev = bufferevent_socket_new(server_base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		event_free(c->rev);
		goto nomem;
	}
	if (evbuffer_add_cb(bufferevent_get_output(c->bev), conn_outbuf_cb,
	    NULL) == NULL) {
		conn_bev_free(c);	/* closes fd */
		free(c);
		log_warnx("out of memory, refused a connection");
		return;
	}
	c->owner = sem_owner_new(server_table, c, (uint32_t)c->pid,
	    (uint32_t)c->uid);
	if (c->owner == NULL) {
		conn_bev_free(c);	/* closes fd */
		free(c);
		log_warnx("out of memory, refused a connection");
		return;
	}
	bufferevent_setcb(c->bev, NULL, NULL, conn_event_cb, c);
	if (event_add(c->rev, NULL) == -1) {
		sem_owner_drop(c->owner, server_now_ms());
		conn_bev_free(c);
		free(c);
		log_warnx("cannot watch a new connection, refused it");
		return;
	}
	c->state = CONN_OPEN;
	TAILQ_INSERT_TAIL(&conn_list, c, entry);
	conn_nconns++;
	log_info("%s: connected (gid %ld, %zu connections)", c->name,
	    (long)(int)c->gid, conn_nconns);
	server_settle();
	return;

nomem:
	free(c);
	close(fd);
	log_warnx("out of memory, refused a connection");
}

/*
 * Free every connection at exit without telling the engine and without
 * flushing replies, then the semaphore table as a whole.
 */
void
conn_shutdown(void)
{
	struct conn	*c;

	admin_shutdown();
	while ((c = TAILQ_FIRST(&conn_list)) != NULL) {
		TAILQ_REMOVE(&conn_list, c, entry);
		conn_bev_free(c);
		conn_free(c);
	}
	conn_nconns = 0;
	while ((c = TAILQ_FIRST(&conn_deadq)) != NULL) {
		TAILQ_REMOVE(&conn_deadq, c, entry);
		conn_bev_free(c);
		conn_free(c);
	}
	TAILQ_INIT(&conn_dropq);
	if (conn_reaper != NULL) {
		event_free(conn_reaper);
		conn_reaper = NULL;
	}
	proto_buf_free(&conn_out);
	if (server_table != NULL) {
		sem_table_free(server_table);
		server_table = NULL;
	}
}

/* Send a cluster reply (cluster.c) to c, unless c is closing or dead. */
void
conn_cluster_reply(struct conn *c, const struct proto_reply *rep)
{
	conn_send(c, rep);
}

/* Send a cluster ERROR (cluster.c) to c, and log it. */
void
conn_cluster_error(struct conn *c, uint64_t id, enum proto_err code,
    const char *fmt, ...)
{
	char	 msg[PROTO_MAX_TEXT + 1];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	conn_error(c, id, code, "%s", msg);
}

/* c's name for the log: "client 7 (pid 1, uid 0)". */
const char *
conn_cluster_name(struct conn *c)
{
	return (c->name);
}

/* Engine event: a queued ACQUIRE of w's owner was granted. */
static void
conn_granted_cb(struct sem_waiter *w, void *arg)
{
	struct conn		*c = sem_owner_ctx(sem_waiter_owner(w));
	struct proto_reply	 rep;
	const struct sem	*s;
	uint32_t		 i, n = sem_waiter_nparts(w), weight;

	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_OP_ACQUIRED;
	rep.id = sem_waiter_id(w);
	rep.token = sem_waiter_token(w);
	/* A grant of several is answered with sems, in the order asked. */
	for (i = 0; i < n; i++) {
		s = sem_waiter_part(w, i, &weight);
		conn_reply_part(&rep, i, s, weight);
	}
	rep.nparts = n > 1 ? n : 0;
	log_debug("%s: ACQUIRED id %" PRIu64 " %s weight %" PRIu32
	    "%s token %" PRIu64 " after waiting", c->name, rep.id, rep.sem,
	    rep.weight, n > 1 ? " and more" : "", rep.token);
	conn_send(c, &rep);
}

/* Engine event: a queued ACQUIRE of w's owner ran out of time. */
static void
conn_expired_cb(struct sem_waiter *w, void *arg)
{
	struct conn		*c = sem_owner_ctx(sem_waiter_owner(w));
	struct proto_reply	 rep;

	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_OP_TIMEOUT;
	rep.id = sem_waiter_id(w);
	log_debug("%s: TIMEOUT id %" PRIu64 " %s", c->name, rep.id,
	    sem_name(sem_waiter_part(w, 0, NULL)));
	conn_send(c, &rep);
}

/* Engine event: a resize made a queued ACQUIRE of w's owner too heavy. */
static void
conn_refused_cb(struct sem_waiter *w, void *arg)
{
	struct conn		*c = sem_owner_ctx(sem_waiter_owner(w));
	const struct sem	*s;
	uint32_t		 weight;

	s = sem_waiter_part(w, 0, &weight);
	conn_error(c, sem_waiter_id(w), PROTO_E_TOO_HEAVY, "semaphore %s was "
	    "resized to capacity %" PRIu32 ", below the weight %" PRIu32 " of "
	    "this request; it could never be granted", sem_name(s),
	    sem_capacity(s), weight);
}

/* The name of c for the log: "client 7 (pid 1, uid 0)". */
const char *
conn_name(const struct conn *c)
{
	return (c->name);
}

/*
 * Fill who with c's credentials.  The supplementary groups are asked of
 * the kernel (SO_PEERGROUPS: the groups the peer had when it connected)
 * the first time a rule needs them, else left out.  A peer whose groups
 * cannot be read is judged by uid and gid alone.
 */
void
conn_who(struct conn *c, struct rules_who *who)
{
	socklen_t	 len;
	gid_t		*g;
	int		 fd;

	if (!c->groups_known && rules_need_groups()) {
		c->groups_known = 1;
		fd = c->fd;
		len = 0;
		/* A buffer too small: ERANGE, and len says how much. */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) ==
		    -1 && errno == ERANGE && len > 0) {
			if ((g = malloc(len)) != NULL &&
			    getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g,
			    &len) == 0) {
				c->groups = g;
				c->ngroups = len / sizeof *g;
			} else {
				log_warn("%s: cannot read its groups",
				    c->name);
				free(g);
			}
		}
	}
	who->uid = c->uid;
	who->gid = c->gid;
	who->groups = c->groups;
	who->ngroups = c->ngroups;
}

/* The worker pid c said in HELLO (CMD's, for semrun), or 0. */
uint32_t
conn_worker_pid(const struct conn *c)
{
	return (c->worker_pid);
}

/*
 * Engine observation: log a grant, release, timeout, withdrawal or
 * revoke as one line of key=value pairs (log level events and up), with
 * who (uid, pid, client serial), how much and how long.  Lines with the
 * same keys in the same order, so that they are easy to grep and to
 * parse (journalctl, awk).
 */
static void
conn_observe_cb(const struct sem_obs *ob, void *arg)
{
	const struct sem_owner	*o = ob->owner;
	const struct conn	*c = sem_owner_ctx(o);
	const char		*what, *how = "";
	const char		*dur = "waited_ms";
	uint64_t		 ms = ob->waited_ms;

	if (!log_events_wanted())
		return;
	switch (ob->kind) {
	case SEM_OBS_GRANT:
		what = "grant";
		break;
	case SEM_OBS_RELEASE:
		what = "release";
		dur = "held_ms";
		ms = ob->held_ms;
		break;
	case SEM_OBS_DISCONNECT:
		what = "release";
		how = " reason=disconnect";
		dur = "held_ms";
		ms = ob->held_ms;
		break;
	case SEM_OBS_TIMEOUT:
		what = "timeout";
		if (ob->try_refused)
			how = " reason=try";
		break;
	case SEM_OBS_WITHDRAW:
		what = "withdraw";
		if (ob->disconnect)
			how = " reason=disconnect";
		break;
	case SEM_OBS_REVOKE:
		what = "revoke";
		dur = "held_ms";
		ms = ob->held_ms;
		break;
	default:
		return;
	}
	log_event("event=%s sem=%.*s uid=%" PRIu32 " pid=%" PRIu32
	    " weight=%" PRIu32 " %s=%" PRIu64 " client=%" PRIu64 "%s", what,
	    (int)sem_name_len(ob->sem), sem_name(ob->sem), sem_owner_uid(o),
	    sem_owner_pid(o), ob->weight,
	    dur, ms, c != NULL ? c->serial : 0, how);
}
