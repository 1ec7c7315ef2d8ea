/* ad_job_keys.c - the keys of a job file: the table, what each key reads, defaults, checks */
#include "ad_job_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autodist/ad_layout.h"
#include "autodist/ad_opt.h"

const char *const ad_job_models[] = {"mlp", "lenet5", "cnn", "resnet18", "mobilenet_v2", NULL};
const char *const ad_job_datasets[] = {"fashion-mnist", "synthetic", "imagefolder", NULL};
const char *const ad_job_optims[] = {"sgd", "adam", NULL};
const char *const ad_job_devices[] = {"cpu", "gpu", "auto", NULL};

_Static_assert(sizeof(ad_job_model_t) == sizeof(int) && sizeof(ad_job_data_t) == sizeof(int) &&
                   sizeof(ad_job_optim_t) == sizeof(int) && sizeof(ad_job_device_t) == sizeof(int),
               "enumerations are read and written as int");

static int s_apply_name(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                        ad_job_node_t *node);
static int s_apply_dataset(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                           ad_job_node_t *node);
static int s_apply_shape(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                         ad_job_node_t *node);
static int s_apply_path(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                        ad_job_node_t *node);
static int s_apply_length(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                          ad_job_node_t *node);
static int s_apply_optim(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                         ad_job_node_t *node);
static int s_apply_layout(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                          ad_job_node_t *node);
static int s_apply_count(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                         ad_job_node_t *node);
static int s_apply_time(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                        ad_job_node_t *node);
static int s_apply_tags(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                        ad_job_node_t *node);
static int s_apply_note(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                        ad_job_node_t *node);

#define S_OFF(field) offsetof(ad_job_t, field)
#define S_SYN (1 + AD_JOB_DATA_SYNTHETIC)
#define S_IMG (1 + AD_JOB_DATA_IMAGEFOLDER)

