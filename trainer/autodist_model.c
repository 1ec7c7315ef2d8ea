/* autodist_model.c - autodist-model: export, evaluate, measure, quantise and prune artifacts */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "autodist/ad_clock.h"
#include "autodist/ad_data.h"
#include "autodist/ad_error.h"
#include "autodist/ad_infer.h"
#include "autodist/ad_opt.h"
#include "autodist/ad_torch.h"

/*
 * An internal program: `autodist export` and `autodist optimize` spawn it
 * (found next to their own executable) so that the autodist command never
 * links libtorch.  Each verb prints one JSON object on stdout; an error is one
 * line on stderr and a non-zero exit (1: it failed, 2: bad command line).
 * Progress of long steps goes to stderr.  docs/inference.md describes it.
 */

#define S_USAGE                                                                                    \
    "usage: autodist-model export --checkpoint DIR -o OUT [--meta JSON] [--dataset NAME]\n"        \
    "                      [--data-dir D] [--image-size S] [--input-shape CxHxW]\n"                \
    "                      [--classes K] [--samples N] [--seed S]\n"                               \
    "       autodist-model eval OUT [--limit N] [--record]\n"                                      \
    "       autodist-model measure OUT [--threads T] [--runs N] [--record]\n"                      \
    "       autodist-model quantize OUT -o OUT2 --calibrate N [--meta JSON]\n"                     \
    "       autodist-model prune OUT -o OUT2 --fraction F [--structured] [--finetune STEPS]\n"     \
    "                      [--meta JSON]\n"                                                        \
    "eval, measure, quantize, prune: --expect-arch ARCH refuses an artifact of another model\n"

/* Fashion-MNIST's classes in label order (its IDX files carry none). */
static const char *const s_fashion_names[10] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                "Bag",         "Ankle boot"};

/* What the command line said. */
typedef struct opts {
    const char *verb;       /* export, eval, measure, quantize, prune */
    const char *artifact;   /* the artifact a verb reads (not export) */
    const char *checkpoint; /* export: the checkpoint folder */
    const char *out;        /* -o: the artifact written */
    const char *meta;       /* --meta: JSON object merged into model.json */
    ad_data_opts_t data;    /* export: the dataset (state.json's name unless --dataset) */
    int64_t seed;           /* export: --seed (state.json's unless given; -1 = not given) */
    int64_t limit;          /* eval: at most this many test samples (0 = all) */
    int64_t threads;        /* measure: intra-op threads */
    int64_t runs;           /* measure: batch-1 runs (at least; 2 s at most) */
    int64_t calibrate;      /* quantize: calibration images */
    double fraction;        /* prune: share of weights or channels */
    bool structured;        /* prune: channels, not single weights */
    int64_t finetune;       /* prune: SGD steps after pruning */
    bool record;            /* eval/measure: write the figures into model.json */
} opts_t;

static void s_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
s_progress(const char *fmt, ...)
{
    va_list ap;

    fputs("autodist-model: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* "DIR/NAME"; the caller frees it. */
static char *
s_path(const char *dir, const char *name)
{
    char *p;

    if (asprintf(&p, "%s/%s", dir, name) < 0)
        ad_oom(0);
    return p;
}

/* Print doc (stolen) as one compact JSON line on stdout. */
static void
s_print(json_t *doc)
{
    char *s = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(10));

    if (!s)
        ad_oom(0);
    puts(s);
    fflush(stdout);
    free(s);
    json_decref(doc);
}

/* --meta text as an object (a new reference; {} when NULL). */
static int
s_meta_arg(const char *text, json_t **out, ad_err_t *err)
{
    json_error_t je;

    *out = text ? json_loads(text, 0, &je) : json_object();
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return ad_err_set(err, AD_EINVAL, "--meta: not a JSON object%s%s", text ? ": " : "",
                          text ? je.text : "");
    }
    return 0;
}

/* Bytes of dir/model.json + dir/weights.bin (0 for a file that is missing). */
static int64_t
s_artifact_bytes(const char *dir)
{
    static const char *const files[] = {"model.json", "weights.bin"};
    int64_t total = 0;

    for (size_t i = 0; i < 2; i++) {
        char *p = s_path(dir, files[i]);
        struct stat st;

        if (stat(p, &st) == 0)
            total += st.st_size;
        free(p);
    }
    return total;
}

/* ---- the dataset an artifact names ------------------------------------------------------- */

/* The dataset of d as model.json's source.dataset object (a new reference). */
static json_t *
s_dataset_json(const ad_data_opts_t *d, int64_t seed)
{
    json_t *js = json_pack("{s:s, s:I}", "name", d->name, "seed", (json_int_t)seed);

    if (d->dir)
        json_object_set_new(js, "dir", json_string(d->dir));
    if (!strcmp(d->name, "imagefolder"))
        json_object_set_new(js, "image_size", json_integer(d->image_size ? d->image_size : 224));
    if (!strcmp(d->name, "synthetic")) {
        json_object_set_new(js, "channels", json_integer(d->channels));
        json_object_set_new(js, "height", json_integer(d->height));
        json_object_set_new(js, "width", json_integer(d->width));
        json_object_set_new(js, "classes", json_integer(d->classes));
        json_object_set_new(js, "samples", json_integer(d->samples));
    }
    return js;
}

