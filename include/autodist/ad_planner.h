/* ad_planner.h - the planner: candidate layouts, performance model fitted on logged runs, ranking
 */
#ifndef AD_PLANNER_H
#define AD_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "autodist/ad_error.h"
#include "autodist/ad_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What a layout of a training job will do, before it runs (DESIGN.md §7,
 * docs/planner.md).  The planner holds hardware classes (from the agents'
 * profiles) and observations (logged runs), fits one performance model per
 * hardware class and device from them, and predicts the throughput of any
 * layout of any workload, with an interval and what the prediction rests
 * on.  A workload is (model, dataset, hardware class, device); the global
 * batch is an input of the model, so runs at several batches inform each
 * other.
 *
 * The model, per step of a rank (docs/planner.md has the details):
 *   compute  Tc = (a + b * per_rank_batch) * (s + (1 - s) / threads) * contention
 *   comm     Tm = 2 (N - 1) / N * grad_bytes / bw + 2 (N - 1) * lat       (N ranks, ring)
 *   step     T  = (Tc^g + Tm^g)^(1/g)                                       (overlap, g >= 1)
 * with bw, lat those of the slowest link (inside a node, or across nodes),
 * shared by every model of a hardware class; a, b, s, grad_bytes and g are
 * the workload's.  Parameters are fitted by Levenberg-Marquardt on log step
 * times with weak priors at the cold-start values, so a workload without
 * runs gets the cold-start model and one baseline run rescales it.
 *
 * A planner belongs to one thread.  Adding observations marks it for a
 * refit, which predictions do on demand (ad_planner_fit() does it now).
 * Bad data (a non-positive throughput, an empty layout, an unknown device)
 * is refused with AD_EINVAL and a message, never an abort.
 */
typedef struct ad_planner ad_planner_t;

/* A hardware class: what one node of that class offers (a profile's figures). */
typedef struct ad_planner_hw {
    const char *name;       /* hardware class (profile fingerprint); required */
    int cores;              /* physical cores per node; 0 = unknown (no contention term) */
    int gpus;               /* GPUs per node */
    int64_t memory_bytes;   /* memory per node; 0 = unknown */
    double gemm_gflops_1;   /* SGEMM GFLOP/s on one core; NaN or 0 = unknown */
    double gemm_gflops_all; /* SGEMM GFLOP/s on all cores; NaN or 0 = unknown */
    double mem_bw_gbs;      /* memory bandwidth GB/s; NaN or 0 = unknown */
    double net_gbps;        /* network link Gbit/s between nodes; NaN or 0 = default (10) */
} ad_planner_hw_t;

/* Where ranks run: nodes x procs_per_node x threads_per_proc on a device. */
typedef struct ad_planner_layout {
    int nodes;            /* >= 1 */
    int procs_per_node;   /* ranks per node, >= 1 (ignored when placement is set) */
    int threads_per_proc; /* threads per rank, >= 1 (1 on GPUs) */
    const char *device;   /* "cpu" or "gpu"; NULL = "cpu" */
    const int *placement; /* NULL = procs_per_node ranks on every node; else nodes entries
                             >= 1, the ranks on each node (uneven: {1, 2}) */
} ad_planner_layout_t;

/* One logged run (or the mean of repeats), as ad_planner_add_obs() takes it. */
typedef struct ad_planner_obs {
    const char *model;    /* required */
    const char *dataset;  /* required */
    const char *hardware; /* hardware class; NULL = "" (unknown class) */
    ad_planner_layout_t layout;
    int64_t batch_size;      /* global batch, >= 1, split evenly over the ranks */
    double samples_per_s;    /* measured throughput, > 0 */
    double step_time_s;      /* mean step time; NaN = not measured (not fitted: throughput is) */
    double comm_time_s;      /* mean comm time per step; NaN = none (not fitted, docs say why) */
    int64_t params;          /* model parameters; 0 = unknown */
    double flops_per_sample; /* forward FLOPs per sample; NaN or 0 = unknown */
} ad_planner_obs_t;

/* The job to plan: what is trained, on which class, with which global batch. */
typedef struct ad_planner_workload {
    const char *model;       /* required */
    const char *dataset;     /* required */
    const char *hardware;    /* class for ad_planner_predict(); ignored by ad_planner_rank() */
    int64_t batch_size;      /* global batch, >= 1 */
    int64_t params;          /* model parameters; 0 = known from runs, or unknown */
    double flops_per_sample; /* forward FLOPs per sample; NaN or 0 = known, or unknown */
} ad_planner_workload_t;

/* A prediction: throughput with an interval and what it rests on. */
typedef struct ad_planner_pred {
    double samples_per_s;          /* predicted throughput */
    double low;                    /* lower end of the ~90% interval */
    double high;                   /* upper end of the ~90% interval */
    double step_time_s;            /* predicted step time */
    double compute_s;              /* compute part of the step (before overlap) */
    double comm_s;                 /* communication part of the step (before overlap) */
    double baseline_samples_per_s; /* the 1x1x1 baseline (same workload, batch, device) */
    bool baseline_measured;        /* true: logged baseline runs; false: predicted */
    double speedup;                /* samples_per_s / baseline_samples_per_s */
    double efficiency;             /* speedup / cores used (cpu: nodes*ppn*tpp; gpu: nodes*ppn) */
    int n_runs;        /* runs of this workload (any batch) the fit used; 0 = cold start */
    int n_here;        /* runs of exactly this layout and batch among them */
    bool extrapolated; /* more ranks or nodes than any run of the workload */
    char basis[64];    /* "cold start", "1 run", "12 runs", "12 runs, 3 of this layout" */
} ad_planner_pred_t;

