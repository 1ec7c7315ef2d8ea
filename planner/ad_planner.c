/* ad_planner.c - the planner: hardware classes, observations, cold-start priors, predictions,
 * candidates */
#include "autodist/ad_planner.h"

#include "ad_planner_int.h"
#include "autodist/ad_rand.h"
#include "autodist/ad_log.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Cold start (docs/planner.md, "Cold start"). */
#define S_ETA 0.5          /* share of SGEMM speed a training step reaches */
#define S_TRAIN_FLOPS 3.0  /* training FLOPs per forward FLOP */
#define S_CPU_A 2e-3       /* s: per-step overhead on CPU */
#define S_GPU_A 1e-2       /* s: per-step overhead on GPU */
#define S_CPU_B 1e-3       /* s/sample on one core when FLOPs are unknown */
#define S_GPU_B 1e-4       /* s/sample on one GPU when FLOPs are unknown */
#define S_SERIAL 0.05      /* Amdahl serial fraction */
#define S_CPU_LAT_IN 5e-6  /* s per ring step through shared memory */
#define S_GPU_BW_IN 8e9    /* bytes/s between GPUs of a node (PCIe) */
#define S_GPU_LAT_IN 2e-5  /* s per ring step between GPUs of a node */
#define S_CPU_BW_IN 5e9    /* bytes/s through shared memory without a triad figure */
#define S_NET_EFF 0.8      /* share of the link rate an allreduce gets */
#define S_LAT_OUT 5e-5     /* s per ring step between nodes */
#define S_KAPPA 0.1        /* slow-down of a busy node without benchmark figures */
#define S_MEM_PER_PARAM 16 /* bytes per parameter and rank: weights, grads, momentum, copy */

/* Spread of the interval (log throughput) of a cold start; docs/planner.md "Intervals". */
#define S_SIGMA_COLD 1.0
/* ... when the model's parameters or FLOPs are unknown (defaults stand in for them). */
#define S_SIGMA_COLD_BLIND 1.5
/* Widening of the spread per doubling of ranks or threads beyond those measured. */
#define S_WIDEN 0.25
/* Spread of the mean of a layout's runs around the truth. */
#define S_SIGMA_RUN 0.05
/* Added spread when a workload never ran on more than one rank (parameters known, unknown). */
#define S_SIGMA_COMM 0.7
#define S_SIGMA_COMM_BLIND 1.2

static const char *const s_dev_name[2] = {"cpu", "gpu"};

/* --------------------------------------------------------------------------------------- */
/* Small helpers.                                                                          */

static double
s_known(double x)
{
    return isfinite(x) && x > 0 ? x : 0;
}

static double
s_logit(double p)
{
    return log(p / (1 - p));
}

#define S_GROW(arr, n, cap)                                                                        \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? 2 * (cap) : 8;                                                         \
            (arr) = ad_realloc((arr), (cap) * sizeof(*(arr)));                                     \
        }                                                                                          \
    } while (0)

int
pl_family(int nodes, int ranks, int threads)
{
    if (nodes > 1)
        return PL_FAM_NODES;
    if (ranks > 1)
        return PL_FAM_PROCS;
    return threads > 1 ? PL_FAM_THREADS : PL_FAM_SINGLE;
}

pl_cell_t *
pl_cell(ad_planner_t *self, int wl, int nodes, int ranks, int threads, bool create)
{
    char key[64];
    void *v;

    snprintf(key, sizeof(key), "%d/%d/%d/%d", wl, pl_family(nodes, ranks, threads), ranks, threads);
    v = zhashx_lookup(self->cell_index, key);
    if (v)
        return &self->cells[(intptr_t)v - 1];
    if (!create)
        return NULL;
    S_GROW(self->cells, self->n_cells, self->cap_cells);
    memset(&self->cells[self->n_cells], 0, sizeof(self->cells[0]));
    zhashx_insert(self->cell_index, key, (void *)(intptr_t)(self->n_cells + 1));
    return &self->cells[self->n_cells++];
}

double
pl_cell_corr(const ad_planner_t *self, int wl, int nodes, int ranks, int threads)
{
    const pl_cell_t *c = pl_cell((ad_planner_t *)self, wl, nodes, ranks, threads, false);

    return c ? c->corr : 0;
}

static int
s_cmp_int_desc(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;

    return (x < y) - (x > y);
}

/* A layout checked and reduced to what the model needs; place gets nodes entries, sorted. */
typedef struct s_lay {
    bool gpu;
    int nodes, ranks, rmax, threads;
    int *place; /* owned */
} s_lay_t;

static int
s_check_layout(const ad_planner_layout_t *l, s_lay_t *out, ad_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (!l)
        return ad_err_set(err, AD_EINVAL, "no layout given");
    if (l->device && strcmp(l->device, "cpu") && strcmp(l->device, "gpu"))
        return ad_err_set(err, AD_EINVAL, "device must be cpu or gpu, got \"%s\"", l->device);
    out->gpu = l->device && !strcmp(l->device, "gpu");
    if (l->nodes < 1 || l->nodes > 100000)
        return ad_err_set(err, AD_EINVAL, "layout %dx%dx%d: nodes must be >= 1", l->nodes,
                          l->procs_per_node, l->threads_per_proc);
    if (!l->placement && (l->procs_per_node < 1 || l->procs_per_node > 100000))
        return ad_err_set(err, AD_EINVAL, "layout %dx%dx%d: procs_per_node must be >= 1", l->nodes,
                          l->procs_per_node, l->threads_per_proc);
    if (l->threads_per_proc < 1 || l->threads_per_proc > 100000)
        return ad_err_set(err, AD_EINVAL, "layout %dx%dx%d: threads_per_proc must be >= 1",
                          l->nodes, l->procs_per_node, l->threads_per_proc);
    out->nodes = l->nodes;
    out->threads = out->gpu ? 1 : l->threads_per_proc;
    out->place = ad_malloc((size_t)l->nodes * sizeof(int));
    for (int i = 0; i < l->nodes; i++) {
        int r = l->placement ? l->placement[i] : l->procs_per_node;

        if (r < 1 || r > 100000) {
            free(out->place);
            out->place = NULL;
            return ad_err_set(err, AD_EINVAL, "placement: node %d has %d ranks, must be >= 1",
                              i + 1, r);
        }
        out->place[i] = r;
        out->ranks += r;
        if (r > out->rmax)
            out->rmax = r;
    }
    qsort(out->place, (size_t)l->nodes, sizeof(int), s_cmp_int_desc);
    return 0;
}

