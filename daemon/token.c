/*
 * token.c -- Speck64/128 over grant serials; see token.h.
 *
 * The cipher is "The SIMON and SPECK Families of Lightweight Block
 * Ciphers" (Beaulieu et al., 2013), 32-bit words, rotations 8 and 3,
 * 27 rounds, checked against the paper's test vector in the unit tests.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdint.h>

#include "token.h"

#define ROR32(x, r)	(((x) >> (r)) | ((x) << (32 - (r))))
#define ROL32(x, r)	(((x) << (r)) | ((x) >> (32 - (r))))

/* Expand the key (words k0 = low 32 bits of k[0], then l0, l1, l2). */
void
token_key_init(struct token_key *key, const uint64_t k[2])
{
	uint32_t	 l[3], kk;
	int		 i;

	kk = (uint32_t)k[0];
	l[0] = (uint32_t)(k[0] >> 32);
	l[1] = (uint32_t)k[1];
	l[2] = (uint32_t)(k[1] >> 32);
	for (i = 0; i < 27; i++) {
		key->rk[i] = kk;
		l[i % 3] = (kk + ROR32(l[i % 3], 8)) ^ (uint32_t)i;
		kk = ROL32(kk, 3) ^ l[i % 3];
	}
}

/* Encrypt the block (x, y) in place. */
void
token_encrypt(const struct token_key *key, uint32_t *x, uint32_t *y)
{
	uint32_t	 a = *x, b = *y;
	int		 i;

	for (i = 0; i < 27; i++) {
		a = (ROR32(a, 8) + b) ^ key->rk[i];
		b = ROL32(b, 3) ^ a;
	}
	*x = a;
	*y = b;
}

/* Decrypt the block (x, y) in place. */
void
token_decrypt(const struct token_key *key, uint32_t *x, uint32_t *y)
{
	uint32_t	 a = *x, b = *y;
	int		 i;

	for (i = 26; i >= 0; i--) {
		b = ROR32(b ^ a, 3);
		a = ROL32((a ^ key->rk[i]) - b, 8);
	}
	*x = a;
	*y = b;
}

/* Encrypt a 64-bit value: high word x, low word y. */
static uint64_t
token_enc64(const struct token_key *key, uint64_t v)
{
	uint32_t	 x = (uint32_t)(v >> 32), y = (uint32_t)v;

	token_encrypt(key, &x, &y);
	return (((uint64_t)x << 32) | y);
}

/* Decrypt a 64-bit value: high word x, low word y. */
static uint64_t
token_dec64(const struct token_key *key, uint64_t v)
{
	uint32_t	 x = (uint32_t)(v >> 32), y = (uint32_t)v;

	token_decrypt(key, &x, &y);
	return (((uint64_t)x << 32) | y);
}

/* The token of serial: its cipher text, never 0 (see token.h). */
uint64_t
token_of(const struct token_key *key, uint64_t serial)
{
	uint64_t	 t = token_enc64(key, serial);

	return (t != 0 ? t : token_enc64(key, 0));
}

/* The serial of token: the inverse of token_of. */
uint64_t
token_serial(const struct token_key *key, uint64_t token)
{
	uint64_t	 s = token_dec64(key, token);

	return (s != 0 ? s : token_dec64(key, 0));
}
