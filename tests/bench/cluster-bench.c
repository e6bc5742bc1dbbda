/*
 * cluster-bench.c -- what cluster semaphores cost (make bench; skipped
 * when /usr/bin/etcd is missing).  Starts a real one-member etcd on
 * loopback (tests/cluster/etcd.sh) and real semd daemons, then measures:
 *
 *   1. one raw etcd Txn round trip (the create Txn semd sends: compare a
 *      capacity key, put it and put a key on a lease), through the same
 *      client semd uses (daemon/etcd.c), sequentially;
 *   2. an uncontended cluster acquire + release through semd (libsemd,
 *      blocking calls), sequentially, and its ratio to 1 (target <= 2.5);
 *   3. grants per second on one cluster pool of capacity 3 shared by three
 *      semd hosts, two clients per host acquiring and releasing in a loop;
 *   4. local acquire + release pairs per second with cluster mode on and
 *      off (one client, a local semaphore).
 *
 *   cluster-bench -b SEMD -e ETCD.SH [-n N] [-t SECONDS]
 */

#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "etcd.h"
#include "log.h"
#include "semd.h"
#include "tl.h"

static char	 b_dir[96];
static char	 b_eps[256];
static const char *b_semd_bin;
static const char *b_etcdsh;
static struct tl_daemon b_daemons[8];
static int	 b_ndaemons;

static double
b_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* Stop what we started. */
static void
b_cleanup(void)
{
	char	 cmd[1024];
	int	 i;

	for (i = 0; i < b_ndaemons; i++)
		tl_daemon_stop(&b_daemons[i], 0);
	b_ndaemons = 0;
	if (b_dir[0] != '\0') {
		snprintf(cmd, sizeof cmd, "sh '%s' stop '%s'; rm -rf '%s'",
		    b_etcdsh, b_dir, b_dir);
		if (system(cmd) == -1)
			perror("system");
		b_dir[0] = '\0';
	}
}

/* Start a semd on dir/name.sock; with cluster, on b_eps.  Waits for it. */
static void
b_semd(const char *name, int cluster, char *sock, size_t socklen)
{
	const char *const	 args[] = { "-q", "--cluster-endpoints", b_eps,
	    "--cluster-host-id", name, "--cluster-prefix", "/bench",
	    "--cluster-names", "c-", NULL };
	const char *const	 local[] = { "-q", NULL };
	struct tl_daemon	*d = &b_daemons[b_ndaemons++];

	d->bin = b_semd_bin;
	if ((size_t)snprintf(d->path, sizeof d->path, "%s/%s.sock", b_dir,
	    name) >= sizeof d->path) {
		fprintf(stderr, "cluster-bench: %s: path too long\n", b_dir);
		exit(1);
	}
	snprintf(sock, socklen, "%s", d->path);
	if (tl_daemon_start(d, cluster ? args : local) == -1) {
		fprintf(stderr, "cluster-bench: %s\n", d->error);
		exit(1);
	}
}

struct b_txn {
	int	 done;
	int	 ok;
};

static void
b_txn_cb(enum etcd_status st, json_t *reply, void *arg)
{
	struct b_txn	*t = arg;

	t->done = 1;
	t->ok = st == ETCD_OK;
}

/* Run one call to completion. */
static int
b_call(struct event_base *base, struct etcd *e, const char *method,
    json_t *body, json_t **out)
{
	struct b_txn	 t = { 0, 0 };

	(void)out;
	if (etcd_call(e, method, body, 10000, b_txn_cb, &t) == NULL)
		return (-1);
	while (!t.done)
		event_base_loop(base, EVLOOP_ONCE);
	return (t.ok ? 0 : -1);
}

