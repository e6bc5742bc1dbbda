/*
 * hash.h -- an intrusive chained hash table with power-of-two buckets,
 * and SipHash-1-3 to feed it.
 *
 * Elements carry their own chain pointer (a "next" field of pointer type
 * at next_off bytes into the element); the table never allocates per
 * element, so insertion cannot fail.  The table grows when it holds more
 * elements than buckets and shrinks when it holds fewer than an eighth;
 * a failed resize keeps the old buckets (slower, still correct).
 * Lookup is done by the caller: hash its key, take hash_bucket(), walk
 * the chain through its typed next field comparing keys.
 */

#ifndef SEMD_HASH_H
#define SEMD_HASH_H

#include <stddef.h>
#include <stdint.h>

/* A 128-bit SipHash key. */
struct hash_key {
	uint64_t	 k0;
	uint64_t	 k1;
};

struct hash {
	void		**buckets;
	size_t		  nbuckets;	/* a power of two */
	size_t		  count;
	size_t		  next_off;	/* offsetof(element, next field) */
	uint64_t	(*hashfn)(const void *elem, const void *arg);
	const void	 *arg;
};

/*
 * Set up an empty table whose elements link through the pointer field at
 * next_off and hash with hashfn(elem, arg).  Returns 0, or -1 with errno
 * ENOMEM.
 */
int		 hash_init(struct hash *, size_t next_off,
		     uint64_t (*hashfn)(const void *, const void *),
		     const void *arg);

/* Free the buckets (not the elements). */
void		 hash_free(struct hash *);

/* The first element of the chain where hash value hv lives, or NULL. */
void		*hash_bucket(const struct hash *, uint64_t hv);

/*
 * Insert elem, which must not be in the table.  O(1) amortized; never
 * fails.
 */
void		 hash_insert(struct hash *, void *elem);

/* Remove elem, which must be in the table.  O(1) expected. */
void		 hash_remove(struct hash *, void *elem);

/*
 * Fill key with random bits (getentropy), falling back on a mix of
 * addresses if the system has none to give.  Never fails.
 */
void		 hash_key_init(struct hash_key *);

/* SipHash-1-3 of len bytes at data under key. */
uint64_t	 hash_sip(const struct hash_key *, const void *data,
		     size_t len);

/* SipHash-1-3 of the 16 bytes formed by two 64-bit words, a then b. */
uint64_t	 hash_sip2(const struct hash_key *, uint64_t a, uint64_t b);

/*
 * A cheap keyed mix of two 64-bit words, for keys no client chooses
 * (addresses, tokens, uids): not a defence against chosen keys.
 */
uint64_t	 hash_mix2(const struct hash_key *, uint64_t a, uint64_t b);

#endif /* SEMD_HASH_H */
