/*
 * semd.h -- libsemd, the client library of semd.
 *
 * A struct semd is one connection to a semd daemon.  Slots acquired through
 * it belong to that connection: closing it (or the process dying) gives
 * them all back at once.
 *
 * Two ways to use it:
 *  - blocking: semd_acquire(_h) / semd_release(_h) / semd_status /
 *    semd_ping / semd_admin send one request and wait for its answer (a
 *    signal interrupting semd_acquire withdraws the request);
 *  - event loop: put semd_fd() in your loop, queue requests with
 *    semd_submit_*() (semd_submit_withdraw takes back a waiting ACQUIRE),
 *    call semd_flush() when the fd is writable and
 *    semd_want_write() says so, and call semd_process() when it is readable
 *    to receive each reply as a struct semd_event.
 * Do not mix the two on one connection while an asynchronous request is
 * outstanding.
 *
 * Threads: a struct semd is not locked; use one from one thread at a time
 * (different connections in different threads are fine).  The library
 * keeps no global state, installs no signal handlers and never calls
 * exit() or abort(): every failure is returned.  SIGPIPE is avoided with
 * MSG_NOSIGNAL.
 *
 * Ownership: the caller owns a struct semd from semd_open until
 * semd_close, and a struct semd_status from semd_status until
 * semd_status_free.  Strings in a struct semd_event live until the next
 * call on the connection.
 *
 * Errors: functions return SEMD_OK (0), SEMD_TIMEDOUT (1, acquire only) or
 * SEMD_ERR (-1) and fill a struct semd_error when one is given (it may be
 * NULL).
 */

#ifndef SEMD_CLIENT_H
#define SEMD_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SEMD_OK			 0
#define SEMD_TIMEDOUT		 1
#define SEMD_ERR		(-1)

#define SEMD_FOREVER		(-1)	/* timeout_ms: wait without limit */
#define SEMD_TRY		 0	/* timeout_ms: never wait */

/* What went wrong: a protocol error code from the daemon, or ours. */
enum semd_errcode {
	SEMD_E_NONE = 0,
	/* Sent by the daemon (see PROTOCOL.md). */
	SEMD_E_BAD_FRAME,
	SEMD_E_BAD_REQUEST,
	SEMD_E_UNKNOWN_OP,
	SEMD_E_VERSION,
	SEMD_E_BAD_NAME,
	SEMD_E_NO_CAPACITY,
	SEMD_E_CAPACITY_MISMATCH,
	SEMD_E_TOO_HEAVY,
	SEMD_E_NOT_HELD,
	SEMD_E_NOT_PENDING,
	SEMD_E_DUPLICATE_ID,
	SEMD_E_LIMIT,
	SEMD_E_DENIED,
	SEMD_E_RATE_MISMATCH,
	/* Local. */
	SEMD_E_SYSTEM = 100,	/* a system call failed: sys_errno */
	SEMD_E_UNREACHABLE,	/* no daemon at the socket (and none started) */
	SEMD_E_DISCONNECTED,	/* the daemon closed the connection */
	SEMD_E_PROTOCOL,	/* the daemon sent something we cannot read */
	SEMD_E_INTERRUPTED,	/* a signal interrupted a blocking wait */
	SEMD_E_USAGE,		/* bad argument to a library call */
	SEMD_E_LOST,		/* after a restart, a grant was not reclaimed */
};

struct semd_error {
	enum semd_errcode	 code;
	int			 sys_errno;	/* SEMD_E_SYSTEM, _UNREACHABLE */
	char			 message[512];	/* one line a person can act on */
};

/* semd_open flags. */
#define SEMD_OPEN_NO_AUTOSTART	0x1	/* never start a per-user daemon */
#define SEMD_OPEN_RECONNECT	0x2	/* blocking calls reconnect and
					   reclaim when semd restarts */

struct semd;

/*
 * Connect.  path: an explicit socket path, or NULL for $SEMD_SOCKET, else
 * the system daemon /run/semd/semd.sock when it accepts, else the per-user
 * default /tmp/semd-EUID/semd.sock, where a per-user daemon is started
 * when nothing listens (unless SEMD_OPEN_NO_AUTOSTART or
 * $SEMD_NO_AUTOSTART=1).  The connection is never on fds 0-2, and closed
 * fds 0-2 are opened on /dev/null first.
 * client_name: free text sent in HELLO (may be NULL).
 * Returns a connection, or NULL with *err filled.
 */
