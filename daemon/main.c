/*
 * main.c -- semd: command line, the listening socket, daemonizing,
 * signals, the timers (waiter deadlines, idle exit) and the event loop.
 *
 * Everything runs in one thread on one libevent base.  After every event
 * that may change the semaphore table, server_settle() delivers the table's
 * events (grants and expiries for other connections), re-arms the single
 * deadline timer if the earliest deadline moved, and arms or cancels the
 * idle-exit timer.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "cluster.h"
#include "conf.h"
#include "conn.h"
#include "listen.h"
#include "log.h"
#include "usage.h"
#include "proto.h"
#include "rules.h"
#include "sdaemon.h"
#include "sem.h"
#include "sockpath.h"
#include "daemon.h"
#include "timer.h"
#include "grace.h"
#include "state.h"

struct server_config	 server_conf;
struct event_base	*server_base;
struct state		*server_state;

static struct event	*server_deadline_ev;	/* reads server_deadline_fd */
static int		 server_deadline_fd = -1;	/* a timerfd */
static int		 server_deadline_armed;
static uint64_t		 server_deadline_at;	/* valid if armed */
static struct event	*server_idle_ev;
static int		 server_idle_armed;
static int		 server_settling;
static int		 server_reexec_asked;	/* SIGUSR2 */
#define SEMD_NSIGS	4	/* watched: TERM, INT, HUP, USR2 */
static const int	 server_sigs[SEMD_NSIGS] = { SIGTERM, SIGINT, SIGHUP,
			     SIGUSR2 };
#define SEMD_REEXEC_FD	3	/* SD_LISTEN_FDS_START */
static char		 server_exe[PATH_MAX];	/* our binary, for SIGUSR2 */
static char		 server_socket_dir[sizeof server_conf.socket_path];
static mode_t		 server_socket_dirmode;
static const char	*server_config_path;	/* -c */
/* --cluster-*: they win over the file's [cluster]. */
static const char	*cl_endpoints, *cl_prefix, *cl_host;
static unsigned int	 cl_ttl;

static void	server_cluster_config(const struct config *);
static unsigned int	 server_opts_given;	/* CONFIG_HAS_* set by options */

enum {
	OPT_SOCKET_MODE = 256,
	OPT_SOCKET_GROUP,
	OPT_MAX_CONNECTIONS,
	OPT_MAX_PENDING,
	OPT_MAX_HOLDS,
	OPT_MAX_PENDING_PER_UID,
	OPT_MAX_HOLDS_PER_UID,
	OPT_MAX_SEMS,
	OPT_MAX_FRAME,
	OPT_MAX_OUTPUT,
	OPT_MAX_OUTPUT_TOTAL,
	OPT_MAX_CONNECTIONS_PER_UID,
	OPT_IDLE_EXIT,
	OPT_SYSTEM,
	OPT_CLUSTER_ENDPOINTS,
	OPT_CLUSTER_PREFIX,
	OPT_CLUSTER_TTL,
	OPT_CLUSTER_HOST,
	OPT_CLUSTER_SEM,
	OPT_CLUSTER_NAMES,
	OPT_LOG_FILE,
	OPT_GRACE,
	OPT_STATE_DIR,
};

static const struct option server_longopts[] = {
	{ "socket",		required_argument,	NULL, 'S' },
	{ "config",		required_argument,	NULL, 'c' },
	{ "foreground",		no_argument,		NULL, 'f' },
	{ "socket-mode",	required_argument,	NULL, OPT_SOCKET_MODE },
	{ "socket-group",	required_argument,	NULL, OPT_SOCKET_GROUP },
	{ "max-connections",	required_argument,	NULL,
	    OPT_MAX_CONNECTIONS },
	{ "max-pending",	required_argument,	NULL, OPT_MAX_PENDING },
	{ "max-holds",		required_argument,	NULL, OPT_MAX_HOLDS },
	{ "max-pending-per-uid", required_argument,	NULL,
	    OPT_MAX_PENDING_PER_UID },
	{ "max-holds-per-uid",	required_argument,	NULL,
	    OPT_MAX_HOLDS_PER_UID },
	{ "max-sems",		required_argument,	NULL, OPT_MAX_SEMS },
	{ "max-frame",		required_argument,	NULL, OPT_MAX_FRAME },
	{ "max-output",		required_argument,	NULL, OPT_MAX_OUTPUT },
	{ "max-output-total",	required_argument,	NULL,
	    OPT_MAX_OUTPUT_TOTAL },
	{ "max-connections-per-uid", required_argument,	NULL,
	    OPT_MAX_CONNECTIONS_PER_UID },
	{ "idle-exit",		required_argument,	NULL, OPT_IDLE_EXIT },
	{ "cluster-endpoints",	required_argument,	NULL,
	    OPT_CLUSTER_ENDPOINTS },
	{ "cluster-prefix",	required_argument,	NULL, OPT_CLUSTER_PREFIX },
	{ "cluster-lease-ttl",	required_argument,	NULL, OPT_CLUSTER_TTL },
	{ "cluster-host-id",	required_argument,	NULL, OPT_CLUSTER_HOST },
	{ "cluster-sem",	required_argument,	NULL, OPT_CLUSTER_SEM },
	{ "cluster-names",	required_argument,	NULL, OPT_CLUSTER_NAMES },
	{ "system",		no_argument,		NULL, OPT_SYSTEM },
	{ "log-level",		required_argument,	NULL, 'l' },
	{ "log-file",		required_argument,	NULL, OPT_LOG_FILE },
	{ "grace",		required_argument,	NULL, OPT_GRACE },
	{ "state-dir",		required_argument,	NULL, OPT_STATE_DIR },
	{ "verbose",		no_argument,		NULL, 'v' },
	{ "quiet",		no_argument,		NULL, 'q' },
	{ "version",		no_argument,		NULL, 'V' },
	{ "help",		no_argument,		NULL, 'h' },
	{ NULL,			0,			NULL, 0 }
};

/* Print the synopsis to f, as in semd(8). */
static void
server_synopsis(FILE *f)
{
	fputs(
"usage: semd [-fqv] [-c file] [-S path | --system] [--socket-mode octal]\n"
"            [--socket-group group] [--max-connections n]\n"
"            [--max-connections-per-uid n] [--max-pending n] [--max-holds n]\n"
"            [--max-pending-per-uid n] [--max-holds-per-uid n]\n"
"            [--max-sems n] [--max-frame bytes] [--max-output bytes]\n"
"            [--max-output-total bytes] [--idle-exit secs]\n"
"            [--cluster-endpoints urls] [--cluster-prefix key]\n"
"            [--cluster-lease-ttl secs] [--cluster-host-id id]\n"
"            [--cluster-sem name] [--cluster-names prefix] [-l level]\n"
"            [--log-file path] [--grace secs] [--state-dir dir]\n"
"       semd -h | -V\n", f);
}

