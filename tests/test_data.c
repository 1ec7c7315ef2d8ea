/* test_data.c - unit tests of ad_data: Fashion-MNIST IDX, synthetic tensors, image folders */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"
#include "autodist/ad_data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_image_write.h>
#include <zlib.h>

/* Everything a test writes lives under the temp root (adt_root_make), removed by the group
 * teardown. */
typedef struct {
    char folder[300]; /* imagefolder fixture: cat, dog, zebra x 10 images */
    char flip[300];   /* imagefolder fixture: left/right half-white images */
} s_state_t;

static s_state_t s_state;

/* ---------------------------------------------------------------------------------------- */
/* Fixture helpers.                                                                        */

static void
s_put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/*
 * Write an IDX file: magic, ndims dimensions, then len payload bytes (which
 * may disagree with the dimensions on purpose); gzip-compressed when gz.
 */
static void
s_write_idx(const char *dir, const char *name, bool gz, uint32_t magic, const uint32_t *dims,
            int ndims, const void *payload, size_t len)
{
    unsigned char hdr[16];
    size_t hlen = 4 + 4 * (size_t)ndims;
    char path[512];

    s_put_be32(hdr, magic);
    for (int d = 0; d < ndims; d++)
        s_put_be32(hdr + 4 + 4 * d, dims[d]);
    if (!gz) {
        unsigned char *all = malloc(hlen + len + 1);

        assert_non_null(all);
        memcpy(all, hdr, hlen);
        if (len)
            memcpy(all + hlen, payload, len);
        adt_write_in(dir, name, all, hlen + len);
        free(all);
        return;
    }
    adt_path(path, sizeof(path), dir, name);
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, hdr, (unsigned)hlen), (int)hlen);
    if (len)
        assert_int_equal(gzwrite(f, payload, (unsigned)len), (int)len);
    assert_int_equal(gzclose(f), Z_OK);
}

/* Write a split of n images of rows x cols (pixel k of image i = (i * 7 + k) % 256). */
static void
s_write_fashion(const char *dir, const char *prefix, bool gz, uint32_t n, uint32_t rows,
                uint32_t cols, const uint8_t *labels, uint32_t nlabels)
{
    size_t len = (size_t)n * rows * cols;
    uint8_t *pixels = malloc(len + 1);
    uint32_t idims[3] = {n, rows, cols}, ldims[1] = {nlabels};
    char images[128], labels_name[128];

    assert_non_null(pixels);
    for (uint32_t i = 0; i < n; i++)
        for (size_t k = 0; k < (size_t)rows * cols; k++)
            pixels[i * rows * cols + k] = (uint8_t)((i * 7 + k) % 256);
    snprintf(images, sizeof(images), "%s-images-idx3-ubyte%s", prefix, gz ? ".gz" : "");
    snprintf(labels_name, sizeof(labels_name), "%s-labels-idx1-ubyte%s", prefix, gz ? ".gz" : "");
    s_write_idx(dir, images, gz, 0x803, idims, 3, pixels, len);
    s_write_idx(dir, labels_name, gz, 0x801, ldims, 1, labels, nlabels);
    free(pixels);
}

static void
s_write_image(const char *dir, const char *name, int w, int h, const uint8_t rgb[3])
{
    uint8_t *data = malloc((size_t)w * h * 3);
    const char *dot = strrchr(name, '.');
    char path[512];
    int ok;

    assert_non_null(data);
    for (int p = 0; p < w * h; p++)
        memcpy(data + 3 * p, rgb, 3);
    adt_path(path, sizeof(path), dir, name);
    if (dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg")))
        ok = stbi_write_jpg(path, w, h, 3, data, 95);
    else
        ok = stbi_write_png(path, w, h, 3, data, w * 3);
    free(data);
    assert_true(ok);
}

/* Left half white, right half black (or the mirror image). */
static void
s_write_half(const char *dir, const char *name, int side, bool white_left)
{
    uint8_t *data = malloc((size_t)side * side * 3);
    char path[512];

    assert_non_null(data);
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++)
            memset(data + 3 * (y * side + x), (x < side / 2) == white_left ? 255 : 0, 3);
    adt_path(path, sizeof(path), dir, name);
    assert_true(stbi_write_png(path, side, side, 3, data, side * 3));
    free(data);
}

/* Colour of image k of class c in the folder fixture; the pair is readable back. */
static void
s_colour(int c, int k, uint8_t rgb[3])
{
    rgb[0] = (uint8_t)(20 + 20 * k);
    rgb[1] = (uint8_t)(40 + 80 * c);
    rgb[2] = 90;
}

