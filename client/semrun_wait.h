/*
 * semrun_wait.h -- what semrun -v says while it waits: its place in line
 * and an estimate of the wait from the semaphore's recent hold times,
 * said again whenever the place changes.
 */

#ifndef SEMD_SEMRUN_WAIT_H
#define SEMD_SEMRUN_WAIT_H

#include <stdint.h>
#include <stdio.h>

#include "semd.h"

#define SEMRUN_WAIT_POLL_MS	1000	/* how often to look while waiting */

struct semrun_wait {
	int		 active;	/* queued, and -v */
	FILE		*out;		/* where to say it (stderr) */
	struct semd	*semd;
	const char	*name;		/* the (first) semaphore */
	uint32_t	 weight;	/* ours */
	uint32_t	 position;	/* last said; 1 = next */
	int		 said_estimate;	/* an estimate was given */
	int		 changed;	/* the position moved: say it */
	uint64_t	 status_id;	/* STATUS in flight, or 0 */
	uint64_t	 stats_id;	/* STATS in flight, or 0 */
	int64_t		 next_ms;	/* when to ask again */
	/* From the last answers: */
	uint32_t	 capacity;
	uint32_t	 held;
	uint32_t	 ahead_weight;	/* weight queued before us */
	uint64_t	 recent_hold_ms;
};

void	semrun_wait_start(struct semrun_wait *, FILE *, struct semd *,
	    const char *name, uint32_t weight, uint32_t position,
	    int64_t now_ms);
int	semrun_wait_timeout(const struct semrun_wait *, int64_t now_ms);
void	semrun_wait_tick(struct semrun_wait *, int64_t now_ms);
int	semrun_wait_event(struct semrun_wait *, struct semd_event *);
void	semrun_wait_stop(struct semrun_wait *);
uint64_t semrun_wait_estimate(uint32_t capacity, uint32_t held,
	    uint32_t ahead_weight, uint32_t weight, uint64_t recent_hold_ms);

#endif /* SEMD_SEMRUN_WAIT_H */
