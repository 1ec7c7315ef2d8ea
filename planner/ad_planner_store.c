/* ad_planner_store.c - the planner fed from the store: COMPLETED runs and their classes' profiles
 */
#include "autodist/ad_planner.h"

#include "autodist/ad_log.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <czmq.h>

/* A positive finite figure, else 0 (unknown). */
static double
s_known(double x)
{
    return isfinite(x) && x > 0 ? x : 0;
}

typedef struct s_load {
    ad_planner_t *self;
    size_t added;
    size_t skipped;
    zlistx_t *classes; /* hardware names seen (owned strings) */
} s_load_t;

static void
s_note_class(zlistx_t *classes, const char *name)
{
    for (char *s = zlistx_first(classes); s; s = zlistx_next(classes))
        if (!strcmp(s, name))
            return;
    zlistx_add_end(classes, ad_strdup(name));
}

static int
s_load_run(const ad_run_t *run, void *arg)
{
    s_load_t *ld = arg;
    ad_planner_obs_t obs;
    ad_err_t err;

    ad_planner_obs_init(&obs);
    obs.model = run->model;
    obs.dataset = run->dataset;
    obs.hardware = run->hardware ? run->hardware : "";
    obs.layout.nodes = run->nodes;
    obs.layout.procs_per_node = run->procs_per_node;
    obs.layout.threads_per_proc = run->threads_per_proc;
    obs.layout.device = run->device;
    obs.batch_size = run->batch_size;
    obs.samples_per_s = run->samples_per_s;
    obs.step_time_s = run->step_time_s;
    obs.comm_time_s = run->comm_time_s;
    obs.params = run->params;
    if (ad_planner_add_obs(ld->self, &obs, &err)) {
        ad_log(AD_LOG_DEBUG, "planner: run %" PRId64 " skipped: %s", run->id, err.msg);
        ld->skipped++;
        return 0;
    }
    s_note_class(ld->classes, obs.hardware);
    ld->added++;
    return 0;
}

static void
s_free_str(void **item)
{
    free(*item);
    *item = NULL;
}

static int
s_load_profile(ad_planner_t *self, ad_store_t *store, const char *name, ad_err_t *err)
{
    ad_profile_row_t row;
    ad_planner_hw_t hw;
    int rc;

    memset(&row, 0, sizeof(row));
    rc = ad_store_find_profile(store, name, &row);
    if (rc == -ENOENT)
        return 0;
    if (rc)
        return ad_err_set(err, rc, "%s", ad_store_errmsg(store));
    ad_planner_hw_init(&hw);
    hw.name = name;
    hw.cores = row.cores > 0 ? row.cores : 0;
    hw.gpus = row.gpus > 0 ? row.gpus : 0;
    hw.memory_bytes = row.memory_bytes > 0 ? row.memory_bytes : 0;
    hw.gemm_gflops_1 = s_known(row.gemm_gflops_1);
    hw.gemm_gflops_all = s_known(row.gemm_gflops_all);
    hw.mem_bw_gbs = s_known(row.mem_bw_gbs);
    rc = ad_planner_add_hardware(self, &hw, err);
    ad_store_profile_row_clear(&row);
    return rc;
}

int
ad_planner_load_store(ad_planner_t *self, ad_store_t *store, const ad_run_filter_t *filter,
                      size_t *n_runs, ad_err_t *err)
{
    ad_run_filter_t f;
    s_load_t ld = {.self = self};
    ad_node_t *nodes = NULL;
    size_t n_nodes = 0;
    int rc;

    assert(self && store);
    if (filter)
        f = *filter;
    else
        memset(&f, 0, sizeof(f));
    f.states = AD_JOB_MASK(AD_JOB_COMPLETED);
    ld.classes = zlistx_new();
    if (!ld.classes)
        ad_oom(sizeof(void *));
    zlistx_set_destructor(ld.classes, s_free_str);
    rc = ad_store_each_run(store, &f, s_load_run, &ld);
    if (rc) {
        ad_err_set(err, rc, "%s", ad_store_errmsg(store));
        goto out_classes;
    }
    rc = ad_store_list_nodes(store, &nodes, &n_nodes);
    if (rc) {
        ad_err_set(err, rc, "%s", ad_store_errmsg(store));
        goto out_classes;
    }
    for (size_t i = 0; i < n_nodes; i++)
        if (nodes[i].hardware)
            s_note_class(ld.classes, nodes[i].hardware);
    for (char *s = zlistx_first(ld.classes); s; s = zlistx_next(ld.classes)) {
        rc = s_load_profile(self, store, s, err);
        if (rc)
            goto out_nodes;
    }
    if (ld.skipped)
        ad_log(AD_LOG_INFO, "planner: %zu runs of the store skipped (no usable throughput)",
               ld.skipped);
    if (n_runs)
        *n_runs = ld.added;
    rc = 0;
out_nodes:
    ad_store_nodes_free(&nodes, n_nodes);
out_classes:
    zlistx_destroy(&ld.classes);
    return rc;
}
