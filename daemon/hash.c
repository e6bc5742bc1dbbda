/*
 * hash.c -- intrusive chained hash table, SipHash-1-3 and a cheap mix.
 *
 * Names of semaphores come from clients, so they are hashed with a keyed
 * hash (SipHash, random key per table): a client cannot choose names that
 * pile into one chain.  Keys only the daemon makes (addresses, tokens,
 * uids) take the cheaper keyed hash_mix2.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"

#define HASH_MIN_BUCKETS	16

#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

/* Read the chain pointer of elem. */
static void *
hash_next(const struct hash *h, const void *elem)
{
	void	*next;

	memcpy(&next, (const char *)elem + h->next_off, sizeof next);
	return (next);
}

/* Write the chain pointer of elem. */
static void
hash_set_next(const struct hash *h, void *elem, void *next)
{
	memcpy((char *)elem + h->next_off, &next, sizeof next);
}

/*
 * Move every element into a new array of n buckets.  On allocation
 * failure keep the old array: chains get longer, nothing breaks.
 */
static void
hash_resize(struct hash *h, size_t n)
{
	void	**nb, *e, *next;
	size_t	  i, b;

	if ((nb = calloc(n, sizeof *nb)) == NULL)
		return;
	for (i = 0; i < h->nbuckets; i++) {
		for (e = h->buckets[i]; e != NULL; e = next) {
			next = hash_next(h, e);
			b = h->hashfn(e, h->arg) & (n - 1);
			hash_set_next(h, e, nb[b]);
			nb[b] = e;
		}
	}
	free(h->buckets);
	h->buckets = nb;
	h->nbuckets = n;
}

/*
 * Set up an empty table.  Returns 0, or -1 with errno ENOMEM.
 */
int
hash_init(struct hash *h, size_t next_off,
    uint64_t (*hashfn)(const void *, const void *), const void *arg)
{
	memset(h, 0, sizeof *h);
	if ((h->buckets = calloc(HASH_MIN_BUCKETS, sizeof *h->buckets)) ==
	    NULL) {
		errno = ENOMEM;
		return (-1);
	}
	h->nbuckets = HASH_MIN_BUCKETS;
	h->next_off = next_off;
	h->hashfn = hashfn;
	h->arg = arg;
	return (0);
}

/* Free the bucket array; the elements belong to the caller. */
void
hash_free(struct hash *h)
{
	free(h->buckets);
	h->buckets = NULL;
	h->nbuckets = 0;
	h->count = 0;
}

/* Return the head of the chain that hash value hv maps to. */
void *
hash_bucket(const struct hash *h, uint64_t hv)
{
	return (h->buckets[hv & (h->nbuckets - 1)]);
}

/*
 * Insert elem at the head of its chain, then grow when the table holds
 * more elements than buckets.  Amortized O(1).
 */
void
hash_insert(struct hash *h, void *elem)
{
	size_t	b;

	b = h->hashfn(elem, h->arg) & (h->nbuckets - 1);
	hash_set_next(h, elem, h->buckets[b]);
	h->buckets[b] = elem;
	h->count++;
	if (h->count > h->nbuckets && h->nbuckets <= SIZE_MAX / 4)
		hash_resize(h, h->nbuckets * 2);
}

/*
 * Unlink elem from its chain, then shrink when the table holds fewer than
 * an eighth as many elements as buckets.  O(1) expected.
 */
void
hash_remove(struct hash *h, void *elem)
{
	void	*e, *prev = NULL;
	size_t	 b;

	b = h->hashfn(elem, h->arg) & (h->nbuckets - 1);
	for (e = h->buckets[b]; e != NULL; e = hash_next(h, e)) {
		if (e == elem)
			break;
		prev = e;
	}
	if (e == NULL)
		return;		/* not here: a caller bug, but harmless */
	if (prev == NULL)
		h->buckets[b] = hash_next(h, e);
	else
		hash_set_next(h, prev, hash_next(h, e));
	hash_set_next(h, e, NULL);
	h->count--;
	if (h->nbuckets > HASH_MIN_BUCKETS && h->count < h->nbuckets / 8)
		hash_resize(h, h->nbuckets / 2);
}

/* Fill key with random bits, or with address bits if there are none. */
void
hash_key_init(struct hash_key *key)
{
	uint64_t	buf[2];

	if (getentropy(buf, sizeof buf) == 0) {
		key->k0 = buf[0];
		key->k1 = buf[1];
		return;
	}
	/* ASLR makes these differ between runs; good enough as a fallback. */
	key->k0 = (uint64_t)(uintptr_t)key ^ 0x9e3779b97f4a7c15ULL;
	key->k1 = (uint64_t)(uintptr_t)&hash_key_init ^ 0xc2b2ae3d27d4eb4fULL;
}

/* Load 8 bytes little-endian. */
static uint64_t
hash_load64(const unsigned char *p)
{
	return ((uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	    (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
	    (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	    (uint64_t)p[7] << 56);
}

/* SipHash-1-3 of len bytes at data under key. */
uint64_t
hash_sip(const struct hash_key *key, const void *data, size_t len)
{
	const unsigned char	*p = data;
	uint64_t		 v0, v1, v2, v3, m, last;
	size_t			 i, left;

	v0 = 0x736f6d6570736575ULL ^ key->k0;
	v1 = 0x646f72616e646f6dULL ^ key->k1;
	v2 = 0x6c7967656e657261ULL ^ key->k0;
	v3 = 0x7465646279746573ULL ^ key->k1;

	for (i = 0; i + 8 <= len; i += 8) {
		m = hash_load64(p + i);
		v3 ^= m;
		SIPROUND;
		v0 ^= m;
	}
	last = (uint64_t)len << 56;
	left = len - i;
	while (left > 0) {
		left--;
		last |= (uint64_t)p[i + left] << (8 * left);
	}
	v3 ^= last;
	SIPROUND;
	v0 ^= last;

	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return (v0 ^ v1 ^ v2 ^ v3);
}

/*
 * SipHash-1-3 of the two words a and b laid out little-endian: the same
 * value hash_sip gives for those 16 bytes, without the byte shuffling.
 */
uint64_t
hash_sip2(const struct hash_key *key, uint64_t a, uint64_t b)
{
	uint64_t	v0, v1, v2, v3, last;

	v0 = 0x736f6d6570736575ULL ^ key->k0;
	v1 = 0x646f72616e646f6dULL ^ key->k1;
	v2 = 0x6c7967656e657261ULL ^ key->k0;
	v3 = 0x7465646279746573ULL ^ key->k1;

	v3 ^= a;
	SIPROUND;
	v0 ^= a;
	v3 ^= b;
	SIPROUND;
	v0 ^= b;

	last = (uint64_t)16 << 56;
	v3 ^= last;
	SIPROUND;
	v0 ^= last;

	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return (v0 ^ v1 ^ v2 ^ v3);
}

/*
 * A keyed multiply-xorshift of the two words a and b: a dozen
 * instructions where hash_sip2 takes over a hundred.  For keys the
 * daemon makes, never a client (addresses, tokens, uids): nobody can
 * choose those to pile them into one chain, and without the random key
 * nobody can tell where they land.  Keys a client chooses (names,
 * request ids) go through SipHash.
 */
uint64_t
hash_mix2(const struct hash_key *key, uint64_t a, uint64_t b)
{
	uint64_t	x;

	x = (a ^ key->k0) * 0x9e3779b97f4a7c15ULL;
	x ^= b ^ key->k1;
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ULL;
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ULL;
	x ^= x >> 32;
	return (x);
}
