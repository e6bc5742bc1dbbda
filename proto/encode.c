/*
 * encode.c -- struct proto_request / struct proto_reply to whole frames.
 *
 * msgpack-c's packer writes through enc_write() straight into the
 * caller's struct proto_buf, after a four-byte placeholder that becomes
 * the length prefix once the body is complete.  A failed encode leaves the
 * buffer exactly as it was, so a daemon never queues half a frame.
 *
 * Every map is gathered as a list of entries (struct enc_map) and then
 * packed by enc_map(), so its header counts exactly the entries that
 * follow; keys come from proto_keys[] (proto.h's PROTO_KEYS).
 *
 * Strings are clamped to their protocol maxima (names to PROTO_MAX_NAME,
 * text to PROTO_MAX_TEXT at a UTF-8 boundary), so every frame but STATUS
 * and STATS is far below PROTO_MAX_FRAME.  A STATUS reply is sized in
 * advance by running its own packing code through a sizer, a packer that
 * only counts (enc_sizer), and shortened until it fits.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "proto.h"

/* An encode in progress, or a sizer's count (enc_sizer). */
struct enc {
	struct proto_buf	*buf;		/* NULL for a sizer */
	size_t			 start;		/* offset of the prefix */
	int			 failed;	/* a write ran out of memory, or
						   a sizer passed its limit */
	size_t			 size;		/* sizer: bytes counted */
	size_t			 limit;		/* sizer: stop above this */
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

/*
 * Every key as the packer would write it: a fixstr header and the name,
 * so that a key is one write.  A key longer than ENC_KEY_LEN (and so
 * than a fixstr's 31 bytes) does not compile.
 */
#define ENC_KEY_LEN	15
#define ENC_KEY_FITS(name, wire) \
	_Static_assert(sizeof(wire) - 1 <= ENC_KEY_LEN, \
	    "map key \"" wire "\" is longer than ENC_KEY_LEN");
PROTO_KEYS(ENC_KEY_FITS)
#undef ENC_KEY_FITS
static const struct {
	uint8_t		 hdr;
	char		 name[ENC_KEY_LEN];
} enc_keys[PK_COUNT] = {
#define ENC_KEY(name, wire) \
	[PK_##name] = { 0xa0 | (sizeof(wire) - 1), wire },
	PROTO_KEYS(ENC_KEY)
#undef ENC_KEY
};

/* Pack n bytes that are msgpack already, through the packer's writer. */
static void
enc_raw(struct enc *e, const void *p, size_t n)
{
	(void)e->pk.callback(e->pk.data, p, n);
}

/* Pack map key k, spelled as PROTO_KEYS has it. */
static void
enc_key(struct enc *e, enum proto_key k)
{
	enc_raw(e, &enc_keys[k], 1 + proto_keys[k].len);
}

/*
 * msgpack_packer callback of a sizer (enc_sizer): count the bytes instead
 * of writing them, and fail once more than the limit would be written.
 */
static int
enc_count(void *data, const char *p, size_t n)
{
	struct enc	*e = data;

	(void)p;
	if (e->failed)
		return (-1);
	e->size += n;
	if (e->size > e->limit) {
		e->failed = 1;
		return (-1);
	}
	return (0);
}

/*
 * Start an encode that writes nothing but counts in e->size what it would
 * write, and stops (e->failed) once that is above limit: the size of a
 * message is what its own packing code writes.
 */
static void
enc_sizer(struct enc *e, size_t limit)
{
	memset(e, 0, sizeof *e);
	e->limit = limit;
	msgpack_packer_init(&e->pk, e, enc_count);
}

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

/* What the value of a map entry is (struct enc_field). */
enum enc_kind {
	EK_UINT,	/* v.u */
	EK_STR,		/* v.s: n bytes at p */
	EK_BOOL,	/* v.b */
	EK_FLAG,	/* *v.flag, a bool read when the entry is packed */
	EK_DOUBLE,	/* v.d */
	EK_NEST,	/* v.nest.fn(e, v.nest.arg) packs the value */
};

/* One entry of a map to be packed. */
struct enc_field {
	enum proto_key	 key;
	enum enc_kind	 kind;
	union {
		uint64_t	 u;
		double		 d;
		int		 b;
		const int	*flag;
		struct {
			const char	*p;
			size_t		 n;
		}		 s;
		struct {
			void		(*fn)(struct enc *, const void *);
			const void	*arg;
		}		 nest;
	}		 v;
};

/*
 * The entries of one map, gathered first and then packed by enc_map(),
 * so that the map's header counts exactly the entries that follow: a
 * field is sent by adding it, under whatever condition, and nothing else
 * needs to know.  The longest map (a STATS entry) has 16.
 */
#define ENC_MAP_MAX	24
struct enc_map {
	struct enc_field f[ENC_MAP_MAX];
	size_t		 n;
};

/* Start an empty map. */
static void
map_init(struct enc_map *m)
{
	m->n = 0;
}

/* Append an entry with key k of the given kind; the caller sets v. */
static struct enc_field *
map_add(struct enc_map *m, enum proto_key k, enum enc_kind kind)
{
	struct enc_field	*f;

	if (m->n == ENC_MAP_MAX)
		abort();	/* a map of this file outgrew ENC_MAP_MAX */
	f = &m->f[m->n++];
	f->key = k;
	f->kind = kind;
	return (f);
}

/* Append an unsigned integer entry. */
static void
map_uint(struct enc_map *m, enum proto_key k, uint64_t u)
{
	map_add(m, k, EK_UINT)->v.u = u;
}

/* Append a string entry of n bytes at s (not copied: keep s alive). */
static void
map_str(struct enc_map *m, enum proto_key k, const char *s, size_t n)
{
	struct enc_field	*f = map_add(m, k, EK_STR);

	f->v.s.p = s;
	f->v.s.n = n;
}

/* Append a semaphore name entry, clamped to PROTO_MAX_NAME. */
static void
map_name(struct enc_map *m, enum proto_key k, const char *s)
{
	map_str(m, k, s, name_len(s));
}

/* Append a text entry, clamped to PROTO_MAX_TEXT at a UTF-8 boundary. */
static void
map_text(struct enc_map *m, enum proto_key k, const char *s)
{
	map_str(m, k, s, text_len(s));
}

/* Append a boolean entry. */
static void
map_bool(struct enc_map *m, enum proto_key k, int b)
{
	map_add(m, k, EK_BOOL)->v.b = b;
}

/* Append a boolean entry whose value is *flag when enc_map gets to it. */
static void
map_flag(struct enc_map *m, enum proto_key k, const int *flag)
{
	map_add(m, k, EK_FLAG)->v.flag = flag;
}

/* Append a float64 entry. */
static void
map_double(struct enc_map *m, enum proto_key k, double d)
{
	map_add(m, k, EK_DOUBLE)->v.d = d;
}

/* Append an entry whose value fn(e, arg) packs (an array, say). */
static void
map_nest(struct enc_map *m, enum proto_key k,
    void (*fn)(struct enc *, const void *), const void *arg)
{
	struct enc_field	*f = map_add(m, k, EK_NEST);

	f->v.nest.fn = fn;
	f->v.nest.arg = arg;
}

/*
 * Start the top map of a message: op and id come first.  Returns 0, or -1
 * with errno EINVAL if op is not an operation.
 */
static int
map_head(struct enc_map *m, enum proto_op op, uint64_t id)
{
	const char	*name = proto_op_name(op);

	map_init(m);
	if (name == NULL) {
		errno = EINVAL;
		return (-1);
	}
	map_str(m, PK_OP, name, strlen(name));
	map_uint(m, PK_ID, id);
	return (0);
}

/* Append rate (when has_rate) and burst (when also not 0). */
static void
map_rate(struct enc_map *m, int has_rate, double rate, uint32_t burst)
{
	if (!has_rate)
		return;
	map_double(m, PK_RATE, rate);
	if (burst != 0)
		map_uint(m, PK_BURST, burst);
}

/*
 * Append what names a semaphore of an ACQUIRE: sem, capacity (when
 * has_capacity), weight (when not 0: absent means 1).
 */
static void
map_sem(struct enc_map *m, const char *sem, int has_capacity,
    uint32_t capacity, uint32_t weight)
{
	map_name(m, PK_SEM, sem);
	if (has_capacity)
		map_uint(m, PK_CAPACITY, capacity);
	if (weight != 0)
		map_uint(m, PK_WEIGHT, weight);
}

/* Pack map m: a header counting its entries, then each key and value. */
static void
enc_map(struct enc *e, const struct enc_map *m)
{
	const struct enc_field	*f;
	size_t			 i;

	msgpack_pack_map(&e->pk, m->n);
	for (i = 0; i < m->n; i++) {
		f = &m->f[i];
		enc_key(e, f->key);
		switch (f->kind) {
		case EK_UINT:
			msgpack_pack_uint64(&e->pk, f->v.u);
			break;
		case EK_STR:
			enc_str(e, f->v.s.p, f->v.s.n);
			break;
		case EK_BOOL:
		case EK_FLAG:
			if (f->kind == EK_BOOL ? f->v.b : *f->v.flag)
				msgpack_pack_true(&e->pk);
			else
				msgpack_pack_false(&e->pk);
			break;
		case EK_DOUBLE:
			msgpack_pack_double(&e->pk, f->v.d);
			break;
		case EK_NEST:
			f->v.nest.fn(e, f->v.nest.arg);
			break;
		}
	}
}

/* Pack whole frame m into buf (hint: body bytes to make room for). */
static int
enc_frame(struct proto_buf *buf, size_t hint, const struct enc_map *m)
{
	struct enc	 e;

	enc_begin(&e, buf, hint);
	enc_map(&e, m);
	return (enc_end(&e));
}

/* Pack the sems of an ACQUIRE of several (arg: the request). */
static void
enc_sem_reqs(struct enc *e, const void *arg)
{
	const struct proto_request	*req = arg;
	const struct proto_sem_req	*r;
	struct enc_map			 m;
	size_t				 i;

	msgpack_pack_array(&e->pk, req->nsems);
	for (i = 0; i < req->nsems; i++) {
		r = &req->sems[i];
		map_init(&m);
		map_sem(&m, r->sem, r->has_capacity, r->capacity, r->weight);
		map_rate(&m, r->has_rate, r->rate, r->burst);
		enc_map(e, &m);
	}
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
	struct enc_map	 m;
	const char	*action;
	size_t		 hint;

	if (map_head(&m, req->op, req->id) == -1)
		return (-1);
	switch (req->op) {
	case PROTO_OP_HELLO:
		map_uint(&m, PK_VERSION, req->version);
		if (req->client[0] != '\0')
			map_text(&m, PK_CLIENT, req->client);
		if (req->worker_pid != 0)
			map_uint(&m, PK_WORKER_PID, req->worker_pid);
		if (req->worker_cmd[0] != '\0')
			map_text(&m, PK_WORKER_CMD, req->worker_cmd);
		hint = 96 + 2 * PROTO_MAX_TEXT;
		break;
	case PROTO_OP_RELEASE:
	case PROTO_OP_RECLAIM:
		hint = 112 + PROTO_MAX_NAME;
		if (req->op == PROTO_OP_RELEASE && req->has_token) {
			/* A whole grant: its token says what. */
			map_uint(&m, PK_TOKEN, req->token);
			break;
		}
		if (req->op == PROTO_OP_RECLAIM)
			map_uint(&m, PK_TOKEN, req->token);
		map_sem(&m, req->sem, req->op == PROTO_OP_RECLAIM &&
		    req->has_capacity, req->capacity, req->weight);
		break;
	case PROTO_OP_ACQUIRE:
		if (req->nsems > 0) {
			if (req->nsems > PROTO_MAX_SEMS) {
				errno = EINVAL;
				return (-1);
			}
			map_nest(&m, PK_SEMS, enc_sem_reqs, req);
			hint = 64 + req->nsems * (80 + PROTO_MAX_NAME);
		} else {
			map_sem(&m, req->sem, req->has_capacity,
			    req->capacity, req->weight);
			map_rate(&m, req->has_rate, req->rate, req->burst);
			hint = 128 + PROTO_MAX_NAME;
		}
		if (req->timeout_ms >= 0)
			map_uint(&m, PK_TIMEOUT_MS, (uint64_t)req->timeout_ms);
		break;
	case PROTO_OP_TIMEOUT:
		hint = 32;
		break;
	case PROTO_OP_STATUS:
	case PROTO_OP_STATS:
		if (req->has_sem)
			map_name(&m, PK_SEM, req->sem);
		hint = 32 + PROTO_MAX_NAME;
		break;
	case PROTO_OP_ADMIN:
		if ((action = proto_admin_name(req->action)) == NULL) {
			errno = EINVAL;
			return (-1);
		}
		map_str(&m, PK_ACTION, action, strlen(action));
		if (req->has_sem)
			map_name(&m, PK_SEM, req->sem);
		if (req->has_capacity)
			map_uint(&m, PK_CAPACITY, req->capacity);
		if (req->has_pid)
			map_uint(&m, PK_PID, req->pid);
		if (req->has_token)
			map_uint(&m, PK_TOKEN, req->token);
		if (req->wait)
			map_bool(&m, PK_WAIT, 1);
		hint = 128 + PROTO_MAX_NAME;
		break;
	default:
		errno = EINVAL;
		return (-1);
	}
	return (enc_frame(buf, hint, &m));
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
	struct enc_map	 m;
	const char	*name = proto_err_name(code);

	if (code == PROTO_OK || name == NULL) {
		errno = EINVAL;
		return (-1);
	}
	(void)map_head(&m, PROTO_OP_ERROR, id);
	map_str(&m, PK_CODE, name, strlen(name));
	map_text(&m, PK_MESSAGE, message != NULL ? message : "");
	return (enc_frame(buf, 64 + PROTO_MAX_TEXT, &m));
}

/* Is the optional party text s present? */
static int
party_has(const char *s)
{
	return (s != NULL && *s != '\0');
}

/* The lesser of n and cap. */
static size_t
list_len(size_t n, size_t cap)
{
	return (n < cap ? n : cap);
}

/* A list of holders or waiters to pack (enc_parties). */
struct enc_parties {
	const struct proto_party	*p;
	size_t				 n;
	enum proto_key			 ms_key;	/* PK_HELD_MS or
							   PK_WAITED_MS */
};

/* Pack a list of holders or waiters (arg: struct enc_parties). */
static void
enc_parties(struct enc *e, const void *arg)
{
	const struct enc_parties	*a = arg;
	const struct proto_party	*p;
	struct enc_map			 m;
	size_t				 i;

	msgpack_pack_array(&e->pk, a->n);
	for (i = 0; i < a->n && !e->failed; i++) {
		p = &a->p[i];
		map_init(&m);
		map_uint(&m, PK_PID, p->pid);
		map_uint(&m, PK_UID, p->uid);
		map_uint(&m, PK_WEIGHT, p->weight);
		map_uint(&m, a->ms_key, p->ms);
		if (p->worker_pid != 0)
			map_uint(&m, PK_WORKER_PID, p->worker_pid);
		if (party_has(p->client))
			map_text(&m, PK_CLIENT, p->client);
		if (party_has(p->worker_cmd))
			map_text(&m, PK_WORKER_CMD, p->worker_cmd);
		if (party_has(p->host))
			map_text(&m, PK_HOST, p->host);
		enc_map(e, &m);
	}
}

/* The part of a STATUS reply to pack (enc_status_sems). */
struct enc_status {
	const struct proto_reply	*rep;
	size_t				 k;	/* the first k semaphores */
	size_t				 cap;	/* parties per list */
};

/* Pack the sems list of a STATUS reply (arg: struct enc_status). */
static void
enc_status_sems(struct enc *e, const void *arg)
{
	const struct enc_status		*a = arg;
	const struct proto_sem_status	*s;
	struct enc_parties		 hold, wait;
	struct enc_map			 m;
	size_t				 i;

	msgpack_pack_array(&e->pk, a->k);
	for (i = 0; i < a->k && !e->failed; i++) {
		s = &a->rep->sems[i];
		hold.p = s->holders;
		hold.n = list_len(s->nholders, a->cap);
		hold.ms_key = PK_HELD_MS;
		wait.p = s->waiters;
		wait.n = list_len(s->nwaiters, a->cap);
		wait.ms_key = PK_WAITED_MS;
		map_init(&m);
		map_name(&m, PK_SEM, s->sem);
		map_uint(&m, PK_CAPACITY, s->capacity);
		if (s->rate > 0) {
			map_rate(&m, 1, s->rate, s->burst);
			map_uint(&m, PK_NEXT_GRANT_MS, s->next_grant_ms);
		}
		map_uint(&m, PK_HELD, s->held);
		map_uint(&m, PK_WAITING, s->waiting);
		map_nest(&m, PK_HOLDERS, enc_parties, &hold);
		map_nest(&m, PK_WAITERS, enc_parties, &wait);
		if (s->declared)
			map_bool(&m, PK_DECLARED, 1);
		if (s->drained)
			map_bool(&m, PK_DRAINED, 1);
		enc_map(e, &m);
	}
}

/*
 * Pack the STATUS body (or ADMIN list's) listing k semaphores, cap
 * parties per list.
 */
static void
enc_status(struct enc *e, const struct proto_reply *rep, size_t k,
    size_t cap, int truncated)
{
	const struct enc_status	 a = { rep, k, cap };
	const char		*list = proto_admin_name(PROTO_ADMIN_LIST);
	struct enc_map		 m;

	(void)map_head(&m, rep->op, rep->id);
	if (rep->op == PROTO_OP_ADMIN)
		map_str(&m, PK_ACTION, list, strlen(list));
	map_nest(&m, PK_SEMS, enc_status_sems, &a);
	map_bool(&m, PK_TRUNCATED, truncated);
	enc_map(e, &m);
}

/*
 * Encoded body size of rep listing its first k semaphores and the first
 * cap holders and waiters of each: what enc_status() writes.  Stops
 * counting, returning a value above limit, as soon as limit is passed, so
 * a probe costs at most O(k + limit / 20).
 */
static size_t
status_size(const struct proto_reply *rep, size_t k, size_t cap,
    size_t limit)
{
	struct enc	 e;

	enc_sizer(&e, limit);
	enc_status(&e, rep, k, cap, 0);
	return (e.size);
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
	size_t		 i, k, cap, maxlist = 0, lo, hi, mid, size;

	for (i = 0; i < rep->nsems; i++) {
		if (rep->sems[i].nholders > maxlist)
			maxlist = rep->sems[i].nholders;
		if (rep->sems[i].nwaiters > maxlist)
			maxlist = rep->sems[i].nwaiters;
	}
	k = rep->nsems;
	cap = maxlist;
	size = status_size(rep, k, cap, PROTO_MAX_FRAME);
	if (size > PROTO_MAX_FRAME) {
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
		size = status_size(rep, k, cap, PROTO_MAX_FRAME);
	}
	/* status_size() is the packer's own count: this fits. */
	enc_begin(&e, buf, size);
	enc_status(&e, rep, k, cap, rep->truncated || cap < maxlist ||
	    k < rep->nsems);
	return (enc_end(&e));
}

/* Pack the histogram bounds of a STATS reply (arg unused). */
static void
enc_bounds(struct enc *e, const void *arg)
{
	size_t	 i;

	(void)arg;
	msgpack_pack_array(&e->pk, PROTO_HIST_BOUNDS);
	for (i = 0; i < PROTO_HIST_BOUNDS; i++)
		msgpack_pack_uint32(&e->pk, proto_hist_bounds_ms[i]);
}

/* Pack the counts of a histogram (arg: struct proto_hist). */
static void
enc_counts(struct enc *e, const void *arg)
{
	const struct proto_hist	*h = arg;
	size_t			 i;

	msgpack_pack_array(&e->pk, PROTO_HIST_BUCKETS);
	for (i = 0; i < PROTO_HIST_BUCKETS; i++)
		msgpack_pack_uint64(&e->pk, h->count[i]);
}

/* Pack one entry of a STATS reply's sems list. */
static void
enc_stats_entry(struct enc *e, const struct proto_sem_stats *s)
{
	struct enc_map	 m;

	map_init(&m);
	map_name(&m, PK_SEM, s->sem);
	map_uint(&m, PK_CAPACITY, s->capacity);
	map_uint(&m, PK_HELD, s->held);
	map_uint(&m, PK_WAITING, s->waiting);
	map_uint(&m, PK_GRANTS, s->grants);
	map_uint(&m, PK_TIMEOUTS, s->timeouts);
	map_uint(&m, PK_WITHDRAWALS, s->withdrawals);
	map_uint(&m, PK_RELEASES, s->releases);
	map_uint(&m, PK_DISCONNECTS, s->disconnects);
	map_uint(&m, PK_REVOKES, s->revokes);
	map_uint(&m, PK_MAX_WAITING, s->max_waiting);
	map_uint(&m, PK_RECENT_HOLD_MS, s->recent_hold_ms);
	map_nest(&m, PK_WAIT, enc_counts, &s->wait);
	map_uint(&m, PK_WAIT_SUM_MS, s->wait.sum_ms);
	map_nest(&m, PK_HOLD, enc_counts, &s->hold);
	map_uint(&m, PK_HOLD_SUM_MS, s->hold.sum_ms);
	enc_map(e, &m);
}

/* The sems list of a STATS reply to pack (enc_stats_sems). */
struct enc_stats {
	const struct proto_reply	*rep;
	size_t				 tail;	/* bytes packed after the
						   list */
	int				*truncated;	/* set if some
							   are left out */
};

/*
 * Pack the sems list of a STATS reply (arg: struct enc_stats), as many
 * entries as leave room for the tail in PROTO_MAX_FRAME.  The array gets
 * a 32-bit header whose count is written once the entries are in (a
 * valid, if not the shortest, msgpack encoding), and an entry that
 * overflows the frame is cut off again.  Writes e->buf: not for a sizer.
 */
static void
enc_stats_sems(struct enc *e, const void *arg)
{
	static const uint8_t	 arr32[5] = { 0xdd, 0, 0, 0, 0 };
	const struct enc_stats	*a = arg;
	struct proto_buf	*buf = e->buf;
	size_t			 i, hdr_at, before;
	uint32_t		 n = 0;
	uint8_t			*p;

	hdr_at = buf->len;
	enc_raw(e, arr32, sizeof arr32);
	for (i = 0; i < a->rep->nstats && !e->failed; i++) {
		before = buf->len;
		enc_stats_entry(e, &a->rep->stats[i]);
		if (e->failed)
			return;
		if (buf->len - e->start - PROTO_HDR_LEN + a->tail >
		    PROTO_MAX_FRAME) {
			buf->len = before;
			*a->truncated = 1;
			break;
		}
		n++;
	}
	if (!e->failed) {
		p = buf->data + hdr_at + 1;
		p[0] = (uint8_t)(n >> 24);
		p[1] = (uint8_t)(n >> 16);
		p[2] = (uint8_t)(n >> 8);
		p[3] = (uint8_t)n;
	}
}

/*
 * Append a STATS frame listing as many of rep's semaphores as fit in
 * PROTO_MAX_FRAME, in order; if some are left out, truncated is true.
 * O(entries listed).
 */
static int
stats_encode(struct proto_buf *buf, const struct proto_reply *rep)
{
	struct enc	 e, z;
	struct enc_map	 m;
	struct enc_stats a;
	int		 truncated = rep->truncated;
	size_t		 hint;

	/* The tail: the truncated entry, packed after the list. */
	enc_sizer(&z, SIZE_MAX);
	enc_key(&z, PK_TRUNCATED);
	msgpack_pack_false(&z.pk);
	a.rep = rep;
	a.tail = z.size;
	a.truncated = &truncated;

	(void)map_head(&m, PROTO_OP_STATS, rep->id);
	map_uint(&m, PK_UPTIME_MS, rep->uptime_ms);
	map_uint(&m, PK_CONNECTIONS, rep->connections);
	map_uint(&m, PK_SEMAPHORES, rep->semaphores);
	map_nest(&m, PK_BUCKET_MS, enc_bounds, NULL);
	map_nest(&m, PK_SEMS, enc_stats_sems, &a);
	map_flag(&m, PK_TRUNCATED, &truncated);
	hint = 256 + rep->nstats * 300;
	enc_begin(&e, buf, hint < PROTO_MAX_FRAME ? hint : PROTO_MAX_FRAME);
	enc_map(&e, &m);
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
	struct enc_map	 m;
	const char	*action = proto_admin_name(rep->action);

	if (action == NULL) {
		errno = EINVAL;
		return (-1);
	}
	if (rep->action == PROTO_ADMIN_LIST)
		return (status_encode(buf, rep));
	(void)map_head(&m, rep->op, rep->id);
	map_str(&m, PK_ACTION, action, strlen(action));
	map_text(&m, PK_MESSAGE, rep->message);
	if (rep->sem[0] != '\0')
		map_name(&m, PK_SEM, rep->sem);
	if (rep->action == PROTO_ADMIN_RESIZE ||
	    rep->action == PROTO_ADMIN_DRAIN ||
	    rep->action == PROTO_ADMIN_UNDRAIN) {
		map_uint(&m, PK_CAPACITY, rep->capacity);
		map_uint(&m, PK_HELD, rep->held);
		map_uint(&m, PK_WAITING, rep->waiting);
	}
	if (rep->action == PROTO_ADMIN_REVOKE)
		map_uint(&m, PK_REVOKED, rep->revoked);
	return (enc_frame(buf, 160 + PROTO_MAX_NAME + PROTO_MAX_TEXT, &m));
}

/* Pack the sems of a grant of several (arg: the reply). */
static void
enc_parts(struct enc *e, const void *arg)
{
	const struct proto_reply	*rep = arg;
	struct enc_map			 m;
	size_t				 i;

	msgpack_pack_array(&e->pk, rep->nparts);
	for (i = 0; i < rep->nparts; i++) {
		map_init(&m);
		map_name(&m, PK_SEM, rep->parts[i].sem);
		map_uint(&m, PK_WEIGHT, rep->parts[i].weight);
		enc_map(e, &m);
	}
}

/*
 * Append one reply frame to buf.  Returns 0, or -1 with errno ENOMEM (buf
 * unchanged) or EINVAL (op is not a reply, or an ERROR's code is not a
 * wire code).  A STATUS reply is shortened to fit; see status_encode.
 */
int
proto_encode_reply(struct proto_buf *buf, const struct proto_reply *rep)
{
	struct enc_map	 m;
	size_t		 hint;

	if (map_head(&m, rep->op, rep->id) == -1)
		return (-1);
	switch (rep->op) {
	case PROTO_OP_HELLO:
		map_uint(&m, PK_VERSION, rep->version);
		map_text(&m, PK_SERVER, rep->server);
		map_uint(&m, PK_PID, rep->pid);
		if (rep->grace_ms != 0)
			map_uint(&m, PK_GRACE_MS, rep->grace_ms);
		hint = 64 + PROTO_MAX_TEXT;
		break;
	case PROTO_OP_QUEUED:
		map_uint(&m, PK_POSITION, rep->position);
		hint = 48;
		break;
	case PROTO_OP_ACQUIRED:
	case PROTO_OP_RELEASED:
		if (rep->nparts > PROTO_MAX_SEMS) {
			errno = EINVAL;
			return (-1);
		}
		map_name(&m, PK_SEM, rep->sem);
		map_uint(&m, PK_WEIGHT, rep->weight);
		if (rep->token != 0)
			map_uint(&m, PK_TOKEN, rep->token);
		if (rep->nparts != 0)
			map_nest(&m, PK_SEMS, enc_parts, rep);
		hint = 80 + PROTO_MAX_NAME + rep->nparts *
		    (24 + PROTO_MAX_NAME);
		break;
	case PROTO_OP_TIMEOUT:
		hint = 32;
		break;
	case PROTO_OP_ERROR:
		return (proto_encode_error(buf, rep->id, rep->code,
		    rep->message));
	case PROTO_OP_STATUS:
		return (status_encode(buf, rep));
	case PROTO_OP_ADMIN:
		return (admin_encode(buf, rep));
	case PROTO_OP_REVOKED:
		map_name(&m, PK_SEM, rep->sem);
		if (rep->token != 0)
			map_uint(&m, PK_TOKEN, rep->token);
		hint = 64 + PROTO_MAX_NAME;
		break;
	case PROTO_OP_STATS:
		return (stats_encode(buf, rep));
	default:
		errno = EINVAL;
		return (-1);
	}
	return (enc_frame(buf, hint, &m));
}
