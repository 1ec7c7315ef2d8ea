/* ad_store_runs.c - the store's runs, their filters, and the metrics of a run */
#include "autodist/ad_store.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "ad_store_int.h"
#include "autodist/ad_fault.h"
#include "autodist/ad_home.h"
#include "autodist/ad_log.h"

/* ---------------------------------------------------------------------------------------- */
/* Rows.                                                                                    */

void
ad_store_run_init(ad_run_t *run)
{
    memset(run, 0, sizeof(*run));
    run->nodes = run->procs_per_node = run->threads_per_proc = 1;
    run->state = AD_JOB_RUNNING;
    run->started = run->ended = NAN;
    run->samples_per_s = run->epoch_time_s = run->accuracy = NAN;
    run->step_time_s = run->comm_time_s = run->speedup = NAN;
    run->sps_sd = run->speedup_lo = run->speedup_hi = NAN;
    run->load_other = run->cpu_time_s = NAN;
}

void
ad_store_run_result_init(ad_run_result_t *res, ad_job_state_t state)
{
    memset(res, 0, sizeof(*res));
    res->state = state;
    res->ended = res->samples_per_s = res->epoch_time_s = res->accuracy = NAN;
    res->step_time_s = res->comm_time_s = NAN;
    res->sps_sd = res->load_other = res->cpu_time_s = NAN;
}

void
ad_store_run_clear(ad_run_t *run)
{
    if (!run)
        return;
    free(run->config_hash);
    free(run->model);
    free(run->dataset);
    free(run->hardware);
    free(run->device);
    free(run->name);
    free(run->spec);
    free(run->note);
    free(run->tags);
    free(run->flags);
    memset(run, 0, sizeof(*run));
}

/* ---------------------------------------------------------------------------------------- */
/* Runs and speedups.                                                                      */

int
ad_store_add_run(ad_store_t *self, const ad_run_t *run, int64_t *id)
{
    const char *op = "add run";
    bool completed = run->state == AD_JOB_COMPLETED && st_has_throughput(run);
    sqlite3_stmt *stmt = NULL;
    int64_t rid = 0;
    double started = run->started;
    st_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    if (!run->model || !*run->model || !run->dataset || !*run->dataset)
        return ad_err_set(&self->err, AD_EINVAL, "%s: model and dataset are required", op);
    if (run->nodes < 1 || run->procs_per_node < 1 || run->threads_per_proc < 1 ||
        run->batch_size < 1)
        return ad_err_set(&self->err, AD_EINVAL,
                          "%s: nodes, procs_per_node, threads_per_proc and batch_size must be "
                          ">= 1 (got %dx%dx%d, batch %lld)",
                          op, run->nodes, run->procs_per_node, run->threads_per_proc,
                          (long long)run->batch_size);
    assert((int)run->state >= 0 && (int)run->state < AD_JOB_STATE_COUNT);
    if (isnan(started) && run->state == AD_JOB_RUNNING)
        started = st_now();
    /* The baseline lookup and the insert must see the same store: lock when completed. */
    rc = st_tx_begin(self, op, completed, completed, &tx);
    if (rc)
        return rc;
    rc = st_stmt(self, Q_RUN_ADD, op, &stmt);
    if (rc)
        goto out_end;
    st_bind_pos(stmt, 1, run->job);
    st_bind_pos(stmt, 2, run->sweep);
    st_bind_text(stmt, 3, run->config_hash);
    st_bind_text(stmt, 4, run->model);
    st_bind_text(stmt, 5, run->dataset);
    st_bind_text(stmt, 6, st_run_hardware(run));
    st_bind_text(stmt, 7, st_run_device(run));
    sqlite3_bind_int(stmt, 8, run->nodes);
    sqlite3_bind_int(stmt, 9, run->procs_per_node);
    sqlite3_bind_int(stmt, 10, run->threads_per_proc);
    sqlite3_bind_int64(stmt, 11, run->batch_size);
    st_bind_text(stmt, 12, ad_store_job_state_name(run->state));
    st_bind_real(stmt, 13, started);
    st_bind_real(stmt, 14, run->ended);
    st_bind_real(stmt, 15, run->samples_per_s);
    st_bind_real(stmt, 16, run->epoch_time_s);
    st_bind_real(stmt, 17, run->accuracy);
    st_bind_real(stmt, 18, run->step_time_s);
    st_bind_real(stmt, 19, run->comm_time_s);
    st_bind_pos(stmt, 20, run->params);
    /* 21, 22: the baseline and speedup are the store's (st_run_completed()). */
    st_bind_real(stmt, 23, run->sps_sd);
    st_bind_pos(stmt, 24, run->sps_steps);
    sqlite3_bind_int(stmt, 25, run->probe ? 1 : 0);
    st_bind_real(stmt, 26, run->load_other);
    st_bind_real(stmt, 27, run->cpu_time_s);
    st_bind_pos(stmt, 28, run->max_rss_bytes);
    st_bind_text(stmt, 29, run->kind);
    rc = st_step(self, stmt);
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (rc)
        goto out_end;
    rid = sqlite3_last_insert_rowid(self->db);
    if (completed && (!run->kind || !strcmp(run->kind, "train")))
        rc = st_run_completed(self, rid, run, 0, op);
out_end:
    rc = st_tx_end(self, tx, rc, op);
    if (!rc && id)
        *id = rid;
    return rc;
}

