/*
 * test_sem.c -- unit tests of the semaphore engine (daemon/sem.c, with
 * its deadline heap) and its hash (hash.c).  No sockets, no clock: time
 * is a number the tests pass in.  Events delivered by sem_flush are
 * recorded in order and compared with what the grant rule says must
 * happen.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "sem.h"
#include "unit.h"

#define NOCAP		(-1)	/* acq(): no capacity declared */
#define FOREVER		(-1)	/* acq(): no timeout */
#define TRY		0	/* acq(): try, never queued */

/* One delivered event, as a callback saw it. */
struct ev {
	char			 kind;		/* 'G' granted, 'E' expired */
	struct sem_owner	*owner;
	uint64_t		 id;
	uint32_t		 weight;
	uint64_t		 token;		/* 'G': the grant's */
	char			 sem[PROTO_MAX_NAME + 1];
};

struct rec {
	struct ev	*v;
	size_t		 len;
	size_t		 cap;
};

static struct rec		 rec;
static struct sem_table		*tbl;

static void
rec_push(struct sem_waiter *w, char kind)
{
	const struct sem	*s;
	struct ev		*e;

	if (rec.len == rec.cap) {
		rec.cap = rec.cap == 0 ? 64 : rec.cap * 2;
		rec.v = realloc(rec.v, rec.cap * sizeof *rec.v);
		ck_assert_ptr_nonnull(rec.v);
	}
	e = &rec.v[rec.len++];
	e->kind = kind;
	e->owner = sem_waiter_owner(w);
	e->id = sem_waiter_id(w);
	s = sem_waiter_part(w, 0, &e->weight);
	e->token = kind == 'G' ? sem_waiter_token(w) : 0;
	memcpy(e->sem, sem_name(s), sem_name_len(s) + 1);
}

static void
granted_cb(struct sem_waiter *w, void *arg)
{
	const struct sem	*s;
	uint32_t		 weight;

	ck_assert_ptr_eq(arg, &rec);
	/* The grant was counted when it was decided. */
	s = sem_waiter_part(w, 0, &weight);
	ck_assert_uint_ge(sem_used(s), weight);
	rec_push(w, 'G');
}

static void
expired_cb(struct sem_waiter *w, void *arg)
{
	ck_assert_ptr_eq(arg, &rec);
	rec_push(w, 'E');
}

static void
refused_cb(struct sem_waiter *w, void *arg)
{
	const struct sem	*s;
	uint32_t		 weight;

	ck_assert_ptr_eq(arg, &rec);
	s = sem_waiter_part(w, 0, &weight);
	ck_assert_uint_gt(weight, sem_capacity(s));
	rec_push(w, 'R');
}

static const struct sem_callbacks cbs = {
	.granted = granted_cb,
	.expired = expired_cb,
	.refused = refused_cb,
};

static void
rec_reset(void)
{
	rec.len = 0;
}

static struct sem_table *
table_new(const struct sem_limits *lim)
{
	struct sem_table	*t;

	t = sem_table_new(&cbs, &rec, lim);
	ck_assert_ptr_nonnull(t);
	return (t);
}

static void
setup(void)
{
	memset(&rec, 0, sizeof rec);
	tbl = table_new(NULL);
}

static void
teardown(void)
{
	sem_table_free(tbl);
	tbl = NULL;
	free(rec.v);
	memset(&rec, 0, sizeof rec);
}

static struct sem_owner *
owner_uid(struct sem_table *t, uint32_t pid, uint32_t uid)
{
	struct sem_owner	*o;

	o = sem_owner_new(t, NULL, pid, uid);
	ck_assert_ptr_nonnull(o);
	return (o);
}

static struct sem_owner *
owner(struct sem_table *t, uint32_t pid)
{
	return (owner_uid(t, pid, 1000));
}

/* The engine's own invariant check passes. */
static void
check_invariants(struct sem_table *t)
{
	char	why[256];

	why[0] = '\0';
	ck_assert_msg(sem_check_invariants(t, why, sizeof why) == 0,
	    "sem_check_invariants: %s", why);
}

/* sem_acquire with a NUL-terminated name; the call itself must succeed. */
static struct sem_acq_result
acq(struct sem_owner *o, uint64_t id, const char *name, int64_t cap,
    uint32_t weight, int64_t timeout_ms, uint64_t now_ms)
{
	struct sem_acq_result	r;

	ck_assert_int_eq(sem_acquire(o, &(struct sem_request){ .id = id,
	    .name = name, .name_len = strlen(name), .has_capacity = cap >= 0,
	    .capacity = cap >= 0 ? (uint32_t)cap : 0, .weight = weight,
	    .timeout_ms = timeout_ms }, now_ms, &r), 0);
	return (r);
}

static void
expect_granted(struct sem_acq_result r)
{
	ck_assert_int_eq(r.status, SEM_ACQ_GRANTED);
}

static void
expect_queued(struct sem_acq_result r, uint32_t position)
{
	ck_assert_int_eq(r.status, SEM_ACQ_QUEUED);
	ck_assert_uint_eq(r.position, position);
}

static void
expect_error(struct sem_acq_result r, enum proto_err code)
{
	ck_assert_int_eq(r.status, SEM_ACQ_ERROR);
	ck_assert_int_eq(r.code, code);
}

static enum proto_err
rel(struct sem_owner *o, const char *name, uint32_t weight, uint64_t now_ms)
{
	return (sem_release(o, name, strlen(name), weight, now_ms));
}

static struct sem *
look(const char *name)
{
	return (sem_lookup(tbl, name, strlen(name)));
}

/* The live grant with this token, which must exist. */
static struct sem_grant_info
grant_of(uint64_t token)
{
	struct sem_grant_info	 gi;
	struct sem_grant	*g;

	ck_assert_ptr_nonnull(g = sem_grant_lookup(tbl, token));
	sem_grant_info(g, &gi);
	return (gi);
}

/* A holder or waiter of a semaphore, as sem_parties tells it. */
struct party {
	int			 waiting;	/* which one is wanted */
	const struct sem_owner	*owner;
	uint32_t		 weight;
	uint64_t		 since_ms;
};

static int
party_cb(const struct sem_owner *o, uint32_t weight, uint64_t since_ms,
    int waiting, void *arg)
{
	struct party	*p = arg;

	if (waiting != p->waiting)
		return (0);
	p->owner = o;
	p->weight = weight;
	p->since_ms = since_ms;
	return (1);
}

/* The oldest holder (waiting 0) or the head waiter (1) of s: one exists. */
static struct party
first_party(const struct sem *s, int waiting)
{
	struct party	 p = { .waiting = waiting };

	ck_assert_int_eq(sem_parties(s, party_cb, &p), 1);
	return (p);
}

/* Event i was kind for (o, id). */
static void
expect_ev(size_t i, char kind, struct sem_owner *o, uint64_t id)
{
	ck_assert_uint_gt(rec.len, i);
	ck_assert_int_eq(rec.v[i].kind, kind);
	ck_assert_ptr_eq(rec.v[i].owner, o);
	ck_assert_uint_eq(rec.v[i].id, id);
}

/*
 * Every grant has a token, distinct from every other grant's, found by
 * sem_grant_lookup; a release by name takes the newest grants first; a
 * release by token gives back that grant whole and only to its owner;
 * serials go on from sem_table_set_serial.
 */
START_TEST(test_tokens)
{
	struct sem_owner	*a = owner(tbl, 1), *b = owner(tbl, 2);
	struct sem_acq_result	 r1, r2, r3;
	char			 name[PROTO_MAX_NAME + 1];
	uint32_t		 w;

	r1 = acq(a, 1, "t", 3, 1, FOREVER, 0);
	r2 = acq(a, 2, "t", 3, 2, FOREVER, 0);
	expect_granted(r1);
	expect_granted(r2);
	ck_assert(r1.token != 0 && r2.token != 0 && r1.token != r2.token);
	ck_assert_uint_eq(grant_of(r1.token).weight, 1);
	ck_assert_ptr_eq(grant_of(r1.token).owner, a);
	check_invariants(tbl);

	/* By name, newest first: r2 (weight 2) loses 1, then ends. */
	ck_assert_int_eq(rel(a, "t", 1, 0), PROTO_OK);
	ck_assert_uint_eq(grant_of(r2.token).weight, 1);
	ck_assert_int_eq(rel(a, "t", 1, 0), PROTO_OK);
	ck_assert_ptr_null(sem_grant_lookup(tbl, r2.token));
	ck_assert_ptr_nonnull(sem_grant_lookup(tbl, r1.token));
	check_invariants(tbl);

	/* B waits for all 3; releasing r1 by token lets it in. */
	r3 = acq(b, 7, "t", 3, 3, FOREVER, 0);
	expect_queued(r3, 1);
	ck_assert_int_eq(sem_release_token(b, r1.token, 0, name, &w),
	    PROTO_E_NOT_HELD);
	ck_assert_int_eq(sem_release_token(a, r1.token, 0, name, &w),
	    PROTO_OK);
	ck_assert_str_eq(name, "t");
	ck_assert_uint_eq(w, 1);
	ck_assert_int_eq(sem_release_token(a, r1.token, 0, name, &w),
	    PROTO_E_NOT_HELD);
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'G', b, 7);
	ck_assert(rec.v[0].token != 0 && rec.v[0].token != r1.token &&
	    rec.v[0].token != r2.token);
	ck_assert_ptr_eq(grant_of(rec.v[0].token).owner, b);
	check_invariants(tbl);

	/* Serials go on from where they are set. */
	ck_assert_int_eq(sem_release_token(b, rec.v[0].token, 0, name, &w),
	    PROTO_OK);
	sem_table_set_serial(tbl, 1000);
	r1 = acq(a, 3, "t", 3, 1, FOREVER, 0);
	ck_assert(r1.token == 1000);
	ck_assert(sem_table_next_serial(tbl) == 1001);
	sem_owner_drop(a, 0);
	ck_assert_ptr_null(sem_grant_lookup(tbl, r1.token));
	check_invariants(tbl);
}
END_TEST

/* What o holds on name (0 if nothing). */
static uint32_t
held_by(struct sem_owner *o, const char *name)
{
	return (sem_held(o, name, strlen(name)));
}

/* Where sum_cb adds up the parties of one semaphore. */
struct sums {
	uint64_t	 held;
	uint32_t	 nholders, nwaiting;
};

static int
sum_cb(const struct sem_owner *o, uint32_t weight, uint64_t since_ms,
    int waiting, void *arg)
{
	struct sums	*sm = arg;

	ck_assert_ptr_nonnull(o);
	if (waiting)
		sm->nwaiting++;
	else {
		ck_assert_uint_gt(weight, 0);
		sm->held += weight;
		sm->nholders++;
	}
	return (0);
}

/*
 * Check a table whose events have all been flushed, besides the
 * engine's own check: the queries agree with the holders and waiters
 * sem_parties lists, held is within capacity, no idle semaphore is
 * alive, and the owners' holds add up to the holders.
 */
static void
check_table(struct sem_table *t, struct sem_owner **owners, size_t nowners)
{
	struct sem		*s;
	struct sums		 sm;
	size_t			 n = 0, i, ntotal_holds = 0;

	check_invariants(t);
	for (s = sem_first(t); s != NULL; s = sem_next(s)) {
		n++;
		ck_assert_ptr_eq(sem_lookup(t, sem_name(s), sem_name_len(s)),
		    s);
		memset(&sm, 0, sizeof sm);
		ck_assert_int_eq(sem_parties(s, sum_cb, &sm), 0);
		ntotal_holds += sm.nholders;
		ck_assert_uint_eq(sm.held, sem_used(s));
		ck_assert_uint_eq(sm.nholders, sem_nholders(s));
		ck_assert_uint_eq(sm.nwaiting, sem_nwaiting(s));
		ck_assert_uint_le(sem_used(s), sem_capacity(s));
		ck_assert(sem_nholders(s) > 0 || sem_nwaiting(s) > 0);
	}
	ck_assert_uint_eq(n, sem_count(t));
	ck_assert_uint_eq(nowners, sem_owner_count(t));
	for (i = 0; i < nowners; i++)
		ntotal_holds -= sem_limit_count(owners[i], SEM_LIMIT_HOLDS);
	ck_assert_uint_eq(ntotal_holds, 0);
}

/* A small deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t
rnd(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return (*state * 0x2545F4914F6CDD1DULL);
}

/* ------------------------------------------------------------------ */
/* Basics */

/*
 * An acquire into an empty queue that fits is granted at once, creates
 * the semaphore with the declared capacity, and sums one owner's grants
 * into one hold.  Immediate grants are not events.
 */
