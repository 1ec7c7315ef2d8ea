/* ad_data.c - training datasets: Fashion-MNIST IDX, synthetic tensors, image folders */
#include "autodist/ad_data.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_image.h>

#include <zlib.h>

#include "autodist/ad_hash.h"
#include "autodist/ad_rand.h"
#include "autodist/ad_resize.h"

enum {
    AD_DATA_KIND_FASHION = 1,
    AD_DATA_KIND_SYNTHETIC = 2,
    AD_DATA_KIND_FOLDER = 3,
};

/* Sanity limits: a header beyond them is corrupt, not a big dataset. */
#define AD_DATA_IDX_MAX_COUNT 100000000u
#define AD_DATA_MAX_SIDE 4096
#define AD_DATA_MAX_CHANNELS 64
#define AD_DATA_MAX_CLASSES 100000

#define AD_DATA_IDX_IMAGES_MAGIC 0x00000803u
#define AD_DATA_IDX_LABELS_MAGIC 0x00000801u
#define AD_DATA_FASHION_CLASSES 10

/* Reads of a lying IDX header grow the buffer with the data, never ahead of it. */
#define AD_DATA_READ_CHUNK (64u << 20)

#define AD_DATA_PI 3.14159265358979323846
#define AD_DATA_ROTATE_DEG 10.0

struct ad_dataset {
    int kind;            /* AD_DATA_KIND_* */
    ad_split_t split;    /* which split was opened */
    int64_t size;        /* samples in the split */
    int channels;        /* sample shape, as ad_data_batch() writes it */
    int height;          /* sample height in pixels */
    int width;           /* sample width in pixels */
    int classes;         /* labels are in [0, classes) */
    char **class_names;  /* one owned name per class, or NULL when unnamed */
    size_t sample_bytes; /* channels * height * width */
    uint8_t *pixels;     /* size samples of sample_bytes, CHW (fashion-mnist, imagefolder) */
    int32_t *labels;     /* size labels (fashion-mnist, imagefolder) */
    uint64_t seed;       /* synthetic: content seed, already mixed with the split */
    bool augmentable;    /* imagefolder train split: ad_data_batch() may augment */
    float lut[256];      /* stored byte -> normalised float */
};

static const char *const s_fashion_names[AD_DATA_FASHION_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot",
};

static const char *const s_split_names[] = {"train", "val", "test"};

/* ---------------------------------------------------------------------------------------- */
/* Hashing and random numbers: splitmix64, so every sample is a pure function of its seed.   */

static uint64_t
s_hash2(uint64_t a, uint64_t b)
{
    return ad_hash_mix64(ad_hash_mix64(a) ^ b);
}

/*
 * The ad_rand stream of (a, b), one step in: the data written before the streams were shared
 * drew from mix64(state + gamma) after advancing, which is ad_rand_next() from state + gamma.
 */
static uint64_t
s_stream(uint64_t a, uint64_t b)
{
    return s_hash2(a, b) + AD_RAND_GAMMA;
}

/* ---------------------------------------------------------------------------------------- */
/* Life cycle and accessors.                                                               */

static ad_dataset_t *
s_dataset_new(int kind, ad_split_t split)
{
    ad_dataset_t *self = ad_calloc(1, sizeof(*self));

    self->kind = kind;
    self->split = split;
    for (int p = 0; p < 256; p++)
        self->lut[p] = (float)(p / 127.5 - 1.0);
    return self;
}

void
ad_data_close(ad_dataset_t **self_p)
{
    ad_dataset_t *self;

    if (!self_p || !*self_p)
        return;
    self = *self_p;
    if (self->class_names) {
        for (int c = 0; c < self->classes; c++)
            free(self->class_names[c]);
        free(self->class_names);
    }
    free(self->pixels);
    free(self->labels);
    free(self);
    *self_p = NULL;
}

int64_t
ad_data_size(const ad_dataset_t *self)
{
    return self ? self->size : 0;
}

void
ad_data_shape(const ad_dataset_t *self, int *channels, int *height, int *width)
{
    if (channels)
        *channels = self ? self->channels : 0;
    if (height)
        *height = self ? self->height : 0;
    if (width)
        *width = self ? self->width : 0;
}

int
ad_data_classes(const ad_dataset_t *self)
{
    return self ? self->classes : 0;
}

const char *
ad_data_class_name(const ad_dataset_t *self, int label)
{
    if (!self || !self->class_names || label < 0 || label >= self->classes)
        return NULL;
    return self->class_names[label];
}

/* ---------------------------------------------------------------------------------------- */
/* Small helpers.                                                                          */

static char *
s_path_join(const char *dir, const char *name, const char *suffix)
{
    size_t len = strlen(dir) + 1 + strlen(name) + strlen(suffix) + 1;
    char *path = ad_malloc(len);

    snprintf(path, len, "%s/%s%s", dir, name, suffix);
    return path;
}

