/*
 * etcd.c -- an asynchronous etcd v3 client over the HTTP/JSON gateway,
 * driven by libevent's HTTP client on the daemon's event base.  See etcd.h
 * for the contract.
 *
 * Unary calls share a few keep-alive connections per endpoint (evhttp
 * sends one request at a time per connection, so one would serialize
 * everything).  Each watch has a connection of its own, since its stream
 * never ends.  Connections are only freed outside libevent's callbacks:
 * a cancelled call is merely orphaned (its answer, which comes within the
 * attempt timeout, is dropped), and a freed or restarted watch is torn
 * down by a zero timer.
 */

#include "config.h"

#include <sys/queue.h>
#include <sys/time.h>

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etcd.h"
#include "log.h"

#define ETCD_CONNS	4	/* unary connections per endpoint */
#define ETCD_WATCH_IDLE_SEC	3600	/* read timeout of a live stream */

/* gRPC status codes the gateway returns in "code". */
#define GRPC_CANCELLED		1
#define GRPC_DEADLINE		4
#define GRPC_EXHAUSTED		8
#define GRPC_UNAVAILABLE	14

struct etcd_endpoint {
	char			*url;		/* as given, for logs */
	char			*host;
	int			 port;
	const char		*prefix;	/* "/v3/" or "/v3beta/" */
	struct evhttp_connection *conns[ETCD_CONNS];
	unsigned int		 busy[ETCD_CONNS];
};

struct etcd {
	struct event_base	*base;
	struct etcd_endpoint	 ep[ETCD_MAX_ENDPOINTS];
	int			 nep;
	int			 cur;		/* endpoint to try first */
	int			 down;		/* last attempt failed */
	TAILQ_HEAD(, etcd_req)	 reqs;
	TAILQ_HEAD(, etcd_watch) watches;
};

struct etcd_req {
	struct etcd		*etcd;
	TAILQ_ENTRY(etcd_req)	 entry;		/* on etcd->reqs */
	char			 method[40];
	char			*body;
	size_t			 bodylen;
	uint64_t		 deadline;	/* monotonic ms, 0: none */
	int			 tries;
	int			 ep, conn;	/* of the attempt in flight */
	struct evhttp_request	*evreq;		/* attempt in flight */
	enum evhttp_request_error everr;
	int			 failed;	/* error_cb was called */
	struct event		*timer;		/* backoff or deadline */
	int			 orphan;	/* cancelled while in flight */
	etcd_cb			 cb;
	void			*arg;
};

struct etcd_watch {
	struct etcd		*etcd;
	TAILQ_ENTRY(etcd_watch)	 entry;		/* on etcd->watches */
	char			*body_key;	/* base64 */
	char			*body_end;	/* base64 */
	int64_t			 next_rev;	/* start of the next stream */
	int			 ep;
	struct evhttp_connection *conn;
	struct evhttp_request	*evreq;
	struct evbuffer		*buf;		/* unparsed stream bytes */
	struct event		*timer;		/* restart or teardown */
	int			 tries;
	int			 streaming;	/* got "created" */
	int			 dead;		/* freed or compacted */
	int			 freed;		/* etcd_watch_free was called */
	etcd_watch_cb		 cb;
	void			*arg;
};

static void	etcd_req_send(struct etcd_req *);
static void	etcd_watch_start(struct etcd_watch *);

/* Milliseconds on the monotonic clock. */
static uint64_t
etcd_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* The backoff before try number tries (1-based), with jitter. */
static int
etcd_backoff_ms(int tries)
{
	int	 ms = ETCD_BACKOFF_MIN_MS;

	while (--tries > 0 && ms < ETCD_BACKOFF_MAX_MS)
		ms *= 2;
	if (ms > ETCD_BACKOFF_MAX_MS)
		ms = ETCD_BACKOFF_MAX_MS;
	return (ms / 2 + (int)(random() % (ms / 2 + 1)));
}

static const char etcd_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * Encode len bytes as padded standard base64.  Returns a NUL-terminated
 * string the caller frees, or NULL (ENOMEM).
 */
