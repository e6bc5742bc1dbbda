/*
 * libsemd.c -- the public API of libsemd (client/semd.h): open and close a
 * connection, the blocking requests, the event-loop requests and replies.
 * The byte level is in io.c, the socket path in path.c, connecting and
 * auto-start in autostart.c.
 */

#include "config.h"

#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "semd-int.h"
#include "stdfds.h"

/* libsemd_acquire_wait: send the request again (after a reconnect). */
#define LIBSEMD_AGAIN	2

static int	 libsemd_check_name(const char *, int, struct semd_error *);
static int	 libsemd_check_timeout(int64_t, struct semd_error *);
static int	 libsemd_hello(struct semd *, const char *,
		     struct semd_error *);
static int	 libsemd_acquire_wait(struct semd *, uint64_t, const char *,
		     void (*)(uint32_t, void *), void *, int, uint64_t *,
		     struct semd_error *);
static int	 libsemd_retry(struct semd *, struct semd_error *);
static int	 libsemd_withdraw_wait(struct semd *, uint64_t, const char *,
		     struct proto_reply *, struct semd_error *);
static struct semd_status *libsemd_status_from(const struct proto_reply *);
static void	 libsemd_party_from(struct semd_party *,
		     const struct proto_party *);
static int	 libsemd_parties_from(struct semd_party **, size_t *,
		     const struct proto_party *, size_t);

/*
 * Check a semaphore name before it goes on the wire.  A NULL name is a
 * usage error unless null_ok.  Returns 0, or -1 with err filled.
 */
static int
libsemd_check_name(const char *name, int null_ok, struct semd_error *err)
{
	size_t	len;

	if (name == NULL) {
		if (null_ok)
			return (0);
		libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
		    "no semaphore name given");
		return (-1);
	}
	len = strlen(name);
	if (!proto_name_valid(name, len)) {
		libsemd_seterr(err, SEMD_E_BAD_NAME, 0,
		    "bad semaphore name \"%.*s%s\": use 1 to %d bytes of "
		    "A-Z a-z 0-9 . _ - : @ / +", len > 64 ? 64 : (int)len,
		    name, len > 64 ? "..." : "", PROTO_MAX_NAME);
		return (-1);
	}
	return (0);
}

/* Check a timeout_ms argument.  Returns 0, or -1 with err filled. */
static int
libsemd_check_timeout(int64_t timeout_ms, struct semd_error *err)
{
	if (timeout_ms < SEMD_FOREVER || timeout_ms > PROTO_MAX_TIMEOUT_MS) {
		libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
		    "bad timeout %lld ms: use -1 (forever), 0 (try) or up to "
		    "%lld ms", (long long)timeout_ms,
		    (long long)PROTO_MAX_TIMEOUT_MS);
		return (-1);
	}
	return (0);
}

/*
 * Say HELLO and wait for the daemon's HELLO; remember its pid and name.
 * Returns 0, -2 if a signal interrupted the wait, or -1 with err filled.
 */
static int
libsemd_hello(struct semd *sd, const char *client_name,
    struct semd_error *err)
{
	struct proto_request	req;
	struct proto_reply	rep;
	int			r;

	libsemd_request_init(sd, &req, PROTO_OP_HELLO, NULL);
	req.version = PROTO_VERSION;
	if (client_name != NULL) {
		strncpy(req.client, client_name, sizeof req.client - 1);
		req.client[sizeof req.client - 1] = '\0';
		memcpy(sd->client, req.client, sizeof sd->client);
	}
	if (libsemd_queue(sd, &req, err) == -1)
		return (-1);
	r = libsemd_answer(sd, req.id, LIBSEMD_OP(PROTO_OP_HELLO),
	    "semd to answer", &rep, err);
	if (r != 1)
		return (r);
	sd->server_pid = rep.pid;
	sd->grace_ms = rep.grace_ms;
	memcpy(sd->server, rep.server, sizeof sd->server);
	proto_reply_free(&rep);
	return (0);
}

/*
 * Connect to the daemon (see semd.h for how the path is chosen and when a
 * daemon is started) and exchange HELLO.  Returns a connection the caller
 * frees with semd_close, or NULL with err filled.
 */
struct semd *
semd_open(const char *path, const char *client_name, int flags,
    struct semd_error *err)
{
	struct semd		*sd;
	struct semd_error	 tmp;
	char			 buf[256];
	int			 is_default, fd, r, attempt;

	if (err == NULL)
		err = &tmp;
	memset(err, 0, sizeof *err);
	if (flags & ~(SEMD_OPEN_NO_AUTOSTART | SEMD_OPEN_RECONNECT)) {
		libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
		    "unknown semd_open flags 0x%x", (unsigned int)flags);
		return (NULL);
	}
	(void)stdfds_open();
	if (libsemd_resolve(path, buf, sizeof buf, &is_default, err) == -1)
		return (NULL);

	/*
	 * A per-user daemon may be exiting for idleness just as we connect:
	 * it then closes the connection before answering HELLO.  Try once
	 * more, which starts a new daemon if needed.
	 */
	for (attempt = 0;; attempt++) {
		fd = libsemd_connect(buf, is_default, flags, err);
		if (fd == -1)
			return (NULL);
		if ((sd = calloc(1, sizeof *sd)) == NULL ||
		    (sd->path = strdup(buf)) == NULL) {
			libsemd_seterr(err, SEMD_E_SYSTEM, errno,
			    "cannot open a connection: %s", strerror(errno));
			free(sd);
			close(fd);
			return (NULL);
		}
		sd->fd = fd;
		sd->reconnect_ms = -1;
		sd->flags = flags;
		sd->is_default = is_default;
		r = libsemd_hello(sd, client_name, err);
		if (r == 0)
			return (sd);
		if (r == -2) {
			libsemd_seterr(err, SEMD_E_INTERRUPTED, EINTR,
			    "interrupted while connecting to semd at %s", buf);
		}
		semd_close(sd);
		if (r == -1 && err->code == SEMD_E_DISCONNECTED &&
		    is_default && attempt == 0)
			continue;
		return (NULL);
	}
}