START_TEST(test_grant_immediate)
{
	struct sem_owner	*a = owner(tbl, 1);
	struct sem		*s;
	struct party		 h;

	expect_granted(acq(a, 1, "x", 3, 2, FOREVER, 10));
	s = look("x");
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(sem_name(s), "x");
	ck_assert_uint_eq(sem_capacity(s), 3);
	ck_assert_uint_eq(sem_used(s), 2);
	ck_assert_uint_eq(sem_nholders(s), 1);
	ck_assert_uint_eq(sem_nwaiting(s), 0);
	ck_assert_uint_eq(sem_count(tbl), 1);

	/* Same owner, more weight, capacity omitted: one summed hold. */
	expect_granted(acq(a, 2, "x", NOCAP, 1, FOREVER, 20));
	ck_assert_uint_eq(sem_used(s), 3);
	ck_assert_uint_eq(sem_nholders(s), 1);
	h = first_party(s, 0);
	ck_assert_ptr_eq(h.owner, a);
	ck_assert_uint_eq(h.weight, 3);
	ck_assert_uint_eq(h.since_ms, 10);
	ck_assert_uint_eq(sem_limit_count(a, SEM_LIMIT_HOLDS), 1);
	ck_assert_uint_eq(sem_limit_count(a, SEM_LIMIT_PENDING), 0);

	ck_assert_uint_eq(sem_flush(tbl), 0);
	ck_assert_uint_eq(rec.len, 0);
	check_table(tbl, &a, 1);
}
END_TEST

/*
 * FIFO: 200 waiters on a full semaphore get QUEUED positions 1..200 and
 * are granted strictly in arrival order, one per release.
 */
START_TEST(test_fifo_many)
{
	enum { N = 200 };
	struct sem_owner	*o[N + 1];
	size_t			 i;

	o[0] = owner(tbl, 1);
	expect_granted(acq(o[0], 1, "fifo", 1, 1, FOREVER, 0));
	for (i = 1; i <= N; i++) {
		o[i] = owner(tbl, (uint32_t)i + 1);
		expect_queued(acq(o[i], 100 + i, "fifo", 1, 1, FOREVER, i),
		    (uint32_t)i);
	}
	check_table(tbl, o, N + 1);
	for (i = 1; i <= N; i++) {
		rec_reset();
		ck_assert_int_eq(rel(o[i - 1], "fifo", 1, 1000 + i), PROTO_OK);
		ck_assert_uint_eq(sem_flush(tbl), 1);
		expect_ev(0, 'G', o[i], 100 + i);
		ck_assert_str_eq(rec.v[0].sem, "fifo");
		ck_assert_uint_eq(sem_nwaiting(look("fifo")), N - i);
		ck_assert_uint_eq(held_by(o[i], "fifo"), 1);
		check_table(tbl, o, N + 1);
	}
	ck_assert_int_eq(rel(o[N], "fifo", 1, 5000), PROTO_OK);
	ck_assert_ptr_null(look("fifo"));
}
END_TEST

/*
 * Strict rule: a heavy head blocks lighter waiters behind it even when
 * they would fit, and a newcomer that fits still queues behind them.
 */
START_TEST(test_heavy_head_blocks)
{
	struct sem_owner	*a = owner(tbl, 1), *b = owner(tbl, 2);
	struct sem_owner	*c = owner(tbl, 3), *d = owner(tbl, 4);
	struct sem_owner	*all[] = { a, b, c, d };
	struct sem		*s;

	expect_granted(acq(a, 1, "h", 3, 2, FOREVER, 0));
	expect_queued(acq(b, 1, "h", 3, 2, FOREVER, 0), 1);
	/* 2 + 1 <= 3, but the queue is not empty. */
	expect_queued(acq(c, 1, "h", 3, 1, FOREVER, 0), 2);
	expect_queued(acq(d, 1, "h", 3, 1, FOREVER, 0), 3);
	s = look("h");
	ck_assert_uint_eq(sem_used(s), 2);
	check_table(tbl, all, 4);

	/* held 1: the head (2) fits, then c (1) does not: 3 + 1 > 3. */
	ck_assert_int_eq(rel(a, "h", 1, 1), PROTO_OK);
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'G', b, 1);
	ck_assert_uint_eq(sem_used(s), 3);
	ck_assert_uint_eq(sem_nwaiting(s), 2);

	/* a gives back its last 1: c fits, then d does not. */
	rec_reset();
	ck_assert_int_eq(rel(a, "h", 1, 2), PROTO_OK);
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'G', c, 1);
	/* b gives back 2: d fits. */
	rec_reset();
	ck_assert_int_eq(rel(b, "h", 2, 3), PROTO_OK);
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'G', d, 1);
	check_table(tbl, all, 4);
}
END_TEST

/* Sets up a full-ish semaphore with a heavy head and two light waiters. */
static void
heavy_setup(struct sem_owner **o)
{
	o[0] = owner(tbl, 1);
	o[1] = owner(tbl, 2);
	o[2] = owner(tbl, 3);
	o[3] = owner(tbl, 4);
	expect_granted(acq(o[0], 1, "hv", 4, 2, FOREVER, 0));
	expect_queued(acq(o[1], 7, "hv", 4, 4, 100, 0), 1);
	expect_queued(acq(o[2], 8, "hv", 4, 1, FOREVER, 0), 2);
	expect_queued(acq(o[3], 9, "hv", 4, 1, FOREVER, 0), 3);
	ck_assert_uint_eq(sem_flush(tbl), 0);
}

/* A heavy head that withdraws wakes the light waiters behind it. */
START_TEST(test_heavy_head_withdraw_wakes)
{
	struct sem_owner	*o[4];

	heavy_setup(o);
	ck_assert_int_eq(sem_withdraw(o[1], 7, 50), PROTO_OK);
	ck_assert_uint_eq(sem_flush(tbl), 2);
	expect_ev(0, 'G', o[2], 8);
	expect_ev(1, 'G', o[3], 9);
	ck_assert_uint_eq(sem_used(look("hv")), 4);
	ck_assert_int_eq(sem_next_deadline(tbl, &(uint64_t){ 0 }), 0);
	check_table(tbl, o, 4);
}
END_TEST

/*
 * A heavy head whose deadline passes wakes the light waiters behind it;
 * the expiry is decided (and delivered) before the grants it causes.
 */
START_TEST(test_heavy_head_expire_wakes)
{
	struct sem_owner	*o[4];
	uint64_t		 dl;

	heavy_setup(o);
	ck_assert_int_eq(sem_next_deadline(tbl, &dl), 1);
	ck_assert_uint_eq(dl, 100);
	sem_expire(tbl, 99);
	ck_assert_uint_eq(sem_flush(tbl), 0);
	sem_expire(tbl, 100);
	ck_assert_uint_eq(sem_flush(tbl), 3);
	expect_ev(0, 'E', o[1], 7);
	expect_ev(1, 'G', o[2], 8);
	expect_ev(2, 'G', o[3], 9);
	ck_assert_int_eq(sem_next_deadline(tbl, &dl), 0);
	check_table(tbl, o, 4);
}
END_TEST

/* A heavy head whose owner is dropped wakes the light waiters behind it. */
START_TEST(test_heavy_head_drop_wakes)
{
	struct sem_owner	*o[4];

	heavy_setup(o);
	sem_owner_drop(o[1], 10);
	ck_assert_uint_eq(sem_flush(tbl), 2);
	expect_ev(0, 'G', o[2], 8);
	expect_ev(1, 'G', o[3], 9);
	ck_assert_int_eq(sem_next_deadline(tbl, &(uint64_t){ 0 }), 0);
	o[1] = o[3];
	check_table(tbl, o, 3);
}
END_TEST

/*
 * Try (timeout 0): granted under the rule or BUSY, never queued; with a
 * non-empty queue it is BUSY even though the capacity is free, and
 * nothing changes.
 */
START_TEST(test_try)
{
	struct sem_owner	*a = owner(tbl, 1), *b = owner(tbl, 2);
	struct sem_owner	*c = owner(tbl, 3);
	struct sem_owner	*all[] = { a, b, c };
	struct sem		*s;

	expect_granted(acq(a, 1, "t", 3, 1, TRY, 0));	/* creates it */
	s = look("t");
	expect_queued(acq(b, 1, "t", 3, 3, FOREVER, 0), 1);
	/* held 1 + 1 <= 3, but b is waiting: no jumping the queue. */
	ck_assert_int_eq(acq(c, 1, "t", 3, 1, TRY, 0).status, SEM_ACQ_BUSY);
	ck_assert_uint_eq(sem_used(s), 1);
	ck_assert_uint_eq(sem_nwaiting(s), 1);
	ck_assert_uint_eq(sem_limit_count(c, SEM_LIMIT_PENDING), 0);
	ck_assert_uint_eq(sem_limit_count(c, SEM_LIMIT_HOLDS), 0);
	/* The busy try left no pending id behind. */
	ck_assert_int_eq(sem_withdraw(c, 1, 0), PROTO_E_NOT_PENDING);
	check_table(tbl, all, 3);

	/* Once b is gone the same try succeeds. */
	ck_assert_int_eq(sem_withdraw(b, 1, 0), PROTO_OK);
	expect_granted(acq(c, 1, "t", 3, 2, TRY, 0));
	ck_assert_int_eq(acq(b, 2, "t", 3, 1, TRY, 0).status, SEM_ACQ_BUSY);
	ck_assert_uint_eq(sem_flush(tbl), 0);
	check_table(tbl, all, 3);
}
END_TEST

/*
 * The deadline heap: 1000 waiters with random deadlines (many equal),
 * some without a deadline and some withdrawn, expire exactly at their
 * deadline, in deadline order, equal deadlines in arrival order; the
 * earliest pending deadline is always reported.
 */
START_TEST(test_expire_heap_order)
{
	enum { N = 1000, TMAX = 300 };
	struct sem_owner	*h = owner(tbl, 1), *o = owner(tbl, 2);
	struct sem_owner	*all[] = { h, o };
	int64_t			 tmo[N];
	int			 gone[N];
	uint64_t		 st = 0x1234567, now, dl, min;
	size_t			 i, k, nexp = 0, expect_left = 0;

	expect_granted(acq(h, 1, "dl", 1, 1, FOREVER, 0));
	for (i = 0; i < N; i++) {
		tmo[i] = (i % 10 == 9) ? FOREVER :
		    (int64_t)(1 + rnd(&st) % TMAX);
		gone[i] = 0;
		expect_queued(acq(o, i, "dl", 1, 1, tmo[i], 0),
		    (uint32_t)i + 1);
	}
	/* Withdraw every 7th: removal from the middle of the heap. */
	for (i = 0; i < N; i += 7) {
		ck_assert_int_eq(sem_withdraw(o, i, 0), PROTO_OK);
		gone[i] = 1;
	}
	for (i = 0; i < N; i++) {
		if (!gone[i] && tmo[i] == FOREVER)
			expect_left++;
	}
	check_table(tbl, all, 2);

	for (now = 0; now <= TMAX + 1; now++) {
		min = UINT64_MAX;
		for (i = 0; i < N; i++) {
			if (!gone[i] && tmo[i] != FOREVER &&
			    (uint64_t)tmo[i] < min)
				min = (uint64_t)tmo[i];
		}
		if (min == UINT64_MAX)
			ck_assert_int_eq(sem_next_deadline(tbl, &dl), 0);
		else {
			ck_assert_int_eq(sem_next_deadline(tbl, &dl), 1);
			ck_assert_uint_eq(dl, min);
		}
		rec_reset();
		sem_expire(tbl, now);
		sem_flush(tbl);
		/* Exactly those due now, in arrival (= id) order. */
		k = 0;
		for (i = 0; i < N; i++) {
			if (gone[i] || tmo[i] == FOREVER ||
			    (uint64_t)tmo[i] != now)
				continue;
			expect_ev(k, 'E', o, i);
			gone[i] = 1;
			k++;
		}
		ck_assert_uint_eq(rec.len, k);
		nexp += k;
	}
	ck_assert_uint_gt(nexp, 700);
	ck_assert_uint_eq(sem_nwaiting(look("dl")), expect_left);
	ck_assert_uint_eq(sem_limit_count(o, SEM_LIMIT_PENDING), expect_left);
	ck_assert_int_eq(sem_next_deadline(tbl, &dl), 0);
	check_table(tbl, all, 2);
}
END_TEST

/*
 * A heavy head and a light waiter with the same deadline: the head
 * expires first, which lets the light one in before its own expiry is
 * considered, so it is granted, not expired.
 */
