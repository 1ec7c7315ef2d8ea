/* test_opt.c - option values (core/ad_opt.c): ranges, the messages naming the option, durations */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "autodist/ad_opt.h"

static void
test_int(void **state)
{
    ad_err_t err = {0};
    int64_t v = 7;

    assert_int_equal(ad_opt_int("--agents", "64", 1, 64, 0, &v, &err), 0);
    assert_int_equal(v, 64);
    assert_int_equal(ad_opt_int("--agents", "-3", -5, 5, 0, &v, &err), 0);
    assert_int_equal(v, -3);
    /* Out of range, not a number, trailing text, empty, overflow: *out untouched. */
    v = 7;
    assert_int_equal(ad_opt_int("--agents", "65", 1, 64, 0, &v, &err), AD_EINVAL);
    assert_string_equal(err.msg, "--agents must be an integer in [1, 64], got \"65\"");
    assert_int_equal(ad_opt_int("--agents", "x", 1, 64, AD_OPT_DOTS, &v, &err), AD_EINVAL);
    assert_string_equal(err.msg, "--agents must be an integer in 1..64, got \"x\"");
    assert_int_equal(ad_opt_int("--agents", "3x", 1, 64, 0, &v, &err), AD_EINVAL);
    assert_int_equal(ad_opt_int("--agents", "", 1, 64, 0, &v, &err), AD_EINVAL);
    assert_int_equal(ad_opt_int("--n", "99999999999999999999", 0, INT64_MAX, 0, &v, &err),
                     AD_EINVAL);
    assert_string_equal(err.msg, "--n must be an integer in [0, 9223372036854775807], got "
                                 "\"99999999999999999999\"");
    assert_int_equal(v, 7);
}

static void
test_real_and_seconds(void **state)
{
    ad_err_t err = {0};
    double v = -1;

    assert_int_equal(ad_opt_real("--lr", "0.5", 1e-12, 1e6, 0, &v, &err), 0);
    assert_true(v == 0.5);
    assert_int_equal(ad_opt_real("--lr", "fast", 1e-12, 1e6, 0, &v, &err), AD_EINVAL);
    assert_string_equal(err.msg, "--lr must be a number in [1e-12, 1e+06], got \"fast\"");
    assert_int_equal(ad_opt_real("--lr", "inf", 0, INFINITY, 0, &v, &err), AD_EINVAL);
    assert_int_equal(ad_opt_real("--lr", "nan", 0, 1, 0, &v, &err), AD_EINVAL);
    assert_true(v == 0.5);
    assert_int_equal(ad_opt_seconds("--follow-interval", "0.05", 0.1, 60, AD_OPT_DOTS, &v, &err),
                     AD_EINVAL);
    assert_string_equal(err.msg, "--follow-interval must be seconds in 0.1..60, got \"0.05\"");
    assert_int_equal(ad_opt_seconds("--kill-grace", "-1", 0, 3600, 0, &v, &err), AD_EINVAL);
    assert_string_equal(err.msg, "--kill-grace must be seconds in [0, 3600], got \"-1\"");
    assert_int_equal(ad_opt_seconds("--kill-grace", "2.5", 0, 3600, 0, &v, &err), 0);
    assert_true(v == 2.5);
}

static void
test_duration(void **state)
{
    static const struct {
        const char *text;
        int64_t secs; /* -1: not a duration */
    } cases[] = {
        {"5400", 5400}, {"90s", 90},    {"30m", 1800},    {"2h", 7200},    {"1d", 86400},
        {"1h30m", 5400}, {"1d12h", 129600}, {"1h0m5s", 3605}, {"0", 0},       {"-5", -5},
        {"", -1},        {"m", -1},     {"30m2h", -1},    {"1h1h", -1},    {"01", -1},
        {" 5", -1},      {"5x", -1},    {"5 s", -1},      {"1.5h", -1},    {"h30", -1},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = 0;
        bool ok = ad_opt_parse_duration(cases[i].text, &v);

        if (cases[i].secs == -1) {
            assert_false(ok);
        } else {
            assert_true(ok);
            assert_int_equal(v, cases[i].secs);
        }
    }
}

static void
test_strict_int(void **state)
{
    int64_t v = 3;

    assert_true(ad_opt_parse_strict_int("-9223372036854775808", &v));
    assert_true(v == INT64_MIN);
    assert_true(ad_opt_parse_strict_int("+12", &v));
    assert_int_equal(v, 12);
    assert_false(ad_opt_parse_strict_int("9223372036854775808", &v));
    assert_false(ad_opt_parse_strict_int("012", &v));
    assert_false(ad_opt_parse_strict_int("", &v));
    assert_false(ad_opt_parse_strict_int("1 ", &v));
    assert_int_equal(v, 12);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_real_and_seconds),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_strict_int),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