/* Ranges follow autodist-train's own checks (trainer/ad_train_opts.c), so a valid job launches. */
const ad_job_key_t ad_job_keys[AD_JOB_K_COUNT] = {
    [AD_JOB_K_NAME] = {.path = "name", .type = AD_JOB_T_CUSTOM, .apply = s_apply_name},
    [AD_JOB_K_MODEL] = {.path = "model",
                        .type = AD_JOB_T_ENUM,
                        .off = S_OFF(model),
                        .names = ad_job_models},
    [AD_JOB_K_DATASET] = {.path = "dataset", .type = AD_JOB_T_CUSTOM, .apply = s_apply_dataset},
    [AD_JOB_K_SYN_SHAPE] = {.path = "dataset.synthetic.shape",
                            .type = AD_JOB_T_CUSTOM,
                            .apply = s_apply_shape,
                            .need = S_SYN},
    [AD_JOB_K_SYN_CLASSES] = {.path = "dataset.synthetic.classes",
                              .type = AD_JOB_T_INT,
                              .off = S_OFF(dataset.classes),
                              .min = 2,
                              .max = 100000,
                              .need = S_SYN},
    [AD_JOB_K_SYN_SAMPLES] = {.path = "dataset.synthetic.samples",
                              .type = AD_JOB_T_I64,
                              .off = S_OFF(dataset.samples),
                              .min = 1,
                              .max = INT64_C(1) << 40,
                              .need = S_SYN},
    [AD_JOB_K_IMG_PATH] = {.path = "dataset.imagefolder.path",
                           .type = AD_JOB_T_CUSTOM,
                           .apply = s_apply_path,
                           .need = S_IMG},
    [AD_JOB_K_IMG_SIZE] = {.path = "dataset.imagefolder.image_size",
                           .type = AD_JOB_T_INT,
                           .off = S_OFF(dataset.image_size),
                           .min = 8,
                           .max = 4096,
                           .need = S_IMG},
    [AD_JOB_K_DATA_DIR] = {.path = "data_dir", .type = AD_JOB_T_CUSTOM, .apply = s_apply_path},
    [AD_JOB_K_EPOCHS] = {.path = "epochs", .type = AD_JOB_T_CUSTOM, .apply = s_apply_length},
    [AD_JOB_K_STEPS] = {.path = "steps", .type = AD_JOB_T_CUSTOM, .apply = s_apply_length},
    [AD_JOB_K_BATCH] = {.path = "batch_size",
                        .type = AD_JOB_T_INT,
                        .off = S_OFF(batch_size),
                        .min = 1,
                        .max = INT_MAX},
    [AD_JOB_K_OPTIM] = {.path = "optimizer", .type = AD_JOB_T_CUSTOM, .apply = s_apply_optim},
    [AD_JOB_K_OPT_TYPE] = {.path = "optimizer.type",
                           .type = AD_JOB_T_ENUM,
                           .off = S_OFF(optimizer.type),
                           .names = ad_job_optims},
    [AD_JOB_K_OPT_LR] = {.path = "optimizer.lr",
                         .type = AD_JOB_T_REAL,
                         .off = S_OFF(optimizer.lr),
                         .rmin = 1e-12,
                         .rmax = 1e6},
    [AD_JOB_K_OPT_MOMENTUM] = {.path = "optimizer.momentum",
                               .type = AD_JOB_T_REAL,
                               .off = S_OFF(optimizer.momentum),
                               .rmin = 0,
                               .rmax = 0.999999},
    [AD_JOB_K_OPT_WD] = {.path = "optimizer.weight_decay",
                         .type = AD_JOB_T_REAL,
                         .off = S_OFF(optimizer.weight_decay),
                         .rmin = 0,
                         .rmax = 1e3},
    [AD_JOB_K_SEED] =
        {.path = "seed", .type = AD_JOB_T_I64, .off = S_OFF(seed), .min = 0, .max = INT64_MAX},
    [AD_JOB_K_DEVICE] = {.path = "device",
                         .type = AD_JOB_T_ENUM,
                         .off = S_OFF(device),
                         .names = ad_job_devices},
    [AD_JOB_K_LAYOUT] = {.path = "layout", .type = AD_JOB_T_CUSTOM, .apply = s_apply_layout},
    [AD_JOB_K_NODES] = {.path = "layout.nodes",
                        .type = AD_JOB_T_CUSTOM,
                        .off = S_OFF(layout.nodes),
                        .min = 1,
                        .max = 65536,
                        .apply = s_apply_count},
    [AD_JOB_K_PPN] = {.path = "layout.procs_per_node",
                      .type = AD_JOB_T_CUSTOM,
                      .off = S_OFF(layout.procs_per_node),
                      .min = 1,
                      .max = 1024,
                      .apply = s_apply_count},
    [AD_JOB_K_TPP] = {.path = "layout.threads_per_proc",
                      .type = AD_JOB_T_CUSTOM,
                      .off = S_OFF(layout.threads_per_proc),
                      .min = 1,
                      .max = 1024,
                      .apply = s_apply_count},
    [AD_JOB_K_EVAL] = {.path = "eval", .type = AD_JOB_T_BOOL, .off = S_OFF(eval)},
    [AD_JOB_K_CKPT] = {.path = "checkpoint_every",
                       .type = AD_JOB_T_I64,
                       .off = S_OFF(checkpoint_every),
                       .min = 1,
                       .max = AD_JOB_STEPS_MAX},
    [AD_JOB_K_CKPT_KEEP] = {.path = "checkpoint_keep",
                            .type = AD_JOB_T_INT,
                            .off = S_OFF(checkpoint_keep),
                            .min = 1,
                            .max = 1000},
    [AD_JOB_K_KEEP_CKPTS] = {.path = "keep_checkpoints",
                             .type = AD_JOB_T_BOOL,
                             .off = S_OFF(keep_checkpoints)},
    [AD_JOB_K_BUCKET] = {.path = "bucket_mb",
                         .type = AD_JOB_T_REAL,
                         .off = S_OFF(bucket_mb),
                         .rmin = 0.001,
                         .rmax = 1024},
    [AD_JOB_K_TIME] = {.path = "time_limit", .type = AD_JOB_T_CUSTOM, .apply = s_apply_time},
    [AD_JOB_K_REQUEUE] = {.path = "requeue",
                          .type = AD_JOB_T_INT,
                          .off = S_OFF(requeue),
                          .min = 0,
                          .max = AD_JOB_REQUEUE_MAX},
    [AD_JOB_K_REQUEUE_TIMEOUT] = {.path = "requeue_on_timeout",
                                  .type = AD_JOB_T_BOOL,
                                  .off = S_OFF(requeue_on_timeout)},
    [AD_JOB_K_RESERVATION] = {.path = "reservation",
                              .type = AD_JOB_T_CUSTOM,
                              .apply = ad_job_resv_apply},
    [AD_JOB_K_TAGS] = {.path = "tags", .type = AD_JOB_T_CUSTOM, .apply = s_apply_tags},
    [AD_JOB_K_NOTE] = {.path = "note", .type = AD_JOB_T_CUSTOM, .apply = s_apply_note},
    [AD_JOB_K_DISTILL] = {.path = "distill",
                          .type = AD_JOB_T_CUSTOM,
                          .apply = ad_job_distill_apply},
    [AD_JOB_K_DISTILL_TEACHER] = {.path = "distill.teacher",
                                  .type = AD_JOB_T_CUSTOM,
                                  .apply = ad_job_teacher_apply},
    [AD_JOB_K_DISTILL_CKPT] = {.path = "distill.checkpoint",
                               .type = AD_JOB_T_CUSTOM,
                               .apply = ad_job_teacher_apply},
    [AD_JOB_K_DISTILL_T] = {.path = "distill.temperature",
                            .type = AD_JOB_T_REAL,
                            .off = S_OFF(distill.temperature),
                            .rmin = 1e-6,
                            .rmax = AD_JOB_DISTILL_T_MAX},
    [AD_JOB_K_DISTILL_ALPHA] = {.path = "distill.alpha",
                                .type = AD_JOB_T_REAL,
                                .off = S_OFF(distill.alpha),
                                .rmin = 0,
                                .rmax = 1},
    [AD_JOB_K_FINETUNE] = {.path = "finetune", .type = AD_JOB_T_CUSTOM, .apply = s_apply_path},
};

