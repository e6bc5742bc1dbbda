/*
 * listen.c -- the listening AF_UNIX socket.
 *
 * Opening: a socket file left by a dead daemon is removed only after a
 * connect() to it is refused; a live daemon there, or a path that is not
 * a socket, makes us refuse to start.  bind() runs under umask 0177 so the
 * socket never exists with wider permissions than 0600; the group and the
 * requested mode are applied afterwards.
 *
 * Accepting: non-blocking, a bounded batch per wake-up.  When accept()
 * fails for lack of file descriptors (EMFILE, ENFILE) or memory, accepting
 * is switched off and switched on again after one second (as tmux does),
 * or earlier when a connection closes, so the daemon never spins on a
 * listening socket that stays readable, and existing clients are served
 * meanwhile.
 *
 * Watching: a tmp cleaner may remove the socket file (or its directory)
 * of a long-running daemon, after which no client could find it and the
 * next one would auto-start a second daemon.  Every few seconds the path
 * is checked; when nothing is there any more, the directory is made again
 * (if we were told how) and a new socket is bound at the path, which
 * replaces the old one.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "sockpath.h"
#include "listen.h"
#include "timer.h"
#include "log.h"
#include "daemon.h"

#define LISTEN_ACCEPT_BATCH	64	/* accepts per wake-up, for fairness */

static int		 listen_fd = -1;
static struct event	*listen_ev;		/* EV_READ on listen_fd */
static struct event	*listen_backoff_ev;	/* re-enable after EMFILE */
static int		 listen_backing_off;
static uint64_t		 listen_warned_ms;	/* last EMFILE warning */

/* The socket file we created, to unlink it at exit only if still ours. */
static char		 listen_path[sizeof ((struct sockaddr_un *)0)->sun_path];
static int		 listen_have_path;
static dev_t		 listen_dev;
static ino_t		 listen_ino;

/* What listen_watch() keeps an eye on. */
static struct event	*listen_watch_ev;
static char		 listen_watch_path[sizeof listen_path];
static char		 listen_watch_dir[sizeof listen_path];	/* or "" */
static mode_t		 listen_watch_dirmode;
static mode_t		 listen_watch_mode;
static int		 listen_watch_has_group;
static gid_t		 listen_watch_gid;
static int		 listen_watch_failing;	/* warned already */

/*
 * Is a daemon accepting on the socket at sun?  Returns 1 if a connect()
 * succeeds (or the backlog is full, which also means someone listens),
 * 0 if it is refused (a stale socket file), -1 with errno otherwise.
 */
static int
listen_probe(const struct sockaddr_un *sun)
{
	int	 fd, rv, saved_errno;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return (-1);
	if (connect(fd, (const struct sockaddr *)sun, sizeof *sun) == 0)
		rv = 1;
	else if (errno == EAGAIN || errno == EINPROGRESS)
		rv = 1;
	else if (errno == ECONNREFUSED)
		rv = 0;
	else
		rv = -1;
	saved_errno = errno;
	close(fd);
	errno = saved_errno;
	return (rv);
}

/*
 * Check that the directory holding path exists, so that a missing one is
 * reported as such rather than as a failed bind().  Returns 0 or -1 with
 * a sentence in cause.
 */
static int
listen_check_dir(const char *path, char *cause, size_t causelen)
{
	char		 dir[sizeof listen_path];
	char		*slash;
	struct stat	 st;

	snprintf(dir, sizeof dir, "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) == -1) {
		if (errno == ENOENT)
			snprintf(cause, causelen, "directory %s does not exist "
			    "(semd creates only the socket, not its directory)",
			    dir);
		else
			snprintf(cause, causelen, "%s: %s", dir,
			    strerror(errno));
		return (-1);
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(cause, causelen, "%s is not a directory", dir);
		return (-1);
	}
	return (0);
}

/*
 * Make path ready for bind(): nothing there, or a stale socket that we
 * remove.  Returns 0, or -1 with a sentence in cause.
 */
static int
listen_clear_path(const char *path, const struct sockaddr_un *sun,
    char *cause, size_t causelen)
{
	struct stat	 st;

	if (lstat(path, &st) == -1) {
		if (errno != ENOENT) {
			snprintf(cause, causelen, "%s: %s", path,
			    strerror(errno));
			return (-1);
		}
		return (listen_check_dir(path, cause, causelen));
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(cause, causelen, "%s exists and is not a socket; "
		    "refusing to replace it", path);
		return (-1);
	}
	switch (listen_probe(sun)) {
	case 1:
		snprintf(cause, causelen, "another semd is already listening "
		    "on %s", path);
		return (-1);
	case 0:
		/* Nobody listens: a daemon died without cleaning up. */
		if (unlink(path) == -1 && errno != ENOENT) {
			snprintf(cause, causelen, "cannot remove stale socket "
			    "%s: %s", path, strerror(errno));
			return (-1);
		}
		log_info("removed stale socket %s", path);
		return (0);
	default:
		snprintf(cause, causelen, "cannot check whether a daemon "
		    "listens on %s: %s", path, strerror(errno));
		return (-1);
	}
}

