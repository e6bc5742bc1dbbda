/*
 * stats.c -- the STATS request in libsemd: blocking (semd_stats) and
 * queued (semd_submit_stats, answered by an SEMD_EV_STATS event), and the
 * histogram helpers the tools use to read what it returns.
 */

#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "semd-int.h"

#if SEMD_HIST_BUCKETS != PROTO_HIST_BUCKETS
#error "SEMD_HIST_BUCKETS must match the protocol's PROTO_HIST_BUCKETS"
#endif

/* Copy one histogram from the wire's form. */
static void
stats_hist(struct semd_hist *dst, const struct proto_hist *src)
{
	memcpy(dst->count, src->count, sizeof dst->count);
	dst->sum_ms = src->sum_ms;
}

/*
 * Copy a decoded STATS reply into a struct semd_stats the caller owns
 * (semd_stats_free).  Returns it, or NULL with errno ENOMEM.
 * O(semaphores).
 */
struct semd_stats *
libsemd_stats_from(const struct proto_reply *rep)
{
	struct semd_stats		*st;
	struct semd_sem_stats		*d;
	const struct proto_sem_stats	*s;
	size_t				 i;

	if ((st = calloc(1, sizeof *st)) == NULL)
		return (NULL);
	st->truncated = rep->truncated;
	st->uptime_ms = rep->uptime_ms;
	st->connections = rep->connections;
	st->semaphores = rep->semaphores;
	if (rep->nstats > 0 &&
	    (st->sems = calloc(rep->nstats, sizeof *st->sems)) == NULL) {
		free(st);
		errno = ENOMEM;
		return (NULL);
	}
	st->nsems = rep->nstats;
	for (i = 0; i < rep->nstats; i++) {
		s = &rep->stats[i];
		d = &st->sems[i];
		memcpy(d->name, s->sem, sizeof d->name);
		d->name[sizeof d->name - 1] = '\0';
		d->capacity = s->capacity;
		d->held = s->held;
		d->waiting = s->waiting;
		d->grants = s->grants;
		d->timeouts = s->timeouts;
		d->withdrawals = s->withdrawals;
		d->releases = s->releases;
		d->disconnects = s->disconnects;
		d->revokes = s->revokes;
		d->max_waiting = s->max_waiting;
		d->recent_hold_ms = s->recent_hold_ms;
		stats_hist(&d->wait, &s->wait);
		stats_hist(&d->hold, &s->hold);
	}
	return (st);
}

/*
 * Queue a STATS request for name (NULL: all) and write what the socket
 * takes; the answer is an SEMD_EV_STATS event.  Returns 0, or -1 with
 * err filled.
 */
int
semd_submit_stats(struct semd *sd, uint64_t *id, const char *name,
    struct semd_error *err)
{
	return (libsemd_submit_query(sd, PROTO_OP_STATS, id, name, err));
}

/*
 * Ask for the figures of name (NULL: every semaphore) and wait for them.
 * *out receives a report the caller frees with semd_stats_free.  A daemon
 * that does not know STATS (version 1) answers UNKNOWN_OP, returned as
 * SEMD_E_UNKNOWN_OP.  A signal interrupting the wait returns
 * SEMD_E_INTERRUPTED.  Returns SEMD_OK or SEMD_ERR with err filled.
 */
int
semd_stats(struct semd *sd, const char *name, struct semd_stats **out,
    struct semd_error *err)
{
	struct semd_error	tmp;
	struct semd_stats	*st;

	if (err == NULL)
		err = &tmp;
	if (out != NULL)
		*out = NULL;
	st = libsemd_query(sd, PROTO_OP_STATS, name, out != NULL, err);
	if (st == NULL)
		return (SEMD_ERR);
	*out = st;
	return (SEMD_OK);
}

/* Free a statistics report.  NULL is ignored. */
void
semd_stats_free(struct semd_stats *st)
{
	if (st == NULL)
		return;
	free(st->sems);
	free(st);
}

/* The bucket bounds in ms, SEMD_HIST_BUCKETS - 1 of them. */
const uint32_t *
semd_hist_bounds(void)
{
	return (proto_hist_bounds_ms);
}

/* The value at quantile q of a histogram, in ms (see semd.h). */
double
semd_hist_quantile(const struct semd_hist *h, double q)
{
	return (proto_hist_quantile(h->count, q));
}
