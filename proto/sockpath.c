/*
 * sockpath.c -- which daemon a caller reaches: the one socket-resolution
 * function of semd, libsemd, semrun and semdctl (see sockpath.h for the
 * order and DESIGN.md, "One limiter per caller", for why).
 */

#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sockpath.h"

#define SOCKPATH_SUN_MAX	(sizeof(((struct sockaddr_un *)NULL)->sun_path))

/*
 * Connect to the daemon at path.  The socket is close-on-exec and never
 * one of fds 0-2 (a caller started with stdio closed must not get its
 * connection where CMD's output goes); it connects blocking (a
 * non-blocking connect to a Unix socket whose backlog is full fails with
 * EAGAIN instead of waiting) and is returned non-blocking.  Returns the
 * fd, or -1 with errno set.
 */
int
sockpath_connect(const char *path)
{
	struct sockaddr_un	sun;
	int			fd, nfd, flags, saved;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	memcpy(sun.sun_path, path, strlen(path));

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	if (fd <= STDERR_FILENO) {
		nfd = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
		saved = errno;
		close(fd);
		if (nfd == -1) {
			errno = saved;
			return (-1);
		}
		fd = nfd;
	}
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EISCONN)
			break;
		goto fail;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		goto fail;
	return (fd);

fail:
	saved = errno;
	close(fd);
	errno = saved;
	return (-1);
}

/*
 * Write the per-user directory of uid (/tmp/semd-UID) to dir and its
 * socket (/tmp/semd-UID/semd.sock) to path.  The path depends on the uid
 * only, never on the environment.  Returns 0, or -1 with errno
 * ENAMETOOLONG when a buffer is too small.
 */
int
sockpath_user(uid_t uid, char *dir, size_t dirlen, char *path,
    size_t pathlen)
{
	int	n;

	n = snprintf(dir, dirlen, SOCKPATH_USER_PREFIX "%lu",
	    (unsigned long)uid);
	if (n < 0 || (size_t)n >= dirlen) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	n = snprintf(path, pathlen, "%s/" SOCKPATH_NAME, dir);
	if (n < 0 || (size_t)n >= pathlen) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

/*
 * Make sure dir exists and is safe to hold a daemon's socket: create it
 * with mode if missing, and refuse it when it is not a directory (a
 * symlink is refused too), belongs to another uid than uid, or group or
 * others may write to it -- anyone who can write there could put their
 * own socket in our place.  Returns 0, or -1 with errno set and a
 * sentence a person can act on in cause.
 */
int
sockpath_check_dir(const char *dir, mode_t mode, uid_t uid, char *cause,
    size_t causelen)
{
	struct stat	 sb;
	mode_t		 old;
	int		 r;

	old = umask(0);
	r = mkdir(dir, mode);
	umask(old);
	if (r == -1 && errno != EEXIST) {
		snprintf(cause, causelen, "cannot create the directory %s: %s",
		    dir, strerror(errno));
		return (-1);
	}
	if (lstat(dir, &sb) == -1) {
		snprintf(cause, causelen, "cannot use the directory %s: %s",
		    dir, strerror(errno));
		return (-1);
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(cause, causelen, "refusing the directory %s: not a "
		    "directory (remove it, or set SEMD_SOCKET)", dir);
		errno = ENOTDIR;
		return (-1);
	}
	if (sb.st_uid != uid) {
		snprintf(cause, causelen, "refusing the directory %s: owned "
		    "by uid %lu, not %lu (remove it, or set SEMD_SOCKET)", dir,
		    (unsigned long)sb.st_uid, (unsigned long)uid);
		errno = EACCES;
		return (-1);
	}
	if ((sb.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(cause, causelen, "refusing the directory %s: mode "
		    "%04o lets others write to it (chmod 700 %s)", dir,
		    (unsigned int)(sb.st_mode & 07777), dir);
		errno = EACCES;
		return (-1);
	}
	return (0);
}

/*
 * Does the system daemon run: is SOCKPATH_SYSTEM a socket that accepts a
 * connection?  Costs an lstat when it is not there, else one connect.
 * Returns 1 or 0.
 */
int
sockpath_system_accepts(void)
{
	struct stat	sb;
	int		fd;

	if (lstat(SOCKPATH_SYSTEM, &sb) == -1 || !S_ISSOCK(sb.st_mode))
		return (0);
	if ((fd = sockpath_connect(SOCKPATH_SYSTEM)) == -1)
		return (0);
	close(fd);
	return (1);
}

/*
 * Resolve the socket a caller uses: given (-S) when not NULL, else
 * $SEMD_SOCKET when set and not empty, else the system daemon when it
 * accepts, else the per-user path of the effective uid, whose directory
 * is created 0700 here or checked.  Writes the path to path (pathlen
 * bytes) and where it came from to *kind.  Returns 0, or -1 with errno
 * set and a sentence in cause.
 */
int
sockpath_resolve(const char *given, char *path, size_t pathlen,
    enum sockpath_kind *kind, char *cause, size_t causelen)
{
	const char	*from = "", *p;
	char		 dir[SOCKPATH_SUN_MAX], user[SOCKPATH_SUN_MAX];
	size_t		 n;

	p = given;
	*kind = SOCKPATH_GIVEN;
	if (p == NULL && (p = getenv("SEMD_SOCKET")) != NULL && *p != '\0') {
		*kind = SOCKPATH_ENV;
		from = " (from SEMD_SOCKET)";
	} else if (p == NULL) {
		if (sockpath_system_accepts()) {
			*kind = SOCKPATH_KIND_SYSTEM;
			p = SOCKPATH_SYSTEM;
		} else {
			if (sockpath_user(geteuid(), dir, sizeof dir, user,
			    sizeof user) == -1) {
				snprintf(cause, causelen, "the per-user socket "
				    "path is too long");
				return (-1);
			}
			if (sockpath_check_dir(dir, 0700, geteuid(), cause,
			    causelen) == -1)
				return (-1);
			*kind = SOCKPATH_KIND_USER;
			p = user;
		}
	}
	n = strlen(p);
	if (n == 0) {
		snprintf(cause, causelen, "empty socket path%s", from);
		errno = EINVAL;
		return (-1);
	}
	if (n >= SOCKPATH_SUN_MAX) {
		snprintf(cause, causelen, "socket path too long (%zu bytes, at "
		    "most %zu)%s: %s", n, SOCKPATH_SUN_MAX - 1, from, p);
		errno = ENAMETOOLONG;
		return (-1);
	}
	if (n >= pathlen) {
		snprintf(cause, causelen, "socket path does not fit a "
		    "%zu-byte buffer: %s", pathlen, p);
		errno = ENAMETOOLONG;
		return (-1);
	}
	memcpy(path, p, n + 1);
	return (0);
}