/* Run id as stored, strings owned. */
static int
s_get_run(ad_store_t *self, int q, int64_t id, const char *hash, const char *op, ad_run_t *out)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = st_stmt(self, q, op, &stmt);
    if (rc)
        return rc;
    if (hash) {
        st_bind_pos(stmt, 1, id);
        st_bind_text(stmt, 2, hash);
        rc = st_step_one(self, stmt, op, "configuration", -1, hash);
    } else {
        sqlite3_bind_int64(stmt, 1, id);
        rc = st_step_one(self, stmt, op, "run", id, NULL);
    }
    if (!rc)
        rc = st_read_run(self, stmt, true, out);
    sqlite3_reset(stmt);
    if (rc)
        ad_store_run_clear(out);
    return rc;
}

int
ad_store_get_run(ad_store_t *self, int64_t id, ad_run_t *out)
{
    ad_err_clear(&self->err);
    return s_get_run(self, Q_RUN_GET, id, NULL, "get run", out);
}

int
ad_store_find_run(ad_store_t *self, int64_t sweep, const char *config_hash, ad_run_t *out)
{
    ad_err_clear(&self->err);
    assert(config_hash);
    return s_get_run(self, Q_RUN_FIND, sweep, config_hash, "find run", out);
}

/* True for a run of kind train: only such a run is a baseline or has a speedup. */
static bool
s_is_training(ad_store_t *self, int64_t id)
{
    sqlite3_stmt *stmt = NULL;
    bool train = true;

    if (st_prepare(self, "SELECT kind = 'train' FROM runs WHERE id = ?1", "run kind", &stmt))
        return true;
    sqlite3_bind_int64(stmt, 1, id);
    /* A read inside the caller's transaction; should it fail, the run is taken as training. */
    if (sqlite3_step(stmt) == SQLITE_ROW)
        train = sqlite3_column_int(stmt, 0) != 0;
    sqlite3_finalize(stmt);
    return train;
}

