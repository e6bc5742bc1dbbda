/*
 * test_hostile.c -- DESIGN.md "Limits and hostile input" against a real
 * semd: malformed frames drop only their own client (which loses what it
 * held and its places in line) while a holder keeps its slot and a waiter
 * its place; malformed requests inside good frames are answered and the
 * connection goes on; pipelining, slow readers and many connections.
 */

#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "integ.h"

#define PIPELINE_N	1000
#define MANY_N		500
#define MANY_CAP	10

/* Append a 4-byte big-endian length prefix. */
static void
put_len(struct proto_buf *b, uint32_t len)
{
	uint8_t	hdr[PROTO_HDR_LEN];

	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	mp_bytes(b, hdr, sizeof hdr);
}

/* Append a frame whose body is the len bytes at body. */
static void
put_frame(struct proto_buf *b, const void *body, size_t len)
{
	put_len(b, (uint32_t)len);
	mp_bytes(b, body, len);
}

/* Append a HELLO map {op, id, version} with no frame around it. */
static void
put_hello_map(struct proto_buf *b, uint64_t id)
{
	mp_map(b, 3);
	mp_str(b, "op");
	mp_str(b, "HELLO");
	mp_str(b, "id");
	mp_uint(b, id);
	mp_str(b, "version");
	mp_uint(b, 1);
}

/* --- frames that must close the connection --- */

static void
bad_len0(struct proto_buf *b)
{
	put_len(b, 0);
}

static void
bad_len70000(struct proto_buf *b)
{
	put_len(b, 70000);
	mp_bytes(b, "AAAAAAAAAAAAAAAA", 16);
}

static void
bad_len65537(struct proto_buf *b)
{
	put_len(b, PROTO_MAX_FRAME + 1);
	mp_bytes(b, "\x81\xa2op", 4);
}

static void
bad_array32(struct proto_buf *b)
{
	put_frame(b, "\xdd\x7f\xff\xff\xff", 5);
}

static void
bad_map32(struct proto_buf *b)
{
	put_frame(b, "\xdf\x7f\xff\xff\xff", 5);
}

static void
bad_str32_in_map(struct proto_buf *b)
{
	put_frame(b, "\x81\xa1x\xdb\x7f\xff\xff\xff", 8);
}

static void
bad_int_body(struct proto_buf *b)
{
	put_frame(b, "\x05", 1);
}

static void
bad_array_body(struct proto_buf *b)
{
	struct proto_buf	body = { 0 };

	mp_array(&body, 1);
	put_hello_map(&body, 1);
	put_frame(b, body.data, body.len);
	proto_buf_free(&body);
}

static void
bad_truncated_map(struct proto_buf *b)
{
	/* A map of two pairs holding one: op "HELLO", then nothing. */
	put_frame(b, "\x82\xa2op\xa5HELLO", 10);
}

static void
bad_truncated_str(struct proto_buf *b)
{
	/* A string claiming 9 bytes with 2 present. */
	put_frame(b, "\x81\xa2op\xa9HE", 7);
}

static void
bad_trailing(struct proto_buf *b)
{
	struct proto_buf	body = { 0 };

	put_hello_map(&body, 1);
	mp_bytes(&body, "\xc0\xc0", 2);
	put_frame(b, body.data, body.len);
	proto_buf_free(&body);
}

static void
bad_two_maps(struct proto_buf *b)
{
	struct proto_buf	body = { 0 };

	put_hello_map(&body, 1);
	put_hello_map(&body, 2);
	put_frame(b, body.data, body.len);
	proto_buf_free(&body);
}

static void
bad_nested_arrays(struct proto_buf *b)
{
	uint8_t	body[100];

	/* 100 levels: 99 one-element arrays around an empty one. */
	memset(body, 0x91, sizeof body);
	body[sizeof body - 1] = 0x90;
	put_frame(b, body, sizeof body);
}

static void
bad_nested_in_map(struct proto_buf *b)
{
	struct proto_buf	body = { 0 };
	int			i;

	/* A HELLO whose unknown key holds 100 levels of arrays. */
	mp_map(&body, 4);
	mp_str(&body, "op");
	mp_str(&body, "HELLO");
	mp_str(&body, "id");
	mp_uint(&body, 1);
	mp_str(&body, "version");
	mp_uint(&body, 1);
	mp_str(&body, "deep");
	for (i = 0; i < 99; i++)
		mp_array(&body, 1);
	mp_array(&body, 0);
	put_frame(b, body.data, body.len);
	proto_buf_free(&body);
}

