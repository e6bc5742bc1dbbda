/*
 * keeper.h -- semrun's slot belongs to the work, not to semrun: a small
 * keeper process holds the connection until CMD has exited, even when
 * semrun is killed with SIGKILL and CMD closes every inherited descriptor
 * (DESIGN.md, "The slot belongs to the work, not to the wrapper").
 */

#ifndef SEMD_KEEPER_H
#define SEMD_KEEPER_H

#include <sys/types.h>

pid_t	keeper_start(int connfd, pid_t cmd);
void	keeper_reap(pid_t keeper);

#endif /* SEMD_KEEPER_H */
