/* ad_job.c - job and sweep files: libyaml parsing with located errors, canonical JSON, hashes */
#include "autodist/ad_job.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <yaml.h>

/* Job and sweep files are a few lines; anything this large is the wrong file. */
#define S_FILE_MAX (4 << 20)

/*
 * Canonical JSON: sorted keys, one line, and numbers printed with 15
 * significant digits.  Every number is rounded to 15 digits when it is read,
 * so printing it back is exact and JSON -> job -> JSON is the identity.
 */
#define S_JSON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15))

/* Keys of a job, as ids; s_keys[] below is indexed by them. */
enum {
    S_K_NAME,
    S_K_MODEL,
    S_K_DATASET,
    S_K_SYN_SHAPE,
    S_K_SYN_CLASSES,
    S_K_SYN_SAMPLES,
    S_K_IMG_PATH,
    S_K_IMG_SIZE,
    S_K_DATA_DIR,
    S_K_EPOCHS,
    S_K_STEPS,
    S_K_BATCH,
    S_K_OPTIM,
    S_K_OPT_TYPE,
    S_K_OPT_LR,
    S_K_OPT_MOMENTUM,
    S_K_OPT_WD,
    S_K_SEED,
    S_K_DEVICE,
    S_K_LAYOUT,
    S_K_NODES,
    S_K_PPN,
    S_K_TPP,
    S_K_EVAL,
    S_K_CKPT,
    S_K_BUCKET,
    S_K_TIME,
    S_K_COUNT
};

#define S_BIT(id) (UINT32_C(1) << (id))
#define S_ALL (S_BIT(S_K_COUNT) - 1)
/* Keys that a whole-value key replaces: `dataset: ...` resets dataset.*, and so on. */
#define S_GROUP_DATASET                                                                            \
    (S_BIT(S_K_DATASET) | S_BIT(S_K_SYN_SHAPE) | S_BIT(S_K_SYN_CLASSES) | S_BIT(S_K_SYN_SAMPLES) | \
     S_BIT(S_K_IMG_PATH) | S_BIT(S_K_IMG_SIZE))
#define S_GROUP_OPTIM                                                                              \
    (S_BIT(S_K_OPTIM) | S_BIT(S_K_OPT_TYPE) | S_BIT(S_K_OPT_LR) | S_BIT(S_K_OPT_MOMENTUM) |        \
     S_BIT(S_K_OPT_WD))
#define S_GROUP_LAYOUT (S_BIT(S_K_LAYOUT) | S_BIT(S_K_NODES) | S_BIT(S_K_PPN) | S_BIT(S_K_TPP))
#define S_GROUP_LENGTH (S_BIT(S_K_EPOCHS) | S_BIT(S_K_STEPS))

/* How a parse treats what it reads. */
enum {
    S_F_NOFS = 1 << 0,     /* JSON: paths must be absolute, the file system is not read */
    S_F_BASE = 1 << 1,     /* a sweep's base: name is optional */
    S_F_INLINE = 1 << 2,   /* a sweep's inline base: name is refused */
    S_F_OVERRIDE = 1 << 3, /* a grid value: epochs replaces steps and steps epochs */
};

/* A job while it is read: values, which keys were given, and where. */
typedef struct {
    ad_job_t job;                /* values; strings owned, except in composed copies */
    uint32_t set;                /* S_BIT(id) of each key given */
    yaml_mark_t mark[S_K_COUNT]; /* where each given key's value starts */
    yaml_mark_t start;           /* start of the job mapping, for missing keys */
} s_spec_t;

/* What errors need to say where they are. */
typedef struct {
    const char *file;     /* name at the start of messages */
    const char *text;     /* the whole input */
    size_t len;           /* its length in bytes */
    yaml_document_t *doc; /* the document being walked */
    const char *dir;      /* folder relative paths start from; NULL = current folder */
    unsigned flags;       /* S_F_* */
    const char *prefix;   /* put before each message, e.g. "grid seed value 2: " */
    ad_err_t *err;        /* where the message goes */
} s_ctx_t;

typedef struct s_key s_key_t;
typedef int (*s_apply_fn)(s_ctx_t *ctx, s_spec_t *spec, const s_key_t *key, yaml_node_t *node);

/* Value types of keys. */
enum { S_T_INT, S_T_I64, S_T_REAL, S_T_BOOL, S_T_ENUM, S_T_CUSTOM };

/* One key of a job file: its dotted path, type, field and range. */
struct s_key {
    const char *path;         /* as written in files and grids: "optimizer.lr" */
    int type;                 /* S_T_* */
    size_t off;               /* the field in ad_job_t (not S_T_CUSTOM) */
    int64_t min, max;         /* integer range, inclusive */
    double rmin, rmax;        /* number range, inclusive */
    const char *const *names; /* S_T_ENUM: the accepted words, NULL-terminated */
    s_apply_fn apply;         /* S_T_CUSTOM: reads the value */
    int need;                 /* 1 + the dataset kind the key belongs to; 0 for any */
};

static const char *const s_models[] = {"mlp", "lenet5", "cnn", "resnet18", "mobilenet_v2", NULL};
static const char *const s_datasets[] = {"fashion-mnist", "synthetic", "imagefolder", NULL};
static const char *const s_optims[] = {"sgd", "adam", NULL};
static const char *const s_devices[] = {"cpu", "gpu", "auto", NULL};

_Static_assert(sizeof(ad_job_model_t) == sizeof(int) && sizeof(ad_job_data_t) == sizeof(int) &&
                   sizeof(ad_job_optim_t) == sizeof(int) && sizeof(ad_job_device_t) == sizeof(int),
               "enumerations are read and written as int");

static int s_apply_name(s_ctx_t *ctx, s_spec_t *spec, const s_key_t *key, yaml_node_t *node);
static int s_apply_dataset(s_ctx_t *ctx, s_spec_t *spec, const s_key_t *key, yaml_node_t *node);
static int s_apply_shape(s_ctx_t *ctx, s_spec_t *spec, const s_key_t *key, yaml_node_t *node);
static int s_apply_path(s_ctx_t *ctx, s_spec_t *spec, const s_key_t *key, yaml_node_t *node);
static int s_apply_length(s_ctx_t *ctx, s_spec_t *spec, const s_key_t *key, yaml_node_t *node);
static int s_apply_optim(s_ctx_t *ctx, s_spec_t *spec, const s_key_t *key, yaml_node_t *node);
static int s_apply_layout(s_ctx_t *ctx, s_spec_t *spec, const s_key_t *key, yaml_node_t *node);
static int s_apply_count(s_ctx_t *ctx, s_spec_t *spec, const s_key_t *key, yaml_node_t *node);
static int s_apply_time(s_ctx_t *ctx, s_spec_t *spec, const s_key_t *key, yaml_node_t *node);

#define S_OFF(field) offsetof(ad_job_t, field)
#define S_SYN (1 + AD_JOB_DATA_SYNTHETIC)
#define S_IMG (1 + AD_JOB_DATA_IMAGEFOLDER)

/* Ranges follow autodist-train's own checks (trainer/ad_train.c), so a valid job launches. */
static const s_key_t s_keys[S_K_COUNT] = {
    [S_K_NAME] = {.path = "name", .type = S_T_CUSTOM, .apply = s_apply_name},
    [S_K_MODEL] = {.path = "model", .type = S_T_ENUM, .off = S_OFF(model), .names = s_models},
    [S_K_DATASET] = {.path = "dataset", .type = S_T_CUSTOM, .apply = s_apply_dataset},
    [S_K_SYN_SHAPE] = {.path = "dataset.synthetic.shape",
                       .type = S_T_CUSTOM,
                       .apply = s_apply_shape,
                       .need = S_SYN},
    [S_K_SYN_CLASSES] = {.path = "dataset.synthetic.classes",
                         .type = S_T_INT,
                         .off = S_OFF(dataset.classes),
                         .min = 2,
                         .max = 100000,
                         .need = S_SYN},
    [S_K_SYN_SAMPLES] = {.path = "dataset.synthetic.samples",
                         .type = S_T_I64,
                         .off = S_OFF(dataset.samples),
                         .min = 1,
                         .max = INT64_C(1) << 40,
                         .need = S_SYN},
    [S_K_IMG_PATH] = {.path = "dataset.imagefolder.path",
                      .type = S_T_CUSTOM,
                      .apply = s_apply_path,
                      .need = S_IMG},
    [S_K_IMG_SIZE] = {.path = "dataset.imagefolder.image_size",
                      .type = S_T_INT,
                      .off = S_OFF(dataset.image_size),
                      .min = 8,
                      .max = 4096,
                      .need = S_IMG},
    [S_K_DATA_DIR] = {.path = "data_dir", .type = S_T_CUSTOM, .apply = s_apply_path},
    [S_K_EPOCHS] = {.path = "epochs", .type = S_T_CUSTOM, .apply = s_apply_length},
    [S_K_STEPS] = {.path = "steps", .type = S_T_CUSTOM, .apply = s_apply_length},
    [S_K_BATCH] =
        {.path = "batch_size", .type = S_T_INT, .off = S_OFF(batch_size), .min = 1, .max = INT_MAX},
    [S_K_OPTIM] = {.path = "optimizer", .type = S_T_CUSTOM, .apply = s_apply_optim},
    [S_K_OPT_TYPE] = {.path = "optimizer.type",
                      .type = S_T_ENUM,
                      .off = S_OFF(optimizer.type),
                      .names = s_optims},
    [S_K_OPT_LR] = {.path = "optimizer.lr",
                    .type = S_T_REAL,
                    .off = S_OFF(optimizer.lr),
                    .rmin = 1e-12,
                    .rmax = 1e6},
    [S_K_OPT_MOMENTUM] = {.path = "optimizer.momentum",
                          .type = S_T_REAL,
                          .off = S_OFF(optimizer.momentum),
                          .rmin = 0,
                          .rmax = 0.999999},
    [S_K_OPT_WD] = {.path = "optimizer.weight_decay",
                    .type = S_T_REAL,
                    .off = S_OFF(optimizer.weight_decay),
                    .rmin = 0,
                    .rmax = 1e3},
    [S_K_SEED] = {.path = "seed", .type = S_T_I64, .off = S_OFF(seed), .min = 0, .max = INT64_MAX},
    [S_K_DEVICE] = {.path = "device", .type = S_T_ENUM, .off = S_OFF(device), .names = s_devices},
    [S_K_LAYOUT] = {.path = "layout", .type = S_T_CUSTOM, .apply = s_apply_layout},
    [S_K_NODES] = {.path = "layout.nodes",
                   .type = S_T_CUSTOM,
                   .off = S_OFF(layout.nodes),
                   .min = 1,
                   .max = 65536,
                   .apply = s_apply_count},
    [S_K_PPN] = {.path = "layout.procs_per_node",
                 .type = S_T_CUSTOM,
                 .off = S_OFF(layout.procs_per_node),
                 .min = 1,
                 .max = 1024,
                 .apply = s_apply_count},
    [S_K_TPP] = {.path = "layout.threads_per_proc",
                 .type = S_T_CUSTOM,
                 .off = S_OFF(layout.threads_per_proc),
                 .min = 1,
                 .max = 1024,
                 .apply = s_apply_count},
    [S_K_EVAL] = {.path = "eval", .type = S_T_BOOL, .off = S_OFF(eval)},
    [S_K_CKPT] = {.path = "checkpoint_every",
                  .type = S_T_I64,
                  .off = S_OFF(checkpoint_every),
                  .min = 1,
                  .max = AD_JOB_STEPS_MAX},
    [S_K_BUCKET] = {.path = "bucket_mb",
                    .type = S_T_REAL,
                    .off = S_OFF(bucket_mb),
                    .rmin = 0.001,
                    .rmax = 1024},
    [S_K_TIME] = {.path = "time_limit", .type = S_T_CUSTOM, .apply = s_apply_time},
};