static void
bad_nested_maps(struct proto_buf *b)
{
	struct proto_buf	body = { 0 };
	int			i;

	for (i = 0; i < 100; i++) {
		mp_map(&body, 1);
		mp_str(&body, "m");
	}
	mp_map(&body, 0);
	put_frame(b, body.data, body.len);
	proto_buf_free(&body);
}

static void
bad_int_key(struct proto_buf *b)
{
	/* DESIGN.md: a map with string keys; 1 => 1 is not one. */
	put_frame(b, "\x81\x01\x01", 3);
}

static void
bad_eof_mid_body(struct proto_buf *b)
{
	put_len(b, 100);
	mp_bytes(b, "\x84\xa2op\xa5HELLO", 10);
}

enum hostile_end {
	END_BAD_FRAME,		/* ERROR BAD_FRAME, then EOF */
	END_SHUTDOWN,		/* we shut down writing: EOF (BAD_FRAME ok) */
	END_CLOSE,		/* we close at once */
};

static const struct hostile_case {
	const char		*name;
	void			(*build)(struct proto_buf *);
	enum hostile_end	 end;
} hostile_cases[] = {
	{ "length 0", bad_len0, END_BAD_FRAME },
	{ "length 70000", bad_len70000, END_BAD_FRAME },
	{ "length 65537", bad_len65537, END_BAD_FRAME },
	{ "array32 of 2^31", bad_array32, END_BAD_FRAME },
	{ "map32 of 2^31", bad_map32, END_BAD_FRAME },
	{ "str32 of 2^31 in a map", bad_str32_in_map, END_BAD_FRAME },
	{ "positive int body", bad_int_body, END_BAD_FRAME },
	{ "array body", bad_array_body, END_BAD_FRAME },
	{ "truncated map", bad_truncated_map, END_BAD_FRAME },
	{ "truncated string", bad_truncated_str, END_BAD_FRAME },
	{ "trailing garbage", bad_trailing, END_BAD_FRAME },
	{ "two maps in one frame", bad_two_maps, END_BAD_FRAME },
	{ "100 nested arrays", bad_nested_arrays, END_BAD_FRAME },
	{ "100 nested arrays in a map", bad_nested_in_map, END_BAD_FRAME },
	{ "100 nested maps", bad_nested_maps, END_BAD_FRAME },
	{ "integer key", bad_int_key, END_BAD_FRAME },
	{ "EOF mid-body (shutdown)", bad_eof_mid_body, END_SHUTDOWN },
	{ "EOF mid-body (close)", bad_eof_mid_body, END_CLOSE },
};

#define NHOSTILE	(int)(sizeof hostile_cases / sizeof hostile_cases[0])

/*
 * Pins, for each malformed frame: the hostile client alone is dropped
 * (ERROR BAD_FRAME then EOF; EOF mid-body just closes), the slot it held
 * is released and its place in line is gone, while the holder keeps its
 * slot and the queued client its place: releasing the holder grants the
 * queued client.
 */
