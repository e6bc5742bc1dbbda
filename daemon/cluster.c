/*
 * cluster.c -- cluster semaphores on etcd v3.  See cluster.h for the keys
 * and DESIGN.md "Beyond one machine" for the promises.
 *
 * State.  For every pool a local client has used, this semd keeps the
 * pool's keys as etcd has them (a range, then one watch on PREFIX/POOL/
 * resumed after broken streams), in create-revision order, and the
 * pool's capacity.  Admission is computed from that state alone: walk the
 * keys in revision order summing weights; a local request whose key is
 * reached with the sum (its own weight included) within the capacity is
 * granted.  No etcd call per waiter per change.
 *
 * Why that is safe across hosts: a request's key is in the local state
 * only once the watch (or range) has passed its create revision r, and
 * after r no key with a revision <= r can appear, only disappear.  So the
 * sum a host saw when it granted r bounds, from then on, every live key
 * up to r; every grant still live when r was granted had a lower
 * revision; hence the weight granted and live never exceeds the
 * capacity in etcd's history, whichever host decided what.  It is strict
 * FIFO by revision, earlier waiters reserve their weight, and a request
 * of several pools (one Txn, one revision) cannot deadlock: the lowest
 * revision waiting is always first in all its pools.
 *
 * Local requests.  struct creq is one ACQUIRE of a cluster pool: LEASE
 * (waiting for this semd's lease), TXN (its create Txn in flight), WAIT
 * (its key exists, not granted), HELD.  Its end (release, withdrawal,
 * timeout, its connection gone) deletes its key at once (a delete Txn
 * retried until it is done); the key keeps counting for others until the
 * watch shows the delete.
 *
 * The lease.  One per semd, TTL --cluster-lease-ttl, kept alive every
 * TTL/3.  If etcd says it is gone, or no keepalive succeeded for a whole
 * TTL, the lease is lost: holders lose their grant (logged; they are told
 * once the REVOKED event exists), waiters are queued again under a new
 * lease (a new revision, so they lose their place).
 *
 * Costs: a watch event costs O(keys in its pool); a local request's end
 * and lookups by connection are O(local cluster requests).
 */

#include "config.h"

#include <sys/queue.h>
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cluster.h"
#include "daemon.h"
#include "etcd.h"
#include "log.h"

enum creq_state {
	CREQ_LEASE,		/* waiting for the lease */
	CREQ_TXN,		/* create Txn in flight */
	CREQ_WAIT,		/* key created, not granted */
	CREQ_HELD,		/* granted */
};

/* What a create Txn compares the capacity key with. */
enum creq_mode {
	CREQ_SAME_CAP,		/* it holds our capacity */
	CREQ_CREATE_CAP,	/* it does not exist */
	CREQ_REPLACE_CAP,	/* it was not put since cap_mod */
};

struct cpool;

/* One key of a pool, as etcd has it. */
struct ckey {
	char			*key;		/* full etcd key */
	size_t			 keylen;
	int64_t			 rev;		/* create revision */
	uint32_t		 weight;
	uint32_t		 pid, uid;
	uint64_t		 t;		/* unix ms of creation */
	char			 host[CLUSTER_MAX_HOST + 1];
	char			 cmd[CLUSTER_MAX_CMD + 1];
	struct creq		*mine;		/* local request, or NULL */
	size_t			 mine_part;	/* its part for this pool */
	int			 fits;		/* last evaluation */
	TAILQ_ENTRY(ckey)	 entry;		/* on pool->keys, rev order */
};
TAILQ_HEAD(ckey_list, ckey);

/* One pool this semd has used. */
struct cpool {
	char			 name[PROTO_MAX_NAME + 1];
	size_t			 name_len;
	char			*dir;		/* PREFIX/POOL/ */
	char			*capkey;	/* PREFIX/POOL/capacity */
	uint32_t		 capacity;	/* 0: none in etcd */
	int64_t			 cap_mod;	/* mod revision of capkey */
	struct ckey_list	 keys;
	size_t			 nkeys;
	int			 synced;	/* range done, watch on */
	struct etcd_req		*range;
	struct etcd_watch	*watch;
	TAILQ_ENTRY(cpool)	 entry;
};

/* One pool of a local request: its key there. */
struct cpart {
	struct cpool		*pool;
	uint32_t		 weight;
	int			 has_capacity;
	uint32_t		 capacity;
	int			 joined;	/* came without capacity */
	enum creq_mode		 mode;		/* what the Txn compares */
	int64_t			 cap_mod;	/* CREQ_REPLACE_CAP */
	char			*key;		/* PREFIX/POOL/q/HOST-LEASE-SEQ */
	struct ckey		*ck;		/* its key in pool state */
	int			 fits;		/* within capacity there */
	uint32_t		 ahead;		/* keys beyond capacity before */
};

/*
 * One local ACQUIRE of one or several cluster pools: one key in each,
 * created in one Txn (so all have the same create revision, the token).
 */
struct creq {
	struct conn		*conn;
	uint64_t		 id;
	enum creq_state		 state;
	struct cpart		 parts[PROTO_MAX_SEMS];
	size_t			 nparts;
	int			 tries;		/* create Txn attempts */
	int			 is_try;	/* timeout 0 */
	uint64_t		 t;		/* unix ms of the ACQUIRE */
	int			 queued_sent;
	uint32_t		 pid, uid;
	char			 cmd[CLUSTER_MAX_CMD + 1];
	int64_t			 lease;		/* the keys' lease */
	int64_t			 rev;		/* create revision: the token */
	struct etcd_req		*txn;
	struct event		*timer;		/* deadline */
	uint64_t		 since;		/* server_now_ms at ACQUIRE */
	TAILQ_ENTRY(creq)	 entry;		/* on cluster_reqs */
};
TAILQ_HEAD(creq_list, creq);

struct cluster_name {
	char			 name[PROTO_MAX_NAME + 1];
	size_t			 len;
	uint32_t		 capacity;	/* declared, 0: none */
};

static struct etcd		*cl_etcd;
static TAILQ_HEAD(, cpool)	 cl_pools = TAILQ_HEAD_INITIALIZER(cl_pools);
static struct creq_list		 cl_reqs = TAILQ_HEAD_INITIALIZER(cl_reqs);
static int64_t			 cl_lease;	/* 0: none */
static struct etcd_req		*cl_lease_req;	/* grant in flight */
static struct event		*cl_keepalive_ev;
static uint64_t			 cl_lease_ok;	/* server_now_ms of last ok */
static uint64_t			 cl_seq;
static int			 cl_down_warned;

#define CLUSTER_TRY_MS	5000	/* bound on a try's etcd round trip */
#define CLUSTER_EXIT_MS	2000	/* bound on the lease revoke at exit */

/* Set from the command line by main.c (cluster_configure). */
static char			*cl_endpoints;
static char			 cl_prefix[256] = CLUSTER_DEF_PREFIX;
static unsigned int		 cl_ttl = CLUSTER_DEF_TTL;
static char			 cl_host[CLUSTER_MAX_HOST + 1];
static struct cluster_name	*cl_names;
static size_t			 cl_nnames;
static char			 cl_name_prefix[PROTO_MAX_NAME + 1];

static void	cluster_lease_grant(void);
static void	cluster_send_deferred(struct cpool *);
static void	cluster_req_send(struct creq *);
static void	cluster_pool_sync(struct cpool *);
static void	cluster_pool_eval(struct cpool *);
static void	cluster_send_revoked(struct creq *);
static int	cluster_req_uses(struct creq *, struct cpool *);
static void	cluster_req_fail(struct creq *, enum proto_err, const char *,
		    ...) __attribute__((__format__(__printf__, 3, 4)));

/*
 * Record the cluster settings (main.c, before cluster_init).  endpoints
 * NULL leaves cluster mode off.  Returns 0, or -1 with *cause.
 */
