/*
 * test_libsemd.c -- libsemd against a real semd on a temporary socket
 * ($SEMD_BIN), and against a scripted fake daemon where an exact order of
 * replies must be forced (a grant racing a withdrawal, garbage).
 *
 * Check's fork mode stays on: each test runs in its own process, starts
 * its own daemon (killed by PR_SET_PDEATHSIG if the test dies) and may
 * change its environment freely.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "semd.h"
#include "tl.h"

#define WAIT_MS		10000	/* safety net for every wait */
#define RACERS		20

/* The daemon of the current test, on a socket in tmpdir. */
static struct tl_daemon	 test_daemon = { .pid = -1 };
static char		 tmpdir[96];
#define sockpath	 test_daemon.path

/* The daemon binary from the environment (make check sets it). */
static const char *
semd_bin(void)
{
	const char	*bin = getenv("SEMD_BIN");

	ck_assert_msg(bin != NULL && *bin != '\0',
	    "SEMD_BIN must name the semd binary (make check sets it)");
	return (bin);
}

/* Make dir and its missing parents (mode 0755); fails the test if not. */
static void
mkdir_parents(const char *dir)
{
	char	 buf[PATH_MAX], *p;

	ck_assert_int_lt(snprintf(buf, sizeof buf, "%s", dir),
	    (int)sizeof buf);
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		ck_assert_msg(mkdir(buf, 0755) == 0 || errno == EEXIST,
		    "mkdir %s: %s", buf, strerror(errno));
		*p = '/';
	}
	ck_assert_msg(mkdir(buf, 0755) == 0 || errno == EEXIST,
	    "mkdir %s: %s", buf, strerror(errno));
}

/*
 * Give the current test (one forked Check process) its own /tmp and /run:
 * a private mount namespace with empty tmpfs on both, so that the
 * per-user default /tmp/semd-UID and the system socket /run/semd/semd.sock
 * are the test's alone and never the machine's.  The trees the test runs
 * from (build, source, current directory, the daemon's directory) stay
 * visible even when they live under /tmp or /run, as when CI clones the
 * repository into /tmp: they are opened first and bound back in place
 * from their descriptors, as tests/lib/fresh-tmp.sh does for the scripts.
 * Returns 0, or -1 when that cannot be done (not root, or not forked): the
 * caller skips.
 */
static int
private_tmp(void)
{
	const char	*fork_env = getenv("CK_FORK");
	const char	*want[4];
	char		 dirs[4][PATH_MAX], cwd[PATH_MAX], bindir[PATH_MAX];
	char		 link[64], *slash;
	int		 fds[4], i, n = 0;

	if (fork_env != NULL && strcmp(fork_env, "no") == 0)
		return (-1);
	want[0] = getenv("SEMD_BUILDDIR");
	want[1] = getenv("SEMD_SRCDIR");
	want[2] = getcwd(cwd, sizeof cwd);
	ck_assert_int_lt(snprintf(bindir, sizeof bindir, "%s", semd_bin()),
	    (int)sizeof bindir);
	if ((slash = strrchr(bindir, '/')) != NULL)
		*slash = '\0';
	want[3] = slash != NULL ? bindir : NULL;
	if (unshare(CLONE_NEWNS) == -1) {
		fprintf(stderr, "SKIP: no private mount namespace: %s\n",
		    strerror(errno));
		return (-1);
	}
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL),
	    0);
	/* Opened in the new namespace: a bind takes only its own mounts. */
	for (i = 0; i < 4; i++) {
		if (want[i] == NULL || realpath(want[i], dirs[n]) == NULL)
			continue;
		if (strncmp(dirs[n], "/tmp/", 5) != 0 &&
		    strncmp(dirs[n], "/run/", 5) != 0)
			continue;
		fds[n] = open(dirs[n], O_PATH | O_DIRECTORY | O_CLOEXEC);
		ck_assert_msg(fds[n] != -1, "open %s: %s", dirs[n],
		    strerror(errno));
		n++;
	}

	ck_assert_int_eq(mount("tmpfs", "/tmp", "tmpfs", 0, "mode=1777"), 0);
	ck_assert_int_eq(mount("tmpfs", "/run", "tmpfs", 0, "mode=755"), 0);
	for (i = 0; i < n; i++) {
		mkdir_parents(dirs[i]);
		snprintf(link, sizeof link, "/proc/self/fd/%d", fds[i]);
		ck_assert_msg(mount(link, dirs[i], NULL, MS_BIND, NULL) == 0,
		    "bind %s back: %s", dirs[i], strerror(errno));
		close(fds[i]);
	}
	if (want[2] != NULL)
		ck_assert_int_eq(chdir(want[2]), 0);
	return (0);
}

/* The per-user default socket of this process, in buf. */
static void
user_sock(char *buf, size_t len)
{
	ck_assert_int_lt(snprintf(buf, len, "/tmp/semd-%lu/semd.sock",
	    (unsigned long)geteuid()), (int)len);
}

/*
 * Temporary directories made by the current test, removed after it: by
 * remove_tmpdirs, or by their guards when the test fails first.
 */
static struct {
	char		 dir[96];
	struct tl_guard	 guard;
} made[8];
static int	 nmade;

/* Make a fresh temporary directory into buf. */
static void
make_tmpdir(char *buf, size_t len)
{
	ck_assert_int_lt(nmade, (int)(sizeof made / sizeof made[0]));
	ck_assert_msg(tl_tmpdir(made[nmade].dir, sizeof made[nmade].dir,
	    "semd-libtest") == 0, "temp dir: %s", strerror(errno));
	ck_assert_msg(tl_guard_start(&made[nmade].guard, made[nmade].dir,
	    NULL) == 0, "guard: %s", strerror(errno));
	ck_assert_int_lt(snprintf(buf, len, "%s", made[nmade].dir), (int)len);
	nmade++;
}

/* Checked teardown: remove the test's temporary directories. */
static void
remove_tmpdirs(void)
{
	while (nmade > 0) {
		nmade--;
		if (tl_rmtree(made[nmade].dir) == -1)
			fprintf(stderr, "cannot remove %s\n", made[nmade].dir);
		tl_guard_release(&made[nmade].guard);
	}
}

/* (Re)start the test's semd on sockpath; returns once it accepts. */
static void
start_daemon(void)
{
	ck_assert_msg(tl_daemon_start(&test_daemon, NULL) == 0, "%s",
	    test_daemon.error);
}

/* Checked fixture: a daemon on a fresh socket for each test. */
static void
setup(void)
{
	make_tmpdir(tmpdir, sizeof tmpdir);
	ck_assert_int_lt(snprintf(sockpath, sizeof sockpath, "%s/semd.sock",
	    tmpdir), (int)sizeof sockpath);
	unsetenv("SEMD_SOCKET");
	unsetenv("SEMD_NO_AUTOSTART");
	start_daemon();
}

/* Stop the daemon of the test and remove its directory. */
static void
teardown(void)
{
	tl_daemon_stop(&test_daemon, 0);
	remove_tmpdirs();
}

/* Open a connection to the test daemon or fail the test. */
static struct semd *
open_ok(void)
{
	struct semd_error	 err;
	struct semd		*sd;

	sd = semd_open(sockpath, "test_libsemd", SEMD_OPEN_NO_AUTOSTART,
	    &err);
	ck_assert_msg(sd != NULL, "semd_open: %s", err.message);
	return (sd);
}

/* Fetch the status of one semaphore (NULL in *st if unknown). */
static struct semd_status *
status_of(struct semd *sd, const char *name)
{
	struct semd_status	*st = NULL;
	struct semd_error	 err;

	ck_assert_msg(semd_status(sd, name, &st, &err) == SEMD_OK,
	    "semd_status: %s", err.message);
	ck_assert_ptr_nonnull(st);
	return (st);
}

/* Wait (safety net WAIT_MS) for the next event on an event-loop conn. */
static void
next_event(struct semd *sd, struct semd_event *ev)
{
	struct semd_error	err;
	int			r;

	r = tl_semd_next(sd, ev, WAIT_MS, &err);
	ck_assert_msg(r != 0, "no reply from semd");
	ck_assert_msg(r == 1, "semd_process: %s", err.message);
}

/* Counts calls of the on_queued callback. */
struct queued {
	int		calls;
	uint32_t	position;
	int		fd;		/* write 'Q' here, if >= 0 */
};

static void
on_queued(uint32_t position, void *arg)
{
	struct queued	*q = arg;

	q->calls++;
	q->position = position;
	if (q->fd >= 0 && write(q->fd, "Q", 1) != 1)
		_exit(99);
}

/*
 * semd_admin: resize lets a waiter in, list shows the semaphore, revoke
 * by pid reaches an event-loop holder as SEMD_EV_REVOKED with its grant's
 * token, drain and undrain show in the status, and errors map to codes.
 */
