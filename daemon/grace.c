/*
 * grace.c -- the grace period after a restart; see grace.h.
 *
 * Checking a reclaim costs no system call and nothing on the path of an
 * ordinary grant: the token is looked up among the adopted grants (the
 * engine's token hash), decrypted to check it is the cipher of that
 * grant's serial under our key, and compared with the grant's record
 * (uid, semaphore, weight) in the mapped state file.
 */

#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "grace.h"
#include "log.h"
#include "sem.h"
#include "state.h"

static struct sem_owner	*grace_owner;	/* holds what is not reclaimed */
static struct state	*grace_state;
static struct sem_table	*grace_table;
static struct event	*grace_ev;
static uint64_t		 grace_until;	/* server_now_ms() at the end */
static size_t		 grace_adopted, grace_reclaimed;

/* Timer: the grace period is over. */
static void
grace_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	grace_end();
	server_settle();
}

/*
 * Adopt every live record of the state into a placeholder owner and arm
 * the end of the period; see grace.h.
 */
int
grace_start(struct state *st, struct sem_table *t, uint64_t grace_ms)
{
	const struct state_old	*old;
	struct timeval		 tv;
	size_t			 n, i;
	uint64_t		 now = server_now_ms();

	grace_state = st;
	grace_table = t;
	old = state_old(st, &n);
	if (n == 0)
		return (0);
	if (grace_ms == 0) {
		for (i = 0; i < n; i++)
			state_forget(st, old[i].slot);
		log_warnx("%zu grant%s of the previous semd dropped "
		    "(--grace 0): their holders cannot reclaim them", n,
		    n == 1 ? "" : "s");
		return (0);
	}
	grace_owner = sem_owner_new(t, NULL, 0, SEMD_GRACE_UID);
	if (grace_owner == NULL)
		return (-1);
	for (i = 0; i < n; i++) {
		if (sem_adopt(grace_owner, old[i].name, old[i].name_len,
		    old[i].capacity, old[i].rate, old[i].burst, old[i].weight,
		    old[i].token, old[i].serial, (uint64_t)old[i].slot + 1,
		    now) == -1) {
			if (errno == ENOMEM)
				return (-1);
			/* EEXIST/EINVAL: a damaged record; it goes. */
			log_warnx("a record of the previous semd is unusable "
			    "(%s, token %" PRIu64 "); dropped", old[i].name,
			    old[i].token);
			state_forget(st, old[i].slot);
			continue;
		}
		grace_adopted++;
	}
	sem_table_set_serial(t, state_next_serial(st));
	if (grace_adopted == 0) {
		sem_owner_drop(grace_owner, now);
		grace_owner = NULL;
		return (0);
	}
	if ((grace_ev = evtimer_new(server_base, grace_timer_cb, NULL)) ==
	    NULL) {
		errno = ENOMEM;
		return (-1);
	}
	tv.tv_sec = (time_t)(grace_ms / 1000);
	tv.tv_usec = (suseconds_t)(grace_ms % 1000) * 1000;
	if (evtimer_add(grace_ev, &tv) == -1) {
		errno = ENOMEM;
		return (-1);
	}
	grace_until = now + grace_ms;
	log_info("restart: %zu grant%s of the previous semd may be reclaimed "
	    "for %" PRIu64 " ms", grace_adopted, grace_adopted == 1 ? "" : "s",
	    grace_ms);
	return (0);
}

/* Is a grace period running? */
int
grace_active(void)
{
	return (grace_owner != NULL);
}

/* Milliseconds left of the period, 0 when none runs. */
uint64_t
grace_left_ms(void)
{
	uint64_t	 now;

	if (grace_owner == NULL)
		return (0);
	now = server_now_ms();
	return (grace_until > now ? grace_until - now : 1);
}

