/* ad_store_speedup.c - the store's baselines and speedups: per run and per layout group */
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
/* A run's baseline and speedup, as it is added or finishes.                               */

bool
st_is_baseline_layout(const ad_run_t *run)
{
    return run->nodes == 1 && run->procs_per_node == 1 && run->threads_per_proc == 1;
}

bool
st_has_throughput(const ad_run_t *run)
{
    return !isnan(run->samples_per_s) && run->samples_per_s > 0;
}

const char *
st_run_hardware(const ad_run_t *run)
{
    return run->hardware ? run->hardware : "";
}

const char *
st_run_device(const ad_run_t *run)
{
    return run->device ? run->device : "cpu";
}

void
ad_store_speedup_interval(double sps, double run_sd, double base_sps, double base_sd,
                          int64_t base_n, double *speedup, double *lo, double *hi)
{
    double cv_run = 0, c = AD_STORE_CV_ONE, s;

    *speedup = *lo = *hi = NAN;
    if (isnan(sps) || sps <= 0 || isnan(base_sps) || base_sps <= 0 || base_n < 1)
        return;
    if (!isnan(run_sd) && run_sd > 0)
        cv_run = run_sd / sps;
    if (base_n >= 2) {
        c = !isnan(base_sd) && base_sd > 0 ? base_sd / base_sps : 0;
        if (c < AD_STORE_CV_FLOOR)
            c = AD_STORE_CV_FLOOR;
    }
    s = sqrt(cv_run * cv_run + c * c + c * c / (double)base_n);
    *speedup = sps / base_sps;
    *lo = *speedup * exp(-AD_STORE_INTERVAL_Z * s);
    *hi = *speedup * exp(AD_STORE_INTERVAL_Z * s);
}

/* Cores a layout uses: nodes x ppn x tpp on cpu, nodes x ppn (one GPU per rank) on gpu. */
static int
s_cores(int nodes, int ppn, int tpp, const char *device)
{
    int cores = nodes * ppn;

    if (!device || strcmp(device, "gpu"))
        cores *= tpp;
    return cores;
}

static void
s_flag_add(char *out, size_t cap, const char *flag)
{
    size_t used = strlen(out);

    snprintf(out + used, cap - used, "%s%s", used ? "," : "", flag);
}

/* Whether the comma list flags holds flag. */
static bool
s_flag_has(const char *flags, const char *flag)
{
    size_t len = strlen(flag);

    for (const char *p = flags; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (!strncmp(p, flag, len) && (p[len] == ',' || p[len] == '\0'))
            return true;
    return false;
}

/* The flags a layout group takes from its runs, in their order (not efficiency: the group's). */
static const char *const s_run_flag_names[] = {AD_STORE_FLAG_NOISY, AD_STORE_FLAG_HIGH_SPREAD,
                                               AD_STORE_FLAG_FEW_SAMPLES};

/* The bits (in s_run_flag_names order) of the flags in a comma list, or in several joined. */
static unsigned
s_flag_bits(const char *flags)
{
    unsigned bits = 0;

    for (size_t i = 0; i < sizeof(s_run_flag_names) / sizeof(s_run_flag_names[0]); i++)
        if (s_flag_has(flags, s_run_flag_names[i]))
            bits |= 1u << i;
    return bits;
}

/* Bits back to a comma list into out (cap bytes). */
static const char *
s_flag_list(unsigned bits, char *out, size_t cap)
{
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(s_run_flag_names) / sizeof(s_run_flag_names[0]); i++)
        if (bits & (1u << i))
            s_flag_add(out, cap, s_run_flag_names[i]);
    return out;
}

char *
ad_store_run_flags(const ad_run_t *run, int64_t test_samples, char *out, size_t cap)
{
    int cores = s_cores(run->nodes, run->procs_per_node, run->threads_per_proc, run->device);

    assert(cap > 0);
    out[0] = '\0';
    if (!isnan(run->load_other) && run->load_other >= AD_STORE_NOISY_CORES)
        s_flag_add(out, cap, AD_STORE_FLAG_NOISY);
    if (!isnan(run->sps_sd) && !isnan(run->samples_per_s) && run->samples_per_s > 0 &&
        run->sps_sd / run->samples_per_s > AD_STORE_HIGH_SPREAD)
        s_flag_add(out, cap, AD_STORE_FLAG_HIGH_SPREAD);
    /*
     * More than ideal on its cores cannot be.  A 1x1x1 run's speedup is its ratio to the
     * mean of the baseline's repeats, so above 1 there is only its spread.
     */
    if (!isnan(run->speedup) && cores > 1 && run->speedup / cores > 1.0 + 1e-9)
        s_flag_add(out, cap, AD_STORE_FLAG_EFFICIENCY);
    /* Only an accuracy that is shown can mislead. */
    if (!isnan(run->accuracy) &&
        (test_samples > 0 ? test_samples < AD_STORE_FEW_SAMPLES
                          : s_flag_has(run->flags, AD_STORE_FLAG_FEW_SAMPLES)))
        s_flag_add(out, cap, AD_STORE_FLAG_FEW_SAMPLES);
    return out;
}

