/*
 * sem-check.c -- the semaphore engine's invariant checker
 * (sem_check_invariants, sem_check_progress) and sem_tamper, which
 * breaks one count for the checker's own tests.  For the tests and the
 * fuzzer: nothing on the grant path calls into this file.  It reads the
 * engine's private structures through sem-int.h.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/queue.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hash.h"
#include "sem.h"
#include "sem-int.h"

/* Is e either out of h or where h says?  For the invariant checker. */
static int
heap_has(const struct heap *h, const struct heap_entry *e)
{
	return (e->idx == SIZE_MAX || (e->idx < h->len && h->v[e->idx] == e));
}

/*
 * The first index at which h is out of order (an entry due before its
 * parent, or one that does not know its place); h->len if none.  O(n),
 * for the invariant checker.
 */
static size_t
heap_disorder(const struct heap *h)
{
	size_t	 i;

	for (i = 0; i < h->len; i++) {
		if (h->v[i]->idx != i || (i > 0 &&
		    heap_less(h->v[i], h->v[(i - 1) / 2])))
			return (i);
	}
	return (h->len);
}

/* Break one count for a test of the checker.  See sem.h. */
void
sem_tamper(struct sem *s, struct sem_owner *o, enum sem_tamper what,
    int64_t delta)
{
	struct sem_waiter	*w = NULL;

	if (s != NULL && !TAILQ_EMPTY(&s->queue))
		w = TAILQ_FIRST(&s->queue)->w;
	switch (what) {
	case SEM_TAMPER_HELD:
		s->held += (uint64_t)delta;
		break;
	case SEM_TAMPER_NWAITING:
		s->nwaiting += (uint32_t)delta;
		break;
	case SEM_TAMPER_NHOLDERS:
		s->nholders += (uint32_t)delta;
		break;
	case SEM_TAMPER_CAPACITY:
		s->capacity += (uint32_t)delta;
		break;
	case SEM_TAMPER_NHOLDS:
		o->nholds += (uint32_t)delta;
		break;
	case SEM_TAMPER_NPENDING:
		o->npending += (uint32_t)delta;
		break;
	case SEM_TAMPER_UID_NPENDING:
		o->acct->npending += (uint32_t)delta;
		break;
	case SEM_TAMPER_UID_NHOLDS:
		o->acct->nholds += (uint32_t)delta;
		break;
	case SEM_TAMPER_HEAD_HEAP_IDX:
		w->deadline.idx += (size_t)delta;
		break;
	case SEM_TAMPER_HEAD_ID:
		w->id += (uint64_t)delta;
		break;
	case SEM_TAMPER_HEAD_SEQ:
		w->seq += (uint64_t)delta;
		break;
	}
}

/* Describe a broken invariant in why (len bytes, may be NULL); -1. */
static int
sem_broken(char *why, size_t len, const char *fmt, ...)
{
	va_list	 ap;

	if (why != NULL && len > 0) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return (-1);
}

/*
 * Check the grants of hold h: each is found by its token (as itself or
 * a grant of its ring), holds something, and they add up to the hold;
 * each ring has at most SEM_MAX_PARTS grants of one owner, one token.
 * Adds their number to *ngrants.
 */
static int
sem_check_grants(struct sem_table *t, struct sem_hold *h, size_t *ngrants,
    char *why, size_t len)
{
	struct sem_grant	*g, *p, *found;
	uint64_t		 sum = 0;
	size_t			 n;
	int			 seen;

	TAILQ_FOREACH(g, &h->grants, hold_entry) {
		if (g->hold != h || g->weight == 0 || g->token == 0)
			return (sem_broken(why, len, "%s: grant %llu points "
			    "elsewhere, is empty or has token 0", h->sem->name,
			    (unsigned long long)g->token));
		found = sem_grant_lookup(t, g->token);
		seen = 0;
		n = 0;
		p = g;
		do {
			if (p->token != g->token || p->hold->owner != h->owner)
				return (sem_broken(why, len, "%s: grant %llu "
				    "is in a ring with another token or owner",
				    h->sem->name,
				    (unsigned long long)g->token));
			if (p == found)
				seen = 1;
			p = p->gnext;
		} while (p != g && ++n <= SEM_MAX_PARTS);
		if (p != g || !seen)
			return (sem_broken(why, len, "%s: grant %llu is not "
			    "found by token, or its ring is broken",
			    h->sem->name, (unsigned long long)g->token));
		sum += g->weight;
		(*ngrants)++;
	}
	if (sum != h->weight)
		return (sem_broken(why, len, "%s: a hold of weight %u has "
		    "grants adding up to %llu", h->sem->name, h->weight,
		    (unsigned long long)sum));
	return (0);
}

