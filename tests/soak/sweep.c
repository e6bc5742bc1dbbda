/*
 * sweep.c -- the independent check of the bound, from the clients' own
 * event log (see soak.h for its format and why it is conservative).
 *
 * Sorted by time, each G adds its weight to its semaphore and each R
 * takes it away; the sum must never exceed the capacity.  A client logs
 * G after the daemon granted and R before the daemon released, so each
 * logged interval lies inside the real one: two logged intervals that
 * overlap really overlapped, and a sum above the capacity in the log is
 * one in the daemon.  (Overlaps the log cannot show are missed, never
 * invented.)  At equal timestamps releases are counted first, which can
 * only hide an overlap, not make one up.
 *
 * Then every grant must have exactly one release, of the same semaphore
 * and weight, logged no earlier: anything else means a client logged
 * wrongly, and the sweep could not be trusted.
 */

#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soak.h"

#define SWEEP_REPORT	10	/* violations printed in full */

/* One logged event, kept small: long runs log millions. */
struct sweep_ev {
	int64_t		 ns;
	uint64_t	 tag;		/* FNV-1a of the tag */
	uint32_t	 weight;
	uint8_t		 sem;		/* soak_sems index; soak_nsems: FIFO */
	char		 type;		/* 'G' or 'R' */
};

/* FNV-1a, 64 bits. */
static uint64_t
sweep_hash(const char *s)
{
	uint64_t	h = 14695981039346656037ULL;

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return (h);
}

/* Order by time, releases before grants at the same time. */
static int
sweep_by_time(const void *a, const void *b)
{
	const struct sweep_ev	*x = a, *y = b;

	if (x->ns != y->ns)
		return (x->ns < y->ns ? -1 : 1);
	if (x->type != y->type)
		return (x->type == 'R' ? -1 : 1);
	return (0);
}

/* Order by tag, then grant first, then time. */
static int
sweep_by_tag(const void *a, const void *b)
{
	const struct sweep_ev	*x = a, *y = b;

	if (x->tag != y->tag)
		return (x->tag < y->tag ? -1 : 1);
	if (x->type != y->type)
		return (x->type == 'G' ? -1 : 1);
	if (x->ns != y->ns)
		return (x->ns < y->ns ? -1 : 1);
	return (0);
}

/* The index of a semaphore name, or -1. */
static int
sweep_sem(const char *name)
{
	int	i;

	for (i = 0; i < soak_nsems; i++) {
		if (strcmp(soak_sems[i].name, name) == 0)
			return (i);
	}
	if (strcmp(soak_fifo_sem.name, name) == 0)
		return (soak_nsems);
	return (-1);
}

/* The capacity of a semaphore index. */
static uint32_t
sweep_capacity(int sem)
{
	return (sem == soak_nsems ? soak_fifo_sem.capacity :
	    soak_sems[sem].capacity);
}

/* The name of a semaphore index. */
static const char *
sweep_name(int sem)
{
	return (sem == soak_nsems ? soak_fifo_sem.name : soak_sems[sem].name);
}

/* Print a violation of the sweep; only the first few in full. */
static void
sweep_report(struct soak_sweep *sw, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
sweep_report(struct soak_sweep *sw, const char *fmt, ...)
{
	va_list	ap;

	if (sw->violations++ < SWEEP_REPORT) {
		va_start(ap, fmt);
		fputs("soak: VIOLATION (sweep): ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
}

/*
 * Check the event log at path: the bound at every moment, and that
 * grants and releases pair up.  Fills *sw.  Returns 0 when the log could
 * be read (look at sw->violations), -1 otherwise.
 */
int
soak_sweep(const char *path, struct soak_sweep *sw)
{
	struct sweep_ev	*ev = NULL, *p;
	FILE		*f;
	char		 line[512], type, sem[256], tag[256];
	long long	 ns;
	unsigned int	 weight;
	int64_t		 sum[16];
	size_t		 n = 0, cap = 0, i, j;
	int		 s;

	memset(sw, 0, sizeof *sw);
	memset(sum, 0, sizeof sum);
	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "soak: %s: %s\n", path, strerror(errno));
		return (-1);
	}
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "%c %lld %255s %u %255s", &type, &ns, sem,
		    &weight, tag) != 5 || (type != 'G' && type != 'R') ||
		    (s = sweep_sem(sem)) == -1) {
			sweep_report(sw, "unreadable log line: %s", line);
			continue;
		}
		if (n == cap) {
			cap = cap == 0 ? 65536 : cap * 2;
			if ((p = realloc(ev, cap * sizeof *ev)) == NULL) {
				fprintf(stderr, "soak: out of memory\n");
				free(ev);
				fclose(f);
				return (-1);
			}
			ev = p;
		}
		ev[n].ns = ns;
		ev[n].tag = sweep_hash(tag);
		ev[n].weight = weight;
		ev[n].sem = (uint8_t)s;
		ev[n].type = type;
		n++;
	}
	fclose(f);
	sw->events = n;

	qsort(ev, n, sizeof *ev, sweep_by_time);
	for (i = 0; i < n; i++) {
		s = ev[i].sem;
		if (ev[i].type == 'R') {
			sum[s] -= ev[i].weight;
			if (sum[s] < 0)
				sweep_report(sw, "%s: more released than "
				    "granted at %" PRId64 " ns", sweep_name(s),
				    ev[i].ns);
			continue;
		}
		sum[s] += ev[i].weight;
		sw->intervals++;
		if (sum[s] > (int64_t)sw->max_held[s])
			sw->max_held[s] = (uint32_t)sum[s];
		if (sum[s] > (int64_t)sweep_capacity(s))
			sweep_report(sw, "%s: %" PRId64 " held at %" PRId64
			    " ns, capacity %u", sweep_name(s), sum[s],
			    ev[i].ns, sweep_capacity(s));
	}

	qsort(ev, n, sizeof *ev, sweep_by_tag);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && ev[j].tag == ev[i].tag; j++)
			continue;
		if (j - i != 2 || ev[i].type != 'G' || ev[i + 1].type != 'R')
			sweep_report(sw, "a grant of %s has %zu events, not "
			    "one G and one R (first: %c at %" PRId64 " ns)",
			    sweep_name(ev[i].sem), j - i, ev[i].type,
			    ev[i].ns);
		else if (ev[i].sem != ev[i + 1].sem ||
		    ev[i].weight != ev[i + 1].weight ||
		    ev[i].ns > ev[i + 1].ns)
			sweep_report(sw, "the release of a grant of %s does "
			    "not match it", sweep_name(ev[i].sem));
	}
	free(ev);
	return (0);
}