/* Print the help text to f. */
static void
server_help(FILE *f)
{
	server_synopsis(f);
	fprintf(f,
"\n"
"semd holds named counting semaphores for local processes (see semrun(1)).\n"
"\n"
"  -S, --socket PATH       listen on PATH; default $SEMD_SOCKET, else the\n"
"                          per-user /tmp/semd-UID/semd.sock\n"
"      --system            be the system daemon: listen on\n"
"                          /run/semd/semd.sock (creating /run/semd),\n"
"                          socket mode 0666 unless --socket-mode\n"
"  -c, --config FILE       read declared semaphores, access rules and\n"
"                          settings from FILE (see semd(8)); options\n"
"                          given here win over the file's [semd] keys.\n"
"                          The system daemon reads " SEMD_CONFIG_FILE "\n"
"                          when present\n"
"  -f, --foreground        do not daemonize; log to stderr\n"
"      --socket-mode OCTAL permissions of the socket (default 0600;\n"
"                          0666 with --system)\n"
"      --socket-group GROUP\n"
"                          group of the socket, a name or a number\n"
"      --max-connections N clients at once; more are answered ERROR LIMIT\n"
"                          and closed (default 4096, 0 = no limit)\n"
"      --max-connections-per-uid N\n"
"                          connections of one uid at once; more are\n"
"                          answered ERROR LIMIT and closed (default 1024,\n"
"                          0 = no limit)\n"
"      --max-pending N     waiting ACQUIREs per connection (default 1024,\n"
"                          0 = no limit)\n"
"      --max-holds N       semaphores held per connection (default 1024,\n"
"                          0 = no limit)\n"
"      --max-pending-per-uid N\n"
"                          waiting ACQUIREs of all the connections of one\n"
"                          uid (default 16384, 0 = no limit)\n"
"      --max-holds-per-uid N\n"
"                          holds of all the connections of one uid, one\n"
"                          per connection and semaphore held, whatever\n"
"                          its weight (default 16384, 0 = no limit)\n"
"      --max-sems N        semaphores alive at once (default 65536,\n"
"                          0 = no limit)\n"
"      --max-frame BYTES   largest request body, %d to %d (default %d)\n"
"      --max-output BYTES  unread replies after which a client is\n"
"                          disconnected (default 1M, at least 65540;\n"
"                          K, M, G suffixes)\n"
"      --max-output-total BYTES\n"
"                          unread replies of all clients together; past\n"
"                          it the clients with the most unread output are\n"
"                          disconnected first (default 64M, at least\n"
"                          65540; K, M, G suffixes)\n"
"      --idle-exit SECS    exit after SECS without connections and\n"
"                          semaphores (default 0 = never)\n"
"      --cluster-endpoints URLS\n"
"                          etcd v3 endpoints, comma-separated\n"
"                          (http://HOST:PORT): turns on cluster semaphores\n"
"      --cluster-prefix KEY\n"
"                          etcd key prefix of the pools (default /semd)\n"
"      --cluster-lease-ttl SECS\n"
"                          TTL of this semd's etcd lease: how long a dead\n"
"                          host's slots stay taken (default 10)\n"
"      --cluster-host-id ID\n"
"                          this host in etcd (default /etc/machine-id)\n"
"      --cluster-sem NAME  NAME is a cluster semaphore (repeatable)\n"
"      --cluster-names PREFIX\n"
"                          every name starting with PREFIX is a cluster\n"
"                          semaphore\n"
"      --grace SECS        after a restart, keep the grants of the previous\n"
"                          semd for SECS so that their holders can reclaim\n"
"                          them (default 5; 500ms also works; 0 = off)\n"
"      --state-dir DIR     keep the state file there (default\n"
"                          $RUNTIME_DIRECTORY, else beside the socket)\n"
"  -l, --log-level LEVEL   what to log: quiet, warning (the default),\n"
"                          events (also each grant, release, timeout,\n"
"                          withdrawal and revoke, one key=value line each),\n"
"                          info (also connections and errors sent to\n"
"                          clients), debug (also every request)\n"
"      --log-file PATH     log to PATH instead of syslog once daemonized\n"
"                          (default without syslog: semd.log next to the\n"
"                          socket)\n"
"  -v, --verbose           log level info; twice: debug\n"
"  -q, --quiet             log only fatal errors\n"
"  -V, --version           print the version and exit\n"
"  -h, --help              print this help and exit\n",
	    SEMD_MIN_MAX_FRAME, PROTO_MAX_FRAME, PROTO_MAX_FRAME);
}

/* A usage error: "semd: message" and the synopsis; exits EX_USAGE. */
#define server_usage_error(...)						\
	usage_error("semd", server_synopsis, __VA_ARGS__)

/*
 * Parse a duration for option opt: whole seconds ("5", "5s") or
 * milliseconds ("500ms"), at most max_ms.  Returns milliseconds; exits
 * EX_USAGE on a bad value.
 */
static uint64_t
server_parse_duration(const char *opt, const char *arg, uint64_t max_ms)
{
	unsigned long long	 v;
	uint64_t		 mult = 1000;
	char			*end;

	if (!isdigit((unsigned char)arg[0]))
		goto bad;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno != 0)
		goto bad;
	if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (*end != '\0' && strcmp(end, "s") != 0)
		goto bad;
	if (v > max_ms / mult)
		goto bad;
	return (v * mult);

bad:
	server_usage_error("%s: invalid value '%s' (seconds, or milliseconds "
	    "with ms, at most %" PRIu64 " s)", opt, arg, max_ms / 1000);
}

/*
 * Parse a decimal number between min and max for option opt; with
 * suffixes, K, M and G multiply by powers of 1024.  Exits EX_USAGE on a
 * bad value.
 */
static uint64_t
server_parse_number(const char *opt, const char *arg, uint64_t min,
    uint64_t max, int suffixes)
{
	uint64_t	 v;

	if (config_parse_number(arg, min, max, suffixes, &v) == 0)
		return (v);
	server_usage_error("%s: invalid value '%s' (a number from %" PRIu64
	    " to %" PRIu64 "%s)", opt, arg, min, max,
	    suffixes ? ", optionally with K, M or G" : "");
}