/*
 * Is the queued waiter w at the head of all its queues and within every
 * capacity (so that only rates, if anything, may hold it back)?
 */
static int
sem_head_fits(const struct sem_waiter *w)
{
	const struct sem_part	*p;
	uint32_t		 i;

	for (i = 0; i < w->nparts; i++) {
		p = &w->parts[i];
		if (TAILQ_FIRST(&p->sem->queue) != p || p->sem->drained)
			return (0);
		if (p->sem->capacity != 0 &&
		    p->sem->held + p->weight > p->sem->capacity)
			return (0);
	}
	return (1);
}

/*
 * What the invariant checker counts on its way through the table, to
 * compare with the table's own counts and hashes at the end.
 */
struct sem_census {
	size_t		 nholds;	/* holds on semaphores' lists */
	size_t		 ngrants;	/* grants on those holds */
	size_t		 nqueued;	/* queued waiters */
	size_t		 nparts;	/* their parts */
	size_t		 ndeadline;	/* queued waiters with a deadline */
	size_t		 npinned;	/* semaphores' pins */
	size_t		 nevents;	/* undelivered events */
	size_t		 epins;		/* semaphores the events name */
	size_t		 oholds;	/* holds on owners' lists */
	size_t		 owaiters;	/* waiters on owners' lists */
	size_t		 nuids;		/* uids with owners */
	size_t		 nsems;		/* semaphores listed */
	size_t		 nowners;	/* owners listed */
};

/*
 * Check s's own fields: its name and its place in the name hash, capacity
 * or rate, not left marked, its place in the wake heap.
 */
static int
sem_check_fields(struct sem_table *t, struct sem *s, char *why, size_t len)
{
	if (s->name_len == 0 || s->name_len > PROTO_MAX_NAME ||
	    s->name[s->name_len] != '\0')
		return (sem_broken(why, len, "a semaphore has a bad name"));
	if (sem_lookup(t, s->name, s->name_len) != s)
		return (sem_broken(why, len, "%s: not found by name", s->name));
	if (s->capacity == 0 && s->rate <= 0)
		return (sem_broken(why, len, "%s: capacity 0 and no rate",
		    s->name));
	if (s->rate > 0 && (s->burst == 0 || s->t_ns == 0))
		return (sem_broken(why, len, "%s: rate with burst %u, "
		    "interval %llu ns", s->name, s->burst,
		    (unsigned long long)s->t_ns));
	if (s->dirty)
		return (sem_broken(why, len, "%s: left marked", s->name));
	if (!heap_has(&t->wake, &s->wake))
		return (sem_broken(why, len, "%s: not where the wake heap "
		    "says", s->name));
	return (0);
}

/*
 * Check s's holders: each hold and its grants (sem_check_grants), and
 * that they add up to what s says it lends, within capacity unless s
 * shrank.  Counts holds and grants in c.
 */
