/*
 * admin.h -- ADMIN requests: resize, drain, undrain, revoke, reload and
 * list, each checked against the rules and logged with who asked.
 */

#ifndef SEMD_ADMIN_H
#define SEMD_ADMIN_H

struct conn;
struct proto_request;

void	admin_dispatch(struct conn *, const struct proto_request *);
void	admin_conn_gone(struct conn *);
void	admin_settle(void);
void	admin_shutdown(void);

#endif /* SEMD_ADMIN_H */