/* Parse --log-level: a level name (or its number, -1 to 3). */
static int
server_parse_level(const char *arg)
{
	static const struct {
		const char	*name;
		int		 level;
	} levels[] = {
		{ "quiet",	LOG_VERBOSE_QUIET },
		{ "warning",	LOG_VERBOSE_WARN },
		{ "events",	LOG_VERBOSE_EVENTS },
		{ "info",	LOG_VERBOSE_INFO },
		{ "debug",	LOG_VERBOSE_DEBUG },
	};
	size_t	 i;

	for (i = 0; i < sizeof levels / sizeof levels[0]; i++) {
		if (strcmp(arg, levels[i].name) == 0)
			return (levels[i].level);
	}
	server_usage_error("--log-level: invalid level '%s' (quiet, warning, "
	    "events, info or debug)", arg);
}

/* Parse --socket-mode: an octal mode no wider than 0777. */
static mode_t
server_parse_mode(const char *arg)
{
	unsigned long	 v;
	char		*end;

	errno = 0;
	v = strtoul(arg, &end, 8);
	if (*arg == '\0' || *end != '\0' || errno != 0 || v > 0777) {
		server_usage_error("--socket-mode: invalid mode '%s' (an "
		    "octal number such as 0660)", arg);
	}
	return ((mode_t)v);
}

/* Parse --socket-group: a group name, or a number. */
static gid_t
server_parse_group(const char *arg)
{
	struct group	*gr;

	if ((gr = getgrnam(arg)) != NULL)
		return (gr->gr_gid);
	if (isdigit((unsigned char)arg[0]))
		return ((gid_t)server_parse_number("--socket-group", arg, 0,
		    (gid_t)-1 - 1, 0));
	server_usage_error("--socket-group: no group named '%s'", arg);
}

/*
 * Work out the socket path when there is no -S (DESIGN.md, "One limiter
 * per caller", through proto/sockpath.c): $SEMD_SOCKET; else, with
 * --system, /run/semd/semd.sock; else the per-user /tmp/semd-EUID/
 * semd.sock.  The directory of the last two is created if missing and
 * must belong to us; it is written to dir (dirlen bytes) and its mode to
 * *dirmode, or dir is left empty for $SEMD_SOCKET.  Returns 0, or -1
 * with a sentence in cause.
 */
static int
server_default_socket(char *path, size_t len, char *dir, size_t dirlen,
    mode_t *dirmode, char *cause, size_t causelen)
{
	const char	*env;

	*dir = '\0';
	if (!server_conf.system && (env = getenv("SEMD_SOCKET")) != NULL &&
	    *env != '\0') {
		if ((size_t)snprintf(path, len, "%s", env) >= len) {
			snprintf(cause, causelen, "SEMD_SOCKET is too long "
			    "(at most %zu bytes)", len - 1);
			return (-1);
		}
		return (0);
	}
	if (server_conf.system) {
		snprintf(dir, dirlen, "%s", SOCKPATH_SYSTEM_DIR);
		snprintf(path, len, "%s", SOCKPATH_SYSTEM);
		*dirmode = 0755;
	} else {
		if (sockpath_user(geteuid(), dir, dirlen, path, len) == -1) {
			snprintf(cause, causelen, "the per-user socket path "
			    "is too long; use --socket");
			return (-1);
		}
		*dirmode = 0700;
	}
	return (sockpath_check_dir(dir, *dirmode, geteuid(), cause,
	    causelen));
}

/*
 * The numeric options: where each goes in server_conf, its range, its
 * default, whether it takes K/M/G, and the CONFIG_HAS_* bit that says the
 * command line set it (and the configuration file must not).
 */
#define SEMD_NUMOPT(f)	offsetof(struct server_config, f), \
			sizeof(((struct server_config *)0)->f)
static const struct server_numopt {
	int		 id;
	const char	*name;
	size_t		 off, size;
	uint64_t	 min, max, def;
	int		 suffixes;
	unsigned int	 given;
} server_numopts[] = {
	{ OPT_MAX_CONNECTIONS, "--max-connections",
	    SEMD_NUMOPT(max_connections), 0, 1000000, SEMD_DEF_MAX_CONNECTIONS,
	    0, CONFIG_HAS_MAX_CONNECTIONS },
	{ OPT_MAX_CONNECTIONS_PER_UID, "--max-connections-per-uid",
	    SEMD_NUMOPT(max_connections_per_uid), 0, 1000000,
	    SEMD_DEF_MAX_CONNECTIONS_PER_UID, 0,
	    CONFIG_HAS_MAX_CONNECTIONS_PER_UID },
	{ OPT_MAX_OUTPUT_TOTAL, "--max-output-total",
	    SEMD_NUMOPT(max_output_total), PROTO_HDR_LEN + PROTO_MAX_FRAME,
	    SIZE_MAX / 2, SEMD_DEF_MAX_OUTPUT_TOTAL, 1,
	    CONFIG_HAS_MAX_OUTPUT_TOTAL },
	{ OPT_MAX_PENDING, "--max-pending", SEMD_NUMOPT(max_pending), 0,
	    UINT32_MAX, SEMD_DEF_MAX_PENDING, 0, CONFIG_HAS_MAX_PENDING },
	{ OPT_MAX_HOLDS, "--max-holds", SEMD_NUMOPT(max_holds), 0, UINT32_MAX,
	    SEMD_DEF_MAX_HOLDS, 0, CONFIG_HAS_MAX_HOLDS },
	{ OPT_MAX_PENDING_PER_UID, "--max-pending-per-uid",
	    SEMD_NUMOPT(max_pending_per_uid), 0, UINT32_MAX,
	    SEMD_DEF_MAX_PENDING_PER_UID, 0, CONFIG_HAS_MAX_PENDING_PER_UID },
	{ OPT_MAX_HOLDS_PER_UID, "--max-holds-per-uid",
	    SEMD_NUMOPT(max_holds_per_uid), 0, UINT32_MAX,
	    SEMD_DEF_MAX_HOLDS_PER_UID, 0, CONFIG_HAS_MAX_HOLDS_PER_UID },
	{ OPT_MAX_SEMS, "--max-sems", SEMD_NUMOPT(max_sems), 0, UINT32_MAX,
	    SEMD_DEF_MAX_SEMS, 0, CONFIG_HAS_MAX_SEMS },
	{ OPT_MAX_FRAME, "--max-frame", SEMD_NUMOPT(max_frame),
	    SEMD_MIN_MAX_FRAME, PROTO_MAX_FRAME, PROTO_MAX_FRAME, 0,
	    CONFIG_HAS_MAX_FRAME },
	{ OPT_MAX_OUTPUT, "--max-output", SEMD_NUMOPT(max_output),
	    PROTO_HDR_LEN + PROTO_MAX_FRAME, SIZE_MAX / 2, SEMD_DEF_MAX_OUTPUT,
	    1, CONFIG_HAS_MAX_OUTPUT },
	{ OPT_IDLE_EXIT, "--idle-exit", SEMD_NUMOPT(idle_exit), 0, 100000000, 0,
	    0, CONFIG_HAS_IDLE_EXIT },
	{ 0, NULL, 0, 0, 0, 0, 0, 0, 0 }
};

