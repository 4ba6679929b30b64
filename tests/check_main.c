/*
 * check_main.c - the Check runner: every tests/check_<module>.c defines
 * Suite *suite_<module>(void); the Makefile lists them in suites.inc.
 * CK_RUN_SUITE / CK_RUN_CASE select, CK_TAP_LOG_FILE_NAME writes TAP.
 */
#include <check.h>
#include <stdlib.h>

#define SUITE(name) Suite *suite_##name(void);
#include "suites.inc"
#undef SUITE

int main(void)
{
	SRunner *sr = srunner_create(NULL);
#define SUITE(name) srunner_add_suite(sr, suite_##name());
#include "suites.inc"
#undef SUITE
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
