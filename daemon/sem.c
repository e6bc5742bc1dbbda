/*
 * sem.c -- the semaphore engine: named counting semaphores with strict
 * FIFO queues, weights, deadlines and ownership.  No I/O, no clock.
 *
 * Who owns what.  The table owns every semaphore, owner, hold, grant and
 * waiter; only this file creates and frees them.  A waiter in state QUEUED
 * has each of its parts on its semaphore's queue; in state GRANTED or
 * EXPIRED it is on the table's event list (ev_entry) and its parts are on
 * no queue.  It is on its owner's waiters list until its event is
 * delivered or discarded, and in the (owner, id) hash for as long: a
 * client's id is pending until the client has been told the outcome.
 *
 * Grants never fail for want of memory: every part of a queued waiter
 * has its grant allocated (p->grant) and a spare hold put aside in the
 * table's pool (pool size == parts of queued waiters), which the grant
 * uses where the owner holds nothing yet.  So the only allocations are
 * in sem_acquire_many, before anything changes.
 *
 * Grants.  A hold is the sum of its owner's grants on one semaphore; each
 * grant (one ACQUIRE's slots there) has a token and is on its hold's
 * list and in the table's token hash.  The grants one ACQUIRE of several
 * semaphores made share one token and are linked in a ring (gnext).
 *
 * The grant rule runs on "dirty" semaphores: whatever may let a head in
 * (a release, a head leaving, a rate wake-up) marks the semaphore dirty,
 * and sem_settle() serves every dirty semaphore until none is left; a
 * grant marks every semaphore of the granted request, since each of them
 * has a new head.  Only sem_settle forgets semaphores, so a pointer to a
 * semaphore stays valid until the end of the public call that holds it.
 *
 * A semaphore with nothing held, nobody queued, no pin (an undelivered
 * event naming it) and no rate debt (its GCRA theoretical arrival time
 * passed) is forgotten.  A rated one with debt stays, with a wake-up at
 * the instant the debt is paid.
 *
 * The structures are in sem-int.h, shared with sem-check.c only (the
 * invariant checker and sem_tamper, which the grant path never calls).
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/queue.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "sem.h"
#include "sem-int.h"

#define HEAP_MIN_CAP	16

/* Put e at index i. */
static void
heap_set(struct heap *h, size_t i, struct heap_entry *e)
{
	h->v[i] = e;
	e->idx = i;
}

/* Move the entry at i up while it is due before its parent. */
static void
heap_up(struct heap *h, size_t i)
{
	struct heap_entry	*e = h->v[i];
	size_t			 parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (!heap_less(e, h->v[parent]))
			break;
		heap_set(h, i, h->v[parent]);
		i = parent;
	}
	heap_set(h, i, e);
}

/* Move the entry at i down while a child is due before it. */
static void
heap_down(struct heap *h, size_t i)
{
	struct heap_entry	*e = h->v[i];
	size_t			 child;

	for (;;) {
		child = 2 * i + 1;
		if (child >= h->len)
			break;
		if (child + 1 < h->len && heap_less(h->v[child + 1],
		    h->v[child]))
			child++;
		if (!heap_less(h->v[child], e))
			break;
		heap_set(h, i, h->v[child]);
		i = child;
	}
	heap_set(h, i, e);
}

/* Sift the entry at i (moved there, or its at_ms changed) to its place. */
static void
heap_fix(struct heap *h, size_t i)
{
	if (i > 0 && heap_less(h->v[i], h->v[(i - 1) / 2]))
		heap_up(h, i);
	else
		heap_down(h, i);
}

/* Make room for n entries in all; -1 with errno ENOMEM. */
static int
heap_reserve(struct heap *h, size_t n)
{
	struct heap_entry	**v;
	size_t			  cap;

	if (n <= h->cap)
		return (0);
	cap = h->cap == 0 ? HEAP_MIN_CAP : h->cap;
	while (cap < n)
		cap *= 2;
	if (cap > SIZE_MAX / sizeof *v ||
	    (v = realloc(h->v, cap * sizeof *v)) == NULL) {
		errno = ENOMEM;
		return (-1);
	}
	h->v = v;
	h->cap = cap;
	return (0);
}

/* Add e (at_ms and seq set); room was reserved.  O(log n). */
static void
heap_push(struct heap *h, struct heap_entry *e)
{
	h->v[h->len++] = e;
	heap_up(h, h->len - 1);
}

/* The entry due first or NULL.  O(1). */
static struct heap_entry *
heap_top(const struct heap *h)
{
	return (h->len == 0 ? NULL : h->v[0]);
}

/*
 * Remove e (it must be in): move the last entry into its slot and sift
 * it whichever way it needs to go.  Keeps the room.  O(log n).
 */
static void
heap_remove(struct heap *h, struct heap_entry *e)
{
	struct heap_entry	*last;
	size_t			 i = e->idx;

	e->idx = SIZE_MAX;
	last = h->v[--h->len];
	if (i < h->len) {
		heap_set(h, i, last);
		heap_fix(h, i);
	}
}

/*
 * Halve the array when it is a quarter full, so a burst of entries does
 * not pin memory forever (a failed shrink is harmless).
 */
static void
heap_shrink(struct heap *h)
{
	struct heap_entry	**v;

	if (h->cap > HEAP_MIN_CAP && h->len < h->cap / 4) {
		if ((v = realloc(h->v, (h->cap / 2) * sizeof *v)) != NULL) {
			h->v = v;
			h->cap /= 2;
		}
	}
}

/* Free the array. */
static void
heap_free(struct heap *h)
{
	free(h->v);
	h->v = NULL;
	h->len = h->cap = 0;
}

/* The waiter whose deadline e is. */
static struct sem_waiter *
sem_deadline_waiter(struct heap_entry *e)
{
	return ((struct sem_waiter *)(void *)((char *)e -
	    offsetof(struct sem_waiter, deadline)));
}

/* The semaphore whose wake-up e is. */
static struct sem *
sem_wake_sem(struct heap_entry *e)
{
	return ((struct sem *)(void *)((char *)e -
	    offsetof(struct sem, wake)));
}

/*
 * Hash of a semaphore by its name: computed once by sem_insert (a
 * SipHash of the name costs about as much as the rest of a grant), then
 * kept for the live and the forgotten tables and their resizes.
 */
static uint64_t
sem_hash_name(const void *elem, const void *arg)
{
	const struct sem	*s = elem;

	return (s->hv);
}

/* Hash of a hold by (owner, sem). */
static uint64_t
sem_hash_hold(const void *elem, const void *arg)
{
	const struct sem_hold	*h = elem;
	const struct sem_table	*t = arg;

	return (hash_mix2(&t->key, (uintptr_t)h->owner, (uintptr_t)h->sem));
}

/* Hash of a waiter by (owner, id). */
static uint64_t
sem_hash_id(const void *elem, const void *arg)
{
	const struct sem_waiter	*w = elem;
	const struct sem_table	*t = arg;

	return (hash_sip2(&t->key, (uintptr_t)w->owner, w->id));
}

/* Hash of a grant by token. */
static uint64_t
sem_hash_token(const void *elem, const void *arg)
{
	const struct sem_grant	*g = elem;
	const struct sem_table	*t = arg;

	return (hash_mix2(&t->key, g->token, 0));
}

/* Hash of a uid's totals by uid. */
static uint64_t
sem_hash_uid(const void *elem, const void *arg)
{
	const struct sem_uid	*u = elem;
	const struct sem_table	*t = arg;

	return (hash_mix2(&t->key, u->uid, 0));
}

/* Milliseconds from since to now (0 if the clock seems to go back). */
static uint64_t
sem_elapsed(uint64_t since, uint64_t now)
{
	return (now > since ? now - since : 0);
}

/* Count a duration in a histogram.  O(1), no allocation. */
static void
sem_hist_add(struct sem_hist *h, uint64_t ms)
{
	h->count[proto_hist_bucket(ms)]++;
	h->sum_ms += ms;
}

/*
 * Grant g of s ended at now_ms: count its hold time in the histogram, and
 * move the moving average of recent hold times an eighth of the way to
 * it.  O(1), no allocation.
 */
static void
sem_hold_time(struct sem *s, const struct sem_grant *g, uint64_t now_ms)
{
	struct sem_stats	*st = &s->stats;
	uint64_t		 held_ms = sem_elapsed(g->since_ms, now_ms);
	int64_t			 avg;

	st->hold.count[proto_hist_bucket(held_ms)]++;
	if (st->recent_hold_ms == 0)
		st->recent_hold_ms = held_ms;	/* the first (or all 0) */
	else {
		avg = (int64_t)st->recent_hold_ms;
		avg += ((int64_t)held_ms - avg) / 8;
		st->recent_hold_ms = avg < 0 ? 0 : (uint64_t)avg;
	}
	st->hold.sum_ms += held_ms;
}

/*
 * Something happened on s: count it in s's figures, then tell the
 * observer, if there is one.  how: 1 for a withdrawal by disconnect, 2
 * for a try refused, else 0.  O(1).
 */
static void
sem_observe(struct sem_table *t, enum sem_obs_kind kind, struct sem *s,
    struct sem_owner *o, uint32_t weight, uint64_t waited_ms,
    uint64_t held_ms, int how)
{
	struct sem_stats	*st = &s->stats;
	struct sem_obs		 ob;

	switch (kind) {
	case SEM_OBS_GRANT:
		st->grants++;
		sem_hist_add(&st->wait, waited_ms);
		break;
	case SEM_OBS_TIMEOUT:
		st->timeouts++;
		break;
	case SEM_OBS_WITHDRAW:
		st->withdrawals++;
		break;
	case SEM_OBS_RELEASE:
		st->releases++;
		break;
	case SEM_OBS_DISCONNECT:
		st->disconnects++;
		break;
	case SEM_OBS_REVOKE:
		st->revokes++;
		break;
	}
	if (t->cb.observe == NULL)
		return;
	memset(&ob, 0, sizeof ob);
	ob.kind = kind;
	ob.sem = s;
	ob.owner = o;
	ob.weight = weight;
	ob.waited_ms = waited_ms;
	ob.held_ms = held_ms;
	ob.disconnect = how == 1;
	ob.try_refused = how == 2;
	t->cb.observe(&ob, t->arg);
}

