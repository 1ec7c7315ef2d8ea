/* ad_choose.c - the choice of a layout: rank, keep within one machine, probes, pick (ad_choose.h)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodist/ad_choose.h"

/*
 * What the trainer's start event reports for the zoo's models on their usual
 * data, so a workload nobody ran yet still gets a cold-start prediction from
 * the benchmarks (the store has no FLOPs column).  Runs in the store give
 * params for everything else.
 */
static const struct {
    const char *model;   /* zoo name */
    const char *dataset; /* dataset label */
    int64_t params;      /* parameters */
    double flops;        /* forward FLOPs per sample */
} s_zoo[] = {
    {"cnn", "fashion-mnist", 421642, 8482304.0},
};

bool
ad_choose_zoo(ad_planner_t *planner, ad_planner_workload_t *w)
{
    for (size_t i = 0; i < sizeof(s_zoo) / sizeof(s_zoo[0]); i++) {
        if (strcmp(s_zoo[i].model, w->model) || strcmp(s_zoo[i].dataset, w->dataset))
            continue;
        w->params = s_zoo[i].params;
        w->flops_per_sample = s_zoo[i].flops;
        if (planner)
            ad_planner_set_model_info(planner, w->model, w->dataset, w->params, w->flops_per_sample,
                                      NULL);
        return true;
    }
    return false;
}

bool
ad_choose_is_loopback(const char *address)
{
    return address && (!strncmp(address, "127.", 4) || !strcmp(address, "localhost"));
}

char *
ad_choose_layout_str(const ad_planner_layout_t *l, char *buf, size_t cap)
{
    snprintf(buf, cap, "%dx%dx%d", l->nodes, l->procs_per_node, l->threads_per_proc);
    return buf;
}

size_t
ad_choose_keep_within(ad_planner_cand_t *cands, size_t n, int machine_cores)
{
    size_t kept = 0;

    for (size_t i = 0; i < n; i++) {
        if (cands[i].cores_used <= machine_cores)
            cands[kept++] = cands[i];
        else
            free(cands[i].hardware);
    }
    return kept;
}

size_t
ad_choose_pick(const ad_planner_cand_t *cands, size_t n)
{
    if (n == 0 || cands[0].pred.n_here > 0)
        return 0;
    for (size_t i = 1; i < n; i++)
        if (cands[i].pred.n_here > 0)
            return cands[0].pred.low < cands[i].pred.samples_per_s ? i : 0;
    return 0;
}

/* True when every node is a simulated node of this machine; *cores: the machine's. */
static bool
s_shared_machine(const ad_choose_node_t *nodes, size_t n, int *cores)
{
    *cores = 0;
    for (size_t i = 0; i < n; i++) {
        if (!nodes[i].this_machine)
            return false;
        if (nodes[i].cores > *cores)
            *cores = nodes[i].cores;
    }
    return n > 1;
}

/* The nodes as the planner takes them (owned by the caller); their classes added to it. */
static ad_planner_node_t *
s_planner_nodes(ad_planner_t *planner, const ad_choose_node_t *nodes, size_t n)
{
    ad_planner_node_t *pn = ad_calloc(n ? n : 1, sizeof(*pn));

    for (size_t i = 0; i < n; i++) {
        ad_planner_hw_t hw;
        ad_err_t ignore = {0};

        ad_planner_hw_init(&hw);
        hw.name = nodes[i].hardware ? nodes[i].hardware : "";
        hw.cores = nodes[i].cores;
        hw.gpus = nodes[i].gpus;
        hw.memory_bytes = nodes[i].memory_bytes;
        hw.gemm_gflops_1 = nodes[i].gemm_gflops_1;
        hw.gemm_gflops_all = nodes[i].gemm_gflops_all;
        hw.mem_bw_gbs = nodes[i].mem_bw_gbs;
        /*
         * A node's own benchmark figures (a live profile) describe its class; a node
         * without any leaves the class the store described as it is, and a class
         * nobody described is added by ad_planner_rank() from the nodes' cores.
         */
        if (isfinite(hw.gemm_gflops_1) || isfinite(hw.gemm_gflops_all) || isfinite(hw.mem_bw_gbs))
            ad_planner_add_hardware(planner, &hw, &ignore);
        pn[i].hardware = hw.name;
        pn[i].cores = nodes[i].cores > 0 ? nodes[i].cores : 1;
        pn[i].gpus = nodes[i].gpus;
        pn[i].memory_bytes = nodes[i].memory_bytes;
    }
    return pn;
}

int
ad_choose_layout(ad_planner_t *planner, ad_planner_workload_t *w, const ad_choose_node_t *nodes,
                 size_t n_nodes, const ad_choose_opts_t *opts, ad_choose_t *out, ad_err_t *err)
{
    ad_planner_rank_opts_t ro = {.device = opts->device, .max_nodes = opts->max_nodes};
    ad_planner_node_t *pn;
    size_t max_probes = opts->max_probes;
    int machine_cores, rc;

    memset(out, 0, sizeof(*out));
    ad_choose_zoo(planner, w);
    pn = s_planner_nodes(planner, nodes, n_nodes);
    rc = ad_planner_rank(planner, w, pn, n_nodes, &ro, &out->cands, &out->n, err);
    free(pn);
    if (rc)
        return rc;
    if (s_shared_machine(nodes, n_nodes, &machine_cores))
        out->n = ad_choose_keep_within(out->cands, out->n, machine_cores);
    if (out->n == 0)
        return 0;
    if (max_probes > AD_CHOOSE_MAX_PROBES)
        max_probes = AD_CHOOSE_MAX_PROBES;
    if (max_probes > 0)
        out->n_probes = ad_planner_probes(out->cands, out->n, max_probes, out->probes);
    out->pick = ad_choose_pick(out->cands, out->n);
    return 0;
}

void
ad_choose_clear(ad_choose_t *c)
{
    ad_planner_cands_free(&c->cands, c->n);
    memset(c, 0, sizeof(*c));
}
