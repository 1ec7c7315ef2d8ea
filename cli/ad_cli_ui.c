/* ad_cli_ui.c - autodist ui: the dashboard's page and its read-only JSON API (docs/ui.md) */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ad_cli.h"
#include "ad_cli_runs.h"
#include "autodist/ad_http.h"
#include "autodist/ad_version.h"

/* How long one request to the coordinator may take while a page waits. */
#define S_COORD_MS 1500
/* After the coordinator did not answer, read the store only for this long. */
#define S_COORD_BACKOFF_S 5.0
/* Most rows /api/runs answers (?limit= lowers it). */
#define S_RUNS_MAX 1000
/* Most samples per metric /api/jobs/ID answers: longer series are thinned evenly. */
#define S_METRIC_MAX 2000
/* The metrics /api/jobs/ID answers without ?keys=: what the page draws. */
#define S_METRIC_KEYS "loss,samples_per_s"

/* What the handlers share; the coordinator is asked by one thread at a time. */
typedef struct ui {
    ad_cli_t *cli;        /* home and endpoint resolved before serving: read-only after */
    pthread_mutex_t lock; /* guards what follows */
    double down_until;    /* the coordinator did not answer: the store only until then */
    char last_error[512]; /* why the coordinator did not answer; "" when it did */
    char web[PATH_MAX];   /* the page's folder */
} ui_t;

/* ---- sources: the coordinator when it answers, else the store -------------------------------- */

/* The coordinator's answer to type (payload stolen), or NULL when it did not answer or refused. */
static json_t *
s_coord(ui_t *ui, const char *type, json_t *payload, int *rc_out)
{
    ad_err_t err = {0};
    json_t *reply = NULL;
    int rc;

    pthread_mutex_lock(&ui->lock);
    if (ad_clock_now() < ui->down_until) {
        pthread_mutex_unlock(&ui->lock);
        json_decref(payload);
        if (rc_out)
            *rc_out = -ETIMEDOUT;
        return NULL;
    }
    rc = ad_cli_request(ui->cli, type, payload, S_COORD_MS, &reply, &err);
    /* An ERROR answer (no such job) is an answer; silence or a refused handshake is not. */
    if (rc == -ETIMEDOUT || rc == -EACCES || rc == AD_EINVAL) {
        ui->down_until = ad_clock_now() + S_COORD_BACKOFF_S;
        snprintf(ui->last_error, sizeof(ui->last_error), "%s", err.msg);
    } else {
        ui->last_error[0] = '\0';
    }
    pthread_mutex_unlock(&ui->lock);
    if (rc_out)
        *rc_out = rc;
    return rc ? NULL : reply;
}

/* The store, read-only, or NULL (none yet, or it cannot be opened). */
static ad_store_t *
s_store(ui_t *ui)
{
    ad_store_t *store = NULL;
    const char *db;

    if (ad_cli_open_store(ui->cli, &store, &db) != 0)
        return NULL;
    return store;
}

/* {"source": source} with key set to value (stolen). */
static json_t *
s_answer(const char *source, const char *key, json_t *value)
{
    json_t *o = json_pack("{s:s}", "source", source);

    json_object_set_new(o, key, value ? value : json_array());
    return o;
}

/* A job row as the coordinator's JOBS and STATUS describe one (the fields the page reads). */
static json_t *
s_job_row_json(const ad_job_row_t *r)
{
    json_t *o = json_pack(
        "{s:I s:s s:s s:o s:o s:o s:o s:o s:i s:i s:i s:o s:o s:I}", "id", (json_int_t)r->id,
        "name", r->name ? r->name : "", "state", ad_store_job_state_name(r->state), "reason",
        r->reason ? json_string(r->reason) : json_null(), "submitted",
        ad_cli_json_num(r->submitted), "started", ad_cli_json_num(r->started), "ended",
        ad_cli_json_num(r->ended), "exit_code",
        r->exit_code == AD_STORE_NO_EXIT ? json_null() : json_integer(r->exit_code), "nodes",
        r->nodes, "procs_per_node", r->procs_per_node, "threads_per_proc", r->threads_per_proc,
        "nodelist", r->nodelist ? json_string(r->nodelist) : json_null(), "sweep",
        r->sweep > 0 ? json_integer(r->sweep) : json_null(), "run", (json_int_t)r->run);
    json_t *spec = r->spec ? json_loads(r->spec, 0, NULL) : NULL;

    if (!o)
        ad_oom(0);
    json_object_set_new(o, "spec", spec ? spec : json_null());
    return o;
}