/* Observe kind on every semaphore of waiter w (how: see sem_observe). */
static void
sem_observe_parts(struct sem_table *t, enum sem_obs_kind kind,
    struct sem_waiter *w, uint64_t now_ms, int how)
{
	uint32_t	 i;

	for (i = 0; i < w->nparts; i++)
		sem_observe(t, kind, w->parts[i].sem, w->owner,
		    w->parts[i].weight, sem_elapsed(w->since_ms, now_ms), 0,
		    how);
}

/* Take one hold from the pool; there is one per queued waiter's part. */
static struct sem_hold *
sem_spare_take(struct sem_table *t)
{
	struct sem_hold	*h = t->spare;

	t->spare = h->hnext;
	t->nspare--;
	h->hnext = NULL;
	return (h);
}

/* A waiter left its queue without a grant: free its spare hold. */
static void
sem_spare_drop(struct sem_table *t)
{
	free(sem_spare_take(t));
}

/* Put a spare hold in the pool for a waiter about to be queued. */
static void
sem_spare_put(struct sem_table *t, struct sem_hold *h)
{
	h->hnext = t->spare;
	t->spare = h;
	t->nspare++;
}

/* Fill gi with what grant g is.  O(1).  See sem.h. */
void
sem_grant_info(const struct sem_grant *g, struct sem_grant_info *gi)
{
	gi->sem = g->hold->sem;
	gi->owner = g->hold->owner;
	gi->token = g->token;
	gi->serial = g->serial;
	gi->cookie = g->cookie;
	gi->weight = g->weight;
}

/* The next grant of g's ACQUIRE, g itself if alone.  O(1). */
struct sem_grant *
sem_grant_next(const struct sem_grant *g)
{
	return (g->gnext);
}

/* Tell hook fn (grant_weight or grant_end; may be NULL) about g. */
static void
sem_grant_tell(struct sem_table *t,
    void (*fn)(const struct sem_grant_info *, void *), struct sem_grant *g)
{
	struct sem_grant_info	 gi;

	if (fn == NULL)
		return;
	sem_grant_info(g, &gi);
	fn(&gi, t->arg);
}

/*
 * Start grant g of weight on hold h: zeroed, and at the end of first's
 * ring (it stays in the order asked), or in a ring of its own when first
 * is NULL.  Its serial, token and cookie are the caller's to set before
 * it goes on its hold's list and in the token hash.
 */
static void
sem_grant_init(struct sem_grant *g, struct sem_hold *h, uint32_t weight,
    uint64_t now_ms, struct sem_grant *first)
{
	struct sem_grant	*p;

	memset(g, 0, sizeof *g);
	g->hold = h;
	g->weight = weight;
	g->since_ms = now_ms;
	if (first == NULL) {
		g->gnext = g;
		return;
	}
	for (p = first; p->gnext != first; p = p->gnext)
		;
	g->gnext = first;
	p->gnext = g;
}

/*
 * Make grant g (allocated by the caller, not yet initialised) of weight
 * on hold h.  With first NULL it is a grant of its own (or the first of
 * several): it gets its serial and token, and the grant_new hook may
 * change them; else it joins the ring of first and takes its serial,
 * token and cookie.  Either way grant_new is told.
 */
static void
sem_grant_make(struct sem_table *t, struct sem_hold *h, struct sem_grant *g,
    uint32_t weight, uint64_t now_ms, struct sem_grant *first)
{
	struct sem_grant_info	 gi;

	sem_grant_init(g, h, weight, now_ms, first);
	if (first == NULL) {
		g->serial = t->serial++;
		g->token = g->serial;
	} else {
		g->serial = first->serial;
		g->token = first->token;
		g->cookie = first->cookie;
	}
	if (t->cb.grant_new != NULL) {
		sem_grant_info(g, &gi);
		t->cb.grant_new(&gi, t->arg);
		g->token = gi.token;
		g->cookie = gi.cookie;
	}
	TAILQ_INSERT_TAIL(&h->grants, g, hold_entry);
	hash_insert(&t->by_token, g);
}

/*
 * End grant g (its weight is already off its hold): tell, take it out of
 * its ring, unlink, free.  O(parts of its ACQUIRE).
 */
static void
sem_grant_end(struct sem_table *t, struct sem_grant *g)
{
	struct sem_grant	*p;

	sem_grant_tell(t, t->cb.grant_end, g);
	for (p = g; p->gnext != g; p = p->gnext)
		;
	p->gnext = g->gnext;
	TAILQ_REMOVE(&g->hold->grants, g, hold_entry);
	hash_remove(&t->by_token, g);
	free(g);
}

/* Link a new, empty hold h of o on s (weight 0, no grants yet). */
static void
sem_hold_link(struct sem_table *t, struct sem_hold *h, struct sem_owner *o,
    struct sem *s, uint64_t now_ms)
{
	memset(h, 0, sizeof *h);
	h->sem = s;
	h->owner = o;
	h->since_ms = now_ms;
	TAILQ_INIT(&h->grants);
	TAILQ_INSERT_TAIL(&s->holders, h, sem_entry);
	TAILQ_INSERT_TAIL(&o->holds, h, owner_entry);
	hash_insert(&t->by_hold, h);
	s->nholders++;
	o->nholds++;
	o->acct->nholds++;
}

/*
 * Add a grant g of weight to what o holds on s, creating the hold (from
 * spare, or allocated when spare is NULL) if o holds nothing there.  An
 * unused spare is freed.  g is allocated by the caller and made here (in
 * the ring of first, if not NULL).  Returns 0, or -1 with errno ENOMEM
 * (only when spare is NULL; nothing changed, g not used).
 */
static int
sem_hold_add(struct sem_table *t, struct sem_owner *o, struct sem *s,
    uint32_t weight, uint64_t now_ms, struct sem_hold *spare,
    struct sem_grant *g, struct sem_grant *first)
{
	struct sem_hold	*h;

	if ((h = sem_find_hold(t, o, s)) != NULL)
		free(spare);
	else {
		if ((h = spare) == NULL && (h = malloc(sizeof *h)) == NULL) {
			errno = ENOMEM;
			return (-1);
		}
		sem_hold_link(t, h, o, s, now_ms);
	}
	h->weight += weight;
	s->held += weight;
	sem_grant_make(t, h, g, weight, now_ms, first);
	return (0);
}

/*
 * Take weight off hold h (which has at least that), from its newest
 * grants first, ending each grant that reaches 0 (its hold time counted
 * at now_ms); free h at zero.  The caller marks the semaphore (the grant
 * rule must run).
 */
static void
sem_hold_sub(struct sem_table *t, struct sem_hold *h, uint32_t weight,
    uint64_t now_ms)
{
	struct sem		*s = h->sem;
	struct sem_grant	*g;
	uint32_t		 left = weight, n;

	while (left > 0 &&
	    (g = TAILQ_LAST(&h->grants, sem_grant_list)) != NULL) {
		n = g->weight < left ? g->weight : left;
		g->weight -= n;
		left -= n;
		if (g->weight == 0) {
			sem_hold_time(s, g, now_ms);
			sem_grant_end(t, g);
		} else
			sem_grant_tell(t, t->cb.grant_weight, g);
	}
	h->weight -= weight;
	s->held -= weight;
	if (s->held <= s->capacity)
		s->shrunk = 0;
	if (h->weight > 0)
		return;
	TAILQ_REMOVE(&s->holders, h, sem_entry);
	TAILQ_REMOVE(&h->owner->holds, h, owner_entry);
	hash_remove(&t->by_hold, h);
	s->nholders--;
	h->owner->nholds--;
	h->owner->acct->nholds--;
	free(h);
}

/* How late (ns) a grant may be decided and still count as due on time. */
#define SEM_RATE_SLACK_NS	1000000ULL

/* Nanoseconds to milliseconds, rounded up. */
static uint64_t
sem_ns_to_ms_up(uint64_t ns)
{
	return (ns / 1000000 + (ns % 1000000 != 0));
}

/* Return the earliest ms at which the rate of s allows a grant. */
uint64_t
sem_rate_next_ms(const struct sem *s, uint64_t now_ms)
{
	uint64_t	 c = sem_ns_to_ms_up(sem_conform_ns(s));

	return (c > now_ms ? c : now_ms);
}

/*
 * Ask for sem_expire at at_ms for s (a head waiting for the rate, or an
 * idle semaphore with rate debt).  Room was reserved when s was created
 * (one slot per semaphore), so this cannot fail.  O(log n).
 */
static void
sem_wake_at(struct sem_table *t, struct sem *s, uint64_t at_ms)
{
	if (s->wake.idx != SIZE_MAX) {
		if (s->wake.at_ms == at_ms)
			return;
		s->wake.at_ms = at_ms;
		heap_fix(&t->wake, s->wake.idx);
		return;
	}
	s->wake.at_ms = at_ms;
	heap_push(&t->wake, &s->wake);
}

/* Make room in the wake heap for more semaphores; -1 ENOMEM. */
static int
sem_wake_reserve(struct sem_table *t, size_t more)
{
	return (heap_reserve(&t->wake, t->nsems + more));
}

/* The grant rule must run on s (at the next sem_settle). */
static void
sem_mark(struct sem_table *t, struct sem *s)
{
	if (s->dirty)
		return;
	s->dirty = 1;
	TAILQ_INSERT_TAIL(&t->dirty, s, dirty_entry);
}

/*
 * Take a queued waiter's parts off their queues (marking those
 * semaphores) and the waiter off the deadline heap.
 */
static void
sem_unqueue(struct sem_table *t, struct sem_waiter *w)
{
	struct sem_part	*p;
	uint32_t	 i;

	for (i = 0; i < w->nparts; i++) {
		p = &w->parts[i];
		TAILQ_REMOVE(&p->sem->queue, p, sem_entry);
		p->sem->nwaiting--;
		sem_mark(t, p->sem);
	}
	if (w->deadline.idx != SIZE_MAX) {
		heap_remove(&t->deadlines, &w->deadline);
		heap_shrink(&t->deadlines);
	}
}

/* A queued waiter left without a grant: free its spare holds. */
static void
sem_spare_drop_parts(struct sem_table *t, struct sem_waiter *w)
{
	uint32_t	 i;

	for (i = 0; i < w->nparts; i++)
		sem_spare_drop(t);
}

