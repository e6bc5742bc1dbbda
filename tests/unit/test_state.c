/*
 * test_state.c -- unit tests of grant tokens (daemon/token.c), the state
 * file (daemon/state.c) and the engine's adoption of an earlier daemon's
 * grants (sem_adopt, sem_grant_transfer).  Files live in a fresh
 * temporary directory per test.
 */

#include <sys/stat.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sem.h"
#include "state.h"
#include "token.h"
#include "unit.h"

static char	 dir[64];
static char	 path[128];

static void
setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/semd-state.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/semd.state", dir);
}

static void
teardown(void)
{
	unlink(path);
	rmdir(dir);
}

/* Speck64/128 gives the paper's test vector, and decrypts it back. */
START_TEST(test_speck_vector)
{
	struct token_key	 key;
	const uint64_t		 k[2] = { 0x0b0a090803020100ULL,
				     0x1b1a191813121110ULL };
	uint32_t		 x = 0x3b726574, y = 0x7475432d;

	token_key_init(&key, k);
	token_encrypt(&key, &x, &y);
	ck_assert_uint_eq(x, 0x8c6fa548);
	ck_assert_uint_eq(y, 0x454e028b);
	token_decrypt(&key, &x, &y);
	ck_assert_uint_eq(x, 0x3b726574);
	ck_assert_uint_eq(y, 0x7475432d);
}
END_TEST

/*
 * token_serial inverts token_of, tokens of distinct serials differ and
 * are never 0, and another key gives other tokens.
 */
START_TEST(test_token_permutation)
{
	struct token_key	 k1, k2;
	const uint64_t		 a[2] = { 1, 2 }, b[2] = { 1, 3 };
	uint64_t		 s, t, prev = 0;

	token_key_init(&k1, a);
	token_key_init(&k2, b);
	for (s = 1; s < 20000; s++) {
		t = token_of(&k1, s);
		ck_assert(t != 0);
		ck_assert(t != prev);
		ck_assert(token_serial(&k1, t) == s);
		ck_assert(token_of(&k2, s) != t);
		prev = t;
	}
	s = UINT64_MAX;
	ck_assert(token_serial(&k1, token_of(&k1, s)) == s);
}
END_TEST

static struct sem_table *
hooked_table(struct state *st)
{
	struct sem_callbacks	 cb;
	struct sem_table	*t;

	memset(&cb, 0, sizeof cb);
	cb.grant_new = state_grant_new;
	cb.grant_weight = state_grant_weight;
	cb.grant_end = state_grant_end;
	t = sem_table_new(&cb, st, NULL);
	ck_assert_ptr_nonnull(t);
	sem_table_set_serial(t, state_next_serial(st));
	return (t);
}

static struct sem_acq_result
acq(struct sem_owner *o, uint64_t id, const char *name, uint32_t cap,
    uint32_t weight)
{
	struct sem_acq_result	r;

	ck_assert_int_eq(sem_acquire(o, &(struct sem_request){ .id = id,
	    .name = name, .name_len = strlen(name), .has_capacity = 1,
	    .capacity = cap, .weight = weight, .timeout_ms = -1 }, 0, &r), 0);
	return (r);
}

/*
 * What a daemon records survives it: a second open finds exactly the
 * live grants (name, capacity, weight after a partial release, uid,
 * token), not the ones released, and serials go on after the first
 * daemon's.  The file is 0600, and locked while open.
 */
