/* ad_train.c - autodist-train: synchronous data-parallel training on MPI ranks */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <mpi.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "autodist/ad_ckpt.h"
#include "autodist/ad_clock.h"
#include "autodist/ad_comm.h"
#include "autodist/ad_data.h"
#include "autodist/ad_error.h"
#include "autodist/ad_log.h"
#include "autodist/ad_metrics.h"
#include "autodist/ad_sampler.h"
#include "autodist/ad_teacher.h"
#include "autodist/ad_torch.h"

#include "ad_train_int.h"

#define EVAL_BATCH 500

/* Exit statuses: documented in docs/trainer.md. */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,   /* bad input or a failure while training */
    EXIT_USAGE = 2,  /* bad command line */
    EXIT_STOPPED = 3, /* stopped by SIGTERM/SIGINT after a checkpoint */
    EXIT_DISK = 4     /* a disk or quota is full: a checkpoint could not be written */
};

/* Everything a running job holds. */
typedef struct train {
    opts_t o;                 /* the command line */
    int rank, world;          /* this rank, all ranks */
    int local_rank;           /* rank among those on this node */
    ad_dataset_t *train;      /* training split */
    ad_dataset_t *val;        /* per-epoch evaluation split (may be test) */
    ad_dataset_t *test;       /* final evaluation split */
    ad_model_t *model;        /* the network */
    ad_sampler_t *sampler;    /* this rank's share of each batch */
    ad_comm_t *comm;          /* gradient reduction */
    ad_metrics_t *metrics;    /* rank 0's event file */
    float *x;                 /* this rank's batch */
    int64_t *y;               /* its labels */
    int64_t *idx;             /* its sample indices */
    int64_t step;             /* global steps done */
    int64_t total_steps;      /* global steps to do */
    int64_t steps_per_epoch;  /* global steps per epoch */
    ad_err_t hook_err;        /* first failure inside a backward hook */
    int64_t metrics_lost;     /* events metrics.jsonl missed since it last took one */
    int64_t warmup;           /* steps of this process left out of its throughput */
    ad_model_t *teacher;      /* distillation: the teacher, in eval mode; NULL without */
    float *tlogits;           /* its logits of this rank's batch */
    int classes;              /* classes of the data (the logits per sample) */
} train_t;

static volatile sig_atomic_t s_stop_signal;

static void
s_on_signal(int sig)
{
    s_stop_signal = sig;
}

/*
 * Agree on failure: every rank passes its rc; if any failed, the lowest
 * failing rank prints its one-line message and every rank returns non-zero,
 * so no rank waits forever on a collective the others left.
 */
static int
s_agree(train_t *t, int rc, const ad_err_t *err)
{
    int mine = rc ? t->rank : t->world, first, code = rc;

    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (first == t->world)
        return 0;
    /* The failing rank's code, so a full disk gives every rank the same exit status. */
    MPI_Bcast(&code, 1, MPI_INT, first, MPI_COMM_WORLD);
    if (first == t->rank) {
        if (t->world > 1 && t->rank > 0)
            fprintf(stderr, "autodist-train: error: rank %d: %s\n", t->rank, err->msg);
        else
            fprintf(stderr, "autodist-train: error: %s\n", err->msg);
        fflush(stderr);
    }
    return rc ? rc : ad_ckpt_is_full(code) ? code : AD_EPEER;
}

static int
s_open_data(train_t *t, ad_err_t *err)
{
    ad_data_opts_t d = {0};
    bool has_val;
    int rc;

    d.name = t->o.dataset;
    d.dir = t->o.data_dir;
    d.channels = t->o.channels;
    d.height = t->o.height;
    d.width = t->o.width;
    d.classes = t->o.classes;
    d.samples = t->o.samples;
    d.image_size = t->o.image_size;
    d.seed = t->o.seed;
    if (strcmp(d.name, "fashion-mnist") && strcmp(d.name, "synthetic") &&
        strcmp(d.name, "imagefolder"))
        return ad_err_set(err, AD_EINVAL,
                          "unknown dataset \"%s\" (expected fashion-mnist, synthetic or "
                          "imagefolder)",
                          d.name);
    if (!strcmp(d.name, "imagefolder") && !d.dir)
        return ad_err_set(err, AD_EINVAL, "--dataset imagefolder needs --data-dir DIR");
    rc = ad_data_open(&d, AD_SPLIT_TRAIN, &t->train, err);
    if (rc || !t->o.eval)
        return rc;
    rc = ad_data_open(&d, AD_SPLIT_TEST, &t->test, err);
    if (rc)
        return rc;
    has_val = strcmp(d.name, "fashion-mnist") != 0;
    if (has_val)
        return ad_data_open(&d, AD_SPLIT_VAL, &t->val, err);
    return 0;
}

