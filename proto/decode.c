/*
 * decode.c -- frame bodies to struct proto_request / struct proto_reply.
 *
 * msgpack bytes are read in one place, mp_item(), which reads one item
 * (a scalar whole, a container up to its header) into a msgpack_object.
 * The common case, a map of a few scalars (every request, every reply but
 * STATUS and STATS), is read by flat_unpack() in one pass onto the stack.
 * Anything else is first checked by body_walk(), which refuses malformed
 * bodies, nesting deeper than PROTO_MAX_DEPTH, trailing bytes, and
 * containers claiming more elements than the body has bytes (a 5-byte
 * body may claim 2^31 elements) without allocating anything; since it
 * has seen every container it also knows exactly how much memory their
 * elements take, so mp_build() then reads the body again into one block
 * of that size: at most 24 bytes per body byte.
 *
 * Strings in the decoded objects point into the body; nothing is copied
 * except into the fixed-size fields of the result structs.  A decoded
 * STATUS reply owns one heap block (see status_decode()).
 */

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "proto.h"

/* Where a message is being decoded, for error sentences. */
struct dec {
	char		*err;
	size_t		 errlen;
	const char	*what;		/* "ACQUIRE", "reply", ... */
	long		 sem_idx;	/* STATUS: sems[sem_idx], or -1 */
	const char	*list;		/* STATUS: "holders", "waiters", NULL */
	long		 party_idx;	/* STATUS: index in list */
	size_t		 text;		/* STATUS: bytes of party texts */
	char		*textp;		/* STATUS: where the next text goes */
};

/*
 * The known keys of one map: first value seen, and which appeared twice
 * (bit k % 64 of dup[k / 64]: one bit per key of PROTO_KEYS, however
 * many there are).
 */
#define FIELDS_DUP_WORDS	((PK_COUNT + 63) / 64)
struct fields {
	const msgpack_object	*val[PK_COUNT];
	uint64_t		 dup[FIELDS_DUP_WORDS];
};

static enum proto_err dec_fail(struct dec *, enum proto_err, const char *,
		    ...) __attribute__((format(printf, 3, 4)));

/*
 * Write "what[ sems[i]][ list[j]]: <sentence>" into the error buffer and
 * return code.
 */
static enum proto_err
dec_fail(struct dec *d, enum proto_err code, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;
	size_t	 used;

	if (d->err == NULL || d->errlen == 0)
		return (code);
	if (d->sem_idx < 0)
		n = snprintf(d->err, d->errlen, "%s: ", d->what);
	else if (d->list == NULL)
		n = snprintf(d->err, d->errlen, "%s: sems[%ld]: ", d->what,
		    d->sem_idx);
	else
		n = snprintf(d->err, d->errlen, "%s: sems[%ld].%s[%ld]: ",
		    d->what, d->sem_idx, d->list, d->party_idx);
	used = n < 0 ? 0 : (size_t)n;
	if (used >= d->errlen)
		return (code);
	va_start(ap, fmt);
	vsnprintf(d->err + used, d->errlen - used, fmt, ap);
	va_end(ap);
	return (code);
}

/*
 * Render up to 32 bytes of untrusted text for an error sentence: printable
 * ASCII is kept, anything else becomes '?', "..." marks a cut.
 */