/* The store's jobs in the states of mask (0: all), newest first, at most limit (0: all). */
static json_t *
s_store_jobs(ad_store_t *store, unsigned mask, size_t limit)
{
    ad_job_row_t *rows = NULL;
    json_t *arr = json_array();
    size_t n = 0;

    if (store && ad_store_list_jobs(store, mask, &rows, &n) == 0)
        for (size_t i = n; i-- > 0 && (!limit || json_array_size(arr) < limit);)
            json_array_append_new(arr, s_job_row_json(&rows[i]));
    ad_store_job_rows_free(&rows, n);
    return arr;
}

/* ---- handlers -------------------------------------------------------------------------------- */

/* GET /api/info: version, home, where the answers come from. */
static int
s_api_info(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    ui_t *ui = arg;
    json_t *reply = s_coord(ui, "NODES", NULL, NULL);
    json_t *o;

    pthread_mutex_lock(&ui->lock);
    o = json_pack("{s:s s:s s:s s:b s:s}", "version", AD_VERSION, "home",
                  ad_cli_home(ui->cli)->root, "coordinator", ad_cli_endpoint(ui->cli), "reachable",
                  reply != NULL, "error", ui->last_error);
    pthread_mutex_unlock(&ui->lock);
    json_decref(reply);
    ad_http_res_json(res, 200, o);
    return 0;
}

/* GET /api/nodes: the coordinator's nodes with their load, else the store's. */
static int
s_api_nodes(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    json_t *reply = s_coord(arg, "NODES", NULL, NULL), *arr;
    ad_node_t *rows = NULL;
    ad_store_t *store;
    size_t n = 0;

    if (reply) {
        ui_t *ui = arg;
        json_t *node;
        size_t i;

        /* Nodes that joined since the labels were read name their class too. */
        pthread_mutex_lock(&ui->lock);
        json_array_foreach(json_object_get(reply, "nodes"), i, node)
            ad_cli_hw_add_node(ui->cli, json_string_value(json_object_get(node, "name")),
                               json_string_value(json_object_get(node, "fingerprint")));
        pthread_mutex_unlock(&ui->lock);
        ad_http_res_json(
            res, 200,
            s_answer("coordinator", "nodes", json_incref(json_object_get(reply, "nodes"))));
        json_decref(reply);
        return 0;
    }
    store = s_store(arg);
    arr = json_array();
    if (store && ad_store_list_nodes(store, &rows, &n) == 0)
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                arr,
                json_pack("{s:I s:s s:s s:s s:o s:o s:o}", "id", (json_int_t)rows[i].id, "name",
                          rows[i].hostname, "hostname", rows[i].hostname, "state",
                          ad_store_node_state_name(rows[i].state), "hardware",
                          rows[i].hardware ? json_string(rows[i].hardware) : json_null(), "address",
                          rows[i].address ? json_string(rows[i].address) : json_null(), "last_seen",
                          ad_cli_json_num(rows[i].last_seen)));
    ad_store_nodes_free(&rows, n);
    ad_store_close(&store);
    ad_http_res_json(res, 200, s_answer("store", "nodes", arr));
    return 0;
}

static int s_api_job(const ad_http_req_t *req, ad_http_res_t *res, void *arg);
static json_t *s_run_json(ui_t *ui, const ad_run_t *run);

/* GET /api/jobs: the queue and the running jobs; ?all=1 also the latest finished ones. */
static int
s_api_jobs(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    const char *all = ad_http_req_query(req, "all");
    bool with_done = all && strcmp(all, "0") != 0;
    unsigned live = AD_JOB_MASK(AD_JOB_PENDING) | AD_JOB_MASK(AD_JOB_RUNNING);
    json_t *reply;
    ad_store_t *store;

    if (*ad_http_req_rest(req)) /* /api/jobs/ID */
        return s_api_job(req, res, arg);
    reply = s_coord(arg, with_done ? "JOBS" : "STATUS",
                    with_done ? json_pack("{s:{s:i}}", "filter", "limit", 100) : NULL, NULL);

    if (reply) {
        ad_http_res_json(
            res, 200, s_answer("coordinator", "jobs", json_incref(json_object_get(reply, "jobs"))));
        json_decref(reply);
        return 0;
    }
    store = s_store(arg);
    ad_http_res_json(res, 200,
                     s_answer("store", "jobs", s_store_jobs(store, with_done ? 0 : live, 100)));
    ad_store_close(&store);
    return 0;
}

/* ad_store_each_metric() callback: [step, value] into the array of the metric's key. */
static int
s_metric_cb(int64_t run, const ad_metric_t *m, void *arg)
{
    json_t *series = arg, *arr = json_object_get(series, m->key);

    if (!arr) {
        arr = json_array();
        json_object_set_new(series, m->key, arr);
    }
    json_array_append_new(arr, json_pack("[I o]", (json_int_t)m->step, ad_cli_json_num(m->value)));
    return 0;
}