/* Abort the whole job from inside a backward hook, where no error can be returned. */
static void
s_hook_failed(train_t *t)
{
    fprintf(stderr, "autodist-train: error: rank %d: %s\n", t->rank, t->hook_err.msg);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, EXIT_FAIL);
}

static void
s_on_bucket(void *arg, int bucket)
{
    train_t *t = arg;

    if (ad_comm_ready(t->comm, bucket, &t->hook_err))
        s_hook_failed(t);
}

static void
s_on_grad(void *arg)
{
    train_t *t = arg;

    if (ad_comm_progress(t->comm, &t->hook_err))
        s_hook_failed(t);
}

static int
s_build_model(train_t *t, ad_err_t *err)
{
    ad_model_opts_t m = {0};
    int ndev, rc;

    ad_data_shape(t->train, &m.channels, &m.height, &m.width);
    m.name = t->o.model;
    m.artifact = t->o.finetune;
    m.classes = ad_data_classes(t->train);
    m.seed = t->o.seed;
    m.bucket_bytes = (size_t)(t->o.bucket_mb * 1024 * 1024);
    m.device = AD_DEVICE_CPU;
    ndev = ad_torch_cuda_devices();
    if (!strcmp(t->o.device, "gpu") || (!strcmp(t->o.device, "auto") && ndev > 0)) {
        m.device = AD_DEVICE_GPU;
        m.device_index = ndev > 0 ? t->local_rank % ndev : 0;
    }
    rc = ad_torch_model_new(&m, &t->model, err);
    if (rc)
        return rc;
    return ad_torch_set_optimizer(t->model, &t->o.optim, err);
}

/* Broadcast a float array from rank 0 in pieces MPI's int counts can hold. */
static void
s_bcast(float *p, int64_t n)
{
    const int64_t piece = INT64_C(1) << 28;

    for (int64_t off = 0; off < n; off += piece)
        MPI_Bcast(p + off, (int)(n - off < piece ? n - off : piece), MPI_FLOAT, 0,
                  MPI_COMM_WORLD);
}

/* ---------------------------------------------------------------------------------------- */
/* Distillation: the teacher.                                                               */

/*
 * The teacher: rank 0 reads its checkpoint (state.json names the model and file), every
 * rank builds the model and gets rank 0's weights, so only rank 0 needs the folder.
 */
static int
s_build_teacher(train_t *t, ad_err_t *err)
{
    ad_teacher_info_t ti = {0};
    ad_device_t dev = AD_DEVICE_CPU;
    char *file = NULL;
    int64_t n;
    float *p;
    int c, h, w, ndev, rc = 0;

    ad_data_shape(t->train, &c, &h, &w);
    if (t->rank == 0)
        rc = ad_teacher_read(t->o.teacher, c, h, w, t->classes, &ti, &file, err);
    rc = s_agree(t, rc, err);
    if (rc)
        goto out_free;
    MPI_Bcast(&ti, (int)sizeof(ti), MPI_BYTE, 0, MPI_COMM_WORLD);
    ndev = ad_torch_cuda_devices();
    if (!strcmp(t->o.device, "gpu") || (!strcmp(t->o.device, "auto") && ndev > 0))
        dev = AD_DEVICE_GPU;
    rc = s_agree(t,
                 ad_teacher_new(&ti, c, h, w, t->classes, dev, ndev > 0 ? t->local_rank % ndev : 0,
                                &t->teacher, err),
                 err);
    if (rc)
        goto out_free;
    if (t->rank == 0) {
        ad_err_t lerr = {0};

        rc = ad_torch_load(t->teacher, file, &lerr);
        if (rc)
            rc = ad_err_set(err, rc, "teacher checkpoint %s: %s", t->o.teacher, lerr.msg);
    }
    rc = s_agree(t, rc, err);
    if (rc)
        goto out_free;
    if (t->world > 1) {
        s_bcast(ad_torch_params(t->teacher), ad_torch_param_count(t->teacher));
        p = ad_torch_buffers(t->teacher, &n);
        if (p)
            s_bcast(p, n);
        rc = s_agree(t, ad_torch_sync_to_device(t->teacher, err), err);
    }
    if (!rc && t->rank == 0)
        ad_log(AD_LOG_INFO,
               "distilling from teacher %s (%s, %" PRId64 " parameters): temperature %g, "
               "alpha %g",
               ti.model, t->o.teacher, ad_torch_param_count(t->teacher), t->o.distill_t,
               t->o.distill_alpha);
out_free:
    free(file);
    return rc;
}