START_TEST(test_state_survives)
{
	struct state		*st, *st2;
	struct sem_table	*t;
	struct sem_owner	*a, *b;
	struct sem_acq_result	 r1, r2, r3;
	const struct state_old	*old;
	struct stat		 sb;
	char			 cause[256];
	size_t			 n, i;
	uint64_t		 next;

	st = state_open(path, "/x/sock", cause, sizeof cause);
	ck_assert_msg(st != NULL, "%s", cause);
	state_old(st, &n);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0600);
	ck_assert_ptr_null(state_open(path, "/x/sock", cause, sizeof cause));
	ck_assert_ptr_nonnull(strstr(cause, "in use by another semd"));

	t = hooked_table(st);
	a = sem_owner_new(t, NULL, 10, 1000);
	b = sem_owner_new(t, NULL, 11, 1001);
	r1 = acq(a, 1, "db", 3, 2);
	r2 = acq(b, 1, "db", 3, 1);
	r3 = acq(a, 2, "gpu", 1, 1);
	ck_assert_int_eq(r3.status, SEM_ACQ_GRANTED);
	ck_assert_uint_eq(state_live(st), 3);
	ck_assert_int_eq(sem_release(a, "db", 2, 1, 0), PROTO_OK);
	ck_assert_int_eq(sem_release(a, "gpu", 3, 1, 0), PROTO_OK);
	ck_assert_uint_eq(state_live(st), 2);
	next = sem_table_next_serial(t);
	/* The daemon dies: nothing is given back. */
	sem_table_free(t);
	state_close(st);

	st2 = state_open(path, "/x/sock", cause, sizeof cause);
	ck_assert_msg(st2 != NULL, "%s", cause);
	old = state_old(st2, &n);
	ck_assert_uint_eq(n, 2);
	for (i = 0; i < n; i++) {
		ck_assert_str_eq(old[i].name, "db");
		ck_assert_uint_eq(old[i].capacity, 3);
		ck_assert_uint_eq(old[i].weight, 1);
		if (old[i].token == r1.token)
			ck_assert_uint_eq(old[i].uid, 1000);
		else {
			ck_assert(old[i].token == r2.token);
			ck_assert_uint_eq(old[i].uid, 1001);
		}
		ck_assert(state_token_serial(st2, old[i].token) ==
		    old[i].serial);
	}
	ck_assert(state_next_serial(st2) >= next);
	state_close(st2);

	/* A file made for another socket is not ours: started afresh. */
	st2 = state_open(path, "/other/sock", cause, sizeof cause);
	ck_assert_msg(st2 != NULL, "%s", cause);
	state_old(st2, &n);
	ck_assert_uint_eq(n, 0);
	state_close(st2);

	/* Open to others: refused. */
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_ptr_null(state_open(path, "/x/sock", cause, sizeof cause));
	ck_assert_ptr_nonnull(strstr(cause, "mode 0600"));
}
END_TEST

/* More grants than the file first has room for: it grows, keeps all. */
START_TEST(test_state_grows)
{
	struct state		*st;
	struct sem_table	*t;
	struct sem_owner	*o;
	struct sem_acq_result	 r;
	char			 cause[256], name[32];
	size_t			 n, i;

	st = state_open(path, "/x/sock", cause, sizeof cause);
	ck_assert_msg(st != NULL, "%s", cause);
	t = hooked_table(st);
	o = sem_owner_new(t, NULL, 1, 1000);
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof name, "s%zu", i);
		r = acq(o, i, name, 1, 1);
		ck_assert_int_eq(r.status, SEM_ACQ_GRANTED);
	}
	ck_assert_uint_eq(state_live(st), 1000);
	sem_table_free(t);
	state_close(st);
	st = state_open(path, "/x/sock", cause, sizeof cause);
	ck_assert_msg(st != NULL, "%s", cause);
	state_old(st, &n);
	ck_assert_uint_eq(n, 1000);
	state_close(st);
}
END_TEST

/*
 * The engine side of a restart: adopted grants count against capacity
 * (a newcomer waits), a transfer keeps the token and gives back what is
 * not reclaimed (the waiter gets in), and dropping the placeholder owner
 * ends the rest and frees their records.
 */
