/* ad_resize.h - resizing 8-bit images: an area average when shrinking, bilinear when growing */
#ifndef AD_RESIZE_H
#define AD_RESIZE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Resize src (sw x sh pixels of ch interleaved 8-bit channels, rows packed)
 * into dst (dw x dh x ch bytes).  Along an axis that shrinks, each output
 * pixel is the average of the input area it covers (partial pixels weighted
 * by their overlap); along one that grows, it is the bilinear interpolation
 * of the two nearest input pixels (edges clamped); the same size is a copy.
 * The one resize of the imagefolder dataset and of autodist serve, so that a
 * model sees at serving time the pixels it was trained on.  Several times
 * faster than stb_image_resize's filters.  Returns 0, or -1 for a size below
 * 1 or a channel count outside 1..4 (dst untouched).
 */
int ad_resize_u8(const uint8_t *src, int sw, int sh, int ch, uint8_t *dst, int dw, int dh);

#ifdef __cplusplus
}
#endif

#endif
