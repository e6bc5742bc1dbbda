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

/* Operations: requests and replies share one namespace on the wire. */
enum proto_op {
	PROTO_OP_NONE = 0,
	PROTO_OP_HELLO,		/* request and reply */
	PROTO_OP_ACQUIRE,	/* request */
	PROTO_OP_RELEASE,	/* request */
	PROTO_OP_TIMEOUT,	/* request (withdrawal) and reply */
	PROTO_OP_STATUS,	/* request and reply */
	PROTO_OP_QUEUED,	/* reply */
	PROTO_OP_ACQUIRED,	/* reply */
	PROTO_OP_RELEASED,	/* reply */
	PROTO_OP_ERROR,		/* reply */
};

/* Error codes carried by ERROR replies.  PROTO_OK is never sent. */
enum proto_err {
	PROTO_OK = 0,
	PROTO_E_BAD_FRAME,
	PROTO_E_BAD_REQUEST,
	PROTO_E_UNKNOWN_OP,
	PROTO_E_VERSION,
	PROTO_E_BAD_NAME,
	PROTO_E_NO_CAPACITY,
	PROTO_E_CAPACITY_MISMATCH,
	PROTO_E_TOO_HEAVY,
	PROTO_E_NOT_HELD,
	PROTO_E_NOT_PENDING,
	PROTO_E_DUPLICATE_ID,
	PROTO_E_LIMIT,
	PROTO_E_DENIED,
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

	/* ACQUIRE, RELEASE; STATUS (optional: has_sem) */
	int		 has_sem;
	char		 sem[PROTO_MAX_NAME + 1];	/* NUL-terminated */
	size_t		 sem_len;

	/* ACQUIRE */
	int		 has_capacity;
	uint32_t	 capacity;
	int64_t		 timeout_ms;	/* -1: wait forever (absent) */

	/* ACQUIRE, RELEASE */
	uint32_t	 weight;	/* 1 if absent */
};

/* One holder or waiter in a STATUS reply. */
struct proto_party {
	uint32_t	 pid;
	uint32_t	 uid;
	uint32_t	 weight;
	uint64_t	 ms;		/* held_ms or waited_ms */
};

/* One semaphore in a STATUS reply. */
struct proto_sem_status {
	char			 sem[PROTO_MAX_NAME + 1];
	uint32_t		 capacity;
	uint32_t		 held;
	uint32_t		 waiting;
	struct proto_party	*holders;
	size_t			 nholders;
	struct proto_party	*waiters;
	size_t			 nwaiters;
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

	/* QUEUED */
	uint32_t	 position;	/* 1 = first in line */

	/* ACQUIRED, RELEASED */
	char		 sem[PROTO_MAX_NAME + 1];
	uint32_t	 weight;

	/* ERROR */
	enum proto_err	 code;
	char		 message[PROTO_MAX_TEXT + 1];

	/* STATUS */
	struct proto_sem_status	*sems;
	size_t			 nsems;
	int			 truncated;	/* lists were cut to fit a frame */
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
 * Look at the start of a byte stream for a frame.  Returns 1 when a whole
 * frame is present (*body_len set; the frame spans PROTO_HDR_LEN +
 * *body_len bytes), 0 when more bytes are needed, -1 when the length
 * prefix is invalid (0 or above PROTO_MAX_FRAME): the stream is unusable.
 */
int		 proto_frame_check(const uint8_t *buf, size_t avail,
		     uint32_t *body_len);

/*
 * Decode one request body (the N bytes after the length prefix).
 * Returns PROTO_OK and fills *req, or an error code with a human sentence
 * in errbuf (errlen bytes, NUL-terminated).  req->id is set whenever the
 * body carried a usable id, so the error reply can name it; otherwise 0.
 *
 * PROTO_E_BAD_FRAME: not exactly one msgpack map, too deep, or a container
 *   claiming more elements than the body has bytes (rejected before any
 *   allocation proportional to the claim).  The connection must close.
 * PROTO_E_UNKNOWN_OP, PROTO_E_BAD_REQUEST (missing/wrong-typed/out-of-range
 *   field), PROTO_E_BAD_NAME: the connection may go on.
 * Unknown keys are ignored.  Allocation is bounded by a small multiple
 * of len.
 */
enum proto_err	 proto_decode_request(const uint8_t *body, size_t len,
		     struct proto_request *req, char *errbuf, size_t errlen);

/*
 * Decode one reply body.  Same contract as proto_decode_request; on
 * success a STATUS reply owns heap arrays: call proto_reply_free.
 */
enum proto_err	 proto_decode_reply(const uint8_t *body, size_t len,
		     struct proto_reply *rep, char *errbuf, size_t errlen);

/* Free the arrays a decoded STATUS reply owns; safe on any reply. */
void		 proto_reply_free(struct proto_reply *);

/*
 * Append one whole frame (prefix and body) encoding req or rep to buf.
 * Return 0, or -1 with errno ENOMEM.  A STATUS reply that would not fit
 * in PROTO_MAX_FRAME is shortened (fewer holders/waiters listed, then
 * fewer semaphores) and sent with truncated = true; held and waiting
 * counts stay exact.
 */
int		 proto_encode_request(struct proto_buf *,
		     const struct proto_request *);
int		 proto_encode_reply(struct proto_buf *,
		     const struct proto_reply *);

/* Convenience encoders for the daemon's most frequent replies. */
int		 proto_encode_error(struct proto_buf *, uint64_t id,
		     enum proto_err code, const char *message);

/* Names: "ACQUIRE", "NOT_HELD", ...; NULL / PROTO_OP_NONE when unknown. */
const char	*proto_op_name(enum proto_op);
const char	*proto_err_name(enum proto_err);
enum proto_op	 proto_op_from_name(const char *, size_t);
enum proto_err	 proto_err_from_name(const char *, size_t);

/*
 * Is name (len bytes) a valid semaphore name: 1..PROTO_MAX_NAME bytes of
 * A-Z a-z 0-9 . _ - : @ / + ?  Returns 1 or 0.
 */
int		 proto_name_valid(const char *name, size_t len);

#endif /* SEMD_PROTO_H */
