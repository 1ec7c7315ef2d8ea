/* ad_data.h - training datasets: Fashion-MNIST IDX, synthetic tensors, image folders */
#ifndef AD_DATA_H
#define AD_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ad_dataset ad_dataset_t;

/* Which part of a dataset to open. */
typedef enum {
    AD_SPLIT_TRAIN = 0, /* samples to train on */
    AD_SPLIT_VAL = 1,   /* held out while training (imagefolder and synthetic only) */
    AD_SPLIT_TEST = 2,  /* held out for the final accuracy */
} ad_split_t;

/* Where a dataset comes from and how it is shaped; zero-filled means defaults. */
typedef struct ad_data_opts {
    const char *name;     /* "fashion-mnist", "synthetic" or "imagefolder" */
    const char *dir;      /* data folder; NULL = /usr/share/datasets/fashion-mnist
                             (fashion-mnist); required for imagefolder */
    int channels;         /* synthetic: channels (default 3) */
    int height;           /* synthetic: height (default 32); imagefolder: output size */
    int width;            /* synthetic: width (default 32); imagefolder: output size */
    int classes;          /* synthetic: class count (default 10) */
    int64_t samples;      /* synthetic: samples in the train split (default 50000) */
    int image_size;       /* imagefolder: square output size (default 224) */
    double val_fraction;  /* imagefolder: share held out for AD_SPLIT_VAL (default 0.1) */
    double test_fraction; /* imagefolder: share held out for AD_SPLIT_TEST (default 0.1) */
    uint64_t seed;        /* seeds the imagefolder split and synthetic content */
} ad_data_opts_t;

/* Fashion-MNIST's default location (Debian's dataset-fashion-mnist). */
#define AD_DATA_FASHION_DIR "/usr/share/datasets/fashion-mnist"

/*
 * Open one split of a dataset.  Returns 0 and sets *out, or a negative code
 * with err naming the file and what is wrong with it (missing folder, bad IDX
 * magic, truncated file, a file that is not an image, an empty class folder...).
 * The caller owns *out and releases it with ad_data_close().
 */
int ad_data_open(const ad_data_opts_t *opts, ad_split_t split, ad_dataset_t **out,
                 ad_err_t *err);

/* Release a dataset; NULL-safe and idempotent, sets *self_p to NULL. */
void ad_data_close(ad_dataset_t **self_p);

/* Number of samples in the opened split. */
int64_t ad_data_size(const ad_dataset_t *self);

/* Shape of one sample (channels, height, width) as produced by ad_data_batch(). */
void ad_data_shape(const ad_dataset_t *self, int *channels, int *height, int *width);

/* Number of classes; labels are in [0, classes). */
int ad_data_classes(const ad_dataset_t *self);

/* Class names (imagefolder: sub-folder names); borrowed, NULL if unnamed. */
const char *ad_data_class_name(const ad_dataset_t *self, int label);

/*
 * Fill x (n * channels * height * width floats, NCHW, normalised to [-1, 1])
 * and y (n labels) with the samples at indices idx[0..n).  With augment, the
 * imagefolder split applies a random horizontal flip and a small rotation
 * drawn from (aug_seed, index), so the result does not depend on which rank
 * asks.  Returns 0, or AD_EINVAL for an index out of range.
 */
int ad_data_batch(const ad_dataset_t *self, const int64_t *idx, int n, bool augment,
                  uint64_t aug_seed, float *x, int64_t *y, ad_err_t *err);

#ifdef __cplusplus
}
#endif

#endif
