/*
 * stdfds.c -- the stdio rule: fds 0-2 are open before anything else is.
 * Built into libsemdcore, so both libsemd (semd_open) and semrun (before
 * it opens a pipe or the connection) use this one copy; libsemd.so does
 * not export it (only semd_ names).
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "stdfds.h"

/*
 * Make sure fds 0-2 are open, on /dev/null when they were closed (as some
 * daemons start their children): otherwise the next descriptor opened --
 * a pipe, the connection -- would be someone's stdin, stdout or stderr,
 * and a child's output written there would go into the protocol stream,
 * break the connection and free its slots.  Costs three fcntl calls.
 * Returns 0, or -1 when /dev/null cannot be opened on one of them.
 */
int
stdfds_open(void)
{
	int	fd;

	for (fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		/* open() returns the lowest free descriptor: fd. */
		if (open("/dev/null", fd == STDIN_FILENO ? O_RDONLY :
		    O_WRONLY) != fd)
			return (-1);
	}
	return (0);
}