int
ad_store_finish_run(ad_store_t *self, int64_t id, const ad_run_result_t *res)
{
    const char *op = "finish run";
    sqlite3_stmt *stmt = NULL;
    ad_run_t run = {0};
    st_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    if (!ad_store_job_state_is_final(res->state))
        return ad_err_set(&self->err, AD_EINVAL, "run %lld: cannot finish as %s", (long long)id,
                          ad_store_job_state_name(res->state));
    rc = st_tx_begin(self, op, true, true, &tx);
    if (rc)
        return rc;
    rc = s_get_run(self, Q_RUN_GET, id, NULL, op, &run);
    if (rc)
        goto out_end;
    if (ad_store_job_state_is_final(run.state)) {
        rc = ad_err_set(&self->err, AD_EINVAL, "run %lld: already finished (%s)", (long long)id,
                        ad_store_job_state_name(run.state));
        goto out_end;
    }
    rc = st_stmt(self, Q_RUN_FINISH, op, &stmt);
    if (rc)
        goto out_end;
    sqlite3_bind_int64(stmt, 1, id);
    st_bind_text(stmt, 2, ad_store_job_state_name(res->state));
    sqlite3_bind_double(stmt, 3, isnan(res->ended) ? st_now() : res->ended);
    st_bind_real(stmt, 4, res->samples_per_s);
    st_bind_real(stmt, 5, res->epoch_time_s);
    st_bind_real(stmt, 6, res->accuracy);
    st_bind_real(stmt, 7, res->step_time_s);
    st_bind_real(stmt, 8, res->comm_time_s);
    st_bind_pos(stmt, 9, res->params);
    st_bind_real(stmt, 10, res->sps_sd);
    st_bind_pos(stmt, 11, res->sps_steps);
    st_bind_real(stmt, 12, res->load_other);
    st_bind_real(stmt, 13, res->cpu_time_s);
    st_bind_pos(stmt, 14, res->max_rss_bytes);
    rc = st_step(self, stmt);
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (rc)
        goto out_end;
    /* The row as it now stands: what the result left NaN keeps its value. */
    ad_store_run_clear(&run);
    rc = s_get_run(self, Q_RUN_GET, id, NULL, op, &run);
    if (rc)
        goto out_end;
    if (res->state == AD_JOB_COMPLETED && st_has_throughput(&run) && s_is_training(self, id))
        rc = st_run_completed(self, id, &run, res->test_samples, op);
    else
        rc = st_run_flags_only(self, id, &run, res->test_samples, op);
out_end:
    ad_store_run_clear(&run);
    return st_tx_end(self, tx, rc, op);
}

int
st_conds(const ad_run_filter_t *f, st_cond_t *c)
{
    /* Index order, so the equalities read as a prefix of runs_layout. */
    const st_cond_t all[ST_CONDS_MAX] = {
        {"model", f ? f->model : NULL, 0},
        {"dataset", f ? f->dataset : NULL, 0},
        {"batch_size", NULL, f ? f->batch_size : 0},
        {"hardware", f ? f->hardware : NULL, 0},
        {"nodes", NULL, f ? f->nodes : 0},
        {"procs_per_node", NULL, f ? f->procs_per_node : 0},
        {"threads_per_proc", NULL, f ? f->threads_per_proc : 0},
        {"device", f ? f->device : NULL, 0},
        {"job", NULL, f ? f->job : 0},
        {"sweep", NULL, f ? f->sweep : 0},
    };
    int n = 0;

    for (int i = 0; i < ST_CONDS_MAX; i++)
        if (all[i].text || all[i].num > 0)
            c[n++] = all[i];
    return n;
}

/* Build "... AND col = ?" for the conditions; bind them in the same order after prepare. */
void
st_append_conds(char *sql, size_t len, const st_cond_t *c, int n)
{
    for (int i = 0; i < n; i++) {
        size_t used = strlen(sql);

        snprintf(sql + used, len - used, " AND %s = ?%d", c[i].col, i + 1);
    }
}

void
st_append_kind(char *sql, size_t len, const ad_run_filter_t *f)
{
    const char *kind = f && f->kind ? f->kind : "train";
    size_t used = strlen(sql);

    if (strcmp(kind, "*") == 0)
        return;
    snprintf(sql + used, len - used, " AND kind = '%s'",
             strcmp(kind, "infer") == 0      ? "infer"
             : strcmp(kind, "finetune") == 0 ? "finetune"
                                             : "train");
}

void
st_bind_conds(sqlite3_stmt *stmt, const st_cond_t *c, int n)
{
    for (int i = 0; i < n; i++) {
        if (c[i].text)
            st_bind_text(stmt, i + 1, c[i].text);
        else
            sqlite3_bind_int64(stmt, i + 1, c[i].num);
    }
}