START_TEST(test_adopt_transfer)
{
	struct state		*st;
	struct sem_table	*t;
	struct sem_owner	*ghost, *c, *w;
	struct sem_acq_result	 r;
	struct sem_grant	*g;
	struct sem_grant_info	 gi;
	char			 cause[256], why[256];

	st = state_open(path, "/x/sock", cause, sizeof cause);
	ck_assert_msg(st != NULL, "%s", cause);
	t = hooked_table(st);
	ghost = sem_owner_new(t, NULL, 0, UINT32_MAX);
	c = sem_owner_new(t, NULL, 5, 1000);
	w = sem_owner_new(t, NULL, 6, 1000);
	ck_assert_int_eq(sem_adopt(ghost, "db", 2, 3, 0, 0, 2, 777, 40, 0, 0),
	    0);
	ck_assert_int_eq(sem_adopt(ghost, "db", 2, 3, 0, 0, 1, 778, 41, 0, 0),
	    0);
	/* The same token with another serial, or on the same semaphore. */
	ck_assert_int_eq(sem_adopt(ghost, "db", 2, 3, 0, 0, 1, 778, 42, 0, 0),
	    -1);
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_int_eq(sem_adopt(ghost, "db", 2, 3, 0, 0, 1, 778, 41, 0, 0),
	    -1);
	ck_assert_int_eq(errno, EEXIST);
	ck_assert(sem_table_next_serial(t) == 42);
	ck_assert_uint_eq(sem_used(sem_lookup(t, "db", 2)), 3);

	r = acq(w, 1, "db", 3, 1);
	ck_assert_int_eq(r.status, SEM_ACQ_QUEUED);
	g = sem_grant_lookup(t, 777);
	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(sem_grant_transfer(g, c, 3, 0), -1);
	ck_assert_int_eq(sem_grant_transfer(g, c, 1, 0), 0);
	sem_grant_info(g, &gi);
	ck_assert_ptr_eq(gi.owner, c);
	ck_assert_uint_eq(gi.weight, 1);
	ck_assert_uint_eq(sem_flush(t), 1);	/* w got the freed slot */
	ck_assert_msg(sem_check_invariants(t, why, sizeof why) == 0, "%s",
	    why);
	/* One ACQUIRE of two semaphores: adopted as one ring, moved whole. */
	ck_assert_int_eq(sem_adopt(ghost, "m1", 2, 1, 0, 0, 1, 900, 50, 0, 0),
	    0);
	ck_assert_int_eq(sem_adopt(ghost, "m2", 2, 0, 2.0, 3, 1, 900, 50, 0,
	    0), 0);
	ck_assert(sem_rate(sem_lookup(t, "m2", 2), NULL) == 2.0);
	g = sem_grant_lookup(t, 900);
	ck_assert_ptr_nonnull(g);
	ck_assert_ptr_ne(sem_grant_next(g), g);
	ck_assert_int_eq(sem_grant_transfer(g, c, 1, 0), 0);
	sem_grant_info(g, &gi);
	ck_assert_ptr_eq(gi.owner, c);
	sem_grant_info(sem_grant_next(g), &gi);
	ck_assert_ptr_eq(gi.owner, c);
	ck_assert_msg(sem_check_invariants(t, why, sizeof why) == 0, "%s",
	    why);
	sem_owner_drop(ghost, 0);
	ck_assert_ptr_null(sem_grant_lookup(t, 778));
	ck_assert_ptr_nonnull(sem_grant_lookup(t, 777));
	ck_assert_msg(sem_check_invariants(t, why, sizeof why) == 0, "%s",
	    why);
	sem_table_free(t);
	state_close(st);
}
END_TEST

Suite *
state_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("state");
	tc = tcase_create("tokens");
	tcase_add_test(tc, test_speck_vector);
	tcase_add_test(tc, test_token_permutation);
	suite_add_tcase(s, tc);
	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_state_survives);
	tcase_add_test(tc, test_state_grows);
	tcase_add_test(tc, test_adopt_transfer);
	suite_add_tcase(s, tc);
	return (s);
}