/* ---------------------------------------------------------------------------------------- */
/* Messages.                                                                                */

/* Line and column (0-based, like libyaml's marks) of a byte offset. */
static yaml_mark_t
s_offset_mark(const char *text, size_t len, size_t off)
{
    yaml_mark_t m = {0, 0, 0};

    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            m.line++;
            m.column = 0;
        } else {
            m.column++;
        }
    }
    m.index = off;
    return m;
}

static int
s_vfail(const s_ctx_t *ctx, yaml_mark_t mark, const char *fmt, va_list ap)
{
    char what[400];

    vsnprintf(what, sizeof(what), fmt, ap);
    return ad_err_set(ctx->err, AD_EPARSE, "%s:%zu:%zu: %s%s", ctx->file, mark.line + 1,
                      mark.column + 1, ctx->prefix ? ctx->prefix : "", what);
}

/* Fail with AD_EPARSE and "FILE:LINE:COL: <prefix><message>". */
static int __attribute__((format(printf, 3, 4)))
s_fail(const s_ctx_t *ctx, yaml_mark_t mark, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = s_vfail(ctx, mark, fmt, ap);
    va_end(ap);
    return rc;
}

static bool
s_is_null(const yaml_node_t *node)
{
    const char *s = (const char *)node->data.scalar.value;

    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* What a node is, for the "got ..." end of messages: "-4", a list, the string "5"...; in buf. */
static const char *
s_got(const yaml_node_t *node, char *buf, size_t len)
{
    const unsigned char *s;
    size_t n = 0, i;

    if (node->type != YAML_SCALAR_NODE || s_is_null(node)) {
        snprintf(buf, len, "%s",
                 node->type == YAML_SEQUENCE_NODE  ? "a list"
                 : node->type == YAML_MAPPING_NODE ? "a mapping"
                                                   : "an empty value");
        return buf;
    }
    s = node->data.scalar.value;
    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        n = (size_t)snprintf(buf, len, "the string \"");
    else
        n = (size_t)snprintf(buf, len, "\"");
    /* Shown text is cut short and kept printable, so the message stays one readable line. */
    for (i = 0; s[i] && i < 48 && n + 8 < len; i++)
        buf[n++] = (s[i] < 0x20 || s[i] == 0x7f) ? '?' : (char)s[i];
    if (s[i] && n + 8 < len)
        n += (size_t)snprintf(buf + n, len - n, "...");
    snprintf(buf + n, len - n, "\"");
    return buf;
}

/* Edit distance of two short words, for "did you mean" hints; large when either is long. */
static int
s_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int row[65], prev, tmp;

    if (la > 64 || lb > 64)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        prev = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            tmp = row[j];
            row[j] = prev + (a[i - 1] != b[j - 1]);
            if (row[j - 1] + 1 < row[j])
                row[j] = row[j - 1] + 1;
            if (tmp + 1 < row[j])
                row[j] = tmp + 1;
            prev = tmp;
        }
    }
    return row[lb];
}

/* The part of a key's path after prefix, when it is a direct child of prefix ("" = top). */
static const char *
s_child_name(const s_key_t *key, const char *prefix)
{
    size_t n = strlen(prefix);
    const char *rest;

    if (!n)
        return strchr(key->path, '.') ? NULL : key->path;
    if (strncmp(key->path, prefix, n) || key->path[n] != '.')
        return NULL;
    rest = key->path + n + 1;
    return strchr(rest, '.') ? NULL : rest;
}

static const s_key_t *
s_key_child(const char *prefix, const char *name)
{
    for (int id = 0; id < S_K_COUNT; id++) {
        const char *child = s_child_name(&s_keys[id], prefix);

        if (child && !strcmp(child, name))
            return &s_keys[id];
    }
    return NULL;
}

static const s_key_t *
s_key_path(const char *path)
{
    for (int id = 0; id < S_K_COUNT; id++)
        if (!strcmp(s_keys[id].path, path))
            return &s_keys[id];
    return NULL;
}

static int
s_key_id(const s_key_t *key)
{
    return (int)(key - s_keys);
}

/* Error for an unknown key: the accepted keys, and the closest one when it is close. */
static int
s_unknown_key(const s_ctx_t *ctx, const yaml_node_t *knode, const char *prefix, bool grid)
{
    const char *name = (const char *)knode->data.scalar.value;
    char list[300] = "", got[80], hint[100] = "";
    const char *best = NULL;
    int best_d = 3;
    size_t n = 0;

    for (int id = 0; id < S_K_COUNT; id++) {
        const char *child = grid ? s_keys[id].path : s_child_name(&s_keys[id], prefix);
        int d;

        if (!child || (grid && id == S_K_NAME))
            continue;
        d = s_distance(name, child);
        if (d < best_d) {
            best_d = d;
            best = child;
        }
        if (!grid && n + strlen(child) + 3 < sizeof(list))
            n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", child);
    }
    if (!grid && s_key_path(name))
        snprintf(hint, sizeof(hint), " (dotted keys are for sweep grids; nest it instead)");
    else if (best)
        snprintf(hint, sizeof(hint), " (did you mean %s?)", best);
    s_got(knode, got, sizeof(got));
    if (grid)
        return s_fail(ctx, knode->start_mark,
                      "unknown grid key %s%s, expected a job key such as batch_size, seed, "
                      "optimizer.lr, layout.nodes or dataset.synthetic.samples",
                      got, hint);
    if (*prefix)
        return s_fail(ctx, knode->start_mark, "unknown key %s in %s%s, expected one of %s", got,
                      prefix, hint, list);
    return s_fail(ctx, knode->start_mark, "unknown key %s%s, expected one of %s", got, hint, list);
}

/* ---------------------------------------------------------------------------------------- */
/* Scalars.                                                                                 */

static const char *
s_text(const yaml_node_t *node)
{
    return (const char *)node->data.scalar.value;
}

static bool
s_plain(const yaml_node_t *node)
{
    return node->type == YAML_SCALAR_NODE && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* A plain decimal integer: optional sign, digits, no leading zeros; false on overflow. */
static bool
s_parse_int(const char *s, int64_t *out)
{
    uint64_t v = 0, limit;
    bool neg = false;

    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1]))
        return false;
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');

        if (v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (*s)
        return false;
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return true;
}

/* Round to the 15 significant digits that canonical JSON prints, so printing is exact. */
static double
s_round15(double v)
{
    char buf[40];

    snprintf(buf, sizeof(buf), "%.15g", v);
    return strtod(buf, NULL);
}

/* A decimal number: 0.05, 5e-2, 3, -1.5E3; no hex, inf or nan. */
static bool
s_parse_real(const char *s, double *out)
{
    const char *p = s;
    int digits = 0;
    char *end;
    double v;

    if (*p == '+' || *p == '-')
        p++;
    for (; *p >= '0' && *p <= '9'; p++)
        digits++;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            digits++;
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p)
        return false;
    errno = 0;
    v = strtod(s, &end);
    if (*end || !isfinite(v))
        return false;
    *out = s_round15(v);
    return true;
}

/* An integer value in [min, max], or the message that says what was expected. */
static int
s_get_int(s_ctx_t *ctx, yaml_node_t *node, const char *what, int64_t min, int64_t max, int64_t *out)
{
    char got[80];

    if (s_plain(node) && s_parse_int(s_text(node), out) && *out >= min && *out <= max)
        return 0;
    s_got(node, got, sizeof(got));
    if (min == 1)
        return s_fail(ctx, node->start_mark,
                      "%s must be a positive integer (plain decimal, at most %" PRId64 "), got %s",
                      what, max, got);
    if (min == 0)
        return s_fail(ctx, node->start_mark,
                      "%s must be a non-negative integer (plain decimal, at most %" PRId64
                      "), got %s",
                      what, max, got);
    return s_fail(ctx, node->start_mark,
                  "%s must be an integer from %" PRId64 " to %" PRId64 " (plain decimal), got %s",
                  what, min, max, got);
}

static int
s_get_real(s_ctx_t *ctx, yaml_node_t *node, const char *what, double min, double max, double *out)
{
    char got[80];

    if (s_plain(node) && s_parse_real(s_text(node), out) && *out >= min && *out <= max)
        return 0;
    s_got(node, got, sizeof(got));
    return s_fail(ctx, node->start_mark, "%s must be a number from %g to %g, got %s", what, min,
                  max, got);
}

/* A non-empty string of any scalar style. */
static int
s_get_string(s_ctx_t *ctx, yaml_node_t *node, const char *what, const char *expected,
             const char **out)
{
    char got[80];

    if (node->type == YAML_SCALAR_NODE && !s_is_null(node) && *s_text(node)) {
        *out = s_text(node);
        return 0;
    }
    s_got(node, got, sizeof(got));
    return s_fail(ctx, node->start_mark, "%s must be %s, got %s", what, expected, got);
}

static int
s_get_enum(s_ctx_t *ctx, yaml_node_t *node, const char *what, const char *const *names, int *out)
{
    char list[160] = "", got[80];
    size_t n = 0;

    if (node->type == YAML_SCALAR_NODE)
        for (int i = 0; names[i]; i++)
            if (!strcmp(s_text(node), names[i])) {
                *out = i;
                return 0;
            }
    for (int i = 0; names[i]; i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", names[i]);
    s_got(node, got, sizeof(got));
    return s_fail(ctx, node->start_mark, "%s must be one of %s, got %s", what, list, got);
}

/* Names: [A-Za-z0-9._-], first character alphanumeric, 1..max characters. */
static bool
s_name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (!n || n > max ||
        !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
          (s[0] >= '0' && s[0] <= '9')))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* "90", "90s", "30m", "2h", "1d", "1h30m": units in that order, each at most once. */
static bool
s_parse_duration(const char *s, int64_t *out)
{
    static const char units[] = "dhms";
    static const int64_t secs[] = {86400, 3600, 60, 1};
    int64_t total = 0, v;
    int next = 0;

    if (s_parse_int(s, &v)) {
        *out = v;
        return v > 0 && v <= AD_JOB_TIME_LIMIT_MAX;
    }
    if (!*s)
        return false;
    while (*s) {
        const char *u;
        int digits = 0;

        for (v = 0; *s >= '0' && *s <= '9' && digits < 9; s++, digits++)
            v = v * 10 + (*s - '0');
        if (!digits || !*s || !(u = strchr(units + next, *s)))
            return false;
        total += v * secs[u - units];
        next = (int)(u - units) + 1;
        s++;
    }
    *out = total;
    return total > 0 && total <= AD_JOB_TIME_LIMIT_MAX;
}

