/* ad_store_sweeps.c - the store's sweeps and the jobs of a sweep */
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
ad_store_sweep_row_clear(ad_sweep_row_t *sweep)
{
    if (!sweep)
        return;
    free(sweep->name);
    free(sweep->file_hash);
    free(sweep->spec);
    free(sweep->state);
    free(sweep->owner);
    memset(sweep, 0, sizeof(*sweep));
}

/* ---------------------------------------------------------------------------------------- */
/* Sweeps and jobs.                                                                        */

int
ad_store_add_sweep(ad_store_t *self, const ad_sweep_row_t *sweep, int64_t *id, bool *created)
{
    const char *op = "add sweep";
    sqlite3_stmt *stmt = NULL;
    bool made = false;
    int64_t sid = 0;
    st_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    if (!sweep->name || !sweep->file_hash)
        return ad_err_set(&self->err, AD_EINVAL, "%s: name and file hash are required", op);
    rc = st_tx_begin(self, op, true, false, &tx);
    if (rc)
        return rc;
    rc = st_stmt(self, Q_SWEEP_ADD, op, &stmt);
    if (rc)
        goto out_end;
    st_bind_text(stmt, 1, sweep->name);
    st_bind_text(stmt, 2, sweep->file_hash);
    st_bind_text(stmt, 3, sweep->spec);
    sqlite3_bind_double(stmt, 4, st_now());
    rc = st_step(self, stmt);
    if (rc == SQLITE_ROW) {
        sid = st_col_i64(stmt, 0);
        made = true;
        rc = st_step(self, stmt);
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) {
        rc = st_db_error(self, op, rc);
        goto out_end;
    }
    rc = 0;
    if (!made) {
        rc = st_stmt(self, Q_SWEEP_FIND, op, &stmt);
        if (rc)
            goto out_end;
        st_bind_text(stmt, 1, sweep->name);
        st_bind_text(stmt, 2, sweep->file_hash);
        rc = st_step_one(self, stmt, op, "sweep", -1, sweep->name);
        if (!rc)
            sid = st_col_i64(stmt, 0);
        sqlite3_reset(stmt);
    }
out_end:
    rc = st_tx_end(self, tx, rc, op);
    if (!rc && id)
        *id = sid;
    if (!rc && created)
        *created = made;
    return rc;
}

int
ad_store_get_sweep(ad_store_t *self, int64_t id, ad_sweep_row_t *out)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    ad_err_clear(&self->err);
    memset(out, 0, sizeof(*out));
    rc = st_stmt(self, Q_SWEEP_GET, "get sweep", &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    rc = st_step_one(self, stmt, "get sweep", "sweep", id, NULL);
    if (!rc)
        st_read_sweep(stmt, out);
    sqlite3_reset(stmt);
    return rc;
}

void
ad_store_sweep_rows_free(ad_sweep_row_t **rows_p, size_t n)
{
    if (!rows_p || !*rows_p)
        return;
    for (size_t i = 0; i < n; i++)
        ad_store_sweep_row_clear(&(*rows_p)[i]);
    free(*rows_p);
    *rows_p = NULL;
}

/* The rows of sql (one text parameter, or none when param is NULL) into *rows. */
static int
s_sweep_rows(ad_store_t *self, const char *sql, const char *param, const char *op,
             ad_sweep_row_t **rows, size_t *n)
{
    sqlite3_stmt *stmt = NULL;
    size_t cap = 0;
    int rc;

    ad_err_clear(&self->err);
    *rows = NULL;
    *n = 0;
    rc = st_prepare(self, sql, op, &stmt);
    if (rc)
        return rc;
    if (param)
        st_bind_text(stmt, 1, param);
    while ((rc = st_step(self, stmt)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 4;
            *rows = ad_realloc(*rows, cap * sizeof(**rows));
        }
        st_read_sweep(stmt, &(*rows)[(*n)++]);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        ad_store_sweep_rows_free(rows, *n);
        *n = 0;
        return st_db_error(self, op, rc);
    }
    return 0;
}

int
ad_store_find_sweeps(ad_store_t *self, const char *name, ad_sweep_row_t **rows, size_t *n)
{
    return s_sweep_rows(self, "SELECT " ST_SWEEP_COLS " FROM sweeps WHERE name = ?1 ORDER BY id",
                        name, "find sweeps", rows, n);
}

int
ad_store_running_sweeps(ad_store_t *self, ad_sweep_row_t **rows, size_t *n)
{
    return s_sweep_rows(self,
                        "SELECT " ST_SWEEP_COLS " FROM sweeps s WHERE state = 'RUNNING' AND id ="
                        " (SELECT max(id) FROM sweeps v WHERE v.name = s.name) ORDER BY id",
                        NULL, "list running sweeps", rows, n);
}

int
ad_store_set_sweep_run(ad_store_t *self, int64_t id, const char *state, int max_parallel,
                       bool retry_failed, const char *owner)
{
    const char *op = "record sweep state";
    sqlite3_stmt *stmt = NULL;
    st_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    rc = st_tx_begin(self, op, false, false, &tx);
    if (rc)
        return rc;
    rc = st_stmt(self, Q_SWEEP_RUN, op, &stmt);
    if (rc)
        goto out_end;
    sqlite3_bind_int64(stmt, 1, id);
    st_bind_text(stmt, 2, state);
    sqlite3_bind_int(stmt, 3, max_parallel);
    sqlite3_bind_int(stmt, 4, retry_failed);
    st_bind_text(stmt, 5, owner);
    rc = st_step_update(self, stmt, op, "sweep", id);
out_end:
    return st_tx_end(self, tx, rc, op);
}

int
ad_store_each_sweep_job(ad_store_t *self, int64_t sweep, ad_store_job_fn fn, void *arg)
{
    const char *op = "list the jobs of a sweep";
    sqlite3_stmt *stmt = NULL;
    ad_job_row_t row;
    int rc;

    ad_err_clear(&self->err);
    rc = st_prepare(self,
                    "SELECT id, state, config_hash, submitted, started, ended, exit_code"
                    " FROM jobs WHERE sweep = ?1 ORDER BY id",
                    op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, sweep);
    while ((rc = st_step(self, stmt)) == SQLITE_ROW) {
        ad_store_job_row_init(&row);
        row.id = st_col_i64(stmt, 0);
        row.sweep = sweep;
        row.config_hash = (char *)sqlite3_column_text(stmt, 2);
        row.submitted = st_col_real(stmt, 3);
        row.started = st_col_real(stmt, 4);
        row.ended = st_col_real(stmt, 5);
        if (sqlite3_column_type(stmt, 6) != SQLITE_NULL)
            row.exit_code = sqlite3_column_int(stmt, 6);
        if (st_col_job_state(self, stmt, 1, "job", row.id, &row.state)) {
            rc = AD_EDB;
            goto out_finalize;
        }
        rc = fn(&row, arg);
        if (rc)
            goto out_finalize;
    }
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
out_finalize:
    sqlite3_finalize(stmt);
    return rc;
}
