/*
 * test_proto.c -- unit tests of proto/: frames, names, request and reply
 * round trips, strict validation of every field, hostile bodies, STATUS
 * truncation, and the hex frames printed in proto/PROTOCOL.md.
 *
 * Test bodies are built with mp_*(), a tiny msgpack writer of its own, so
 * the decoder is checked against an encoder other than msgpack-c's.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "unit.h"

/* A growable byte string for building msgpack bodies by hand. */
struct mp {
	uint8_t	*b;
	size_t	 n;
	size_t	 cap;
};

static char	 err[PROTO_MAX_TEXT + 1];

static void
mp_raw(struct mp *m, const void *p, size_t n)
{
	if (m->n + n > m->cap) {
		m->cap = (m->n + n) * 2 + 64;
		m->b = realloc(m->b, m->cap);
		ck_assert_ptr_nonnull(m->b);
	}
	if (n > 0)
		memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void
mp_byte(struct mp *m, uint8_t b)
{
	mp_raw(m, &b, 1);
}

static void
mp_be(struct mp *m, uint64_t v, int bytes)
{
	while (bytes-- > 0)
		mp_byte(m, (uint8_t)(v >> (8 * bytes)));
}

static void
mp_free(struct mp *m)
{
	free(m->b);
	memset(m, 0, sizeof *m);
}

/* Container header: base is 0x80 (map) or 0x90 (array). */
static void
mp_cont(struct mp *m, int map, uint32_t n)
{
	if (n < 16)
		mp_byte(m, (uint8_t)((map ? 0x80 : 0x90) | n));
	else if (n < 65536) {
		mp_byte(m, map ? 0xde : 0xdc);
		mp_be(m, n, 2);
	} else {
		mp_byte(m, map ? 0xdf : 0xdd);
		mp_be(m, n, 4);
	}
}

static void
mp_map(struct mp *m, uint32_t n)
{
	mp_cont(m, 1, n);
}

static void
mp_arr(struct mp *m, uint32_t n)
{
	mp_cont(m, 0, n);
}

static void
mp_strn(struct mp *m, const char *s, size_t n)
{
	if (n < 32)
		mp_byte(m, (uint8_t)(0xa0 | n));
	else if (n < 256) {
		mp_byte(m, 0xd9);
		mp_be(m, n, 1);
	} else if (n < 65536) {
		mp_byte(m, 0xda);
		mp_be(m, n, 2);
	} else {
		mp_byte(m, 0xdb);
		mp_be(m, n, 4);
	}
	mp_raw(m, s, n);
}

static void
mp_str(struct mp *m, const char *s)
{
	mp_strn(m, s, strlen(s));
}

static void
mp_uint(struct mp *m, uint64_t v)
{
	if (v < 128)
		mp_byte(m, (uint8_t)v);
	else if (v < 256) {
		mp_byte(m, 0xcc);
		mp_be(m, v, 1);
	} else if (v < 65536) {
		mp_byte(m, 0xcd);
		mp_be(m, v, 2);
	} else if (v <= UINT32_MAX) {
		mp_byte(m, 0xce);
		mp_be(m, v, 4);
	} else {
		mp_byte(m, 0xcf);
		mp_be(m, v, 8);
	}
}

/* A negative integer (v < 0). */
static void
mp_neg(struct mp *m, int64_t v)
{
	if (v >= -32)
		mp_byte(m, (uint8_t)(int8_t)v);
	else {
		mp_byte(m, 0xd3);
		mp_be(m, (uint64_t)v, 8);
	}
}

/* Parse hex ("0a ff", spaces ignored) into m. */
static void
mp_hex(struct mp *m, const char *hex)
{
	unsigned int	 v;

	while (*hex != '\0') {
		if (*hex == ' ' || *hex == '\n') {
			hex++;
			continue;
		}
		ck_assert_int_eq(sscanf(hex, "%2x", &v), 1);
		mp_byte(m, (uint8_t)v);
		hex += 2;
	}
}

/* Value kinds for table-driven bodies. */
enum vk {
	V_UINT, V_NEG, V_STR, V_STRN, V_NIL, V_TRUE, V_FLOAT, V_ARR, V_MAP,
	V_BIN, V_ABSENT
};

struct fv {
	const char	*key;
	enum vk		 kind;
	uint64_t	 u;
	const char	*s;
	size_t		 slen;		/* V_STRN */
};

static void
mp_value(struct mp *m, const struct fv *f)
{
	switch (f->kind) {
	case V_UINT:
		mp_uint(m, f->u);
		break;
	case V_NEG:
		mp_neg(m, -(int64_t)f->u);
		break;
	case V_STR:
		mp_str(m, f->s);
		break;
	case V_STRN:
		mp_strn(m, f->s, f->slen);
		break;
	case V_NIL:
		mp_byte(m, 0xc0);
		break;
	case V_TRUE:
		mp_byte(m, 0xc3);
		break;
	case V_FLOAT:
		mp_byte(m, 0xcb);
		mp_be(m, 0x3ff0000000000000ULL, 8);	/* 1.0 */
		break;
	case V_ARR:
		mp_arr(m, 1);
		mp_uint(m, 1);
		break;
	case V_MAP:
		mp_map(m, 1);
		mp_str(m, "k");
		mp_uint(m, 1);
		break;
	case V_BIN:
		mp_byte(m, 0xc4);
		mp_byte(m, 1);
		mp_byte(m, 1);
		break;
	case V_ABSENT:
		break;
	}
}

/* Build a map body from n field specs (V_ABSENT ones left out). */
static void
mp_fields(struct mp *m, const struct fv *f, size_t n)
{
	size_t	 i, count = 0;

	for (i = 0; i < n; i++)
		count += f[i].kind != V_ABSENT;
	mp_map(m, (uint32_t)count);
	for (i = 0; i < n; i++) {
		if (f[i].kind == V_ABSENT)
			continue;
		mp_str(m, f[i].key);
		mp_value(m, &f[i]);
	}
}

static enum proto_err
dreq(const struct mp *m, struct proto_request *req)
{
	return (proto_decode_request(m->b, m->n, req, err, sizeof err));
}

static enum proto_err
drep(const struct mp *m, struct proto_reply *rep)
{
	return (proto_decode_reply(m->b, m->n, rep, err, sizeof err));
}

/* Check that buf holds exactly one frame and return its body length. */
static uint32_t
one_frame(const struct proto_buf *buf)
{
	uint32_t	 n = 0;

	ck_assert_int_eq(proto_frame_check(buf->data, buf->len, &n), 1);
	ck_assert_uint_eq(PROTO_HDR_LEN + n, buf->len);
	return (n);
}

/* Encode req, decode it back into *out; the frame must be exact. */
static void
req_roundtrip(const struct proto_request *req, struct proto_request *out)
{
	struct proto_buf	 buf = { 0 };
	uint32_t		 n;

	ck_assert_int_eq(proto_encode_request(&buf, req), 0);
	n = one_frame(&buf);
	ck_assert_int_eq(proto_decode_request(buf.data + PROTO_HDR_LEN, n,
	    out, err, sizeof err), PROTO_OK);
	proto_buf_free(&buf);
}

/* Encode rep, decode it back into *out. */
static void
rep_roundtrip(const struct proto_reply *rep, struct proto_reply *out)
{
	struct proto_buf	 buf = { 0 };
	uint32_t		 n;

	ck_assert_int_eq(proto_encode_reply(&buf, rep), 0);
	n = one_frame(&buf);
	ck_assert_msg(proto_decode_reply(buf.data + PROTO_HDR_LEN, n,
	    out, err, sizeof err) == PROTO_OK, "decode: %s", err);
	proto_buf_free(&buf);
}

/* Assert that n parties are equal field by field (padding aside). */
static void
parties_eq(const struct proto_party *a, const struct proto_party *b, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		ck_assert_uint_eq(a[i].pid, b[i].pid);
		ck_assert_uint_eq(a[i].uid, b[i].uid);
		ck_assert_uint_eq(a[i].weight, b[i].weight);
		ck_assert(a[i].ms == b[i].ms);
		ck_assert_uint_eq(a[i].worker_pid, b[i].worker_pid);
		ck_assert_str_eq(a[i].client != NULL ? a[i].client : "",
		    b[i].client != NULL ? b[i].client : "");
		ck_assert_str_eq(a[i].worker_cmd != NULL ? a[i].worker_cmd : "",
		    b[i].worker_cmd != NULL ? b[i].worker_cmd : "");
		ck_assert_str_eq(a[i].host != NULL ? a[i].host : "",
		    b[i].host != NULL ? b[i].host : "");
	}
}

/* Names of ops and codes map both ways; unknown names map to nothing. */
START_TEST(test_names)
{
	const char	*s;
	int		 i;

	for (i = PROTO_OP_HELLO; i <= PROTO_OP_ERROR; i++) {
		s = proto_op_name((enum proto_op)i);
		ck_assert_ptr_nonnull(s);
		ck_assert_int_eq(proto_op_from_name(s, strlen(s)), i);
	}
	for (i = PROTO_E_BAD_FRAME; i <= PROTO_E_DENIED; i++) {
		s = proto_err_name((enum proto_err)i);
		ck_assert_ptr_nonnull(s);
		ck_assert_int_eq(proto_err_from_name(s, strlen(s)), i);
	}
	ck_assert_str_eq(proto_op_name(PROTO_OP_ACQUIRE), "ACQUIRE");
	ck_assert_str_eq(proto_err_name(PROTO_E_NOT_HELD), "NOT_HELD");
	ck_assert_ptr_null(proto_op_name(PROTO_OP_NONE));
	ck_assert_ptr_null(proto_op_name((enum proto_op)99));
	ck_assert_ptr_null(proto_err_name((enum proto_err)99));
	ck_assert_int_eq(proto_op_from_name("acquire", 7), PROTO_OP_NONE);
	ck_assert_int_eq(proto_op_from_name("ACQUIR", 6), PROTO_OP_NONE);
	ck_assert_int_eq(proto_op_from_name("ACQUIRES", 8), PROTO_OP_NONE);
	ck_assert_int_eq(proto_op_from_name("", 0), PROTO_OP_NONE);
	ck_assert_int_eq(proto_err_from_name("OK", 2), PROTO_OK);
	ck_assert_int_eq(proto_err_from_name("NOT_HELDX", 9), PROTO_OK);
}
END_TEST

/*
 * The map keys of PROTO_KEYS: each names itself with its length, is a
 * fixstr (the encoder packs keys so), and is spelled once.
 */
START_TEST(test_keys)
{
	int	 i, j;

	for (i = 0; i < PK_COUNT; i++) {
		ck_assert_uint_eq(strlen(proto_keys[i].name),
		    proto_keys[i].len);
		ck_assert_uint_gt(proto_keys[i].len, 0);
		ck_assert_uint_lt(proto_keys[i].len, 32);
		for (j = 0; j < i; j++)
			ck_assert_str_ne(proto_keys[i].name,
			    proto_keys[j].name);
	}
	ck_assert_str_eq(proto_keys[PK_WEIGHT].name, "weight");
}
END_TEST

/* Names: the allowed alphabet and 1..128 bytes, nothing else. */
START_TEST(test_name_valid)
{
	char	 buf[PROTO_MAX_NAME + 2];

	ck_assert_int_eq(proto_name_valid("api-x", 5), 1);
	ck_assert_int_eq(proto_name_valid("Az09._-:@/+", 11), 1);
	ck_assert_int_eq(proto_name_valid("a", 1), 1);
	memset(buf, 'n', sizeof buf);
	ck_assert_int_eq(proto_name_valid(buf, PROTO_MAX_NAME), 1);
	ck_assert_int_eq(proto_name_valid(buf, PROTO_MAX_NAME + 1), 0);
	ck_assert_int_eq(proto_name_valid("", 0), 0);
	ck_assert_int_eq(proto_name_valid("a b", 3), 0);
	ck_assert_int_eq(proto_name_valid("a\0b", 3), 0);
	ck_assert_int_eq(proto_name_valid("caf\xc3\xa9", 5), 0);
	ck_assert_int_eq(proto_name_valid("a?b", 3), 0);
	ck_assert_int_eq(proto_name_valid("a*", 2), 0);
	ck_assert_int_eq(proto_name_valid("a\n", 2), 0);
	ck_assert_int_eq(proto_name_valid("a,b", 3), 0);
}
END_TEST

