/*
 * test_stats.c -- unit tests of the figures the engine keeps per
 * semaphore (struct sem_stats, filled by sem.c), of the observations it
 * reports for the log, of the histogram buckets and quantiles, and of the
 * STATS request and reply on the wire.  No sockets, no clock.
 */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sem.h"
#include "unit.h"

/* The observations reported, in order. */
static struct sem_obs	 obs[64];
static char		 obs_sem[64][PROTO_MAX_NAME + 1];
static size_t		 nobs;
static struct sem_table	*tbl;

static void
granted_cb(struct sem_waiter *w, void *arg)
{
}

static void
expired_cb(struct sem_waiter *w, void *arg)
{
}

static void
observe_cb(const struct sem_obs *ob, void *arg)
{
	if (nobs >= 64) {		/* only the first are kept */
		nobs++;
		return;
	}
	obs[nobs] = *ob;
	memcpy(obs_sem[nobs], sem_name(ob->sem), sem_name_len(ob->sem) + 1);
	obs[nobs].sem = NULL;		/* it may be gone later */
	nobs++;
}

static const struct sem_callbacks cbs = {
	.granted = granted_cb,
	.expired = expired_cb,
	.observe = observe_cb,
};

static void
setup(void)
{
	nobs = 0;
	tbl = sem_table_new(&cbs, NULL, NULL);
	ck_assert_ptr_nonnull(tbl);
}

static void
teardown(void)
{
	sem_table_free(tbl);
	tbl = NULL;
}

static struct sem_acq_result
acq(struct sem_owner *o, uint64_t id, const char *name, uint32_t cap,
    uint32_t weight, int64_t timeout_ms, uint64_t now)
{
	struct sem_acq_result	r;

	ck_assert_int_eq(sem_acquire(o, &(struct sem_request){ .id = id,
	    .name = name, .name_len = strlen(name), .has_capacity = 1,
	    .capacity = cap, .weight = weight, .timeout_ms = timeout_ms }, now,
	    &r), 0);
	return (r);
}

static struct sem_stats
stats_of(const char *name)
{
	struct sem		*s;
	struct sem_stats	 st;

	s = sem_lookup(tbl, name, strlen(name));
	ck_assert_ptr_nonnull(s);
	sem_stats(s, &st);
	return (st);
}

static uint64_t
hist_total(const struct sem_hist *h)
{
	uint64_t	 n = 0;
	size_t		 i;

	for (i = 0; i < PROTO_HIST_BUCKETS; i++)
		n += h->count[i];
	return (n);
}

/* Observation i was kind on name with this weight. */
static void
expect_obs(size_t i, enum sem_obs_kind kind, const char *name,
    uint32_t weight)
{
	ck_assert_uint_gt(nobs, i);
	ck_assert_int_eq(obs[i].kind, kind);
	ck_assert_str_eq(obs_sem[i], name);
	ck_assert_uint_eq(obs[i].weight, weight);
}

/* The buckets are 1-2-5 steps from 1 ms to 1 h, and bucket() agrees. */
START_TEST(test_hist_buckets)
{
	unsigned int	 i;

	ck_assert_uint_eq(proto_hist_bounds_ms[0], 1);
	ck_assert_uint_eq(proto_hist_bounds_ms[PROTO_HIST_BOUNDS - 1],
	    3600000);
	for (i = 1; i < PROTO_HIST_BOUNDS; i++)
		ck_assert_uint_gt(proto_hist_bounds_ms[i],
		    proto_hist_bounds_ms[i - 1]);
	ck_assert_uint_eq(proto_hist_bucket(0), 0);
	ck_assert_uint_eq(proto_hist_bucket(1), 0);
	ck_assert_uint_eq(proto_hist_bucket(2), 1);
	ck_assert_uint_eq(proto_hist_bucket(3), 2);
	ck_assert_uint_eq(proto_hist_bucket(5), 2);
	ck_assert_uint_eq(proto_hist_bucket(6), 3);
	ck_assert_uint_eq(proto_hist_bucket(999), 9);
	ck_assert_uint_eq(proto_hist_bucket(1000), 9);
	ck_assert_uint_eq(proto_hist_bucket(3600000), PROTO_HIST_BOUNDS - 1);
	ck_assert_uint_eq(proto_hist_bucket(3600001), PROTO_HIST_BOUNDS);
	ck_assert_uint_eq(proto_hist_bucket(UINT64_MAX), PROTO_HIST_BOUNDS);
	for (i = 0; i < PROTO_HIST_BOUNDS; i++) {
		ck_assert_uint_eq(proto_hist_bucket(proto_hist_bounds_ms[i]),
		    i);
		ck_assert_uint_eq(proto_hist_bucket(
		    (uint64_t)proto_hist_bounds_ms[i] + 1), i + 1);
	}
}
END_TEST

