/* ad_job.h - job files: parsing with line:column errors, canonical JSON, hashes */
#ifndef AD_JOB_H
#define AD_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits of job and sweep files; docs/jobfile.md is the reference. */
#define AD_JOB_NAME_MAX 64               /* job names: [A-Za-z0-9._-], first alphanumeric */
#define AD_JOB_EPOCHS_MAX 1000000        /* epochs: 1..AD_JOB_EPOCHS_MAX */
#define AD_JOB_STEPS_MAX 1000000000000LL /* steps, checkpoint_every: 1..AD_JOB_STEPS_MAX */
#define AD_JOB_REQUEUE_DEFAULT 3 /* requeue: how many times an interrupted job starts again */
#define AD_JOB_REQUEUE_MAX 1000  /* requeue: 0..AD_JOB_REQUEUE_MAX */
#define AD_JOB_TIME_LIMIT_MAX 31536000LL /* time_limit: at most 365 days, in seconds */
#define AD_SWEEP_NAME_MAX 40             /* leaves room for "-<hash12>-r<repeat>" */
#define AD_SWEEP_REPEATS_MAX 1000        /* repeats: 1..AD_SWEEP_REPEATS_MAX */
#define AD_SWEEP_MAX_CONFIGS 100000      /* default limit on the jobs a sweep expands to */

/* The model zoo of autodist-train. */
typedef enum {
    AD_JOB_MODEL_MLP = 0,      /* mlp */
    AD_JOB_MODEL_LENET5,       /* lenet5 */
    AD_JOB_MODEL_CNN,          /* cnn: the classic Fashion-MNIST network */
    AD_JOB_MODEL_RESNET18,     /* resnet18 */
    AD_JOB_MODEL_MOBILENET_V2, /* mobilenet_v2 */
} ad_job_model_t;

/* Where the samples come from. */
typedef enum {
    AD_JOB_DATA_FASHION_MNIST = 0, /* the IDX files in data_dir */
    AD_JOB_DATA_SYNTHETIC,         /* random tensors, no files */
    AD_JOB_DATA_IMAGEFOLDER,       /* one sub-folder of images per class */
} ad_job_data_t;

/* Optimiser of the training step. */
typedef enum {
    AD_JOB_OPTIM_SGD = 0, /* SGD with momentum */
    AD_JOB_OPTIM_ADAM,    /* Adam */
} ad_job_optim_t;

/* Where each rank computes. */
typedef enum {
    AD_JOB_DEVICE_CPU = 0, /* CPU cores only */
    AD_JOB_DEVICE_GPU,     /* one GPU per rank */
    AD_JOB_DEVICE_AUTO,    /* a GPU when the node has one */
} ad_job_device_t;

/*
 * A validated job with every default resolved.  Two jobs that train the same
 * way hold the same values, so their canonical JSON and hash are equal.  The
 * strings are owned by the job and freed by ad_job_clear().
 */
/*
 * A job's reservation: section: the batch-system nodes to run it on (docs/grid5000.md).
 * autodist submit/sweep reserve them, start agents there, run and release; the
 * coordinator never reads it, and it is not part of the configuration hash.
 */
typedef struct ad_job_resv {
    bool set;           /* the job has a reservation: section */
    char *backend;      /* "oar" */
    int nodes;          /* hosts, 1..AD_JOB_RESV_NODES_MAX; 0 with job */
    int64_t walltime_s; /* 1 s .. 365 days; 0 with job */
    char *properties;   /* property filter (OAR -p), or NULL */
    char *queue;        /* queue (-q), or NULL */
    char **types;       /* job types (-t), NULL-terminated, or NULL */
    char *project;      /* project (--project), or NULL */
    char *name;         /* the batch job's name (-n), or NULL (autodist-<job name>) */
    char *start_at;     /* advance reservation "YYYY-MM-DD HH:MM:SS" (-r), or NULL */
    char *job;          /* an existing batch job, id or name, instead of a new one; or NULL */
    bool keep;          /* leave it running when the work ends (default: release it) */
} ad_job_resv_t;

#define AD_JOB_RESV_NODES_MAX 100000

/* The reservation: section as canonical JSON (a new reference). */
struct json_t;
struct json_t *ad_job_resv_json(const ad_job_resv_t *r);

/* Release r's strings and zero it; copy src into dst with its own strings. */
void ad_job_resv_clear(ad_job_resv_t *r);
void ad_job_resv_copy(ad_job_resv_t *dst, const ad_job_resv_t *src);

