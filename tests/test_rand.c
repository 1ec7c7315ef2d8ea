/* test_rand.c - the seeded PRNG (core/ad_rand.c): splitmix64's published values, ranges, normals */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "autodist/ad_rand.h"

/* Sampler shuffles and synthetic data are stored as functions of a seed. */
static void
test_splitmix64(void **state)
{
    uint64_t s = 0;

    assert_true(ad_rand_next(&s) == UINT64_C(0xe220a8397b1dcdaf));
    assert_true(ad_rand_next(&s) == UINT64_C(0x6e789e6aa1b965f4));
    assert_true(ad_rand_next(&s) == UINT64_C(0x06c45d188009454f));
    assert_true(s == 3 * AD_RAND_GAMMA);
}

static void
test_uniform(void **state)
{
    uint64_t s = 42;
    int seen[7] = {0};

    for (int i = 0; i < 10000; i++) {
        double u = ad_rand_uniform(&s);
        uint64_t k = ad_rand_upto(&s, 6);

        assert_true(u >= 0 && u < 1);
        assert_true(k <= 6);
        seen[k]++;
    }
    for (int k = 0; k < 7; k++)
        assert_true(seen[k] > 1000);
    s = 5;
    {
        uint64_t t = 5, a = ad_rand_upto(&s, UINT64_MAX);

        assert_true(a == ad_rand_next(&t));
    }
}

/* Normal draws: mean near 0, sd near 1, reproducible from the seed. */
static void
test_gauss(void **state)
{
    uint64_t s = 7, t = 7;
    double sum = 0, sum2 = 0;
    const int n = 20000;

    for (int i = 0; i < n; i++) {
        double g = ad_rand_gauss(&s);

        assert_true(isfinite(g));
        sum += g;
        sum2 += g * g;
    }
    assert_true(fabs(sum / n) < 0.05);
    assert_true(fabs(sqrt(sum2 / n - (sum / n) * (sum / n)) - 1) < 0.05);
    s = 7;
    assert_true(ad_rand_gauss(&s) == ad_rand_gauss(&t));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splitmix64),
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_gauss),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
