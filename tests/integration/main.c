/*
 * main.c -- run every integration suite against a real semd ($SEMD_BIN)
 * and fail on any failure.  Check's fork mode stays on: each test runs in
 * its own process with its own daemon, so a crash fails one test.
 */

#include "config.h"

#include <sys/resource.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "integ.h"

int
main(void)
{
	struct rlimit	 rl;
	const char	*bin;
	SRunner		*sr;
	int		 failed;

	bin = getenv("SEMD_BIN");
	if (bin == NULL || access(bin, X_OK) == -1) {
		fprintf(stderr, "integ_tests: SEMD_BIN must name the semd "
		    "binary (run through make check, or set it to "
		    "<builddir>/daemon/semd)\n");
		return (99);	/* automake's "hard error" */
	}

	/* Tests write to sockets the daemon may have closed. */
	signal(SIGPIPE, SIG_IGN);

	/* Hundreds of connections per test; the daemon inherits this. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	sr = srunner_create(core_suite());
	srunner_add_suite(sr, hostile_suite());
	srunner_add_suite(sr, limits_suite());
	srunner_add_suite(sr, engine2_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