/* model.json's source.dataset of model into d (strings borrowed from model's meta). */
static int
s_dataset_of(const char *dir, const json_t *meta, ad_data_opts_t *d, ad_err_t *err)
{
    json_t *ds = json_object_get(json_object_get(meta, "source"), "dataset");

    memset(d, 0, sizeof(*d));
    if (!json_is_object(ds) || !json_is_string(json_object_get(ds, "name")))
        return ad_err_set(err, AD_EDATA,
                          "%s/model.json: no source.dataset.name: this artifact does not say "
                          "which dataset it was trained on",
                          dir);
    d->name = json_string_value(json_object_get(ds, "name"));
    d->dir = json_string_value(json_object_get(ds, "dir"));
    d->image_size = (int)json_integer_value(json_object_get(ds, "image_size"));
    d->channels = (int)json_integer_value(json_object_get(ds, "channels"));
    d->height = (int)json_integer_value(json_object_get(ds, "height"));
    d->width = (int)json_integer_value(json_object_get(ds, "width"));
    d->classes = (int)json_integer_value(json_object_get(ds, "classes"));
    d->samples = json_integer_value(json_object_get(ds, "samples"));
    d->seed = (uint64_t)json_integer_value(json_object_get(ds, "seed"));
    if (d->image_size) {
        d->height = d->width = d->image_size;
    }
    return 0;
}

/* Open split of the dataset model.json of dir names, checked against the artifact's shape. */
static int
s_open_data(const char *dir, ad_infer_t *model, ad_split_t split, json_t **meta, ad_dataset_t **ds,
            ad_err_t *err)
{
    ad_data_opts_t d;
    int c, h, w, dc, dh, dw;
    int rc;

    *meta = json_loads(ad_infer_meta(model), 0, NULL);
    rc = s_dataset_of(dir, *meta, &d, err);
    if (!rc)
        rc = ad_data_open(&d, split, ds, err);
    if (rc)
        return rc;
    ad_infer_shape(model, &c, &h, &w);
    ad_data_shape(*ds, &dc, &dh, &dw);
    if (c != dc || h != dh || w != dw || ad_data_classes(*ds) > ad_infer_classes(model))
        return ad_err_set(err, AD_EDATA,
                          "%s: the artifact takes %dx%dx%d into %d classes, its dataset %s gives "
                          "%dx%dx%d in %d classes",
                          dir, c, h, w, ad_infer_classes(model), d.name, dc, dh, dw,
                          ad_data_classes(*ds));
    return 0;
}

/* --expect-arch: the architecture the caller's records give the artifact it reads (or NULL). */
static const char *s_expect_arch;

/* Load artifact dir, or a one-line error naming it (another architecture than expected, too). */
static int
s_load(const char *dir, ad_infer_t **model, ad_err_t *err)
{
    int rc = ad_infer_load(dir, model, err);

    if (rc && !strstr(err->msg, dir)) {
        ad_err_t inner = *err;

        ad_err_set(err, rc, "%s: %s", dir, inner.msg);
    }
    if (!rc && s_expect_arch && strcmp(ad_infer_arch(*model), s_expect_arch)) {
        rc = ad_err_set(err, AD_ECKPT,
                        "%s/model.json: a %s model, expected %s (the folder holds another model)",
                        dir, ad_infer_arch(*model), s_expect_arch);
        ad_infer_free(model);
    }
    return rc;
}

/*
 * Merge add into dir/model.json (its other keys kept), written to a
 * temporary file and renamed so a crash leaves the old one or the new one.
 */
static int
s_meta_update(const char *dir, json_t *add, ad_err_t *err)
{
    char *path = s_path(dir, "model.json"), *tmp = NULL;
    json_error_t je;
    json_t *js = json_load_file(path, 0, &je);
    FILE *f = NULL;
    bool bad;
    int rc = 0;

    if (!json_is_object(js)) {
        rc = ad_err_set(err, AD_ECKPT, "%s: %s", path, je.text);
        goto out_free;
    }
    json_object_update(js, add);
    if (asprintf(&tmp, "%s.tmp", path) < 0)
        ad_oom(0);
    f = fopen(tmp, "w");
    bad = !f || json_dumpf(js, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) || fputc('\n', f) == EOF ||
          fflush(f) || fsync(fileno(f));
    if (f && fclose(f))
        bad = true;
    if (bad || rename(tmp, path)) {
        rc = ad_err_set(err, AD_EIO, "%s: %s", path, strerror(errno));
        unlink(tmp);
    }
out_free:
    free(tmp);
    free(path);
    json_decref(js);
    return rc;
}

/* ---- export ------------------------------------------------------------------------------ */

/* The dataset and seed of the checkpoint into o->data, from state.json unless given. */
static int
s_export_data(opts_t *o, const json_t *state, const char *state_path, ad_err_t *err)
{
    const char *name = json_string_value(json_object_get(state, "dataset"));

    if (!o->data.name)
        o->data.name = name;
    if (!o->data.name)
        return ad_err_set(err, AD_ECKPT, "%s: no dataset (give --dataset)", state_path);
    if (o->seed < 0)
        o->seed = json_integer_value(json_object_get(state, "seed"));
    o->data.seed = (uint64_t)o->seed;
    if (!strcmp(o->data.name, "imagefolder") && !o->data.dir)
        return ad_err_set(err, AD_EINVAL,
                          "%s: dataset imagefolder: give --data-dir (the folder it trained on)",
                          state_path);
    if (!strcmp(o->data.name, "synthetic")) {
        if (!o->data.channels)
            o->data.channels = 3;
        if (!o->data.height)
            o->data.height = 32;
        if (!o->data.width)
            o->data.width = 32;
        if (!o->data.classes)
            o->data.classes = 10;
        if (!o->data.samples)
            o->data.samples = 50000;
    }
    if (!strcmp(o->data.name, "imagefolder") && !o->data.image_size)
        o->data.image_size = 224;
    return 0;
}