/*
 * Close the connection and free it; the daemon gives back everything it
 * held or waited for.  NULL is ignored.
 */
void
semd_close(struct semd *sd)
{
	if (sd == NULL)
		return;
	if (sd->fd != -1)
		close(sd->fd);
	proto_buf_free(&sd->out);
	proto_reply_free(&sd->ev_rep);
	free(sd->held);
	free(sd->in);
	free(sd->path);
	free(sd);
}

/* The socket path of the connection; lives as long as the connection. */
const char *
semd_path(const struct semd *sd)
{
	return (sd->path);
}

/* The pid the daemon gave in its HELLO reply (0 if it gave none). */
pid_t
semd_server_pid(const struct semd *sd)
{
	return ((pid_t)sd->server_pid);
}

/*
 * After a signal interrupted the wait for ACQUIRE id: withdraw it (TIMEOUT
 * id) and send a HELLO behind it as a barrier.  Replies come in order, so
 * once the barrier's answer is in, every reply about id is too: ACQUIRED
 * if the daemon granted before it read the withdrawal (we then hold the
 * slots), else TIMEOUT and/or NOT_PENDING.  Waiting here is not
 * interruptible; the daemon answers at once.  Returns SEMD_OK when held
 * (the ACQUIRED reply is then in *acquired when not NULL), else SEMD_ERR
 * with err filled (SEMD_E_INTERRUPTED, or what broke the connection).
 */
static int
libsemd_withdraw_wait(struct semd *sd, uint64_t id, const char *name,
    struct proto_reply *acquired, struct semd_error *err)
{
	struct proto_request	req;
	struct proto_reply	rep;
	uint64_t		barrier;
	int			held = 0;

	memset(&req, 0, sizeof req);
	req.op = PROTO_OP_TIMEOUT;
	req.id = id;
	if (libsemd_queue(sd, &req, err) == -1)
		return (SEMD_ERR);
	barrier = libsemd_request_init(sd, &req, PROTO_OP_HELLO, NULL);
	req.version = PROTO_VERSION;
	if (libsemd_queue(sd, &req, err) == -1)
		return (SEMD_ERR);

	for (;;) {
		if (libsemd_next(sd, 0, &rep, err) != 1)
			return (SEMD_ERR);
		if (rep.id == id && rep.op == PROTO_OP_ACQUIRED) {
			held = 1;
			if (acquired != NULL)
				*acquired = rep;
		}
		if (rep.id == barrier) {
			proto_reply_free(&rep);
			break;
		}
		proto_reply_free(&rep);
	}
	if (held)
		return (SEMD_OK);
	libsemd_seterr(err, SEMD_E_INTERRUPTED, EINTR,
	    "interrupted while waiting for %s; the request was withdrawn",
	    name);
	return (SEMD_ERR);
}

/*
 * Acquire weight slots of name, waiting as timeout_ms says (the daemon
 * keeps the time).  See semd.h.  Returns SEMD_OK, SEMD_TIMEDOUT or
 * SEMD_ERR with err filled.
 */
int
semd_acquire(struct semd *sd, const char *name, uint32_t capacity,
    uint32_t weight, int64_t timeout_ms,
    void (*on_queued)(uint32_t, void *), void *arg, struct semd_error *err)
{
	struct semd_grant	g;

	return (semd_acquire_h(sd, name, capacity, weight, timeout_ms,
	    on_queued, arg, &g, err));
}

/*
 * With SEMD_OPEN_RECONNECT, after err says the daemon went away:
 * reconnect and reclaim (semd_reconnect), and return 1 when the caller
 * should send its request again.  Otherwise, or when that fails, return
 * 0 with err describing why (SEMD_E_LOST: the daemon is back but some
 * grants are gone).
 */
static int
libsemd_retry(struct semd *sd, struct semd_error *err)
{
	struct semd_error	 e;

	if (!(sd->flags & SEMD_OPEN_RECONNECT) ||
	    err->code != SEMD_E_DISCONNECTED)
		return (0);
	if (semd_reconnect(sd, &e) == SEMD_OK)
		return (1);
	*err = e;
	return (0);
}

/*
 * Wait for the outcome of ACQUIRE id, the tail of semd_acquire_h and
 * semd_acquire_many: on_queued (when not NULL) is called at the first
 * QUEUED; a signal withdraws the request (libsemd_withdraw_wait, name
 * for its message).  When reconnect is set and the wait failed because
 * the daemon went away, libsemd_retry reconnects and LIBSEMD_AGAIN says
 * to send the request again.  Returns SEMD_OK with *token (when not NULL)
 * the grant's token, SEMD_TIMEDOUT (the caller words err), LIBSEMD_AGAIN,
 * or SEMD_ERR with err (not NULL) filled.
 */