START_TEST(test_admin)
{
	struct semd			*a, *b, *c;
	struct semd_admin		 adm;
	struct semd_admin_result	 res;
	struct semd_status		*st;
	struct semd_event		 ev;
	struct semd_error		 err;
	uint64_t			 id, token;

	a = open_ok();
	b = open_ok();
	c = open_ok();
	ck_assert_int_eq(semd_acquire(a, "adm", 1, 1, SEMD_FOREVER, NULL,
	    NULL, &err), SEMD_OK);
	ck_assert_int_eq(semd_submit_acquire(b, &id, "adm", 0, 1,
	    SEMD_FOREVER, &err), SEMD_OK);
	next_event(b, &ev);
	ck_assert_int_eq(ev.type, SEMD_EV_QUEUED);

	memset(&adm, 0, sizeof adm);
	adm.action = SEMD_ADMIN_RESIZE;
	adm.name = "adm";
	adm.capacity = 2;
	ck_assert_msg(semd_admin(c, &adm, &res, &err) == SEMD_OK, "%s",
	    err.message);
	ck_assert_uint_eq(res.capacity, 2);
	ck_assert_ptr_nonnull(strstr(res.message, "resized from 1 to 2"));
	next_event(b, &ev);
	ck_assert_int_eq(ev.type, SEMD_EV_ACQUIRED);
	ck_assert_uint_eq(ev.id, id);
	token = ev.token;
	ck_assert_uint_ne(token, 0);

	memset(&adm, 0, sizeof adm);
	adm.action = SEMD_ADMIN_LIST;
	ck_assert_int_eq(semd_admin(c, &adm, &res, &err), SEMD_OK);
	ck_assert_ptr_nonnull(res.list);
	ck_assert_uint_eq(res.list->nsems, 1);
	ck_assert_str_eq(res.list->sems[0].name, "adm");
	ck_assert_uint_eq(res.list->sems[0].capacity, 2);
	ck_assert_uint_eq(res.list->sems[0].held, 2);
	ck_assert_int_eq(res.list->sems[0].declared, 0);
	semd_status_free(res.list);

	/* Both holders are this process: both are told. */
	memset(&adm, 0, sizeof adm);
	adm.action = SEMD_ADMIN_REVOKE;
	adm.name = "adm";
	adm.pid = getpid();
	ck_assert_int_eq(semd_admin(c, &adm, &res, &err), SEMD_OK);
	ck_assert_uint_eq(res.revoked, 2);
	next_event(b, &ev);
	ck_assert_int_eq(ev.type, SEMD_EV_REVOKED);
	ck_assert_uint_eq(ev.id, 0);
	ck_assert_str_eq(ev.name, "adm");
	ck_assert_uint_eq(ev.token, token);
	/* Revoked is not released: the slots stay until given back. */
	st = status_of(c, "adm");
	ck_assert_uint_eq(st->sems[0].held, 2);
	semd_status_free(st);

	adm.action = SEMD_ADMIN_DRAIN;
	adm.pid = 0;
	ck_assert_int_eq(semd_admin(c, &adm, &res, &err), SEMD_OK);
	st = status_of(c, "adm");
	ck_assert_int_eq(st->sems[0].drained, 1);
	semd_status_free(st);
	adm.action = SEMD_ADMIN_UNDRAIN;
	ck_assert_int_eq(semd_admin(c, &adm, &res, &err), SEMD_OK);

	adm.action = SEMD_ADMIN_REVOKE;
	adm.pid = 1;
	ck_assert_int_eq(semd_admin(c, &adm, &res, &err), SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_NOT_HELD);
	adm.action = SEMD_ADMIN_RESIZE;
	adm.name = "nothere";
	adm.capacity = 3;
	ck_assert_int_eq(semd_admin(c, &adm, &res, &err), SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_NO_CAPACITY);
	adm.action = SEMD_ADMIN_RELOAD;
	ck_assert_int_eq(semd_admin(c, &adm, &res, &err), SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_BAD_REQUEST);
	ck_assert_ptr_nonnull(strstr(err.message, "without a configuration"));
	semd_close(a);
	semd_close(b);
	semd_close(c);
}
END_TEST