struct semd	*semd_open(const char *path, const char *client_name,
		     int flags, struct semd_error *err);

/* Close the connection; everything it holds or waits for is given back. */
void		 semd_close(struct semd *);

/* The socket path this connection uses. */
const char	*semd_path(const struct semd *);

/* The daemon's pid, from its HELLO reply (0 if it gave none). */
pid_t		 semd_server_pid(const struct semd *);

/*
 * The path semd_open(NULL, ...) would use, written to buf.  *is_default
 * is set to 1 when it is the per-user default (auto-start applies).
 * Returns 0, or -1 with err filled (e.g. no usable per-user directory).
 */
int		 semd_default_path(char *buf, size_t len, int *is_default,
		     struct semd_error *err);

/*
 * Acquire weight slots of name.  capacity: the capacity to declare, 0 for
 * none (the semaphore must then exist).  weight: 0 means 1.
 * timeout_ms: SEMD_FOREVER, SEMD_TRY, or milliseconds (enforced by the
 * daemon).  on_queued, when not NULL, is called once with the 1-based
 * queue position if the request has to wait.
 * Returns SEMD_OK (held), SEMD_TIMEDOUT (not granted in time), or SEMD_ERR.
 * If a signal interrupts the wait (poll returns EINTR), the request is
 * withdrawn: SEMD_ERR with SEMD_E_INTERRUPTED, unless the daemon had
 * already granted it, in which case SEMD_OK is returned and it is held.
 */
int		 semd_acquire(struct semd *, const char *name,
		     uint32_t capacity, uint32_t weight, int64_t timeout_ms,
		     void (*on_queued)(uint32_t position, void *arg), void *arg,
		     struct semd_error *err);

/*
 * One semaphore of a request (semd_acquire_many).  capacity 0: none
 * declared (the semaphore must exist, or a rate is given: a new one then
 * has no concurrency bound, only the rate).  weight 0 means 1.  rate:
 * grants per second to declare (fractions allowed), 0 for none; burst:
 * grants allowed at once after an idle spell, 0 for the default (1).
 */
struct semd_want {
	const char	*name;
	uint32_t	 capacity;
	uint32_t	 weight;
	double		 rate;
	uint32_t	 burst;
};

#define SEMD_MAX_SEMS	16	/* names in one semd_acquire_many */

/*
 * Acquire several semaphores at once (n = 1..SEMD_MAX_SEMS distinct
 * names): all of them or none.  The request waits in every queue with
 * one place in line, so two programs taking x and y in opposite orders
 * cannot deadlock.  timeout_ms, on_queued and the return value are as
 * for semd_acquire; the position is the furthest back in any queue.
 * *token (may be NULL) receives the grant's token, for
 * semd_release_token.  A name given twice is SEMD_E_USAGE; a rate
 * that differs from the semaphore's is SEMD_E_RATE_MISMATCH.
 */
int		 semd_acquire_many(struct semd *, const struct semd_want *,
		     size_t n, int64_t timeout_ms,
		     void (*on_queued)(uint32_t position, void *arg),
		     void *arg, uint64_t *token, struct semd_error *err);

/*
 * Give back all of one grant (every semaphore of it) by its token.
 * SEMD_E_NOT_HELD if this connection holds no such grant.
 */
int		 semd_release_token(struct semd *, uint64_t token,
		     struct semd_error *err);

/* Give back weight (0 means 1) slots of name.  SEMD_E_NOT_HELD if not held. */
int		 semd_release(struct semd *, const char *name, uint32_t weight,
		     struct semd_error *err);

/*
 * The handle API: one struct semd_grant per acquire, so that the release
 * gives back exactly what that acquire got and cannot name the wrong
 * semaphore or weight.  The caller owns the struct (it may live anywhere);
 * the library fills it and reads it, and keeps no pointer to it.
 */
