/*
 * path.c -- where the socket is (DESIGN.md, "Where the socket is"):
 * an explicit path, else $SEMD_SOCKET, else the per-user default
 * $XDG_RUNTIME_DIR/semd/semd.sock or /tmp/semd-$UID/semd.sock, whose
 * directory is created 0700 and must belong to the user.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "semd-int.h"

#define SUN_PATH_MAX	(sizeof(((struct sockaddr_un *)NULL)->sun_path))

static int	path_copy(char *, size_t, const char *, const char *,
		    struct semd_error *);
static int	path_user_dir(const char *, struct semd_error *);

/* Copy a socket path into buf, checking it fits buf and sun_path. */
static int
path_copy(char *buf, size_t len, const char *path, const char *from,
    struct semd_error *err)
{
	size_t	n;

	n = strlen(path);
	if (n == 0) {
		libsemd_seterr(err, SEMD_E_USAGE, 0,
		    "empty socket path%s", from);
		return (-1);
	}
	if (n >= SUN_PATH_MAX) {
		libsemd_seterr(err, SEMD_E_USAGE, ENAMETOOLONG,
		    "socket path too long (%zu bytes, at most %zu)%s: %s",
		    n, SUN_PATH_MAX - 1, from, path);
		return (-1);
	}
	if (n >= len) {
		libsemd_seterr(err, SEMD_E_USAGE, ENAMETOOLONG,
		    "socket path does not fit a %zu-byte buffer: %s",
		    len, path);
		return (-1);
	}
	memcpy(buf, path, n + 1);
	return (0);
}

/*
 * Make sure dir exists and is ours alone: create it 0700 if it is missing,
 * refuse it if it is not a directory (a symlink is refused too), belongs
 * to another user, or others may write to it -- anyone who can write there
 * could put their own socket in our place.
 */
static int
path_user_dir(const char *dir, struct semd_error *err)
{
	struct stat	sb;
	uid_t		uid = getuid();

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		libsemd_seterr(err, SEMD_E_SYSTEM, errno,
		    "cannot create the per-user directory %s: %s "
		    "(set SEMD_SOCKET to use another socket)",
		    dir, strerror(errno));
		return (-1);
	}
	if (lstat(dir, &sb) == -1) {
		libsemd_seterr(err, SEMD_E_SYSTEM, errno,
		    "cannot use the per-user directory %s: %s",
		    dir, strerror(errno));
		return (-1);
	}
	if (!S_ISDIR(sb.st_mode)) {
		libsemd_seterr(err, SEMD_E_SYSTEM, ENOTDIR,
		    "refusing the per-user directory %s: not a directory "
		    "(remove it, or set SEMD_SOCKET)", dir);
		return (-1);
	}
	if (sb.st_uid != uid) {
		libsemd_seterr(err, SEMD_E_SYSTEM, EACCES,
		    "refusing the per-user directory %s: owned by uid %lu, "
		    "not %lu (remove it, or set SEMD_SOCKET)", dir,
		    (unsigned long)sb.st_uid, (unsigned long)uid);
		return (-1);
	}
	if ((sb.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		libsemd_seterr(err, SEMD_E_SYSTEM, EACCES,
		    "refusing the per-user directory %s: mode %04o lets "
		    "others write to it (chmod 700 %s)", dir,
		    (unsigned int)(sb.st_mode & 07777), dir);
		return (-1);
	}
	return (0);
}

/*
 * Find the socket path: path when not NULL, else $SEMD_SOCKET when set and
 * not empty, else the per-user default, whose directory is created or
 * checked here.  Writes it to buf (len bytes) and sets *is_default to 1
 * for the per-user default (where auto-start applies), else 0.  Returns 0,
 * or -1 with err filled.
 */
int
libsemd_resolve(const char *path, char *buf, size_t len, int *is_default,
    struct semd_error *err)
{
	const char	*env, *xdg;
	char		 dir[SUN_PATH_MAX], sock[SUN_PATH_MAX + 16];
	int		 n;

	*is_default = 0;
	if (buf == NULL || len == 0) {
		libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
		    "no buffer for the socket path");
		return (-1);
	}
	if (path != NULL)
		return (path_copy(buf, len, path, "", err));
	env = getenv("SEMD_SOCKET");
	if (env != NULL && *env != '\0')
		return (path_copy(buf, len, env, " (from SEMD_SOCKET)", err));

	/* The XDG spec says a relative XDG_RUNTIME_DIR must be ignored. */
	xdg = getenv("XDG_RUNTIME_DIR");
	if (xdg != NULL && xdg[0] == '/')
		n = snprintf(dir, sizeof dir, "%s/semd", xdg);
	else {
		n = snprintf(dir, sizeof dir, "/tmp/semd-%lu",
		    (unsigned long)getuid());
	}
	if (n < 0 || (size_t)n >= sizeof dir ||
	    (size_t)n + sizeof "/semd.sock" > SUN_PATH_MAX) {
		libsemd_seterr(err, SEMD_E_USAGE, ENAMETOOLONG,
		    "XDG_RUNTIME_DIR is too long for a socket path "
		    "(set SEMD_SOCKET to a shorter path)");
		return (-1);
	}
	if (path_user_dir(dir, err) == -1)
		return (-1);
	snprintf(sock, sizeof sock, "%s/semd.sock", dir);
	if (path_copy(buf, len, sock, "", err) == -1)
		return (-1);
	*is_default = 1;
	return (0);
}

/*
 * The path semd_open(NULL, ...) would use, written to buf; *is_default
 * tells whether it is the per-user default.  Creates the per-user
 * directory if needed.  Returns 0, or -1 with err filled.
 */
int
semd_default_path(char *buf, size_t len, int *is_default,
    struct semd_error *err)
{
	int	dflt;

	if (libsemd_resolve(NULL, buf, len, &dflt, err) == -1)
		return (-1);
	if (is_default != NULL)
		*is_default = dflt;
	return (0);
}
