/*
 * tl.c -- the shared test library: clocks, temporary directories, Unix
 * sockets, and a real semd as a child process.  See tl.h.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tl.h"

#define TL_MAX_ARGS	48
#define TL_POLL_MS	10

/* --- clocks --- */

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t
tl_now_ms(void)
{
	return (tl_now_ns() / 1000000);
}

/* Nanoseconds of CLOCK_MONOTONIC. */
int64_t
tl_now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

/* Sleep ms milliseconds, through signals. */
void
tl_nap_ms(long ms)
{
	struct timespec	ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

/* Poll cond(arg) until it holds (1) or timeout_ms pass (0). */
int
tl_wait_until(int (*cond)(void *), void *arg, int timeout_ms)
{
	int64_t	deadline = tl_now_ms() + timeout_ms;

	for (;;) {
		if (cond(arg))
			return (1);
		if (tl_now_ms() > deadline)
			return (0);
		tl_nap_ms(TL_POLL_MS);
	}
}

/* --- temporary directories --- */

/* Make a fresh directory $TMPDIR/name.XXXXXX (or under /tmp) into buf. */
int
tl_tmpdir(char *buf, size_t len, const char *name)
{
	const char	*tmp = getenv("TMPDIR");

	/* Keep socket paths below it short enough for sun_path. */
	if (tmp == NULL || *tmp == '\0' || strlen(tmp) > 64)
		tmp = "/tmp";
	if ((size_t)snprintf(buf, len, "%s/%s.XXXXXX", tmp, name) >= len) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (mkdtemp(buf) != NULL ? 0 : -1);
}

/* nftw callback: remove one entry, children first. */
static int
tl_rmtree_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return (rmdir(path) == -1 ? -1 : 0);
	return (unlink(path) == -1 && errno != ENOENT ? -1 : 0);
}

/* Remove path and everything below it, following no links. */
int
tl_rmtree(const char *path)
{
	if (nftw(path, tl_rmtree_one, 16, FTW_DEPTH | FTW_PHYS) == -1)
		return (errno == ENOENT ? 0 : -1);
	return (0);
}

/* Copy the file at path to stderr between two marker lines. */
static void
tl_guard_dump(const char *path)
{
	char	buf[4096];
	ssize_t	n;
	int	fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	dprintf(STDERR_FILENO, "--- %s ---\n", path);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		if (write(STDERR_FILENO, buf, (size_t)n) != n)
			break;
	dprintf(STDERR_FILENO, "--- end of %s ---\n", path);
	close(fd);
}

/* The guard's life (see tl.h); never returns. */
static void
tl_guard_run(int rfd, const char *dir, const char *log)
{
	char	b;

	/* Check SIGKILLs the test's process group when the test ends. */
	setpgid(0, 0);
	/* Hold no other pipe or socket of the test open. */
	if (rfd > 3)
		close_range(3, (unsigned int)rfd - 1, 0);
	close_range((unsigned int)rfd + 1, ~0U, 0);
	while (read(rfd, &b, 1) == -1 && errno == EINTR)
		continue;
	if (access(dir, F_OK) == 0) {
		dprintf(STDERR_FILENO, "a test ended without cleaning up "
		    "%s\n", dir);
		if (log != NULL)
			tl_guard_dump(log);
		tl_rmtree(dir);
	}
	_exit(0);
}

/* Fork a guard for dir (and its log). */
int
tl_guard_start(struct tl_guard *g, const char *dir, const char *log)
{
	int	p[2];

	g->pid = 0;
	g->fd = -1;
	if (pipe2(p, O_CLOEXEC) == -1)
		return (-1);
	fflush(NULL);
	if ((g->pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		g->pid = 0;
		return (-1);
	}
	if (g->pid == 0) {
		close(p[1]);
		tl_guard_run(p[0], dir, log);
	}
	close(p[0]);
	g->fd = p[1];
	return (0);
}

/* Close our end of the guard's pipe and reap it. */
void
tl_guard_release(struct tl_guard *g)
{
	if (g->pid <= 0)
		return;
	close(g->fd);
	while (waitpid(g->pid, NULL, 0) == -1 && errno == EINTR)
		continue;
	g->pid = 0;
	g->fd = -1;
}

/* --- Unix stream sockets --- */

/* Fill sun with path; -1 (ENAMETOOLONG) if it does not fit. */
static int
tl_sun(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun->sun_path) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	memcpy(sun->sun_path, path, strlen(path));
	return (0);
}

