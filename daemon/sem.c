/*
 * sem.c -- the semaphore engine: named counting semaphores with strict
 * FIFO queues, weights, deadlines and ownership.  No I/O, no clock.
 *
 * Who owns what.  The table owns every semaphore, owner, hold and waiter;
 * only this file creates and frees them.  A waiter is on exactly one of
 * sem->queue (state QUEUED) or the table's event list (GRANTED, EXPIRED),
 * both through sem_entry, and on its owner's waiters list until its event
 * is delivered or discarded.  It stays in the (owner, id) hash for as long
 * as it is on owner->waiters: a client's id is pending until the client
 * has been told the outcome.
 *
 * Grants never fail for want of memory: every queued waiter has a spare
 * hold put aside in the table's pool when it was queued (pool size ==
 * queued waiters), which the grant uses if the owner holds nothing there
 * yet.  So the only allocations are in sem_acquire, before anything
 * changes.
 *
 * Grants.  A hold is the sum of its owner's grants on one semaphore; each
 * grant (one ACQUIRE's slots) has its own token and is on its hold's
 * list and in the table's token hash.  A queued waiter carries the grant
 * it will need (w->grant), allocated when it was queued, for the same
 * reason as the spare holds.
 *
 * A semaphore with nothing held, nobody queued and no pin (an undelivered
 * event about it, or sem_owner_drop at work) is forgotten at once.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/queue.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "heap.h"
#include "sem.h"

struct sem_table {
	struct sem_callbacks	 cb;
	void			*arg;
	struct sem_limits	 limits;

	struct hash_key		 key;
	struct hash		 by_name;	/* sems by name */
	struct hash		 by_hold;	/* holds by (owner, sem) */
	struct hash		 by_id;		/* waiters by (owner, id) */
	struct hash		 by_uid;	/* per-uid totals by uid */
	struct hash		 by_token;	/* grants by token */

	TAILQ_HEAD(, sem)	 sems;		/* creation order */
	size_t			 nsems;
	TAILQ_HEAD(, sem_owner)	 owners;
	size_t			 nowners;

	TAILQ_HEAD(, sem_waiter) events;	/* decision order */
	struct heap		 deadlines;

	struct sem_hold		*spare;		/* pool, linked by hnext */
	size_t			 nspare;
	uint64_t		 seq;		/* next waiter's seq */
	uint64_t		 serial;	/* next grant's serial */
};

/* Hash of a semaphore by its name. */
static uint64_t
sem_hash_name(const void *elem, const void *arg)
{
	const struct sem	*s = elem;
	const struct sem_table	*t = arg;

	return (hash_sip(&t->key, s->name, s->name_len));
}

/* Hash of a hold by (owner, sem). */
static uint64_t
sem_hash_hold(const void *elem, const void *arg)
{
	const struct sem_hold	*h = elem;
	const struct sem_table	*t = arg;

	return (hash_sip2(&t->key, (uintptr_t)h->owner, (uintptr_t)h->sem));
}

/* Hash of a waiter by (owner, id). */
static uint64_t
sem_hash_id(const void *elem, const void *arg)
{
	const struct sem_waiter	*w = elem;
	const struct sem_table	*t = arg;

	return (hash_sip2(&t->key, (uintptr_t)w->owner, w->id));
}

/* Hash of a uid's totals by uid. */
static uint64_t
sem_hash_uid(const void *elem, const void *arg)
{
	const struct sem_uid	*u = elem;
	const struct sem_table	*t = arg;

	return (hash_sip2(&t->key, u->uid, 0));
}

/* Hash of a grant by its token. */
static uint64_t
sem_hash_token(const void *elem, const void *arg)
{
	const struct sem_grant	*g = elem;
	const struct sem_table	*t = arg;

	return (hash_sip2(&t->key, g->token, 0));
}

/* Find the totals of uid, or NULL.  O(1) expected. */
static struct sem_uid *
sem_find_uid(struct sem_table *t, uint32_t uid)
{
	struct sem_uid	*u;
	uint64_t	 hv;

	hv = hash_sip2(&t->key, uid, 0);
	for (u = hash_bucket(&t->by_uid, hv); u != NULL; u = u->hnext) {
		if (u->uid == uid)
			return (u);
	}
	return (NULL);
}

/* Find what owner holds on s, or NULL.  O(1) expected. */
static struct sem_hold *
sem_find_hold(struct sem_table *t, struct sem_owner *o, struct sem *s)
{
	struct sem_hold	*h;
	uint64_t	 hv;

	hv = hash_sip2(&t->key, (uintptr_t)o, (uintptr_t)s);
	for (h = hash_bucket(&t->by_hold, hv); h != NULL; h = h->hnext) {
		if (h->owner == o && h->sem == s)
			return (h);
	}
	return (NULL);
}