/* "model\x1f dataset\x1f hardware\x1f device" and, for a configuration, batch/threads/place. */
static char *
s_wl_key(const char *model, const char *dataset, const char *hw, bool gpu)
{
    char *key = NULL;

    if (asprintf(&key, "%s\x1f%s\x1f%s\x1f%s", model, dataset, hw, s_dev_name[gpu]) < 0)
        ad_oom(0);
    return key;
}

static char *
s_cfg_key(int wl, int64_t batch, const s_lay_t *l)
{
    size_t cap = 64 + 12 * (size_t)l->nodes;
    char *key = ad_malloc(cap);
    int off = snprintf(key, cap, "%d/%" PRId64 "/%d/", wl, batch, l->threads);

    for (int i = 0; i < l->nodes; i++)
        off += snprintf(key + off, cap - (size_t)off, "%d,", l->place[i]);
    return key;
}

/* --------------------------------------------------------------------------------------- */
/* Life cycle.                                                                             */

void
ad_planner_obs_init(ad_planner_obs_t *obs)
{
    memset(obs, 0, sizeof(*obs));
    obs->layout.nodes = 1;
    obs->layout.procs_per_node = 1;
    obs->layout.threads_per_proc = 1;
    obs->samples_per_s = NAN;
    obs->step_time_s = NAN;
    obs->comm_time_s = NAN;
    obs->flops_per_sample = NAN;
}

void
ad_planner_hw_init(ad_planner_hw_t *hw)
{
    memset(hw, 0, sizeof(*hw));
    hw->gemm_gflops_1 = NAN;
    hw->gemm_gflops_all = NAN;
    hw->mem_bw_gbs = NAN;
    hw->net_gbps = NAN;
}

ad_planner_t *
ad_planner_new(void)
{
    ad_planner_t *self = ad_calloc(1, sizeof(*self));

    self->cfg_index = zhashx_new();
    self->wl_index = zhashx_new();
    self->cell_index = zhashx_new();
    if (!self->cfg_index || !self->wl_index || !self->cell_index)
        ad_oom(sizeof(void *));
    self->restarts = 4;
    self->rng = AD_RAND_GAMMA;
    return self;
}

void
ad_planner_free(ad_planner_t **self_p)
{
    ad_planner_t *self;

    if (!self_p || !*self_p)
        return;
    self = *self_p;
    for (size_t i = 0; i < self->n_hw; i++)
        free(self->hw[i].name);
    for (size_t i = 0; i < self->n_info; i++) {
        free(self->info[i].model);
        free(self->info[i].dataset);
    }
    for (size_t i = 0; i < self->n_wls; i++) {
        free(self->wls[i].model);
        free(self->wls[i].dataset);
    }
    for (size_t i = 0; i < self->n_cfgs; i++)
        free(self->cfgs[i].place);
    free(self->hw);
    free(self->info);
    free(self->groups);
    free(self->wls);
    free(self->cfgs);
    free(self->cells);
    zhashx_destroy(&self->cfg_index);
    zhashx_destroy(&self->wl_index);
    zhashx_destroy(&self->cell_index);
    free(self);
    *self_p = NULL;
}

ad_planner_t *
pl_clone(const ad_planner_t *self)
{
    ad_planner_t *c = ad_planner_new();

    c->restarts = self->restarts;
    c->rng = self->rng;
    c->dirty = self->dirty;
    c->n_obs = self->n_obs;
    c->n_hw = c->cap_hw = self->n_hw;
    c->hw = ad_calloc(self->n_hw ? self->n_hw : 1, sizeof(*c->hw));
    for (size_t i = 0; i < self->n_hw; i++) {
        c->hw[i] = self->hw[i];
        c->hw[i].name = ad_strdup(self->hw[i].name);
    }
    c->n_info = c->cap_info = self->n_info;
    c->info = ad_calloc(self->n_info ? self->n_info : 1, sizeof(*c->info));
    for (size_t i = 0; i < self->n_info; i++) {
        c->info[i] = self->info[i];
        c->info[i].model = ad_strdup(self->info[i].model);
        c->info[i].dataset = ad_strdup(self->info[i].dataset);
    }
    c->n_groups = c->cap_groups = self->n_groups;
    c->groups = ad_calloc(self->n_groups ? self->n_groups : 1, sizeof(*c->groups));
    memcpy(c->groups, self->groups, self->n_groups * sizeof(*c->groups));
    c->n_wls = c->cap_wls = self->n_wls;
    c->wls = ad_calloc(self->n_wls ? self->n_wls : 1, sizeof(*c->wls));
    for (size_t i = 0; i < self->n_wls; i++) {
        c->wls[i] = self->wls[i];
        c->wls[i].model = ad_strdup(self->wls[i].model);
        c->wls[i].dataset = ad_strdup(self->wls[i].dataset);
    }
    c->n_cfgs = c->cap_cfgs = self->n_cfgs;
    c->cfgs = ad_calloc(self->n_cfgs ? self->n_cfgs : 1, sizeof(*c->cfgs));
    for (size_t i = 0; i < self->n_cfgs; i++) {
        c->cfgs[i] = self->cfgs[i];
        c->cfgs[i].place = ad_malloc((size_t)self->cfgs[i].nodes * sizeof(int));
        memcpy(c->cfgs[i].place, self->cfgs[i].place, (size_t)self->cfgs[i].nodes * sizeof(int));
    }
    for (size_t i = 0; i < c->n_wls; i++) {
        const pl_wl_t *w = &c->wls[i];
        const pl_group_t *g = &c->groups[w->group];
        char *key = s_wl_key(w->model, w->dataset, c->hw[g->hw].name, g->gpu);

        zhashx_insert(c->wl_index, key, (void *)(intptr_t)(i + 1));
        free(key);
    }
    for (size_t i = 0; i < c->n_cfgs; i++) {
        const pl_cfg_t *cf = &c->cfgs[i];
        s_lay_t lay = {.nodes = cf->nodes, .threads = cf->threads, .place = cf->place};
        char *key = s_cfg_key(cf->wl, cf->batch, &lay);

        zhashx_insert(c->cfg_index, key, (void *)(intptr_t)(i + 1));
        free(key);
    }
    return c;
}

