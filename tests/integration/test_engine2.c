/*
 * test_engine2.c -- several semaphores in one ACQUIRE, and rates, over the
 * wire against a real semd: order of grants, the shape of ACQUIRED and
 * RELEASED, STATUS, and the errors.  Order and state are asserted, never
 * timing (a rate test checks the order and the STATUS fields only).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "integ.h"

/* Fill entry i of req's sems. */
static void
want(struct proto_request *req, size_t i, const char *sem, uint32_t cap,
    uint32_t weight)
{
	struct proto_sem_req	*e = &req->sems[i];

	memset(e, 0, sizeof *e);
	e->sem_len = strlen(sem);
	memcpy(e->sem, sem, e->sem_len + 1);
	e->has_capacity = cap != 0;
	e->capacity = cap;
	e->weight = weight;
	if (i + 1 > req->nsems)
		req->nsems = i + 1;
}

/* Start an ACQUIRE request id with no semaphore yet. */
static void
acq_init(struct proto_request *req, uint64_t id, int64_t timeout_ms)
{
	memset(req, 0, sizeof *req);
	req->op = PROTO_OP_ACQUIRE;
	req->id = id;
	req->timeout_ms = timeout_ms;
}

/*
 * The order of the issue: c holds x, m asks for x and y, a later client
 * asks for y alone and waits behind m although y is free; m's grant
 * names both (one token); RELEASE {token} gives both back and the one
 * behind gets y.  STATUS lists m as waiter, then holder, in both pools.
 */
START_TEST(test_multi_order)
{
	struct integ_daemon		*d = integ_start(NULL);
	struct tclient			*h = tc_connect(d), *m = tc_connect(d),
					*c = tc_connect(d);
	struct proto_request		 req;
	struct proto_reply		 rep;
	const struct proto_sem_status	*st;
	uint64_t			 token;

	tc_acquire_ok(h, 1, "x", 1, 1);
	acq_init(&req, 2, -1);
	want(&req, 0, "x", 0, 1);
	want(&req, 1, "y", 2, 2);
	tc_send(m, &req);
	tc_expect_queued(m, 2, 1);
	tc_acquire_queued(c, 3, "y", 2, 1, 2);
	tc_status(h, NULL, &rep);
	st = status_find(&rep, "y");
	ck_assert_ptr_nonnull(st);
	ck_assert_uint_eq(st->held, 0);
	ck_assert_uint_eq(st->nwaiters, 2);
	ck_assert_uint_eq(st->waiters[0].weight, 2);
	proto_reply_free(&rep);

	tc_release_ok(h, 4, "x", 1);
	tc_expect(m, PROTO_OP_ACQUIRED, 2, &rep);
	ck_assert_str_eq(rep.sem, "x");
	ck_assert_uint_eq(rep.nparts, 2);
	ck_assert_str_eq(rep.parts[1].sem, "y");
	ck_assert_uint_eq(rep.parts[1].weight, 2);
	ck_assert_uint_gt(rep.token, 0);
	token = rep.token;
	tc_expect_quiet(c);
	tc_status(h, NULL, &rep);
	ck_assert_uint_eq(status_find(&rep, "x")->nholders, 1);
	ck_assert_uint_eq(status_find(&rep, "y")->nholders, 1);
	ck_assert_uint_eq(status_find(&rep, "y")->held, 2);
	proto_reply_free(&rep);

	memset(&req, 0, sizeof req);
	req.op = PROTO_OP_RELEASE;
	req.id = 5;
	req.has_token = 1;
	req.token = token + 1000;
	tc_send(m, &req);
	tc_expect_error(m, 5, PROTO_E_NOT_HELD);
	req.token = token;
	tc_send(m, &req);
	tc_expect(m, PROTO_OP_RELEASED, 5, &rep);
	ck_assert_uint_eq(rep.token, token);
	ck_assert_uint_eq(rep.nparts, 2);
	tc_expect(c, PROTO_OP_ACQUIRED, 3, &rep);
	ck_assert_uint_eq(rep.nparts, 0);
	ck_assert_str_eq(rep.sem, "y");
	/* Tokens are unique, not ordered (PROTOCOL.md 8.4). */
	ck_assert(rep.token != 0 && rep.token != token);
	tc_close(h);
	tc_close(m);
	tc_close(c);
	integ_stop(d);
}
END_TEST

