/*
 * admin.c -- ADMIN requests (PROTOCOL.md, "ADMIN"): resize, drain,
 * undrain, revoke, reload, list.
 *
 * Every action but list needs the right to administer (rules.c: root,
 * the daemon's own uid, the [semd] admin list, and for one semaphore
 * its own admin list); a refusal is DENIED with the rule.  Every action
 * that changes something is logged at warning level, so that it shows
 * at the default verbosity, with the client that did it.
 *
 * "drain --wait" answers only when nothing is held any more: such
 * requests wait on admin_waits and are looked at after every settle
 * (admin_settle), which costs O(waiting drains), almost always zero.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "cluster.h"
#include "conn.h"
#include "daemon.h"
#include "log.h"
#include "proto.h"
#include "rules.h"
#include "sem.h"

/* A "drain --wait" waiting for held to reach 0. */
struct admin_wait {
	struct conn		*conn;
	uint64_t		 id;
	char			 sem[PROTO_MAX_NAME + 1];
	size_t			 sem_len;
	TAILQ_ENTRY(admin_wait)	 entry;
};
static TAILQ_HEAD(, admin_wait) admin_waits =
    TAILQ_HEAD_INITIALIZER(admin_waits);

/* Start an ADMIN reply to req about s (NULL: none) in rep. */
static void
admin_reply_init(struct proto_reply *rep, const struct proto_request *req,
    const struct sem *s)
{
	memset(rep, 0, sizeof *rep);
	rep->op = PROTO_OP_ADMIN;
	rep->id = req->id;
	rep->action = req->action;
	if (req->has_sem)
		memcpy(rep->sem, req->sem, req->sem_len);
	if (s != NULL) {
		rep->capacity = sem_capacity(s);
		rep->held = sem_used(s) > UINT32_MAX ? UINT32_MAX :
		    (uint32_t)sem_used(s);
		rep->waiting = sem_nwaiting(s);
	}
}

/*
 * The live semaphore req names, or NULL after answering NO_CAPACITY (a
 * name nobody uses and the file does not declare has nothing to act on).
 */
static struct sem *
admin_sem(struct conn *c, const struct proto_request *req)
{
	struct sem	*s;

	if (cluster_scoped(req->sem, req->sem_len)) {
		conn_error(c, req->id, PROTO_E_BAD_REQUEST, "%s is a cluster "
		    "semaphore, held in etcd for every host; %s acts on this "
		    "semd's local semaphores only", req->sem,
		    proto_admin_name(req->action));
		return (NULL);
	}
	if ((s = sem_lookup(server_table, req->sem, req->sem_len)) != NULL)
		return (s);
	conn_error(c, req->id, PROTO_E_NO_CAPACITY, "semaphore %s is not in "
	    "use and not declared; there is nothing to %s", req->sem,
	    proto_admin_name(req->action));
	return (NULL);
}

/* resize: set the capacity now; growing grants, shrinking waits. */
static void
admin_resize(struct conn *c, const struct proto_request *req)
{
	struct proto_reply	 rep;
	struct sem		*s;
	uint32_t		 old;

	if ((s = admin_sem(c, req)) == NULL)
		return;
	old = sem_capacity(s);
	sem_resize(server_table, s, req->capacity, server_now_ms());
	log_warnx("%s: resize %s from %" PRIu32 " to %" PRIu32 " (held %"
	    PRIu64 ", waiting %" PRIu32 ")", conn_name(c), sem_name(s), old,
	    req->capacity, sem_used(s), sem_nwaiting(s));
	admin_reply_init(&rep, req, s);
	if (sem_used(s) > sem_capacity(s))
		snprintf(rep.message, sizeof rep.message, "%s resized from %"
		    PRIu32 " to %" PRIu32 "; %" PRIu64 " held, nothing more "
		    "is granted until that is below the new capacity",
		    sem_name(s), old, sem_capacity(s), sem_used(s));
	else
		snprintf(rep.message, sizeof rep.message, "%s resized from %"
		    PRIu32 " to %" PRIu32, sem_name(s), old, sem_capacity(s));
	if (rules_declared(sem_name(s), sem_name_len(s)))
		strncat(rep.message, " (until the configuration is "
		    "reloaded)", sizeof rep.message - strlen(rep.message) - 1);
	conn_send(c, &rep);
}

