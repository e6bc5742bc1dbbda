/*
 * stdfds.h -- the stdio rule, shared by libsemd and semrun (an internal
 * header: not installed, not part of semd.h).
 */

#ifndef SEMD_STDFDS_H
#define SEMD_STDFDS_H

int	stdfds_open(void);

#endif /* SEMD_STDFDS_H */
