/*
 * sem.h -- the semaphore engine: named counting semaphores, FIFO queues,
 * weights, deadlines, ownership.  No I/O, no libevent, no clock: the
 * caller passes "now" (monotonic milliseconds) into every call that needs
 * it, so the engine is deterministic and unit-tested without sockets.
 *
 * Semantics are those of DESIGN.md §Semantics (strict FIFO grant rule),
 * §Several semaphores at once and §Rates.
 *
 * Several semaphores.  One request (a waiter) may name up to SEM_MAX_PARTS
 * semaphores; it has one part on each of their queues, all with the same
 * arrival number (seq), so every queue is ordered by one global order.
 * A request is granted, all parts at once, when it is the head of every
 * one of its queues, fits in every capacity and conforms to every rate.
 * The oldest queued request is the head of each of its queues, so it
 * never waits for another waiter, only for holders to release or for
 * time to pass: no circular wait, no deadlock.  A part keeps its place
 * (reserves) while the request waits for its other semaphores, so heavy
 * and wide requests are not starved.
 *
 * Rates.  A semaphore may have a rate (grants per second) and a burst:
 * GCRA with emission interval T = 1/rate and tolerance (burst-1)*T, kept
 * in nanoseconds.  The head is granted only when the concurrency bound
 * and the rate both allow it; when only the rate holds it back the engine
 * records the exact instant (rounded up to the millisecond) it conforms,
 * which sem_next_deadline() reports.  A semaphore with a rate is kept
 * while idle until its theoretical arrival time has passed, so that
 * forgetting it cannot give a fresh burst early.
 *
 * Decisions that concern another owner than the caller (a waiter granted
 * because someone released, a waiter whose deadline passed) are not
 * reported during the call that caused them: they are queued as events,
 * in the order they were decided, and delivered by sem_flush().  The
 * daemon calls sem_flush() after writing the reply to the request it is
 * handling, so a connection that releases and also waits on the same
 * semaphore sees RELEASED before its ACQUIRED.
 *
 * Costs: lookup of a name is O(1) expected (hash table); grant, release,
 * withdrawal and expiry of one waiter cost O(1) plus O(log n) for the
 * deadline heap (n = waiters with a deadline); nothing is O(number of
 * waiters) or O(number of semaphores).  sem_owner_drop costs O(what that
 * owner holds and waits for).  Finding an owner's hold on a semaphore and
 * an owner's pending id is O(1) expected (hashed).
 */

#ifndef SEMD_SEM_H
#define SEMD_SEM_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define SEM_MAX_PARTS	16	/* semaphores in one request */

/*
 * The engine's objects are its own (defined in sem.c): callers hold
 * pointers and ask the queries below.
 */
struct sem_table;
struct sem;		/* one semaphore */
struct sem_owner;	/* one client connection */
struct sem_waiter;	/* one pending ACQUIRE */
struct sem_grant;	/* what one ACQUIRE was given on one semaphore */

/* A histogram of durations in the buckets of proto.h (1 ms .. 1 h). */
struct sem_hist {
	uint64_t	 count[PROTO_HIST_BUCKETS];	/* not cumulative */
	uint64_t	 sum_ms;
};

/*
 * What happened on one semaphore since it was first created: filled by
 * sem.c as things happen (no allocation, O(1) per event), read through
 * sem_stats().  A semaphore that is forgotten (idle and not declared)
 * keeps its figures among the SEM_MAX_RETIRED most recently forgotten
 * (sem_retired_*), and a new one of that name takes them back; beyond
 * those, the oldest figures are dropped.
 */
#define SEM_MAX_RETIRED	1024
struct sem_stats {
	uint64_t	 grants;	/* at once or from the queue */
	uint64_t	 timeouts;	/* deadline passed in line, or a try
					   refused (TIMEOUT from the daemon) */
	uint64_t	 withdrawals;	/* left the line: TIMEOUT from the
					   client, or its connection closed */
	uint64_t	 releases;	/* RELEASE requests */
	uint64_t	 disconnects;	/* holds given back because their
					   connection closed */
	uint64_t	 revokes;	/* holds revoked by an administrator */
	uint32_t	 max_waiting;	/* longest line seen */
	uint64_t	 recent_hold_ms; /* moving average of hold times
					   (weight 1/8 for the newest) */
	struct sem_hist	 wait;		/* queued -> granted (0 at once) */
	struct sem_hist	 hold;		/* each grant: made -> all of its
					   weight given back */
};

