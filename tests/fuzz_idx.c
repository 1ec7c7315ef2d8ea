/* fuzz_idx.c - fuzz target for the IDX reader: any bytes as Fashion-MNIST files */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autodist/ad_data.h"

static char s_dir[64];

/* Set when the last input opened as a dataset (the replay driver checks its seed). */
int fuzz_opened;

static void
s_write(const char *name, const uint8_t *data, size_t size)
{
    char path[128];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", s_dir, name);
    fp = fopen(path, "wb");
    if (!fp)
        abort();
    if (size && fwrite(data, 1, size, fp) != size)
        abort();
    fclose(fp);
}

static void
s_cleanup(void)
{
    char path[128];

    snprintf(path, sizeof(path), "%s/train-images-idx3-ubyte", s_dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/train-labels-idx1-ubyte", s_dir);
    unlink(path);
    rmdir(s_dir);
}

/*
 * The first byte says where to cut the rest into an images file and a labels
 * file (uncompressed IDX); opening them must succeed or fail with a message,
 * never crash, hang or read out of bounds.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ad_data_opts_t o = {.name = "fashion-mnist"};
    ad_dataset_t *ds = NULL;
    ad_err_t err = {0};
    size_t cut;

    if (!s_dir[0]) {
        snprintf(s_dir, sizeof(s_dir), "/tmp/ad_fuzz_idx_XXXXXX");
        if (!mkdtemp(s_dir))
            abort();
        atexit(s_cleanup);
    }
    if (size == 0)
        return 0;
    cut = 1 + (size_t)data[0] * (size - 1) / 256;
    s_write("train-images-idx3-ubyte", data + 1, cut - 1);
    s_write("train-labels-idx1-ubyte", data + cut, size - cut);
    o.dir = s_dir;
    if (ad_data_open(&o, AD_SPLIT_TRAIN, &ds, &err) == 0) {
        int64_t idx = 0, y;
        int c, h, w;
        float *x;

        ad_data_shape(ds, &c, &h, &w);
        x = malloc((size_t)c * h * w * sizeof(float));
        if (ad_data_size(ds) > 0 && ad_data_batch(ds, &idx, 1, false, 0, x, &y, &err) == 0 &&
            (y < 0 || y >= ad_data_classes(ds)))
            abort();
        free(x);
        ad_data_close(&ds);
        return fuzz_opened = 1, 0;
    }
    if (!err.msg[0])
        abort(); /* every failure says why */
    return 0;
}