/* Free the grants set aside for w's parts (it leaves without a grant). */
static void
sem_waiter_drop_grants(struct sem_waiter *w)
{
	uint32_t	 i;

	for (i = 0; i < w->nparts; i++) {
		free(w->parts[i].grant);
		w->parts[i].grant = NULL;
	}
}

/* Forget a waiter that is on no queue or event list, and free it. */
static void
sem_waiter_free(struct sem_table *t, struct sem_waiter *w)
{
	TAILQ_REMOVE(&w->owner->waiters, w, owner_entry);
	hash_remove(&t->by_id, w);
	w->owner->npending--;
	w->owner->acct->npending--;
	sem_waiter_drop_grants(w);
	free(w);
}

/* Queue an event about w (GRANTED or EXPIRED), pinning its semaphores. */
static void
sem_event_push(struct sem_table *t, struct sem_waiter *w,
    enum sem_waiter_state state)
{
	uint32_t	 i;

	w->state = state;
	TAILQ_INSERT_TAIL(&t->events, w, ev_entry);
	for (i = 0; i < w->nparts; i++)
		w->parts[i].sem->npinned++;
}

/* Undo sem_event_push's pins (the event was delivered or discarded). */
static void
sem_event_unpin(struct sem_table *t, struct sem_waiter *w)
{
	uint32_t	 i;

	for (i = 0; i < w->nparts; i++) {
		w->parts[i].sem->npinned--;
		sem_mark(t, w->parts[i].sem);
	}
}

/* Count one grant against the rate of s at now (ns). */
static void
sem_rate_take(struct sem *s, uint64_t now_ns)
{
	uint64_t	 c, x;

	if (s->rate <= 0)
		return;
	/*
	 * GCRA: TAT = max(TAT, t) + T, t the grant's arrival.  Our clock
	 * counts whole milliseconds and the timer fires after the instant
	 * it was set for, so a grant decided at now_ns may have been due up
	 * to SEM_RATE_SLACK_NS earlier: taking now_ns as is would push every
	 * later grant back by that much (a rate of 0.5/s would give one grant
	 * every 2.002 s).  So the arrival is taken as max(conforming instant,
	 * now - slack): no drift, and never more than burst + rate x (W +
	 * slack) grants in a window of W.
	 */
	c = sem_conform_ns(s);
	x = now_ns > SEM_RATE_SLACK_NS ? now_ns - SEM_RATE_SLACK_NS : 0;
	if (x < c)
		x = c;
	if (x > now_ns)
		x = now_ns;
	s->tat_ns = (s->tat_ns > x ? s->tat_ns : x) + s->t_ns;
}

/*
 * Try to grant the queued waiter w at now: it must be the head of every
 * one of its queues, fit every capacity and conform to every rate.  When
 * only rates hold it back, wake-ups are set for the exact instants its
 * rated semaphores conform.  On a grant every part leaves its queue (its
 * semaphore is marked: it has a new head), the holds are added from the
 * spare pool, the grant is recorded and an event queued.  Returns 1 if
 * granted, else 0.  O(parts) plus O(log n) for the heaps.
 */
static int
sem_try_grant(struct sem_table *t, struct sem_waiter *w, uint64_t now_ms)
{
	struct sem_part	*p;
	struct sem	*s;
	uint64_t	 now_ns = sem_ms_to_ns(now_ms), c;
	uint32_t	 i;
	int		 late = 0;

	for (i = 0; i < w->nparts; i++) {
		p = &w->parts[i];
		s = p->sem;
		if (TAILQ_FIRST(&s->queue) != p || s->drained)
			return (0);
		if (s->capacity != 0 && s->held + p->weight > s->capacity)
			return (0);
	}
	for (i = 0; i < w->nparts; i++) {
		s = w->parts[i].sem;
		if ((c = sem_conform_ns(s)) > now_ns) {
			sem_wake_at(t, s, sem_ns_to_ms_up(c));
			late = 1;
		}
	}
	if (late)
		return (0);

	sem_unqueue(t, w);
	for (i = 0; i < w->nparts; i++) {
		p = &w->parts[i];
		/* Cannot fail: a spare is supplied. */
		(void)sem_hold_add(t, w->owner, p->sem, p->weight, now_ms,
		    sem_spare_take(t), p->grant, i == 0 ? NULL :
		    w->parts[0].grant);
		if (i == 0)
			w->token = p->grant->token;
		sem_rate_take(p->sem, now_ns);
		sem_observe(t, SEM_OBS_GRANT, p->sem, w->owner, p->weight,
		    sem_elapsed(w->since_ms, now_ms), 0, 0);
		if (p->sem->wake.idx != SIZE_MAX)
			heap_remove(&t->wake, &p->sem->wake);
	}
	for (i = 0; i < w->nparts; i++)
		w->parts[i].grant = NULL;
	sem_event_push(t, w, SEM_W_GRANTED);
	return (1);
}

/*
 * Find the semaphore called name, whose hash is hv, in h (the live ones,
 * by_name, or the forgotten ones, by_retired), or NULL.  O(1) expected.
 */
static struct sem *
sem_find(struct hash *h, const char *name, size_t name_len, uint64_t hv)
{
	struct sem	*s;

	for (s = hash_bucket(h, hv); s != NULL; s = s->hnext) {
		if (s->name_len == name_len &&
		    memcmp(s->name, name, name_len) == 0)
			return (s);
	}
	return (NULL);
}

/* Find the forgotten semaphore of that name and name hash, or NULL. */
static struct sem *
sem_retired_find(struct sem_table *t, const char *name, size_t name_len,
    uint64_t hv)
{
	return (sem_find(&t->by_retired, name, name_len, hv));
}

/* The forgotten semaphore called name whose figures are kept, or NULL. */
struct sem *
sem_retired_lookup(struct sem_table *t, const char *name, size_t name_len)
{
	uint64_t	 hv;

	if (name_len == 0 || name_len > PROTO_MAX_NAME)
		return (NULL);
	hv = hash_sip(&t->key, name, name_len);
	return (sem_retired_find(t, name, name_len, hv));
}

/*
 * s was just forgotten (it is in no list and no hash): keep it, for its
 * figures, among the SEM_MAX_RETIRED most recently forgotten, dropping
 * the oldest beyond them; one that never granted anything is freed.  A
 * new semaphore of that name takes the figures back (sem_insert).  No
 * allocation: the struct itself is kept.  O(1) expected.
 */
static void
sem_retire(struct sem_table *t, struct sem *s)
{
	struct sem	*old;

	if (s->stats.grants == 0 && s->stats.timeouts == 0 &&
	    s->stats.withdrawals == 0) {
		free(s);
		return;
	}
	s->hnext = NULL;
	hash_insert(&t->by_retired, s);
	TAILQ_INSERT_HEAD(&t->retired, s, entry);
	if (++t->nretired <= SEM_MAX_RETIRED)
		return;
	old = TAILQ_LAST(&t->retired, sem_list);
	TAILQ_REMOVE(&t->retired, old, entry);
	hash_remove(&t->by_retired, old);
	t->nretired--;
	free(old);
}

/*
 * Free s if nothing is held, nobody waits, nothing pins it and its rate
 * has no debt at now; a rated semaphore with debt gets a wake-up for the
 * instant it is paid instead.  Only sem_settle calls this.
 */
static void
sem_forget_if_idle(struct sem_table *t, struct sem *s, uint64_t now_ms)
{
	if (s->nholders != 0 || s->nwaiting != 0 || s->npinned != 0 ||
	    s->declared || s->drained)
		return;
	if (s->rate > 0 && s->tat_ns > sem_ms_to_ns(now_ms)) {
		sem_wake_at(t, s, sem_ns_to_ms_up(s->tat_ns));
		return;
	}
	if (s->wake.idx != SIZE_MAX)
		heap_remove(&t->wake, &s->wake);
	hash_remove(&t->by_name, s);
	TAILQ_REMOVE(&t->sems, s, entry);
	t->nsems--;
	sem_retire(t, s);
}

/*
 * The grant rule, on every marked semaphore: grant its head while the
 * head's request can be granted (which marks the semaphores of that
 * request in turn), then forget it if idle.  Each semaphore is served
 * once per mark, each grant costs O(parts), so a call costs O(marks +
 * grants * parts) plus the heaps.
 */
static void
sem_settle(struct sem_table *t, uint64_t now_ms)
{
	struct sem_part	*p;
	struct sem	*s;

	if (now_ms > t->now_ms)
		t->now_ms = now_ms;
	while ((s = TAILQ_FIRST(&t->dirty)) != NULL) {
		TAILQ_REMOVE(&t->dirty, s, dirty_entry);
		s->dirty = 0;
		while ((p = TAILQ_FIRST(&s->queue)) != NULL) {
			if (!sem_try_grant(t, p->w, now_ms))
				break;
		}
		/* A grant above marked s again: serve it then. */
		if (!s->dirty)
			sem_forget_if_idle(t, s, now_ms);
	}
}

/*
 * Create an empty table; cb and arg serve sem_flush, limits may be NULL.
 * Returns NULL with errno ENOMEM.  The caller frees it with
 * sem_table_free.
 */
struct sem_table *
sem_table_new(const struct sem_callbacks *cb, void *arg,
    const struct sem_limits *limits)
{
	struct sem_table	*t;

	if ((t = calloc(1, sizeof *t)) == NULL) {
		errno = ENOMEM;
		return (NULL);
	}
	if (cb != NULL)
		t->cb = *cb;
	t->arg = arg;
	if (limits != NULL)
		t->limits = *limits;
	hash_key_init(&t->key);
	TAILQ_INIT(&t->sems);
	TAILQ_INIT(&t->retired);
	TAILQ_INIT(&t->owners);
	TAILQ_INIT(&t->events);
	TAILQ_INIT(&t->dirty);
	t->serial = 1;
	if (hash_init(&t->by_token, offsetof(struct sem_grant, hnext),
	    sem_hash_token, t) == -1)
		goto fail;
	if (hash_init(&t->by_name, offsetof(struct sem, hnext),
	    sem_hash_name, t) == -1)
		goto fail;
	if (hash_init(&t->by_retired, offsetof(struct sem, hnext),
	    sem_hash_name, t) == -1)
		goto fail;
	if (hash_init(&t->by_hold, offsetof(struct sem_hold, hnext),
	    sem_hash_hold, t) == -1)
		goto fail;
	if (hash_init(&t->by_id, offsetof(struct sem_waiter, hnext),
	    sem_hash_id, t) == -1)
		goto fail;
	if (hash_init(&t->by_uid, offsetof(struct sem_uid, hnext),
	    sem_hash_uid, t) == -1)
		goto fail;
	return (t);

fail:
	hash_free(&t->by_token);
	hash_free(&t->by_name);
	hash_free(&t->by_retired);
	hash_free(&t->by_hold);
	hash_free(&t->by_id);
	hash_free(&t->by_uid);
	free(t);
	errno = ENOMEM;
	return (NULL);
}

