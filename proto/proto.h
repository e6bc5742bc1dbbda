/*
 * proto.h -- the semd wire protocol, version 1.
 *
 * A frame is a 4-byte big-endian length N (1 <= N <= PROTO_MAX_FRAME)
 * followed by N bytes holding exactly one MessagePack map with string keys.
 * This module turns frames into plain C structs and back; nothing outside
 * proto/ ever sees a msgpack_object.  See proto/PROTOCOL.md.
 *
 * Everything here is pure: no I/O, no global state, safe to call from
 * several threads on different objects.
 */

#ifndef SEMD_PROTO_H
#define SEMD_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION		1
#define PROTO_HDR_LEN		4
#define PROTO_MAX_FRAME		65536		/* body bytes, header excluded */
#define PROTO_MAX_NAME		128		/* semaphore name bytes */
#define PROTO_MAX_TEXT		255		/* client/server/message text */
#define PROTO_MAX_CAPACITY	0x7fffffffU	/* largest capacity or weight */
#define PROTO_MAX_TIMEOUT_MS	315360000000LL	/* ten years */
#define PROTO_MAX_DEPTH		8		/* msgpack nesting accepted */
#define PROTO_MAX_SEMS		16		/* names in one ACQUIRE */
#define PROTO_MAX_RATE		1000000.0	/* grants per second */
#define PROTO_MIN_RATE		(1.0 / 86400)	/* one grant a day */

/* Operations: requests and replies share one namespace on the wire. */
/*
 * The wire's operations, in the order of their numbers (1, 2, ...):
 * X(NAME).  enum proto_op and the wire names (proto_op_name) are made
 * from this one list.  HELLO, STATUS, ADMIN and STATS are requests and
 * replies; ACQUIRE, RELEASE and RECLAIM (a grant back after a restart)
 * requests; TIMEOUT a request (withdrawal) and a reply; QUEUED,
 * ACQUIRED, RELEASED and ERROR replies; REVOKED an event (v2: an
 * administrator revoked a grant of this connection).
 */
#define PROTO_OPS(X)							\
	X(HELLO) X(ACQUIRE) X(RELEASE) X(TIMEOUT) X(STATUS) X(QUEUED)	\
	X(ACQUIRED) X(RELEASED) X(ERROR) X(ADMIN) X(REVOKED) X(STATS)	\
	X(RECLAIM)

enum proto_op {
	PROTO_OP_NONE = 0,
#define PROTO_OP_ENUM(name)	PROTO_OP_##name,
	PROTO_OPS(PROTO_OP_ENUM)
#undef PROTO_OP_ENUM
};

/* ADMIN actions (the "action" field). */
enum proto_admin {
	PROTO_ADMIN_NONE = 0,
	PROTO_ADMIN_RESIZE,	/* sem, capacity */
	PROTO_ADMIN_DRAIN,	/* sem, wait? */
	PROTO_ADMIN_UNDRAIN,	/* sem */
	PROTO_ADMIN_REVOKE,	/* sem, pid or token */
	PROTO_ADMIN_RELOAD,	/* (nothing) */
	PROTO_ADMIN_LIST,	/* (nothing) */
};

/*
 * The error codes carried by ERROR replies (PROTO_OK is never sent), in
 * the order of their numbers (1, 2, ...):
 * X(NAME, what semd_strerror says).  enum proto_err, the wire names
 * (proto_err_name), libsemd's mapping (libsemd_code) and semd_strerror
 * are made from this one list.  client/semd.h's public enum semd_errcode
 * spells them out again (an installed header cannot include this one);
 * client/io.c checks at compile time that the numbers agree.  A new
 * code goes here, in semd.h and in PROTOCOL.md.
 */
#define PROTO_ERRORS(X)							\
	X(BAD_FRAME, "bad frame")					\
	X(BAD_REQUEST, "bad request")					\
	X(UNKNOWN_OP, "unknown operation")				\
	X(VERSION, "protocol version not supported")			\
	X(BAD_NAME, "bad semaphore name")				\
	X(NO_CAPACITY, "unknown semaphore and no capacity given")	\
	X(CAPACITY_MISMATCH, "capacity differs from the semaphore's")	\
	X(TOO_HEAVY, "weight larger than the capacity")			\
	X(NOT_HELD, "not held by this connection")			\
	X(NOT_PENDING, "no such pending request")			\
	X(DUPLICATE_ID, "request id already pending")			\
	X(LIMIT, "a limit of the daemon was reached")			\
	X(DENIED, "permission denied")					\
	X(RATE_MISMATCH, "semaphore exists with another rate")

