/*
 * test_sem2.c -- unit tests of the engine's version 2 rules: several
 * semaphores in one request (all or none, one arrival order, no
 * deadlock) and rates (GCRA, exact grant times on a virtual clock).
 * Time is a number the tests pass in; events delivered by sem_flush are
 * recorded in order.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sem.h"
#include "unit.h"

#define FOREVER		(-1)
#define TRY		0

/* One delivered event. */
struct ev2 {
	char			 kind;		/* 'G' granted, 'E' expired */
	struct sem_owner	*owner;
	uint64_t		 id;
	uint64_t		 token;
	uint32_t		 nparts;
	uint64_t		 at;		/* the test clock at flush */
};

static struct ev2	 evs[4096];
static size_t		 nev;
static struct sem_table	*tb;
static uint64_t		 clock_ms;

static void
rec2(struct sem_waiter *w, char kind)
{
	const struct sem	*s;
	uint32_t		 i, weight;

	ck_assert_uint_lt(nev, sizeof evs / sizeof evs[0]);
	if (kind == 'G') {
		/* Every part is counted as held when the event is delivered. */
		for (i = 0; i < sem_waiter_nparts(w); i++) {
			s = sem_waiter_part(w, i, &weight);
			ck_assert_uint_ge(sem_used(s), weight);
		}
	}
	evs[nev].kind = kind;
	evs[nev].owner = sem_waiter_owner(w);
	evs[nev].id = sem_waiter_id(w);
	evs[nev].token = sem_waiter_token(w);
	evs[nev].nparts = sem_waiter_nparts(w);
	evs[nev].at = clock_ms;
	nev++;
}

static void
granted2(struct sem_waiter *w, void *arg)
{
	(void)arg;
	rec2(w, 'G');
}

static void
expired2(struct sem_waiter *w, void *arg)
{
	(void)arg;
	rec2(w, 'E');
}

static const struct sem_callbacks cbs2 = {
	.granted = granted2,
	.expired = expired2,
};

static void
setup2(void)
{
	nev = 0;
	clock_ms = 0;
	tb = sem_table_new(&cbs2, NULL, NULL);
	ck_assert_ptr_nonnull(tb);
}

static void
teardown2(void)
{
	sem_table_free(tb);
	tb = NULL;
}

static struct sem_owner *
own(uint32_t pid)
{
	struct sem_owner	*o = sem_owner_new(tb, NULL, pid, 1000);

	ck_assert_ptr_nonnull(o);
	return (o);
}

/* The engine's invariants and progress rule hold at clock_ms. */
static void
check2(void)
{
	char	why[256];

	why[0] = '\0';
	ck_assert_msg(sem_check_invariants(tb, why, sizeof why) == 0,
	    "invariants: %s", why);
	ck_assert_msg(sem_check_progress(tb, clock_ms, why, sizeof why) == 0,
	    "progress: %s", why);
}

/*
 * Parse a spec "name[=cap][*weight][@rate[/burst]]" into w (names point
 * into spec, which must outlive the call).
 */
static void
want_parse(char *spec, struct sem_want *w)
{
	char	*p;

	memset(w, 0, sizeof *w);
	w->weight = 1;
	if ((p = strchr(spec, '@')) != NULL) {
		*p++ = '\0';
		w->has_rate = 1;
		w->rate = strtod(p, &p);
		if (*p == '/')
			w->burst = (uint32_t)strtoul(p + 1, NULL, 10);
	}
	if ((p = strchr(spec, '*')) != NULL) {
		*p++ = '\0';
		w->weight = (uint32_t)strtoul(p, NULL, 10);
	}
	if ((p = strchr(spec, '=')) != NULL) {
		*p++ = '\0';
		w->has_capacity = 1;
		w->capacity = (uint32_t)strtoul(p, NULL, 10);
	}
	w->name = spec;
	w->name_len = strlen(spec);
}

/* Acquire the space-separated specs at clock_ms. */
static struct sem_acq_result
am(struct sem_owner *o, uint64_t id, const char *specs, int64_t timeout)
{
	struct sem_want		 wv[SEM_MAX_PARTS + 2];
	struct sem_acq_result	 r;
	char			 buf[1024], *tok, *save = NULL;
	size_t			 n = 0;

	snprintf(buf, sizeof buf, "%s", specs);
	for (tok = strtok_r(buf, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save)) {
		ck_assert_uint_lt(n, SEM_MAX_PARTS + 2);
		want_parse(tok, &wv[n++]);
	}
	ck_assert_int_eq(sem_acquire_many(o, id, wv, n, timeout, clock_ms,
	    &r), 0);
	return (r);
}

