/* ad_resize.c - resizing 8-bit images: an area average when shrinking, bilinear when growing */
#include "autodist/ad_resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autodist/ad_error.h"

/*
 * The input pixels one axis's output pixel o reads, and their weights: first[o] the first
 * input index, count[o] how many inputs from there have a weight, w[o * taps + k] the weight
 * of input first[o] + k.
 */
typedef struct {
    int taps;
    int *first;
    int *count;
    float *w;
} s_axis_t;

static void
s_axis_free(s_axis_t *a)
{
    free(a->first);
    free(a->count);
    free(a->w);
}

/* The contributions of an axis of n inputs resized to m outputs. */
static void
s_axis_make(s_axis_t *a, int n, int m)
{
    double scale = (double)n / m;

    a->taps = scale > 1 ? (int)ceil(scale) + 1 : 2;
    a->first = ad_malloc((size_t)m * sizeof(int));
    a->count = ad_malloc((size_t)m * sizeof(int));
    a->w = ad_calloc((size_t)m * (size_t)a->taps, sizeof(float));
    for (int o = 0; o < m; o++) {
        float *w = a->w + (size_t)o * (size_t)a->taps;
        int count = 0;

        if (scale > 1) {
            /* The area [lo, hi) of the input this output covers. */
            double lo = o * scale, hi = (o + 1) * scale;
            int i0 = (int)floor(lo);

            a->first[o] = i0;
            for (int k = 0; k < a->taps && i0 + k < n; k++) {
                double l = fmax(lo, i0 + k), h = fmin(hi, i0 + k + 1);
                w[k] = h > l ? (float)((h - l) / scale) : 0.0f;
                if (w[k] > 0)
                    count = k + 1;
            }
        } else {
            /* Bilinear between the two inputs around this output's centre. */
            double c = (o + 0.5) * scale - 0.5;
            int i0 = (int)floor(c);
            float f = (float)(c - i0);

            if (i0 < 0) {
                i0 = 0;
                f = 0.0f;
            }
            if (i0 >= n - 1) {
                i0 = n - 1;
                f = 0.0f;
            }
            a->first[o] = i0;
            w[0] = 1.0f - f;
            w[1] = f;
            count = f > 0 ? 2 : 1;
        }
        a->count[o] = count > 0 ? count : 1;
    }
}

static inline uint8_t
s_round(float v)
{
    v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
    return (uint8_t)(int)(v + 0.5f);
}

/* One output row from the line of floats the vertical pass made: ch channels a pixel. */
static void
s_row(const s_axis_t *ax, const float *rows, int ch, int dw, uint8_t *out)
{
    if (ch == 3) {
        for (int o = 0; o < dw; o++) {
            const float *w = ax->w + (size_t)o * (size_t)ax->taps;
            const float *px = rows + (size_t)ax->first[o] * 3;
            float r = 0, g = 0, b = 0;

            for (int k = 0; k < ax->count[o]; k++) {
                r += w[k] * px[3 * k];
                g += w[k] * px[3 * k + 1];
                b += w[k] * px[3 * k + 2];
            }
            out[3 * o] = s_round(r);
            out[3 * o + 1] = s_round(g);
            out[3 * o + 2] = s_round(b);
        }
        return;
    }
    for (int o = 0; o < dw; o++) {
        const float *w = ax->w + (size_t)o * (size_t)ax->taps;
        const float *px = rows + (size_t)ax->first[o] * (size_t)ch;

        for (int c = 0; c < ch; c++) {
            float acc = 0;

            for (int k = 0; k < ax->count[o]; k++)
                acc += w[k] * px[(size_t)k * (size_t)ch + (size_t)c];
            out[(size_t)o * (size_t)ch + (size_t)c] = s_round(acc);
        }
    }
}

int
ad_resize_u8(const uint8_t *src, int sw, int sh, int ch, uint8_t *dst, int dw, int dh)
{
    s_axis_t ax, ay;
    float *rows;

    if (sw < 1 || sh < 1 || dw < 1 || dh < 1 || ch < 1 || ch > 4)
        return -1;
    if (sw == dw && sh == dh) {
        memcpy(dst, src, (size_t)sw * (size_t)sh * (size_t)ch);
        return 0;
    }
    s_axis_make(&ax, sw, dw);
    s_axis_make(&ay, sh, dh);
    /*
     * Row by row: the input rows an output row covers summed into one line of floats
     * (vertical), then each output pixel from the columns it covers (horizontal), rounded.
     * Only the inputs with a weight are read: 256 -> 224 reads 2 rows and columns in most
     * places, not 3.
     */
    size_t line = (size_t)sw * (size_t)ch, oline = (size_t)dw * (size_t)ch;
    rows = ad_malloc(line * sizeof(float));
    for (int y = 0; y < dh; y++) {
        const float *wy = ay.w + (size_t)y * (size_t)ay.taps;
        const uint8_t *in = src + (size_t)ay.first[y] * line;
        float w0 = wy[0];

        for (size_t q = 0; q < line; q++)
            rows[q] = w0 * (float)in[q];
        for (int k = 1; k < ay.count[y]; k++) {
            float wk = wy[k];

            in += line;
            for (size_t q = 0; q < line; q++)
                rows[q] += wk * (float)in[q];
        }
        s_row(&ax, rows, ch, dw, dst + (size_t)y * oline);
    }
    free(rows);
    s_axis_free(&ax);
    s_axis_free(&ay);
    return 0;
}