/*
 * Free a table with every semaphore, owner, hold and waiter in it; no
 * event is delivered.  O(everything).
 */
void
sem_table_free(struct sem_table *t)
{
	struct sem_owner	*o;
	struct sem_waiter	*w;
	struct sem_hold		*h;
	struct sem_grant	*g;
	struct sem		*s;

	if (t == NULL)
		return;
	while ((o = TAILQ_FIRST(&t->owners)) != NULL) {
		while ((w = TAILQ_FIRST(&o->waiters)) != NULL) {
			TAILQ_REMOVE(&o->waiters, w, owner_entry);
			sem_waiter_drop_grants(w);
			free(w);
		}
		while ((h = TAILQ_FIRST(&o->holds)) != NULL) {
			TAILQ_REMOVE(&o->holds, h, owner_entry);
			while ((g = TAILQ_FIRST(&h->grants)) != NULL) {
				TAILQ_REMOVE(&h->grants, g, hold_entry);
				free(g);
			}
			free(h);
		}
		TAILQ_REMOVE(&t->owners, o, entry);
		if (--o->acct->nowners == 0)
			free(o->acct);
		free(o);
	}
	while ((s = TAILQ_FIRST(&t->sems)) != NULL) {
		TAILQ_REMOVE(&t->sems, s, entry);
		free(s);
	}
	while ((s = TAILQ_FIRST(&t->retired)) != NULL) {
		TAILQ_REMOVE(&t->retired, s, entry);
		free(s);
	}
	hash_free(&t->by_retired);
	while (t->spare != NULL)
		sem_spare_drop(t);
	heap_free(&t->deadlines);
	heap_free(&t->wake);
	hash_free(&t->by_token);
	hash_free(&t->by_name);
	hash_free(&t->by_hold);
	hash_free(&t->by_id);
	hash_free(&t->by_uid);
	free(t);
}

/* Set the serial of the next grant (0 is made 1). */
void
sem_table_set_serial(struct sem_table *t, uint64_t next)
{
	t->serial = next == 0 ? 1 : next;
}

/* Return the serial of the next grant. */
uint64_t
sem_table_next_serial(struct sem_table *t)
{
	return (t->serial);
}

/* Return a live grant with this token, or NULL.  O(1) expected. */
struct sem_grant *
sem_grant_lookup(struct sem_table *t, uint64_t token)
{
	struct sem_grant	*g;
	uint64_t		 hv;

	hv = hash_mix2(&t->key, token, 0);
	for (g = hash_bucket(&t->by_token, hv); g != NULL; g = g->hnext) {
		if (g->token == token)
			return (g);
	}
	return (NULL);
}

/* How many owners (connections) uid has now.  O(1). */
uint32_t
sem_uid_owners(struct sem_table *t, uint32_t uid)
{
	struct sem_uid	*u;

	u = sem_find_uid(t, uid);
	return (u != NULL ? u->nowners : 0);
}

/*
 * Create an owner for one client (ctx is the caller's, pid and uid are
 * shown by STATUS), sharing the totals of its uid with the other owners
 * of that uid (created with the first of them).  Returns NULL with errno
 * ENOMEM.  Freed by sem_owner_drop or sem_table_free.  O(1) expected.
 */
struct sem_owner *
sem_owner_new(struct sem_table *t, void *ctx, uint32_t pid, uint32_t uid)
{
	struct sem_owner	*o;
	struct sem_uid		*u;

	if ((o = calloc(1, sizeof *o)) == NULL) {
		errno = ENOMEM;
		return (NULL);
	}
	if ((u = sem_find_uid(t, uid)) == NULL) {
		if ((u = calloc(1, sizeof *u)) == NULL) {
			free(o);
			errno = ENOMEM;
			return (NULL);
		}
		u->uid = uid;
		hash_insert(&t->by_uid, u);
	}
	u->nowners++;
	o->acct = u;
	o->table = t;
	o->ctx = ctx;
	o->pid = pid;
	o->uid = uid;
	TAILQ_INIT(&o->holds);
	TAILQ_INIT(&o->waiters);
	TAILQ_INSERT_TAIL(&t->owners, o, entry);
	t->nowners++;
	return (o);
}

/*
 * Drop an owner: its waiters leave their queues, its undelivered events
 * are discarded, its holds and grants are released, then the grant rule
 * runs where that frees room, idle semaphores are forgotten, and the
 * owner is freed.
 *
 * Everything of the owner is taken out before the grant rule runs, so
 * that releasing its holds cannot grant one of its own waiters; the
 * semaphores touched are only marked, and forgotten by sem_settle at the
 * end, so none is freed while a pointer to it is still in use here.
 * Cost: O(holds + grants + waiters of this owner), plus the grants it
 * causes.
 */
void
sem_owner_drop(struct sem_owner *o, uint64_t now_ms)
{
	struct sem_table	*t = o->table;
	struct sem_waiter	*w;
	struct sem_hold		*h;
	struct sem		*s;

	while ((w = TAILQ_FIRST(&o->waiters)) != NULL) {
		if (w->state == SEM_W_QUEUED) {
			sem_unqueue(t, w);
			sem_spare_drop_parts(t, w);
			sem_observe_parts(t, SEM_OBS_WITHDRAW, w, now_ms, 1);
		} else {
			TAILQ_REMOVE(&t->events, w, ev_entry);
			sem_event_unpin(t, w);
		}
		sem_waiter_free(t, w);
	}
	while ((h = TAILQ_FIRST(&o->holds)) != NULL) {
		s = h->sem;
		sem_observe(t, SEM_OBS_DISCONNECT, s, o, h->weight, 0,
		    sem_elapsed(h->since_ms, now_ms), 0);
		sem_hold_sub(t, h, h->weight, now_ms);
		sem_mark(t, s);
	}
	TAILQ_REMOVE(&t->owners, o, entry);
	t->nowners--;
	if (--o->acct->nowners == 0) {
		hash_remove(&t->by_uid, o->acct);
		free(o->acct);
	}
	free(o);
	sem_settle(t, now_ms);
}

/* Fill *res with an error and return 0: sem_acquire's error exit. */
static int
sem_acquire_error(struct sem_acq_result *res, enum proto_err code)
{
	res->status = SEM_ACQ_ERROR;
	res->code = code;
	return (0);
}

/* Fill *res with LIMIT naming which, and return 0. */
static int
sem_acquire_limit(struct sem_acq_result *res, enum sem_limit which)
{
	res->limit = which;
	return (sem_acquire_error(res, PROTO_E_LIMIT));
}

/*
 * Ask for weight on one name for owner o: sem_acquire_many with one want.
 * See sem.h.
 */
int
sem_acquire(struct sem_owner *o, const struct sem_request *req,
    uint64_t now_ms, struct sem_acq_result *res)
{
	struct sem_want	 want = {
		.name = req->name,
		.name_len = req->name_len,
		.has_capacity = req->has_capacity,
		.capacity = req->capacity,
		.weight = req->weight,
	};

	return (sem_acquire_many(o, req->id, &want, 1, req->timeout_ms,
	    now_ms, res));
}

/* The emission interval of a rate, in ns (at least 1). */
static uint64_t
sem_rate_interval(double rate)
{
	double	 ns = 1e9 / rate;

	if (!(ns >= 1))
		return (1);
	if (ns >= 1.8e19)
		return (UINT64_MAX / 2);
	return ((uint64_t)(ns + 0.5));
}

/*
 * Check one want against the semaphore it names (s, NULL if new): the
 * declaration and the weight.  Returns PROTO_OK or the error, with
 * res->capacity or res->rate/burst set for a mismatch.
 */
static enum proto_err
sem_want_check(const struct sem_want *wt, const struct sem *s,
    struct sem_acq_result *res)
{
	uint32_t	 burst = wt->burst == 0 ? 1 : wt->burst;

	if (wt->name_len == 0 || wt->name_len > PROTO_MAX_NAME)
		return (PROTO_E_BAD_NAME);
	if (wt->has_rate && !(wt->rate >= PROTO_MIN_RATE &&
	    wt->rate <= PROTO_MAX_RATE))
		return (PROTO_E_BAD_REQUEST);
	/* Capacity 0 bounds nothing only with a rate; else nothing fits. */
	if (wt->has_capacity && wt->capacity == 0 && !wt->has_rate)
		return (PROTO_E_TOO_HEAVY);
	if (s == NULL) {
		if (!wt->has_capacity && !wt->has_rate)
			return (PROTO_E_NO_CAPACITY);
		if (wt->weight == 0 || (wt->has_capacity &&
		    wt->capacity != 0 && wt->weight > wt->capacity))
			return (PROTO_E_TOO_HEAVY);
		return (PROTO_OK);
	}
	if (wt->has_capacity && wt->capacity != s->capacity) {
		res->capacity = s->capacity;
		return (PROTO_E_CAPACITY_MISMATCH);
	}
	if (wt->has_rate && (wt->rate != s->rate || burst != s->burst)) {
		res->capacity = s->capacity;
		res->rate = s->rate;
		res->burst = s->burst;
		return (PROTO_E_RATE_MISMATCH);
	}
	if (wt->weight == 0 || (s->capacity != 0 && wt->weight > s->capacity))
		return (PROTO_E_TOO_HEAVY);
	return (PROTO_OK);
}