/* Image folder: zebra, cat, dog (created out of order) with 10 images each, plus clutter. */
static void
s_make_folder(void)
{
    static const char *const classes[] = {"cat", "dog", "zebra"};
    static const int create_order[] = {2, 0, 1};
    char dir[512], hidden[512];
    uint8_t rgb[3] = {1, 2, 3};

    adt_mkdir_in(s_state.folder, sizeof(s_state.folder), adt_root(), "folder");
    adt_write_in(s_state.folder, "README.txt", "three classes\n", 14);
    adt_mkdir_in(hidden, sizeof(hidden), s_state.folder, ".cache");
    s_write_image(hidden, "skip.png", 4, 4, rgb);
    for (int o = 0; o < 3; o++) {
        int c = create_order[o];

        adt_mkdir_in(dir, sizeof(dir), s_state.folder, classes[c]);
        for (int k = 0; k < 10; k++) {
            static const char *const ext[] = {".jpg", ".PNG", ".jpeg", ".png"};
            char name[64];

            snprintf(name, sizeof(name), "img%02d%s", k, ext[k % 4]);
            s_colour(c, k, rgb);
            s_write_image(dir, name, 10 + k, 8 + 3 * c, rgb);
        }
        adt_write_in(dir, "notes.txt", "not an image\n", 13);
        adt_write_in(dir, ".hidden.png", "not an image\n", 13);
    }
}

static void
s_make_flip(void)
{
    char dir[512];

    adt_mkdir_in(s_state.flip, sizeof(s_state.flip), adt_root(), "flip");
    adt_mkdir_in(dir, sizeof(dir), s_state.flip, "left");
    s_write_half(dir, "a.png", 16, true);
    s_write_half(dir, "b.png", 16, true);
    adt_mkdir_in(dir, sizeof(dir), s_state.flip, "right");
    s_write_half(dir, "a.png", 16, false);
    s_write_half(dir, "b.png", 16, false);
}

static int
s_group_setup(void **state)
{
    (void)state;
    if (!adt_root_make("ad_data_test"))
        return -1;
    s_make_folder();
    s_make_flip();
    return 0;
}

static int
s_group_teardown(void **state)
{
    (void)state;
    adt_root_remove();
    return 0;
}

/* Open or fail the test, printing the error. */
static ad_dataset_t *
s_open(const ad_data_opts_t *opts, ad_split_t split)
{
    ad_dataset_t *ds = NULL;
    ad_err_t err = {0};
    int rc = ad_data_open(opts, split, &ds, &err);

    if (rc)
        fail_msg("ad_data_open(%s): %d %s", opts->name, rc, err.msg);
    assert_non_null(ds);
    return ds;
}

/* Expect ad_data_open to fail with code; returns the error for message checks. */
static ad_err_t
s_open_fails(const ad_data_opts_t *opts, ad_split_t split, int code)
{
    ad_dataset_t *ds = NULL;
    ad_err_t err = {0};
    int rc = ad_data_open(opts, split, &ds, &err);

    if (rc != code)
        fail_msg("expected %d (%s), got %d: %s", code, ad_strerror(code), rc, err.msg);
    assert_int_equal(err.code, code);
    assert_null(ds);
    assert_true(err.msg[0] != '\0');
    return err;
}

static float *
s_batch_all(const ad_dataset_t *ds, bool augment, uint64_t aug_seed, int64_t **labels_p)
{
    int64_t n = ad_data_size(ds);
    int c, h, w;
    int64_t *idx = malloc((size_t)n * sizeof(*idx));
    int64_t *y = malloc((size_t)n * sizeof(*y));
    float *x;
    ad_err_t err = {0};

    ad_data_shape(ds, &c, &h, &w);
    x = malloc((size_t)n * c * h * w * sizeof(*x));
    assert_true(idx && y && x);
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    assert_int_equal(ad_data_batch(ds, idx, (int)n, augment, aug_seed, x, y, &err), 0);
    free(idx);
    *labels_p = y;
    return x;
}

static void
s_assert_normalised(const float *x, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (!(x[k] >= -1.0f && x[k] <= 1.0f))
            fail_msg("value %g at %zu is outside [-1, 1]", x[k], k);
}

/* ---------------------------------------------------------------------------------------- */
/* Fashion-MNIST.                                                                          */

static void
test_fashion_real(void **state)
{
    ad_data_opts_t opts = {.name = "fashion-mnist"};
    int64_t idx[256], y[256];
    static float x[256 * 784];
    ad_err_t err = {0};
    ad_dataset_t *ds;
    float lo = 2, hi = -2;
    struct stat st;
    int c, h, w;

    (void)state;
    if (stat(AD_DATA_FASHION_DIR, &st) != 0) {
        skip();
        return;
    }
    ds = s_open(&opts, AD_SPLIT_TRAIN);
    assert_int_equal(ad_data_size(ds), 60000);
    ad_data_shape(ds, &c, &h, &w);
    assert_int_equal(c, 1);
    assert_int_equal(h, 28);
    assert_int_equal(w, 28);
    assert_int_equal(ad_data_classes(ds), 10);
    assert_string_equal(ad_data_class_name(ds, 0), "T-shirt/top");
    assert_string_equal(ad_data_class_name(ds, 9), "Ankle boot");
    assert_null(ad_data_class_name(ds, 10));
    for (int i = 0; i < 256; i++)
        idx[i] = i * 233;
    assert_int_equal(ad_data_batch(ds, idx, 256, false, 0, x, y, &err), 0);
    s_assert_normalised(x, sizeof(x) / sizeof(x[0]));
    for (size_t k = 0; k < sizeof(x) / sizeof(x[0]); k++) {
        lo = x[k] < lo ? x[k] : lo;
        hi = x[k] > hi ? x[k] : hi;
    }
    assert_true(lo == -1.0f);
    assert_true(hi == 1.0f);
    idx[0] = 0;
    assert_int_equal(ad_data_batch(ds, idx, 1, false, 0, x, y, &err), 0);
    assert_int_equal(y[0], 9);
    idx[0] = 60000;
    assert_int_equal(ad_data_batch(ds, idx, 1, false, 0, x, y, &err), AD_EINVAL);
    ad_data_close(&ds);
    assert_null(ds);

    ds = s_open(&opts, AD_SPLIT_TEST);
    assert_int_equal(ad_data_size(ds), 10000);
    ad_data_close(&ds);

    err = s_open_fails(&opts, AD_SPLIT_VAL, AD_EINVAL);
    adt_assert_has(err.msg, "no validation split");
}

