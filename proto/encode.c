/*
 * encode.c -- struct proto_request / struct proto_reply to whole frames.
 *
 * msgpack-c's packer writes through enc_write() straight into the
 * caller's struct proto_buf, after a four-byte placeholder that becomes
 * the length prefix once the body is complete.  A failed encode leaves the
 * buffer exactly as it was, so a daemon never queues half a frame.
 *
 * Strings are clamped to their protocol maxima (names to PROTO_MAX_NAME,
 * text to PROTO_MAX_TEXT at a UTF-8 boundary), so every frame but STATUS
 * is far below PROTO_MAX_FRAME.  A STATUS reply is sized in advance by
 * status_size(), which mirrors the packer's choice of msgpack formats, and
 * shortened until it fits.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "proto.h"

/* An encode in progress. */
struct enc {
	struct proto_buf	*buf;
	size_t			 start;		/* offset of the prefix */
	int			 failed;	/* a write ran out of memory */
	msgpack_packer		 pk;
};

/* Make room for n more bytes in buf, growing geometrically. */
static int
buf_grow(struct proto_buf *buf, size_t n)
{
	size_t	 need, cap;
	uint8_t	*p;

	if (n <= buf->cap - buf->len)
		return (0);
	if (n > SIZE_MAX - buf->len) {
		errno = ENOMEM;
		return (-1);
	}
	need = buf->len + n;
	cap = buf->cap > 0 ? buf->cap : 256;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	if ((p = realloc(buf->data, cap)) == NULL) {
		errno = ENOMEM;
		return (-1);
	}
	buf->data = p;
	buf->cap = cap;
	return (0);
}

/*
 * msgpack_packer callback: append to the buffer; sticky failure.  The
 * packer calls it for every header and value, mostly with 1 to 9 bytes,
 * and enc_begin() has made room already: keep that path short.
 */
static int
enc_write(void *data, const char *p, size_t n)
{
	struct enc		*e = data;
	struct proto_buf	*buf = e->buf;

	if (e->failed)
		return (-1);
	if (n > buf->cap - buf->len && buf_grow(buf, n) == -1) {
		e->failed = 1;
		return (-1);
	}
	if (n == 1)
		buf->data[buf->len] = (uint8_t)*p;
	else
		memcpy(buf->data + buf->len, p, n);
	buf->len += n;
	return (0);
}

/* Start a frame in buf: room for hint body bytes, prefix placeholder. */
static void
enc_begin(struct enc *e, struct proto_buf *buf, size_t hint)
{
	static const char	 zero[PROTO_HDR_LEN];

	e->buf = buf;
	e->start = buf->len;
	e->failed = 0;
	msgpack_packer_init(&e->pk, e, enc_write);
	if (buf_grow(buf, PROTO_HDR_LEN + hint) == -1)
		e->failed = 1;
	enc_write(e, zero, sizeof zero);
}

/*
 * Finish the frame: write the length prefix.  On failure or an oversized
 * body, drop the partial frame and return -1 (errno ENOMEM or EMSGSIZE).
 */
static int
enc_end(struct enc *e)
{
	struct proto_buf	*buf = e->buf;
	size_t			 n;
	uint8_t			*p;

	if (e->failed) {
		buf->len = e->start;
		errno = ENOMEM;
		return (-1);
	}
	n = buf->len - e->start - PROTO_HDR_LEN;
	if (n > PROTO_MAX_FRAME) {
		buf->len = e->start;
		errno = EMSGSIZE;
		return (-1);
	}
	p = buf->data + e->start;
	p[0] = (uint8_t)(n >> 24);
	p[1] = (uint8_t)(n >> 16);
	p[2] = (uint8_t)(n >> 8);
	p[3] = (uint8_t)n;
	return (0);
}

/* Pack a string of n bytes. */
static void
enc_str(struct enc *e, const char *s, size_t n)
{
	msgpack_pack_str(&e->pk, n);
	msgpack_pack_str_body(&e->pk, s, n);
}

#define ENC_KEY(e, lit) enc_str(e, lit, sizeof(lit) - 1)

/* Length of a semaphore name field, clamped to PROTO_MAX_NAME. */
static size_t
name_len(const char *s)
{
	return (strnlen(s, PROTO_MAX_NAME));
}

/*
 * Length of a text field, clamped to PROTO_MAX_TEXT bytes without cutting
 * a UTF-8 sequence in two.
 */