int
cluster_configure(const char *endpoints, const char *prefix,
    unsigned int ttl, const char *host, char **cause)
{
	size_t	 len;

	*cause = NULL;
	if (endpoints != NULL && (cl_endpoints = strdup(endpoints)) == NULL)
		goto nomem;
	if (prefix != NULL) {
		len = strlen(prefix);
		while (len > 1 && prefix[len - 1] == '/')
			len--;
		if (len == 0 || len >= sizeof cl_prefix) {
			if (asprintf(cause, "--cluster-prefix must be 1 to %zu "
			    "bytes", sizeof cl_prefix - 1) == -1)
				*cause = NULL;
			return (-1);
		}
		memcpy(cl_prefix, prefix, len);
		cl_prefix[len] = '\0';
	}
	if (ttl != 0) {
		if (ttl < 2 || ttl > 3600) {
			if (asprintf(cause, "--cluster-lease-ttl must be 2 to "
			    "3600 seconds") == -1)
				*cause = NULL;
			return (-1);
		}
		cl_ttl = ttl;
	}
	if (host != NULL) {
		if (*host == '\0' || strlen(host) > CLUSTER_MAX_HOST ||
		    strchr(host, '/') != NULL) {
			if (asprintf(cause, "--cluster-host-id must be 1 to %d "
			    "bytes without '/'", CLUSTER_MAX_HOST) == -1)
				*cause = NULL;
			return (-1);
		}
		snprintf(cl_host, sizeof cl_host, "%s", host);
	}
	return (0);
nomem:
	if (asprintf(cause, "out of memory") == -1)
		*cause = NULL;
	return (-1);
}

/*
 * Declare name cluster-scoped (--cluster-sem, [sem NAME] scope =
 * cluster, whose capacity is then the one a request without capacity
 * uses), or, with is_prefix, every name that starts with it
 * (--cluster-names, [cluster] names).  Returns 0, or -1 with *cause.
 */
int
cluster_declare(const char *name, int is_prefix, uint32_t capacity,
    char **cause)
{
	struct cluster_name	*n;
	size_t			 len = strlen(name);

	*cause = NULL;
	if (!proto_name_valid(name, len)) {
		if (asprintf(cause, "'%s' is not a valid semaphore name",
		    name) == -1)
			*cause = NULL;
		return (-1);
	}
	if (is_prefix) {
		snprintf(cl_name_prefix, sizeof cl_name_prefix, "%s", name);
		return (0);
	}
	n = reallocarray(cl_names, cl_nnames + 1, sizeof *cl_names);
	if (n == NULL) {
		if (asprintf(cause, "out of memory") == -1)
			*cause = NULL;
		return (-1);
	}
	cl_names = n;
	memcpy(cl_names[cl_nnames].name, name, len + 1);
	cl_names[cl_nnames].len = len;
	cl_names[cl_nnames].capacity = capacity;
	cl_nnames++;
	return (0);
}

/* Is cluster mode on? */
int
cluster_enabled(void)
{
	return (cl_etcd != NULL);
}

/* The capacity declared for name in the file, or 0. */
static uint32_t
cluster_declared_capacity(const char *name, size_t len)
{
	size_t	 i;

	for (i = 0; i < cl_nnames; i++)
		if (cl_names[i].len == len &&
		    memcmp(cl_names[i].name, name, len) == 0)
			return (cl_names[i].capacity);
	return (0);
}

/* Is name served by the cluster?  O(declared names). */
int
cluster_scoped(const char *name, size_t len)
{
	size_t	 i, plen;

	if (cl_etcd == NULL)
		return (0);
	plen = strlen(cl_name_prefix);
	if (plen != 0 && len >= plen && memcmp(name, cl_name_prefix, plen) == 0)
		return (1);
	for (i = 0; i < cl_nnames; i++)
		if (cl_names[i].len == len &&
		    memcmp(cl_names[i].name, name, len) == 0)
			return (1);
	return (0);
}

