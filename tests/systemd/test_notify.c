/*
 * test_notify.c -- semd as a Type=notify service, without systemd: the
 * test plays the service manager.  It binds a datagram socket, starts
 * semd with NOTIFY_SOCKET pointing at it, and checks what semd says and
 * when; it also checks the sd-daemon "<N>" priority prefixes semd puts on
 * its log lines when stderr is the journal (JOURNAL_STREAM).
 */

#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tl.h"

#define WAIT_MS	15000	/* safety net only: nothing here is timed */

static char		 tmpdir[96];
static char		 notify_path[108];
static struct tl_daemon	 semd = { .pid = -1 };	/* its socket and log */
static char		 journal_env[80];

/* Make a fresh temporary directory and the paths in it. */
static void
setup(void)
{
	ck_assert_int_eq(tl_tmpdir(tmpdir, sizeof tmpdir, "semd-notify"), 0);
	ck_assert_int_lt(snprintf(semd.path, sizeof semd.path, "%s/semd.sock",
	    tmpdir), (int)sizeof semd.path);
	ck_assert_int_lt(snprintf(notify_path, sizeof notify_path, "%s/notify",
	    tmpdir), (int)sizeof notify_path);
	ck_assert_int_lt(snprintf(semd.log, sizeof semd.log, "%s/semd.log",
	    tmpdir), (int)sizeof semd.log);
}

/* Remove what setup and the test made. */
static void
teardown(void)
{
	tl_daemon_kill(&semd);
	tl_rmtree(tmpdir);
}

/* Bind the datagram socket a service manager would listen on. */
static int
notify_socket(void)
{
	struct sockaddr_un	 sun;
	int			 fd;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", notify_path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	return (fd);
}

/*
 * Start semd -f -v on semd.path with its output in semd.log, and do not
 * wait; with_notify sets NOTIFY_SOCKET, with_journal sets JOURNAL_STREAM
 * to the log file's device:inode, as systemd does for a service whose
 * stderr is the journal.
 */
