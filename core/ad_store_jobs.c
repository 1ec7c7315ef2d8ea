/* ad_store_jobs.c - the store's jobs and the job-state machine */
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

static const char *const s_job_states[AD_JOB_STATE_COUNT] = {
    "PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL",
};

/* ---------------------------------------------------------------------------------------- */
/* States.                                                                                 */

const char *
ad_store_job_state_name(ad_job_state_t state)
{
    if ((int)state < 0 || (int)state >= AD_JOB_STATE_COUNT)
        return "UNKNOWN";
    return s_job_states[state];
}

int
ad_store_job_state_from_name(const char *name, ad_job_state_t *state)
{
    for (int i = 0; name && i < AD_JOB_STATE_COUNT; i++) {
        if (!strcasecmp(name, s_job_states[i])) {
            *state = (ad_job_state_t)i;
            return 0;
        }
    }
    return AD_EINVAL;
}

bool
ad_store_job_state_is_final(ad_job_state_t state)
{
    return state >= AD_JOB_COMPLETED && state <= AD_JOB_NODE_FAIL;
}

bool
ad_store_job_state_can_move(ad_job_state_t from, ad_job_state_t to)
{
    switch (from) {
    case AD_JOB_PENDING:
        return to == AD_JOB_RUNNING || to == AD_JOB_CANCELLED || to == AD_JOB_FAILED;
    case AD_JOB_RUNNING:
        return to == AD_JOB_PENDING || ad_store_job_state_is_final(to);
    default:
        return false;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Rows.                                                                                    */

void
ad_store_job_row_init(ad_job_row_t *job)
{
    memset(job, 0, sizeof(*job));
    job->submitted = job->started = job->ended = NAN;
    job->exit_code = AD_STORE_NO_EXIT;
}

void
ad_store_job_row_clear(ad_job_row_t *job)
{
    if (!job)
        return;
    free(job->name);
    free(job->spec);
    free(job->reason);
    free(job->config_hash);
    free(job->device);
    free(job->nodelist);
    free(job->pid_identity);
    memset(job, 0, sizeof(*job));
}

void
ad_store_job_rows_free(ad_job_row_t **rows_p, size_t n)
{
    if (!rows_p || !*rows_p)
        return;
    for (size_t i = 0; i < n; i++)
        ad_store_job_row_clear(&(*rows_p)[i]);
    free(*rows_p);
    *rows_p = NULL;
}

int
ad_store_add_job(ad_store_t *self, const ad_job_row_t *job, int64_t *id)
{
    const char *op = "add job";
    sqlite3_stmt *stmt = NULL;
    st_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    if (!job->name || !*job->name)
        return ad_err_set(&self->err, AD_EINVAL, "%s: a job needs a name", op);
    rc = st_tx_begin(self, op, false, false, &tx);
    if (rc)
        return rc;
    rc = st_stmt(self, Q_JOB_ADD, op, &stmt);
    if (rc)
        goto out_end;
    st_bind_text(stmt, 1, job->name);
    st_bind_text(stmt, 2, job->spec);
    st_bind_text(stmt, 3, job->reason);
    sqlite3_bind_double(stmt, 4, st_now());
    st_bind_pos(stmt, 5, job->sweep);
    st_bind_text(stmt, 6, job->config_hash);
    st_bind_pos(stmt, 7, job->nodes);
    st_bind_pos(stmt, 8, job->procs_per_node);
    st_bind_pos(stmt, 9, job->threads_per_proc);
    st_bind_text(stmt, 10, job->device);
    st_bind_text(stmt, 11, job->nodelist);
    rc = st_step(self, stmt);
    if (rc != SQLITE_DONE) {
        rc = st_db_error(self, op, rc);
        goto out_reset;
    }
    if (id)
        *id = sqlite3_last_insert_rowid(self->db);
    rc = 0;
out_reset:
    sqlite3_reset(stmt);
out_end:
    return st_tx_end(self, tx, rc, op);
}

/* Read job id's current state (inside the caller's transaction). */
static int
s_job_state(ad_store_t *self, int64_t id, const char *op, ad_job_state_t *state)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    *state = AD_JOB_STATE_COUNT; /* no state until one is read: moves nowhere */
    rc = st_stmt(self, Q_JOB_STATE, op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    rc = st_step_one(self, stmt, op, "job", id, NULL);
    if (!rc)
        rc = st_col_job_state(self, stmt, 0, "job", id, state);
    sqlite3_reset(stmt);
    return rc;
}

int
ad_store_set_job_state(ad_store_t *self, int64_t id, ad_job_state_t state, const char *reason,
                       int exit_code)
{
    const char *op = "set job state";
    sqlite3_stmt *stmt = NULL;
    ad_job_state_t from;
    int started;
    st_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    assert((int)state >= 0 && (int)state < AD_JOB_STATE_COUNT);
    rc = st_tx_begin(self, op, true, false, &tx);
    if (rc)
        return rc;
    rc = s_job_state(self, id, op, &from);
    if (rc)
        goto out_end;
    if (!ad_store_job_state_can_move(from, state)) {
        rc = ad_err_set(&self->err, AD_EINVAL, "job %lld: cannot go from %s to %s", (long long)id,
                        ad_store_job_state_name(from), ad_store_job_state_name(state));
        goto out_end;
    }
    rc = st_stmt(self, Q_JOB_SET_STATE, op, &stmt);
    if (rc)
        goto out_end;
    started = state == AD_JOB_RUNNING ? 1 : state == AD_JOB_PENDING ? 2 : 0;
    sqlite3_bind_int64(stmt, 1, id);
    st_bind_text(stmt, 2, ad_store_job_state_name(state));
    st_bind_text(stmt, 3, reason);
    if (exit_code != AD_STORE_NO_EXIT)
        sqlite3_bind_int(stmt, 4, exit_code);
    sqlite3_bind_int(stmt, 5, started);
    sqlite3_bind_double(stmt, 6, st_now());
    sqlite3_bind_int(stmt, 7, ad_store_job_state_is_final(state));
    rc = st_step(self, stmt);
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
out_end:
    return st_tx_end(self, tx, rc, op);
}

int
ad_store_set_job_layout(ad_store_t *self, int64_t id, int nodes, int procs_per_node,
                        int threads_per_proc, const char *device, const char *nodelist)
{
    const char *op = "set job layout";
    sqlite3_stmt *stmt = NULL;
    st_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    if (nodes < 1 || procs_per_node < 1 || threads_per_proc < 1 || !device)
        return ad_err_set(&self->err, AD_EINVAL,
                          "job %lld: a layout needs nodes, procs_per_node and threads_per_proc "
                          ">= 1 and a device (got %dx%dx%d)",
                          (long long)id, nodes, procs_per_node, threads_per_proc);
    rc = st_tx_begin(self, op, false, false, &tx);
    if (rc)
        return rc;
    rc = st_stmt(self, Q_JOB_LAYOUT, op, &stmt);
    if (rc)
        goto out_end;
    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_int(stmt, 2, nodes);
    sqlite3_bind_int(stmt, 3, procs_per_node);
    sqlite3_bind_int(stmt, 4, threads_per_proc);
    st_bind_text(stmt, 5, device);
    st_bind_text(stmt, 6, nodelist);
    rc = st_step_update(self, stmt, op, "job", id);
out_end:
    return st_tx_end(self, tx, rc, op);
}

int
ad_store_set_job_proc(ad_store_t *self, int64_t id, int64_t pid, const char *identity, int64_t run)
{
    const char *op = "set job process";
    sqlite3_stmt *stmt = NULL;
    st_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    rc = st_tx_begin(self, op, false, false, &tx);
    if (rc)
        return rc;
    rc = st_stmt(self, Q_JOB_PROC, op, &stmt);
    if (rc)
        goto out_end;
    sqlite3_bind_int64(stmt, 1, id);
    st_bind_pos(stmt, 2, pid);
    st_bind_text(stmt, 3, identity);
    st_bind_pos(stmt, 4, run);
    rc = st_step_update(self, stmt, op, "job", id);
out_end:
    return st_tx_end(self, tx, rc, op);
}

int
ad_store_get_job(ad_store_t *self, int64_t id, ad_job_row_t *out)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    ad_err_clear(&self->err);
    memset(out, 0, sizeof(*out));
    rc = st_stmt(self, Q_JOB_GET, "get job", &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    rc = st_step_one(self, stmt, "get job", "job", id, NULL);
    if (!rc)
        rc = st_read_job(self, stmt, out);
    sqlite3_reset(stmt);
    if (rc)
        ad_store_job_row_clear(out);
    return rc;
}

/* Append " AND state IN ('A', 'B')" for the states of mask (nothing for 0). */
void
st_append_states(char *sql, size_t len, unsigned mask)
{
    size_t n = strlen(sql);
    bool first = true;

    if (!mask)
        return;
    n += snprintf(sql + n, len - n, " AND state IN (");
    for (int s = 0; s < AD_JOB_STATE_COUNT && n < len; s++) {
        if (!(mask & AD_JOB_MASK(s)))
            continue;
        n += snprintf(sql + n, len - n, "%s'%s'", first ? "" : ", ", s_job_states[s]);
        first = false;
    }
    if (n < len)
        snprintf(sql + n, len - n, "%s)", first ? "NULL" : "");
}

int
ad_store_list_jobs(ad_store_t *self, unsigned states, ad_job_row_t **rows, size_t *n)
{
    const char *op = "list jobs";
    char sql[512] = "SELECT " ST_JOB_COLS " FROM jobs WHERE 1";
    sqlite3_stmt *stmt = NULL;
    size_t cap = 0;
    int rc;

    ad_err_clear(&self->err);
    *rows = NULL;
    *n = 0;
    st_append_states(sql, sizeof(sql), states);
    strncat(sql, " ORDER BY id", sizeof(sql) - strlen(sql) - 1);
    rc = st_prepare(self, sql, op, &stmt);
    if (rc)
        return rc;
    while ((rc = st_step(self, stmt)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *rows = ad_realloc(*rows, cap * sizeof(**rows));
        }
        memset(&(*rows)[*n], 0, sizeof(**rows));
        (*n)++;
        if (st_read_job(self, stmt, &(*rows)[*n - 1])) {
            rc = AD_EDB;
            goto out_free;
        }
    }
    if (rc != SQLITE_DONE) {
        rc = st_db_error(self, op, rc);
        goto out_free;
    }
    sqlite3_finalize(stmt);
    return 0;
out_free:
    sqlite3_finalize(stmt);
    ad_store_job_rows_free(rows, *n);
    *n = 0;
    return rc;
}

/* ---- owners (issue 9: roles) ------------------------------------------------------------- */

int
ad_store_set_job_owner(ad_store_t *self, int64_t id, const char *owner)
{
    const char *op = "set job owner";
    sqlite3_stmt *stmt = NULL;
    int rc;

    ad_err_clear(&self->err);
    rc = st_prepare(self, "UPDATE jobs SET owner = ?1 WHERE id = ?2", op, &stmt);
    if (rc)
        return rc;
    st_bind_text(stmt, 1, owner);
    sqlite3_bind_int64(stmt, 2, id);
    rc = st_step(self, stmt);
    if (rc != SQLITE_DONE)
        rc = st_db_error(self, op, rc);
    else if (sqlite3_changes(self->db) == 0)
        rc = ad_err_set(&self->err, -ENOENT, "%s: no job %lld", op, (long long)id);
    else
        rc = 0;
    sqlite3_finalize(stmt);
    return rc;
}

int
ad_store_get_job_owner(ad_store_t *self, int64_t id, char **owner)
{
    const char *op = "get job owner";
    sqlite3_stmt *stmt = NULL;
    const unsigned char *text;
    int rc;

    *owner = NULL;
    ad_err_clear(&self->err);
    rc = st_prepare(self, "SELECT owner FROM jobs WHERE id = ?1", op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    rc = st_step_one(self, stmt, op, "job", id, NULL);
    if (!rc && (text = sqlite3_column_text(stmt, 0)))
        *owner = ad_strdup((const char *)text);
    sqlite3_finalize(stmt);
    return rc;
}

int
ad_store_count_owner_jobs(ad_store_t *self, const char *owner, ad_job_state_t state, int64_t *n)
{
    const char *op = "count owner's jobs";
    sqlite3_stmt *stmt = NULL;
    int rc;

    *n = 0;
    ad_err_clear(&self->err);
    rc = st_prepare(self, "SELECT count(*) FROM jobs WHERE owner = ?1 AND state = ?2", op, &stmt);
    if (rc)
        return rc;
    st_bind_text(stmt, 1, owner);
    st_bind_text(stmt, 2, ad_store_job_state_name(state));
    rc = st_step(self, stmt);
    if (rc == SQLITE_ROW) {
        *n = sqlite3_column_int64(stmt, 0);
        rc = 0;
    } else {
        rc = st_db_error(self, op, rc);
    }
    sqlite3_finalize(stmt);
    return rc;
}