static size_t
text_len(const char *s)
{
	return (proto_text_clamp(s, strnlen(s, PROTO_MAX_TEXT + 1)));
}

/* Start the top map: nfields entries, the first two being op and id. */
static void
enc_head(struct enc *e, size_t nfields, enum proto_op op, uint64_t id)
{
	const char	*name = proto_op_name(op);

	msgpack_pack_map(&e->pk, nfields);
	ENC_KEY(e, "op");
	enc_str(e, name, strlen(name));
	ENC_KEY(e, "id");
	msgpack_pack_uint64(&e->pk, id);
}

/* Pack rate (when has_rate) and burst (when also not 0), as map entries. */
static void
enc_rate(struct enc *e, int has_rate, double rate, uint32_t burst)
{
	if (!has_rate)
		return;
	ENC_KEY(e, "rate");
	msgpack_pack_double(&e->pk, rate);
	if (burst != 0) {
		ENC_KEY(e, "burst");
		msgpack_pack_uint32(&e->pk, burst);
	}
}

/* Pack one entry of an ACQUIRE's sems. */
static void
enc_sem_req(struct enc *e, const struct proto_sem_req *r)
{
	msgpack_pack_map(&e->pk, 1 + (r->has_capacity != 0) +
	    (r->weight != 0) + (r->has_rate != 0) +
	    (r->has_rate && r->burst != 0));
	ENC_KEY(e, "sem");
	enc_str(e, r->sem, name_len(r->sem));
	if (r->has_capacity) {
		ENC_KEY(e, "capacity");
		msgpack_pack_uint32(&e->pk, r->capacity);
	}
	if (r->weight != 0) {
		ENC_KEY(e, "weight");
		msgpack_pack_uint32(&e->pk, r->weight);
	}
	enc_rate(e, r->has_rate, r->rate, r->burst);
}

/*
 * Append one request frame to buf.  Fields the op does not use are not
 * sent; ACQUIRE/RELEASE weight 0 is sent as absent (the default, 1);
 * ACQUIRE timeout_ms < 0 as absent (wait forever).  Returns 0, or -1 with
 * errno ENOMEM (buf unchanged) or EINVAL (op is not a request).
 */
