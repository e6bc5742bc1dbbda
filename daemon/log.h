/*
 * log.h -- the daemon's log, after OpenBSD's log.c.
 *
 * In the foreground every line goes to stderr as "semd: message"; once
 * daemonized it goes to syslog(3) (facility daemon), or to a file when
 * there is no syslog.  The verbosity picks what is written: -1 only fatal
 * errors, 0 warnings, 1 also events (each grant, release, timeout,
 * withdrawal and revoke, one key=value line each), 2 also information
 * (connections, errors sent to clients), 3 also debug (every request).
 */

#ifndef SEMD_LOG_H
#define SEMD_LOG_H

#include <stdarg.h>
#include <stddef.h>

#define LOG_FILE_MAX	(4 * 1024 * 1024)	/* then rotated to FILE.1 */

#define LOG_VERBOSE_QUIET	-1
#define LOG_VERBOSE_WARN	0
#define LOG_VERBOSE_EVENTS	1
#define LOG_VERBOSE_INFO	2
#define LOG_VERBOSE_DEBUG	3

/* Where log lines go. */
enum log_dest {
	LOG_DEST_STDERR,	/* "semd: message\n" on stderr */
	LOG_DEST_SYSLOG,	/* syslog(3), ident "semd", facility daemon */
	LOG_DEST_FILE,		/* "TIME semd[PID]: message\n", see log_open_file */
};

void	log_init(enum log_dest, int verbose);
int	log_open_file(const char *path, char *cause, size_t causelen);
int	log_syslog_available(void);
const char *log_file_path(void);
void	log_setverbose(int);
int	log_getverbose(void);

void	log_warn(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2)));
void	log_warnx(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2)));
void	log_info(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2)));
void	log_debug(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2)));
void	log_event(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2)));
int	log_events_wanted(void);
void	vlog(int, const char *, va_list)
	    __attribute__((__format__(__printf__, 2, 0)));
__attribute__((__noreturn__)) void
	fatal(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2)));
__attribute__((__noreturn__)) void
	fatalx(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2)));

#endif /* SEMD_LOG_H */
