/*
 * keeper.c -- hold semrun's connection for as long as CMD runs.
 *
 * The connection to semd is what holds the slot.  CMD inherits it, but a
 * CMD that closes every inherited descriptor (sudo, closefrom(), Python's
 * os.closerange, daemonizers) drops its copy; if semrun is then killed
 * with SIGKILL, nothing holds the connection any more and the daemon
 * gives the slot to the next in line while CMD still runs.
 *
 * So once CMD is started, semrun forks a keeper: a process that holds
 * another copy of the connection and a pidfd of CMD, and exits when CMD
 * has exited (the pidfd becomes readable when CMD terminates, whoever
 * reaps it).  The keeper sits in its own process group, with fds 0-2 on
 * /dev/null and every other descriptor closed, and with the terminal's
 * signals ignored, so that it neither keeps a pipe of the caller open
 * nor dies of a ^C that CMD survives.  It costs one fork per semrun.
 *
 * Why a keeper and not the daemon tracking CMD's pid: the daemon would
 * have to trust a pid the client names (any process, pid 1 included,
 * could then be made to hold a slot forever), it cannot see other users'
 * processes under ProtectProc=invisible, and a grant would outlive its
 * connection, which the engine does not know.  A keeper needs nothing of
 * the daemon and keeps "the connection is the slot" true.
 *
 * Without pidfd_open (Linux before 5.3), the keeper polls CMD with
 * kill(pid, 0) every 200 ms instead.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "keeper.h"

#define KEEPER_POLL_MS	200	/* without pidfd: how often to look */

/* A pidfd of pid, or -1 when the kernel has none. */
static int
keeper_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	return ((int)syscall(SYS_pidfd_open, pid, 0));
#else
	errno = ENOSYS;
	return (-1);
#endif
}

/*
 * In the keeper: let go of everything but the connection and the pidfd,
 * then wait until CMD has exited.  Never returns.
 */
static void
keeper_main(int connfd, int pidfd, pid_t cmd)
{
	static const int	 ignored[] = { SIGHUP, SIGINT, SIGQUIT, SIGPIPE,
				     SIGTSTP, SIGTTIN, SIGTTOU, SIGUSR1,
				     SIGUSR2, SIGALRM, SIGWINCH };
	struct pollfd		 pfd;
	sigset_t		 set;
	size_t			 i;
	int			 fd, sig, hi;

	/* semrun's handlers write to its pipe: not ours. */
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	for (i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
		signal(ignored[i], SIG_IGN);
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	setpgid(0, 0);
	prctl(PR_SET_NAME, "semrun-keeper", 0, 0, 0);
	prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
	if (chdir("/") == -1) {
		/* Not fatal: nothing here uses a relative path. */
	}

	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	/* Close everything else: no pipe of the caller stays open. */
	hi = connfd > pidfd ? connfd : pidfd;
	for (fd = STDERR_FILENO + 1; fd < hi; fd++) {
		if (fd != connfd && fd != pidfd)
			close(fd);
	}
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned int)hi + 1, ~0U, 0) == 0)
		hi = -1;
#endif
	for (fd = hi + 1; hi != -1 && fd < 65536; fd++)
		close(fd);

	if (pidfd != -1) {
		pfd.fd = pidfd;
		pfd.events = POLLIN;
		for (;;) {
			pfd.revents = 0;
			if (poll(&pfd, 1, -1) == 1)
				break;
			if (errno != EINTR && errno != EAGAIN)
				break;
		}
		_exit(0);
	}
	/* No pidfd: look now and then; a zombie still counts as running. */
	while (kill(cmd, 0) == 0 || errno == EPERM)
		poll(NULL, 0, KEEPER_POLL_MS);
	_exit(0);
}

/*
 * Start the keeper of the connection connfd for CMD, pid cmd (our child,
 * not yet reaped).  Returns the keeper's pid, or -1 with errno set: then
 * the slot is held by semrun and CMD only, as in semd 0.1.
 */
pid_t
keeper_start(int connfd, pid_t cmd)
{
	pid_t	pid;
	int	pidfd, saved;

	pidfd = keeper_pidfd(cmd);
	pid = fork();
	if (pid == 0)
		keeper_main(connfd, pidfd, cmd);
	saved = errno;
	if (pidfd != -1)
		close(pidfd);
	errno = saved;
	return (pid);
}

/* Reap the keeper if it has exited (it exits once CMD has). */
void
keeper_reap(pid_t keeper)
{
	if (keeper > 0)
		waitpid(keeper, NULL, WNOHANG);
}
