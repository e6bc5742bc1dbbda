/*
 * test_core.c -- the semantics of DESIGN.md against a real semd: FIFO
 * grants, release on disconnect, timeouts, tries, withdrawals, ownership,
 * capacity declarations, names, ids, reply order, STATUS, limits.
 *
 * Each test starts its own daemon and ends by checking that it still
 * serves (HELLO round trip) and stops cleanly (exit 0, socket removed).
 */

#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "integ.h"

#define FIFO_CLIENTS	50

/*
 * Pins: HELLO v1 is answered with version 1, a server string and the
 * daemon's pid under the request's id; HELLO v2 gets ERROR VERSION with
 * that id, and the connection stays usable.
 */
START_TEST(test_hello)
{
	struct integ_daemon	*d;
	struct tclient		*c;
	struct proto_reply	 rep;

	d = integ_start(NULL);
	c = tc_connect(d);

	tc_hello(c, 7, 1);
	tc_expect(c, PROTO_OP_HELLO, 7, &rep);
	ck_assert_uint_eq(rep.version, 1);
	ck_assert_msg(rep.server[0] != '\0', "HELLO reply without server");
	ck_assert_uint_eq(rep.pid, (uint32_t)d->tl.pid);

	tc_hello(c, 8, 2);
	tc_expect_error(c, 8, PROTO_E_VERSION);

	tc_hello(c, 9, 1);
	tc_expect_hello(c, 9);

	tc_close(c);
	integ_stop(d);
}
END_TEST

/*
 * Pins strict FIFO: with capacity 1 and one holder, 50 clients queue at
 * positions 1..50 in arrival order, and repeated releases grant them in
 * exactly that order, one at a time; the semaphore is forgotten at the end.
 */
START_TEST(test_fifo_50)
{
	struct integ_daemon	*d;
	struct tclient		*h, *w[FIFO_CLIENTS];
	int			 i;

	d = integ_start(NULL);
	h = tc_connect(d);
	tc_acquire_ok(h, 1, "fifo", 1, 1);
	for (i = 0; i < FIFO_CLIENTS; i++) {
		w[i] = tc_connect(d);
		tc_acquire_queued(w[i], 100 + i, "fifo", 1, 1, i + 1);
	}
	tc_check_status(h, "fifo", 1, 1, FIFO_CLIENTS);

	tc_release_ok(h, 2, "fifo", 1);
	for (i = 0; i < FIFO_CLIENTS; i++) {
		tc_expect_acquired(w[i], 100 + i, "fifo", 1);
		if (i + 1 < FIFO_CLIENTS)
			tc_expect_quiet_all(&w[i + 1], FIFO_CLIENTS - i - 1, 0);
		tc_check_status(h, "fifo", 1, 1, FIFO_CLIENTS - i - 1);
		tc_release_ok(w[i], 1000 + i, "fifo", 1);
	}
	tc_check_gone(h, "fifo");
	tc_expect_quiet_all(w, FIFO_CLIENTS, INTEG_QUIET_MS);

	for (i = 0; i < FIFO_CLIENTS; i++)
		tc_close(w[i]);
	tc_close(h);
	integ_stop(d);
}
END_TEST

/*
 * Pins release on disconnect: a holder that closes its connection gives
 * its slot to the head of the queue, and only to the head.
 */
START_TEST(test_holder_close_releases)
{
	struct integ_daemon	*d;
	struct tclient		*h, *a, *b;

	d = integ_start(NULL);
	h = tc_connect(d);
	a = tc_connect(d);
	b = tc_connect(d);
	tc_acquire_ok(h, 1, "hc", 1, 1);
	tc_acquire_queued(a, 2, "hc", 1, 1, 1);
	tc_acquire_queued(b, 3, "hc", 1, 1, 2);

	tc_close(h);
	tc_expect_acquired(a, 2, "hc", 1);
	tc_expect_quiet(b);
	tc_check_status(a, "hc", 1, 1, 1);

	tc_close(a);
	tc_expect_acquired(b, 3, "hc", 1);
	tc_check_status(b, "hc", 1, 1, 0);

	tc_close(b);
	integ_stop(d);
}
END_TEST

/*
 * Pins release on crash: a holder process killed with SIGKILL gives its
 * slot to the head of the queue.
 */