/*
 * The x/y deadlock of the issue, over the wire: a holds x, b holds y; c
 * asks for x and y, d for y and x; nobody times out, and when a and b go
 * c then d are served.  A multi-request's owner that disconnects leaves
 * every queue.
 */
START_TEST(test_multi_xy_disconnect)
{
	struct integ_daemon	*d = integ_start(NULL);
	struct tclient		*a = tc_connect(d), *b = tc_connect(d),
				*c = tc_connect(d), *e = tc_connect(d),
				*f = tc_connect(d);
	struct proto_request	 req;

	tc_acquire_ok(a, 1, "x", 1, 1);
	tc_acquire_ok(b, 1, "y", 1, 1);
	acq_init(&req, 7, 60000);
	want(&req, 0, "x", 1, 1);
	want(&req, 1, "y", 1, 1);
	tc_send(c, &req);
	tc_expect_queued(c, 7, 1);
	acq_init(&req, 8, 60000);
	want(&req, 0, "y", 1, 1);
	want(&req, 1, "x", 1, 1);
	tc_send(e, &req);
	tc_expect_queued(e, 8, 2);
	tc_acquire_queued(f, 9, "y", 1, 1, 3);
	tc_close(b);
	tc_expect_quiet(c);
	tc_close(a);
	tc_expect_acquired(c, 7, "x", 1);
	tc_expect_quiet(e);
	tc_close(c);
	tc_expect_acquired(e, 8, "y", 1);
	/* e leaves holding both: f, behind it in y, is served. */
	tc_close(e);
	tc_expect_acquired(f, 9, "y", 1);
	tc_check_gone(f, "x");
	tc_close(f);
	integ_stop(d);
}
END_TEST

/*
 * Errors of a multi-request: a name twice, 17 names, sem beside sems,
 * a non-map entry: BAD_REQUEST; a capacity mismatch names the
 * semaphore; nothing is created by a refused request.
 */
START_TEST(test_multi_errors)
{
	struct integ_daemon	*d = integ_start(NULL);
	struct tclient		*a = tc_connect(d);
	struct proto_request	 req;
	char			 msg[512], name[16];
	size_t			 i;

	tc_acquire_ok(a, 1, "x", 2, 1);
	acq_init(&req, 2, -1);
	want(&req, 0, "y", 1, 1);
	want(&req, 1, "y", 1, 1);
	tc_send(a, &req);
	tc_expect_error_msg(a, 2, PROTO_E_BAD_REQUEST, msg, sizeof msg);
	ck_assert_ptr_nonnull(strstr(msg, "twice"));

	acq_init(&req, 3, -1);
	want(&req, 0, "y", 1, 1);
	want(&req, 1, "x", 3, 1);
	tc_send(a, &req);
	tc_expect_error_msg(a, 3, PROTO_E_CAPACITY_MISMATCH, msg, sizeof msg);
	ck_assert_ptr_nonnull(strstr(msg, "semaphore x has capacity 2"));
	tc_check_gone(a, "y");

	/* 17 names cannot be encoded by proto: send them raw. */
	{
		uint8_t			 body[2048];
		size_t			 n = 0;

		body[n++] = 0x83;
		body[n++] = 0xa2; memcpy(body + n, "op", 2); n += 2;
		body[n++] = 0xa7; memcpy(body + n, "ACQUIRE", 7); n += 7;
		body[n++] = 0xa2; memcpy(body + n, "id", 2); n += 2;
		body[n++] = 0x04;
		body[n++] = 0xa4; memcpy(body + n, "sems", 4); n += 4;
		body[n++] = 0xdc; body[n++] = 0; body[n++] = 17;
		for (i = 0; i < 17; i++) {
			snprintf(name, sizeof name, "n%02zu", i);
			body[n++] = 0x82;
			body[n++] = 0xa3; memcpy(body + n, "sem", 3); n += 3;
			body[n++] = 0xa3; memcpy(body + n, name, 3); n += 3;
			body[n++] = 0xa8; memcpy(body + n, "capacity", 8);
			n += 8;
			body[n++] = 0x01;
		}
		tc_send_body(a, body, n);
		tc_expect_error(a, 4, PROTO_E_BAD_REQUEST);
	}
	tc_check_gone(a, "n00");
	tc_acquire_ok(a, 5, "x", 2, 1);
	tc_close(a);
	integ_stop(d);
}
END_TEST