static void
is_granted(struct sem_acq_result r)
{
	ck_assert_int_eq(r.status, SEM_ACQ_GRANTED);
	ck_assert_uint_gt(r.token, 0);
}

static void
is_queued(struct sem_acq_result r, uint32_t pos)
{
	ck_assert_int_eq(r.status, SEM_ACQ_QUEUED);
	ck_assert_uint_eq(r.position, pos);
}

static void
is_error(struct sem_acq_result r, enum proto_err code, size_t index)
{
	ck_assert_int_eq(r.status, SEM_ACQ_ERROR);
	ck_assert_int_eq(r.code, code);
	ck_assert_uint_eq(r.index, index);
}

static struct sem *
lk(const char *name)
{
	return (sem_lookup(tb, name, strlen(name)));
}

static uint32_t
held_on(struct sem_owner *o, const char *name)
{
	return (sem_held(o, name, strlen(name)));
}

/* sem_release_token without the name and weight it reports. */
static enum proto_err
rt(struct sem_owner *o, uint64_t token, uint64_t now)
{
	char		 name[PROTO_MAX_NAME + 1];
	uint32_t	 w;

	return (sem_release_token(o, token, now, name, &w));
}

/* Where owner_grant_cb looks for a grant of one owner. */
struct owner_grant {
	const struct sem_owner	*owner;
	struct sem_grant	*g;
	struct sem_grant_info	 gi;
};

static int
owner_grant_cb(struct sem_grant *g, void *arg)
{
	struct owner_grant	*og = arg;

	sem_grant_info(g, &og->gi);
	if (og->gi.owner != og->owner)
		return (0);
	og->g = g;
	return (1);
}

/*
 * A grant of o, the oldest on the oldest semaphore it holds, with what
 * it is in *gi; NULL if o holds nothing.  O(every grant).
 */
static struct sem_grant *
first_grant(struct sem_owner *o, struct sem_grant_info *gi)
{
	struct owner_grant	 og = { .owner = o };
	struct sem		*s;

	for (s = sem_first(tb); s != NULL; s = sem_next(s)) {
		if (sem_grants(s, owner_grant_cb, &og) != 0) {
			*gi = og.gi;
			return (og.g);
		}
	}
	return (NULL);
}

/* Deliver events; returns how many. */
static size_t
fl(void)
{
	size_t	 n = sem_flush(tb);

	check2();
	return (n);
}

/* Event i is kind for (o, id). */
static void
ev_is(size_t i, char kind, struct sem_owner *o, uint64_t id)
{
	ck_assert_uint_gt(nev, i);
	ck_assert_int_eq(evs[i].kind, kind);
	ck_assert_ptr_eq(evs[i].owner, o);
	ck_assert_uint_eq(evs[i].id, id);
}

/* Advance the clock to t and run what is due. */
static size_t
tick(uint64_t t)
{
	clock_ms = t;
	sem_expire(tb, t);
	return (fl());
}

/* ---- several semaphores ---- */

/*
 * All or none, with reservation: a request for x and y waits for x
 * while keeping its place at the head of y, so a later request for y
 * alone queues behind it although y has room; when x frees, both parts
 * are granted in one event with one token, and the request behind gets
 * y only when the grant releases it.
 */
START_TEST(test_multi_all_or_none)
{
	struct sem_owner	*a = own(1), *b = own(2), *c = own(3);

	is_granted(am(a, 1, "x=1", FOREVER));
	is_queued(am(b, 1, "x y=1", FOREVER), 1);
	ck_assert_uint_eq(sem_used(lk("y")), 0);
	ck_assert_uint_eq(sem_nwaiting(lk("y")), 1);
	is_queued(am(c, 1, "y", FOREVER), 2);
	ck_assert_uint_eq(sem_used(lk("y")), 0);
	check2();

	ck_assert_int_eq(sem_release(a, "x", 1, 1, 0), PROTO_OK);
	ck_assert_uint_eq(fl(), 1);
	ev_is(0, 'G', b, 1);
	ck_assert_uint_eq(evs[0].nparts, 2);
	ck_assert_uint_eq(held_on(b, "x"), 1);
	ck_assert_uint_eq(held_on(b, "y"), 1);
	ck_assert_uint_eq(held_on(c, "y"), 0);

	ck_assert_int_eq(rt(b, evs[0].token, 0), PROTO_OK);
	ck_assert_uint_eq(fl(), 1);
	ev_is(1, 'G', c, 1);
	ck_assert_uint_eq(held_on(b, "x") + held_on(b, "y"), 0);
	ck_assert_ptr_null(lk("x"));
}
END_TEST