START_TEST(test_holder_kill9_releases)
{
	struct integ_daemon		*d;
	struct tclient			*a, *b;
	struct tchild			 ch;
	struct proto_reply		 rep;
	const struct proto_sem_status	*s;

	d = integ_start(NULL);
	child_acquire(d, &ch, "k9", 1, 1);
	child_expect(&ch, PROTO_OP_ACQUIRED);
	a = tc_connect(d);
	b = tc_connect(d);
	tc_acquire_queued(a, 2, "k9", 1, 1, 1);
	tc_acquire_queued(b, 3, "k9", 1, 1, 2);

	tc_status(a, "k9", &rep);
	s = status_find(&rep, "k9");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->nholders, 1);
	ck_assert_uint_eq(s->holders[0].pid, (uint32_t)ch.pid);
	proto_reply_free(&rep);

	child_kill(&ch);
	tc_expect_acquired(a, 2, "k9", 1);
	tc_expect_quiet(b);

	tc_status(a, "k9", &rep);
	s = status_find(&rep, "k9");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->held, 1);
	ck_assert_uint_eq(s->waiting, 1);
	ck_assert_uint_eq(s->nholders, 1);
	ck_assert_uint_eq(s->holders[0].pid, (uint32_t)getpid());
	proto_reply_free(&rep);

	tc_close(a);
	tc_expect_acquired(b, 3, "k9", 1);
	tc_close(b);
	integ_stop(d);
}
END_TEST

/*
 * Pins that a waiter that disconnects (closed socket, or a process killed
 * with SIGKILL) leaves the line: those behind it move up, a newcomer
 * queues behind the survivors, and the next release grants the survivor.
 */
START_TEST(test_waiter_disconnect_leaves_line)
{
	struct integ_daemon	*d;
	struct tclient		*h, *w2, *w3, *w4;
	struct tchild		 w1;

	d = integ_start(NULL);
	h = tc_connect(d);
	w2 = tc_connect(d);
	w3 = tc_connect(d);
	w4 = tc_connect(d);
	tc_acquire_ok(h, 1, "wl", 1, 1);
	child_acquire(d, &w1, "wl", 1, 1);
	child_expect(&w1, PROTO_OP_QUEUED);
	tc_acquire_queued(w2, 2, "wl", 1, 1, 2);
	tc_acquire_queued(w3, 3, "wl", 1, 1, 3);

	child_kill(&w1);
	tc_close(w2);
	tc_wait_status(h, "wl", 1, 1);

	tc_acquire_queued(w4, 4, "wl", 1, 1, 2);
	tc_release_ok(h, 5, "wl", 1);
	tc_expect_acquired(w3, 3, "wl", 1);
	tc_expect_quiet(w4);

	tc_release_ok(w3, 6, "wl", 1);
	tc_expect_acquired(w4, 4, "wl", 1);
	tc_release_ok(w4, 7, "wl", 1);
	tc_check_gone(h, "wl");

	tc_close(h);
	tc_close(w3);
	tc_close(w4);
	integ_stop(d);
}
END_TEST

/*
 * Pins that a heavy head that disconnects wakes the waiters behind it:
 * capacity 2, one held, the head (a process wanting 2) is killed, the
 * waiter of weight 1 behind it now fits and is granted.
 */
START_TEST(test_waiter_disconnect_head_wakes_behind)
{
	struct integ_daemon	*d;
	struct tclient		*h, *b;
	struct tchild		 a;

	d = integ_start(NULL);
	h = tc_connect(d);
	b = tc_connect(d);
	tc_acquire_ok(h, 1, "dh", 2, 1);
	child_acquire(d, &a, "dh", 2, 2);
	child_expect(&a, PROTO_OP_QUEUED);
	tc_acquire_queued(b, 2, "dh", 2, 1, 2);

	child_kill(&a);
	tc_expect_acquired(b, 2, "dh", 1);
	tc_check_status(h, "dh", 2, 2, 0);

	tc_close(h);
	tc_close(b);
	integ_stop(d);
}
END_TEST

/*
 * Pins the daemon-side timeout: an ACQUIRE with timeout_ms while the
 * semaphore is full gets QUEUED, then TIMEOUT; the waiters before and
 * after it keep their order, a newcomer queues behind them, and later
 * releases grant them in order.  The timed ACQUIRE and the one behind it
 * go in one write, so both are queued before the 300 ms can run out.
 */
