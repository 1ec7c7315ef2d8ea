/* ad_train_opts.c - autodist-train's command line: options, defaults, checks, --help, --version */
#include <getopt.h>
#include <limits.h>
#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "autodist/ad_ckpt.h"
#include "autodist/ad_data.h"
#include "autodist/ad_error.h"
#include "autodist/ad_opt.h"
#include "autodist/ad_torch.h"
#include "autodist/ad_version.h"

#include "ad_train_int.h"

/*
 * "autodist-train VERSION libtorch X.Y.Z Open MPI A.B.C": what run records read.  The MPI
 * library says its name and version before MPI_Init ("Open MPI v4.1.4, package: ...").
 */
void
ad_train_print_version(void)
{
    char lib[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    char *v;
    int len = 0;

    MPI_Get_library_version(lib, &len);
    lib[strcspn(lib, ",\n")] = '\0';
    v = strstr(lib, " v");
    if (v && v[2] >= '0' && v[2] <= '9')
        memmove(v + 1, v + 2, strlen(v + 2) + 1);
    printf("autodist-train %s libtorch %s %s\n", AD_VERSION, ad_torch_version(),
           lib[0] ? lib : "MPI unknown");
    fflush(stdout);
}

static void
s_usage(FILE *fp)
{
    fprintf(fp,
            "usage: mpirun -np N autodist-train --model NAME --dataset NAME [options]\n"
            "\n"
            "Synchronous data-parallel training: every rank takes a disjoint share of each\n"
            "global batch, gradients are averaged with MPI allreduce while backward runs.\n"
            "\n"
            "model and data:\n"
            "  --model NAME          mlp, lenet5, cnn, resnet18, mobilenet_v2\n"
            "  --dataset NAME        fashion-mnist (default), synthetic, imagefolder\n"
            "  --data-dir DIR        data folder (fashion-mnist: %s;\n"
            "                        imagefolder: one sub-folder of images per class)\n"
            "  --input-shape CxHxW   synthetic sample shape (default 3x32x32)\n"
            "  --classes K           synthetic classes (default 10)\n"
            "  --samples N           synthetic training samples (default 50000)\n"
            "  --image-size S        imagefolder images are resized to SxS (default 224)\n"
            "\n"
            "training:\n"
            "  --batch-size B        global batch, split over the ranks (default 256)\n"
            "  --epochs E | --steps S  how long to train (default 1 epoch)\n"
            "  --threads T           compute threads per rank (default 1)\n"
            "  --optimizer sgd|adam  (default sgd)\n"
            "  --lr LR               learning rate (default 0.05 for sgd, 0.001 for adam)\n"
            "  --momentum M          SGD momentum (default 0.9)\n"
            "  --weight-decay W      L2 penalty (default 0)\n"
            "  --seed N              seeds weights, data order and augmentation (default 1)\n"
            "  --device cpu|gpu|auto one GPU per local rank with gpu (default cpu)\n"
            "  --bucket-mb MB        gradient bucket size (default 2)\n"
            "\n"
            "distillation (job key distill:, docs/jobfile.md):\n"
            "  --teacher-checkpoint DIR  train against the logits of the model in DIR (a run's\n"
            "                        checkpoint folder: state.json names its model); its forward\n"
            "                        runs on every rank, inside the step time\n"
            "  --distill-t T         temperature, > 0 (default 4)\n"
            "  --distill-alpha A     weight of the distillation term, 0..1 (default 0.9):\n"
            "                        loss = A T^2 KL(teacher/T || student/T) + (1 - A) CE\n"
            "\n"
            "fine-tuning (job key finetune:, docs/jobfile.md):\n"
            "  --finetune DIR        start from the fp32 inference artifact in DIR (autodist\n"
            "                        export, a pruned variant) instead of --model's fresh\n"
            "                        weights; weights it holds at zero stay zero; state.json\n"
            "                        names DIR, so autodist-model export writes its graph back\n"
            "\n"
            "output:\n"
            "  --metrics FILE.jsonl  rank 0 writes one JSON event per line\n"
            "  --report ENDPOINT     rank 0 also sends each event to the coordinator\n"
            "  --job ID              the coordinator's job id (with --report)\n"
            "  --eval                evaluate after each epoch and at the end\n"
            "  --checkpoint DIR      save model and optimiser after each epoch and at the end\n"
            "  --checkpoint-every N  also save every N steps\n"
            "  --checkpoint-keep K   keep the last K step checkpoints, 0 = all (default 2)\n"
            "  --keep-checkpoints    keep them after a successful end too (default: only\n"
            "                        the final DIR/model.pt stays)\n"
            "  --resume              continue from DIR's newest valid checkpoint (fresh\n"
            "                        start if none)\n"
            "  --log-every N         progress line every N steps (default: 20 lines a run;\n"
            "                        0 = never)\n"
            "  --help, --version\n"
            "\n"
            "Exit status: 0 done, 1 bad input or failure, 2 bad command line,\n"
            "3 stopped by a signal after saving a checkpoint, 4 disk or quota full\n"
            "(a checkpoint could not be written; the previous one is intact).\n",
            AD_DATA_FASHION_DIR);
}

enum {
    OPT_MODEL = 256,
    OPT_DATASET,
    OPT_DATA_DIR,
    OPT_BATCH,
    OPT_EPOCHS,
    OPT_STEPS,
    OPT_THREADS,
    OPT_LR,
    OPT_MOMENTUM,
    OPT_WD,
    OPT_OPTIMIZER,
    OPT_SEED,
    OPT_DEVICE,
    OPT_METRICS,
    OPT_CHECKPOINT,
    OPT_CKPT_EVERY,
    OPT_RESUME,
    OPT_EVAL,
    OPT_BUCKET,
    OPT_SHAPE,
    OPT_CLASSES,
    OPT_SAMPLES,
    OPT_IMAGE_SIZE,
    OPT_LOG_EVERY,
    OPT_HELP,
    OPT_VERSION,
    OPT_REPORT,
    OPT_JOB,
    OPT_CKPT_KEEP,
    OPT_KEEP_CKPTS,
    OPT_TEACHER,
    OPT_DISTILL_T,
    OPT_DISTILL_ALPHA,
    OPT_FINETUNE,
};

static const struct option s_long[] = {
    {"model", required_argument, NULL, OPT_MODEL},
    {"dataset", required_argument, NULL, OPT_DATASET},
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"batch-size", required_argument, NULL, OPT_BATCH},
    {"epochs", required_argument, NULL, OPT_EPOCHS},
    {"steps", required_argument, NULL, OPT_STEPS},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"lr", required_argument, NULL, OPT_LR},
    {"momentum", required_argument, NULL, OPT_MOMENTUM},
    {"weight-decay", required_argument, NULL, OPT_WD},
    {"optimizer", required_argument, NULL, OPT_OPTIMIZER},
    {"seed", required_argument, NULL, OPT_SEED},
    {"device", required_argument, NULL, OPT_DEVICE},
    {"metrics", required_argument, NULL, OPT_METRICS},
    {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
    {"checkpoint-every", required_argument, NULL, OPT_CKPT_EVERY},
    {"checkpoint-keep", required_argument, NULL, OPT_CKPT_KEEP},
    {"keep-checkpoints", no_argument, NULL, OPT_KEEP_CKPTS},
    {"resume", no_argument, NULL, OPT_RESUME},
    {"eval", no_argument, NULL, OPT_EVAL},
    {"bucket-mb", required_argument, NULL, OPT_BUCKET},
    {"input-shape", required_argument, NULL, OPT_SHAPE},
    {"classes", required_argument, NULL, OPT_CLASSES},
    {"samples", required_argument, NULL, OPT_SAMPLES},
    {"image-size", required_argument, NULL, OPT_IMAGE_SIZE},
    {"log-every", required_argument, NULL, OPT_LOG_EVERY},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {"report", required_argument, NULL, OPT_REPORT},
    {"job", required_argument, NULL, OPT_JOB},
    {"teacher-checkpoint", required_argument, NULL, OPT_TEACHER},
    {"distill-t", required_argument, NULL, OPT_DISTILL_T},
    {"distill-alpha", required_argument, NULL, OPT_DISTILL_ALPHA},
    {"finetune", required_argument, NULL, OPT_FINETUNE},
    {NULL, 0, NULL, 0},
};