/*
 * Limits enforced by the engine; 0 means unlimited.  A hold is what one
 * owner holds on one semaphore, whatever its weight: the per-uid limit
 * counts the holds of all the owners of a uid (a process holding two
 * semaphores on each of three connections has six holds).
 */
struct sem_limits {
	uint32_t	 max_sems;		/* semaphores alive at once */
	uint32_t	 max_pending;		/* pending ACQUIREs per owner */
	uint32_t	 max_holds;		/* distinct sems held per owner */
	uint32_t	 max_pending_per_uid;	/* pending ACQUIREs per uid */
	uint32_t	 max_holds_per_uid;	/* holds of all owners of a uid */
};

/* Which limit refused an ACQUIRE (sem_acq_result.limit). */
enum sem_limit {
	SEM_LIMIT_NONE,
	SEM_LIMIT_SEMS,		/* max_sems */
	SEM_LIMIT_HOLDS,	/* max_holds */
	SEM_LIMIT_UID_HOLDS,	/* max_holds_per_uid */
	SEM_LIMIT_PENDING,	/* max_pending */
	SEM_LIMIT_UID_PENDING,	/* max_pending_per_uid */
};

/* What an observation (sem_callbacks.observe) reports. */
enum sem_obs_kind {
	SEM_OBS_GRANT,		/* weight granted; waited_ms in line */
	SEM_OBS_RELEASE,	/* weight given back by RELEASE; held_ms
				   (of the newest grant given back) */
	SEM_OBS_DISCONNECT,	/* a hold given back as its connection
				   closed; held_ms (since its first grant) */
	SEM_OBS_TIMEOUT,	/* left the line at its deadline, or a try
				   refused; waited_ms */
	SEM_OBS_WITHDRAW,	/* left the line: withdrawn, or its
				   connection closed (disconnect set) */
	SEM_OBS_REVOKE,		/* a grant revoked (still held); held_ms */
};

struct sem_obs {
	enum sem_obs_kind	 kind;
	const struct sem	*sem;
	const struct sem_owner	*owner;
	uint32_t		 weight;
	uint64_t		 waited_ms;	/* GRANT, TIMEOUT, WITHDRAW */
	uint64_t		 held_ms;	/* RELEASE, DISCONNECT, REVOKE */
	int			 disconnect;	/* WITHDRAW by disconnect */
	int			 try_refused;	/* TIMEOUT of a try */
};

/*
 * One grant as callers see it (sem_grant_info and the grant hooks): its
 * semaphore and owner, its token and serial, the caller's cookie (0 at
 * first), and the weight still held of it.  serial is the engine's count
 * of grants made (see sem_table_set_serial); the token is the serial
 * unless the grant_new hook made it another.  The grants of an ACQUIRE
 * of several semaphores share token, serial and cookie.
 */
struct sem_grant_info {
	const struct sem	*sem;
	struct sem_owner	*owner;
	uint64_t		 token;
	uint64_t		 serial;
	uint64_t		 cookie;
	uint32_t		 weight;
};

/*
 * Event delivery, from sem_flush().  The waiter may be read with the
 * sem_waiter_* queries during the call; the engine frees it after the
 * callback returns.  A callback must not call back into the engine.
 */
struct sem_callbacks {
	/* A queued ACQUIRE was granted: the owner now holds weight on sem. */
	void	(*granted)(struct sem_waiter *, void *arg);
	/* A queued ACQUIRE's deadline passed: it left the queue, no grant. */
	void	(*expired)(struct sem_waiter *, void *arg);