static void
dec_excerpt(char *dst, size_t dstlen, const char *src, size_t len)
{
	size_t	 i, n;

	n = len > 32 ? 32 : len;
	if (n > dstlen - 4)
		n = dstlen - 4;
	for (i = 0; i < n; i++) {
		if (src[i] >= 0x20 && src[i] < 0x7f)
			dst[i] = src[i];
		else
			dst[i] = '?';
	}
	if (n < len) {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	dst[i] = '\0';
}

/* Read an n-byte big-endian unsigned integer. */
static uint64_t
load_be(const uint8_t *p, size_t n)
{
	uint64_t	 v = 0;
	size_t		 i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return (v);
}

/* Is this the first byte of a msgpack str (fixstr, str8, str16, str32)? */
static int
is_str_byte(uint8_t b)
{
	return ((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb));
}

/* What mp_item() found. */
enum mp_got {
	MP_GOOD,
	MP_CUT,		/* the body ends inside the item's header */
	MP_INVALID,	/* 0xc1, a byte msgpack never uses */
	MP_LONG,	/* the item claims more bytes than follow */
};

/*
 * mp_item_rest() for the fixed-size numbers: b = p[at] is 0xca or 0xcb
 * (float 32, 64), 0xcc..0xcf (uint 8..64) or 0xd0..0xd3 (int 8..64),
 * and left bytes follow it.  Same results as mp_item().  O(1).
 */
static enum mp_got
mp_number(const uint8_t *p, size_t at, size_t left, size_t *pos,
    msgpack_object *o)
{
	uint8_t		 b = p[at];
	size_t		 n;
	uint64_t	 v;
	union {
		uint32_t	 u;
		float		 f;
	}		 f32;
	union {
		uint64_t	 u;
		double		 f;
	}		 f64;

	if (b == 0xca || b == 0xcb)
		n = b == 0xca ? 4 : 8;
	else if (b <= 0xcf)
		n = (size_t)1 << (b - 0xcc);
	else
		n = (size_t)1 << (b - 0xd0);
	if (left < n) {
		o->via.u64 = n;
		*pos = at + 1;
		return (MP_LONG);
	}
	v = load_be(p + at + 1, n);
	*pos = at + 1 + n;
	if (b == 0xca) {
		f32.u = (uint32_t)v;
		o->type = MSGPACK_OBJECT_FLOAT32;
		o->via.f64 = f32.f;
	} else if (b == 0xcb) {
		f64.u = v;
		o->type = MSGPACK_OBJECT_FLOAT64;
		o->via.f64 = f64.f;
	} else if (b <= 0xcf) {
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o->via.u64 = v;
	} else {
		if (n < 8 && (v >> (8 * n - 1)) != 0)
			v |= UINT64_MAX << (8 * n);	/* sign-extend */
		if ((int64_t)v < 0) {
			o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
			o->via.i64 = (int64_t)v;
		} else {
			o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
			o->via.u64 = v;
		}
	}
	return (MP_GOOD);
}

/*
 * mp_item_rest() for a str, bin or ext (o->type already set) whose hdr
 * header bytes at p[at] are followed by n data bytes (an ext: by its type
 * byte, then n bytes), where hdr <= len - at.  O(1).
 */
static enum mp_got
mp_data(const uint8_t *p, size_t len, size_t at, size_t hdr, size_t n,
    size_t *pos, msgpack_object *o)
{
	size_t	 ext = o->type == MSGPACK_OBJECT_EXT;

	if (n + ext > len - at - hdr) {
		o->via.u64 = (uint64_t)n + ext;
		*pos = at + hdr;
		return (MP_LONG);
	}
	p += at + hdr;
	if (ext) {
		o->via.ext.type = (int8_t)*p++;
		o->via.ext.ptr = (const char *)p;
		o->via.ext.size = (uint32_t)n;
		hdr++;
	} else {	/* str and bin alike */
		o->via.str.ptr = (const char *)p;
		o->via.str.size = (uint32_t)n;
	}
	*pos = at + hdr + n;
	return (MP_GOOD);
}

/*
 * mp_data() for a str, bin or ext whose hdr-byte header at p[at] ends in
 * its big-endian length: MP_CUT if the header does not fit.  O(1).
 */
static enum mp_got
mp_sized(const uint8_t *p, size_t len, size_t at, size_t hdr, size_t *pos,
    msgpack_object *o)
{
	if (len - at - 1 < hdr - 1)
		return (MP_CUT);
	return (mp_data(p, len, at, hdr, load_be(p + at + 1, hdr - 1), pos,
	    o));
}

/*
 * mp_item_rest() for the header of a map (ismap) or an array of n
 * elements, the first of which is at p[next].  O(1).
 */
static enum mp_got
mp_open(msgpack_object *o, int ismap, size_t n, size_t next, size_t *pos)
{
	if (ismap) {
		o->type = MSGPACK_OBJECT_MAP;
		o->via.map.size = (uint32_t)n;
		o->via.map.ptr = NULL;
	} else {
		o->type = MSGPACK_OBJECT_ARRAY;
		o->via.array.size = (uint32_t)n;
		o->via.array.ptr = NULL;
	}
	*pos = next;
	return (MP_GOOD);
}

/*
 * The whole of mp_item(), below, which reads the most common items itself
 * and every other one through here: one-byte items here, the rest by
 * kind (mp_number, mp_data, mp_sized, mp_open).
 */
static enum mp_got
mp_item_rest(const uint8_t *p, size_t len, size_t *pos, msgpack_object *o)
{
	size_t		 at = *pos, left, hdr;
	uint8_t		 b;

	if (at >= len)
		return (MP_CUT);
	left = len - at - 1;		/* bytes after the first */
	b = p[at];
	if (b <= 0x7f) {
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o->via.u64 = b;
		*pos = at + 1;
		return (MP_GOOD);
	}
	if (b >= 0xe0) {
		o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
		o->via.i64 = (int8_t)b;
		*pos = at + 1;
		return (MP_GOOD);
	}
	if (b >= 0xa0 && b <= 0xbf) {	/* fixstr */
		o->type = MSGPACK_OBJECT_STR;
		return (mp_data(p, len, at, 1, b & 0x1f, pos, o));
	}
	if (b <= 0x9f)			/* fixmap, fixarray */
		return (mp_open(o, b <= 0x8f, b & 0x0f, at + 1, pos));
	switch (b) {
	case 0xc0:
		o->type = MSGPACK_OBJECT_NIL;
		*pos = at + 1;
		return (MP_GOOD);
	case 0xc2: case 0xc3:
		o->type = MSGPACK_OBJECT_BOOLEAN;
		o->via.boolean = b == 0xc3;
		*pos = at + 1;
		return (MP_GOOD);
	case 0xca: case 0xcb:			/* float 32, 64 */
	case 0xcc: case 0xcd: case 0xce: case 0xcf:	/* uint 8..64 */
	case 0xd0: case 0xd1: case 0xd2: case 0xd3:	/* int 8..64 */
		return (mp_number(p, at, left, pos, o));
	case 0xd9: case 0xda: case 0xdb:	/* str 8, 16, 32 */
		o->type = MSGPACK_OBJECT_STR;
		return (mp_sized(p, len, at, 1 + ((size_t)1 << (b - 0xd9)),
		    pos, o));
	case 0xc4: case 0xc5: case 0xc6:	/* bin 8, 16, 32 */
		o->type = MSGPACK_OBJECT_BIN;
		return (mp_sized(p, len, at, 1 + ((size_t)1 << (b - 0xc4)),
		    pos, o));
	case 0xc7: case 0xc8: case 0xc9:	/* ext 8, 16, 32 */
		o->type = MSGPACK_OBJECT_EXT;
		return (mp_sized(p, len, at, 1 + ((size_t)1 << (b - 0xc7)),
		    pos, o));
	case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
		/* fixext 1, 2, 4, 8, 16 */
		o->type = MSGPACK_OBJECT_EXT;
		return (mp_data(p, len, at, 1, (size_t)1 << (b - 0xd4), pos,
		    o));
	case 0xdc: case 0xdd:			/* array 16, 32 */
	case 0xde: case 0xdf:			/* map 16, 32 */
		hdr = b == 0xdc || b == 0xde ? 2 : 4;
		if (left < hdr)
			return (MP_CUT);
		return (mp_open(o, b >= 0xde, load_be(p + at + 1, hdr),
		    at + 1 + hdr, pos));
	default:				/* 0xc1 */
		return (MP_INVALID);
	}
}

/*
 * Read the item at p[*pos] (of len bytes) into *o as msgpack_unpack()
 * would, and move *pos past it: the one reader of msgpack bytes in this
 * file.  A map or an array is read up to its header: *o gets its type
 * and count (ptr NULL) and *pos its first element.  Strings, bins and
 * exts point into p.  MP_LONG: o->via.u64 is the number of bytes the item
 * claims and *pos where they would start; otherwise anything but MP_GOOD
 * leaves *pos alone.  O(1).  Small integers and short strings (every
 * key), which most bodies are made of, are read here without a call.
 */
static inline enum mp_got
mp_item(const uint8_t *p, size_t len, size_t *pos, msgpack_object *o)
{
	size_t		 at = *pos, n;
	uint8_t		 b;

	if (at < len) {
		b = p[at];
		if (b <= 0x7f) {
			o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
			o->via.u64 = b;
			*pos = at + 1;
			return (MP_GOOD);
		}
		n = b & 0x1f;
		if (b >= 0xa0 && b <= 0xbf && n < len - at) {
			o->type = MSGPACK_OBJECT_STR;
			o->via.str.ptr = (const char *)p + at + 1;
			o->via.str.size = (uint32_t)n;
			*pos = at + 1 + n;
			return (MP_GOOD);
		}
	}
	return (mp_item_rest(p, len, pos, o));
}

/* Is o a map or an array, whose elements mp_item() has yet to read? */
static int
mp_container(const msgpack_object *o)
{
	return (o->type == MSGPACK_OBJECT_MAP ||
	    o->type == MSGPACK_OBJECT_ARRAY);
}

/*
 * Check that body (len bytes) holds exactly one well-formed msgpack map
 * whose maps all have string keys, nested at most PROTO_MAX_DEPTH deep,
 * where no container claims more elements than there are bytes left for
 * them.  The last check is cumulative: every element still owed by any
 * open container needs at least one byte, so the elements owed at any
 * moment never exceed the bytes that remain.  On success *need is the
 * number of bytes mp_build() takes for the elements of containers.
 * Allocates nothing; O(len).
 */
static enum proto_err
body_walk(struct dec *d, const uint8_t *p, size_t len, size_t *need)
{
	uint64_t	 left[PROTO_MAX_DEPTH];	/* items owed by open containers */
	int		 ismap[PROTO_MAX_DEPTH];
	msgpack_object	 o;
	size_t		 depth = 0, pos = 0, at, avail;
	uint64_t	 owed = 0, n, items;
	int		 key, map;

	*need = 0;
	if (len == 0)
		return (dec_fail(d, PROTO_E_BAD_FRAME, "empty frame body"));
	if (!((p[0] >= 0x80 && p[0] <= 0x8f) || p[0] == 0xde || p[0] == 0xdf))
		return (dec_fail(d, PROTO_E_BAD_FRAME,
		    "frame body is not a msgpack map"));

	do {
		key = 0;
		if (depth > 0) {
			/* In a map, an even number of items left: a key. */
			key = ismap[depth - 1] && left[depth - 1] % 2 == 0;
			left[depth - 1]--;
			owed--;
		}
		at = pos;
		if (at < len && key && !is_str_byte(p[at]))
			return (dec_fail(d, PROTO_E_BAD_FRAME,
			    "map key at byte %zu is not a string", at));
		switch (mp_item(p, len, &pos, &o)) {
		case MP_GOOD:
			break;
		case MP_CUT:
			return (dec_fail(d, PROTO_E_BAD_FRAME, "frame body "
			    "ends in the middle of a msgpack value"));
		case MP_INVALID:
			return (dec_fail(d, PROTO_E_BAD_FRAME,
			    "invalid msgpack byte 0x%02x at byte %zu", p[at],
			    at));
		case MP_LONG:
			return (dec_fail(d, PROTO_E_BAD_FRAME,
			    "a value at byte %zu claims %" PRIu64 " bytes but "
			    "only %zu follow", at, o.via.u64, len - pos));
		}

		if (mp_container(&o)) {
			if (depth == PROTO_MAX_DEPTH)
				return (dec_fail(d, PROTO_E_BAD_FRAME,
				    "msgpack nested deeper than %d levels",
				    PROTO_MAX_DEPTH));
			map = o.type == MSGPACK_OBJECT_MAP;
			n = map ? o.via.map.size : o.via.array.size;
			items = map ? 2 * n : n;
			avail = len - pos;
			if (owed > avail || items > avail - owed)
				return (dec_fail(d, PROTO_E_BAD_FRAME,
				    "%s at byte %zu claims %" PRIu64 " %s but "
				    "only %zu bytes follow",
				    map ? "a map" : "an array", at, n,
				    map ? "entries" : "elements", avail));
			*need += map ? (size_t)n * sizeof(msgpack_object_kv) :
			    (size_t)n * sizeof(msgpack_object);
			if (items > 0) {
				ismap[depth] = map;
				left[depth++] = items;
				owed += items;
			}
		}
		while (depth > 0 && left[depth - 1] == 0)
			depth--;
	} while (depth > 0);

	if (pos != len)
		return (dec_fail(d, PROTO_E_BAD_FRAME,
		    "%zu trailing bytes after the map", len - pos));
	return (PROTO_OK);
}

/*
 * Read the item at p[*pos], which body_walk() accepted, into *o, and with
 * it everything inside: the elements of each container go to *arena,
 * which moves past them (body_walk() said how many bytes they take).
 * Recursion is at most PROTO_MAX_DEPTH deep.  O(bytes read).
 */
static void
mp_build(const uint8_t *p, size_t len, size_t *pos, msgpack_object *o,
    char **arena)
{
	msgpack_object_kv	*kv;
	msgpack_object		*e;
	uint32_t		 i, n;

	(void)mp_item(p, len, pos, o);	/* accepted by body_walk() */
	if (o->type == MSGPACK_OBJECT_MAP && (n = o->via.map.size) > 0) {
		kv = (msgpack_object_kv *)(void *)*arena;
		*arena += (size_t)n * sizeof *kv;
		o->via.map.ptr = kv;
		for (i = 0; i < n; i++) {
			mp_build(p, len, pos, &kv[i].key, arena);
			mp_build(p, len, pos, &kv[i].val, arena);
		}
	} else if (o->type == MSGPACK_OBJECT_ARRAY &&
	    (n = o->via.array.size) > 0) {
		e = (msgpack_object *)(void *)*arena;
		*arena += (size_t)n * sizeof *e;
		o->via.array.ptr = e;
		for (i = 0; i < n; i++)
			mp_build(p, len, pos, &e[i], arena);
	}
}

/*
 * The fast path for the common case: a map of at most PROTO_FLAT_KV
 * entries with string keys and scalar values (every request, every reply
 * but STATUS and STATS).  Its entries go to kv (PROTO_FLAT_KV long, the
 * caller's), so nothing is allocated and the body is read once.  It
 * accepts only bodies body_walk() accepts: well-formed, within len,
 * string keys, nothing after the map.  Returns 1 when done, 0 for
 * anything else, which the caller hands to body_walk() and mp_build()
 * (and which gets their error messages).  O(len).
 */
#define PROTO_FLAT_KV	16
static int
flat_unpack(const uint8_t *p, size_t len, msgpack_object *root,
    msgpack_object_kv *kv)
{
	size_t		 pos = 0;
	uint32_t	 n, i;

	if (mp_item(p, len, &pos, root) != MP_GOOD ||
	    root->type != MSGPACK_OBJECT_MAP ||
	    (n = root->via.map.size) > PROTO_FLAT_KV)
		return (0);
	for (i = 0; i < n; i++) {
		if (pos >= len || !is_str_byte(p[pos]) ||
		    mp_item(p, len, &pos, &kv[i].key) != MP_GOOD ||
		    mp_item(p, len, &pos, &kv[i].val) != MP_GOOD ||
		    mp_container(&kv[i].val))
			return (0);
	}
	if (pos != len)
		return (0);
	root->via.map.ptr = kv;
	return (1);
}

/*
 * Validate body and unpack it into *root: into flat (PROTO_FLAT_KV
 * entries, the caller's) when it is a flat map, else, once body_walk()
 * has accepted it, into one block of exactly the size it needs, which
 * *block then points to (NULL if none was needed) and the caller frees.
 */
static enum proto_err
body_unpack(struct dec *d, const uint8_t *body, size_t len,
    msgpack_object *root, msgpack_object_kv *flat, void **block)
{
	enum proto_err	 rc;
	size_t		 need, pos = 0;
	char		*arena;

	*block = NULL;
	if (flat_unpack(body, len, root, flat))
		return (PROTO_OK);
	if ((rc = body_walk(d, body, len, &need)) != PROTO_OK)
		return (rc);
	if (need > 0 && (*block = malloc(need)) == NULL)
		return (dec_fail(d, PROTO_E_LIMIT,
		    "out of memory decoding a frame"));
	arena = *block;
	mp_build(body, len, &pos, root, &arena);
	return (PROTO_OK);
}

/*
 * Key lookup: an open-addressing hash table of the keys of PROTO_KEYS,
 * filled from proto_keys[] by key_table_init() before main() runs (a
 * constructor, so no thread of a client can see it half built).  Slot
 * values are enum proto_key + 1; 0 is an empty slot.  At most half the
 * slots are used, so a probe always ends at an empty slot.  The hash
 * reads the length and the first and last bytes; its multipliers leave
 * the keys of today 4 collisions in 128 slots, and a new key that
 * collides costs one more probe, never a wrong answer.
 */
#define KEY_SLOTS	128		/* a power of two */
_Static_assert(PK_COUNT <= KEY_SLOTS / 2, "KEY_SLOTS too small for PK_COUNT");
_Static_assert(PK_COUNT < 255, "key_slot[] holds enum proto_key + 1");
static uint8_t	key_slot[KEY_SLOTS];

static void	key_table_init(void) __attribute__((constructor));

/* Hash a key of len > 0 bytes to its first slot. */
static unsigned int
key_hash(const char *s, size_t len)
{
	return ((unsigned int)(len * 6 + (uint8_t)s[0] * 16 +
	    (uint8_t)s[len - 1] * 21) & (KEY_SLOTS - 1));
}

/* Fill key_slot[] from proto_keys[].  O(PK_COUNT). */
static void
key_table_init(void)
{
	unsigned int	 h;
	int		 k;

	for (k = 0; k < PK_COUNT; k++) {
		h = key_hash(proto_keys[k].name, proto_keys[k].len);
		while (key_slot[h] != 0)
			h = (h + 1) & (KEY_SLOTS - 1);
		key_slot[h] = (uint8_t)(k + 1);
	}
}

/*
 * Map a key string to its enum proto_key, or -1.  One hash and, for a
 * known key, usually one memcmp.
 */
static int
key_lookup(const char *s, size_t len)
{
	unsigned int	 h;
	int		 k;

	if (len == 0)
		return (-1);
	for (h = key_hash(s, len); key_slot[h] != 0;
	    h = (h + 1) & (KEY_SLOTS - 1)) {
		k = key_slot[h] - 1;
		if (proto_keys[k].len == len &&
		    memcmp(proto_keys[k].name, s, len) == 0)
			return (k);
	}
	return (-1);
}

/*
 * Index the known keys of map (whose keys body_walk has proved to be
 * strings).  Unknown keys are skipped.  O(entries).
 */
static void
fields_scan(const msgpack_object *map, struct fields *f)
{
	const msgpack_object_kv	*kv;
	uint32_t		 i;
	int			 k;

	memset(f, 0, sizeof *f);
	for (i = 0; i < map->via.map.size; i++) {
		kv = &map->via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR)
			continue;
		k = key_lookup(kv->key.via.str.ptr, kv->key.via.str.size);
		if (k < 0)
			continue;
		if (f->val[k] == NULL)
			f->val[k] = &kv->val;
		else
			f->dup[k / 64] |= (uint64_t)1 << (k % 64);
	}
}