enum proto_err {
	PROTO_OK = 0,
#define PROTO_ERR_ENUM(name, text)	PROTO_E_##name,
	PROTO_ERRORS(PROTO_ERR_ENUM)
#undef PROTO_ERR_ENUM
};

/*
 * Every map key of the wire, in requests, replies and their nested maps:
 * X(NAME, "wire name").  enum proto_key (PK_NAME) and proto_keys[] (the
 * names and their lengths) are made from this one list; the decoder hashes
 * it into its lookup table and the encoder writes keys from it, so a key
 * is spelled once.  A new key goes here and in PROTOCOL.md.
 */
#define PROTO_KEYS(X)							\
	X(OP, "op") X(ID, "id") X(VERSION, "version")			\
	X(CLIENT, "client") X(SEM, "sem") X(CAPACITY, "capacity")	\
	X(WEIGHT, "weight") X(TIMEOUT_MS, "timeout_ms")			\
	X(SERVER, "server") X(PID, "pid") X(POSITION, "position")	\
	X(CODE, "code") X(MESSAGE, "message") X(SEMS, "sems")		\
	X(TRUNCATED, "truncated") X(HELD, "held")			\
	X(WAITING, "waiting") X(HOLDERS, "holders")			\
	X(WAITERS, "waiters") X(UID, "uid") X(HELD_MS, "held_ms")	\
	X(WAITED_MS, "waited_ms") X(ACTION, "action")			\
	X(TOKEN, "token") X(WAIT, "wait") X(DECLARED, "declared")	\
	X(DRAINED, "drained") X(REVOKED, "revoked")			\
	X(WORKER_PID, "worker_pid") X(WORKER_CMD, "worker_cmd")		\
	X(HOST, "host") X(RATE, "rate") X(BURST, "burst")		\
	X(NEXT_GRANT_MS, "next_grant_ms") X(GRANTS, "grants")		\
	X(TIMEOUTS, "timeouts") X(WITHDRAWALS, "withdrawals")		\
	X(RELEASES, "releases") X(DISCONNECTS, "disconnects")		\
	X(REVOKES, "revokes") X(MAX_WAITING, "max_waiting")		\
	X(RECENT_HOLD_MS, "recent_hold_ms")				\
	X(WAIT_SUM_MS, "wait_sum_ms") X(HOLD, "hold")			\
	X(HOLD_SUM_MS, "hold_sum_ms") X(BUCKET_MS, "bucket_ms")		\
	X(UPTIME_MS, "uptime_ms") X(CONNECTIONS, "connections")		\
	X(SEMAPHORES, "semaphores") X(GRACE_MS, "grace_ms")

enum proto_key {
#define PROTO_KEY_ENUM(name, wire)	PK_##name,
	PROTO_KEYS(PROTO_KEY_ENUM)
#undef PROTO_KEY_ENUM
	PK_COUNT
};

/* The wire name of each key, indexed by enum proto_key. */
struct proto_key_name {
	const char	*name;
	size_t		 len;		/* strlen(name) */
};
extern const struct proto_key_name proto_keys[PK_COUNT];

/*
 * One semaphore of an ACQUIRE that names several (`sems`), or the rate
 * of one.  rate 0 (has_rate 0): none declared; burst 0: absent (1).
 * capacity 0 is allowed only with a rate (no concurrency bound).
 */
struct proto_sem_req {
	char		 sem[PROTO_MAX_NAME + 1];	/* NUL-terminated */
	size_t		 sem_len;
	int		 has_capacity;
	uint32_t	 capacity;
	uint32_t	 weight;	/* 1 if absent */
	int		 has_rate;
	double		 rate;		/* grants per second, > 0 */
	uint32_t	 burst;		/* 0 if absent */
};

/*
 * Histograms of wait and hold times (STATS): fixed buckets on a log
 * scale from 1 ms to 1 h.  Bucket i (0 <= i < PROTO_HIST_BOUNDS) counts
 * the times t with bound[i-1] < t <= bound[i] milliseconds (bucket 0:
 * t <= 1 ms); the last bucket, PROTO_HIST_BOUNDS, counts those above one
 * hour.
 */
#define PROTO_HIST_BOUNDS	21
#define PROTO_HIST_BUCKETS	(PROTO_HIST_BOUNDS + 1)
extern const uint32_t	 proto_hist_bounds_ms[PROTO_HIST_BOUNDS];