START_TEST(test_bad_frame_drops_only_sender)
{
	const struct hostile_case	*hc = &hostile_cases[_i];
	struct integ_daemon		*d;
	struct tclient			*h, *q, *x;
	struct proto_buf		 b = { 0 };
	struct proto_reply		 rep;
	char				 got[512];
	int				 r;

	integ_context(hc->name);
	d = integ_start(NULL);
	h = tc_connect(d);
	q = tc_connect(d);
	x = tc_connect(d);
	tc_acquire_ok(h, 1, "h", 1, 1);
	tc_acquire_queued(q, 2, "h", 1, 1, 1);
	tc_acquire_ok(x, 3, "x", 1, 1);
	tc_acquire_queued(x, 4, "h", 1, 1, 2);

	hc->build(&b);
	tc_send_raw(x, b.data, b.len);
	proto_buf_free(&b);
	switch (hc->end) {
	case END_BAD_FRAME:
		tc_expect_bad_frame_eof(x);
		break;
	case END_SHUTDOWN:
		ck_assert_int_eq(shutdown(x->fd, SHUT_WR), 0);
		r = tc_next(x, &rep, INTEG_REPLY_MS);
		if (r == 1) {
			integ_reply_str(&rep, got, sizeof got);
			ck_assert_msg(rep.op == PROTO_OP_ERROR &&
			    rep.code == PROTO_E_BAD_FRAME, "%s: expected EOF "
			    "(or ERROR BAD_FRAME), got %s", hc->name, got);
			proto_reply_free(&rep);
			tc_expect_eof(x);
		} else
			ck_assert_msg(r == 0, "%s: connection still open",
			    hc->name);
		break;
	case END_CLOSE:
		break;
	}
	tc_close(x);

	tc_wait_status(h, "h", 1, 1);
	tc_wait_status(h, "x", 0, 0);
	tc_check_gone(h, "x");
	tc_expect_quiet(q);
	tc_release_ok(h, 5, "h", 1);
	tc_expect_acquired(q, 2, "h", 1);
	tc_check_status(h, "h", 1, 1, 0);

	tc_close(h);
	tc_close(q);
	integ_stop(d);
}
END_TEST

/* --- requests that are refused but keep the connection --- */

static void
req_weight_string(struct proto_buf *b)
{
	mp_map(b, 5);
	mp_str(b, "op");
	mp_str(b, "ACQUIRE");
	mp_str(b, "id");
	mp_uint(b, 11);
	mp_str(b, "sem");
	mp_str(b, "nf");
	mp_str(b, "capacity");
	mp_uint(b, 1);
	mp_str(b, "weight");
	mp_str(b, "x");
}

static void
req_unknown_op(struct proto_buf *b)
{
	mp_map(b, 2);
	mp_str(b, "op");
	mp_str(b, "FROBNICATE");
	mp_str(b, "id");
	mp_uint(b, 12);
}

static void
req_missing_op(struct proto_buf *b)
{
	mp_map(b, 3);
	mp_str(b, "id");
	mp_uint(b, 13);
	mp_str(b, "sem");
	mp_str(b, "nf");
	mp_str(b, "capacity");
	mp_uint(b, 1);
}

static void
req_negative_weight(struct proto_buf *b)
{
	mp_map(b, 5);
	mp_str(b, "op");
	mp_str(b, "ACQUIRE");
	mp_str(b, "id");
	mp_uint(b, 14);
	mp_str(b, "sem");
	mp_str(b, "nf");
	mp_str(b, "capacity");
	mp_uint(b, 1);
	mp_str(b, "weight");
	mp_int(b, -1);
}

static void
req_op_not_string(struct proto_buf *b)
{
	mp_map(b, 2);
	mp_str(b, "op");
	mp_uint(b, 2);
	mp_str(b, "id");
	mp_uint(b, 15);
}

static void
req_capacity_too_big(struct proto_buf *b)
{
	mp_map(b, 4);
	mp_str(b, "op");
	mp_str(b, "ACQUIRE");
	mp_str(b, "id");
	mp_uint(b, 16);
	mp_str(b, "sem");
	mp_str(b, "nf");
	mp_str(b, "capacity");
	mp_uint(b, (uint64_t)PROTO_MAX_CAPACITY + 1);
}

static void
req_missing_sem(struct proto_buf *b)
{
	mp_map(b, 3);
	mp_str(b, "op");
	mp_str(b, "ACQUIRE");
	mp_str(b, "id");
	mp_uint(b, 17);
	mp_str(b, "capacity");
	mp_uint(b, 1);
}

static void
req_timeout_string(struct proto_buf *b)
{
	mp_map(b, 5);
	mp_str(b, "op");
	mp_str(b, "ACQUIRE");
	mp_str(b, "id");
	mp_uint(b, 18);
	mp_str(b, "sem");
	mp_str(b, "nf");
	mp_str(b, "capacity");
	mp_uint(b, 1);
	mp_str(b, "timeout_ms");
	mp_str(b, "soon");
}

