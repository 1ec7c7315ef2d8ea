/* ad_store_infer.c - inference layouts: the runs of kind infer and the layout chosen from them */
#include "autodist/ad_store.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "ad_store_int.h"

/*
 * Schema 6 (docs/bench-infer.md): a layout that `autodist bench-infer`
 * measured is a row of runs (kind infer, one node, state COMPLETED) and a row
 * of infer_runs with its load mode and latencies.  Written once per layout,
 * read once per serve: one-off statements, nothing in the shared table.
 */

static const char s_insert_run[] =
    "INSERT INTO runs (kind, model, dataset, hardware, device, nodes, procs_per_node,"
    " threads_per_proc, batch_size, state, started, ended, samples_per_s, speedup)"
    " VALUES ('infer', ?1, ?2, ?3, 'cpu', 1, ?4, ?5, ?6, 'COMPLETED', ?7, ?8, ?9, ?10)";

static const char s_insert_infer[] =
    "INSERT INTO infer_runs (run, model_path, mode, concurrency, rate, p50_ms, p95_ms, p99_ms,"
    " mean_ms, samples, backend, bench) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

/*
 * The candidates of the newest bench of ?1: every open-loop row, and the
 * closed-loop row of a layout without any (?2 = 0: closed-loop rows only).
 */
static const char s_candidates[] =
    "SELECT r.id, r.procs_per_node, r.threads_per_proc, r.batch_size, i.mode, r.samples_per_s,"
    " i.p95_ms FROM infer_runs i JOIN runs r ON r.id = i.run"
    " WHERE i.model_path = ?1 AND r.kind = 'infer' AND r.samples_per_s > 0"
    " AND i.bench = (SELECT max(bench) FROM infer_runs WHERE model_path = ?1)"
    " AND CASE WHEN ?2 = 0 THEN i.mode = 'closed' ELSE i.mode = 'open' OR NOT EXISTS"
    " (SELECT 1 FROM infer_runs o JOIN runs ro ON ro.id = o.run WHERE o.model_path = ?1"
    " AND o.bench = i.bench AND o.mode = 'open' AND ro.procs_per_node = r.procs_per_node"
    " AND ro.threads_per_proc = r.threads_per_proc AND ro.batch_size = r.batch_size) END"
    " ORDER BY r.id";

static int
s_check(ad_store_t *self, const ad_infer_run_t *r)
{
    if (!r->model_path || !*r->model_path || !r->arch || !r->dataset)
        return ad_err_set(&self->err, AD_EINVAL,
                          "add inference run: model path, arch and dataset are required");
    if (r->procs < 1 || r->threads < 1 || r->batch < 1)
        return ad_err_set(&self->err, AD_EINVAL,
                          "add inference run: layout %dx%dx%d: each part must be at least 1",
                          r->procs, r->threads, r->batch);
    if (!r->mode || (strcmp(r->mode, "open") != 0 && strcmp(r->mode, "closed") != 0))
        return ad_err_set(&self->err, AD_EINVAL,
                          "add inference run: mode \"%s\": expected open or closed",
                          r->mode ? r->mode : "");
    return 0;
}

static int
s_add_run(ad_store_t *self, const ad_infer_run_t *r, const char *op, int64_t *id)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    rc = st_prepare(self, s_insert_run, op, &stmt);
    if (rc)
        return rc;
    st_bind_text(stmt, 1, r->arch);
    st_bind_text(stmt, 2, r->dataset);
    st_bind_text(stmt, 3, r->hardware ? r->hardware : "");
    sqlite3_bind_int(stmt, 4, r->procs);
    sqlite3_bind_int(stmt, 5, r->threads);
    sqlite3_bind_int(stmt, 6, r->batch);
    st_bind_real(stmt, 7, r->started);
    st_bind_real(stmt, 8, r->ended);
    st_bind_real(stmt, 9, r->samples_per_s);
    st_bind_real(stmt, 10, r->speedup);
    rc = st_step(self, stmt);
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    if (!rc)
        *id = sqlite3_last_insert_rowid(self->db);
    sqlite3_finalize(stmt);
    return rc;
}

