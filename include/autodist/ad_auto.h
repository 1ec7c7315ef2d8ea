/* ad_auto.h - `layout: auto`: the coordinator's choice of a layout, with optional probes */
#ifndef AD_AUTO_H
#define AD_AUTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "autodist/ad_choose.h"
#include "autodist/ad_error.h"
#include "autodist/ad_job.h"
#include "autodist/ad_planner.h"
#include "autodist/ad_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What the coordinator does with a job whose layout is `auto` (docs/planner.md):
 * rank every layout that fits the UP nodes with the planner fitted on the
 * store's runs, then either take the best or, when the top candidates'
 * intervals overlap the best's, first run short probes of them (at most
 * AD_AUTO_MAX_PROBES) and decide again once their runs are in the store.
 * The choice itself is the planner's (ad_choose.h, shared with `autodist
 * plan`); this module feeds it the job and the store, explains the decision
 * and makes the probe jobs, which the daemon runs as ordinary jobs.
 */

/* Most probes of one job, and the default steps of a probe. */
#define AD_AUTO_MAX_PROBES AD_CHOOSE_MAX_PROBES
#define AD_AUTO_PROBE_STEPS 40

/* The decision. */
typedef struct ad_auto_choice {
    bool probe;                 /* true: run the probes first, decide after */
    ad_planner_layout_t layout; /* the chosen layout when !probe (device: static) */
    ad_planner_pred_t pred;     /* its prediction */
    size_t n_probes;            /* probe: how many */
    ad_planner_layout_t probes[AD_AUTO_MAX_PROBES]; /* probe: their layouts */
    size_t n_candidates;                            /* layouts that fit */
    json_t *explain; /* {choice, probes, candidates: top 10 ...}; owned */
} ad_auto_choice_t;

/*
 * Decide for job (its layout is auto) on the given UP nodes, with the
 * store's COMPLETED runs (store may be NULL: cold start).  dataset is the
 * run label of the job's data (fashion-mnist, synthetic-3x32x32, ...).
 * max_probes 0 never probes.  Returns 0 with *out filled (clear it with
 * ad_auto_choice_clear()), -EAGAIN when no node is given, AD_EINVAL when no
 * layout fits them (err says why), or another negative code.
 */
int ad_auto_decide(ad_store_t *store, const ad_job_t *job, const char *dataset,
                   const ad_choose_node_t *nodes, size_t n_nodes, int max_probes,
                   ad_auto_choice_t *out, ad_err_t *err);

/* Free what a choice owns; idempotent. */
void ad_auto_choice_clear(ad_auto_choice_t *c);

/*
 * The probe of job on layout: the same training for steps global steps, no
 * evaluation or periodic checkpoint, named "<name>-probe-NxPxT" (cut to fit
 * AD_JOB_NAME_MAX).  Fills out (owned by the caller, ad_job_clear()).
 */
void ad_auto_probe_job(const ad_job_t *job, const ad_planner_layout_t *layout, int64_t steps,
                       ad_job_t *out);

#ifdef __cplusplus
}
#endif

#endif
