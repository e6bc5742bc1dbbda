/*
 * test_multi.c -- libsemd's requests for several semaphores at once and
 * rates, against a real semd on a temporary socket ($SEMD_BIN).
 *
 * The test the issue asks for: two processes, one taking x then y, the
 * other y then x, 1,000 rounds each with semd_acquire_many: no round may
 * end in a timeout (the v1 way, two semd_acquire calls in opposite
 * orders, deadlocks until a timeout frees it), and both semaphores are
 * exclusive throughout (checked in shared memory).
 */

#include "config.h"

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "semd.h"
#include "tl.h"

#define WAIT_MS		10000
#define ROUNDS		1000

static struct tl_daemon	 test_daemon = { .pid = -1 };
static char		 tmpdir[96];
static struct tl_guard	 guard;		/* removes tmpdir if we fail */
#define sockpath	 test_daemon.path

/* A semd on a fresh socket for each test; it dies with us. */
static void
setup(void)
{
	ck_assert_int_eq(tl_tmpdir(tmpdir, sizeof tmpdir, "semd-multi"), 0);
	ck_assert_int_eq(tl_guard_start(&guard, tmpdir, NULL), 0);
	ck_assert_int_lt(snprintf(sockpath, sizeof sockpath, "%s/semd.sock",
	    tmpdir), (int)sizeof sockpath);
	ck_assert_msg(tl_daemon_start(&test_daemon, NULL) == 0, "%s",
	    test_daemon.error);
}

static void
teardown(void)
{
	tl_daemon_stop(&test_daemon, 0);
	tl_rmtree(tmpdir);
	tl_guard_release(&guard);
}

static struct semd *
open_ok(void)
{
	struct semd_error	 err;
	struct semd		*sd;

	sd = semd_open(sockpath, "test_multi", SEMD_OPEN_NO_AUTOSTART, &err);
	ck_assert_msg(sd != NULL, "semd_open: %s", err.message);
	return (sd);
}

/* The next event of sd, waiting for it (at most WAIT_MS). */
static void
next_ev(struct semd *sd, struct semd_event *ev)
{
	struct semd_error	 err;
	int			 r;

	r = tl_semd_next(sd, ev, WAIT_MS, &err);
	ck_assert_msg(r != 0, "no event from semd");
	ck_assert_msg(r == 1, "semd_process: %s", err.message);
}

/* What the two racers share: who is inside each critical section. */
struct shared {
	volatile int	 in_x;
	volatile int	 in_y;
	volatile int	 overlap;
	volatile int	 timeouts;
	volatile int	 errors;
};

/*
 * One racer: ROUNDS times take both semaphores in the order given (with
 * a generous timeout that must never fire), check that nobody else is
 * inside, and give both back by token.
 */
static void
racer(struct shared *sh, const char *first, const char *second)
{
	struct semd_want	 wv[2];
	struct semd_error	 err;
	struct semd		*sd;
	uint64_t		 token;
	int			 i, r;

	sd = semd_open(sockpath, "racer", SEMD_OPEN_NO_AUTOSTART, &err);
	if (sd == NULL)
		_exit(2);
	memset(wv, 0, sizeof wv);
	wv[0].name = first;
	wv[0].capacity = 1;
	wv[1].name = second;
	wv[1].capacity = 1;
	for (i = 0; i < ROUNDS; i++) {
		token = 0;
		r = semd_acquire_many(sd, wv, 2, 60000, NULL, NULL, &token,
		    &err);
		if (r == SEMD_TIMEDOUT) {
			__sync_fetch_and_add(&sh->timeouts, 1);
			continue;
		}
		if (r != SEMD_OK || token == 0) {
			__sync_fetch_and_add(&sh->errors, 1);
			_exit(3);
		}
		if (__sync_fetch_and_add(&sh->in_x, 1) != 0 ||
		    __sync_fetch_and_add(&sh->in_y, 1) != 0)
			__sync_fetch_and_add(&sh->overlap, 1);
		if (i % 64 == 0)
			usleep(100);
		__sync_fetch_and_sub(&sh->in_x, 1);
		__sync_fetch_and_sub(&sh->in_y, 1);
		if (semd_release_token(sd, token, &err) != SEMD_OK) {
			__sync_fetch_and_add(&sh->errors, 1);
			_exit(4);
		}
	}
	semd_close(sd);
	_exit(0);
}

/*
 * Two processes, x then y against y then x, 1,000 rounds each: every
 * round is granted (no timeout fires, no error), never both inside.
 */
START_TEST(test_xy_yx_1000)
{
	struct shared	*sh;
	pid_t		 a, b;
	int		 st;

	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(sh, MAP_FAILED);
	memset(sh, 0, sizeof *sh);
	if ((a = fork()) == 0)
		racer(sh, "x", "y");
	if ((b = fork()) == 0)
		racer(sh, "y", "x");
	ck_assert_int_gt(a, 0);
	ck_assert_int_gt(b, 0);
	ck_assert_int_eq(waitpid(a, &st, 0), a);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "racer a: %d",
	    st);
	ck_assert_int_eq(waitpid(b, &st, 0), b);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "racer b: %d",
	    st);
	ck_assert_int_eq(sh->timeouts, 0);
	ck_assert_int_eq(sh->errors, 0);
	ck_assert_int_eq(sh->overlap, 0);
	munmap(sh, sizeof *sh);
}
END_TEST

/*
 * semd_acquire_many: one token for the grant, the holder listed in each
 * pool's status, a request that waits for one name keeps its place in
 * the other, semd_release_token gives back all; errors are refused.
 */