/* Give every rank rank 0's parameters, buffers and optimiser state. */
static int
s_broadcast_state(train_t *t, ad_err_t *err)
{
    int64_t n, steps;
    float *p;

    if (t->world == 1)
        return 0;
    s_bcast(ad_torch_params(t->model), ad_torch_param_count(t->model));
    p = ad_torch_buffers(t->model, &n);
    if (p)
        s_bcast(p, n);
    for (int which = 0; which < 2; which++) {
        p = ad_torch_optim_state(t->model, which, &n);
        if (p)
            s_bcast(p, n);
    }
    steps = ad_torch_optim_steps(t->model);
    MPI_Bcast(&steps, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
    ad_torch_set_optim_steps(t->model, steps);
    return ad_torch_sync_to_device(t->model, err);
}

/* Average BatchNorm running statistics, so every rank evaluates and saves the same model. */
static int
s_average_buffers(train_t *t, ad_err_t *err)
{
    int64_t n;
    float *p;
    int rc = ad_torch_sync_from_device(t->model, err);

    if (rc || t->world == 1)
        return rc;
    p = ad_torch_buffers(t->model, &n);
    if (!p)
        return 0;
    MPI_Allreduce(MPI_IN_PLACE, p, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    for (int64_t i = 0; i < n; i++)
        p[i] /= (float)t->world;
    return ad_torch_sync_to_device(t->model, err);
}

/* What a checkpoint must agree on to be continued. */
static json_t *
s_identity(const train_t *t)
{
    return json_pack("{s:s, s:s, s:I, s:I, s:s}", "model", t->o.model, "dataset",
                     t->o.dataset, "batch_size", (json_int_t)t->o.batch, "seed",
                     (json_int_t)t->o.seed, "optimizer",
                     t->o.optim.kind == AD_OPTIM_SGD ? "sgd" : "adam");
}

/* What state.json says of a checkpoint: the identity, step, world size and model file. */
static json_t *
s_state(const train_t *t, const char *file)
{
    json_t *js = s_identity(t);

    json_object_set_new(js, "step", json_integer(t->step));
    json_object_set_new(js, "world_size", json_integer(t->world));
    json_object_set_new(js, "file", json_string(file));
    {
        int c, h, w;

        /* What a teacher built from this checkpoint needs (distillation). */
        ad_data_shape(t->train, &c, &h, &w);
        json_object_set_new(js, "shape", json_pack("[iii]", c, h, w));
        json_object_set_new(js, "classes", json_integer(ad_data_classes(t->train)));
    }
    /* The graph a fine-tuned model has (autodist-model export builds it from there). */
    if (t->o.finetune)
        json_object_set_new(js, "finetune", json_string(t->o.finetune));
    return js;
}

/*
 * Rank 0 writes DIR/model-<step>.pt, then state.json naming it, each atomically, then
 * deletes the checkpoints the retention drops; the result is shared.  A failed save
 * leaves no file of its own, and state.json still names the previous checkpoint.
 */
static int
s_checkpoint(train_t *t, ad_err_t *err)
{
    int rc = s_average_buffers(t, err);

    if (rc)
        return s_agree(t, rc, err);
    if (t->rank == 0) {
        char *model = ad_ckpt_model_path(t->o.checkpoint, t->step);
        json_t *js = s_state(t, strrchr(model, '/') + 1);

        rc = ad_ckpt_mkdirs(t->o.checkpoint, err);
        if (!rc)
            rc = ad_torch_save(t->model, model, err);
        if (!rc) {
            rc = ad_ckpt_write_state(t->o.checkpoint, js, err);
            if (rc)
                unlink(model);
        }
        if (!rc)
            ad_ckpt_prune(t->o.checkpoint, t->step, t->o.checkpoint_keep);
        json_decref(js);
        free(model);
    }
    return s_agree(t, rc, err);
}

/* Rank 0 at a successful end: the last checkpoint becomes DIR/model.pt, the others go. */
static int
s_finish_checkpoints(train_t *t, ad_err_t *err)
{
    json_t *js = s_state(t, AD_CKPT_FINAL);
    int rc = ad_ckpt_finish(t->o.checkpoint, t->step, js, t->o.keep_checkpoints, err);

    json_decref(js);
    return rc;
}

/* state.json against this run: 0, or AD_ECKPT naming the first key that differs. */
static int
s_check_identity(const train_t *t, const char *state, const json_t *js, ad_err_t *err)
{
    json_t *want = s_identity(t), *val;
    const char *key;
    int rc = 0;

    json_object_foreach(want, key, val) {
        if (!json_equal(val, json_object_get(js, key))) {
            char *a = json_dumps(val, JSON_ENCODE_ANY);
            char *b = json_dumps(json_object_get(js, key), JSON_ENCODE_ANY);

            rc = ad_err_set(err, AD_ECKPT, "%s: checkpoint has %s %s, this run asks for %s",
                            state, key, b ? b : "nothing", a);
            free(a);
            free(b);
            break;
        }
    }
    json_decref(want);
    return rc;
}

/*
 * Load the newest model file that loads, falling back to older ones when the newest is
 * corrupt or truncated (a warning names it); the step of the one loaded in *step.
 */
static int
s_load_newest(train_t *t, const json_t *js, int64_t *step, ad_err_t *err)
{
    ad_ckpt_cand_t *c;
    ad_err_t first = {0};
    size_t n;
    int rc = ad_ckpt_candidates(t->o.checkpoint, js, &c, &n, err);

    for (size_t i = 0; !rc && i < n; i++) {
        rc = ad_torch_load(t->model, c[i].path, i ? NULL : &first);
        if (!rc) {
            if (i)
                ad_log(AD_LOG_WARN, "%s; falling back to %s (step %" PRId64 ")", first.msg,
                       c[i].path, c[i].step);
            *step = c[i].step;
            ad_log(AD_LOG_INFO, "resuming from %s at step %" PRId64, c[i].path, c[i].step);
        } else if (i + 1 < n) {
            rc = 0;
            continue;
        } else {
            *err = first;
            rc = first.code;
        }
        break;
    }
    ad_ckpt_cands_free(c, n);
    return rc;
}

/* Load DIR's checkpoint on rank 0 (none: start afresh) and share it. */
static int
s_resume(train_t *t, ad_err_t *err)
{
    int64_t step = 0;
    int rc = 0;

    if (t->rank == 0) {
        char *state = ad_ckpt_path(t->o.checkpoint, AD_CKPT_STATE);
        json_error_t jerr;
        json_t *js = NULL;

        if (access(state, F_OK) != 0)
            ad_log(AD_LOG_WARN, "no checkpoint in %s: starting from step 0", t->o.checkpoint);
        else if (!(js = json_load_file(state, 0, &jerr)))
            rc = ad_err_set(err, AD_ECKPT, "%s:%d: corrupt checkpoint state: %s", state,
                            jerr.line, jerr.text);
        else if (!(rc = s_check_identity(t, state, js, err)))
            rc = s_load_newest(t, js, &step, err);
        json_decref(js);
        free(state);
    }
    rc = s_agree(t, rc, err);
    if (rc)
        return rc;
    MPI_Bcast(&step, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
    t->step = step;
    return 0;
}

/*
 * Rank 0: one event to metrics.jsonl (and the coordinator).  A file that cannot take it
 * (a full disk) costs the event, not the run: one warning, the file stays whole lines,
 * and a second line says when it takes events again.  The checkpoints are what make a
 * full disk fatal (exit status 4).
 */
static void
s_emit(train_t *t, const char *event, json_t *fields)
{
    ad_err_t err = {0};

    if (ad_metrics_emit(t->metrics, event, fields, &err) == 0) {
        if (t->metrics_lost)
            ad_log(AD_LOG_WARN, "metrics file writable again; %" PRId64 " event(s) missing",
                   t->metrics_lost);
        t->metrics_lost = 0;
    } else if (t->metrics_lost++ == 0) {
        ad_log(AD_LOG_WARN, "%s: training goes on, events are missing from the file until it "
                            "can be written%s",
               err.msg, t->o.report ? " (the coordinator still gets them)" : "");
    }
}

/*
 * A number for an event: json_pack's "f" refuses NaN and infinities, and a failed pack would
 * leave the event with no fields at all (a step without its step); those become null.
 */
static json_t *
s_jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static int
s_evaluate(train_t *t, ad_dataset_t *ds, const char *split, int64_t epoch, ad_err_t *err)
{
    int64_t n = ad_data_size(ds), done = 0;
    double sums[3] = {0, 0, 0}, t0 = ad_clock_now();
    int c, h, w, rc = 0;
    float *x;
    int64_t *y, *idx;

    rc = s_average_buffers(t, err);
    if (rc)
        return rc;
    ad_data_shape(ds, &c, &h, &w);
    x = ad_malloc((size_t)EVAL_BATCH * c * h * w * sizeof(float));
    y = ad_malloc(EVAL_BATCH * sizeof(int64_t));
    idx = ad_malloc(EVAL_BATCH * sizeof(int64_t));
    for (int64_t i = t->rank; i < n && !rc;) {
        int k = 0;
        double loss = 0;
        int64_t correct = 0;

        for (; i < n && k < EVAL_BATCH; i += t->world)
            idx[k++] = i;
        rc = ad_data_batch(ds, idx, k, false, 0, x, y, err);
        if (!rc)
            rc = ad_torch_evaluate(t->model, x, y, k, &loss, &correct, err);
        sums[0] += loss;
        sums[1] += (double)correct;
        done += k;
    }
    free(x);
    free(y);
    free(idx);
    rc = s_agree(t, rc, err);
    if (rc)
        return rc;
    sums[2] = (double)done;
    MPI_Allreduce(MPI_IN_PLACE, sums, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    if (t->rank == 0) {
        double acc = sums[1] / sums[2], loss = sums[0] / sums[2];

        ad_log(AD_LOG_INFO,
               "eval %s after epoch %" PRId64 ": accuracy %.2f%% loss %.4f (%.0f samples, %.1f s)",
               split, epoch, 100 * acc, loss, sums[2], ad_clock_now() - t0);
        s_emit(t, "eval",
               json_pack("{s:s, s:I, s:I, s:o, s:o, s:I}", "split", split, "epoch",
                         (json_int_t)epoch, "step", (json_int_t)t->step, "accuracy", s_jnum(acc),
                         "loss", s_jnum(loss), "samples", (json_int_t)sums[2]));
    }
    return rc;
}

/* Warn when the threads asked for exceed the cores this rank may run on. */
static void
s_check_affinity(const train_t *t)
{
    cpu_set_t set;
    int n;

    if (sched_getaffinity(0, sizeof(set), &set))
        return;
    n = CPU_COUNT(&set);
    if (n < t->o.threads)
        ad_log(AD_LOG_WARN,
               "rank %d may run on %d core(s) but has %d threads: start mpirun with "
               "--bind-to none or --map-by slot:PE=%d",
               t->rank, n, t->o.threads, t->o.threads);
}

static json_t *
s_config(const train_t *t)
{
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:i, s:s, s:f, s:f, s:f, s:I, s:s, s:f}",
                     "model", t->o.model, "dataset", t->o.dataset, "batch_size",
                     (json_int_t)t->o.batch, "epochs", (json_int_t)t->o.epochs, "steps",
                     (json_int_t)t->total_steps, "threads", t->o.threads, "optimizer",
                     t->o.optim.kind == AD_OPTIM_SGD ? "sgd" : "adam", "lr", t->o.optim.lr,
                     "momentum", t->o.optim.momentum, "weight_decay",
                     t->o.optim.weight_decay, "seed", (json_int_t)t->o.seed, "device",
                     t->o.device, "bucket_mb", t->o.bucket_mb);
}

static int
s_setup(train_t *t, ad_err_t *err)
{
    int64_t local;
    int rc;

    ad_torch_set_threads(t->o.threads);
    s_check_affinity(t);
    rc = s_agree(t, s_open_data(t, err), err);
    if (rc)
        return rc;
    rc = s_agree(t, s_build_model(t, err), err);
    if (rc)
        return rc;
    t->classes = ad_data_classes(t->train);
    if (t->o.teacher) {
        rc = s_build_teacher(t, err);
        if (rc)
            return rc;
    }
    t->sampler = ad_sampler_new(ad_data_size(t->train), t->o.batch, t->world, t->rank,
                                t->o.seed, err);
    rc = s_agree(t, t->sampler ? 0 : err->code, err);
    if (rc)
        return rc;
    t->steps_per_epoch = ad_sampler_steps_per_epoch(t->sampler);
    t->total_steps = t->o.steps ? t->o.steps : t->o.epochs * t->steps_per_epoch;
    /* A checkpoint folder that cannot be written fails now, not after hours of training. */
    if (t->o.checkpoint) {
        rc = s_agree(t, t->rank == 0 ? ad_ckpt_mkdirs(t->o.checkpoint, err) : 0, err);
        if (rc)
            return rc;
    }
    if (t->o.resume) {
        rc = s_resume(t, err);
        if (rc)
            return rc;
    }
    rc = s_agree(t, s_broadcast_state(t, err), err);
    if (rc)
        return rc;
    t->warmup = ad_metrics_warmup_steps(t->total_steps - t->step);
    if ((t->o.metrics || t->o.report) && t->rank == 0) {
        t->metrics = ad_metrics_open(t->o.metrics, t->step > 0, err);
        rc = t->metrics ? 0 : err->code;
        if (!rc && t->o.report)
            rc = ad_metrics_report(t->metrics, t->o.report, t->o.job, err);
    }
    rc = s_agree(t, rc, err);
    if (rc)
        return rc;

    {
        int64_t off, cnt, *offs, *cnts;
        int nb = ad_torch_bucket_count(t->model);
        ad_hooks_t hooks = {s_on_bucket, s_on_grad, t};

        offs = ad_malloc((size_t)nb * sizeof(int64_t));
        cnts = ad_malloc((size_t)nb * sizeof(int64_t));
        for (int b = 0; b < nb; b++) {
            ad_torch_bucket(t->model, b, &off, &cnt);
            offs[b] = off;
            cnts[b] = cnt;
        }
        t->comm = ad_comm_new(MPI_COMM_WORLD, ad_torch_grads(t->model), nb, offs, cnts);
        ad_comm_set_threads(t->comm, t->o.threads);
        free(offs);
        free(cnts);
        if (t->world > 1)
            ad_torch_set_hooks(t->model, &hooks);
    }

    {
        int c, h, w;

        ad_data_shape(t->train, &c, &h, &w);
        local = ad_sampler_local_batch(t->sampler);
        t->x = ad_malloc((size_t)local * c * h * w * sizeof(float));
        t->y = ad_malloc((size_t)local * sizeof(int64_t));
        t->idx = ad_malloc((size_t)local * sizeof(int64_t));
        if (t->teacher)
            t->tlogits = ad_malloc((size_t)local * (size_t)t->classes * sizeof(float));
    }

    if (t->rank == 0) {
        json_t *f = json_pack("{s:o, s:i, s:i, s:I, s:f, s:i, s:s, s:I, s:I, s:I, s:I}", "config",
                              s_config(t), "world_size", t->world, "threads_per_proc", t->o.threads,
                              "params", (json_int_t)ad_torch_param_count(t->model),
                              "flops_per_sample", ad_torch_flops_per_sample(t->model), "buckets",
                              ad_torch_bucket_count(t->model), "comm", ad_comm_mode(t->comm),
                              "train_samples", (json_int_t)ad_data_size(t->train),
                              "steps_per_epoch", (json_int_t)t->steps_per_epoch, "start_step",
                              (json_int_t)t->step, "warmup_steps", (json_int_t)t->warmup);

        /* A distilled run says from what (the start event's config). */
        if (t->teacher)
            json_object_set_new(json_object_get(f, "config"), "distill",
                                json_pack("{s:s, s:f, s:f}", "teacher", t->o.teacher, "temperature",
                                          t->o.distill_t, "alpha", t->o.distill_alpha));
        if (t->o.finetune)
            json_object_set_new(json_object_get(f, "config"), "finetune",
                                json_string(t->o.finetune));
        s_emit(t, "start", f);
        ad_log(AD_LOG_INFO,
               "%s on %s: %d rank(s) x %d thread(s), global batch %" PRId64 ", %" PRId64
               " steps (%" PRId64 " per epoch), %" PRId64 " parameters",
               t->o.model, t->o.dataset, t->world, t->o.threads, t->o.batch, t->total_steps,
               t->steps_per_epoch, ad_torch_param_count(t->model));
    }
    return s_agree(t, rc, err);
}

/* Running sums over the steps between two progress lines or one epoch. */
typedef struct tally {
    int64_t steps;    /* steps summed */
    double loss;      /* sum of global mean losses */
    double samples;   /* samples seen */
    double step_s;    /* time in steps */
    double exposed_s; /* exposed communication */
} tally_t;

static void
s_tally(tally_t *a, double loss, double samples, double step_s, double exposed)
{
    a->steps++;
    a->loss += loss;
    a->samples += samples;
    a->step_s += step_s;
    a->exposed_s += exposed;
}

/* Rank 0 after a step: its "step" metric, and a log line every log_every steps. */
static void
s_step_done(train_t *t, int64_t epoch, double loss, double step_s, const ad_comm_stats_t *cs,
            int64_t log_every, tally_t *since)
{
    json_t *f = json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o}", "step", (json_int_t)t->step,
                          "epoch", (json_int_t)(epoch + 1), "loss", s_jnum(loss), "samples_per_s",
                          s_jnum((double)t->o.batch / step_s), "step_s", s_jnum(step_s), "comm_s",
                          s_jnum(cs->comm_s), "exposed_comm_s", s_jnum(cs->exposed_s));
    s_emit(t, "step", f);
    if (log_every > 0 && (t->step % log_every == 0 || t->step == t->total_steps)) {
        ad_log(AD_LOG_INFO,
               "epoch %" PRId64 " step %" PRId64 "/%" PRId64 " loss %.4f %.0f samples/s"
               " exposed comm %.1f%%",
               epoch + 1, t->step, t->total_steps, since->loss / (double)since->steps,
               since->samples / since->step_s, 100 * since->exposed_s / since->step_s);
        memset(since, 0, sizeof(*since));
    }
}

