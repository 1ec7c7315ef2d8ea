/* ad_auto.c - `layout: auto`: rank, probe, choose (include/autodist/ad_auto.h) */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodist/ad_auto.h"

/*
 * What the trainer's start event reports for the zoo's models on their usual
 * data, so a workload nobody ran yet still gets a cold-start prediction from
 * the benchmarks (parameters; forward FLOPs per sample).  Runs in the store
 * give params for everything else.
 */
static const struct {
    const char *model, *dataset;
    int64_t params;
    double flops;
} s_zoo[] = {
    {"cnn", "fashion-mnist", 421642, 8482304.0},
};

bool
ad_auto_is_loopback(const char *address)
{
    return address && (!strncmp(address, "127.", 4) || !strcmp(address, "localhost"));
}

char *
ad_auto_layout_str(const ad_planner_layout_t *l, char *buf, size_t cap)
{
    snprintf(buf, cap, "%dx%dx%d", l->nodes, l->procs_per_node, l->threads_per_proc);
    return buf;
}

static json_t *
s_num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *
s_cand_json(const ad_planner_layout_t *l, const ad_planner_pred_t *p)
{
    char lay[48];

    return json_pack("{s:s s:s s:o s:o s:o s:o s:o s:s}", "layout",
                     ad_auto_layout_str(l, lay, sizeof(lay)), "device",
                     l->device ? l->device : "cpu", "samples_per_s", s_num(p->samples_per_s),
                     "low", s_num(p->low), "high", s_num(p->high), "speedup", s_num(p->speedup),
                     "efficiency", s_num(p->efficiency), "basis", p->basis);
}

/* True when every node is a simulated node of this machine; *cores: the machine's. */
static bool
s_shared_machine(const ad_auto_node_t *nodes, size_t n, int *cores)
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

size_t
ad_auto_keep_within(ad_planner_cand_t *cands, size_t n, int machine_cores)
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
ad_auto_pick(const ad_planner_cand_t *cands, size_t n)
{
    if (n == 0 || cands[0].pred.n_here > 0)
        return 0;
    for (size_t i = 1; i < n; i++)
        if (cands[i].pred.n_here > 0)
            return cands[0].pred.low < cands[i].pred.samples_per_s ? i : 0;
    return 0;
}

