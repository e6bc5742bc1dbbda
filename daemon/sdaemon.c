/*
 * sdaemon.c -- socket activation and sd_notify for semd.
 */

#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "sdaemon.h"

/*
 * Return the single AF_UNIX stream listener systemd handed us, -1 if none,
 * -2 (and a reason in cause) if what was handed over cannot be used.
 */
int
sdaemon_listen_fd(char *cause, size_t causelen)
{
#ifdef HAVE_SYSTEMD
	int	 n, fd;

	n = sd_listen_fds(1);
	if (n < 0) {
		snprintf(cause, causelen, "socket activation: %s",
		    strerror(-n));
		return (-2);
	}
	if (n == 0)
		return (-1);
	if (n > 1) {
		snprintf(cause, causelen, "socket activation passed %d "
		    "sockets; semd takes exactly one (one ListenStream= in "
		    "semd.socket)", n);
		return (-2);
	}
	fd = SD_LISTEN_FDS_START;
	if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
		snprintf(cause, causelen, "socket activation passed fd %d, "
		    "which is not a listening AF_UNIX stream socket; semd "
		    "serves only ListenStream=/path sockets", fd);
		return (-2);
	}
	return (fd);
#else
	if (getenv("LISTEN_FDS") != NULL) {
		snprintf(cause, causelen, "socket activation requested "
		    "(LISTEN_FDS is set) but semd was built without "
		    "libsystemd; rebuild with --with-systemd or use -S");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDNAMES");
		return (-2);
	}
	return (-1);
#endif
}

/* Return 1 if systemd expects notifications from us. */
int
sdaemon_notifying(void)
{
#ifdef HAVE_SYSTEMD
	return (getenv("NOTIFY_SOCKET") != NULL);
#else
	return (0);
#endif
}

/* Send READY=1 and a status line. */
void
sdaemon_ready(const char *status)
{
#ifdef HAVE_SYSTEMD
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
#else
	(void)status;
#endif
}

/* Send STOPPING=1. */
void
sdaemon_stopping(void)
{
#ifdef HAVE_SYSTEMD
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
#endif
}

/* Send a new status line. */
void
sdaemon_status(const char *status)
{
#ifdef HAVE_SYSTEMD
	sd_notifyf(0, "STATUS=%s", status);
#else
	(void)status;
#endif
}