/* Read the machine id as the default host id. */
static int
cluster_machine_id(char *buf, size_t len)
{
	FILE	*f;

	if ((f = fopen("/etc/machine-id", "r")) == NULL)
		return (-1);
	if (fgets(buf, (int)len, f) == NULL) {
		fclose(f);
		return (-1);
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return (buf[0] == '\0' ? -1 : 0);
}

/*
 * Connect the cluster: the etcd client, the lease.  Nothing if no
 * endpoints were configured.  Returns 0, or -1 with *cause.
 */
int
cluster_init(char **cause)
{
	*cause = NULL;
	if (cl_endpoints == NULL)
		return (0);
	if (cl_host[0] == '\0' &&
	    cluster_machine_id(cl_host, sizeof cl_host) == -1) {
		if (asprintf(cause, "cannot read /etc/machine-id for the "
		    "cluster host id; give --cluster-host-id") == -1)
			*cause = NULL;
		return (-1);
	}
	if ((cl_etcd = etcd_new(server_base, cl_endpoints, cause)) == NULL)
		return (-1);
	srandom((unsigned int)getpid() ^ (unsigned int)time(NULL));
	log_info("cluster: host %s, etcd %s, prefix %s, lease TTL %u s",
	    cl_host, cl_endpoints, cl_prefix, cl_ttl);
	cluster_lease_grant();
	return (0);
}

/* Free one key. */
static void
cluster_key_free(struct ckey *k)
{
	free(k->key);
	free(k);
}

/* Free a request's memory (it is off every list). */
static void
cluster_req_free(struct creq *r)
{
	if (r->txn != NULL)
		etcd_cancel(r->txn);
	if (r->timer != NULL)
		event_free(r->timer);
	for (size_t i = 0; i < r->nparts; i++)
		free(r->parts[i].key);
	free(r);
}

/* Forget r's keys in the pools' state (they stay until deleted). */
static void
cluster_req_unlink(struct creq *r)
{
	for (size_t i = 0; i < r->nparts; i++) {
		if (r->parts[i].ck != NULL)
			r->parts[i].ck->mine = NULL;
		r->parts[i].ck = NULL;
		r->parts[i].fits = 0;
	}
}

/* Delete r's keys (one Txn, retried until done; answer ignored). */
static void
cluster_delete_keys(struct creq *r)
{
	json_t	*txn, *ops;
	size_t	 i;

	txn = json_pack("{s:[]}", "success");
	ops = json_object_get(txn, "success");
	for (i = 0; ops != NULL && i < r->nparts; i++)
		if (r->parts[i].key != NULL)
			json_array_append_new(ops, json_pack("{s:{s:o}}",
			    "request_delete_range", "key", etcd_json_b64(
			    r->parts[i].key, strlen(r->parts[i].key))));
	if (txn == NULL || etcd_call(cl_etcd, "kv/txn", txn, 0, NULL,
	    NULL) == NULL)
		log_warnx("cluster: cannot delete the keys of %s (out of "
		    "memory); they go when the lease expires",
		    r->parts[0].key);
	json_decref(txn);
}

/*
 * End request r: unlink it, delete its key if it may exist, free it.  Its
 * key stays in the pool state until the watch shows the delete.
 */
static void
cluster_req_end(struct creq *r)
{
	TAILQ_REMOVE(&cl_reqs, r, entry);
	cluster_req_unlink(r);
	/* A Txn in flight or timed out may have created the keys. */
	if (r->state != CREQ_LEASE && r->parts[0].key != NULL &&
	    cl_etcd != NULL && r->lease == cl_lease && cl_lease != 0)
		cluster_delete_keys(r);
	cluster_req_free(r);
}

/* The command line of pid, spaces for NULs, for STATUS. */
static void
cluster_cmdline(pid_t pid, char *buf, size_t len)
{
	char	 path[64];
	ssize_t	 n;
	int	 fd;

	buf[0] = '\0';
	snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
	if (pid <= 0 || (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0) {
		buf[0] = '\0';
		return;
	}
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0' || !isprint((unsigned char)buf[i]))
			buf[i] = buf[i] == '\0' ? ' ' : '?';
}

/* ---- the lease ---- */

/* The lease is lost: holders lose their grants, waiters queue again. */
static void
cluster_lease_lost(const char *why)
{
	struct creq	*r, *next;
	int64_t		 old = cl_lease;
	char		 ids[32];
	json_t		*body;

	log_warnx("cluster: lease %" PRIx64 " lost (%s): cluster holders "
	    "lose their slots, waiters queue again", (uint64_t)old, why);
	cl_lease = 0;
	if (cl_keepalive_ev != NULL)
		evtimer_del(cl_keepalive_ev);
	/* If etcd still has it, revoke it so its keys go at once. */
	if (old != 0) {
		snprintf(ids, sizeof ids, "%" PRId64, old);
		body = json_pack("{s:s}", "ID", ids);
		if (body != NULL)
			etcd_call(cl_etcd, "lease/revoke", body, 0, NULL, NULL);
		json_decref(body);
	}
	for (r = TAILQ_FIRST(&cl_reqs); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		cluster_req_unlink(r);
		if (r->txn != NULL) {
			etcd_cancel(r->txn);
			r->txn = NULL;
		}
		if (r->state == CREQ_HELD) {
			log_warnx("cluster: %s: grant %" PRId64 " on %s "
			    "revoked (lease lost)", conn_cluster_name(r->conn),
			    r->rev, r->parts[0].pool->name);
			cluster_send_revoked(r);
			/* It keeps nothing; a RELEASE of it gets NOT_HELD. */
			TAILQ_REMOVE(&cl_reqs, r, entry);
			cluster_req_free(r);
			continue;
		}
		r->state = CREQ_LEASE;
		r->rev = 0;
	}
	cluster_lease_grant();
}

/* A keepalive answered. */
static void
cluster_keepalive_cb(enum etcd_status st, json_t *reply, void *arg)
{
	int64_t		 id = (int64_t)(intptr_t)arg, ttl;
	struct timeval	 tv;
	struct cpool	*p;

	if (id != cl_lease)
		return;		/* an older lease's */
	tv.tv_sec = cl_ttl / 3 > 0 ? cl_ttl / 3 : 1;
	tv.tv_usec = 0;
	if (st == ETCD_OK) {
		ttl = etcd_json_int(json_object_get(reply, "result"), "TTL");
		if (ttl <= 0) {
			cluster_lease_lost("etcd says it expired");
			return;
		}
		cl_lease_ok = server_now_ms();
		if (cl_down_warned) {
			log_warnx("cluster: etcd reachable again");
			cl_down_warned = 0;
		}
	} else if (server_now_ms() - cl_lease_ok >= (uint64_t)cl_ttl * 1000) {
		cluster_lease_lost("no keepalive for a whole TTL");
		return;
	} else {
		/*
		 * A watch stream on a silently dead peer would never end:
		 * open them again (from the next revision, nothing lost).
		 */
		TAILQ_FOREACH(p, &cl_pools, entry)
			if (p->watch != NULL)
				etcd_watch_restart(p->watch);
	}
	if (st != ETCD_OK && !cl_down_warned) {
		log_warnx("cluster: etcd unreachable (%s): cluster acquires "
		    "wait within their timeouts, local semaphores are "
		    "unaffected", etcd_endpoint(cl_etcd));
		cl_down_warned = 1;
	}
	evtimer_add(cl_keepalive_ev, &tv);
}

/* Time to keep the lease alive. */
static void
cluster_keepalive_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	char	 ids[32];
	json_t	*body;
	int	 timeout;

	if (cl_lease == 0)
		return;
	snprintf(ids, sizeof ids, "%" PRId64, cl_lease);
	body = json_pack("{s:s}", "ID", ids);
	/* Give up on this one in time for the next. */
	timeout = (int)(cl_ttl * 1000 / 3);
	if (body == NULL || etcd_call(cl_etcd, "lease/keepalive", body,
	    timeout, cluster_keepalive_cb, (void *)(intptr_t)cl_lease) ==
	    NULL) {
		struct timeval	 tv = { 1, 0 };

		evtimer_add(cl_keepalive_ev, &tv);
	}
	json_decref(body);
}

/* The lease was granted: send the requests that waited for it. */
static void
cluster_lease_cb(enum etcd_status st, json_t *reply, void *arg)
{
	struct timeval	 tv;

	cl_lease_req = NULL;
	if (st != ETCD_OK || (cl_lease = etcd_json_int(reply, "ID")) == 0) {
		log_warnx("cluster: cannot get a lease from etcd (%s); "
		    "trying again", st == ETCD_ERROR ?
		    json_string_value(json_object_get(reply, "message")) :
		    "no answer");
		cl_lease = 0;
		cluster_lease_grant();
		return;
	}
	cl_lease_ok = server_now_ms();
	log_info("cluster: lease %" PRIx64 " granted, TTL %" PRId64 " s",
	    (uint64_t)cl_lease, etcd_json_int(reply, "TTL"));
	if (cl_down_warned) {
		log_warnx("cluster: etcd reachable again");
		cl_down_warned = 0;
	}
	if (cl_keepalive_ev == NULL)
		cl_keepalive_ev = evtimer_new(server_base,
		    cluster_keepalive_timer_cb, NULL);
	tv.tv_sec = cl_ttl / 3 > 0 ? cl_ttl / 3 : 1;
	tv.tv_usec = 0;
	if (cl_keepalive_ev != NULL)
		evtimer_add(cl_keepalive_ev, &tv);
	cluster_send_deferred(NULL);
	server_settle();
}

/*
 * Send the requests that waited for the lease or (joins, which need the
 * capacity) for pool p's state (p NULL: any pool).
 */
static void
cluster_send_deferred(struct cpool *p)
{
	struct creq	*r, *next;

	for (r = TAILQ_FIRST(&cl_reqs); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		if (r->state == CREQ_LEASE && (p == NULL ||
		    cluster_req_uses(r, p)))
			cluster_req_send(r);
	}
}

/* Ask etcd for a lease (retried until it answers). */
static void
cluster_lease_grant(void)
{
	json_t	*body;

	if (cl_lease_req != NULL)
		return;
	body = json_pack("{s:I}", "TTL", (json_int_t)cl_ttl);
	if (body != NULL)
		cl_lease_req = etcd_call(cl_etcd, "lease/grant", body,
		    (int)cl_ttl * 1000, cluster_lease_cb, NULL);
	json_decref(body);
	if (cl_lease_req == NULL)
		log_warnx("cluster: cannot ask for a lease (out of memory)");
}

/* ---- pools ---- */

/* Write the etcd form of a pool name ('/' as %2F) to buf. */
static void
cluster_pool_encode(const char *name, size_t len, char *buf, size_t buflen)
{
	size_t	 o = 0;

	for (size_t i = 0; i < len && o + 4 < buflen; i++) {
		if (name[i] == '/') {
			memcpy(buf + o, "%2F", 3);
			o += 3;
		} else
			buf[o++] = name[i];
	}
	buf[o] = '\0';
}

/* The pool named name, made (and synced) if new; NULL on ENOMEM. */
static struct cpool *
cluster_pool_get(const char *name, size_t len)
{
	struct cpool	*p;
	char		 enc[PROTO_MAX_NAME * 3 + 1];

	TAILQ_FOREACH(p, &cl_pools, entry)
		if (p->name_len == len && memcmp(p->name, name, len) == 0)
			return (p);
	if ((p = calloc(1, sizeof *p)) == NULL)
		return (NULL);
	memcpy(p->name, name, len);
	p->name_len = len;
	TAILQ_INIT(&p->keys);
	cluster_pool_encode(name, len, enc, sizeof enc);
	if (asprintf(&p->dir, "%s/%s/", cl_prefix, enc) == -1) {
		free(p);
		return (NULL);
	}
	if (asprintf(&p->capkey, "%scapacity", p->dir) == -1) {
		free(p->dir);
		free(p);
		return (NULL);
	}
	TAILQ_INSERT_TAIL(&cl_pools, p, entry);
	cluster_pool_sync(p);
	return (p);
}

/* Is key a request key of pool p (under p->dir + "q/")? */
static int
cluster_is_qkey(struct cpool *p, const char *key, size_t len)
{
	size_t	 dl = strlen(p->dir);

	return (len > dl + 2 && memcmp(key, p->dir, dl) == 0 &&
	    memcmp(key + dl, "q/", 2) == 0);
}

/* Find the local request (and its part) whose key is key. */
static struct creq *
cluster_req_by_key(const char *key, size_t *part)
{
	struct creq	*r;
	size_t		 i;

	TAILQ_FOREACH(r, &cl_reqs, entry) {
		if (r->state == CREQ_LEASE)
			continue;
		for (i = 0; i < r->nparts; i++)
			if (r->parts[i].key != NULL &&
			    strcmp(r->parts[i].key, key) == 0) {
				*part = i;
				return (r);
			}
	}
	return (NULL);
}

/* Fill k from a key-value's JSON value. */
static void
cluster_key_parse(struct ckey *k, const char *val, size_t len)
{
	json_t		*j;
	json_error_t	 err;
	const char	*s;

	k->weight = 1;
	if ((j = json_loadb(val, len, 0, &err)) == NULL) {
		log_warnx("cluster: key %s has a value that is not JSON",
		    k->key);
		return;
	}
	if (json_integer_value(json_object_get(j, "weight")) > 0)
		k->weight = (uint32_t)json_integer_value(json_object_get(j,
		    "weight"));
	k->pid = (uint32_t)json_integer_value(json_object_get(j, "pid"));
	k->uid = (uint32_t)json_integer_value(json_object_get(j, "uid"));
	k->t = (uint64_t)json_integer_value(json_object_get(j, "t"));
	if ((s = json_string_value(json_object_get(j, "host"))) != NULL)
		snprintf(k->host, sizeof k->host, "%s", s);
	if ((s = json_string_value(json_object_get(j, "cmd"))) != NULL)
		snprintf(k->cmd, sizeof k->cmd, "%s", s);
	json_decref(j);
}

/* The key key in p's state, or NULL.  O(keys). */
static struct ckey *
cluster_key_find(struct cpool *p, const char *key, size_t len)
{
	struct ckey	*k;

	TAILQ_FOREACH(k, &p->keys, entry)
		if (k->keylen == len && memcmp(k->key, key, len) == 0)
			return (k);
	return (NULL);
}

/*
 * Apply one key-value (from a range or a PUT event) to p: the capacity,
 * or a request key (new: in revision order; known: new weight).
 */
static void
cluster_pool_put(struct cpool *p, json_t *kv)
{
	struct ckey	*k, *at;
	struct creq	*r;
	char		*key, *val;
	size_t		 keylen, vallen, part;
	int64_t		 rev;

	key = etcd_json_bytes(kv, "key", &keylen);
	val = etcd_json_bytes(kv, "value", &vallen);
	if (key == NULL || val == NULL)
		goto out;
	if (strcmp(key, p->capkey) == 0) {
		p->capacity = (uint32_t)strtoul(val, NULL, 10);
		p->cap_mod = etcd_json_int(kv, "mod_revision");
		goto out;
	}
	if (!cluster_is_qkey(p, key, keylen))
		goto out;
	rev = etcd_json_int(kv, "create_revision");
	if ((k = cluster_key_find(p, key, keylen)) == NULL) {
		if ((k = calloc(1, sizeof *k)) == NULL) {
			log_warnx("cluster: out of memory for a key of %s",
			    p->name);
			goto out;
		}
		k->key = key;
		k->keylen = keylen;
		key = NULL;
		k->rev = rev;
		/* Usually the newest; a range comes in key order. */
		at = TAILQ_LAST(&p->keys, ckey_list);
		while (at != NULL && at->rev > rev)
			at = TAILQ_PREV(at, ckey_list, entry);
		if (at == NULL)
			TAILQ_INSERT_HEAD(&p->keys, k, entry);
		else
			TAILQ_INSERT_AFTER(&p->keys, at, k, entry);
		p->nkeys++;
		if ((r = cluster_req_by_key(k->key, &part)) != NULL &&
		    r->parts[part].pool == p) {
			r->parts[part].ck = k;
			k->mine = r;
			k->mine_part = part;
			r->rev = rev;
			if (r->state == CREQ_TXN)
				r->state = CREQ_WAIT;
		}
	}
	cluster_key_parse(k, val, vallen);
out:
	free(key);
	free(val);
}

/* Apply a DELETE event for key to p. */
static void
cluster_pool_delete(struct cpool *p, json_t *kv)
{
	struct ckey	*k;
	struct creq	*r;
	char		*key;
	size_t		 keylen;

	if ((key = etcd_json_bytes(kv, "key", &keylen)) == NULL)
		return;
	if (strcmp(key, p->capkey) == 0) {
		p->capacity = 0;
		p->cap_mod = 0;
	} else if ((k = cluster_key_find(p, key, keylen)) != NULL) {
		TAILQ_REMOVE(&p->keys, k, entry);
		p->nkeys--;
		if ((r = k->mine) != NULL) {
			/* Deleted by someone else (an operator, etcdctl). */
			r->parts[k->mine_part].ck = NULL;
			if (r->state == CREQ_HELD)
				cluster_send_revoked(r);
			log_warnx("cluster: %s: key of id %" PRIu64 " on %s was "
			    "deleted in etcd", conn_cluster_name(r->conn),
			    r->id, p->name);
			if (r->state != CREQ_HELD)
				conn_cluster_error(r->conn, r->id,
				    PROTO_E_LIMIT, "the request's key on "
				    "cluster semaphore %s was deleted in etcd",
				    p->name);
			/* Nothing to delete: do not delete again. */
			r->state = CREQ_LEASE;
			cluster_req_end(r);
		}
		cluster_key_free(k);
	}
	free(key);
}

/* The pool's watch reports. */
static void
cluster_watch_cb(struct etcd_watch *w, enum etcd_watch_kind kind,
    json_t *msg, void *arg)
{
	struct cpool	*p = arg;
	json_t		*ev;
	size_t		 i;

	switch (kind) {
	case ETCD_WATCH_CREATED:
	case ETCD_WATCH_BROKEN:
		return;
	case ETCD_WATCH_COMPACTED:
		/* History is gone: read the state again. */
		etcd_watch_free(p->watch);
		p->watch = NULL;
		cluster_pool_sync(p);
		return;
	case ETCD_WATCH_EVENTS:
		break;
	}
	json_array_foreach(json_object_get(msg, "events"), i, ev) {
		if (json_is_string(json_object_get(ev, "type")) &&
		    strcmp(json_string_value(json_object_get(ev, "type")),
		    "DELETE") == 0)
			cluster_pool_delete(p, json_object_get(ev, "kv"));
		else
			cluster_pool_put(p, json_object_get(ev, "kv"));
	}
	cluster_pool_eval(p);
	server_settle();
}

/* The range of a pool answered: replace its state, start the watch. */
static void
cluster_range_cb(enum etcd_status st, json_t *reply, void *arg)
{
	struct cpool	*p = arg;
	struct ckey	*k;
	json_t		*kv;
	size_t		 i;
	char		 end[512];
	int64_t		 rev;

	p->range = NULL;
	if (st != ETCD_OK) {
		cluster_pool_sync(p);
		return;
	}
	while ((k = TAILQ_FIRST(&p->keys)) != NULL) {
		TAILQ_REMOVE(&p->keys, k, entry);
		if (k->mine != NULL)
			k->mine->parts[k->mine_part].ck = NULL;
		cluster_key_free(k);
	}
	p->nkeys = 0;
	p->capacity = 0;
	json_array_foreach(json_object_get(reply, "kvs"), i, kv)
		cluster_pool_put(p, kv);
	rev = etcd_json_int(json_object_get(reply, "header"), "revision");
	etcd_prefix_end(p->dir, strlen(p->dir), end);
	p->watch = etcd_watch_new(cl_etcd, p->dir, strlen(p->dir), end,
	    strlen(p->dir), rev + 1, cluster_watch_cb, p);
	if (p->watch == NULL)
		log_warnx("cluster: cannot watch %s (out of memory)", p->name);
	p->synced = 1;
	cluster_send_deferred(p);
	cluster_pool_eval(p);
	server_settle();
}

/* Read the whole state of p from etcd, then watch it. */
static void
cluster_pool_sync(struct cpool *p)
{
	json_t	*body;
	char	 end[512];
	size_t	 len = strlen(p->dir);

	p->synced = 0;
	etcd_prefix_end(p->dir, len, end);
	body = json_pack("{s:o,s:o}", "key", etcd_json_b64(p->dir, len),
	    "range_end", etcd_json_b64(end, len));
	if (body != NULL)
		p->range = etcd_call(cl_etcd, "kv/range", body, 0,
		    cluster_range_cb, p);
	json_decref(body);
	if (p->range == NULL)
		log_warnx("cluster: cannot read %s (out of memory)", p->name);
}

/* Set sem, weight (the first pool's) and with several, parts. */
static void
cluster_reply_parts(struct creq *r, struct proto_reply *rep)
{
	size_t	 i;

	memcpy(rep->sem, r->parts[0].pool->name, r->parts[0].pool->name_len);
	rep->weight = r->parts[0].weight;
	for (i = 0; r->nparts > 1 && i < r->nparts; i++) {
		memcpy(rep->parts[i].sem, r->parts[i].pool->name,
		    r->parts[i].pool->name_len);
		rep->parts[i].weight = r->parts[i].weight;
	}
	rep->nparts = r->nparts > 1 ? r->nparts : 0;
}

/* Send ACQUIRED for r. */
static void
cluster_send_acquired(struct creq *r)
{
	struct proto_reply	 rep;

	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_OP_ACQUIRED;
	rep.id = r->id;
	cluster_reply_parts(r, &rep);
	rep.token = (uint64_t)r->rev;
	log_debug("%s: ACQUIRED id %" PRIu64 " %s weight %" PRIu32 "%s token "
	    "%" PRId64 " (cluster)", conn_cluster_name(r->conn), r->id,
	    rep.sem, rep.weight, r->nparts > 1 ? " and more" : "", r->rev);
	conn_cluster_reply(r->conn, &rep);
}

/*
 * A holder lost its grant (lease lost, key deleted in etcd): REVOKED
 * {sem, token} for each of its pools.
 */
static void
cluster_send_revoked(struct creq *r)
{
	struct proto_reply	 rep;
	size_t			 i;

	for (i = 0; i < r->nparts; i++) {
		memset(&rep, 0, sizeof rep);
		rep.op = PROTO_OP_REVOKED;
		memcpy(rep.sem, r->parts[i].pool->name,
		    r->parts[i].pool->name_len);
		rep.token = (uint64_t)r->rev;
		conn_cluster_reply(r->conn, &rep);
	}
}

/*
 * Decide r after a change in one of its pools: granted when its key is
 * known and within the capacity in every pool; a try (timeout 0) that
 * does not fit gets TIMEOUT; a new waiter gets QUEUED with its place
 * (the most keys beyond capacity ahead of it in any of its pools).
 */
static void
cluster_req_eval(struct creq *r)
{
	struct proto_reply	 rep;
	uint32_t		 ahead = 0;
	size_t			 i;
	int			 all = 1;

	if (r->state != CREQ_WAIT)
		return;
	for (i = 0; i < r->nparts; i++) {
		if (r->parts[i].ck == NULL || !r->parts[i].pool->synced)
			return;		/* not known everywhere yet */
		if (!r->parts[i].fits)
			all = 0;
		if (r->parts[i].ahead > ahead)
			ahead = r->parts[i].ahead;
	}
	if (all) {
		r->state = CREQ_HELD;
		if (r->timer != NULL)
			evtimer_del(r->timer);
		cluster_send_acquired(r);
		return;
	}
	if (r->is_try) {
		memset(&rep, 0, sizeof rep);
		rep.op = PROTO_OP_TIMEOUT;
		rep.id = r->id;
		conn_cluster_reply(r->conn, &rep);
		cluster_req_end(r);
		return;
	}
	if (!r->queued_sent) {
		r->queued_sent = 1;
		memset(&rep, 0, sizeof rep);
		rep.op = PROTO_OP_QUEUED;
		rep.id = r->id;
		rep.position = ahead + 1;
		conn_cluster_reply(r->conn, &rep);
	}
}

/*
 * Run the grant rule on p: walk its keys in revision order summing
 * weights; each key fits if the sum (its own weight included) is within
 * the capacity.  Fitting only ever goes from no to yes for a key (keys
 * before it can only go, and the capacity changes only when the pool is
 * empty), so the result for one pool stays valid while another pool of
 * the same request is evaluated later.  O(keys of p).
 */
static void
cluster_pool_eval(struct cpool *p)
{
	struct ckey	*k, *next;
	struct creq	*r;
	uint64_t	 sum = 0;
	uint32_t	 ahead = 0;

	if (!p->synced)
		return;
	for (k = TAILQ_FIRST(&p->keys); k != NULL; k = next) {
		next = TAILQ_NEXT(k, entry);
		sum += k->weight;
		k->fits = p->capacity != 0 && sum <= p->capacity;
		if ((r = k->mine) == NULL || r->state != CREQ_WAIT) {
			if (!k->fits)
				ahead++;
			continue;
		}
		r->parts[k->mine_part].fits = k->fits;
		r->parts[k->mine_part].ahead = ahead;
		if (!k->fits)
			ahead++;
		/* May end r (a try), which never frees k. */
		cluster_req_eval(r);
	}
}

/* ---- requests ---- */

/* A request's deadline passed: TIMEOUT, and its key goes. */
static void
cluster_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct creq		*r = arg;
	struct proto_reply	 rep;

	if (r->state == CREQ_HELD)
		return;
	log_debug("%s: TIMEOUT id %" PRIu64 " %s (cluster%s)",
	    conn_cluster_name(r->conn), r->id, r->parts[0].pool->name,
	    r->state == CREQ_WAIT ? "" : ", etcd did not answer in time");
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_OP_TIMEOUT;
	rep.id = r->id;
	conn_cluster_reply(r->conn, &rep);
	cluster_req_end(r);
	server_settle();
}

