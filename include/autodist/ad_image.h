/* ad_image.h - an uploaded image to a model's input in two timed steps: decode, then prepare */
#ifndef AD_IMAGE_H
#define AD_IMAGE_H

#include <stddef.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * ad_image_decode() (ad_infer.h) is ad_image_read() then ad_image_prepare();
 * a server calls them apart to time them apart.
 */

/* A decoded image: height x width x channels bytes (HWC), channels 1 (grey) or 3 (RGB). */
typedef struct ad_image {
    unsigned char *pixels; /* owned: ad_image_release() frees it */
    int width;             /* in pixels */
    int height;            /* in pixels */
    int channels;          /* 1 or 3, as asked */
} ad_image_t;

/*
 * Decode len bytes of data (JPEG, PNG, BMP, GIF: what stb_image reads) as
 * channels (1 or 3) into *img.  AD_EDATA with err saying why for bytes that
 * are not a whole image: empty, not an image, a JPEG without its end marker
 * (truncated), a picture over 16384 pixels a side or 64 megapixels (its
 * header is read first: nothing that large is allocated).
 */
int ad_image_read(const void *data, size_t len, int channels, ad_image_t *img, ad_err_t *err);

/*
 * Resize img to width x height as the imagefolder dataset does
 * (stbir_resize_uint8, no crop) and write it normalised ((p / 255 - mean[c])
 * / std[c]) into out (channels x height x width floats, CHW).  AD_EDATA if the
 * resize fails.
 */
int ad_image_prepare(const ad_image_t *img, int height, int width, const float mean[3],
                     const float std[3], float *out, ad_err_t *err);

/*
 * ad_image_prepare() in two steps, for a server that batches: resize img in place to width x
 * height (nothing to do when it has that size; AD_EDATA if the resize fails), later
 * normalise it with ad_image_normalize() into out (CHW floats).
 */
int ad_image_fit(ad_image_t *img, int height, int width, ad_err_t *err);

/* A normalisation: byte b of channel c becomes lut[c][b]. */
typedef struct ad_image_norm {
    float lut[3][256]; /* (b / 255 - mean[c]) / std[c] */
} ad_image_norm_t;

/* The tables of mean and std (a std of 0 counts as 1), as the dataset normalises. */
void ad_image_norm_init(ad_image_norm_t *n, const float mean[3], const float std[3]);

/* img's pixels (HWC bytes) normalised by n into out: img->channels x height x width floats. */
void ad_image_normalize(const ad_image_t *img, const ad_image_norm_t *n, float *out);

/* Free img's pixels; NULL-safe and idempotent. */
void ad_image_release(ad_image_t *img);

#ifdef __cplusplus
}
#endif

#endif
