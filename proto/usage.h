/*
 * usage.h -- the one usage style of semd, semrun and semdctl.  --help
 * prints the synopsis ("usage: PROG ...", as in the program's man page)
 * and then the help to stdout, and exits 0; -V prints "PROG (semd)
 * VERSION, ..." to stdout and exits 0; a usage error prints one line
 * "PROG: message" and the synopsis to stderr and exits 64 (EX_USAGE).
 */

#ifndef SEMD_USAGE_H
#define SEMD_USAGE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

static inline void	usage_error(const char *, void (*)(FILE *),
			    const char *, ...)
			    __attribute__((format(printf, 3, 4), noreturn));
static inline void	usage_bad_option(const char *, void (*)(FILE *), int,
			    const char *, int)
			    __attribute__((noreturn));

/*
 * Report a usage error of prog: "prog: " and the printf-style message,
 * then what synopsis prints, to stderr.  Exits EX_USAGE.
 */
static inline void
usage_error(const char *prog, void (*synopsis)(FILE *), const char *fmt,
    ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	synopsis(stderr);
	exit(EX_USAGE);
}

/*
 * Report as a usage error of prog what getopt_long returned for a bad
 * option (opterr 0, optstring starting with ':'): ch ':' for a missing
 * argument, else an unknown option; arg is argv[optind - 1], opt optopt.
 */
static inline void
usage_bad_option(const char *prog, void (*synopsis)(FILE *), int ch,
    const char *arg, int opt)
{
	if (ch == ':')
		usage_error(prog, synopsis, "option '%s' needs an argument",
		    arg);
	if (opt != 0)
		usage_error(prog, synopsis, "unknown option '-%c'", opt);
	usage_error(prog, synopsis, "unknown option '%s'", arg);
}

#endif /* SEMD_USAGE_H */