/* ---------------------------------------------------------------------------------------- */
/* Keys.                                                                                    */

static void *
s_field(s_spec_t *spec, const s_key_t *key)
{
    return (char *)&spec->job + key->off;
}

static int s_apply_map(s_ctx_t *ctx, s_spec_t *spec, yaml_node_t *map, const char *prefix);

/* Read one key's value into spec, recording that it was given and where. */
static int
s_apply_key(s_ctx_t *ctx, s_spec_t *spec, const s_key_t *key, yaml_node_t *node)
{
    int id = s_key_id(key), rc = 0, iv = 0;
    int64_t v = 0;
    double d = 0;

    if (key->need && (int)spec->job.dataset.kind != key->need - 1)
        return s_fail(ctx, node->start_mark, "%s needs a %s dataset, but the dataset is %s",
                      key->path, s_datasets[key->need - 1], s_datasets[spec->job.dataset.kind]);
    switch (key->type) {
    case S_T_INT:
        rc = s_get_int(ctx, node, key->path, key->min, key->max, &v);
        if (!rc)
            *(int *)s_field(spec, key) = (int)v;
        break;
    case S_T_I64:
        rc = s_get_int(ctx, node, key->path, key->min, key->max, &v);
        if (!rc)
            *(int64_t *)s_field(spec, key) = v;
        break;
    case S_T_REAL:
        rc = s_get_real(ctx, node, key->path, key->rmin, key->rmax, &d);
        if (!rc)
            *(double *)s_field(spec, key) = d;
        break;
    case S_T_BOOL: {
        static const char *const words[] = {"false", "False", "FALSE", "true",
                                            "True",  "TRUE",  NULL};
        char got[80];

        for (iv = 0; words[iv] && !(s_plain(node) && !strcmp(s_text(node), words[iv])); iv++)
            ;
        if (!words[iv])
            return s_fail(ctx, node->start_mark, "%s must be true or false, got %s", key->path,
                          s_got(node, got, sizeof(got)));
        *(bool *)s_field(spec, key) = iv >= 3;
        break;
    }
    case S_T_ENUM:
        rc = s_get_enum(ctx, node, key->path, key->names, &iv);
        if (!rc)
            *(int *)s_field(spec, key) = iv;
        break;
    default:
        rc = key->apply(ctx, spec, key, node);
        break;
    }
    if (rc)
        return rc;
    spec->set |= S_BIT(id);
    spec->mark[id] = node->start_mark;
    return 0;
}

static int
s_apply_name(s_ctx_t *ctx, s_spec_t *spec, const s_key_t *key, yaml_node_t *node)
{
    const char *s = NULL;
    char got[80];
    int rc;

    if (ctx->flags & S_F_INLINE)
        return s_fail(ctx, node->start_mark,
                      "name belongs to the sweep, not to its base: the jobs are named "
                      "<sweep>-<hash>-r<repeat>");
    rc = s_get_string(ctx, node, "name", "a name of letters, digits, '.', '_' and '-'", &s);
    if (rc)
        return rc;
    if (!s_name_ok(s, AD_JOB_NAME_MAX))
        return s_fail(ctx, node->start_mark,
                      "name must be 1 to %d letters, digits, '.', '_' or '-', starting with a "
                      "letter or digit, got %s",
                      AD_JOB_NAME_MAX, s_got(node, got, sizeof(got)));
    free(spec->job.name);
    spec->job.name = ad_strdup(s);
    return 0;
}

/* Back to fashion-mnist with every dataset option at its default. */
static void
s_dataset_reset(s_spec_t *spec)
{
    free(spec->job.dataset.path);
    memset(&spec->job.dataset, 0, sizeof(spec->job.dataset));
    spec->job.dataset.channels = 3;
    spec->job.dataset.height = 32;
    spec->job.dataset.width = 32;
    spec->job.dataset.classes = 10;
    spec->job.dataset.samples = 50000;
    spec->job.dataset.image_size = 224;
    spec->set &= ~S_GROUP_DATASET;
}

static int
s_apply_dataset(s_ctx_t *ctx, s_spec_t *spec, const s_key_t *key, yaml_node_t *node)
{
    static const char expected[] = "dataset must be fashion-mnist, synthetic, "
                                   "{synthetic: {shape: [C, H, W], classes: K, samples: N}} or "
                                   "{imagefolder: PATH}";
    yaml_node_pair_t *pair;
    yaml_node_t *k, *v;
    char got[80];
    int kind, rc;

    s_dataset_reset(spec);
    if (node->type == YAML_SCALAR_NODE) {
        if (!strcmp(s_text(node), "imagefolder"))
            return s_fail(ctx, node->start_mark,
                          "dataset imagefolder needs its folder: dataset: {imagefolder: PATH}");
        if (!strcmp(s_text(node), "fashion-mnist") || !strcmp(s_text(node), "synthetic")) {
            spec->job.dataset.kind =
                s_text(node)[0] == 'f' ? AD_JOB_DATA_FASHION_MNIST : AD_JOB_DATA_SYNTHETIC;
            return 0;
        }
        return s_fail(ctx, node->start_mark, "%s, got %s", expected, s_got(node, got, sizeof(got)));
    }
    if (node->type != YAML_MAPPING_NODE ||
        node->data.mapping.pairs.top == node->data.mapping.pairs.start)
        return s_fail(ctx, node->start_mark, "%s, got %s", expected,
                      node->type == YAML_MAPPING_NODE ? "an empty mapping"
                                                      : s_got(node, got, sizeof(got)));
    pair = node->data.mapping.pairs.start;
    if (pair + 1 < node->data.mapping.pairs.top) {
        k = yaml_document_get_node(ctx->doc, pair[1].key);
        return s_fail(ctx, k->start_mark, "dataset names one kind, got a second key %s",
                      s_got(k, got, sizeof(got)));
    }
    k = yaml_document_get_node(ctx->doc, pair->key);
    v = yaml_document_get_node(ctx->doc, pair->value);
    if (k->type != YAML_SCALAR_NODE ||
        (strcmp(s_text(k), "synthetic") && strcmp(s_text(k), "imagefolder"))) {
        if (k->type == YAML_SCALAR_NODE && !strcmp(s_text(k), "fashion-mnist"))
            return s_fail(ctx, k->start_mark,
                          "fashion-mnist takes no options here: write dataset: fashion-mnist "
                          "and data_dir: DIR for its folder");
        return s_fail(ctx, k->start_mark, "%s, got the key %s", expected,
                      s_got(k, got, sizeof(got)));
    }
    kind = !strcmp(s_text(k), "synthetic") ? AD_JOB_DATA_SYNTHETIC : AD_JOB_DATA_IMAGEFOLDER;
    spec->job.dataset.kind = kind;
    if (kind == AD_JOB_DATA_SYNTHETIC) {
        if (s_is_null(v))
            return 0;
        if (v->type != YAML_MAPPING_NODE)
            return s_fail(ctx, v->start_mark,
                          "dataset.synthetic must be a mapping {shape: [C, H, W], classes: K, "
                          "samples: N}, got %s",
                          s_got(v, got, sizeof(got)));
        return s_apply_map(ctx, spec, v, "dataset.synthetic");
    }
    if (v->type == YAML_SCALAR_NODE)
        return s_apply_key(ctx, spec, &s_keys[S_K_IMG_PATH], v);
    if (v->type != YAML_MAPPING_NODE)
        return s_fail(ctx, v->start_mark,
                      "dataset.imagefolder must be a folder or {path: PATH, image_size: S}, "
                      "got %s",
                      s_got(v, got, sizeof(got)));
    rc = s_apply_map(ctx, spec, v, "dataset.imagefolder");
    if (rc)
        return rc;
    if (!(spec->set & S_BIT(S_K_IMG_PATH)))
        return s_fail(ctx, v->start_mark, "dataset.imagefolder needs path: its folder");
    return 0;
}

static int
s_apply_shape(s_ctx_t *ctx, s_spec_t *spec, const s_key_t *key, yaml_node_t *node)
{
    static const char *const what[3] = {"dataset.synthetic.shape[0] (channels)",
                                        "dataset.synthetic.shape[1] (height)",
                                        "dataset.synthetic.shape[2] (width)"};
    static const int64_t max[3] = {64, 4096, 4096};
    int64_t v[3];
    char got[80];
    int rc;

    if (node->type != YAML_SEQUENCE_NODE ||
        node->data.sequence.items.top - node->data.sequence.items.start != 3)
        return s_fail(ctx, node->start_mark,
                      "dataset.synthetic.shape must be a list [C, H, W] of three integers, got %s",
                      node->type == YAML_SEQUENCE_NODE ? "a list of another length"
                                                       : s_got(node, got, sizeof(got)));
    for (int i = 0; i < 3; i++) {
        yaml_node_t *item = yaml_document_get_node(ctx->doc, node->data.sequence.items.start[i]);

        rc = s_get_int(ctx, item, what[i], 1, max[i], &v[i]);
        if (rc)
            return rc;
    }
    spec->job.dataset.channels = (int)v[0];
    spec->job.dataset.height = (int)v[1];
    spec->job.dataset.width = (int)v[2];
    return 0;
}

/* A folder: "~/" is the home folder, relative paths start at ctx->dir; it must exist. */
static int
s_apply_path(s_ctx_t *ctx, s_spec_t *spec, const s_key_t *key, yaml_node_t *node)
{
    char joined[PATH_MAX + 1], real[PATH_MAX + 1], got[80];
    const char *s = NULL, *home = getenv("HOME");
    char **out = s_key_id(key) == S_K_DATA_DIR ? &spec->job.data_dir : &spec->job.dataset.path;
    struct stat st;
    int rc, n;

    rc = s_get_string(ctx, node, key->path, "a folder", &s);
    if (rc)
        return rc;
    if (!strncmp(s, "~/", 2) && home && *home)
        n = snprintf(joined, sizeof(joined), "%s/%s", home, s + 2);
    else if (s[0] != '/' && ctx->dir && !(ctx->flags & S_F_NOFS))
        n = snprintf(joined, sizeof(joined), "%s/%s", ctx->dir, s);
    else
        n = snprintf(joined, sizeof(joined), "%s", s);
    if (n < 0 || (size_t)n >= sizeof(joined))
        return s_fail(ctx, node->start_mark, "%s must be a folder, got a path too long (%s)",
                      key->path, s_got(node, got, sizeof(got)));
    if (ctx->flags & S_F_NOFS) {
        if (joined[0] != '/')
            return s_fail(ctx, node->start_mark, "%s must be an absolute path in JSON, got %s",
                          key->path, s_got(node, got, sizeof(got)));
        snprintf(real, sizeof(real), "%s", joined);
    } else if (!realpath(joined, real) || stat(real, &st)) {
        const char *why = strerror(errno);

        return s_fail(ctx, node->start_mark, "%s must be an existing folder, got %s (%s: %s)",
                      key->path, s_got(node, got, sizeof(got)), joined, why);
    } else if (!S_ISDIR(st.st_mode)) {
        return s_fail(ctx, node->start_mark, "%s must be a folder, got %s (%s is not a folder)",
                      key->path, s_got(node, got, sizeof(got)), real);
    }
    free(*out);
    *out = ad_strdup(real);
    return 0;
}

