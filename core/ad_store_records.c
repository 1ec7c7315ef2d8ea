/* ad_store_records.c - the store's run records (schema 4) and the runs a run reproduces */
#include "autodist/ad_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "ad_store_int.h"

/*
 * A record is written once per run (when its job launches) and merged into
 * once more at most (the reservation's end): one-off statements are enough,
 * so this file adds nothing to the shared statement table.
 */

int
st_run_exists(ad_store_t *self, int64_t run, const char *op)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    rc = st_stmt(self, Q_RUN_EXISTS, op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, run);
    rc = st_step_one(self, stmt, op, "run", run, NULL);
    sqlite3_reset(stmt);
    return rc;
}

/* Check that text is JSON of the kind wanted (an object when object); AD_EINVAL naming op. */
static int
s_check_json(ad_store_t *self, const char *text, bool object, const char *op)
{
    json_error_t jerr;
    json_t *doc;
    bool ok;

    if (!text)
        return ad_err_set(&self->err, AD_EINVAL, "%s: no JSON given", op);
    doc = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!doc)
        return ad_err_set(&self->err, AD_EINVAL, "%s: not JSON: %d:%d: %s", op, jerr.line,
                          jerr.column, jerr.text);
    ok = !object || json_is_object(doc);
    json_decref(doc);
    if (!ok)
        return ad_err_set(&self->err, AD_EINVAL, "%s: a record must be a JSON object", op);
    return 0;
}

/* Run one write statement sql with run bound to ?1 and the texts to ?2, ?3 (NULL: none). */
static int
s_write(ad_store_t *self, const char *sql, int64_t run, const char *t2, const char *t3,
        const char *op)
{
    sqlite3_stmt *stmt = NULL;
    st_tx_t tx;
    int rc;

    rc = st_tx_begin(self, op, true, false, &tx);
    if (rc)
        return rc;
    rc = st_run_exists(self, run, op);
    if (rc)
        goto out_end;
    rc = st_prepare(self, sql, op, &stmt);
    if (rc)
        goto out_end;
    sqlite3_bind_int64(stmt, 1, run);
    if (t2)
        st_bind_text(stmt, 2, t2);
    if (t3)
        st_bind_text(stmt, 3, t3);
    rc = st_step(self, stmt);
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    sqlite3_finalize(stmt);
out_end:
    return st_tx_end(self, tx, rc, op);
}

int
ad_store_put_record(ad_store_t *self, int64_t run, const char *record)
{
    const char *op = "put run record";
    int rc;

    ad_err_clear(&self->err);
    rc = s_check_json(self, record, true, op);
    if (rc)
        return rc;
    return s_write(self,
                   "INSERT INTO run_records (run, record) VALUES (?1, ?2)"
                   " ON CONFLICT (run) DO UPDATE SET record = excluded.record",
                   run, record, NULL, op);
}

