/*
 * cluster.h -- cluster semaphores: pools shared by the semd of every
 * host, held in etcd v3 (DESIGN.md "Beyond one machine").
 *
 * A cluster-scoped name is served here instead of by the local engine:
 * conn.c hands its ACQUIRE, RELEASE, withdrawal and STATUS to cluster.c,
 * which answers through conn_cluster_reply() and conn_cluster_error(), and
 * tells it when a connection goes away.
 *
 * In etcd, under PREFIX (default "/semd"), a pool POOL ('/' in the name
 * written as "%2F") has PREFIX/POOL/capacity (the capacity, decimal, no
 * lease) and one key per request, PREFIX/POOL/q/HOST-LEASE-SEQ, attached
 * to this semd's lease, whose value is JSON {weight, host, pid, uid, cmd,
 * t}.  A request is granted when the weights of the live keys of its pool
 * whose create revision is at or below its own fit the capacity; its
 * create revision is its token.
 */

#ifndef SEMD_CLUSTER_H
#define SEMD_CLUSTER_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct conn;

#define CLUSTER_DEF_PREFIX	"/semd"
#define CLUSTER_DEF_TTL		10		/* lease seconds */
#define CLUSTER_MAX_HOST	64		/* host id bytes */
#define CLUSTER_MAX_CMD		96		/* command line shown */

int	cluster_configure(const char *endpoints, const char *prefix,
	    unsigned int ttl, const char *host, char **cause);
int	cluster_declare(const char *name, int is_prefix, uint32_t capacity,
	    char **cause);
int	cluster_init(char **cause);
void	cluster_shutdown(void);
int	cluster_enabled(void);
int	cluster_scoped(const char *name, size_t len);

void	cluster_acquire(struct conn *, pid_t, uid_t,
	    const struct proto_request *);
int	cluster_release(struct conn *, const struct proto_request *);
int	cluster_withdraw(struct conn *, uint64_t id);
int	cluster_pending(struct conn *, uint64_t id);
void	cluster_drop(struct conn *);

size_t	cluster_status_count(const char *name, size_t len);
size_t	cluster_status(const char *name, size_t len,
	    struct proto_sem_status *, size_t nsems,
	    struct proto_party *, size_t room, int *cut);

/* conn.c */
void	conn_cluster_reply(struct conn *, const struct proto_reply *);
void	conn_cluster_error(struct conn *, uint64_t id, enum proto_err,
	    const char *, ...) __attribute__((__format__(__printf__, 4, 5)));
const char *conn_cluster_name(struct conn *);

#endif /* SEMD_CLUSTER_H */