/*
 * Fetch field k: NULL when absent or nil (nil means absent), else its
 * value.  A key given twice is an error.
 */
static inline enum proto_err
field_get(struct dec *d, const struct fields *f, enum proto_key k,
    const msgpack_object **out)
{
	const msgpack_object	*o = f->val[k];

	*out = NULL;
	if (f->dup[k / 64] & ((uint64_t)1 << (k % 64)))
		return (dec_fail(d, PROTO_E_BAD_REQUEST,
		    "'%s' is given more than once", proto_keys[k].name));
	if (o != NULL && o->type != MSGPACK_OBJECT_NIL)
		*out = o;
	return (PROTO_OK);
}

/*
 * The opening of every get_ function: fetch field k into *out (NULL when
 * absent or nil, see field_get).  Absent and required is an error,
 * "'k' is required (<what>)", or with range (min, max) non-NULL
 * "'k' is required (<what> <min>..<max>)".
 */
static inline enum proto_err
field_need(struct dec *d, const struct fields *f, enum proto_key k,
    int required, const msgpack_object **out, const char *what,
    const uint64_t *range)
{
	enum proto_err	 rc;

	if ((rc = field_get(d, f, k, out)) != PROTO_OK)
		return (rc);
	if (*out != NULL || !required)
		return (PROTO_OK);
	if (range == NULL)
		return (dec_fail(d, PROTO_E_BAD_REQUEST,
		    "'%s' is required (%s)", proto_keys[k].name, what));
	return (dec_fail(d, PROTO_E_BAD_REQUEST,
	    "'%s' is required (%s %" PRIu64 "..%" PRIu64 ")",
	    proto_keys[k].name, what, range[0], range[1]));
}

/*
 * Read integer field k into *out, checking min <= value <= max.  If the
 * field is absent, *out is left alone and *present set to 0, which is an
 * error when required.  present may be NULL.
 */
static enum proto_err
get_uint(struct dec *d, const struct fields *f, enum proto_key k, int required,
    uint64_t min, uint64_t max, uint64_t *out, int *present)
{
	const msgpack_object	*o;
	enum proto_err		 rc;

	if (present != NULL)
		*present = 0;
	if ((rc = field_need(d, f, k, required, &o, "an integer",
	    (const uint64_t[]){ min, max })) != PROTO_OK || o == NULL)
		return (rc);
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    o->via.u64 < min || o->via.u64 > max)
		return (dec_fail(d, PROTO_E_BAD_REQUEST,
		    "'%s' must be an integer %" PRIu64 "..%" PRIu64,
		    proto_keys[k].name, min, max));
	*out = o->via.u64;
	if (present != NULL)
		*present = 1;
	return (PROTO_OK);
}