/* Store v (in range: server_parse_number) in no's field of server_conf. */
static void
server_numopt_set(const struct server_numopt *no, uint64_t v)
{
	char		*p = (char *)&server_conf + no->off;
	uint32_t	 v32 = (uint32_t)v;

	if (no->size == sizeof v32)
		memcpy(p, &v32, sizeof v32);
	else if (no->size == sizeof v)
		memcpy(p, &v, sizeof v);
	else
		abort();
}

/* Set server_conf to the defaults that options and the file override. */
static void
server_conf_defaults(void)
{
	const struct server_numopt	*no;

	memset(&server_conf, 0, sizeof server_conf);
	server_conf.socket_mode = SEMD_DEF_SOCKET_MODE;
	for (no = server_numopts; no->name != NULL; no++)
		server_numopt_set(no, no->def);
	server_conf.grace_ms = SEMD_DEF_GRACE_MS;
	server_conf.verbose = LOG_VERBOSE_WARN;
}

/*
 * Handle a logging option ch (-q, -v, -l LEVEL, --log-file PATH) with its
 * argument; exits on a bad one.  Returns 0, or -1 if ch is none of them.
 */
static int
server_parse_log(int ch, const char *arg)
{
	switch (ch) {
	case 'q':
		server_conf.verbose = LOG_VERBOSE_QUIET;
		return (0);
	case 'v':
		if (server_conf.verbose < LOG_VERBOSE_INFO)
			server_conf.verbose = LOG_VERBOSE_INFO;
		else
			server_conf.verbose = LOG_VERBOSE_DEBUG;
		return (0);
	case 'l':
		server_conf.verbose = server_parse_level(arg);
		return (0);
	case OPT_LOG_FILE:
		if (*arg == '\0' || strlen(arg) >= sizeof server_conf.log_file)
			server_usage_error("--log-file: empty or too long "
			    "path");
		snprintf(server_conf.log_file, sizeof server_conf.log_file,
		    "%s", arg);
		return (0);
	}
	return (-1);
}

/*
 * Handle a cluster option ch (--cluster-*) with its argument; exits on a
 * bad one.  Returns 0, or -1 if ch is none of them.
 */
static int
server_parse_cluster(int ch, const char *arg)
{
	char	*cause;

	switch (ch) {
	case OPT_CLUSTER_ENDPOINTS:
		cl_endpoints = arg;
		return (0);
	case OPT_CLUSTER_PREFIX:
		cl_prefix = arg;
		return (0);
	case OPT_CLUSTER_TTL:
		cl_ttl = (unsigned int)server_parse_number(
		    "--cluster-lease-ttl", arg, 2, 3600, 0);
		return (0);
	case OPT_CLUSTER_HOST:
		cl_host = arg;
		return (0);
	case OPT_CLUSTER_SEM:
	case OPT_CLUSTER_NAMES:
		if (cluster_declare(arg, ch == OPT_CLUSTER_NAMES, 0,
		    &cause) == -1)
			server_usage_error("%s", cause);
		return (0);
	}
	return (-1);
}

/*
 * Set the numeric option ch from arg (exits if out of range) and note
 * that the command line gave it.  Returns 0, or -1 if ch is none of
 * server_numopts.
 */
static int
server_parse_numopt(int ch, const char *arg)
{
	const struct server_numopt	*no;

	for (no = server_numopts; no->name != NULL; no++) {
		if (no->id == ch)
			break;
	}
	if (no->name == NULL)
		return (-1);
	server_numopt_set(no, server_parse_number(no->name, arg, no->min,
	    no->max, no->suffixes));
	server_opts_given |= no->given;
	return (0);
}

/*
 * Check -S PATH (socket_arg, may be NULL) against --system and copy it
 * into server_conf; with --system, the system's socket mode unless
 * --socket-mode gave one (has_mode).  Exits on errors.
 */
static void
server_parse_socket(const char *socket_arg, int has_mode)
{
	if (server_conf.system && socket_arg != NULL)
		server_usage_error("--system and --socket exclude each other");
	if (server_conf.system && !has_mode)
		server_conf.socket_mode = SEMD_SYSTEM_SOCKET_MODE;
	if (socket_arg == NULL)
		return;
	if (*socket_arg == '\0')
		server_usage_error("--socket: empty path");
	if ((size_t)snprintf(server_conf.socket_path,
	    sizeof server_conf.socket_path, "%s", socket_arg) >=
	    sizeof server_conf.socket_path) {
		fprintf(stderr, "semd: socket path %s is too long (at most %zu "
		    "bytes)\n", socket_arg, sizeof server_conf.socket_path - 1);
		exit(1);
	}
}

/* Parse the command line into server_conf; exits on errors. */
static void
server_parse_args(int argc, char **argv)
{
	const char	*socket_arg = NULL;
	int		 ch, has_mode = 0;

	server_conf_defaults();
	opterr = 0;	/* its messages are server_usage_error's */
	while ((ch = getopt_long(argc, argv, ":S:c:fqvVhl:", server_longopts,
	    NULL)) != -1) {
		switch (ch) {
		case ':':
		case '?':
			usage_bad_option("semd", server_synopsis, ch,
			    argv[optind - 1], optopt);
		case 'S':
			socket_arg = optarg;
			break;
		case 'c':
			if (*optarg == '\0')
				server_usage_error("--config: empty path");
			server_config_path = optarg;
			break;
		case 'f':
			server_conf.foreground = 1;
			break;
		case 'V':
			printf("semd (semd) %s, protocol %d\n",
			    PACKAGE_VERSION, PROTO_VERSION);
			exit(0);
		case 'h':
			server_help(stdout);
			exit(0);
		case OPT_SOCKET_MODE:
			server_conf.socket_mode = server_parse_mode(optarg);
			has_mode = 1;
			break;
		case OPT_SOCKET_GROUP:
			server_conf.socket_group = server_parse_group(optarg);
			server_conf.has_socket_group = 1;
			break;
		case OPT_SYSTEM:
			server_conf.system = 1;
			break;
		case OPT_GRACE:
			server_conf.grace_ms = server_parse_duration("--grace",
			    optarg, SEMD_MAX_GRACE_MS);
			server_opts_given |= CONFIG_HAS_GRACE;
			break;
		case OPT_STATE_DIR:
			if (*optarg != '/')
				server_usage_error("--state-dir: '%s' is not "
				    "an absolute path", optarg);
			server_conf.state_dir = optarg;
			break;
		default:
			if (server_parse_log(ch, optarg) == -1 &&
			    server_parse_cluster(ch, optarg) == -1 &&
			    server_parse_numopt(ch, optarg) == -1)
				server_usage_error("unknown option '%s'",
				    argv[optind - 1]);
		}
	}
	if (optind != argc)
		server_usage_error("unexpected argument '%s'", argv[optind]);
	server_parse_socket(socket_arg, has_mode);
	/* Without -S the default path is worked out in server_listen_fd,
	 * unless systemd hands over a socket. */
}