static int
libsemd_acquire_wait(struct semd *sd, uint64_t id, const char *name,
    void (*on_queued)(uint32_t, void *), void *arg, int reconnect,
    uint64_t *token, struct semd_error *err)
{
	struct proto_reply	rep;
	struct semd_error	before = *err;
	int			r, queued = 0;

	for (;;) {
		r = libsemd_answer(sd, id, LIBSEMD_OP(PROTO_OP_QUEUED) |
		    LIBSEMD_OP(PROTO_OP_ACQUIRED) |
		    LIBSEMD_OP(PROTO_OP_TIMEOUT), name, &rep, err);
		if (r == -2) {
			/* The withdrawal, not the signal, says how it ended. */
			*err = before;
			r = libsemd_withdraw_wait(sd, id, name, &rep, err);
			if (r != SEMD_OK)
				return (r);
		} else if (r == -1) {
			/* Waiting at a daemon that died: ask the next one. */
			if (reconnect && libsemd_retry(sd, err))
				return (LIBSEMD_AGAIN);
			return (SEMD_ERR);
		}
		if (rep.op != PROTO_OP_QUEUED)
			break;
		if (!queued && on_queued != NULL)
			on_queued(rep.position, arg);
		queued = 1;
		proto_reply_free(&rep);
	}
	if (rep.op == PROTO_OP_ACQUIRED) {
		if (token != NULL)
			*token = rep.token;
		r = SEMD_OK;
	} else
		r = SEMD_TIMEDOUT;
	proto_reply_free(&rep);
	return (r);
}

/*
 * Acquire as semd_acquire does and describe the grant in *grant (cleared
 * first).  The ACQUIRED reply's token is read here, which is why this is
 * not a wrapper around semd_acquire.  Returns SEMD_OK, SEMD_TIMEDOUT or
 * SEMD_ERR with err filled.
 */
int
semd_acquire_h(struct semd *sd, const char *name, uint32_t capacity,
    uint32_t weight, int64_t timeout_ms,
    void (*on_queued)(uint32_t, void *), void *arg,
    struct semd_grant *grant, struct semd_error *err)
{
	struct semd_error	tmp;
	uint64_t		id;
	int			r;

	if (err == NULL)
		err = &tmp;
	memset(err, 0, sizeof *err);
	if (grant == NULL) {
		libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
		    "semd_acquire_h needs a grant to fill");
		return (SEMD_ERR);
	}
	memset(grant, 0, sizeof *grant);
	for (;;) {
		if (semd_submit_acquire(sd, &id, name, capacity, weight,
		    timeout_ms, err) == -1) {
			if (libsemd_retry(sd, err))
				continue;
			return (SEMD_ERR);
		}
		r = libsemd_acquire_wait(sd, id, name, on_queued, arg, 1,
		    &grant->token, err);
		if (r != LIBSEMD_AGAIN)
			break;
	}
	switch (r) {
	case SEMD_OK:
		snprintf(grant->name, sizeof grant->name, "%s", name);
		grant->capacity = capacity;
		grant->weight = weight == 0 ? 1 : weight;
		break;
	case SEMD_TIMEDOUT:
		libsemd_seterr(err, SEMD_E_NONE, 0,
		    "no slot of %s became free in time", name);
		break;
	}
	return (r);
}

/*
 * Acquire several semaphores at once, all or none.  See semd.h.  Waits
 * as semd_acquire_h does; *token (may be NULL) receives the grant's
 * token.  Returns SEMD_OK, SEMD_TIMEDOUT or SEMD_ERR with err filled.
 */
int
semd_acquire_many(struct semd *sd, const struct semd_want *wv, size_t n,
    int64_t timeout_ms, void (*on_queued)(uint32_t, void *), void *arg,
    uint64_t *token, struct semd_error *err)
{
	struct semd_error	tmp;
	uint64_t		id;
	int			r;

	if (err == NULL)
		err = &tmp;
	memset(err, 0, sizeof *err);
	if (token != NULL)
		*token = 0;
	if (semd_submit_acquire_many(sd, &id, wv, n, timeout_ms, err) == -1)
		return (SEMD_ERR);
	r = libsemd_acquire_wait(sd, id, wv[0].name, on_queued, arg, 0,
	    token, err);
	if (r == SEMD_TIMEDOUT)
		libsemd_seterr(err, SEMD_E_NONE, 0,
		    "no slot of %s%s became free in time", wv[0].name,
		    n > 1 ? " and the others" : "");
	return (r);
}

/*
 * Give back all of the grant token (every semaphore of it).  Waits for
 * the answer even if a signal arrives.  Returns SEMD_OK or SEMD_ERR with
 * err filled (SEMD_E_NOT_HELD when this connection holds no such grant).
 */
int
semd_release_token(struct semd *sd, uint64_t token, struct semd_error *err)
{
	struct semd_error	tmp;
	struct proto_reply	rep;
	uint64_t		id;

	if (err == NULL)
		err = &tmp;
	memset(err, 0, sizeof *err);
	if (token == 0) {
		libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
		    "semd_release_token: token 0 names no grant");
		return (SEMD_ERR);
	}
	if (semd_submit_release_token(sd, &id, token, err) == -1)
		return (SEMD_ERR);
	if (libsemd_answer(sd, id, LIBSEMD_OP(PROTO_OP_RELEASED), NULL, &rep,
	    err) != 1)
		return (SEMD_ERR);
	proto_reply_free(&rep);
	return (SEMD_OK);
}

/*
 * Give back the whole of grant, by its token (by name and weight when
 * the daemon gave none), and clear it on success.  Waits for the answer
 * even if a signal arrives.  Returns SEMD_OK or SEMD_ERR with err filled
 * (SEMD_E_NOT_HELD: this connection does not hold it; SEMD_E_USAGE: a
 * cleared or NULL grant).
 */
int
semd_release_h(struct semd *sd, struct semd_grant *grant,
    struct semd_error *err)
{
	struct semd_error	tmp;
	struct proto_reply	rep;
	uint64_t		id;
	int			r;

