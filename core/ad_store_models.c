/* ad_store_models.c - the store's inference artifacts: the models table and its figures */
#include "autodist/ad_store.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "ad_store_int.h"

/*
 * One row per artifact folder (schema 6): what `autodist export` and
 * `autodist optimize` made, and what eval and measure found
 * (docs/inference.md).  Statements are one-off (st_prepare): a user adds a
 * handful of models, never a million.
 */

#define S_MODEL_COLS                                                                               \
    "id, name, path, arch, variant, parent, run, size_bytes, params, accuracy, test_samples,"      \
    " p50_ms, p95_ms, tput_b32, threads, backend, hardware, created, measured"

void
ad_store_model_row_init(ad_model_row_t *m)
{
    memset(m, 0, sizeof(*m));
    m->accuracy = m->p50_ms = m->p95_ms = m->tput_b32 = m->measured = NAN;
}

void
ad_store_model_row_clear(ad_model_row_t *m)
{
    if (!m)
        return;
    free(m->name);
    free(m->path);
    free(m->arch);
    free(m->variant);
    free(m->backend);
    free(m->hardware);
    ad_store_model_row_init(m);
}

void
ad_store_model_rows_free(ad_model_row_t **rows_p, size_t n)
{
    if (!rows_p || !*rows_p)
        return;
    for (size_t i = 0; i < n; i++)
        ad_store_model_row_clear(&(*rows_p)[i]);
    free(*rows_p);
    *rows_p = NULL;
}

static char *
s_col_dup(sqlite3_stmt *stmt, int i)
{
    const unsigned char *t = sqlite3_column_text(stmt, i);

    return t ? ad_strdup((const char *)t) : NULL;
}

/* Read a row selected with S_MODEL_COLS (strings owned). */
static void
s_read(sqlite3_stmt *stmt, ad_model_row_t *m)
{
    ad_store_model_row_init(m);
    m->id = st_col_i64(stmt, 0);
    m->name = s_col_dup(stmt, 1);
    m->path = s_col_dup(stmt, 2);
    m->arch = s_col_dup(stmt, 3);
    m->variant = s_col_dup(stmt, 4);
    m->parent = st_col_i64(stmt, 5);
    m->run = st_col_i64(stmt, 6);
    m->size_bytes = st_col_i64(stmt, 7);
    m->params = st_col_i64(stmt, 8);
    m->accuracy = st_col_real(stmt, 9);
    m->test_samples = st_col_i64(stmt, 10);
    m->p50_ms = st_col_real(stmt, 11);
    m->p95_ms = st_col_real(stmt, 12);
    m->tput_b32 = st_col_real(stmt, 13);
    m->threads = (int)st_col_i64(stmt, 14);
    m->backend = s_col_dup(stmt, 15);
    m->hardware = s_col_dup(stmt, 16);
    m->created = st_col_real(stmt, 17);
    m->measured = st_col_real(stmt, 18);
}

/* 0 when model id exists, -ENOENT ("model N: no such model") when not, or AD_EDB. */
static int
s_model_exists(ad_store_t *self, int64_t id, const char *op)
{
    sqlite3_stmt *stmt = NULL;
    int rc = st_prepare(self, "SELECT 1 FROM models WHERE id = ?1", op, &stmt);

    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    rc = st_step_one(self, stmt, op, "model", id, NULL);
    sqlite3_finalize(stmt);
    return rc;
}

