/*
 * autostart.c -- connect to the daemon, starting a per-user one when
 * nothing listens at the per-user default path, as tmux starts its server:
 * under an exclusive lock on <dir>/semd.lock, try once more (another client
 * may have started it while we waited for the lock), and only then start
 * `semd -S PATH --idle-exit 60`.  So many clients starting at once start
 * one daemon.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "semd-int.h"
#include "sockpath.h"

#ifndef SEMD_SBINDIR
#define SEMD_SBINDIR	"/usr/local/sbin"
#endif

static int	autostart_no_env(void);
static int	autostart_find(char *, size_t);
static void	autostart_child(const char *, char *const [], int)
		    __attribute__((noreturn));
static int	autostart_spawn(const char *, const char *,
		    struct semd_error *);
static int	autostart_connect_retry(const char *, int);
static void	autostart_unreachable(const char *, int, int,
		    struct semd_error *);

/* Is auto-start turned off by $SEMD_NO_AUTOSTART (set, not empty, not 0)? */
static int
autostart_no_env(void)
{
	const char	*s;

	s = getenv("SEMD_NO_AUTOSTART");
	return (s != NULL && *s != '\0' && strcmp(s, "0") != 0);
}

/*
 * Choose the daemon binary: $SEMD_BIN, else semd on $PATH, else the
 * installed one.  Writes an absolute path when it can (the child changes
 * directory to /).  Returns 0, or -1 if the path does not fit.
 */
static int
autostart_find(char *buf, size_t len)
{
	const char	*env, *p, *end;
	char		 cand[PATH_MAX], cwd[PATH_MAX];
	struct stat	 sb;
	size_t		 n;
	int		 r;

	env = getenv("SEMD_BIN");
	if (env != NULL && *env != '\0') {
		if (env[0] != '/' && getcwd(cwd, sizeof cwd) != NULL)
			r = snprintf(buf, len, "%s/%s", cwd, env);
		else
			r = snprintf(buf, len, "%s", env);
		return (r < 0 || (size_t)r >= len ? -1 : 0);
	}

	env = getenv("PATH");
	for (p = env; p != NULL && *p != '\0'; p = (*end == ':' ? end + 1 :
	    NULL)) {
		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		n = end - p;
		if (n == 0 || p[0] != '/')	/* only absolute entries */
			continue;
		r = snprintf(cand, sizeof cand, "%.*s/semd", (int)n, p);
		if (r < 0 || (size_t)r >= sizeof cand)
			continue;
		if (stat(cand, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    access(cand, X_OK) == 0) {
			r = snprintf(buf, len, "%s", cand);
			return (r < 0 || (size_t)r >= len ? -1 : 0);
		}
	}

	r = snprintf(buf, len, "%s/semd", SEMD_SBINDIR);
	return (r < 0 || (size_t)r >= len ? -1 : 0);
}

/*
 * In the forked child: detach from the terminal and the caller's session,
 * give the daemon only /dev/null and the error pipe (close-on-exec), reset
 * the signal state a daemon should not inherit, and exec it.  On failure
 * the errno is written to errfd.  Only async-signal-safe calls: the caller
 * may have threads.
 */
static void
autostart_child(const char *bin, char *const argv[], int errfd)
{
	sigset_t	set;
	long		max;
	int		fd, sig, e;

	setsid();
	/* Keep the error pipe clear of 0-2, then make it fd 3. */
	if (errfd <= STDERR_FILENO) {
		if ((fd = fcntl(errfd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1)) ==
		    -1)
			_exit(127);
		errfd = fd;
	}
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO && fd != errfd)
			close(fd);
	}
	if (errfd != STDERR_FILENO + 1) {
		if (dup3(errfd, STDERR_FILENO + 1, O_CLOEXEC) == -1)
			_exit(127);
		errfd = STDERR_FILENO + 1;
	}
	/* Close everything else so the daemon pins no pipe of the caller. */
	if (syscall(SYS_close_range, errfd + 1, ~0U, 0) == -1) {
		max = sysconf(_SC_OPEN_MAX);
		if (max < 0 || max > 65536)
			max = 65536;
		for (fd = errfd + 1; fd < max; fd++)
			close(fd);
	}
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	if (chdir("/") == -1) {
		/* Not fatal: the daemon only needs its absolute paths. */
	}

	execv(bin, argv);
	e = errno;
	while (write(errfd, &e, sizeof e) == -1 && errno == EINTR)
		continue;
	_exit(127);
}

