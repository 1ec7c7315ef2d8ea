/* ad_coord.c - the coordinator's store side (include/autodist/ad_coord.h) */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autodist/ad_coord.h"
#include "autodist/ad_proto.h"
#include "autodist/ad_store.h"

static int
s_fail(ad_store_t *store, ad_err_t *err, int rc)
{
    return ad_err_set(err, rc, "%s", ad_store_errmsg(store));
}

int
ad_coord_node_up(ad_store_t *store, const char *name, const json_t *profile, int64_t *id,
                 ad_err_t *err)
{
    ad_node_t node;
    ad_profile_row_t row;
    const char *fp = NULL, *model = NULL;
    int64_t v = 0;
    int rc;

    ad_store_node_init(&node);
    node.hostname = (char *)name;
    node.state = AD_NODE_UP;
    rc = ad_store_put_node(store, &node, id);
    if (rc)
        return s_fail(store, err, rc);
    ad_store_profile_row_init(&row);
    row.node = *id;
    ad_doc_json_get_string(profile, "fingerprint", 1, 4096, &fp, NULL);
    row.hardware = (char *)(fp ? fp : "unknown");
    if (!ad_doc_json_get_string(profile, "cpu.model", 0, 4096, &model, NULL))
        row.cpu_model = (char *)model;
    if (!ad_doc_json_get_int(profile, "cpu.cores", 0, INT32_MAX, &v, NULL))
        row.cores = (int)v;
    if (!ad_doc_json_get_int(profile, "cpu.sockets", 0, INT32_MAX, &v, NULL))
        row.sockets = (int)v;
    if (!ad_doc_json_get_int(profile, "cpu.pus", 0, INT32_MAX, &v, NULL))
        row.pus = (int)v;
    row.topology = json_dumps(profile, JSON_COMPACT);
    rc = ad_store_add_profile(store, &row, NULL);
    free(row.topology);
    return rc ? s_fail(store, err, rc) : 0;
}

int
ad_coord_node_seen(ad_store_t *store, const char *name, bool down, ad_err_t *err)
{
    ad_node_t node = {0};
    int rc;

    rc = ad_store_find_node(store, name, &node);
    if (!rc)
        rc = ad_store_set_node_state(store, node.id, down ? AD_NODE_DOWN : AD_NODE_UP, NAN);
    ad_store_node_clear(&node);
    return rc ? s_fail(store, err, rc) : 0;
}

int
ad_coord_job_add(ad_store_t *store, const char *name, const char *spec, int nodes, int ppn, int tpp,
                 int64_t *id, ad_err_t *err)
{
    ad_job_row_t row;
    int rc;

    ad_store_job_row_init(&row);
    row.name = (char *)name;
    row.spec = (char *)spec;
    row.nodes = nodes;
    row.procs_per_node = ppn;
    row.threads_per_proc = tpp;
    rc = ad_store_add_job(store, &row, id);
    return rc ? s_fail(store, err, rc) : 0;
}

int
ad_coord_job_set(ad_store_t *store, int64_t id, const char *state, const char *reason,
                 int exit_code, ad_err_t *err)
{
    ad_job_state_t st;
    int rc;

    if (ad_store_job_state_from_name(state, &st))
        return ad_err_set(err, AD_EINVAL, "unknown job state %s", state);
    rc = ad_store_set_job_state(store, id, st, reason,
                                exit_code == INT32_MIN ? AD_STORE_NO_EXIT : exit_code);
    return rc ? s_fail(store, err, rc) : 0;
}

int
ad_coord_job_place(ad_store_t *store, int64_t id, int nodes, int ppn, int tpp, const char *device,
                   const char *nodelist, ad_err_t *err)
{
    int rc = ad_store_set_job_layout(store, id, nodes, ppn, tpp, device, nodelist);

    return rc ? s_fail(store, err, rc) : 0;
}

int
ad_coord_job_proc(ad_store_t *store, int64_t id, pid_t pid, const char *identity, int64_t run,
                  ad_err_t *err)
{
    int rc = ad_store_set_job_proc(store, id, pid, identity, run);

    return rc ? s_fail(store, err, rc) : 0;
}

int
ad_coord_sweep_run(ad_store_t *store, int64_t id, const char *state, int max_parallel,
                   bool retry_failed, const char *owner, ad_err_t *err)
{
    int rc = ad_store_set_sweep_run(store, id, state, max_parallel, retry_failed, owner);

    return rc ? s_fail(store, err, rc) : 0;
}