typedef struct ad_job {
    char *name;           /* [A-Za-z0-9._-], first alphanumeric, <= 64 characters */
    ad_job_model_t model; /* network to train */
    struct {
        ad_job_data_t kind; /* which dataset */
        char *path;         /* imagefolder: absolute folder; NULL otherwise */
        int channels;       /* synthetic: sample channels, 1..64; 0 otherwise */
        int height;         /* synthetic: sample height, 1..4096; 0 otherwise */
        int width;          /* synthetic: sample width, 1..4096; 0 otherwise */
        int classes;        /* synthetic: classes, 2..100000; 0 otherwise */
        int64_t samples;    /* synthetic: training samples, 1..2^40; 0 otherwise */
        int image_size;     /* imagefolder: images resized to this square, 8..4096 */
    } dataset;
    char *data_dir; /* fashion-mnist: absolute folder; NULL = trainer default */
    int64_t epochs; /* passes over the data; 0 when steps is set */
    int64_t steps;  /* global steps; 0 when epochs is set */
    int batch_size; /* global batch, split over all processes */
    struct {
        ad_job_optim_t type; /* sgd or adam */
        double lr;           /* learning rate; default 0.05 (sgd), 0.001 (adam) */
        double momentum;     /* sgd momentum in [0, 0.999999], default 0.9; 0 for adam */
        double weight_decay; /* L2 penalty, default 0 */
    } optimizer;
    int64_t seed;           /* seeds weights, data order and augmentation */
    ad_job_device_t device; /* default cpu */
    struct {
        bool is_auto;         /* the planner picks the layout; the counts are 0 */
        int nodes;            /* machines */
        int procs_per_node;   /* MPI ranks on each machine */
        int threads_per_proc; /* compute threads of each rank */
    } layout;
    bool eval;                /* evaluate after each epoch and at the end */
    int64_t checkpoint_every; /* also checkpoint every N steps; 0 = after epochs only */
    int checkpoint_keep;      /* step checkpoints kept, 1..1000; 0 = not given (the trainer's 2) */
    bool keep_checkpoints;    /* keep them after COMPLETED too (default: only the final model) */
    double bucket_mb;         /* gradient bucket size in MB, default 2 */
    int64_t time_limit_s;     /* wall-clock limit in seconds; 0 = none */
    int requeue;              /* times it may go back to the queue when interrupted (default 3) */
    bool requeue_on_timeout;  /* a job past its time_limit is requeued too (default false) */
    ad_job_resv_t reservation; /* where to run it: batch-system nodes (default: the cluster's) */
    /* Runs as experiments (docs/jobfile.md "tags and note"); not part of the configuration hash. */
    char *tags; /* tags: {KEY: VALUE, ...} as canonical JSON of strings; NULL = none */
    char *note; /* note: free text, at most 4096 bytes; NULL = none */
    /* distill: train against a teacher's logits (docs/jobfile.md "distill"); teacher NULL = none.
     */
    struct {
        char *teacher;      /* a run id, or an absolute checkpoint folder */
        char *checkpoint;   /* the teacher's checkpoint folder, absolute: the coordinator sets
                               it for a run id (distill.checkpoint in JSON); NULL = not yet */
        double temperature; /* softens both distributions, > 0 (default 4) */
        double alpha;       /* weight of the distillation term, 0..1 (default 0.9) */
    } distill;
    /* finetune: start from this fp32 inference artifact's graph and weights (docs/jobfile.md
       "finetune"), an absolute folder; NULL = the zoo model's fresh weights.  Its runs are of
       kind finetune: never a baseline, never in the planner's data. */
    char *finetune;
} ad_job_t;

/* Defaults and limits of distill: (docs/jobfile.md). */
#define AD_JOB_DISTILL_T_DEFAULT 4.0
#define AD_JOB_DISTILL_ALPHA_DEFAULT 0.9
#define AD_JOB_DISTILL_T_MAX 1000.0

/*
 * The pool of nodes a job with a reservation runs on, "BACKEND:NAME" (the
 * batch job's name, else the id it attaches to, else autodist-JOBNAME), in
 * buf; NULL for a job without one.  autodist starts the reservation's agents
 * with --pool set to it, and the coordinator keeps the job on those nodes.
 */
const char *ad_job_resv_pool(const ad_job_t *job, char *buf, size_t cap);