static int
s_check_range(ad_err_t *err, const char *dataset, const char *field, int64_t value, int64_t lo,
              int64_t hi, int64_t dflt)
{
    if (value >= lo && value <= hi)
        return 0;
    return ad_err_set(err, AD_EINVAL, "%s: %s must be in %lld..%lld (0 = default %lld), got %lld",
                      dataset, field, (long long)lo, (long long)hi, (long long)dflt,
                      (long long)value);
}

/* Bytes of memory on this machine, or 0 when it cannot be told. */
static uint64_t
s_physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES);
    long page_size = sysconf(_SC_PAGESIZE);

    if (pages <= 0 || page_size <= 0)
        return 0;
    return (uint64_t)pages * (uint64_t)page_size;
}

static int
s_check_memory(ad_err_t *err, const char *what, uint64_t bytes)
{
    uint64_t have = s_physical_memory();

    if (have && bytes > have)
        return ad_err_set(err, -ENOMEM, "%s: needs %.1f GiB in memory, this machine has %.1f GiB",
                          what, bytes / 1073741824.0, have / 1073741824.0);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Fashion-MNIST: big-endian IDX files, gzip-compressed or plain (zlib reads both).         */

/* An open IDX file and the path it was found at. */
typedef struct {
    gzFile gz;  /* reader, NULL when closed */
    char *path; /* path actually opened (owned) */
} s_idx_t;

static void
s_idx_close(s_idx_t *idx)
{
    if (idx->gz)
        gzclose(idx->gz);
    idx->gz = NULL;
    free(idx->path);
    idx->path = NULL;
}

/* Open DIR/BASE.gz, or DIR/BASE when the compressed file is absent. */
static int
s_idx_open(const char *dir, const char *base, s_idx_t *idx, ad_err_t *err)
{
    struct stat st;
    int fd, rc;

    idx->gz = NULL;
    idx->path = s_path_join(dir, base, ".gz");
    fd = open(idx->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        char *plain = s_path_join(dir, base, "");

        fd = open(plain, O_RDONLY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
            rc = ad_err_set(err, -ENOENT, "%s: no such file (nor the uncompressed %s)", idx->path,
                            plain);
            free(plain);
            goto err_free_path;
        }
        free(idx->path);
        idx->path = plain;
    }
    if (fd < 0) {
        rc = ad_err_set(err, -errno, "%s: cannot open: %s", idx->path, strerror(errno));
        goto err_free_path;
    }
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
        rc = ad_err_set(err, AD_EDATA, "%s: not a regular file", idx->path);
        close(fd);
        goto err_free_path;
    }
    idx->gz = gzdopen(fd, "rb");
    if (!idx->gz)
        ad_oom(0);
    gzbuffer(idx->gz, 1u << 17);
    return 0;
err_free_path:
    free(idx->path);
    idx->path = NULL;
    return rc;
}

