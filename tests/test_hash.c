/* test_hash.c - FNV-1a 64 and the splitmix64 finalizer (core/ad_hash.c) against published values */
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

/* splitmix64's first output from state 0, its published value. */
static void
test_mix64(void **state)
{
    assert_true(ad_hash_mix64(0) == UINT64_C(0xe220a8397b1dcdaf));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnv1a64),
        cmocka_unit_test(test_mix64),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