static int
sem_check_holders(struct sem_table *t, struct sem *s, struct sem_census *c,
    char *why, size_t len)
{
	struct sem_hold	*h;
	uint64_t	 sum = 0;
	size_t		 cnt = 0;

	TAILQ_FOREACH(h, &s->holders, sem_entry) {
		if (h->sem != s || h->weight == 0)
			return (sem_broken(why, len, "%s: a hold of weight %u "
			    "points elsewhere or is empty", s->name,
			    h->weight));
		if (sem_find_hold(t, h->owner, s) != h)
			return (sem_broken(why, len, "%s: a hold is not found "
			    "by (owner, sem)", s->name));
		if (sem_check_grants(t, h, &c->ngrants, why, len) == -1)
			return (-1);
		sum += h->weight;
		cnt++;
	}
	if (sum != s->held || cnt != s->nholders)
		return (sem_broken(why, len, "%s: held %llu and %u holders, "
		    "but the holds add up to %llu in %zu", s->name,
		    (unsigned long long)s->held, s->nholders,
		    (unsigned long long)sum, cnt));
	if (s->capacity != 0 && s->held > s->capacity && !s->shrunk)
		return (sem_broken(why, len, "%s: held %llu over capacity %u",
		    s->name, (unsigned long long)s->held, s->capacity));
	c->nholds += cnt;
	return (0);
}

/*
 * Check s's queue: each part belongs to a QUEUED waiter found by (owner,
 * id), with a grant ready and a weight that fits, in arrival order, and
 * its deadline where the heap says.  Counts parts, and waiters (at their
 * first part) and their deadlines, in c.
 */
static int
sem_check_queue(struct sem_table *t, struct sem *s, struct sem_census *c,
    char *why, size_t len)
{
	struct sem_part		*p;
	struct sem_waiter	*w;
	uint64_t		 seq = 0;
	size_t			 cnt = 0;

	TAILQ_FOREACH(p, &s->queue, sem_entry) {
		w = p->w;
		if (p->sem != s || w == NULL || w->state != SEM_W_QUEUED ||
		    p < &w->parts[0] || p >= &w->parts[w->nparts])
			return (sem_broken(why, len, "%s: a queued part "
			    "points elsewhere or is not QUEUED", s->name));
		if (p->weight == 0 || (s->capacity != 0 &&
		    p->weight > s->capacity))
			return (sem_broken(why, len, "%s: waiter %llu has "
			    "weight %u", s->name, (unsigned long long)w->id,
			    p->weight));
		if (cnt > 0 && w->seq <= seq)
			return (sem_broken(why, len, "%s: waiter %llu is out "
			    "of arrival order", s->name,
			    (unsigned long long)w->id));
		seq = w->seq;
		if (sem_find_waiter(t, w->owner, w->id) != w)
			return (sem_broken(why, len, "%s: waiter %llu is not "
			    "found by (owner, id)", s->name,
			    (unsigned long long)w->id));
		if (p->grant == NULL || w->sem != w->parts[0].sem ||
		    w->weight != w->parts[0].weight)
			return (sem_broken(why, len, "%s: waiter %llu has no "
			    "grant ready or a wrong first part", s->name,
			    (unsigned long long)w->id));
		if (p == &w->parts[0]) {
			if (w->deadline.idx != SIZE_MAX) {
				if (!heap_has(&t->deadlines, &w->deadline))
					return (sem_broken(why, len, "%s: "
					    "waiter %llu is not where the heap "
					    "says", s->name,
					    (unsigned long long)w->id));
				c->ndeadline++;
			}
			c->nqueued++;
		}
		cnt++;
	}
	if (cnt != s->nwaiting)
		return (sem_broken(why, len, "%s: nwaiting %u, queue %zu",
		    s->name, s->nwaiting, cnt));
	c->nparts += cnt;
	return (0);
}

/*
 * Check that s is not stuck: no request that could be granted is left
 * waiting (one at the head of all its queues and within every capacity
 * must be held back by a rate, with a wake-up set for it), and an idle
 * semaphore is forgotten unless something keeps it.
 */