/* --------------------------------------------------------------------------------------- */
/* Hardware classes, model figures, groups and workloads.                                  */

static int
s_find_hw(const ad_planner_t *self, const char *name)
{
    for (size_t i = 0; i < self->n_hw; i++)
        if (!strcmp(self->hw[i].name, name))
            return (int)i;
    return -1;
}

static int
s_add_hw_name(ad_planner_t *self, const char *name)
{
    int i = s_find_hw(self, name);

    if (i >= 0)
        return i;
    S_GROW(self->hw, self->n_hw, self->cap_hw);
    memset(&self->hw[self->n_hw], 0, sizeof(self->hw[0]));
    self->hw[self->n_hw].name = ad_strdup(name);
    return (int)self->n_hw++;
}

int
ad_planner_add_hardware(ad_planner_t *self, const ad_planner_hw_t *hw, ad_err_t *err)
{
    pl_hw_t *h;
    int i;
    const double figs[] = {hw->gemm_gflops_1, hw->gemm_gflops_all, hw->mem_bw_gbs, hw->net_gbps};

    assert(self && hw);
    if (!hw->name || !*hw->name)
        return ad_err_set(err, AD_EINVAL, "hardware class: a name is required");
    if (hw->cores < 0 || hw->gpus < 0 || hw->memory_bytes < 0)
        return ad_err_set(err, AD_EINVAL, "hardware class %s: negative cores, GPUs or memory",
                          hw->name);
    for (size_t k = 0; k < sizeof(figs) / sizeof(figs[0]); k++)
        if (figs[k] < 0 || isinf(figs[k]))
            return ad_err_set(err, AD_EINVAL, "hardware class %s: figures must be positive",
                              hw->name);
    i = s_add_hw_name(self, hw->name);
    h = &self->hw[i];
    h->cores = hw->cores;
    h->gpus = hw->gpus;
    h->memory = hw->memory_bytes;
    h->g1 = s_known(hw->gemm_gflops_1);
    h->gall = s_known(hw->gemm_gflops_all);
    h->membw = s_known(hw->mem_bw_gbs);
    h->net = s_known(hw->net_gbps);
    /* Priors depend on the figures: recompute them. */
    for (size_t g = 0; g < self->n_groups; g++)
        pl_group_init_prior(self, &self->groups[g]);
    for (size_t w = 0; w < self->n_wls; w++)
        pl_wl_init_prior(self, &self->wls[w], &self->groups[self->wls[w].group]);
    self->dirty = true;
    return 0;
}

static pl_info_t *
s_find_info(const ad_planner_t *self, const char *model, const char *dataset)
{
    for (size_t i = 0; i < self->n_info; i++)
        if (!strcmp(self->info[i].model, model) && !strcmp(self->info[i].dataset, dataset))
            return &self->info[i];
    return NULL;
}

static void
s_note_info(ad_planner_t *self, const char *model, const char *dataset, int64_t params,
            double flops)
{
    pl_info_t *in = s_find_info(self, model, dataset);
    bool changed = false;

    if (params <= 0 && !s_known(flops))
        return;
    if (!in) {
        S_GROW(self->info, self->n_info, self->cap_info);
        in = &self->info[self->n_info++];
        memset(in, 0, sizeof(*in));
        in->model = ad_strdup(model);
        in->dataset = ad_strdup(dataset);
    }
    if (params > 0 && in->params != params) {
        in->params = params;
        changed = true;
    }
    if (s_known(flops) && in->flops != flops) {
        in->flops = flops;
        changed = true;
    }
    if (!changed)
        return;
    for (size_t w = 0; w < self->n_wls; w++)
        if (!strcmp(self->wls[w].model, model) && !strcmp(self->wls[w].dataset, dataset))
            pl_wl_init_prior(self, &self->wls[w], &self->groups[self->wls[w].group]);
    self->dirty = true;
}

int
ad_planner_set_model_info(ad_planner_t *self, const char *model, const char *dataset,
                          int64_t params, double flops_per_sample, ad_err_t *err)
{
    if (!model || !*model || !dataset || !*dataset)
        return ad_err_set(err, AD_EINVAL, "model info: model and dataset are required");
    if (params < 0 || flops_per_sample < 0 || isinf(flops_per_sample))
        return ad_err_set(err, AD_EINVAL, "model %s on %s: parameters and FLOPs must be positive",
                          model, dataset);
    s_note_info(self, model, dataset, params, flops_per_sample);
    return 0;
}

