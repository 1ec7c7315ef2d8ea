/* ad_planner_int.h - planner internals shared by its parts: data, model, fit, evaluation */
#ifndef AD_PLANNER_INT_H
#define AD_PLANNER_INT_H

#include "autodist/ad_planner.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <czmq.h>

/* Parameters of a hardware group (class x device), all in log space. */
enum {
    PL_G_BW_IN,   /* log bytes/s of a link inside a node */
    PL_G_LAT_IN,  /* log s per ring step inside a node */
    PL_G_BW_OUT,  /* log bytes/s of a link between nodes */
    PL_G_LAT_OUT, /* log s per ring step between nodes */
    PL_G_KAPPA,   /* log of the slow-down of a fully busy node's cores (memory bandwidth) */
    PL_NG,
};

/* Parameters of a workload (model, dataset, class, device). */
enum {
    PL_W_A,      /* log s: per-step compute overhead */
    PL_W_B,      /* log s/sample: compute per sample on one thread */
    PL_W_SERIAL, /* logit of the Amdahl serial fraction (cpu threads) */
    PL_W_GRAD,   /* log gradient bytes reduced per step */
    PL_W_GAMMA,  /* log(g - 1): overlap exponent g of compute and communication */
    PL_NW,
};

/* Layout families: part of a residual cell's key, and what intervals widen for. */
enum {
    PL_FAM_SINGLE,  /* one rank, one thread */
    PL_FAM_THREADS, /* one rank, several threads */
    PL_FAM_PROCS,   /* several ranks on one node */
    PL_FAM_NODES,   /* several nodes */
    PL_NFAM,
};

typedef struct pl_hw {
    char *name;     /* class name, owned */
    int cores;      /* 0 = unknown */
    int gpus;       /* GPUs per node */
    int64_t memory; /* bytes, 0 = unknown */
    double g1;      /* GFLOP/s one core, 0 = unknown */
    double gall;    /* GFLOP/s all cores, 0 = unknown */
    double membw;   /* GB/s, 0 = unknown */
    double net;     /* Gbit/s, 0 = default */
} pl_hw_t;

typedef struct pl_info {
    char *model;   /* owned */
    char *dataset; /* owned */
    int64_t params;
    double flops; /* forward FLOPs per sample, 0 = unknown */
} pl_info_t;

typedef struct pl_group {
    int hw;              /* index in hw[] */
    bool gpu;            /* device */
    double th[PL_NG];    /* fitted values */
    double prior[PL_NG]; /* cold-start values */
    double sd[PL_NG];    /* prior standard deviations */
} pl_group_t;

typedef struct pl_wl {
    char *model;         /* owned */
    char *dataset;       /* owned */
    int group;           /* index in groups[] */
    double th[PL_NW];    /* fitted values */
    double prior[PL_NW]; /* cold-start values */
    double sd[PL_NW];    /* prior standard deviations */
    /* What the last fit rested on. */
    int n_cfg;        /* active configurations */
    int n_runs;       /* runs in them */
    int max_ranks;    /* most ranks of an active configuration */
    int max_nodes;    /* most nodes */
    int max_threads;  /* most threads per rank */
    unsigned fams;    /* PL_FAM_* bits seen */
    double sigma_res; /* spread of log residuals, pooled with the prior */
    double sigma;     /* the same with the uncertainty of few configurations */
} pl_wl_t;

/* The residual learned where data is dense: one cell per workload, family, ranks and threads. */
typedef struct pl_cell {
    int n;       /* configurations in the cell */
    double sum;  /* sum of their log residuals */
    double corr; /* sum / (n + k): shrunk toward no correction */
} pl_cell_t;

typedef struct pl_cfg {
    int wl;             /* index in wls[] */
    int64_t batch;      /* global batch */
    int nodes;          /* nodes used */
    int ranks;          /* ranks in all */
    int rmax;           /* most ranks on one node */
    int threads;        /* threads per rank (1 on GPUs) */
    int *place;         /* ranks per node, sorted descending, nodes entries; owned */
    int runs;           /* runs pooled */
    double sum_log_sps; /* sum of log samples/s */
    double sum_sps;     /* sum of samples/s */
    bool active;        /* part of the current fit */
    double corr_here;   /* learned log correction of this very configuration */
} pl_cfg_t;

/* Model inputs of one configuration. */
typedef struct pl_feat {
    double m;  /* per-rank batch */
    int t;     /* threads per rank */
    int n;     /* ranks */
    int k;     /* nodes */
    int r;     /* most ranks on a node */
    int cores; /* cores per node, 0 = unknown */
    bool gpu;
} pl_feat_t;

struct ad_planner {
    pl_hw_t *hw;
    size_t n_hw, cap_hw;
    pl_info_t *info;
    size_t n_info, cap_info;
    pl_group_t *groups;
    size_t n_groups, cap_groups;
    pl_wl_t *wls;
    size_t n_wls, cap_wls;
    pl_cfg_t *cfgs;
    size_t n_cfgs, cap_cfgs;
    zhashx_t *cfg_index; /* key -> index + 1 */
    zhashx_t *wl_index;  /* key -> index + 1 */
    pl_cell_t *cells;    /* residual cells of the last fit */
    size_t n_cells, cap_cells;
    zhashx_t *cell_index; /* "wl/family/ranks/threads" -> index + 1 */
    size_t n_obs;         /* observations added */
    bool dirty;           /* needs a fit */
    int restarts;         /* LM starts per group fit */
    uint64_t rng;         /* restarts' random state (deterministic) */
};

/* ad_planner.c */
int pl_family(int nodes, int ranks, int threads);
/* The learned log correction of workload wl on a layout; 0 where nothing was learned. */
double pl_cell_corr(const ad_planner_t *self, int wl, int nodes, int ranks, int threads);
/* The cell of workload wl on a layout, created when create is true; NULL when absent. */
pl_cell_t *pl_cell(ad_planner_t *self, int wl, int nodes, int ranks, int threads, bool create);
void pl_cfg_feat(const ad_planner_t *self, const pl_cfg_t *c, pl_feat_t *f);
void pl_wl_init_prior(ad_planner_t *self, pl_wl_t *w, const pl_group_t *g);
void pl_group_init_prior(ad_planner_t *self, pl_group_t *g);
ad_planner_t *pl_clone(const ad_planner_t *self);
/* The configuration of workload wl at 1 x 1 x 1 with global batch batch, or -1. */
int pl_find_base(const ad_planner_t *self, int wl, int64_t batch);
/* Predict configuration ci as the current fit sees it (no baseline, speedup 0). */
void pl_predict_cfg(ad_planner_t *self, int ci, ad_planner_pred_t *out);

/* ad_planner_fit.c */
double pl_log_step(const double *g, const double *w, const pl_feat_t *f, double *ltc, double *ltm);
/* Fit every group on the active configurations (restarts as configured). */
void pl_fit_all(ad_planner_t *self);
/*
 * Refit only workload wl with its group's parameters held, warm-started
 * from the current values (leave-one-configuration-out).
 */
void pl_fit_one(ad_planner_t *self, int wl);
/* Residual statistics, corrections and spreads after a fit. */
void pl_fit_stats(ad_planner_t *self);
/* Log samples/s the model predicts for configuration features of workload w (uncorrected). */
double pl_model_log_sps(const pl_group_t *g, const pl_wl_t *w, const pl_feat_t *f, int64_t batch,
                        double *tc, double *tm);

#endif
