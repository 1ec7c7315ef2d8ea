/* test_suggest.c - "did you mean" (core/ad_suggest.c): edit distance and the closest word */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "autodist/ad_suggest.h"

static void
test_distance(void **state)
{
    char long_word[AD_SUGGEST_WORD_MAX + 2];

    assert_int_equal(ad_suggest_distance("kitten", "sitting", false), 3);
    assert_int_equal(ad_suggest_distance("", "abc", false), 3);
    assert_int_equal(ad_suggest_distance("same", "same", false), 0);
    assert_int_equal(ad_suggest_distance("MODEL", "model", false), 5);
    assert_int_equal(ad_suggest_distance("MODEL", "model", true), 0);
    memset(long_word, 'a', sizeof(long_word) - 1);
    long_word[sizeof(long_word) - 1] = '\0';
    assert_true(ad_suggest_distance(long_word, "a", false) == SIZE_MAX);
}

static void
test_suggest(void **state)
{
    static const char *const keys[] = {"name", "model", NULL, "batch_size", "seed", "modal"};

    assert_string_equal(ad_suggest("batch-size", keys, 6, 3, false), "batch_size");
    /* Ties go to the first candidate. */
    assert_string_equal(ad_suggest("modol", keys, 6, 3, false), "model");
    assert_string_equal(ad_suggest("Modle", keys, 6, 3, true), "model");
    assert_null(ad_suggest("optimizer", keys, 6, 3, false));
    assert_null(ad_suggest("seed", keys, 6, 0, false));
    assert_null(ad_suggest("x", keys, 0, 3, false));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distance),
        cmocka_unit_test(test_suggest),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