char *
etcd_b64_encode(const void *data, size_t len)
{
	const unsigned char	*p = data;
	char			*out, *o;
	size_t			 i;
	uint32_t		 v;

	if ((out = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return (NULL);
	o = out;
	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = etcd_b64[v >> 18];
		*o++ = etcd_b64[(v >> 12) & 63];
		*o++ = etcd_b64[(v >> 6) & 63];
		*o++ = etcd_b64[v & 63];
	}
	if (i < len) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		*o++ = etcd_b64[v >> 18];
		*o++ = etcd_b64[(v >> 12) & 63];
		*o++ = i + 1 < len ? etcd_b64[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return (out);
}

/* The value of base64 digit c, or -1. */
static int
etcd_b64_digit(int c)
{
	if (c >= 'A' && c <= 'Z')
		return (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (c - '0' + 52);
	if (c == '+' || c == '-')
		return (62);
	if (c == '/' || c == '_')
		return (63);
	return (-1);
}

/*
 * Decode base64 text (padding optional).  Returns a buffer of *lenp bytes
 * plus a NUL, which the caller frees, or NULL with errno EINVAL (not
 * base64) or ENOMEM.
 */
void *
etcd_b64_decode(const char *text, size_t *lenp)
{
	unsigned char	*out;
	size_t		 n = 0, len = strlen(text);
	uint32_t	 v = 0;
	int		 bits = 0, d;

	while (len > 0 && text[len - 1] == '=')
		len--;
	if ((out = malloc(len * 3 / 4 + 1)) == NULL)
		return (NULL);
	for (size_t i = 0; i < len; i++) {
		if ((d = etcd_b64_digit((unsigned char)text[i])) == -1) {
			free(out);
			errno = EINVAL;
			return (NULL);
		}
		v = v << 6 | (uint32_t)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(v >> bits);
		}
	}
	out[n] = '\0';
	*lenp = n;
	return (out);
}

/* A JSON string holding the base64 of len bytes, or NULL. */
json_t *
etcd_json_b64(const void *data, size_t len)
{
	char	*s;
	json_t	*j;

	if ((s = etcd_b64_encode(data, len)) == NULL)
		return (NULL);
	j = json_string(s);
	free(s);
	return (j);
}

/*
 * The integer member name of obj; the gateway writes int64 as strings.
 * Returns 0 when it is missing or not a number (as proto3 omits zeros).
 */
int64_t
etcd_json_int(json_t *obj, const char *name)
{
	json_t	*v;

	if ((v = json_object_get(obj, name)) == NULL)
		return (0);
	if (json_is_integer(v))
		return (json_integer_value(v));
	if (json_is_string(v))
		return (strtoll(json_string_value(v), NULL, 10));
	return (0);
}

/*
 * The base64 member name of obj, decoded: a NUL-terminated buffer of
 * *lenp bytes the caller frees.  A missing member is empty; NULL only on
 * bad base64 or no memory.
 */
void *
etcd_json_bytes(json_t *obj, const char *name, size_t *lenp)
{
	json_t	*v;

	v = json_object_get(obj, name);
	if (!json_is_string(v))
		return (etcd_b64_decode("", lenp));
	return (etcd_b64_decode(json_string_value(v), lenp));
}

/*
 * Write to end (len bytes) the range end that covers every key starting
 * with prefix (len bytes, not empty): the prefix with its last byte below
 * 0xff incremented and the rest cut.  Like etcd's own clientv3.GetPrefixRangeEnd.
 */
void
etcd_prefix_end(const char *prefix, size_t len, char *end)
{
	memcpy(end, prefix, len);
	while (len > 0) {
		if ((unsigned char)end[len - 1] < 0xff) {
			end[len - 1]++;
			return;
		}
		end[--len] = '\0';
	}
}

/* Parse one endpoint URL into ep; -1 with *cause on error. */
static int
etcd_parse_endpoint(struct etcd_endpoint *ep, const char *url, char **cause)
{
	struct evhttp_uri	*uri;
	char			*full = NULL;
	const char		*scheme, *host;

	if (strstr(url, "://") == NULL) {
		if (asprintf(&full, "http://%s", url) == -1)
			full = NULL;
	} else
		full = strdup(url);
	if (full == NULL) {
		if (asprintf(cause, "out of memory") == -1)
			*cause = NULL;
		return (-1);
	}
	uri = evhttp_uri_parse(full);
	free(full);
	if (uri == NULL ||
	    (scheme = evhttp_uri_get_scheme(uri)) == NULL ||
	    (host = evhttp_uri_get_host(uri)) == NULL || *host == '\0') {
		if (uri != NULL)
			evhttp_uri_free(uri);
		if (asprintf(cause, "bad etcd endpoint '%s' (want "
		    "http://HOST:PORT)", url) == -1)
			*cause = NULL;
		return (-1);
	}
	if (strcmp(scheme, "http") != 0) {
		evhttp_uri_free(uri);
		if (asprintf(cause, "etcd endpoint '%s': only http:// is "
		    "supported (no TLS)", url) == -1)
			*cause = NULL;
		return (-1);
	}
	ep->url = strdup(url);
	ep->host = strdup(host);
	ep->port = evhttp_uri_get_port(uri);
	if (ep->port == -1)
		ep->port = 2379;
	ep->prefix = "/v3/";
	evhttp_uri_free(uri);
	if (ep->url == NULL || ep->host == NULL) {
		if (asprintf(cause, "out of memory") == -1)
			*cause = NULL;
		return (-1);
	}
	return (0);
}

/*
 * Make a client for the comma-separated endpoint URLs (http://HOST:PORT,
 * the scheme optional).  Nothing is connected yet.  Returns NULL with a
 * message in *cause (the caller frees it) on a bad list.
 */
struct etcd *
etcd_new(struct event_base *base, const char *endpoints, char **cause)
{
	struct etcd	*e;
	char		*list, *p, *tok;

	*cause = NULL;
	if ((e = calloc(1, sizeof *e)) == NULL ||
	    (list = strdup(endpoints)) == NULL) {
		free(e);
		if (asprintf(cause, "out of memory") == -1)
			*cause = NULL;
		return (NULL);
	}
	e->base = base;
	TAILQ_INIT(&e->reqs);
	TAILQ_INIT(&e->watches);
	p = list;
	while ((tok = strsep(&p, ", ")) != NULL) {
		if (*tok == '\0')
			continue;
		if (e->nep == ETCD_MAX_ENDPOINTS) {
			if (asprintf(cause, "more than %d etcd endpoints",
			    ETCD_MAX_ENDPOINTS) == -1)
				*cause = NULL;
			goto fail;
		}
		if (etcd_parse_endpoint(&e->ep[e->nep], tok, cause) == -1) {
			e->nep++;
			goto fail;
		}
		e->nep++;
	}
	if (e->nep == 0) {
		if (asprintf(cause, "no etcd endpoint given") == -1)
			*cause = NULL;
		goto fail;
	}
	free(list);
	return (e);
fail:
	free(list);
	etcd_free(e);
	return (NULL);
}

/* Free one unary call's memory (it is off every list). */
static void
etcd_req_destroy(struct etcd_req *r)
{
	if (r->timer != NULL)
		event_free(r->timer);
	free(r->body);
	free(r);
}

/* Free a watch's connection and memory (it is off every list). */
static void
etcd_watch_destroy(struct etcd_watch *w)
{
	if (w->conn != NULL)
		evhttp_connection_free(w->conn);
	if (w->timer != NULL)
		event_free(w->timer);
	if (w->buf != NULL)
		evbuffer_free(w->buf);
	free(w->body_key);
	free(w->body_end);
	free(w);
}

/*
 * Free the client: every connection, every unary call (their callbacks
 * are not called) and every watch (likewise).  Not from an etcd callback.
 */
void
etcd_free(struct etcd *e)
{
	struct etcd_req		*r;
	struct etcd_watch	*w;
	int			 i, j;

	if (e == NULL)
		return;
	while ((w = TAILQ_FIRST(&e->watches)) != NULL) {
		TAILQ_REMOVE(&e->watches, w, entry);
		etcd_watch_destroy(w);
	}
	/* Freeing a connection frees its requests without callbacks. */
	for (i = 0; i < e->nep; i++) {
		for (j = 0; j < ETCD_CONNS; j++)
			if (e->ep[i].conns[j] != NULL)
				evhttp_connection_free(e->ep[i].conns[j]);
		free(e->ep[i].url);
		free(e->ep[i].host);
	}
	while ((r = TAILQ_FIRST(&e->reqs)) != NULL) {
		TAILQ_REMOVE(&e->reqs, r, entry);
		etcd_req_destroy(r);
	}
	free(e);
}

/* The URL of the endpoint tried first (for messages). */
const char *
etcd_endpoint(struct etcd *e)
{
	return (e->ep[e->cur].url);
}

/* Did the last exchange with etcd succeed (1) or fail (0)? */
int
etcd_reachable(struct etcd *e)
{
	return (!e->down);
}

/* Note that endpoint i failed: the next attempt goes to the next one. */
static void
etcd_endpoint_failed(struct etcd *e, int i)
{
	if (e->cur == i)
		e->cur = (i + 1) % e->nep;
	e->down = 1;
}

/* Note that endpoint i answered. */
static void
etcd_endpoint_answered(struct etcd *e, int i)
{
	if (e->down)
		log_warnx("etcd: %s answers again", e->ep[i].url);
	e->down = 0;
	e->cur = i;
}

/* A description of an evhttp failure. */
static const char *
etcd_everr_string(int failed, enum evhttp_request_error err)
{
	if (!failed)
		return ("cannot connect");
	switch (err) {
	case EVREQ_HTTP_TIMEOUT:
		return ("timed out");
	case EVREQ_HTTP_EOF:
		return ("connection closed");
	case EVREQ_HTTP_INVALID_HEADER:
		return ("invalid HTTP header");
	case EVREQ_HTTP_BUFFER_ERROR:
		return ("connection refused or lost");
	case EVREQ_HTTP_REQUEST_CANCEL:
		return ("cancelled");
	case EVREQ_HTTP_DATA_TOO_LONG:
		return ("answer too long");
	}
	return ("failed");
}

/* A connection to endpoint i for a unary call: the least busy one. */
static int
etcd_pick_conn(struct etcd *e, int i)
{
	struct etcd_endpoint	*ep = &e->ep[i];
	int			 j, best = 0;

	for (j = 0; j < ETCD_CONNS; j++) {
		if (ep->conns[j] == NULL || ep->busy[j] == 0) {
			best = j;
			break;
		}
		if (ep->busy[j] < ep->busy[best])
			best = j;
	}
	if (ep->conns[best] == NULL) {
		ep->conns[best] = evhttp_connection_base_new(e->base, NULL,
		    ep->host, (unsigned short)ep->port);
		if (ep->conns[best] == NULL)
			return (-1);
		evhttp_connection_set_timeout(ep->conns[best],
		    ETCD_ATTEMPT_TIMEOUT_MS / 1000);
		evhttp_connection_set_max_body_size(ep->conns[best],
		    ETCD_MAX_REPLY);
	}
	return (best);
}

/* End a unary call: call back (unless cancelled) and free it. */
static void
etcd_req_finish(struct etcd_req *r, enum etcd_status st, json_t *reply)
{
	TAILQ_REMOVE(&r->etcd->reqs, r, entry);
	if (!r->orphan && r->cb != NULL)
		r->cb(st, reply, r->arg);
	etcd_req_destroy(r);
}

/* The backoff or deadline timer of a unary call fired. */
static void
etcd_req_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_req	*r = arg;

	if (r->deadline != 0 && etcd_now_ms() >= r->deadline) {
		if (r->evreq != NULL) {
			/* Its answer, if any, is dropped when it comes. */
			r->orphan = 1;
			if (r->cb != NULL)
				r->cb(ETCD_TIMEOUT, NULL, r->arg);
			r->cb = NULL;
			return;
		}
		log_warnx("etcd: %s: no answer from any endpoint in time",
		    r->method);
		etcd_req_finish(r, ETCD_TIMEOUT, NULL);
		return;
	}
	etcd_req_send(r);
}

/* Schedule the next attempt of r after a failure (or time it out). */
static void
etcd_req_retry(struct etcd_req *r, const char *why)
{
	struct etcd	*e = r->etcd;
	struct timeval	 tv;
	uint64_t	 now = etcd_now_ms();
	int		 ms;

	if (r->orphan) {
		etcd_req_finish(r, ETCD_CANCELLED, NULL);
		return;
	}
	ms = etcd_backoff_ms(r->tries);
	if (r->deadline != 0 && now + (uint64_t)ms >= r->deadline) {
		log_warnx("etcd: %s %s: %s; giving up (timeout)",
		    e->ep[r->ep].url, r->method, why);
		etcd_req_finish(r, ETCD_TIMEOUT, NULL);
		return;
	}
	log_warnx("etcd: %s %s: %s; retrying on %s in %d ms",
	    e->ep[r->ep].url, r->method, why, e->ep[e->cur].url, ms);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(r->timer, &tv);
}

/* evhttp reports why an attempt failed (before calling the done cb). */
static void
etcd_req_error_cb(enum evhttp_request_error err, void *arg)
{
	struct etcd_req	*r = arg;

	r->failed = 1;
	r->everr = err;
}

/* Is this gateway error worth another try? */
static int
etcd_error_transient(int http, json_t *reply)
{
	int64_t	 code = etcd_json_int(reply, "code");

	if (code == GRPC_UNAVAILABLE || code == GRPC_DEADLINE ||
	    code == GRPC_EXHAUSTED || code == GRPC_CANCELLED)
		return (1);
	return (code == 0 && http >= 500);
}

/* An attempt of a unary call ended: success, error or retry. */
static void
etcd_req_done_cb(struct evhttp_request *evreq, void *arg)
{
	struct etcd_req		*r = arg;
	struct etcd		*e = r->etcd;
	struct etcd_endpoint	*ep = &e->ep[r->ep];
	struct evbuffer		*in;
	json_t			*reply;
	json_error_t		 jerr;
	char			 why[256];
	int			 http;
	size_t			 len;

	r->evreq = NULL;
	if (ep->busy[r->conn] > 0)
		ep->busy[r->conn]--;
	evtimer_del(r->timer);
	if (evreq == NULL || (http = evhttp_request_get_response_code(evreq))
	    == 0) {
		etcd_endpoint_failed(e, r->ep);
		etcd_req_retry(r, etcd_everr_string(r->failed, r->everr));
		return;
	}
	if (r->orphan) {
		etcd_req_finish(r, ETCD_CANCELLED, NULL);
		return;
	}
	in = evhttp_request_get_input_buffer(evreq);
	len = evbuffer_get_length(in);
	reply = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0,
	    &jerr);
	if (reply == NULL || !json_is_object(reply)) {
		json_decref(reply);
		if (http == 404 && strcmp(ep->prefix, "/v3/") == 0) {
			/* etcd 3.3 serves the gateway under /v3beta/. */
			log_warnx("etcd: %s has no /v3/ gateway, trying "
			    "/v3beta/", ep->url);
			ep->prefix = "/v3beta/";
			r->tries = 0;
			etcd_req_send(r);
			return;
		}
		snprintf(why, sizeof why, "HTTP %d with %s", http,
		    len == 0 ? "no body" : "a body that is not JSON");
		etcd_endpoint_failed(e, r->ep);
		etcd_req_retry(r, why);
		return;
	}
	if (http != 200) {
		snprintf(why, sizeof why, "HTTP %d: %s", http,
		    json_string_value(json_object_get(reply, "message")) ?
		    json_string_value(json_object_get(reply, "message")) :
		    "no message");
		if (etcd_error_transient(http, reply)) {
			json_decref(reply);
			etcd_endpoint_failed(e, r->ep);
			etcd_req_retry(r, why);
			return;
		}
		log_warnx("etcd: %s %s: %s", ep->url, r->method, why);
		etcd_endpoint_answered(e, r->ep);
		etcd_req_finish(r, ETCD_ERROR, reply);
		json_decref(reply);
		return;
	}
	etcd_endpoint_answered(e, r->ep);
	etcd_req_finish(r, ETCD_OK, reply);
	json_decref(reply);
}

