/*
 * conn.h -- one client connection's life: read frames, decode requests,
 * turn them into calls on the semaphore table, write replies and the
 * table's events, enforce the input and output bounds, and tear the
 * connection down through one path.
 */

#ifndef SEMD_CONN_H
#define SEMD_CONN_H

#include <stddef.h>

struct sem_waiter;

int	conn_init(void);
void	conn_accept(int fd);
size_t	conn_count(void);
size_t	conn_drop_owners(void);
void	conn_shutdown(void);

/* Callbacks for sem_table_new(): deliver the table's events. */
void	conn_granted_cb(struct sem_waiter *, void *);
void	conn_expired_cb(struct sem_waiter *, void *);

#endif /* SEMD_CONN_H */