/* Thin each series of over S_METRIC_MAX samples to every k-th one, keeping the last. */
static void
s_metrics_thin(json_t *series)
{
    const char *key;
    json_t *arr;

    json_object_foreach(series, key, arr)
    {
        size_t n = json_array_size(arr), k = (n + S_METRIC_MAX - 1) / S_METRIC_MAX;
        json_t *thin;

        if (n <= S_METRIC_MAX)
            continue;
        thin = json_array();
        for (size_t i = 0; i < n; i += k)
            json_array_append(thin, json_array_get(arr, i));
        if ((n - 1) % k)
            json_array_append(thin, json_array_get(arr, n - 1));
        json_object_set_new(series, key, thin);
    }
}

/* The metrics of run that keys names ("a,b"; "all": every one) into series. */
static void
s_metrics_read(ad_store_t *store, int64_t run, const char *keys, json_t *series)
{
    char buf[256], *save = NULL;

    if (!strcmp(keys, "all")) {
        ad_store_each_metric(store, run, NULL, s_metric_cb, series);
    } else {
        snprintf(buf, sizeof(buf), "%s", keys);
        for (char *k = strtok_r(buf, ",", &save); k; k = strtok_r(NULL, ",", &save))
            ad_store_each_metric(store, run, k, s_metric_cb, series);
    }
    s_metrics_thin(series);
}

/* The job id at the end of the path ("/7"), or 0 with a 400/404 answered. */
static int64_t
s_path_job(const ad_http_req_t *req, ad_http_res_t *res, const char *text)
{
    char *end;
    long long id;

    while (*text == '/')
        text++;
    errno = 0;
    id = strtoll(text, &end, 10);
    if (!*text || *end || errno || id < 1) {
        ad_http_res_error(res, 400, "%s: \"%s\" is not a job id (an integer >= 1)",
                          ad_http_req_path(req), text);
        return 0;
    }
    return id;
}

/*
 * GET /api/jobs/ID[?keys=loss,comm_s|all]: the job (live state when the
 * coordinator answers), its run and its metrics (loss and samples_per_s by default).
 */
static int
s_api_job(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    int64_t id = s_path_job(req, res, ad_http_req_rest(req));
    json_t *reply, *job = NULL, *series = json_object(), *o;
    ad_job_row_t row = {0};
    ad_run_t run = {0};
    ad_store_t *store;
    bool have_row, have_run = false;
    int rc = 0;

    if (!id) {
        json_decref(series);
        return 0;
    }
    reply = s_coord(arg, "STATUS", json_pack("{s:I}", "job", (json_int_t)id), &rc);
    job = json_incref(json_array_get(json_object_get(reply, "jobs"), 0));
    json_decref(reply);
    store = s_store(arg);
    have_row = store && ad_store_get_job(store, id, &row) == 0;
    if (!job && have_row)
        job = s_job_row_json(&row);
    if (!job) {
        ad_store_close(&store);
        json_decref(series);
        ad_http_res_error(res, 404, "no job %lld", (long long)id);
        return 0;
    }
    if (have_row && row.run > 0) {
        json_object_set_new(job, "run", json_integer(row.run));
        have_run = ad_store_get_run(store, row.run, &run) == 0;
        s_metrics_read(store, row.run,
                       ad_http_req_query(req, "keys") ? ad_http_req_query(req, "keys")
                                                      : S_METRIC_KEYS,
                       series);
    }
    o = json_pack("{s:s s:o s:o s:o}", "source", rc == 0 ? "coordinator" : "store", "job", job,
                  "run", have_run ? s_run_json(arg, &run) : json_null(), "metrics", series);
    ad_store_run_clear(&run);
    ad_store_job_row_clear(&row);
    ad_store_close(&store);
    ad_http_res_json(res, 200, o);
    return 0;
}

/* "NxPxT" into the filter's layout; false when it is not one. */
static bool
s_parse_layout(const char *text, ad_run_filter_t *f)
{
    char tail;

    return sscanf(text, "%dx%dx%d%c", &f->nodes, &f->procs_per_node, &f->threads_per_proc, &tail) ==
               3 &&
           f->nodes > 0 && f->procs_per_node > 0 && f->threads_per_proc > 0;
}