static void
req_missing_id(struct proto_buf *b)
{
	mp_map(b, 2);
	mp_str(b, "op");
	mp_str(b, "HELLO");
	mp_str(b, "version");
	mp_uint(b, 1);
}

static void
req_unknown_keys(struct proto_buf *b)
{
	mp_map(b, 5);
	mp_str(b, "op");
	mp_str(b, "HELLO");
	mp_str(b, "x-future");
	mp_array(b, 2);
	mp_uint(b, 1);
	mp_map(b, 1);
	mp_str(b, "a");
	mp_int(b, -7);
	mp_str(b, "id");
	mp_uint(b, 19);
	mp_str(b, "version");
	mp_uint(b, 1);
	mp_str(b, "zzz");
	mp_bytes(b, "\xc0", 1);
}

static const struct soft_case {
	const char	*name;
	void		(*build)(struct proto_buf *);
	enum proto_op	 op;		/* expected reply */
	enum proto_err	 code;		/* if ERROR */
	uint64_t	 id;
} soft_cases[] = {
	{ "weight \"x\"", req_weight_string, PROTO_OP_ERROR,
	    PROTO_E_BAD_REQUEST, 11 },
	{ "unknown op", req_unknown_op, PROTO_OP_ERROR, PROTO_E_UNKNOWN_OP,
	    12 },
	{ "missing op", req_missing_op, PROTO_OP_ERROR, PROTO_E_BAD_REQUEST,
	    13 },
	{ "negative weight", req_negative_weight, PROTO_OP_ERROR,
	    PROTO_E_BAD_REQUEST, 14 },
	{ "op not a string", req_op_not_string, PROTO_OP_ERROR,
	    PROTO_E_BAD_REQUEST, 15 },
	{ "capacity 2^31", req_capacity_too_big, PROTO_OP_ERROR,
	    PROTO_E_BAD_REQUEST, 16 },
	{ "ACQUIRE without sem", req_missing_sem, PROTO_OP_ERROR,
	    PROTO_E_BAD_REQUEST, 17 },
	{ "timeout_ms \"soon\"", req_timeout_string, PROTO_OP_ERROR,
	    PROTO_E_BAD_REQUEST, 18 },
	{ "missing id", req_missing_id, PROTO_OP_ERROR, PROTO_E_BAD_REQUEST,
	    0 },
	{ "unknown keys", req_unknown_keys, PROTO_OP_HELLO, PROTO_OK, 19 },
};

#define NSOFT	(int)(sizeof soft_cases / sizeof soft_cases[0])

/*
 * Pins, for each malformed request in a good frame: the reply (ERROR with
 * the right code and the request's id, or HELLO when only unknown keys
 * were added), nothing created, the connection still usable, and the
 * queued client's place kept.
 */
START_TEST(test_bad_request_keeps_connection)
{
	const struct soft_case	*sc = &soft_cases[_i];
	struct integ_daemon	*d;
	struct tclient		*h, *q, *x;
	struct proto_buf	 b = { 0 };
	struct proto_reply	 rep;
	char			 got[512];

	integ_context(sc->name);
	d = integ_start(NULL);
	h = tc_connect(d);
	q = tc_connect(d);
	x = tc_connect(d);
	tc_acquire_ok(h, 1, "h", 1, 1);
	tc_acquire_queued(q, 2, "h", 1, 1, 1);
	tc_acquire_ok(x, 3, "x", 1, 1);

	sc->build(&b);
	tc_send_body(x, b.data, b.len);
	proto_buf_free(&b);
	tc_recv(x, &rep);
	integ_reply_str(&rep, got, sizeof got);
	ck_assert_msg(rep.op == sc->op && rep.id == sc->id &&
	    (sc->op != PROTO_OP_ERROR || rep.code == sc->code),
	    "%s: expected %s %s id=%llu, got %s", sc->name,
	    proto_op_name(sc->op), sc->code != PROTO_OK ?
	    proto_err_name(sc->code) : "", (unsigned long long)sc->id, got);
	ck_assert_msg(sc->op != PROTO_OP_ERROR || rep.message[0] != '\0',
	    "%s: ERROR without a message", sc->name);
	proto_reply_free(&rep);

	tc_hello_ok(x);
	tc_check_gone(x, "nf");
	tc_check_status(x, "x", 1, 1, 0);
	tc_release_ok(x, 4, "x", 1);
	tc_expect_quiet(q);
	tc_release_ok(h, 5, "h", 1);
	tc_expect_acquired(q, 2, "h", 1);

	tc_close(h);
	tc_close(q);
	tc_close(x);
	integ_stop(d);
}
END_TEST