static json_t *
s_num(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static json_t *
s_row_json(const ad_job_row_t *r)
{
    json_t *o = json_pack(
        "{s:I s:s s:s s:o s:o s:o s:o s:o s:i s:i s:i s:o}", "id", (json_int_t)r->id, "name",
        r->name ? r->name : "", "state", ad_store_job_state_name(r->state), "reason",
        r->reason ? json_string(r->reason) : json_null(), "submitted", s_num(r->submitted),
        "started", s_num(r->started), "ended", s_num(r->ended), "exit_code",
        r->exit_code == AD_STORE_NO_EXIT ? json_null() : json_integer(r->exit_code), "nodes",
        r->nodes, "procs_per_node", r->procs_per_node, "threads_per_proc", r->threads_per_proc,
        "nodelist", r->nodelist ? json_string(r->nodelist) : json_null());
    json_t *spec;

    if (!o)
        ad_oom(0);
    spec = r->spec ? json_loads(r->spec, 0, NULL) : NULL;
    json_object_set_new(o, "spec", spec ? spec : json_null());
    json_object_set_new(o, "sweep", r->sweep > 0 ? json_integer(r->sweep) : json_null());
    json_object_set_new(o, "config_hash",
                        r->config_hash ? json_string(r->config_hash) : json_null());
    json_object_set_new(o, "attempts", json_integer(r->attempts));
    return o;
}

json_t *
ad_coord_job_json(ad_store_t *store, int64_t id, const char **state_out, ad_err_t *err)
{
    ad_job_row_t row = {0};
    json_t *o;
    int rc;

    rc = ad_store_get_job(store, id, &row);
    if (rc == -ENOENT) {
        ad_err_set(err, -ENOENT, "no job %lld", (long long)id);
        return NULL;
    }
    if (rc) {
        s_fail(store, err, rc);
        return NULL;
    }
    if (state_out)
        *state_out = ad_store_job_state_name(row.state);
    o = s_row_json(&row);
    ad_store_job_row_clear(&row);
    return o;
}

json_t *
ad_coord_jobs_json(ad_store_t *store, const char *state, bool only_live, const char *name,
                   int64_t limit, ad_err_t *err)
{
    ad_job_row_t *rows = NULL;
    unsigned mask = 0;
    ad_job_state_t st;
    size_t n = 0;
    json_t *arr;
    int rc;

    if (state) {
        if (ad_store_job_state_from_name(state, &st)) {
            ad_err_set(err, AD_EINVAL, "unknown job state \"%s\"", state);
            return NULL;
        }
        mask = AD_JOB_MASK(st);
    } else if (only_live) {
        mask = AD_JOB_MASK(AD_JOB_PENDING) | AD_JOB_MASK(AD_JOB_RUNNING);
    }
    rc = ad_store_list_jobs(store, mask, &rows, &n);
    if (rc) {
        s_fail(store, err, rc);
        return NULL;
    }
    arr = json_array();
    for (size_t i = n; i-- > 0;) {
        if (name && (!rows[i].name || strcmp(rows[i].name, name)))
            continue;
        if (limit > 0 && (int64_t)json_array_size(arr) >= limit)
            break;
        json_array_append_new(arr, s_row_json(&rows[i]));
    }
    ad_store_job_rows_free(&rows, n);
    return arr;
}

bool
ad_coord_state_is_final(const char *state)
{
    ad_job_state_t st;

    return !ad_store_job_state_from_name(state, &st) && ad_store_job_state_is_final(st);
}

int
ad_coord_nodes_seen(ad_store_t *store, const char *const *names, size_t n, ad_err_t *err)
{
    int rc;

    if (n == 0)
        return 0;
    rc = ad_store_begin(store);
    if (rc)
        return s_fail(store, err, rc);
    for (size_t i = 0; i < n && !rc; i++) {
        ad_node_t node = {0};

        rc = ad_store_find_node(store, names[i], &node);
        if (!rc)
            rc = ad_store_set_node_state(store, node.id, node.state, NAN);
        else if (rc == -ENOENT)
            rc = 0;
        ad_store_node_clear(&node);
    }
    if (rc) {
        ad_err_set(err, rc, "%s", ad_store_errmsg(store));
        ad_store_rollback(store);
        return rc;
    }
    rc = ad_store_commit(store);
    return rc ? s_fail(store, err, rc) : 0;
}

int
ad_coord_run_start(ad_store_t *store, const ad_coord_run_t *r, int64_t *id, ad_err_t *err)
{
    ad_run_t run;
    int rc;

    ad_store_run_init(&run);
    run.job = r->job;
    run.model = (char *)r->model;
    run.dataset = (char *)r->dataset;
    run.hardware = (char *)r->hardware;
    run.device = (char *)r->device;
    run.nodes = r->nodes;
    run.procs_per_node = r->procs_per_node;
    run.threads_per_proc = r->threads_per_proc;
    run.batch_size = r->batch_size;
    run.config_hash = (char *)r->config_hash;
    run.sweep = r->sweep;
    run.probe = r->probe;
    run.kind = r->kind;
    run.state = AD_JOB_RUNNING;
    rc = ad_store_add_run(store, &run, id);
    /* The run carries its job's name, spec (hyper-parameters), note and tags (docs/store.md). */
    if (!rc && id && r->job > 0)
        rc = ad_store_run_adopt_job(store, *id, r->job);
    return rc ? s_fail(store, err, rc) : 0;
}

int
ad_coord_run_finish(ad_store_t *store, int64_t id, const ad_coord_result_t *r, ad_err_t *err)
{
    ad_run_result_t res;
    ad_job_state_t st;
    int rc;

    if (ad_store_job_state_from_name(r->state, &st))
        return ad_err_set(err, AD_EINVAL, "unknown job state %s", r->state);
    ad_store_run_result_init(&res, st);
    res.samples_per_s = r->samples_per_s;
    res.epoch_time_s = r->epoch_time_s;
    res.accuracy = r->accuracy;
    res.step_time_s = r->step_time_s;
    res.comm_time_s = r->comm_time_s;
    res.params = r->params;
    res.sps_sd = r->sps_sd;
    res.sps_steps = r->sps_steps;
    res.load_other = r->load_other;
    res.cpu_time_s = r->cpu_time_s;
    res.max_rss_bytes = r->max_rss_bytes;
    res.test_samples = r->test_samples;
    if (r->ended > 0)
        res.ended = r->ended;
    rc = ad_store_finish_run(store, id, &res);
    return rc ? s_fail(store, err, rc) : 0;
}

int
ad_coord_run_metrics(ad_store_t *store, int64_t id, const ad_coord_metric_t *m, size_t n,
                     ad_err_t *err)
{
    ad_metric_t *v;
    int rc;

    if (n == 0)
        return 0;
    v = ad_malloc(n * sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        v[i].step = m[i].step;
        v[i].key = m[i].key;
        v[i].value = m[i].value;
    }
    rc = ad_store_add_metrics(store, id, v, n);
    free(v);
    return rc ? s_fail(store, err, rc) : 0;
}

static int
s_keep_run(const ad_run_t *run, void *arg)
{
    json_t **out = arg;

    *out =
        json_pack("{s:I s:s s:o s:o s:o s:o s:o s:o s:o}", "run", (json_int_t)run->id, "state",
                  ad_store_job_state_name(run->state), "samples_per_s", s_num(run->samples_per_s),
                  "speedup", s_num(run->speedup), "baseline",
                  run->baseline > 0 ? json_integer(run->baseline) : json_null(), "accuracy",
                  s_num(run->accuracy), "epoch_time_s", s_num(run->epoch_time_s), "step_time_s",
                  s_num(run->step_time_s), "wall_s",
                  !isnan(run->started) && !isnan(run->ended) ? json_real(run->ended - run->started)
                                                             : json_null());
    if (!*out)
        ad_oom(0);
    /* Issue 11 (docs/speedup.md): the throughput's spread, the interval, flags, resources. */
    json_object_set_new(*out, "sps_sd", s_num(run->sps_sd));
    json_object_set_new(*out, "sps_steps",
                        run->sps_steps > 0 ? json_integer(run->sps_steps) : json_null());
    json_object_set_new(*out, "speedup_lo", s_num(run->speedup_lo));
    json_object_set_new(*out, "speedup_hi", s_num(run->speedup_hi));
    json_object_set_new(*out, "flags", ad_coord_flags_json(run->flags));
    json_object_set_new(*out, "probe", json_boolean(run->probe));
    json_object_set_new(*out, "load_other", s_num(run->load_other));
    json_object_set_new(*out, "cpu_time_s", s_num(run->cpu_time_s));
    json_object_set_new(*out, "max_rss_bytes",
                        run->max_rss_bytes > 0 ? json_integer(run->max_rss_bytes) : json_null());
    return 1;
}

json_t *
ad_coord_flags_json(const char *flags)
{
    json_t *arr = json_array();

    for (const char *p = flags; p && *p;) {
        size_t len = strcspn(p, ",");

        json_array_append_new(arr, json_stringn(p, len));
        p += len;
        if (*p == ',')
            p++;
    }
    return arr;
}

json_t *
ad_coord_job_result(ad_store_t *store, int64_t job)
{
    ad_run_filter_t f = {0};
    json_t *out = NULL;

    f.job = job;
    f.limit = 1;
    f.newest_first = true;
    if (ad_store_each_run(store, &f, s_keep_run, &out) < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---- sweeps ---------------------------------------------------------------------------- */

int
ad_coord_sweep_add(ad_store_t *store, const char *name, const char *file_hash, const char *spec,
                   int64_t *id, bool *created, ad_err_t *err)
{
    ad_sweep_row_t row = {0};
    int rc;

    row.name = (char *)name;
    row.file_hash = (char *)file_hash;
    row.spec = (char *)spec;
    rc = ad_store_add_sweep(store, &row, id, created);
    return rc ? s_fail(store, err, rc) : 0;
}

json_t *
ad_coord_sweep_versions(ad_store_t *store, const char *name, ad_err_t *err)
{
    ad_sweep_row_t *rows = NULL;
    size_t n = 0;
    json_t *arr;
    int rc;

    rc = ad_store_find_sweeps(store, name, &rows, &n);
    if (rc) {
        s_fail(store, err, rc);
        return NULL;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr,
                              json_pack("{s:I s:s s:o s:s?}", "id", (json_int_t)rows[i].id,
                                        "file_hash", rows[i].file_hash ? rows[i].file_hash : "",
                                        "created", s_num(rows[i].created), "owner", rows[i].owner));
    ad_store_sweep_rows_free(&rows, n);
    return arr;
}

int64_t
ad_coord_job_sweep(ad_store_t *store, int64_t id)
{
    ad_job_row_t row = {0};
    int64_t sweep = 0;

    if (ad_store_get_job(store, id, &row) == 0)
        sweep = row.sweep;
    ad_store_job_row_clear(&row);
    return sweep;
}

char *
ad_coord_sweep_spec(ad_store_t *store, int64_t id, ad_err_t *err)
{
    ad_sweep_row_t row = {0};
    char *spec;
    int rc;

    rc = ad_store_get_sweep(store, id, &row);
    if (rc) {
        s_fail(store, err, rc);
        return NULL;
    }
    spec = row.spec;
    row.spec = NULL;
    ad_store_sweep_row_clear(&row);
    if (!spec)
        ad_err_set(err, -ENOENT, "sweep %lld has no spec in the store", (long long)id);
    return spec;
}

/* What ad_coord_sweep_jobs() passes through ad_store_each_sweep_job(). */
typedef struct {
    ad_coord_sweep_job_fn fn;
    void *arg;
} s_sweep_walk_t;

static int
s_sweep_job(const ad_job_row_t *row, void *arg)
{
    s_sweep_walk_t *w = arg;
    ad_coord_sweep_job_t job;

    job.id = row->id;
    job.config_hash = row->config_hash;
    job.state = ad_store_job_state_name(row->state);
    job.started = row->started;
    job.ended = row->ended;
    return w->fn(&job, w->arg);
}

int
ad_coord_sweep_jobs(ad_store_t *store, int64_t sweep, ad_coord_sweep_job_fn fn, void *arg,
                    ad_err_t *err)
{
    s_sweep_walk_t w = {fn, arg};
    int rc = ad_store_each_sweep_job(store, sweep, s_sweep_job, &w);

    return rc < 0 ? s_fail(store, err, rc) : rc;
}

int
ad_coord_sweep_job_add(ad_store_t *store, const char *name, const char *spec, int nodes, int ppn,
                       int tpp, int64_t sweep, const char *config_hash, int64_t *id, ad_err_t *err)
{
    ad_job_row_t row;
    int rc;

    ad_store_job_row_init(&row);
    row.name = (char *)name;
    row.spec = (char *)spec;
    row.nodes = nodes;
    row.procs_per_node = ppn;
    row.threads_per_proc = tpp;
    row.sweep = sweep;
    row.config_hash = (char *)config_hash;
    rc = ad_store_add_job(store, &row, id);
    return rc ? s_fail(store, err, rc) : 0;
}
