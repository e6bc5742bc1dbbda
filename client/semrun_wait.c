/*
 * semrun_wait.c -- semrun -v while it waits: where it stands in line and
 * about how long that will take.
 *
 * The daemon says the position once, in QUEUED.  To follow it, semrun
 * asks every SEMRUN_WAIT_POLL_MS for STATUS of the semaphore (the line,
 * head first: our entry is the one with our pid) and STATS (the moving
 * average of recent hold times), on its own connection, and says a new
 * line only when the position changed.  The estimate: the weight that
 * must be given back before ours fits (held + weight ahead + ours -
 * capacity), each unit of capacity freeing once per recent hold time.
 * A guess from the past, printed as one: "about 12s".  Only with -v, so
 * plain waits cost the daemon nothing more.
 */

#include "config.h"

#include <sys/types.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "semrun_wait.h"

/*
 * The wait, in ms, before weight fits on a semaphore of capacity with
 * held given out and ahead_weight queued before it, if each unit of
 * capacity frees once per recent_hold_ms.  0 when it fits already, or
 * when nothing is known (no capacity, no hold time yet).
 */
uint64_t
semrun_wait_estimate(uint32_t capacity, uint32_t held,
    uint32_t ahead_weight, uint32_t weight, uint64_t recent_hold_ms)
{
	uint64_t	 need;

	if (capacity == 0 || recent_hold_ms == 0)
		return (0);
	need = (uint64_t)held + ahead_weight + weight;
	if (need <= capacity)
		return (0);
	need -= capacity;
	/* Round up: a wait of "one hold and a bit" is two holds' worth. */
	return ((need * recent_hold_ms + capacity - 1) / capacity);
}

/* Write ms as a short duration: 800ms, 12s, 3m04s, 2h05m. */
static void
semrun_wait_duration(uint64_t ms, char *buf, size_t len)
{
	uint64_t	 s = (ms + 500) / 1000;

	if (ms < 1000)
		snprintf(buf, len, "%" PRIu64 "ms", ms);
	else if (s < 60)
		snprintf(buf, len, "%" PRIu64 "s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60,
		    s % 60);
	else
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600,
		    (s % 3600) / 60);
}

/* Say where we stand, with an estimate when there is one. */
static void
semrun_wait_say(struct semrun_wait *sw)
{
	char		 est[32], hold[32];
	uint64_t	 ms;

	if (sw->recent_hold_ms == 0 || sw->capacity == 0) {
		fprintf(sw->out, "semrun: waiting for %s, position %" PRIu32
		    "\n", sw->name, sw->position);
		return;
	}
	ms = semrun_wait_estimate(sw->capacity, sw->held, sw->ahead_weight,
	    sw->weight, sw->recent_hold_ms);
	semrun_wait_duration(ms, est, sizeof est);
	semrun_wait_duration(sw->recent_hold_ms, hold, sizeof hold);
	fprintf(sw->out, "semrun: waiting for %s, position %" PRIu32
	    ", about %s more (recent holds take %s)\n", sw->name,
	    sw->position, est, hold);
	sw->said_estimate = 1;
}

/*
 * The request was queued at position: say so, and start following it
 * on sd (whose replies the caller hands to semrun_wait_event).
 */
void
semrun_wait_start(struct semrun_wait *sw, FILE *out, struct semd *sd,
    const char *name, uint32_t weight, uint32_t position, int64_t now_ms)
{
	memset(sw, 0, sizeof *sw);
	sw->active = 1;
	sw->out = out;
	sw->semd = sd;
	sw->name = name;
	sw->weight = weight;
	sw->position = position;
	semrun_wait_say(sw);
	/* Ask at once: the estimate needs the hold times. */
	sw->next_ms = now_ms;
}

/* How long poll may wait before semrun_wait_tick is due: -1 forever. */
int
semrun_wait_timeout(const struct semrun_wait *sw, int64_t now_ms)
{
	if (!sw->active || sw->status_id != 0 || sw->stats_id != 0)
		return (-1);
	if (sw->next_ms <= now_ms)
		return (0);
	return ((int)(sw->next_ms - now_ms));
}

/*
 * Time to look again: ask STATUS and STATS of the semaphore, unless
 * answers are still awaited.  A failure to ask stops the following (the
 * wait itself goes on; the caller sees the connection's errors).
 */
void
semrun_wait_tick(struct semrun_wait *sw, int64_t now_ms)
{
	struct semd_error	 err;

	if (!sw->active || sw->status_id != 0 || sw->stats_id != 0 ||
	    now_ms < sw->next_ms)
		return;
	if (semd_submit_status(sw->semd, &sw->status_id, sw->name,
	    &err) != SEMD_OK ||
	    semd_submit_stats(sw->semd, &sw->stats_id, sw->name,
	    &err) != SEMD_OK)
		sw->active = 0;
	sw->next_ms = now_ms + SEMRUN_WAIT_POLL_MS;
}

/* Read our place in the STATUS answer (our entry has our pid). */
static void
semrun_wait_status(struct semrun_wait *sw, const struct semd_status *st)
{
	const struct semd_sem_status	*s;
	size_t				 i;
	uint32_t			 ahead = 0;
	pid_t				 me = getpid();

	if (st == NULL || st->nsems != 1)
		return;
	s = &st->sems[0];
	sw->capacity = s->capacity;
	sw->held = s->held;
	for (i = 0; i < s->nwaiters; i++) {
		if (s->waiters[i].pid == me) {
			sw->ahead_weight = ahead;
			if (i + 1 != sw->position) {
				sw->position = (uint32_t)(i + 1);
				sw->changed = 1;
			}
			return;
		}
		ahead += s->waiters[i].weight;
	}
}

/*
 * Take ev if it answers one of our requests: returns 1 (ev is consumed,
 * its report freed), else 0 (the caller's).  After the STATS answer,
 * which comes after the STATUS one, say where we stand if the position
 * changed, or if an estimate can be given for the first time.
 */
int
semrun_wait_event(struct semrun_wait *sw, struct semd_event *ev)
{
	if (sw->status_id != 0 && ev->id == sw->status_id &&
	    (ev->type == SEMD_EV_STATUS || ev->type == SEMD_EV_ERROR)) {
		sw->status_id = 0;
		if (ev->type == SEMD_EV_STATUS) {
			if (sw->active)
				semrun_wait_status(sw, ev->status);
			semd_status_free(ev->status);
		}
		return (1);
	}
	if (sw->stats_id != 0 && ev->id == sw->stats_id &&
	    (ev->type == SEMD_EV_STATS || ev->type == SEMD_EV_ERROR)) {
		sw->stats_id = 0;
		if (ev->type == SEMD_EV_STATS) {
			if (ev->stats != NULL && ev->stats->nsems == 1)
				sw->recent_hold_ms =
				    ev->stats->sems[0].recent_hold_ms;
			semd_stats_free(ev->stats);
		}
		if (sw->active && (sw->changed ||
		    (!sw->said_estimate && sw->recent_hold_ms != 0)))
			semrun_wait_say(sw);
		sw->changed = 0;
		return (1);
	}
	return (0);
}

/* The wait is over: stop following (answers still due are dropped). */
void
semrun_wait_stop(struct semrun_wait *sw)
{
	sw->active = 0;
}
