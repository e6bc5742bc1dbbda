/*
 * log.h -- the daemon's log, after OpenBSD's log.c.
 *
 * In the foreground every line goes to stderr as "semd: message"; once
 * daemonized it goes to syslog(3) (facility daemon).  The verbosity picks
 * what is written: -1 only fatal errors, 0 warnings, 1 also information
 * (connections, errors sent to clients), 2 also debug (every request).
 */

#ifndef SEMD_LOG_H
#define SEMD_LOG_H

#include <stdarg.h>

#define LOG_VERBOSE_QUIET	-1
#define LOG_VERBOSE_WARN	0
#define LOG_VERBOSE_INFO	1
#define LOG_VERBOSE_DEBUG	2

/* Where log lines go. */
enum log_dest {
	LOG_DEST_STDERR,	/* "semd: message\n" on stderr */
	LOG_DEST_SYSLOG,	/* syslog(3), ident "semd", facility daemon */
};

void	log_init(enum log_dest, int verbose);
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
void	vlog(int, const char *, va_list)
	    __attribute__((__format__(__printf__, 2, 0)));
__attribute__((__noreturn__)) void
	fatal(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2)));
__attribute__((__noreturn__)) void
	fatalx(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2)));

#endif /* SEMD_LOG_H */