	if (err == NULL)
		err = &tmp;
	memset(err, 0, sizeof *err);
	if (grant == NULL || grant->weight == 0) {
		libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
		    "semd_release_h: the grant is empty (never acquired, or "
		    "already released)");
		return (SEMD_ERR);
	}
again:
	if (grant->token == 0)
		r = semd_submit_release(sd, &id, grant->name, grant->weight,
		    err);
	else
		r = semd_submit_release_token(sd, &id, grant->token, err);
	if (r == -1 || libsemd_answer(sd, id, LIBSEMD_OP(PROTO_OP_RELEASED),
	    NULL, &rep, err) != 1) {
		if (libsemd_retry(sd, err))
			goto again;
		return (SEMD_ERR);
	}
	proto_reply_free(&rep);
	memset(grant, 0, sizeof *grant);
	return (SEMD_OK);
}

/*
 * Give back weight (0: 1) slots of name held by this connection.  Waits
 * for the answer even if a signal arrives, so the caller knows whether
 * the slots were given back.  Returns SEMD_OK or SEMD_ERR with err filled
 * (SEMD_E_NOT_HELD when this connection does not hold that much).
 */
int
semd_release(struct semd *sd, const char *name, uint32_t weight,
    struct semd_error *err)
{
	struct semd_error	tmp;
	struct proto_reply	rep;
	uint64_t		id;

	if (err == NULL)
		err = &tmp;
	memset(err, 0, sizeof *err);
again:
	if (semd_submit_release(sd, &id, name, weight, err) == -1 ||
	    libsemd_answer(sd, id, LIBSEMD_OP(PROTO_OP_RELEASED), NULL, &rep,
	    err) != 1) {
		if (libsemd_retry(sd, err))
			goto again;
		return (SEMD_ERR);
	}
	proto_reply_free(&rep);
	return (SEMD_OK);
}

/* Copy one holder or waiter of a decoded STATUS. */
static void
libsemd_party_from(struct semd_party *p, const struct proto_party *pp)
{
	p->pid = (pid_t)pp->pid;
	p->uid = (uid_t)pp->uid;
	p->weight = pp->weight;
	p->ms = pp->ms;
	p->worker_pid = (pid_t)pp->worker_pid;
	if (pp->client != NULL)
		snprintf(p->client, sizeof p->client, "%s", pp->client);
	if (pp->worker_cmd != NULL)
		snprintf(p->worker_cmd, sizeof p->worker_cmd, "%s",
		    pp->worker_cmd);
	if (pp->host != NULL)
		snprintf(p->host, sizeof p->host, "%s", pp->host);
}

/*
 * Copy the n holders or waiters pp of a decoded STATUS into a new array
 * *out of *nout (left alone when n is 0).  Returns 0, or -1 (ENOMEM).
 */
static int
libsemd_parties_from(struct semd_party **out, size_t *nout,
    const struct proto_party *pp, size_t n)
{
	size_t	i;

	if (n == 0)
		return (0);
	if ((*out = calloc(n, sizeof **out)) == NULL)
		return (-1);
	*nout = n;
	for (i = 0; i < n; i++)
		libsemd_party_from(&(*out)[i], &pp[i]);
	return (0);
}

/*
 * Copy a decoded STATUS reply into a struct semd_status the caller owns.
 * Returns it, or NULL with errno ENOMEM.  Costs O(sems + parties).
 */
static struct semd_status *
libsemd_status_from(const struct proto_reply *rep)
{
	struct semd_status		*st;
	struct semd_sem_status		*s;
	const struct proto_sem_status	*ps;
	size_t				 i;

	if ((st = calloc(1, sizeof *st)) == NULL)
		return (NULL);
	st->truncated = rep->truncated;
	if (rep->nsems > 0) {
		st->sems = calloc(rep->nsems, sizeof *st->sems);
		if (st->sems == NULL)
			goto fail;
	}
	for (i = 0; i < rep->nsems; i++) {
		ps = &rep->sems[i];
		s = &st->sems[i];
		st->nsems++;
		memcpy(s->name, ps->sem, sizeof s->name);
		s->name[sizeof s->name - 1] = '\0';
		s->capacity = ps->capacity;
		s->held = ps->held;
		s->waiting = ps->waiting;
		s->declared = ps->declared;
		s->drained = ps->drained;
		s->rate = ps->rate;
		s->burst = ps->burst;
		s->next_grant_ms = ps->next_grant_ms;
		if (libsemd_parties_from(&s->holders, &s->nholders,
		    ps->holders, ps->nholders) == -1 ||
		    libsemd_parties_from(&s->waiters, &s->nwaiters,
		    ps->waiters, ps->nwaiters) == -1)
			goto fail;
	}
	return (st);

fail:
	semd_status_free(st);
	errno = ENOMEM;
	return (NULL);
}

/*
 * Ask for the state of name (NULL: every semaphore).  *out receives a
 * report the caller frees with semd_status_free.  A signal interrupting
 * the wait returns SEMD_E_INTERRUPTED (the late answer is dropped).
 * Returns SEMD_OK or SEMD_ERR with err filled.
 */
int
semd_status(struct semd *sd, const char *name, struct semd_status **out,
    struct semd_error *err)
{
	struct semd_error	tmp;
	struct semd_status	*st;

	if (err == NULL)
		err = &tmp;
	if (out != NULL)
		*out = NULL;
	st = libsemd_query(sd, PROTO_OP_STATUS, name, out != NULL, err);
	if (st == NULL)
		return (SEMD_ERR);
	*out = st;
	return (SEMD_OK);
}