/* End r with an ERROR. */
static void
cluster_req_fail(struct creq *r, enum proto_err code, const char *fmt, ...)
{
	char	 msg[PROTO_MAX_TEXT + 1];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	conn_cluster_error(r->conn, r->id, code, "%s", msg);
	cluster_req_end(r);
}

/*
 * The capacity key of part i was not what its Txn compared with: kv is
 * what etcd has (NULL: none).  Choose how to compare next time, or fail
 * r (and return -1).
 */
static int
cluster_part_recheck(struct creq *r, size_t i, json_t *kv)
{
	struct cpart	*pt = &r->parts[i];
	struct cpool	*p = pt->pool;
	char		*val;
	size_t		 len;
	uint32_t	 cap;

	if (kv == NULL) {
		if (pt->joined) {
			cluster_req_fail(r, PROTO_E_NO_CAPACITY, "cluster "
			    "semaphore %s does not exist; give its capacity "
			    "to create it", p->name);
			return (-1);
		}
		pt->mode = CREQ_CREATE_CAP;
		return (0);
	}
	val = etcd_json_bytes(kv, "value", &len);
	cap = val != NULL ? (uint32_t)strtoul(val, NULL, 10) : 0;
	free(val);
	if (pt->joined) {
		pt->capacity = cap;
		pt->mode = CREQ_SAME_CAP;
	} else if (cap != pt->capacity) {
		/*
		 * As locally, the capacity changes only when nobody holds
		 * or waits: our view has no key, and the capacity key was
		 * not put since (every request puts it).
		 */
		if (!p->synced || p->nkeys != 0 || p->cap_mod !=
		    etcd_json_int(kv, "mod_revision")) {
			cluster_req_fail(r, PROTO_E_CAPACITY_MISMATCH,
			    "cluster semaphore %s has capacity %" PRIu32
			    ", not %" PRIu32 "; it keeps it until nobody "
			    "holds or waits for it", p->name, cap,
			    pt->capacity);
			return (-1);
		}
		pt->mode = CREQ_REPLACE_CAP;
		pt->cap_mod = p->cap_mod;
	} else
		pt->mode = CREQ_SAME_CAP;
	if (pt->weight > pt->capacity) {
		cluster_req_fail(r, PROTO_E_TOO_HEAVY, "weight %" PRIu32 " is "
		    "more than the capacity %" PRIu32 " of cluster semaphore "
		    "%s; it could never be granted", pt->weight, pt->capacity,
		    p->name);
		return (-1);
	}
	return (0);
}