int
proto_encode_request(struct proto_buf *buf, const struct proto_request *req)
{
	struct enc	 e;
	size_t		 n, i;

	switch (req->op) {
	case PROTO_OP_HELLO:
		n = 3 + (req->client[0] != '\0') + (req->worker_pid != 0) +
		    (req->worker_cmd[0] != '\0');
		enc_begin(&e, buf, 96 + 2 * PROTO_MAX_TEXT);
		enc_head(&e, n, req->op, req->id);
		ENC_KEY(&e, "version");
		msgpack_pack_uint32(&e.pk, req->version);
		if (req->client[0] != '\0') {
			ENC_KEY(&e, "client");
			enc_str(&e, req->client, text_len(req->client));
		}
		if (req->worker_pid != 0) {
			ENC_KEY(&e, "worker_pid");
			msgpack_pack_uint32(&e.pk, req->worker_pid);
		}
		if (req->worker_cmd[0] != '\0') {
			ENC_KEY(&e, "worker_cmd");
			enc_str(&e, req->worker_cmd,
			    text_len(req->worker_cmd));
		}
		break;
	case PROTO_OP_RELEASE:
	case PROTO_OP_RECLAIM:
		if (req->op == PROTO_OP_RELEASE && req->has_token) {
			/* A whole grant: its token says what. */
			enc_begin(&e, buf, 48);
			enc_head(&e, 3, req->op, req->id);
			ENC_KEY(&e, "token");
			msgpack_pack_uint64(&e.pk, req->token);
			break;
		}
		n = 3 + (req->weight != 0);
		if (req->op == PROTO_OP_RECLAIM)
			n += (req->has_capacity != 0) + 1;
		enc_begin(&e, buf, 112 + PROTO_MAX_NAME);
		enc_head(&e, n, req->op, req->id);
		if (req->op == PROTO_OP_RECLAIM) {
			ENC_KEY(&e, "token");
			msgpack_pack_uint64(&e.pk, req->token);
		}
		ENC_KEY(&e, "sem");
		enc_str(&e, req->sem, name_len(req->sem));
		if (req->op == PROTO_OP_RECLAIM && req->has_capacity) {
			ENC_KEY(&e, "capacity");
			msgpack_pack_uint32(&e.pk, req->capacity);
		}
		if (req->weight != 0) {
			ENC_KEY(&e, "weight");
			msgpack_pack_uint32(&e.pk, req->weight);
		}
		break;
	case PROTO_OP_ACQUIRE:
		if (req->nsems > 0) {
			if (req->nsems > PROTO_MAX_SEMS) {
				errno = EINVAL;
				return (-1);
			}
			n = 3 + (req->timeout_ms >= 0);
			enc_begin(&e, buf, 64 + req->nsems *
			    (80 + PROTO_MAX_NAME));
			enc_head(&e, n, req->op, req->id);
			ENC_KEY(&e, "sems");
			msgpack_pack_array(&e.pk, req->nsems);
			for (i = 0; i < req->nsems; i++)
				enc_sem_req(&e, &req->sems[i]);
		} else {
			n = 3 + (req->weight != 0) + (req->has_capacity != 0) +
			    (req->timeout_ms >= 0) + (req->has_rate != 0) +
			    (req->has_rate && req->burst != 0);
			enc_begin(&e, buf, 128 + PROTO_MAX_NAME);
			enc_head(&e, n, req->op, req->id);
			ENC_KEY(&e, "sem");
			enc_str(&e, req->sem, name_len(req->sem));
			if (req->has_capacity) {
				ENC_KEY(&e, "capacity");
				msgpack_pack_uint32(&e.pk, req->capacity);
			}
			if (req->weight != 0) {
				ENC_KEY(&e, "weight");
				msgpack_pack_uint32(&e.pk, req->weight);
			}
			enc_rate(&e, req->has_rate, req->rate, req->burst);
		}
		if (req->timeout_ms >= 0) {
			ENC_KEY(&e, "timeout_ms");
			msgpack_pack_uint64(&e.pk, (uint64_t)req->timeout_ms);
		}
		break;
	case PROTO_OP_TIMEOUT:
		enc_begin(&e, buf, 32);
		enc_head(&e, 2, req->op, req->id);
		break;
	case PROTO_OP_STATUS:
	case PROTO_OP_STATS:
		enc_begin(&e, buf, 32 + PROTO_MAX_NAME);
		enc_head(&e, req->has_sem ? 3 : 2, req->op, req->id);
		if (req->has_sem) {
			ENC_KEY(&e, "sem");
			enc_str(&e, req->sem, name_len(req->sem));
		}
		break;
	case PROTO_OP_ADMIN:
		if (proto_admin_name(req->action) == NULL) {
			errno = EINVAL;
			return (-1);
		}
		n = 3 + (req->has_sem != 0) + (req->has_capacity != 0) +
		    (req->has_pid != 0) + (req->has_token != 0) +
		    (req->wait != 0);
		enc_begin(&e, buf, 128 + PROTO_MAX_NAME);
		enc_head(&e, n, req->op, req->id);
		ENC_KEY(&e, "action");
		enc_str(&e, proto_admin_name(req->action),
		    strlen(proto_admin_name(req->action)));
		if (req->has_sem) {
			ENC_KEY(&e, "sem");
			enc_str(&e, req->sem, name_len(req->sem));
		}
		if (req->has_capacity) {
			ENC_KEY(&e, "capacity");
			msgpack_pack_uint32(&e.pk, req->capacity);
		}
		if (req->has_pid) {
			ENC_KEY(&e, "pid");
			msgpack_pack_uint32(&e.pk, req->pid);
		}
		if (req->has_token) {
			ENC_KEY(&e, "token");
			msgpack_pack_uint64(&e.pk, req->token);
		}
		if (req->wait) {
			ENC_KEY(&e, "wait");
			msgpack_pack_true(&e.pk);
		}
		break;
	default:
		errno = EINVAL;
		return (-1);
	}
	return (enc_end(&e));
}

/* Pack the ERROR body. */
static void
enc_error(struct enc *e, uint64_t id, enum proto_err code, const char *msg)
{
	const char	*name = proto_err_name(code);

	enc_head(e, 4, PROTO_OP_ERROR, id);
	ENC_KEY(e, "code");
	enc_str(e, name, strlen(name));
	ENC_KEY(e, "message");
	enc_str(e, msg, text_len(msg));
}

/*
 * Append an ERROR frame {id, code, message} to buf; message may be NULL
 * (sent as "") and is cut to PROTO_MAX_TEXT bytes.  Returns 0, or -1 with
 * errno ENOMEM (buf unchanged) or EINVAL (code is PROTO_OK or unknown).
 */
