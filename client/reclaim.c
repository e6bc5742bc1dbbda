/*
 * reclaim.c -- libsemd across daemon restarts: the list of grants a
 * connection holds (kept from the replies themselves), and
 * semd_reconnect(), which connects again (with backoff, for as long as
 * the daemon's grace period plus a margin) and reclaims them.
 *
 * The list mirrors what the daemon does with each reply: ACQUIRED adds a
 * grant (with its token), RELEASED by token removes that grant, RELEASED
 * by name takes the weight off the newest grants of that name first, as
 * the daemon does (PROTOCOL.md, RELEASE).
 */

#include "config.h"

#include <sys/types.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "monoclock.h"
#include "semd-int.h"

/* Sleep ms milliseconds (a signal may cut it short). */
static void
reclaim_sleep_ms(int64_t ms)
{
	struct timespec	 ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	nanosleep(&ts, NULL);
}

/* Append a grant to the list.  Returns 0, or -1 (ENOMEM: not tracked). */
static int
reclaim_push(struct semd *sd, const char *name, uint32_t weight,
    uint64_t token)
{
	struct libsemd_held	*h;
	size_t			 cap;

	if (sd->nheld == sd->capheld) {
		cap = sd->capheld == 0 ? 4 : sd->capheld * 2;
		if ((h = realloc(sd->held, cap * sizeof *h)) == NULL)
			return (-1);
		sd->held = h;
		sd->capheld = cap;
	}
	h = &sd->held[sd->nheld++];
	memset(h, 0, sizeof *h);
	snprintf(h->name, sizeof h->name, "%s", name);
	h->weight = weight;
	h->token = token;
	return (0);
}

/* Remove entry i, keeping the order of the others. */
static void
reclaim_remove(struct semd *sd, size_t i)
{
	memmove(&sd->held[i], &sd->held[i + 1],
	    (sd->nheld - i - 1) * sizeof sd->held[0]);
	sd->nheld--;
}

/*
 * Keep the list of held grants up to date with one decoded reply (called
 * for every reply the connection takes in).  Cost: O(grants held) for a
 * release, O(1) otherwise.
 */
void
libsemd_track(struct semd *sd, const struct proto_reply *rep)
{
	uint32_t	 left, n;
	size_t		 i;

	switch (rep->op) {
	case PROTO_OP_ACQUIRED:
		(void)reclaim_push(sd, rep->sem, rep->weight, rep->token);
		break;
	case PROTO_OP_RELEASED:
		if (rep->token != 0) {
			for (i = 0; i < sd->nheld; i++) {
				if (sd->held[i].token == rep->token) {
					reclaim_remove(sd, i);
					break;
				}
			}
			break;
		}
		left = rep->weight;
		for (i = sd->nheld; i-- > 0 && left > 0;) {
			if (strcmp(sd->held[i].name, rep->sem) != 0)
				continue;
			n = sd->held[i].weight < left ? sd->held[i].weight :
			    left;
			sd->held[i].weight -= n;
			left -= n;
			if (sd->held[i].weight == 0)
				reclaim_remove(sd, i);
		}
		break;
	default:
		break;
	}
}

/*
 * Wait up to deadline (monotonic ms) for the reply with this id, writing
 * queued output meanwhile.  Returns 1 with *rep filled, 0 on timeout, -1
 * with err filled.
 */
static int
reclaim_wait(struct semd *sd, uint64_t id, int64_t deadline,
    struct proto_reply *rep, struct semd_error *err)
{
	struct pollfd	 pfd;
	int64_t		 left;
	int		 r;

	for (;;) {
		while ((r = libsemd_take(sd, rep, err)) == 1) {
			if (rep->id == id ||
			    (rep->id == 0 && rep->op == PROTO_OP_ERROR))
				return (1);
			proto_reply_free(rep);
		}
		if (r == -1 || libsemd_flush(sd, err) == -1)
			return (-1);
		if ((left = deadline - monoclock_ms()) <= 0)
			return (0);
		pfd.fd = sd->fd;
		pfd.events = POLLIN;
		if (sd->out_off < sd->out.len)
			pfd.events |= POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, left > 1000 ? 1000 : (int)left) == -1 &&
		    errno != EINTR) {
			libsemd_seterr(err, SEMD_E_SYSTEM, errno,
			    "cannot wait for semd: poll: %s", strerror(errno));
			return (-1);
		}
		if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) &&
		    libsemd_read(sd, err) == -1)
			return (-1);
	}
}

