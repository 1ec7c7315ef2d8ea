/* ad_job_priv.h - what job files and sweep files share inside core: keys, specs, located reading */
#ifndef AD_JOB_PRIV_H
#define AD_JOB_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <yaml.h>

#include "autodist/ad_doc.h"
#include "autodist/ad_job.h"

/* Longest dotted path of a node; a longer one (nothing in a job file is that deep) is cut. */
#define AD_JOB_PATH_MAX 240

/* Job and sweep files are a few lines; anything this large is the wrong file. */
#define AD_JOB_FILE_MAX (4 << 20)

/*
 * Canonical JSON: sorted keys, one line, and numbers printed with 15
 * significant digits.  Every number is rounded to 15 digits when it is read,
 * so printing it back is exact and JSON -> job -> JSON is the identity.
 */
#define AD_JOB_JSON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15))

/* Keys of a job, as ids; ad_job_keys[] below is indexed by them. */
enum {
    AD_JOB_K_NAME,
    AD_JOB_K_MODEL,
    AD_JOB_K_DATASET,
    AD_JOB_K_SYN_SHAPE,
    AD_JOB_K_SYN_CLASSES,
    AD_JOB_K_SYN_SAMPLES,
    AD_JOB_K_IMG_PATH,
    AD_JOB_K_IMG_SIZE,
    AD_JOB_K_DATA_DIR,
    AD_JOB_K_EPOCHS,
    AD_JOB_K_STEPS,
    AD_JOB_K_BATCH,
    AD_JOB_K_OPTIM,
    AD_JOB_K_OPT_TYPE,
    AD_JOB_K_OPT_LR,
    AD_JOB_K_OPT_MOMENTUM,
    AD_JOB_K_OPT_WD,
    AD_JOB_K_SEED,
    AD_JOB_K_DEVICE,
    AD_JOB_K_LAYOUT,
    AD_JOB_K_NODES,
    AD_JOB_K_PPN,
    AD_JOB_K_TPP,
    AD_JOB_K_EVAL,
    AD_JOB_K_CKPT,
    AD_JOB_K_CKPT_KEEP,
    AD_JOB_K_KEEP_CKPTS,
    AD_JOB_K_BUCKET,
    AD_JOB_K_TIME,
    AD_JOB_K_REQUEUE,
    AD_JOB_K_REQUEUE_TIMEOUT,
    AD_JOB_K_RESERVATION,
    AD_JOB_K_TAGS,
    AD_JOB_K_NOTE,
    AD_JOB_K_DISTILL,
    AD_JOB_K_DISTILL_TEACHER,
    AD_JOB_K_DISTILL_CKPT,
    AD_JOB_K_DISTILL_T,
    AD_JOB_K_DISTILL_ALPHA,
    AD_JOB_K_FINETUNE,
    AD_JOB_K_COUNT
};

#define AD_JOB_BIT(id) (UINT64_C(1) << (id))
#define AD_JOB_K_ALL (AD_JOB_BIT(AD_JOB_K_COUNT) - 1)
_Static_assert(AD_JOB_K_COUNT < 64, "a job file's keys are bits of a uint64_t mask");
/* Keys that a whole-value key replaces: `dataset: ...` resets dataset.*, and so on. */
#define AD_JOB_GROUP_DATASET                                                                       \
    (AD_JOB_BIT(AD_JOB_K_DATASET) | AD_JOB_BIT(AD_JOB_K_SYN_SHAPE) |                               \
     AD_JOB_BIT(AD_JOB_K_SYN_CLASSES) | AD_JOB_BIT(AD_JOB_K_SYN_SAMPLES) |                         \
     AD_JOB_BIT(AD_JOB_K_IMG_PATH) | AD_JOB_BIT(AD_JOB_K_IMG_SIZE))
#define AD_JOB_GROUP_OPTIM                                                                         \
    (AD_JOB_BIT(AD_JOB_K_OPTIM) | AD_JOB_BIT(AD_JOB_K_OPT_TYPE) | AD_JOB_BIT(AD_JOB_K_OPT_LR) |    \
     AD_JOB_BIT(AD_JOB_K_OPT_MOMENTUM) | AD_JOB_BIT(AD_JOB_K_OPT_WD))
#define AD_JOB_GROUP_LAYOUT                                                                        \
    (AD_JOB_BIT(AD_JOB_K_LAYOUT) | AD_JOB_BIT(AD_JOB_K_NODES) | AD_JOB_BIT(AD_JOB_K_PPN) |         \
     AD_JOB_BIT(AD_JOB_K_TPP))