/*
 * Start `bin -S path --idle-exit 60` and wait until it has daemonized:
 * semd without -f forks and its parent exits 0 only once the socket
 * listens.  Returns the exit status of that parent (0 on success), -2 if
 * it could not be waited for (the caller then relies on connect retries),
 * or -1 with err filled if it could not be run at all.
 */
static int
autostart_spawn(const char *bin, const char *path, struct semd_error *err)
{
	char	*argv[6];
	int	 pfd[2], status, e;
	ssize_t	 n;
	pid_t	 pid;

	argv[0] = (char *)"semd";
	argv[1] = (char *)"-S";
	argv[2] = (char *)path;
	argv[3] = (char *)"--idle-exit";
	argv[4] = (char *)LIBSEMD_IDLE_EXIT;
	argv[5] = NULL;

	if (pipe2(pfd, O_CLOEXEC) == -1) {
		libsemd_seterr(err, SEMD_E_SYSTEM, errno,
		    "cannot start semd: pipe: %s", strerror(errno));
		return (-1);
	}
	pid = fork();
	if (pid == -1) {
		e = errno;
		close(pfd[0]);
		close(pfd[1]);
		libsemd_seterr(err, SEMD_E_SYSTEM, e,
		    "cannot start semd: fork: %s", strerror(e));
		return (-1);
	}
	if (pid == 0) {
		close(pfd[0]);
		autostart_child(bin, argv, pfd[1]);
	}
	close(pfd[1]);

	/* EOF means exec succeeded (the pipe is close-on-exec). */
	do
		n = read(pfd[0], &e, sizeof e);
	while (n == -1 && errno == EINTR);
	close(pfd[0]);

	while (waitpid(pid, &status, 0) == -1) {
		if (errno == EINTR)
			continue;
		/*
		 * ECHILD: the caller ignores SIGCHLD or reaps every child
		 * itself.  We cannot know how semd exited.
		 */
		if (n == (ssize_t)sizeof e)
			break;
		return (-2);
	}
	if (n == (ssize_t)sizeof e) {
		libsemd_seterr(err, SEMD_E_UNREACHABLE, e,
		    "cannot start semd: cannot run %s: %s (install semd, "
		    "or set SEMD_BIN to its path)", bin, strerror(e));
		return (-1);
	}
	if (WIFEXITED(status))
		return (WEXITSTATUS(status));
	if (WIFSIGNALED(status))
		return (128 + WTERMSIG(status));
	return (-2);
}

/*
 * Connect to path, retrying for a few seconds while nothing listens
 * there yet: a safety net for a daemon that reported ready a little
 * early, or that we could not wait for.  Returns the fd, or -1 with errno
 * set from the last attempt.
 */
static int
autostart_connect_retry(const char *path, int wait_ms)
{
	struct timespec	ts = { 0, 10 * 1000 * 1000 };
	int		fd, waited = 0;

	for (;;) {
		fd = sockpath_connect(path);
		if (fd != -1)
			return (fd);
		if (errno != ENOENT && errno != ECONNREFUSED)
			return (-1);
		if (waited >= wait_ms)
			return (-1);
		nanosleep(&ts, NULL);
		waited += 10;
	}
}

/* Fill err for a socket nobody answers at, with a hint that fits. */
static void
autostart_unreachable(const char *path, int is_default, int e,
    struct semd_error *err)
{
	const char	*hint;
	char		 buf[256];

	switch (e) {
	case ENOENT:
	case ECONNREFUSED:
		if (is_default)
			hint = "is it running? try: semd";
		else {
			snprintf(buf, sizeof buf,
			    "is it running? try: semd -S %s", path);
			hint = buf;
		}
		break;
	case EACCES:
	case EPERM:
		hint = "check the permissions of the socket and its directory";
		break;
	case EAGAIN:
		hint = "the daemon is overloaded; try again";
		break;
	default:
		hint = NULL;
		break;
	}
	libsemd_seterr(err, SEMD_E_UNREACHABLE, e,
	    "cannot reach semd at %s: %s%s%s%s", path, strerror(e),
	    hint != NULL ? " (" : "", hint != NULL ? hint : "",
	    hint != NULL ? ")" : "");
}