START_TEST(test_expire_same_deadline_grants)
{
	struct sem_owner	*a = owner(tbl, 1), *b = owner(tbl, 2);
	struct sem_owner	*c = owner(tbl, 3);

	expect_granted(acq(a, 1, "sd", 2, 1, FOREVER, 0));
	expect_queued(acq(b, 1, "sd", 2, 2, 10, 0), 1);
	expect_queued(acq(c, 1, "sd", 2, 1, 10, 0), 2);
	sem_expire(tbl, 10);
	ck_assert_uint_eq(sem_flush(tbl), 2);
	expect_ev(0, 'E', b, 1);
	expect_ev(1, 'G', c, 1);
	ck_assert_uint_eq(held_by(c, "sd"), 1);
}
END_TEST

/*
 * Withdrawal: a queued request leaves (OK, its id is free again); a
 * granted one (delivered or not), an expired one, an unknown id and
 * another owner's id are NOT_PENDING and change nothing.
 */
START_TEST(test_withdraw)
{
	struct sem_owner	*a = owner(tbl, 1), *b = owner(tbl, 2);
	struct sem_owner	*all[] = { a, b };
	struct sem		*s;

	expect_granted(acq(a, 1, "w", 1, 1, FOREVER, 0));
	expect_queued(acq(b, 5, "w", 1, 1, FOREVER, 0), 1);
	expect_queued(acq(b, 6, "w", 1, 1, 50, 0), 2);
	s = look("w");

	ck_assert_int_eq(sem_withdraw(b, 99, 0), PROTO_E_NOT_PENDING);
	ck_assert_int_eq(sem_withdraw(a, 5, 0), PROTO_E_NOT_PENDING);
	ck_assert_uint_eq(sem_nwaiting(s), 2);

	/* Withdraw the queued one, reuse its id. */
	ck_assert_int_eq(sem_withdraw(b, 5, 0), PROTO_OK);
	ck_assert_uint_eq(sem_nwaiting(s), 1);
	ck_assert_uint_eq(sem_limit_count(b, SEM_LIMIT_PENDING), 1);
	expect_queued(acq(b, 5, "w", 1, 1, FOREVER, 0), 2);

	/* Expired, not yet delivered: NOT_PENDING; delivered: still. */
	sem_expire(tbl, 50);
	ck_assert_int_eq(sem_withdraw(b, 6, 50), PROTO_E_NOT_PENDING);
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'E', b, 6);
	ck_assert_int_eq(sem_withdraw(b, 6, 50), PROTO_E_NOT_PENDING);

	/* Granted, not yet delivered: the grant stands. */
	rec_reset();
	ck_assert_int_eq(rel(a, "w", 1, 60), PROTO_OK);
	ck_assert_int_eq(sem_withdraw(b, 5, 60), PROTO_E_NOT_PENDING);
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'G', b, 5);
	ck_assert_int_eq(sem_withdraw(b, 5, 60), PROTO_E_NOT_PENDING);
	ck_assert_uint_eq(held_by(b, "w"), 1);
	check_table(tbl, all, 2);
}
END_TEST

/*
 * Ownership: only the owner can release its grant; another owner's
 * release, a release of an unknown name and an over-release are NOT_HELD
 * and change nothing; partial releases are fine.
 */
START_TEST(test_release_ownership)
{
	struct sem_owner	*a = owner(tbl, 1), *b = owner(tbl, 2);
	struct sem_owner	*c = owner(tbl, 3);
	struct sem_owner	*all[] = { a, b, c };
	struct sem		*s;

	expect_granted(acq(a, 1, "r", 5, 3, FOREVER, 0));
	expect_granted(acq(b, 1, "r", 5, 1, FOREVER, 0));
	expect_queued(acq(c, 1, "r", 5, 2, FOREVER, 0), 1);
	s = look("r");

	ck_assert_int_eq(rel(c, "r", 1, 1), PROTO_E_NOT_HELD);
	ck_assert_int_eq(rel(b, "r", 2, 1), PROTO_E_NOT_HELD);
	ck_assert_int_eq(rel(a, "r", 4, 1), PROTO_E_NOT_HELD);
	ck_assert_int_eq(rel(a, "nope", 1, 1), PROTO_E_NOT_HELD);
	ck_assert_uint_eq(sem_used(s), 4);
	ck_assert_uint_eq(sem_nwaiting(s), 1);
	ck_assert_uint_eq(held_by(a, "r"), 3);
	ck_assert_uint_eq(held_by(b, "r"), 1);
	ck_assert_uint_eq(sem_flush(tbl), 0);

	/* Weight 0 on a held semaphore is an accepted no-op. */
	ck_assert_int_eq(rel(a, "r", 0, 1), PROTO_OK);
	ck_assert_uint_eq(sem_used(s), 4);

	ck_assert_int_eq(rel(a, "r", 1, 2), PROTO_OK);
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'G', c, 1);
	ck_assert_uint_eq(held_by(a, "r"), 2);
	ck_assert_uint_eq(sem_used(s), 5);
	ck_assert_uint_eq(sem_nholders(s), 3);
	ck_assert_int_eq(rel(a, "r", 2, 3), PROTO_OK);
	ck_assert_uint_eq(sem_limit_count(a, SEM_LIMIT_HOLDS), 0);
	ck_assert_uint_eq(sem_nholders(s), 2);
	ck_assert_int_eq(rel(a, "r", 1, 3), PROTO_E_NOT_HELD);
	check_table(tbl, all, 3);
}
END_TEST

/*
 * Dropping an owner releases every hold (granting the next in line on
 * each semaphore, in the order it took them) and removes every waiter,
 * with no event for the dropped owner.
 */
START_TEST(test_owner_drop)
{
	struct sem_owner	*a = owner(tbl, 1), *b = owner(tbl, 2);
	struct sem_owner	*c = owner(tbl, 3), *d = owner(tbl, 4);
	struct sem_owner	*rest[] = { b, c, d };

	expect_granted(acq(a, 1, "x", 3, 2, FOREVER, 0));
	expect_granted(acq(a, 2, "y", 1, 1, FOREVER, 0));
	expect_granted(acq(b, 1, "z", 1, 1, FOREVER, 0));
	expect_queued(acq(a, 3, "z", 1, 1, 100, 0), 1);
	expect_queued(acq(c, 1, "x", 3, 2, FOREVER, 0), 1);
	expect_queued(acq(d, 1, "y", 1, 1, FOREVER, 0), 1);
	ck_assert_uint_eq(sem_owner_count(tbl), 4);

	sem_owner_drop(a, 5);
	ck_assert_uint_eq(sem_owner_count(tbl), 3);
	ck_assert_uint_eq(sem_flush(tbl), 2);
	expect_ev(0, 'G', c, 1);
	expect_ev(1, 'G', d, 1);
	ck_assert_uint_eq(sem_nwaiting(look("z")), 0);
	ck_assert_uint_eq(sem_used(look("z")), 1);
	ck_assert_uint_eq(sem_used(look("x")), 2);
	ck_assert_int_eq(sem_next_deadline(tbl, &(uint64_t){ 0 }), 0);
	check_table(tbl, rest, 3);

	/* Everyone leaves: nothing is left alive. */
	sem_owner_drop(b, 6);
	sem_owner_drop(c, 6);
	sem_owner_drop(d, 6);
	ck_assert_uint_eq(sem_flush(tbl), 0);
	ck_assert_uint_eq(sem_count(tbl), 0);
	ck_assert_uint_eq(sem_owner_count(tbl), 0);
}
END_TEST

/*
 * An owner that holds a semaphore and also waits on it twice: dropping it
 * must not grant its own waiters; the next owner in line gets the slot.
 */
START_TEST(test_owner_drop_self_waiters)
{
	struct sem_owner	*a = owner(tbl, 1), *b = owner(tbl, 2);

	expect_granted(acq(a, 1, "s", 1, 1, FOREVER, 0));
	expect_queued(acq(a, 2, "s", 1, 1, FOREVER, 0), 1);
	expect_queued(acq(a, 3, "s", 1, 1, 40, 0), 2);
	expect_queued(acq(b, 4, "s", 1, 1, FOREVER, 0), 3);
	sem_owner_drop(a, 1);
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'G', b, 4);
	ck_assert_uint_eq(sem_nwaiting(look("s")), 0);
	check_table(tbl, &b, 1);
}
END_TEST

/*
 * Undelivered events of a dropped owner are discarded: a grant it never
 * heard of is given back (to the next in line), an expiry vanishes, and
 * a semaphore kept alive only by that event is forgotten.
 */
START_TEST(test_owner_drop_undelivered)
{
	struct sem_owner	*a = owner(tbl, 1), *b = owner(tbl, 2);
	struct sem_owner	*c = owner(tbl, 3), *e = owner(tbl, 4);
	struct sem_owner	*rest[] = { a, c };

	expect_granted(acq(a, 1, "u", 1, 1, FOREVER, 0));
	expect_queued(acq(b, 1, "u", 1, 1, FOREVER, 0), 1);
	expect_queued(acq(c, 1, "u", 1, 1, FOREVER, 0), 2);
	ck_assert_int_eq(rel(a, "u", 1, 1), PROTO_OK);	/* grants b */
	sem_owner_drop(b, 2);				/* b never knew */
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'G', c, 1);

	/* An expiry pins its semaphore until delivered or discarded. */
	rec_reset();
	expect_granted(acq(a, 2, "v", 1, 1, FOREVER, 10));
	expect_queued(acq(e, 1, "v", 1, 1, 5, 10), 1);
	sem_expire(tbl, 15);
	ck_assert_int_eq(rel(a, "v", 1, 16), PROTO_OK);
	ck_assert_ptr_nonnull(look("v"));	/* pinned by e's event */
	sem_owner_drop(e, 17);
	ck_assert_ptr_null(look("v"));
	ck_assert_uint_eq(sem_flush(tbl), 0);
	check_table(tbl, rest, 2);
}
END_TEST

/*
 * A semaphore with nothing held and nobody waiting is forgotten, so a new
 * capacity is accepted later; one kept only by an undelivered expiry
 * lives until the event is delivered (the callback can read its name).
 */
START_TEST(test_idle_forgotten)
{
	struct sem_owner	*a = owner(tbl, 1), *b = owner(tbl, 2);

	expect_granted(acq(a, 1, "f", 2, 2, FOREVER, 0));
	ck_assert_int_eq(rel(a, "f", 2, 1), PROTO_OK);
	ck_assert_ptr_null(look("f"));
	ck_assert_uint_eq(sem_count(tbl), 0);
	expect_granted(acq(b, 1, "f", 5, 4, FOREVER, 2));
	ck_assert_uint_eq(sem_capacity(look("f")), 5);

	expect_queued(acq(a, 2, "f", 5, 5, 10, 2), 1);
	sem_expire(tbl, 12);
	ck_assert_int_eq(rel(b, "f", 4, 13), PROTO_OK);
	ck_assert_ptr_nonnull(look("f"));
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'E', a, 2);
	ck_assert_str_eq(rec.v[0].sem, "f");
	ck_assert_ptr_null(look("f"));
	ck_assert_uint_eq(sem_count(tbl), 0);

	/* A withdrawn last waiter on a released semaphore: forgotten too. */
	expect_granted(acq(a, 3, "g", 1, 1, FOREVER, 20));
	expect_queued(acq(b, 3, "g", 1, 1, FOREVER, 20), 1);
	ck_assert_int_eq(sem_withdraw(b, 3, 21), PROTO_OK);
	ck_assert_int_eq(rel(a, "g", 1, 22), PROTO_OK);
	ck_assert_ptr_null(look("g"));
	ck_assert_uint_eq(sem_flush(tbl), 0);
}
END_TEST

/*
 * Capacity declaration: a known name with another capacity is
 * CAPACITY_MISMATCH naming the current one (nothing changes); the same
 * capacity or none is fine; an unknown name without one is NO_CAPACITY.
 */
START_TEST(test_capacity_declaration)
{
	struct sem_owner	*a = owner(tbl, 1), *b = owner(tbl, 2);
	struct sem_acq_result	 r;

	expect_error(acq(a, 1, "new", NOCAP, 1, FOREVER, 0),
	    PROTO_E_NO_CAPACITY);
	ck_assert_uint_eq(sem_count(tbl), 0);

	expect_granted(acq(a, 1, "c", 3, 1, FOREVER, 0));
	r = acq(b, 1, "c", 4, 1, FOREVER, 0);
	expect_error(r, PROTO_E_CAPACITY_MISMATCH);
	ck_assert_uint_eq(r.capacity, 3);
	ck_assert_uint_eq(sem_used(look("c")), 1);
	ck_assert_uint_eq(sem_limit_count(b, SEM_LIMIT_PENDING), 0);
	/* The failed id is not pending. */
	expect_granted(acq(b, 1, "c", 3, 1, FOREVER, 0));
	expect_granted(acq(b, 2, "c", NOCAP, 1, FOREVER, 0));
	ck_assert_uint_eq(sem_used(look("c")), 3);
	ck_assert_uint_eq(sem_count(tbl), 1);
}
END_TEST