/*
 * The deadlock of the issue: a holds x and b holds y; c wants x then y,
 * d wants y then x.  Each part joins in one arrival order, so when a and
 * b release, c (older) gets both, then d gets both; nobody waits on
 * anybody in a circle, at every step.
 */
START_TEST(test_multi_xy_yx)
{
	struct sem_owner	*a = own(1), *b = own(2), *c = own(3),
				*d = own(4);

	is_granted(am(a, 1, "x=1", FOREVER));
	is_granted(am(b, 1, "y=1", FOREVER));
	is_queued(am(c, 1, "x y", FOREVER), 1);
	is_queued(am(d, 1, "y x", FOREVER), 2);
	check2();
	ck_assert_int_eq(sem_release(b, "y", 1, 1, 0), PROTO_OK);
	ck_assert_uint_eq(fl(), 0);
	/* c is at the head of y but waits for x: y stays free for it. */
	ck_assert_uint_eq(sem_used(lk("y")), 0);
	ck_assert_int_eq(sem_release(a, "x", 1, 1, 0), PROTO_OK);
	ck_assert_uint_eq(fl(), 1);
	ev_is(0, 'G', c, 1);
	sem_owner_drop(c, 0);
	ck_assert_uint_eq(fl(), 1);
	ev_is(1, 'G', d, 1);
	ck_assert_uint_eq(held_on(d, "x"), 1);
	ck_assert_uint_eq(held_on(d, "y"), 1);
}
END_TEST

/*
 * A heavy, wide request is not starved: while it waits for x, light
 * requests for y keep coming but queue behind it; once it is granted
 * they follow in arrival order.
 */
START_TEST(test_multi_heavy_not_starved)
{
	struct sem_owner	*a = own(1), *h = own(2), *l[5];
	uint64_t		 i;

	is_granted(am(a, 1, "x=4*2 y=4*1", FOREVER));
	is_queued(am(h, 1, "x*4 y*4", FOREVER), 1);
	for (i = 0; i < 5; i++) {
		l[i] = own(10 + (uint32_t)i);
		is_queued(am(l[i], 1, "y", FOREVER), (uint32_t)i + 2);
	}
	ck_assert_uint_eq(sem_used(lk("y")), 1);
	ck_assert_int_eq(sem_release(a, "x", 1, 2, 0), PROTO_OK);
	/* y still has a's 1: h waits, and holds its place. */
	ck_assert_uint_eq(fl(), 0);
	ck_assert_int_eq(sem_release(a, "y", 1, 1, 0), PROTO_OK);
	ck_assert_uint_eq(fl(), 1);
	ev_is(0, 'G', h, 1);
	sem_owner_drop(h, 0);
	ck_assert_uint_eq(fl(), 4);
	for (i = 0; i < 4; i++)
		ev_is(1 + i, 'G', l[i], 1);
}
END_TEST

/*
 * A multi-request that withdraws, expires or whose owner goes leaves
 * every queue, and those behind it in each queue are served.
 */
START_TEST(test_multi_leave_wakes)
{
	struct sem_owner	*a = own(1), *m = own(2), *p = own(3),
				*q = own(4);

	is_granted(am(a, 1, "x=1", FOREVER));
	is_queued(am(m, 1, "x y=1 z=1", FOREVER), 1);
	is_queued(am(p, 1, "y", FOREVER), 2);
	is_queued(am(q, 1, "z", FOREVER), 2);
	ck_assert_int_eq(sem_withdraw(m, 1, 0), PROTO_OK);
	ck_assert_uint_eq(fl(), 2);
	ev_is(0, 'G', p, 1);
	ev_is(1, 'G', q, 1);

	is_queued(am(m, 2, "x y z", 50), 1);
	ck_assert_uint_eq(tick(49), 0);
	ck_assert_uint_eq(tick(50), 1);
	ev_is(2, 'E', m, 2);

	is_queued(am(m, 3, "x y z", FOREVER), 1);
	is_queued(am(p, 3, "x", FOREVER), 2);
	sem_owner_drop(m, 50);
	ck_assert_uint_eq(fl(), 0);
	ck_assert_uint_eq(sem_nwaiting(lk("x")), 1);
	ck_assert_uint_eq(sem_nwaiting(lk("y")), 0);
	ck_assert_uint_eq(sem_nwaiting(lk("z")), 0);
}
END_TEST

/*
 * Errors refuse the whole request and change nothing: a name twice,
 * none or too many, a capacity mismatch or missing capacity (with the
 * index of the name at fault), too heavy; a try that cannot have all is
 * BUSY and creates nothing.
 */