	/*
	 * Optional, and called synchronously, during the call that decides
	 * (not from sem_flush), so that a record of the grants can be kept
	 * exactly.  They must not fail nor call into the engine.
	 * Each is told the grant as struct sem_grant_info.
	 * grant_new: a grant was just made (weight, serial set, token =
	 * serial); it may replace gi->token by another unique non-zero
	 * value and set gi->cookie, which the grant takes.  For an ACQUIRE
	 * of several semaphores it is called once per semaphore, first for
	 * the first one; the others come with the token (and cookie) the
	 * first one ended up with, which they must keep.  grant_weight: the
	 * weight went down but not to 0.  grant_end: the grant is given
	 * back and freed after the call.
	 */
	void	(*grant_new)(struct sem_grant_info *gi, void *arg);
	void	(*grant_weight)(const struct sem_grant_info *gi, void *arg);
	void	(*grant_end)(const struct sem_grant_info *gi, void *arg);
	/*
	 * From sem_flush: a resize made the capacity of one of the
	 * semaphores of a queued ACQUIRE smaller than the weight it asks
	 * there: it left every queue (TOO_HEAVY), no grant.
	 */
	void	(*refused)(struct sem_waiter *, void *arg);
	/*
	 * Optional, for the log: called at once, while the engine is at
	 * work, for every grant, release, timeout, withdrawal and revoke,
	 * in the order they happen.  Must only look (and not keep
	 * pointers): no call back into the engine.
	 */
	void	(*observe)(const struct sem_obs *, void *arg);
};

/* The outcome of sem_acquire. */
enum sem_acq_status {
	SEM_ACQ_GRANTED,	/* held now; reply ACQUIRED */
	SEM_ACQ_QUEUED,		/* waiting; reply QUEUED{position} */
	SEM_ACQ_BUSY,		/* try (timeout 0) could not be granted: TIMEOUT */
	SEM_ACQ_ERROR,		/* reply ERROR{code}; nothing changed */
};

struct sem_acq_result {
	enum sem_acq_status	 status;
	uint32_t		 position;	/* QUEUED: 1 = head of line */
	enum proto_err		 code;		/* ERROR */
	uint32_t		 capacity;	/* CAPACITY_MISMATCH: the current */
	double			 rate;		/* RATE_MISMATCH: the current */
	uint32_t		 burst;		/* RATE_MISMATCH: the current */
	size_t			 index;		/* ERROR: which name refused */
	enum sem_limit		 limit;		/* LIMIT: which one */
	uint64_t		 token;		/* GRANTED: the grant's token */
};

/*
 * One semaphore asked for by an ACQUIRE (sem_acquire_many).  name is
 * name_len bytes, already validated by proto.  has_capacity/capacity:
 * the capacity declared (0 only with a rate: no concurrency bound).
 * has_rate/rate/burst: the rate declared (rate > 0 grants per second,
 * burst >= 1; burst 0 means the default, 1).
 */
/*
 * One request for one semaphore (sem_acquire): weight on name (name_len
 * bytes, already validated by proto); has_capacity/capacity: the
 * capacity the caller declares; timeout_ms: -1 wait forever, 0 try,
 * > 0 deadline now_ms + timeout_ms.  id is the caller's request id.
 */
struct sem_request {
	uint64_t		 id;
	const char		*name;
	size_t			 name_len;
	int			 has_capacity;
	uint32_t		 capacity;
	uint32_t		 weight;
	int64_t			 timeout_ms;
};

struct sem_want {
	const char		*name;
	size_t			 name_len;
	int			 has_capacity;
	uint32_t		 capacity;
	uint32_t		 weight;
	int			 has_rate;
	double			 rate;
	uint32_t		 burst;
};

/*
 * Create an empty table.  cb and arg are used by sem_flush.  limits may be
 * NULL (no limits).  Returns NULL with errno ENOMEM.
 */
struct sem_table	*sem_table_new(const struct sem_callbacks *cb, void *arg,
			     const struct sem_limits *limits);

/*
 * Free a table and everything in it without delivering events.  Owners
 * must not be used afterwards.
 */
void			 sem_table_free(struct sem_table *);

/*
 * Set the serial the next grant gets (the first is 1 by default), so
 * that serials go on from where an earlier daemon stopped.  0 is made 1.
 */
void			 sem_table_set_serial(struct sem_table *,
			     uint64_t next);

/* The serial the next grant will get. */
uint64_t		 sem_table_next_serial(struct sem_table *);

/*
 * A live grant with this token, or NULL: for a grant of several
 * semaphores, one of them (the others are on its gnext ring).  O(1)
 * expected.
 */
struct sem_grant	*sem_grant_lookup(struct sem_table *, uint64_t token);

/* Fill gi with what grant g is.  O(1). */
void			 sem_grant_info(const struct sem_grant *g,
			     struct sem_grant_info *gi);

/*
 * The next grant of g's ACQUIRE (a ring in the order the semaphores were
 * asked: g itself for a grant of one semaphore).  O(1).
 */
