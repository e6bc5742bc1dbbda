/*
 * main.c -- run every unit suite (proto, engine) and fail on any failure.
 * Check's fork mode stays on, so a crash fails one test, not the run.
 */

#include <stdlib.h>

#include "unit.h"

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(proto_suite());
	srunner_add_suite(sr, sem_suite());
	srunner_add_suite(sr, conf_suite());
	srunner_add_suite(sr, sem2_suite());
	srunner_add_suite(sr, stats_suite());
	srunner_add_suite(sr, state_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
