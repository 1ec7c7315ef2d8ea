/* sample_images.c - autodist-sample-images: a small image folder of drawn vehicles, for examples and tests */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

/*
 * Each image is a side view of one vehicle (car, truck, bus, bicycle) in a
 * random colour, size and place, over a sky and a road with noise: easy for
 * a network to learn, yet not the same picture twice.  One sub-folder per
 * class, JPEG and PNG alternating, which is what the imagefolder dataset
 * reads (docs/datasets.md).
 */

static const char *const s_classes[] = {"bicycle", "bus", "car", "truck"};
#define S_NCLASSES 4

typedef struct {
    uint8_t *px; /* RGB, row-major */
    int size;    /* width = height */
} canvas_t;

static uint64_t s_state;

/* splitmix64: a reproducible stream from --seed. */
static double
s_rand(void)
{
    uint64_t z = (s_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static double
s_uniform(double lo, double hi)
{
    return lo + (hi - lo) * s_rand();
}

static void
s_put(canvas_t *c, int x, int y, const uint8_t rgb[3])
{
    if (x < 0 || y < 0 || x >= c->size || y >= c->size)
        return;
    memcpy(c->px + ((size_t)y * (size_t)c->size + (size_t)x) * 3, rgb, 3);
}

/* A rectangle of the unit square (x, y: top left; w, h), filled. */
static void
s_rect(canvas_t *c, double x, double y, double w, double h, const uint8_t rgb[3])
{
    int s = c->size;
    for (int j = (int)(y * s); j < (int)((y + h) * s); j++)
        for (int i = (int)(x * s); i < (int)((x + w) * s); i++)
            s_put(c, i, j, rgb);
}

/* A disc (inner = 0) or a ring of the unit square. */
static void
s_disc(canvas_t *c, double cx, double cy, double r, double inner, const uint8_t rgb[3])
{
    int s = c->size;
    for (int j = (int)((cy - r) * s) - 1; j <= (int)((cy + r) * s) + 1; j++)
        for (int i = (int)((cx - r) * s) - 1; i <= (int)((cx + r) * s) + 1; i++) {
            double dx = (i + 0.5) / s - cx, dy = (j + 0.5) / s - cy, d = sqrt(dx * dx + dy * dy);
            if (d <= r && d >= inner)
                s_put(c, i, j, rgb);
        }
}

/* A thick segment of the unit square. */
static void
s_line(canvas_t *c, double x0, double y0, double x1, double y1, double width,
       const uint8_t rgb[3])
{
    int steps = (int)(c->size * 2 * hypot(x1 - x0, y1 - y0)) + 1;
    for (int k = 0; k <= steps; k++) {
        double t = (double)k / steps;
        s_disc(c, x0 + t * (x1 - x0), y0 + t * (y1 - y0), width / 2, 0, rgb);
    }
}

static void
s_colour(uint8_t rgb[3])
{
    for (int k = 0; k < 3; k++)
        rgb[k] = (uint8_t)s_uniform(20, 235);
}

/* Sky, horizon, road, then noise, drawn first. */
static void
s_background(canvas_t *c, double road)
{
    uint8_t sky[3] = {(uint8_t)s_uniform(120, 200), (uint8_t)s_uniform(160, 220), 235};
    uint8_t ground[3] = {(uint8_t)s_uniform(60, 110), (uint8_t)s_uniform(60, 110),
                         (uint8_t)s_uniform(60, 110)};
    s_rect(c, 0, 0, 1, road, sky);
    s_rect(c, 0, road, 1, 1 - road, ground);
}

static void
s_noise(canvas_t *c)
{
    size_t n = (size_t)c->size * (size_t)c->size * 3;
    for (size_t k = 0; k < n; k++) {
        int v = c->px[k] + (int)s_uniform(-18, 18);
        c->px[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

/* One vehicle of class k standing on the road at y = road, left edge x, scale s. */
static void
s_vehicle(canvas_t *c, int k, double x, double road, double s)
{
    uint8_t body[3], dark[3] = {25, 25, 25}, glass[3] = {190, 220, 240};
    s_colour(body);
    switch (k) {
    case 0: /* bicycle: two rings and a frame */
        s_disc(c, x + 0.12 * s, road - 0.12 * s, 0.12 * s, 0.10 * s, dark);
        s_disc(c, x + 0.52 * s, road - 0.12 * s, 0.12 * s, 0.10 * s, dark);
        s_line(c, x + 0.12 * s, road - 0.12 * s, x + 0.28 * s, road - 0.30 * s, 0.025 * s, body);
        s_line(c, x + 0.28 * s, road - 0.30 * s, x + 0.52 * s, road - 0.12 * s, 0.025 * s, body);
        s_line(c, x + 0.12 * s, road - 0.12 * s, x + 0.32 * s, road - 0.12 * s, 0.025 * s, body);
        s_line(c, x + 0.32 * s, road - 0.12 * s, x + 0.28 * s, road - 0.30 * s, 0.025 * s, body);
        s_line(c, x + 0.48 * s, road - 0.36 * s, x + 0.52 * s, road - 0.12 * s, 0.025 * s, body);
        break;
    case 1: /* bus: a long box with a row of windows */
        s_rect(c, x, road - 0.36 * s, 0.95 * s, 0.30 * s, body);
        for (int w = 0; w < 6; w++)
            s_rect(c, x + (0.05 + 0.15 * w) * s, road - 0.32 * s, 0.11 * s, 0.09 * s, glass);
        s_disc(c, x + 0.18 * s, road - 0.06 * s, 0.06 * s, 0, dark);
        s_disc(c, x + 0.78 * s, road - 0.06 * s, 0.06 * s, 0, dark);
        break;
    case 2: /* car: a low body, a cabin, two wheels */
        s_rect(c, x, road - 0.20 * s, 0.70 * s, 0.12 * s, body);
        s_rect(c, x + 0.16 * s, road - 0.32 * s, 0.36 * s, 0.12 * s, body);
        s_rect(c, x + 0.20 * s, road - 0.30 * s, 0.13 * s, 0.08 * s, glass);
        s_rect(c, x + 0.36 * s, road - 0.30 * s, 0.13 * s, 0.08 * s, glass);
        s_disc(c, x + 0.15 * s, road - 0.07 * s, 0.07 * s, 0, dark);
        s_disc(c, x + 0.55 * s, road - 0.07 * s, 0.07 * s, 0, dark);
        break;
    default: /* truck: a tall cargo box, a cab, three wheels */
        s_rect(c, x, road - 0.50 * s, 0.60 * s, 0.42 * s, body);
        s_colour(body);
        s_rect(c, x + 0.62 * s, road - 0.32 * s, 0.22 * s, 0.24 * s, body);
        s_rect(c, x + 0.70 * s, road - 0.29 * s, 0.11 * s, 0.09 * s, glass);
        s_disc(c, x + 0.12 * s, road - 0.07 * s, 0.07 * s, 0, dark);
        s_disc(c, x + 0.30 * s, road - 0.07 * s, 0.07 * s, 0, dark);
        s_disc(c, x + 0.72 * s, road - 0.07 * s, 0.07 * s, 0, dark);
        break;
    }
}

static int
s_mkdir(const char *path)
{
    if (mkdir(path, 0755) && errno != EEXIST) {
        fprintf(stderr, "autodist-sample-images: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void
s_usage(FILE *to)
{
    fprintf(to, "usage: autodist-sample-images DIR [--per-class N] [--size PIXELS] [--seed N]\n"
                "\n"
                "Draw a small image folder of vehicles seen from the side, one sub-folder per\n"
                "class (bicycle, bus, car, truck), JPEG and PNG in turn: what the imagefolder\n"
                "dataset of a job file reads (docs/datasets.md).  Defaults: 60 images a class,\n"
                "256 x 256 pixels, seed 1.  The same seed draws the same images.\n");
}

/* Parse a positive integer option value, or say which option is wrong. */
static int
s_int(const char *opt, const char *text, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text ? text : "", &end, 10);
    if (!text || errno || *end || end == text || v < lo || v > hi) {
        fprintf(stderr, "autodist-sample-images: %s: expected an integer in [%ld, %ld], got \"%s\"\n",
                opt, lo, hi, text ? text : "");
        return -1;
    }
    *out = v;
    return 0;
}

int
main(int argc, char **argv)
{
    const char *dir = NULL;
    long per_class = 60, size = 256, seed = 1;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            s_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--per-class")) {
            if (s_int("--per-class", i + 1 < argc ? argv[++i] : NULL, 1, 100000, &per_class))
                return 2;
        } else if (!strcmp(argv[i], "--size")) {
            if (s_int("--size", i + 1 < argc ? argv[++i] : NULL, 16, 4096, &size))
                return 2;
        } else if (!strcmp(argv[i], "--seed")) {
            if (s_int("--seed", i + 1 < argc ? argv[++i] : NULL, 0, LONG_MAX, &seed))
                return 2;
        } else if (argv[i][0] == '-' || dir) {
            fprintf(stderr, "autodist-sample-images: unexpected argument \"%s\"\n", argv[i]);
            s_usage(stderr);
            return 2;
        } else {
            dir = argv[i];
        }
    }
    if (!dir) {
        s_usage(stderr);
        return 2;
    }
    if (s_mkdir(dir))
        return 1;
    s_state = (uint64_t)seed * 0x2545F4914F6CDD1Dull + 7;
    canvas_t c = {malloc((size_t)size * (size_t)size * 3), (int)size};
    if (!c.px) {
        fprintf(stderr, "autodist-sample-images: out of memory\n");
        return 1;
    }
    for (int k = 0; k < S_NCLASSES; k++) {
        char sub[PATH_MAX], file[PATH_MAX + 64];
        snprintf(sub, sizeof(sub), "%s/%s", dir, s_classes[k]);
        if (s_mkdir(sub))
            goto fail;
        for (long n = 0; n < per_class; n++) {
            double road = s_uniform(0.70, 0.85), s = s_uniform(0.75, 1.0);
            s_background(&c, road);
            s_vehicle(&c, k, s_uniform(0.0, 1.0 - 0.95 * s), road + s_uniform(0, 0.05), s);
            s_noise(&c);
            int png = n % 2;
            if (snprintf(file, sizeof(file), "%s/%s-%03ld.%s", sub, s_classes[k], n,
                         png ? "png" : "jpg") >= (int)sizeof(file)) {
                fprintf(stderr, "autodist-sample-images: %s: path too long\n", sub);
                goto fail;
            }
            int ok = png ? stbi_write_png(file, c.size, c.size, 3, c.px, c.size * 3)
                         : stbi_write_jpg(file, c.size, c.size, 3, c.px, 90);
            if (!ok) {
                fprintf(stderr, "autodist-sample-images: %s: cannot write the image\n", file);
                goto fail;
            }
        }
    }
    printf("%s: %d classes x %ld images of %ldx%ld (bicycle, bus, car, truck)\n", dir, S_NCLASSES,
           per_class, size, size);
    free(c.px);
    return 0;
fail:
    free(c.px);
    return 1;
}