/* The filter of /api/runs and /api/speedup from the query; false after answering 400. */
static bool
s_run_filter(const ad_http_req_t *req, ad_http_res_t *res, ad_run_filter_t *f)
{
    const char *layout = ad_http_req_query(req, "layout");
    const char *state = ad_http_req_query(req, "state");
    const char *limit = ad_http_req_query(req, "limit");
    const char *batch = ad_http_req_query(req, "batch");
    ad_job_state_t st;

    memset(f, 0, sizeof(*f));
    f->model = ad_http_req_query(req, "model");
    f->dataset = ad_http_req_query(req, "dataset");
    f->hardware = ad_http_req_query(req, "hardware");
    f->device = ad_http_req_query(req, "device");
    f->limit = S_RUNS_MAX;
    f->newest_first = true;
    if (layout && *layout && !s_parse_layout(layout, f)) {
        ad_http_res_error(res, 400, "layout \"%s\": want NODESxPROCSxTHREADS, e.g. 1x2x1", layout);
        return false;
    }
    if (state && *state) {
        if (ad_store_job_state_from_name(state, &st)) {
            ad_http_res_error(res, 400, "state \"%s\": not a job state (COMPLETED, FAILED, ...)",
                              state);
            return false;
        }
        f->states = AD_JOB_MASK(st);
    }
    if (limit && *limit) {
        f->limit = strtoll(limit, NULL, 10);
        if (f->limit < 1 || f->limit > S_RUNS_MAX) {
            ad_http_res_error(res, 400, "limit \"%s\": want 1..%d", limit, S_RUNS_MAX);
            return false;
        }
    }
    if (batch && *batch && (f->batch_size = strtoll(batch, NULL, 10)) < 1) {
        ad_http_res_error(res, 400, "batch \"%s\": want an integer >= 1", batch);
        return false;
    }
    /* An empty field of the page's form means any. */
    const char **strs[] = {&f->model, &f->dataset, &f->hardware, &f->device};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (*strs[i] && !**strs[i])
            *strs[i] = NULL;
    return true;
}

/* A run as /api/runs and /api/jobs/ID answer it: `runs --json`'s and its class's readable name. */
static json_t *
s_run_json(ui_t *ui, const ad_run_t *run)
{
    json_t *o = ad_cli_run_json(run);
    char label[128];

    pthread_mutex_lock(&ui->lock); /* the labels' cache is the cli's */
    ad_cli_hw_label(ui->cli, run->hardware, label, sizeof(label));
    pthread_mutex_unlock(&ui->lock);
    json_object_set_new(o, "hardware_label", json_string(label));
    return o;
}

/* ad_store_each_run() callback of /api/runs: arg = {ui, array}. */
static int
s_run_cb(const ad_run_t *run, void *arg)
{
    void **ctx = arg;

    json_array_append_new(ctx[1], s_run_json(ctx[0], run));
    return 0;
}

/* GET /api/runs?model=&dataset=&layout=&state=&limit=: runs, newest first (the store). */
static int
s_api_runs(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    ad_run_filter_t f;
    ad_store_t *store;
    json_t *arr;

    if (!s_run_filter(req, res, &f))
        return 0;
    store = s_store(arg);
    arr = json_array();
    if (store && ad_store_each_run(store, &f, s_run_cb, (void *[]){arg, arr}) == AD_EDB) {
        ad_http_res_error(res, 500, "%s", ad_store_errmsg(store));
        json_decref(arr);
    } else {
        ad_http_res_json(res, 200, s_answer("store", "runs", arr));
    }
    ad_store_close(&store);
    return 0;
}

/* What the callbacks of /api/speedup and /api/baselines share. */
typedef struct speedup_ctx {
    ui_t *ui;
    ad_store_t *store;
    json_t *arr;      /* the rows */
    json_t *machines; /* hardware class -> {"label", "cores"}: each class read once */
} speedup_ctx_t;

/* The class's entry of ctx->machines: its readable name and cores per node (null: unknown). */
static json_t *
s_machine(speedup_ctx_t *ctx, const char *hardware)
{
    const char *fp = hardware ? hardware : "";
    json_t *m = json_object_get(ctx->machines, fp);
    ad_profile_row_t prof = {0};
    char label[128];

    if (m)
        return m;
    pthread_mutex_lock(&ctx->ui->lock); /* the labels' cache is the cli's */
    ad_cli_hw_label(ctx->ui->cli, fp, label, sizeof(label));
    pthread_mutex_unlock(&ctx->ui->lock);
    m = json_pack("{s:s s:o}", "label", label, "cores", json_null());
    if (*fp && ad_store_find_profile(ctx->store, fp, &prof) == 0 && prof.cores > 0)
        json_object_set_new(m, "cores", json_integer(prof.cores));
    ad_store_profile_row_clear(&prof);
    json_object_set_new(ctx->machines, fp, m);
    return m;
}