int
ad_store_put_model(ad_store_t *self, const ad_model_row_t *m, int64_t *id)
{
    const char *op = "put model";
    sqlite3_stmt *stmt = NULL;
    st_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    if (!m->name || !*m->name || !m->path || !*m->path || !m->arch || !m->variant)
        return ad_err_set(&self->err, AD_EINVAL, "%s: name, path, arch and variant are required",
                          op);
    rc = st_tx_begin(self, op, true, true, &tx);
    if (rc)
        return rc;
    if (m->parent > 0 && (rc = s_model_exists(self, m->parent, op)))
        goto out_tx;
    if (m->run > 0 && (rc = st_run_exists(self, m->run, op)))
        goto out_tx;
    rc =
        st_prepare(self,
                   "INSERT INTO models (name, path, arch, variant, parent, run, size_bytes, params,"
                   " accuracy, test_samples, p50_ms, p95_ms, tput_b32, threads, backend, hardware,"
                   " created, measured) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
                   " ?12, ?13, ?14, ?15, ?16, ?17, ?18) ON CONFLICT (path) DO UPDATE SET"
                   " name = excluded.name, arch = excluded.arch, variant = excluded.variant,"
                   " parent = excluded.parent, run = excluded.run,"
                   " size_bytes = excluded.size_bytes, params = excluded.params,"
                   " accuracy = excluded.accuracy, test_samples = excluded.test_samples,"
                   " p50_ms = excluded.p50_ms, p95_ms = excluded.p95_ms,"
                   " tput_b32 = excluded.tput_b32, threads = excluded.threads,"
                   " backend = excluded.backend, hardware = excluded.hardware,"
                   " measured = excluded.measured RETURNING id",
                   op, &stmt);
    if (rc)
        goto out_tx;
    st_bind_text(stmt, 1, m->name);
    st_bind_text(stmt, 2, m->path);
    st_bind_text(stmt, 3, m->arch);
    st_bind_text(stmt, 4, m->variant);
    st_bind_pos(stmt, 5, m->parent);
    st_bind_pos(stmt, 6, m->run);
    st_bind_pos(stmt, 7, m->size_bytes);
    st_bind_pos(stmt, 8, m->params);
    st_bind_real(stmt, 9, m->accuracy);
    st_bind_pos(stmt, 10, m->test_samples);
    st_bind_real(stmt, 11, m->p50_ms);
    st_bind_real(stmt, 12, m->p95_ms);
    st_bind_real(stmt, 13, m->tput_b32);
    st_bind_pos(stmt, 14, m->threads);
    st_bind_text(stmt, 15, m->backend);
    st_bind_text(stmt, 16, m->hardware);
    sqlite3_bind_double(stmt, 17, st_now());
    st_bind_real(stmt, 18, m->measured);
    rc = st_step(self, stmt);
    if (rc == SQLITE_ROW) {
        if (id)
            *id = sqlite3_column_int64(stmt, 0);
        rc = 0;
    } else {
        rc = st_db_error(self, op, rc);
    }
    sqlite3_finalize(stmt);
out_tx:
    return st_tx_end(self, tx, rc, op);
}

