/* ad_job.c - job files: parsing with located errors, checks, canonical JSON, hashes */
#include "ad_job_priv.h"

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

#include "autodist/ad_hash.h"
#include "autodist/ad_suggest.h"

/* ---------------------------------------------------------------------------------------- */
/* Reading files and documents.                                                             */

int
ad_job_read_file(const char *path, const char *what, char **text, size_t *len, ad_err_t *err)
{
    return ad_doc_read_file(path, what, AD_JOB_FILE_MAX, text, len, err);
}

/* The folder of a file path, for relative paths inside it; the caller frees it. */
char *
ad_job_dirname(const char *path)
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

/*
 * Read the one YAML document of ctx->text into ctx->doc and its root mapping
 * into *root.  what names the file's kind in messages.  On failure ctx->doc
 * is NULL; on success the caller frees it (ad_doc_free()).
 */
int
ad_job_load_doc(ad_job_ctx_t *ctx, const char *what, const char *keys, ad_job_node_t *root)
{
    char got[80];
    int rc;

    ctx->doc = NULL;
    rc = ad_doc_parse_yaml(ctx->text, ctx->len, ctx->file, what, keys,
                           AD_DOC_KEYS_LATER | AD_DOC_NUMBERS_LATER, &ctx->doc, ctx->err);
    if (rc)
        return rc;
    ad_job_root(ctx, root);
    if (root->type != YAML_MAPPING_NODE) {
        rc = ad_job_fail(ctx, root->start_mark, "a %s must be a mapping of %s, got %s", what, keys,
                         ad_job_got(root, got, sizeof(got)));
        ad_doc_free(&ctx->doc);
        return rc;
    }
    return 0;
}

static const char s_job_keys[] = "job keys (name, model, dataset, batch_size, ...)";

/* Parse a whole job text into spec (validated, defaults not yet resolved). */
int
ad_job_spec_parse_text(const char *text, size_t len, const char *file, const char *dir,
                       unsigned flags, ad_job_spec_t *spec, ad_err_t *err)
{
    ad_job_ctx_t ctx = {file, text, len, NULL, dir, flags, NULL, err};
    ad_job_node_t root;
    int rc;

    rc = ad_job_load_doc(&ctx, "job file", s_job_keys, &root);
    if (rc)
        return rc;
    rc = ad_job_spec_parse_node(&ctx, &root, spec);
    ad_doc_free(&ctx.doc);
    return rc;
}

/* Resolve a copy of spec into job, which gets its own strings. */
void
ad_job_spec_to_job(const ad_job_spec_t *spec, ad_job_t *job)
{
    ad_job_spec_t tmp = *spec;

    ad_job_spec_resolve(&tmp);
    ad_job_copy(job, &tmp.job);
}

static int
s_job_parse(const char *text, size_t len, const char *file, const char *dir, unsigned flags,
            ad_job_t *job, ad_err_t *err)
{
    ad_job_spec_t spec;
    int rc;

    memset(job, 0, sizeof(*job));
    rc = ad_job_spec_parse_text(text, len, file, dir, flags, &spec, err);
    if (rc)
        return rc;
    ad_job_spec_to_job(&spec, job);
    ad_job_spec_clear(&spec);
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
    rc = ad_job_read_file(path, "job file", &text, &len, err);
    if (rc)
        return rc;
    dir = ad_job_dirname(path);
    rc = s_job_parse(text, len, path, dir, 0, job, err);
    free(dir);
    free(text);
    return rc;
}

