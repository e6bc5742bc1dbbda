/*
 * log.c -- the daemon's log, after OpenBSD's log.c: log_warn appends
 * strerror(errno), log_warnx does not, fatal and fatalx log and exit 1.
 */

#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static void	log_with_errno(int, int, const char *, va_list)
		    __attribute__((__format__(__printf__, 3, 0)));

static enum log_dest	 log_dest = LOG_DEST_STDERR;
static int		 log_verbose = LOG_VERBOSE_WARN;

/*
 * Start logging to dest with the given verbosity.  May be called again
 * (semd starts on stderr and moves to syslog once it is a daemon).
 */
void
log_init(enum log_dest dest, int verbose)
{
	if (log_dest == LOG_DEST_SYSLOG && dest != LOG_DEST_SYSLOG)
		closelog();
	log_dest = dest;
	log_verbose = verbose;
	if (dest == LOG_DEST_SYSLOG)
		openlog("semd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
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

/* Log at pri one line made of fmt, then ": strerror(err)" unless err is 0. */
static void
log_with_errno(int pri, int err, const char *fmt, va_list ap)
{
	char	 line[1024];
	size_t	 len;
	int	 saved_errno = errno;

	if (!log_wanted(pri))
		return;
	vsnprintf(line, sizeof line, fmt, ap);
	if (err != 0) {
		len = strlen(line);
		snprintf(line + len, sizeof line - len, ": %s", strerror(err));
	}
	if (log_dest == LOG_DEST_SYSLOG)
		syslog(pri, "%s", line);
	else
		log_emit_stderr(pri, line);
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
