/* test_sampler.c - DistributedSampler semantics: disjoint shares, stable order, errors */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "autodist/ad_sampler.h"

/* Global batch `step` as one rank sees it: the union of every rank's share. */
static void
s_union(int64_t n, int64_t batch, int world, uint64_t seed, int64_t epoch, int64_t step,
        int64_t *out)
{
    for (int r = 0; r < world; r++) {
        ad_sampler_t *s = ad_sampler_new(n, batch, world, r, seed, NULL);
        int local = ad_sampler_local_batch(s);
        int64_t idx[512];

        assert_non_null(s);
        ad_sampler_set_epoch(s, epoch);
        ad_sampler_indices(s, step, idx);
        /* Rank r holds positions r, r + world, ... of the global batch. */
        for (int k = 0; k < local; k++)
            out[r + (int64_t)k * world] = idx[k];
        ad_sampler_free(&s);
        assert_null(s);
    }
}

static int
s_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static void
test_shares_form_the_one_rank_batch(void **state)
{
    int64_t one[96], many[96];

    for (int world = 2; world <= 5; world++) {
        for (int64_t step = 0; step < 3; step++) {
            s_union(1000, 96, 1, 7, 2, step, one);
            s_union(1000, 96, world, 7, 2, step, many);
            qsort(one, 96, sizeof(int64_t), s_cmp);
            qsort(many, 96, sizeof(int64_t), s_cmp);
            /* Same samples, none twice: the ranks' shares are disjoint. */
            assert_memory_equal(one, many, sizeof(one));
            for (int i = 1; i < 96; i++)
                assert_true(many[i] > many[i - 1]);
        }
    }
}

static void
test_uneven_split(void **state)
{
    ad_err_t err = {0};
    int total = 0;

    for (int r = 0; r < 3; r++) {
        ad_sampler_t *s = ad_sampler_new(100, 10, 3, r, 1, &err);

        assert_non_null(s);
        /* 10 over 3 ranks: 4, 3, 3. */
        assert_int_equal(ad_sampler_local_batch(s), r == 0 ? 4 : 3);
        total += ad_sampler_local_batch(s);
        ad_sampler_free(&s);
    }
    assert_int_equal(total, 10);
}

static void
test_epochs_reshuffle_and_cover(void **state)
{
    ad_sampler_t *s = ad_sampler_new(64, 8, 1, 0, 5, NULL);
    int64_t e0[64], e1[64], again[64];

    assert_int_equal(ad_sampler_steps_per_epoch(s), 8);
    for (int epoch = 0; epoch < 2; epoch++) {
        ad_sampler_set_epoch(s, epoch);
        for (int step = 0; step < 8; step++)
            ad_sampler_indices(s, step, (epoch ? e1 : e0) + step * 8);
    }
    ad_sampler_set_epoch(s, 0);
    for (int step = 0; step < 8; step++)
        ad_sampler_indices(s, step, again + step * 8);
    assert_memory_equal(e0, again, sizeof(e0));
    assert_memory_not_equal(e0, e1, sizeof(e0));
    /* Each epoch visits every sample exactly once. */
    qsort(e0, 64, sizeof(int64_t), s_cmp);
    qsort(e1, 64, sizeof(int64_t), s_cmp);
    for (int i = 0; i < 64; i++) {
        assert_int_equal(e0[i], i);
        assert_int_equal(e1[i], i);
    }
    ad_sampler_free(&s);
    ad_sampler_free(&s);
}

static void
test_seed_changes_order(void **state)
{
    int64_t a[32], b[32];

    s_union(1000, 32, 1, 1, 0, 0, a);
    s_union(1000, 32, 1, 2, 0, 0, b);
    assert_memory_not_equal(a, b, sizeof(a));
}

/*
 * 1000 samples in global batches of 300: three full batches an epoch, 900 distinct samples;
 * the 100 left over are dropped, never served as a short fourth batch, and which 100 are
 * dropped changes with the epoch's shuffle.
 */
static void
test_drop_last(void **state)
{
    ad_sampler_t *s = ad_sampler_new(1000, 300, 2, 1, 1, NULL);
    int64_t epoch[2][900];
    int dropped_both = 0;

    assert_int_equal(ad_sampler_steps_per_epoch(s), 3);
    assert_int_equal(ad_sampler_local_batch(s), 150);
    ad_sampler_free(&s);
    for (int e = 0; e < 2; e++) {
        bool seen[1000] = {false};

        for (int64_t step = 0; step < 3; step++)
            s_union(1000, 300, 2, 1, e, step, epoch[e] + step * 300);
        for (int i = 0; i < 900; i++) {
            assert_in_range(epoch[e][i], 0, 999);
            assert_false(seen[epoch[e][i]]);
            seen[epoch[e][i]] = true;
        }
        qsort(epoch[e], 900, sizeof(int64_t), s_cmp);
    }
    /* A sample dropped in epoch 0 is one missing from its sorted list; count those also
     * missing in epoch 1: a fixed tail would make it 100. */
    for (int64_t v = 0; v < 1000; v++) {
        bool in0 = bsearch(&v, epoch[0], 900, sizeof(int64_t), s_cmp) != NULL;
        bool in1 = bsearch(&v, epoch[1], 900, sizeof(int64_t), s_cmp) != NULL;

        dropped_both += !in0 && !in1;
    }
    assert_true(dropped_both < 100);
}

static void
test_errors(void **state)
{
    ad_err_t err = {0};

    assert_null(ad_sampler_new(100, 3, 4, 0, 1, &err));
    assert_int_equal(err.code, AD_EINVAL);
    assert_non_null(strstr(err.msg, "smaller than the 4 ranks"));
    assert_null(ad_sampler_new(100, 101, 1, 0, 1, &err));
    assert_non_null(strstr(err.msg, "larger than the 100 samples"));
    assert_null(ad_sampler_new(100, 10, 2, 2, 1, &err));
    assert_non_null(strstr(err.msg, "rank 2 out of range"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shares_form_the_one_rank_batch),
        cmocka_unit_test(test_uneven_split),
        cmocka_unit_test(test_epochs_reshuffle_and_cover),
        cmocka_unit_test(test_seed_changes_order),
        cmocka_unit_test(test_drop_last),
        cmocka_unit_test(test_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
