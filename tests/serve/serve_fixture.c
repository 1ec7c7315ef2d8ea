/* serve_fixture.c - what test_serve.sh serves and uploads: a tiny artifact and test images */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb/stb_image_write.h>

#include "autodist/ad_infer.h"

/* A w x h RGB picture of one colour with a lighter square in the middle. */
static unsigned char *
s_picture(int w, int h, int r, int g, int b)
{
    unsigned char *p = malloc((size_t)w * h * 3);

    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *q = p + ((size_t)y * w + x) * 3;
            int mid = x > w / 4 && x < 3 * w / 4 && y > h / 4 && y < 3 * h / 4;

            q[0] = (unsigned char)(mid ? (r + 255) / 2 : r);
            q[1] = (unsigned char)(mid ? (g + 255) / 2 : g);
            q[2] = (unsigned char)(mid ? (b + 255) / 2 : b);
        }
    return p;
}

static int
s_write(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        fprintf(stderr, "serve_fixture: %s: %s\n", path, strerror(errno));
        return 1;
    }
    return fclose(f) != 0;
}

/* A tiny conv net, fixed pseudo-random weights: 3x16x16 -> conv 4 -> avgpool -> classes (<= 6). */
static int
s_model(const char *dir, int classes, bool nan)
{
    ad_igraph_t *g = ad_igraph_new(3, 16, 16);
    static const char *const names[] = {"red", "green", "blue", "cyan", "magenta", "yellow"};
    float w1[4 * 3 * 3 * 3], b1[4] = {0}, w2[6 * 4], b2[6] = {0};
    char meta[768], list[256] = "";
    unsigned seed = 12345;
    ad_err_t err = {0};
    int n;

    for (size_t i = 0; i < sizeof(w1) / sizeof(w1[0]); i++)
        w1[i] = (float)((seed = seed * 1103515245u + 12345u) >> 16 & 0xff) / 255.0f - 0.5f;
    if (nan) /* a model whose output is NaN: the server must say so, not abort */
        b2[0] = NAN;
    for (int i = 0; i < classes; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s\"%s\"", i ? ", " : "",
                 names[i]);
    for (size_t i = 0; i < sizeof(w2) / sizeof(w2[0]); i++)
        w2[i] = (float)((seed = seed * 1103515245u + 12345u) >> 16 & 0xff) / 255.0f - 0.5f;
    n = ad_igraph_conv(g, 0, w1, 4, 3, 3, b1, 1, 1, 1, AD_ACT_RELU, &err);
    if (n >= 0)
        n = ad_igraph_avgpool(g, n, &err);
    if (n >= 0)
        n = ad_igraph_linear(g, n, w2, classes, b2, AD_ACT_NONE, &err);
    snprintf(meta, sizeof(meta),
             "{\"name\": \"tiny-colours\", \"arch\": \"tiny-cnn\", \"variant\": \"fp32\", "
             "\"classes\": [%s], \"normalize\": {\"mean\": [0.5, 0.5, 0.5], \"std\": [0.5, "
             "0.5, 0.5]}, \"accuracy\": 0.5}",
             list);
    if (n < 0 || ad_igraph_save(g, dir, meta, &err) != 0) {
        fprintf(stderr, "serve_fixture: %s: %s\n", dir, err.msg);
        ad_igraph_free(&g);
        return 1;
    }
    ad_igraph_free(&g);
    return 0;
}

/* stbi_write_*_to_func's sink: a growing buffer. */
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

int
main(int argc, char **argv)
{
    const char *dir = argc == 2 ? argv[1] : NULL;
    char path[4096];
    unsigned char *red, *green;
    sink_t jpg = {0};
    int rc = 0;

    if (!dir) {
        fprintf(stderr, "usage: serve_fixture DIR\n");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/model", dir);
    if (s_model(path, 3, false))
        return 1;
    snprintf(path, sizeof(path), "%s/model-nan", dir);
    if (s_model(path, 3, true))
        return 1;
    snprintf(path, sizeof(path), "%s/model6", dir);
    if (s_model(path, 6, false))
        return 1;
    red = s_picture(40, 30, 220, 20, 20);
    green = s_picture(64, 48, 20, 200, 30);
    snprintf(path, sizeof(path), "%s/red.png", dir);
    rc |= !stbi_write_png(path, 40, 30, 3, red, 40 * 3);
    snprintf(path, sizeof(path), "%s/grey.png", dir);
    rc |= !stbi_write_png(path, 40, 30, 1, red, 40);
    stbi_write_jpg_to_func(s_sink, &jpg, 64, 48, 3, green, 90);
    rc |= s_write(dir, "green.jpg", jpg.p, jpg.len);
    /* The first half of the JPEG: no end marker, the bottom missing. */
    rc |= s_write(dir, "truncated.jpg", jpg.p, jpg.len / 2);
    rc |= s_write(dir, "not-image.txt", "hello, this is text\n", 20);
    /* A PNG header that claims a 10000 x 10000 picture (100 megapixels). */
    memcpy(jpg.p, "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x27\x10\0\0\x27\x10\x08\x02\0\0\0", 29);
    rc |= s_write(dir, "huge-header.png", jpg.p, 64);
    free(red);
    free(green);
    free(jpg.p);
    return rc ? 1 : 0;
}