struct semd_grant {
	char		 name[129];
	uint32_t	 capacity;	/* declared (0: none) */
	uint32_t	 weight;	/* held by this grant */
	uint64_t	 token;		/* the daemon's token for it (never 0
					   from semd >= 0.2; 0: an older
					   daemon, released by name) */
};

/*
 * As semd_acquire, and on SEMD_OK fill *grant (which is cleared first,
 * whatever the outcome).  The token names this grant for the daemon: it
 * is unique across restarts of the daemon on that socket, and may be
 * handed to other processes (semrun exports it as SEMD_TOKEN).
 */
int		 semd_acquire_h(struct semd *, const char *name,
		     uint32_t capacity, uint32_t weight, int64_t timeout_ms,
		     void (*on_queued)(uint32_t position, void *arg), void *arg,
		     struct semd_grant *grant, struct semd_error *err);

/*
 * Give back the whole of grant (RELEASE by token; by name and weight if
 * the daemon gave no token) and clear it.  SEMD_E_NOT_HELD if this
 * connection does not hold it; SEMD_E_USAGE for a cleared grant.
 */
int		 semd_release_h(struct semd *, struct semd_grant *grant,
		     struct semd_error *err);

/* One holder or waiter in a status report. */
struct semd_party {
	pid_t		 pid;		/* of the connection (semrun) */
	uid_t		 uid;
	uint32_t	 weight;
	uint64_t	 ms;		/* held for / waiting for, milliseconds */
	pid_t		 worker_pid;	/* who does the work (CMD), or 0 */
	char		 client[256];	/* HELLO's client name, or "" */
	char		 worker_cmd[256];	/* CMD's argv, shell-quoted, or "" */
	char		 host[65];	/* cluster semaphore: its host, or "" */
};

struct semd_sem_status {
	char			 name[129];
	uint32_t		 capacity;	/* 0: rate only */
	uint32_t		 held;
	uint32_t		 waiting;
	struct semd_party	*holders;
	size_t			 nholders;
	struct semd_party	*waiters;
	size_t			 nwaiters;
	int			 declared;	/* by the daemon's configuration */
	int			 drained;	/* no grants until undrained */
	double			 rate;		/* grants/s, 0: no rate */
	uint32_t		 burst;
	uint64_t		 next_grant_ms;	/* until the rate allows one */
};

struct semd_status {
	struct semd_sem_status	*sems;
	size_t			 nsems;
	int			 truncated;	/* the daemon cut the lists */
};

/* Ask for the state of name (NULL: all).  Free with semd_status_free. */
int		 semd_status(struct semd *, const char *name,
		     struct semd_status **out, struct semd_error *err);
void		 semd_status_free(struct semd_status *);

/*
 * Statistics (STATS): what happened on each semaphore since the daemon
 * created it.  Histograms of wait and hold times have SEMD_HIST_BUCKETS
 * buckets: bucket i counts the times t with bound[i-1] < t <= bound[i]
 * ms (see semd_hist_bounds; bucket 0: t <= 1 ms), the last one those
 * above an hour.
 */
#define SEMD_HIST_BUCKETS	22

struct semd_hist {
	uint64_t	 count[SEMD_HIST_BUCKETS];	/* not cumulative */
	uint64_t	 sum_ms;
};

struct semd_sem_stats {
	char		 name[129];
	uint32_t	 capacity;
	uint32_t	 held;
	uint32_t	 waiting;
	uint64_t	 grants;	/* at once or after waiting */
	uint64_t	 timeouts;	/* deadline passed, or a try refused */
	uint64_t	 withdrawals;	/* gave up waiting (or disconnected) */
	uint64_t	 releases;	/* RELEASE requests */
	uint64_t	 disconnects;	/* holds given back by a disconnection */
	uint64_t	 revokes;
	uint32_t	 max_waiting;	/* longest line seen */
	uint64_t	 recent_hold_ms; /* moving average of hold times */
	struct semd_hist wait;		/* time in line of each grant */
	struct semd_hist hold;		/* time each hold was held */
};

struct semd_stats {
	struct semd_sem_stats	*sems;
	size_t			 nsems;
	int			 truncated;	/* some semaphores left out */
	uint64_t		 uptime_ms;	/* of the daemon */
	uint32_t		 connections;
	uint32_t		 semaphores;	/* alive, listed or not */
};