/* Every rank at an epoch's end: the "epoch" metric (rank 0), evaluation, checkpoint. */
static int
s_epoch_done(train_t *t, int64_t epoch, const tally_t *ep, ad_err_t *err)
{
    int rc = 0;

    if (t->rank == 0)
        s_emit(t, "epoch",
               json_pack("{s:I, s:I, s:o, s:o, s:o}", "epoch", (json_int_t)(epoch + 1), "step",
                         (json_int_t)t->step, "loss", s_jnum(ep->loss / (double)ep->steps),
                         "samples_per_s", s_jnum(ep->samples / ep->step_s), "wall_s",
                         s_jnum(ep->step_s)));
    if (t->o.eval && t->step < t->total_steps)
        rc = s_evaluate(t, t->val ? t->val : t->test, t->val ? "val" : "test", epoch + 1, err);
    if (!rc && t->o.checkpoint)
        rc = s_checkpoint(t, err);
    return rc;
}

/*
 * Rank 0 at the end: the "done" metric and its log line.  samples_per_s is the
 * steady-state rate (the steps past the warm-up; all steps when none is past it).
 */
static void
s_run_done(train_t *t, int64_t steps, const tally_t *run, const ad_metrics_steady_t *st,
           double wall, double cpu_s, double max_rss)
{
    bool steady = st->steps > 0 && st->step_s > 0;
    double all = run->step_s > 0 ? run->samples / run->step_s : 0;
    double sps = steady ? ad_metrics_steady_sps(st) : all, sd = ad_metrics_steady_sd(st);

    s_emit(t, "done",
           json_pack("{s:I, s:I, s:o, s:o, s:I, s:I, s:o, s:o, s:o, s:o, s:I}", "steps",
                     (json_int_t)steps, "samples", (json_int_t)run->samples, "samples_per_s",
                     s_jnum(sps), "sps_sd", s_jnum(sd), "sps_steps",
                     (json_int_t)(steady ? st->steps : steps), "warmup_steps",
                     (json_int_t)(steady ? steps - st->steps : 0), "wall_s", s_jnum(wall),
                     "train_s", s_jnum(run->step_s), "exposed_comm_s", s_jnum(run->exposed_s),
                     "cpu_time_s", s_jnum(cpu_s), "max_rss_bytes", (json_int_t)max_rss));
    ad_log(AD_LOG_INFO,
           "done: %" PRId64 " steps, %.0f samples/s (+- %.0f over %" PRId64
           " steady steps), exposed comm %.1f%% of step time, %.1f s",
           steps, sps, isnan(sd) ? 0 : sd, steady ? st->steps : steps,
           run->step_s > 0 ? 100 * run->exposed_s / run->step_s : 0, wall);
}

