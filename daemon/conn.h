/*
 * conn.h -- one client connection's life: read frames, decode requests,
 * turn them into calls on the semaphore table, write replies and the
 * table's events, enforce the input and output bounds, and tear the
 * connection down through one path.
 */

#ifndef SEMD_CONN_H
#define SEMD_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct conn;
struct rules_who;
struct sem;

int		 conn_init(void);
void		 conn_accept(int fd);
size_t		 conn_count(void);
/* Drop dead owners and deliver events until nothing changes. */
void		 conn_settle(void);
void		 conn_shutdown(void);

/* For admin.c: answer c, name it in the log, say who it is. */
void		 conn_send(struct conn *, const struct proto_reply *);
void		 conn_error(struct conn *, uint64_t, enum proto_err,
		     const char *, ...)
		     __attribute__((__format__(__printf__, 4, 5)));
const char	*conn_name(const struct conn *);
uint32_t	 conn_worker_pid(const struct conn *);
void		 conn_who(struct conn *, struct rules_who *);

/* For admin.c's list: a semaphore as STATUS shows it, without parties. */
void		 conn_sem_status(const struct sem *, struct proto_sem_status *,
		     uint64_t now);

#endif /* SEMD_CONN_H */