/* frame_check: need more, whole frame, and invalid prefixes. */
START_TEST(test_frame_check)
{
	uint8_t		 b[8] = { 0, 0, 0, 3, 0x80, 0x80, 0x80, 0x80 };
	uint8_t		 zero[4] = { 0, 0, 0, 0 };
	uint8_t		 big[4] = { 0, 1, 0, 1 };	/* 65537 */
	uint8_t		 max[4] = { 0, 1, 0, 0 };	/* 65536 */
	uint8_t		 huge[4] = { 0xff, 0xff, 0xff, 0xff };
	uint32_t	 n;
	size_t		 i;

	for (i = 0; i < PROTO_HDR_LEN; i++) {
		n = 12345;
		ck_assert_int_eq(proto_frame_check(b, i, &n), 0);
		ck_assert_uint_eq(n, 12345);
	}
	for (i = PROTO_HDR_LEN; i < 7; i++) {
		ck_assert_int_eq(proto_frame_check(b, i, &n), 0);
		ck_assert_uint_eq(n, 3);
	}
	ck_assert_int_eq(proto_frame_check(b, 7, &n), 1);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(proto_frame_check(b, 8, &n), 1);
	ck_assert_int_eq(proto_frame_check(zero, 4, &n), -1);
	ck_assert_int_eq(proto_frame_check(big, 4, &n), -1);
	ck_assert_int_eq(proto_frame_check(huge, 4, &n), -1);
	ck_assert_int_eq(proto_frame_check(max, 4, &n), 0);
	ck_assert_uint_eq(n, PROTO_MAX_FRAME);
	b[3] = 1;
	ck_assert_int_eq(proto_frame_check(b, 5, &n), 1);
	ck_assert_uint_eq(n, 1);
}
END_TEST

/* Every request survives encode + decode with every field intact. */
START_TEST(test_request_roundtrip)
{
	struct proto_request	 q, o;

	memset(&q, 0, sizeof q);
	q.op = PROTO_OP_HELLO;
	q.id = UINT64_MAX;
	q.version = 1;
	strcpy(q.client, "semrun 0.1.0 (pid 42) \xc3\xa9");
	req_roundtrip(&q, &o);
	ck_assert_int_eq(o.op, PROTO_OP_HELLO);
	ck_assert(o.id == UINT64_MAX);
	ck_assert_uint_eq(o.version, 1);
	ck_assert_str_eq(o.client, q.client);

	q.client[0] = '\0';
	q.version = UINT32_MAX;
	req_roundtrip(&q, &o);
	ck_assert_str_eq(o.client, "");
	ck_assert_uint_eq(o.version, UINT32_MAX);
	ck_assert_uint_eq(o.worker_pid, 0);
	ck_assert_str_eq(o.worker_cmd, "");

	/* A repeated HELLO saying who does the work. */
	strcpy(q.client, "semrun");
	q.worker_pid = 4242;
	strcpy(q.worker_cmd, "sh -c 'echo hi'");
	req_roundtrip(&q, &o);
	ck_assert_uint_eq(o.worker_pid, 4242);
	ck_assert_str_eq(o.worker_cmd, "sh -c 'echo hi'");
	ck_assert_str_eq(o.client, "semrun");

	memset(&q, 0, sizeof q);
	q.op = PROTO_OP_ACQUIRE;
	q.id = 0;
	strcpy(q.sem, "db:pool/main@eu+1");
	q.has_capacity = 1;
	q.capacity = PROTO_MAX_CAPACITY;
	q.weight = PROTO_MAX_CAPACITY;
	q.timeout_ms = PROTO_MAX_TIMEOUT_MS;
	req_roundtrip(&q, &o);
	ck_assert_int_eq(o.op, PROTO_OP_ACQUIRE);
	ck_assert(o.id == 0);
	ck_assert_str_eq(o.sem, q.sem);
	ck_assert_uint_eq(o.sem_len, strlen(q.sem));
	ck_assert_int_eq(o.has_sem, 1);
	ck_assert_int_eq(o.has_capacity, 1);
	ck_assert_uint_eq(o.capacity, PROTO_MAX_CAPACITY);
	ck_assert_uint_eq(o.weight, PROTO_MAX_CAPACITY);
	ck_assert(o.timeout_ms == PROTO_MAX_TIMEOUT_MS);

	/* Minimal ACQUIRE: defaults. */
	q.has_capacity = 0;
	q.weight = 0;
	q.timeout_ms = -1;
	req_roundtrip(&q, &o);
	ck_assert_int_eq(o.has_capacity, 0);
	ck_assert_uint_eq(o.capacity, 0);
	ck_assert_uint_eq(o.weight, 1);
	ck_assert(o.timeout_ms == -1);

	q.timeout_ms = 0;		/* try */
	req_roundtrip(&q, &o);
	ck_assert(o.timeout_ms == 0);

	memset(&q, 0, sizeof q);
	q.op = PROTO_OP_RELEASE;
	q.id = 77;
	strcpy(q.sem, "x");
	q.weight = 3;
	req_roundtrip(&q, &o);
	ck_assert_int_eq(o.op, PROTO_OP_RELEASE);
	ck_assert(o.id == 77);
	ck_assert_str_eq(o.sem, "x");
	ck_assert_uint_eq(o.weight, 3);
	ck_assert(o.timeout_ms == 0);	/* unused by RELEASE: zeroed */

	/* RECLAIM: token and sem required, capacity and weight not. */
	memset(&q, 0, sizeof q);
	q.op = PROTO_OP_RECLAIM;
	q.id = 78;
	strcpy(q.sem, "x");
	q.token = UINT64_MAX;
	q.has_capacity = 1;
	q.capacity = 4;
	q.weight = 2;
	req_roundtrip(&q, &o);
	ck_assert_int_eq(o.op, PROTO_OP_RECLAIM);
	ck_assert_str_eq(o.sem, "x");
	ck_assert_int_eq(o.has_token, 1);
	ck_assert(o.token == UINT64_MAX);
	ck_assert_int_eq(o.has_capacity, 1);
	ck_assert_uint_eq(o.capacity, 4);
	ck_assert_uint_eq(o.weight, 2);
	q.has_capacity = 0;
	q.weight = 0;
	req_roundtrip(&q, &o);
	ck_assert_int_eq(o.has_capacity, 0);
	ck_assert_uint_eq(o.weight, 1);

	memset(&q, 0, sizeof q);
	q.op = PROTO_OP_TIMEOUT;
	q.id = 1ULL << 40;
	req_roundtrip(&q, &o);
	ck_assert_int_eq(o.op, PROTO_OP_TIMEOUT);
	ck_assert(o.id == 1ULL << 40);

	memset(&q, 0, sizeof q);
	q.op = PROTO_OP_STATUS;
	q.id = 5;
	req_roundtrip(&q, &o);
	ck_assert_int_eq(o.op, PROTO_OP_STATUS);
	ck_assert_int_eq(o.has_sem, 0);
	ck_assert_str_eq(o.sem, "");
	q.has_sem = 1;
	strcpy(q.sem, "api-x");
	req_roundtrip(&q, &o);
	ck_assert_int_eq(o.has_sem, 1);
	ck_assert_str_eq(o.sem, "api-x");
	ck_assert_uint_eq(o.sem_len, 5);
}
END_TEST

/* Every reply survives encode + decode. */
START_TEST(test_reply_roundtrip)
{
	struct proto_reply	 r, o;
	int			 c;

	memset(&r, 0, sizeof r);
	r.op = PROTO_OP_HELLO;
	r.id = 1;
	r.version = 1;
	strcpy(r.server, "semd 0.1.0");
	r.pid = 4242;
	rep_roundtrip(&r, &o);
	ck_assert_int_eq(o.op, PROTO_OP_HELLO);
	ck_assert_uint_eq(o.version, 1);
	ck_assert_str_eq(o.server, "semd 0.1.0");
	ck_assert_uint_eq(o.pid, 4242);

	memset(&r, 0, sizeof r);
	r.op = PROTO_OP_QUEUED;
	r.id = UINT64_MAX;
	r.position = 70000;
	rep_roundtrip(&r, &o);
	ck_assert_int_eq(o.op, PROTO_OP_QUEUED);
	ck_assert(o.id == UINT64_MAX);
	ck_assert_uint_eq(o.position, 70000);

	memset(&r, 0, sizeof r);
	r.op = PROTO_OP_ACQUIRED;
	r.id = 9;
	strcpy(r.sem, "api-x");
	r.weight = 2;
	r.token = UINT64_MAX;
	rep_roundtrip(&r, &o);
	ck_assert_int_eq(o.op, PROTO_OP_ACQUIRED);
	ck_assert_str_eq(o.sem, "api-x");
	ck_assert_uint_eq(o.weight, 2);
	ck_assert(o.token == UINT64_MAX);
	r.token = 0;

	r.op = PROTO_OP_RELEASED;
	rep_roundtrip(&r, &o);
	ck_assert_int_eq(o.op, PROTO_OP_RELEASED);
	ck_assert_str_eq(o.sem, "api-x");
	ck_assert_uint_eq(o.weight, 2);

	memset(&r, 0, sizeof r);
	r.op = PROTO_OP_TIMEOUT;
	r.id = 12;
	rep_roundtrip(&r, &o);
	ck_assert_int_eq(o.op, PROTO_OP_TIMEOUT);
	ck_assert(o.id == 12);

	for (c = PROTO_E_BAD_FRAME; c <= PROTO_E_DENIED; c++) {
		memset(&r, 0, sizeof r);
		r.op = PROTO_OP_ERROR;
		r.id = (uint64_t)c;
		r.code = (enum proto_err)c;
		snprintf(r.message, sizeof r.message, "error %d", c);
		rep_roundtrip(&r, &o);
		ck_assert_int_eq(o.op, PROTO_OP_ERROR);
		ck_assert_int_eq(o.code, c);
		ck_assert_str_eq(o.message, r.message);
		ck_assert(o.id == (uint64_t)c);
	}
}
END_TEST

/*
 * A small STATUS listing round-trips exactly and is not truncated; a rate
 * without a burst is sent without one (the map's header counts what is
 * sent).
 */
START_TEST(test_status_roundtrip)
{
	/* The first holder says who works for it (HELLO's fields). */
	struct proto_party	 h[2] = {
		{ .pid = 10, .uid = 1000, .weight = 2, .ms = 1500,
		    .worker_pid = 12, .client = "semrun",
		    .worker_cmd = "make -j4 'a b'" },
		{ .pid = 11, .uid = 0, .weight = 1, .ms = UINT64_MAX },
	};
	/* The first waiter is on another host (a cluster semaphore). */
	struct proto_party	 w[3] = {
		{ .pid = 20, .uid = 1001, .weight = 1, .ms = 5,
		    .worker_cmd = "curl x", .host = "web2" },
		{ .pid = 21, .uid = 1002, .weight = 3, .ms = 0 },
		{ .pid = UINT32_MAX, .uid = UINT32_MAX,
		    .weight = PROTO_MAX_CAPACITY, .ms = 1ULL << 33 },
	};
	struct proto_sem_status	 s[3];
	struct proto_reply	 r, o;
	size_t			 i;

	memset(s, 0, sizeof s);
	strcpy(s[0].sem, "api-x");
	s[0].capacity = 3;
	s[0].held = 3;
	s[0].waiting = 3;
	s[0].holders = h;
	s[0].nholders = 2;
	s[0].waiters = w;
	s[0].nwaiters = 3;
	strcpy(s[1].sem, "idle");		/* empty lists */
	s[1].capacity = 1;
	s[1].rate = 2.5;			/* a rate without a burst */
	s[1].next_grant_ms = 400;
	strcpy(s[2].sem, "only-holders");
	s[2].capacity = 5;
	s[2].rate = 1000;
	s[2].burst = 4;
	s[2].held = 2;
	s[2].holders = h;
	s[2].nholders = 2;

	memset(&r, 0, sizeof r);
	r.op = PROTO_OP_STATUS;
	r.id = 3;
	r.sems = s;
	r.nsems = 3;
	rep_roundtrip(&r, &o);
	ck_assert_int_eq(o.op, PROTO_OP_STATUS);
	ck_assert_int_eq(o.truncated, 0);
	ck_assert_uint_eq(o.nsems, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_str_eq(o.sems[i].sem, s[i].sem);
		ck_assert_uint_eq(o.sems[i].capacity, s[i].capacity);
		ck_assert_uint_eq(o.sems[i].held, s[i].held);
		ck_assert_uint_eq(o.sems[i].waiting, s[i].waiting);
		ck_assert(o.sems[i].rate == s[i].rate);
		ck_assert_uint_eq(o.sems[i].burst, s[i].burst);
		ck_assert_uint_eq(o.sems[i].next_grant_ms,
		    s[i].next_grant_ms);
		ck_assert_uint_eq(o.sems[i].nholders, s[i].nholders);
		ck_assert_uint_eq(o.sems[i].nwaiters, s[i].nwaiters);
		if (s[i].nholders > 0)
			parties_eq(o.sems[i].holders, s[i].holders,
			    s[i].nholders);
		else
			ck_assert_ptr_null(o.sems[i].holders);
		if (s[i].nwaiters > 0)
			parties_eq(o.sems[i].waiters, s[i].waiters,
			    s[i].nwaiters);
		else
			ck_assert_ptr_null(o.sems[i].waiters);
	}
	proto_reply_free(&o);
	ck_assert_ptr_null(o.sems);
	ck_assert_uint_eq(o.nsems, 0);
	proto_reply_free(&o);		/* twice is harmless */

	/* The sender's own truncated flag is kept. */
	r.truncated = 1;
	rep_roundtrip(&r, &o);
	ck_assert_int_eq(o.truncated, 1);
	proto_reply_free(&o);

	/* No semaphores at all. */
	r.truncated = 0;
	r.nsems = 0;
	r.sems = NULL;
	rep_roundtrip(&r, &o);
	ck_assert_uint_eq(o.nsems, 0);
	ck_assert_ptr_null(o.sems);
	proto_reply_free(&o);
}
END_TEST

