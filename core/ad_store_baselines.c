/* ad_store_baselines.c - the store's pinned baselines and the speedups that follow from them */
#include "autodist/ad_store.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "ad_store_int.h"

/*
 * A baseline belongs to (hardware class, model, dataset, global batch, device)
 * (docs/speedup.md, "Baselines").  Unless pinned it is the mean of the group's
 * COMPLETED 1x1x1 runs with a throughput that are not probes (nor flagged noisy,
 * unless no quiet one exists), so each new repeat refines it, and then every speedup of the group is recomputed against it: a
 * speedup never depends on which baseline happened to be the latest.
 */

/* The key of a baseline; strings borrowed. */
typedef struct {
    const char *hardware, *model, *dataset, *device;
    int64_t batch;
} s_key_t;

/* A baseline as the store holds it. */
typedef struct {
    bool found;     /* a row exists */
    bool pinned;    /* pinned by hand */
    double sps, sd; /* mean and sd between repeats (NaN with one) */
    int64_t n;      /* repeats */
    int64_t latest; /* the newest run of the list: runs.baseline of the group */
} s_base_t;

static s_key_t
s_key_of(const ad_run_t *run)
{
    return (s_key_t){st_run_hardware(run), run->model, run->dataset, st_run_device(run),
                     run->batch_size};
}

static void
s_bind_key(sqlite3_stmt *stmt, const s_key_t *k)
{
    st_bind_text(stmt, 1, k->hardware);
    st_bind_text(stmt, 2, k->model);
    st_bind_text(stmt, 3, k->dataset);
    sqlite3_bind_int64(stmt, 4, k->batch);
    st_bind_text(stmt, 5, k->device);
}

#define S_KEY_IS "hardware = ?1 AND model = ?2 AND dataset = ?3 AND batch_size = ?4 AND device = ?5"

/* The highest id of a JSON array of ids ("[3,7,12]", baselines.runs). */
static int64_t
s_latest_of(const char *runs)
{
    int64_t latest = 0;

    for (const char *p = runs; p && *p;) {
        char *end;
        long long id;

        if (*p < '0' || *p > '9') {
            p++;
            continue;
        }
        id = strtoll(p, &end, 10);
        if (id > latest)
            latest = id;
        p = end;
    }
    return latest;
}

static int
s_base_get(ad_store_t *self, const s_key_t *k, const char *op, s_base_t *b)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    memset(b, 0, sizeof(*b));
    b->sps = b->sd = NAN;
    rc = st_stmt(self, Q_BASELINE_GET, op, &stmt);
    if (rc)
        return rc;
    s_bind_key(stmt, k);
    rc = st_step(self, stmt);
    if (rc == SQLITE_ROW) {
        b->found = true;
        b->latest = s_latest_of((const char *)sqlite3_column_text(stmt, 0));
        b->sps = st_col_real(stmt, 1);
        b->sd = st_col_real(stmt, 2);
        b->n = st_col_i64(stmt, 3);
        b->pinned = sqlite3_column_int(stmt, 4) != 0;
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc;
}

static int
s_base_put(ad_store_t *self, const s_key_t *k, const char *runs, const s_base_t *b, const char *op)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    rc = st_stmt(self, Q_BASELINE_PUT, op, &stmt);
    if (rc)
        return rc;
    s_bind_key(stmt, k);
    st_bind_text(stmt, 6, runs);
    sqlite3_bind_double(stmt, 7, b->sps);
    st_bind_real(stmt, 8, b->sd);
    sqlite3_bind_int64(stmt, 9, b->n);
    sqlite3_bind_int(stmt, 10, b->pinned);
    sqlite3_bind_double(stmt, 11, st_now());
    rc = st_step(self, stmt);
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc;
}

