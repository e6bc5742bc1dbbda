/*
 * semd-int.h -- what the parts of libsemd share and do not export: the
 * connection structure, the I/O layer (io.c), path resolution (path.c)
 * and connecting with auto-start (autostart.c).  Only semd_* functions
 * leave the shared object (-export-symbols-regex), so the names here use
 * the libsemd_ prefix and stay private.
 */

#ifndef SEMD_CLIENT_INT_H
#define SEMD_CLIENT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "semd.h"

#define LIBSEMD_IN_INITIAL	4096
#define LIBSEMD_IN_MAX		(PROTO_HDR_LEN + PROTO_MAX_FRAME)
#define LIBSEMD_START_WAIT_MS	5000	/* connect retries, ms */
#define LIBSEMD_IDLE_EXIT	"60"	/* --idle-exit of a started semd */
#define LIBSEMD_DEF_GRACE_MS	5000	/* when HELLO announced none */
#define LIBSEMD_RECONNECT_MARGIN_MS 5000 /* beyond the grace period */
#define LIBSEMD_BACKOFF_MAX_MS	500	/* between reconnect attempts */

/* The bit of operation op in libsemd_answer's set of wanted replies. */
#define LIBSEMD_OP(op)		(1u << (op))

/* A grant this connection holds, for reclaiming it after a restart. */
struct libsemd_held {
	char			 name[PROTO_MAX_NAME + 1];
	uint32_t		 weight;
	uint64_t		 token;
};

/* One connection to a daemon.  See semd.h for the rules of use. */
struct semd {
	int			 fd;
	char			*path;
	uint64_t		 next_id;	/* last id used */

	struct proto_buf	 out;		/* queued frames */
	size_t			 out_off;	/* bytes already sent */

	uint8_t			*in;		/* received bytes */
	size_t			 in_len;
	size_t			 in_off;
	size_t			 in_cap;

	/*
	 * Once the stream is unusable (daemon gone, garbage received), every
	 * later call fails with the error that broke it.
	 */
	int			 broken;
	struct semd_error	 broken_err;

	/* The last reply semd_process returned: event strings point here. */
	struct proto_reply	 ev_rep;

	uint32_t		 server_pid;
	char			 server[PROTO_MAX_TEXT + 1];
	char			 client[PROTO_MAX_TEXT + 1];	/* our HELLO's */
	uint64_t		 grace_ms;	/* HELLO's: 0 none announced */

	/* For semd_reconnect (reclaim.c). */
	int			 flags;		/* semd_open's */
	int			 is_default;	/* auto-start applies */
	int64_t			 reconnect_ms;	/* -1: grace + margin */
	struct libsemd_held	*held;		/* grants held, oldest first */
	size_t			 nheld;
	size_t			 capheld;
};

/* io.c */
void		 libsemd_seterr(struct semd_error *, enum semd_errcode, int,
		     const char *, ...)
		     __attribute__((format(printf, 4, 5)));
void		 libsemd_break(struct semd *, const struct semd_error *);
int		 libsemd_broken(const struct semd *, struct semd_error *);
uint64_t	 libsemd_new_id(struct semd *);
uint64_t	 libsemd_request_init(struct semd *, struct proto_request *,
		     enum proto_op, const char *);
int		 libsemd_queue(struct semd *, const struct proto_request *,
		     struct semd_error *);
int		 libsemd_flush(struct semd *, struct semd_error *);
int		 libsemd_send(struct semd *, const struct proto_request *,
		     uint64_t *, struct semd_error *);
int		 libsemd_read(struct semd *, struct semd_error *);
int		 libsemd_take(struct semd *, struct proto_reply *,
		     struct semd_error *);
int		 libsemd_next(struct semd *, int, struct proto_reply *,
		     struct semd_error *);
int		 libsemd_unexpected(struct semd *, const struct proto_reply *,
		     struct semd_error *);
int		 libsemd_answer(struct semd *, uint64_t, unsigned int,
		     const char *, struct proto_reply *, struct semd_error *);
void		 libsemd_error_reply(const struct proto_reply *,
		     struct semd_error *);
enum semd_errcode libsemd_code(enum proto_err);

/* libsemd.c */
int		 libsemd_submit_query(struct semd *, enum proto_op, uint64_t *,
		     const char *, struct semd_error *);
void		*libsemd_query(struct semd *, enum proto_op, const char *, int,
		     struct semd_error *);

/* stats.c */
struct semd_stats *libsemd_stats_from(const struct proto_reply *);

/* reclaim.c */
void		 libsemd_track(struct semd *, const struct proto_reply *);

/* path.c */
int		 libsemd_resolve(const char *, char *, size_t, int *,
		     struct semd_error *);

/* autostart.c */
int		 libsemd_connect(const char *, int, int,
		     struct semd_error *);

#endif /* SEMD_CLIENT_INT_H */