/* Blocking API: ping, acquire, status shows us, release, forgotten. */
START_TEST(test_blocking_basic)
{
	struct semd		*sd;
	struct semd_status	*st;
	struct semd_error	 err;

	sd = open_ok();
	ck_assert_str_eq(semd_path(sd), sockpath);
	ck_assert_int_eq(semd_server_pid(sd), test_daemon.pid);
	ck_assert_int_ge(semd_fd(sd), 0);
	ck_assert_int_ne(fcntl(semd_fd(sd), F_GETFD) & FD_CLOEXEC, 0);
	ck_assert_int_ne(fcntl(semd_fd(sd), F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_eq(semd_ping(sd, &err), SEMD_OK);

	ck_assert_int_eq(semd_acquire(sd, "basic", 3, 2, SEMD_FOREVER, NULL,
	    NULL, &err), SEMD_OK);
	st = status_of(sd, "basic");
	ck_assert_uint_eq(st->nsems, 1);
	ck_assert_str_eq(st->sems[0].name, "basic");
	ck_assert_uint_eq(st->sems[0].capacity, 3);
	ck_assert_uint_eq(st->sems[0].held, 2);
	ck_assert_uint_eq(st->sems[0].waiting, 0);
	ck_assert_uint_eq(st->sems[0].nholders, 1);
	ck_assert_int_eq(st->sems[0].holders[0].pid, getpid());
	ck_assert_int_eq(st->sems[0].holders[0].uid, getuid());
	ck_assert_uint_eq(st->sems[0].holders[0].weight, 2);
	ck_assert_int_eq(st->truncated, 0);
	semd_status_free(st);

	/* Capacity 0: the semaphore exists, no declaration needed. */
	ck_assert_int_eq(semd_acquire(sd, "basic", 0, 0, SEMD_TRY, NULL, NULL,
	    &err), SEMD_OK);
	ck_assert_int_eq(semd_release(sd, "basic", 0, &err), SEMD_OK);
	ck_assert_int_eq(semd_release(sd, "basic", 2, &err), SEMD_OK);
	st = status_of(sd, "basic");
	ck_assert_uint_eq(st->nsems, 0);	/* unused: forgotten */
	semd_status_free(st);
	semd_close(sd);
}
END_TEST

/*
 * The handle API: each grant has its own non-zero token; releasing one
 * grant gives back exactly it (the other, of another weight, stays), a
 * released grant is cleared and cannot be released twice, and the event
 * API reports the token too.
 */
START_TEST(test_handles)
{
	struct semd		*sd;
	struct semd_status	*st;
	struct semd_error	 err;
	struct semd_grant	 g1, g2, copy;
	struct semd_event	 ev;
	uint64_t		 id;

	sd = open_ok();
	ck_assert_int_eq(semd_acquire_h(sd, "h", 5, 1, SEMD_FOREVER, NULL,
	    NULL, &g1, &err), SEMD_OK);
	ck_assert_int_eq(semd_acquire_h(sd, "h", 5, 3, SEMD_FOREVER, NULL,
	    NULL, &g2, &err), SEMD_OK);
	ck_assert_str_eq(g1.name, "h");
	ck_assert_uint_eq(g1.capacity, 5);
	ck_assert_uint_eq(g1.weight, 1);
	ck_assert_uint_eq(g2.weight, 3);
	ck_assert(g1.token != 0 && g2.token != 0 && g1.token != g2.token);

	/* The older, lighter grant goes: weight 3 stays (by name, 1 of
	 * the newest would have gone). */
	copy = g1;
	ck_assert_int_eq(semd_release_h(sd, &g1, &err), SEMD_OK);
	ck_assert_uint_eq(g1.weight, 0);
	ck_assert(g1.token == 0);
	st = status_of(sd, "h");
	ck_assert_uint_eq(st->sems[0].held, 3);
	semd_status_free(st);
	ck_assert_int_eq(semd_release_h(sd, &g1, &err), SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_USAGE);
	ck_assert_int_eq(semd_release_h(sd, &copy, &err), SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_NOT_HELD);

	/* The event API carries the token of a grant. */
	ck_assert_int_eq(semd_submit_acquire(sd, &id, "h", 5, 2, SEMD_TRY,
	    &err), 0);
	next_event(sd, &ev);
	ck_assert_int_eq(ev.type, SEMD_EV_ACQUIRED);
	ck_assert(ev.id == id);
	ck_assert(ev.token != 0 && ev.token != g2.token &&
	    ev.token != copy.token);
	copy.token = ev.token;
	ck_assert_int_eq(semd_submit_release_token(sd, &id, copy.token, &err),
	    0);
	next_event(sd, &ev);
	ck_assert_int_eq(ev.type, SEMD_EV_RELEASED);
	ck_assert_str_eq(ev.name, "h");
	ck_assert_uint_eq(ev.weight, 2);
	ck_assert(ev.token == copy.token);

	ck_assert_int_eq(semd_release_h(sd, &g2, &err), SEMD_OK);
	st = status_of(sd, "h");
	ck_assert_uint_eq(st->nsems, 0);
	semd_status_free(st);
	semd_close(sd);
}
END_TEST

/*
 * SEMD_OPEN_RECONNECT: semd is killed with SIGKILL while this connection
 * holds a grant, and a new daemon starts on the socket; a ping finds
 * the loss, reconnects and reclaims the grant under the same token, so
 * another client still cannot get the slot; the grant is then released
 * by its handle.  Without the flag the same ping fails, and an explicit
 * semd_reconnect() reclaims.
 */
START_TEST(test_reconnect)
{
	struct semd		*sd, *other;
	struct semd_error	 err;
	struct semd_grant	 g;
	struct semd_status	*st;
	int			 flag;

	for (flag = 0; flag < 2; flag++) {
		sd = semd_open(sockpath, "test_libsemd",
		    SEMD_OPEN_NO_AUTOSTART | (flag ? SEMD_OPEN_RECONNECT : 0),
		    &err);
		ck_assert_msg(sd != NULL, "semd_open: %s", err.message);
		ck_assert_int_eq(semd_acquire_h(sd, "rc", 1, 1, SEMD_FOREVER,
		    NULL, NULL, &g, &err), SEMD_OK);
		ck_assert_uint_eq(semd_held_count(sd), 1);

		tl_daemon_kill(&test_daemon);
		start_daemon();

		if (flag)
			ck_assert_msg(semd_ping(sd, &err) == SEMD_OK,
			    "semd_ping: %s", err.message);
		else {
			ck_assert_int_eq(semd_ping(sd, &err), SEMD_ERR);
			ck_assert_int_eq(err.code, SEMD_E_DISCONNECTED);
			ck_assert_msg(semd_reconnect(sd, &err) == SEMD_OK,
			    "semd_reconnect: %s", err.message);
		}
		ck_assert_int_eq(semd_server_pid(sd), test_daemon.pid);
		ck_assert_uint_eq(semd_held_count(sd), 1);

		other = open_ok();
		ck_assert_int_eq(semd_acquire(other, "rc", 1, 1, SEMD_TRY,
		    NULL, NULL, &err), SEMD_TIMEDOUT);
		st = status_of(other, "rc");
		ck_assert_uint_eq(st->sems[0].held, 1);
		ck_assert_int_eq(st->sems[0].holders[0].pid, getpid());
		semd_status_free(st);

		ck_assert_int_eq(semd_release_h(sd, &g, &err), SEMD_OK);
		ck_assert_uint_eq(semd_held_count(sd), 0);
		ck_assert_int_eq(semd_acquire(other, "rc", 1, 1, SEMD_TRY,
		    NULL, NULL, &err), SEMD_OK);
		semd_close(other);
		semd_close(sd);
	}

	/* The daemon does not come back: one try, then UNREACHABLE. */
	sd = open_ok();
	ck_assert_int_eq(semd_acquire_h(sd, "rc", 1, 1, SEMD_FOREVER, NULL,
	    NULL, &g, &err), SEMD_OK);
	tl_daemon_kill(&test_daemon);
	semd_set_reconnect_ms(sd, 0);
	ck_assert_int_eq(semd_reconnect(sd, &err), SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_UNREACHABLE);
	ck_assert_int_eq(semd_ping(sd, &err), SEMD_ERR);
	semd_close(sd);
}
END_TEST

/* A waiter is told its position once, then times out. */
START_TEST(test_timeout)
{
	struct semd		*a, *b;
	struct semd_status	*st;
	struct semd_error	 err;
	struct queued		 q = { 0, 0, -1 };

	a = open_ok();
	b = open_ok();
	ck_assert_int_eq(semd_acquire(a, "t", 1, 1, SEMD_FOREVER, NULL, NULL,
	    &err), SEMD_OK);
	ck_assert_int_eq(semd_acquire(b, "t", 1, 1, 50, on_queued, &q, &err),
	    SEMD_TIMEDOUT);
	ck_assert_int_eq(q.calls, 1);
	ck_assert_uint_eq(q.position, 1);
	st = status_of(a, "t");
	ck_assert_uint_eq(st->sems[0].held, 1);
	ck_assert_uint_eq(st->sems[0].waiting, 0);
	semd_status_free(st);
	/* b is still usable. */
	ck_assert_int_eq(semd_ping(b, &err), SEMD_OK);
	semd_close(b);
	semd_close(a);
}
END_TEST

/* SEMD_TRY never queues; it succeeds once the slot is free. */
START_TEST(test_try)
{
	struct semd		*a, *b;
	struct semd_error	 err;
	struct queued		 q = { 0, 0, -1 };

	a = open_ok();
	b = open_ok();
	ck_assert_int_eq(semd_acquire(a, "try", 1, 1, SEMD_TRY, NULL, NULL,
	    &err), SEMD_OK);
	ck_assert_int_eq(semd_acquire(b, "try", 1, 1, SEMD_TRY, on_queued, &q,
	    &err), SEMD_TIMEDOUT);
	ck_assert_int_eq(q.calls, 0);
	ck_assert_int_eq(semd_release(a, "try", 1, &err), SEMD_OK);
	ck_assert_int_eq(semd_acquire(b, "try", 1, 1, SEMD_TRY, on_queued, &q,
	    &err), SEMD_OK);
	ck_assert_int_eq(q.calls, 0);
	semd_close(b);
	semd_close(a);
}
END_TEST

/* Daemon errors carry the daemon's code and message. */
START_TEST(test_errors)
{
	struct semd		*a, *b;
	struct semd_error	 err;

	a = open_ok();
	b = open_ok();
	ck_assert_int_eq(semd_acquire(a, "e", 2, 1, SEMD_FOREVER, NULL, NULL,
	    &err), SEMD_OK);

	ck_assert_int_eq(semd_acquire(b, "e", 3, 1, SEMD_FOREVER, NULL, NULL,
	    &err), SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_CAPACITY_MISMATCH);
	ck_assert_msg(strstr(err.message, "2") != NULL,
	    "message does not name the capacity: %s", err.message);

	ck_assert_int_eq(semd_release(b, "e", 1, &err), SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_NOT_HELD);
	ck_assert_msg(strstr(err.message, "e") != NULL && strlen(err.message)
	    > 10, "NOT_HELD message: %s", err.message);

	ck_assert_int_eq(semd_acquire(b, "heavy", 2, 3, SEMD_FOREVER, NULL,
	    NULL, &err), SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_TOO_HEAVY);
	ck_assert_str_ne(err.message, "");

	ck_assert_int_eq(semd_acquire(b, "nocap", 0, 1, SEMD_FOREVER, NULL,
	    NULL, &err), SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_NO_CAPACITY);
	ck_assert_str_ne(err.message, "");

	/* Caught before it goes on the wire. */
	ck_assert_int_eq(semd_acquire(b, "bad name", 1, 1, SEMD_FOREVER, NULL,
	    NULL, &err), SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_BAD_NAME);
	ck_assert_int_eq(semd_acquire(b, "x", 1, 1, -5, NULL, NULL, &err),
	    SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_USAGE);

	/* Errors leave both connections usable and a's slot held. */
	ck_assert_int_eq(semd_ping(b, &err), SEMD_OK);
	ck_assert_int_eq(semd_release(a, "e", 1, &err), SEMD_OK);
	ck_assert_str_eq(semd_strerror(SEMD_E_NOT_HELD),
	    "not held by this connection");
	ck_assert_str_eq(semd_version(), PACKAGE_VERSION);
	semd_close(b);
	semd_close(a);
}
END_TEST

/* Nobody listening and auto-start off: SEMD_E_UNREACHABLE, with a hint. */
START_TEST(test_unreachable)
{
	struct semd_error	 err;
	struct semd		*sd;
	char			 dir[PATH_MAX], path[PATH_MAX + 32];

	if (private_tmp() == -1)
		return;
	make_tmpdir(dir, sizeof dir);
	setenv("XDG_RUNTIME_DIR", dir, 1);
	setenv("SEMD_NO_AUTOSTART", "1", 1);
	setenv("SEMD_BIN", "/nonexistent/semd", 1);
	sd = semd_open(NULL, NULL, 0, &err);
	ck_assert_ptr_null(sd);
	ck_assert_int_eq(err.code, SEMD_E_UNREACHABLE);
	ck_assert_int_eq(err.sys_errno, ENOENT);
	user_sock(path, sizeof path);
	ck_assert_msg(strstr(err.message, path) != NULL &&
	    strstr(err.message, "is it running? try: semd") != NULL,
	    "message: %s", err.message);

	/* The flag alone turns auto-start off too. */
	unsetenv("SEMD_NO_AUTOSTART");
	sd = semd_open(NULL, NULL, SEMD_OPEN_NO_AUTOSTART, &err);
	ck_assert_ptr_null(sd);
	ck_assert_int_eq(err.code, SEMD_E_UNREACHABLE);

	/* An explicit path never starts anything. */
	snprintf(path, sizeof path, "%s/other.sock", dir);
	sd = semd_open(path, NULL, 0, &err);
	ck_assert_ptr_null(sd);
	ck_assert_int_eq(err.code, SEMD_E_UNREACHABLE);
	ck_assert_msg(strstr(err.message, "try: semd -S ") != NULL,
	    "message: %s", err.message);

	/* SEMD_SOCKET is explicit too. */
	setenv("SEMD_SOCKET", path, 1);
	sd = semd_open(NULL, NULL, 0, &err);
	ck_assert_ptr_null(sd);
	ck_assert_int_eq(err.code, SEMD_E_UNREACHABLE);
	ck_assert_msg(strstr(err.message, path) != NULL, "message: %s",
	    err.message);
}
END_TEST

/* The daemon dies under an open connection: SEMD_E_DISCONNECTED. */
START_TEST(test_disconnected)
{
	struct semd		*sd;
	struct semd_error	 err;

	sd = open_ok();
	tl_daemon_kill(&test_daemon);
	ck_assert_int_eq(semd_acquire(sd, "d", 1, 1, SEMD_FOREVER, NULL, NULL,
	    &err), SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_DISCONNECTED);
	/* Broken for good: every later call says the same. */
	ck_assert_int_eq(semd_ping(sd, &err), SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_DISCONNECTED);
	semd_close(sd);
}
END_TEST

/* An on_queued callback that kills the test daemon once queued. */
static void
kill_daemon_on_queued(uint32_t position, void *arg)
{
	int	*calls = arg;

	(*calls)++;
	kill(test_daemon.pid, SIGKILL);
}

/*
 * The daemon dies while semd_acquire waits in its queue: SEMD_ERR with
 * SEMD_E_DISCONNECTED.  The holder, blocked nowhere, learns of it from
 * its descriptor (readable) and semd_process; every later call on either
 * connection fails the same way.
 */
START_TEST(test_disconnected_waiting)
{
	struct semd		*a, *b;
	struct semd_error	 err;
	struct semd_event	 ev;
	struct pollfd		 pfd;
	uint64_t		 id;
	int			 calls = 0;

	a = open_ok();
	b = open_ok();
	ck_assert_int_eq(semd_acquire(a, "d", 1, 1, SEMD_FOREVER, NULL, NULL,
	    &err), SEMD_OK);
	ck_assert_int_eq(semd_acquire(b, "d", 1, 1, SEMD_FOREVER,
	    kill_daemon_on_queued, &calls, &err), SEMD_ERR);
	ck_assert_int_eq(calls, 1);
	ck_assert_int_eq(err.code, SEMD_E_DISCONNECTED);
	tl_daemon_kill(&test_daemon);

	pfd.fd = semd_fd(a);
	pfd.events = POLLIN;
	pfd.revents = 0;
	ck_assert_int_eq(poll(&pfd, 1, WAIT_MS), 1);
	ck_assert(pfd.revents & (POLLIN | POLLHUP));
	ck_assert_int_eq(semd_process(a, &ev, &err), -1);
	ck_assert_int_eq(err.code, SEMD_E_DISCONNECTED);
	ck_assert_int_eq(semd_release(a, "d", 1, &err), SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_DISCONNECTED);
	ck_assert_int_eq(semd_submit_acquire(a, &id, "d", 1, 1, SEMD_FOREVER,
	    &err), -1);
	ck_assert_int_eq(err.code, SEMD_E_DISCONNECTED);
	ck_assert_int_eq(semd_acquire(b, "d", 1, 1, SEMD_TRY, NULL, NULL,
	    &err), SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_DISCONNECTED);
	semd_close(a);
	semd_close(b);
}
END_TEST

/*
 * Event-loop API: several requests in flight, replies in the order the
 * daemon decided them, withdrawal of a waiter and of a granted request.
 */
START_TEST(test_event_loop)
{
	struct semd		*a, *b;
	struct semd_event	 ev;
	struct semd_error	 err;
	uint64_t		 id1, id2, id3, id4, id5, id6;

	a = open_ok();
	ck_assert_int_eq(semd_submit_acquire(a, &id1, "ev", 2, 1,
	    SEMD_FOREVER, &err), 0);
	ck_assert_int_eq(semd_submit_acquire(a, &id2, "ev", 2, 1,
	    SEMD_FOREVER, &err), 0);
	ck_assert_int_eq(semd_submit_acquire(a, &id3, "ev", 2, 1,
	    SEMD_FOREVER, &err), 0);
	ck_assert_int_eq(semd_submit_status(a, &id4, "ev", &err), 0);
	ck_assert(id1 < id2 && id2 < id3 && id3 < id4);

	next_event(a, &ev);
	ck_assert_int_eq(ev.type, SEMD_EV_ACQUIRED);
	ck_assert_uint_eq(ev.id, id1);
	ck_assert_str_eq(ev.name, "ev");
	ck_assert_uint_eq(ev.weight, 1);
	next_event(a, &ev);
	ck_assert_int_eq(ev.type, SEMD_EV_ACQUIRED);
	ck_assert_uint_eq(ev.id, id2);
	next_event(a, &ev);
	ck_assert_int_eq(ev.type, SEMD_EV_QUEUED);
	ck_assert_uint_eq(ev.id, id3);
	ck_assert_uint_eq(ev.position, 1);
	next_event(a, &ev);
	ck_assert_int_eq(ev.type, SEMD_EV_STATUS);
	ck_assert_uint_eq(ev.id, id4);
	ck_assert_ptr_nonnull(ev.status);
	ck_assert_uint_eq(ev.status->nsems, 1);
	ck_assert_uint_eq(ev.status->sems[0].held, 2);
	ck_assert_uint_eq(ev.status->sems[0].waiting, 1);
	ck_assert_uint_eq(ev.status->sems[0].nwaiters, 1);
	ck_assert_int_eq(ev.status->sems[0].waiters[0].pid, getpid());
	semd_status_free(ev.status);

	/* Withdraw the waiter: TIMEOUT with its id. */
	ck_assert_int_eq(semd_submit_withdraw(a, id3, &err), 0);
	next_event(a, &ev);
	ck_assert_int_eq(ev.type, SEMD_EV_TIMEOUT);
	ck_assert_uint_eq(ev.id, id3);

	ck_assert_int_eq(semd_submit_release(a, &id5, "ev", 1, &err), 0);
	next_event(a, &ev);
	ck_assert_int_eq(ev.type, SEMD_EV_RELEASED);
	ck_assert_uint_eq(ev.id, id5);
	ck_assert_str_eq(ev.name, "ev");

	/* Withdrawing a granted request: ACQUIRED, then NOT_PENDING. */
	ck_assert_int_eq(semd_submit_acquire(a, &id6, "ev", 2, 1,
	    SEMD_FOREVER, &err), 0);
	ck_assert_int_eq(semd_submit_withdraw(a, id6, &err), 0);
	next_event(a, &ev);
	ck_assert_int_eq(ev.type, SEMD_EV_ACQUIRED);
	ck_assert_uint_eq(ev.id, id6);
	next_event(a, &ev);
	ck_assert_int_eq(ev.type, SEMD_EV_ERROR);
	ck_assert_uint_eq(ev.id, id6);
	ck_assert_int_eq(ev.error.code, SEMD_E_NOT_PENDING);
	ck_assert_str_ne(ev.error.message, "");
	ck_assert_int_eq(semd_process(a, &ev, &err), 0);
	ck_assert_int_eq(semd_want_write(a), 0);

	/* A waiter on another connection is granted when a closes. */
	b = open_ok();
	ck_assert_int_eq(semd_submit_acquire(b, &id1, "ev", 2, 2,
	    SEMD_FOREVER, &err), 0);
	next_event(b, &ev);
	ck_assert_int_eq(ev.type, SEMD_EV_QUEUED);
	semd_close(a);
	next_event(b, &ev);
	ck_assert_int_eq(ev.type, SEMD_EV_ACQUIRED);
	ck_assert_uint_eq(ev.id, id1);
	ck_assert_uint_eq(ev.weight, 2);
	ck_assert_int_eq(semd_submit_withdraw(b, 999, &err), -1);
	ck_assert_int_eq(err.code, SEMD_E_USAGE);
	semd_close(b);
}
END_TEST

static volatile sig_atomic_t	got_signal;

static void
on_signal(int sig)
{
	got_signal = sig;
}

/* Install on_signal for SIGUSR1 without SA_RESTART. */
static void
catch_usr1(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
}

/* What a child blocked in semd_acquire reports. */
struct result {
	int	r;
	int	code;
	char	message[512];
};

/*
 * Send SIGUSR1 to pid until it writes its result on fd.  Repeated
 * because a signal landing just before the child enters poll() is not
 * seen by the wait (see libsemd(3)); the repetition is a safety net, not
 * part of what is tested.
 */
static void
signal_until_result(pid_t pid, int fd, struct result *res)
{
	struct pollfd	pfd;
	int64_t		deadline = tl_now_ms() + WAIT_MS;

	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		ck_assert_int_eq(kill(pid, SIGUSR1), 0);
		if (poll(&pfd, 1, 20) == 1)
			break;
		ck_assert_msg(tl_now_ms() < deadline,
		    "the child never returned");
	}
	ck_assert_int_eq(read(fd, res, sizeof *res), (ssize_t)sizeof *res);
}

/*
 * A signal (handler without SA_RESTART) interrupts a blocked
 * semd_acquire: it returns SEMD_E_INTERRUPTED and the daemon no longer
 * lists the waiter, though its connection is still open.
 */
START_TEST(test_eintr)
{
	struct semd		*a, *b;
	struct semd_status	*st;
	struct semd_error	 err;
	struct result		 res;
	struct queued		 q;
	int			 rp[2], qp[2], gp[2], status;
	char			 c;
	pid_t			 pid;

	a = open_ok();
	ck_assert_int_eq(semd_acquire(a, "intr", 1, 1, SEMD_FOREVER, NULL,
	    NULL, &err), SEMD_OK);
	ck_assert_int_eq(pipe(rp), 0);
	ck_assert_int_eq(pipe(qp), 0);
	ck_assert_int_eq(pipe(gp), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		catch_usr1();
		memset(&res, 0, sizeof res);
		b = semd_open(sockpath, "intr", 0, &err);
		if (b == NULL)
			_exit(2);
		q.calls = 0;
		q.fd = qp[1];
		res.r = semd_acquire(b, "intr", 1, 1, SEMD_FOREVER, on_queued,
		    &q, &err);
		res.code = err.code;
		memcpy(res.message, err.message, sizeof res.message);
		if (write(rp[1], &res, sizeof res) != sizeof res)
			_exit(3);
		/* Stay connected until the parent has looked. */
		if (read(gp[0], &c, 1) != 1)
			_exit(4);
		if (semd_ping(b, &err) != SEMD_OK)
			_exit(5);
		semd_close(b);
		_exit(q.calls == 1 && got_signal == SIGUSR1 ? 0 : 6);
	}
	ck_assert_int_eq(read(qp[0], &c, 1), 1);	/* it waits in line */
	st = status_of(a, "intr");
	ck_assert_uint_eq(st->sems[0].waiting, 1);
	semd_status_free(st);

	signal_until_result(pid, rp[0], &res);
	ck_assert_int_eq(res.r, SEMD_ERR);
	ck_assert_int_eq(res.code, SEMD_E_INTERRUPTED);
	ck_assert_msg(strstr(res.message, "intr") != NULL, "message: %s",
	    res.message);

	st = status_of(a, "intr");
	ck_assert_uint_eq(st->nsems, 1);
	ck_assert_uint_eq(st->sems[0].held, 1);
	ck_assert_uint_eq(st->sems[0].waiting, 0);
	ck_assert_uint_eq(st->sems[0].nwaiters, 0);
	semd_status_free(st);

	ck_assert_int_eq(write(gp[1], "g", 1), 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	semd_close(a);
}
END_TEST

/* ---- A scripted fake daemon (tests/lib/tl_fake.c), for exact orders
 * of replies and for what no real semd sends. ---- */

#define FAKE(...)	((const struct tl_fake_step){ __VA_ARGS__ })
#define F_ACCEPT	FAKE(.act = TL_FAKE_ACCEPT)
#define F_EXPECT(o)	FAKE(.act = TL_FAKE_EXPECT, .op = PROTO_OP_##o)
#define F_REPLY(o)	FAKE(.act = TL_FAKE_REPLY, .op = PROTO_OP_##o)
#define F_WAIT_EOF	FAKE(.act = TL_FAKE_WAIT_EOF)
#define F_END		FAKE(.act = TL_FAKE_END)

/* The greeting every script starts with: HELLO for HELLO. */
#define F_HELLO		F_ACCEPT, F_EXPECT(HELLO), F_REPLY(HELLO)

/* Start the fake on script, or fail the test. */
static void
fake_start(struct tl_fake *f, const struct tl_fake_step *script)
{
	ck_assert_msg(tl_fake_start(f, script) == 0, "%s", f->error);
}

/* The fake must have played its script to the end. */
static void
fake_finish(struct tl_fake *f)
{
	ck_assert_msg(tl_fake_finish(f) == 0, "%s", f->error);
}

/* Open a connection to the fake or fail the test. */
static struct semd *
fake_open(struct tl_fake *f)
{
	struct semd_error	 err;
	struct semd		*sd;

	sd = semd_open(f->path, NULL, SEMD_OPEN_NO_AUTOSTART, &err);
	ck_assert_msg(sd != NULL, "semd_open: %s", err.message);
	return (sd);
}

/*
 * Against the fake playing script, semd_acquire must fail with code and
 * a message holding text; then semd_ping must succeed (ping_code
 * SEMD_E_NONE: the connection goes on) or fail with ping_code.
 */
static void
fake_acquire_fails(const struct tl_fake_step *script, int code,
    const char *text, int ping_code)
{
	struct semd_error	 err;
	struct semd		*sd;
	struct tl_fake		 f;

	fake_start(&f, script);
	sd = fake_open(&f);
	ck_assert_int_eq(semd_acquire(sd, "x", 1, 1, SEMD_FOREVER, NULL,
	    NULL, &err), SEMD_ERR);
	ck_assert_int_eq(err.code, code);
	ck_assert_msg(strstr(err.message, text) != NULL, "message: %s",
	    err.message);
	if (ping_code == SEMD_E_NONE)
		ck_assert_msg(semd_ping(sd, &err) == SEMD_OK, "the "
		    "connection broke: %s", err.message);
	else {
		ck_assert_int_eq(semd_ping(sd, &err), SEMD_ERR);
		ck_assert_int_eq(err.code, ping_code);
	}
	semd_close(sd);
	fake_finish(&f);
}

static void
on_alarm(int sig)
{
	(void)sig;
}

/*
 * Against the fake playing script, semd_open must fail with code and a
 * message holding text (NULL: the fake's socket path).  With interrupt,
 * SIGALRM comes every 100 ms meanwhile (no SA_RESTART), for a script
 * that never answers; without, a signal would make the test flaky.
 */
static void
fake_open_fails(const struct tl_fake_step *script, int code,
    const char *text, int interrupt)
{
	struct itimerval	 it = { { 0, 100000 }, { 0, 100000 } };
	struct sigaction	 sa;
	struct semd_error	 err;
	struct semd		*sd;
	struct tl_fake		 f;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
	fake_start(&f, script);
	if (interrupt)
		ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
	sd = semd_open(f.path, NULL, SEMD_OPEN_NO_AUTOSTART, &err);
	memset(&it, 0, sizeof it);
	ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
	ck_assert_ptr_null(sd);
	ck_assert_int_eq(err.code, code);
	if (text == NULL)
		text = f.path;
	ck_assert_msg(strstr(err.message, text) != NULL, "message: %s",
	    err.message);
	fake_finish(&f);
}

/*
 * Run a client in a child that blocks in semd_acquire on the fake
 * daemon, interrupt it, and answer the withdrawal as granted_first says:
 * ACQUIRED then NOT_PENDING (the daemon granted before it read the
 * withdrawal), or TIMEOUT (withdrawn).  Returns what the child's
 * semd_acquire returned.
 */
static void
fake_withdraw_race(int granted_first, struct result *res)
{
	const struct tl_fake_step script[] = {
		F_HELLO,
		FAKE(.act = TL_FAKE_EXPECT, .op = PROTO_OP_ACQUIRE,
		    .sem = "race"),
		FAKE(.act = TL_FAKE_REPLY, .op = PROTO_OP_QUEUED, .num = 3),
		/* Signal the client until the withdrawal arrives. */
		FAKE(.act = TL_FAKE_EXPECT, .op = PROTO_OP_TIMEOUT, .ref = 2,
		    .poke = SIGUSR1),
		granted_first ?
		    FAKE(.act = TL_FAKE_REPLY, .op = PROTO_OP_ACQUIRED,
		    .sem = "race") : F_REPLY(TIMEOUT),
		granted_first ?
		    FAKE(.act = TL_FAKE_REPLY, .op = PROTO_OP_ERROR,
		    .code = PROTO_E_NOT_PENDING, .text = "not pending") :
		    F_EXPECT(HELLO),
		/* Then the barrier: the library must wait for its answer. */
		granted_first ? F_EXPECT(HELLO) : F_REPLY(HELLO),
		granted_first ? F_REPLY(HELLO) : F_WAIT_EOF,
		granted_first ? F_WAIT_EOF : F_END,
		F_END
	};
	struct semd_error	 err;
	struct semd		*sd;
	struct tl_fake		 f;
	struct queued		 q;
	int			 rp[2], status;
	pid_t			 pid;

	fake_start(&f, script);
	ck_assert_int_eq(pipe(rp), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		catch_usr1();
		memset(res, 0, sizeof *res);
		if ((sd = semd_open(f.path, NULL, 0, &err)) == NULL)
			_exit(2);
		q.calls = 0;
		q.fd = -1;
		res->r = semd_acquire(sd, "race", 1, 1, SEMD_FOREVER,
		    on_queued, &q, &err);
		res->code = err.code;
		if (q.calls != 1 || q.position != 3)
			res->code = -1;
		memcpy(res->message, err.message, sizeof res->message);
		if (write(rp[1], res, sizeof *res) != sizeof *res)
			_exit(3);
		semd_close(sd);
		_exit(0);
	}
	ck_assert_int_eq(read(rp[0], res, sizeof *res), (ssize_t)sizeof *res);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	fake_finish(&f);
}

/* Granted before the withdrawal was read: SEMD_OK, the slot is held. */
START_TEST(test_withdraw_granted_first)
{
	struct result	res;

	fake_withdraw_race(1, &res);
	ck_assert_int_eq(res.r, SEMD_OK);
	ck_assert_int_eq(res.code, SEMD_E_NONE);
}
END_TEST

/* Withdrawn: SEMD_E_INTERRUPTED. */
START_TEST(test_withdraw_withdrawn)
{
	struct result	res;

	fake_withdraw_race(0, &res);
	ck_assert_int_eq(res.r, SEMD_ERR);
	ck_assert_int_eq(res.code, SEMD_E_INTERRUPTED);
}
END_TEST

/*
 * The daemon grants, then goes away: the grant is delivered first
 * (SEMD_OK), and only the next call reports SEMD_E_DISCONNECTED.
 */
START_TEST(test_granted_then_lost)
{
	static const struct tl_fake_step script[] = {
		F_HELLO, F_EXPECT(ACQUIRE), F_REPLY(ACQUIRED), F_END
	};
	struct semd_error	 err;
	struct semd		*sd;
	struct tl_fake		 f;

	fake_start(&f, script);
	sd = fake_open(&f);
	ck_assert_int_eq(semd_acquire(sd, "race", 1, 1, SEMD_FOREVER, NULL,
	    NULL, &err), SEMD_OK);
	fake_finish(&f);
	ck_assert_int_eq(semd_ping(sd, &err), SEMD_ERR);
	ck_assert_int_eq(err.code, SEMD_E_DISCONNECTED);
	semd_close(sd);
}
END_TEST

/*
 * An ERROR with a code added by a later daemon ends the request with
 * SEMD_E_PROTOCOL and the daemon's message, and the connection goes on
 * (a v1 client keeps working against later versions).
 */
START_TEST(test_unknown_error_code)
{
	static const struct tl_fake_step script[] = {
		F_HELLO, F_EXPECT(ACQUIRE),
		FAKE(.act = TL_FAKE_ERROR_NAMED, .name = "RATE_LIMITED",
		    .text = "slow down"),
		F_EXPECT(HELLO), F_REPLY(HELLO), F_WAIT_EOF, F_END
	};

	fake_acquire_fails(script, SEMD_E_PROTOCOL, "slow down", SEMD_E_NONE);
}
END_TEST

/* Something that is not semd: SEMD_E_PROTOCOL, no crash. */
START_TEST(test_protocol_garbage)
{
	/* A length prefix of 2^31: no valid frame. */
	static const struct tl_fake_step script[] = {
		F_ACCEPT, F_EXPECT(HELLO),
		FAKE(.act = TL_FAKE_RAW, .text = "\x80\0\0\0garbage",
		    .len = 11),
		F_WAIT_EOF, F_END
	};

	fake_open_fails(script, SEMD_E_PROTOCOL, NULL, 0);
}
END_TEST

/*
 * A frame of the right length whose body is no MessagePack map (0xc1 is
 * never used): SEMD_E_PROTOCOL, and the connection is broken for good --
 * the next call fails the same way without writing a byte (a ping would
 * fail the script's WAIT_EOF).
 */
START_TEST(test_garbage_body)
{
	static const struct tl_fake_step script[] = {
		F_HELLO, F_EXPECT(ACQUIRE),
		FAKE(.act = TL_FAKE_RAW, .text = "\0\0\0\3\xc1\xc1\xc1",
		    .len = 7),
		F_WAIT_EOF, F_END
	};

	fake_acquire_fails(script, SEMD_E_PROTOCOL, "cannot read",
	    SEMD_E_PROTOCOL);
}
END_TEST

/*
 * Half a frame, then the daemon closes: SEMD_E_DISCONNECTED (not a
 * protocol error, not a hang), and every later call says the same.
 */
START_TEST(test_partial_frame)
{
	static const struct tl_fake_step script[] = {
		F_HELLO, F_EXPECT(ACQUIRE),
		/* A 20-byte body announced, 6 bytes of it sent. */
		FAKE(.act = TL_FAKE_RAW, .text = "\0\0\0\x14\x84\xa2op\xa8",
		    .len = 9),
		FAKE(.act = TL_FAKE_CLOSE), F_END
	};

	fake_acquire_fails(script, SEMD_E_DISCONNECTED, "closed",
	    SEMD_E_DISCONNECTED);
}
END_TEST

/*
 * Replies with an op this library does not know (a later daemon's) are
 * skipped, and so is a reply to an id not in flight (a withdrawn
 * request's late answer): the call still gets its own reply.
 */
START_TEST(test_unknown_op_skipped)
{
	static const struct tl_fake_step script[] = {
		F_HELLO, F_EXPECT(ACQUIRE),
		FAKE(.act = TL_FAKE_UNKNOWN_OP, .text = "FROBNICATE"),
		FAKE(.act = TL_FAKE_REPLY, .op = PROTO_OP_TIMEOUT, .ref = 1),
		FAKE(.act = TL_FAKE_REPLY, .op = PROTO_OP_ACQUIRED,
		    .sem = "u", .num = 2),
		F_EXPECT(HELLO), F_REPLY(HELLO), F_WAIT_EOF, F_END
	};
	struct semd_error	 err;
	struct semd		*sd;
	struct tl_fake		 f;

	fake_start(&f, script);
	sd = fake_open(&f);
	ck_assert_msg(semd_acquire(sd, "u", 2, 2, SEMD_FOREVER, NULL, NULL,
	    &err) == SEMD_OK, "semd_acquire: %s", err.message);
	ck_assert_uint_eq(semd_held_count(sd), 1);
	ck_assert_msg(semd_ping(sd, &err) == SEMD_OK, "semd_ping: %s",
	    err.message);
	semd_close(sd);
	fake_finish(&f);
}
END_TEST

/*
 * Replies out of order on an event-loop connection: the second request
 * is answered first, and each event names its own request.
 */
START_TEST(test_out_of_order)
{
	static const struct tl_fake_step script[] = {
		F_HELLO,
		FAKE(.act = TL_FAKE_EXPECT, .op = PROTO_OP_ACQUIRE, .sem = "a"),
		FAKE(.act = TL_FAKE_EXPECT, .op = PROTO_OP_ACQUIRE, .sem = "b"),
		FAKE(.act = TL_FAKE_REPLY, .op = PROTO_OP_ACQUIRED, .ref = 3,
		    .sem = "b"),
		FAKE(.act = TL_FAKE_REPLY, .op = PROTO_OP_QUEUED, .ref = 2,
		    .num = 4),
		FAKE(.act = TL_FAKE_REPLY, .op = PROTO_OP_ACQUIRED, .ref = 2,
		    .sem = "a"),
		F_WAIT_EOF, F_END
	};
	struct semd_error	 err;
	struct semd_event	 ev;
	struct semd		*sd;
	struct tl_fake		 f;
	uint64_t		 ida, idb;

	fake_start(&f, script);
	sd = fake_open(&f);
	ck_assert_int_eq(semd_submit_acquire(sd, &ida, "a", 1, 1,
	    SEMD_FOREVER, &err), 0);
	ck_assert_int_eq(semd_submit_acquire(sd, &idb, "b", 1, 1,
	    SEMD_FOREVER, &err), 0);
	ck_assert_uint_ne(ida, idb);
	next_event(sd, &ev);
	ck_assert_int_eq(ev.type, SEMD_EV_ACQUIRED);
	ck_assert_uint_eq(ev.id, idb);
	ck_assert_str_eq(ev.name, "b");
	next_event(sd, &ev);
	ck_assert_int_eq(ev.type, SEMD_EV_QUEUED);
	ck_assert_uint_eq(ev.id, ida);
	ck_assert_uint_eq(ev.position, 4);
	next_event(sd, &ev);
	ck_assert_int_eq(ev.type, SEMD_EV_ACQUIRED);
	ck_assert_uint_eq(ev.id, ida);
	ck_assert_str_eq(ev.name, "a");
	ck_assert_uint_eq(semd_held_count(sd), 2);
	semd_close(sd);
	fake_finish(&f);
}
END_TEST

/*
 * A reply of the wrong kind (RELEASED to HELLO): SEMD_E_PROTOCOL, no
 * connection.
 */
START_TEST(test_unexpected_reply)
{
	static const struct tl_fake_step script[] = {
		F_ACCEPT, F_EXPECT(HELLO), F_REPLY(RELEASED), F_WAIT_EOF,
		F_END
	};

	fake_open_fails(script, SEMD_E_PROTOCOL, "unexpected RELEASED", 0);
}
END_TEST

/*
 * A daemon that never answers HELLO: semd_open waits (it has no time
 * limit of its own) until a signal interrupts it, then reports
 * SEMD_E_INTERRUPTED and closes its connection (the fake sees EOF).
 */
START_TEST(test_silent_daemon)
{
	static const struct tl_fake_step script[] = {
		F_ACCEPT, F_EXPECT(HELLO), FAKE(.act = TL_FAKE_HANG), F_END
	};

	fake_open_fails(script, SEMD_E_INTERRUPTED, "interrupted", 1);
}
END_TEST

/* ---- Paths and auto-start ---- */

/*
 * The socket path: explicit, $SEMD_SOCKET, else the per-user default
 * /tmp/semd-UID/semd.sock whatever XDG_RUNTIME_DIR says (DESIGN.md, "One
 * limiter per caller"), whose directory must be ours alone.
 */
START_TEST(test_default_path)
{
	struct semd_error	 err;
	struct stat		 sb;
	char			 dir[PATH_MAX], buf[256];
	char			 want[PATH_MAX + 32], sock[PATH_MAX];
	int			 dflt, fd;

	if (private_tmp() == -1)
		return;
	make_tmpdir(dir, sizeof dir);
	setenv("SEMD_SOCKET", "/some/where.sock", 1);
	ck_assert_int_eq(semd_default_path(buf, sizeof buf, &dflt, &err), 0);
	ck_assert_str_eq(buf, "/some/where.sock");
	ck_assert_int_eq(dflt, 0);

	/* The environment does not move the per-user default. */
	unsetenv("SEMD_SOCKET");
	user_sock(sock, sizeof sock);
	setenv("XDG_RUNTIME_DIR", dir, 1);
	ck_assert_int_eq(semd_default_path(buf, sizeof buf, &dflt, &err), 0);
	ck_assert_str_eq(buf, sock);
	ck_assert_int_eq(dflt, 1);
	unsetenv("XDG_RUNTIME_DIR");
	ck_assert_int_eq(semd_default_path(buf, sizeof buf, &dflt, &err), 0);
	ck_assert_str_eq(buf, sock);
	snprintf(want, sizeof want, "/tmp/semd-%lu", (unsigned long)geteuid());
	ck_assert_int_eq(lstat(want, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	ck_assert_int_eq(sb.st_mode & 07777, 0700);

	/* Refused: others may write to it. */
	ck_assert_int_eq(chmod(want, 0777), 0);
	ck_assert_int_eq(semd_default_path(buf, sizeof buf, &dflt, &err), -1);
	ck_assert_msg(strstr(err.message, want) != NULL &&
	    strstr(err.message, "chmod 700") != NULL, "message: %s",
	    err.message);
	ck_assert_ptr_null(semd_open(NULL, NULL, 0, &err));
	ck_assert_int_eq(err.code, SEMD_E_SYSTEM);

	/* Refused: owned by somebody else (needs root to arrange). */
	ck_assert_int_eq(chmod(want, 0700), 0);
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(want, 65534, 65534), 0);
		ck_assert_int_eq(semd_default_path(buf, sizeof buf, &dflt,
		    &err), -1);
		ck_assert_msg(strstr(err.message, "owned by uid 65534") !=
		    NULL, "message: %s", err.message);
		ck_assert_int_eq(chown(want, 0, 0), 0);
	}

	/* Refused: not a directory. */
	ck_assert_int_eq(rmdir(want), 0);
	fd = open(want, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ne(fd, -1);
	close(fd);
	ck_assert_int_eq(semd_default_path(buf, sizeof buf, &dflt, &err), -1);
	ck_assert_msg(strstr(err.message, "not a directory") != NULL,
	    "message: %s", err.message);
	unlink(want);

	/* A path that cannot fit sun_path is refused with a reason. */
	memset(want, 'x', 200);
	want[0] = '/';
	want[200] = '\0';
	ck_assert_ptr_null(semd_open(want, NULL, 0, &err));
	ck_assert_int_eq(err.code, SEMD_E_USAGE);
	ck_assert_msg(strstr(err.message, "too long") != NULL, "message: %s",
	    err.message);
	rmdir(dir);
}
END_TEST

/*
 * Close fds 0-2, then open a connection and run a child that writes to
 * its stderr: the connection is not on 0-2 (so nothing the child prints
 * reaches the daemon), 0-2 are open again, and the slot stays held.
 */
START_TEST(test_closed_stdio)
{
	struct semd		*sd, *probe;
	struct semd_error	 err;
	int			 fd, status;
	pid_t			 pid;

	close(STDIN_FILENO);
	close(STDOUT_FILENO);
	close(STDERR_FILENO);
	sd = semd_open(sockpath, "stdio", 0, &err);
	ck_assert_msg(sd != NULL, "semd_open: %s", err.message);
	for (fd = 0; fd <= 2; fd++)
		ck_assert_int_ne(fcntl(fd, F_GETFD), -1);
	ck_assert_int_gt(semd_fd(sd), 2);
	ck_assert_int_eq(semd_acquire(sd, "stdio", 1, 1, SEMD_TRY, NULL, NULL,
	    &err), SEMD_OK);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		static const char junk[] = "\xff\xff\xff\xffgarbage\n";
		ssize_t n;

		n = write(STDERR_FILENO, junk, sizeof junk - 1);
		n += write(STDOUT_FILENO, junk, sizeof junk - 1);
		_exit(n > 0 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	probe = open_ok();
	ck_assert_int_eq(semd_acquire(probe, "stdio", 1, 1, SEMD_TRY, NULL,
	    NULL, &err), SEMD_TIMEDOUT);
	ck_assert_int_eq(semd_ping(sd, &err), SEMD_OK);
	semd_close(probe);
	semd_close(sd);
}
END_TEST

/* Is pid a semd (the binary of SEMD_BIN) serving path? */
static int
is_semd_for(pid_t pid, const char *bin_real, const char *path)
{
	char	 proc[64], exe[PATH_MAX], cmd[4096];
	ssize_t	 n, i;
	int	 fd, found = 0;

	snprintf(proc, sizeof proc, "/proc/%ld/exe", (long)pid);
	n = readlink(proc, exe, sizeof exe - 1);
	if (n == -1)
		return (0);
	exe[n] = '\0';
	if (strcmp(exe, bin_real) != 0)
		return (0);
	/* Other tests may run a semd on this path in their own /tmp. */
	snprintf(proc, sizeof proc, "/proc/%ld/ns/mnt", (long)pid);
	n = readlink(proc, exe, sizeof exe - 1);
	if (n == -1)
		return (0);
	exe[n] = '\0';
	if ((n = readlink("/proc/self/ns/mnt", cmd, sizeof cmd - 1)) == -1)
		return (0);
	cmd[n] = '\0';
	if (strcmp(exe, cmd) != 0)
		return (0);
	snprintf(proc, sizeof proc, "/proc/%ld/cmdline", (long)pid);
	if ((fd = open(proc, O_RDONLY)) == -1)
		return (0);
	n = read(fd, cmd, sizeof cmd - 1);
	close(fd);
	if (n <= 0)
		return (0);
	cmd[n] = '\0';
	for (i = 0; i < n; i += strlen(cmd + i) + 1) {
		if (strcmp(cmd + i, path) == 0)
			found = 1;
	}
	return (found);
}

/* Count the semd processes serving path. */
static int
count_semd_for(const char *path)
{
	char		 bin_real[PATH_MAX];
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	if (getenv("SEMD_REAL_BIN") != NULL)
		snprintf(bin_real, sizeof bin_real, "%s",
		    getenv("SEMD_REAL_BIN"));
	else
		ck_assert_ptr_nonnull(realpath(semd_bin(), bin_real));
	d = opendir("/proc");
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		if (is_semd_for(atoi(de->d_name), bin_real, path))
			n++;
	}
	closedir(d);
	return (n);
}

/*
 * Stop an auto-started daemon.  This test process is a child subreaper,
 * so the daemonized semd is our child and can be waited for.
 */
static void
stop_started(pid_t pid)
{
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}

/*
 * Set up the environment for auto-start into a private /tmp: dir is a
 * fresh temporary directory, sock the per-user default.  Returns 0, or
 * -1 when the test must be skipped.
 */
static int
autostart_env(char *dir, size_t len, char *sock, size_t slen)
{
	if (private_tmp() == -1)
		return (-1);
	make_tmpdir(dir, len);
	user_sock(sock, slen);
	setenv("XDG_RUNTIME_DIR", dir, 1);
	unsetenv("SEMD_SOCKET");
	unsetenv("SEMD_NO_AUTOSTART");
	semd_bin();
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	return (0);
}

/* Nothing listens at the per-user default: one semd is started there. */
START_TEST(test_autostart)
{
	struct semd_error	 err;
	struct semd		*sd, *sd2;
	struct stat		 sb;
	char			 dir[PATH_MAX], sock[PATH_MAX + 32];
	char			 lock[PATH_MAX + 32];
	pid_t			 server;

	if (autostart_env(dir, sizeof dir, sock, sizeof sock) == -1)
		return;
	sd = semd_open(NULL, "autostart", 0, &err);
	ck_assert_msg(sd != NULL, "semd_open: %s", err.message);
	server = semd_server_pid(sd);
	ck_assert_int_gt(server, 0);
	ck_assert_int_ne(server, getpid());
	ck_assert_str_eq(semd_path(sd), sock);
	ck_assert_int_eq(count_semd_for(sock), 1);
	ck_assert_msg(is_semd_for(server, realpath(semd_bin(), lock), sock),
	    "the server is not semd on %s", sock);

	ck_assert_int_eq(stat(sock, &sb), 0);
	ck_assert(S_ISSOCK(sb.st_mode));
	snprintf(lock, sizeof lock, "/tmp/semd-%lu/semd.lock",
	    (unsigned long)geteuid());
	ck_assert_int_eq(stat(lock, &sb), 0);

	ck_assert_int_eq(semd_acquire(sd, "auto", 1, 1, SEMD_TRY, NULL, NULL,
	    &err), SEMD_OK);
	/* A second client finds the same daemon. */
	sd2 = semd_open(NULL, NULL, 0, &err);
	ck_assert_msg(sd2 != NULL, "semd_open: %s", err.message);
	ck_assert_int_eq(semd_server_pid(sd2), server);
	ck_assert_int_eq(semd_acquire(sd2, "auto", 1, 1, SEMD_TRY, NULL, NULL,
	    &err), SEMD_TIMEDOUT);
	semd_close(sd2);
	semd_close(sd);
	stop_started(server);
}
END_TEST

/* Auto-start with a daemon binary that cannot run: a clear error. */
START_TEST(test_autostart_bad_bin)
{
	struct semd_error	 err;
	char			 dir[PATH_MAX], sock[PATH_MAX + 32];

	if (autostart_env(dir, sizeof dir, sock, sizeof sock) == -1)
		return;
	setenv("SEMD_BIN", "/nonexistent/semd", 1);
	ck_assert_ptr_null(semd_open(NULL, NULL, 0, &err));
	ck_assert_int_eq(err.code, SEMD_E_UNREACHABLE);
	ck_assert_int_eq(err.sys_errno, ENOENT);
	ck_assert_msg(strstr(err.message, "/nonexistent/semd") != NULL &&
	    strstr(err.message, "SEMD_BIN") != NULL, "message: %s",
	    err.message);

	/* A binary that exits with an error: its status is reported. */
	setenv("SEMD_BIN", "/bin/false", 1);
	ck_assert_ptr_null(semd_open(NULL, NULL, 0, &err));
	ck_assert_int_eq(err.code, SEMD_E_UNREACHABLE);
	ck_assert_msg(strstr(err.message, "exited with status 1") != NULL,
	    "message: %s", err.message);
}
END_TEST

/* One racer's report. */
struct racer {
	int	ok;
	pid_t	server;
	char	message[512];
};

/*
 * 20 processes call semd_open(NULL, ...) at once on a fresh per-user
 * directory: exactly one semd is started, and all 20 are served by it.
 */
START_TEST(test_autostart_race)
{
	struct semd_error	 err;
	struct semd		*sd;
	struct racer		 r[RACERS];
	char			 dir[PATH_MAX], sock[PATH_MAX + 32], c;
	char			 wrapper[PATH_MAX + 32];
	char			 starts[PATH_MAX + 32];
	char			 real[PATH_MAX];
	FILE			*f;
	int			 rp[2], gp[2], i, status, nstarts, ch;
	pid_t			 pids[RACERS];

	if (autostart_env(dir, sizeof dir, sock, sizeof sock) == -1)
		return;
	/*
	 * The daemon is started through a wrapper that logs each start, so
	 * a start that failed because another daemon was already there
	 * counts too (the daemon refuses a live socket on its own).
	 */
	snprintf(wrapper, sizeof wrapper, "%s/semd-wrapper", dir);
	snprintf(starts, sizeof starts, "%s/starts", dir);
	f = fopen(wrapper, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\necho $$ >>'%s'\nexec '%s' \"$@\"\n", starts,
	    semd_bin());
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(wrapper, 0700), 0);
	ck_assert_ptr_nonnull(realpath(semd_bin(), real));
	setenv("SEMD_REAL_BIN", real, 1);
	setenv("SEMD_BIN", wrapper, 1);

	ck_assert_int_eq(pipe(rp), 0);
	ck_assert_int_eq(pipe(gp), 0);
	for (i = 0; i < RACERS; i++) {
		pids[i] = fork();
		ck_assert_int_ne(pids[i], -1);
		if (pids[i] != 0)
			continue;
		close(gp[1]);
		memset(&r[0], 0, sizeof r[0]);
		/* Start together: wait for the parent to close gp. */
		if (read(gp[0], &c, 1) != 0)
			_exit(2);
		sd = semd_open(NULL, "racer", 0, &err);
		if (sd == NULL)
			snprintf(r[0].message, sizeof r[0].message, "%s",
			    err.message);
		else {
			r[0].server = semd_server_pid(sd);
			if (semd_acquire(sd, "race", RACERS, 1, SEMD_TRY,
			    NULL, NULL, &err) == SEMD_OK &&
			    semd_release(sd, "race", 1, &err) == SEMD_OK)
				r[0].ok = 1;
			else
				snprintf(r[0].message, sizeof r[0].message,
				    "%s", err.message);
			semd_close(sd);
		}
		if (write(rp[1], &r[0], sizeof r[0]) != sizeof r[0])
			_exit(3);
		_exit(0);
	}
	close(gp[0]);
	close(gp[1]);		/* go */
	for (i = 0; i < RACERS; i++) {
		ck_assert_int_eq(read(rp[0], &r[i], sizeof r[i]),
		    (ssize_t)sizeof r[i]);
	}
	for (i = 0; i < RACERS; i++) {
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}

	/* Clean up before asserting, so a failure leaves nothing behind. */
	i = count_semd_for(sock);
	if (r[0].server > 0)
		stop_started(r[0].server);
	ck_assert_int_eq(i, 1);
	f = fopen(starts, "r");
	ck_assert_ptr_nonnull(f);
	nstarts = 0;
	while ((ch = fgetc(f)) != EOF)
		nstarts += ch == '\n';
	fclose(f);
	ck_assert_int_eq(nstarts, 1);
	for (i = 0; i < RACERS; i++) {
		ck_assert_msg(r[i].ok, "racer %d: %s", i, r[i].message);
		ck_assert_int_eq(r[i].server, r[0].server);
	}
}
END_TEST

/* ---- The libevent example, against the real daemon ---- */

/* Read from fd into buf until a line starts with prefix. */
static void
read_until(int fd, char *buf, size_t len, size_t *used, const char *prefix)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	char		 nl[64];
	ssize_t		 n;

	snprintf(nl, sizeof nl, "\n%s", prefix);
	for (;;) {
		buf[*used] = '\0';
		if (strncmp(buf, prefix, strlen(prefix)) == 0 ||
		    strstr(buf, nl) != NULL)
			return;
		ck_assert_msg(poll(&pfd, 1, WAIT_MS) == 1,
		    "no \"%s\" from the example; output so far:\n%s", prefix,
		    buf);
		n = read(fd, buf + *used, len - 1 - *used);
		ck_assert_msg(n > 0, "the example ended before \"%s\":\n%s",
		    prefix, buf);
		*used += n;
	}
}

/*
 * examples/semd-libevent queues behind our holder, is granted when we
 * release, holds, releases and exits 0, printing each event in order.
 */
START_TEST(test_example)
{
	struct semd		*a;
	struct semd_error	 err;
	const char		*bdir;
	char			 prog[PATH_MAX], out[4096];
	char			*q, *acq, *rel;
	size_t			 used = 0;
	int			 op[2], status;
	pid_t			 pid;

	bdir = getenv("SEMD_BUILDDIR");
	ck_assert_msg(bdir != NULL, "SEMD_BUILDDIR must be set");
	snprintf(prog, sizeof prog, "%s/examples/semd-libevent", bdir);
	a = open_ok();
	ck_assert_int_eq(semd_acquire(a, "exa", 1, 1, SEMD_FOREVER, NULL,
	    NULL, &err), SEMD_OK);
	ck_assert_int_eq(pipe(op), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		dup2(op[1], STDOUT_FILENO);
		close(op[0]);
		close(op[1]);
		setenv("SEMD_SOCKET", sockpath, 1);
		execl(prog, "semd-libevent", "exa", "1", "10", (char *)NULL);
		_exit(127);
	}
	close(op[1]);
	read_until(op[0], out, sizeof out, &used, "QUEUED ");
	ck_assert_int_eq(semd_release(a, "exa", 1, &err), SEMD_OK);
	read_until(op[0], out, sizeof out, &used, "RELEASED ");
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the example failed:\n%s", out);

	q = strstr(out, "QUEUED id=2 position=1\n");
	acq = strstr(out, "ACQUIRED id=2 sem=exa weight=1\n");
	rel = strstr(out, "RELEASED id=3 sem=exa weight=1\n");
	ck_assert_msg(q != NULL && acq != NULL && rel != NULL &&
	    q < acq && acq < rel, "unexpected output:\n%s", out);
	close(op[0]);
	semd_close(a);
}
END_TEST

static Suite *
libsemd_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("libsemd");

	tc = tcase_create("daemon");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_blocking_basic);
	tcase_add_test(tc, test_admin);
	tcase_add_test(tc, test_handles);
	tcase_add_test(tc, test_reconnect);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_try);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_disconnected);
	tcase_add_test(tc, test_disconnected_waiting);
	tcase_add_test(tc, test_event_loop);
	tcase_add_test(tc, test_eintr);
	tcase_add_test(tc, test_example);
	tcase_add_test(tc, test_closed_stdio);
	suite_add_tcase(s, tc);

	tc = tcase_create("fake");
	tcase_add_checked_fixture(tc, NULL, remove_tmpdirs);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_withdraw_granted_first);
	tcase_add_test(tc, test_withdraw_withdrawn);
	tcase_add_test(tc, test_granted_then_lost);
	tcase_add_test(tc, test_protocol_garbage);
	tcase_add_test(tc, test_unknown_error_code);
	tcase_add_test(tc, test_garbage_body);
	tcase_add_test(tc, test_partial_frame);
	tcase_add_test(tc, test_unknown_op_skipped);
	tcase_add_test(tc, test_out_of_order);
	tcase_add_test(tc, test_unexpected_reply);
	tcase_add_test(tc, test_silent_daemon);
	suite_add_tcase(s, tc);

	tc = tcase_create("paths");
	tcase_add_checked_fixture(tc, NULL, remove_tmpdirs);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_unreachable);
	tcase_add_test(tc, test_default_path);
	tcase_add_test(tc, test_autostart);
	tcase_add_test(tc, test_autostart_bad_bin);
	tcase_add_test(tc, test_autostart_race);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(libsemd_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