/* Send one attempt of r to the preferred endpoint. */
static void
etcd_req_send(struct etcd_req *r)
{
	struct etcd		*e = r->etcd;
	struct etcd_endpoint	*ep;
	struct evhttp_request	*evreq;
	struct timeval		 tv;
	char			 path[64];
	uint64_t		 now, left;

	r->tries++;
	r->ep = e->cur;
	ep = &e->ep[r->ep];
	r->failed = 0;
	if ((r->conn = etcd_pick_conn(e, r->ep)) == -1 ||
	    (evreq = evhttp_request_new(etcd_req_done_cb, r)) == NULL) {
		log_warn("etcd: %s %s", ep->url, r->method);
		etcd_req_retry(r, "cannot make a request");
		return;
	}
	evhttp_request_set_error_cb(evreq, etcd_req_error_cb);
	evhttp_add_header(evhttp_request_get_output_headers(evreq), "Host",
	    ep->host);
	evhttp_add_header(evhttp_request_get_output_headers(evreq),
	    "Content-Type", "application/json");
	evbuffer_add(evhttp_request_get_output_buffer(evreq), r->body,
	    r->bodylen);
	snprintf(path, sizeof path, "%s%s", ep->prefix, r->method);
	if (evhttp_make_request(ep->conns[r->conn], evreq, EVHTTP_REQ_POST,
	    path) == -1) {
		/* evhttp freed evreq. */
		etcd_endpoint_failed(e, r->ep);
		etcd_req_retry(r, "cannot send the request");
		return;
	}
	r->evreq = evreq;
	ep->busy[r->conn]++;
	/* The deadline may come before evhttp's own attempt timeout. */
	if (r->deadline != 0) {
		now = etcd_now_ms();
		left = r->deadline > now ? r->deadline - now : 0;
		tv.tv_sec = (time_t)(left / 1000);
		tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
		evtimer_add(r->timer, &tv);
	}
}