/* Drop the stream: close the fd, forget buffered bytes and the break. */
static void
reclaim_reset(struct semd *sd)
{
	if (sd->fd != -1)
		close(sd->fd);
	sd->fd = -1;
	sd->out.len = 0;
	sd->out_off = 0;
	sd->in_len = 0;
	sd->in_off = 0;
	sd->broken = 0;
	memset(&sd->broken_err, 0, sizeof sd->broken_err);
	proto_reply_free(&sd->ev_rep);
	memset(&sd->ev_rep, 0, sizeof sd->ev_rep);
}

/*
 * Connect again and say HELLO, retrying with backoff until deadline.
 * Returns 0, or -1 with err filled.
 */
static int
reclaim_connect(struct semd *sd, int64_t deadline, struct semd_error *err)
{
	struct proto_request	 req;
	struct proto_reply	 rep;
	int64_t			 backoff = 10, t0 = monoclock_ms();
	char			 last[sizeof err->message];
	int			 fd, r;

	for (;;) {
		reclaim_reset(sd);
		fd = libsemd_connect(sd->path, sd->is_default, sd->flags,
		    err);
		if (fd != -1) {
			sd->fd = fd;
			libsemd_request_init(sd, &req, PROTO_OP_HELLO, NULL);
			req.version = PROTO_VERSION;
			memcpy(req.client, sd->client, sizeof req.client);
			if (libsemd_queue(sd, &req, err) == 0 &&
			    (r = reclaim_wait(sd, req.id, deadline, &rep,
			    err)) == 1) {
				if (rep.op == PROTO_OP_HELLO) {
					sd->server_pid = rep.pid;
					sd->grace_ms = rep.grace_ms;
					memcpy(sd->server, rep.server,
					    sizeof sd->server);
					return (0);
				}
				libsemd_error_reply(&rep, err);
				proto_reply_free(&rep);
				return (-1);
			}
		}
		if (monoclock_ms() + backoff >= deadline) {
			snprintf(last, sizeof last, "%s", err->message);
			libsemd_seterr(err, SEMD_E_UNREACHABLE, 0,
			    "no semd answered at %s for %lld ms%s%s",
			    sd->path, (long long)(monoclock_ms() - t0),
			    last[0] != '\0' ? "; last: " : "", last);
			reclaim_reset(sd);
			return (-1);
		}
		reclaim_sleep_ms(backoff);
		backoff = backoff * 2 > LIBSEMD_BACKOFF_MAX_MS ?
		    LIBSEMD_BACKOFF_MAX_MS : backoff * 2;
	}
}

/* One semd_reconnect: the grants of the old connection and their fate. */
struct reclaim {
	struct libsemd_held	*old;		/* what the old one held */
	size_t			 nold;
	uint64_t		*ids;		/* the RECLAIM of each */
	char			*refused;	/* 1: that grant is lost */
	size_t			 lost;		/* how many are */
	int64_t			 deadline;	/* monotonic ms */
	char			 why[PROTO_MAX_NAME + PROTO_MAX_TEXT + 4];
};

/*
 * Start rc: take over sd's list of grants (sd holds none now), set the
 * deadline and count the grants without a token as lost.  Returns 0, or
 * -1 with err filled (ENOMEM).
 */
static int
reclaim_begin(struct semd *sd, struct reclaim *rc, struct semd_error *err)
{
	size_t	i;

	memset(rc, 0, sizeof *rc);
	if (sd->reconnect_ms >= 0)
		rc->deadline = monoclock_ms() + sd->reconnect_ms;
	else
		rc->deadline = monoclock_ms() + (int64_t)(sd->grace_ms != 0 ?
		    sd->grace_ms : LIBSEMD_DEF_GRACE_MS) +
		    LIBSEMD_RECONNECT_MARGIN_MS;

	/* What the old connection held; the replies rebuild the list. */
	rc->old = sd->held;
	rc->nold = sd->nheld;
	sd->held = NULL;
	sd->nheld = sd->capheld = 0;
	if (rc->nold > 0 &&
	    ((rc->ids = calloc(rc->nold, sizeof *rc->ids)) == NULL ||
	    (rc->refused = calloc(rc->nold, 1)) == NULL)) {
		libsemd_seterr(err, SEMD_E_SYSTEM, errno, "cannot reclaim: %s",
		    strerror(errno));
		return (-1);
	}
	for (i = 0; i < rc->nold; i++) {
		if (rc->old[i].token == 0) {
			/* An older daemon gave no token: nothing to show. */
			rc->refused[i] = 1;
			rc->lost++;
			snprintf(rc->why, sizeof rc->why, "%s has no token",
			    rc->old[i].name);
		}
	}
	return (0);
}