/* A live node that candidates may use. */
typedef struct ad_planner_node {
    const char *hardware; /* hardware class; NULL = "" */
    int cores;            /* physical cores, >= 1 */
    int gpus;             /* GPUs */
    int64_t memory_bytes; /* 0 = unknown (no memory rule) */
} ad_planner_node_t;

/* How ad_planner_rank() enumerates. */
typedef struct ad_planner_rank_opts {
    const char *device; /* "cpu", "gpu", or NULL/"auto" = both where GPUs exist */
    int max_nodes;      /* at most this many nodes; 0 = all that fit */
} ad_planner_rank_opts_t;

/* One candidate layout and its prediction. */
typedef struct ad_planner_cand {
    char *hardware;             /* hardware class, owned by the array */
    ad_planner_layout_t layout; /* even placement; device is a static string */
    int cores_used;             /* cpu: nodes*ppn*tpp; gpu: nodes*ppn */
    ad_planner_pred_t pred;
} ad_planner_cand_t;

/* Cross-validations of ad_planner_evaluate() (bits of ad_planner_eval_opts_t.methods). */
enum {
    AD_PLANNER_EVAL_LOCO = 1 << 0,  /* leave one configuration out */
    AD_PLANNER_EVAL_SMALL = 1 << 1, /* fit on few workers, predict more workers */
    AD_PLANNER_EVAL_LOMO = 1 << 2,  /* leave one model out (its 1-worker runs kept) */
};

typedef struct ad_planner_eval_opts {
    unsigned methods;      /* AD_PLANNER_EVAL_* bits; 0 = all three */
    int small_max_workers; /* SMALL: fit on <= this many workers; 0 = max(1, largest / 4) */
    bool naive;            /* also score naive linear scaling of the 1-worker throughput */
    int loco_max;          /* LOCO: at most this many held-out configurations; 0 = 2000 */
} ad_planner_eval_opts_t;

/*
 * Scores of one predictor under one cross-validation, for one workload or
 * pooled (model NULL).  Regrets are >= 1; NaN when there is nothing to score.
 */
typedef struct ad_planner_score {
    const char *method;    /* "loco", "small-large", "lomo" (static) */
    const char *predictor; /* "model" or "naive" (static) */
    char *model;           /* workload, owned; all four NULL for the pooled row */
    char *dataset;
    char *hardware;
    char *device;
    int points;           /* held-out configurations predicted */
    double mape;          /* mean absolute percentage error over the points, % */
    double spearman;      /* rank correlation of predicted and true throughput (pooled: median) */
    double coverage;      /* share of points inside their interval (NaN for naive) */
    int groups_same;      /* groups of >= 2 layouts with the same batch and worker count */
    double regret_same;   /* mean over those groups: best true / true of predicted best */
    int groups_all;       /* groups of >= 2 layouts with the same batch */
    double regret_all;    /* the same among all layouts of a batch */
    int workloads;        /* pooled row: workloads scored */
    double mape_median;   /* pooled row: median over workloads of mape */
    double mape_worst;    /* pooled row: largest workload mape */
    double regret_median; /* pooled row: median over workloads of regret_same */
    double regret_worst;  /* pooled row: largest workload regret_same */
} ad_planner_score_t;

/* Half-width of the interval in standard deviations of log throughput (~90%). */
#define AD_PLANNER_Z 1.645

/* Defaults of the cold start (docs/planner.md says where they come from). */
#define AD_PLANNER_DEFAULT_GFLOPS_CORE 20.0   /* a core when no benchmark ran */
#define AD_PLANNER_DEFAULT_GPU_GFLOPS 10000.0 /* a GPU: no GPU benchmark exists yet */
#define AD_PLANNER_DEFAULT_NET_GBPS 10.0      /* link between nodes */
#define AD_PLANNER_DEFAULT_PARAMS 25000000    /* parameters of a model nobody described */

/* Set defaults: model/dataset/hardware NULL, layout 1x1x1 cpu, batch 0, measures NaN. */
void ad_planner_obs_init(ad_planner_obs_t *obs);

/* Set defaults: counts 0, figures NaN. */
void ad_planner_hw_init(ad_planner_hw_t *hw);

/* A new, empty planner owned by the caller (ad_planner_free()); never NULL. */
ad_planner_t *ad_planner_new(void);

/* Release a planner; NULL-safe and idempotent, sets *self_p to NULL. */
void ad_planner_free(ad_planner_t **self_p);

/*
 * Add a hardware class, or replace the figures of the class of that name.
 * Returns 0, or AD_EINVAL (empty name, negative counts or figures).
 */