/* epochs and steps; in a grid, giving one drops the base's other. */
static int
s_apply_length(s_ctx_t *ctx, s_spec_t *spec, const s_key_t *key, yaml_node_t *node)
{
    bool epochs = s_key_id(key) == S_K_EPOCHS;
    int64_t v;
    int rc;

    rc = s_get_int(ctx, node, key->path, 1, epochs ? AD_JOB_EPOCHS_MAX : AD_JOB_STEPS_MAX, &v);
    if (rc)
        return rc;
    if (epochs)
        spec->job.epochs = v;
    else
        spec->job.steps = v;
    if (ctx->flags & S_F_OVERRIDE) {
        if (epochs)
            spec->job.steps = 0;
        else
            spec->job.epochs = 0;
        spec->set &= ~S_GROUP_LENGTH;
    }
    return 0;
}

static int
s_apply_optim(s_ctx_t *ctx, s_spec_t *spec, const s_key_t *key, yaml_node_t *node)
{
    char got[80];

    if (node->type != YAML_MAPPING_NODE)
        return s_fail(ctx, node->start_mark,
                      "optimizer must be a mapping such as {type: sgd, lr: 0.05, momentum: 0.9, "
                      "weight_decay: 0}, got %s",
                      s_got(node, got, sizeof(got)));
    memset(&spec->job.optimizer, 0, sizeof(spec->job.optimizer));
    spec->set &= ~S_GROUP_OPTIM;
    return s_apply_map(ctx, spec, node, "optimizer");
}

static int
s_apply_layout(s_ctx_t *ctx, s_spec_t *spec, const s_key_t *key, yaml_node_t *node)
{
    static const int leaf[3] = {S_K_NODES, S_K_PPN, S_K_TPP};
    char got[80], missing[80] = "";
    size_t n = 0;
    int rc;

    memset(&spec->job.layout, 0, sizeof(spec->job.layout));
    spec->set &= ~S_GROUP_LAYOUT;
    if (node->type == YAML_SCALAR_NODE && !strcmp(s_text(node), "auto")) {
        spec->job.layout.is_auto = true;
        return 0;
    }
    if (node->type != YAML_MAPPING_NODE)
        return s_fail(ctx, node->start_mark,
                      "layout must be auto or {nodes: N, procs_per_node: P, threads_per_proc: "
                      "T}, got %s",
                      s_got(node, got, sizeof(got)));
    rc = s_apply_map(ctx, spec, node, "layout");
    if (rc)
        return rc;
    for (int i = 0; i < 3; i++)
        if (!(spec->set & S_BIT(leaf[i])))
            n += (size_t)snprintf(missing + n, sizeof(missing) - n, "%s%s", n ? ", " : "",
                                  s_child_name(&s_keys[leaf[i]], "layout"));
    if (n)
        return s_fail(ctx, node->start_mark,
                      "layout needs nodes, procs_per_node and threads_per_proc, missing %s",
                      missing);
    return 0;
}

/* layout.nodes, layout.procs_per_node, layout.threads_per_proc: giving one makes it explicit. */
static int
s_apply_count(s_ctx_t *ctx, s_spec_t *spec, const s_key_t *key, yaml_node_t *node)
{
    int64_t v;
    int rc;

    rc = s_get_int(ctx, node, key->path, key->min, key->max, &v);
    if (rc)
        return rc;
    *(int *)s_field(spec, key) = (int)v;
    spec->job.layout.is_auto = false;
    return 0;
}

static int
s_apply_time(s_ctx_t *ctx, s_spec_t *spec, const s_key_t *key, yaml_node_t *node)
{
    char got[80];

    if (node->type == YAML_SCALAR_NODE && s_parse_duration(s_text(node), &spec->job.time_limit_s))
        return 0;
    return s_fail(ctx, node->start_mark,
                  "time_limit must be a duration such as 90s, 30m, 2h or 1h30m, or seconds, "
                  "from 1 second to 365 days, got %s",
                  s_got(node, got, sizeof(got)));
}

/* Fail on a key given twice in one mapping; what is e.g. "key optimizer." or "grid key ". */
static int
s_dup_key(const s_ctx_t *ctx, const yaml_node_t *map, const yaml_node_pair_t *p, const char *what)
{
    yaml_node_t *k = yaml_document_get_node(ctx->doc, p->key);

    if (k->type != YAML_SCALAR_NODE)
        return 0;
    for (const yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
        yaml_node_t *prev = yaml_document_get_node(ctx->doc, q->key);

        if (prev->type == YAML_SCALAR_NODE && !strcmp(s_text(prev), s_text(k)))
            return s_fail(ctx, k->start_mark, "duplicate %s%s (first given at line %zu)", what,
                          s_text(k), prev->start_mark.line + 1);
    }
    return 0;
}

/* Read every key of a mapping whose keys are the children of prefix ("" = a job). */
static int
s_apply_map(s_ctx_t *ctx, s_spec_t *spec, yaml_node_t *map, const char *prefix)
{
    char got[80], what[64];
    int rc;

    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(ctx->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(ctx->doc, p->value);
        const s_key_t *key;

        if (k->type != YAML_SCALAR_NODE)
            return s_fail(ctx, k->start_mark, "keys must be names, got %s",
                          s_got(k, got, sizeof(got)));
        snprintf(what, sizeof(what), "key %s%s", prefix, *prefix ? "." : "");
        rc = s_dup_key(ctx, map, p, what);
        if (rc)
            return rc;
        key = s_key_child(prefix, s_text(k));
        if (!key)
            return s_unknown_key(ctx, k, prefix, false);
        rc = s_apply_key(ctx, spec, key, v);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Specs: defaults, checks across keys, copies.                                             */

static void
s_spec_init(s_spec_t *spec)
{
    memset(spec, 0, sizeof(*spec));
    s_dataset_reset(spec);
    spec->job.seed = 1;
    spec->job.layout.is_auto = true;
    spec->job.bucket_mb = 2.0;
}

static void
s_spec_clear(s_spec_t *spec)
{
    ad_job_clear(&spec->job);
}

static void
s_spec_dup(s_spec_t *dst, const s_spec_t *src)
{
    *dst = *src;
    ad_job_copy(&dst->job, &src->job);
}

/*
 * Fill in what depends on other keys: the length, the optimiser's defaults,
 * and zeros for options of another dataset or an auto layout.  Never fails.
 */
static void
s_resolve(s_spec_t *spec)
{
    ad_job_t *j = &spec->job;

    if (!j->epochs && !j->steps)
        j->epochs = 1;
    if (j->optimizer.type == AD_JOB_OPTIM_ADAM) {
        j->optimizer.momentum = 0;
        if (!(spec->set & S_BIT(S_K_OPT_LR)))
            j->optimizer.lr = 0.001;
    } else {
        if (!(spec->set & S_BIT(S_K_OPT_LR)))
            j->optimizer.lr = 0.05;
        if (!(spec->set & S_BIT(S_K_OPT_MOMENTUM)))
            j->optimizer.momentum = 0.9;
    }
    if (j->dataset.kind != AD_JOB_DATA_SYNTHETIC) {
        j->dataset.channels = j->dataset.height = j->dataset.width = 0;
        j->dataset.classes = 0;
        j->dataset.samples = 0;
    }
    if (j->dataset.kind != AD_JOB_DATA_IMAGEFOLDER)
        j->dataset.image_size = 0;
    if (j->layout.is_auto)
        j->layout.nodes = j->layout.procs_per_node = j->layout.threads_per_proc = 0;
}

/* The later of two given keys in the file, for "not both" messages. */
static int
s_later(const s_spec_t *spec, int a, int b)
{
    return spec->mark[a].index > spec->mark[b].index ? a : b;
}

/*
 * Rules across keys.  Returns 0, or AD_EPARSE with msg and *bad set to the
 * key at fault (-1: a required key is missing, said at the job's start).
 */
static int
s_check(const s_spec_t *spec, unsigned flags, int *bad, char *msg, size_t len)
{
    static const int leaf[3] = {S_K_NODES, S_K_PPN, S_K_TPP};
    const ad_job_t *j = &spec->job;
    uint32_t set = spec->set;

    *bad = -1;
    if (!(set & S_BIT(S_K_NAME)) && !(flags & S_F_BASE)) {
        snprintf(msg, len, "name is required (letters, digits, '.', '_' and '-', at most %d)",
                 AD_JOB_NAME_MAX);
        return AD_EPARSE;
    }
    if (!(set & S_BIT(S_K_MODEL))) {
        snprintf(msg, len,
                 "model is required, expected one of mlp, lenet5, cnn, resnet18, "
                 "mobilenet_v2");
        return AD_EPARSE;
    }
    if (!(set & S_BIT(S_K_DATASET))) {
        snprintf(msg, len,
                 "dataset is required, expected fashion-mnist, synthetic, {synthetic: "
                 "{...}} or {imagefolder: PATH}");
        return AD_EPARSE;
    }
    if (!(set & S_BIT(S_K_BATCH))) {
        snprintf(msg, len, "batch_size is required (the global batch, a positive integer)");
        return AD_EPARSE;
    }
    if ((set & S_GROUP_LENGTH) == S_GROUP_LENGTH) {
        *bad = s_later(spec, S_K_EPOCHS, S_K_STEPS);
        snprintf(msg, len, "give epochs or steps, not both (%s is at line %zu)",
                 *bad == S_K_EPOCHS ? "steps" : "epochs",
                 spec->mark[*bad == S_K_EPOCHS ? S_K_STEPS : S_K_EPOCHS].line + 1);
        return AD_EPARSE;
    }
    if (j->optimizer.type == AD_JOB_OPTIM_ADAM && (set & S_BIT(S_K_OPT_MOMENTUM))) {
        *bad = S_K_OPT_MOMENTUM;
        snprintf(msg, len, "optimizer.momentum applies to sgd only, but optimizer.type is adam");
        return AD_EPARSE;
    }
    if (j->data_dir && j->dataset.kind != AD_JOB_DATA_FASHION_MNIST) {
        *bad = S_K_DATA_DIR;
        snprintf(msg, len, "data_dir is the fashion-mnist folder, but the dataset is %s%s",
                 s_datasets[j->dataset.kind],
                 j->dataset.kind == AD_JOB_DATA_IMAGEFOLDER
                     ? " (its folder goes in dataset: {imagefolder: PATH})"
                     : "");
        return AD_EPARSE;
    }
    if (!j->layout.is_auto) {
        char missing[80] = "";
        size_t n = 0;

        for (int i = 0; i < 3; i++)
            if (!(set & S_BIT(leaf[i]))) {
                n += (size_t)snprintf(missing + n, sizeof(missing) - n, "%s%s", n ? ", " : "",
                                      s_keys[leaf[i]].path);
            } else if (*bad < 0) {
                *bad = leaf[i];
            }
        if (n) {
            snprintf(msg, len,
                     "layout needs nodes, procs_per_node and threads_per_proc, missing %s (the "
                     "base layout is auto: vary all three or give the base a layout)",
                     missing);
            return AD_EPARSE;
        }
        if ((int64_t)j->layout.nodes * j->layout.procs_per_node > j->batch_size) {
            *bad = S_K_BATCH;
            snprintf(msg, len,
                     "batch_size %d is smaller than the %" PRId64 " processes of the layout "
                     "(nodes x procs_per_node); each process needs at least one sample",
                     j->batch_size, (int64_t)j->layout.nodes * j->layout.procs_per_node);
            return AD_EPARSE;
        }
    }
    *bad = -1;
    return 0;
}

/* Check spec and say where a problem is in a job file; 0 or AD_EPARSE. */
static int
s_check_located(s_ctx_t *ctx, const s_spec_t *spec)
{
    char msg[400];
    int bad;

    if (!s_check(spec, ctx->flags, &bad, msg, sizeof(msg)))
        return 0;
    return s_fail(ctx, bad >= 0 ? spec->mark[bad] : spec->start, "%s", msg);
}

/* ---------------------------------------------------------------------------------------- */
/* Reading files and documents.                                                             */

static int
s_read_file(const char *path, const char *what, char **text, size_t *len, ad_err_t *err)
{
    struct stat st;
    size_t got = 0;
    ssize_t n;
    char *buf;
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ad_err_set(err, -errno, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st)) {
        rc = ad_err_set(err, -errno, "%s: %s", path, strerror(errno));
        goto out_close;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = ad_err_set(err, -EISDIR, "%s: is a folder, expected a %s", path, what);
        goto out_close;
    }
    if (st.st_size > S_FILE_MAX) {
        rc = ad_err_set(err, AD_EPARSE, "%s: %lld bytes is too large for a %s (at most %d)", path,
                        (long long)st.st_size, what, S_FILE_MAX);
        goto out_close;
    }
    buf = ad_malloc(S_FILE_MAX + 1);
    while ((n = read(fd, buf + got, S_FILE_MAX + 1 - got)) > 0)
        got += (size_t)n;
    if (n < 0) {
        rc = ad_err_set(err, -errno, "%s: %s", path, strerror(errno));
        free(buf);
        goto out_close;
    }
    if (got > S_FILE_MAX) {
        rc = ad_err_set(err, AD_EPARSE, "%s: too large for a %s (at most %d bytes)", path, what,
                        S_FILE_MAX);
        free(buf);
        goto out_close;
    }
    buf[got] = '\0';
    *text = buf;
    *len = got;
    rc = 0;
out_close:
    close(fd);
    return rc;
}

/* The folder of a file path, for relative paths inside it; the caller frees it. */
static char *
s_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;

    if (!slash)
        return ad_strdup(".");
    if (slash == path)
        return ad_strdup("/");
    dir = ad_malloc((size_t)(slash - path) + 1);
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    return dir;
}