/*
 * 20,000 waiters: the body fits in PROTO_MAX_FRAME, is nearly full, lists
 * the first waiters in order, keeps the exact counts, says truncated.
 */
START_TEST(test_status_truncate_waiters)
{
	struct proto_party	*w, h[2] = {
		{ .pid = 1, .uid = 2, .weight = 1, .ms = 3 },
		{ .pid = 4, .uid = 5, .weight = 1, .ms = 6 },
	};
	struct proto_sem_status	 s[2];
	struct proto_reply	 r, o;
	struct proto_buf	 buf = { 0 };
	uint32_t		 n;
	size_t			 i;

	w = calloc(20000, sizeof *w);
	ck_assert_ptr_nonnull(w);
	for (i = 0; i < 20000; i++) {
		w[i].pid = 100000 + (uint32_t)i;
		w[i].uid = 1000;
		w[i].weight = 1;
		w[i].ms = 123456 + i;
	}
	memset(s, 0, sizeof s);
	strcpy(s[0].sem, "busy");
	s[0].capacity = 2;
	s[0].held = 2;
	s[0].waiting = 20000;
	s[0].holders = h;
	s[0].nholders = 2;
	s[0].waiters = w;
	s[0].nwaiters = 20000;
	strcpy(s[1].sem, "calm");
	s[1].capacity = 9;
	s[1].held = 1;
	s[1].holders = h;
	s[1].nholders = 1;
	s[1].waiting = 0;
	memset(&r, 0, sizeof r);
	r.op = PROTO_OP_STATUS;
	r.id = 8;
	r.sems = s;
	r.nsems = 2;

	ck_assert_int_eq(proto_encode_reply(&buf, &r), 0);
	n = one_frame(&buf);
	ck_assert_uint_le(n, PROTO_MAX_FRAME);
	/* Nearly full: another waiter (< 64 bytes) would not have fit. */
	ck_assert_uint_gt(n, PROTO_MAX_FRAME - 64);
	ck_assert_int_eq(proto_decode_reply(buf.data + PROTO_HDR_LEN, n, &o,
	    err, sizeof err), PROTO_OK);
	ck_assert_int_eq(o.truncated, 1);
	ck_assert_uint_eq(o.nsems, 2);
	ck_assert_uint_eq(o.sems[0].waiting, 20000);
	ck_assert_uint_eq(o.sems[0].held, 2);
	ck_assert_uint_gt(o.sems[0].nwaiters, 1000);
	ck_assert_uint_lt(o.sems[0].nwaiters, 20000);
	ck_assert_uint_eq(o.sems[0].nholders, 2);
	for (i = 0; i < o.sems[0].nwaiters; i++) {
		ck_assert_uint_eq(o.sems[0].waiters[i].pid, 100000 + i);
		ck_assert(o.sems[0].waiters[i].ms == 123456 + i);
	}
	ck_assert_str_eq(o.sems[1].sem, "calm");
	ck_assert_uint_eq(o.sems[1].nholders, 1);
	proto_reply_free(&o);
	proto_buf_free(&buf);
	free(w);
}
END_TEST

/*
 * The cut is as long as it can be: for lists of varied sizes, adding the
 * next waiter to the listing would overflow the frame.
 */
START_TEST(test_status_truncate_tight)
{
	struct proto_party	*w;
	struct proto_sem_status	 s;
	struct proto_reply	 r, o;
	struct proto_buf	 buf = { 0 };
	struct mp		 m = { 0 };
	uint32_t		 n;
	size_t			 i, c, total;
	unsigned int		 seed = 1 + (unsigned int)_i;

	total = 1500 + (size_t)_i * 37;
	w = calloc(total, sizeof *w);
	ck_assert_ptr_nonnull(w);
	for (i = 0; i < total; i++) {
		seed = seed * 1103515245 + 12345;
		w[i].pid = seed >> (seed % 31);
		w[i].uid = (seed >> 3) % 70000;
		w[i].weight = 1 + seed % 300;
		w[i].ms = (uint64_t)seed << (seed % 30);
	}
	memset(&s, 0, sizeof s);
	strcpy(s.sem, "s");
	s.capacity = 1;
	s.waiting = (uint32_t)total;
	s.waiters = w;
	s.nwaiters = total;
	memset(&r, 0, sizeof r);
	r.op = PROTO_OP_STATUS;
	r.sems = &s;
	r.nsems = 1;
	ck_assert_int_eq(proto_encode_reply(&buf, &r), 0);
	n = one_frame(&buf);
	ck_assert_int_eq(proto_decode_reply(buf.data + PROTO_HDR_LEN, n, &o,
	    err, sizeof err), PROTO_OK);
	c = o.sems[0].nwaiters;
	if (c == total) {
		ck_assert_int_eq(o.truncated, 0);
	} else {
		ck_assert_int_eq(o.truncated, 1);
		/* Size of waiter c as msgpack, by our own writer. */
		mp_map(&m, 4);
		mp_str(&m, "pid");
		mp_uint(&m, w[c].pid);
		mp_str(&m, "uid");
		mp_uint(&m, w[c].uid);
		mp_str(&m, "weight");
		mp_uint(&m, w[c].weight);
		mp_str(&m, "waited_ms");
		mp_uint(&m, w[c].ms);
		ck_assert_uint_gt(n + m.n, PROTO_MAX_FRAME);
	}
	parties_eq(o.sems[0].waiters, w, c);
	proto_reply_free(&o);
	proto_buf_free(&buf);
	mp_free(&m);
	free(w);
}
END_TEST

/*
 * Too many semaphores even with empty lists, in a STATUS (_i 0: a holder
 * each) and in an ADMIN list (_i 1: declared and drained flags): cut to
 * the first ones, as many as nearly fill one frame; counts, flags and
 * order kept, truncated said.
 */
START_TEST(test_truncate_sems)
{
	struct proto_party	 h = { .pid = 1, .uid = 1, .weight = 1,
				    .ms = 1 };
	struct proto_sem_status	*s;
	struct proto_reply	 r, o;
	struct proto_buf	 buf = { 0 };
	uint32_t		 n;
	size_t			 i, count = 3000;
	int			 admin = _i == 1;

	s = calloc(count, sizeof *s);
	ck_assert_ptr_nonnull(s);
	for (i = 0; i < count; i++) {
		snprintf(s[i].sem, sizeof s[i].sem, "%0100zu", i);
		s[i].capacity = 4;
		s[i].held = 1;
		s[i].waiting = 7;
		if (admin) {
			s[i].declared = i % 2;
			s[i].drained = i % 3 == 0;
		} else {
			s[i].holders = &h;
			s[i].nholders = 1;
		}
	}
	memset(&r, 0, sizeof r);
	r.op = admin ? PROTO_OP_ADMIN : PROTO_OP_STATUS;
	r.action = admin ? PROTO_ADMIN_LIST : PROTO_ADMIN_NONE;
	r.id = 1;
	r.sems = s;
	r.nsems = count;
	ck_assert_int_eq(proto_encode_reply(&buf, &r), 0);
	n = one_frame(&buf);
	ck_assert_uint_le(n, PROTO_MAX_FRAME);
	ck_assert_uint_gt(n, PROTO_MAX_FRAME - 200);
	ck_assert_int_eq(proto_decode_reply(buf.data + PROTO_HDR_LEN, n, &o,
	    err, sizeof err), PROTO_OK);
	ck_assert_int_eq(o.op, r.op);
	ck_assert_int_eq(o.action, r.action);
	ck_assert_int_eq(o.truncated, 1);
	ck_assert_uint_gt(o.nsems, 100);
	ck_assert_uint_lt(o.nsems, count);
	for (i = 0; i < o.nsems; i++) {
		ck_assert_str_eq(o.sems[i].sem, s[i].sem);
		ck_assert_uint_eq(o.sems[i].held, 1);
		ck_assert_uint_eq(o.sems[i].waiting, 7);
		ck_assert_uint_eq(o.sems[i].nholders, 0);
		ck_assert_int_eq(o.sems[i].declared, s[i].declared);
		ck_assert_int_eq(o.sems[i].drained, s[i].drained);
	}
	proto_reply_free(&o);
	proto_buf_free(&buf);
	free(s);
}
END_TEST

/* Frames append one after another; a failed encode adds nothing. */
START_TEST(test_buf_append)
{
	struct proto_buf	 buf = { 0 };
	struct proto_request	 q, o;
	struct proto_reply	 r;
	uint32_t		 n;
	size_t			 off = 0, before;
	int			 i;

	memset(&q, 0, sizeof q);
	q.op = PROTO_OP_ACQUIRE;
	strcpy(q.sem, "a");
	q.timeout_ms = -1;
	for (i = 0; i < 1000; i++) {
		q.id = (uint64_t)i;
		ck_assert_int_eq(proto_encode_request(&buf, &q), 0);
	}
	ck_assert_uint_ge(buf.cap, buf.len);
	for (i = 0; i < 1000; i++) {
		ck_assert_int_eq(proto_frame_check(buf.data + off,
		    buf.len - off, &n), 1);
		ck_assert_int_eq(proto_decode_request(buf.data + off +
		    PROTO_HDR_LEN, n, &o, err, sizeof err), PROTO_OK);
		ck_assert(o.id == (uint64_t)i);
		off += PROTO_HDR_LEN + n;
	}
	ck_assert_uint_eq(off, buf.len);

	before = buf.len;
	q.op = PROTO_OP_QUEUED;		/* not a request */
	errno = 0;
	ck_assert_int_eq(proto_encode_request(&buf, &q), -1);
	ck_assert_int_eq(errno, EINVAL);
	q.op = PROTO_OP_NONE;
	ck_assert_int_eq(proto_encode_request(&buf, &q), -1);
	memset(&r, 0, sizeof r);
	r.op = PROTO_OP_ACQUIRE;	/* not a reply */
	ck_assert_int_eq(proto_encode_reply(&buf, &r), -1);
	ck_assert_int_eq(errno, EINVAL);
	r.op = PROTO_OP_ERROR;		/* PROTO_OK is no wire code */
	ck_assert_int_eq(proto_encode_reply(&buf, &r), -1);
	ck_assert_int_eq(proto_encode_error(&buf, 1, PROTO_OK, "x"), -1);
	ck_assert_int_eq(proto_encode_error(&buf, 1, (enum proto_err)99, "x"),
	    -1);
	ck_assert_uint_eq(buf.len, before);
	proto_buf_free(&buf);
	ck_assert_ptr_null(buf.data);
	ck_assert_uint_eq(buf.len, 0);
	ck_assert_uint_eq(buf.cap, 0);
	proto_buf_free(&buf);
}
END_TEST

/* proto_encode_error: NULL message, long message cut at a character. */
START_TEST(test_encode_error)
{
	struct proto_buf	 buf = { 0 };
	struct proto_reply	 o;
	char			 msg[400];
	uint32_t		 n;

	ck_assert_int_eq(proto_encode_error(&buf, 0, PROTO_E_BAD_FRAME, NULL),
	    0);
	n = one_frame(&buf);
	ck_assert_int_eq(proto_decode_reply(buf.data + PROTO_HDR_LEN, n, &o,
	    err, sizeof err), PROTO_OK);
	ck_assert_int_eq(o.op, PROTO_OP_ERROR);
	ck_assert_int_eq(o.code, PROTO_E_BAD_FRAME);
	ck_assert_str_eq(o.message, "");
	ck_assert(o.id == 0);
	buf.len = 0;

	/* 254 'a', then a 2-byte character straddling byte 255. */
	memset(msg, 'a', 254);
	strcpy(msg + 254, "\xc3\xa9 and more text");
	ck_assert_int_eq(proto_encode_error(&buf, 5, PROTO_E_LIMIT, msg), 0);
	n = one_frame(&buf);
	ck_assert_int_eq(proto_decode_reply(buf.data + PROTO_HDR_LEN, n, &o,
	    err, sizeof err), PROTO_OK);
	ck_assert_uint_eq(strlen(o.message), 254);
	ck_assert_mem_eq(o.message, msg, 254);
	proto_buf_free(&buf);
}
END_TEST