/* Quantiles interpolate inside a bucket, as histogram_quantile() does. */
START_TEST(test_hist_quantile)
{
	uint64_t	 c[PROTO_HIST_BUCKETS];

	memset(c, 0, sizeof c);
	ck_assert(proto_hist_quantile(c, 0.5) == 0);
	/* 10 in (100, 200] ms: the median is half way, 150 ms. */
	c[proto_hist_bucket(150)] = 10;
	ck_assert(fabs(proto_hist_quantile(c, 0.5) - 150) < 1e-9);
	ck_assert(fabs(proto_hist_quantile(c, 1.0) - 200) < 1e-9);
	/* 90 more at <= 1 ms: p50 is in the first bucket, p99 up there. */
	c[0] = 90;
	ck_assert(proto_hist_quantile(c, 0.5) <= 1.0);
	ck_assert(proto_hist_quantile(c, 0.99) > 100);
	/* Above an hour answers an hour. */
	memset(c, 0, sizeof c);
	c[PROTO_HIST_BOUNDS] = 3;
	ck_assert(fabs(proto_hist_quantile(c, 0.9) - 3600000) < 1e-9);
}
END_TEST

/*
 * Every path counts: a grant at once (wait 0), a grant from the line
 * (its wait), a try refused, a deadline, a withdrawal, a release (its
 * hold time), a disconnect with a hold and a waiter; the longest line is
 * remembered; and each is observed, in order, with its durations.
 */