void
pl_group_init_prior(ad_planner_t *self, pl_group_t *g)
{
    const pl_hw_t *h = &self->hw[g->hw];
    double net = (h->net > 0 ? h->net : AD_PLANNER_DEFAULT_NET_GBPS) * 1e9 / 8 * S_NET_EFF;
    double kappa = S_KAPPA;

    if (g->gpu) {
        g->prior[PL_G_BW_IN] = log(S_GPU_BW_IN);
        g->prior[PL_G_LAT_IN] = log(S_GPU_LAT_IN);
    } else {
        g->prior[PL_G_BW_IN] = log(h->membw > 0 ? h->membw * 1e9 / 4 : S_CPU_BW_IN);
        g->prior[PL_G_LAT_IN] = log(S_CPU_LAT_IN);
    }
    g->prior[PL_G_BW_OUT] = log(net);
    g->prior[PL_G_LAT_OUT] = log(S_LAT_OUT);
    /* All-core SGEMM below cores x one-core SGEMM is the cost of sharing the memory system. */
    if (h->g1 > 0 && h->gall > 0 && h->cores > 1) {
        double rho = h->gall / (h->cores * h->g1);

        kappa = (1 / fmin(rho, 1.0) - 1) / (1 - 1.0 / h->cores);
        kappa = fmin(fmax(kappa, 0.01), 10);
    }
    g->prior[PL_G_KAPPA] = log(kappa);
    /*
     * Bandwidths show in the step times of a few ranks; latencies hardly do
     * (microseconds against milliseconds) yet dominate extrapolations to many
     * ranks, so they stay near the defaults unless the data insist.
     */
    g->sd[PL_G_BW_IN] = g->sd[PL_G_BW_OUT] = 2.0;
    g->sd[PL_G_LAT_IN] = g->sd[PL_G_LAT_OUT] = 0.5;
    g->sd[PL_G_KAPPA] = g->gpu ? 0.01 : 1.0;
}

void
pl_wl_init_prior(ad_planner_t *self, pl_wl_t *w, const pl_group_t *g)
{
    const pl_hw_t *h = &self->hw[g->hw];
    const pl_info_t *in = s_find_info(self, w->model, w->dataset);
    int64_t params = in ? in->params : 0;
    double flops = in ? in->flops : 0;

    if (g->gpu) {
        w->prior[PL_W_A] = log(S_GPU_A);
        w->prior[PL_W_B] =
            log(flops > 0 ? S_TRAIN_FLOPS * flops / (S_ETA * AD_PLANNER_DEFAULT_GPU_GFLOPS * 1e9)
                          : S_GPU_B);
    } else {
        double g1 = h->g1 > 0 ? h->g1 : AD_PLANNER_DEFAULT_GFLOPS_CORE;

        w->prior[PL_W_A] = log(S_CPU_A);
        w->prior[PL_W_B] = log(flops > 0 ? S_TRAIN_FLOPS * flops / (S_ETA * g1 * 1e9) : S_CPU_B);
    }
    w->sd[PL_W_A] = 2.0;
    w->sd[PL_W_B] = flops > 0 ? 1.0 : 3.0;
    w->prior[PL_W_SERIAL] = s_logit(S_SERIAL);
    w->sd[PL_W_SERIAL] = g->gpu ? 0.01 : 1.5;
    w->prior[PL_W_GRAD] = log(4.0 * (double)(params > 0 ? params : AD_PLANNER_DEFAULT_PARAMS));
    w->sd[PL_W_GRAD] = params > 0 ? 0.01 : 3.0;
    w->prior[PL_W_GAMMA] = 0; /* g = 2 */
    w->sd[PL_W_GAMMA] = 1.5;
}

static int
s_find_group(const ad_planner_t *self, int hw, bool gpu)
{
    for (size_t i = 0; i < self->n_groups; i++)
        if (self->groups[i].hw == hw && self->groups[i].gpu == gpu)
            return (int)i;
    return -1;
}

static int
s_add_group(ad_planner_t *self, int hw, bool gpu)
{
    int i = s_find_group(self, hw, gpu);
    pl_group_t *g;

    if (i >= 0)
        return i;
    S_GROW(self->groups, self->n_groups, self->cap_groups);
    g = &self->groups[self->n_groups];
    memset(g, 0, sizeof(*g));
    g->hw = hw;
    g->gpu = gpu;
    pl_group_init_prior(self, g);
    memcpy(g->th, g->prior, sizeof(g->th));
    return (int)self->n_groups++;
}

static int
s_find_wl(const ad_planner_t *self, const char *model, const char *dataset, const char *hw,
          bool gpu)
{
    char *key = s_wl_key(model, dataset, hw, gpu);
    void *v = zhashx_lookup(self->wl_index, key);

    free(key);
    return v ? (int)((intptr_t)v - 1) : -1;
}

static int
s_add_wl(ad_planner_t *self, const char *model, const char *dataset, int hw, bool gpu)
{
    int i = s_find_wl(self, model, dataset, self->hw[hw].name, gpu);
    char *key;
    pl_wl_t *w;

    if (i >= 0)
        return i;
    S_GROW(self->wls, self->n_wls, self->cap_wls);
    w = &self->wls[self->n_wls];
    memset(w, 0, sizeof(*w));
    w->model = ad_strdup(model);
    w->dataset = ad_strdup(dataset);
    w->group = s_add_group(self, hw, gpu);
    pl_wl_init_prior(self, w, &self->groups[w->group]);
    memcpy(w->th, w->prior, sizeof(w->th));
    key = s_wl_key(model, dataset, self->hw[hw].name, gpu);
    zhashx_insert(self->wl_index, key, (void *)(intptr_t)(self->n_wls + 1));
    free(key);
    return (int)self->n_wls++;
}

/* --------------------------------------------------------------------------------------- */
/* Observations.                                                                           */