static void
test_fashion_small_files(void **state)
{
    const uint8_t train_labels[5] = {3, 0, 9, 1, 2}, test_labels[2] = {7, 8};
    char dir[512];
    ad_data_opts_t opts = {.name = "fashion-mnist", .dir = dir};
    int64_t idx[3] = {2, 0, 4}, y[3];
    float x[3 * 12];
    ad_err_t err = {0};
    ad_dataset_t *ds;
    int c, h, w;

    (void)state;
    adt_fresh_dir(dir, sizeof(dir), "fashion-small");
    s_write_fashion(dir, "train", true, 5, 4, 3, train_labels, 5);
    /* The test split is stored uncompressed, which must be read just the same. */
    s_write_fashion(dir, "t10k", false, 2, 4, 3, test_labels, 2);

    ds = s_open(&opts, AD_SPLIT_TRAIN);
    assert_int_equal(ad_data_size(ds), 5);
    ad_data_shape(ds, &c, &h, &w);
    assert_int_equal(c, 1);
    assert_int_equal(h, 4);
    assert_int_equal(w, 3);
    assert_int_equal(ad_data_batch(ds, idx, 3, true, 1, x, y, &err), 0);
    assert_int_equal(y[0], 9);
    assert_int_equal(y[1], 3);
    assert_int_equal(y[2], 2);
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 12; k++)
            assert_float_equal(x[i * 12 + k], ((idx[i] * 7 + k) % 256) / 127.5 - 1.0, 1e-6);
    idx[1] = 5;
    assert_int_equal(ad_data_batch(ds, idx, 3, false, 0, x, y, &err), AD_EINVAL);
    adt_assert_has(err.msg, "5");
    idx[1] = -1;
    assert_int_equal(ad_data_batch(ds, idx, 3, false, 0, x, y, &err), AD_EINVAL);
    ad_data_close(&ds);
    ad_data_close(&ds);

    ds = s_open(&opts, AD_SPLIT_TEST);
    assert_int_equal(ad_data_size(ds), 2);
    idx[0] = 1;
    assert_int_equal(ad_data_batch(ds, idx, 1, false, 0, x, y, &err), 0);
    assert_int_equal(y[0], 8);
    assert_float_equal(x[0], 7 / 127.5 - 1.0, 1e-6);
    ad_data_close(&ds);
}

static void
test_fashion_bad_magic(void **state)
{
    const uint8_t labels[2] = {1, 2};
    const uint8_t pixels[2 * 9] = {0};
    uint32_t dims[3] = {2, 3, 3};
    char dir[512];
    ad_data_opts_t opts = {.name = "fashion-mnist", .dir = dir};
    ad_err_t err;

    (void)state;
    adt_fresh_dir(dir, sizeof(dir), "fashion-magic");
    s_write_idx(dir, "train-images-idx3-ubyte.gz", true, 0x801, dims, 3, pixels, sizeof(pixels));
    s_write_idx(dir, "train-labels-idx1-ubyte.gz", true, 0x801, dims, 1, labels, 2);
    err = s_open_fails(&opts, AD_SPLIT_TRAIN, AD_EDATA);
    adt_assert_has(err.msg, "train-images-idx3-ubyte.gz");
    adt_assert_has(err.msg, "magic");
}

static void
test_fashion_truncated(void **state)
{
    static uint8_t pixels[50 * 784];
    uint8_t labels[100] = {0};
    uint32_t dims[3] = {100, 28, 28};
    char dir[512];
    ad_data_opts_t opts = {.name = "fashion-mnist", .dir = dir};
    ad_err_t err;

    (void)state;
    adt_fresh_dir(dir, sizeof(dir), "fashion-truncated");
    s_write_idx(dir, "train-images-idx3-ubyte.gz", true, 0x803, dims, 3, pixels, sizeof(pixels));
    s_write_idx(dir, "train-labels-idx1-ubyte.gz", true, 0x801, dims, 1, labels, 100);
    err = s_open_fails(&opts, AD_SPLIT_TRAIN, AD_EDATA);
    adt_assert_has(err.msg, "train-images-idx3-ubyte.gz");
    adt_assert_has(err.msg, "truncated");

    /* A header cut short is truncated too. */
    s_write_fashion(dir, "t10k", true, 2, 28, 28, labels, 2);
    s_write_idx(dir, "t10k-labels-idx1-ubyte.gz", true, 0x801, dims, 0, NULL, 0);
    err = s_open_fails(&opts, AD_SPLIT_TEST, AD_EDATA);
    adt_assert_has(err.msg, "t10k-labels-idx1-ubyte.gz");
    adt_assert_has(err.msg, "truncated");
}