/* Connect to path: a blocking, close-on-exec fd, or -1 with errno. */
int
tl_dial(const char *path)
{
	struct sockaddr_un	sun;
	int			fd, saved;

	if (tl_sun(&sun, path) == -1)
		return (-1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
}

/* Can a client connect to path right now? */
int
tl_can_dial(const char *path)
{
	int	fd;

	if ((fd = tl_dial(path)) == -1)
		return (0);
	close(fd);
	return (1);
}

/* Bind and listen on path (removed first); a close-on-exec fd or -1. */
int
tl_listen(const char *path, int flags)
{
	struct sockaddr_un	sun;
	int			fd, saved;

	if (tl_sun(&sun, path) == -1)
		return (-1);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	if (fd == -1)
		return (-1);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    listen(fd, SOMAXCONN) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
}

/* --- a real semd --- */

/* Describe a wait status into buf. */
const char *
tl_wait_str(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d",
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d (%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "wait status 0x%x", status);
	return (buf);
}

/* The last len - 1 bytes of the file at path into buf. */
const char *
tl_file_tail(const char *path, char *buf, size_t len)
{
	ssize_t	n;
	off_t	size;
	int	fd;

	buf[0] = '\0';
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (buf);
	size = lseek(fd, 0, SEEK_END);
	if (size > (off_t)(len - 1))
		lseek(fd, size - (off_t)(len - 1), SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return (buf);
}

/* Set d->error from a format; returns -1. */
static int
tl_daemon_fail(struct tl_daemon *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
tl_daemon_fail(struct tl_daemon *d, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(d->error, sizeof d->error, fmt, ap);
	va_end(ap);
	return (-1);
}

/* "; log:\n<its tail>" of the daemon's log, or "" without a log. */
static const char *
tl_daemon_log(const struct tl_daemon *d, char *buf, size_t len)
{
	char	tail[1500];

	if (d->log[0] == '\0')
		buf[0] = '\0';
	else
		snprintf(buf, len, "; log:\n%s", tl_file_tail(d->log, tail,
		    sizeof tail));
	return (buf);
}

/* In the child: set up stdio, limits, environment, and exec. */
static void
tl_daemon_exec(struct tl_daemon *d, const char **argv, pid_t parent)
{
	sigset_t	set;
	struct rlimit	rl;
	int		fd, i;

	/* Die with the process that started us, whatever kills it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	if (d->log[0] != '\0') {
		fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND,
		    0600);
		if (fd != -1) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		if ((fd = open("/dev/null", O_RDONLY)) != -1)
			dup2(fd, STDIN_FILENO);
	}
	close_range(3, ~0U, 0);
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	if (d->nofile != 0) {
		rl.rlim_cur = rl.rlim_max = (rlim_t)d->nofile;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			dprintf(STDERR_FILENO, "setrlimit: %s\n",
			    strerror(errno));
			_exit(127);
		}
	}
	for (i = 0; i < (int)(sizeof d->env / sizeof d->env[0]) &&
	    d->env[i] != NULL; i++) {
		if (strchr(d->env[i], '=') != NULL)
			putenv((char *)d->env[i]);
		else
			unsetenv(d->env[i]);
	}
	execv(argv[0], (char *const *)argv);
	dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Fork and exec `bin -f -S path args...`; do not wait. */
int
tl_daemon_spawn(struct tl_daemon *d, const char *const *args)
{
	const char	*argv[TL_MAX_ARGS];
	pid_t		 parent = getpid();
	int		 argc = 0;

	d->pid = -1;
	d->status = 0;
	d->error[0] = '\0';
	if (d->bin == NULL && ((d->bin = getenv("SEMD_BIN")) == NULL ||
	    *d->bin == '\0'))
		return (tl_daemon_fail(d, "SEMD_BIN is not set"));
	if (d->path[0] == '\0')
		return (tl_daemon_fail(d, "no socket path"));
	argv[argc++] = d->bin;
	argv[argc++] = "-f";
	argv[argc++] = "-S";
	argv[argc++] = d->path;
	for (; args != NULL && *args != NULL; args++) {
		if (argc >= TL_MAX_ARGS - 1)
			return (tl_daemon_fail(d, "too many semd arguments"));
		argv[argc++] = *args;
	}
	argv[argc] = NULL;
	/* Flush stdio, or the child's exit might write our buffers. */
	fflush(NULL);
	if ((d->pid = fork()) == -1)
		return (tl_daemon_fail(d, "fork: %s", strerror(errno)));
	if (d->pid == 0)
		tl_daemon_exec(d, argv, parent);
	return (0);
}

/* Has the daemon exited?  Reaps it into d->status. */
int
tl_daemon_exited(struct tl_daemon *d)
{
	if (d->pid <= 0)
		return (1);
	if (waitpid(d->pid, &d->status, WNOHANG) != d->pid)
		return (0);
	d->pid = -1;
	return (1);
}

/* Wait until the daemon accepts on d->path. */
int
tl_daemon_wait(struct tl_daemon *d, int timeout_ms)
{
	char	what[64], log[1600];
	int64_t	deadline;
	int	fd;

	if (timeout_ms <= 0)
		timeout_ms = TL_START_MS;
	deadline = tl_now_ms() + timeout_ms;
	for (;;) {
		if (tl_daemon_exited(d))
			return (tl_daemon_fail(d, "semd %s before accepting "
			    "on %s%s", tl_wait_str(d->status, what,
			    sizeof what), d->path, tl_daemon_log(d, log,
			    sizeof log)));
		if ((fd = tl_dial(d->path)) != -1) {
			close(fd);
			return (0);
		}
		if (tl_now_ms() > deadline)
			return (tl_daemon_fail(d, "semd did not accept on %s "
			    "within %d ms (last error: %s)%s", d->path,
			    timeout_ms, strerror(errno), tl_daemon_log(d, log,
			    sizeof log)));
		tl_nap_ms(TL_POLL_MS);
	}
}

/* Spawn, then wait until it accepts. */
int
tl_daemon_start(struct tl_daemon *d, const char *const *args)
{
	if (tl_daemon_spawn(d, args) == -1)
		return (-1);
	return (tl_daemon_wait(d, 0));
}

/* SIGTERM and reap; 0 when it exited with status 0. */
int
tl_daemon_stop(struct tl_daemon *d, int timeout_ms)
{
	char	what[64], log[1600];
	int64_t	deadline;

	if (d->pid <= 0)
		return (0);
	if (timeout_ms <= 0)
		timeout_ms = TL_STOP_MS;
	if (kill(d->pid, SIGTERM) == -1)
		return (tl_daemon_fail(d, "kill semd: %s", strerror(errno)));
	deadline = tl_now_ms() + timeout_ms;
	while (!tl_daemon_exited(d)) {
		if (tl_now_ms() > deadline) {
			tl_daemon_kill(d);
			return (tl_daemon_fail(d, "semd did not exit within "
			    "%d ms of SIGTERM%s", timeout_ms,
			    tl_daemon_log(d, log, sizeof log)));
		}
		tl_nap_ms(TL_POLL_MS);
	}
	if (!WIFEXITED(d->status) || WEXITSTATUS(d->status) != 0)
		return (tl_daemon_fail(d, "semd %s on SIGTERM (expected exit "
		    "0)%s", tl_wait_str(d->status, what, sizeof what),
		    tl_daemon_log(d, log, sizeof log)));
	return (0);
}

/* SIGKILL and reap. */
void
tl_daemon_kill(struct tl_daemon *d)
{
	if (d->pid <= 0)
		return;
	kill(d->pid, SIGKILL);
	while (waitpid(d->pid, &d->status, 0) == -1 && errno == EINTR)
		continue;
	d->pid = -1;
}