static int
sem_check_stuck(const struct sem *s, char *why, size_t len)
{
	const struct sem_part	*p;
	const struct sem_waiter	*w;
	uint32_t		 i;
	int			 waked = 0;

	p = TAILQ_FIRST(&s->queue);
	if (p != NULL && sem_head_fits(p->w)) {
		w = p->w;
		for (i = 0; i < w->nparts; i++) {
			if (w->parts[i].sem->rate > 0 &&
			    w->parts[i].sem->wake.idx != SIZE_MAX)
				waked = 1;
		}
		if (!waked)
			return (sem_broken(why, len, "%s: the head (waiter "
			    "%llu, weight %u) fits (held %llu of %u) but "
			    "waits", s->name, (unsigned long long)w->id,
			    p->weight, (unsigned long long)s->held,
			    s->capacity));
	}
	if (s->nholders == 0 && s->nwaiting == 0 && s->npinned == 0 &&
	    !s->declared && !s->drained &&
	    (s->rate <= 0 || s->wake.idx == SIZE_MAX))
		return (sem_broken(why, len, "%s: idle but not forgotten",
		    s->name));
	return (0);
}

/* Check one semaphore; counts it and what it holds, queues and pins in c. */
static int
sem_check_sem(struct sem_table *t, struct sem *s, struct sem_census *c,
    char *why, size_t len)
{
	if (sem_check_fields(t, s, why, len) == -1 ||
	    sem_check_holders(t, s, c, why, len) == -1 ||
	    sem_check_queue(t, s, c, why, len) == -1 ||
	    sem_check_stuck(s, why, len) == -1)
		return (-1);
	c->npinned += s->npinned;
	c->nsems++;
	return (0);
}

/*
 * Check one owner, its holds and waiters, and the totals of its uid;
 * counts the owner, its holds and waiters, and its uid (at the uid's
 * first owner) in c.
 */
static int
sem_check_owner(struct sem_table *t, struct sem_owner *o,
    struct sem_census *c, char *why, size_t len)
{
	const struct sem_limits	*lim = &t->limits;
	struct sem_owner	*p;
	struct sem_hold		*h;
	struct sem_waiter	*w;
	struct sem_uid		*u = o->acct;
	uint32_t		 nown = 0, npend = 0, nhold = 0;
	size_t			 cnt = 0;

	if (o->table != t)
		return (sem_broken(why, len, "owner pid %u: wrong table",
		    o->pid));
	c->nowners++;
	TAILQ_FOREACH(h, &o->holds, owner_entry) {
		if (h->owner != o)
			return (sem_broken(why, len, "owner pid %u: a hold "
			    "belongs to another", o->pid));
		cnt++;
	}
	if (cnt != o->nholds)
		return (sem_broken(why, len, "owner pid %u: nholds %u, list "
		    "%zu", o->pid, o->nholds, cnt));
	c->oholds += cnt;
	cnt = 0;
	TAILQ_FOREACH(w, &o->waiters, owner_entry) {
		if (w->owner != o)
			return (sem_broken(why, len, "owner pid %u: a waiter "
			    "belongs to another", o->pid));
		cnt++;
	}
	if (cnt != o->npending)
		return (sem_broken(why, len, "owner pid %u: npending %u, list "
		    "%zu", o->pid, o->npending, cnt));
	c->owaiters += cnt;
	if (lim->max_pending != 0 && o->npending > lim->max_pending)
		return (sem_broken(why, len, "owner pid %u: %u pending, over "
		    "max_pending %u", o->pid, o->npending, lim->max_pending));

	if (u == NULL || u->uid != o->uid || sem_find_uid(t, o->uid) != u)
		return (sem_broken(why, len, "owner pid %u: not counted under "
		    "uid %u", o->pid, o->uid));
	/* The first owner of each uid adds up the totals of all of them. */
	TAILQ_FOREACH(p, &t->owners, entry) {
		if (p->acct != u)
			continue;
		if (nown == 0 && p != o)
			return (0);
		nown++;
		npend += p->npending;
		nhold += p->nholds;
	}
	c->nuids++;
	if (nown != u->nowners || npend != u->npending || nhold != u->nholds)
		return (sem_broken(why, len, "uid %u: totals %u owners, %u "
		    "pending, %u holds; its owners have %u, %u, %u", u->uid,
		    u->nowners, u->npending, u->nholds, nown, npend, nhold));
	if (lim->max_pending_per_uid != 0 &&
	    u->npending > lim->max_pending_per_uid)
		return (sem_broken(why, len, "uid %u: %u pending, over "
		    "max_pending_per_uid %u", u->uid, u->npending,
		    lim->max_pending_per_uid));
	return (0);
}