static int
s_train(train_t *t, ad_err_t *err)
{
    int local = ad_sampler_local_batch(t->sampler);
    int64_t log_every = t->o.log_every, epoch = -1, first = t->step;
    tally_t run = {0}, since = {0}, ep = {0};
    ad_metrics_steady_t steady = {0};
    double t_start = ad_clock_now(), cpu_s = 0, max_rss = 0;
    int rc = 0;

    if (log_every == 0)
        log_every = t->total_steps / 20 > 0 ? t->total_steps / 20 : 1;

    while (t->step < t->total_steps) {
        int64_t e = t->step / t->steps_per_epoch, s = t->step % t->steps_per_epoch;
        double extra[2], t0 = ad_clock_now(), t1;
        ad_comm_stats_t cs;

        if (e != epoch) {
            epoch = e;
            ad_sampler_set_epoch(t->sampler, epoch);
            memset(&ep, 0, sizeof(ep));
        }
        ad_sampler_indices(t->sampler, s, t->idx);
        rc = ad_data_batch(t->train, t->idx, local, true,
                           t->o.seed * 1000003u + (uint64_t)epoch, t->x, t->y, err);
        if (rc)
            break;
        ad_comm_begin(t->comm);
        /* The teacher's forward is part of the step (and of its time). */
        if (t->teacher) {
            rc = ad_torch_logits(t->teacher, t->x, local, t->classes, t->tlogits, err);
            if (!rc)
                rc = ad_torch_forward_backward_kd(t->model, t->x, t->y, local, t->tlogits,
                                                  t->classes, t->o.distill_t, t->o.distill_alpha,
                                                  1.0 / (double)t->o.batch, &extra[0], NULL, err);
        } else {
            rc = ad_torch_forward_backward(t->model, t->x, t->y, local, 1.0 / (double)t->o.batch,
                                           &extra[0], NULL, err);
        }
        if (rc)
            break;
        /* The stop flag rides with the loss, so no step needs a collective more. */
        extra[1] = s_stop_signal ? 1 : 0;
        rc = ad_comm_finish(t->comm, extra, t->world > 1 ? 2 : 0, &cs, err);
        if (rc)
            break;
        rc = ad_torch_step(t->model, err);
        if (rc)
            break;
        t->step++;
        t1 = ad_clock_now();
        s_tally(&run, extra[0], (double)t->o.batch, t1 - t0, cs.exposed_s);
        s_tally(&since, extra[0], (double)t->o.batch, t1 - t0, cs.exposed_s);
        s_tally(&ep, extra[0], (double)t->o.batch, t1 - t0, cs.exposed_s);
        if (t->step - first > t->warmup && t1 > t0)
            ad_metrics_steady_add(&steady, (double)t->o.batch, t1 - t0);

        if (t->rank == 0)
            s_step_done(t, epoch, extra[0], t1 - t0, &cs, log_every, &since);
        if (extra[1] > 0 || (t->world == 1 && s_stop_signal)) {
            if (t->o.checkpoint)
                rc = s_checkpoint(t, err);
            if (t->rank == 0)
                ad_log(AD_LOG_WARN, "stopped by a signal at step %" PRId64 "%s", t->step,
                       t->o.checkpoint ? " after saving a checkpoint" : "");
            return rc ? rc : 1;
        }

        if (s + 1 == t->steps_per_epoch || t->step == t->total_steps) {
            rc = s_epoch_done(t, epoch, &ep, err);
        } else if (t->o.checkpoint && t->o.checkpoint_every &&
                   t->step % t->o.checkpoint_every == 0) {
            rc = s_checkpoint(t, err);
        }
        if (rc)
            return rc;
    }
    if (rc) {
        /* A failure inside a step on one rank: the others are in a collective. */
        fprintf(stderr, "autodist-train: error: rank %d: %s\n", t->rank, err->msg);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, EXIT_FAIL);
    }
    if (t->o.eval)
        rc = s_evaluate(t, t->test, "test", epoch + 1, err);
    if (rc)
        return rc;
    ad_metrics_resources(&cpu_s, &max_rss);
    /* The final model is in place before "done" says the run succeeded. */
    if (t->rank == 0 && t->o.checkpoint)
        rc = s_finish_checkpoints(t, err);
    if (t->rank == 0 && !rc)
        s_run_done(t, t->step - first, &run, &steady, ad_clock_now() - t_start, cpu_s, max_rss);
    return s_agree(t, rc, err);
}