/* Decode a HELLO whose client is the n bytes of text into *q. */
static enum proto_err
hello_client(const char *text, size_t n, struct proto_request *q)
{
	struct mp	 m = { 0 };
	enum proto_err	 rc;

	mp_map(&m, 4);
	mp_str(&m, "op");
	mp_str(&m, "HELLO");
	mp_str(&m, "id");
	mp_uint(&m, 1);
	mp_str(&m, "version");
	mp_uint(&m, 1);
	mp_str(&m, "client");
	mp_strn(&m, text, n);
	rc = dreq(&m, q);
	mp_free(&m);
	return (rc);
}

/* HELLO client text: cut to 255 bytes at a character, controls masked. */
START_TEST(test_text_field)
{
	struct proto_request	 q;
	char			 text[300];

	/* A euro sign at 253..255 does not fit whole: 253 bytes kept. */
	memset(text, 'c', sizeof text);
	memcpy(text + 253, "\xe2\x82\xac", 3);
	ck_assert_int_eq(hello_client(text, sizeof text, &q), PROTO_OK);
	ck_assert_uint_eq(strlen(q.client), 253);
	ck_assert_mem_eq(q.client, text, 253);

	/* Plain ASCII is cut at exactly PROTO_MAX_TEXT bytes. */
	memset(text, 'd', sizeof text);
	ck_assert_int_eq(hello_client(text, sizeof text, &q), PROTO_OK);
	ck_assert_uint_eq(strlen(q.client), PROTO_MAX_TEXT);

	/* Control bytes and NUL become '?', UTF-8 stays. */
	ck_assert_int_eq(hello_client("a\nb\0c\x7f\xc3\xa9", 8, &q), PROTO_OK);
	ck_assert_str_eq(q.client, "a?b?c?\xc3\xa9");
}
END_TEST

/* The bodies every hostile-input test starts from. */
static const struct fv base_hello[] = {
	{ "op", V_STR, 0, "HELLO", 0 }, { "id", V_UINT, 7, NULL, 0 },
	{ "version", V_UINT, 1, NULL, 0 }, { "client", V_STR, 0, "t", 0 },
};
static const struct fv base_acquire[] = {
	{ "op", V_STR, 0, "ACQUIRE", 0 }, { "id", V_UINT, 7, NULL, 0 },
	{ "sem", V_STR, 0, "a", 0 }, { "capacity", V_UINT, 3, NULL, 0 },
	{ "weight", V_UINT, 2, NULL, 0 }, { "timeout_ms", V_UINT, 100, NULL, 0 },
};
static const struct fv base_release[] = {
	{ "op", V_STR, 0, "RELEASE", 0 }, { "id", V_UINT, 7, NULL, 0 },
	{ "sem", V_STR, 0, "a", 0 }, { "weight", V_UINT, 2, NULL, 0 },
};
static const struct fv base_timeout[] = {
	{ "op", V_STR, 0, "TIMEOUT", 0 }, { "id", V_UINT, 7, NULL, 0 },
};
static const struct fv base_status[] = {
	{ "op", V_STR, 0, "STATUS", 0 }, { "id", V_UINT, 7, NULL, 0 },
	{ "sem", V_STR, 0, "a", 0 },
};

static const struct {
	const struct fv	*f;
	size_t		 n;
} bases[] = {
	{ base_hello, 4 }, { base_acquire, 6 }, { base_release, 4 },
	{ base_timeout, 2 }, { base_status, 3 },
};
#define NBASES (sizeof bases / sizeof bases[0])

/* Is this key of the request an integer field? */
static int
is_int_key(const char *key)
{
	return (strcmp(key, "op") != 0 && strcmp(key, "sem") != 0 &&
	    strcmp(key, "client") != 0);
}

/* The base bodies themselves decode. */
START_TEST(test_bases_valid)
{
	struct proto_request	 q;
	struct mp		 m = { 0 };

	mp_fields(&m, bases[_i].f, bases[_i].n);
	ck_assert_msg(dreq(&m, &q) == PROTO_OK, "%s", err);
	ck_assert(q.id == 7);
	ck_assert_str_eq(proto_op_name(q.op), bases[_i].f[0].s);
	if (q.op == PROTO_OP_ACQUIRE) {
		ck_assert_uint_eq(q.capacity, 3);
		ck_assert_uint_eq(q.weight, 2);
		ck_assert(q.timeout_ms == 100);
	}
	mp_free(&m);
}
END_TEST

/*
 * Each field of each request, given a value of every wrong type (or a
 * negative integer), is BAD_REQUEST naming the field; the id survives
 * unless the id itself is bad.
 */
START_TEST(test_wrong_types)
{
	static const enum vk	 for_int[] = { V_STR, V_TRUE, V_FLOAT, V_ARR,
				    V_MAP, V_BIN, V_NEG };
	static const enum vk	 for_str[] = { V_UINT, V_TRUE, V_FLOAT, V_ARR,
				    V_MAP, V_BIN, V_NEG };
	struct fv		 f[8];
	struct proto_request	 q;
	struct mp		 m = { 0 };
	char			 want[64];
	size_t			 b, i, k;

	for (b = 0; b < NBASES; b++) {
		for (i = 0; i < bases[b].n; i++) {
			for (k = 0; k < 7; k++) {
				memcpy(f, bases[b].f, bases[b].n * sizeof *f);
				f[i].kind = is_int_key(f[i].key) ? for_int[k] :
				    for_str[k];
				f[i].u = 5;
				f[i].s = "x";
				mp_fields(&m, f, bases[b].n);
				ck_assert_msg(dreq(&m, &q) ==
				    PROTO_E_BAD_REQUEST, "%s.%s kind %d: %s",
				    f[0].s, f[i].key, f[i].kind, err);
				snprintf(want, sizeof want, "'%s'", f[i].key);
				ck_assert_msg(strstr(err, want) != NULL,
				    "message \"%s\" lacks %s", err, want);
				if (strcmp(f[i].key, "id") == 0)
					ck_assert(q.id == 0);
				else
					ck_assert(q.id == 7);
				m.n = 0;
			}
		}
	}
	mp_free(&m);
}
END_TEST

/*
 * Required fields missing or nil: BAD_REQUEST.  Optional fields missing
 * or nil: defaults.
 */
START_TEST(test_missing_and_nil)
{
	struct fv		 f[8];
	struct proto_request	 q;
	struct mp		 m = { 0 };
	size_t			 b, i;
	int			 nil, required;
	const char		*key;

	for (b = 0; b < NBASES; b++) {
		for (i = 0; i < bases[b].n; i++) {
			for (nil = 0; nil < 2; nil++) {
				memcpy(f, bases[b].f, bases[b].n * sizeof *f);
				key = f[i].key;
				f[i].kind = nil ? V_NIL : V_ABSENT;
				mp_fields(&m, f, bases[b].n);
				required = strcmp(key, "op") == 0 ||
				    strcmp(key, "id") == 0 ||
				    strcmp(key, "version") == 0 ||
				    (strcmp(key, "sem") == 0 &&
				    strcmp(f[0].s, "STATUS") != 0);
				if (required) {
					ck_assert_msg(dreq(&m, &q) ==
					    PROTO_E_BAD_REQUEST, "%s.%s",
					    f[0].s, key);
					ck_assert(strstr(err, "required") !=
					    NULL);
				} else {
					ck_assert_msg(dreq(&m, &q) ==
					    PROTO_OK, "%s.%s: %s", f[0].s,
					    key, err);
					if (strcmp(key, "capacity") == 0) {
						ck_assert_int_eq(q.has_capacity,
						    0);
						ck_assert_uint_eq(q.capacity,
						    0);
					} else if (strcmp(key, "weight") == 0)
						ck_assert_uint_eq(q.weight, 1);
					else if (strcmp(key, "timeout_ms") == 0)
						ck_assert(q.timeout_ms == -1);
					else if (strcmp(key, "client") == 0)
						ck_assert_str_eq(q.client, "");
					else if (strcmp(key, "sem") == 0) {
						ck_assert_int_eq(q.has_sem, 0);
						ck_assert_str_eq(q.sem, "");
					}
				}
				m.n = 0;
			}
		}
	}
	mp_free(&m);
}
END_TEST

/* Decode base b with field key set to the integer v (negative: -v). */
static enum proto_err
with_int(size_t b, const char *key, uint64_t v, int negative,
    struct proto_request *q)
{
	struct fv	 f[8];
	struct mp	 m = { 0 };
	size_t		 i, n = bases[b].n;
	enum proto_err	 rc;

	memcpy(f, bases[b].f, n * sizeof *f);
	for (i = 0; i < n && strcmp(f[i].key, key) != 0; i++)
		;
	if (i == n) {
		f[n].key = key;
		n++;
	}
	f[i].kind = negative ? V_NEG : V_UINT;
	f[i].u = v;
	mp_fields(&m, f, n);
	rc = dreq(&m, q);
	mp_free(&m);
	return (rc);
}

/* Integer ranges: ids up to UINT64_MAX; limits of each field, both sides. */
START_TEST(test_int_ranges)
{
	struct proto_request	 q;

	ck_assert_int_eq(with_int(1, "id", UINT64_MAX, 0, &q), PROTO_OK);
	ck_assert(q.id == UINT64_MAX);
	ck_assert_int_eq(with_int(1, "id", 0, 0, &q), PROTO_OK);
	ck_assert(q.id == 0);
	ck_assert_int_eq(with_int(3, "id", UINT64_MAX - 1, 0, &q), PROTO_OK);
	ck_assert(q.id == UINT64_MAX - 1);
	ck_assert_int_eq(with_int(1, "id", 1, 1, &q), PROTO_E_BAD_REQUEST);
	ck_assert(q.id == 0);
	ck_assert_int_eq(with_int(1, "id", INT64_MAX, 1, &q),
	    PROTO_E_BAD_REQUEST);

	ck_assert_int_eq(with_int(1, "capacity", 0, 0, &q),
	    PROTO_E_BAD_REQUEST);
	ck_assert_str_eq(err,
	    "ACQUIRE: 'capacity' must be an integer 1..2147483647");
	ck_assert(q.id == 7);
	ck_assert_int_eq(with_int(1, "capacity", 1, 0, &q), PROTO_OK);
	ck_assert_uint_eq(q.capacity, 1);
	ck_assert_int_eq(with_int(1, "capacity", PROTO_MAX_CAPACITY, 0, &q),
	    PROTO_OK);
	ck_assert_int_eq(with_int(1, "capacity", PROTO_MAX_CAPACITY + 1ULL, 0,
	    &q), PROTO_E_BAD_REQUEST);
	ck_assert_int_eq(with_int(1, "capacity", UINT64_MAX, 0, &q),
	    PROTO_E_BAD_REQUEST);
	ck_assert_int_eq(with_int(1, "capacity", 1, 1, &q),
	    PROTO_E_BAD_REQUEST);

	ck_assert_int_eq(with_int(1, "weight", 0, 0, &q), PROTO_E_BAD_REQUEST);
	ck_assert_str_eq(err,
	    "ACQUIRE: 'weight' must be an integer 1..2147483647");
	ck_assert_int_eq(with_int(1, "weight", PROTO_MAX_CAPACITY, 0, &q),
	    PROTO_OK);
	ck_assert_uint_eq(q.weight, PROTO_MAX_CAPACITY);
	ck_assert_int_eq(with_int(1, "weight", PROTO_MAX_CAPACITY + 1ULL, 0,
	    &q), PROTO_E_BAD_REQUEST);
	ck_assert_int_eq(with_int(1, "weight", 2, 1, &q), PROTO_E_BAD_REQUEST);
	ck_assert_int_eq(with_int(2, "weight", 0, 0, &q), PROTO_E_BAD_REQUEST);
	ck_assert_str_eq(err,
	    "RELEASE: 'weight' must be an integer 1..2147483647");
	ck_assert_int_eq(with_int(2, "weight", PROTO_MAX_CAPACITY + 1ULL, 0,
	    &q), PROTO_E_BAD_REQUEST);

	ck_assert_int_eq(with_int(1, "timeout_ms", 0, 0, &q), PROTO_OK);
	ck_assert(q.timeout_ms == 0);
	ck_assert_int_eq(with_int(1, "timeout_ms", PROTO_MAX_TIMEOUT_MS, 0,
	    &q), PROTO_OK);
	ck_assert(q.timeout_ms == PROTO_MAX_TIMEOUT_MS);
	ck_assert_int_eq(with_int(1, "timeout_ms", PROTO_MAX_TIMEOUT_MS + 1, 0,
	    &q), PROTO_E_BAD_REQUEST);
	ck_assert_int_eq(with_int(1, "timeout_ms", 1, 1, &q),
	    PROTO_E_BAD_REQUEST);
	ck_assert_str_eq(err,
	    "ACQUIRE: 'timeout_ms' must be an integer 0..315360000000");

	ck_assert_int_eq(with_int(0, "version", UINT32_MAX, 0, &q), PROTO_OK);
	ck_assert_uint_eq(q.version, UINT32_MAX);
	ck_assert_int_eq(with_int(0, "version", 0, 0, &q), PROTO_OK);
	ck_assert_int_eq(with_int(0, "version", UINT32_MAX + 1ULL, 0, &q),
	    PROTO_E_BAD_REQUEST);
}
END_TEST