/* All of stdin (at most AD_JOB_FILE_MAX bytes) as a new string, its length in *len. */
static int
s_read_stdin(char **text, size_t *len, ad_err_t *err)
{
    size_t cap = 4096, n = 0, got;
    char *buf = ad_malloc(cap + 1);

    while ((got = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += got;
        if (n > AD_JOB_FILE_MAX) {
            free(buf);
            return ad_err_set(err, AD_EPARSE, "<stdin>: more than %d bytes: not a job file",
                              AD_JOB_FILE_MAX);
        }
        if (n == cap) {
            cap *= 2;
            buf = ad_realloc(buf, cap + 1);
        }
    }
    if (ferror(stdin)) {
        free(buf);
        return ad_err_set(err, -EIO, "<stdin>: cannot read: %s", strerror(errno));
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

int
ad_job_parse_file_set(const char *path, const char *const *sets, size_t n_sets, ad_job_t *job,
                      ad_err_t *err)
{
    bool in = !strcmp(path, "-");
    const char *file = in ? "<stdin>" : path;
    char *text = NULL, *dir = NULL;
    ad_job_spec_t spec;
    ad_job_ctx_t ctx = {file, NULL, 0, NULL, NULL, AD_JOB_F_NOCHECK, NULL, err};
    size_t len = 0;
    int rc;

    assert(path && job && (sets || !n_sets));
    memset(job, 0, sizeof(*job));
    rc = in ? s_read_stdin(&text, &len, err) : ad_job_read_file(path, "job file", &text, &len, err);
    if (rc)
        return rc;
    /* Relative paths of a job read from stdin start from the current folder. */
    dir = in ? NULL : ad_job_dirname(path);
    rc = ad_job_spec_parse_text(text, len, file, dir, AD_JOB_F_NOCHECK, &spec, err);
    if (rc)
        goto out_free;
    for (size_t i = 0; i < n_sets && !rc; i++)
        rc = ad_job_spec_set(&spec, sets[i], NULL, 0, err);
    if (!rc) {
        ctx.text = text;
        ctx.len = len;
        rc = ad_job_spec_check_at(&ctx, &spec);
    }
    if (!rc)
        ad_job_spec_to_job(&spec, job);
    ad_job_spec_clear(&spec);
out_free:
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
    ad_job_resv_clear(&job->reservation);
    free(job->tags);
    free(job->note);
    free(job->distill.teacher);
    free(job->distill.checkpoint);
    free(job->finetune);
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
    ad_job_resv_copy(&dst->reservation, &src->reservation);
    dst->tags = src->tags ? ad_strdup(src->tags) : NULL;
    dst->note = src->note ? ad_strdup(src->note) : NULL;
    dst->distill.teacher = src->distill.teacher ? ad_strdup(src->distill.teacher) : NULL;
    dst->distill.checkpoint = src->distill.checkpoint ? ad_strdup(src->distill.checkpoint) : NULL;
    dst->finetune = src->finetune ? ad_strdup(src->finetune) : NULL;
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
 * The JSON of the keys in mask.  With AD_JOB_K_ALL and a resolved job it is the
 * canonical form; with a spec's set bits it is what a sweep's base gave.
 */
json_t *
ad_job_json_masked(const ad_job_t *j, uint64_t mask)
{
    json_t *o = json_object();

#define S_HAS(id) (mask & AD_JOB_BIT(id))
    if (S_HAS(AD_JOB_K_NAME) && j->name)
        json_object_set_new(o, "name", json_string(j->name));
    if (S_HAS(AD_JOB_K_MODEL))
        json_object_set_new(o, "model", json_string(ad_job_models[j->model]));
    if (mask & AD_JOB_GROUP_DATASET)
        json_object_set_new(o, "dataset", s_dataset_json(j));
    if (S_HAS(AD_JOB_K_DATA_DIR) && j->data_dir)
        json_object_set_new(o, "data_dir", json_string(j->data_dir));
    if (S_HAS(AD_JOB_K_FINETUNE) && j->finetune)
        json_object_set_new(o, "finetune", json_string(j->finetune));
    if (S_HAS(AD_JOB_K_EPOCHS) && j->epochs)
        json_object_set_new(o, "epochs", json_integer(j->epochs));
    if (S_HAS(AD_JOB_K_STEPS) && j->steps)
        json_object_set_new(o, "steps", json_integer(j->steps));
    if (S_HAS(AD_JOB_K_BATCH))
        json_object_set_new(o, "batch_size", json_integer(j->batch_size));
    if (mask & AD_JOB_GROUP_OPTIM) {
        json_t *opt = json_object();

        if (S_HAS(AD_JOB_K_OPT_TYPE))
            json_object_set_new(opt, "type", json_string(ad_job_optims[j->optimizer.type]));
        if (S_HAS(AD_JOB_K_OPT_LR))
            json_object_set_new(opt, "lr", json_real(j->optimizer.lr));
        if (S_HAS(AD_JOB_K_OPT_MOMENTUM) && j->optimizer.type == AD_JOB_OPTIM_SGD)
            json_object_set_new(opt, "momentum", json_real(j->optimizer.momentum));
        if (S_HAS(AD_JOB_K_OPT_WD))
            json_object_set_new(opt, "weight_decay", json_real(j->optimizer.weight_decay));
        json_object_set_new(o, "optimizer", opt);
    }
    if (S_HAS(AD_JOB_K_SEED))
        json_object_set_new(o, "seed", json_integer(j->seed));
    if (S_HAS(AD_JOB_K_DEVICE))
        json_object_set_new(o, "device", json_string(ad_job_devices[j->device]));
    if (mask & AD_JOB_GROUP_LAYOUT)
        json_object_set_new(o, "layout",
                            j->layout.is_auto
                                ? json_string("auto")
                                : json_pack("{s:i,s:i,s:i}", "nodes", j->layout.nodes,
                                            "procs_per_node", j->layout.procs_per_node,
                                            "threads_per_proc", j->layout.threads_per_proc));
    if (S_HAS(AD_JOB_K_EVAL))
        json_object_set_new(o, "eval", json_boolean(j->eval));
    if (S_HAS(AD_JOB_K_CKPT) && j->checkpoint_every)
        json_object_set_new(o, "checkpoint_every", json_integer(j->checkpoint_every));
    if (S_HAS(AD_JOB_K_CKPT_KEEP) && j->checkpoint_keep)
        json_object_set_new(o, "checkpoint_keep", json_integer(j->checkpoint_keep));
    if (S_HAS(AD_JOB_K_KEEP_CKPTS) && j->keep_checkpoints)
        json_object_set_new(o, "keep_checkpoints", json_true());
    if (S_HAS(AD_JOB_K_BUCKET))
        json_object_set_new(o, "bucket_mb", json_real(j->bucket_mb));
    if (S_HAS(AD_JOB_K_TIME) && j->time_limit_s)
        json_object_set_new(o, "time_limit", json_integer(j->time_limit_s));
    if (S_HAS(AD_JOB_K_REQUEUE) && j->requeue != AD_JOB_REQUEUE_DEFAULT)
        json_object_set_new(o, "requeue", json_integer(j->requeue));
    if (S_HAS(AD_JOB_K_REQUEUE_TIMEOUT) && j->requeue_on_timeout)
        json_object_set_new(o, "requeue_on_timeout", json_true());
    if (S_HAS(AD_JOB_K_RESERVATION) && j->reservation.set)
        json_object_set_new(o, "reservation", ad_job_resv_json(&j->reservation));
    if (S_HAS(AD_JOB_K_TAGS) && j->tags) {
        json_t *tags = json_loads(j->tags, 0, NULL);

        if (tags)
            json_object_set_new(o, "tags", tags);
    }
    if (S_HAS(AD_JOB_K_NOTE) && j->note)
        json_object_set_new(o, "note", json_string(j->note));
    if ((mask & AD_JOB_GROUP_DISTILL) && j->distill.teacher) {
        json_t *d = json_object();

        if (S_HAS(AD_JOB_K_DISTILL_TEACHER) || S_HAS(AD_JOB_K_DISTILL))
            json_object_set_new(d, "teacher", json_string(j->distill.teacher));
        /* Where a run id was found (the coordinator sets it); a folder teacher is its own. */
        if (S_HAS(AD_JOB_K_DISTILL_CKPT) && j->distill.checkpoint &&
            strcmp(j->distill.checkpoint, j->distill.teacher))
            json_object_set_new(d, "checkpoint", json_string(j->distill.checkpoint));
        if (S_HAS(AD_JOB_K_DISTILL_T) || S_HAS(AD_JOB_K_DISTILL))
            json_object_set_new(d, "temperature", json_real(j->distill.temperature));
        if (S_HAS(AD_JOB_K_DISTILL_ALPHA) || S_HAS(AD_JOB_K_DISTILL))
            json_object_set_new(d, "alpha", json_real(j->distill.alpha));
        json_object_set_new(o, "distill", d);
    }
#undef S_HAS
    return o;
}

/* Dump a JSON value canonically and release it; never NULL. */
char *
ad_job_dump(json_t *value)
{
    char *s = json_dumps(value, AD_JOB_JSON_FLAGS | JSON_ENCODE_ANY);

    json_decref(value);
    if (!s)
        ad_oom(0);
    return s;
}

char *
ad_job_to_json(const ad_job_t *job)
{
    assert(job);
    return ad_job_dump(ad_job_json_masked(job, AD_JOB_K_ALL));
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
    return s_job_parse(json, strlen(json), "<json>", NULL, AD_JOB_F_NOFS, job, err);
}

/*
 * FNV-1a over the text, then MurmurHash3's fmix64: FNV alone changes few bits
 * when two texts differ near their end (a seed, a batch size), and job names
 * keep only 12 of the 16 digits.
 */
static uint64_t
s_fnv1a(const char *s)
{
    uint64_t h = ad_hash_fnv1a64(s);

    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

void
ad_job_hash_hex(const char *s, char out[17])
{
    snprintf(out, 17, "%016" PRIx64, s_fnv1a(s));
}

void
ad_job_hash(const ad_job_t *job, char out[17])
{
    char *s;

    assert(job && out);
    /*
     * What does not change what is trained stays out: the name, how
     * interruptions are handled, how many checkpoints are kept, where it runs
     * (the reservation: a sweep resumed in a new reservation finds its runs).
     */
    s = ad_job_dump(ad_job_json_masked(
        job, AD_JOB_K_ALL & ~(AD_JOB_BIT(AD_JOB_K_NAME) | AD_JOB_BIT(AD_JOB_K_REQUEUE) |
                              AD_JOB_BIT(AD_JOB_K_REQUEUE_TIMEOUT) |
                              AD_JOB_BIT(AD_JOB_K_CKPT_KEEP) | AD_JOB_BIT(AD_JOB_K_KEEP_CKPTS) |
                              AD_JOB_BIT(AD_JOB_K_RESERVATION) | AD_JOB_BIT(AD_JOB_K_TAGS) |
                              AD_JOB_BIT(AD_JOB_K_NOTE) | AD_JOB_BIT(AD_JOB_K_DISTILL_CKPT))));
    ad_job_hash_hex(s, out);
    free(s);
}

const char *
ad_job_model_name(ad_job_model_t model)
{
    return model >= AD_JOB_MODEL_MLP && model <= AD_JOB_MODEL_MOBILENET_V2 ? ad_job_models[model]
                                                                           : "unknown";
}

const char *
ad_job_dataset_name(ad_job_data_t kind)
{
    return kind >= AD_JOB_DATA_FASHION_MNIST && kind <= AD_JOB_DATA_IMAGEFOLDER
               ? ad_job_datasets[kind]
               : "unknown";
}

const char *
ad_job_optim_name(ad_job_optim_t type)
{
    return type == AD_JOB_OPTIM_SGD || type == AD_JOB_OPTIM_ADAM ? ad_job_optims[type] : "unknown";
}

const char *
ad_job_device_name(ad_job_device_t device)
{
    return device >= AD_JOB_DEVICE_CPU && device <= AD_JOB_DEVICE_AUTO ? ad_job_devices[device]
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

/* Fail "--set KEY=VALUE: <message of ctx's parse without its file:line:col>". */
static int
s_set_fail(ad_err_t *err, const char *assignment, const char *located)
{
    const char *msg = located;

    /* "<set>:1:4: optimizer.lr must be ..." -> the message after the location. */
    if (!strncmp(msg, "<set>:", 6)) {
        msg += 6;
        msg += strspn(msg, "0123456789:");
        msg += strspn(msg, " ");
    }
    return ad_err_set(err, AD_EPARSE, "--set %s: %s", assignment, msg);
}

int
ad_job_spec_set(ad_job_spec_t *spec, const char *assignment, const char *dir, unsigned flags,
                ad_err_t *err)
{
    const char *eq = strchr(assignment, '='), *best;
    const ad_job_key_t *key;
    const char *paths[AD_JOB_K_COUNT];
    char path[AD_JOB_PATH_MAX], hint[200] = "", *text, located[sizeof(err->msg)];
    ad_err_t perr = {0};
    ad_job_ctx_t ctx = {"<set>", NULL, 0, NULL, dir, flags | AD_JOB_F_OVERRIDE, NULL, &perr};
    ad_job_node_t root, node;
    int rc;

    if (!eq || eq == assignment)
        return ad_err_set(err, AD_EPARSE,
                          "--set %s: expected KEY=VALUE with a job key, such as optimizer.lr=0.01 "
                          "or layout=1x2x1",
                          assignment);
    snprintf(path, sizeof(path), "%.*s", (int)(eq - assignment), assignment);
    key = ad_job_key_path(path);
    if (!key) {
        for (int id = 0; id < AD_JOB_K_COUNT; id++)
            paths[id] = ad_job_keys[id].path;
        best = ad_suggest(path, paths, AD_JOB_K_COUNT, 3, false);
        if (best)
            snprintf(hint, sizeof(hint), " (did you mean %s?)", best);
        else
            ad_job_key_hint("", path, true, hint, sizeof(hint));
        return ad_err_set(err, AD_EPARSE,
                          "--set %s: unknown job key \"%s\"%s, expected a key of a job file "
                          "such as batch_size, seed, optimizer.lr, layout or layout.nodes",
                          assignment, path, hint);
    }
    /* The value is read as the YAML of a job file would be: 0.01, true, [1, 2], {a: 1}. */
    text = ad_malloc(strlen(eq + 1) + 5);
    sprintf(text, "v: %s\n", eq + 1);
    ctx.text = text;
    ctx.len = strlen(text);
    rc = ad_job_load_doc(&ctx, "--set value", "v", &root);
    if (!rc) {
        ad_job_child(&ctx, &root, "v", json_object_get(root.v, "v"), &node, NULL);
        rc = ad_job_apply_key(&ctx, spec, key, &node);
        ad_doc_free(&ctx.doc);
    }
    free(text);
    if (rc) {
        snprintf(located, sizeof(located), "%s", perr.msg);
        return s_set_fail(err, assignment, located);
    }
    return 0;
}

int
ad_job_sweep_set(const ad_sweep_t *sweep, const char *const *sets, size_t n_sets, ad_sweep_t **out,
                 ad_err_t *err)
{
    json_t *doc = json_loads(ad_sweep_json(sweep), 0, NULL), *grid;
    ad_job_spec_t spec;
    char *base = NULL, *text = NULL, path[AD_JOB_PATH_MAX];
    const unsigned flags = AD_JOB_F_BASE | AD_JOB_F_NOFS | AD_JOB_F_NOCHECK;
    int rc = 0;

    *out = NULL;
    if (!doc || !json_is_object(json_object_get(doc, "base"))) {
        rc = ad_err_set(err, AD_EPARSE, "--set: the sweep's JSON has no base job");
        goto out_free;
    }
    grid = json_object_get(doc, "grid");
    for (size_t i = 0; i < n_sets; i++) {
        const char *eq = strchr(sets[i], '=');

        snprintf(path, sizeof(path), "%.*s", eq ? (int)(eq - sets[i]) : 0, sets[i]);
        if (!strcmp(path, "name")) {
            rc = ad_err_set(err, AD_EPARSE,
                            "--set %s: a sweep's jobs are named <sweep>-<hash>-r<repeat>; the "
                            "sweep's own name is the name: of its file",
                            sets[i]);
            goto out_free;
        }
        if (json_object_get(grid, path)) {
            rc = ad_err_set(err, AD_EPARSE,
                            "--set %s: %s is a grid key of sweep %s: its values come from the "
                            "grid, not from --set",
                            sets[i], path, ad_sweep_name(sweep));
            goto out_free;
        }
    }
    base = json_dumps(json_object_get(doc, "base"), JSON_COMPACT);
    if (!base)
        ad_oom(0);
    rc = ad_job_spec_parse_text(base, strlen(base), "<json>", NULL, flags, &spec, err);
    if (rc)
        goto out_free;
    for (size_t i = 0; i < n_sets && !rc; i++)
        rc = ad_job_spec_set(&spec, sets[i], NULL, AD_JOB_F_BASE, err);
    if (!rc) {
        /* The base as given plus the keys set: what the sweep file would have said. */
        json_object_set_new(doc, "base", ad_job_json_masked(&spec.job, spec.set));
        text = json_dumps(doc, JSON_COMPACT);
        if (!text)
            ad_oom(0);
        rc = ad_sweep_load_json(text, out, err);
    }
    ad_job_spec_clear(&spec);
out_free:
    free(text);
    free(base);
    json_decref(doc);
    return rc;
}