/* get_uint for a field that fits uint32_t. */
static enum proto_err
get_u32(struct dec *d, const struct fields *f, enum proto_key k, int required,
    uint32_t min, uint32_t max, uint32_t *out, int *present)
{
	uint64_t	 v;
	enum proto_err	 rc;
	int		 here;

	rc = get_uint(d, f, k, required, min, max, &v, &here);
	if (rc == PROTO_OK && here)
		*out = (uint32_t)v;
	if (present != NULL)
		*present = here;
	return (rc);
}

/*
 * Read the optional weight of a request or of one of its 'sems' entries,
 * 1..PROTO_MAX_CAPACITY, into *weight (left alone when absent).
 */
static enum proto_err
get_weight(struct dec *d, const struct fields *f, uint32_t *weight)
{
	return (get_u32(d, f, PK_WEIGHT, 0, 1, PROTO_MAX_CAPACITY, weight,
	    NULL));
}

/*
 * Read semaphore name field k into dst (PROTO_MAX_NAME + 1 bytes) and
 * *lenp.  Not a string: BAD_REQUEST; not a valid name: BAD_NAME.
 */
static enum proto_err
get_name(struct dec *d, const struct fields *f, enum proto_key k, int required,
    char *dst, size_t *lenp, int *present)
{
	const msgpack_object	*o;
	enum proto_err		 rc;

	if (present != NULL)
		*present = 0;
	if ((rc = field_need(d, f, k, required, &o, "a semaphore name",
	    NULL)) != PROTO_OK || o == NULL)
		return (rc);
	if (o->type != MSGPACK_OBJECT_STR)
		return (dec_fail(d, PROTO_E_BAD_REQUEST,
		    "'%s' must be a string (a semaphore name)",
		    proto_keys[k].name));
	if (!proto_name_valid(o->via.str.ptr, o->via.str.size))
		return (dec_fail(d, PROTO_E_BAD_NAME,
		    "'%s' is not a valid semaphore name: use 1..%d bytes of "
		    "A-Z a-z 0-9 . _ - : @ / +", proto_keys[k].name,
		    PROTO_MAX_NAME));
	memcpy(dst, o->via.str.ptr, o->via.str.size);
	dst[o->via.str.size] = '\0';
	if (lenp != NULL)
		*lenp = o->via.str.size;
	if (present != NULL)
		*present = 1;
	return (PROTO_OK);
}

/*
 * Read free-text field k into dst (PROTO_MAX_TEXT + 1 bytes).  Longer text
 * is cut to PROTO_MAX_TEXT bytes, backing off to the start of a UTF-8
 * sequence; NUL and other control bytes become '?', so the result is a
 * C string that is safe to log.  Absent: dst stays "".
 */
static enum proto_err
get_text(struct dec *d, const struct fields *f, enum proto_key k, int required,
    char *dst)
{
	const msgpack_object	*o;
	enum proto_err		 rc;
	const char		*s;
	size_t			 i, n;

	if ((rc = field_need(d, f, k, required, &o, "a string", NULL)) !=
	    PROTO_OK || o == NULL)
		return (rc);
	if (o->type != MSGPACK_OBJECT_STR)
		return (dec_fail(d, PROTO_E_BAD_REQUEST,
		    "'%s' must be a string", proto_keys[k].name));
	s = o->via.str.ptr;
	n = proto_text_clamp(s, o->via.str.size);
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			dst[i] = '?';
		else
			dst[i] = s[i];
	}
	dst[n] = '\0';
	return (PROTO_OK);
}

/*
 * Read boolean field k into *out (left alone when absent or nil).
 */
static enum proto_err
get_bool(struct dec *d, const struct fields *f, enum proto_key k, int *out)
{
	const msgpack_object	*o;
	enum proto_err		 rc;

	if ((rc = field_get(d, f, k, &o)) != PROTO_OK)
		return (rc);
	if (o == NULL)
		return (PROTO_OK);
	if (o->type != MSGPACK_OBJECT_BOOLEAN)
		return (dec_fail(d, PROTO_E_BAD_REQUEST,
		    "'%s' must be true or false", proto_keys[k].name));
	*out = o->via.boolean;
	return (PROTO_OK);
}

/*
 * Read the "action" field of an ADMIN message into *action.  Missing,
 * not a string or not an action: BAD_REQUEST.
 */
static enum proto_err
get_action(struct dec *d, const struct fields *f, enum proto_admin *action)
{
	const msgpack_object	*o;
	enum proto_err		 rc;
	char			 ex[40];

	if ((rc = field_get(d, f, PK_ACTION, &o)) != PROTO_OK)
		return (rc);
	if (o == NULL || o->type != MSGPACK_OBJECT_STR)
		return (dec_fail(d, PROTO_E_BAD_REQUEST, "'action' is required:"
		    " resize, drain, undrain, revoke, reload or list"));
	*action = proto_admin_from_name(o->via.str.ptr, o->via.str.size);
	if (*action == PROTO_ADMIN_NONE) {
		dec_excerpt(ex, sizeof ex, o->via.str.ptr, o->via.str.size);
		return (dec_fail(d, PROTO_E_BAD_REQUEST, "unknown action \"%s\":"
		    " use resize, drain, undrain, revoke, reload or list", ex));
	}
	return (PROTO_OK);
}

/* Decode the fields of an ADMIN request (op and id known). */
static enum proto_err
admin_fields(struct dec *d, const struct fields *f, struct proto_request *req)
{
	enum proto_err	 rc;

	if ((rc = get_action(d, f, &req->action)) != PROTO_OK)
		return (rc);
	switch (req->action) {
	case PROTO_ADMIN_RESIZE:
		if ((rc = get_name(d, f, PK_SEM, 1, req->sem, &req->sem_len,
		    &req->has_sem)) != PROTO_OK)
			return (rc);
		return (get_u32(d, f, PK_CAPACITY, 1, 1, PROTO_MAX_CAPACITY,
		    &req->capacity, &req->has_capacity));
	case PROTO_ADMIN_DRAIN:
		if ((rc = get_name(d, f, PK_SEM, 1, req->sem, &req->sem_len,
		    &req->has_sem)) != PROTO_OK)
			return (rc);
		return (get_bool(d, f, PK_WAIT, &req->wait));
	case PROTO_ADMIN_UNDRAIN:
		return (get_name(d, f, PK_SEM, 1, req->sem, &req->sem_len,
		    &req->has_sem));
	case PROTO_ADMIN_REVOKE:
		if ((rc = get_name(d, f, PK_SEM, 1, req->sem, &req->sem_len,
		    &req->has_sem)) != PROTO_OK ||
		    (rc = get_u32(d, f, PK_PID, 0, 1, UINT32_MAX, &req->pid,
		    &req->has_pid)) != PROTO_OK ||
		    (rc = get_uint(d, f, PK_TOKEN, 0, 0, UINT64_MAX,
		    &req->token, &req->has_token)) != PROTO_OK)
			return (rc);
		if (req->has_pid == req->has_token)
			return (dec_fail(d, PROTO_E_BAD_REQUEST, "revoke needs "
			    "one of 'pid' and 'token'"));
		return (PROTO_OK);
	default:
		return (PROTO_OK);
	}
}

/*
 * Read the "op" and "id" every message carries.  *id is set as soon as a
 * usable id was seen, even if op is bad.  Returns the op or an error.
 */
static enum proto_err
get_op_id(struct dec *d, const struct fields *f, uint64_t *id,
    enum proto_op *op)
{
	const msgpack_object	*o;
	enum proto_err		 rc;
	char			 ex[40];

	*op = PROTO_OP_NONE;
	if ((rc = get_uint(d, f, PK_ID, 1, 0, UINT64_MAX, id, NULL)) !=
	    PROTO_OK)
		return (rc);
	if ((rc = field_get(d, f, PK_OP, &o)) != PROTO_OK)
		return (rc);
	if (o == NULL)
		return (dec_fail(d, PROTO_E_BAD_REQUEST,
		    "'op' is required (a string such as \"ACQUIRE\")"));
	if (o->type != MSGPACK_OBJECT_STR)
		return (dec_fail(d, PROTO_E_BAD_REQUEST,
		    "'op' must be a string such as \"ACQUIRE\""));
	*op = proto_op_from_name(o->via.str.ptr, o->via.str.size);
	if (*op == PROTO_OP_NONE) {
		dec_excerpt(ex, sizeof ex, o->via.str.ptr, o->via.str.size);
		return (dec_fail(d, PROTO_E_UNKNOWN_OP,
		    "unknown op \"%s\"", ex));
	}
	return (PROTO_OK);
}