struct sem_grant	*sem_grant_next(const struct sem_grant *g);

/*
 * Create an owner (one per connection); owners with the same uid share
 * the per-uid totals.  NULL with errno ENOMEM.
 */
struct sem_owner	*sem_owner_new(struct sem_table *, void *ctx,
			     uint32_t pid, uint32_t uid);

/*
 * Drop an owner: every waiter leaves its queue (no event for them), every
 * hold is released, and the grant rule runs on each semaphore touched
 * (which may queue granted events for other owners; call sem_flush).
 * Undelivered events of this owner are discarded.  Frees the owner.
 * Cost: O(holds + waiters of this owner), plus the grants it causes.
 */
void			 sem_owner_drop(struct sem_owner *, uint64_t now_ms);

/*
 * Ask for req->weight on req->name (see struct sem_request), written at
 * the call site with designated initializers.
 * Errors (res->code, nothing changes): NO_CAPACITY, CAPACITY_MISMATCH
 * (res->capacity = current), TOO_HEAVY (weight > capacity or weight 0),
 * DUPLICATE_ID (id is pending for this owner: queued, or granted/expired
 * but not yet flushed), LIMIT (res->limit says which), and BAD_NAME only
 * for a name_len outside 1..PROTO_MAX_NAME (a caller bug).  LIMIT:
 * max_sems when it would create a semaphore; max_holds when the owner
 * does not hold this semaphore yet and already holds max_holds others,
 * max_holds_per_uid when the owners of its uid already have that many
 * holds; max_pending and max_pending_per_uid when it would be queued.
 * The hold limits are checked on arrival only: a queued request is
 * granted in its turn even if its owner reached them meanwhile.
 * Always returns 0 (the outcome is in *res); -1 with errno ENOMEM only.
 */
int			 sem_acquire(struct sem_owner *,
			     const struct sem_request *,
			     uint64_t now_ms, struct sem_acq_result *res);

/*
 * Ask for several semaphores at once, all granted together or none
 * (n = 1..SEM_MAX_PARTS distinct names).  Errors as for sem_acquire,
 * with res->index naming the refused want, plus BAD_REQUEST (n out of
 * range, a name given twice, a rate outside PROTO_MIN_RATE..PROTO_MAX_RATE), TOO_HEAVY also for
 * capacity 0 without a rate, and
 * RATE_MISMATCH (a rate declared that differs from the semaphore's:
 * res->rate and res->burst are the current ones, rate 0 for none).
 * A semaphore is created only with a capacity or a rate (rate only:
 * capacity 0).  GRANTED at once only when every queue is empty and every
 * semaphore has room and conforms to its rate; res->token names the
 * grant.  QUEUED: res->position is the furthest place in any queue.
 * Nothing is created for a try that is BUSY.  Always returns 0 but for
 * -1 with errno ENOMEM (nothing changed).  O(n) expected plus O(log n)
 * for a deadline.
 */
int			 sem_acquire_many(struct sem_owner *, uint64_t id,
			     const struct sem_want *, size_t n,
			     int64_t timeout_ms, uint64_t now_ms,
			     struct sem_acq_result *res);

/*
 * Give o a grant recorded by an earlier daemon: weight on name (created
 * with capacity, rate and burst if need be; left over capacity, as after
 * a shrinking resize, if the records overfill it), with this token,
 * serial and cookie; o's grants with the same token form one ACQUIRE.
 * The grant_new hook is not called.  Ignores limits and queues.  Returns
 * 0, or -1 with errno EEXIST (token live elsewhere), EINVAL or ENOMEM
 * (nothing changed).
 */
int			 sem_adopt(struct sem_owner *, const char *name,
			     size_t name_len, uint32_t capacity, double rate,
			     uint32_t burst, uint32_t weight, uint64_t token,
			     uint64_t serial, uint64_t cookie, uint64_t now_ms);

/*
 * Move grant g, with the other semaphores of its ACQUIRE, to owner to;
 * a grant of one semaphore keeps weight of it (1 .. g->weight) and gives
 * back the rest (which may grant waiters: call sem_flush); one of
 * several moves whole.  Returns 0, or -1 with errno EINVAL or ENOMEM
 * (nothing changed).
 */
