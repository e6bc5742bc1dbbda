/*
 * state.h -- what a daemon leaves for the next one on the same socket:
 * the token key, the next grant serial, and a record of every live grant
 * (serial, token, uid, semaphore, capacity, weight).
 *
 * The state file lives in $RUNTIME_DIRECTORY when systemd sets it (the
 * units give semd a RuntimeDirectory= that survives restarts), else
 * beside the socket (PATH.state for the socket PATH), unless --state-dir
 * says where.  It is created 0600 and locked (flock) for as long as the
 * daemon runs, so two daemons never share one.
 *
 * The file is mapped shared: recording a grant, changing its weight or
 * ending it is a few stores into memory, never a system call, and what
 * was stored survives the daemon's death (kill -9 included) because the
 * page belongs to the file, not to the process.  A record's serial is
 * written last when it is made and cleared first when it ends, so a
 * daemon killed in between leaves either no record or a whole one.
 * The file only grows (by doubling, with ftruncate and mremap: the one
 * system call, amortised over as many grants as were live).
 */

#ifndef SEMD_STATE_H
#define SEMD_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct state;
struct sem_grant_info;

/* A grant an earlier daemon left live, as state_open found it. */
struct state_old {
	uint64_t	 serial;
	uint64_t	 token;
	uint32_t	 uid;
	uint32_t	 weight;
	uint32_t	 capacity;	/* 0: none (a rate only) */
	double		 rate;		/* 0: none */
	uint32_t	 burst;
	uint32_t	 slot;		/* its record: pass as the cookie */
	size_t		 name_len;
	char		 name[PROTO_MAX_NAME + 1];
};

/*
 * Work out the state file's path for the daemon on socket: dir/semd.state
 * when dir (--state-dir) is not NULL, else $RUNTIME_DIRECTORY/semd.state
 * (its first entry, when systemd lists several), else socket.state.
 * Returns 0, or -1 when it does not fit in len bytes.
 */
int			 state_path(char *buf, size_t len, const char *dir,
			     const char *socket);

/*
 * Open (creating it 0600 if needed), lock and map the state file at path
 * for the daemon on socket.  The records found live are returned by
 * state_old(); the key and next serial are kept (a new file gets a
 * random key and serial 1).  A file of the wrong format, or one made for
 * another socket, is started afresh (its grants are unknown).  Returns
 * the state, or NULL with a sentence in cause: the file is locked by a
 * running daemon, belongs to another user or is open to others, or a
 * system call failed.
 */
struct state		*state_open(const char *path, const char *socket,
			     char *cause, size_t causelen);

/*
 * The grants the earlier daemon left live: *n of them, in slot order.
 * The array belongs to the state and lives until state_close.
 */
const struct state_old	*state_old(struct state *, size_t *n);

/* The serial the next grant should get (serials of earlier daemons
 * are never reused). */
uint64_t		 state_next_serial(struct state *);

/* The serial token decrypts to (see token_serial). */
uint64_t		 state_token_serial(struct state *, uint64_t token);

/*
 * The engine's hooks (struct sem_callbacks): grant_new gives a grant
 * its token (the cipher of its serial), a record and cookie = slot + 1
 * (0 when no record could be made for want of memory: that grant cannot
 * be reclaimed after a restart, which the log says once); grant_weight
 * updates the record; grant_end frees it.  arg is the struct state.
 * None makes a system call except when the file must grow.
 */
void			 state_grant_new(struct sem_grant_info *, void *arg);
void			 state_grant_weight(const struct sem_grant_info *,
			     void *arg);
void			 state_grant_end(const struct sem_grant_info *,
			     void *arg);

/* Free the record in slot (a grant of an earlier daemon that ends
 * without having been adopted).  */
void			 state_forget(struct state *, uint32_t slot);

/*
 * Read the live record in slot into *out.  Returns 0, or -1 when the
 * slot is free or out of range.
 */
int			 state_record(struct state *, uint32_t slot,
			     struct state_old *out);

/* Number of live records (for the tests and the log). */
size_t			 state_live(struct state *);

/*
 * Unmap and close (which unlocks); the file and its records stay for
 * the next daemon.  NULL is ignored.
 */
void			 state_close(struct state *);

#endif /* SEMD_STATE_H */