START_TEST(test_daemon_timeout)
{
	struct integ_daemon		*d;
	struct tclient			*h, *a, *b, *n;
	struct proto_buf		 pb = { 0 };
	struct proto_reply		 rep;
	const struct proto_sem_status	*s;

	d = integ_start(NULL);
	h = tc_connect(d);
	a = tc_connect(d);
	b = tc_connect(d);
	n = tc_connect(d);
	tc_acquire_ok(h, 1, "to", 3, 3);
	tc_acquire_queued(a, 2, "to", 3, 1, 1);
	enc_acquire(&pb, 3, "to", 3, 2, 300);
	enc_acquire(&pb, 4, "to", 3, 3, -1);
	tc_send_raw(b, pb.data, pb.len);
	proto_buf_free(&pb);
	tc_expect_queued(b, 3, 2);
	tc_expect_queued(b, 4, 3);

	tc_expect_timeout(b, 3);
	tc_expect_quiet(a);
	tc_expect_quiet(b);

	tc_status(h, "to", &rep);
	s = status_find(&rep, "to");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->held, 3);
	ck_assert_uint_eq(s->waiting, 2);
	ck_assert_uint_eq(s->nwaiters, 2);
	ck_assert_uint_eq(s->waiters[0].weight, 1);
	ck_assert_uint_eq(s->waiters[1].weight, 3);
	proto_reply_free(&rep);

	tc_acquire_queued(n, 5, "to", 3, 1, 3);

	tc_release_ok(h, 6, "to", 3);
	tc_expect_acquired(a, 2, "to", 1);
	tc_expect_quiet(b);
	tc_release_ok(a, 7, "to", 1);
	tc_expect_acquired(b, 4, "to", 3);
	tc_expect_quiet(n);
	tc_release_ok(b, 8, "to", 3);
	tc_expect_acquired(n, 5, "to", 1);
	tc_expect_quiet(b);

	tc_close(h);
	tc_close(a);
	tc_close(b);
	tc_close(n);
	integ_stop(d);
}
END_TEST

/*
 * Pins that a head that times out without being granted wakes the
 * waiters behind it: capacity 2, one held, the head wants 2 and times
 * out, the lighter waiter behind it then fits and is granted.  Both
 * ACQUIREs go in one write so the second is queued before the first
 * expires.
 */
START_TEST(test_timeout_head_wakes_behind)
{
	struct integ_daemon	*d;
	struct tclient		*h, *a;
	struct proto_buf	 pb = { 0 };

	d = integ_start(NULL);
	h = tc_connect(d);
	a = tc_connect(d);
	tc_acquire_ok(h, 1, "th", 2, 1);
	enc_acquire(&pb, 2, "th", 2, 2, 300);
	enc_acquire(&pb, 3, "th", 2, 1, -1);
	tc_send_raw(a, pb.data, pb.len);
	proto_buf_free(&pb);
	tc_expect_queued(a, 2, 1);
	tc_expect_queued(a, 3, 2);

	tc_expect_timeout(a, 2);
	tc_expect_acquired(a, 3, "th", 1);
	tc_check_status(h, "th", 2, 2, 0);

	tc_close(h);
	tc_close(a);
	integ_stop(d);
}
END_TEST

/*
 * Pins the try (timeout_ms 0): granted at once when the queue is empty
 * and it fits; TIMEOUT at once (never QUEUED) when full; and TIMEOUT,
 * not a grant, when it would fit but a heavier head is waiting.
 */
START_TEST(test_try_does_not_jump_queue)
{
	struct integ_daemon		*d;
	struct tclient			*h, *w, *t;
	struct proto_reply		 rep;
	const struct proto_sem_status	*s;

	d = integ_start(NULL);
	h = tc_connect(d);
	w = tc_connect(d);
	t = tc_connect(d);

	tc_acquire(h, 1, "try", 2, 1, 0);
	tc_expect_acquired(h, 1, "try", 1);
	tc_acquire_queued(w, 2, "try", 2, 2, 1);

	tc_acquire(t, 3, "try", 2, 1, 0);
	tc_expect_timeout(t, 3);
	tc_expect_quiet(t);

	tc_status(h, "try", &rep);
	s = status_find(&rep, "try");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->held, 1);
	ck_assert_uint_eq(s->waiting, 1);
	ck_assert_uint_eq(s->nwaiters, 1);
	ck_assert_uint_eq(s->waiters[0].weight, 2);
	proto_reply_free(&rep);

	/* Full with an empty queue: TIMEOUT at once as well. */
	tc_acquire_ok(h, 4, "full", 1, 1);
	tc_acquire(t, 5, "full", 1, 1, 0);
	tc_expect_timeout(t, 5);
	tc_check_status(h, "full", 1, 1, 0);

	tc_release_ok(h, 6, "try", 1);
	tc_expect_acquired(w, 2, "try", 2);
	tc_expect_quiet(t);

	tc_close(h);
	tc_close(w);
	tc_close(t);
	integ_stop(d);
}
END_TEST

/*
 * Pins withdrawal before grant: TIMEOUT {id} for a queued ACQUIRE answers
 * TIMEOUT {id}; the waiter behind moves up (a newcomer is at position 2)
 * and is granted by the next release; withdrawing again, or an id that
 * never existed, is NOT_PENDING.
 */