/* Translate a libyaml failure into one located line. */
static int
s_yaml_error(const s_ctx_t *ctx, const yaml_parser_t *parser)
{
    yaml_mark_t mark = parser->problem_mark;
    const char *problem = parser->problem ? parser->problem : "unknown error";

    if (parser->error == YAML_MEMORY_ERROR)
        ad_oom(0);
    if (parser->error == YAML_READER_ERROR) {
        mark = s_offset_mark(ctx->text, ctx->len, parser->problem_offset);
        if (parser->problem_value >= 0)
            return s_fail(ctx, mark, "invalid YAML: %s (byte 0x%02x)", problem,
                          parser->problem_value & 0xff);
        return s_fail(ctx, mark, "invalid YAML: %s", problem);
    }
    if (mark.index < ctx->len && ctx->text[mark.index] == '\t')
        return s_fail(ctx, mark,
                      "tab character in indentation, expected spaces (YAML indents "
                      "with spaces only)");
    /* libyaml puts the end of the stream on a line of its own; say where the text ends. */
    if (mark.index >= ctx->len)
        mark = s_offset_mark(ctx->text, ctx->len, ctx->len);
    if (parser->context && mark.index >= ctx->len)
        return s_fail(ctx, mark,
                      "invalid YAML: %s %s started at line %zu, column %zu; is the "
                      "file truncated?",
                      problem, parser->context, parser->context_mark.line + 1,
                      parser->context_mark.column + 1);
    if (parser->context)
        return s_fail(ctx, mark, "invalid YAML: %s %s started at line %zu, column %zu", problem,
                      parser->context, parser->context_mark.line + 1,
                      parser->context_mark.column + 1);
    if (mark.index >= ctx->len)
        return s_fail(ctx, mark, "invalid YAML: %s; is the file truncated?", problem);
    return s_fail(ctx, mark, "invalid YAML: %s", problem);
}

/*
 * Load the one YAML document of ctx->text into doc and return its root
 * mapping in *root.  what names the file's kind in messages.  On failure doc
 * is deleted; on success the caller deletes it.
 */
static int
s_load_doc(s_ctx_t *ctx, yaml_document_t *doc, const char *what, const char *keys,
           yaml_node_t **root)
{
    yaml_parser_t parser;
    yaml_document_t extra;
    yaml_node_t *r, *r2;
    yaml_mark_t origin = {0, 0, 0};
    char got[80];
    int rc = 0;

    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)ctx->text, ctx->len);
    if (!yaml_parser_load(&parser, doc)) {
        rc = s_yaml_error(ctx, &parser);
        goto out_parser;
    }
    ctx->doc = doc;
    r = yaml_document_get_root_node(doc);
    if (!r) {
        rc = s_fail(ctx, origin, "empty %s, expected a mapping of %s", what, keys);
        goto err_delete;
    }
    if (!yaml_parser_load(&parser, &extra)) {
        rc = s_yaml_error(ctx, &parser);
        goto err_delete;
    }
    r2 = yaml_document_get_root_node(&extra);
    if (r2)
        rc = s_fail(ctx, r2->start_mark,
                    "a %s holds one YAML document, found a second one (remove the '---' line)",
                    what);
    yaml_document_delete(&extra);
    if (rc)
        goto err_delete;
    if (r->type != YAML_MAPPING_NODE) {
        rc = s_fail(ctx, r->start_mark, "a %s must be a mapping of %s, got %s", what, keys,
                    s_got(r, got, sizeof(got)));
        goto err_delete;
    }
    *root = r;
    goto out_parser;
err_delete:
    yaml_document_delete(doc);
out_parser:
    yaml_parser_delete(&parser);
    return rc;
}

/* Read a job mapping into a fresh spec; spec is cleared on failure. */
static int
s_spec_parse_node(s_ctx_t *ctx, yaml_node_t *map, s_spec_t *spec)
{
    int rc;

    s_spec_init(spec);
    spec->start = map->start_mark;
    rc = s_apply_map(ctx, spec, map, "");
    if (!rc)
        rc = s_check_located(ctx, spec);
    if (rc)
        s_spec_clear(spec);
    return rc;
}

static const char s_job_keys[] = "job keys (name, model, dataset, batch_size, ...)";

/* Parse a whole job text into spec (validated, defaults not yet resolved). */
static int
s_spec_parse_text(const char *text, size_t len, const char *file, const char *dir, unsigned flags,
                  s_spec_t *spec, ad_err_t *err)
{
    s_ctx_t ctx = {file, text, len, NULL, dir, flags, NULL, err};
    yaml_document_t doc;
    yaml_node_t *root;
    int rc;

    rc = s_load_doc(&ctx, &doc, "job file", s_job_keys, &root);
    if (rc)
        return rc;
    rc = s_spec_parse_node(&ctx, root, spec);
    yaml_document_delete(&doc);
    return rc;
}

/* Resolve a copy of spec into job, which gets its own strings. */
static void
s_spec_to_job(const s_spec_t *spec, ad_job_t *job)
{
    s_spec_t tmp = *spec;

    s_resolve(&tmp);
    ad_job_copy(job, &tmp.job);
}