/*
 * One layout group as /api/speedup answers it, with the names of `autodist
 * speedup --json`: workers = the cores efficiency divides by (GPUs on gpu),
 * cores = nodes x procs x threads, ranks = nodes x procs, the mean speedup's
 * interval and the group's flags (docs/speedup.md), and its machine's cores per node.
 */
static json_t *
s_speedup_json(speedup_ctx_t *ctx, const ad_speedup_row_t *r)
{
    json_t *o = json_object(), *m = s_machine(ctx, r->hardware);
    /* What ad_cli_group_flags() reads, so that the flags are `autodist speedup`'s. */
    ad_cli_group_t g = {.device = (char *)(r->device ? r->device : "cpu"),
                        .nodes = r->nodes,
                        .ppn = r->procs_per_node,
                        .tpp = r->threads_per_proc,
                        .runs = r->runs,
                        .sps = r->samples_per_s,
                        .sd = r->samples_sd,
                        .efficiency = r->efficiency,
                        .run_flags = (char *)r->run_flags};
    char flags[96];

    json_object_set_new(o, "model", json_string(r->model));
    json_object_set_new(o, "dataset", json_string(r->dataset));
    json_object_set_new(o, "hardware", json_string(r->hardware ? r->hardware : ""));
    json_object_set_new(o, "hardware_label", json_incref(json_object_get(m, "label")));
    json_object_set_new(o, "node_cores", json_incref(json_object_get(m, "cores")));
    json_object_set_new(o, "device", json_string(g.device));
    json_object_set_new(o, "batch_size", json_integer(r->batch_size));
    json_object_set_new(o, "nodes", json_integer(r->nodes));
    json_object_set_new(o, "procs_per_node", json_integer(r->procs_per_node));
    json_object_set_new(o, "threads_per_proc", json_integer(r->threads_per_proc));
    json_object_set_new(o, "workers",
                        json_integer(ad_cli_runs_cores(g.device, g.nodes, g.ppn, g.tpp)));
    json_object_set_new(o, "cores", json_integer((json_int_t)g.nodes * g.ppn * g.tpp));
    json_object_set_new(o, "ranks", json_integer((json_int_t)g.nodes * g.ppn));
    json_object_set_new(o, "runs", json_integer(r->runs));
    json_object_set_new(o, "samples_per_s", ad_cli_json_num(r->samples_per_s));
    json_object_set_new(o, "samples_sd", ad_cli_json_num(r->samples_sd));
    json_object_set_new(o, "speedup", ad_cli_json_num(r->speedup));
    json_object_set_new(o, "speedup_lo", ad_cli_json_num(r->speedup_lo));
    json_object_set_new(o, "speedup_hi", ad_cli_json_num(r->speedup_hi));
    json_object_set_new(o, "efficiency", ad_cli_json_num(r->efficiency));
    json_object_set_new(o, "baseline_runs", json_integer(r->baseline_n));
    json_object_set_new(o, "flags",
                        ad_cli_flags_json(ad_cli_group_flags(&g, flags, sizeof(flags))));
    return o;
}

static int
s_speedup_cb(const ad_speedup_row_t *row, void *arg)
{
    speedup_ctx_t *ctx = arg;

    json_array_append_new(ctx->arr, s_speedup_json(ctx, row));
    return 0;
}

static int
s_baseline_cb(const ad_baseline_t *b, void *arg)
{
    speedup_ctx_t *ctx = arg;
    json_t *m = s_machine(ctx, b->hardware), *runs = json_loads(b->runs ? b->runs : "", 0, NULL);

    if (!json_is_array(runs)) {
        json_decref(runs);
        runs = json_array();
    }
    json_array_append_new(
        ctx->arr,
        json_pack("{s:s s:O s:s s:s s:I s:s s:o s:o s:o s:I s:b s:o}", "hardware",
                  b->hardware ? b->hardware : "", "hardware_label", json_object_get(m, "label"),
                  "model", b->model ? b->model : "", "dataset", b->dataset ? b->dataset : "",
                  "batch_size", (json_int_t)b->batch_size, "device", b->device ? b->device : "cpu",
                  "samples_per_s", ad_cli_json_num(b->sps), "samples_sd",
                  ad_cli_json_num(b->sps_sd), "runs", runs, "n", (json_int_t)b->n, "pinned",
                  b->pinned, "updated", ad_cli_json_num(b->updated)));
    return 0;
}

/*
 * GET /api/speedup?model=&dataset=&hardware=&device=&batch= (rows: layout
 * groups) and GET /api/baselines?... (baselines): the store's, with
 * "machines": each hardware class's readable name and cores per node.
 */