START_TEST(test_withdraw_before_grant)
{
	struct integ_daemon	*d;
	struct tclient		*h, *a, *b, *c;

	d = integ_start(NULL);
	h = tc_connect(d);
	a = tc_connect(d);
	b = tc_connect(d);
	c = tc_connect(d);
	tc_acquire_ok(h, 1, "wd", 1, 1);
	tc_acquire_queued(a, 10, "wd", 1, 1, 1);
	tc_acquire_queued(b, 20, "wd", 1, 1, 2);

	tc_withdraw(a, 10);
	tc_expect_timeout(a, 10);
	tc_check_status(h, "wd", 1, 1, 1);
	tc_acquire_queued(c, 30, "wd", 1, 1, 2);

	tc_withdraw(a, 10);
	tc_expect_error(a, 10, PROTO_E_NOT_PENDING);
	tc_withdraw(a, 99);
	tc_expect_error(a, 99, PROTO_E_NOT_PENDING);

	tc_release_ok(h, 2, "wd", 1);
	tc_expect_acquired(b, 20, "wd", 1);
	tc_expect_quiet(a);
	tc_expect_quiet(c);
	tc_release_ok(b, 21, "wd", 1);
	tc_expect_acquired(c, 30, "wd", 1);

	tc_close(h);
	tc_close(a);
	tc_close(b);
	tc_close(c);
	integ_stop(d);
}
END_TEST

/*
 * Pins that a withdrawn heavy head wakes the waiters behind it:
 * capacity 2, one held, head wants 2 and withdraws, the waiter of
 * weight 1 behind it is granted.
 */
START_TEST(test_withdraw_head_wakes_behind)
{
	struct integ_daemon	*d;
	struct tclient		*h, *a, *b;

	d = integ_start(NULL);
	h = tc_connect(d);
	a = tc_connect(d);
	b = tc_connect(d);
	tc_acquire_ok(h, 1, "wh", 2, 1);
	tc_acquire_queued(a, 2, "wh", 2, 2, 1);
	tc_acquire_queued(b, 3, "wh", 2, 1, 2);

	tc_withdraw(a, 2);
	tc_expect_timeout(a, 2);
	tc_expect_acquired(b, 3, "wh", 1);
	tc_check_status(h, "wh", 2, 2, 0);

	tc_close(h);
	tc_close(a);
	tc_close(b);
	integ_stop(d);
}
END_TEST

/*
 * Pins withdrawal after grant: when the daemon granted before it read the
 * withdrawal, the client reads ACQUIRED first, then ERROR NOT_PENDING,
 * and it holds the slot (STATUS, then a successful RELEASE).
 */
START_TEST(test_withdraw_after_grant)
{
	struct integ_daemon		*d;
	struct tclient			*h, *a;
	struct proto_reply		 rep;
	const struct proto_sem_status	*s;

	d = integ_start(NULL);
	h = tc_connect(d);
	a = tc_connect(d);
	tc_acquire_ok(h, 1, "wg", 1, 1);
	tc_acquire_queued(a, 5, "wg", 1, 1, 1);

	/*
	 * The daemon grants a's ACQUIRE while handling h's RELEASE, before
	 * it answers RELEASED; so a's withdrawal, sent after RELEASED was
	 * read, reaches it after the grant.
	 */
	tc_release_ok(h, 2, "wg", 1);
	tc_withdraw(a, 5);
	tc_expect_acquired(a, 5, "wg", 1);
	tc_expect_error(a, 5, PROTO_E_NOT_PENDING);

	tc_status(h, "wg", &rep);
	s = status_find(&rep, "wg");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->held, 1);
	ck_assert_uint_eq(s->waiting, 0);
	ck_assert_uint_eq(s->nholders, 1);
	ck_assert_uint_eq(s->holders[0].weight, 1);
	proto_reply_free(&rep);

	tc_release(h, 3, "wg", 1);
	tc_expect_error(h, 3, PROTO_E_NOT_HELD);
	tc_release_ok(a, 6, "wg", 1);
	tc_check_gone(h, "wg");

	tc_close(h);
	tc_close(a);
	integ_stop(d);
}
END_TEST

/*
 * Pins ownership: RELEASE without holding, of more weight than held, or
 * of a slot another connection holds, is NOT_HELD and changes nothing;
 * grants of one connection on one name add up and release together.
 */