/*
 * Fill the ADMIN request req (op and id set) from a.  Returns 0, or -1
 * with err filled (SEMD_E_USAGE: an unknown action; a bad name).
 */
static int
libsemd_admin_request(const struct semd_admin *a, struct proto_request *req,
    struct semd_error *err)
{
	/* The wire's action of each SEMD_ADMIN_ (which start at 1). */
	static const enum proto_admin	actions[] = { PROTO_ADMIN_NONE,
	    PROTO_ADMIN_RESIZE, PROTO_ADMIN_DRAIN, PROTO_ADMIN_UNDRAIN,
	    PROTO_ADMIN_REVOKE, PROTO_ADMIN_RELOAD, PROTO_ADMIN_LIST };

	if (a->action < SEMD_ADMIN_RESIZE || a->action > SEMD_ADMIN_LIST) {
		libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
		    "unknown administrative action %d", (int)a->action);
		return (-1);
	}
	req->action = actions[a->action];
	if (a->action == SEMD_ADMIN_RESIZE) {
		req->has_capacity = 1;
		req->capacity = a->capacity;
	}
	if (a->action == SEMD_ADMIN_DRAIN)
		req->wait = a->wait != 0;
	if (a->action == SEMD_ADMIN_REVOKE && a->has_token) {
		req->has_token = 1;
		req->token = a->token;
	} else if (a->action == SEMD_ADMIN_REVOKE) {
		req->has_pid = 1;
		req->pid = (uint32_t)a->pid;
	}
	if (a->action != SEMD_ADMIN_RELOAD && a->action != SEMD_ADMIN_LIST) {
		if (libsemd_check_name(a->name, 0, err) == -1)
			return (-1);
		req->has_sem = 1;
		req->sem_len = strlen(a->name);
		memcpy(req->sem, a->name, req->sem_len);
	}
	return (0);
}

/*
 * Send one ADMIN request and wait for its answer; see semd.h.  Events
 * for other requests that arrive meanwhile are dropped, as in the other
 * blocking calls.
 */
int
semd_admin(struct semd *sd, const struct semd_admin *a,
    struct semd_admin_result *res, struct semd_error *err)
{
	struct semd_error	tmp;
	struct proto_request	req;
	struct proto_reply	rep;
	int			r;

	if (err == NULL)
		err = &tmp;
	memset(err, 0, sizeof *err);
	if (a == NULL || res == NULL) {
		libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
		    "semd_admin needs a request and a result");
		return (SEMD_ERR);
	}
	memset(res, 0, sizeof *res);
	if (libsemd_broken(sd, err))
		return (SEMD_ERR);
	libsemd_request_init(sd, &req, PROTO_OP_ADMIN, NULL);
	if (libsemd_admin_request(a, &req, err) == -1)
		return (SEMD_ERR);
	if (libsemd_queue(sd, &req, err) == -1)
		return (SEMD_ERR);
	if (libsemd_answer(sd, req.id, LIBSEMD_OP(PROTO_OP_ADMIN),
	    "semd to answer", &rep, err) != 1)
		return (SEMD_ERR);
	snprintf(res->message, sizeof res->message, "%s", rep.message);
	res->capacity = rep.capacity;
	res->held = rep.held;
	res->waiting = rep.waiting;
	res->revoked = rep.revoked;
	r = SEMD_OK;
	if (rep.action == PROTO_ADMIN_LIST &&
	    (res->list = libsemd_status_from(&rep)) == NULL) {
		libsemd_seterr(err, SEMD_E_SYSTEM, errno,
		    "cannot store the list: %s", strerror(errno));
		r = SEMD_ERR;
	}
	proto_reply_free(&rep);
	return (r);
}

/* Free a status report and everything in it.  NULL is ignored. */
void
semd_status_free(struct semd_status *st)
{
	size_t	i;

	if (st == NULL)
		return;
	for (i = 0; i < st->nsems; i++) {
		free(st->sems[i].holders);
		free(st->sems[i].waiters);
	}
	free(st->sems);
	free(st);
}

/*
 * Check that the daemon answers: a HELLO round trip.  Returns SEMD_OK, or
 * SEMD_ERR with err filled (SEMD_E_INTERRUPTED if a signal came first).
 */
int
semd_ping(struct semd *sd, struct semd_error *err)
{
	struct semd_error	tmp;
	int			r;

	if (err == NULL)
		err = &tmp;
	memset(err, 0, sizeof *err);
	if (libsemd_broken(sd, err) ||
	    (r = libsemd_hello(sd, NULL, err)) == -1) {
		/* With SEMD_OPEN_RECONNECT a ping finds a restart. */
		if (libsemd_retry(sd, err))
			return (SEMD_OK);
		return (SEMD_ERR);
	}
	return (r == 0 ? SEMD_OK : SEMD_ERR);	/* -2: interrupted */
}

/* ---- Event-loop API ---- */

/* The connection's socket, non-blocking and close-on-exec. */
int
semd_fd(const struct semd *sd)
{
	return (sd->fd);
}

/* May c stand unquoted in a shell word? */
static int
libsemd_shell_safe(unsigned char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("_@%+=:,./-", c) != NULL);
}

/*
 * Write argv to buf (len bytes, NUL-terminated) as one command line that
 * a POSIX shell would split back into the same words: a word of safe
 * characters as it is, any other in single quotes ('' for the empty
 * word, '\'' for a quote).  A line that does not fit ends with "...".
 * Returns the length written.
 */