int
proto_encode_error(struct proto_buf *buf, uint64_t id, enum proto_err code,
    const char *message)
{
	struct enc	 e;

	if (code == PROTO_OK || proto_err_name(code) == NULL) {
		errno = EINVAL;
		return (-1);
	}
	enc_begin(&e, buf, 64 + PROTO_MAX_TEXT);
	enc_error(&e, id, code, message != NULL ? message : "");
	return (enc_end(&e));
}

/* Encoded size of an unsigned integer, as msgpack_pack_uint64 writes it. */
static size_t
sz_uint(uint64_t v)
{
	if (v < 128)
		return (1);
	if (v < 256)
		return (2);
	if (v < 65536)
		return (3);
	if (v <= UINT32_MAX)
		return (5);
	return (9);
}

/* Encoded size of a string of n bytes, header included. */
static size_t
sz_str(size_t n)
{
	if (n < 32)
		return (1 + n);
	if (n < 256)
		return (2 + n);
	if (n < 65536)
		return (3 + n);
	return (5 + n);
}

/* Encoded size of an array or map header for n elements or entries. */
static size_t
sz_cont(size_t n)
{
	if (n < 16)
		return (1);
	if (n < 65536)
		return (3);
	return (5);
}

/* Is the optional party text s present? */
static int
party_has(const char *s)
{
	return (s != NULL && *s != '\0');
}

/* Encoded size of one holder (holder = 1) or waiter map. */
static size_t
party_size(const struct proto_party *p, int holder)
{
	size_t	size;

	size = sz_cont(7) + sz_str(3) + sz_uint(p->pid) + sz_str(3) +
	    sz_uint(p->uid) + sz_str(6) + sz_uint(p->weight) +
	    sz_str(holder ? 7 : 9) + sz_uint(p->ms);
	if (p->worker_pid != 0)
		size += sz_str(10) + sz_uint(p->worker_pid);
	if (party_has(p->client))
		size += sz_str(6) + sz_str(text_len(p->client));
	if (party_has(p->worker_cmd))
		size += sz_str(10) + sz_str(text_len(p->worker_cmd));
	if (party_has(p->host))
		size += sz_str(4) + sz_str(text_len(p->host));
	return (size);
}

/* The lesser of n and cap. */
static size_t
list_len(size_t n, size_t cap)
{
	return (n < cap ? n : cap);
}

/*
 * Encoded body size of rep listing its first k semaphores and the first
 * cap holders and waiters of each.  Stops counting, returning a value
 * above limit, as soon as limit is passed, so a probe costs at most
 * O(k + limit / 20).
 */
static size_t
status_size(const struct proto_reply *rep, size_t k, size_t cap,
    size_t limit)
{
	const struct proto_sem_status	*s;
	size_t				 size, i, j, nh, nw;

	size = sz_cont(4) + sz_str(2) + sz_str(6) + sz_str(2) +
	    sz_uint(rep->id) + sz_str(4) + sz_cont(k) + sz_str(9) + 1;
	if (rep->op == PROTO_OP_ADMIN)
		size += sz_str(6) + sz_str(4);		/* action: "list" */
	for (i = 0; i < k && size <= limit; i++) {
		s = &rep->sems[i];
		nh = list_len(s->nholders, cap);
		nw = list_len(s->nwaiters, cap);
		if (s->declared)
			size += sz_str(8) + 1;
		if (s->drained)
			size += sz_str(7) + 1;
		if (s->rate > 0)
			size += sz_str(4) + 9 + sz_str(5) +
			    sz_uint(s->burst) + sz_str(13) +
			    sz_uint(s->next_grant_ms);
		size += sz_cont(6) + sz_str(3) + sz_str(name_len(s->sem)) +
		    sz_str(8) + sz_uint(s->capacity) + sz_str(4) +
		    sz_uint(s->held) + sz_str(7) + sz_uint(s->waiting) +
		    sz_str(7) + sz_cont(nh) + sz_str(7) + sz_cont(nw);
		for (j = 0; j < nh && size <= limit; j++)
			size += party_size(&s->holders[j], 1);
		for (j = 0; j < nw && size <= limit; j++)
			size += party_size(&s->waiters[j], 0);
	}
	return (size);
}