/* Bad names are BAD_NAME, for ACQUIRE, RELEASE and STATUS alike. */
START_TEST(test_bad_names)
{
	static const struct {
		const char	*s;
		size_t		 len;
	} bad[] = {
		{ "", 0 }, { "a b", 3 }, { "a\0b", 3 }, { "caf\xc3\xa9", 5 },
		{ "a?", 2 }, { "tab\t", 4 }, { NULL, PROTO_MAX_NAME + 1 },
	};
	static const size_t	 ops[] = { 1, 2, 4 };
	char			 longname[PROTO_MAX_NAME + 1];
	struct fv		 f[8];
	struct proto_request	 q;
	struct mp		 m = { 0 };
	size_t			 i, j;

	memset(longname, 'x', sizeof longname);
	for (j = 0; j < 3; j++) {
		for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			memcpy(f, bases[ops[j]].f, bases[ops[j]].n * sizeof *f);
			f[2].kind = V_STRN;
			f[2].s = bad[i].s != NULL ? bad[i].s : longname;
			f[2].slen = bad[i].len;
			mp_fields(&m, f, bases[ops[j]].n);
			ck_assert_msg(dreq(&m, &q) == PROTO_E_BAD_NAME,
			    "%s name %zu: %s", f[0].s, i, err);
			ck_assert(q.id == 7);
			ck_assert(strstr(err, "'sem'") != NULL);
			m.n = 0;
		}
		/* 128 bytes is fine. */
		memcpy(f, bases[ops[j]].f, bases[ops[j]].n * sizeof *f);
		f[2].kind = V_STRN;
		f[2].s = longname;
		f[2].slen = PROTO_MAX_NAME;
		mp_fields(&m, f, bases[ops[j]].n);
		ck_assert_int_eq(dreq(&m, &q), PROTO_OK);
		ck_assert_uint_eq(q.sem_len, PROTO_MAX_NAME);
		ck_assert_uint_eq(strlen(q.sem), PROTO_MAX_NAME);
		m.n = 0;
	}
	mp_free(&m);
}
END_TEST

/* Unknown keys of any type, even nested, are ignored. */
START_TEST(test_unknown_keys)
{
	struct proto_request	 q;
	struct mp		 m = { 0 };

	mp_map(&m, 8);
	mp_str(&m, "future");
	mp_map(&m, 1);
	mp_str(&m, "deep");
	mp_arr(&m, 2);
	mp_byte(&m, 0xc0);
	mp_byte(&m, 0xd4);		/* fixext1 */
	mp_byte(&m, 0x01);
	mp_byte(&m, 0x02);
	mp_str(&m, "op");
	mp_str(&m, "ACQUIRE");
	mp_str(&m, "x-float");
	mp_byte(&m, 0xca);
	mp_be(&m, 0, 4);
	mp_str(&m, "id");
	mp_uint(&m, 99);
	mp_str(&m, "Sem");		/* keys are case sensitive */
	mp_uint(&m, 1);
	mp_str(&m, "sem");
	mp_str(&m, "s");
	mp_str(&m, "");
	mp_byte(&m, 0xc4);		/* bin8 */
	mp_byte(&m, 0);
	mp_str(&m, "client");		/* not an ACQUIRE field */
	mp_uint(&m, 5);
	ck_assert_msg(dreq(&m, &q) == PROTO_OK, "%s", err);
	ck_assert_int_eq(q.op, PROTO_OP_ACQUIRE);
	ck_assert(q.id == 99);
	ck_assert_str_eq(q.sem, "s");
	ck_assert_uint_eq(q.weight, 1);
	mp_free(&m);
}
END_TEST

/* op: missing, wrong type, unknown, or a reply's op. */
START_TEST(test_bad_op)
{
	struct fv		 f[2];
	struct proto_request	 q;
	struct mp		 m = { 0 };

	memcpy(f, base_timeout, sizeof f);
	f[0].s = "RESIZE";
	mp_fields(&m, f, 2);
	ck_assert_int_eq(dreq(&m, &q), PROTO_E_UNKNOWN_OP);
	ck_assert(q.id == 7);
	ck_assert(strstr(err, "RESIZE") != NULL);
	m.n = 0;

	f[0].s = "acquire";
	mp_fields(&m, f, 2);
	ck_assert_int_eq(dreq(&m, &q), PROTO_E_UNKNOWN_OP);
	m.n = 0;

	f[0].s = "QUEUED";
	mp_fields(&m, f, 2);
	ck_assert_int_eq(dreq(&m, &q), PROTO_E_UNKNOWN_OP);
	ck_assert(q.id == 7);
	m.n = 0;

	/* Control bytes in the op are not echoed raw. */
	f[0].kind = V_STRN;
	f[0].s = "\x1b[2J\n";
	f[0].slen = 5;
	mp_fields(&m, f, 2);
	ck_assert_int_eq(dreq(&m, &q), PROTO_E_UNKNOWN_OP);
	ck_assert(strchr(err, '\x1b') == NULL);
	ck_assert(strchr(err, '\n') == NULL);
	m.n = 0;

	/* No op and no id: BAD_REQUEST, id 0. */
	mp_map(&m, 0);
	ck_assert_int_eq(dreq(&m, &q), PROTO_E_BAD_REQUEST);
	ck_assert(q.id == 0);
	mp_free(&m);
}
END_TEST

/* A known key given twice is BAD_REQUEST, whatever the values. */
START_TEST(test_duplicate_key)
{
	struct proto_request	 q;
	struct proto_reply	 r;
	struct mp		 m = { 0 };

	mp_map(&m, 4);
	mp_str(&m, "op");
	mp_str(&m, "RELEASE");
	mp_str(&m, "id");
	mp_uint(&m, 3);
	mp_str(&m, "sem");
	mp_str(&m, "a");
	mp_str(&m, "sem");
	mp_str(&m, "b");
	ck_assert_int_eq(dreq(&m, &q), PROTO_E_BAD_REQUEST);
	ck_assert(strstr(err, "'sem'") != NULL);
	ck_assert(q.id == 3);

	/* grace_ms, far down PROTO_KEYS: the set has a bit for each key. */
	m.n = 0;
	mp_map(&m, 7);
	mp_str(&m, "op");
	mp_str(&m, "HELLO");
	mp_str(&m, "id");
	mp_uint(&m, 3);
	mp_str(&m, "version");
	mp_uint(&m, 1);
	mp_str(&m, "server");
	mp_str(&m, "semd");
	mp_str(&m, "pid");
	mp_uint(&m, 1);
	mp_str(&m, "grace_ms");
	mp_uint(&m, 1);
	mp_str(&m, "grace_ms");
	mp_uint(&m, 2);
	ck_assert_int_eq(drep(&m, &r), PROTO_E_BAD_REQUEST);
	ck_assert(strstr(err, "'grace_ms' is given more than once") != NULL);
	mp_free(&m);
}
END_TEST

/* Decode a hex body as a request and expect code. */
static void
hex_expect(const char *hex, enum proto_err code, const char *needle)
{
	struct proto_request	 q;
	struct proto_reply	 r;
	struct mp		 m = { 0 };

	mp_hex(&m, hex);
	ck_assert_msg(dreq(&m, &q) == code, "%s: %s", hex, err);
	if (needle != NULL)
		ck_assert_msg(strstr(err, needle) != NULL, "%s: \"%s\"", hex,
		    err);
	/* The reply decoder walks the same way. */
	ck_assert_msg(drep(&m, &r) == code, "reply %s: %s", hex, err);
	proto_reply_free(&r);
	mp_free(&m);
}

/*
 * Hostile bodies: huge claims, truncation, trailing bytes, non-maps,
 * non-string keys, the reserved byte.  All BAD_FRAME, found by the walker
 * before anything is allocated (the messages are the walker's).
 */
START_TEST(test_hostile)
{
	/* The 5-byte array32 / map32 bodies. */
	hex_expect("dd 7f ff ff ff", PROTO_E_BAD_FRAME, "not a msgpack map");
	hex_expect("df 7f ff ff ff", PROTO_E_BAD_FRAME, "claims 2147483647");
	hex_expect("df ff ff ff ff", PROTO_E_BAD_FRAME, "claims 4294967295");
	hex_expect("de ff ff", PROTO_E_BAD_FRAME, "claims 65535");
	/* The same claims nested under a key. */
	hex_expect("81 a1 78 dd 7f ff ff ff", PROTO_E_BAD_FRAME, "claims");
	hex_expect("81 a1 78 df 7f ff ff ff", PROTO_E_BAD_FRAME, "claims");
	hex_expect("81 a1 78 dc ff ff 00 00", PROTO_E_BAD_FRAME, "claims");
	/* Each claim fits alone, not both: the outer needs one more byte. */
	hex_expect("81 a1 78 92 9f 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
	    " 00", PROTO_E_BAD_FRAME, "claims 15");
	/* A map entry needs two bytes. */
	hex_expect("82 a1 78 00", PROTO_E_BAD_FRAME, "claims 2");
	/* str32 / bin32 / ext32 claiming 4 GiB. */
	hex_expect("81 a1 78 db ff ff ff ff", PROTO_E_BAD_FRAME,
	    "claims 4294967295 bytes");
	hex_expect("81 db ff ff ff ff", PROTO_E_BAD_FRAME, "claims");
	hex_expect("81 a1 78 c6 ff ff ff ff 00", PROTO_E_BAD_FRAME, "claims");
	hex_expect("81 a1 78 c9 ff ff ff ff 01", PROTO_E_BAD_FRAME, "claims");
	hex_expect("81 a1 78 d8 01 00", PROTO_E_BAD_FRAME, "claims");
	/* A length field cut short. */
	hex_expect("81 a1 78 db ff ff", PROTO_E_BAD_FRAME, "middle");
	hex_expect("81 a1 78 cf 00", PROTO_E_BAD_FRAME, "claims");
	/* Non-map top level. */
	hex_expect("", PROTO_E_BAD_FRAME, "empty");
	hex_expect("c0", PROTO_E_BAD_FRAME, "not a msgpack map");
	hex_expect("01", PROTO_E_BAD_FRAME, "not a msgpack map");
	hex_expect("a1 61", PROTO_E_BAD_FRAME, "not a msgpack map");
	hex_expect("91 80", PROTO_E_BAD_FRAME, "not a msgpack map");
	/* Trailing bytes after a complete map. */
	hex_expect("80 00", PROTO_E_BAD_FRAME, "1 trailing");
	hex_expect("80 80", PROTO_E_BAD_FRAME, "trailing");
	/* Keys must be strings, in every map. */
	hex_expect("81 01 02", PROTO_E_BAD_FRAME, "not a string");
	hex_expect("81 c4 01 61 02", PROTO_E_BAD_FRAME, "not a string");
	hex_expect("81 a1 78 81 01 02", PROTO_E_BAD_FRAME, "not a string");
	/* The reserved byte. */
	hex_expect("81 a1 78 c1", PROTO_E_BAD_FRAME, "0xc1");
	/* Truncated in a nested container. */
	hex_expect("81 a1 78 92 01", PROTO_E_BAD_FRAME, NULL);
}
END_TEST

