/* ad_train_int.h - what the parts of autodist-train share: its command line */
#ifndef AD_TRAIN_INT_H
#define AD_TRAIN_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "autodist/ad_error.h"
#include "autodist/ad_torch.h"

/* Command line. */
typedef struct opts {
    const char *model;           /* zoo name */
    const char *dataset;         /* fashion-mnist, synthetic, imagefolder */
    const char *data_dir;        /* where the data is */
    int64_t batch;               /* global batch */
    int64_t epochs;              /* epochs to train (0 = use steps) */
    int64_t steps;               /* global steps to train (0 = use epochs) */
    int threads;                 /* intra-op threads per rank */
    ad_optim_t optim;            /* optimiser */
    uint64_t seed;               /* seeds weights, order and augmentation */
    const char *device;          /* cpu, gpu, auto */
    const char *metrics;         /* JSON-lines file (rank 0) */
    const char *report;          /* coordinator endpoint for METRIC messages (rank 0) */
    int64_t job;                 /* the coordinator's job id, with report */
    const char *checkpoint;      /* checkpoint folder */
    int64_t checkpoint_every;    /* also checkpoint every N steps */
    bool resume;                 /* continue from the checkpoint */
    int checkpoint_keep;         /* step checkpoints kept (0 = all) */
    bool keep_checkpoints;       /* keep them after a successful end too */
    bool eval;                   /* evaluate after each epoch and at the end */
    double bucket_mb;            /* gradient bucket size */
    int channels, height, width; /* synthetic input shape */
    int classes;                 /* synthetic classes */
    int64_t samples;             /* synthetic samples */
    int image_size;              /* imagefolder output size */
    int64_t log_every;           /* progress line every N steps (0 = auto, -1 = never) */
    const char *teacher;         /* distillation: the teacher's checkpoint folder, or NULL */
    double distill_t;            /* its temperature (> 0) */
    double distill_alpha;        /* weight of the distillation term, 0..1 */
    const char *finetune;        /* fine-tuning: an fp32 artifact folder to start from, or NULL */
} opts_t;

/*
 * Parse argv into o (trainer/ad_train_opts.c).  Returns 0, 1 for --help/--version (printed by
 * rank 0), or an error with its message in err.  o's strings are borrowed from argv.
 */
int ad_train_parse(int argc, char **argv, opts_t *o, int rank, ad_err_t *err);

/* Print "autodist-train VERSION libtorch X.Y.Z Open MPI A.B.C" to stdout; works before MPI_Init. */
void ad_train_print_version(void);

#endif