/* Ask for the figures of name (NULL: all).  Free with semd_stats_free. */
int		 semd_stats(struct semd *, const char *name,
		     struct semd_stats **out, struct semd_error *err);
void		 semd_stats_free(struct semd_stats *);

/* The SEMD_HIST_BUCKETS - 1 bucket bounds, in ms (1 ms .. 1 h). */
const uint32_t	*semd_hist_bounds(void);

/*
 * The value at quantile q (0 < q <= 1) of a histogram in ms, interpolated
 * inside its bucket (as Prometheus' histogram_quantile does); 0 when it
 * is empty, one hour when it falls above the last bound.
 */
double		 semd_hist_quantile(const struct semd_hist *, double q);

/*
 * Answer whether the daemon is alive: a HELLO round trip.  With
 * SEMD_OPEN_RECONNECT, a ping that finds the daemon gone reconnects and
 * reclaims (semd_reconnect): SEMD_OK then means all is held again.
 */
int		 semd_ping(struct semd *, struct semd_error *err);

/*
 * After the daemon went away (a call failed with SEMD_E_DISCONNECTED):
 * connect again -- retrying with backoff for the grace period the daemon
 * announced (5 s if none) plus 5 s, and starting a per-user daemon as
 * semd_open would -- and reclaim (RECLAIM) every grant this connection
 * held, under the same tokens.  Requests that were waiting are not sent
 * again: send them anew (they lose their place in line).  The
 * descriptor changes: take semd_fd() again.  Returns SEMD_OK when every
 * grant is held again; SEMD_ERR with SEMD_E_LOST when the daemon came
 * back but refused some (they are gone, the others are held), or
 * SEMD_E_UNREACHABLE when it did not come back in time (nothing held,
 * the connection stays broken).  With SEMD_OPEN_RECONNECT, the blocking
 * calls do this by themselves.
 */
int		 semd_reconnect(struct semd *, struct semd_error *err);

/*
 * Bound how long semd_reconnect tries to reach a daemon: ms milliseconds
 * (0: one attempt), or -1 for the default (the grace period the daemon
 * announced, 5 s if none, plus 5 s).
 */
void		 semd_set_reconnect_ms(struct semd *, int64_t ms);

/* How many grants the library knows this connection holds. */
size_t		 semd_held_count(const struct semd *);

/* ---- Event-loop API ---- */

/* The connection's file descriptor (non-blocking); watch it for reading. */
int		 semd_fd(const struct semd *);

/*
 * Queue a request without blocking; *id receives its id (replies carry
 * it).  The bytes are written as far as the socket allows; call
 * semd_flush when semd_want_write() is true and the fd is writable.
 */
int		 semd_submit_acquire(struct semd *, uint64_t *id,
		     const char *name, uint32_t capacity, uint32_t weight,
		     int64_t timeout_ms, struct semd_error *err);
int		 semd_submit_release(struct semd *, uint64_t *id,
		     const char *name, uint32_t weight, struct semd_error *err);
/* Acquire several at once (as semd_acquire_many); replies as ACQUIRE. */
int		 semd_submit_acquire_many(struct semd *, uint64_t *id,
		     const struct semd_want *, size_t n, int64_t timeout_ms,
		     struct semd_error *err);
/* Give back the whole grant with this token (reply: RELEASED or ERROR). */
int		 semd_submit_release_token(struct semd *, uint64_t *id,
		     uint64_t token, struct semd_error *err);
/* Withdraw the pending ACQUIRE acquire_id (reply: TIMEOUT or NOT_PENDING). */
int		 semd_submit_withdraw(struct semd *, uint64_t acquire_id,
		     struct semd_error *err);
int		 semd_submit_status(struct semd *, uint64_t *id,
		     const char *name, struct semd_error *err);
int		 semd_submit_stats(struct semd *, uint64_t *id,
		     const char *name, struct semd_error *err);

/* Write queued bytes.  0 when all written or would block; -1 on error. */
int		 semd_flush(struct semd *, struct semd_error *err);