/* Run id's speedup, interval and flags against b (none when b has no row). */
static int
s_run_apply(ad_store_t *self, int64_t id, const ad_run_t *run, const s_base_t *b,
            int64_t test_samples, const char *op)
{
    sqlite3_stmt *stmt = NULL;
    ad_run_t r = *run;
    char flags[128];
    int rc;

    r.speedup = r.speedup_lo = r.speedup_hi = NAN;
    if (b && b->found && st_has_throughput(run))
        ad_store_speedup_interval(run->samples_per_s, run->sps_sd, b->sps, b->sd, b->n, &r.speedup,
                                  &r.speedup_lo, &r.speedup_hi);
    ad_store_run_flags(&r, test_samples, flags, sizeof(flags));
    rc = st_stmt(self, Q_RUN_SET_SPEEDUP, op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    st_bind_pos(stmt, 2, isnan(r.speedup) ? 0 : b->latest);
    st_bind_real(stmt, 3, r.speedup);
    st_bind_real(stmt, 4, r.speedup_lo);
    st_bind_real(stmt, 5, r.speedup_hi);
    st_bind_text(stmt, 6, flags[0] ? flags : NULL);
    rc = st_step(self, stmt);
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc;
}

/* Collect the ids a one-off query of one key returns into a new array. */
static int
s_ids_of(ad_store_t *self, const char *sql, const s_key_t *k, const char *op, int64_t **ids,
         size_t *n)
{
    sqlite3_stmt *stmt = NULL;
    size_t cap = 0;
    int rc;

    *ids = NULL;
    *n = 0;
    rc = st_prepare(self, sql, op, &stmt);
    if (rc)
        return rc;
    s_bind_key(stmt, k);
    while ((rc = st_step(self, stmt)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            *ids = ad_realloc(*ids, cap * sizeof(**ids));
        }
        (*ids)[(*n)++] = st_col_i64(stmt, 0);
    }
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    sqlite3_finalize(stmt);
    return rc;
}

/* The mean of the key's repeats, into the baselines table (or no row when there is none). */
static int
s_base_from_repeats(ad_store_t *self, const s_key_t *k, const char *op, s_base_t *b)
{
    /* Runs flagged noisy (other load on the node) count only while no quiet repeat exists. */
#define S_REPEAT                                                                                   \
    S_KEY_IS " AND nodes = 1 AND procs_per_node = 1 AND threads_per_proc = 1"                      \
             " AND state = 'COMPLETED' AND samples_per_s > 0 AND probe = 0 AND kind = 'train'"
#define S_QUIET "coalesce(instr(flags, 'noisy'), 0) = 0"
    static const char sql[] = "SELECT id, samples_per_s FROM runs WHERE " S_REPEAT " AND (" S_QUIET
                              " OR NOT EXISTS (SELECT 1 FROM runs WHERE " S_REPEAT " AND " S_QUIET
                              ")) ORDER BY id";
#undef S_QUIET
#undef S_REPEAT
    sqlite3_stmt *stmt = NULL;
    char *runs = NULL;
    size_t len = 0, cap = 0;
    double mean = 0, m2 = 0;
    int rc;

    memset(b, 0, sizeof(*b));
    rc = st_prepare(self, sql, op, &stmt);
    if (rc)
        return rc;
    s_bind_key(stmt, k);
    while ((rc = st_step(self, stmt)) == SQLITE_ROW) {
        int64_t id = st_col_i64(stmt, 0);
        double sps = sqlite3_column_double(stmt, 1), delta = sps - mean;

        b->n++;
        mean += delta / (double)b->n;
        m2 += delta * (sps - mean);
        b->latest = id;
        if (len + 24 > cap) {
            cap = cap ? 2 * cap : 256;
            runs = ad_realloc(runs, cap);
        }
        len += (size_t)snprintf(runs + len, cap - len, "%s%" PRId64, len ? "," : "[", id);
    }
    if (runs)
        snprintf(runs + len, cap - len, "]");
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    sqlite3_finalize(stmt);
    b->found = b->n > 0;
    b->sps = mean;
    b->sd = b->n > 1 ? sqrt(m2 / (double)(b->n - 1)) : NAN;
    if (!rc && b->found) {
        rc = s_base_put(self, k, runs, b, op);
    } else if (!rc) {
        rc = st_prepare(self, "DELETE FROM baselines WHERE " S_KEY_IS, op, &stmt);
        if (!rc) {
            s_bind_key(stmt, k);
            rc = st_step(self, stmt);
            rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
            sqlite3_finalize(stmt);
        }
    }
    free(runs);
    return rc;
}

/* Bring the key's baseline up to date (unless pinned), then every speedup of its group. */
static int
s_key_recompute(ad_store_t *self, const s_key_t *k, const char *op)
{
    static const char sql[] =
        "SELECT id FROM runs WHERE " S_KEY_IS " AND state = 'COMPLETED' AND samples_per_s > 0"
        " AND kind = 'train'";
    sqlite3_stmt *stmt = NULL;
    int64_t *ids = NULL;
    size_t n = 0;
    s_base_t b;
    int rc;

    rc = s_base_get(self, k, op, &b);
    if (!rc && !b.pinned)
        rc = s_base_from_repeats(self, k, op, &b);
    if (!rc)
        rc = s_ids_of(self, sql, k, op, &ids, &n);
    for (size_t i = 0; i < n && !rc; i++) {
        ad_run_t run;

        rc = st_stmt(self, Q_RUN_GET, op, &stmt);
        if (rc)
            break;
        sqlite3_bind_int64(stmt, 1, ids[i]);
        rc = st_step_one(self, stmt, op, "run", ids[i], NULL);
        if (!rc) {
            memset(&run, 0, sizeof(run));
            rc = st_read_run(self, stmt, true, &run);
            sqlite3_reset(stmt);
            if (!rc)
                rc = s_run_apply(self, ids[i], &run, &b, 0, op);
            ad_store_run_clear(&run);
        } else {
            sqlite3_reset(stmt);
        }
    }
    free(ids);
    return rc;
}

/* Remember that the key's baseline changed inside the caller's batch (ad_store_begin()). */
static int
s_mark_dirty(ad_store_t *self, const s_key_t *k, const char *op)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    self->injected = false;
    if (sqlite3_exec(self->db,
                     "CREATE TEMP TABLE IF NOT EXISTS ad_dirty_baselines (hardware, model,"
                     " dataset, batch_size, device, PRIMARY KEY (hardware, model, dataset,"
                     " batch_size, device))",
                     NULL, NULL, NULL) != SQLITE_OK)
        return st_db_error(self, op, sqlite3_errcode(self->db));
    rc = st_prepare(self,
                    "INSERT OR IGNORE INTO temp.ad_dirty_baselines VALUES (?1, ?2, ?3, ?4, ?5)", op,
                    &stmt);
    if (rc)
        return rc;
    s_bind_key(stmt, k);
    rc = st_step(self, stmt);
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    sqlite3_finalize(stmt);
    return rc;
}