/* model.json's keys of an export: meta given, then what the checkpoint and dataset say. */
static json_t *
s_export_meta(const opts_t *o, json_t *meta, const char *arch, ad_dataset_t *ds)
{
    int c, h, w, k = ad_data_classes(ds);
    json_t *classes = json_array(), *source, *mean = json_array(), *std = json_array();
    bool fashion = !strcmp(o->data.name, "fashion-mnist") && k == 10;

    ad_data_shape(ds, &c, &h, &w);
    for (int i = 0; i < k; i++) {
        const char *name = fashion ? s_fashion_names[i] : ad_data_class_name(ds, i);
        char buf[32];

        if (!name) {
            snprintf(buf, sizeof(buf), "class %d", i);
            name = buf;
        }
        json_array_append_new(classes, json_string(name));
    }
    for (int i = 0; i < c && i < 3; i++) {
        json_array_append_new(mean, json_real(0.5));
        json_array_append_new(std, json_real(0.5));
    }
    json_object_set_new(meta, "arch", json_string(arch));
    json_object_set_new(meta, "variant", json_string("fp32"));
    json_object_set_new(meta, "classes", classes);
    json_object_set_new(meta, "input_shape", json_pack("[i,i,i]", c, h, w));
    json_object_set_new(meta, "normalize", json_pack("{s:o, s:o}", "mean", mean, "std", std));
    source = json_object_get(meta, "source");
    if (!json_is_object(source)) {
        source = json_object();
        json_object_set_new(meta, "source", source);
    }
    json_object_set_new(source, "checkpoint", json_string(o->checkpoint));
    json_object_set_new(source, "dataset", s_dataset_json(&o->data, o->seed));
    return meta;
}

/*
 * Build the zoo model of the checkpoint (or, fine-tuned, the graph of the artifact it
 * started from) with the optimiser it was trained with (the checkpoint holds its state
 * too), load it and export it as an artifact.
 */
static int
s_export_model(const opts_t *o, const char *arch, const char *optim, const char *finetune,
               const char *file, ad_dataset_t *ds, json_t *meta, ad_err_t *err)
{
    ad_model_opts_t mo = {
        .name = arch, .seed = o->data.seed, .device = AD_DEVICE_CPU, .artifact = finetune};
    bool adam = optim && !strcmp(optim, "adam");
    ad_optim_t opt = {.kind = adam ? AD_OPTIM_ADAM : AD_OPTIM_SGD, .lr = 0.01,
                      .momentum = adam ? 0 : 0.9};
    ad_model_t *model = NULL;
    ad_igraph_t *g = NULL;
    char *text = NULL;
    int rc;

    ad_data_shape(ds, &mo.channels, &mo.height, &mo.width);
    mo.classes = ad_data_classes(ds);
    rc = ad_torch_model_new(&mo, &model, err);
    if (!rc)
        rc = ad_torch_set_optimizer(model, &opt, err);
    if (!rc)
        rc = ad_torch_load(model, file, err);
    if (!rc)
        rc = ad_torch_export(model, &g, err);
    if (rc)
        goto out_free;
    text = json_dumps(meta, JSON_COMPACT);
    rc = ad_igraph_save(g, o->out, text, err);
out_free:
    free(text);
    ad_igraph_free(&g);
    ad_torch_model_free(&model);
    return rc;
}

/*
 * A fine-tuned checkpoint's artifact is a variant of the one it started from (dir): the
 * variant, its pruning and its parent carry over, and finetune says from where and how far.
 */
static int
s_finetune_meta(const char *dir, const json_t *state, json_t *meta, ad_err_t *err)
{
    static const char *const carried[] = {"variant", "pruning", "parent_id", NULL};
    char *path = s_path(dir, "model.json");
    json_error_t je;
    json_t *from = json_load_file(path, 0, &je);
    int rc = 0;

    if (!json_is_object(from)) {
        rc = ad_err_set(err, AD_ECKPT,
                        "%s: %s (the artifact this checkpoint was fine-tuned from is gone)", path,
                        je.text);
        goto out_free;
    }
    for (int i = 0; carried[i]; i++) {
        json_t *v = json_object_get(from, carried[i]);

        /* The variant replaces export's "fp32"; what --meta gave stays. */
        if (v && (i == 0 || !json_object_get(meta, carried[i])))
            json_object_set(meta, carried[i], v);
    }
    json_object_set_new(meta, "finetune",
                        json_pack("{s:s, s:I}", "from", dir, "steps",
                                  json_integer_value(json_object_get(state, "step"))));
    if (json_is_object(json_object_get(meta, "pruning")))
        json_object_set(json_object_get(meta, "pruning"), "finetune_steps",
                        json_object_get(state, "step"));
out_free:
    json_decref(from);
    free(path);
    return rc;
}

