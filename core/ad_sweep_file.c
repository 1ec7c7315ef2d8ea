/* ad_sweep_file.c - sweep files: a base job, grid and random expansion, repeats, canonical JSON */
#include "autodist/ad_sweep_file.h"

#include "ad_job_priv.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodist/ad_hash.h"
#include "autodist/ad_rand.h"
#include "autodist/ad_suggest.h"

/* One grid key and its values. */
typedef struct {
    const ad_job_key_t *key; /* the job key it varies */
    int n;                   /* number of values */
    yaml_mark_t at;          /* where the key is, for messages */
    ad_job_spec_t *patch;    /* the base with value j applied; owns its strings */
    json_t *values;          /* the canonical values, a JSON array */
} s_axis_t;

struct ad_sweep {
    char *name;          /* the sweep's name */
    char *file;          /* name used in messages */
    ad_job_spec_t base;  /* the base job as given, defaults unresolved; owns its strings */
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
s_compose(const ad_sweep_t *self, int64_t g, ad_job_spec_t *out, int *idx)
{
    *out = self->base;
    for (int a = self->naxes - 1; a >= 0; a--) {
        idx[a] = (int)(g % self->axes[a].n);
        g /= self->axes[a].n;
    }
    for (int a = 0; a < self->naxes; a++) {
        const ad_job_spec_t *src = &self->axes[a].patch[idx[a]];
        int id = ad_job_key_id(self->axes[a].key);
        uint64_t group = AD_JOB_BIT(id);

        switch (id) {
        case AD_JOB_K_DATASET:
            out->job.dataset = src->job.dataset;
            group = AD_JOB_GROUP_DATASET;
            break;
        case AD_JOB_K_SYN_SHAPE:
            out->job.dataset.channels = src->job.dataset.channels;
            out->job.dataset.height = src->job.dataset.height;
            out->job.dataset.width = src->job.dataset.width;
            break;
        case AD_JOB_K_SYN_CLASSES:
            out->job.dataset.classes = src->job.dataset.classes;
            break;
        case AD_JOB_K_SYN_SAMPLES:
            out->job.dataset.samples = src->job.dataset.samples;
            break;
        case AD_JOB_K_IMG_PATH:
            out->job.dataset.path = src->job.dataset.path;
            break;
        case AD_JOB_K_IMG_SIZE:
            out->job.dataset.image_size = src->job.dataset.image_size;
            break;
        case AD_JOB_K_DATA_DIR:
            out->job.data_dir = src->job.data_dir;
            break;
        case AD_JOB_K_FINETUNE:
            out->job.finetune = src->job.finetune;
            break;
        case AD_JOB_K_TAGS:
            out->job.tags = src->job.tags;
            break;
        case AD_JOB_K_NOTE:
            out->job.note = src->job.note;
            break;
        case AD_JOB_K_EPOCHS:
        case AD_JOB_K_STEPS:
            out->job.epochs = src->job.epochs;
            out->job.steps = src->job.steps;
            group = AD_JOB_GROUP_LENGTH;
            break;
        case AD_JOB_K_OPTIM:
            out->job.optimizer = src->job.optimizer;
            group = AD_JOB_GROUP_OPTIM;
            break;
        case AD_JOB_K_LAYOUT:
            out->job.layout = src->job.layout;
            group = AD_JOB_GROUP_LAYOUT;
            break;
        case AD_JOB_K_NODES:
        case AD_JOB_K_PPN:
        case AD_JOB_K_TPP:
            *(int *)((char *)&out->job + ad_job_keys[id].off) =
                *(const int *)((const char *)&src->job + ad_job_keys[id].off);
            out->job.layout.is_auto = false;
            break;
        case AD_JOB_K_OPT_TYPE:
        case AD_JOB_K_MODEL:
        case AD_JOB_K_REQUEUE:
        case AD_JOB_K_DEVICE:
        case AD_JOB_K_BATCH:
        case AD_JOB_K_CKPT_KEEP:
            *(int *)((char *)&out->job + ad_job_keys[id].off) =
                *(const int *)((const char *)&src->job + ad_job_keys[id].off);
            break;
        case AD_JOB_K_OPT_LR:
        case AD_JOB_K_OPT_MOMENTUM:
        case AD_JOB_K_OPT_WD:
        case AD_JOB_K_BUCKET:
            *(double *)((char *)&out->job + ad_job_keys[id].off) =
                *(const double *)((const char *)&src->job + ad_job_keys[id].off);
            break;
        case AD_JOB_K_SEED:
        case AD_JOB_K_CKPT:
            *(int64_t *)((char *)&out->job + ad_job_keys[id].off) =
                *(const int64_t *)((const char *)&src->job + ad_job_keys[id].off);
            break;
        case AD_JOB_K_TIME:
            out->job.time_limit_s = src->job.time_limit_s;
            break;
        case AD_JOB_K_EVAL:
            out->job.eval = src->job.eval;
            break;
        case AD_JOB_K_REQUEUE_TIMEOUT:
            out->job.requeue_on_timeout = src->job.requeue_on_timeout;
            break;
        case AD_JOB_K_KEEP_CKPTS:
            out->job.keep_checkpoints = src->job.keep_checkpoints;
            break;
        case AD_JOB_K_DISTILL: /* distill: sweeps: the whole block, or one of its keys */
            out->job.distill = src->job.distill;
            group = AD_JOB_GROUP_DISTILL;
            break;
        case AD_JOB_K_DISTILL_TEACHER:
        case AD_JOB_K_DISTILL_CKPT:
            out->job.distill.teacher = src->job.distill.teacher;
            out->job.distill.checkpoint = src->job.distill.checkpoint;
            group = AD_JOB_BIT(id) | AD_JOB_BIT(AD_JOB_K_DISTILL_CKPT);
            break;
        case AD_JOB_K_DISTILL_T:
        case AD_JOB_K_DISTILL_ALPHA:
            *(double *)((char *)&out->job + ad_job_keys[id].off) =
                *(const double *)((const char *)&src->job + ad_job_keys[id].off);
            break;
        default:
            assert(!"grid key without a composition rule");
        }
        out->set = (out->set & ~group) | (src->set & group);
        for (int k = 0; k < AD_JOB_K_COUNT; k++)
            if (group & AD_JOB_BIT(k))
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
    ad_job_ctx_t ctx = {self->file, NULL, 0, NULL, NULL, 0, NULL, err};
    int idx[AD_JOB_K_COUNT], bad, a, at = 0;
    char msg[400], prefix[160];
    ad_job_spec_t spec;

    s_compose(self, g, &spec, idx);
    if (!ad_job_spec_check(&spec, AD_JOB_F_BASE, &bad, msg, sizeof(msg)))
        return 0;
    for (a = 0; a < self->naxes; a++)
        if (ad_job_key_id(self->axes[a].key) == bad)
            break;
    if (a < self->naxes) {
        at = a;
    } else {
        for (a = self->naxes - 1; a >= 0; a--)
            if (idx[a])
                at = a;
    }
    if (!self->naxes)
        return ad_job_fail(&ctx, self->base.start, "%s", msg);
    snprintf(prefix, sizeof(prefix), "grid %s value %d: ", self->axes[at].key->path, idx[at] + 1);
    ctx.prefix = prefix;
    return ad_job_fail(&ctx, self->axes[at].patch[idx[at]].mark[ad_job_key_id(self->axes[at].key)],
                       "%s", msg);
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
        int64_t t = (int64_t)ad_rand_upto(&state, (uint64_t)j), pick = t;
        size_t h = (size_t)(((uint64_t)t * AD_HASH_FIBONACCI) >> 7) & mask;

        while (set[h] >= 0 && set[h] != t)
            h = (h + 1) & mask;
        if (set[h] == t) {
            pick = j;
            h = (size_t)(((uint64_t)j * AD_HASH_FIBONACCI) >> 7) & mask;
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

/*
 * A grid value that the canonical JSON leaves out because it is the key's
 * default (requeue: 3, requeue_on_timeout and keep_checkpoints false): the
 * value itself, so the sweep reads back the same (found by fuzzing).
 */
static json_t *
s_axis_default(const s_axis_t *axis, const ad_job_t *job)
{
    switch (ad_job_key_id(axis->key)) {
    case AD_JOB_K_REQUEUE:
        return json_integer(job->requeue);
    case AD_JOB_K_REQUEUE_TIMEOUT:
        return json_boolean(job->requeue_on_timeout);
    case AD_JOB_K_KEEP_CKPTS:
        return json_boolean(job->keep_checkpoints);
    default:
        return json_null();
    }
}

/* The value JSON of an axis at value j: the key's part of the resolved patch. */
static json_t *
s_axis_value(const s_axis_t *axis, int j)
{
    ad_job_spec_t tmp = axis->patch[j];
    json_t *job, *v;
    char path[64], *part, *save = NULL;

    ad_job_spec_resolve(&tmp);
    job = ad_job_json_masked(&tmp.job, AD_JOB_K_ALL);
    snprintf(path, sizeof(path), "%s", axis->key->path);
    v = job;
    for (part = strtok_r(path, ".", &save); v && part; part = strtok_r(NULL, ".", &save))
        v = json_object_get(v, part);
    v = v ? json_incref(v) : s_axis_default(axis, &tmp.job);
    json_decref(job);
    return v;
}

static int
s_cmp_axis(const void *a, const void *b)
{
    return strcmp(((const s_axis_t *)a)->key->path, ((const s_axis_t *)b)->key->path);
}

/* Read grid: into self->axes, one patch per value. */
static const char s_grid_nonscalar[] = "grid keys must be job keys, got %s";
static const char s_top_nonscalar[] = "unknown key %s in a sweep file, expected one of name, "
                                      "base, grid, random, repeats, max_configs";
static const char s_random_nonscalar[] = "unknown key %s in random, expected samples and seed";

/* True when mark a comes after mark b in the file. */
static bool
s_after(yaml_mark_t a, yaml_mark_t b)
{
    return a.line > b.line || (a.line == b.line && a.column > b.column);
}

static int
s_sweep_grid(ad_sweep_t *self, ad_job_ctx_t *ctx, ad_job_node_t *grid)
{
    char got[80], prefix[160];
    const char *name;
    json_t *jv;
    int rc;

    self->axes = ad_calloc(json_object_size(grid->v) + 1, sizeof(*self->axes));
    json_object_foreach(grid->v, name, jv)
    {
        ad_job_node_t kn, ln, *k = &kn, *list = &ln;
        s_axis_t *axis = &self->axes[self->naxes];
        const ad_job_key_t *key;

        ad_job_child(ctx, grid, name, jv, list, k);
        rc = ad_job_check_keys(ctx, grid, "grid key ", s_grid_nonscalar, k);
        if (rc)
            return rc;
        if (!strcmp(ad_job_text(k), "name"))
            return ad_job_fail(
                ctx, k->start_mark,
                "grid cannot vary name: the jobs are named <sweep>-<hash>-r<repeat>");
        key = ad_job_key_path(ad_job_text(k));
        if (!key)
            return ad_job_unknown_key(ctx, k, "", true);
        if (list->type != YAML_SEQUENCE_NODE)
            return ad_job_fail(ctx, list->start_mark,
                               "grid %s must be a list of values such as [1, 2, 3], got %s",
                               key->path, ad_job_got(list, got, sizeof(got)));
        axis->n = (int)json_array_size(list->v);
        if (!axis->n)
            return ad_job_fail(ctx, list->start_mark,
                               "grid %s has an empty list, expected at least one value", key->path);
        axis->key = key;
        axis->at = k->start_mark;
        axis->patch = ad_calloc((size_t)axis->n, sizeof(*axis->patch));
        self->naxes++;
        for (int j = 0; j < axis->n; j++) {
            ad_job_node_t v;
            ad_job_ctx_t vctx = *ctx;

            ad_job_item(ctx, list, (size_t)j, &v);
            ad_job_spec_dup(&axis->patch[j], &self->base);
            snprintf(prefix, sizeof(prefix), "grid %s value %d: ", key->path, j + 1);
            vctx.prefix = prefix;
            vctx.flags |= AD_JOB_F_OVERRIDE;
            rc = ad_job_apply_key(&vctx, &axis->patch[j], key, &v);
            if (rc)
                return rc;
        }
    }
    rc = ad_job_check_keys(ctx, grid, "grid key ", s_grid_nonscalar, NULL);
    if (rc)
        return rc;
    qsort(self->axes, (size_t)self->naxes, sizeof(*self->axes), s_cmp_axis);
    for (int a = 0; a < self->naxes; a++) {
        for (int b = 0; b < self->naxes; b++) {
            const char *pa = self->axes[a].key->path, *pb = self->axes[b].key->path;
            size_t n = strlen(pa);
            const s_axis_t *later =
                s_after(self->axes[a].at, self->axes[b].at) ? &self->axes[a] : &self->axes[b];

            if (a != b && !strncmp(pa, pb, n) && pb[n] == '.')
                return ad_job_fail(
                    ctx, later->at,
                    "grid varies %s and %s: vary the whole %s or its parts, not both", pa, pb, pa);
            if (a < b && ad_job_key_id(self->axes[a].key) == AD_JOB_K_EPOCHS &&
                ad_job_key_id(self->axes[b].key) == AD_JOB_K_STEPS)
                return ad_job_fail(ctx, later->at,
                                   "grid varies epochs and steps: vary one of them");
        }
    }
    return 0;
}

/* Count configurations and jobs, and hold them to max_configs. */
static int
s_sweep_count(ad_sweep_t *self, ad_job_ctx_t *ctx, yaml_mark_t grid_at, yaml_mark_t random_at)
{
    self->grid = 1;
    for (int a = 0; a < self->naxes; a++) {
        if (self->grid > INT64_MAX / self->axes[a].n)
            return ad_job_fail(ctx, grid_at,
                               "the grid has more than %" PRId64 " configurations, far more than "
                               "max_configs %" PRId64,
                               INT64_MAX, self->max_configs);
        self->grid *= self->axes[a].n;
    }
    self->configs = self->grid;
    if (self->samples) {
        if (self->samples > self->grid)
            return ad_job_fail(ctx, random_at,
                               "random.samples %" PRId64 " is more than the grid's %" PRId64
                               " configurations; drop random: to run them all",
                               self->samples, self->grid);
        self->configs = self->samples;
    }
    if (self->configs > self->max_configs / self->repeats) {
        char jobs[40] = "more than 2^63";

        if (self->configs <= INT64_MAX / self->repeats)
            snprintf(jobs, sizeof(jobs), "%" PRId64, self->configs * self->repeats);
        return ad_job_fail(ctx, grid_at,
                           "the sweep expands to %s jobs (%" PRId64
                           " configurations x %d repeats), "
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
    json_object_set_new(
        o, "base",
        ad_job_json_masked(&self->base.job, self->base.set & ~AD_JOB_BIT(AD_JOB_K_NAME)));
    for (int a = 0; a < self->naxes; a++)
        json_object_set(grid, self->axes[a].key->path, self->axes[a].values);
    json_object_set_new(o, "grid", grid);
    if (self->samples)
        json_object_set_new(o, "random",
                            json_pack("{s:I,s:I}", "samples", (json_int_t)self->samples, "seed",
                                      (json_int_t)self->rseed));
    json_object_set_new(o, "repeats", json_integer(self->repeats));
    s = json_dumps(o, AD_JOB_JSON_FLAGS);
    if (!s)
        ad_oom(0);
    ad_job_hash_hex(s, self->hash);
    free(s);
    json_object_set_new(o, "max_configs", json_integer(self->max_configs));
    self->json = ad_job_dump(o);
}

/* The base: a job file path (relative to the sweep's folder) or an inline job mapping. */
static int
s_sweep_base(ad_sweep_t *self, ad_job_ctx_t *ctx, ad_job_node_t *node)
{
    char path[PATH_MAX + 1], got[80], *text, *dir;
    const char *s;
    ad_err_t ferr;
    size_t len;
    int rc, n;

    if (node->type == YAML_MAPPING_NODE) {
        ad_job_ctx_t bctx = *ctx;

        bctx.flags |= AD_JOB_F_BASE | AD_JOB_F_INLINE;
        return ad_job_spec_parse_node(&bctx, node, &self->base);
    }
    if (node->type != YAML_SCALAR_NODE || ad_job_is_null(node) || !*(s = ad_job_text(node)))
        return ad_job_fail(ctx, node->start_mark,
                           "base must be a job file or an inline job mapping, got %s",
                           ad_job_got(node, got, sizeof(got)));
    if (s[0] != '/' && ctx->dir)
        n = snprintf(path, sizeof(path), "%s/%s", ctx->dir, s);
    else
        n = snprintf(path, sizeof(path), "%s", s);
    if (n < 0 || (size_t)n >= sizeof(path))
        return ad_job_fail(ctx, node->start_mark, "base must be a job file, got a path too long");
    rc = ad_job_read_file(path, "job file", &text, &len, &ferr);
    if (rc) {
        ad_job_fail(ctx, node->start_mark, "base must be a job file, got %s (%s)",
                    ad_job_got(node, got, sizeof(got)), ferr.msg);
        /* The message says where base is; the code keeps saying why (-ENOENT...). */
        if (ctx->err)
            ctx->err->code = rc;
        return rc;
    }
    dir = ad_job_dirname(path);
    rc = ad_job_spec_parse_text(text, len, path, dir, AD_JOB_F_BASE, &self->base, ctx->err);
    free(dir);
    free(text);
    return rc;
}

/* The top-level nodes of a sweep file: name, base, grid and random kept, the others read. */
typedef struct {
    ad_job_node_t *name, *base, *grid, *random; /* NULL when absent, else in nodes[] */
    ad_job_node_t nodes[4];
    yaml_mark_t grid_at, random_at; /* where grid and random are, for count messages */
} s_top_t;

/* Unknown key at the top of a sweep file, with a hint when it is close to a known one. */
static int
s_sweep_unknown(ad_job_ctx_t *ctx, ad_job_node_t *k, const char *ks)
{
    /* Last first: of two keys equally close, the later one is named, as before. */
    static const char *const known[] = {"max_configs", "repeats", "random", "grid", "base", "name"};
    const char *best = ad_suggest(ks, known, sizeof(known) / sizeof(known[0]), 3, false);
    char hint[64] = "", got[80];

    if (best)
        snprintf(hint, sizeof(hint), " (did you mean %s?)", best);
    return ad_job_fail(ctx, k->start_mark,
                       "unknown key %s in a sweep file%s, expected one of name, base, grid, "
                       "random, repeats, max_configs",
                       ad_job_got(k, got, sizeof(got)), hint);
}

/* Walk the sweep file's mapping: keep the nodes of name, base, grid, random; read the numbers. */
static int
s_sweep_top(ad_sweep_t *self, ad_job_ctx_t *ctx, ad_job_node_t *root, s_top_t *top)
{
    const char *name;
    json_t *jv;
    int64_t v;
    int rc;

    top->grid_at = root->start_mark;
    json_object_foreach(root->v, name, jv)
    {
        ad_job_node_t kn, vn, *k = &kn, *val = &vn;
        const char *ks = name;

        ad_job_child(ctx, root, name, jv, val, k);
        rc = ad_job_check_keys(ctx, root, "key ", s_top_nonscalar, k);
        if (rc)
            return rc;
        if (!strcmp(ks, "name")) {
            top->name = &top->nodes[0];
            *top->name = *val;
        } else if (!strcmp(ks, "base")) {
            top->base = &top->nodes[1];
            *top->base = *val;
        } else if (!strcmp(ks, "grid")) {
            top->grid = &top->nodes[2];
            *top->grid = *val;
            top->grid_at = k->start_mark;
        } else if (!strcmp(ks, "random")) {
            top->random = &top->nodes[3];
            *top->random = *val;
            top->random_at = k->start_mark;
        } else if (!strcmp(ks, "repeats")) {
            rc = ad_job_get_int(ctx, val, "repeats", 1, AD_SWEEP_REPEATS_MAX, &v);
            if (rc)
                return rc;
            self->repeats = (int)v;
        } else if (!strcmp(ks, "max_configs")) {
            rc = ad_job_get_int(ctx, val, "max_configs", 1, 1000000000, &self->max_configs);
            if (rc)
                return rc;
        } else {
            return s_sweep_unknown(ctx, k, ks);
        }
    }
    return ad_job_check_keys(ctx, root, "key ", s_top_nonscalar, NULL);
}

/* The sweep's name: required, a job-name-like word. */
static int
s_sweep_name(ad_sweep_t *self, ad_job_ctx_t *ctx, ad_job_node_t *root, ad_job_node_t *name)
{
    char got[80];

    if (!name)
        return ad_job_fail(ctx, root->start_mark,
                           "name is required (letters, digits, '.', '_' and "
                           "'-', at most %d)",
                           AD_SWEEP_NAME_MAX);
    if (name->type != YAML_SCALAR_NODE || !ad_job_name_ok(ad_job_text(name), AD_SWEEP_NAME_MAX))
        return ad_job_fail(ctx, name->start_mark,
                           "name must be 1 to %d letters, digits, '.', '_' or '-', starting with a "
                           "letter or digit, got %s",
                           AD_SWEEP_NAME_MAX, ad_job_got(name, got, sizeof(got)));
    self->name = ad_strdup(ad_job_text(name));
    return 0;
}

/* random: {samples: N, seed: S}. */
static int
s_sweep_random(ad_sweep_t *self, ad_job_ctx_t *ctx, ad_job_node_t *random)
{
    bool samples = false;
    const char *name;
    json_t *jv;
    char got[80];
    int rc;

    if (random->type != YAML_MAPPING_NODE)
        return ad_job_fail(ctx, random->start_mark,
                           "random must be a mapping {samples: N, seed: S}, got %s",
                           ad_job_got(random, got, sizeof(got)));
    json_object_foreach(random->v, name, jv)
    {
        ad_job_node_t kn, vn, *k = &kn, *val = &vn;
        const char *ks = name;

        ad_job_child(ctx, random, name, jv, val, k);
        rc = ad_job_check_keys(ctx, random, "key random.", s_random_nonscalar, k);
        if (rc)
            return rc;
        if (!strcmp(ks, "samples")) {
            samples = true;
            rc = ad_job_get_int(ctx, val, "random.samples", 1, 1000000000, &self->samples);
        } else if (!strcmp(ks, "seed")) {
            rc = ad_job_get_int(ctx, val, "random.seed", 0, INT64_MAX, &self->rseed);
        } else {
            rc = ad_job_fail(ctx, k->start_mark,
                             "unknown key %s in random, expected samples and seed",
                             ad_job_got(k, got, sizeof(got)));
        }
        if (rc)
            return rc;
    }
    rc = ad_job_check_keys(ctx, random, "key random.", s_random_nonscalar, NULL);
    if (rc)
        return rc;
    if (!samples)
        return ad_job_fail(ctx, random->start_mark, "random needs samples: N");
    return 0;
}

/* The canonical values of each axis; a value given twice in one list is an error. */
static int
s_sweep_values(ad_sweep_t *self, const ad_job_ctx_t *ctx)
{
    for (int a = 0; a < self->naxes; a++) {
        s_axis_t *axis = &self->axes[a];

        axis->values = json_array();
        for (int j = 0; j < axis->n; j++) {
            json_t *v = s_axis_value(axis, j);

            for (int i = 0; i < j; i++)
                if (json_equal(v, json_array_get(axis->values, (size_t)i))) {
                    ad_job_ctx_t vctx = *ctx;

                    vctx.prefix = NULL;
                    json_decref(v);
                    return ad_job_fail(&vctx, axis->patch[j].mark[ad_job_key_id(axis->key)],
                                       "grid %s value %d repeats value %d", axis->key->path, j + 1,
                                       i + 1);
                }
            json_array_append_new(axis->values, v);
        }
    }
    return 0;
}

/* Expand a parsed sweep: grid, count, samples, a check of every configuration, canonical form. */
static int
s_sweep_expand(ad_sweep_t *self, ad_job_ctx_t *ctx, const s_top_t *top)
{
    char got[80];
    int rc;

    if (top->grid && !ad_job_is_null(top->grid)) {
        if (top->grid->type != YAML_MAPPING_NODE)
            return ad_job_fail(ctx, top->grid->start_mark,
                               "grid must be a mapping of job keys to lists, got %s",
                               ad_job_got(top->grid, got, sizeof(got)));
        rc = s_sweep_grid(self, ctx, top->grid);
        if (rc)
            return rc;
    }
    rc = s_sweep_count(self, ctx, top->grid_at, top->random_at);
    if (rc)
        return rc;
    if (self->samples)
        self->picks = s_sample(self->grid, self->samples, self->rseed);
    for (int64_t c = 0; c < self->configs; c++) {
        rc = s_sweep_check(self, self->picks ? self->picks[c] : c, ctx->err);
        if (rc)
            return rc;
    }
    rc = s_sweep_values(self, ctx);
    if (rc)
        return rc;
    s_sweep_canon(self);
    return 0;
}

static int
s_sweep_parse(const char *text, size_t len, const char *file, const char *dir, unsigned flags,
              ad_sweep_t **out, ad_err_t *err)
{
    ad_job_ctx_t ctx = {file, text, len, NULL, dir, flags, NULL, err};
    s_top_t top = {0};
    ad_job_node_t root;
    ad_sweep_t *self;
    int rc;

    *out = NULL;
    rc = ad_job_load_doc(&ctx, "sweep file", s_sweep_keys, &root);
    if (rc)
        return rc;
    self = ad_calloc(1, sizeof(*self));
    self->file = ad_strdup(file);
    ad_job_spec_init(&self->base);
    self->repeats = 1;
    self->max_configs = AD_SWEEP_MAX_CONFIGS;
    self->rseed = 1;
    rc = s_sweep_top(self, &ctx, &root, &top);
    if (!rc)
        rc = s_sweep_name(self, &ctx, &root, top.name);
    if (!rc && !top.base)
        rc = ad_job_fail(&ctx, root.start_mark,
                         "base is required: a job file (relative to this file) or an inline job");
    if (!rc)
        rc = s_sweep_base(self, &ctx, top.base);
    if (!rc && top.random)
        rc = s_sweep_random(self, &ctx, top.random);
    if (!rc)
        rc = s_sweep_expand(self, &ctx, &top);
    if (rc)
        goto err_free;
    ad_doc_free(&ctx.doc);
    *out = self;
    return 0;
err_free:
    ad_sweep_free(&self);
    ad_doc_free(&ctx.doc);
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
    rc = ad_job_read_file(path, "sweep file", &text, &len, err);
    if (rc)
        return rc;
    dir = ad_job_dirname(path);
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
    return s_sweep_parse(json, strlen(json), "<json>", NULL, AD_JOB_F_NOFS, out, err);
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
            ad_job_spec_clear(&self->axes[a].patch[j]);
        free(self->axes[a].patch);
        json_decref(self->axes[a].values);
    }
    free(self->axes);
    ad_job_spec_clear(&self->base);
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
    int idx[AD_JOB_K_COUNT], rc;
    char hash[17], name[AD_JOB_NAME_MAX + 1];
    ad_job_spec_t spec;
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
    ad_job_spec_to_job(&spec, job);
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
    int idx[AD_JOB_K_COUNT];
    ad_job_spec_t spec;

    assert(self && out && c >= 0 && c < self->configs);
    /* What ad_sweep_job() builds, without the check, the copy and the name: a shallow copy. */
    s_compose(self, self->picks ? self->picks[c] : c, &spec, idx);
    spec.job.name = NULL;
    ad_job_spec_resolve(&spec);
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