START_TEST(test_not_held)
{
	struct integ_daemon		*d;
	struct tclient			*a, *b;
	struct proto_reply		 rep;
	const struct proto_sem_status	*s;

	d = integ_start(NULL);
	a = tc_connect(d);
	b = tc_connect(d);

	tc_release(a, 1, "nh", 1);
	tc_expect_error(a, 1, PROTO_E_NOT_HELD);
	tc_check_gone(a, "nh");

	tc_acquire_ok(a, 2, "nh", 3, 1);
	tc_release(a, 3, "nh", 2);
	tc_expect_error(a, 3, PROTO_E_NOT_HELD);
	tc_check_status(a, "nh", 3, 1, 0);

	tc_release(b, 4, "nh", 1);
	tc_expect_error(b, 4, PROTO_E_NOT_HELD);
	tc_status(b, "nh", &rep);
	s = status_find(&rep, "nh");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->held, 1);
	ck_assert_uint_eq(s->nholders, 1);
	ck_assert_uint_eq(s->holders[0].weight, 1);
	proto_reply_free(&rep);

	/* b's failed release left a's hold alone: a can still release. */
	tc_acquire_ok(a, 5, "nh", 3, 1);
	tc_check_status(a, "nh", 3, 2, 0);
	tc_release_ok(a, 6, "nh", 2);
	tc_check_gone(a, "nh");
	tc_release(a, 7, "nh", 1);
	tc_expect_error(a, 7, PROTO_E_NOT_HELD);

	tc_close(a);
	tc_close(b);
	integ_stop(d);
}
END_TEST

/*
 * Pins the capacity declaration: weight above capacity is TOO_HEAVY (new
 * or existing semaphore, nothing created); an unknown name without
 * capacity is NO_CAPACITY; another capacity for a live semaphore is
 * CAPACITY_MISMATCH naming the current one, while no capacity joins it;
 * once all users are gone the semaphore is forgotten and the new
 * capacity is accepted.
 */
START_TEST(test_capacity_errors)
{
	struct integ_daemon	*d;
	struct tclient		*a, *b;
	char			 msg[PROTO_MAX_TEXT + 1];

	d = integ_start(NULL);
	a = tc_connect(d);
	b = tc_connect(d);

	tc_acquire(a, 1, "th", 2, 3, -1);
	tc_expect_error(a, 1, PROTO_E_TOO_HEAVY);
	tc_check_gone(a, "th");

	tc_acquire(a, 2, "nc", 0, 1, -1);
	tc_expect_error(a, 2, PROTO_E_NO_CAPACITY);
	tc_check_gone(a, "nc");

	tc_acquire_ok(a, 3, "cm", 7, 1);
	tc_acquire(b, 4, "cm", 9, 1, -1);
	tc_expect_error_msg(b, 4, PROTO_E_CAPACITY_MISMATCH, msg, sizeof msg);
	ck_assert_msg(strstr(msg, "7") != NULL, "CAPACITY_MISMATCH message "
	    "does not name the current capacity 7: \"%s\"", msg);
	tc_acquire(b, 5, "cm", 0, 8, -1);
	tc_expect_error(b, 5, PROTO_E_TOO_HEAVY);
	tc_acquire_ok(b, 6, "cm", 0, 2);
	tc_check_status(a, "cm", 7, 3, 0);

	tc_release_ok(a, 7, "cm", 1);
	tc_acquire(a, 8, "cm", 9, 1, -1);
	tc_expect_error(a, 8, PROTO_E_CAPACITY_MISMATCH);
	tc_release_ok(b, 9, "cm", 2);
	tc_check_gone(a, "cm");

	tc_acquire_ok(b, 10, "cm", 9, 9);
	tc_check_status(a, "cm", 9, 9, 0);

	tc_close(a);
	tc_close(b);
	integ_stop(d);
}
END_TEST

/* Send ACQUIRE {sem: name (len bytes), capacity 1} as raw msgpack. */
static void
send_acquire_name(struct tclient *c, uint64_t id, const char *name,
    size_t len)
{
	struct proto_buf	b = { 0 };

	mp_map(&b, 4);
	mp_str(&b, "op");
	mp_str(&b, "ACQUIRE");
	mp_str(&b, "id");
	mp_uint(&b, id);
	mp_str(&b, "sem");
	mp_strn(&b, name, len);
	mp_str(&b, "capacity");
	mp_uint(&b, 1);
	tc_send_body(c, b.data, b.len);
	proto_buf_free(&b);
}

/*
 * Pins names: a space, 129 bytes, the empty name, a non-ASCII byte are
 * BAD_NAME (with the request's id, connection kept); 128 bytes and every
 * allowed punctuation character are accepted.
 */