static void
start_semd(int with_notify, int with_journal)
{
	static const char *const args[] = { "-v", NULL };
	static char	 notify_env[128];
	struct stat	 st;
	int		 fd, n = 0;

	/* The file semd's output goes to: its inode is the journal's. */
	fd = open(semd.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	close(fd);
	semd.env[n++] = "NOTIFY_SOCKET";
	semd.env[n++] = "JOURNAL_STREAM";
	semd.env[n++] = "LISTEN_FDS";
	if (with_notify) {
		snprintf(notify_env, sizeof notify_env, "NOTIFY_SOCKET=%s",
		    notify_path);
		semd.env[n++] = notify_env;
	}
	if (with_journal) {
		snprintf(journal_env, sizeof journal_env,
		    "JOURNAL_STREAM=%llu:%llu", (unsigned long long)st.st_dev,
		    (unsigned long long)st.st_ino);
		semd.env[n++] = journal_env;
	}
	semd.env[n] = NULL;
	ck_assert_msg(tl_daemon_spawn(&semd, args) == 0, "%s", semd.error);
}

/* Can a client connect to semd's socket right now? */
static int
can_connect(void)
{
	return (tl_can_dial(semd.path));
}

/* Receive one notification into buf (NUL-terminated); 0 on time-out. */
static int
recv_notify(int fd, char *buf, size_t len)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	ssize_t		 n;

	if (poll(&pfd, 1, WAIT_MS) != 1)
		return (0);
	n = recv(fd, buf, len - 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	return (1);
}

/* Has line a line equal to want? */
static int
has_line(const char *msg, const char *want)
{
	size_t		 len = strlen(want);
	const char	*p = msg;

	while ((p = strstr(p, want)) != NULL) {
		if ((p == msg || p[-1] == '\n') &&
		    (p[len] == '\n' || p[len] == '\0'))
			return (1);
		p += len;
	}
	return (0);
}

/* Has the daemon d exited?  (For tl_wait_until.) */
static int
exited(void *d)
{
	return (tl_daemon_exited(d));
}

/* SIGTERM semd: it must exit with status 0. */
static void
stop_semd(void)
{
	ck_assert_msg(tl_daemon_stop(&semd, WAIT_MS) == 0, "%s", semd.error);
}

/*
 * READY=1 comes once, and only when the socket already accepts; it
 * carries a STATUS= line; SIGTERM brings STOPPING=1 and exit 0, and no
 * second READY=1.
 */
START_TEST(test_ready_then_stopping)
{
	char	 msg[4096];
	int	 nfd, nready = 0, stopping = 0, status_seen = 0;

	nfd = notify_socket();
	start_semd(1, 0);

	/* The first notification must be READY=1, and must be true. */
	ck_assert_msg(recv_notify(nfd, msg, sizeof msg),
	    "semd sent no notification");
	ck_assert_msg(has_line(msg, "READY=1"), "first notification is "
	    "not READY=1: '%s'", msg);
	ck_assert_msg(can_connect(), "READY=1 came before the socket "
	    "accepted connections");
	ck_assert_msg(strstr(msg, "STATUS=listening on ") != NULL,
	    "READY=1 without a STATUS= line: '%s'", msg);
	nready++;

	ck_assert_int_eq(kill(semd.pid, SIGTERM), 0);
	while (recv_notify(nfd, msg, sizeof msg)) {
		if (has_line(msg, "READY=1"))
			nready++;
		if (has_line(msg, "STOPPING=1"))
			stopping = 1;
		if (strstr(msg, "STATUS=") != NULL)
			status_seen = 1;
		if (stopping)
			break;
	}
	ck_assert_msg(stopping, "no STOPPING=1 on SIGTERM");
	ck_assert_int_eq(nready, 1);
	ck_assert(status_seen);
	ck_assert_msg(tl_wait_until(exited, &semd, WAIT_MS), "semd did not "
	    "exit on SIGTERM");
	ck_assert_msg(WIFEXITED(semd.status) && WEXITSTATUS(semd.status) == 0,
	    "semd %s", tl_wait_str(semd.status, msg, sizeof msg));
	close(nfd);
}
END_TEST

/* Without NOTIFY_SOCKET semd runs as before and notifies nobody. */
START_TEST(test_no_notify_socket)
{
	start_semd(0, 0);
	ck_assert_msg(tl_daemon_wait(&semd, WAIT_MS) == 0, "%s", semd.error);
	stop_semd();
}
END_TEST

/* Read the whole log file into buf. */
static void
read_log(char *buf, size_t len)
{
	FILE	*f;
	size_t	 n;

	f = fopen(semd.log, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/*
 * With stderr the journal, each line starts with its sd-daemon priority
 * (<6> info) instead of "semd: "; with any other stderr, "semd: ".
 */
START_TEST(test_journal_prefixes)
{
	char	 log[8192];
	int	 journal;

	for (journal = 0; journal <= 1; journal++) {
		start_semd(0, journal);
		ck_assert_msg(tl_daemon_wait(&semd, WAIT_MS) == 0, "%s",
		    semd.error);
		stop_semd();
		read_log(log, sizeof log);
		if (journal) {
			ck_assert_msg(strncmp(log, "<6>listening on ", 16) == 0,
			    "journal log does not start with <6>: '%s'", log);
			ck_assert_msg(strstr(log, "semd: ") == NULL,
			    "journal lines still say 'semd: ': '%s'", log);
		} else
			ck_assert_msg(strncmp(log, "semd: listening on ", 19)
			    == 0, "plain log does not start with 'semd: ': "
			    "'%s'", log);
	}
}
END_TEST

int
main(void)
{
	Suite	*s;
	TCase	*tc;
	SRunner	*sr;
	int	 failed;

#ifndef HAVE_SYSTEMD
	printf("SKIP: semd was built without libsystemd: no sd_notify\n");
	return (77);
#endif
	signal(SIGPIPE, SIG_IGN);
	s = suite_create("notify");
	tc = tcase_create("notify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_ready_then_stopping);
	tcase_add_test(tc, test_no_notify_socket);
	tcase_add_test(tc, test_journal_prefixes);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