size_t
semd_shell_quote(char *buf, size_t len, char *const argv[])
{
	const char	*p;
	size_t		 n = 0, need, i, safe;

	if (len == 0)
		return (0);
	buf[0] = '\0';
	for (i = 0; argv != NULL && argv[i] != NULL; i++) {
		safe = argv[i][0] != '\0';
		for (p = argv[i]; *p != '\0' && safe; p++)
			safe = libsemd_shell_safe((unsigned char)*p);
		/* Worst case first, so a word is never cut in the middle. */
		need = (i > 0) + (safe ? strlen(argv[i]) : 2);
		for (p = argv[i]; !safe && *p != '\0'; p++)
			need += *p == '\'' ? 4 : 1;
		if (n + need + 4 > len) {
			if (n + 4 <= len) {
				memcpy(buf + n, "...", 4);
				n += 3;
			}
			return (n);
		}
		if (i > 0)
			buf[n++] = ' ';
		if (safe) {
			memcpy(buf + n, argv[i], strlen(argv[i]));
			n += strlen(argv[i]);
		} else {
			buf[n++] = '\'';
			for (p = argv[i]; *p != '\0'; p++) {
				if (*p == '\'') {
					memcpy(buf + n, "'\\''", 4);
					n += 4;
				} else
					buf[n++] = *p;
			}
			buf[n++] = '\'';
		}
		buf[n] = '\0';
	}
	return (n);
}

/*
 * Tell the daemon who does the work for this connection's slots: pid and
 * its argv (shell-quoted, cut to fit), for STATUS to show (semrun sends
 * it once CMD runs).  A repeated HELLO carrying worker_pid and
 * worker_cmd; the daemon's HELLO reply comes later through
 * semd_process() and may be ignored.  Queues it and writes what the
 * socket takes.  Returns 0, or -1 with err filled.
 */
int
semd_submit_worker(struct semd *sd, pid_t pid, char *const argv[],
    struct semd_error *err)
{
	struct proto_request	req;

	if (libsemd_broken(sd, err))
		return (-1);
	if (pid <= 0) {
		libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
		    "semd_submit_worker needs a pid");
		return (-1);
	}
	libsemd_request_init(sd, &req, PROTO_OP_HELLO, NULL);
	req.version = PROTO_VERSION;
	memcpy(req.client, sd->client, sizeof req.client);
	req.worker_pid = (uint32_t)pid;
	semd_shell_quote(req.worker_cmd, sizeof req.worker_cmd, argv);
	return (libsemd_send(sd, &req, NULL, err));
}

/*
 * Queue an ACQUIRE and write what the socket takes.  *id (may be NULL)
 * receives its id.  Returns 0, or -1 with err filled.
 */
int
semd_submit_acquire(struct semd *sd, uint64_t *id, const char *name,
    uint32_t capacity, uint32_t weight, int64_t timeout_ms,
    struct semd_error *err)
{
	struct proto_request	req;

	if (libsemd_broken(sd, err) ||
	    libsemd_check_name(name, 0, err) == -1 ||
	    libsemd_check_timeout(timeout_ms, err) == -1)
		return (-1);
	if (capacity > PROTO_MAX_CAPACITY || weight > PROTO_MAX_CAPACITY) {
		libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
		    "capacity and weight must be at most %u",
		    PROTO_MAX_CAPACITY);
		return (-1);
	}
	libsemd_request_init(sd, &req, PROTO_OP_ACQUIRE, name);
	req.has_capacity = capacity != 0;
	req.capacity = capacity;
	req.weight = weight == 0 ? 1 : weight;
	req.timeout_ms = timeout_ms;
	return (libsemd_send(sd, &req, id, err));
}

/*
 * Queue a RELEASE of weight (0: 1) slots of name and write what the
 * socket takes.  Returns 0, or -1 with err filled.
 */
int
semd_submit_release(struct semd *sd, uint64_t *id, const char *name,
    uint32_t weight, struct semd_error *err)
{
	struct proto_request	req;

	if (libsemd_broken(sd, err) ||
	    libsemd_check_name(name, 0, err) == -1)
		return (-1);
	if (weight > PROTO_MAX_CAPACITY) {
		libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
		    "weight must be at most %u", PROTO_MAX_CAPACITY);
		return (-1);
	}
	libsemd_request_init(sd, &req, PROTO_OP_RELEASE, name);
	req.weight = weight == 0 ? 1 : weight;
	req.timeout_ms = -1;
	return (libsemd_send(sd, &req, id, err));
}

/*
 * Queue a RELEASE of the whole grant token and write what the socket
 * takes.  Returns 0, or -1 with err filled.
 */
int
semd_submit_release_token(struct semd *sd, uint64_t *id, uint64_t token,
    struct semd_error *err)
{
	struct proto_request	req;

	if (libsemd_broken(sd, err))
		return (-1);
	if (token == 0) {
		libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
		    "token 0 names no grant");
		return (-1);
	}
	libsemd_request_init(sd, &req, PROTO_OP_RELEASE, NULL);
	req.has_token = 1;
	req.token = token;
	req.timeout_ms = -1;
	return (libsemd_send(sd, &req, id, err));
}

/*
 * Check wv[i] of an acquire of several: a good name, numbers the wire
 * takes, and no name given before it.  Returns 0, or -1 with err filled
 * (SEMD_E_USAGE, SEMD_E_BAD_NAME).
 */
static int
libsemd_check_want(const struct semd_want *wv, size_t i,
    struct semd_error *err)
{
	size_t	j;

