/*
 * sem-int.h -- the semaphore engine's private structures, and the few
 * helpers both of its files need: sem.c (the engine) and sem-check.c
 * (the invariant checker and sem_tamper, for the tests and the fuzzer).
 *
 * Included ONLY by daemon/sem.c and daemon/sem-check.c.  Every other
 * file sees the engine through sem.h alone, where these structures are
 * opaque: do not include this header anywhere else.  Who owns what, and
 * the invariants sem-check.c checks, are described at the top of sem.c.
 */

#ifndef SEMD_SEM_INT_H
#define SEMD_SEM_INT_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "sem.h"


/*
 * A place in one of the table's heaps (see struct heap): due at at_ms,
 * ties broken by seq.
 */
struct heap_entry {
	uint64_t		 at_ms;		/* valid if idx != SIZE_MAX */
	uint64_t		 seq;
	size_t			 idx;		/* SIZE_MAX: not in the heap */
};

/* One semaphore. */
struct sem {
	char			 name[PROTO_MAX_NAME + 1];
	size_t			 name_len;
	uint32_t		 capacity;	/* 0: no bound (rate only) */
	uint64_t		 held;		/* total weight granted */
	uint32_t		 nwaiting;	/* waiters on queue */
	uint32_t		 nholders;	/* holds on holders */
	uint32_t		 npinned;	/* undelivered events and work
						   in progress naming it */
	double			 rate;		/* grants/s; 0: no rate */
	uint32_t		 burst;		/* >= 1 when rate > 0 */
	uint64_t		 t_ns;		/* emission interval 1/rate */
	uint64_t		 tat_ns;	/* GCRA theoretical arrival */
	struct heap_entry	 wake;		/* in the wake heap; seq 0 */
	int			 dirty;		/* on the table's dirty list */
	int			 declared;	/* by the configuration: kept
						   while idle (sem_declare) */
	int			 drained;	/* no grants (sem_drain); kept
						   while idle */
	int			 shrunk;	/* held > capacity after a
						   resize, until releases */
	TAILQ_HEAD(, sem_part)	 queue;		/* FIFO by seq, head first */
	TAILQ_HEAD(, sem_hold)	 holders;	/* oldest first */
	struct sem_stats	 stats;		/* through sem_stats() */
	uint64_t		 hv;		/* hash of the name */
	struct sem		*hnext;		/* hash chain */
	TAILQ_ENTRY(sem)	 entry;		/* on table's list */
	TAILQ_ENTRY(sem)	 dirty_entry;	/* on the dirty list */
};

/* What one owner holds on one semaphore (all its grants, summed). */
struct sem_hold {
	struct sem		*sem;
	struct sem_owner	*owner;
	uint32_t		 weight;
	uint64_t		 since_ms;	/* first grant of this hold */
	TAILQ_HEAD(sem_grant_list, sem_grant) grants;	/* oldest first */
	TAILQ_ENTRY(sem_hold)	 sem_entry;	/* on sem->holders */
	TAILQ_ENTRY(sem_hold)	 owner_entry;	/* on owner->holds */
	struct sem_hold		*hnext;		/* hash chain */
};

enum sem_waiter_state {
	SEM_W_QUEUED,		/* on sem->queue */
	SEM_W_GRANTED,		/* granted, event not yet flushed */
	SEM_W_EXPIRED,		/* deadline passed, event not yet flushed */
	SEM_W_REFUSED,		/* a resize made it too heavy, event not
				   yet flushed */
};

/*
 * One grant: the slots one ACQUIRE was given on one semaphore, named by
 * its token.  A grant lives on its hold's list from the grant until the
 * last of its weight is given back.  An ACQUIRE of several semaphores
 * makes one grant on each, all with the same token and serial, linked in
 * a ring by gnext (a grant of one semaphore is a ring of one); the
 * token hash finds each of them.  serial is the engine's count of grants
 * made (see sem_table_set_serial), which the grant_new hook may turn
 * into another token.  cookie is the caller's.
 */
struct sem_grant {
	struct sem_hold		*hold;
	uint64_t		 token;
	uint64_t		 serial;
	uint32_t		 weight;	/* still held of this grant */
	uint64_t		 since_ms;
	uint64_t		 cookie;	/* the caller's; 0 at first */
	struct sem_grant	*gnext;		/* the ring of one ACQUIRE */
	TAILQ_ENTRY(sem_grant)	 hold_entry;	/* on hold->grants */
	struct sem_grant	*hnext;		/* hash chain */
};

/* One semaphore of a pending ACQUIRE: its place on that queue. */
struct sem_part {
	struct sem		*sem;
	struct sem_waiter	*w;
	uint32_t		 weight;
	struct sem_grant	*grant;		/* QUEUED: set aside for the
						   grant */
	TAILQ_ENTRY(sem_part)	 sem_entry;	/* on sem->queue */
};

/*
 * One pending ACQUIRE, of one semaphore or several (parts; sem and
 * weight repeat parts[0] for the callers that serve one name).
 */
struct sem_waiter {
	struct sem		*sem;		/* parts[0].sem */
	struct sem_owner	*owner;
	uint64_t		 id;
	uint32_t		 weight;	/* parts[0].weight */
	enum sem_waiter_state	 state;
	uint64_t		 token;		/* GRANTED: the grant's token */
	uint64_t		 since_ms;	/* when it was queued */
	uint64_t		 seq;		/* arrival order */
	struct heap_entry	 deadline;	/* in the deadline heap; seq is
						   the waiter's, so equal
						   deadlines expire in the
						   order they came */
	TAILQ_ENTRY(sem_waiter)	 ev_entry;	/* on the events list */
	TAILQ_ENTRY(sem_waiter)	 owner_entry;	/* on owner->waiters */
	struct sem_waiter	*hnext;		/* hash chain */
	uint32_t		 nparts;
	struct sem_part		 parts[];
};