static int
s_add_latency(ad_store_t *self, const ad_infer_run_t *r, int64_t id, const char *op)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    rc = st_prepare(self, s_insert_infer, op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    st_bind_text(stmt, 2, r->model_path);
    st_bind_text(stmt, 3, r->mode);
    st_bind_pos(stmt, 4, r->concurrency);
    st_bind_real(stmt, 5, r->rate);
    st_bind_real(stmt, 6, r->p50_ms);
    st_bind_real(stmt, 7, r->p95_ms);
    st_bind_real(stmt, 8, r->p99_ms);
    st_bind_real(stmt, 9, r->mean_ms);
    st_bind_pos(stmt, 10, r->samples);
    st_bind_text(stmt, 11, r->backend);
    st_bind_real(stmt, 12, r->bench);
    rc = st_step(self, stmt);
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    sqlite3_finalize(stmt);
    return rc;
}

int
ad_store_add_infer_run(ad_store_t *self, const ad_infer_run_t *r, int64_t *id)
{
    const char *op = "add inference run";
    st_tx_t tx;
    int64_t run = 0;
    int rc;

    ad_err_clear(&self->err);
    rc = s_check(self, r);
    if (rc)
        return rc;
    rc = st_tx_begin(self, op, false, true, &tx);
    if (rc)
        return rc;
    rc = s_add_run(self, r, op, &run);
    if (!rc)
        rc = s_add_latency(self, r, run, op);
    rc = st_tx_end(self, tx, rc, op);
    if (!rc && id)
        *id = run;
    return rc;
}

/* Keep row (stepped) in *out when it beats what *out holds for target p95. */
static void
s_consider(sqlite3_stmt *stmt, double target, bool *any, ad_infer_choice_t *out)
{
    ad_infer_choice_t c = {0};
    const unsigned char *mode = sqlite3_column_text(stmt, 4);
    bool better;

    c.run = sqlite3_column_int64(stmt, 0);
    c.procs = sqlite3_column_int(stmt, 1);
    c.threads = sqlite3_column_int(stmt, 2);
    c.batch = sqlite3_column_int(stmt, 3);
    snprintf(c.mode, sizeof(c.mode), "%s", mode ? (const char *)mode : "");
    c.samples_per_s = st_col_real(stmt, 5);
    c.p95_ms = st_col_real(stmt, 6);
    c.met = !(target > 0) || (!isnan(c.p95_ms) && c.p95_ms <= target);
    if (!*any)
        better = true;
    else if (c.met != out->met)
        better = c.met;
    else if (c.met)
        better = c.samples_per_s > out->samples_per_s;
    else
        /* Nothing meets the target: the closest to it. */
        better = !isnan(c.p95_ms) && (isnan(out->p95_ms) || c.p95_ms < out->p95_ms);
    if (better)
        *out = c;
    *any = true;
}

int
ad_store_infer_best(ad_store_t *self, const char *model_path, double p95_ms, ad_infer_choice_t *out)
{
    const char *op = "choose an inference layout";
    sqlite3_stmt *stmt = NULL;
    bool target = p95_ms > 0;
    bool any = false;
    int rc;

    ad_err_clear(&self->err);
    memset(out, 0, sizeof(*out));
    rc = st_prepare(self, s_candidates, op, &stmt);
    if (rc)
        return rc;
    st_bind_text(stmt, 1, model_path);
    sqlite3_bind_int(stmt, 2, target);
    while ((rc = st_step(self, stmt)) == SQLITE_ROW)
        s_consider(stmt, target ? p95_ms : NAN, &any, out);
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    sqlite3_finalize(stmt);
    if (!rc && !any)
        rc = ad_err_set(&self->err, -ENOENT,
                        "no inference bench of %s: run autodist bench-infer %s first", model_path,
                        model_path);
    return rc;
}