/* Pack a list of n holders (holder = 1) or waiters. */
static void
enc_parties(struct enc *e, const struct proto_party *p, size_t n, int holder)
{
	size_t	 i;

	msgpack_pack_array(&e->pk, n);
	for (i = 0; i < n; i++) {
		msgpack_pack_map(&e->pk, 4 + (p[i].worker_pid != 0) +
		    party_has(p[i].client) + party_has(p[i].worker_cmd) +
		    party_has(p[i].host));
		ENC_KEY(e, "pid");
		msgpack_pack_uint32(&e->pk, p[i].pid);
		ENC_KEY(e, "uid");
		msgpack_pack_uint32(&e->pk, p[i].uid);
		ENC_KEY(e, "weight");
		msgpack_pack_uint32(&e->pk, p[i].weight);
		if (holder)
			ENC_KEY(e, "held_ms");
		else
			ENC_KEY(e, "waited_ms");
		msgpack_pack_uint64(&e->pk, p[i].ms);
		if (p[i].worker_pid != 0) {
			ENC_KEY(e, "worker_pid");
			msgpack_pack_uint32(&e->pk, p[i].worker_pid);
		}
		if (party_has(p[i].client)) {
			ENC_KEY(e, "client");
			enc_str(e, p[i].client, text_len(p[i].client));
		}
		if (party_has(p[i].worker_cmd)) {
			ENC_KEY(e, "worker_cmd");
			enc_str(e, p[i].worker_cmd, text_len(p[i].worker_cmd));
		}
		if (party_has(p[i].host)) {
			ENC_KEY(e, "host");
			enc_str(e, p[i].host, text_len(p[i].host));
		}
	}
}

/* Pack the STATUS body listing k semaphores, cap parties per list. */
static void
enc_status(struct enc *e, const struct proto_reply *rep, size_t k,
    size_t cap, int truncated)
{
	const struct proto_sem_status	*s;
	size_t				 i;

	if (rep->op == PROTO_OP_ADMIN) {
		enc_head(e, 5, PROTO_OP_ADMIN, rep->id);
		ENC_KEY(e, "action");
		ENC_KEY(e, "list");
	} else
		enc_head(e, 4, PROTO_OP_STATUS, rep->id);
	ENC_KEY(e, "sems");
	msgpack_pack_array(&e->pk, k);
	for (i = 0; i < k; i++) {
		s = &rep->sems[i];
		msgpack_pack_map(&e->pk, 6 + (s->declared != 0) +
		    (s->drained != 0) + (s->rate > 0 ? 3 : 0));
		ENC_KEY(e, "sem");
		enc_str(e, s->sem, name_len(s->sem));
		ENC_KEY(e, "capacity");
		msgpack_pack_uint32(&e->pk, s->capacity);
		if (s->rate > 0) {
			enc_rate(e, 1, s->rate, s->burst);
			ENC_KEY(e, "next_grant_ms");
			msgpack_pack_uint64(&e->pk, s->next_grant_ms);
		}
		ENC_KEY(e, "held");
		msgpack_pack_uint32(&e->pk, s->held);
		ENC_KEY(e, "waiting");
		msgpack_pack_uint32(&e->pk, s->waiting);
		ENC_KEY(e, "holders");
		enc_parties(e, s->holders, list_len(s->nholders, cap), 1);
		ENC_KEY(e, "waiters");
		enc_parties(e, s->waiters, list_len(s->nwaiters, cap), 0);
		if (s->declared) {
			ENC_KEY(e, "declared");
			msgpack_pack_true(&e->pk);
		}
		if (s->drained) {
			ENC_KEY(e, "drained");
			msgpack_pack_true(&e->pk);
		}
	}
	ENC_KEY(e, "truncated");
	if (truncated)
		msgpack_pack_true(&e->pk);
	else
		msgpack_pack_false(&e->pk);
}

/*
 * Append a STATUS frame, shortened to fit PROTO_MAX_FRAME: first the
 * largest per-list cap that fits (the first holders and waiters of each
 * semaphore are kept, in order), and if even empty lists do not fit, the
 * largest number of leading semaphores.  Both are found by binary search
 * over status_size(), so the cost is O((nsems + 3000) log n), independent
 * of how long the lists are beyond what fits.
 */
