/* unit.h -- the unit test suites; tests/unit/main.c runs them all. */

#ifndef SEMD_UNIT_H
#define SEMD_UNIT_H

#include <check.h>

Suite	*proto_suite(void);
Suite	*sem_suite(void);
Suite	*conf_suite(void);
Suite	*sem2_suite(void);
Suite	*stats_suite(void);
Suite	*state_suite(void);

#endif /* SEMD_UNIT_H */
