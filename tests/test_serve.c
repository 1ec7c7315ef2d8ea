/* test_serve.c - uploaded images to a model's input (infer/ad_image.c): decode, resize, normalise
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <stb/stb_image_write.h>

#include "ad_test.h"
#include "autodist/ad_image.h"
#include "autodist/ad_infer.h"

static const float s_mean[3] = {0.5f, 0.5f, 0.5f}, s_std[3] = {0.5f, 0.5f, 0.5f};

typedef struct {
    unsigned char *p;
    size_t len;
} sink_t;

static void
s_sink(void *ctx, void *data, int size)
{
    sink_t *s = ctx;

    s->p = realloc(s->p, s->len + (size_t)size);
    memcpy(s->p + s->len, data, (size_t)size);
    s->len += (size_t)size;
}

/* A w x h RGB picture: pure red. */
static unsigned char *
s_red(int w, int h)
{
    unsigned char *p = calloc((size_t)w * h, 3);

    for (int i = 0; i < w * h; i++)
        p[3 * i] = 255;
    return p;
}

/* A red PNG decodes to red = 1, green = blue = -1 after [-1, 1] normalisation, any size. */
static void
test_png_rgb(void **state)
{
    unsigned char *px = s_red(20, 10);
    sink_t png = {0};
    float out[3 * 8 * 8];
    ad_err_t err = {0};

    (void)state;
    assert_true(stbi_write_png_to_func(s_sink, &png, 20, 10, 3, px, 60));
    assert_int_equal(ad_image_decode(png.p, png.len, 3, 8, 8, s_mean, s_std, out, &err), 0);
    for (int i = 0; i < 64; i++) {
        assert_float_equal(out[i], 1.0f, 1e-5);
        assert_float_equal(out[64 + i], -1.0f, 1e-5);
        assert_float_equal(out[128 + i], -1.0f, 1e-5);
    }
    free(png.p);
    free(px);
}

/* A grey model takes a colour JPEG as its luma; the size of the model, not of the picture. */
static void
test_jpeg_grey(void **state)
{
    unsigned char *px = s_red(32, 32);
    sink_t jpg = {0};
    float out[16 * 16];
    ad_image_t img;
    ad_err_t err = {0};

    (void)state;
    assert_true(stbi_write_jpg_to_func(s_sink, &jpg, 32, 32, 3, px, 95));
    assert_int_equal(ad_image_read(jpg.p, jpg.len, 1, &img, &err), 0);
    assert_int_equal(img.width, 32);
    assert_int_equal(img.channels, 1);
    assert_int_equal(ad_image_prepare(&img, 16, 16, s_mean, s_std, out, &err), 0);
    ad_image_release(&img);
    ad_image_release(&img); /* idempotent */
    /* Red's luma is about 0.3: (0.3 - 0.5) / 0.5 = -0.4. */
    assert_true(out[0] > -0.6f && out[0] < -0.2f);
    free(jpg.p);
    free(px);
}

/*
 * A binary PPM (P6) at the model's size, as the page sends a photo it scaled: its pixels
 * exactly, normalised, nothing resized; a truncated one is refused.
 */
static void
test_ppm_exact(void **state)
{
    static const char head[] = "P6\n4 2\n255\n";
    unsigned char ppm[sizeof(head) - 1 + 4 * 2 * 3];
    float out[3 * 2 * 4];
    ad_err_t err = {0};

    (void)state;
    memcpy(ppm, head, sizeof(head) - 1);
    for (int i = 0; i < 4 * 2 * 3; i++)
        ppm[sizeof(head) - 1 + i] = (unsigned char)(i * 10);
    assert_int_equal(ad_image_decode(ppm, sizeof(ppm), 3, 2, 4, s_mean, s_std, out, &err), 0);
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 8; p++)
            assert_float_equal(out[c * 8 + p], ((float)((p * 3 + c) * 10) / 255.0f - 0.5f) / 0.5f,
                               1e-5);
    assert_int_equal(ad_image_decode(ppm, sizeof(ppm) - 5, 3, 2, 4, s_mean, s_std, out, &err),
                     AD_EDATA);
    assert_non_null(strstr(err.msg, "truncated PPM"));
    /* A comment in the header is allowed. */
    {
        static const char with[] = "P6\n# scaled by the page\n4 2\n255\n";
        unsigned char ppm2[sizeof(with) - 1 + 4 * 2 * 3];

        memcpy(ppm2, with, sizeof(with) - 1);
        memcpy(ppm2 + sizeof(with) - 1, ppm + sizeof(head) - 1, 4 * 2 * 3);
        assert_int_equal(ad_image_decode(ppm2, sizeof(ppm2), 3, 2, 4, s_mean, s_std, out, &err), 0);
        assert_float_equal(out[1], ((float)30 / 255.0f - 0.5f) / 0.5f, 1e-5);
    }
}

/* Bad bytes fail with a reason, never a crash: empty, text, truncated JPEG, a huge header. */
static void
test_bad(void **state)
{
    unsigned char *px = s_red(32, 32);
    sink_t jpg = {0};
    float out[3 * 4 * 4];
    ad_err_t err = {0};
    unsigned char huge[64] = {0};

    (void)state;
    assert_int_equal(ad_image_decode("", 0, 3, 4, 4, s_mean, s_std, out, &err), AD_EDATA);
    assert_non_null(strstr(err.msg, "empty"));
    assert_int_equal(ad_image_decode("hello", 5, 3, 4, 4, s_mean, s_std, out, &err), AD_EDATA);
    assert_non_null(strstr(err.msg, "not a decodable image"));
    assert_true(stbi_write_jpg_to_func(s_sink, &jpg, 32, 32, 3, px, 95));
    assert_int_equal(ad_image_decode(jpg.p, jpg.len / 2, 3, 4, 4, s_mean, s_std, out, &err),
                     AD_EDATA);
    assert_non_null(strstr(err.msg, "truncated JPEG"));
    memcpy(huge, "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x27\x10\0\0\x27\x10\x08\x02\0\0\0", 29);
    assert_int_equal(ad_image_decode(huge, sizeof(huge), 3, 4, 4, s_mean, s_std, out, &err),
                     AD_EDATA);
    assert_non_null(strstr(err.msg, "10000x10000 is too large"));
    assert_int_equal(ad_image_decode(jpg.p, jpg.len, 2, 4, 4, s_mean, s_std, out, &err), AD_EINVAL);
    free(jpg.p);
    free(px);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_rgb),
        cmocka_unit_test(test_jpeg_grey),
        cmocka_unit_test(test_ppm_exact),
        cmocka_unit_test(test_bad),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