static int
s_job_parse(const char *text, size_t len, const char *file, const char *dir, unsigned flags,
            ad_job_t *job, ad_err_t *err)
{
    s_spec_t spec;
    int rc;

    memset(job, 0, sizeof(*job));
    rc = s_spec_parse_text(text, len, file, dir, flags, &spec, err);
    if (rc)
        return rc;
    s_spec_to_job(&spec, job);
    s_spec_clear(&spec);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Jobs: the public API.                                                                    */

int
ad_job_parse_file(const char *path, ad_job_t *job, ad_err_t *err)
{
    char *text, *dir;
    size_t len;
    int rc;

    assert(path && job);
    memset(job, 0, sizeof(*job));
    rc = s_read_file(path, "job file", &text, &len, err);
    if (rc)
        return rc;
    dir = s_dirname(path);
    rc = s_job_parse(text, len, path, dir, 0, job, err);
    free(dir);
    free(text);
    return rc;
}

int
ad_job_parse_string(const char *text, const char *name_for_errors, ad_job_t *job, ad_err_t *err)
{
    assert(text && job);
    return s_job_parse(text, strlen(text), name_for_errors ? name_for_errors : "<string>", NULL, 0,
                       job, err);
}

void
ad_job_clear(ad_job_t *job)
{
    if (!job)
        return;
    free(job->name);
    free(job->dataset.path);
    free(job->data_dir);
    memset(job, 0, sizeof(*job));
}

void
ad_job_copy(ad_job_t *dst, const ad_job_t *src)
{
    assert(dst && src);
    if (dst == src)
        return;
    *dst = *src;
    dst->name = src->name ? ad_strdup(src->name) : NULL;
    dst->dataset.path = src->dataset.path ? ad_strdup(src->dataset.path) : NULL;
    dst->data_dir = src->data_dir ? ad_strdup(src->data_dir) : NULL;
}

static json_t *
s_dataset_json(const ad_job_t *j)
{
    switch (j->dataset.kind) {
    case AD_JOB_DATA_SYNTHETIC:
        return json_pack("{s:{s:[iii],s:i,s:I}}", "synthetic", "shape", j->dataset.channels,
                         j->dataset.height, j->dataset.width, "classes", j->dataset.classes,
                         "samples", (json_int_t)j->dataset.samples);
    case AD_JOB_DATA_IMAGEFOLDER:
        return json_pack("{s:{s:s,s:i}}", "imagefolder", "path",
                         j->dataset.path ? j->dataset.path : "", "image_size",
                         j->dataset.image_size);
    default:
        return json_string("fashion-mnist");
    }
}

/*
 * The JSON of the keys in mask.  With S_ALL and a resolved job it is the
 * canonical form; with a spec's set bits it is what a sweep's base gave.
 */
static json_t *
s_job_json(const ad_job_t *j, uint32_t mask)
{
    json_t *o = json_object();

#define S_HAS(id) (mask & S_BIT(id))
    if (S_HAS(S_K_NAME) && j->name)
        json_object_set_new(o, "name", json_string(j->name));
    if (S_HAS(S_K_MODEL))
        json_object_set_new(o, "model", json_string(s_models[j->model]));
    if (mask & S_GROUP_DATASET)
        json_object_set_new(o, "dataset", s_dataset_json(j));
    if (S_HAS(S_K_DATA_DIR) && j->data_dir)
        json_object_set_new(o, "data_dir", json_string(j->data_dir));
    if (S_HAS(S_K_EPOCHS) && j->epochs)
        json_object_set_new(o, "epochs", json_integer(j->epochs));
    if (S_HAS(S_K_STEPS) && j->steps)
        json_object_set_new(o, "steps", json_integer(j->steps));
    if (S_HAS(S_K_BATCH))
        json_object_set_new(o, "batch_size", json_integer(j->batch_size));
    if (mask & S_GROUP_OPTIM) {
        json_t *opt = json_object();

        if (S_HAS(S_K_OPT_TYPE))
            json_object_set_new(opt, "type", json_string(s_optims[j->optimizer.type]));
        if (S_HAS(S_K_OPT_LR))
            json_object_set_new(opt, "lr", json_real(j->optimizer.lr));
        if (S_HAS(S_K_OPT_MOMENTUM) && j->optimizer.type == AD_JOB_OPTIM_SGD)
            json_object_set_new(opt, "momentum", json_real(j->optimizer.momentum));
        if (S_HAS(S_K_OPT_WD))
            json_object_set_new(opt, "weight_decay", json_real(j->optimizer.weight_decay));
        json_object_set_new(o, "optimizer", opt);
    }
    if (S_HAS(S_K_SEED))
        json_object_set_new(o, "seed", json_integer(j->seed));
    if (S_HAS(S_K_DEVICE))
        json_object_set_new(o, "device", json_string(s_devices[j->device]));
    if (mask & S_GROUP_LAYOUT)
        json_object_set_new(o, "layout",
                            j->layout.is_auto
                                ? json_string("auto")
                                : json_pack("{s:i,s:i,s:i}", "nodes", j->layout.nodes,
                                            "procs_per_node", j->layout.procs_per_node,
                                            "threads_per_proc", j->layout.threads_per_proc));
    if (S_HAS(S_K_EVAL))
        json_object_set_new(o, "eval", json_boolean(j->eval));
    if (S_HAS(S_K_CKPT) && j->checkpoint_every)
        json_object_set_new(o, "checkpoint_every", json_integer(j->checkpoint_every));
    if (S_HAS(S_K_BUCKET))
        json_object_set_new(o, "bucket_mb", json_real(j->bucket_mb));
    if (S_HAS(S_K_TIME) && j->time_limit_s)
        json_object_set_new(o, "time_limit", json_integer(j->time_limit_s));
#undef S_HAS
    return o;
}

/* Dump a JSON value canonically and release it; never NULL. */
static char *
s_dump(json_t *value)
{
    char *s = json_dumps(value, S_JSON_FLAGS | JSON_ENCODE_ANY);

    json_decref(value);
    if (!s)
        ad_oom(0);
    return s;
}

char *
ad_job_to_json(const ad_job_t *job)
{
    assert(job);
    return s_dump(s_job_json(job, S_ALL));
}

int
ad_job_from_json(const char *json, ad_job_t *job, ad_err_t *err)
{
    json_error_t jerr;
    json_t *root;

    assert(json && job);
    memset(job, 0, sizeof(*job));
    /* jansson says whether it is JSON; libyaml then reads it with the job file's rules. */
    root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return ad_err_set(err, AD_EPARSE, "<json>:%d:%d: %s", jerr.line, jerr.column, jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return ad_err_set(err, AD_EPARSE, "<json>:1:1: a job must be a JSON object");
    }
    json_decref(root);
    return s_job_parse(json, strlen(json), "<json>", NULL, S_F_NOFS, job, err);
}

/*
 * FNV-1a over the text, then MurmurHash3's fmix64: FNV alone changes few bits
 * when two texts differ near their end (a seed, a batch size), and job names
 * keep only 12 of the 16 digits.
 */
static uint64_t
s_fnv1a(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001b3);
    }
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

static void
s_hash_hex(const char *s, char out[17])
{
    snprintf(out, 17, "%016" PRIx64, s_fnv1a(s));
}

void
ad_job_hash(const ad_job_t *job, char out[17])
{
    char *s;

    assert(job && out);
    s = s_dump(s_job_json(job, S_ALL & ~S_BIT(S_K_NAME)));
    s_hash_hex(s, out);
    free(s);
}

const char *
ad_job_model_name(ad_job_model_t model)
{
    return model >= AD_JOB_MODEL_MLP && model <= AD_JOB_MODEL_MOBILENET_V2 ? s_models[model]
                                                                           : "unknown";
}

const char *
ad_job_dataset_name(ad_job_data_t kind)
{
    return kind >= AD_JOB_DATA_FASHION_MNIST && kind <= AD_JOB_DATA_IMAGEFOLDER ? s_datasets[kind]
                                                                                : "unknown";
}

const char *
ad_job_optim_name(ad_job_optim_t type)
{
    return type == AD_JOB_OPTIM_SGD || type == AD_JOB_OPTIM_ADAM ? s_optims[type] : "unknown";
}

const char *
ad_job_device_name(ad_job_device_t device)
{
    return device >= AD_JOB_DEVICE_CPU && device <= AD_JOB_DEVICE_AUTO ? s_devices[device]
                                                                       : "unknown";
}

char *
ad_job_dataset_label(const ad_job_t *job, char *buf, size_t cap)
{
    const char *base;

    assert(job && buf && cap > 0);
    switch (job->dataset.kind) {
    case AD_JOB_DATA_SYNTHETIC:
        snprintf(buf, cap, "synthetic-%dx%dx%d", job->dataset.channels, job->dataset.height,
                 job->dataset.width);
        break;
    case AD_JOB_DATA_IMAGEFOLDER:
        base = job->dataset.path ? strrchr(job->dataset.path, '/') : NULL;
        snprintf(buf, cap, "imagefolder-%s-%d", base && base[1] ? base + 1 : "images",
                 job->dataset.image_size);
        break;
    default:
        snprintf(buf, cap, "%s", ad_job_dataset_name(job->dataset.kind));
        break;
    }
    return buf;
}

