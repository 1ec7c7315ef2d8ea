/* test_hash.c - FNV-1a 64 and splitmix64 (core/ad_hash.c) against their published values */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "autodist/ad_hash.h"

/* Stored fingerprints and config hashes depend on these exact values. */
static void
test_fnv1a64(void **state)
{
    assert_true(ad_hash_fnv1a64("") == UINT64_C(0xcbf29ce484222325));
    assert_true(ad_hash_fnv1a64("a") == UINT64_C(0xaf63dc4c8601ec8c));
    assert_true(ad_hash_fnv1a64("foobar") == UINT64_C(0x85944171f73967e8));
    assert_true(ad_hash_fnv1a64_add(ad_hash_fnv1a64("foo"), "bar") == ad_hash_fnv1a64("foobar"));
    assert_true(ad_hash_fnv1a64_add(AD_HASH_FNV1A64_BASIS, "a") == ad_hash_fnv1a64("a"));
}

/* Sampler shuffles and synthetic data are stored as functions of a seed. */
static void
test_splitmix64(void **state)
{
    uint64_t s = 0;

    assert_true(ad_rand_next(&s) == UINT64_C(0xe220a8397b1dcdaf));
    assert_true(ad_rand_next(&s) == UINT64_C(0x6e789e6aa1b965f4));
    assert_true(ad_rand_next(&s) == UINT64_C(0x06c45d188009454f));
    assert_true(s == 3 * AD_RAND_GAMMA);
    assert_true(ad_hash_mix64(0) == UINT64_C(0xe220a8397b1dcdaf));
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnv1a64),
        cmocka_unit_test(test_splitmix64),
        cmocka_unit_test(test_uniform),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
