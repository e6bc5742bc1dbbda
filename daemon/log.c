/*
 * log.c -- the daemon's log, after OpenBSD's log.c: log_warn appends
 * strerror(errno), log_warnx does not, fatal and fatalx log and exit 1.
 */

#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static void	log_with_errno(int, int, const char *, va_list)
		    __attribute__((__format__(__printf__, 3, 0)));
static void	log_line(int, int, const char *, va_list)
		    __attribute__((__format__(__printf__, 3, 0)));

static enum log_dest	 log_dest = LOG_DEST_STDERR;
static int		 log_verbose = LOG_VERBOSE_WARN;
static int		 log_fd = -1;		/* LOG_DEST_FILE */
static off_t		 log_size;		/* bytes in the file */
static char		 log_path[4096];

/*
 * Start logging to dest with the given verbosity.  May be called again
 * (semd starts on stderr and moves to syslog once it is a daemon).
 */
void
log_init(enum log_dest dest, int verbose)
{
	if (log_dest == LOG_DEST_SYSLOG && dest != LOG_DEST_SYSLOG)
		closelog();
	if (dest != LOG_DEST_FILE && log_fd != -1) {
		close(log_fd);
		log_fd = -1;
	}
	log_dest = dest;
	log_verbose = verbose;
	if (dest == LOG_DEST_SYSLOG)
		openlog("semd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/*
 * Open path (created 0600, appended to) as the log file and make it the
 * destination; the verbosity stays.  A file above LOG_FILE_MAX bytes is
 * renamed to path.1 (replacing the older one) and started afresh, so the
 * log takes at most twice that.  Returns 0, or -1 with a sentence in
 * cause.
 */
int
log_open_file(const char *path, char *cause, size_t causelen)
{
	struct stat	 st;
	int		 fd;

	if (strlen(path) >= sizeof log_path) {
		snprintf(cause, causelen, "log file path too long");
		return (-1);
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1 || fstat(fd, &st) == -1) {
		snprintf(cause, causelen, "cannot open log file %s: %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	if (log_dest == LOG_DEST_SYSLOG)
		closelog();
	if (log_fd != -1)
		close(log_fd);
	log_fd = fd;
	log_size = st.st_size;
	if (log_path != path)
		snprintf(log_path, sizeof log_path, "%s", path);
	log_dest = LOG_DEST_FILE;
	return (0);
}

/* The log file in use, or NULL when the log does not go to a file. */
const char *
log_file_path(void)
{
	return (log_dest == LOG_DEST_FILE ? log_path : NULL);
}

/*
 * Is there a syslog daemon to write to?  syslog(3) sends to the socket
 * /dev/log; without it every line would be lost.
 */
int
log_syslog_available(void)
{
	struct stat	 st;

	return (stat("/dev/log", &st) == 0 && S_ISSOCK(st.st_mode));
}

/* Change the verbosity (LOG_VERBOSE_QUIET .. LOG_VERBOSE_DEBUG). */
void
log_setverbose(int verbose)
{
	log_verbose = verbose;
}

/* Return the current verbosity. */
int
log_getverbose(void)
{
	return (log_verbose);
}

/* Is a message of syslog priority pri wanted at the current verbosity? */
static int
log_wanted(int pri)
{
	switch (pri) {
	case LOG_DEBUG:
		return (log_verbose >= LOG_VERBOSE_DEBUG);
	case LOG_INFO:
	case LOG_NOTICE:
		return (log_verbose >= LOG_VERBOSE_INFO);
	case LOG_WARNING:
		return (log_verbose >= LOG_VERBOSE_WARN);
	default:
		return (1);
	}
}

/*
 * Is stderr the systemd journal?  systemd sets JOURNAL_STREAM to the
 * "device:inode" of the stream it connected; it is ours only if stderr is
 * still that very stream (a child of a service may have redirected it).
 * Checked once.
 */
static int
log_stderr_is_journal(void)
{
	static int	 known, journal;
	const char	*env;
	struct stat	 st;
	unsigned long long dev, ino;

	if (known)
		return (journal);
	known = 1;
	env = getenv("JOURNAL_STREAM");
	if (env != NULL && sscanf(env, "%llu:%llu", &dev, &ino) == 2 &&
	    fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino)
		journal = 1;
	return (journal);
}

/*
 * Write one finished line to stderr.  When stderr is the journal, the
 * line carries the sd-daemon priority prefix "<pri>" (sd-daemon(3)) so
 * that journalctl -p works, and no "semd: " (the journal names the
 * program itself).
 */
static void
log_emit_stderr(int pri, const char *msg)
{
	if (log_stderr_is_journal())
		fprintf(stderr, "<%d>%s\n", pri, msg);
	else
		fprintf(stderr, "semd: %s\n", msg);
	fflush(stderr);
}

/*
 * Append one line to the log file: "2026-12-02T00:40:00.123Z semd[42]:
 * message" (UTC; there is no syslog to add time and pid).  Rotates the
 * file when it passes LOG_FILE_MAX bytes.  Errors are ignored: a full
 * disk must not stop semd.
 */
static void
log_emit_file(const char *msg)
{
	struct timespec	 ts;
	struct tm	 tm;
	char		 buf[1200], old[sizeof log_path + 2], cause[64];
	int		 n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ "
	    "semd[%ld]: %s\n", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
	    (long)getpid(), msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof buf) {
		n = sizeof buf - 1;
		buf[n - 1] = '\n';
	}
	if (log_size + n > LOG_FILE_MAX) {
		snprintf(old, sizeof old, "%s.1", log_path);
		if (rename(log_path, old) == 0)
			(void)log_open_file(log_path, cause, sizeof cause);
		else
			log_size = 0;	/* keep appending; try again later */
	}
	if (write(log_fd, buf, (size_t)n) == n)
		log_size += n;
}

/* Write a finished line to the destination at syslog priority pri. */
static void
log_emit(int pri, const char *line)
{
	if (log_dest == LOG_DEST_SYSLOG)
		syslog(pri, "%s", line);
	else if (log_dest == LOG_DEST_FILE && log_fd != -1)
		log_emit_file(line);
	else
		log_emit_stderr(pri, line);
}

/* Log at pri one line made of fmt, then ": strerror(err)" unless err is 0. */
static void
log_with_errno(int pri, int err, const char *fmt, va_list ap)
{
	if (!log_wanted(pri))
		return;
	log_line(pri, err, fmt, ap);
}

/* Format and write one line, whatever the verbosity.  Keeps errno. */
static void
log_line(int pri, int err, const char *fmt, va_list ap)
{
	char	 line[1024];
	size_t	 len;
	int	 saved_errno = errno;

	vsnprintf(line, sizeof line, fmt, ap);
	if (err != 0) {
		len = strlen(line);
		snprintf(line + len, sizeof line - len, ": %s", strerror(err));
	}
	log_emit(pri, line);
	errno = saved_errno;
}

/*
 * Log a message of syslog priority pri (LOG_CRIT .. LOG_DEBUG) if the
 * verbosity wants it.  Keeps errno.
 */
void
vlog(int pri, const char *fmt, va_list ap)
{
	log_with_errno(pri, 0, fmt, ap);
}

/* Log a warning followed by the text of errno.  Keeps errno. */
void
log_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_with_errno(LOG_WARNING, errno, fmt, ap);
	va_end(ap);
}

/* Log a warning.  Keeps errno. */
void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap);
	va_end(ap);
}

/* Log an informational message (verbosity 1 and up).  Keeps errno. */
void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

/* Log a debug message (verbosity 2 and up).  Keeps errno. */
void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

/* Are events (log_event) written at the current verbosity? */
int
log_events_wanted(void)
{
	return (log_verbose >= LOG_VERBOSE_EVENTS);
}

/*
 * Log an event: a grant, release, timeout, withdrawal or revoke, as one
 * line of key=value pairs (verbosity 1 and up, priority info).  Keeps
 * errno.
 */
void
log_event(const char *fmt, ...)
{
	va_list	 ap;

	if (!log_events_wanted())
		return;
	va_start(ap, fmt);
	log_line(LOG_INFO, 0, fmt, ap);
	va_end(ap);
}

/* Log an error followed by the text of errno, then exit 1. */
void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_with_errno(LOG_CRIT, errno, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Log an error, then exit 1. */
void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_with_errno(LOG_CRIT, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