START_TEST(test_multi_errors)
{
	struct sem_owner	*a = own(1);
	char			 many[512];
	size_t			 i, n = 0;

	is_granted(am(a, 1, "x=2", FOREVER));
	is_error(am(a, 2, "y=1 y=1", FOREVER), PROTO_E_BAD_REQUEST, 1);
	is_error(am(a, 2, "", FOREVER), PROTO_E_BAD_REQUEST, 0);
	for (i = 0; i < SEM_MAX_PARTS + 1; i++)
		n += (size_t)snprintf(many + n, sizeof many - n, "n%zu=1 ", i);
	is_error(am(a, 2, many, FOREVER), PROTO_E_BAD_REQUEST, 0);
	is_error(am(a, 2, "y=1 x=3", FOREVER), PROTO_E_CAPACITY_MISMATCH, 1);
	is_error(am(a, 2, "y=1 z", FOREVER), PROTO_E_NO_CAPACITY, 1);
	is_error(am(a, 2, "y=1 x*3", FOREVER), PROTO_E_TOO_HEAVY, 1);
	ck_assert_ptr_null(lk("y"));
	ck_assert_ptr_null(lk("n0"));
	is_granted(am(a, 2, "x", FOREVER));
	ck_assert_int_eq(am(a, 3, "y=1 x", TRY).status, SEM_ACQ_BUSY);
	ck_assert_ptr_null(lk("y"));
	check2();
}
END_TEST

/*
 * Release by token gives back all of one grant and only that grant;
 * another owner's token or an unknown one is NOT_HELD.  Release by name
 * takes from the newest grant first and a token then returns what is
 * left of its grant.
 */
START_TEST(test_multi_release_token)
{
	struct sem_owner	*a = own(1), *b = own(2);
	struct sem_acq_result	 r1, r2;
	struct sem_grant	*g;
	struct sem_grant_info	 gi;

	r1 = am(a, 1, "x=5*2 y=5*1", FOREVER);
	r2 = am(a, 2, "x*1", FOREVER);
	is_granted(r1);
	is_granted(r2);
	ck_assert_uint_ne(r1.token, r2.token);
	ck_assert_uint_eq(held_on(a, "x"), 3);
	ck_assert_int_eq(rt(b, r1.token, 0), PROTO_E_NOT_HELD);
	ck_assert_int_eq(rt(a, 999, 0), PROTO_E_NOT_HELD);
	/* By name: r2's 1 first, then 1 of r1's 2. */
	ck_assert_int_eq(sem_release(a, "x", 1, 2, 0), PROTO_OK);
	ck_assert_ptr_null(sem_grant_lookup(tb, r2.token));
	ck_assert_int_eq(rt(a, r2.token, 0), PROTO_E_NOT_HELD);
	/* r1's part on x has 1 left (its ring: x then y, or y then x). */
	g = sem_grant_lookup(tb, r1.token);
	ck_assert_ptr_nonnull(g);
	sem_grant_info(g, &gi);
	if (gi.sem != lk("x"))
		sem_grant_info(sem_grant_next(g), &gi);
	ck_assert_ptr_eq(gi.sem, lk("x"));
	ck_assert_uint_eq(gi.weight, 1);
	check2();
	ck_assert_int_eq(rt(a, r1.token, 0), PROTO_OK);
	ck_assert_uint_eq(held_on(a, "x") + held_on(a, "y"), 0);
	ck_assert_ptr_null(lk("x"));
	ck_assert_int_eq(rt(a, r1.token, 0), PROTO_E_NOT_HELD);
	check2();
}
END_TEST

/*
 * sem_check_progress notices a queue out of arrival order and a request
 * that could be granted but waits.
 */
START_TEST(test_progress_detects)
{
	struct sem_owner	*a = own(1), *b = own(2), *c = own(3);
	struct sem		*x;
	char			 why[256];

	is_granted(am(a, 1, "x=1", FOREVER));
	is_queued(am(b, 1, "x", FOREVER), 1);
	is_queued(am(c, 1, "x", FOREVER), 2);
	x = lk("x");
	/* b, the head, now seems to have come after c. */
	sem_tamper(x, NULL, SEM_TAMPER_HEAD_SEQ, 1000);
	ck_assert_int_eq(sem_check_progress(tb, 0, why, sizeof why), -1);
	ck_assert_ptr_nonnull(strstr(why, "arrival order"));
	sem_tamper(x, NULL, SEM_TAMPER_HEAD_SEQ, -1000);
	sem_tamper(x, NULL, SEM_TAMPER_CAPACITY, 1);
	ck_assert_int_eq(sem_check_progress(tb, 0, why, sizeof why), -1);
	ck_assert_ptr_nonnull(strstr(why, "can be granted"));
	sem_tamper(x, NULL, SEM_TAMPER_CAPACITY, -1);
	check2();
}
END_TEST

