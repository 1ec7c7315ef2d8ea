/* ad_store_tags.c - runs as experiments: tags, notes, the job a run ran, import keys, usage */
#include "autodist/ad_store.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "ad_store_int.h"

/*
 * Schema 5 gave runs a name, a spec (the job's JSON: its hyper-parameters), a
 * note and an import key, and the table run_tags (run, key, value).  These
 * are written rarely (once per run, or by `autodist tag`), so one-off
 * statements do: nothing is added to the shared statement table.
 */

/* Longest tag key and value, and note (docs/store.md "Tags and notes"). */
#define S_TAG_KEY_MAX 64
#define S_TAG_VALUE_MAX 1024
#define S_NOTE_MAX 4096

bool
ad_store_tag_key_ok(const char *key)
{
    size_t len = key ? strlen(key) : 0;

    if (len == 0 || len > S_TAG_KEY_MAX)
        return false;
    for (const char *p = key; *p; p++)
        if (!(*p == '_' || *p == '-' || *p == '.' || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

/* Run sql (one write) with ?1 = run and ?2, ?3 the texts (NULL: SQL NULL), in tx. */
static int
s_exec(ad_store_t *self, const char *sql, int64_t run, const char *t2, const char *t3,
       const char *op, int *changes)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    rc = st_prepare(self, sql, op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, run);
    st_bind_text(stmt, 2, t2);
    st_bind_text(stmt, 3, t3);
    rc = st_step(self, stmt);
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    if (!rc && changes)
        *changes = sqlite3_changes(self->db);
    sqlite3_finalize(stmt);
    return rc;
}

int
ad_store_run_adopt_job(ad_store_t *self, int64_t run, int64_t job)
{
    const char *op = "copy the job into its run";
    char jobid[24];
    st_tx_t tx;
    int rc, changes = 0;

    ad_err_clear(&self->err);
    snprintf(jobid, sizeof(jobid), "%lld", (long long)job);
    rc = st_tx_begin(self, op, true, true, &tx);
    if (rc)
        return rc;
    /* A note or tags the job spec carries (job keys `note:`, `tags:`) become the run's. */
    rc = s_exec(self,
                "UPDATE runs SET name = (SELECT name FROM jobs WHERE id = CAST(?2 AS INTEGER)),"
                " spec = (SELECT spec FROM jobs WHERE id = CAST(?2 AS INTEGER)),"
                " note = COALESCE((SELECT json_extract(spec, '$.note') FROM jobs"
                " WHERE id = CAST(?2 AS INTEGER) AND json_valid(spec)), note)"
                " WHERE id = ?1 AND EXISTS (SELECT 1 FROM jobs WHERE id = CAST(?2 AS INTEGER))",
                run, jobid, NULL, op, &changes);
    if (!rc && changes == 0)
        rc = st_run_exists(self, run, op);
    if (!rc && changes == 0)
        rc = ad_err_set(&self->err, -ENOENT, "job %lld: no such job", (long long)job);
    if (!rc)
        rc = s_exec(self,
                    "INSERT OR REPLACE INTO run_tags (run, key, value)"
                    " SELECT ?1, t.key, CAST(t.value AS TEXT)"
                    " FROM runs r, json_each(r.spec, '$.tags') t"
                    " WHERE r.id = ?1 AND json_valid(r.spec) AND t.type NOT IN ('object', 'array')",
                    run, NULL, NULL, op, NULL);
    return st_tx_end(self, tx, rc, op);
}

int
ad_store_set_tag(ad_store_t *self, int64_t run, const char *key, const char *value)
{
    const char *op = "set a tag";
    st_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    if (!ad_store_tag_key_ok(key))
        return ad_err_set(&self->err, AD_EINVAL,
                          "tag key \"%s\": 1 to %d letters, digits, '_', '-' or '.'",
                          key ? key : "", S_TAG_KEY_MAX);
    if (!value || strlen(value) > S_TAG_VALUE_MAX)
        return ad_err_set(&self->err, AD_EINVAL, "tag %s: the value is longer than %d bytes", key,
                          S_TAG_VALUE_MAX);
    rc = st_tx_begin(self, op, true, false, &tx);
    if (rc)
        return rc;
    rc = st_run_exists(self, run, op);
    if (!rc)
        rc = s_exec(self, "INSERT OR REPLACE INTO run_tags (run, key, value) VALUES (?1, ?2, ?3)",
                    run, key, value, op, NULL);
    return st_tx_end(self, tx, rc, op);
}

int
ad_store_remove_tag(ad_store_t *self, int64_t run, const char *key)
{
    const char *op = "remove a tag";
    int rc, changes = 0;
    st_tx_t tx;

    ad_err_clear(&self->err);
    rc = st_tx_begin(self, op, true, false, &tx);
    if (rc)
        return rc;
    rc = st_run_exists(self, run, op);
    if (!rc)
        rc = s_exec(self, "DELETE FROM run_tags WHERE run = ?1 AND key = ?2", run, key, NULL, op,
                    &changes);
    if (!rc && changes == 0)
        rc = ad_err_set(&self->err, -ENOENT, "run %lld has no tag \"%s\"", (long long)run, key);
    return st_tx_end(self, tx, rc, op);
}

int
ad_store_set_note(ad_store_t *self, int64_t run, const char *note)
{
    const char *op = "set a note";
    int rc, changes = 0;

    ad_err_clear(&self->err);
    if (note && strlen(note) > S_NOTE_MAX)
        return ad_err_set(&self->err, AD_EINVAL, "run %lld: a note is at most %d bytes",
                          (long long)run, S_NOTE_MAX);
    rc = s_exec(self, "UPDATE runs SET note = ?2 WHERE id = ?1", run, note && *note ? note : NULL,
                NULL, op, &changes);
    if (!rc && changes == 0)
        rc = st_run_exists(self, run, op);
    return rc;
}

int
ad_store_import_key_exists(ad_store_t *self, const char *key, bool *exists)
{
    const char *op = "look up an import key";
    sqlite3_stmt *stmt = NULL;
    int rc;

    ad_err_clear(&self->err);
    *exists = false;
    rc = st_prepare(self, "SELECT 1 FROM runs WHERE import_key = ?1", op, &stmt);
    if (rc)
        return rc;
    st_bind_text(stmt, 1, key);
    rc = st_step(self, stmt);
    if (rc == SQLITE_ROW)
        *exists = true;
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    sqlite3_finalize(stmt);
    return rc;
}

int
ad_store_set_import_key(ad_store_t *self, int64_t run, const char *key)
{
    int rc, changes = 0;

    ad_err_clear(&self->err);
    rc = s_exec(self, "UPDATE runs SET import_key = ?2 WHERE id = ?1", run, key, NULL,
                "set an import key", &changes);
    if (!rc && changes == 0)
        rc = st_run_exists(self, run, "set an import key");
    return rc;
}

int
ad_store_run_usage(ad_store_t *self, int64_t run, double *cpu_time_s, int64_t *max_rss_bytes)
{
    const char *op = "read a run's usage";
    sqlite3_stmt *stmt = NULL;
    int rc;

    ad_err_clear(&self->err);
    *cpu_time_s = NAN;
    *max_rss_bytes = 0;
    rc = st_prepare(self, "SELECT cpu_time_s, max_rss_bytes FROM runs WHERE id = ?1", op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, run);
    rc = st_step_one(self, stmt, op, "run", run, NULL);
    if (!rc) {
        *cpu_time_s = st_col_real(stmt, 0);
        *max_rss_bytes = st_col_i64(stmt, 1);
    }
    sqlite3_finalize(stmt);
    return rc;
}

int
ad_store_list_sweeps(ad_store_t *self, ad_sweep_row_t **rows, size_t *n)
{
    const char *op = "list sweeps";
    sqlite3_stmt *stmt = NULL;
    size_t cap = 0;
    int rc;

    ad_err_clear(&self->err);
    *rows = NULL;
    *n = 0;
    rc = st_prepare(self, "SELECT " ST_SWEEP_COLS " FROM sweeps ORDER BY id", op, &stmt);
    if (rc)
        return rc;
    while ((rc = st_step(self, stmt)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *rows = ad_realloc(*rows, cap * sizeof(**rows));
        }
        st_read_sweep(stmt, &(*rows)[(*n)++]);
    }
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    sqlite3_finalize(stmt);
    if (rc)
        ad_store_sweep_rows_free(rows, *n);
    if (rc)
        *n = 0;
    return rc;
}