/* What s_opt_training() and s_opt_io() return for an option that is not theirs. */
#define S_NOT_MINE 1

/* The model, data and optimizer options.  Returns 0, an error, or S_NOT_MINE. */
static int
s_opt_training(int c, opts_t *o, bool *lr_set, ad_err_t *err)
{
    int64_t v;
    int rc = 0;

    switch (c) {
    case OPT_MODEL:
        o->model = optarg;
        break;
    case OPT_DATASET:
        o->dataset = optarg;
        break;
    case OPT_DATA_DIR:
        o->data_dir = optarg;
        break;
    case OPT_BATCH:
        rc = ad_opt_int("--batch-size", optarg, 1, INT_MAX, 0, &o->batch, err);
        break;
    case OPT_EPOCHS:
        rc = ad_opt_int("--epochs", optarg, 1, 1000000, 0, &o->epochs, err);
        break;
    case OPT_STEPS:
        rc = ad_opt_int("--steps", optarg, 1, INT64_MAX / 2, 0, &o->steps, err);
        break;
    case OPT_THREADS:
        rc = ad_opt_int("--threads", optarg, 1, 1024, 0, &v, err);
        o->threads = (int)v;
        break;
    case OPT_LR:
        rc = ad_opt_real("--lr", optarg, 1e-12, 1e6, 0, &o->optim.lr, err);
        *lr_set = true;
        break;
    case OPT_MOMENTUM:
        rc = ad_opt_real("--momentum", optarg, 0, 0.999999, 0, &o->optim.momentum, err);
        break;
    case OPT_WD:
        rc = ad_opt_real("--weight-decay", optarg, 0, 1e3, 0, &o->optim.weight_decay, err);
        break;
    case OPT_OPTIMIZER:
        if (!strcmp(optarg, "sgd"))
            o->optim.kind = AD_OPTIM_SGD;
        else if (!strcmp(optarg, "adam"))
            o->optim.kind = AD_OPTIM_ADAM;
        else
            rc = ad_err_set(err, AD_EINVAL, "--optimizer must be sgd or adam, got \"%s\"", optarg);
        break;
    case OPT_SEED:
        rc = ad_opt_int("--seed", optarg, 0, INT64_MAX, 0, &v, err);
        o->seed = (uint64_t)v;
        break;
    case OPT_DEVICE:
        if (strcmp(optarg, "cpu") && strcmp(optarg, "gpu") && strcmp(optarg, "auto"))
            rc =
                ad_err_set(err, AD_EINVAL, "--device must be cpu, gpu or auto, got \"%s\"", optarg);
        o->device = optarg;
        break;
    case OPT_TEACHER:
        o->teacher = optarg;
        break;
    case OPT_DISTILL_T:
        rc = ad_opt_real("--distill-t", optarg, 1e-6, 1000, 0, &o->distill_t, err);
        break;
    case OPT_DISTILL_ALPHA:
        rc = ad_opt_real("--distill-alpha", optarg, 0, 1, 0, &o->distill_alpha, err);
        break;
    case OPT_FINETUNE:
        o->finetune = optarg;
        break;
    default:
        return S_NOT_MINE;
    }
    return rc;
}