/*
 * Check the undelivered events: each is for a decided waiter, off the
 * deadline heap, with no grant set aside.  Counts them and the
 * semaphores they name (pinned) in c.
 */
static int
sem_check_events(struct sem_table *t, struct sem_census *c, char *why,
    size_t len)
{
	struct sem_waiter	*w;
	uint32_t		 i;

	TAILQ_FOREACH(w, &t->events, ev_entry) {
		if ((w->state != SEM_W_GRANTED && w->state != SEM_W_EXPIRED &&
		    w->state != SEM_W_REFUSED) || w->deadline.idx != SIZE_MAX)
			return (sem_broken(why, len, "event for waiter %llu "
			    "in state %d", (unsigned long long)w->id,
			    (int)w->state));
		for (i = 0; i < w->nparts; i++) {
			if (w->parts[i].grant != NULL)
				return (sem_broken(why, len, "event for waiter "
				    "%llu still has a grant set aside",
				    (unsigned long long)w->id));
		}
		c->nevents++;
		c->epins += w->nparts;
	}
	return (0);
}

/*
 * Check the count of live semaphores, then the forgotten ones: kept by
 * name, not live, idle, at most SEM_MAX_RETIRED.
 */
static int
sem_check_retired(struct sem_table *t, const struct sem_census *c,
    char *why, size_t len)
{
	struct sem	*s;
	size_t		 nsems = 0;

	if (c->nsems != t->nsems || c->nsems != t->by_name.count)
		return (sem_broken(why, len, "%zu semaphores listed, nsems "
		    "%zu, %zu hashed", c->nsems, t->nsems, t->by_name.count));
	TAILQ_FOREACH(s, &t->retired, entry) {
		if (sem_retired_lookup(t, s->name, s->name_len) != s ||
		    sem_lookup(t, s->name, s->name_len) != NULL ||
		    s->nholders != 0 || s->nwaiting != 0)
			return (sem_broken(why, len, "%s: a forgotten semaphore "
			    "is not kept as one", s->name));
		nsems++;
	}
	if (nsems != t->nretired || nsems != t->by_retired.count ||
	    nsems > SEM_MAX_RETIRED)
		return (sem_broken(why, len, "%zu forgotten semaphores kept, "
		    "nretired %zu, %zu hashed", nsems, t->nretired,
		    t->by_retired.count));
	return (0);
}

/*
 * Check what the semaphores counted against the table: the pins against
 * the events, the deadlines and wake-ups against their heaps (and their
 * order), the spare holds against the queued parts.
 */
static int
sem_check_pools(struct sem_table *t, const struct sem_census *c, char *why,
    size_t len)
{
	struct sem_hold	*h;
	size_t		 nspare = 0, i;

	if (c->npinned != c->epins)
		return (sem_broken(why, len, "%zu pins for events naming %zu",
		    c->npinned, c->epins));
	if (c->ndeadline != t->deadlines.len)
		return (sem_broken(why, len, "%zu queued waiters with a "
		    "deadline, %zu in the heap", c->ndeadline,
		    t->deadlines.len));
	if ((i = heap_disorder(&t->deadlines)) < t->deadlines.len)
		return (sem_broken(why, len, "the deadline heap is out of "
		    "order at %zu", i));
	if (t->wake.len > t->nsems || t->nsems > t->wake.cap)
		return (sem_broken(why, len, "%zu wake-ups, %zu semaphores, "
		    "room for %zu", t->wake.len, t->nsems, t->wake.cap));
	if ((i = heap_disorder(&t->wake)) < t->wake.len)
		return (sem_broken(why, len, "the wake heap is out of "
		    "order at %zu", i));
	for (h = t->spare; h != NULL; h = h->hnext)
		nspare++;
	if (nspare != t->nspare || nspare != c->nparts)
		return (sem_broken(why, len, "%zu spare holds (nspare %zu) for "
		    "%zu queued parts", nspare, t->nspare, c->nparts));
	return (0);
}