/* The create Txn answered. */
static void
cluster_txn_cb(enum etcd_status st, json_t *reply, void *arg)
{
	struct creq	*r = arg;
	json_t		*resps;
	size_t		 i;

	r->txn = NULL;
	if (st != ETCD_OK) {
		/* Only an etcd error; timeouts end with the deadline. */
		cluster_req_fail(r, PROTO_E_LIMIT, "etcd refused the request "
		    "for cluster semaphore %s: %s", r->parts[0].pool->name,
		    st == ETCD_ERROR ? json_string_value(json_object_get(
		    reply, "message")) : "no answer");
		server_settle();
		return;
	}
	if (json_is_true(json_object_get(reply, "succeeded"))) {
		/* The watches tell the create revision (see pool_put). */
		for (i = 0; i < r->nparts; i++)
			cluster_pool_eval(r->parts[i].pool);
		server_settle();
		return;
	}
	if (++r->tries > 8) {
		cluster_req_fail(r, PROTO_E_LIMIT, "the capacity of cluster "
		    "semaphore %s keeps changing; try again",
		    r->parts[0].pool->name);
		server_settle();
		return;
	}
	/* A capacity key was not what we compared with: read them all. */
	resps = json_object_get(reply, "responses");
	for (i = 0; i < r->nparts; i++) {
		if (cluster_part_recheck(r, i, json_array_get(json_object_get(
		    json_object_get(json_array_get(resps, i),
		    "response_range"), "kvs"), 0)) == -1) {
			server_settle();
			return;
		}
	}
	cluster_req_send(r);
}