int
ad_planner_add_obs(ad_planner_t *self, const ad_planner_obs_t *obs, ad_err_t *err)
{
    const char *hwname = obs->hardware ? obs->hardware : "";
    s_lay_t lay;
    char *key;
    void *v;
    pl_cfg_t *c;
    int rc, wl, hw;

    assert(self && obs);
    if (!obs->model || !*obs->model || !obs->dataset || !*obs->dataset)
        return ad_err_set(err, AD_EINVAL, "observation: model and dataset are required");
    if (!(obs->samples_per_s > 0) || isinf(obs->samples_per_s))
        return ad_err_set(err, AD_EINVAL,
                          "%s on %s: samples_per_s must be a positive number, got %g", obs->model,
                          obs->dataset, obs->samples_per_s);
    if (obs->batch_size < 1)
        return ad_err_set(err, AD_EINVAL, "%s on %s: batch_size must be >= 1, got %" PRId64,
                          obs->model, obs->dataset, obs->batch_size);
    if (obs->params < 0 || obs->flops_per_sample < 0)
        return ad_err_set(err, AD_EINVAL, "%s on %s: params and FLOPs must not be negative",
                          obs->model, obs->dataset);
    rc = s_check_layout(&obs->layout, &lay, err);
    if (rc)
        return rc;
    hw = s_add_hw_name(self, hwname);
    s_note_info(self, obs->model, obs->dataset, obs->params, obs->flops_per_sample);
    wl = s_add_wl(self, obs->model, obs->dataset, hw, lay.gpu);
    key = s_cfg_key(wl, obs->batch_size, &lay);
    v = zhashx_lookup(self->cfg_index, key);
    if (v) {
        c = &self->cfgs[(intptr_t)v - 1];
        free(lay.place);
    } else {
        S_GROW(self->cfgs, self->n_cfgs, self->cap_cfgs);
        c = &self->cfgs[self->n_cfgs];
        memset(c, 0, sizeof(*c));
        c->wl = wl;
        c->batch = obs->batch_size;
        c->nodes = lay.nodes;
        c->ranks = lay.ranks;
        c->rmax = lay.rmax;
        c->threads = lay.threads;
        c->place = lay.place;
        c->active = true;
        zhashx_insert(self->cfg_index, key, (void *)(intptr_t)(self->n_cfgs + 1));
        self->n_cfgs++;
    }
    free(key);
    c->runs++;
    c->sum_log_sps += log(obs->samples_per_s);
    c->sum_sps += obs->samples_per_s;
    self->n_obs++;
    self->dirty = true;
    return 0;
}

size_t
ad_planner_n_configs(const ad_planner_t *self)
{
    return self->n_cfgs;
}

size_t
ad_planner_n_obs(const ad_planner_t *self)
{
    return self->n_obs;
}

/* --------------------------------------------------------------------------------------- */
/* Predictions.                                                                            */

int
ad_planner_fit(ad_planner_t *self, ad_err_t *err)
{
    assert(self);
    pl_fit_all(self);
    pl_fit_stats(self);
    self->dirty = false;
    ad_err_clear(err);
    return 0;
}

void
pl_cfg_feat(const ad_planner_t *self, const pl_cfg_t *c, pl_feat_t *f)
{
    const pl_wl_t *w = &self->wls[c->wl];
    const pl_group_t *g = &self->groups[w->group];

    f->m = (double)c->batch / c->ranks;
    f->t = c->threads;
    f->n = c->ranks;
    f->k = c->nodes;
    f->r = c->rmax;
    f->cores = self->hw[g->hw].cores;
    f->gpu = g->gpu;
}

static int
s_check_workload(const ad_planner_workload_t *w, bool need_hw, ad_err_t *err)
{
    if (!w || !w->model || !*w->model || !w->dataset || !*w->dataset)
        return ad_err_set(err, AD_EINVAL, "workload: model and dataset are required");
    if (w->batch_size < 1)
        return ad_err_set(err, AD_EINVAL, "%s on %s: batch_size must be >= 1, got %" PRId64,
                          w->model, w->dataset, w->batch_size);
    if (w->params < 0 || w->flops_per_sample < 0)
        return ad_err_set(err, AD_EINVAL, "%s on %s: params and FLOPs must not be negative",
                          w->model, w->dataset);
    if (need_hw && !w->hardware)
        return ad_err_set(err, AD_EINVAL, "%s on %s: a hardware class is required", w->model,
                          w->dataset);
    return 0;
}

static void
s_ensure_fit(ad_planner_t *self)
{
    if (self->dirty)
        ad_planner_fit(self, NULL);
}

static int
s_find_cfg(const ad_planner_t *self, int wl, int64_t batch, const s_lay_t *lay)
{
    char *key;
    void *v;

    if (wl < 0)
        return -1;
    key = s_cfg_key(wl, batch, lay);
    v = zhashx_lookup(self->cfg_index, key);
    free(key);
    return v ? (int)((intptr_t)v - 1) : -1;
}

/*
 * The core of a prediction, for a checked layout: fills out except the
 * baseline fields.  wl < 0 is a cold start on group g (or on a fresh group
 * of class hw when g < 0).
 */