START_TEST(test_stats_paths)
{
	struct sem_owner		*a, *b, *c, *d;
	struct sem_stats		 st;
	struct sem_acq_result		 r;

	a = sem_owner_new(tbl, NULL, 10, 1000);
	b = sem_owner_new(tbl, NULL, 11, 1000);
	c = sem_owner_new(tbl, NULL, 12, 1001);
	d = sem_owner_new(tbl, NULL, 13, 1001);

	r = acq(a, 1, "x", 1, 1, -1, 1000);
	ck_assert_int_eq(r.status, SEM_ACQ_GRANTED);
	expect_obs(0, SEM_OBS_GRANT, "x", 1);
	ck_assert_uint_eq(obs[0].waited_ms, 0);
	ck_assert_uint_eq(sem_owner_pid(obs[0].owner), 10);

	r = acq(b, 1, "x", 1, 1, 0, 1001);		/* try: refused */
	ck_assert_int_eq(r.status, SEM_ACQ_BUSY);
	expect_obs(1, SEM_OBS_TIMEOUT, "x", 1);
	ck_assert(obs[1].try_refused);

	r = acq(b, 2, "x", 1, 1, -1, 1002);		/* waits */
	ck_assert_int_eq(r.status, SEM_ACQ_QUEUED);
	r = acq(c, 1, "x", 1, 1, 50, 1003);		/* will time out */
	ck_assert_int_eq(r.status, SEM_ACQ_QUEUED);
	r = acq(d, 1, "x", 1, 1, -1, 1004);		/* will withdraw */
	ck_assert_int_eq(r.status, SEM_ACQ_QUEUED);
	ck_assert_uint_eq(stats_of("x").max_waiting, 3);

	sem_expire(tbl, 1053);
	expect_obs(2, SEM_OBS_TIMEOUT, "x", 1);
	ck_assert_uint_eq(obs[2].waited_ms, 50);
	ck_assert(!obs[2].try_refused);
	ck_assert_int_eq(sem_withdraw(d, 1, 1060), PROTO_OK);
	expect_obs(3, SEM_OBS_WITHDRAW, "x", 1);
	ck_assert_uint_eq(obs[3].waited_ms, 56);
	ck_assert(!obs[3].disconnect);

	/* a releases after 1.5 s; b is granted after waiting 1498 ms. */
	ck_assert_int_eq(sem_release(a, "x", 1, 1, 2500), PROTO_OK);
	expect_obs(4, SEM_OBS_RELEASE, "x", 1);
	ck_assert_uint_eq(obs[4].held_ms, 1500);
	expect_obs(5, SEM_OBS_GRANT, "x", 1);
	ck_assert_uint_eq(obs[5].waited_ms, 1498);
	ck_assert_uint_eq(sem_owner_pid(obs[5].owner), 11);
	sem_flush(tbl);

	/* c waits again; b disconnects holding: both are counted. */
	r = acq(c, 2, "x", 1, 1, -1, 2600);
	ck_assert_int_eq(r.status, SEM_ACQ_QUEUED);
	r = acq(d, 2, "x", 1, 1, -1, 2600);
	ck_assert_int_eq(r.status, SEM_ACQ_QUEUED);
	sem_owner_drop(d, 2700);
	expect_obs(6, SEM_OBS_WITHDRAW, "x", 1);
	ck_assert(obs[6].disconnect);
	ck_assert_uint_eq(obs[6].waited_ms, 100);
	sem_owner_drop(b, 3500);
	expect_obs(7, SEM_OBS_DISCONNECT, "x", 1);
	ck_assert_uint_eq(obs[7].held_ms, 1000);
	expect_obs(8, SEM_OBS_GRANT, "x", 1);
	ck_assert_uint_eq(obs[8].waited_ms, 900);
	sem_flush(tbl);

	st = stats_of("x");
	ck_assert_uint_eq(st.grants, 3);
	ck_assert_uint_eq(st.timeouts, 2);
	ck_assert_uint_eq(st.withdrawals, 2);
	ck_assert_uint_eq(st.releases, 1);
	ck_assert_uint_eq(st.disconnects, 1);
	ck_assert_uint_eq(st.revokes, 0);
	ck_assert_uint_eq(st.max_waiting, 3);
	ck_assert_uint_eq(hist_total(&st.wait), 3);
	ck_assert_uint_eq(st.wait.count[0], 1);		/* 0 ms */
	ck_assert_uint_eq(st.wait.count[proto_hist_bucket(1498)], 1);
	ck_assert_uint_eq(st.wait.count[proto_hist_bucket(900)], 1);
	ck_assert_uint_eq(st.wait.sum_ms, 1498 + 900);
	ck_assert_uint_eq(hist_total(&st.hold), 2);
	ck_assert_uint_eq(st.hold.count[proto_hist_bucket(1500)], 1);
	ck_assert_uint_eq(st.hold.count[proto_hist_bucket(1000)], 1);
	ck_assert_uint_eq(st.hold.sum_ms, 2500);
	/* The average starts at the first hold and moves 1/8 towards each. */
	ck_assert_uint_eq(st.recent_hold_ms, 1500 + (1000 - 1500) / 8);
	ck_assert_uint_eq(nobs, 9);

	sem_owner_drop(a, 4000);
	sem_owner_drop(c, 4000);
	sem_flush(tbl);
	/* x was forgotten, its figures kept; a new x takes them back. */
	ck_assert_ptr_null(sem_lookup(tbl, "x", 1));
	ck_assert_ptr_nonnull(sem_retired_lookup(tbl, "x", 1));
	sem_stats(sem_retired_lookup(tbl, "x", 1), &st);
	ck_assert_uint_eq(st.grants, 3);
	ck_assert_uint_eq(sem_retired_count(tbl), 1);
	a = sem_owner_new(tbl, NULL, 20, 1000);
	r = acq(a, 1, "x", 2, 1, -1, 5000);
	ck_assert_int_eq(r.status, SEM_ACQ_GRANTED);
	ck_assert_uint_eq(stats_of("x").grants, 4);
	ck_assert_uint_eq(stats_of("x").releases, 1);
	ck_assert_uint_eq(stats_of("x").disconnects, 2);
	ck_assert_ptr_null(sem_retired_lookup(tbl, "x", 1));
	ck_assert_uint_eq(sem_retired_count(tbl), 0);
}
END_TEST