static int
s_api_groups(const ad_http_req_t *req, ad_http_res_t *res, void *arg, bool baselines)
{
    speedup_ctx_t ctx = {.ui = arg, .arr = json_array(), .machines = json_object()};
    ad_run_filter_t f;
    int rc = 0;

    if (!s_run_filter(req, res, &f)) {
        json_decref(ctx.arr);
        json_decref(ctx.machines);
        return 0;
    }
    f.newest_first = false;
    ctx.store = s_store(arg);
    if (ctx.store)
        rc = baselines ? ad_store_each_baseline(ctx.store, &f, s_baseline_cb, &ctx)
                       : ad_store_each_speedup(ctx.store, &f, s_speedup_cb, &ctx);
    if (rc == AD_EDB) {
        ad_http_res_error(res, 500, "%s", ad_store_errmsg(ctx.store));
        json_decref(ctx.arr);
        json_decref(ctx.machines);
    } else {
        json_t *o = s_answer("store", baselines ? "baselines" : "rows", ctx.arr);

        json_object_set_new(o, "machines", ctx.machines);
        ad_http_res_json(res, 200, o);
    }
    ad_store_close(&ctx.store);
    return 0;
}

/* GET /api/speedup: layout groups with their interval, flags and machine. */
static int
s_api_speedup(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    return s_api_groups(req, res, arg, false);
}

/* GET /api/baselines: each class's 1x1x1 baseline (mean of repeats, or pinned). */
static int
s_api_baselines(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    return s_api_groups(req, res, arg, true);
}

/* GET /api/plan?job=ID: the planner's ranking of a layout: auto job, or the fixed layout. */
static int
s_api_plan(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    const char *text = ad_http_req_query(req, "job");
    int64_t id = s_path_job(req, res, text ? text : "");
    json_t *reply, *job, *spec, *layout, *o;
    char lay[64];
    int rc;

    if (!id)
        return 0;
    reply = s_coord(arg, "STATUS", json_pack("{s:I}", "job", (json_int_t)id), &rc);
    job = json_array_get(json_object_get(reply, "jobs"), 0);
    if (!job) {
        ad_store_t *store = s_store(arg);
        ad_job_row_t row = {0};

        if (store && ad_store_get_job(store, id, &row) == 0) {
            json_decref(reply);
            reply = json_pack("{s:[o]}", "jobs", s_job_row_json(&row));
            job = json_array_get(json_object_get(reply, "jobs"), 0);
        }
        ad_store_job_row_clear(&row);
        ad_store_close(&store);
    }
    if (!job) {
        json_decref(reply);
        ad_http_res_error(res, 404, "no job %lld", (long long)id);
        return 0;
    }
    spec = json_object_get(job, "spec");
    layout = json_object_get(spec, "layout");
    o = json_pack("{s:I s:s s:s s:b s:s s:O}", "job", (json_int_t)id, "name",
                  ad_cli_jstr(job, "name") ? ad_cli_jstr(job, "name") : "", "state",
                  ad_cli_jstr(job, "state") ? ad_cli_jstr(job, "state") : "", "auto",
                  json_is_string(layout) && !strcmp(json_string_value(layout), "auto"), "layout",
                  ad_cli_job_layout(job, lay, sizeof(lay)), "plan",
                  json_object_get(job, "plan") ? json_object_get(job, "plan") : json_null());
    json_object_set_new(o, "source", json_string(rc == 0 ? "coordinator" : "store"));
    json_object_set_new(o, "reason", json_incref(json_object_get(job, "reason")));
    json_decref(reply);
    ad_http_res_json(res, 200, o);
    return 0;
}

/* A sweep's jobs counted by state, from the store's job rows. */
typedef struct sweep_count {
    int64_t id;                             /* the sweep */
    int64_t by_state[AD_JOB_NODE_FAIL + 1]; /* jobs in each state */
    int64_t total;                          /* all its jobs */
} sweep_count_t;

/* The sweeps the store's jobs name, with their counts: a new array of *n (the caller frees). */
static sweep_count_t *
s_sweep_counts(ad_store_t *store, size_t *n)
{
    ad_job_row_t *rows = NULL;
    sweep_count_t *out = NULL;
    size_t n_rows = 0, k;

    *n = 0;
    if (!store || ad_store_list_jobs(store, 0, &rows, &n_rows) != 0)
        return NULL;
    for (size_t i = 0; i < n_rows; i++) {
        if (rows[i].sweep <= 0)
            continue;
        for (k = 0; k < *n && out[k].id != rows[i].sweep; k++)
            ;
        if (k == *n) {
            out = ad_realloc(out, (*n + 1) * sizeof(*out));
            memset(&out[k], 0, sizeof(*out));
            out[k].id = rows[i].sweep;
            (*n)++;
        }
        if ((int)rows[i].state >= 0 && rows[i].state <= AD_JOB_NODE_FAIL)
            out[k].by_state[rows[i].state]++;
        out[k].total++;
    }
    ad_store_job_rows_free(&rows, n_rows);
    return out;
}