static int
status_encode(struct proto_buf *buf, const struct proto_reply *rep)
{
	struct enc	 e;
	size_t		 i, k, cap, maxlist = 0, lo, hi, mid, body;
	int		 truncated;

	for (i = 0; i < rep->nsems; i++) {
		if (rep->sems[i].nholders > maxlist)
			maxlist = rep->sems[i].nholders;
		if (rep->sems[i].nwaiters > maxlist)
			maxlist = rep->sems[i].nwaiters;
	}
	k = rep->nsems;
	cap = maxlist;
	if (status_size(rep, k, cap, PROTO_MAX_FRAME) > PROTO_MAX_FRAME) {
		if (status_size(rep, k, 0, PROTO_MAX_FRAME) <=
		    PROTO_MAX_FRAME) {
			/* size(k, lo) fits, size(k, hi) does not. */
			lo = 0;
			hi = maxlist;
			while (hi - lo > 1) {
				mid = lo + (hi - lo) / 2;
				if (status_size(rep, k, mid, PROTO_MAX_FRAME) <=
				    PROTO_MAX_FRAME)
					lo = mid;
				else
					hi = mid;
			}
			cap = lo;
		} else {
			/* size(lo, 0) fits (lo = 0 surely), size(hi, 0) not. */
			cap = 0;
			lo = 0;
			hi = k;
			while (hi - lo > 1) {
				mid = lo + (hi - lo) / 2;
				if (status_size(rep, mid, 0, PROTO_MAX_FRAME) <=
				    PROTO_MAX_FRAME)
					lo = mid;
				else
					hi = mid;
			}
			k = lo;
		}
	}
	truncated = rep->truncated || cap < maxlist || k < rep->nsems;

	for (;;) {
		enc_begin(&e, buf, status_size(rep, k, cap, PROTO_MAX_FRAME));
		enc_status(&e, rep, k, cap, truncated);
		if (e.failed)
			return (enc_end(&e));
		body = buf->len - e.start - PROTO_HDR_LEN;
		if (body <= PROTO_MAX_FRAME)
			return (enc_end(&e));
		/*
		 * Not reached while status_size matches the packer: drop
		 * this attempt and shorten further.
		 */
		buf->len = e.start;
		truncated = 1;
		if (cap > 0)
			cap /= 2;
		else
			k /= 2;
	}
}

/* Pack one histogram as key (counts) and sum_key (their sum). */
static void
enc_hist(struct enc *e, const char *key, const char *sum_key,
    const struct proto_hist *h)
{
	size_t	 i;

	enc_str(e, key, strlen(key));
	msgpack_pack_array(&e->pk, PROTO_HIST_BUCKETS);
	for (i = 0; i < PROTO_HIST_BUCKETS; i++)
		msgpack_pack_uint64(&e->pk, h->count[i]);
	enc_str(e, sum_key, strlen(sum_key));
	msgpack_pack_uint64(&e->pk, h->sum_ms);
}

/* Pack one entry of a STATS reply's sems list. */
static void
enc_stats_entry(struct enc *e, const struct proto_sem_stats *s)
{
	msgpack_pack_map(&e->pk, 16);
	ENC_KEY(e, "sem");
	enc_str(e, s->sem, name_len(s->sem));
	ENC_KEY(e, "capacity");
	msgpack_pack_uint32(&e->pk, s->capacity);
	ENC_KEY(e, "held");
	msgpack_pack_uint32(&e->pk, s->held);
	ENC_KEY(e, "waiting");
	msgpack_pack_uint32(&e->pk, s->waiting);
	ENC_KEY(e, "grants");
	msgpack_pack_uint64(&e->pk, s->grants);
	ENC_KEY(e, "timeouts");
	msgpack_pack_uint64(&e->pk, s->timeouts);
	ENC_KEY(e, "withdrawals");
	msgpack_pack_uint64(&e->pk, s->withdrawals);
	ENC_KEY(e, "releases");
	msgpack_pack_uint64(&e->pk, s->releases);
	ENC_KEY(e, "disconnects");
	msgpack_pack_uint64(&e->pk, s->disconnects);
	ENC_KEY(e, "revokes");
	msgpack_pack_uint64(&e->pk, s->revokes);
	ENC_KEY(e, "max_waiting");
	msgpack_pack_uint32(&e->pk, s->max_waiting);
	ENC_KEY(e, "recent_hold_ms");
	msgpack_pack_uint64(&e->pk, s->recent_hold_ms);
	enc_hist(e, "wait", "wait_sum_ms", &s->wait);
	enc_hist(e, "hold", "hold_sum_ms", &s->hold);
}