/* The bucket of a duration of ms milliseconds.  O(log buckets). */
unsigned int	 proto_hist_bucket(uint64_t ms);

/*
 * The value at quantile q (0 < q <= 1) of the PROTO_HIST_BUCKETS counts
 * of a histogram, in ms, interpolated linearly inside its bucket as
 * Prometheus' histogram_quantile() does (bucket 0 spans 0 .. 1 ms); 0
 * for an empty histogram.  In the last bucket, above one hour, it
 * answers one hour.  O(buckets).
 */
double		 proto_hist_quantile(const uint64_t *count, double q);

/* One histogram: counts per bucket (not cumulative), their sum. */
struct proto_hist {
	uint64_t	 count[PROTO_HIST_BUCKETS];
	uint64_t	 sum_ms;	/* total of the times counted */
};

/* One semaphore in a STATS reply. */
struct proto_sem_stats {
	char			 sem[PROTO_MAX_NAME + 1];
	uint32_t		 capacity;
	uint32_t		 held;
	uint32_t		 waiting;
	uint64_t		 grants;
	uint64_t		 timeouts;
	uint64_t		 withdrawals;
	uint64_t		 releases;
	uint64_t		 disconnects;
	uint64_t		 revokes;
	uint32_t		 max_waiting;
	uint64_t		 recent_hold_ms;
	struct proto_hist	 wait;
	struct proto_hist	 hold;
};

/*
 * A decoded or to-be-encoded request.  Fields not used by op are ignored
 * by the encoder and zeroed by the decoder.
 */
struct proto_request {
	enum proto_op	 op;
	uint64_t	 id;		/* TIMEOUT: the pending ACQUIRE's id */

	/* HELLO */
	uint32_t	 version;
	char		 client[PROTO_MAX_TEXT + 1];	/* "" if absent */
	uint32_t	 worker_pid;	/* 0 if absent: who does the work */
	char		 worker_cmd[PROTO_MAX_TEXT + 1];	/* "" if absent */

	/* ACQUIRE, RELEASE, RECLAIM; STATUS (optional: has_sem) */
	int		 has_sem;
	char		 sem[PROTO_MAX_NAME + 1];	/* NUL-terminated */
	size_t		 sem_len;

	/* ACQUIRE, RECLAIM */
	int		 has_capacity;
	uint32_t	 capacity;
	int64_t		 timeout_ms;	/* -1: wait forever (absent) */

	/* ACQUIRE, RELEASE, RECLAIM */
	uint32_t	 weight;	/* 1 if absent */

	/*
	 * RELEASE (optional: then the whole grant goes, sem is optional
	 * and weight ignored); RECLAIM (required); ADMIN revoke (optional)
	 */
	int		 has_token;
	uint64_t	 token;

	/* ADMIN: action; sem (has_sem), capacity (has_capacity) reused */
	enum proto_admin action;
	int		 has_pid;
	uint32_t	 pid;		/* revoke */
	int		 wait;		/* drain: answer when held is 0 */

	/* ACQUIRE of one sem: its rate (capacity may then be 0) */
	int		 has_rate;
	double		 rate;		/* grants per second */
	uint32_t	 burst;		/* 0 if absent (1) */

	/* ACQUIRE of several: sems instead of sem (has_sem 0, nsems > 0) */
	struct proto_sem_req sems[PROTO_MAX_SEMS];
	size_t		 nsems;
};

/* One semaphore of a grant, in ACQUIRED and RELEASED. */
struct proto_grant_part {
	char		 sem[PROTO_MAX_NAME + 1];
	uint32_t	 weight;
};

/*
 * One holder or waiter in a STATUS reply.  The optional texts are NULL or
 * "" when absent; when encoding they belong to the caller, after decoding
 * to the reply (freed by proto_reply_free).
 */
struct proto_party {
	uint32_t	 pid;
	uint32_t	 uid;
	uint32_t	 weight;
	uint64_t	 ms;		/* held_ms or waited_ms */
	uint32_t	 worker_pid;	/* 0 if absent */
	const char	*client;	/* HELLO's client */
	const char	*worker_cmd;	/* HELLO's worker_cmd */
	const char	*host;		/* cluster semaphores: its host id */
};