/* ---------------------------------------------------------------------------------------- */
/* Speedups of layout groups.                                                               */

/* Speedup / cores used: nodes x ppn x tpp on cpu, nodes x ppn (one GPU per rank) on gpu. */
static double
s_efficiency(const ad_speedup_row_t *row)
{
    int cores = s_cores(row->nodes, row->procs_per_node, row->threads_per_proc, row->device);

    return cores > 0 ? row->speedup / cores : NAN;
}

/*
 * The interval of a group's mean speedup: the mean of runs repeats against a
 * baseline of base_n, relative sd sqrt(cv^2 / runs + c^2 / base_n), cv the
 * group's own run-to-run variation (at least c), c the baseline's (see
 * ad_store_speedup_interval()).
 */
static void
s_group_interval(ad_speedup_row_t *row, double base_sps, double base_sd, int64_t base_n)
{
    double c = AD_STORE_CV_ONE, cv, s;

    row->speedup_lo = row->speedup_hi = NAN;
    row->baseline_n = base_n;
    if (isnan(row->speedup) || base_n < 1 || isnan(base_sps) || base_sps <= 0)
        return;
    if (base_n >= 2)
        c = !isnan(base_sd) && base_sd / base_sps > AD_STORE_CV_FLOOR ? base_sd / base_sps
                                                                      : AD_STORE_CV_FLOOR;
    cv = row->runs > 1 && row->samples_per_s > 0 ? row->samples_sd / row->samples_per_s : 0;
    if (cv < c)
        cv = c;
    s = sqrt(cv * cv / (double)row->runs + c * c / (double)base_n);
    row->speedup_lo = row->speedup * exp(-AD_STORE_INTERVAL_Z * s);
    row->speedup_hi = row->speedup * exp(AD_STORE_INTERVAL_Z * s);
}

/* The last baseline looked up: the groups of one class come one after the other. */
typedef struct {
    char *model, *dataset, *hardware, *device; /* its key (owned); model NULL = empty */
    int64_t batch;
    double sps, sd; /* the baseline (NaN: none) */
    int64_t n;
} s_base_cache_t;

static void
s_base_cache_clear(s_base_cache_t *c)
{
    free(c->model);
    free(c->dataset);
    free(c->hardware);
    free(c->device);
    memset(c, 0, sizeof(*c));
}

static bool
s_base_cache_has(const s_base_cache_t *c, const ad_speedup_row_t *row)
{
    return c->model && c->batch == row->batch_size && !strcmp(c->model, row->model) &&
           !strcmp(c->dataset, row->dataset) && !strcmp(c->hardware, row->hardware) &&
           !strcmp(c->device, row->device);
}

