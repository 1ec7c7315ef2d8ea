/* test_layout.c - the one spelling of a layout (core/ad_layout.c): NxPxT read and written */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ad_test.h"
#include "autodist/ad_layout.h"

/* NxPxT, the comma form, X and × and spaces are one layout. */
static void
test_forms(void **state)
{
    static const char *const same[] = {"1x2x4",
                                       "1,2,4",
                                       "1X2X4",
                                       "1\xc3\x97"
                                       "2\xc3\x97"
                                       "4",
                                       " 1 x 2 x 4 ",
                                       "1, 2, 4"};
    char buf[32];

    (void)state;
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        ad_layout_t l = {0};
        ad_err_t err = {0};

        assert_int_equal(ad_layout_parse("--layout", same[i], &l, &err), 0);
        assert_int_equal(l.nodes, 1);
        assert_int_equal(l.procs_per_node, 2);
        assert_int_equal(l.threads_per_proc, 4);
        assert_string_equal(
            ad_layout_str(l.nodes, l.procs_per_node, l.threads_per_proc, buf, sizeof(buf)),
            "1x2x4");
    }
}

/* Anything else is one line naming the option, the expected form and what was given. */
static void
test_bad(void **state)
{
    static const char *const bad[] = {"",      "1x2",   "1x2x",   "1x0x1",       "1x2x1x1",
                                      "1,2x1", "a,b,c", "-1x1x1", "1x2x1 extra", "2,1"};
    ad_layout_t l;
    ad_err_t err = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char want[200];

        assert_int_equal(ad_layout_parse("--layout", bad[i], &l, &err), AD_EPARSE);
        snprintf(want, sizeof(want),
                 "--layout must be NODESxPROCSxTHREADS such as 1x2x1 (1,2,1 works too) with "
                 "integers >= 1, got \"%s\"",
                 bad[i]);
        assert_string_equal(err.msg, want);
    }
    assert_int_equal(ad_layout_parse("layout", "1x5000x1", &l, &err), AD_EPARSE);
    adt_assert_has(err.msg, "layout: at most 100000 nodes and 4096 processes per node");
    assert_int_equal(ad_layout_parse("layout", "99999999999999999999x1x1", &l, &err), AD_EPARSE);
    adt_assert_has(err.msg, "at most 100000 nodes");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_bad),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
