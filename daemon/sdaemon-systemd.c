/*
 * sdaemon-systemd.c -- socket activation and sd_notify for semd, over
 * libsystemd's sd-daemon.  sdaemon-none.c is the build without it.
 */

#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "sdaemon.h"

/*
 * Return the single AF_UNIX stream listener systemd handed us, -1 if none,
 * -2 (and a reason in cause) if what was handed over cannot be used.
 */
int
sdaemon_listen_fd(char *cause, size_t causelen)
{
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
}

/* Return 1 if systemd expects notifications from us. */
int
sdaemon_notifying(void)
{
	return (getenv("NOTIFY_SOCKET") != NULL);
}

/* Send READY=1 and a status line. */
void
sdaemon_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

/* Send STOPPING=1. */
void
sdaemon_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

/* Send a new status line. */
void
sdaemon_status(const char *status)
{
	sd_notifyf(0, "STATUS=%s", status);
}