START_TEST(test_bad_name)
{
	struct integ_daemon	*d;
	struct tclient		*c;
	struct proto_buf	 b = { 0 };
	char			 name[PROTO_MAX_NAME + 2];

	d = integ_start(NULL);
	c = tc_connect(d);

	send_acquire_name(c, 1, "a b", 3);
	tc_expect_error(c, 1, PROTO_E_BAD_NAME);
	memset(name, 'n', sizeof name);
	send_acquire_name(c, 2, name, PROTO_MAX_NAME + 1);
	tc_expect_error(c, 2, PROTO_E_BAD_NAME);
	send_acquire_name(c, 3, "", 0);
	tc_expect_error(c, 3, PROTO_E_BAD_NAME);
	send_acquire_name(c, 4, "caf\xc3\xa9", 5);
	tc_expect_error(c, 4, PROTO_E_BAD_NAME);

	/* RELEASE checks the name as well. */
	mp_map(&b, 3);
	mp_str(&b, "op");
	mp_str(&b, "RELEASE");
	mp_str(&b, "id");
	mp_uint(&b, 5);
	mp_str(&b, "sem");
	mp_str(&b, "a b");
	tc_send_body(c, b.data, b.len);
	proto_buf_free(&b);
	tc_expect_error(c, 5, PROTO_E_BAD_NAME);

	tc_hello_ok(c);
	name[PROTO_MAX_NAME] = '\0';
	tc_acquire_ok(c, 6, name, 1, 1);
	tc_acquire_ok(c, 7, "Az09._-:@/+", 1, 1);
	tc_check_status(c, "Az09._-:@/+", 1, 1, 0);

	tc_close(c);
	integ_stop(d);
}
END_TEST

/*
 * Pins DUPLICATE_ID: the same id again while the first ACQUIRE is queued
 * is refused and leaves the first in place; another connection may use
 * the same id; once granted, the id may be reused.
 */
START_TEST(test_duplicate_id)
{
	struct integ_daemon	*d;
	struct tclient		*h, *a, *b;

	d = integ_start(NULL);
	h = tc_connect(d);
	a = tc_connect(d);
	b = tc_connect(d);
	tc_acquire_ok(h, 1, "dup", 1, 1);
	tc_acquire_queued(a, 5, "dup", 1, 1, 1);
	tc_acquire(a, 5, "dup", 1, 1, -1);
	tc_expect_error(a, 5, PROTO_E_DUPLICATE_ID);
	tc_acquire(a, 5, "other", 1, 1, -1);
	tc_expect_error(a, 5, PROTO_E_DUPLICATE_ID);
	tc_check_status(h, "dup", 1, 1, 1);
	tc_acquire_queued(b, 5, "dup", 1, 1, 2);

	tc_release_ok(h, 2, "dup", 1);
	tc_expect_acquired(a, 5, "dup", 1);
	tc_expect_quiet(a);
	tc_acquire_ok(a, 5, "dup2", 1, 1);

	tc_release_ok(a, 6, "dup", 1);
	tc_expect_acquired(b, 5, "dup", 1);

	tc_close(h);
	tc_close(a);
	tc_close(b);
	integ_stop(d);
}
END_TEST

/*
 * Pins reply order on one connection: a client holding the only slot and
 * also waiting for it reads RELEASED for its release before the ACQUIRED
 * that the release caused.
 */
START_TEST(test_released_before_acquired)
{
	struct integ_daemon	*d;
	struct tclient		*a;

	d = integ_start(NULL);
	a = tc_connect(d);
	tc_acquire_ok(a, 1, "ord", 1, 1);
	tc_acquire_queued(a, 2, "ord", 1, 1, 1);
	tc_release(a, 3, "ord", 1);
	tc_expect_released(a, 3, "ord", 1);
	tc_expect_acquired(a, 2, "ord", 1);
	tc_check_status(a, "ord", 1, 1, 0);

	tc_close(a);
	integ_stop(d);
}
END_TEST

/*
 * Pins STATUS: holders carry the real pid and uid of their clients (from
 * SO_PEERCRED: a forked child's pid, the test's own pid), waiters are
 * listed in queue order with their weights, STATUS without a name lists
 * every live semaphore; a heavy head keeps lighter waiters behind it.
 */
