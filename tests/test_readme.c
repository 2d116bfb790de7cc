/* test_readme.c — compiles and runs the C example of README.md (extracted into
 * tests/readme_example.c by the build), so the documentation cannot rot. */
#include "testutil.h"

#define main readme_example_main
#include "readme_example.c"
#undef main

START_TEST(test_readme_example_runs)
{
    ck_assert_int_eq(readme_example_main(), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("readme");
    TCase *tc = tcase_create("example");
    tcase_add_test(tc, test_readme_example_runs);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
