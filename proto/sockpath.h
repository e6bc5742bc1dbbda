/*
 * sockpath.h -- which daemon a caller reaches (DESIGN.md, "One limiter per
 * caller").  The one socket-resolution module: semd, libsemd, semrun and
 * semdctl all use it, so they cannot disagree.  It lives in the proto
 * convenience library because that is what the daemon and the clients
 * both link; it has nothing to do with msgpack.
 *
 * The order, for a caller:
 *
 *   1. -S PATH, else $SEMD_SOCKET (not empty);
 *   2. the system daemon, SOCKPATH_SYSTEM, when that file is a socket
 *      and a connect() to it succeeds;
 *   3. the per-user daemon, /tmp/semd-EUID/semd.sock: one path per
 *      effective uid, whatever the environment (XDG_RUNTIME_DIR, HOME,
 *      a login shell, cron, su, sudo -u, a user service).  Auto-start
 *      applies only here.
 *
 * semd itself listens on 1, else on SOCKPATH_SYSTEM with --system, else
 * on 3.
 */

#ifndef SEMD_SOCKPATH_H
#define SEMD_SOCKPATH_H

#include <sys/types.h>
#include <stddef.h>

#define SOCKPATH_SYSTEM_DIR	"/run/semd"
#define SOCKPATH_SYSTEM		SOCKPATH_SYSTEM_DIR "/semd.sock"
#define SOCKPATH_USER_PREFIX	"/tmp/semd-"	/* + uid */
#define SOCKPATH_NAME		"semd.sock"

/* Where a resolved path came from. */
enum sockpath_kind {
	SOCKPATH_GIVEN,		/* -S PATH */
	SOCKPATH_ENV,		/* $SEMD_SOCKET */
	SOCKPATH_KIND_SYSTEM,	/* the system daemon, which accepted */
	SOCKPATH_KIND_USER,	/* the per-user daemon (auto-start here) */
};

int	sockpath_connect(const char *path);
int	sockpath_user(uid_t uid, char *dir, size_t dirlen, char *path,
	    size_t pathlen);
int	sockpath_check_dir(const char *dir, mode_t mode, uid_t uid,
	    char *cause, size_t causelen);
int	sockpath_system_accepts(void);
int	sockpath_resolve(const char *given, char *path, size_t pathlen,
	    enum sockpath_kind *kind, char *cause, size_t causelen);

#endif /* SEMD_SOCKPATH_H */