/* The output, checkpoint and synthetic-data options.  Returns 0, an error, or S_NOT_MINE. */
static int
s_opt_io(int c, opts_t *o, ad_err_t *err)
{
    int64_t v;
    int rc = 0;

    switch (c) {
    case OPT_METRICS:
        o->metrics = optarg;
        break;
    case OPT_CHECKPOINT:
        o->checkpoint = optarg;
        break;
    case OPT_REPORT:
        o->report = optarg;
        break;
    case OPT_JOB:
        rc = ad_opt_int("--job", optarg, 1, INT64_MAX, 0, &o->job, err);
        break;
    case OPT_CKPT_EVERY:
        rc = ad_opt_int("--checkpoint-every", optarg, 1, INT64_MAX / 2, 0, &o->checkpoint_every,
                        err);
        break;
    case OPT_CKPT_KEEP:
        rc = ad_opt_int("--checkpoint-keep", optarg, 0, 1000000, 0, &v, err);
        o->checkpoint_keep = (int)v;
        break;
    case OPT_KEEP_CKPTS:
        o->keep_checkpoints = true;
        break;
    case OPT_RESUME:
        o->resume = true;
        break;
    case OPT_EVAL:
        o->eval = true;
        break;
    case OPT_BUCKET:
        rc = ad_opt_real("--bucket-mb", optarg, 0.001, 1024, 0, &o->bucket_mb, err);
        break;
    case OPT_SHAPE:
        if (sscanf(optarg, "%dx%dx%d%n", &o->channels, &o->height, &o->width, &(int){0}) != 3 ||
            o->channels < 1 || o->channels > 64 || o->height < 1 || o->height > 4096 ||
            o->width < 1 || o->width > 4096)
            rc = ad_err_set(err, AD_EINVAL,
                            "--input-shape must be CxHxW (e.g. 3x32x32), got \"%s\"", optarg);
        break;
    case OPT_CLASSES:
        rc = ad_opt_int("--classes", optarg, 2, 100000, 0, &v, err);
        o->classes = (int)v;
        break;
    case OPT_SAMPLES:
        rc = ad_opt_int("--samples", optarg, 1, INT64_C(1) << 40, 0, &o->samples, err);
        break;
    case OPT_IMAGE_SIZE:
        rc = ad_opt_int("--image-size", optarg, 8, 4096, 0, &v, err);
        o->image_size = (int)v;
        break;
    case OPT_LOG_EVERY:
        rc = ad_opt_int("--log-every", optarg, 0, INT64_MAX / 2, 0, &o->log_every, err);
        if (!rc && o->log_every == 0)
            o->log_every = -1;
        break;
    default:
        return S_NOT_MINE;
    }
    return rc;
}