	if (libsemd_check_name(wv[i].name, 0, err) == -1)
		return (-1);
	if (wv[i].capacity > PROTO_MAX_CAPACITY ||
	    wv[i].weight > PROTO_MAX_CAPACITY ||
	    wv[i].burst > PROTO_MAX_CAPACITY) {
		libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
		    "capacity, weight and burst must be at most %u",
		    PROTO_MAX_CAPACITY);
		return (-1);
	}
	if (wv[i].rate != 0 && !(wv[i].rate >= PROTO_MIN_RATE &&
	    wv[i].rate <= PROTO_MAX_RATE)) {
		libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
		    "a rate must be from one a day (1/86400) to %.0f per "
		    "second", PROTO_MAX_RATE);
		return (-1);
	}
	for (j = 0; j < i; j++) {
		if (strcmp(wv[i].name, wv[j].name) == 0) {
			libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
			    "semaphore %s is named twice", wv[i].name);
			return (-1);
		}
	}
	return (0);
}

/*
 * Queue an ACQUIRE of several semaphores (one: the single form, so the
 * request is the same as semd_submit_acquire's but for the rate) and
 * write what the socket takes.  Returns 0, or -1 with err filled.
 */
int
semd_submit_acquire_many(struct semd *sd, uint64_t *id,
    const struct semd_want *wv, size_t n, int64_t timeout_ms,
    struct semd_error *err)
{
	struct proto_request	 req;
	struct proto_sem_req	*e;
	size_t			 i;

	if (libsemd_broken(sd, err) ||
	    libsemd_check_timeout(timeout_ms, err) == -1)
		return (-1);
	if (wv == NULL || n == 0 || n > SEMD_MAX_SEMS) {
		libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
		    "give 1 to %d semaphores", SEMD_MAX_SEMS);
		return (-1);
	}
	memset(&req, 0, sizeof req);
	for (i = 0; i < n; i++) {
		if (libsemd_check_want(wv, i, err) == -1)
			return (-1);
		e = &req.sems[i];
		e->sem_len = strlen(wv[i].name);
		memcpy(e->sem, wv[i].name, e->sem_len + 1);
		e->has_capacity = wv[i].capacity != 0;
		e->capacity = wv[i].capacity;
		e->weight = wv[i].weight == 0 ? 1 : wv[i].weight;
		e->has_rate = wv[i].rate > 0;
		e->rate = wv[i].rate;
		e->burst = e->has_rate ? wv[i].burst : 0;
	}
	req.op = PROTO_OP_ACQUIRE;
	req.id = libsemd_new_id(sd);
	req.timeout_ms = timeout_ms;
	if (n == 1) {
		e = &req.sems[0];
		req.has_sem = 1;
		req.sem_len = e->sem_len;
		memcpy(req.sem, e->sem, e->sem_len + 1);
		req.has_capacity = e->has_capacity;
		req.capacity = e->capacity;
		req.weight = e->weight;
		req.has_rate = e->has_rate;
		req.rate = e->rate;
		req.burst = e->burst;
	} else
		req.nsems = n;
	return (libsemd_send(sd, &req, id, err));
}

/*
 * Queue the withdrawal of the pending ACQUIRE acquire_id.  The answer
 * carries acquire_id: TIMEOUT if it was withdrawn, ERROR NOT_PENDING if it
 * had already been granted or had timed out (its ACQUIRED or TIMEOUT comes
 * first).  Returns 0, or -1 with err filled.
 */
int
semd_submit_withdraw(struct semd *sd, uint64_t acquire_id,
    struct semd_error *err)
{
	struct proto_request	req;

	if (libsemd_broken(sd, err))
		return (-1);
	if (acquire_id == 0 || acquire_id > sd->next_id) {
		libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
		    "no request with id %llu was sent on this connection",
		    (unsigned long long)acquire_id);
		return (-1);
	}
	memset(&req, 0, sizeof req);
	req.op = PROTO_OP_TIMEOUT;
	req.id = acquire_id;
	req.timeout_ms = -1;
	return (libsemd_send(sd, &req, NULL, err));
}

/*
 * Queue a STATUS or STATS request (op) for name (NULL: all) and write
 * what the socket takes.  Returns 0, or -1 with err filled.
 */
int
libsemd_submit_query(struct semd *sd, enum proto_op op, uint64_t *id,
    const char *name, struct semd_error *err)
{
	struct proto_request	req;

	if (libsemd_broken(sd, err) ||
	    libsemd_check_name(name, 1, err) == -1)
		return (-1);
	libsemd_request_init(sd, &req, op, name);
	req.timeout_ms = -1;
	return (libsemd_send(sd, &req, id, err));
}

/*
 * Ask a STATUS or STATS (op) about name and wait for the answer: the
 * body of semd_status and semd_stats.  err (not NULL) is cleared first;
 * has_out says the caller was given somewhere to put the report.
 * Returns the report (a struct semd_status or semd_stats the caller
 * frees), or NULL with err filled.
 */
void *
libsemd_query(struct semd *sd, enum proto_op op, const char *name,
    int has_out, struct semd_error *err)
{
	struct proto_reply	 rep;
	const char		*call = "semd_status", *what = "the status";
	void			*out;
	uint64_t		 id;

	if (op == PROTO_OP_STATS) {
		call = "semd_stats";
		what = "the statistics";
	}
	memset(err, 0, sizeof *err);
	if (!has_out) {
		libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
		    "%s needs somewhere to put the report", call);
		return (NULL);
	}
	if (libsemd_submit_query(sd, op, &id, name, err) == -1 ||
	    libsemd_answer(sd, id, LIBSEMD_OP(op), what, &rep, err) != 1)
		return (NULL);
	if (op == PROTO_OP_STATS)
		out = libsemd_stats_from(&rep);
	else
		out = libsemd_status_from(&rep);
	if (out == NULL)
		libsemd_seterr(err, SEMD_E_SYSTEM, errno,
		    "cannot store %s: %s", what, strerror(errno));
	proto_reply_free(&rep);
	return (out);
}