/* Queue a RECLAIM for each grant of rc not lost.  Returns 0 or -1. */
static int
reclaim_send(struct semd *sd, struct reclaim *rc, struct semd_error *err)
{
	struct proto_request	req;
	size_t			i;

	for (i = 0; i < rc->nold; i++) {
		if (rc->refused[i])
			continue;
		rc->ids[i] = libsemd_request_init(sd, &req, PROTO_OP_RECLAIM,
		    rc->old[i].name);
		req.weight = rc->old[i].weight;
		req.has_token = 1;
		req.token = rc->old[i].token;
		req.timeout_ms = -1;
		if (libsemd_queue(sd, &req, err) == -1)
			return (-1);
	}
	return (0);
}

/*
 * Wait for the answer to each RECLAIM of reclaim_send; a refusal marks
 * that grant lost.  Returns 0 when all are answered, 1 when the new
 * daemon died too before rc's deadline (start over), -1 with err filled.
 */
static int
reclaim_collect(struct semd *sd, struct reclaim *rc, struct semd_error *err)
{
	struct proto_reply	rep;
	size_t			i;
	int			r;

	for (i = 0; i < rc->nold; i++) {
		if (rc->refused[i])
			continue;
		r = reclaim_wait(sd, rc->ids[i], rc->deadline, &rep, err);
		if (r == -1 && err->code == SEMD_E_DISCONNECTED &&
		    monoclock_ms() < rc->deadline)
			return (1);
		if (r == -1)
			return (-1);
		if (r == 0) {
			libsemd_seterr(err, SEMD_E_UNREACHABLE, 0, "semd at %s "
			    "did not answer a reclaim in time", sd->path);
			return (-1);
		}
		if (rep.op != PROTO_OP_ACQUIRED) {
			rc->refused[i] = 1;
			rc->lost++;
			snprintf(rc->why, sizeof rc->why, "%s: %s",
			    rc->old[i].name, rep.message);
		}
		proto_reply_free(&rep);
	}
	return (0);
}

/*
 * Connect to the daemon again after the connection broke, and reclaim
 * every grant held on the old connection.  See semd.h.  Returns SEMD_OK
 * when all were reclaimed, else SEMD_ERR with err filled: SEMD_E_LOST
 * when the daemon came back but refused some (those are forgotten; the
 * others are held), SEMD_E_UNREACHABLE when it did not come back in time
 * (nothing is held).  Blocks for at most the grace period the daemon
 * announced plus LIBSEMD_RECONNECT_MARGIN_MS.
 */
int
semd_reconnect(struct semd *sd, struct semd_error *err)
{
	struct semd_error	 tmp;
	struct reclaim		 rc;
	int			 r;

	if (err == NULL)
		err = &tmp;
	memset(err, 0, sizeof *err);
	if ((r = reclaim_begin(sd, &rc, err)) == 0) {
		do {
			/*
			 * A round that broke (the new daemon died too)
			 * starts over.
			 */
			sd->nheld = 0;
			if (reclaim_connect(sd, rc.deadline, err) == -1 ||
			    reclaim_send(sd, &rc, err) == -1)
				r = -1;
			else
				r = reclaim_collect(sd, &rc, err);
		} while (r == 1);
	}
	free(rc.old);
	free(rc.ids);
	free(rc.refused);
	if (r == -1) {
		sd->nheld = 0;
		sd->broken = 1;
		sd->broken_err = *err;
		return (SEMD_ERR);
	}
	if (rc.lost == 0)
		return (SEMD_OK);
	libsemd_seterr(err, SEMD_E_LOST, 0, "semd at %s restarted and %zu "
	    "of %zu grant%s could not be reclaimed (%s)", sd->path, rc.lost,
	    rc.nold, rc.nold == 1 ? "" : "s", rc.why);
	return (SEMD_ERR);
}

/* Bound semd_reconnect to ms milliseconds (-1: the default). */
void
semd_set_reconnect_ms(struct semd *sd, int64_t ms)
{
	sd->reconnect_ms = ms < 0 ? -1 : ms;
}

/* The number of grants the connection holds, as the library knows them. */
size_t
semd_held_count(const struct semd *sd)
{
	return (sd->nheld);
}