void
ad_job_argv_free(char ***argv_p)
{
    if (!argv_p || !*argv_p)
        return;
    for (char **a = *argv_p; *a; a++)
        free(*a);
    free(*argv_p);
    *argv_p = NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Sweeps.                                                                                  */

/* One grid key and its values. */
typedef struct {
    const s_key_t *key; /* the job key it varies */
    int n;              /* number of values */
    yaml_mark_t at;     /* where the key is, for messages */
    s_spec_t *patch;    /* the base with value j applied; owns its strings */
    json_t *values;     /* the canonical values, a JSON array */
} s_axis_t;

struct ad_sweep {
    char *name;          /* the sweep's name */
    char *file;          /* name used in messages */
    s_spec_t base;       /* the base job as given, defaults unresolved; owns its strings */
    int naxes;           /* grid keys */
    s_axis_t *axes;      /* sorted by path; axes[0] varies slowest */
    int64_t grid;        /* product of the list lengths */
    int64_t configs;     /* grid, or random.samples */
    int64_t *picks;      /* random: the sampled grid indices, ascending; NULL otherwise */
    int64_t samples;     /* random.samples; 0 without random */
    int64_t rseed;       /* random.seed */
    int repeats;         /* runs of each configuration */
    int64_t max_configs; /* limit on configs x repeats */
    char *json;          /* canonical JSON */
    char hash[17];       /* FNV-1a of the canonical JSON without max_configs */
};

static const char s_sweep_keys[] = "sweep keys (name, base, grid, random, repeats, max_configs)";

/* Apply the grid values of configuration g (a grid index) to a shallow copy of the base. */
static void
s_compose(const ad_sweep_t *self, int64_t g, s_spec_t *out, int *idx)
{
    *out = self->base;
    for (int a = self->naxes - 1; a >= 0; a--) {
        idx[a] = (int)(g % self->axes[a].n);
        g /= self->axes[a].n;
    }
    for (int a = 0; a < self->naxes; a++) {
        const s_spec_t *src = &self->axes[a].patch[idx[a]];
        int id = s_key_id(self->axes[a].key);
        uint32_t group = S_BIT(id);

        switch (id) {
        case S_K_DATASET:
            out->job.dataset = src->job.dataset;
            group = S_GROUP_DATASET;
            break;
        case S_K_SYN_SHAPE:
            out->job.dataset.channels = src->job.dataset.channels;
            out->job.dataset.height = src->job.dataset.height;
            out->job.dataset.width = src->job.dataset.width;
            break;
        case S_K_SYN_CLASSES:
            out->job.dataset.classes = src->job.dataset.classes;
            break;
        case S_K_SYN_SAMPLES:
            out->job.dataset.samples = src->job.dataset.samples;
            break;
        case S_K_IMG_PATH:
            out->job.dataset.path = src->job.dataset.path;
            break;
        case S_K_IMG_SIZE:
            out->job.dataset.image_size = src->job.dataset.image_size;
            break;
        case S_K_DATA_DIR:
            out->job.data_dir = src->job.data_dir;
            break;
        case S_K_EPOCHS:
        case S_K_STEPS:
            out->job.epochs = src->job.epochs;
            out->job.steps = src->job.steps;
            group = S_GROUP_LENGTH;
            break;
        case S_K_OPTIM:
            out->job.optimizer = src->job.optimizer;
            group = S_GROUP_OPTIM;
            break;
        case S_K_LAYOUT:
            out->job.layout = src->job.layout;
            group = S_GROUP_LAYOUT;
            break;
        case S_K_NODES:
        case S_K_PPN:
        case S_K_TPP:
            *(int *)((char *)&out->job + s_keys[id].off) =
                *(const int *)((const char *)&src->job + s_keys[id].off);
            out->job.layout.is_auto = false;
            break;
        case S_K_OPT_TYPE:
        case S_K_MODEL:
        case S_K_DEVICE:
        case S_K_BATCH:
            *(int *)((char *)&out->job + s_keys[id].off) =
                *(const int *)((const char *)&src->job + s_keys[id].off);
            break;
        case S_K_OPT_LR:
        case S_K_OPT_MOMENTUM:
        case S_K_OPT_WD:
        case S_K_BUCKET:
            *(double *)((char *)&out->job + s_keys[id].off) =
                *(const double *)((const char *)&src->job + s_keys[id].off);
            break;
        case S_K_SEED:
        case S_K_CKPT:
            *(int64_t *)((char *)&out->job + s_keys[id].off) =
                *(const int64_t *)((const char *)&src->job + s_keys[id].off);
            break;
        case S_K_TIME:
            out->job.time_limit_s = src->job.time_limit_s;
            break;
        case S_K_EVAL:
            out->job.eval = src->job.eval;
            break;
        default:
            assert(!"grid key without a composition rule");
        }
        out->set = (out->set & ~group) | (src->set & group);
        for (int k = 0; k < S_K_COUNT; k++)
            if (group & S_BIT(k))
                out->mark[k] = src->mark[k];
    }
}

/*
 * Check configuration g, and say where a problem is: at the grid value at
 * fault, or else at the first value this configuration changes.
 */
static int
s_sweep_check(const ad_sweep_t *self, int64_t g, ad_err_t *err)
{
    s_ctx_t ctx = {self->file, NULL, 0, NULL, NULL, 0, NULL, err};
    int idx[S_K_COUNT], bad, a, at = 0;
    char msg[400], prefix[160];
    s_spec_t spec;

    s_compose(self, g, &spec, idx);
    if (!s_check(&spec, S_F_BASE, &bad, msg, sizeof(msg)))
        return 0;
    for (a = 0; a < self->naxes; a++)
        if (s_key_id(self->axes[a].key) == bad)
            break;
    if (a < self->naxes) {
        at = a;
    } else {
        for (a = self->naxes - 1; a >= 0; a--)
            if (idx[a])
                at = a;
    }
    if (!self->naxes)
        return s_fail(&ctx, self->base.start, "%s", msg);
    snprintf(prefix, sizeof(prefix), "grid %s value %d: ", self->axes[at].key->path, idx[at] + 1);
    ctx.prefix = prefix;
    return s_fail(&ctx, self->axes[at].patch[idx[at]].mark[s_key_id(self->axes[at].key)], "%s",
                  msg);
}

static uint64_t
s_splitmix(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in [0, n], without modulo bias. */
static uint64_t
s_uniform(uint64_t *state, uint64_t n)
{
    uint64_t r, limit;

    if (n == UINT64_MAX)
        return s_splitmix(state);
    limit = UINT64_MAX - UINT64_MAX % (n + 1);
    do
        r = s_splitmix(state);
    while (r >= limit);
    return r % (n + 1);
}

static int
s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/*
 * Draw k distinct indices of [0, n) uniformly (Floyd's algorithm, with an
 * open-addressing set), sorted ascending.  Depends on seed only.
 */
static int64_t *
s_sample(int64_t n, int64_t k, int64_t seed)
{
    uint64_t state = (uint64_t)seed ^ UINT64_C(0x6a09e667f3bcc909);
    size_t cap = 16, mask;
    int64_t *out = ad_malloc((size_t)k * sizeof(*out)), *set;
    int64_t m = 0;

    while (cap < (size_t)k * 2)
        cap <<= 1;
    mask = cap - 1;
    set = ad_malloc(cap * sizeof(*set));
    for (size_t i = 0; i < cap; i++)
        set[i] = -1;
    for (int64_t j = n - k; j < n; j++) {
        int64_t t = (int64_t)s_uniform(&state, (uint64_t)j), pick = t;
        size_t h = (size_t)(((uint64_t)t * UINT64_C(0x9e3779b97f4a7c15)) >> 7) & mask;

        while (set[h] >= 0 && set[h] != t)
            h = (h + 1) & mask;
        if (set[h] == t) {
            pick = j;
            h = (size_t)(((uint64_t)j * UINT64_C(0x9e3779b97f4a7c15)) >> 7) & mask;
            while (set[h] >= 0)
                h = (h + 1) & mask;
        }
        set[h] = pick;
        out[m++] = pick;
    }
    free(set);
    qsort(out, (size_t)k, sizeof(*out), s_cmp_i64);
    return out;
}

/* The value JSON of an axis at value j: the key's part of the resolved patch. */
static json_t *
s_axis_value(const s_axis_t *axis, int j)
{
    s_spec_t tmp = axis->patch[j];
    json_t *job, *v;
    char path[64], *part, *save = NULL;

    s_resolve(&tmp);
    job = s_job_json(&tmp.job, S_ALL);
    snprintf(path, sizeof(path), "%s", axis->key->path);
    v = job;
    for (part = strtok_r(path, ".", &save); v && part; part = strtok_r(NULL, ".", &save))
        v = json_object_get(v, part);
    v = v ? json_incref(v) : json_null();
    json_decref(job);
    return v;
}

static int
s_cmp_axis(const void *a, const void *b)
{
    return strcmp(((const s_axis_t *)a)->key->path, ((const s_axis_t *)b)->key->path);
}

/* Read grid: into self->axes, one patch per value. */
static int
s_sweep_grid(ad_sweep_t *self, s_ctx_t *ctx, yaml_node_t *grid)
{
    yaml_node_pair_t *start = grid->data.mapping.pairs.start;
    char got[80], prefix[160];
    int rc;

    self->axes = ad_calloc((size_t)(grid->data.mapping.pairs.top - start) + 1, sizeof(*self->axes));
    for (yaml_node_pair_t *p = start; p < grid->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(ctx->doc, p->key);
        yaml_node_t *list = yaml_document_get_node(ctx->doc, p->value);
        s_axis_t *axis = &self->axes[self->naxes];
        const s_key_t *key;

        if (k->type != YAML_SCALAR_NODE)
            return s_fail(ctx, k->start_mark, "grid keys must be job keys, got %s",
                          s_got(k, got, sizeof(got)));
        rc = s_dup_key(ctx, grid, p, "grid key ");
        if (rc)
            return rc;
        if (!strcmp(s_text(k), "name"))
            return s_fail(ctx, k->start_mark,
                          "grid cannot vary name: the jobs are named <sweep>-<hash>-r<repeat>");
        key = s_key_path(s_text(k));
        if (!key)
            return s_unknown_key(ctx, k, "", true);
        if (list->type != YAML_SEQUENCE_NODE)
            return s_fail(ctx, list->start_mark,
                          "grid %s must be a list of values such as [1, 2, 3], got %s", key->path,
                          s_got(list, got, sizeof(got)));
        axis->n = (int)(list->data.sequence.items.top - list->data.sequence.items.start);
        if (!axis->n)
            return s_fail(ctx, list->start_mark,
                          "grid %s has an empty list, expected at least one value", key->path);
        axis->key = key;
        axis->at = k->start_mark;
        axis->patch = ad_calloc((size_t)axis->n, sizeof(*axis->patch));
        self->naxes++;
        for (int j = 0; j < axis->n; j++) {
            yaml_node_t *v = yaml_document_get_node(ctx->doc, list->data.sequence.items.start[j]);
            s_ctx_t vctx = *ctx;

            s_spec_dup(&axis->patch[j], &self->base);
            snprintf(prefix, sizeof(prefix), "grid %s value %d: ", key->path, j + 1);
            vctx.prefix = prefix;
            vctx.flags |= S_F_OVERRIDE;
            rc = s_apply_key(&vctx, &axis->patch[j], key, v);
            if (rc)
                return rc;
        }
    }
    qsort(self->axes, (size_t)self->naxes, sizeof(*self->axes), s_cmp_axis);
    for (int a = 0; a < self->naxes; a++) {
        for (int b = 0; b < self->naxes; b++) {
            const char *pa = self->axes[a].key->path, *pb = self->axes[b].key->path;
            size_t n = strlen(pa);
            const s_axis_t *later =
                self->axes[a].at.index > self->axes[b].at.index ? &self->axes[a] : &self->axes[b];

            if (a != b && !strncmp(pa, pb, n) && pb[n] == '.')
                return s_fail(ctx, later->at,
                              "grid varies %s and %s: vary the whole %s or its parts, not both", pa,
                              pb, pa);
            if (a < b && s_key_id(self->axes[a].key) == S_K_EPOCHS &&
                s_key_id(self->axes[b].key) == S_K_STEPS)
                return s_fail(ctx, later->at, "grid varies epochs and steps: vary one of them");
        }
    }
    return 0;
}

/* Count configurations and jobs, and hold them to max_configs. */
static int
s_sweep_count(ad_sweep_t *self, s_ctx_t *ctx, yaml_mark_t grid_at, yaml_mark_t random_at)
{
    self->grid = 1;
    for (int a = 0; a < self->naxes; a++) {
        if (self->grid > INT64_MAX / self->axes[a].n)
            return s_fail(ctx, grid_at,
                          "the grid has more than %" PRId64 " configurations, far more than "
                          "max_configs %" PRId64,
                          INT64_MAX, self->max_configs);
        self->grid *= self->axes[a].n;
    }
    self->configs = self->grid;
    if (self->samples) {
        if (self->samples > self->grid)
            return s_fail(ctx, random_at,
                          "random.samples %" PRId64 " is more than the grid's %" PRId64
                          " configurations; drop random: to run them all",
                          self->samples, self->grid);
        self->configs = self->samples;
    }
    if (self->configs > self->max_configs / self->repeats) {
        char jobs[40] = "more than 2^63";

        if (self->configs <= INT64_MAX / self->repeats)
            snprintf(jobs, sizeof(jobs), "%" PRId64, self->configs * self->repeats);
        return s_fail(ctx, grid_at,
                      "the sweep expands to %s jobs (%" PRId64 " configurations x %d repeats), "
                      "more than max_configs %" PRId64 "; raise it with max_configs: N in the "
                      "sweep file, or sample with random: {samples: N}",
                      jobs, self->configs, self->repeats, self->max_configs);
    }
    return 0;
}

/* Build the canonical JSON and the hash. */
static void
s_sweep_canon(ad_sweep_t *self)
{
    json_t *o = json_object(), *grid = json_object();
    char *s;

    json_object_set_new(o, "name", json_string(self->name));
    json_object_set_new(o, "base", s_job_json(&self->base.job, self->base.set & ~S_BIT(S_K_NAME)));
    for (int a = 0; a < self->naxes; a++)
        json_object_set(grid, self->axes[a].key->path, self->axes[a].values);
    json_object_set_new(o, "grid", grid);
    if (self->samples)
        json_object_set_new(o, "random",
                            json_pack("{s:I,s:I}", "samples", (json_int_t)self->samples, "seed",
                                      (json_int_t)self->rseed));
    json_object_set_new(o, "repeats", json_integer(self->repeats));
    s = json_dumps(o, S_JSON_FLAGS);
    if (!s)
        ad_oom(0);
    s_hash_hex(s, self->hash);
    free(s);
    json_object_set_new(o, "max_configs", json_integer(self->max_configs));
    self->json = s_dump(o);
}

/* The base: a job file path (relative to the sweep's folder) or an inline job mapping. */
static int
s_sweep_base(ad_sweep_t *self, s_ctx_t *ctx, yaml_node_t *node)
{
    char path[PATH_MAX + 1], got[80], *text, *dir;
    const char *s;
    ad_err_t ferr;
    size_t len;
    int rc, n;

    if (node->type == YAML_MAPPING_NODE) {
        s_ctx_t bctx = *ctx;

        bctx.flags |= S_F_BASE | S_F_INLINE;
        return s_spec_parse_node(&bctx, node, &self->base);
    }
    if (node->type != YAML_SCALAR_NODE || s_is_null(node) || !*(s = s_text(node)))
        return s_fail(ctx, node->start_mark,
                      "base must be a job file or an inline job mapping, got %s",
                      s_got(node, got, sizeof(got)));
    if (s[0] != '/' && ctx->dir)
        n = snprintf(path, sizeof(path), "%s/%s", ctx->dir, s);
    else
        n = snprintf(path, sizeof(path), "%s", s);
    if (n < 0 || (size_t)n >= sizeof(path))
        return s_fail(ctx, node->start_mark, "base must be a job file, got a path too long");
    rc = s_read_file(path, "job file", &text, &len, &ferr);
    if (rc) {
        s_fail(ctx, node->start_mark, "base must be a job file, got %s (%s)",
               s_got(node, got, sizeof(got)), ferr.msg);
        /* The message says where base is; the code keeps saying why (-ENOENT...). */
        if (ctx->err)
            ctx->err->code = rc;
        return rc;
    }
    dir = s_dirname(path);
    rc = s_spec_parse_text(text, len, path, dir, S_F_BASE, &self->base, ctx->err);
    free(dir);
    free(text);
    return rc;
}

static int
s_sweep_parse(const char *text, size_t len, const char *file, const char *dir, unsigned flags,
              ad_sweep_t **out, ad_err_t *err)
{
    s_ctx_t ctx = {file, text, len, NULL, dir, flags, NULL, err};
    yaml_node_t *root, *name = NULL, *base = NULL, *grid = NULL, *random = NULL;
    yaml_document_t doc;
    yaml_mark_t grid_at, random_at = {0, 0, 0};
    ad_sweep_t *self;
    char got[80];
    int64_t v;
    int rc;

    *out = NULL;
    rc = s_load_doc(&ctx, &doc, "sweep file", s_sweep_keys, &root);
    if (rc)
        return rc;
    self = ad_calloc(1, sizeof(*self));
    self->file = ad_strdup(file);
    s_spec_init(&self->base);
    self->repeats = 1;
    self->max_configs = AD_SWEEP_MAX_CONFIGS;
    self->rseed = 1;
    grid_at = root->start_mark;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key);
        yaml_node_t *val = yaml_document_get_node(&doc, p->value);
        const char *ks = k->type == YAML_SCALAR_NODE ? s_text(k) : "";

        rc = s_dup_key(&ctx, root, p, "key ");
        if (rc)
            goto err_free;
        if (!strcmp(ks, "name")) {
            name = val;
        } else if (!strcmp(ks, "base")) {
            base = val;
        } else if (!strcmp(ks, "grid")) {
            grid = val;
            grid_at = k->start_mark;
        } else if (!strcmp(ks, "random")) {
            random = val;
            random_at = k->start_mark;
        } else if (!strcmp(ks, "repeats")) {
            rc = s_get_int(&ctx, val, "repeats", 1, AD_SWEEP_REPEATS_MAX, &v);
            if (rc)
                goto err_free;
            self->repeats = (int)v;
        } else if (!strcmp(ks, "max_configs")) {
            rc = s_get_int(&ctx, val, "max_configs", 1, 1000000000, &self->max_configs);
            if (rc)
                goto err_free;
        } else {
            static const char *const known[] = {"name",   "base",    "grid",
                                                "random", "repeats", "max_configs"};
            char hint[64] = "";

            for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
                if (s_distance(ks, known[i]) <= 2)
                    snprintf(hint, sizeof(hint), " (did you mean %s?)", known[i]);
            rc = s_fail(&ctx, k->start_mark,
                        "unknown key %s in a sweep file%s, expected one of name, base, grid, "
                        "random, repeats, max_configs",
                        s_got(k, got, sizeof(got)), hint);
            goto err_free;
        }
    }
    if (!name) {
        rc = s_fail(&ctx, root->start_mark,
                    "name is required (letters, digits, '.', '_' and "
                    "'-', at most %d)",
                    AD_SWEEP_NAME_MAX);
        goto err_free;
    }
    if (name->type != YAML_SCALAR_NODE || !s_name_ok(s_text(name), AD_SWEEP_NAME_MAX)) {
        rc = s_fail(&ctx, name->start_mark,
                    "name must be 1 to %d letters, digits, '.', '_' or '-', starting with a "
                    "letter or digit, got %s",
                    AD_SWEEP_NAME_MAX, s_got(name, got, sizeof(got)));
        goto err_free;
    }
    self->name = ad_strdup(s_text(name));
    if (!base) {
        rc = s_fail(&ctx, root->start_mark,
                    "base is required: a job file (relative to this file) or an inline job");
        goto err_free;
    }
    rc = s_sweep_base(self, &ctx, base);
    if (rc)
        goto err_free;
    if (random) {
        yaml_node_t *samples = NULL;

        if (random->type != YAML_MAPPING_NODE) {
            rc = s_fail(&ctx, random->start_mark,
                        "random must be a mapping {samples: N, seed: S}, got %s",
                        s_got(random, got, sizeof(got)));
            goto err_free;
        }
        for (yaml_node_pair_t *p = random->data.mapping.pairs.start;
             p < random->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(&doc, p->key);
            yaml_node_t *val = yaml_document_get_node(&doc, p->value);
            const char *ks = k->type == YAML_SCALAR_NODE ? s_text(k) : "";

            rc = s_dup_key(&ctx, random, p, "key random.");
            if (rc) {
                goto err_free;
            } else if (!strcmp(ks, "samples")) {
                samples = val;
                rc = s_get_int(&ctx, val, "random.samples", 1, 1000000000, &self->samples);
            } else if (!strcmp(ks, "seed")) {
                rc = s_get_int(&ctx, val, "random.seed", 0, INT64_MAX, &self->rseed);
            } else {
                rc = s_fail(&ctx, k->start_mark,
                            "unknown key %s in random, expected samples and seed",
                            s_got(k, got, sizeof(got)));
            }
            if (rc)
                goto err_free;
        }
        if (!samples) {
            rc = s_fail(&ctx, random->start_mark, "random needs samples: N");
            goto err_free;
        }
    }
    if (grid && !s_is_null(grid)) {
        if (grid->type != YAML_MAPPING_NODE) {
            rc = s_fail(&ctx, grid->start_mark,
                        "grid must be a mapping of job keys to lists, got %s",
                        s_got(grid, got, sizeof(got)));
            goto err_free;
        }
        rc = s_sweep_grid(self, &ctx, grid);
        if (rc)
            goto err_free;
    }
    rc = s_sweep_count(self, &ctx, grid_at, random_at);
    if (rc)
        goto err_free;
    if (self->samples)
        self->picks = s_sample(self->grid, self->samples, self->rseed);
    for (int64_t c = 0; c < self->configs; c++) {
        rc = s_sweep_check(self, self->picks ? self->picks[c] : c, err);
        if (rc)
            goto err_free;
    }
    for (int a = 0; a < self->naxes; a++) {
        s_axis_t *axis = &self->axes[a];

        axis->values = json_array();
        for (int j = 0; j < axis->n; j++) {
            json_t *v = s_axis_value(axis, j);

            for (int i = 0; i < j; i++)
                if (json_equal(v, json_array_get(axis->values, (size_t)i))) {
                    s_ctx_t vctx = ctx;

                    vctx.prefix = NULL;
                    json_decref(v);
                    rc = s_fail(&vctx, axis->patch[j].mark[s_key_id(axis->key)],
                                "grid %s value %d repeats value %d", axis->key->path, j + 1, i + 1);
                    goto err_free;
                }
            json_array_append_new(axis->values, v);
        }
    }
    s_sweep_canon(self);
    yaml_document_delete(&doc);
    *out = self;
    return 0;
err_free:
    ad_sweep_free(&self);
    yaml_document_delete(&doc);
    return rc;
}