static int
s_export(opts_t *o, ad_err_t *err)
{
    char *state_path = s_path(o->checkpoint, "state.json"), *file = NULL;
    json_t *state = NULL, *meta = NULL;
    ad_dataset_t *ds = NULL;
    ad_infer_t *art = NULL;
    json_error_t je;
    const char *arch, *fname, *finetune;
    int rc;

    state = json_load_file(state_path, 0, &je);
    if (!json_is_object(state)) {
        rc = ad_err_set(err, AD_ECKPT, "%s: %s (is %s a checkpoint folder?)", state_path, je.text,
                        o->checkpoint);
        goto out_free;
    }
    arch = json_string_value(json_object_get(state, "model"));
    fname = json_string_value(json_object_get(state, "file"));
    if (!arch) {
        rc = ad_err_set(err, AD_ECKPT, "%s: no model", state_path);
        goto out_free;
    }
    file = s_path(o->checkpoint, fname ? fname : "model.pt");
    rc = s_export_data(o, state, state_path, err);
    if (!rc)
        rc = s_meta_arg(o->meta, &meta, err);
    if (!rc)
        rc = ad_data_open(&o->data, AD_SPLIT_TEST, &ds, err);
    if (rc)
        goto out_free;
    s_export_meta(o, meta, arch, ds);
    finetune = json_string_value(json_object_get(state, "finetune"));
    if (finetune && (rc = s_finetune_meta(finetune, state, meta, err)))
        goto out_free;
    s_progress("export: %s (%s) to %s", file, arch, o->out);
    rc = s_export_model(o, arch, json_string_value(json_object_get(state, "optimizer")), finetune,
                        file, ds, meta, err);
    if (!rc)
        rc = s_load(o->out, &art, err); /* what was written loads back */
    if (!rc)
        s_print(json_pack(
            "{s:s, s:s, s:O, s:I, s:I, s:O, s:I}", "path", o->out, "arch", arch, "variant",
            json_object_get(meta, "variant"), "size_bytes", (json_int_t)s_artifact_bytes(o->out),
            "params", (json_int_t)ad_infer_params(art), "classes", json_object_get(meta, "classes"),
            "step", (json_int_t)json_integer_value(json_object_get(state, "step"))));
out_free:
    ad_infer_free(&art);
    ad_data_close(&ds);
    json_decref(meta);
    json_decref(state);
    free(file);
    free(state_path);
    return rc;
}

/* ---- eval -------------------------------------------------------------------------------- */

/* Top-1 hits of logits (n x k) against y. */
static int64_t
s_hits(const float *logits, const int64_t *y, int n, int k)
{
    int64_t hits = 0;

    for (int i = 0; i < n; i++) {
        const float *row = logits + (size_t)i * k;
        int best = 0;

        for (int j = 1; j < k; j++)
            if (row[j] > row[best])
                best = j;
        hits += best == y[i];
    }
    return hits;
}

static int
s_eval(const opts_t *o, ad_err_t *err)
{
    ad_infer_t *model = NULL;
    ad_dataset_t *ds = NULL;
    json_t *meta = NULL;
    float *x = NULL, *logits = NULL;
    int64_t *y = NULL, idx[64], n, hits = 0;
    int c, h, w, k, rc;
    double t0 = ad_clock_now();

    rc = s_load(o->artifact, &model, err);
    if (!rc)
        rc = s_open_data(o->artifact, model, AD_SPLIT_TEST, &meta, &ds, err);
    if (rc)
        goto out_free;
    ad_infer_shape(model, &c, &h, &w);
    k = ad_infer_classes(model);
    n = ad_data_size(ds);
    if (o->limit > 0 && o->limit < n)
        n = o->limit;
    x = ad_calloc((size_t)64 * c * h * w, sizeof(*x));
    y = ad_calloc(64, sizeof(*y));
    logits = ad_calloc((size_t)64 * k, sizeof(*logits));
    s_progress("eval: %s on %" PRId64 " test samples", o->artifact, n);
    for (int64_t i = 0; i < n && !rc; i += 64) {
        int b = n - i < 64 ? (int)(n - i) : 64;

        for (int j = 0; j < b; j++)
            idx[j] = i + j;
        rc = ad_data_batch(ds, idx, b, false, 0, x, y, err);
        if (!rc)
            rc = ad_infer_run(model, x, b, logits, err);
        if (!rc)
            hits += s_hits(logits, y, b, k);
    }
    if (rc)
        goto out_free;
    if (n < 1) {
        rc = ad_err_set(err, AD_EDATA, "%s: its dataset's test split is empty", o->artifact);
        goto out_free;
    }
    if (o->record) {
        json_t *add =
            json_pack("{s:{s:f, s:I}}", "accuracy", "test", (double)hits / n, "n", (json_int_t)n);

        rc = s_meta_update(o->artifact, add, err);
        json_decref(add);
        if (rc)
            goto out_free;
    }
    s_print(json_pack("{s:f, s:I, s:f}", "accuracy", (double)hits / n, "n", (json_int_t)n,
                      "seconds", ad_clock_now() - t0));
out_free:
    free(x);
    free(y);
    free(logits);
    ad_data_close(&ds);
    json_decref(meta);
    ad_infer_free(&model);
    return rc;
}

/* ---- measure ----------------------------------------------------------------------------- */