static void
test_fashion_mismatch(void **state)
{
    const uint8_t labels[4] = {0, 1, 2, 3};
    char dir[512];
    ad_data_opts_t opts = {.name = "fashion-mnist", .dir = dir};
    ad_err_t err;

    (void)state;
    adt_fresh_dir(dir, sizeof(dir), "fashion-mismatch");
    s_write_fashion(dir, "train", true, 5, 28, 28, labels, 4);
    err = s_open_fails(&opts, AD_SPLIT_TRAIN, AD_EDATA);
    adt_assert_has(err.msg, "5 images");
    adt_assert_has(err.msg, "4 labels");
}

static void
test_fashion_bad_label(void **state)
{
    const uint8_t labels[3] = {0, 10, 2};
    char dir[512];
    ad_data_opts_t opts = {.name = "fashion-mnist", .dir = dir};
    ad_err_t err;

    (void)state;
    adt_fresh_dir(dir, sizeof(dir), "fashion-label");
    s_write_fashion(dir, "train", true, 3, 28, 28, labels, 3);
    err = s_open_fails(&opts, AD_SPLIT_TRAIN, AD_EDATA);
    adt_assert_has(err.msg, "train-labels-idx1-ubyte.gz");
    adt_assert_has(err.msg, "label 10");
}

static void
test_fashion_bad_dims(void **state)
{
    const uint8_t labels[2] = {0, 1};
    char dir[512];
    ad_data_opts_t opts = {.name = "fashion-mnist", .dir = dir};
    ad_err_t err;

    (void)state;
    adt_fresh_dir(dir, sizeof(dir), "fashion-dims");
    s_write_fashion(dir, "train", true, 2, 5000, 2, labels, 2);
    err = s_open_fails(&opts, AD_SPLIT_TRAIN, AD_EDATA);
    adt_assert_has(err.msg, "5000x2");

    /* A header that claims a billion images is refused before anything is allocated. */
    uint32_t dims[3] = {1000000000u, 28, 28};
    s_write_idx(dir, "t10k-images-idx3-ubyte.gz", true, 0x803, dims, 3, labels, 2);
    s_write_idx(dir, "t10k-labels-idx1-ubyte.gz", true, 0x801, dims, 1, labels, 2);
    err = s_open_fails(&opts, AD_SPLIT_TEST, AD_EDATA);
    adt_assert_has(err.msg, "1000000000");
}

static void
test_fashion_corrupt_gzip(void **state)
{
    const unsigned char junk[] = {0x1f, 0x8b, 0x08, 0x00, 0,    0,    0,    0,    0,
                                  0x03, 0xff, 0xfe, 0xfd, 0x17, 0x42, 0x99, 0x00, 0x11};
    const uint8_t labels[1] = {0};
    uint32_t dims[1] = {1};
    char dir[512];
    ad_data_opts_t opts = {.name = "fashion-mnist", .dir = dir};
    ad_err_t err;

    (void)state;
    adt_fresh_dir(dir, sizeof(dir), "fashion-gzip");
    adt_write_in(dir, "train-images-idx3-ubyte.gz", junk, sizeof(junk));
    s_write_idx(dir, "train-labels-idx1-ubyte.gz", true, 0x801, dims, 1, labels, 1);
    err = s_open_fails(&opts, AD_SPLIT_TRAIN, AD_EDATA);
    adt_assert_has(err.msg, "train-images-idx3-ubyte.gz");
    adt_assert_has(err.msg, "corrupt gzip");
    assert_null(strstr(err.msg, "<fd:"));
}

static void
test_fashion_missing(void **state)
{
    char dir[512], missing[600];
    ad_data_opts_t opts = {.name = "fashion-mnist", .dir = missing};
    const uint8_t labels[1] = {0};
    ad_err_t err;

    (void)state;
    adt_fresh_dir(dir, sizeof(dir), "fashion-missing");
    adt_path(missing, sizeof(missing), dir, "no-such-folder");
    err = s_open_fails(&opts, AD_SPLIT_TRAIN, -ENOENT);
    adt_assert_has(err.msg, missing);

    /* The folder exists but holds only the images. */
    opts.dir = dir;
    s_write_fashion(dir, "train", true, 1, 28, 28, labels, 1);
    adt_path(missing, sizeof(missing), dir, "train-labels-idx1-ubyte.gz");
    assert_int_equal(unlink(missing), 0);
    err = s_open_fails(&opts, AD_SPLIT_TRAIN, -ENOENT);
    adt_assert_has(err.msg, missing);
}

/* ---------------------------------------------------------------------------------------- */
/* Synthetic.                                                                              */

