/*
 * conn.h -- one client connection's life: read frames, decode requests,
 * turn them into calls on the semaphore table, write replies and the
 * table's events, enforce the input and output bounds, and tear the
 * connection down through one path.
 */

#ifndef SEMD_CONN_H
#define SEMD_CONN_H

#include <stddef.h>

int	conn_init(void);
void	conn_accept(int fd);
size_t	conn_count(void);
size_t	conn_drop_owners(void);
void	conn_shutdown(void);

#endif /* SEMD_CONN_H */