/* Make a new semaphore from want wt (not yet in the table), or NULL. */
static struct sem *
sem_new(const struct sem_want *wt)
{
	struct sem	*s;

	if ((s = calloc(1, sizeof *s)) == NULL) {
		errno = ENOMEM;
		return (NULL);
	}
	memcpy(s->name, wt->name, wt->name_len);
	s->name[wt->name_len] = '\0';
	s->name_len = wt->name_len;
	s->capacity = wt->has_capacity ? wt->capacity : 0;
	if (wt->has_rate) {
		s->rate = wt->rate;
		s->burst = wt->burst == 0 ? 1 : wt->burst;
		s->t_ns = sem_rate_interval(wt->rate);
	}
	s->wake.idx = SIZE_MAX;
	TAILQ_INIT(&s->queue);
	TAILQ_INIT(&s->holders);
	return (s);
}

/*
 * Put a semaphore made by sem_new, its hash hv already set, into the
 * table.
 */
static void
sem_insert_hashed(struct sem_table *t, struct sem *s)
{
	struct sem	*old;

	/* Its figures, if one of that name was forgotten not long ago. */
	if (t->nretired > 0 && (old = sem_retired_find(t, s->name,
	    s->name_len, s->hv)) != NULL) {
		s->stats = old->stats;
		TAILQ_REMOVE(&t->retired, old, entry);
		hash_remove(&t->by_retired, old);
		t->nretired--;
		free(old);
	}
	hash_insert(&t->by_name, s);
	TAILQ_INSERT_TAIL(&t->sems, s, entry);
	t->nsems++;
}

/* Put a semaphore made by sem_new into the table. */
static void
sem_insert(struct sem_table *t, struct sem *s)
{
	s->hv = hash_sip(&t->key, s->name, s->name_len);
	sem_insert_hashed(t, s);
}

/*
 * sem_lookup(), also setting *hvp to the name's hash (0 for a name no
 * semaphore can have), for sem_insert_hashed() to reuse.
 */
static struct sem *
sem_lookup_hv(struct sem_table *t, const char *name, size_t name_len,
    uint64_t *hvp)
{
	*hvp = 0;
	if (name_len == 0 || name_len > PROTO_MAX_NAME)
		return (NULL);
	*hvp = hash_sip(&t->key, name, name_len);
	return (sem_find(&t->by_name, name, name_len, *hvp));
}

/*
 * What sem_acquire_many will do, worked out before anything changes:
 * the semaphores the wants name (NULL until made: to be created), the
 * memory a grant or a wait needs, and whether it is granted at once.
 */
struct sem_plan {
	const struct sem_want	*wv;
	size_t			 n;
	struct sem		*sv[SEM_MAX_PARTS];
	struct sem_hold		*holds[SEM_MAX_PARTS];
	struct sem_grant	*grants[SEM_MAX_PARTS];
	uint64_t		 hv[SEM_MAX_PARTS];	/* hashes of the names */
	int			 made[SEM_MAX_PARTS];	/* sv[i] is new */
	struct sem_waiter	*w;		/* to queue, if not now_ok */
	uint32_t		 ncreate;	/* semaphores to create */
	uint32_t		 nnew;		/* semaphores o does not hold */
	int			 now_ok;	/* every part fits now */
};

/*
 * Does some name stand twice among the n wants?  Sets res->index to the
 * second one.  O(n^2) for n <= SEM_MAX_PARTS.
 */
static int
sem_wants_repeat(const struct sem_want *wv, size_t n,
    struct sem_acq_result *res)
{
	size_t	 i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++) {
			if (wv[i].name_len == wv[j].name_len &&
			    memcmp(wv[i].name, wv[j].name,
			    wv[i].name_len) == 0) {
				res->index = i;
				return (1);
			}
		}
	}
	return (0);
}

/*
 * Start the plan for its n wants (wv set): look up the semaphore of each
 * want (NULL: to be created), check the want against it
 * (sem_want_check), count what it would create and newly hold, and see
 * whether the grant rule for a newcomer (only into empty queues, within
 * capacity and rate) lets every part in now.  Returns PROTO_OK or the
 * first want's error (res->index says which).
 */
static enum proto_err
sem_plan_look(struct sem_table *t, struct sem_owner *o, struct sem_plan *pl,
    uint64_t now_ns, struct sem_acq_result *res)
{
	const struct sem_want	*wt;
	struct sem		*s;
	enum proto_err		 e;
	size_t			 i;

	pl->w = NULL;
	pl->ncreate = pl->nnew = 0;
	pl->now_ok = 1;
	for (i = 0; i < pl->n; i++) {
		wt = &pl->wv[i];
		s = sem_lookup_hv(t, wt->name, wt->name_len, &pl->hv[i]);
		if ((e = sem_want_check(wt, s, res)) != PROTO_OK) {
			res->index = i;
			return (e);
		}
		pl->sv[i] = s;
		pl->made[i] = 0;
		pl->holds[i] = NULL;
		pl->grants[i] = NULL;
		if (s == NULL) {
			pl->ncreate++;
			pl->nnew++;
			continue;
		}
		if (sem_find_hold(t, o, s) == NULL)
			pl->nnew++;
		if (!TAILQ_EMPTY(&s->queue) || s->drained || (s->capacity != 0 &&
		    s->held + wt->weight > s->capacity) ||
		    sem_conform_ns(s) > now_ns)
			pl->now_ok = 0;
	}
	return (PROTO_OK);
}

/*
 * The first limit the plan would cross: max_sems (semaphores created),
 * max_holds and max_holds_per_uid (semaphores newly held); with queue
 * set, then max_pending and max_pending_per_uid.  SEM_LIMIT_NONE if none.
 */
static enum sem_limit
sem_plan_limit(const struct sem_table *t, const struct sem_owner *o,
    const struct sem_plan *pl, int queue)
{
	const struct sem_limits	*lim = &t->limits;

	if (pl->ncreate > 0 && lim->max_sems != 0 &&
	    t->nsems + pl->ncreate > lim->max_sems)
		return (SEM_LIMIT_SEMS);
	if (pl->nnew > 0 && lim->max_holds != 0 &&
	    o->nholds + pl->nnew > lim->max_holds)
		return (SEM_LIMIT_HOLDS);
	if (pl->nnew > 0 && lim->max_holds_per_uid != 0 &&
	    o->acct->nholds + pl->nnew > lim->max_holds_per_uid)
		return (SEM_LIMIT_UID_HOLDS);
	if (!queue)
		return (SEM_LIMIT_NONE);
	if (lim->max_pending != 0 && o->npending >= lim->max_pending)
		return (SEM_LIMIT_PENDING);
	if (lim->max_pending_per_uid != 0 &&
	    o->acct->npending >= lim->max_pending_per_uid)
		return (SEM_LIMIT_UID_PENDING);
	return (SEM_LIMIT_NONE);
}

/*
 * Allocate everything the plan needs: room in the wake heap for the new
 * semaphores, and in the deadline heap for a deadline; the waiter if it
 * queues; a spare hold and a grant for each part; the new semaphores
 * (not yet in the table).  Returns 0, or -1 with errno ENOMEM and the
 * plan's allocations freed (the heaps keep their room).
 */
static int
sem_plan_alloc(struct sem_table *t, struct sem_plan *pl, int64_t timeout_ms)
{
	struct sem_waiter	*w;
	size_t			 i;

	if (sem_wake_reserve(t, pl->ncreate) == -1)
		return (-1);
	if (!pl->now_ok && timeout_ms > 0 &&
	    heap_reserve(&t->deadlines, t->deadlines.len + 1) == -1)
		return (-1);
	if (!pl->now_ok && (pl->w = calloc(1, sizeof *w +
	    pl->n * sizeof w->parts[0])) == NULL)
		goto nomem;
	for (i = 0; i < pl->n; i++) {
		if ((pl->holds[i] = malloc(sizeof *pl->holds[i])) == NULL ||
		    (pl->grants[i] = malloc(sizeof *pl->grants[i])) == NULL)
			goto nomem;
		if (pl->sv[i] == NULL) {
			if ((pl->sv[i] = sem_new(&pl->wv[i])) == NULL)
				goto nomem;
			pl->made[i] = 1;
		}
	}
	return (0);

nomem:
	for (i = 0; i < pl->n; i++) {
		free(pl->holds[i]);
		free(pl->grants[i]);
		if (pl->made[i])
			free(pl->sv[i]);
	}
	free(pl->w);
	errno = ENOMEM;
	return (-1);
}

/*
 * Queue the plan's waiter for o on every semaphore (they are in the
 * table), with its deadline if timeout_ms > 0, and set the wake-ups of
 * the rates that hold it back.  Never grants.  Returns its position: the
 * longest of its queues.
 */
static uint32_t
sem_plan_queue(struct sem_table *t, struct sem_owner *o, struct sem_plan *pl,
    uint64_t id, int64_t timeout_ms, uint64_t now_ms)
{
	struct sem_waiter	*w = pl->w;
	struct sem		*s;
	uint32_t		 pos = 0;
	size_t			 i;

	w->owner = o;
	w->id = id;
	w->state = SEM_W_QUEUED;
	w->since_ms = now_ms;
	w->seq = t->seq++;
	w->deadline.seq = w->seq;
	w->deadline.idx = SIZE_MAX;
	w->nparts = (uint32_t)pl->n;
	w->sem = pl->sv[0];
	w->weight = pl->wv[0].weight;
	for (i = 0; i < pl->n; i++) {
		s = pl->sv[i];
		w->parts[i].sem = s;
		w->parts[i].w = w;
		w->parts[i].weight = pl->wv[i].weight;
		w->parts[i].grant = pl->grants[i];
		TAILQ_INSERT_TAIL(&s->queue, &w->parts[i], sem_entry);
		s->nwaiting++;
		if (s->nwaiting > s->stats.max_waiting)
			s->stats.max_waiting = s->nwaiting;
		if (s->nwaiting > pos)
			pos = s->nwaiting;
		sem_spare_put(t, pl->holds[i]);
	}
	TAILQ_INSERT_TAIL(&o->waiters, w, owner_entry);
	o->npending++;
	o->acct->npending++;
	hash_insert(&t->by_id, w);
	if (timeout_ms > 0) {
		if ((uint64_t)timeout_ms > UINT64_MAX - now_ms)
			w->deadline.at_ms = UINT64_MAX;
		else
			w->deadline.at_ms = now_ms + (uint64_t)timeout_ms;
		heap_push(&t->deadlines, &w->deadline);
	}
	/* Held back by rates only: set the wake-ups.  Never grants here. */
	(void)sem_try_grant(t, w, now_ms);
	return (pos);
}