/*
 * Queue a STATUS request for name (NULL: all) and write what the socket
 * takes.  Returns 0, or -1 with err filled.
 */
int
semd_submit_status(struct semd *sd, uint64_t *id, const char *name,
    struct semd_error *err)
{
	return (libsemd_submit_query(sd, PROTO_OP_STATUS, id, name, err));
}

/*
 * Write queued output without blocking.  Returns 0 when all is written or
 * the socket is full (see semd_want_write), or -1 with err filled.
 */
int
semd_flush(struct semd *sd, struct semd_error *err)
{
	return (libsemd_flush(sd, err));
}

/* Is there output waiting for the socket to become writable? */
int
semd_want_write(const struct semd *sd)
{
	return (!sd->broken && sd->out_off < sd->out.len);
}

/*
 * Fill ev from reply rep (ev->name points into rep; ev->status and
 * ev->stats are copies the caller frees).  Returns 1, 0 when rep is no
 * event, or -1 with err filled (ENOMEM).
 */
static int
libsemd_event_from(const struct proto_reply *rep, struct semd_event *ev,
    struct semd_error *err)
{
	memset(ev, 0, sizeof *ev);
	ev->id = rep->id;
	switch (rep->op) {
	case PROTO_OP_HELLO:
		ev->type = SEMD_EV_HELLO;
		return (1);
	case PROTO_OP_QUEUED:
		ev->type = SEMD_EV_QUEUED;
		ev->position = rep->position;
		return (1);
	case PROTO_OP_ACQUIRED:
	case PROTO_OP_RELEASED:
	case PROTO_OP_REVOKED:
		ev->type = rep->op == PROTO_OP_ACQUIRED ? SEMD_EV_ACQUIRED :
		    rep->op == PROTO_OP_RELEASED ? SEMD_EV_RELEASED :
		    SEMD_EV_REVOKED;
		ev->name = rep->sem;
		ev->token = rep->token;
		if (rep->op != PROTO_OP_REVOKED)
			ev->weight = rep->weight;
		return (1);
	case PROTO_OP_TIMEOUT:
		ev->type = SEMD_EV_TIMEOUT;
		return (1);
	case PROTO_OP_STATUS:
		ev->type = SEMD_EV_STATUS;
		if ((ev->status = libsemd_status_from(rep)) == NULL) {
			libsemd_seterr(err, SEMD_E_SYSTEM, errno,
			    "cannot store the status: %s", strerror(errno));
			return (-1);
		}
		return (1);
	case PROTO_OP_ERROR:
		ev->type = SEMD_EV_ERROR;
		libsemd_error_reply(rep, &ev->error);
		return (1);
	case PROTO_OP_STATS:
		ev->type = SEMD_EV_STATS;
		if ((ev->stats = libsemd_stats_from(rep)) == NULL) {
			libsemd_seterr(err, SEMD_E_SYSTEM, errno,
			    "cannot store the statistics: %s",
			    strerror(errno));
			return (-1);
		}
		return (1);
	default:
		return (0);
	}
}

/*
 * Return the next reply, reading what the socket has without blocking.
 * Returns 1 with *ev filled, 0 when no whole reply is in yet, or -1 with
 * err filled.  ev->name points into the connection and lives until the
 * next call on it; ev->status belongs to the caller.
 */
int
semd_process(struct semd *sd, struct semd_event *ev, struct semd_error *err)
{
	struct proto_reply	*rep = &sd->ev_rep;
	int			 r;

	if (ev == NULL) {
		libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
		    "semd_process needs an event to fill");
		return (-1);
	}
	proto_reply_free(rep);
	memset(rep, 0, sizeof *rep);
	for (;;) {
		r = libsemd_take(sd, rep, err);
		if (r == -1)
			return (-1);
		if (r == 1)
			break;
		r = libsemd_read(sd, err);
		if (r != 1)
			return (r);
	}

	if ((r = libsemd_event_from(rep, ev, err)) != 1)
		return (r == 0 ? libsemd_unexpected(sd, rep, err) : -1);
	if (rep->op == PROTO_OP_STATS)
		proto_reply_free(rep);
	if (rep->op == PROTO_OP_STATUS) {
		/* Copied out: the arrays are not needed any more. */
		proto_reply_free(rep);
		rep->sems = NULL;
		rep->nsems = 0;
	}
	return (1);
}

/* A short English description of an error code. */
const char *
semd_strerror(enum semd_errcode code)
{
	switch (code) {
	case SEMD_E_NONE:
		return ("no error");
#define LIBSEMD_STRERROR(name, text)					\
	case SEMD_E_##name:						\
		return (text);
	PROTO_ERRORS(LIBSEMD_STRERROR)
#undef LIBSEMD_STRERROR
	case SEMD_E_SYSTEM:
		return ("system error");
	case SEMD_E_UNREACHABLE:
		return ("daemon unreachable");
	case SEMD_E_DISCONNECTED:
		return ("daemon closed the connection");
	case SEMD_E_PROTOCOL:
		return ("protocol error");
	case SEMD_E_INTERRUPTED:
		return ("interrupted by a signal");
	case SEMD_E_USAGE:
		return ("bad argument");
	case SEMD_E_LOST:
		return ("semd restarted and a grant could not be reclaimed");
	}
	return ("unknown error");
}

/* The version of the library, e.g. "0.1.0". */
const char *
semd_version(void)
{
	return (PACKAGE_VERSION);
}