/* The value of part i's key: who asks, for STATUS on every host. */
static char *
cluster_req_value(struct creq *r, size_t i)
{
	json_t	*val;
	char	*s;

	val = json_pack("{s:I,s:s,s:I,s:I,s:s,s:I}", "weight",
	    (json_int_t)r->parts[i].weight, "host", cl_host, "pid",
	    (json_int_t)r->pid, "uid", (json_int_t)r->uid, "cmd", r->cmd,
	    "t", (json_int_t)r->t);
	s = val != NULL ? json_dumps(val, JSON_COMPACT) : NULL;
	json_decref(val);
	return (s);
}

/* Does r ask for pool p? */
static int
cluster_req_uses(struct creq *r, struct cpool *p)
{
	for (size_t i = 0; i < r->nparts; i++)
		if (r->parts[i].pool == p)
			return (1);
	return (0);
}

/*
 * Learn the capacity of every part of r that joins a pool (gave none)
 * from the pool's state.  Returns 0 when every part has one; 1 when r
 * must wait for the lease or a pool's state (r->state is CREQ_LEASE);
 * -1 when r failed (no such pool, or too heavy for it).
 */
static int
cluster_req_join(struct creq *r)
{
	struct cpart	*pt;
	size_t		 i;

	if (cl_lease == 0) {
		r->state = CREQ_LEASE;
		return (1);
	}
	for (i = 0; i < r->nparts; i++) {
		pt = &r->parts[i];
		if (pt->has_capacity || pt->joined)
			continue;
		if (!pt->pool->synced) {
			r->state = CREQ_LEASE;
			return (1);
		}
		if (pt->pool->capacity == 0) {
			cluster_req_fail(r, PROTO_E_NO_CAPACITY, "cluster "
			    "semaphore %s does not exist; give its capacity "
			    "to create it", pt->pool->name);
			return (-1);
		}
		pt->joined = 1;
		pt->capacity = pt->pool->capacity;
		if (pt->weight > pt->capacity) {
			cluster_req_fail(r, PROTO_E_TOO_HEAVY, "weight %"
			    PRIu32 " is more than the capacity %" PRIu32 " of "
			    "cluster semaphore %s; it could never be granted",
			    pt->weight, pt->capacity, pt->pool->name);
			return (-1);
		}
	}
	return (0);
}

/*
 * Name r's keys for the current lease (once per lease: a retry under
 * the same lease puts the same keys).  Returns 0, or -1 if out of
 * memory.
 */
static int
cluster_req_keys(struct creq *r)
{
	struct cpart	*pt;
	size_t		 i;

	if (r->lease == cl_lease)
		return (0);
	cl_seq++;
	for (i = 0; i < r->nparts; i++) {
		pt = &r->parts[i];
		free(pt->key);
		if (asprintf(&pt->key, "%sq/%s-%" PRIx64 "-%" PRIu64,
		    pt->pool->dir, cl_host, (uint64_t)cl_lease, cl_seq) == -1) {
			pt->key = NULL;
			return (-1);
		}
	}
	r->lease = cl_lease;
	return (0);
}

/*
 * The Txn compare for part pt, whose capacity key is b64cap: by its
 * mode, the key does not exist yet, was not put since cap_mod, or holds
 * our capacity (cap).  NULL if out of memory.
 */
static json_t *
cluster_txn_compare(const struct cpart *pt, json_t *b64cap, const char *cap)
{
	char	 rev[32];

	switch (pt->mode) {
	case CREQ_CREATE_CAP:
		return (json_pack("{s:O,s:s,s:s,s:s}", "key", b64cap,
		    "target", "CREATE", "result", "EQUAL", "create_revision",
		    "0"));
	case CREQ_REPLACE_CAP:
		snprintf(rev, sizeof rev, "%" PRId64, pt->cap_mod);
		return (json_pack("{s:O,s:s,s:s,s:s}", "key", b64cap,
		    "target", "MOD", "result", "EQUAL", "mod_revision", rev));
	case CREQ_SAME_CAP:
	default:
		return (json_pack("{s:O,s:s,s:s,s:o}", "key", b64cap,
		    "target", "VALUE", "result", "EQUAL", "value",
		    etcd_json_b64(cap, strlen(cap))));
	}
}

/*
 * Add part i of r to the Txn's compare, success (put the capacity key
 * again, and the part's key on the lease) and failure (read the
 * capacity key) lists.  Returns 0, or -1 if out of memory.
 */
static int
cluster_txn_part(struct creq *r, size_t i, json_t *cmps, json_t *succ,
    json_t *fail, const char *lease)
{
	struct cpart	*pt = &r->parts[i];
	json_t		*b64cap;
	char		 cap[16];
	char		*vals;

	snprintf(cap, sizeof cap, "%" PRIu32, pt->capacity);
	b64cap = etcd_json_b64(pt->pool->capkey, strlen(pt->pool->capkey));
	if ((vals = cluster_req_value(r, i)) == NULL || b64cap == NULL) {
		free(vals);
		json_decref(b64cap);
		return (-1);
	}
	json_array_append_new(cmps, cluster_txn_compare(pt, b64cap, cap));
	json_array_append_new(succ, json_pack("{s:{s:O,s:o}}",
	    "request_put", "key", b64cap, "value",
	    etcd_json_b64(cap, strlen(cap))));
	json_array_append_new(succ, json_pack("{s:{s:o,s:o,s:s}}",
	    "request_put", "key", etcd_json_b64(pt->key, strlen(pt->key)),
	    "value", etcd_json_b64(vals, strlen(vals)), "lease", lease));
	json_array_append_new(fail, json_pack("{s:{s:O}}",
	    "request_range", "key", b64cap));
	json_decref(b64cap);
	free(vals);
	return (0);
}

/*
 * Send r's create Txn: for every pool, compare its capacity key (mode:
 * holds our capacity; does not exist; or, to replace it, was not put
 * since cap_mod); if all hold, put each capacity key again (every
 * request bumps its revision, which is what makes a replacement safe)
 * and put each of r's keys on the lease: one Txn, one revision, the
 * token; else read every capacity key (cluster_txn_cb decides).  A join
 * (no capacity) waits for its pool's state to learn the capacity.
 * Idempotent when retried: the keys are new, and a key put again keeps
 * its first create revision.
 */
static void
cluster_req_send(struct creq *r)
{
	json_t		*txn;
	char		 lease[32];
	size_t		 i;

	if (cluster_req_join(r) != 0)
		return;
	if (cluster_req_keys(r) == -1)
		goto nomem;
	r->state = CREQ_TXN;
	snprintf(lease, sizeof lease, "%" PRId64, cl_lease);
	txn = json_pack("{s:[],s:[],s:[]}", "compare", "success", "failure");
	if (txn == NULL)
		goto nomem;
	for (i = 0; i < r->nparts; i++) {
		if (cluster_txn_part(r, i, json_object_get(txn, "compare"),
		    json_object_get(txn, "success"),
		    json_object_get(txn, "failure"), lease) == -1) {
			json_decref(txn);
			goto nomem;
		}
	}
	r->txn = etcd_call(cl_etcd, "kv/txn", txn, 0, cluster_txn_cb, r);
	json_decref(txn);
	if (r->txn == NULL)
		goto nomem;
	return;
nomem:
	cluster_req_fail(r, PROTO_E_LIMIT, "semd is out of memory; try again "
	    "later");
}

