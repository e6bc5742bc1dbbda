/*
 * token.h -- grant tokens: a keyed permutation of 64-bit serials.
 *
 * A token is Speck64/128 (the NSA's lightweight block cipher, 27 rounds)
 * of the grant's serial under a 128-bit key the daemon keeps in its state
 * file.  Because it is a permutation, distinct serials give distinct
 * tokens (unique for as long as serials are); because it is a cipher,
 * nobody without the key can name a token that the daemon will find
 * among its live grants other than by chance (one in 2^64 per guess,
 * times the number of live grants).  Pure: no I/O, no state.
 */

#ifndef SEMD_TOKEN_H
#define SEMD_TOKEN_H

#include <stdint.h>

/* An expanded key: the 27 round keys. */
struct token_key {
	uint32_t	 rk[27];
};

/* Expand a 128-bit key (k[0] low word first) into *key. */
void		 token_key_init(struct token_key *key, const uint64_t k[2]);

/*
 * The token of serial (serials start at 1).  Never 0: the one serial
 * whose cipher text is 0 gets the cipher text of serial 0 instead, which
 * no grant has.  O(27 rounds), no branch on the key.
 */
uint64_t	 token_of(const struct token_key *, uint64_t serial);

/*
 * The serial a token was made from (the inverse of token_of, including
 * its rule for 0).  Any 64-bit value decrypts to some serial: the
 * caller checks that serial against what it knows.
 */
uint64_t	 token_serial(const struct token_key *, uint64_t token);

/* The raw cipher, for the tests: encrypt or decrypt one block (x, y). */
void		 token_encrypt(const struct token_key *, uint32_t *x,
		     uint32_t *y);
void		 token_decrypt(const struct token_key *, uint32_t *x,
		     uint32_t *y);

#endif /* SEMD_TOKEN_H */