/*
 * Ask for several semaphores at once for owner o, request id; see sem.h.
 *
 * Checks, in order: BAD_REQUEST for n outside 1..SEM_MAX_PARTS or a name
 * given twice; DUPLICATE_ID; for each want in turn BAD_NAME, BAD_REQUEST
 * (a rate out of range), NO_CAPACITY, TOO_HEAVY (capacity 0, no rate),
 * CAPACITY_MISMATCH, RATE_MISMATCH, TOO_HEAVY (res->index says which
 * want); LIMIT for max_sems (semaphores it would create), max_holds and
 * max_holds_per_uid (semaphores it would newly hold), and max_pending
 * and max_pending_per_uid when it would be queued.  The hold limits are
 * checked when the request arrives: a queued request is granted in its
 * turn even if its owner has reached them meanwhile.
 *
 * Everything that may fail to allocate is allocated before anything
 * changes.  Returns 0, or -1 with errno ENOMEM (nothing changed).
 */
int
sem_acquire_many(struct sem_owner *o, uint64_t id,
    const struct sem_want *wv, size_t n, int64_t timeout_ms,
    uint64_t now_ms, struct sem_acq_result *res)
{
	struct sem_table	*t = o->table;
	struct sem_plan		 pl;
	enum proto_err		 e;
	enum sem_limit		 lim;
	uint64_t		 now_ns = sem_ms_to_ns(now_ms);
	size_t			 i;

	memset(res, 0, sizeof *res);
	res->code = PROTO_OK;
	if (now_ms > t->now_ms)
		t->now_ms = now_ms;

	if (n == 0 || n > SEM_MAX_PARTS || sem_wants_repeat(wv, n, res))
		return (sem_acquire_error(res, PROTO_E_BAD_REQUEST));
	if (sem_find_waiter(t, o, id) != NULL)
		return (sem_acquire_error(res, PROTO_E_DUPLICATE_ID));
	pl.wv = wv;
	pl.n = n;
	if ((e = sem_plan_look(t, o, &pl, now_ns, res)) != PROTO_OK)
		return (sem_acquire_error(res, e));
	if ((lim = sem_plan_limit(t, o, &pl, 0)) != SEM_LIMIT_NONE)
		return (sem_acquire_limit(res, lim));
	if (!pl.now_ok && timeout_ms == 0) {
		/* Only semaphores that exist can count it. */
		for (i = 0; i < n; i++) {
			if (pl.sv[i] != NULL)
				sem_observe(t, SEM_OBS_TIMEOUT, pl.sv[i], o,
				    wv[i].weight, 0, 0, 2);
		}
		res->status = SEM_ACQ_BUSY;
		return (0);
	}
	if (!pl.now_ok &&
	    (lim = sem_plan_limit(t, o, &pl, 1)) != SEM_LIMIT_NONE)
		return (sem_acquire_limit(res, lim));

	/* Allocate everything; nothing has changed yet. */
	if (sem_plan_alloc(t, &pl, timeout_ms) == -1)
		return (-1);

	/* Commit. */
	for (i = 0; i < n; i++) {
		if (pl.made[i] && pl.sv[i]->name_len != 0) {
			pl.sv[i]->hv = pl.hv[i];
			sem_insert_hashed(t, pl.sv[i]);
		}
	}
	if (!pl.now_ok) {
		res->status = SEM_ACQ_QUEUED;
		res->position = sem_plan_queue(t, o, &pl, id, timeout_ms,
		    now_ms);
		return (0);
	}
	for (i = 0; i < n; i++) {
		/* Cannot fail: a spare is supplied. */
		(void)sem_hold_add(t, o, pl.sv[i], wv[i].weight, now_ms,
		    pl.holds[i], pl.grants[i], i == 0 ? NULL : pl.grants[0]);
		sem_rate_take(pl.sv[i], now_ns);
		sem_observe(t, SEM_OBS_GRANT, pl.sv[i], o, wv[i].weight, 0, 0,
		    0);
	}
	res->status = SEM_ACQ_GRANTED;
	res->token = pl.grants[0]->token;
	return (0);
}

/*
 * Give back weight on name from what o holds there (from its newest
 * grants first), then run the grant rule (granted events are queued for
 * sem_flush) and forget the semaphore if it went idle.  Returns PROTO_OK,
 * or PROTO_E_NOT_HELD when o holds nothing there or less than weight
 * (nothing changes).  A weight of 0 on a semaphore o holds is an
 * accepted no-op.  O(grants ended) plus the grants it causes.
 */
enum proto_err
sem_release(struct sem_owner *o, const char *name, size_t name_len,
    uint32_t weight, uint64_t now_ms)
{
	struct sem_table	*t = o->table;
	struct sem		*s;
	struct sem_hold		*h;
	struct sem_grant	*g;

	if ((s = sem_lookup(t, name, name_len)) == NULL)
		return (PROTO_E_NOT_HELD);
	if ((h = sem_find_hold(t, o, s)) == NULL || h->weight < weight)
		return (PROTO_E_NOT_HELD);
	if (weight == 0)
		return (PROTO_OK);
	/* The newest grant goes first: its age is how long this was held. */
	g = TAILQ_LAST(&h->grants, sem_grant_list);
	sem_observe(t, SEM_OBS_RELEASE, s, o, weight, 0,
	    sem_elapsed(g != NULL ? g->since_ms : h->since_ms, now_ms), 0);
	sem_hold_sub(t, h, weight, now_ms);
	sem_mark(t, s);
	sem_settle(t, now_ms);
	return (PROTO_OK);
}

/* Unlink and free hold h, whose weight is 0 and which has no grants. */
static void
sem_hold_unlink(struct sem_table *t, struct sem_hold *h)
{
	TAILQ_REMOVE(&h->sem->holders, h, sem_entry);
	TAILQ_REMOVE(&h->owner->holds, h, owner_entry);
	hash_remove(&t->by_hold, h);
	h->sem->nholders--;
	h->owner->nholds--;
	h->owner->acct->nholds--;
	free(h);
}

/*
 * The ring an adopted grant of o with token and serial on name joins:
 * in *first the grant already adopted with that token, or NULL.  Returns
 * 0, or -1 with errno EEXIST when the token is live for another owner,
 * with another serial, or already on that semaphore.  O(parts).
 */
static int
sem_adopt_ring(struct sem_table *t, struct sem_owner *o, const char *name,
    size_t name_len, uint64_t token, uint64_t serial,
    struct sem_grant **first)
{
	struct sem_grant	*p;

	if ((*first = sem_grant_lookup(t, token)) == NULL)
		return (0);
	if ((*first)->hold->owner != o || (*first)->serial != serial) {
		errno = EEXIST;
		return (-1);
	}
	p = *first;
	do {
		if (p->hold->sem->name_len == name_len &&
		    memcmp(p->hold->sem->name, name, name_len) == 0) {
			errno = EEXIST;
			return (-1);
		}
		p = p->gnext;
	} while (p != *first);
	return (0);
}

/*
 * Give o a grant an earlier daemon made: weight on name with this token,
 * serial and cookie, made as is (the grant_new hook is not called: the
 * grant is already on record).  A grant of o with the same token already
 * adopted makes this one a part of the same ACQUIRE (its ring).  The
 * semaphore is created with capacity, rate and burst if it does not
 * exist; if it exists (declared by the configuration, or by an earlier
 * record) and held + weight passes its capacity, it is over capacity as
 * after a shrinking resize: nothing is granted there until enough is
 * given back.  No limit applies and no queue is looked at: these slots
 * were held before anyone now waiting arrived.  Later serials go on after
 * this one.  Returns 0, or -1 with errno EEXIST (the token is live for
 * another owner, or with another serial, or on this semaphore), EINVAL
 * (a name, capacity, rate or weight out of range) or ENOMEM; nothing
 * changes then.
 */
int
sem_adopt(struct sem_owner *o, const char *name, size_t name_len,
    uint32_t capacity, double rate, uint32_t burst, uint32_t weight,
    uint64_t token, uint64_t serial, uint64_t cookie, uint64_t now_ms)
{
	struct sem_table	*t = o->table;
	struct sem		*s;
	struct sem_hold		*h, *nh = NULL;
	struct sem_grant	*g, *first;
	int			 created = 0;

	if (name_len == 0 || name_len > PROTO_MAX_NAME ||
	    capacity > PROTO_MAX_CAPACITY || !(rate >= 0) ||
	    (capacity == 0 && rate == 0) || weight == 0 ||
	    weight > PROTO_MAX_CAPACITY || token == 0 || serial == 0) {
		errno = EINVAL;
		return (-1);
	}
	if (sem_adopt_ring(t, o, name, name_len, token, serial, &first) == -1)
		return (-1);
	if ((g = malloc(sizeof *g)) == NULL) {
		errno = ENOMEM;
		return (-1);
	}
	if ((s = sem_lookup(t, name, name_len)) == NULL) {
		if ((s = sem_new(&(struct sem_want){ .name = name,
		    .name_len = name_len, .has_capacity = capacity != 0,
		    .capacity = capacity, .has_rate = rate > 0, .rate = rate,
		    .burst = burst })) == NULL) {
			free(g);
			return (-1);
		}
		sem_insert(t, s);
		created = 1;
	}
	if ((h = sem_find_hold(t, o, s)) == NULL) {
		if ((nh = malloc(sizeof *nh)) == NULL) {
			free(g);
			if (created) {
				sem_mark(t, s);
				sem_settle(t, now_ms);
			}
			errno = ENOMEM;
			return (-1);
		}
		sem_hold_link(t, nh, o, s, now_ms);
		h = nh;
	}
	/* Over capacity, as after a shrinking resize: no grant until
	 * enough is given back. */
	if (s->capacity != 0 && s->held + weight > s->capacity)
		s->shrunk = 1;
	sem_grant_init(g, h, weight, now_ms, first);
	g->serial = serial;
	g->token = token;
	g->cookie = cookie;
	TAILQ_INSERT_TAIL(&h->grants, g, hold_entry);
	hash_insert(&t->by_token, g);
	h->weight += weight;
	s->held += weight;
	if (serial >= t->serial)
		t->serial = serial + 1;
	return (0);
}