START_TEST(test_acquire_many)
{
	struct semd		*a = open_ok(), *b = open_ok();
	struct semd_want	 wv[2];
	struct semd_status	*st;
	struct semd_error	 err;
	struct semd_event	 ev;
	uint64_t		 token = 0, id;
	size_t			 i;

	memset(wv, 0, sizeof wv);
	wv[0].name = "db";
	wv[0].capacity = 2;
	wv[0].weight = 2;
	wv[1].name = "gpu";
	wv[1].capacity = 4;
	ck_assert_int_eq(semd_acquire_many(a, wv, 2, SEMD_FOREVER, NULL,
	    NULL, &token, &err), SEMD_OK);
	ck_assert_uint_gt(token, 0);
	ck_assert_int_eq(semd_status(b, NULL, &st, &err), SEMD_OK);
	ck_assert_uint_eq(st->nsems, 2);
	for (i = 0; i < 2; i++) {
		ck_assert_uint_eq(st->sems[i].nholders, 1);
		ck_assert_int_eq(st->sems[i].holders[0].pid, getpid());
	}
	ck_assert_uint_eq(st->sems[0].holders[0].weight, 2);
	semd_status_free(st);

	/* b waits for db and keeps its place at the head of gpu. */
	ck_assert_int_eq(semd_submit_acquire_many(b, &id, wv, 2, SEMD_FOREVER,
	    &err), 0);
	next_ev(b, &ev);
	ck_assert_int_eq(ev.type, SEMD_EV_QUEUED);
	ck_assert_int_eq(semd_release(a, "gpu", 1, &err), SEMD_OK);
	ck_assert_int_eq(semd_release_token(a, token, &err), SEMD_OK);
	ck_assert_int_eq(semd_release_token(a, token, &err), SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_NOT_HELD);
	next_ev(b, &ev);
	ck_assert_int_eq(ev.type, SEMD_EV_ACQUIRED);
	ck_assert_uint_eq(ev.id, id);
	/* Tokens are unique, not ordered (PROTOCOL.md 8.4). */
	ck_assert(ev.token != 0 && ev.token != token);
	ck_assert_str_eq(ev.name, "db");

	/* Errors. */
	wv[1].name = "db";
	ck_assert_int_eq(semd_acquire_many(a, wv, 2, SEMD_TRY, NULL, NULL,
	    NULL, &err), SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_USAGE);
	wv[1].name = "gpu";
	wv[1].capacity = 5;
	ck_assert_int_eq(semd_acquire_many(a, wv, 2, SEMD_TRY, NULL, NULL,
	    NULL, &err), SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_CAPACITY_MISMATCH);
	ck_assert_ptr_nonnull(strstr(err.message, "gpu"));
	wv[1].capacity = 4;
	ck_assert_int_eq(semd_acquire_many(a, wv, 2, SEMD_TRY, NULL, NULL,
	    NULL, &err), SEMD_TIMEDOUT);
	semd_close(a);
	semd_close(b);
}
END_TEST

/*
 * Rates through libsemd: declared with the first acquire, shown by
 * status with burst and the time until the next grant, and a different
 * rate is SEMD_E_RATE_MISMATCH; rate only (no capacity) works.
 */
START_TEST(test_rate)
{
	struct semd		*a = open_ok();
	struct semd_want	 w;
	struct semd_status	*st;
	struct semd_error	 err;
	uint64_t		 t1, t2;

	memset(&w, 0, sizeof w);
	w.name = "api";
	w.capacity = 3;
	w.rate = 0.5;
	w.burst = 1;
	ck_assert_int_eq(semd_acquire_many(a, &w, 1, SEMD_FOREVER, NULL,
	    NULL, &t1, &err), SEMD_OK);
	/* Capacity is free, but the rate allows the next in 2 s. */
	ck_assert_int_eq(semd_acquire_many(a, &w, 1, SEMD_TRY, NULL, NULL,
	    &t2, &err), SEMD_TIMEDOUT);
	ck_assert_int_eq(semd_status(a, "api", &st, &err), SEMD_OK);
	ck_assert_uint_eq(st->nsems, 1);
	ck_assert(st->sems[0].rate == 0.5);
	ck_assert_uint_eq(st->sems[0].burst, 1);
	ck_assert_uint_gt(st->sems[0].next_grant_ms, 0);
	ck_assert_uint_le(st->sems[0].next_grant_ms, 2000);
	semd_status_free(st);
	w.rate = 1;
	ck_assert_int_eq(semd_acquire_many(a, &w, 1, SEMD_TRY, NULL, NULL,
	    NULL, &err), SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_RATE_MISMATCH);
	ck_assert_ptr_nonnull(strstr(err.message, "0.5"));

	memset(&w, 0, sizeof w);
	w.name = "ronly";
	w.rate = 1000;
	w.burst = 3;
	w.weight = 50;
	ck_assert_int_eq(semd_acquire_many(a, &w, 1, SEMD_TRY, NULL, NULL,
	    NULL, &err), SEMD_OK);
	ck_assert_int_eq(semd_status(a, "ronly", &st, &err), SEMD_OK);
	ck_assert_uint_eq(st->sems[0].capacity, 0);
	ck_assert_uint_eq(st->sems[0].held, 50);
	semd_status_free(st);
	semd_close(a);
}
END_TEST

static Suite *
multi_suite(void)
{
	Suite	*s = suite_create("libsemd-multi");
	TCase	*tc;

	tc = tcase_create("multi");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_xy_yx_1000);
	tcase_add_test(tc, test_acquire_many);
	tcase_add_test(tc, test_rate);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(multi_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