int
st_run_completed(ad_store_t *self, int64_t id, const ad_run_t *run, int64_t test_samples,
                 const char *op)
{
    s_key_t k = s_key_of(run);
    s_base_t b;
    int rc;

    rc = s_base_get(self, &k, op, &b);
    if (rc)
        return rc;
    if (st_is_baseline_layout(run) && !run->probe && !b.pinned) {
        /* Its own flags first: the recomputation keeps what only this call knows. */
        rc = s_run_apply(self, id, run, NULL, test_samples, op);
        if (rc)
            return rc;
        return self->user_tx ? s_mark_dirty(self, &k, op) : s_key_recompute(self, &k, op);
    }
    return s_run_apply(self, id, run, &b, test_samples, op);
}

int
st_run_flags_only(ad_store_t *self, int64_t id, const ad_run_t *run, int64_t test_samples,
                  const char *op)
{
    return s_run_apply(self, id, run, NULL, test_samples, op);
}

/* Recompute every key that a one-off query (no parameters) returns. */
static int
s_recompute_keys(ad_store_t *self, const char *sql, const char *op)
{
    sqlite3_stmt *stmt = NULL;
    struct {
        char *hw, *model, *dataset, *device;
        int64_t batch;
    } *keys = NULL;
    size_t n = 0, cap = 0;
    int rc;

    rc = st_prepare(self, sql, op, &stmt);
    if (rc)
        return rc;
    while ((rc = st_step(self, stmt)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            keys = ad_realloc(keys, cap * sizeof(*keys));
        }
        keys[n].hw = ad_strdup((const char *)sqlite3_column_text(stmt, 0));
        keys[n].model = ad_strdup((const char *)sqlite3_column_text(stmt, 1));
        keys[n].dataset = ad_strdup((const char *)sqlite3_column_text(stmt, 2));
        keys[n].batch = st_col_i64(stmt, 3);
        keys[n].device = ad_strdup((const char *)sqlite3_column_text(stmt, 4));
        n++;
    }
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    sqlite3_finalize(stmt);
    for (size_t i = 0; i < n; i++) {
        s_key_t k = {keys[i].hw, keys[i].model, keys[i].dataset, keys[i].device, keys[i].batch};

        if (!rc)
            rc = s_key_recompute(self, &k, op);
        free(keys[i].hw);
        free(keys[i].model);
        free(keys[i].dataset);
        free(keys[i].device);
    }
    free(keys);
    return rc;
}