int			 sem_grant_transfer(struct sem_grant *,
			     struct sem_owner *to, uint32_t weight,
			     uint64_t now_ms);

/*
 * Give back the whole grant with this token, which this owner holds, on
 * every semaphore it has.  Returns PROTO_OK with the name of its first
 * semaphore still held copied to name (PROTO_MAX_NAME + 1 bytes) and the
 * weight given back there in *weight, or PROTO_E_NOT_HELD (no such
 * grant of this owner; nothing changes).  May queue granted events; a
 * semaphore left idle is forgotten.  O(parts) expected plus the grants.
 */
enum proto_err		 sem_release_token(struct sem_owner *, uint64_t token,
			     uint64_t now_ms, char *name, uint32_t *weight);

/*
 * The earliest instant (ms) the rate of s allows a grant: now_ms when it
 * does now or s has no rate.
 */
uint64_t		 sem_rate_next_ms(const struct sem *, uint64_t now_ms);

/*
 * Give back weight on name from what this owner holds.  Returns PROTO_OK,
 * or PROTO_E_NOT_HELD (owner holds less than weight there, or nothing;
 * nothing changes).  Weight 0 on a semaphore the owner holds is an
 * accepted no-op.  May queue granted events for waiters; a semaphore left
 * idle is forgotten.
 */
enum proto_err		 sem_release(struct sem_owner *, const char *name,
			     size_t name_len, uint32_t weight, uint64_t now_ms);

/*
 * Withdraw this owner's queued ACQUIRE id (client-side timeout, ^C).
 * Returns PROTO_OK (it left the queue; reply TIMEOUT{id}) or
 * PROTO_E_NOT_PENDING (no such queued ACQUIRE: never existed, already
 * granted, already expired).  May queue granted events for waiters that
 * were behind it.
 */
enum proto_err		 sem_withdraw(struct sem_owner *, uint64_t id,
			     uint64_t now_ms);

/*
 * Expire every waiter whose deadline is <= now_ms: each leaves its queue
 * and an expired event is queued, then the grant rule runs.  Also serve
 * the semaphores whose rate wake-up is due (the head now conforms, or an
 * idle rated semaphore may be forgotten).  Cost O(k log n) for k expired
 * waiters and wake-ups.
 */
void			 sem_expire(struct sem_table *, uint64_t now_ms);

/*
 * When the engine next needs sem_expire: the earliest pending deadline or
 * rate wake-up.  Returns 1 and sets *deadline_ms, or 0 when there is
 * none.  O(1).
 */
int			 sem_next_deadline(struct sem_table *,
			     uint64_t *deadline_ms);

/*
 * Deliver queued events in the order they were decided, through the
 * callbacks given to sem_table_new.  Returns the number delivered.
 */
size_t			 sem_flush(struct sem_table *);

/*
 * Declare name (name_len bytes, valid) with capacity and rate (grants
 * per second, 0 for none; burst 0 means 1): the semaphore is created if
 * it is not alive (whatever max_sems says: declarations come from the
 * configuration, not from clients), marked declared, so that it is kept
 * while idle, resized to capacity if it had another (see sem_resize) and
 * given the rate if it had another (see sem_set_rate).  capacity 0 is
 * allowed only with a rate.  Returns it, or NULL with errno ENOMEM, or
 * EINVAL for a bad name, capacity or rate (nothing changed).  O(1)
 * expected, plus what a resize costs.
 */
struct sem		*sem_declare(struct sem_table *, const char *name,
			     size_t name_len, uint32_t capacity, double rate,
			     uint32_t burst, uint64_t now_ms);

/*
 * Give s the rate (grants per second, PROTO_MIN_RATE..PROTO_MAX_RATE;
 * 0: no rate) and burst (0 means 1) while it is in use.  The GCRA state
 * carries over: grants still owed (a TAT ahead of now) stay owed,
 * counted at the new interval.
 * The grant rule runs (a faster rate or none may grant at once).  A rate
 * cannot be taken from a semaphore of capacity 0 (nothing would bound
 * it): then nothing changes and -1 is returned with errno EINVAL; else 0.
 */
int			 sem_set_rate(struct sem_table *, struct sem *s,
			     double rate, uint32_t burst, uint64_t now_ms);

/*
 * The configuration no longer declares s: it becomes an ordinary
 * semaphore, forgotten once idle (at once if it is idle now, unless it
 * is drained).  s may be freed: do not use it afterwards.  O(1).
 */