/*
 * Read the optional rate (a positive number of grants per second: an
 * integer or a float, at most PROTO_MAX_RATE) and burst (1..
 * PROTO_MAX_CAPACITY, only with a rate) of f.
 */
static enum proto_err
get_rate(struct dec *d, const struct fields *f, int *has_rate, double *rate,
    uint32_t *burst)
{
	const msgpack_object	*o;
	enum proto_err		 rc;
	double			 v;
	int			 here;

	*has_rate = 0;
	*rate = 0;
	if ((rc = field_get(d, f, PK_RATE, &o)) != PROTO_OK)
		return (rc);
	if (o != NULL) {
		if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			v = (double)o->via.u64;
		else if (o->type == MSGPACK_OBJECT_FLOAT32 ||
		    o->type == MSGPACK_OBJECT_FLOAT64)
			v = o->via.f64;
		else
			v = -1;
		if (!(v >= PROTO_MIN_RATE && v <= PROTO_MAX_RATE))
			return (dec_fail(d, PROTO_E_BAD_REQUEST,
			    "'rate' must be a number of grants per second "
			    "from 1/86400 (one a day) to %.0f",
			    PROTO_MAX_RATE));
		*has_rate = 1;
		*rate = v;
	}
	if ((rc = get_u32(d, f, PK_BURST, 0, 1, PROTO_MAX_CAPACITY, burst,
	    &here)) != PROTO_OK)
		return (rc);
	if (here && !*has_rate)
		return (dec_fail(d, PROTO_E_BAD_REQUEST,
		    "'burst' needs a 'rate'"));
	return (PROTO_OK);
}

/*
 * Decode the 'sems' array of an ACQUIRE: 1..PROTO_MAX_SEMS maps {sem,
 * capacity?, weight?, rate?, burst?} with distinct names.
 */
static enum proto_err
sems_decode(struct dec *d, const msgpack_object *o,
    struct proto_request *req)
{
	struct proto_sem_req	*e;
	struct fields		 f;
	enum proto_err		 rc;
	uint32_t		 i, j;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size == 0 ||
	    o->via.array.size > PROTO_MAX_SEMS)
		return (dec_fail(d, PROTO_E_BAD_REQUEST, "'sems' must be an "
		    "array of 1..%d maps {sem, capacity, weight}",
		    PROTO_MAX_SEMS));
	for (i = 0; i < o->via.array.size; i++) {
		d->sem_idx = i;
		e = &req->sems[i];
		e->weight = 1;
		if (o->via.array.ptr[i].type != MSGPACK_OBJECT_MAP)
			return (dec_fail(d, PROTO_E_BAD_REQUEST,
			    "must be a map {sem, capacity, weight}"));
		fields_scan(&o->via.array.ptr[i], &f);
		if ((rc = get_name(d, &f, PK_SEM, 1, e->sem, &e->sem_len,
		    NULL)) != PROTO_OK ||
		    (rc = get_rate(d, &f, &e->has_rate, &e->rate,
		    &e->burst)) != PROTO_OK ||
		    (rc = get_u32(d, &f, PK_CAPACITY, 0, e->has_rate ? 0 : 1,
		    PROTO_MAX_CAPACITY, &e->capacity, &e->has_capacity)) !=
		    PROTO_OK ||
		    (rc = get_weight(d, &f, &e->weight)) != PROTO_OK)
			return (rc);
		for (j = 0; j < i; j++) {
			if (req->sems[j].sem_len == e->sem_len &&
			    memcmp(req->sems[j].sem, e->sem,
			    e->sem_len) == 0)
				return (dec_fail(d, PROTO_E_BAD_REQUEST,
				    "semaphore %s is named twice", e->sem));
		}
	}
	d->sem_idx = -1;
	req->nsems = o->via.array.size;
	return (PROTO_OK);
}

/*
 * The fields of an ACQUIRE of one semaphore (no 'sems'): sem, rate and
 * burst, capacity (optional with a rate), weight.
 */
static enum proto_err
acquire_one(struct dec *d, const struct fields *f, struct proto_request *req)
{
	enum proto_err	 rc;

	if ((rc = get_name(d, f, PK_SEM, 1, req->sem, &req->sem_len,
	    &req->has_sem)) != PROTO_OK)
		return (rc);
	if ((rc = get_rate(d, f, &req->has_rate, &req->rate,
	    &req->burst)) != PROTO_OK)
		return (rc);
	if ((rc = get_u32(d, f, PK_CAPACITY, 0, req->has_rate ? 0 : 1,
	    PROTO_MAX_CAPACITY, &req->capacity, &req->has_capacity)) !=
	    PROTO_OK)
		return (rc);
	return (get_weight(d, f, &req->weight));
}

/*
 * The fields of an ACQUIRE: one semaphore (acquire_one) or a 'sems' list
 * with nothing of one semaphore beside it, then timeout_ms (absent: -1,
 * wait for ever).  Weight defaults to 1.
 */
static enum proto_err
acquire_fields(struct dec *d, const struct fields *f,
    struct proto_request *req)
{
	const msgpack_object	*o;
	enum proto_err		 rc;
	uint64_t		 t;
	int			 here;

	req->weight = 1;
	req->timeout_ms = -1;
	if ((rc = field_get(d, f, PK_SEMS, &o)) != PROTO_OK)
		return (rc);
	if (o == NULL)
		rc = acquire_one(d, f, req);
	else if (f->val[PK_SEM] != NULL || f->val[PK_CAPACITY] != NULL ||
	    f->val[PK_WEIGHT] != NULL || f->val[PK_RATE] != NULL ||
	    f->val[PK_BURST] != NULL)
		return (dec_fail(d, PROTO_E_BAD_REQUEST, "with 'sems', give "
		    "'sem', 'capacity', 'weight', 'rate' and 'burst' in its "
		    "entries, not beside it"));
	else
		rc = sems_decode(d, o, req);
	if (rc != PROTO_OK)
		return (rc);
	if ((rc = get_uint(d, f, PK_TIMEOUT_MS, 0, 0, PROTO_MAX_TIMEOUT_MS,
	    &t, &here)) != PROTO_OK)
		return (rc);
	if (here)
		req->timeout_ms = (int64_t)t;
	return (PROTO_OK);
}

/*
 * The fields of a RELEASE (token, or sem: with a token the grant says
 * what) or, reclaim nonzero, a RECLAIM (token and sem, capacity).
 * Weight defaults to 1.
 */
static enum proto_err
release_fields(struct dec *d, const struct fields *f,
    struct proto_request *req, int reclaim)
{
	enum proto_err	 rc;

	req->weight = 1;
	if ((rc = get_uint(d, f, PK_TOKEN, reclaim, 1, UINT64_MAX,
	    &req->token, &req->has_token)) != PROTO_OK)
		return (rc);
	if ((rc = get_name(d, f, PK_SEM, reclaim || !req->has_token,
	    req->sem, &req->sem_len, &req->has_sem)) != PROTO_OK)
		return (rc);
	if (reclaim && (rc = get_u32(d, f, PK_CAPACITY, 0, 1,
	    PROTO_MAX_CAPACITY, &req->capacity, &req->has_capacity)) !=
	    PROTO_OK)
		return (rc);
	return (get_weight(d, f, &req->weight));
}

/* Decode the fields of a request whose op and id are known. */
static enum proto_err
request_fields(struct dec *d, const struct fields *f, void *msg)
{
	struct proto_request	*req = msg;
	enum proto_err		 rc;

	switch (req->op) {
	case PROTO_OP_HELLO:
		if ((rc = get_u32(d, f, PK_VERSION, 1, 0, UINT32_MAX,
		    &req->version, NULL)) != PROTO_OK ||
		    (rc = get_u32(d, f, PK_WORKER_PID, 0, 1, UINT32_MAX,
		    &req->worker_pid, NULL)) != PROTO_OK ||
		    (rc = get_text(d, f, PK_WORKER_CMD, 0, req->worker_cmd)) !=
		    PROTO_OK)
			return (rc);
		return (get_text(d, f, PK_CLIENT, 0, req->client));
	case PROTO_OP_ACQUIRE:
		return (acquire_fields(d, f, req));
	case PROTO_OP_RELEASE:
		return (release_fields(d, f, req, 0));
	case PROTO_OP_RECLAIM:
		return (release_fields(d, f, req, 1));
	case PROTO_OP_TIMEOUT:
		return (PROTO_OK);
	case PROTO_OP_STATUS:
	case PROTO_OP_STATS:
		return (get_name(d, f, PK_SEM, 0, req->sem, &req->sem_len,
		    &req->has_sem));
	case PROTO_OP_ADMIN:
		return (admin_fields(d, f, req));
	default:
		return (dec_fail(d, PROTO_E_UNKNOWN_OP,
		    "\"%s\" is a reply, not a request",
		    proto_op_name(req->op)));
	}
}