#define AD_JOB_GROUP_DISTILL                                                                       \
    (AD_JOB_BIT(AD_JOB_K_DISTILL) | AD_JOB_BIT(AD_JOB_K_DISTILL_TEACHER) |                         \
     AD_JOB_BIT(AD_JOB_K_DISTILL_CKPT) | AD_JOB_BIT(AD_JOB_K_DISTILL_T) |                          \
     AD_JOB_BIT(AD_JOB_K_DISTILL_ALPHA))
#define AD_JOB_GROUP_LENGTH (AD_JOB_BIT(AD_JOB_K_EPOCHS) | AD_JOB_BIT(AD_JOB_K_STEPS))

/* How a parse treats what it reads. */
enum {
    AD_JOB_F_NOFS = 1 << 0,     /* JSON: paths must be absolute, the file system is not read */
    AD_JOB_F_BASE = 1 << 1,     /* a sweep's base: name is optional */
    AD_JOB_F_INLINE = 1 << 2,   /* a sweep's inline base: name is refused */
    AD_JOB_F_OVERRIDE = 1 << 3, /* a grid value: epochs replaces steps and steps epochs */
    AD_JOB_F_NOCHECK = 1 << 4,  /* rules across keys are the caller's (--set comes after) */
};

/* A job while it is read: values, which keys were given, and where. */
typedef struct {
    ad_job_t job;                     /* values; strings owned, except in composed copies */
    uint64_t set;                     /* AD_JOB_BIT(id) of each key given */
    yaml_mark_t mark[AD_JOB_K_COUNT]; /* where each given key's value starts */
    yaml_mark_t start;                /* start of the job mapping, for missing keys */
} ad_job_spec_t;

/* What errors need to say where they are. */
typedef struct {
    const char *file;   /* name at the start of messages */
    const char *text;   /* the whole input */
    size_t len;         /* its length in bytes */
    ad_doc_t *doc;      /* the document being walked */
    const char *dir;    /* folder relative paths start from; NULL = current folder */
    unsigned flags;     /* AD_JOB_F_* */
    const char *prefix; /* put before each message, e.g. "grid seed value 2: " */
    ad_err_t *err;      /* where the message goes */
} ad_job_ctx_t;

/*
 * A value of the document being read, with what the messages about it need:
 * its kind, whether it was written plain (unquoted), its text and where it
 * starts.  A key is a node too (v NULL, always a scalar).
 */
typedef struct ad_job_node {
    char path[AD_JOB_PATH_MAX]; /* dotted path in the document: "optimizer.lr", "grid.seed[1]" */
    json_t *v;              /* the value, borrowed from the document; NULL for a key */
    yaml_node_type_t type;  /* YAML_SCALAR_NODE, YAML_SEQUENCE_NODE or YAML_MAPPING_NODE */
    bool plain;             /* a plain (unquoted) scalar */
    const char *text;       /* a scalar's text, "" for the others; borrowed from the document */
    yaml_mark_t start_mark; /* where it starts (index unused) */
} ad_job_node_t;

typedef struct ad_job_key ad_job_key_t;
typedef int (*ad_job_apply_fn)(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                               ad_job_node_t *node);

/* Value types of keys. */
enum { AD_JOB_T_INT, AD_JOB_T_I64, AD_JOB_T_REAL, AD_JOB_T_BOOL, AD_JOB_T_ENUM, AD_JOB_T_CUSTOM };

/* One key of a job file: its dotted path, type, field and range. */
struct ad_job_key {
    const char *path;         /* as written in files and grids: "optimizer.lr" */
    int type;                 /* AD_JOB_T_* */
    size_t off;               /* the field in ad_job_t (not AD_JOB_T_CUSTOM) */
    int64_t min, max;         /* integer range, inclusive */
    double rmin, rmax;        /* number range, inclusive */
    const char *const *names; /* AD_JOB_T_ENUM: the accepted words, NULL-terminated */
    ad_job_apply_fn apply;    /* AD_JOB_T_CUSTOM: reads the value */
    int need;                 /* 1 + the dataset kind the key belongs to; 0 for any */
};

/* The words of the enumerations, indexed by their values, NULL-terminated. */
extern const char *const ad_job_models[];
extern const char *const ad_job_datasets[];
extern const char *const ad_job_optims[];
extern const char *const ad_job_devices[];