/* 1: mean seconds of one create-like Txn, n of them. */
static double
b_raw_txn(int n)
{
	struct event_base	*base = event_base_new();
	struct etcd		*e;
	char			*cause, key[64];
	json_t			*body;
	double			 t0, t;
	int			 i;

	if ((e = etcd_new(base, b_eps, &cause)) == NULL) {
		fprintf(stderr, "cluster-bench: %s\n", cause);
		exit(1);
	}
	/* The capacity key the Txn compares with. */
	body = json_pack("{s:o,s:o}", "key", etcd_json_b64(
	    "/bench-raw/p/capacity", 21), "value", etcd_json_b64("1000", 4));
	if (b_call(base, e, "kv/put", body, NULL) == -1) {
		fprintf(stderr, "cluster-bench: kv/put failed\n");
		exit(1);
	}
	json_decref(body);
	t0 = b_now();
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof key, "/bench-raw/p/q/k%d", i);
		body = json_pack("{s:[{s:o,s:s,s:s,s:o}],s:[{s:{s:o,s:o}},"
		    "{s:{s:o,s:o}}],s:[{s:{s:o}}]}",
		    "compare", "key", etcd_json_b64("/bench-raw/p/capacity",
		    21), "target", "VALUE", "result", "EQUAL", "value",
		    etcd_json_b64("1000", 4),
		    "success", "request_put", "key", etcd_json_b64(
		    "/bench-raw/p/capacity", 21), "value",
		    etcd_json_b64("1000", 4),
		    "request_put", "key", etcd_json_b64(key, strlen(key)),
		    "value", etcd_json_b64("{\"weight\":1}", 12),
		    "failure", "request_range", "key", etcd_json_b64(
		    "/bench-raw/p/capacity", 21));
		if (b_call(base, e, "kv/txn", body, NULL) == -1) {
			fprintf(stderr, "cluster-bench: kv/txn failed\n");
			exit(1);
		}
		json_decref(body);
	}
	t = (b_now() - t0) / n;
	etcd_free(e);
	event_base_free(base);
	return (t);
}

/* Mean seconds of an acquire + release of name on sock, n of them. */
static double
b_pairs(const char *sock, const char *name, uint32_t cap, int n)
{
	struct semd_error	 err;
	struct semd		*s;
	double			 t0;
	int			 i;

	if ((s = semd_open(sock, "bench", 0, &err)) == NULL) {
		fprintf(stderr, "cluster-bench: %s\n", err.message);
		exit(1);
	}
	/* One untimed pair: the pool's state is read once. */
	if (semd_acquire(s, name, cap, 1, SEMD_FOREVER, NULL, NULL, &err) !=
	    SEMD_OK || semd_release(s, name, 1, &err) != SEMD_OK) {
		fprintf(stderr, "cluster-bench: %s\n", err.message);
		exit(1);
	}
	t0 = b_now();
	for (i = 0; i < n; i++) {
		if (semd_acquire(s, name, cap, 1, SEMD_FOREVER, NULL, NULL,
		    &err) != SEMD_OK || semd_release(s, name, 1, &err) !=
		    SEMD_OK) {
			fprintf(stderr, "cluster-bench: %s\n", err.message);
			exit(1);
		}
	}
	t0 = (b_now() - t0) / n;
	semd_close(s);
	return (t0);
}

/* Count pairs on sock for secs seconds in a child; its count on fd. */
static pid_t
b_loop_child(const char *sock, const char *name, uint32_t cap, double secs,
    int fd)
{
	struct semd_error	 err;
	struct semd		*s;
	double			 end;
	long			 n = 0;
	pid_t			 pid;

	if ((pid = fork()) != 0)
		return (pid);
	if ((s = semd_open(sock, "bench", 0, &err)) == NULL)
		_exit(1);
	end = b_now() + secs;
	while (b_now() < end) {
		if (semd_acquire(s, name, cap, 1, SEMD_FOREVER, NULL, NULL,
		    &err) != SEMD_OK || semd_release(s, name, 1, &err) !=
		    SEMD_OK)
			_exit(1);
		n++;
	}
	semd_close(s);
	if (write(fd, &n, sizeof n) != sizeof n)
		_exit(1);
	_exit(0);
}