/*
 * Check what the owners counted against the semaphores' counts and the
 * table's hashes.
 */
static int
sem_check_totals(struct sem_table *t, const struct sem_census *c,
    char *why, size_t len)
{
	if (c->nowners != t->nowners)
		return (sem_broken(why, len, "%zu owners listed, nowners %zu",
		    c->nowners, t->nowners));
	if (c->nuids != t->by_uid.count)
		return (sem_broken(why, len, "owners have %zu uids, %zu hashed",
		    c->nuids, t->by_uid.count));
	if (c->oholds != c->nholds || c->nholds != t->by_hold.count)
		return (sem_broken(why, len, "owners have %zu holds, "
		    "semaphores %zu, %zu hashed", c->oholds, c->nholds,
		    t->by_hold.count));
	if (c->ngrants != t->by_token.count)
		return (sem_broken(why, len, "holds have %zu grants, %zu "
		    "hashed", c->ngrants, t->by_token.count));
	if (c->owaiters != c->nqueued + c->nevents ||
	    c->owaiters != t->by_id.count)
		return (sem_broken(why, len, "owners have %zu waiters; %zu "
		    "queued, %zu events, %zu hashed", c->owaiters, c->nqueued,
		    c->nevents, t->by_id.count));
	return (0);
}

/*
 * Check every structural invariant of the table; see sem.h.  Returns 0,
 * or -1 with the first violation found described in why.  A debugging
 * aid: O(everything), and O(owners^2 / uids) for the per-uid totals.
 */
int
sem_check_invariants(struct sem_table *t, char *why, size_t len)
{
	struct sem_census	 c;
	struct sem		*s;
	struct sem_owner	*o;

	memset(&c, 0, sizeof c);
	if (!TAILQ_EMPTY(&t->dirty))
		return (sem_broken(why, len, "semaphores left marked"));
	if (sem_check_events(t, &c, why, len) == -1)
		return (-1);
	TAILQ_FOREACH(s, &t->sems, entry) {
		if (sem_check_sem(t, s, &c, why, len) == -1)
			return (-1);
	}
	if (sem_check_retired(t, &c, why, len) == -1 ||
	    sem_check_pools(t, &c, why, len) == -1)
		return (-1);
	TAILQ_FOREACH(o, &t->owners, entry) {
		if (sem_check_owner(t, o, &c, why, len) == -1)
			return (-1);
	}
	return (sem_check_totals(t, &c, why, len));
}

/*
 * Check progress at now_ms; see sem.h.  Queues ordered by arrival is
 * what rules out a circular wait: the oldest queued request is at the
 * head of all its queues, so it waits for no other waiter.
 */
int
sem_check_progress(struct sem_table *t, uint64_t now_ms, char *why,
    size_t len)
{
	struct sem		*s;
	struct sem_part		*p;
	struct sem_waiter	*w;
	uint64_t		 now_ns = sem_ms_to_ns(now_ms), seq;
	uint32_t		 i;
	int			 first, late;

	TAILQ_FOREACH(s, &t->sems, entry) {
		first = 1;
		seq = 0;
		TAILQ_FOREACH(p, &s->queue, sem_entry) {
			if (!first && p->w->seq <= seq)
				return (sem_broken(why, len, "%s: queue out of "
				    "arrival order", s->name));
			first = 0;
			seq = p->w->seq;
		}
		if ((p = TAILQ_FIRST(&s->queue)) == NULL)
			continue;
		w = p->w;
		if (!sem_head_fits(w))
			continue;
		late = 0;
		for (i = 0; i < w->nparts; i++) {
			if (sem_conform_ns(w->parts[i].sem) > now_ns)
				late = 1;
		}
		if (!late)
			return (sem_broken(why, len, "%s: waiter %llu can be "
			    "granted at %llu ms but waits", s->name,
			    (unsigned long long)w->id,
			    (unsigned long long)now_ms));
	}
	return (0);
}