/* ---------------------------------------------------------------------------------------- */
/* Keys.                                                                                    */

static void *
s_field(ad_job_spec_t *spec, const ad_job_key_t *key)
{
    return (char *)&spec->job + key->off;
}

static int s_apply_map(ad_job_ctx_t *ctx, ad_job_spec_t *spec, ad_job_node_t *map,
                       const char *prefix);

/* Read one key's value into spec, recording that it was given and where. */
int
ad_job_apply_key(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                 ad_job_node_t *node)
{
    int id = ad_job_key_id(key), rc = 0, iv = 0;
    int64_t v = 0;
    double d = 0;

    if (key->need && (int)spec->job.dataset.kind != key->need - 1)
        return ad_job_fail(ctx, node->start_mark, "%s needs a %s dataset, but the dataset is %s",
                           key->path, ad_job_datasets[key->need - 1],
                           ad_job_datasets[spec->job.dataset.kind]);
    switch (key->type) {
    case AD_JOB_T_INT:
        rc = ad_job_get_int(ctx, node, key->path, key->min, key->max, &v);
        if (!rc)
            *(int *)s_field(spec, key) = (int)v;
        break;
    case AD_JOB_T_I64:
        rc = ad_job_get_int(ctx, node, key->path, key->min, key->max, &v);
        if (!rc)
            *(int64_t *)s_field(spec, key) = v;
        break;
    case AD_JOB_T_REAL:
        rc = ad_job_get_real(ctx, node, key->path, key->rmin, key->rmax, &d);
        if (!rc)
            *(double *)s_field(spec, key) = d;
        break;
    case AD_JOB_T_BOOL: {
        ad_doc_want_t want = {.kind = AD_DOC_BOOL};

        rc = ad_job_get(ctx, node, key->path, &want, s_field(spec, key));
        break;
    }
    case AD_JOB_T_ENUM:
        rc = ad_job_get_enum(ctx, node, key->path, key->names, &iv);
        if (!rc)
            *(int *)s_field(spec, key) = iv;
        break;
    default:
        rc = key->apply(ctx, spec, key, node);
        break;
    }
    if (rc)
        return rc;
    spec->set |= AD_JOB_BIT(id);
    spec->mark[id] = node->start_mark;
    return 0;
}

static int
s_apply_name(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key, ad_job_node_t *node)
{
    const char *s = NULL;
    char got[80];
    int rc;

    if (ctx->flags & AD_JOB_F_INLINE)
        return ad_job_fail(ctx, node->start_mark,
                           "name belongs to the sweep, not to its base: the jobs are named "
                           "<sweep>-<hash>-r<repeat>");
    rc = ad_job_get_string(ctx, node, "name", "a name of letters, digits, '.', '_' and '-'", &s);
    if (rc)
        return rc;
    if (!ad_job_name_ok(s, AD_JOB_NAME_MAX))
        return ad_job_fail(ctx, node->start_mark,
                           "name must be 1 to %d letters, digits, '.', '_' or '-', starting with a "
                           "letter or digit, got %s",
                           AD_JOB_NAME_MAX, ad_job_got(node, got, sizeof(got)));
    free(spec->job.name);
    spec->job.name = ad_strdup(s);
    return 0;
}