/* One sweep as the store knows it, with the counts SWEEPS would give; NULL without a row. */
static json_t *
s_store_sweep(ad_store_t *store, const sweep_count_t *c)
{
    const int64_t *st = c->by_state;
    ad_sweep_row_t row = {0};
    json_t *o;

    if (ad_store_get_sweep(store, c->id, &row) != 0)
        return NULL;
    o = json_pack("{s:I s:s s:s s:I s:I s:I s:I s:I s:I s:s}", "id", (json_int_t)c->id, "name",
                  row.name ? row.name : "", "state", row.state ? row.state : "UNKNOWN", "total",
                  (json_int_t)c->total, "completed", (json_int_t)st[AD_JOB_COMPLETED], "failed",
                  (json_int_t)(st[AD_JOB_FAILED] + st[AD_JOB_TIMEOUT] + st[AD_JOB_NODE_FAIL]),
                  "cancelled", (json_int_t)st[AD_JOB_CANCELLED], "running",
                  (json_int_t)st[AD_JOB_RUNNING], "pending", (json_int_t)st[AD_JOB_PENDING],
                  "source", "store");
    ad_store_sweep_row_clear(&row);
    return o;
}

/* The sweep of id in arr, or NULL. */
static json_t *
s_sweep_find(json_t *arr, int64_t id)
{
    json_t *s;
    size_t i;

    json_array_foreach(arr, i, s) if (ad_cli_jint(s, "id", 0) == id) return s;
    return NULL;
}

/* GET /api/sweeps and /api/sweeps/NAME-or-ID: sweeps and their progress. */
static int
s_api_sweeps(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    const char *rest = ad_http_req_rest(req), *name, *source;
    json_t *reply = s_coord(arg, "SWEEPS", NULL, NULL), *held, *out = json_array(), *s;
    ad_store_t *store = s_store(arg);
    sweep_count_t *counts;
    size_t n, i;
    char id[24];

    held = json_object_get(reply, "sweeps");
    source = held ? "coordinator" : "store";
    counts = s_sweep_counts(store, &n);
    /* The coordinator's richer object for the sweeps it holds, the store's for the others. */
    json_array_foreach(held, i, s) json_array_append(out, s);
    for (i = 0; i < n; i++)
        if (!s_sweep_find(out, counts[i].id) && (s = s_store_sweep(store, &counts[i])))
            json_array_append_new(out, s);
    free(counts);
    json_decref(reply);
    ad_store_close(&store);
    while (*rest == '/')
        rest++;
    if (!*rest) {
        ad_http_res_json(res, 200, s_answer(source, "sweeps", out));
        return 0;
    }
    json_array_foreach(out, i, s)
    {
        name = ad_cli_jstr(s, "name");
        snprintf(id, sizeof(id), "%lld", (long long)ad_cli_jint(s, "id", 0));
        if ((name && !strcmp(name, rest)) || !strcmp(id, rest)) {
            ad_http_res_json(res, 200, json_pack("{s:O}", "sweep", s));
            json_decref(out);
            return 0;
        }
    }
    json_decref(out);
    ad_http_res_error(res, 404, "no sweep %s", rest);
    return 0;
}

/* ---- the command ----------------------------------------------------------------------------- */

/* The page's folder: AUTODIST_WEB_DIR, next to the binary's prefix, else the source tree. */
static int
s_find_web(char *out, size_t size)
{
    const char *env = getenv("AUTODIST_WEB_DIR");
    char exe[PATH_MAX - 128], probe[PATH_MAX + 32];
    ssize_t n;
    struct stat sb;

    if (env && *env) {
        snprintf(out, size, "%s", env);
        snprintf(probe, sizeof(probe), "%s/index.html", out);
        if (stat(probe, &sb) != 0)
            return ad_cli_fail(AD_CLI_EXIT_ERROR, "ui: AUTODIST_WEB_DIR=%s has no index.html", env);
        return 0;
    }
    exe[0] = '\0';
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        char *slash;

        exe[n] = '\0';
        slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        snprintf(probe, sizeof(probe), "%s/../share/autodist/web/index.html", exe);
        if (stat(probe, &sb) == 0) {
            snprintf(out, size, "%s/../share/autodist/web", exe);
            return 0;
        }
    }
    snprintf(out, size, "%s", AD_WEB_INSTALL_DIR);
    snprintf(probe, sizeof(probe), "%s/index.html", out);
    if (stat(probe, &sb) == 0)
        return 0;
    snprintf(out, size, "%s", AD_WEB_SOURCE_DIR);
    snprintf(probe, sizeof(probe), "%s/index.html", out);
    if (stat(probe, &sb) == 0)
        return 0;
    return ad_cli_fail(AD_CLI_EXIT_ERROR,
                       "ui: cannot find the page (index.html) in %s/../share/autodist/web, %s "
                       "or %s: set AUTODIST_WEB_DIR",
                       exe, AD_WEB_INSTALL_DIR, AD_WEB_SOURCE_DIR);
}

