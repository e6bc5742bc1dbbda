/*
 * monoclock.c -- the one monotonic clock of libsemd (reclaim's deadline)
 * and semrun (timeouts, --kill-after, the jobserver).  Built into
 * libsemdcore; libsemd.so does not export it (only semd_ names).
 */

#include "config.h"

#include <stdint.h>
#include <time.h>

#include "monoclock.h"

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t
monoclock_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}
