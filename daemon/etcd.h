/*
 * etcd.h -- an asynchronous etcd v3 client for semd's event loop.
 *
 * It speaks etcd's HTTP/JSON gateway (POST /v3/<service>/<method> with a
 * JSON body, keys and values base64) through libevent's own HTTP client,
 * on the caller's event base: no thread, no blocking call.  JSON is
 * libjansson's json_t.
 *
 * Unary calls (kv/range, kv/put, kv/txn, kv/deleterange, lease/grant,
 * lease/keepalive, lease/revoke, ...) are retried with exponential backoff
 * across the endpoints until the caller's deadline when the failure says
 * nothing about the request's outcome (connection refused or lost, timeout,
 * HTTP 5xx, gRPC code UNAVAILABLE such as "no leader").  A retried write
 * may thus be applied twice: callers make their writes idempotent (a Txn
 * that creates a unique key only if it does not exist yet).  An error etcd
 * gives for the request itself (bad argument, lease not found) is final.
 *
 * Watches are long-lived streams: one HTTP connection each, resumed after
 * a broken stream from the revision after the last one delivered, so no
 * event is missed or delivered twice; only a compaction past that revision
 * ends the watch (the caller reads the state again and starts a new one).
 *
 * Every failure is one log line naming the endpoint, the method and what
 * happened.
 */

#ifndef SEMD_ETCD_H
#define SEMD_ETCD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct event_base;
struct etcd;
struct etcd_req;
struct etcd_watch;

#define ETCD_MAX_ENDPOINTS	16
#define ETCD_ATTEMPT_TIMEOUT_MS	5000	/* one HTTP exchange */
#define ETCD_BACKOFF_MIN_MS	50
#define ETCD_BACKOFF_MAX_MS	2000
#define ETCD_MAX_REPLY		(64 * 1024 * 1024)	/* body bytes */

/* How a unary call ended. */
enum etcd_status {
	ETCD_OK,		/* reply is etcd's answer */
	ETCD_ERROR,		/* etcd refused the request; reply has it */
	ETCD_TIMEOUT,		/* no answer from any endpoint by deadline */
	ETCD_CANCELLED,		/* never passed to a callback */
};

/*
 * Called once when a unary call ends.  reply is borrowed (valid during the
 * call only): etcd's JSON answer on ETCD_OK, its error object
 * ({"error","message","code"}) on ETCD_ERROR, NULL on ETCD_TIMEOUT.  The
 * request is freed after the callback returns.
 */
typedef void	(*etcd_cb)(enum etcd_status, json_t *reply, void *arg);

/* What a watch reports. */
enum etcd_watch_kind {
	ETCD_WATCH_CREATED,	/* stream (re)established; msg = result */
	ETCD_WATCH_EVENTS,	/* msg = result with "events" (maybe none) */
	ETCD_WATCH_BROKEN,	/* stream lost, resuming; msg = NULL */
	ETCD_WATCH_COMPACTED,	/* history gone: watch ended; msg = result */
};

/*
 * Called for every watch message.  msg is borrowed.  After
 * ETCD_WATCH_COMPACTED the watch is dead: the callback must not use it
 * again except to pass it to etcd_watch_free().  The callback may call
 * etcd_watch_free() on its own watch.
 */
typedef void	(*etcd_watch_cb)(struct etcd_watch *, enum etcd_watch_kind,
		    json_t *msg, void *arg);

struct etcd	*etcd_new(struct event_base *, const char *endpoints,
		    char **cause);
void		 etcd_free(struct etcd *);
const char	*etcd_endpoint(struct etcd *);
int		 etcd_reachable(struct etcd *);

struct etcd_req	*etcd_call(struct etcd *, const char *method, json_t *body,
		    int timeout_ms, etcd_cb, void *arg);
void		 etcd_cancel(struct etcd_req *);

struct etcd_watch *etcd_watch_new(struct etcd *, const char *key,
		    size_t keylen, const char *range_end, size_t endlen,
		    int64_t start_revision, etcd_watch_cb, void *arg);
void		 etcd_watch_free(struct etcd_watch *);
void		 etcd_watch_restart(struct etcd_watch *);
int64_t		 etcd_watch_revision(struct etcd_watch *);

char		*etcd_b64_encode(const void *, size_t);
void		*etcd_b64_decode(const char *, size_t *);
json_t		*etcd_json_b64(const void *, size_t);
int64_t		 etcd_json_int(json_t *, const char *);
void		*etcd_json_bytes(json_t *, const char *, size_t *);
void		 etcd_prefix_end(const char *, size_t, char *);

#endif /* SEMD_ETCD_H */