/* The options' defaults. */
static void
s_defaults(opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->dataset = "fashion-mnist";
    o->batch = 256;
    o->threads = 1;
    o->optim.kind = AD_OPTIM_SGD;
    o->optim.lr = 0.05;
    o->optim.momentum = 0.9;
    o->seed = 1;
    o->device = "cpu";
    o->bucket_mb = 2;
    o->channels = 3;
    o->height = 32;
    o->width = 32;
    o->classes = 10;
    o->samples = 50000;
    o->image_size = 224;
    o->checkpoint_keep = AD_CKPT_KEEP_DEFAULT;
    o->distill_t = 4;
    o->distill_alpha = 0.9;
}

/* Parse argv into o.  Returns 0, 1 for --help/--version (printed by rank 0), or an error. */
int
ad_train_parse(int argc, char **argv, opts_t *o, int rank, ad_err_t *err)
{
    bool lr_set = false;
    int c, rc = 0;

    s_defaults(o);
    opterr = 0;
    optind = 1;
    while (!rc && (c = getopt_long(argc, argv, "h", s_long, NULL)) != -1) {
        rc = s_opt_training(c, o, &lr_set, err);
        if (rc == S_NOT_MINE)
            rc = s_opt_io(c, o, err);
        if (rc != S_NOT_MINE)
            continue;
        rc = 0;
        switch (c) {
        case 'h':
        case OPT_HELP:
            if (rank == 0)
                s_usage(stdout);
            return 1;
        case OPT_VERSION:
            if (rank == 0)
                ad_train_print_version();
            return 1;
        default:
            rc = ad_opt_getopt_error(s_long, OPT_MODEL, argv, err);
            break;
        }
    }
    if (rc)
        return rc;
    if (optind < argc)
        return ad_err_set(err, AD_EINVAL, "unexpected argument \"%s\" (try --help)", argv[optind]);
    if (!o->model)
        return ad_err_set(err, AD_EINVAL,
                          "--model is required (mlp, lenet5, cnn, resnet18, "
                          "mobilenet_v2)");
    if (o->epochs && o->steps)
        return ad_err_set(err, AD_EINVAL, "give --epochs or --steps, not both");
    if (!o->epochs && !o->steps)
        o->epochs = 1;
    if (o->resume && !o->checkpoint)
        return ad_err_set(err, AD_EINVAL, "--resume needs --checkpoint DIR");
    if (o->report && !o->job)
        return ad_err_set(err, AD_EINVAL, "--report needs --job ID (the coordinator's job id)");
    if (o->optim.kind == AD_OPTIM_ADAM && !lr_set)
        o->optim.lr = 0.001;
    if (o->optim.kind == AD_OPTIM_ADAM)
        o->optim.momentum = 0;
    return 0;
}
