/*
 * grant-bench.c -- what tokens and the restart records cost on the hot
 * path, measured inside one process with the engine the daemon links
 * (no sockets, no scheduler noise):
 *
 *	grant-bench [-n PAIRS] [-r ROUNDS]
 *
 * Each round times PAIRS acquire+release pairs (capacity 64, nobody
 * waits) on a table without hooks (tokens are serials, no record), then
 * on a table with the state file's hooks (a Speck64/128 token and a
 * record in a mapped file per grant, cleared at release), taking turns;
 * it prints the median nanoseconds per pair of each and the difference.
 * Compiled against an older engine (no state.h), only the first figure
 * exists: see BENCHMARKS.md for the one-off comparison with v1.
 */

#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sem.h"
#ifndef GRANT_BENCH_V1
#include "state.h"
#endif

static uint64_t
now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

/* Time n pairs on table t; returns ns per pair. */
static double
run(struct sem_table *t, long n)
{
	struct sem_owner	*o = sem_owner_new(t, NULL, 1, 1000);
	struct sem_acq_result	 r;
	uint64_t		 t0;
	long			 i;

	t0 = now_ns();
	for (i = 0; i < n; i++) {
		if (sem_acquire(o, &(struct sem_request){ .id = (uint64_t)i,
		    .name = "bench", .name_len = 5, .has_capacity = 1,
		    .capacity = 64, .weight = 1, .timeout_ms = -1 }, 0,
		    &r) == -1 || r.status != SEM_ACQ_GRANTED) {
			fprintf(stderr, "grant-bench: not granted\n");
			exit(1);
		}
		if (sem_release(o, "bench", 5, 1, 0) != PROTO_OK) {
			fprintf(stderr, "grant-bench: not released\n");
			exit(1);
		}
	}
	t0 = now_ns() - t0;
	sem_owner_drop(o, 0);
	return ((double)t0 / (double)n);
}

static int
cmp(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return (x < y ? -1 : x > y);
}

int
main(int argc, char **argv)
{
	long			 n = 1000000;
	int			 rounds = 9, i, ch;
	double			 plain[64], rec[64];
	struct sem_table	*t;
#ifndef GRANT_BENCH_V1
	struct sem_callbacks	 cb;
	struct state		*st;
	char			 dir[] = "/tmp/grant-bench.XXXXXX", path[64];
	char			 cause[256];
#endif

	while ((ch = getopt(argc, argv, "n:r:")) != -1) {
		switch (ch) {
		case 'n':
			n = atol(optarg);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: grant-bench [-n pairs] "
			    "[-r rounds]\n");
			return (64);
		}
	}
	if (n < 1 || rounds < 1 || rounds > 64)
		return (64);
#ifndef GRANT_BENCH_V1
	if (mkdtemp(dir) == NULL)
		return (1);
	snprintf(path, sizeof path, "%s/semd.state", dir);
	if ((st = state_open(path, "/bench", cause, sizeof cause)) == NULL) {
		fprintf(stderr, "grant-bench: %s\n", cause);
		return (1);
	}
	memset(&cb, 0, sizeof cb);
	cb.grant_new = state_grant_new;
	cb.grant_weight = state_grant_weight;
	cb.grant_end = state_grant_end;
#endif
	for (i = 0; i < rounds; i++) {
		t = sem_table_new(NULL, NULL, NULL);
		plain[i] = run(t, n);
		sem_table_free(t);
#ifndef GRANT_BENCH_V1
		t = sem_table_new(&cb, st, NULL);
		rec[i] = run(t, n);
		sem_table_free(t);
#else
		rec[i] = 0;
#endif
	}
	qsort(plain, (size_t)rounds, sizeof plain[0], cmp);
	qsort(rec, (size_t)rounds, sizeof rec[0], cmp);
	printf("acquire+release pairs in the engine, %ld per round, median of "
	    "%d rounds\n", n, rounds);
	printf("  no hooks (token = serial, no record)   %7.1f ns/pair\n",
	    plain[rounds / 2]);
#ifndef GRANT_BENCH_V1
	printf("  state hooks (Speck token, record)      %7.1f ns/pair\n",
	    rec[rounds / 2]);
	printf("  difference                             %+7.1f ns/pair\n",
	    rec[rounds / 2] - plain[rounds / 2]);
	state_close(st);
	unlink(path);
	rmdir(dir);
#endif
	return (0);
}
