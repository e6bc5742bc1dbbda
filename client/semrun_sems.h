/*
 * semrun_sems.h -- semrun's list of semaphores: the positional part of
 * its command line (NAME [CAPACITY] [NAME [CAPACITY]]... --) and the
 * options that set a weight, rate or burst for all names or one.
 */

#ifndef SEMD_SEMRUN_SEMS_H
#define SEMD_SEMRUN_SEMS_H

#include <stddef.h>
#include <stdint.h>

#include "semd.h"

/* A setting given as an option, for every name or for NAME= only. */
struct semrun_setting {
	const char	*name;		/* NULL: every name */
	size_t		 name_len;
	uint32_t	 value;		/* weight or burst */
	double		 rate;		/* --rate */
};

#define SEMRUN_MAX_SETTINGS	(3 * SEMD_MAX_SEMS + 8)

struct semrun_sems {
	struct semd_want	 v[SEMD_MAX_SEMS];
	size_t			 n;
	char			 label[512];	/* "db, gpu", for messages */

	struct semrun_setting	 weights[SEMRUN_MAX_SETTINGS];
	size_t			 nweights;
	struct semrun_setting	 rates[SEMRUN_MAX_SETTINGS];
	size_t			 nrates;
	struct semrun_setting	 bursts[SEMRUN_MAX_SETTINGS];
	size_t			 nbursts;
};

/*
 * Record option -w/--weight, --rate or --burst (which: 'w', 'r', 'b')
 * with its argument, VALUE or NAME=VALUE.  Returns 0, or -1 with a
 * sentence in why (len bytes).
 */
int	semrun_sems_option(struct semrun_sems *, int which, const char *arg,
	    char *why, size_t len);

/*
 * Parse the names from argv[*optind] up to "--" (left at *optind): NAME
 * [CAPACITY] pairs, a CAPACITY being an all-digits word right after a
 * NAME; then apply the recorded options.  Returns 0, or -1 with a
 * sentence in why.
 */
int	semrun_sems_parse(struct semrun_sems *, int argc, char **argv,
	    int *optind, char *why, size_t len);

/*
 * Parse a rate: N, N/s, N/m (or /min), N/h, N fractional; grants per
 * second in *rate.  Returns 0 or -1.
 */
int	semrun_parse_rate(const char *, double *rate);

#endif /* SEMD_SEMRUN_SEMS_H */