/*
 * Call method (e.g. "kv/txn") with body (a JSON object; borrowed).  cb is
 * called exactly once, later, from the event loop, unless the call is
 * cancelled first.  timeout_ms bounds the retries (0: retry until
 * cancelled).  Returns the call, valid until its callback returns, or NULL
 * with errno ENOMEM.
 */
struct etcd_req *
etcd_call(struct etcd *e, const char *method, json_t *body, int timeout_ms,
    etcd_cb cb, void *arg)
{
	struct etcd_req	*r;

	if ((r = calloc(1, sizeof *r)) == NULL)
		return (NULL);
	r->etcd = e;
	snprintf(r->method, sizeof r->method, "%s", method);
	r->cb = cb;
	r->arg = arg;
	if ((r->body = json_dumps(body, JSON_COMPACT)) == NULL ||
	    (r->timer = evtimer_new(e->base, etcd_req_timer_cb, r)) == NULL) {
		etcd_req_destroy(r);
		errno = ENOMEM;
		return (NULL);
	}
	r->bodylen = strlen(r->body);
	if (timeout_ms > 0)
		r->deadline = etcd_now_ms() + (uint64_t)timeout_ms;
	TAILQ_INSERT_TAIL(&e->reqs, r, entry);
	etcd_req_send(r);
	return (r);
}