/*
 * Parse and validate the job file at path.  Relative paths inside it are
 * resolved against the file's folder, and dataset folders must exist.
 * Returns 0 and fills *job (the caller frees it with ad_job_clear()), or
 * -ENOENT (or another -errno) when the file cannot be read and AD_EPARSE when
 * it is not a valid job, with err->msg a single line "FILE:LINE:COL: ...".
 * On failure *job is zeroed, so ad_job_clear() on it is harmless.
 */
int ad_job_parse_file(const char *path, ad_job_t *job, ad_err_t *err);

/*
 * ad_job_parse_file() with two habits of the command line: path "-" reads
 * the job from stdin (messages start "<stdin>:LINE:COL:", relative paths
 * start from the current folder), and each of the n_sets assignments
 * "KEY=VALUE" (a dotted key of a job file, VALUE read as YAML: "seed=3",
 * "optimizer.lr=0.01", "layout=1x2x1", "dataset={synthetic: {...}}")
 * replaces that key's value, in order, before the rules across keys are
 * checked.  A bad assignment is AD_EPARSE "--set KEY=VALUE: ..." (an
 * unknown key says which one is close).  Otherwise as ad_job_parse_file().
 */
int ad_job_parse_file_set(const char *path, const char *const *sets, size_t n_sets, ad_job_t *job,
                          ad_err_t *err);

/*
 * Like ad_job_parse_file() for a job held in memory; name_for_errors (NULL:
 * "<string>") starts each message and relative paths are resolved against
 * the current directory.
 */
int ad_job_parse_string(const char *text, const char *name_for_errors, ad_job_t *job,
                        ad_err_t *err);

/* Free the strings a job owns and zero it; NULL-safe and idempotent. */
void ad_job_clear(ad_job_t *job);

/* Deep-copy src into dst, which is overwritten (clear it first if it held a job). */
void ad_job_copy(ad_job_t *dst, const ad_job_t *src);

/*
 * The canonical JSON of a job: one line, keys sorted, every default written
 * out, numbers held to 15 significant digits.  It is itself a valid job file.
 * Returns a string the caller frees with free(); never NULL.
 */
char *ad_job_to_json(const ad_job_t *job);

/*
 * Read a job from JSON (the output of ad_job_to_json(), or any JSON object
 * that is a valid job) with the same rules as a job file, except that the
 * file system is not consulted: paths must be absolute and are not checked.
 * Returns 0 or AD_EPARSE ("<json>:LINE:COL: ..."); *job as ad_job_parse_file().
 */
int ad_job_from_json(const char *json, ad_job_t *job, ad_err_t *err);

/*
 * The configuration hash: 16 lowercase hex digits of the 64-bit FNV-1a of the
 * canonical JSON without the name, so jobs that train the same way share it
 * whatever they are called.  out receives a NUL-terminated string.
 */
void ad_job_hash(const ad_job_t *job, char out[17]);

/* The file spellings of the enumerations ("cnn", "fashion-mnist", "sgd", "cpu"); static. */
const char *ad_job_model_name(ad_job_model_t model);
const char *ad_job_dataset_name(ad_job_data_t kind);
const char *ad_job_optim_name(ad_job_optim_t type);
const char *ad_job_device_name(ad_job_device_t device);

/*
 * The dataset as runs name it in the store, so speedups and the planner
 * compare like with like: "fashion-mnist", "synthetic-CxHxW",
 * "imagefolder-BASENAME-SIZE" (docs/daemon.md).  Writes it into buf (cap
 * bytes, truncated if need be) and returns buf.
 */
char *ad_job_dataset_label(const ad_job_t *job, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

/* Sweep files, declared apart; included here so that their callers need only this header. */
#include "autodist/ad_sweep_file.h"

#ifdef __cplusplus
extern "C" {
#endif

/* (ad_sweep_file.h may be the header being read: it includes this one.) */
typedef struct ad_sweep ad_sweep_t;

/*
 * `sweep --set KEY=VALUE`: a new sweep (*out, ad_sweep_free()) that is sweep
 * with each assignment applied over its base job, as ad_job_parse_file_set()
 * does for a job file.  A key that is one of the grid's is refused (the grid
 * gives its values).  Returns 0, or AD_EPARSE with "--set KEY=VALUE: ...".
 */
int ad_job_sweep_set(const ad_sweep_t *sweep, const char *const *sets, size_t n_sets,
                     ad_sweep_t **out, ad_err_t *err);

#ifdef __cplusplus
}
#endif

#endif
