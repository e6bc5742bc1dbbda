/*
 * grace.h -- the grace period after a restart: the grants an earlier
 * daemon left live (from the state file) are held by a placeholder owner
 * until their holders reclaim them (RECLAIM) or the grace period ends.
 *
 * While they are held, they count against capacity like any grant, so
 * nobody is granted a slot that a reclaim may still need; everything the
 * earlier daemon's grants leave free is granted as usual, and requests
 * that do not fit wait in line and are served, in order, as slots come
 * free: when holders release, or when the grace period ends and the
 * grants nobody reclaimed are given back.  The period ends early once
 * every grant is reclaimed.
 */

#ifndef SEMD_GRACE_H
#define SEMD_GRACE_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct state;
struct sem_owner;
struct sem_table;

/*
 * Adopt the live grants the state file holds into table (a placeholder
 * owner, pid 0, uid SEMD_GRACE_UID), and end the period after grace_ms
 * (or at once when there is nothing to adopt).  grace_ms 0 turns it off:
 * the old records are dropped and their tokens will be refused.  Returns
 * 0, or -1 with errno ENOMEM (the caller exits: starting without them
 * could break the bound).  Needs server_base.
 */
int		 grace_start(struct state *, struct sem_table *,
		     uint64_t grace_ms);

/* Is a grace period running? */
int		 grace_active(void);

/*
 * A RECLAIM of token for owner o (uid from SO_PEERCRED), naming name
 * (len bytes) and weight.  Returns PROTO_OK with rep filled as the
 * ACQUIRED reply (sem, weight, token; the caller sets op and id), or
 * PROTO_E_DENIED / PROTO_E_LIMIT with a sentence in msg.
 */
enum proto_err	 grace_reclaim(struct sem_owner *o, uint64_t token,
		     const char *name, size_t len, uint32_t weight,
		     struct proto_reply *rep, char *msg, size_t msglen);

/* Milliseconds the period has left (0: none running). */
uint64_t	 grace_left_ms(void);

/*
 * End the period now: grants nobody reclaimed are given back (which may
 * grant waiters; the caller settles).  No-op when none is running.
 */
void		 grace_end(void);

/* At exit: free the timer; adopted grants stay on record. */
void		 grace_shutdown(void);

#define SEMD_GRACE_UID		UINT32_MAX	/* the placeholder's uid */

#endif /* SEMD_GRACE_H */