int
ad_store_each_run(ad_store_t *self, const ad_run_filter_t *filter, ad_store_run_fn fn, void *arg)
{
    const char *op = "list runs";
    char sql[1024] = "SELECT " ST_RUN_COLS " FROM runs WHERE 1";
    st_cond_t conds[ST_CONDS_MAX];
    sqlite3_stmt *stmt = NULL;
    ad_run_t run;
    int n = st_conds(filter, conds);
    size_t used;
    int rc;

    ad_err_clear(&self->err);
    st_append_conds(sql, sizeof(sql), conds, n);
    st_append_kind(sql, sizeof(sql), filter);
    if (filter)
        st_append_states(sql, sizeof(sql), filter->states);
    used = strlen(sql);
    snprintf(sql + used, sizeof(sql) - used, " ORDER BY id%s",
             filter && filter->newest_first ? " DESC" : "");
    if (filter && filter->limit > 0) {
        used = strlen(sql);
        snprintf(sql + used, sizeof(sql) - used, " LIMIT %lld", (long long)filter->limit);
    }
    rc = st_prepare(self, sql, op, &stmt);
    if (rc)
        return rc;
    st_bind_conds(stmt, conds, n);
    while ((rc = st_step(self, stmt)) == SQLITE_ROW) {
        memset(&run, 0, sizeof(run));
        if (st_read_run(self, stmt, false, &run)) {
            rc = AD_EDB;
            goto out_finalize;
        }
        rc = fn(&run, arg);
        if (rc)
            goto out_finalize;
    }
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
out_finalize:
    sqlite3_finalize(stmt);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Metrics.                                                                                */

int
ad_store_add_metrics(ad_store_t *self, int64_t run, const ad_metric_t *metrics, size_t n)
{
    const char *op = "add metrics";
    sqlite3_stmt *stmt = NULL;
    st_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    rc = st_tx_begin(self, op, true, n > 1, &tx);
    if (rc)
        return rc;
    /* Name a missing run plainly instead of as a foreign key failure. */
    rc = st_stmt(self, Q_RUN_EXISTS, op, &stmt);
    if (rc)
        goto out_end;
    sqlite3_bind_int64(stmt, 1, run);
    rc = st_step_one(self, stmt, op, "run", run, NULL);
    sqlite3_reset(stmt);
    if (rc)
        goto out_end;
    rc = st_stmt(self, Q_METRIC_ADD, op, &stmt);
    if (rc)
        goto out_end;
    for (size_t i = 0; i < n && !rc; i++) {
        assert(metrics[i].key);
        sqlite3_bind_int64(stmt, 1, run);
        sqlite3_bind_int64(stmt, 2, metrics[i].step);
        st_bind_text(stmt, 3, metrics[i].key);
        st_bind_real(stmt, 4, metrics[i].value);
        rc = st_step(self, stmt);
        rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
        sqlite3_reset(stmt);
    }
out_end:
    return st_tx_end(self, tx, rc, op);
}

int
ad_store_each_metric(ad_store_t *self, int64_t run, const char *key, ad_store_metric_fn fn,
                     void *arg)
{
    const char *op = "list metrics";
    sqlite3_stmt *stmt = NULL;
    ad_metric_t m;
    int rc;

    ad_err_clear(&self->err);
    rc = st_stmt(self, key ? Q_METRIC_KEY : Q_METRIC_ALL, op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, run);
    if (key)
        st_bind_text(stmt, 2, key);
    while ((rc = st_step(self, stmt)) == SQLITE_ROW) {
        m.step = st_col_i64(stmt, 0);
        m.key = (const char *)sqlite3_column_text(stmt, 1);
        m.value = st_col_real(stmt, 2);
        rc = fn(run, &m, arg);
        if (rc)
            goto out_reset;
    }
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
out_reset:
    sqlite3_reset(stmt);
    return rc;
}

int
ad_store_peak_rss(ad_store_t *self, const char *model, const char *dataset, const char *device,
                  int64_t batch_per_rank, int64_t *bytes, int64_t *run)
{
    static const char sql[] =
        "SELECT id, max_rss_bytes FROM runs WHERE model = ?1 AND dataset = ?2 AND device = ?3"
        " AND state = 'COMPLETED' AND max_rss_bytes > 0"
        " AND batch_size = ?4 * nodes * procs_per_node ORDER BY max_rss_bytes DESC LIMIT 1";
    const char *op = "find a run's peak memory";
    sqlite3_stmt *stmt = NULL;
    int rc;

    ad_err_clear(&self->err);
    *bytes = 0;
    *run = 0;
    rc = st_prepare(self, sql, op, &stmt);
    if (rc)
        return rc;
    st_bind_text(stmt, 1, model);
    st_bind_text(stmt, 2, dataset);
    st_bind_text(stmt, 3, device);
    sqlite3_bind_int64(stmt, 4, batch_per_rank);
    rc = st_step(self, stmt);
    if (rc == SQLITE_ROW) {
        *run = st_col_i64(stmt, 0);
        *bytes = st_col_i64(stmt, 1);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    }
    sqlite3_finalize(stmt);
    return rc;
}