/* Find owner's pending waiter id (any state), or NULL.  O(1) expected. */
static struct sem_waiter *
sem_find_waiter(struct sem_table *t, struct sem_owner *o, uint64_t id)
{
	struct sem_waiter	*w;
	uint64_t		 hv;

	hv = hash_sip2(&t->key, (uintptr_t)o, id);
	for (w = hash_bucket(&t->by_id, hv); w != NULL; w = w->hnext) {
		if (w->owner == o && w->id == id)
			return (w);
	}
	return (NULL);
}

/* Take one hold from the pool; there is one per queued waiter. */
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

/*
 * Make grant g (allocated by the caller, not yet initialised) of weight
 * on hold h, give it its serial and token, and tell the grant_new hook.
 */
static void
sem_grant_make(struct sem_table *t, struct sem_hold *h, struct sem_grant *g,
    uint32_t weight, uint64_t now_ms)
{
	memset(g, 0, sizeof *g);
	g->hold = h;
	g->weight = weight;
	g->since_ms = now_ms;
	g->serial = t->serial++;
	g->token = g->serial;
	if (t->cb.grant_new != NULL)
		t->cb.grant_new(g, t->arg);
	TAILQ_INSERT_TAIL(&h->grants, g, hold_entry);
	hash_insert(&t->by_token, g);
}

/* End grant g (its weight is already off its hold): tell, unlink, free. */
static void
sem_grant_end(struct sem_table *t, struct sem_grant *g)
{
	if (t->cb.grant_end != NULL)
		t->cb.grant_end(g, t->arg);
	TAILQ_REMOVE(&g->hold->grants, g, hold_entry);
	hash_remove(&t->by_token, g);
	free(g);
}

/*
 * Add a grant g of weight to what o holds on s, creating the hold (from
 * spare, or allocated when spare is NULL) if o holds nothing there.  An
 * unused spare is freed.  g is allocated by the caller and made here;
 * *tokenp receives its token.  Returns 0, or -1 with errno ENOMEM (only
 * when spare is NULL; nothing changed, g not used).
 */
static int
sem_hold_add(struct sem_table *t, struct sem_owner *o, struct sem *s,
    uint32_t weight, uint64_t now_ms, struct sem_hold *spare,
    struct sem_grant *g, uint64_t *tokenp)
{
	struct sem_hold	*h;

	if ((h = sem_find_hold(t, o, s)) != NULL) {
		free(spare);
		h->weight += weight;
		s->held += weight;
		sem_grant_make(t, h, g, weight, now_ms);
		*tokenp = g->token;
		return (0);
	}
	if ((h = spare) == NULL && (h = malloc(sizeof *h)) == NULL) {
		errno = ENOMEM;
		return (-1);
	}
	memset(h, 0, sizeof *h);
	h->sem = s;
	h->owner = o;
	h->weight = weight;
	h->since_ms = now_ms;
	TAILQ_INIT(&h->grants);
	sem_grant_make(t, h, g, weight, now_ms);
	*tokenp = g->token;
	TAILQ_INSERT_TAIL(&s->holders, h, sem_entry);
	TAILQ_INSERT_TAIL(&o->holds, h, owner_entry);
	hash_insert(&t->by_hold, h);
	s->nholders++;
	o->nholds++;
	o->acct->nholds++;
	s->held += weight;
	return (0);
}

/*
 * Take weight off hold h (which has at least that), from its newest
 * grants first, ending each grant that reaches 0; free h at zero.
 */