int
st_baselines_rebuild(ad_store_t *self, const char *op)
{
    return s_recompute_keys(self,
                            "SELECT DISTINCT hardware, model, dataset, batch_size, device"
                            " FROM runs WHERE state = 'COMPLETED' AND samples_per_s > 0"
                            " AND kind = 'train'",
                            op);
}

int
st_baselines_flush(ad_store_t *self, const char *op)
{
    sqlite3_stmt *stmt = NULL;
    bool any;
    int rc;

    rc = st_prepare(self, "SELECT 1 FROM temp.sqlite_master WHERE name = 'ad_dirty_baselines'", op,
                    &stmt);
    if (rc)
        return rc;
    rc = st_step(self, stmt);
    any = rc == SQLITE_ROW;
    rc = any || rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    sqlite3_finalize(stmt);
    if (rc || !any)
        return rc;
    rc = s_recompute_keys(self,
                          "SELECT hardware, model, dataset, batch_size, device"
                          " FROM temp.ad_dirty_baselines",
                          op);
    if (!rc && sqlite3_exec(self->db, "DELETE FROM temp.ad_dirty_baselines", NULL, NULL, NULL) !=
                   SQLITE_OK)
        rc = st_db_error(self, op, sqlite3_errcode(self->db));
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Listing, pinning and unpinning.                                                          */

int
ad_store_each_baseline(ad_store_t *self, const ad_run_filter_t *filter, ad_store_baseline_fn fn,
                       void *arg)
{
    const char *op = "list baselines";
    ad_run_filter_t f = {0};
    char sql[1024] = "SELECT hardware, model, dataset, batch_size, device, runs, sps, sps_sd, n,"
                     " pinned, updated FROM baselines WHERE 1";
    st_cond_t conds[ST_CONDS_MAX];
    sqlite3_stmt *stmt = NULL;
    ad_baseline_t b;
    size_t used;
    int n, rc;

    ad_err_clear(&self->err);
    if (filter) {
        f.model = filter->model;
        f.dataset = filter->dataset;
        f.hardware = filter->hardware;
        f.device = filter->device;
        f.batch_size = filter->batch_size;
    }
    n = st_conds(&f, conds);
    st_append_conds(sql, sizeof(sql), conds, n);
    used = strlen(sql);
    snprintf(sql + used, sizeof(sql) - used,
             " ORDER BY model, dataset, batch_size, hardware, device");
    rc = st_prepare(self, sql, op, &stmt);
    if (rc)
        return rc;
    st_bind_conds(stmt, conds, n);
    while ((rc = st_step(self, stmt)) == SQLITE_ROW) {
        b.hardware = (const char *)sqlite3_column_text(stmt, 0);
        b.model = (const char *)sqlite3_column_text(stmt, 1);
        b.dataset = (const char *)sqlite3_column_text(stmt, 2);
        b.batch_size = st_col_i64(stmt, 3);
        b.device = (const char *)sqlite3_column_text(stmt, 4);
        b.runs = (const char *)sqlite3_column_text(stmt, 5);
        b.sps = st_col_real(stmt, 6);
        b.sps_sd = st_col_real(stmt, 7);
        b.n = st_col_i64(stmt, 8);
        b.pinned = sqlite3_column_int(stmt, 9) != 0;
        b.updated = st_col_real(stmt, 10);
        rc = fn(&b, arg);
        if (rc)
            goto out_finalize;
    }
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
out_finalize:
    sqlite3_finalize(stmt);
    return rc;
}

/* Read run id (strings owned) for pin/unpin. */
static int
s_get(ad_store_t *self, int64_t id, const char *op, ad_run_t *run)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    memset(run, 0, sizeof(*run));
    rc = st_stmt(self, Q_RUN_GET, op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    rc = st_step_one(self, stmt, op, "run", id, NULL);
    if (!rc)
        rc = st_read_run(self, stmt, true, run);
    sqlite3_reset(stmt);
    return rc;
}

/* Why run cannot be in first's pinned baseline, into the handle's error; 0 when it can. */
static int
s_pinnable(ad_store_t *self, const ad_run_t *run, const ad_run_t *first, bool probes_ok)
{
    const char *why = NULL;

    if (run->state != AD_JOB_COMPLETED)
        why = "it did not complete";
    else if (!st_is_baseline_layout(run))
        why = "its layout is not 1x1x1";
    else if (!st_has_throughput(run))
        why = "it has no throughput";
    else if (run->probe && !probes_ok)
        why = "it is a layout: auto probe (pin probes with --probes-ok)";
    else if (first && (strcmp(run->model, first->model) || strcmp(run->dataset, first->dataset) ||
                       strcmp(st_run_hardware(run), st_run_hardware(first)) ||
                       strcmp(st_run_device(run), st_run_device(first)) ||
                       run->batch_size != first->batch_size))
        why = "its model, dataset, batch, hardware class or device differ from the first run's";
    if (!why)
        return 0;
    return ad_err_set(&self->err, AD_EINVAL, "run %lld cannot be a baseline: %s",
                      (long long)run->id, why);
}

int
ad_store_pin_baseline(ad_store_t *self, const int64_t *ids, size_t n, bool probes_ok)
{
    const char *op = "pin baseline";
    ad_run_t first = {0}, run;
    s_base_t b = {0};
    char *runs = NULL;
    size_t len = 0;
    double mean = 0, m2 = 0;
    s_key_t k;
    st_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    assert(n > 0);
    rc = st_tx_begin(self, op, true, true, &tx);
    if (rc)
        return rc;
    runs = ad_malloc(n * 24 + 3);
    runs[0] = '\0';
    for (size_t i = 0; i < n && !rc; i++) {
        rc = s_get(self, ids[i], op, i ? &run : &first);
        if (!rc)
            rc = s_pinnable(self, i ? &run : &first, i ? &first : NULL, probes_ok);
        if (!rc) {
            double sps = (i ? run : first).samples_per_s, delta = sps - mean;

            b.n++;
            mean += delta / (double)b.n;
            m2 += delta * (sps - mean);
            len += (size_t)snprintf(runs + len, n * 24 + 3 - len, "%s%lld", i ? "," : "[",
                                    (long long)ids[i]);
        }
        if (i)
            ad_store_run_clear(&run);
    }
    if (rc)
        goto out_end;
    snprintf(runs + len, n * 24 + 3 - len, "]");
    b.found = b.pinned = true;
    b.sps = mean;
    b.sd = b.n > 1 ? sqrt(m2 / (double)(b.n - 1)) : NAN;
    k = s_key_of(&first);
    rc = s_base_put(self, &k, runs, &b, op);
    if (!rc)
        rc = s_key_recompute(self, &k, op);
out_end:
    free(runs);
    ad_store_run_clear(&first);
    return st_tx_end(self, tx, rc, op);
}

int
ad_store_unpin_baseline(ad_store_t *self, int64_t id)
{
    const char *op = "unpin baseline";
    ad_run_t run = {0};
    s_base_t b;
    s_key_t k;
    st_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    rc = st_tx_begin(self, op, true, true, &tx);
    if (rc)
        return rc;
    rc = s_get(self, id, op, &run);
    if (rc)
        goto out_end;
    k = s_key_of(&run);
    rc = s_base_get(self, &k, op, &b);
    if (!rc && !b.pinned)
        rc = ad_err_set(&self->err, -ENOENT,
                        "run %lld: the baseline of %s on %s, batch %lld, %s is not pinned",
                        (long long)id, k.model, k.dataset, (long long)k.batch, k.device);
    if (rc)
        goto out_end;
    /* Unpinned, the baseline is the mean of the repeats again. */
    rc = s_base_from_repeats(self, &k, op, &b);
    if (!rc)
        rc = s_key_recompute(self, &k, op);
out_end:
    ad_store_run_clear(&run);
    return st_tx_end(self, tx, rc, op);
}
