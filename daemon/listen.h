/*
 * listen.h -- the listening socket: create it safely at a path, accept
 * connections without blocking, back off when out of file descriptors,
 * and remove the socket file at exit if it is still ours.
 */

#ifndef SEMD_LISTEN_H
#define SEMD_LISTEN_H

#include <sys/types.h>
#include <stddef.h>

int	listen_open(const char *path, mode_t mode, int has_group, gid_t gid,
	    char *cause, size_t causelen);
int	listen_start(int fd);
void	listen_resume(void);
int	listen_watch(const char *path, const char *dir, mode_t dirmode,
	    mode_t mode, int has_group, gid_t gid, unsigned int interval_ms);
void	listen_close(void);

#endif /* SEMD_LISTEN_H */
