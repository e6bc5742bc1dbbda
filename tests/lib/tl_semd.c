/*
 * tl_semd.c -- helpers over libsemd's public API (semd.h) for the tests
 * that link libsemd.  See tl.h.
 */

#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#include "semd.h"
#include "tl.h"

/*
 * The next event of an event-loop connection, waiting for it (writing
 * queued requests meanwhile) at most timeout_ms.  1 with *ev filled, 0
 * when none came in time, -1 with err filled.
 */
int
tl_semd_next(struct semd *sd, struct semd_event *ev, int timeout_ms,
    struct semd_error *err)
{
	struct pollfd	pfd;
	int64_t		deadline = tl_now_ms() + timeout_ms, left;
	int		r;

	for (;;) {
		if ((r = semd_process(sd, ev, err)) != 0)
			return (r);
		if ((left = deadline - tl_now_ms()) < 0)
			return (0);
		pfd.fd = semd_fd(sd);
		pfd.events = POLLIN | (semd_want_write(sd) ? POLLOUT : 0);
		pfd.revents = 0;
		if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR) {
			memset(err, 0, sizeof *err);
			err->code = SEMD_E_SYSTEM;
			err->sys_errno = errno;
			strcpy(err->message, "poll failed");
			return (-1);
		}
		if ((pfd.revents & POLLOUT) && semd_flush(sd, err) == -1)
			return (-1);
	}
}
