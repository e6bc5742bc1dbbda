/*
 * rules.h -- the configuration in force: which semaphores are declared,
 * who may acquire and who may administer them.  Loaded at start (semd -c
 * FILE) and swapped as a whole on reload (SIGHUP, ADMIN reload): a file
 * that does not load changes nothing.
 */

#ifndef SEMD_RULES_H
#define SEMD_RULES_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

struct config;

/* Who is asking: SO_PEERCRED and the peer's supplementary groups. */
struct rules_who {
	uid_t		 uid;
	gid_t		 gid;
	const gid_t	*groups;
	size_t		 ngroups;
};

/*
 * Load path as the configuration (before the loop starts).  Returns the
 * loaded config, for main.c to take the [semd] settings from, or NULL
 * with a message in err.  The semaphores are declared by rules_apply().
 */
const struct config	*rules_load(const char *path, char *err,
			     size_t errlen);

/* Declare the semaphores of the loaded file in server_table. */
void			 rules_apply(void);

/*
 * Read the file again and, if it loads, put it in force at once:
 * declared semaphores are created or resized, those no longer declared
 * become ordinary (forgotten once idle).  A bad file changes nothing.
 * Returns 0 with a summary in msg, or -1 with the reason in msg.
 */
int			 rules_reload(char *msg, size_t len);

/* The file in force, or NULL when semd runs without one. */
const char		*rules_path(void);

/*
 * May who acquire name (len bytes)?  Returns 1, or 0 with a sentence
 * naming the rule in why.  O(log declared + list length).
 */
int			 rules_may_acquire(const struct rules_who *,
			     const char *name, size_t len, char *why,
			     size_t whylen);

/*
 * May who administer name (NULL: the whole daemon, as for reload)?
 * Root and the daemon's own uid always may; then [semd] admin, then the
 * semaphore's own admin list.  Returns 1, or 0 with a sentence in why.
 */
int			 rules_may_admin(const struct rules_who *,
			     const char *name, size_t len, char *why,
			     size_t whylen);

/* Is name declared by the file in force? */
int			 rules_declared(const char *name, size_t len);

/* Capacity the file declares for name, 0 if not declared. */
uint32_t		 rules_capacity(const char *name, size_t len);

/* Does any rule name a group (so peers' groups must be looked up)? */
int			 rules_need_groups(void);

/* Free the configuration at exit. */
void			 rules_free(void);

#endif /* SEMD_RULES_H */