/*
 * A revoke is counted when announced, and the hold time when the grant
 * is given back; hold times are per grant, from its own grant time.
 */
START_TEST(test_stats_revoke_per_grant)
{
	struct sem_owner	*a;
	struct sem		*s;
	struct sem_stats	 st;
	struct sem_acq_result	 r;

	a = sem_owner_new(tbl, NULL, 10, 1000);
	r = acq(a, 1, "r", 5, 1, -1, 0);
	ck_assert_int_eq(r.status, SEM_ACQ_GRANTED);
	ck_assert_int_eq(acq(a, 2, "r", 5, 1, -1, 400).status,
	    SEM_ACQ_GRANTED);
	s = sem_lookup(tbl, "r", 1);
	/* The older of a's two grants. */
	sem_revoked(tbl, sem_grant_lookup(tbl, r.token), 1000);
	expect_obs(2, SEM_OBS_REVOKE, "r", 1);
	ck_assert_uint_eq(obs[2].held_ms, 1000);
	sem_stats(s, &st);
	ck_assert_uint_eq(st.revokes, 1);
	ck_assert_uint_eq(st.hold.sum_ms, 0);	/* still held */
	/* Both given back at 2000: grants of 2000 ms and 1600 ms. */
	ck_assert_int_eq(sem_release(a, "r", 1, 2, 2000), PROTO_OK);
	ck_assert_ptr_null(sem_lookup(tbl, "r", 1));
	ck_assert_uint_eq(nobs, 4);
	expect_obs(3, SEM_OBS_RELEASE, "r", 2);
	ck_assert_uint_eq(obs[3].held_ms, 1600);	/* the newest */
}
END_TEST

/*
 * The hold histogram has one count per grant given back, at its own
 * age; a partial release ends no grant.
 */
START_TEST(test_stats_hold_per_grant)
{
	struct sem_owner	*a, *b;
	struct sem		*s;
	struct sem_stats	 st;

	a = sem_owner_new(tbl, NULL, 10, 1000);
	b = sem_owner_new(tbl, NULL, 11, 1000);
	/* b keeps the semaphore alive so that its figures can be read. */
	ck_assert_int_eq(acq(b, 1, "h", 9, 1, -1, 0).status, SEM_ACQ_GRANTED);
	ck_assert_int_eq(acq(a, 1, "h", 9, 2, -1, 0).status, SEM_ACQ_GRANTED);
	ck_assert_int_eq(acq(a, 2, "h", 9, 3, -1, 100).status,
	    SEM_ACQ_GRANTED);
	s = sem_lookup(tbl, "h", 1);
	/* 1 of the newest grant (3 -> 2): no grant ends. */
	ck_assert_int_eq(sem_release(a, "h", 1, 1, 150), PROTO_OK);
	sem_stats(s, &st);
	ck_assert_uint_eq(st.hold.sum_ms, 0);
	/* 3 more: the newest (2 left, 400 ms) ends, the older goes 2 -> 1. */
	ck_assert_int_eq(sem_release(a, "h", 1, 3, 500), PROTO_OK);
	sem_stats(s, &st);
	ck_assert_uint_eq(st.hold.sum_ms, 400);
	ck_assert_uint_eq(st.hold.count[proto_hist_bucket(400)], 1);
	/* The disconnect ends the first grant, 900 ms old. */
	sem_owner_drop(a, 900);
	sem_stats(s, &st);
	ck_assert_uint_eq(st.hold.sum_ms, 1300);
	ck_assert_uint_eq(st.hold.count[proto_hist_bucket(900)], 1);
	ck_assert_uint_eq(st.releases, 2);
	ck_assert_uint_eq(st.disconnects, 1);
	ck_assert_uint_eq(st.recent_hold_ms, 400 + (900 - 400) / 8);
}
END_TEST