/*
 * Cancel a unary call: its callback will not be called.  An attempt in
 * flight is left to finish (within the attempt timeout) and its answer
 * dropped, since evhttp cannot safely abort it from every callback.
 */
void
etcd_cancel(struct etcd_req *r)
{
	if (r == NULL)
		return;
	r->cb = NULL;
	if (r->evreq != NULL) {
		r->orphan = 1;
		evtimer_del(r->timer);
		return;
	}
	TAILQ_REMOVE(&r->etcd->reqs, r, entry);
	etcd_req_destroy(r);
}

/* Deliver one watch message; returns -1 if the stream must be dropped. */
static int
etcd_watch_message(struct etcd_watch *w, json_t *msg)
{
	struct etcd	*e = w->etcd;
	json_t		*result, *events, *ev;
	int64_t		 rev, maxrev = 0;
	size_t		 i;

	if ((result = json_object_get(msg, "result")) == NULL) {
		log_warnx("etcd: %s watch: %s", e->ep[w->ep].url,
		    json_string_value(json_object_get(json_object_get(msg,
		    "error"), "message")) != NULL ?
		    json_string_value(json_object_get(json_object_get(msg,
		    "error"), "message")) : "a message without a result");
		return (-1);
	}
	if (json_is_true(json_object_get(result, "canceled"))) {
		rev = etcd_json_int(result, "compact_revision");
		if (rev != 0) {
			log_warnx("etcd: watch from revision %" PRId64 " "
			    "compacted (at %" PRId64 "), reading again",
			    w->next_rev, rev);
			w->dead = 1;
			w->cb(w, ETCD_WATCH_COMPACTED, result, w->arg);
			return (-1);
		}
		log_warnx("etcd: %s watch cancelled: %s", e->ep[w->ep].url,
		    json_string_value(json_object_get(result,
		    "cancel_reason")) != NULL ? json_string_value(
		    json_object_get(result, "cancel_reason")) : "no reason");
		return (-1);
	}
	if (json_is_true(json_object_get(result, "created"))) {
		/*
		 * An idle stream is normal: no read timeout from now on (etcd
		 * sends progress notifications every 10 minutes by default;
		 * a silent partition is noticed by the lease keepalive, whose
		 * caller restarts the watch).
		 */
		evhttp_connection_set_timeout(w->conn, ETCD_WATCH_IDLE_SEC);
		w->streaming = 1;
		w->tries = 0;
		etcd_endpoint_answered(e, w->ep);
		w->cb(w, ETCD_WATCH_CREATED, result, w->arg);
		return (0);
	}
	events = json_object_get(result, "events");
	json_array_foreach(events, i, ev) {
		rev = etcd_json_int(json_object_get(ev, "kv"), "mod_revision");
		if (rev > maxrev)
			maxrev = rev;
	}
	if (maxrev != 0)
		w->next_rev = maxrev + 1;
	else if (json_array_size(events) == 0) {
		/* A progress notification: all up to header.revision sent. */
		rev = etcd_json_int(json_object_get(result, "header"),
		    "revision");
		if (rev + 1 > w->next_rev)
			w->next_rev = rev + 1;
	}
	w->cb(w, ETCD_WATCH_EVENTS, result, w->arg);
	return (0);
}