/* Read up to len bytes; returns the count read, or -1 on a gzip error. */
static int64_t
s_idx_read(s_idx_t *idx, void *buf, size_t len)
{
    unsigned char *p = buf;
    size_t got = 0;

    while (got < len) {
        size_t want = len - got;
        int n;

        if (want > (1u << 30))
            want = 1u << 30;
        n = gzread(idx->gz, p + got, (unsigned)want);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (int64_t)got;
}

static const char *
s_idx_gzerror(s_idx_t *idx)
{
    int errnum = Z_OK;
    const char *msg = gzerror(idx->gz, &errnum);
    const char *sep;

    if (errnum == Z_OK || !msg || !*msg)
        return NULL;
    /* zlib prefixes the "<fd:N>" that gzdopen() names the file; ours names it already. */
    sep = strstr(msg, ": ");
    return sep && msg[0] == '<' ? sep + 2 : msg;
}

static int
s_idx_read_error(s_idx_t *idx, ad_err_t *err)
{
    const char *why = s_idx_gzerror(idx);

    return ad_err_set(err, AD_EDATA, "%s: corrupt gzip data (%s)", idx->path,
                      why ? why : "read error");
}

static uint32_t
s_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Read the header of an IDX file: the magic and then ndims 32-bit dimensions. */
static int
s_idx_header(s_idx_t *idx, uint32_t magic, const char *what, uint32_t *dims, int ndims,
             ad_err_t *err)
{
    unsigned char hdr[16];
    size_t len = 4 + 4 * (size_t)ndims;
    int64_t got = s_idx_read(idx, hdr, len);
    uint32_t found;

    if (got < 0)
        return s_idx_read_error(idx, err);
    if ((size_t)got < len)
        return ad_err_set(err, AD_EDATA, "%s: truncated: only %lld of the %zu header bytes",
                          idx->path, (long long)got, len);
    found = s_be32(hdr);
    if (found != magic)
        return ad_err_set(err, AD_EDATA,
                          "%s: bad IDX magic 0x%08x, expected 0x%08x (%s); is it the right file?",
                          idx->path, found, magic, what);
    for (int d = 0; d < ndims; d++)
        dims[d] = s_be32(hdr + 4 + 4 * d);
    if (dims[0] == 0 || dims[0] > AD_DATA_IDX_MAX_COUNT)
        return ad_err_set(err, AD_EDATA, "%s: header claims %u items, expected 1..%u", idx->path,
                          dims[0], AD_DATA_IDX_MAX_COUNT);
    for (int d = 1; d < ndims; d++)
        if (dims[d] == 0 || dims[d] > AD_DATA_MAX_SIDE)
            return ad_err_set(err, AD_EDATA,
                              "%s: header claims images of %ux%u pixels, expected sides 1..%d",
                              idx->path, dims[1], dims[2], AD_DATA_MAX_SIDE);
    return 0;
}

/*
 * Read len bytes of payload into a fresh buffer.  The buffer grows with the
 * data, so a header that lies about its size cannot make us allocate much more
 * than the file holds.
 */
static int
s_idx_payload(s_idx_t *idx, size_t len, const char *what, uint8_t **out, ad_err_t *err)
{
    size_t cap = len < AD_DATA_READ_CHUNK ? len : AD_DATA_READ_CHUNK;
    uint8_t *buf = ad_malloc(cap);
    size_t got = 0;

    for (;;) {
        int64_t n = s_idx_read(idx, buf + got, cap - got);

        if (n < 0) {
            free(buf);
            return s_idx_read_error(idx, err);
        }
        got += (size_t)n;
        if (got == len)
            break;
        if (got < cap) {
            const char *why = s_idx_gzerror(idx);

            free(buf);
            return ad_err_set(err, AD_EDATA,
                              "%s: truncated: the header promises %zu bytes of %s, only %zu "
                              "follow%s%s%s",
                              idx->path, len, what, got, why ? " (" : "", why ? why : "",
                              why ? ")" : "");
        }
        cap = cap > len / 2 ? len : cap * 2;
        buf = ad_realloc(buf, cap);
    }
    *out = buf;
    return 0;
}

static int
s_fashion_open(const ad_data_opts_t *opts, ad_split_t split, ad_dataset_t **out, ad_err_t *err)
{
    const char *dir = opts->dir ? opts->dir : AD_DATA_FASHION_DIR;
    const char *prefix = split == AD_SPLIT_TEST ? "t10k" : "train";
    char images_base[64], labels_base[64];
    s_idx_t images = {0}, labels = {0};
    uint32_t idims[3] = {0}, ldims[1] = {0};
    uint8_t *raw_labels = NULL;
    ad_dataset_t *self = NULL;
    struct stat st;
    int rc;

    if (split == AD_SPLIT_VAL)
        return ad_err_set(err, AD_EINVAL,
                          "fashion-mnist has no validation split: open AD_SPLIT_TEST (the t10k "
                          "files) or hold out part of AD_SPLIT_TRAIN");
    if (stat(dir, &st) != 0)
        return ad_err_set(err, -errno, "%s: fashion-mnist folder: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return ad_err_set(err, -ENOTDIR, "%s: fashion-mnist folder: not a directory", dir);

    snprintf(images_base, sizeof(images_base), "%s-images-idx3-ubyte", prefix);
    snprintf(labels_base, sizeof(labels_base), "%s-labels-idx1-ubyte", prefix);
    rc = s_idx_open(dir, images_base, &images, err);
    if (rc)
        return rc;
    rc = s_idx_open(dir, labels_base, &labels, err);
    if (rc)
        goto out_close;
    rc = s_idx_header(&images, AD_DATA_IDX_IMAGES_MAGIC, "IDX unsigned-byte images", idims, 3, err);
    if (rc)
        goto out_close;
    rc = s_idx_header(&labels, AD_DATA_IDX_LABELS_MAGIC, "IDX unsigned-byte labels", ldims, 1, err);
    if (rc)
        goto out_close;
    if (idims[0] != ldims[0]) {
        rc = ad_err_set(err, AD_EDATA, "%s has %u images but %s has %u labels", images.path,
                        idims[0], labels.path, ldims[0]);
        goto out_close;
    }

    self = s_dataset_new(AD_DATA_KIND_FASHION, split);
    self->size = idims[0];
    self->channels = 1;
    self->height = (int)idims[1];
    self->width = (int)idims[2];
    self->sample_bytes = (size_t)idims[1] * idims[2];
    rc = s_check_memory(err, images.path, (uint64_t)self->size * self->sample_bytes);
    if (rc)
        goto out_close;
    rc = s_idx_payload(&images, (size_t)self->size * self->sample_bytes, "pixels", &self->pixels,
                       err);
    if (rc)
        goto out_close;
    rc = s_idx_payload(&labels, (size_t)self->size, "labels", &raw_labels, err);
    if (rc)
        goto out_close;
    self->labels = ad_malloc((size_t)self->size * sizeof(*self->labels));
    for (int64_t i = 0; i < self->size; i++) {
        if (raw_labels[i] >= AD_DATA_FASHION_CLASSES) {
            rc = ad_err_set(err, AD_EDATA, "%s: label %u of item %lld is out of range [0, %d)",
                            labels.path, raw_labels[i], (long long)i, AD_DATA_FASHION_CLASSES);
            goto out_close;
        }
        self->labels[i] = raw_labels[i];
    }
    self->classes = AD_DATA_FASHION_CLASSES;
    self->class_names = ad_calloc(AD_DATA_FASHION_CLASSES, sizeof(*self->class_names));
    for (int c = 0; c < AD_DATA_FASHION_CLASSES; c++)
        self->class_names[c] = ad_strdup(s_fashion_names[c]);
    *out = self;
    self = NULL;
    rc = 0;
out_close:
    free(raw_labels);
    ad_data_close(&self);
    s_idx_close(&labels);
    s_idx_close(&images);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Synthetic: every sample is a pure function of (seed, split, index); nothing is stored.   */

static int
s_synthetic_open(const ad_data_opts_t *opts, ad_split_t split, ad_dataset_t **out, ad_err_t *err)
{
    int channels = opts->channels ? opts->channels : 3;
    int height = opts->height ? opts->height : 32;
    int width = opts->width ? opts->width : 32;
    int classes = opts->classes ? opts->classes : 10;
    int64_t samples = opts->samples ? opts->samples : 50000;
    ad_dataset_t *self;
    int rc;

    if ((rc = s_check_range(err, "synthetic", "channels", channels, 1, AD_DATA_MAX_CHANNELS, 3)) ||
        (rc = s_check_range(err, "synthetic", "height", height, 1, AD_DATA_MAX_SIDE, 32)) ||
        (rc = s_check_range(err, "synthetic", "width", width, 1, AD_DATA_MAX_SIDE, 32)) ||
        (rc = s_check_range(err, "synthetic", "classes", classes, 2, AD_DATA_MAX_CLASSES, 10)))
        return rc;
    if (samples < 1)
        return ad_err_set(err, AD_EINVAL,
                          "synthetic: samples must be positive (0 = default 50000), got %lld",
                          (long long)samples);

    self = s_dataset_new(AD_DATA_KIND_SYNTHETIC, split);
    self->size = split == AD_SPLIT_TRAIN ? samples : (samples / 10 > 1 ? samples / 10 : 1);
    self->channels = channels;
    self->height = height;
    self->width = width;
    self->classes = classes;
    self->sample_bytes = (size_t)channels * height * width;
    self->seed = s_hash2(opts->seed, 0x73706c6974ull + (uint64_t)split);
    *out = self;
    return 0;
}

static void
s_synthetic_sample(const ad_dataset_t *self, int64_t index, float *x, int64_t *y)
{
    uint64_t seed = s_hash2(self->seed, (uint64_t)index);
    uint64_t state = seed + AD_RAND_GAMMA; /* s_stream(): the label reads the seed itself */
    size_t n = self->sample_bytes, k;
    uint64_t r;

    *y = (int64_t)(ad_hash_mix64(seed ^ 0x6c6162656cull) % (uint64_t)self->classes);
    /* Eight pixels per random word, unrolled by hand: twice as fast as GCC -O2's loop. */
    for (k = 0; k + 8 <= n; k += 8) {
        r = ad_rand_next(&state);
        x[k] = self->lut[r & 0xff];
        x[k + 1] = self->lut[(r >> 8) & 0xff];
        x[k + 2] = self->lut[(r >> 16) & 0xff];
        x[k + 3] = self->lut[(r >> 24) & 0xff];
        x[k + 4] = self->lut[(r >> 32) & 0xff];
        x[k + 5] = self->lut[(r >> 40) & 0xff];
        x[k + 6] = self->lut[(r >> 48) & 0xff];
        x[k + 7] = self->lut[r >> 56];
    }
    for (r = ad_rand_next(&state); k < n; k++, r >>= 8)
        x[k] = self->lut[r & 0xff];
}

/* ---------------------------------------------------------------------------------------- */
/* Image folders: DIR/CLASS/IMAGE.{jpg,jpeg,png}, decoded once at open time.                */

/* One class sub-folder and the split each of its images goes to. */
typedef struct {
    char *name;      /* sub-folder name, the class name (owned) */
    char *path;      /* DIR/name (owned) */
    char **files;    /* image file names, sorted by strcmp (owned) */
    int nfiles;      /* entries in files */
    int n_test;      /* images held out for AD_SPLIT_TEST */
    int n_val;       /* images held out for AD_SPLIT_VAL */
    uint8_t *assign; /* nfiles split numbers (ad_split_t), by file */
} s_class_t;

static bool
s_is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');

    if (!dot || dot == name)
        return false;
    return !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png");
}

static int
s_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
s_free_names(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/*
 * List the visible sub-folders (want_dirs) or image files of dir, sorted by
 * name.  Hidden entries are skipped, and so is anything else that does not fit.
 */
static int
s_list(const char *dir, bool want_dirs, char ***names_p, int *n_p, ad_err_t *err)
{
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *ent;
    DIR *d;
    int rc = 0;

    d = opendir(dir);
    if (!d)
        return ad_err_set(err, -errno, "%s: cannot open folder: %s", dir, strerror(errno));
    for (;;) {
        struct stat st;
        char *path;
        bool keep;

        errno = 0;
        ent = readdir(d);
        if (!ent) {
            if (errno)
                rc = ad_err_set(err, -errno, "%s: cannot read folder: %s", dir, strerror(errno));
            break;
        }
        if (ent->d_name[0] == '.')
            continue;
        if (!want_dirs && !s_is_image_name(ent->d_name))
            continue;
        path = s_path_join(dir, ent->d_name, "");
        if (stat(path, &st) != 0) {
            rc = ad_err_set(err, -errno, "%s: %s", path, strerror(errno));
            free(path);
            break;
        }
        free(path);
        keep = want_dirs ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode);
        if (!keep)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = ad_realloc(names, (size_t)cap * sizeof(*names));
        }
        names[n++] = ad_strdup(ent->d_name);
    }
    closedir(d);
    if (rc) {
        s_free_names(names, n);
        return rc;
    }
    if (n)
        qsort(names, (size_t)n, sizeof(*names), s_cmp_names);
    *names_p = names;
    *n_p = n;
    return 0;
}

static void
s_free_classes(s_class_t *classes, int n)
{
    if (!classes)
        return;
    for (int c = 0; c < n; c++) {
        free(classes[c].name);
        free(classes[c].path);
        s_free_names(classes[c].files, classes[c].nfiles);
        free(classes[c].assign);
    }
    free(classes);
}

/* Check that a file decodes as far as its header, so bad files fail every split alike. */
static int
s_probe_image(const char *path, ad_err_t *err)
{
    FILE *f = fopen(path, "rb");
    int w, h, comp, ok;

    if (!f)
        return ad_err_set(err, -errno, "%s: cannot open: %s", path, strerror(errno));
    ok = stbi_info_from_file(f, &w, &h, &comp);
    fclose(f);
    if (!ok)
        return ad_err_set(err, AD_EDATA, "%s: not a decodable image (%s)", path,
                          stbi_failure_reason() ? stbi_failure_reason() : "unknown format");
    return 0;
}

/* Decode path, resize it to the dataset's size and store it as CHW bytes at dst. */
static int
s_load_image(const ad_dataset_t *self, const char *path, uint8_t *hwc, uint8_t *dst, ad_err_t *err)
{
    size_t plane = (size_t)self->height * self->width;
    FILE *f = fopen(path, "rb");
    const uint8_t *src;
    unsigned char *img;
    int w, h, comp;

    if (!f)
        return ad_err_set(err, -errno, "%s: cannot open: %s", path, strerror(errno));
    img = stbi_load_from_file(f, &w, &h, &comp, 3);
    fclose(f);
    if (!img)
        return ad_err_set(err, AD_EDATA, "%s: not a decodable image (%s)", path,
                          stbi_failure_reason() ? stbi_failure_reason() : "unknown error");
    if (w == self->width && h == self->height) {
        src = img;
    } else {
        if (ad_resize_u8(img, w, h, 3, hwc, self->width, self->height)) {
            stbi_image_free(img);
            return ad_err_set(err, AD_EDATA, "%s: cannot resize %dx%d to %dx%d", path, w, h,
                              self->width, self->height);
        }
        src = hwc;
    }
    for (size_t p = 0; p < plane; p++) {
        dst[p] = src[3 * p];
        dst[plane + p] = src[3 * p + 1];
        dst[2 * plane + p] = src[3 * p + 2];
    }
    stbi_image_free(img);
    return 0;
}

static int
s_folder_sizes(const ad_data_opts_t *opts, int *height, int *width, double *val, double *test,
               ad_err_t *err)
{
    int rc;

    if (opts->image_size) {
        rc = s_check_range(err, "imagefolder", "image_size", opts->image_size, 1, AD_DATA_MAX_SIDE,
                           224);
        if (rc)
            return rc;
        *height = *width = opts->image_size;
    } else if (opts->height || opts->width) {
        /* One side given means a square of that side. */
        *height = opts->height ? opts->height : opts->width;
        *width = opts->width ? opts->width : opts->height;
        if ((rc = s_check_range(err, "imagefolder", "height", *height, 1, AD_DATA_MAX_SIDE, 224)) ||
            (rc = s_check_range(err, "imagefolder", "width", *width, 1, AD_DATA_MAX_SIDE, 224)))
            return rc;
    } else {
        *height = *width = 224;
    }
    *val = opts->val_fraction ? opts->val_fraction : 0.1;
    *test = opts->test_fraction ? opts->test_fraction : 0.1;
    if (!(*val >= 0 && *val < 1))
        return ad_err_set(err, AD_EINVAL, "imagefolder: val_fraction must be in [0, 1), got %g",
                          *val);
    if (!(*test >= 0 && *test < 1))
        return ad_err_set(err, AD_EINVAL, "imagefolder: test_fraction must be in [0, 1), got %g",
                          *test);
    if (*val + *test >= 1)
        return ad_err_set(err, AD_EINVAL,
                          "imagefolder: val_fraction + test_fraction must be below 1 so the "
                          "train split keeps images, got %g + %g",
                          *val, *test);
    return 0;
}

/* Read the class folders and their image names; every class must hold an image. */
static int
s_folder_scan(const char *dir, s_class_t **classes_p, int *nclasses_p, int64_t *total_p,
              ad_err_t *err)
{
    s_class_t *classes;
    char **names = NULL;
    int nclasses = 0;
    int64_t total = 0;
    struct stat st;
    int rc;

    if (stat(dir, &st) != 0)
        return ad_err_set(err, -errno, "%s: imagefolder: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return ad_err_set(err, -ENOTDIR, "%s: imagefolder: not a directory", dir);
    rc = s_list(dir, true, &names, &nclasses, err);
    if (rc)
        return rc;
    if (nclasses == 0) {
        free(names);
        return ad_err_set(err, AD_EDATA,
                          "%s: no class sub-folders (expected one folder of .jpg/.jpeg/.png "
                          "images per class)",
                          dir);
    }
    if (nclasses == 1) {
        rc = ad_err_set(err, AD_EDATA,
                        "%s: only one class sub-folder (%s); imagefolder needs at least 2 "
                        "classes",
                        dir, names[0]);
        s_free_names(names, nclasses);
        return rc;
    }
    classes = ad_calloc((size_t)nclasses, sizeof(*classes));
    for (int c = 0; c < nclasses; c++) {
        classes[c].name = names[c];
        classes[c].path = s_path_join(dir, names[c], "");
    }
    free(names);
    for (int c = 0; c < nclasses; c++) {
        s_class_t *cls = &classes[c];

        rc = s_list(cls->path, false, &cls->files, &cls->nfiles, err);
        if (rc)
            goto err_free_classes;
        if (cls->nfiles == 0) {
            rc = ad_err_set(err, AD_EDATA,
                            "%s: class folder \"%s\" has no .jpg, .jpeg or .png images", cls->path,
                            cls->name);
            goto err_free_classes;
        }
        for (int i = 0; i < cls->nfiles; i++) {
            char *path = s_path_join(cls->path, cls->files[i], "");

            rc = s_probe_image(path, err);
            free(path);
            if (rc)
                goto err_free_classes;
        }
        total += cls->nfiles;
    }
    *classes_p = classes;
    *nclasses_p = nclasses;
    *total_p = total;
    return 0;
err_free_classes:
    s_free_classes(classes, nclasses);
    return rc;
}

static int
s_share(double fraction, int64_t n)
{
    return (int)(fraction * (double)n + 0.5);
}

/*
 * Per-class rounding can leave a split empty although its share of the whole
 * folder is at least one image: then give it one image of the class with the
 * most training images (never a class's last one).
 */
static void
s_fill_empty_split(s_class_t *classes, int nclasses, int64_t total, double fraction, bool test)
{
    int64_t have = 0;
    int best = -1, best_train = 1;

    for (int c = 0; c < nclasses; c++)
        have += test ? classes[c].n_test : classes[c].n_val;
    if (have > 0 || s_share(fraction, total) < 1)
        return;
    for (int c = 0; c < nclasses; c++) {
        int train = classes[c].nfiles - classes[c].n_test - classes[c].n_val;

        if (train > best_train) {
            best = c;
            best_train = train;
        }
    }
    if (best < 0)
        return;
    if (test)
        classes[best].n_test++;
    else
        classes[best].n_val++;
}

/* Stratified split: per class, shuffle with the seed; test first, then val, rest train. */
static void
s_folder_assign(s_class_t *classes, int nclasses, int64_t total, double val, double test,
                uint64_t seed)
{
    for (int c = 0; c < nclasses; c++) {
        s_class_t *cls = &classes[c];

        cls->n_test = s_share(test, cls->nfiles);
        cls->n_val = s_share(val, cls->nfiles);
        /* Every class keeps at least one training image. */
        while (cls->n_test + cls->n_val >= cls->nfiles) {
            if (cls->n_val > 0)
                cls->n_val--;
            else
                cls->n_test--;
        }
    }
    s_fill_empty_split(classes, nclasses, total, test, true);
    s_fill_empty_split(classes, nclasses, total, val, false);

    for (int c = 0; c < nclasses; c++) {
        s_class_t *cls = &classes[c];
        /* Seeded by the class name, so adding a class leaves the others' splits alone. */
        uint64_t state = s_stream(seed, ad_hash_fnv1a64(cls->name));
        int *order = ad_malloc((size_t)cls->nfiles * sizeof(*order));

        for (int i = 0; i < cls->nfiles; i++)
            order[i] = i;
        for (int i = cls->nfiles - 1; i > 0; i--) {
            int j = (int)(ad_rand_next(&state) % (uint64_t)(i + 1));
            int t = order[i];

            order[i] = order[j];
            order[j] = t;
        }
        cls->assign = ad_malloc((size_t)cls->nfiles);
        for (int k = 0; k < cls->nfiles; k++) {
            ad_split_t s = AD_SPLIT_TRAIN;

            if (k < cls->n_test)
                s = AD_SPLIT_TEST;
            else if (k < cls->n_test + cls->n_val)
                s = AD_SPLIT_VAL;
            cls->assign[order[k]] = (uint8_t)s;
        }
        free(order);
    }
}

static int
s_folder_open(const ad_data_opts_t *opts, ad_split_t split, ad_dataset_t **out, ad_err_t *err)
{
    s_class_t *classes = NULL;
    ad_dataset_t *self = NULL;
    uint8_t *hwc = NULL;
    int nclasses = 0, height, width;
    int64_t total = 0, n = 0;
    double val, test;
    int rc;

    if (!opts->dir || !*opts->dir)
        return ad_err_set(err, AD_EINVAL,
                          "imagefolder: opts.dir (the folder of class "
                          "sub-folders) is required");
    rc = s_folder_sizes(opts, &height, &width, &val, &test, err);
    if (rc)
        return rc;
    rc = s_folder_scan(opts->dir, &classes, &nclasses, &total, err);
    if (rc)
        return rc;
    s_folder_assign(classes, nclasses, total, val, test, opts->seed);

    self = s_dataset_new(AD_DATA_KIND_FOLDER, split);
    self->channels = 3;
    self->height = height;
    self->width = width;
    self->classes = nclasses;
    self->sample_bytes = (size_t)3 * height * width;
    self->augmentable = split == AD_SPLIT_TRAIN;
    for (int c = 0; c < nclasses; c++)
        for (int i = 0; i < classes[c].nfiles; i++)
            self->size += classes[c].assign[i] == split;
    if (self->size == 0) {
        rc = ad_err_set(err, AD_EDATA,
                        "%s: the %s split is empty (%lld images in %d classes, val_fraction "
                        "%g, test_fraction %g)",
                        opts->dir, s_split_names[split], (long long)total, nclasses, val, test);
        goto out_free;
    }
    rc = s_check_memory(err, opts->dir, (uint64_t)self->size * self->sample_bytes);
    if (rc)
        goto out_free;
    self->pixels = ad_malloc((size_t)self->size * self->sample_bytes);
    self->labels = ad_malloc((size_t)self->size * sizeof(*self->labels));
    hwc = ad_malloc(self->sample_bytes);
    for (int c = 0; c < nclasses; c++) {
        for (int i = 0; i < classes[c].nfiles; i++) {
            char *path;

            if (classes[c].assign[i] != split)
                continue;
            path = s_path_join(classes[c].path, classes[c].files[i], "");
            rc = s_load_image(self, path, hwc, self->pixels + (size_t)n * self->sample_bytes, err);
            free(path);
            if (rc)
                goto out_free;
            self->labels[n++] = c;
        }
    }
    self->class_names = ad_malloc((size_t)nclasses * sizeof(*self->class_names));
    for (int c = 0; c < nclasses; c++) {
        self->class_names[c] = classes[c].name;
        classes[c].name = NULL;
    }
    *out = self;
    self = NULL;
    rc = 0;
out_free:
    free(hwc);
    ad_data_close(&self);
    s_free_classes(classes, nclasses);
    return rc;
}

/* Bilinear sample of the CHW image src at (sx, sy) into dst; outside reads as -1. */
static void
s_bilinear(const ad_dataset_t *self, const uint8_t *src, float sx, float sy, float *dst)
{
    int h = self->height, w = self->width;
    size_t plane = (size_t)h * w;
    int x0 = (int)sx, y0 = (int)sy;
    float ax, ay;

    /* (int) truncates towards zero; floor is wanted. */
    x0 -= (float)x0 > sx;
    y0 -= (float)y0 > sy;
    ax = sx - (float)x0;
    ay = sy - (float)y0;
    if (x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h) {
        const uint8_t *p = src + (size_t)y0 * w + x0;

        for (int c = 0; c < 3; c++, p += plane) {
            float top = p[0] + ax * (p[1] - p[0]);
            float bottom = p[w] + ax * (p[w + 1] - p[w]);

            dst[c * plane] = (top + ay * (bottom - top)) * (float)(1 / 127.5) - 1.0f;
        }
        return;
    }
    for (int c = 0; c < 3; c++) {
        const uint8_t *p = src + c * plane;
        float v = 0;

        for (int t = 0; t < 4; t++) {
            int tx = x0 + (t & 1), ty = y0 + (t >> 1);
            float wt = ((t & 1) ? ax : 1 - ax) * ((t >> 1) ? ay : 1 - ay);

            if (tx >= 0 && tx < w && ty >= 0 && ty < h)
                v += wt * p[(size_t)ty * w + tx];
        }
        dst[c * plane] = v * (float)(1 / 127.5) - 1.0f;
    }
}

/*
 * Random horizontal flip and a rotation in [-10, 10] degrees about the centre,
 * drawn from (aug_seed, index) alone so every rank gets the same sample.
 */
static void
s_augment(const ad_dataset_t *self, const uint8_t *src, uint64_t aug_seed, int64_t index,
          float *dst)
{
    uint64_t state = s_stream(aug_seed, (uint64_t)index);
    bool flip = ad_rand_next(&state) >> 63;
    double angle = (2.0 * ad_rand_uniform(&state) - 1.0) * AD_DATA_ROTATE_DEG * AD_DATA_PI / 180.0;
    int h = self->height, w = self->width;
    float cs = (float)cos(angle), sn = (float)sin(angle);
    float cx = (float)(w - 1) * 0.5f, cy = (float)(h - 1) * 0.5f;
    float step = flip ? -1.0f : 1.0f;

    for (int y = 0; y < h; y++) {
        /* Output (x, y) reads the source at the inverse rotation of its mirrored x. */
        float dx = (flip ? (float)(w - 1) : 0.0f) - cx, dy = (float)y - cy;

        for (int x = 0; x < w; x++, dx += step)
            s_bilinear(self, src, cs * dx + sn * dy + cx, cs * dy - sn * dx + cy,
                       dst + (size_t)y * w + x);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Public entry points.                                                                    */

int
ad_data_open(const ad_data_opts_t *opts, ad_split_t split, ad_dataset_t **out, ad_err_t *err)
{
    if (!opts || !out)
        return ad_err_set(err, AD_EINVAL, "ad_data_open: opts and out are required");
    *out = NULL;
    if (split != AD_SPLIT_TRAIN && split != AD_SPLIT_VAL && split != AD_SPLIT_TEST)
        return ad_err_set(err, AD_EINVAL, "ad_data_open: unknown split %d", (int)split);
    if (!opts->name)
        return ad_err_set(err, AD_EINVAL,
                          "dataset name missing: expected fashion-mnist, "
                          "synthetic or imagefolder");
    if (!strcmp(opts->name, "fashion-mnist"))
        return s_fashion_open(opts, split, out, err);
    if (!strcmp(opts->name, "synthetic"))
        return s_synthetic_open(opts, split, out, err);
    if (!strcmp(opts->name, "imagefolder"))
        return s_folder_open(opts, split, out, err);
    return ad_err_set(err, AD_EINVAL,
                      "unknown dataset \"%s\": expected fashion-mnist, synthetic or imagefolder",
                      opts->name);
}

int
ad_data_batch(const ad_dataset_t *self, const int64_t *idx, int n, bool augment, uint64_t aug_seed,
              float *x, int64_t *y, ad_err_t *err)
{
    size_t per;

    if (!self || n < 0 || (n > 0 && (!idx || !x || !y)))
        return ad_err_set(err, AD_EINVAL,
                          "ad_data_batch: needs a dataset, n >= 0 and idx, x, y buffers");
    for (int i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= self->size)
            return ad_err_set(err, AD_EINVAL,
                              "sample index %lld (batch position %d) is out of range "
                              "[0, %lld) of the %s split",
                              (long long)idx[i], i, (long long)self->size,
                              s_split_names[self->split]);
    per = self->sample_bytes;
    for (int i = 0; i < n; i++) {
        float *dst = x + (size_t)i * per;
        const uint8_t *src;

        if (self->kind == AD_DATA_KIND_SYNTHETIC) {
            s_synthetic_sample(self, idx[i], dst, &y[i]);
            continue;
        }
        src = self->pixels + (size_t)idx[i] * per;
        /*
         * Samples are scattered over the whole set: fetch the start of the next
         * one while converting (the hardware prefetcher follows from there).
         */
        if (i + 1 < n)
            for (size_t k = 0; k < per && k < 4096; k += 64)
                __builtin_prefetch(self->pixels + (size_t)idx[i + 1] * per + k);
        if (augment && self->augmentable)
            s_augment(self, src, aug_seed, idx[i], dst);
        else
            for (size_t k = 0; k < per; k++)
                dst[k] = self->lut[src[k]];
        y[i] = self->labels[idx[i]];
    }
    return 0;
}
