/*
 * monoclock.h -- milliseconds of CLOCK_MONOTONIC, shared by libsemd and
 * semrun (an internal header: not installed, not part of semd.h).
 */

#ifndef SEMD_MONOCLOCK_H
#define SEMD_MONOCLOCK_H

#include <stdint.h>

int64_t	monoclock_ms(void);

#endif /* SEMD_MONOCLOCK_H */