/* The group's baseline from the baselines table (no row: NaN, 0), through cache. */
static int
s_group_baseline(ad_store_t *self, s_base_cache_t *cache, ad_speedup_row_t *row, const char *op)
{
    sqlite3_stmt *stmt = NULL;
    double sps = NAN, sd = NAN;
    int64_t n = 0;
    int rc;

    if (s_base_cache_has(cache, row)) {
        s_group_interval(row, cache->sps, cache->sd, cache->n);
        return 0;
    }
    rc = st_stmt(self, Q_BASELINE_GET, op, &stmt);
    if (rc)
        return rc;
    st_bind_text(stmt, 1, row->hardware);
    st_bind_text(stmt, 2, row->model);
    st_bind_text(stmt, 3, row->dataset);
    sqlite3_bind_int64(stmt, 4, row->batch_size);
    st_bind_text(stmt, 5, row->device);
    rc = st_step(self, stmt);
    if (rc == SQLITE_ROW) {
        sps = st_col_real(stmt, 1);
        sd = st_col_real(stmt, 2);
        n = st_col_i64(stmt, 3);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    s_group_interval(row, sps, sd, n);
    if (!rc) {
        s_base_cache_clear(cache);
        cache->model = ad_strdup(row->model);
        cache->dataset = ad_strdup(row->dataset);
        cache->hardware = ad_strdup(row->hardware);
        cache->device = ad_strdup(row->device);
        cache->batch = row->batch_size;
        cache->sps = sps;
        cache->sd = sd;
        cache->n = n;
    }
    return rc;
}

int
ad_store_each_speedup(ad_store_t *self, const ad_run_filter_t *filter, ad_store_speedup_fn fn,
                      void *arg)
{
    const char *op = "list speedups";
    bool by_runs = filter && (filter->job > 0 || filter->sweep > 0);
    char sql[1024];
    st_cond_t conds[ST_CONDS_MAX];
    sqlite3_stmt *stmt = NULL;
    s_base_cache_t cache = {0};
    ad_speedup_row_t row;
    int n = st_conds(filter, conds);
    size_t used;
    int rc;

    ad_err_clear(&self->err);
    /*
     * run_groups has the sums of every layout, one row each; only a job or a
     * sweep (not in its key) needs the runs themselves.
     */
    if (by_runs)
        snprintf(sql, sizeof(sql),
                 "SELECT " ST_GROUP_KEY ", count(*), avg(samples_per_s),"
                 " avg(samples_per_s * samples_per_s), avg(speedup), group_concat(flags)"
                 " FROM runs WHERE state = 'COMPLETED' AND samples_per_s > 0"
                 " AND kind = 'train'");
    else
        /* The flags of its runs through runs_flagged: only the flagged runs are read. */
        snprintf(sql, sizeof(sql),
                 "SELECT " ST_GROUP_KEY ", runs, sum_sps / runs, sum_sps2 / runs,"
                 " CASE WHEN speedups > 0 THEN sum_speedup / speedups END,"
                 " (SELECT group_concat(DISTINCT r.flags) FROM runs r INDEXED BY runs_flagged"
                 " WHERE r.model = g.model AND r.dataset = g.dataset"
                 " AND r.batch_size = g.batch_size AND r.hardware = g.hardware"
                 " AND r.nodes = g.nodes AND r.procs_per_node = g.procs_per_node"
                 " AND r.threads_per_proc = g.threads_per_proc AND r.device = g.device"
                 " AND r.flags IS NOT NULL AND r.state = 'COMPLETED' AND r.samples_per_s > 0)"
                 " FROM run_groups g WHERE runs > 0");
    st_append_conds(sql, sizeof(sql), conds, n);
    used = strlen(sql);
    snprintf(sql + used, sizeof(sql) - used, "%s ORDER BY " ST_GROUP_KEY,
             by_runs ? " GROUP BY " ST_GROUP_KEY : "");
    rc = st_prepare(self, sql, op, &stmt);
    if (rc)
        return rc;
    st_bind_conds(stmt, conds, n);
    while ((rc = st_step(self, stmt)) == SQLITE_ROW) {
        char flags[96];
        double mean, var;

        memset(&row, 0, sizeof(row));
        row.model = (const char *)sqlite3_column_text(stmt, 0);
        row.dataset = (const char *)sqlite3_column_text(stmt, 1);
        row.batch_size = st_col_i64(stmt, 2);
        row.hardware = (const char *)sqlite3_column_text(stmt, 3);
        row.nodes = sqlite3_column_int(stmt, 4);
        row.procs_per_node = sqlite3_column_int(stmt, 5);
        row.threads_per_proc = sqlite3_column_int(stmt, 6);
        row.device = (const char *)sqlite3_column_text(stmt, 7);
        row.runs = st_col_i64(stmt, 8);
        mean = sqlite3_column_double(stmt, 9);
        row.samples_per_s = mean;
        /* Sample standard deviation from the mean of squares; rounding can dip below 0. */
        var = sqlite3_column_double(stmt, 10) - mean * mean;
        row.samples_sd =
            row.runs > 1 && var > 0 ? sqrt(var * (double)row.runs / (double)(row.runs - 1)) : 0.0;
        row.speedup = st_col_real(stmt, 11);
        row.efficiency = s_efficiency(&row);
        row.run_flags = s_flag_list(s_flag_bits((const char *)sqlite3_column_text(stmt, 12)), flags,
                                    sizeof(flags));
        rc = s_group_baseline(self, &cache, &row, op);
        if (!rc)
            rc = fn(&row, arg);
        if (rc)
            goto out_finalize;
    }
    rc = rc == SQLITE_DONE ? 0 : st_db_error(self, op, rc);
out_finalize:
    s_base_cache_clear(&cache);
    sqlite3_finalize(stmt);
    return rc;
}

/* One layout group being summed by ad_store_each_speedup_of(). */
typedef struct {
    ad_speedup_row_t row; /* key (strings owned) and count */
    double mean, m2;      /* Welford's running mean and sum of squared deviations */
    int64_t speedups;     /* runs with a speedup */
    double sum_speedup;   /* their sum */
    unsigned flag_bits;   /* flags of its runs (s_flag_bits()) */
    char flags[96];       /* and as the row's run_flags */
} s_group_t;

static void
s_group_clear(s_group_t *g)
{
    free((char *)g->row.model);
    free((char *)g->row.dataset);
    free((char *)g->row.hardware);
    free((char *)g->row.device);
    memset(g, 0, sizeof(*g));
}

static bool
s_group_has(const s_group_t *g, const ad_run_t *r)
{
    return g->row.runs > 0 && g->row.batch_size == r->batch_size && g->row.nodes == r->nodes &&
           g->row.procs_per_node == r->procs_per_node &&
           g->row.threads_per_proc == r->threads_per_proc && !strcmp(g->row.model, r->model) &&
           !strcmp(g->row.dataset, r->dataset) && !strcmp(g->row.hardware, r->hardware) &&
           !strcmp(g->row.device, r->device);
}

/* Hand a finished group to fn; 0, AD_EDB or fn's value. */
static int
s_group_emit(ad_store_t *self, s_base_cache_t *cache, s_group_t *g, ad_store_speedup_fn fn,
             void *arg)
{
    int rc;

    if (g->row.runs == 0)
        return 0;
    g->row.samples_per_s = g->mean;
    g->row.samples_sd = g->row.runs > 1 ? sqrt(g->m2 / (double)(g->row.runs - 1)) : 0.0;
    g->row.speedup = g->speedups > 0 ? g->sum_speedup / (double)g->speedups : NAN;
    g->row.efficiency = s_efficiency(&g->row);
    g->row.run_flags = s_flag_list(g->flag_bits, g->flags, sizeof(g->flags));
    rc = s_group_baseline(self, cache, &g->row, "list speedups");
    return rc ? rc : fn(&g->row, arg);
}

int
ad_store_each_speedup_of(ad_store_t *self, const ad_run_filter_t *filter, ad_store_keep_fn keep,
                         void *keep_arg, ad_store_speedup_fn fn, void *arg)
{
    const char *op = "list speedups";
    char sql[1024] = "SELECT " ST_RUN_COLS " FROM runs WHERE state = 'COMPLETED'"
                     " AND samples_per_s > 0 AND kind = 'train'";
    st_cond_t conds[ST_CONDS_MAX];
    sqlite3_stmt *stmt = NULL;
    s_group_t g = {0};
    s_base_cache_t cache = {0};
    ad_run_t run;
    int n = st_conds(filter, conds);
    size_t used;
    int rc;

    ad_err_clear(&self->err);
    st_append_conds(sql, sizeof(sql), conds, n);
    /* runs_layout's order: the groups come one after the other. */
    used = strlen(sql);
    snprintf(sql + used, sizeof(sql) - used, " ORDER BY " ST_GROUP_KEY);
    rc = st_prepare(self, sql, op, &stmt);
    if (rc)
        return rc;
    st_bind_conds(stmt, conds, n);
    while ((rc = st_step(self, stmt)) == SQLITE_ROW) {
        double delta;

        memset(&run, 0, sizeof(run));
        if (st_read_run(self, stmt, false, &run)) {
            rc = AD_EDB;
            goto out_finalize;
        }
        if (keep && !keep(&run, keep_arg))
            continue;
        if (!s_group_has(&g, &run)) {
            rc = s_group_emit(self, &cache, &g, fn, arg);
            s_group_clear(&g);
            if (rc)
                goto out_finalize;
            g.row.model = ad_strdup(run.model);
            g.row.dataset = ad_strdup(run.dataset);
            g.row.hardware = ad_strdup(run.hardware);
            g.row.device = ad_strdup(run.device);
            g.row.batch_size = run.batch_size;
            g.row.nodes = run.nodes;
            g.row.procs_per_node = run.procs_per_node;
            g.row.threads_per_proc = run.threads_per_proc;
        }
        g.row.runs++;
        delta = run.samples_per_s - g.mean;
        g.mean += delta / (double)g.row.runs;
        g.m2 += delta * (run.samples_per_s - g.mean);
        if (!isnan(run.speedup)) {
            g.speedups++;
            g.sum_speedup += run.speedup;
        }
        g.flag_bits |= s_flag_bits(run.flags);
    }
    rc = rc == SQLITE_DONE ? s_group_emit(self, &cache, &g, fn, arg) : st_db_error(self, op, rc);
out_finalize:
    s_base_cache_clear(&cache);
    s_group_clear(&g);
    sqlite3_finalize(stmt);
    return rc;
}