static void
test_synthetic_shape(void **state)
{
    ad_data_opts_t opts = {.name = "synthetic"};
    ad_dataset_t *ds;
    int c, h, w;

    (void)state;
    ds = s_open(&opts, AD_SPLIT_TRAIN);
    assert_int_equal(ad_data_size(ds), 50000);
    ad_data_shape(ds, &c, &h, &w);
    assert_int_equal(c, 3);
    assert_int_equal(h, 32);
    assert_int_equal(w, 32);
    assert_int_equal(ad_data_classes(ds), 10);
    assert_null(ad_data_class_name(ds, 0));
    ad_data_close(&ds);
    ds = s_open(&opts, AD_SPLIT_VAL);
    assert_int_equal(ad_data_size(ds), 5000);
    ad_data_close(&ds);

    opts = (ad_data_opts_t){
        .name = "synthetic", .channels = 1, .height = 5, .width = 7, .classes = 4, .samples = 9};
    ds = s_open(&opts, AD_SPLIT_TRAIN);
    assert_int_equal(ad_data_size(ds), 9);
    ad_data_shape(ds, &c, &h, &w);
    assert_int_equal(c * 100 + h * 10 + w, 157);
    assert_int_equal(ad_data_classes(ds), 4);
    ad_data_close(&ds);
    ds = s_open(&opts, AD_SPLIT_TEST);
    assert_int_equal(ad_data_size(ds), 1);
    ad_data_close(&ds);
}

static void
test_synthetic_deterministic(void **state)
{
    enum { N = 200, D = 3 * 32 * 32 };
    ad_data_opts_t opts = {.name = "synthetic", .seed = 11};
    static float a[N * D], b[N * D];
    int64_t idx[N], ya[N], yb[N];
    int seen[10] = {0}, kinds = 0;
    ad_dataset_t *ds, *other;
    ad_err_t err = {0};

    (void)state;
    for (int i = 0; i < N; i++)
        idx[i] = i * 97;
    ds = s_open(&opts, AD_SPLIT_TRAIN);
    assert_int_equal(ad_data_batch(ds, idx, N, false, 0, a, ya, &err), 0);
    s_assert_normalised(a, N * D);
    for (int i = 0; i < N; i++) {
        assert_true(ya[i] >= 0 && ya[i] < 10);
        kinds += !seen[ya[i]]++;
    }
    assert_true(kinds >= 5);

    /* Same index, same sample, wherever it sits in the batch. */
    assert_int_equal(ad_data_batch(ds, idx + 5, 1, false, 0, b, yb, &err), 0);
    assert_memory_equal(a + 5 * D, b, D * sizeof(float));
    assert_int_equal(ya[5], yb[0]);
    other = s_open(&opts, AD_SPLIT_TRAIN);
    assert_int_equal(ad_data_batch(other, idx, N, true, 99, b, yb, &err), 0);
    assert_memory_equal(a, b, sizeof(a));
    assert_memory_equal(ya, yb, sizeof(ya));
    ad_data_close(&other);
    /* Samples differ from each other. */
    assert_memory_not_equal(a, a + D, D * sizeof(float));

    /* Another seed or another split gives other samples. */
    opts.seed = 12;
    other = s_open(&opts, AD_SPLIT_TRAIN);
    assert_int_equal(ad_data_batch(other, idx, 1, false, 0, b, yb, &err), 0);
    assert_memory_not_equal(a, b, D * sizeof(float));
    ad_data_close(&other);
    opts.seed = 11;
    other = s_open(&opts, AD_SPLIT_TEST);
    assert_int_equal(ad_data_batch(other, idx, 1, false, 0, b, yb, &err), 0);
    assert_memory_not_equal(a, b, D * sizeof(float));
    ad_data_close(&other);

    idx[0] = 50000;
    assert_int_equal(ad_data_batch(ds, idx, 1, false, 0, a, ya, &err), AD_EINVAL);
    adt_assert_has(err.msg, "50000");
    ad_data_close(&ds);
}

static void
test_synthetic_invalid(void **state)
{
    static const struct {
        ad_data_opts_t opts;
        const char *field;
    } cases[] = {
        {{.name = "synthetic", .channels = 65}, "channels"},
        {{.name = "synthetic", .channels = -1}, "channels"},
        {{.name = "synthetic", .height = -2}, "height"},
        {{.name = "synthetic", .width = 4097}, "width"},
        {{.name = "synthetic", .classes = 1}, "classes"},
        {{.name = "synthetic", .classes = 100001}, "classes"},
        {{.name = "synthetic", .samples = -3}, "samples"},
        {{.name = "mnist"}, "mnist"},
        {{.name = NULL}, "name"},
    };
    ad_data_opts_t ok = {.name = "synthetic"};
    ad_dataset_t *ds = NULL;
    ad_err_t err;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err = s_open_fails(&cases[i].opts, AD_SPLIT_TRAIN, AD_EINVAL);
        adt_assert_has(err.msg, cases[i].field);
    }
    assert_int_equal(ad_data_open(&ok, (ad_split_t)7, &ds, &err), AD_EINVAL);
    assert_null(ds);
    assert_int_equal(ad_data_open(NULL, AD_SPLIT_TRAIN, &ds, &err), AD_EINVAL);
    ad_data_close(NULL);
    ad_data_close(&ds);
}

/* ---------------------------------------------------------------------------------------- */
/* Image folders.                                                                          */

/* Identify the fixture image a sample came from by its colour: 10 * class + image. */
static int
s_identify(const float *x, int plane, int64_t label)
{
    double r = (x[0] + 1.0) * 127.5, g = (x[plane] + 1.0) * 127.5;
    int k = (int)lround((r - 20) / 20), c = (int)lround((g - 40) / 80);

    assert_true(fabs(r - (20 + 20 * k)) < 6 && fabs(g - (40 + 80 * c)) < 6);
    assert_true(k >= 0 && k < 10 && c >= 0 && c < 3);
    assert_int_equal(c, label);
    return 10 * c + k;
}