/*
 * Move grant g and every other part of its ACQUIRE (its ring), tokens
 * and all, to owner to (not their owner).  For a grant of one semaphore,
 * keep weight of it (1 .. g->weight) and give back the rest, which may
 * grant waiters; a grant of several semaphores moves whole (weight must
 * be g->weight).  Used to hand adopted grants to the client that
 * reclaims them.  Returns 0, or -1 with errno EINVAL (bad weight, or to
 * already owns it) or ENOMEM (nothing changed).  O(parts) expected.
 */
int
sem_grant_transfer(struct sem_grant *g, struct sem_owner *to,
    uint32_t weight, uint64_t now_ms)
{
	struct sem_table	*t = to->table;
	struct sem_grant	*ring[SEM_MAX_PARTS], *p;
	struct sem_hold		*spare[SEM_MAX_PARTS], *from, *h;
	struct sem		*s;
	size_t			 n = 0, i, k;
	uint32_t		 d;

	p = g;
	do {
		ring[n++] = p;
		p = p->gnext;
	} while (p != g && n < SEM_MAX_PARTS);
	if (weight == 0 || weight > g->weight || g->hold->owner == to ||
	    (n > 1 && weight != g->weight)) {
		errno = EINVAL;
		return (-1);
	}
	/* Every hold to need is allocated first: nothing fails later. */
	for (i = 0; i < n; i++) {
		spare[i] = NULL;
		if (sem_find_hold(t, to, ring[i]->hold->sem) != NULL)
			continue;
		if ((spare[i] = malloc(sizeof *spare[i])) == NULL) {
			for (k = 0; k < i; k++)
				free(spare[k]);
			errno = ENOMEM;
			return (-1);
		}
	}
	for (i = 0; i < n; i++) {
		p = ring[i];
		from = p->hold;
		s = from->sem;
		if ((h = sem_find_hold(t, to, s)) == NULL) {
			h = spare[i];
			sem_hold_link(t, h, to, s, now_ms);
		}
		TAILQ_REMOVE(&from->grants, p, hold_entry);
		from->weight -= p->weight;
		if (from->weight == 0)
			sem_hold_unlink(t, from);
		TAILQ_INSERT_TAIL(&h->grants, p, hold_entry);
		p->hold = h;
		h->weight += p->weight;
	}
	if (weight < g->weight) {
		s = g->hold->sem;
		d = g->weight - weight;
		g->weight = weight;
		g->hold->weight -= d;
		s->held -= d;
		if (s->held <= s->capacity)
			s->shrunk = 0;
		sem_grant_tell(t, t->cb.grant_weight, g);
		sem_mark(t, s);
		sem_settle(t, now_ms);
	}
	return (0);
}

/*
 * Give back the whole grant token of o, on every semaphore of it: each
 * grant of its ring comes off its hold, then the grant rule runs and idle
 * semaphores are forgotten.  Returns PROTO_OK with *name and *weight
 * those of its first semaphore still held, or PROTO_E_NOT_HELD when o
 * has no live grant with that token (another owner's is NOT_HELD too;
 * nothing changes).  O(parts) expected plus the grants.
 */
enum proto_err
sem_release_token(struct sem_owner *o, uint64_t token, uint64_t now_ms,
    char *name, uint32_t *weight)
{
	struct sem_table	*t = o->table;
	struct sem_grant	*g, *ring[SEM_MAX_PARTS];
	struct sem_hold		*h;
	size_t			 n = 0, i;

	if ((g = sem_grant_lookup(t, token)) == NULL || g->hold->owner != o)
		return (PROTO_E_NOT_HELD);
	do {
		ring[n++] = g;
		g = g->gnext;
	} while (g != ring[0] && n < SEM_MAX_PARTS);
	memcpy(name, ring[0]->hold->sem->name,
	    ring[0]->hold->sem->name_len + 1);
	*weight = ring[0]->weight;
	for (i = 0; i < n; i++) {
		g = ring[i];
		h = g->hold;
		sem_mark(t, h->sem);
		/* Move g to the end, so that sem_hold_sub takes it first. */
		TAILQ_REMOVE(&h->grants, g, hold_entry);
		TAILQ_INSERT_TAIL(&h->grants, g, hold_entry);
		sem_observe(t, SEM_OBS_RELEASE, h->sem, o, g->weight, 0,
		    sem_elapsed(g->since_ms, now_ms), 0);
		sem_hold_sub(t, h, g->weight, now_ms);
	}
	sem_settle(t, now_ms);
	return (PROTO_OK);
}

/*
 * Withdraw o's queued request id: it leaves every queue with no event,
 * and where it was the head those behind it may be granted.  Returns
 * PROTO_OK, or PROTO_E_NOT_PENDING when id is not queued for o (unknown,
 * or already granted or expired even if not yet delivered).  O(parts)
 * plus O(log n) for the heap and the grants.
 */
enum proto_err
sem_withdraw(struct sem_owner *o, uint64_t id, uint64_t now_ms)
{
	struct sem_table	*t = o->table;
	struct sem_waiter	*w;

	w = sem_find_waiter(t, o, id);
	if (w == NULL || w->state != SEM_W_QUEUED)
		return (PROTO_E_NOT_PENDING);
	sem_unqueue(t, w);
	sem_spare_drop_parts(t, w);
	sem_observe_parts(t, SEM_OBS_WITHDRAW, w, now_ms, 0);
	sem_waiter_free(t, w);
	sem_settle(t, now_ms);
	return (PROTO_OK);
}

/*
 * Expire every waiter whose deadline is <= now_ms, earliest first (equal
 * deadlines in arrival order).  Each one leaves its queues, an expired
 * event is queued, and the grant rule runs at once, so a heavy head that
 * expires lets the lighter waiters behind it in before the next expiry
 * is considered.  Then the semaphores whose wake-up is due are served.
 * O(k log n) for k expired waiters and wake-ups.
 */
void
sem_expire(struct sem_table *t, uint64_t now_ms)
{
	struct heap_entry	*e;
	struct sem_waiter	*w;

	while ((e = heap_top(&t->deadlines)) != NULL && e->at_ms <= now_ms) {
		w = sem_deadline_waiter(e);
		sem_unqueue(t, w);
		sem_spare_drop_parts(t, w);
		sem_waiter_drop_grants(w);
		sem_event_push(t, w, SEM_W_EXPIRED);
		sem_observe_parts(t, SEM_OBS_TIMEOUT, w, now_ms, 0);
		sem_settle(t, now_ms);
	}
	while ((e = heap_top(&t->wake)) != NULL && e->at_ms <= now_ms) {
		heap_remove(&t->wake, e);
		sem_mark(t, sem_wake_sem(e));
	}
	sem_settle(t, now_ms);
}

/* Set *deadline_ms to the earliest deadline or wake-up; 0 if none. */
int
sem_next_deadline(struct sem_table *t, uint64_t *deadline_ms)
{
	struct heap_entry	*d, *w;

	d = heap_top(&t->deadlines);
	w = heap_top(&t->wake);
	if (d == NULL && w == NULL)
		return (0);
	if (d == NULL || (w != NULL && w->at_ms < d->at_ms))
		d = w;
	*deadline_ms = d->at_ms;
	return (1);
}

/*
 * Deliver the queued events in decision order through the callbacks; each
 * waiter is freed after its callback returns, and semaphores it leaves
 * idle are forgotten.  Returns the number delivered.
 */
size_t
sem_flush(struct sem_table *t)
{
	struct sem_waiter	*w;
	size_t			 n = 0;

	while ((w = TAILQ_FIRST(&t->events)) != NULL) {
		TAILQ_REMOVE(&t->events, w, ev_entry);
		if (w->state == SEM_W_GRANTED) {
			if (t->cb.granted != NULL)
				t->cb.granted(w, t->arg);
		} else if (w->state == SEM_W_REFUSED) {
			if (t->cb.refused != NULL)
				t->cb.refused(w, t->arg);
		} else {
			if (t->cb.expired != NULL)
				t->cb.expired(w, t->arg);
		}
		sem_event_unpin(t, w);
		sem_waiter_free(t, w);
		n++;
	}
	sem_settle(t, t->now_ms);
	return (n);
}

/*
 * Declare name with capacity: create it if need be (max_sems does not
 * apply), mark it declared, resize it if its capacity differs.  Returns
 * it, or NULL with errno ENOMEM (EINVAL for a bad name or capacity 0).
 * O(1) expected plus the resize.
 */
struct sem *
sem_declare(struct sem_table *t, const char *name, size_t name_len,
    uint32_t capacity, double rate, uint32_t burst, uint64_t now_ms)
{
	struct sem_want	 wt;
	struct sem	*s;

	if (burst == 0)
		burst = 1;
	if (name_len == 0 || name_len > PROTO_MAX_NAME ||
	    (capacity == 0 && rate <= 0) || (rate != 0 &&
	    !(rate >= PROTO_MIN_RATE && rate <= PROTO_MAX_RATE))) {
		errno = EINVAL;
		return (NULL);
	}
	if ((s = sem_lookup(t, name, name_len)) == NULL) {
		memset(&wt, 0, sizeof wt);
		wt.name = name;
		wt.name_len = name_len;
		wt.has_capacity = 1;
		wt.capacity = capacity;
		wt.has_rate = rate > 0;
		wt.rate = rate;
		wt.burst = burst;
		if (sem_wake_reserve(t, 1) == -1 || (s = sem_new(&wt)) == NULL)
			return (NULL);
		sem_insert(t, s);
	}
	s->declared = 1;
	/* A rate first when the capacity goes to 0, else the capacity. */
	if (rate > 0 && (s->rate != rate || s->burst != burst))
		(void)sem_set_rate(t, s, rate, burst, now_ms);
	if (s->capacity != capacity) {
		if (capacity == 0) {
			/* Unbounded but for the rate: the grant rule runs. */
			s->capacity = 0;
			s->shrunk = 0;
			sem_mark(t, s);
			sem_settle(t, now_ms);
		} else
			sem_resize(t, s, capacity, now_ms);
	}
	if (rate <= 0 && s->rate > 0)
		(void)sem_set_rate(t, s, 0, 0, now_ms);
	return (s);
}