void			 sem_undeclare(struct sem_table *, struct sem *s);

/*
 * Change the capacity of s (1..PROTO_MAX_CAPACITY) while it is in use.
 * Growing grants waiters at once (as far as the grant rule allows).
 * Shrinking never takes anything back: held may stay above the new
 * capacity, and nothing is granted until held + weight <= capacity.
 * Queued requests heavier than the new capacity could never be granted:
 * they leave every queue with a refused event (TOO_HEAVY).  Events are
 * queued for sem_flush.  O(waiters on s) when shrinking, else O(grants).
 */
void			 sem_resize(struct sem_table *, struct sem *s,
			     uint32_t capacity, uint64_t now_ms);

/*
 * Drain (on = 1) or undrain (on = 0) s.  A drained semaphore grants
 * nothing: new requests queue behind the waiters, who keep their place,
 * and a try (timeout 0) is BUSY; holders keep their slots.  Undraining
 * runs the grant rule.  A drained semaphore is kept while idle; after
 * undraining, an idle undeclared one is forgotten at once (s may be
 * freed: do not use it afterwards).  O(1) plus the grants.
 */
void			 sem_drain(struct sem_table *, struct sem *s, int on,
			     uint64_t now_ms);

/* Look up a semaphore by name: NULL if it is not alive.  O(1). */
struct sem		*sem_lookup(struct sem_table *, const char *name,
			     size_t name_len);

/*
 * What the limit which counts for owner o now (SEM_LIMIT_SEMS: the
 * semaphores alive; _HOLDS: the semaphores o holds; _UID_HOLDS: those
 * the owners of o's uid hold; _PENDING and _UID_PENDING: the pending
 * requests), for saying why a request was refused.  0 for
 * SEM_LIMIT_NONE.  O(1).
 */
uint64_t		 sem_limit_count(const struct sem_owner *o,
			     enum sem_limit which);

/*
 * Call cb for each holder of s (waiting 0; weight held, since_ms the
 * hold's first grant), then for each waiter in queue order (waiting 1;
 * the weight asked of s, since_ms the request's arrival), until cb
 * returns non-zero, which sem_parties returns (0 when all were seen).
 * cb must not change the table.  O(holders + waiters seen).
 */
int			 sem_parties(const struct sem *s,
			     int (*cb)(const struct sem_owner *, uint32_t weight,
			     uint64_t since_ms, int waiting, void *), void *arg);

/* The weight owner o holds on name (0: none).  O(1) expected. */
uint32_t		 sem_held(struct sem_owner *o, const char *name,
			     size_t name_len);

/*
 * Count a revoke of grant g (the daemon told its holder) in its
 * semaphore's figures, and report it to the observer.  O(1).
 */
void			 sem_revoked(struct sem_table *, struct sem_grant *,
			     uint64_t now_ms);

/*
 * Forgotten semaphores whose figures are kept (see struct sem_stats),
 * most recently forgotten first: only name, capacity (the last) and
 * stats mean anything.  Lookup O(1) expected.
 */
struct sem		*sem_retired_lookup(struct sem_table *,
			     const char *name, size_t name_len);
struct sem		*sem_retired_first(struct sem_table *);
struct sem		*sem_retired_next(struct sem *);
size_t			 sem_retired_count(struct sem_table *);

/*
 * Copy the figures of s, live or retired (see struct sem_stats), into
 * *st.  O(1).
 */
void			 sem_stats(const struct sem *, struct sem_stats *st);

/*
 * What callers read of a semaphore (live or retired), each O(1): its
 * name (NUL-terminated) and length; its capacity (0: rate only); the
 * weight granted, all holders together (above the capacity after a
 * shrinking resize, until releases); how many requests wait on it and
 * how many owners hold some of it; whether the configuration declares
 * it and whether it is drained; its rate (grants per second, 0: none)
 * with its burst in *burst (burst may be NULL).
 */
const char		*sem_name(const struct sem *);
size_t			 sem_name_len(const struct sem *);
uint32_t		 sem_capacity(const struct sem *);
uint64_t		 sem_used(const struct sem *);
uint32_t		 sem_nwaiting(const struct sem *);
uint32_t		 sem_nholders(const struct sem *);
int			 sem_is_declared(const struct sem *);
int			 sem_is_drained(const struct sem *);
double			 sem_rate(const struct sem *, uint32_t *burst);

