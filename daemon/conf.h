/*
 * conf.h -- the daemon's configuration file (semd -c FILE): declared
 * semaphores, who may use and administer them, and the [semd] settings.
 *
 * The file is INI, read by libinih; this module turns it into a struct
 * config or refuses it as a whole with "FILE:LINE: message".  It does no
 * I/O besides reading the file and resolving user and group names
 * (getpwnam, getgrnam), keeps no global state and never logs, so the
 * daemon can load a new file next to the running one and swap them
 * atomically, and the fuzzer and unit tests can call it directly.
 *
 *	[semd]
 *	undeclared = allow | deny	names not declared below
 *	grace = 5s			restart grace period
 *	admin = @ops alice		who may administer every name, reload
 *	max-connections = 4096		... the limits of semd(8)
 *
 *	[sem NAME]
 *	capacity = 3			required, but for 0 with a rate
 *	rate = 10/s			grants per second (also /min, /h)
 *	burst = 5
 *	allow = alice @deploy		who may acquire (default: everyone)
 *	admin = @ops			who may resize, drain, revoke
 *	scope = local | cluster		cluster: shared through etcd
 *
 *	[cluster]			(semd(8), CLUSTER SEMAPHORES)
 *	endpoints = http://10.0.0.5:2379, http://10.0.0.6:2379
 *	prefix = /semd			etcd key prefix
 *	lease-ttl = 10s			how long a dead host's slots stay
 *	host-id = web1			default: /etc/machine-id
 *	names = api-			undeclared names starting with it
 *					are cluster semaphores too
 */

#ifndef SEMD_CONF_H
#define SEMD_CONF_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define CONFIG_MAX_FILE		(1024 * 1024)	/* bytes of a config file */
#define CONFIG_MAX_SEMS		65536		/* [sem] sections */
#define CONFIG_MAX_WHO		4096		/* names in one allow/admin */

/* A list of users and groups (allow = alice @deploy 1001). */
struct config_who {
	uid_t		*uids;
	size_t		 nuids;
	gid_t		*gids;
	size_t		 ngids;
};

enum config_scope {
	CONFIG_SCOPE_LOCAL,
	CONFIG_SCOPE_CLUSTER,
};

/* One [sem NAME] section. */
struct config_sem {
	char			 name[PROTO_MAX_NAME + 1];
	size_t			 name_len;
	unsigned int		 line;		/* of its [sem NAME] header */
	uint32_t		 capacity;	/* 0: none (only with a rate) */
	int			 has_rate;
	double			 rate;		/* grants per second */
	int			 has_burst;
	uint32_t		 burst;
	int			 has_allow;	/* absent: everyone may */
	struct config_who	 allow;
	struct config_who	 admin;
	enum config_scope	 scope;
};

/* Which [semd] limits the file set (config.has). */
#define CONFIG_HAS_MAX_CONNECTIONS	0x0001
#define CONFIG_HAS_MAX_PENDING		0x0002
#define CONFIG_HAS_MAX_HOLDS		0x0004
#define CONFIG_HAS_MAX_PENDING_PER_UID	0x0008
#define CONFIG_HAS_MAX_HOLDS_PER_UID	0x0010
#define CONFIG_HAS_MAX_SEMS		0x0020
#define CONFIG_HAS_MAX_FRAME		0x0040
#define CONFIG_HAS_MAX_OUTPUT		0x0080
#define CONFIG_HAS_IDLE_EXIT		0x0100
#define CONFIG_HAS_GRACE		0x0200
#define CONFIG_HAS_MAX_OUTPUT_TOTAL	0x1000
#define CONFIG_HAS_MAX_CONNECTIONS_PER_UID 0x2000

/* The [cluster] section (present 0: none). */
struct config_cluster {
	int			 present;
	unsigned int		 line;
	char			 endpoints[1024];
	char			 prefix[256];	/* "" : the default */
	uint32_t		 lease_ttl;	/* seconds, 0: the default */
	char			 host_id[65];	/* "" : /etc/machine-id */
	char			 names[PROTO_MAX_NAME + 1]; /* "" : none */
};

/* A whole configuration file, as loaded. */
struct config {
	char			*path;
	int			 undeclared_deny;
	struct config_who	 admin;		/* [semd] admin */
	unsigned int		 has;		/* CONFIG_HAS_* */
	uint32_t		 max_connections;
	uint32_t		 max_pending;
	uint32_t		 max_holds;
	uint32_t		 max_pending_per_uid;
	uint32_t		 max_holds_per_uid;
	uint32_t		 max_sems;
	uint32_t		 max_frame;
	uint64_t		 max_output;
	uint64_t		 max_output_total;
	uint32_t		 max_connections_per_uid;
	uint32_t		 idle_exit;	/* seconds */
	uint64_t		 grace_ms;
	struct config_sem	*sems;		/* sorted by name */
	size_t			 nsems;
	struct config_cluster	 cluster;
};

/*
 * Read and parse the file at path.  Returns a new config (free it with
 * config_free), or NULL with one line in err (errlen bytes): "PATH:LINE:
 * message" for a bad file, "PATH: message" when it cannot be read.
 * Cost: O(file size + n log n) for n sections, plus a user or group
 * database lookup per name in allow/admin lists.
 */
struct config		*config_load(const char *path, char *err,
			     size_t errlen);

/*
 * Parse len bytes of buf as the contents of a file called path (used in
 * messages).  Same contract as config_load.
 */
struct config		*config_parse(const char *path, const char *buf,
			     size_t len, char *err, size_t errlen);

/* Free a config from config_load or config_parse; NULL is fine. */
void			 config_free(struct config *);

/*
 * The declared semaphore called name (len bytes), or NULL.  O(log n).
 */
const struct config_sem	*config_find(const struct config *,
			     const char *name, size_t len);

/*
 * Is the client with uid, primary gid and supplementary groups (n of
 * them) on the list?  O(list * (1 + n)).
 */
int			 config_who_match(const struct config_who *,
			     uid_t uid, gid_t gid, const gid_t *groups,
			     size_t ngroups);

/*
 * Write the list as the file spelled it, as far as possible ("alice
 * @deploy 1001"), into buf (len bytes).  Returns buf.
 */
char			*config_who_str(const struct config_who *, char *buf,
			     size_t len);

/*
 * Parse a decimal number from min to max; with suffixes, K, M or G
 * (powers of 1024) may follow.  Returns 0 with *out set, or -1.  Also
 * semd's own numeric options.
 */
int			 config_parse_number(const char *, uint64_t min,
			     uint64_t max, int suffixes, uint64_t *out);

/*
 * Parse a rate: "10/s", "0.5/s", "30/min", "2/h", or a plain number of
 * grants per second.  Returns 0 with *rate set (grants per second,
 * PROTO_MIN_RATE to PROTO_MAX_RATE), or -1.
 */
int			 config_parse_rate(const char *, double *rate);

#endif /* SEMD_CONF_H */