/*
 * Pins that ids are 64-bit: UINT64_MAX round-trips in HELLO, QUEUED,
 * TIMEOUT (withdrawal), ACQUIRED and RELEASED.
 */
START_TEST(test_huge_id)
{
	struct integ_daemon	*d;
	struct tclient		*h, *c;

	d = integ_start(NULL);
	h = tc_connect(d);
	c = tc_connect(d);
	tc_hello(c, UINT64_MAX, 1);
	tc_expect_hello(c, UINT64_MAX);

	tc_acquire_ok(h, 1, "big", 1, 1);
	tc_acquire_queued(c, UINT64_MAX, "big", 1, 1, 1);
	tc_withdraw(c, UINT64_MAX);
	tc_expect_timeout(c, UINT64_MAX);
	tc_acquire_ok(c, UINT64_MAX, "big2", 1, 1);
	tc_release_ok(c, UINT64_MAX, "big2", 1);
	tc_check_status(c, "big", 1, 1, 0);

	tc_close(h);
	tc_close(c);
	integ_stop(d);
}
END_TEST

/* Append a HELLO map padded to a body of exactly PROTO_MAX_FRAME bytes. */
static void
put_max_hello_map(struct proto_buf *body, uint64_t id)
{
	size_t	 start = body->len, pad;
	char	*fill;

	mp_map(body, 4);
	mp_str(body, "op");
	mp_str(body, "HELLO");
	mp_str(body, "id");
	mp_uint(body, id);
	mp_str(body, "version");
	mp_uint(body, 1);
	mp_str(body, "pad");
	pad = PROTO_MAX_FRAME - (body->len - start) - 3;	/* str16 header */
	ck_assert(pad > 0xff && pad <= 0xffff);
	fill = malloc(pad);
	ck_assert_ptr_nonnull(fill);
	memset(fill, 'p', pad);
	mp_strn(body, fill, pad);
	free(fill);
	ck_assert_uint_eq(body->len - start, PROTO_MAX_FRAME);
}

/*
 * Pins the frame boundary: a body of exactly PROTO_MAX_FRAME bytes is
 * accepted, and a frame split over several writes is reassembled.
 */
START_TEST(test_frame_limits)
{
	struct integ_daemon	*d;
	struct tclient		*c;
	struct proto_buf	 b = { 0 }, body = { 0 };

	d = integ_start(NULL);
	c = tc_connect(d);

	put_max_hello_map(&body, 21);
	tc_send_body(c, body.data, body.len);
	proto_buf_free(&body);
	tc_expect_hello(c, 21);

	/* One HELLO in three writes, with pauses so they arrive apart. */
	put_hello_map(&body, 22);
	put_frame(&b, body.data, body.len);
	proto_buf_free(&body);
	tc_send_raw(c, b.data, 2);
	usleep(20000);
	tc_send_raw(c, b.data + 2, 5);
	usleep(20000);
	tc_send_raw(c, b.data + 7, b.len - 7);
	proto_buf_free(&b);
	tc_expect_hello(c, 22);

	tc_close(c);
	integ_stop(d);
}
END_TEST

/*
 * Pins the read buffer's growth and compaction: in one write, 20 small
 * ACQUIREs, then a largest frame (which starts part-way into the first
 * read and must be moved to the front and grown for), then a small
 * HELLO right behind it; then a largest frame a few bytes at a time with
 * pauses.  Every request is answered, in order.
 */