static void
s_predict_lay(ad_planner_t *self, const pl_wl_t *w, const pl_group_t *g, int wl, int64_t batch,
              const s_lay_t *lay, ad_planner_pred_t *out)
{
    pl_feat_t f;
    double tc, tm, lsps, sigma;
    int fam = pl_family(lay->nodes, lay->ranks, lay->threads);
    int ci = s_find_cfg(self, wl, batch, lay);
    const pl_cfg_t *c = ci >= 0 && self->cfgs[ci].active ? &self->cfgs[ci] : NULL;
    int n = wl >= 0 ? w->n_cfg : 0;
    const pl_info_t *in = s_find_info(self, w->model, w->dataset);
    int64_t params = in ? in->params : 0;
    double cold = params > 0 && in->flops > 0 ? S_SIGMA_COLD : S_SIGMA_COLD_BLIND;

    f.m = (double)batch / lay->ranks;
    f.t = lay->threads;
    f.n = lay->ranks;
    f.k = lay->nodes;
    f.r = lay->rmax;
    f.cores = self->hw[g->hw].cores;
    f.gpu = g->gpu;
    lsps = pl_model_log_sps(g, w, &f, batch, &tc, &tm);
    memset(out, 0, sizeof(*out));
    out->extrapolated = n == 0;
    if (n > 0) {
        double ratio;

        lsps += pl_cell_corr(self, wl, lay->nodes, lay->ranks, lay->threads);
        sigma = w->sigma;
        ratio = (double)lay->ranks / w->max_ranks;
        if (ratio > 1) {
            sigma *= 1 + S_WIDEN * log2(ratio);
            out->extrapolated = true;
        }
        /* Never seen communicating: its gradient size and overlap are the priors'. */
        if (w->max_ranks == 1 && lay->ranks > 1)
            sigma = hypot(sigma, params > 0 ? S_SIGMA_COMM : S_SIGMA_COMM_BLIND);
        if (lay->nodes > w->max_nodes) {
            sigma *= 1.5;
            out->extrapolated = true;
        }
        ratio = (double)lay->threads / w->max_threads;
        if (ratio > 1) {
            sigma *= 1 + S_WIDEN * log2(ratio);
            out->extrapolated = true;
        }
        if (!(w->fams & (1u << fam)))
            sigma *= 1.3;
        /* Nothing is less known than a cold start. */
        sigma = fmin(sigma, cold);
        if (c) {
            /* Measured here: the model's residual spread, shrunk by the runs. */
            lsps += c->corr_here;
            sigma = sqrt(w->sigma_res * w->sigma_res / (1 + c->runs) + S_SIGMA_RUN * S_SIGMA_RUN);
            out->n_here = c->runs;
        }
        out->n_runs = w->n_runs;
    } else {
        sigma = cold;
    }
    out->samples_per_s = exp(lsps);
    out->low = exp(lsps - AD_PLANNER_Z * sigma);
    out->high = exp(lsps + AD_PLANNER_Z * sigma);
    out->step_time_s = (double)batch / out->samples_per_s;
    out->compute_s = tc;
    out->comm_s = tm;
    if (out->n_runs == 0)
        snprintf(out->basis, sizeof(out->basis), "cold start");
    else if (out->n_here > 0)
        snprintf(out->basis, sizeof(out->basis), "%d run%s, %d of this layout", out->n_runs,
                 out->n_runs == 1 ? "" : "s", out->n_here);
    else
        snprintf(out->basis, sizeof(out->basis), "%d run%s", out->n_runs,
                 out->n_runs == 1 ? "" : "s");
}

int
pl_find_base(const ad_planner_t *self, int wl, int64_t batch)
{
    int one = 1;
    s_lay_t base = {.nodes = 1, .ranks = 1, .rmax = 1, .threads = 1, .place = &one};

    return s_find_cfg(self, wl, batch, &base);
}

void
pl_predict_cfg(ad_planner_t *self, int ci, ad_planner_pred_t *out)
{
    const pl_cfg_t *c = &self->cfgs[ci];
    const pl_wl_t *w = &self->wls[c->wl];
    s_lay_t lay = {.gpu = self->groups[w->group].gpu,
                   .nodes = c->nodes,
                   .ranks = c->ranks,
                   .rmax = c->rmax,
                   .threads = c->threads,
                   .place = c->place};

    /* Without active configurations the workload's values are its priors (a cold start). */
    s_predict_lay(self, w, &self->groups[w->group], w->n_cfg > 0 ? c->wl : -1, c->batch, &lay, out);
}

/* Resolve workload, group and model of (w, device); tmp holds a cold workload or group. */
static int
s_resolve(ad_planner_t *self, const ad_planner_workload_t *wk, const char *hwname, bool gpu,
          pl_wl_t *tmp_w, pl_group_t *tmp_g, const pl_wl_t **w_out, const pl_group_t **g_out,
          int *wl_out, ad_err_t *err)
{
    int hw = s_find_hw(self, hwname);
    int wl, gi;

    if (hw < 0)
        return ad_err_set(err, AD_EINVAL, "hardware class %s: no profile and no runs",
                          *hwname ? hwname : "\"\"");
    /* Figures given with the query count for cold starts. */
    s_note_info(self, wk->model, wk->dataset, wk->params, wk->flops_per_sample);
    s_ensure_fit(self);
    wl = s_find_wl(self, wk->model, wk->dataset, hwname, gpu);
    if (wl >= 0 && self->wls[wl].n_cfg > 0) {
        *w_out = &self->wls[wl];
        *g_out = &self->groups[self->wls[wl].group];
        *wl_out = wl;
        return 0;
    }
    gi = s_find_group(self, hw, gpu);
    if (gi >= 0) {
        *g_out = &self->groups[gi];
    } else {
        memset(tmp_g, 0, sizeof(*tmp_g));
        tmp_g->hw = hw;
        tmp_g->gpu = gpu;
        pl_group_init_prior(self, tmp_g);
        memcpy(tmp_g->th, tmp_g->prior, sizeof(tmp_g->th));
        *g_out = tmp_g;
    }
    /* A cold workload: priors of its model on its class (names borrowed). */
    memset(tmp_w, 0, sizeof(*tmp_w));
    tmp_w->model = (char *)wk->model;
    tmp_w->dataset = (char *)wk->dataset;
    tmp_w->group = gi;
    pl_wl_init_prior(self, tmp_w, *g_out);
    memcpy(tmp_w->th, tmp_w->prior, sizeof(tmp_w->th));
    *w_out = tmp_w;
    *wl_out = -1;
    return 0;
}

static int
s_cores_used(const s_lay_t *lay)
{
    return lay->gpu ? lay->ranks : lay->ranks * lay->threads;
}