/*
 * Create a listening AF_UNIX stream socket at path with permissions mode
 * and, if has_group, group gid.  A stale socket file is replaced; a live
 * daemon, a non-socket file or a missing directory make it fail.
 * Returns the non-blocking, close-on-exec descriptor, or -1 with a
 * sentence a person can act on in cause (causelen bytes).  On success
 * the file's identity is recorded so that listen_close() removes it only
 * if it is still ours.
 */
int
listen_open(const char *path, mode_t mode, int has_group, gid_t gid,
    char *cause, size_t causelen)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	mode_t			 old_umask;
	int			 fd, rv, saved_errno;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (*path == '\0') {
		snprintf(cause, causelen, "the socket path is empty");
		return (-1);
	}
	if (strlen(path) >= sizeof sun.sun_path) {
		snprintf(cause, causelen, "socket path %s is too long "
		    "(at most %zu bytes)", path, sizeof sun.sun_path - 1);
		return (-1);
	}
	memcpy(sun.sun_path, path, strlen(path));
	if (listen_clear_path(path, &sun, cause, causelen) == -1)
		return (-1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(cause, causelen, "socket: %s", strerror(errno));
		return (-1);
	}
	old_umask = umask(0177);
	rv = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	saved_errno = errno;
	umask(old_umask);
	if (rv == -1) {
		if (saved_errno == EADDRINUSE)
			snprintf(cause, causelen, "%s appeared while semd was "
			    "starting (another semd starting at the same "
			    "time?)", path);
		else
			snprintf(cause, causelen, "cannot create socket %s: %s",
			    path, strerror(saved_errno));
		close(fd);
		return (-1);
	}
	if (has_group && chown(path, (uid_t)-1, gid) == -1) {
		snprintf(cause, causelen, "cannot give socket %s to group %lu: "
		    "%s", path, (unsigned long)gid, strerror(errno));
		goto fail;
	}
	if (chmod(path, mode) == -1) {
		snprintf(cause, causelen, "cannot set mode %04o on socket %s: "
		    "%s", (unsigned int)mode, path, strerror(errno));
		goto fail;
	}
	if (listen(fd, SOMAXCONN) == -1) {
		snprintf(cause, causelen, "cannot listen on %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (stat(path, &st) == -1) {
		snprintf(cause, causelen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	snprintf(listen_path, sizeof listen_path, "%s", path);
	listen_dev = st.st_dev;
	listen_ino = st.st_ino;
	listen_have_path = 1;
	return (fd);

fail:
	unlink(path);
	close(fd);
	return (-1);
}

/* Switch accepting off and arrange to switch it on in a second. */
static void
listen_backoff(void)
{
	struct timeval	 tv;

	if (listen_backing_off)
		return;
	event_del(listen_ev);
	tv.tv_sec = SEMD_ACCEPT_BACKOFF_MS / 1000;
	tv.tv_usec = (SEMD_ACCEPT_BACKOFF_MS % 1000) * 1000;
	evtimer_add(listen_backoff_ev, &tv);
	listen_backing_off = 1;
}

/*
 * Switch accepting on again after a backoff, at once (a connection closed
 * and gave a descriptor back).  Does nothing unless backing off.
 */
void
listen_resume(void)
{
	if (!listen_backing_off)
		return;
	evtimer_del(listen_backoff_ev);
	listen_backing_off = 0;
	event_add(listen_ev, NULL);
}

/* The backoff is over: try accepting again. */
static void
listen_backoff_cb(evutil_socket_t fd, short events, void *arg)
{
	listen_backing_off = 0;
	event_add(listen_ev, NULL);
}

/* The listening socket is readable: accept what is waiting. */
static void
listen_accept_cb(evutil_socket_t fd, short events, void *arg)
{
	uint64_t	 now;
	int		 cfd, i;

	for (i = 0; i < LISTEN_ACCEPT_BATCH; i++) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd != -1) {
			conn_accept(cfd);
			continue;
		}
		switch (errno) {
		case EAGAIN:
#if EWOULDBLOCK != EAGAIN
		case EWOULDBLOCK:
#endif
			return;
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
			continue;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			/* Warn once a minute at most; this can last. */
			now = server_now_ms();
			if (listen_warned_ms == 0 ||
			    now - listen_warned_ms >= 60000) {
				log_warn("accept (pausing accepts for a second; "
				    "serving %zu connections)", conn_count());
				listen_warned_ms = now;
			} else
				log_debug("accept: %s", strerror(errno));
			listen_backoff();
			return;
		default:
			log_warn("accept");
			listen_backoff();
			return;
		}
	}
}