/*
 * Decode one message body of the given kind ("request" or "reply"):
 * unpack it (flat maps on the stack, others into one block), read op and
 * id into *op and *id, then let fields() read the rest into msg.  The
 * block, if any, is gone on return.  O(len).
 */
static enum proto_err
decode_message(const uint8_t *body, size_t len, const char *kind,
    uint64_t *id, enum proto_op *op,
    enum proto_err (*fields)(struct dec *, const struct fields *, void *),
    void *msg, char *errbuf, size_t errlen)
{
	struct dec		 d = { errbuf, errlen, kind, -1, NULL, 0, 0,
				     NULL };
	struct fields		 f;
	msgpack_object		 root;
	msgpack_object_kv	 flat[PROTO_FLAT_KV];
	enum proto_err		 rc;
	void			*block;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if ((rc = body_unpack(&d, body, len, &root, flat, &block)) !=
	    PROTO_OK)
		return (rc);
	fields_scan(&root, &f);
	rc = get_op_id(&d, &f, id, op);
	if (rc == PROTO_OK) {
		d.what = proto_op_name(*op);
		rc = fields(&d, &f, msg);
	}
	free(block);
	return (rc);
}

/*
 * Decode one request body.  See proto.h.  Cost: O(len), at most one
 * malloc (the elements of containers; none for a flat map), nothing else
 * allocated.
 */
enum proto_err
proto_decode_request(const uint8_t *body, size_t len,
    struct proto_request *req, char *errbuf, size_t errlen)
{
	memset(req, 0, sizeof *req);
	return (decode_message(body, len, "request", &req->id, &req->op,
	    request_fields, req, errbuf, errlen));
}

/*
 * Decode the optional text k of a party.  While only counting (d->textp
 * NULL) its size is added to d->text; else it is copied to d->textp,
 * which moves on, and *dst points to it.  Absent: *dst stays NULL.
 */
static enum proto_err
party_text(struct dec *d, const struct fields *f, enum proto_key k,
    const char **dst)
{
	char		 buf[PROTO_MAX_TEXT + 1];
	enum proto_err	 rc;
	size_t		 n;

	buf[0] = '\0';
	*dst = NULL;
	if ((rc = get_text(d, f, k, 0, buf)) != PROTO_OK)
		return (rc);
	if (buf[0] == '\0')
		return (PROTO_OK);
	n = strlen(buf) + 1;
	if (d->textp == NULL) {
		d->text += n;
		return (PROTO_OK);
	}
	memcpy(d->textp, buf, n);
	*dst = d->textp;
	d->textp += n;
	return (PROTO_OK);
}

/*
 * Decode one holder or waiter map into *p (ms_key: PK_HELD_MS or
 * PK_WAITED_MS).
 */
static enum proto_err
party_decode(struct dec *d, const msgpack_object *o, enum proto_key ms_key,
    struct proto_party *p)
{
	struct fields	 f;
	enum proto_err	 rc;

	if (o->type != MSGPACK_OBJECT_MAP)
		return (dec_fail(d, PROTO_E_BAD_REQUEST, "must be a map"));
	fields_scan(o, &f);
	if ((rc = get_u32(d, &f, PK_PID, 1, 0, UINT32_MAX, &p->pid,
	    NULL)) != PROTO_OK ||
	    (rc = get_u32(d, &f, PK_UID, 1, 0, UINT32_MAX, &p->uid,
	    NULL)) != PROTO_OK ||
	    (rc = get_u32(d, &f, PK_WEIGHT, 1, 1, PROTO_MAX_CAPACITY,
	    &p->weight, NULL)) != PROTO_OK ||
	    (rc = get_uint(d, &f, ms_key, 1, 0, UINT64_MAX, &p->ms,
	    NULL)) != PROTO_OK ||
	    (rc = get_u32(d, &f, PK_WORKER_PID, 0, 0, UINT32_MAX,
	    &p->worker_pid, NULL)) != PROTO_OK)
		return (rc);
	if ((rc = party_text(d, &f, PK_CLIENT, &p->client)) != PROTO_OK ||
	    (rc = party_text(d, &f, PK_WORKER_CMD, &p->worker_cmd)) !=
	    PROTO_OK ||
	    (rc = party_text(d, &f, PK_HOST, &p->host)) != PROTO_OK)
		return (rc);
	return (PROTO_OK);
}

/*
 * Decode the list field k (PK_HOLDERS, PK_WAITERS) of a STATUS entry.  With
 * dst NULL, only validate (each party into a scratch struct); else fill
 * dst.  *np is the list length.
 */
static enum proto_err
party_list(struct dec *d, const struct fields *f, enum proto_key k,
    struct proto_party *dst, size_t *np)
{
	const msgpack_object	*o;
	struct proto_party	 scratch;
	enum proto_err		 rc;
	uint32_t		 i;
	enum proto_key		 ms_key = k == PK_HOLDERS ? PK_HELD_MS :
				     PK_WAITED_MS;

	*np = 0;
	if ((rc = field_get(d, f, k, &o)) != PROTO_OK)
		return (rc);
	if (o == NULL)
		return (dec_fail(d, PROTO_E_BAD_REQUEST,
		    "'%s' is required (an array)", proto_keys[k].name));
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return (dec_fail(d, PROTO_E_BAD_REQUEST,
		    "'%s' must be an array", proto_keys[k].name));
	d->list = proto_keys[k].name;
	for (i = 0; i < o->via.array.size; i++) {
		d->party_idx = i;
		rc = party_decode(d, &o->via.array.ptr[i], ms_key,
		    dst != NULL ? &dst[i] : &scratch);
		if (rc != PROTO_OK)
			return (rc);
	}
	d->list = NULL;
	*np = o->via.array.size;
	return (PROTO_OK);
}

/*
 * Decode one entry of a STATUS reply's sems array into *s.  With parties
 * NULL the holders and waiters are only validated and counted (s->holders
 * and s->waiters stay NULL); else they are stored from *parties on, and
 * *parties is advanced past them.
 */
static enum proto_err
sem_decode(struct dec *d, const msgpack_object *o,
    struct proto_sem_status *s, struct proto_party **parties)
{
	struct fields	 f;
	enum proto_err	 rc;
	struct proto_party *h = NULL, *w = NULL;
	int		 has_rate;

	if (o->type != MSGPACK_OBJECT_MAP)
		return (dec_fail(d, PROTO_E_BAD_REQUEST, "must be a map"));
	fields_scan(o, &f);
	if ((rc = get_name(d, &f, PK_SEM, 1, s->sem, NULL, NULL)) !=
	    PROTO_OK ||
	    (rc = get_u32(d, &f, PK_CAPACITY, 1, 0, PROTO_MAX_CAPACITY,
	    &s->capacity, NULL)) != PROTO_OK ||
	    (rc = get_rate(d, &f, &has_rate, &s->rate, &s->burst)) !=
	    PROTO_OK ||
	    (rc = get_uint(d, &f, PK_NEXT_GRANT_MS, 0, 0, UINT64_MAX,
	    &s->next_grant_ms, NULL)) != PROTO_OK ||
	    (rc = get_u32(d, &f, PK_HELD, 1, 0, UINT32_MAX, &s->held,
	    NULL)) != PROTO_OK ||
	    (rc = get_u32(d, &f, PK_WAITING, 1, 0, UINT32_MAX, &s->waiting,
	    NULL)) != PROTO_OK)
		return (rc);
	if (s->capacity == 0 && !has_rate)
		return (dec_fail(d, PROTO_E_BAD_REQUEST, "'capacity' is 0 "
		    "without a 'rate'"));
	if (parties != NULL)
		h = *parties;
	if ((rc = party_list(d, &f, PK_HOLDERS, h, &s->nholders)) != PROTO_OK)
		return (rc);
	if (parties != NULL)
		w = h + s->nholders;
	if ((rc = party_list(d, &f, PK_WAITERS, w, &s->nwaiters)) != PROTO_OK)
		return (rc);
	if ((rc = get_bool(d, &f, PK_DECLARED, &s->declared)) != PROTO_OK ||
	    (rc = get_bool(d, &f, PK_DRAINED, &s->drained)) != PROTO_OK)
		return (rc);
	if (parties != NULL) {
		s->holders = s->nholders > 0 ? h : NULL;
		s->waiters = s->nwaiters > 0 ? w : NULL;
		*parties = w + s->nwaiters;
	}
	return (PROTO_OK);
}