static int
s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* The q quantile (0..1) of the sorted v[0..n). */
static double
s_quantile(const double *v, int64_t n, double q)
{
    double pos = q * (double)(n - 1);
    int64_t i = (int64_t)pos;

    return i + 1 < n ? v[i] + (pos - (double)i) * (v[i + 1] - v[i]) : v[n - 1];
}

/*
 * Latency at batch 1 (after 10 warm-up runs: at least runs runs, or fewer once
 * 2 s have passed, never fewer than 10) into p50/p95 ms, and throughput at
 * batch 32 (3 warm-up batches, then batches for 1 s, at least 5) into *tput.
 */
static int
s_time(ad_infer_t *model, int64_t runs, double *p50, double *p95, double *tput, ad_err_t *err)
{
    int c, h, w, k = ad_infer_classes(model), rc = 0;
    size_t sample;
    float *x, *logits;
    double *lat = ad_calloc((size_t)runs, sizeof(*lat)), t0;
    int64_t n = 0, batches = 0;

    ad_infer_shape(model, &c, &h, &w);
    sample = (size_t)c * h * w;
    x = ad_calloc(32 * sample, sizeof(*x));
    logits = ad_calloc((size_t)32 * k, sizeof(*logits));
    for (size_t i = 0; i < 32 * sample; i++)
        x[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    for (int i = 0; i < 10 && !rc; i++)
        rc = ad_infer_run(model, x, 1, logits, err);
    t0 = ad_clock_now();
    while (!rc && n < runs && (n < 10 || ad_clock_now() - t0 < 2.0)) {
        double t = ad_clock_now();

        rc = ad_infer_run(model, x, 1, logits, err);
        lat[n++] = (ad_clock_now() - t) * 1e3;
    }
    for (int i = 0; i < 3 && !rc; i++)
        rc = ad_infer_run(model, x, 32, logits, err);
    t0 = ad_clock_now();
    while (!rc && (batches < 5 || ad_clock_now() - t0 < 1.0)) {
        rc = ad_infer_run(model, x, 32, logits, err);
        batches++;
    }
    if (!rc) {
        *tput = 32.0 * (double)batches / (ad_clock_now() - t0);
        qsort(lat, (size_t)n, sizeof(*lat), s_cmp_double);
        *p50 = s_quantile(lat, n, 0.50);
        *p95 = s_quantile(lat, n, 0.95);
    }
    free(lat);
    free(x);
    free(logits);
    return rc;
}

/*
 * Pin this process to the first threads CPUs it may use, so a model and its
 * variants are measured on the same cores; their list ("0,1") into buf.
 */
static void
s_pin(int64_t threads, char *buf, size_t size)
{
    cpu_set_t all, keep;
    size_t len = 0;
    int64_t n = 0;

    buf[0] = '\0';
    if (sched_getaffinity(0, sizeof(all), &all) != 0) {
        snprintf(buf, size, "any");
        return;
    }
    CPU_ZERO(&keep);
    for (int c = 0; c < CPU_SETSIZE && n < threads; c++) {
        if (!CPU_ISSET(c, &all))
            continue;
        CPU_SET(c, &keep);
        n++;
        if (len < size)
            len += (size_t)snprintf(buf + len, size - len, "%s%d", len ? "," : "", c);
    }
    if (sched_setaffinity(0, sizeof(keep), &keep) != 0)
        snprintf(buf, size, "any");
}

static int
s_measure(const opts_t *o, ad_err_t *err)
{
    ad_infer_t *model = NULL;
    double p50 = NAN, p95 = NAN, tput = NAN;
    char cpus[256];
    int rc;

    s_pin(o->threads, cpus, sizeof(cpus));
    ad_infer_set_threads((int)o->threads);
    rc = s_load(o->artifact, &model, err);
    if (rc)
        return rc;
    s_progress("measure: %s on %" PRId64 " thread(s), CPUs %s", o->artifact, o->threads, cpus);
    rc = s_time(model, o->runs, &p50, &p95, &tput, err);
    if (!rc && o->record) {
        json_t *add = json_pack("{s:{s:f, s:f, s:f, s:I, s:s, s:s}}", "latency", "p50_ms", p50,
                                "p95_ms", p95, "tput_b32", tput, "threads", (json_int_t)o->threads,
                                "cpus", cpus, "backend", ad_infer_backend());

        rc = s_meta_update(o->artifact, add, err);
        json_decref(add);
    }
    if (!rc)
        s_print(json_pack("{s:f, s:f, s:f, s:I, s:s, s:s, s:I, s:I, s:s, s:s}", "p50_ms", p50,
                          "p95_ms", p95, "tput_b32", tput, "threads", (json_int_t)o->threads,
                          "cpus", cpus, "backend", ad_infer_backend(), "params",
                          (json_int_t)ad_infer_params(model), "size_bytes",
                          (json_int_t)s_artifact_bytes(o->artifact), "variant",
                          ad_infer_variant(model), "arch", ad_infer_arch(model)));
    ad_infer_free(&model);
    return rc;
}

/* ---- quantize and prune ------------------------------------------------------------------ */

/*
 * The model.json of a variant of model: the parent's keys but its figures
 * (accuracy, latency) and variant, then --meta's.  A new reference.
 */
static int
s_variant_meta(const opts_t *o, ad_infer_t *model, const char *variant, json_t **out, ad_err_t *err)
{
    json_t *add = NULL, *meta = json_loads(ad_infer_meta(model), 0, NULL);
    int rc = s_meta_arg(o->meta, &add, err);

    if (rc) {
        json_decref(meta);
        return rc;
    }
    if (!json_is_object(meta))
        meta = json_object();
    /* null, not absent: the library merges this over the parent's own keys */
    json_object_set_new(meta, "accuracy", json_null());
    json_object_set_new(meta, "latency", json_null());
    if (variant)
        json_object_set_new(meta, "variant", json_string(variant));
    else
        json_object_del(meta, "variant");
    json_object_set_new(meta, "parent", json_string(o->artifact));
    json_object_update(meta, add);
    json_decref(add);
    *out = meta;
    return 0;
}

/* n training samples spread evenly over the split, without augmentation, into *x and *y. */
static int
s_train_samples(ad_dataset_t *ds, int64_t n, int64_t first, float **x, int64_t **y, ad_err_t *err)
{
    int c, h, w;
    int64_t size = ad_data_size(ds), *idx;
    int rc;

    ad_data_shape(ds, &c, &h, &w);
    if (n > size)
        return ad_err_set(err, AD_EINVAL,
                          "the training split has %" PRId64 " samples, %" PRId64 " asked for", size,
                          n);
    idx = ad_calloc((size_t)n, sizeof(*idx));
    for (int64_t i = 0; i < n; i++)
        idx[i] = (first + i * (size / n)) % size;
    *x = ad_calloc((size_t)n * c * h * w, sizeof(**x));
    *y = ad_calloc((size_t)n, sizeof(**y));
    rc = ad_data_batch(ds, idx, (int)n, false, 0, *x, *y, err);
    free(idx);
    return rc;
}

/* Print what a quantize or prune wrote. */
static int
s_print_variant(const char *dir, ad_err_t *err)
{
    ad_infer_t *v = NULL;
    int rc = s_load(dir, &v, err);

    if (!rc)
        s_print(json_pack("{s:s, s:s, s:s, s:I, s:I}", "path", dir, "variant", ad_infer_variant(v),
                          "arch", ad_infer_arch(v), "params", (json_int_t)ad_infer_params(v),
                          "size_bytes", (json_int_t)s_artifact_bytes(dir)));
    ad_infer_free(&v);
    return rc;
}

/* Calibration samples spread evenly over the training split, read a batch at a time. */
typedef struct {
    ad_dataset_t *ds;
    int64_t n, at, size; /* wanted, given so far, the split's size */
    int64_t *y;          /* labels of the batch (unused) */
} s_calib_t;

static int
s_calib_next(void *arg, float *x, int max, ad_err_t *err)
{
    s_calib_t *c = arg;
    int64_t idx[64];
    int b = (int)(c->n - c->at < max ? c->n - c->at : max), rc;

    if (b > 64)
        b = 64;
    for (int i = 0; i < b; i++)
        idx[i] = ((c->at + i) * (c->size / c->n)) % c->size;
    rc = ad_data_batch(c->ds, idx, b, false, 0, x, c->y, err);
    if (rc)
        return rc < 0 ? rc : -rc;
    c->at += b;
    return b;
}

static int
s_quantize(const opts_t *o, ad_err_t *err)
{
    ad_infer_t *model = NULL;
    ad_dataset_t *ds = NULL;
    json_t *meta = NULL, *vmeta = NULL;
    s_calib_t calib;
    char *text = NULL;
    int c, h, w, rc;

    rc = s_load(o->artifact, &model, err);
    if (!rc)
        rc = s_open_data(o->artifact, model, AD_SPLIT_TRAIN, &meta, &ds, err);
    if (!rc && o->calibrate > ad_data_size(ds))
        rc = ad_err_set(err, AD_EINVAL,
                        "the training split has %" PRId64 " samples, %" PRId64 " asked for",
                        ad_data_size(ds), o->calibrate);
    if (!rc)
        rc = s_variant_meta(o, model, NULL, &vmeta, err);
    if (rc)
        goto out_free;
    json_object_set_new(
        vmeta, "calibration",
        json_pack("{s:I, s:s}", "samples", (json_int_t)o->calibrate, "split", "train"));
    text = json_dumps(vmeta, JSON_COMPACT);
    ad_data_shape(ds, &c, &h, &w);
    s_progress("quantize: %s to %s, calibrated on %" PRId64 " training images", o->artifact, o->out,
               o->calibrate);
    /* A batch at a time: 5,000 images of 224 x 224 would be 3 GB at once. */
    calib = (s_calib_t){
        .ds = ds, .n = o->calibrate, .size = ad_data_size(ds), .y = ad_calloc(64, sizeof(int64_t))};
    rc = ad_infer_quantize_stream(model, s_calib_next, &calib, c, h, w, o->out, text, err);
    free(calib.y);
    if (!rc)
        rc = s_print_variant(o->out, err);
out_free:
    free(text);
    json_decref(vmeta);
    ad_data_close(&ds);
    json_decref(meta);
    ad_infer_free(&model);
    return rc;
}

/*
 * steps SGD steps (lr 0.01) of 32 training samples on the pruned artifact in dir, saved again:
 * the trainer's model of an artifact's graph (ad_torch_model_new with .artifact, as a job
 * with finetune: trains it), which holds pruned weights at zero.
 */
static int
s_finetune(const opts_t *o, const char *text, ad_err_t *err)
{
    ad_model_opts_t mo = {.seed = 1, .device = AD_DEVICE_CPU, .artifact = o->out};
    ad_optim_t sgd = {.kind = AD_OPTIM_SGD, .lr = 0.01};
    ad_infer_t *art = NULL;
    ad_model_t *model = NULL;
    ad_igraph_t *g = NULL;
    ad_dataset_t *ds = NULL;
    json_t *meta = NULL;
    float *x = NULL;
    int64_t *y = NULL;
    double loss = NAN;
    int rc;

    rc = s_load(o->out, &art, err);
    if (!rc)
        rc = s_open_data(o->out, art, AD_SPLIT_TRAIN, &meta, &ds, err);
    if (!rc) {
        ad_infer_shape(art, &mo.channels, &mo.height, &mo.width);
        mo.classes = ad_infer_classes(art);
        rc = ad_torch_model_new(&mo, &model, err);
    }
    if (!rc)
        rc = ad_torch_set_optimizer(model, &sgd, err);
    for (int64_t s = 0; !rc && s < o->finetune; s++) {
        rc = s_train_samples(ds, 32, s * 7919, &x, &y, err);
        if (!rc)
            rc = ad_torch_forward_backward(model, x, y, 32, 1.0 / 32, &loss, NULL, err);
        if (!rc)
            rc = ad_torch_step(model, err);
        free(x);
        free(y);
        x = NULL;
        y = NULL;
        if (!rc && (s + 1 == o->finetune || (s + 1) % 50 == 0))
            s_progress("finetune: step %" PRId64 "/%" PRId64 ", loss %.4f", s + 1, o->finetune,
                       loss);
    }
    if (!rc)
        rc = ad_torch_export(model, &g, err);
    if (!rc)
        rc = ad_igraph_save(g, o->out, text, err);
    ad_igraph_free(&g);
    ad_torch_model_free(&model);
    ad_data_close(&ds);
    json_decref(meta);
    ad_infer_free(&art);
    return rc;
}

static int
s_prune(const opts_t *o, ad_err_t *err)
{
    ad_infer_t *model = NULL;
    json_t *vmeta = NULL;
    char variant[32], *text = NULL;
    int rc;

    snprintf(variant, sizeof(variant), "pruned%d%s", (int)lround(o->fraction * 100),
             o->structured ? "s" : "");
    rc = s_load(o->artifact, &model, err);
    if (!rc)
        rc = s_variant_meta(o, model, variant, &vmeta, err);
    if (rc)
        goto out_free;
    json_object_set_new(vmeta, "pruning",
                        json_pack("{s:f, s:b, s:I}", "fraction", o->fraction, "structured",
                                  o->structured, "finetune_steps", (json_int_t)o->finetune));
    text = json_dumps(vmeta, JSON_COMPACT);
    s_progress("prune: %s to %s, %s %.0f%%", o->artifact, o->out,
               o->structured ? "channels" : "weights", o->fraction * 100);
    rc = ad_infer_prune(model, o->fraction, o->structured, o->out, text, err);
    if (!rc && o->finetune > 0)
        rc = s_finetune(o, text, err);
    if (!rc)
        rc = s_print_variant(o->out, err);
out_free:
    free(text);
    json_decref(vmeta);
    ad_infer_free(&model);
    return rc;
}

/* ---- command line ------------------------------------------------------------------------ */

enum {
    OPT_CHECKPOINT = 256,
    OPT_META,
    OPT_DATASET,
    OPT_DATA_DIR,
    OPT_IMAGE_SIZE,
    OPT_INPUT_SHAPE,
    OPT_CLASSES,
    OPT_SAMPLES,
    OPT_SEED,
    OPT_LIMIT,
    OPT_THREADS,
    OPT_RUNS,
    OPT_CALIBRATE,
    OPT_FRACTION,
    OPT_STRUCTURED,
    OPT_FINETUNE,
    OPT_RECORD,
    OPT_EXPECT_ARCH,
    OPT_HELP,
};

static const struct option s_longs[] = {
    {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
    {"meta", required_argument, NULL, OPT_META},
    {"dataset", required_argument, NULL, OPT_DATASET},
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"image-size", required_argument, NULL, OPT_IMAGE_SIZE},
    {"input-shape", required_argument, NULL, OPT_INPUT_SHAPE},
    {"classes", required_argument, NULL, OPT_CLASSES},
    {"samples", required_argument, NULL, OPT_SAMPLES},
    {"seed", required_argument, NULL, OPT_SEED},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"runs", required_argument, NULL, OPT_RUNS},
    {"calibrate", required_argument, NULL, OPT_CALIBRATE},
    {"fraction", required_argument, NULL, OPT_FRACTION},
    {"structured", no_argument, NULL, OPT_STRUCTURED},
    {"finetune", required_argument, NULL, OPT_FINETUNE},
    {"record", no_argument, NULL, OPT_RECORD},
    {"expect-arch", required_argument, NULL, OPT_EXPECT_ARCH},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* One option's value into o. */
static int
s_opt(opts_t *o, int c, const char *arg, ad_err_t *err)
{
    int64_t v = 0;
    int rc = 0;

    switch (c) {
    case 'o':
        o->out = arg;
        break;
    case OPT_CHECKPOINT:
        o->checkpoint = arg;
        break;
    case OPT_META:
        o->meta = arg;
        break;
    case OPT_DATASET:
        o->data.name = arg;
        break;
    case OPT_DATA_DIR:
        o->data.dir = arg;
        break;
    case OPT_STRUCTURED:
        o->structured = true;
        break;
    case OPT_RECORD:
        o->record = true;
        break;
    case OPT_EXPECT_ARCH:
        s_expect_arch = arg;
        break;
    case OPT_IMAGE_SIZE:
        rc = ad_opt_int("--image-size", arg, 8, 4096, 0, &v, err);
        o->data.image_size = (int)v;
        break;
    case OPT_INPUT_SHAPE:
        if (sscanf(arg, "%dx%dx%d", &o->data.channels, &o->data.height, &o->data.width) != 3)
            rc = ad_err_set(err, AD_EINVAL, "--input-shape must be CxHxW, got \"%s\"", arg);
        break;
    case OPT_CLASSES:
        rc = ad_opt_int("--classes", arg, 2, 100000, 0, &v, err);
        o->data.classes = (int)v;
        break;
    case OPT_SAMPLES:
        rc = ad_opt_int("--samples", arg, 1, INT64_MAX, 0, &o->data.samples, err);
        break;
    case OPT_SEED:
        rc = ad_opt_int("--seed", arg, 0, INT64_MAX, 0, &o->seed, err);
        break;
    case OPT_LIMIT:
        rc = ad_opt_int("--limit", arg, 1, INT64_MAX, 0, &o->limit, err);
        break;
    case OPT_THREADS:
        rc = ad_opt_int("--threads", arg, 1, 1024, 0, &o->threads, err);
        break;
    case OPT_RUNS:
        rc = ad_opt_int("--runs", arg, 10, 1000000, 0, &o->runs, err);
        break;
    case OPT_CALIBRATE:
        rc = ad_opt_int("--calibrate", arg, 1, 100000, 0, &o->calibrate, err);
        break;
    case OPT_FINETUNE:
        rc = ad_opt_int("--finetune", arg, 0, 1000000, 0, &o->finetune, err);
        break;
    case OPT_FRACTION:
        rc = ad_opt_real("--fraction", arg, 0.01, 0.99, 0, &o->fraction, err);
        break;
    default:
        rc = ad_err_set(err, AD_EINVAL, "unknown option (see --help)");
        break;
    }
    return rc;
}

/* What each verb needs; a usage error otherwise. */
static int
s_check(const opts_t *o, ad_err_t *err)
{
    bool exp = !strcmp(o->verb, "export");

    if (strcmp(o->verb, "export") && strcmp(o->verb, "eval") && strcmp(o->verb, "measure") &&
        strcmp(o->verb, "quantize") && strcmp(o->verb, "prune"))
        return ad_err_set(err, AD_EINVAL,
                          "no verb \"%s\" (export, eval, measure, quantize, "
                          "prune)",
                          o->verb);
    if (exp && !o->checkpoint)
        return ad_err_set(err, AD_EINVAL, "export needs --checkpoint DIR");
    if (!exp && !o->artifact)
        return ad_err_set(err, AD_EINVAL, "%s needs an artifact folder", o->verb);
    if ((exp || !strcmp(o->verb, "quantize") || !strcmp(o->verb, "prune")) && !o->out)
        return ad_err_set(err, AD_EINVAL, "%s needs -o OUT", o->verb);
    if (!strcmp(o->verb, "quantize") && o->calibrate < 1)
        return ad_err_set(err, AD_EINVAL, "quantize needs --calibrate N (N >= 1)");
    if (!strcmp(o->verb, "prune") && o->fraction <= 0)
        return ad_err_set(err, AD_EINVAL, "prune needs --fraction F (0 < F < 1)");
    return 0;
}

int
main(int argc, char **argv)
{
    opts_t o = {.seed = -1, .threads = 1, .runs = 200};
    ad_err_t err = {0};
    int c, rc = 0;

    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(S_USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    o.verb = argv[1];
    optind = 2;
    opterr = 0;
    while (!rc && (c = getopt_long(argc, argv, "o:", s_longs, NULL)) != -1) {
        if (c == OPT_HELP) {
            fputs(S_USAGE, stdout);
            return 0;
        }
        if (c == '?' || c == ':')
            rc = ad_opt_getopt_error(s_longs, optind - 1, argv, &err);
        else
            rc = s_opt(&o, c, optarg, &err);
    }
    if (!rc && optind < argc)
        o.artifact = argv[optind++];
    if (!rc && optind < argc)
        rc = ad_err_set(&err, AD_EINVAL, "unexpected argument \"%s\"", argv[optind]);
    if (!rc)
        rc = s_check(&o, &err);
    if (rc) {
        fprintf(stderr, "autodist-model %s: %s\n", o.verb, err.msg);
        return 2;
    }
    if (!strcmp(o.verb, "export"))
        rc = s_export(&o, &err);
    else if (!strcmp(o.verb, "eval"))
        rc = s_eval(&o, &err);
    else if (!strcmp(o.verb, "measure"))
        rc = s_measure(&o, &err);
    else if (!strcmp(o.verb, "quantize"))
        rc = s_quantize(&o, &err);
    else
        rc = s_prune(&o, &err);
    if (rc) {
        fprintf(stderr, "autodist-model %s: %s\n", o.verb, err.msg[0] ? err.msg : ad_strerror(rc));
        return 1;
    }
    return 0;
}