int
ad_store_get_record(ad_store_t *self, int64_t run, char **record)
{
    const char *op = "get run record";
    sqlite3_stmt *stmt = NULL;
    const char *text;
    int rc;

    ad_err_clear(&self->err);
    *record = NULL;
    rc = st_prepare(self,
                    "SELECT r.id, rr.record FROM runs r LEFT JOIN run_records rr ON rr.run = r.id"
                    " WHERE r.id = ?1",
                    op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, run);
    rc = st_step_one(self, stmt, op, "run", run, NULL);
    if (!rc) {
        text = (const char *)sqlite3_column_text(stmt, 1);
        *record = text ? ad_strdup(text) : NULL;
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* A key the JSON path '$.key' reads as one member: letters, digits, '_', not empty. */
static bool
s_key_ok(const char *key)
{
    if (!key || !*key || strlen(key) > 64)
        return false;
    for (const char *p = key; *p; p++)
        if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

int
ad_store_record_merge(ad_store_t *self, int64_t run, const char *key, const char *value)
{
    const char *op = "merge into run record";
    int rc;

    ad_err_clear(&self->err);
    if (!s_key_ok(key))
        return ad_err_set(&self->err, AD_EINVAL,
                          "%s: key \"%s\" must be letters, digits and '_' (1..64)", op,
                          key ? key : "");
    rc = s_check_json(self, value, false, op);
    if (rc)
        return rc;
    return s_write(self,
                   "INSERT INTO run_records (run, record)"
                   " VALUES (?1, json_object('format', 1, ?2, json(?3)))"
                   " ON CONFLICT (run) DO UPDATE SET"
                   " record = json_set(record, '$.' || ?2, json(?3))",
                   run, key, value, op);
}

int
ad_store_set_reproduces(ad_store_t *self, int64_t run, int64_t original)
{
    const char *op = "set reproduced run";
    sqlite3_stmt *stmt = NULL;
    st_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    rc = st_tx_begin(self, op, true, false, &tx);
    if (rc)
        return rc;
    rc = st_run_exists(self, run, op);
    if (!rc && original > 0)
        rc = st_run_exists(self, original, op);
    if (!rc)
        rc = st_prepare(self, "UPDATE runs SET reproduces = ?2 WHERE id = ?1", op, &stmt);
    if (rc)
        goto out_end;
    sqlite3_bind_int64(stmt, 1, run);
    st_bind_pos(stmt, 2, original);
    rc = st_step(self, stmt);
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    sqlite3_finalize(stmt);
out_end:
    return st_tx_end(self, tx, rc, op);
}

int
ad_store_get_reproduces(ad_store_t *self, int64_t run, int64_t *original)
{
    const char *op = "get reproduced run";
    sqlite3_stmt *stmt = NULL;
    int rc;

    ad_err_clear(&self->err);
    *original = 0;
    rc = st_prepare(self, "SELECT reproduces FROM runs WHERE id = ?1", op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, run);
    rc = st_step_one(self, stmt, op, "run", run, NULL);
    if (!rc)
        *original = st_col_i64(stmt, 0);
    sqlite3_finalize(stmt);
    return rc;
}

int
ad_store_list_reproductions(ad_store_t *self, int64_t run, int64_t **ids, size_t *n)
{
    const char *op = "list reproductions";
    sqlite3_stmt *stmt = NULL;
    size_t cap = 0;
    int rc;

    ad_err_clear(&self->err);
    *ids = NULL;
    *n = 0;
    rc = st_prepare(self, "SELECT id FROM runs WHERE reproduces = ?1 ORDER BY id", op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, run);
    while ((rc = st_step(self, stmt)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            *ids = realloc(*ids, cap * sizeof(**ids));
            if (!*ids)
                ad_oom(cap * sizeof(**ids));
        }
        (*ids)[(*n)++] = st_col_i64(stmt, 0);
    }
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    sqlite3_finalize(stmt);
    if (rc) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

int
ad_store_record_auto(ad_store_t *self, int64_t run, json_t *job)
{
    const char *op = "get run record's auto";
    sqlite3_stmt *stmt = NULL;
    const char *text;
    json_t *a;
    int rc;

    ad_err_clear(&self->err);
    /* What was predicted comes from the record, what was measured from the run row. */
    rc = st_prepare(self,
                    "SELECT r.id, json_set(json_extract(rr.record, '$.auto'),"
                    " '$.measured_samples_per_s', r.samples_per_s,"
                    " '$.error_pct', 100.0 * (r.samples_per_s -"
                    " json_extract(rr.record, '$.auto.predicted.samples_per_s')) /"
                    " nullif(json_extract(rr.record, '$.auto.predicted.samples_per_s'), 0))"
                    " FROM runs r LEFT JOIN run_records rr ON rr.run = r.id WHERE r.id = ?1",
                    op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, run);
    rc = st_step_one(self, stmt, op, "run", run, NULL);
    if (!rc) {
        text = (const char *)sqlite3_column_text(stmt, 1);
        a = text ? json_loads(text, 0, NULL) : NULL;
        if (json_is_object(a))
            json_object_set_new(job, "auto", a);
        else
            json_decref(a);
    }
    sqlite3_finalize(stmt);
    return rc;
}
