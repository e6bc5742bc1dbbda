/*
 * daemon.h -- what the parts of the daemon share: its configuration, the
 * event base, the semaphore table, and the glue that runs after every
 * change to the table (deliver events, re-arm the deadline timer, idle
 * exit).  The table itself lives in sem.c; this file is about the daemon.
 */

#ifndef SEMD_DAEMON_H
#define SEMD_DAEMON_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct sem_table;
struct state;

#define SEMD_DEF_MAX_CONNECTIONS	4096
#define SEMD_DEF_MAX_PENDING		1024
#define SEMD_DEF_MAX_HOLDS		1024
#define SEMD_DEF_MAX_PENDING_PER_UID	16384
#define SEMD_DEF_MAX_HOLDS_PER_UID	16384
#define SEMD_DEF_MAX_SEMS		65536
#define SEMD_DEF_MAX_OUTPUT		(1024 * 1024)
#define SEMD_DEF_MAX_OUTPUT_TOTAL	(64 * 1024 * 1024)
#define SEMD_DEF_MAX_CONNECTIONS_PER_UID 1024
#define SEMD_DEF_SOCKET_MODE		0600
#define SEMD_SYSTEM_SOCKET_MODE		0666	/* --system */
#define SEMD_WATCH_MS			2000	/* is the socket file there? */
#define SEMD_MIN_MAX_FRAME		64
#define SEMD_STATUS_MAX_PARTIES		4000	/* holders + waiters listed */
#define SEMD_STATUS_MAX_SEMS		4000	/* semaphores listed */
#define SEMD_STATS_MAX_SEMS		1000	/* collected for STATS (fewer
						   fit in one frame) */
#define SEMD_ACCEPT_BACKOFF_MS		1000	/* after EMFILE/ENFILE */
#define SEMD_CLOSE_LINGER_SEC		5	/* to flush a last ERROR */
#define SEMD_SYSTEM_SOCKET		"/run/semd/semd.sock"
#ifndef SEMD_CONFIG_FILE			/* set by the build: sysconfdir */
#define SEMD_CONFIG_FILE		"/etc/semd/semd.conf"
#endif
#define SEMD_DEF_GRACE_MS		5000	/* --grace */
#define SEMD_MAX_GRACE_MS		3600000

/* The daemon's configuration, filled from the command line by main.c. */
struct server_config {
	char		 socket_path[108];	/* sizeof sun_path */
	mode_t		 socket_mode;
	int		 has_socket_group;
	gid_t		 socket_group;
	uint32_t	 max_connections;	/* 0: unlimited */
	uint32_t	 max_pending;		/* per connection, 0: unlimited */
	uint32_t	 max_holds;		/* per connection, 0: unlimited */
	uint32_t	 max_pending_per_uid;	/* 0: unlimited */
	uint32_t	 max_holds_per_uid;	/* 0: unlimited */
	uint32_t	 max_sems;		/* 0: unlimited */
	uint32_t	 max_frame;		/* request body bytes */
	size_t		 max_output;		/* unsent bytes per connection */
	size_t		 max_output_total;	/* unsent bytes, all of them */
	uint32_t	 max_connections_per_uid; /* 0: unlimited */
	unsigned int	 idle_exit;		/* seconds, 0: never */
	uint64_t	 grace_ms;		/* --grace, 0: off */
	const char	*state_dir;		/* --state-dir, or NULL */
	int		 foreground;
	int		 system;		/* --system */
	int		 verbose;
	char		 log_file[4096];	/* --log-file, or "" */
};

extern struct server_config	 server_conf;
extern struct event_base	*server_base;
extern struct sem_table		*server_table;	/* conn.c's: conn_init */
extern struct state		*server_state;	/* NULL: no state file */

/* main.c */
uint64_t	server_now_ms(void);
uint64_t	server_uptime_ms(void);
void		server_settle(void);

#endif /* SEMD_DAEMON_H */
