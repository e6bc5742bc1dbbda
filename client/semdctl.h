/*
 * semdctl.h -- what the commands of semdctl share: semdctl.c (status,
 * ping, the helpers), semdctl-stats.c (stats,
 * metrics) and the live view in semdctl-watch.c.
 */

#ifndef SEMD_SEMDCTL_H
#define SEMD_SEMDCTL_H

#include <sys/types.h>
#include <stdint.h>
#include <stdio.h>

#include "semd.h"
#include "usage.h"

#define SEMDCTL_CMDLINE_MAX	4096	/* bytes of /proc/PID/cmdline read */

struct semdctl {
	const char	*socket;	/* -S, or NULL */
	int		 verbose;
	char		 path[512];	/* the socket actually used */
	int		 is_default;	/* path is the per-user default */
};

/* semdctl.c */
void		 semdctl_usage(FILE *);
/* A usage error: "semdctl: message" and semdctl_usage; exits EX_USAGE. */
#define semdctl_usage_error(...)					\
	usage_error("semdctl", semdctl_usage, __VA_ARGS__)
int		 semdctl_fail(struct semdctl *, const struct semd_error *);
void		 semdctl_json_name(const char *, int, char **, int *,
		     const char **);
int		 semdctl_flush(void);
struct semd	*semdctl_open(struct semdctl *, struct semd_error *);
ssize_t		 semdctl_cmdline(const struct semd_party *, char *, size_t);
void		 semdctl_duration(uint64_t, char *, size_t);
const char	*semdctl_user(uid_t);
void		 semdctl_json_string(const char *);
void		 semdctl_json_sem(size_t, const char *);

/* semdctl-stats.c */
int		 semdctl_stats(struct semdctl *, int, char **);
int		 semdctl_metrics(struct semdctl *, int, char **);
void		 semdctl_ms(double, char *, size_t);

/* semdctl-watch.c */
int		 semdctl_watch(struct semdctl *, int, char **);

#endif /* SEMD_SEMDCTL_H */