/*
 * Weight: 0 and more than the capacity are TOO_HEAVY, on a new name
 * (which is then not created) and on a known one; never a wait.
 */
START_TEST(test_too_heavy)
{
	struct sem_owner	*a = owner(tbl, 1);

	expect_error(acq(a, 1, "th", 2, 3, FOREVER, 0), PROTO_E_TOO_HEAVY);
	expect_error(acq(a, 1, "th", 2, 0, FOREVER, 0), PROTO_E_TOO_HEAVY);
	expect_error(acq(a, 1, "th", 0, 1, FOREVER, 0), PROTO_E_TOO_HEAVY);
	ck_assert_ptr_null(look("th"));
	expect_granted(acq(a, 1, "th", 2, 2, FOREVER, 0));
	expect_error(acq(a, 2, "th", NOCAP, 3, FOREVER, 0),
	    PROTO_E_TOO_HEAVY);
	expect_error(acq(a, 2, "th", 2, 0, TRY, 0), PROTO_E_TOO_HEAVY);
	ck_assert_uint_eq(sem_nwaiting(look("th")), 0);
	ck_assert_uint_eq(sem_limit_count(a, SEM_LIMIT_PENDING), 0);
}
END_TEST

/*
 * DUPLICATE_ID: an id pending for this owner (queued, or granted but not
 * yet delivered) is refused; other owners may use it; it is free again
 * once its outcome is delivered; an immediately granted id was never
 * pending.
 */
START_TEST(test_duplicate_id)
{
	struct sem_owner	*a = owner(tbl, 1), *b = owner(tbl, 2);

	expect_granted(acq(a, 1, "d", 1, 1, FOREVER, 0));
	expect_granted(acq(a, 1, "e", 1, 1, FOREVER, 0));	/* not pending */
	expect_queued(acq(b, 7, "d", 1, 1, FOREVER, 0), 1);
	expect_error(acq(b, 7, "d", 1, 1, FOREVER, 0), PROTO_E_DUPLICATE_ID);
	expect_error(acq(b, 7, "other", 1, 1, FOREVER, 0),
	    PROTO_E_DUPLICATE_ID);
	ck_assert_ptr_null(look("other"));
	expect_queued(acq(a, 7, "d", 1, 1, FOREVER, 0), 2);
	ck_assert_uint_eq(sem_nwaiting(look("d")), 2);

	ck_assert_int_eq(rel(a, "d", 1, 1), PROTO_OK);		/* grants b 7 */
	expect_error(acq(b, 7, "e", 1, 1, TRY, 1), PROTO_E_DUPLICATE_ID);
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'G', b, 7);
	ck_assert_int_eq(acq(b, 7, "e", 1, 1, TRY, 1).status, SEM_ACQ_BUSY);
}
END_TEST

/* LIMIT max_sems: creating one more is refused; existing ones are fine. */
START_TEST(test_limit_max_sems)
{
	struct sem_limits	 lim = { .max_sems = 2 };
	struct sem_table	*t = table_new(&lim);
	struct sem_owner	*a = owner(t, 1);
	struct sem_acq_result	 r;

	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 1,
	    .name = "a", .name_len = 1, .has_capacity = 1, .capacity = 2,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_granted(r);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 2,
	    .name = "b", .name_len = 1, .has_capacity = 1, .capacity = 2,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_granted(r);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 3,
	    .name = "c", .name_len = 1, .has_capacity = 1, .capacity = 2,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_error(r, PROTO_E_LIMIT);
	ck_assert_int_eq(r.limit, SEM_LIMIT_SEMS);
	ck_assert_ptr_null(sem_lookup(t, "c", 1));
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 3,
	    .name = "a", .name_len = 1, .has_capacity = 1, .capacity = 2,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_granted(r);
	/* Once b is forgotten there is room again. */
	ck_assert_int_eq(sem_release(a, "b", 1, 1, 0), PROTO_OK);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 4,
	    .name = "c", .name_len = 1, .has_capacity = 1, .capacity = 2,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_granted(r);
	ck_assert_uint_eq(sem_count(t), 2);
	sem_table_free(t);
}
END_TEST

/*
 * LIMIT max_pending: a request that would be queued beyond the limit is
 * refused; immediate grants and tries are not pending; a granted request
 * stays pending until delivered.
 */
START_TEST(test_limit_max_pending)
{
	struct sem_limits	 lim = { .max_pending = 2 };
	struct sem_table	*t = table_new(&lim);
	struct sem_owner	*h = owner(t, 1), *a = owner(t, 2);
	struct sem_acq_result	 r;

	ck_assert_int_eq(sem_acquire(h, &(struct sem_request){ .id = 1,
	    .name = "p", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 1,
	    .name = "p", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_queued(r, 1);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 2,
	    .name = "p", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = 10 }, 0, &r), 0);
	expect_queued(r, 2);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 3,
	    .name = "p", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_error(r, PROTO_E_LIMIT);
	ck_assert_int_eq(r.limit, SEM_LIMIT_PENDING);
	ck_assert_uint_eq(sem_nwaiting(sem_lookup(t, "p", 1)), 2);
	/* Not pending: an immediate grant elsewhere, a try. */
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 3,
	    .name = "q", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_granted(r);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 4,
	    .name = "p", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1 }, 0, &r), 0);
	ck_assert_int_eq(r.status, SEM_ACQ_BUSY);

	/* Granted but undelivered still counts; delivered frees a place. */
	ck_assert_int_eq(sem_release(h, "p", 1, 1, 1), PROTO_OK);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 5,
	    .name = "p", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 1, &r), 0);
	expect_error(r, PROTO_E_LIMIT);
	ck_assert_uint_eq(sem_flush(t), 1);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 5,
	    .name = "p", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 1, &r), 0);
	expect_queued(r, 2);
	/* A withdrawal frees a place too. */
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 6,
	    .name = "p", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 1, &r), 0);
	expect_error(r, PROTO_E_LIMIT);
	ck_assert_int_eq(sem_withdraw(a, 5, 1), PROTO_OK);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 6,
	    .name = "p", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 1, &r), 0);
	expect_queued(r, 2);
	sem_table_free(t);
}
END_TEST

/*
 * LIMIT max_holds (distinct semaphores held): an acquire on a semaphore
 * not yet held, immediate or queued, is refused when the owner already
 * holds max_holds; more weight on a held one is fine.  Checked on arrival
 * only: a request queued below the limit is granted in its turn even if
 * the owner reached the limit meanwhile (documented in sem.h).
 */