int
ad_sweep_load(const char *path, ad_sweep_t **out, ad_err_t *err)
{
    char *text, *dir;
    size_t len;
    int rc;

    assert(path && out);
    *out = NULL;
    rc = s_read_file(path, "sweep file", &text, &len, err);
    if (rc)
        return rc;
    dir = s_dirname(path);
    rc = s_sweep_parse(text, len, path, dir, 0, out, err);
    free(dir);
    free(text);
    return rc;
}

int
ad_sweep_load_string(const char *text, const char *name_for_errors, ad_sweep_t **out, ad_err_t *err)
{
    assert(text && out);
    return s_sweep_parse(text, strlen(text), name_for_errors ? name_for_errors : "<string>", NULL,
                         0, out, err);
}

int
ad_sweep_load_json(const char *json, ad_sweep_t **out, ad_err_t *err)
{
    json_error_t jerr;
    json_t *root;

    assert(json && out);
    *out = NULL;
    /* As ad_job_from_json(): jansson says whether it is JSON, libyaml reads it with the rules. */
    root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return ad_err_set(err, AD_EPARSE, "<json>:%d:%d: %s", jerr.line, jerr.column, jerr.text);
    if (!json_is_object(root) || !json_is_object(json_object_get(root, "base"))) {
        json_decref(root);
        return ad_err_set(err, AD_EPARSE,
                          "<json>:1:1: a sweep in JSON must be an object with an inline base");
    }
    json_decref(root);
    return s_sweep_parse(json, strlen(json), "<json>", NULL, S_F_NOFS, out, err);
}

void
ad_sweep_free(ad_sweep_t **self_p)
{
    ad_sweep_t *self;

    if (!self_p || !*self_p)
        return;
    self = *self_p;
    for (int a = 0; a < self->naxes; a++) {
        for (int j = 0; j < self->axes[a].n; j++)
            s_spec_clear(&self->axes[a].patch[j]);
        free(self->axes[a].patch);
        json_decref(self->axes[a].values);
    }
    free(self->axes);
    s_spec_clear(&self->base);
    free(self->picks);
    free(self->json);
    free(self->name);
    free(self->file);
    free(self);
    *self_p = NULL;
}

const char *
ad_sweep_name(const ad_sweep_t *self)
{
    assert(self);
    return self->name;
}

int64_t
ad_sweep_count(const ad_sweep_t *self)
{
    assert(self);
    return self->configs * self->repeats;
}

int64_t
ad_sweep_configs(const ad_sweep_t *self)
{
    assert(self);
    return self->configs;
}

int
ad_sweep_job(const ad_sweep_t *self, int64_t i, ad_job_t *job, int *repeat, ad_err_t *err)
{
    int idx[S_K_COUNT], rc;
    char hash[17], name[AD_JOB_NAME_MAX + 1];
    s_spec_t spec;
    int64_t g;

    assert(self && job && i >= 0 && i < ad_sweep_count(self));
    memset(job, 0, sizeof(*job));
    g = i % self->configs;
    if (self->picks)
        g = self->picks[g];
    /* Loading checked every configuration; this only guards against a changed rule. */
    rc = s_sweep_check(self, g, err);
    if (rc)
        return rc;
    s_compose(self, g, &spec, idx);
    spec.job.name = NULL;
    s_spec_to_job(&spec, job);
    ad_job_hash(job, hash);
    snprintf(name, sizeof(name), "%s-%.12s-r%d", self->name, hash, (int)(i / self->configs) + 1);
    job->name = ad_strdup(name);
    if (repeat)
        *repeat = (int)(i / self->configs) + 1;
    return 0;
}

void
ad_sweep_config_hash(const ad_sweep_t *self, int64_t c, char out[17])
{
    int idx[S_K_COUNT];
    s_spec_t spec;

    assert(self && out && c >= 0 && c < self->configs);
    /* What ad_sweep_job() builds, without the check, the copy and the name: a shallow copy. */
    s_compose(self, self->picks ? self->picks[c] : c, &spec, idx);
    spec.job.name = NULL;
    s_resolve(&spec);
    ad_job_hash(&spec.job, out);
}

const char *
ad_sweep_json(const ad_sweep_t *self)
{
    assert(self);
    return self->json;
}

void
ad_sweep_hash(const ad_sweep_t *self, char out[17])
{
    assert(self && out);
    memcpy(out, self->hash, 17);
}