/* The keys of a job file, indexed by AD_JOB_K_*. */
extern const ad_job_key_t ad_job_keys[AD_JOB_K_COUNT];

/* Read one key's value into spec, recording that it was given and where. */
int ad_job_apply_key(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                     ad_job_node_t *node);

/*
 * Rules across keys.  Returns 0, or AD_EPARSE with msg and *bad set to the
 * key at fault (-1: a required key is missing, said at the job's start).
 */
int ad_job_spec_check(const ad_job_spec_t *spec, unsigned flags, int *bad, char *msg, size_t len);

/*
 * Apply one `--set KEY=VALUE` (VALUE read as YAML, paths against dir; NULL:
 * the current folder) over spec, as a grid value would be.  Returns 0, or
 * AD_EPARSE with "--set KEY=VALUE: ..." (an unknown key says which is close).
 */
int ad_job_spec_set(ad_job_spec_t *spec, const char *assignment, const char *dir, unsigned flags,
                    ad_err_t *err);

/*
 * The " (did you mean KEY?)" of an unknown key name under prefix ("" at the
 * top; grid: dotted paths), said where the key goes, into buf; NULL when no
 * key is a likely meaning (learning_rate -> optimizer.lr, procs ->
 * layout.procs_per_node, momentum at the top -> optimizer.momentum).
 */
const char *ad_job_key_hint(const char *prefix, const char *name, bool grid, char *buf,
                            size_t size);

/* The rules across keys of spec, located in ctx's file; 0 or AD_EPARSE. */
int ad_job_spec_check_at(ad_job_ctx_t *ctx, const ad_job_spec_t *spec);

/* The folder of a file path, for relative paths inside it; the caller frees it. */
char *ad_job_dirname(const char *path);

/* Dump a JSON value canonically and release it; never NULL. */
char *ad_job_dump(json_t *value);

/*
 * Fail on the first key of map that the document left out: one given twice,
 * "duplicate WHAT<key> (first given at line N)" (what is e.g. "key optimizer."
 * or "grid key "), or one that is not a scalar, nonscalar_fmt with its kind
 * ("a list") for %s.  With before (a key of map), only a key left out
 * before it counts, so that errors come in the order of the file; NULL
 * after the last key.  Returns 0 when there is none.
 */
int ad_job_check_keys(const ad_job_ctx_t *ctx, const ad_job_node_t *map, const char *what,
                      const char *nonscalar_fmt, const ad_job_node_t *before);

/* The root of ctx's document as a node. */
void ad_job_root(const ad_job_ctx_t *ctx, ad_job_node_t *node);

/* The value v of key name in the mapping map in *node, and the key in *key (may be NULL). */
void ad_job_child(const ad_job_ctx_t *ctx, const ad_job_node_t *map, const char *name, json_t *v,
                  ad_job_node_t *node, ad_job_node_t *key);

/* Item i of the list node, in *item. */
void ad_job_item(const ad_job_ctx_t *ctx, const ad_job_node_t *list, size_t i, ad_job_node_t *item);