static void
sem_hold_sub(struct sem_table *t, struct sem_hold *h, uint32_t weight)
{
	struct sem		*s = h->sem;
	struct sem_grant	*g;
	uint32_t		 left = weight, n;

	while (left > 0 &&
	    (g = TAILQ_LAST(&h->grants, sem_grant_list)) != NULL) {
		n = g->weight < left ? g->weight : left;
		g->weight -= n;
		left -= n;
		if (g->weight == 0)
			sem_grant_end(t, g);
		else if (t->cb.grant_weight != NULL)
			t->cb.grant_weight(g, t->arg);
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

/* Take a queued waiter off its semaphore's queue and the deadline heap. */
static void
sem_unqueue(struct sem_table *t, struct sem_waiter *w)
{
	TAILQ_REMOVE(&w->sem->queue, w, sem_entry);
	w->sem->nwaiting--;
	if (w->heap_idx != SIZE_MAX)
		heap_remove(&t->deadlines, w);
}

/* Forget a waiter that is on no queue or event list, and free it. */
static void
sem_waiter_free(struct sem_table *t, struct sem_waiter *w)
{
	TAILQ_REMOVE(&w->owner->waiters, w, owner_entry);
	hash_remove(&t->by_id, w);
	w->owner->npending--;
	w->owner->acct->npending--;
	free(w);
}

/* Queue an event about w (GRANTED or EXPIRED), pinning its semaphore. */
static void
sem_event_push(struct sem_table *t, struct sem_waiter *w,
    enum sem_waiter_state state)
{
	w->state = state;
	TAILQ_INSERT_TAIL(&t->events, w, sem_entry);
	w->sem->npinned++;
}

/*
 * The grant rule: grant from the head of the queue while the head fits.
 * A head that does not fit blocks everyone behind it.  Each grant is
 * queued as an event.  O(1) per grant plus O(log n) for the heap.
 */
static void
sem_grant(struct sem_table *t, struct sem *s, uint64_t now_ms)
{
	struct sem_waiter	*w;

	if (s->drained)
		return;
	while ((w = TAILQ_FIRST(&s->queue)) != NULL) {
		if (s->held + w->weight > s->capacity)
			break;
		sem_unqueue(t, w);
		/* Cannot fail: a spare is supplied. */
		(void)sem_hold_add(t, w->owner, s, w->weight, now_ms,
		    sem_spare_take(t), w->grant, &w->token);
		w->grant = NULL;
		sem_event_push(t, w, SEM_W_GRANTED);
	}
}

/* Free s if nothing is held, nobody waits and nothing pins it. */
static void
sem_forget_if_idle(struct sem_table *t, struct sem *s)
{
	if (s->nholders != 0 || s->nwaiting != 0 || s->npinned != 0 ||
	    s->declared || s->drained)
		return;
	hash_remove(&t->by_name, s);
	TAILQ_REMOVE(&t->sems, s, entry);
	t->nsems--;
	free(s);
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
	TAILQ_INIT(&t->owners);
	TAILQ_INIT(&t->events);
	if (hash_init(&t->by_name, offsetof(struct sem, hnext),
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
	if (hash_init(&t->by_token, offsetof(struct sem_grant, hnext),
	    sem_hash_token, t) == -1)
		goto fail;
	t->serial = 1;
	return (t);

fail:
	hash_free(&t->by_token);
	hash_free(&t->by_name);
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
			free(w->grant);
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
	while (t->spare != NULL)
		sem_spare_drop(t);
	heap_free(&t->deadlines);
	hash_free(&t->by_name);
	hash_free(&t->by_hold);
	hash_free(&t->by_id);
	hash_free(&t->by_uid);
	hash_free(&t->by_token);
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

/* Return the live grant with this token, or NULL.  O(1) expected. */
struct sem_grant *
sem_grant_lookup(struct sem_table *t, uint64_t token)
{
	struct sem_grant	*g;
	uint64_t		 hv;

	hv = hash_sip2(&t->key, token, 0);
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
 * are discarded, its holds are released, the grant rule runs where that
 * frees room, idle semaphores are forgotten, and the owner is freed.
 *
 * All its waiters leave their queues before any hold is released, so
 * that releasing its holds cannot grant one of its own waiters.  Until
 * they are freed the waiters pin their semaphores, so none is forgotten
 * while a pointer to it is still in use here.
 * Cost: O(holds + waiters of this owner), plus the grants it causes.
 */
void
sem_owner_drop(struct sem_owner *o, uint64_t now_ms)
{
	struct sem_table	*t = o->table;
	struct sem_waiter	*w;
	struct sem_hold		*h;
	struct sem		*s;

	TAILQ_FOREACH(w, &o->waiters, owner_entry) {
		if (w->state == SEM_W_QUEUED) {
			sem_unqueue(t, w);
			sem_spare_drop(t);
			free(w->grant);
			w->grant = NULL;
			w->sem->npinned++;
		} else {
			/* Its pin stays until the waiter is freed below. */
			TAILQ_REMOVE(&t->events, w, sem_entry);
		}
	}
	while ((h = TAILQ_FIRST(&o->holds)) != NULL) {
		s = h->sem;
		sem_hold_sub(t, h, h->weight);
		sem_grant(t, s, now_ms);
		sem_forget_if_idle(t, s);
	}
	while ((w = TAILQ_FIRST(&o->waiters)) != NULL) {
		s = w->sem;
		sem_waiter_free(t, w);
		s->npinned--;
		/* The head may have left: those behind it may fit now. */
		sem_grant(t, s, now_ms);
		sem_forget_if_idle(t, s);
	}
	TAILQ_REMOVE(&t->owners, o, entry);
	t->nowners--;
	if (--o->acct->nowners == 0) {
		hash_remove(&t->by_uid, o->acct);
		free(o->acct);
	}
	free(o);
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
 * Which hold limit, if any, stops o from taking a hold on a semaphore it
 * holds nothing on yet: SEM_LIMIT_NONE when none does.
 */
static enum sem_limit
sem_check_new_hold(const struct sem_limits *lim, const struct sem_owner *o)
{
	if (lim->max_holds != 0 && o->nholds >= lim->max_holds)
		return (SEM_LIMIT_HOLDS);
	if (lim->max_holds_per_uid != 0 &&
	    o->acct->nholds >= lim->max_holds_per_uid)
		return (SEM_LIMIT_UID_HOLDS);
	return (SEM_LIMIT_NONE);
}

/*
 * Ask for weight on name for owner o, request id.  The outcome is in
 * *res: GRANTED (held now), QUEUED (position set; a granted or expired
 * event follows, or the owner withdraws), BUSY (a try that could not be
 * granted) or ERROR (code set; nothing changed).
 *
 * Checks, in order: DUPLICATE_ID; NO_CAPACITY or CAPACITY_MISMATCH;
 * TOO_HEAVY; LIMIT for max_sems (only when creating), max_holds and
 * max_holds_per_uid (when o does not hold this semaphore yet and already
 * holds max_holds others, or its uid has max_holds_per_uid holds),
 * max_pending and max_pending_per_uid (only when the request would be
 * queued); res->limit says which.  The hold limits are checked when the
 * request arrives: a waiter already queued is granted when its turn
 * comes even if its owner has reached them meanwhile, so an owner holds
 * at most max_holds + max_pending semaphores, and a uid has at most
 * max_holds_per_uid + max_pending_per_uid holds.
 *
 * Returns 0, or -1 with errno ENOMEM (nothing changed).  O(1) expected
 * plus O(log n) for a deadline.
 */
int
sem_acquire(struct sem_owner *o, uint64_t id, const char *name,
    size_t name_len, int has_capacity, uint32_t capacity, uint32_t weight,
    int64_t timeout_ms, uint64_t now_ms, struct sem_acq_result *res)
{
	struct sem_table	*t = o->table;
	const struct sem_limits	*lim = &t->limits;
	struct sem		*s;
	struct sem_waiter	*w;
	struct sem_hold		*spare;
	struct sem_grant	*g;
	enum sem_limit		 which;
	int			 created = 0;

	memset(res, 0, sizeof *res);
	res->code = PROTO_OK;

	if (name_len == 0 || name_len > PROTO_MAX_NAME)
		return (sem_acquire_error(res, PROTO_E_BAD_NAME));
	if (sem_find_waiter(t, o, id) != NULL)
		return (sem_acquire_error(res, PROTO_E_DUPLICATE_ID));

	if ((s = sem_lookup(t, name, name_len)) == NULL) {
		if (!has_capacity)
			return (sem_acquire_error(res, PROTO_E_NO_CAPACITY));
		if (weight == 0 || weight > capacity)
			return (sem_acquire_error(res, PROTO_E_TOO_HEAVY));
		if (lim->max_sems != 0 && t->nsems >= lim->max_sems)
			return (sem_acquire_limit(res, SEM_LIMIT_SEMS));
		if ((which = sem_check_new_hold(lim, o)) != SEM_LIMIT_NONE)
			return (sem_acquire_limit(res, which));

		if ((s = calloc(1, sizeof *s)) == NULL) {
			errno = ENOMEM;
			return (-1);
		}
		memcpy(s->name, name, name_len);
		s->name[name_len] = '\0';
		s->name_len = name_len;
		s->capacity = capacity;
		TAILQ_INIT(&s->queue);
		TAILQ_INIT(&s->holders);
		hash_insert(&t->by_name, s);
		TAILQ_INSERT_TAIL(&t->sems, s, entry);
		t->nsems++;
		created = 1;
	} else {
		if (has_capacity && capacity != s->capacity) {
			res->capacity = s->capacity;
			return (sem_acquire_error(res,
			    PROTO_E_CAPACITY_MISMATCH));
		}
		if (weight == 0 || weight > s->capacity)
			return (sem_acquire_error(res, PROTO_E_TOO_HEAVY));
		if ((which = sem_check_new_hold(lim, o)) != SEM_LIMIT_NONE &&
		    sem_find_hold(t, o, s) == NULL)
			return (sem_acquire_limit(res, which));
	}

	/* The grant rule for a newcomer: only into an empty queue. */
	if (TAILQ_EMPTY(&s->queue) && !s->drained &&
	    s->held + weight <= s->capacity) {
		if ((g = malloc(sizeof *g)) == NULL ||
		    sem_hold_add(t, o, s, weight, now_ms, NULL, g,
		    &res->token) == -1) {
			free(g);
			if (created)
				sem_forget_if_idle(t, s);
			errno = ENOMEM;
			return (-1);
		}
		res->status = SEM_ACQ_GRANTED;
		return (0);
	}

	/* A new semaphore always grants above, so s existed before
	 * (it may be idle: declared or drained). */
	if (timeout_ms == 0) {
		res->status = SEM_ACQ_BUSY;
		return (0);
	}
	if (lim->max_pending != 0 && o->npending >= lim->max_pending)
		return (sem_acquire_limit(res, SEM_LIMIT_PENDING));
	if (lim->max_pending_per_uid != 0 &&
	    o->acct->npending >= lim->max_pending_per_uid)
		return (sem_acquire_limit(res, SEM_LIMIT_UID_PENDING));

	if (timeout_ms > 0 && heap_reserve(&t->deadlines) == -1)
		return (-1);
	if ((w = calloc(1, sizeof *w)) == NULL) {
		errno = ENOMEM;
		return (-1);
	}
	if ((spare = malloc(sizeof *spare)) == NULL) {
		free(w);
		errno = ENOMEM;
		return (-1);
	}
	if ((w->grant = malloc(sizeof *w->grant)) == NULL) {
		free(spare);
		free(w);
		errno = ENOMEM;
		return (-1);
	}
	sem_spare_put(t, spare);

	w->sem = s;
	w->owner = o;
	w->id = id;
	w->weight = weight;
	w->state = SEM_W_QUEUED;
	w->since_ms = now_ms;
	w->seq = t->seq++;
	w->heap_idx = SIZE_MAX;
	TAILQ_INSERT_TAIL(&s->queue, w, sem_entry);
	s->nwaiting++;
	TAILQ_INSERT_TAIL(&o->waiters, w, owner_entry);
	o->npending++;
	o->acct->npending++;
	hash_insert(&t->by_id, w);
	if (timeout_ms > 0) {
		if ((uint64_t)timeout_ms > UINT64_MAX - now_ms)
			w->deadline_ms = UINT64_MAX;
		else
			w->deadline_ms = now_ms + (uint64_t)timeout_ms;
		heap_push(&t->deadlines, w);
	}
	res->status = SEM_ACQ_QUEUED;
	res->position = s->nwaiting;
	return (0);
}

/*
 * Give back weight on name from what o holds there, then run the grant
 * rule (granted events are queued for sem_flush) and forget the semaphore
 * if it went idle.  Returns PROTO_OK, or PROTO_E_NOT_HELD when o holds
 * nothing there or less than weight (nothing changes).  A weight of 0 on
 * a semaphore o holds is an accepted no-op.  O(1) expected plus the
 * grants.
 */
enum proto_err
sem_release(struct sem_owner *o, const char *name, size_t name_len,
    uint32_t weight, uint64_t now_ms)
{
	struct sem_table	*t = o->table;
	struct sem		*s;
	struct sem_hold		*h;

	if ((s = sem_lookup(t, name, name_len)) == NULL)
		return (PROTO_E_NOT_HELD);
	if ((h = sem_find_hold(t, o, s)) == NULL || h->weight < weight)
		return (PROTO_E_NOT_HELD);
	if (weight == 0)
		return (PROTO_OK);
	sem_hold_sub(t, h, weight);
	sem_grant(t, s, now_ms);
	sem_forget_if_idle(t, s);
	return (PROTO_OK);
}

/*
 * Give back the whole grant token of o: its weight comes off its hold,
 * then the grant rule runs and the semaphore is forgotten if idle.
 * Returns PROTO_OK with *what set to a copy of the grant's semaphore name
 * and *weight to what was given back, or PROTO_E_NOT_HELD when o has no
 * live grant with that token (another owner's is NOT_HELD too; nothing
 * changes).  O(1) expected plus the grants.
 */
enum proto_err
sem_release_token(struct sem_owner *o, uint64_t token, uint64_t now_ms,
    char *name, uint32_t *weight)
{
	struct sem_table	*t = o->table;
	struct sem_grant	*g;
	struct sem_hold		*h;
	struct sem		*s;
	uint32_t		 w;

	if ((g = sem_grant_lookup(t, token)) == NULL || g->hold->owner != o)
		return (PROTO_E_NOT_HELD);
	h = g->hold;
	s = h->sem;
	w = g->weight;
	memcpy(name, s->name, s->name_len + 1);
	*weight = w;
	/* Move g to the end, so that sem_hold_sub takes it first. */
	TAILQ_REMOVE(&h->grants, g, hold_entry);
	TAILQ_INSERT_TAIL(&h->grants, g, hold_entry);
	sem_hold_sub(t, h, w);
	sem_grant(t, s, now_ms);
	sem_forget_if_idle(t, s);
	return (PROTO_OK);
}

/*
 * Withdraw o's queued request id: it leaves the queue with no event, and
 * if it was the head those behind it may be granted.  Returns PROTO_OK,
 * or PROTO_E_NOT_PENDING when id is not queued for o (unknown, or already
 * granted or expired even if not yet delivered).  O(1) expected plus
 * O(log n) for the heap and the grants.
 */
enum proto_err
sem_withdraw(struct sem_owner *o, uint64_t id, uint64_t now_ms)
{
	struct sem_table	*t = o->table;
	struct sem_waiter	*w;
	struct sem		*s;

	w = sem_find_waiter(t, o, id);
	if (w == NULL || w->state != SEM_W_QUEUED)
		return (PROTO_E_NOT_PENDING);
	s = w->sem;
	sem_unqueue(t, w);
	sem_spare_drop(t);
	free(w->grant);
	w->grant = NULL;
	sem_waiter_free(t, w);
	sem_grant(t, s, now_ms);
	sem_forget_if_idle(t, s);
	return (PROTO_OK);
}

/*
 * Expire every waiter whose deadline is <= now_ms, earliest first (equal
 * deadlines in arrival order).  Each one leaves its queue, an expired
 * event is queued, and the grant rule runs on its semaphore at once, so
 * a heavy head that expires lets the lighter waiters behind it in before
 * the next expiry is considered.  O(k log n) for k expired waiters.
 */
void
sem_expire(struct sem_table *t, uint64_t now_ms)
{
	struct sem_waiter	*w;

	while ((w = heap_top(&t->deadlines)) != NULL &&
	    w->deadline_ms <= now_ms) {
		sem_unqueue(t, w);
		sem_spare_drop(t);
		free(w->grant);
		w->grant = NULL;
		sem_event_push(t, w, SEM_W_EXPIRED);
		sem_grant(t, w->sem, now_ms);
	}
}

/* Set *deadline_ms to the earliest deadline and return 1, or return 0. */
int
sem_next_deadline(struct sem_table *t, uint64_t *deadline_ms)
{
	struct sem_waiter	*w;

	if ((w = heap_top(&t->deadlines)) == NULL)
		return (0);
	*deadline_ms = w->deadline_ms;
	return (1);
}

/*
 * Deliver the queued events in decision order through the callbacks; each
 * waiter is freed after its callback returns, and its semaphore forgotten
 * if that left it idle.  Returns the number delivered.
 */
size_t
sem_flush(struct sem_table *t)
{
	struct sem_waiter	*w;
	struct sem		*s;
	size_t			 n = 0;

	while ((w = TAILQ_FIRST(&t->events)) != NULL) {
		TAILQ_REMOVE(&t->events, w, sem_entry);
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
		s = w->sem;
		sem_waiter_free(t, w);
		s->npinned--;
		sem_forget_if_idle(t, s);
		n++;
	}
	return (n);
}

/*
 * Declare name with capacity: create it if need be (max_sems does not
 * apply), mark it declared, resize it if its capacity differs.  Returns
 * it, or NULL with errno ENOMEM.  O(1) expected plus the resize.
 */
struct sem *
sem_declare(struct sem_table *t, const char *name, size_t name_len,
    uint32_t capacity, uint64_t now_ms)
{
	struct sem	*s;

	if (name_len == 0 || name_len > PROTO_MAX_NAME || capacity == 0) {
		errno = EINVAL;
		return (NULL);
	}
	if ((s = sem_lookup(t, name, name_len)) == NULL) {
		if ((s = calloc(1, sizeof *s)) == NULL) {
			errno = ENOMEM;
			return (NULL);
		}
		memcpy(s->name, name, name_len);
		s->name[name_len] = '\0';
		s->name_len = name_len;
		s->capacity = capacity;
		TAILQ_INIT(&s->queue);
		TAILQ_INIT(&s->holders);
		hash_insert(&t->by_name, s);
		TAILQ_INSERT_TAIL(&t->sems, s, entry);
		t->nsems++;
	}
	s->declared = 1;
	if (s->capacity != capacity)
		sem_resize(t, s, capacity, now_ms);
	return (s);
}

/* s is no longer declared: forget it once idle (maybe now).  O(1). */
void
sem_undeclare(struct sem_table *t, struct sem *s)
{
	s->declared = 0;
	sem_forget_if_idle(t, s);
}

/*
 * Set the capacity of s.  Shrinking refuses the queued requests that
 * became too heavy (refused events) and takes nothing back; then the
 * grant rule runs, which after growing grants at once.  O(waiters of s)
 * when shrinking, plus O(1) and O(log n) per grant.
 */
void
sem_resize(struct sem_table *t, struct sem *s, uint32_t capacity,
    uint64_t now_ms)
{
	struct sem_waiter	*w, *next;

	if (capacity == 0)
		return;
	if (capacity < s->capacity) {
		for (w = TAILQ_FIRST(&s->queue); w != NULL; w = next) {
			next = TAILQ_NEXT(w, sem_entry);
			if (w->weight <= capacity)
				continue;
			sem_unqueue(t, w);
			sem_spare_drop(t);
			free(w->grant);
			w->grant = NULL;
			sem_event_push(t, w, SEM_W_REFUSED);
		}
	}
	s->capacity = capacity;
	s->shrunk = s->held > capacity;
	sem_grant(t, s, now_ms);
}

/* Drain or undrain s; see sem.h.  O(1) plus the grants. */
void
sem_drain(struct sem_table *t, struct sem *s, int on, uint64_t now_ms)
{
	s->drained = on != 0;
	if (on)
		return;
	sem_grant(t, s, now_ms);
	sem_forget_if_idle(t, s);
}

/* Return the live semaphore called name, or NULL.  O(1) expected. */
struct sem *
sem_lookup(struct sem_table *t, const char *name, size_t name_len)
{
	struct sem	*s;
	uint64_t	 hv;

	if (name_len == 0 || name_len > PROTO_MAX_NAME)
		return (NULL);
	hv = hash_sip(&t->key, name, name_len);
	for (s = hash_bucket(&t->by_name, hv); s != NULL; s = s->hnext) {
		if (s->name_len == name_len &&
		    memcmp(s->name, name, name_len) == 0)
			return (s);
	}
	return (NULL);
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

/* Check the grants of hold h; adds their number to *ngrants. */
static int
sem_check_grants(struct sem_table *t, struct sem_hold *h, size_t *ngrants,
    char *why, size_t len)
{
	struct sem_grant	*g;
	uint64_t		 sum = 0;

	TAILQ_FOREACH(g, &h->grants, hold_entry) {
		if (g->hold != h || g->weight == 0 || g->token == 0)
			return (sem_broken(why, len, "%s: grant %llu points "
			    "elsewhere, is empty or has token 0", h->sem->name,
			    (unsigned long long)g->token));
		if (sem_grant_lookup(t, g->token) != g)
			return (sem_broken(why, len, "%s: grant %llu is not "
			    "found by token", h->sem->name,
			    (unsigned long long)g->token));
		sum += g->weight;
		(*ngrants)++;
	}
	if (sum != h->weight)
		return (sem_broken(why, len, "%s: a hold of weight %u has "
		    "grants adding up to %llu", h->sem->name, h->weight,
		    (unsigned long long)sum));
	return (0);
}

/* Check one semaphore; adds its holds, grants, waiters, deadlines, pins. */
static int
sem_check_sem(struct sem_table *t, struct sem *s, size_t *nholds,
    size_t *ngrants, size_t *nqueued, size_t *ndeadline, size_t *npinned,
    char *why, size_t len)
{
	struct sem_hold		*h;
	struct sem_waiter	*w;
	uint64_t		 sum = 0;
	size_t			 cnt = 0;

	if (s->name_len == 0 || s->name_len > PROTO_MAX_NAME ||
	    s->name[s->name_len] != '\0')
		return (sem_broken(why, len, "a semaphore has a bad name"));
	if (sem_lookup(t, s->name, s->name_len) != s)
		return (sem_broken(why, len, "%s: not found by name", s->name));
	if (s->capacity == 0)
		return (sem_broken(why, len, "%s: capacity 0", s->name));
	TAILQ_FOREACH(h, &s->holders, sem_entry) {
		if (h->sem != s || h->weight == 0)
			return (sem_broken(why, len, "%s: a hold of weight %u "
			    "points elsewhere or is empty", s->name,
			    h->weight));
		if (sem_find_hold(t, h->owner, s) != h)
			return (sem_broken(why, len, "%s: a hold is not found "
			    "by (owner, sem)", s->name));
		if (sem_check_grants(t, h, ngrants, why, len) == -1)
			return (-1);
		sum += h->weight;
		cnt++;
	}
	if (sum != s->held || cnt != s->nholders)
		return (sem_broken(why, len, "%s: held %llu and %u holders, "
		    "but the holds add up to %llu in %zu", s->name,
		    (unsigned long long)s->held, s->nholders,
		    (unsigned long long)sum, cnt));
	if (s->held > s->capacity && !s->shrunk)
		return (sem_broken(why, len, "%s: held %llu over capacity %u",
		    s->name, (unsigned long long)s->held, s->capacity));
	*nholds += cnt;

	cnt = 0;
	TAILQ_FOREACH(w, &s->queue, sem_entry) {
		if (w->sem != s || w->state != SEM_W_QUEUED ||
		    w->grant == NULL)
			return (sem_broken(why, len, "%s: queued waiter %llu "
			    "points elsewhere, is not QUEUED or has no grant "
			    "set aside", s->name, (unsigned long long)w->id));
		if (w->weight == 0 || w->weight > s->capacity)
			return (sem_broken(why, len, "%s: waiter %llu has "
			    "weight %u", s->name, (unsigned long long)w->id,
			    w->weight));
		if (sem_find_waiter(t, w->owner, w->id) != w)
			return (sem_broken(why, len, "%s: waiter %llu is not "
			    "found by (owner, id)", s->name,
			    (unsigned long long)w->id));
		if (w->heap_idx != SIZE_MAX) {
			if (w->heap_idx >= t->deadlines.len ||
			    t->deadlines.v[w->heap_idx] != w)
				return (sem_broken(why, len, "%s: waiter %llu "
				    "is not where the heap says", s->name,
				    (unsigned long long)w->id));
			(*ndeadline)++;
		}
		cnt++;
	}
	if (cnt != s->nwaiting)
		return (sem_broken(why, len, "%s: nwaiting %u, queue %zu",
		    s->name, s->nwaiting, cnt));
	*nqueued += cnt;
	w = TAILQ_FIRST(&s->queue);
	if (w != NULL && !s->drained && s->held + w->weight <= s->capacity)
		return (sem_broken(why, len, "%s: the head (weight %u) fits "
		    "(held %llu of %u) but waits", s->name, w->weight,
		    (unsigned long long)s->held, s->capacity));
	if (s->nholders == 0 && s->nwaiting == 0 && s->npinned == 0 &&
	    !s->declared && !s->drained)
		return (sem_broken(why, len, "%s: idle but not forgotten",
		    s->name));
	*npinned += s->npinned;
	return (0);
}

/* Check one owner and the totals of its uid. */
static int
sem_check_owner(struct sem_table *t, struct sem_owner *o, size_t *nholds,
    size_t *nwaiters, size_t *nuids, char *why, size_t len)
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
	TAILQ_FOREACH(h, &o->holds, owner_entry) {
		if (h->owner != o)
			return (sem_broken(why, len, "owner pid %u: a hold "
			    "belongs to another", o->pid));
		cnt++;
	}
	if (cnt != o->nholds)
		return (sem_broken(why, len, "owner pid %u: nholds %u, list "
		    "%zu", o->pid, o->nholds, cnt));
	*nholds += cnt;
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
	*nwaiters += cnt;
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
	(*nuids)++;
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
 * Check every structural invariant of the table; see sem.h.  Returns 0,
 * or -1 with the first violation found described in why.  A debugging
 * aid: O(everything), and O(owners^2 / uids) for the per-uid totals.
 */
int
sem_check_invariants(struct sem_table *t, char *why, size_t len)
{
	struct sem		*s;
	struct sem_owner	*o;
	struct sem_waiter	*w, *parent;
	struct sem_hold		*h;
	size_t			 nsems = 0, nholds = 0, nqueued = 0;
	size_t			 ndeadline = 0, npinned = 0, nevents = 0;
	size_t			 nowners = 0, oholds = 0, owaiters = 0;
	size_t			 nspare = 0, nuids = 0, ngrants = 0, i;

	TAILQ_FOREACH(w, &t->events, sem_entry) {
		if ((w->state != SEM_W_GRANTED && w->state != SEM_W_EXPIRED &&
		    w->state != SEM_W_REFUSED) ||
		    w->heap_idx != SIZE_MAX || w->grant != NULL)
			return (sem_broken(why, len, "event for waiter %llu "
			    "in state %d", (unsigned long long)w->id,
			    (int)w->state));
		nevents++;
	}
	TAILQ_FOREACH(s, &t->sems, entry) {
		if (sem_check_sem(t, s, &nholds, &ngrants, &nqueued,
		    &ndeadline, &npinned, why, len) == -1)
			return (-1);
		nsems++;
	}
	if (ngrants != t->by_token.count)
		return (sem_broken(why, len, "%zu grants on holds, %zu hashed",
		    ngrants, t->by_token.count));
	if (nsems != t->nsems || nsems != t->by_name.count)
		return (sem_broken(why, len, "%zu semaphores listed, nsems "
		    "%zu, %zu hashed", nsems, t->nsems, t->by_name.count));
	if (npinned != nevents)
		return (sem_broken(why, len, "%zu pins for %zu events",
		    npinned, nevents));
	if (ndeadline != t->deadlines.len)
		return (sem_broken(why, len, "%zu queued waiters with a "
		    "deadline, %zu in the heap", ndeadline, t->deadlines.len));
	for (i = 1; i < t->deadlines.len; i++) {
		w = t->deadlines.v[i];
		parent = t->deadlines.v[(i - 1) / 2];
		if (w->heap_idx != i || parent->deadline_ms > w->deadline_ms ||
		    (parent->deadline_ms == w->deadline_ms &&
		    parent->seq > w->seq))
			return (sem_broken(why, len, "the deadline heap is out "
			    "of order at %zu", i));
	}
	for (h = t->spare; h != NULL; h = h->hnext)
		nspare++;
	if (nspare != t->nspare || nspare != nqueued)
		return (sem_broken(why, len, "%zu spare holds (nspare %zu) for "
		    "%zu queued waiters", nspare, t->nspare, nqueued));

	TAILQ_FOREACH(o, &t->owners, entry) {
		if (sem_check_owner(t, o, &oholds, &owaiters, &nuids, why,
		    len) == -1)
			return (-1);
		nowners++;
	}
	if (nowners != t->nowners)
		return (sem_broken(why, len, "%zu owners listed, nowners %zu",
		    nowners, t->nowners));
	if (nuids != t->by_uid.count)
		return (sem_broken(why, len, "owners have %zu uids, %zu hashed",
		    nuids, t->by_uid.count));
	if (oholds != nholds || nholds != t->by_hold.count)
		return (sem_broken(why, len, "owners have %zu holds, "
		    "semaphores %zu, %zu hashed", oholds, nholds,
		    t->by_hold.count));
	if (owaiters != nqueued + nevents || owaiters != t->by_id.count)
		return (sem_broken(why, len, "owners have %zu waiters; %zu "
		    "queued, %zu events, %zu hashed", owaiters, nqueued,
		    nevents, t->by_id.count));
	return (0);
}