/*
 * Read want i of req (the request's only one when it names no list)
 * into pt: a cluster-scoped name, no rate, a capacity of at least 1 if
 * given (else the declared one, else learnt from the pool), a weight it
 * can grant; and its pool, found or made.  Returns 0, or -1 after
 * answering req on c with the error.
 */
static int
cluster_part_init(struct conn *c, const struct proto_request *req, size_t i,
    struct cpart *pt)
{
	const char	*name = req->nsems ? req->sems[i].sem : req->sem;
	size_t		 len = req->nsems ? req->sems[i].sem_len : req->sem_len;
	int		 has_rate = req->nsems ? req->sems[i].has_rate :
			    req->has_rate;

	pt->weight = req->nsems ? req->sems[i].weight : req->weight;
	pt->has_capacity = req->nsems ? req->sems[i].has_capacity :
	    req->has_capacity;
	pt->capacity = req->nsems ? req->sems[i].capacity : req->capacity;
	if (has_rate) {
		conn_cluster_error(c, req->id, PROTO_E_BAD_REQUEST, "cluster "
		    "semaphore %s cannot have a rate (rates are local only)",
		    name);
		return (-1);
	}
	if (!cluster_scoped(name, len)) {
		conn_cluster_error(c, req->id, PROTO_E_BAD_NAME, "%s is a "
		    "local semaphore: one request cannot mix local and "
		    "cluster semaphores", name);
		return (-1);
	}
	if (pt->has_capacity && pt->capacity == 0) {
		conn_cluster_error(c, req->id, PROTO_E_TOO_HEAVY, "cluster "
		    "semaphore %s needs a capacity of at least 1", name);
		return (-1);
	}
	if (pt->weight == 0 || (pt->has_capacity &&
	    pt->weight > pt->capacity)) {
		conn_cluster_error(c, req->id, PROTO_E_TOO_HEAVY, "weight %"
		    PRIu32 " cannot be granted on cluster semaphore %s of "
		    "capacity %" PRIu32, pt->weight, name, pt->capacity);
		return (-1);
	}
	if (!pt->has_capacity && (pt->capacity =
	    cluster_declared_capacity(name, len)) != 0)
		pt->has_capacity = 1;
	if ((pt->pool = cluster_pool_get(name, len)) == NULL) {
		conn_cluster_error(c, req->id, PROTO_E_LIMIT, "semd is out of "
		    "memory; try again later");
		return (-1);
	}
	return (0);
}

/*
 * Bound r's wait by timeout_ms (a try, 0, by CLUSTER_TRY_MS: it still
 * needs an etcd round trip to decide); nothing for -1 (forever).
 * Returns 0, or -1 if out of memory.
 */
static int
cluster_req_timer(struct creq *r, int64_t timeout_ms)
{
	struct timeval	 tv;
	int64_t		 ms;

	if (timeout_ms < 0)
		return (0);
	r->is_try = timeout_ms == 0;
	ms = r->is_try ? CLUSTER_TRY_MS : timeout_ms;
	if ((r->timer = evtimer_new(server_base, cluster_deadline_cb, r)) ==
	    NULL)
		return (-1);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(r->timer, &tv);
	return (0);
}

/*
 * ACQUIRE of a cluster-scoped name (conn.c checked cluster_scoped).  The
 * answer comes later, through conn_cluster_reply/error: ACQUIRED with the
 * token (the key's create revision), QUEUED, TIMEOUT, or ERROR.
 */
void
cluster_acquire(struct conn *c, pid_t pid, uid_t uid,
    const struct proto_request *req)
{
	struct creq	*r;
	struct timespec	 ts;
	size_t		 i;

	if (cluster_pending(c, req->id)) {
		conn_cluster_error(c, req->id, PROTO_E_DUPLICATE_ID, "request "
		    "id %" PRIu64 " is already pending on this connection; "
		    "use a new id", req->id);
		return;
	}
	if ((r = calloc(1, sizeof *r)) == NULL) {
		conn_cluster_error(c, req->id, PROTO_E_LIMIT, "semd is out of "
		    "memory; try again later");
		return;
	}
	r->nparts = req->nsems != 0 ? req->nsems : 1;
	for (i = 0; i < r->nparts; i++) {
		if (cluster_part_init(c, req, i, &r->parts[i]) == -1) {
			free(r);
			return;
		}
	}
	r->conn = c;
	r->id = req->id;
	r->pid = (uint32_t)pid;
	r->uid = (uint32_t)uid;
	r->since = server_now_ms();
	clock_gettime(CLOCK_REALTIME, &ts);
	r->t = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	cluster_cmdline(pid, r->cmd, sizeof r->cmd);
	if (cluster_req_timer(r, req->timeout_ms) == -1) {
		free(r);
		conn_cluster_error(c, req->id, PROTO_E_LIMIT, "semd is out of "
		    "memory; try again later");
		return;
	}
	TAILQ_INSERT_TAIL(&cl_reqs, r, entry);
	if (cl_lease == 0 && !cl_down_warned) {
		log_warnx("cluster: no etcd lease yet (%s): cluster acquires "
		    "wait within their timeouts, local semaphores are "
		    "unaffected", etcd_endpoint(cl_etcd));
		cl_down_warned = 1;
	}
	cluster_req_send(r);
}

/* Does c have a cluster request id that is not granted yet? */
int
cluster_pending(struct conn *c, uint64_t id)
{
	struct creq	*r;

	TAILQ_FOREACH(r, &cl_reqs, entry)
		if (r->conn == c && r->id == id && r->state != CREQ_HELD)
			return (1);
	return (0);
}

/* Is r a single-pool grant of c on name? */
static int
cluster_req_holds(struct creq *r, struct conn *c, const char *name,
    size_t len)
{
	return (r->conn == c && r->state == CREQ_HELD && r->nparts == 1 &&
	    r->parts[0].pool->name_len == len &&
	    memcmp(r->parts[0].pool->name, name, len) == 0);
}

/*
 * Take weight take (less than it has) off single-pool grant r: its key
 * is put again with the new weight, keeping its revision.  A failed put
 * is logged; etcd keeps the old weight until the lease ends.
 */
static void
cluster_req_lower(struct creq *r, uint32_t take)
{
	json_t	*val;
	char	*vals, lease[32];

	r->parts[0].weight -= take;
	vals = cluster_req_value(r, 0);
	snprintf(lease, sizeof lease, "%" PRId64, r->lease);
	val = vals != NULL ? json_pack("{s:o,s:o,s:s}", "key",
	    etcd_json_b64(r->parts[0].key, strlen(r->parts[0].key)), "value",
	    etcd_json_b64(vals, strlen(vals)), "lease", lease) : NULL;
	free(vals);
	if (val == NULL || etcd_call(cl_etcd, "kv/put", val, 0, NULL,
	    NULL) == NULL)
		log_warnx("cluster: cannot lower the weight of %s",
		    r->parts[0].key);
	json_decref(val);
}

/* The newest single-pool grant of c on name (len bytes), or NULL. */
static struct creq *
cluster_newest_held(struct conn *c, const char *name, size_t len)
{
	struct creq	*r, *newest = NULL;

	TAILQ_FOREACH(r, &cl_reqs, entry)
		if (cluster_req_holds(r, c, name, len) &&
		    (newest == NULL || r->rev > newest->rev))
			newest = r;
	return (newest);
}

/*
 * RELEASE: if it is about a cluster grant of c (by token) or a cluster
 * name, handle it and return 1; else 0 (the local engine's).  By token,
 * the whole grant goes (all its pools).  By name, weight comes off c's
 * newest single-pool grants there first; a grant left with less weight
 * keeps its key (and revision) with the new weight.  A grant of several
 * pools is given back by token or by closing the connection.
 */