/*
 * Decode the sems list of a STATUS reply.  The first pass validates
 * everything and counts holders and waiters, so that memory is allocated
 * only for a valid reply, in one block: rep->sems first, then every
 * party.  proto_reply_free frees that block.  Valid entries take at least
 * 50 body bytes each and parties at least 20, so the block is at most a
 * few times the body size.
 */
static enum proto_err
status_decode(struct dec *d, const struct fields *f, struct proto_reply *rep)
{
	const msgpack_object	*o;
	struct proto_sem_status	 scratch;
	struct proto_party	*parties;
	enum proto_err		 rc;
	uint32_t		 i, n;
	size_t			 nparties = 0;
	void			*block;

	if ((rc = field_get(d, f, PK_SEMS, &o)) != PROTO_OK)
		return (rc);
	if (o == NULL)
		return (dec_fail(d, PROTO_E_BAD_REQUEST,
		    "'sems' is required (an array)"));
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return (dec_fail(d, PROTO_E_BAD_REQUEST,
		    "'sems' must be an array"));
	n = o->via.array.size;
	for (i = 0; i < n; i++) {
		d->sem_idx = i;
		rc = sem_decode(d, &o->via.array.ptr[i], &scratch, NULL);
		if (rc != PROTO_OK)
			return (rc);
		nparties += scratch.nholders + scratch.nwaiters;
	}
	d->sem_idx = -1;
	if (n == 0)
		return (PROTO_OK);

	block = calloc(1, n * sizeof *rep->sems + nparties * sizeof *parties +
	    d->text);
	if (block == NULL)
		return (dec_fail(d, PROTO_E_LIMIT,
		    "out of memory decoding a STATUS reply"));
	rep->sems = block;
	rep->nsems = n;
	parties = (struct proto_party *)(rep->sems + n);
	/* The party texts go after the parties (d->text bytes). */
	d->textp = (char *)(parties + nparties);
	for (i = 0; i < n; i++) {
		/* Validated above: cannot fail. */
		rc = sem_decode(d, &o->via.array.ptr[i], &rep->sems[i],
		    &parties);
		if (rc != PROTO_OK) {
			proto_reply_free(rep);
			return (rc);
		}
	}
	return (PROTO_OK);
}

/*
 * Decode the optional 'sems' of an ACQUIRED or RELEASED: the semaphores
 * of a grant of several, 1..PROTO_MAX_SEMS maps {sem, weight}.
 */
static enum proto_err
parts_decode(struct dec *d, const struct fields *f, struct proto_reply *rep)
{
	const msgpack_object	*o;
	struct fields		 g;
	enum proto_err		 rc;
	uint32_t		 i;

	if ((rc = field_get(d, f, PK_SEMS, &o)) != PROTO_OK || o == NULL)
		return (rc);
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size == 0 ||
	    o->via.array.size > PROTO_MAX_SEMS)
		return (dec_fail(d, PROTO_E_BAD_REQUEST, "'sems' must be an "
		    "array of 1..%d maps {sem, weight}", PROTO_MAX_SEMS));
	for (i = 0; i < o->via.array.size; i++) {
		d->sem_idx = i;
		if (o->via.array.ptr[i].type != MSGPACK_OBJECT_MAP)
			return (dec_fail(d, PROTO_E_BAD_REQUEST,
			    "must be a map {sem, weight}"));
		fields_scan(&o->via.array.ptr[i], &g);
		if ((rc = get_name(d, &g, PK_SEM, 1, rep->parts[i].sem, NULL,
		    NULL)) != PROTO_OK ||
		    (rc = get_u32(d, &g, PK_WEIGHT, 1, 0, PROTO_MAX_CAPACITY,
		    &rep->parts[i].weight, NULL)) != PROTO_OK)
			return (rc);
	}
	d->sem_idx = -1;
	rep->nparts = o->via.array.size;
	return (PROTO_OK);
}

/*
 * Decode histogram field k (PK_WAIT, PK_HOLD) of a STATS entry, an array of
 * exactly PROTO_HIST_BUCKETS counts, and its sum field sum_k.
 */
static enum proto_err
hist_decode(struct dec *d, const struct fields *f, enum proto_key k,
    enum proto_key sum_k, struct proto_hist *h)
{
	const msgpack_object	*o, *e;
	enum proto_err		 rc;
	uint32_t		 i;

	if ((rc = field_get(d, f, k, &o)) != PROTO_OK)
		return (rc);
	if (o == NULL || o->type != MSGPACK_OBJECT_ARRAY ||
	    o->via.array.size != PROTO_HIST_BUCKETS)
		return (dec_fail(d, PROTO_E_BAD_REQUEST, "'%s' must be an "
		    "array of %d counts", proto_keys[k].name,
		    PROTO_HIST_BUCKETS));
	for (i = 0; i < PROTO_HIST_BUCKETS; i++) {
		e = &o->via.array.ptr[i];
		if (e->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return (dec_fail(d, PROTO_E_BAD_REQUEST, "'%s' must "
			    "hold non-negative integers", proto_keys[k].name));
		h->count[i] = e->via.u64;
	}
	return (get_uint(d, f, sum_k, 1, 0, UINT64_MAX, &h->sum_ms, NULL));
}

/* Decode one entry of a STATS reply's sems array into *s. */
static enum proto_err
stats_entry_decode(struct dec *d, const msgpack_object *o,
    struct proto_sem_stats *s)
{
	struct fields	 f;
	enum proto_err	 rc;