/* Set or remove the rate of s; see sem.h.  O(1) plus the grants. */
int
sem_set_rate(struct sem_table *t, struct sem *s, double rate,
    uint32_t burst, uint64_t now_ms)
{
	uint64_t	 now_ns = sem_ms_to_ns(now_ms), t_new;
	double		 debt;

	if (rate <= 0) {
		if (s->capacity == 0) {
			errno = EINVAL;
			return (-1);
		}
		s->rate = 0;
		s->burst = 0;
		s->t_ns = 0;
		s->tat_ns = 0;
	} else {
		if (!(rate >= PROTO_MIN_RATE && rate <= PROTO_MAX_RATE)) {
			errno = EINVAL;
			return (-1);
		}
		t_new = sem_rate_interval(rate);
		/*
		 * Grants still owed to the old rate are owed to the new one:
		 * the debt (TAT - now) counts grants of the old interval, so
		 * it is rescaled to the new interval.
		 */
		if (s->rate > 0 && s->tat_ns > now_ns && s->t_ns > 0) {
			debt = (double)(s->tat_ns - now_ns) * (double)t_new /
			    (double)s->t_ns;
			s->tat_ns = debt >= 9e18 ? UINT64_MAX / 2 :
			    now_ns + (uint64_t)debt;
		}
		s->rate = rate;
		s->burst = burst == 0 ? 1 : burst;
		s->t_ns = t_new;
	}
	sem_mark(t, s);
	sem_settle(t, now_ms);
	return (0);
}

/* s is no longer declared: forget it once idle (maybe now).  O(1). */
void
sem_undeclare(struct sem_table *t, struct sem *s)
{
	s->declared = 0;
	sem_mark(t, s);
	sem_settle(t, t->now_ms);
}

/*
 * Set the capacity of s.  Shrinking refuses the queued requests that
 * became too heavy there (refused events; they leave every queue) and
 * takes nothing back; then the grant rule runs, which after growing
 * grants at once.  O(waiters of s) when shrinking, plus the grants.
 */
void
sem_resize(struct sem_table *t, struct sem *s, uint32_t capacity,
    uint64_t now_ms)
{
	struct sem_part		*p, *next;
	struct sem_waiter	*w;

	if (capacity == 0)
		return;
	if (s->capacity == 0 || capacity < s->capacity) {
		for (p = TAILQ_FIRST(&s->queue); p != NULL; p = next) {
			next = TAILQ_NEXT(p, sem_entry);
			if (p->weight <= capacity)
				continue;
			w = p->w;
			/* next may be one of w's own parts?  Never: one
			 * part per semaphore. */
			sem_unqueue(t, w);
			sem_spare_drop_parts(t, w);
			sem_waiter_drop_grants(w);
			sem_event_push(t, w, SEM_W_REFUSED);
		}
	}
	s->capacity = capacity;
	s->shrunk = s->held > capacity;
	sem_mark(t, s);
	sem_settle(t, now_ms);
}

/* Drain or undrain s; see sem.h.  O(1) plus the grants. */
void
sem_drain(struct sem_table *t, struct sem *s, int on, uint64_t now_ms)
{
	s->drained = on != 0;
	if (on)
		return;
	sem_mark(t, s);
	sem_settle(t, now_ms);
}

/* Return the live semaphore called name, or NULL.  O(1) expected. */
struct sem *
sem_lookup(struct sem_table *t, const char *name, size_t name_len)
{
	uint64_t	 hv;

	return (sem_lookup_hv(t, name, name_len, &hv));
}

/* Walk s's holders, then its waiters, for cb.  See sem.h. */
int
sem_parties(const struct sem *s, int (*cb)(const struct sem_owner *,
    uint32_t, uint64_t, int, void *), void *arg)
{
	const struct sem_hold	*h;
	const struct sem_part	*p;
	int			 rv;

	TAILQ_FOREACH(h, &s->holders, sem_entry) {
		if ((rv = cb(h->owner, h->weight, h->since_ms, 0, arg)) != 0)
			return (rv);
	}
	TAILQ_FOREACH(p, &s->queue, sem_entry) {
		if ((rv = cb(p->w->owner, p->weight, p->w->since_ms, 1,
		    arg)) != 0)
			return (rv);
	}
	return (0);
}

/* What limit which counts for o now.  O(1).  See sem.h. */
uint64_t
sem_limit_count(const struct sem_owner *o, enum sem_limit which)
{
	switch (which) {
	case SEM_LIMIT_SEMS:
		return (sem_count(o->table));
	case SEM_LIMIT_HOLDS:
		return (o->nholds);
	case SEM_LIMIT_UID_HOLDS:
		return (o->acct->nholds);
	case SEM_LIMIT_PENDING:
		return (o->npending);
	case SEM_LIMIT_UID_PENDING:
		return (o->acct->npending);
	default:
		return (0);
	}
}

/* The weight o holds on name, 0 if none.  O(1) expected.  See sem.h. */
uint32_t
sem_held(struct sem_owner *o, const char *name, size_t name_len)
{
	struct sem	*s;
	struct sem_hold	*h;

	if ((s = sem_lookup(o->table, name, name_len)) == NULL)
		return (0);
	if ((h = sem_find_hold(o->table, o, s)) == NULL)
		return (0);
	return (h->weight);
}

/*
 * An administrator revoked grant g (the daemon told its holder): count
 * it and tell the observer.  The grant stays held until given back.
 */
void
sem_revoked(struct sem_table *t, struct sem_grant *g, uint64_t now_ms)
{
	sem_observe(t, SEM_OBS_REVOKE, g->hold->sem, g->hold->owner,
	    g->weight, 0, sem_elapsed(g->since_ms, now_ms), 0);
}

/* Copy the figures of s into *st.  O(1). */
void
sem_stats(const struct sem *s, struct sem_stats *st)
{
	*st = s->stats;
}

/* The most recently forgotten semaphore whose figures are kept, or NULL. */
struct sem *
sem_retired_first(struct sem_table *t)
{
	return (TAILQ_FIRST(&t->retired));
}

/* The number of forgotten semaphores whose figures are kept. */
size_t
sem_retired_count(struct sem_table *t)
{
	return (t->nretired);
}

/* The one forgotten before s, or NULL. */
struct sem *
sem_retired_next(struct sem *s)
{
	return (TAILQ_NEXT(s, entry));
}

/* The name of s, NUL-terminated.  O(1). */
const char *
sem_name(const struct sem *s)
{
	return (s->name);
}

/* The length of s's name.  O(1). */
size_t
sem_name_len(const struct sem *s)
{
	return (s->name_len);
}

/* The capacity of s (0: rate only).  O(1). */
uint32_t
sem_capacity(const struct sem *s)
{
	return (s->capacity);
}

/* The weight granted on s, all holders together.  O(1). */
uint64_t
sem_used(const struct sem *s)
{
	return (s->held);
}

/* The number of requests waiting on s.  O(1). */
uint32_t
sem_nwaiting(const struct sem *s)
{
	return (s->nwaiting);
}

/* The number of owners holding some of s.  O(1). */
uint32_t
sem_nholders(const struct sem *s)
{
	return (s->nholders);
}

/* Whether the configuration declares s.  O(1). */
int
sem_is_declared(const struct sem *s)
{
	return (s->declared);
}

/* Whether s is drained.  O(1). */
int
sem_is_drained(const struct sem *s)
{
	return (s->drained);
}

/* The rate of s (0: none), its burst in *burst if not NULL.  O(1). */
double
sem_rate(const struct sem *s, uint32_t *burst)
{
	if (burst != NULL)
		*burst = s->burst;
	return (s->rate);
}

/* The ctx o was made with.  O(1). */
void *
sem_owner_ctx(const struct sem_owner *o)
{
	return (o->ctx);
}

/* The pid of o's peer.  O(1). */
uint32_t
sem_owner_pid(const struct sem_owner *o)
{
	return (o->pid);
}

/* The uid of o's peer.  O(1). */
uint32_t
sem_owner_uid(const struct sem_owner *o)
{
	return (o->uid);
}

/* The owner of w.  O(1). */
struct sem_owner *
sem_waiter_owner(const struct sem_waiter *w)
{
	return (w->owner);
}

/* The caller's id of w.  O(1). */
uint64_t
sem_waiter_id(const struct sem_waiter *w)
{
	return (w->id);
}

/* The token of w's grant (granted only).  O(1). */
uint64_t
sem_waiter_token(const struct sem_waiter *w)
{
	return (w->token);
}

/* The number of semaphores w asked for.  O(1). */
uint32_t
sem_waiter_nparts(const struct sem_waiter *w)
{
	return (w->nparts);
}

/* The i-th semaphore w asked for, and the weight asked.  O(1). */
const struct sem *
sem_waiter_part(const struct sem_waiter *w, uint32_t i, uint32_t *weight)
{
	if (weight != NULL)
		*weight = w->parts[i].weight;
	return (w->parts[i].sem);
}

/* Walk the grants held on s for cb.  See sem.h. */
int
sem_grants(const struct sem *s, int (*cb)(struct sem_grant *, void *),
    void *arg)
{
	const struct sem_hold	*h;
	struct sem_grant	*g;
	int			 rv;

	TAILQ_FOREACH(h, &s->holders, sem_entry) {
		TAILQ_FOREACH(g, &h->grants, hold_entry) {
			if ((rv = cb(g, arg)) != 0)
				return (rv);
		}
	}
	return (0);
}

/* Return the oldest live semaphore, or NULL. */
struct sem *
sem_first(struct sem_table *t)
{
	return (TAILQ_FIRST(&t->sems));
}

/* Return the semaphore created after s, or NULL. */
struct sem *
sem_next(struct sem *s)
{
	return (TAILQ_NEXT(s, entry));
}

/* Return the number of live semaphores. */
size_t
sem_count(struct sem_table *t)
{
	return (t->nsems);
}

/* Return the number of owners. */
size_t
sem_owner_count(struct sem_table *t)
{
	return (t->nowners);
}