static int
s_predict_full(ad_planner_t *self, const ad_planner_workload_t *wk, const char *hwname,
               const s_lay_t *lay, ad_planner_pred_t *out, ad_err_t *err)
{
    pl_wl_t tmp_w;
    pl_group_t tmp_g;
    const pl_wl_t *w = NULL;
    const pl_group_t *g = NULL;
    int wl = -1, rc;
    int one = 1;
    s_lay_t base = {
        .gpu = lay->gpu, .nodes = 1, .ranks = 1, .rmax = 1, .threads = 1, .place = &one};
    ad_planner_pred_t bp;

    rc = s_resolve(self, wk, hwname, lay->gpu, &tmp_w, &tmp_g, &w, &g, &wl, err);
    if (rc)
        return rc;
    s_predict_lay(self, w, g, wl, wk->batch_size, lay, out);
    {
        int ci = s_find_cfg(self, wl, wk->batch_size, &base);

        if (ci >= 0 && self->cfgs[ci].active) {
            out->baseline_samples_per_s = self->cfgs[ci].sum_sps / self->cfgs[ci].runs;
            out->baseline_measured = true;
        } else {
            s_predict_lay(self, w, g, wl, wk->batch_size, &base, &bp);
            out->baseline_samples_per_s = bp.samples_per_s;
        }
    }
    out->speedup = out->samples_per_s / out->baseline_samples_per_s;
    out->efficiency = out->speedup / s_cores_used(lay);
    ad_err_clear(err);
    return 0;
}

int
ad_planner_predict(ad_planner_t *self, const ad_planner_workload_t *w, const ad_planner_layout_t *l,
                   ad_planner_pred_t *out, ad_err_t *err)
{
    s_lay_t lay;
    int rc;

    assert(self && out);
    memset(out, 0, sizeof(*out));
    rc = s_check_workload(w, true, err);
    if (rc)
        return rc;
    rc = s_check_layout(l, &lay, err);
    if (rc)
        return rc;
    rc = s_predict_full(self, w, w->hardware, &lay, out, err);
    free(lay.place);
    return rc;
}

/* --------------------------------------------------------------------------------------- */
/* Candidates.                                                                             */

/* Counts per node worth trying up to max: all up to 16, then divisors and powers of two. */
static int
s_counts(int max, int *vals)
{
    int n = 0;

    for (int v = 1; v <= max; v++) {
        bool pow2 = (v & (v - 1)) == 0;

        if (max <= 16 || max % v == 0 || pow2)
            vals[n++] = v;
    }
    return n;
}

typedef struct s_cands {
    ad_planner_cand_t *v;
    size_t n, cap;
} s_cands_t;

static int
s_add_cand(ad_planner_t *self, s_cands_t *cs, const ad_planner_workload_t *w, const char *hw,
           bool gpu, int nodes, int ppn, int tpp, ad_err_t *err)
{
    ad_planner_cand_t *c;
    int *place = ad_malloc((size_t)nodes * sizeof(int));
    s_lay_t lay = {.gpu = gpu,
                   .nodes = nodes,
                   .ranks = nodes * ppn,
                   .rmax = ppn,
                   .threads = tpp,
                   .place = place};
    int rc;

    for (int i = 0; i < nodes; i++)
        place[i] = ppn;
    S_GROW(cs->v, cs->n, cs->cap);
    c = &cs->v[cs->n];
    memset(c, 0, sizeof(*c));
    rc = s_predict_full(self, w, hw, &lay, &c->pred, err);
    free(place);
    if (rc)
        return rc;
    c->hardware = ad_strdup(hw);
    c->layout.nodes = nodes;
    c->layout.procs_per_node = ppn;
    c->layout.threads_per_proc = tpp;
    c->layout.device = s_dev_name[gpu];
    c->cores_used = s_cores_used(&lay);
    cs->n++;
    return 0;
}

static int
s_cmp_cand(const void *a, const void *b)
{
    const ad_planner_cand_t *x = a, *y = b;

    if (x->pred.samples_per_s != y->pred.samples_per_s)
        return x->pred.samples_per_s > y->pred.samples_per_s ? -1 : 1;
    if (x->cores_used != y->cores_used)
        return x->cores_used < y->cores_used ? -1 : 1;
    return (x->layout.nodes > y->layout.nodes) - (x->layout.nodes < y->layout.nodes);
}

static int64_t
s_params_of(const ad_planner_t *self, const ad_planner_workload_t *w)
{
    const pl_info_t *in;

    if (w->params > 0)
        return w->params;
    in = s_find_info(self, w->model, w->dataset);
    return in ? in->params : 0;
}

/* What one class's pass of ad_planner_rank() needs. */
typedef struct s_rank {
    ad_planner_t *self;
    const ad_planner_workload_t *w;
    const ad_planner_node_t *nodes;
    size_t n_nodes;
    int max_nodes; /* 0 = all */
    int64_t params;
    s_cands_t cs;
} s_rank_t;

static const char *
s_node_hw(const ad_planner_node_t *nd)
{
    return nd->hardware ? nd->hardware : "";
}

/* The CPU layouts of the class of nodes[i] (its first node): ppn x tpp per node, 1..avail nodes. */
static int
s_rank_cpu(s_rank_t *r, size_t i, int maxc, int *vals, ad_err_t *err)
{
    const char *hw = s_node_hw(&r->nodes[i]);
    int nv = s_counts(maxc, vals), rc;

    for (int a = 0; a < nv; a++) {
        for (int b = 0; b < nv; b++) {
            int ppn = vals[a], tpp = vals[b], avail = 0;

            if (ppn * tpp > maxc)
                continue;
            for (size_t j = i; j < r->n_nodes; j++) {
                const ad_planner_node_t *nd = &r->nodes[j];

                if (strcmp(s_node_hw(nd), hw) || nd->cores < ppn * tpp)
                    continue;
                if (nd->memory_bytes > 0 && r->params > 0 &&
                    (double)ppn * S_MEM_PER_PARAM * r->params > (double)nd->memory_bytes)
                    continue;
                avail++;
            }
            if (r->max_nodes > 0 && avail > r->max_nodes)
                avail = r->max_nodes;
            for (int k = 1; k <= avail; k++) {
                rc = s_add_cand(r->self, &r->cs, r->w, hw, false, k, ppn, tpp, err);
                if (rc)
                    return rc;
            }
        }
    }
    return 0;
}