/* One semaphore in a STATUS reply. */
struct proto_sem_status {
	char			 sem[PROTO_MAX_NAME + 1];
	uint32_t		 capacity;	/* 0: rate only */
	uint32_t		 held;
	uint32_t		 waiting;
	double			 rate;		/* 0: none */
	uint32_t		 burst;		/* with a rate */
	uint64_t		 next_grant_ms;	/* with a rate: ms until the
						   rate allows a grant */
	struct proto_party	*holders;
	size_t			 nholders;
	struct proto_party	*waiters;
	size_t			 nwaiters;
	int			 declared;	/* by the configuration (v2) */
	int			 drained;	/* no grants for now (v2) */
};

/*
 * A decoded or to-be-encoded reply.  For STATUS, sems/holders/waiters are
 * arrays: the caller owns them when encoding; after proto_decode_reply they
 * belong to the reply and are freed by proto_reply_free.
 */
struct proto_reply {
	enum proto_op	 op;
	uint64_t	 id;

	/* HELLO */
	uint32_t	 version;
	char		 server[PROTO_MAX_TEXT + 1];
	uint32_t	 pid;
	uint64_t	 grace_ms;	/* the daemon's --grace (0: absent) */

	/* QUEUED */
	uint32_t	 position;	/* 1 = first in line */

	/* ACQUIRED, RELEASED */
	char		 sem[PROTO_MAX_NAME + 1];
	uint32_t	 weight;
	/* several semaphores (sent as `sems`); sem, weight repeat parts[0] */
	struct proto_grant_part	 parts[PROTO_MAX_SEMS];
	size_t		 nparts;

	/*
	 * ACQUIRED, and RELEASED of a RELEASE by token: the grant's token
	 * (0: none, sent as absent; an older daemon sends none)
	 */
	uint64_t	 token;

	/* ERROR */
	enum proto_err	 code;
	char		 message[PROTO_MAX_TEXT + 1];

	/* STATUS; ADMIN list */
	struct proto_sem_status	*sems;
	size_t			 nsems;
	int			 truncated;	/* lists were cut to fit a frame;
						   STATS: semaphores left out */

	/* STATS (truncated above) */
	struct proto_sem_stats	*stats;
	size_t			 nstats;
	uint64_t		 uptime_ms;
	uint32_t		 connections;
	uint32_t		 semaphores;	/* alive, listed or not */

	/*
	 * ADMIN: action, message (what was done, a sentence), sem (all but
	 * reload and list), capacity, held, waiting (resize, drain,
	 * undrain), revoked (revoke: holders told).  REVOKED: sem, token.
	 */
	enum proto_admin	 action;
	uint32_t		 capacity;
	uint32_t		 held;
	uint32_t		 waiting;
	uint32_t		 revoked;
};

/*
 * A growable byte buffer that encoders append whole frames to.
 * Initialise with {0}; free data with proto_buf_free.
 */
struct proto_buf {
	uint8_t		*data;
	size_t		 len;
	size_t		 cap;
};

/* Release the memory of a buffer and reset it to empty. */
void		 proto_buf_free(struct proto_buf *);

/*
 * The length of text s (n bytes) clamped to PROTO_MAX_TEXT without
 * cutting a UTF-8 sequence in two: n when it fits, else PROTO_MAX_TEXT
 * backed off to the start of a sequence (s must then have more than
 * PROTO_MAX_TEXT bytes).  What the encoder sends and the decoder keeps.
 */
size_t		 proto_text_clamp(const char *s, size_t n);

/* The body length a frame's PROTO_HDR_LEN-byte prefix says (big-endian). */
uint32_t	 proto_frame_len(const uint8_t *hdr);

/*
 * Look at the start of a byte stream for a frame.  Returns 1 when a whole
 * frame is present (*body_len set; the frame spans PROTO_HDR_LEN +
 * *body_len bytes), 0 when more bytes are needed, -1 when the length
 * prefix is invalid (0 or above PROTO_MAX_FRAME): the stream is unusable.
 * Once the four prefix bytes are there and valid, *body_len is set even
 * when 0 is returned, so the caller knows how much is still to come.
 */
int		 proto_frame_check(const uint8_t *buf, size_t avail,
		     uint32_t *body_len);

