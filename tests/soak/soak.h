/*
 * soak.h -- what the parts of the soak test share.
 *
 * The soak test (make soak) runs a real semd for a while under many
 * clients doing random things, and checks the bound, FIFO order, the
 * daemon's own reports, that every slot comes back, and the daemon's
 * memory.  soak.c runs the show and checks the daemon's STATUS; clients.c
 * has the clients (event-loop workers, the FIFO prober, the semrun lanes
 * and the CMD they run); sweep.c checks the event log afterwards.
 *
 * The event log is one file opened O_APPEND by every process.  A client
 * appends one line per event with one write(2):
 *	G <ns> <sem> <weight> <tag>	after it received ACQUIRED
 *	R <ns> <sem> <weight> <tag>	before it sends RELEASE or closes
 * <ns> is CLOCK_MONOTONIC in nanoseconds (one clock for every process),
 * <tag> names one grant.  So each logged interval lies within the time
 * the daemon really counted the slot as held, and an overlap in the log
 * is an overlap in the daemon.
 */

#ifndef SOAK_H
#define SOAK_H

#include <sys/types.h>

#include <stdint.h>

#include "tl.h"

#define SOAK_TAG_MAX		48
#define SOAK_DEADLINE_NS	(30 * 1000000000LL)	/* safety net */

/* A semaphore the soak uses, with the one capacity everybody declares. */
struct soak_sem {
	const char	*name;
	uint32_t	 capacity;
	uint32_t	 max_weight;	/* requests weigh 1..max_weight */
};

/* The semaphores of the random clients; the FIFO prober has its own. */
extern const struct soak_sem	soak_sems[];
extern const int		soak_nsems;
extern const struct soak_sem	soak_fifo_sem;

/* What every process needs to know, set up before the forks. */
struct soak_config {
	const char	*sock;		/* the daemon's socket */
	const char	*semrun;	/* the semrun binary */
	char		 self[4096];	/* this binary, to run as CMD */
	char		 events[4096];	/* the event log */
	char		 dir[96];	/* the temporary directory */
	int		 events_fd;	/* O_APPEND, close-on-exec */
	int64_t		 end_ns;	/* when the clients stop */
	uint64_t	 seed;
	int		 workers;	/* worker processes */
	int		 conns;		/* connections per worker */
	int		 lanes;		/* semrun lanes */
	int		 verbose;
};

extern struct soak_config	soak_conf;

/* What a client process did, sent to the parent through a pipe. */
struct soak_stats {
	char		 role;		/* 'w'orker, 'f'ifo, 'l'ane */
	uint64_t	 requests;	/* requests sent (incl. connects) */
	uint64_t	 grants;	/* ACQUIRED received */
	uint64_t	 timeouts;	/* TIMEOUT for a waiting request */
	uint64_t	 try_fails;	/* TIMEOUT for a try */
	uint64_t	 withdrawals;
	uint64_t	 disconnects;	/* connections closed while in use */
	uint64_t	 fifo_steps;	/* serialised steps of the prober */
	uint64_t	 fifo_grants;	/* grants checked against the model */
	uint64_t	 semruns;
	uint64_t	 semrun_kills;	/* semrun killed with SIGKILL */
	uint64_t	 cmd_kills;	/* CMD killed with SIGKILL */
	uint64_t	 sigterms;	/* semrun sent SIGTERM */
	uint64_t	 violations;
};

/* A small PRNG (xorshift64*), one per process. */
struct soak_rng {
	uint64_t	 s;
};

/* soak.c */
void		 soak_rng_init(struct soak_rng *, uint64_t);
uint64_t	 soak_rand(struct soak_rng *);
uint32_t	 soak_below(struct soak_rng *, uint32_t);
void		 soak_violation(struct soak_stats *, const char *, ...)
		     __attribute__((format(printf, 2, 3)));
void		 soak_log(char, const char *, uint32_t, const char *);
extern const char *soak_role;

/* clients.c */
void		 soak_worker(int, struct soak_stats *);
void		 soak_fifo(struct soak_stats *);
void		 soak_lane(int, struct soak_stats *);
int		 soak_cmd(int, char **);

/* sweep.c */
struct soak_sweep {
	uint64_t	 events;
	uint64_t	 intervals;
	uint32_t	 max_held[16];	/* per soak_sems, then the FIFO sem */
	uint64_t	 violations;
};
int		 soak_sweep(const char *, struct soak_sweep *);

#endif /* SOAK_H */