/*
 * Tell the daemon which process does the work for this connection's
 * slots, and its argv, for status to show (a repeated HELLO; its reply
 * comes through semd_process as SEMD_EV_HELLO).  Returns 0, or -1 with
 * err filled.
 */
int		 semd_submit_worker(struct semd *, pid_t pid,
		     char *const argv[], struct semd_error *err);

/*
 * Write argv to buf (len bytes) as one line a POSIX shell splits back
 * into the same words; cut with "..." when it does not fit.  Returns
 * the length written.
 */
size_t		 semd_shell_quote(char *buf, size_t len, char *const argv[]);
/* Is there queued output waiting for the fd to be writable? */
int		 semd_want_write(const struct semd *);

enum semd_event_type {
	SEMD_EV_HELLO = 1,
	SEMD_EV_QUEUED,		/* position */
	SEMD_EV_ACQUIRED,	/* name, weight, token */
	SEMD_EV_TIMEOUT,	/* the ACQUIRE id timed out or was withdrawn */
	SEMD_EV_RELEASED,	/* name, weight (token: if released by it) */
	SEMD_EV_STATUS,		/* status (caller frees with semd_status_free) */
	SEMD_EV_ERROR,		/* error.code, error.message */
	SEMD_EV_REVOKED,	/* name, token: an administrator
				   revoked this connection's grant; give the
				   slots back (id is 0) */
	SEMD_EV_STATS,		/* stats (caller frees with semd_stats_free) */
};

struct semd_event {
	enum semd_event_type	 type;
	uint64_t		 id;
	uint32_t		 position;
	const char		*name;
	uint32_t		 weight;
	struct semd_status	*status;
	struct semd_error	 error;
	uint64_t		 token;		/* ACQUIRED: the grant's (0:
						   an older daemon); REVOKED:
						   the revoked grant's (0:
						   not said) */
	struct semd_stats	*stats;
};

/*
 * Read what the socket has (without blocking) and return the next reply.
 * Returns 1 with *ev filled, 0 when no whole reply is available yet (call
 * again when the fd is readable), or -1 with err filled (daemon gone:
 * SEMD_E_DISCONNECTED; garbage: SEMD_E_PROTOCOL).  Call it repeatedly
 * until it returns 0: several replies may arrive in one read.
 */
int		 semd_process(struct semd *, struct semd_event *ev,
		     struct semd_error *err);

/* ---- Administration (semd(8), "ADMIN") ---- */

enum semd_admin_action {
	SEMD_ADMIN_RESIZE = 1,	/* name, capacity */
	SEMD_ADMIN_DRAIN,	/* name, wait */
	SEMD_ADMIN_UNDRAIN,	/* name */
	SEMD_ADMIN_REVOKE,	/* name, pid */
	SEMD_ADMIN_RELOAD,	/* (nothing) */
	SEMD_ADMIN_LIST,	/* (nothing) */
};

struct semd_admin {
	enum semd_admin_action	 action;
	const char		*name;
	uint32_t		 capacity;	/* resize */
	pid_t			 pid;		/* revoke */
	int			 has_token;	/* revoke by token */
	uint64_t		 token;
	int			 wait;		/* drain: until nothing is held */
};

struct semd_admin_result {
	char			 message[256];	/* what semd did, a sentence */
	uint32_t		 capacity;	/* resize, drain, undrain */
	uint32_t		 held;
	uint32_t		 waiting;
	uint32_t		 revoked;	/* revoke: holders told */
	struct semd_status	*list;		/* list: free with
						   semd_status_free */
};

/*
 * Send an ADMIN request and wait for its answer (a drain with wait
 * answers when nothing is held any more; a signal interrupts the wait
 * with SEMD_E_INTERRUPTED).  Refused: SEMD_E_DENIED.  Returns SEMD_OK
 * with *res filled, or SEMD_ERR with err filled.
 */
int		 semd_admin(struct semd *, const struct semd_admin *,
		     struct semd_admin_result *res, struct semd_error *err);

/* Names for codes and a library version string. */
const char	*semd_strerror(enum semd_errcode);
const char	*semd_version(void);

#ifdef __cplusplus
}
#endif

#endif /* SEMD_CLIENT_H */