int ad_planner_add_hardware(ad_planner_t *self, const ad_planner_hw_t *hw, ad_err_t *err);

/*
 * Record what model and dataset cost: parameters and forward FLOPs per
 * sample (0/NaN keeps what is known).  Used by cold starts.  Returns 0 or
 * AD_EINVAL (negative figures, missing names).
 */
int ad_planner_set_model_info(ad_planner_t *self, const char *model, const char *dataset,
                              int64_t params, double flops_per_sample, ad_err_t *err);

/*
 * Add one observation.  Repeats of the same workload, batch and layout are
 * pooled into one configuration (mean log throughput).  An observation of
 * a hardware class not added yet creates it with unknown figures; on GPUs
 * threads_per_proc is ignored.  Returns 0, or AD_EINVAL with err saying what
 * is wrong ("a on d: samples_per_s must be a positive number, got -3",
 * "layout 0x1x1: nodes must be >= 1", "device must be cpu or gpu, got
 * \"tpu\"", "placement: node 2 has 0 ranks, must be >= 1"); nothing is
 * added on failure.
 */
int ad_planner_add_obs(ad_planner_t *self, const ad_planner_obs_t *obs, ad_err_t *err);

/*
 * Read the COMPLETED runs with a throughput that filter selects (NULL =
 * all; its states are ignored) and the profiles of their hardware classes
 * and of the store's nodes.  Runs that cannot be used (throughput missing
 * or not positive) are skipped; *n_runs (may be NULL) gets the number
 * added.  Returns 0, or the store's error code (AD_EDB) with err set.
 */
int ad_planner_load_store(ad_planner_t *self, ad_store_t *store, const ad_run_filter_t *filter,
                          size_t *n_runs, ad_err_t *err);

/* Number of configurations (pooled observations) and of observations added. */
size_t ad_planner_n_configs(const ad_planner_t *self);
size_t ad_planner_n_obs(const ad_planner_t *self);

/*
 * Fit the model now (predictions do it on demand after a change).  Always
 * succeeds on the data it was given (a fit that does not converge keeps its
 * best point); returns 0.
 */
int ad_planner_fit(ad_planner_t *self, ad_err_t *err);

/*
 * Predict workload w (its hardware class is w->hardware) on layout l and
 * fill *out.  With no runs of the workload it is a cold start from the
 * class's benchmarks and the model's parameters and FLOPs.  Returns 0, or
 * AD_EINVAL for a bad layout or batch, missing names, or a hardware class
 * the planner does not know ("hardware class x: no profile and no runs").
 */
int ad_planner_predict(ad_planner_t *self, const ad_planner_workload_t *w,
                       const ad_planner_layout_t *l, ad_planner_pred_t *out, ad_err_t *err);

/*
 * Every layout of workload w that fits the nodes, predicted and ranked by
 * throughput (then fewer cores, then fewer nodes).  A layout uses nodes of
 * one hardware class; on CPU procs_per_node x threads_per_proc <= cores,
 * on GPU one GPU per rank (threads 1), and nodes <= the nodes of that class
 * with that capacity; with the node's memory and the model's parameters
 * known, procs_per_node x 16 x params bytes must fit.  Counts per node: every
 * value up to 16 cores, then the divisors and powers of two.  Returns 0 and
 * sets *out (owned by the caller, ad_planner_cands_free()) and *n, or
 * AD_EINVAL (no node, bad workload, unknown device) with *out NULL.
 */
int ad_planner_rank(ad_planner_t *self, const ad_planner_workload_t *w,
                    const ad_planner_node_t *nodes, size_t n_nodes,
                    const ad_planner_rank_opts_t *opts, ad_planner_cand_t **out, size_t *n,
                    ad_err_t *err);

/* Free a candidate array; NULL-safe, sets *cands_p to NULL. */
void ad_planner_cands_free(ad_planner_cand_t **cands_p, size_t n);

/*
 * Which ranked candidates deserve a short probe run: the best and those
 * after it whose interval overlaps the best's (high >= best's low), at most
 * max_probes (0 = 3).  Writes their indexes to idx (room for max_probes)
 * and returns how many; 0 when the best stands alone (no probe needed).
 */
size_t ad_planner_probes(const ad_planner_cand_t *cands, size_t n, size_t max_probes, size_t *idx);

/*
 * Cross-validate the model on the planner's observations (docs/planner.md
 * defines each method and score).  The planner's own fit is not changed.
 * Returns 0 and sets *rows (owned by the caller, ad_planner_scores_free())
 * and *n: for each method and predictor a pooled row, then one row per
 * workload; or AD_EINVAL when there is nothing to evaluate.
 */
int ad_planner_evaluate(ad_planner_t *self, const ad_planner_eval_opts_t *opts,
                        ad_planner_score_t **rows, size_t *n, ad_err_t *err);

/* Free score rows; NULL-safe, sets *rows_p to NULL. */
void ad_planner_scores_free(ad_planner_score_t **rows_p, size_t n);

/* Write the fitted parameters, one line per hardware group and workload (debugging). */
void ad_planner_dump(ad_planner_t *self, FILE *out);

#ifdef __cplusplus
}
#endif

#endif