/* Arm w's timer to (re)start the stream after ms milliseconds. */
static void
etcd_watch_schedule(struct etcd_watch *w, int ms)
{
	struct timeval	 tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(w->timer, &tv);
}

/* The stream of w broke: report it and resume after a backoff. */
static void
etcd_watch_broken(struct etcd_watch *w, const char *why)
{
	struct etcd	*e = w->etcd;
	int		 ms;

	w->evreq = NULL;
	w->streaming = 0;
	if (w->dead)
		return;
	etcd_endpoint_failed(e, w->ep);
	w->tries++;
	ms = etcd_backoff_ms(w->tries);
	log_warnx("etcd: %s watch: %s; resuming from revision %" PRId64
	    " on %s in %d ms", e->ep[w->ep].url, why, w->next_rev,
	    e->ep[e->cur].url, ms);
	w->cb(w, ETCD_WATCH_BROKEN, NULL, w->arg);
	if (!w->dead)
		etcd_watch_schedule(w, ms);
}

/* Bytes of the watch stream arrived: deliver each complete line. */
static void
etcd_watch_chunk_cb(struct evhttp_request *evreq, void *arg)
{
	struct etcd_watch	*w = arg;
	json_t			*msg;
	json_error_t		 jerr;
	char			*line;
	size_t			 len;

	evbuffer_add_buffer(w->buf, evhttp_request_get_input_buffer(evreq));
	if (w->dead || evreq != w->evreq)
		return;
	while ((line = evbuffer_readln(w->buf, &len, EVBUFFER_EOL_LF)) !=
	    NULL) {
		msg = json_loadb(line, len, 0, &jerr);
		free(line);
		if (msg == NULL) {
			if (len == 0)
				continue;
			log_warnx("etcd: %s watch: bad JSON (%s)",
			    w->etcd->ep[w->ep].url, jerr.text);
			evbuffer_drain(w->buf, evbuffer_get_length(w->buf));
			etcd_watch_restart(w);
			return;
		}
		if (etcd_watch_message(w, msg) == -1) {
			json_decref(msg);
			evbuffer_drain(w->buf, evbuffer_get_length(w->buf));
			if (!w->dead)
				etcd_watch_restart(w);
			return;
		}
		json_decref(msg);
		if (w->dead)
			return;
	}
	if (evbuffer_get_length(w->buf) > ETCD_MAX_REPLY) {
		log_warnx("etcd: %s watch: a message over %d bytes",
		    w->etcd->ep[w->ep].url, ETCD_MAX_REPLY);
		evbuffer_drain(w->buf, evbuffer_get_length(w->buf));
		etcd_watch_restart(w);
	}
}