/* Ids of the samples of one split, in order. */
static int
s_split_ids(const ad_data_opts_t *opts, ad_split_t split, int *ids)
{
    ad_dataset_t *ds = s_open(opts, split);
    int64_t n = ad_data_size(ds), *y;
    float *x = s_batch_all(ds, false, 0, &y);
    int c, h, w;

    ad_data_shape(ds, &c, &h, &w);
    s_assert_normalised(x, (size_t)n * c * h * w);
    for (int64_t i = 0; i < n; i++)
        ids[i] = s_identify(x + i * c * h * w, h * w, y[i]);
    free(x);
    free(y);
    ad_data_close(&ds);
    return (int)n;
}

static void
test_folder_classes(void **state)
{
    ad_data_opts_t opts = {.name = "imagefolder", .dir = s_state.folder, .image_size = 8};
    ad_dataset_t *ds;
    int c, h, w;

    (void)state;
    ds = s_open(&opts, AD_SPLIT_TRAIN);
    assert_int_equal(ad_data_classes(ds), 3);
    assert_string_equal(ad_data_class_name(ds, 0), "cat");
    assert_string_equal(ad_data_class_name(ds, 1), "dog");
    assert_string_equal(ad_data_class_name(ds, 2), "zebra");
    assert_null(ad_data_class_name(ds, 3));
    assert_null(ad_data_class_name(ds, -1));
    ad_data_shape(ds, &c, &h, &w);
    assert_int_equal(c, 3);
    assert_int_equal(h, 8);
    assert_int_equal(w, 8);
    ad_data_close(&ds);

    opts = (ad_data_opts_t){.name = "imagefolder", .dir = s_state.folder, .height = 6, .width = 10};
    ds = s_open(&opts, AD_SPLIT_TEST);
    ad_data_shape(ds, &c, &h, &w);
    assert_int_equal(c, 3);
    assert_int_equal(h, 6);
    assert_int_equal(w, 10);
    ad_data_close(&ds);

    opts = (ad_data_opts_t){.name = "imagefolder", .dir = s_state.folder};
    ds = s_open(&opts, AD_SPLIT_VAL);
    ad_data_shape(ds, &c, &h, &w);
    assert_int_equal(h, 224);
    assert_int_equal(w, 224);
    ad_data_close(&ds);
}

static void
test_folder_split(void **state)
{
    ad_data_opts_t opts = {
        .name = "imagefolder", .dir = s_state.folder, .image_size = 8, .seed = 42};
    int train[30], val[30], test[30], again[30], seen[30] = {0};
    int per_class[3][3] = {{0}};
    int ntrain, nval, ntest;

    (void)state;
    ntrain = s_split_ids(&opts, AD_SPLIT_TRAIN, train);
    nval = s_split_ids(&opts, AD_SPLIT_VAL, val);
    ntest = s_split_ids(&opts, AD_SPLIT_TEST, test);
    assert_int_equal(ntrain, 24);
    assert_int_equal(nval, 3);
    assert_int_equal(ntest, 3);
    /* Every image is in exactly one split, and each split holds each class alike. */
    for (int i = 0; i < ntrain; i++)
        seen[train[i]]++, per_class[AD_SPLIT_TRAIN][train[i] / 10]++;
    for (int i = 0; i < nval; i++)
        seen[val[i]]++, per_class[AD_SPLIT_VAL][val[i] / 10]++;
    for (int i = 0; i < ntest; i++)
        seen[test[i]]++, per_class[AD_SPLIT_TEST][test[i] / 10]++;
    for (int id = 0; id < 30; id++)
        assert_int_equal(seen[id], 1);
    for (int c = 0; c < 3; c++) {
        assert_int_equal(per_class[AD_SPLIT_TRAIN][c], 8);
        assert_int_equal(per_class[AD_SPLIT_VAL][c], 1);
        assert_int_equal(per_class[AD_SPLIT_TEST][c], 1);
    }

    /* The same seed gives the same split in the same order. */
    assert_int_equal(s_split_ids(&opts, AD_SPLIT_TEST, again), 3);
    assert_memory_equal(again, test, sizeof(int) * 3);
    assert_int_equal(s_split_ids(&opts, AD_SPLIT_TRAIN, again), 24);
    assert_memory_equal(again, train, sizeof(int) * 24);

    /* Another seed gives another one. */
    opts.seed = 43;
    assert_int_equal(s_split_ids(&opts, AD_SPLIT_TEST, again), 3);
    assert_memory_not_equal(again, test, sizeof(int) * 3);

    /* Bigger fractions hold out more. */
    opts.val_fraction = 0.2;
    opts.test_fraction = 0.3;
    assert_int_equal(s_split_ids(&opts, AD_SPLIT_VAL, again), 6);
    assert_int_equal(s_split_ids(&opts, AD_SPLIT_TEST, again), 9);
    assert_int_equal(s_split_ids(&opts, AD_SPLIT_TRAIN, again), 15);
}