/* The GPU layouts of the class of nodes[i]: ppn GPUs per node, 1..avail nodes. */
static int
s_rank_gpu(s_rank_t *r, size_t i, int maxg, ad_err_t *err)
{
    const char *hw = s_node_hw(&r->nodes[i]);
    int rc;

    for (int ppn = 1; ppn <= maxg; ppn++) {
        int avail = 0;

        for (size_t j = i; j < r->n_nodes; j++)
            if (!strcmp(s_node_hw(&r->nodes[j]), hw) && r->nodes[j].gpus >= ppn)
                avail++;
        if (r->max_nodes > 0 && avail > r->max_nodes)
            avail = r->max_nodes;
        for (int k = 1; k <= avail; k++) {
            rc = s_add_cand(r->self, &r->cs, r->w, hw, true, k, ppn, 1, err);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* One pass per class, at its first node i: the class's layouts.  *vals: scratch. */
static int
s_rank_class(s_rank_t *r, size_t i, bool want_cpu, bool want_gpu, int **vals, ad_err_t *err)
{
    const char *hw = s_node_hw(&r->nodes[i]);
    int maxc = 0, maxg = 0, rc;

    for (size_t j = 0; j < i; j++)
        if (!strcmp(s_node_hw(&r->nodes[j]), hw))
            return 0;
    for (size_t j = i; j < r->n_nodes; j++) {
        if (strcmp(s_node_hw(&r->nodes[j]), hw))
            continue;
        if (r->nodes[j].cores > maxc)
            maxc = r->nodes[j].cores;
        if (r->nodes[j].gpus > maxg)
            maxg = r->nodes[j].gpus;
    }
    if (s_find_hw(r->self, hw) < 0) {
        /* A live node without a profile in the planner: take what the node says. */
        ad_planner_hw_t h;

        ad_planner_hw_init(&h);
        h.name = hw;
        h.cores = maxc;
        h.gpus = maxg;
        if (!*hw)
            s_add_hw_name(r->self, hw);
        else if ((rc = ad_planner_add_hardware(r->self, &h, err)))
            return rc;
    }
    *vals = ad_realloc(*vals, (size_t)(maxc + maxg + 1) * sizeof(int));
    if (want_cpu && (rc = s_rank_cpu(r, i, maxc, *vals, err)))
        return rc;
    if (want_gpu && (rc = s_rank_gpu(r, i, maxg, err)))
        return rc;
    return 0;
}

int
ad_planner_rank(ad_planner_t *self, const ad_planner_workload_t *w, const ad_planner_node_t *nodes,
                size_t n_nodes, const ad_planner_rank_opts_t *opts, ad_planner_cand_t **out,
                size_t *n, ad_err_t *err)
{
    s_rank_t r = {.self = self, .w = w, .nodes = nodes, .n_nodes = n_nodes};
    bool want_cpu = true, want_gpu = true;
    int *vals = NULL;
    int rc;

    assert(self && out && n);
    *out = NULL;
    *n = 0;
    rc = s_check_workload(w, false, err);
    if (rc)
        return rc;
    if (!nodes || n_nodes == 0)
        return ad_err_set(err, AD_EINVAL, "no live node to plan on");
    if (opts && opts->device && strcmp(opts->device, "auto")) {
        if (!strcmp(opts->device, "cpu"))
            want_gpu = false;
        else if (!strcmp(opts->device, "gpu"))
            want_cpu = false;
        else
            return ad_err_set(err, AD_EINVAL, "device must be cpu, gpu or auto, got \"%s\"",
                              opts->device);
    }
    for (size_t i = 0; i < n_nodes; i++)
        if (nodes[i].cores < 1 || nodes[i].gpus < 0)
            return ad_err_set(err, AD_EINVAL, "node %zu: cores must be >= 1 and GPUs >= 0", i + 1);
    r.max_nodes = opts ? opts->max_nodes : 0;
    r.params = s_params_of(self, w);
    for (size_t i = 0; i < n_nodes; i++) {
        rc = s_rank_class(&r, i, want_cpu, want_gpu, &vals, err);
        if (rc) {
            free(vals);
            ad_planner_cands_free(&r.cs.v, r.cs.n);
            return rc;
        }
    }
    free(vals);
    if (r.cs.n == 0) {
        free(r.cs.v);
        return ad_err_set(err, AD_EINVAL, "%s on %s: no layout fits the nodes%s", w->model,
                          w->dataset, want_cpu ? "" : " (no GPU)");
    }
    qsort(r.cs.v, r.cs.n, sizeof(r.cs.v[0]), s_cmp_cand);
    *out = r.cs.v;
    *n = r.cs.n;
    return 0;
}

void
ad_planner_cands_free(ad_planner_cand_t **cands_p, size_t n)
{
    if (!cands_p || !*cands_p)
        return;
    for (size_t i = 0; i < n; i++)
        free((*cands_p)[i].hardware);
    free(*cands_p);
    *cands_p = NULL;
}

size_t
ad_planner_probes(const ad_planner_cand_t *cands, size_t n, size_t max_probes, size_t *idx)
{
    size_t k = 0;

    if (max_probes == 0)
        max_probes = 3;
    if (n < 2 || cands[1].pred.high < cands[0].pred.low)
        return 0;
    for (size_t i = 0; i < n && k < max_probes; i++)
        if (i == 0 || cands[i].pred.high >= cands[0].pred.low)
            idx[k++] = i;
    return k;
}