static uint64_t		 server_started_ms;

/* Milliseconds since semd started serving. */
uint64_t
server_uptime_ms(void)
{
	uint64_t	 now = server_now_ms();

	return (now > server_started_ms ? now - server_started_ms : 0);
}

/*
 * Open the state file that lets this daemon take over from an earlier
 * one on the same socket (state.h).  Without one semd still runs, but a
 * restart can then break the bound: say so.
 */
static void
server_state_open(void)
{
	char	 path[PATH_MAX], cause[512];

	if (server_conf.state_dir == NULL &&
	    getenv("RUNTIME_DIRECTORY") == NULL &&
	    server_conf.socket_path[0] != '/') {
		log_warnx("no state file (unnamed socket, no $RUNTIME_DIRECTORY "
		    "or --state-dir): holders cannot reclaim after a restart");
		return;
	}
	if (state_path(path, sizeof path, server_conf.state_dir,
	    server_conf.socket_path) == -1) {
		log_warnx("the state file's path is too long: holders cannot "
		    "reclaim after a restart");
		return;
	}
	if ((server_state = state_open(path, server_conf.socket_path, cause,
	    sizeof cause)) == NULL)
		log_warnx("%s: holders cannot reclaim after a restart", cause);
	else
		log_debug("state file %s", path);
}