static void
test_folder_augment(void **state)
{
    enum { S = 16, D = 3 * S * S };
    ad_data_opts_t opts = {.name = "imagefolder", .dir = s_state.flip, .image_size = S};
    float plain[2 * D], aug[2 * D], one[D];
    int64_t idx[2] = {0, 1}, y[2];
    int flipped = 0, kept = 0, rotated = 0;
    ad_err_t err = {0};
    ad_dataset_t *ds;

    (void)state;
    ds = s_open(&opts, AD_SPLIT_TRAIN);
    assert_int_equal(ad_data_size(ds), 4);
    assert_int_equal(ad_data_batch(ds, idx, 2, false, 0, plain, y, &err), 0);
    assert_int_equal(y[0], 0);
    assert_float_equal(plain[0], 1.0, 1e-6);
    assert_float_equal(plain[S - 1], -1.0, 1e-6);

    for (uint64_t seed = 0; seed < 64; seed++) {
        double left = 0, right = 0;

        assert_int_equal(ad_data_batch(ds, idx, 2, true, seed, aug, y, &err), 0);
        s_assert_normalised(aug, 2 * D);
        /* The same (seed, index) gives the same sample in any batch. */
        assert_int_equal(ad_data_batch(ds, idx + 1, 1, true, seed, one, y, &err), 0);
        assert_memory_equal(one, aug + D, sizeof(one));
        for (int row = 0; row < S; row++)
            for (int col = 0; col < S; col++)
                *(col < S / 2 ? &left : &right) += aug[row * S + col];
        if (left < right) {
            flipped++;
        } else {
            kept++;
            rotated += memcmp(aug, plain, sizeof(float) * D) != 0;
        }
    }
    assert_true(flipped > 10);
    assert_true(kept > 10);
    assert_int_equal(rotated, kept);

    /* Without augment the batch is the stored image. */
    assert_int_equal(ad_data_batch(ds, idx, 2, false, 5, aug, y, &err), 0);
    assert_memory_equal(aug, plain, sizeof(plain));
    ad_data_close(&ds);
}

static void
test_folder_augment_train_only(void **state)
{
    ad_data_opts_t opts = {.name = "imagefolder", .dir = s_state.folder, .image_size = 8};
    int64_t *y1, *y2;
    ad_dataset_t *ds;
    float *a, *b;

    (void)state;
    ds = s_open(&opts, AD_SPLIT_TEST);
    a = s_batch_all(ds, false, 0, &y1);
    b = s_batch_all(ds, true, 3, &y2);
    assert_memory_equal(a, b, sizeof(float) * 3 * 3 * 8 * 8);
    free(a);
    free(b);
    free(y1);
    free(y2);
    ad_data_close(&ds);
}

static void
test_folder_errors(void **state)
{
    char dir[512], sub[600], missing[600];
    ad_data_opts_t opts = {.name = "imagefolder", .dir = dir, .image_size = 8};
    const uint8_t rgb[3] = {10, 20, 30};
    ad_err_t err;

    (void)state;
    /* No class folders at all: a stray file does not count. */
    adt_fresh_dir(dir, sizeof(dir), "folder-empty");
    adt_write_in(dir, "README", "x", 1);
    err = s_open_fails(&opts, AD_SPLIT_TRAIN, AD_EDATA);
    adt_assert_has(err.msg, dir);
    adt_assert_has(err.msg, "no class sub-folders");

    /* One class is not a classification problem. */
    adt_mkdir_in(sub, sizeof(sub), dir, "only");
    s_write_image(sub, "a.png", 4, 4, rgb);
    err = s_open_fails(&opts, AD_SPLIT_TRAIN, AD_EDATA);
    adt_assert_has(err.msg, "at least 2 classes");

    /* A class folder without images is named. */
    adt_mkdir_in(sub, sizeof(sub), dir, "vacant");
    adt_write_in(sub, "notes.txt", "x", 1);
    err = s_open_fails(&opts, AD_SPLIT_TRAIN, AD_EDATA);
    adt_assert_has(err.msg, "vacant");
    adt_assert_has(err.msg, "no .jpg");

    /* A file with an image name that is not an image fails every split. */
    s_write_image(sub, "b.png", 4, 4, rgb);
    adt_write_in(sub, "broken.jpg", "not an image\n", 13);
    for (int split = AD_SPLIT_TRAIN; split <= AD_SPLIT_TEST; split++) {
        err = s_open_fails(&opts, (ad_split_t)split, AD_EDATA);
        adt_assert_has(err.msg, "broken.jpg");
        adt_assert_has(err.msg, "not a decodable image");
    }

    /* Missing folder, a file in place of a folder, no folder given. */
    adt_path(missing, sizeof(missing), dir, "nowhere");
    opts.dir = missing;
    err = s_open_fails(&opts, AD_SPLIT_TRAIN, -ENOENT);
    adt_assert_has(err.msg, missing);
    adt_path(missing, sizeof(missing), dir, "README");
    err = s_open_fails(&opts, AD_SPLIT_TRAIN, -ENOTDIR);
    adt_assert_has(err.msg, missing);
    opts.dir = NULL;
    err = s_open_fails(&opts, AD_SPLIT_TRAIN, AD_EINVAL);
    adt_assert_has(err.msg, "dir");

    /* An unreadable folder; root reads through permissions, so only checked as a user. */
    if (geteuid() != 0) {
        adt_fresh_dir(dir, sizeof(dir), "folder-locked");
        assert_int_equal(chmod(dir, 0), 0);
        opts.dir = dir;
        err = s_open_fails(&opts, AD_SPLIT_TRAIN, -EACCES);
        adt_assert_has(err.msg, dir);
        chmod(dir, 0755);
    }
}