/* Answer a drain --wait now that held is 0 or the drain was lifted. */
static void
admin_wait_answer(struct admin_wait *aw, struct sem *s)
{
	struct proto_request	 req;
	struct proto_reply	 rep;

	memset(&req, 0, sizeof req);
	req.id = aw->id;
	req.action = PROTO_ADMIN_DRAIN;
	req.has_sem = 1;
	memcpy(req.sem, aw->sem, aw->sem_len);
	req.sem_len = aw->sem_len;
	admin_reply_init(&rep, &req, s);
	if (s == NULL || sem_used(s) == 0)
		snprintf(rep.message, sizeof rep.message, "%s is drained and "
		    "nothing is held", aw->sem);
	else
		snprintf(rep.message, sizeof rep.message, "%s was undrained "
		    "while %" PRIu64 " was still held", aw->sem, sem_used(s));
	conn_send(aw->conn, &rep);
}

/* drain [wait]: stop granting; with wait, answer once held is 0. */
static void
admin_drain(struct conn *c, const struct proto_request *req)
{
	struct proto_reply	 rep;
	struct admin_wait	*aw;
	struct sem		*s;

	if ((s = admin_sem(c, req)) == NULL)
		return;
	if (!sem_is_drained(s))
		log_warnx("%s: drain %s (held %" PRIu64 ", waiting %" PRIu32
		    ")", conn_name(c), sem_name(s), sem_used(s),
		    sem_nwaiting(s));
	sem_drain(server_table, s, 1, server_now_ms());
	if (req->wait && sem_used(s) != 0) {
		if ((aw = calloc(1, sizeof *aw)) == NULL) {
			conn_error(c, req->id, PROTO_E_LIMIT, "%s is drained, "
			    "but semd is out of memory to wait for it to "
			    "empty", sem_name(s));
			return;
		}
		aw->conn = c;
		aw->id = req->id;
		aw->sem_len = sem_name_len(s);
		memcpy(aw->sem, sem_name(s), aw->sem_len);
		TAILQ_INSERT_TAIL(&admin_waits, aw, entry);
		return;
	}
	admin_reply_init(&rep, req, s);
	snprintf(rep.message, sizeof rep.message, "%s is drained: no new "
	    "grants, %" PRIu64 " held, %" PRIu32 " waiting", sem_name(s),
	    sem_used(s), sem_nwaiting(s));
	conn_send(c, &rep);
}

/* undrain: grant again. */
static void
admin_undrain(struct conn *c, const struct proto_request *req)
{
	struct proto_reply	 rep;
	struct sem		*s;
	int			 was;

	if ((s = admin_sem(c, req)) == NULL)
		return;
	was = sem_is_drained(s);
	/* Reply first: sem_drain may forget an idle s. */
	admin_reply_init(&rep, req, s);
	snprintf(rep.message, sizeof rep.message, "%s %s", sem_name(s),
	    was ? "grants again" : "was not drained");
	if (was)
		log_warnx("%s: undrain %s (held %" PRIu64 ", waiting %" PRIu32
		    ")", conn_name(c), sem_name(s), sem_used(s),
		    sem_nwaiting(s));
	conn_send(c, &rep);
	if (was)
		sem_drain(server_table, s, 0, server_now_ms());
}

/* Send REVOKED {sem, token} for grant g to its holder, and log it. */
static void
admin_revoke_grant(struct conn *c, struct sem_grant *g)
{
	struct proto_reply	 ev;
	struct sem_grant_info	 gi;
	struct conn		*holder;

	sem_grant_info(g, &gi);
	holder = sem_owner_ctx(gi.owner);
	memset(&ev, 0, sizeof ev);
	ev.op = PROTO_OP_REVOKED;
	ev.id = 0;
	memcpy(ev.sem, sem_name(gi.sem), sem_name_len(gi.sem));
	ev.token = gi.token;
	log_warnx("%s: revoke %s from %s (token %" PRIu64 ", weight %" PRIu32
	    ")", conn_name(c), sem_name(gi.sem), conn_name(holder), gi.token,
	    gi.weight);
	conn_send(holder, &ev);
	sem_revoked(server_table, g, server_now_ms());
}