/* Whether prog is an executable file in a folder of $PATH. */
static bool
s_in_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];

    while (path && *path) {
        size_t n = strcspn(path, ":");

        snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
        if (n && access(buf, X_OK) == 0)
            return true;
        path += n + (path[n] == ':');
    }
    return false;
}

/* Open url in the desktop's browser (xdg-open), without waiting for it. */
static void
s_open(const char *url)
{
    pid_t pid;

    if (!s_in_path("xdg-open")) {
        fprintf(stderr, "autodist: ui: --open: no xdg-open on this machine; open %s/ by hand\n",
                url);
        return;
    }
    pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);

        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execlp("xdg-open", "xdg-open", url, (char *)NULL);
        _exit(127);
    }
    if (pid < 0)
        fprintf(stderr, "autodist: ui: --open: cannot start xdg-open: %s\n", strerror(errno));
}

static void
s_on_term(int sig)
{
    ad_cli_interrupted = 1;
}

/* The routes of the API and the page. */
static int
s_routes(ad_http_t *http, ui_t *ui, ad_err_t *err)
{
    static const struct {
        const char *prefix;
        ad_http_handler_fn fn;
    } api[] = {
        {"/api/info", s_api_info},       {"/api/nodes", s_api_nodes},
        {"/api/jobs", s_api_jobs},       {"/api/runs", s_api_runs},
        {"/api/speedup", s_api_speedup}, {"/api/plan", s_api_plan},
        {"/api/sweeps", s_api_sweeps},   {"/api/baselines", s_api_baselines},
    };
    int rc = 0;

    for (size_t i = 0; i < sizeof(api) / sizeof(api[0]) && !rc; i++)
        rc = ad_http_route(http, AD_HTTP_READ, api[i].prefix, api[i].fn, ui);
    if (rc)
        return ad_err_set(err, rc, "ui: cannot add a route");
    return ad_http_static(http, "/", ui->web, err);
}

int
ad_cli_ui(ad_cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {
        {"listen", required_argument, NULL, 'l'},
        {"open", no_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    ad_http_config_t cfg = {.listen = "127.0.0.1:8080", .threads = 4};
    struct sigaction sa = {.sa_handler = s_on_term};
    ui_t ui = {.cli = cli};
    ad_http_t *http = NULL;
    ad_err_t err = {0};
    bool open_it = false;
    const char *arg;
    int c, rc;

    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        switch (c) {
        case AD_CLI_OPT_HELP:
            return AD_CLI_EXIT_OK;
        case AD_CLI_OPT_ERROR:
            return AD_CLI_EXIT_USAGE;
        case 'l':
            cfg.listen = arg;
            break;
        case 'o':
            open_it = true;
            break;
        }
    }
    if (optind < argc)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "ui: unexpected argument \"%s\"", argv[optind]);
    /* Resolved once here: the handlers only read them, from several threads. */
    if (!ad_cli_home(cli) || !ad_cli_endpoint(cli))
        return AD_CLI_EXIT_USAGE;
    rc = s_find_web(ui.web, sizeof(ui.web));
    if (rc)
        return rc;
    if (ad_http_new(&cfg, &http, &err) != 0)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "ui: --listen %s", err.msg);
    pthread_mutex_init(&ui.lock, NULL);
    rc = s_routes(http, &ui, &err);
    if (!rc)
        rc = ad_http_start(http, &err);
    if (rc) {
        ad_http_stop(&http);
        pthread_mutex_destroy(&ui.lock);
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "ui: %s", err.msg);
    }
    printf("autodist ui: %s/ (store %s, coordinator %s; read-only; Ctrl-C stops)\n",
           ad_http_url(http), ad_cli_home(cli)->db, ad_cli_endpoint(cli));
    fflush(stdout);
    if (open_it)
        s_open(ad_http_url(http));
    ad_cli_catch_interrupt(true);
    sigaction(SIGTERM, &sa, NULL);
    while (ad_cli_sleep(0.5))
        ;
    ad_http_stop(&http);
    pthread_mutex_destroy(&ui.lock);
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    return AD_CLI_EXIT_OK;
}