/*
 * Append a STATS frame listing as many of rep's semaphores as fit in
 * PROTO_MAX_FRAME, in order; if some are left out, truncated is true.
 * The sems array gets a 32-bit header whose count is written once the
 * entries are in (a valid, if not the shortest, msgpack encoding), and an
 * entry that overflows the frame is cut off again.  O(entries listed).
 */
static int
stats_encode(struct proto_buf *buf, const struct proto_reply *rep)
{
	static const uint8_t	 arr32[5] = { 0xdd, 0, 0, 0, 0 };
	struct enc		 e;
	size_t			 i, hdr_at, before, hint, tail;
	uint32_t		 n = 0;
	uint8_t			*p;
	int			 truncated = rep->truncated;

	tail = sizeof("truncated") + 1;		/* key and a bool */
	hint = 256 + rep->nstats * 300;
	enc_begin(&e, buf, hint < PROTO_MAX_FRAME ? hint : PROTO_MAX_FRAME);
	enc_head(&e, 8, PROTO_OP_STATS, rep->id);
	ENC_KEY(&e, "uptime_ms");
	msgpack_pack_uint64(&e.pk, rep->uptime_ms);
	ENC_KEY(&e, "connections");
	msgpack_pack_uint32(&e.pk, rep->connections);
	ENC_KEY(&e, "semaphores");
	msgpack_pack_uint32(&e.pk, rep->semaphores);
	ENC_KEY(&e, "bucket_ms");
	msgpack_pack_array(&e.pk, PROTO_HIST_BOUNDS);
	for (i = 0; i < PROTO_HIST_BOUNDS; i++)
		msgpack_pack_uint32(&e.pk, proto_hist_bounds_ms[i]);
	ENC_KEY(&e, "sems");
	hdr_at = buf->len;
	enc_write(&e, (const char *)arr32, sizeof arr32);
	for (i = 0; i < rep->nstats && !e.failed; i++) {
		before = buf->len;
		enc_stats_entry(&e, &rep->stats[i]);
		if (e.failed)
			break;
		if (buf->len - e.start - PROTO_HDR_LEN + tail >
		    PROTO_MAX_FRAME) {
			buf->len = before;
			truncated = 1;
			break;
		}
		n++;
	}
	if (!e.failed) {
		p = buf->data + hdr_at + 1;
		p[0] = (uint8_t)(n >> 24);
		p[1] = (uint8_t)(n >> 16);
		p[2] = (uint8_t)(n >> 8);
		p[3] = (uint8_t)n;
	}
	ENC_KEY(&e, "truncated");
	if (truncated)
		msgpack_pack_true(&e.pk);
	else
		msgpack_pack_false(&e.pk);
	return (enc_end(&e));
}

/*
 * Append an ADMIN reply: action and message, then what the action
 * reports (sem, capacity, held, waiting; revoked), or for list the
 * semaphores as STATUS lists them (shortened the same way).
 */
static int
admin_encode(struct proto_buf *buf, const struct proto_reply *rep)
{
	struct enc	 e;
	const char	*action = proto_admin_name(rep->action);
	int		 counts, n;

	if (action == NULL) {
		errno = EINVAL;
		return (-1);
	}
	if (rep->action == PROTO_ADMIN_LIST)
		return (status_encode(buf, rep));
	counts = rep->action == PROTO_ADMIN_RESIZE ||
	    rep->action == PROTO_ADMIN_DRAIN ||
	    rep->action == PROTO_ADMIN_UNDRAIN;
	n = 4 + (rep->sem[0] != '\0') + 3 * counts +
	    (rep->action == PROTO_ADMIN_REVOKE);
	enc_begin(&e, buf, 160 + PROTO_MAX_NAME + PROTO_MAX_TEXT);
	enc_head(&e, (size_t)n, rep->op, rep->id);
	ENC_KEY(&e, "action");
	enc_str(&e, action, strlen(action));
	ENC_KEY(&e, "message");
	enc_str(&e, rep->message, text_len(rep->message));
	if (rep->sem[0] != '\0') {
		ENC_KEY(&e, "sem");
		enc_str(&e, rep->sem, name_len(rep->sem));
	}
	if (counts) {
		ENC_KEY(&e, "capacity");
		msgpack_pack_uint32(&e.pk, rep->capacity);
		ENC_KEY(&e, "held");
		msgpack_pack_uint32(&e.pk, rep->held);
		ENC_KEY(&e, "waiting");
		msgpack_pack_uint32(&e.pk, rep->waiting);
	}
	if (rep->action == PROTO_ADMIN_REVOKE) {
		ENC_KEY(&e, "revoked");
		msgpack_pack_uint32(&e.pk, rep->revoked);
	}
	return (enc_end(&e));
}