START_TEST(test_frame_after_pipeline)
{
	struct integ_daemon	*d;
	struct tclient		*c;
	struct proto_buf	 b = { 0 }, body = { 0 };
	size_t			 off, n;
	int			 i;

	d = integ_start(NULL);
	c = tc_connect(d);
	for (i = 0; i < 20; i++)
		enc_acquire(&b, (uint64_t)i + 1, "grow", 20, 1, -1);
	put_max_hello_map(&body, 31);
	put_frame(&b, body.data, body.len);
	proto_buf_free(&body);
	put_hello_map(&body, 32);
	put_frame(&b, body.data, body.len);
	proto_buf_free(&body);
	tc_send_raw(c, b.data, b.len);
	proto_buf_free(&b);
	for (i = 0; i < 20; i++)
		tc_expect_acquired(c, (uint64_t)i + 1, "grow", 1);
	tc_expect_hello(c, 31);
	tc_expect_hello(c, 32);

	put_max_hello_map(&body, 33);
	put_frame(&b, body.data, body.len);
	proto_buf_free(&body);
	for (off = 0; off < b.len; off += n) {
		n = off < 16 ? 3 : 20000;
		if (n > b.len - off)
			n = b.len - off;
		tc_send_raw(c, b.data + off, n);
		usleep(5000);
	}
	proto_buf_free(&b);
	tc_expect_hello(c, 33);
	tc_check_status(c, "grow", 20, 20, 0);
	tc_expect_quiet(c);

	tc_close(c);
	integ_stop(d);
}
END_TEST

/*
 * Pins pipelining: 1,000 ACQUIREs in one write get 1,000 ACQUIRED in
 * request order, then 1,000 RELEASEs in one write get 1,000 RELEASED in
 * order, and the semaphore is forgotten.
 */
START_TEST(test_pipeline_1000)
{
	struct integ_daemon	*d;
	struct tclient		*c;
	struct proto_buf	 b = { 0 };
	int			 i;

	d = integ_start(NULL);
	c = tc_connect(d);
	for (i = 0; i < PIPELINE_N; i++)
		enc_acquire(&b, (uint64_t)i + 1, "pipe", PIPELINE_N, 1, -1);
	tc_send_raw(c, b.data, b.len);
	proto_buf_free(&b);
	for (i = 0; i < PIPELINE_N; i++)
		tc_expect_acquired(c, (uint64_t)i + 1, "pipe", 1);
	tc_check_status(c, "pipe", PIPELINE_N, PIPELINE_N, 0);

	for (i = 0; i < PIPELINE_N; i++)
		enc_release(&b, (uint64_t)i + 5000, "pipe", 1);
	tc_send_raw(c, b.data, b.len);
	proto_buf_free(&b);
	for (i = 0; i < PIPELINE_N; i++)
		tc_expect_released(c, (uint64_t)i + 5000, "pipe", 1);
	tc_check_gone(c, "pipe");
	tc_expect_quiet(c);

	tc_close(c);
	integ_stop(d);
}
END_TEST

/*
 * Pins the bounded output buffer: a client that sends STATUS requests
 * without ever reading is disconnected (--max-output 65540, the least
 * semd accepts: one largest frame) instead of making the daemon buffer
 * without end; meanwhile the holder keeps its slot and the queued client
 * its place, and the daemon serves on.
 */