/*
 * Decode one request body (the N bytes after the length prefix).
 * Returns PROTO_OK and fills *req, or an error code with a human sentence
 * in errbuf (errlen bytes, NUL-terminated; errbuf may be NULL).  req->id
 * is set whenever the body carried a usable id, so the error reply can
 * name it; otherwise 0.  req->op is set once a known op was read.
 *
 * PROTO_E_BAD_FRAME: not exactly one msgpack map, malformed, nested deeper
 *   than PROTO_MAX_DEPTH, a map key that is not a string (at any depth),
 *   or a container claiming more elements than the body has bytes
 *   (rejected before anything is allocated).  The connection must close.
 * PROTO_E_UNKNOWN_OP (op is a string but not a request),
 *   PROTO_E_BAD_REQUEST (missing, nil-for-required, wrong-typed,
 *   out-of-range or repeated field; missing or ill-typed op or id),
 *   PROTO_E_BAD_NAME: the connection may go on.
 * PROTO_E_LIMIT: out of memory (the connection may go on).
 * Unknown keys are ignored; nil means absent.  Free text longer than
 * PROTO_MAX_TEXT is cut at a UTF-8 boundary, control bytes become '?'.
 * Cost: O(len), at most one malloc of at most 24 bytes per body byte
 * (the elements of nested maps and arrays; freed before returning);
 * strings are not copied except into *req.
 */
enum proto_err	 proto_decode_request(const uint8_t *body, size_t len,
		     struct proto_request *req, char *errbuf, size_t errlen);

/*
 * Decode one reply body.  Same contract as proto_decode_request; on
 * success a STATUS reply owns one heap block (rep->sems, and the holders
 * and waiters arrays inside it), and a STATS reply one (rep->stats):
 * call proto_reply_free.  On error nothing
 * is owned.  A reply op this version does not know is PROTO_E_UNKNOWN_OP
 * with rep->id set (a client may ignore it); an ERROR with an unknown code
 * is PROTO_E_BAD_REQUEST with rep->op, rep->id and rep->message set.
 */
enum proto_err	 proto_decode_reply(const uint8_t *body, size_t len,
		     struct proto_reply *rep, char *errbuf, size_t errlen);

/*
 * Free the arrays a decoded STATUS or STATS reply owns; safe on any
 * decoded or zeroed reply, and twice.  Not for a reply whose sems or
 * stats the caller built.
 */
void		 proto_reply_free(struct proto_reply *);

/*
 * Append one whole frame (prefix and body) encoding req or rep to buf.
 * Return 0, or -1 with errno ENOMEM or EINVAL (op not a request / not a
 * reply, or an ERROR code that is not a wire code); on failure buf is
 * unchanged.  Names and texts are cut to their maxima.  Request: weight 0
 * is sent as absent (default 1), timeout_ms < 0 as absent (forever),
 * capacity only if has_capacity, STATUS sem only if has_sem; a RELEASE
 * with has_token sends only the token.  Reply: token 0 is not sent.  A STATUS
 * reply that would not fit in PROTO_MAX_FRAME is shortened (the first
 * holders/waiters of each semaphore kept, as many as fit, then fewer
 * semaphores) and sent with truncated = true; held and waiting counts
 * stay exact.  A STATS reply that would not fit lists the first
 * semaphores that do, with truncated = true.  STATS sem only if has_sem.
 */
int		 proto_encode_request(struct proto_buf *,
		     const struct proto_request *);
int		 proto_encode_reply(struct proto_buf *,
		     const struct proto_reply *);

/*
 * Convenience encoder for ERROR replies; message may be NULL ("").
 * Returns as proto_encode_reply.
 */
int		 proto_encode_error(struct proto_buf *, uint64_t id,
		     enum proto_err code, const char *message);

/*
 * Names: "ACQUIRE", "NOT_HELD", ...; NULL / PROTO_OP_NONE / PROTO_OK when
 * unknown.  proto_err_name(PROTO_OK) is "OK", which is never sent.
 */
const char	*proto_op_name(enum proto_op);
const char	*proto_err_name(enum proto_err);
enum proto_op	 proto_op_from_name(const char *, size_t);
enum proto_err	 proto_err_from_name(const char *, size_t);

/* ADMIN action names: "resize", ...; NULL / PROTO_ADMIN_NONE if unknown. */
const char	*proto_admin_name(enum proto_admin);
enum proto_admin proto_admin_from_name(const char *, size_t);

/*
 * Is name (len bytes) a valid semaphore name, that is 1..PROTO_MAX_NAME
 * bytes each one of A-Z a-z 0-9 . _ - : @ / +  Returns 1 or 0.
 */
int		 proto_name_valid(const char *name, size_t len);

#endif /* SEMD_PROTO_H */