/*
 * Forgotten semaphores keep their figures, at most SEM_MAX_RETIRED of
 * them, the oldest dropped first; one that never counted anything keeps
 * nothing; and they never show as live.
 */
START_TEST(test_stats_retired_bounded)
{
	struct sem_owner	*a;
	struct sem_acq_result	 r;
	char			 name[32];
	size_t			 i;
	uint64_t		 id = 1;

	a = sem_owner_new(tbl, NULL, 10, 1000);
	for (i = 0; i < SEM_MAX_RETIRED + 10; i++) {
		snprintf(name, sizeof name, "n%zu", i);
		r = acq(a, id++, name, 1, 1, -1, i);
		ck_assert_int_eq(r.status, SEM_ACQ_GRANTED);
		ck_assert_int_eq(sem_release(a, name, strlen(name), 1, i + 1),
		    PROTO_OK);
	}
	ck_assert_uint_eq(sem_count(tbl), 0);
	ck_assert_uint_eq(sem_retired_count(tbl), SEM_MAX_RETIRED);
	ck_assert_ptr_null(sem_retired_lookup(tbl, "n0", 2));
	ck_assert_ptr_null(sem_retired_lookup(tbl, "n9", 2));
	ck_assert_ptr_nonnull(sem_retired_lookup(tbl, "n10", 3));
	snprintf(name, sizeof name, "n%d", SEM_MAX_RETIRED + 9);
	ck_assert_ptr_eq(sem_retired_first(tbl),
	    sem_retired_lookup(tbl, name, strlen(name)));
	ck_assert_ptr_null(sem_lookup(tbl, name, strlen(name)));
	/* Nothing counted on it (an error is not an event): not kept. */
	ck_assert_int_eq(sem_declare(tbl, "d", 1, 2, 0, 0, 0) != NULL, 1);
	sem_undeclare(tbl, sem_lookup(tbl, "d", 1));
	ck_assert_ptr_null(sem_lookup(tbl, "d", 1));
	ck_assert_ptr_null(sem_retired_lookup(tbl, "d", 1));
	ck_assert_uint_eq(sem_retired_count(tbl), SEM_MAX_RETIRED);
}
END_TEST

/* A partial release observes the hold's age and keeps the hold. */
START_TEST(test_stats_partial_release)
{
	struct sem_owner	*a;
	struct sem_stats	 st;

	a = sem_owner_new(tbl, NULL, 10, 1000);
	ck_assert_int_eq(acq(a, 1, "y", 5, 3, -1, 0).status, SEM_ACQ_GRANTED);
	ck_assert_int_eq(sem_release(a, "y", 1, 1, 10), PROTO_OK);
	ck_assert_int_eq(sem_release(a, "y", 1, 2, 7000), PROTO_OK);
	ck_assert_ptr_null(sem_lookup(tbl, "y", 1));
	ck_assert_uint_eq(nobs, 3);
	expect_obs(1, SEM_OBS_RELEASE, "y", 1);
	ck_assert_uint_eq(obs[1].held_ms, 10);
	expect_obs(2, SEM_OBS_RELEASE, "y", 2);
	ck_assert_uint_eq(obs[2].held_ms, 7000);
	ck_assert_int_eq(acq(a, 2, "y", 5, 3, -1, 8000).status,
	    SEM_ACQ_GRANTED);
	st = stats_of("y");
	ck_assert_uint_eq(st.releases, 2);	/* the figures came back */
	ck_assert_uint_eq(st.grants, 2);
}
END_TEST