/* A tag key: 1 to 64 letters, digits, '_', '-' or '.' (ad_store_tag_key_ok()'s rule). */
static bool
s_tag_key_ok(const char *k)
{
    size_t len = strlen(k);

    if (len == 0 || len > 64)
        return false;
    for (; *k; k++)
        if (!(*k == '_' || *k == '-' || *k == '.' || (*k >= 'a' && *k <= 'z') ||
              (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9')))
            return false;
    return true;
}

/* tags: a mapping of names to scalars, kept as canonical JSON of strings. */
static int
s_apply_tags(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key, ad_job_node_t *node)
{
    json_t *tags, *jv;
    const char *name;
    char got[80];

    (void)key;
    free(spec->job.tags);
    spec->job.tags = NULL;
    if (ad_job_is_null(node))
        return 0;
    if (node->type != YAML_MAPPING_NODE)
        return ad_job_fail(ctx, node->start_mark,
                           "tags must be a mapping such as {study: scaling, owner: ana}, got %s",
                           ad_job_got(node, got, sizeof(got)));
    tags = json_object();
    json_object_foreach(node->v, name, jv)
    {
        ad_job_node_t k, v;

        ad_job_child(ctx, node, name, jv, &v, &k);
        if (!s_tag_key_ok(name)) {
            json_decref(tags);
            return ad_job_fail(ctx, k.start_mark,
                               "tag names are 1 to 64 letters, digits, '_', '-' or '.', got \"%s\"",
                               name);
        }
        if (v.type != YAML_SCALAR_NODE || ad_job_is_null(&v) || strlen(v.text) > 1024) {
            json_decref(tags);
            return ad_job_fail(ctx, v.start_mark,
                               "tag %s must be a text or a number of at most 1024 bytes, got %s",
                               name, ad_job_got(&v, got, sizeof(got)));
        }
        json_object_set_new(tags, name, json_string(v.text));
    }
    spec->job.tags = json_object_size(tags) ? ad_job_dump(json_incref(tags)) : NULL;
    json_decref(tags);
    return 0;
}

/* note: free text. */
static int
s_apply_note(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key, ad_job_node_t *node)
{
    const char *s = NULL;
    int rc;

    (void)key;
    free(spec->job.note);
    spec->job.note = NULL;
    if (ad_job_is_null(node))
        return 0;
    rc = ad_job_get_string(ctx, node, "note", "a text", &s);
    if (rc)
        return rc;
    if (strlen(s) > 4096)
        return ad_job_fail(ctx, node->start_mark, "note is at most 4096 bytes, got %zu", strlen(s));
    spec->job.note = *s ? ad_strdup(s) : NULL;
    return 0;
}

/* Back to fashion-mnist with every dataset option at its default. */
static void
s_dataset_reset(ad_job_spec_t *spec)
{
    free(spec->job.dataset.path);
    memset(&spec->job.dataset, 0, sizeof(spec->job.dataset));
    spec->job.dataset.channels = 3;
    spec->job.dataset.height = 32;
    spec->job.dataset.width = 32;
    spec->job.dataset.classes = 10;
    spec->job.dataset.samples = 50000;
    spec->job.dataset.image_size = 224;
    spec->set &= ~AD_JOB_GROUP_DATASET;
}

static int
s_apply_dataset(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                ad_job_node_t *node)
{
    static const char expected[] = "dataset must be fashion-mnist, synthetic, "
                                   "{synthetic: {shape: [C, H, W], classes: K, samples: N}} or "
                                   "{imagefolder: PATH}";
    ad_job_node_t kn, vn, *k = &kn, *v = &vn;
    ad_doc_key_problem_t pr = {0};
    bool problem;
    void *it;
    char got[80];
    int kind, rc;

    s_dataset_reset(spec);
    if (node->type == YAML_SCALAR_NODE) {
        if (!strcmp(ad_job_text(node), "imagefolder"))
            return ad_job_fail(
                ctx, node->start_mark,
                "dataset imagefolder needs its folder: dataset: {imagefolder: PATH}");
        if (!strcmp(ad_job_text(node), "fashion-mnist") ||
            !strcmp(ad_job_text(node), "synthetic")) {
            spec->job.dataset.kind =
                ad_job_text(node)[0] == 'f' ? AD_JOB_DATA_FASHION_MNIST : AD_JOB_DATA_SYNTHETIC;
            return 0;
        }
        return ad_job_fail(ctx, node->start_mark, "%s, got %s", expected,
                           ad_job_got(node, got, sizeof(got)));
    }
    problem = node->type == YAML_MAPPING_NODE && ad_doc_key_problem(ctx->doc, node->path, &pr);
    if (node->type != YAML_MAPPING_NODE || (!json_object_size(node->v) && !problem))
        return ad_job_fail(ctx, node->start_mark, "%s, got %s", expected,
                           node->type == YAML_MAPPING_NODE ? "an empty mapping"
                                                           : ad_job_got(node, got, sizeof(got)));
    if (problem) {
        yaml_mark_t at = {0, pr.line - 1, pr.col - 1};

        if (!json_object_size(node->v))
            return ad_job_fail(ctx, at, "%s, got the key %s", expected, pr.got);
        snprintf(got, sizeof(got), "\"%.48s\"", pr.key ? pr.key : "?");
        return ad_job_fail(ctx, at, "dataset names one kind, got a second key %s",
                           pr.key ? got : pr.got);
    }
    if (json_object_size(node->v) > 1) {
        it = json_object_iter_next(node->v, json_object_iter(node->v));
        ad_job_child(ctx, node, json_object_iter_key(it), json_object_iter_value(it), v, k);
        return ad_job_fail(ctx, k->start_mark, "dataset names one kind, got a second key %s",
                           ad_job_got(k, got, sizeof(got)));
    }
    it = json_object_iter(node->v);
    ad_job_child(ctx, node, json_object_iter_key(it), json_object_iter_value(it), v, k);
    if (k->type != YAML_SCALAR_NODE ||
        (strcmp(ad_job_text(k), "synthetic") && strcmp(ad_job_text(k), "imagefolder"))) {
        if (k->type == YAML_SCALAR_NODE && !strcmp(ad_job_text(k), "fashion-mnist"))
            return ad_job_fail(ctx, k->start_mark,
                               "fashion-mnist takes no options here: write dataset: fashion-mnist "
                               "and data_dir: DIR for its folder");
        return ad_job_fail(ctx, k->start_mark, "%s, got the key %s", expected,
                           ad_job_got(k, got, sizeof(got)));
    }
    kind = !strcmp(ad_job_text(k), "synthetic") ? AD_JOB_DATA_SYNTHETIC : AD_JOB_DATA_IMAGEFOLDER;
    spec->job.dataset.kind = kind;
    if (kind == AD_JOB_DATA_SYNTHETIC) {
        if (ad_job_is_null(v))
            return 0;
        if (v->type != YAML_MAPPING_NODE)
            return ad_job_fail(ctx, v->start_mark,
                               "dataset.synthetic must be a mapping {shape: [C, H, W], classes: K, "
                               "samples: N}, got %s",
                               ad_job_got(v, got, sizeof(got)));
        return s_apply_map(ctx, spec, v, "dataset.synthetic");
    }
    if (v->type == YAML_SCALAR_NODE)
        return ad_job_apply_key(ctx, spec, &ad_job_keys[AD_JOB_K_IMG_PATH], v);
    if (v->type != YAML_MAPPING_NODE)
        return ad_job_fail(ctx, v->start_mark,
                           "dataset.imagefolder must be a folder or {path: PATH, image_size: S}, "
                           "got %s",
                           ad_job_got(v, got, sizeof(got)));
    rc = s_apply_map(ctx, spec, v, "dataset.imagefolder");
    if (rc)
        return rc;
    if (!(spec->set & AD_JOB_BIT(AD_JOB_K_IMG_PATH)))
        return ad_job_fail(ctx, v->start_mark, "dataset.imagefolder needs path: its folder");
    return 0;
}

static int
s_apply_shape(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key, ad_job_node_t *node)
{
    static const char *const what[3] = {"dataset.synthetic.shape[0] (channels)",
                                        "dataset.synthetic.shape[1] (height)",
                                        "dataset.synthetic.shape[2] (width)"};
    static const int64_t max[3] = {64, 4096, 4096};
    int64_t v[3];
    char got[80];
    int rc;

    if (node->type != YAML_SEQUENCE_NODE || json_array_size(node->v) != 3)
        return ad_job_fail(
            ctx, node->start_mark,
            "dataset.synthetic.shape must be a list [C, H, W] of three integers, got %s",
            node->type == YAML_SEQUENCE_NODE ? "a list of another length"
                                             : ad_job_got(node, got, sizeof(got)));
    for (int i = 0; i < 3; i++) {
        ad_job_node_t item;

        ad_job_item(ctx, node, (size_t)i, &item);
        rc = ad_job_get_int(ctx, &item, what[i], 1, max[i], &v[i]);
        if (rc)
            return rc;
    }
    spec->job.dataset.channels = (int)v[0];
    spec->job.dataset.height = (int)v[1];
    spec->job.dataset.width = (int)v[2];
    return 0;
}

/* finetune's folder must hold an fp32 inference artifact (model.json); 0 or a failure. */
static int
s_check_artifact(ad_job_ctx_t *ctx, ad_job_node_t *node, const char *dir)
{
    char path[PATH_MAX + 16], got[80];
    json_error_t je;
    json_t *m;
    const char *variant;
    int rc = 0;

    snprintf(path, sizeof(path), "%s/model.json", dir);
    m = json_load_file(path, 0, &je);
    variant = json_string_value(json_object_get(m, "variant"));
    if (!json_is_object(m) || !json_is_string(json_object_get(m, "arch")))
        rc = ad_job_fail(ctx, node->start_mark,
                         "finetune must be an inference artifact's folder (autodist export, "
                         "autodist models), got %s (%s: %s)",
                         ad_job_got(node, got, sizeof(got)), path,
                         m ? "no arch: not an autodist model" : je.text);
    else if (variant && !strcmp(variant, "int8"))
        rc = ad_job_fail(ctx, node->start_mark,
                         "finetune: %s is an int8 model; fine-tune its fp32 parent instead", dir);
    json_decref(m);
    return rc;
}

/*
 * A folder: "~/" is the home folder, relative paths start at ctx->dir; it must exist
 * (finetune's must also hold an fp32 artifact).
 */
static int
s_apply_path(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key, ad_job_node_t *node)
{
    char joined[PATH_MAX + 1], real[PATH_MAX + 1], got[80];
    const char *s = NULL, *home = getenv("HOME");
    int id = ad_job_key_id(key);
    char **out = id == AD_JOB_K_DATA_DIR   ? &spec->job.data_dir
                 : id == AD_JOB_K_FINETUNE ? &spec->job.finetune
                                           : &spec->job.dataset.path;
    struct stat st;
    int rc, n;

    rc = ad_job_get_string(ctx, node, key->path, "a folder", &s);
    if (rc)
        return rc;
    if (!strncmp(s, "~/", 2) && home && *home)
        n = snprintf(joined, sizeof(joined), "%s/%s", home, s + 2);
    else if (s[0] != '/' && ctx->dir && !(ctx->flags & AD_JOB_F_NOFS))
        n = snprintf(joined, sizeof(joined), "%s/%s", ctx->dir, s);
    else
        n = snprintf(joined, sizeof(joined), "%s", s);
    if (n < 0 || (size_t)n >= sizeof(joined))
        return ad_job_fail(ctx, node->start_mark, "%s must be a folder, got a path too long (%s)",
                           key->path, ad_job_got(node, got, sizeof(got)));
    if (ctx->flags & AD_JOB_F_NOFS) {
        if (joined[0] != '/')
            return ad_job_fail(ctx, node->start_mark, "%s must be an absolute path in JSON, got %s",
                               key->path, ad_job_got(node, got, sizeof(got)));
        snprintf(real, sizeof(real), "%s", joined);
    } else if (!realpath(joined, real) || stat(real, &st)) {
        const char *why = strerror(errno);

        return ad_job_fail(ctx, node->start_mark, "%s must be an existing folder, got %s (%s: %s)",
                           key->path, ad_job_got(node, got, sizeof(got)), joined, why);
    } else if (!S_ISDIR(st.st_mode)) {
        return ad_job_fail(ctx, node->start_mark,
                           "%s must be a folder, got %s (%s is not a folder)", key->path,
                           ad_job_got(node, got, sizeof(got)), real);
    } else if (id == AD_JOB_K_FINETUNE && (rc = s_check_artifact(ctx, node, real))) {
        return rc;
    }
    free(*out);
    *out = ad_strdup(real);
    return 0;
}

/* epochs and steps; in a grid, giving one drops the base's other. */
static int
s_apply_length(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key, ad_job_node_t *node)
{
    bool epochs = ad_job_key_id(key) == AD_JOB_K_EPOCHS;
    int64_t v;
    int rc;

    rc = ad_job_get_int(ctx, node, key->path, 1, epochs ? AD_JOB_EPOCHS_MAX : AD_JOB_STEPS_MAX, &v);
    if (rc)
        return rc;
    if (epochs)
        spec->job.epochs = v;
    else
        spec->job.steps = v;
    if (ctx->flags & AD_JOB_F_OVERRIDE) {
        if (epochs)
            spec->job.steps = 0;
        else
            spec->job.epochs = 0;
        spec->set &= ~AD_JOB_GROUP_LENGTH;
    }
    return 0;
}

static int
s_apply_optim(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key, ad_job_node_t *node)
{
    char got[80];

    if (node->type != YAML_MAPPING_NODE)
        return ad_job_fail(
            ctx, node->start_mark,
            "optimizer must be a mapping such as {type: sgd, lr: 0.05, momentum: 0.9, "
            "weight_decay: 0}, got %s",
            ad_job_got(node, got, sizeof(got)));
    memset(&spec->job.optimizer, 0, sizeof(spec->job.optimizer));
    spec->set &= ~AD_JOB_GROUP_OPTIM;
    return s_apply_map(ctx, spec, node, "optimizer");
}

/* layout: 1x2x1, the form tables print, within the limits of the mapping's keys. */
static int
s_apply_layout_text(ad_job_ctx_t *ctx, ad_job_spec_t *spec, ad_job_node_t *node)
{
    static const int leaf[3] = {AD_JOB_K_NODES, AD_JOB_K_PPN, AD_JOB_K_TPP};
    ad_layout_t l;
    ad_err_t err = {0};
    int v[3];

    if (ad_layout_parse("layout", ad_job_text(node), &l, &err))
        return ad_job_fail(ctx, node->start_mark, "%s", err.msg);
    v[0] = l.nodes;
    v[1] = l.procs_per_node;
    v[2] = l.threads_per_proc;
    for (int i = 0; i < 3; i++) {
        const ad_job_key_t *k = &ad_job_keys[leaf[i]];

        if (v[i] > k->max)
            return ad_job_fail(ctx, node->start_mark, "%s must be at most %lld, got \"%s\"",
                               k->path, (long long)k->max, ad_job_text(node));
        *(int *)s_field(spec, k) = v[i];
        spec->set |= AD_JOB_BIT(leaf[i]);
    }
    return 0;
}

static int
s_apply_layout(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key, ad_job_node_t *node)
{
    static const int leaf[3] = {AD_JOB_K_NODES, AD_JOB_K_PPN, AD_JOB_K_TPP};
    char got[80], missing[80] = "";
    size_t n = 0;
    int rc;

    memset(&spec->job.layout, 0, sizeof(spec->job.layout));
    spec->set &= ~AD_JOB_GROUP_LAYOUT;
    if (node->type == YAML_SCALAR_NODE && !strcmp(ad_job_text(node), "auto")) {
        spec->job.layout.is_auto = true;
        return 0;
    }
    if (node->type == YAML_SCALAR_NODE && ad_job_text(node) && strpbrk(ad_job_text(node), "xX,"))
        return s_apply_layout_text(ctx, spec, node);
    if (node->type != YAML_MAPPING_NODE)
        return ad_job_fail(ctx, node->start_mark,
                           "layout must be auto, NODESxPROCSxTHREADS (1x2x1) or {nodes: N, "
                           "procs_per_node: P, threads_per_proc: T}, got %s",
                           ad_job_got(node, got, sizeof(got)));
    rc = s_apply_map(ctx, spec, node, "layout");
    if (rc)
        return rc;
    for (int i = 0; i < 3; i++)
        if (!(spec->set & AD_JOB_BIT(leaf[i])))
            n += (size_t)snprintf(missing + n, sizeof(missing) - n, "%s%s", n ? ", " : "",
                                  ad_job_key_child_name(&ad_job_keys[leaf[i]], "layout"));
    if (n)
        return ad_job_fail(ctx, node->start_mark,
                           "layout needs nodes, procs_per_node and threads_per_proc, missing %s",
                           missing);
    return 0;
}

/* layout.nodes, layout.procs_per_node, layout.threads_per_proc: giving one makes it explicit. */
static int
s_apply_count(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key, ad_job_node_t *node)
{
    int64_t v;
    int rc;

    rc = ad_job_get_int(ctx, node, key->path, key->min, key->max, &v);
    if (rc)
        return rc;
    *(int *)s_field(spec, key) = (int)v;
    spec->job.layout.is_auto = false;
    return 0;
}

static int
s_apply_time(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key, ad_job_node_t *node)
{
    char got[80];

    int64_t *out = &spec->job.time_limit_s;

    if (node->type == YAML_SCALAR_NODE && ad_opt_parse_duration(ad_job_text(node), out) &&
        *out > 0 && *out <= AD_JOB_TIME_LIMIT_MAX)
        return 0;
    return ad_job_fail(ctx, node->start_mark,
                       "time_limit must be a duration such as 90s, 30m, 2h or 1h30m, or seconds, "
                       "from 1 second to 365 days, got %s",
                       ad_job_got(node, got, sizeof(got)));
}

static const char s_nonscalar[] = "keys must be names, got %s";

/* Read every key of a mapping whose keys are the children of prefix ("" = a job). */
static int
s_apply_map(ad_job_ctx_t *ctx, ad_job_spec_t *spec, ad_job_node_t *map, const char *prefix)
{
    char what[64];
    const char *name;
    json_t *jv;
    int rc;

    snprintf(what, sizeof(what), "key %s%s", prefix, *prefix ? "." : "");
    json_object_foreach(map->v, name, jv)
    {
        ad_job_node_t k, v;
        const ad_job_key_t *key;

        ad_job_child(ctx, map, name, jv, &v, &k);
        rc = ad_job_check_keys(ctx, map, what, s_nonscalar, &k);
        if (rc)
            return rc;
        key = ad_job_key_child(prefix, name);
        if (!key)
            return ad_job_unknown_key(ctx, &k, prefix, false);
        rc = ad_job_apply_key(ctx, spec, key, &v);
        if (rc)
            return rc;
    }
    return ad_job_check_keys(ctx, map, what, s_nonscalar, NULL);
}

int
ad_job_apply_map(ad_job_ctx_t *ctx, ad_job_spec_t *spec, ad_job_node_t *map, const char *prefix)
{
    return s_apply_map(ctx, spec, map, prefix);
}

/* ---------------------------------------------------------------------------------------- */
/* Specs: defaults, checks across keys, copies.                                             */

void
ad_job_spec_init(ad_job_spec_t *spec)
{
    memset(spec, 0, sizeof(*spec));
    s_dataset_reset(spec);
    spec->job.seed = 1;
    spec->job.layout.is_auto = true;
    spec->job.bucket_mb = 2.0;
    spec->job.requeue = AD_JOB_REQUEUE_DEFAULT;
    spec->job.distill.temperature = AD_JOB_DISTILL_T_DEFAULT;
    spec->job.distill.alpha = AD_JOB_DISTILL_ALPHA_DEFAULT;
}

void
ad_job_spec_clear(ad_job_spec_t *spec)
{
    ad_job_clear(&spec->job);
}

void
ad_job_spec_dup(ad_job_spec_t *dst, const ad_job_spec_t *src)
{
    *dst = *src;
    ad_job_copy(&dst->job, &src->job);
}

/*
 * Fill in what depends on other keys: the length, the optimiser's defaults,
 * and zeros for options of another dataset or an auto layout.  Never fails.
 */
void
ad_job_spec_resolve(ad_job_spec_t *spec)
{
    ad_job_t *j = &spec->job;

    if (!j->epochs && !j->steps)
        j->epochs = 1;
    if (j->optimizer.type == AD_JOB_OPTIM_ADAM) {
        j->optimizer.momentum = 0;
        if (!(spec->set & AD_JOB_BIT(AD_JOB_K_OPT_LR)))
            j->optimizer.lr = 0.001;
    } else {
        if (!(spec->set & AD_JOB_BIT(AD_JOB_K_OPT_LR)))
            j->optimizer.lr = 0.05;
        if (!(spec->set & AD_JOB_BIT(AD_JOB_K_OPT_MOMENTUM)))
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
    /* spec may be a shallow copy: its strings are not freed here (none is set without teacher). */
    if (!j->distill.teacher)
        memset(&j->distill, 0, sizeof(j->distill));
}

/* The later of two given keys in the file, for "not both" messages. */
static int
s_later(const ad_job_spec_t *spec, int a, int b)
{
    return spec->mark[a].index > spec->mark[b].index ? a : b;
}

/*
 * Rules across keys.  Returns 0, or AD_EPARSE with msg and *bad set to the
 * key at fault (-1: a required key is missing, said at the job's start).
 */
int
ad_job_spec_check(const ad_job_spec_t *spec, unsigned flags, int *bad, char *msg, size_t len)
{
    static const int leaf[3] = {AD_JOB_K_NODES, AD_JOB_K_PPN, AD_JOB_K_TPP};
    const ad_job_t *j = &spec->job;
    uint64_t set = spec->set;

    *bad = -1;
    if (!(set & AD_JOB_BIT(AD_JOB_K_NAME)) && !(flags & AD_JOB_F_BASE)) {
        snprintf(msg, len, "name is required (letters, digits, '.', '_' and '-', at most %d)",
                 AD_JOB_NAME_MAX);
        return AD_EPARSE;
    }
    if (!(set & AD_JOB_BIT(AD_JOB_K_MODEL))) {
        snprintf(msg, len,
                 "model is required, expected one of mlp, lenet5, cnn, resnet18, "
                 "mobilenet_v2");
        return AD_EPARSE;
    }
    if (!(set & AD_JOB_BIT(AD_JOB_K_DATASET))) {
        snprintf(msg, len,
                 "dataset is required, expected fashion-mnist, synthetic, {synthetic: "
                 "{...}} or {imagefolder: PATH}");
        return AD_EPARSE;
    }
    if (!(set & AD_JOB_BIT(AD_JOB_K_BATCH))) {
        snprintf(msg, len, "batch_size is required (the global batch, a positive integer)");
        return AD_EPARSE;
    }
    if ((set & AD_JOB_GROUP_LENGTH) == AD_JOB_GROUP_LENGTH) {
        *bad = s_later(spec, AD_JOB_K_EPOCHS, AD_JOB_K_STEPS);
        snprintf(msg, len, "give epochs or steps, not both (%s is at line %zu)",
                 *bad == AD_JOB_K_EPOCHS ? "steps" : "epochs",
                 spec->mark[*bad == AD_JOB_K_EPOCHS ? AD_JOB_K_STEPS : AD_JOB_K_EPOCHS].line + 1);
        return AD_EPARSE;
    }
    if (j->optimizer.type == AD_JOB_OPTIM_ADAM && (set & AD_JOB_BIT(AD_JOB_K_OPT_MOMENTUM))) {
        *bad = AD_JOB_K_OPT_MOMENTUM;
        snprintf(msg, len, "optimizer.momentum applies to sgd only, but optimizer.type is adam");
        return AD_EPARSE;
    }
    if (j->data_dir && j->dataset.kind != AD_JOB_DATA_FASHION_MNIST) {
        *bad = AD_JOB_K_DATA_DIR;
        snprintf(msg, len, "data_dir is the fashion-mnist folder, but the dataset is %s%s",
                 ad_job_datasets[j->dataset.kind],
                 j->dataset.kind == AD_JOB_DATA_IMAGEFOLDER
                     ? " (its folder goes in dataset: {imagefolder: PATH})"
                     : "");
        return AD_EPARSE;
    }
    if (!j->layout.is_auto) {
        char missing[80] = "";
        size_t n = 0;

        for (int i = 0; i < 3; i++)
            if (!(set & AD_JOB_BIT(leaf[i]))) {
                n += (size_t)snprintf(missing + n, sizeof(missing) - n, "%s%s", n ? ", " : "",
                                      ad_job_keys[leaf[i]].path);
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
            *bad = AD_JOB_K_BATCH;
            snprintf(msg, len,
                     "batch_size %d is smaller than the %" PRId64 " processes of the layout "
                     "(nodes x procs_per_node); each process needs at least one sample",
                     j->batch_size, (int64_t)j->layout.nodes * j->layout.procs_per_node);
            return AD_EPARSE;
        }
    }
    if ((set & AD_JOB_GROUP_DISTILL & ~AD_JOB_BIT(AD_JOB_K_DISTILL)) && !j->distill.teacher) {
        for (int k = AD_JOB_K_DISTILL_TEACHER; k <= AD_JOB_K_DISTILL_ALPHA; k++)
            if (set & AD_JOB_BIT(k))
                *bad = k;
        snprintf(msg, len, "%s needs distill.teacher: a run id or a checkpoint folder",
                 ad_job_keys[*bad].path);
        return AD_EPARSE;
    }
    *bad = -1;
    return 0;
}

/* Check spec and say where a problem is in a job file; 0 or AD_EPARSE. */
static int
s_check_located(ad_job_ctx_t *ctx, const ad_job_spec_t *spec)
{
    char msg[400];
    int bad;

    if (!ad_job_spec_check(spec, ctx->flags, &bad, msg, sizeof(msg)))
        return 0;
    return ad_job_fail(ctx, bad >= 0 ? spec->mark[bad] : spec->start, "%s", msg);
}

/* Read a job mapping into a fresh spec; spec is cleared on failure. */
int
ad_job_spec_parse_node(ad_job_ctx_t *ctx, ad_job_node_t *map, ad_job_spec_t *spec)
{
    int rc;

    ad_job_spec_init(spec);
    spec->start = map->start_mark;
    rc = s_apply_map(ctx, spec, map, "");
    if (!rc && !(ctx->flags & AD_JOB_F_NOCHECK))
        rc = s_check_located(ctx, spec);
    if (rc)
        ad_job_spec_clear(spec);
    return rc;
}

int
ad_job_spec_check_at(ad_job_ctx_t *ctx, const ad_job_spec_t *spec)
{
    return s_check_located(ctx, spec);
}