START_TEST(test_limit_max_holds)
{
	struct sem_limits	 lim = { .max_holds = 2 };
	struct sem_table	*t = table_new(&lim);
	struct sem_owner	*a = owner(t, 1), *o = owner(t, 2);
	struct sem_acq_result	 r;

	ck_assert_int_eq(sem_acquire(o, &(struct sem_request){ .id = 1,
	    .name = "busy", .name_len = 4, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_granted(r);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 1,
	    .name = "a", .name_len = 1, .has_capacity = 1, .capacity = 3,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_granted(r);
	/* Queued below the limit (a holds 1). */
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 2,
	    .name = "busy", .name_len = 4, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_queued(r, 1);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 3,
	    .name = "b", .name_len = 1, .has_capacity = 1, .capacity = 3,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_granted(r);
	ck_assert_uint_eq(sem_limit_count(a, SEM_LIMIT_HOLDS), 2);
	/* At the limit: a new semaphore, or a known one not held, is LIMIT. */
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 4,
	    .name = "c", .name_len = 1, .has_capacity = 1, .capacity = 3,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_error(r, PROTO_E_LIMIT);
	ck_assert_int_eq(r.limit, SEM_LIMIT_HOLDS);
	ck_assert_ptr_null(sem_lookup(t, "c", 1));
	ck_assert_int_eq(sem_acquire(o, &(struct sem_request){ .id = 2,
	    .name = "d", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 4,
	    .name = "d", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_error(r, PROTO_E_LIMIT);
	ck_assert_uint_eq(sem_nwaiting(sem_lookup(t, "d", 1)), 0);
	/* More on a held one is fine. */
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 4,
	    .name = "a", .name_len = 1, .weight = 2, .timeout_ms = -1 }, 0, &r),
	    0);
	expect_granted(r);
	/* The request queued earlier is granted: a holds 3 for a while. */
	ck_assert_int_eq(sem_release(o, "busy", 4, 1, 1), PROTO_OK);
	ck_assert_uint_eq(sem_flush(t), 1);
	ck_assert_uint_eq(sem_limit_count(a, SEM_LIMIT_HOLDS), 3);
	sem_table_free(t);
}
END_TEST

/*
 * LIMIT max_pending_per_uid: the pending requests of all the owners of
 * one uid count together, so a uid with many connections reaches it
 * while each connection is under max_pending; another uid is not
 * affected; a withdrawal, a delivered grant and a dropped owner give
 * room back.  max_pending is checked first.
 */
START_TEST(test_limit_pending_per_uid)
{
	struct sem_limits	 lim = { .max_pending = 2,
	    .max_pending_per_uid = 3 };
	struct sem_table	*t = table_new(&lim);
	struct sem_owner	*h = owner_uid(t, 1, 7), *a = owner_uid(t, 2, 5);
	struct sem_owner	*b = owner_uid(t, 3, 5), *c = owner_uid(t, 4, 5);
	struct sem_owner	*x = owner_uid(t, 5, 6);
	struct sem_acq_result	 r;

	/* a, b and c share uid 5's totals; x has uid 6's. */
	ck_assert_uint_eq(sem_uid_owners(t, 5), 3);
	ck_assert_uint_eq(sem_uid_owners(t, 6), 1);
	ck_assert_int_eq(sem_acquire(h, &(struct sem_request){ .id = 1,
	    .name = "u", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_granted(r);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 1,
	    .name = "u", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_queued(r, 1);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 2,
	    .name = "u", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = 50 }, 0, &r), 0);
	expect_queued(r, 2);
	/* a: its own limit first. */
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 3,
	    .name = "u", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_error(r, PROTO_E_LIMIT);
	ck_assert_int_eq(r.limit, SEM_LIMIT_PENDING);
	ck_assert_int_eq(sem_acquire(b, &(struct sem_request){ .id = 1,
	    .name = "u", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_queued(r, 3);
	ck_assert_uint_eq(sem_limit_count(a, SEM_LIMIT_UID_PENDING), 3);
	/* b has one pending, under max_pending, but uid 5 has three. */
	ck_assert_int_eq(sem_acquire(b, &(struct sem_request){ .id = 2,
	    .name = "u", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_error(r, PROTO_E_LIMIT);
	ck_assert_int_eq(r.limit, SEM_LIMIT_UID_PENDING);
	ck_assert_int_eq(sem_acquire(c, &(struct sem_request){ .id = 1,
	    .name = "u", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_error(r, PROTO_E_LIMIT);
	ck_assert_int_eq(r.limit, SEM_LIMIT_UID_PENDING);
	ck_assert_uint_eq(sem_nwaiting(sem_lookup(t, "u", 1)), 3);
	/* Not pending: an immediate grant, a try. */
	ck_assert_int_eq(sem_acquire(c, &(struct sem_request){ .id = 2,
	    .name = "v", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_granted(r);
	ck_assert_int_eq(sem_acquire(c, &(struct sem_request){ .id = 3,
	    .name = "u", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1 }, 0, &r), 0);
	ck_assert_int_eq(r.status, SEM_ACQ_BUSY);
	/* Another uid is not affected. */
	ck_assert_int_eq(sem_acquire(x, &(struct sem_request){ .id = 1,
	    .name = "u", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_queued(r, 4);
	check_invariants(t);

	/* A withdrawal gives room back. */
	ck_assert_int_eq(sem_withdraw(a, 1, 0), PROTO_OK);
	ck_assert_uint_eq(sem_limit_count(a, SEM_LIMIT_UID_PENDING), 2);
	ck_assert_int_eq(sem_acquire(c, &(struct sem_request){ .id = 4,
	    .name = "u", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_queued(r, 4);
	/* Expired (a's 2) and granted (b's 1) count until delivered. */
	sem_expire(t, 50);
	ck_assert_int_eq(sem_release(h, "u", 1, 1, 50), PROTO_OK);
	ck_assert_uint_eq(sem_limit_count(a, SEM_LIMIT_UID_PENDING), 3);
	ck_assert_int_eq(sem_acquire(c, &(struct sem_request){ .id = 5,
	    .name = "u", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 50, &r), 0);
	ck_assert_int_eq(r.limit, SEM_LIMIT_UID_PENDING);
	check_invariants(t);
	ck_assert_uint_eq(sem_flush(t), 2);
	ck_assert_uint_eq(sem_limit_count(a, SEM_LIMIT_UID_PENDING), 1);
	/* Dropping an owner gives its share back. */
	ck_assert_int_eq(sem_acquire(c, &(struct sem_request){ .id = 5,
	    .name = "u", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 50, &r), 0);
	expect_queued(r, 3);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 6,
	    .name = "u", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 50, &r), 0);
	expect_queued(r, 4);
	ck_assert_int_eq(r.limit, SEM_LIMIT_NONE);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 7,
	    .name = "u", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 50, &r), 0);
	ck_assert_int_eq(r.limit, SEM_LIMIT_UID_PENDING);
	sem_owner_drop(c, 60);
	ck_assert_uint_eq(sem_flush(t), 0);
	ck_assert_uint_eq(sem_uid_owners(t, 5), 2);
	ck_assert_uint_eq(sem_limit_count(a, SEM_LIMIT_UID_PENDING), 1);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 7,
	    .name = "u", .name_len = 1, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 60, &r), 0);
	expect_queued(r, 3);
	check_invariants(t);
	sem_table_free(t);
}
END_TEST

/*
 * LIMIT max_holds_per_uid: the holds (one per owner and semaphore, any
 * weight) of all the owners of one uid count together; checked like
 * max_holds, on arrival, after it; more weight on a held semaphore is
 * fine; another uid is not affected; a release that ends a hold and a
 * dropped owner give room back.
 */
START_TEST(test_limit_holds_per_uid)
{
	struct sem_limits	 lim = { .max_holds = 2, .max_holds_per_uid = 3 };
	struct sem_table	*t = table_new(&lim);
	struct sem_owner	*a = owner_uid(t, 1, 5), *b = owner_uid(t, 2, 5);
	struct sem_owner	*x = owner_uid(t, 3, 6);
	struct sem_acq_result	 r;

	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 1,
	    .name = "a", .name_len = 1, .has_capacity = 1, .capacity = 3,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_granted(r);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 2,
	    .name = "b", .name_len = 1, .has_capacity = 1, .capacity = 3,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_granted(r);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 3,
	    .name = "c", .name_len = 1, .has_capacity = 1, .capacity = 3,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	ck_assert_int_eq(r.limit, SEM_LIMIT_HOLDS);
	ck_assert_int_eq(sem_acquire(b, &(struct sem_request){ .id = 1,
	    .name = "a", .name_len = 1, .has_capacity = 1, .capacity = 3,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_granted(r);
	ck_assert_uint_eq(sem_limit_count(a, SEM_LIMIT_UID_HOLDS), 3);
	/* b holds one, under max_holds, but uid 5 has three holds. */
	ck_assert_int_eq(sem_acquire(b, &(struct sem_request){ .id = 2,
	    .name = "c", .name_len = 1, .has_capacity = 1, .capacity = 3,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_error(r, PROTO_E_LIMIT);
	ck_assert_int_eq(r.limit, SEM_LIMIT_UID_HOLDS);
	ck_assert_ptr_null(sem_lookup(t, "c", 1));
	ck_assert_int_eq(sem_acquire(x, &(struct sem_request){ .id = 1,
	    .name = "full", .name_len = 4, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_granted(r);
	ck_assert_int_eq(sem_acquire(b, &(struct sem_request){ .id = 2,
	    .name = "full", .name_len = 4, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	ck_assert_int_eq(r.limit, SEM_LIMIT_UID_HOLDS);
	ck_assert_uint_eq(sem_nwaiting(sem_lookup(t, "full", 4)), 0);
	/* More weight where it holds already is fine. */
	ck_assert_int_eq(sem_acquire(b, &(struct sem_request){ .id = 3,
	    .name = "a", .name_len = 1, .weight = 1, .timeout_ms = -1 }, 0, &r),
	    0);
	expect_granted(r);
	ck_assert_uint_eq(sem_limit_count(a, SEM_LIMIT_UID_HOLDS), 3);
	/* Another uid is not affected. */
	ck_assert_int_eq(sem_acquire(x, &(struct sem_request){ .id = 2,
	    .name = "c", .name_len = 1, .has_capacity = 1, .capacity = 3,
	    .weight = 1, .timeout_ms = -1 }, 0, &r), 0);
	expect_granted(r);
	check_invariants(t);

	/* Releasing part of a hold keeps it; releasing all of it ends it. */
	ck_assert_int_eq(sem_release(b, "a", 1, 1, 1), PROTO_OK);
	ck_assert_uint_eq(sem_limit_count(a, SEM_LIMIT_UID_HOLDS), 3);
	ck_assert_int_eq(sem_release(b, "a", 1, 1, 1), PROTO_OK);
	ck_assert_uint_eq(sem_limit_count(a, SEM_LIMIT_UID_HOLDS), 2);
	ck_assert_int_eq(sem_acquire(b, &(struct sem_request){ .id = 4,
	    .name = "c", .name_len = 1, .has_capacity = 1, .capacity = 3,
	    .weight = 1, .timeout_ms = -1 }, 1, &r), 0);
	expect_granted(r);
	/* A request queued under the limit is granted in its turn. */
	ck_assert_int_eq(sem_release(b, "c", 1, 1, 1), PROTO_OK);
	ck_assert_int_eq(sem_acquire(b, &(struct sem_request){ .id = 5,
	    .name = "full", .name_len = 4, .has_capacity = 1, .capacity = 1,
	    .weight = 1, .timeout_ms = -1 }, 1, &r), 0);
	expect_queued(r, 1);
	ck_assert_int_eq(sem_acquire(b, &(struct sem_request){ .id = 6,
	    .name = "c", .name_len = 1, .has_capacity = 1, .capacity = 3,
	    .weight = 1, .timeout_ms = -1 }, 1, &r), 0);
	expect_granted(r);
	ck_assert_int_eq(sem_release(x, "full", 4, 1, 2), PROTO_OK);
	ck_assert_uint_eq(sem_flush(t), 1);
	ck_assert_uint_eq(sem_limit_count(a, SEM_LIMIT_UID_HOLDS), 4);
	check_invariants(t);
	/* Dropping an owner gives its holds back. */
	sem_owner_drop(a, 3);
	ck_assert_uint_eq(sem_uid_owners(t, 5), 1);
	ck_assert_uint_eq(sem_limit_count(b, SEM_LIMIT_UID_HOLDS), 2);
	a = owner_uid(t, 4, 5);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 1,
	    .name = "d", .name_len = 1, .has_capacity = 1, .capacity = 3,
	    .weight = 1, .timeout_ms = -1 }, 3, &r), 0);
	expect_granted(r);
	ck_assert_int_eq(sem_acquire(a, &(struct sem_request){ .id = 2,
	    .name = "e", .name_len = 1, .has_capacity = 1, .capacity = 3,
	    .weight = 1, .timeout_ms = -1 }, 3, &r), 0);
	ck_assert_int_eq(r.limit, SEM_LIMIT_UID_HOLDS);
	check_invariants(t);
	sem_table_free(t);
}
END_TEST

/*
 * sem_check_invariants fails, naming text, once what (of s or o) is off
 * by delta, and passes again once it is mended.
 */
#define BREAK_AND_CHECK(s, o, what, delta, text) do {			\
	char	why_[256];						\
									\
	sem_tamper((s), (o), (what), (delta));				\
	why_[0] = '\0';							\
	ck_assert_int_eq(sem_check_invariants(tbl, why_, sizeof why_), -1); \
	ck_assert_msg(strstr(why_, (text)) != NULL, "got \"%s\"", why_); \
	sem_tamper((s), (o), (what), -(delta));				\
	check_invariants(tbl);						\
} while (0)

/*
 * sem_check_invariants, which the unit tests and the fuzzer rely on,
 * really notices a broken table: each tampered count is reported, and
 * the table passes again once it is restored.
 */
START_TEST(test_check_invariants_detects)
{
	struct sem_owner	*a = owner(tbl, 1), *b = owner(tbl, 2);
	struct sem		*s;
	int64_t			 d;
	char			 why[256];
	int			 detected;

	expect_granted(acq(a, 1, "inv", 2, 2, FOREVER, 0));
	expect_queued(acq(b, 1, "inv", NOCAP, 1, 100, 0), 1);
	expect_queued(acq(b, 2, "inv", NOCAP, 2, FOREVER, 0), 2);
	check_invariants(tbl);
	s = look("inv");
	/* held 2, 2 waiting, 1 holder, capacity 2; a holds 1 semaphore,
	 * b waits twice, uid 1000 (a and b) has 2 pending and 1 hold. */
	BREAK_AND_CHECK(s, NULL, SEM_TAMPER_HELD, -1, "held 1");
	BREAK_AND_CHECK(s, NULL, SEM_TAMPER_HELD, 1, "held 3");
	BREAK_AND_CHECK(s, NULL, SEM_TAMPER_NWAITING, -1, "nwaiting 1");
	BREAK_AND_CHECK(s, NULL, SEM_TAMPER_NHOLDERS, 1, "2 holders");
	BREAK_AND_CHECK(s, NULL, SEM_TAMPER_CAPACITY, -1, "over capacity");
	BREAK_AND_CHECK(NULL, a, SEM_TAMPER_NHOLDS, -1, "nholds 0");
	BREAK_AND_CHECK(NULL, b, SEM_TAMPER_NPENDING, -1, "uid 1000: totals");
	BREAK_AND_CHECK(NULL, b, SEM_TAMPER_UID_NPENDING, 3, "5 pending");
	BREAK_AND_CHECK(NULL, a, SEM_TAMPER_UID_NHOLDS, -1, "0 holds");
	/* The head (deadline 100) is the only one in the deadline heap. */
	BREAK_AND_CHECK(s, NULL, SEM_TAMPER_HEAD_HEAP_IDX, 7, "heap");
	/*
	 * An id changed behind the hash's back is not found, unless the new
	 * id happens to hash to the same bucket (then the entry is still
	 * found, rightly): some id among several lands elsewhere.
	 */
	for (d = 8, detected = 0; d < 8 + 64 && !detected; d++) {
		sem_tamper(s, NULL, SEM_TAMPER_HEAD_ID, d);
		why[0] = '\0';
		detected = sem_check_invariants(tbl, why, sizeof why) == -1 &&
		    strstr(why, "not found") != NULL;
		sem_tamper(s, NULL, SEM_TAMPER_HEAD_ID, -d);
	}
	ck_assert_msg(detected, "a waiter with a changed id was still found");
	check_invariants(tbl);
	/* The head fits but was left waiting. */
	ck_assert_int_eq(rel(a, "inv", 2, 1), PROTO_OK);
	ck_assert_uint_eq(sem_flush(tbl), 1);
	check_invariants(tbl);
	BREAK_AND_CHECK(s, NULL, SEM_TAMPER_CAPACITY, 1, "fits");
}
END_TEST

/*
 * The per-uid totals live as long as an owner of that uid: the last
 * owner's drop forgets them, and a new owner of that uid starts from
 * zero.  Many uids at once are each counted apart.
 */
START_TEST(test_uid_totals_lifecycle)
{
	enum { N = 100 };
	struct sem_limits	 lim = { .max_pending_per_uid = 1,
	    .max_holds_per_uid = 1 };
	struct sem_table	*t = table_new(&lim);
	struct sem_owner	*o[N], *p;
	struct sem_acq_result	 r;
	char			 name[16];
	size_t			 i;

	for (i = 0; i < N; i++) {
		o[i] = owner_uid(t, (uint32_t)i, (uint32_t)i);
		snprintf(name, sizeof name, "s%zu", i);
		expect_granted(acq(o[i], 1, name, 1, 1, FOREVER, 0));
		ck_assert_uint_eq(sem_limit_count(o[i], SEM_LIMIT_UID_HOLDS), 1);
	}
	check_invariants(t);
	/* Each uid is at its limit of one hold. */
	expect_error(acq(o[0], 2, "s1", NOCAP, 1, FOREVER, 0),
	    PROTO_E_LIMIT);
	for (i = 0; i < N; i += 2)
		sem_owner_drop(o[i], 1);
	check_invariants(t);
	p = owner_uid(t, 1000, 0);
	ck_assert_uint_eq(sem_uid_owners(t, 0), 1);
	ck_assert_uint_eq(sem_limit_count(p, SEM_LIMIT_UID_HOLDS), 0);
	/* Queued on s1 (held by uid 1): one pending for uid 0. */
	expect_queued(acq(p, 1, "s1", NOCAP, 1, FOREVER, 1), 1);
	ck_assert_uint_eq(sem_limit_count(p, SEM_LIMIT_UID_PENDING), 1);
	r = acq(p, 2, "s3", NOCAP, 1, FOREVER, 1);
	ck_assert_int_eq(r.limit, SEM_LIMIT_UID_PENDING);
	check_invariants(t);
	sem_owner_drop(p, 2);
	for (i = 1; i < N; i += 2)
		sem_owner_drop(o[i], 2);
	ck_assert_uint_eq(sem_flush(t), 0);
	ck_assert_uint_eq(sem_owner_count(t), 0);
	ck_assert_uint_eq(sem_count(t), 0);
	check_invariants(t);
	sem_table_free(t);
}
END_TEST

/*
 * An owner that releases while it waits on the same semaphore: the grant
 * its release causes is queued, not reported during sem_release, so the
 * daemon can send RELEASED first; sem_flush then delivers ACQUIRED.
 */
START_TEST(test_released_before_acquired)
{
	struct sem_owner	*a = owner(tbl, 1);

	expect_granted(acq(a, 1, "ra", 1, 1, FOREVER, 0));
	expect_queued(acq(a, 2, "ra", 1, 1, FOREVER, 0), 1);
	ck_assert_int_eq(rel(a, "ra", 1, 1), PROTO_OK);
	ck_assert_uint_eq(rec.len, 0);		/* nothing delivered yet */
	ck_assert_uint_eq(held_by(a, "ra"), 1);	/* but decided */
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'G', a, 2);
	ck_assert_uint_eq(rec.v[0].weight, 1);
	check_table(tbl, &a, 1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Ports of peer tests */

/*
 * Port of golang.org/x/sync semaphore_test.go TestAllocCancelDoesntStarve
 * (itself from zhiqiangxu/util crwmutex_test.go): with 1 of 10 held, a
 * request for 10 waits and gives up after 300 ms; a request for 1 queued
 * behind it must be granted when the big one gives up, not stay stuck.
 */
START_TEST(test_go_alloc_cancel_doesnt_starve)
{
	struct sem_owner	*a = owner(tbl, 1), *w = owner(tbl, 2);
	struct sem_owner	*r = owner(tbl, 3);

	expect_granted(acq(a, 1, "go", 10, 1, FOREVER, 0));
	expect_queued(acq(w, 1, "go", 10, 10, 300, 0), 1);
	expect_queued(acq(r, 1, "go", 10, 1, FOREVER, 100), 2);
	sem_expire(tbl, 300);
	ck_assert_uint_eq(sem_flush(tbl), 2);
	expect_ev(0, 'E', w, 1);
	expect_ev(1, 'G', r, 1);
	ck_assert_int_eq(rel(r, "go", 1, 301), PROTO_OK);
}
END_TEST

/*
 * Port of golang.org/x/sync TestLargeAcquireDoesntStarve: n holders of 1
 * keep releasing and re-acquiring while one request for n waits; the big
 * request must not starve: the re-acquires queue behind it, it is granted
 * when the last small one is given back, and the small ones follow.
 */
START_TEST(test_go_large_acquire_doesnt_starve)
{
	enum { N = 4 };
	struct sem_owner	*o[N], *big = owner(tbl, 99);
	size_t			 i;

	for (i = 0; i < N; i++) {
		o[i] = owner(tbl, (uint32_t)i);
		expect_granted(acq(o[i], 1, "ls", N, 1, FOREVER, 0));
	}
	expect_queued(acq(big, 1, "ls", N, N, FOREVER, 0), 1);
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(rel(o[i], "ls", 1, 1), PROTO_OK);
		/* Room for 1, but the big one is ahead. */
		expect_queued(acq(o[i], 2, "ls", N, 1, FOREVER, 1),
		    i == N - 1 ? (uint32_t)i + 1 : (uint32_t)i + 2);
		if (i < N - 1)
			ck_assert_uint_eq(sem_flush(tbl), 0);
	}
	/* The last release let the big one in. */
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'G', big, 1);
	rec_reset();
	ck_assert_int_eq(rel(big, "ls", N, 2), PROTO_OK);
	ck_assert_uint_eq(sem_flush(tbl), N);
	for (i = 0; i < N; i++)
		expect_ev(i, 'G', o[i], 2);
}
END_TEST

/*
 * Port of golang.org/x/sync TestWeightedTryAcquire: capacity 2, acquire
 * 1, then tries of 1 give true, false; release 2; try 1 true; acquire 1;
 * try 1 false.
 */
START_TEST(test_go_weighted_try_acquire)
{
	struct sem_owner	*a = owner(tbl, 1);
	int			 tries[4], want[4] = { 1, 0, 1, 0 }, i;

	expect_granted(acq(a, 1, "wt", 2, 1, FOREVER, 0));
	tries[0] = acq(a, 2, "wt", 2, 1, TRY, 0).status == SEM_ACQ_GRANTED;
	tries[1] = acq(a, 3, "wt", 2, 1, TRY, 0).status == SEM_ACQ_GRANTED;
	ck_assert_int_eq(rel(a, "wt", 2, 0), PROTO_OK);
	tries[2] = acq(a, 4, "wt", 2, 1, TRY, 0).status == SEM_ACQ_GRANTED;
	expect_granted(acq(a, 5, "wt", 2, 1, FOREVER, 0));
	tries[3] = acq(a, 6, "wt", 2, 1, TRY, 0).status == SEM_ACQ_GRANTED;
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(tries[i], want[i]);
	ck_assert_uint_eq(held_by(a, "wt"), 2);
}
END_TEST

/*
 * Port of golang.org/x/sync TestWeightedDoesntBlockIfTooBig: with n = 2,
 * a pending request for n + 1 must not block requests for 1.  In semd a
 * weight above the capacity is an immediate TOO_HEAVY error (never a wait
 * that cannot end), so nothing is queued and 3n requests for 1 all get
 * through, two at a time.
 */
START_TEST(test_go_doesnt_block_if_too_big)
{
	enum { N = 2 };
	struct sem_owner	*big = owner(tbl, 1), *o[3 * N];
	size_t			 i, granted = 0;

	/* On a new name (not created) and on a known one. */
	expect_error(acq(big, 1, "tb", N, N + 1, FOREVER, 0),
	    PROTO_E_TOO_HEAVY);
	ck_assert_ptr_null(look("tb"));
	expect_granted(acq(big, 1, "tb", N, 1, FOREVER, 0));
	expect_error(acq(big, 2, "tb", N, N + 1, FOREVER, 0),
	    PROTO_E_TOO_HEAVY);
	ck_assert_uint_eq(sem_nwaiting(look("tb")), 0);
	ck_assert_uint_eq(sem_limit_count(big, SEM_LIMIT_PENDING), 0);
	ck_assert_int_eq(rel(big, "tb", 1, 0), PROTO_OK);
	ck_assert_ptr_null(look("tb"));

	for (i = 0; i < 3 * N; i++) {
		o[i] = owner(tbl, (uint32_t)i + 2);
		if (acq(o[i], 1, "tb", N, 1, FOREVER, 0).status ==
		    SEM_ACQ_GRANTED)
			granted++;
	}
	ck_assert_uint_eq(granted, N);
	for (i = 0; i < 3 * N; i++) {
		rec_reset();
		ck_assert_int_eq(rel(o[i], "tb", 1, 1), PROTO_OK);
		if (i + N < 3 * N) {
			ck_assert_uint_eq(sem_flush(tbl), 1);
			expect_ev(0, 'G', o[i + N], 1);
		}
	}
	ck_assert_ptr_null(look("tb"));
}
END_TEST

/*
 * Port of CPython test_asyncio/test_locks.py SemaphoreTests
 * test_acquire_fifo_order_2: with Semaphore(1), c1 takes it, c2 and c3
 * wait; when c2 gets it, releases and re-acquires, its second acquire
 * comes after c3: result [1, 2, 3, 4].  In semd only holders release, so
 * the releases are done by the holders; a release that grants the next
 * waiter does not let the releaser barge back in ahead of it.
 */
START_TEST(test_py_acquire_fifo_order_2)
{
	struct sem_owner	*c1 = owner(tbl, 1), *c2 = owner(tbl, 2);
	struct sem_owner	*c3 = owner(tbl, 3);
	int			 result[4], n = 0;

	expect_granted(acq(c1, 1, "py", 1, 1, FOREVER, 0));
	result[n++] = 1;
	expect_queued(acq(c2, 1, "py", 1, 1, FOREVER, 0), 1);
	expect_queued(acq(c3, 1, "py", 1, 1, FOREVER, 0), 2);

	ck_assert_int_eq(rel(c1, "py", 1, 1), PROTO_OK);
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'G', c2, 1);
	result[n++] = 2;
	/* c2 releases and at once acquires again. */
	ck_assert_int_eq(rel(c2, "py", 1, 2), PROTO_OK);
	expect_queued(acq(c2, 2, "py", 1, 1, FOREVER, 2), 1);
	rec_reset();
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'G', c3, 1);
	result[n++] = 3;
	ck_assert_int_eq(rel(c3, "py", 1, 3), PROTO_OK);
	rec_reset();
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'G', c2, 2);
	result[n++] = 4;

	ck_assert_int_eq(n, 4);
	ck_assert_int_eq(result[0], 1);
	ck_assert_int_eq(result[1], 2);
	ck_assert_int_eq(result[2], 3);
	ck_assert_int_eq(result[3], 4);
}
END_TEST

/*
 * Port of CPython SemaphoreTests test_acquire_fifo_order_3: with
 * Semaphore(0), c1, c2, c3 wait; c1 is cancelled; two releases wake c2
 * and c3, in that order, and c1 gets nothing: result [2, 3].  Here a
 * holder of 2 stands for the empty semaphore and c1 withdraws.
 */
START_TEST(test_py_acquire_fifo_order_3)
{
	struct sem_owner	*m = owner(tbl, 9);
	struct sem_owner	*c[3];
	size_t			 i;

	expect_granted(acq(m, 1, "f3", 2, 2, FOREVER, 0));
	for (i = 0; i < 3; i++) {
		c[i] = owner(tbl, (uint32_t)i + 1);
		expect_queued(acq(c[i], 1, "f3", 2, 1, FOREVER, 0),
		    (uint32_t)i + 1);
	}
	ck_assert_int_eq(sem_withdraw(c[0], 1, 1), PROTO_OK);
	ck_assert_int_eq(rel(m, "f3", 1, 2), PROTO_OK);
	ck_assert_int_eq(rel(m, "f3", 1, 2), PROTO_OK);
	ck_assert_uint_eq(sem_flush(tbl), 2);
	expect_ev(0, 'G', c[1], 1);
	expect_ev(1, 'G', c[2], 1);
	ck_assert_uint_eq(held_by(c[0], "f3"), 0);
}
END_TEST

/*
 * Port of CPython SemaphoreTests test_acquire_cancel_before_awoken: with
 * Semaphore(0), t1..t4 wait; t1 and t2 are cancelled; one release wakes
 * exactly t3, and t4 still waits.
 */
START_TEST(test_py_acquire_cancel_before_awoken)
{
	struct sem_owner	*m = owner(tbl, 9), *t[4];
	size_t			 i;

	expect_granted(acq(m, 1, "cb", 1, 1, FOREVER, 0));
	for (i = 0; i < 4; i++) {
		t[i] = owner(tbl, (uint32_t)i + 1);
		expect_queued(acq(t[i], 1, "cb", 1, 1, FOREVER, 0),
		    (uint32_t)i + 1);
	}
	ck_assert_int_eq(sem_withdraw(t[0], 1, 1), PROTO_OK);
	ck_assert_int_eq(sem_withdraw(t[1], 1, 1), PROTO_OK);
	ck_assert_int_eq(rel(m, "cb", 1, 2), PROTO_OK);
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'G', t[2], 1);
	ck_assert_uint_eq(sem_nwaiting(look("cb")), 1);
	ck_assert_ptr_eq(first_party(look("cb"), 1).owner, t[3]);
	/* Cancelling t3 now is too late; t4 can still withdraw. */
	ck_assert_int_eq(sem_withdraw(t[2], 1, 3), PROTO_E_NOT_PENDING);
	ck_assert_int_eq(sem_withdraw(t[3], 1, 3), PROTO_OK);
}
END_TEST

/*
 * Port of CPython SemaphoreTests test_acquire_hang: with Semaphore(0), t1
 * and t2 wait, t1 is cancelled, one release: t2 must get it (no hang on
 * the cancelled waiter) and the semaphore is locked again.
 */
START_TEST(test_py_acquire_hang)
{
	struct sem_owner	*m = owner(tbl, 9), *t1 = owner(tbl, 1);
	struct sem_owner	*t2 = owner(tbl, 2);
	struct sem		*s;

	expect_granted(acq(m, 1, "hang", 1, 1, FOREVER, 0));
	expect_queued(acq(t1, 1, "hang", 1, 1, FOREVER, 0), 1);
	expect_queued(acq(t2, 1, "hang", 1, 1, FOREVER, 0), 2);
	ck_assert_int_eq(sem_withdraw(t1, 1, 1), PROTO_OK);
	ck_assert_int_eq(rel(m, "hang", 1, 2), PROTO_OK);
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'G', t2, 1);
	s = look("hang");
	ck_assert_uint_eq(sem_used(s), sem_capacity(s));	/* locked */
	ck_assert_uint_eq(sem_nwaiting(s), 0);
}
END_TEST

/*
 * Port of CPython SemaphoreTests test_release_not_acquired: releasing a
 * BoundedSemaphore never acquired raises ValueError.  In semd releasing
 * what one does not hold is NOT_HELD and changes nothing, whether the
 * name is unknown or held by someone else.
 */
START_TEST(test_py_release_not_acquired)
{
	struct sem_owner	*a = owner(tbl, 1), *b = owner(tbl, 2);

	ck_assert_int_eq(rel(a, "bs", 1, 0), PROTO_E_NOT_HELD);
	ck_assert_ptr_null(look("bs"));
	expect_granted(acq(b, 1, "bs", 1, 1, FOREVER, 0));
	ck_assert_int_eq(rel(a, "bs", 1, 0), PROTO_E_NOT_HELD);
	ck_assert_uint_eq(sem_used(look("bs")), 1);
	ck_assert_uint_eq(held_by(b, "bs"), 1);
	ck_assert_int_eq(rel(b, "bs", 1, 0), PROTO_OK);
	ck_assert_int_eq(rel(b, "bs", 1, 0), PROTO_E_NOT_HELD);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Scale and random operations */

/*
 * Complexity guard: 100,000 waiters on one semaphore (half with a
 * deadline, so the heap is exercised on every grant), granted one release
 * at a time in FIFO order.  Quadratic work per grant would make this
 * time out; it asserts order only.
 */
START_TEST(test_large_queue)
{
	enum { N = 100000, NOWN = 1000 };
	struct sem_owner	**o;
	struct sem_owner	*first;
	size_t			 i;

	o = calloc(NOWN, sizeof *o);
	ck_assert_ptr_nonnull(o);
	for (i = 0; i < NOWN; i++)
		o[i] = owner(tbl, (uint32_t)i);
	first = owner(tbl, 424242);
	expect_granted(acq(first, 0, "big", 1, 1, FOREVER, 0));
	for (i = 0; i < N; i++) {
		expect_queued(acq(o[i % NOWN], i, "big", 1, 1,
		    (i & 1) ? (int64_t)1000000000 : FOREVER, 0),
		    (uint32_t)i + 1);
	}
	ck_assert_int_eq(rel(first, "big", 1, 1), PROTO_OK);
	for (i = 0; i < N; i++) {
		rec_reset();
		ck_assert_uint_eq(sem_flush(tbl), 1);
		ck_assert_ptr_eq(rec.v[0].owner, o[i % NOWN]);
		ck_assert_uint_eq(rec.v[0].id, i);
		sem_expire(tbl, 2 + i);	/* nothing is due */
		ck_assert_int_eq(rel(o[i % NOWN], "big", 1, 2 + i), PROTO_OK);
	}
	ck_assert_uint_eq(sem_flush(tbl), 0);
	ck_assert_ptr_null(look("big"));
	free(o);
}
END_TEST

/*
 * 100,000 distinct semaphores held by one owner (the name table grows),
 * each found by name, then all released by dropping the owner (and the
 * table shrinks): nothing stays alive.
 */
START_TEST(test_large_many_sems)
{
	enum { N = 100000 };
	struct sem_owner	*a = owner(tbl, 1);
	char			 name[32];
	size_t			 i;

	for (i = 0; i < N; i++) {
		snprintf(name, sizeof name, "sem-%zu", i);
		expect_granted(acq(a, i, name, 2, 1, FOREVER, 0));
	}
	ck_assert_uint_eq(sem_count(tbl), N);
	ck_assert_uint_eq(sem_limit_count(a, SEM_LIMIT_HOLDS), N);
	for (i = 0; i < N; i += 997) {
		snprintf(name, sizeof name, "sem-%zu", i);
		ck_assert_ptr_nonnull(look(name));
		ck_assert_str_eq(sem_name(look(name)), name);
	}
	ck_assert_ptr_null(look("sem-x"));
	sem_owner_drop(a, 1);
	ck_assert_uint_eq(sem_count(tbl), 0);
	ck_assert_ptr_null(look("sem-5"));
}
END_TEST

/*
 * Random operations on a few semaphores by a few owners (acquire with
 * and without deadline, try, release, withdraw, expire, drop and
 * reconnect), checking every invariant after each step: the grant rule
 * always ran, counts match lists, nothing idle survives a flush.
 */
START_TEST(test_random_ops)
{
	enum { NOWN = 6, NSEM = 4, STEPS = 20000 };
	static const char	*names[NSEM] = { "r0", "r1", "r2", "r3" };
	static const uint32_t	 caps[NSEM] = { 1, 2, 3, 5 };
	struct sem_owner	*o[NOWN];
	struct sem_acq_result	 r;
	uint64_t		 st = 42, now = 0, nextid[NOWN] = { 0 };
	uint64_t		 lowid[NOWN] = { 0 };
	size_t			 step, i, k, nops[6] = { 0 };
	uint32_t		 wt;
	int64_t			 tmo;

	for (i = 0; i < NOWN; i++)
		o[i] = owner(tbl, (uint32_t)i);
	for (step = 0; step < STEPS; step++) {
		i = rnd(&st) % NOWN;
		k = rnd(&st) % NSEM;
		switch (rnd(&st) % 10) {
		case 0: case 1: case 2: case 3:
			wt = 1 + (uint32_t)(rnd(&st) % caps[k]);
			switch (rnd(&st) % 4) {
			case 0:
				tmo = TRY;
				break;
			case 1:
				tmo = FOREVER;
				break;
			default:
				tmo = (int64_t)(1 + rnd(&st) % 50);
				break;
			}
			ck_assert_int_eq(sem_acquire(o[i],
			    &(struct sem_request){ .id = nextid[i]++,
			    .name = names[k], .name_len = 2, .has_capacity = 1,
			    .capacity = caps[k], .weight = wt,
			    .timeout_ms = tmo }, now, &r), 0);
			ck_assert_int_ne(r.status, SEM_ACQ_ERROR);
			nops[0] += r.status == SEM_ACQ_QUEUED;
			break;
		case 4: case 5:
			/* Release some or all of what o[i] holds on k. */
			wt = held_by(o[i], names[k]);
			if (wt == 0) {
				ck_assert_int_eq(sem_release(o[i], names[k],
				    2, 1, now), PROTO_E_NOT_HELD);
				break;
			}
			ck_assert_int_eq(sem_release(o[i], names[k], 2,
			    wt + 1, now), PROTO_E_NOT_HELD);
			ck_assert_int_eq(sem_release(o[i], names[k], 2,
			    1 + (uint32_t)(rnd(&st) % wt), now), PROTO_OK);
			nops[1]++;
			break;
		case 6:
			/* The oldest pending id: ids below lowid are not,
			 * nor ever will be again. */
			while (lowid[i] < nextid[i] && sem_withdraw(o[i],
			    lowid[i], now) == PROTO_E_NOT_PENDING)
				lowid[i]++;
			if (lowid[i] < nextid[i]) {
				lowid[i]++;
				nops[2]++;
			}
			break;
		case 7: case 8:
			now += rnd(&st) % 20;
			sem_expire(tbl, now);
			break;
		case 9:
			if (rnd(&st) % 4 == 0) {
				sem_owner_drop(o[i], now);
				o[i] = owner(tbl, (uint32_t)i);
				lowid[i] = nextid[i];
				nops[3]++;
			}
			break;
		}
		rec_reset();
		nops[4] += sem_flush(tbl);
		check_table(tbl, o, NOWN);
	}
	/* The walk really did exercise queueing, releases and grants. */
	ck_assert_uint_gt(nops[0], 100);
	ck_assert_uint_gt(nops[1], 100);
	ck_assert_uint_gt(nops[2], 10);
	ck_assert_uint_gt(nops[3], 10);
	ck_assert_uint_gt(nops[4], 100);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Helpers */

/*
 * SipHash-1-3 against CPython's (PYTHONHASHSEED=0 means key 0; Python's
 * hash(bytes) is siphash13 since 3.11), and hash_sip2 agrees with
 * hash_sip on the same 16 bytes.
 */
START_TEST(test_siphash)
{
	struct hash_key		 k0 = { 0, 0 }, k;
	unsigned char		 b[16];
	uint64_t		 a = 0x0706050403020100ULL;
	uint64_t		 c = 0x0f0e0d0c0b0a0908ULL;
	size_t			 i;

	ck_assert_uint_eq(hash_sip(&k0, "a", 1), 4644417185603328019ULL);
	ck_assert_uint_eq(hash_sip(&k0, "abcdefgh", 8),
	    4574395652268504554ULL);
	ck_assert_uint_eq(hash_sip(&k0, "semaphore-name-x", 16),
	    16627738528341246598ULL);
	for (i = 0; i < 16; i++)
		b[i] = (unsigned char)i;
	ck_assert_uint_eq(hash_sip(&k0, b, 16), 9904005486622393783ULL);
	ck_assert_uint_eq(hash_sip2(&k0, a, c), 9904005486622393783ULL);
	hash_key_init(&k);
	ck_assert_uint_eq(hash_sip2(&k, a, c), hash_sip(&k, b, 16));
	ck_assert_uint_ne(hash_sip(&k, "a", 1), hash_sip(&k, "b", 1));
}
END_TEST

/*
 * hash_mix2, the engine's hash for addresses, tokens and uids, depends
 * on its key and spreads aligned addresses over the low bits the
 * buckets use: 4,096 addresses 64 bytes apart into 4,096 buckets, no
 * chain longer than 8, under a random key and under key 0.
 */
START_TEST(test_hash_mix)
{
	static unsigned char	 count[4096];
	struct hash_key		 k0 = { 0, 0 }, k1 = { 1, 0 };
	struct hash_key		 k = {
		0x9e3779b97f4a7c15ULL, 0xd1b54a32d192ed03ULL
	};
	uint64_t		 base = 0x7f3a12c45000ULL;
	size_t			 i, r, max;

	ck_assert_uint_ne(hash_mix2(&k0, base, 1), hash_mix2(&k1, base, 1));
	ck_assert_uint_ne(hash_mix2(&k0, base, 1), hash_mix2(&k0, 1, base));
	ck_assert_uint_eq(hash_mix2(&k0, base, 1), hash_mix2(&k0, base, 1));
	/*
	 * Fixed keys, so the figure is the same every run: with a random
	 * key (hash_key_init) 4,096 addresses in 4,096 buckets put 9 in
	 * one bucket now and then, by chance alone.
	 */
	for (r = 0; r < 2; r++) {
		memset(count, 0, sizeof count);
		max = 0;
		for (i = 0; i < 4096; i++) {
			uint64_t	hv = hash_mix2(r ? &k : &k0,
			    base + 64 * i, base + 4096) & 4095;

			if (++count[hv] > max)
				max = count[hv];
		}
		ck_assert_uint_le(max, 8);
	}
}
END_TEST

/* Growing a semaphore grants the waiters that now fit, in order, at once. */
START_TEST(test_resize_grow)
{
	struct sem_owner	*a = owner(tbl, 1), *b = owner(tbl, 2);
	struct sem_owner	*c = owner(tbl, 3);

	expect_granted(acq(a, 1, "rz", 2, 2, FOREVER, 0));
	expect_queued(acq(b, 1, "rz", NOCAP, 1, FOREVER, 0), 1);
	expect_queued(acq(c, 1, "rz", NOCAP, 2, FOREVER, 0), 2);
	sem_resize(tbl, look("rz"), 3, 1);
	check_invariants(tbl);
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'G', b, 1);
	/* The heavy one needs 2 more: 5 lets it in. */
	sem_resize(tbl, look("rz"), 5, 2);
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(1, 'G', c, 1);
	ck_assert_uint_eq(sem_used(look("rz")), 5);
	check_invariants(tbl);
}
END_TEST

/*
 * Shrinking takes nothing back and grants nothing until held + weight
 * fits the new capacity; waiters heavier than it are refused.
 */
START_TEST(test_resize_shrink)
{
	struct sem_owner	*a = owner(tbl, 1), *b = owner(tbl, 2);
	struct sem_owner	*c = owner(tbl, 3), *d = owner(tbl, 4);
	struct sem		*s;

	expect_granted(acq(a, 1, "rz", 4, 3, FOREVER, 0));
	expect_granted(acq(b, 1, "rz", NOCAP, 1, FOREVER, 0));
	expect_queued(acq(c, 1, "rz", NOCAP, 3, FOREVER, 0), 1);
	expect_queued(acq(d, 1, "rz", NOCAP, 1, FOREVER, 0), 2);
	s = look("rz");
	sem_resize(tbl, s, 2, 1);
	ck_assert_uint_eq(sem_used(s), 4);
	ck_assert_uint_gt(sem_used(s), sem_capacity(s));
	check_invariants(tbl);
	/* c (weight 3) can never fit capacity 2: refused. */
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'R', c, 1);
	/* A newcomer waits too, even a try fails. */
	ck_assert_int_eq(acq(c, 2, "rz", NOCAP, 1, TRY, 2).status,
	    SEM_ACQ_BUSY);
	/* held 4 -> 1: d fits (1 + 1 <= 2). */
	ck_assert_int_eq(rel(a, "rz", 3, 3), PROTO_OK);
	ck_assert_uint_le(sem_used(s), sem_capacity(s));
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(1, 'G', d, 1);
	ck_assert_uint_eq(sem_used(s), 2);
	check_invariants(tbl);
	/* A capacity other than 2 is now a mismatch. */
	expect_error(acq(c, 3, "rz", 4, 1, TRY, 4),
	    PROTO_E_CAPACITY_MISMATCH);
}
END_TEST

/* A drained semaphore grants nothing; waiters keep their place. */
START_TEST(test_drain)
{
	struct sem_owner	*a = owner(tbl, 1), *b = owner(tbl, 2);
	struct sem_owner	*c = owner(tbl, 3);
	struct sem		*s;

	expect_granted(acq(a, 1, "dr", 2, 1, FOREVER, 0));
	s = look("dr");
	sem_drain(tbl, s, 1, 1);
	expect_queued(acq(b, 1, "dr", NOCAP, 1, FOREVER, 1), 1);
	ck_assert_int_eq(acq(c, 1, "dr", NOCAP, 1, TRY, 1).status,
	    SEM_ACQ_BUSY);
	expect_queued(acq(c, 2, "dr", NOCAP, 1, FOREVER, 1), 2);
	check_invariants(tbl);
	ck_assert_int_eq(rel(a, "dr", 1, 2), PROTO_OK);
	ck_assert_uint_eq(sem_flush(tbl), 0);
	ck_assert_uint_eq(sem_used(s), 0);
	sem_drain(tbl, s, 0, 3);
	ck_assert_uint_eq(sem_flush(tbl), 2);
	expect_ev(0, 'G', b, 1);
	expect_ev(1, 'G', c, 2);
	check_invariants(tbl);
	/* Drained and idle: kept; undrained and idle: forgotten. */
	ck_assert_int_eq(rel(b, "dr", 1, 4), PROTO_OK);
	ck_assert_int_eq(rel(c, "dr", 1, 4), PROTO_OK);
	ck_assert_ptr_null(look("dr"));
	expect_granted(acq(a, 2, "dr", 2, 1, FOREVER, 5));
	s = look("dr");
	sem_drain(tbl, s, 1, 5);
	ck_assert_int_eq(rel(a, "dr", 1, 6), PROTO_OK);
	ck_assert_ptr_eq(look("dr"), s);
	check_invariants(tbl);
	sem_drain(tbl, s, 0, 7);
	ck_assert_ptr_null(look("dr"));
}
END_TEST

/* Declared semaphores exist while idle; undeclared, they are forgotten. */
START_TEST(test_declare)
{
	struct sem_owner	*a = owner(tbl, 1);
	struct sem		*s;
	struct sem_limits	 lim;
	struct sem_table	*t;

	s = sem_declare(tbl, "dc", 2, 3, 0, 0, 0);
	ck_assert_ptr_nonnull(s);
	ck_assert(sem_is_declared(s));
	ck_assert_ptr_eq(look("dc"), s);
	check_invariants(tbl);
	/* Capacity may be left out, or repeated; another is refused. */
	expect_granted(acq(a, 1, "dc", NOCAP, 1, FOREVER, 0));
	expect_granted(acq(a, 2, "dc", 3, 1, FOREVER, 0));
	expect_error(acq(a, 3, "dc", 4, 1, FOREVER, 0),
	    PROTO_E_CAPACITY_MISMATCH);
	ck_assert_int_eq(rel(a, "dc", 2, 1), PROTO_OK);
	ck_assert_ptr_eq(look("dc"), s);
	/* Declaring again with another capacity resizes. */
	ck_assert_ptr_eq(sem_declare(tbl, "dc", 2, 5, 0, 0, 2), s);
	ck_assert_uint_eq(sem_capacity(s), 5);
	sem_undeclare(tbl, s);
	ck_assert_ptr_null(look("dc"));
	check_invariants(tbl);

	/* max_sems does not stop a declaration. */
	memset(&lim, 0, sizeof lim);
	lim.max_sems = 1;
	t = table_new(&lim);
	ck_assert_ptr_nonnull(sem_declare(t, "d1", 2, 1, 0, 0, 0));
	ck_assert_ptr_nonnull(sem_declare(t, "d2", 2, 1, 0, 0, 0));
	ck_assert_uint_eq(sem_count(t), 2);
	sem_table_free(t);
}
END_TEST


/*
 * A declared rate paces grants (GCRA): burst 2 at once, then one per
 * second; re-declaring without a rate lets the waiter in at once, and a
 * rate cannot be taken from a semaphore with no capacity.
 */
START_TEST(test_declare_rate)
{
	struct sem_owner	*a = owner(tbl, 1);
	struct sem		*s;
	uint64_t		 at;
	uint32_t		 burst;

	s = sem_declare(tbl, "dr", 2, 0, 1.0, 2, 0);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(sem_capacity(s), 0);
	ck_assert_double_eq_tol(sem_rate(s, &burst), 1.0, 1e-9);
	ck_assert_uint_eq(burst, 2);
	expect_granted(acq(a, 1, "dr", NOCAP, 1, FOREVER, 0));
	expect_granted(acq(a, 2, "dr", NOCAP, 1, FOREVER, 0));
	expect_queued(acq(a, 3, "dr", NOCAP, 1, FOREVER, 0), 1);
	check_invariants(tbl);
	ck_assert(sem_next_deadline(tbl, &at));
	ck_assert_uint_eq(at, 1000);
	sem_expire(tbl, 999);
	ck_assert_uint_eq(sem_flush(tbl), 0);
	sem_expire(tbl, 1000);
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(0, 'G', a, 3);
	expect_queued(acq(a, 4, "dr", NOCAP, 1, FOREVER, 1000), 1);
	/*
	 * TAT is 3 s: 2 s of debt at 1/s.  At 1000/s the debt is 2 grants
	 * of 1 ms: the waiter conforms at 1001 ms (TAT 1002 minus the
	 * tolerance of 1 ms), not after the old pace's 2 s.
	 */
	ck_assert_int_eq(sem_set_rate(tbl, s, 1000.0, 2, 1000), 0);
	ck_assert_uint_eq(sem_flush(tbl), 0);
	ck_assert(sem_next_deadline(tbl, &at));
	ck_assert_uint_eq(at, 1001);
	sem_expire(tbl, 1001);
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(1, 'G', a, 4);
	expect_queued(acq(a, 5, "dr", NOCAP, 1, FOREVER, 1001), 1);
	/* No rate, but then a capacity: it must have one. */
	ck_assert_int_eq(sem_set_rate(tbl, s, 0, 0, 1000), -1);
	ck_assert_ptr_eq(sem_declare(tbl, "dr", 2, 10, 0, 0, 1000), s);
	ck_assert_double_eq_tol(sem_rate(s, NULL), 0, 1e-9);
	ck_assert_uint_eq(sem_capacity(s), 10);
	ck_assert_uint_eq(sem_flush(tbl), 1);
	expect_ev(2, 'G', a, 5);
	check_invariants(tbl);
	ck_assert_ptr_null(sem_declare(tbl, "bad", 3, 0, 0, 0, 0));
	ck_assert_ptr_null(sem_declare(tbl, "bad", 3, 1, 1e9, 0, 0));
}
END_TEST

/* Return the engine's test suite. */
Suite *
sem_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("sem");

	tc = tcase_create("admin");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_resize_grow);
	tcase_add_test(tc, test_resize_shrink);
	tcase_add_test(tc, test_drain);
	tcase_add_test(tc, test_declare);
	tcase_add_test(tc, test_declare_rate);
	suite_add_tcase(s, tc);

	tc = tcase_create("rules");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_grant_immediate);
	tcase_add_test(tc, test_tokens);
	tcase_add_test(tc, test_fifo_many);
	tcase_add_test(tc, test_heavy_head_blocks);
	tcase_add_test(tc, test_heavy_head_withdraw_wakes);
	tcase_add_test(tc, test_heavy_head_expire_wakes);
	tcase_add_test(tc, test_heavy_head_drop_wakes);
	tcase_add_test(tc, test_try);
	tcase_add_test(tc, test_expire_heap_order);
	tcase_add_test(tc, test_expire_same_deadline_grants);
	tcase_add_test(tc, test_withdraw);
	tcase_add_test(tc, test_release_ownership);
	tcase_add_test(tc, test_owner_drop);
	tcase_add_test(tc, test_owner_drop_self_waiters);
	tcase_add_test(tc, test_owner_drop_undelivered);
	tcase_add_test(tc, test_idle_forgotten);
	tcase_add_test(tc, test_capacity_declaration);
	tcase_add_test(tc, test_too_heavy);
	tcase_add_test(tc, test_duplicate_id);
	tcase_add_test(tc, test_limit_max_sems);
	tcase_add_test(tc, test_limit_max_pending);
	tcase_add_test(tc, test_limit_max_holds);
	tcase_add_test(tc, test_limit_pending_per_uid);
	tcase_add_test(tc, test_limit_holds_per_uid);
	tcase_add_test(tc, test_uid_totals_lifecycle);
	tcase_add_test(tc, test_check_invariants_detects);
	tcase_add_test(tc, test_released_before_acquired);
	suite_add_tcase(s, tc);

	tc = tcase_create("peers");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_go_alloc_cancel_doesnt_starve);
	tcase_add_test(tc, test_go_large_acquire_doesnt_starve);
	tcase_add_test(tc, test_go_weighted_try_acquire);
	tcase_add_test(tc, test_go_doesnt_block_if_too_big);
	tcase_add_test(tc, test_py_acquire_fifo_order_2);
	tcase_add_test(tc, test_py_acquire_fifo_order_3);
	tcase_add_test(tc, test_py_acquire_cancel_before_awoken);
	tcase_add_test(tc, test_py_acquire_hang);
	tcase_add_test(tc, test_py_release_not_acquired);
	suite_add_tcase(s, tc);

	tc = tcase_create("scale");
	/* Left out of make check-valgrind (CK_EXCLUDE_TAGS): minutes there. */
	tcase_set_tags(tc, "scale");
	tcase_add_checked_fixture(tc, setup, teardown);
	/* A safety net for slow sanitizer/valgrind runs, not a measure. */
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_large_queue);
	tcase_add_test(tc, test_large_many_sems);
	tcase_add_test(tc, test_random_ops);
	suite_add_tcase(s, tc);

	tc = tcase_create("helpers");
	tcase_add_test(tc, test_siphash);
	tcase_add_test(tc, test_hash_mix);
	suite_add_tcase(s, tc);

	return (s);
}