/* A STATS request round-trips, with and without a name. */
START_TEST(test_stats_request)
{
	struct proto_buf	 buf = { 0 };
	struct proto_request	 req, out;
	uint32_t		 len;

	memset(&req, 0, sizeof req);
	req.op = PROTO_OP_STATS;
	req.id = 7;
	ck_assert_int_eq(proto_encode_request(&buf, &req), 0);
	ck_assert_int_eq(proto_frame_check(buf.data, buf.len, &len), 1);
	ck_assert_int_eq(proto_decode_request(buf.data + PROTO_HDR_LEN, len,
	    &out, NULL, 0), PROTO_OK);
	ck_assert_int_eq(out.op, PROTO_OP_STATS);
	ck_assert_uint_eq(out.id, 7);
	ck_assert_int_eq(out.has_sem, 0);

	buf.len = 0;
	req.has_sem = 1;
	strcpy(req.sem, "api-x");
	req.sem_len = 5;
	ck_assert_int_eq(proto_encode_request(&buf, &req), 0);
	ck_assert_int_eq(proto_frame_check(buf.data, buf.len, &len), 1);
	ck_assert_int_eq(proto_decode_request(buf.data + PROTO_HDR_LEN, len,
	    &out, NULL, 0), PROTO_OK);
	ck_assert_int_eq(out.has_sem, 1);
	ck_assert_str_eq(out.sem, "api-x");
	ck_assert_str_eq(proto_op_name(PROTO_OP_STATS), "STATS");
	proto_buf_free(&buf);
}
END_TEST

/* Fill entry i of a STATS reply with recognisable figures. */
static void
fill_entry(struct proto_sem_stats *s, size_t i)
{
	size_t	 j;

	memset(s, 0, sizeof *s);
	snprintf(s->sem, sizeof s->sem, "sem-%zu", i);
	s->capacity = 3 + (uint32_t)i;
	s->held = 2;
	s->waiting = (uint32_t)i;
	s->grants = UINT64_MAX - i;
	s->timeouts = 5;
	s->withdrawals = 6;
	s->releases = 7;
	s->disconnects = 8;
	s->revokes = 9;
	s->max_waiting = 10;
	s->recent_hold_ms = 12345;
	for (j = 0; j < PROTO_HIST_BUCKETS; j++) {
		s->wait.count[j] = j * 1000003;
		s->hold.count[j] = (uint64_t)1 << (j + 30);
	}
	s->wait.sum_ms = 99;
	s->hold.sum_ms = UINT64_MAX;
}

/* A STATS reply round-trips every field exactly. */
START_TEST(test_stats_reply_roundtrip)
{
	struct proto_buf	 buf = { 0 };
	struct proto_reply	 rep, out;
	struct proto_sem_stats	 ent[3], want;
	uint32_t		 len;
	size_t			 i;

	for (i = 0; i < 3; i++)
		fill_entry(&ent[i], i);
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_OP_STATS;
	rep.id = 42;
	rep.stats = ent;
	rep.nstats = 3;
	rep.uptime_ms = 86400000;
	rep.connections = 17;
	rep.semaphores = 3;
	ck_assert_int_eq(proto_encode_reply(&buf, &rep), 0);
	ck_assert_int_eq(proto_frame_check(buf.data, buf.len, &len), 1);
	ck_assert_int_eq(proto_decode_reply(buf.data + PROTO_HDR_LEN, len,
	    &out, NULL, 0), PROTO_OK);
	ck_assert_int_eq(out.op, PROTO_OP_STATS);
	ck_assert_uint_eq(out.id, 42);
	ck_assert_uint_eq(out.uptime_ms, 86400000);
	ck_assert_uint_eq(out.connections, 17);
	ck_assert_uint_eq(out.semaphores, 3);
	ck_assert_int_eq(out.truncated, 0);
	ck_assert_uint_eq(out.nstats, 3);
	for (i = 0; i < 3; i++) {
		fill_entry(&want, i);
		ck_assert_mem_eq(&out.stats[i], &want, sizeof want);
	}
	proto_reply_free(&out);
	proto_reply_free(&out);		/* twice is fine */
	proto_buf_free(&buf);
}
END_TEST