static void
test_folder_small_classes(void **state)
{
    char dir[512], sub[600];
    ad_data_opts_t opts = {.name = "imagefolder", .dir = dir, .image_size = 4};
    int sizes[3];

    (void)state;
    /* Three images a class round to no held-out image per class, but 10% of 9 is one. */
    adt_fresh_dir(dir, sizeof(dir), "folder-small");
    for (int c = 0; c < 3; c++) {
        char name[16];

        snprintf(name, sizeof(name), "c%d", c);
        adt_mkdir_in(sub, sizeof(sub), dir, name);
        for (int k = 0; k < 3; k++) {
            uint8_t rgb[3];

            snprintf(name, sizeof(name), "%d.png", k);
            s_colour(c, k, rgb);
            s_write_image(sub, name, 5, 5, rgb);
        }
    }
    for (int split = AD_SPLIT_TRAIN; split <= AD_SPLIT_TEST; split++) {
        ad_dataset_t *ds = s_open(&opts, (ad_split_t)split);

        sizes[split] = (int)ad_data_size(ds);
        ad_data_close(&ds);
    }
    assert_int_equal(sizes[AD_SPLIT_TRAIN], 7);
    assert_int_equal(sizes[AD_SPLIT_VAL], 1);
    assert_int_equal(sizes[AD_SPLIT_TEST], 1);
}

static void
test_folder_truncated_image(void **state)
{
    char dir[512], sub[600], path[700];
    ad_data_opts_t opts = {.name = "imagefolder", .dir = dir, .image_size = 4};
    const uint8_t rgb[3] = {200, 100, 50};
    struct stat st;
    ad_err_t err;

    (void)state;
    /* Its header reads fine; the pixels are cut off, which only decoding finds. */
    adt_fresh_dir(dir, sizeof(dir), "folder-cut");
    adt_mkdir_in(sub, sizeof(sub), dir, "a");
    s_write_image(sub, "whole.png", 64, 64, rgb);
    adt_mkdir_in(sub, sizeof(sub), dir, "b");
    s_write_image(sub, "cut.png", 64, 64, rgb);
    adt_path(path, sizeof(path), sub, "cut.png");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size / 2), 0);
    err = s_open_fails(&opts, AD_SPLIT_TRAIN, AD_EDATA);
    adt_assert_has(err.msg, path);
    adt_assert_has(err.msg, "not a decodable image");
}

static void
test_folder_bad_options(void **state)
{
    static const struct {
        double val, test;
        int image_size, height;
        const char *field;
    } cases[] = {
        {0.6, 0.5, 8, 0, "val_fraction + test_fraction"},
        {-0.1, 0, 8, 0, "val_fraction"},
        {0, 1.5, 8, 0, "test_fraction"},
        {0, NAN, 8, 0, "test_fraction"},
        {0, 0, 5000, 0, "image_size"},
        {0, 0, -1, 0, "image_size"},
        {0, 0, 0, -4, "height"},
    };
    ad_data_opts_t opts;
    ad_err_t err;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        opts = (ad_data_opts_t){.name = "imagefolder",
                                .dir = s_state.folder,
                                .val_fraction = cases[i].val,
                                .test_fraction = cases[i].test,
                                .image_size = cases[i].image_size,
                                .height = cases[i].height};
        err = s_open_fails(&opts, AD_SPLIT_TRAIN, AD_EINVAL);
        adt_assert_has(err.msg, cases[i].field);
    }
}

static void
test_folder_empty_split(void **state)
{
    ad_data_opts_t opts = {.name = "imagefolder", .dir = s_state.flip, .image_size = 4};
    ad_err_t err;

    (void)state;
    /* 4 images: 10% of them rounds to none, so there is nothing to validate on. */
    err = s_open_fails(&opts, AD_SPLIT_VAL, AD_EDATA);
    adt_assert_has(err.msg, "val split is empty");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fashion_real),
        cmocka_unit_test(test_fashion_small_files),
        cmocka_unit_test(test_fashion_bad_magic),
        cmocka_unit_test(test_fashion_truncated),
        cmocka_unit_test(test_fashion_mismatch),
        cmocka_unit_test(test_fashion_bad_label),
        cmocka_unit_test(test_fashion_bad_dims),
        cmocka_unit_test(test_fashion_corrupt_gzip),
        cmocka_unit_test(test_fashion_missing),
        cmocka_unit_test(test_synthetic_shape),
        cmocka_unit_test(test_synthetic_deterministic),
        cmocka_unit_test(test_synthetic_invalid),
        cmocka_unit_test(test_folder_classes),
        cmocka_unit_test(test_folder_split),
        cmocka_unit_test(test_folder_augment),
        cmocka_unit_test(test_folder_augment_train_only),
        cmocka_unit_test(test_folder_errors),
        cmocka_unit_test(test_folder_small_classes),
        cmocka_unit_test(test_folder_truncated_image),
        cmocka_unit_test(test_folder_bad_options),
        cmocka_unit_test(test_folder_empty_split),
    };

    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