/* Nesting: PROTO_MAX_DEPTH levels are fine, one more is BAD_FRAME. */
START_TEST(test_depth)
{
	struct proto_request	 q;
	struct mp		 m = { 0 };
	int			 extra, i, map;

	for (map = 0; map < 2; map++) {
		for (extra = 0; extra < 2; extra++) {
			mp_map(&m, 3);
			mp_str(&m, "op");
			mp_str(&m, "TIMEOUT");
			mp_str(&m, "id");
			mp_uint(&m, 1);
			mp_str(&m, "x");
			/* The top map is level 1. */
			for (i = 1; i < PROTO_MAX_DEPTH + extra; i++) {
				if (i == PROTO_MAX_DEPTH - 1 + extra) {
					/* innermost: empty */
					mp_cont(&m, map, 0);
				} else if (map) {
					mp_map(&m, 1);
					mp_str(&m, "k");
				} else
					mp_arr(&m, 1);
			}
			if (extra)
				ck_assert_int_eq(dreq(&m, &q),
				    PROTO_E_BAD_FRAME);
			else
				ck_assert_msg(dreq(&m, &q) == PROTO_OK, "%s",
				    err);
			m.n = 0;
		}
	}
	/* A thousand levels: refused, no recursion to overflow. */
	mp_map(&m, 1);
	mp_str(&m, "x");
	for (i = 0; i < 1000; i++)
		mp_arr(&m, 1);
	mp_uint(&m, 1);
	ck_assert_int_eq(dreq(&m, &q), PROTO_E_BAD_FRAME);
	ck_assert(strstr(err, "deeper") != NULL);
	mp_free(&m);
}
END_TEST

/* Every proper prefix of a valid body is BAD_FRAME, and so is any body
 * with a byte appended. */
START_TEST(test_truncated)
{
	struct proto_buf	 buf = { 0 };
	struct proto_request	 q, o;
	struct proto_reply	 r;
	size_t			 n, len;

	memset(&q, 0, sizeof q);
	q.op = PROTO_OP_ACQUIRE;
	q.id = 1ULL << 60;
	strcpy(q.sem, "some-semaphore-name-of-length-thirty-three");
	q.has_capacity = 1;
	q.capacity = 100000;
	q.weight = 300;
	q.timeout_ms = 1ULL << 35;
	ck_assert_int_eq(proto_encode_request(&buf, &q), 0);
	len = buf.len - PROTO_HDR_LEN;
	for (n = 0; n < len; n++) {
		ck_assert_int_eq(proto_decode_request(buf.data + PROTO_HDR_LEN,
		    n, &o, err, sizeof err), PROTO_E_BAD_FRAME);
		ck_assert_int_eq(proto_decode_reply(buf.data + PROTO_HDR_LEN,
		    n, &r, err, sizeof err), PROTO_E_BAD_FRAME);
	}
	ck_assert_int_eq(proto_decode_request(buf.data + PROTO_HDR_LEN, len,
	    &o, err, sizeof err), PROTO_OK);
	buf.data[buf.len++] = 0xc0;
	ck_assert_int_eq(proto_decode_request(buf.data + PROTO_HDR_LEN,
	    len + 1, &o, err, sizeof err), PROTO_E_BAD_FRAME);
	proto_buf_free(&buf);
}
END_TEST

/* A full-size body of many tiny containers decodes (allocation scales). */
START_TEST(test_big_body)
{
	struct proto_request	 q;
	struct mp		 m = { 0 };
	size_t			 i, n;

	mp_map(&m, 3);
	mp_str(&m, "op");
	mp_str(&m, "TIMEOUT");
	mp_str(&m, "id");
	mp_uint(&m, 1);
	mp_str(&m, "pad");
	n = PROTO_MAX_FRAME - m.n - 3;		/* array16 header */
	mp_arr(&m, (uint32_t)n);
	for (i = 0; i < n; i++)
		mp_byte(&m, 0x90);
	ck_assert_uint_eq(m.n, PROTO_MAX_FRAME);
	ck_assert_msg(dreq(&m, &q) == PROTO_OK, "%s", err);
	ck_assert(q.id == 1);
	mp_free(&m);
}
END_TEST

/*
 * Random corruptions of valid frames never crash or leak (run under ASan)
 * and a success always yields a sane struct.
 */
START_TEST(test_mutations)
{
	struct proto_buf	 buf = { 0 };
	struct proto_request	 q, o;
	struct proto_reply	 r, ro;
	struct proto_party	 p[3] = {
		{ .pid = 1, .uid = 2, .weight = 3, .ms = 4 },
		{ .pid = 5, .uid = 6, .weight = 7, .ms = 8 },
		{ .pid = 9, .uid = 10, .weight = 11, .ms = 12 },
	};
	struct proto_sem_status	 s;
	uint8_t			 body[512];
	unsigned int		 seed = 12345;
	size_t			 f, len, k, starts[4];
	int			 iter, nmut;
	enum proto_err		 rc;

	memset(&q, 0, sizeof q);
	q.op = PROTO_OP_ACQUIRE;
	q.id = 300;
	strcpy(q.sem, "mutant");
	q.has_capacity = 1;
	q.capacity = 4;
	q.weight = 2;
	q.timeout_ms = 1000;
	starts[0] = buf.len;
	ck_assert_int_eq(proto_encode_request(&buf, &q), 0);
	memset(&s, 0, sizeof s);
	strcpy(s.sem, "mutant");
	s.capacity = 4;
	s.held = 3;
	s.waiting = 1;
	s.holders = p;
	s.nholders = 2;
	s.waiters = p + 2;
	s.nwaiters = 1;
	memset(&r, 0, sizeof r);
	r.op = PROTO_OP_STATUS;
	r.sems = &s;
	r.nsems = 1;
	starts[1] = buf.len;
	ck_assert_int_eq(proto_encode_reply(&buf, &r), 0);
	starts[2] = buf.len;
	ck_assert_int_eq(proto_encode_error(&buf, 4, PROTO_E_DENIED, "no"), 0);
	starts[3] = buf.len;

	for (iter = 0; iter < 30000; iter++) {
		f = (size_t)iter % 3;
		len = starts[f + 1] - starts[f] - PROTO_HDR_LEN;
		memcpy(body, buf.data + starts[f] + PROTO_HDR_LEN, len);
		for (nmut = 1 + iter % 4; nmut > 0; nmut--) {
			seed = seed * 1103515245 + 12345;
			k = (seed >> 8) % len;
			switch ((seed >> 4) % 4) {
			case 0:
				body[k] = (uint8_t)(seed >> 16);
				break;
			case 1:
				body[k] ^= (uint8_t)(1 << ((seed >> 16) % 8));
				break;
			case 2:
				len = k + 1;		/* cut */
				break;
			default:
				body[k] = (uint8_t)((seed >> 20) % 2 ?
				    0xdd : 0xdb);
				break;
			}
		}
		rc = proto_decode_request(body, len, &o, err, sizeof err);
		ck_assert_int_le(rc, PROTO_E_DENIED);
		ck_assert_uint_lt(strlen(err), sizeof err);
		if (rc == PROTO_OK) {
			ck_assert(o.op >= PROTO_OP_HELLO &&
			    o.op <= PROTO_OP_STATUS);
			ck_assert_uint_le(strlen(o.sem), PROTO_MAX_NAME);
		}
		rc = proto_decode_reply(body, len, &ro, err, sizeof err);
		ck_assert_int_le(rc, PROTO_E_DENIED);
		if (rc == PROTO_OK && ro.op == PROTO_OP_STATUS) {
			for (k = 0; k < ro.nsems; k++)
				ck_assert(proto_name_valid(ro.sems[k].sem,
				    strlen(ro.sems[k].sem)));
		} else
			ck_assert_ptr_null(ro.sems);
		proto_reply_free(&ro);
	}
	proto_buf_free(&buf);
}
END_TEST

/* Decode a reply built from fields and expect code. */
static enum proto_err
rep_fields(const struct fv *f, size_t n, struct proto_reply *r)
{
	struct mp	 m = { 0 };
	enum proto_err	 rc;

	mp_fields(&m, f, n);
	rc = drep(&m, r);
	mp_free(&m);
	return (rc);
}

/* Replies are validated as strictly as requests. */
START_TEST(test_reply_strict)
{
	struct fv		 f[8] = {
		{ "op", V_STR, 0, "ACQUIRED", 0 }, { "id", V_UINT, 4, NULL, 0 },
		{ "sem", V_STR, 0, "a", 0 }, { "weight", V_UINT, 1, NULL, 0 },
	};
	struct proto_reply	 r;

	ck_assert_int_eq(rep_fields(f, 4, &r), PROTO_OK);
	f[3].u = 0;
	ck_assert_int_eq(rep_fields(f, 4, &r), PROTO_E_BAD_REQUEST);
	ck_assert(r.id == 4);
	f[3].kind = V_ABSENT;
	ck_assert_int_eq(rep_fields(f, 4, &r), PROTO_E_BAD_REQUEST);
	f[3].kind = V_UINT;
	f[3].u = 1;
	f[2].s = "a b";
	ck_assert_int_eq(rep_fields(f, 4, &r), PROTO_E_BAD_NAME);
	f[2].kind = V_UINT;
	ck_assert_int_eq(rep_fields(f, 4, &r), PROTO_E_BAD_REQUEST);

	/* A request op is not a reply; a future op is unknown, id kept. */
	f[2].kind = V_STR;
	f[2].s = "a";
	f[0].s = "ACQUIRE";
	ck_assert_int_eq(rep_fields(f, 4, &r), PROTO_E_UNKNOWN_OP);
	f[0].s = "RESIZED";
	ck_assert_int_eq(rep_fields(f, 4, &r), PROTO_E_UNKNOWN_OP);
	ck_assert(r.id == 4);

	/* QUEUED position is 1-based. */
	f[0].s = "QUEUED";
	f[2].key = "position";
	f[2].kind = V_UINT;
	f[2].u = 0;
	ck_assert_int_eq(rep_fields(f, 3, &r), PROTO_E_BAD_REQUEST);
	f[2].u = 1;
	ck_assert_int_eq(rep_fields(f, 3, &r), PROTO_OK);
	ck_assert_uint_eq(r.position, 1);

	/* HELLO needs version, server and pid. */
	f[0].s = "HELLO";
	f[2] = (struct fv){ "version", V_UINT, 1, NULL, 0 };
	f[3] = (struct fv){ "server", V_STR, 0, "semd", 0 };
	f[4] = (struct fv){ "pid", V_UINT, 99, NULL, 0 };
	ck_assert_int_eq(rep_fields(f, 5, &r), PROTO_OK);
	ck_assert_str_eq(r.server, "semd");
	f[4].kind = V_ABSENT;
	ck_assert_int_eq(rep_fields(f, 5, &r), PROTO_E_BAD_REQUEST);
	f[4].kind = V_UINT;
	f[3].kind = V_TRUE;
	ck_assert_int_eq(rep_fields(f, 5, &r), PROTO_E_BAD_REQUEST);

	/* ERROR: known codes only; the message survives an unknown one. */
	f[0].s = "ERROR";
	f[2] = (struct fv){ "code", V_STR, 0, "NOT_HELD", 0 };
	f[3] = (struct fv){ "message", V_STR, 0, "you hold nothing", 0 };
	ck_assert_int_eq(rep_fields(f, 4, &r), PROTO_OK);
	ck_assert_int_eq(r.code, PROTO_E_NOT_HELD);
	f[2].s = "SOMETHING_NEW";
	ck_assert_int_eq(rep_fields(f, 4, &r), PROTO_E_BAD_REQUEST);
	ck_assert_int_eq(r.op, PROTO_OP_ERROR);
	ck_assert(r.id == 4);
	ck_assert_str_eq(r.message, "you hold nothing");
	f[2].s = "OK";
	ck_assert_int_eq(rep_fields(f, 4, &r), PROTO_E_BAD_REQUEST);
	f[2].kind = V_UINT;
	ck_assert_int_eq(rep_fields(f, 4, &r), PROTO_E_BAD_REQUEST);
	f[2].kind = V_STR;
	f[2].s = "LIMIT";
	f[3].kind = V_ABSENT;
	ck_assert_int_eq(rep_fields(f, 4, &r), PROTO_E_BAD_REQUEST);
}
END_TEST