/*
 * Start accepting connections on fd (from listen_open, or inherited) in
 * server_base; each is handed to conn_accept().  Returns 0, or -1 with
 * errno ENOMEM.
 */
int
listen_start(int fd)
{
	listen_fd = fd;
	listen_ev = event_new(server_base, fd, EV_READ | EV_PERSIST,
	    listen_accept_cb, NULL);
	listen_backoff_ev = evtimer_new(server_base, listen_backoff_cb, NULL);
	if (listen_ev == NULL || listen_backoff_ev == NULL ||
	    event_add(listen_ev, NULL) == -1) {
		listen_close();
		errno = ENOMEM;
		return (-1);
	}
	return (0);
}

/*
 * The watch timer: when the socket file is gone, make its directory again
 * if we know how, bind a new socket there and accept on it instead of the
 * old one.  A failure is logged and retried at the next tick.
 */
static void
listen_watch_cb(evutil_socket_t tfd, short events, void *arg)
{
	struct stat	 st;
	struct event	*ev;
	char		 cause[512];
	int		 fd;

	timer_clear(tfd);
	if (lstat(listen_watch_path, &st) == 0 || errno != ENOENT)
		return;
	if (listen_watch_dir[0] != '\0' &&
	    sockpath_check_dir(listen_watch_dir, listen_watch_dirmode,
	    geteuid(), cause, sizeof cause) == -1)
		goto fail;
	listen_have_path = 0;	/* the old file is gone, not ours to unlink */
	fd = listen_open(listen_watch_path, listen_watch_mode,
	    listen_watch_has_group, listen_watch_gid, cause, sizeof cause);
	if (fd == -1)
		goto fail;
	ev = event_new(server_base, fd, EV_READ | EV_PERSIST, listen_accept_cb,
	    NULL);
	if (ev == NULL) {
		log_warnx("socket %s was removed; out of memory", 
		    listen_watch_path);
		close(fd);
		unlink(listen_watch_path);
		listen_have_path = 0;
		return;
	}
	if (listen_ev != NULL)
		event_free(listen_ev);
	if (listen_fd != -1)
		close(listen_fd);
	listen_fd = fd;
	listen_ev = ev;
	if (!listen_backing_off)
		event_add(listen_ev, NULL);
	listen_watch_failing = 0;
	log_warnx("socket %s was removed (a tmp cleaner?); listening on a "
	    "new one", listen_watch_path);
	return;

fail:
	/* Say it once, not every tick. */
	if (!listen_watch_failing)
		log_warnx("socket %s was removed and cannot be made again: %s",
		    listen_watch_path, cause);
	listen_watch_failing = 1;
}

/*
 * Check every interval_ms that path (where the daemon listens) still
 * exists, and bind it again with mode and, if has_group, group gid when
 * it is gone; dir, when not NULL, is the directory to make again first
 * (with dirmode, owned by us).  Call after listen_start().  Returns 0, or
 * -1 with errno (ENAMETOOLONG, or why no timer: see timer_every).
 */
int
listen_watch(const char *path, const char *dir, mode_t dirmode,
    mode_t mode, int has_group, gid_t gid, unsigned int interval_ms)
{
	if ((size_t)snprintf(listen_watch_path, sizeof listen_watch_path,
	    "%s", path) >= sizeof listen_watch_path ||
	    (size_t)snprintf(listen_watch_dir, sizeof listen_watch_dir, "%s",
	    dir != NULL ? dir : "") >= sizeof listen_watch_dir) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	listen_watch_dirmode = dirmode;
	listen_watch_mode = mode;
	listen_watch_has_group = has_group;
	listen_watch_gid = gid;
	if ((listen_watch_ev = timer_every(interval_ms, listen_watch_cb,
	    NULL)) == NULL)
		return (-1);
	return (0);
}

/*
 * Stop accepting, close the listening socket, and remove its file if it
 * is still the one listen_open() created (a newer daemon may have
 * replaced it since).  Safe to call more than once.
 */
void
listen_close(void)
{
	struct stat	 st;

	if (listen_ev != NULL) {
		event_free(listen_ev);
		listen_ev = NULL;
	}
	if (listen_backoff_ev != NULL) {
		event_free(listen_backoff_ev);
		listen_backoff_ev = NULL;
	}
	timer_free(listen_watch_ev);
	listen_watch_ev = NULL;
	listen_backing_off = 0;
	if (listen_fd != -1) {
		close(listen_fd);
		listen_fd = -1;
	}
	if (listen_have_path) {
		if (lstat(listen_path, &st) == 0 && st.st_dev == listen_dev &&
		    st.st_ino == listen_ino && unlink(listen_path) == -1)
			log_warn("unlink %s", listen_path);
		listen_have_path = 0;
	}
}