/* Where admin_revoke_pid is: the revoker, the pid, the holders told. */
struct admin_revoking {
	struct conn		*c;
	uint32_t		 pid;
	const struct sem_owner	*last;
	uint32_t		 n;
};

/*
 * Revoke g if its holder has that pid, or said it in HELLO as its worker
 * (CMD's, which semdctl status shows first), counting the holders told.
 * A client could claim another's worker pid: then it is told to give up
 * its own slot, nothing more.
 */
static int
admin_revoke_pid(struct sem_grant *g, void *arg)
{
	struct admin_revoking	*rv = arg;
	struct sem_grant_info	 gi;
	struct conn		*holder;

	sem_grant_info(g, &gi);
	/* Grants of a dead semd waiting to be reclaimed (pid 0) have no
	 * connection to tell. */
	if ((holder = sem_owner_ctx(gi.owner)) == NULL)
		return (0);
	if (sem_owner_pid(gi.owner) != rv->pid &&
	    conn_worker_pid(holder) != rv->pid)
		return (0);
	admin_revoke_grant(rv->c, g);
	/* The grants of one holder come one after the other. */
	if (gi.owner != rv->last)
		rv->n++;
	rv->last = gi.owner;
	return (0);
}

/*
 * revoke: tell the holders with that pid, or the holder of that grant
 * token, that their grant is revoked (REVOKED {sem, token}, one per
 * grant); their slots stay held until they give them back, as semrun
 * does once CMD has exited.
 */
static void
admin_revoke(struct conn *c, const struct proto_request *req)
{
	struct proto_reply	 rep;
	struct admin_revoking	 rv = { .c = c, .pid = req->pid };
	struct sem_grant_info	 gi;
	struct sem_grant	*g;
	struct sem		*s;
	uint32_t		 n;

	if ((s = admin_sem(c, req)) == NULL)
		return;
	if (req->has_token) {
		g = sem_grant_lookup(server_table, req->token);
		if (g != NULL)
			sem_grant_info(g, &gi);
		if (g == NULL || gi.sem != s ||
		    sem_owner_ctx(gi.owner) == NULL) {
			conn_error(c, req->id, PROTO_E_NOT_HELD, "no grant "
			    "with token %" PRIu64 " is held on %s",
			    req->token, sem_name(s));
			return;
		}
		admin_revoke_grant(c, g);
		rv.n = 1;
	} else
		sem_grants(s, admin_revoke_pid, &rv);
	if ((n = rv.n) == 0) {
		conn_error(c, req->id, PROTO_E_NOT_HELD, "pid %" PRIu32 " holds "
		    "nothing on %s", req->pid, sem_name(s));
		return;
	}
	admin_reply_init(&rep, req, s);
	rep.revoked = n;
	if (req->has_token)
		snprintf(rep.message, sizeof rep.message, "told the holder of "
		    "grant %" PRIu64 " on %s that it is revoked; the slot is "
		    "free when it lets go", req->token, sem_name(s));
	else
		snprintf(rep.message, sizeof rep.message, "told %" PRIu32
		    " holder%s of %s (pid %" PRIu32 ") that %s revoked; the "
		    "slot%s free when %s", n, n == 1 ? "" : "s", sem_name(s),
		    req->pid, n == 1 ? "its grant is" : "their grants are",
		    n == 1 ? " is" : "s are", n == 1 ? "it lets go" :
		    "they let go");
	conn_send(c, &rep);
}

/* reload: read the configuration file again. */
static void
admin_reload(struct conn *c, const struct proto_request *req)
{
	struct proto_reply	 rep;
	char			 msg[PROTO_MAX_TEXT + 1];

	log_warnx("%s: reload", conn_name(c));
	if (rules_reload(msg, sizeof msg) == -1) {
		log_warnx("reload refused: %s", msg);
		conn_error(c, req->id, PROTO_E_BAD_REQUEST, "%s", msg);
		return;
	}
	log_warnx("%s", msg);
	admin_reply_init(&rep, req, NULL);
	snprintf(rep.message, sizeof rep.message, "%s", msg);
	conn_send(c, &rep);
}