/*
 * Rates over the wire: the first caller declares rate and burst, STATUS
 * shows them with the time until the next grant, a different rate is
 * RATE_MISMATCH (naming both), waiters are granted in FIFO order as the
 * rate allows, and capacity 0 with a rate is rate only.
 */
START_TEST(test_rate_wire)
{
	struct integ_daemon		*d = integ_start(NULL);
	struct tclient			*a = tc_connect(d), *w[3];
	struct proto_request		 req;
	struct proto_reply		 rep;
	const struct proto_sem_status	*st;
	char				 msg[512];
	int				 i;

	acq_init(&req, 1, -1);
	req.has_sem = 1;
	strcpy(req.sem, "api");
	req.sem_len = 3;
	req.has_capacity = 1;
	req.capacity = 10;
	req.weight = 1;
	req.has_rate = 1;
	req.rate = 2;	/* 500 ms a grant: time for three to queue */
	req.burst = 2;
	tc_send(a, &req);
	tc_expect_acquired(a, 1, "api", 1);
	req.id = 2;
	tc_send(a, &req);
	tc_expect_acquired(a, 2, "api", 1);
	for (i = 0; i < 3; i++) {
		w[i] = tc_connect(d);
		tc_acquire_queued(w[i], 10 + i, "api", 10, 1, i + 1);
	}
	tc_status(a, "api", &rep);
	st = status_find(&rep, "api");
	ck_assert_ptr_nonnull(st);
	ck_assert(st->rate == 2);
	ck_assert_uint_eq(st->burst, 2);
	ck_assert_uint_le(st->next_grant_ms, 500);
	proto_reply_free(&rep);
	for (i = 0; i < 3; i++) {
		tc_expect_acquired(w[i], 10 + i, "api", 1);
		if (i < 2)
			tc_expect_quiet_all(&w[i + 1], 2 - i, 0);
	}

	req.id = 3;
	req.rate = 0.5;
	tc_send(a, &req);
	tc_expect_error_msg(a, 3, PROTO_E_RATE_MISMATCH, msg, sizeof msg);
	ck_assert_ptr_nonnull(strstr(msg, "rate 2/s burst 2"));
	ck_assert_ptr_nonnull(strstr(msg, "rate 0.5/s"));

	/* Rate only: capacity 0 needs a rate. */
	acq_init(&req, 4, -1);
	req.has_sem = 1;
	strcpy(req.sem, "ronly");
	req.sem_len = 5;
	req.has_capacity = 1;
	req.capacity = 0;
	req.weight = 100;
	tc_send(a, &req);
	tc_expect_error(a, 4, PROTO_E_BAD_REQUEST);
	req.has_rate = 1;
	req.rate = 1000;
	tc_send(a, &req);
	tc_expect_acquired(a, 4, "ronly", 100);
	tc_status(a, "ronly", &rep);
	ck_assert_uint_eq(status_find(&rep, "ronly")->capacity, 0);
	ck_assert_uint_eq(status_find(&rep, "ronly")->held, 100);
	proto_reply_free(&rep);
	for (i = 0; i < 3; i++)
		tc_close(w[i]);
	tc_close(a);
	integ_stop(d);
}
END_TEST

/* The engine v2 suite. */
Suite *
engine2_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("engine2");
	tc = tcase_create("engine2");
	tcase_set_timeout(tc, INTEG_TCASE_S);
	tcase_add_test(tc, test_multi_order);
	tcase_add_test(tc, test_multi_xy_disconnect);
	tcase_add_test(tc, test_multi_errors);
	tcase_add_test(tc, test_rate_wire);
	suite_add_tcase(s, tc);
	return (s);
}