/* ---- rates ---- */

/*
 * Rate 10/s, burst 1: grants at exactly 0, 100, 200, ... ms; the engine
 * asks to be woken at those instants and at no other; the head waits
 * for the rate although capacity is free.
 */
START_TEST(test_rate_exact_times)
{
	struct sem_owner	*o[6];
	uint64_t		 dl, i;

	for (i = 0; i < 6; i++)
		o[i] = own((uint32_t)i + 1);
	is_granted(am(o[0], 1, "r=10@10", FOREVER));
	for (i = 1; i < 6; i++)
		is_queued(am(o[i], 1, "r", FOREVER), (uint32_t)i);
	check2();
	for (i = 1; i < 6; i++) {
		ck_assert_int_eq(sem_next_deadline(tb, &dl), 1);
		ck_assert_uint_eq(dl, 100 * i);
		ck_assert_uint_eq(tick(dl - 1), 0);
		ck_assert_uint_eq(tick(dl), 1);
		ev_is(i - 1, 'G', o[i], 1);
		ck_assert_uint_eq(evs[i - 1].at, 100 * i);
	}
	ck_assert_uint_eq(sem_used(lk("r")), 6);
}
END_TEST

/*
 * Burst 5 at 50/s: five grants at once after an idle spell, then one
 * every 20 ms; after a pause long enough the burst is back.
 */
START_TEST(test_rate_burst)
{
	struct sem_owner	*o = own(1);
	uint64_t		 i, dl;

	for (i = 0; i < 5; i++)
		is_granted(am(o, i, "b=0@50/5", FOREVER));
	for (i = 5; i < 8; i++)
		is_queued(am(o, i, "b", FOREVER), (uint32_t)i - 4);
	ck_assert_int_eq(sem_next_deadline(tb, &dl), 1);
	ck_assert_uint_eq(dl, 20);
	ck_assert_uint_eq(tick(20), 1);
	ck_assert_uint_eq(tick(39), 0);
	ck_assert_uint_eq(tick(40), 1);
	ck_assert_uint_eq(tick(60), 1);
	ck_assert_uint_eq(sem_used(lk("b")), 8);
	/* TAT is 160: at 160 everything is paid back: 5 at once again. */
	clock_ms = 160;
	for (i = 100; i < 105; i++)
		is_granted(am(o, i, "b", FOREVER));
	ck_assert_int_eq(am(o, 105, "b", TRY).status, SEM_ACQ_BUSY);
}
END_TEST

/*
 * No drift: at 3/s (a third of a second is no whole number of ms) the
 * grants fall on the first millisecond at or after k/3 s, for ever; and
 * a wake-up a millisecond late (the timer fired late) does not push the
 * next grants back.
 */
START_TEST(test_rate_no_drift)
{
	struct sem_owner	*a = own(1);
	uint64_t		 i, dl, due;

	is_granted(am(a, 0, "d=0@3", FOREVER));
	for (i = 1; i <= 30; i++)
		is_queued(am(a, i, "d", FOREVER), (uint32_t)i);
	for (i = 1; i <= 30; i++) {
		due = (i * 1000 + 2) / 3;
		ck_assert_int_eq(sem_next_deadline(tb, &dl), 1);
		ck_assert_uint_eq(dl, due);
		ck_assert_uint_eq(tick(dl), 1);
	}
	/* 10/s; the grant due at 100 is decided at 101. */
	is_granted(am(a, 100, "e=0@10", FOREVER));
	is_queued(am(a, 101, "e", FOREVER), 1);
	is_queued(am(a, 102, "e", FOREVER), 2);
	ck_assert_uint_eq(tick(clock_ms + 101), 1);
	ck_assert_int_eq(sem_next_deadline(tb, &dl), 1);
	ck_assert_uint_eq(dl, clock_ms + 99);
}
END_TEST

/* 0.5 grants per second: one every 2000 ms exactly. */
START_TEST(test_rate_fraction)
{
	struct sem_owner	*o = own(1);
	uint64_t		 i, dl;

	is_granted(am(o, 1, "h=0@0.5", FOREVER));
	for (i = 2; i < 5; i++)
		is_queued(am(o, i, "h", FOREVER), (uint32_t)i - 1);
	for (i = 1; i < 4; i++) {
		ck_assert_int_eq(sem_next_deadline(tb, &dl), 1);
		ck_assert_uint_eq(dl, 2000 * i);
		ck_assert_uint_eq(tick(dl - 1), 0);
		ck_assert_uint_eq(tick(dl), 1);
	}
}
END_TEST