int
ad_auto_decide(ad_store_t *store, const ad_job_t *job, const char *dataset,
               const ad_auto_node_t *nodes, size_t n_nodes, int max_probes,
               ad_auto_choice_t *out, ad_err_t *err)
{
    ad_planner_node_t *pn = NULL;
    ad_planner_workload_t w = {0};
    ad_planner_rank_opts_t opts = {0};
    ad_planner_cand_t *cands = NULL;
    ad_planner_t *p;
    size_t n = 0, idx[AD_AUTO_MAX_PROBES], k = 0, best;
    int machine_cores = 0;
    json_t *list;
    char lay[48];
    int rc;

    memset(out, 0, sizeof(*out));
    if (n_nodes == 0)
        return ad_err_set(err, -EAGAIN, "no node is UP to plan on");
    p = ad_planner_new();
    if (store) {
        rc = ad_planner_load_store(p, store, NULL, NULL, err);
        if (rc)
            goto out;
    }
    pn = calloc(n_nodes, sizeof(*pn));
    if (!pn)
        ad_oom(n_nodes * sizeof(*pn));
    for (size_t i = 0; i < n_nodes; i++) {
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
        /* A class the store already described keeps its figures; a new one is added. */
        ad_planner_add_hardware(p, &hw, &ignore);
        pn[i].hardware = hw.name;
        pn[i].cores = nodes[i].cores > 0 ? nodes[i].cores : 1;
        pn[i].gpus = nodes[i].gpus;
        pn[i].memory_bytes = nodes[i].memory_bytes;
    }
    w.model = ad_job_model_name(job->model);
    w.dataset = dataset;
    w.batch_size = job->batch_size;
    w.flops_per_sample = NAN;
    for (size_t i = 0; i < sizeof(s_zoo) / sizeof(s_zoo[0]); i++)
        if (!strcmp(s_zoo[i].model, w.model) && !strcmp(s_zoo[i].dataset, dataset)) {
            w.params = s_zoo[i].params;
            w.flops_per_sample = s_zoo[i].flops;
            ad_planner_set_model_info(p, w.model, dataset, w.params, w.flops_per_sample, NULL);
        }
    opts.device = job->device == AD_JOB_DEVICE_GPU   ? "gpu"
                  : job->device == AD_JOB_DEVICE_AUTO ? "auto"
                                                      : "cpu";
    rc = ad_planner_rank(p, &w, pn, n_nodes, &opts, &cands, &n, err);
    if (rc)
        goto out;
    if (s_shared_machine(nodes, n_nodes, &machine_cores))
        n = ad_auto_keep_within(cands, n, machine_cores);
    if (n == 0) {
        rc = ad_err_set(err, AD_EINVAL, "no %s layout of %s fits the %zu UP node(s)",
                        opts.device, job->name, n_nodes);
        goto out;
    }
    if (max_probes > 0)
        k = ad_planner_probes(cands, n, (size_t)(max_probes > AD_AUTO_MAX_PROBES
                                                     ? AD_AUTO_MAX_PROBES
                                                     : max_probes),
                              idx);
    /*
     * Measured beats predicted: when the top candidate was never run and its
     * interval's low end does not clear the best layout that was (n_here > 0:
     * its prediction rests on its own runs, probes included), take that one.
     * An extrapolation with a wide interval (other nodes, more ranks) must be
     * clearly better to win over evidence.
     */
    best = ad_auto_pick(cands, n);
    out->n_candidates = n;
    out->layout = cands[best].layout;
    out->layout.placement = NULL;
    out->pred = cands[best].pred;
    out->probe = k > 0;
    out->n_probes = k;
    for (size_t i = 0; i < k; i++) {
        out->probes[i] = cands[idx[i]].layout;
        out->probes[i].placement = NULL;
    }
    list = json_array();
    for (size_t i = 0; i < n && i < 10; i++)
        json_array_append_new(list, s_cand_json(&cands[i].layout, &cands[i].pred));
    out->explain = json_pack("{s:s s:I s:o s:o}", "choice",
                             out->probe ? "probing" : ad_auto_layout_str(&out->layout, lay,
                                                                         sizeof(lay)),
                             "candidates_total", (json_int_t)n, "probes", json_array(),
                             "candidates", list);
    for (size_t i = 0; i < k; i++)
        json_array_append_new(json_object_get(out->explain, "probes"),
                              json_string(ad_auto_layout_str(&out->probes[i], lay, sizeof(lay))));
    if (!out->probe)
        json_object_set_new(out->explain, "predicted", s_cand_json(&out->layout, &out->pred));
    rc = 0;
out:
    ad_planner_cands_free(&cands, n);
    free(pn);
    ad_planner_free(&p);
    return rc;
}

void
ad_auto_choice_clear(ad_auto_choice_t *c)
{
    json_decref(c->explain);
    memset(c, 0, sizeof(*c));
}

void
ad_auto_probe_job(const ad_job_t *job, const ad_planner_layout_t *layout, int64_t steps,
                  ad_job_t *out)
{
    char suffix[64], name[AD_JOB_NAME_MAX + 1];
    size_t keep;

    ad_job_copy(out, job);
    snprintf(suffix, sizeof(suffix), "-probe-%dx%dx%d", layout->nodes, layout->procs_per_node,
             layout->threads_per_proc);
    keep = strlen(job->name);
    if (keep + strlen(suffix) > AD_JOB_NAME_MAX)
        keep = AD_JOB_NAME_MAX - strlen(suffix);
    snprintf(name, sizeof(name), "%.*s%s", (int)keep, job->name, suffix);
    free(out->name);
    out->name = ad_strdup(name);
    out->epochs = 0;
    out->steps = steps;
    out->eval = false;
    out->checkpoint_every = 0;
    out->layout.is_auto = false;
    out->layout.nodes = layout->nodes;
    out->layout.procs_per_node = layout->procs_per_node;
    out->layout.threads_per_proc = layout->threads_per_proc;
    if (layout->device && !strcmp(layout->device, "gpu"))
        out->device = AD_JOB_DEVICE_GPU;
    else
        out->device = AD_JOB_DEVICE_CPU;
}