START_TEST(test_status_pids)
{
	struct integ_daemon		*d;
	struct tclient			*a, *b;
	struct tchild			 c1, c2;
	struct proto_reply		 rep;
	const struct proto_sem_status	*s;
	size_t				 i;
	int				 seen_c1 = 0, seen_me = 0;

	d = integ_start(NULL);
	a = tc_connect(d);
	b = tc_connect(d);
	child_acquire(d, &c1, "st", 2, 1);
	child_expect(&c1, PROTO_OP_ACQUIRED);
	tc_acquire_ok(a, 1, "st", 2, 1);
	child_acquire(d, &c2, "st", 2, 2);
	child_expect(&c2, PROTO_OP_QUEUED);
	tc_acquire_queued(b, 2, "st", 2, 1, 2);
	tc_acquire_ok(a, 3, "st-other", 5, 4);

	tc_status(a, "st", &rep);
	ck_assert_uint_eq(rep.nsems, 1);
	s = status_find(&rep, "st");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->capacity, 2);
	ck_assert_uint_eq(s->held, 2);
	ck_assert_uint_eq(s->waiting, 2);
	ck_assert_uint_eq(s->nholders, 2);
	for (i = 0; i < s->nholders; i++) {
		ck_assert_uint_eq(s->holders[i].uid, (uint32_t)getuid());
		ck_assert_uint_eq(s->holders[i].weight, 1);
		if (s->holders[i].pid == (uint32_t)c1.pid)
			seen_c1++;
		if (s->holders[i].pid == (uint32_t)getpid())
			seen_me++;
	}
	ck_assert_msg(seen_c1 == 1 && seen_me == 1, "holders are not the "
	    "child %d and the test %d", (int)c1.pid, (int)getpid());
	ck_assert_uint_eq(s->nwaiters, 2);
	ck_assert_uint_eq(s->waiters[0].pid, (uint32_t)c2.pid);
	ck_assert_uint_eq(s->waiters[0].uid, (uint32_t)getuid());
	ck_assert_uint_eq(s->waiters[0].weight, 2);
	ck_assert_uint_eq(s->waiters[1].pid, (uint32_t)getpid());
	ck_assert_uint_eq(s->waiters[1].uid, (uint32_t)getuid());
	ck_assert_uint_eq(s->waiters[1].weight, 1);
	proto_reply_free(&rep);

	tc_status(a, NULL, &rep);
	ck_assert_uint_eq(rep.nsems, 2);
	ck_assert_ptr_nonnull(status_find(&rep, "st"));
	s = status_find(&rep, "st-other");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->capacity, 5);
	ck_assert_uint_eq(s->held, 4);
	proto_reply_free(&rep);

	/* One slot frees, but the head needs two: b must not jump it. */
	child_kill(&c1);
	tc_wait_status(a, "st", 1, 2);
	tc_expect_quiet(b);
	tc_release_ok(a, 4, "st", 1);
	child_expect(&c2, PROTO_OP_ACQUIRED);
	tc_expect_quiet(b);

	tc_status(a, "st", &rep);
	s = status_find(&rep, "st");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->nholders, 1);
	ck_assert_uint_eq(s->holders[0].pid, (uint32_t)c2.pid);
	ck_assert_uint_eq(s->holders[0].weight, 2);
	ck_assert_uint_eq(s->nwaiters, 1);
	ck_assert_uint_eq(s->waiters[0].pid, (uint32_t)getpid());
	proto_reply_free(&rep);

	child_kill(&c2);
	tc_expect_acquired(b, 2, "st", 1);

	tc_close(a);
	tc_close(b);
	integ_stop(d);
}
END_TEST

/*
 * Pins weights and strict FIFO: capacity 5, 3 held; a waiter of 3 queues,
 * and a waiter of 1 behind it queues too although it would fit; the
 * release of 3 grants both, head first.
 */
START_TEST(test_weights_fifo)
{
	struct integ_daemon	*d;
	struct tclient		*a, *b, *c;

	d = integ_start(NULL);
	a = tc_connect(d);
	b = tc_connect(d);
	c = tc_connect(d);
	tc_acquire_ok(a, 1, "wt", 5, 3);
	tc_acquire_queued(b, 2, "wt", 5, 3, 1);
	tc_acquire_queued(c, 3, "wt", 5, 1, 2);
	tc_check_status(a, "wt", 5, 3, 2);

	tc_release_ok(a, 4, "wt", 3);
	tc_expect_acquired(b, 2, "wt", 3);
	tc_expect_acquired(c, 3, "wt", 1);
	tc_check_status(a, "wt", 5, 4, 0);

	tc_release(b, 5, "wt", 1);
	tc_expect_released(b, 5, "wt", 1);
	tc_check_status(a, "wt", 5, 3, 0);

	tc_close(a);
	tc_close(b);
	tc_close(c);
	integ_stop(d);
}
END_TEST

/*
 * Pins --max-pending: beyond N pending ACQUIREs on one connection the
 * next is ERROR LIMIT; the connection stays usable and its earlier
 * ACQUIREs keep their places; a withdrawal makes room again.
 */