START_TEST(test_slow_reader_disconnected)
{
	struct integ_daemon	*d;
	struct tclient		*h, *q, *s;
	struct proto_buf	 batch = { 0 };
	struct pollfd		 pfd;
	char			 name[PROTO_MAX_NAME + 1];
	uint8_t			 sink[65536];
	unsigned long long	 sent = 0;
	int64_t			 deadline;
	size_t			 off = 0;
	ssize_t			 n;
	int			 i, closed = 0;

	d = integ_start("--max-output", "65540", NULL);
	h = tc_connect(d);
	q = tc_connect(d);
	s = tc_connect(d);
	tc_acquire_ok(h, 1, "h", 1, 1);
	tc_acquire_queued(q, 2, "h", 1, 1, 1);
	/* Some semaphores with long names make each STATUS reply large. */
	for (i = 0; i < 16; i++) {
		snprintf(name, sizeof name, "slow-%02d-%0100d", i, 0);
		tc_acquire_ok(h, 10 + i, name, 1, 1);
	}

	for (i = 0; i < 64; i++)
		enc_status(&batch, (uint64_t)i, NULL);
	deadline = tl_now_ms() + 3 * INTEG_REPLY_MS;
	while (!closed) {
		n = send(s->fd, batch.data + off, batch.len - off,
		    MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			if (off == batch.len) {
				off = 0;
				sent += 64;
			}
			continue;
		}
		if (n == -1 && (errno == EPIPE || errno == ECONNRESET)) {
			closed = 1;
			break;
		}
		ck_assert_msg(n == -1 && (errno == EAGAIN || errno == EINTR),
		    "send: %s", strerror(errno));
		ck_assert_msg(tl_now_ms() < deadline, "a client that never "
		    "reads is still connected after %llu STATUS requests",
		    sent);
		pfd.fd = s->fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 100) == 1 &&
		    (pfd.revents & (POLLHUP | POLLERR)) != 0)
			closed = 1;
	}
	proto_buf_free(&batch);

	/* What was sent before the close can be read; then EOF. */
	deadline = tl_now_ms() + INTEG_REPLY_MS;
	for (;;) {
		n = read(s->fd, sink, sizeof sink);
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			break;
		if (n > 0)
			continue;
		ck_assert_msg(errno == EAGAIN || errno == EINTR, "read: %s",
		    strerror(errno));
		ck_assert_msg(tl_now_ms() < deadline, "no EOF on the "
		    "disconnected slow reader");
		pfd.fd = s->fd;
		pfd.events = POLLIN;
		poll(&pfd, 1, 100);
	}
	tc_close(s);

	tc_check_status(h, "h", 1, 1, 1);
	tc_expect_quiet(q);
	tc_release_ok(h, 3, "h", 1);
	tc_expect_acquired(q, 2, "h", 1);

	tc_close(h);
	tc_close(q);
	integ_stop(d);
}
END_TEST

/*
 * Pins many concurrent connections: 500 clients send ACQUIRE on one
 * semaphore of capacity 10 at once; exactly 10 are granted and the other
 * 490 are queued at positions 1..490, each once; releasing holders one
 * by one grants the queue in position order; at the end nothing is held
 * and the semaphore is forgotten.
 */
START_TEST(test_500_connections)
{
	struct integ_daemon	*d;
	struct tclient		*c[MANY_N];
	struct proto_reply	 rep;
	char			 got[512];
	int			 order[MANY_N], hold[MANY_N];
	int			 i, j, nheld = 0, head = 0, next = 0;

	d = integ_start(NULL);
	for (i = 0; i < MANY_N; i++) {
		c[i] = tc_connect(d);
		order[i] = -1;
	}
	for (i = 0; i < MANY_N; i++)
		tc_acquire(c[i], (uint64_t)i + 1, "many", MANY_CAP, 1, -1);
	for (i = 0; i < MANY_N; i++) {
		tc_recv(c[i], &rep);
		integ_reply_str(&rep, got, sizeof got);
		ck_assert_msg(rep.id == (uint64_t)i + 1, "client %d: %s", i,
		    got);
		if (rep.op == PROTO_OP_ACQUIRED) {
			ck_assert_msg(nheld < MANY_CAP, "more than %d granted",
			    MANY_CAP);
			hold[nheld++] = i;
		} else {
			ck_assert_msg(rep.op == PROTO_OP_QUEUED &&
			    rep.position >= 1 &&
			    rep.position <= MANY_N - MANY_CAP &&
			    order[rep.position - 1] == -1,
			    "client %d: %s (not a free queue position)", i,
			    got);
			order[rep.position - 1] = i;
		}
		proto_reply_free(&rep);
	}
	ck_assert_int_eq(nheld, MANY_CAP);
	tc_check_status(c[0], "many", MANY_CAP, MANY_CAP, MANY_N - MANY_CAP);

	while (head < nheld) {
		i = hold[head++];
		tc_release_ok(c[i], 100000 + (uint64_t)i, "many", 1);
		if (next < MANY_N - MANY_CAP) {
			j = order[next++];
			tc_expect_acquired(c[j], (uint64_t)j + 1, "many", 1);
			hold[nheld++] = j;
		}
	}
	ck_assert_int_eq(nheld, MANY_N);
	tc_check_gone(c[0], "many");

	for (i = 0; i < MANY_N; i++)
		tc_close(c[i]);
	integ_stop(d);
}
END_TEST