/* evhttp reports why the stream failed. */
static void
etcd_watch_error_cb(enum evhttp_request_error err, void *arg)
{
	struct etcd_watch	*w = arg;

	if (!w->dead && w->evreq != NULL)
		etcd_watch_broken(w, etcd_everr_string(1, err));
}

/* The stream ended (etcd closed it, or it failed). */
static void
etcd_watch_done_cb(struct evhttp_request *evreq, void *arg)
{
	struct etcd_watch	*w = arg;
	char			 why[64];
	int			 http;

	if (w->dead || w->evreq == NULL)
		return;		/* already handled by the error callback */
	http = evreq != NULL ? evhttp_request_get_response_code(evreq) : 0;
	if (http == 404 && strcmp(w->etcd->ep[w->ep].prefix, "/v3/") == 0)
		w->etcd->ep[w->ep].prefix = "/v3beta/";
	if (http != 0 && http != 200)
		snprintf(why, sizeof why, "HTTP %d", http);
	else
		snprintf(why, sizeof why, "stream ended");
	etcd_watch_broken(w, why);
}

/* The timer of a watch: tear it down, or (re)start its stream. */
static void
etcd_watch_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_watch	*w = arg;

	if (w->freed) {
		TAILQ_REMOVE(&w->etcd->watches, w, entry);
		etcd_watch_destroy(w);
		return;
	}
	etcd_watch_start(w);
}