static void
s_teardown(train_t *t)
{
    ad_metrics_close(&t->metrics);
    ad_comm_free(&t->comm);
    ad_sampler_free(&t->sampler);
    ad_torch_model_free(&t->model);
    ad_torch_model_free(&t->teacher);
    free(t->tlogits);
    ad_data_close(&t->train);
    ad_data_close(&t->val);
    ad_data_close(&t->test);
    free(t->x);
    free(t->y);
    free(t->idx);
}

int
main(int argc, char **argv)
{
    train_t t = {0};
    ad_err_t err = {0};
    int provided, rc, status = EXIT_OK;
    MPI_Comm node;

    /*
     * Every step allocates and frees the same large activation and gradient
     * tensors.  glibc would map and unmap each one, and the page faults that
     * follow cost a fifth of a small model's step; keep them in the heap.
     */
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
    mallopt(M_TOP_PAD, 64 << 20);

    ad_log_init("autodist-train", AD_LOG_INFO);
    /* --version alone answers without MPI: the coordinator asks it once at start (run records). */
    if (argc == 2 && !strcmp(argv[1], "--version")) {
        ad_train_print_version();
        return EXIT_OK;
    }
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &t.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &t.world);
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, t.rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &t.local_rank);
    MPI_Comm_free(&node);

    /* The first signal asks for a clean stop at the next step; a second one kills. */
    {
        struct sigaction sa = {0};

        sa.sa_handler = s_on_signal;
        sa.sa_flags = SA_RESETHAND;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
    }

    rc = ad_train_parse(argc, argv, &t.o, t.rank, &err);
    if (rc == 1) {
        MPI_Finalize();
        return EXIT_OK;
    }
    if (rc) {
        if (t.rank == 0)
            fprintf(stderr, "autodist-train: error: %s\n", err.msg);
        MPI_Finalize();
        return EXIT_USAGE;
    }
    rc = s_setup(&t, &err);
    if (!rc)
        rc = s_train(&t, &err);
    if (rc == 1)
        status = EXIT_STOPPED;
    else if (ad_ckpt_is_full(rc))
        status = EXIT_DISK;
    else if (rc)
        status = EXIT_FAIL;
    s_teardown(&t);
    MPI_Finalize();
    /*
     * Everything is written and closed: leave without the libraries' static destructors.
     * oneDNN's, run by exit() while its thread pool may still be winding down, crashed once
     * in free() after a SIGTERM checkpoint (signal 11 instead of exit status 3).
     */
    fflush(NULL);
    _exit(status);
}