/*
 * list: every semaphore alive (declared ones always are) with capacity,
 * held, waiting, declared and drained; no holders or waiters (that is
 * STATUS).  At most SEMD_STATUS_MAX_SEMS; the encoder may shorten more.
 */
static void
admin_list(struct conn *c, const struct proto_request *req)
{
	struct proto_reply	 rep;
	struct proto_sem_status	*sems = NULL;
	struct sem		*s;
	uint64_t		 now = server_now_ms();
	size_t			 n, i;

	admin_reply_init(&rep, req, NULL);
	rep.sem[0] = '\0';
	n = sem_count(server_table);
	if (n > SEMD_STATUS_MAX_SEMS) {
		n = SEMD_STATUS_MAX_SEMS;
		rep.truncated = 1;
	}
	if (n != 0 && (sems = calloc(n, sizeof *sems)) == NULL) {
		conn_error(c, req->id, PROTO_E_LIMIT, "semd is out of memory; "
		    "try again later");
		return;
	}
	for (i = 0, s = sem_first(server_table); i < n && s != NULL;
	    i++, s = sem_next(s))
		conn_sem_status(s, &sems[i], now);
	rep.sems = sems;
	rep.nsems = i;
	conn_send(c, &rep);
	free(sems);
}

/* An ADMIN request from c: check the right to it, then act. */
void
admin_dispatch(struct conn *c, const struct proto_request *req)
{
	struct rules_who	 who;
	char			 why[PROTO_MAX_TEXT + 1];

	if (req->action != PROTO_ADMIN_LIST) {
		conn_who(c, &who);
		if (!rules_may_admin(&who, req->has_sem ? req->sem : NULL,
		    req->sem_len, why, sizeof why)) {
			log_warnx("%s: ADMIN %s%s%s refused: %s", conn_name(c),
			    proto_admin_name(req->action),
			    req->has_sem ? " " : "",
			    req->has_sem ? req->sem : "", why);
			conn_error(c, req->id, PROTO_E_DENIED, "%s", why);
			return;
		}
	}
	switch (req->action) {
	case PROTO_ADMIN_RESIZE:
		admin_resize(c, req);
		break;
	case PROTO_ADMIN_DRAIN:
		admin_drain(c, req);
		break;
	case PROTO_ADMIN_UNDRAIN:
		admin_undrain(c, req);
		break;
	case PROTO_ADMIN_REVOKE:
		admin_revoke(c, req);
		break;
	case PROTO_ADMIN_RELOAD:
		admin_reload(c, req);
		break;
	case PROTO_ADMIN_LIST:
		admin_list(c, req);
		break;
	default:
		conn_error(c, req->id, PROTO_E_BAD_REQUEST, "unknown action");
		break;
	}
}

/* c is going away: forget its waiting drains.  O(waiting drains). */
void
admin_conn_gone(struct conn *c)
{
	struct admin_wait	*aw, *next;

	for (aw = TAILQ_FIRST(&admin_waits); aw != NULL; aw = next) {
		next = TAILQ_NEXT(aw, entry);
		if (aw->conn != c)
			continue;
		TAILQ_REMOVE(&admin_waits, aw, entry);
		free(aw);
	}
}

/*
 * After a settle: answer the drains waiting for a semaphore whose held
 * reached 0 (or that is gone, or was undrained).  Answering may lose
 * that client (its output overflowed), which drops its other waits: so
 * the walk starts again after each answer.  O(waiting drains) per
 * answer; there are seldom more than a few.
 */
void
admin_settle(void)
{
	struct admin_wait	*aw;
	struct sem		*s = NULL;

	for (;;) {
		TAILQ_FOREACH(aw, &admin_waits, entry) {
			s = sem_lookup(server_table, aw->sem, aw->sem_len);
			if (s == NULL || sem_used(s) == 0 ||
			    !sem_is_drained(s))
				break;
		}
		if (aw == NULL)
			return;
		TAILQ_REMOVE(&admin_waits, aw, entry);
		admin_wait_answer(aw, s);
		free(aw);
	}
}

/* Free what is left at exit. */
void
admin_shutdown(void)
{
	struct admin_wait	*aw;

	while ((aw = TAILQ_FIRST(&admin_waits)) != NULL) {
		TAILQ_REMOVE(&admin_waits, aw, entry);
		free(aw);
	}
}