/*
 * Strict FIFO under a rate: a head held back by the rate blocks those
 * behind it; when the head withdraws, the next one becomes head and is
 * granted at the same instant; a head held back by capacity is woken by
 * a release, not by the clock.
 */
START_TEST(test_rate_fifo)
{
	struct sem_owner	*a = own(1), *b = own(2), *c = own(3);
	uint64_t		 dl;

	is_granted(am(a, 1, "f=2@4", FOREVER));
	is_queued(am(b, 1, "f", FOREVER), 1);
	is_queued(am(c, 1, "f", FOREVER), 2);
	ck_assert_int_eq(sem_withdraw(b, 1, 10), PROTO_OK);
	ck_assert_uint_eq(fl(), 0);
	ck_assert_int_eq(sem_next_deadline(tb, &dl), 1);
	ck_assert_uint_eq(dl, 250);
	ck_assert_uint_eq(tick(250), 1);
	ev_is(0, 'G', c, 1);
	/* Full now: the next waits for a release, then for the rate. */
	is_queued(am(b, 2, "f", FOREVER), 1);
	ck_assert_uint_eq(tick(1000), 0);
	ck_assert_int_eq(sem_release(a, "f", 1, 1, 1000), PROTO_OK);
	ck_assert_uint_eq(fl(), 1);
	ev_is(1, 'G', b, 2);
}
END_TEST

/*
 * RATE_MISMATCH for a different rate or burst (also against a semaphore
 * without a rate); joining without declaring a rate is fine; a rate
 * out of range is BAD_REQUEST; capacity 0 without rate is TOO_HEAVY.
 */
START_TEST(test_rate_mismatch)
{
	struct sem_owner	*a = own(1);
	struct sem_acq_result	 r;

	is_granted(am(a, 1, "m=3@10/5", FOREVER));
	r = am(a, 2, "m=3@20/5", FOREVER);
	is_error(r, PROTO_E_RATE_MISMATCH, 0);
	ck_assert(r.rate == 10.0);
	ck_assert_uint_eq(r.burst, 5);
	is_error(am(a, 2, "m@10", FOREVER), PROTO_E_RATE_MISMATCH, 0);
	is_granted(am(a, 2, "m@10/5", FOREVER));
	is_granted(am(a, 3, "m", FOREVER));
	is_granted(am(a, 4, "n=1", FOREVER));
	r = am(a, 5, "n@1", FOREVER);
	is_error(r, PROTO_E_RATE_MISMATCH, 0);
	ck_assert(r.rate == 0);
	is_error(am(a, 5, "k=1@0", FOREVER), PROTO_E_BAD_REQUEST, 0);
	is_error(am(a, 5, "k=1@-1", FOREVER), PROTO_E_BAD_REQUEST, 0);
	is_error(am(a, 5, "k=0", FOREVER), PROTO_E_TOO_HEAVY, 0);
	is_error(am(a, 5, "k@nan", FOREVER), PROTO_E_BAD_REQUEST, 0);
	/* No capacity and a rate: rate only. */
	is_granted(am(a, 5, "k@1000*7", FOREVER));
	ck_assert_uint_eq(sem_capacity(lk("k")), 0);
	check2();
}
END_TEST

/*
 * A rated semaphore outlives its last user until its rate debt is paid,
 * so going idle gives no extra burst; then it is forgotten at exactly
 * that instant.
 */
START_TEST(test_rate_idle_kept)
{
	struct sem_owner	*a = own(1);
	struct sem_acq_result	 r;
	uint64_t		 dl;

	r = am(a, 1, "i=1@2", FOREVER);
	is_granted(r);
	ck_assert_int_eq(rt(a, r.token, 0), PROTO_OK);
	check2();
	ck_assert_ptr_nonnull(lk("i"));
	ck_assert_int_eq(am(a, 2, "i=1@2", TRY).status, SEM_ACQ_BUSY);
	ck_assert_int_eq(sem_next_deadline(tb, &dl), 1);
	ck_assert_uint_eq(dl, 500);
	ck_assert_uint_eq(tick(499), 0);
	ck_assert_ptr_nonnull(lk("i"));
	ck_assert_uint_eq(tick(500), 0);
	ck_assert_ptr_null(lk("i"));
	ck_assert_int_eq(sem_next_deadline(tb, &dl), 0);
}
END_TEST

/*
 * A multi-request over two rated pools is granted when both conform:
 * at the later of the two instants.
 */