int
ad_store_get_model(ad_store_t *self, int64_t id, ad_model_row_t *out)
{
    const char *op = "get model";
    sqlite3_stmt *stmt = NULL;
    int rc;

    ad_err_clear(&self->err);
    ad_store_model_row_init(out);
    rc = st_prepare(self, "SELECT " S_MODEL_COLS " FROM models WHERE id = ?1", op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    rc = st_step_one(self, stmt, op, "model", id, NULL);
    if (!rc)
        s_read(stmt, out);
    sqlite3_finalize(stmt);
    return rc;
}

/* The newest row whose column col is text into *out: 0, -ENOENT (no error set) or AD_EDB. */
static int
s_find_by(ad_store_t *self, const char *col, const char *text, ad_model_row_t *out)
{
    const char *op = "find model";
    sqlite3_stmt *stmt = NULL;
    char sql[256];
    int rc;

    snprintf(sql, sizeof(sql),
             "SELECT " S_MODEL_COLS " FROM models WHERE %s = ?1"
             " ORDER BY id DESC LIMIT 1",
             col);
    rc = st_prepare(self, sql, op, &stmt);
    if (rc)
        return rc;
    st_bind_text(stmt, 1, text);
    rc = st_step(self, stmt);
    if (rc == SQLITE_ROW) {
        s_read(stmt, out);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? -ENOENT : st_db_error(self, op, rc);
    }
    sqlite3_finalize(stmt);
    return rc;
}

int
ad_store_find_model(ad_store_t *self, const char *key, ad_model_row_t *out)
{
    char real[PATH_MAX];
    int rc;

    ad_err_clear(&self->err);
    ad_store_model_row_init(out);
    if (key && *key && strspn(key, "0123456789") == strlen(key) && strlen(key) < 19) {
        rc = ad_store_get_model(self, strtoll(key, NULL, 10), out);
        if (rc == -ENOENT)
            ad_err_set(&self->err, -ENOENT, "model %s: no such model (autodist models lists them)",
                       key);
        return rc;
    }
    rc = s_find_by(self, "path", key ? key : "", out);
    if (rc == -ENOENT && key && realpath(key, real))
        rc = s_find_by(self, "path", real, out);
    if (rc == -ENOENT)
        rc = s_find_by(self, "name", key ? key : "", out);
    if (rc == -ENOENT)
        ad_err_set(&self->err, -ENOENT, "model %s: no such model (autodist models lists them)",
                   key ? key : "");
    return rc;
}

int
ad_store_list_models(ad_store_t *self, ad_model_row_t **rows, size_t *n)
{
    const char *op = "list models";
    sqlite3_stmt *stmt = NULL;
    size_t cap = 0;
    int rc;

    ad_err_clear(&self->err);
    *rows = NULL;
    *n = 0;
    rc = st_prepare(self, "SELECT " S_MODEL_COLS " FROM models ORDER BY id", op, &stmt);
    if (rc)
        return rc;
    while ((rc = st_step(self, stmt)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *rows = ad_realloc(*rows, cap * sizeof(**rows));
        }
        s_read(stmt, &(*rows)[(*n)++]);
    }
    if (rc != SQLITE_DONE) {
        rc = st_db_error(self, op, rc);
        ad_store_model_rows_free(rows, *n);
        *n = 0;
    } else {
        rc = 0;
    }
    sqlite3_finalize(stmt);
    return rc;
}

int
ad_store_set_model_figures(ad_store_t *self, int64_t id, const ad_model_row_t *m)
{
    const char *op = "set model figures";
    bool acc = !isnan(m->accuracy), lat = !isnan(m->p50_ms);
    sqlite3_stmt *stmt = NULL;
    int rc;

    ad_err_clear(&self->err);
    rc = st_prepare(self,
                    "UPDATE models SET"
                    " accuracy = CASE WHEN ?2 THEN ?3 ELSE accuracy END,"
                    " test_samples = CASE WHEN ?2 THEN ?4 ELSE test_samples END,"
                    " p50_ms = CASE WHEN ?5 THEN ?6 ELSE p50_ms END,"
                    " p95_ms = CASE WHEN ?5 THEN ?7 ELSE p95_ms END,"
                    " tput_b32 = CASE WHEN ?5 THEN ?8 ELSE tput_b32 END,"
                    " threads = CASE WHEN ?5 THEN ?9 ELSE threads END,"
                    " backend = CASE WHEN ?5 THEN ?10 ELSE backend END,"
                    " hardware = CASE WHEN ?5 THEN COALESCE(?11, hardware) ELSE hardware END,"
                    " measured = CASE WHEN ?5 THEN ?12 ELSE measured END WHERE id = ?1",
                    op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_int(stmt, 2, acc);
    st_bind_real(stmt, 3, m->accuracy);
    st_bind_pos(stmt, 4, m->test_samples);
    sqlite3_bind_int(stmt, 5, lat);
    st_bind_real(stmt, 6, m->p50_ms);
    st_bind_real(stmt, 7, m->p95_ms);
    st_bind_real(stmt, 8, m->tput_b32);
    st_bind_pos(stmt, 9, m->threads);
    st_bind_text(stmt, 10, m->backend);
    st_bind_text(stmt, 11, m->hardware);
    sqlite3_bind_double(stmt, 12, st_now());
    rc = st_step_update(self, stmt, op, "model", id);
    sqlite3_finalize(stmt);
    return rc;
}

int
ad_store_remove_model(ad_store_t *self, int64_t id)
{
    const char *op = "remove model";
    sqlite3_stmt *stmt = NULL;
    int rc;

    ad_err_clear(&self->err);
    rc = st_prepare(self, "DELETE FROM models WHERE id = ?1", op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    rc = st_step_update(self, stmt, op, "model", id);
    sqlite3_finalize(stmt);
    return rc;
}