/* Fail with AD_EPARSE and "FILE:LINE:COL: <prefix><message>". */
int ad_job_fail(const ad_job_ctx_t *ctx, yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An integer value in [min, max], or the message that says what was expected. */
int ad_job_get_int(ad_job_ctx_t *ctx, ad_job_node_t *node, const char *what, int64_t min,
                   int64_t max, int64_t *out);

/* A number in [min, max], or the message that says what was expected. */
int ad_job_get_real(ad_job_ctx_t *ctx, ad_job_node_t *node, const char *what, double min,
                    double max, double *out);

/* One of names (NULL-terminated) as its index in *out, or the message that lists them. */
int ad_job_get_enum(ad_job_ctx_t *ctx, ad_job_node_t *node, const char *what,
                    const char *const *names, int *out);

/*
 * Check node against want (a job file's: text counts) and store it in out; fail with
 * AD_EPARSE and "<what> must be ..., got ..." (core/ad_job_node.c's typed getters use it).
 */
int ad_job_get(ad_job_ctx_t *ctx, const ad_job_node_t *node, const char *what, ad_doc_want_t *want,
               void *out);

/* ad_doc_describe_value() of a node: "-4", a list, the string "5"...; in buf. */
const char *ad_job_got(const ad_job_node_t *node, char *buf, size_t len);

/* FNV-1a of s as 16 lowercase hex digits and a NUL, in out. */
void ad_job_hash_hex(const char *s, char out[17]);

/* node as a value for ad_doc_check() and ad_doc_describe_value(), in *val (returned). */
ad_doc_value_t *ad_job_value(const ad_job_node_t *node, ad_doc_value_t *val);

/* True for a plain scalar YAML reads as null: "", "~", "null", "Null", "NULL". */
bool ad_job_is_null(const ad_job_node_t *node);

/*
 * The JSON of the keys in mask.  With AD_JOB_K_ALL and a resolved job it is the
 * canonical form; with a spec's set bits it is what a sweep's base gave.
 */
json_t *ad_job_json_masked(const ad_job_t *j, uint64_t mask);

/* The AD_JOB_K_* id of a key of ad_job_keys[]. */
int ad_job_key_id(const ad_job_key_t *key);

/* The key with this dotted path ("optimizer.lr"), or NULL. */
const ad_job_key_t *ad_job_key_path(const char *path);

/* The part of key's path after prefix when it is a direct child of prefix ("" = top), or NULL. */
const char *ad_job_key_child_name(const ad_job_key_t *key, const char *prefix);

/* The key named name directly under prefix ("" = top), or NULL. */
const ad_job_key_t *ad_job_key_child(const char *prefix, const char *name);

/*
 * Read the one YAML document of ctx->text into ctx->doc and its root mapping
 * into *root.  what names the file's kind in messages.  On failure ctx->doc
 * is NULL; on success the caller frees it (ad_doc_free()).
 */
int ad_job_load_doc(ad_job_ctx_t *ctx, const char *what, const char *keys, ad_job_node_t *root);

/* Names: [A-Za-z0-9._-], first character alphanumeric, 1..max characters. */
bool ad_job_name_ok(const char *s, size_t max);

/* Read a job or sweep file (at most AD_JOB_FILE_MAX bytes); see ad_doc_read_file(). */
int ad_job_read_file(const char *path, const char *what, char **text, size_t *len, ad_err_t *err);

/*
 * Fill in what depends on other keys: the length, the optimiser's defaults,
 * and zeros for options of another dataset or an auto layout.  Never fails.
 */
void ad_job_spec_resolve(ad_job_spec_t *spec);

/* Release the strings of spec's job. */
void ad_job_spec_clear(ad_job_spec_t *spec);

/* A copy of src in dst with its own strings. */
void ad_job_spec_dup(ad_job_spec_t *dst, const ad_job_spec_t *src);

/* A spec with every key at its default and none given. */
void ad_job_spec_init(ad_job_spec_t *spec);

/* Read a job mapping into a fresh spec; spec is cleared on failure. */
int ad_job_spec_parse_node(ad_job_ctx_t *ctx, ad_job_node_t *map, ad_job_spec_t *spec);

/* Parse a whole job text into spec (validated, defaults not yet resolved). */
int ad_job_spec_parse_text(const char *text, size_t len, const char *file, const char *dir,
                           unsigned flags, ad_job_spec_t *spec, ad_err_t *err);

/* Resolve a copy of spec into job, which gets its own strings. */
void ad_job_spec_to_job(const ad_job_spec_t *spec, ad_job_t *job);

/* The text of a scalar node; borrowed from the document. */
const char *ad_job_text(const ad_job_node_t *node);

/* reservation: (core/ad_job_resv.c): read the section into spec->job.reservation. */
int ad_job_resv_apply(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                      ad_job_node_t *node);

/* Read every key of a mapping whose keys are the children of prefix ("" = a job). */
int ad_job_apply_map(ad_job_ctx_t *ctx, ad_job_spec_t *spec, ad_job_node_t *map,
                     const char *prefix);

/* A non-empty string of any scalar style, or "<what> must be <expected>, got ...". */
int ad_job_get_string(ad_job_ctx_t *ctx, ad_job_node_t *node, const char *what,
                      const char *expected, const char **out);

/* distill: and distill.teacher / distill.checkpoint (core/ad_job_distill.c). */
int ad_job_distill_apply(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                         ad_job_node_t *node);
int ad_job_teacher_apply(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                         ad_job_node_t *node);

/* Error for an unknown key: the accepted keys, and the closest one when it is close. */
int ad_job_unknown_key(const ad_job_ctx_t *ctx, const ad_job_node_t *knode, const char *prefix,
                       bool grid);

#endif
