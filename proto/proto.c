/*
 * proto.c -- the parts of the wire protocol that need no msgpack: names of
 * operations, error codes and map keys, semaphore name validation, the
 * frame length prefix, and the output buffer.  Decoding is in decode.c, encoding in
 * encode.c.
 */

#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* Wire names of operations, indexed by enum proto_op. */
static const char *const proto_op_names[] = {
	[PROTO_OP_NONE] = NULL,
#define PROTO_OP_NAME(name)	[PROTO_OP_##name] = #name,
	PROTO_OPS(PROTO_OP_NAME)
#undef PROTO_OP_NAME
};
#define PROTO_NOPS (sizeof proto_op_names / sizeof proto_op_names[0])

/* Wire names of map keys, indexed by enum proto_key. */
const struct proto_key_name proto_keys[PK_COUNT] = {
#define PROTO_KEY_NAME(name, wire) \
	[PK_##name] = { wire, sizeof(wire) - 1 },
	PROTO_KEYS(PROTO_KEY_NAME)
#undef PROTO_KEY_NAME
};

/* Upper bounds of the histogram buckets, ms: 1-2-5 steps, 1 ms .. 1 h. */
const uint32_t proto_hist_bounds_ms[PROTO_HIST_BOUNDS] = {
	1, 2, 5, 10, 20, 50, 100, 200, 500,
	1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000,
	1000000, 2000000, 3600000,
};

/*
 * Return the histogram bucket of a duration: the first whose bound is at
 * least ms, or PROTO_HIST_BOUNDS above one hour.  A binary search: five
 * comparisons, no allocation.
 */
unsigned int
proto_hist_bucket(uint64_t ms)
{
	unsigned int	 lo = 0, hi = PROTO_HIST_BOUNDS, mid;

	/* The answer is in [lo, hi]: bound[hi - 1] < ms is not known. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (ms <= proto_hist_bounds_ms[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return (lo);
}

/*
 * The value at quantile q of a histogram, interpolated inside its bucket
 * (see proto.h).  O(buckets).
 */
double
proto_hist_quantile(const uint64_t *count, double q)
{
	uint64_t	 total = 0, seen = 0;
	double		 rank, lo, hi;
	unsigned int	 i;

	for (i = 0; i < PROTO_HIST_BUCKETS; i++)
		total += count[i];
	if (total == 0 || q <= 0)
		return (0);
	if (q > 1)
		q = 1;
	rank = q * (double)total;
	for (i = 0; i < PROTO_HIST_BUCKETS; i++) {
		if (count[i] != 0 && (double)(seen + count[i]) >= rank)
			break;
		seen += count[i];
	}
	if (i >= PROTO_HIST_BOUNDS)
		return (proto_hist_bounds_ms[PROTO_HIST_BOUNDS - 1]);
	lo = i == 0 ? 0 : proto_hist_bounds_ms[i - 1];
	hi = proto_hist_bounds_ms[i];
	return (lo + (hi - lo) * (rank - (double)seen) / (double)count[i]);
}

/* Wire names of error codes, indexed by enum proto_err. */
static const char *const proto_err_names[] = {
	[PROTO_OK] = "OK",
#define PROTO_ERR_NAME(name, text)	[PROTO_E_##name] = #name,
	PROTO_ERRORS(PROTO_ERR_NAME)
#undef PROTO_ERR_NAME
};
#define PROTO_NERRS (sizeof proto_err_names / sizeof proto_err_names[0])

/* Return the wire name of an operation; NULL for NONE or an unknown value. */
const char *
proto_op_name(enum proto_op op)
{
	if ((unsigned int)op >= PROTO_NOPS)
		return (NULL);
	return (proto_op_names[op]);
}

/*
 * Return the wire name of an error code ("NOT_HELD"), "OK" for PROTO_OK
 * (never sent), or NULL for a value outside the enum.
 */
const char *
proto_err_name(enum proto_err code)
{
	if ((unsigned int)code >= PROTO_NERRS)
		return (NULL);
	return (proto_err_names[code]);
}

/*
 * Map the name (len bytes, not NUL-terminated) to an operation; returns
 * PROTO_OP_NONE when it names none.  Case matters.  O(number of ops).
 */
enum proto_op
proto_op_from_name(const char *name, size_t len)
{
	size_t	 i;

	for (i = 1; i < PROTO_NOPS; i++) {
		if (strlen(proto_op_names[i]) == len &&
		    memcmp(proto_op_names[i], name, len) == 0)
			return ((enum proto_op)i);
	}
	return (PROTO_OP_NONE);
}

/*
 * Map the name (len bytes) to an error code; returns PROTO_OK when it
 * names no error (including "OK" itself, which is never a wire code).
 */
enum proto_err
proto_err_from_name(const char *name, size_t len)
{
	size_t	 i;

	for (i = 1; i < PROTO_NERRS; i++) {
		if (strlen(proto_err_names[i]) == len &&
		    memcmp(proto_err_names[i], name, len) == 0)
			return ((enum proto_err)i);
	}
	return (PROTO_OK);
}

/* Wire names of ADMIN actions, indexed by enum proto_admin. */
static const char *const proto_admin_names[] = {
	[PROTO_ADMIN_NONE] = NULL,
	[PROTO_ADMIN_RESIZE] = "resize",
	[PROTO_ADMIN_DRAIN] = "drain",
	[PROTO_ADMIN_UNDRAIN] = "undrain",
	[PROTO_ADMIN_REVOKE] = "revoke",
	[PROTO_ADMIN_RELOAD] = "reload",
	[PROTO_ADMIN_LIST] = "list",
};
#define PROTO_NADMINS (sizeof proto_admin_names / sizeof proto_admin_names[0])

/* Return the wire name of an ADMIN action, or NULL. */
const char *
proto_admin_name(enum proto_admin a)
{
	if ((unsigned int)a >= PROTO_NADMINS)
		return (NULL);
	return (proto_admin_names[a]);
}

/* Map an action name (len bytes) to its enum; PROTO_ADMIN_NONE if none. */
enum proto_admin
proto_admin_from_name(const char *name, size_t len)
{
	size_t	 i;

	for (i = 1; i < PROTO_NADMINS; i++) {
		if (strlen(proto_admin_names[i]) == len &&
		    memcmp(proto_admin_names[i], name, len) == 0)
			return ((enum proto_admin)i);
	}
	return (PROTO_ADMIN_NONE);
}

/*
 * Is name (len bytes, NULs counted) a valid semaphore name: 1 to
 * PROTO_MAX_NAME bytes, each one of A-Z a-z 0-9 . _ - : @ / +.  Returns 1
 * or 0.  Plain byte ranges, so the locale does not matter.  O(len).
 */
int
proto_name_valid(const char *name, size_t len)
{
	size_t		 i;
	unsigned char	 c;

	if (len == 0 || len > PROTO_MAX_NAME)
		return (0);
	for (i = 0; i < len; i++) {
		c = (unsigned char)name[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9'))
			continue;
		switch (c) {
		case '.':
		case '_':
		case '-':
		case ':':
		case '@':
		case '/':
		case '+':
			continue;
		}
		return (0);
	}
	return (1);
}

/* Clamp text to PROTO_MAX_TEXT at a UTF-8 boundary.  See proto.h. */
size_t
proto_text_clamp(const char *s, size_t n)
{
	if (n > PROTO_MAX_TEXT) {
		n = PROTO_MAX_TEXT;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	return (n);
}

/* The body length in a frame's 4-byte big-endian prefix.  See proto.h. */
uint32_t
proto_frame_len(const uint8_t *hdr)
{
	return ((uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | (uint32_t)hdr[3]);
}

/*
 * Look for a frame at the start of buf (avail bytes).  Returns 1 when a
 * whole frame is present, 0 when more bytes are needed, -1 when the length
 * prefix is 0 or above PROTO_MAX_FRAME.  *body_len is set as soon as the
 * four prefix bytes are there and valid, even when 0 is returned, so the
 * caller knows how much more to read.  O(1).
 */
int
proto_frame_check(const uint8_t *buf, size_t avail, uint32_t *body_len)
{
	uint32_t	 n;

	if (avail < PROTO_HDR_LEN)
		return (0);
	n = proto_frame_len(buf);
	if (n == 0 || n > PROTO_MAX_FRAME)
		return (-1);
	*body_len = n;
	if (avail - PROTO_HDR_LEN < n)
		return (0);
	return (1);
}

/* Free the memory of a buffer and reset it to empty; safe on an empty one. */
void
proto_buf_free(struct proto_buf *buf)
{
	free(buf->data);
	buf->data = NULL;
	buf->len = 0;
	buf->cap = 0;
}