/*
 * Append one reply frame to buf.  Returns 0, or -1 with errno ENOMEM (buf
 * unchanged) or EINVAL (op is not a reply, or an ERROR's code is not a
 * wire code).  A STATUS reply is shortened to fit; see status_encode.
 */
int
proto_encode_reply(struct proto_buf *buf, const struct proto_reply *rep)
{
	struct enc	 e;
	size_t		 i;

	switch (rep->op) {
	case PROTO_OP_HELLO:
		enc_begin(&e, buf, 64 + PROTO_MAX_TEXT);
		enc_head(&e, 5 + (rep->grace_ms != 0), rep->op, rep->id);
		ENC_KEY(&e, "version");
		msgpack_pack_uint32(&e.pk, rep->version);
		ENC_KEY(&e, "server");
		enc_str(&e, rep->server, text_len(rep->server));
		ENC_KEY(&e, "pid");
		msgpack_pack_uint32(&e.pk, rep->pid);
		if (rep->grace_ms != 0) {
			ENC_KEY(&e, "grace_ms");
			msgpack_pack_uint64(&e.pk, rep->grace_ms);
		}
		break;
	case PROTO_OP_QUEUED:
		enc_begin(&e, buf, 48);
		enc_head(&e, 3, rep->op, rep->id);
		ENC_KEY(&e, "position");
		msgpack_pack_uint32(&e.pk, rep->position);
		break;
	case PROTO_OP_ACQUIRED:
	case PROTO_OP_RELEASED:
		if (rep->nparts > PROTO_MAX_SEMS) {
			errno = EINVAL;
			return (-1);
		}
		enc_begin(&e, buf, 80 + PROTO_MAX_NAME + rep->nparts *
		    (24 + PROTO_MAX_NAME));
		enc_head(&e, 4 + (rep->token != 0) + (rep->nparts != 0),
		    rep->op, rep->id);
		ENC_KEY(&e, "sem");
		enc_str(&e, rep->sem, name_len(rep->sem));
		ENC_KEY(&e, "weight");
		msgpack_pack_uint32(&e.pk, rep->weight);
		if (rep->token != 0) {
			ENC_KEY(&e, "token");
			msgpack_pack_uint64(&e.pk, rep->token);
		}
		if (rep->nparts != 0) {
			ENC_KEY(&e, "sems");
			msgpack_pack_array(&e.pk, rep->nparts);
			for (i = 0; i < rep->nparts; i++) {
				msgpack_pack_map(&e.pk, 2);
				ENC_KEY(&e, "sem");
				enc_str(&e, rep->parts[i].sem,
				    name_len(rep->parts[i].sem));
				ENC_KEY(&e, "weight");
				msgpack_pack_uint32(&e.pk,
				    rep->parts[i].weight);
			}
		}
		break;
	case PROTO_OP_TIMEOUT:
		enc_begin(&e, buf, 32);
		enc_head(&e, 2, rep->op, rep->id);
		break;
	case PROTO_OP_ERROR:
		if (rep->code == PROTO_OK || proto_err_name(rep->code) == NULL) {
			errno = EINVAL;
			return (-1);
		}
		enc_begin(&e, buf, 64 + PROTO_MAX_TEXT);
		enc_error(&e, rep->id, rep->code, rep->message);
		break;
	case PROTO_OP_STATUS:
		return (status_encode(buf, rep));
	case PROTO_OP_ADMIN:
		return (admin_encode(buf, rep));
	case PROTO_OP_REVOKED:
		enc_begin(&e, buf, 64 + PROTO_MAX_NAME);
		enc_head(&e, 3 + (rep->token != 0), rep->op, rep->id);
		ENC_KEY(&e, "sem");
		enc_str(&e, rep->sem, name_len(rep->sem));
		if (rep->token != 0) {
			ENC_KEY(&e, "token");
			msgpack_pack_uint64(&e.pk, rep->token);
		}
		break;
	case PROTO_OP_STATS:
		return (stats_encode(buf, rep));
	default:
		errno = EINVAL;
		return (-1);
	}
	return (enc_end(&e));
}
