/*
 * heap.c -- the deadline heap of waiters.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "heap.h"
#include "sem.h"

#define HEAP_MIN_CAP	16

/* Does a expire before b? */
static int
heap_less(const struct sem_waiter *a, const struct sem_waiter *b)
{
	if (a->deadline_ms != b->deadline_ms)
		return (a->deadline_ms < b->deadline_ms);
	return (a->seq < b->seq);
}

/* Put w at index i. */
static void
heap_set(struct heap *h, size_t i, struct sem_waiter *w)
{
	h->v[i] = w;
	w->heap_idx = i;
}

/* Move the waiter at i up while it is earlier than its parent. */
static void
heap_up(struct heap *h, size_t i)
{
	struct sem_waiter	*w = h->v[i];
	size_t			 parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (!heap_less(w, h->v[parent]))
			break;
		heap_set(h, i, h->v[parent]);
		i = parent;
	}
	heap_set(h, i, w);
}

/* Move the waiter at i down while a child is earlier. */
static void
heap_down(struct heap *h, size_t i)
{
	struct sem_waiter	*w = h->v[i];
	size_t			 child;

	for (;;) {
		child = 2 * i + 1;
		if (child >= h->len)
			break;
		if (child + 1 < h->len && heap_less(h->v[child + 1],
		    h->v[child]))
			child++;
		if (!heap_less(h->v[child], w))
			break;
		heap_set(h, i, h->v[child]);
		i = child;
	}
	heap_set(h, i, w);
}

/* Make room for one more push; -1 with errno ENOMEM. */
int
heap_reserve(struct heap *h)
{
	struct sem_waiter	**v;
	size_t			  cap;

	if (h->len < h->cap)
		return (0);
	cap = h->cap == 0 ? HEAP_MIN_CAP : h->cap * 2;
	if (cap > SIZE_MAX / sizeof *v ||
	    (v = realloc(h->v, cap * sizeof *v)) == NULL) {
		errno = ENOMEM;
		return (-1);
	}
	h->v = v;
	h->cap = cap;
	return (0);
}

/* Add w; room was reserved.  O(log n). */
void
heap_push(struct heap *h, struct sem_waiter *w)
{
	h->v[h->len++] = w;
	heap_up(h, h->len - 1);
}

/* The earliest waiter or NULL.  O(1). */
struct sem_waiter *
heap_top(const struct heap *h)
{
	return (h->len == 0 ? NULL : h->v[0]);
}

/*
 * Remove w: move the last element into its slot and sift it whichever
 * way it needs to go.  Shrink the array when it is a quarter full, so a
 * burst of waiters does not pin memory forever (a failed shrink is
 * harmless).  O(log n).
 */
void
heap_remove(struct heap *h, struct sem_waiter *w)
{
	struct sem_waiter	**v, *last;
	size_t			  i = w->heap_idx;

	w->heap_idx = SIZE_MAX;
	last = h->v[--h->len];
	if (i < h->len) {
		heap_set(h, i, last);
		if (i > 0 && heap_less(last, h->v[(i - 1) / 2]))
			heap_up(h, i);
		else
			heap_down(h, i);
	}
	if (h->cap > HEAP_MIN_CAP && h->len < h->cap / 4) {
		if ((v = realloc(h->v, (h->cap / 2) * sizeof *v)) != NULL) {
			h->v = v;
			h->cap /= 2;
		}
	}
}

/* Free the array. */
void
heap_free(struct heap *h)
{
	free(h->v);
	h->v = NULL;
	h->len = h->cap = 0;
}