/*
 * Take the auto-start lock beside socket path (e: why connecting failed,
 * for the message when path has no directory).  Returns the locked fd,
 * or -1 with err filled.
 */
static int
autostart_lock(const char *path, int is_default, int e,
    struct semd_error *err)
{
	char		 lockpath[PATH_MAX];
	const char	*slash;
	int		 lockfd;

	slash = strrchr(path, '/');
	if (slash == NULL || snprintf(lockpath, sizeof lockpath,
	    "%.*s/semd.lock", (int)(slash - path), path) >=
	    (int)sizeof lockpath) {
		autostart_unreachable(path, is_default, e, err);
		return (-1);
	}
	lockfd = open(lockpath, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (lockfd == -1) {
		libsemd_seterr(err, SEMD_E_SYSTEM, errno,
		    "cannot start semd: cannot open the lock %s: %s",
		    lockpath, strerror(errno));
		return (-1);
	}
	if (flock(lockfd, LOCK_EX) == -1) {
		e = errno;
		close(lockfd);
		if (e == EINTR) {
			libsemd_seterr(err, SEMD_E_INTERRUPTED, e,
			    "interrupted while waiting for %s", lockpath);
		} else {
			libsemd_seterr(err, SEMD_E_SYSTEM, e,
			    "cannot start semd: cannot lock %s: %s",
			    lockpath, strerror(e));
		}
		return (-1);
	}
	return (lockfd);
}

/*
 * Start semd for socket path (the caller holds the lock) and connect to
 * it.  Returns the connected fd, or -1 with err filled.
 */
static int
autostart_start(const char *path, struct semd_error *err)
{
	char	bin[PATH_MAX];
	int	fd, e, status;

	if (autostart_find(bin, sizeof bin) == -1) {
		libsemd_seterr(err, SEMD_E_UNREACHABLE, ENAMETOOLONG,
		    "cannot start semd: the path of its binary is too long "
		    "(check SEMD_BIN)");
		return (-1);
	}
	status = autostart_spawn(bin, path, err);
	if (status == -1)
		return (-1);
	fd = autostart_connect_retry(path, status == 0 || status == -2 ?
	    LIBSEMD_START_WAIT_MS : 0);
	if (fd != -1)
		return (fd);
	e = errno;
	if (status > 0) {
		libsemd_seterr(err, SEMD_E_UNREACHABLE, e,
		    "cannot start semd: %s exited with status %d (run "
		    "`%s -f -S %s` to see why)", bin, status, bin, path);
	} else {
		libsemd_seterr(err, SEMD_E_UNREACHABLE, e,
		    "started %s but cannot reach it at %s: %s", bin, path,
		    strerror(e));
	}
	return (-1);
}

/*
 * Connect to the daemon at path; when nothing listens there, path is the
 * per-user default (is_default) and auto-start is allowed (no
 * SEMD_OPEN_NO_AUTOSTART in flags, $SEMD_NO_AUTOSTART not set), start one.
 * Returns a connected, non-blocking, close-on-exec fd, or -1 with err
 * filled (SEMD_E_UNREACHABLE, SEMD_E_SYSTEM, SEMD_E_INTERRUPTED).
 */
int
libsemd_connect(const char *path, int is_default, int flags,
    struct semd_error *err)
{
	int	fd, lockfd, e;

	fd = sockpath_connect(path);
	if (fd != -1)
		return (fd);
	e = errno;
	if ((e != ENOENT && e != ECONNREFUSED) || !is_default ||
	    (flags & SEMD_OPEN_NO_AUTOSTART) || autostart_no_env()) {
		autostart_unreachable(path, is_default, e, err);
		return (-1);
	}
	if ((lockfd = autostart_lock(path, is_default, e, err)) == -1)
		return (-1);

	/* Another client may have started the daemon while we waited. */
	fd = sockpath_connect(path);
	if (fd != -1 || (errno != ENOENT && errno != ECONNREFUSED)) {
		e = errno;
		close(lockfd);
		if (fd == -1)
			autostart_unreachable(path, is_default, e, err);
		return (fd);
	}
	/* Keep the lock until we are connected: others wait, then connect. */
	fd = autostart_start(path, err);
	close(lockfd);
	return (fd);
}