START_TEST(test_max_pending)
{
	struct integ_daemon	*d;
	struct tclient		*h, *a;

	d = integ_start("--max-pending", "2", NULL);
	h = tc_connect(d);
	a = tc_connect(d);
	tc_acquire_ok(h, 1, "mp", 1, 1);
	tc_acquire_queued(a, 1, "mp", 1, 1, 1);
	tc_acquire_queued(a, 2, "mp", 1, 1, 2);
	tc_acquire(a, 3, "mp", 1, 1, -1);
	tc_expect_error(a, 3, PROTO_E_LIMIT);
	tc_hello_ok(a);
	tc_check_status(a, "mp", 1, 1, 2);

	tc_withdraw(a, 1);
	tc_expect_timeout(a, 1);
	tc_acquire_queued(a, 4, "mp", 1, 1, 2);

	tc_release_ok(h, 2, "mp", 1);
	tc_expect_acquired(a, 2, "mp", 1);
	tc_expect_quiet(a);
	tc_release_ok(a, 5, "mp", 1);
	tc_expect_acquired(a, 4, "mp", 1);

	tc_close(h);
	tc_close(a);
	integ_stop(d);
}
END_TEST

/*
 * Pins --max-sems: creating a semaphore beyond N live ones is ERROR LIMIT
 * and creates nothing; once one is forgotten there is room again.
 */
START_TEST(test_max_sems)
{
	struct integ_daemon	*d;
	struct tclient		*a;

	d = integ_start("--max-sems", "2", NULL);
	a = tc_connect(d);
	tc_acquire_ok(a, 1, "s1", 1, 1);
	tc_acquire_ok(a, 2, "s2", 1, 1);
	tc_acquire(a, 3, "s3", 1, 1, -1);
	tc_expect_error(a, 3, PROTO_E_LIMIT);
	tc_check_gone(a, "s3");
	tc_hello_ok(a);

	tc_release_ok(a, 4, "s1", 1);
	tc_acquire_ok(a, 5, "s3", 1, 1);

	tc_close(a);
	integ_stop(d);
}
END_TEST

/*
 * Pins a clean stop with live clients: SIGTERM while connections hold,
 * wait and have half a frame pending still exits 0 and removes the
 * socket (integ_stop checks both).
 */
START_TEST(test_stop_with_clients)
{
	struct integ_daemon	*d;
	struct tclient		*h, *w, *p;
	const uint8_t		 half[] = { 0x00, 0x00, 0x00, 0x20, 0x82 };

	d = integ_start(NULL);
	h = tc_connect(d);
	w = tc_connect(d);
	p = tc_connect(d);
	tc_acquire_ok(h, 1, "live", 1, 1);
	tc_acquire_queued(w, 2, "live", 1, 1, 1);
	tc_send_raw(p, half, sizeof half);
	integ_stop(d);

	tc_expect_eof(h);
	tc_expect_eof(w);
	tc_close(h);
	tc_close(w);
	tc_close(p);
}
END_TEST

/* The core semantics suite. */
Suite *
core_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("core");
	tc = tcase_create("core");
	tcase_set_timeout(tc, INTEG_TCASE_S);
	tcase_add_test(tc, test_hello);
	tcase_add_test(tc, test_fifo_50);
	tcase_add_test(tc, test_holder_close_releases);
	tcase_add_test(tc, test_holder_kill9_releases);
	tcase_add_test(tc, test_waiter_disconnect_leaves_line);
	tcase_add_test(tc, test_waiter_disconnect_head_wakes_behind);
	tcase_add_test(tc, test_daemon_timeout);
	tcase_add_test(tc, test_timeout_head_wakes_behind);
	tcase_add_test(tc, test_try_does_not_jump_queue);
	tcase_add_test(tc, test_withdraw_before_grant);
	tcase_add_test(tc, test_withdraw_head_wakes_behind);
	tcase_add_test(tc, test_withdraw_after_grant);
	tcase_add_test(tc, test_not_held);
	tcase_add_test(tc, test_capacity_errors);
	tcase_add_test(tc, test_bad_name);
	tcase_add_test(tc, test_duplicate_id);
	tcase_add_test(tc, test_released_before_acquired);
	tcase_add_test(tc, test_status_pids);
	tcase_add_test(tc, test_weights_fifo);
	tcase_add_test(tc, test_max_pending);
	tcase_add_test(tc, test_max_sems);
	tcase_add_test(tc, test_stop_with_clients);
	suite_add_tcase(s, tc);
	return (s);
}