	if (o->type != MSGPACK_OBJECT_MAP)
		return (dec_fail(d, PROTO_E_BAD_REQUEST, "must be a map"));
	fields_scan(o, &f);
	if ((rc = get_name(d, &f, PK_SEM, 1, s->sem, NULL, NULL)) !=
	    PROTO_OK ||
	    (rc = get_u32(d, &f, PK_CAPACITY, 1, 0, PROTO_MAX_CAPACITY,
	    &s->capacity, NULL)) != PROTO_OK ||
	    (rc = get_u32(d, &f, PK_HELD, 1, 0, UINT32_MAX, &s->held,
	    NULL)) != PROTO_OK ||
	    (rc = get_u32(d, &f, PK_WAITING, 1, 0, UINT32_MAX, &s->waiting,
	    NULL)) != PROTO_OK ||
	    (rc = get_uint(d, &f, PK_GRANTS, 1, 0, UINT64_MAX, &s->grants,
	    NULL)) != PROTO_OK ||
	    (rc = get_uint(d, &f, PK_TIMEOUTS, 1, 0, UINT64_MAX,
	    &s->timeouts, NULL)) != PROTO_OK ||
	    (rc = get_uint(d, &f, PK_WITHDRAWALS, 1, 0, UINT64_MAX,
	    &s->withdrawals, NULL)) != PROTO_OK ||
	    (rc = get_uint(d, &f, PK_RELEASES, 1, 0, UINT64_MAX,
	    &s->releases, NULL)) != PROTO_OK ||
	    (rc = get_uint(d, &f, PK_DISCONNECTS, 1, 0, UINT64_MAX,
	    &s->disconnects, NULL)) != PROTO_OK ||
	    (rc = get_uint(d, &f, PK_REVOKES, 0, 0, UINT64_MAX,
	    &s->revokes, NULL)) != PROTO_OK ||
	    (rc = get_u32(d, &f, PK_MAX_WAITING, 1, 0, UINT32_MAX,
	    &s->max_waiting, NULL)) != PROTO_OK ||
	    (rc = get_uint(d, &f, PK_RECENT_HOLD_MS, 0, 0, UINT64_MAX,
	    &s->recent_hold_ms, NULL)) != PROTO_OK)
		return (rc);
	if ((rc = hist_decode(d, &f, PK_WAIT, PK_WAIT_SUM_MS, &s->wait)) !=
	    PROTO_OK)
		return (rc);
	return (hist_decode(d, &f, PK_HOLD, PK_HOLD_SUM_MS, &s->hold));
}

/*
 * Decode a STATS reply: the daemon's figures, the bucket bounds (which
 * must be ours: a client cannot read histograms with other buckets), and
 * the sems list into one block, rep->stats, freed by proto_reply_free.
 * Valid entries take well over 100 body bytes, so the block is at most a
 * few times the body size.
 */
static enum proto_err
stats_decode(struct dec *d, const struct fields *f, struct proto_reply *rep)
{
	const msgpack_object	*o, *b;
	enum proto_err		 rc;
	uint32_t		 i, n;

	if ((rc = get_uint(d, f, PK_UPTIME_MS, 1, 0, UINT64_MAX,
	    &rep->uptime_ms, NULL)) != PROTO_OK ||
	    (rc = get_u32(d, f, PK_CONNECTIONS, 1, 0, UINT32_MAX,
	    &rep->connections, NULL)) != PROTO_OK ||
	    (rc = get_u32(d, f, PK_SEMAPHORES, 1, 0, UINT32_MAX,
	    &rep->semaphores, NULL)) != PROTO_OK)
		return (rc);
	if ((rc = field_get(d, f, PK_BUCKET_MS, &o)) != PROTO_OK)
		return (rc);
	if (o == NULL || o->type != MSGPACK_OBJECT_ARRAY ||
	    o->via.array.size != PROTO_HIST_BOUNDS)
		return (dec_fail(d, PROTO_E_BAD_REQUEST, "'bucket_ms' must be "
		    "an array of %d bounds", PROTO_HIST_BOUNDS));
	for (i = 0; i < PROTO_HIST_BOUNDS; i++) {
		b = &o->via.array.ptr[i];
		if (b->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    b->via.u64 != proto_hist_bounds_ms[i])
			return (dec_fail(d, PROTO_E_BAD_REQUEST, "'bucket_ms' "
			    "are not the buckets this client knows"));
	}
	if ((rc = field_get(d, f, PK_SEMS, &o)) != PROTO_OK)
		return (rc);
	if (o == NULL || o->type != MSGPACK_OBJECT_ARRAY)
		return (dec_fail(d, PROTO_E_BAD_REQUEST,
		    "'sems' is required (an array)"));
	n = o->via.array.size;
	if (n == 0)
		return (PROTO_OK);
	if ((rep->stats = calloc(n, sizeof *rep->stats)) == NULL)
		return (dec_fail(d, PROTO_E_LIMIT,
		    "out of memory decoding a STATS reply"));
	rep->nstats = n;
	for (i = 0; i < n; i++) {
		d->sem_idx = i;
		rc = stats_entry_decode(d, &o->via.array.ptr[i],
		    &rep->stats[i]);
		if (rc != PROTO_OK) {
			proto_reply_free(rep);
			return (rc);
		}
	}
	d->sem_idx = -1;
	return (PROTO_OK);
}

/*
 * The fields of an ERROR reply: message, then code, so the message
 * survives a code this version does not know (BAD_REQUEST with
 * rep->message set).
 */
static enum proto_err
error_fields(struct dec *d, const struct fields *f, struct proto_reply *rep)
{
	const msgpack_object	*o;
	enum proto_err		 rc;
	char			 ex[40];

	if ((rc = get_text(d, f, PK_MESSAGE, 1, rep->message)) != PROTO_OK)
		return (rc);
	if ((rc = field_get(d, f, PK_CODE, &o)) != PROTO_OK)
		return (rc);
	if (o == NULL || o->type != MSGPACK_OBJECT_STR)
		return (dec_fail(d, PROTO_E_BAD_REQUEST,
		    "'code' must be a string such as \"NOT_HELD\""));
	rep->code = proto_err_from_name(o->via.str.ptr, o->via.str.size);
	if (rep->code == PROTO_OK) {
		dec_excerpt(ex, sizeof ex, o->via.str.ptr, o->via.str.size);
		return (dec_fail(d, PROTO_E_BAD_REQUEST,
		    "unknown error code \"%s\"", ex));
	}
	return (PROTO_OK);
}

/*
 * The fields of an ADMIN reply: action and message, what the action
 * reports (all optional), and for "list" the semaphores as in STATUS.
 */
static enum proto_err
admin_reply_fields(struct dec *d, const struct fields *f,
    struct proto_reply *rep)
{
	enum proto_err	 rc;

	if ((rc = get_action(d, f, &rep->action)) != PROTO_OK ||
	    (rc = get_text(d, f, PK_MESSAGE, 0, rep->message)) != PROTO_OK ||
	    (rc = get_name(d, f, PK_SEM, 0, rep->sem, NULL, NULL)) !=
	    PROTO_OK ||
	    (rc = get_u32(d, f, PK_CAPACITY, 0, 0, UINT32_MAX,
	    &rep->capacity, NULL)) != PROTO_OK ||
	    (rc = get_u32(d, f, PK_HELD, 0, 0, UINT32_MAX, &rep->held,
	    NULL)) != PROTO_OK ||
	    (rc = get_u32(d, f, PK_WAITING, 0, 0, UINT32_MAX, &rep->waiting,
	    NULL)) != PROTO_OK ||
	    (rc = get_u32(d, f, PK_REVOKED, 0, 0, UINT32_MAX, &rep->revoked,
	    NULL)) != PROTO_OK ||
	    (rc = get_bool(d, f, PK_TRUNCATED, &rep->truncated)) != PROTO_OK)
		return (rc);
	if (rep->action == PROTO_ADMIN_LIST)
		return (status_decode(d, f, rep));
	return (PROTO_OK);
}

/* Decode the fields of a reply whose op and id are known. */
static enum proto_err
reply_fields(struct dec *d, const struct fields *f, void *msg)
{
	struct proto_reply	*rep = msg;
	enum proto_err		 rc;

	switch (rep->op) {
	case PROTO_OP_HELLO:
		if ((rc = get_u32(d, f, PK_VERSION, 1, 0, UINT32_MAX,
		    &rep->version, NULL)) != PROTO_OK ||
		    (rc = get_text(d, f, PK_SERVER, 1, rep->server)) !=
		    PROTO_OK)
			return (rc);
		if ((rc = get_u32(d, f, PK_PID, 1, 0, UINT32_MAX, &rep->pid,
		    NULL)) != PROTO_OK)
			return (rc);
		return (get_uint(d, f, PK_GRACE_MS, 0, 0, UINT64_MAX,
		    &rep->grace_ms, NULL));
	case PROTO_OP_QUEUED:
		return (get_u32(d, f, PK_POSITION, 1, 1, UINT32_MAX,
		    &rep->position, NULL));
	case PROTO_OP_ACQUIRED:
	case PROTO_OP_RELEASED:
		if ((rc = get_name(d, f, PK_SEM, 1, rep->sem, NULL, NULL)) !=
		    PROTO_OK)
			return (rc);
		if ((rc = get_u32(d, f, PK_WEIGHT, 1, 1, PROTO_MAX_CAPACITY,
		    &rep->weight, NULL)) != PROTO_OK)
			return (rc);
		/* Optional: a version 1 daemon sends none (0). */
		if ((rc = get_uint(d, f, PK_TOKEN, 0, 1, UINT64_MAX,
		    &rep->token, NULL)) != PROTO_OK)
			return (rc);
		return (parts_decode(d, f, rep));
	case PROTO_OP_TIMEOUT:
		return (PROTO_OK);
	case PROTO_OP_ERROR:
		return (error_fields(d, f, rep));
	case PROTO_OP_STATUS:
		if ((rc = get_bool(d, f, PK_TRUNCATED, &rep->truncated)) !=
		    PROTO_OK)
			return (rc);
		return (status_decode(d, f, rep));
	case PROTO_OP_ADMIN:
		return (admin_reply_fields(d, f, rep));
	case PROTO_OP_REVOKED:
		if ((rc = get_name(d, f, PK_SEM, 1, rep->sem, NULL, NULL)) !=
		    PROTO_OK)
			return (rc);
		return (get_uint(d, f, PK_TOKEN, 0, 0, UINT64_MAX, &rep->token,
		    NULL));
	case PROTO_OP_STATS:
		if ((rc = get_bool(d, f, PK_TRUNCATED, &rep->truncated)) !=
		    PROTO_OK)
			return (rc);
		return (stats_decode(d, f, rep));
	default:
		return (dec_fail(d, PROTO_E_UNKNOWN_OP,
		    "\"%s\" is a request, not a reply",
		    proto_op_name(rep->op)));
	}
}

/*
 * Decode one reply body.  See proto.h.  Cost: O(len), one malloc for the
 * elements of containers (none for a flat map: all but STATUS and STATS),
 * plus one block for a STATUS or STATS reply's lists.
 */
enum proto_err
proto_decode_reply(const uint8_t *body, size_t len, struct proto_reply *rep,
    char *errbuf, size_t errlen)
{
	memset(rep, 0, sizeof *rep);
	return (decode_message(body, len, "reply", &rep->id, &rep->op,
	    reply_fields, rep, errbuf, errlen));
}

/*
 * Free the block a decoded STATUS reply owns and reset its list.  Safe on
 * any decoded or zeroed reply; not for a reply whose sems array the caller
 * built itself.
 */
void
proto_reply_free(struct proto_reply *rep)
{
	free(rep->sems);
	rep->sems = NULL;
	rep->nsems = 0;
	free(rep->stats);
	rep->stats = NULL;
	rep->nstats = 0;
}