/*
 * What all the owners of one uid have together, for the per-uid limits:
 * shared by those owners, freed with the last of them.
 */
struct sem_uid {
	uint32_t		 uid;
	uint32_t		 nowners;	/* owners with this uid */
	uint32_t		 npending;	/* their waiters, any state */
	uint32_t		 nholds;	/* their holds */
	struct sem_uid		*hnext;		/* hash chain */
};

/* One client connection as the engine sees it. */
struct sem_owner {
	struct sem_table	*table;
	void			*ctx;		/* the caller's (struct conn) */
	uint32_t		 pid;
	uint32_t		 uid;
	struct sem_uid		*acct;		/* this uid's totals */
	uint32_t		 npending;	/* waiters, any state */
	uint32_t		 nholds;	/* distinct semaphores held */
	TAILQ_HEAD(, sem_hold)	 holds;
	TAILQ_HEAD(, sem_waiter) waiters;
	TAILQ_ENTRY(sem_owner)	 entry;		/* on the table's owners */
};

/*
 * A heap: a binary min-heap of entries ordered by due time, ties broken
 * by seq.  Each entry records its index (idx, SIZE_MAX when not in the
 * heap), which makes removal from the middle O(log n).  The entries are
 * embedded in what the heap orders: the table keeps one of queued
 * waiters' deadlines and one of semaphores' rate wake-ups.
 */
struct heap {
	struct heap_entry	**v;
	size_t			  len;
	size_t			  cap;
};

/* The table: every semaphore, owner, hold, grant and waiter. */
struct sem_table {
	struct sem_callbacks	 cb;
	void			*arg;
	struct sem_limits	 limits;

	struct hash_key		 key;
	struct hash		 by_name;	/* sems by name */
	struct hash		 by_hold;	/* holds by (owner, sem) */
	struct hash		 by_id;		/* waiters by (owner, id) */
	struct hash		 by_uid;	/* per-uid totals by uid */

	TAILQ_HEAD(, sem)	 sems;		/* creation order */
	size_t			 nsems;
	struct hash		 by_retired;	/* forgotten sems by name */
	TAILQ_HEAD(sem_list, sem) retired;	/* newest first */
	size_t			 nretired;
	TAILQ_HEAD(, sem_owner)	 owners;
	size_t			 nowners;

	struct hash		 by_token;	/* grants by token */

	TAILQ_HEAD(, sem_waiter) events;	/* decision order */
	TAILQ_HEAD(, sem)	 dirty;		/* the grant rule must run */
	struct heap		 deadlines;	/* queued waiters' deadlines */
	struct heap		 wake;		/* semaphores' rate wake-ups;
						   room for every semaphore */

	struct sem_hold		*spare;		/* pool, linked by hnext */
	size_t			 nspare;
	uint64_t		 seq;		/* next waiter's seq */
	uint64_t		 serial;	/* next grant's serial */
	uint64_t		 now_ms;	/* latest time passed in */
};

/* Is a due before b? */
static inline int
heap_less(const struct heap_entry *a, const struct heap_entry *b)
{
	if (a->at_ms != b->at_ms)
		return (a->at_ms < b->at_ms);
	return (a->seq < b->seq);
}

/* Find the totals of uid, or NULL.  O(1) expected. */
static inline struct sem_uid *
sem_find_uid(struct sem_table *t, uint32_t uid)
{
	struct sem_uid	*u;
	uint64_t	 hv;

	hv = hash_mix2(&t->key, uid, 0);
	for (u = hash_bucket(&t->by_uid, hv); u != NULL; u = u->hnext) {
		if (u->uid == uid)
			return (u);
	}
	return (NULL);
}

/* Find what owner holds on s, or NULL.  O(1) expected. */
static inline struct sem_hold *
sem_find_hold(struct sem_table *t, struct sem_owner *o, struct sem *s)
{
	struct sem_hold	*h;
	uint64_t	 hv;

	hv = hash_mix2(&t->key, (uintptr_t)o, (uintptr_t)s);
	for (h = hash_bucket(&t->by_hold, hv); h != NULL; h = h->hnext) {
		if (h->owner == o && h->sem == s)
			return (h);
	}
	return (NULL);
}

/*
 * Find owner's pending waiter id (any state), or NULL.  O(1) expected;
 * no hashing for an owner with no waiter (every ACQUIRE asks).
 */
static inline struct sem_waiter *
sem_find_waiter(struct sem_table *t, struct sem_owner *o, uint64_t id)
{
	struct sem_waiter	*w;
	uint64_t		 hv;

	if (TAILQ_EMPTY(&o->waiters))
		return (NULL);
	hv = hash_sip2(&t->key, (uintptr_t)o, id);
	for (w = hash_bucket(&t->by_id, hv); w != NULL; w = w->hnext) {
		if (w->owner == o && w->id == id)
			return (w);
	}
	return (NULL);
}

/* Milliseconds to nanoseconds, saturating. */
static inline uint64_t
sem_ms_to_ns(uint64_t ms)
{
	return (ms > UINT64_MAX / 1000000 ? UINT64_MAX : ms * 1000000);
}

/*
 * The earliest instant (ns) the GCRA of s lets a grant pass: TAT minus
 * the tolerance (burst-1)*T.  0 for a semaphore without a rate.
 */
static inline uint64_t
sem_conform_ns(const struct sem *s)
{
	uint64_t	 tau;

	if (s->rate <= 0)
		return (0);
	tau = (uint64_t)(s->burst - 1) * s->t_ns;
	return (s->tat_ns > tau ? s->tat_ns - tau : 0);
}

#endif /* SEMD_SEM_INT_H */