/*
 * What callers read of an owner, O(1): the ctx given to sem_owner_new
 * (NULL for the daemon's own owners), and the peer's pid and uid.  What
 * it holds and waits for: sem_limit_count.
 */
void			*sem_owner_ctx(const struct sem_owner *);
uint32_t		 sem_owner_pid(const struct sem_owner *);
uint32_t		 sem_owner_uid(const struct sem_owner *);

/*
 * What the event callbacks read of the waiter they are given, O(1): its
 * owner, the caller's request id, the token of its grant (granted only),
 * how many semaphores it asked for, and the i-th of them (0 ..
 * nparts - 1, in the order asked) with the weight asked there in
 * *weight (weight may be NULL).
 */
struct sem_owner	*sem_waiter_owner(const struct sem_waiter *);
uint64_t		 sem_waiter_id(const struct sem_waiter *);
uint64_t		 sem_waiter_token(const struct sem_waiter *);
uint32_t		 sem_waiter_nparts(const struct sem_waiter *);
const struct sem	*sem_waiter_part(const struct sem_waiter *, uint32_t i,
			     uint32_t *weight);

/*
 * Call cb for each grant held on s: holders oldest first, the grants of
 * each hold oldest first (consecutive), until cb returns non-zero,
 * which sem_grants returns (0 when all were seen).  cb may call
 * sem_revoked but must not otherwise change the table.  O(grants seen).
 */
int			 sem_grants(const struct sem *s,
			     int (*cb)(struct sem_grant *, void *), void *arg);

/* Iterate live semaphores in creation order (for STATUS). */
struct sem		*sem_first(struct sem_table *);
struct sem		*sem_next(struct sem *);

/* Number of live semaphores, and of owners. */
size_t			 sem_count(struct sem_table *);
uint32_t		 sem_uid_owners(struct sem_table *, uint32_t);
size_t			 sem_owner_count(struct sem_table *);

/*
 * Check every structural invariant of the table (a debugging aid for
 * tests and fuzzers): counts agree with lists, held is the sum of the
 * holds and within capacity, no head that fits is left waiting, the hash
 * tables find every element, the deadline heap is ordered, the spare
 * pool matches the queued waiters, the per-uid totals add up, and no
 * idle semaphore is kept unless declared, drained or owed to its rate.
 * held may exceed capacity only after a shrinking resize, until releases
 * bring it down.  Returns 0, or -1 with the first violation
 * described in why (len bytes; why may be NULL).  Cost: O(everything).
 */
int			 sem_check_invariants(struct sem_table *, char *why,
			     size_t len);

/*
 * For the tests of sem_check_invariants only: add delta (modulo the
 * field's width) to one thing the checker verifies, so that a test can
 * break a table, see the checker name the fault, and mend it with
 * -delta.  HELD .. CAPACITY change s; NHOLDS .. UID_NHOLDS change o or
 * its uid's totals; HEAD_* change the first waiter on s's queue (its
 * index in the deadline heap, its request id, its arrival order).  O(1).
 */
enum sem_tamper {
	SEM_TAMPER_HELD,
	SEM_TAMPER_NWAITING,
	SEM_TAMPER_NHOLDERS,
	SEM_TAMPER_CAPACITY,
	SEM_TAMPER_NHOLDS,
	SEM_TAMPER_NPENDING,
	SEM_TAMPER_UID_NPENDING,
	SEM_TAMPER_UID_NHOLDS,
	SEM_TAMPER_HEAD_HEAP_IDX,
	SEM_TAMPER_HEAD_ID,
	SEM_TAMPER_HEAD_SEQ,
};
void			 sem_tamper(struct sem *s, struct sem_owner *o,
			     enum sem_tamper what, int64_t delta);

/*
 * Check progress at now_ms (after the engine ran at now_ms): every queue
 * is ordered by arrival (so no circular wait can form), and no request
 * that is at the head of all its queues, fits every capacity and
 * conforms to every rate at now_ms is left waiting.  Returns 0, or -1
 * with the violation described in why.  O(everything).
 */
int			 sem_check_progress(struct sem_table *, uint64_t now_ms,
			     char *why, size_t len);

#endif /* SEMD_SEM_H */