/* Monotonic time in milliseconds, the engine's clock. */
uint64_t
server_now_ms(void)
{
	struct timespec	 ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		fatal("clock_gettime");
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* How often the systemd STATUS= line is brought up to date. */
#define SERVER_STATUS_MS	5000

/*
 * Point the deadline timer at the earliest deadline (or rate wake-up),
 * if it moved.  The timer is a timerfd set to the absolute instant on
 * CLOCK_MONOTONIC, the engine's clock: it fires at that millisecond, not
 * up to 2 ms later as a libevent timer armed from a whole-millisecond
 * now and rounded up by epoll would (a rate-limited line is woken once
 * per grant, so that lateness would slow the rate down).
 */
static void
server_arm_deadline(void)
{
	struct itimerspec	 its;
	uint64_t		 at;

	memset(&its, 0, sizeof its);
	if (!sem_next_deadline(server_table, &at)) {
		if (server_deadline_armed) {
			/* All zero: disarm. */
			if (timerfd_settime(server_deadline_fd, TFD_TIMER_ABSTIME,
			    &its, NULL) == -1)
				fatal("timerfd_settime");
			server_deadline_armed = 0;
		}
		return;
	}
	if (server_deadline_armed && server_deadline_at == at)
		return;
	if (at == 0)
		at = 1;		/* 0 would disarm: the past fires at once */
	its.it_value.tv_sec = (time_t)(at / 1000);
	its.it_value.tv_nsec = (long)(at % 1000) * 1000000;
	if (timerfd_settime(server_deadline_fd, TFD_TIMER_ABSTIME, &its,
	    NULL) == -1)
		fatal("timerfd_settime");
	server_deadline_armed = 1;
	server_deadline_at = at;
}

/* The earliest deadline came: expire what is due and tell the owners. */
static void
server_deadline_cb(evutil_socket_t fd, short events, void *arg)
{
	uint64_t	 n;

	/* Clear it; a re-armed timer that has not fired reads EAGAIN. */
	(void)read(fd, &n, sizeof n);
	server_deadline_armed = 0;
	sem_expire(server_table, server_now_ms());
	server_settle();
}

/* No connection and no semaphore for --idle-exit seconds: leave. */
static void
server_idle_cb(evutil_socket_t fd, short events, void *arg)
{
	server_idle_armed = 0;
	if (conn_count() != 0 || sem_count(server_table) != 0)
		return;
	log_info("idle for %u seconds, exiting", server_conf.idle_exit);
	event_base_loopbreak(server_base);
}

/* Arm the idle-exit timer when idle, cancel it when not. */
static void
server_check_idle(void)
{
	struct timeval	 tv;
	int		 idle;

	if (server_conf.idle_exit == 0)
		return;
	idle = conn_count() == 0 && sem_count(server_table) == 0;
	if (idle && !server_idle_armed) {
		tv.tv_sec = server_conf.idle_exit;
		tv.tv_usec = 0;
		if (evtimer_add(server_idle_ev, &tv) == -1)
			fatalx("cannot arm the idle timer");
		server_idle_armed = 1;
	} else if (!idle && server_idle_armed) {
		evtimer_del(server_idle_ev);
		server_idle_armed = 0;
	}
}

/*
 * Bring the daemon up to date after anything that may have changed the
 * semaphore table: drop the owners of connections that went away, deliver
 * the table's events to their connections (which may make more
 * connections go away: repeat), re-arm the deadline timer and the idle
 * timer.  Called at the end of every callback; cheap when nothing
 * happened (O(1) plus the events delivered).  Not re-entrant: a call from
 * inside itself does nothing.
 */
void
server_settle(void)
{
	if (server_settling)
		return;
	server_settling = 1;
	conn_settle();
	server_arm_deadline();
	server_check_idle();
	server_settling = 0;
}

/*
 * Under systemd, keep the STATUS= line of "systemctl status semd" current:
 * every few seconds, and only when the numbers changed.
 */
static void
server_status_cb(evutil_socket_t fd, short events, void *arg)
{
	static size_t	 last_conns = SIZE_MAX, last_sems = SIZE_MAX;
	size_t		 conns, sems;
	char		 line[256];

	timer_clear(fd);
	conns = sem_owner_count(server_table);
	sems = sem_count(server_table);
	if (conns == last_conns && sems == last_sems)
		return;
	last_conns = conns;
	last_sems = sems;
	snprintf(line, sizeof line, "%zu connection%s, %zu semaphore%s",
	    conns, conns == 1 ? "" : "s", sems, sems == 1 ? "" : "s");
	sdaemon_status(line);
}

/*
 * SIGTERM, SIGINT: leave the loop; SIGHUP: reload the configuration;
 * SIGUSR2: leave the loop to re-execute (server_reexec).
 */
static void
server_signal_cb(evutil_socket_t sig, short events, void *arg)
{
	char	 msg[512];

	switch (sig) {
	case SIGHUP:
		if (rules_path() == NULL) {
			log_info("SIGHUP ignored (semd runs without a "
			    "configuration file)");
			break;
		}
		if (rules_reload(msg, sizeof msg) == -1)
			log_warnx("SIGHUP: reload refused: %s", msg);
		else
			log_warnx("SIGHUP: %s", msg);
		server_settle();
		break;
	case SIGUSR2:
		server_reexec_asked = 1;
		event_base_loopbreak(server_base);
		break;
	default:
		log_info("%s received, exiting",
		    sig == SIGTERM ? "SIGTERM" : "SIGINT");
		event_base_loopbreak(server_base);
		break;
	}
}

/*
 * Make room for --max-connections descriptors if the hard limit allows;
 * connections beyond what is possible are handled by the accept backoff.
 */
static void
server_raise_nofile(void)
{
	struct rlimit	 rl;
	rlim_t		 want;

	if (server_conf.max_connections == 0 ||
	    getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	want = (rlim_t)server_conf.max_connections + 32;
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ?
	    rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("setrlimit RLIMIT_NOFILE");
	if (rl.rlim_cur < want)
		log_info("only %lu file descriptors available, fewer than "
		    "--max-connections %" PRIu32, (unsigned long)rl.rlim_cur,
		    server_conf.max_connections);
}

/*
 * Obtain the listening socket: the one systemd passed (socket
 * activation), else a new one at -S PATH or the default path.  A passed
 * socket belongs to systemd, so its file is left alone at exit.
 * Exits 1 on failure.
 */
static int
server_listen_fd(void)
{
	struct sockaddr_un	 sun;
	socklen_t		 sunlen = sizeof sun;
	char			 cause[512], dir[sizeof sun.sun_path];
	char			 path[sizeof sun.sun_path];
	int			 fd;

	fd = sdaemon_listen_fd(cause, sizeof cause);
	if (fd == -2)
		fatalx("%s", cause);
	if (fd >= 0) {
		memset(&sun, 0, sizeof sun);
		if (getsockname(fd, (struct sockaddr *)&sun, &sunlen) == 0 &&
		    sun.sun_path[0] != '\0')
			snprintf(server_conf.socket_path,
			    sizeof server_conf.socket_path, "%s", sun.sun_path);
		else
			snprintf(server_conf.socket_path,
			    sizeof server_conf.socket_path, "(systemd socket)");
		/* The user unit's socket: its directory can be made again. */
		if (sockpath_user(geteuid(), dir, sizeof dir, path,
		    sizeof path) == 0 &&
		    strcmp(path, server_conf.socket_path) == 0) {
			snprintf(server_socket_dir, sizeof server_socket_dir, "%s",
			    dir);
			server_socket_dirmode = 0700;
		}
		/* The accept loop runs until EAGAIN: the socket must not
		 * block, and systemd passes it blocking. */
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 ||
		    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
			fatal("fcntl");
		return (fd);
	}
	if (server_conf.socket_path[0] == '\0' &&
	    server_default_socket(server_conf.socket_path,
	    sizeof server_conf.socket_path, server_socket_dir,
	    sizeof server_socket_dir, &server_socket_dirmode, cause,
	    sizeof cause) == -1)
		fatalx("%s", cause);
	fd = listen_open(server_conf.socket_path, server_conf.socket_mode,
	    server_conf.has_socket_group, server_conf.socket_group, cause,
	    sizeof cause);
	if (fd == -1)
		fatalx("%s", cause);
	return (fd);
}

/*
 * Load the configuration: -c FILE (which must load), else for the
 * system daemon SEMD_CONFIG_FILE when it exists.  The [semd] settings
 * fill what no option set.  Exits 1 on a bad file.
 */
static void
server_load_config(void)
{
	const struct config	*cf;
	const char		*path = server_config_path;
	char			 err[512];

	if (path == NULL) {
		if ((!server_conf.system &&
		    strcmp(server_conf.socket_path, SEMD_SYSTEM_SOCKET) != 0) ||
		    access(SEMD_CONFIG_FILE, F_OK) == -1)
			return;
		path = SEMD_CONFIG_FILE;
	}
	if ((cf = rules_load(path, err, sizeof err)) == NULL)
		fatalx("%s", err);
#define TAKE(flag, field) do {						\
	if ((cf->has & (flag)) && !(server_opts_given & (flag)))		\
		server_conf.field = cf->field;				\
} while (0)
	TAKE(CONFIG_HAS_MAX_CONNECTIONS, max_connections);
	TAKE(CONFIG_HAS_MAX_PENDING, max_pending);
	TAKE(CONFIG_HAS_MAX_HOLDS, max_holds);
	TAKE(CONFIG_HAS_MAX_PENDING_PER_UID, max_pending_per_uid);
	TAKE(CONFIG_HAS_MAX_HOLDS_PER_UID, max_holds_per_uid);
	TAKE(CONFIG_HAS_MAX_SEMS, max_sems);
	TAKE(CONFIG_HAS_MAX_FRAME, max_frame);
	TAKE(CONFIG_HAS_MAX_OUTPUT, max_output);
	TAKE(CONFIG_HAS_MAX_OUTPUT_TOTAL, max_output_total);
	TAKE(CONFIG_HAS_MAX_CONNECTIONS_PER_UID, max_connections_per_uid);
	TAKE(CONFIG_HAS_IDLE_EXIT, idle_exit);
	TAKE(CONFIG_HAS_GRACE, grace_ms);
#undef TAKE
	server_cluster_config(cf);
	log_info("configuration %s: %zu semaphores declared, undeclared "
	    "names %s", path, cf->nsems, cf->undeclared_deny ? "denied" :
	    "allowed");
}

/*
 * Take [cluster] and the scope = cluster semaphores of cf (NULL: no
 * file), under the --cluster-* options, which win.  Exits 1 on a bad
 * setting.  Cluster settings are read at start only: a reload does not
 * change them.
 */
static void
server_cluster_config(const struct config *cf)
{
	const struct config_cluster	*cc = cf != NULL ? &cf->cluster : NULL;
	static int			 done;
	char				*cause;
	size_t				 i;

	if (done++)
		return;
	if (cc != NULL && cc->present) {
		if (cl_endpoints == NULL)
			cl_endpoints = cc->endpoints;
		if (cl_prefix == NULL && cc->prefix[0] != '\0')
			cl_prefix = cc->prefix;
		if (cl_ttl == 0)
			cl_ttl = cc->lease_ttl;
		if (cl_host == NULL && cc->host_id[0] != '\0')
			cl_host = cc->host_id;
		if (cc->names[0] != '\0' &&
		    cluster_declare(cc->names, 1, 0, &cause) == -1)
			fatalx("%s: [cluster] names: %s", cf->path, cause);
	}
	for (i = 0; cf != NULL && i < cf->nsems; i++) {
		if (cf->sems[i].scope != CONFIG_SCOPE_CLUSTER)
			continue;
		if (cluster_declare(cf->sems[i].name, 0, cf->sems[i].capacity,
		    &cause) == -1)
			fatalx("%s: [sem %s]: %s", cf->path, cf->sems[i].name,
			    cause);
	}
	if (cluster_configure(cl_endpoints, cl_prefix, cl_ttl, cl_host,
	    &cause) == -1)
		fatalx("%s", cause);
}

/* At exit (also through fatal), remove the socket file if it is ours. */
static void
server_atexit(void)
{
	listen_close();
}

/*
 * Become a daemon: fork, and let the parent wait until the child says it
 * is listening (one byte on the pipe), then exit 0; if the pipe closes
 * without that byte, the child failed and already said why on stderr,
 * and the parent exits 1.  Returns, in the child, the pipe's write end.
 */
static int
server_daemonize(void)
{
	int	 pfd[2], status;
	pid_t	 pid;
	ssize_t	 n;
	char	 byte;

	if (pipe2(pfd, O_CLOEXEC) == -1)
		fatal("pipe");
	switch ((pid = fork())) {
	case -1:
		fatal("fork");
	case 0:
		break;
	default:
		close(pfd[1]);
		do
			n = read(pfd[0], &byte, 1);
		while (n == -1 && errno == EINTR);
		if (n == 1)
			_exit(0);
		if (waitpid(pid, &status, 0) == pid && WIFSIGNALED(status))
			fprintf(stderr, "semd: the daemon was killed by signal "
			    "%d while starting\n", WTERMSIG(status));
		_exit(1);
	}
	close(pfd[0]);
	if (setsid() == -1)
		fatal("setsid");
	return (pfd[1]);
}

/*
 * The daemon is listening: detach from the terminal, switch the log to
 * syslog, and release the waiting parent.
 */
static void
server_detach(int ready_fd)
{
	char	 path[4096], cwd[2048], abspath[6200], cause[512];
	char	*slash;
	int	 fd;

	/*
	 * Where the log goes: --log-file, else syslog, else (no /dev/log, as
	 * in many containers) semd.log next to the socket, in the daemon's
	 * runtime directory.  Worked out before chdir, for relative paths.
	 */
	path[0] = '\0';
	if (server_conf.log_file[0] != '\0')
		snprintf(path, sizeof path, "%s", server_conf.log_file);
	else if (!log_syslog_available() && server_conf.socket_path[0] != '(') {
		snprintf(path, sizeof path, "%s", server_conf.socket_path);
		if ((slash = strrchr(path, '/')) != NULL)
			snprintf(slash + 1, sizeof path - (slash + 1 - path),
			    "semd.log");
		else
			snprintf(path, sizeof path, "semd.log");
	}
	if (path[0] != '\0' && path[0] != '/') {
		/* The file is reopened when rotated, after chdir. */
		if (getcwd(cwd, sizeof cwd) == NULL)
			fatal("getcwd");
		snprintf(abspath, sizeof abspath, "%s/%s", cwd, path);
		if (strlen(abspath) >= sizeof path)
			fatalx("log file path too long");
		memcpy(path, abspath, strlen(abspath) + 1);
	}
	if (path[0] != '\0' && log_open_file(path, cause, sizeof cause) == -1)
		fatalx("%s", cause);

	if (chdir("/") == -1)
		fatal("chdir /");
	if ((fd = open("/dev/null", O_RDWR)) == -1)
		fatal("/dev/null");
	if (dup2(fd, STDIN_FILENO) == -1 || dup2(fd, STDOUT_FILENO) == -1 ||
	    dup2(fd, STDERR_FILENO) == -1)
		fatal("dup2");
	if (fd > STDERR_FILENO)
		close(fd);
	if (path[0] == '\0')
		log_init(LOG_DEST_SYSLOG, server_conf.verbose);
	if (ready_fd == -1)
		return;		/* re-executed: nobody waits (server_reexec) */
	if (write(ready_fd, "R", 1) != 1)
		fatal("cannot tell the parent we are ready");
	close(ready_fd);
}

/*
 * SIGUSR2: replace this process by the semd binary now at the path it
 * was started from (an upgrade), keeping its pid and handing the
 * listening socket over as socket activation does (LISTEN_FDS=1,
 * LISTEN_PID our pid, the socket as fd 3): clients that connect
 * meanwhile wait in the backlog and are served by the new image.  The
 * connections are not handed over: they close with the exec, and their
 * clients reconnect and reclaim their grants, which the new image
 * adopts from the state file (grace.c).  Returns only if exec failed
 * (logged); then this image goes on serving.
 */
static void
server_reexec(int fd, char **argv)
{
	char	 pid[32];
	int	 fl;

	if (server_exe[0] == '\0') {
		log_warnx("SIGUSR2: the path of the semd binary is unknown; "
		    "not re-executing");
		return;
	}
	if (fd != SEMD_REEXEC_FD) {
		if (dup2(fd, SEMD_REEXEC_FD) == -1) {
			log_warn("SIGUSR2: dup2");
			return;
		}
	} else if ((fl = fcntl(fd, F_GETFD)) == -1 ||
	    fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) == -1) {
		log_warn("SIGUSR2: fcntl");
		return;
	}
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	if (setenv("LISTEN_FDS", "1", 1) == -1 ||
	    setenv("LISTEN_PID", pid, 1) == -1 ||
	    setenv("SEMD_REEXEC", "1", 1) == -1) {
		log_warn("SIGUSR2: setenv");
		return;
	}
	unsetenv("LISTEN_FDNAMES");
	log_warnx("SIGUSR2: re-executing %s (pid %s); the listening socket "
	    "is handed over, clients reclaim their grants", server_exe, pid);
	execv(server_exe, argv);
	log_warn("SIGUSR2: cannot execute %s; this semd goes on", server_exe);
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("SEMD_REEXEC");
	if (fd != SEMD_REEXEC_FD)
		close(SEMD_REEXEC_FD);
}

