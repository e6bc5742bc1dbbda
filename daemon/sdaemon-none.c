/*
 * sdaemon-none.c -- semd built without libsystemd: never socket-activated
 * (and says so when asked to be), notifies nobody.  sdaemon-systemd.c is
 * the same interface over sd-daemon; configure picks one.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "sdaemon.h"

/*
 * Return -1 (not activated), or -2 and a reason in cause when systemd
 * tried to pass sockets (LISTEN_FDS is set) to this build, which cannot
 * take them.
 */
int
sdaemon_listen_fd(char *cause, size_t causelen)
{
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
}

/* Return 0: without libsystemd nobody expects notifications. */
int
sdaemon_notifying(void)
{
	return (0);
}

/* Do nothing (no READY=1 without libsystemd). */
void
sdaemon_ready(const char *status)
{
	(void)status;
}

/* Do nothing (no STOPPING=1 without libsystemd). */
void
sdaemon_stopping(void)
{
}

/* Do nothing (no STATUS= without libsystemd). */
void
sdaemon_status(const char *status)
{
	(void)status;
}