int
main(int argc, char **argv)
{
	char	 cmd[1024], socks[3][300], local_off[300];
	double	 raw, pair, secs = 5;
	int	 ch, n = 300, i, fds[2], st;
	long	 cnt, total = 0;
	pid_t	 kids[6];
	double	 off, on;
	FILE	*f;

	while ((ch = getopt(argc, argv, "b:e:n:t:")) != -1) {
		switch (ch) {
		case 'b':
			b_semd_bin = optarg;
			break;
		case 'e':
			b_etcdsh = optarg;
			break;
		case 'n':
			n = atoi(optarg);
			break;
		case 't':
			secs = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: cluster-bench -b SEMD -e ETCD.SH "
			    "[-n N] [-t SECONDS]\n");
			return (64);
		}
	}
	if (b_semd_bin == NULL || b_etcdsh == NULL || n <= 0) {
		fprintf(stderr, "usage: cluster-bench -b SEMD -e ETCD.SH "
		    "[-n N] [-t SECONDS]\n");
		return (64);
	}
	if (access("/usr/bin/etcd", X_OK) != 0) {
		printf("cluster-bench: skipped (/usr/bin/etcd is missing; "
		    "Debian package etcd-server)\n");
		return (0);
	}
	signal(SIGPIPE, SIG_IGN);
	log_init(LOG_DEST_STDERR, LOG_VERBOSE_QUIET);
	setenv("SEMD_NO_AUTOSTART", "1", 1);
	if (tl_tmpdir(b_dir, sizeof b_dir, "semd-cbench") == -1) {
		perror("mkdtemp");
		return (1);
	}
	atexit(b_cleanup);
	snprintf(cmd, sizeof cmd, "sh '%s' start '%s/etcd' 1 >/dev/null",
	    b_etcdsh, b_dir);
	if ((st = system(cmd)) != 0) {
		fprintf(stderr, "cluster-bench: cannot start etcd\n");
		return (1);
	}
	snprintf(cmd, sizeof cmd, "%s/etcd/endpoints", b_dir);
	if ((f = fopen(cmd, "r")) == NULL || fgets(b_eps, sizeof b_eps, f) ==
	    NULL) {
		perror(cmd);
		return (1);
	}
	fclose(f);
	b_eps[strcspn(b_eps, "\n")] = '\0';

	printf("cluster semaphores (one-member etcd on loopback, %d runs)\n",
	    n);
	raw = b_raw_txn(n);
	printf("  raw etcd Txn round trip:            %8.3f ms\n", raw * 1e3);
	for (i = 0; i < 3; i++) {
		snprintf(cmd, sizeof cmd, "h%d", i + 1);
		b_semd(cmd, 1, socks[i], sizeof socks[i]);
	}
	pair = b_pairs(socks[0], "c-uncontended", 1000, n);
	printf("  cluster acquire + release (semd):   %8.3f ms  = %.2f x "
	    "the Txn (target <= 2.5)\n", pair * 1e3, pair / raw);

	if (pipe(fds) == -1)
		return (1);
	for (i = 0; i < 6; i++)
		kids[i] = b_loop_child(socks[i % 3], "c-shared", 3, secs,
		    fds[1]);
	close(fds[1]);
	for (i = 0; i < 6; i++) {
		if (read(fds[0], &cnt, sizeof cnt) == sizeof cnt)
			total += cnt;
		waitpid(kids[i], NULL, 0);
	}
	close(fds[0]);
	printf("  grants/s, one pool of 3, 3 hosts x 2 clients: %8.0f\n",
	    total / secs);

	on = b_pairs(socks[0], "local-x", 1, n * 20);
	b_semd("off", 0, local_off, sizeof local_off);
	off = b_pairs(local_off, "local-x", 1, n * 20);
	printf("  local pairs/s, cluster mode off:    %8.0f\n", 1 / off);
	printf("  local pairs/s, cluster mode on:     %8.0f  (%+.1f%%)\n",
	    1 / on, (off / on - 1) * 100);
	return (0);
}