/*
 * Find the path an upgrade (SIGUSR2) executes: where we were started,
 * even if that file has since been replaced.  Empty if unknown.
 */
static void
server_exe_find(void)
{
	ssize_t	 n;

	n = readlink("/proc/self/exe", server_exe, sizeof server_exe - 1);
	server_exe[n > 0 ? n : 0] = '\0';
	if (n > 10 && strcmp(server_exe + n - 10, " (deleted)") == 0)
		server_exe[n - 10] = '\0';
}

/*
 * Set up the event loop and what it serves: connections, rules, the
 * cluster, the grace period of a previous semd's grants, the deadline
 * and idle timers, and the signals (sig_ev, for server_loop_free).
 * Exits on failure.
 */
static void
server_loop_init(struct event **sig_ev)
{
	char	*cause;
	int	 i;

	if ((server_base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	if (conn_init() == -1)
		fatal("conn_init");
	rules_apply();
	if (cluster_init(&cause) == -1)
		fatalx("cluster: %s", cause);
	if (server_state != NULL &&
	    grace_start(server_state, server_table, server_conf.grace_ms) == -1)
		fatal("cannot take over the grants of the previous semd");
	server_deadline_fd = timerfd_create(CLOCK_MONOTONIC,
	    TFD_NONBLOCK | TFD_CLOEXEC);
	if (server_deadline_fd == -1)
		fatal("timerfd_create");
	server_deadline_ev = event_new(server_base, server_deadline_fd,
	    EV_READ | EV_PERSIST, server_deadline_cb, NULL);
	server_idle_ev = evtimer_new(server_base, server_idle_cb, NULL);
	if (server_deadline_ev == NULL || server_idle_ev == NULL ||
	    event_add(server_deadline_ev, NULL) == -1)
		fatalx("cannot create timers");
	for (i = 0; i < SEMD_NSIGS; i++) {
		sig_ev[i] = evsignal_new(server_base, server_sigs[i],
		    server_signal_cb, NULL);
		if (sig_ev[i] == NULL || evsignal_add(sig_ev[i], NULL) == -1)
			fatalx("cannot watch signal %d", server_sigs[i]);
	}
}

/*
 * Say that semd serves: log it, let the parent of a daemon (ready_fd)
 * or of a re-executed one go, and tell systemd, with a status timer.
 * Returns that timer, or NULL without systemd.  Exits on failure.
 */
static struct event *
server_ready(int ready_fd, int reexec)
{
	struct event		*status_ev;
	char			 line[256];

	log_info("listening on %s (pid %ld)", server_conf.socket_path,
	    (long)getpid());
	if (ready_fd != -1 || (!server_conf.foreground && reexec))
		server_detach(ready_fd);
	if (!sdaemon_notifying())
		return (NULL);
	/* Ready only now: the socket accepts and the loop is set up. */
	snprintf(line, sizeof line, "listening on %s",
	    server_conf.socket_path);
	sdaemon_ready(line);
	if ((status_ev = timer_every(SERVER_STATUS_MS, server_status_cb,
	    NULL)) == NULL)
		fatal("cannot create the status timer");
	return (status_ev);
}

/*
 * Close what server_loop_init set up, and everything it serves, in the
 * order that lets each part give back what it holds.
 */
static void
server_loop_free(struct event **sig_ev)
{
	int	 i;

	cluster_shutdown();
	grace_shutdown();
	conn_shutdown();
	rules_free();
	state_close(server_state);
	server_state = NULL;
	listen_close();
	for (i = 0; i < SEMD_NSIGS; i++)
		event_free(sig_ev[i]);
	event_free(server_deadline_ev);
	close(server_deadline_fd);
	event_free(server_idle_ev);
	event_base_free(server_base);
	server_base = NULL;
	libevent_global_shutdown();
}

/*
 * Parse the command line, listen, become a daemon unless -f, and serve
 * until SIGTERM, SIGINT or --idle-exit; then close everything, remove
 * the socket file and exit 0.
 */
int
main(int argc, char **argv)
{
	struct event		*sig_ev[SEMD_NSIGS];
	struct event		*status_ev;
	sigset_t		 sigs_held, sigs_old;
	char			**exec_argv;
	int			 fd, ready_fd = -1, i, reexec;

	signal(SIGPIPE, SIG_IGN);
	server_exe_find();
	reexec = getenv("SEMD_REEXEC") != NULL;
	unsetenv("SEMD_REEXEC");
	if ((exec_argv = calloc((size_t)argc + 1, sizeof *exec_argv)) ==
	    NULL)
		fatal("calloc");
	memcpy(exec_argv, argv, (size_t)argc * sizeof *argv);
	argv[0] = (char *)"semd";	/* getopt's messages say "semd: " */
	server_parse_args(argc, argv);
	log_init(LOG_DEST_STDERR, server_conf.verbose);

	if (server_config_path != NULL)
		server_load_config();	/* before listening: a bad file stops */
	/*
	 * Clients may connect as soon as the socket listens, long before the
	 * loop watches SIGTERM (cluster_init may take a while): hold the
	 * signals until then, so that a SIGTERM right after start still
	 * ends semd cleanly (exit 0, socket removed) instead of killing it.
	 */
	sigemptyset(&sigs_held);
	for (i = 0; i < SEMD_NSIGS; i++)
		sigaddset(&sigs_held, server_sigs[i]);
	sigprocmask(SIG_BLOCK, &sigs_held, &sigs_old);
	fd = server_listen_fd();
	if (server_config_path == NULL)
		server_load_config();	/* the system daemon's default file */
	server_cluster_config(NULL);	/* if no file did */
	server_raise_nofile();
	atexit(server_atexit);
	server_state_open();
	/* Re-executed (SIGUSR2): already a daemon, with the same pid. */
	if (!server_conf.foreground && !reexec)
		ready_fd = server_daemonize();

	server_loop_init(sig_ev);
	sigprocmask(SIG_SETMASK, &sigs_old, NULL);
	if (listen_start(fd) == -1)
		fatal("listen_start");
	if (server_conf.socket_path[0] == '/' &&
	    listen_watch(server_conf.socket_path, server_socket_dir[0] != '\0' ?
	    server_socket_dir : NULL, server_socket_dirmode, server_conf.socket_mode,
	    server_conf.has_socket_group, server_conf.socket_group,
	    SEMD_WATCH_MS) == -1)
		fatal("listen_watch");
	server_started_ms = server_now_ms();
	server_settle();		/* arms the idle timer */
	status_ev = server_ready(ready_fd, reexec);

	for (;;) {
		if (event_base_dispatch(server_base) == -1)
			log_warnx("the event loop failed");
		if (!server_reexec_asked)
			break;
		server_reexec_asked = 0;
		server_reexec(fd, exec_argv);
	}
	sdaemon_stopping();
	timer_free(status_ev);
	server_loop_free(sig_ev);
	log_info("stopped");
	free(exec_argv);
	return (0);
}
