/* ad_auto.c - `layout: auto` in the coordinator: decide (ad_choose.h), explain, probe jobs */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodist/ad_auto.h"

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
                     ad_choose_layout_str(l, lay, sizeof(lay)), "device",
                     l->device ? l->device : "cpu", "samples_per_s", s_num(p->samples_per_s), "low",
                     s_num(p->low), "high", s_num(p->high), "speedup", s_num(p->speedup),
                     "efficiency", s_num(p->efficiency), "basis", p->basis);
}

/* The explanation: {choice, candidates_total, probes, candidates (top 10), predicted}. */
static json_t *
s_explain(const ad_auto_choice_t *out, const ad_choose_t *ch)
{
    json_t *list = json_array(), *probes = json_array(), *doc;
    char lay[48];

    for (size_t i = 0; i < ch->n && i < 10; i++)
        json_array_append_new(list, s_cand_json(&ch->cands[i].layout, &ch->cands[i].pred));
    for (size_t i = 0; i < out->n_probes; i++)
        json_array_append_new(probes,
                              json_string(ad_choose_layout_str(&out->probes[i], lay, sizeof(lay))));
    doc = json_pack("{s:s s:I s:o s:o}", "choice",
                    out->probe ? "probing" : ad_choose_layout_str(&out->layout, lay, sizeof(lay)),
                    "candidates_total", (json_int_t)ch->n, "probes", probes, "candidates", list);
    if (!out->probe)
        json_object_set_new(doc, "predicted", s_cand_json(&out->layout, &out->pred));
    return doc;
}

int
ad_auto_decide(ad_store_t *store, const ad_job_t *job, const char *dataset,
               const ad_choose_node_t *nodes, size_t n_nodes, int max_probes, ad_auto_choice_t *out,
               ad_err_t *err)
{
    ad_planner_workload_t w = {.flops_per_sample = NAN};
    ad_choose_opts_t opts = {.max_probes = max_probes > 0 ? (size_t)max_probes : 0};
    ad_choose_t ch = {0};
    ad_planner_t *p;
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
    w.model = ad_job_model_name(job->model);
    w.dataset = dataset;
    w.batch_size = job->batch_size;
    opts.device = job->device == AD_JOB_DEVICE_GPU    ? "gpu"
                  : job->device == AD_JOB_DEVICE_AUTO ? "auto"
                                                      : "cpu";
    rc = ad_choose_layout(p, &w, nodes, n_nodes, &opts, &ch, err);
    if (rc)
        goto out;
    if (ch.n == 0) {
        rc = ad_err_set(err, AD_EINVAL, "no %s layout of %s fits the %zu UP node(s)", opts.device,
                        job->name, n_nodes);
        goto out;
    }
    /*
     * Measured beats predicted (ad_choose_pick()): an extrapolation with a wide
     * interval (other nodes, more ranks) must be clearly better to win over evidence.
     */
    out->n_candidates = ch.n;
    out->layout = ch.cands[ch.pick].layout;
    out->layout.placement = NULL;
    out->pred = ch.cands[ch.pick].pred;
    out->probe = ch.n_probes > 0;
    out->n_probes = ch.n_probes;
    for (size_t i = 0; i < ch.n_probes; i++) {
        out->probes[i] = ch.cands[ch.probes[i]].layout;
        out->probes[i].placement = NULL;
    }
    out->explain = s_explain(out, &ch);
    rc = 0;
out:
    ad_choose_clear(&ch);
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
