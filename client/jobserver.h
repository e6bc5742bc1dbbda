/*
 * jobserver.h -- semrun and the GNU make jobserver protocol.
 *
 * Two roles, one structure:
 *  - the top of a jobserver (semrun --jobserver): semrun creates the
 *    token pipe or fifo, hands it to CMD through MAKEFLAGS and backs
 *    every token it puts there with one slot of a semd semaphore;
 *  - a client (semrun inside a recipe): while semrun waits for its own
 *    slot it lends its job slot back to make, and takes one again
 *    before CMD starts.
 * See jobserver.c for the protocol and the accounting.
 */

#ifndef SEMD_JOBSERVER_H
#define SEMD_JOBSERVER_H

#include <stddef.h>
#include <stdint.h>

#include "semd.h"

/* Styles of passing the jobserver, as make's --jobserver-style. */
#define JOBSERVER_PIPE	0	/* --jobserver-auth=R,W (make 4.2, 4.3) */
#define JOBSERVER_FIFO	1	/* --jobserver-auth=fifo:PATH (make 4.4) */

struct jobserver;

/* The top of a jobserver. */
struct jobserver *jobserver_create(int style, const char *name,
		    uint32_t capacity, int verbose, char *cause,
		    size_t causelen);
int		 jobserver_export(struct jobserver *, char *cause,
		    size_t causelen);
void		 jobserver_spawned(struct jobserver *);
int		 jobserver_timeout(struct jobserver *);
void		 jobserver_tick(struct jobserver *, struct semd *);
void		 jobserver_event(struct jobserver *, struct semd *,
		    const struct semd_event *);
void		 jobserver_reconnected(struct jobserver *);
void		 jobserver_finish(struct jobserver *, struct semd *, int);
int		 jobserver_make_j(char **cmd);

/* A client of make's jobserver. */
struct jobserver *jobserver_find(int verbose);
int		 jobserver_lend(struct jobserver *);
int		 jobserver_lent(const struct jobserver *);
int		 jobserver_take(struct jobserver *, int sigfd, int timeout_ms);
void		 jobserver_abandon(struct jobserver *);

void		 jobserver_free(struct jobserver *);

#endif /* SEMD_JOBSERVER_H */