int
cluster_release(struct conn *c, const struct proto_request *req)
{
	struct creq		*r, *newest;
	struct proto_reply	 rep;
	uint32_t		 held = 0, left, take;

	if (cl_etcd == NULL)
		return (0);
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_OP_RELEASED;
	rep.id = req->id;
	if (req->has_token) {
		TAILQ_FOREACH(r, &cl_reqs, entry)
			if (r->conn == c && r->state == CREQ_HELD &&
			    (uint64_t)r->rev == req->token)
				break;
		if (r == NULL)
			return (0);
		cluster_reply_parts(r, &rep);
		rep.token = req->token;
		cluster_req_end(r);
		conn_cluster_reply(c, &rep);
		return (1);
	}
	if (!cluster_scoped(req->sem, req->sem_len))
		return (0);
	TAILQ_FOREACH(r, &cl_reqs, entry)
		if (cluster_req_holds(r, c, req->sem, req->sem_len))
			held += r->parts[0].weight;
	if (held < req->weight || held == 0) {
		conn_cluster_error(c, req->id, PROTO_E_NOT_HELD, "this "
		    "connection holds %" PRIu32 " on cluster semaphore %s "
		    "(not counting grants of several semaphores, released by "
		    "token); it cannot release %" PRIu32, held, req->sem,
		    req->weight);
		return (1);
	}
	for (left = req->weight; left > 0; left -= take) {
		newest = cluster_newest_held(c, req->sem, req->sem_len);
		take = newest->parts[0].weight < left ?
		    newest->parts[0].weight : left;
		if (take == newest->parts[0].weight)
			cluster_req_end(newest);
		else
			cluster_req_lower(newest, take);
	}
	memcpy(rep.sem, req->sem, req->sem_len);
	rep.weight = req->weight;
	conn_cluster_reply(c, &rep);
	return (1);
}

/*
 * TIMEOUT from the client: withdraw c's pending cluster ACQUIRE id.
 * Returns 1 if it was one (answered here), else 0.
 */
int
cluster_withdraw(struct conn *c, uint64_t id)
{
	struct creq		*r;
	struct proto_reply	 rep;

	TAILQ_FOREACH(r, &cl_reqs, entry)
		if (r->conn == c && r->id == id && r->state != CREQ_HELD)
			break;
	if (r == NULL)
		return (0);
	cluster_req_end(r);
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_OP_TIMEOUT;
	rep.id = id;
	conn_cluster_reply(c, &rep);
	return (1);
}

/* Connection c is gone: every request of it ends, its keys go at once. */
void
cluster_drop(struct conn *c)
{
	struct creq	*r, *next;

	for (r = TAILQ_FIRST(&cl_reqs); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		if (r->conn == c)
			cluster_req_end(r);
	}
}

/* The pools a STATUS lists: one by name or all. */
static int
cluster_status_match(struct cpool *p, const char *name, size_t len)
{
	return (name == NULL || (p->name_len == len &&
	    memcmp(p->name, name, len) == 0));
}

/* How many pools a STATUS for name (NULL: all) lists. */
size_t
cluster_status_count(const char *name, size_t len)
{
	struct cpool	*p;
	size_t		 n = 0;

	TAILQ_FOREACH(p, &cl_pools, entry)
		if (cluster_status_match(p, name, len) && p->synced)
			n++;
	return (n);
}

/*
 * Fill st for pool p: its holders (pass 0), then its waiters (pass 1),
 * from parties[*used] on (room entries in all; *cut when some did not
 * fit).  Holders are the keys within the capacity in revision order;
 * now, the wall clock in ms, says how long each has been there.
 */
static void
cluster_status_pool(struct cpool *p, struct proto_sem_status *st,
    struct proto_party *parties, size_t *used, size_t room, uint64_t now,
    int *cut)
{
	struct proto_party	*pa;
	struct ckey		*k;
	uint64_t		 sum;
	size_t			 pass;
	int			 held;

	memcpy(st->sem, p->name, p->name_len);
	st->sem[p->name_len] = '\0';
	st->capacity = p->capacity;
	for (pass = 0; pass < 2; pass++) {
		if (pass == 0)
			st->holders = parties + *used;
		else
			st->waiters = parties + *used;
		sum = 0;
		TAILQ_FOREACH(k, &p->keys, entry) {
			sum += k->weight;
			/*
			 * Ours: as decided.  Another host's: within the
			 * capacity here (a request of several pools may
			 * still wait for another one).
			 */
			held = k->mine != NULL ? k->mine->state == CREQ_HELD :
			    sum <= p->capacity;
			if (held != (pass == 0))
				continue;
			if (pass == 0)
				st->held += k->weight;
			else
				st->waiting++;
			if (*used == room) {
				*cut = 1;
				continue;
			}
			pa = &parties[(*used)++];
			pa->pid = k->pid;
			pa->uid = k->uid;
			pa->host = k->host;
			/* Never a local /proc lookup of its pid. */
			pa->worker_cmd = k->cmd[0] != '\0' ? k->cmd : "?";
			pa->weight = k->weight;
			pa->ms = now > k->t && k->t != 0 ? now - k->t : 0;
			if (pass == 0)
				st->nholders++;
			else
				st->nwaiters++;
		}
	}
}

/*
 * Describe the pools named (name NULL: all this semd watches, at most
 * nsems) in sems, their holders and waiters of every host in parties
 * (room entries at most; *cut when some did not fit).  Holders are the
 * keys within the capacity in revision order.  Returns the pools filled.
 */
size_t
cluster_status(const char *name, size_t len, struct proto_sem_status *sems,
    size_t nsems, struct proto_party *parties, size_t room, int *cut)
{
	struct cpool		*p;
	struct timespec		 ts;
	uint64_t		 now;
	size_t			 i = 0, used = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	TAILQ_FOREACH(p, &cl_pools, entry) {
		if (!cluster_status_match(p, name, len) || !p->synced)
			continue;
		if (i == nsems) {
			*cut = 1;
			break;
		}
		cluster_status_pool(p, &sems[i++], parties, &used, room, now,
		    cut);
	}
	return (i);
}

/* The lease revoke at shutdown answered. */
static void
cluster_revoke_cb(enum etcd_status st, json_t *reply, void *arg)
{
	int	*done = arg;

	*done = 1;
	if (st != ETCD_OK)
		log_warnx("cluster: could not revoke the lease at exit; this "
		    "host's keys go when it expires");
}

/*
 * Stop: revoke the lease so this host's keys go at once (waiting for
 * etcd at most CLUSTER_EXIT_MS), and free everything.
 */
void
cluster_shutdown(void)
{
	struct creq	*r;
	struct cpool	*p;
	struct ckey	*k;
	struct etcd_req	*rq;
	json_t		*body;
	char		 ids[32];
	uint64_t	 end;
	int		 done = 0;

	if (cl_etcd == NULL)
		return;
	if (cl_lease != 0) {
		snprintf(ids, sizeof ids, "%" PRId64, cl_lease);
		body = json_pack("{s:s}", "ID", ids);
		rq = body != NULL ? etcd_call(cl_etcd, "lease/revoke", body,
		    CLUSTER_EXIT_MS, cluster_revoke_cb, &done) : NULL;
		json_decref(body);
		end = server_now_ms() + CLUSTER_EXIT_MS + 100;
		while (rq != NULL && !done && server_now_ms() < end)
			event_base_loop(server_base, EVLOOP_ONCE);
		if (!done && rq != NULL)
			etcd_cancel(rq);
	}
	while ((r = TAILQ_FIRST(&cl_reqs)) != NULL) {
		TAILQ_REMOVE(&cl_reqs, r, entry);
		cluster_req_free(r);
	}
	while ((p = TAILQ_FIRST(&cl_pools)) != NULL) {
		TAILQ_REMOVE(&cl_pools, p, entry);
		while ((k = TAILQ_FIRST(&p->keys)) != NULL) {
			TAILQ_REMOVE(&p->keys, k, entry);
			cluster_key_free(k);
		}
		if (p->range != NULL)
			etcd_cancel(p->range);
		free(p->dir);
		free(p->capkey);
		free(p);
	}
	if (cl_keepalive_ev != NULL)
		event_free(cl_keepalive_ev);
	etcd_free(cl_etcd);
	cl_etcd = NULL;
	free(cl_endpoints);
	free(cl_names);
}
