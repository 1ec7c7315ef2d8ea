/* ad_tfevents.c - TensorBoard event files: TFRecord framing and Event protobufs, by hand */
#include "ad_tfevents.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The Event and Summary fields written (tensorflow/core/util/event.proto, summary.proto). */
#define S_EVENT_WALL_TIME 0x09    /* field 1, fixed64 (double) */
#define S_EVENT_STEP 0x10         /* field 2, varint (int64) */
#define S_EVENT_FILE_VERSION 0x1a /* field 3, length-delimited (string) */
#define S_EVENT_SUMMARY 0x2a      /* field 5, length-delimited (Summary) */
#define S_SUMMARY_VALUE 0x0a      /* Summary.value: field 1, length-delimited (Value) */
#define S_VALUE_TAG 0x0a          /* Value.tag: field 1, string */
#define S_VALUE_SIMPLE 0x15       /* Value.simple_value: field 2, fixed32 (float) */

struct ad_tfevents {
    FILE *f;    /* the open file */
    char *path; /* its path */
    int error;  /* first write error (errno), 0 when none */
};

/* A growing byte buffer. */
typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf_t;

static void
s_put(buf_t *b, const void *data, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = ad_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void
s_byte(buf_t *b, uint8_t c)
{
    s_put(b, &c, 1);
}

static void
s_varint(buf_t *b, uint64_t v)
{
    while (v >= 0x80) {
        s_byte(b, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    s_byte(b, (uint8_t)v);
}

/* Little-endian fixed-width integers, whatever the host's order. */
static void
s_fixed(buf_t *b, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        s_byte(b, (uint8_t)(v >> (8 * i)));
}

static void
s_bytes_field(buf_t *b, uint8_t tag, const void *data, size_t n)
{
    s_byte(b, tag);
    s_varint(b, n);
    s_put(b, data, n);
}

uint32_t
ad_tfevents_crc32c(const void *data, size_t n)
{
    static uint32_t table[256];
    const uint8_t *p = data;
    uint32_t crc = 0xffffffffu;

    if (!table[1]) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;

            for (int k = 0; k < 8; k++)
                c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
            table[i] = c;
        }
    }
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return crc ^ 0xffffffffu;
}

uint32_t
ad_tfevents_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

/* Write one TFRecord holding the n bytes of data. */
static void
s_record(ad_tfevents_t *self, const uint8_t *data, size_t n)
{
    buf_t head = {0};
    uint32_t crc;

    s_fixed(&head, n, 8);
    crc = ad_tfevents_mask(ad_tfevents_crc32c(head.p, 8));
    s_fixed(&head, crc, 4);
    if (fwrite(head.p, 1, head.n, self->f) != head.n || fwrite(data, 1, n, self->f) != n)
        self->error = self->error ? self->error : errno ? errno : EIO;
    free(head.p);
    head = (buf_t){0};
    s_fixed(&head, ad_tfevents_mask(ad_tfevents_crc32c(data, n)), 4);
    if (fwrite(head.p, 1, 4, self->f) != 4)
        self->error = self->error ? self->error : errno ? errno : EIO;
    free(head.p);
}

/* The Event header: wall_time and step. */
static void
s_event_head(buf_t *ev, double wall_time, int64_t step)
{
    uint64_t bits;

    memcpy(&bits, &wall_time, sizeof(bits));
    s_byte(ev, S_EVENT_WALL_TIME);
    s_fixed(ev, bits, 8);
    if (step) {
        s_byte(ev, S_EVENT_STEP);
        s_varint(ev, (uint64_t)step);
    }
}

int
ad_tfevents_open(const char *dir, double wall_time, ad_tfevents_t **out, ad_err_t *err)
{
    static const char version[] = "brain.Event:2";
    char host[256] = "localhost", path[PATH_MAX];
    ad_tfevents_t *self;
    buf_t ev = {0};

    *out = NULL;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return ad_err_set(err, -errno, "%s: cannot create the folder: %s", dir, strerror(errno));
    gethostname(host, sizeof(host) - 1);
    snprintf(path, sizeof(path), "%s/events.out.tfevents.%lld.%s", dir, (long long)wall_time, host);
    self = ad_calloc(1, sizeof(*self));
    self->f = fopen(path, "wbx");
    if (!self->f && errno == EEXIST) {
        /* A second export within the same second: the pid keeps the names apart. */
        snprintf(path, sizeof(path), "%s/events.out.tfevents.%lld.%s.%d", dir, (long long)wall_time,
                 host, (int)getpid());
        self->f = fopen(path, "wb");
    }
    if (!self->f) {
        int rc = ad_err_set(err, -errno, "%s: %s", path, strerror(errno));

        free(self);
        return rc;
    }
    self->path = ad_strdup(path);
    s_event_head(&ev, wall_time, 0);
    s_bytes_field(&ev, S_EVENT_FILE_VERSION, version, strlen(version));
    s_record(self, ev.p, ev.n);
    free(ev.p);
    *out = self;
    return 0;
}

const char *
ad_tfevents_path(const ad_tfevents_t *self)
{
    return self->path;
}

int
ad_tfevents_scalar(ad_tfevents_t *self, double wall_time, int64_t step, const char *tag,
                   float value)
{
    buf_t val = {0}, sum = {0}, ev = {0};
    uint32_t bits;

    memcpy(&bits, &value, sizeof(bits));
    s_bytes_field(&val, S_VALUE_TAG, tag, strlen(tag));
    s_byte(&val, S_VALUE_SIMPLE);
    s_fixed(&val, bits, 4);
    s_bytes_field(&sum, S_SUMMARY_VALUE, val.p, val.n);
    s_event_head(&ev, wall_time, step);
    s_bytes_field(&ev, S_EVENT_SUMMARY, sum.p, sum.n);
    s_record(self, ev.p, ev.n);
    free(val.p);
    free(sum.p);
    free(ev.p);
    return self->error ? -self->error : 0;
}

int
ad_tfevents_close(ad_tfevents_t **self_p, ad_err_t *err)
{
    ad_tfevents_t *self = self_p ? *self_p : NULL;
    int rc = 0;

    if (!self)
        return 0;
    if (fclose(self->f) != 0 && !self->error)
        self->error = errno ? errno : EIO;
    if (self->error)
        rc = ad_err_set(err, -self->error, "%s: %s", self->path, strerror(self->error));
    free(self->path);
    free(self);
    *self_p = NULL;
    return rc;
}
