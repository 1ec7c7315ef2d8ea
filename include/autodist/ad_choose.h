/* ad_choose.h - the choice of a layout: rank on the nodes, keep within one machine, probes, pick */
#ifndef AD_CHOOSE_H
#define AD_CHOOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autodist/ad_error.h"
#include "autodist/ad_planner.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The one pipeline behind `layout: auto` in the coordinator (daemon/ad_auto.c)
 * and `autodist plan JOB.yaml` (cli/ad_cli_plan.c), docs/planner.md:
 *   1. the model zoo's figures (parameters, FLOPs per sample) for a cold start;
 *   2. the benchmark figures nodes bring (live profiles) into the planner;
 *   3. rank every layout that fits the nodes (ad_planner_rank());
 *   4. nodes simulated on one machine share its cores: keep the layouts within them;
 *   5. the probes: the best and the layouts whose interval reaches its low end;
 *   6. the pick: measured beats predicted (ad_choose_pick()).
 */

/* Most probes of one choice. */
#define AD_CHOOSE_MAX_PROBES 3

/* A node a layout may use. */
typedef struct ad_choose_node {
    const char *hardware; /* hardware class (profile fingerprint); NULL = "" */
    int cores;            /* physical cores; < 1 counts as 1 */
    int gpus;             /* GPUs */
    int64_t memory_bytes; /* 0 = unknown */
    double gemm_gflops_1; /* benchmark figures; NaN = none (the planner's or defaults) */
    double gemm_gflops_all;
    double mem_bw_gbs;
    bool this_machine; /* a simulated node of this machine (loopback): when every node
                          is one, they share its cores, and layouts using more cores
                          in all than one of them has are left out */
} ad_choose_node_t;

/* What to choose among. */
typedef struct ad_choose_opts {
    const char *device; /* "cpu", "gpu", or NULL/"auto" = both where GPUs exist */
    int max_nodes;      /* at most this many nodes; 0 = all that fit */
    size_t max_probes;  /* 0 = never probe; at most AD_CHOOSE_MAX_PROBES */
} ad_choose_opts_t;

/* A choice. */
typedef struct ad_choose {
    ad_planner_cand_t *cands;            /* ranked, best first; owned */
    size_t n;                            /* candidates that fit (0: none) */
    size_t pick;                         /* index of the layout to take (n > 0) */
    size_t probes[AD_CHOOSE_MAX_PROBES]; /* indexes of the layouts to probe first */
    size_t n_probes;                     /* 0: no probe needed (or asked) */
} ad_choose_t;

/*
 * Fill the workload's parameters and FLOPs per sample from the model zoo
 * when it knows (model, dataset) (the figures autodist-train's start event
 * reports), and tell the planner (may be NULL).  Returns true when it knew.
 */
bool ad_choose_zoo(ad_planner_t *planner, ad_planner_workload_t *w);

/*
 * Choose a layout of workload w (model, dataset, batch_size; its zoo
 * figures are filled in) on the given nodes with planner (loaded from the
 * store, or empty for a cold start; the nodes' classes and figures are
 * added to it).  Returns 0 with *out filled (clear it with
 * ad_choose_clear()); out->n is 0 when no layout fits within one machine's
 * cores.  Returns AD_EINVAL (no node, no layout fits, bad workload or
 * device) with err set and *out empty.
 */
int ad_choose_layout(ad_planner_t *planner, ad_planner_workload_t *w, const ad_choose_node_t *nodes,
                     size_t n_nodes, const ad_choose_opts_t *opts, ad_choose_t *out, ad_err_t *err);

/* Free what a choice owns; idempotent. */
void ad_choose_clear(ad_choose_t *c);

/*
 * Leave out of a ranking (best first, compacted in place) the layouts that
 * use more than machine_cores cores in all: nodes simulated on one machine
 * share its cores.  Returns the new count.
 */
size_t ad_choose_keep_within(ad_planner_cand_t *cands, size_t n, int machine_cores);

/*
 * The index of the layout to take in a ranking: the best, unless it has no
 * run of its own (n_here == 0) and the low end of its interval does not
 * clear the samples/s of the best layout that has ("measured beats
 * predicted"): then that one.
 */
size_t ad_choose_pick(const ad_planner_cand_t *cands, size_t n);

/* True for an address of this machine's loopback (127.x.x.x, localhost): a simulated node. */
bool ad_choose_is_loopback(const char *address);

/* "2x1x4" (nodes x procs x threads) into buf; returns buf. */
char *ad_choose_layout_str(const ad_planner_layout_t *l, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
