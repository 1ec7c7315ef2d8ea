/* test_resize.c - the one image resize (core/ad_resize.c) of the imagefolder dataset and serve */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ad_test.h"
#include "autodist/ad_resize.h"

/* The same size is a copy; a solid colour stays exactly that colour at any size. */
static void
test_copy_and_solid(void **state)
{
    uint8_t src[7 * 5 * 3], dst[13 * 11 * 3];

    (void)state;
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)(i * 37);
    assert_int_equal(ad_resize_u8(src, 7, 5, 3, dst, 7, 5), 0);
    assert_memory_equal(src, dst, sizeof(src));
    for (size_t i = 0; i < sizeof(src); i += 3) {
        src[i] = 200;
        src[i + 1] = 17;
        src[i + 2] = 99;
    }
    const int sizes[][2] = {{3, 2}, {13, 11}, {1, 1}, {7, 11}};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        int w = sizes[s][0], h = sizes[s][1];

        assert_int_equal(ad_resize_u8(src, 7, 5, 3, dst, w, h), 0);
        for (int i = 0; i < w * h; i++) {
            assert_int_equal(dst[3 * i], 200);
            assert_int_equal(dst[3 * i + 1], 17);
            assert_int_equal(dst[3 * i + 2], 99);
        }
    }
}

/* Halving averages each 2x2 block; shrinking by a fraction weighs the pixels it cuts. */
static void
test_area_average(void **state)
{
    uint8_t src[4 * 4], dst[4];
    uint8_t row[3] = {0, 90, 180}, two[2];

    (void)state;
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            src[y * 4 + x] = (uint8_t)(((x / 2) + 2 * (y / 2)) * 40 + (x % 2) * 4 + (y % 2) * 8);
    assert_int_equal(ad_resize_u8(src, 4, 4, 1, dst, 2, 2), 0);
    /* Each block: base, base + 4, base + 8, base + 12 -> base + 6. */
    assert_int_equal(dst[0], 6);
    assert_int_equal(dst[1], 46);
    assert_int_equal(dst[2], 86);
    assert_int_equal(dst[3], 126);
    /* 3 -> 2: [0, 1.5) and [1.5, 3): (0 + 45) / 1.5 = 30 and (45 + 180) / 1.5 = 150. */
    assert_int_equal(ad_resize_u8(row, 3, 1, 1, two, 2, 1), 0);
    assert_int_equal(two[0], 30);
    assert_int_equal(two[1], 150);
}

/* Growing interpolates between neighbours and clamps at the edges. */
static void
test_bilinear_growth(void **state)
{
    uint8_t src[2] = {0, 200}, dst[4];

    (void)state;
    assert_int_equal(ad_resize_u8(src, 2, 1, 1, dst, 4, 1), 0);
    /* Centres at -0.25, 0.25, 0.75, 1.25 of the input: 0, 50, 150, 200. */
    assert_int_equal(dst[0], 0);
    assert_int_equal(dst[1], 50);
    assert_int_equal(dst[2], 150);
    assert_int_equal(dst[3], 200);
}

/* A photo-sized image to a model's input: in range, no crash, monotone gradient kept. */
static void
test_large_and_bad(void **state)
{
    int sw = 1024, sh = 768;
    uint8_t *src = malloc((size_t)sw * sh * 3), dst[224 * 224 * 3], keep = 7;

    (void)state;
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < sw; x++)
            for (int c = 0; c < 3; c++)
                src[((size_t)y * sw + x) * 3 + c] = (uint8_t)(x * 255 / (sw - 1));
    assert_int_equal(ad_resize_u8(src, sw, sh, 3, dst, 224, 224), 0);
    for (int x = 1; x < 224; x++)
        assert_true(dst[x * 3] >= dst[(x - 1) * 3]);
    assert_true(dst[0] <= 2 && dst[223 * 3] >= 253);
    free(src);
    /* Bad sizes and channel counts are refused, dst untouched. */
    assert_int_equal(ad_resize_u8(&keep, 0, 1, 1, &keep, 1, 1), -1);
    assert_int_equal(ad_resize_u8(&keep, 1, 1, 5, &keep, 1, 1), -1);
    assert_int_equal(ad_resize_u8(&keep, 1, 1, 1, &keep, 1, 0), -1);
    assert_int_equal(keep, 7);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_and_solid),
        cmocka_unit_test(test_area_average),
        cmocka_unit_test(test_bilinear_growth),
        cmocka_unit_test(test_large_and_bad),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