/* Write a sentence into msg and return code. */
static enum proto_err
grace_refuse(enum proto_err code, char *msg, size_t len, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static enum proto_err
grace_refuse(enum proto_err code, char *msg, size_t len, const char *fmt,
    ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return (code);
}

/*
 * Verify and grant one RECLAIM; see grace.h.  The checks, in order: a
 * period is running; the token is one of the adopted grants not yet
 * reclaimed (forged tokens, tokens already reclaimed and tokens released
 * before the restart are not there) and decrypts to its serial; the
 * record's uid is the caller's; the semaphore and weight match.
 */
enum proto_err
grace_reclaim(struct sem_owner *o, uint64_t token, const char *name,
    size_t len, uint32_t weight, struct proto_reply *rep, char *msg,
    size_t msglen)
{
	struct sem_grant	*g, *p;
	struct sem_grant_info	 gi;
	struct state_old	 rec;

	if (grace_owner == NULL)
		return (grace_refuse(PROTO_E_DENIED, msg, msglen, "nothing "
		    "can be reclaimed: this semd did not take over from "
		    "another, or its grace period is over"));
	/* The part of that grant on name (an ACQUIRE of several
	 * semaphores is one ring of grants, one token). */
	if ((g = sem_grant_lookup(grace_table, token)) != NULL) {
		p = g;
		do {
			sem_grant_info(p, &gi);
			if (sem_name_len(gi.sem) == len &&
			    memcmp(sem_name(gi.sem), name, len) == 0) {
				g = p;
				break;
			}
			p = sem_grant_next(p);
		} while (p != g);
		sem_grant_info(g, &gi);
	}
	if (g == NULL || gi.owner != grace_owner ||
	    state_token_serial(grace_state, token) != gi.serial ||
	    gi.cookie == 0 ||
	    state_record(grace_state, (uint32_t)(gi.cookie - 1), &rec) == -1 ||
	    rec.token != token)
		return (grace_refuse(PROTO_E_DENIED, msg, msglen, "token %"
		    PRIu64 " is not a grant waiting to be reclaimed (not "
		    "issued here, already reclaimed, or given back before "
		    "the restart)", token));
	if (rec.uid != sem_owner_uid(o))
		return (grace_refuse(PROTO_E_DENIED, msg, msglen, "token %"
		    PRIu64 " was granted to another user", token));
	if (rec.name_len != len || memcmp(rec.name, name, len) != 0)
		return (grace_refuse(PROTO_E_DENIED, msg, msglen, "token %"
		    PRIu64 " is a grant of another semaphore", token));
	if (weight > gi.weight ||
	    (sem_grant_next(g) != g && weight != gi.weight))
		return (grace_refuse(PROTO_E_DENIED, msg, msglen, "token %"
		    PRIu64 " is a grant of weight %" PRIu32 " on %s, not %"
		    PRIu32, token, gi.weight, sem_name(gi.sem), weight));
	if (sem_grant_transfer(g, o, weight, server_now_ms()) == -1)
		return (grace_refuse(PROTO_E_LIMIT, msg, msglen, "semd is out "
		    "of memory; try again"));
	memset(rep, 0, sizeof *rep);
	memcpy(rep->sem, name, len);
	rep->weight = weight;
	rep->token = token;
	p = g;
	do {
		grace_reclaimed++;
		p = sem_grant_next(p);
	} while (p != g);
	if (sem_limit_count(grace_owner, SEM_LIMIT_HOLDS) == 0) {
		log_info("restart: every grant was reclaimed");
		grace_end();
	}
	return (PROTO_OK);
}

/* End the period: give back what nobody reclaimed. */
void
grace_end(void)
{
	if (grace_owner == NULL)
		return;
	if (grace_reclaimed < grace_adopted)
		log_info("restart: grace period over, %zu of %zu grant%s "
		    "reclaimed; the rest are given back", grace_reclaimed,
		    grace_adopted, grace_adopted == 1 ? "" : "s");
	sem_owner_drop(grace_owner, server_now_ms());
	grace_owner = NULL;
	if (grace_ev != NULL)
		evtimer_del(grace_ev);
}

/* Free the timer at exit; the adopted grants stay on record. */
void
grace_shutdown(void)
{
	if (grace_ev != NULL)
		event_free(grace_ev);
	grace_ev = NULL;
	grace_owner = NULL;
}