START_TEST(test_rate_multi)
{
	struct sem_owner	*a = own(1);
	uint64_t		 dl;

	is_granted(am(a, 1, "p=0@10 q=0@4", FOREVER));
	is_queued(am(a, 2, "p q", FOREVER), 1);
	ck_assert_int_eq(sem_next_deadline(tb, &dl), 1);
	ck_assert_uint_eq(dl, 100);
	ck_assert_uint_eq(tick(100), 0);
	ck_assert_int_eq(sem_next_deadline(tb, &dl), 1);
	ck_assert_uint_eq(dl, 250);
	ck_assert_uint_eq(tick(249), 0);
	ck_assert_uint_eq(tick(250), 1);
	ev_is(0, 'G', a, 2);
}
END_TEST

/*
 * A rate-limited head with 10,000 waiters behind it: each grant costs
 * O(1) (the engine touches only the head), checked by counting that
 * 10,000 ticks grant exactly one each, in order.
 */
START_TEST(test_rate_many_waiters)
{
	enum { N = 10000 };
	struct sem_owner	*a = own(1);
	uint64_t		 i;

	is_granted(am(a, 0, "w=0@1000", FOREVER));
	for (i = 1; i <= N; i++)
		ck_assert_int_eq(am(a, i, "w", FOREVER).status,
		    SEM_ACQ_QUEUED);
	for (i = 1; i <= N; i++) {
		clock_ms = i;
		sem_expire(tb, i);
		ck_assert_uint_eq(sem_flush(tb), 1);
		ck_assert_uint_eq(evs[0].id, i);
		nev = 0;
	}
	check2();
}
END_TEST

/* ---- the property test ---- */

static uint64_t
rnd2(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (*s);
}

/*
 * No deadlock, by random search: owners make random requests over a few
 * names (one to four of them, random weights, some names with rates),
 * with random timeouts, withdrawals, releases by name and by token,
 * disconnects and time passing.  After every step the invariants hold
 * and no request that could be granted waits (the oldest waiter never
 * waits on another waiter).  At the end, with every holder gone and time
 * passing, every waiter is granted: nothing is stuck.
 */