/* Build a STATUS reply body with one entry; bend one thing per case. */
static enum proto_err
status_case(int bend, struct proto_reply *r)
{
	struct mp	 m = { 0 };
	enum proto_err	 rc;

	mp_map(&m, 4);
	mp_str(&m, "op");
	mp_str(&m, "STATUS");
	mp_str(&m, "id");
	mp_uint(&m, 2);
	mp_str(&m, "truncated");
	if (bend == 1)
		mp_uint(&m, 1);
	else
		mp_byte(&m, 0xc3);
	mp_str(&m, "sems");
	if (bend == 2) {
		mp_map(&m, 0);
		goto done;
	}
	mp_arr(&m, 2);
	if (bend == 3)
		mp_uint(&m, 1);
	else {
		mp_map(&m, 6);
		mp_str(&m, "sem");
		mp_str(&m, bend == 4 ? "bad name" : "ok");
		mp_str(&m, "capacity");
		mp_uint(&m, bend == 5 ? 0 : 2);
		mp_str(&m, "held");
		mp_uint(&m, 1);
		mp_str(&m, "waiting");
		if (bend == 6)
			mp_neg(&m, -1);
		else
			mp_uint(&m, 1);
		mp_str(&m, "holders");
		if (bend == 7)
			mp_map(&m, 0);
		else {
			mp_arr(&m, 1);
			mp_map(&m, 4);
			mp_str(&m, "pid");
			mp_uint(&m, 10);
			mp_str(&m, "uid");
			if (bend == 8)
				mp_str(&m, "root");
			else
				mp_uint(&m, 0);
			mp_str(&m, "weight");
			mp_uint(&m, 1);
			mp_str(&m, bend == 9 ? "waited_ms" : "held_ms");
			mp_uint(&m, 5);
		}
		mp_str(&m, "waiters");
		mp_arr(&m, 1);
		if (bend == 10)
			mp_arr(&m, 0);
		else {
			mp_map(&m, 4);
			mp_str(&m, "pid");
			mp_uint(&m, 11);
			mp_str(&m, "uid");
			mp_uint(&m, 0);
			mp_str(&m, "weight");
			mp_uint(&m, bend == 11 ? 0 : 1);
			mp_str(&m, "waited_ms");
			mp_uint(&m, 6);
		}
	}
	/* Second entry: minimal and valid, except case 12. */
	mp_map(&m, 6);
	mp_str(&m, "sem");
	mp_str(&m, "two");
	mp_str(&m, "capacity");
	mp_uint(&m, 1);
	mp_str(&m, "held");
	mp_uint(&m, 0);
	mp_str(&m, "waiting");
	mp_uint(&m, 0);
	mp_str(&m, "holders");
	mp_arr(&m, 0);
	mp_str(&m, bend == 12 ? "waiterz" : "waiters");
	mp_arr(&m, 0);
done:
	rc = drep(&m, r);
	mp_free(&m);
	return (rc);
}

/* STATUS replies: every nested field is checked; nothing leaks on error. */
START_TEST(test_status_strict)
{
	struct proto_reply	 r;
	int			 bend;

	ck_assert_msg(status_case(0, &r) == PROTO_OK, "%s", err);
	ck_assert_int_eq(r.truncated, 1);
	ck_assert_uint_eq(r.nsems, 2);
	ck_assert_str_eq(r.sems[0].sem, "ok");
	ck_assert_uint_eq(r.sems[0].holders[0].pid, 10);
	ck_assert_uint_eq(r.sems[0].waiters[0].pid, 11);
	ck_assert(r.sems[0].waiters[0].ms == 6);
	ck_assert_str_eq(r.sems[1].sem, "two");
	ck_assert_ptr_null(r.sems[1].holders);
	proto_reply_free(&r);
	for (bend = 1; bend <= 12; bend++) {
		ck_assert_msg(status_case(bend, &r) ==
		    (bend == 4 ? PROTO_E_BAD_NAME : PROTO_E_BAD_REQUEST),
		    "case %d: %s", bend, err);
		ck_assert_ptr_null(r.sems);
		ck_assert(r.id == 2);
	}
	status_case(8, &r);
	ck_assert_str_eq(err, "STATUS: sems[0].holders[0]: 'uid' must be an "
	    "integer 0..4294967295");
}
END_TEST

/*
 * The decoder has a fast path for flat maps (only scalar values) and
 * hands anything with a container to the walker, which sizes one block
 * for the tree.  Both must agree: every base request and a set of
 * replies, each field replaced in turn by every kind and size of scalar,
 * decode the same (result, struct, message) as the same body with one
 * more, unknown key holding an array, which takes the walker's path.
 */
START_TEST(test_flat_matches_msgpack)
{
	static const struct fv	 vals[] = {
		{ NULL, V_UINT, 0, NULL, 0 }, { NULL, V_UINT, 127, NULL, 0 },
		{ NULL, V_UINT, 200, NULL, 0 }, { NULL, V_UINT, 70000, NULL, 0 },
		{ NULL, V_UINT, 1ULL << 40, NULL, 0 },
		{ NULL, V_UINT, UINT64_MAX, NULL, 0 },
		{ NULL, V_NEG, 1, NULL, 0 }, { NULL, V_NEG, 1000, NULL, 0 },
		{ NULL, V_STR, 0, "ACQUIRED", 0 },
		{ NULL, V_STR, 0, "a.b:c@d/e+f-g_0123456789012345678901234", 0 },
		{ NULL, V_STRN, 0, "x\0y", 3 }, { NULL, V_STR, 0, "", 0 },
		{ NULL, V_NIL, 0, NULL, 0 }, { NULL, V_TRUE, 0, NULL, 0 },
		{ NULL, V_FLOAT, 0, NULL, 0 }, { NULL, V_BIN, 0, NULL, 0 },
		{ NULL, V_ABSENT, 0, NULL, 0 },
	};
	static const struct fv	 rep_acquired[] = {
		{ "op", V_STR, 0, "ACQUIRED", 0 }, { "id", V_UINT, 4, NULL, 0 },
		{ "sem", V_STR, 0, "a", 0 }, { "weight", V_UINT, 1, NULL, 0 },
	};
	static const struct fv	 rep_hello[] = {
		{ "op", V_STR, 0, "HELLO", 0 }, { "id", V_UINT, 1, NULL, 0 },
		{ "version", V_UINT, 1, NULL, 0 },
		{ "server", V_STR, 0, "semd 1", 0 },
		{ "pid", V_UINT, 99, NULL, 0 },
	};
	static const struct fv	 rep_error[] = {
		{ "op", V_STR, 0, "ERROR", 0 }, { "id", V_UINT, 9, NULL, 0 },
		{ "code", V_STR, 0, "NOT_HELD", 0 },
		{ "message", V_STR, 0, "no", 0 },
	};
	static const struct {
		const struct fv	*f;
		size_t		 n;
	} reps[] = {
		{ rep_acquired, 4 }, { rep_hello, 5 }, { rep_error, 4 },
	};
	struct fv		 f[10];
	struct proto_request	 q1, q2;
	struct proto_reply	 r1, r2;
	struct mp		 m1 = { 0 }, m2 = { 0 };
	char			 e1[sizeof err];
	enum proto_err		 c1, c2;
	size_t			 b, i, k, n, nreq = NBASES;

	for (b = 0; b < nreq + sizeof reps / sizeof reps[0]; b++) {
		n = b < nreq ? bases[b].n : reps[b - nreq].n;
		for (i = 0; i < n; i++) {
			for (k = 0; k < sizeof vals / sizeof vals[0]; k++) {
				memcpy(f, b < nreq ? bases[b].f :
				    reps[b - nreq].f, n * sizeof *f);
				f[i].kind = vals[k].kind;
				f[i].u = vals[k].u;
				f[i].s = vals[k].s;
				f[i].slen = vals[k].slen;
				f[n].key = "zz";
				f[n].kind = V_ARR;
				m1.n = m2.n = 0;
				mp_fields(&m1, f, n);
				mp_fields(&m2, f, n + 1);
				if (b < nreq) {
					c1 = dreq(&m1, &q1);
					memcpy(e1, err, sizeof e1);
					c2 = dreq(&m2, &q2);
					ck_assert(memcmp(&q1, &q2,
					    sizeof q1) == 0);
				} else {
					c1 = drep(&m1, &r1);
					memcpy(e1, err, sizeof e1);
					c2 = drep(&m2, &r2);
					ck_assert(memcmp(&r1, &r2,
					    sizeof r1) == 0);
				}
				ck_assert_msg(c1 == c2, "field %s kind %d: "
				    "%d (%s) vs %d (%s)", f[i].key,
				    (int)f[i].kind, c1, e1, c2, err);
				ck_assert_str_eq(e1, err);
			}
		}
	}
	mp_free(&m1);
	mp_free(&m2);
}
END_TEST

/*
 * The frames printed in proto/PROTOCOL.md, byte for byte: each decodes to
 * what the document says, and the encoder produces exactly these bytes.
 */
static const struct {
	const char	*hex;
	int		 reply;
} doc_frames[] = {
	/* 0: HELLO request */
	{ "00 00 00 25 84 a2 6f 70 a5 48 45 4c 4c 4f a2 69"
	  "64 01 a7 76 65 72 73 69 6f 6e 01 a6 63 6c 69 65"
	  "6e 74 a6 73 65 6d 72 75 6e", 0 },
	/* 1: HELLO reply */
	{ "00 00 00 30 85 a2 6f 70 a5 48 45 4c 4c 4f a2 69"
	  "64 01 a7 76 65 72 73 69 6f 6e 01 a6 73 65 72 76"
	  "65 72 aa 73 65 6d 64 20 30 2e 31 2e 30 a3 70 69"
	  "64 cd 10 92", 1 },
	/* 2: ACQUIRE */
	{ "00 00 00 3a 86 a2 6f 70 a7 41 43 51 55 49 52 45"
	  "a2 69 64 02 a3 73 65 6d a5 61 70 69 2d 78 a8 63"
	  "61 70 61 63 69 74 79 03 a6 77 65 69 67 68 74 01"
	  "aa 74 69 6d 65 6f 75 74 5f 6d 73 cd 75 30", 0 },
	/* 3: QUEUED */
	{ "00 00 00 19 83 a2 6f 70 a6 51 55 45 55 45 44 a2"
	  "69 64 02 a8 70 6f 73 69 74 69 6f 6e 01", 1 },
	/* 4: ACQUIRED, with its token */
	{ "00 00 00 2a 85 a2 6f 70 a8 41 43 51 55 49 52 45"
	  "44 a2 69 64 02 a3 73 65 6d a5 61 70 69 2d 78 a6"
	  "77 65 69 67 68 74 01 a5 74 6f 6b 65 6e 07", 1 },
	/* 5: RELEASE */
	{ "00 00 00 22 84 a2 6f 70 a7 52 45 4c 45 41 53 45"
	  "a2 69 64 03 a3 73 65 6d a5 61 70 69 2d 78 a6 77"
	  "65 69 67 68 74 01", 0 },
	/* 6: RELEASED */
	{ "00 00 00 23 84 a2 6f 70 a8 52 45 4c 45 41 53 45"
	  "44 a2 69 64 03 a3 73 65 6d a5 61 70 69 2d 78 a6"
	  "77 65 69 67 68 74 01", 1 },
	/* 7: ERROR NOT_HELD */
	{ "00 00 00 57 84 a2 6f 70 a5 45 52 52 4f 52 a2 69"
	  "64 04 a4 63 6f 64 65 a8 4e 4f 54 5f 48 45 4c 44"
	  "a7 6d 65 73 73 61 67 65 d9 31 52 45 4c 45 41 53"
	  "45 3a 20 74 68 69 73 20 63 6f 6e 6e 65 63 74 69"
	  "6f 6e 20 68 6f 6c 64 73 20 6e 6f 74 68 69 6e 67"
	  "20 6f 6e 20 27 61 70 69 2d 78 27", 1 },
	/* 8: TIMEOUT (request and reply are the same bytes) */
	{ "00 00 00 10 82 a2 6f 70 a7 54 49 4d 45 4f 55 54"
	  "a2 69 64 05", 0 },
	/* 9: STATUS request */
	{ "00 00 00 19 83 a2 6f 70 a6 53 54 41 54 55 53 a2"
	  "69 64 06 a3 73 65 6d a5 61 70 69 2d 78", 0 },
	/* 10: STATUS reply */
	{ "00 00 00 9b 84 a2 6f 70 a6 53 54 41 54 55 53 a2"
	  "69 64 06 a4 73 65 6d 73 91 86 a3 73 65 6d a5 61"
	  "70 69 2d 78 a8 63 61 70 61 63 69 74 79 01 a4 68"
	  "65 6c 64 01 a7 77 61 69 74 69 6e 67 01 a7 68 6f"
	  "6c 64 65 72 73 91 84 a3 70 69 64 cd 10 93 a3 75"
	  "69 64 cd 03 e8 a6 77 65 69 67 68 74 01 a7 68 65"
	  "6c 64 5f 6d 73 cd 05 dc a7 77 61 69 74 65 72 73"
	  "91 84 a3 70 69 64 cd 10 9a a3 75 69 64 cd 03 e8"
	  "a6 77 65 69 67 68 74 01 a9 77 61 69 74 65 64 5f"
	  "6d 73 cc c8 a9 74 72 75 6e 63 61 74 65 64 c2", 1 },
	/* 11: ERROR BAD_FRAME */
	{ "00 00 00 45 84 a2 6f 70 a5 45 52 52 4f 52 a2 69"
	  "64 00 a4 63 6f 64 65 a9 42 41 44 5f 46 52 41 4d"
	  "45 a7 6d 65 73 73 61 67 65 bf 66 72 61 6d 65 20"
	  "62 6f 64 79 20 69 73 20 6e 6f 74 20 61 20 6d 73"
	  "67 70 61 63 6b 20 6d 61 70", 1 },
	/* 12: RELEASE by token */
	{ "00 00 00 17 83 a2 6f 70 a7 52 45 4c 45 41 53 45"
	  "a2 69 64 08 a5 74 6f 6b 65 6e 07", 0 },
};