/*
 * A STATS reply listing more than a frame holds keeps the first entries
 * that fit, says truncated, and stays within PROTO_MAX_FRAME.
 */
START_TEST(test_stats_reply_truncated)
{
	struct proto_buf	 buf = { 0 };
	struct proto_reply	 rep, out;
	struct proto_sem_stats	*ent;
	uint32_t		 len;
	size_t			 i, n = 1000;

	ent = calloc(n, sizeof *ent);
	ck_assert_ptr_nonnull(ent);
	for (i = 0; i < n; i++)
		fill_entry(&ent[i], i);
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_OP_STATS;
	rep.id = 1;
	rep.stats = ent;
	rep.nstats = n;
	rep.semaphores = (uint32_t)n;
	ck_assert_int_eq(proto_encode_reply(&buf, &rep), 0);
	ck_assert_int_eq(proto_frame_check(buf.data, buf.len, &len), 1);
	ck_assert_uint_le(len, PROTO_MAX_FRAME);
	ck_assert_int_eq(proto_decode_reply(buf.data + PROTO_HDR_LEN, len,
	    &out, NULL, 0), PROTO_OK);
	ck_assert_int_eq(out.truncated, 1);
	ck_assert_uint_gt(out.nstats, 10);
	ck_assert_uint_lt(out.nstats, n);
	ck_assert_uint_eq(out.semaphores, n);
	for (i = 0; i < out.nstats; i++)
		ck_assert_mem_eq(&out.stats[i], &ent[i], sizeof ent[i]);
	proto_reply_free(&out);
	proto_buf_free(&buf);
	free(ent);
}
END_TEST

/* A reply with other buckets, or a short histogram, is refused. */
START_TEST(test_stats_reply_bad)
{
	struct proto_buf	 buf = { 0 };
	struct proto_reply	 rep, out;
	struct proto_sem_stats	 ent;
	uint32_t		 len;
	size_t			 i;
	uint8_t			*p;
	char			 err[256];

	fill_entry(&ent, 0);
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_OP_STATS;
	rep.stats = &ent;
	rep.nstats = 1;
	ck_assert_int_eq(proto_encode_reply(&buf, &rep), 0);
	ck_assert_int_eq(proto_frame_check(buf.data, buf.len, &len), 1);
	/* Change the bound 2000 (cd 07 d0) to 3000 (cd 0b b8). */
	p = NULL;
	for (i = PROTO_HDR_LEN; i + 2 < buf.len; i++) {
		if (buf.data[i] == 0xcd && buf.data[i + 1] == 0x07 &&
		    buf.data[i + 2] == 0xd0) {
			p = buf.data + i;
			break;
		}
	}
	ck_assert_ptr_nonnull(p);
	p[1] = 0x0b;
	p[2] = 0xb8;
	ck_assert_int_eq(proto_decode_reply(buf.data + PROTO_HDR_LEN, len,
	    &out, err, sizeof err), PROTO_E_BAD_REQUEST);
	ck_assert_ptr_nonnull(strstr(err, "bucket_ms"));
	ck_assert_ptr_null(out.stats);
	proto_buf_free(&buf);
}
END_TEST

Suite *
stats_suite(void)
{
	Suite	*s = suite_create("stats");
	TCase	*tc = tcase_create("stats");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_hist_buckets);
	tcase_add_test(tc, test_hist_quantile);
	tcase_add_test(tc, test_stats_paths);
	tcase_add_test(tc, test_stats_partial_release);
	tcase_add_test(tc, test_stats_retired_bounded);
	tcase_add_test(tc, test_stats_revoke_per_grant);
	tcase_add_test(tc, test_stats_hold_per_grant);
	tcase_add_test(tc, test_stats_request);
	tcase_add_test(tc, test_stats_reply_roundtrip);
	tcase_add_test(tc, test_stats_reply_truncated);
	tcase_add_test(tc, test_stats_reply_bad);
	suite_add_tcase(s, tc);
	return (s);
}