/*
 * Connect once the daemon has room: integ_start's readiness probe, closed
 * just before, may still count until the daemon notices it left; a
 * refused client (ERROR LIMIT, EOF) retries.
 */
static struct tclient *
connect_when_room(struct integ_daemon *d)
{
	struct tclient		*c;
	struct proto_buf	 body = { 0 }, b = { 0 };
	struct proto_reply	 rep;
	char			 got[512];
	int64_t			 deadline;
	int			 r;

	put_hello_map(&body, 99);
	put_frame(&b, body.data, body.len);
	proto_buf_free(&body);
	deadline = tl_now_ms() + INTEG_REPLY_MS;
	for (;;) {
		c = tc_connect(d);
		/* A refused client may find the socket closed: no check. */
		(void)send(c->fd, b.data, b.len, MSG_NOSIGNAL);
		r = tc_next(c, &rep, INTEG_REPLY_MS);
		ck_assert_msg(r != -1, "no reply to HELLO within %d ms",
		    INTEG_REPLY_MS);
		if (r == 1) {
			integ_reply_str(&rep, got, sizeof got);
			if (rep.op == PROTO_OP_HELLO && rep.id == 99) {
				proto_reply_free(&rep);
				proto_buf_free(&b);
				return (c);
			}
			ck_assert_msg(rep.op == PROTO_OP_ERROR &&
			    rep.code == PROTO_E_LIMIT, "expected HELLO or "
			    "ERROR LIMIT, got %s", got);
			proto_reply_free(&rep);
			tc_expect_eof(c);
		}
		tc_close(c);
		ck_assert_msg(tl_now_ms() < deadline, "no room for a client "
		    "after %d ms", INTEG_REPLY_MS);
		usleep(10000);
	}
}

/*
 * Pins --max-connections: a connection beyond the limit is answered
 * ERROR LIMIT and closed, the connections inside the limit keep their
 * slot and place, and once one of them leaves a new client is served.
 */
START_TEST(test_max_connections)
{
	struct integ_daemon	*d;
	struct tclient		*h, *q, *x;
	struct proto_reply	 rep;
	char			 got[512];

	d = integ_start("--max-connections", "2", NULL);
	h = connect_when_room(d);
	q = connect_when_room(d);
	tc_acquire_ok(h, 1, "mc", 1, 1);
	tc_acquire_queued(q, 2, "mc", 1, 1, 1);

	x = tc_connect(d);
	tc_recv(x, &rep);
	integ_reply_str(&rep, got, sizeof got);
	ck_assert_msg(rep.op == PROTO_OP_ERROR && rep.code == PROTO_E_LIMIT,
	    "third connection: expected ERROR LIMIT, got %s", got);
	proto_reply_free(&rep);
	tc_expect_eof(x);
	tc_close(x);

	tc_check_status(h, "mc", 1, 1, 1);
	tc_close(h);
	tc_expect_acquired(q, 2, "mc", 1);

	/*
	 * q's grant shows the daemon saw h leave: a new client is served.
	 * Its grant after q leaves shows q is gone too, so integ_stop's own
	 * connection is within the limit.
	 */
	x = tc_connect(d);
	tc_hello_ok(x);
	tc_acquire_queued(x, 3, "mc", 1, 1, 1);
	tc_close(q);
	tc_expect_acquired(x, 3, "mc", 1);
	tc_close(x);
	integ_stop(d);
}
END_TEST

/* The hostile input suite. */
Suite *
hostile_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("hostile");
	tc = tcase_create("frames");
	tcase_set_timeout(tc, INTEG_TCASE_S);
	tcase_add_loop_test(tc, test_bad_frame_drops_only_sender, 0,
	    NHOSTILE);
	tcase_add_loop_test(tc, test_bad_request_keeps_connection, 0, NSOFT);
	tcase_add_test(tc, test_huge_id);
	tcase_add_test(tc, test_frame_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_set_timeout(tc, INTEG_TCASE_S);
	tcase_add_test(tc, test_pipeline_1000);
	tcase_add_test(tc, test_frame_after_pipeline);
	tcase_add_test(tc, test_slow_reader_disconnected);
	tcase_add_test(tc, test_500_connections);
	tcase_add_test(tc, test_max_connections);
	suite_add_tcase(s, tc);
	return (s);
}