START_TEST(test_property_no_deadlock)
{
	enum { NOWN = 8, STEPS = 20000 };
	static const char *const names[] = { "a", "b", "c", "d", "e" };
	static const uint32_t caps[] = { 1, 2, 3, 4, 2 };
	static const char *const rates[] = { "", "", "@20/2", "", "@5" };
	struct sem_owner	*o[NOWN];
	struct sem_grant_info	 gi;
	struct sem		*sx;
	struct sem_acq_result	 r;
	char			 spec[256], one[32];
	uint64_t		 st = 0x9e3779b97f4a7c15ULL ^ (uint64_t)_i;
	uint64_t		 id = 1, step, k, left, lowid[NOWN];
	size_t			 i, j, n, used, ngrant = 0;
	uint32_t		 pick;
	int64_t			 tmo;

	for (i = 0; i < NOWN; i++) {
		o[i] = own((uint32_t)i + 1);
		lowid[i] = 1;
	}
	for (step = 0; step < STEPS; step++) {
		i = rnd2(&st) % NOWN;
		switch (rnd2(&st) % 11) {
		case 0: case 1: case 2: case 3:
			n = 1 + rnd2(&st) % 4;
			spec[0] = '\0';
			used = 0;
			for (j = 0; j < n; j++) {
				pick = (uint32_t)(rnd2(&st) % 5);
				if (used & (1U << pick))
					continue;
				used |= 1U << pick;
				snprintf(one, sizeof one, "%s=%u*%u%s ",
				    names[pick], caps[pick], 1 + (uint32_t)
				    (rnd2(&st) % caps[pick]), rates[pick]);
				strncat(spec, one, sizeof spec - strlen(spec) -
				    1);
			}
			k = rnd2(&st) % 4;
			tmo = k == 0 ? FOREVER : k == 1 ? TRY :
			    (int64_t)(1 + rnd2(&st) % 500);
			r = am(o[i], id++, spec, tmo);
			/* Only after a resize: another capacity now. */
			ck_assert(r.status != SEM_ACQ_ERROR ||
			    r.code == PROTO_E_CAPACITY_MISMATCH ||
			    r.code == PROTO_E_TOO_HEAVY);
			break;
		case 4:
			/*
			 * Withdraw its oldest pending request: ids are
			 * handed out in order, and one below lowid[i] is
			 * not pending for o[i], nor ever will be.
			 */
			while (lowid[i] < id && sem_withdraw(o[i], lowid[i],
			    clock_ms) == PROTO_E_NOT_PENDING)
				lowid[i]++;
			break;
		case 5:
			if (first_grant(o[i], &gi) != NULL)
				ck_assert_int_eq(rt(o[i], gi.token, clock_ms),
				    PROTO_OK);
			break;
		case 6:
			if (first_grant(o[i], &gi) != NULL)
				ck_assert_int_eq(sem_release(o[i],
				    sem_name(gi.sem), sem_name_len(gi.sem), 1,
				    clock_ms), PROTO_OK);
			break;
		case 7:
			if (rnd2(&st) % 4 == 0) {
				sem_owner_drop(o[i], clock_ms);
				o[i] = own(100 + (uint32_t)step);
			}
			break;
		case 8:
			/*
			 * An administrator: drain or undrain, or resize
			 * (a waiter heavier than the new capacity is
			 * refused; declared capacities come back at the
			 * end).
			 */
			pick = (uint32_t)(rnd2(&st) % 5);
			if ((sx = lk(names[pick])) == NULL)
				break;
			if (rnd2(&st) % 2 == 0)
				sem_drain(tb, sx, !sem_is_drained(sx),
				    clock_ms);
			else if (sem_capacity(sx) != 0)
				sem_resize(tb, sx, 1 + (uint32_t)(rnd2(&st) %
				    4), clock_ms);
			break;
		default:
			clock_ms += rnd2(&st) % 120;
			sem_expire(tb, clock_ms);
			break;
		}
		ngrant += fl();
		nev = 0;
	}
	ck_assert_uint_gt(ngrant, STEPS / 20);

	/* Drain: holders go, time passes; every waiter must be served. */
	for (j = 0; j < 5; j++) {
		if ((sx = lk(names[j])) == NULL)
			continue;
		if (sem_is_drained(sx))
			sem_drain(tb, sx, 0, clock_ms);
		if ((sx = lk(names[j])) != NULL && sem_capacity(sx) != 0 &&
		    sem_capacity(sx) != caps[j])
			sem_resize(tb, sx, caps[j], clock_ms);
		fl();
		nev = 0;
	}
	for (k = 0; k < 100000; k++) {
		left = 0;
		for (i = 0; i < NOWN; i++) {
			/* As the daemon does: deliver after each request. */
			while (first_grant(o[i], &gi) != NULL) {
				(void)rt(o[i], gi.token, clock_ms);
				fl();
				nev = 0;
			}
			left += sem_limit_count(o[i], SEM_LIMIT_PENDING);
		}
		if (left == 0)
			break;
		clock_ms += 50;
		sem_expire(tb, clock_ms);
		fl();
		nev = 0;
	}
	for (i = 0; i < NOWN; i++)
		ck_assert_uint_eq(sem_limit_count(o[i], SEM_LIMIT_PENDING),
		    0);
	for (i = 0; i < NOWN; i++)
		sem_owner_drop(o[i], clock_ms);
	clock_ms += 1000000;
	sem_expire(tb, clock_ms);
	fl();
	ck_assert_uint_eq(sem_count(tb), 0);
}
END_TEST

Suite *
sem2_suite(void)
{
	Suite	*s = suite_create("sem2");
	TCase	*tc;

	tc = tcase_create("multi");
	tcase_add_checked_fixture(tc, setup2, teardown2);
	tcase_add_test(tc, test_multi_all_or_none);
	tcase_add_test(tc, test_multi_xy_yx);
	tcase_add_test(tc, test_multi_heavy_not_starved);
	tcase_add_test(tc, test_multi_leave_wakes);
	tcase_add_test(tc, test_multi_errors);
	tcase_add_test(tc, test_multi_release_token);
	tcase_add_test(tc, test_progress_detects);
	suite_add_tcase(s, tc);

	tc = tcase_create("rate");
	tcase_add_checked_fixture(tc, setup2, teardown2);
	tcase_add_test(tc, test_rate_exact_times);
	tcase_add_test(tc, test_rate_burst);
	tcase_add_test(tc, test_rate_fraction);
	tcase_add_test(tc, test_rate_no_drift);
	tcase_add_test(tc, test_rate_fifo);
	tcase_add_test(tc, test_rate_mismatch);
	tcase_add_test(tc, test_rate_idle_kept);
	tcase_add_test(tc, test_rate_multi);
	tcase_add_test(tc, test_rate_many_waiters);
	suite_add_tcase(s, tc);

	tc = tcase_create("property");
	tcase_set_tags(tc, "scale");
	tcase_add_checked_fixture(tc, setup2, teardown2);
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_property_no_deadlock, 0, 4);
	suite_add_tcase(s, tc);

	return (s);
}