START_TEST(test_doc_frames)
{
	struct proto_request	 q;
	struct proto_reply	 r;
	struct proto_buf	 buf = { 0 };
	struct mp		 m = { 0 };
	uint32_t		 n;
	int			 i = _i;

	mp_hex(&m, doc_frames[i].hex);
	ck_assert_int_eq(proto_frame_check(m.b, m.n, &n), 1);
	ck_assert_uint_eq(n + PROTO_HDR_LEN, m.n);
	if (doc_frames[i].reply) {
		ck_assert_msg(proto_decode_reply(m.b + PROTO_HDR_LEN, n, &r,
		    err, sizeof err) == PROTO_OK, "%s", err);
		ck_assert_int_eq(proto_encode_reply(&buf, &r), 0);
	} else {
		ck_assert_msg(proto_decode_request(m.b + PROTO_HDR_LEN, n, &q,
		    err, sizeof err) == PROTO_OK, "%s", err);
		ck_assert_int_eq(proto_encode_request(&buf, &q), 0);
	}
	ck_assert_uint_eq(buf.len, m.n);
	ck_assert_mem_eq(buf.data, m.b, m.n);

	/* What the document says each frame means. */
	switch (i) {
	case 0:
		ck_assert_int_eq(q.op, PROTO_OP_HELLO);
		ck_assert(q.id == 1);
		ck_assert_uint_eq(q.version, 1);
		ck_assert_str_eq(q.client, "semrun");
		break;
	case 1:
		ck_assert_int_eq(r.op, PROTO_OP_HELLO);
		ck_assert_str_eq(r.server, "semd 0.1.0");
		ck_assert_uint_eq(r.pid, 4242);
		break;
	case 2:
		ck_assert_int_eq(q.op, PROTO_OP_ACQUIRE);
		ck_assert(q.id == 2);
		ck_assert_str_eq(q.sem, "api-x");
		ck_assert_uint_eq(q.capacity, 3);
		ck_assert_uint_eq(q.weight, 1);
		ck_assert(q.timeout_ms == 30000);
		break;
	case 3:
		ck_assert_int_eq(r.op, PROTO_OP_QUEUED);
		ck_assert(r.id == 2);
		ck_assert_uint_eq(r.position, 1);
		break;
	case 4:
	case 6:
		ck_assert_int_eq(r.op, i == 4 ? PROTO_OP_ACQUIRED :
		    PROTO_OP_RELEASED);
		ck_assert(r.id == (i == 4 ? 2 : 3));
		ck_assert_str_eq(r.sem, "api-x");
		ck_assert_uint_eq(r.weight, 1);
		ck_assert(r.token == (i == 4 ? 7 : 0));
		break;
	case 5:
		ck_assert_int_eq(q.op, PROTO_OP_RELEASE);
		ck_assert(q.id == 3);
		ck_assert_str_eq(q.sem, "api-x");
		break;
	case 7:
		ck_assert_int_eq(r.code, PROTO_E_NOT_HELD);
		ck_assert_str_eq(r.message,
		    "RELEASE: this connection holds nothing on 'api-x'");
		break;
	case 8:
		ck_assert_int_eq(q.op, PROTO_OP_TIMEOUT);
		ck_assert(q.id == 5);
		/* The same bytes decode as the TIMEOUT reply. */
		ck_assert_int_eq(proto_decode_reply(m.b + PROTO_HDR_LEN, n,
		    &r, err, sizeof err), PROTO_OK);
		ck_assert_int_eq(r.op, PROTO_OP_TIMEOUT);
		ck_assert(r.id == 5);
		break;
	case 12:
		ck_assert_int_eq(q.op, PROTO_OP_RELEASE);
		ck_assert(q.id == 8);
		ck_assert_int_eq(q.has_token, 1);
		ck_assert(q.token == 7);
		ck_assert_int_eq(q.has_sem, 0);
		break;
	case 9:
		ck_assert_int_eq(q.op, PROTO_OP_STATUS);
		ck_assert_int_eq(q.has_sem, 1);
		break;
	case 10:
		ck_assert_uint_eq(r.nsems, 1);
		ck_assert_uint_eq(r.sems[0].holders[0].pid, 4243);
		ck_assert(r.sems[0].holders[0].ms == 1500);
		ck_assert_uint_eq(r.sems[0].waiters[0].pid, 4250);
		ck_assert(r.sems[0].waiters[0].ms == 200);
		ck_assert_int_eq(r.truncated, 0);
		proto_reply_free(&r);
		break;
	case 11:
		ck_assert_int_eq(r.code, PROTO_E_BAD_FRAME);
		ck_assert(r.id == 0);
		break;
	}
	proto_buf_free(&buf);
	mp_free(&m);
}
END_TEST

/* The proto suite: everything above. */
/* ADMIN requests round-trip, action by action; REVOKED and ADMIN replies. */
START_TEST(test_admin_roundtrip)
{
	struct proto_request	 q, o;
	struct proto_reply	 r, ro;

	memset(&q, 0, sizeof q);
	q.op = PROTO_OP_ADMIN;
	q.id = 7;
	q.action = PROTO_ADMIN_RESIZE;
	q.has_sem = 1;
	strcpy(q.sem, "api-x");
	q.sem_len = 5;
	q.has_capacity = 1;
	q.capacity = 9;
	req_roundtrip(&q, &o);
	ck_assert_int_eq(o.action, PROTO_ADMIN_RESIZE);
	ck_assert_str_eq(o.sem, "api-x");
	ck_assert_uint_eq(o.capacity, 9);

	q.action = PROTO_ADMIN_DRAIN;
	q.has_capacity = 0;
	q.wait = 1;
	req_roundtrip(&q, &o);
	ck_assert_int_eq(o.action, PROTO_ADMIN_DRAIN);
	ck_assert_int_eq(o.wait, 1);

	q.action = PROTO_ADMIN_REVOKE;
	q.wait = 0;
	q.has_pid = 1;
	q.pid = 4242;
	req_roundtrip(&q, &o);
	ck_assert_int_eq(o.has_pid, 1);
	ck_assert_uint_eq(o.pid, 4242);
	ck_assert_int_eq(o.has_token, 0);
	q.has_pid = 0;
	q.has_token = 1;
	q.token = UINT64_MAX;
	req_roundtrip(&q, &o);
	ck_assert_int_eq(o.has_token, 1);
	ck_assert_uint_eq(o.token, UINT64_MAX);

	memset(&q, 0, sizeof q);
	q.op = PROTO_OP_ADMIN;
	q.action = PROTO_ADMIN_RELOAD;
	req_roundtrip(&q, &o);
	ck_assert_int_eq(o.action, PROTO_ADMIN_RELOAD);
	ck_assert_int_eq(o.has_sem, 0);

	memset(&r, 0, sizeof r);
	r.op = PROTO_OP_ADMIN;
	r.id = 7;
	r.action = PROTO_ADMIN_DRAIN;
	strcpy(r.sem, "api-x");
	strcpy(r.message, "api-x is drained");
	r.capacity = 3;
	r.held = 2;
	r.waiting = 1;
	rep_roundtrip(&r, &ro);
	ck_assert_int_eq(ro.op, PROTO_OP_ADMIN);
	ck_assert_int_eq(ro.action, PROTO_ADMIN_DRAIN);
	ck_assert_str_eq(ro.sem, "api-x");
	ck_assert_str_eq(ro.message, "api-x is drained");
	ck_assert_uint_eq(ro.capacity, 3);
	ck_assert_uint_eq(ro.held, 2);
	ck_assert_uint_eq(ro.waiting, 1);
	proto_reply_free(&ro);

	r.action = PROTO_ADMIN_REVOKE;
	r.revoked = 2;
	rep_roundtrip(&r, &ro);
	ck_assert_uint_eq(ro.revoked, 2);
	proto_reply_free(&ro);

	memset(&r, 0, sizeof r);
	r.op = PROTO_OP_REVOKED;
	strcpy(r.sem, "api-x");
	r.token = 99;
	rep_roundtrip(&r, &ro);
	ck_assert_int_eq(ro.op, PROTO_OP_REVOKED);
	ck_assert_uint_eq(ro.id, 0);
	ck_assert_str_eq(ro.sem, "api-x");
	ck_assert_uint_eq(ro.token, 99);
	proto_reply_free(&ro);
}
END_TEST

/* ADMIN requests that are missing or mixing fields are BAD_REQUEST. */
START_TEST(test_admin_strict)
{
	static const char *const bad[] = {
		/* {op: ADMIN, id: 1} */
		"82a26f70a541444d494ea2696401",
		/* action: "explode" */
		"83a26f70a541444d494ea2696401a6616374696f6ea76578706c6f6465",
		/* action: 1 */
		"83a26f70a541444d494ea2696401a6616374696f6e01",
		/* resize without capacity */
		"84a26f70a541444d494ea2696401a6616374696f6ea6726573697a65"
		"a373656da161",
		/* revoke with neither pid nor token */
		"84a26f70a541444d494ea2696401a6616374696f6ea67265766f6b65"
		"a373656da161",
		/* revoke with both */
		"86a26f70a541444d494ea2696401a6616374696f6ea67265766f6b65"
		"a373656da161a370696401a5746f6b656e02",
		/* drain, wait: 1 (not a bool) */
		"85a26f70a541444d494ea2696401a6616374696f6ea5647261696e"
		"a373656da161a47761697401",
	};
	struct proto_request	 q;
	struct mp		 m = { 0 };
	size_t			 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		m.n = 0;
		mp_hex(&m, bad[i]);
		ck_assert_msg(dreq(&m, &q) == PROTO_E_BAD_REQUEST,
		    "case %zu: %s", i, err);
		ck_assert_uint_eq(q.id, 1);
	}
	mp_free(&m);
}
END_TEST

Suite *
proto_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("proto");

	tc = tcase_create("basics");
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_keys);
	tcase_add_test(tc, test_name_valid);
	tcase_add_test(tc, test_frame_check);
	tcase_add_test(tc, test_buf_append);
	tcase_add_test(tc, test_encode_error);
	tcase_add_test(tc, test_text_field);
	suite_add_tcase(s, tc);

	tc = tcase_create("roundtrip");
	tcase_add_test(tc, test_admin_roundtrip);
	tcase_add_test(tc, test_admin_strict);
	tcase_add_test(tc, test_request_roundtrip);
	tcase_add_test(tc, test_reply_roundtrip);
	tcase_add_test(tc, test_status_roundtrip);
	tcase_add_loop_test(tc, test_doc_frames, 0,
	    (int)(sizeof doc_frames / sizeof doc_frames[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("validation");
	tcase_add_loop_test(tc, test_bases_valid, 0, (int)NBASES);
	tcase_add_test(tc, test_wrong_types);
	tcase_add_test(tc, test_missing_and_nil);
	tcase_add_test(tc, test_int_ranges);
	tcase_add_test(tc, test_bad_names);
	tcase_add_test(tc, test_unknown_keys);
	tcase_add_test(tc, test_bad_op);
	tcase_add_test(tc, test_duplicate_key);
	tcase_add_test(tc, test_reply_strict);
	tcase_add_test(tc, test_status_strict);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_add_test(tc, test_hostile);
	tcase_add_test(tc, test_depth);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_big_body);
	tcase_add_test(tc, test_mutations);
	tcase_add_test(tc, test_flat_matches_msgpack);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tc = tcase_create("status-truncation");
	tcase_add_test(tc, test_status_truncate_waiters);
	tcase_add_loop_test(tc, test_status_truncate_tight, 0, 20);
	tcase_add_loop_test(tc, test_truncate_sems, 0, 2);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	return (s);
}
