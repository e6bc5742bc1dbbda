/*
 * heap.h -- a binary min-heap of waiters ordered by deadline, ties broken
 * by arrival (seq), so that waiters with equal deadlines expire in the
 * order they came.  Each waiter records its index (heap_idx, SIZE_MAX
 * when not in the heap), which makes removal from the middle O(log n).
 */

#ifndef SEMD_HEAP_H
#define SEMD_HEAP_H

#include <stddef.h>

struct sem_waiter;

struct heap {
	struct sem_waiter	**v;
	size_t			  len;
	size_t			  cap;
};

/* Make room for one more push.  Returns 0, or -1 with errno ENOMEM. */
int			 heap_reserve(struct heap *);

/*
 * Add w (deadline_ms and seq set).  The caller must have called
 * heap_reserve since the last push, so this cannot fail.  O(log n).
 */
void			 heap_push(struct heap *, struct sem_waiter *);

/* The waiter with the earliest deadline, or NULL.  O(1). */
struct sem_waiter	*heap_top(const struct heap *);

/*
 * Remove w, which must be in the heap, and set its heap_idx to SIZE_MAX.
 * O(log n).  May shrink the array.
 */
void			 heap_remove(struct heap *, struct sem_waiter *);

/* Free the array (not the waiters). */
void			 heap_free(struct heap *);

#endif /* SEMD_HEAP_H */