/* Open a new stream for w on the preferred endpoint. */
static void
etcd_watch_start(struct etcd_watch *w)
{
	struct etcd		*e = w->etcd;
	struct etcd_endpoint	*ep;
	struct evhttp_request	*evreq;
	char			*body, path[64];
	json_t			*req;

	if (w->conn != NULL) {
		/* Frees a request still on it, without callbacks. */
		evhttp_connection_free(w->conn);
		w->conn = NULL;
	}
	w->evreq = NULL;
	w->streaming = 0;
	evbuffer_drain(w->buf, evbuffer_get_length(w->buf));
	w->ep = e->cur;
	ep = &e->ep[w->ep];
	req = json_pack("{s:{s:s,s:s,s:I,s:b}}", "create_request",
	    "key", w->body_key, "range_end", w->body_end,
	    "start_revision", (json_int_t)w->next_rev, "progress_notify", 1);
	body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (body == NULL ||
	    (w->conn = evhttp_connection_base_new(e->base, NULL, ep->host,
	    (unsigned short)ep->port)) == NULL ||
	    (evreq = evhttp_request_new(etcd_watch_done_cb, w)) == NULL) {
		free(body);
		log_warnx("etcd: cannot start a watch (out of memory)");
		etcd_watch_schedule(w, ETCD_BACKOFF_MAX_MS);
		return;
	}
	/* Connect within the attempt timeout; the stream is idle later. */
	evhttp_connection_set_timeout(w->conn, ETCD_ATTEMPT_TIMEOUT_MS / 1000);
	evhttp_request_set_chunked_cb(evreq, etcd_watch_chunk_cb);
	evhttp_request_set_error_cb(evreq, etcd_watch_error_cb);
	evhttp_add_header(evhttp_request_get_output_headers(evreq), "Host",
	    ep->host);
	evhttp_add_header(evhttp_request_get_output_headers(evreq),
	    "Content-Type", "application/json");
	evbuffer_add(evhttp_request_get_output_buffer(evreq), body,
	    strlen(body));
	free(body);
	snprintf(path, sizeof path, "%swatch", ep->prefix);
	if (evhttp_make_request(w->conn, evreq, EVHTTP_REQ_POST, path) == -1) {
		etcd_watch_broken(w, "cannot send the request");
		return;
	}
	w->evreq = evreq;
}

/*
 * Watch the keys in [key, range_end) (range_end empty: key alone) from
 * start_revision (0: from now).  cb gets every message (see etcd.h).
 * Returns the watch or NULL (ENOMEM).  The stream starts at once.
 */
struct etcd_watch *
etcd_watch_new(struct etcd *e, const char *key, size_t keylen,
    const char *range_end, size_t endlen, int64_t start_revision,
    etcd_watch_cb cb, void *arg)
{
	struct etcd_watch	*w;

	if ((w = calloc(1, sizeof *w)) == NULL)
		return (NULL);
	w->etcd = e;
	w->cb = cb;
	w->arg = arg;
	w->next_rev = start_revision;
	if ((w->body_key = etcd_b64_encode(key, keylen)) == NULL ||
	    (w->body_end = etcd_b64_encode(range_end, endlen)) == NULL ||
	    (w->buf = evbuffer_new()) == NULL ||
	    (w->timer = evtimer_new(e->base, etcd_watch_timer_cb, w)) ==
	    NULL) {
		etcd_watch_destroy(w);
		errno = ENOMEM;
		return (NULL);
	}
	TAILQ_INSERT_TAIL(&e->watches, w, entry);
	etcd_watch_start(w);
	return (w);
}

/*
 * Stop and free a watch; its callback is not called again.  Safe from the
 * watch's own callback: the connection is freed from a timer.
 */
void
etcd_watch_free(struct etcd_watch *w)
{
	if (w == NULL)
		return;
	w->dead = 1;
	w->freed = 1;
	w->cb = NULL;
	etcd_watch_schedule(w, 0);
}

/*
 * Drop the watch's stream and open a new one from the revision after the
 * last delivered (e.g. when etcd seems unreachable and the stream may be
 * stuck on a dead peer).  Reports ETCD_WATCH_BROKEN first, unless the
 * stream was down already.  Safe from the watch's callback.
 */
void
etcd_watch_restart(struct etcd_watch *w)
{
	if (w->dead)
		return;
	if (w->evreq != NULL) {
		w->evreq = NULL;
		w->streaming = 0;
		w->cb(w, ETCD_WATCH_BROKEN, NULL, w->arg);
		if (w->dead)
			return;
	}
	etcd_watch_schedule(w, 0);
}

/* The revision the watch resumes from after a broken stream. */
int64_t
etcd_watch_revision(struct etcd_watch *w)
{
	return (w->next_rev);
}
